"""The models a multi-model endpoint knows, the ones it holds loaded, and which go first.

Names are *registered* with the URL (a model ref) they load from; a registered model is
loaded on first use and may be unloaded again, least recently used first, when
``max_models`` or ``memory_budget`` would be exceeded. The budget counts what each model
takes in memory once loaded, as :mod:`~modelshelf.core.deploy.memory` finds it (the model's
own report, else the resident memory its load added); with a budget, loads run one at a
time so that each can be measured. Concurrent first requests for the same cold model load
it once.

:class:`ModelCache` knows nothing of the store;
:class:`~modelshelf.core.deploy.store_models.StoreModels` loads its models from a
:class:`~modelshelf.core.store.Shelf` (leasing each loaded version) or a model-data prefix.
"""

from __future__ import annotations

import functools
import logging
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from modelshelf.core.deploy.memory import (
    footprint,
    free_unused_memory,
    measured_load,
    unmeasured_warning,
)
from modelshelf.core.deploy.model_handler import ModelHandler
from modelshelf.core.errors import ModelNotFoundError, ModelTooLargeError

if TYPE_CHECKING:
    pass

log = logging.getLogger("modelshelf.serve")

OWNER = "multi-model endpoint"

Loader = Callable[[str, str], ModelHandler]
OnUnload = Callable[[str, ModelHandler], None]


class _Registration:
    """A name's URL; compared by identity, so a load can tell it was unregistered meanwhile."""

    __slots__ = ("url",)

    def __init__(self, url: str) -> None:
        self.url = url


class ModelCache:
    """Thread-safe LRU of loaded models with single-flight loading.

    ``loader(name, url)`` loads a model; ``on_unload(name, handler)`` is called (outside the
    lock) for every handler dropped, e.g. to release its store lease. 0 means unlimited.
    """

    def __init__(
        self,
        loader: Loader,
        *,
        max_models: int = 0,
        memory_budget: int = 0,
        on_unload: OnUnload | None = None,
    ) -> None:
        self.loader = loader
        self.max_models = max_models
        self.memory_budget = memory_budget
        self.on_unload = on_unload
        self._lock = threading.Lock()
        self._known: dict[str, _Registration] = {}
        self._loaded: OrderedDict[str, ModelHandler] = OrderedDict()
        self._loading: dict[str, Future[ModelHandler]] = {}
        self._memory: dict[str, int] = {}  # what each loaded name counts against the budget
        self._used = 0
        why = unmeasured_warning() if memory_budget else None
        if why:
            log.warning(why)

    # ---- what is known ----------------------------------------------------------------------

    def register(self, name: str, url: str) -> None:
        """Make ``name`` known (not loaded); a new URL for a loaded name unloads the old one."""
        with self._lock:
            current = self._known.get(name)
            if current is not None and current.url == url:
                return
            self._known[name] = _Registration(url)
            dropped = self._pop(name) if current is not None else None
        self._dropped([(name, dropped)] if dropped else [])

    def unregister(self, name: str) -> bool:
        """Unload and forget ``name``; False if it was not registered."""
        with self._lock:
            if self._known.pop(name, None) is None:
                return False
            dropped = self._pop(name)
        self._dropped([(name, dropped)] if dropped else [])
        return True

    def url(self, name: str) -> str | None:
        registration = self._known.get(name)
        return registration.url if registration else None

    def registered(self) -> dict[str, str]:
        """Every registered name and its URL."""
        with self._lock:
            return {name: reg.url for name, reg in self._known.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._known

    # ---- what is loaded ---------------------------------------------------------------------

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def loaded(self) -> list[str]:
        """Loaded names, least recently used first."""
        with self._lock:
            return list(self._loaded)

    @property
    def memory_used(self) -> int:
        """What the loaded models count against the budget, in bytes."""
        return self._used

    def memory_of(self, name: str) -> int | None:
        """What loaded ``name`` counts against the budget; None if it is not loaded."""
        return self._memory.get(name)

    def fits(self, size: int) -> bool:
        """Could a model of ``size`` bytes be loaded at all (alone)?"""
        return not self.memory_budget or size <= self.memory_budget

    def peek(self, name: str) -> ModelHandler | None:
        """The loaded handler, marked as just used; None if not loaded (never blocks long)."""
        with self._lock:
            handler = self._loaded.get(name)
            if handler is not None:
                self._loaded.move_to_end(name)
            return handler

    def get(self, name: str) -> ModelHandler:
        """The handler of a registered model, loading it on first use."""
        handler = self.peek(name)
        return handler if handler is not None else self.load(name)

    def load(self, name: str) -> ModelHandler:
        """Load a registered model (once, however many threads ask at the same time)."""
        with self._lock:
            handler = self._loaded.get(name)
            if handler is not None:
                self._loaded.move_to_end(name)
                return handler
            future = self._loading.get(name)
            registration = self._known.get(name)
            if future is None:
                if registration is None:
                    raise ModelNotFoundError(f"no model named {name!r} is registered here")
                future = self._loading[name] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            return future.result()
        try:
            handler = self._load(name, registration)
        except BaseException as exc:
            with self._lock:
                self._loading.pop(name, None)
            future.set_exception(exc)
            raise
        future.set_result(handler)
        return handler

    def _load(self, name: str, registration: _Registration) -> ModelHandler:
        load = functools.partial(self.loader, name, registration.url)
        # Without a budget nothing depends on the number: loads need not wait for each other.
        handler, growth = measured_load(load) if self.memory_budget else (load(), None)
        try:
            counted = footprint(handler, growth)
            if not self.fits(counted.size):
                raise ModelTooLargeError(
                    _too_large(name, counted.size, self.memory_budget, counted.basis)
                )
        except BaseException as exc:
            # The error's traceback holds frames that hold the model; it must not outlive us.
            traceback.clear_frames(exc.__traceback__)  # the finished frames below this one
            self._dropped([(name, handler)])
            del handler  # and this one's
            free_unused_memory()
            raise
        with self._lock:
            self._loading.pop(name, None)
            if self._known.get(name) is not registration:
                dropped = [(name, handler)]
                gone = True
            else:
                self._loaded[name] = handler
                self._memory[name] = counted.size
                self._used += counted.size
                dropped = self._evict(keep=name)
                gone = False
        self._dropped(dropped)
        if gone:
            raise ModelNotFoundError(f"model {name!r} was unregistered while it loaded")
        return handler

    def unload(self, name: str) -> bool:
        """Unload ``name`` but keep it registered; False if it was not loaded."""
        with self._lock:
            dropped = self._pop(name)
        self._dropped([(name, dropped)] if dropped else [])
        return dropped is not None

    def close(self) -> None:
        """Unload every model."""
        with self._lock:
            dropped = list(self._loaded.items())
            self._loaded.clear()
            self._memory.clear()
            self._used = 0
        self._dropped(dropped)

    # ---- internals (called with the lock held, except _dropped) -----------------------------

    def _pop(self, name: str) -> ModelHandler | None:
        handler = self._loaded.pop(name, None)
        if handler is not None:
            self._used -= self._memory.pop(name)
        return handler

    def _evict(self, keep: str) -> list[tuple[str, ModelHandler]]:
        dropped = []
        while len(self._loaded) > 1 and (
            (self.max_models and len(self._loaded) > self.max_models)
            or (self.memory_budget and self._used > self.memory_budget)
        ):
            oldest = next(iter(self._loaded))
            if oldest == keep:  # only possible if keep is the last one left
                break
            dropped.append((oldest, self._pop(oldest)))
        return dropped

    def _dropped(self, dropped: list[tuple[str, ModelHandler]]) -> None:
        if self.on_unload is None:
            return
        for name, handler in dropped:
            try:
                self.on_unload(name, handler)
            except Exception:  # an unload hook must not break serving the other models
                log.exception("unloading %s failed", name)


def _too_large(name: str, size: int, budget: int, basis: str) -> str:
    return (
        f"model {name!r} takes {size} bytes once loaded ({basis}), more than the endpoint's "
        f"whole memory budget of {budget} bytes; it was unloaded"
    )
