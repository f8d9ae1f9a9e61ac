"""Typed calls of HubSpot's Conversations Inbox API: threads and their messages, with bounded cursor paging."""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterator, Mapping
from typing import Any

from airflow_provider_hubspot_channels.client.calls import Answer, ApiCalls
from airflow_provider_hubspot_channels.client.errors import (
    HubSpotChannelsError,
    HubSpotPaginationError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.validation import validate_channel_id

#: HubSpot does not document the page-size maximum of the Inbox API; 100 is known to work.
MAX_PAGE_SIZE = 100
#: Cursor paging stops with :class:`HubSpotPaginationError` after this many pages of one listing, and after this
#: many empty pages in a row that still name a next cursor: a server fault must not page forever.
MAX_PAGES = 10_000
MAX_EMPTY_PAGES = 10


class InboxApi(ApiCalls):
    """The Inbox calls of :class:`~airflow_provider_hubspot_channels.client.client.HubSpotChannelsClient`."""

    def _inbox_root(self) -> str:
        version = self.config.inbox_api_version
        if version == "v3":
            return "/conversations/v3/conversations"
        return f"/conversations/conversations/{version}"

    def iter_threads(
        self,
        *,
        inbox_id: int | str,
        latest_message_timestamp_after: str,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Threads of one inbox with a message after a time, oldest activity first, following cursor pages.

        Needs scope ``conversations.read``.

        :param inbox_id: the inbox (HubSpot accepts one per query).
        :param latest_message_timestamp_after: ISO 8601 time; threads with activity after it.
        :param page_size: results per page, 1..100.
        """
        inbox = validate_channel_id(inbox_id, field="inbox_id")
        params = {
            "inboxId": inbox,
            "sort": "latestMessageTimestamp",
            "latestMessageTimestampAfter": latest_message_timestamp_after,
            "limit": _page_size(page_size),
        }
        yield from self._paged(f"{self._inbox_root()}/threads", params)

    def iter_thread_messages(self, thread_id: int | str, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every entry of a thread (messages, comments, ...), oldest first, following cursor pages.

        Needs scope ``conversations.read``.

        :param thread_id: the thread's id.
        :param page_size: results per page, 1..100.
        """
        params = {"sort": "createdAt", "limit": _page_size(page_size)}
        for page in self._pages(self._thread_messages_path(thread_id), params):
            yield from _page_items(page.body)

    def list_thread_messages(self, thread_id: int | str, *, max_pages: int) -> Answer:
        """A thread's entries (messages, comments, ...), newest first, at most ``max_pages`` pages of 100, with the
        requests all pages cost.

        Needs scope ``conversations.read``. Newest first because the messages a reconciliation asks about are the
        recent ones. An error raised on a later page carries the requests of the pages before it too.

        :param thread_id: the thread's id.
        :param max_pages: pages to read at most.
        :returns: ``body = {"results": [...]}``, plus HubSpot's ``paging`` (with ``next``) when the thread has more
            than ``max_pages`` pages.
        """
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise InvalidInputError("max_pages", f"{max_pages!r} is not a positive integer", "pass 1 or more")
        path = self._thread_messages_path(thread_id)
        results: list[dict[str, Any]] = []
        requests_sent = unanswered = 0
        body: dict[str, Any] = {}
        pages = self._pages(path, {"limit": MAX_PAGE_SIZE})
        try:
            for number, page in enumerate(pages, 1):
                requests_sent += page.requests
                unanswered += page.unanswered
                results.extend(_page_items(page.body))
                if number >= max_pages:
                    body = page.body
                    break
        except HubSpotChannelsError as exc:
            exc.requests += requests_sent
            exc.unanswered += unanswered
            raise
        finally:
            pages.close()
        listing: dict[str, Any] = {"results": results}
        if _next_cursor(body):
            listing["paging"] = body["paging"]
        return Answer(body=listing, requests=requests_sent, unanswered=unanswered)

    def _thread_messages_path(self, thread_id: int | str) -> str:
        thread = str(thread_id).strip() if isinstance(thread_id, (int, str)) and not isinstance(thread_id, bool) else ""
        if not thread.isdigit() or not thread.isascii():
            raise InvalidInputError("thread_id", f"{thread_id!r} is not a numeric id", "pass the thread's id")
        return f"{self._inbox_root()}/threads/{thread}/messages"

    def _paged(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for page in self._pages(path, params):
            yield from _page_items(page.body)

    def _pages(self, path: str, params: dict[str, Any]) -> Generator[Answer, None, None]:
        """Each page of a cursor-paged listing, stopping with :class:`HubSpotPaginationError` when paging does not
        end."""
        after: str | None = None
        seen_cursors: set[str] = set()
        empty_pages = 0
        for pages in itertools.count(1):
            page = self.send("GET", path, params={**params, **({"after": after} if after else {})})
            yield page
            after = _next_cursor(page.body)
            if not after:
                return
            if after in seen_cursors:  # a repeating cursor would page forever
                raise HubSpotPaginationError(f"GET {path} returned the cursor {after!r} twice; stopping pagination")
            seen_cursors.add(after)
            empty_pages = 0 if _page_items(page.body) else empty_pages + 1
            if empty_pages >= MAX_EMPTY_PAGES:
                raise HubSpotPaginationError(
                    f"GET {path} returned {empty_pages} empty pages in a row, each with a new cursor; "
                    "stopping pagination"
                )
            if pages >= MAX_PAGES:
                raise HubSpotPaginationError(f"GET {path} still had more after {pages} pages; stopping pagination")


def _page_items(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    results = page.get("results")
    return [item for item in results if isinstance(item, dict)] if isinstance(results, list) else []


def _next_cursor(page: Mapping[str, Any]) -> str | None:
    paging = page.get("paging")
    next_page = paging.get("next") if isinstance(paging, dict) else None
    after = next_page.get("after") if isinstance(next_page, dict) else None
    return str(after) if after else None


def _page_size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInputError("page_size", f"{value!r} is not 1..{MAX_PAGE_SIZE}", f"use 1 to {MAX_PAGE_SIZE}")
    return value
