"""A local HubSpot simulator for the Custom Channels, Conversations Inbox and OAuth APIs.

Standard library only (no Airflow import), binds 127.0.0.1 only. Start it in process::

    from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator

    with HubSpotSimulator(rate_limit=110, faults=FaultConfig(p_503=0.05), seed=7) as sim:
        ...  # point the client at sim.base_url with sim.access_token

Many accounts in one process: ``sim.add_account()`` returns a :class:`SimulatedAccount` with its own data,
tokens and rate limit (one OAuth app, ``sim.client_id``/``sim.client_secret``, for all);
``sim.seed_accounts(n, m)`` seeds ``n`` accounts with ``m`` records each.

or from a shell: ``python -m airflow_provider_hubspot_channels.simulator --help``.
"""

from __future__ import annotations

from .account import SimulatedAccount
from .faults import FAULT_KINDS, FaultConfig
from .metrics import RequestLogEntry
from .scenarios import CLASSIFICATIONS, SCENARIOS, TWO_WAY_CASES, ScenarioSeed
from .server import HubSpotSimulator
from .state import DEFAULT_CHANNEL_ACCOUNT_ID, DEFAULT_CHANNEL_ID, DEFAULT_INBOX_ID

__all__ = [
    "CLASSIFICATIONS",
    "DEFAULT_CHANNEL_ACCOUNT_ID",
    "DEFAULT_CHANNEL_ID",
    "DEFAULT_INBOX_ID",
    "FAULT_KINDS",
    "SCENARIOS",
    "TWO_WAY_CASES",
    "FaultConfig",
    "HubSpotSimulator",
    "RequestLogEntry",
    "ScenarioSeed",
    "SimulatedAccount",
]
