"""Issue 5.4, crash and resume: a reconciliation killed with SIGKILL mid-batch is completed by a re-run, the final
state is right, and the re-run writes no message twice except those in flight at the kill. ``on_kill`` stops a
running batch promptly and the messages it did not reach are ``not_attempted``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_hubspot_channels.operators.errors import AirflowException
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

from ._support import ROOT, api_writes, check_invariants, context_for, reconcile, settled_log, use_connection

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONCURRENCY = 4


def patches_per_message(sim: HubSpotSimulator) -> Counter[str]:
    return Counter(e.path.rsplit("/", 1)[-1] for e in sim.request_log if e.method == "PATCH")


def start_worker(sim: HubSpotSimulator, records: Path, report: Path) -> subprocess.Popen[str]:
    args = [sim.base_url, sim.access_token, str(records), NOW.isoformat(), str(report), str(CONCURRENCY)]
    # Output goes to a file: an unread pipe fills up with Airflow's log lines and blocks the worker mid-batch.
    output = report.with_suffix(".log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._reconcile_worker", *args],
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_sigkill_mid_batch_then_rerun_completes_without_double_writes(tmp_path):
    # 50 ms per answer: the batch of ~70 stale messages takes a few seconds, long enough to kill it midway.
    with HubSpotSimulator(seed=31, latency=0.05, rate_limit=None) as sim:
        seed = sim.seed_scenario("reconciliation", 200, now=NOW)
        records = tmp_path / "records.jsonl"
        # Every row of this batch needs HubSpot (stale, or READ there), so every report row comes from a worker.
        needs_hubspot = ("stale", "read")
        seed.records = [r for r in seed.records if seed.expected[r["message_id"]] in needs_hubspot]
        seed.write_jsonl(records)
        stale = len(seed.ids("stale"))

        killed = start_worker(sim, records, tmp_path / "killed.jsonl")
        try:
            assert wait_until(lambda: sum(patches_per_message(sim).values()) >= 15, timeout=60), "no PATCH seen"
            os.kill(killed.pid, signal.SIGKILL)
            killed.wait(10)
        finally:
            if killed.poll() is None:
                killed.kill()
        assert killed.returncode == -signal.SIGKILL
        time.sleep(0.3)  # let requests the dead process left in the simulator finish
        at_kill = patches_per_message(sim)
        written_at_kill = {i for i in seed.ids("stale") if api_writes(sim, seed.channel_id, i)}
        assert 15 <= len(written_at_kill) < stale, "the kill did not land mid-batch"

        # The killed run's report holds the outcomes it had collected, each line whole, none claiming too much.
        rows = [json.loads(line) for line in (tmp_path / "killed.jsonl").read_text().splitlines()]
        reported = {r["message_id"] for r in rows if r["outcome"] == "marked_failed"}
        assert reported <= written_at_kill
        assert len(written_at_kill - reported) <= 2 * CONCURRENCY  # answered, not yet collected at the kill

        rerun = start_worker(sim, records, tmp_path / "rerun.jsonl")
        rerun.wait(timeout=90)
        out = (tmp_path / "rerun.log").read_text()
        assert rerun.returncode == 0, out[-3000:]
        counts = json.loads(out.split("SUMMARY ", 1)[1].splitlines()[0])
        settled_log(sim)

        check_invariants(sim, seed)
        final = patches_per_message(sim)
        assert set(final) == set(seed.ids("stale"))  # only stale messages were ever written
        twice = [m for m, n in final.items() if n > 1]
        assert len(twice) <= CONCURRENCY, twice  # at most the PATCHes in flight at the kill
        assert all(final[m] == 1 for m in final if m not in at_kill)  # the re-run wrote each new message once
        assert counts["error"] == counts["not_attempted"] == 0
        assert counts["marked_failed"] == stale - len(written_at_kill) + len(twice)
    print(
        f"\n[crash] killed after {sum(at_kill.values())} PATCHes ({len(written_at_kill)} of {stale} stale written); "
        f"re-run marked {counts['marked_failed']}, messages PATCHed twice: {len(twice)}"
    )


def test_on_kill_stops_a_running_batch_promptly(monkeypatch):
    with HubSpotSimulator(seed=32, latency=0.1, rate_limit=None) as sim:
        seed = sim.seed_scenario("reconciliation", 300, now=NOW)
        use_connection(monkeypatch, sim, timeout=5, max_retries=2, max_requests_per_10s=10_000)
        op = reconcile(seed.records, max_concurrency=CONCURRENCY)
        killed_at: list[float] = []

        def kill_after_some_patches() -> None:
            if wait_until(lambda: sum(patches_per_message(sim).values()) >= 10, timeout=30):
                killed_at.append(time.monotonic())
                op.on_kill()

        killer = threading.Thread(target=kill_after_some_patches)
        killer.start()
        with pytest.raises(AirflowException, match="killed") as info:
            op.execute(context_for(seed))
        ended = time.monotonic()
        killer.join(5)
        assert killed_at, "the batch finished before on_kill"
        # Promptly: the requests already in flight finish (one answer, 0.1 s here), nothing new starts.
        assert ended - killed_at[0] < 3.0  # in-flight answers take 0.1 s; generous for a loaded CI machine
        settled_log(sim)
        written = {r["message_id"] for r in seed.records if api_writes(sim, seed.channel_id, r["message_id"])}
        assert len(written) < len(seed.ids("stale"))
        assert "not attempted" in str(info.value)
        check_written = len(written)
        time.sleep(0.3)
        assert len({r["message_id"] for r in seed.records if api_writes(sim, seed.channel_id, r["message_id"])}) == (
            check_written
        )  # nothing is sent after execute returned


def test_each_outcome_is_on_disk_before_the_batch_ends(monkeypatch, tmp_path):
    # A kill can come at any moment: every collected outcome must already be in the report file, not in a buffer.
    from airflow_provider_hubspot_channels.simulator import FaultConfig

    faults = FaultConfig(script=("slow",), slow_seconds=6.0, only_paths=("*/messages/slow-1",))
    with HubSpotSimulator(faults=faults, rate_limit=None) as sim:
        end = NOW
        old = (end.replace(hour=10)).isoformat()
        ids = ["quick-0", "slow-1", *(f"quick-{i}" for i in range(1, 5))]  # the first one goes alone
        for message_id in ids:
            sim.add_message(1001, message_id, created_at=old)
        use_connection(monkeypatch, sim, timeout=10, max_retries=0)
        report = tmp_path / "report.jsonl"
        batch = [{"channel_id": 1001, "message_id": m, "created_at": old} for m in ids]
        op = reconcile(batch, max_concurrency=2, report_path=str(report), verify_status=False)
        runner = threading.Thread(target=op.execute, args=({"data_interval_end": end},))
        runner.start()
        try:
            on_disk = wait_until(lambda: report.exists() and len(report.read_text().splitlines()) >= 5, timeout=4.5)
        finally:
            runner.join(15)
        assert on_disk, "outcomes were held back in a buffer while the batch ran"
