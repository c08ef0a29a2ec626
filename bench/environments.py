"""Benchmark models' own environments; rewrite the Environments section of BENCHMARKS.md.

Run with ``make bench`` or ``.venv/bin/python bench/environments.py [--runs 3]``. A model
whose ``requirements.txt`` pins real libraries (numpy, requests and theirs, at the versions
this interpreter has) is deployed twice with the same requirements: the first deployment
builds the environment, the second reuses it. The same environment is then built again and
again in fresh caches with uv (its own cache cold, then warm) and with venv + pip. Every
install is offline, from a wheel folder: each library is repacked as a wheel from this
interpreter's installed files (its RECORD), so no package index is ever asked.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata as metadata
import os
import tempfile
import time
import zipfile
from pathlib import Path

from _common import REPO, fmt_s, machine, median, replace_section, revision, row, table, today
from modelshelf import Shelf
from modelshelf.core.deploy.environments import EnvironmentCache
from modelshelf.core.deploy.installers import InstallOptions, PipInstaller, UvInstaller, find_uv
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.deploy.requirements import folder_reader, read_requirements

HEADING = "## Environments (bench/environments.py)"
LIBRARIES = ("numpy", "requests", "urllib3", "idna", "certifi", "charset-normalizer")
SERVE_PY = """\
import numpy
import requests


def load(model_dir):
    return numpy.arange(4.0)


def predict(model, data):
    return {"sum": float(model.sum()), "numpy": numpy.__file__, "requests": requests.__file__}
"""


def repack(name: str, folder: Path) -> Path:
    """The installed distribution ``name`` as a wheel (its files, a fresh RECORD)."""
    dist = metadata.distribution(name)
    wheel_name = dist.metadata["Name"].replace("-", "_")
    info = f"{wheel_name}-{dist.version}.dist-info"
    tag = next(
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    )
    wheel = folder / f"{wheel_name}-{dist.version}-{tag}.whl"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            path = str(file)
            if path.startswith("..") or "__pycache__" in path or path.endswith("RECORD"):
                continue  # scripts outside site-packages, bytecode, the old RECORD
            data = Path(file.locate()).read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{path},sha256={digest.decode()},{len(data)}")
            archive.writestr(path, data)
        archive.writestr(f"{info}/RECORD", "\n".join([*records, f"{info}/RECORD,,"]) + "\n")
    return wheel


def requirement_lines() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in LIBRARIES]


def deploy_twice(root: Path, model: Path, wheels: Path) -> dict[str, float]:
    """Environment work and deploy-to-ready of a first and a second deployment."""
    os.environ["UV_CACHE_DIR"] = str(root / "uv-cache-deploys")
    shelf = Shelf(root / "store")
    shelf.save("needs-numpy", model)
    manager = DeploymentManager(shelf, find_links=[str(wheels)], offline=True, ready_timeout=120)
    figures = {}
    try:
        for name in ("first", "second"):
            started = time.perf_counter()
            deployment = manager.deploy("needs-numpy", name=name, env_manager="uv")
            figures[f"{name} ready"] = time.perf_counter() - started
            if deployment.status != "ready":
                raise SystemExit(f"{name} failed: {deployment.error}\n{deployment.logs()}")
            answer = deployment.invoke([1])
            facts = deployment.serving["python_env"]
            inside = facts["path"] + os.sep
            assert answer["numpy"].startswith(inside) and answer["requests"].startswith(inside)
            assert facts["built"] is (name == "first"), facts
            figures[f"{name} env"] = facts["seconds"]
    finally:
        for deployment in manager.list():
            deployment.stop()
        manager.close()
        shelf.close()
    return figures


def build(root: Path, model: Path, wheels: Path, installer: str, cache: str) -> float:
    """Seconds to build the model's environment in a fresh environments folder."""
    os.environ["UV_CACHE_DIR"] = cache
    options = InstallOptions(find_links=(str(wheels),), offline=True)
    tool = UvInstaller(options, find_uv() or "uv") if installer == "uv" else PipInstaller(options)
    requirements = read_requirements(folder_reader(str(model)), "needs-numpy:1")
    environments = EnvironmentCache(tempfile.mkdtemp(prefix="envs-", dir=root))
    started = time.perf_counter()
    built = environments.get_or_build(requirements, tool)
    seconds = time.perf_counter() - started
    assert built.built and built.installer == tool.name
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if find_uv() is None:
        raise SystemExit("uv is not installed: pip install 'modelshelf[envs]'")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="modelshelf-bench-envs-") as work:
        root = Path(work)
        os.environ["MODELSHELF_STATE_DIR"] = str(root / "state")
        wheels = root / "wheels"
        wheels.mkdir()
        sizes = [repack(name, wheels).stat().st_size for name in LIBRARIES]
        model = root / "model"
        model.mkdir()
        (model / "serve.py").write_text(SERVE_PY)
        (model / "requirements.txt").write_text("\n".join(requirement_lines()) + "\n")
        deploys = deploy_twice(root, model, wheels)
        print(deploys, flush=True)
        builds: dict[str, list[float]] = {"uv cold": [], "uv warm": [], "pip": []}
        for i in range(args.runs):
            cold = str(root / f"uv-cache-{i}")
            builds["uv cold"].append(build(root, model, wheels, "uv", cold))
            builds["uv warm"].append(build(root, model, wheels, "uv", cold))
            builds["pip"].append(build(root, model, wheels, "pip", cold))
            print(f"run {i}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in builds.items()))
    load = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    cold, warm, pip = (median(builds[k]) for k in ("uv cold", "uv warm", "pip"))
    setup = f"{len(LIBRARIES)} libraries, {sum(sizes) / 2**20:.1f} MiB of wheels"
    rows = [
        row("first deployment: environment work (uv, cold cache)", setup,
            fmt_s(deploys["first env"])),
        row("second deployment, same requirements: environment work", setup,
            fmt_s(deploys["second env"]), fmt_s(deploys["first env"]), aim=1.0,
            value=deploys["second env"]),
        row("first deployment: deploy to ready", setup, fmt_s(deploys["first ready"])),
        row("second deployment: deploy to ready", setup, fmt_s(deploys["second ready"])),
        row("build, uv (cold cache) vs venv + pip", f"median of {args.runs}", fmt_s(cold),
            fmt_s(pip), cold / pip),
        row("build, uv (warm cache) vs venv + pip", f"median of {args.runs}", fmt_s(warm),
            fmt_s(pip), warm / pip),
    ]  # fmt: skip
    runs = "; ".join(f"{k}: {', '.join(fmt_s(s) for s in v)}" for k, v in builds.items())
    body = "\n".join(
        [
            "- Command: `make bench` (or `.venv/bin/python bench/environments.py "
            f"--runs {args.runs}`).",
            f"- Date: {today()}, code at `{revision()}`. Machine: {machine()}; shared with"
            f" other work while measured (1-minute load average {load}).",
            "",
            table(
                ["measurement", "setup", "modelshelf", "peer / baseline", "ratio", "aim", "met"],
                rows,
            ),
            "",
            f"- The model's `requirements.txt` pins {', '.join(requirement_lines())} (this"
            " interpreter's versions); its `serve.py` imports numpy and requests, and each"
            " deployment's answer is checked to come from the environment's numpy and"
            ' requests. It is deployed with `env_manager="uv"`: `auto` would serve it from'
            " this interpreter, which already has these versions. Wheels are"
            " repacked from the installed distributions' files; installs are offline"
            " (`--find-links` the wheel folder, `--no-index`).",
            "- Environment work is what `deploy()` spends on the environment, recorded in the"
            " deployment's `python_env.seconds`: reading the requirements, hashing them, and"
            " building (first) or finding (second) the environment. Deploy to ready adds the"
            " model's copy, the server's start in the environment's interpreter and the load.",
            "- Builds: `EnvironmentCache.get_or_build` in a fresh environments folder each time,"
            " timed whole (venv creation, install, the serving hook, publication); uv with a new"
            " `UV_CACHE_DIR` (cold), then again with that cache (warm); pip is `python -m venv"
            " --without-pip` and the serving interpreter's pip with `--python`. Runs: "
            + runs
            + ".",
        ]
    )
    print(body)
    replace_section(REPO / "BENCHMARKS.md", HEADING, body)
    print("written to", REPO / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
