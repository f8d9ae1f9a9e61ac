"""Did any account exceed its limit in any rolling window, or reach another account's message? Judged from the
simulator's request log.

HubSpot limits each installed account to a number of requests per rolling 10 s. The simulator refuses the excess
with 429 (and refused requests do not enter its window), so "answered requests within the limit" holds by
construction; what the clients sent is the real question. Every request that reached an account's API counts here,
refused or dropped ones included. The OAuth token endpoint and the simulator's own ``/_simulator`` paths are not
an account's API. An entry names its account by ``hub_id``; an entry without that attribute (a simulator that hosts
one account) belongs to the one account ``default``; ``hub_id`` None (a token no account issued) belongs to none.

A request that names a message (``.../custom-channels/[<version>/]<channel>/messages/<id>``) must carry a token of
the account that owns it (:func:`misdirected`): HubSpot answers another account's token 404, so a provider that mixed
up credentials would show up here, not as a wrong write.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

DEFAULT_ACCOUNT = "default"
NOT_AN_ACCOUNTS_API = ("/oauth/", "/_simulator")
# The version segment is optional: date-versioned paths carry it after custom-channels, legacy v3 paths before.
_MESSAGE_PATH = re.compile(r"/custom-channels/(?:[^/]+/)?\d+/messages/(?P<message>[^/]+)/?$")


@dataclass(frozen=True)
class Window:
    """The busiest window of one account: ``requests`` arrived in ``[start, start + seconds)``."""

    account: str
    start: float
    seconds: float
    requests: int


@dataclass(frozen=True)
class Breach:
    """An account whose busiest window held more than its limit."""

    account: str
    start: float
    seconds: float
    requests: int
    limit: int

    def describe(self) -> dict[str, Any]:
        return {"account": self.account, "window_start": self.start, "requests": self.requests, "limit": self.limit}


def account_of(entry: Any) -> str | None:
    """The account an entry's request counted against, or None (not an account's API, or no account's token)."""
    if entry.path.startswith(NOT_AN_ACCOUNTS_API):
        return None
    if not hasattr(entry, "hub_id"):
        return DEFAULT_ACCOUNT
    return None if entry.hub_id is None else str(entry.hub_id)


def _times_by_account(entries: Iterable[Any]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for entry in entries:
        account = account_of(entry)
        if account is not None:
            times.setdefault(account, []).append(entry.time)
    return times


def busiest_windows(entries: Iterable[Any], *, window: float = 10.0) -> dict[str, Window]:
    """Each account's busiest rolling window (half-open, ``window`` seconds long) over the log.

    :param entries: the simulator's request log entries (``sim.request_log``), any order.
    :param window: the limit's window in seconds (HubSpot: 10).
    """
    busiest: dict[str, Window] = {}
    for account, times in _times_by_account(entries).items():
        times.sort()
        best, best_start, first = 0, times[0], 0
        # The busiest window can always be slid right until it starts at a request: only those starts are tried.
        for last, t in enumerate(times):
            while times[first] + window <= t:  # the half-open window [start, start + window), as added
                first += 1
            if last - first + 1 > best:
                best, best_start = last - first + 1, times[first]
        busiest[account] = Window(account, best_start, window, best)
    return busiest


def limit_breaches(entries: Iterable[Any], *, limit: int, window: float = 10.0) -> list[Breach]:
    """Accounts that received more than ``limit`` requests in some rolling window, busiest first.

    :param entries: the simulator's request log entries.
    :param limit: requests allowed per window per account (HubSpot's OAuth apps: 110).
    :param window: the window in seconds.
    """
    breaches = [
        Breach(w.account, w.start, w.seconds, w.requests, limit)
        for w in busiest_windows(entries, window=window).values()
        if w.requests > limit
    ]
    return sorted(breaches, key=lambda b: (-b.requests, b.account))


def refused_by_account(entries: Iterable[Any]) -> dict[str, int]:
    """How many 429s each account's API answered (accounts without any are left out)."""
    refused: dict[str, int] = {}
    for entry in entries:
        account = account_of(entry)
        if account is not None and entry.status == 429:
            refused[account] = refused.get(account, 0) + 1
    return refused


@dataclass(frozen=True)
class Misdirected:
    """A request naming a message with a token of an account that does not own it (or of no account)."""

    method: str
    path: str
    status: int | None
    message_id: str
    account: str | None
    owner: str | None


def message_named(entry: Any) -> str | None:
    """The message id a request's path names (percent-decoded, as the client quoted it), or None."""
    match = _MESSAGE_PATH.search(entry.path)
    return None if match is None else unquote(match.group("message"))


def misdirected(entries: Iterable[Any], owners: Mapping[str, str]) -> list[Misdirected]:
    """Requests naming a message whose token's account is not the message's owner, in log order.

    :param entries: the simulator's request log entries.
    :param owners: owning account (decimal text) by message id; a message missing here has no owner, so any request
        naming it is misdirected. Message ids must be unique across accounts for this to judge.
    """
    wrong = []
    for entry in entries:
        message_id = message_named(entry)
        if message_id is None:
            continue
        account, owner = account_of(entry), owners.get(message_id)
        if account is None or account != owner:
            wrong.append(Misdirected(entry.method, entry.path, entry.status, message_id, account, owner))
    return wrong
