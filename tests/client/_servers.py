"""Tiny HTTP servers on 127.0.0.1 for client tests that need an answer the simulator cannot give."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

#: (status, headers, body) of one answer.
Reply = tuple[int, dict[str, str], bytes]


def json_reply(status: int, payload: Any, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode()


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return method, path, headers, rest


class ScriptedServer:
    """Answers each request with ``answer(method, path, headers, body)``; one connection per request.

    :param answer: returns the reply of one request.
    :param drip_seconds: when set, every byte of the reply (status line, headers, body) is sent this many seconds
        after the previous one, so that no single socket read ever times out.
    """

    def __init__(
        self,
        answer: Callable[[str, str, dict[str, str], bytes], Reply],
        *,
        drip_seconds: float | None = None,
    ) -> None:
        self.answer = answer
        self.drip_seconds = drip_seconds
        #: an ``ssl.SSLContext`` to serve https with (set before the first request)
        self.tls: Any = None
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            self.requests.append(request)
            status, headers, body = self.answer(*request)
            head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            data = head.encode("latin-1") + body
            try:
                if self.drip_seconds is None:
                    conn.sendall(data)
                    return
                for i in range(len(data)):
                    if self._stopping.wait(self.drip_seconds):
                        return
                    conn.sendall(data[i : i + 1])
            except OSError:  # the client left
                return

    def __enter__(self) -> ScriptedServer:
        self._accepter.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() a close alone would leave blocked
        self.sock.close()
        self._accepter.join(5)
        deadline = time.monotonic() + 5
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def paths(self) -> list[str]:
        return [path for _, path, _, _ in self.requests]
