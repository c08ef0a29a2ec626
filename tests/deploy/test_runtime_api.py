"""The SageMaker Runtime API, called by boto3 itself, on real deployments on 127.0.0.1."""

from __future__ import annotations

import json

import botocore
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from deploy_helpers import managed, rounded, sagemaker
from starlette.applications import Starlette

from modelshelf import Shelf
from modelshelf.core.deploy import runtime_api, serve
from modelshelf.core.deploy.http import read_asgi_body, send_bytes
from support import wait_for


@pytest.fixture
def manager(store):
    with managed(store) as deployments:
        yield deployments


def error_of(call, **request) -> dict:
    """The error boto3 raised for ``call(**request)``: its code, status and parsed fields."""
    with pytest.raises(ClientError) as raised:
        call(**request)
    response = raised.value.response
    return {
        "code": response["Error"]["Code"],
        "status": response["ResponseMetadata"]["HTTPStatusCode"],
        "message": response["Error"]["Message"],
        **{k: v for k, v in response.items() if k not in ("Error", "ResponseMetadata")},
    }


def test_invoke_endpoint_on_a_real_time_deployment(manager):
    deployment = manager.deploy("linear", name="churn-api")
    assert deployment.status == "ready", deployment.logs()
    client = sagemaker(deployment.url)
    answer = client.invoke_endpoint(
        EndpointName="churn-api",
        Body=json.dumps({"instances": [[3.0], [4.0]]}),
        ContentType="application/json",
        Accept="application/json",
        CustomAttributes="trace=abc; tenant=7",
        InferenceId="request-1",
        TargetVariant="AllTraffic",
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ContentType"] == "application/json"
    assert rounded(json.loads(answer["Body"].read())["predictions"]) == [7.0, 9.0]
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert answer["CustomAttributes"] == "trace=abc; tenant=7"  # echoed

    plain = client.invoke_endpoint(EndpointName="churn-api", Body=b"3\n4\n", ContentType="text/csv")
    assert rounded(json.loads(plain["Body"].read())) == [7.0, 9.0]
    assert "CustomAttributes" not in plain

    # Another endpoint's name: botocore's error shape, so a clean ClientError.
    unknown = error_of(client.invoke_endpoint, EndpointName="churn", Body=b"[[1.0]]")
    assert unknown["code"] == "ValidationError" and unknown["status"] == 404
    assert unknown["message"] == "Endpoint churn not found."
    with pytest.raises(client.exceptions.ValidationError):
        client.invoke_endpoint(EndpointName="churn", Body=b"[[1.0]]")
    variant = error_of(
        client.invoke_endpoint, EndpointName="churn-api", Body=b"[[1]]", TargetVariant="blue"
    )
    assert variant["status"] == 400
    assert (
        variant["message"]
        == "Endpoint churn-api has no variant blue: its one variant is AllTraffic."
    )

    # The model's own failure is SageMaker's ModelError, with the model's status and body.
    broken = error_of(
        client.invoke_endpoint,
        EndpointName="churn-api",
        Body=b"{oops",
        ContentType="application/json",
    )
    assert broken["code"] == "ModelError" and broken["status"] == 424
    assert broken["OriginalStatusCode"] == 400
    assert "not valid JSON" in json.loads(broken["OriginalMessage"])["error"]
    assert broken["message"].startswith("Received client error (400) from churn-api with message")
    with pytest.raises(client.exceptions.ModelError):
        client.invoke_endpoint(EndpointName="churn-api", Body=b"{oops")

    # A real-time endpoint is not asynchronous.
    not_async = error_of(
        client.invoke_endpoint_async, EndpointName="churn-api", InputLocation="s3://b/k"
    )
    assert not_async["status"] == 400
    assert (
        not_async["message"] == "Endpoint churn-api is a real-time endpoint: call InvokeEndpoint."
    )


def test_invoke_endpoint_with_a_target_model_on_a_multi_model_deployment(manager):
    deployment = manager.deploy([], mode="multi", name="mme")
    assert deployment.status == "ready", deployment.logs()
    client = sagemaker(deployment.url)
    linear = client.invoke_endpoint(
        EndpointName="mme", TargetModel="linear:1", Body=b"[[2.0]]", ContentType="application/json"
    )
    assert rounded(json.loads(linear["Body"].read())) == [5.0]
    assert linear["InvokedProductionVariant"] == "AllTraffic"
    echo = client.invoke_endpoint(EndpointName="mme", TargetModel="echo:1", Body=b"[[1, 2]]")
    assert json.loads(echo["Body"].read()) == [13]

    missing = error_of(
        client.invoke_endpoint, EndpointName="mme", TargetModel="nope:1", Body=b"[[1]]"
    )
    assert missing["code"] == "ModelError" and missing["OriginalStatusCode"] == 404
    untargeted = error_of(client.invoke_endpoint, EndpointName="mme", Body=b"[[1]]")
    assert untargeted["OriginalStatusCode"] == 400
    assert "X-Amzn-SageMaker-Target-Model" in untargeted["OriginalMessage"]
    # The manager's default name is only a default: this deployment is "mme".
    other = error_of(client.invoke_endpoint, EndpointName="multi-model", Body=b"[[1]]")
    assert other["code"] == "ValidationError" and other["status"] == 404


def test_invoke_endpoint_async_reads_s3_and_writes_the_output_location(models, s3_bucket):
    bucket, options, s3 = s3_bucket
    shelf = Shelf(f"s3://{bucket}/store", storage_options=options)
    shelf.save("linear", models.linear)
    s3.put_object(Bucket=bucket, Key="in/rows.json", Body=b'{"instances": [[10.0]]}')
    s3.put_object(Bucket=bucket, Key="in/rows.csv", Body=b"5\n6\n")
    with managed(shelf) as manager:
        # The deployment reads inputs and writes outputs with the store's storage options.
        deployment = manager.deploy(
            "linear", mode="async", name="scorer", output_location=f"s3://{bucket}/out/"
        )
        assert deployment.status == "ready", deployment.logs()
        client = sagemaker(deployment.url)
        accepted = client.invoke_endpoint_async(
            EndpointName="scorer",
            InputLocation=f"s3://{bucket}/in/rows.json",
            ContentType="application/json",
        )
        assert accepted["ResponseMetadata"]["HTTPStatusCode"] == 202
        inference_id = accepted["InferenceId"]
        assert accepted["OutputLocation"] == f"s3://{bucket}/out/{inference_id}.out"
        result = json.loads(read_when_written(s3, bucket, inference_id))
        assert rounded(result["predictions"]) == [21.0]

        # No ContentType: the input location's extension says it is CSV.
        by_csv = client.invoke_endpoint_async(
            EndpointName="scorer", InputLocation=f"s3://{bucket}/in/rows.csv"
        )
        assert rounded(json.loads(read_when_written(s3, bucket, by_csv["InferenceId"]))) == [
            11.0,
            13.0,
        ]
        inline = client.invoke_endpoint_async(
            EndpointName="scorer", Body=b"[[0.5]]", ContentType="application/json"
        )
        assert rounded(json.loads(read_when_written(s3, bucket, inline["InferenceId"]))) == [2.0]
        status = httpx.get(f"{deployment.url}/async/requests/{inline['InferenceId']}").json()
        assert status["status"] == "completed"

        refused = error_of(
            client.invoke_endpoint_async, EndpointName="scorer", InputLocation="file:///etc/passwd"
        )
        assert refused["code"] == "ValidationError" and refused["status"] == 400
        assert "is not allowed" in refused["message"]
        unknown = error_of(
            client.invoke_endpoint_async, EndpointName="other", InputLocation="s3://b/k"
        )
        assert unknown["code"] == "ValidationError" and unknown["status"] == 404
        not_sync = error_of(client.invoke_endpoint, EndpointName="scorer", Body=b"[[1.0]]")
        assert not_sync["message"] == (
            "Endpoint scorer is an asynchronous endpoint: call InvokeEndpointAsync."
        )
    shelf.close()


def read_when_written(s3, bucket: str, inference_id: str) -> bytes:
    """The result SageMaker's client would wait for at ``OutputLocation``."""

    def written():
        try:
            return s3.get_object(Bucket=bucket, Key=f"out/{inference_id}.out")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    return wait_for(written)


def test_a_bearer_token_guards_the_runtime_api_too(manager):
    deployment = manager.deploy("linear", name="guarded", token="s3cret")
    assert deployment.status == "ready", deployment.logs()
    refused = error_of(
        sagemaker(deployment.url).invoke_endpoint, EndpointName="guarded", Body=b"[[1.0]]"
    )
    assert refused["status"] == 401

    # The way runtime_api's docstring says a boto3 client sends the token.
    import boto3

    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=deployment.url,
        region_name="us-east-1",
        config=Config(signature_version=botocore.UNSIGNED),
    )

    def bearer(request, **kwargs):
        request.headers["Authorization"] = "Bearer s3cret"

    client.meta.events.register("before-send.sagemaker-runtime", bearer)
    answer = client.invoke_endpoint(EndpointName="guarded", Body=b"[[1.0]]")
    assert rounded(json.loads(answer["Body"].read())) == [3.0]


async def model_answering_itself(scope, receive, send):
    """Serving code that sets its own custom attributes, or fails in a chunked answer."""
    body = await read_asgi_body(scope, receive, 1000)
    if body == b"fail":
        start = {"type": "http.response.start", "status": 503, "headers": []}
        await send(start)
        await send({"type": "http.response.body", "body": b"part one, ", "more_body": True})
        await send({"type": "http.response.body", "body": b"part two"})
        return
    await send_bytes(send, body, "text/plain", 200, {"X-Amzn-SageMaker-Custom-Attributes": "mine"})


def test_the_serving_code_s_own_custom_attributes_and_failures_go_back(serve):
    app = Starlette(routes=runtime_api.routes("own", invoke=model_answering_itself))
    client = sagemaker(serve(app))
    answer = client.invoke_endpoint(EndpointName="own", Body=b"hello", CustomAttributes="yours")
    assert answer["CustomAttributes"] == "mine" and answer["Body"].read() == b"hello"
    assert answer["ContentType"] == "text/plain"
    failed = error_of(client.invoke_endpoint, EndpointName="own", Body=b"fail")
    assert failed["code"] == "ModelError" and failed["OriginalStatusCode"] == 503
    assert failed["OriginalMessage"] == "part one, part two"
    assert failed["message"] == (
        'Received server error (503) from own with message "part one, part two". '
        "See the deployment's server log for more information."
    )


def test_the_name_is_the_deployment_s_from_its_server_config(tmp_path, monkeypatch):
    monkeypatch.delenv(serve.CONFIG_ENV, raising=False)
    assert runtime_api.deployment_name("model") == "model"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"name": "churn api", "mode": "realtime"}))
    monkeypatch.setenv(serve.CONFIG_ENV, str(config))
    assert runtime_api.deployment_name("model") == "churn api"
