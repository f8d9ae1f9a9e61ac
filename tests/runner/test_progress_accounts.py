"""The durable progress of a multi-account batch: a stopped account's rows are redone, and the set stays small."""

from __future__ import annotations

from airflow_provider_hubspot_channels.reconciliation import MessageOutcome, Outcome
from airflow_provider_hubspot_channels.runner.progress import Progress


def row(index: int, outcome: Outcome, portal: str | None = None) -> MessageOutcome:
    return MessageOutcome(index, "1001", f"m-{index}", outcome, "why", portal_id=portal)


def test_a_stopped_accounts_rows_are_redone_and_do_not_hold_the_watermark_back() -> None:
    progress = Progress("fp")
    # Account 7 stopped at row 1: its rows are not_attempted between the rows of accounts that went on.
    for index in range(40):
        stopped = index % 4 == 1
        progress.handled(
            row(index, Outcome.NOT_ATTEMPTED if stopped else Outcome.MARKED_FAILED, "7" if stopped else "8")
        )
    assert progress.watermark == 40 and not progress.above
    assert [i for i in range(40) if not progress.covers(i)] == list(range(1, 40, 4))
    assert progress.covered == 30 and progress.tracked == 10


def test_a_killed_single_account_batch_keeps_its_rule_not_attempted_rows_change_nothing() -> None:
    progress = Progress("fp")
    progress.handled(row(0, Outcome.MARKED_FAILED))
    progress.handled(row(1, Outcome.NOT_ATTEMPTED))
    progress.handled(row(2, Outcome.MARKED_FAILED))
    assert (progress.watermark, progress.above, progress.redo) == (1, {2}, set())
