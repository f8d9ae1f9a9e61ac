"""E2E tests start services in their own process groups: make sure a SIGTERM (CI's ``timeout``, Ctrl-C's cousin)
still runs the tests' ``finally`` blocks that stop them, instead of killing pytest and orphaning Airflow."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}: stopping the services this test started")


@pytest.fixture(autouse=True, scope="session")
def _sigterm_runs_cleanup() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
