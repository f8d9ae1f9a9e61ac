"""Custom logic in a TaskFlow task with ``HubSpotChannelsHook``: read a message's status, update it when it may.

The hook is a context manager: ``with HubSpotChannelsHook(...) as hook:`` reads the connection on first use and
closes its HTTP connections when the block ends, also on error. Here the task reads the message and reports
``status_type`` unless HubSpot already shows READ or FAILED (a final status a late SENT must not overwrite). Client
errors arrive as typed exceptions (``airflow_provider_hubspot_channels.client``), e.g. ``HubSpotNotFoundError``.

Trigger with params ``channel_id``, ``message_id``, ``status_type`` and, for FAILED, ``error_message``. Needs a
connection ``hubspot_channels_default`` (type ``hubspot_channels``).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook

#: Statuses this example never changes: an agent saw the message, or it was reported undeliverable.
FINAL = {"READ", "FAILED"}


@dag(
    dag_id="example_hubspot_taskflow_hook",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    params={
        "channel_id": Param(1001, type="integer", minimum=1),
        "message_id": Param("msg-1", type="string", minLength=1),
        "status_type": Param("SENT", type="string", enum=["SENT", "READ", "FAILED"]),
        "error_message": Param(None, type=["null", "string"], maxLength=500),
    },
    tags=["hubspot", "example", "taskflow"],
    doc_md=__doc__,
)
def example_hubspot_taskflow_hook() -> None:
    # Retries for HubSpot's failures: attach the provider's retry policy here (retry_policy=...) where it exists.
    @task
    def report_status(params: dict[str, Any]) -> dict[str, Any]:
        """Report ``status_type`` for the message unless HubSpot already shows a final status."""
        with HubSpotChannelsHook(hubspot_conn_id="hubspot_channels_default") as hook:
            message = hook.get_message(params["channel_id"], params["message_id"])
            before = (message.get("status") or {}).get("statusType")
            if before in FINAL:
                return {"message_id": params["message_id"], "before": before, "after": before, "changed": False}
            updated = hook.update_message_status(
                params["channel_id"], params["message_id"], params["status_type"], params["error_message"]
            )
        after = (updated.get("status") or {}).get("statusType")
        return {"message_id": params["message_id"], "before": before, "after": after, "changed": True}

    report_status()


example_hubspot_taskflow_hook()
