"""Settings of the HubSpot client, validated once before any request is made."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_hubspot_channels.client.errors import InvalidInputError

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_API_VERSION = "2026-03"
DEFAULT_INBOX_API_VERSION = "2026-09"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_RETRY_WAIT = 120.0
#: HubSpot grants an OAuth app 110 requests per 10 s per account; the default leaves headroom for the live
#: integration that shares the account's budget.
DEFAULT_MAX_REQUESTS_PER_10S = 100

#: Refresh-and-retry after ``401 EXPIRED_AUTHENTICATION`` at most this often per call: more than once, because the
#: fresh token can expire too while the call waits out a retry; bounded, so clock trouble cannot loop forever.
MAX_EXPIRY_REFRESHES = 2

_VERSION = re.compile(r"^(v3|\d{4}-\d{2})$")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost`` or a loopback address), where plain HTTP is allowed.

    :param host: a host name or IP address.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_base_url(value: Any, *, field: str = "host") -> str:
    """Return the base URL without a trailing slash; HTTPS is required except for loopback hosts (the simulator).

    :param value: e.g. ``https://api.hubapi.com`` or ``http://127.0.0.1:8765``.
    :param field: the name to report in the error.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(field, "it is empty", f"leave it empty for {DEFAULT_BASE_URL} or give a full URL")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    # Before any error that quotes the value: a password in it must never reach a log.
    if "@" in url:
        raise InvalidInputError(field, "it contains credentials", "put the token in the password field instead")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(field, f"{value!r} is not an http(s) URL", f"use a URL such as {DEFAULT_BASE_URL}")
    if parts.query or parts.fragment:
        raise InvalidInputError(field, "it has a query or fragment", "give only scheme, host and port")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InvalidInputError(
            field,
            f"plain http to {parts.hostname} would send the token unencrypted",
            "use https (http is allowed for 127.0.0.1/localhost only, e.g. the bundled simulator)",
        )
    return url


def _number(value: Any, *, field: str, minimum: float, maximum: float, integer: bool) -> Any:
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool):
        raise InvalidInputError(field, f"{value!r} is not {kind}", f"give {kind} from {minimum} to {maximum}")
    try:
        number = int(value) if integer else float(value)
        if integer and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInputError(field, f"{value!r} is not {kind}", f"give {kind} from {minimum} to {maximum}") from None
    if not minimum <= number <= maximum:
        raise InvalidInputError(field, f"{number} is outside {minimum}..{maximum}", f"give {kind} in that range")
    return number


@dataclass(frozen=True)
class ClientConfig:
    """How the client talks to HubSpot.

    :param base_url: API root; HTTPS unless loopback.
    :param api_version: custom-channels version segment, a date such as ``2026-03`` or ``v3`` (legacy paths).
    :param inbox_api_version: Conversations Inbox API version, ``2026-09`` or ``v3``.
    :param timeout: read timeout of one request in seconds (connect timeout is the smaller of this and 10 s); one
        attempt (API request or token POST) never takes longer than connect + read timeout in total, however
        slowly the server sends.
    :param max_retries: retries of one call after transient answers (429, 423, 5xx, no answer).
    :param max_retry_wait: total seconds one call may spend waiting between retries.
    :param max_requests_per_10s: this client's own ceiling; it also adapts to HubSpot's rate-limit headers.
    :param budget_share: the fraction (0..1] of the account's limit (from HubSpot's headers) this client may use.
    """

    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    inbox_api_version: str = DEFAULT_INBOX_API_VERSION
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    max_requests_per_10s: int = DEFAULT_MAX_REQUESTS_PER_10S
    budget_share: float = 1.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "base_url", validate_base_url(self.base_url))
        for name in ("api_version", "inbox_api_version"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _VERSION.match(value.strip()):
                raise InvalidInputError(name, f"{value!r} is not an API version", "use a date such as 2026-03, or v3")
            set_(self, name, value.strip())
        set_(self, "timeout", _number(self.timeout, field="timeout", minimum=0.1, maximum=600, integer=False))
        set_(self, "max_retries", _number(self.max_retries, field="max_retries", minimum=0, maximum=20, integer=True))
        set_(
            self,
            "max_retry_wait",
            _number(self.max_retry_wait, field="max_retry_wait", minimum=0, maximum=3600, integer=False),
        )
        set_(
            self,
            "max_requests_per_10s",
            _number(self.max_requests_per_10s, field="max_requests_per_10s", minimum=1, maximum=100_000, integer=True),
        )
        share = _number(self.budget_share, field="budget_share", minimum=0.01, maximum=1.0, integer=False)
        set_(self, "budget_share", share)

    @property
    def connect_timeout(self) -> float:
        """Seconds to wait for a TCP connection."""
        return min(self.timeout, 10.0)

    @property
    def attempt_seconds(self) -> float:
        """Total deadline of one attempt (an API request or a token POST), however slowly the server answers."""
        return self.connect_timeout + self.timeout

    @property
    def origin(self) -> str:
        """Scheme, host and port the client connects to (for errors: never credentials), e.g.
        ``https://api.hubapi.com:443``."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://{host}:{port}"

    def worst_case_call_seconds(self) -> float:
        """Upper bound of one client call against a hung or failing server, excluding rate-budget waits.

        A call makes at most ``max_retries + 1`` attempts plus :data:`MAX_EXPIRY_REFRESHES` re-sends after
        ``401 EXPIRED_AUTHENTICATION``; each may first need a token POST; every request (API or token) is bounded
        by :attr:`attempt_seconds`, and the waits between attempts by ``max_retry_wait``.
        """
        requests_at_most = (self.max_retries + 1 + MAX_EXPIRY_REFRESHES) * 2
        return requests_at_most * self.attempt_seconds + self.max_retry_wait
