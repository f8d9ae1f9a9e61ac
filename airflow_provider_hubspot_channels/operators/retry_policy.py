"""A HubSpot-aware task retry policy for Airflow 3.3's ``retry_policy=`` (AIP-105): typed errors decide the retry.

===================================  =========================  =====================================================
The task failed because              Kind                       Decision
===================================  =========================  =====================================================
429 ``DAILY`` (daily limit spent)    ``daily_limit``            RETRY after the next midnight in the account's time
                                                                zone plus ``reset_margin``
401 token refused, OAuth refresh     ``refused``                FAIL at once: a retry gets the same answer
refused, 403 scope missing, other
final 4xx (400, 404, 409, ...),
invalid input
no answer / 5xx through every        ``unavailable``            RETRY after ``unavailable_delay``, doubled each try,
client retry (HubSpot down; also a                              at most ``max_unavailable_delay``
batch stopped for it)
anything else (429 exhausted, a      none                       DEFAULT: the task's own ``retries``/``retry_delay``
killed or timed-out batch, ...)
===================================  =========================  =====================================================

Retries stay bounded by the task's ``retries``: Airflow treats RETRY as DEFAULT once they are spent. The policy only
classifies; it sends nothing. On Airflow 3.1/3.2 there are no retry policies: this module still imports,
:data:`RETRY_POLICIES_SUPPORTED` is False and :func:`retry_policy_kwargs` returns ``{}``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_hubspot_channels.client import (
    ClientStoppedError,
    HubSpotChannelsError,
    HubSpotConnectionError,
    HubSpotDailyLimitError,
    HubSpotRetriesExhaustedError,
    HubSpotTokenRefreshError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.operators.errors import HubSpotUnavailableError

if TYPE_CHECKING:
    from airflow.sdk.definitions.retry_policy import RetryAction, RetryDecision, RetryPolicy

    RETRY_POLICIES_SUPPORTED = True
else:
    try:
        # common.compat hands out the SDK's classes from Airflow 3.3 on, and nothing before.
        from airflow.providers.common.compat.sdk import RetryAction, RetryDecision, RetryPolicy
    except ImportError:  # Airflow 3.1/3.2, or a common.compat older than retry policies
        try:
            from airflow.sdk.definitions.retry_policy import RetryAction, RetryDecision, RetryPolicy
        except ImportError:
            RetryPolicy = object
            RETRY_POLICIES_SUPPORTED = False
        else:
            RETRY_POLICIES_SUPPORTED = True
    else:
        RETRY_POLICIES_SUPPORTED = True

__all__ = [
    "RETRY_POLICIES_SUPPORTED",
    "FailureKind",
    "HubSpotRetryPolicy",
    "failure_kind",
    "next_daily_reset",
    "retry_policy_kwargs",
]

#: How far along ``__cause__``/``__context__`` the typed error is looked for (the operators wrap it once).
_CHAIN_DEPTH = 8


class FailureKind(str, enum.Enum):
    """What a task failure means for a retry of the task."""

    DAILY_LIMIT = "daily_limit"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"


def _kind_of(error: HubSpotChannelsError) -> FailureKind | None:
    if isinstance(error, HubSpotDailyLimitError):
        return FailureKind.DAILY_LIMIT
    if isinstance(error, ClientStoppedError):
        return None  # the task was killed or timed out: Airflow's own rules apply
    if isinstance(error, HubSpotConnectionError):
        return FailureKind.UNAVAILABLE if error.retry_may_succeed else FailureKind.REFUSED
    if isinstance(error, (HubSpotRetriesExhaustedError, HubSpotTokenRefreshError)) and error.details.status >= 500:
        return FailureKind.UNAVAILABLE
    if isinstance(error, InvalidInputError) or not error.retry_may_succeed:
        return FailureKind.REFUSED
    return None  # 429/423 through every client retry: the account is busy, the task's own delay fits


def failure_kind(exception: BaseException) -> FailureKind | None:
    """The kind of the first typed HubSpot error in ``exception``'s chain (itself, ``__cause__``, ``__context__``).

    :param exception: what the task raised: a client error, or the operators' Airflow exception raised from one.
    """
    seen: set[int] = set()
    current: BaseException | None = exception
    for _ in range(_CHAIN_DEPTH):
        if current is None or id(current) in seen:
            return None
        seen.add(id(current))
        if isinstance(current, HubSpotChannelsError):
            return _kind_of(current)
        if isinstance(current, HubSpotUnavailableError):
            return FailureKind.UNAVAILABLE
        current = current.__cause__ or current.__context__
    return None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            "account_timezone",
            f"{name!r} is not a known time zone",
            "use the IANA name of the HubSpot account's time zone (Settings > Account defaults), e.g. 'Europe/Berlin'",
        ) from None


def last_daily_reset(now: datetime, account_timezone: str) -> datetime:
    """The last midnight in the account's time zone at or before ``now``.

    :param now: an aware instant.
    :param account_timezone: IANA name of the HubSpot account's time zone.
    """
    zone = _zone(account_timezone)
    local = now.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(timezone.utc)


def next_daily_reset(now: datetime, account_timezone: str) -> datetime:
    """The next midnight in the account's time zone after ``now``: when HubSpot resets the daily limit.

    :param now: an aware instant.
    :param account_timezone: IANA name of the HubSpot account's time zone.
    """
    zone = _zone(account_timezone)
    local = now.astimezone(zone)
    # Midnight of the next local date; via wall time, so that a day of 23 or 25 hours still ends at midnight.
    tomorrow = local.date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).astimezone(timezone.utc)


def _positive(value: timedelta, field: str, *, allow_zero: bool = False) -> timedelta:
    if not isinstance(value, timedelta) or value < timedelta(0) or (value == timedelta(0) and not allow_zero):
        raise InvalidInputError(
            field, f"{value!r} is not a positive timedelta", f"pass e.g. {field}=timedelta(minutes=10)"
        )
    return value


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class HubSpotRetryPolicy(RetryPolicy):  # type: ignore[misc]
    """Retry a HubSpot task when a retry can succeed, and when it can: see the module's table.

    :param account_timezone: IANA time zone of the HubSpot account; its midnight resets the daily limit.
    :param reset_margin: waited past that midnight (clocks differ; a retry just before the reset is wasted).
    :param unavailable_delay: first wait after HubSpot did not answer through every client retry; doubles each try.
    :param max_unavailable_delay: the longest such wait.
    :param clock: the current instant (tests pass a fixed one).
    """

    #: Read by the operators (``retry_policy_decides_daily_limit``): the daily limit is left to this policy.
    decides_hubspot_daily_limit = True

    def __init__(
        self,
        *,
        account_timezone: str = "UTC",
        reset_margin: timedelta = timedelta(minutes=5),
        unavailable_delay: timedelta = timedelta(minutes=10),
        max_unavailable_delay: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        _zone(account_timezone)
        self.account_timezone = account_timezone
        self.reset_margin = _positive(reset_margin, "reset_margin", allow_zero=True)
        self.unavailable_delay = _positive(unavailable_delay, "unavailable_delay")
        self.max_unavailable_delay = max(_positive(max_unavailable_delay, "max_unavailable_delay"), unavailable_delay)
        self.clock = clock

    def __repr__(self) -> str:
        return f"HubSpotRetryPolicy(account_timezone={self.account_timezone!r})"

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        """Decide the retry from the typed error behind ``exception``.

        :param exception: what the task raised.
        :param try_number: the try that failed (1-based).
        :param max_tries: the task's tries; Airflow never retries past them.
        :param context: the task context (unused).
        """
        kind = failure_kind(exception)
        if kind is FailureKind.DAILY_LIMIT:
            now = self.clock()
            at = last_daily_reset(now, self.account_timezone) + self.reset_margin
            if at <= now:
                at = next_daily_reset(now, self.account_timezone) + self.reset_margin
            # else: within the margin after midnight the answer was the old day's (HubSpot's reset lags our clock)
            local = at.astimezone(_zone(self.account_timezone)).isoformat()
            return RetryDecision.retry(at - now, f"HubSpot's daily limit is spent; retry after its reset, at {local}")
        if kind is FailureKind.REFUSED:
            return RetryDecision.fail("HubSpot refused the request for good (a retry gets the same answer)")
        if kind is FailureKind.UNAVAILABLE:
            doublings = min(max(try_number, 1) - 1, 16)
            delay = min(self.unavailable_delay * 2**doublings, self.max_unavailable_delay)
            return RetryDecision.retry(delay, "HubSpot did not answer through every client retry; retry later")
        return RetryDecision(action=RetryAction.DEFAULT)


def retry_policy_kwargs(policy: HubSpotRetryPolicy | None = None) -> dict[str, Any]:
    """``{"retry_policy": policy}`` where Airflow has task retry policies (3.3+), else ``{}``: ``**`` it into an
    operator so one DAG file runs on every supported Airflow.

    :param policy: the policy to attach; a default :class:`HubSpotRetryPolicy` when None.
    """
    if not RETRY_POLICIES_SUPPORTED:
        return {}
    return {"retry_policy": policy if policy is not None else HubSpotRetryPolicy()}
