"""A batch's metrics through Airflow's stats interface (statsd, Datadog or OpenTelemetry, as the deployment set up).

Names (Airflow adds its ``[metrics] statsd_prefix``, e.g. ``airflow.``); every metric carries the tags ``dag_id``,
``task_id`` and ``conn_id`` where the backend sends tags:

* ``hubspot_channels.outcome.<outcome>`` (counter): messages that ended with this outcome (``marked_failed``, ...).
* ``hubspot_channels.requests`` (counter): HubSpot API requests sent, retries included.
* ``hubspot_channels.responses.<2xx|4xx|5xx>`` (counter): answers by class.
* ``hubspot_channels.rate_limited`` (counter): 429 answers.
* ``hubspot_channels.no_answer`` (counter): requests that got no answer.
* ``hubspot_channels.retries`` (counter): requests retried by the client.
* ``hubspot_channels.rate_budget_wait`` (timer): time spent waiting for the rate budget.
* ``hubspot_channels.retry_wait`` (timer): time spent waiting before retries.
* ``hubspot_channels.run_duration`` (timer): wall time of the batch.

Counters at zero are not sent; timers always are. A metrics backend that fails never fails the task.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

# Airflow 3.2+: the Task SDK's public stats interface (there `airflow.stats` is a shim warning
# DeprecatedImportWarning). Airflow 3.1 has no `airflow.sdk.observability`; its `airflow.stats` is current, not
# deprecated, so the fallback never warns.
try:
    from airflow.sdk.observability.stats import Stats
except ImportError:  # Airflow 3.1
    from airflow.stats import Stats  # type: ignore[no-redef,attr-defined]

from airflow_provider_hubspot_channels.client.usage import UsageSnapshot
from airflow_provider_hubspot_channels.reconciliation import Outcome

log = logging.getLogger(__name__)

PREFIX = "hubspot_channels"
RESPONSE_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def metric_names() -> list[str]:
    """Every name this module may emit (for docs and dashboards)."""
    names = [f"{PREFIX}.outcome.{outcome.value}" for outcome in Outcome]
    names += [f"{PREFIX}.responses.{cls}" for cls in RESPONSE_CLASSES]
    names += [f"{PREFIX}.{name}" for name in ("requests", "rate_limited", "no_answer", "retries")]
    names += [f"{PREFIX}.{name}" for name in ("rate_budget_wait", "retry_wait", "run_duration")]
    return names


def outcomes_of_this_try(counts: dict[str, int], earlier: dict[str, int] | None) -> dict[str, int]:
    """The outcome counts this try added: a resumed batch's summary also holds the rows an earlier try settled (and
    that try, if it ended, already emitted them).

    :param counts: the summary's counts (the whole batch).
    :param earlier: the counts kept from earlier tries, or None.
    """
    earlier = earlier or {}
    return {kind: max(0, int(count) - int(earlier.get(kind, 0))) for kind, count in counts.items()}


def emit_batch_metrics(
    task: Any, summary: dict[str, Any], usage: UsageSnapshot | None, *, earlier_counts: dict[str, int] | None = None
) -> None:
    """Emit one batch's counters and timers once, at its end.

    :param task: the operator (``dag_id``, ``task_id``, ``hubspot_conn_id`` become tags).
    :param summary: the run summary (``counts``, ``duration_seconds``).
    :param usage: the client's counters, or None when the run sent nothing (a dry run without verification).
    :param earlier_counts: outcome counts a resumed batch kept from earlier tries (not emitted again).
    """
    tags = {
        "dag_id": str(getattr(task, "dag_id", "")),
        "task_id": str(getattr(task, "task_id", "")),
        "conn_id": str(getattr(task, "hubspot_conn_id", "")),
    }
    this_try = outcomes_of_this_try(summary.get("counts", {}), earlier_counts)
    counters = {f"outcome.{kind}": count for kind, count in this_try.items()}
    timers = {"run_duration": float(summary.get("duration_seconds") or 0.0)}
    if usage is not None:
        counters.update(
            requests=usage.requests,
            rate_limited=usage.rate_limited,
            no_answer=usage.no_answer,
            retries=usage.retries,
        )
        counters.update({f"responses.{cls}": count for cls, count in usage.responses.items()})
        timers.update(rate_budget_wait=usage.budget_wait_seconds, retry_wait=usage.retry_wait_seconds)
    try:
        for name, count in counters.items():
            if count > 0:
                Stats.incr(f"{PREFIX}.{name}", count, tags=tags)
        for name, seconds in timers.items():
            Stats.timing(f"{PREFIX}.{name}", timedelta(seconds=seconds), tags=tags)
    except Exception:
        # Metrics are for watching the task, never a reason for it to fail.
        log.warning("Could not emit HubSpot metrics", exc_info=True)
