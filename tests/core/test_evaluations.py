"""Evaluation records: scores kept beside immutable versions, on every backend."""

from __future__ import annotations

import pytest
from store_helpers import make_model

from modelshelf import ModelNotFoundError
from modelshelf.core.errors import EvaluationError
from modelshelf.core.jsonable import to_jsonable
from modelshelf.core.names import parse_ref
from modelshelf.core.store import layout
from modelshelf.core.store.deletion import delete_version


def _saved(shelf, tmp_path, name="clf"):
    return shelf.save(name, make_model(tmp_path / name, {"model.json": '{"w": 1}'}))


def test_scores_are_kept_beside_the_version_which_stays_unchanged(shelf, tmp_path):
    version = _saved(shelf, tmp_path)
    manifest = shelf.backend.read_bytes(layout.manifest_key("clf", 1))
    first = shelf.evaluate("clf:1", 0.75, data="/data/eval", data_hash="ab" * 32, job="j1")
    second = shelf.evaluate("clf", 0.9, pipeline="full")
    assert shelf.backend.read_bytes(layout.manifest_key("clf", 1)) == manifest
    assert shelf.evaluations(version.ref) == [first, second]
    assert first.created <= second.created

    shown = shelf.show("clf:1", evaluations=True)
    body = to_jsonable(shown)
    assert body["evaluations"] == [
        {"score": 0.75, "data": "/data/eval", "data_hash": "ab" * 32,
         "created": first.created, "job": "j1", "pipeline": "evaluate"},
        {"score": 0.9, "data": None, "data_hash": None,
         "created": second.created, "job": None, "pipeline": "full"},
    ]  # fmt: skip
    text = shown.card().text()
    assert "evaluations (2)" in text and "0.75" in text and "/data/eval" in text
    # Read without them (what serving and loading do), a version lists none.
    assert shelf.show("clf:1").evaluations == ()
    assert to_jsonable(shelf.show("clf:1"))["evaluations"] == []


def test_a_score_must_be_a_finite_number_of_a_known_pipeline(shelf, tmp_path):
    _saved(shelf, tmp_path)
    for bad in ("high", None, True, float("nan"), float("inf")):
        with pytest.raises(EvaluationError, match="must be a"):
            shelf.evaluate("clf:1", bad)
    with pytest.raises(EvaluationError, match="unknown pipeline 'train'"):
        shelf.evaluate("clf:1", 0.5, pipeline="train")
    with pytest.raises(ModelNotFoundError):
        shelf.evaluate("clf:2", 0.5)
    assert shelf.evaluations("clf:1") == []


def test_deleting_a_version_removes_its_evaluations_and_none_revives_it(shelf, tmp_path):
    _saved(shelf, tmp_path)
    _saved(shelf, tmp_path)
    shelf.evaluate("clf:1", 0.5)
    shelf.evaluate("clf:2", 0.6)
    shelf.delete("clf:1")
    assert shelf.backend.list(layout.evaluation_dir("clf", 1)) == []
    with pytest.raises(ModelNotFoundError):
        shelf.evaluate("clf:1", 0.7)
    assert shelf.backend.list(layout.evaluation_dir("clf", 1)) == []
    with pytest.raises(ModelNotFoundError):
        shelf.evaluations("clf:1")
    assert [e.score for e in shelf.evaluations("clf:2")] == [0.6]


def test_gc_sweeps_evaluations_a_crash_left_behind_a_deleted_version(shelf, tmp_path):
    _saved(shelf, tmp_path)
    _saved(shelf, tmp_path)
    shelf.evaluate("clf:1", 0.5)
    shelf.evaluate("clf:2", 0.6)
    # A delete that died after removing the manifest, before removing the evaluations.
    delete_version(shelf.catalog, shelf.leases, parse_ref("clf:1"))
    assert len(shelf.backend.list(layout.evaluation_dir("clf", 1))) == 1
    assert shelf.gc(dry_run=True).removed_evaluations == 1
    assert len(shelf.backend.list(layout.evaluation_dir("clf", 1))) == 1
    assert shelf.gc().removed_evaluations == 1
    assert shelf.backend.list(layout.evaluation_dir("clf", 1)) == []
    assert [e.score for e in shelf.evaluations("clf:2")] == [0.6]
    assert shelf.gc().removed_evaluations == 0
