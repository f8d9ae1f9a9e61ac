"""Alert when a reconciliation marked too many messages FAILED: scheduled on the reconciliation's asset.

``example_hubspot_reconcile_messages`` declares ``outlets=[Asset("hubspot-channels://all")]``; each successful run
of its ``reconcile`` task emits an asset event whose extra holds the run's counts (``marked_failed``,
``marked_failed_by_carrier``, ``counts``, ``dry_run``, ``reference_time``, ``channel_ids``, ``report_path``). This DAG
runs on every such event and fails its ``check`` task, naming the runs and their reports, when more messages than
``max_failed`` were marked FAILED (a failed task is the alert: attach ``on_failure_callback`` or a notifier to reach
people). Dry runs count what they would have marked. It reads only the events, never HubSpot: it needs no connection.

A reconcile task that fails emits no event (Airflow's rule for outlets): that failure is alerted on by the producer's
own failure handling.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined]

#: The asset example_hubspot_reconcile_messages updates.
RECONCILED = Asset("hubspot-channels://all")

log = logging.getLogger(__name__)


def failed_in(extra: dict[str, Any], *, include_carrier: bool) -> int:
    """Messages a run marked FAILED (or, in a dry run, would have), from its event's extra."""
    counts = extra.get("counts") or {}
    prefix = "would_mark" if extra.get("dry_run") else "marked"
    failed = int(counts.get(f"{prefix}_failed", 0))
    if include_carrier:
        failed += int(counts.get(f"{prefix}_failed_by_carrier", 0))
    return failed


@dag(
    dag_id="example_hubspot_alert_on_failed_messages",
    schedule=[RECONCILED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    params={
        "max_failed": Param(10, type="integer", minimum=0, description="Alert when a run marks more FAILED"),
        "include_carrier": Param(
            True, type="boolean", description="Count messages the carrier reported failed, not only stale ones"
        ),
    },
    tags=["hubspot", "example", "assets"],
    doc_md=__doc__,
)
def example_hubspot_alert_on_failed_messages() -> None:
    @task
    def check(params: dict[str, Any], triggering_asset_events: Any = None) -> dict[str, int]:
        """Fail (the alert) when a triggering run marked more than ``max_failed`` messages FAILED."""
        # Indexed, not .get(): Airflow 3.1's Asset is unhashable, so a plain dict (a manual run's) cannot be asked.
        try:
            events = list(triggering_asset_events[RECONCILED]) if triggering_asset_events else []
        except KeyError:
            events = []
        if not events:
            log.info("No reconciliation event triggered this run (a manual run?): nothing to check.")
            return {}
        failed = {
            f"{event.source_dag_id}/{event.source_run_id}": failed_in(
                dict(event.extra or {}), include_carrier=params["include_carrier"]
            )
            for event in events
        }
        over = {run: count for run, count in failed.items() if count > params["max_failed"]}
        for event in events:
            extra = dict(event.extra or {})
            log.info(
                "%s/%s: %s of %s messages marked FAILED (dry run: %s), channels %s, report %s",
                event.source_dag_id,
                event.source_run_id,
                failed_in(extra, include_carrier=params["include_carrier"]),
                extra.get("total"),
                extra.get("dry_run"),
                extra.get("channel_ids"),
                extra.get("report_path"),
            )
        if over:
            raise AirflowFailException(
                f"Reconciliation marked more than {params['max_failed']} messages FAILED: "
                + ", ".join(f"{run}: {count}" for run, count in over.items())
                + ". Look at the reports named above (the carrier, the bridge or the SLA may be at fault)."
            )
        return failed

    check()


example_hubspot_alert_on_failed_messages()
