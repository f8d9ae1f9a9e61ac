"""HubSpot's per-account rate limits: a rolling window (110 requests per 10 s for OAuth apps) and an optional
daily limit.

Assumptions where HubSpot is silent:

* A request refused with 429 does not consume budget: only answered requests enter the window. A client that
  keeps hammering therefore recovers as soon as the window rolls, which is the kindest reading of "rolling".
* The daily counter resets at midnight UTC (HubSpot resets at midnight in the account's time zone).
* ``X-HubSpot-RateLimit-Max``, ``-Remaining`` and ``-Interval-Milliseconds`` are sent on every authenticated API
  answer, 429s included; with a daily limit, ``X-HubSpot-RateLimit-Daily`` and ``-Daily-Remaining`` too (HubSpot
  sends those to privately distributed apps, the ones with a daily limit).
* No ``Retry-After`` on the window's own 429s (HubSpot does not document one).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may proceed, and the headers to send either way.

    :param allowed: False when the request must be answered with 429.
    :param policy: the exhausted policy when refused (``TEN_SECONDLY_ROLLING`` or ``DAILY``).
    :param headers: rate-limit headers for the answer.
    """

    allowed: bool
    policy: str | None
    headers: tuple[tuple[str, str], ...]


class RateLimiter:
    """Rolling-window and daily limits of the one simulated account.

    :param max_requests: requests per window, or None for no limit (no headers either).
    :param window_seconds: length of the rolling window.
    :param daily_limit: requests per UTC day, or None.
    :param clock: monotonic clock, replaceable in tests.
    """

    def __init__(
        self,
        max_requests: int | None,
        window_seconds: float = 10.0,
        daily_limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests is not None and max_requests < 1:
            raise ValueError("max_requests must be at least 1 (or None for no limit)")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if daily_limit is not None and daily_limit < 1:
            raise ValueError("daily_limit must be at least 1 (or None)")
        self.max_requests = max_requests
        self.window_seconds = window_seconds
        self.daily_limit = daily_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()
        self._day = ""
        self._day_count = 0

    @property
    def enabled(self) -> bool:
        """Whether any limit applies."""
        return self.max_requests is not None or self.daily_limit is not None

    def acquire(self) -> RateDecision:
        """Count one authenticated API request, or refuse it."""
        if not self.enabled:
            return RateDecision(True, None, ())
        now = self._clock()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        with self._lock:
            self._prune(now)
            if today != self._day:
                self._day, self._day_count = today, 0
            policy = None
            if self.daily_limit is not None and self._day_count >= self.daily_limit:
                policy = DAILY
            elif self.max_requests is not None and len(self._stamps) >= self.max_requests:
                policy = TEN_SECONDLY_ROLLING
            if policy is None:
                self._stamps.append(now)
                self._day_count += 1
            headers = self._headers()
        return RateDecision(policy is None, policy, headers)

    def peek_headers(self) -> tuple[tuple[str, str], ...]:
        """The current headers without counting a request (for answers that consume no budget)."""
        if not self.enabled:
            return ()
        with self._lock:
            self._prune(self._clock())
            return self._headers()

    def _prune(self, now: float) -> None:
        horizon = now - self.window_seconds
        stamps = self._stamps
        while stamps and stamps[0] <= horizon:
            stamps.popleft()

    def _headers(self) -> tuple[tuple[str, str], ...]:
        headers: list[tuple[str, str]] = []
        if self.max_requests is not None:
            remaining = max(0, self.max_requests - len(self._stamps))
            headers += [
                ("X-HubSpot-RateLimit-Max", str(self.max_requests)),
                ("X-HubSpot-RateLimit-Remaining", str(remaining)),
                ("X-HubSpot-RateLimit-Interval-Milliseconds", str(round(self.window_seconds * 1000))),
            ]
        if self.daily_limit is not None:
            headers += [
                ("X-HubSpot-RateLimit-Daily", str(self.daily_limit)),
                ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, self.daily_limit - self._day_count))),
            ]
        return tuple(headers)
