"""How a deployment's server is asked to serve: :class:`ServerOptions`, and the checked
variables (``env=``) set for its process."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelshelf.core.deploy.batching import BatchSettings
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.installers import AUTO, InstallOptions
from modelshelf.core.deploy.scaling import ScalingPolicy
from modelshelf.core.errors import DeploymentError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ServerOptions:
    """How :meth:`DeploymentManager.deploy` was asked to configure the server."""

    token: str | None
    max_body: int | str | None
    max_models: int
    memory_budget: int | str
    output_location: str | None
    handler: HandlerSpec | None = None
    # Set in the server process's environment (never written to the deployment's files).
    env: dict[str, str] = field(default_factory=dict)
    model_data: dict[str, Any] | None = None  # the config's "model_data", see serve.py
    # Multi only: the folders whose model folders POST /models may name.
    model_roots: tuple[str, ...] = ()
    env_manager: str = AUTO  # see serving_python.py
    install: InstallOptions = field(default_factory=InstallOptions)
    batching: BatchSettings = field(default_factory=BatchSettings)
    scaling: ScalingPolicy = field(default_factory=ScalingPolicy)

    def serving(self) -> dict[str, Any]:
        """What the deployment's record keeps of these: no secret (token, storage options,
        the variables' values)."""
        serving: dict[str, Any] = {}
        if self.handler is not None:
            serving["handler"] = f"{self.handler.path}:{self.handler.function or 'handle'}"
        if self.model_data is not None:
            serving["model_data"] = self.model_data["url"]
            if self.model_data["cache_bytes"]:
                serving["model_data_cache"] = self.model_data["cache_bytes"]
        if self.model_roots:
            serving["model_roots"] = list(self.model_roots)
        if self.env:
            serving["env"] = sorted(self.env)
        if self.scaling.workers.scales:  # the record's workers is the range's minimum
            serving["max_workers"] = self.scaling.workers.max
        if self.batching.batching:
            serving["batch_size"] = self.batching.batch_size
            serving["max_batch_delay"] = self.batching.max_batch_delay
        return serving


def checked_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """``env`` as variables for a server process; DeploymentError for a bad name or value."""
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise DeploymentError(f"env must map names to values, not a {type(env).__name__}")
    checked = {}
    for key, value in env.items():
        if not isinstance(key, str) or not ENV_NAME.match(key):
            raise DeploymentError(
                f"env name {key!r} is not a variable name (letters, digits and _, "
                "not starting with a digit)"
            )
        if not isinstance(value, str) or "\x00" in value:
            raise DeploymentError(f"env {key}'s value must be text, not {value!r}")
        checked[key] = value
    return checked
