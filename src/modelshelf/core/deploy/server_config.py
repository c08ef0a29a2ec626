"""A deployment's server process: the config file it is told everything in (built from the
deployment's record and options; serve.py reads it in every worker), its start, and why it
died when it did."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from modelshelf.core.deploy.deployment_book import DeploymentBook, DeploymentRecord
from modelshelf.core.deploy.server_options import ServerOptions
from modelshelf.core.deploy.submit_directory import prepare_submit_directory, submit_directory
from modelshelf.core.errors import DeploymentError
from modelshelf.core.processes import launch_detached
from modelshelf.core.sizes import parse_size
from modelshelf.core.store import Lease, ModelVersion, Shelf
from modelshelf.core.store.expiring import HOST

if TYPE_CHECKING:
    from modelshelf.core.deploy.manager import DeploymentManager


def server_config(
    manager: DeploymentManager,
    record: DeploymentRecord,
    versions: list[ModelVersion],
    port: int,
    leases: list[Lease],
    options: ServerOptions,
) -> dict[str, Any]:
    """The config file of ``record``'s server process (its folder made afresh, the served
    version copied into it once for every worker)."""
    shelf = manager.shelf
    shutil.rmtree(record.folder, ignore_errors=True)
    os.makedirs(record.folder)
    max_body = options.max_body if options.max_body is not None else manager.max_body
    config: dict[str, Any] = {
        "mode": record.mode,
        "name": record.name,
        "host": manager.host,
        "port": port,
        "workers": record.workers,
        "scaling": options.scaling.to_config(),  # see supervisor.py
        "token": options.token,
        "max_body": parse_size(max_body),
        "root": shelf.backend.url,
        "storage_options": shelf.storage_options or {},
        "leases": [asdict(lease) for lease in leases],
        "handler": asdict(options.handler) if options.handler else None,
        "batch_size": options.batching.batch_size,
        "max_batch_delay": options.batching.max_batch_delay,
        "stats_dir": os.path.join(record.folder, "stats"),  # see serving_stats.py
        "code_dir": _submit_directory(shelf, record, options.env),
    }
    if record.mode == "multi":
        config["models_dir"] = os.path.join(record.folder, "models")
        config["max_models"] = options.max_models
        config["memory_budget"] = parse_size(options.memory_budget)
        config["model_data"] = options.model_data
        config["model_roots"] = list(options.model_roots)
    else:
        # Copied once here, not by each worker process; verified against the store.
        version = versions[0]
        config["model_dir"] = shelf.load(version.ref, os.path.join(record.folder, "model"))
        config["model_name"] = version.name
        config["version"] = str(version.version)
    if record.mode == "async":
        config["queue_db"] = os.path.join(record.folder, "queue.sqlite")
        output = options.output_location or os.path.join(record.folder, "outputs")
        config["output_location"] = output
    return config


def _submit_directory(shelf: Shelf, record: DeploymentRecord, env: dict[str, str]) -> str | None:
    """The folder the endpoint's code is imported from, prepared once for every worker:
    ``SAGEMAKER_SUBMIT_DIRECTORY`` as the server process will see it, if set."""
    source = submit_directory({**os.environ, **env})
    if source is None:
        return None
    dest = os.path.join(record.folder, "code")
    return prepare_submit_directory(source, dest, storage_options_for(shelf, source))


def storage_options_for(
    shelf: Shelf, url: str, given: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``given``, else the store's options when ``url`` is on the store's kind of storage."""
    if given is not None:
        return given
    same = url.split("://")[0] == shelf.backend.url.split("://")[0]
    return dict(shelf.storage_options or {}) if same and "://" in url else {}


def model_data_config(
    shelf: Shelf, url: str, options: dict[str, Any] | None, cache: int | str
) -> dict[str, Any]:
    """The server config's ``model_data``, checked: the prefix must hold something."""
    import fsspec

    if "://" not in url and "::" not in url:
        url = os.path.abspath(os.path.expanduser(url))
    options = storage_options_for(shelf, url, options)
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
        found = fs.isdir(path)
    except Exception as exc:
        raise DeploymentError(f"cannot read model data {url}: {exc}") from exc
    if not found:
        raise DeploymentError(f"model data {url} is not a folder or a prefix holding objects")
    return {"url": url, "storage_options": options, "cache_bytes": parse_size(cache)}


def launch_server(
    book: DeploymentBook,
    record: DeploymentRecord,
    config: dict[str, Any],
    env: dict[str, str],
    python: str = sys.executable,
) -> None:
    """Write the server's config (private: it may hold secrets) and start the server
    process detached, in a session of its own; its pid goes into the record."""
    config_path = os.path.join(record.folder, "config.json")
    with open(config_path, "w") as fh:
        json.dump(config, fh)
    os.chmod(config_path, 0o600)  # it may hold the bearer token and storage options
    server = [python, "-m", "modelshelf.core.deploy.serve", config_path]
    environment = {**os.environ, **env} if env else None
    pid = launch_detached(server, os.path.join(record.folder, "server.log"), environment)
    book.update(record.name, pid=pid, host=HOST)


def died(log_path: str) -> str:
    """Why a server process died, in one line: the last line of its log that tells of an
    error (uvicorn's "ERROR: [Errno 98] ... address already in use", the last line of a
    Python traceback), else its last line, and where the log is. No traceback: a process's
    own is of modelshelf's code; the user's code fails in a thread that reports its own
    traceback through the health check."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 8192))  # a long-lived log is big
            lines = [line.strip() for line in fh.read().decode(errors="replace").splitlines()]
    except FileNotFoundError:
        lines = []
    lines = [line for line in lines if line]
    errors = [line for line in lines if "error" in line.lower() or "exception" in line.lower()]
    why = next(reversed(errors or lines), None)
    return f"the server process died{f': {why}' if why else ''} (its log: {log_path})"
