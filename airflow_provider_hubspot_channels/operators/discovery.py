"""``DiscoverChannelMessagesOperator``: find a channel's outgoing messages through HubSpot's Inbox API.

For integrators without a store of their own. The result is a list of batches sized for
``ReconcileMessagesOperator.partial(...).expand(messages=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_hubspot_channels.client import InvalidInputError
from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from airflow_provider_hubspot_channels.operators.errors import checked_at_parse_time, is_templated
from airflow_provider_hubspot_channels.operators.lifecycle import HubSpotTaskMixin
from airflow_provider_hubspot_channels.operators.reconcile import parse_flag
from airflow_provider_hubspot_channels.reconciliation.discovery import discover_records, split_batches
from airflow_provider_hubspot_channels.reconciliation.timestamps import parse_reference_time
from airflow_provider_hubspot_channels.validation import validate_channel_id


class DiscoverChannelMessagesOperator(HubSpotTaskMixin, BaseOperator):
    """List the outgoing messages of one channel in one inbox created in a window, as reconciliation batches.

    Needs scope ``conversations.read``. Threads are found by latest activity after the window start and kept when
    their ``originalChannelId`` is the channel. A thread that moves to a later page while the listing is read (new
    activity) is read once, and each message is in one batch only. The task log shows ids and counts only.

    :param inbox_id: the inbox the channel's account delivers to (HubSpot accepts one per query). (templated)
    :param channel_id: the custom channel. (templated)
    :param window_start: inclusive start; default the run's ``data_interval_start``. (templated)
    :param window_end: exclusive end; default the run's ``data_interval_end``. (templated)
    :param batch_size: records per batch (one mapped task each; at most 1,024 batches).
    :param sent_means_delivered: treat HubSpot's ``SENT`` as delivered (default) or as still pending. (templated)
    :param hubspot_conn_id: the Airflow connection of type ``hubspot_channels``.
    """

    template_fields: Sequence[str] = ("inbox_id", "channel_id", "window_start", "window_end", "sent_means_delivered")
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
        inbox_id: int | str,
        channel_id: int | str,
        window_start: datetime | str | None = None,
        window_end: datetime | str | None = None,
        batch_size: int = 500,
        sent_means_delivered: bool | str = True,
        hubspot_conn_id: str = HubSpotChannelsHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.inbox_id = inbox_id
        self.channel_id = channel_id
        self.window_start = window_start
        self.window_end = window_end
        self.batch_size = batch_size
        self.sent_means_delivered = sent_means_delivered
        self.hubspot_conn_id = hubspot_conn_id
        with checked_at_parse_time(self.task_id):
            split_batches([], batch_size=batch_size)
            for field, value in (("inbox_id", inbox_id), ("channel_id", channel_id)):
                if not is_templated(value):
                    validate_channel_id(value, field=field)

    def _bound(self, value: Any, context: Context, key: str, field: str) -> datetime:
        if value not in (None, ""):
            return parse_reference_time(value, field=field)
        if context.get(key) is None:
            raise InvalidInputError(field, "the run has no data interval", f"pass {field} explicitly")
        return parse_reference_time(context.get(key), field=key)

    def execute(self, context: Context) -> list[list[dict[str, Any]]]:
        """Page through threads and their messages and return the batches.

        :param context: the task's Airflow context.
        """
        with self.hubspot_hook() as hook:
            channel = validate_channel_id(self.channel_id)
            inbox = validate_channel_id(self.inbox_id, field="inbox_id")
            start = self._bound(self.window_start, context, "data_interval_start", "window_start")
            end = self._bound(self.window_end, context, "data_interval_end", "window_end")
            if end <= start:
                raise InvalidInputError("window_end", f"{end} is not after {start}", "give a window_end after start")
            sent = parse_flag(self.sent_means_delivered, field="sent_means_delivered")
            found = discover_records(
                hook.iter_threads(inbox_id=inbox, latest_message_timestamp_after=start.isoformat()),
                hook.iter_thread_messages,
                channel_id=channel,
                window_start=start,
                window_end=end,
                sent_means_delivered=sent,
            )
            batches = split_batches(found.records, batch_size=self.batch_size)
        # Ids and counts only: records carry recipients' phone numbers.
        self.log.info(
            "Found %d outgoing messages of channel %s in %d threads of inbox %s between %s and %s: %d batches "
            "(skipped %d repeated thread listings and %d repeated messages: threads that moved while paging)",
            len(found.records),
            channel,
            found.threads,
            inbox,
            start.isoformat(),
            end.isoformat(),
            len(batches),
            found.repeated_threads,
            found.repeated_messages,
        )
        return batches
