"""The HTTP conversation with HubSpot's Custom Channels and Conversations Inbox APIs (no Airflow imports).

One :class:`requests.Session` with a connection pool sized for concurrent batches, a token source, a rate budget
and a retry policy. Methods validate their input before any request and return HubSpot's JSON as dicts.
"""

from __future__ import annotations

import json as jsonlib
import logging
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast
from urllib.parse import urlencode

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from airflow_provider_hubspot_channels.client.auth import (
    OAUTH_TOKEN_PATH,
    OAuthRefresher,
    StaticToken,
    TokenSource,
    normalize_hub_id,
)
from airflow_provider_hubspot_channels.client.calls import Answer as Answer
from airflow_provider_hubspot_channels.client.config import MAX_EXPIRY_REFRESHES as MAX_EXPIRY_REFRESHES
from airflow_provider_hubspot_channels.client.config import ClientConfig
from airflow_provider_hubspot_channels.client.custom_channels import CustomChannelsApi
from airflow_provider_hubspot_channels.client.errors import (
    ErrorDetails,
    HubSpotApiError,
    HubSpotChannelsError,
    HubSpotConnectionError,
    HubSpotRetriesExhaustedError,
    HubSpotTokenRefreshError,
    InvalidInputError,
    error_for,
    parse_error_body,
)
from airflow_provider_hubspot_channels.client.inbox import MAX_EMPTY_PAGES as MAX_EMPTY_PAGES
from airflow_provider_hubspot_channels.client.inbox import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from airflow_provider_hubspot_channels.client.inbox import MAX_PAGES as MAX_PAGES
from airflow_provider_hubspot_channels.client.inbox import InboxApi
from airflow_provider_hubspot_channels.client.rate_budget import BudgetStopped, RateBudget
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.client.secrets import redact_details
from airflow_provider_hubspot_channels.client.transport import USER_AGENT as USER_AGENT
from airflow_provider_hubspot_channels.client.transport import AttemptDeadlinePassed, SharedTransport

log = logging.getLogger(__name__)

#: Transport failures that mean "no (complete) answer": retried like a lost answer. A body cut off mid-stream or
#: undecodable is as good as no answer.
NO_ANSWER: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class _Tally:
    """Counters of one call, for its :class:`Answer` or its error."""

    __slots__ = ("requests", "unanswered")

    def __init__(self) -> None:
        self.requests = 0
        self.unanswered = 0


class ClientStoppedError(HubSpotChannelsError):
    """The client was stopped (task killed) while a call waited or retried."""


class HubSpotChannelsClient(CustomChannelsApi, InboxApi):
    """Typed access to the HubSpot endpoints this provider needs.

    Use either ``access_token`` (static) or ``client_id`` + ``client_secret`` + ``refresh_token`` (OAuth refresh).

    :param config: URLs, versions, timeouts, retries and rate budget.
    :param access_token: a static access token, or the current OAuth access token if one is known.
    :param client_id: OAuth app client id (for refresh).
    :param client_secret: OAuth app client secret (for refresh).
    :param refresh_token: OAuth refresh token of the installation.
    :param on_new_token: called with every secret obtained at run time before it is used (Airflow: mask_secret).
    :param pool_size: HTTP connections kept open; at least the number of threads sharing the client.
    :param retry_policy: override the retry policy (tests use a seeded one).
    :param on_refresh_token_rotated: called with the new refresh token when HubSpot answers one (after
        ``on_new_token``), to persist it: HubSpot may refuse the old one from then on.
    :param expected_hub_id: the HubSpot account (portal id) these credentials were stored for: a token answer naming
        another account, or none, raises :class:`HubSpotAccountMismatchError` and its token is never used (not
        checkable with a static ``access_token``).
    :param shared: session, connection pool, deadline watchdog, redactor and usage counters shared with other
        accounts' clients (``pool_size`` is then the transport's); this client does not close it.
    """

    def __init__(
        self,
        *,
        config: ClientConfig | None = None,
        access_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        on_new_token: Callable[[str], None] = lambda _secret: None,
        pool_size: int = 10,
        retry_policy: RetryPolicy | None = None,
        on_refresh_token_rotated: Callable[[str], None] = lambda _token: None,
        expected_hub_id: str | None = None,
        shared: SharedTransport | None = None,
    ) -> None:
        self.config = config or ClientConfig()
        self._stop = threading.Event()
        # A client without a shared transport owns one of its own and closes it with itself.
        self._owns_transport = shared is None
        self._transport = shared or SharedTransport(pool_size=pool_size)
        self._redactor = self._transport.redactor
        for secret in (access_token, client_secret, refresh_token):
            self._redactor.add(secret)

        def on_new_secret(secret: str) -> None:
            self._redactor.add(secret)
            on_new_token(secret)

        self._watchdog = self._transport.watchdog
        self._attempt_seconds = self.config.attempt_seconds
        # An answer that every later call would get too (429 DAILY, a final 401; 403 MISSING_SCOPES per method and
        # endpoint family): later calls raise it again without a request, so threads in flight cannot storm HubSpot.
        # Per client: on a shared transport, one account's refused token never refuses another's calls.
        self._refusals: dict[str, ErrorDetails] = {}
        self._refusal_lock = threading.Lock()
        self.session = self._transport.session
        self._proxies = self._transport.proxies_for(self.config.base_url)
        if self._owns_transport:
            self.session.proxies.update(self._proxies)
        timeout = (self.config.connect_timeout, self.config.timeout)
        self._timeout = timeout
        # requests' own URL preparation (IDNA host, quoting) once: every call's URL is this plus encoded ids.
        root = requests.PreparedRequest()
        root.prepare_url(self.config.base_url, None)
        self._api_root = (root.url or self.config.base_url).rstrip("/")
        oauth = (client_id, client_secret, refresh_token)
        self._auth: TokenSource
        if any(oauth):
            self._auth = OAuthRefresher(
                session=self.session,
                token_url=self.config.base_url + OAUTH_TOKEN_PATH,
                client_id=client_id or "",
                client_secret=client_secret or "",
                refresh_token=refresh_token or "",
                timeout=timeout,
                on_new_token=on_new_secret,
                access_token=access_token or None,
                on_refresh_token_rotated=on_refresh_token_rotated,
                within_deadline=lambda post: self._watchdog.run(self._attempt_seconds, post, owner=self),
                redact=self.redact,
                origin=self.config.origin,
                expected_hub_id=expected_hub_id,
                proxies=self._proxies,
            )
        else:
            if access_token:
                on_new_secret(access_token)
            # A static token cannot be checked against an account: there is no token answer naming one.
            self._auth = StaticToken(access_token or "")
            if expected_hub_id is not None:
                normalize_hub_id(expected_hub_id)
        self.budget = RateBudget(max_requests=self.config.max_requests_per_10s, share=self.config.budget_share)
        #: What this client (every client of a shared transport) sent and waited for, for metrics: ``usage.snapshot()``.
        self.usage = self._transport.usage
        self.retry_policy = retry_policy or self._transport.retry_policy_for(
            self.config.max_retries, self.config.max_retry_wait
        )

    def __repr__(self) -> str:
        return (
            f"HubSpotChannelsClient(base_url={self.config.base_url!r}, api_version={self.config.api_version!r}, "
            f"auth={type(self._auth).__name__})"
        )

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Make every call give up promptly with :class:`ClientStoppedError` (task killed or timed out): waits and
        retries end, and requests in flight are cut off (a write among them may still have landed; it counts as
        unanswered)."""
        self._stop.set()
        self.budget.stop()
        self._watchdog.expire_all(owner=None if self._owns_transport else self)

    def redact(self, text: str) -> str:
        """``text`` with every form (raw, repr, JSON, URL-encoded, bytes repr) of every secret the client knows
        (static token, client secret, refresh tokens, every access token obtained) replaced by ``***``.

        :param text: e.g. an exception's text, before it is logged or reported.
        """
        return self._redactor.redact(text)

    def authenticate(self) -> None:
        """Obtain an access token now (an OAuth refresh when configured) without calling the API."""
        self._auth.token()

    def close(self) -> None:
        """Close pooled connections and stop the deadline watchdog (a shared transport's owner closes it instead)."""
        if self._owns_transport:
            self._transport.close()

    def __enter__(self) -> HubSpotChannelsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the request loop --------------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Send one API call with budget, auth, retries and typed errors.

        Every :class:`HubSpotChannelsError` it raises carries ``requests`` and ``unanswered`` like the
        :class:`Answer`, and a text without any secret.

        :param method: HTTP method.
        :param path: path below the base URL, ids already encoded.
        :param params: query parameters.
        :param json: JSON body.
        """
        tally = _Tally()
        try:
            body = self._call(method, path, params, json, tally)
        except HubSpotChannelsError as exc:
            exc.requests, exc.unanswered = tally.requests, tally.unanswered
            exc.args = tuple(self.redact(arg) if isinstance(arg, str) else arg for arg in exc.args)
            raise
        return Answer(body=body, requests=tally.requests, unanswered=tally.unanswered)

    def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Mapping[str, Any] | None,
        tally: _Tally,
    ) -> dict[str, Any]:
        url = self._api_root + path + (f"?{urlencode(params, doseq=True)}" if params else "")
        try:
            body = None if json is None else jsonlib.dumps(json, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                "body",
                f"it cannot be sent as JSON ({exc})",
                "pass strings, numbers, lists and dicts without NaN or Infinity",
            ) from None
        retries = 0
        waited = 0.0
        expiry_refreshes = 0
        while True:
            if self._stop.is_set():
                raise ClientStoppedError(f"{method} {path} not sent: the client was stopped")
            self._raise_known_refusal(method, path)
            try:
                budget_wait = self.budget.acquire()
            except BudgetStopped:
                raise ClientStoppedError(f"{method} {path} not sent: the client was stopped") from None
            if budget_wait > 0.0:
                self.usage.budget_waited(budget_wait)
            details: ErrorDetails | None = None
            headers: Mapping[str, str] = {}
            reason = ""
            unexpected = ""
            token = ""
            sent = False
            try:
                token = self._auth.token()
                prepared = self._prepare(method, url, body, token)
                tally.requests += 1
                self.usage.request_sent()
                sent = True
                response = self._watchdog.run(
                    self._attempt_seconds,
                    partial(self.session.send, prepared, timeout=self._timeout, proxies=self._proxies),
                    owner=self,
                )
            except HubSpotTokenRefreshError as exc:
                if exc.details.is_final:
                    raise
                details, reason = exc.details, str(exc)
            except HubSpotConnectionError as exc:  # the token endpoint did not answer: our own text, no secret
                reason = str(exc)
            except requests.exceptions.SSLError as exc:
                # TLS refused (a certificate that does not verify, https to a plain-HTTP port): the setup is wrong,
                # and every retry fails the same way.
                self.usage.not_answered()
                unexpected = f"{type(exc).__name__} (TLS: check the URL's scheme and the server's certificate)"
            except NO_ANSWER as exc:
                self.usage.not_answered()
                reason = _no_answer_reason(exc)
                if _went_out(exc):
                    tally.unanswered += 1  # the request went out; HubSpot may have processed it
            except HubSpotChannelsError:
                raise
            except Exception as exc:
                # Not a network failure (an invalid URL, too many redirects, a failing callback): retrying cannot
                # help. Raised below, outside this handler, so that the exception is not even its context.
                unexpected = type(exc).__name__
                if sent:
                    self.usage.not_answered()
            else:
                self.usage.answered(response.status_code)
                headers = response.headers
                self.budget.observe(headers)
                if response.status_code < 400:
                    return _json_body(response)
                details = redact_details(
                    parse_error_body(response.status_code, self.redact(response.content.decode("utf-8", "replace"))),
                    self.redact,
                )
                if details.status >= 500:  # a gateway or server error says nothing of whether the write landed
                    tally.unanswered += 1
                if (
                    details.is_expired_token
                    and expiry_refreshes < MAX_EXPIRY_REFRESHES
                    and self._auth.refresh_after_expiry(token)
                ):
                    expiry_refreshes += 1
                    continue
                reason = details.describe()
            if unexpected:
                raise HubSpotConnectionError(
                    method=method,
                    path=path,
                    attempts=retries + 1,
                    reason=f"{unexpected} while sending (not retried)",
                    origin=self.config.origin,
                    retryable=False,
                )
            retries += 1
            if self._stop.is_set():  # cut off by stop(): no retry, and the caller learns it was a stop
                raise ClientStoppedError(f"{method} {path} cut off: the client was stopped")
            delay = self.retry_policy.delay(retry_number=retries, waited=waited, details=details, headers=headers)
            if delay is None:
                if details is None:
                    raise HubSpotConnectionError(
                        method=method, path=path, attempts=retries, reason=reason, origin=self.config.origin
                    )
                if details.is_transient:
                    raise HubSpotRetriesExhaustedError(details, method=method, path=path, attempts=retries)
                self._remember_refusal(method, path, details)
                raise error_for(details, method=method, path=path)
            if details is not None and details.status == 429:
                self.budget.penalise(delay)
            log.warning("HubSpot %s %s: %s; retry %d in %.1f s", method, path, self.redact(reason), retries, delay)
            if self._stop.wait(delay):
                raise ClientStoppedError(f"{method} {path} abandoned during a retry wait: the client was stopped")
            waited += delay
            self.usage.retry_waited(delay)

    def _prepare(self, method: str, url: str, body: bytes | None, token: str) -> requests.PreparedRequest:
        """One attempt's request, built from parts that are already encoded.

        ``Session.request`` would merge the session's settings, parse and re-quote the URL and encode the body
        again on every attempt: most of requests' own CPU per call (benchmarks, scenario 4). The session still
        sends it: its adapter and pool, hooks, cookies and redirect handling are unchanged.
        """
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url
        headers = CaseInsensitiveDict(cast("Mapping[str, str]", self.session.headers))
        headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        if body is not None or method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body or b""))
        prepared.headers = headers
        prepared.body = body
        prepared.hooks = self.session.hooks
        prepared.prepare_cookies(self.session.cookies)
        return prepared

    def _remember_refusal(self, method: str, path: str, details: ErrorDetails) -> None:
        scope = details.refusal_scope
        if scope is None:
            return
        # A scope covers one method of one endpoint family: a missing write scope refuses every PATCH but not the
        # GETs, and a missing conversations.read refuses the Inbox listings but not the custom-channels GET.
        key = "*" if scope == "*" else _refusal_key(method, path)
        with self._refusal_lock:
            self._refusals.setdefault(key, details)

    def _raise_known_refusal(self, method: str, path: str) -> None:
        # Read without the lock: a dict lookup is atomic, and this runs before every request of every thread.
        details = self._refusals.get("*") or self._refusals.get(_refusal_key(method, path))
        if details is not None:
            error = error_for(details, method=method, path=path)
            error.args = (f"{error.args[0]} (not sent: an earlier call got this answer)",)
            raise error


def _refusal_key(method: str, path: str) -> str:
    """Method and endpoint family (the path's first three segments, e.g. ``/conversations/custom-channels/2026-03``
    or ``/conversations/v3/conversations``): HubSpot grants scopes per family, so a refusal is remembered per family.
    """
    return f"{method} {'/'.join(path.split('/', 4)[:4])}"


def _went_out(exc: Exception) -> bool:
    """Whether a failed attempt may have reached HubSpot: not when the connection was never made."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    cause = exc.args[0] if exc.args else None
    return not isinstance(getattr(cause, "reason", None), urllib3.exceptions.NewConnectionError)


def _no_answer_reason(exc: Exception) -> str:
    """The type of a transport failure, or that it passed the attempt deadline: never its text."""
    return str(exc) if isinstance(exc, AttemptDeadlinePassed) else type(exc).__name__


def _json_body(response: requests.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        payload = response.json()
    except ValueError:
        raise HubSpotApiError(
            ErrorDetails(status=response.status_code, message="HubSpot answered with a body that is not JSON"),
            method=response.request.method or "?",
            path=response.request.path_url.split("?")[0],
        ) from None
    return payload if isinstance(payload, dict) else {"results": payload}
