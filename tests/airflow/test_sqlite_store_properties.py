"""Property: ``record_outcomes`` applies every good report line and skips and counts every bad one, never raising."""

from __future__ import annotations

import json
import tempfile
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.sqlite_store import (
    SETTLED_OUTCOMES,
    connect,
    insert_records,
    record_outcomes,
    record_receipt,
)

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
MESSAGES = [f"m{n}" for n in range(5)]
OUTCOMES = [*SETTLED_OUTCOMES, "skipped_not_stale", "would_mark_failed", "error", "not_attempted"]

# Exactly one surrogate (st.text() has none): JSON's "\ud800\udc00", a pair, decodes to a valid character.
lone_surrogates = st.builds(
    "{}{}{}".format, st.text(max_size=3), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.text(max_size=3)
)
good_rows = st.fixed_dictionaries(
    {
        "channel_id": st.sampled_from(["1001", 1001]),
        "message_id": st.sampled_from(MESSAGES),
        "outcome": st.sampled_from(OUTCOMES),
    },
    optional={"reason": st.text() | lone_surrogates, "error_message": st.none() | st.text()},
)
bad_channel_ids = (
    st.none()
    | st.booleans()
    | st.floats().filter(lambda f: f != int(f) if f == f and abs(f) != float("inf") else True)
    | st.integers(max_value=0)
    | st.integers(min_value=2**31)
    | st.text(st.characters(blacklist_categories=["Nd", "Cs"]), min_size=1)
    | st.lists(st.integers(), max_size=2)
)


@st.composite
def report_lines(draw: st.DrawFn) -> tuple[bytes, dict[str, object] | None]:
    """One line and, if it is a good row, the row."""
    row = draw(good_rows)
    kind = draw(st.sampled_from(["good", "bad_channel", "surrogate_id", "no_outcome", "truncated", "bytes", "json"]))
    if kind == "good":
        text = json.dumps(row, ensure_ascii=draw(st.booleans()))
        try:
            return text.encode("utf-8"), row
        except UnicodeEncodeError:  # a lone surrogate written raw, as a writer with surrogatepass would: not UTF-8
            return text.encode("utf-8", "surrogatepass"), None
    if kind == "bad_channel":
        row["channel_id"] = draw(bad_channel_ids)
    elif kind == "surrogate_id":
        row["message_id"] = draw(lone_surrogates)
    elif kind == "no_outcome":
        del row["outcome"]
    elif kind == "truncated":
        text = json.dumps(row).encode("utf-8")
        return text[: draw(st.integers(0, len(text) - 1))], None
    elif kind == "bytes":
        return draw(st.binary().filter(lambda b: not b.lstrip().startswith(b"{"))), None
    else:
        return json.dumps(draw(st.lists(st.integers()) | st.text() | st.none())).encode(), None
    return json.dumps(row).encode("utf-8"), None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    receipts=st.lists(st.sampled_from([None, "delivered", "read", "failed"]), min_size=5, max_size=5),
    lines=st.lists(report_lines(), max_size=12),
)
def test_record_outcomes_applies_good_lines_and_counts_bad_ones(
    receipts: list[str | None], lines: list[tuple[bytes, dict[str, object] | None]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, report = Path(tmp) / "store.sqlite", Path(tmp) / "report.jsonl"
        insert_records(store, [{"channel_id": 1001, "message_id": m, "created_at": T0} for m in MESSAGES])
        expected = {m: ("pending" if r is None else r, False) for m, r in zip(MESSAGES, receipts, strict=True)}
        for message_id, receipt in zip(MESSAGES, receipts, strict=True):
            if receipt is not None:
                record_receipt(store, 1001, message_id, receipt)
        # Newlines end lines: a line's own bytes must not contain one, wherever it came from
        body = [text.replace(b"\n", b" ").replace(b"\r", b" ") for text, _ in lines]
        report.write_bytes(b"".join(text + b"\n" for text in body))

        counts = record_outcomes(store, report)

        want = dict.fromkeys(SETTLED_OUTCOMES, 0)
        for _, row in lines:
            if row is None or row["outcome"] not in SETTLED_OUTCOMES:
                continue
            outcome, message_id = str(row["outcome"]), str(row["message_id"])
            want[outcome] += 1
            status, _ = expected[message_id]
            new = SETTLED_OUTCOMES[outcome] if status == "pending" else None
            expected[message_id] = (new or status, True)
        assert counts == {**want, "bad_lines": sum(1 for _, row in lines if row is None)}
        with closing(connect(store)) as db:
            got = {
                r["message_id"]: (r["delivery_status"], r["reconciled_at"] is not None)
                for r in db.execute("SELECT * FROM outgoing_messages")
            }
        assert got == expected
