"""The simulated account's entities: channels, channel accounts, inboxes, threads and messages.

Plain dataclasses with their JSON shapes as HubSpot answers them; the store (:mod:`.state`) owns and locks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .timefmt import iso

DEFAULT_CHANNEL_ID = 1001
DEFAULT_CHANNEL_ACCOUNT_ID = 2001
DEFAULT_INBOX_ID = 3001
DEFAULT_INTEGRATION_APP_ID = 4001
DEFAULT_AGENT_ACTOR = "A-12345"
FIRST_THREAD_ID = 8_100_000_001  # above int32 on purpose

STATUS_TYPES = ("FAILED", "READ", "RECEIVED", "SENT")
PATCHABLE_STATUS_TYPES = ("FAILED", "READ", "SENT")
TERMINAL_STATUS_TYPES = ("READ", "FAILED")
DIRECTIONS = ("INCOMING", "OUTGOING")
DELIVERY_IDENTIFIER_TYPES = ("CHANNEL_SPECIFIC_OPAQUE_ID", "HS_EMAIL_ADDRESS", "HS_PHONE_NUMBER", "HS_SHORT_CODE")


class TransitionRefused(Exception):
    """A PATCH refused in strict mode.

    :param previous: the current status type.
    :param requested: the requested status type.
    """

    def __init__(self, previous: str, requested: str) -> None:
        super().__init__(f"cannot change status from {previous} to {requested}")
        self.previous = previous
        self.requested = requested


@dataclass
class Channel:
    """A custom channel.

    :param id: int32 channel id.
    :param name: display name.
    :param created_at: epoch ms.
    :param webhook_url: where HubSpot would post webhooks.
    :param description: channel description.
    """

    id: int
    name: str
    created_at: int
    webhook_url: str
    description: str

    def to_json(self) -> dict[str, Any]:
        """The channel as ``PublicChannelIntegrationChannel``."""
        return {
            "id": str(self.id),
            "name": self.name,
            "createdAt": iso(self.created_at),
            "webhookUrl": self.webhook_url,
            "channelDescription": self.description,
            "capabilities": {
                "deliveryIdentifierTypes": {},
                "richText": {},
                "allowInlineImages": {},
                "allowOutgoingMessages": {},
            },
        }


@dataclass
class Inbox:
    """A conversations inbox.

    :param id: int32 inbox id.
    :param name: display name.
    :param created_at: epoch ms.
    """

    id: int
    name: str
    created_at: int


@dataclass
class ChannelAccount:
    """An account of a custom channel (e.g. one phone number), bound to an inbox.

    :param id: int64 channel account id.
    :param channel_id: its channel.
    :param inbox_id: the inbox its threads land in.
    :param name: display name.
    :param created_at: epoch ms.
    :param delivery_identifier: ``{"type": ..., "value": ...}`` or None.
    :param authorized: whether the account is authorized.
    :param active: whether it is active.
    :param archived: whether it is archived.
    """

    id: int
    channel_id: int
    inbox_id: int
    name: str
    created_at: int
    delivery_identifier: dict[str, str] | None = None
    authorized: bool = True
    active: bool = True
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        """The account as ``PublicChannelAccount``."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "channelId": str(self.channel_id),
            "inboxId": str(self.inbox_id),
            "name": self.name,
            "createdAt": iso(self.created_at),
            "active": self.active,
            "archived": self.archived,
            "authorized": self.authorized,
        }
        if self.delivery_identifier is not None:
            out["deliveryIdentifier"] = dict(self.delivery_identifier)
        return out


@dataclass
class Message:
    """One entry of a thread: a conversation message (type MESSAGE) or a COMMENT or WELCOME_MESSAGE.

    :param type: ``MESSAGE``, ``COMMENT`` or ``WELCOME_MESSAGE``.
    :param id: opaque message id.
    :param seq: insertion order, breaks ties of equal ``created_at``.
    :param thread_id: its thread.
    :param created_at: epoch ms.
    :param updated_at: epoch ms of the last change.
    :param created_by: actor id.
    :param client: ``PublicClient``.
    :param senders: ``PublicSender`` list.
    :param recipients: ``PublicRecipient`` list.
    :param text: plain text.
    :param rich_text: HTML text or None.
    :param channel_id: channel (MESSAGE, WELCOME_MESSAGE).
    :param channel_account_id: channel account (MESSAGE, WELCOME_MESSAGE).
    :param direction: ``INCOMING`` or ``OUTGOING`` (MESSAGE).
    :param status_type: current status type or None (no ``status`` shown).
    :param error_message: failure text shown with FAILED.
    :param archived: archived flag.
    :param extra: further JSON fields merged into the answer.
    :param history: every status change attempt, oldest first.
    """

    type: str
    id: str
    seq: int
    thread_id: int
    created_at: int
    updated_at: int
    created_by: str
    client: dict[str, Any]
    senders: list[dict[str, Any]]
    recipients: list[dict[str, Any]]
    text: str
    rich_text: str | None = None
    channel_id: int | None = None
    channel_account_id: int | None = None
    direction: str | None = None
    status_type: str | None = None
    error_message: str | None = None
    archived: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The entry as HubSpot answers it (``PublicConversationsMessage``, ``PublicComment`` or
        ``PublicWelcomeMessage``). Nested values are shared with the store: copy before handing out."""
        out: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "conversationsThreadId": str(self.thread_id),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "createdBy": self.created_by,
            "client": self.client,
            "senders": self.senders,
            "recipients": self.recipients,
            "archived": self.archived,
            "text": self.text,
        }
        if self.rich_text is not None or self.type == "COMMENT":
            out["richText"] = self.rich_text if self.rich_text is not None else f"<p>{self.text}</p>"
        if self.type in ("MESSAGE", "COMMENT"):
            out["attachments"] = []
        if self.type == "MESSAGE":
            out["truncationStatus"] = "NOT_TRUNCATED"
            out["direction"] = self.direction
        if self.channel_id is not None:
            out["channelId"] = str(self.channel_id)
            out["channelAccountId"] = str(self.channel_account_id)
        if self.status_type is not None:
            status: dict[str, Any] = {"statusType": self.status_type}
            if self.status_type == "FAILED":
                details: dict[str, Any] = {"errorMessageTokens": {}}
                if self.error_message is not None:
                    details["errorMessage"] = self.error_message
                status["failureDetails"] = details
            out["status"] = status
        if self.extra:
            out.update(self.extra)
        return out


@dataclass
class Thread:
    """A conversation thread.

    :param id: int64 thread id.
    :param inbox_id: its inbox.
    :param channel_id: original channel.
    :param channel_account_id: original channel account.
    :param contact_id: associated contact id.
    :param counterpart: the customer's delivery identifier value (phone number, ...), or None.
    :param created_at: epoch ms.
    :param status: ``OPEN`` or ``CLOSED``.
    :param archived: archived flag.
    :param spam: spam flag.
    :param closed_at: epoch ms when closed.
    :param latest_sent: epoch ms of the latest OUTGOING message.
    :param latest_received: epoch ms of the latest INCOMING message.
    :param items: the thread's entries in insertion order.
    """

    id: int
    inbox_id: int
    channel_id: int
    channel_account_id: int
    contact_id: str
    counterpart: str | None
    created_at: int
    status: str = "OPEN"
    archived: bool = False
    spam: bool = False
    closed_at: int | None = None
    latest_sent: int | None = None
    latest_received: int | None = None
    items: list[Message] = field(default_factory=list)

    @property
    def latest(self) -> int:
        """Epoch ms of the latest conversation message (``created_at`` when there is none)."""
        stamps = [s for s in (self.latest_sent, self.latest_received) if s is not None]
        return max(stamps) if stamps else self.created_at

    @property
    def visitor_actor(self) -> str:
        """Actor id of the customer."""
        return f"V-{self.contact_id}"

    def to_json(self) -> dict[str, Any]:
        """The thread as ``PublicThread``."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "inboxId": str(self.inbox_id),
            "originalChannelId": str(self.channel_id),
            "originalChannelAccountId": str(self.channel_account_id),
            "associatedContactId": self.contact_id,
            "createdAt": iso(self.created_at),
            "status": self.status,
            "archived": self.archived,
            "spam": self.spam,
            "latestMessageTimestamp": iso(self.latest),
        }
        if self.latest_sent is not None:
            out["latestMessageSentTimestamp"] = iso(self.latest_sent)
        if self.latest_received is not None:
            out["latestMessageReceivedTimestamp"] = iso(self.latest_received)
        if self.closed_at is not None:
            out["closedAt"] = iso(self.closed_at)
        return out
