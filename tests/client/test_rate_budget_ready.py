"""``RateBudget.ready()``: whether a slot is free now, without taking it (the runner prefers accounts that can send)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client.rate_budget import RateBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ready_takes_nothing_and_says_what_try_acquire_would() -> None:
    clock = FakeClock()
    budget = RateBudget(max_requests=20, interval=10.0, clock=clock)  # burst of 2, then one per 0.5 s
    assert budget.ready() and budget.ready()
    assert budget.try_acquire() and budget.try_acquire()
    assert not budget.ready()
    clock.now += 0.5
    assert budget.ready()
    budget.stop()
    assert not budget.ready()


def test_a_probe_is_not_spent_by_asking() -> None:
    clock = FakeClock()
    budget = RateBudget(max_requests=100, interval=10.0, clock=clock)
    # The account is full (others used it): only a probe may go, once per PROBE_EVERY of the window.
    budget.observe({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "0"})
    clock.now += 1.0
    assert budget.ready() and budget.ready()
    assert budget.try_acquire()


operations = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.floats(0.0, 3.0)),
        st.tuples(st.just("take"), st.just(0.0)),
        st.tuples(st.just("ask"), st.just(0.0)),
        st.tuples(st.just("observe"), st.integers(0, 100)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_ready_predicts_the_next_take_and_changes_nothing(ops: list[tuple[str, Any]]) -> None:
    clocks = FakeClock(), FakeClock()
    asked = RateBudget(max_requests=50, interval=10.0, clock=clocks[0])
    twin = RateBudget(max_requests=50, interval=10.0, clock=clocks[1])
    for op, value in ops:
        if op == "wait":
            clocks[0].now += value
            clocks[1].now += value
        elif op == "ask":  # asked between two takes, at another time than either
            asked.ready()
        elif op == "observe":
            for budget in (asked, twin):
                budget.observe({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": str(value)})
        else:
            predicted = asked.ready()
            assert asked.ready() == predicted  # asking twice changes nothing
            taken = asked.try_acquire()
            assert taken == predicted
            assert twin.try_acquire() == taken  # a budget never asked behaves the same
