"""Answers the simulator sends, in HubSpot's shapes.

Every JSON error follows HubSpot's ``Error`` schema (``category``, ``correlationId``, ``message``, optional
``subCategory``, ``context``, ``errors[]``, ``links``) and carries a fresh ``correlationId``, also sent as the
``X-HubSpot-Correlation-Id`` header as HubSpot does. HubSpot adds ``"status": "error"`` to most error bodies; so do we.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json;charset=utf-8"
HTML_TYPE = "text/html; charset=UTF-8"

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_dumps_ascii = json.JSONEncoder(separators=(",", ":")).encode


@dataclass
class Reply:
    """One HTTP answer.

    :param status: HTTP status code.
    :param body: the encoded body.
    :param content_type: value of the Content-Type header.
    :param headers: further headers, in order.
    :param hub_id: the account the request's credentials belonged to, for the request log; None when unknown.
    """

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    hub_id: int | None = None


class Refusal(Exception):
    """Raised inside an endpoint to answer with an error right away.

    :param reply: the error answer.
    """

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def json_reply(status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> Reply:
    """A JSON answer.

    :param status: HTTP status code.
    :param payload: anything ``json`` can encode.
    :param headers: further headers.
    """
    try:
        body = _dumps(payload).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate has no UTF-8 form. The API refuses such input, but an answer must never fail after a
        # state change (the client would write again): \u-escaped, it is still valid JSON.
        body = _dumps_ascii(payload).encode("ascii")
    return Reply(status, body, JSON_TYPE, list(headers))


def error_payload(
    category: str,
    message: str,
    *,
    sub_category: str | None = None,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    links: Mapping[str, str] | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """HubSpot's ``Error`` body.

    :param category: e.g. ``VALIDATION_ERROR``.
    :param message: the human readable message.
    :param sub_category: optional finer category.
    :param context: optional map of string lists, e.g. ``{"missingScopes": [...]}``.
    :param errors: optional ``errors[]`` entries (``message``, ``in``, ``code``, ...).
    :param links: optional map of link names to URLs.
    :param correlation_id: the id to use; a fresh uuid4 by default.
    """
    payload: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id or str(uuid.uuid4()),
        "category": category,
    }
    if sub_category:
        payload["subCategory"] = sub_category
    if context:
        payload["context"] = {key: list(values) for key, values in context.items()}
    if errors:
        payload["errors"] = [dict(e) for e in errors]
    if links:
        payload["links"] = dict(links)
    return payload


def error_reply(
    status: int,
    category: str,
    message: str,
    *,
    sub_category: str | None = None,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    links: Mapping[str, str] | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Reply:
    """An error answer in HubSpot's ``Error`` shape with a fresh correlation id.

    :param status: HTTP status code.
    :param category: HubSpot error category.
    :param message: the human readable message.
    :param sub_category: optional finer category.
    :param context: optional context map.
    :param errors: optional ``errors[]`` entries.
    :param links: optional links.
    :param headers: further headers.
    """
    payload = error_payload(category, message, sub_category=sub_category, context=context, errors=errors, links=links)
    return json_reply(status, payload, [("X-HubSpot-Correlation-Id", payload["correlationId"]), *headers])


def validation_error(
    message: str, *, where: str | None = None, code: str | None = None, sub_category: str | None = None
) -> Refusal:
    """A 400 ``VALIDATION_ERROR`` naming the offending field or parameter in ``errors[].in``.

    :param message: what is wrong.
    :param where: the field or parameter name.
    :param code: a machine code for the detail, e.g. ``REQUIRED_FIELD``.
    :param sub_category: optional sub-category.
    """
    detail: dict[str, Any] = {"message": message}
    if where is not None:
        detail["in"] = where
    if code is not None:
        detail["code"] = code
    return Refusal(error_reply(400, "VALIDATION_ERROR", message, sub_category=sub_category, errors=[detail]))


def not_found(message: str) -> Refusal:
    """A 404 ``OBJECT_NOT_FOUND``.

    :param message: what was not found.
    """
    return Refusal(error_reply(404, "OBJECT_NOT_FOUND", message))


def rate_limit_payload(policy: str) -> dict[str, Any]:
    """HubSpot's 429 body, plus ``category`` so it also validates against the ``Error`` schema.

    HubSpot's real body has ``errorType`` but no ``category``; the extra key is harmless to clients.

    :param policy: ``TEN_SECONDLY_ROLLING``, ``SECONDLY`` or ``DAILY``.
    """
    message = (
        "You have reached your daily limit." if policy == "DAILY" else f"You have reached your {policy.lower()} limit."
    )
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
        "category": "RATE_LIMITS",
    }


def rate_limit_reply(policy: str, headers: Sequence[tuple[str, str]] = ()) -> Reply:
    """A 429 answer with HubSpot's body.

    :param policy: the policy name for ``policyName``.
    :param headers: further headers (rate-limit headers, ``Retry-After``).
    """
    payload = rate_limit_payload(policy)
    return json_reply(429, payload, [("X-HubSpot-Correlation-Id", payload["correlationId"]), *headers])


_GATEWAY_TITLES = {
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def html_reply(status: int) -> Reply:
    """An HTML error page like the ones a CDN or gateway in front of HubSpot sends.

    :param status: one of 500, 502, 503, 504.
    """
    title = _GATEWAY_TITLES.get(status, f"{status} Error")
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
    )
    return Reply(status, page.encode("ascii"), HTML_TYPE, [])
