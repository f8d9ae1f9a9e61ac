"""The HTTP conversation with HubSpot's Custom Channels and Conversations Inbox APIs (no Airflow imports).

One :class:`requests.Session` with a connection pool sized for concurrent batches, a token source, a rate budget
and a retry policy. Methods validate their input before any request and return HubSpot's JSON as dicts.
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote, urlencode

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPConnectionPool

from airflow_provider_hubspot_channels.client.auth import (
    OAUTH_TOKEN_PATH,
    OAuthRefresher,
    StaticToken,
    TokenSource,
    is_refusal,
)
from airflow_provider_hubspot_channels.client.config import ClientConfig
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
from airflow_provider_hubspot_channels.client.rate_budget import BudgetStopped, RateBudget
from airflow_provider_hubspot_channels.client.retry import RETRYABLE_SERVER_STATUSES, RetryPolicy
from airflow_provider_hubspot_channels.validation import (
    build_status_update,
    validate_channel_id,
    validate_message_id,
)

log = logging.getLogger(__name__)

#: HubSpot does not document the page-size maximum of the Inbox API; 100 is known to work.
MAX_PAGE_SIZE = 100
USER_AGENT = "airflow-provider-hubspot-channels"
#: Refresh-and-retry after ``401 EXPIRED_AUTHENTICATION`` at most this often per call: more than once, because the
#: fresh token can expire too while the call waits out a retry; bounded, so clock trouble cannot loop forever.
MAX_EXPIRY_REFRESHES = 2


#: Transport failures that mean "no (complete) answer": retried like a lost answer. A body cut off mid-stream or
#: undecodable is as good as no answer.
NO_ANSWER: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    HubSpotConnectionError,  # the token endpoint did not answer
)


class ClientStoppedError(HubSpotChannelsError):
    """The client was stopped (task killed) while a call waited or retried."""


class _PoolPerOriginAdapter(HTTPAdapter):
    """An :class:`HTTPAdapter` that finds a request's connection pool once per origin and TLS settings.

    The stock adapter parses the URL, selects a proxy and looks the pool up in urllib3's ``PoolManager`` on every
    request; that lookup takes the manager's lock, which the client's threads then queue for. This client talks to
    one origin with fixed proxy and TLS settings, so the pool is remembered after the first request.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pools: dict[tuple[Any, ...], HTTPConnectionPool] = {}

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: str | tuple[str, str] | None = None,
    ) -> HTTPConnectionPool:
        url = request.url or ""
        origin = url[: url.find("/", url.find("//") + 2)]
        key = (origin, verify, cert, tuple(sorted((proxies or {}).items())))
        cached = self._pools.get(key)
        if cached is not None and cached.pool is not None:  # None: closed since (urllib3 1.x closes what it evicts)
            return cached
        pool = cast(
            HTTPConnectionPool, super().get_connection_with_tls_context(request, verify, dict(proxies or {}), cert)
        )
        self._pools[key] = pool
        return pool

    def request_url(self, request: requests.PreparedRequest, proxies: Mapping[str, str] | None) -> str:
        if not proxies:  # the common case, without parsing the URL and selecting a proxy again
            return request.path_url
        return super().request_url(request, dict(proxies))

    def close(self) -> None:
        # urllib3 2.x no longer closes the pools its manager drops: close the remembered ones here (taken out first:
        # a thread still finishing a request may remember a pool meanwhile).
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
        super().close()


class _NoCookies(requests.cookies.RequestsCookieJar):
    """A cookie jar that keeps nothing: every call authenticates with its bearer token.

    Cookies HubSpot's edge may set (load balancing, bot management) carry nothing this client needs, and the
    standard jar parses every answer for them under a lock that the client's threads would queue for.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


def _segment(value: object) -> str:
    """One URL path segment: ids are opaque and may hold '/', '?' or '#'."""
    return quote(str(value), safe="")


class HubSpotChannelsClient:
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
    ) -> None:
        self.config = config or ClientConfig()
        self._stop = threading.Event()
        self._local = threading.local()  # per thread: what the last call went through
        # An answer that every later call would get too (429 DAILY, a final 401, 403 MISSING_SCOPES per method):
        # later calls raise it again without a request, so threads in flight cannot storm HubSpot with them.
        self._refusals: dict[str, ErrorDetails] = {}
        self._refusal_lock = threading.Lock()
        self.session = requests.Session()
        # requests re-reads proxy and CA settings from the environment on every call (trust_env), a measurable share
        # of the client's CPU per request; read them once here instead.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.config.base_url))
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.trust_env = False
        adapter = _PoolPerOriginAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        del self.session.headers["Connection"]  # keep-alive is HTTP/1.1's default: one header less per request
        self.session.cookies = _NoCookies()
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
                on_new_token=on_new_token,
                access_token=access_token or None,
            )
        else:
            if access_token:
                on_new_token(access_token)
            self._auth = StaticToken(access_token or "")
        self.budget = RateBudget(max_requests=self.config.max_requests_per_10s, share=self.config.budget_share)
        self.retry_policy = retry_policy or RetryPolicy(
            max_retries=self.config.max_retries, max_total_wait=self.config.max_retry_wait
        )

    def __repr__(self) -> str:
        return (
            f"HubSpotChannelsClient(base_url={self.config.base_url!r}, api_version={self.config.api_version!r}, "
            f"auth={type(self._auth).__name__})"
        )

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Make waiting and retrying calls give up promptly with :class:`ClientStoppedError` (task killed)."""
        self._stop.set()
        self.budget.stop()

    def unanswered_attempts(self) -> int:
        """Attempts of this thread's last call that got no usable answer (reset, read timeout, 5xx) before a retry.

        After a successful write with such attempts, HubSpot may have applied the write more than once (with the
        same value: status updates are idempotent by value, but HubSpot keeps no idempotency key).
        """
        return int(getattr(self._local, "unanswered", 0))

    def authenticate(self) -> None:
        """Obtain an access token now (an OAuth refresh when configured) without calling the API."""
        self._auth.token()

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def __enter__(self) -> HubSpotChannelsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths -------------------------------------------------------------------------------------------------

    def _channels_root(self) -> str:
        version = self.config.api_version
        if version == "v3":
            return "/conversations/v3/custom-channels"
        return f"/conversations/custom-channels/{version}"

    def _inbox_root(self) -> str:
        version = self.config.inbox_api_version
        if version == "v3":
            return "/conversations/v3/conversations"
        return f"/conversations/conversations/{version}"

    # -- the request loop --------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one API call with budget, auth, retries and typed errors; returns the JSON body (``{}`` if none).

        :param method: HTTP method.
        :param path: path below the base URL, ids already encoded.
        :param params: query parameters.
        :param json: JSON body.
        """
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
        self._local.unanswered = 0
        while True:
            if self._stop.is_set():
                raise ClientStoppedError(f"{method} {path} not sent: the client was stopped")
            self._raise_known_refusal(method, path)
            try:
                self.budget.acquire()
            except BudgetStopped:
                raise ClientStoppedError(f"{method} {path} not sent: the client was stopped") from None
            details: ErrorDetails | None = None
            headers: Mapping[str, str] = {}
            reason = ""
            try:
                token = self._auth.token()
                response = self.session.send(
                    self._prepare(method, url, body, token), timeout=self._timeout, proxies=self.session.proxies
                )
            except HubSpotTokenRefreshError as exc:
                if is_refusal(exc.details):
                    raise
                details, reason = exc.details, str(exc)
            except NO_ANSWER as exc:
                # Only the exception type: requests' messages can contain the URL, never a token, but keep it short.
                reason = type(exc).__name__
                if not isinstance(exc, (HubSpotConnectionError, requests.ConnectTimeout)):
                    self._local.unanswered += 1  # the request went out; HubSpot may have processed it
            except requests.RequestException as exc:
                # Not a network failure (an invalid URL, too many redirects, ...): retrying cannot help.
                raise HubSpotConnectionError(
                    method=method, path=path, attempts=retries + 1, reason=type(exc).__name__
                ) from None
            else:
                headers = response.headers
                self.budget.observe(headers)
                if response.status_code < 400:
                    return _json_body(response)
                details = parse_error_body(response.status_code, response.content)
                if details.status >= 500:  # a gateway or server error says nothing of whether the write landed
                    self._local.unanswered += 1
                if (
                    details.status == 401
                    and details.category == "EXPIRED_AUTHENTICATION"
                    and expiry_refreshes < MAX_EXPIRY_REFRESHES
                    and self._auth.refresh_after_expiry(token)
                ):
                    expiry_refreshes += 1
                    continue
                reason = details.describe()
            retries += 1
            delay = self.retry_policy.delay(retry_number=retries, waited=waited, details=details, headers=headers)
            if delay is None:
                if details is None:
                    raise HubSpotConnectionError(method=method, path=path, attempts=retries, reason=reason)
                if _is_transient(details):
                    raise HubSpotRetriesExhaustedError(details, method=method, path=path, attempts=retries)
                self._remember_refusal(method, details)
                raise error_for(details, method=method, path=path)
            if details is not None and details.status == 429:
                self.budget.penalise(delay)
            log.warning("HubSpot %s %s: %s; retry %d in %.1f s", method, path, reason, retries, delay)
            if self._stop.wait(delay):
                raise ClientStoppedError(f"{method} {path} abandoned during a retry wait: the client was stopped")
            waited += delay

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

    def _remember_refusal(self, method: str, details: ErrorDetails) -> None:
        daily = details.status == 429 and (details.policy_name or "").upper() == "DAILY"
        if daily or (details.status == 401 and details.category != "EXPIRED_AUTHENTICATION"):
            key = "*"
        elif details.status == 403 and details.category == "MISSING_SCOPES":
            key = method  # a missing write scope refuses every PATCH, not the GETs
        else:
            return
        with self._refusal_lock:
            self._refusals.setdefault(key, details)

    def _raise_known_refusal(self, method: str, path: str) -> None:
        # Read without the lock: a dict lookup is atomic, and this runs before every request of every thread.
        details = self._refusals.get("*") or self._refusals.get(method)
        if details is not None:
            error = error_for(details, method=method, path=path)
            error.args = (f"{error.args[0]} (not sent: an earlier call got this answer)",)
            raise error

    # -- custom channels ---------------------------------------------------------------------------------------

    def get_channel(self, channel_id: int | str) -> dict[str, Any]:
        """Read a custom channel (``PublicChannelIntegrationChannel``); a cheap authenticated call.

        :param channel_id: the channel's numeric id.
        """
        channel = validate_channel_id(channel_id)
        return self.request("GET", f"{self._channels_root()}/{channel}")

    def get_message(self, channel_id: int | str, message_id: str) -> dict[str, Any]:
        """Read one message, including its current ``status`` (``PublicConversationsMessage``).

        Needs scope ``conversations.custom_channels.read``.

        :param channel_id: the channel's numeric id.
        :param message_id: the message id (opaque).
        """
        channel = validate_channel_id(channel_id)
        message = validate_message_id(message_id)
        return self.request("GET", f"{self._channels_root()}/{channel}/messages/{_segment(message)}")

    def update_message_status(
        self,
        channel_id: int | str,
        message_id: str,
        status_type: str,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Report a message's delivery outcome; returns the updated message.

        Needs scope ``conversations.custom_channels.write``. Input is validated before any request.

        :param channel_id: the channel's numeric id.
        :param message_id: the message id (opaque).
        :param status_type: ``SENT``, ``READ`` or ``FAILED`` (any case).
        :param error_message: what agents see for a FAILED message, at most 500 characters.
        """
        update = build_status_update(channel_id, message_id, status_type, error_message)
        return self.request(
            "PATCH",
            f"{self._channels_root()}/{update.channel_id}/messages/{_segment(update.message_id)}",
            json=update.body(),
        )

    def publish_message(
        self,
        channel_id: int | str,
        *,
        channel_account_id: str,
        text: str,
        senders: Sequence[Mapping[str, Any]],
        recipients: Sequence[Mapping[str, Any]],
        message_direction: str = "INCOMING",
        timestamp: str | None = None,
        rich_text: str | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
        integration_thread_id: str | None = None,
        in_reply_to_id: str | None = None,
        integration_idempotency_id: str | None = None,
    ) -> dict[str, Any]:
        """Publish a message over the channel (``ChannelIntegrationMessageEgg``); returns the created message.

        Needs scope ``conversations.custom_channels.write``.

        :param channel_id: the channel's numeric id.
        :param channel_account_id: the channel account it belongs to.
        :param text: plain text of the message.
        :param senders: participants, each with ``deliveryIdentifier`` ``{type, value}`` and optional ``name``.
        :param recipients: participants like ``senders``.
        :param message_direction: ``INCOMING`` (from a customer) or ``OUTGOING``.
        :param timestamp: ISO 8601 time of the message; now if omitted.
        :param rich_text: optional HTML body.
        :param attachments: HubSpot attachment objects.
        :param integration_thread_id: your thread id, to group messages in one HubSpot thread.
        :param in_reply_to_id: id of the message this one answers.
        :param integration_idempotency_id: your id that makes re-publishing safe; a random one per call if omitted,
            so that the client's own retries never publish twice.
        """
        channel = validate_channel_id(channel_id)
        if not isinstance(channel_account_id, str) or not channel_account_id.strip():
            raise InvalidInputError("channel_account_id", "it is empty", "pass the id of the channel account")
        if not isinstance(text, str):
            raise InvalidInputError("text", f"{text!r} is not a string", "pass the message text")
        direction = message_direction.upper() if isinstance(message_direction, str) else message_direction
        if direction not in ("INCOMING", "OUTGOING"):
            raise InvalidInputError(
                "message_direction", f"{message_direction!r} is unknown", "use INCOMING or OUTGOING"
            )
        for field, people in (("senders", senders), ("recipients", recipients)):
            for i, person in enumerate(people):
                identifier = person.get("deliveryIdentifier") if isinstance(person, Mapping) else None
                if not isinstance(identifier, Mapping) or not identifier.get("type") or not identifier.get("value"):
                    raise InvalidInputError(
                        f"{field}[{i}]",
                        "it has no deliveryIdentifier with type and value",
                        'give {"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+1555..."}}',
                    )
        body: dict[str, Any] = {
            "channelAccountId": channel_account_id,
            "messageDirection": direction,
            "text": text,
            "senders": [dict(p) for p in senders],
            "recipients": [dict(p) for p in recipients],
            "attachments": [dict(a) for a in attachments],
            "timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        optional = {
            "richText": rich_text,
            "integrationThreadId": integration_thread_id,
            "inReplyToId": in_reply_to_id,
            # A POST is retried after a lost answer like every call; the idempotency id makes HubSpot answer the
            # message it already created instead of publishing a duplicate the customer would see.
            "integrationIdempotencyId": integration_idempotency_id or str(uuid.uuid4()),
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return self.request("POST", f"{self._channels_root()}/{channel}/messages", json=body)

    # -- Conversations Inbox API (discovery without an integrator store) --------------------------------------

    def iter_threads(
        self,
        *,
        inbox_id: int | str,
        latest_message_timestamp_after: str,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Threads of one inbox with a message after a time, oldest activity first, following cursor pages.

        Needs scope ``conversations.read``.

        :param inbox_id: the inbox (HubSpot accepts one per query).
        :param latest_message_timestamp_after: ISO 8601 time; threads with activity after it.
        :param page_size: results per page, 1..100.
        """
        inbox = validate_channel_id(inbox_id, field="inbox_id")
        params = {
            "inboxId": inbox,
            "sort": "latestMessageTimestamp",
            "latestMessageTimestampAfter": latest_message_timestamp_after,
            "limit": _page_size(page_size),
        }
        yield from self._paged(f"{self._inbox_root()}/threads", params)

    def iter_thread_messages(self, thread_id: int | str, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every entry of a thread (messages, comments, ...), oldest first, following cursor pages.

        Needs scope ``conversations.read``.

        :param thread_id: the thread's id.
        :param page_size: results per page, 1..100.
        """
        thread = str(thread_id).strip()
        if not thread.isdigit():
            raise InvalidInputError("thread_id", f"{thread_id!r} is not a numeric id", "pass the thread's id")
        params = {"sort": "createdAt", "limit": _page_size(page_size)}
        yield from self._paged(f"{self._inbox_root()}/threads/{thread}/messages", params)

    def _paged(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        after: str | None = None
        seen_cursors: set[str] = set()
        while True:
            page = self.request("GET", path, params={**params, **({"after": after} if after else {})})
            results = page.get("results")
            yield from (item for item in results or [] if isinstance(item, dict))
            next_page = (page.get("paging") or {}).get("next") or {}
            after = next_page.get("after") if isinstance(next_page, dict) else None
            if not after:
                return
            if after in seen_cursors:  # a repeating cursor would page forever
                raise HubSpotChannelsError(f"GET {path} returned the cursor {after!r} twice; stopping pagination")
            seen_cursors.add(after)


def _page_size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInputError("page_size", f"{value!r} is not 1..{MAX_PAGE_SIZE}", f"use 1 to {MAX_PAGE_SIZE}")
    return value


def _is_transient(details: ErrorDetails) -> bool:
    if details.status == 429:
        return (details.policy_name or "").upper() != "DAILY"
    return details.status in RETRYABLE_SERVER_STATUSES or details.status in (423, 477)


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
