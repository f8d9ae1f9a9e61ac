"""What every operator shares: deep copies (Airflow's contract), and an on_kill that is safe in a signal handler."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_hubspot_channels.operators.discovery import DiscoverChannelMessagesOperator
from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileStaleMessagesOperator


def operators() -> list[object]:
    return [
        ReconcileStaleMessagesOperator(task_id="reconcile", messages=[], stale_after=900),
        UpdateMessageStatusOperator(task_id="update", channel_id=1001, message_id="m-1", status_type="SENT"),
        DiscoverChannelMessagesOperator(task_id="discover", inbox_id=1, channel_id=1001),
    ]


@pytest.mark.parametrize("operator", operators(), ids=lambda op: op.task_id)
def test_operators_can_be_deep_copied(operator):
    # dag.partial_subset, mapped tasks and the scheduler deep-copy operators: no lock or event made at parse time.
    copied = copy.deepcopy(operator)
    assert copied.task_id == operator.task_id and copied is not operator


def test_a_dag_holding_the_operators_can_be_subset():
    from airflow.sdk import DAG

    with DAG("copies", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
        reconcile, update, discover = operators()
        discover >> reconcile >> update
    subset = dag.partial_subset(task_ids=["reconcile"], include_downstream=True, include_upstream=False)
    assert set(subset.task_dict) == {"reconcile", "update"}


def test_a_future_reference_time_is_refused_before_any_request():
    # A typo in the year would make every pending message look stale and mark it FAILED.
    future = datetime.now(timezone.utc) + timedelta(days=400)
    with pytest.raises(ValueError, match="reference_time"):
        ReconcileStaleMessagesOperator(task_id="r", messages=[], stale_after=900, reference_time=future)


def test_on_kill_takes_no_lock_the_interrupted_thread_may_hold(tmp_path):
    # on_kill runs inside Airflow's SIGTERM handler, in the main thread, which may be inside the client's retry wait
    # holding the stop event's lock (or the rate budget's). A lock taken there would deadlock the task for good.
    script = tmp_path / "kill.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, threading
            from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator

            os.environ["AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT"] = (
                '{"conn_type": "hubspot_channels", "host": "http://127.0.0.1:9", "password": "token-for-the-kill-test"}'
            )
            op = UpdateMessageStatusOperator(task_id="u", channel_id=1, message_id="m", status_type="SENT")
            with op.hubspot_hook() as hook:
                client = hook.get_conn()
                # As if the SIGTERM arrived while this thread held the locks a stop takes.
                with client._stop._cond, client.budget._cond, hook._lock:
                    op.on_kill()
                stopped = client._stop.wait(5)  # the kill switch's own thread did the stopping
            print("stopped" if stopped else "not stopped")
            """
        )
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "stopped"
