"""Scenario 10's arithmetic (``benchmarks/accounts.py``): the share of N x limit and the sizing must be right, or
the README's sizing is wrong. The runs themselves are ``make bench``'s (too long for the test suite)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "accounts.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_accounts", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_accounts"] = module
    spec.loader.exec_module(module)
    return module


accounts = _load()


def even(rate: float, seconds: float, start: float = 1000.0, status: int = 200) -> list[tuple[float, int | None]]:
    """Requests at ``rate`` per second, evenly spaced."""
    return [(start + i / rate, status) for i in range(int(rate * seconds))]


def test_every_account_at_its_limit_is_a_full_share() -> None:
    logs = {str(n): even(11.0, 40.0) for n in range(5)}
    stats = accounts.combined(logs)
    assert stats["share"] == pytest.approx(1.0, abs=0.01)
    assert stats["429"] == 0
    assert stats["requests"] == 5 * 440


def test_the_busiest_rolling_window_of_any_account() -> None:
    steady = [(float(second), 200) for second in range(40) for _ in range(3)]  # 30 in any 10 s
    burst = steady + [(20.5, 200)] * 7
    stats = accounts.combined({"1": steady, "2": burst})
    assert stats["max_in_any_window"] == 37


def test_429s_are_counted_but_not_answered() -> None:
    answered = even(5.5, 40.0)
    refused = [(t + 0.01, 429) for t, _ in answered]
    stats = accounts.combined({"1": answered + refused})
    assert stats["429"] == len(refused)
    assert stats["share"] == pytest.approx(0.5, abs=0.01)


def test_the_window_ends_when_the_first_account_runs_out_of_work() -> None:
    # One account stops after 20 s: the other's later requests must not count against an idle account.
    stats = accounts.combined({"1": even(11.0, 20.0), "2": even(11.0, 40.0)})
    assert stats["steady_seconds"] == pytest.approx(10.0, abs=0.2)
    assert stats["share"] == pytest.approx(1.0, abs=0.02)


def test_a_run_shorter_than_one_window_has_no_share() -> None:
    stats = accounts.combined({"1": even(11.0, 9.0)})
    assert "share" not in stats


@settings(max_examples=150, deadline=None)
@given(rates=st.lists(st.floats(min_value=0.5, max_value=11.0), min_size=1, max_size=8))
def test_share_is_the_mean_of_each_accounts_rate_over_the_limit(rates: list[float]) -> None:
    logs = {str(n): even(rate, 30.0, start=1000.0 + n * 0.013) for n, rate in enumerate(rates)}
    stats = accounts.combined(logs)
    expected = sum(rate / 11.0 for rate in rates) / len(rates)
    # One request at each end of a 20 s window, per account, is the only rounding.
    assert stats["share"] == pytest.approx(expected, abs=2 / (11.0 * stats["steady_seconds"]) + 0.01)
    # A mean lies between its extremes, up to float rounding (equal rates gave a mean 1 ulp above them in CI).
    slack = 1e-9
    assert stats["min_account_share"] - slack <= stats["share"] <= stats["max_account_share"] + slack


def test_sizing_shows_more_processes_and_tasks_for_more_accounts() -> None:
    run = {"setup": "multi", "groups": 1, "accounts": 50, "share": 0.97, "429": 0, "client_cpu_per_1000": 1.0}
    size = accounts.sizing([run])
    small, large = size["rows"]
    assert (small["accounts"], large["accounts"]) == (100, 1000)
    assert small["requests_per_second"] == pytest.approx(1100)
    assert large["cpu_cores"] == pytest.approx(11.0)
    # 11,000 requests/s at 1 ms of CPU each, a task planned at 0.7 of a core (its threads carry ~1,000/s): 16.
    assert size["bound"] == "cpu"
    assert large["tasks"] == 16
    assert small["tasks"] == 2
    assert large["accounts_per_task"] * large["tasks"] >= 1000
    text = "\n".join(accounts.sizing_text(size))
    assert "| 1,000 | 1,000 x 11 = 11,000 | 11,000 x 1.00 ms = 11.0 | 11,000 / 700 -> 16 | 63 |" in text


def test_sizing_plans_no_more_than_one_task_measurably_carried() -> None:
    runs = [
        {"setup": "multi", "groups": 1, "accounts": 50, "share": 0.97, "429": 0, "client_cpu_per_1000": 0.5},
        {
            "setup": "multi",
            "groups": 1,
            "accounts": 100,
            "share": 0.6,
            "429": 0,
            "client_cpu_per_1000": 0.5,
            "ok_per_second": 660.0,
        },
    ]
    size = accounts.sizing(runs)
    assert size["basis"]["accounts"] == 50
    assert size["bound"] == "measured"
    assert size["rows"][1]["tasks"] == 17  # 11,000 / 660
