"""A multi-model endpoint's batching, model by model, as TorchServe's management API sets it.

Each model is batched as its ``POST /models`` said (``batch_size``, ``max_batch_delay``:
a number of milliseconds, as TorchServe takes it, or a duration such as ``"10ms"``), else
as the endpoint was deployed. A model reloaded gets a new batcher: the old one's queue
belongs to the handler it was made for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from modelshelf.core.deploy.batching import Batcher, BatchSettings
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.errors import DeploymentError, PayloadError


class ModelBatchers:
    """The batch settings and batchers of the models of one endpoint."""

    def __init__(self, default: BatchSettings, on_batch: Callable[[int], None]) -> None:
        self.default = default
        self._on_batch = on_batch
        self._settings: dict[str, BatchSettings] = {}
        self._batchers: dict[str, tuple[ModelHandler, Batcher]] = {}
        self._lock = threading.Lock()

    def configure(self, name: str, settings: BatchSettings | None) -> None:
        """How ``name`` is batched from now on (None: as the endpoint)."""
        with self._lock:
            if settings is None:
                self._settings.pop(name, None)
            else:
                self._settings[name] = settings
            self._batchers.pop(name, None)

    def settings(self, name: str) -> BatchSettings:
        return self._settings.get(name, self.default)

    def get(self, name: str, handler: ModelHandler) -> Batcher | None:
        """The batcher of ``name`` loaded as ``handler``; None when it is not batched."""
        held = self._batchers.get(name)
        if held is not None and held[0] is handler:
            return held[1]
        settings = self.settings(name)
        if not settings.batching or not handler.takes_batches:
            return None
        batcher = Batcher(handler.handle_batch, settings, self._on_batch)
        with self._lock:
            self._batchers[name] = (handler, batcher)
        return batcher


def registered_settings(spec: Mapping[str, Any]) -> BatchSettings | None:
    """The batching a ``POST /models`` body (or query string) asks for, if any; a bad value
    is a PayloadError (400)."""
    size, delay = spec.get("batch_size"), spec.get("max_batch_delay")
    if size is None and delay is None:
        return None
    try:
        batch_size = int(size) if size is not None else 1
        if isinstance(delay, (int, float)) or (isinstance(delay, str) and delay.isdigit()):
            delay = float(delay) / 1000  # TorchServe's unit: milliseconds
        return BatchSettings.of(batch_size, delay if delay is not None else "10ms")
    except (TypeError, ValueError, DeploymentError) as exc:
        raise PayloadError(
            f"cannot batch as asked ({exc}): batch_size is a whole number, max_batch_delay "
            "milliseconds (as TorchServe takes it) or a duration such as 10ms"
        ) from None
