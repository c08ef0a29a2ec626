"""Virtual environments of models' requirements, built once per set and shared.

``<root>/<key>`` (under the store's local state: ``$MODELSHELF_STATE_DIR/environments``) is a
link to the environment of one requirements set; ``key`` hashes the normalised requirements
with the Python that builds it (implementation, version and base interpreter), so every
deployment needing the same set on the same Python reuses it. Which installer built it is not
part of the key: uv's environment and pip's hold the same packages.

Built atomically: under an exclusive lock of ``<key>.lock`` (two deployments racing for the
same set build it once; the second waits and reuses it), in a folder of its own,
``<key>.<random>``, published by creating the link, which either appears whole or fails when
it exists (the create-if-absent of ``os.symlink``). A venv holds absolute paths, so the built
folder is never moved: the link is the rename. A build that fails or is killed leaves no
link; its folder is removed at once, or by the next build of that key.

The server runs in the environment's interpreter and must still import modelshelf, uvicorn,
starlette and the rest from the serving interpreter: the environment's site-packages holds a
``.pth`` hook that appends the folders named in ``$MODELSHELF_SERVING_PATH`` (the serving
interpreter's site-packages, set by the deployment manager for the server process) to
sys.path, after the environment's own, so the model's pins win over the serving
interpreter's packages and whatever they leave out still comes from there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import site
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from modelshelf.core.deploy.installers import SERVING_PATH_ENV, Installer, python_of
from modelshelf.core.deploy.requirements import Requirements
from modelshelf.core.errors import EnvironmentBuildError

FACTS = "modelshelf-environment.json"
REQUIREMENTS_FILE = "requirements.txt"
HOOK_MODULE = "_modelshelf_serving"
HOOK = f'''"""Written by modelshelf: the serving interpreter's site-packages, after these.

A server of a model deployed in this environment sets ${SERVING_PATH_ENV}; the folders it
names come after this environment's own on sys.path, so the model's pins win.
"""

import os
import site

for _path in os.environ.get("{SERVING_PATH_ENV}", "").split(os.pathsep):
    if _path:
        site.addsitedir(_path)
'''


@dataclass(frozen=True)
class PythonEnvironment:
    """A built environment, and how a deployment came by it."""

    key: str
    path: str
    python: str
    installer: str  # what built it: uv or pip
    requirements: tuple[str, ...]
    built: bool  # False: it existed already and was reused
    seconds: float  # the environment work of this deployment: building, or finding it

    def facts(self) -> dict[str, object]:
        """What a deployment's record keeps of it."""
        facts = asdict(self)
        facts["interpreter"] = facts.pop("python")
        facts["requirements"] = list(self.requirements)
        return facts


def python_identity() -> dict[str, str]:
    """The Python an environment is built from, as part of its key."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "base": os.path.realpath(base),
    }


def environment_key(requirements: Requirements) -> str:
    """The cache key of ``requirements`` on this Python."""
    spec = {"requirements": list(requirements.lines), "python": python_identity()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


def serving_path() -> str:
    """``$MODELSHELF_SERVING_PATH`` for a server of this interpreter: its site-packages."""
    folders = list(site.getsitepackages())
    user = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if user and os.path.isdir(user):
        folders.append(user)
    return os.pathsep.join(folders)


class EnvironmentCache:
    """The environments under ``root``, one per requirements key."""

    def __init__(self, root: str) -> None:
        self.root = root

    def find(self, requirements: Requirements) -> PythonEnvironment | None:
        """The published environment of ``requirements``, if one exists."""
        started = time.perf_counter()
        return self._published(environment_key(requirements), started)

    def get_or_build(self, requirements: Requirements, installer: Installer) -> PythonEnvironment:
        """The environment of ``requirements``, built with ``installer`` unless it exists.

        EnvironmentBuildError (nothing left behind) when the installer fails; its message
        names the libraries the installer's output mentions, and the files asking for them.
        """
        started = time.perf_counter()
        key = environment_key(requirements)
        found = self._published(key, started)
        if found is not None:
            return found
        os.makedirs(self.root, exist_ok=True)
        with self._locked(key):
            found = self._published(key, started)  # built while we waited for the lock
            if found is not None:
                return found
            self._remove_leftovers(key)
            build = os.path.join(self.root, f"{key}.{uuid.uuid4().hex[:12]}")
            try:
                self._build(build, requirements, installer)
                built = PythonEnvironment(
                    key, build, python_of(build), installer.name, requirements.lines,
                    built=True, seconds=time.perf_counter() - started,
                )  # fmt: skip
                with open(os.path.join(build, FACTS), "w") as fh:
                    json.dump({**built.facts(), "created_at": time.time()}, fh, indent=1)
                os.symlink(os.path.basename(build), os.path.join(self.root, key))
            except EnvironmentBuildError as exc:
                shutil.rmtree(build, ignore_errors=True)
                raise EnvironmentBuildError(_explained(exc, requirements)) from None
            except BaseException:
                shutil.rmtree(build, ignore_errors=True)
                raise
        return built

    def _build(self, build: str, requirements: Requirements, installer: Installer) -> None:
        installer.create(build)
        requirements_file = os.path.join(build, REQUIREMENTS_FILE)
        with open(requirements_file, "w") as fh:
            fh.write(requirements.text())
        installer.install(build, requirements_file)
        packages = _site_packages(build)
        with open(os.path.join(packages, f"{HOOK_MODULE}.py"), "w") as fh:
            fh.write(HOOK)
        with open(os.path.join(packages, f"{HOOK_MODULE}.pth"), "w") as fh:
            fh.write(f"import {HOOK_MODULE}\n")

    def _published(self, key: str, started: float) -> PythonEnvironment | None:
        link = os.path.join(self.root, key)
        try:
            with open(os.path.join(link, FACTS)) as fh:
                facts = json.load(fh)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        path = os.path.realpath(link)
        return PythonEnvironment(
            key, path, python_of(path), facts.get("installer", "?"),
            tuple(facts.get("requirements", ())), built=False,
            seconds=time.perf_counter() - started,
        )  # fmt: skip

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        # flock is released by the kernel when its holder dies: a killed build never
        # leaves the key locked.
        with open(os.path.join(self.root, f"{key}.lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _remove_leftovers(self, key: str) -> None:
        """Folders of earlier builds of ``key`` that never got published, and a link whose
        environment was deleted by hand (called locked, when nothing is published)."""
        link = os.path.join(self.root, key)
        if os.path.islink(link):
            os.unlink(link)
        for entry in os.listdir(self.root):
            if entry.startswith(f"{key}.") and not entry.endswith(".lock"):
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)


def _site_packages(env: str) -> str:
    """The environment's purelib folder (lib/pythonX.Y/site-packages)."""
    if os.name == "nt":
        return os.path.join(env, "Lib", "site-packages")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return os.path.join(env, "lib", version, "site-packages")


def _explained(exc: EnvironmentBuildError, requirements: Requirements) -> str:
    """The installer's message, led by the requirements it names and who asks for them."""
    output = str(exc)
    named = []
    for line, requirement in requirements.specifiers():
        pattern = re.escape(requirement.name).replace(r"\-", "[-_.]")
        if re.search(rf"(?<![\w.-]){pattern}(?![\w-])", output, re.IGNORECASE):
            origins = ", ".join(requirements.wanted_by.get(line, ())) or "the requirements"
            named.append(f"{line} (from {origins})")
    what = "; ".join(named) if named else ", ".join(requirements.sources)
    return f"cannot build the model's environment: {what}\n{output}"
