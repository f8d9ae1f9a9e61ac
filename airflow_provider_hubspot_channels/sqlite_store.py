"""A reference integrator store: the bridge's own record of outgoing messages in a SQLite table.

The example DAGs and ``make demo`` use it; in production, read your bridge's real store the same way.

The bridge inserts a row when HubSpot's ``OUTGOING_CHANNEL_MESSAGE_CREATED`` webhook arrives
(:func:`insert_records`), and sets ``delivery_status`` when the carrier's delivery receipt comes
(:func:`record_receipt`: ``delivered``, ``read``, ``failed``). Rows still ``pending`` and not yet settled by a
reconciliation are what the reconciliation DAGs check. Replace this module with your own store: the DAGs need only
``load_pending`` (rows in, as plain dicts) and ``record_outcomes`` (the JSON Lines report out).

HubSpot delivers webhooks at least once, so the same message can arrive again, long after its receipt or its
reconciliation. An insert therefore never touches an existing row: a redelivered webhook must not turn a delivered
or reconciled message back into a pending one (which the next run would then mark FAILED).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import parse_timestamp
from airflow_provider_hubspot_channels.validation import validate_channel_id, validate_message_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS outgoing_messages (
    channel_id      INTEGER NOT NULL,
    message_id      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,  -- ISO 8601 UTC, from the webhook's createdAt
    delivery_status TEXT    NOT NULL DEFAULT 'pending',
    recipient       TEXT,
    carrier_error   TEXT,
    reconciled_at   TEXT,              -- set when a reconciliation settled it (see record_outcomes)
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


#: The statuses a carrier's receipt can report.
RECEIPT_STATUSES = frozenset({"delivered", "read", "failed"})


def insert_records(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Insert webhook records (as the bridge would); returns how many new rows were written.

    A message already in the store (same ``channel_id`` and ``message_id``) is left exactly as it is: webhooks are
    delivered at least once, and a redelivery must not reset its receipt or its reconciliation. Receipts go
    through :func:`record_receipt`.

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
        before = db.total_changes
        db.executemany(
            "INSERT INTO outgoing_messages "
            "(channel_id, message_id, created_at, delivery_status, recipient, carrier_error) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(channel_id, message_id) DO NOTHING",
            rows,
        )
        return db.total_changes - before


def record_receipt(
    path: str | Path,
    channel_id: int,
    message_id: str,
    delivery_status: str,
    carrier_error: str | None = None,
) -> bool:
    """Record a carrier's delivery receipt (as the bridge would); returns whether the message was in the store.

    Updates only: a receipt for a message the store does not know inserts nothing (its webhook has not arrived,
    and without it there is no ``created_at``). ``reconciled_at`` is kept, so a late receipt for a message a
    reconciliation already marked FAILED still shows that HubSpot was told so.

    :param path: the SQLite file.
    :param channel_id: the custom channel.
    :param message_id: the message the receipt is for.
    :param delivery_status: ``delivered``, ``read`` or ``failed``.
    :param carrier_error: the carrier's error text for a ``failed`` receipt, if any (replaces any earlier one).
    """
    if delivery_status not in RECEIPT_STATUSES:
        raise ValueError(f"delivery_status must be one of {sorted(RECEIPT_STATUSES)}, not {delivery_status!r}")
    with closing(connect(path)) as db, db:
        cursor = db.execute(
            "UPDATE outgoing_messages SET delivery_status = ?, carrier_error = ? "
            "WHERE channel_id = ? AND message_id = ?",
            (delivery_status, carrier_error, int(channel_id), str(message_id)),
        )
        return cursor.rowcount > 0


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
    :param created_after: lower bound (exclusive) of ``created_at``, if any; an aware datetime.
    :param created_at_or_before: upper bound (inclusive) of ``created_at``; an aware datetime.
    :param channel_id: only this channel, if given.
    """
    query = (
        "SELECT channel_id, message_id, created_at, delivery_status, recipient, carrier_error "
        "FROM outgoing_messages WHERE delivery_status = 'pending' AND reconciled_at IS NULL AND created_at <= ?"
    )
    # parse_timestamp refuses naive datetimes, which astimezone() would silently read as the machine's local time.
    args: list[Any] = [_iso(parse_timestamp(created_at_or_before, field="created_at_or_before"))]
    if created_after is not None:
        query += " AND created_at > ?"
        args.append(_iso(parse_timestamp(created_after, field="created_after")))
    if channel_id is not None:
        query += " AND channel_id = ?"
        args.append(int(channel_id))
    with closing(connect(path)) as db:
        rows = db.execute(query + " ORDER BY created_at", args).fetchall()
    return [{key: row[key] for key in row.keys() if row[key] is not None} for row in rows]  # noqa: SIM118


#: Outcomes that settle a message, and the ``delivery_status`` a still ``pending`` row gets (None: kept).
SETTLED_OUTCOMES: dict[str, str | None] = {
    "marked_failed": "failed",
    "skipped_terminal_in_hubspot": None,
    "not_found": None,
    "refused": None,
}


def record_outcomes(path: str | Path, report_path: str | Path) -> dict[str, int]:
    """Write a reconciliation's outcomes back: settled messages get ``reconciled_at`` and are not loaded again.

    * ``marked_failed``: a row still ``pending`` becomes ``failed``. A receipt recorded while the run was under
      way (``delivered``, ``read``, ``failed``) is kept: it is the truth, the FAILED was a guess. ``reconciled_at``
      is set either way, as HubSpot was told FAILED.
    * ``skipped_terminal_in_hubspot`` (HubSpot already showed READ or FAILED): ``delivery_status`` is kept.
    * ``not_found`` (HubSpot does not know the message): ``delivery_status`` is kept (``pending``). Retrying would
      cost one GET per run for every such message, for ever; find them later with
      ``delivery_status = 'pending' AND reconciled_at IS NOT NULL``.
    * ``refused`` (HubSpot refused the write with a final answer such as 400): kept ``pending`` like ``not_found``.
      The run that met the refusal failed and named it; loading the message again would fail every later run.

    Every other outcome (not stale yet, dry run, errors, ...) leaves the row as it is, for the next run.

    A line that is not a report row (not UTF-8, not a JSON object, cut off by a killed worker, without a valid
    ``channel_id``, ``message_id`` or ``outcome``) is skipped and counted as ``bad_lines``; its message stays
    pending and the next run looks at it again. All rows are written in one transaction: all or nothing.
    Returns how many rows of each settled outcome the report had, and ``bad_lines``.

    :param path: the SQLite file.
    :param report_path: the operator's JSON Lines report.
    """
    counts = dict.fromkeys(SETTLED_OUTCOMES, 0)
    bad_lines = 0
    now = _iso(datetime.now(timezone.utc))
    # Binary, so that one line of invalid UTF-8 is one bad line, not an exception half-way through the file.
    with closing(connect(path)) as db, db, open(report_path, "rb") as report:
        for line in report:
            row = _report_row(line)
            if row is None:
                bad_lines += 1
                continue
            channel_id, message_id, outcome = row
            if outcome not in SETTLED_OUTCOMES:
                continue
            counts[outcome] += 1
            db.execute(
                "UPDATE outgoing_messages SET reconciled_at = ?, "
                "delivery_status = CASE WHEN delivery_status = 'pending' THEN COALESCE(?, delivery_status) "
                "ELSE delivery_status END "
                "WHERE channel_id = ? AND message_id = ?",
                (now, SETTLED_OUTCOMES[outcome], channel_id, message_id),
            )
    return {**counts, "bad_lines": bad_lines}


def _report_row(line: bytes) -> tuple[int, str, str] | None:
    """``(channel_id, message_id, outcome)`` of one report line, or None when it is not a usable row."""
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(row, dict) or not isinstance(row.get("outcome"), str):
        return None
    try:
        channel_id = validate_channel_id(row.get("channel_id"))
        message_id = validate_message_id(row.get("message_id"))
        # JSON's \ud800 escapes decode to lone surrogates, which SQLite cannot store (and no HubSpot id has).
        message_id.encode("utf-8")
    except (InvalidInputError, ValueError):  # UnicodeEncodeError is a ValueError; so is int() of e.g. "²"
        return None
    return channel_id, message_id, row["outcome"]
