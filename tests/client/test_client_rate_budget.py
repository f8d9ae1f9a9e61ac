"""The rate budget keeps every rolling window under its limit and adapts to HubSpot's headers."""

from __future__ import annotations

import threading

from airflow_provider_hubspot_channels.client.rate_budget import BudgetStopped, RateBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headers(max_, remaining, interval_ms=10_000):
    return {
        "X-HubSpot-RateLimit-Max": str(max_),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms),
    }


def test_never_more_than_the_limit_in_a_window():
    clock = FakeClock()
    budget = RateBudget(max_requests=5, interval=10.0, clock=clock)
    for _ in range(5):
        assert budget.acquire() == 0.0
    taken = threading.Event()

    def sixth():
        budget.acquire()
        taken.set()

    thread = threading.Thread(target=sixth)
    thread.start()
    assert not taken.wait(0.2)  # the window is full
    clock.now += 10.0  # the first five age out
    assert taken.wait(2.0)
    thread.join()


def test_limit_is_capped_by_the_account_share():
    clock = FakeClock()
    budget = RateBudget(max_requests=1000, share=0.5, clock=clock)
    budget.observe(headers(110, 110))
    assert budget.limit < 1000
    for _ in range(50):
        clock.now += 1
        budget.observe(headers(110, 110))
    assert budget.limit == 55


def test_alone_it_converges_just_under_the_account_limit():
    clock = FakeClock()
    budget = RateBudget(max_requests=1000, clock=clock)
    for _ in range(60):
        clock.now += 1
        budget.observe(headers(110, 110))
    assert 105 <= budget.limit <= 108


def test_others_usage_lowers_the_limit():
    clock = FakeClock()
    budget = RateBudget(max_requests=110, clock=clock)
    for _ in range(60):
        clock.now += 1
        # 80 of 110 used by someone else, none by us
        budget.observe(headers(110, 30))
    assert 25 <= budget.limit <= 30


def test_a_429_halves_the_limit_and_holds_callers():
    clock = FakeClock()
    budget = RateBudget(max_requests=100, clock=clock)
    budget.penalise(5.0)
    assert budget.limit == 50
    taken = threading.Event()
    thread = threading.Thread(target=lambda: (budget.acquire(), taken.set()))
    thread.start()
    assert not taken.wait(0.2)
    clock.now += 5.0
    assert taken.wait(2.0)
    thread.join()


def test_stop_wakes_waiting_callers():
    clock = FakeClock()
    budget = RateBudget(max_requests=1, clock=clock)
    budget.acquire()
    errors = []

    def waiter():
        try:
            budget.acquire()
        except BudgetStopped as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    budget.stop()
    thread.join(2.0)
    assert not thread.is_alive() and len(errors) == 1


def test_missing_headers_change_nothing():
    budget = RateBudget(max_requests=7)
    budget.observe({})
    budget.observe({"X-HubSpot-RateLimit-Max": "x", "X-HubSpot-RateLimit-Remaining": "1"})
    assert budget.limit == 7
