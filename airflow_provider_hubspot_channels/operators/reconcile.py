"""``ReconcileStaleMessagesOperator``: mark messages nobody confirmed within their SLA as FAILED in HubSpot."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_hubspot_channels.client import InvalidInputError
from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from airflow_provider_hubspot_channels.operators.errors import (
    AirflowException,
    AirflowFailException,
    airflow_error,
    checked_at_parse_time,
    is_templated,
)
from airflow_provider_hubspot_channels.operators.lifecycle import HubSpotTaskMixin
from airflow_provider_hubspot_channels.reconciliation import (
    DEFAULT_ERROR_MESSAGE_TEMPLATE,
    MessageOutcome,
    Outcome,
    RunReport,
    StalenessPolicy,
    check_reference_time,
    format_table,
    iter_plan,
    parse_duration,
    validate_template,
)
from airflow_provider_hubspot_channels.runner.reconcile import RunResult, run_plan

MAX_CONCURRENCY = 32


def retry_note(verify_status: bool) -> str:
    """What a retry of the task does, for the settings in use (the task's failure text says it).

    :param verify_status: whether HubSpot's status is read before each PATCH.
    """
    if verify_status:
        return (
            "A retry of this task is safe: it reads each stale message's status first and leaves messages HubSpot "
            "shows READ or FAILED alone."
        )
    return (
        "A retry of this task PATCHes every stale message again (verify_status=False): messages already marked get "
        "the same text again, and a message HubSpot shows READ would be overwritten; set verify_status=True to retry "
        "safely."
    )


def rows_a_retry_cannot_cure(counts: dict[str, int], examples: dict[str, Any]) -> str:
    """Sentences on refused writes and invalid records, naming the first few (the task's error is read first).

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
    """``max_concurrency`` as an int in 1..32 (HubSpot's limit, not threads, is the bottleneck).

    :param value: the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidInputError(
            "max_concurrency", f"{value!r} is not 1..{MAX_CONCURRENCY}", "use a small number such as 4 or 8"
        )
    return value


@contextlib.contextmanager
def open_report(path: str | None) -> Iterator[IO[str] | None]:
    """Open the JSON Lines report for writing: a local path, or an ObjectStoragePath URL such as ``s3://...``.

    :param path: where to write, or None for no report file.
    """
    if not path:
        yield None
        return
    if "://" in path:
        from airflow.sdk import ObjectStoragePath

        target: Any = ObjectStoragePath(path)
    else:
        from pathlib import Path

        target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        yield handle


class ReconcileStaleMessagesOperator(HubSpotTaskMixin, BaseOperator):
    """Mark every outgoing message still unconfirmed after its SLA as FAILED in HubSpot, with an explanation.

    Each record: ``channel_id``, ``message_id``, ``created_at`` (ISO 8601 with offset, or epoch ms),
    ``delivery_status`` (``pending`` = no receipt yet, ``delivered``, ``read``, ``failed``), and optional fields
    for the explanation (``recipient``, ``carrier_error``). HubSpot's camelCase keys work too. A message is stale
    when it is pending and ``created_at <= reference_time - stale_after``.

    Returns a small summary to XCom (counts per outcome, reference time, SLA, dry run flag, duration, examples).
    The task fails after processing every message: retryable when a message ended in ``error``; at once when
    records were invalid, the token was refused or lacks a scope, or the daily limit is reached.

    :param messages: the batch: a list of records, an XComArg, or a JSON string of a list. (templated)
    :param stale_after: the SLA: timedelta, seconds, or ISO 8601 duration such as ``PT15M``. (templated)
    :param hubspot_conn_id: the Airflow connection of type ``hubspot_channels``.
    :param verify_status: GET each stale message first and leave those HubSpot shows READ or FAILED at that moment
        alone; without it, one PATCH per stale message. (templated)
    :param dry_run: decide and report, but change nothing in HubSpot. (templated)
    :param error_message_template: what agents read; ``str.format`` fields listed in ``TEMPLATE_FIELDS``.
    :param max_concurrency: requests in flight at once (1..32); HubSpot's rate limit is enforced separately.
    :param report_path: where to write the per-message JSON Lines report (local path or object storage URL).
        (templated)
    :param reference_time: the time staleness is judged at; default the run's ``data_interval_end``, so reruns
        and backfills decide the same way. (templated)
    """

    template_fields: Sequence[str] = (
        "messages",
        "stale_after",
        "verify_status",
        "is_dry_run",
        "report_path",
        "reference_time",
    )
    template_fields_renderers = {"messages": "json"}
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
        messages: Any,
        stale_after: timedelta | int | float | str,
        hubspot_conn_id: str = HubSpotChannelsHook.default_conn_name,
        verify_status: bool | str = True,
        dry_run: bool | str = False,
        error_message_template: str = DEFAULT_ERROR_MESSAGE_TEMPLATE,
        max_concurrency: int = 4,
        report_path: str | None = None,
        reference_time: datetime | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.messages = messages
        self.stale_after = stale_after
        self.hubspot_conn_id = hubspot_conn_id
        self.verify_status = verify_status
        # BaseOperator already has a dry_run() method: keep the argument's name, store it under another.
        self.is_dry_run = dry_run
        self.error_message_template = error_message_template
        self.max_concurrency = max_concurrency
        self.report_path = report_path
        self.reference_time = reference_time
        with checked_at_parse_time(self.task_id):
            validate_template(error_message_template)
            parse_concurrency(max_concurrency)
            if not is_templated(stale_after):
                parse_duration(stale_after)
            for name, value in (("verify_status", verify_status), ("dry_run", dry_run)):
                if not is_templated(value):
                    parse_flag(value, field=name)
            if reference_time is not None and not is_templated(reference_time):
                check_reference_time(reference_time, now=datetime.now(timezone.utc))

    def _reference_time(self, context: Context) -> datetime:
        """The instant staleness is judged at; one in the future (a typo) would mark every pending message FAILED."""
        now = datetime.now(timezone.utc)
        if self.reference_time not in (None, ""):
            return check_reference_time(self.reference_time, now=now)
        for key in ("data_interval_end", "logical_date"):
            value = context.get(key)
            if value is not None:
                return check_reference_time(value, now=now, field=key)
        dag_run = context.get("dag_run")
        run_after = getattr(dag_run, "run_after", None)
        if run_after is None:
            raise InvalidInputError(
                "reference_time", "the run has no data interval", "pass reference_time, e.g. '{{ ts }}'"
            )
        return check_reference_time(run_after, now=now, field="run_after")

    def execute(self, context: Context) -> dict[str, Any]:
        """Plan the batch, act on HubSpot, write the report and return the summary.

        :param context: the task's Airflow context.
        """
        try:
            policy = StalenessPolicy(
                stale_after=parse_duration(self.stale_after), reference_time=self._reference_time(context)
            )
            verify = parse_flag(self.verify_status, field="verify_status")
            dry_run = parse_flag(self.is_dry_run, field="dry_run")
            decisions = iter_plan(self.messages, policy, self.error_message_template)
        except InvalidInputError as exc:
            raise AirflowFailException(f"Invalid input, nothing was sent to HubSpot. {exc}") from None
        self.log.info(
            "Reconciling: SLA %s, reference time %s, verify_status=%s, dry_run=%s",
            policy.stale_after,
            policy.reference_time.isoformat(),
            verify,
            dry_run,
        )
        report = RunReport()
        stop = threading.Event()
        with self.hubspot_hook(pool_size=self.max_concurrency, stop=stop) as hook:
            client = hook.get_conn()  # built once, before the worker threads share it
            with open_report(self.report_path) as handle:

                def sink(outcome: MessageOutcome) -> None:
                    if handle is not None:
                        handle.write(outcome.to_json() + "\n")
                        # Row by row: a worker killed mid-batch leaves every outcome it collected on disk.
                        handle.flush()

                result = run_plan(
                    decisions,
                    client,
                    report=report,
                    sink=sink,
                    verify_status=verify,
                    dry_run=dry_run,
                    max_concurrency=self.max_concurrency,
                    stop=stop,
                )
        summary = report.summary(
            reference_time=policy.reference_time,
            stale_after=policy.stale_after,
            dry_run=dry_run,
            verify_status=verify,
            duration_seconds=result.duration_seconds,
            stopped_reason=result.stopped_reason,
        )
        if self.report_path:
            summary["report_path"] = self.report_path
        self.log.info("Reconciliation summary\n%s", format_table(summary))
        self._raise_for(result, summary["counts"], summary["examples"], verify=verify)
        return summary

    def _raise_for(self, result: RunResult, counts: dict[str, int], examples: dict[str, Any], *, verify: bool) -> None:
        """Fail the task as documented once every row has its outcome (README, "How the task ends")."""
        prefix = f"HubSpot connection '{self.hubspot_conn_id}': "
        if result.stopping_error is not None:
            raise airflow_error(result.stopping_error, conn_id=self.hubspot_conn_id)
        errors, not_attempted = counts[Outcome.ERROR.value], counts[Outcome.NOT_ATTEMPTED.value]
        if result.stopped_reason and (errors or not_attempted):
            # An unfinished batch (killed, or HubSpot stopped answering) must not end as a success.
            raise AirflowException(
                f"{prefix}{result.stopped_reason}. {errors} messages ended in error and {not_attempted} were not "
                f"attempted. {retry_note(verify)}"
            )
        if result.unwritten_rows:
            raise AirflowException(
                f"{result.unwritten_rows} rows of the report could not be written to {self.report_path} "
                f"({result.sink_error}); the counts above include them and HubSpot was updated as counted. "
                f"{retry_note(verify)}"
            )
        final = rows_a_retry_cannot_cure(counts, examples)
        # Transient errors first: the task's retries may cure them; refused writes and invalid records then fail the
        # last try for good.
        if errors:
            raise AirflowException(
                f"{prefix}{errors} messages ended in error (the rest was processed). {retry_note(verify)} "
                f"{final}".strip()
            )
        if final:
            raise AirflowFailException(f"{final} See the report for every row (the rest was processed).")
