"""README.md's examples run as written, top to bottom, in one throw-away world.

Every fenced block a user would copy runs here, in README order, each in a process of its
own: shell blocks through bash with this environment's ``modelshelf`` first on PATH, Python
blocks in a fresh interpreter (an expression whose comment is a literal, ``v.ref  #
'churn:3'``, must have that value), notebook blocks (``%model ...``) as a notebook through
papermill. Blocks that cannot run here as they stand are marked in the README itself (see
:mod:`readme_blocks`): S3 is the moto server, the REST example talks to a real Jupyter server.

The world is what the README assumes a user has: a trained model in ``ML_MODEL_PATH`` and
in ``./my-model``, the repository's ``notebooks/train.ipynb`` beside them (``make lab`` opens
there), data in ``./data/train/``, and a bucket ``bucket`` whose ``train/`` holds x,y CSV
files and ``in/`` one JSON request. Blocks share the store, so a later block sees what an
earlier one saved, as in a reader's session.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from modelshelf import Shelf
from modelshelf.cli.commands import build_parser
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.jobs import JobManager
from readme_blocks import (
    MARKS,
    Block,
    readme_blocks,
    synopsis_problems,
    with_stated_results_checked,
)
from sandbox import environment, stop_leftovers
from support import free_port, wait_for

REPO = Path(__file__).resolve().parent.parent
BLOCKS = readme_blocks((REPO / "README.md").read_text())
STATEFUL = ("shell", "python", "notebook", "jupyter-server")  # they share the world's store
RUNS = (*STATEFUL, "make-dry-run", "synopsis", "text")
POINTS = [(float(x), 2.0 * x + 1.0) for x in range(10)]  # y = 2x + 1, as train.ipynb fits


def _trained_model(folder: Path) -> None:
    from sklearn.linear_model import LinearRegression

    folder.mkdir(parents=True, exist_ok=True)
    model = LinearRegression().fit([[x] for x, _ in POINTS], [y for _, y in POINTS])
    (folder / "model.pkl").write_bytes(pickle.dumps(model))


def _csv() -> str:
    return "x,y\n" + "".join(f"{x},{y}\n" for x, y in POINTS)


class World:
    """The folder, environment and S3 bucket the README's blocks run in."""

    def __init__(self, folder: Path, s3_endpoint: str) -> None:
        self.folder = folder
        self.env = environment(folder)
        # `modelshelf`, `papermill` and the kernel's `python` are this environment's.
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env['PATH']}"
        self.env["JUPYTER_RUNTIME_DIR"] = str(folder / "jupyter-runtime")
        self.moto_env = {
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        _trained_model(Path(self.env["ML_MODEL_PATH"]))
        _trained_model(folder / "my-model")
        (folder / "data" / "train").mkdir(parents=True)
        (folder / "data" / "train" / "points.csv").write_text(_csv())
        shutil.copy(REPO / "notebooks" / "train.ipynb", folder / "train.ipynb")
        s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        s3.put_object(Bucket="bucket", Key="train/points.csv", Body=_csv().encode())
        s3.put_object(Bucket="bucket", Key="in/request.json", Body=b'{"instances": [[1.0]]}')
        self.failed: list[str] = []

    def run(
        self,
        block: Block,
        command: list[str],
        env: dict[str, str] | None = None,
        outputs: Callable[[], str] = str,
    ) -> str:
        """Run ``command`` for ``block`` in the world (``env`` added to its environment);
        its stdout; fail with its output, and what ``outputs()`` adds, if it fails."""
        moto = self.moto_env if block.mark == "moto" else {}
        done = subprocess.run(
            command,
            cwd=self.folder,
            env={**self.env, **moto, **(env or {})},
            capture_output=True,
            text=True,
            timeout=540,
        )
        if done.returncode != 0:
            self.failed.append(block.id)
            pytest.fail(
                f"{block.id} failed (exit {done.returncode}):\n{block.code}\n"
                f"--- stdout\n{done.stdout[-8000:]}\n--- stderr\n{done.stderr[-8000:]}\n"
                f"{outputs()}"
            )
        return done.stdout

    def unfinished_business(self) -> list[str]:
        """The jobs and deployments of the world's store that failed."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MODELSHELF_STATE_DIR", self.env["MODELSHELF_STATE_DIR"])
            with Shelf(self.env["MODELSHELF_ROOT"]) as shelf:
                jobs, deployments = JobManager(shelf), DeploymentManager(shelf)
                try:
                    failed = [
                        f"job {j.name}: {j.error}" for j in jobs.list() if j.status == "failed"
                    ]
                    failed += [
                        f"deployment {d.name}: {d.error}"
                        for d in deployments.list(include_stopped=True)
                        if d.status == "failed"
                    ]
                finally:
                    jobs.close()
                    deployments.close()
        return failed


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("readme"), s3_endpoint)
    yield made
    with pytest.MonkeyPatch.context() as patch:
        left = stop_leftovers(made.env, patch)
    assert not left, f"the README's examples left running: {', '.join(left)}"


def test_every_block_is_run_or_marked_with_why_not() -> None:
    assert [b.id for b in BLOCKS if b.kind not in RUNS] == []
    assert {b.mark for b in BLOCKS if b.mark} <= set(MARKS)
    assert all("s3://" in b.code for b in BLOCKS if b.mark == "moto")  # no mark without need
    kinds = {b.kind for b in BLOCKS}
    assert {"shell", "python", "notebook"} <= kinds  # the extraction found the real ones


@pytest.mark.timeout(600)
@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.id)
def test_block_runs_as_written(world: World, block: Block, tmp_path: Path) -> None:
    if world.failed and block.kind in STATEFUL:
        pytest.fail(f"not run: {world.failed[0]} failed first, and later blocks build on it")
    script = tmp_path / "block"
    if block.kind == "shell":
        world.run(block, ["bash", "-eo", "pipefail", "-c", block.code])
    elif block.kind == "python":
        script.write_text(with_stated_results_checked(block.code))
        world.run(block, [sys.executable, str(script)])
    elif block.kind == "notebook":
        _run_as_notebook(world, block, tmp_path)
    elif block.kind == "jupyter-server":
        with _jupyter_server(world) as (port, token):
            code = block.code.replace("127.0.0.1:8888", f"127.0.0.1:{port}")
            answer = world.run(block, ["bash", "-eo", "pipefail", "-c", code], {"TOKEN": token})
        assert isinstance(json.loads(answer), dict)  # the REST API's answer, not a login page
    elif block.kind == "make-dry-run":
        for target in re.findall(r"^make (\S+)", block.code, re.M):
            done = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True)
            assert done.returncode == 0, f"`make {target}`: {done.stderr}"
    elif block.kind == "synopsis":
        assert synopsis_problems(block.code, build_parser()) == []
    assert world.unfinished_business() == [], f"{block.id} ran jobs or deployments that failed"


def _run_as_notebook(world: World, block: Block, tmp_path: Path) -> None:
    import nbformat

    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(block.code)]
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook = tmp_path / "block.ipynb"
    nbformat.write(book, notebook)
    papermill = [sys.executable, "-m", "papermill", "--kernel", "python3", "--no-progress-bar"]
    ran = tmp_path / "ran.ipynb"
    world.run(block, [*papermill, str(notebook), str(ran)], outputs=lambda: _outputs(ran))


def _outputs(notebook: Path) -> str:
    """What the cells of an executed notebook printed (a magic's UsageError is printed)."""
    import nbformat

    if not notebook.exists():
        return ""
    cells = nbformat.read(notebook, as_version=4).cells
    texts = [
        str(output.get("text") or "\n".join(output.get("traceback", [])))
        for cell in cells
        for output in cell.get("outputs", [])
    ]
    return "--- the notebook's outputs\n" + "\n".join(texts)[-8000:]


@contextlib.contextmanager
def _jupyter_server(world: World) -> Iterator[tuple[int, str]]:
    """A real Jupyter server over the world's store (its modelshelf extension enabled by the
    installed config, as `make lab` has it), on a free port with a token."""
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
        f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={world.folder}",
    ]  # fmt: skip
    log = (world.folder / "jupyter-server.log").open("w")
    server = subprocess.Popen(command, cwd=world.folder, env=world.env, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}/api/status"
        headers = {"Authorization": f"token {token}"}
        wait_for(lambda: _answers(url, headers) or server.poll() is not None, timeout=60)
        assert server.poll() is None, (world.folder / "jupyter-server.log").read_text()
        yield port, token
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _answers(url: str, headers: dict[str, str]) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
