"""A token endpoint in its own process (``python -m tests.client._token_server``): refresh tokens ``rt-<portal>-...``
get an access token of that account (``hub_id``), over kept-alive connections. Used where the test process measures
its own memory, so that the server's allocations are not counted. Prints its port, serves until stdin closes."""

from __future__ import annotations

import json
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class TokenHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One segment per answer: headers and body written apart would meet the client's delayed ACK (40 ms each).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
        portal = form["refresh_token"][0].split("-")[1]
        body = json.dumps(
            {"access_token": f"at-{portal}-{secrets.token_urlsafe(24)}", "expires_in": 1800, "hub_id": int(portal)}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the test closes stdin (or exits): stop
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
