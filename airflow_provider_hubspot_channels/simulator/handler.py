"""HTTP plumbing: one handler per connection, HTTP/1.1 keep-alive, faults and latency around the API.

Speed matters (benchmarks must not measure the simulator): no per-request logging, the whole answer goes out in
one ``send`` with ``TCP_NODELAY`` (a header write followed by a body write would hit Nagle plus delayed ACK, about
40 ms per request on keep-alive connections), and the ``Date`` header is formatted once per second.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from . import api, inspection
from .faults import ERROR_KINDS, HTML_KINDS, SCRIPT_ONLY_KINDS, FaultPlan, LatencyModel, fault_reply
from .metrics import Metrics, RequestLogEntry
from .responses import Reply, error_reply, validation_error

if TYPE_CHECKING:
    from .server import SimulatorHTTPServer

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_ANSWERED_FAULTS = frozenset(ERROR_KINDS + SCRIPT_ONLY_KINDS + HTML_KINDS)
_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


@dataclass
class SimulatorApp:
    """Everything a handler needs, shared by all connections of one server.

    :param ctx: the API context.
    :param faults: the fault plan.
    :param latency: the latency model.
    :param metrics: log and counters.
    :param idle_timeout: seconds an idle keep-alive connection is kept open.
    :param stopping: set when the server stops; wakes handlers that wait.
    """

    ctx: api.ApiContext
    faults: FaultPlan
    latency: LatencyModel
    metrics: Metrics
    idle_timeout: float = 60.0
    stopping: threading.Event = field(default_factory=threading.Event)


class SimulatorHandler(BaseHTTPRequestHandler):
    """Answers the requests of one connection."""

    protocol_version = "HTTP/1.1"
    server_version = "HubSpotSimulator"
    sys_version = ""
    disable_nagle_algorithm = True
    server: SimulatorHTTPServer

    def setup(self) -> None:
        """Apply the idle timeout of the server (``StreamRequestHandler`` only knows a class-wide one)."""
        super().setup()
        self.connection.settimeout(self.server.app.idle_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr logging (it costs throughput; the request log has it all)."""

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Serve every method through the API, which answers the ones a path does not serve (HEAD, OPTIONS,
        TRACE, anything) with a HubSpot-style 405 and ``Allow``: http.server would answer 501 with an HTML page.

        :param name: ``do_<METHOD>``, as http.server looks it up.
        """
        if name.startswith("do_"):
            return functools.partial(self._serve, name[3:])
        raise AttributeError(name)

    def _serve(self, method: str) -> None:
        app = self.server.app
        arrived = time.time()
        started = time.perf_counter()
        path, _, query = self.path.partition("?")
        body = self._read_body()
        if body is None:
            # The body's end is unknown, so the connection cannot carry another request: answer, then close.
            self.close_connection = True
            reply = validation_error(
                "Unreadable request body: Content-Length must be a number of bytes, or a chunked body well formed",
                where="Content-Length",
                code="INVALID_FRAMING",
            ).reply
            self._log(app, method, path, reply.status, arrived, started, None)
            self._send(reply)
            return
        if inspection.is_inspection(path):
            # The simulator's own endpoints: no faults, latency, rate limit or log entry (looking changes nothing).
            self._send(inspection.handle(app, method, path, query))
            return
        if api.OAUTH_TOKEN_PATH.fullmatch(path):
            app.metrics.count_token_request()
        fault = app.faults.decide(method, path)
        delay = app.latency.next_delay()
        if fault == "slow" and app.faults.config is not None:
            delay += app.faults.config.slow_seconds
        # Every outcome is logged before the client can see it, so a test that reads the log right after a call
        # returns sees that call.
        if delay > 0 and app.stopping.wait(delay):
            self._log(app, method, path, None, arrived, started, fault)
            self._drop()
            return
        if fault == "reset":
            self._log(app, method, path, None, arrived, started, fault)
            self._drop()
            return
        if fault in _ANSWERED_FAULTS and app.faults.config is not None:
            authorization = self.headers.get("Authorization")
            reply = fault_reply(fault, app.faults.config, app.ctx.limiter_for(authorization).peek_headers())
            reply.hub_id = app.ctx.tokens.hub_of(authorization)
        else:
            try:
                reply = api.handle(
                    app.ctx,
                    method,
                    path,
                    query,
                    self.headers.get("Authorization"),
                    self.headers.get("Content-Type"),
                    body,
                )
            except Exception as exc:  # a simulator bug must show as an answer, not as a silently dropped connection
                reply = error_reply(500, "SIMULATOR_ERROR", f"HubSpot simulator bug: {type(exc).__name__}: {exc}")
        if fault == "reset_after":
            self._log(app, method, path, None, arrived, started, fault, reply.hub_id)
            self._drop()
            return
        self._log(app, method, path, reply.status, arrived, started, fault, reply.hub_id)
        self._send(reply)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request http.server could not parse (bad request line, HTTP version, header) in HubSpot's
        ``Error`` shape instead of an HTML page, then close the connection.

        :param code: HTTP status code.
        :param message: short reason.
        :param explain: longer reason.
        """
        self.close_connection = True
        text = message or _REASONS.get(code, "Bad request")
        if explain:
            text = f"{text}: {explain}"
        now = time.time()
        # command and path are unset when the request line itself was unreadable.
        method, path = self.command or "", (getattr(self, "path", "") or "").partition("?")[0]
        self.server.app.metrics.record(RequestLogEntry(method, path, int(code), now, 0.0, None))
        self._send(error_reply(code, "VALIDATION_ERROR" if code < 500 else "INTERNAL_ERROR", text))

    def _log(
        self,
        app: SimulatorApp,
        method: str,
        path: str,
        status: int | None,
        arrived: float,
        started: float,
        fault: str | None,
        hub_id: int | None = None,
    ) -> None:
        duration = time.perf_counter() - started
        app.metrics.record(RequestLogEntry(method, path, status, arrived, duration, fault, hub_id))

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, reply: Reply) -> None:
        head = [
            f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}\r\n"
            f"Date: {_http_date()}\r\nServer: HubSpotSimulator\r\n"
            f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
        ]
        head.extend(f"{name}: {value}\r\n" for name, value in reply.headers)
        if self.close_connection:
            head.append("Connection: close\r\n")
        head.append("\r\n")
        # An answer to HEAD has no body (RFC 9110); sending one would corrupt the next answer on the connection.
        body = b"" if self.command == "HEAD" else reply.body
        try:
            self.wfile.write("".join(head).encode("latin-1") + body)
        except OSError:
            # The client gave up (e.g. its timeout fired during a slow answer): nothing left to tell it.
            self.close_connection = True

    def _drop(self) -> None:
        """Drop the connection with a TCP reset and no answer, so the client sees a connection error."""
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # detach() releases the descriptor even though rfile/wfile still refer to the socket object; closing it
        # with linger 0 sends the RST at once.
        with contextlib.suppress(OSError):
            socket.close(sock.detach())
