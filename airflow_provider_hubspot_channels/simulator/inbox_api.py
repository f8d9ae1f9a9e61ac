"""The Conversations Inbox endpoints: threads and a thread's messages."""

from __future__ import annotations

from typing import Any

from .calls import Call
from .params import bool_param, enum_value, int_param, limit_param, single
from .responses import Reply, json_reply, not_found, validation_error
from .timefmt import parse_iso

THREADS_DEFAULT_LIMIT = 20


def list_threads(call: Call) -> Reply:
    """``GET /conversations/conversations/2026-09/threads``.

    :param call: the call.
    """
    query = call.query
    inbox_values = [v for value in query.get("inboxId", []) for v in value.split(",") if v != ""]
    if len(inbox_values) > 1:
        raise validation_error("Only one inboxId may be given per request", where="inboxId", code="TOO_MANY_VALUES")
    inbox_id = int_param(inbox_values[0], "inboxId", 32) if inbox_values else None
    contact_text = single(query, "associatedContactId")
    if contact_text is not None and inbox_id is not None:
        raise validation_error("associatedContactId cannot be used together with inboxId", where="associatedContactId")
    sort = single(query, "sort") or "id"
    if sort not in ("id", "latestMessageTimestamp"):
        raise validation_error(
            f"sort must be id or latestMessageTimestamp, got {sort!r}", where="sort", code="INVALID_ENUM"
        )
    after_text = single(query, "latestMessageTimestampAfter")
    latest_after = None
    if after_text:
        try:
            latest_after = parse_iso(after_text)
        except ValueError as exc:
            raise validation_error(str(exc), where="latestMessageTimestampAfter", code="INVALID_DATE_TIME") from exc
    elif sort == "latestMessageTimestamp":
        raise validation_error(
            "latestMessageTimestampAfter is required when sorting by latestMessageTimestamp",
            where="latestMessageTimestampAfter",
            code="REQUIRED",
        )
    thread_status = single(query, "threadStatus")
    if thread_status is not None:
        enum_value(thread_status, "threadStatus", ("OPEN", "CLOSED"))
    limit = limit_param(query, THREADS_DEFAULT_LIMIT)
    archived = bool(bool_param(query, "archived", False))
    try:
        results, next_after = call.state.list_threads(
            inbox_id=inbox_id,
            contact_id=contact_text,
            sort=sort,
            latest_after=latest_after,
            limit=limit,
            after=single(query, "after"),
            archived=archived,
            thread_status=thread_status,
        )
    except ValueError as exc:
        raise validation_error(str(exc), where="after", code="INVALID_CURSOR") from exc
    return _page(results, next_after)


def list_thread_messages(call: Call) -> Reply:
    """``GET /conversations/conversations/2026-09/threads/{threadId}/messages``.

    :param call: the call.
    """
    thread_id = int_param(call.params[0], "threadId", 64)
    query = call.query
    sort = single(query, "sort") or "-createdAt"
    if sort not in ("createdAt", "-createdAt"):
        raise validation_error(f"sort must be createdAt or -createdAt, got {sort!r}", where="sort", code="INVALID_ENUM")
    limit = limit_param(query, THREADS_DEFAULT_LIMIT)
    archived = bool_param(query, "archived", None)
    state = call.state
    with state.lock:
        thread = state.threads.get(thread_id)
        if thread is None:
            raise not_found(f"Thread {thread_id} not found")
        try:
            results, next_after = state.list_thread_messages(
                thread, limit=limit, after=single(query, "after"), ascending=sort == "createdAt", archived=archived
            )
        except ValueError as exc:
            raise validation_error(str(exc), where="after", code="INVALID_CURSOR") from exc
        return _page(results, next_after)


def _page(results: list[dict[str, Any]], next_after: str | None) -> Reply:
    payload: dict[str, Any] = {"results": results}
    if next_after is not None:
        payload["paging"] = {"next": {"after": next_after}}
    return json_reply(200, payload)
