"""Many threads waiting on one account's budget: served first come first served, and only the first one watches the
clock (the others sleep until it leaves). Waking every waiter on every answer and every 50 ms tick cost more CPU than
the requests with 64 threads on one account (benchmarks, scenario 10: 6.2 CPU-s per 1,000 requests against 1.8)."""

from __future__ import annotations

import threading
import time

from airflow_provider_hubspot_channels.client.rate_budget import BudgetStopped, RateBudget

HEADERS = {
    "X-HubSpot-RateLimit-Max": "1000",
    "X-HubSpot-RateLimit-Remaining": "900",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
}


class CountingClock:
    """time.monotonic, counting how often the budget asks: each ask is a waiter that woke up and looked."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.calls += 1
        return time.monotonic()


def test_waiting_threads_do_not_all_wake_for_every_answer_and_tick() -> None:
    clock = CountingClock()
    # 20 requests per 2 s: a slot every 100 ms once the burst is used.
    budget = RateBudget(max_requests=20, interval=2.0, clock=clock)
    grants: list[int] = []

    def take(i: int) -> None:
        try:
            budget.acquire()
        except BudgetStopped:  # the test stops the rest once it has seen enough
            return
        grants.append(i)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5.0
    while len(grants) < 12 and time.monotonic() < deadline:
        budget.observe(HEADERS)  # answers keep arriving while threads wait, as in a batch
        time.sleep(0.01)
    looked, granted = clock.calls, len(grants)
    budget.stop()
    for thread in threads:
        thread.join(5)
    assert granted >= 12
    # Only the first waiter looks at the clock (on its ticks and on answers); 31 threads waking for each answer (every
    # 10 ms) and each 50 ms tick would ask thousands of times for a dozen grants.
    assert looked / granted < 60, f"{looked} clock reads for {granted} grants"


def test_first_come_first_served() -> None:
    budget = RateBudget(max_requests=10, interval=1.0)
    while budget.try_acquire():  # use up the burst: from here a slot every 100 ms
        pass
    order: list[int] = []
    threads = []
    for i in range(5):
        thread = threading.Thread(target=lambda i=i: (budget.acquire(), order.append(i)))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # each starts waiting after the one before
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]


def test_stop_wakes_every_waiter() -> None:
    budget = RateBudget(max_requests=1, interval=60.0)
    budget.acquire()
    raised: list[type[BaseException]] = []

    def wait() -> None:
        try:
            budget.acquire()
        except BudgetStopped as exc:
            raised.append(type(exc))

    threads = [threading.Thread(target=wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    budget.stop()
    for thread in threads:
        thread.join(5)
    assert raised == [BudgetStopped] * 8 and not any(t.is_alive() for t in threads)
