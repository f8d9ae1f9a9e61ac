"""Access tokens: a static one, or OAuth 2.0 refresh ahead of expiry.

HubSpot's advice: a 401 is not the signal to refresh; refresh ahead of ``expires_in`` (tokens live 30 minutes).
An ``EXPIRED_AUTHENTICATION`` answer still triggers a refresh-and-retry (at most twice per call), for clocks that
drift or tokens revoked early. Refreshing is serialised: when many threads need a token at once, one refreshes and
the others reuse it. Every new token goes to ``on_new_token`` (Airflow's ``mask_secret``) before anything else is
done with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

from airflow_provider_hubspot_channels.client.errors import (
    ErrorDetails,
    HubSpotAccountMismatchError,
    HubSpotConnectionError,
    HubSpotTokenRefreshError,
    InvalidInputError,
    parse_error_body,
)
from airflow_provider_hubspot_channels.client.secrets import redact_details, validate_secret
from airflow_provider_hubspot_channels.client.transport import AttemptDeadlinePassed

log = logging.getLogger(__name__)

OAUTH_TOKEN_PATH = "/oauth/2026-03/token"
#: What a refusal after a refresh without an answer means, and what to do about it.
BURNT_REFRESH_TOKEN_NOTE = (
    "an earlier refresh attempt got no answer; if HubSpot rotated the refresh token then, the old one is now "
    "refused: re-authorize the installation and update the connection's refresh_token"
)
#: Refresh when this share of the token's lifetime is left (at most 5 minutes before expiry).
REFRESH_AHEAD_SHARE = 0.2
REFRESH_AHEAD_MAX = 300.0
#: HubSpot's portal ids are positive 64-bit integers.
MAX_HUB_ID = 2**63 - 1


def _decimal(value: object) -> str | None:
    """A positive account id as decimal text without leading zeros, or None when ``value`` is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 1 <= value <= MAX_HUB_ID else None
    if isinstance(value, str):
        text = value.strip()
        # ASCII only: int() would also read other scripts' digits, which no HubSpot answer uses.
        if text.isascii() and text.isdigit() and len(text) <= 40 and 1 <= int(text) <= MAX_HUB_ID:
            return str(int(text))
    return None


def normalize_hub_id(value: object, *, field: str = "expected_hub_id") -> str:
    """A HubSpot account id (portal id) as decimal text, e.g. ``"0243"`` -> ``"243"``.

    :param value: a positive int or a string of ASCII digits (outer whitespace ignored).
    :param field: the argument to name in the error.
    """
    text = _decimal(value)
    if text is None:
        raise InvalidInputError(
            field,
            f"{value!r} is not a HubSpot account id",
            f"give the account's portal id, a whole number from 1 to {MAX_HUB_ID} (e.g. 243842089)",
        )
    return text


def check_hub_id(expected: str, answered: object) -> None:
    """Raise :class:`HubSpotAccountMismatchError` unless ``answered`` (the token answer's ``hub_id``) is ``expected``.

    :param expected: the account the credentials were stored for (any decimal text of it).
    :param answered: the ``hub_id`` value of the token answer, as parsed from JSON (missing: None).
    """
    want = normalize_hub_id(expected)
    if isinstance(answered, int) and not isinstance(answered, bool):
        got: str | None = str(answered)  # a negative or huge number still names what was answered
    else:
        got = _decimal(answered)
    if got is None or (_decimal(got) or got) != want:
        raise HubSpotAccountMismatchError(want, got)


class TokenSource(Protocol):
    """Where the client gets the bearer token of each request."""

    def token(self) -> str:
        """A token valid for the next request."""

    def refresh_after_expiry(self, expired: str) -> bool:
        """HubSpot said ``expired`` is expired: refresh if possible; False if this source cannot refresh.

        :param expired: the token HubSpot refused.
        """


class StaticToken:
    """A fixed access token (the connection's password).

    :param access_token: the token; never shown in ``repr``.
    """

    def __init__(self, access_token: str) -> None:
        if not isinstance(access_token, str) or not access_token.strip():
            raise InvalidInputError(
                "password", "no access token", "set the access token as the password, or configure OAuth refresh"
            )
        self._token = validate_secret(access_token, field="password")

    def __repr__(self) -> str:
        return "StaticToken(access_token=***)"

    def token(self) -> str:
        """The configured token."""
        return self._token

    def refresh_after_expiry(self, expired: str) -> bool:
        """A static token cannot be refreshed.

        :param expired: unused.
        """
        return False


class OAuthRefresher:
    """Keeps an OAuth access token fresh with the refresh-token grant.

    :param session: the client's HTTP session.
    :param token_url: full URL of HubSpot's token endpoint.
    :param client_id: the app's client id.
    :param client_secret: the app's client secret.
    :param refresh_token: the installation's refresh token (HubSpot may rotate it; the newest is kept).
    :param timeout: ``(connect, read)`` seconds for the token request.
    :param on_new_token: called with every new secret (access and refresh token) before it is used.
    :param access_token: a still-valid access token to start with, if known.
    :param clock: monotonic clock (injected in tests).
    :param on_refresh_token_rotated: called with a new refresh token HubSpot answered (after ``on_new_token``),
        so that it can be persisted: the old one may be refused from now on.
    :param within_deadline: runs the token POST under the client's per-attempt deadline.
    :param redact: removes known secrets from error text.
    :param origin: scheme, host and port of the token endpoint, for the no-answer error.
    :param expected_hub_id: the HubSpot account the refresh token was stored for; an answer naming another account
        (or none) raises :class:`HubSpotAccountMismatchError` and its token is never used.
    :param proxies: proxies for the token POST (the session's own when None).
    """

    def __init__(
        self,
        *,
        session: requests.Session,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        timeout: tuple[float, float],
        on_new_token: Callable[[str], None],
        access_token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_refresh_token_rotated: Callable[[str], None] = lambda _token: None,
        within_deadline: Callable[[Callable[[], requests.Response]], requests.Response] = lambda post: post(),
        redact: Callable[[str], str] = lambda text: text,
        origin: str = "",
        expected_hub_id: str | None = None,
        proxies: dict[str, str] | None = None,
    ) -> None:
        secrets = {"client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token}
        for field, value in secrets.items():
            if not isinstance(value, str) or not value.strip():
                raise InvalidInputError(
                    field, "it is empty", "give client_id, client_secret and refresh_token together for OAuth refresh"
                )
        self._expected_hub_id = None if expected_hub_id is None else normalize_hub_id(expected_hub_id)
        self._proxies = proxies
        self._session = session
        self._token_url = token_url
        self._client_id = validate_secret(client_id, field="client_id")
        self._client_secret = validate_secret(client_secret, field="client_secret")
        self._refresh_token = validate_secret(refresh_token, field="refresh_token")
        if access_token:
            access_token = validate_secret(access_token, field="password")
        self._timeout = timeout
        self._on_new_token = on_new_token
        self._on_rotated = on_refresh_token_rotated
        self._within_deadline = within_deadline
        self._redact = redact
        self._origin = origin
        self._clock = clock
        # A token POST went out and got no answer (or a 5xx) since the last good one: HubSpot may have rotated the
        # refresh token then, so a refusal now may mean the old one is burnt, not that it was wrong all along.
        self._unanswered_refresh = False
        self._lock = threading.Lock()
        # The token and the time to refresh it, replaced together so that a reader without the lock sees a pair.
        # An access token given without its expiry is used until HubSpot says it expired.
        self._current: tuple[str | None, float] = (access_token, float("inf") if access_token else -float("inf"))
        # A refresh HubSpot refused (revoked refresh token, wrong secret) stays refused: threads that waited for
        # the lock must not each ask again (a retry storm against the token endpoint).
        self._refused: ErrorDetails | None = None
        # A token answer of another account: every later refresh would get the same, so none is asked for.
        self._mismatch: HubSpotAccountMismatchError | None = None
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"OAuthRefresher(token_url={self._token_url!r}, client_id={self._client_id!r}, secrets=***)"

    def token(self) -> str:
        """A token valid for the next request, refreshed first when it is close to expiry."""
        # Every request of every thread asks: while the token is fresh, without the lock (it serialises refreshes).
        token, refresh_at = self._current
        if token is not None and self._clock() < refresh_at:
            return token
        with self._lock:
            token, refresh_at = self._current
            if token is None or self._clock() >= refresh_at:
                self._refresh()
                token = self._current[0]
            assert token is not None
            return token

    def refresh_after_expiry(self, expired: str) -> bool:
        """Make the next :meth:`token` refresh, unless another thread already replaced ``expired``.

        The refresh itself happens in :meth:`token`, inside the client's request loop, so that a token endpoint
        that fails transiently (5xx, reset) is retried like any other call instead of failing the batch.

        :param expired: the token HubSpot refused.
        """
        with self._lock:
            if self._current[0] == expired:
                self._current = (expired, -float("inf"))
        return True

    def _refresh(self) -> None:
        if self._refused is not None:
            raise self._refusal(self._refused)
        if self._mismatch is not None:
            raise HubSpotAccountMismatchError(self._mismatch.expected_hub_id, self._mismatch.answered_hub_id)
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        try:
            response = self._within_deadline(
                lambda: self._session.post(self._token_url, data=form, timeout=self._timeout, proxies=self._proxies)
            )
        except requests.RequestException as exc:
            if not isinstance(exc, requests.ConnectTimeout):
                self._unanswered_refresh = True
            raise HubSpotConnectionError(
                method="POST",
                path=OAUTH_TOKEN_PATH,
                attempts=1,
                reason=_reason(exc),
                origin=self._origin,
            ) from None
        if response.status_code != 200:
            text = self._redact(response.content.decode("utf-8", "replace"))
            details = redact_details(parse_error_body(response.status_code, text), self._redact)
            if is_refusal(details):
                self._refused = details
                raise self._refusal(details)
            self._unanswered_refresh = self._unanswered_refresh or details.status >= 500
            raise HubSpotTokenRefreshError(details)
        self._unanswered_refresh = False
        payload = _json_object(response)
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise HubSpotTokenRefreshError(
                ErrorDetails(status=response.status_code, message="the token answer has no access_token")
            )
        self._on_new_token(access_token)
        rotated = payload.get("refresh_token")
        if self._expected_hub_id is not None:
            try:
                check_hub_id(self._expected_hub_id, payload.get("hub_id"))
            except HubSpotAccountMismatchError as exc:
                # Masked like any secret that reached the process, but neither used nor stored: a rotated refresh
                # token here is another account's, and keeping it for this account would repeat the mix-up.
                if isinstance(rotated, str) and rotated.strip():
                    self._on_new_token(rotated)
                self._mismatch = exc
                raise
        # The rotated refresh token first: HubSpot may already refuse the old one, whatever is wrong with the rest.
        if isinstance(rotated, str) and rotated.strip() and rotated.strip() != self._refresh_token:
            self._on_new_token(rotated)
            self._refresh_token = validate_secret(rotated, field="refresh_token")
            try:
                self._on_rotated(self._refresh_token)
            except Exception as exc:
                log.error(
                    "HubSpot rotated the refresh token, and storing the new one failed (%s): the next run will need "
                    "a re-authorized installation unless the connection's refresh_token is updated",
                    type(exc).__name__,
                )
        access_token = validate_secret(access_token, field="access_token")
        lifetime = payload.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, (int, float)) and lifetime > 0 else 1800.0
        self._current = (
            access_token,
            self._clock() + lifetime - min(REFRESH_AHEAD_MAX, lifetime * REFRESH_AHEAD_SHARE),
        )
        self.refresh_count += 1

    def _refusal(self, details: ErrorDetails) -> HubSpotTokenRefreshError:
        return HubSpotTokenRefreshError(details, note=BURNT_REFRESH_TOKEN_NOTE if self._unanswered_refresh else "")


def is_refusal(details: ErrorDetails) -> bool:
    """Whether a token endpoint's error answer refuses the credentials (final), not a transient 429 or 5xx.

    :param details: the token endpoint's error answer.
    """
    return details.is_final


def _reason(exc: Exception) -> str:
    """The type of a failure, or that it hit the attempt deadline: never its text (it may quote a header)."""
    return str(exc) if isinstance(exc, AttemptDeadlinePassed) else type(exc).__name__


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return payload if isinstance(payload, dict) else {}
