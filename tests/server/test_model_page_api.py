"""The routes the model page and the job page read: what uses a version, an alias's history,
and rerunning a job. A real Jupyter server; real leases; real notebooks run by papermill."""

from __future__ import annotations

import pytest

from conftest import TRAIN, write_notebook

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def churn(shelf, model_folder):
    first = shelf.save("churn", model_folder, params={"C": 1.0})
    (model_folder / "weights.bin").write_bytes(b"new weights")
    second = shelf.save("churn", model_folder, params={"C": 2.0}, parent=first.ref)
    return first, second


async def test_usage_names_aliases_lease_holders_and_children(api, shelf, churn):
    shelf.set_alias("churn", "production", 1)
    shelf.set_alias("churn", "staging", 2)
    deployment = shelf.lease("churn:1", owner="deployment churn-prod")
    job = shelf.lease("churn:1", owner="job retrain (20260101-000000-abcdef)")
    try:
        status, usage = await api("GET", "models", "churn", "versions", "1", "usage")
    finally:
        shelf.leases.release(deployment)
        shelf.leases.release(job)
    assert status == 200, usage
    assert usage["ref"] == "churn:1"
    assert usage["aliases"] == ["production"]
    assert [(h["kind"], h["owner"]) for h in usage["holders"]] == [
        ("deployment", "deployment churn-prod"),
        ("job", "job retrain (20260101-000000-abcdef)"),
    ]
    assert usage["children"] == ["churn:2"]
    # Released: nobody holds it any more.
    _, after = await api("GET", "models", "churn", "versions", "1", "usage")
    assert after["holders"] == [] and after["aliases"] == ["production"]


@pytest.mark.parametrize(("version", "status"), [("9", 404), ("0", 400), ("x", 400)])
async def test_usage_of_a_missing_or_malformed_version(api, churn, version, status):
    code, error = await api("GET", "models", "churn", "versions", version, "usage")
    assert code == status and error["message"]


async def test_alias_history_lists_every_move_oldest_first(api, churn):
    for version in (1, 2):
        status, _ = await api("PUT", "models", "churn", "aliases", "production",
                              body={"version": version})  # fmt: skip
        assert status == 200
    await api("DELETE", "models", "churn", "aliases", "production")
    status, history = await api("GET", "models", "churn", "aliases", "production")
    assert status == 200, history
    assert [(m["seq"], m["version"]) for m in history["moves"]] == [(1, 1), (2, 2), (3, None)]
    assert all(m["moved_at"] for m in history["moves"])
    code, error = await api("GET", "models", "churn", "aliases", "never-set")
    assert code == 404 and "never-set" in error["message"]


async def test_rerun_runs_the_job_again_with_its_parameters(api, wait_for, jp_root_dir, shelf):
    write_notebook(jp_root_dir / "train.ipynb", "epochs = 2\nlr: float = 0.1", TRAIN)
    status, job = await api("POST", "jobs", body={"notebook": "train.ipynb", "name": "again",
                                                  "parameters": {"epochs": 4}})  # fmt: skip
    assert status == 201, job
    done = await wait_for(("jobs", job["id"]), lambda j: j["status"] not in ("queued", "running"))
    assert done["status"] == "succeeded", done
    # The notebook changes afterwards: the rerun still runs the one the job ran.
    write_notebook(jp_root_dir / "train.ipynb", "epochs = 2", "raise SystemExit('changed')")
    status, rerun = await api("POST", "jobs", job["id"], "rerun")
    assert status == 201, rerun
    assert rerun["id"] != job["id"] and rerun["rerun_of"] == f"job {job['id']}"
    assert rerun["parameters"]["epochs"] == 4
    rerun = await wait_for(("jobs", rerun["id"]), lambda j: j["status"] in ("succeeded", "failed"))
    assert rerun["status"] == "succeeded", rerun
    assert rerun["outputs"] == ["Job - again:2"]
    assert shelf.open("Job - again:2", "weights.txt").read() == b"epochs=4 lr=0.1"


async def test_rerun_of_a_script_job_runs_its_snapshot(api, wait_for, jp_root_dir, shelf):
    script = jp_root_dir / "fit.py"
    fit = "import os, pathlib, sys\nout = pathlib.Path(os.environ['ML_OUTPUT_PATH'])\n"
    script.write_text(fit + "out.mkdir(parents=True, exist_ok=True)\n"
                      "(out / 'args.txt').write_text(' '.join(sys.argv[1:]))\n")  # fmt: skip
    status, job = await api("POST", "jobs", body={"notebook": "fit.py", "parameters": {"k": 3}})
    assert status == 201, job
    done = await wait_for(("jobs", job["id"]), lambda j: j["status"] not in ("queued", "running"))
    assert done["status"] == "succeeded", done
    script.write_text("raise SystemExit('changed')\n")  # the rerun runs what the job ran
    status, rerun = await api("POST", "jobs", job["id"], "rerun")
    assert status == 201 and rerun["kind"] == "script", rerun
    rerun = await wait_for(("jobs", rerun["id"]), lambda j: j["status"] in ("succeeded", "failed"))
    assert rerun["status"] == "succeeded", rerun
    assert shelf.open("Job - fit:2", "args.txt").read() == b"--k 3"


async def test_rerun_of_an_unknown_job_is_404(api):
    code, error = await api("POST", "jobs", "20990101-000000-abcdef", "rerun")
    assert code == 404 and error["message"]
