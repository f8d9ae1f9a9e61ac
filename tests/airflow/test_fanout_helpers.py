"""The fan-out helpers as a DAG uses them: from an XCom'd list or JSON text, for expand_kwargs or lane tasks."""

from __future__ import annotations

import json

import pytest

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.operators.fanout import account_lanes, lane_pool, split_batch_by_account
from airflow_provider_hubspot_channels.reconciliation.fanout import stable_lane

ROWS = [
    {"portal_id": p, "channel_id": 1001, "message_id": f"m{i}", "created_at": "2026-11-24T10:00:00Z"}
    for i, p in enumerate(["1", "2", "1", "3", None])
]


def test_groups_for_expand_kwargs_from_a_list_or_json_text() -> None:
    groups = split_batch_by_account(ROWS, groups=2)
    assert split_batch_by_account(json.dumps(ROWS), groups=2) == groups
    assert all(set(g) == {"messages"} for g in groups) and sum(len(g["messages"]) for g in groups) == 5
    with pytest.raises(InvalidInputError) as info:
        split_batch_by_account({"not": "a list"}, groups=2)
    assert info.value.field == "messages"


def test_lanes_name_every_lane_and_keep_an_account_in_its_lane() -> None:
    lanes = account_lanes(ROWS, lanes=3)
    assert list(lanes) == ["lane_0", "lane_1", "lane_2"]
    assert {r["message_id"] for r in lanes[f"lane_{stable_lane('1', 3)}"]} >= {"m0", "m2"}
    assert lane_pool(2) == "hubspot_channels_lane_2"
    with pytest.raises(InvalidInputError):
        lane_pool(-1)
