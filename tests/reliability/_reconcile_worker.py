"""A reconciliation in its own process, for the crash-and-resume test: ``python -m tests.reliability._reconcile_worker
BASE_URL TOKEN RECORDS_JSON REFERENCE_TIME REPORT_PATH MAX_CONCURRENCY``. Exit 0 on success, 1 on a failed task."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta


def main(argv: list[str]) -> int:
    base_url, token, records_path, reference, report_path, concurrency = argv
    conn = {
        "conn_type": "hubspot_channels",
        "host": base_url,
        "password": token,
        "extra": {"timeout": 5, "max_requests_per_10s": 10_000},
    }
    os.environ["AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT"] = json.dumps(conn)
    from airflow_provider_hubspot_channels.operators.reconcile import ReconcileStaleMessagesOperator

    with open(records_path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    end = datetime.fromisoformat(reference)
    op = ReconcileStaleMessagesOperator(
        task_id="reconcile",
        messages=records,
        stale_after=timedelta(minutes=10),
        max_concurrency=int(concurrency),
        report_path=report_path,
    )
    try:
        summary = op.execute({"data_interval_end": end, "logical_date": end})
    except Exception as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    print("SUMMARY " + json.dumps(summary["counts"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
