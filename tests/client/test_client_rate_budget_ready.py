"""Issue 15: a runner serving many accounts asks which account's budget can send now, without taking a slot."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client.rate_budget import RateBudget
from tests.client.test_client_rate_budget import FakeClock, headers


def test_asking_takes_nothing():
    clock = FakeClock()
    budget = RateBudget(max_requests=10, interval=10.0, clock=clock)  # a burst of 1, then one per second
    for _ in range(1000):
        assert budget.ready() and budget.wait_needed() == 0.0
    assert budget.try_acquire()
    assert not budget.ready() and 0.9 < budget.wait_needed() <= 1.0
    clock.now += 1.0
    assert budget.ready() and budget.try_acquire()


def test_a_stopped_budget_is_never_ready():
    budget = RateBudget(max_requests=10, clock=FakeClock())
    budget.stop()
    assert not budget.ready()


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.floats(min_value=0.0, max_value=3.0)),
        st.tuples(st.just("take"), st.just(0.0)),
        st.tuples(st.just("observe"), st.integers(min_value=0, max_value=110)),
        st.tuples(st.just("penalise"), st.floats(min_value=0.0, max_value=2.0)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops=OPS, limit=st.integers(min_value=1, max_value=200))
def test_property_ready_predicts_try_acquire_and_changes_nothing(ops, limit):
    # Two budgets see the same history; one is asked before every step. Both grant exactly the same slots, and the
    # answer to "ready?" is what try_acquire does right after.
    clock = FakeClock()
    asked = RateBudget(max_requests=limit, clock=clock)
    plain = RateBudget(max_requests=limit, clock=clock)
    for op, value in ops:
        predicted = asked.ready()
        assert predicted == (asked.wait_needed() == 0.0)
        if op == "tick":
            clock.now += value
        elif op == "take":
            got = asked.try_acquire()
            assert got == plain.try_acquire()
            assert got == predicted
        elif op == "observe":
            for budget in (asked, plain):
                budget.observe(headers(110, value))
        else:
            for budget in (asked, plain):
                budget.penalise(value)
