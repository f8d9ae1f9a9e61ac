"""Transport failures beyond a reset: a body cut off mid-stream is a lost answer (retried), never an escape."""

from __future__ import annotations

import socket
import threading

import pytest

from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, HubSpotConnectionError
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.reconciliation import (
    Outcome,
    RunReport,
    StalenessPolicy,
    plan,
)
from airflow_provider_hubspot_channels.runner.reconcile import run_plan
from airflow_provider_hubspot_channels.validation import build_status_update

GOOD = b'{"id": "m-1", "status": {"statusType": "FAILED"}}'


class TruncatingServer:
    """Answers the first ``broken`` requests with a chunked body cut off mid-stream, then with ``GOOD``."""

    def __init__(self, broken: int) -> None:
        self.broken = broken
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:  # the client went away mid-body
                        break
                    rest += chunk
                self.requests += 1
                if self.requests <= self.broken:
                    conn.sendall(
                        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n40\r\n{"id"'
                    )
                else:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        + f"Content-Length: {len(GOOD)}\r\n\r\n".encode()
                        + GOOD
                    )

    def __enter__(self) -> TruncatingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() a close alone would leave blocked
        self.sock.close()
        self.thread.join(5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"


def client_for(server: TruncatingServer, retries: int) -> HubSpotChannelsClient:
    return HubSpotChannelsClient(
        config=ClientConfig(base_url=server.base_url, max_retries=retries, timeout=5),
        access_token="t" * 20,
        retry_policy=RetryPolicy(max_retries=retries, backoff_base=0.01, backoff_max=0.01),
    )


def test_body_cut_off_mid_stream_is_retried():
    with TruncatingServer(broken=1) as server, client_for(server, retries=2) as client:
        answer = client.write_status(build_status_update(1001, "m-1", "FAILED", "x"))
        assert answer.body["id"] == "m-1"
        assert server.requests == 2
        assert (answer.requests, answer.unanswered) == (2, 1)  # the cut-off PATCH may have been processed


def test_persistent_cut_offs_end_in_a_typed_error():
    with (
        TruncatingServer(broken=10) as server,
        client_for(server, retries=2) as client,
        pytest.raises(HubSpotConnectionError, match="ChunkedEncodingError"),
    ):
        client.get_message(1001, "m-1")


def test_an_unexpected_failure_of_one_message_never_loses_another_outcome():
    from datetime import datetime, timedelta, timezone

    from airflow_provider_hubspot_channels.client import Answer

    class Flaky:
        """A status client whose call for one message fails in a way no client error describes."""

        def read_message(self, channel_id, message_id):
            return Answer({"id": message_id}, requests=1, unanswered=0)

        def write_status(self, update):
            if update.message_id == "m-3":
                raise RuntimeError("boom")
            return Answer({"id": update.message_id}, requests=1, unanswered=0)

        def redact(self, text):
            return text

        def stop(self):
            pass

    now = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
    batch = [{"channel_id": 1, "message_id": f"m-{i}", "created_at": "2026-11-24T10:00:00Z"} for i in range(8)]
    report, rows = RunReport(), []
    run_plan(plan(batch, StalenessPolicy(timedelta(minutes=15), now)), Flaky(), report=report, sink=rows.append)
    assert sorted(r.index for r in rows) == list(range(8))
    assert report.counts[Outcome.MARKED_FAILED.value] == 7 and report.counts[Outcome.ERROR.value] == 1
    (error,) = [r for r in rows if r.outcome is Outcome.ERROR]
    assert error.message_id == "m-3" and "RuntimeError: boom" in error.reason
