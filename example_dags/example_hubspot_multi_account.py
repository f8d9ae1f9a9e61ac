"""Every 15 minutes: reconcile the messages of many HubSpot accounts, fanned out over mapped tasks.

An app installed in many HubSpot accounts (an SMS vendor serving its customers' accounts) keeps one store for all of
them; each record names its account (``portal_id``, HubSpot's ``portalId`` from the webhook). The batch is split into
groups of whole accounts, balanced by request cost (``split_batch_by_account``), and each group is one mapped
``ReconcileMessagesOperator`` task: HubSpot's limit is per account, so the tasks (on any number of Celery workers)
never share one, and each task serves all of its accounts at once, each paced at its own limit. An account whose
credentials are missing or refused ends its own rows ``not_attempted`` and fails its task naming it; the other
accounts go on. ``max_active_runs=1``: two runs never serve one account at once (for several DAGs on the same
accounts, use ``account_lanes`` with one-slot lane pools instead, see ``operators/fanout.py``).

Needs one connection per account, ``hubspot_channels_<portal id>`` (type ``hubspot_channels``, any secrets backend;
``hubspot_channels_default`` for records without ``portal_id``), and the store file named by the ``store_path`` param.
To read each installation's refresh token from your own table instead, replace ``account_conn_pattern`` with
``refresh_tokens_sql_conn_id`` and ``refresh_tokens_sql``.
"""

from __future__ import annotations

import glob
import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.operators.fanout import split_batch_by_account
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.sqlite_store import load_unreconciled, record_outcomes

DEFAULT_STORE = os.environ.get("HUBSPOT_CHANNELS_STORE", "/tmp/hubspot_channels/integrator_store.sqlite")
REPORTS = os.environ.get("HUBSPOT_CHANNELS_REPORTS", "/tmp/hubspot_channels/reports")
#: One Airflow connection per account; a plain string (not templated), so mapped tasks serialise it as it is.
ACCOUNT_CONN_PATTERN = "hubspot_channels_{portal_id}"


def require_store(path: str) -> None:
    """Refuse a run whose store does not exist: opening it would create an empty one (in /tmp by default)."""
    if not os.path.isfile(path):
        raise AirflowFailException(
            f"store_path {path} does not exist: this example reconciles the integrator's store (see "
            "airflow_provider_hubspot_channels.sqlite_store). Fill it first, or set the store_path param or "
            "HUBSPOT_CHANNELS_STORE to your store."
        )


@dag(
    dag_id="example_hubspot_multi_account",
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
        "groups": Param(4, type="integer", minimum=1, maximum=1024, description="Mapped tasks at most"),
    },
    tags=["hubspot", "example"],
    doc_md=__doc__,
)
def example_hubspot_multi_account() -> None:
    # The batch holds recipients (personal data) and can be megabytes: it goes to XCom, never into the log.
    @task(show_return_value_in_logs=False)
    def load_batch(params: dict[str, Any], data_interval_end: pendulum.DateTime) -> list[dict[str, Any]]:
        """Every account's messages whose record disagrees with what HubSpot was told."""
        require_store(params["store_path"])
        return load_unreconciled(params["store_path"], created_at_or_before=data_interval_end)

    @task(show_return_value_in_logs=False)
    def split(batch: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """Groups of whole accounts, balanced by request cost: one mapped task each."""
        return split_batch_by_account(batch, groups=params["groups"])

    run_reports = REPORTS + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}"
    reconcile = ReconcileMessagesOperator.partial(
        task_id="reconcile",
        stale_after="{{ params.stale_after_minutes * 60 }}",
        dry_run="{{ params.dry_run }}",
        verify_status=True,
        # Threads for all the task's accounts together; each account is paced at its own limit.
        max_concurrency=16,
        report_path=run_reports + "/group_{{ ti.map_index }}.jsonl",
        account_conn_pattern=ACCOUNT_CONN_PATTERN,
        retries=2,
        retry_delay=timedelta(minutes=5),
    ).expand_kwargs(split(load_batch()))

    # all_done: a group that failed (an account's credentials refused) still wrote the rows it settled.
    @task(trigger_rule="all_done")
    def write_back(reports: str, params: dict[str, Any], dag_run: Any) -> dict[str, int]:
        """Record in the store what HubSpot shows after this run, from every group's report."""
        totals: dict[str, int] = {}
        if params["dry_run"]:
            return totals
        for report in sorted(glob.glob(os.path.join(reports, "group_*.jsonl"))):
            counts = record_outcomes(params["store_path"], report, loaded_at=dag_run.start_date)
            for outcome, count in counts.items():
                totals[outcome] = totals.get(outcome, 0) + count
        return totals

    reconcile >> write_back(run_reports)


example_hubspot_multi_account()
