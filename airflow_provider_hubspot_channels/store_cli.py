"""Command line of the reference store: load records, record receipts, show what the next run would load.

``python -m airflow_provider_hubspot_channels.sqlite_store [--store PATH] load|receipt|pending|show ...``

Output names ids, statuses and counts, never recipients (personal data stays out of terminals and CI logs).
Exit codes: 0 done, 1 a message the store does not have, 2 bad input (the message names the field and the fix).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import parse_timestamp
from airflow_provider_hubspot_channels.sqlite_store import (
    RECEIPT_STATUSES,
    insert_records,
    load_unreconciled,
    message_rows,
    record_receipt,
)
from airflow_provider_hubspot_channels.validation import validate_channel_id

#: The store the example DAGs read unless ``HUBSPOT_CHANNELS_STORE`` names another.
DEFAULT_STORE = "/tmp/hubspot_channels/integrator_store.sqlite"
PROG = "python -m airflow_provider_hubspot_channels.sqlite_store"
#: Commands that only read: a --store that does not exist is a typo, not a new store to create.
_READ_ONLY = ("pending", "show")


class _Refused(Exception):
    """Bad input: exit 2 with the message."""


class _Missing(Exception):
    """A message the store does not have: exit 1 with the message."""


def _channel_id(text: str) -> int:
    """``--channel-id`` checked by the provider's channel id rule (a positive int32), so no command gets one SQLite
    cannot hold."""
    try:
        return validate_channel_id(text, field="--channel-id")
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(f"{exc.problem}. Fix: {exc.fix}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand documented in ``--help``)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--store",
        default=os.environ.get("HUBSPOT_CHANNELS_STORE", DEFAULT_STORE),
        help="the SQLite file (default: $HUBSPOT_CHANNELS_STORE, else the example DAGs' default %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = commands.add_parser(
        "load", help="insert records from a JSON Lines file (e.g. the simulator's --records-out)"
    )
    load.add_argument("records", metavar="RECORDS.jsonl", help="one record (JSON object) per line; blank lines skipped")

    receipt = commands.add_parser("receipt", help="record a carrier's delivery receipt")
    receipt.add_argument("message_id", metavar="MESSAGE_ID")
    receipt.add_argument("status", metavar="STATUS", help=f"one of {', '.join(sorted(RECEIPT_STATUSES))}")
    receipt.add_argument("--channel-id", type=_channel_id, default=None, help="needed when two channels have the id")
    receipt.add_argument("--portal-id", default=None, help="the HubSpot account, needed when two accounts have the id")
    receipt.add_argument("--at", default=None, help="when the receipt arrived (ISO 8601 with offset); default now")
    receipt.add_argument("--carrier-error", default=None, help="the carrier's error text of a failed receipt")

    pending = commands.add_parser("pending", help="what the next run would load: counts and ids, no personal data")
    pending.add_argument("--at", default=None, help="the run's data interval end (ISO 8601 with offset); default now")
    pending.add_argument("--channel-id", type=_channel_id, default=None, help="only this channel")
    pending.add_argument("--limit", type=int, default=20, help="ids to list (text output; --json lists all)")
    pending.add_argument("--json", action="store_true", help="one JSON object instead of text")

    show = commands.add_parser("show", help="a message's row (without the recipient)")
    show.add_argument("message_id", metavar="MESSAGE_ID")
    show.add_argument("--channel-id", type=_channel_id, default=None, help="only this channel")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand.

    :param argv: arguments; ``sys.argv[1:]`` when None.
    :returns: the exit code.
    """
    args = build_parser().parse_args(argv)
    store = Path(args.store)
    try:
        if args.command in _READ_ONLY and not store.is_file():
            raise _Refused(
                f"--store {store}: no such file. Fix: check the path, or set HUBSPOT_CHANNELS_STORE to the store "
                "the DAGs use (`load` creates a new one)"
            )
        if args.command == "load":
            return _load(store, Path(args.records))
        if args.command == "receipt":
            return _receipt(store, args)
        if args.command == "pending":
            return _pending(store, args)
        return _show(store, args.message_id, args.channel_id)
    except (InvalidInputError, _Refused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:
        # Not a SQLite file, a locked or read-only one, ...: the store, not the message, is at fault.
        print(
            f"error: --store {store}: {exc}. Fix: point --store at the reference store's SQLite file "
            "(or at a new path: `load` creates it)",
            file=sys.stderr,
        )
        return 2
    except (OverflowError, RecursionError) as exc:
        # Any number or nesting the checks above let through: still bad input, never a traceback (exit 1 would
        # say "message not in store").
        print(f"error: {exc}. Fix: give ids and values within their documented ranges", file=sys.stderr)
        return 2
    except _Missing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _load(store: Path, source: Path) -> int:
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise _Refused(f"{source}: {exc.strerror}. Fix: give the path of a JSON Lines file") from None
    records: list[Any] = []
    line_of: list[int] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError):
            # RecursionError: nesting deeper than the json module's stack (thousands of '[').
            raise _Refused(
                f"{source} line {number}: not a JSON object in UTF-8. Fix: write one JSON object per line"
            ) from None
        line_of.append(number)
    try:
        added = insert_records(store, records)
    except InvalidInputError as exc:
        # records[i].field -> the file's line, which is what the user can open in an editor.
        index = int(exc.field[len("records[") :].split("]")[0])
        field = exc.field.partition(".")[2] or "record"
        raise _Refused(f"{source} line {line_of[index]}: {field}: {exc.problem}. Fix: {exc.fix}") from None
    print(f"{added} new rows from {len(records)} records ({len(records) - added} already in the store) in {store}")
    return 0


def _aware(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_timestamp(text, field=option)
    except InvalidInputError as exc:
        raise _Refused(
            f"{option}: {exc.problem}. Fix: give an ISO 8601 time with an offset, e.g. 2026-11-24T10:05:00+00:00"
        ) from None


def _receipt(store: Path, args: argparse.Namespace) -> int:
    status = args.status.strip().lower()
    if status not in RECEIPT_STATUSES:
        raise InvalidInputError(
            "delivery_status",
            f"{args.status!r} is no receipt",
            f"use one of {', '.join(sorted(RECEIPT_STATUSES))}",
        )
    at = _aware(args.at, "--at")
    channel_id, portal_id = _one_message(store, args.message_id, args.channel_id, args.portal_id)
    record_receipt(store, channel_id, args.message_id, status, args.carrier_error, receipt_at=at, portal_id=portal_id)
    account = f" of account {portal_id}" if portal_id else ""
    print(f"recorded {status} for message {args.message_id} of channel {channel_id}{account}")
    return 0


def _one_message(store: Path, message_id: str, channel_id: int | None, portal_id: str | None) -> tuple[int, str | None]:
    rows = message_rows(store, message_id, channel_id, portal_id)
    channels = sorted({row["channel_id"] for row in rows})
    accounts = sorted({row.get("portal_id", "the connection's") for row in rows})
    if len(channels) == 1 and len(accounts) > 1:
        raise _Refused(
            f"message_id: {message_id!r} is in accounts {', '.join(accounts)}. Fix: name one with --portal-id"
        )
    if not channels:
        where = "" if channel_id is None else f" of channel {channel_id}"
        raise _Missing(
            f"message_id: {message_id!r}{where} is not in {store}. Fix: load its record first (its webhook), "
            "or check the id and --store"
        )
    if len(channels) > 1:
        raise _Refused(
            f"message_id: {message_id!r} is in channels {', '.join(map(str, channels))}. "
            "Fix: name one with --channel-id"
        )
    return int(channels[0]), rows[0].get("portal_id")


def _pending(store: Path, args: argparse.Namespace) -> int:
    at = _aware(args.at, "--at") or datetime.now(timezone.utc)
    rows = load_unreconciled(store, created_at_or_before=at, channel_id=args.channel_id)
    by_delivery = Counter(str(row.get("delivery_status")) for row in rows)
    by_reported = Counter(str(row.get("reported_status", "none")) for row in rows)
    ids = [{"channel_id": r["channel_id"], "message_id": r["message_id"], "created_at": r["created_at"]} for r in rows]
    if args.json:
        summary = {
            "store": str(store),
            "created_at_or_before": at.isoformat(),
            "total": len(rows),
            "by_delivery_status": dict(sorted(by_delivery.items())),
            "by_reported_status": dict(sorted(by_reported.items())),
            "ids": ids,
        }
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{len(rows)} rows a run with data_interval_end {at.isoformat()} would load from {store}")
    print(f"  by delivery_status: {_counts(by_delivery)}")
    print(f"  by reported_status: {_counts(by_reported)}")
    for row in ids[: max(args.limit, 0)]:
        print(f"  {row['channel_id']} {row['message_id']} created {row['created_at']}")
    if len(ids) > args.limit > -1:
        print(f"  ... and {len(ids) - args.limit} more (--limit, or --json for all)")
    return 0


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counter.items())) or "-"


def _show(store: Path, message_id: str, channel_id: int | None) -> int:
    rows = message_rows(store, message_id, channel_id)
    if not rows:
        raise _Missing(f"message_id: {message_id!r} is not in {store}. Fix: check the id and --store")
    for row in rows:
        print(json.dumps(row))
    return 0
