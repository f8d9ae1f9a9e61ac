"""Property: whatever arrives (method, path, query, headers, body), the simulator answers in HubSpot's shape, never
with a server error of its own, and an answer that is not 2xx changed no state.

Requests go over raw sockets so that anything a client could put on the wire is possible: odd methods, raw and
percent-encoded bytes of any value in paths and queries, lone surrogates in JSON (``"\\udc00"``), invalid UTF-8,
binary bodies, odd Content-Type and Authorization values. This closes the class of issue 12's lone surrogate,
which was stored and then made the answer fail with a 500.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.client import HTTPResponse
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import ACCOUNT, CC, CC_V3, CHANNEL, INBOX, INBOX_ID, INBOX_V3

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.state import FIRST_THREAD_ID

TOKEN = "robustness-token-with-every-scope"
SEEDED = "seeded-message"

# Text of any code point, lone surrogates included (hypothesis leaves them out of text() by default).
ANY_TEXT = st.lists(
    st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr), st.sampled_from(["\x00", "\ufffd", "é"])),
    max_size=12,
).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=12,
)
# Raw bytes for a path or query: never CR/LF (they would end the request line) nor / ? # (they would leave the
# segment); NEL and NBSP still split the line for http.server, which must then answer a HubSpot-shaped 400.
LINE_BYTES = st.binary(max_size=10).map(lambda b: bytes(c for c in b if c not in b"\r\n\t\x0b\x0c\x1c\x1d\x1e\x1f ?/#"))


def _patch_body(status: Any, error: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"statusType": status}
    if error is not None:
        body["errorMessage"] = error
    return body


def _publish_body(text: Any, name: Any, key: Any, timestamp: Any) -> dict[str, Any]:
    return {
        "text": text,
        "messageDirection": "OUTGOING",
        "channelAccountId": str(ACCOUNT),
        "senders": [{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550102001"}, "name": name}],
        "recipients": [{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15557770001"}}],
        "attachments": [],
        "timestamp": timestamp,
        "integrationIdempotencyId": key,
    }


STATUS = st.sampled_from(["SENT", "READ", "FAILED"]) | st.sampled_from(["RECEIVED", "sent"]) | ANY_TEXT
TIMESTAMPS = st.sampled_from(["2026-03-01T12:00:00Z", "0999-12-31T23:59:59.999Z", "1969-07-20T20:17:40Z"]) | ANY_TEXT
PATCH_JSON = st.builds(_patch_body, STATUS, ANY_TEXT | st.none() | JSON_VALUES)
PUBLISH_JSON = st.builds(_publish_body, ANY_TEXT, ANY_TEXT | JSON_VALUES, st.none() | ANY_TEXT, TIMESTAMPS)
ACCOUNT_JSON = st.fixed_dictionaries(
    {"name": ANY_TEXT, "inboxId": st.just(str(INBOX_ID)) | ANY_TEXT, "authorized": JSON_VALUES}
)
FORM = st.lists(st.tuples(ANY_TEXT, ANY_TEXT), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
)


def _bodies(shaped: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Mostly JSON of the operation's shape (lone surrogates become ``\\udXXX`` escapes), sometimes anything."""
    return st.one_of(
        shaped.map(lambda value: json.dumps(value).encode("ascii")),
        shaped.map(lambda value: json.dumps(value).encode("ascii")),
        shaped.map(lambda value: json.dumps(value).encode("ascii")),
        JSON_VALUES.map(lambda value: json.dumps(value).encode("ascii")),
        st.binary(max_size=40),
        ANY_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),  # surrogates as (invalid) UTF-8 bytes
        st.just(b""),
    )


BODIES = _bodies(st.one_of(PATCH_JSON, PUBLISH_JSON, ACCOUNT_JSON))
# Real operations on seeded objects: most generated requests should get past routing and authentication.
TARGETS = [
    ("PATCH", f"{CC}/{CHANNEL}/messages/{SEEDED}", _bodies(PATCH_JSON)),
    ("GET", f"{CC}/{CHANNEL}/messages/{SEEDED}", st.just(b"")),
    ("POST", f"{CC}/{CHANNEL}/messages", _bodies(PUBLISH_JSON)),
    ("POST", f"{CC}/{CHANNEL}/channel-accounts", _bodies(ACCOUNT_JSON)),
    ("GET", f"{CC}/{CHANNEL}/channel-accounts", st.just(b"")),
    ("GET", f"{INBOX}/threads", st.just(b"")),
    ("GET", f"{INBOX}/threads/{FIRST_THREAD_ID}/messages", st.just(b"")),
    ("POST", "/oauth/2026-03/token", FORM),
]

SEGMENTS = st.one_of(
    st.sampled_from([str(CHANNEL), str(ACCOUNT), SEEDED, str(FIRST_THREAD_ID), "messages", "channel-accounts"]),
    st.integers().map(str),
    st.binary(max_size=8).map(lambda b: quote_from_bytes(b, safe="").encode("ascii")).map(bytes.decode),
    LINE_BYTES.map(lambda b: b.decode("latin-1")),
)
PREFIXES = st.sampled_from(
    [CC, CC_V3, INBOX, INBOX_V3, f"{INBOX}/threads", "/oauth/2026-03/token", "/oauth/v1/token", ""]
)
SUFFIXES = st.sampled_from(
    ["", "/messages", "/messages/" + SEEDED, "/channel-accounts", f"/channel-accounts/{ACCOUNT}"]
)
QUERY_NAMES = st.sampled_from(["limit", "after", "inboxId", "sort", "archived", "latestMessageTimestampAfter"])
QUERIES = st.lists(st.tuples(QUERY_NAMES | SEGMENTS, SEGMENTS), max_size=3).map(
    lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
)
METHODS = st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "FROB"])
AUTHORIZATIONS = st.sampled_from([f"Bearer {TOKEN}"] * 6 + ["Bearer nope", "", "Basic x"]) | LINE_BYTES.map(
    lambda b: b.decode("latin-1").strip()
)
CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/json; charset=utf-16", "text/plain", "application/x-www-form-urlencoded", ""]
) | LINE_BYTES.map(lambda b: b.decode("latin-1").strip())


@st.composite
def requests_(draw: st.DrawFn) -> tuple[str, bytes]:
    """A method and one whole HTTP/1.1 request as bytes: mostly aimed at a real operation, else anywhere."""
    if draw(st.integers(0, 3)) > 0:
        method, path, bodies = draw(st.sampled_from(TARGETS))
        path = path.replace(CC, draw(st.sampled_from([CC, CC_V3])), 1)
        if draw(st.integers(0, 4)) == 0:  # the last path segment (message id, channel, ...) made odd
            path = path.rsplit("/", 1)[0] + "/" + draw(SEGMENTS)
        body = draw(bodies)
    else:
        method, path, body = draw(METHODS), draw(PREFIXES), draw(BODIES)
        if path.startswith((CC, CC_V3)):
            path += "/" + draw(SEGMENTS) + draw(SUFFIXES)
        path += "".join("/" + segment for segment in draw(st.lists(SEGMENTS, max_size=2)))
    query = draw(QUERIES)
    target = (path or "/") + ("?" + query if query else "")
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    for name, values in (("Authorization", AUTHORIZATIONS), ("Content-Type", CONTENT_TYPES)):
        value = draw(values)
        if value:
            head.append(f"{name}: {value}")
    head.append(f"Content-Length: {len(body)}")
    return method, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _snapshot(sim: HubSpotSimulator) -> str:
    """Everything the API can change, as one comparable text."""
    state = sim.state
    with state.lock:
        content = {
            "channels": [c.to_json() for c in state.channels.values()],
            "accounts": [a.to_json() for a in state.accounts.values()],
            "threads": [(t.to_json(), len(t.items)) for t in state.threads.values()],
            "messages": [(m.to_json(), m.history) for m in state.messages.values()],
        }
        return json.dumps(content, sort_keys=True, ensure_ascii=True, default=str)


def _send(sim: HubSpotSimulator, method: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as sock:
        sock.sendall(request)
        response = HTTPResponse(sock, method=method)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


@pytest.fixture(scope="module")
def robust_sim() -> Iterator[HubSpotSimulator]:
    """One simulator for all examples (no rate limit), with a message the generated paths can name."""
    sim = HubSpotSimulator(rate_limit=None, access_token=TOKEN, seed=7).start()
    try:
        sim.add_message(CHANNEL, SEEDED, status_type="SENT")
        yield sim
    finally:
        sim.stop()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests_())
def test_every_answer_is_hubspot_shaped_and_refusals_change_nothing(
    robust_sim: HubSpotSimulator, request: tuple[str, bytes]
) -> None:
    method, raw = request
    before = _snapshot(robust_sim)
    status, headers, body = _send(robust_sim, method, raw)
    assert status < 500, body[:300]
    assert headers.get("content-type", "").startswith("application/json"), headers
    if method != "HEAD":
        payload = json.loads(body.decode("utf-8"))  # strict: every answer is valid UTF-8 JSON
        if status >= 400:
            assert isinstance(payload, dict)
            for key in ("category", "correlationId", "message"):
                assert isinstance(payload.get(key), str), payload
            assert headers.get("x-hubspot-correlation-id") == payload["correlationId"]
    if not 200 <= status < 300:
        assert _snapshot(robust_sim) == before, f"{status} answer changed state: {body[:300]!r}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=st.sampled_from(["SENT", "READ", "FAILED"]), error=ANY_TEXT)
def test_patch_error_message_of_any_text_is_stored_exactly_or_refused_untouched(
    robust_sim: HubSpotSimulator, status: str, error: str
) -> None:
    """The field layer of issue 12: any ``errorMessage`` text, lone surrogates included, on a real message."""
    body = json.dumps({"statusType": status, "errorMessage": error}).encode("ascii")
    path = f"{CC}/{CHANNEL}/messages/{SEEDED}"
    head = f"PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
    before = _snapshot(robust_sim)
    code, _, answer = _send(robust_sim, "PATCH", head.encode() + body)
    payload = json.loads(answer.decode("utf-8"))
    if code == 200:
        if status == "FAILED":
            # What JSON carries: an escaped pair in the text is one character (json.loads joins it).
            assert payload["status"]["failureDetails"]["errorMessage"] == json.loads(body)["errorMessage"]
    else:
        assert code == 400, answer[:300]
        assert payload["category"] == "VALIDATION_ERROR" and payload["errors"][0]["in"] == "errorMessage"
        assert _snapshot(robust_sim) == before
