"""Property of the store CLI: any command line, any store file and any records line end in exit 0, 1 or 2 with a
message, never in a traceback (whose exit 1 would read as "message not in store")."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels import store_cli

RECORD = {
    "channel_id": 1001,
    "message_id": "m-1",
    "created_at": "2026-11-24T10:00:00+00:00",
    "delivery_status": "pending",
}
DEEP = "[" * 50_000 + "]" * 50_000
# Tokens the parser knows, the values that broke it before, and anything else.
TOKENS = st.one_of(
    st.sampled_from(
        [
            "m-1",
            "1001",
            "-5",
            "0",
            "9" * 25,
            "1e400",
            "delivered",
            "failed",
            "read",
            "pending",
            "--channel-id",
            "--at",
            "2026-11-24T10:05:00+00:00",
            "2026-11-24T10:05:00",
            "--carrier-error",
            "--limit",
            "--json",
            "-1",
            "",
            DEEP,
        ]
    ),
    st.text(max_size=30),
)
STORES = st.sampled_from(["good", "missing", "missing/dir", "not_sqlite", "empty", "directory"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
RECORD_LINES = st.one_of(
    # A record with some fields replaced by anything.
    st.builds(
        lambda changes: json.dumps({**RECORD, **changes}),
        st.dictionaries(st.sampled_from([*RECORD, "recipient", "carrier_error", "reported_status"]), json_values),
    ),
    json_values.map(json.dumps),
    st.text(max_size=40),
    st.just(DEEP),
)


def _store(root: Path, kind: str) -> Path:
    path = root / f"{kind}.sqlite"
    if kind == "good":
        records = root / "seed.jsonl"
        records.write_text(json.dumps(RECORD) + "\n")
        assert _run(["--store", str(path), "load", str(records)])[0] == 0
    elif kind == "not_sqlite":
        path.write_text("not a database\n" * 100)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    return path


def _run(argv: list[str]) -> tuple[int, str]:
    """main(argv) as the console script runs it; any exception but argparse's SystemExit fails the property."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = store_cli.main(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    store_kind=STORES,
    command=st.sampled_from(["load", "receipt", "pending", "show"]),
    tokens=st.lists(TOKENS, max_size=6),
)
def test_any_command_line_ends_in_a_documented_exit_code(store_kind: str, command: str, tokens: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp), store_kind)
        # Relative paths in tokens (load's RECORDS) are only read: a missing one is refused, nothing is written.
        code, err = _run(["--store", str(store), command, *tokens])
    assert code in (0, 1, 2)
    if code:
        assert err.strip() and "Traceback" not in err


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(RECORD_LINES, min_size=1, max_size=3), message_id=TOKENS)
def test_any_records_line_loads_or_is_refused(lines: list[str], message_id: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, records = Path(tmp) / "s.sqlite", Path(tmp) / "records.jsonl"
        records.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
        code, err = _run(["--store", str(store), "load", str(records)])
        assert code in (0, 2), err
        if code == 2:
            assert "Fix" in err
        if store.exists():
            assert _run(["--store", str(store), "pending", "--json"])[0] == 0
            assert _run(["--store", str(store), "show", message_id])[0] in (0, 1, 2)
