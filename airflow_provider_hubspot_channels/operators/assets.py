"""Asset events of a reconciliation: the run's counts as the event's extra, for DAGs scheduled on the asset.

A batch task (``ReconcileMessagesOperator``, ``UpdateMessageStatusOperator`` with ``updates=``) declared with
``outlets=[Asset(...)]`` attaches :func:`asset_extra` to the event of every ``Asset`` among its outlets, through
``context["outlet_events"][asset].extra``. Airflow emits outlet events only when the task succeeds: a failed
reconciliation (errors, refused writes, invalid records, a stop) emits none, and is alerted on by Airflow's own
failure handling (``on_failure_callback``, retries), not through the asset.

The extra is small and holds no personal data: counts, flags, times, channel ids and the report's path, never a
message id, recipient or text (those are in the report file).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airflow.sdk import Asset

from airflow_provider_hubspot_channels.reconciliation import Decision, Outcome

_log = logging.getLogger(__name__)

#: URI scheme of this provider's assets; Airflow 3 accepts it as is (no normalizer, no warning).
ASSET_SCHEME = "hubspot-channels"
#: At most this many channel ids in an event's extra (a batch spans few channels; the extra stays small).
MAX_CHANNEL_IDS = 50


def channel_asset(channel_id: int | str) -> Asset:
    """The asset standing for one custom channel's reconciled state: ``hubspot-channels://<channel id>``.

    :param channel_id: the channel's numeric id.
    """
    return Asset(f"{ASSET_SCHEME}://{channel_id}")


class ChannelIds:
    """Collects the channel ids of a batch's outcomes (at most :data:`MAX_CHANNEL_IDS`, then only a flag)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.truncated = False

    def noting(self, decisions: Iterable[Decision]) -> Iterator[Decision]:
        """Pass the plan through, noting each row's channel: a resumed batch's event then also names the channels of
        rows an earlier try settled (this try skips them, so no outcome of theirs comes by).

        :param decisions: the whole plan, in its order.
        """
        for decision in decisions:
            self.add_id(decision.channel_id)
            yield decision

    def add_id(self, channel: str | None) -> None:
        """Note one channel id; anything that does not look like an id is ignored.

        :param channel: the channel id as text, or None.
        """
        # An invalid record's channel field may hold anything (even personal data): only ids that look like ids.
        if channel is None or not (channel.isascii() and channel.isdigit() and len(channel) <= 10):
            return
        if channel in self.ids:
            return
        if len(self.ids) < MAX_CHANNEL_IDS:
            self.ids.add(channel)
        else:
            self.truncated = True


def asset_extra(summary: Mapping[str, Any], channels: ChannelIds) -> dict[str, Any]:
    """The event's extra from a batch's summary: JSON, a few hundred bytes, no personal data.

    :param summary: the batch summary (``RunReport.summary`` plus ``report_path``).
    :param channels: the channels the batch touched.
    """
    counts = {name: int(count) for name, count in summary["counts"].items()}
    return {
        "total": int(summary["total"]),
        # the two numbers an alert reads most, without knowing the outcome names
        "marked_failed": counts.get(Outcome.MARKED_FAILED.value, 0),
        "marked_failed_by_carrier": counts.get(Outcome.MARKED_FAILED_BY_CARRIER.value, 0),
        "counts": {name: count for name, count in counts.items() if count},
        "dry_run": bool(summary["dry_run"]),
        "verify_status": bool(summary["verify_status"]),
        "reference_time": summary.get("reference_time"),
        "stale_after_seconds": summary.get("stale_after_seconds"),
        "channel_ids": sorted(channels.ids, key=lambda c: (len(c), c)),
        "channel_ids_truncated": channels.truncated,
        "report_path": summary.get("report_path"),
        "duration_seconds": summary.get("duration_seconds"),
    }


def asset_outlets(outlets: Iterable[object]) -> list[Asset]:
    """The task's outlets that get the extra: assets (aliases and other kinds are left to the user).

    :param outlets: the operator's ``outlets``.
    """
    return [outlet for outlet in outlets if isinstance(outlet, Asset)]


def attach_to_outlet_events(task: object, extra: Mapping[str, Any]) -> None:
    """Put ``extra`` into the event of every asset among the running task's outlets (nothing if it has none).

    :param task: the operator (its ``outlets``), running inside Airflow.
    :param extra: from :func:`asset_extra`.
    """
    assets = asset_outlets(getattr(task, "outlets", None) or ())
    if not assets:
        return  # no context needed: operators run outside a task (tests calling execute) keep working
    from airflow.sdk import get_current_context

    try:
        outlet_events = get_current_context()["outlet_events"]
    except RuntimeError:
        # execute() called outside a task run (a user's unit test): HubSpot is already updated, so a missing
        # event extra must not fail the batch; Airflow would emit no event here anyway.
        getattr(task, "log", _log).warning("Not running as an Airflow task: no asset event extra attached.")
        return
    for asset in assets:
        outlet_events[asset].extra.update(extra)


__all__ = [
    "ASSET_SCHEME",
    "MAX_CHANNEL_IDS",
    "ChannelIds",
    "asset_extra",
    "asset_outlets",
    "attach_to_outlet_events",
    "channel_asset",
]
