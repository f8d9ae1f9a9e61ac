"""Fan-out of a multi-account batch: whole accounts per group, balanced, round-robin inside, deterministic."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation.fanout import (
    CONNECTION_ACCOUNT,
    split_by_account,
    stable_lane,
)
from airflow_provider_hubspot_channels.reconciliation.records import parse_record


def row(n: int, portal: Any = None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"channel_id": 1001, "message_id": f"m{n}", "created_at": "2026-11-01T10:00:00Z"}
    if portal is not None:
        base["portalId"] = portal
    return {**base, **extra}


def account(r: dict[str, Any]) -> str:
    try:
        return parse_record(r, 0).portal_id or CONNECTION_ACCOUNT
    except InvalidInputError:
        return str(r.get("portalId") or CONNECTION_ACCOUNT)


def test_an_account_stays_whole_and_rows_alternate_between_accounts() -> None:
    rows = [row(1, 10), row(2, 10), row(3, 10), row(4, 20), row(5, 20), row(6)]
    groups = split_by_account(rows, groups=1)
    assert [r["message_id"] for r in groups[0]["messages"]] == ["m1", "m4", "m6", "m2", "m5", "m3"]


def test_balanced_puts_the_largest_accounts_apart_and_makes_no_empty_group() -> None:
    rows = [row(i, 1) for i in range(6)] + [row(10 + i, 2) for i in range(5)] + [row(20, 3), row(21, 4)]
    groups = split_by_account(rows, groups=5)
    assert len(groups) == 4  # four accounts: no empty task to map
    sizes = sorted(len(g["messages"]) for g in groups)
    assert sizes == [1, 1, 5, 6]
    assert split_by_account([], groups=3) == []


def test_stable_lanes_are_fixed_per_account_and_always_as_many_as_asked() -> None:
    lanes = split_by_account([row(1, 77), row(2, 78)], groups=4, placement="stable")
    assert len(lanes) == 4
    assert lanes[stable_lane("77", 4)]["messages"][0]["message_id"] == "m1"
    # The same account lands in the same lane whatever else the batch holds.
    other = split_by_account([row(9, 5), row(3, 77)], groups=4, placement="stable")
    assert other[stable_lane("77", 4)]["messages"][-1]["message_id"] == "m3"
    assert stable_lane("77", 4) == stable_lane("77", 4) and stable_lane(CONNECTION_ACCOUNT, 1) == 0


def test_invalid_rows_pass_through_with_their_account_when_it_can_be_read() -> None:
    rows = [row(1, 5), {"portalId": "5", "message_id": "broken"}, {"portal_id": "x"}, "not an object"]
    groups = split_by_account(rows, groups=3)
    by_size = sorted(groups, key=lambda g: len(g["messages"]))
    assert [len(g["messages"]) for g in by_size] == [2, 2]
    home = next(g for g in groups if row(1, 5) in g["messages"])
    assert {"portalId": "5", "message_id": "broken"} in home["messages"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"groups": 0}, "groups"),
        ({"groups": True}, "groups"),
        ({"groups": 1025}, "groups"),
        ({"groups": 2, "placement": "random"}, "placement"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        split_by_account([row(1)], **kwargs)
    assert info.value.field == field


portals = st.one_of(st.none(), st.integers(1, 12), st.sampled_from(["3", " 007", "bad", 0]))
batches = st.lists(portals, max_size=120).map(lambda ps: [row(i, p) for i, p in enumerate(ps)])


@settings(max_examples=200, deadline=None)
@given(batches, st.integers(1, 9), st.sampled_from(["balanced", "stable"]))
def test_properties_of_every_split(rows: list[dict[str, Any]], groups: int, placement: Any) -> None:
    split = split_by_account(rows, groups=groups, placement=placement)
    assert len(split) <= groups
    if placement == "stable":
        assert len(split) == groups
    else:
        assert all(g["messages"] for g in split)
    # Every row in exactly one group.
    seen = Counter(r["message_id"] for g in split for r in g["messages"])
    assert seen == Counter(r["message_id"] for r in rows)
    # An account never in two groups; its rows keep their order.
    home: dict[str, int] = {}
    for number, g in enumerate(split):
        for r in g["messages"]:
            assert home.setdefault(account(r), number) == number
    for g in split:
        ids = [int(r["message_id"][1:]) for r in g["messages"]]
        for key in {account(r) for r in g["messages"]}:
            own = [int(r["message_id"][1:]) for r in g["messages"] if account(r) == key]
            assert own == sorted(own)
        assert len(ids) == len(set(ids))
    # Balanced: the LPT bound, the largest group at most the mean plus one account.
    if placement == "balanced" and split:
        cost = Counter(account(r) for r in rows if _valid(r))
        loads = [sum(1 for r in g["messages"] if _valid(r)) for g in split]
        assert max(loads) <= sum(cost.values()) / len(split) + max(cost.values(), default=0)
    # Deterministic.
    assert split_by_account(list(rows), groups=groups, placement=placement) == split


def _valid(r: dict[str, Any]) -> bool:
    try:
        parse_record(r, 0)
    except InvalidInputError:
        return False
    return True
