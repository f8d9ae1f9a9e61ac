"""The distributed e2e test's DAG: one ReconcileMessagesOperator per batch, mapped over the batches the run's conf
carries (``{"batches": [[record, ...], ...]}``), so the CeleryExecutor spreads the mapped tasks over its workers.

Every task uses the ``hubspot_channels_default`` connection (one account); the multi-account example DAG replaces
this DAG once per-account credentials exist.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator

REPORTS = os.environ.get("HUBSPOT_CHANNELS_REPORTS", "/tmp/hubspot_channels/reports")


@dag(
    dag_id="e2e_celery_mapped_reconcile",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=32,
    tags=["hubspot", "e2e"],
)
def e2e_celery_mapped_reconcile() -> None:
    @task(show_return_value_in_logs=False)
    def batches(dag_run: Any = None) -> list[list[dict[str, Any]]]:
        return list(dag_run.conf["batches"])

    ReconcileMessagesOperator.partial(
        task_id="reconcile",
        stale_after=15 * 60,
        max_concurrency=2,
        report_path=REPORTS + "/{{ run_id | replace(':', '_') }}/{{ ti.map_index }}.jsonl",
    ).expand(messages=batches())


e2e_celery_mapped_reconcile()
