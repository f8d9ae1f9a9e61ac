"""One way to run a batch of decisions from an operator: the runner, the JSON Lines report, the summary, the task's end.

Shared by ``ReconcileMessagesOperator`` (and its deprecated stale-only form) and ``UpdateMessageStatusOperator``
with ``updates=``: rate budget, concurrency, verification, report, summary, kill and failure rules are the same.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import IO, Any, cast

from airflow_provider_hubspot_channels.client import (
    HubSpotChannelsClient,
    HubSpotChannelsError,
    HubSpotDailyLimitError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.operators.assets import ChannelIds, asset_extra, attach_to_outlet_events
from airflow_provider_hubspot_channels.operators.errors import (
    AirflowException,
    AirflowFailException,
    HubSpotUnavailableError,
    airflow_error,
    retry_policy_decides_daily_limit,
)
from airflow_provider_hubspot_channels.operators.lifecycle import HubSpotTaskMixin
from airflow_provider_hubspot_channels.operators.metrics import emit_batch_metrics
from airflow_provider_hubspot_channels.reconciliation import (
    Decision,
    MessageOutcome,
    Outcome,
    format_table,
    refuse_named_accounts,
)
from airflow_provider_hubspot_channels.runner import progress as resume_progress
from airflow_provider_hubspot_channels.runner.accounts import AccountRouter
from airflow_provider_hubspot_channels.runner.attempt import MessageReader, MessageStatusClient, OfflineClient
from airflow_provider_hubspot_channels.runner.lookup import StatusLookup
from airflow_provider_hubspot_channels.runner.reasons import account_stop_reason
from airflow_provider_hubspot_channels.runner.reconcile import RunResult, run_plan

#: Threads (and HTTP connections) of one task at most, for every account of its batch together.
MAX_CONCURRENCY = 64
#: Thread listings and listed messages one account's lookup starts with in a multi-account batch; beyond
#: ``runner.accounts.SHARED_READERS`` accounts the lookups share what that many would keep.
ACCOUNT_LOOKUP_THREADS, ACCOUNT_LOOKUP_MESSAGES = 125, 1_250


def parse_flag(value: Any, *, field: str) -> bool:
    """A boolean argument, also from rendered templates (``"True"``, ``"false"``).

    :param value: the value.
    :param field: the argument name for the error.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise InvalidInputError(field, f"{value!r} is not a boolean", "use True or False")


def parse_concurrency(value: Any) -> int:
    """``max_concurrency`` as an int in 1..64 (HubSpot's limit per account, not threads, is the bottleneck).

    :param value: the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidInputError(
            "max_concurrency", f"{value!r} is not 1..{MAX_CONCURRENCY}", "use a small number such as 4 or 8"
        )
    return value


def _report_target(path: str) -> Any:
    """A local path, or an ObjectStoragePath for a URL such as ``s3://...``."""
    if "://" in path:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(path)
    from pathlib import Path

    return Path(path)


@contextlib.contextmanager
def open_report(path: str | None, keep: Iterable[str] = ()) -> Iterator[IO[str] | None]:
    """Open the JSON Lines report for writing: a local path, or an ObjectStoragePath URL such as ``s3://...``.

    :param path: where to write, or None for no report file.
    :param keep: rows of an earlier try to write first (lines with their newline), when resuming.
    """
    if not path:
        yield None
        return
    target = _report_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        handle.writelines(keep)
        yield handle


def read_report(path: str) -> Iterator[str] | None:
    """The rows of an earlier try's report, or None if there is none.

    :param path: the report's path or URL.
    """
    target = _report_target(path)
    if not target.exists():
        return None

    def lines() -> Iterator[str]:
        with target.open("r", encoding="utf-8", errors="replace") as handle:
            yield from handle

    return lines()


def retry_note(verify_status: bool) -> str:
    """What a retry of the task does, for the settings in use (the task's failure text says it).

    :param verify_status: whether HubSpot's status is read before each PATCH.
    """
    if verify_status:
        return (
            "A retry of this task is safe: it reads each message's status first and applies the transition rules "
            "(READ is never changed, what HubSpot already shows is not written again)."
        )
    return (
        "A retry of this task PATCHes again every message it does not skip (verify_status=False; on Airflow 3.3 it "
        "skips those an earlier try settled, before 3.3 none): messages already right get the same status again, "
        "and a message HubSpot shows READ would be overwritten; set verify_status=True to retry safely."
    )


def rows_a_retry_cannot_cure(counts: dict[str, int], examples: dict[str, Any]) -> str:
    """Sentences on refused writes and invalid records, naming a few (the task's error is read first).

    :param counts: the summary's counts.
    :param examples: the summary's examples.
    """

    def first(outcome: Outcome) -> str:
        rows = examples.get(outcome.value, [])[:3]
        return "; ".join(
            f"{row['reason']}" + (f" (correlationId {row['correlation_id']})" if row.get("correlation_id") else "")
            for row in rows
        )

    parts = []
    refused, invalid = counts[Outcome.REFUSED.value], counts[Outcome.INVALID.value]
    if refused:
        parts.append(
            f"HubSpot refused {refused} writes ({first(Outcome.REFUSED)}); a retry would be refused the same way: "
            "fix what HubSpot names and run again."
        )
    if invalid:
        parts.append(
            f"{invalid} records were invalid and skipped: {first(Outcome.INVALID)}. Fix the records and run again."
        )
    return " ".join(parts)


def run_batch(
    task: HubSpotTaskMixin,
    decisions: Iterable[Decision],
    *,
    verify_status: bool,
    verify_by_thread: bool,
    dry_run: bool,
    max_concurrency: int,
    report_path: str | None,
    reference_time: datetime | None = None,
    stale_after: timedelta | None = None,
    resume: resume_progress.ResumeSpec | None = None,
) -> dict[str, Any]:
    """Act on the decisions through the task's hook, write the report, log the table, fail the task as documented.

    :param task: the operator (its ``hubspot_hook``, ``hubspot_conn_id`` and ``log``).
    :param decisions: the plan, in its order.
    :param verify_status: read each message's state first and apply the transition rules.
    :param verify_by_thread: read a thread's messages with one listing where records name their thread.
    :param dry_run: send no PATCH.
    :param max_concurrency: requests in flight.
    :param report_path: the JSON Lines report, if any.
    :param reference_time: the reconciliation's check time (None for explicit updates).
    :param stale_after: the reconciliation's SLA (None for explicit updates).
    :param resume: where progress is kept between tries (Airflow 3.3+); None never resumes.
    """
    channels = ChannelIds()
    reader_of_report = (lambda: read_report(report_path)) if report_path else None
    log = task.log  # type: ignore[attr-defined]
    progress = resume_progress.start(resume, log=log, dry_run=dry_run, report_lines=reader_of_report)
    report = progress.report
    earlier_counts = dict(report.counts)  # a resumed batch starts with the rows earlier tries settled
    stop = threading.Event()
    started, usage_counters, result = time.monotonic(), None, None
    try:
        # The progress is saved (or cleared) last, after the report was closed: an object store has the file only
        # then.
        with progress, task.hubspot_hook(pool_size=max_concurrency, stop=stop) as hook:
            # A dry run without verification sends nothing: it needs no connection (a preview before one exists).
            offline = dry_run and not verify_status
            multi = bool(task.hubspot_accounts())
            # Built before the threads share it.
            client: MessageStatusClient | AccountRouter
            if offline:
                client, usage_counters = OfflineClient(), None
            elif multi:
                # Each account's client is built when its first row comes.
                client = hook.clients
                usage_counters = hook.clients.usage
            else:
                client = hook.get_conn()
                usage_counters = hook.get_conn().usage
            readers = None if offline else _readers(verify_by_thread, multi=multi)
            with open_report(report_path, progress.kept_lines()) as handle:

                def sink(outcome: MessageOutcome) -> None:
                    if handle is not None:
                        handle.write(outcome.to_json() + "\n")
                        # Row by row: a worker killed mid-batch leaves every outcome it collected on disk.
                        handle.flush()

                # Without per-account credentials the connection's token is the only one: a row naming an account
                # is refused rather than written with it.
                plan = decisions if multi else refuse_named_accounts(decisions)
                result = run_plan(
                    progress.remaining(channels.noting(plan)),
                    client,
                    report=report,
                    sink=progress.sink(sink),
                    verify_status=verify_status,
                    dry_run=dry_run,
                    max_concurrency=max_concurrency,
                    stop=stop,
                    readers=readers,
                )
    finally:
        if result is None:
            # Cut off (execution_timeout, on_kill): what this try did is counted now, as its progress was saved on
            # the way out, so the resumed retry counts only the rest.
            # Its not_attempted rows are the retry's to do (and count), not outcomes.
            counts = {kind: n for kind, n in report.counts.items() if kind != Outcome.NOT_ATTEMPTED.value}
            cut = {"counts": counts, "duration_seconds": time.monotonic() - started}
            snapshot = usage_counters.snapshot() if usage_counters is not None else None
            emit_batch_metrics(task, cut, snapshot, earlier_counts=earlier_counts)
    usage = usage_counters.snapshot() if usage_counters is not None else None
    summary = report.summary(
        reference_time=reference_time,
        stale_after=stale_after,
        dry_run=dry_run,
        verify_status=verify_status,
        duration_seconds=result.duration_seconds,
        stopped_reason=result.stopped_reason,
    )
    if report_path:
        summary["report_path"] = report_path
    if progress.resumed:
        summary["resumed_rows"] = progress.resumed
    task.log.info("Reconciliation summary\n%s", format_table(summary))  # type: ignore[attr-defined]
    emit_batch_metrics(task, summary, usage, earlier_counts=earlier_counts)
    # Airflow drops outlet events of a failed task: the extra only reaches consumers when the task succeeds.
    attach_to_outlet_events(task, asset_extra(summary, channels))
    _raise_for(task, result, summary, verify_status=verify_status, report_path=report_path)
    return summary


#: Stopped accounts named in the task's error at most (the report names every row's account).
ACCOUNTS_NAMED = 10


def _stopped_accounts(
    stopped: dict[str, HubSpotChannelsError], not_attempted: int, *, redact: Callable[[str], str]
) -> str:
    """The sentence naming the accounts that stopped (first :data:`ACCOUNTS_NAMED`) and what fixes each; '' if none.

    :param stopped: account -> the error that stopped it.
    :param not_attempted: rows not attempted in the batch.
    :param redact: removes secrets from error texts.
    """
    if not stopped:
        return ""
    named = "; ".join(
        f"{'the connection' if key == 'connection' else key}: {account_stop_reason(error, redact)[:300]}"
        for key, error in list(stopped.items())[:ACCOUNTS_NAMED]
    )
    more = f" and {len(stopped) - ACCOUNTS_NAMED} more (see the report)" if len(stopped) > ACCOUNTS_NAMED else ""
    return (
        f"{len(stopped)} {'account' if len(stopped) == 1 else 'accounts'} stopped and their remaining rows "
        f"({not_attempted} in all) were not attempted; the "
        f"other accounts' rows were processed. {named}{more}."
    )


def _readers(by_thread: bool, *, multi: bool) -> Callable[[MessageStatusClient], MessageReader]:
    """Builds each account's lookup (verify by thread where records name their thread)."""

    def build(client: MessageStatusClient) -> MessageReader:
        # The hook's clients (one per account) are HubSpotChannelsClients: they can list threads.
        account = cast(HubSpotChannelsClient, client)
        if multi:
            return StatusLookup(
                account, by_thread=by_thread, max_threads=ACCOUNT_LOOKUP_THREADS, max_messages=ACCOUNT_LOOKUP_MESSAGES
            )
        return StatusLookup(account, by_thread=by_thread)

    return build


def _raise_for(
    task: HubSpotTaskMixin, result: RunResult, summary: dict[str, Any], *, verify_status: bool, report_path: str | None
) -> None:
    """Fail the task as documented once every row has its outcome (docs/operators.md, "How the task ends")."""
    conn_id = task.hubspot_conn_id
    counts, examples = summary["counts"], summary["examples"]
    prefix = f"HubSpot connection '{conn_id}': "
    # Every account of a multi-account batch stopped: named per account below, like a partial stop.
    every_account = any(result.stopping_error is error for error in result.stopped_accounts.values())
    if result.stopping_error is not None and not every_account:
        raise airflow_error(
            result.stopping_error, conn_id=conn_id, policy_decides=retry_policy_decides_daily_limit(task)
        )
    errors, not_attempted = counts[Outcome.ERROR.value], counts[Outcome.NOT_ATTEMPTED.value]
    if result.stopped_reason and (errors or not_attempted) and not every_account:
        # An unfinished batch (killed, or HubSpot stopped answering) must not end as a success. HubSpot down (no
        # answer or 5xx, not 429s) is a class of its own, which a retry policy retries later (retry_policy.py).
        unavailable = result.hubspot_down and not task._killed
        raise (HubSpotUnavailableError if unavailable else AirflowException)(
            f"{prefix}{result.stopped_reason}. {errors} messages ended in error and {not_attempted} were not "
            f"attempted. {retry_note(verify_status)}"
        )
    if result.unwritten_rows:
        raise AirflowException(
            f"{result.unwritten_rows} rows of the report could not be written to {report_path} "
            f"({result.sink_error}); the counts above include them and HubSpot was updated as counted. "
            f"{retry_note(verify_status)}"
        )
    final = rows_a_retry_cannot_cure(counts, examples)
    # Client errors never carry a token (client/errors.py), nor do credential errors: nothing left to redact.
    stopped = _stopped_accounts(result.stopped_accounts, not_attempted, redact=lambda text: text)
    # Transient errors first: the task's retries may cure them; refused writes and invalid records then fail the last
    # try for good.
    if errors:
        # Rows of accounts stopped as busy (429s through every retry) are not_attempted, named in the report.
        rest = f"{not_attempted} were not attempted (see the report)" if not_attempted else "the rest was processed"
        raise AirflowException(
            f"{prefix}{errors} messages ended in error ({rest}). {retry_note(verify_status)} {stopped} {final}".strip()
        )
    if stopped:
        daily = [e for e in result.stopped_accounts.values() if isinstance(e, HubSpotDailyLimitError)]
        if len(daily) == len(result.stopped_accounts):
            # Only daily limits: a later retry can finish, so the task's retry policy decides, as for one account.
            error = airflow_error(daily[0], conn_id=conn_id, policy_decides=retry_policy_decides_daily_limit(task))
            raise type(error)(f"{stopped} {error}") from daily[0]
        if any(error.retry_may_succeed for error in result.stopped_accounts.values()):
            # A credentials lookup that failed (a secrets backend or database that timed out) may answer a retry.
            raise AirflowException(f"{prefix}{stopped} A retry may read them. {final}".strip())
        raise AirflowFailException(f"{prefix}{stopped} {final}".strip())
    if final:
        raise AirflowFailException(f"{final} See the report for every row (the rest was processed).")
