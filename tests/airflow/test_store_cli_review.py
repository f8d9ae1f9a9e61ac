"""Review B findings on the store CLI: every bad input is exit 2 with a Fix, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_provider_hubspot_channels import store_cli

RECORD = {
    "channel_id": 1001,
    "message_id": "m-1",
    "created_at": "2026-11-24T10:00:00+00:00",
    "delivery_status": "pending",
}


def run_cli(*argv: str) -> int:
    """store_cli.main as the console script runs it; an uncaught exception is a crash with a traceback."""
    try:
        return store_cli.main(list(argv))
    except SystemExit as exc:  # argparse
        return int(exc.code or 0)


def test_a_store_that_is_not_sqlite_is_bad_input_not_a_traceback(tmp_path: Path, capsys):
    """docs/store.md: 'Exit codes: 0 done; 1 the message is not in the store; 2 bad input'. A --store that is not a
    SQLite file raises sqlite3.DatabaseError out of main (the console script exits 1 = 'message not in store')."""
    store = tmp_path / "notes.txt"
    store.write_text("not a database\n" * 100)
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps(RECORD) + "\n")
    assert run_cli("--store", str(store), "load", str(records)) == 2
    assert "Fix" in capsys.readouterr().err


def test_a_channel_id_out_of_range_is_bad_input_not_a_traceback(tmp_path: Path):
    store = tmp_path / "s.sqlite"
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps(RECORD) + "\n")
    assert run_cli("--store", str(store), "load", str(records)) == 0
    # OverflowError: Python int too large to convert to SQLite INTEGER
    assert run_cli("--store", str(store), "receipt", "m-1", "delivered", "--channel-id", "9" * 25) == 2


def test_a_deeply_nested_line_is_bad_input_not_a_traceback(tmp_path: Path):
    records = tmp_path / "records.jsonl"
    records.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    # RecursionError escapes: only UnicodeDecodeError/ValueError are caught
    assert run_cli("--store", str(tmp_path / "s.sqlite"), "load", str(records)) == 2


def test_read_only_commands_do_not_create_a_store_at_a_mistyped_path(tmp_path: Path):
    """`pending`/`show` only read, yet a typo in --store creates directories and an empty database and answers
    '0 rows' (exit 0): the newcomer is told nothing is pending instead of 'no store there'."""
    typo = tmp_path / "hubspot_chanels" / "integrator_store.sqlite"
    code = run_cli("--store", str(typo), "pending")
    assert not typo.exists() and not typo.parent.exists()
    assert code != 0


def test_show_refuses_a_missing_store_naming_the_path(tmp_path: Path, capsys):
    typo = tmp_path / "nope" / "store.sqlite"
    assert run_cli("--store", str(typo), "show", "m-1") == 2
    err = capsys.readouterr().err
    assert str(typo) in err and "Fix" in err
    assert not typo.parent.exists()


def test_a_read_only_command_on_a_store_that_is_not_sqlite_is_bad_input(tmp_path: Path, capsys):
    store = tmp_path / "notes.txt"
    store.write_text("not a database\n" * 100)
    assert run_cli("--store", str(store), "pending") == 2
    err = capsys.readouterr().err
    assert str(store) in err and "Fix" in err


def test_a_negative_channel_id_is_refused_by_the_channel_id_rule(tmp_path: Path, capsys):
    assert run_cli("--store", str(tmp_path / "s.sqlite"), "receipt", "m-1", "delivered", "--channel-id", "-5") == 2
    assert "--channel-id" in capsys.readouterr().err
