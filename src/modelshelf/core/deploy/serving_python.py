"""Which interpreter a deployment's server runs in: the serving one, or a model's own
environment (:mod:`.environments`) holding the requirements its folder names.

``env_manager`` chooses, as MLflow's ``--env-manager`` does:

- ``auto`` (the default): the serving interpreter when it already meets every requirement
  (what a model trained in this notebook's kernel usually finds: no environment to build,
  no time spent), else the model's own environment, built with uv when it is installed and
  with venv and pip otherwise;
- ``uv`` or ``virtualenv``: always the model's own environment, built with that tool
  (MLflow's meaning: the model's pins, whatever this interpreter has);
- ``local``: the serving interpreter, requirements unread, as before environments existed.

A multi-model endpoint is one server process, so it has one interpreter: its environment
holds the requirements of the models named at deploy time together (pins that conflict fail
the deployment with the resolver's message and the files that ask for each); a model loaded
later (``POST /models``, a ``TargetModel`` ref or key) must be met by that environment, or its
load is refused (424) naming what it lacks (:func:`.requirements.check_met`), unless the
endpoint is ``local``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelshelf.core.deploy.environments import EnvironmentCache, serving_path
from modelshelf.core.deploy.installers import (
    AUTO,
    LOCAL,
    SERVING_PATH_ENV,
    InstallOptions,
    installer_for,
)
from modelshelf.core.deploy.requirements import (
    Reader,
    Requirements,
    folder_reader,
    merge,
    python_mismatch,
    read_requirements,
    unmet,
)
from modelshelf.core.deploy.server_options import ServerOptions
from modelshelf.core.errors import RequirementsError

if TYPE_CHECKING:
    from modelshelf.core.store import ModelVersion, Shelf


@dataclass(frozen=True)
class ServingPython:
    """The server's interpreter, the variables it needs, and what the record says of it."""

    python: str = sys.executable
    variables: dict[str, str] = field(default_factory=dict)
    # The record's serving["python_env"]: empty when the models name no requirements.
    facts: dict[str, Any] = field(default_factory=dict)


def for_deployment(
    shelf: Shelf,
    versions: list[ModelVersion],
    config: dict[str, Any],
    environments_root: str,
    options: ServerOptions,
) -> ServingPython:
    """The interpreter of a deployment whose server ``config`` was just written: its models'
    requirements read (the copied folder, or the store's files for a multi-model endpoint)
    and their environment made as ``options.env_manager`` says."""
    requirements = deployment_requirements(shelf, versions, config.get("model_dir"))
    cache = EnvironmentCache(environments_root)
    # A multi-model endpoint checks each model it loads later against its environment.
    config["check_requirements"] = options.env_manager != LOCAL
    return serving_python(requirements, options.env_manager, options.install, cache)


def deployment_requirements(
    shelf: Shelf, versions: list[ModelVersion], model_dir: str | None
) -> Requirements:
    """What the deployed models need: read from the copied folder of a single model, else
    from each version's files in the store (a multi-model endpoint copies none at start)."""
    if model_dir is not None:
        return read_requirements(folder_reader(model_dir), versions[0].ref)
    return merge(read_requirements(_version_reader(shelf, v), v.ref) for v in versions)


def serving_python(
    requirements: Requirements, env_manager: str, options: InstallOptions, cache: EnvironmentCache
) -> ServingPython:
    """The interpreter to serve ``requirements`` with; builds (or reuses) their environment
    when ``env_manager`` calls for one. RequirementsError or EnvironmentBuildError, before
    any server starts, when that cannot be done."""
    started = time.perf_counter()
    if not requirements:
        return ServingPython()
    facts: dict[str, Any] = {"manager": env_manager, "sources": list(requirements.sources)}
    if env_manager == LOCAL:
        return ServingPython(facts={**facts, "interpreter": sys.executable})
    mismatch = python_mismatch(requirements)
    if mismatch:
        raise RequirementsError(mismatch)
    if env_manager == AUTO and not unmet(requirements):
        met = {"interpreter": sys.executable, "met": True}
        return ServingPython(facts={**facts, **met, "seconds": time.perf_counter() - started})
    environment = cache.get_or_build(requirements, installer_for(env_manager, options))
    facts.update(environment.facts())
    facts["seconds"] = time.perf_counter() - started  # all of this deployment's env work
    return ServingPython(environment.python, {SERVING_PATH_ENV: serving_path()}, facts)


def _version_reader(shelf: Shelf, version: ModelVersion) -> Reader:
    def read(path: str) -> str | None:
        if version.file(path) is None:
            return None
        with shelf.open(version.ref, path) as fh:
            return fh.read().decode("utf-8", errors="replace")

    return read
