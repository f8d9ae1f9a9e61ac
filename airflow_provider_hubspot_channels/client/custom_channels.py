"""Typed calls of HubSpot's Custom Channels API: channels and message statuses, validated before any request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_hubspot_channels.client.calls import Answer, ApiCalls, segment
from airflow_provider_hubspot_channels.client.errors import InvalidInputError
from airflow_provider_hubspot_channels.validation import (
    StatusUpdate,
    build_status_update,
    validate_channel_id,
    validate_message_id,
)


class CustomChannelsApi(ApiCalls):
    """The Custom Channels calls of :class:`~airflow_provider_hubspot_channels.client.client.HubSpotChannelsClient`."""

    def _channels_root(self) -> str:
        version = self.config.api_version
        if version == "v3":
            return "/conversations/v3/custom-channels"
        return f"/conversations/custom-channels/{version}"

    def get_channel(self, channel_id: int | str) -> dict[str, Any]:
        """Read a custom channel (``PublicChannelIntegrationChannel``); a cheap authenticated call.

        :param channel_id: the channel's numeric id.
        """
        channel = validate_channel_id(channel_id)
        return self.request("GET", f"{self._channels_root()}/{channel}")

    def read_message(self, channel_id: int | str, message_id: str) -> Answer:
        """Read one message, including its current ``status`` (``PublicConversationsMessage``), with what the call
        went through.

        Needs scope ``conversations.custom_channels.read``.

        :param channel_id: the channel's numeric id.
        :param message_id: the message id (opaque).
        """
        channel = validate_channel_id(channel_id)
        message = validate_message_id(message_id)
        return self.send("GET", f"{self._channels_root()}/{channel}/messages/{segment(message)}")

    def get_message(self, channel_id: int | str, message_id: str) -> dict[str, Any]:
        """The body of :meth:`read_message`.

        :param channel_id: the channel's numeric id.
        :param message_id: the message id (opaque).
        """
        return self.read_message(channel_id, message_id).body

    def write_status(self, update: StatusUpdate) -> Answer:
        """Report a validated status update; the answer's body is the updated message.

        Needs scope ``conversations.custom_channels.write``. ``Answer.unanswered`` > 0 means the PATCH may have been
        applied more than once (with the same value).

        :param update: from :func:`~airflow_provider_hubspot_channels.validation.build_status_update`.
        """
        return self.send(
            "PATCH",
            f"{self._channels_root()}/{update.channel_id}/messages/{segment(update.message_id)}",
            json=update.body(),
        )

    def update_message_status(
        self,
        channel_id: int | str,
        message_id: str,
        status_type: str,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Report a message's delivery outcome; returns the updated message.

        Needs scope ``conversations.custom_channels.write``. Input is validated before any request.

        :param channel_id: the channel's numeric id.
        :param message_id: the message id (opaque).
        :param status_type: ``SENT``, ``READ`` or ``FAILED`` (any case).
        :param error_message: what agents see for a FAILED message, at most 500 characters.
        """
        return self.write_status(build_status_update(channel_id, message_id, status_type, error_message)).body

    def publish_message(
        self,
        channel_id: int | str,
        *,
        channel_account_id: str,
        text: str,
        senders: Sequence[Mapping[str, Any]],
        recipients: Sequence[Mapping[str, Any]],
        message_direction: str = "INCOMING",
        timestamp: str | None = None,
        rich_text: str | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
        integration_thread_id: str | None = None,
        in_reply_to_id: str | None = None,
        integration_idempotency_id: str | None = None,
    ) -> dict[str, Any]:
        """Publish a message over the channel (``ChannelIntegrationMessageEgg``); returns the created message.

        Needs scope ``conversations.custom_channels.write``.

        :param channel_id: the channel's numeric id.
        :param channel_account_id: the channel account it belongs to.
        :param text: plain text of the message.
        :param senders: participants, each with ``deliveryIdentifier`` ``{type, value}`` and optional ``name``.
        :param recipients: participants like ``senders``.
        :param message_direction: ``INCOMING`` (from a customer) or ``OUTGOING``.
        :param timestamp: ISO 8601 time of the message; now if omitted.
        :param rich_text: optional HTML body.
        :param attachments: HubSpot attachment objects.
        :param integration_thread_id: your thread id, to group messages in one HubSpot thread.
        :param in_reply_to_id: id of the message this one answers.
        :param integration_idempotency_id: your id that makes re-publishing safe; a random one per call if omitted,
            so that the client's own retries never publish twice.
        """
        channel = validate_channel_id(channel_id)
        if not isinstance(channel_account_id, str) or not channel_account_id.strip():
            raise InvalidInputError("channel_account_id", "it is empty", "pass the id of the channel account")
        if not isinstance(text, str):
            raise InvalidInputError("text", f"{text!r} is not a string", "pass the message text")
        direction = message_direction.upper() if isinstance(message_direction, str) else message_direction
        if direction not in ("INCOMING", "OUTGOING"):
            raise InvalidInputError(
                "message_direction", f"{message_direction!r} is unknown", "use INCOMING or OUTGOING"
            )
        for field, people in (("senders", senders), ("recipients", recipients)):
            for i, person in enumerate(people):
                identifier = person.get("deliveryIdentifier") if isinstance(person, Mapping) else None
                if not isinstance(identifier, Mapping) or not identifier.get("type") or not identifier.get("value"):
                    raise InvalidInputError(
                        f"{field}[{i}]",
                        "it has no deliveryIdentifier with type and value",
                        'give {"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+1555..."}}',
                    )
        body: dict[str, Any] = {
            "channelAccountId": channel_account_id,
            "messageDirection": direction,
            "text": text,
            "senders": [dict(p) for p in senders],
            "recipients": [dict(p) for p in recipients],
            "attachments": [dict(a) for a in attachments],
            "timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        optional = {
            "richText": rich_text,
            "integrationThreadId": integration_thread_id,
            "inReplyToId": in_reply_to_id,
            # A POST is retried after a lost answer like every call; the idempotency id makes HubSpot answer the
            # message it already created instead of publishing a duplicate the customer would see.
            "integrationIdempotencyId": integration_idempotency_id or str(uuid.uuid4()),
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return self.request("POST", f"{self._channels_root()}/{channel}/messages", json=body)
