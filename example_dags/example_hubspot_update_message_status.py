"""Report one message's delivery outcome to HubSpot, e.g. from a bridge's retry queue.

Trigger with params ``channel_id``, ``message_id``, ``status_type`` (SENT, READ or FAILED) and, for FAILED, an
``error_message`` agents will read in the inbox.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator

with DAG(
    dag_id="example_hubspot_update_message_status",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Examples may be loaded into any deployment (load_examples): nothing runs until someone unpauses it.
    is_paused_upon_creation=True,
    params={
        "channel_id": Param(1001, type="integer", minimum=1),
        "message_id": Param("msg-1", type="string", minLength=1),
        "status_type": Param("FAILED", type="string", enum=["SENT", "READ", "FAILED"]),
        "error_message": Param(
            "Not delivered: the carrier rejected the number. Please reach the customer another way.",
            type=["null", "string"],
            maxLength=500,
        ),
    },
    tags=["hubspot", "example"],
    doc_md=__doc__,
):
    UpdateMessageStatusOperator(
        task_id="update_message_status",
        channel_id="{{ params.channel_id }}",
        message_id="{{ params.message_id }}",
        status_type="{{ params.status_type }}",
        error_message="{{ params.error_message if params.status_type == 'FAILED' else '' }}",
    )
