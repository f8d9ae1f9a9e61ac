"""What one client sent and waited for: counters its request loop updates, read as a snapshot (metrics, benchmarks).

No Airflow import: the operators turn a snapshot into Airflow metrics (``operators/metrics.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _no_responses() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True)
class UsageSnapshot:
    """The counters at one moment.

    :param requests: API requests sent (every attempt, retries included; OAuth token calls not included).
    :param responses: answers by class of status code: ``{"2xx": n, "4xx": n, "5xx": n}`` (absent classes omitted).
    :param rate_limited: answers with status 429 (any policy, ``DAILY`` included); also counted under ``4xx``.
    :param no_answer: attempts that got no answer (connection refused or reset, timeout).
    :param retries: retries of a request after a transient answer or no answer.
    :param retry_wait_seconds: seconds spent waiting before those retries.
    :param budget_wait_seconds: seconds calls waited for the rate budget before sending.
    """

    requests: int = 0
    responses: Mapping[str, int] = field(default_factory=_no_responses)
    rate_limited: int = 0
    no_answer: int = 0
    retries: int = 0
    retry_wait_seconds: float = 0.0
    budget_wait_seconds: float = 0.0


class UsageCounters:
    """Thread-safe counters shared by every thread using one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._responses: dict[str, int] = {}
        self._rate_limited = 0
        self._no_answer = 0
        self._retries = 0
        self._retry_wait = 0.0
        self._budget_wait = 0.0

    def request_sent(self) -> None:
        """One attempt went out."""
        with self._lock:
            self._requests += 1

    def answered(self, status: int) -> None:
        """An attempt got an answer.

        :param status: its HTTP status code.
        """
        key = f"{status // 100}xx"
        with self._lock:
            self._responses[key] = self._responses.get(key, 0) + 1
            if status == 429:
                self._rate_limited += 1

    def not_answered(self) -> None:
        """An attempt got no answer."""
        with self._lock:
            self._no_answer += 1

    def retry_waited(self, seconds: float) -> None:
        """A retry is about to be sent after waiting ``seconds``.

        :param seconds: the wait before it.
        """
        with self._lock:
            self._retries += 1
            self._retry_wait += seconds

    def budget_waited(self, seconds: float) -> None:
        """A call waited ``seconds`` for the rate budget.

        :param seconds: the wait.
        """
        with self._lock:
            self._budget_wait += seconds

    def snapshot(self) -> UsageSnapshot:
        """A consistent copy of every counter."""
        with self._lock:
            return UsageSnapshot(
                requests=self._requests,
                responses=MappingProxyType(dict(self._responses)),
                rate_limited=self._rate_limited,
                no_answer=self._no_answer,
                retries=self._retries,
                retry_wait_seconds=self._retry_wait,
                budget_wait_seconds=self._budget_wait,
            )
