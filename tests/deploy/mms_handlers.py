"""Handler services written as users write them for Multi Model Server, SageMaker and
TorchServe, and the tiny models they serve (a plain module: ``from mms_handlers import``)."""

from __future__ import annotations

import json
from pathlib import Path

# The shape of SageMaker's multi-model examples: a module-level singleton initialised on
# the first call (MMS gives each model its own worker process), `<name>-params.json` read
# from model_dir, CSV in, JSON out. It imports a helper beside itself and the model's own
# code/featurize.py, and reports who it is, so a test can tell two models' copies apart.
MMS_HANDLER = """\
import json
import os

import handler_helpers

LOADS = []


class ModelHandler:
    def __init__(self):
        self.initialized = False
        self.params = None

    def initialize(self, context):
        properties = context.system_properties
        path = os.path.join(properties["model_dir"], f"{context.model_name}-params.json")
        with open(path) as fh:
            self.params = json.load(fh)
        import featurize  # the model's own code/featurize.py

        self.factor = featurize.FACTOR
        self.properties = dict(properties)
        LOADS.append(context.model_name)
        self.initialized = True

    def preprocess(self, request):
        batches = []
        for item in request:
            text = item.get("body").decode("utf-8")
            batches.append([[float(x) for x in line.split(",")] for line in text.splitlines()])
        return batches

    def inference(self, batches):
        scale = self.params["scale"] * self.factor
        return [[sum(row) * scale for row in rows] for rows in batches]

    def postprocess(self, outputs, context):
        return [
            {
                "predictions": predictions,
                "model": self.params["name"],
                "service": id(self),
                "helpers": id(handler_helpers),
                "loads": list(LOADS),
                "pid": os.getpid(),
                "properties": self.properties,
                "greeting": os.environ.get("GREETING"),
                "accept": context.get_request_header(idx, "Accept"),
            }
            for idx, predictions in enumerate(outputs)
        ]

    def handle(self, data, context):
        return self.postprocess(self.inference(self.preprocess(data)), context)


_service = ModelHandler()


def handle(data, context):
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
"""

HELPERS = "NAME = 'handler helpers'\n"

# MMS's other form: no handle function, the module's one class.
CLASS_HANDLER = """\
import json
import os


class Scorer:
    def initialize(self, context):
        model_dir = context.system_properties["model_dir"]
        with open(os.path.join(model_dir, context.model_name + "-params.json")) as fh:
            self.params = json.load(fh)
        self.manifest = context.manifest

    def handle(self, data, context):
        headers = context.request_processor[0].get_request_properties()
        return [
            {
                "scale": self.params["scale"],
                "fields": {k: v.decode("latin-1") for k, v in sorted(item.items())},
                "types": {k: headers[k]["content-type"] for k in sorted(item)},
                "manifest": self.manifest,
            }
            for item in data
        ]
"""

# TorchServe's contract: initialize reads the manifest's serializedFile from model_dir;
# no handle of its own, so preprocess/inference/postprocess run as BaseHandler runs them.
TORCHSERVE_HANDLER = """\
import json
import os


class DotProduct:
    def __init__(self):
        self.initialized = False
        self.context = None

    def initialize(self, context):
        properties = context.system_properties
        self.manifest = context.manifest
        serialized = self.manifest["model"]["serializedFile"]
        with open(os.path.join(properties["model_dir"], serialized)) as fh:
            self.weights = json.load(fh)["w"]
        self.initialized = True

    def preprocess(self, data):
        return [json.loads(row.get("data") or row.get("body")) for row in data]

    def inference(self, rows):
        return [sum(w * x for w, x in zip(self.weights, row)) for row in rows]

    def postprocess(self, outputs):
        file = self.manifest["model"]["serializedFile"]
        return [{"score": o, "file": file, "model": self.context.model_name} for o in outputs]
"""

# Fails as asked by the request body, the way handlers fail.
FAILING_HANDLER = """\
class PredictionException(Exception):
    def __init__(self, message, error_code=500):
        self.message = message
        self.error_code = error_code
        super().__init__(message)

    def __str__(self):
        return f"{self.message} : {self.error_code}"


def handle(data, context):
    if data is None:
        return None
    what = data[0]["body"].decode()
    if what == "out-of-range":
        raise PredictionException("the input is out of range", 422)
    if what == "memory":
        raise MemoryError("the batch does not fit")
    if what == "boom":
        raise ValueError("the model does not like it")
    if what == "short":
        return []
    if what == "dict":
        return {"answer": 1}
    if what == "object":
        return [object()]
    return ["fine"]
"""

# Decides its own answer: status, content type, headers; reads request headers.
RESPONDING_HANDLER = """\
def handle(data, context):
    if data is None:
        return None
    context.set_response_status(201, "Created", 0)
    context.set_response_content_type(0, "text/csv")
    context.set_response_header(0, "X-Model-Name", context.model_name)
    accept = context.get_request_header(0, "Accept")
    attributes = context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes")
    body_type = context.get_request_header(0, "body")["content-type"]
    return [",".join([accept, attributes, body_type, context.get_request_id(0)])]
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    """``folder`` holding ``files`` (paths relative to it)."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def params_model(root: Path, name: str, scale: float, factor: float) -> Path:
    """A model in SageMaker's multi-model shape: ``<name>-params.json``, ``code/``."""
    return write(
        root / name,
        {
            f"{name}-params.json": json.dumps({"name": name, "scale": scale}),
            "code/featurize.py": f"FACTOR = {factor}\n",
            "weights.bin": "not really weights",
        },
    )
