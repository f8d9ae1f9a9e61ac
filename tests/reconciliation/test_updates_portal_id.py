"""Explicit status updates name their account too (``portal_id`` / ``portalId``), as the batch operator routes them."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hubspot_channels.reconciliation import Action, Outcome, iter_updates

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
