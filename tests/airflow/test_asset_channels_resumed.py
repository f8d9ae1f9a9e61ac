"""A resumed batch's asset event names the channels of the rows an earlier try settled, not only this try's."""

from __future__ import annotations

from airflow_provider_hubspot_channels.operators.assets import ChannelIds
from airflow_provider_hubspot_channels.reconciliation import Action, Decision


def decision(index: int, channel: str | None) -> Decision:
    return Decision(index, channel, f"m-{index}", Action.SKIP, None, "", None)


def test_every_decision_passes_through_unchanged_and_only_id_like_channels_are_noted() -> None:
    plan = [decision(0, "1001"), decision(1, "not an id"), decision(2, None), decision(3, "1002"), decision(4, "1001")]
    channels = ChannelIds()

    assert list(channels.noting(plan)) == plan
    assert channels.ids == {"1001", "1002"}
