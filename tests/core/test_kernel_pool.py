"""The kernel pool: jobs on pre-started runners and kernels, seeing what cold jobs see.

Real runners, real kernels, real papermill; the owner of a pool is killed with SIGKILL and
/proc is scanned for anything it left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from modelshelf import Shelf
from modelshelf.core.jobs import JobManager
from modelshelf.core.processes import pid_alive
from support import wait_for

DATA = Path(__file__).parent.parent / "data"
SLEEPS, FAILS = DATA / "sleeps.ipynb", DATA / "fails.ipynb"
POOLED = "runs on a pre-started python3 kernel"

# Everything a notebook can see of how its kernel was started, written for the test to read.
PROBE = """\
import json, os, sys, pathlib
ip = get_ipython()
seen = {
    "environ": dict(os.environ),
    "cwd": os.getcwd(),
    "argv": sys.argv,
    "path": sys.path,
    "dh": [repr(p) for p in ip.user_ns["_dh"]],
    "execution_count": ip.execution_count,
    "names": sorted(k for k in ip.user_ns if not k.startswith("_")),
    "parameters": {"alpha": alpha, "label": label},
    "kernel_pid": os.getpid(),
    "leaked": hasattr(__import__("builtins"), "modelshelf_leak"),
}
pathlib.Path(os.environ["ML_MODEL_PATH"], "seen.json").write_text(json.dumps(seen))
__import__("builtins").modelshelf_leak = True  # must never reach the next job
"""


@pytest.fixture
def shelf(tmp_path):
    with Shelf(tmp_path / "store") as store:
        yield store


@pytest.fixture
def probe(tmp_path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("alpha = 0.5\nlabel = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(PROBE)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def pooled(shelf):
    """Makes a job manager keeping one pooled runner, ready. Call it in the test itself:
    pytest changes ``PYTEST_CURRENT_TEST`` between setup and call, and a runner started
    with another environment than the job's is (rightly) not used."""
    managers = []

    def make() -> JobManager:
        manager = JobManager(shelf, kernel_pool=1)
        managers.append(manager)
        assert manager.pool.wait_ready(120), "the pool did not get ready"
        return manager

    yield make
    for manager in managers:
        for job in manager.list():
            if not job.finished:
                job.cancel()
        manager.close()


def seen(job) -> dict:
    return json.loads(Path(job.workspace, "models", "seen.json").read_text())


def normalised(view: dict, job) -> dict:
    """What a job saw, with what differs between any two jobs (its id, its folder, the
    kernel's pid and connection file) replaced by placeholders."""
    text = json.dumps(view).replace(job.workspace, "<workspace>").replace(job.id, "<job id>")
    out = json.loads(text)
    out["environ"].pop("JPY_PARENT_PID")  # the pid of the process that ran papermill
    argv = out["argv"]
    argv[argv.index("-f") + 1] = "<connection file>"
    out.pop("kernel_pid")
    return out


def test_a_pooled_job_sees_exactly_what_a_cold_job_sees(shelf, pooled, probe):
    pooled = pooled()
    cold_manager = JobManager(shelf, kernel_pool=0)
    assert cold_manager.pool is None
    params = {"alpha": 2.5, "label": "same"}
    cold = cold_manager.submit(probe, name="probe", parameters=params).wait(120)
    warm = pooled.submit(probe, name="probe", parameters=params).wait(120)
    cold_manager.close()
    assert cold.status == "succeeded", cold.logs()
    assert warm.status == "succeeded", warm.logs()
    assert POOLED in warm.logs() and POOLED not in cold.logs()
    cold_view, warm_view = seen(cold), seen(warm)
    assert warm_view["cwd"] == warm.workspace
    assert warm_view["dh"] == [repr(Path(warm.workspace))]
    assert warm_view["environ"]["ML_JOB_ID"] == warm.id
    assert warm_view["parameters"] == params
    assert normalised(warm_view, warm) == normalised(cold_view, cold)
    assert warm.outputs == ["Job - probe:2"]


def test_each_job_gets_a_fresh_kernel_and_the_pool_refills(pooled, probe):
    pooled = pooled()
    first = pooled.submit(probe, name="first").wait(120)
    assert pooled.pool.wait_ready(120)
    second = pooled.submit(probe, name="second").wait(120)
    assert first.status == second.status == "succeeded", second.logs()
    assert POOLED in first.logs() and POOLED in second.logs()
    one, two = seen(first), seen(second)
    assert one["kernel_pid"] != two["kernel_pid"]
    assert not one["leaked"] and not two["leaked"]
    wait_for(lambda: not pid_alive(one["kernel_pid"]), timeout=15)


def test_jobs_that_do_not_fit_the_pool_run_cold(pooled, probe, tmp_path, monkeypatch):
    other = tmp_path / "jupyter" / "kernels" / "other-python"
    other.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "another Python",
        "language": "python",
    }
    (other / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    pooled = pooled()  # started with JUPYTER_PATH set, so only the kernel differs below
    # Another kernelspec, the user's own variables, two workers: the runner stays unused.
    by_kernel = pooled.submit(probe, name="other-kernel", kernel="other-python")
    by_env = pooled.submit(probe, name="own-env", env={"MODELSHELF_TEST_FLAG": "1"})
    by_workers = pooled.submit(probe, name="two-workers", workers=2)
    for job in (by_kernel, by_env, by_workers):
        job.wait(120)
        assert job.status == "succeeded", job.logs()
        assert POOLED not in job.logs(), job.name
    assert seen(by_env)["environ"]["MODELSHELF_TEST_FLAG"] == "1"
    assert pooled.pool.ready == 1
    # The owner's environment changed: the runner started before can fit no job any more;
    # it is replaced by one started with the new environment.
    monkeypatch.setenv("MODELSHELF_TEST_CHANGED", "yes")
    by_owner = pooled.submit(probe, name="changed-owner").wait(120)
    assert by_owner.status == "succeeded", by_owner.logs()
    assert POOLED not in by_owner.logs()
    assert seen(by_owner)["environ"]["MODELSHELF_TEST_CHANGED"] == "yes"
    assert pooled.pool.wait_ready(120)
    fits = pooled.submit(probe, name="fits").wait(120)
    assert POOLED in fits.logs()
    assert seen(fits)["environ"]["MODELSHELF_TEST_CHANGED"] == "yes"
    # A relative PYTHONPATH entry resolves against the kernel's starting folder, which for
    # a pooled kernel is not the workspace: such a job runs cold.
    path = os.pathsep.join(filter(None, ["relative-folder", os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    assert pooled.pool.wait_ready(120)
    relative = pooled.submit(probe, name="relative-path").wait(120)
    assert relative.status == "succeeded", relative.logs()
    assert POOLED not in relative.logs()


def test_a_changed_kernelspec_is_not_used_from_the_pool(shelf, probe, tmp_path, monkeypatch):
    folder = tmp_path / "jupyter" / "kernels" / "python3"
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
        "env": {"MODELSHELF_TEST_KERNEL": "v1"},
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    manager = JobManager(shelf, kernel_pool=1)
    try:
        assert manager.pool.wait_ready(120)
        spec["env"] = {"MODELSHELF_TEST_KERNEL": "v2"}
        (folder / "kernel.json").write_text(json.dumps(spec))
        job = manager.submit(probe, name="changed-spec").wait(120)
        assert job.status == "succeeded", job.logs()
        assert POOLED not in job.logs()
        assert seen(job)["environ"]["MODELSHELF_TEST_KERNEL"] == "v2"
    finally:
        manager.close()


def test_a_pooled_job_fails_and_is_cancelled_as_a_cold_one(shelf, pooled):
    pooled = pooled()
    cold_manager = JobManager(shelf)
    cold = cold_manager.submit(FAILS, name="fails").wait(120)
    warm = pooled.submit(FAILS, name="fails").wait(120)
    cold_manager.close()
    assert POOLED in warm.logs()
    assert warm.status == cold.status == "failed"
    assert warm.error == cold.error == "ValueError: bad value: 0 in cell 3"
    assert "about to fail" in warm.logs()

    assert pooled.pool.wait_ready(120)
    job = pooled.submit(SLEEPS, name="sleepy", parameters={"seconds": 120})
    wait_for(Path(job.workspace, "models", "started").exists)
    assert POOLED in job.logs()
    kernel_pid = int(Path(job.workspace, "kernel.pid").read_text())
    runner_pid = job.refresh()._record.runner_pid
    assert job.cancel().status == "cancelled"
    wait_for(lambda: not pid_alive(kernel_pid) and not pid_alive(runner_pid), timeout=15)
    assert job.refresh().results["status"] == "cancelled"


def test_the_pool_size_is_a_setting(shelf):
    config = Config()
    config.JobManager.kernel_pool = 2
    manager = JobManager(shelf, config=config)
    try:
        assert manager.pool is not None and manager.pool.size == 2
        assert manager.pool.wait_ready(180)
        manager.kernel_pool = 1
        wait_for(lambda: manager.pool.ready == 1, timeout=30)
        manager.kernel_pool = 0
        wait_for(lambda: manager.pool.ready == 0, timeout=30)
    finally:
        manager.close()
    assert JobManager(shelf).pool is None  # 0, the default: no pool unless asked for


OWNER = """
import json, sys, time
from modelshelf import Shelf
from modelshelf.core.jobs import JobManager
manager = JobManager(Shelf(sys.argv[1]), kernel_pool=1)
assert manager.pool.wait_ready(120)
job = manager.submit(sys.argv[2], name="outlives-owner", parameters={"seconds": 4})
assert manager.pool.wait_ready(120)
runner = manager.pool._idle[0]
print(json.dumps({"job": job.id, "runner": runner.pid, "kernel": runner.facts["kernel_pid"]}))
sys.stdout.flush()
time.sleep(600)
"""


def _marked(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker``: all the owner started, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read()
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry))
    return found


def test_the_pool_dies_with_its_owner_but_a_job_it_took_does_not(shelf, tmp_path):
    name, value = "MODELSHELF_TEST_OWNER", uuid.uuid4().hex
    marker = f"{name}={value}"
    env = {**os.environ, name: value}
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, shelf.backend.url, str(SLEEPS)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        facts = json.loads(owner.stdout.readline())
        assert pid_alive(facts["runner"]) and pid_alive(facts["kernel"])
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_for(lambda: not pid_alive(facts["runner"]) and not pid_alive(facts["kernel"]), 15)
        manager = JobManager(shelf)
        job = manager.get(facts["job"])
        assert POOLED in job.logs()
        # Only the job (its runner and its kernel) is left of what the owner started.
        runner_pid = job.refresh()._record.runner_pid
        assert runner_pid in _marked(marker)
        job.wait(120)
        assert job.status == "succeeded", job.logs()
        manager.close()
        wait_for(lambda: not _marked(marker), timeout=15)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.stdout.close()


def test_the_cli_never_keeps_a_pool(shelf, tmp_path):
    """`modelshelf` ends with its command: a pool there would be started for nothing."""
    name, value = "MODELSHELF_TEST_CLI", uuid.uuid4().hex
    marker = f"{name}={value}"
    env = {**os.environ, "MODELSHELF_KERNEL_POOL": "2", name: value}
    done = subprocess.run(
        [sys.executable, "-m", "modelshelf", "--root", shelf.backend.url, "jobs", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == []
    assert not _marked(marker)
    # A pool makes its folder when it is made, before it starts any runner.
    assert not Path(shelf.state_dir, "jobs", "pool").exists()


def test_a_scheduled_run_takes_a_pooled_kernel_and_sees_its_schedule(shelf, pooled, probe):
    from modelshelf.core.jobs import ScheduleManager

    jobs = pooled()
    schedules = ScheduleManager(shelf, jobs=jobs)
    try:
        schedules.create(probe, every="1d", name="probe-daily")
        job = schedules.run_now("probe-daily", {"label": "now"}).wait(120)
    finally:
        schedules.close()
    assert job.status == "succeeded", job.logs()
    assert POOLED in job.logs()  # the schedule's variables are the job's own, not an env=
    environ = seen(job)["environ"]
    assert environ["ML_SCHEDULE_NAME"] == "probe-daily" and environ["ML_SCHEDULE_ATTEMPT"] == "1"
    assert float(environ["ML_SCHEDULED_TIME"]) == pytest.approx(job.spec.schedule["due"])
    assert seen(job)["parameters"] == {"alpha": 0.5, "label": "now"}


RELATIVE_OWNER = """\
import sys
from modelshelf import Shelf
from modelshelf.core.jobs import JobManager
jobs = JobManager(Shelf(sys.argv[1]), kernel_pool=1)
assert jobs.pool.wait_ready(120)
job = jobs.submit(sys.argv[2]).wait(120)
print(job.status, "runs on a pre-started python3 kernel" in job.logs())
jobs.close()
"""


def test_an_owner_started_through_a_relative_path_still_uses_its_pool(shelf, probe, tmp_path):
    """`../.venv/bin/python x.py` names the interpreter with a `..`: the pool's runners and
    the owner must still agree that they run the same Python."""
    folder = tmp_path / "sub"
    folder.mkdir()
    relative = os.path.relpath(sys.executable, folder)  # e.g. ../../../work/main/.venv/...
    done = subprocess.run(
        [relative, "-c", RELATIVE_OWNER, shelf.backend.url, str(probe)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.stdout.split() == ["succeeded", "True"], done.stderr[-3000:]
