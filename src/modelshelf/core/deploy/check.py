"""Try a model's serving code in-process, without a server, before deploying it."""

from __future__ import annotations

import json
import tempfile
from typing import Any

from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.payloads import decode
from modelshelf.core.store import Shelf


def test_handler(
    shelf: Shelf, ref: str, payload: Any, content_type: str = "application/json"
) -> Any:
    """Load the model ``ref`` and run ``predict`` on ``payload``; return the prediction.

    ``payload`` is bytes (sent as ``content_type``) or any JSON-able value. The model's
    own errors raise :class:`~modelshelf.core.errors.ServingError`, whose
    ``user_traceback`` shows the failing line of ``serve.py``.
    """
    version = shelf.show(ref)
    body = payload if isinstance(payload, (bytes, bytearray)) else json.dumps(payload).encode()
    with tempfile.TemporaryDirectory(prefix="modelshelf-check-") as folder:
        shelf.load(version.ref, folder)
        handler = load_handler(folder, version.name)
        return handler.predict(decode(bytes(body), content_type))


test_handler.__test__ = False  # not a pytest test, whatever its name
