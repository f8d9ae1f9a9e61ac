"""When to retry a HubSpot answer, and how long to wait first: pure decisions, no I/O.

HubSpot's habits (see its usage guidelines): 429 ``TEN_SECONDLY_ROLLING``/``SECONDLY`` means wait for the window
and retry, 429 ``DAILY`` means stop until tomorrow, 423 asks for at least 2 s, 477 says how long in
``Retry-After``, and its gateways answer 502/503/504/521/523/524 (often with HTML) during short outages.
Which answers are retried at all is :attr:`ErrorDetails.is_transient`: 400/401/403/404 and other 4xx are final.
PATCH is retried too: setting a status is idempotent by value, so repeating it after a lost answer does no harm.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from airflow_provider_hubspot_channels.client.errors import RETRYABLE_SERVER_STATUSES as RETRYABLE_SERVER_STATUSES
from airflow_provider_hubspot_channels.client.errors import ErrorDetails
from airflow_provider_hubspot_channels.client.rate_budget import header_interval_seconds

#: Rolling windows of HubSpot's retryable rate-limit policies, in seconds.
POLICY_WINDOWS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or HTTP date), or None if absent or unreadable.

    :param headers: response headers (case-insensitive mapping, as requests gives).
    :param now: current epoch seconds, for HTTP dates.
    """
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        # NaN and infinity are no answer; a huge finite value is, and the caller's total wait refuses it.
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with HubSpot-specific waits.

    :param max_retries: retries after the first attempt.
    :param max_total_wait: seconds one call may spend waiting in total; a wait that would pass it is not taken.
    :param backoff_base: first backoff in seconds for 5xx and lost answers; doubles each retry.
    :param backoff_max: the largest single backoff.
    :param lock_wait: the least wait after a 423 (HubSpot asks for 2 s).
    :param rng: source of jitter (seeded in tests).
    """

    max_retries: int = 5
    max_total_wait: float = 120.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    lock_wait: float = 2.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, retry_number: int) -> float:
        """Exponential backoff with jitter in its upper half, so that many workers do not retry in step.

        :param retry_number: 1 for the first retry.
        """
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (retry_number - 1))
        jitter: float = self.rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter

    def delay(
        self,
        *,
        retry_number: int,
        waited: float,
        details: ErrorDetails | None,
        headers: Mapping[str, str],
    ) -> float | None:
        """Seconds to wait before retry ``retry_number``, or None when the answer is final.

        :param retry_number: 1 for the first retry.
        :param waited: seconds this call already waited between attempts.
        :param details: the error answer, or None when no answer came (connection error, timeout).
        :param headers: the answer's headers (empty without an answer).
        """
        if retry_number > self.max_retries:
            return None
        wait = self._wait_for(retry_number, details, headers)
        if wait is None or waited + wait > self.max_total_wait:
            return None
        return wait

    def _wait_for(self, retry_number: int, details: ErrorDetails | None, headers: Mapping[str, str]) -> float | None:
        if details is None:
            return self.backoff(retry_number)
        if details.is_final:
            return None
        status = details.status
        retry_after = parse_retry_after(headers)
        if status == 429:
            if retry_after is not None:
                return retry_after
            policy = (details.policy_name or "").upper()
            if policy == "SECONDLY":
                return POLICY_WINDOWS[policy]
            # The rolling window's length as HubSpot states it for this account beats the policy's nominal name,
            # when it is plausible (the rate budget's bounds).
            interval = header_interval_seconds(headers)
            return interval if interval is not None else POLICY_WINDOWS["TEN_SECONDLY_ROLLING"]
        if status == 423:
            return max(self.lock_wait, retry_after or 0.0, self.backoff(retry_number))
        if status == 477:
            return retry_after if retry_after is not None else self.backoff(retry_number)
        return max(retry_after or 0.0, self.backoff(retry_number))  # 408 and 5xx
