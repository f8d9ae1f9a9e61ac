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

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .entities import (
    DEFAULT_AGENT_ACTOR,
    DEFAULT_CHANNEL_ACCOUNT_ID,
    DEFAULT_CHANNEL_ID,
    DEFAULT_INBOX_ID,
    DEFAULT_INTEGRATION_APP_ID,
    DELIVERY_IDENTIFIER_TYPES,
    DIRECTIONS,
    FIRST_THREAD_ID,
    PATCHABLE_STATUS_TYPES,
    STATUS_TYPES,
    TERMINAL_STATUS_TYPES,
    Channel,
    ChannelAccount,
    Inbox,
    Message,
    Thread,
    TransitionRefused,
)
from .listing import decode_cursor, encode_cursor, page_thread_messages, page_threads
from .store import SimulatorStore, check_int32, when
from .timefmt import iso

__all__ = [
    "DEFAULT_AGENT_ACTOR",
    "DEFAULT_CHANNEL_ACCOUNT_ID",
    "DEFAULT_CHANNEL_ID",
    "DEFAULT_INBOX_ID",
    "DEFAULT_INTEGRATION_APP_ID",
    "DELIVERY_IDENTIFIER_TYPES",
    "DIRECTIONS",
    "FIRST_THREAD_ID",
    "PATCHABLE_STATUS_TYPES",
    "STATUS_TYPES",
    "TERMINAL_STATUS_TYPES",
    "Channel",
    "ChannelAccount",
    "Inbox",
    "Message",
    "SimulatorState",
    "Thread",
    "TransitionRefused",
    "decode_cursor",
    "encode_cursor",
]


class SimulatorState(SimulatorStore):
    """The in-memory store of the simulated account: seeding and the operations the API performs.

    :param seed: seed of generated ids and phone numbers.
    :param strict_transitions: refuse changes to messages whose status is READ or FAILED.
    :param integration_app_id: id of the integration app (``client.integrationAppId``).
    :param first_thread_id: the first generated thread id (HubSpot's thread ids are unique across accounts, so
        each account of the simulator starts its own range).
    """

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
            check_int32(inbox_id, "inbox_id")
            inbox = Inbox(inbox_id, name, when(created_at))
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
            check_int32(channel_id, "channel_id")
            channel = Channel(channel_id, name, when(created_at), webhook_url, description)
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
            account = ChannelAccount(account_id, channel_id, inbox_id, name, when(created_at), ident, authorized)
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
            thread = self._new_thread(account, recipient or self._phone(), when(created_at), thread_id)
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
            created = when(created_at)
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
            created = when(created_at)
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
            created = when(created_at)
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

    # ------------------------------------------------------------------------------------- API operations

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
        with self.lock:
            return page_threads(
                self.threads.values(),
                inbox_id=inbox_id,
                contact_id=contact_id,
                sort=sort,
                latest_after=latest_after,
                limit=limit,
                after=after,
                archived=archived,
                thread_status=thread_status,
            )

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
        with self.lock:
            return page_thread_messages(thread, limit=limit, after=after, ascending=ascending, archived=archived)
