"""The durable progress with plain data: watermark, the small set above it, redo rows, saving, and resuming."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.reconciliation import Action, Decision, MessageOutcome, Outcome
from airflow_provider_hubspot_channels.reconciliation.ordering import plan_order
from airflow_provider_hubspot_channels.runner.progress import (
    MAX_TRACKED,
    PROGRESS_KEY,
    DictStore,
    Progress,
    ResumeSpec,
    fingerprint,
    plan_positions,
    start,
)


class Log:
    """Collects log lines (the task's logger has the same two calls)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(("info", msg % args))

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append(("warning", msg % args))


def decision(index: int) -> Decision:
    return Decision(index, "1001", f"m-{index}", Action.WRITE, None, "stale", None)


def row(index: int, outcome: Outcome = Outcome.MARKED_FAILED) -> MessageOutcome:
    return MessageOutcome(index, "1001", f"m-{index}", outcome, "why")


BATCH = [{"channel_id": 1001, "message_id": f"m-{i}", "created_at": "2026-11-24T10:00:00Z"} for i in range(6)]
SETTINGS = {"mode": "two_way", "stale_after": 900.0}


def test_the_watermark_passes_rows_handled_out_of_order_and_the_set_above_stays_small():
    progress = Progress("fp")
    for index in (1, 2, 0, 4):
        progress.handled(row(index))
    assert (progress.watermark, progress.above) == (3, {4})
    assert [progress.covers(i) for i in range(6)] == [True, True, True, False, True, False]


def test_not_attempted_rows_are_not_handled_and_error_rows_are_redone_until_they_succeed():
    progress = Progress("fp")
    progress.handled(row(0, Outcome.ERROR))
    progress.handled(row(1, Outcome.NOT_ATTEMPTED))
    progress.handled(row(2, Outcome.REFUSED))
    assert progress.watermark == 1 and progress.redo == {0, 2}
    assert not any(progress.covers(i) for i in range(3))
    progress.handled(row(0, Outcome.ALREADY_CORRECT))
    assert progress.covers(0) and progress.counts == {"already_correct": 1}


def test_the_saved_value_reads_back_and_anything_else_is_ignored():
    progress = Progress("fp", 7, {9, 12}, {3}, {"marked_failed": 7})
    assert Progress.from_json(json.loads(json.dumps(progress.to_json()))) == progress
    for junk in (None, "x", {}, {"format": 99}, {**progress.to_json(), "counts": {"no_such": 1}}):
        assert Progress.from_json(junk) is None


def test_the_fingerprint_is_equal_for_an_identical_render_and_differs_when_the_batch_or_a_setting_changes():
    same = fingerprint(json.loads(json.dumps(BATCH)), dict(SETTINGS))
    assert fingerprint(BATCH, SETTINGS) == same
    assert fingerprint(BATCH[:-1], SETTINGS) != same
    assert fingerprint([{**BATCH[0], "delivery_status": "read"}, *BATCH[1:]], SETTINGS) != same
    assert fingerprint(BATCH, {**SETTINGS, "stale_after": 901.0}) != same
    assert fingerprint(json.dumps(BATCH), SETTINGS) == fingerprint(json.dumps(BATCH), SETTINGS)


def test_without_a_store_the_batch_runs_as_before_and_one_info_line_says_resume_is_unavailable():
    log = Log()
    progress = start(ResumeSpec(None, BATCH, SETTINGS), log=log, dry_run=False)
    assert [d.index for d in progress.remaining(decision(i) for i in range(3))] == [0, 1, 2]
    progress.sink(lambda _row: None)(row(0))
    progress.finish()
    unavailable = "Resume after a retry is unavailable on this Airflow version (it needs Airflow 3.3+)."
    assert log.lines == [("info", unavailable)]


def test_a_dry_run_neither_resumes_nor_saves():
    store = DictStore({PROGRESS_KEY: Progress(fingerprint(BATCH, SETTINGS), 3).to_json()})
    progress = start(ResumeSpec(store, BATCH, SETTINGS), log=Log(), dry_run=True)
    assert len(list(progress.remaining(decision(i) for i in range(6)))) == 6
    progress.handled(row(0))
    progress.finish()
    assert store.sets == 0


def test_progress_saved_for_another_batch_is_ignored_with_one_clear_line():
    store, log = DictStore(), Log()
    store.set(PROGRESS_KEY, Progress(fingerprint(BATCH[:3], SETTINGS), 3, counts={"marked_failed": 3}).to_json())
    progress = start(ResumeSpec(store, BATCH, SETTINGS), log=log, dry_run=False)
    assert len(list(progress.remaining(decision(i) for i in range(6)))) == 6
    assert [level for level, line in log.lines if "changed since" in line] == ["warning"]


def test_a_report_missing_rows_the_progress_covers_means_starting_over():
    store, log = DictStore(), Log()
    saved = Progress(fingerprint(BATCH, SETTINGS))
    for index in range(3):
        saved.handled(row(index))
    store.set(PROGRESS_KEY, saved.to_json())
    lines = [row(0).to_json() + "\n", row(1).to_json() + "\n"]  # row 2 is gone (another worker's disk)
    progress = start(ResumeSpec(store, BATCH, SETTINGS), log=log, dry_run=False, report_lines=lambda: lines)
    assert progress.resumed == 0 and len(list(progress.remaining(decision(i) for i in range(6)))) == 6
    assert any("holds 2 of the 3 rows" in line for _level, line in log.lines)


def test_saves_come_every_n_rows_not_per_row_and_a_complete_batch_clears_the_key():
    store = DictStore()
    progress = start(ResumeSpec(store, BATCH, SETTINGS), log=Log(), dry_run=False)
    progress.save_every_rows, progress.save_every_seconds = 4, 3600
    sink = progress.sink(lambda _row: None)
    for d in progress.remaining(decision(i) for i in range(10)):
        sink(row(d.index))
    assert store.sets == 2 and store.data[PROGRESS_KEY]["watermark"] == 8
    progress.finish()
    assert PROGRESS_KEY not in store.data


def test_a_sink_that_fails_leaves_the_row_unhandled():
    progress = start(ResumeSpec(DictStore(), BATCH, SETTINGS), log=Log(), dry_run=False)

    def broken(_row: MessageOutcome) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        progress.sink(broken)(row(0))
    assert not progress.progress.covers(0)


def test_past_the_tracked_limit_the_progress_stops_being_saved_and_the_last_save_stands():
    store, log = DictStore(), Log()
    progress = start(ResumeSpec(store, BATCH, SETTINGS), log=log, dry_run=False)
    progress.save_every_rows = 1
    for index in range(MAX_TRACKED + 5):
        progress.handled(row(index, Outcome.ERROR))
    assert len(store.data[PROGRESS_KEY]["redo"]) == MAX_TRACKED
    assert sum("is not saved while" in line for _level, line in log.lines) == 1


OUTCOMES = [Outcome.MARKED_FAILED, Outcome.ALREADY_CORRECT, Outcome.SKIPPED_NOT_STALE, Outcome.ERROR, Outcome.REFUSED]


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(1, 60),
    concurrency=st.integers(1, 8),
    kill_at=st.floats(0, 1),
    save_every=st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
    with_report=st.booleans(),
    accounts=st.integers(1, 5),
    sorted_by_account=st.booleans(),
)
def test_resume_skips_exactly_the_covered_rows_and_both_tries_report_every_row_once(
    count, concurrency, kill_at, save_every, seed, with_report, accounts, sorted_by_account
):
    """Rows are taken in the plan's order (round-robin across accounts: a batch sorted by account is not taken in
    input order), at most ``concurrency`` in flight, and complete in any order; the worker dies after some rows (no
    final save). The retry skips exactly what the saved progress covers, and the earlier report's kept rows plus the
    retry's rows list every row exactly once, with the counts to match."""
    rng = random.Random(seed)
    store = DictStore()
    portals = [str(100 + (i * accounts // count if sorted_by_account else i % accounts)) for i in range(count)]
    batch = [{**BATCH[i % len(BATCH)], "portal_id": portals[i]} for i in range(count)]
    order = plan_order(batch)
    spec = ResumeSpec(store, batch, SETTINGS)
    first = start(spec, log=Log(), dry_run=False)
    first.save_every_rows, first.save_every_seconds = save_every, 3600
    report: list[str] = []

    def write(outcome: MessageOutcome) -> None:
        report.append(outcome.to_json() + "\n")

    sink = first.sink(write)
    plan, in_flight, done = iter(first.remaining(decision(i) for i in order)), [], 0
    killed_after = int(kill_at * count)
    while done < killed_after:
        while len(in_flight) < concurrency and (taken := next(plan, None)) is not None:
            in_flight.append(taken.index)
        finished = in_flight.pop(rng.randrange(len(in_flight)))
        sink(row(finished, rng.choice(OUTCOMES)))
        done += 1
        if PROGRESS_KEY in store.data:
            assert len(store.data[PROGRESS_KEY]["above"]) + len(store.data[PROGRESS_KEY]["redo"]) <= MAX_TRACKED
    positions = plan_positions(batch)
    saved = Progress.from_json(store.data[PROGRESS_KEY], positions=positions) if PROGRESS_KEY in store.data else None
    saved = saved or Progress("")

    second = start(spec, log=Log(), dry_run=False, report_lines=(lambda: report) if with_report else None)
    kept = list(second.kept_lines())
    redone = [d.index for d in second.remaining(decision(i) for i in order)]
    assert set(redone) == {i for i in range(count) if not saved.covers(i)}
    assert second.resumed == saved.covered
    final = second.sink(lambda _row: None)
    rows = [json.loads(line)["index"] for line in kept] if with_report else []
    for index in redone:
        final(row(index, Outcome.ALREADY_CORRECT))
        second.report.add(row(index, Outcome.ALREADY_CORRECT))
        rows.append(index)
    if with_report:
        assert sorted(rows) == list(range(count))
    assert second.report.total == count
    assert second.complete
    second.finish()
    assert PROGRESS_KEY not in store.data


def test_an_unreadable_earlier_report_means_starting_over_not_failing():
    store, log = DictStore(), Log()
    store.set(PROGRESS_KEY, Progress(fingerprint(BATCH, SETTINGS), 1, counts={"marked_failed": 1}).to_json())

    def lines():
        yield row(0).to_json() + "\n"
        raise OSError("connection reset")

    progress = start(ResumeSpec(store, BATCH, SETTINGS), log=log, dry_run=False, report_lines=lines)
    assert progress.resumed == 0 and any("could not be read (OSError)" in line for _level, line in log.lines)


# The class of the review's findings: whatever the store holds and whatever the batch holds, starting never raises.
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
ANY_KEYS = st.recursive(
    st.none() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.one_of(st.text(max_size=4), st.integers(), st.booleans(), st.none()), inner, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(
    stored=JSONISH,
    fields=st.dictionaries(
        st.sampled_from(["format", "fingerprint", "watermark", "above", "redo", "counts", "rows_digest"]), JSONISH
    ),
)
def test_any_stored_value_is_used_or_ignored_never_a_crash(stored: Any, fields: dict[str, Any]) -> None:
    for value in (stored, {**Progress(fingerprint(BATCH, SETTINGS)).to_json(), **fields}):
        store = DictStore({PROGRESS_KEY: value})
        progress = start(ResumeSpec(store, BATCH, SETTINGS), log=Log(), dry_run=False, report_lines=lambda: [])
        assert 0 <= progress.resumed <= len(BATCH) or progress.resumed == 0


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(ANY_KEYS, max_size=4) | ANY_KEYS)
def test_any_batch_starts_with_or_without_resume_never_a_crash(batch: Any) -> None:
    progress = start(ResumeSpec(DictStore(), batch, SETTINGS), log=Log(), dry_run=False)
    again = start(ResumeSpec(DictStore(), batch, SETTINGS), log=Log(), dry_run=False)
    assert progress.progress.fingerprint == again.progress.fingerprint  # an identical batch, an identical print
