"""open_source against real things: local paths, an http server, moto S3, git and memory://."""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import socket
import subprocess
import tarfile
import threading
import uuid
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import fsspec
import pytest

from modelshelf.core.errors import (
    MissingDependencyError,
    SizeLimitError,
    SourceError,
    UnsafeArchiveError,
)
from modelshelf.core.sources import SourceTree, open_source, redact_url


def read_tree(tree: SourceTree) -> dict[str, bytes]:
    out = {}
    for item in tree.files:
        with item.open() as handle:
            out[item.relpath] = handle.read()
    return out


def tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def fails(error: type[Exception], source: str, match: str | None = None, **kwargs) -> str:
    """Open ``source`` expecting ``error``; return its message."""
    with pytest.raises(error, match=match) as caught, open_source(source, **kwargs):
        pytest.fail(f"{source} should have been refused")
    return str(caught.value)


MODEL = {"config.json": b"{}", "weights/w.bin": b"\x00" * 300}


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    monkeypatch.setenv("MODELSHELF_TMP_DIR", str(folder))
    return folder


# -- local -------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "model"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("bb")
    (root / "sub" / "deeper" / "c.bin").write_bytes(b"ccc")
    return root


def test_local_folder_absolute_home_var_and_relative(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MODEL_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    for source in (str(folder), "~/model", "$MODEL_DIR/", "model", f"file://{folder}"):
        with open_source(source) as tree:
            assert tree.description == str(folder)
            assert [f.relpath for f in tree.files] == ["a.txt", "sub/b.txt", "sub/deeper/c.bin"]
            assert tree.total_size == 6
            assert all(f.local_path.startswith(str(folder)) for f in tree.files)


def test_local_single_file(folder):
    with open_source(str(folder / "a.txt")) as tree:
        assert tree.description == str(folder / "a.txt")
        assert read_tree(tree) == {"a.txt": b"a"}


def test_local_git_working_copy_is_just_a_folder(folder):
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    with open_source(str(folder)) as tree:
        assert "a.txt" in read_tree(tree)
        assert any(f.relpath.startswith(".git/") for f in tree.files)


def test_missing_and_empty_sources():
    with pytest.raises(SourceError, match="does not exist"), open_source("/no/such/folder"):
        pass
    with pytest.raises(SourceError, match="no source"), open_source("  "):
        pass


def test_folder_over_limit(folder):
    with (
        pytest.raises(SizeLimitError, match="over the limit"),
        open_source(str(folder), max_size=5),
    ):
        pass
    with open_source(str(folder), max_size=6) as tree:
        assert tree.total_size == 6


def test_local_archive_temp_folder_is_removed(tmp_path, private_tmp):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(tar_bytes(MODEL))
    with open_source(str(archive)) as tree:
        assert read_tree(tree) == MODEL
        assert len(os.listdir(private_tmp)) == 1
    assert os.listdir(private_tmp) == []


# -- memory:// and missing fsspec implementations ----------------------------------------------


def test_memory_folder_and_file():
    fs = fsspec.filesystem("memory")
    base = f"/t-{uuid.uuid4().hex}"
    fs.pipe({f"{base}/m/a.txt": b"a", f"{base}/m/sub/b.txt": b"bb"})
    try:
        for source in (f"memory://{base}/m/", f"memory://{base}/m"):
            with open_source(source) as tree:
                assert tree.description == source
                assert read_tree(tree) == {"a.txt": b"a", "sub/b.txt": b"bb"}
                assert all(f.local_path is None for f in tree.files)  # read in place
        with open_source(f"memory://{base}/m/sub/b.txt") as tree:
            assert read_tree(tree) == {"b.txt": b"bb"}
        fails(SourceError, f"memory://{base}/nothing.bin", match="does not exist")
    finally:
        fs.rm(base, recursive=True)


@pytest.mark.parametrize(
    ("source", "extra"),
    [("gs://bucket/model/", "gcs"), ("az://container/model/", "azure"), ("abfs://c/m", "azure")],
)
def test_missing_fsspec_implementation(source, extra):
    assert importlib.util.find_spec({"gcs": "gcsfs", "azure": "adlfs"}[extra]) is None
    fails(MissingDependencyError, source, match=rf"pip install 'modelshelf\[{extra}\]'")


def test_unknown_protocol():
    fails(MissingDependencyError, "nope://host/model/", match="no filesystem is known for nope://")


def test_kaggle_not_installed():
    assert importlib.util.find_spec("kaggle") is None
    message = fails(MissingDependencyError, "kaggle:owner/dataset")
    assert "pip install kaggle" in message
    assert "~/.kaggle/kaggle.json" in message
    with pytest.raises(SourceError, match="kaggle:<owner>/<dataset>"), open_source("kaggle:x"):
        pass


def test_redact_url():
    assert redact_url("https://user:pw@host/a.bin") == "https://***@host/a.bin"
    redacted = redact_url("https://h/a.bin?X-Amz-Signature=abc&X-Amz-Credential=k&v=1")
    assert "abc" not in redacted and "=k" not in redacted and "v=1" in redacted
    assert (
        redact_url("git+https://tok@github.com/o/r.git@v1")
        == "git+https://***@github.com/o/r.git@v1"
    )
    assert redact_url("s3://bucket/prefix/") == "s3://bucket/prefix/"
    assert redact_url("github://org:repo@main/") == "github://org:repo@main/"


# -- http --------------------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder; yields (folder, base URL)."""
    root = tmp_path / "www"
    (root / "folder" / "sub").mkdir(parents=True)
    (root / "model.bin").write_bytes(b"m" * 1000)
    (root / "model.tar.gz").write_bytes(tar_bytes(MODEL))
    (root / "model.zip").write_bytes(zip_bytes(MODEL))
    (root / "folder" / "a.txt").write_text("a")
    (root / "folder" / "sub" / "b.txt").write_text("bb")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_single_file(http_root):
    _, base = http_root
    with open_source(f"{base}/model.bin") as tree:
        assert tree.description == f"{base}/model.bin"
        assert [(f.relpath, f.size) for f in tree.files] == [("model.bin", 1000)]
        assert read_tree(tree) == {"model.bin": b"m" * 1000}


def test_http_credentials_not_in_description(http_root):
    _, base = http_root
    url = base.replace("http://", "http://user:secret@") + "/model.bin"
    with open_source(url) as tree:
        assert "secret" not in tree.description
        assert tree.files[0].relpath == "model.bin"


@pytest.mark.parametrize("name", ["model.tar.gz", "model.zip"])
def test_http_archive(http_root, private_tmp, name):
    _, base = http_root
    with open_source(f"{base}/{name}") as tree:
        assert tree.description == f"{base}/{name}"
        assert read_tree(tree) == MODEL
    assert os.listdir(private_tmp) == []


def test_http_index_page_folder(http_root):
    _, base = http_root
    with open_source(f"{base}/folder/") as tree:
        assert read_tree(tree) == {"a.txt": b"a", "sub/b.txt": b"bb"}


def test_http_missing_and_unreachable(http_root):
    _, base = http_root
    with pytest.raises(SourceError, match="does not exist"), open_source(f"{base}/nope.bin"):
        pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request
    message = fails(SourceError, f"http://127.0.0.1:{port}/model.bin", match="could not connect")
    assert f"127.0.0.1:{port}" in message


def test_http_archive_over_limit(http_root, private_tmp):
    root, base = http_root
    (root / "big.tar.gz").write_bytes(tar_bytes({"zeros": bytes(2 << 20)}))
    with pytest.raises(SizeLimitError), open_source(f"{base}/big.tar.gz", max_size=1 << 20):
        pass
    assert os.listdir(private_tmp) == []


# -- s3 (moto server) --------------------------------------------------------------------------


def test_s3_folder_file_and_archive(s3_bucket, private_tmp):
    bucket, options, client = s3_bucket
    objects = {
        "models/m1/config.json": b"{}",
        "models/m1/sub/w.bin": b"w" * 100,
        "models/m1/sub/deeper/x.txt": b"x",
        "models/other.txt": b"not in m1",
    }
    for key, data in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
    client.put_object(Bucket=bucket, Key="archives/model.tar.gz", Body=tar_bytes(MODEL))
    client.put_object(Bucket=bucket, Key="archives/model.zip", Body=zip_bytes(MODEL))
    expected = {"config.json": b"{}", "sub/w.bin": b"w" * 100, "sub/deeper/x.txt": b"x"}

    for source in (f"s3://{bucket}/models/m1/", f"s3://{bucket}/models/m1"):
        with open_source(source, storage_options=options) as tree:
            assert tree.description == source
            assert read_tree(tree) == expected
            assert all(f.fs_path.startswith(f"{bucket}/models/m1/") for f in tree.files)
            assert tree.total_size == 103

    with open_source(f"s3://{bucket}/models/other.txt", storage_options=options) as tree:
        assert read_tree(tree) == {"other.txt": b"not in m1"}

    for name in ("model.tar.gz", "model.zip"):
        with open_source(f"s3://{bucket}/archives/{name}", storage_options=options) as tree:
            assert read_tree(tree) == MODEL
    assert os.listdir(private_tmp) == []

    fails(SizeLimitError, f"s3://{bucket}/models/m1/", storage_options=options, max_size=50)
    fails(
        SourceError, f"s3://{bucket}/missing.bin", storage_options=options, match="does not exist"
    )


def test_s3_malicious_archive(s3_bucket, private_tmp):
    bucket, options, client = s3_bucket
    client.put_object(Bucket=bucket, Key="evil.tar.gz", Body=tar_bytes({"../../evil.txt": b"evil"}))
    fails(
        UnsafeArchiveError,
        f"s3://{bucket}/evil.tar.gz",
        storage_options=options,
        match=r"evil\.txt",
    )
    assert os.listdir(private_tmp) == []


# -- git ---------------------------------------------------------------------------------------

GIT = [
    "git",
    "-c",
    "user.name=Test",
    "-c",
    "user.email=test@example.invalid",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "init.defaultBranch=main",
]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A repository with two commits; v1 tags the first. Yields (path, first commit)."""
    path = tmp_path / "repo"
    path.mkdir()
    git("init", "-q", cwd=path)
    (path / "model.txt").write_text("v1")
    (path / "sub").mkdir()
    (path / "sub" / "w.bin").write_bytes(b"w")
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "one", cwd=path)
    git("tag", "v1", cwd=path)
    first = git("rev-parse", "HEAD", cwd=path)
    (path / "model.txt").write_text("v2")
    git("commit", "-q", "-am", "two", cwd=path)
    return path, first


def test_git_file_url(repo, private_tmp):
    path, _ = repo
    source = f"git+file://{path}"
    with open_source(source) as tree:
        assert tree.description == source
        assert read_tree(tree) == {"model.txt": b"v2", "sub/w.bin": b"w"}
        assert not any(".git" in f.relpath.split("/") for f in tree.files)
    assert os.listdir(private_tmp) == []


def test_git_revisions(repo):
    path, first = repo
    for rev in ("v1", first, first[:10]):
        with open_source(f"git+file://{path}@{rev}") as tree:
            assert read_tree(tree)["model.txt"] == b"v1", rev


def test_git_bare_repository_path(repo, tmp_path):
    path, _ = repo
    bare = tmp_path / "shared.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(path), str(bare)], check=True)
    with open_source(str(bare)) as tree:
        assert read_tree(tree) == {"model.txt": b"v2", "sub/w.bin": b"w"}
    with open_source(f"file://{bare}") as tree:  # a .git URL is cloned too
        assert "model.txt" in read_tree(tree)


def test_git_failures(tmp_path, repo, private_tmp):
    path, _ = repo
    message = fails(SourceError, f"git+file://{tmp_path}/nowhere", match="git could not fetch")
    assert "nowhere" in message
    fails(SourceError, f"git+file://{path}@no-such-branch", match="no-such-branch")
    with pytest.raises(SizeLimitError), open_source(f"git+file://{path}", max_size=1):
        pass
    assert os.listdir(private_tmp) == []


def test_s3_unreachable_endpoint():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "key": "testing",
        "secret": "testing",
        "skip_instance_cache": True,
        # One quick attempt instead of botocore's retries with back-off.
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
    }
    message = fails(SourceError, "s3://bucket/model/", storage_options=options)
    assert "could not connect to s3://bucket/model/" in message
