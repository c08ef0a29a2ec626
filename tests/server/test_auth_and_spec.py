"""Every handler needs authentication and authorization, and the OpenAPI description lists
exactly the routes the code serves. These checks are what CI runs to keep both true."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate
from tornado.httpclient import HTTPClientError

import modelshelf.server
from modelshelf.server import schemas
from modelshelf.server.app import ROUTES

SERVER = Path(modelshelf.server.__file__).parent
VERBS = ("get", "post", "put", "delete", "patch", "head", "options")
SPEC = yaml.safe_load((SERVER / "openapi.yaml").read_text())


def _template(pattern: str) -> str:
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)


def _served() -> dict[str, set[str]]:
    served: dict[str, set[str]] = {}
    for pattern, handler in ROUTES:
        verbs = {v for v in VERBS if v in vars(handler)}
        served[_template(pattern)] = verbs
    return served


def test_the_openapi_description_is_valid():
    validate(SPEC)


def test_every_route_in_the_code_is_in_the_spec_and_the_other_way_round():
    documented = {
        path: {verb for verb in item if verb in VERBS} for path, item in SPEC["paths"].items()
    }
    assert _served() == documented


def _decorators(function: ast.AsyncFunctionDef | ast.FunctionDef) -> set[str]:
    names = set()
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.add(target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", ""))
    return names


def _is_handler(node: ast.ClassDef) -> bool:
    bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
    return any(base.endswith("Handler") for base in bases)


def test_every_handler_verb_is_authenticated_and_authorized():
    missing = []
    for module in sorted(SERVER.glob("*.py")):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or not _is_handler(node):
                continue
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in VERBS:
                    lacking = {"authenticated", "authorized"} - _decorators(item)
                    if lacking:
                        missing.append(f"{module.name}:{node.name}.{item.name} lacks {lacking}")
    assert not missing, "\n".join(missing)
    # And the check sees every routed handler (none is defined outside the package).
    for _, handler in ROUTES:
        assert Path(inspect.getfile(handler)).parent == SERVER


def _sample_url(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {"version": "1"}.get(m.group(1), "x"), template)


async def test_every_route_refuses_unauthenticated_requests(http_server_client, jp_base_url):
    for template, verbs in _served().items():
        for verb in verbs:
            url = f"{jp_base_url.rstrip('/')}/modelshelf/api{_sample_url(template)}"
            body = b"{}" if verb in ("post", "put", "patch") else None
            with pytest.raises(HTTPClientError) as refused:
                await http_server_client.fetch(
                    url, method=verb.upper(), body=body, headers={"Authorization": ""}
                )
            assert refused.value.code == 403, f"{verb.upper()} {template}"


@pytest.mark.parametrize("model", [*schemas.REQUESTS, *schemas.RESPONSES], ids=lambda m: m.__name__)
def test_the_spec_describes_each_body_as_the_server_validates_it(model):
    documented = SPEC["components"]["schemas"][model.__name__]
    assert set(documented["properties"]) == set(model.model_fields)
    if issubclass(model, schemas.Body):
        required = {name for name, field in model.model_fields.items() if field.is_required()}
        assert set(documented.get("required", [])) == required


def test_every_schema_in_the_spec_is_a_body_of_the_server():
    models = {m.__name__ for m in (*schemas.REQUESTS, *schemas.RESPONSES)}
    assert set(SPEC["components"]["schemas"]) - models == {"Error", "InUse"}
