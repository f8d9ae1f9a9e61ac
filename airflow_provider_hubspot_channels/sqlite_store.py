"""A reference integrator store: the bridge's own record of outgoing messages in a SQLite table.

The example DAGs and ``make demo`` use it; in production, read your bridge's real store the same way.

The bridge inserts a row when HubSpot's ``OUTGOING_CHANNEL_MESSAGE_CREATED`` webhook arrives, and sets
``delivery_status`` when the carrier's delivery receipt comes (``delivered``, ``read``, ``failed``). Rows still
``pending`` are what the reconciliation DAGs check. Replace this module with your own store: the DAGs need only
``load_pending`` (rows in, as plain dicts) and ``record_outcomes`` (the JSON Lines report out).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_hubspot_channels.reconciliation import parse_timestamp

SCHEMA = """
CREATE TABLE IF NOT EXISTS outgoing_messages (
    channel_id      INTEGER NOT NULL,
    message_id      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,  -- ISO 8601 UTC, from the webhook's createdAt
    delivery_status TEXT    NOT NULL DEFAULT 'pending',
    recipient       TEXT,
    carrier_error   TEXT,
    reconciled_at   TEXT,              -- set when a reconciliation marked the message FAILED in HubSpot
    PRIMARY KEY (channel_id, message_id)
)
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (and create if needed) the store.

    :param path: the SQLite file.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path))
    db.row_factory = sqlite3.Row
    db.execute(SCHEMA)
    return db


def insert_records(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Insert webhook records (as the bridge would); returns how many rows were written.

    :param path: the SQLite file.
    :param records: dicts with channel_id, message_id, created_at, delivery_status and optional context.
    """
    rows = [
        (
            int(r["channel_id"]),
            str(r["message_id"]),
            _iso(parse_timestamp(r["created_at"], field="created_at")),
            r.get("delivery_status") or "pending",
            r.get("recipient"),
            r.get("carrier_error"),
        )
        for r in records
    ]
    with closing(connect(path)) as db, db:
        db.executemany(
            "INSERT OR REPLACE INTO outgoing_messages "
            "(channel_id, message_id, created_at, delivery_status, recipient, carrier_error) VALUES (?,?,?,?,?,?)",
            rows,
        )
    return len(rows)


def _iso(value: datetime) -> str:
    # One fixed format for every stored and compared time, so SQLite's text comparison orders them correctly.
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def load_pending(
    path: str | Path,
    *,
    created_after: datetime | None = None,
    created_at_or_before: datetime,
    channel_id: int | None = None,
) -> list[dict[str, Any]]:
    """Rows still waiting for a receipt and not yet reconciled, oldest first.

    :param path: the SQLite file.
    :param created_after: lower bound (exclusive) of ``created_at``, if any.
    :param created_at_or_before: upper bound (inclusive) of ``created_at``.
    :param channel_id: only this channel, if given.
    """
    query = (
        "SELECT channel_id, message_id, created_at, delivery_status, recipient, carrier_error "
        "FROM outgoing_messages WHERE delivery_status = 'pending' AND reconciled_at IS NULL AND created_at <= ?"
    )
    args: list[Any] = [_iso(created_at_or_before)]
    if created_after is not None:
        query += " AND created_at > ?"
        args.append(_iso(created_after))
    if channel_id is not None:
        query += " AND channel_id = ?"
        args.append(int(channel_id))
    with closing(connect(path)) as db:
        rows = db.execute(query + " ORDER BY created_at", args).fetchall()
    return [{key: row[key] for key in row.keys() if row[key] is not None} for row in rows]  # noqa: SIM118


def record_outcomes(path: str | Path, report_path: str | Path) -> dict[str, int]:
    """Write a reconciliation's outcomes back: messages marked FAILED become ``failed`` and get ``reconciled_at``.

    Messages HubSpot already showed READ or FAILED are settled too, so the next run does not look at them again.

    :param path: the SQLite file.
    :param report_path: the operator's JSON Lines report.
    """
    settled = {"marked_failed": "failed", "skipped_terminal_in_hubspot": None}
    counts = {"marked_failed": 0, "skipped_terminal_in_hubspot": 0}
    now = _iso(datetime.now(timezone.utc))
    with closing(connect(path)) as db, db, open(report_path, encoding="utf-8") as report:
        for line in report:
            row = json.loads(line)
            outcome = row["outcome"]
            if outcome not in settled:
                continue
            counts[outcome] += 1
            db.execute(
                "UPDATE outgoing_messages SET reconciled_at = ?, delivery_status = COALESCE(?, delivery_status) "
                "WHERE channel_id = ? AND message_id = ?",
                (now, settled[outcome], int(row["channel_id"]), row["message_id"]),
            )
    return counts
