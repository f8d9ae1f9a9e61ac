"""The simulator's server and its Python API, :class:`HubSpotSimulator`.

The server binds 127.0.0.1 only (never other interfaces: the simulator has no real security), serves each
connection on its own daemon thread, and on :meth:`HubSpotSimulator.stop` shuts down the listener, wakes and closes
every open connection, and joins every thread it started.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .account import AccountData, SimulatedAccount
from .api import ApiContext
from .auth import TokenStore
from .faults import FaultConfig, FaultPlan, LatencyModel
from .handler import SimulatorApp, SimulatorHandler
from .metrics import Metrics, RequestLogEntry
from .rate_limit import RateLimiter
from .scenarios import DEFAULT_COUNTS
from .state import FIRST_THREAD_ID, SimulatorState

HOST = "127.0.0.1"
DEFAULT_HUB_ID = 20260301
#: Thread ids each account can generate before its range meets the next account's.
THREAD_ID_RANGE = 100_000_000


class SimulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its connections and threads, so that it can stop without leftovers.

    :param port: TCP port on 127.0.0.1; 0 picks a free one.
    :param app: what the handlers serve.
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, port: int, app: SimulatorApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._connections: dict[Any, threading.Thread] = {}
        # Every connection thread still alive: a thread leaves _connections when its socket closes, a moment
        # before it ends, and stop must wait for that moment too.
        self._live_threads: set[threading.Thread] = set()
        # serve_forever() polls for shutdown every poll_interval; a wake-up socket makes stopping immediate.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._closing = False
        self._stopped = threading.Event()
        super().__init__((HOST, port), SimulatorHandler)

    def serve(self) -> None:
        """Accept connections until :meth:`stop_serving`."""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_reader, selectors.EVENT_READ)
                while not self._closing:
                    for key, _ in selector.select():
                        if key.fileobj is self.socket and not self._closing:
                            self._accept()
        finally:
            self._stopped.set()

    def _accept(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.shutdown_request(request)

    def stop_serving(self, timeout: float) -> None:
        """Make :meth:`serve` return now and wait for it.

        :param timeout: seconds to wait.
        """
        self._closing = True
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        """Close the listener and the wake-up sockets."""
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse DNS lookup of the host name (slow in sandboxes)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve a new connection on its own, tracked, daemon thread.

        :param request: the connection's socket.
        :param client_address: the peer address.
        """
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="hubspot-simulator-connection",
            daemon=True,
        )
        with self._lock:  # started under the lock: close_connections must never join a thread not yet started
            self._connections[request] = thread
            self._live_threads = {t for t in self._live_threads if t.is_alive()}
            self._live_threads.add(thread)
            thread.start()

    def shutdown_request(self, request: Any) -> None:
        """Forget and close a finished connection.

        :param request: the connection's socket.
        """
        with self._lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: resets, client timeouts and stops make broken connections routine here.

        :param request: the connection's socket.
        :param client_address: the peer address.
        """

    def close_connections(self, timeout: float) -> bool:
        """Wake every connection thread (even one idle in keep-alive) and wait for it to end.

        :param timeout: seconds to wait in total.
        :returns: True when every connection thread has ended.
        """
        with self._lock:
            sockets = list(self._connections)
            threads = list(self._live_threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)


class HubSpotSimulator(AccountData):
    """A local stand-in for HubSpot's Custom Channels, Conversations Inbox and OAuth APIs.

    Use as a context manager (or call :meth:`start` and :meth:`stop`)::

        with HubSpotSimulator(rate_limit=110, latency=0.02) as sim:
            message = sim.add_message(1001)
            requests.patch(f"{sim.base_url}/conversations/custom-channels/2026-03/1001/messages/{message['id']}",
                           json={"statusType": "SENT"}, headers={"Authorization": f"Bearer {sim.access_token}"})

    Many accounts: one OAuth app (:attr:`client_id`, :attr:`client_secret`) installed in every account added with
    :meth:`add_account`, each with its own data, tokens and rate limiter; the simulator's own data methods
    (``add_message``, ``get_message``, ...) and tokens act on the default account (:attr:`hub_id`).

    :param port: TCP port on 127.0.0.1; 0 (default) picks a free one.
    :param rate_limit: requests per rolling window per account, or None for no limit (and no rate headers).
    :param rate_window_seconds: length of the rolling window (HubSpot: 10 s; shorter in tests).
    :param daily_limit: requests per UTC day, or None.
    :param latency: seconds added to every answer.
    :param latency_jitter: up to this many further seconds per answer, drawn from the seed.
    :param faults: what to inject; None injects nothing.
    :param seed: seed of faults, jitter and generated ids.
    :param token_lifetime: seconds an access token lives (HubSpot: 1800).
    :param rotate_refresh_tokens: make refresh tokens single use (the grant answers a new one).
    :param strict_transitions: refuse PATCHes that change a message whose status is READ or FAILED.
    :param hub_id: the default account's portal id.
    :param seed_defaults: create channel 1001, channel account 2001 and inbox 3001.
    :param access_token: a fixed access token (every scope, never expires) instead of a generated one.
    :param request_log_limit: keep at most this many request log entries.
    :param idle_timeout: seconds an idle keep-alive connection is kept open.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        rate_limit: int | None = 110,
        rate_window_seconds: float = 10.0,
        daily_limit: int | None = None,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        faults: FaultConfig | None = None,
        seed: int = 0,
        token_lifetime: float = 1800.0,
        rotate_refresh_tokens: bool = False,
        strict_transitions: bool = False,
        hub_id: int = DEFAULT_HUB_ID,
        seed_defaults: bool = True,
        access_token: str | None = None,
        request_log_limit: int | None = 100_000,
        idle_timeout: float = 60.0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError("port must be within 0..65535")
        self.requested_port = port
        self.seed = seed
        self.idle_timeout = idle_timeout
        # Every account gets the same limits and behaviour (HubSpot's limit is per installed account).
        self._limits = (rate_limit, rate_window_seconds, daily_limit)
        self._strict_transitions = strict_transitions
        self._seed_defaults = seed_defaults
        self.tokens = TokenStore(lifetime=token_lifetime, rotate_refresh_tokens=rotate_refresh_tokens, hub_id=hub_id)
        self._accounts_lock = threading.Lock()
        self._accounts: dict[int, SimulatedAccount] = {}
        state = SimulatorState(seed=seed, strict_transitions=strict_transitions)
        default = self._default = self._new_account(hub_id, state, access_token)
        self._hub_id = hub_id
        self.state = default.state
        self.limiter = default.limiter
        self.fault_plan = FaultPlan(faults, seed)
        self.latency = LatencyModel(latency, latency_jitter, seed)
        self.metrics = Metrics(request_log_limit)
        self.ctx = ApiContext(self.tokens, default, self._accounts)
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    #: The simulator's own :meth:`seed_scenario` records name no account (the task connection's account).
    names_portal = False

    def _new_account(self, hub_id: int, state: SimulatorState, access_token: str | None = None) -> SimulatedAccount:
        account = SimulatedAccount(
            hub_id,
            tokens=self.tokens,
            limiter=RateLimiter(*self._limits),
            state=state,
            seed=self.seed,
            access_token=access_token,
        )
        if self._seed_defaults:
            state.seed_defaults()
        self._accounts[hub_id] = account
        return account

    # ------------------------------------------------------------------------------------------- accounts

    def add_account(self, hub_id: int | None = None) -> SimulatedAccount:
        """Install the app in one more account: its own data (default channel 1001, account 2001, inbox 3001
        unless ``seed_defaults=False``), tokens and rate limiter, with the simulator's limits. Safe while serving.

        :param hub_id: its portal id; the next free one after the default account's when None.
        :raises ValueError: not positive, or the account exists.
        """
        with self._accounts_lock:
            if hub_id is None:
                hub_id = max(self._accounts) + 1
            if hub_id < 1:
                raise ValueError(f"hub_id must be a positive portal id, got {hub_id}")
            if hub_id in self._accounts:
                raise ValueError(f"account {hub_id} already exists")
            # Ids and phone numbers differ per account and stay reproducible for one seed; thread ids get a range
            # per account (HubSpot's are unique across accounts), channel 1001 exists in each.
            state = SimulatorState(
                seed=f"{self.seed}:{hub_id}",
                strict_transitions=self._strict_transitions,
                first_thread_id=FIRST_THREAD_ID + len(self._accounts) * THREAD_ID_RANGE,
            )
            return self._new_account(hub_id, state)

    def account(self, hub_id: int) -> SimulatedAccount:
        """One account (the default one too).

        :param hub_id: its portal id.
        :raises KeyError: no such account.
        """
        try:
            return self._accounts[hub_id]
        except KeyError:
            raise KeyError(f"no account {hub_id}; known: {sorted(self._accounts)[:10]}") from None

    def accounts(self) -> list[SimulatedAccount]:
        """Every account, the default one first, then in the order they were added."""
        with self._accounts_lock:
            return list(self._accounts.values())

    def seed_accounts(
        self,
        accounts: int,
        messages_per_account: int,
        *,
        seed: int = 0,
        scenario: str = "reconciliation",
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Seed a scenario into each of the first ``accounts`` accounts (adding accounts as needed, the default one
        first) and return the integrator's records, each naming its account as ``portal_id`` (decimal text).

        :param accounts: number of accounts.
        :param messages_per_account: records per account.
        :param seed: seed of the scenarios (each account draws its own ids from it).
        :param scenario: ``reconciliation``, ``smoke`` or ``two_way`` (see :mod:`.scenarios`).
        :param now: reference time of every account's scenario; the current time when None.
        :raises ValueError: fewer than one account, a negative count or an unknown scenario.
        """
        if accounts < 1:
            raise ValueError(f"accounts must be at least 1, got {accounts}")
        if messages_per_account < 0 or scenario not in DEFAULT_COUNTS:
            raise ValueError("messages_per_account must not be negative and scenario must be a known one")
        now = now or datetime.now(timezone.utc)
        while len(self._accounts) < accounts:
            self.add_account()
        records: list[dict[str, Any]] = []
        for account in self.accounts()[:accounts]:
            records.extend(account.seed_scenario(scenario, messages_per_account, now=now, seed=seed).records)
        return records

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> HubSpotSimulator:
        """Bind 127.0.0.1 and serve in a background thread.

        :returns: self, for chaining.
        :raises RuntimeError: already running.
        """
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        app = SimulatorApp(self.ctx, self.fault_plan, self.latency, self.metrics, self.idle_timeout)
        server = SimulatorHTTPServer(self.requested_port, app)
        self.ctx.base_url = f"http://{HOST}:{server.server_port}"
        thread = threading.Thread(target=server.serve, name="hubspot-simulator", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: close the listener and every connection and join every thread. Idempotent.

        :param timeout: seconds to wait for threads.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.app.stopping.set()
        server.stop_serving(timeout)
        server.close_connections(timeout)
        server.server_close()
        thread.join(timeout)

    def __enter__(self) -> HubSpotSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port.

        :raises RuntimeError: not running.
        """
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return int(self._server.server_port)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, to use in place of ``https://api.hubapi.com``.

        :raises RuntimeError: not running.
        """
        return f"http://{HOST}:{self.port}"

    # ---------------------------------------------------------------------------------------- credentials

    @property
    def access_token(self) -> str:
        """A valid access token of the default account with every scope (it expires after ``token_lifetime``)."""
        return self._default.access_token

    @property
    def refresh_token(self) -> str:
        """The default account's refresh token (every scope)."""
        return self._default.refresh_token

    @property
    def client_id(self) -> str:
        """The OAuth app's client id (one app, installed in every account)."""
        return self.tokens.client_id

    @property
    def client_secret(self) -> str:
        """The OAuth app's client secret."""
        return self.tokens.client_secret

    def expire_token(self, token: str) -> None:
        """Make an access token expired (HubSpot then answers 401 ``EXPIRED_AUTHENTICATION``).

        :param token: the token.
        :raises KeyError: unknown token.
        """
        self.tokens.expire(token)

    def expire_all_tokens(self) -> None:
        """Make every access token issued so far expired (of every account), including those the token endpoint
        handed out."""
        self.tokens.expire_all()

    def revoke_refresh_token(self, token: str) -> None:
        """Revoke a refresh token (the grant then answers 400 ``BAD_REFRESH_TOKEN``).

        :param token: the token.
        :raises KeyError: unknown token.
        """
        self.tokens.revoke_refresh(token)

    def set_faults(self, faults: FaultConfig | None, seed: int | None = None) -> None:
        """Replace the fault plan (restarting its random sequence), e.g. after seeding state without faults.

        :param faults: what to inject; None stops injecting.
        :param seed: seed of the new plan; the simulator's seed when None.
        """
        plan = FaultPlan(faults, self.seed if seed is None else seed)
        self.fault_plan = plan
        if self._server is not None:
            self._server.app.faults = plan

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """Every request seen (method, path, status, time, duration, fault), oldest first."""
        return self.metrics.request_log

    @property
    def status_counts(self) -> Counter[int]:
        """Answers per HTTP status code."""
        return self.metrics.status_counts

    @property
    def faults_injected(self) -> Counter[str]:
        """Injected faults per kind."""
        return self.metrics.faults_injected

    @property
    def token_requests(self) -> int:
        """Requests to the OAuth token endpoint."""
        return self.metrics.token_requests

    def reset_log(self) -> None:
        """Forget the request log and zero the counters."""
        self.metrics.reset()
