"""``UpdateMessageStatusOperator``: report one message's delivery outcome to HubSpot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from airflow_provider_hubspot_channels.operators.errors import checked_at_parse_time, is_templated
from airflow_provider_hubspot_channels.operators.lifecycle import HubSpotTaskMixin
from airflow_provider_hubspot_channels.validation import (
    build_status_update,
    validate_channel_id,
    validate_error_message,
    validate_message_id,
    validate_status_type,
)


class UpdateMessageStatusOperator(HubSpotTaskMixin, BaseOperator):
    """Set a custom-channel message's status to SENT, READ or FAILED (``PATCH .../messages/{messageId}``).

    Literal arguments are validated when the DAG is parsed, templated ones before the request. Returns a small
    summary to XCom: ``id``, ``channelId``, ``statusType``, ``errorMessage``, ``updatedAt``.

    :param channel_id: the custom channel's numeric id. (templated)
    :param message_id: the message id from HubSpot's webhook. (templated)
    :param status_type: ``SENT``, ``READ`` or ``FAILED``, any case. (templated)
    :param error_message: what agents see for FAILED, at most 500 characters. (templated)
    :param hubspot_conn_id: the Airflow connection of type ``hubspot_channels``.
    """

    template_fields: Sequence[str] = ("channel_id", "message_id", "status_type", "error_message")
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
        channel_id: int | str,
        message_id: str,
        status_type: str,
        error_message: str | None = None,
        hubspot_conn_id: str = HubSpotChannelsHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.channel_id = channel_id
        self.message_id = message_id
        self.status_type = status_type
        self.error_message = error_message
        self.hubspot_conn_id = hubspot_conn_id
        with checked_at_parse_time(self.task_id):
            self._validate_literals()

    def _validate_literals(self) -> None:
        """Check at parse time what is already known; templated values wait for rendering."""
        if not is_templated(self.channel_id):
            validate_channel_id(self.channel_id)
        if not is_templated(self.message_id):
            validate_message_id(self.message_id)
        if not is_templated(self.status_type):
            status = validate_status_type(self.status_type)
            if not is_templated(self.error_message):
                validate_error_message(self.error_message, status)

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate the rendered arguments, send the PATCH and return the summary.

        :param context: the task's Airflow context.
        """
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
