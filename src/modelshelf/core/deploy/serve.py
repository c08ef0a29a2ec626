"""The server process of one deployment: ``python -m modelshelf.core.deploy.serve CONFIG``.

The deployment manager writes CONFIG (JSON) and starts this in a new session. One worker
serves in this process; more (a fixed number, or a range to scale in) run under the
supervisor (supervisor.py), each building its app with :func:`build_app` from the same
CONFIG. The main process also renews the deployment's store leases while it lives, so a
deployed version cannot be deleted, and a crashed server's leases simply expire.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

from modelshelf.core.deploy.http import CONFIG_ENV
from modelshelf.core.renewal import Renewer

LEASE_TTL = 300.0


def read_config(path: str | None = None) -> dict[str, Any]:
    with open(path or os.environ[CONFIG_ENV]) as fh:
        return json.load(fh)


def _shelf(config: dict[str, Any]):
    from modelshelf.core.store import Shelf

    return Shelf(config["root"], storage_options=config.get("storage_options") or None)


def _model_data(config: dict[str, Any]):
    """The deployment's model-data prefix with its disk cache beside the models, if any."""
    spec = config.get("model_data")
    if not spec:
        return None
    from modelshelf.core.deploy.model_data import ModelData

    return ModelData(
        spec["url"],
        cache_dir=os.path.join(config["models_dir"], "model-data"),
        cache_bytes=spec.get("cache_bytes", 0),
        storage_options=spec.get("storage_options") or None,
    )


def build_app() -> Any:
    """The ASGI app of this deployment (called by uvicorn in every worker process); under a
    supervisor, counted in the worker's slot."""
    from modelshelf.core.deploy.worker_slots import GaugedApp, this_worker

    config = read_config()
    worker = this_worker()
    app = _mode_app(config, load_first=worker is not None and not worker.eager)
    if worker is None:
        return app
    # It serves once its model is loaded (a multi-model endpoint's load on first use).
    service = getattr(app.state, "service", None)  # async
    model = getattr(app.state, "model", None) or getattr(service, "state", None)
    if model is not None:
        worker.app_ready = lambda: model.handler is not None
    return GaugedApp(app, worker)


def _mode_app(config: dict[str, Any], load_first: bool) -> Any:
    """The app of the deployment's mode; ``load_first``: the model loads before it serves."""
    from modelshelf.core.deploy.batching import BatchSettings
    from modelshelf.core.deploy.handler_service import HandlerSpec
    from modelshelf.core.deploy.http import ServingSettings
    from modelshelf.core.deploy.serving_stats import ServingStats

    settings = ServingSettings(token=config.get("token"), max_body=config["max_body"])
    handler = HandlerSpec(**config["handler"]) if config.get("handler") else None
    code_dir = config.get("code_dir")  # the submit directory, prepared by the manager
    mode = config["mode"]
    batching = BatchSettings(config.get("batch_size", 1), config.get("max_batch_delay", 0))
    stats = ServingStats(config.get("stats_dir"))
    if mode == "realtime":
        from modelshelf.core.deploy.realtime import create_realtime_app

        return create_realtime_app(
            config["model_dir"],
            config["model_name"],
            settings,
            version=config.get("version"),
            handler=handler,
            batching=batching,
            stats=stats,
            code_dir=code_dir,
            load_first=load_first,
        )
    if mode == "multi":
        from modelshelf.core.deploy.multimodel import create_multimodel_app

        return create_multimodel_app(
            _shelf(config),
            settings,
            max_models=config.get("max_models", 0),
            memory_budget=config.get("memory_budget", 0),
            models_dir=config["models_dir"],
            handler=handler,
            model_data=_model_data(config),
            check_requirements=config.get("check_requirements", False),
            model_roots=config.get("model_roots", []),
            code_dir=code_dir,
            batching=batching,
            stats=stats,
        )
    if mode == "async":
        from modelshelf.core.deploy.async_app import create_async_app

        return create_async_app(
            config["model_dir"],
            config["model_name"],
            settings,
            queue_db=config["queue_db"],
            output_location=config["output_location"],
            storage_options=config.get("storage_options") or None,
            handler=handler,
            code_dir=code_dir,
        )
    raise ValueError(f"unknown deployment mode {mode!r}")


def lease_renewer(config: dict[str, Any]) -> Renewer:
    """A renewer (not yet started) of the deployment's store leases, if it has any.

    The manager releases them when it stops the deployment, from another process: the
    renewal never brings a released lease back, it logs it as gone and lets it be.
    """
    from modelshelf.core.store import Lease

    renewer = Renewer(LEASE_TTL / 3, name="lease renewal")
    if config.get("leases"):
        book = _shelf(config).leases
        for lease in config["leases"]:
            book.keep_renewed(renewer, Lease(**lease), LEASE_TTL)
    return renewer


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from modelshelf.core.deploy.scaling import ScalingPolicy

    path = (argv if argv is not None else sys.argv[1:])[0]
    os.environ[CONFIG_ENV] = os.path.abspath(path)
    config = read_config(path)
    policy = ScalingPolicy.from_config(config)
    options = _uvicorn_options(config)
    with lease_renewer(config):
        if policy.workers.max == 1:
            uvicorn.run(APP, **options)
            return 0
        from modelshelf.core.deploy.supervisor import Supervisor

        server = uvicorn.Config(APP, workers=policy.workers.max, **options)
        return Supervisor(server, policy, os.path.dirname(os.path.abspath(path))).run()


APP = "modelshelf.core.deploy.serve:build_app"  # uvicorn's factory, imported by each worker


def _uvicorn_options(config: dict[str, Any]) -> dict[str, Any]:
    """How uvicorn serves the deployment, one worker or several."""
    return {
        "factory": True,
        "host": config["host"],
        "port": config["port"],
        "log_level": "info",
        "log_config": _log_config(),
        "access_log": False,  # a line per request costs more than a tiny model's predict
        "ws": "none",
        "lifespan": "on",
        # Served on loopback to its own clients: no proxy in front whose X-Forwarded-*
        # headers need reading on every request.
        "proxy_headers": False,
        "timeout_graceful_shutdown": 5,
    }


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with modelshelf's own messages (model loads, the model-data
    cache's downloads and evictions) in the deployment's log at INFO, as uvicorn's are."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["modelshelf"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


if __name__ == "__main__":
    sys.exit(main())
