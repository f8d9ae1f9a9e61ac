"""Contract checks against HubSpot's official OpenAPI specs, for any test of this project.

The specs are HubSpot's and are not part of the repository: they are read from the folder named by the
``HUBSPOT_OPENAPI_DIR`` environment variable, else from ``../shared/hubspot-openapi/`` next to the repository.
Where they are absent, the checks ``pytest.skip`` with the reason.

Usage::

    from openapi_contract import assert_response, assert_request, assert_requests_response

    assert_requests_response(requests.get(...))          # a real answer, request taken from it
    assert_response("PATCH", "/conversations/custom-channels/2026-03/1001/messages/m1", 200, body)
    assert_request("PATCH", path, body={"statusType": "FAILED", "errorMessage": "..."})

Spec quirks handled here (in memory; the files are never changed):

* Error responses are declared with media type ``*/*``; they are checked as ``application/json`` (an HTML error
  page therefore is a violation: HubSpot's API answers JSON).
* The Inbox specs declare ``PublicMessage`` as ``oneOf`` its subtypes while each subtype is ``allOf`` that same
  ``PublicMessage`` (inheritance written as a cycle). Validators recurse forever on it, so the back reference is
  dropped from each subtype's ``allOf``.
* Legacy paths are not in the date-versioned files: ``/conversations/v3/custom-channels/...`` is checked against
  the 2026-03 custom channels spec, ``/oauth/v1/token`` against ``/oauth/2026-03/token``.
* The 2026-09 conversations file is an early snapshot; ``/conversations/v3/conversations/...`` is checked against
  the v3 Inbox spec, which HubSpot documents as equivalent.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPEC_DIR_ENV = "HUBSPOT_OPENAPI_DIR"
DEFAULT_SPEC_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "hubspot-openapi"
HOST_URL = "https://api.hubapi.com"

CUSTOM_CHANNELS = "custom-channels-2026-03.json"
CONVERSATIONS_2026_09 = "conversations-2026-09.json"
CONVERSATIONS_V3 = "conversations-inbox-v3.json"
OAUTH = "oauth-2026-03.json"

# (path prefix as sent, spec file, prefix as written in that spec)
_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("/conversations/custom-channels/2026-03", CUSTOM_CHANNELS, "/conversations/custom-channels/2026-03"),
    ("/conversations/v3/custom-channels", CUSTOM_CHANNELS, "/conversations/custom-channels/2026-03"),
    ("/conversations/conversations/2026-09", CONVERSATIONS_2026_09, "/conversations/conversations/2026-09"),
    ("/conversations/v3/conversations", CONVERSATIONS_V3, "/conversations/v3/conversations"),
    ("/oauth/2026-03", OAUTH, "/oauth/2026-03"),
    ("/oauth/v1/token", OAUTH, "/oauth/2026-03/token"),
)


def spec_dir() -> Path | None:
    """The folder holding HubSpot's spec files, or None when it does not exist."""
    configured = os.environ.get(SPEC_DIR_ENV)
    folder = Path(configured) if configured else DEFAULT_SPEC_DIR
    return folder if folder.is_dir() else None


def spec_path(name: str) -> Path:
    """Path of one spec file; skips the calling test when it is absent.

    :param name: file name, e.g. ``custom-channels-2026-03.json``.
    """
    folder = spec_dir()
    if folder is None:
        where = os.environ.get(SPEC_DIR_ENV) or str(DEFAULT_SPEC_DIR)
        pytest.skip(f"HubSpot OpenAPI specs not found at {where} (set {SPEC_DIR_ENV} to the folder holding them)")
    path = folder / name
    if not path.is_file():
        pytest.skip(f"HubSpot OpenAPI spec {name} not found in {folder}")
    return path


@functools.cache
def _load_document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(spec_path(name).read_text(encoding="utf-8"))
    return document


def patched_document(name: str) -> dict[str, Any]:
    """A fresh copy of HubSpot's spec as a dict, with the quirks above worked around; skips when absent.

    :param name: file name, e.g. ``custom-channels-2026-03.json``.
    """
    document = copy.deepcopy(_load_document(name))
    _json_for_wildcard_media(document)
    _break_inheritance_cycles(document)
    return document


@functools.cache
def load_spec(name: str) -> OpenAPI:
    """HubSpot's spec as an ``openapi_core.OpenAPI``, with the quirks above worked around; skips when absent.

    :param name: file name, e.g. ``custom-channels-2026-03.json``.
    """
    return OpenAPI.from_dict(patched_document(name))


def spec_for(path: str) -> tuple[str, str]:
    """Which spec file describes a request path, and the path as that spec writes it.

    :param path: the request path (no query string).
    :raises AssertionError: no spec covers the path.
    """
    for prefix, name, spec_prefix in _PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return name, spec_prefix + path[len(prefix) :]
    raise AssertionError(f"no HubSpot spec covers the path {path}")


def response_violations(
    method: str,
    path: str,
    status: int,
    body: bytes | str | Mapping[str, Any] | list[Any] | None,
    *,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
    query: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """Why an answer does not match HubSpot's spec (empty when it does).

    :param method: HTTP method of the request.
    :param path: request path (no query string).
    :param status: HTTP status of the answer.
    :param body: the answer's body (bytes, text, or already decoded JSON).
    :param headers: the answer's headers.
    :param content_type: the answer's Content-Type; from ``headers`` or ``application/json`` when None.
    :param query: the request's query parameters.
    """
    name, spec_path_ = spec_for(path)
    headers = dict(headers or {})
    if content_type is None:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/json")
    request = MockRequest(HOST_URL, method, spec_path_, args=_args(query), headers={"Authorization": "Bearer x"})
    response = MockResponse(_bytes(body), status_code=status, headers=headers, content_type=content_type)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_spec(name).validate_response(request, response)
    except Exception as exc:  # openapi-core raises many unrelated types; all are violations here
        return [f"{method} {path} -> {status} does not match {name}: {line}" for line in _explain(exc)]
    return []


def request_violations(
    method: str,
    path: str,
    *,
    query: Mapping[str, Iterable[str]] | None = None,
    body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """Why a request does not match HubSpot's spec (empty when it does).

    :param method: HTTP method.
    :param path: request path (no query string).
    :param query: query parameters.
    :param body: the request body (bytes, text, or JSON to encode).
    :param content_type: the request's Content-Type.
    :param headers: request headers; a bearer token is assumed when None.
    """
    name, spec_path_ = spec_for(path)
    request = MockRequest(
        HOST_URL,
        method,
        spec_path_,
        args=_args(query),
        headers=dict(headers) if headers is not None else {"Authorization": "Bearer x"},
        data=_bytes(body) if body is not None else None,
        content_type=content_type,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_spec(name).validate_request(request)
    except Exception as exc:  # see response_violations
        return [f"{method} {path} does not match {name}: {line}" for line in _explain(exc)]
    return []


def assert_response(
    method: str,
    path: str,
    status: int,
    body: bytes | str | Mapping[str, Any] | list[Any] | None,
    *,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
    query: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Fail the test with a readable list of violations unless the answer matches HubSpot's spec.

    :param method: HTTP method of the request.
    :param path: request path (no query string).
    :param status: HTTP status of the answer.
    :param body: the answer's body.
    :param headers: the answer's headers.
    :param content_type: the answer's Content-Type.
    :param query: the request's query parameters.
    """
    problems = response_violations(method, path, status, body, headers=headers, content_type=content_type, query=query)
    assert not problems, "\n".join(problems)


def assert_request(
    method: str,
    path: str,
    *,
    query: Mapping[str, Iterable[str]] | None = None,
    body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> None:
    """Fail the test with a readable list of violations unless the request matches HubSpot's spec.

    :param method: HTTP method.
    :param path: request path (no query string).
    :param query: query parameters.
    :param body: the request body.
    :param content_type: the request's Content-Type.
    :param headers: request headers.
    """
    problems = request_violations(method, path, query=query, body=body, content_type=content_type, headers=headers)
    assert not problems, "\n".join(problems)


def assert_requests_response(response: requests.Response, *, check_request: bool = False) -> None:
    """Check a real ``requests`` answer (and optionally the request that produced it) against HubSpot's spec.

    :param response: the answer; its ``request`` gives method, path and query.
    :param check_request: also check the request.
    """
    prepared = response.request
    url = urlsplit(prepared.url or "")
    query = parse_qs(url.query, keep_blank_values=True)
    method = prepared.method or "GET"
    if check_request:
        raw = prepared.body
        assert_request(
            method,
            url.path,
            query=query,
            body=raw.encode() if isinstance(raw, str) else raw,
            content_type=prepared.headers.get("Content-Type", "application/json"),
            headers=dict(prepared.headers),
        )
    assert_response(
        method, url.path, response.status_code, response.content, headers=dict(response.headers), query=query
    )


def _args(query: Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    return {key: [values] if isinstance(values, str) else list(values) for key, values in (query or {}).items()}


def _bytes(body: bytes | str | Mapping[str, Any] | list[Any] | None) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _explain(exc: BaseException) -> list[str]:
    """Readable lines for an openapi-core error: each schema error with the JSON path it concerns."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for error in getattr(current, "schema_errors", None) or ():
            lines.append(_schema_error(error))
        current = current.__cause__ or current.__context__
    return lines or [f"{type(exc).__name__}: {exc}"]


def _schema_error(error: Any) -> str:
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in getattr(error, "absolute_path", ()))
    text = f"{where}: {getattr(error, 'message', error)}"
    context = getattr(error, "context", None)
    if context:
        # For oneOf/anyOf, the deepest alternative's complaint is the useful one.
        best = max(context, key=lambda e: len(getattr(e, "absolute_path", ())))
        inner = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in best.absolute_path)
        text += f" (closest: {inner}: {best.message})"
    return text


def _json_for_wildcard_media(node: Any) -> None:
    if isinstance(node, dict):
        content = node.get("content")
        if isinstance(content, dict) and "*/*" in content:
            node["content"] = {("application/json" if k == "*/*" else k): v for k, v in content.items()}
        for value in node.values():
            _json_for_wildcard_media(value)
    elif isinstance(node, list):
        for value in node:
            _json_for_wildcard_media(value)


_REF = re.compile(r"^#/components/schemas/(.+)$")


def _break_inheritance_cycles(document: dict[str, Any]) -> None:
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            continue
        kept = []
        for part in parts:
            match = _REF.match(part.get("$ref", "")) if isinstance(part, dict) else None
            parent = schemas.get(match.group(1)) if match else None
            alternatives = parent.get("oneOf", []) if isinstance(parent, dict) else []
            if any(alt.get("$ref") == f"#/components/schemas/{name}" for alt in alternatives):
                continue
            kept.append(part)
        schema["allOf"] = kept
