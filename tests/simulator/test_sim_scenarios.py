"""Named seed scenarios: realistic mix, deterministic, HubSpot's side consistent with the integrator's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sim_helpers import CHANNEL, INBOX, INBOX_ID, Api, message_path

from airflow_provider_hubspot_channels.simulator import CLASSIFICATIONS, TWO_WAY_CASES, HubSpotSimulator
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


# ------------------------------------------------------------------------------------------------ two_way

TWO_WAY_KEYS = KEYS | {"reported_status", "receipt_at", "conversations_thread_id"}
TARGET = {"delivered": "SENT", "read": "READ", "failed": "FAILED"}


def _status(message: dict[str, Any] | None) -> str | None:
    return None if message is None else (message.get("status") or {}).get("statusType")


def test_two_way_seeds_every_case_consistently() -> None:
    sim = HubSpotSimulator(seed=2)
    seed = sim.seed_scenario("two_way", 400, now=NOW)
    assert len(seed.records) == 400 and set(seed.counts()) == set(TWO_WAY_CASES)
    assert set(seed.expected_status) == set(seed.expected_outcome) == {r["message_id"] for r in seed.records}
    sla = timedelta(seconds=seed.sla_seconds)
    for record in seed.records:
        mid = record["message_id"]
        case, outcome, final = seed.expected[mid], seed.expected_outcome[mid], seed.expected_status[mid]
        message = sim.get_message(CHANNEL, mid)
        now_status, delivery, reported = _status(message), record["delivery_status"], record["reported_status"]
        age = NOW - datetime.fromisoformat(record["created_at"])
        assert set(record) == TWO_WAY_KEYS
        assert (record["receipt_at"] is None) == (delivery == "pending")
        if record["receipt_at"] is not None:
            assert datetime.fromisoformat(record["created_at"]) < datetime.fromisoformat(record["receipt_at"]) < NOW
        assert (record["carrier_error"] is not None) == (delivery == "failed")
        if case == "not_found":
            assert message is None and outcome == "not_found" and final is None
            continue
        assert message is not None
        assert record["conversations_thread_id"] == message["conversationsThreadId"]
        if case == "incoming":
            assert message["direction"] == "INCOMING" and outcome == "skipped_not_outgoing"
            assert final == now_status and age > sla
            continue
        assert message["direction"] == "OUTGOING"
        if case == "stale":
            assert (delivery, reported, outcome, final) == ("pending", None, "marked_failed", "FAILED")
            assert now_status in (None, "SENT") and age > sla
        elif case == "fresh":
            assert (delivery, reported, outcome) == ("pending", None, "skipped_not_stale")
            assert now_status in (None, "SENT") and final == now_status and age < sla
        elif case.startswith("unreported_"):
            target = TARGET[delivery]
            assert case == f"unreported_{delivery}" and reported is None and final == target
            assert now_status in (None, "SENT")
            want = (
                "already_correct"
                if now_status == target
                else {"SENT": "marked_sent", "READ": "marked_read", "FAILED": "marked_failed_by_carrier"}[target]
            )
            assert outcome == want
        elif case in ("late_delivered", "late_read"):
            assert case == f"late_{delivery}" and reported == "FAILED" and now_status == "FAILED" and age > sla
            assert (outcome, final) == (f"corrected_to_{TARGET[delivery].lower()}", TARGET[delivery])
            assert datetime.fromisoformat(record["receipt_at"]) - datetime.fromisoformat(record["created_at"]) > sla
        elif case == "late_failed":
            # FAILED with the SLA's text, then the carrier's error: the better explanation replaces it
            assert delivery == "failed" and reported is None and now_status == "FAILED" and age > sla
            assert record["carrier_error"] not in message["status"]["failureDetails"]["errorMessage"]
            assert (outcome, final) == ("marked_failed_by_carrier", "FAILED")
        elif case == "already_reported":
            target = TARGET.get(delivery, "FAILED")
            assert reported == target == now_status == final and outcome == "already_reported"
            if delivery == "pending":
                assert age > sla
        elif case == "read_in_hubspot":
            assert delivery in ("pending", "delivered", "failed") and reported is None
            assert now_status == final == "READ" and outcome == "skipped_read_in_hubspot" and age > sla
        else:
            raise AssertionError(f"unexpected case {case}")


def test_two_way_threads_average_about_four_batch_messages() -> None:
    seed = HubSpotSimulator(seed=3).seed_scenario("two_way", 800, now=NOW)
    threads = Counter(r["conversations_thread_id"] for r in seed.records if r["conversations_thread_id"])
    assert 3.0 <= sum(threads.values()) / len(threads) <= 5.0
    assert all(t.isdigit() for t in threads)
    assert max(threads.values()) > 4  # some conversations cluster, as after an outage


def test_two_way_is_deterministic_and_smoke_sized_runs_hold_every_case() -> None:
    a = HubSpotSimulator().seed_scenario("two_way", len(TWO_WAY_CASES), now=NOW, seed=9)
    b = HubSpotSimulator().seed_scenario("two_way", len(TWO_WAY_CASES), now=NOW, seed=9)
    assert a.records == b.records and a.expected_outcome == b.expected_outcome
    assert set(a.counts()) == set(TWO_WAY_CASES)
    default = HubSpotSimulator().seed_scenario("two_way", now=NOW)
    assert len(default.records) == 240


def test_two_way_records_fill_the_reference_store(tmp_path: Path) -> None:
    from airflow_provider_hubspot_channels.sqlite_store import insert_records, load_unreconciled

    seed = HubSpotSimulator().seed_scenario("two_way", 120, now=NOW)
    store = tmp_path / "store.sqlite"
    assert insert_records(store, seed.records) == 120
    loaded = {r["message_id"]: r for r in load_unreconciled(store, created_at_or_before=NOW)}
    # what was already reported costs nothing: the store does not even load it
    assert set(loaded) == {m for m, case in seed.expected.items() if case != "already_reported"}
    late = seed.ids("late_delivered")
    assert late and all(loaded[m]["reported_status"] == "FAILED" for m in late)


def test_two_way_from_the_command_line(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    command = [
        sys.executable, "-m", "airflow_provider_hubspot_channels.simulator", "--port", "0", "--scenario", "two_way",
        "--count", "30", "--now", NOW.isoformat(), "--records-out", str(records), "--run-for", "0.2",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in records.read_text(encoding="utf-8").splitlines()]
    assert rows == HubSpotSimulator().seed_scenario("two_way", 30, now=NOW).records
    assert "seeded scenario two_way" in done.stderr


WRITES = {"marked_sent", "marked_read", "marked_failed", "marked_failed_by_carrier"}
WRITES |= {"corrected_to_sent", "corrected_to_read"}  # the corrections of late receipts


def test_two_way_expectations_settle_the_reference_store(tmp_path: Path) -> None:
    # A reconciler that does exactly what the scenario expects, over real HTTP, then the store's write-back:
    # the store has nothing left but the fresh messages, and HubSpot shows every expected status.
    from airflow_provider_hubspot_channels.sqlite_store import insert_records, load_unreconciled, record_outcomes

    store, report = tmp_path / "store.sqlite", tmp_path / "report.jsonl"
    with HubSpotSimulator(seed=5) as sim:
        seed = sim.seed_scenario("two_way", 120, now=NOW)
        insert_records(store, seed.records)
        api = Api(sim)
        rows = []
        for record in load_unreconciled(store, created_at_or_before=NOW):
            mid = record["message_id"]
            outcome, final = seed.expected_outcome[mid], seed.expected_status[mid]
            if outcome in WRITES:
                body = (
                    {"statusType": final, "errorMessage": "Not delivered"}
                    if final == "FAILED"
                    else {"statusType": final}
                )
                assert api.patch(message_path(mid), json=body).status_code == 200
            known = outcome in WRITES | {"already_correct", "skipped_read_in_hubspot"}
            row = {"channel_id": CHANNEL, "message_id": mid, "outcome": outcome}
            rows.append({**row, "hubspot_status_after": final if known else None})
        api.close()
        report.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        record_outcomes(store, report)
        for record in seed.records:
            assert _status(sim.get_message(CHANNEL, record["message_id"])) == seed.expected_status[record["message_id"]]
        for mid in seed.ids("read_in_hubspot"):
            assert [h["statusType"] for h in sim.state.status_history(CHANNEL, mid)] == ["READ"]
    left = {r["message_id"] for r in load_unreconciled(store, created_at_or_before=NOW)}
    assert left == set(seed.ids("fresh"))
