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

``two_way`` (default 240 records, at least one of every case) seeds every case of two-way reconciliation (issue
13). Records also carry ``reported_status`` (what the bridge last told HubSpot), ``receipt_at`` (when the
carrier's receipt arrived) and ``conversations_thread_id`` (outgoing messages cluster in threads, about 4 per
thread). Besides the case (:attr:`ScenarioSeed.expected`), each message has the status HubSpot must show after a
correct two-way run (:attr:`ScenarioSeed.expected_status`, None: no status or unknown to HubSpot) and that run's
outcome (:attr:`ScenarioSeed.expected_outcome`), for the records passed as they are, ``verify_status=True``,
``stale_after`` the SLA (10 min) and the reference time ``now``:

====================  =====  ===============================================  =============  ========================
case                  share  integrator record / HubSpot state                HubSpot after  outcome
====================  =====  ===============================================  =============  ========================
stale                 ~14%   ``pending``, 15 min to 3 h old / none or SENT    FAILED         marked_failed
fresh                 ~8%    ``pending``, under 10 min old / none or SENT     unchanged      skipped_not_stale
unreported_delivered  ~14%   ``delivered``, nothing reported / none or SENT   SENT           marked_sent, or
                                                                                             already_correct (SENT)
unreported_read       ~7%    ``read``, nothing reported / none or SENT        READ           marked_read
unreported_failed     ~6%    ``failed`` + carrier error / none or SENT        FAILED         marked_failed_by_carrier
late_delivered        ~8%    ``delivered``, reported FAILED / FAILED (SLA)    SENT           corrected_to_sent
late_read             ~5%    ``read``, reported FAILED / FAILED (SLA)         READ           corrected_to_read
late_failed           ~3%    ``failed`` + carrier error / FAILED (SLA text)   FAILED         marked_failed_by_carrier
already_reported      ~20%   reported = target / HubSpot agrees               unchanged      already_reported
read_in_hubspot       ~8%    ``pending`` (stale), ``delivered``, ``failed``   READ           skipped_read_in_hubspot
                             / READ
incoming              ~4%    ``pending`` (stale) or ``delivered`` / an        unchanged      skipped_not_outgoing
                             INCOMING message (none or RECEIVED)
not_found             ~3%    ``pending`` (stale) or ``delivered`` / unknown   (absent)       not_found
====================  =====  ===============================================  =============  ========================

``late_failed`` records carry no ``reported_status``: HubSpot's FAILED equals the target, and only the text is
wrong, so a reported FAILED would skip them (the reference store leaves it out after a newer receipt). Through the
reference store (:mod:`airflow_provider_hubspot_channels.sqlite_store`) ``already_reported`` rows are not loaded.

Threads group the messages per recipient, and also hold incoming replies, welcome messages and agents' comments,
so the Inbox API returns mixed types as HubSpot does. Everything is drawn from ``random.Random(seed)``: the same
seed, count and ``now`` give the same records, ids and state.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .state import DEFAULT_CHANNEL_ID, DEFAULT_INBOX_ID, SimulatorState
from .timefmt import from_ms, to_ms

SLA_SECONDS = 600
DEFAULT_COUNTS = {"reconciliation": 1000, "smoke": 12, "two_way": 240}
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


TWO_WAY_CASES = (
    "stale",
    "fresh",
    "unreported_delivered",
    "unreported_read",
    "unreported_failed",
    "late_delivered",
    "late_read",
    "late_failed",
    "already_reported",
    "read_in_hubspot",
    "incoming",
    "not_found",
)
_TWO_WAY_SHARES = {
    "stale": 0.14,
    "fresh": 0.08,
    "unreported_delivered": 0.14,
    "unreported_read": 0.07,
    "unreported_failed": 0.06,
    "late_delivered": 0.08,
    "late_read": 0.05,
    "late_failed": 0.03,
    "already_reported": 0.20,
    "read_in_hubspot": 0.08,
    "incoming": 0.04,
    "not_found": 0.03,
}
# What HubSpot shows after an earlier run marked a message FAILED for want of a receipt.
_SLA_FAILURE_TEXT = "Not delivered: no delivery receipt within 10 minutes. Please check the number and resend it."


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
    :param expected: classification (``two_way``: case) of each record by message id (see the module docstring).
    :param expected_status: ``two_way`` only: the status HubSpot must show after a correct run, by message id.
    :param expected_outcome: ``two_way`` only: the outcome of a correct run, by message id.
    """

    name: str
    seed: int
    now: datetime
    sla_seconds: int
    channel_id: int
    inbox_id: int
    records: list[dict[str, Any]]
    expected: dict[str, str]
    expected_status: dict[str, str | None] = field(default_factory=dict)
    expected_outcome: dict[str, str] = field(default_factory=dict)

    def counts(self) -> Counter[str]:
        """Number of records per expected classification."""
        return Counter(self.expected.values())

    def ids(self, classification: str) -> list[str]:
        """Message ids of one classification, in record order.

        :param classification: one of :data:`CLASSIFICATIONS` (``two_way``: :data:`TWO_WAY_CASES`).
        """
        return [r["message_id"] for r in self.records if self.expected[r["message_id"]] == classification]

    def write_jsonl(self, path: str | os.PathLike[str]) -> None:
        """Write the records as JSON Lines (one record per line, UTF-8).

        :param path: the file to write.
        """
        with open(path, "w", encoding="utf-8") as out:
            for record in self.records:
                out.write(json.dumps(record, separators=(",", ":")) + "\n")


def _allocate(count: int, at_least_one: bool, shares: dict[str, float] = _SHARES) -> dict[str, int]:
    exact = {c: count * share for c, share in shares.items()}
    sizes = {c: int(v) for c, v in exact.items()}
    for c in sorted(exact, key=lambda c: exact[c] - sizes[c], reverse=True)[: count - sum(sizes.values())]:
        sizes[c] += 1
    if at_least_one and count >= len(shares):
        for c in shares:
            if sizes[c] == 0:
                sizes[max(sizes, key=lambda k: sizes[k])] -= 1
                sizes[c] = 1
    return sizes


def seed_scenario(
    state: SimulatorState,
    name: str,
    count: int | None = None,
    *,
    now: datetime | None = None,
    seed: int = 0,
    portal_id: int | None = None,
) -> ScenarioSeed:
    """Seed a named scenario into the store.

    :param state: the store (of one account).
    :param name: ``reconciliation``, ``smoke`` or ``two_way``.
    :param count: number of integrator records; the scenario's default when None.
    :param now: reference time (aware); the current time when None.
    :param seed: seed of every draw.
    :param portal_id: the account the store belongs to: every record names it as ``portal_id`` (decimal text, as
        the provider normalises it), and the draws depend on it, so accounts seeded with one seed get different
        message ids. None: records name no account, draws as before accounts existed.
    :raises ValueError: unknown scenario, negative count, or naive ``now``.
    """
    if name not in DEFAULT_COUNTS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    count = DEFAULT_COUNTS[name] if count is None else count
    if count < 0:
        raise ValueError("count must not be negative")
    now = now or datetime.now(timezone.utc)
    now_ms = to_ms(now)
    rng = random.Random(f"{name}:{seed}" if portal_id is None else f"{name}:{seed}:{portal_id}")
    if name == "two_way":
        seeded = _seed_two_way(state, count, now, now_ms, rng, seed)
    else:
        seeded = _seed_one_way(state, name, count, now, now_ms, rng, seed)
    if portal_id is not None:
        for record in seeded.records:
            record["portal_id"] = str(portal_id)
    return seeded


def _seed_one_way(
    state: SimulatorState, name: str, count: int, now: datetime, now_ms: int, rng: random.Random, seed: int
) -> ScenarioSeed:
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


# Minutes before `now` per case; settled records may be of any age, the others keep clear of the SLA.
_TWO_WAY_AGES = {"fresh": (0.5, 9.0), "unreported_delivered": (1.0, 180.0), "unreported_read": (1.0, 180.0)}
_STALE_AGE = (15.0, 180.0)
_WRITE = {"SENT": "marked_sent", "READ": "marked_read", "FAILED": "marked_failed_by_carrier"}
_RECEIPT_TARGET = {"delivered": "SENT", "read": "READ", "failed": "FAILED"}


@dataclass
class _TwoWayPlan:
    """One record of ``two_way`` and HubSpot's side of it."""

    created: int
    case: str
    message_id: str
    recipient: str
    delivery: str = "pending"
    reported: str | None = None
    status: str | None = None  # HubSpot's status now
    text: str | None = None  # HubSpot's failure text now
    direction: str = "OUTGOING"
    carrier_error: str | None = None
    receipt: int | None = None  # epoch ms
    outcome: str = ""
    final: str | None = None


def _seed_two_way(
    state: SimulatorState, count: int, now: datetime, now_ms: int, rng: random.Random, seed: int
) -> ScenarioSeed:
    sizes = _allocate(count, at_least_one=True, shares=_TWO_WAY_SHARES)
    cases = [c for c in TWO_WAY_CASES for _ in range(sizes[c])]
    rng.shuffle(cases)
    # About 4 records per conversation: after an outage a customer's unanswered messages pile up in one thread.
    recipients = [f"+1555{n:07d}" for n in rng.sample(range(10_000_000), max(1, round(count / 4)))]
    plans = []
    for case in cases:
        low, high = _TWO_WAY_AGES.get(case, _STALE_AGE)
        created = now_ms - round(rng.uniform(low, high) * 60_000)
        plan = _TwoWayPlan(created, case, f"{rng.getrandbits(128):032x}", rng.choice(recipients))
        _two_way_sides(plan, rng, now_ms)
        plans.append(plan)
    plans.sort(key=lambda p: (p.created, p.message_id))

    state.seed_defaults()
    channel_id = DEFAULT_CHANNEL_ID
    threads: dict[str, str] = {}
    with state.lock:
        for plan in plans:
            if plan.case == "not_found":
                continue
            message = state.add_message(
                channel_id,
                plan.message_id,
                plan.direction,
                from_ms(plan.created),
                plan.status,
                recipient=plan.recipient,
                error_message=plan.text,
            )
            threads[plan.recipient] = message["conversationsThreadId"]
            roll = rng.random()
            thread_id = int(message["conversationsThreadId"])
            if roll < 0.08 and plan.direction == "OUTGOING":  # a reply the batch does not list
                reply_at = min(now_ms - 1000, plan.created + rng.randrange(60_000, 300_000))
                state.add_message(channel_id, None, "INCOMING", from_ms(reply_at), thread_id=thread_id)
            elif roll < 0.12:
                state.add_comment(thread_id, created_at=from_ms(min(now_ms - 1000, plan.created + 30_000)))
    records = [
        {
            "channel_id": channel_id,
            "message_id": plan.message_id,
            "created_at": from_ms(plan.created).isoformat(timespec="milliseconds"),
            "delivery_status": plan.delivery,
            "recipient": plan.recipient,
            "carrier_error": plan.carrier_error,
            "reported_status": plan.reported,
            "receipt_at": None if plan.receipt is None else from_ms(plan.receipt).isoformat(timespec="milliseconds"),
            # A message HubSpot does not know may still name its customer's thread (the store kept the webhook).
            "conversations_thread_id": threads.get(plan.recipient),
        }
        for plan in plans
    ]
    return ScenarioSeed(
        name="two_way",
        seed=seed,
        now=now.astimezone(timezone.utc),
        sla_seconds=SLA_SECONDS,
        channel_id=channel_id,
        inbox_id=DEFAULT_INBOX_ID,
        records=records,
        expected={p.message_id: p.case for p in plans},
        expected_status={p.message_id: p.final for p in plans},
        expected_outcome={p.message_id: p.outcome for p in plans},
    )


def _two_way_sides(plan: _TwoWayPlan, rng: random.Random, now_ms: int) -> None:
    """Fill in the record, HubSpot's side and the expected result of one ``two_way`` case."""
    case, roll = plan.case, rng.random()
    unset = None if roll < 0.6 else "SENT"  # what HubSpot shows before anyone reported (undocumented)

    def receipt(delivery: str, after_sla: bool = False) -> None:
        plan.delivery = delivery
        plan.carrier_error = rng.choice(_CARRIER_ERRORS) if delivery == "failed" else None
        earliest = plan.created + (SLA_SECONDS * 1000 + 30_000 if after_sla else 2_000)
        plan.receipt = rng.randrange(earliest, max(earliest + 1, now_ms - 30_000))

    if case in ("stale", "fresh"):
        plan.status = unset
        plan.outcome, plan.final = ("marked_failed", "FAILED") if case == "stale" else ("skipped_not_stale", unset)
    elif case.startswith("unreported_"):
        receipt(case.removeprefix("unreported_"))
        target = _RECEIPT_TARGET[plan.delivery]
        plan.status, plan.final = unset, target
        plan.outcome = "already_correct" if unset == target else _WRITE[target]
    elif case.startswith("late_"):
        receipt(case.removeprefix("late_"), after_sla=True)
        plan.status, plan.text = "FAILED", _SLA_FAILURE_TEXT
        target = _RECEIPT_TARGET[plan.delivery]
        plan.final = target
        if plan.delivery == "failed":
            # Reported FAILED would equal the target and cost nothing: the store leaves it out (newer receipt).
            plan.outcome = "marked_failed_by_carrier"
        else:
            plan.reported = "FAILED"
            plan.outcome = f"corrected_to_{target.lower()}"
    elif case == "already_reported":
        delivery = rng.choice(("pending", "delivered", "read", "failed"))
        if delivery == "pending":
            plan.text = _SLA_FAILURE_TEXT
        else:
            receipt(delivery)
            plan.text = f"Carrier rejected the message ({plan.carrier_error})" if plan.carrier_error else None
        plan.reported = plan.status = plan.final = _RECEIPT_TARGET.get(plan.delivery, "FAILED")
        plan.outcome = "already_reported"
    elif case == "read_in_hubspot":
        delivery = rng.choice(("pending", "delivered", "failed"))
        if delivery != "pending":
            receipt(delivery)
        plan.status = plan.final = "READ"
        plan.outcome = "skipped_read_in_hubspot"
    elif case == "incoming":
        if roll < 0.5:
            receipt("delivered")
        plan.direction = "INCOMING"
        plan.status = plan.final = None if rng.random() < 0.5 else "RECEIVED"
        plan.outcome = "skipped_not_outgoing"
    else:  # not_found
        if roll < 0.3:
            receipt("delivered")
        plan.outcome = "not_found"
