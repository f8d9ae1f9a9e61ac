"""``integrationIdempotencyId`` (and ``integrationThreadId``) that are empty or blank count as absent."""

from __future__ import annotations

import pytest
from sim_helpers import CC, CHANNEL, Api, message_egg

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_idempotency_key_is_no_key(sim: HubSpotSimulator, api: Api, blank: str) -> None:
    first = api.post(
        f"{CC}/{CHANNEL}/messages", json=message_egg("2026-03-01T12:00:00Z", integrationIdempotencyId=blank)
    )
    second = api.post(
        f"{CC}/{CHANNEL}/messages",
        json=message_egg("2026-03-01T12:01:00Z", text="other", integrationIdempotencyId=blank),
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert second.json()["text"] == "other"


def test_real_idempotency_key_still_replays(api: Api) -> None:
    first = api.post(
        f"{CC}/{CHANNEL}/messages", json=message_egg("2026-03-01T12:00:00Z", integrationIdempotencyId="k-1")
    )
    again = api.post(
        f"{CC}/{CHANNEL}/messages", json=message_egg("2026-03-01T12:00:00Z", integrationIdempotencyId="k-1")
    )
    assert first.json()["id"] == again.json()["id"]


def test_blank_integration_thread_id_is_no_thread_key(api: Api) -> None:
    def publish(customer: str) -> str:
        recipients = [{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": customer}}]
        egg = message_egg("2026-03-01T12:00:00Z", integrationThreadId="", recipients=recipients)
        answer = api.post(f"{CC}/{CHANNEL}/messages", json=egg)
        assert answer.status_code == 201, answer.text
        thread_id: str = answer.json()["conversationsThreadId"]
        return thread_id

    # Two customers, both with integrationThreadId "": two threads, as without the key.
    assert publish("+15557770001") != publish("+15557770002")
