"""One strict naming rule, tested against the path tricks behind MLflow's traversal CVEs."""

from __future__ import annotations

import pytest

from modelshelf import InvalidNameError
from modelshelf.core.names import Ref, parse_ref, validate_alias, validate_name, validate_relpath

TRAVERSAL = [
    "..",
    "../x",
    "..\\x",
    "a/../../b",
    "/etc/passwd",
    "C:\\Windows",
    "c:/x",
    "%2e%2e",
    "%2e%2e%2fetc",
    "%252e%252e",
    "..%2f",
    "a#b",
    "a;b",
    "file:///etc",
    "s3://bucket/x",
    "a\x00b",
    "a\nb",
    "",
    " ",
]


@pytest.mark.parametrize("bad", TRAVERSAL)
def test_model_names_refuse_traversal(bad):
    with pytest.raises(InvalidNameError):
        validate_name(bad)


@pytest.mark.parametrize(
    "bad",
    [p for p in TRAVERSAL if "%" not in p and p not in ("a#b", "a;b", " ")],
)
def test_relpaths_refuse_traversal(bad):
    with pytest.raises(InvalidNameError):
        validate_relpath(bad)


@pytest.mark.parametrize(
    "good", ["churn", "Job - nightly train", "Job - x Worker 2", "resnet50_v1.5", "a-b", "A"]
)
def test_good_names(good):
    assert validate_name(good) == good


@pytest.mark.parametrize("good", ["model.pkl", "sub/dir/file.bin", "ümlaut.txt", "a b/c d"])
def test_good_relpaths(good):
    assert validate_relpath(good) == good


def test_refs_parse():
    assert parse_ref("m") == Ref("m")
    assert parse_ref("m:3") == Ref("m", version=3)
    assert parse_ref("m:latest") == Ref("m")
    assert parse_ref("Job - x@production") == Ref("Job - x", alias="production")
    assert str(parse_ref("m:3")) == "m:3" and str(parse_ref("m@prod")) == "m@prod"


@pytest.mark.parametrize("bad", ["m:0", "m:-1", "m:x", "m@", "@prod", "m@latest", ":3", "m:1.5"])
def test_bad_refs(bad):
    with pytest.raises(InvalidNameError):
        parse_ref(bad)


def test_alias_rule():
    assert validate_alias("production") == "production"
    with pytest.raises(InvalidNameError, match="reserved"):
        validate_alias("latest")
    with pytest.raises(InvalidNameError):
        validate_alias("1st")
