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
from collections.abc import Iterable, Mapping
from datetime import datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .api import ApiContext
from .auth import ALL_SCOPES, TokenStore
from .faults import FaultConfig, FaultPlan, LatencyModel
from .handler import SimulatorApp, SimulatorHandler
from .metrics import Metrics, RequestLogEntry
from .rate_limit import RateLimiter
from .scenarios import ScenarioSeed, seed_scenario
from .state import SimulatorState

HOST = "127.0.0.1"
DEFAULT_HUB_ID = 20260301


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


class HubSpotSimulator:
    """A local stand-in for HubSpot's Custom Channels, Conversations Inbox and OAuth APIs.

    Use as a context manager (or call :meth:`start` and :meth:`stop`)::

        with HubSpotSimulator(rate_limit=110, latency=0.02) as sim:
            message = sim.add_message(1001)
            requests.patch(f"{sim.base_url}/conversations/custom-channels/2026-03/1001/messages/{message['id']}",
                           json={"statusType": "SENT"}, headers={"Authorization": f"Bearer {sim.access_token}"})

    :param port: TCP port on 127.0.0.1; 0 (default) picks a free one.
    :param rate_limit: requests per rolling window for the account, or None for no limit (and no rate headers).
    :param rate_window_seconds: length of the rolling window (HubSpot: 10 s; shorter in tests).
    :param daily_limit: requests per UTC day, or None.
    :param latency: seconds added to every answer.
    :param latency_jitter: up to this many further seconds per answer, drawn from the seed.
    :param faults: what to inject; None injects nothing.
    :param seed: seed of faults, jitter and generated ids.
    :param token_lifetime: seconds an access token lives (HubSpot: 1800).
    :param rotate_refresh_tokens: make refresh tokens single use (the grant answers a new one).
    :param strict_transitions: refuse PATCHes that change a message whose status is READ or FAILED.
    :param hub_id: the simulated portal id.
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
        self.state = SimulatorState(seed=seed, strict_transitions=strict_transitions)
        self.tokens = TokenStore(lifetime=token_lifetime, rotate_refresh_tokens=rotate_refresh_tokens, hub_id=hub_id)
        self.limiter = RateLimiter(rate_limit, rate_window_seconds, daily_limit)
        self.fault_plan = FaultPlan(faults, seed)
        self.latency = LatencyModel(latency, latency_jitter, seed)
        self.metrics = Metrics(request_log_limit)
        self.ctx = ApiContext(self.state, self.tokens, self.limiter)
        if access_token is not None:
            self.tokens.add_access(access_token)
            self._access_token = access_token
        else:
            self._access_token = self.tokens.issue_access()
        self._refresh_token = self.tokens.issue_refresh()
        if seed_defaults:
            self.state.seed_defaults()
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

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
        """A valid access token with every scope (it expires after ``token_lifetime``)."""
        return self._access_token

    @property
    def refresh_token(self) -> str:
        """A valid refresh token with every scope."""
        return self._refresh_token

    @property
    def client_id(self) -> str:
        """The OAuth app's client id."""
        return self.tokens.client_id

    @property
    def client_secret(self) -> str:
        """The OAuth app's client secret."""
        return self.tokens.client_secret

    @property
    def hub_id(self) -> int:
        """The simulated portal id."""
        return self.tokens.hub_id

    def issue_token(self, scopes: Iterable[str] = ALL_SCOPES, lifetime: float | None = None) -> str:
        """Mint an access token, e.g. one lacking a scope to provoke 403.

        :param scopes: scopes to grant.
        :param lifetime: seconds until expiry; ``token_lifetime`` when None; ``float("inf")`` for never.
        """
        return self.tokens.issue_access(scopes, lifetime)

    def issue_refresh_token(self, scopes: Iterable[str] = ALL_SCOPES) -> str:
        """Mint a refresh token.

        :param scopes: scopes of the access tokens it mints.
        """
        return self.tokens.issue_refresh(scopes)

    def expire_token(self, token: str) -> None:
        """Make an access token expired (HubSpot then answers 401 ``EXPIRED_AUTHENTICATION``).

        :param token: the token.
        :raises KeyError: unknown token.
        """
        self.tokens.expire(token)

    def expire_all_tokens(self) -> None:
        """Make every access token issued so far expired, including those the token endpoint handed out."""
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

    # -------------------------------------------------------------------------------------------- seeding

    def add_inbox(
        self, inbox_id: int | None = None, *, name: str = "Support", created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add an inbox. See :meth:`SimulatorState.add_inbox`.

        :param inbox_id: int32 id; the next free id when None.
        :param name: display name.
        :param created_at: creation time; now when None.
        """
        return self.state.add_inbox(inbox_id, name=name, created_at=created_at)

    def add_channel(
        self,
        channel_id: int | None = None,
        *,
        name: str = "Simulated SMS",
        webhook_url: str = "https://integrator.example/hubspot/webhook",
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a custom channel. See :meth:`SimulatorState.add_channel`.

        :param channel_id: int32 id; the next free id when None.
        :param name: display name.
        :param webhook_url: the channel's webhook URL.
        :param created_at: creation time; now when None.
        """
        return self.state.add_channel(channel_id, name=name, webhook_url=webhook_url, created_at=created_at)

    def add_channel_account(
        self,
        channel_id: int,
        channel_account_id: int | None = None,
        *,
        inbox_id: int | None = None,
        name: str = "Support line",
        delivery_identifier: Mapping[str, str] | None = None,
        authorized: bool = True,
    ) -> dict[str, Any]:
        """Add a channel account. See :meth:`SimulatorState.add_channel_account`.

        :param channel_id: an existing channel.
        :param channel_account_id: int64 id; the next free id when None.
        :param inbox_id: an existing inbox; the first inbox when None.
        :param name: display name.
        :param delivery_identifier: ``{"type", "value"}``; a generated phone number when None.
        :param authorized: authorized flag.
        """
        return self.state.add_channel_account(
            channel_id,
            channel_account_id,
            inbox_id=inbox_id,
            name=name,
            delivery_identifier=delivery_identifier,
            authorized=authorized,
        )

    def add_thread(
        self,
        channel_id: int,
        thread_id: int | None = None,
        *,
        channel_account_id: int | None = None,
        recipient: str | None = None,
        status: str = "OPEN",
        archived: bool = False,
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a thread. See :meth:`SimulatorState.add_thread`.

        :param channel_id: an existing channel.
        :param thread_id: int64 id; the next free id when None.
        :param channel_account_id: an account of the channel; its first account when None.
        :param recipient: the customer's identifier value; generated when None.
        :param status: ``OPEN`` or ``CLOSED``.
        :param archived: archived flag.
        :param created_at: creation time; now when None.
        """
        return self.state.add_thread(
            channel_id,
            thread_id,
            channel_account_id=channel_account_id,
            recipient=recipient,
            status=status,
            archived=archived,
            created_at=created_at,
        )

    def add_message(
        self,
        channel_id: int,
        message_id: str | None = None,
        direction: str = "OUTGOING",
        created_at: datetime | str | None = None,
        status_type: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add a conversation message. See :meth:`SimulatorState.add_message` for the keyword options
        (``text``, ``recipient``, ``thread_id``, ``channel_account_id``, ``error_message``, ``archived``, and
        further JSON fields).

        :param channel_id: an existing channel.
        :param message_id: opaque id; generated when None.
        :param direction: ``OUTGOING`` or ``INCOMING``.
        :param created_at: creation time; now when None.
        :param status_type: initial status, or None for no ``status``.
        :param extra: see above.
        :returns: the message as the API returns it.
        """
        return self.state.add_message(channel_id, message_id, direction, created_at, status_type, **extra)

    def add_comment(
        self, thread_id: int, *, text: str = "Internal note", created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add an internal COMMENT to a thread.

        :param thread_id: an existing thread.
        :param text: comment text.
        :param created_at: creation time; now when None.
        """
        return self.state.add_comment(thread_id, text=text, created_at=created_at)

    def add_welcome_message(
        self, thread_id: int, *, text: str = "Hi! How can we help?", created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add a WELCOME_MESSAGE to a thread.

        :param thread_id: an existing thread.
        :param text: message text.
        :param created_at: creation time; now when None.
        """
        return self.state.add_welcome_message(thread_id, text=text, created_at=created_at)

    def seed_scenario(
        self, name: str, count: int | None = None, *, now: datetime | None = None, seed: int | None = None
    ) -> ScenarioSeed:
        """Seed a named realistic scenario (see :mod:`.scenarios`).

        :param name: ``reconciliation`` or ``smoke``.
        :param count: number of integrator records; the scenario's default when None.
        :param now: the reference time; the current time when None.
        :param seed: seed of the scenario; the simulator's seed when None.
        :returns: the integrator-side records and the expected classification of each.
        """
        return seed_scenario(self.state, name, count, now=now, seed=self.seed if seed is None else seed)

    # ----------------------------------------------------------------------------------------- inspection

    def get_message(self, channel_id: int, message_id: str) -> dict[str, Any] | None:
        """A message as the API returns it, or None.

        :param channel_id: the channel.
        :param message_id: the message id.
        """
        return self.state.get_message(channel_id, message_id)

    def status_history(self, channel_id: int, message_id: str) -> list[dict[str, Any]]:
        """Every status change attempt of a message, oldest first (``time``, ``statusType``, ``errorMessage``,
        ``previousStatusType``, ``accepted``, ``source``).

        :param channel_id: the channel.
        :param message_id: the message id.
        :raises KeyError: unknown message.
        """
        return self.state.status_history(channel_id, message_id)

    def get_thread(self, thread_id: int) -> dict[str, Any] | None:
        """A thread as the Inbox API returns it, or None.

        :param thread_id: the thread id.
        """
        return self.state.get_thread(thread_id)

    def list_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """All conversation messages, optionally of one channel.

        :param channel_id: the channel, or None for all.
        """
        return self.state.list_messages(channel_id)

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
