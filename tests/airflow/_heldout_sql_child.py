"""Child process of ``test_multi_account_heldout_sql.py``: one ``ReconcileMessagesOperator.execute()`` of a
multi-account batch whose refresh tokens come from SQL, printing how the task ended as JSON (last line). Run with
the test's environment (Airflow connections in ``AIRFLOW_CONN_*``, a ``common.sql`` provider for ``sqlite`` on
``PYTHONPATH``): Airflow discovers providers once per process.

Argument: JSON ``{"records": <path of a JSON list>, "sql": ..., "report": <path>, "end": <ISO time>}``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta


def main() -> None:
    from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
    from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator

    args = json.loads(sys.argv[1])
    with open(args["records"], encoding="utf-8") as source:
        records = json.load(source)
    end = datetime.fromisoformat(args["end"])
    context = {"data_interval_start": end - timedelta(minutes=15), "data_interval_end": end, "logical_date": end}
    op = ReconcileMessagesOperator(
        task_id="reconcile",
        messages=records,
        stale_after=timedelta(minutes=10),
        refresh_tokens_sql_conn_id="refresh_tokens",
        refresh_tokens_sql=args["sql"],
        report_path=args["report"],
        max_concurrency=8,
    )
    try:
        summary = op.execute(context)  # type: ignore[arg-type]
        print(json.dumps({"failed": None, "summary": summary}))
    except AirflowFailException as exc:
        print(json.dumps({"failed": str(exc), "summary": None}))


if __name__ == "__main__":
    main()
