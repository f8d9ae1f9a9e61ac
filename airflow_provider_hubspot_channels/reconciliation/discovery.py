"""Records from HubSpot's Inbox API, for integrators without a store of their own (pure, no I/O).

The Inbox API lists threads and their entries (messages, comments, welcome messages, ...). Only entries of type
``MESSAGE``, direction ``OUTGOING`` on the wanted channel, created inside the window, become records. Their
delivery status can only come from HubSpot: no status or ``RECEIVED`` is ``pending``, ``READ`` is ``read``,
``FAILED`` is ``failed``. ``SENT`` is ambiguous (HubSpot may show it before the integrator reports anything), so
``sent_means_delivered`` decides; by default it counts as delivered, which never marks a delivered message FAILED.

Threads are listed by latest activity, so a thread that gets a new message while the pages are read moves to a
later page and is listed again. :func:`discover_records` reads each thread once and keeps each message once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation.timestamps import parse_timestamp
from airflow_provider_hubspot_channels.reconciliation.transitions import hubspot_status_type

#: Airflow's default ``[core] max_map_length``: more mapped task instances than this fail the DAG run.
MAX_MAPPED_BATCHES = 1024

T = TypeVar("T")


def delivery_status_from_hubspot(message: Mapping[str, Any], *, sent_means_delivered: bool = True) -> str:
    """The record's ``delivery_status`` for a message known only from HubSpot.

    :param message: HubSpot's message JSON.
    :param sent_means_delivered: whether HubSpot's ``SENT`` settles the message.
    """
    status = hubspot_status_type(message)
    if status == "READ":
        return "read"
    if status == "FAILED":
        return "failed"
    if status == "SENT" and sent_means_delivered:
        return "delivered"
    return "pending"


def outgoing_records(
    entries: Iterable[Mapping[str, Any]],
    *,
    channel_id: int,
    window_start: datetime,
    window_end: datetime,
    sent_means_delivered: bool = True,
) -> Iterator[dict[str, Any]]:
    """Reconciliation records for the outgoing messages of one channel created in ``[window_start, window_end)``.

    :param entries: thread entries from the Inbox API (any type).
    :param channel_id: the custom channel.
    :param window_start: inclusive lower bound of ``createdAt``.
    :param window_end: exclusive upper bound of ``createdAt``.
    :param sent_means_delivered: see :func:`delivery_status_from_hubspot`.
    """
    for entry in entries:
        if entry.get("type") != "MESSAGE" or entry.get("direction") != "OUTGOING":
            continue
        if str(entry.get("channelId")) != str(channel_id) or not entry.get("id"):
            continue
        created = parse_timestamp(entry.get("createdAt"), field="createdAt")
        if not window_start <= created < window_end:
            continue
        record: dict[str, Any] = {
            "channel_id": channel_id,
            "message_id": str(entry["id"]),
            "created_at": created.isoformat(),
            "delivery_status": delivery_status_from_hubspot(entry, sent_means_delivered=sent_means_delivered),
        }
        shown = hubspot_status_type(entry)
        if shown in ("SENT", "READ", "FAILED"):
            # HubSpot is this record's only source: what it shows is what was reported, so a two-way run writes
            # only where the record's target differs (a stale message, or SENT that does not count as delivered).
            record["reported_status"] = shown
        thread = entry.get("conversationsThreadId")
        if thread is not None:
            record["conversations_thread_id"] = str(thread)
        recipients = entry.get("recipients") or []
        identifier = recipients[0].get("deliveryIdentifier") if recipients else None
        if isinstance(identifier, Mapping) and identifier.get("value"):
            record["recipient"] = str(identifier["value"])
        yield record


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover_records` found.

    :param records: the reconciliation records, each message once, in listing order.
    :param threads: distinct threads of the channel read.
    :param repeated_threads: listings of a thread already read (it moved to a later page), skipped.
    :param repeated_messages: records of a message already found, skipped.
    """

    records: list[dict[str, Any]]
    threads: int
    repeated_threads: int
    repeated_messages: int


def discover_records(
    threads: Iterable[Mapping[str, Any]],
    messages_of: Callable[[str], Iterable[Mapping[str, Any]]],
    *,
    channel_id: int,
    window_start: datetime,
    window_end: datetime,
    sent_means_delivered: bool = True,
) -> Discovery:
    """Records of the channel's outgoing messages in the listed threads, each thread read once, each message once.

    A thread listed again was read already: it moved because of activity during the listing, i.e. a message
    created after the listing began, which is after ``window_end`` whenever the window lies in the past (as a
    run's window, ending an SLA before its data interval does, always does). Memory: one set of thread ids and
    one of message keys, next to the records themselves.

    :param threads: threads from the Inbox API, as listed (any inbox entries; other channels are skipped).
    :param messages_of: a thread id to the thread's entries.
    :param channel_id: the custom channel.
    :param window_start: inclusive lower bound of ``createdAt``.
    :param window_end: exclusive upper bound of ``createdAt``.
    :param sent_means_delivered: see :func:`delivery_status_from_hubspot`.
    """
    seen_threads: set[str] = set()
    seen_messages: set[tuple[int, str]] = set()
    records: list[dict[str, Any]] = []
    repeated_threads = repeated_messages = 0
    for thread in threads:
        if str(thread.get("originalChannelId")) != str(channel_id) or not thread.get("id"):
            continue
        thread_id = str(thread["id"])
        if thread_id in seen_threads:
            repeated_threads += 1
            continue
        seen_threads.add(thread_id)
        found = outgoing_records(
            messages_of(thread_id),
            channel_id=channel_id,
            window_start=window_start,
            window_end=window_end,
            sent_means_delivered=sent_means_delivered,
        )
        for record in found:
            key = (record["channel_id"], record["message_id"])
            if key in seen_messages:
                repeated_messages += 1
                continue
            seen_messages.add(key)
            records.append(record)
    return Discovery(records, len(seen_threads), repeated_threads, repeated_messages)


def split_batches(items: Sequence[T], *, batch_size: int, max_batches: int = MAX_MAPPED_BATCHES) -> list[list[T]]:
    """Cut items into batches for ``.expand()``, refusing more batches than Airflow can map.

    :param items: the records.
    :param batch_size: records per batch, at least 1.
    :param max_batches: the deployment's ``[core] max_map_length``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError("batch_size", f"{batch_size!r} is not a positive whole number", "use e.g. 500")
    batches = [list(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
    if len(batches) > max_batches:
        needed = -(-len(items) // max_batches)
        raise InvalidInputError(
            "batch_size",
            f"{len(items)} records in batches of {batch_size} make {len(batches)} mapped tasks, over {max_batches}",
            f"use batch_size of at least {needed}, or a shorter window",
        )
    return batches
