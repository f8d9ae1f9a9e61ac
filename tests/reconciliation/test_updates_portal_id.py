"""Explicit status updates name their account too (``portal_id`` / ``portalId``), as the batch operator routes them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import Action, Outcome, iter_updates
from airflow_provider_hubspot_channels.reconciliation.records import portal_id_of

ROW = {"channel_id": 1001, "message_id": "m1", "status_type": "SENT"}


def test_an_update_carries_its_account_and_one_message_id_in_two_accounts_is_two_messages() -> None:
    decisions = list(iter_updates([{**ROW, "portalId": 7}, {**ROW, "portal_id": " 8 "}, ROW]))
    assert [d.portal_id for d in decisions] == ["7", "8", None]
    assert [d.action for d in decisions] == [Action.WRITE] * 3


@pytest.mark.parametrize("given", [True, 0, "x", 1.5])
def test_a_bad_account_id_makes_the_row_invalid_naming_the_field(given: Any) -> None:
    (decision,) = iter_updates([{**ROW, "portal_id": given}])
    assert decision.outcome is Outcome.INVALID
    assert decision.reason.startswith("updates[0].portal_id")


@pytest.mark.parametrize("key", ["PORTAL_ID", "portal-id", "Portal Id", "PortalId"])
def test_an_update_names_its_account_in_any_spelling_message_records_accept(key: str) -> None:
    """Read only as ``portal_id``/``portalId``, ``PORTAL_ID: 7`` was dropped and the row written with the
    connection's token (review); records have always read every spelling."""
    (decision,) = iter_updates([{**ROW, key: 7}])
    assert (decision.action, decision.portal_id) == (Action.WRITE, "7")


def test_spellings_of_the_account_that_disagree_make_the_update_invalid() -> None:
    (decision,) = iter_updates([{**ROW, "portal_id": 7, "PORTAL_ID": 8}])
    assert decision.outcome is Outcome.INVALID
    assert decision.reason.startswith("updates[0].") and "disagree" in decision.reason


SPELLINGS = st.sampled_from(["portal_id", "portalId", "PORTAL_ID", "portal-id", "Portal Id", "portalid", "x"])
VALUES = st.one_of(st.integers(-5, 10**20), st.text(max_size=6), st.booleans(), st.none(), st.floats())


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(SPELLINGS, VALUES, max_size=3))
def test_an_update_and_a_message_record_read_one_account_from_the_same_keys(fields: dict[str, Any]) -> None:
    """One reading of the account everywhere (``records.portal_id_of``): an update is routed to the account a
    message record with the same keys names, or is invalid where the record's account cannot be read."""
    row = {**ROW, **fields}
    (decision,) = iter_updates([row])
    try:
        expected = portal_id_of(row)
    except InvalidInputError:
        assert decision.outcome is Outcome.INVALID
        return
    if decision.action is Action.WRITE:
        assert decision.portal_id == expected


@pytest.mark.parametrize("key", ["portl_id", "portal_idd", "protal_id"])
def test_a_misspelt_account_key_makes_the_update_invalid_not_the_connections(key: str) -> None:
    """Review: ``portl_id: 99`` was dropped and the row written with the connection's token; a message record with
    the same key was already refused as a near miss. One reading of the account refuses it for both."""
    (decision,) = iter_updates([{**ROW, key: 99}])
    assert decision.outcome is Outcome.INVALID
    assert decision.reason.startswith(f"updates[0].{key}") and "did you mean portal_id" in decision.reason
    with pytest.raises(InvalidInputError, match="did you mean portal_id"):
        portal_id_of({**ROW, key: 99})


def test_an_invalid_update_keeps_its_account_in_the_report() -> None:
    (decision,) = iter_updates([{**ROW, "status_type": "BOGUS", "portal_id": 202}])
    assert (decision.outcome, decision.portal_id) == (Outcome.INVALID, "202")
