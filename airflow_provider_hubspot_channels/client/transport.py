"""The client's transport: one connection pool per origin, no cookies, and a total deadline per attempt.

``requests``' timeout bounds each socket operation, not the attempt: a server that sends one byte every few
tenths of a second holds an attempt for as long as it likes. A :class:`Watchdog` thread shuts the in-flight
connection's socket down when the attempt's deadline passes, whatever the attempt is doing (sending, waiting for
headers, reading the body), for http and https alike: the shutdown acts on the TCP socket below TLS. The socket is
found through the connection classes the adapter gives its pools, which register it with the calling thread's
attempt.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import requests
import requests.utils
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection

from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.client.secrets import Redactor
from airflow_provider_hubspot_channels.client.usage import UsageCounters

T = TypeVar("T")
#: Seconds the watchdog thread waits without any attempt before it ends (the next attempt starts it again), so that
#: a client nobody closes leaves no thread behind.
IDLE_EXIT_SECONDS = 5.0


class AttemptDeadlinePassed(requests.Timeout):
    """An attempt got no complete answer within its total deadline (connect + read timeout)."""


class _Attempt:
    """One attempt under watch: its deadline and, once connected, its socket."""

    __slots__ = ("deadline", "done", "expired", "lock", "owner", "sock")

    def __init__(self, deadline: float, lock: threading.Condition, owner: object) -> None:
        self.deadline = deadline
        self.lock = lock
        self.owner = owner
        self.sock: socket.socket | None = None
        self.expired = False
        self.done = False


_current = threading.local()  # the attempt the calling thread is making, for the connection classes


def _shut(sock: socket.socket | None) -> None:
    if sock is None:
        return
    # The plain socket's shutdown, also for a TLS socket: it ends the TCP connection under TLS without touching
    # the TLS state another thread is reading with. OSError: already closed.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(sock: socket.socket | None) -> None:
    """Register the calling thread's socket with its attempt; shut it at once if the deadline already passed."""
    attempt: _Attempt | None = getattr(_current, "attempt", None)
    if attempt is None or sock is None:
        return
    with attempt.lock:
        attempt.sock = sock
        if attempt.expired:
            _shut(sock)


class _DeadlineHTTPConnection(HTTPConnection):
    """An HTTP connection that shows its socket to the calling thread's attempt deadline."""

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection: connected before this attempt began
        super().request(*args, **kwargs)


class _DeadlineHTTPSConnection(HTTPSConnection):
    """An HTTPS connection that shows its socket to the calling thread's attempt deadline."""

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)


DEADLINE_CONNECTIONS: dict[str, type[HTTPConnection]] = {
    "http": _DeadlineHTTPConnection,
    "https": _DeadlineHTTPSConnection,
}


class Watchdog:
    """Ends attempts that pass their deadline; one thread per client, started on first use, ended by ``close`` or
    after :data:`IDLE_EXIT_SECONDS` without attempts."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def run(self, seconds: float, call: Callable[[], T], *, owner: object = None) -> T:
        """Run one attempt; raise :class:`AttemptDeadlinePassed` if it did not finish within ``seconds``.

        :param seconds: the attempt's total deadline.
        :param call: sends the request and reads the whole answer.
        :param owner: whose attempt it is (a client sharing the watchdog), for :meth:`expire_all`.
        """
        attempt = _Attempt(time.monotonic() + seconds, self._cond, owner)
        self._arm(attempt)
        outer = getattr(_current, "attempt", None)
        _current.attempt = attempt
        try:
            result = call()
        except Exception:
            if attempt.expired:
                raise AttemptDeadlinePassed(self._message(seconds)) from None
            raise
        finally:
            _current.attempt = outer
            with self._cond:
                attempt.done = True
        if attempt.expired:  # finished as the socket was shut: the answer may be cut short
            raise AttemptDeadlinePassed(self._message(seconds))
        return result

    @staticmethod
    def _message(seconds: float) -> str:
        return f"no complete answer within the attempt deadline of {seconds:g} s"

    def _arm(self, attempt: _Attempt) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._closed = False
                self._thread = threading.Thread(target=self._loop, name="hubspot-client-deadlines", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (attempt.deadline, next(self._order), attempt))
            if self._heap[0][2] is attempt:  # sooner than what the thread sleeps for
                self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    if not self._cond.wait(IDLE_EXIT_SECONDS) and not self._heap:
                        self._thread = None  # under the lock: the next attempt starts a new thread
                        return
                    continue
                deadline, _, attempt = self._heap[0]
                now = time.monotonic()
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                if not attempt.done:
                    attempt.expired = True
                    _shut(attempt.sock)

    def expire_all(self, owner: object = None) -> None:
        """End every attempt in flight now (the client was stopped): their sockets are shut, their calls raise.

        :param owner: end only this owner's attempts (one of many clients sharing the watchdog); None: all.
        """
        with self._cond:
            kept = []
            for entry in self._heap:
                attempt = entry[2]
                if owner is not None and attempt.owner is not owner:
                    kept.append(entry)
                elif not attempt.done:
                    attempt.expired = True
                    _shut(attempt.sock)
            self._heap = kept
            heapq.heapify(self._heap)
            self._cond.notify()

    def close(self) -> None:
        """Stop the thread (attempts still running keep their deadline only until then)."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)


class PoolPerOriginAdapter(HTTPAdapter):
    """An :class:`HTTPAdapter` that finds a request's connection pool once per origin and TLS settings.

    The stock adapter parses the URL, selects a proxy and looks the pool up in urllib3's ``PoolManager`` on every
    request; that lookup takes the manager's lock, which the client's threads then queue for. This client talks to
    one origin with fixed proxy and TLS settings, so the pool is remembered after the first request. Each new pool
    makes its connections with :data:`DEADLINE_CONNECTIONS`, so that the :class:`Watchdog` can end an attempt.
    Needs requests >= 2.32.2, where ``get_connection_with_tls_context`` became the adapter's hook.
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
        pool.ConnectionCls = DEADLINE_CONNECTIONS.get(pool.scheme, pool.ConnectionCls)  # type: ignore[misc]
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


class NoCookies(requests.cookies.RequestsCookieJar):
    """A cookie jar that keeps nothing: every call authenticates with its bearer token.

    Cookies HubSpot's edge may set (load balancing, bot management) carry nothing this client needs, and the
    standard jar parses every answer for them under a lock that the client's threads would queue for.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


USER_AGENT = "airflow-provider-hubspot-channels"


class SharedTransport:
    """What the clients of many HubSpot accounts share: one session (one connection pool per origin), one deadline
    watchdog, one redactor (every account's secrets are removed from every client's texts) and one set of usage
    counters. A client built without one makes its own and closes it with itself; a shared one is closed by its
    owner (:class:`~airflow_provider_hubspot_channels.client.accounts.MultiAccountClient`), once.

    :param pool_size: HTTP connections kept open per origin, for all the clients together; at least the number of
        threads sending at once.
    """

    def __init__(self, *, pool_size: int = 10) -> None:
        self.pool_size = max(1, pool_size)
        self.watchdog = Watchdog()
        self.redactor = Redactor()
        #: What every client on this transport sent and waited for: ``usage.snapshot()``.
        self.usage = UsageCounters()
        self._proxies: dict[str, dict[str, str]] = {}
        self._retry_policies: dict[tuple[int, float], RetryPolicy] = {}
        session = requests.Session()
        # requests re-reads proxy and CA settings from the environment on every call (trust_env), a measurable share
        # of the client's CPU per request; read them once here instead (proxies once per base URL: proxies_for).
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.trust_env = False
        adapter = PoolPerOriginAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        session.headers["Accept"] = "application/json"
        del session.headers["Connection"]  # keep-alive is HTTP/1.1's default: one header less per request
        session.cookies = NoCookies()
        self.session = session

    def __repr__(self) -> str:
        return f"SharedTransport(pool_size={self.pool_size})"

    def proxies_for(self, base_url: str) -> dict[str, str]:
        """The environment's proxies for ``base_url``, read once per base URL (one dict shared by its clients).

        :param base_url: a client's API root.
        """
        proxies = self._proxies.get(base_url)
        if proxies is None:
            proxies = self._proxies.setdefault(base_url, dict(requests.utils.get_environ_proxies(base_url)))
        return proxies

    def retry_policy_for(self, max_retries: int, max_total_wait: float) -> RetryPolicy:
        """One retry policy per setting, shared by the clients using it (its jitter generator is most of a client's
        memory otherwise).

        :param max_retries: retries of one call.
        :param max_total_wait: seconds one call may wait between retries in total.
        """
        key = (max_retries, max_total_wait)
        policy = self._retry_policies.get(key)
        if policy is None:
            policy = self._retry_policies.setdefault(
                key, RetryPolicy(max_retries=max_retries, max_total_wait=max_total_wait)
            )
        return policy

    def close(self) -> None:
        """Close pooled connections and stop the deadline watchdog."""
        self.session.close()
        self.watchdog.close()
