"""Answers in the format the request's Accept asks for: JSON, CSV or NumPy's .npy."""

from __future__ import annotations

import io

import numpy as np
import pytest

from modelshelf.core.deploy.payloads import decode, encode, negotiate
from modelshelf.core.errors import NotAcceptableError, PayloadError

WRAPPED = decode(b'{"instances": [[3.0], [4.0]]}', "application/json")


@pytest.mark.parametrize("accept", [None, "", "*/*", "application/json", "application/*"])
def test_json_is_the_default_and_wrapped_rows_get_predictions(accept):
    assert encode([7.0, 9.0], WRAPPED, accept=accept) == (
        b'{"predictions": [7.0, 9.0]}',
        "application/json",
    )
    assert encode(np.array([1, 2]), accept=accept) == (b"[1, 2]", "application/json")


def test_csv_writes_a_line_per_row():
    assert encode(np.array([7.0, 9.0]), WRAPPED, accept="text/csv") == (b"7.0\n9.0\n", "text/csv")
    assert encode([[1, 2], [3, 4]], accept="text/csv")[0] == b"1,2\n3,4\n"
    assert encode(5, accept="text/csv")[0] == b"5\n"
    # Rows of objects (a DataFrame's records) get a header; a missing cell is empty.
    rows = [{"label": "a", "score": 0.5}, {"label": "b, c", "extra": 1}]
    assert encode(rows, accept="text/csv")[0] == b'label,score,extra\na,0.5,\n"b, c",,1\n'
    # What a CSV answer says reads back as the same numbers.
    body, media = encode(np.array([[1.5, 2.0], [3.0, 4.0]]), accept="text/csv")
    assert decode(body, media).data == [[1.5, 2.0], [3.0, 4.0]]


def test_npy_is_what_np_save_writes():
    body, media = encode(
        np.array([[1.5], [2.5]], dtype=np.float32), WRAPPED, accept="application/x-npy"
    )
    assert media == "application/x-npy"
    loaded = np.load(io.BytesIO(body), allow_pickle=False)
    assert loaded.dtype == np.float32 and loaded.tolist() == [[1.5], [2.5]]
    body, _ = encode([1, 2, 3], accept="application/x-npy")
    assert np.load(io.BytesIO(body)).tolist() == [1, 2, 3]
    labels = np.array(["cat", "dog"], dtype=object)  # as classifiers with text labels answer
    body, _ = encode(labels, accept="application/x-npy")
    assert np.load(io.BytesIO(body), allow_pickle=False).tolist() == ["cat", "dog"]


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("text/csv;q=0.5, application/x-npy", "application/x-npy"),
        ("application/x-npy;q=0, text/csv", "text/csv"),
        ("text/html, text/*;q=0.1", "text/csv"),
        ("TEXT/CSV; charset=utf-8", "text/csv"),
        ("text/html, application/json;q=0.9, text/csv;q=0.9", "application/json"),
        ("image/png, */*;q=0.1", "application/json"),
        ("text/csv;q=oops, application/json", "application/json"),
    ],
)
def test_the_most_wanted_format_is_chosen(accept, kind):
    assert negotiate(accept) == kind


@pytest.mark.parametrize("accept", ["text/html", "application/x-npy;q=0", "image/*, text/plain"])
def test_an_accept_allowing_none_of_them_is_not_acceptable(accept):
    with pytest.raises(
        NotAcceptableError, match=r"application/json .*text/csv or application/x-npy"
    ):
        encode([1.0], accept=accept)
    assert issubclass(NotAcceptableError, PayloadError)  # 400 where 406 is not mapped


def test_serving_code_that_answers_bytes_or_text_keeps_its_format():
    assert encode(b"\x89PNG", accept="text/csv") == (b"\x89PNG", "application/octet-stream")
    assert encode("<p>hi</p>", accept="text/html") == (b"<p>hi</p>", "text/plain; charset=utf-8")


@pytest.mark.parametrize(
    ("result", "accept", "problem"),
    [
        ([[1, 2], [3]], "application/x-npy", "not an array"),
        ([{"a": 1}], "application/x-npy", "holds objects"),
        ({"label": [1, 2]}, "text/csv", "not rows of values"),
        ([[[1, 2]], [[3, 4]]], "text/csv", "not rows of values"),
        ([{"a": 1}, [2]], "text/csv", "not rows of values"),
    ],
)
def test_a_result_the_format_cannot_carry_is_not_acceptable(result, accept, problem):
    with pytest.raises(NotAcceptableError, match=problem):
        encode(result, accept=accept)
