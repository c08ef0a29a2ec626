"""Models straight from a model-data prefix (SageMaker MME semantics): real deployments by the
real DeploymentManager, a real S3 endpoint (moto), real HTTP and boto3 on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from counting_proxy import counting_proxy
from deploy_helpers import sagemaker
from mms_handlers import HELPERS, MMS_HANDLER, params_model, write

from modelshelf import Shelf
from modelshelf.cli import main
from modelshelf.core.errors import DeploymentError

pytestmark = pytest.mark.timeout(180)
TARGET = "X-Amzn-SageMaker-Target-Model"
CSV = {"Content-Type": "text/csv", "Accept": "application/json"}
PADDING = 10_000  # each artifact's <Name>-model file: what the disk bound counts
# (name, scale, factor): a handler's prediction for a row is sum(row) * scale * factor.
DOCSIM = {"DocSim-1": (2, 10), "DocSim-3": (3, 100), "DocSim-5": (5, 1)}
ESCAPES = [
    "../DocSim-3.tar.gz",
    "prefix/../../DocSim-3.tar.gz",
    "/etc/passwd",
    "~/DocSim-3.tar.gz",
    "%2e%2e/DocSim-3.tar.gz",
    "..%2fDocSim-3.tar.gz",
    "%252e%252e%252fDocSim-3.tar.gz",
    "s3://elsewhere/DocSim-3.tar.gz",
    "a//DocSim-3.tar.gz",
]


def archives(tmp_path: Path) -> dict[str, bytes]:
    """``<Name>.tar.gz`` for each DocSim model (its own -params.json, -model and code/), and
    ``evil.tar.gz``, whose one member climbs out with ``..``."""
    built = {}
    for name, (scale, factor) in DOCSIM.items():
        folder = params_model(tmp_path / "artifacts", name, scale, factor)
        (folder / f"{name}-model").write_bytes(b"\x00" * PADDING)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(folder.rglob("*")):
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
        built[f"{name}.tar.gz"] = buffer.getvalue()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        member = tarfile.TarInfo("../escaped.txt")
        member.size = 5
        tar.addfile(member, io.BytesIO(b"owned"))
    built["evil.tar.gz"] = buffer.getvalue()
    return built


@pytest.fixture
def shelf(tmp_path):
    """A local store holding ``alpha`` (served beside the prefix's keys, as a store ref)."""
    store = Shelf(tmp_path / "store")
    store.save("alpha", params_model(tmp_path / "models", "alpha", 2, 10))
    yield store
    store.close()


@pytest.fixture
def handler(tmp_path) -> str:
    folder = write(
        tmp_path / "handlers", {"model_handler.py": MMS_HANDLER, "handler_helpers.py": HELPERS}
    )
    return f"{folder / 'model_handler.py'}:handle"


@pytest.fixture
def local_prefix(tmp_path) -> Path:
    folder = tmp_path / "model-data"
    folder.mkdir()
    for key, data in archives(tmp_path).items():
        (folder / key).write_bytes(data)
    return folder


def ask(url: str, target: str, body: bytes = b"1,2\n3,4") -> httpx.Response:
    return httpx.post(
        f"{url}/invocations", content=body, headers={**CSV, TARGET: target}, timeout=60
    )


def predictions(url: str, target: str) -> tuple[str, list[float]]:
    answer = ask(url, target)
    assert answer.status_code == 200, answer.text
    return answer.json()["model"], answer.json()["predictions"]


def cache_dir(deployment) -> Path:
    return Path(deployment._record.folder) / "models" / "model-data"


def test_an_s3_prefix_serves_its_archives_over_http_and_boto3(
    manager, handler, s3_bucket, tmp_path
):
    bucket, options, s3 = s3_bucket
    for key, data in archives(tmp_path).items():
        s3.put_object(Bucket=bucket, Key=f"prefix/{key}", Body=data)
    with counting_proxy(options["endpoint_url"]) as proxy:
        deployment = manager.deploy(
            [], mode="multi", name="docsim", handler=handler, model_data=f"s3://{bucket}/prefix/",
            model_data_options={**options, "endpoint_url": proxy.url},
        )  # fmt: skip
        assert deployment.status == "ready", deployment.logs()
        url = deployment.url

        # Concurrent first requests: one download, one extraction, one load.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: ask(url, "DocSim-3.tar.gz"), range(8)))
        assert [a.status_code for a in answers] == [200] * 8, answers[0].text
        got = answers[0].json()
        # The handler read DocSim-3-params.json and code/featurize.py from the extracted folder.
        assert (got["model"], got["predictions"]) == ("DocSim-3", [900.0, 2100.0])
        assert {a.json()["service"] for a in answers} == {got["service"]}
        assert got["loads"] == ["DocSim-3"]
        model_dir = Path(got["properties"]["model_dir"])
        assert model_dir.parent == cache_dir(deployment)
        assert sorted(p.name for p in model_dir.iterdir()) == [
            "DocSim-3-model", "DocSim-3-params.json", "code", "weights.bin",
        ]  # fmt: skip
        assert proxy.count("GET", f"/{bucket}/prefix/DocSim-3.tar.gz") == 1
        # The deployment's log says where the cold load's time went.
        assert "model data: DocSim-3.tar.gz: downloaded" in deployment.logs()

        # boto3's TargetModel, on the deployment's address and through the runtime gateway.
        for address in (url, manager.runtime_url()):
            answer = sagemaker(address).invoke_endpoint(
                EndpointName="docsim", TargetModel="DocSim-1.tar.gz", ContentType="text/csv",
                Accept="application/json", Body=b"1,2",
            )  # fmt: skip
            body = json.loads(answer["Body"].read())
            assert (body["model"], body["predictions"]) == ("DocSim-1", [60.0])
        assert proxy.count("GET", f"/{bucket}/prefix/DocSim-1.tar.gz") == 1

        # A store ref beside the keys: not an archive, not under the prefix.
        assert predictions(url, "alpha:1") == ("alpha", [60.0, 140.0])

        unknown = ask(url, "DocSim-9.tar.gz")
        assert unknown.status_code == 404
        assert "'DocSim-9.tar.gz'" in unknown.json()["error"]
        with pytest.raises(ClientError) as raised:
            sagemaker(url).invoke_endpoint(
                EndpointName="docsim", TargetModel="DocSim-9.tar.gz", Body=b"1"
            )
        assert raised.value.response["OriginalStatusCode"] == 404

        for escape in ESCAPES:
            refused = ask(url, escape)
            assert refused.status_code == 400, (escape, refused.text)
            assert "model-data prefix" in refused.json()["error"]

        # An unsafe archive: refused with the reason, nothing extracted, nothing kept.
        before = sorted(p.name for p in cache_dir(deployment).iterdir())
        evil = ask(url, "evil.tar.gz")
        assert evil.status_code == 500
        message = evil.json()["error"]
        assert "refused to extract" in message and "'../escaped.txt'" in message
        assert "internal error" not in message
        assert sorted(p.name for p in cache_dir(deployment).iterdir()) == before
        assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("escaped.txt"))
        # KServe V1 answers it the same way (one error mapping for every route).
        v1 = httpx.post(f"{url}/v1/models/evil.tar.gz:predict", json={"instances": []}, timeout=30)
        assert v1.status_code == 500 and "refused to extract" in v1.json()["error"], v1.text
        listed = httpx.get(f"{url}/models", timeout=30).json()["models"]
        assert sorted(m["modelName"] for m in listed) == [
            "DocSim-1.tar.gz", "DocSim-3.tar.gz", "alpha:1",
        ]  # fmt: skip
        assert f"s3://{bucket}/prefix/DocSim-3.tar.gz" in {m["modelUrl"] for m in listed}


def test_the_disk_bound_evicts_unused_artifacts_first(manager, handler, local_prefix):
    # Room for two artifacts, not three.
    deployment = manager.deploy(
        [], mode="multi", name="bounded", handler=handler, model_data=str(local_prefix),
        model_data_cache=int(PADDING * 2.5),
    )  # fmt: skip
    assert deployment.status == "ready", deployment.logs()
    url, cache = deployment.url, cache_dir(deployment)

    def on_disk() -> list[str]:
        return sorted(p.name.split(".tar.gz")[0] for p in cache.iterdir())

    assert predictions(url, "DocSim-1.tar.gz") == ("DocSim-1", [60.0, 140.0])
    assert predictions(url, "DocSim-3.tar.gz")[0] == "DocSim-3"
    assert on_disk() == ["DocSim-1", "DocSim-3"]
    # DocSim-1 unloaded: its artifact stays on disk until room is needed...
    unload = httpx.post(f"{url}/v2/repository/models/DocSim-1.tar.gz/unload", timeout=30)
    assert unload.status_code == 200
    assert on_disk() == ["DocSim-1", "DocSim-3"]
    # ...then it goes, and DocSim-3 (loaded, though less recently used) stays.
    three = ask(url, "DocSim-3.tar.gz").json()
    assert predictions(url, "DocSim-5.tar.gz") == ("DocSim-5", [15.0, 35.0])
    assert on_disk() == ["DocSim-3", "DocSim-5"]
    assert ask(url, "DocSim-3.tar.gz").json()["service"] == three["service"]  # not reloaded
    # Every artifact on disk is loaded: the least recently used model is unloaded for room.
    assert predictions(url, "DocSim-1.tar.gz")[0] == "DocSim-1"
    # (DocSim-5 is that one: DocSim-3 was asked for since.)
    assert on_disk() == ["DocSim-1", "DocSim-3"]
    ready = httpx.post(f"{url}/v2/repository/index", json={"ready": True}, timeout=30).json()
    assert sorted(m["name"] for m in ready) == ["DocSim-1.tar.gz", "DocSim-3.tar.gz"]


def test_an_artifact_larger_than_the_whole_disk_cache_is_507(manager, handler, local_prefix):
    deployment = manager.deploy(
        [], mode="multi", name="tiny", handler=handler, model_data=str(local_prefix),
        model_data_cache="1KB",
    )  # fmt: skip
    assert deployment.status == "ready", deployment.logs()
    answer = ask(deployment.url, "DocSim-1.tar.gz")
    assert answer.status_code == 507
    assert "model_data_cache" in answer.json()["error"]
    assert list(cache_dir(deployment).iterdir()) == []


def test_a_local_folder_prefix_and_a_key_that_is_no_archive(manager, handler, local_prefix):
    # A key without an archive suffix is a key when it exists under the prefix.
    (local_prefix / "plain").write_bytes((local_prefix / "DocSim-3.tar.gz").read_bytes())
    deployment = manager.deploy(
        [], mode="multi", name="local", handler=handler, model_data=f"{local_prefix}/"
    )
    assert deployment.status == "ready", deployment.logs()
    assert predictions(deployment.url, "DocSim-3.tar.gz") == ("DocSim-3", [900.0, 2100.0])
    plain = ask(deployment.url, "plain")
    assert plain.status_code == 500 and "is not a zip, tar" in plain.json()["error"]
    assert predictions(deployment.url, "alpha:1")[0] == "alpha"
    # Neither a key nor a known ref: the store's 404.
    assert ask(deployment.url, "nothing:1").status_code == 404


def test_bad_model_data_input_is_a_clear_error(manager, handler, local_prefix, tmp_path):
    with pytest.raises(DeploymentError, match="multi-model deployment of one worker"):
        manager.deploy("alpha", model_data=str(local_prefix))
    with pytest.raises(DeploymentError, match="one worker"):
        manager.deploy([], mode="multi", workers=2, model_data=str(local_prefix))
    with pytest.raises(DeploymentError, match="is not a folder or a prefix"):
        manager.deploy([], mode="multi", model_data=str(tmp_path / "missing"))
    with pytest.raises(Exception, match="cannot read size"):
        manager.deploy([], mode="multi", model_data=str(local_prefix), model_data_cache="lots")
    assert manager.list() == []


def test_the_cli_deploys_a_model_data_prefix(shelf, handler, local_prefix, capsys):
    root = str(shelf.root)
    command = ["--root", root, "deploy", "--mode", "multi", "--name", "cli-mme"]
    options = ["--handler", handler, "--model-data", str(local_prefix), "--model-data-cache", "1MB"]
    try:
        assert main([*command, *options]) == 0, capsys.readouterr().err
        card = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
        assert card["status"].strip() == "ready"
        # The card says where its models come from and how they are served.
        assert card["model data"].strip() == str(local_prefix)
        assert card["model data cache"].strip() == "1.0 MB"
        assert card["handler"].strip() == handler
        body = local_prefix.parent / "rows.csv"
        body.write_text("1,2")
        invoke = ["invoke", "cli-mme", f"@{body}", "--content-type", "text/csv"]
        assert main(["--root", root, *invoke, "--model", "DocSim-5.tar.gz"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert (answer["model"], answer["predictions"]) == ("DocSim-5", [15.0])
    finally:
        main(["--root", root, "undeploy", "cli-mme"])
    assert os.path.isdir(local_prefix)  # the prefix is read, never written
