"""Paging of the Inbox API's lists (threads, a thread's messages): sort keys and opaque cursors.

Pure functions over entities; the store (:mod:`.state`) calls them under its lock.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from .entities import Thread


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


def page_threads(
    threads: Iterable[Thread],
    *,
    inbox_id: int | None,
    contact_id: str | None,
    sort: str,
    latest_after: int | None,
    limit: int,
    after: str | None,
    archived: bool,
    thread_status: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of threads; see :meth:`.state.SimulatorState.list_threads` for the parameters.

    :raises ValueError: invalid cursor.
    """
    by_latest = sort == "latestMessageTimestamp"
    size = 2 if by_latest else 1
    start = decode_cursor(after, size) if after else None
    keyed = []
    for thread in threads:
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


def page_thread_messages(
    thread: Thread, *, limit: int, after: str | None, ascending: bool, archived: bool | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a thread's entries; see :meth:`.state.SimulatorState.list_thread_messages` for the parameters.

    :raises ValueError: invalid cursor.
    """
    start = decode_cursor(after, 2) if after else None
    keyed = [((m.created_at, m.seq), m) for m in thread.items if archived is None or m.archived == archived]
    keyed.sort(key=lambda pair: pair[0], reverse=not ascending)
    if start is not None:
        keyed = [p for p in keyed if (p[0] > start if ascending else p[0] < start)]
    page = keyed[:limit]
    results = [m.to_json() for _, m in page]
    next_after = encode_cursor(*page[-1][0]) if len(keyed) > limit else None
    return results, next_after
