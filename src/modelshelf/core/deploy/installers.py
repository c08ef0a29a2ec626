"""The tools that build a model's virtual environment: uv, or ``venv`` and pip.

uv (the ``uv`` wheel ships its binary) creates an environment and installs into it in a
fraction of pip's time; without it, ``python -m venv --without-pip`` and the serving
interpreter's own pip with ``--python`` (pip 22.3 and later) do the same, so the new
environment needs no pip of its own. Both install offline from wheel folders
(``find_links``) when told to (``offline``: no package index at all).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from modelshelf.core.errors import DeploymentError, EnvironmentBuildError

# How a deployment chooses its environment, as MLflow's --env-manager does.
AUTO, UV, VIRTUALENV, LOCAL = "auto", "uv", "virtualenv", "local"
ENV_MANAGERS = (AUTO, UV, VIRTUALENV, LOCAL)
# The serving interpreter's settings that would make an installer see its packages, or
# install somewhere else, if they leaked into the installer's process.
_UNSET_FOR_INSTALLERS = ("PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "VIRTUAL_ENV")


@dataclass(frozen=True)
class InstallOptions:
    """Where packages come from: extra wheel folders or URLs, and whether the index is used."""

    find_links: tuple[str, ...] = ()
    offline: bool = False


class Installer:
    """Creates an environment at a path and installs a requirements file into it."""

    name = "installer"

    def __init__(self, options: InstallOptions) -> None:
        self.options = options

    def create(self, path: str) -> None:
        raise NotImplementedError

    def install(self, path: str, requirements_file: str) -> None:
        raise NotImplementedError

    def _run(self, command: list[str], what: str, cwd: str) -> None:
        environment = {k: v for k, v in os.environ.items() if k not in _UNSET_FOR_INSTALLERS}
        environment.pop(SERVING_PATH_ENV, None)
        done = subprocess.run(
            command, cwd=cwd, env=environment, capture_output=True, text=True, errors="replace"
        )
        if done.returncode != 0:
            output = (done.stderr.strip() or done.stdout.strip())[-4000:]
            raise EnvironmentBuildError(f"{self.name} could not {what}:\n{output}")

    def _sources(self) -> list[str]:
        sources = [arg for link in self.options.find_links for arg in ("--find-links", link)]
        return [*sources, "--no-index"] if self.options.offline else sources


class UvInstaller(Installer):
    name = "uv"

    def __init__(self, options: InstallOptions, binary: str) -> None:
        super().__init__(options)
        self.binary = binary

    def create(self, path: str) -> None:
        # The serving interpreter's own Python, never one uv would download.
        command = [self.binary, "venv", "--quiet", "--no-python-downloads", "--python",
                   sys.executable, path]  # fmt: skip
        self._run(command, "create the environment", os.path.dirname(path))

    def install(self, path: str, requirements_file: str) -> None:
        offline = ["--offline"] if self.options.offline else []
        command = [self.binary, "pip", "install", "--python", python_of(path), *offline,
                   *self._sources(), "-r", requirements_file]  # fmt: skip
        self._run(command, "install the requirements", os.path.dirname(requirements_file))


class PipInstaller(Installer):
    name = "pip"

    def create(self, path: str) -> None:
        command = [sys.executable, "-m", "venv", "--without-pip", path]
        self._run(command, "create the environment", os.path.dirname(path))

    def install(self, path: str, requirements_file: str) -> None:
        command = [sys.executable, "-m", "pip", "--python", python_of(path), "install",
                   "--disable-pip-version-check", "--no-input", *self._sources(),
                   "-r", requirements_file]  # fmt: skip
        self._run(command, "install the requirements", os.path.dirname(requirements_file))


# Set for a server running in a model's environment: the serving interpreter's site-packages,
# which the environment's hook appends to sys.path after its own (see environments.py).
SERVING_PATH_ENV = "MODELSHELF_SERVING_PATH"


def python_of(path: str) -> str:
    """The interpreter of the virtual environment at ``path``."""
    if os.name == "nt":
        return os.path.join(path, "Scripts", "python.exe")
    return os.path.join(path, "bin", "python")


def find_uv() -> str | None:
    """The uv binary: the ``uv`` package's, else one on PATH."""
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def installer_for(env_manager: str, options: InstallOptions) -> Installer:
    """The installer ``env_manager`` asks for: ``uv``, ``virtualenv`` (venv and pip), or
    ``auto`` (uv when installed, else venv and pip)."""
    if env_manager == VIRTUALENV:
        return PipInstaller(options)
    binary = find_uv()
    if binary is not None:
        return UvInstaller(options, binary)
    if env_manager == UV:
        raise DeploymentError(
            "env_manager='uv' needs uv, which is not installed: pip install 'modelshelf[envs]' "
            "(or uv), or use env_manager='virtualenv' (venv and pip)"
        )
    return PipInstaller(options)


def checked_env_manager(value: str) -> str:
    """``value`` (any case) if it names an environment manager; DeploymentError otherwise."""
    value = value.lower() if isinstance(value, str) else value
    if value not in ENV_MANAGERS:
        raise DeploymentError(
            f"unknown env_manager {value!r}: use one of {', '.join(ENV_MANAGERS)} "
            "(auto: a model's own environment only when this interpreter lacks what it needs)"
        )
    return value


def checked_find_links(links: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Wheel folders (made absolute: installers run elsewhere) or http(s) URLs."""
    checked = []
    for link in links:
        if not isinstance(link, str) or not link.strip():
            raise DeploymentError(f"find_links holds {link!r}: give wheel folders or URLs")
        if link.startswith(("http://", "https://", "file://")):
            checked.append(link)
            continue
        folder = os.path.abspath(os.path.expanduser(link))
        if not os.path.isdir(folder):
            raise DeploymentError(f"the find-links folder {link} does not exist")
        checked.append(folder)
    return tuple(checked)
