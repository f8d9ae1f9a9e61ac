"""The HTTP conversation with HubSpot's Custom Channels and Conversations Inbox APIs (no Airflow imports).

One :class:`requests.Session` with a connection pool sized for concurrent batches, a token source, a rate budget
and a retry policy. Methods validate their input before any request and return HubSpot's JSON as dicts.
"""

from __future__ import annotations

import itertools
import json as jsonlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast
from urllib.parse import quote, urlencode

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from airflow_provider_hubspot_channels.client.auth import (
    OAUTH_TOKEN_PATH,
    OAuthRefresher,
    StaticToken,
    TokenSource,
)
from airflow_provider_hubspot_channels.client.config import MAX_EXPIRY_REFRESHES as MAX_EXPIRY_REFRESHES
from airflow_provider_hubspot_channels.client.config import ClientConfig
from airflow_provider_hubspot_channels.client.errors import (
    ErrorDetails,
    HubSpotApiError,
    HubSpotChannelsError,
    HubSpotConnectionError,
    HubSpotPaginationError,
    HubSpotRetriesExhaustedError,
    HubSpotTokenRefreshError,
    InvalidInputError,
    error_for,
    parse_error_body,
)
from airflow_provider_hubspot_channels.client.rate_budget import BudgetStopped, RateBudget
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.client.secrets import Redactor, redact_details
from airflow_provider_hubspot_channels.client.transport import (
    AttemptDeadlinePassed,
    NoCookies,
    PoolPerOriginAdapter,
    Watchdog,
)
from airflow_provider_hubspot_channels.validation import (
    StatusUpdate,
    build_status_update,
    validate_channel_id,
    validate_message_id,
)

log = logging.getLogger(__name__)

#: HubSpot does not document the page-size maximum of the Inbox API; 100 is known to work.
MAX_PAGE_SIZE = 100
USER_AGENT = "airflow-provider-hubspot-channels"
#: Cursor paging stops with :class:`HubSpotPaginationError` after this many pages of one listing, and after this
#: many empty pages in a row that still name a next cursor: a server fault must not page forever.
MAX_PAGES = 10_000
MAX_EMPTY_PAGES = 10


#: Transport failures that mean "no (complete) answer": retried like a lost answer. A body cut off mid-stream or
#: undecodable is as good as no answer.
NO_ANSWER: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class Answer:
    """What one call got, and what it went through to get it.

    :param body: HubSpot's JSON answer (``{}`` if none).
    :param requests: HTTP requests the call sent to the API endpoint: the first attempt, retries and re-sends after
        ``401 EXPIRED_AUTHENTICATION`` (token POSTs are not counted).
    :param unanswered: attempts that went out and got no usable answer (reset, timeout, cut-off body, 5xx) before a
        later one: a write may have been applied more than once (with the same value; HubSpot keeps no
        idempotency key).
    """

    body: dict[str, Any]
    requests: int
    unanswered: int


class _Tally:
    """Counters of one call, for its :class:`Answer` or its error."""

    __slots__ = ("requests", "unanswered")

    def __init__(self) -> None:
        self.requests = 0
        self.unanswered = 0


class ClientStoppedError(HubSpotChannelsError):
    """The client was stopped (task killed) while a call waited or retried."""


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
    :param on_refresh_token_rotated: called with the new refresh token when HubSpot answers one (after
        ``on_new_token``), to persist it: HubSpot may refuse the old one from then on.
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
    ) -> None:
        self.config = config or ClientConfig()
        self._stop = threading.Event()
        self._redactor = Redactor()
        for secret in (access_token, client_secret, refresh_token):
            self._redactor.add(secret)

        def on_new_secret(secret: str) -> None:
            self._redactor.add(secret)
            on_new_token(secret)

        self._watchdog = Watchdog()
        self._attempt_seconds = self.config.attempt_seconds
        # An answer that every later call would get too (429 DAILY, a final 401; 403 MISSING_SCOPES per method and
        # endpoint family): later calls raise it again without a request, so threads in flight cannot storm HubSpot.
        self._refusals: dict[str, ErrorDetails] = {}
        self._refusal_lock = threading.Lock()
        self.session = requests.Session()
        # requests re-reads proxy and CA settings from the environment on every call (trust_env), a measurable share
        # of the client's CPU per request; read them once here instead.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.config.base_url))
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.trust_env = False
        adapter = PoolPerOriginAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        del self.session.headers["Connection"]  # keep-alive is HTTP/1.1's default: one header less per request
        self.session.cookies = NoCookies()
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
                within_deadline=lambda post: self._watchdog.run(self._attempt_seconds, post),
                redact=self.redact,
                origin=self.config.origin,
            )
        else:
            if access_token:
                on_new_secret(access_token)
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
        """Make every call give up promptly with :class:`ClientStoppedError` (task killed or timed out): waits and
        retries end, and requests in flight are cut off (a write among them may still have landed; it counts as
        unanswered)."""
        self._stop.set()
        self.budget.stop()
        self._watchdog.expire_all()

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
        """Close pooled connections and stop the deadline watchdog."""
        self.session.close()
        self._watchdog.close()

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
        """:meth:`send`, returning only the JSON body (``{}`` if none).

        :param method: HTTP method.
        :param path: path below the base URL, ids already encoded.
        :param params: query parameters.
        :param json: JSON body.
        """
        return self.send(method, path, params=params, json=json).body

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
                self.budget.acquire()
            except BudgetStopped:
                raise ClientStoppedError(f"{method} {path} not sent: the client was stopped") from None
            details: ErrorDetails | None = None
            headers: Mapping[str, str] = {}
            reason = ""
            unexpected = ""
            token = ""
            try:
                token = self._auth.token()
                prepared = self._prepare(method, url, body, token)
                tally.requests += 1
                response = self._watchdog.run(
                    self._attempt_seconds,
                    partial(self.session.send, prepared, timeout=self._timeout, proxies=self.session.proxies),
                )
            except HubSpotTokenRefreshError as exc:
                if exc.details.is_final:
                    raise
                details, reason = exc.details, str(exc)
            except HubSpotConnectionError as exc:  # the token endpoint did not answer: our own text, no secret
                reason = str(exc)
            except NO_ANSWER as exc:
                reason = _no_answer_reason(exc)
                if _went_out(exc):
                    tally.unanswered += 1  # the request went out; HubSpot may have processed it
            except HubSpotChannelsError:
                raise
            except Exception as exc:
                # Not a network failure (an invalid URL, too many redirects, a failing callback): retrying cannot
                # help. Raised below, outside this handler, so that the exception is not even its context.
                unexpected = type(exc).__name__
            else:
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

    # -- custom channels ---------------------------------------------------------------------------------------

    def get_channel(self, channel_id: int | str) -> dict[str, Any]:
        """Read a custom channel (``PublicChannelIntegrationChannel``); a cheap authenticated call.

        :param channel_id: the channel's numeric id.
        """
        channel = validate_channel_id(channel_id)
        return self.request("GET", f"{self._channels_root()}/{channel}")

    def read_message(self, channel_id: int | str, message_id: str) -> Answer:
        """Read one message, including its current ``status`` (``PublicConversationsMessage``), with what the call
        went through.

        Needs scope ``conversations.custom_channels.read``.

        :param channel_id: the channel's numeric id.
        :param message_id: the message id (opaque).
        """
        channel = validate_channel_id(channel_id)
        message = validate_message_id(message_id)
        return self.send("GET", f"{self._channels_root()}/{channel}/messages/{_segment(message)}")

    def get_message(self, channel_id: int | str, message_id: str) -> dict[str, Any]:
        """The body of :meth:`read_message`.

        :param channel_id: the channel's numeric id.
        :param message_id: the message id (opaque).
        """
        return self.read_message(channel_id, message_id).body

    def write_status(self, update: StatusUpdate) -> Answer:
        """Report a validated status update; the answer's body is the updated message.

        Needs scope ``conversations.custom_channels.write``. ``Answer.unanswered`` > 0 means the PATCH may have been
        applied more than once (with the same value).

        :param update: from :func:`~airflow_provider_hubspot_channels.validation.build_status_update`.
        """
        return self.send(
            "PATCH",
            f"{self._channels_root()}/{update.channel_id}/messages/{_segment(update.message_id)}",
            json=update.body(),
        )

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
        return self.write_status(build_status_update(channel_id, message_id, status_type, error_message)).body

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
        params = {"sort": "createdAt", "limit": _page_size(page_size)}
        for page in self._pages(self._thread_messages_path(thread_id), params):
            yield from _page_items(page.body)

    def list_thread_messages(self, thread_id: int | str, *, max_pages: int) -> Answer:
        """A thread's entries (messages, comments, ...), newest first, at most ``max_pages`` pages of 100, with the
        requests all pages cost.

        Needs scope ``conversations.read``. Newest first because the messages a reconciliation asks about are the
        recent ones. An error raised on a later page carries the requests of the pages before it too.

        :param thread_id: the thread's id.
        :param max_pages: pages to read at most.
        :returns: ``body = {"results": [...]}``, plus HubSpot's ``paging`` (with ``next``) when the thread has more
            than ``max_pages`` pages.
        """
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise InvalidInputError("max_pages", f"{max_pages!r} is not a positive integer", "pass 1 or more")
        path = self._thread_messages_path(thread_id)
        results: list[dict[str, Any]] = []
        requests_sent = unanswered = 0
        body: dict[str, Any] = {}
        pages = self._pages(path, {"limit": MAX_PAGE_SIZE})
        try:
            for number, page in enumerate(pages, 1):
                requests_sent += page.requests
                unanswered += page.unanswered
                results.extend(_page_items(page.body))
                if number >= max_pages:
                    body = page.body
                    break
        except HubSpotChannelsError as exc:
            exc.requests += requests_sent
            exc.unanswered += unanswered
            raise
        finally:
            pages.close()
        listing: dict[str, Any] = {"results": results}
        if _next_cursor(body):
            listing["paging"] = body["paging"]
        return Answer(body=listing, requests=requests_sent, unanswered=unanswered)

    def _thread_messages_path(self, thread_id: int | str) -> str:
        thread = str(thread_id).strip() if isinstance(thread_id, (int, str)) and not isinstance(thread_id, bool) else ""
        if not thread.isdigit() or not thread.isascii():
            raise InvalidInputError("thread_id", f"{thread_id!r} is not a numeric id", "pass the thread's id")
        return f"{self._inbox_root()}/threads/{thread}/messages"

    def _paged(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for page in self._pages(path, params):
            yield from _page_items(page.body)

    def _pages(self, path: str, params: dict[str, Any]) -> Generator[Answer, None, None]:
        """Each page of a cursor-paged listing, stopping with :class:`HubSpotPaginationError` when paging does not
        end."""
        after: str | None = None
        seen_cursors: set[str] = set()
        empty_pages = 0
        for pages in itertools.count(1):
            page = self.send("GET", path, params={**params, **({"after": after} if after else {})})
            yield page
            after = _next_cursor(page.body)
            if not after:
                return
            if after in seen_cursors:  # a repeating cursor would page forever
                raise HubSpotPaginationError(f"GET {path} returned the cursor {after!r} twice; stopping pagination")
            seen_cursors.add(after)
            empty_pages = 0 if _page_items(page.body) else empty_pages + 1
            if empty_pages >= MAX_EMPTY_PAGES:
                raise HubSpotPaginationError(
                    f"GET {path} returned {empty_pages} empty pages in a row, each with a new cursor; "
                    "stopping pagination"
                )
            if pages >= MAX_PAGES:
                raise HubSpotPaginationError(f"GET {path} still had more after {pages} pages; stopping pagination")


def _page_items(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    results = page.get("results")
    return [item for item in results if isinstance(item, dict)] if isinstance(results, list) else []


def _next_cursor(page: Mapping[str, Any]) -> str | None:
    paging = page.get("paging")
    next_page = paging.get("next") if isinstance(paging, dict) else None
    after = next_page.get("after") if isinstance(next_page, dict) else None
    return str(after) if after else None


def _refusal_key(method: str, path: str) -> str:
    """Method and endpoint family (the path's first three segments, e.g. ``/conversations/custom-channels/2026-03``
    or ``/conversations/v3/conversations``): HubSpot grants scopes per family, so a refusal is remembered per family.
    """
    return f"{method} {'/'.join(path.split('/', 4)[:4])}"


def _page_size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInputError("page_size", f"{value!r} is not 1..{MAX_PAGE_SIZE}", f"use 1 to {MAX_PAGE_SIZE}")
    return value


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
