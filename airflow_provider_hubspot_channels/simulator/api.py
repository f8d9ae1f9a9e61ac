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
parameters, query and body (400), existence (404). The bearer token names the account: the rate limit, headers
and data of that account answer, so another account's message or channel is 404 ``OBJECT_NOT_FOUND``, as for an
id that does not exist (HubSpot does not reveal that another account has it). No refusal changes state (a
transition refused in strict mode is only noted in the inspection history). Assumptions where HubSpot is silent
or differs:

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

import math
import re
import time
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs

from .auth import CONVERSATIONS_READ, CUSTOM_CHANNELS_READ, CUSTOM_CHANNELS_WRITE
from .calls import ApiContext, Call, Endpoint, Operation
from .channels_api import (
    ACCOUNTS_DEFAULT_LIMIT,
    create_channel_account,
    get_channel,
    get_channel_account,
    get_message,
    list_channel_accounts,
    patch_message,
    publish_message,
)
from .inbox_api import THREADS_DEFAULT_LIMIT, list_thread_messages, list_threads
from .params import MAX_LIMIT, MAX_MESSAGE_ID_LENGTH, id_problem, message_id_problem, parse_query
from .responses import Refusal, Reply, error_reply, rate_limit_reply, validation_error

__all__ = [
    "ACCOUNTS_DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_MESSAGE_ID_LENGTH",
    "OAUTH_TOKEN_PATH",
    "ROUTES",
    "THREADS_DEFAULT_LIMIT",
    "ApiContext",
    "Call",
    "Endpoint",
    "Operation",
    "handle",
    "id_problem",
    "message_id_problem",
    "token_endpoint",
]

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
    account = ctx.accounts.get(auth.token.hub_id) if auth.token is not None else None
    if auth.status != "ok" or auth.token is None or account is None:
        if auth.status == "expired" and auth.token is not None and auth.token.expires_at is not None:
            minutes = max(0, math.floor((time.time() - auth.token.expires_at) / 60))
            reply = error_reply(
                401,
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {minutes} minute(s) ago.",
            )
            reply.hub_id = auth.token.hub_id
            return reply
        return error_reply(401, "INVALID_AUTHENTICATION", _NO_AUTH_MESSAGE)

    # Each account has its own limit (HubSpot: per installed account), so one busy account never slows another.
    decision = account.limiter.acquire()
    if not decision.allowed:
        reply = rate_limit_reply(decision.policy or "TEN_SECONDLY_ROLLING", decision.headers)
        reply.hub_id = account.hub_id
        return reply

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
            call = Call(ctx, account, path, match.groups(), parse_query(query_string), body)
            reply = operation.endpoint(call)
        except Refusal as refusal:
            reply = refusal.reply
    reply.headers.extend(decision.headers)
    reply.hub_id = account.hub_id
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
