"""Smarkets' published OpenAPI document of the HTTP API v3, for checking what the embedded
exchange answers: `check_response` validates one response against the document's schema
for its operation and status.

The document is not part of the project: it is read from the folder beside the checkout
(``../shared/protocol/http-v3/openapi.json``), and the tests that need it are skipped with
`NO_DOCUMENT` as the reason where it is absent.

Three repairs are made to the copy read, each to a flaw of the copy rather than of a
response: its ``data`` fields are typed ``["string", "object"]``, which OpenAPI 3.0 does not
allow (each becomes an ``anyOf``); a field marked nullable whose enum or ``anyOf`` leaves
null out (an order's ``outcome``, an event state's ``scores``) lets null in; and the event
object requires ``description`` while its properties, stripped of prose, lost the property
of that name (it is put back, a nullable string).
"""

from __future__ import annotations

import copy
import functools
import json
import pathlib
import re
from typing import Any

TESTS = pathlib.Path(__file__).resolve().parent
DOCUMENT = TESTS.parent.parent / "shared" / "protocol" / "http-v3" / "openapi.json"
NO_DOCUMENT = f"Smarkets' OpenAPI document is not beside the checkout ({DOCUMENT})"

_METHODS = ("get", "post", "delete", "put", "patch")


def have_document() -> bool:
    """Whether the document is there to check against."""
    return DOCUMENT.is_file()


def _repair(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _repair(value) for key, value in node.items()}
        kinds = node.get("type")
        if isinstance(kinds, list):
            del node["type"]
            node["anyOf"] = [{"type": kind} for kind in kinds if kind != "null"]
            if "null" in kinds:
                node["nullable"] = True
        if node.get("nullable") is True:
            # Null is meant (the field is nullable) but an enum or a choice of shapes
            # leaves it out: it is let in explicitly.
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
            for choice in ("anyOf", "oneOf"):
                if choice in node:
                    node[choice] = [*node[choice], {"enum": [None]}]
        return node
    if isinstance(node, list):
        return [_repair(item) for item in node]
    return node


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The document, repaired (see the module docstring). Do not change it."""
    raw = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    repaired: dict[str, Any] = _repair(raw)
    event = repaired["paths"]["/v3/events/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    event["properties"]["events"]["items"]["properties"].setdefault("description", {"type": "string", "nullable": True})
    return repaired


def fresh_document() -> dict[str, Any]:
    """A copy of the repaired document that the caller may change."""
    return copy.deepcopy(document())


@functools.lru_cache(maxsize=1)
def _operations() -> list[tuple[re.Pattern[str], str, str, str]]:
    """(path pattern, method, path template, operation id) of every operation."""
    found = []
    for template, item in document()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$")
        for method in _METHODS:
            if method in item:
                found.append((pattern, method, template, item[method]["operationId"]))
    # Static paths before templated ones (/v3/orders/fullcover/ before /v3/orders/{id}/).
    found.sort(key=lambda entry: entry[2].count("{"))
    return found


def operation_of(method: str, path: str) -> tuple[str, str] | None:
    """``(path template, operation id)`` of a request, or None for one the document does
    not have (the markets-by-id route working clients use)."""
    path = path.split("?", 1)[0]
    for pattern, verb, template, operation_id in _operations():
        if verb == method.lower() and pattern.match(path):
            return template, operation_id
    return None


def _resolve(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _resolve(document()["components"]["schemas"][ref.rsplit("/", 1)[1]])
        return {key: _resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item) for item in node]
    return node


def response_schema(template: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of the answer, or None when the document gives the status no body.
    AssertionError when the document does not list the status for the operation."""
    responses = document()["paths"][template][method.lower()]["responses"]
    if 200 <= status < 300 and not any(code.startswith("2") for code in responses):
        return None  # the CSV's: the document lists no success, and it is no JSON
    entry = responses.get(str(status))
    assert entry is not None, f"{method.upper()} {template} answered {status}, which the document does not list"
    content = entry.get("content")
    if not content:
        return None
    return _resolve(content["application/json"]["schema"])  # type: ignore[no-any-return]


def check_response(method: str, path: str, status: int, body: bytes, content_type: str | None) -> None:
    """Validate one response of the embedded exchange against the document: its status is
    one the operation lists, and its body fits that status's schema. AssertionError, with
    every problem, if not."""
    from openapi_schema_validator import OAS30Validator

    found = operation_of(method, path)
    if found is None:
        return
    template, operation_id = found
    schema = response_schema(template, method, status)
    if schema is None:
        return
    assert content_type is not None and content_type.startswith("application/json"), (
        f"{operation_id} {status}: content type {content_type!r}"
    )
    instance = json.loads(body)
    validator = OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]
    assert not problems, f"{operation_id} {status} does not fit the document:\n" + "\n".join(problems[:20])
