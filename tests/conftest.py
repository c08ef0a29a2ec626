"""Shared fixtures: an isolated environment and a real S3 endpoint (moto server on loopback)."""

from __future__ import annotations

import os
import uuid

import pytest

from support import free_port


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Keep every test away from the user's ~/.modelshelf, /opt/ml and real cloud credentials."""
    monkeypatch.setenv("MODELSHELF_STATE_DIR", str(tmp_path / "_state"))
    monkeypatch.delenv("MODELSHELF_ROOT", raising=False)
    monkeypatch.setenv("ML_MODEL_PATH", str(tmp_path / "_ml_model"))
    monkeypatch.setenv("ML_OUTPUT_PATH", str(tmp_path / "_ml_output"))


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server on 127.0.0.1, as s3fs tests itself; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_endpoint):
    """A fresh bucket on the moto server; yields (bucket name, storage_options)."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    options = {
        "endpoint_url": s3_endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
        # A fresh filesystem object per test: s3fs caches instances and listings.
        "skip_instance_cache": True,
        "use_listings_cache": False,
    }
    yield name, options, client


@pytest.fixture
def jobs(shelf):
    """A job manager on the test's ``shelf``; jobs still running at the end are cancelled."""
    from modelshelf.core.jobs import JobManager

    manager = JobManager(shelf)
    yield manager
    for job in manager.list():
        if not job.finished:
            job.cancel()
    manager.close()
