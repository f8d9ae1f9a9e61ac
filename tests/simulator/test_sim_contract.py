"""The contract helper itself: it must accept HubSpot-shaped answers and reject anything else, or the fidelity
checks of the other tests prove nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.openapi_contract import (
    CONVERSATIONS_2026_09,
    CUSTOM_CHANNELS,
    OAUTH,
    SPEC_DIR_ENV,
    assert_response,
    load_spec,
    request_violations,
    response_violations,
    spec_for,
    spec_path,
)

MESSAGE: dict[str, Any] = {
    "type": "MESSAGE",
    "id": "m1",
    "conversationsThreadId": "8100000001",
    "createdAt": "2026-03-01T12:00:00.000Z",
    "createdBy": "A-1",
    "client": {"clientType": "HUBSPOT"},
    "senders": [],
    "recipients": [],
    "archived": False,
    "text": "hi",
    "attachments": [],
    "truncationStatus": "NOT_TRUNCATED",
    "direction": "OUTGOING",
    "channelId": "1001",
    "channelAccountId": "2001",
}
PATH = "/conversations/custom-channels/2026-03/1001/messages/m1"


def test_valid_message_passes_and_a_wrong_type_is_named() -> None:
    load_spec(CUSTOM_CHANNELS)
    assert response_violations("GET", PATH, 200, MESSAGE) == []
    problems = response_violations("GET", PATH, 200, {**MESSAGE, "channelId": 1001})
    assert problems and "channelId" in problems[0] and "string" in problems[0]


def test_missing_required_field_and_bad_enum_fail() -> None:
    load_spec(CUSTOM_CHANNELS)
    without_text = {k: v for k, v in MESSAGE.items() if k != "text"}
    assert response_violations("GET", PATH, 200, without_text)
    assert response_violations("GET", PATH, 200, {**MESSAGE, "status": {"statusType": "DELIVERED"}})
    with pytest.raises(AssertionError, match="does not match"):
        assert_response("GET", PATH, 200, without_text)


def test_error_bodies_are_checked_as_json() -> None:
    load_spec(CUSTOM_CHANNELS)
    error = {"category": "OBJECT_NOT_FOUND", "correlationId": str(uuid.uuid4()), "message": "gone"}
    assert response_violations("GET", PATH, 404, error) == []
    assert response_violations("GET", PATH, 404, {"message": "gone"})
    assert response_violations("GET", PATH, 502, b"<html>502</html>", content_type="text/html")


def test_inbox_message_union_is_checked_without_recursion() -> None:
    load_spec(CONVERSATIONS_2026_09)
    path = "/conversations/conversations/2026-09/threads/8100000001/messages"
    comment = {**{k: MESSAGE[k] for k in ("conversationsThreadId", "createdAt", "createdBy", "client")}}
    comment.update(type="COMMENT", id="c1", senders=[], recipients=[], archived=False, text="t", richText="<p>t</p>")
    comment["attachments"] = []
    assert response_violations("GET", path, 200, {"results": [MESSAGE, comment]}) == []
    assert response_violations("GET", path, 200, {"results": [{**comment, "type": "GOSSIP"}]})


def test_aliases_map_onto_the_dated_specs() -> None:
    assert spec_for("/conversations/v3/custom-channels/1/messages/x") == (
        CUSTOM_CHANNELS,
        "/conversations/custom-channels/2026-03/1/messages/x",
    )
    assert spec_for("/oauth/v1/token") == (OAUTH, "/oauth/2026-03/token")
    with pytest.raises(AssertionError):
        spec_for("/crm/v3/objects/contacts")


def test_requests_are_checked() -> None:
    load_spec(CUSTOM_CHANNELS)
    assert request_violations("PATCH", PATH, body={"statusType": "FAILED", "errorMessage": "x"}) == []
    assert request_violations("PATCH", PATH, body={"statusType": "RECEIVED"})
    assert request_violations("PATCH", "/conversations/custom-channels/2026-03/abc/messages/m1", body={})


def test_absent_spec_folder_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SPEC_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(pytest.skip.Exception, match=SPEC_DIR_ENV):
        spec_path(CUSTOM_CHANNELS)
