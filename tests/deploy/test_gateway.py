"""One address for every deployment, as SageMaker's runtime has: boto3 changes only its
endpoint_url."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from deploy_helpers import managed, sagemaker

from modelshelf.core.deploy.gateway_process import running_gateway
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.store import Shelf


@pytest.fixture
def manager(tmp_path: Path):
    shelf = Shelf(str(tmp_path / "store"))
    folder = tmp_path / "doubler"
    folder.mkdir()
    (folder / "serve.py").write_text(
        "def load(model_dir):\n    return 2\n\n"
        "def predict(model, rows):\n    return [[model * x for x in row] for row in rows]\n"
    )
    shelf.save("doubler", str(folder))
    with managed(shelf) as manager:
        yield manager
    shelf.close()


def test_the_gateway_starts_with_the_first_deployment_and_stops_with_the_last(manager):
    assert running_gateway(manager.shelf.state_dir) is None
    deployment = manager.deploy("doubler")
    assert deployment.status == "ready", deployment.error
    found = running_gateway(manager.shelf.state_dir)
    assert found is not None and manager.runtime_url() == found.url
    again = DeploymentManager(manager.shelf)  # another manager finds the same gateway
    assert again.runtime_url() == found.url
    again.close()
    deployment.stop()
    assert running_gateway(manager.shelf.state_dir) is None


def test_boto3_reaches_a_deployment_through_the_gateway(manager):
    manager.deploy("doubler")
    client = sagemaker(manager.runtime_url())
    answer = client.invoke_endpoint(
        EndpointName="doubler",
        Body=json.dumps({"instances": [[1, 2]]}),
        ContentType="application/json",
        Accept="application/json",
    )
    assert json.loads(answer["Body"].read()) == {"predictions": [[2, 4]]}
    assert answer["ContentType"] == "application/json"


def test_an_unknown_endpoint_is_a_client_error(manager):
    manager.deploy("doubler")
    client = sagemaker(manager.runtime_url())
    with pytest.raises(ClientError) as error:
        client.invoke_endpoint(EndpointName="nobody", Body=b"[]", ContentType="application/json")
    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert "nobody" in error.value.response["Error"]["Message"]
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
