"""The reference store keys a message by its HubSpot account too: one message id in two accounts is two messages."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.sqlite_store import (
    ADDED_COLUMNS,
    connect,
    insert_records,
    load_pending,
    load_unreconciled,
    message_rows,
    record_outcomes,
    record_receipt,
)
from airflow_provider_hubspot_channels.store_cli import main
from airflow_provider_hubspot_channels.validation import validate_portal_id

UNTIL = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CREATED = "2026-11-24T10:00:00+00:00"


def webhook(message_id: str, portal: Any = None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"channel_id": 1001, "message_id": message_id, "created_at": CREATED, **extra}
    if portal is not None:
        row["portalId"] = portal
    return row


def test_two_accounts_keep_their_own_row_of_one_message_id_and_loaders_name_the_account(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    assert insert_records(store, [webhook("m1", 5), webhook("m1", "6"), webhook("m1"), webhook("m1", 5)]) == 3
    loaded = load_unreconciled(store, created_at_or_before=UNTIL)
    assert sorted(row.get("portal_id", "-") for row in loaded) == ["-", "5", "6"]
    assert sorted(row.get("portal_id", "-") for row in load_pending(store, created_at_or_before=UNTIL)) == [
        "-",
        "5",
        "6",
    ]
    # A receipt and a write-back reach only their own account's row.
    assert record_receipt(store, 1001, "m1", "delivered", portal_id=6)
    report = tmp_path / "report.jsonl"
    report.write_text(
        json.dumps(
            {
                "channel_id": "1001",
                "message_id": "m1",
                "outcome": "marked_failed",
                "hubspot_status_after": "FAILED",
                "portal_id": "5",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    assert record_outcomes(store, report)["marked_failed"] == 1
    rows = {row.get("portal_id", "-"): row for row in message_rows(store, "m1")}
    assert (rows["5"]["reported_status"], rows["6"]["reported_status"], rows["-"]["reported_status"]) == (
        "FAILED",
        None,
        None,
    )
    assert (rows["5"]["delivery_status"], rows["6"]["delivery_status"]) == ("pending", "delivered")


def test_a_store_without_accounts_is_rekeyed_on_first_open_and_keeps_every_row(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    added = "".join(f", {name} {declaration}" for name, declaration in ADDED_COLUMNS.items())
    with closing(sqlite3.connect(store)) as db, db:
        db.execute(
            "CREATE TABLE outgoing_messages (channel_id INTEGER NOT NULL, message_id TEXT NOT NULL, created_at TEXT "
            "NOT NULL, delivery_status TEXT NOT NULL DEFAULT 'pending', recipient TEXT, carrier_error TEXT, "
            f"reconciled_at TEXT{added}, PRIMARY KEY (channel_id, message_id))"
        )
        db.execute(
            "INSERT INTO outgoing_messages (channel_id, message_id, created_at, delivery_status, reported_status) "
            "VALUES (1001, 'old', ?, 'pending', 'SENT')",
            (CREATED,),
        )
    assert [row["message_id"] for row in load_unreconciled(store, created_at_or_before=UNTIL)] == ["old"]
    assert insert_records(store, [webhook("old", 9)]) == 1  # another account's message of the same id
    with closing(connect(store)) as db:
        keys = [r[1] for r in db.execute("PRAGMA table_info(outgoing_messages)") if r[5]]
        assert sorted(keys) == ["channel_id", "message_id", "portal_id"]
        assert db.execute("SELECT reported_status FROM outgoing_messages WHERE portal_id = ''").fetchone()[0] == "SENT"


def test_the_cli_asks_which_account_when_two_have_the_message(tmp_path: Path, capsys: Any) -> None:
    store = tmp_path / "store.sqlite"
    insert_records(store, [webhook("m1", 5), webhook("m1", 6)])
    assert main(["--store", str(store), "receipt", "m1", "delivered"]) == 2
    assert "--portal-id" in capsys.readouterr().err
    assert main(["--store", str(store), "receipt", "m1", "delivered", "--portal-id", "6"]) == 0
    assert {r["portal_id"]: r["delivery_status"] for r in message_rows(store, "m1")} == {
        "5": "pending",
        "6": "delivered",
    }


portals = st.one_of(st.none(), st.integers(1, 4), st.sampled_from(["2", " 03", "", "x", 0, True, 2**63]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(portals, st.sampled_from(["m1", "m2"])), max_size=12))
def test_any_account_ids_either_refuse_the_batch_naming_the_row_or_key_one_row_per_account(
    tmp_path: Path, rows: list[tuple[Any, str]]
) -> None:
    store = tmp_path / f"store-{abs(hash(repr(rows)))}.sqlite"
    batch = [webhook(message_id, portal) for portal, message_id in rows]
    try:
        added = insert_records(store, batch)
    except InvalidInputError as exc:
        index = int(exc.field[len("records[") :].split("]")[0])
        # Named as the row spells it, as the records layer names every field.
        assert exc.field in (f"records[{index}].portal_id", f"records[{index}].portalId")
        assert not store.exists() or not message_rows(store, "m1") + message_rows(store, "m2")  # all or nothing
        return
    keys = {(validate_portal_id(p) if p is not None else "", m) for p, m in rows}
    assert added == len(keys)
    stored = {(r.get("portal_id", ""), r["message_id"]) for m in ("m1", "m2") for r in message_rows(store, m)}
    assert stored == keys


def test_the_store_files_a_row_under_the_account_the_records_layer_sends_it_to(tmp_path: Path) -> None:
    # Review found PortalId / PORTAL_ID / {portal_id: None, portalId: ...} filed under the connection's account
    # while the reconciliation sent them to 702, and disagreeing spellings kept silently.
    import pytest

    from airflow_provider_hubspot_channels.reconciliation.records import parse_record

    spellings = [{"portalId": "702"}, {"PortalId": "702"}, {"PORTAL_ID": 702}, {"portal_id": None, "portalId": "702"}]
    for number, extra in enumerate(spellings):
        store = str(tmp_path / f"s{number}.sqlite")
        row = {**webhook("m1"), **extra}
        insert_records(store, [row])
        assert parse_record(row, 0).portal_id == "702"
        assert [r.get("portal_id") for r in message_rows(store, "m1")] == ["702"], extra
    with pytest.raises(InvalidInputError, match="disagree"):
        insert_records(str(tmp_path / "x.sqlite"), [{**webhook("m1"), "portal_id": "701", "portalId": "702"}])
