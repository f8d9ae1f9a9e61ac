"""Records name their HubSpot account (``portal_id``): parsed strictly, carried to the decision and the report row."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import Mode, StalenessPolicy, decision_outcome, plan
from airflow_provider_hubspot_channels.reconciliation.records import parse_batch, parse_record
from airflow_provider_hubspot_channels.validation import validate_portal_id

ROW = {"channel_id": 1001, "message_id": "m1", "created_at": "2026-11-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [(243842089, "243842089"), ("243842089", "243842089"), (" 0042 ", "42"), (7.0, "7"), ("", None), (None, None)],
)
def test_portal_id_in_any_form_webhooks_and_tables_give(given: object, expected: str | None) -> None:
    assert parse_record({**ROW, "portalId": given}, 0).portal_id == expected


@pytest.mark.parametrize("given", [True, 0, -5, "12a", "²", 1.5, 2**63, "9" * 30, 2.0**60, [1], {"a": 1}])
def test_a_portal_id_that_is_no_account_id_makes_the_row_invalid(given: object) -> None:
    records, invalid = parse_batch([{**ROW, "portal_id": given}])
    assert not records
    assert invalid[0].field == "messages[0].portal_id"
    assert "portalId" in invalid[0].fix


def test_two_spellings_that_disagree_are_refused() -> None:
    _, invalid = parse_batch([{**ROW, "portal_id": 1, "portalId": "2"}])
    assert invalid and "disagree" in invalid[0].problem


def test_the_same_message_id_in_two_accounts_is_two_messages_and_the_report_names_the_account() -> None:
    policy = StalenessPolicy(
        stale_after=timedelta(minutes=15), reference_time=datetime(2026, 11, 2, tzinfo=timezone.utc)
    )
    rows = [{**ROW, "portal_id": 1}, {**ROW, "portal_id": 2}, {**ROW, "portal_id": 2}, {**ROW}]
    decisions = sorted(plan(rows, policy, mode=Mode.TWO_WAY), key=lambda d: d.index)  # the plan takes accounts in turn
    assert [d.portal_id for d in decisions] == ["1", "2", "2", None]
    assert [d.outcome.value if d.outcome else "write" for d in decisions] == [
        "write",
        "write",
        "skipped_duplicate",
        "write",
    ]
    row = json.loads(decision_outcome(decisions[2]).to_json())
    assert row["portal_id"] == "2"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(), st.text(max_size=30), st.floats(allow_nan=True), st.booleans(), st.none()))
def test_any_value_is_an_account_id_or_a_named_error(value: object) -> None:
    try:
        text = validate_portal_id(value)
    except InvalidInputError as exc:
        assert exc.field == "portal_id" and exc.fix
        return
    assert text == "" or (text.isascii() and text.isdigit() and not text.startswith("0") and int(text) < 2**63)


def _summary(report: Any) -> dict[str, Any]:
    return report.summary(
        reference_time=None,
        stale_after=None,
        dry_run=False,
        verify_status=True,
        duration_seconds=0.0,
        stopped_reason=None,
    )


def test_the_summary_counts_accounts_only_when_records_named_them() -> None:
    from airflow_provider_hubspot_channels.reconciliation import MessageOutcome, Outcome, RunReport

    single = RunReport()
    single.add(MessageOutcome(0, "1001", "m1", Outcome.MARKED_FAILED, "stale"))
    assert "accounts" not in _summary(single)
    mixed = RunReport()
    for index, portal in enumerate(["5", "6", "5", None]):
        mixed.add(MessageOutcome(index, "1001", f"m{index}", Outcome.ERROR, "x", portal_id=portal))
    summary = _summary(mixed)
    assert summary["accounts"] == 2
    assert [row.get("portal_id") for row in summary["examples"]["error"]] == ["5", "6", "5", None]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"portal": st.one_of(st.none(), st.sampled_from(["1", "2"])), "age": st.sampled_from([5, 60])},
        ),
        max_size=12,
    )
)
def test_without_per_account_credentials_no_row_naming_an_account_is_written(rows: list[dict[str, object]]) -> None:
    from airflow_provider_hubspot_channels.reconciliation import Action, refuse_named_accounts

    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    policy = StalenessPolicy(stale_after=timedelta(minutes=15), reference_time=now)
    batch = [
        {
            "channel_id": 1001,
            "message_id": f"m{i}",
            "created_at": (now - timedelta(minutes=int(str(row["age"])))).isoformat(),
            **({"portal_id": row["portal"]} if row["portal"] else {}),
        }
        for i, row in enumerate(rows)
    ]
    before = plan(batch, policy, mode=Mode.TWO_WAY)
    after = list(refuse_named_accounts(before))
    assert [d.index for d in after] == [d.index for d in before]
    for old, new in zip(before, after, strict=True):
        if old.portal_id is not None and old.action is Action.WRITE:
            assert new.action is Action.SKIP and new.outcome is not None and new.outcome.value == "invalid"
        else:
            assert new == old


def test_a_float_from_2_to_the_53_on_is_refused_as_ambiguous() -> None:
    # Review: 2.0**53 was accepted, and 2**53 + 1 as a float reads the same: it could name another account.
    with pytest.raises(InvalidInputError, match="exact"):
        validate_portal_id(2.0**53)
    assert validate_portal_id(2.0**53 - 1) == str(2**53 - 1)


def test_balanced_groups_are_never_empty_when_accounts_cost_nothing() -> None:
    # Review: three accounts of invalid rows (cost 0) all went to group 0 of three.
    from airflow_provider_hubspot_channels.reconciliation.fanout import split_by_account

    rows = [{"portal_id": p, "channel_id": 1001, "message_id": "m", "delivery_status": "bogus"} for p in (1, 2, 3)]
    assert [len(group["messages"]) for group in split_by_account(rows, groups=3)] == [1, 1, 1]


def test_an_invalid_row_keeps_the_account_it_names_in_its_report_row() -> None:
    # Review: an invalid row's report row had no portal_id, while the fan-out placed it with its account.
    policy = StalenessPolicy(
        stale_after=timedelta(minutes=15), reference_time=datetime(2026, 11, 2, tzinfo=timezone.utc)
    )
    (decision,) = plan([{**ROW, "portal_id": "5", "delivery_status": "bogus"}], policy, mode=Mode.TWO_WAY)
    assert decision.outcome is not None and decision.outcome.value == "invalid"
    assert json.loads(decision_outcome(decision).to_json())["portal_id"] == "5"
