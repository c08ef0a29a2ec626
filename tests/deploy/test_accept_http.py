"""Accept over real HTTP: the built-in handlers answer JSON, CSV or .npy, as the client asks."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from botocore.exceptions import ClientError
from deploy_helpers import managed, rounded, sagemaker

ROWS = {"instances": [[3.0], [4.0]]}  # the linear model answers 2x + 1: 7 and 9


@pytest.fixture
def manager(store):
    with managed(store) as deployments:
        yield deployments


def csv_values(body: bytes) -> list[float]:
    return [round(float(line), 6) for line in body.decode().splitlines()]


def npy_values(body: bytes) -> list[float]:
    return rounded(np.load(io.BytesIO(body), allow_pickle=False).tolist())


def test_invocations_answer_as_accept_asks_on_a_real_time_deployment(manager):
    deployment = manager.deploy("linear", name="scorer")
    assert deployment.status == "ready", deployment.logs()
    with httpx.Client(base_url=deployment.url) as client:
        default = client.post("/invocations", json=ROWS)  # httpx sends Accept: */*
        assert default.headers["content-type"] == "application/json"
        assert rounded(default.json()["predictions"]) == [7.0, 9.0]
        as_json = client.post("/invocations", json=ROWS, headers={"accept": "application/json"})
        assert rounded(as_json.json()["predictions"]) == [7.0, 9.0]

        as_csv = client.post("/invocations", json=ROWS, headers={"accept": "text/csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"] == "text/csv"
        assert csv_values(as_csv.content) == [7.0, 9.0]
        accept = "text/csv;q=0.5, application/x-npy"
        as_npy = client.post("/invocations", json=ROWS, headers={"accept": accept})
        assert as_npy.headers["content-type"] == "application/x-npy"
        assert npy_values(as_npy.content) == [7.0, 9.0]

    runtime = sagemaker(deployment.url)
    answer = runtime.invoke_endpoint(
        EndpointName="scorer", Body=b"3\n4\n", ContentType="text/csv", Accept="text/csv"
    )
    assert answer["ContentType"] == "text/csv"
    assert csv_values(answer["Body"].read()) == [7.0, 9.0]
    answer = runtime.invoke_endpoint(
        EndpointName="scorer", Body=json.dumps(ROWS), Accept="application/x-npy"
    )
    assert answer["ContentType"] == "application/x-npy"
    assert npy_values(answer["Body"].read()) == [7.0, 9.0]


def test_invocations_answer_as_accept_asks_on_a_multi_model_deployment(manager):
    deployment = manager.deploy([], mode="multi", name="mme")
    assert deployment.status == "ready", deployment.logs()
    headers = {"X-Amzn-SageMaker-Target-Model": "linear:1", "accept": "text/csv"}
    answer = httpx.post(f"{deployment.url}/invocations", json=ROWS, headers=headers)
    assert answer.headers["content-type"] == "text/csv"
    assert csv_values(answer.content) == [7.0, 9.0]
    runtime = sagemaker(deployment.url)
    answer = runtime.invoke_endpoint(
        EndpointName="mme", TargetModel="linear:1", Body=b"[[3.0]]", Accept="application/x-npy"
    )
    assert npy_values(answer["Body"].read()) == [7.0]


def test_an_accept_allowing_none_of_the_formats_is_406_saying_what_to_send(manager):
    deployment = manager.deploy("linear", name="scorer")
    assert deployment.status == "ready", deployment.logs()
    expected = (
        "cannot answer in 'text/html': this model answers application/json (the default), "
        "text/csv or application/x-npy; send one of them (or */*) in Accept"
    )
    answer = httpx.post(f"{deployment.url}/invocations", json=ROWS, headers={"accept": "text/html"})
    assert answer.status_code == 406
    assert answer.json() == {"error": expected}
    with pytest.raises(ClientError) as raised:
        sagemaker(deployment.url).invoke_endpoint(
            EndpointName="scorer", Body=json.dumps(ROWS), Accept="text/html"
        )
    error = raised.value.response
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 406
    assert json.loads(error["OriginalMessage"]) == {"error": expected}
