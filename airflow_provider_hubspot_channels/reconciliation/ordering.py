"""The order a batch's rows are taken in: round-robin across accounts, so one task serves many accounts at once.

HubSpot's limit is per account, and the runner's workers look ahead only a few hundred rows: a batch sorted by
account (``ORDER BY portal_id``, or per-account exports put one after the other) would keep every worker on one
account, at one account's limit. Decisions:

* :func:`plan_order` takes one row of each account in turn, each account's rows in input order, so the order
  changes nothing for a batch of one account (the connection's) and the report still names every row by its input
  position (``messages[i]``).
* At most :data:`ACTIVE_ACCOUNTS` accounts take turns at once; the next account (in order of first appearance)
  joins when one runs out of rows. That is as many accounts as the workers' look-ahead can hold, and it keeps the
  accounts in use, and their cached thread listings, few.
* The order is a pure function of the rows, so a retry of the same batch takes it in the same order (resume
  counts its progress in this order).
* A row's account is read as :func:`~.records.portal_id_of` reads it; a row whose account cannot be read (not an
  object, spellings that disagree) goes with the connection's rows: it is reported invalid, and its place in the
  order only decides when.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from airflow_provider_hubspot_channels.reconciliation.records import portal_id_of

T = TypeVar("T")

#: Accounts taking turns at once, at most: the runner's look-ahead holds 256 rows.
ACTIVE_ACCOUNTS = 256
#: The name of this order; a resumed batch's saved positions count in it (change it with the algorithm).
PLAN_ORDER = f"round-robin-{ACTIVE_ACCOUNTS}-v1"


def round_robin(streams: Iterable[Iterable[T]], *, active: int | None = None) -> list[T]:
    """One item of each stream in turn, each stream's items in their order; linear in the items.

    :param streams: the streams, in the order they join.
    :param active: streams taking turns at once (None: all); the next joins, at the end of the turns, as soon as one
        gives its last item.
    """
    if active is not None and active < 1:
        raise ValueError(f"active must be at least 1, not {active}")
    waiting = iter(streams)
    turns: deque[tuple[T, Iterator[T]]] = deque()  # each stream's next item, and the rest of it
    end: Any = object()

    def join() -> bool:
        for stream in waiting:
            rest = iter(stream)
            first = next(rest, end)
            if first is not end:  # an empty stream takes no turn
                turns.append((first, rest))
                return True
        return False

    while (active is None or len(turns) < active) and join():
        pass
    items: list[T] = []
    while turns:
        item, rest = turns.popleft()
        items.append(item)
        following = next(rest, end)
        if following is not end:
            turns.append((following, rest))
        else:
            join()
    return items


def plan_order(rows: Sequence[Any], *, active: int = ACTIVE_ACCOUNTS) -> list[int]:
    """The input positions of ``rows`` in the order they are taken (see the module's notes).

    :param rows: the batch's rows, as :func:`~.records.batch_rows` returns them.
    :param active: accounts taking turns at once.
    """
    positions: dict[str | None, list[int]] = {}
    for index, row in enumerate(rows):
        positions.setdefault(_account(row), []).append(index)
    if len(positions) <= 1:
        return list(range(len(rows)))
    return round_robin(positions.values(), active=active)


def _account(row: Any) -> str | None:
    if not isinstance(row, Mapping):
        return None
    try:
        return portal_id_of(row)
    except Exception:  # a row the records module cannot read is reported invalid: never fatal to the order
        return None
