"""``ReconcileMessagesOperator``: make HubSpot show what the integrator's record knows, for every message of a batch.

``ReconcileStaleMessagesOperator`` is the same implementation in stale-only mode, kept for existing DAGs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_hubspot_channels.client import InvalidInputError
from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from airflow_provider_hubspot_channels.operators.batch import (
    MAX_CONCURRENCY,
    open_report,
    parse_concurrency,
    parse_flag,
    retry_note,
    rows_a_retry_cannot_cure,
    run_batch,
)
from airflow_provider_hubspot_channels.operators.errors import AirflowFailException, checked_at_parse_time, is_templated
from airflow_provider_hubspot_channels.operators.lifecycle import HubSpotTaskMixin
from airflow_provider_hubspot_channels.reconciliation import (
    DEFAULT_CARRIER_ERROR_MESSAGE_TEMPLATE,
    DEFAULT_ERROR_MESSAGE_TEMPLATE,
    Mode,
    StalenessPolicy,
    check_reference_time,
    iter_plan,
    parse_duration,
    validate_template,
)
from airflow_provider_hubspot_channels.runner.progress import ResumeSpec

__all__ = [
    "MAX_CONCURRENCY",
    "ReconcileMessagesOperator",
    "ReconcileStaleMessagesOperator",
    "open_report",
    "parse_concurrency",
    "parse_flag",
    "retry_note",
    "rows_a_retry_cannot_cure",
]


class ReconcileMessagesOperator(HubSpotTaskMixin, BaseOperator):
    """Make HubSpot show, for every message of a batch, what the integrator's record knows.

    Each record: ``channel_id``, ``message_id``, ``created_at`` (ISO 8601 with offset, or epoch ms),
    ``delivery_status`` (``pending`` = no receipt yet, ``delivered``, ``read``, ``failed``), optional
    ``reported_status`` (what the bridge last told HubSpot: ``SENT``, ``READ``, ``FAILED``; equal to the target, it
    costs no request), ``receipt_at``, ``conversations_thread_id``, and text for the explanation (``recipient``,
    ``carrier_error``). HubSpot's camelCase keys work too. The target: ``read`` -> READ, ``delivered`` -> SENT,
    ``failed`` -> FAILED with the carrier's explanation, ``pending`` and stale (``created_at <= reference_time -
    stale_after``) -> FAILED with the SLA explanation, ``pending`` and fresh -> nothing. With ``verify_status`` the
    transition rules apply: READ in HubSpot is never changed, what HubSpot already shows is not written again, a
    FAILED a receipt disproves is corrected, and a message HubSpot shows as INCOMING is never written.

    Returns a small summary to XCom (counts per outcome, reference time, SLA, dry run flag, duration, examples).
    The task fails after processing every message: retryable when a message ended in ``error``; at once when
    records were invalid, HubSpot refused a write, the token was refused or lacks a scope, or the daily limit is
    reached.

    Declared with ``outlets=[Asset(...)]`` (e.g. :func:`~airflow_provider_hubspot_channels.operators.assets.
    channel_asset`), a successful run attaches its counts to each asset's event as the extra (``marked_failed``,
    ``counts``, ``dry_run``, ``reference_time``, ``channel_ids``, ``report_path``; no message ids), for DAGs
    scheduled on the asset. A failed run emits no event (Airflow's rule).

    :param messages: the batch: a list of records, an XComArg, or a JSON string of a list. (templated)
    :param stale_after: the SLA: timedelta, seconds, or ISO 8601 duration such as ``PT15M``. (templated)
    :param hubspot_conn_id: the Airflow connection of type ``hubspot_channels``.
    :param verify_status: read each message's state first and apply the transition rules; without it, the target
        is written as is (one PATCH per message; a READ in HubSpot would be overwritten). (templated)
    :param verify_by_thread: where records carry ``conversations_thread_id`` (and the token has
        ``conversations.read``), read a thread's messages with one listing instead of one GET each. (templated)
    :param dry_run: decide and report, but change nothing in HubSpot. (templated)
    :param error_message_template: what agents read for a stale message; fields listed in ``TEMPLATE_FIELDS``.
    :param carrier_error_message_template: what agents read when the carrier's receipt said ``failed``.
    :param max_concurrency: requests in flight at once (1..64), for every account of the batch together; HubSpot's
        rate limit is enforced separately, per account.
    :param report_path: where to write the per-message JSON Lines report (local path or object storage URL).
        (templated)
    :param reference_time: the time staleness is judged at; default the run's ``data_interval_end``, so reruns
        and backfills decide the same way. (templated)
    :param account_conn_pattern: records naming their account (``portal_id``) use one Airflow connection per
        account, found by this pattern, e.g. ``hubspot_channels_{portal_id}``; records without one use
        ``hubspot_conn_id``.
    :param refresh_tokens_sql_conn_id: instead, the app's client id and secret come from ``hubspot_conn_id`` and
        each account's refresh token from this SQL connection (any common.sql database) ...
    :param refresh_tokens_sql: ... with this query, given a ``portal_id`` parameter in the database's paramstyle,
        e.g. ``SELECT refresh_token FROM hubspot_installs WHERE portal_id = :portal_id``.

    With several accounts, an account whose credentials are missing or refused (or that lacks a scope, or reached its
    daily limit) ends its own rows ``not_attempted`` and the others go on; the task then fails naming the accounts.
    """

    template_fields: Sequence[str] = (
        "messages",
        "stale_after",
        "verify_status",
        "verify_by_thread",
        "is_dry_run",
        "report_path",
        "reference_time",
    )
    template_fields_renderers = {"messages": "json"}
    ui_color = "#ff7a59"
    #: Which disagreements the operator fixes.
    reconcile_mode = Mode.TWO_WAY

    def __init__(
        self,
        *,
        messages: Any,
        stale_after: timedelta | int | float | str,
        hubspot_conn_id: str = HubSpotChannelsHook.default_conn_name,
        verify_status: bool | str = True,
        verify_by_thread: bool | str = True,
        dry_run: bool | str = False,
        error_message_template: str = DEFAULT_ERROR_MESSAGE_TEMPLATE,
        carrier_error_message_template: str = DEFAULT_CARRIER_ERROR_MESSAGE_TEMPLATE,
        max_concurrency: int = 4,
        report_path: str | None = None,
        reference_time: datetime | str | None = None,
        account_conn_pattern: str | None = None,
        refresh_tokens_sql_conn_id: str | None = None,
        refresh_tokens_sql: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.messages = messages
        self.stale_after = stale_after
        self.hubspot_conn_id = hubspot_conn_id
        self.verify_status = verify_status
        self.verify_by_thread = verify_by_thread
        # BaseOperator already has a dry_run() method: keep the argument's name, store it under another.
        self.is_dry_run = dry_run
        self.error_message_template = error_message_template
        self.carrier_error_message_template = carrier_error_message_template
        self.max_concurrency = max_concurrency
        self.report_path = report_path
        self.reference_time = reference_time
        self.account_conn_pattern = account_conn_pattern
        self.refresh_tokens_sql_conn_id = refresh_tokens_sql_conn_id
        self.refresh_tokens_sql = refresh_tokens_sql
        with checked_at_parse_time(self.task_id):
            self.hubspot_accounts()
            validate_template(error_message_template)
            validate_template(carrier_error_message_template, field="carrier_error_message_template")
            parse_concurrency(max_concurrency)
            if not is_templated(stale_after):
                parse_duration(stale_after)
            flags = (("verify_status", verify_status), ("verify_by_thread", verify_by_thread), ("dry_run", dry_run))
            for name, value in flags:
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
            by_thread = parse_flag(self.verify_by_thread, field="verify_by_thread")
            dry_run = parse_flag(self.is_dry_run, field="dry_run")
            decisions = iter_plan(
                self.messages,
                policy,
                self.error_message_template,
                mode=self.reconcile_mode,
                carrier_template=self.carrier_error_message_template,
            )
        except InvalidInputError as exc:
            raise AirflowFailException(f"Invalid input, nothing was sent to HubSpot. {exc}") from None
        self.log.info(
            "Reconciling (%s): SLA %s, reference time %s, verify_status=%s, dry_run=%s",
            self.reconcile_mode.value,
            policy.stale_after,
            policy.reference_time.isoformat(),
            verify,
            dry_run,
        )
        return run_batch(
            self,
            decisions,
            verify_status=verify,
            verify_by_thread=by_thread,
            dry_run=dry_run,
            max_concurrency=self.max_concurrency,
            report_path=self.report_path,
            reference_time=policy.reference_time,
            stale_after=policy.stale_after,
            resume=ResumeSpec.from_context(
                context,
                self.messages,
                mode=self.reconcile_mode.value,
                stale_after=policy.stale_after.total_seconds(),
                reference_time=policy.reference_time.isoformat(),
                templates=[self.error_message_template, self.carrier_error_message_template],
                verify_status=verify,
            ),
        )


class ReconcileStaleMessagesOperator(ReconcileMessagesOperator):
    """Deprecated: use :class:`ReconcileMessagesOperator`. Marks pending messages past their SLA as FAILED only.

    The same implementation in stale-only mode: records the integrator settled (a receipt) are left alone
    (``skipped_settled``) and ``reported_status`` is not read. Arguments as :class:`ReconcileMessagesOperator`.
    """

    reconcile_mode = Mode.STALE_ONLY

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn(
            "ReconcileStaleMessagesOperator is deprecated: use ReconcileMessagesOperator "
            "(airflow_provider_hubspot_channels.operators.reconcile), which also reports receipts the bridge never "
            "reported and corrects a FAILED that a late receipt disproves.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(**kwargs)
