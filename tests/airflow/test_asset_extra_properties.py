"""Whatever a batch held, the asset event's extra is small JSON with counts and channel ids only."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.operators.assets import (
    MAX_CHANNEL_IDS,
    ChannelIds,
    asset_extra,
    asset_outlets,
    channel_asset,
)
from airflow_provider_hubspot_channels.reconciliation import MessageOutcome, Outcome

pytestmark = pytest.mark.airflow

channel_fields = st.one_of(
    st.none(),
    st.integers(min_value=1, max_value=2**31 - 1).map(str),
    st.text(max_size=40),  # an invalid record's channel field: anything
)


def outcome(channel_id: str | None) -> MessageOutcome:
    return MessageOutcome(
        index=0, channel_id=channel_id, message_id="+4479 personal", outcome=Outcome.INVALID, reason="why"
    )


@settings(max_examples=200, deadline=None)
@given(
    counts=st.dictionaries(st.sampled_from([o.value for o in Outcome]), st.integers(min_value=0, max_value=10**9)),
    channels=st.lists(channel_fields, max_size=200),
    report_path=st.one_of(st.none(), st.text(alphabet="abc/:._-ä", max_size=300)),
    dry_run=st.booleans(),
)
def test_extra_is_small_json_with_counts_and_channel_ids_only(counts, channels, report_path, dry_run):
    seen = ChannelIds()
    for channel in channels:
        seen.add_id(outcome(channel).channel_id)
    summary = {
        "total": sum(counts.values()),
        "counts": counts,
        "dry_run": dry_run,
        "verify_status": True,
        "reference_time": "2026-11-24T12:00:00+00:00",
        "stale_after_seconds": 900.0,
        "duration_seconds": 1.5,
        "report_path": report_path,
        "examples": {"marked_failed": [{"message_id": "+4479 personal"}]},
    }
    extra = asset_extra(summary, seen)
    text = json.dumps(extra)
    assert json.loads(text) == extra
    assert len(text) <= 2500 + 6 * len(report_path or "")
    assert "+4479" not in text  # the message id and the examples stay out
    assert extra["marked_failed"] == counts.get("marked_failed", 0)
    assert extra["marked_failed_by_carrier"] == counts.get("marked_failed_by_carrier", 0)
    assert all(value > 0 for value in extra["counts"].values())
    ids = extra["channel_ids"]
    assert len(ids) <= MAX_CHANNEL_IDS and len(set(ids)) == len(ids)
    assert all(i.isascii() and i.isdigit() and len(i) <= 10 for i in ids)
    distinct = {c for c in channels if c is not None and c.isascii() and c.isdigit() and len(c) <= 10}
    assert extra["channel_ids_truncated"] == (len(distinct) > MAX_CHANNEL_IDS)
    assert set(ids) <= distinct


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=2**31 - 1))
def test_channel_assets_are_accepted_without_warnings(channel_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asset = channel_asset(channel_id)
        assert channel_asset(str(channel_id)) == asset
    assert asset.uri.startswith(f"hubspot-channels://{channel_id}")
    assert asset_outlets([asset, "not an asset"]) == [asset]


def test_an_operator_with_outlets_run_outside_airflow_still_finishes_its_batch(simulator, hubspot_conn):
    # execute() called directly (a user's unit test): no task context, so no event; the batch must still succeed.
    from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator

    simulator.add_message(1001, "direct-1")
    op = UpdateMessageStatusOperator(
        task_id="replay",
        updates=[{"channel_id": 1001, "message_id": "direct-1", "status_type": "SENT"}],
        outlets=[channel_asset(1001)],
    )
    summary = op.execute(context={})
    assert summary["counts"]["marked_sent"] == 1
    assert simulator.get_message(1001, "direct-1")["status"]["statusType"] == "SENT"
