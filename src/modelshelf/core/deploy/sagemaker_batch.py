"""A batch of requests to a SageMaker inference script: one ``predict_fn`` for them all.

Each request is decoded by its own ``input_fn`` (a body that does not decode fails alone)
and encoded by its own ``output_fn`` with its own Accept. In between, where the decoded
inputs allow it (numpy arrays of the same trailing shape and kind, as CSV, NPY and JSON
arrays decode), they are stacked into one array, ``predict_fn`` runs once, and its output
is split back by row count. Otherwise, or when the prediction does not have one row per
input row, each request is predicted on its own, still within the one call. A script with
``transform_fn`` owns the whole request, so each request is answered by it alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelshelf.core.deploy.invocation import Answer, Invocation

if TYPE_CHECKING:
    from modelshelf.core.deploy.sagemaker_script import InferenceScript


def answer_batch(
    script: InferenceScript, model: Any, invocations: list[Invocation]
) -> list[Answer | Exception]:
    """One answer (or the exception its request failed with) per invocation, in order."""
    if "transform_fn" in script.steps or len(invocations) == 1:
        return [_answer_one(script, model, invocation) for invocation in invocations]
    results: list[Answer | Exception | None] = [None] * len(invocations)
    decoded: dict[int, tuple[Any, Any]] = {}  # index -> (its context, its input_fn's data)
    for i, invocation in enumerate(invocations):
        outcome = script.decode(invocation)
        if isinstance(outcome, (Answer, Exception)):
            results[i] = outcome  # refused or failed: this request alone
        else:
            decoded[i] = outcome
    predictions = _predict_together(script, model, [data for _, data in decoded.values()])
    for (i, (context, data)), prediction in zip(decoded.items(), predictions, strict=True):
        if prediction is _APART:
            results[i] = script.finish(context, invocations[i], model, data=data)
        else:
            results[i] = script.finish(context, invocations[i], model, prediction=prediction)
    return [result for result in results if result is not None]


_APART = object()  # this input is predicted on its own


def _answer_one(script: InferenceScript, model: Any, invocation: Invocation) -> Answer | Exception:
    try:
        return script.answer(model, invocation)
    except Exception as exc:
        return exc


def _predict_together(script: InferenceScript, model: Any, inputs: list[Any]) -> list[Any]:
    """The predictions of ``inputs`` from one ``predict_fn`` call when they stack; else
    ``_APART`` for each (predicted on its own by :meth:`InferenceScript.finish`)."""
    lengths = _stackable(inputs)
    if lengths is None:
        return [_APART] * len(inputs)
    import numpy as np

    try:
        prediction = script.predict_stacked(np.concatenate(inputs), model)
    except Exception:
        return [_APART] * len(inputs)  # each alone, to fail (or not) on its own
    if not hasattr(prediction, "__len__") or len(prediction) != sum(lengths):
        return [_APART] * len(inputs)
    out, at = [], 0
    for length in lengths:
        out.append(prediction[at : at + length])
        at += length
    return out


def _stackable(inputs: list[Any]) -> list[int] | None:
    """Each input's row count when they all are numpy arrays that stack, else None."""
    if len(inputs) < 2:
        return None
    try:
        import numpy as np
    except ImportError:
        return None
    first = inputs[0]
    if not all(isinstance(x, np.ndarray) and x.ndim >= 1 for x in inputs):
        return None
    if any(x.shape[1:] != first.shape[1:] or x.dtype.kind != first.dtype.kind for x in inputs):
        return None
    return [len(x) for x in inputs]
