"""Discovery mode, for integrators without a store of their own: find outgoing messages in HubSpot, then reconcile.

Every hour, the Inbox API lists the channel's outgoing messages; their status comes from HubSpot (no status yet =
pending). The batches fan out to mapped reconciliation tasks (at most 1,024 batches, Airflow's map limit). Needs
scopes ``conversations.read`` and ``conversations.custom_channels.*``.

Each run handles the messages whose SLA ran out inside its data interval: those created in
``[data_interval_start - SLA, data_interval_end - SLA)`` (the discovery window includes its start and excludes its
end). Consecutive intervals therefore cover every message exactly once, and each run judges staleness at its own
``data_interval_end``, when every message of its window is past its SLA. Listing the data interval itself would
miss the messages created in its last SLA-length stretch: still fresh in this run, and outside the next run's
window (a quarter of them with a 15-minute SLA and hourly runs).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_hubspot_channels.operators.discovery import DiscoverChannelMessagesOperator
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.operators.retry_policy import retry_policy_kwargs


@dag(
    dag_id="example_hubspot_discover_and_reconcile",
    # Airflow 3 schedules from a cron string or timedelta have no data intervals by default; this one does.
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Examples may be loaded into any deployment (load_examples): nothing runs until someone unpauses it.
    is_paused_upon_creation=True,
    max_active_runs=1,
    params={
        "inbox_id": Param(3001, type="integer", minimum=1, description="Inbox the channel delivers to"),
        "channel_id": Param(1001, type="integer", minimum=1, description="The custom channel"),
        "stale_after_minutes": Param(15, type="integer", minimum=1, description="SLA for a delivery receipt"),
        "dry_run": Param(False, type="boolean"),
    },
    tags=["hubspot", "example", "discovery"],
    doc_md=__doc__,
)
def example_hubspot_discover_and_reconcile() -> None:
    batches = DiscoverChannelMessagesOperator(
        task_id="discover",
        inbox_id="{{ params.inbox_id }}",
        channel_id="{{ params.channel_id }}",
        # The window whose SLA deadlines fall in the data interval: see the module docstring.
        window_start="{{ (data_interval_start - macros.timedelta(minutes=params.stale_after_minutes)).isoformat() }}",
        window_end="{{ (data_interval_end - macros.timedelta(minutes=params.stale_after_minutes)).isoformat() }}",
        batch_size=500,
    )
    ReconcileMessagesOperator.partial(
        task_id="reconcile",
        stale_after="{{ params.stale_after_minutes * 60 }}",
        dry_run="{{ params.dry_run }}",
        max_concurrency=4,
        # Mapped tasks share the account's budget: a pool keeps their number (and so the request rate) bounded.
        max_active_tis_per_dagrun=2,
        # HubSpot's failures decide the retry on Airflow 3.3 (docs/errors.md#retry-policy); nothing on 3.1/3.2.
        retries=2,
        retry_delay=timedelta(minutes=5),
        **retry_policy_kwargs(),
    ).expand(messages=batches.output)


example_hubspot_discover_and_reconcile()
