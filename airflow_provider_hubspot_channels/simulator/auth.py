"""Access tokens, scopes and the OAuth refresh grant.

One OAuth app (one client id and secret) is installed in every simulated account; each refresh token and each
access token belongs to one account (its ``hub_id``), and the refresh grant answers that account's ``hub_id``, as
HubSpot's token endpoint does. Tokens minted without a ``hub_id`` belong to the default account. Assumptions where
HubSpot is silent or vague:

* An access token stays valid until it expires, even after a refresh issued a newer one (HubSpot documents no
  revocation on refresh).
* With refresh-token rotation on, a refresh token is single use: the grant answers a new one and the old one is
  revoked. HubSpot's refresh tokens normally do not rotate, so rotation is off by default.
* OAuth errors are answered with 400 and a body that has HubSpot's ``status``/``message``/``correlationId`` keys
  plus ``category`` (same value as ``status``) so it also fits the ``Error`` schema.
* The token endpoint is not counted against the per-account API rate limit (HubSpot limits OAuth separately).
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .responses import Reply, error_payload, json_reply

CUSTOM_CHANNELS_READ = "conversations.custom_channels.read"
CUSTOM_CHANNELS_WRITE = "conversations.custom_channels.write"
CONVERSATIONS_READ = "conversations.read"
CONVERSATIONS_WRITE = "conversations.write"
ALL_SCOPES: tuple[str, ...] = (
    "oauth",
    CUSTOM_CHANNELS_READ,
    CUSTOM_CHANNELS_WRITE,
    CONVERSATIONS_READ,
    CONVERSATIONS_WRITE,
)


@dataclass
class AccessToken:
    """A bearer token.

    :param token: the token text.
    :param scopes: the scopes granted.
    :param expires_at: wall-clock expiry (``time.time()`` seconds), or None for never.
    :param hub_id: the account it belongs to.
    """

    token: str
    scopes: frozenset[str]
    expires_at: float | None
    hub_id: int


@dataclass
class RefreshToken:
    """A refresh token.

    :param token: the token text.
    :param scopes: scopes of the access tokens it mints.
    :param hub_id: the account it belongs to (and every access token it mints).
    :param revoked: whether it was revoked (or rotated away).
    """

    token: str
    scopes: frozenset[str]
    hub_id: int
    revoked: bool = False


@dataclass(frozen=True)
class AuthResult:
    """Outcome of checking a bearer token.

    :param status: ``ok``, ``missing``, ``unknown`` or ``expired``.
    :param token: the token record when known.
    """

    status: str
    token: AccessToken | None = None


class TokenStore:
    """Tokens of the simulated accounts and the one OAuth app installed in each.

    :param lifetime: seconds an access token lives (``expires_in``).
    :param rotate_refresh_tokens: whether a refresh grant replaces the refresh token.
    :param hub_id: the default account's portal id (of tokens minted without one).
    """

    def __init__(self, *, lifetime: float, rotate_refresh_tokens: bool, hub_id: int) -> None:
        self.lifetime = lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.hub_id = hub_id
        self.client_id = str(uuid.uuid4())
        self.client_secret = str(uuid.uuid4())
        self._lock = threading.Lock()
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}

    def issue_access(
        self, scopes: Iterable[str] = ALL_SCOPES, lifetime: float | None = None, *, hub_id: int | None = None
    ) -> str:
        """Mint an access token.

        :param scopes: scopes to grant.
        :param lifetime: seconds until expiry; the store's default when None; ``float("inf")`` for never.
        :param hub_id: the account it belongs to; the default account when None.
        """
        seconds = self.lifetime if lifetime is None else lifetime
        # HubSpot access tokens are opaque strings of up to 300 characters; the prefix marks ours.
        token = "sim-at-" + secrets.token_urlsafe(36)
        expires_at = None if seconds == float("inf") else time.time() + seconds
        with self._lock:
            self._access[token] = AccessToken(token, frozenset(scopes), expires_at, self._hub(hub_id))
        return token

    def add_access(self, token: str, scopes: Iterable[str] = ALL_SCOPES, *, hub_id: int | None = None) -> None:
        """Register a fixed token that never expires (e.g. a token named on the command line).

        :param token: the token text.
        :param scopes: scopes to grant.
        :param hub_id: the account it belongs to; the default account when None.
        """
        with self._lock:
            self._access[token] = AccessToken(token, frozenset(scopes), None, self._hub(hub_id))

    def issue_refresh(self, scopes: Iterable[str] = ALL_SCOPES, *, hub_id: int | None = None) -> str:
        """Mint a refresh token.

        :param scopes: scopes of the access tokens it will mint.
        :param hub_id: the account it belongs to; the default account when None.
        """
        token = f"na1-{secrets.token_hex(2)}-{uuid.uuid4()}"
        with self._lock:
            self._refresh[token] = RefreshToken(token, frozenset(scopes), self._hub(hub_id))
        return token

    def hub_of(self, authorization: str | None) -> int | None:
        """The account of a known bearer token (expired or not), or None.

        :param authorization: the ``Authorization`` header value.
        """
        token = self.check(authorization).token
        return None if token is None else token.hub_id

    def _hub(self, hub_id: int | None) -> int:
        return self.hub_id if hub_id is None else hub_id

    def expire(self, token: str) -> None:
        """Make an access token expired from now on.

        :param token: the token text.
        :raises KeyError: unknown token.
        """
        with self._lock:
            self._access[token].expires_at = time.time() - 1.0

    def expire_all(self) -> None:
        """Make every access token issued so far expired (HubSpot ending tokens early, e.g. after a reinstall)."""
        with self._lock:
            for access in self._access.values():
                access.expires_at = time.time() - 1.0

    def revoke_refresh(self, token: str) -> None:
        """Revoke a refresh token.

        :param token: the token text.
        :raises KeyError: unknown token.
        """
        with self._lock:
            self._refresh[token].revoked = True

    def check(self, authorization: str | None) -> AuthResult:
        """Check an ``Authorization`` header value.

        :param authorization: the header value, e.g. ``Bearer abc``.
        """
        if not authorization:
            return AuthResult("missing")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AuthResult("unknown")
        with self._lock:
            record = self._access.get(token.strip())
        if record is None:
            return AuthResult("unknown")
        if record.expires_at is not None and record.expires_at <= time.time():
            return AuthResult("expired", record)
        return AuthResult("ok", record)

    def refresh_grant(self, form: Mapping[str, str]) -> Reply:
        """Answer ``POST /oauth/2026-03/token`` (or ``/oauth/v1/token``) with a form-decoded body.

        :param form: the form fields.
        """
        grant_type = form.get("grant_type", "")
        if grant_type != "refresh_token":
            return _oauth_error("BAD_GRANT_TYPE", f"unsupported grant_type: {grant_type or 'missing'}")
        if form.get("client_id") != self.client_id:
            return _oauth_error("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != self.client_secret:
            return _oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        old = form.get("refresh_token", "")
        with self._lock:
            record = self._refresh.get(old)
            if record is None or record.revoked:
                record = None
            elif self.rotate_refresh_tokens:
                record.revoked = True
        if record is None:
            return _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        refresh = self.issue_refresh(record.scopes, hub_id=record.hub_id) if self.rotate_refresh_tokens else old
        access = self.issue_access(record.scopes, hub_id=record.hub_id)
        body: dict[str, Any] = {
            "token_type": "bearer",
            "token_use": "access_token",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": int(self.lifetime),
            "hub_id": record.hub_id,
            "scopes": sorted(record.scopes),
        }
        reply = json_reply(200, body)
        reply.hub_id = record.hub_id
        return reply


def _oauth_error(status: str, message: str) -> Reply:
    payload = error_payload(status, message)
    payload["status"] = status
    return json_reply(400, payload, [("X-HubSpot-Correlation-Id", payload["correlationId"])])
