"""Typed errors for the HubSpot conversation.

Every error raised by the client is a :class:`HubSpotChannelsError`. Errors that come from HubSpot carry what its
``Error`` body said (category, message, correlationId, ...) so that a task log tells support exactly which request
failed. No error text ever contains a token: the client never puts headers or request bodies of the OAuth call into
an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Re-exported: defined where the pure domain can use them too.
from airflow_provider_hubspot_channels.exceptions import HubSpotChannelsError as HubSpotChannelsError
from airflow_provider_hubspot_channels.exceptions import InvalidInputError as InvalidInputError

#: Gateway and server errors HubSpot answers during short outages (every other 5xx is treated alike).
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504, 521, 523, 524})
#: 4xx answers that say "not now" rather than "never": request timeout, lock, HubSpot's 477 (wait Retry-After).
TRANSIENT_CLIENT_STATUSES = frozenset({408, 423, 477})


@dataclass(frozen=True)
class ErrorDetails:
    """HubSpot's ``Error`` body, every field optional because HubSpot (and proxies in front of it) may omit them.

    :param status: HTTP status code of the response.
    :param category: HubSpot's error category, e.g. ``VALIDATION_ERROR``.
    :param sub_category: HubSpot's sub-category, if any.
    :param message: the human readable message.
    :param correlation_id: the id HubSpot support asks for.
    :param context: extra context, e.g. ``{"missingScopes": [...]}``.
    :param errors: the ``errors[]`` details (message, in, code, ...).
    :param policy_name: for 429 answers, the rate-limit policy (``TEN_SECONDLY_ROLLING``, ``SECONDLY``, ``DAILY``).
    """

    status: int
    category: str | None = None
    sub_category: str | None = None
    message: str | None = None
    correlation_id: str | None = None
    context: Mapping[str, list[str]] = field(default_factory=dict)
    errors: tuple[Mapping[str, Any], ...] = ()
    policy_name: str | None = None

    @property
    def is_daily_limit(self) -> bool:
        """429 with policy ``DAILY``: every call until tomorrow gets the same answer."""
        return self.status == 429 and (self.policy_name or "").upper() == "DAILY"

    @property
    def is_expired_token(self) -> bool:
        """401 ``EXPIRED_AUTHENTICATION``: a fresh token may succeed (the client refreshes and re-sends once)."""
        return self.status == 401 and self.category == "EXPIRED_AUTHENTICATION"

    @property
    def is_transient(self) -> bool:
        """An answer that a later attempt of the same request may not get: retried by the client."""
        if self.status == 429:
            return not self.is_daily_limit
        return self.status >= 500 or self.status in TRANSIENT_CLIENT_STATUSES

    @property
    def is_final(self) -> bool:
        """An answer that repeats on every retry of the same request (400, 401, 403, 404, DAILY, ...)."""
        return not self.is_transient

    @property
    def refusal_scope(self) -> str | None:
        """Which later calls get the same answer without asking: ``"*"`` (every call), ``"method"`` (every call
        with this HTTP method to the same endpoint family, e.g. a missing write scope refuses every custom-channels
        PATCH, a missing ``conversations.read`` every Inbox GET) or None (only this request)."""
        if self.is_daily_limit or (self.status == 401 and not self.is_expired_token):
            return "*"
        if self.status == 403 and self.category == "MISSING_SCOPES":
            return "method"
        return None

    def describe(self) -> str:
        """One line for logs and exceptions: status, category, message, details and correlationId."""
        parts = [f"HTTP {self.status}"]
        if self.category:
            parts.append(self.category if not self.sub_category else f"{self.category}/{self.sub_category}")
        if self.policy_name:
            parts.append(f"policy {self.policy_name}")
        text = " ".join(parts)
        if self.message:
            text += f": {self.message}"
        details = [f"{d.get('in')}: {d.get('message')}" if d.get("in") else str(d.get("message")) for d in self.errors]
        if details:
            text += f" ({'; '.join(details)})"
        for key, values in self.context.items():
            text += f" [{key}: {', '.join(values)}]"
        text += f" (correlationId: {self.correlation_id or 'none'})"
        return text


def parse_error_body(status: int, body: bytes | str | None) -> ErrorDetails:
    """Read HubSpot's ``Error`` body defensively: HTML from a gateway, an empty body or odd types are fine.

    :param status: HTTP status code.
    :param body: raw response body.
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        snippet = _plain_snippet(body or "")
        return ErrorDetails(status=status, message=snippet or None)

    def text(key: str) -> str | None:
        value = data.get(key)
        return str(value) if value is not None and not isinstance(value, (dict, list)) else None

    context: dict[str, list[str]] = {}
    raw_context = data.get("context")
    if isinstance(raw_context, dict):
        for key, values in raw_context.items():
            if isinstance(values, list):
                context[str(key)] = [str(v) for v in values]
            elif values is not None:
                context[str(key)] = [str(values)]
    raw_errors = data.get("errors")
    errors = tuple(e for e in raw_errors if isinstance(e, dict)) if isinstance(raw_errors, list) else ()
    return ErrorDetails(
        status=status,
        # HubSpot's 429 body says errorType instead of category.
        category=text("category") or text("errorType"),
        sub_category=text("subCategory"),
        message=text("message"),
        correlation_id=text("correlationId"),
        context=context,
        errors=errors,
        policy_name=text("policyName"),
    )


def _plain_snippet(body: str, limit: int = 200) -> str:
    """A short, tag-free excerpt of a non-JSON body (often an HTML error page from a gateway)."""
    import re

    text = re.sub(r"<[^>]+>", " ", body)
    text = " ".join(text.split())
    return text[:limit]


class HubSpotApiError(HubSpotChannelsError):
    """HubSpot answered with an error.

    :param details: what HubSpot's error body said.
    :param method: HTTP method of the request.
    :param path: path of the request (no query string, no token).
    """

    def __init__(self, details: ErrorDetails, *, method: str, path: str) -> None:
        self.details = details
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} failed: {details.describe()}")

    @property
    def status(self) -> int:
        """HTTP status code."""
        return self.details.status

    @property
    def retry_may_succeed(self) -> bool:
        """False for answers that repeat on retry (400, 401, 403, 404, 409, 422, DAILY, ...); True for 408, 423,
        429 (not DAILY), 477 and 5xx."""
        return self.details.is_transient

    @property
    def category(self) -> str | None:
        """HubSpot's error category."""
        return self.details.category

    @property
    def correlation_id(self) -> str | None:
        """HubSpot's correlationId for support."""
        return self.details.correlation_id


class HubSpotBadRequestError(HubSpotApiError):
    """400: HubSpot refused the request's content (``VALIDATION_ERROR``). Never retried."""


class HubSpotAuthenticationError(HubSpotApiError):
    """401: the token is unknown, revoked or expired and could not be refreshed. Never retried."""


class HubSpotPermissionError(HubSpotApiError):
    """403: the token lacks a scope (``MISSING_SCOPES``; see ``missing_scopes``). Never retried."""

    @property
    def missing_scopes(self) -> list[str]:
        """Scopes HubSpot says the token lacks."""
        return list(self.details.context.get("missingScopes", []))


class HubSpotNotFoundError(HubSpotApiError):
    """404: the channel or message does not exist for this account. Never retried."""


class HubSpotDailyLimitError(HubSpotApiError):
    """429 with policy ``DAILY``: the account's daily request limit is spent; nothing helps until tomorrow."""


class HubSpotRetriesExhaustedError(HubSpotApiError):
    """A transient answer (429, 423, 5xx) persisted through every retry the policy allows.

    :param attempts: how many requests were made.
    """

    def __init__(self, details: ErrorDetails, *, method: str, path: str, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(details, method=method, path=path)
        self.args = (f"{self.args[0]} (gave up after {attempts} attempts)",)


class HubSpotConnectionError(HubSpotChannelsError):
    """The request did not get an answer (connection refused or reset, timeout) through every retry.

    :param method: HTTP method.
    :param path: request path.
    :param attempts: how many attempts were made.
    :param reason: the last low-level error (its type, never its text).
    :param origin: scheme, host and port that were tried (never credentials), e.g. ``http://127.0.0.1:8773``.
    :param retryable: False when the failure is in the request or the setup, not the network (an invalid URL, too
        many redirects, a TLS handshake or certificate that fails): it was not retried, and a retry fails the same way.
    """

    def __init__(
        self, *, method: str, path: str, attempts: int, reason: str, origin: str = "", retryable: bool = True
    ) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        self.origin = origin
        self.retryable = retryable
        where = f" from {origin}" if origin else ""
        super().__init__(f"{method} {path} got no answer{where} after {attempts} attempts: {reason}")

    @property
    def retry_may_succeed(self) -> bool:
        """True for a network that did not answer; False for a setup that cannot work (see ``retryable``)."""
        return self.retryable


class HubSpotPaginationError(HubSpotChannelsError):
    """Cursor paging did not end (a repeated cursor, too many empty pages, too many pages): a server fault."""

    @property
    def retry_may_succeed(self) -> bool:
        """A server that pages in circles does so again."""
        return False


class HubSpotTokenRefreshError(HubSpotChannelsError):
    """The OAuth refresh was refused (revoked refresh token, wrong client secret, ...).

    :param details: HubSpot's error body of the token endpoint (never contains the secrets we sent).
    """

    def __init__(self, details: ErrorDetails, *, note: str = "") -> None:
        self.details = details
        super().__init__(f"OAuth token refresh failed: {details.describe()}" + (f"; {note}" if note else ""))

    @property
    def retry_may_succeed(self) -> bool:
        """A refused grant (wrong secret, revoked or burnt refresh token) is refused again."""
        return self.details.is_transient


class HubSpotAccountMismatchError(HubSpotTokenRefreshError):
    """The token endpoint's answer belongs to another HubSpot account than the one the credentials were stored for
    (or names none): the token is never used, and every later call of that client gets this error without asking.

    :param expected_hub_id: the account (portal id) the credentials were looked up for.
    :param answered_hub_id: the ``hub_id`` the answer named, as decimal text, or None when it named none.
    """

    def __init__(self, expected_hub_id: str, answered_hub_id: str | None) -> None:
        self.expected_hub_id = expected_hub_id
        self.answered_hub_id = answered_hub_id
        if answered_hub_id is None:
            problem = (
                f"the token answer names no account (hub_id missing or not a number), so it cannot be proven to "
                f"belong to HubSpot account {expected_hub_id}"
            )
            fix = f"check that the credentials of account {expected_hub_id} point at HubSpot's token endpoint"
        else:
            problem = (
                f"the token answer belongs to HubSpot account {answered_hub_id}, not {expected_hub_id}: the refresh "
                f"token stored for account {expected_hub_id} belongs to another account"
            )
            fix = (
                f"fix the credentials store: store account {expected_hub_id}'s own refresh token (from its "
                f"installation of the app) for it; nothing was sent to either account"
            )
        details = ErrorDetails(status=200, category="ACCOUNT_MISMATCH", message=problem)
        HubSpotChannelsError.__init__(self, f"OAuth token refused by the client: {problem}. Fix: {fix}")
        self.details = details

    @property
    def retry_may_succeed(self) -> bool:
        """The stored credentials stay wrong until someone fixes them."""
        return False


ERROR_BY_STATUS: dict[int, type[HubSpotApiError]] = {
    400: HubSpotBadRequestError,
    401: HubSpotAuthenticationError,
    403: HubSpotPermissionError,
    404: HubSpotNotFoundError,
}


def error_for(details: ErrorDetails, *, method: str, path: str) -> HubSpotApiError:
    """The typed exception for a final (not retried) error answer.

    :param details: parsed error body.
    :param method: HTTP method.
    :param path: request path.
    """
    if details.is_daily_limit:
        return HubSpotDailyLimitError(details, method=method, path=path)
    return ERROR_BY_STATUS.get(details.status, HubSpotApiError)(details, method=method, path=path)
