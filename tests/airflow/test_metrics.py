"""Metrics reach Airflow's own stats logger: a real ``dag.test()`` with statsd on, datagrams read from a UDP socket.

The statsd backend is Airflow's (``[metrics] statsd_on``), initialised the way Airflow's task runner does it; the
socket on 127.0.0.1 plays the statsd daemon.
"""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.simulator import FaultConfig
from tests.airflow.test_example_dags import get_dag, seed, task_states

pytestmark = pytest.mark.airflow

PREFIX = "airflow.hubspot_channels."


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A UDP socket on 127.0.0.1 that Airflow's statsd backend sends to; the backend is reset afterwards."""
    pytest.importorskip("statsd", reason="Airflow's statsd backend needs the statsd package (apache-airflow[statsd])")
    # The Task SDK's stats logger (Airflow 3.2+) is what this fixture points at the socket; 3.1 has airflow.stats.
    pytest.importorskip("airflow.sdk._shared.observability", reason="Airflow 3.1 has no Task SDK stats logger to set")
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(sock.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    # What Airflow's task runner does at start (task_runner.main); dag.test() runs tasks in this process.
    initialize_stats(stats, stats_utils, factory=None)
    try:
        yield sock
    finally:
        initialize_stats(stats, stats_utils, factory=NoStatsLogger)
        sock.close()


def initialize_stats(stats: Any, stats_utils: Any, *, factory: Any) -> None:
    """Set the Task SDK's stats logger as this Airflow's task runner does (``factory=None``: from the config).

    3.3 has a module-level ``stats.initialize(factory=..., export_legacy_names=...)``; 3.2 has
    ``Stats.initialize(factory=...)`` with ``get_stats_factory(Stats)``.
    """
    if hasattr(stats, "initialize"):
        stats.initialize(factory=factory or stats_utils.get_stats_factory(), export_legacy_names=False)
    else:
        stats.Stats.initialize(factory=factory or stats_utils.get_stats_factory(stats.Stats))


def received(sock: socket.socket) -> dict[str, list[tuple[float, str]]]:
    """Our datagrams so far, by name: ``[(value, type), ...]`` (``c`` counter, ``ms`` timer)."""
    found: dict[str, list[tuple[float, str]]] = defaultdict(list)
    while True:
        try:
            data = sock.recv(65536).decode()
        except TimeoutError:
            return found
        for line in data.splitlines():
            name, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            if name.startswith(PREFIX):
                found[name.removeprefix(PREFIX)].append((float(value), kind.split("|")[0]))


def test_a_reconcile_run_emits_its_metrics_through_airflows_statsd(
    airflow_db, simulator, hubspot_conn, fresh_store, statsd
):
    end = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    seed(
        simulator,
        fresh_store,
        [
            ("stale-1", 30, "pending", None),
            ("stale-2", 30, "pending", None),
            ("stale-read", 30, "pending", "READ"),
            ("fresh-1", 5, "pending", None),
        ],
        end=end,
    )
    # the first PATCH gets HubSpot's 429 (ten-secondly), the client waits 0 s and retries it
    simulator.set_faults(FaultConfig(script=("429",), retry_after=0, only_methods=frozenset({"PATCH"})))
    dag_run = get_dag("example_hubspot_reconcile_messages").test(logical_date=end)
    assert dag_run.state == "success", task_states(dag_run)
    sent = len([e for e in simulator.request_log if not e.path.startswith("/oauth")])
    metrics = received(statsd)

    def count(name: str) -> float:
        values = metrics.get(name, [])
        assert all(kind == "c" for _, kind in values), (name, values)
        return sum(value for value, _ in values)

    assert count("outcome.marked_failed") == 2
    assert count("outcome.skipped_read_in_hubspot") == 1
    assert count("requests") == sent
    assert count("responses.2xx") == sent - 1 and count("responses.4xx") == 1
    assert count("rate_limited") == 1
    assert count("retries") == 1
    for timer in ("run_duration", "rate_budget_wait", "retry_wait"):
        values = metrics.get(timer)
        assert values and all(kind == "ms" and value >= 0 for value, kind in values), (timer, metrics)
    assert "no_answer" not in metrics  # zero counters are not sent


def test_a_failed_batch_emits_its_metrics_too(airflow_db, simulator, hubspot_conn, fresh_store, statsd):
    end = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    seed(simulator, fresh_store, [("stale-1", 30, "pending", None), ("refused-1", 30, "pending", None)], end=end)
    simulator.set_faults(FaultConfig(script=("400",), only_methods=frozenset({"PATCH"}), only_paths=("*/refused-1",)))
    dag_run = get_dag("example_hubspot_reconcile_messages").test(logical_date=end)
    assert task_states(dag_run)["reconcile"] == "failed"
    metrics = received(statsd)
    assert sum(v for v, _ in metrics["outcome.refused"]) == 1
    assert sum(v for v, _ in metrics["outcome.marked_failed"]) == 1


def test_metric_names_are_valid_for_every_outcome():
    from airflow_provider_hubspot_channels.operators.metrics import metric_names
    from airflow_provider_hubspot_channels.reconciliation import Outcome

    names = metric_names()
    assert {f"hubspot_channels.outcome.{o.value}" for o in Outcome} <= set(names)
    stats = pytest.importorskip(
        "airflow.sdk.observability.stats", reason="Airflow 3.1 has no normalize_name_for_stats to check names against"
    )
    normalize_name_for_stats = stats.normalize_name_for_stats

    for name in names:
        assert normalize_name_for_stats(name, log_warning=False) == name and len(name) <= 250


@pytest.fixture
def fresh_store():
    import os

    path = os.environ["HUBSPOT_CHANNELS_STORE"]
    if os.path.exists(path):
        os.remove(path)
    return path
