"""Why a batch or an account stopped, in the words its rows and the task's error use, and what fixes it."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_hubspot_channels.client import (
    HubSpotAuthenticationError,
    HubSpotChannelsError,
    HubSpotConnectionError,
    HubSpotDailyLimitError,
    HubSpotPermissionError,
    HubSpotTokenRefreshError,
)
from airflow_provider_hubspot_channels.runner.accounts import Account


def ready(account: Account) -> bool:
    """Whether an open account's client can send now (a client without a budget always can).

    :param account: the account's state in the run.
    """
    budget = getattr(account.client, "budget", None)
    ready = getattr(budget, "ready", None)
    return True if ready is None else bool(ready())


def account_stop_reason(exc: HubSpotChannelsError, redact: Callable[[str], str]) -> str:
    """Why an account stopped and what fixes it, e.g. ``stopped: ...; renew this account's token ...``.

    :param exc: the error that stopped it.
    :param redact: removes secrets from the error's text.
    """
    if isinstance(exc, HubSpotDailyLimitError):
        return f"{stop_reason(exc)}; run again after the reset"
    if isinstance(exc, HubSpotPermissionError):
        return f"{stop_reason(exc)}; reinstall the app in this account with the scopes it lacks ({redact(str(exc))})"
    if isinstance(exc, HubSpotTokenRefreshError):
        return (
            f"stopped: its OAuth refresh was refused ({redact(str(exc))}); check this account's refresh token (the "
            "app may have been uninstalled there)"
        )
    if isinstance(exc, HubSpotAuthenticationError):
        return f"{stop_reason(exc)}; renew this account's token (its connection or refresh token)"
    # Missing or unreadable credentials: the error names the connection or query and the fix itself.
    return f"stopped: {redact(str(exc))}"


def stop_reason(exc: HubSpotChannelsError) -> str:
    """Why the batch (or, with many accounts, one account) stopped.

    :param exc: the error that stopped it.
    """
    if isinstance(exc, HubSpotDailyLimitError):
        return "stopped: HubSpot's daily request limit is reached"
    if isinstance(exc, HubSpotPermissionError):
        return "stopped: the token lacks a required scope"
    if isinstance(exc, HubSpotConnectionError):
        return f"stopped: HubSpot cannot be reached as configured ({exc})"
    return "stopped: HubSpot refused the credentials"
