"""Custom Channels endpoints: channel, channel accounts, messages (publish, read, status update), v3 alias."""

from __future__ import annotations

from typing import Any

import pytest
from sim_helpers import ACCOUNT, CC, CC_V3, CHANNEL, INBOX, INBOX_ID, Api, error_of, message_path

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.openapi_contract import assert_requests_response

ODD_IDS = ["a/b c", "100%?&=#", "ünïcode-id", "x" * 200, "1234567890"]


def _egg(**overrides: Any) -> dict[str, Any]:
    egg: dict[str, Any] = {
        "text": "Where is my parcel?",
        "messageDirection": "INCOMING",
        "channelAccountId": str(ACCOUNT),
        "senders": [{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15557770001"}, "name": "Kim"}],
        "recipients": [{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550102001"}}],
        "attachments": [],
        "timestamp": "2026-03-01T12:00:00.000Z",
    }
    egg.update(overrides)
    return egg


@pytest.mark.parametrize("prefix", [CC, CC_V3])
def test_channel_get_answers_the_seeded_channel(api: Api, prefix: str) -> None:
    answer = api.get(f"{prefix}/{CHANNEL}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == str(CHANNEL)
    assert isinstance(body["capabilities"], dict)


def test_unknown_channel_is_404_object_not_found(api: Api) -> None:
    answer = api.get(f"{CC}/4242")
    assert answer.status_code == 404
    assert error_of(answer)["category"] == "OBJECT_NOT_FOUND"
    assert api.get(message_path("m", channel=4242)).status_code == 404


@pytest.mark.parametrize("bad", ["abc", "2147483648", "-2147483649", "1.5", "1_001", "%201001", "9" * 5000])
def test_channel_id_must_be_int32(api: Api, bad: str) -> None:
    for path in (f"{CC}/{bad}", message_path("m", channel=bad), f"{CC}/{bad}/channel-accounts"):
        answer = api.get(path)
        assert answer.status_code == 400, path
        body = error_of(answer)
        assert body["category"] == "VALIDATION_ERROR"
        assert body["errors"][0]["in"] == "channelId"


def test_int32_bounds_are_accepted(sim: HubSpotSimulator, api: Api) -> None:
    sim.add_channel(2147483647)
    assert api.get(f"{CC}/2147483647").status_code == 200


def test_get_message_answers_what_add_message_returned(sim: HubSpotSimulator, api: Api) -> None:
    added = sim.add_message(CHANNEL, "m-1")
    answer = api.get(message_path("m-1"))
    assert answer.status_code == 200
    assert answer.json() == added
    assert added["channelId"] == str(CHANNEL)
    assert added["type"] == "MESSAGE" and added["direction"] == "OUTGOING"
    assert "status" not in added


@pytest.mark.parametrize("message_id", ODD_IDS)
def test_message_ids_are_opaque(sim: HubSpotSimulator, api: Api, message_id: str) -> None:
    sim.add_message(CHANNEL, message_id)
    assert api.get(message_path(message_id)).json()["id"] == message_id
    answer = api.patch(message_path(message_id), json={"statusType": "SENT"})
    assert answer.status_code == 200
    assert answer.json()["status"]["statusType"] == "SENT"


@pytest.mark.parametrize("prefix", [CC, CC_V3])
def test_patch_failed_returns_the_full_message_with_the_error(sim: HubSpotSimulator, api: Api, prefix: str) -> None:
    sim.add_message(CHANNEL, "m-2")
    answer = api.patch(
        message_path("m-2", prefix=prefix), json={"statusType": "FAILED", "errorMessage": "No receipt in 10 min"}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == "m-2"
    assert body["status"] == {
        "statusType": "FAILED",
        "failureDetails": {"errorMessage": "No receipt in 10 min", "errorMessageTokens": {}},
    }
    assert api.get(message_path("m-2")).json()["status"] == body["status"]
    history = sim.status_history(CHANNEL, "m-2")
    assert [(h["statusType"], h["errorMessage"], h["accepted"]) for h in history] == [
        ("FAILED", "No receipt in 10 min", True)
    ]


def test_every_patch_is_recorded_and_accepted_by_default(sim: HubSpotSimulator, api: Api) -> None:
    sim.add_message(CHANNEL, "m-3", status_type="SENT")
    for status in ("READ", "FAILED", "SENT"):
        assert api.patch(message_path("m-3"), json={"statusType": status}).status_code == 200
    history = sim.status_history(CHANNEL, "m-3")
    assert [h["statusType"] for h in history] == ["SENT", "READ", "FAILED", "SENT"]
    assert [h["previousStatusType"] for h in history] == [None, "SENT", "READ", "FAILED"]
    assert [h["source"] for h in history] == ["seed", "api", "api", "api"]
    assert all(h["accepted"] for h in history)


def test_error_message_is_dropped_unless_failed(sim: HubSpotSimulator, api: Api) -> None:
    sim.add_message(CHANNEL, "m-4")
    body = api.patch(message_path("m-4"), json={"statusType": "SENT", "errorMessage": "ignored"}).json()
    assert body["status"] == {"statusType": "SENT"}


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (b"", "body"),
        (b"{not json", "body"),
        (b"[]", "body"),
        (b"{}", "statusType"),
        (b'{"statusType": "RECEIVED"}', "statusType"),
        (b'{"statusType": "failed"}', "statusType"),
        (b'{"statusType": 3}', "statusType"),
        (b'{"statusType": "FAILED", "errorMessage": 42}', "errorMessage"),
    ],
)
def test_patch_body_is_validated_before_anything_changes(
    sim: HubSpotSimulator, api: Api, payload: bytes, where: str
) -> None:
    sim.add_message(CHANNEL, "m-5")
    answer = api.patch(message_path("m-5"), data=payload, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    body = error_of(answer)
    assert body["category"] == "VALIDATION_ERROR"
    assert [e["in"] for e in body["errors"]] == [where]
    assert sim.status_history(CHANNEL, "m-5") == []


def test_validation_comes_before_existence(api: Api) -> None:
    assert api.patch(message_path("nope"), json={"statusType": "NOPE"}).status_code == 400
    assert api.patch(message_path("nope"), json={"statusType": "SENT"}).status_code == 404


def test_every_error_has_a_fresh_correlation_id(api: Api) -> None:
    answers = [api.get(message_path("missing")) for _ in range(3)]
    ids = [error_of(a)["correlationId"] for a in answers]
    assert len(set(ids)) == 3
    assert [a.headers["X-HubSpot-Correlation-Id"] for a in answers] == ids


def test_strict_mode_refuses_changes_after_read_or_failed(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, strict_transitions=True)
    api = Api(sim)
    sim.add_message(CHANNEL, "read", status_type="READ")
    sim.add_message(CHANNEL, "failed", status_type="FAILED", error_message="carrier said no")
    sim.add_message(CHANNEL, "sent", status_type="SENT")

    refused = api.patch(message_path("read"), json={"statusType": "FAILED", "errorMessage": "stale"})
    assert refused.status_code == 400
    body = error_of(refused)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["subCategory"] == "INVALID_STATUS_TRANSITION"
    assert api.get(message_path("read")).json()["status"] == {"statusType": "READ"}
    assert api.patch(message_path("failed"), json={"statusType": "READ"}).status_code == 400
    assert api.patch(message_path("failed"), json={"statusType": "FAILED", "errorMessage": "other"}).status_code == 400
    # Repeating the current terminal status is a harmless retry.
    assert api.patch(message_path("read"), json={"statusType": "READ"}).status_code == 200
    assert (
        api.patch(message_path("failed"), json={"statusType": "FAILED", "errorMessage": "carrier said no"}).status_code
        == 200
    )
    assert api.patch(message_path("sent"), json={"statusType": "READ"}).status_code == 200

    history = sim.status_history(CHANNEL, "read")
    assert [(h["statusType"], h["accepted"]) for h in history] == [("READ", True), ("FAILED", False), ("READ", True)]
    assert all(h["statusType"] == "READ" for h in history if h["accepted"])
    api.close()


def test_publish_message_creates_it_in_a_thread(sim: HubSpotSimulator, api: Api) -> None:
    answer = api.post(f"{CC}/{CHANNEL}/messages", json=_egg())
    assert answer.status_code == 201
    body = answer.json()
    assert answer.headers["Location"] == f"{sim.base_url}{CC}/{CHANNEL}/messages/{body['id']}"
    assert body["direction"] == "INCOMING"
    assert body["client"] == {"clientType": "INTEGRATION", "integrationAppId": 4001}
    assert body["createdAt"] == "2026-03-01T12:00:00.000Z"
    assert api.get(message_path(body["id"])).json() == body
    thread_messages = api.get(f"{INBOX}/threads/{body['conversationsThreadId']}/messages").json()["results"]
    assert [m["id"] for m in thread_messages] == [body["id"]]


def test_publish_with_the_same_idempotency_id_answers_the_same_message(api: Api) -> None:
    first = api.post(f"{CC}/{CHANNEL}/messages", json=_egg(integrationIdempotencyId="k-1")).json()
    again = api.post(f"{CC}/{CHANNEL}/messages", json=_egg(integrationIdempotencyId="k-1")).json()
    assert first["id"] == again["id"]


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"text": None}, "text"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"messageDirection": "SIDEWAYS"}, "messageDirection"),
        ({"channelAccountId": "999"}, "channelAccountId"),
        ({"senders": [{"name": "no identifier"}]}, "senders[0].deliveryIdentifier"),
        ({"recipients": "+1555"}, "recipients"),
    ],
)
def test_publish_body_is_validated(sim: HubSpotSimulator, api: Api, overrides: dict[str, Any], where: str) -> None:
    payload = {k: v for k, v in _egg(**overrides).items() if v is not None}
    answer = api.post(f"{CC}/{CHANNEL}/messages", json=payload)
    assert answer.status_code == 400
    assert error_of(answer)["errors"][0]["in"] == where
    assert sim.list_messages() == []


def test_channel_accounts_list_create_and_get(sim: HubSpotSimulator, api: Api) -> None:
    listed = api.get(f"{CC}/{CHANNEL}/channel-accounts").json()
    assert listed["total"] == 1 and listed["results"][0]["id"] == str(ACCOUNT)
    created = api.post(
        f"{CC}/{CHANNEL}/channel-accounts",
        json={
            "name": "Second line",
            "inboxId": str(INBOX_ID),
            "authorized": True,
            "deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550109999"},
        },
    )
    assert created.status_code == 201
    account = created.json()
    assert created.headers["Location"].endswith(f"/channel-accounts/{account['id']}")
    assert account["channelId"] == str(CHANNEL) and account["inboxId"] == str(INBOX_ID)
    assert api.get(f"{CC}/{CHANNEL}/channel-accounts/{account['id']}").json() == account

    first = api.get(f"{CC}/{CHANNEL}/channel-accounts", params={"limit": 1}).json()
    assert first["total"] == 2 and len(first["results"]) == 1
    second = api.get(f"{CC}/{CHANNEL}/channel-accounts", params={"limit": 1, "after": first["paging"]["next"]["after"]})
    assert [a["id"] for a in second.json()["results"]] == [account["id"]]
    assert "paging" not in second.json()


def test_channel_account_creation_is_validated(api: Api) -> None:
    unknown_inbox = api.post(
        f"{CC}/{CHANNEL}/channel-accounts", json={"name": "x", "inboxId": "777", "authorized": True}
    )
    assert unknown_inbox.status_code == 400 and error_of(unknown_inbox)["errors"][0]["in"] == "inboxId"
    missing = api.post(f"{CC}/{CHANNEL}/channel-accounts", json={"name": "x"})
    assert missing.status_code == 400
    assert sorted(e["in"] for e in error_of(missing)["errors"]) == ["authorized", "inboxId"]
    assert api.get(f"{CC}/{CHANNEL}/channel-accounts/424242").status_code == 404


def test_unknown_routes_and_methods(sim: HubSpotSimulator) -> None:
    api = Api(sim, check=False)
    assert api.get("/crm/v3/objects/contacts").status_code == 404
    answer = api.call("DELETE", message_path("m"))
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, PATCH"
    api.close()


def test_requests_sent_here_match_the_spec(sim: HubSpotSimulator, api: Api) -> None:
    """The contract helper also checks requests (other tests use that for the provider's client)."""
    sim.add_message(CHANNEL, "m-6")
    assert_requests_response(api.patch(message_path("m-6"), json={"statusType": "READ"}), check_request=True)
    assert_requests_response(api.post(f"{CC}/{CHANNEL}/messages", json=_egg()), check_request=True)


def test_a_simulator_bug_answers_500_instead_of_dropping_the_connection(
    sim: HubSpotSimulator, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(channel_id: int, message_id: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(sim.state, "find_message", broken)
    answer = api.get(message_path("m"))
    assert answer.status_code == 500
    assert error_of(answer)["category"] == "SIMULATOR_ERROR" and "boom" in answer.json()["message"]
