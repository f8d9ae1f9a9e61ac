"""Fixtures of the simulator tests: simulators that are always stopped, and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sim_helpers import Api

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

SimFactory = Callable[..., HubSpotSimulator]


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    """Start simulators with any options; all are stopped after the test."""
    started: list[HubSpotSimulator] = []

    def factory(**options: Any) -> HubSpotSimulator:
        simulator = HubSpotSimulator(**options).start()
        started.append(simulator)
        return simulator

    yield factory
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(make_sim: SimFactory) -> HubSpotSimulator:
    """A running simulator without rate limit."""
    return make_sim(rate_limit=None)


@pytest.fixture
def api(sim: HubSpotSimulator) -> Iterator[Api]:
    """A client of :func:`sim` with the all-scope token."""
    client = Api(sim)
    yield client
    client.close()
