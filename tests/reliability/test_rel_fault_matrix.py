"""Issue 5.2, the fault matrix: seeded reconciliations through the real operator against a faulty simulator.

Each run seeds the same 300-record ``reconciliation`` scenario, injects one kind of fault (and, last, all of them
together) and checks the promises: every stale message ends FAILED, no READ is overwritten, nothing that is not
stale is written, and the summary's counts equal both a fault-free run and the simulator's own record. The faults
injected and survived are printed (``pytest -s``) and recorded in ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.runner.attempt import REPEATED_WRITE_NOTE
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator

from ._support import check_invariants, context_for, fault_counts, reconcile, settled_log, use_connection

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
RECORDS = 300
SEED = 7
#: Short timeout so that latency spikes (``slow``) pass it; enough retries that 10% 5xx cannot exhaust them.
CONNECTION = {"timeout": 0.5, "max_retries": 6, "max_requests_per_10s": 10_000}
FIVE_XX = {"p_500": 0.025, "p_502": 0.025, "p_503": 0.025, "p_504": 0.025, "html_share": 0.4}
MATRIX: dict[str, FaultConfig] = {
    "5xx_10pct_some_html": FaultConfig(**FIVE_XX),  # type: ignore[arg-type]
    "429_5pct": FaultConfig(p_429=0.05, retry_after=0),
    "423_2pct": FaultConfig(p_423=0.02, retry_after=0),
    "reset_2pct": FaultConfig(p_reset=0.02),
    "slow_past_timeout_3pct": FaultConfig(p_slow=0.03, slow_seconds=1.0),
    "reset_after_write_2pct": FaultConfig(p_reset_after=0.02),
    "all_together": FaultConfig(
        **FIVE_XX,  # type: ignore[arg-type]
        p_429=0.05,
        p_423=0.02,
        p_reset=0.02,
        p_slow=0.02,
        p_reset_after=0.01,
        slow_seconds=1.0,
        retry_after=0,
    ),
}


def run(monkeypatch: pytest.MonkeyPatch, faults: FaultConfig | None) -> dict[str, Any]:
    # The account's limit is high and its window short so that the run measures faults, not rate limiting;
    # the rate-limit headers are still sent, so the budget recovers after injected 429s as it would on HubSpot.
    with HubSpotSimulator(seed=SEED, rate_limit=1000, rate_window_seconds=1.0) as sim:
        seed = sim.seed_scenario("reconciliation", RECORDS, now=NOW)
        sim.set_faults(faults)
        use_connection(monkeypatch, sim, **CONNECTION)
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.jsonl"
            summary = reconcile(seed.records, max_concurrency=16, report_path=str(report)).execute(context_for(seed))
            rows = [json.loads(line) for line in report.read_text().splitlines()]
        elapsed = time.monotonic() - started
        log = settled_log(sim)
        written = check_invariants(sim, seed)
        return {
            "summary": summary,
            "flagged": {r["message_id"] for r in rows if REPEATED_WRITE_NOTE in r["reason"]},
            "seed": seed,
            "written": written,
            "faults": fault_counts(sim),
            "requests": len(log),
            "patches": sum(1 for e in log if e.method == "PATCH"),
            "elapsed": elapsed,
        }


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run(monkeypatch, None)


def test_fault_free_baseline_matches_the_scenario(baseline: dict[str, Any]) -> None:
    counts, seed = baseline["summary"]["counts"], baseline["seed"]
    assert counts["marked_failed"] == len(seed.ids("stale")) == baseline["written"]["messages_failed_by_api"]
    assert baseline["written"]["duplicate_writes"] == 0
    assert baseline["patches"] == len(seed.ids("stale"))
    assert counts["not_found"] == sum(
        1 for r in seed.records if seed.expected[r["message_id"]] == "not_found" and r["delivery_status"] == "pending"
    )
    assert counts["error"] == counts["not_attempted"] == counts["invalid"] == 0


@pytest.mark.parametrize("kind", list(MATRIX))
def test_reconciliation_survives(kind: str, baseline: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(monkeypatch, MATRIX[kind])
    counts = result["summary"]["counts"]
    injected = result["faults"]
    assert sum(injected.values()) > 0, "the seed injected nothing: the run proves nothing"
    # The same decisions as without faults, and the summary agrees with what the simulator recorded.
    assert counts == baseline["summary"]["counts"]
    assert counts["marked_failed"] == result["written"]["messages_failed_by_api"]
    # A PATCH whose answer was lost (reset after the write, or an answer slower than the timeout: injected, or on
    # a loaded machine) is retried and lands twice with the same value: allowed, idempotent by value, and reported
    # in the report row of every such message.
    duplicates = result["written"]["duplicate_writes"]
    assert result["written"]["duplicate_ids"] <= result["flagged"]
    # Nothing else writes twice: every PATCH beyond one per marked message is a retry after a fault or no answer.
    assert result["patches"] - counts["marked_failed"] <= sum(injected.values()) + len(result["flagged"])
    figures = ", ".join(f"{k} {n}" for k, n in sorted(injected.items()))
    print(
        f"\n[fault matrix] {kind}: injected and survived: {figures}; requests {result['requests']}, "
        f"PATCHes {result['patches']}, messages written twice {duplicates} "
        f"(report flags {len(result['flagged'])} as possibly twice), {result['elapsed']:.1f} s"
    )
