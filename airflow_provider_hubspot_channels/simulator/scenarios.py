"""Named, realistic seed scenarios: HubSpot's side goes into the simulator, the integrator's side comes back.

``reconciliation`` (default 1000 records) models an SMS integration whose delivery receipts sometimes never
arrive. Outgoing messages on channel 1001 spread over the three hours before ``now``; the integrator's own store
holds one record per message, and each record has an expected classification:

============  =====  ==========================================================  ==========================
class         share  integrator record / HubSpot state                           a correct reconciler
============  =====  ==========================================================  ==========================
stale         ~35%   ``pending``, 15 min to 3 h old / no status or SENT          marks FAILED
fresh         ~20%   ``pending``, under 10 min old (the SLA) / no status or SENT leaves alone
delivered     ~25%   ``delivered`` / SENT or no status                           does not mark FAILED
read          ~10%   ``read``, ``delivered`` or even ``pending`` / READ          never overwrites
failed        ~7%    ``failed`` with a carrier error / FAILED already            leaves alone
not_found     ~3%    ``pending`` or ``delivered`` / unknown to HubSpot (404)     reports, does not crash
============  =====  ==========================================================  ==========================

``smoke`` is the same mix with a default of 12 records and at least one record of every class.

Threads group the messages per recipient, and also hold incoming replies, welcome messages and agents' comments,
so the Inbox API returns mixed types as HubSpot does. Everything is drawn from ``random.Random(seed)``: the same
seed, count and ``now`` give the same records, ids and state.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .state import DEFAULT_CHANNEL_ID, DEFAULT_INBOX_ID, SimulatorState
from .timefmt import from_ms, to_ms

SLA_SECONDS = 600
DEFAULT_COUNTS = {"reconciliation": 1000, "smoke": 12}
SCENARIOS = tuple(DEFAULT_COUNTS)
CLASSIFICATIONS = ("stale", "fresh", "delivered", "read", "failed", "not_found")
_SHARES = {"stale": 0.35, "fresh": 0.20, "delivered": 0.25, "read": 0.10, "failed": 0.07, "not_found": 0.03}
# Minutes before `now`; gaps around the 10-minute SLA keep classes unambiguous while a test runs.
_AGE_MINUTES = {
    "stale": (15.0, 180.0),
    "fresh": (0.5, 9.0),
    "delivered": (1.0, 180.0),
    "read": (15.0, 180.0),
    "failed": (5.0, 180.0),
    "not_found": (15.0, 180.0),
}
_CARRIER_ERRORS = (
    "30003 Unreachable destination handset",
    "30005 Unknown destination handset",
    "30006 Landline or unreachable carrier",
    "30007 Message filtered by carrier",
)


@dataclass
class ScenarioSeed:
    """The integrator's side of a seeded scenario.

    :param name: scenario name.
    :param seed: its seed.
    :param now: the reference time the ages are relative to.
    :param sla_seconds: age after which a pending message is stale.
    :param channel_id: the channel of every record.
    :param inbox_id: the inbox the threads are in.
    :param records: the integrator's delivery records, oldest first: ``channel_id``, ``message_id``,
        ``created_at`` (ISO 8601 UTC with offset), ``delivery_status`` (``pending``, ``delivered``, ``read``,
        ``failed``), ``recipient``, ``carrier_error`` (None unless failed).
    :param expected: classification of each record by message id (see the module docstring).
    """

    name: str
    seed: int
    now: datetime
    sla_seconds: int
    channel_id: int
    inbox_id: int
    records: list[dict[str, Any]]
    expected: dict[str, str]

    def counts(self) -> Counter[str]:
        """Number of records per expected classification."""
        return Counter(self.expected.values())

    def ids(self, classification: str) -> list[str]:
        """Message ids of one classification, in record order.

        :param classification: one of :data:`CLASSIFICATIONS`.
        """
        return [r["message_id"] for r in self.records if self.expected[r["message_id"]] == classification]

    def write_jsonl(self, path: str | os.PathLike[str]) -> None:
        """Write the records as JSON Lines (one record per line, UTF-8).

        :param path: the file to write.
        """
        with open(path, "w", encoding="utf-8") as out:
            for record in self.records:
                out.write(json.dumps(record, separators=(",", ":")) + "\n")


def _allocate(count: int, at_least_one: bool) -> dict[str, int]:
    exact = {c: count * share for c, share in _SHARES.items()}
    sizes = {c: int(v) for c, v in exact.items()}
    for c in sorted(exact, key=lambda c: exact[c] - sizes[c], reverse=True)[: count - sum(sizes.values())]:
        sizes[c] += 1
    if at_least_one and count >= len(CLASSIFICATIONS):
        for c in CLASSIFICATIONS:
            if sizes[c] == 0:
                sizes[max(sizes, key=lambda k: sizes[k])] -= 1
                sizes[c] = 1
    return sizes


def seed_scenario(
    state: SimulatorState, name: str, count: int | None = None, *, now: datetime | None = None, seed: int = 0
) -> ScenarioSeed:
    """Seed a named scenario into the store.

    :param state: the store.
    :param name: ``reconciliation`` or ``smoke``.
    :param count: number of integrator records; the scenario's default when None.
    :param now: reference time (aware); the current time when None.
    :param seed: seed of every draw.
    :raises ValueError: unknown scenario, negative count, or naive ``now``.
    """
    if name not in DEFAULT_COUNTS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    count = DEFAULT_COUNTS[name] if count is None else count
    if count < 0:
        raise ValueError("count must not be negative")
    now = now or datetime.now(timezone.utc)
    now_ms = to_ms(now)
    rng = random.Random(f"{name}:{seed}")
    sizes = _allocate(count, at_least_one=name == "smoke")
    classes = [c for c in CLASSIFICATIONS for _ in range(sizes[c])]
    rng.shuffle(classes)
    recipients = [f"+1555{n:07d}" for n in rng.sample(range(10_000_000), max(1, count // 3))]

    plans = []
    for classification in classes:
        low, high = _AGE_MINUTES[classification]
        created = now_ms - round(rng.uniform(low, high) * 60_000)
        plans.append((created, classification, f"{rng.getrandbits(128):032x}", rng.choice(recipients)))
    plans.sort()

    state.seed_defaults()
    channel_id = DEFAULT_CHANNEL_ID
    seen_recipients: set[str] = set()
    records: list[dict[str, Any]] = []
    expected: dict[str, str] = {}
    with state.lock:
        for created, classification, message_id, recipient in plans:
            delivery, hubspot_status, carrier_error = _sides(classification, rng)
            if classification != "not_found":
                thread = None
                if recipient not in seen_recipients and rng.random() < 0.3:
                    first = state.add_thread(channel_id, recipient=recipient, created_at=from_ms(created - 2000))
                    thread = int(first["id"])
                    state.add_welcome_message(thread, created_at=from_ms(created - 1000))
                seen_recipients.add(recipient)
                message = state.add_message(
                    channel_id,
                    message_id,
                    "OUTGOING",
                    from_ms(created),
                    hubspot_status,
                    recipient=recipient,
                    thread_id=thread,
                    error_message=f"Carrier rejected the message ({carrier_error})" if carrier_error else None,
                )
                thread_id = int(message["conversationsThreadId"])
                roll = rng.random()
                if roll < 0.15:
                    reply_at = min(now_ms - 1000, created + rng.randrange(60_000, 300_000))
                    if reply_at > created:
                        state.add_message(channel_id, None, "INCOMING", from_ms(reply_at), thread_id=thread_id)
                elif roll < 0.20:
                    state.add_comment(thread_id, created_at=from_ms(min(now_ms - 1000, created + 30_000)))
            records.append(
                {
                    "channel_id": channel_id,
                    "message_id": message_id,
                    "created_at": from_ms(created).isoformat(timespec="milliseconds"),
                    "delivery_status": delivery,
                    "recipient": recipient,
                    "carrier_error": carrier_error,
                }
            )
            expected[message_id] = classification
    return ScenarioSeed(
        name=name,
        seed=seed,
        now=now.astimezone(timezone.utc),
        sla_seconds=SLA_SECONDS,
        channel_id=channel_id,
        inbox_id=DEFAULT_INBOX_ID,
        records=records,
        expected=expected,
    )


def _sides(classification: str, rng: random.Random) -> tuple[str, str | None, str | None]:
    """(integrator delivery status, HubSpot status type, carrier error) for one record."""
    roll = rng.random()
    if classification == "stale":
        return "pending", None if roll < 0.6 else "SENT", None
    if classification == "fresh":
        return "pending", None if roll < 0.75 else "SENT", None
    if classification == "delivered":
        return "delivered", "SENT" if roll < 0.8 else None, None
    if classification == "read":
        return ("read" if roll < 0.4 else "delivered" if roll < 0.7 else "pending"), "READ", None
    if classification == "failed":
        return "failed", "FAILED", rng.choice(_CARRIER_ERRORS)
    return ("pending" if roll < 0.7 else "delivered"), None, None
