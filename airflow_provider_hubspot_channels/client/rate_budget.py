"""A thread-safe request budget that runs at HubSpot's rolling rate limit, shares it with others, and avoids 429s.

HubSpot counts requests per account in a rolling window (110 per 10 s for OAuth apps) and reports the state on
every answer in ``X-HubSpot-RateLimit-Max``, ``-Remaining`` and ``-Interval-Milliseconds``. Four rules decide when
the next request may go:

* **Rolling log.** The budget keeps its own send times and never sends more than ``limit`` requests in any window.
* **Pacing.** Requests are spread evenly at ``limit / interval`` per second, with a small burst allowance
  (:data:`BURST_FRACTION` of the limit) so that short batches start at once. Pacing, not a burst of the whole
  window followed by silence, is what lets several clients see each other in the headers before the account's
  window is full, and keeps the account's window from refilling in bursts. While the log is full the burst
  allowance does not refill, so a burst is never repeated one window later.
* **Idle start.** When the first answer, with nothing else of ours unanswered, shows that nobody else used the
  account in its window, a further :data:`IDLE_START_FRACTION` of the limit may go at once, once: a batch of a
  few hundred messages then takes its latency, not the pacing's seconds. It is withdrawn as soon as an answer
  shows another client, a 429 arrives or the window is full, and lapses after one window, so several clients
  starting together, and a long backlog, are paced as before.
* **Adaptation.** ``max`` caps the limit at ``share`` of the account's limit; ``max - remaining`` is the account's
  use in the window, and minus our own use it is what *others* use (other workers, the live integration). The
  limit moves a fraction (:data:`ADAPT_GAIN`) of the way toward ``max - others - margin`` at most every
  :data:`ADAPT_EVERY` seconds. Several processes doing this converge on equal shares that together stay just under
  the account's limit; the damping keeps them from oscillating (with n processes a full step overshoots n-1 times).
* **Remaining guard.** Adaptation needs a few observations; until it has settled (several workers starting at
  once), the last ``Remaining`` header minus what we sent since, plus what of ours left the window since, is a
  lower bound of what the account has left. No request is sent while it is at or below half the margin plus one
  request per other client (estimated as the account's use over ours: each may have one on its way that the
  answer did not count yet); if no fresh answer comes (we have nothing in flight and nothing of ours leaves the
  window), one probe goes out every :data:`PROBE_EVERY` of the window.

A 429 halves the limit and holds every thread until the wait is over.

What a server says is checked before it is believed (a proxy or a fault can send anything): an interval outside
:data:`MIN_INTERVAL`..:data:`MAX_INTERVAL`, a max below 1 or above :data:`MAX_ACCOUNT_LIMIT`, or a remaining
outside 0..max is ignored, and the limit never drops below one request per window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

#: Fraction of the account's limit kept free so that clock skew between us and HubSpot cannot cause a 429.
SAFETY_MARGIN = 0.02
#: How far the limit moves toward its target on one observation.
ADAPT_GAIN = 0.2
#: Least seconds between two adaptations; observations arrive far more often than the window changes.
ADAPT_EVERY = 0.25
#: Requests (as a fraction of the limit) that may go at once before pacing applies.
BURST_FRACTION = 0.1
#: Fraction of the window after which, without a fresh answer, one probe may pass the remaining guard.
PROBE_EVERY = 0.1
#: Requests (as a fraction of the limit) that may go at once, once, when the first answer shows an idle account.
#: Half of the window is left free for a client that starts meanwhile, and for the live integration.
IDLE_START_FRACTION = 0.4


#: Bounds of a believable ``X-HubSpot-RateLimit-Interval-Milliseconds``, in seconds (HubSpot: 1 s and 10 s).
MIN_INTERVAL = 1.0
MAX_INTERVAL = 60.0
#: The largest believable ``X-HubSpot-RateLimit-Max`` (HubSpot's largest tier is 250 per 10 s).
MAX_ACCOUNT_LIMIT = 100_000
#: The longest hold one 429 can put on every caller, whatever the caller passes.
MAX_PENALTY = 3600.0


class BudgetStopped(Exception):
    """The budget was stopped while a caller waited for a slot."""


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):  # also the digit limit of int() for absurdly long values
        return None


def header_interval_seconds(headers: Mapping[str, str]) -> float | None:
    """The rate-limit window from ``X-HubSpot-RateLimit-Interval-Milliseconds``, or None if absent or implausible.

    :param headers: an answer's headers.
    """
    interval_ms = _header_int(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if interval_ms is None or not MIN_INTERVAL <= interval_ms / 1000 <= MAX_INTERVAL:
        return None
    return interval_ms / 1000


class RateBudget:
    """Grants request slots so that this client stays under its limit in every rolling window, evenly paced.

    :param max_requests: this client's own ceiling per ``interval``.
    :param interval: the window in seconds (HubSpot: 10).
    :param share: the fraction (0..1] of the account's limit, as read from HubSpot's headers, this client may use.
    :param clock: monotonic clock (injected in tests).
    """

    def __init__(
        self,
        *,
        max_requests: int,
        interval: float = 10.0,
        share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A rate, not a count: the server may name another window than the one the ceiling was given for.
        self._ceiling_per_second = max_requests / interval
        self._interval = interval
        self._share = share
        self._clock = clock
        self._limit = float(max_requests)
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._last_adapt = -math.inf
        self._stopped = False
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        # Callers waiting for a slot, first come first served; each waits on its own condition of the same lock.
        self._waiters: deque[threading.Condition] = deque()
        # Pacing: a token bucket of at most BURST_FRACTION of the limit, refilled at limit / interval per second.
        self._tokens = self._burst()
        self._refilled_at = clock()
        # Idle start: the one-time allowance (0 until the first answer shows an idle account, 0 once withdrawn).
        self._idle_extra = 0.0
        self._idle_until = -math.inf
        self._start_decided = False
        # Remaining guard: the last observation and our counters at that moment (None: nothing observed yet).
        self._granted = 0
        self._answered = 0
        self._expired = 0
        self._remaining: int | None = None
        self._threshold = 0.5
        self._observed_at = -math.inf
        self._granted_at_obs = 0
        self._in_flight_at_obs = 0
        self._expired_at_obs = 0
        self._probed_at = -math.inf

    @property
    def limit(self) -> int:
        """Requests this client may send in one window right now."""
        with self._cond:
            return self._window_limit()

    def _window_limit(self) -> int:
        return max(1, int(self._limit))

    def _burst(self) -> float:
        return max(1.0, self._limit * BURST_FRACTION)

    def _expire(self, now: float) -> None:
        horizon = now - self._interval
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
            self._expired += 1

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._refilled_at)
        self._refilled_at = now
        tokens = self._tokens + elapsed * self._limit / self._interval
        if len(self._sent) >= self._window_limit() or self._credit() <= self._threshold:
            # The window is full: the next request may go as soon as there is room (no pacing time is lost), but
            # waiting here must not build a burst that would repeat one window later.
            self._tokens = min(tokens, max(self._tokens, 1.0))
            self._idle_extra = 0.0
        else:
            self._tokens = min(tokens, self._burst())
        if now >= self._idle_until:  # an idle start is for the start: it does not wait for a later batch
            self._idle_extra = 0.0

    def _credit(self) -> float:
        """A lower bound of what the account has left in its window, from the last answer (inf before any)."""
        if self._remaining is None:
            return math.inf
        sent_since = self._granted - self._granted_at_obs
        left_since = self._expired - self._expired_at_obs
        return self._remaining - self._in_flight_at_obs - sent_since + left_since

    def _wait_needed(self, now: float, *, probe: bool = True) -> float:
        """Seconds until a slot may be granted (0: now); ``probe=False`` only asks (a probe due is not recorded)."""
        wait = self._blocked_until - now
        if len(self._sent) >= self._window_limit():
            wait = max(wait, self._sent[0] + self._interval - now)
        if self._tokens < 1.0 and self._idle_extra < 1.0:
            wait = max(wait, (1.0 - self._tokens) * self._interval / self._limit)
        if wait <= 0 and self._credit() <= self._threshold:
            if self._sent:
                # Our own requests leaving the window raise the credit (and answers to those in flight renew it).
                return max(min(self._sent[0] + self._interval - now, 0.05), 0.001)
            # Nothing of ours in the window: only a fresh answer tells more, so probe now and then.
            probe_every = self._interval * PROBE_EVERY
            since = now - max(self._observed_at, self._probed_at)
            if since < probe_every:
                return max(probe_every - since, 0.001)
            if probe:
                self._probed_at = now
        return max(wait, 0.0)

    def _take(self) -> float:
        """Take a slot if one is free now (0.0), else return the seconds to wait. Call with the lock held."""
        now = self._clock()
        self._expire(now)
        self._refill(now)
        wait = self._wait_needed(now)
        if wait <= 0:
            self._sent.append(now)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
            else:
                self._idle_extra -= 1.0
            self._granted += 1
            return 0.0
        return wait

    def wait_needed(self) -> float:
        """Seconds until a slot could be taken (0.0: now), without taking one or changing what later calls get; inf
        after ``stop()``. A runner serving many accounts asks it to send first for an account that can send now.
        """
        with self._cond:
            if self._stopped:
                return math.inf
            now = self._clock()
            # Expiring is what any later call does first at this time or after; the refill is undone, because
            # refilling in steps while the window is full would lose pacing credit a single later refill keeps.
            self._expire(now)
            saved = (self._tokens, self._refilled_at, self._idle_extra)
            self._refill(now)
            wait = self._wait_needed(now, probe=False)
            self._tokens, self._refilled_at, self._idle_extra = saved
            return wait

    def ready(self) -> bool:
        """Whether :meth:`try_acquire` would grant a slot now (nothing is taken)."""
        return self.wait_needed() == 0.0

    def try_acquire(self) -> bool:
        """Take a slot if one is free right now, without waiting; False otherwise (or after ``stop()``)."""
        with self._cond:
            return not self._stopped and self._take() == 0.0

    def acquire(self) -> float:
        """Wait for a slot and take it; returns the seconds waited. Raises :class:`BudgetStopped` after ``stop()``.

        Callers queue first come, first served, and only the first one waits for the clock; the others sleep until
        it leaves. Waking every waiter on every answer and every pacing tick cost more CPU than the requests
        themselves with many threads on one account (benchmarks, scenario 10).
        """
        start = self._clock()
        with self._cond:
            if self._stopped:
                raise BudgetStopped("the request budget was stopped")
            if not self._waiters and self._take() == 0.0:
                return 0.0
            me = threading.Condition(self._lock)
            self._waiters.append(me)
            try:
                while True:
                    if self._stopped:
                        raise BudgetStopped("the request budget was stopped")
                    if self._waiters[0] is not me:
                        me.wait()  # woken when the callers before it are served, or by stop()
                        continue
                    wait = self._take()
                    if wait == 0.0:
                        return self._clock() - start
                    # Wake at least every 50 ms: the limit may grow while we sleep (answers also wake us).
                    me.wait(timeout=min(max(wait, 0.001), 0.05))
            finally:
                self._waiters.remove(me)
                if self._waiters:
                    self._waiters[0].notify()

    def _wake(self, *, everyone: bool = False) -> None:
        """Wake the first waiting caller (the one the clock decides for), or all of them (lock held)."""
        if everyone:
            for waiter in self._waiters:
                waiter.notify()
        elif self._waiters:
            self._waiters[0].notify()

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adapt to HubSpot's rate-limit headers of one answer (absent headers change nothing).

        :param headers: the answer's headers.
        """
        account_max = _header_int(headers, "X-HubSpot-RateLimit-Max")
        remaining = _header_int(headers, "X-HubSpot-RateLimit-Remaining")
        interval = header_interval_seconds(headers)
        with self._cond:
            self._answered += 1
            if (
                account_max is None
                or remaining is None
                or not 1 <= account_max <= MAX_ACCOUNT_LIMIT
                or not 0 <= remaining <= account_max
            ):
                return
            now = self._clock()
            if interval is not None and interval != self._interval:
                # The limit is per window: a window of another length holds proportionally more or fewer requests.
                self._limit = max(1.0, self._limit * interval / self._interval)
                self._interval = interval
            self._expire(now)
            margin = max(1.0, account_max * SAFETY_MARGIN)
            # Each other client may have a request on its way that this answer does not count yet.
            clients = (account_max - remaining) / max(1, len(self._sent))
            self._threshold = margin / 2 + min(16.0, max(0.0, clients - 1))
            self._remaining = remaining
            self._observed_at = now
            self._granted_at_obs = self._granted
            # Requests sent before this answer and still unanswered may not be in its count yet. An answer lost
            # to a connection error never arrives, so bound the estimate by what we sent in the window.
            self._in_flight_at_obs = min(max(0, self._granted - self._answered), len(self._sent))
            self._expired_at_obs = self._expired
            others = max(0, account_max - remaining - len(self._sent))
            if not self._start_decided:
                self._start_decided = True
                # Only an answer with nothing else of ours unanswered can tell: requests of ours that HubSpot has
                # not counted yet would hide as many of another client's.
                if others == 0 and self._granted == self._answered:
                    self._idle_extra = IDLE_START_FRACTION * min(self._limit, account_max * self._share)
                    self._idle_until = now + self._interval
            elif others > 0:
                self._idle_extra = 0.0
            if now - self._last_adapt >= ADAPT_EVERY:
                self._last_adapt = now
                # At least one request per window: an account max of 1 less the margin would otherwise be 0.
                ceiling = self._ceiling_per_second * self._interval
                cap = max(1.0, min(ceiling, account_max * self._share, account_max - margin))
                target = min(cap, account_max - others - margin)
                self._limit = min(cap, max(1.0, self._limit + ADAPT_GAIN * (target - self._limit)))
                self._tokens = min(self._tokens, self._burst())
            self._wake()

    def penalise(self, wait: float) -> None:
        """After a 429: halve the limit (once while callers are held) and hold every caller for ``wait`` seconds.

        :param wait: seconds HubSpot asked for (Retry-After or the policy's window).
        """
        wait = min(wait, MAX_PENALTY) if wait > 0 else 0.0  # NaN and negatives hold nobody
        with self._cond:
            now = self._clock()
            # Threads in flight together meet the same full window: one halving per episode, not one per 429.
            if now >= self._blocked_until:
                self._limit = max(1.0, self._limit / 2)
            self._blocked_until = max(self._blocked_until, now + wait)
            self._tokens = min(self._tokens, self._burst())
            self._idle_extra = 0.0

    def stop(self) -> None:
        """Wake every waiting caller with :class:`BudgetStopped` (used by ``on_kill``)."""
        with self._cond:
            self._stopped = True
            self._wake(everyone=True)
