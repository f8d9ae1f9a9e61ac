"""Named seed scenarios: realistic mix, deterministic, HubSpot's side consistent with the integrator's."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sim_helpers import CHANNEL, INBOX, INBOX_ID, Api

from airflow_provider_hubspot_channels.simulator import CLASSIFICATIONS, HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.state import SimulatorState

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
KEYS = {"channel_id", "message_id", "created_at", "delivery_status", "recipient", "carrier_error"}


def _seeded(count: int = 200, seed: int = 1, name: str = "reconciliation") -> HubSpotSimulator:
    sim = HubSpotSimulator(seed=seed)
    sim.seed_scenario(name, count, now=NOW)
    return sim


def test_reconciliation_mix_follows_the_documented_shares() -> None:
    seed = HubSpotSimulator().seed_scenario("reconciliation", 1000, now=NOW)
    assert len(seed.records) == 1000
    assert seed.counts() == {"stale": 350, "fresh": 200, "delivered": 250, "read": 100, "failed": 70, "not_found": 30}
    assert seed.channel_id == CHANNEL and seed.inbox_id == INBOX_ID and seed.sla_seconds == 600


def test_records_are_plain_chronological_integrator_rows() -> None:
    seed = HubSpotSimulator().seed_scenario("reconciliation", 300, now=NOW)
    stamps = [datetime.fromisoformat(r["created_at"]) for r in seed.records]
    assert stamps == sorted(stamps)
    assert all(NOW - timedelta(hours=3) <= s < NOW for s in stamps)
    for record in seed.records:
        assert set(record) == KEYS
        assert record["created_at"].endswith("+00:00")
        assert record["delivery_status"] in {"pending", "delivered", "read", "failed"}
        assert record["recipient"].startswith("+1555")
        assert (record["carrier_error"] is not None) == (record["delivery_status"] == "failed")
    assert len({r["message_id"] for r in seed.records}) == 300


def test_hubspot_state_matches_each_classification() -> None:
    sim = HubSpotSimulator()
    seed = sim.seed_scenario("reconciliation", 400, now=NOW)
    sla = timedelta(seconds=seed.sla_seconds)
    for record in seed.records:
        classification = seed.expected[record["message_id"]]
        message = sim.get_message(CHANNEL, record["message_id"])
        status = (message or {}).get("status", {}).get("statusType")
        age = NOW - datetime.fromisoformat(record["created_at"])
        if classification == "not_found":
            assert message is None
            continue
        assert message is not None and message["direction"] == "OUTGOING"
        assert message["createdAt"].startswith(record["created_at"][:23])
        if classification == "stale":
            assert record["delivery_status"] == "pending" and status in (None, "SENT") and age > sla
        elif classification == "fresh":
            assert record["delivery_status"] == "pending" and status in (None, "SENT") and age < sla
        elif classification == "delivered":
            assert record["delivery_status"] == "delivered" and status in (None, "SENT")
        elif classification == "read":
            assert status == "READ"
        elif classification == "failed":
            assert status == "FAILED" and record["carrier_error"] in message["status"]["failureDetails"]["errorMessage"]
    read_pending = [
        r for r in seed.records if seed.expected[r["message_id"]] == "read" and r["delivery_status"] == "pending"
    ]
    assert read_pending, "the READ-but-pending trap must be in the mix"


def test_same_seed_same_scenario() -> None:
    first, second, other = _seeded(seed=4), _seeded(seed=4), _seeded(seed=5)
    assert first.list_messages() == second.list_messages()
    assert first.list_messages() != other.list_messages()
    a = HubSpotSimulator().seed_scenario("smoke", now=NOW, seed=9)
    b = HubSpotSimulator().seed_scenario("smoke", now=NOW, seed=9)
    assert a.records == b.records and a.expected == b.expected


def test_smoke_has_every_class() -> None:
    seed = HubSpotSimulator().seed_scenario("smoke", now=NOW)
    assert len(seed.records) == 12
    assert set(seed.counts()) == set(CLASSIFICATIONS)
    assert seed.ids("not_found") and all(seed.expected[i] == "not_found" for i in seed.ids("not_found"))


def test_threads_hold_mixed_types_for_the_inbox_api() -> None:
    sim = _seeded(300)
    types = {item.type for thread in sim.state.threads.values() for item in thread.items}
    assert types == {"MESSAGE", "COMMENT", "WELCOME_MESSAGE"}
    directions = {m["direction"] for m in sim.list_messages()}
    assert directions == {"INCOMING", "OUTGOING"}


def test_scenario_answers_validate_through_the_api() -> None:
    with _seeded(60) as sim:
        api = Api(sim)
        threads = api.get(f"{INBOX}/threads", params={"inboxId": INBOX_ID, "limit": 50}).json()["results"]
        for thread in threads[:10]:
            assert api.get(f"{INBOX}/threads/{thread['id']}/messages").status_code == 200
        api.close()


def test_write_jsonl_round_trips(tmp_path: Path) -> None:
    seed = HubSpotSimulator().seed_scenario("smoke", now=NOW)
    path = tmp_path / "records.jsonl"
    seed.write_jsonl(path)
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == seed.records


def test_bad_scenario_arguments() -> None:
    state = SimulatorState()
    sim = HubSpotSimulator()
    with pytest.raises(ValueError, match="unknown scenario"):
        sim.seed_scenario("black-friday")
    with pytest.raises(ValueError):
        sim.seed_scenario("smoke", -1)
    with pytest.raises(ValueError, match="naive"):
        sim.seed_scenario("smoke", now=datetime(2026, 3, 1))
    assert state.list_messages() == []
