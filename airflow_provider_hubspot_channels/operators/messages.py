"""``UpdateMessageStatusOperator``: report delivery outcomes to HubSpot, one message or a batch of explicit updates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_hubspot_channels.client import InvalidInputError
from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from airflow_provider_hubspot_channels.operators.batch import parse_concurrency, parse_flag, run_batch
from airflow_provider_hubspot_channels.operators.errors import (
    AirflowFailException,
    checked_at_parse_time,
    is_templated,
)
from airflow_provider_hubspot_channels.operators.lifecycle import HubSpotTaskMixin
from airflow_provider_hubspot_channels.reconciliation import iter_updates
from airflow_provider_hubspot_channels.runner.progress import ResumeSpec
from airflow_provider_hubspot_channels.validation import (
    build_status_update,
    validate_channel_id,
    validate_error_message,
    validate_message_id,
    validate_status_type,
)

_ONE = ("channel_id", "message_id", "status_type")


class UpdateMessageStatusOperator(HubSpotTaskMixin, BaseOperator):
    """Set custom-channel messages' status to SENT, READ or FAILED (``PATCH .../messages/{messageId}``).

    **One message**: give ``channel_id``, ``message_id``, ``status_type`` (and ``error_message`` for FAILED); one
    PATCH, and a small summary to XCom: ``id``, ``channelId``, ``statusType``, ``errorMessage``, ``updatedAt``.

    **A batch**: give ``updates``, a list of ``{channel_id, message_id, status_type, error_message?,
    overwrite_read?}`` (e.g. a bridge replaying its receipts after an outage). It runs like a reconciliation: rate
    budget, ``max_concurrency``, ``verify_status`` with the transition rules (READ in HubSpot is never changed unless
    ``overwrite_read`` says so for the row or the task; what HubSpot already shows is not written again; INCOMING
    messages are never written), a JSON Lines report, a summary to XCom, one outcome per row; several rows for one
    message: the last one is written.

    Literal arguments are validated when the DAG is parsed, templated ones before any request.

    :param channel_id: one message: the custom channel's numeric id. (templated)
    :param message_id: one message: the message id from HubSpot's webhook. (templated)
    :param status_type: one message: ``SENT``, ``READ`` or ``FAILED``, any case. (templated)
    :param error_message: one message: what agents see for FAILED, at most 500 characters. (templated)
    :param updates: a batch of updates: a list, an XComArg, or a JSON string of a list. (templated)
    :param verify_status: batch: read each message's state first and apply the transition rules. (templated)
    :param overwrite_read: batch: write over HubSpot's READ too, for rows that do not say otherwise. (templated)
    :param dry_run: batch: decide and report, change nothing. (templated)
    :param max_concurrency: batch: requests in flight at once (1..64), every account together.
    :param report_path: batch: where to write the per-row JSON Lines report. (templated)
    :param hubspot_conn_id: the Airflow connection of type ``hubspot_channels``.
    :param account_conn_pattern: batch: updates naming their account (``portal_id``) use one connection per
        account, e.g. ``hubspot_channels_{portal_id}`` (as ``ReconcileMessagesOperator``).
    :param refresh_tokens_sql_conn_id: batch: instead, each account's refresh token from this SQL connection ...
    :param refresh_tokens_sql: ... with this query, given a ``portal_id`` parameter (as ``ReconcileMessagesOperator``).
    """

    template_fields: Sequence[str] = (
        "channel_id",
        "message_id",
        "status_type",
        "error_message",
        "updates",
        "verify_status",
        "overwrite_read",
        "is_dry_run",
        "report_path",
    )
    template_fields_renderers = {"updates": "json"}
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
        channel_id: int | str | None = None,
        message_id: str | None = None,
        status_type: str | None = None,
        error_message: str | None = None,
        updates: Any = None,
        verify_status: bool | str = True,
        overwrite_read: bool | str = False,
        dry_run: bool | str = False,
        max_concurrency: int = 4,
        report_path: str | None = None,
        hubspot_conn_id: str = HubSpotChannelsHook.default_conn_name,
        account_conn_pattern: str | None = None,
        refresh_tokens_sql_conn_id: str | None = None,
        refresh_tokens_sql: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.channel_id = channel_id
        self.message_id = message_id
        self.status_type = status_type
        self.error_message = error_message
        self.updates = updates
        self.verify_status = verify_status
        self.overwrite_read = overwrite_read
        # BaseOperator already has a dry_run() method: keep the argument's name, store it under another.
        self.is_dry_run = dry_run
        self.max_concurrency = max_concurrency
        self.report_path = report_path
        self.hubspot_conn_id = hubspot_conn_id
        self.account_conn_pattern = account_conn_pattern
        self.refresh_tokens_sql_conn_id = refresh_tokens_sql_conn_id
        self.refresh_tokens_sql = refresh_tokens_sql
        with checked_at_parse_time(self.task_id):
            self._validate_literals()

    def _validate_literals(self) -> None:
        """Check at parse time what is already known; templated values wait for rendering."""
        one = [name for name in _ONE if getattr(self, name) is not None]
        accounts = self.hubspot_accounts()
        if accounts and self.updates is None:
            name = next(iter(accounts))
            raise InvalidInputError(name, "it serves a batch of several accounts", "pass updates=, or leave it out")
        if self.updates is not None:
            if one or self.error_message is not None:
                raise InvalidInputError(
                    "updates", f"it is given together with {', '.join(one) or 'error_message'}", "give one or the other"
                )
            parse_concurrency(self.max_concurrency)
            for name in ("verify_status", "overwrite_read", "is_dry_run"):
                value = getattr(self, name)
                if not is_templated(value):
                    parse_flag(value, field=name.replace("is_", ""))
            return
        if len(one) < len(_ONE):
            missing = ", ".join(name for name in _ONE if name not in one)
            raise InvalidInputError(missing, "it is missing", "give channel_id, message_id and status_type, or updates")
        if not is_templated(self.channel_id):
            validate_channel_id(self.channel_id)
        if not is_templated(self.message_id):
            validate_message_id(self.message_id)
        if not is_templated(self.status_type):
            status = validate_status_type(self.status_type)
            if not is_templated(self.error_message):
                validate_error_message(self.error_message, status)

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate the rendered arguments, send the PATCH (or the batch) and return the summary.

        :param context: the task's Airflow context.
        """
        if self.updates is not None:
            return self._execute_batch(context)
        with self.hubspot_hook() as hook:
            update = build_status_update(self.channel_id, self.message_id, self.status_type, self.error_message or None)
            message = hook.update_message_status(
                update.channel_id, update.message_id, update.status_type, update.error_message
            )
        status = message.get("status") or {}
        failure = status.get("failureDetails") or {}
        self.log.info(
            "Message %s on channel %s is now %s", update.message_id, update.channel_id, status.get("statusType")
        )
        return {
            "id": message.get("id", update.message_id),
            "channelId": message.get("channelId", str(update.channel_id)),
            "statusType": status.get("statusType", update.status_type),
            "errorMessage": failure.get("errorMessage", update.error_message),
            "updatedAt": message.get("updatedAt"),
        }

    def _execute_batch(self, context: Context) -> dict[str, Any]:
        try:
            verify = parse_flag(self.verify_status, field="verify_status")
            overwrite = parse_flag(self.overwrite_read, field="overwrite_read")
            dry_run = parse_flag(self.is_dry_run, field="dry_run")
            decisions = iter_updates(self.updates, overwrite_read=overwrite)
        except InvalidInputError as exc:
            raise AirflowFailException(f"Invalid input, nothing was sent to HubSpot. {exc}") from None
        self.log.info("Updating statuses: verify_status=%s, overwrite_read=%s, dry_run=%s", verify, overwrite, dry_run)
        return run_batch(
            self,
            decisions,
            verify_status=verify,
            verify_by_thread=False,
            dry_run=dry_run,
            max_concurrency=self.max_concurrency,
            report_path=self.report_path,
            resume=ResumeSpec.from_context(context, self.updates, kind="updates", overwrite=overwrite, verify=verify),
        )
