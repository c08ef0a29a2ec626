"""Where a multi-model endpoint's models come from, into a :class:`ModelCache`: the store
(each loaded version copied out and leased, so it cannot be deleted from under the endpoint),
a model-data prefix, or a local model folder.

A local folder is what SageMaker hands a multi-model container: ``POST /models`` with
``"url": "/opt/ml/models/<id>/model"``, where it extracted the model's archive. It must lie
under one of the endpoint's ``model_roots`` once its symlinks and ``..`` are resolved
(:func:`~modelshelf.core.sources.roots.path_under_roots`, the rule for every local path a
client names), and is served in place: loading reads it, nothing writes into it, and
unloading leaves it as it was.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelshelf.core.deploy.adaptive_caller import AdaptiveCaller
from modelshelf.core.deploy.handler_service import HandlerSpec
from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.mms_frontend import not_found_message
from modelshelf.core.deploy.model_cache import OWNER, ModelCache
from modelshelf.core.deploy.model_data import ModelData, folder_name
from modelshelf.core.deploy.model_handler import ModelHandler, folder_size
from modelshelf.core.errors import ModelNotFoundError, ModelTooLargeError
from modelshelf.core.names import parse_ref
from modelshelf.core.renewal import Renewal, Renewer
from modelshelf.core.sources.roots import FILE_URL, path_under_roots

if TYPE_CHECKING:
    from modelshelf.core.store import Lease, Shelf

log = logging.getLogger("modelshelf.serve")

# Where SageMaker puts the models it hands a container: /opt/ml/model (one model, or the
# folder mounted in the containers' own tests) and /opt/ml/models (a multi-model endpoint's).
DEFAULT_MODEL_ROOTS = ("/opt/ml/model", "/opt/ml/models")


def is_local(url: str) -> bool:
    """Whether a model URL names a local folder (an absolute path or a ``file://`` URL);
    anything else is a store ref or a model-data key."""
    return url.startswith("/") or url.lower().startswith(FILE_URL)


class StoreModels:
    """A multi-model endpoint's models from the store (or ``model_data``): load, lease, renew."""

    def __init__(
        self,
        shelf: Shelf,
        *,
        max_models: int,
        memory_budget: int,
        models_dir: str | None,
        lease_ttl: float,
        handler: HandlerSpec | None = None,
        model_data: ModelData | None = None,
        check_requirements: bool = False,
        model_roots: Sequence[str] = DEFAULT_MODEL_ROOTS,
        code_dir: str | None = None,
    ) -> None:
        self.shelf = shelf
        self.check_requirements = check_requirements
        self.model_data = model_data
        self.model_roots = list(model_roots)
        self.service = handler  # one handler service serves every model, when given
        self.code_dir = code_dir  # else the submit directory's script, for folders without
        self.lease_ttl = lease_ttl
        self.own_dir = models_dir is None
        self.models_dir = models_dir or tempfile.mkdtemp(prefix="modelshelf-mme-")
        os.makedirs(self.models_dir, exist_ok=True)
        self.cache = ModelCache(
            self._load,
            max_models=max_models,
            memory_budget=memory_budget,
            on_unload=self._unloaded,
        )
        self.versions: dict[str, str] = {}
        self.runners: dict[str, AdaptiveCaller] = {}
        # By id(handler), as a name may be reloading: each loaded copy's lease and its renewal.
        self._leases: dict[int, tuple[Lease, Renewal]] = {}
        self._lock = threading.Lock()
        self._renewer = Renewer(lease_ttl / 3, name="lease renewal")

    def _load(self, name: str, url: str) -> ModelHandler:
        if self.model_data and (key := self.model_data.key_of(url)) is not None:
            return self.model_data.load(
                key, self.service, self._unload_a_key, self.code_dir,
                check_requirements=self.check_requirements,
            )  # fmt: skip
        if is_local(url):
            return self._load_folder(name, url)
        version = self.shelf.show(url)
        self._check_fits(name, version.ref, version.size)  # before copying it, not after
        lease = self.shelf.lease(version.ref, OWNER, self.lease_ttl)
        dest = os.path.join(self.models_dir, f"{folder_name(name)}-{uuid.uuid4().hex[:8]}")
        try:
            self.shelf.load(version.ref, dest)
            handler = load_handler(
                dest, version.name, self.service, self.code_dir,
                check_requirements=self.check_requirements,
            )  # fmt: skip
        except BaseException:
            self._release(lease)
            shutil.rmtree(dest, ignore_errors=True)
            raise
        renewal = self.shelf.leases.keep_renewed(self._renewer, lease, self.lease_ttl)
        with self._lock:
            self._leases[id(handler)] = (lease, renewal)
            self.versions[name] = str(version.version)
        return handler

    def _load_folder(self, name: str, url: str) -> ModelHandler:
        """Load the local folder ``url`` names, in place, if it is under a model root."""
        folder = path_under_roots(
            url,
            self.model_roots,
            what="model url",
            reader="this endpoint",
            widen="deploy with model_roots=[...] (--model-root DIR) to allow another folder",
        )
        if not os.path.exists(folder):
            raise ModelNotFoundError(f"Model not found in model store: {url}")  # MMS's words
        if not os.path.isdir(folder):
            raise ModelNotFoundError(f"{url} is a file: name the folder holding the model")
        self._check_fits(name, url, folder_size(folder))
        handler = load_handler(
            folder, name, self.service, self.code_dir, check_requirements=self.check_requirements
        )
        with self._lock:
            self.versions.pop(name, None)  # a folder has no version
        return handler

    def _check_fits(self, name: str, source: str, size: int) -> None:
        if not self.cache.fits(size):
            raise ModelTooLargeError(
                f"model {name!r} ({source}) needs {size} bytes, more than the endpoint's "
                f"whole memory budget of {self.cache.memory_budget} bytes"
            )

    def _unload_a_key(self) -> bool:
        """Unload the least recently used model loaded from model data; False if none is."""
        urls, data = self.cache.registered(), self.model_data
        keyed = [n for n in self.cache.loaded() if data and data.key_of(urls.get(n, ""))]
        return bool(keyed) and self.cache.unload(keyed[0])

    def _unloaded(self, name: str, handler: ModelHandler) -> None:
        self.runners.pop(name, None)
        handler.close()
        if self.model_data is not None and self.model_data.unloaded(handler):
            return  # its folder stays in the disk cache, evicted once unused
        with self._lock:
            held = self._leases.pop(id(handler), None)
        if held is None:
            return  # a local folder, served in place: it stays as it is
        lease, renewal = held
        self._renewer.discard(renewal)  # waits for a renewal of it in flight
        self._release(lease)
        shutil.rmtree(handler.model_dir, ignore_errors=True)  # the copy made for it

    def _release(self, lease: Lease) -> None:
        try:
            self.shelf.leases.release(lease)
        except Exception:  # it expires by itself; serving goes on
            log.warning("could not release the lease on %s", lease.ref, exc_info=True)

    def start_renewing(self) -> None:
        """Renew every loaded model's lease each ttl/3, in a thread, until :meth:`close`."""
        self._renewer.start()

    def close(self) -> None:
        self._renewer.stop()
        self.cache.close()
        if self.model_data is not None:
            self.model_data.close()
        if self.own_dir:
            shutil.rmtree(self.models_dir, ignore_errors=True)

    # ---- used by the routes -----------------------------------------------------------------

    def runner(self, name: str) -> AdaptiveCaller:
        """How to call ``name``'s predict (inline or in the threadpool), kept per name."""
        return self.runners.get(name) or self.runners.setdefault(name, AdaptiveCaller())

    def load_new(self, name: str, url: str) -> ModelHandler:
        """Register and load; a model that fails to load is not left registered."""
        before = self.cache.url(name)
        self.cache.register(name, url)
        try:
            return self.cache.load(name)
        except BaseException:
            if before != url:
                self.cache.unregister(name)
            raise

    def handler(self, target: str, *, auto: bool) -> ModelHandler:
        """A model by name; with ``auto``, an unregistered target is a model-data key or a ref."""
        if target in self.cache:
            return self.cache.get(target)
        if not auto:
            raise ModelNotFoundError(not_found_message(target))
        if self.model_data and (key := self.model_data.key(target)) is not None:
            return self.load_new(target, self.model_data.url_of(key))
        parse_ref(target)  # a bad target is a 400, not a failed load
        return self.load_new(target, target)

    def describe(self, name: str) -> dict[str, str]:
        return {"modelName": name, "modelUrl": self.cache.url(name) or ""}
