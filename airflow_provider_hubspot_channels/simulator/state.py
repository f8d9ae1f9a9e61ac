"""The simulated HubSpot account: channels, channel accounts, inboxes, threads and messages, in memory.

Everything is guarded by one re-entrant lock (:attr:`SimulatorState.lock`); the HTTP layer holds it while it reads
state and encodes the answer, so an answer is always a consistent snapshot.

Assumptions where HubSpot is silent:

* The status of a new OUTGOING message before the integrator reports is undocumented; ``add_message`` omits
  ``status`` unless one is given.
* HubSpot documents no status transition rules. By default every PATCH is accepted and recorded. With
  ``strict_transitions`` a PATCH that would change a message whose status is READ or FAILED is refused with 400
  ``VALIDATION_ERROR`` / ``INVALID_STATUS_TRANSITION``; repeating the current status (same ``errorMessage`` for
  FAILED) is accepted as a no-op so that a retried request stays harmless.
* ``errorMessage`` is kept only with FAILED (HubSpot shows it at ``status.failureDetails.errorMessage``); with
  SENT or READ it is accepted and dropped.
* Thread ids are int64 (they start above 2**31 on purpose, to catch clients that store them as int32); channel ids
  are int32; message ids are opaque strings.
* A thread's ``latestMessageTimestamp`` counts conversation messages (type MESSAGE) only, not comments.
* ``POST .../messages`` with an ``integrationIdempotencyId`` seen before answers the existing message (201).
"""

from __future__ import annotations

import base64
import copy
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .timefmt import iso, now_ms, to_ms

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


def encode_cursor(*parts: int) -> str:
    """An opaque paging cursor for a sort key.

    :param parts: the sort key of the last item of a page.
    """
    raw = ".".join(str(p) for p in parts).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str, size: int) -> tuple[int, ...]:
    """Decode :func:`encode_cursor`.

    :param text: the cursor.
    :param size: the expected number of parts.
    :raises ValueError: not a cursor of this size.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        parts = tuple(int(p) for p in raw.split("."))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid paging cursor {text!r}") from exc
    if len(parts) != size:
        raise ValueError(f"invalid paging cursor {text!r}")
    return parts


def _when(value: datetime | str | None) -> int:
    return now_ms() if value is None else to_ms(value)


class SimulatorState:
    """The in-memory store of the simulated account.

    :param seed: seed of generated ids and phone numbers.
    :param strict_transitions: refuse changes to messages whose status is READ or FAILED.
    :param integration_app_id: id of the integration app (``client.integrationAppId``).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        strict_transitions: bool = False,
        integration_app_id: int = DEFAULT_INTEGRATION_APP_ID,
    ) -> None:
        self.lock = threading.RLock()
        self.strict_transitions = strict_transitions
        self.integration_app_id = integration_app_id
        self._rng = random.Random(seed)
        self.channels: dict[int, Channel] = {}
        self.inboxes: dict[int, Inbox] = {}
        self.accounts: dict[int, ChannelAccount] = {}
        self.threads: dict[int, Thread] = {}
        self.messages: dict[tuple[int, str], Message] = {}
        self._thread_by_counterpart: dict[tuple[int, str], int] = {}
        self._idempotency: dict[tuple[int, str], str] = {}
        self._next_channel = DEFAULT_CHANNEL_ID
        self._next_inbox = DEFAULT_INBOX_ID
        self._next_account = DEFAULT_CHANNEL_ACCOUNT_ID
        self._next_thread = FIRST_THREAD_ID
        self._next_contact = 9001
        self._seq = 0

    # ----------------------------------------------------------------------------------------------- seeding

    def seed_defaults(self) -> None:
        """Create channel 1001 with channel account 2001 in inbox 3001, unless they exist."""
        with self.lock:
            if DEFAULT_INBOX_ID not in self.inboxes:
                self.add_inbox(DEFAULT_INBOX_ID)
            if DEFAULT_CHANNEL_ID not in self.channels:
                self.add_channel(DEFAULT_CHANNEL_ID)
            if DEFAULT_CHANNEL_ACCOUNT_ID not in self.accounts:
                self.add_channel_account(DEFAULT_CHANNEL_ID, DEFAULT_CHANNEL_ACCOUNT_ID, inbox_id=DEFAULT_INBOX_ID)

    def add_inbox(
        self, inbox_id: int | None = None, *, name: str = "Support", created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add an inbox.

        :param inbox_id: int32 id; the next free id when None.
        :param name: display name.
        :param created_at: creation time; now when None.
        :returns: ``{"id", "name", "createdAt"}``.
        """
        with self.lock:
            inbox_id = self._take_id(inbox_id, self.inboxes, "_next_inbox")
            _check_int32(inbox_id, "inbox_id")
            inbox = Inbox(inbox_id, name, _when(created_at))
            self.inboxes[inbox_id] = inbox
            return {"id": str(inbox.id), "name": inbox.name, "createdAt": iso(inbox.created_at)}

    def add_channel(
        self,
        channel_id: int | None = None,
        *,
        name: str = "Simulated SMS",
        webhook_url: str = "https://integrator.example/hubspot/webhook",
        description: str = "Custom channel served by the HubSpot simulator",
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a custom channel.

        :param channel_id: int32 id; the next free id when None.
        :param name: display name.
        :param webhook_url: the channel's webhook URL.
        :param description: channel description.
        :param created_at: creation time; now when None.
        :returns: the channel as the API answers it.
        """
        with self.lock:
            channel_id = self._take_id(channel_id, self.channels, "_next_channel")
            _check_int32(channel_id, "channel_id")
            channel = Channel(channel_id, name, _when(created_at), webhook_url, description)
            self.channels[channel_id] = channel
            return channel.to_json()

    def add_channel_account(
        self,
        channel_id: int,
        channel_account_id: int | None = None,
        *,
        inbox_id: int | None = None,
        name: str = "Support line",
        delivery_identifier: Mapping[str, str] | None = None,
        authorized: bool = True,
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a channel account.

        :param channel_id: an existing channel.
        :param channel_account_id: int64 id; the next free id when None.
        :param inbox_id: an existing inbox; the first inbox (created if none) when None.
        :param name: display name.
        :param delivery_identifier: ``{"type", "value"}``; a generated phone number when None.
        :param authorized: authorized flag.
        :param created_at: creation time; now when None.
        :returns: the account as the API answers it.
        """
        with self.lock:
            if channel_id not in self.channels:
                raise KeyError(f"unknown channel {channel_id}")
            if inbox_id is None:
                inbox_id = min(self.inboxes) if self.inboxes else int(self.add_inbox()["id"])
            if inbox_id not in self.inboxes:
                raise KeyError(f"unknown inbox {inbox_id}")
            account_id = self._take_id(channel_account_id, self.accounts, "_next_account")
            ident = (
                dict(delivery_identifier)
                if delivery_identifier is not None
                else {"type": "HS_PHONE_NUMBER", "value": f"+1555010{account_id % 10000:04d}"}
            )
            account = ChannelAccount(account_id, channel_id, inbox_id, name, _when(created_at), ident, authorized)
            self.accounts[account_id] = account
            return account.to_json()

    def add_thread(
        self,
        channel_id: int,
        thread_id: int | None = None,
        *,
        channel_account_id: int | None = None,
        recipient: str | None = None,
        status: str = "OPEN",
        archived: bool = False,
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a thread in the inbox of a channel account.

        :param channel_id: an existing channel.
        :param thread_id: int64 id; the next free id when None.
        :param channel_account_id: an account of the channel; its first account when None.
        :param recipient: the customer's delivery identifier value (e.g. a phone number); generated when None.
        :param status: ``OPEN`` or ``CLOSED``.
        :param archived: archived flag.
        :param created_at: creation time; now when None.
        :returns: the thread as the Inbox API answers it.
        """
        with self.lock:
            account = self._account_for(channel_id, channel_account_id)
            if status not in ("OPEN", "CLOSED"):
                raise ValueError("status must be OPEN or CLOSED")
            thread = self._new_thread(account, recipient or self._phone(), _when(created_at), thread_id)
            thread.status = status
            thread.archived = archived
            if status == "CLOSED":
                thread.closed_at = thread.created_at
            return thread.to_json()

    def add_message(
        self,
        channel_id: int,
        message_id: str | None = None,
        direction: str = "OUTGOING",
        created_at: datetime | str | None = None,
        status_type: str | None = None,
        *,
        text: str | None = None,
        recipient: str | None = None,
        thread_id: int | None = None,
        channel_account_id: int | None = None,
        error_message: str | None = None,
        archived: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add a conversation message (type MESSAGE) as if it had been sent or received through the channel.

        The message lands in ``thread_id``, or in the open thread of ``recipient`` on the account, which is
        created when missing (so every message is also visible through the Inbox API).

        :param channel_id: an existing channel.
        :param message_id: opaque id, unique within the channel; generated when None.
        :param direction: ``OUTGOING`` (agent to customer) or ``INCOMING``.
        :param created_at: creation time; now when None.
        :param status_type: initial status (``SENT``, ``READ``, ``FAILED``, ``RECEIVED``) or None for no status.
        :param text: message text; generated when None.
        :param recipient: the customer's phone number (or other identifier value); generated when None.
        :param thread_id: an existing thread to add to.
        :param channel_account_id: an account of the channel; its first account when None.
        :param error_message: failure text for a FAILED initial status.
        :param archived: archived flag.
        :param extra: further JSON fields of the answer (e.g. ``richText``, ``subject``).
        :returns: the message as ``GET .../messages/{messageId}`` answers it.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        if status_type is not None and status_type not in STATUS_TYPES:
            raise ValueError(f"status_type must be one of {STATUS_TYPES} or None")
        with self.lock:
            thread: Thread | None = None
            if thread_id is not None:
                thread = self._thread(thread_id)
                if thread.channel_id != channel_id:
                    raise ValueError(f"thread {thread_id} belongs to channel {thread.channel_id}")
                account = self.accounts[thread.channel_account_id]
            else:
                account = self._account_for(channel_id, channel_account_id)
            if message_id is None:
                message_id = self._hex_id()
            if (channel_id, message_id) in self.messages:
                raise ValueError(f"message {message_id!r} already exists in channel {channel_id}")
            created = _when(created_at)
            if thread is None:
                thread = self._thread_for(account, recipient or self._phone(), created)
            customer = {"type": "HS_PHONE_NUMBER", "value": thread.counterpart or self._phone()}
            ours = account.delivery_identifier or {"type": "CHANNEL_SPECIFIC_OPAQUE_ID", "value": str(account.id)}
            if direction == "OUTGOING":
                created_by = DEFAULT_AGENT_ACTOR
                client: dict[str, Any] = {"clientType": "HUBSPOT"}
                senders = [
                    {
                        "actorId": DEFAULT_AGENT_ACTOR,
                        "name": "Alex Agent",
                        "senderField": "FROM",
                        "deliveryIdentifier": dict(ours),
                    }
                ]
                recipients = [{"actorId": thread.visitor_actor, "recipientField": "TO", "deliveryIdentifier": customer}]
                body = (
                    text if text is not None else f"Hello, your order #{self._rng.randrange(10000, 99999)} has shipped."
                )
            else:
                created_by = thread.visitor_actor
                client = {"clientType": "INTEGRATION", "integrationAppId": self.integration_app_id}
                senders = [{"actorId": thread.visitor_actor, "senderField": "FROM", "deliveryIdentifier": customer}]
                recipients = [{"recipientField": "TO", "deliveryIdentifier": dict(ours)}]
                body = text if text is not None else "Thanks! When will it arrive?"
            message = self._append(
                thread,
                Message(
                    type="MESSAGE",
                    id=message_id,
                    seq=0,
                    thread_id=thread.id,
                    created_at=created,
                    updated_at=created,
                    created_by=created_by,
                    client=client,
                    senders=senders,
                    recipients=recipients,
                    text=body,
                    channel_id=channel_id,
                    channel_account_id=account.id,
                    direction=direction,
                    status_type=status_type,
                    error_message=error_message if status_type == "FAILED" else None,
                    archived=archived,
                    extra=dict(extra),
                ),
            )
            if status_type is not None:
                self._record(message, status_type, message.error_message, None, "seed", True)
            return copy.deepcopy(message.to_json())

    def add_comment(
        self,
        thread_id: int,
        *,
        text: str = "Internal note: customer asked twice.",
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add an agent's internal COMMENT to a thread.

        :param thread_id: an existing thread.
        :param text: comment text.
        :param created_at: creation time; now when None.
        :returns: the comment as the Inbox API answers it.
        """
        with self.lock:
            thread = self._thread(thread_id)
            created = _when(created_at)
            comment = Message(
                type="COMMENT",
                id=self._hex_id(),
                seq=0,
                thread_id=thread.id,
                created_at=created,
                updated_at=created,
                created_by=DEFAULT_AGENT_ACTOR,
                client={"clientType": "HUBSPOT"},
                senders=[{"actorId": DEFAULT_AGENT_ACTOR, "name": "Alex Agent"}],
                recipients=[],
                text=text,
                rich_text=f"<p>{text}</p>",
            )
            return copy.deepcopy(self._append(thread, comment).to_json())

    def add_welcome_message(
        self, thread_id: int, *, text: str = "Hi! How can we help?", created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add a WELCOME_MESSAGE to a thread.

        :param thread_id: an existing thread.
        :param text: message text.
        :param created_at: creation time; now when None.
        :returns: the entry as the Inbox API answers it.
        """
        with self.lock:
            thread = self._thread(thread_id)
            created = _when(created_at)
            welcome = Message(
                type="WELCOME_MESSAGE",
                id=self._hex_id(),
                seq=0,
                thread_id=thread.id,
                created_at=created,
                updated_at=created,
                created_by="S-hubspot",
                client={"clientType": "SYSTEM"},
                senders=[],
                recipients=[
                    {
                        "actorId": thread.visitor_actor,
                        "recipientField": "TO",
                        "deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": thread.counterpart or ""},
                    }
                ],
                text=text,
                channel_id=thread.channel_id,
                channel_account_id=thread.channel_account_id,
            )
            return copy.deepcopy(self._append(thread, welcome).to_json())

    # ------------------------------------------------------------------------------------------- inspection

    def get_message(self, channel_id: int, message_id: str) -> dict[str, Any] | None:
        """A message as the API answers it, or None.

        :param channel_id: the channel.
        :param message_id: the message id.
        """
        with self.lock:
            message = self.messages.get((channel_id, message_id))
            return None if message is None else copy.deepcopy(message.to_json())

    def status_history(self, channel_id: int, message_id: str) -> list[dict[str, Any]]:
        """Every status change attempt of a message, oldest first.

        Entries: ``time`` (ISO), ``statusType``, ``errorMessage``, ``previousStatusType``, ``accepted`` (False for
        PATCHes refused in strict mode), ``source`` (``seed`` or ``api``).

        :param channel_id: the channel.
        :param message_id: the message id.
        :raises KeyError: unknown message.
        """
        with self.lock:
            return copy.deepcopy(self.messages[(channel_id, message_id)].history)

    def get_thread(self, thread_id: int) -> dict[str, Any] | None:
        """A thread as the Inbox API answers it, or None.

        :param thread_id: the thread id.
        """
        with self.lock:
            thread = self.threads.get(thread_id)
            return None if thread is None else thread.to_json()

    def list_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """All conversation messages (type MESSAGE), optionally of one channel, in insertion order.

        :param channel_id: the channel, or None for all.
        """
        with self.lock:
            return [
                copy.deepcopy(m.to_json())
                for m in sorted(self.messages.values(), key=lambda m: m.seq)
                if channel_id is None or m.channel_id == channel_id
            ]

    # ------------------------------------------------------------------------------------- API operations

    def find_message(self, channel_id: int, message_id: str) -> Message | None:
        """The stored message, for the API layer (hold :attr:`lock`).

        :param channel_id: the channel.
        :param message_id: the message id.
        """
        return self.messages.get((channel_id, message_id))

    def patch_status(self, message: Message, status_type: str, error_message: str | None, source: str = "api") -> None:
        """Apply a status update, recording it.

        :param message: the stored message.
        :param status_type: ``SENT``, ``READ`` or ``FAILED``.
        :param error_message: failure text (kept with FAILED only).
        :param source: who changed it, for the history.
        :raises TransitionRefused: strict mode and the message is READ or FAILED already.
        """
        with self.lock:
            previous = message.status_type
            kept_error = error_message if status_type == "FAILED" else None
            if self.strict_transitions and previous in TERMINAL_STATUS_TYPES:
                repeat = status_type == previous and (
                    status_type != "FAILED" or kept_error is None or kept_error == message.error_message
                )
                if not repeat:
                    self._record(message, status_type, kept_error, previous, source, False)
                    raise TransitionRefused(previous, status_type)
                self._record(message, status_type, message.error_message, previous, source, True)
                return
            message.status_type = status_type
            message.error_message = kept_error
            message.updated_at = max(now_ms(), message.created_at)
            self._record(message, status_type, kept_error, previous, source, True)

    def publish(
        self,
        channel_id: int,
        account: ChannelAccount,
        *,
        direction: str,
        text: str,
        rich_text: str | None,
        timestamp: int,
        senders: list[dict[str, Any]],
        recipients: list[dict[str, Any]],
        integration_thread_id: str | None,
        idempotency_id: str | None,
    ) -> Message:
        """Store a message published by the integration (``POST .../messages``); inputs already validated.

        :param channel_id: the channel.
        :param account: the channel account it goes through.
        :param direction: ``INCOMING`` or ``OUTGOING``.
        :param text: text.
        :param rich_text: HTML text or None.
        :param timestamp: epoch ms.
        :param senders: ``ChannelIntegrationParticipant`` list.
        :param recipients: ``ChannelIntegrationParticipant`` list.
        :param integration_thread_id: the integrator's thread key, or None.
        :param idempotency_id: the integrator's idempotency key, or None.
        """
        with self.lock:
            if idempotency_id is not None:
                existing = self._idempotency.get((channel_id, idempotency_id))
                if existing is not None:
                    return self.messages[(channel_id, existing)]
            customers = senders if direction == "INCOMING" else recipients
            counterpart = str(customers[0]["deliveryIdentifier"]["value"]) if customers else self._phone()
            key = f"itid:{integration_thread_id}" if integration_thread_id is not None else counterpart
            thread = self._thread_for(account, key, timestamp, counterpart=counterpart)

            def public(participant: Mapping[str, Any], field_name: str, value: str) -> dict[str, Any]:
                out: dict[str, Any] = {"deliveryIdentifier": dict(participant["deliveryIdentifier"]), field_name: value}
                if participant.get("name") is not None:
                    out["name"] = participant["name"]
                if participant.get("senderActorId") is not None:
                    out["actorId"] = participant["senderActorId"]
                return out

            message = Message(
                type="MESSAGE",
                id=self._hex_id(),
                seq=0,
                thread_id=thread.id,
                created_at=timestamp,
                updated_at=max(timestamp, now_ms()),
                created_by=thread.visitor_actor if direction == "INCOMING" else f"I-{self.integration_app_id}",
                client={"clientType": "INTEGRATION", "integrationAppId": self.integration_app_id},
                senders=[public(p, "senderField", "FROM") for p in senders],
                recipients=[public(p, "recipientField", "TO") for p in recipients],
                text=text,
                rich_text=rich_text,
                channel_id=channel_id,
                channel_account_id=account.id,
                direction=direction,
            )
            self._append(thread, message)
            if idempotency_id is not None:
                self._idempotency[(channel_id, idempotency_id)] = message.id
            return message

    def list_threads(
        self,
        *,
        inbox_id: int | None,
        contact_id: str | None = None,
        sort: str,
        latest_after: int | None,
        limit: int,
        after: str | None,
        archived: bool,
        thread_status: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of threads, ascending by ``id`` or by ``latestMessageTimestamp`` (then id).

        :param inbox_id: only this inbox, or all.
        :param contact_id: only threads of this associated contact, or all.
        :param sort: ``id`` or ``latestMessageTimestamp``.
        :param latest_after: only threads whose latest message is at or after this epoch ms.
        :param limit: page size.
        :param after: cursor from a previous page.
        :param archived: archived threads only (True) or non-archived only (False).
        :param thread_status: ``OPEN``, ``CLOSED`` or None for both.
        :raises ValueError: invalid cursor.
        :returns: the page and the cursor of the next page (None on the last page).
        """
        by_latest = sort == "latestMessageTimestamp"
        size = 2 if by_latest else 1
        start = decode_cursor(after, size) if after else None
        with self.lock:
            keyed = []
            for thread in self.threads.values():
                if inbox_id is not None and thread.inbox_id != inbox_id:
                    continue
                if contact_id is not None and thread.contact_id != contact_id:
                    continue
                if thread.archived != archived:
                    continue
                if thread_status is not None and thread.status != thread_status:
                    continue
                latest = thread.latest
                if latest_after is not None and latest < latest_after:
                    continue
                key = (latest, thread.id) if by_latest else (thread.id,)
                if start is not None and key <= start:
                    continue
                keyed.append((key, thread))
            keyed.sort(key=lambda pair: pair[0])
            page = keyed[:limit]
            results = [t.to_json() for _, t in page]
            next_after = encode_cursor(*page[-1][0]) if len(keyed) > limit else None
            return results, next_after

    def list_thread_messages(
        self, thread: Thread, *, limit: int, after: str | None, ascending: bool, archived: bool | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a thread's entries by ``createdAt`` (newest first unless ``ascending``).

        :param thread: the thread.
        :param limit: page size.
        :param after: cursor from a previous page.
        :param ascending: oldest first.
        :param archived: only archived (True) or non-archived (False) entries, or all (None).
        :raises ValueError: invalid cursor.
        :returns: the page and the cursor of the next page (None on the last page).
        """
        start = decode_cursor(after, 2) if after else None
        with self.lock:
            keyed = [((m.created_at, m.seq), m) for m in thread.items if archived is None or m.archived == archived]
            keyed.sort(key=lambda pair: pair[0], reverse=not ascending)
            if start is not None:
                keyed = [p for p in keyed if (p[0] > start if ascending else p[0] < start)]
            page = keyed[:limit]
            results = [m.to_json() for _, m in page]
            next_after = encode_cursor(*page[-1][0]) if len(keyed) > limit else None
            return results, next_after

    # ------------------------------------------------------------------------------------------- internals

    def _take_id(self, wanted: int | None, taken: Mapping[int, Any], counter: str) -> int:
        if wanted is not None:
            if wanted in taken:
                raise ValueError(f"id {wanted} already exists")
            return wanted
        candidate: int = getattr(self, counter)
        while candidate in taken:
            candidate += 1
        setattr(self, counter, candidate + 1)
        return candidate

    def _account_for(self, channel_id: int, channel_account_id: int | None) -> ChannelAccount:
        if channel_id not in self.channels:
            raise KeyError(f"unknown channel {channel_id}")
        if channel_account_id is not None:
            account = self.accounts.get(channel_account_id)
            if account is None or account.channel_id != channel_id:
                raise KeyError(f"channel {channel_id} has no account {channel_account_id}")
            return account
        for account in self.accounts.values():
            if account.channel_id == channel_id:
                return account
        return self.accounts[int(self.add_channel_account(channel_id)["id"])]

    def _thread(self, thread_id: int) -> Thread:
        thread = self.threads.get(thread_id)
        if thread is None:
            raise KeyError(f"unknown thread {thread_id}")
        return thread

    def _new_thread(
        self, account: ChannelAccount, counterpart: str, created_at: int, thread_id: int | None = None
    ) -> Thread:
        thread_id = self._take_id(thread_id, self.threads, "_next_thread")
        contact_id = str(self._next_contact)
        self._next_contact += 1
        thread = Thread(
            thread_id, account.inbox_id, account.channel_id, account.id, contact_id, counterpart, created_at
        )
        self.threads[thread_id] = thread
        self._thread_by_counterpart[(account.id, counterpart)] = thread_id
        return thread

    def _thread_for(self, account: ChannelAccount, key: str, created_at: int, counterpart: str | None = None) -> Thread:
        thread_id = self._thread_by_counterpart.get((account.id, key))
        thread = self.threads.get(thread_id) if thread_id is not None else None
        if thread is None or thread.status != "OPEN" or thread.archived:
            thread = self._new_thread(account, counterpart or key, created_at)
            self._thread_by_counterpart[(account.id, key)] = thread.id
        thread.created_at = min(thread.created_at, created_at)
        return thread

    def _append(self, thread: Thread, message: Message) -> Message:
        self._seq += 1
        message.seq = self._seq
        thread.items.append(message)
        if message.type == "MESSAGE":
            assert message.channel_id is not None
            self.messages[(message.channel_id, message.id)] = message
            # Not max(latest or 0, ...): 0 is 1970, and that clamped every earlier time to 1970.
            created = message.created_at
            if message.direction == "OUTGOING":
                thread.latest_sent = created if thread.latest_sent is None else max(thread.latest_sent, created)
            else:
                thread.latest_received = (
                    created if thread.latest_received is None else max(thread.latest_received, created)
                )
        return message

    def _record(
        self,
        message: Message,
        status_type: str,
        error_message: str | None,
        previous: str | None,
        source: str,
        accepted: bool,
    ) -> None:
        message.history.append(
            {
                "time": iso(now_ms()),
                "statusType": status_type,
                "errorMessage": error_message,
                "previousStatusType": previous,
                "accepted": accepted,
                "source": source,
            }
        )

    def _hex_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _phone(self) -> str:
        return f"+1555{self._rng.randrange(0, 10_000_000):07d}"


def _check_int32(value: int, name: str) -> None:
    if not -(2**31) <= value < 2**31:
        raise ValueError(f"{name} must fit in int32, got {value}")
