"""Inference scripts written as SageMaker users write them, for test_inference_script.py."""

from __future__ import annotations

# input_fn, predict_fn and output_fn: what input_fn was given comes back in the answer.
FOUR_FUNCTIONS = """\
import json
import os
import pickle


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.pkl"), "rb") as fh:
        return pickle.load(fh)


def input_fn(input_data, content_type):
    rows = json.loads(input_data)
    return {"rows": rows, "input_data": type(input_data).__name__, "content_type": content_type}


def predict_fn(data, model):
    if data["rows"] == "fail":
        raise ValueError("the model refuses 'fail'")
    return dict(data, rows=None, predictions=model.predict(data["rows"]).tolist())


def output_fn(prediction, accept):
    if accept == "text/plain":
        return json.dumps(prediction["predictions"])
    return json.dumps(prediction), "application/vnd.modelshelf.result+json"
"""

# Only model_fn and predict_fn: input_fn and output_fn are the toolkit's defaults.
DEFAULTS = """\
import os
import pickle

import numpy


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.pkl"), "rb") as fh:
        return pickle.load(fh)


def predict_fn(data, model):
    if not isinstance(data, numpy.ndarray):
        raise TypeError(f"the default input_fn should give an array, not {type(data)}")
    return model.predict(data)
"""

TRANSFORM = """\
import json


def model_fn(model_dir):
    return {"scale": 10}


def transform_fn(model, input_data, content_type, accept):
    if content_type == "application/octet-stream":
        return input_data[::-1]
    answer = {
        "input_data": type(input_data).__name__,
        "text": input_data,
        "content_type": content_type,
        "accept": accept,
        "model": model,
    }
    return json.dumps(answer), "application/json"
"""

TRANSFORM_AND_PREDICT = """\
def model_fn(model_dir):
    return None


def transform_fn(model, input_data, content_type, accept):
    return input_data


def predict_fn(data, model):
    return data
"""

# Every function takes context (predict_fn's has a default: it still counts), and a module
# imported from code/ says which model's folder it came from.
CONTEXT = """\
import json

import helpers


def model_fn(model_dir, context):
    model_dir_seen = context.system_properties["model_dir"]
    return {"model_dir": model_dir_seen, "same": model_dir_seen == model_dir}


def input_fn(input_data, content_type, context):
    attributes = context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes")
    return {"rows": json.loads(input_data), "attributes": attributes}


def predict_fn(data, model, context=None):
    return {
        "rows": data["rows"],
        "attributes": data["attributes"],
        "who": helpers.WHO,
        "model_dir": model["model_dir"],
        "model_fn_had_model_dir": model["same"],
        "predict_fn_had_context": context is not None,
    }


def output_fn(prediction, accept, context):
    return json.dumps(prediction), accept
"""
