"""Reading a message's current status before a write: one GET per message, or one Inbox listing per thread.

With ``by_thread``, the first record of a thread lists the thread's messages (Conversations Inbox API, newest
first, a few pages at most) and every record of that thread is served from that listing: after an outage the stale
messages of one conversation cluster in one thread, so a backlog averaging 4 messages per thread needs about 1.25
requests per write instead of 2. The trade-off: a served status was read when the thread was listed (at most
``max_age_seconds`` earlier), not just before the write.

Anything the listing cannot answer falls back to the per-message GET: no thread id, a message not in the pages
read (a thread larger than the bound, a wrong thread id), a failed listing; and, for the rest of the run, a token
without ``conversations.read`` (403 MISSING_SCOPES).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from airflow_provider_hubspot_channels.client import (
    Answer,
    HubSpotChannelsClient,
    HubSpotChannelsError,
    HubSpotPermissionError,
)
from airflow_provider_hubspot_channels.validation import validate_channel_id, validate_message_id

log = logging.getLogger(__name__)

#: Pages of 100 read per thread: a longer thread's older messages are read one by one.
DEFAULT_MAX_PAGES = 1
#: Threads whose listing is kept; the least recently used is dropped first.
DEFAULT_MAX_THREADS = 2_000
#: A listing older than this is read again: it bounds how stale a served status can be.
DEFAULT_MAX_AGE_SECONDS = 60.0
#: Listed messages kept at most, over all cached threads (about 1 KB each), whatever the threads' sizes.
MAX_CACHED_MESSAGES = 20_000
#: Fields of a listed message worth keeping: what verify reads, not the text or the participants.
KEPT_FIELDS = ("type", "id", "channelId", "conversationsThreadId", "direction", "status", "createdAt", "updatedAt")


class _Listing:
    """One thread's listed messages, filled once by the first caller while the others wait for it."""

    __slots__ = ("messages", "read_at", "ready", "thread")

    def __init__(self, thread: str, now: float) -> None:
        self.thread = thread
        self.ready = threading.Event()
        self.read_at = now
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}


class StatusLookup:
    """The current message, as verify-before-write needs it, for records of one run.

    Safe to share between the run's worker threads; a thread is listed once even when several ask at once.

    :param client: the run's client.
    :param by_thread: list a record's thread (when it names one) instead of one GET per message.
    :param max_pages: pages of 100 read per thread listing, at least 1.
    :param max_threads: thread listings kept, at least 1.
    :param max_age_seconds: a listing older than this is read again.
    :param max_messages: listed messages kept at most (a run of many accounts has one lookup per account: each
        gets a smaller share).
    """

    def __init__(
        self,
        client: HubSpotChannelsClient,
        *,
        by_thread: bool,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_threads: int = DEFAULT_MAX_THREADS,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        max_messages: int = MAX_CACHED_MESSAGES,
    ) -> None:
        self.client = client
        self.by_thread = by_thread
        self.max_pages = max(1, max_pages)
        self.max_threads = max(1, max_threads)
        self.max_age_seconds = max_age_seconds
        self.max_messages = max(1, max_messages)
        self._lock = threading.Lock()
        self._listings: OrderedDict[str, _Listing] = OrderedDict()
        self._cached = 0
        self._no_inbox_scope = threading.Event()

    @property
    def listing_refused(self) -> bool:
        """Whether HubSpot refused the Inbox listing for a missing scope (every read is a GET from then on)."""
        return self._no_inbox_scope.is_set()

    def read(self, channel_id: int, message_id: str, thread_id: str | None) -> Answer:
        """The message with at least ``id``, ``direction`` and ``status``; ``requests`` is what this call sent (0
        when served from a listing another call already read).

        :param channel_id: the message's channel.
        :param message_id: the message id (opaque).
        :param thread_id: the record's ``conversationsThreadId``, or None.
        :raises HubSpotChannelsError: as :meth:`HubSpotChannelsClient.read_message`, its ``requests`` including a
            failed listing's.
        """
        thread = _thread_key(thread_id) if self.by_thread else None
        if thread is None or self._no_inbox_scope.is_set():
            return self.client.read_message(channel_id, message_id)
        key = (str(validate_channel_id(channel_id)), validate_message_id(message_id))
        listing, owner = self._listing_for(thread)
        spent = self._fill(thread, listing) if owner else None
        if not owner:
            listing.ready.wait()
        message = self._take(listing, key)
        requests, unanswered = (spent.requests, spent.unanswered) if spent else (0, 0)
        if message is not None:
            return Answer(body=message, requests=requests, unanswered=unanswered)
        try:
            answer = self.client.read_message(channel_id, message_id)
        except HubSpotChannelsError as exc:
            exc.requests += requests
            exc.unanswered += unanswered
            raise
        return Answer(body=answer.body, requests=answer.requests + requests, unanswered=answer.unanswered + unanswered)

    def _listing_for(self, thread: str) -> tuple[_Listing, bool]:
        """The thread's listing and whether the caller must fill it (no fresh one is cached)."""
        now = time.monotonic()
        with self._lock:
            listing = self._listings.get(thread)
            if listing is not None and (not listing.ready.is_set() or now - listing.read_at <= self.max_age_seconds):
                self._listings.move_to_end(thread)
                return listing, False
            if listing is not None:
                self._drop(thread)
            listing = _Listing(thread, now)
            self._listings[thread] = listing
            self._evict()
            return listing, True

    def _fill(self, thread: str, listing: _Listing) -> Answer:
        """List the thread into ``listing``; what the listing cost (its messages stay empty when it failed)."""
        try:
            answer = self.client.list_thread_messages(thread, max_pages=self.max_pages)
        except HubSpotPermissionError as exc:
            if exc.category == "MISSING_SCOPES" and not self._no_inbox_scope.is_set():
                self._no_inbox_scope.set()
                log.warning(
                    "HubSpot refused the thread listing (%s): verifying each message with its own GET for the rest "
                    "of this run; grant conversations.read to verify by thread",
                    exc.details.describe(),
                )
            return Answer(body={}, requests=exc.requests, unanswered=exc.unanswered)
        except HubSpotChannelsError as exc:
            log.info("Thread %s could not be listed, its messages are read one by one: %s", thread, exc)
            return Answer(body={}, requests=exc.requests, unanswered=exc.unanswered)
        else:
            self._store(listing, answer.body.get("results", []))
            return answer
        finally:
            listing.read_at = time.monotonic()
            listing.ready.set()  # after the messages are in: waiters read them next

    def _store(self, listing: _Listing, results: list[dict[str, Any]]) -> None:
        messages = {
            (str(entry.get("channelId")), str(entry["id"])): {k: entry[k] for k in KEPT_FIELDS if k in entry}
            for entry in results
            if entry.get("type") == "MESSAGE" and entry.get("id") is not None
        }
        with self._lock:
            listing.messages = messages
            if self._listings.get(listing.thread) is listing:  # not dropped while it was being read
                self._cached += len(messages)
                self._evict()

    def _take(self, listing: _Listing, key: tuple[str, str]) -> dict[str, Any] | None:
        # A served message leaves the cache: it is written next, so its listed status is out of date from then on.
        with self._lock:
            message = listing.messages.pop(key, None)
            if message is not None and self._listings.get(listing.thread) is listing:
                self._cached -= 1
            return message

    def _drop(self, thread: str) -> None:
        listing = self._listings.pop(thread)
        self._cached -= len(listing.messages)

    def _evict(self) -> None:
        while len(self._listings) > self.max_threads or (self._cached > self.max_messages and len(self._listings) > 1):
            self._drop(next(iter(self._listings)))


def _thread_key(thread_id: object) -> str | None:
    """The thread id as listed, or None when the record has none usable (then its message is read by GET: a bad
    optional field must not cost the record its status)."""
    if isinstance(thread_id, bool) or not isinstance(thread_id, (int, str)):
        return None
    text = str(thread_id).strip()
    return text if text.isascii() and text.isdigit() else None
