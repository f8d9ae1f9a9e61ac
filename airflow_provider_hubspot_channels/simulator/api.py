"""The simulated HubSpot API: routing, authentication, rate limiting, scopes, validation and the endpoints.

Paths served (each custom-channels path also under the legacy ``/conversations/v3/custom-channels`` prefix, each
Inbox path also under ``/conversations/v3/conversations``):

* ``GET    /conversations/custom-channels/2026-03/{channelId}``
* ``GET    /conversations/custom-channels/2026-03/{channelId}/channel-accounts``
* ``POST   /conversations/custom-channels/2026-03/{channelId}/channel-accounts``
* ``GET    /conversations/custom-channels/2026-03/{channelId}/channel-accounts/{channelAccountId}``
* ``POST   /conversations/custom-channels/2026-03/{channelId}/messages``
* ``GET    /conversations/custom-channels/2026-03/{channelId}/messages/{messageId}``
* ``PATCH  /conversations/custom-channels/2026-03/{channelId}/messages/{messageId}``
* ``GET    /conversations/conversations/2026-09/threads``
* ``GET    /conversations/conversations/2026-09/threads/{threadId}/messages``
* ``POST   /oauth/2026-03/token`` and ``/oauth/v1/token`` (refresh grant)

Order of checks for an API call: route (404/405), bearer token (401), rate limit (429), scopes (403), path
parameters, query and body (400), existence (404). No refusal changes state (a transition refused in strict
mode is only noted in the inspection history). Assumptions where HubSpot is silent or differs:

* Any method a path does not serve (HEAD, OPTIONS, TRACE, PUT, ...) is 405 ``METHOD_NOT_ALLOWED`` in the
  ``Error`` shape with ``Allow`` listing the path's methods (the answer to HEAD without its body).
* Text must be UTF-8 (HubSpot's JVM services decode strictly or substitute; refusing is the visible choice):
  a body that is not valid UTF-8 is 400 naming ``body``; a JSON string or key that decodes to a lone UTF-16
  surrogate (``"\\ud83d"``, half an emoji) is 400 naming the field (``errorMessage``, ``senders[0].name``);
  a path id or query value whose percent-decoded bytes are not UTF-8 is 400 naming the parameter. ``NaN`` and
  ``Infinity`` are not JSON and are refused.
* ``GET .../{channelId}``: HubSpot's docs want a developer API key there, and the spec lists no security. The
  provider uses this call as its cheap connection test with the app's OAuth token, so the simulator accepts a
  bearer token with ``conversations.custom_channels.read`` instead.
* Channel accounts GET and POST accept ``conversations.custom_channels.read`` or ``.write``, as the 2026-03 spec
  declares.
* Threads: exactly one ``inboxId`` (more is 400); ``sort`` is ``id`` (default) or ``latestMessageTimestamp``,
  always ascending; ``latestMessageTimestamp`` requires ``latestMessageTimestampAfter`` (as HubSpot's docs say),
  which is an inclusive lower bound and also filters when sorting by id. An unknown ``inboxId`` filters down to
  no results rather than answering 404. Page size: default 20, 1..500 (HubSpot
  documents neither); other values are 400. A cursor encodes the sort key of the last item, so a thread whose
  latest message moves while a client pages may show up again on a later page, as on HubSpot.
* Thread messages: newest first by default (``-createdAt``), ``sort=createdAt`` ascending; same page sizes.
* Channel accounts list: default page size 100, 1..500.
* ``integrationIdempotencyId`` and ``integrationThreadId`` that are empty or only whitespace count as absent
  (HubSpot documents neither): a blank key identifies nothing. Keying on ``""`` made every publish with it
  replay the first message (or share one thread); refusing it with 400 would reject a body the spec allows (the
  fields are plain strings without ``minLength``), so a client that sends ``""`` for "no key" would break.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote_to_bytes

from .auth import (
    CONVERSATIONS_READ,
    CUSTOM_CHANNELS_READ,
    CUSTOM_CHANNELS_WRITE,
    TokenStore,
)
from .rate_limit import RateLimiter
from .responses import (
    Refusal,
    Reply,
    error_reply,
    json_reply,
    not_found,
    rate_limit_reply,
    validation_error,
)
from .state import (
    DELIVERY_IDENTIFIER_TYPES,
    DIRECTIONS,
    PATCHABLE_STATUS_TYPES,
    ChannelAccount,
    SimulatorState,
    TransitionRefused,
)
from .timefmt import parse_iso

THREADS_DEFAULT_LIMIT = 20
ACCOUNTS_DEFAULT_LIMIT = 100
MAX_LIMIT = 500

_CC = r"/conversations/(?:custom-channels/2026-03|v3/custom-channels)"
_INBOX = r"/conversations/(?:conversations/2026-09|v3/conversations)"
OAUTH_TOKEN_PATH = re.compile(r"/oauth/(?:2026-03|v1)/token")

_NO_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: "
    "https://developers.hubspot.com/scopes."
)


@dataclass
class ApiContext:
    """What the endpoints work on.

    :param state: the store.
    :param tokens: tokens and OAuth.
    :param limiter: the account's rate limits.
    :param base_url: the server's base URL, for ``Location`` headers.
    """

    state: SimulatorState
    tokens: TokenStore
    limiter: RateLimiter
    base_url: str = ""


@dataclass(frozen=True)
class Call:
    """One API call, as an endpoint sees it.

    :param ctx: the context.
    :param path: the request path (percent-encoded, no query).
    :param params: raw path parameters (percent-encoded).
    :param query: the parsed query string.
    :param body: the raw body.
    """

    ctx: ApiContext
    path: str
    params: tuple[str, ...]
    query: Mapping[str, list[str]]
    body: bytes


Endpoint = Callable[[Call], Reply]


@dataclass(frozen=True)
class Operation:
    """An endpoint and the scopes that allow it (any one suffices).

    :param endpoint: the function answering the call.
    :param scopes: alternative scopes.
    """

    endpoint: Endpoint
    scopes: tuple[str, ...]


def handle(
    ctx: ApiContext,
    method: str,
    path: str,
    query_string: str,
    authorization: str | None,
    content_type: str | None,
    body: bytes,
) -> Reply:
    """Answer one request.

    :param ctx: the context.
    :param method: HTTP method.
    :param path: request path without query (percent-encoded).
    :param query_string: the raw query string.
    :param authorization: the ``Authorization`` header.
    :param content_type: the ``Content-Type`` header.
    :param body: the raw body.
    """
    if OAUTH_TOKEN_PATH.fullmatch(path):
        if method != "POST":
            return _method_not_allowed(method, path, ("POST",))
        return token_endpoint(ctx, content_type, body)
    routed = _route(path)
    if routed is None:
        return error_reply(404, "OBJECT_NOT_FOUND", f"No resource at {method} {path}")
    match, operations = routed
    operation = operations.get(method)
    if operation is None:
        return _method_not_allowed(method, path, tuple(operations))

    auth = ctx.tokens.check(authorization)
    if auth.status != "ok" or auth.token is None:
        if auth.status == "expired" and auth.token is not None and auth.token.expires_at is not None:
            minutes = max(0, math.floor((time.time() - auth.token.expires_at) / 60))
            return error_reply(
                401,
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {minutes} minute(s) ago.",
            )
        return error_reply(401, "INVALID_AUTHENTICATION", _NO_AUTH_MESSAGE)

    decision = ctx.limiter.acquire()
    if not decision.allowed:
        return rate_limit_reply(decision.policy or "TEN_SECONDLY_ROLLING", decision.headers)

    granted = auth.token.scopes
    if not any(scope in granted for scope in operation.scopes):
        reply = error_reply(
            403,
            "MISSING_SCOPES",
            _SCOPES_MESSAGE,
            context={"missingScopes": operation.scopes, "requiredGranularScopes": operation.scopes},
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": list(operation.scopes)},
                }
            ],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )
    else:
        try:
            call = Call(ctx, path, match.groups(), _parse_query(query_string), body)
            reply = operation.endpoint(call)
        except Refusal as refusal:
            reply = refusal.reply
    reply.headers.extend(decision.headers)
    return reply


def _route(path: str) -> tuple[re.Match[str], Mapping[str, Operation]] | None:
    for pattern, operations in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return match, operations
    return None


def _method_not_allowed(method: str, path: str, allowed: Sequence[str]) -> Reply:
    return error_reply(
        405,
        "METHOD_NOT_ALLOWED",
        f"{method} is not supported on {path}",
        headers=[("Allow", ", ".join(allowed))],
    )


# ------------------------------------------------------------------------------------------------- OAuth


def token_endpoint(ctx: ApiContext, content_type: str | None, body: bytes) -> Reply:
    """``POST /oauth/2026-03/token``: the refresh grant, form-encoded.

    :param ctx: the context.
    :param content_type: the request's Content-Type.
    :param body: the raw body.
    """
    if (content_type or "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return validation_error(
            "The token endpoint expects an application/x-www-form-urlencoded body",
            where="Content-Type",
            code="INVALID_CONTENT_TYPE",
        ).reply
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        fields = {}
    return ctx.tokens.refresh_grant({key: values[0] for key, values in fields.items()})


# --------------------------------------------------------------------------------------------- validation


_INTEGER = re.compile(r"[+-]?\d+")

#: The longest message id every endpoint can name: http.server refuses a request line over 65,536 bytes, and a
#: character percent-encoded in the path takes up to 12 of them (4 UTF-8 bytes as ``%XX``).
MAX_MESSAGE_ID_LENGTH = 4096


def id_problem(value: int, bits: int) -> str | None:
    """Why a numeric id could not be one the API and the inspection endpoints address, or None.

    The path parameter is parsed as a signed int of ``bits`` (:func:`_int_param`); the ids HubSpot gives are
    positive, and the inspection endpoints take digits only.

    :param value: the id.
    :param bits: the width of the path parameter (32 for channel and inbox ids, 64 for accounts and threads).
    """
    if not 0 < value < 2 ** (bits - 1):
        return f"{str(value)[:40]} is outside 1..{2 ** (bits - 1) - 1} (a positive int{bits})"
    return None


def message_id_problem(message_id: str) -> str | None:
    """Why a message id could not be named in a request path (``{messageId}``, see :func:`_path_text`), or None.

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


def _int_param(text: str, name: str, bits: int) -> int:
    # Not int() alone: it also takes "1_001" and surrounding whitespace, which a Java parseInt refuses.
    try:
        value = int(text, 10) if _INTEGER.fullmatch(text) else None
    except ValueError:  # more digits than int() converts
        value = None
    if value is None or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise validation_error(f"Unable to parse {name} {text!r} as int{bits}", where=name, code="INVALID_INTEGER")
    return value


def _path_text(raw: str, name: str) -> str:
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


def _parse_query(text: str) -> dict[str, list[str]]:
    """The query string as ``parse_qs`` gives it (blank values kept), every name and value strict UTF-8.

    :param text: the raw query string (Latin-1 decoded by http.server, like the path).
    """
    query: dict[str, list[str]] = {}
    for part in text.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name = _path_text(raw_name.replace("+", " "), "query")
        value = _path_text(raw_value.replace("+", " "), name)
        query.setdefault(name, []).append(value)
    return query


def _single(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise validation_error(f"Only one value of {name} is allowed", where=name, code="TOO_MANY_VALUES")
    return values[0]


def _limit(query: Mapping[str, list[str]], default: int) -> int:
    text = _single(query, "limit")
    if text is None or text == "":
        return default
    value = _int_param(text, "limit", 32)
    if not 1 <= value <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}", where="limit", code="OUT_OF_RANGE")
    return value


def _bool(query: Mapping[str, list[str]], name: str, default: bool | None) -> bool | None:
    text = _single(query, name)
    if text is None or text == "":
        return default
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise validation_error(f"{name} must be true or false", where=name, code="INVALID_BOOLEAN")


def _json_object(body: bytes, schema: str) -> dict[str, Any]:
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


def _require(data: Mapping[str, Any], schema: str, fields: Mapping[str, type | tuple[type, ...]]) -> None:
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


def _optional_str(data: Mapping[str, Any], name: str, *, where: str | None = None) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        where = where or name
        raise validation_error(f"{where} must be a string", where=where, code="INVALID_TYPE")
    return value


def _optional_key(data: Mapping[str, Any], name: str) -> str | None:
    """An optional key the integrator chooses; empty or blank counts as absent (see the module notes)."""
    value = _optional_str(data, name)
    return value if value is not None and value.strip() else None


def _enum(value: str, name: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise validation_error(
            f"{value!r} is not a valid {name}; allowed: {', '.join(allowed)}", where=name, code="INVALID_ENUM"
        )
    return value


def _delivery_identifier(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str) or not isinstance(value.get("value"), str):
        raise validation_error(f"{where} needs a type and a value", where=where, code="INVALID_TYPE")
    _enum(value["type"], f"{where}.type", DELIVERY_IDENTIFIER_TYPES)
    return {"type": value["type"], "value": value["value"]}


def _channel(call: Call, channel_id: int) -> None:
    if channel_id not in call.ctx.state.channels:
        raise not_found(f"Channel {channel_id} not found")


def _location(call: Call, *suffix: str) -> list[tuple[str, str]]:
    return [("Location", call.ctx.base_url + "/".join((call.path, *(quote(s, safe="") for s in suffix))))]


# ----------------------------------------------------------------------------------------- custom channels


def get_channel(call: Call) -> Reply:
    """``GET .../{channelId}``.

    :param call: the call.
    """
    channel_id = _int_param(call.params[0], "channelId", 32)
    state = call.ctx.state
    with state.lock:
        channel = state.channels.get(channel_id)
        if channel is None:
            raise not_found(f"Channel {channel_id} not found")
        return json_reply(200, channel.to_json())


def list_channel_accounts(call: Call) -> Reply:
    """``GET .../{channelId}/channel-accounts``.

    :param call: the call.
    """
    channel_id = _int_param(call.params[0], "channelId", 32)
    limit = _limit(call.query, ACCOUNTS_DEFAULT_LIMIT)
    archived = _bool(call.query, "archived", False)
    after_text = _single(call.query, "after")
    after = _int_param(after_text, "after", 64) if after_text else None
    state = call.ctx.state
    with state.lock:
        _channel(call, channel_id)
        accounts = sorted(
            (a for a in state.accounts.values() if a.channel_id == channel_id and a.archived == archived),
            key=lambda a: a.id,
        )
        total = len(accounts)
        if after is not None:
            accounts = [a for a in accounts if a.id > after]
        page = accounts[:limit]
        payload: dict[str, Any] = {"total": total, "results": [a.to_json() for a in page]}
        if len(accounts) > limit:
            payload["paging"] = {"next": {"after": str(page[-1].id)}}
        return json_reply(200, payload)


def get_channel_account(call: Call) -> Reply:
    """``GET .../{channelId}/channel-accounts/{channelAccountId}``.

    :param call: the call.
    """
    channel_id = _int_param(call.params[0], "channelId", 32)
    account_id = _int_param(call.params[1], "channelAccountId", 64)
    state = call.ctx.state
    with state.lock:
        _channel(call, channel_id)
        account = state.accounts.get(account_id)
        if account is None or account.channel_id != channel_id:
            raise not_found(f"Channel account {account_id} not found in channel {channel_id}")
        return json_reply(200, account.to_json())


def create_channel_account(call: Call) -> Reply:
    """``POST .../{channelId}/channel-accounts`` with ``PublicChannelAccountEgg``.

    :param call: the call.
    """
    channel_id = _int_param(call.params[0], "channelId", 32)
    data = _json_object(call.body, "PublicChannelAccountEgg")
    _require(data, "PublicChannelAccountEgg", {"name": str, "inboxId": str, "authorized": bool})
    inbox_id = _int_param(data["inboxId"], "inboxId", 32)
    ident = data.get("deliveryIdentifier")
    delivery = _delivery_identifier(ident, "deliveryIdentifier") if ident is not None else None
    state = call.ctx.state
    with state.lock:
        _channel(call, channel_id)
        if inbox_id not in state.inboxes:
            raise validation_error(f"Inbox {inbox_id} does not exist", where="inboxId", code="INVALID_REFERENCE")
        account = state.add_channel_account(
            channel_id,
            inbox_id=inbox_id,
            name=data["name"],
            delivery_identifier=delivery
            or {"type": "CHANNEL_SPECIFIC_OPAQUE_ID", "value": f"account-{len(state.accounts) + 1}"},
            authorized=data["authorized"],
        )
    return json_reply(201, account, _location(call, account["id"]))


def publish_message(call: Call) -> Reply:
    """``POST .../{channelId}/messages`` with ``ChannelIntegrationMessageEgg``.

    :param call: the call.
    """
    channel_id = _int_param(call.params[0], "channelId", 32)
    schema = "ChannelIntegrationMessageEgg"
    data = _json_object(call.body, schema)
    _require(
        data,
        schema,
        {
            "text": str,
            "messageDirection": str,
            "channelAccountId": str,
            "senders": list,
            "recipients": list,
            "attachments": list,
            "timestamp": str,
        },
    )
    direction = _enum(data["messageDirection"], "messageDirection", DIRECTIONS)
    try:
        timestamp = parse_iso(data["timestamp"])
    except ValueError as exc:
        raise validation_error(str(exc), where="timestamp", code="INVALID_DATE_TIME") from exc
    participants: dict[str, list[dict[str, Any]]] = {}
    for side in ("senders", "recipients"):
        participants[side] = []
        for index, participant in enumerate(data[side]):
            where = f"{side}[{index}]"
            if not isinstance(participant, dict):
                raise validation_error(f"{where} must be an object", where=where, code="INVALID_TYPE")
            for name in ("name", "senderActorId"):
                _optional_str(participant, name, where=f"{where}.{name}")
            clean = dict(participant)
            clean["deliveryIdentifier"] = _delivery_identifier(
                participant.get("deliveryIdentifier"), f"{where}.deliveryIdentifier"
            )
            participants[side].append(clean)
    rich_text = _optional_str(data, "richText")
    thread_key = _optional_key(data, "integrationThreadId")
    idempotency = _optional_key(data, "integrationIdempotencyId")
    account_id = _int_param(data["channelAccountId"], "channelAccountId", 64)
    state = call.ctx.state
    with state.lock:
        _channel(call, channel_id)
        account: ChannelAccount | None = state.accounts.get(account_id)
        if account is None or account.channel_id != channel_id:
            raise validation_error(
                f"Channel account {account_id} does not belong to channel {channel_id}",
                where="channelAccountId",
                code="INVALID_REFERENCE",
            )
        message = state.publish(
            channel_id,
            account,
            direction=direction,
            text=data["text"],
            rich_text=rich_text,
            timestamp=timestamp,
            senders=participants["senders"],
            recipients=participants["recipients"],
            integration_thread_id=thread_key,
            idempotency_id=idempotency,
        )
        return json_reply(201, message.to_json(), _location(call, message.id))


def get_message(call: Call) -> Reply:
    """``GET .../{channelId}/messages/{messageId}``.

    :param call: the call.
    """
    channel_id = _int_param(call.params[0], "channelId", 32)
    message_id = _path_text(call.params[1], "messageId")
    state = call.ctx.state
    with state.lock:
        _channel(call, channel_id)
        message = state.find_message(channel_id, message_id)
        if message is None:
            raise not_found(f"Message {message_id} not found in channel {channel_id}")
        return json_reply(200, message.to_json())


def patch_message(call: Call) -> Reply:
    """``PATCH .../{channelId}/messages/{messageId}`` with ``{"statusType", "errorMessage"}``.

    :param call: the call.
    """
    channel_id = _int_param(call.params[0], "channelId", 32)
    message_id = _path_text(call.params[1], "messageId")
    schema = "PublicChannelIntegrationMessageUpdateRequest"
    data = _json_object(call.body, schema)
    _require(data, schema, {"statusType": str})
    status_type = _enum(data["statusType"], "statusType", PATCHABLE_STATUS_TYPES)
    error_message = _optional_str(data, "errorMessage")
    state = call.ctx.state
    with state.lock:
        _channel(call, channel_id)
        message = state.find_message(channel_id, message_id)
        if message is None:
            raise not_found(f"Message {message_id} not found in channel {channel_id}")
        try:
            state.patch_status(message, status_type, error_message)
        except TransitionRefused as exc:
            raise validation_error(
                f"Cannot change the status of message {message_id} from {exc.previous} to {exc.requested}",
                where="statusType",
                code="INVALID_STATUS_TRANSITION",
                sub_category="INVALID_STATUS_TRANSITION",
            ) from exc
        return json_reply(200, message.to_json())


# ---------------------------------------------------------------------------------------------- Inbox API


def list_threads(call: Call) -> Reply:
    """``GET /conversations/conversations/2026-09/threads``.

    :param call: the call.
    """
    query = call.query
    inbox_values = [v for value in query.get("inboxId", []) for v in value.split(",") if v != ""]
    if len(inbox_values) > 1:
        raise validation_error("Only one inboxId may be given per request", where="inboxId", code="TOO_MANY_VALUES")
    inbox_id = _int_param(inbox_values[0], "inboxId", 32) if inbox_values else None
    contact_text = _single(query, "associatedContactId")
    if contact_text is not None and inbox_id is not None:
        raise validation_error("associatedContactId cannot be used together with inboxId", where="associatedContactId")
    sort = _single(query, "sort") or "id"
    if sort not in ("id", "latestMessageTimestamp"):
        raise validation_error(
            f"sort must be id or latestMessageTimestamp, got {sort!r}", where="sort", code="INVALID_ENUM"
        )
    after_text = _single(query, "latestMessageTimestampAfter")
    latest_after = None
    if after_text:
        try:
            latest_after = parse_iso(after_text)
        except ValueError as exc:
            raise validation_error(str(exc), where="latestMessageTimestampAfter", code="INVALID_DATE_TIME") from exc
    elif sort == "latestMessageTimestamp":
        raise validation_error(
            "latestMessageTimestampAfter is required when sorting by latestMessageTimestamp",
            where="latestMessageTimestampAfter",
            code="REQUIRED",
        )
    thread_status = _single(query, "threadStatus")
    if thread_status is not None:
        _enum(thread_status, "threadStatus", ("OPEN", "CLOSED"))
    limit = _limit(query, THREADS_DEFAULT_LIMIT)
    archived = bool(_bool(query, "archived", False))
    try:
        results, next_after = call.ctx.state.list_threads(
            inbox_id=inbox_id,
            contact_id=contact_text,
            sort=sort,
            latest_after=latest_after,
            limit=limit,
            after=_single(query, "after"),
            archived=archived,
            thread_status=thread_status,
        )
    except ValueError as exc:
        raise validation_error(str(exc), where="after", code="INVALID_CURSOR") from exc
    return _page(results, next_after)


def list_thread_messages(call: Call) -> Reply:
    """``GET /conversations/conversations/2026-09/threads/{threadId}/messages``.

    :param call: the call.
    """
    thread_id = _int_param(call.params[0], "threadId", 64)
    query = call.query
    sort = _single(query, "sort") or "-createdAt"
    if sort not in ("createdAt", "-createdAt"):
        raise validation_error(f"sort must be createdAt or -createdAt, got {sort!r}", where="sort", code="INVALID_ENUM")
    limit = _limit(query, THREADS_DEFAULT_LIMIT)
    archived = _bool(query, "archived", None)
    state = call.ctx.state
    with state.lock:
        thread = state.threads.get(thread_id)
        if thread is None:
            raise not_found(f"Thread {thread_id} not found")
        try:
            results, next_after = state.list_thread_messages(
                thread, limit=limit, after=_single(query, "after"), ascending=sort == "createdAt", archived=archived
            )
        except ValueError as exc:
            raise validation_error(str(exc), where="after", code="INVALID_CURSOR") from exc
        return _page(results, next_after)


def _page(results: list[dict[str, Any]], next_after: str | None) -> Reply:
    payload: dict[str, Any] = {"results": results}
    if next_after is not None:
        payload["paging"] = {"next": {"after": next_after}}
    return json_reply(200, payload)


_READ = (CUSTOM_CHANNELS_READ,)
_WRITE = (CUSTOM_CHANNELS_WRITE,)
_READ_OR_WRITE = (CUSTOM_CHANNELS_READ, CUSTOM_CHANNELS_WRITE)
_INBOX_READ = (CONVERSATIONS_READ,)

ROUTES: tuple[tuple[re.Pattern[str], Mapping[str, Operation]], ...] = (
    (re.compile(_CC + r"/([^/]+)"), {"GET": Operation(get_channel, _READ)}),
    (
        re.compile(_CC + r"/([^/]+)/channel-accounts"),
        {
            "GET": Operation(list_channel_accounts, _READ_OR_WRITE),
            "POST": Operation(create_channel_account, _READ_OR_WRITE),
        },
    ),
    (
        re.compile(_CC + r"/([^/]+)/channel-accounts/([^/]+)"),
        {"GET": Operation(get_channel_account, _READ_OR_WRITE)},
    ),
    (re.compile(_CC + r"/([^/]+)/messages"), {"POST": Operation(publish_message, _WRITE)}),
    (
        re.compile(_CC + r"/([^/]+)/messages/([^/]+)"),
        {"GET": Operation(get_message, _READ), "PATCH": Operation(patch_message, _WRITE)},
    ),
    (re.compile(_INBOX + r"/threads"), {"GET": Operation(list_threads, _INBOX_READ)}),
    (re.compile(_INBOX + r"/threads/([^/]+)/messages"), {"GET": Operation(list_thread_messages, _INBOX_READ)}),
)
