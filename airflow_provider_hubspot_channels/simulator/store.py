"""The base of the simulated account's store: its collections, lock and id counters, the API's write operations
(status updates, publishing) and the internals that keep threads, messages and their histories consistent.
:class:`.state.SimulatorState` adds seeding and listing on top.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .entities import (
    DEFAULT_CHANNEL_ACCOUNT_ID,
    DEFAULT_CHANNEL_ID,
    DEFAULT_INBOX_ID,
    DEFAULT_INTEGRATION_APP_ID,
    FIRST_THREAD_ID,
    TERMINAL_STATUS_TYPES,
    Channel,
    ChannelAccount,
    Inbox,
    Message,
    Thread,
    TransitionRefused,
)
from .timefmt import iso, now_ms, to_ms


def when(value: datetime | str | None) -> int:
    """Epoch ms of a seeding time; now when None.

    :param value: aware datetime or ISO 8601 text, or None.
    """
    return now_ms() if value is None else to_ms(value)


def check_int32(value: int, name: str) -> None:
    """Refuse an id that does not fit the API's int32 path parameter.

    :param value: the id.
    :param name: its name, for the error.
    :raises ValueError: out of range.
    """
    if not -(2**31) <= value < 2**31:
        raise ValueError(f"{name} must fit in int32, got {value}")


class SimulatorStore:
    """The collections of one simulated account, guarded by one re-entrant lock (:attr:`lock`).

    :param seed: seed of generated ids and phone numbers.
    :param strict_transitions: refuse changes to messages whose status is READ or FAILED.
    :param integration_app_id: id of the integration app (``client.integrationAppId``).
    :param first_thread_id: the first generated thread id (HubSpot's thread ids are unique across accounts, so
        each account of the simulator starts its own range).
    """

    def __init__(
        self,
        *,
        seed: int | str = 0,
        strict_transitions: bool = False,
        integration_app_id: int = DEFAULT_INTEGRATION_APP_ID,
        first_thread_id: int = FIRST_THREAD_ID,
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
        self._next_thread = first_thread_id
        self._next_contact = 9001
        self._seq = 0

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

    # ------------------------------------------------------------------------------- API write operations

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
