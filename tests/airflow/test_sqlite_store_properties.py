"""Properties of the write-back: every good report line applied, every bad one skipped and counted, never raising;
and a write-back that made HubSpot agree settles the row until a newer receipt arrives."""

from __future__ import annotations

import json
import tempfile
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.sqlite_store import (
    ABANDONING_OUTCOMES,
    REPORTED_OUTCOMES,
    connect,
    insert_records,
    load_unreconciled,
    record_outcomes,
    record_receipt,
)

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
MESSAGES = [f"m{n}" for n in range(5)]
WRITTEN_BACK = (*REPORTED_OUTCOMES, *ABANDONING_OUTCOMES)
OUTCOMES = [*WRITTEN_BACK, "skipped_not_stale", "would_mark_failed", "error", "not_attempted", "already_reported"]

# Exactly one surrogate (st.text() has none): JSON's "\ud800\udc00", a pair, decodes to a valid character.
lone_surrogates = st.builds(
    "{}{}{}".format, st.text(max_size=3), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.text(max_size=3)
)
good_rows = st.fixed_dictionaries(
    {
        "channel_id": st.sampled_from(["1001", 1001]),
        "message_id": st.sampled_from(MESSAGES),
        "outcome": st.sampled_from(OUTCOMES),
        "hubspot_status_after": st.sampled_from([None, "SENT", "READ", "FAILED", "failed "]),
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
        expected: dict[str, tuple[str, str | None, str | None]] = {
            m: ("pending" if r is None else r, None, None) for m, r in zip(MESSAGES, receipts, strict=True)
        }
        for message_id, receipt in zip(MESSAGES, receipts, strict=True):
            if receipt is not None:
                record_receipt(store, 1001, message_id, receipt)
        # Newlines end lines: a line's own bytes must not contain one, wherever it came from
        body = [text.replace(b"\n", b" ").replace(b"\r", b" ") for text, _ in lines]
        report.write_bytes(b"".join(text + b"\n" for text in body))

        counts = record_outcomes(store, report)

        want = dict.fromkeys(WRITTEN_BACK, 0)
        for _, row in lines:
            if row is None:
                continue
            outcome, message_id, after = str(row["outcome"]), str(row["message_id"]), row["hubspot_status_after"]
            abandon = outcome if outcome in ABANDONING_OUTCOMES else None
            if after is None and abandon is None:
                continue
            want[outcome] = want.get(outcome, 0) + 1
            status, reported, abandoned = expected[message_id]
            # delivery_status is never written back; the latest report and abandonment win
            expected[message_id] = (status, str(after).strip() or None if after else reported, abandon or abandoned)
        assert counts == {**want, "bad_lines": sum(1 for _, row in lines if row is None)}
        with closing(connect(store)) as db:
            got = {
                r["message_id"]: (r["delivery_status"], r["reported_status"], r["abandoned"])
                for r in db.execute("SELECT * FROM outgoing_messages")
            }
        expected = {m: (d, r.upper() if r else None, a) for m, (d, r, a) in expected.items()}
        assert got == expected


TARGET = {"pending": "FAILED", "delivered": "SENT", "read": "READ", "failed": "FAILED"}
WRITE = {"FAILED": "marked_failed", "SENT": "marked_sent", "READ": "marked_read"}
STATUSES = ["pending", "delivered", "read", "failed"]


def agreeing_outcome(target: str, hubspot: str | None) -> tuple[str, str | None]:
    """The outcome and HubSpot's status after a run that made HubSpot agree (the spec's transition table)."""
    if hubspot == "NOT_FOUND":
        return "not_found", None
    if hubspot == "READ":
        return "skipped_read_in_hubspot", "READ"
    if hubspot == target:
        return "already_correct", target
    return WRITE[target], target


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(STATUSES),  # delivery status at insert
            st.sampled_from([None, "SENT", "READ", "FAILED"]),  # reported at insert
            st.sampled_from([None, "SENT", "READ", "FAILED", "NOT_FOUND"]),  # what HubSpot shows
            st.sampled_from([None, *STATUSES[1:]]),  # a receipt during the run
            st.sampled_from([None, *STATUSES[1:]]),  # a receipt after the write-back
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_write_back_that_made_hubspot_agree_settles_until_a_newer_receipt(
    rows: list[tuple[str, str | None, str | None, str | None, str | None]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, report = Path(tmp) / "store.sqlite", Path(tmp) / "report.jsonl"
        ids = [f"m{n}" for n in range(len(rows))]
        insert_records(
            store,
            [
                {"channel_id": 1001, "message_id": m, "created_at": T0, "delivery_status": d, "reported_status": r}
                for m, (d, r, *_) in zip(ids, rows, strict=True)
            ],
        )
        batch = load_unreconciled(store, created_at_or_before=T0)
        lines = []
        for record in batch:
            index = ids.index(record["message_id"])
            _, _, hubspot, during, _ = rows[index]
            outcome, after = agreeing_outcome(TARGET[record["delivery_status"]], hubspot)
            row = {"channel_id": 1001, "message_id": record["message_id"], "outcome": outcome}
            lines.append(json.dumps({**row, "hubspot_status_after": after}) + "\n")
            if during:  # recorded while the run is under way, before the write-back
                record_receipt(store, 1001, record["message_id"], during)
        report.write_text("".join(lines), encoding="utf-8")
        record_outcomes(store, report)

        changed_during = {ids.index(r["message_id"]) for r in batch if rows[ids.index(r["message_id"])][3]}
        again = {ids.index(r["message_id"]) for r in load_unreconciled(store, created_at_or_before=T0)}
        # Only the receipts of the run can bring a row back (unless HubSpot shows READ or does not know it)
        assert again <= changed_during
        for index in changed_during - again:
            delivery, _, hubspot, during, _ = rows[index]
            _, after = agreeing_outcome(TARGET[delivery], hubspot)
            # READ is final and an unknown message abandoned; otherwise the receipt must not change the target
            assert after in ("READ", None) or TARGET[str(during)] == TARGET[delivery], "a receipt of the run was lost"

        for index, (*_, later) in enumerate(rows):
            if later:
                record_receipt(store, 1001, ids[index], later)
        final = {ids.index(r["message_id"]): r for r in load_unreconciled(store, created_at_or_before=T0)}
        with closing(connect(store)) as db:
            state = {r["message_id"]: dict(r) for r in db.execute("SELECT * FROM outgoing_messages")}
        for index, message_id in enumerate(ids):
            row = state[message_id]
            newer = rows[index][4] is not None or index in again
            settled_for_good = row["abandoned"] is not None or row["reported_status"] == "READ"
            assert (index in final) == (newer and not settled_for_good), (row, rows[index])
