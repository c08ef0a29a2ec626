"""The model bench/handlers.py serves: a pure-Python linear model, as a folder's serve.py and
as an MMS-shaped model_handler.py, with the one request body every server gets."""

from __future__ import annotations

import json
from pathlib import Path

from _common import MB, write_random

MODEL = "lr"  # the model's name everywhere: lr-params.json, MMS's model name, the store's
FEATURES = 8
ROWS = 4
WEIGHTS = [0.5 * (i + 1) for i in range(FEATURES)]
BIAS = 0.25
# Every target gets this body: ROWS rows of FEATURES numbers.
BODY = "".join(
    ",".join(f"{(r + 1) * 0.1 + c:.1f}" for c in range(FEATURES)) + "\n" for r in range(ROWS)
).encode()
CSV_HEADERS = {"Content-Type": "text/csv"}

# The one predict logic both forms run: a linear model of rows of numbers.
PREDICT = """
def predict_rows(params, rows):
    weights, bias = params["w"], params["b"]
    return [sum(w * x for w, x in zip(weights, row)) + bias for row in rows]
"""

# The folder's own serving code: modelshelf decodes the CSV into rows, encodes the answer.
SERVE_PY_SRC = f'''"""bench model: load(model_dir, params) and predict(model, rows)."""
{PREDICT}

def load(model_dir, params):
    return params


def predict(model, data):
    return predict_rows(model, data)
'''

# An MMS handler service as SageMaker's multi-model examples write them: a module-level
# singleton initialised on the first call, `<name>-params.json` read from model_dir, CSV
# bodies parsed by the handler, one JSON answer per request. With ``weights.bin`` in the
# model (the cold-load model), it reads it whole, as a model's weights are read.
HANDLER_SRC = f'''"""bench model_handler.py: MMS's handle(data, context) contract."""
import glob
import json
import os
import sys
import time
{PREDICT}

class ModelHandler:
    def __init__(self):
        self.initialized = False
        self.params = None

    def initialize(self, context):
        started = time.perf_counter()
        properties = context.system_properties
        model_dir = properties["model_dir"]
        path = os.path.join(model_dir, context.model_name + "-params.json")
        if not os.path.exists(path):  # a model saved under another name
            (path,) = glob.glob(os.path.join(model_dir, "*-params.json"))
        with open(path) as fh:
            self.params = json.load(fh)
        weights = os.path.join(model_dir, "weights.bin")
        if os.path.exists(weights):
            with open(weights, "rb") as fh:
                self.weights = fh.read()
        self.initialized = True
        seconds = time.perf_counter() - started
        print(f"model_handler: loaded in {{seconds:.6f}} s", file=sys.stderr, flush=True)

    def preprocess(self, request):
        return [
            [[float(x) for x in line.split(",")] for line in item.get("body").decode().splitlines()]
            for item in request
        ]

    def inference(self, batches):
        return [predict_rows(self.params, rows) for rows in batches]

    def handle(self, data, context):
        return self.inference(self.preprocess(data))


_service = ModelHandler()


def handle(data, context):
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
'''


def expected() -> list[float]:
    rows = [[float(x) for x in line.split(",")] for line in BODY.decode().splitlines()]
    return [sum(w * x for w, x in zip(WEIGHTS, r, strict=True)) + BIAS for r in rows]


def write_model(folder: Path, weights_mb: int = 0) -> Path:
    folder.mkdir(parents=True)
    params = {"name": MODEL, "w": WEIGHTS, "b": BIAS}
    (folder / f"{MODEL}-params.json").write_text(json.dumps(params))
    (folder / "serve.py").write_text(SERVE_PY_SRC)
    if weights_mb:
        write_random(folder / "weights.bin", weights_mb * MB)
    return folder


def check(name: str, body: bytes) -> None:
    """The right predictions, before any timing (to 1e-9)."""
    got = json.loads(body)
    want = expected()
    if len(got) != len(want) or any(abs(g - w) > 1e-9 for g, w in zip(got, want, strict=True)):
        raise SystemExit(f"{name} answered {body[:300]!r}, not {want}")
