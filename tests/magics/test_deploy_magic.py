"""``%deploy``: a real real-time deployment of a pickled scikit-learn model on 127.0.0.1."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from magic_helpers import magics_of

from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.jobs import Job
from modelshelf.magics.results import Listing


@pytest.fixture
def linear(ip, tmp_path: Path):
    """The shell, with ``linear`` (y = 2x + 1) saved; afterwards nothing is left serving."""
    from sklearn.linear_model import LinearRegression

    folder = tmp_path / "linear"
    folder.mkdir()
    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    ip.run_line_magic("model", f"save linear --from {folder}")
    yield ip
    for deployment in magics_of(ip).deployments.list():
        deployment.stop()


def test_deploy_ls_invoke_stop(linear) -> None:
    ip = linear
    ip.run_cell("endpoint = %deploy linear")
    endpoint = ip.user_ns["endpoint"]
    assert isinstance(endpoint, Deployment)
    assert (endpoint.status, endpoint.refs) == ("ready", ["linear:1"])
    assert endpoint.url.startswith("http://127.0.0.1:")
    assert repr(endpoint) == f"<Deployment linear [realtime] ready at {endpoint.url}>"
    assert f'href="{endpoint.url}"' in endpoint._repr_html_()

    listed = ip.run_line_magic("deploy", "ls")
    assert isinstance(listed, Listing) and [d.name for d in listed] == ["linear"]
    assert repr(listed).splitlines()[1].split()[:3] == ["linear", "realtime", "ready"]

    ip.run_cell("""answer = %deploy invoke linear '{"instances": [[3.0]]}'""")
    assert [round(x, 6) for x in ip.user_ns["answer"]["predictions"]] == [7.0]
    assert [round(x, 6) for x in endpoint.invoke({"instances": [[4.0]]})["predictions"]] == [9.0]

    stopped = ip.run_line_magic("deploy", "stop linear")
    assert stopped.status == "stopped" and endpoint.refresh().status == "stopped"
    assert repr(ip.run_line_magic("deploy", "ls")).startswith("no deployments")
    assert [d.status for d in ip.run_line_magic("deploy", "ls --all")] == ["stopped"]


def test_batch_is_a_job(linear, tmp_path: Path) -> None:
    ip = linear
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "a.json").write_text('{"instances": [[1.0]]}')
    job = ip.run_line_magic("deploy", f"batch linear {inputs} {outputs} --wait")
    assert isinstance(job, Job) and job.status == "succeeded"
    answer = json.loads((outputs / "a.json.out").read_text())
    assert [round(x, 6) for x in answer["predictions"]] == [3.0]
