"""Methods the API does not serve (HEAD, OPTIONS, TRACE, PUT, anything) answer HubSpot-style 405 JSON errors with
an ``Allow`` header, not http.server's 501 HTML page (found by schemathesis)."""

from __future__ import annotations

import json
import socket
from http.client import HTTPResponse

import pytest
from sim_helpers import CC, CHANNEL, Api, message_path

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator


def _raw(sim: HubSpotSimulator, method: str, path: str) -> tuple[HTTPResponse, bytes]:
    """One request on a fresh connection, read with http.client (which knows HEAD answers carry no body)."""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sim.access_token}\r\n\r\n".encode()
        )
        response = HTTPResponse(sock, method=method)
        response.begin()
        return response, response.read()


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "CONNECT", "FROB"])
@pytest.mark.parametrize(
    ("path", "allow"),
    [
        (f"{CC}/{CHANNEL}/messages/m1", "GET, PATCH"),
        (f"{CC}/{CHANNEL}/messages", "POST"),
        ("/conversations/conversations/2026-09/threads", "GET"),
        ("/oauth/2026-03/token", "POST"),
    ],
)
def test_unknown_methods_answer_405_json_with_allow(sim: HubSpotSimulator, method: str, path: str, allow: str) -> None:
    response, body = _raw(sim, method, path)
    assert response.status == 405
    assert response.getheader("Allow") == allow
    assert response.getheader("Content-Type", "").startswith("application/json")
    if method == "HEAD":
        assert body == b""  # RFC 9110: an answer to HEAD has no body
        assert int(response.getheader("Content-Length") or 0) > 0
    else:
        error = json.loads(body)
        assert error["category"] == "METHOD_NOT_ALLOWED"
        assert set(error) >= {"category", "correlationId", "message"}


def test_head_answer_leaves_the_keep_alive_connection_usable(sim: HubSpotSimulator, api: Api) -> None:
    sim.add_message(CHANNEL, "m-head")
    assert api.call("HEAD", message_path("m-head"), check=False).status_code == 405
    assert api.get(message_path("m-head")).status_code == 200


def test_unknown_method_on_unknown_path_is_404_json(sim: HubSpotSimulator) -> None:
    response, body = _raw(sim, "OPTIONS", "/crm/v3/objects/contacts")
    assert response.status == 404
    assert b"OBJECT_NOT_FOUND" in body
