"""Which account's client serves a decision, and which decision a free worker takes next.

HubSpot's limit is per account, so a batch of many accounts is paced per account: the run's workers share one
look-ahead window of decisions and each takes the earliest one whose account can send now, so one busy account
never holds threads that other accounts could use. Decisions:

* **Routing.** ``client_for(portal_id)`` of an :class:`AccountRouter` (``MultiAccountClient`` is one) gives the
  account's client; a plain client is wrapped in :class:`SingleAccount`, which serves every row and keeps today's
  single-account rules (one account: an error that stops it stops the batch).
* **Account states.** ``new`` -> ``probing`` (its first message is in flight, alone: a refused credential costs one
  request per account) -> ``open``; or ``stopped`` (credentials missing or refused, a missing scope, the daily
  limit): its remaining rows are ``not_attempted`` naming the account, and the other accounts go on.
* **Window.** At most :func:`window_size` decisions are read ahead of the workers (1 for a single account, which
  then takes the plan in order exactly as before). A worker takes the earliest decision whose account is ``new``,
  or ``open`` and ready (``RateBudget.ready()``, asked for at most :data:`READY_CHECKS` accounts per take, so the
  choice stays cheap with thousands of accounts); if none is ready, the earliest it may take. Rows of one account
  are taken in input order, and completion stays within the window of the plan's order (round-robin across
  accounts, :mod:`~airflow_provider_hubspot_channels.reconciliation.ordering`), which keeps the resume
  progress's tracked set small.
* **Readers.** Each account has its own reader (one GET each, or a thread listing) built on its client, kept while
  its account takes turns (up to :data:`KEPT_READERS`, least recently used dropped): rows come round-robin across
  accounts, so dropping a reader in use would read its threads again for every row. Memory stays bounded by the
  cached messages, not the readers: beyond :data:`SHARED_READERS` accounts each reader's cache bounds shrink so all
  of them together keep what :data:`SHARED_READERS` readers would.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_provider_hubspot_channels.reconciliation import Decision
from airflow_provider_hubspot_channels.reconciliation.fanout import CONNECTION_ACCOUNT

if TYPE_CHECKING:
    from airflow_provider_hubspot_channels.client import HubSpotChannelsError
    from airflow_provider_hubspot_channels.runner.attempt import MessageReader, MessageStatusClient

#: Decisions read ahead of the workers, at most (and 4 per thread): a few kilobytes each.
MAX_WINDOW = 256
#: Accounts whose budget one take asks at most before it settles for the earliest decision.
READY_CHECKS = 16
#: Accounts whose readers keep their whole thread-listing cache; with more, each keeps a share of that total.
SHARED_READERS = 64
#: Readers kept at most (least recently used dropped): more than the accounts a full window and every thread can
#: hold, so rows taken round-robin by account find their account's reader; beyond it a task's memory stays bounded
#: however many accounts its batch holds (each reader keeps at least one listing).
KEPT_READERS = 320
#: The cache bounds of a reader (``StatusLookup``) that readers share.
_SHARED_BOUNDS = ("max_messages", "max_threads")


@runtime_checkable
class AccountRouter(Protocol):
    """Clients per HubSpot account (``MultiAccountClient`` has these)."""

    def client_for(self, portal_id: str | None) -> MessageStatusClient:
        """The account's client (None: the task connection's); raises ``HubSpotChannelsError`` when it has none."""

    def redact(self, text: str) -> str:
        """``text`` with every secret of every account replaced."""

    def stop(self) -> None:
        """End waiting and retrying calls of every account at once."""


class SingleAccount:
    """One client serves every row: the single-account path.

    :param client: the client.
    """

    def __init__(self, client: MessageStatusClient) -> None:
        self.client = client

    def client_for(self, portal_id: str | None) -> MessageStatusClient:
        """The one client, whatever the row names.

        :param portal_id: ignored.
        """
        return self.client

    def redact(self, text: str) -> str:
        """The client's redaction.

        :param text: any text.
        """
        return self.client.redact(text)

    def stop(self) -> None:
        """Stop the client."""
        self.client.stop()


def as_router(client: MessageStatusClient | AccountRouter) -> tuple[AccountRouter, bool]:
    """The router for a run and whether it serves several accounts (a plain client is one account).

    :param client: a client, or an :class:`AccountRouter`.
    """
    if isinstance(client, AccountRouter):
        return client, True
    return SingleAccount(client), False


def window_size(max_concurrency: int, *, multi: bool) -> int:
    """Decisions read ahead: 1 for one account (the plan in order, as before), else 4 per thread up to 256.

    :param max_concurrency: the run's threads.
    :param multi: the run serves several accounts.
    """
    return min(MAX_WINDOW, 4 * max_concurrency) if multi else 1


def account_label(key: str) -> str:
    """How a reason names an account.

    :param key: a portal id, or :data:`CONNECTION_ACCOUNT`.
    """
    return "of the connection" if key == CONNECTION_ACCOUNT else key


@dataclass(slots=True)
class Account:
    """One account's state in a run (a few fields: a run may see thousands).

    :param state: ``new``, ``probing``, ``open`` or ``stopped``.
    :param client: its client, once built.
    :param error: what stopped it.
    :param reason: the reason its remaining rows get.
    :param busy: its messages in a row refused as rate limited through every retry (429/423).
    """

    state: str = "new"
    client: Any = None
    error: HubSpotChannelsError | None = None
    reason: str = ""
    busy: int = 0


class Scheduler:
    """The window and the account states of one run; every method is called with the run's lock held.

    :param plan: the decisions to act on, in the plan's order (SKIP rows included: ``admit`` decides).
    :param size: decisions read ahead at most.
    :param multi: the run serves several accounts (else every row is one account).
    """

    def __init__(self, plan: Iterator[Decision], *, size: int, multi: bool) -> None:
        self.plan = plan
        self.size = size
        self.multi = multi
        self.window: deque[Decision] = deque()
        self.accounts: dict[str, Account] = {}
        self.exhausted = False

    def key(self, decision: Decision) -> str:
        """The account a decision belongs to.

        :param decision: a decision.
        """
        return (decision.portal_id or CONNECTION_ACCOUNT) if self.multi else CONNECTION_ACCOUNT

    def account(self, key: str) -> Account:
        """The account's state (created on first sight).

        :param key: the account key.
        """
        account = self.accounts.get(key)
        if account is None:
            account = self.accounts[key] = Account()
        return account

    def fill(self, admit: Callable[[Decision], bool]) -> None:
        """Read the plan until the window is full; ``admit`` records a row needing no request and returns False.

        :param admit: called for each decision read; True puts it in the window.
        """
        while len(self.window) < self.size and not self.exhausted:
            decision = next(self.plan, None)
            if decision is None:
                self.exhausted = True
            elif admit(decision):
                self.window.append(decision)

    def pick(self, ready: Callable[[Account], bool]) -> Decision | None:
        """Take the earliest decision whose account can send now, else the earliest that may go; None if every
        decision in the window waits for its account's first message (or the window is empty).

        :param ready: whether an open account's budget has a slot now.
        """
        if not self.multi:  # one account: the plan in order
            blocked = not self.window or self.account(CONNECTION_ACCOUNT).state == "probing"
            return None if blocked else self._take(0)
        fallback: int | None = None
        asked: dict[str, bool] = {}
        for position, decision in enumerate(self.window):
            key = self.key(decision)
            account = self.account(key)
            if account.state == "new":
                return self._take(position)
            if account.state != "open":  # probing: its first message is still in flight
                continue
            if fallback is None:
                fallback = position
            if key not in asked:
                if len(asked) >= READY_CHECKS:
                    break
                asked[key] = ready(account)
            if asked[key]:
                return self._take(position)
        return self._take(fallback) if fallback is not None else None

    def _take(self, position: int) -> Decision:
        decision = self.window[position]
        del self.window[position]
        account = self.account(self.key(decision))
        if account.state == "new":
            account.state = "probing"
        return decision

    def drop(self, key: str) -> list[Decision]:
        """Remove and return the window's decisions of an account (it stopped).

        :param key: the account key.
        """
        dropped = [d for d in self.window if self.key(d) == key]
        if dropped:
            self.window = deque(d for d in self.window if self.key(d) != key)
        return dropped

    def drain(self) -> list[Decision]:
        """Remove and return every decision in the window (the batch stopped)."""
        drained = list(self.window)
        self.window.clear()
        return drained

    @property
    def done(self) -> bool:
        """Nothing is left to take: the plan is used up and the window is empty."""
        return self.exhausted and not self.window


class Readers:
    """The accounts' readers, one per account (up to :data:`KEPT_READERS`, least recently used dropped), their caches
    sharing one budget.

    A reader with ``max_messages`` and ``max_threads`` bounds (``StatusLookup``) keeps, with ``n`` readers beyond
    :data:`SHARED_READERS`, each bound times ``SHARED_READERS / n`` (``n`` rounded up to a power of two, at least
    1): the total stays what :data:`SHARED_READERS` readers keep. Shares shrink when the count of readers doubles,
    so resizing costs O(1) per reader over the run; a reader trims its cache at its next listing.

    :param build: makes a reader on an account's client.
    """

    def __init__(self, build: Callable[[MessageStatusClient], MessageReader]) -> None:
        self.build = build
        self._readers: OrderedDict[str, MessageReader] = OrderedDict()
        self._budgets: dict[str, tuple[int, int]] = {}  # each bounded reader's own bounds, as built
        self._sharing = SHARED_READERS  # the readers count the current shares are for

    def get(self, key: str, client: MessageStatusClient) -> MessageReader:
        """The account's reader (built on first use).

        :param key: the account key.
        :param client: the account's client.
        """
        reader = self._readers.get(key)
        if reader is not None:
            self._readers.move_to_end(key)
            return reader
        reader = self._readers[key] = self.build(client)
        while len(self._readers) > KEPT_READERS:
            dropped, _ = self._readers.popitem(last=False)  # a dropped reader's cache is only a cache
            self._budgets.pop(dropped, None)
        budgets = tuple(getattr(reader, name, None) for name in _SHARED_BOUNDS)
        if all(isinstance(budget, int) for budget in budgets):
            self._budgets[key] = budgets  # type: ignore[assignment]
            self._share(key)
        if len(self._readers) > self._sharing:
            self._sharing *= 2
            for bounded in self._budgets:
                self._share(bounded)
        return reader

    def _share(self, key: str) -> None:
        reader: Any = self._readers[key]
        for name, budget in zip(_SHARED_BOUNDS, self._budgets[key], strict=True):
            setattr(reader, name, max(1, budget * SHARED_READERS // self._sharing))

    def __len__(self) -> int:
        return len(self._readers)
