"""Bad input of every kind gets a HubSpot-shaped 400 before any state changes, never a 500 after one.

Issue 12: a lone surrogate (half an emoji, as JavaScript's JSON output can carry: ``"\\ud83d"``) in a PATCH's
``errorMessage`` was applied, and then encoding the answer failed with a 500, so the client wrote again.
"""

from __future__ import annotations

import json
import socket
from http.client import HTTPResponse
from typing import Any

import pytest
from sim_helpers import CC, CHANNEL, INBOX, Api, error_of, message_egg, message_path

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

LONE = '"half an emoji \\ud83d"'  # JSON text: a valid escape that decodes to a lone surrogate


def _with_raw(document: dict[str, Any], pointer: str, raw_json: str) -> bytes:
    """The document encoded as JSON with the value at a placeholder replaced by raw JSON text."""
    placeholder = "__RAW__"
    target: Any = document
    *parents, last = pointer.split("/")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = placeholder
    else:
        target[last] = placeholder
    return json.dumps(document).replace(f'"{placeholder}"', raw_json).encode("utf-8")


def _assert_validation_error(answer: Any, where: str) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    body = error_of(answer)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["in"] == where, body
    return body


# ------------------------------------------------------------------------------------ lone surrogates


def test_patch_with_lone_surrogate_error_message_is_400_and_changes_nothing(sim: HubSpotSimulator, api: Api) -> None:
    sim.add_message(CHANNEL, "m-1", status_type="SENT")
    before = sim.get_message(CHANNEL, "m-1"), sim.status_history(CHANNEL, "m-1")
    raw = f'{{"statusType": "FAILED", "errorMessage": {LONE}}}'.encode()
    answer = api.patch(message_path("m-1"), data=raw, headers={"Content-Type": "application/json"})
    body = _assert_validation_error(answer, "errorMessage")
    assert "surrogate" in body["message"]
    assert (sim.get_message(CHANNEL, "m-1"), sim.status_history(CHANNEL, "m-1")) == before


@pytest.mark.parametrize("pointer", ["text", "richText", "senders/0/name", "recipients/0/deliveryIdentifier/value"])
def test_publish_with_lone_surrogate_is_400_naming_the_field(sim: HubSpotSimulator, api: Api, pointer: str) -> None:
    egg = message_egg(
        senders=[{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550102001"}, "name": "x"}]
    )
    before = sim.list_messages()
    answer = api.post(f"{CC}/{CHANNEL}/messages", data=_with_raw(egg, pointer, LONE))
    where = pointer.replace("/0/", "[0].").replace("/", ".")
    _assert_validation_error(answer, where)
    assert sim.list_messages() == before


def test_lone_surrogate_in_a_key_is_refused(sim: HubSpotSimulator, api: Api) -> None:
    raw = b'{"statusType": "SENT", "\\udc00": 1}'
    sim.add_message(CHANNEL, "m-2")
    answer = api.patch(message_path("m-2"), data=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "status" not in (sim.get_message(CHANNEL, "m-2") or {})


def test_channel_account_name_with_lone_surrogate_is_refused(sim: HubSpotSimulator, api: Api) -> None:
    raw = f'{{"name": {LONE}, "inboxId": "{INBOX}", "authorized": true}}'.encode()
    count = len(sim.state.accounts)
    answer = api.post(f"{CC}/{CHANNEL}/channel-accounts", data=raw, headers={"Content-Type": "application/json"})
    _assert_validation_error(answer, "name")
    assert len(sim.state.accounts) == count


def test_whole_surrogate_pairs_are_fine(sim: HubSpotSimulator, api: Api) -> None:
    sim.add_message(CHANNEL, "m-3")
    raw = b'{"statusType": "FAILED", "errorMessage": "whole emoji \\ud83d\\ude00"}'
    answer = api.patch(message_path("m-3"), data=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert answer.json()["status"]["failureDetails"]["errorMessage"] == "whole emoji \U0001f600"


# -------------------------------------------------------------------------------------- invalid UTF-8


@pytest.mark.parametrize("raw", [b"\xff", b"\xed\xa0\xbd", b"\xc3"], ids=["ff", "encoded-surrogate", "truncated"])
def test_body_that_is_not_utf8_is_400_naming_body(sim: HubSpotSimulator, api: Api, raw: bytes) -> None:
    sim.add_message(CHANNEL, "m-4", status_type="SENT")
    before = sim.get_message(CHANNEL, "m-4")
    body = b'{"statusType": "FAILED", "errorMessage": "' + raw + b'"}'
    answer = api.patch(message_path("m-4"), data=body, headers={"Content-Type": "application/json"})
    _assert_validation_error(answer, "body")
    assert sim.get_message(CHANNEL, "m-4") == before


@pytest.mark.parametrize("encoded", ["%FF", "%ED%A0%BD", "abc%C3"])
def test_message_id_that_is_not_utf8_is_400_naming_message_id(sim: HubSpotSimulator, api: Api, encoded: str) -> None:
    # Lenient decoding turned every invalid id into U+FFFD, so a PATCH could land on another message.
    sim.add_message(CHANNEL, "\ufffd")
    sim.add_message(CHANNEL, "abc\ufffd")
    before = sim.list_messages()
    path = f"{CC}/{CHANNEL}/messages/{encoded}"
    _assert_validation_error(api.patch(path, json={"statusType": "READ"}), "messageId")
    _assert_validation_error(api.get(path), "messageId")
    assert sim.list_messages() == before


def test_raw_utf8_in_the_path_is_the_same_id_as_percent_encoded(sim: HubSpotSimulator) -> None:
    sim.add_message(CHANNEL, "ü-1")
    path = f"{CC}/{CHANNEL}/messages/".encode() + "ü-1".encode()
    status, body = _raw_request(sim, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + _auth(sim) + b"\r\n")
    assert status == 200
    assert json.loads(body)["id"] == "ü-1"


def test_query_that_is_not_utf8_is_400(api: Api) -> None:
    answer = api.get(f"{INBOX_PATH}/threads?inboxId=3001&after=%FF")
    _assert_validation_error(answer, "after")


# ------------------------------------------------------------------------------------ broken requests


INBOX_PATH = "/conversations/conversations/2026-09"


def _auth(sim: HubSpotSimulator) -> bytes:
    return f"Authorization: Bearer {sim.access_token}\r\n".encode()


def _raw_request(sim: HubSpotSimulator, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as sock:
        sock.sendall(request)
        response = HTTPResponse(sock, method=request.split(b" ", 1)[0].decode("latin-1"))
        response.begin()
        return response.status, response.read()


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: abc\r\n",
        b"Content-Length: 1e3\r\n",
        b"Transfer-Encoding: chunked\r\n",  # followed by a body that is not chunked
    ],
    ids=["letters", "float", "bad-chunks"],
)
def test_unreadable_body_framing_is_answered_400_not_reset(sim: HubSpotSimulator, head: bytes) -> None:
    sim.add_message(CHANNEL, "m-5")
    request = (
        f"PATCH {message_path('m-5')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
        + _auth(sim)
        + head
        + b"\r\nnot chunked\r\n"
    )
    status, body = _raw_request(sim, request)
    assert status == 400
    error = json.loads(body)
    assert error["category"] == "VALIDATION_ERROR" and error["correlationId"]
    assert "status" not in (sim.get_message(CHANNEL, "m-5") or {})


@pytest.mark.parametrize(
    ("request_line", "status"),
    [(b"GARBAGE", 400), (b"GET /x HTTP/9.9", 505), (b"GET /x HTTP/1.1 extra", 400)],
)
def test_malformed_request_lines_get_hubspot_shaped_errors(
    sim: HubSpotSimulator, request_line: bytes, status: int
) -> None:
    answer_status, body = _raw_request(sim, request_line + b"\r\nHost: x\r\n\r\n")
    assert answer_status == status
    error = json.loads(body)
    assert set(error) >= {"category", "correlationId", "message"}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_constants_are_400(sim: HubSpotSimulator, api: Api, constant: str) -> None:
    sim.add_message(CHANNEL, "m-6")
    raw = f'{{"statusType": "SENT", "errorMessage": {constant}}}'.encode()
    answer = api.patch(message_path("m-6"), data=raw, headers={"Content-Type": "application/json"})
    _assert_validation_error(answer, "body")


def test_deeply_nested_body_is_400_not_500(sim: HubSpotSimulator, api: Api) -> None:
    sim.add_message(CHANNEL, "m-7")
    raw = b'{"statusType": "SENT", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    answer = api.patch(message_path("m-7"), data=raw, headers={"Content-Type": "application/json"})
    _assert_validation_error(answer, "body")


@pytest.mark.parametrize("name", [7, ["Kim"], {"first": "Kim"}, True])
def test_participant_name_must_be_a_string(sim: HubSpotSimulator, api: Api, name: Any) -> None:
    sender = {"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550102001"}, "name": name}
    before = sim.list_messages()
    _assert_validation_error(
        api.post(f"{CC}/{CHANNEL}/messages", json=message_egg(senders=[sender])), "senders[0].name"
    )
    assert sim.list_messages() == before


def test_answers_encode_even_a_lone_surrogate_seeded_through_python(sim: HubSpotSimulator, api: Api) -> None:
    # The API refuses such input; seeding can still store it, and the answer must not become a 500.
    sim.add_message(CHANNEL, "m-8", text="half \ud83d")
    answer = api.get(message_path("m-8"))
    assert answer.status_code == 200
    assert b"\\ud83d" in answer.content
    assert json.loads(answer.content)["text"] == "half \ud83d"


def test_unparsable_requests_are_in_the_request_log(sim: HubSpotSimulator) -> None:
    sim.reset_log()
    _raw_request(sim, b"GET /x HTTP/9.9\r\nHost: x\r\n\r\n")  # refused before http.server keeps method and path
    _raw_request(sim, b"GET /y HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
    assert [(entry.method, entry.path, entry.status) for entry in sim.request_log] == [
        ("", "", 505),
        ("GET", "/y", 431),
    ]
