"""A resumed batch's asset event names the channels of the rows an earlier try settled, not only this try's."""

from __future__ import annotations

import json

from airflow_provider_hubspot_channels.operators.assets import ChannelIds


def test_kept_report_rows_pass_through_unchanged_and_their_channels_are_noted() -> None:
    lines = [
        json.dumps({"channel_id": "1001", "message_id": "m1", "outcome": "marked_failed"}) + "\n",
        json.dumps({"channel_id": "not an id", "message_id": "m2", "outcome": "invalid"}) + "\n",
        "not json at all\n",
        json.dumps(["a", "list"]) + "\n",
        json.dumps({"channel_id": 1002}) + "\n",
    ]
    channels = ChannelIds()

    assert list(channels.noting(lines)) == lines
    assert channels.ids == {"1001"}
