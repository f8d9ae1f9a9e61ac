"""Every 15 minutes: make HubSpot show what the integrator knows about every outgoing message.

Messages that never got a delivery receipt within the SLA become FAILED with an explanation; receipts the bridge
never reported become SENT, READ or FAILED; a FAILED that a late receipt disproves is corrected; READ is never
changed. The batch comes from the integrator's own store (``airflow_provider_hubspot_channels.sqlite_store``, a
SQLite table the bridge fills from HubSpot's webhooks and the carrier's receipts): only the messages whose record
disagrees with what HubSpot was last told. Each run judges staleness at its ``data_interval_end``, so a rerun decides
exactly as the first run did. The per-message report is written as JSON Lines and fed back to the store, which then
knows what HubSpot shows and does not load those messages again until a newer receipt arrives.

Needs a connection ``hubspot_channels_default`` (type ``hubspot_channels``) and the store file named by the
``store_path`` param.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.operators.retry_policy import retry_policy_kwargs
from airflow_provider_hubspot_channels.sqlite_store import load_unreconciled, record_outcomes

DEFAULT_STORE = os.environ.get("HUBSPOT_CHANNELS_STORE", "/tmp/hubspot_channels/integrator_store.sqlite")
REPORTS = os.environ.get("HUBSPOT_CHANNELS_REPORTS", "/tmp/hubspot_channels/reports")
#: Updated by every successful reconcile, its counts as the event's extra: example_hubspot_alert_on_failed_messages
#: is scheduled on it. ``channel_asset(id)`` (operators/assets.py) names one channel's asset instead.
RECONCILED = Asset("hubspot-channels://all")


def require_store(path: str) -> None:
    """Refuse a run whose store does not exist: opening it would create an empty one (in /tmp by default)."""
    if not os.path.isfile(path):
        raise AirflowFailException(
            f"store_path {path} does not exist: this example reconciles the integrator's store (see "
            "airflow_provider_hubspot_channels.sqlite_store). Fill it first, or set the store_path param or "
            "HUBSPOT_CHANNELS_STORE to your store."
        )


@dag(
    dag_id="example_hubspot_reconcile_messages",
    schedule=timedelta(minutes=15),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Examples may be loaded into any deployment (load_examples): nothing runs until someone unpauses it.
    is_paused_upon_creation=True,
    max_active_runs=1,
    params={
        "store_path": Param(DEFAULT_STORE, type="string", description="SQLite file of the integrator's store"),
        "stale_after_minutes": Param(15, type="integer", minimum=1, description="SLA for a delivery receipt"),
        "dry_run": Param(False, type="boolean", description="Report only; change nothing in HubSpot"),
    },
    tags=["hubspot", "example"],
    doc_md=__doc__,
)
def example_hubspot_reconcile_messages() -> None:
    # The batch holds recipients (personal data) and can be megabytes: it goes to XCom, never into the log.
    @task(show_return_value_in_logs=False)
    def load_batch(params: dict[str, Any], data_interval_end: pendulum.DateTime) -> list[dict[str, Any]]:
        """Messages sent up to the end of this run's interval whose record disagrees with what HubSpot was told."""
        require_store(params["store_path"])
        return load_unreconciled(params["store_path"], created_at_or_before=data_interval_end)

    batch = load_batch()
    report_path = REPORTS + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl"
    reconcile = ReconcileMessagesOperator(
        task_id="reconcile",
        messages=batch,
        stale_after="{{ params.stale_after_minutes * 60 }}",
        dry_run="{{ params.dry_run }}",
        verify_status=True,
        max_concurrency=4,
        report_path=report_path,
        outlets=[RECONCILED],
        # HubSpot's failures decide the retry on Airflow 3.3 (docs/errors.md#retry-policy); nothing on 3.1/3.2.
        retries=2,
        retry_delay=timedelta(minutes=5),
        **retry_policy_kwargs(),
    )

    # all_done: a reconcile that fails (refused writes, invalid records, a stop) still wrote the rows it settled, and
    # they must be written back, or the next run repeats them; only a run without a report has nothing to settle.
    @task(trigger_rule="all_done")
    def write_back(report: str, params: dict[str, Any], dag_run: Any) -> dict[str, int]:
        """Record in the store what HubSpot shows after this run (receipts that came during the run stay newer)."""
        if params["dry_run"] or not os.path.exists(report):
            return {}
        return record_outcomes(params["store_path"], report, loaded_at=dag_run.start_date)

    reconcile >> write_back(report_path)


example_hubspot_reconcile_messages()
