"""The store's command line, run as a user would: a subprocess against a store in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.sqlite_store import connect, insert_records
from airflow_provider_hubspot_channels.store_cli import main

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
MODULE = "airflow_provider_hubspot_channels.sqlite_store"


def run(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HUBSPOT_CHANNELS_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", MODULE, "--store", str(store), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def rows(store: Path) -> dict[str, dict[str, Any]]:
    with closing(connect(store)) as db:
        return {r["message_id"]: dict(r) for r in db.execute("SELECT * FROM outgoing_messages")}


def test_load_the_simulators_records_out_then_show_what_is_pending(tmp_path):
    # The newcomer's path: the simulator writes --records-out, the store CLI loads it, pending shows the batch.
    records = tmp_path / "records.jsonl"
    sim = HubSpotSimulator(rate_limit=None)
    seeded = sim.seed_scenario("two_way", 40, now=NOW)
    seeded.write_jsonl(records)
    store = tmp_path / "store.sqlite"

    loaded = run(store, "load", str(records))
    assert loaded.returncode == 0, loaded.stderr
    assert "40 new" in loaded.stdout
    assert set(rows(store)) == {r["message_id"] for r in seeded.records}
    again = run(store, "load", str(records))
    assert again.returncode == 0 and "0 new" in again.stdout and "40 already" in again.stdout

    pending = run(store, "pending", "--at", NOW.isoformat(), "--json")
    assert pending.returncode == 0, pending.stderr
    shown = json.loads(pending.stdout)
    assert shown["total"] == sum(shown["by_delivery_status"].values())
    assert shown["total"] == len(shown["ids"]) <= 40
    recipients = {r["recipient"] for r in seeded.records if r.get("recipient")}
    assert recipients and not any(recipient in pending.stdout for recipient in recipients)

    text = run(store, "pending", "--at", NOW.isoformat())
    assert text.returncode == 0 and f"{shown['total']} rows" in text.stdout
    assert not any(recipient in text.stdout for recipient in recipients)


def test_a_receipt_makes_a_pending_message_load_as_delivered(tmp_path):
    store = tmp_path / "store.sqlite"
    insert_records(store, [{"channel_id": 1001, "message_id": "m1", "created_at": "2026-11-24T10:00:00Z"}])

    result = run(store, "receipt", "m1", "DELIVERED", "--at", "2026-11-24T10:05:00+00:00")
    assert result.returncode == 0, result.stderr
    row = rows(store)["m1"]
    assert row["delivery_status"] == "delivered"
    assert row["receipt_at"] == "2026-11-24T10:05:00.000000+00:00"

    pending = json.loads(run(store, "pending", "--at", NOW.isoformat(), "--json").stdout)
    assert pending["by_delivery_status"] == {"delivered": 1}
    assert pending["ids"] == [{"channel_id": 1001, "message_id": "m1", "created_at": row["created_at"]}]

    show = run(store, "show", "m1")
    assert show.returncode == 0 and "delivered" in show.stdout


def test_receipt_errors_name_the_field_and_the_fix(tmp_path):
    store = tmp_path / "store.sqlite"
    insert_records(
        store,
        [
            {"channel_id": 1001, "message_id": "m1", "created_at": "2026-11-24T10:00:00Z"},
            {"channel_id": 1002, "message_id": "m1", "created_at": "2026-11-24T10:00:00Z"},
        ],
    )
    bad_status = run(store, "receipt", "m1", "sent", "--channel-id", "1001")
    assert bad_status.returncode == 2
    assert "delivery_status" in bad_status.stderr and "Fix:" in bad_status.stderr

    ambiguous = run(store, "receipt", "m1", "read")
    assert ambiguous.returncode == 2
    assert "--channel-id" in ambiguous.stderr and "1001" in ambiguous.stderr and "1002" in ambiguous.stderr

    unknown = run(store, "receipt", "nope", "read")
    assert unknown.returncode == 1 and "message_id" in unknown.stderr

    naive = run(store, "receipt", "m1", "read", "--channel-id", "1001", "--at", "2026-11-24T10:05:00")
    assert naive.returncode == 2 and "--at" in naive.stderr and "Fix:" in naive.stderr
    assert rows(store)["m1"]["delivery_status"] == "pending"


def test_a_bad_line_names_its_number_and_loads_nothing(tmp_path):
    store = tmp_path / "store.sqlite"
    records = tmp_path / "records.jsonl"
    good = {"channel_id": 1001, "message_id": "m1", "created_at": "2026-11-24T10:00:00Z"}
    records.write_text(
        json.dumps(good) + "\n\n" + json.dumps({"channel_id": 1001, "message_id": "m2", "created_at": "yesterday"}),
        encoding="utf-8",
    )
    result = run(store, "load", str(records))
    assert result.returncode == 2
    assert "line 3" in result.stderr and "created_at" in result.stderr and "Fix:" in result.stderr
    assert rows(store) == {}

    missing = run(store, "load", str(tmp_path / "absent.jsonl"))
    assert missing.returncode == 2 and "absent.jsonl" in missing.stderr


LINE = st.one_of(
    st.text(max_size=40),
    st.dictionaries(
        st.sampled_from(["channel_id", "message_id", "created_at", "delivery_status", "reported_status", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
        max_size=6,
    ).map(json.dumps),
    st.lists(st.integers(), max_size=3).map(json.dumps),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=5))
def test_any_file_loads_or_is_refused_with_a_line_and_a_fix(tmp_path_factory, lines, capsys):
    # In process (a subprocess per example would be slow): main() is what the module runs.
    folder = tmp_path_factory.mktemp("load")
    records = folder / "records.jsonl"
    records.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    code = main(["--store", str(folder / "store.sqlite"), "load", str(records)])
    err = capsys.readouterr().err
    assert code in (0, 2)
    if code == 2:
        assert "line " in err and "Fix:" in err
        assert rows(folder / "store.sqlite") == {}


@pytest.mark.parametrize("args", [[], ["frobnicate"]])
def test_usage_errors_exit_2(tmp_path, args):
    assert run(tmp_path / "s.sqlite", *args).returncode == 2


def test_insert_records_keeps_numeric_and_broken_text_and_names_the_record(tmp_path):
    store = tmp_path / "store.sqlite"
    base = {"channel_id": 1001, "created_at": "2026-11-24T10:00:00Z"}
    insert_records(store, [{**base, "message_id": "a", "recipient": 15550100, "carrier_error": "bad \ud800"}])
    assert (rows(store)["a"]["recipient"], rows(store)["a"]["carrier_error"]) == ("15550100", "bad \ufffd")
    with pytest.raises(InvalidInputError, match=r"records\[1\]\.delivery_status.*Fix:"):
        insert_records(store, [{**base, "message_id": "b"}, {**base, "message_id": "c", "delivery_status": "sent"}])
    assert set(rows(store)) == {"a"}
