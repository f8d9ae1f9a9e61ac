"""Backfill after an outage: reconcile past windows, one run per hour, with ``airflow backfill create``.

Each run handles the messages whose SLA ran out inside its data interval: those created in
``(data_interval_start - SLA, data_interval_end - SLA]``. Consecutive intervals therefore cover every message
exactly once, and each run judges staleness at its own ``data_interval_end`` (a message is stale when no receipt
arrived within the SLA), so a backfill decides exactly as the scheduled runs would have.

Run it for a past window::

    airflow backfill create --dag-id example_hubspot_backfill_reconcile \\
        --from-date 2026-11-20T00:00:00+00:00 --to-date 2026-11-20T06:00:00+00:00

or trigger it by hand with ``window_start``/``window_end`` to cover one arbitrary window. ``dry_run`` reports what
would change without writing to HubSpot.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.operators.retry_policy import retry_policy_kwargs
from airflow_provider_hubspot_channels.sqlite_store import load_unreconciled

DEFAULT_STORE = os.environ.get("HUBSPOT_CHANNELS_STORE", "/tmp/hubspot_channels/integrator_store.sqlite")
REPORTS = os.environ.get("HUBSPOT_CHANNELS_REPORTS", "/tmp/hubspot_channels/reports")


def require_store(path: str) -> None:
    """Refuse a run whose store does not exist: opening it would create an empty one (in /tmp by default)."""
    if not os.path.isfile(path):
        raise AirflowFailException(
            f"store_path {path} does not exist: this example reconciles the integrator's store (see "
            "airflow_provider_hubspot_channels.sqlite_store). Fill it first, or set the store_path param or "
            "HUBSPOT_CHANNELS_STORE to your store."
        )


@dag(
    dag_id="example_hubspot_backfill_reconcile",
    # Airflow 3 schedules from a cron string or timedelta have no data intervals by default; this one does.
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Examples may be loaded into any deployment (load_examples): nothing runs until someone unpauses it.
    is_paused_upon_creation=True,
    max_active_runs=4,
    params={
        "store_path": Param(DEFAULT_STORE, type="string", description="SQLite file of the integrator's store"),
        "channel_id": Param(None, type=["null", "integer"], description="Only this channel (all if empty)"),
        "stale_after_minutes": Param(15, type="integer", minimum=1, description="SLA for a delivery receipt"),
        "window_start": Param(None, type=["null", "string"], format="date-time", description="Override start"),
        "window_end": Param(None, type=["null", "string"], format="date-time", description="Override end"),
        "dry_run": Param(False, type="boolean", description="Report only; change nothing in HubSpot"),
    },
    tags=["hubspot", "example", "backfill"],
    doc_md=__doc__,
)
def example_hubspot_backfill_reconcile() -> None:
    @task
    def window(
        params: dict[str, Any], data_interval_start: pendulum.DateTime, data_interval_end: pendulum.DateTime
    ) -> dict[str, str]:
        """The run's window: its data interval, unless overridden by the params."""
        start = pendulum.parse(params["window_start"]) if params["window_start"] else data_interval_start
        end = pendulum.parse(params["window_end"]) if params["window_end"] else data_interval_end
        assert isinstance(start, datetime) and isinstance(end, datetime)
        if end <= start:
            raise ValueError(f"window_end {end} must be after window_start {start}")
        return {"start": start.isoformat(), "end": end.isoformat()}

    # The batch holds recipients (personal data) and can be megabytes: it goes to XCom, never into the log.
    @task(show_return_value_in_logs=False)
    def load_batch(span: dict[str, str], params: dict[str, Any]) -> list[dict[str, Any]]:
        """Messages whose SLA ran out inside the window and whose record disagrees with what HubSpot was told."""
        require_store(params["store_path"])
        sla = timedelta(minutes=params["stale_after_minutes"])
        start, end = pendulum.parse(span["start"]), pendulum.parse(span["end"])
        assert isinstance(start, datetime) and isinstance(end, datetime)
        return load_unreconciled(
            params["store_path"],
            created_after=start - sla,
            created_at_or_before=end - sla,
            channel_id=params["channel_id"],
        )

    span = window()
    ReconcileMessagesOperator(
        task_id="reconcile",
        messages=load_batch(span),
        stale_after="{{ params.stale_after_minutes * 60 }}",
        dry_run="{{ params.dry_run }}",
        reference_time="{{ ti.xcom_pull(task_ids='window')['end'] }}",
        report_path=REPORTS + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl",
        # HubSpot's failures decide the retry on Airflow 3.3 (docs/errors.md#retry-policy); nothing on 3.1/3.2.
        retries=2,
        retry_delay=timedelta(minutes=5),
        **retry_policy_kwargs(),
    )


example_hubspot_backfill_reconcile()
