"""When a message counts as stale: still pending after its SLA, measured in elapsed real time.

Decision: the boundary is inclusive. A message created exactly ``stale_after`` before the reference time is
stale, so an SLA of 15 minutes means "no receipt within 15 minutes", not "within 15 minutes and a tick".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from airflow_provider_hubspot_channels.reconciliation.records import DeliveryStatus, MessageRecord
from airflow_provider_hubspot_channels.reconciliation.timestamps import parse_duration, parse_reference_time


@dataclass(frozen=True)
class StalenessPolicy:
    """The SLA of a run and the instant it checks against.

    Both are normalised on creation: ``reference_time`` to an aware UTC ``datetime`` (naive ones are refused),
    ``stale_after`` to a positive ``timedelta`` of at most 90 days; bad values raise ``InvalidInputError``.

    :param stale_after: how long a message may wait for its delivery receipt.
    :param reference_time: the instant of the check, usually the data interval end of the run.
    """

    stale_after: timedelta
    reference_time: datetime

    def __post_init__(self) -> None:
        # Same rules as user input: a policy built in code must not slip a naive time past the checks.
        object.__setattr__(self, "stale_after", parse_duration(self.stale_after, field="stale_after"))
        object.__setattr__(self, "reference_time", parse_reference_time(self.reference_time, field="reference_time"))

    @property
    def cutoff(self) -> datetime:
        """The latest creation time that is stale: ``reference_time - stale_after``."""
        return self.reference_time - self.stale_after

    def is_stale(self, record: MessageRecord) -> bool:
        """True when the message has no receipt and was created at or before :attr:`cutoff`.

        :param record: the message to judge.
        """
        return record.delivery_status is DeliveryStatus.PENDING and record.created_at <= self.cutoff

    def age(self, record: MessageRecord) -> timedelta:
        """Elapsed time from sending to the reference time (negative if sent after it).

        :param record: the message.
        """
        return self.reference_time - record.created_at
