"""``with HubSpotChannelsHook(...) as hook:`` closes the client's connections on exit, also when the block raises."""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from tests.conftest import connection_json

pytestmark = pytest.mark.airflow


class KeepAliveServer(ThreadingHTTPServer):
    """Answers every GET with a channel over HTTP/1.1 keep-alive and counts the client connections still open."""

    daemon_threads = True

    def __init__(self) -> None:
        self.open_connections = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def wait_for_open_connections(self, expected: int, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.open_connections != expected:
            time.sleep(0.02)
        return self.open_connections


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KeepAliveServer

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.open_connections += 1

    def finish(self) -> None:
        super().finish()
        with self.server.lock:
            self.server.open_connections -= 1

    def do_GET(self) -> None:
        body = json.dumps({"id": "1001", "name": "SMS"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeepAliveServer]:
    srv = KeepAliveServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_KEEPALIVE", connection_json(f"http://127.0.0.1:{srv.server_port}", password="tok")
    )
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def test_with_block_closes_the_connection_it_opened(server: KeepAliveServer) -> None:
    with HubSpotChannelsHook(hubspot_conn_id="hubspot_keepalive") as hook:
        assert hook.get_channel(1001)["id"] == "1001"
        # keep-alive: the connection stays open while the hook is in use
        assert server.wait_for_open_connections(1) == 1
    assert server.wait_for_open_connections(0) == 0


def test_with_block_closes_on_error_and_lets_the_error_through(server: KeepAliveServer) -> None:
    with (
        pytest.raises(LookupError, match="custom logic"),
        HubSpotChannelsHook(hubspot_conn_id="hubspot_keepalive") as hook,
    ):
        hook.get_channel(1001)
        raise LookupError("custom logic")
    assert server.wait_for_open_connections(0) == 0


def test_with_block_that_sends_nothing_reads_no_connection() -> None:
    # Entering builds nothing: a hook for a connection that does not exist fails only when it is used.
    with HubSpotChannelsHook(hubspot_conn_id="no_such_connection") as hook:
        assert hook.hubspot_conn_id == "no_such_connection"


@pytest.mark.parametrize(
    "name",
    ["get_channel", "get_message", "update_message_status", "publish_message", "iter_threads", "iter_thread_messages"],
)
def test_help_on_public_methods_names_every_argument(name: str) -> None:
    method = getattr(HubSpotChannelsHook, name)
    doc = inspect.getdoc(method) or ""
    assert "See :meth:" not in doc.splitlines()[0], doc
    for param in inspect.signature(method).parameters:
        if param != "self":
            assert f":param {param}:" in doc, f"{name}: {param} undocumented"
    assert ":return" in doc or "Return" in doc or "Yield" in doc, f"{name}: what it returns is not said"
