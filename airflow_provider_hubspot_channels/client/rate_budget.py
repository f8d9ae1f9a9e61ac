"""A thread-safe request budget that stays under HubSpot's rolling rate limit and shares it with others.

HubSpot counts requests per account in a rolling window (110 per 10 s for OAuth apps) and reports the state on
every answer in ``X-HubSpot-RateLimit-Max``, ``-Remaining`` and ``-Interval-Milliseconds``. The budget keeps a
log of this client's own send times, so it never sends more than ``limit`` requests in any window (a token bucket
would allow a burst on top of the rate and trip a rolling window). The limit adapts to what the headers tell:

* ``max`` caps it at ``share`` of the account's limit;
* ``max - remaining`` is the account's use in the window; minus our own use it is what *others* use (other
  workers, the live integration). The limit moves a fraction of the way toward ``max - others - margin`` at each
  observation. Several processes doing this converge on equal shares that together stay just under the limit;
  the damping keeps them from oscillating (with n processes a full step would overshoot by n-1 times).
* a 429 halves the limit and holds every thread until the wait is over.
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


class BudgetStopped(Exception):
    """The budget was stopped while a caller waited for a slot."""


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


class RateBudget:
    """Grants request slots so that this client stays under its limit in every rolling window.

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
        self._ceiling = max_requests
        self._interval = interval
        self._share = share
        self._clock = clock
        self._limit = float(max_requests)
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._last_adapt = -math.inf
        self._stopped = False
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        """Requests this client may send in one window right now."""
        with self._cond:
            return max(1, int(self._limit))

    def _expire(self, now: float) -> None:
        horizon = now - self._interval
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def acquire(self) -> float:
        """Wait for a slot and take it; returns the seconds waited. Raises :class:`BudgetStopped` after ``stop()``."""
        start = self._clock()
        with self._cond:
            while True:
                if self._stopped:
                    raise BudgetStopped("the request budget was stopped")
                now = self._clock()
                self._expire(now)
                if now >= self._blocked_until and len(self._sent) < max(1, int(self._limit)):
                    self._sent.append(now)
                    return now - start
                wait = self._blocked_until - now
                if len(self._sent) >= max(1, int(self._limit)):
                    wait = max(wait, self._sent[0] + self._interval - now)
                # Wake at least every 50 ms: the limit may grow while we sleep.
                self._cond.wait(timeout=min(max(wait, 0.001), 0.05))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adapt to HubSpot's rate-limit headers of one answer (absent headers change nothing).

        :param headers: the answer's headers.
        """
        account_max = _header_int(headers, "X-HubSpot-RateLimit-Max")
        remaining = _header_int(headers, "X-HubSpot-RateLimit-Remaining")
        if account_max is None or remaining is None or account_max <= 0:
            return
        interval_ms = _header_int(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        with self._cond:
            now = self._clock()
            if interval_ms and interval_ms > 0:
                self._interval = interval_ms / 1000
            if now - self._last_adapt < ADAPT_EVERY:
                return
            self._last_adapt = now
            self._expire(now)
            margin = max(1.0, account_max * SAFETY_MARGIN)
            others = max(0, account_max - remaining - len(self._sent))
            cap = min(float(self._ceiling), account_max * self._share, account_max - margin)
            target = min(cap, account_max - others - margin)
            self._limit = min(cap, max(1.0, self._limit + ADAPT_GAIN * (target - self._limit)))
            self._cond.notify_all()

    def penalise(self, wait: float) -> None:
        """After a 429: halve the limit and hold every caller for ``wait`` seconds.

        :param wait: seconds HubSpot asked for (Retry-After or the policy's window).
        """
        with self._cond:
            self._blocked_until = max(self._blocked_until, self._clock() + wait)
            self._limit = max(1.0, self._limit / 2)

    def stop(self) -> None:
        """Wake every waiting caller with :class:`BudgetStopped` (used by ``on_kill``)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
