"""Parsing and validating what a request carries: path parameters, the query string and JSON bodies.

Every refusal is a :class:`.responses.Refusal` carrying HubSpot's 400 ``VALIDATION_ERROR`` answer, naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from .entities import DELIVERY_IDENTIFIER_TYPES
from .responses import Refusal, error_reply, validation_error

MAX_LIMIT = 500

_INTEGER = re.compile(r"[+-]?\d+")

#: The longest message id every endpoint can name: http.server refuses a request line over 65,536 bytes, and a
#: character percent-encoded in the path takes up to 12 of them (4 UTF-8 bytes as ``%XX``).
MAX_MESSAGE_ID_LENGTH = 4096


def id_problem(value: int, bits: int) -> str | None:
    """Why a numeric id could not be one the API and the inspection endpoints address, or None.

    The path parameter is parsed as a signed int of ``bits`` (:func:`int_param`); the ids HubSpot gives are
    positive, and the inspection endpoints take digits only.

    :param value: the id.
    :param bits: the width of the path parameter (32 for channel and inbox ids, 64 for accounts and threads).
    """
    if not 0 < value < 2 ** (bits - 1):
        return f"{str(value)[:40]} is outside 1..{2 ** (bits - 1) - 1} (a positive int{bits})"
    return None


def message_id_problem(message_id: str) -> str | None:
    """Why a message id could not be named in a request path (``{messageId}``, see :func:`path_text`), or None.

    :param message_id: the id.
    """
    if not message_id:
        return "it is empty"
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return f"it has {len(message_id)} characters, more than the {MAX_MESSAGE_ID_LENGTH} a request path carries"
    try:
        message_id.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8 (a lone surrogate)"
    return None


def int_param(text: str, name: str, bits: int) -> int:
    # Not int() alone: it also takes "1_001" and surrounding whitespace, which a Java parseInt refuses.
    try:
        value = int(text, 10) if _INTEGER.fullmatch(text) else None
    except ValueError:  # more digits than int() converts
        value = None
    if value is None or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise validation_error(f"Unable to parse {name} {text!r} as int{bits}", where=name, code="INVALID_INTEGER")
    return value


def path_text(raw: str, name: str) -> str:
    """A path parameter percent-decoded strictly as UTF-8.

    Lenient decoding turned every invalid sequence into U+FFFD, so ``%FF`` and ``%FE`` named the same message.

    :param raw: the parameter as sent; http.server decodes the request line as Latin-1, so each character is
        one byte of it.
    :param name: the parameter's name, for the error.
    """
    try:
        return unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
    except UnicodeError as exc:
        raise validation_error(
            f"{name} is not valid UTF-8 once percent-decoded; percent-encode the UTF-8 bytes of the id",
            where=name,
            code="INVALID_UTF8",
        ) from exc


def parse_query(text: str) -> dict[str, list[str]]:
    """The query string as ``parse_qs`` gives it (blank values kept), every name and value strict UTF-8.

    :param text: the raw query string (Latin-1 decoded by http.server, like the path).
    """
    query: dict[str, list[str]] = {}
    for part in text.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name = path_text(raw_name.replace("+", " "), "query")
        value = path_text(raw_value.replace("+", " "), name)
        query.setdefault(name, []).append(value)
    return query


def single(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise validation_error(f"Only one value of {name} is allowed", where=name, code="TOO_MANY_VALUES")
    return values[0]


def limit_param(query: Mapping[str, list[str]], default: int) -> int:
    text = single(query, "limit")
    if text is None or text == "":
        return default
    value = int_param(text, "limit", 32)
    if not 1 <= value <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}", where="limit", code="OUT_OF_RANGE")
    return value


def bool_param(query: Mapping[str, list[str]], name: str, default: bool | None) -> bool | None:
    text = single(query, name)
    if text is None or text == "":
        return default
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise validation_error(f"{name} must be true or false", where=name, code="INVALID_BOOLEAN")


def json_object(body: bytes, schema: str) -> dict[str, Any]:
    if not body.strip():
        raise validation_error(f"Request body ({schema}) is required", where="body", code="REQUIRED")
    try:
        text = body.decode("utf-8")  # strict: refuses invalid bytes and UTF-8-encoded surrogates alike
    except UnicodeDecodeError as exc:
        raise validation_error(
            f"Request body is not valid UTF-8 (byte {exc.start}); send UTF-8 encoded JSON",
            where="body",
            code="INVALID_UTF8",
        ) from exc
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise validation_error("Invalid input JSON: nested too deeply", where="body", code="INVALID_JSON") from exc
    except ValueError as exc:
        where = f" on line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise validation_error(f"Invalid input JSON{where}: {exc}", where="body", code="INVALID_JSON") from exc
    if not isinstance(data, dict):
        raise validation_error(f"Invalid input JSON: {schema} must be an object", where="body", code="INVALID_JSON")
    field = _lone_surrogate_field(data)
    if field is not None:
        raise validation_error(
            f"{field} contains a lone UTF-16 surrogate (half of a character such as an emoji); send whole characters",
            where=field,
            code="INVALID_UNICODE",
        )
    return data


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259); Python accepts them, HubSpot's JSON parser does not.
    raise ValueError(f"{name} is not a JSON value")


def _lone_surrogate_field(data: Any) -> str | None:
    """Where the first string (value or key) holding a lone surrogate is, e.g. ``senders[0].name``, or None.

    JSON's ``\\ud83d`` escape decodes to such a string; it has no UTF-8 form, so storing it would make every later
    answer about the object fail to encode. Iterative: the body's depth is the client's choice.
    """
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                return where or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{where}.{key}" if where else str(key)
                if _has_lone_surrogate(key):
                    return where or "body"
                pending.append((inner, item))
        elif isinstance(value, list):
            pending.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
    return None


def _has_lone_surrogate(text: str) -> bool:
    # json.loads joins escaped pairs into one character, so any surrogate left in a str is a lone one.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def require(data: Mapping[str, Any], schema: str, fields: Mapping[str, type | tuple[type, ...]]) -> None:
    missing = [name for name in fields if data.get(name) is None]
    if missing:
        message = (
            f"Invalid input JSON: Cannot build {schema}, some of required attributes are not set [{', '.join(missing)}]"
        )
        details = [{"message": f"{name} is required", "in": name, "code": "REQUIRED_FIELD"} for name in missing]
        raise Refusal(error_reply(400, "VALIDATION_ERROR", message, errors=details))
    for name, kind in fields.items():
        value = data[name]
        # bool is an int in Python; JSON booleans must not pass as numbers or the reverse.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise validation_error(f"{name} has the wrong type", where=name, code="INVALID_TYPE")


def optional_str(data: Mapping[str, Any], name: str, *, where: str | None = None) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        where = where or name
        raise validation_error(f"{where} must be a string", where=where, code="INVALID_TYPE")
    return value


def optional_key(data: Mapping[str, Any], name: str) -> str | None:
    """An optional key the integrator chooses; empty or blank counts as absent (see the module notes)."""
    value = optional_str(data, name)
    return value if value is not None and value.strip() else None


def enum_value(value: str, name: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise validation_error(
            f"{value!r} is not a valid {name}; allowed: {', '.join(allowed)}", where=name, code="INVALID_ENUM"
        )
    return value


def delivery_identifier(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str) or not isinstance(value.get("value"), str):
        raise validation_error(f"{where} needs a type and a value", where=where, code="INVALID_TYPE")
    enum_value(value["type"], f"{where}.type", DELIVERY_IDENTIFIER_TYPES)
    return {"type": value["type"], "value": value["value"]}
