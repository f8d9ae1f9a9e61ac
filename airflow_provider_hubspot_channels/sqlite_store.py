"""A reference integrator store: the bridge's own record of outgoing messages in a SQLite table.

The example DAGs and ``make demo`` use it; in production, read your bridge's real store the same way.

The bridge inserts a row when HubSpot's ``OUTGOING_CHANNEL_MESSAGE_CREATED`` webhook arrives
(:func:`insert_records`), and sets ``delivery_status`` when the carrier's delivery receipt comes
(:func:`record_receipt`: ``delivered``, ``read``, ``failed``, with ``receipt_at``). A reconciliation tells HubSpot,
and :func:`record_outcomes` writes down what HubSpot shows afterwards (``reported_status``, ``reported_at``), so the
next run loads only what still disagrees (:func:`load_unreconciled`; :func:`load_pending` for the stale-only
operator). Replace this module with your own store: the DAGs need only a loader (rows in, as plain dicts) and
``record_outcomes`` (the JSON Lines report out).

Decisions:

* HubSpot delivers webhooks at least once, so the same message can arrive again, long after its receipt or its
  reconciliation. An insert therefore never touches an existing row: a redelivered webhook must not turn a
  delivered or reconciled message back into a pending one (which the next run would then mark FAILED).
* ``delivery_status`` belongs to the receipts: a write-back never changes it, so a receipt recorded while a run
  was under way is never lost, and the next run tells HubSpot.
* ``reported_status`` ``READ`` is final: HubSpot's READ is never changed by a reconciliation, so loading the row
  again would only cost a GET per run, for ever.
* A receipt recorded at or after the last report (``receipt_at >= reported_at``) makes the row load again, and
  without ``reported_status`` when that equals the target: the report was made without the receipt (a carrier's
  error after an SLA FAILED is a better explanation than the SLA's, though both are FAILED), so the run checks
  HubSpot instead of skipping the row.
* A store made by the previous version gains the new columns on first open. Its ``reconciled_at`` (settled by a
  previous version) counts as reported for a row still ``pending``; a ``failed`` row it settled was reported FAILED.
* A message is keyed by its account too (``portal_id``, ``''`` for the task connection's account): one message id
  in two HubSpot accounts is two messages. A store without the column is re-keyed on first open (its rows are the
  connection's account); loaders return ``portal_id`` only for rows that have one, so single-account batches are
  as before.
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
from airflow_provider_hubspot_channels.reconciliation.records import portal_id_of
from airflow_provider_hubspot_channels.validation import (
    replace_lone_surrogates,
    shown,
    validate_channel_id,
    validate_message_id,
    validate_portal_id,
    validate_status_type,
)

#: Columns added since the first version, with their declarations: ``connect`` adds any that a file lacks.
ADDED_COLUMNS = {
    "receipt_at": "TEXT",  # when the last receipt was recorded (record_receipt)
    "reported_status": "TEXT",  # what HubSpot showed after the last report: SENT, READ or FAILED
    "reported_at": "TEXT",  # when that was written back
    "abandoned": "TEXT",  # the outcome after which the row is never loaded again (not_found, refused, ...)
    "conversations_thread_id": "TEXT",  # HubSpot's thread id (digits), for verify by thread
}
_FIRST_COLUMNS = (
    "channel_id, message_id, created_at, delivery_status, recipient, carrier_error, reconciled_at, "
    + ", ".join(ADDED_COLUMNS)
)


def _schema(table: str) -> str:
    added = "".join(f"    {name} {declaration},\n" for name, declaration in ADDED_COLUMNS.items())
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    portal_id       TEXT    NOT NULL DEFAULT '',  -- HubSpot account (portalId); '' is the connection's account
    channel_id      INTEGER NOT NULL,
    message_id      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,  -- ISO 8601 UTC, from the webhook's createdAt
    delivery_status TEXT    NOT NULL DEFAULT 'pending',
    recipient       TEXT,
    carrier_error   TEXT,
    reconciled_at   TEXT,              -- written by previous versions only (see the module docstring)
{added}    PRIMARY KEY (portal_id, channel_id, message_id)
)
"""


SCHEMA = _schema("outgoing_messages")

_REPORTED = "COALESCE(UPPER(TRIM(reported_status)), '')"
_NEWER_RECEIPT = "(receipt_at IS NOT NULL AND (reported_at IS NULL OR receipt_at >= reported_at))"
# The target (from delivery_status) differs from what was reported. Pending: the stale ones' target is FAILED (the
# operator judges staleness); reconciled_at is a previous version's "reported" (see the module docstring).
_TARGET_DIFFERS = f"""CASE LOWER(delivery_status)
    WHEN 'pending' THEN {_REPORTED} <> 'FAILED' AND reconciled_at IS NULL
    WHEN 'delivered' THEN {_REPORTED} <> 'SENT'
    WHEN 'read' THEN {_REPORTED} <> 'READ'
    WHEN 'failed' THEN {_REPORTED} <> 'FAILED'
    ELSE 1 END"""
_DISAGREES = f"abandoned IS NULL AND {_REPORTED} <> 'READ' AND ({_NEWER_RECEIPT} OR {_TARGET_DIFFERS})"
# The columns a loader returns (None values left out). A reported_status that equals the target but predates the
# latest receipt is left out: that report was made without the receipt, so the run verifies instead of skipping.
_LOADED = (
    "channel_id, message_id, created_at, delivery_status, recipient, carrier_error, receipt_at, "
    "conversations_thread_id, NULLIF(portal_id, '') AS portal_id, "
    f"CASE WHEN {_NEWER_RECEIPT} AND NOT ({_TARGET_DIFFERS}) THEN NULL "
    "ELSE reported_status END AS reported_status"
)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (and create, or bring up to date, if needed) the store.

    :param path: the SQLite file.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path))
    db.row_factory = sqlite3.Row
    db.execute(SCHEMA)
    if {*ADDED_COLUMNS, "portal_id"} - _columns(db):
        _migrate(db)
    return db


def _columns(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(outgoing_messages)")}


def _migrate(db: sqlite3.Connection) -> None:
    # The write lock first, then look again: another process may have added the columns meanwhile.
    db.execute("BEGIN IMMEDIATE")
    try:
        have = _columns(db)
        for name, declaration in ADDED_COLUMNS.items():
            if name not in have:
                db.execute(f"ALTER TABLE outgoing_messages ADD COLUMN {name} {declaration}")
        if "reported_status" not in have:
            # A failed row a previous version settled was pending and marked FAILED (or received its failed
            # receipt while that run was under way): either way HubSpot was told FAILED.
            db.execute(
                "UPDATE outgoing_messages SET reported_status = 'FAILED', reported_at = reconciled_at "
                "WHERE reconciled_at IS NOT NULL AND delivery_status = 'failed'"
            )
            db.execute(
                "UPDATE outgoing_messages SET reported_at = reconciled_at "
                "WHERE reconciled_at IS NOT NULL AND reported_at IS NULL"
            )
        if "portal_id" not in have:
            # The key gains the account: SQLite cannot change a primary key in place, so the table is rebuilt in
            # the same transaction (every row is the connection's account).
            db.execute(_schema("outgoing_messages_keyed"))
            db.execute(
                f"INSERT INTO outgoing_messages_keyed ({_FIRST_COLUMNS}) SELECT {_FIRST_COLUMNS} FROM outgoing_messages"
            )
            db.execute("DROP TABLE outgoing_messages")
            db.execute("ALTER TABLE outgoing_messages_keyed RENAME TO outgoing_messages")
        db.commit()
    except BaseException:
        db.rollback()
        raise


#: The statuses a carrier's receipt can report.
RECEIPT_STATUSES = frozenset({"delivered", "read", "failed"})


def insert_records(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Insert webhook records (as the bridge would); returns how many new rows were written.

    A message already in the store (same ``channel_id`` and ``message_id``) is left exactly as it is: webhooks are
    delivered at least once, and a redelivery must not reset its receipt or its reconciliation. Receipts go
    through :func:`record_receipt`. A batch with an invalid value writes nothing and raises
    :class:`InvalidInputError` naming ``records[i].<field>``.

    :param path: the SQLite file.
    :param records: dicts with channel_id, message_id, created_at, delivery_status and optional recipient,
        carrier_error, conversations_thread_id (digits), reported_status (what the bridge already reported:
        SENT, READ or FAILED, any case; its ``reported_at`` is now), receipt_at and portal_id (``portalId``: the
        HubSpot account; absent for the connection's).
    """
    now = _iso(datetime.now(timezone.utc))
    rows = [_insert_row(index, record, now) for index, record in enumerate(records)]
    with closing(connect(path)) as db, db:
        before = db.total_changes
        db.executemany(
            "INSERT INTO outgoing_messages (channel_id, message_id, created_at, delivery_status, recipient, "
            "carrier_error, reported_status, reported_at, receipt_at, conversations_thread_id, portal_id) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(portal_id, channel_id, message_id) DO NOTHING",
            rows,
        )
        return db.total_changes - before


def _insert_row(index: int, record: Any, now: str) -> tuple[Any, ...]:
    where = f"records[{index}]"
    if not isinstance(record, Mapping):
        raise InvalidInputError(where, f"{shown(record)} is not an object", "give one JSON object per record")
    for key in ("channel_id", "message_id", "created_at"):
        if record.get(key) is None:
            raise InvalidInputError(f"{where}.{key}", "it is missing", f"give every record its {key}")
    try:
        message_id = validate_message_id(record["message_id"], field="message_id")
        reported = _reported_status(record.get("reported_status"))
        receipt_at = record.get("receipt_at")
        return (
            validate_channel_id(record["channel_id"], field="channel_id"),
            message_id,
            _iso(parse_timestamp(record["created_at"], field="created_at")),
            _delivery_status(record.get("delivery_status")),
            _optional_text(record.get("recipient"), "recipient"),
            _optional_text(record.get("carrier_error"), "carrier_error"),
            reported,
            now if reported else None,
            None if receipt_at is None else _iso(parse_timestamp(receipt_at, field="receipt_at")),
            _thread_id(record.get("conversations_thread_id")),
            _portal_id(record),
        )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}.{exc.field}", exc.problem, exc.fix) from None


def _delivery_status(value: Any) -> str:
    if value is None or value == "":
        return "pending"
    if not isinstance(value, str) or value.strip().lower() not in {"pending", *RECEIPT_STATUSES}:
        raise InvalidInputError(
            "delivery_status", f"{shown(value)} is no delivery status", "use pending, delivered, read or failed"
        )
    return value.strip().lower()


def _optional_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # a phone number from a numeric column
    if not isinstance(value, str):
        raise InvalidInputError(field, f"{shown(value)} is not text", f"give {field} as text, or leave it out")
    # SQLite stores UTF-8; half an emoji (as JavaScript may write it) becomes U+FFFD, as the operator does.
    return replace_lone_surrogates(value)


def _reported_status(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return validate_status_type(value, field="reported_status")


def _portal_id(record: Mapping[str, Any]) -> str:
    # The records layer's own reading (any spelling, disagreeing spellings refused): filed under the account it is
    # sent to.
    return portal_id_of(record) or ""


def _thread_id(value: Any) -> str | None:
    if value is None:
        return None
    # bool is an int to Python; "١٢" is digits to str.isdigit(): neither is a HubSpot thread id.
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()):
        raise InvalidInputError(
            "conversations_thread_id",
            f"{shown(value)} is not a thread id",
            "give HubSpot's conversationsThreadId as digits, or leave it out",
        )
    return text


def record_receipt(
    path: str | Path,
    channel_id: int,
    message_id: str,
    delivery_status: str,
    carrier_error: str | None = None,
    *,
    receipt_at: datetime | None = None,
    portal_id: str | int | None = None,
) -> bool:
    """Record a carrier's delivery receipt (as the bridge would); returns whether the message was in the store.

    Updates only: a receipt for a message the store does not know inserts nothing (its webhook has not arrived,
    and without it there is no ``created_at``). What was reported to HubSpot is kept, so a late receipt for a
    message a reconciliation marked FAILED is loaded again, and HubSpot is corrected.

    :param path: the SQLite file.
    :param channel_id: the custom channel.
    :param message_id: the message the receipt is for.
    :param delivery_status: ``delivered``, ``read`` or ``failed``.
    :param carrier_error: the carrier's error text for a ``failed`` receipt, if any (replaces any earlier one).
    :param receipt_at: when the receipt arrived, aware; now when None.
    :param portal_id: the message's HubSpot account; None for the connection's account.
    """
    if delivery_status not in RECEIPT_STATUSES:
        raise InvalidInputError(
            "delivery_status",
            f"{shown(delivery_status)} is no receipt",
            f"use one of {', '.join(sorted(RECEIPT_STATUSES))} (a receipt is never pending)",
        )
    at = _iso(parse_timestamp(receipt_at, field="receipt_at")) if receipt_at else _iso(datetime.now(timezone.utc))
    account = "" if portal_id is None else validate_portal_id(portal_id)
    with closing(connect(path)) as db, db:
        cursor = db.execute(
            "UPDATE outgoing_messages SET delivery_status = ?, carrier_error = ?, receipt_at = ? "
            "WHERE channel_id = ? AND message_id = ? AND portal_id = ?",
            (delivery_status, carrier_error, at, int(channel_id), str(message_id), account),
        )
        return cursor.rowcount > 0


#: The columns :func:`message_rows` shows: everything but the recipient (personal data stays out of terminals).
SHOWN_COLUMNS = (
    "channel_id",
    "message_id",
    "created_at",
    "delivery_status",
    "receipt_at",
    "reported_status",
    "reported_at",
    "abandoned",
    "conversations_thread_id",
    "portal_id",
)


def message_rows(
    path: str | Path, message_id: str, channel_id: int | None = None, portal_id: str | int | None = None
) -> list[dict[str, Any]]:
    """The stored rows of a message id (one per channel and account that has it), without the recipient;
    ``portal_id`` only in rows of a named account.

    :param path: the SQLite file.
    :param message_id: the message id.
    :param channel_id: only this channel, if given.
    :param portal_id: only this account, if given.
    """
    query = f"SELECT {', '.join(SHOWN_COLUMNS)} FROM outgoing_messages WHERE message_id = ?"
    args: list[Any] = [str(message_id)]
    if channel_id is not None:
        query += " AND channel_id = ?"
        args.append(int(channel_id))
    if portal_id is not None:
        query += " AND portal_id = ?"
        args.append(validate_portal_id(portal_id))
    with closing(connect(path)) as db:
        rows = [dict(row) for row in db.execute(query + " ORDER BY channel_id, portal_id", args)]
    for row in rows:
        if not row["portal_id"]:
            del row["portal_id"]
    return rows


def _iso(value: datetime) -> str:
    # One fixed format for every stored and compared time, so SQLite's text comparison orders them correctly.
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def load_unreconciled(
    path: str | Path,
    *,
    created_at_or_before: datetime,
    created_after: datetime | None = None,
    channel_id: int | None = None,
) -> list[dict[str, Any]]:
    """Rows whose target status disagrees with what HubSpot was last told, oldest first (two-way mode).

    That is, rows not abandoned and not reported READ that are ``pending`` (not reported FAILED), ``delivered``
    (not reported SENT), ``read``, ``failed`` (not reported FAILED), or have a receipt newer than the last report.
    Each row is a dict with ``reported_status`` and ``receipt_at`` when set (None values left out).

    :param path: the SQLite file.
    :param created_at_or_before: upper bound (inclusive) of ``created_at``; an aware datetime.
    :param created_after: lower bound (exclusive) of ``created_at``, if any; an aware datetime.
    :param channel_id: only this channel, if given.
    """
    return _load(path, _DISAGREES, created_at_or_before, created_after, channel_id)


def load_pending(
    path: str | Path,
    *,
    created_after: datetime | None = None,
    created_at_or_before: datetime,
    channel_id: int | None = None,
) -> list[dict[str, Any]]:
    """Rows still waiting for a receipt and not yet reported FAILED (or READ), oldest first (stale-only mode).

    :param path: the SQLite file.
    :param created_after: lower bound (exclusive) of ``created_at``, if any; an aware datetime.
    :param created_at_or_before: upper bound (inclusive) of ``created_at``; an aware datetime.
    :param channel_id: only this channel, if given.
    """
    where = (
        f"delivery_status = 'pending' AND abandoned IS NULL AND reconciled_at IS NULL "
        f"AND {_REPORTED} NOT IN ('FAILED', 'READ')"
    )
    return _load(path, where, created_at_or_before, created_after, channel_id)


def _load(
    path: str | Path, where: str, until: datetime, after: datetime | None, channel_id: int | None
) -> list[dict[str, Any]]:
    query = f"SELECT {_LOADED} FROM outgoing_messages WHERE ({where}) AND created_at <= ?"
    # parse_timestamp refuses naive datetimes, which astimezone() would silently read as the machine's local time.
    args: list[Any] = [_iso(parse_timestamp(until, field="created_at_or_before"))]
    if after is not None:
        query += " AND created_at > ?"
        args.append(_iso(parse_timestamp(after, field="created_after")))
    if channel_id is not None:
        query += " AND channel_id = ?"
        args.append(int(channel_id))
    with closing(connect(path)) as db:
        rows = db.execute(query + " ORDER BY created_at, channel_id, message_id", args).fetchall()
    return [{key: row[key] for key in row.keys() if row[key] is not None} for row in rows]  # noqa: SIM118


#: Outcomes after which a row is never loaded again: HubSpot does not know the message, refused the write for
#: good, or shows it as INCOMING (retrying would cost a GET per run for ever, or fail every run).
ABANDONING_OUTCOMES = ("not_found", "refused", "skipped_not_outgoing")
#: Outcomes a report row carries ``hubspot_status_after`` with (see :func:`record_outcomes`).
REPORTED_OUTCOMES = (
    "marked_sent",
    "marked_read",
    "marked_failed",
    "marked_failed_by_carrier",
    "corrected_to_sent",
    "corrected_to_read",
    "already_correct",
    "skipped_read_in_hubspot",
)
# What HubSpot can show (RECEIVED included: a write-back records what HubSpot shows, not what we asked).
_HUBSPOT_STATUSES = frozenset({"SENT", "READ", "FAILED", "RECEIVED"})


def record_outcomes(path: str | Path, report_path: str | Path, *, loaded_at: datetime | None = None) -> dict[str, int]:
    """Write a reconciliation's outcomes back: what HubSpot shows now, and the rows never to load again.

    * A row with ``hubspot_status_after`` sets ``reported_status`` to it and ``reported_at`` to ``loaded_at``:
      what the run told HubSpot was decided from the rows as they were loaded, so a receipt recorded after that
      (during the run) is newer than the report and the next run tells HubSpot what it says. HubSpot's
      ``RECEIVED`` is no report (bridges report SENT, READ, FAILED) and is not kept. Without ``loaded_at``, the
      write-back's own time is used, and only after ``marked_failed`` (the run judged the row pending) does a
      receipt recorded during the run keep the older ``reported_at``.
    * ``not_found``, ``refused`` and ``skipped_not_outgoing`` set ``abandoned`` to the outcome: never loaded
      again; find them with ``abandoned IS NOT NULL``.
    * ``delivery_status`` is never changed: the store keeps receipts, HubSpot is told.

    Every other row (not stale yet, dry run, errors, ...) leaves the row as it is, for the next run.

    A line that is not a report row (not UTF-8, not a JSON object, cut off by a killed worker, without a valid
    ``channel_id``, ``message_id`` or ``outcome``, or with a ``hubspot_status_after`` that is no HubSpot status)
    is skipped and counted as ``bad_lines``; its row stays as it was. All rows are written in one transaction:
    all or nothing. Returns how many rows of each outcome were written back (every outcome of
    :data:`REPORTED_OUTCOMES` and :data:`ABANDONING_OUTCOMES`, zeros included, and any other outcome that carried
    ``hubspot_status_after``), and ``bad_lines``.

    :param path: the SQLite file.
    :param report_path: the operator's JSON Lines report.
    :param loaded_at: when the run's batch was read from the store (e.g. the DAG run's start), aware; default now.
    """
    counts = dict.fromkeys((*REPORTED_OUTCOMES, *ABANDONING_OUTCOMES), 0)
    bad_lines = 0
    stamp = loaded_at if loaded_at is not None else datetime.now(timezone.utc)
    now = _iso(parse_timestamp(stamp, field="loaded_at"))
    # Binary, so that one line of invalid UTF-8 is one bad line, not an exception half-way through the file.
    with closing(connect(path)) as db, db, open(report_path, "rb") as report:
        for line in report:
            row = _report_row(line)
            if row is None:
                bad_lines += 1
                continue
            channel_id, message_id, outcome, after, account = row
            after = None if after == "RECEIVED" else after
            abandon = outcome if outcome in ABANDONING_OUTCOMES else None
            if after is None and abandon is None:
                continue
            counts[outcome] = counts.get(outcome, 0) + 1
            db.execute(
                "UPDATE outgoing_messages SET "
                "reported_status = COALESCE(?1, reported_status), "
                "reported_at = CASE WHEN ?1 IS NULL OR (?2 AND delivery_status <> 'pending') THEN reported_at "
                "ELSE ?3 END, "
                "abandoned = COALESCE(?4, abandoned) "
                "WHERE channel_id = ?5 AND message_id = ?6 AND portal_id = ?7",
                (after, outcome == "marked_failed", now, abandon, channel_id, message_id, account),
            )
    return {**counts, "bad_lines": bad_lines}


def _report_row(line: bytes) -> tuple[int, str, str, str | None, str] | None:
    """``(channel_id, message_id, outcome, hubspot_status_after, portal_id)`` of one report line (``''``: no
    account named), or None when unusable."""
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(row, dict) or not isinstance(row.get("outcome"), str):
        return None
    after = row.get("hubspot_status_after")
    if after is not None:
        if not isinstance(after, str) or after.strip().upper() not in _HUBSPOT_STATUSES:
            return None
        after = after.strip().upper()
    try:
        channel_id = validate_channel_id(row.get("channel_id"))
        message_id = validate_message_id(row.get("message_id"))
        # JSON's \ud800 escapes decode to lone surrogates, which SQLite cannot store (and no HubSpot id has).
        message_id.encode("utf-8")
        account = "" if row.get("portal_id") is None else validate_portal_id(row["portal_id"])
    except (InvalidInputError, ValueError):  # UnicodeEncodeError is a ValueError; so is int() of e.g. "²"
        return None
    return channel_id, message_id, row["outcome"], after, account


if __name__ == "__main__":
    # The command line lives in its own module (load, receipt, pending, show); this keeps the documented
    # ``python -m airflow_provider_hubspot_channels.sqlite_store`` working.
    import sys

    from airflow_provider_hubspot_channels.store_cli import main

    sys.exit(main())
