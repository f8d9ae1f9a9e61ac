"""A try cut by execution_timeout still emits what it sent (an independent review found it emitted nothing)."""

from __future__ import annotations

import pytest

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.airflow.test_metrics import received, statsd  # noqa: F401  (fixture)
from tests.conftest import connection_json


def test_a_batch_cut_by_execution_timeout_still_emits_what_it_sent(statsd, monkeypatch):  # noqa: F811
    """A try ended by execution_timeout (the case metrics are watched for: HubSpot slow) emits nothing: run_plan
    re-raises the interrupt before emit_batch_metrics. With resume, the next try subtracts the rows this try
    settled (outcomes_of_this_try), so those outcomes are never counted at all."""
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from airflow.sdk.execution_time.timeout import timeout

    from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator

    with HubSpotSimulator(latency=0.3) as sim:
        for n in range(40):
            sim.add_message(1001, f"m-{n}")
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", connection_json(sim.base_url, password=sim.access_token)
        )
        op = UpdateMessageStatusOperator(
            task_id="t",
            updates=[{"channel_id": 1001, "message_id": f"m-{n}", "status_type": "SENT"} for n in range(40)],
            max_concurrency=2,
        )
        control = UpdateMessageStatusOperator(
            task_id="c", updates=[{"channel_id": 1001, "message_id": "m-0", "status_type": "SENT"}]
        )
        control.execute({})
        assert sum(v for v, _ in received(statsd).get("requests", [])) >= 1  # a finished batch does emit
        before = len([e for e in sim.request_log if not e.path.startswith("/oauth")])
        with pytest.raises(AirflowTaskTimeout), timeout(2):
            op.execute({})
        sent = len([e for e in sim.request_log if not e.path.startswith("/oauth")]) - before
    got = received(statsd)
    assert sent > 0
    # The simulator logs a request once it has answered: those in flight at the cut (at most max_concurrency) were
    # sent, and counted, but are not in its log.
    emitted = sum(v for v, _ in got.get("requests", []))
    assert sent <= emitted <= sent + 2, (sent, dict(got))
