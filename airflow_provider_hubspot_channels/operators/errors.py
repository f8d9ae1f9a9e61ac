"""How client errors become Airflow task outcomes.

Input, authentication, permission and daily-limit problems fail the task at once (retrying cannot fix them);
transient exhaustion (429/5xx/no answer through every retry) follows the task's own ``retries``. With a task retry
policy (Airflow 3.3+), the daily limit is left to the policy (``operators/retry_policy.py`` retries after the reset).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

try:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 3.1: the Task SDK does not export them yet (on 3.2+ they are the same classes)
    from airflow.exceptions import AirflowException, AirflowFailException  # type: ignore[no-redef,attr-defined]

from airflow_provider_hubspot_channels.client import (
    HubSpotChannelsError,
    HubSpotDailyLimitError,
    HubSpotPermissionError,
    HubSpotTokenRefreshError,
    InvalidInputError,
)

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "HubSpotUnavailableError",
    "airflow_error",
    "checked_at_parse_time",
    "is_templated",
    "retry_policy_decides_daily_limit",
]


@contextlib.contextmanager
def checked_at_parse_time(task_id: str) -> Iterator[None]:
    """Report input errors found while the DAG file is parsed as the ValueError Airflow shows as an import error.

    :param task_id: the operator's task id, named in the message.
    """
    try:
        yield
    except InvalidInputError as exc:
        raise ValueError(f"{task_id}: {exc}") from None


def is_templated(value: object) -> bool:
    """True when ``value`` still holds Jinja and can only be checked after rendering.

    :param value: an operator argument as given in the DAG file.
    """
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class HubSpotUnavailableError(AirflowException):  # type: ignore[misc]
    """A batch stopped because HubSpot answered none of several messages in a row through every client retry.

    Carries no client error (each message has its own in the report): a retry policy reads this class instead.
    """


def retry_policy_decides_daily_limit(task: object) -> bool:
    """Whether the task's retry policy (Airflow 3.3+ ``retry_policy=``) knows HubSpot's daily limit: a
    ``HubSpotRetryPolicy``, alone or inside a ``ChainRetryPolicy``. Any other policy would answer "default" and spend
    the task's retries every ``retry_delay`` until the reset, so then the daily limit fails the task at once.

    :param task: the operator.
    """
    return _knows_daily_limit(getattr(task, "retry_policy", None), depth=0)


def _knows_daily_limit(policy: object, *, depth: int) -> bool:
    if policy is None or depth > 4:
        return False
    # Marked by the class (operators/retry_policy.py), read without importing it (it imports this module).
    if getattr(type(policy), "decides_hubspot_daily_limit", False) is True:
        return True
    nested = getattr(policy, "policies", None)  # ChainRetryPolicy
    return isinstance(nested, list | tuple) and any(_knows_daily_limit(p, depth=depth + 1) for p in nested)


def airflow_error(exc: HubSpotChannelsError, *, conn_id: str, policy_decides: bool = False) -> AirflowException:
    """The Airflow exception for a client error, naming the connection and HubSpot's category and correlationId.

    The client error is its ``__cause__`` however it is raised, so that a retry policy can read the typed error.

    :param exc: what the client raised.
    :param conn_id: the Airflow connection used.
    :param policy_decides: the task's retry policy knows the daily limit (:func:`retry_policy_decides_daily_limit`):
        it is left to it
        (e.g. ``HubSpotRetryPolicy`` retries after the reset) instead of failing at once.
    """
    error = _airflow_error(exc, conn_id=conn_id, policy_decides=policy_decides)
    error.__cause__ = exc
    error.__suppress_context__ = True
    return error


def _airflow_error(exc: HubSpotChannelsError, *, conn_id: str, policy_decides: bool) -> AirflowException:
    prefix = f"HubSpot connection '{conn_id}': "
    if isinstance(exc, InvalidInputError):
        return AirflowFailException(f"Invalid input, nothing was sent to HubSpot. {exc}")
    if isinstance(exc, HubSpotDailyLimitError):
        # Airflow never asks a retry policy about AirflowFailException: with a policy, the policy decides.
        error_class = AirflowException if policy_decides else AirflowFailException
        then = "the task's retry policy decides when to run again" if policy_decides else "run again after the reset"
        return error_class(
            f"{prefix}HubSpot's daily request limit is reached; no further requests were sent. The limit resets at "
            f"midnight in the account's time zone: {then}. {exc}"
        )
    if isinstance(exc, HubSpotPermissionError):
        scopes = ", ".join(exc.missing_scopes) or "see HubSpot's message"
        return AirflowFailException(f"{prefix}the token lacks scopes ({scopes}); reinstall the app with them. {exc}")
    if isinstance(exc, HubSpotTokenRefreshError) and not exc.retry_may_succeed:
        return AirflowFailException(
            f"{prefix}OAuth refresh was refused; check client_id, client_secret and refresh_token "
            f"(the app may have been uninstalled). {exc}"
        )
    # One classification (client/errors.py): a final answer (400, 401, 404, 405, 409, 422, ...) answers the same on a
    # retry of the task, so it fails at once; transient exhaustion, a proxy's 408 and 5xx follow the task's retries.
    if exc.retry_may_succeed:
        return AirflowException(f"{prefix}{exc}")
    return AirflowFailException(f"{prefix}{exc}")
