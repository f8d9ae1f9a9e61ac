"""The run's scheduler, driven by random workers: every decision taken once, an account's rows in input order,
one first message per account in flight, a bounded window, and a stopped account's rows never taken."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.reconciliation import Action, Decision
from airflow_provider_hubspot_channels.runner.accounts import Account, Scheduler


def decision(index: int, portal: str | None) -> Decision:
    return Decision(index, "1001", f"m{index}", Action.WRITE, None, "stale", None, portal_id=portal)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([None, "1", "2", "3", "4"]), max_size=80),
    st.integers(1, 12),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_random_workers_take_every_decision_once_in_account_order(
    portals: list[str | None], size: int, multi: bool, seed: int
) -> None:
    rng = random.Random(seed)
    plan = [decision(i, p) for i, p in enumerate(portals)]
    scheduler = Scheduler(iter(plan), size=size, multi=multi)
    in_flight: list[Decision] = []
    taken: list[Decision] = []
    dropped: list[Decision] = []
    stop_one = rng.choice(["1", "2", None]) if multi else None

    def ready(_account: Account) -> bool:
        return rng.random() < 0.5

    def admit(d: Decision) -> bool:
        if scheduler.account(scheduler.key(d)).state == "stopped":
            dropped.append(d)
            return False
        return True

    for _ in range(10 * len(plan) + 10):
        scheduler.fill(admit)
        assert len(scheduler.window) <= size
        if in_flight and (rng.random() < 0.4 or len(in_flight) >= 4):
            done = in_flight.pop(rng.randrange(len(in_flight)))
            key = scheduler.key(done)
            account = scheduler.account(key)
            if account.state == "probing":
                account.state = "open"
            if multi and done.portal_id == stop_one and account.state != "stopped":
                account.state = "stopped"
                dropped.extend(scheduler.drop(key))
            continue
        chosen = scheduler.pick(ready)
        if chosen is None:
            # Only an account's first message in flight may leave nothing to take.
            assert scheduler.done or in_flight
            if scheduler.done and not in_flight:
                break
            continue
        account = scheduler.account(scheduler.key(chosen))
        assert account.state in ("probing", "open")
        if account.state == "probing":  # its first message: nothing else of the account is in flight
            assert not any(scheduler.key(d) == scheduler.key(chosen) for d in in_flight)
        in_flight.append(chosen)
        taken.append(chosen)
    assert scheduler.done
    assert len({d.index for d in taken}) == len(taken)  # never twice
    assert sorted(d.index for d in taken + dropped) == list(range(len(plan)))
    for key in {scheduler.key(d) for d in plan}:
        own = [d.index for d in taken if scheduler.key(d) == key]
        assert own == sorted(own)  # an account's rows in input order
    if not multi:
        assert [d.index for d in taken] == list(range(len(plan)))  # one account: the plan in order
