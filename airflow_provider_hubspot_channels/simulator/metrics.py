"""What the simulator saw: a request log and counters, for tests and benchmarks."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestLogEntry:
    """One request.

    :param method: HTTP method.
    :param path: request path without query string.
    :param status: HTTP status answered, or None when the connection was dropped without an answer.
    :param time: wall-clock arrival time (``time.time()``).
    :param duration: seconds from arrival to answer.
    :param fault: the injected fault kind, or None.
    :param hub_id: the account the request's token (or refresh token) belonged to; None when unknown or refused.
    """

    method: str
    path: str
    status: int | None
    time: float
    duration: float
    fault: str | None
    hub_id: int | None = None


class Metrics:
    """Thread-safe request log and counters.

    :param log_limit: keep at most this many log entries (oldest dropped); counters are never truncated.
    """

    def __init__(self, log_limit: int | None = 100_000) -> None:
        self._lock = threading.Lock()
        self._log: deque[RequestLogEntry] = deque(maxlen=log_limit)
        self._status: Counter[int] = Counter()
        self._faults: Counter[str] = Counter()
        self._token_requests = 0
        self._total = 0
        self._by_hub: dict[int, Counter[int | None]] = {}

    def record(self, entry: RequestLogEntry) -> None:
        """Add one request.

        :param entry: the log entry.
        """
        with self._lock:
            self._log.append(entry)
            self._total += 1
            if entry.status is not None:
                self._status[entry.status] += 1
            if entry.fault is not None:
                self._faults[entry.fault] += 1
            if entry.hub_id is not None:
                per_hub = self._by_hub.get(entry.hub_id)
                if per_hub is None:
                    per_hub = self._by_hub[entry.hub_id] = Counter()
                per_hub[entry.status] += 1

    def count_token_request(self) -> None:
        """Count one request to the OAuth token endpoint."""
        with self._lock:
            self._token_requests += 1

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """A copy of the log, oldest first."""
        with self._lock:
            return list(self._log)

    def log_window(self) -> tuple[int, list[RequestLogEntry]]:
        """The sequence number of the oldest entry kept (entries are numbered from 0 since the last reset) and a
        copy of the kept entries, taken together so that the numbers match the entries."""
        with self._lock:
            return self._total - len(self._log), list(self._log)

    @property
    def total_requests(self) -> int:
        """Requests seen since the last reset, including those the bounded log no longer keeps."""
        with self._lock:
            return self._total

    @property
    def log_limit(self) -> int | None:
        """The most entries the log keeps."""
        return self._log.maxlen

    @property
    def status_counts(self) -> Counter[int]:
        """A copy of the answers per status code."""
        with self._lock:
            return Counter(self._status)

    @property
    def faults_injected(self) -> Counter[str]:
        """A copy of the injected faults per kind."""
        with self._lock:
            return Counter(self._faults)

    def account_status_counts(self, hub_id: int) -> Counter[int | None]:
        """A copy of one account's answers per status code (None: dropped without an answer).

        :param hub_id: the account.
        """
        with self._lock:
            return Counter(self._by_hub.get(hub_id, ()))

    @property
    def token_requests(self) -> int:
        """Requests to the OAuth token endpoint (any outcome)."""
        with self._lock:
            return self._token_requests

    def reset(self) -> None:
        """Forget the log and zero every counter."""
        with self._lock:
            self._log.clear()
            self._status.clear()
            self._faults.clear()
            self._token_requests = 0
            self._total = 0
            self._by_hub.clear()
