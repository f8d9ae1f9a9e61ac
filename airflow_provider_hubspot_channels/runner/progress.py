"""Durable progress of a batch, so a retry of the task skips what an earlier try already settled.

A saved progress is compact whatever the batch: a fingerprint of the batch and of the settings that change what
is done, a *watermark* (every row before it in the plan's order was handled), the few handled rows past it (the plan
is taken in its order, :func:`~airflow_provider_hubspot_channels.reconciliation.ordering.plan_order`, and at most a
window of rows is in flight, so this set stays that small), the rows a retry must do again (``error``,
``refused``), and the counts of the rows it covers.

Decisions:

* A row counts as handled only once its report row was written (the sink first, then the progress), so the
  report of the earlier try holds every row a saved progress covers. Rows written after the last save, rows in
  flight at a kill and ``not_attempted`` rows are simply done again (with ``verify_status`` they come out
  ``already_correct``).
* Positions are counted in the plan's order, not the input's: a batch of many accounts is taken round-robin across
  them, which in input order would leave handled rows scattered over the whole batch. The order is a pure function
  of the batch, so a retry of the same batch (same fingerprint) takes it in the same order.
* In a multi-account batch, an account stopped midway (credentials refused) leaves its ``not_attempted`` rows
  between the other accounts' rows: they are tracked as rows to redo, so the watermark passes them. A kill of such
  a batch tracks every remaining row the same way: past :data:`MAX_TRACKED` the progress is not saved and the
  retry resumes from the last save.
* ``error`` and ``refused`` rows are redone by a retry: that is what a retry is for, and a refused row may have
  been fixed in HubSpot. While more than :data:`MAX_TRACKED` rows would be tracked (many such rows, or one request
  retrying for long while others complete past it) the progress is not saved, and a retry resumes from the last
  save: a saved value stays a few kilobytes.
* Saved every :data:`SAVE_EVERY_ROWS` handled rows or :data:`SAVE_EVERY_SECONDS`, whichever comes first, and at the
  end; never once per row. A save that fails is logged and never stops the batch.
* A progress whose fingerprint differs (the batch was rendered differently, a setting changed) is ignored with one
  log line, and the batch starts over. So is one whose report rows are missing (a report on another worker's disk).
* The store is anything with ``get``/``set``/``delete`` (Airflow's ``task_state_store``, or :class:`DictStore`):
  no Airflow import here.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from airflow_provider_hubspot_channels.reconciliation import Decision, MessageOutcome, Outcome, RunReport
from airflow_provider_hubspot_channels.reconciliation.ordering import PLAN_ORDER, plan_order
from airflow_provider_hubspot_channels.reconciliation.records import batch_rows

#: The key in the task instance's ``task_state_store``. Renaming it breaks resuming tries already saved.
PROGRESS_KEY = "hubspot_channels_progress"
#: The layout of the saved value; a value of another layout is ignored.
PROGRESS_FORMAT = 3  # 3: positions in the plan's order (2 counted input positions)
SAVE_EVERY_ROWS = 200
SAVE_EVERY_SECONDS = 5.0
#: At most this many row indices (above the watermark, and to redo) in a saved value: a few kilobytes of JSON.
MAX_TRACKED = 1000
#: Outcomes a retry does again: transient errors, and refusals that may be cured in HubSpot meanwhile.
REDO_OUTCOMES = frozenset({Outcome.ERROR, Outcome.REFUSED})
#: Spool the kept rows of the earlier report in memory up to this size, then on disk.
_SPOOL_BYTES = 1 << 20
#: Row numbers above this are not ours (a value written by something else): the saved progress is ignored.
_MAX_INDEX = 2**31
_DIGEST_MOD = 2**64


class ProgressStore(Protocol):
    """Where the progress lives between tries (Airflow 3.3's ``context["task_state_store"]`` has these)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The stored JSON value, or ``default``."""

    def set(self, key: str, value: Any) -> None:
        """Store a JSON value."""

    def delete(self, key: str) -> None:
        """Remove the key (no error if absent)."""


class Log(Protocol):
    """The task's logger (only these two calls are used)."""

    def info(self, msg: str, *args: Any) -> None:
        """Log at info."""

    def warning(self, msg: str, *args: Any) -> None:
        """Log at warning."""


class DictStore:
    """A :class:`ProgressStore` in a dict: for tests, benchmarks and runs outside Airflow.

    :param data: the backing dict (shared with the caller, who can inspect or reuse it for the next try).
    """

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = {} if data is None else data
        self.sets = 0

    def get(self, key: str, default: Any = None) -> Any:
        """:param key: the key. :param default: returned when the key is absent."""
        value = self.data.get(key, default)
        return json.loads(json.dumps(value))  # a copy, as a real store hands out

    def set(self, key: str, value: Any) -> None:
        """:param key: the key. :param value: a JSON value."""
        self.sets += 1
        self.data[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        """:param key: the key."""
        self.data.pop(key, None)


def fingerprint(batch: Any, settings: Mapping[str, Any]) -> str:
    """A short hash of the batch, the settings that change what is done and the plan's order (its name); equal for an
    identical re-render.

    :param batch: the batch as given to the operator (a list of records, or a JSON string of one).
    :param settings: the arguments that change decisions or outcomes (SLA, reference time, templates, ...).
    """
    digest = hashlib.sha256()
    # The order's name too: positions saved under another order (another provider version) are not ours.
    digest.update(_dump({**settings, "plan_order": PLAN_ORDER}))
    if isinstance(batch, str | bytes) or not isinstance(batch, Iterable) or isinstance(batch, Mapping):
        # One dump, C-accelerated; a list is hashed record by record so a large batch never becomes one string.
        digest.update(_dump(batch))
    else:
        for record in batch:
            digest.update(b"\x1e" + _dump(record))
    return digest.hexdigest()[:32]


def _dump(value: Any) -> bytes:
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except TypeError:
        # Keys of mixed types cannot be sorted; an identical re-render keeps its order, so unsorted is as stable.
        text = json.dumps(value, default=str)
    return text.encode("utf-8", "surrogatepass")


def row_digest(index: int, channel_id: str | None, message_id: str | None, outcome: str) -> int:
    """A 64-bit hash of one settled row; a progress keeps their sum, so a retry can tell the earlier report's rows
    are this batch's (a report path another run rewrote holds other messages under the same row numbers).

    :param index: the row's position in the batch.
    :param channel_id: as reported.
    :param message_id: as reported.
    :param outcome: the outcome value.
    """
    text = json.dumps([index, channel_id, message_id, outcome], ensure_ascii=True)
    return int.from_bytes(hashlib.blake2b(text.encode("ascii"), digest_size=8).digest(), "big")


@dataclass
class Progress:
    """Which rows of a batch are handled for good, compactly.

    A row is *covered* (a retry skips it, and its report row is kept) when its position in the plan's order is below
    the watermark or in ``above``, and not in ``redo``.

    :param fingerprint: of the batch and settings, see :func:`fingerprint`.
    :param watermark: every row before this position (in the plan's order) was handled.
    :param above: positions of handled rows at or past the watermark.
    :param redo: positions of handled rows a retry does again (their outcome was in :data:`REDO_OUTCOMES`).
    :param counts: outcome value -> covered rows.
    :param rows_digest: the sum (mod 2**64) of :func:`row_digest` over the covered rows.
    :param positions: input row -> position in the plan's order (None: the same); not saved, it follows from the batch.
    """

    fingerprint: str
    watermark: int = 0
    above: set[int] = field(default_factory=set)
    redo: set[int] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    rows_digest: int = 0
    positions: Sequence[int] | None = field(default=None, repr=False, compare=False)

    def covers(self, index: int) -> bool:
        """Whether a retry skips this row.

        :param index: the row's position in the batch.
        """
        position = self._position(index)
        return (position < self.watermark or position in self.above) and position not in self.redo

    def _position(self, index: int) -> int:
        if self.positions is None:
            return index
        # A row number beyond the batch (a report row of another batch) is never covered.
        return self.positions[index] if 0 <= index < len(self.positions) else _MAX_INDEX + 1

    @property
    def covered(self) -> int:
        """Number of covered rows."""
        return sum(self.counts.values())

    @property
    def tracked(self) -> int:
        """Row indices the saved value holds (its size)."""
        return len(self.above) + len(self.redo)

    def handled(self, outcome: MessageOutcome) -> None:
        """Take in a row whose report row was written.

        :param outcome: how the row ended; ``not_attempted`` changes nothing (the row is done again), except in a
            multi-account batch (the row names its account), where it is a row to redo: an account stopped midway
            leaves its rows scattered among the others', which must not hold the watermark back.
        """
        if outcome.outcome is Outcome.NOT_ATTEMPTED and outcome.portal_id is None:
            return
        position = self._position(outcome.index)
        if outcome.outcome in REDO_OUTCOMES or outcome.outcome is Outcome.NOT_ATTEMPTED:
            self.redo.add(position)
        else:
            self.redo.discard(position)
            self.counts[outcome.outcome.value] = self.counts.get(outcome.outcome.value, 0) + 1
            self.rows_digest = (self.rows_digest + _digest_of(outcome)) % _DIGEST_MOD
        if position >= self.watermark:
            self.above.add(position)
            while self.watermark in self.above:
                self.above.discard(self.watermark)
                self.watermark += 1

    def to_json(self) -> dict[str, Any]:
        """The value to store: small JSON."""
        return {
            "format": PROGRESS_FORMAT,
            "fingerprint": self.fingerprint,
            "watermark": self.watermark,
            "above": sorted(self.above),
            "redo": sorted(self.redo),
            "counts": {name: count for name, count in self.counts.items() if count},
            "rows_digest": format(self.rows_digest, "016x"),
        }

    @classmethod
    def from_json(cls, value: Any, *, positions: Sequence[int] | None = None) -> Progress | None:
        """A stored value read back, or None if it is not one of ours in this layout.

        :param value: what the store returned.
        :param positions: the batch's input row -> position in the plan's order, see :func:`plan_positions`.
        """
        try:
            if value["format"] != PROGRESS_FORMAT:
                return None
            counts = {Outcome(name).value: _bounded(count) for name, count in value["counts"].items()}
            return cls(
                fingerprint=str(value["fingerprint"]),
                watermark=_bounded(value["watermark"]),
                above={_bounded(index) for index in value["above"]},
                redo={_bounded(index) for index in value["redo"]},
                counts=counts,
                rows_digest=int(str(value["rows_digest"]), 16) % _DIGEST_MOD,
                positions=positions,
            )
        except Exception:  # anything else in the store (another shape, Infinity, ...) is not ours: start over
            return None


@dataclass(frozen=True)
class ResumeSpec:
    """What a batch needs to resume: the store (None before Airflow 3.3), the batch and the deciding settings.

    :param store: the task instance's store, or None.
    :param batch: the batch as rendered.
    :param settings: arguments that change what is done, see :func:`fingerprint`.
    """

    store: ProgressStore | None
    batch: Any
    settings: Mapping[str, Any]

    @classmethod
    def from_context(cls, context: Mapping[str, Any], batch: Any, **settings: Any) -> ResumeSpec:
        """From the task's Airflow context (``task_state_store`` exists from Airflow 3.3 on).

        :param context: the task's context.
        :param batch: the batch as rendered.
        :param settings: arguments that change what is done.
        """
        return cls(context.get("task_state_store"), batch, settings)


def outcome_from_json(line: str) -> MessageOutcome | None:
    """A report row read back, or None for a line that is not one (e.g. torn by a kill mid-write).

    :param line: one JSON Lines row.
    """
    try:
        row = json.loads(line)
        return MessageOutcome(**{**row, "outcome": Outcome(row["outcome"])})
    except (ValueError, TypeError, KeyError):
        return None


class BatchProgress:
    """One try's progress: what to skip, the report so far, and when to save.

    Build it with :func:`start`; the runner's sink calls :meth:`handled` (under the runner's lock) after each row
    is written.
    """

    def __init__(
        self, store: ProgressStore | None, progress: Progress, *, log: Log, report: RunReport, resumed: int = 0
    ) -> None:
        self.store = store
        self.progress = progress
        self.log = log
        self.report = report
        #: Rows covered by earlier tries (skipped in this one).
        self.resumed = resumed
        self.kept: IO[str] | None = None
        self.rows_seen = 0
        self.exhausted = False  # the whole plan was taken (a plan that raised leaves it False)
        #: Save after this many handled rows, or this many seconds, whichever comes first.
        self.save_every_rows, self.save_every_seconds = SAVE_EVERY_ROWS, SAVE_EVERY_SECONDS
        self._unsaved = 0
        self._saved_at = time.monotonic()
        self._save_failed = False
        self._too_large = False

    def remaining(self, decisions: Iterable[Decision]) -> Iterator[Decision]:
        """The decisions this try acts on: those no earlier try covered.

        :param decisions: the whole plan, in its order.
        """
        for decision in decisions:
            self.rows_seen += 1
            if not self.progress.covers(decision.index):
                yield decision
        self.exhausted = True

    def kept_lines(self) -> Iterator[str]:
        """The earlier report's rows this try keeps (each a JSON line with its newline), once."""
        if self.kept is None:
            return
        kept, self.kept = self.kept, None
        with kept:
            kept.seek(0)
            yield from kept

    def sink(self, inner: Callable[[MessageOutcome], None]) -> Callable[[MessageOutcome], None]:
        """Wrap the report sink: a row counts as handled only once ``inner`` wrote it.

        :param inner: the report writer.
        """

        def write(outcome: MessageOutcome) -> None:
            inner(outcome)
            self.handled(outcome)

        return write

    def handled(self, outcome: MessageOutcome) -> None:
        """Take in a written row; save when enough rows or time went by.

        :param outcome: the row.
        """
        if self.store is None:
            return
        self.progress.handled(outcome)
        self._unsaved += 1
        if self._unsaved >= self.save_every_rows or time.monotonic() - self._saved_at >= self.save_every_seconds:
            self.save()

    @property
    def complete(self) -> bool:
        """Every row of the batch is covered: nothing is left for a retry."""
        return self.exhausted and self.progress.covered == self.rows_seen

    def save(self) -> None:
        """Store the progress now (never raises: the batch matters more than its resumability)."""
        self._unsaved, self._saved_at = 0, time.monotonic()
        if self.store is None or self._save_failed:
            return
        if self.progress.tracked > MAX_TRACKED:
            if not self._too_large:
                self._too_large = True
                self.log.warning(
                    "Progress is not saved while it would track more than %d rows (rows in error or refused, or rows "
                    "done past one still in flight); a retry resumes from the last save.",
                    MAX_TRACKED,
                )
            return
        try:
            self.store.set(PROGRESS_KEY, self.progress.to_json())
        except Exception as exc:
            self._save_failed = True
            self.log.warning("Progress could not be saved (%s); a retry starts over.", type(exc).__name__)

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.finish()

    def finish(self) -> None:
        """At the end of the try: clear the progress if the batch is complete, else save it for the retry."""
        if self.store is None:
            return
        if not self.complete:
            self.save()
            return
        try:
            self.store.delete(PROGRESS_KEY)
        except Exception as exc:
            self.log.warning("Saved progress could not be cleared (%s).", type(exc).__name__)


def start(
    spec: ResumeSpec | None,
    *,
    log: Log,
    dry_run: bool,
    report_lines: Callable[[], Iterable[str] | None] | None = None,
) -> BatchProgress:
    """Load the saved progress of an earlier try (if it fits this batch) and prepare this try's.

    :param spec: the store, batch and settings; None for a batch that is never resumed.
    :param log: the task's logger.
    :param dry_run: a dry run neither saves nor resumes: it changes nothing, so a retry costs only reads, and a
        preview read as one snapshot should not mix two tries' views of HubSpot.
    :param report_lines: reads the earlier try's report (None if there is no report file, or it does not exist).
    """
    if spec is None or dry_run:
        return BatchProgress(None, Progress(""), log=log, report=RunReport())
    if spec.store is None:
        log.info("Resume after a retry is unavailable on this Airflow version (it needs Airflow 3.3+).")
        return BatchProgress(None, Progress(""), log=log, report=RunReport())
    try:
        current = fingerprint(spec.batch, spec.settings)
        positions = plan_positions(spec.batch)
    except Exception as exc:  # resumability is never a reason to fail a batch that runs without it
        log.warning(
            "Resume after a retry is off for this batch: it could not be fingerprinted (%s).", type(exc).__name__
        )
        return BatchProgress(None, Progress(""), log=log, report=RunReport())
    fresh = BatchProgress(spec.store, Progress(current, positions=positions), log=log, report=RunReport())
    try:
        saved_value = spec.store.get(PROGRESS_KEY)
    except Exception as exc:
        log.warning("Saved progress could not be read (%s); starting over.", type(exc).__name__)
        return fresh
    if saved_value is None:
        return fresh
    saved = Progress.from_json(saved_value, positions=positions)
    if saved is None:
        log.warning("Saved progress ignored: it is not in this provider version's format; starting over.")
        return fresh
    if saved.fingerprint != current:
        log.warning(
            "Saved progress ignored: the batch or its settings changed since an earlier try saved it; starting over."
        )
        return fresh
    report = RunReport()
    kept: IO[str] | None = None
    lines = report_lines() if report_lines is not None else None
    if report_lines is None:
        # No report file: the counts come from the saved progress (the summary's examples cover this try only).
        for name, count in saved.counts.items():
            report.counts[name] += count
    else:
        kept = tempfile.SpooledTemporaryFile(_SPOOL_BYTES, mode="w+", encoding="utf-8")  # noqa: SIM115
        try:
            found, digest = _keep_covered(lines or (), saved, report, kept)
        except Exception as exc:  # an unreadable report is no reason to fail the task: start over instead
            log.warning("The earlier report could not be read (%s).", type(exc).__name__)
            found, digest = -1, -1  # match nothing: start over
        if found != saved.covered or digest != saved.rows_digest or report.counts != _with_zeros(saved.counts):
            kept.close()
            log.warning(
                "Saved progress ignored: the earlier report holds %d of the %d rows it covers, or other rows (a report "
                "on another worker's disk, not uploaded before a kill, or rewritten by another run); starting over so "
                "the report lists every message.",
                found,
                saved.covered,
            )
            return fresh
    log.info(
        "Resuming after an earlier try: %d rows are settled already and skipped; the rest is done now (%d of them "
        "ended in error or were refused before).",
        saved.covered,
        len(saved.redo),
    )
    resumed = BatchProgress(spec.store, saved, log=log, report=report, resumed=saved.covered)
    resumed.kept = kept
    return resumed


def plan_positions(batch: Any) -> list[int] | None:
    """Each input row's position in the order the plan takes the batch (None when that is the input order).

    :param batch: the batch as rendered (a list, another sequence, or a JSON string of one).
    """
    order = plan_order(batch_rows(batch))
    if all(position == index for position, index in enumerate(order)):
        return None
    positions = [0] * len(order)
    for position, index in enumerate(order):
        positions[index] = position
    return positions


def _bounded(value: Any) -> int:
    """A row number or count from a stored value: an int in 0.._MAX_INDEX, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INDEX:
        raise ValueError(f"{value!r} is not a row number")
    return value


def _digest_of(outcome: MessageOutcome) -> int:
    return row_digest(outcome.index, outcome.channel_id, outcome.message_id, outcome.outcome.value)


def _with_zeros(counts: Mapping[str, int]) -> dict[str, int]:
    full = {outcome.value: 0 for outcome in Outcome}
    full.update(counts)
    return full


def _keep_covered(lines: Iterable[str], saved: Progress, report: RunReport, kept: IO[str]) -> tuple[int, int]:
    """Copy the covered rows of the earlier report to ``kept`` and count them in ``report``; returns how many, and
    their digest (the saved one unless the rows are another batch's, from a report another run rewrote)."""
    seen = bytearray()  # one byte per row: a report of 100,000 rows costs 100 KB here, not a set of ints
    found, digest = 0, 0
    for line in lines:
        outcome = outcome_from_json(line)
        if outcome is None or not saved.covers(outcome.index) or outcome.outcome is Outcome.NOT_ATTEMPTED:
            continue
        if outcome.index >= len(seen):
            seen.extend(bytes(outcome.index + 1 - len(seen)))
        elif seen[outcome.index]:
            continue
        seen[outcome.index] = 1
        report.add(outcome)
        kept.write(outcome.to_json() + "\n")
        found += 1
        digest = (digest + _digest_of(outcome)) % _DIGEST_MOD
    return found, digest
