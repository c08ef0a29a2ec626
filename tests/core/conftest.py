"""The store conformance fixture: every test taking ``shelf`` runs on each backend."""

from __future__ import annotations

import uuid

import pytest

from modelshelf import Shelf


@pytest.fixture(params=["memory", "local", "s3"])
def shelf(request, tmp_path):
    if request.param == "memory":
        yield Shelf(f"memory://shelf-{uuid.uuid4().hex}")
    elif request.param == "local":
        yield Shelf(tmp_path / "store")
    else:
        bucket, options, _ = request.getfixturevalue("s3_bucket")
        yield Shelf(f"s3://{bucket}/models-root", storage_options=options)


@pytest.fixture
def local_shelf(tmp_path):
    return Shelf(tmp_path / "store")
