"""``make demo``: the scheduled two-way reconciliation DAG end to end, through real Airflow, against the simulator.

1. Start the HubSpot simulator on 127.0.0.1 at HubSpot's real OAuth-app rate limit (110 requests per 10 s) and seed
   the ``two_way`` scenario: outgoing messages that went stale, receipts the bridge never reported (delivered, read,
   failed), late receipts for messages an earlier run marked FAILED, messages already reported, READ in HubSpot,
   INCOMING ids listed by mistake, and ids unknown to HubSpot.
2. Fill the integrator's store (SQLite) with the bridge's records of those messages.
3. Run ``example_hubspot_reconcile_messages`` with ``dag.test()`` in a throw-away AIRFLOW_HOME.
4. Print what HubSpot showed before and after, the run's outcomes (corrections included), and a check of every
   message against the scenario's expectation. Everything started is stopped; the temporary folder is removed.

Options: ``--count N`` (records, default 400), ``--rate-limit N`` (per 10 s, default 110), ``--keep`` (keep the
temporary folder with Airflow's log, the store and the report).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "example_hubspot_reconcile_messages"
WIDTH = 78


def rule(title: str = "") -> None:
    print(f"\n== {title} ".ljust(WIDTH, "=") if title else "=" * WIDTH)


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print("  " + line.format(*header))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + line.format(*row))


def hubspot_status(sim: object, channel_id: int, message_id: str) -> str:
    message = sim.get_message(channel_id, message_id)  # type: ignore[attr-defined]
    if message is None:
        return "unknown to HubSpot"
    return (message.get("status") or {}).get("statusType") or "no status"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=400, help="integrator records to seed (default 400)")
    parser.add_argument("--rate-limit", type=int, default=110, help="simulator requests per 10 s (default 110)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, store, report)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hubspot-channels-demo-"))
    # Airflow reads its configuration at import: set everything before the first Airflow import.
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "HUBSPOT_CHANNELS_STORE": str(home / "integrator_store.sqlite"),
            "HUBSPOT_CHANNELS_REPORTS": str(home / "reports"),
        }
    )
    from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
    from airflow_provider_hubspot_channels.sqlite_store import insert_records

    try:
        with HubSpotSimulator(rate_limit=args.rate_limit, latency=0.02) as sim:
            # The run for the interval ending at the last quarter hour judges staleness at that instant.
            now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
            interval_end = now - timedelta(minutes=now.minute % 15)
            seed = sim.seed_scenario("two_way", args.count, now=interval_end)
            insert_records(os.environ["HUBSPOT_CHANNELS_STORE"], seed.records)
            os.environ["AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT"] = json.dumps(
                {"conn_type": "hubspot_channels", "host": sim.base_url, "password": sim.access_token}
            )
            before = {r["message_id"]: hubspot_status(sim, seed.channel_id, r["message_id"]) for r in seed.records}

            rule("HubSpot custom channels: reconciliation demo")
            print(f"  Simulator      {sim.base_url}  ({args.rate_limit} requests per 10 s, 20 ms latency)")
            print(f"  Store          {len(seed.records)} outgoing messages of channel {seed.channel_id}")
            print(f"  Interval end   {interval_end.isoformat()}  (staleness is judged here; SLA 15 minutes)")
            reported = Counter(r.get("reported_status") or "-" for r in seed.records)
            print(f"  Reported       what the bridge told HubSpot before: {dict(sorted(reported.items()))}")
            rule("Before: the integrator's record against HubSpot")
            pairs = Counter((r["delivery_status"], before[r["message_id"]]) for r in seed.records)
            table(
                [(d, h, str(n)) for (d, h), n in sorted(pairs.items())],
                ("integrator says", "HubSpot shows", "messages"),
            )

            log_path = home / "airflow.log"
            print(f"\n  Running {DAG_ID} through Airflow (log: {log_path}) ...", flush=True)
            started = time.monotonic()
            # dag.test() infers the manual run's data interval as the one *ending* at the given time.
            state = run_dag(interval_end, log_path)
            elapsed = time.monotonic() - started
            print(f"  DAG run finished: {state} in {elapsed:.0f} s")

            after = {r["message_id"]: hubspot_status(sim, seed.channel_id, r["message_id"]) for r in seed.records}
            report = next((home / "reports" / DAG_ID).glob("*.jsonl"), None)
            outcomes = Counter(json.loads(line)["outcome"] for line in report.open()) if report else Counter()
            rule("Outcomes of the run (from its JSON Lines report)")
            table([(k, str(v)) for k, v in outcomes.most_common()], ("outcome", "messages"))

            rule("After: what HubSpot shows now, by case (integrator's record -> HubSpot before -> after)")
            rows = Counter((seed.expected[m], before[m], after[m]) for m in before)
            table([(c, b, a, str(n)) for (c, b, a), n in sorted(rows.items())], ("case", "before", "after", "n"))

            problems = check(seed, before, after, sim, report)
            rule("What an agent now reads in the inbox")
            for case in ("stale", "unreported_failed"):
                sample = next(iter(seed.ids(case)), None)
                if sample:
                    text = sim.get_message(seed.channel_id, sample)["status"]["failureDetails"]["errorMessage"]
                    print(f"  {case}: {text}")
            counts = sim.status_counts
            rule("Requests HubSpot saw")
            print("  " + ", ".join(f"{code}: {n}" for code, n in sorted(counts.items())))
            rule("Verdict")
            if problems or state != "success":
                for problem in problems:
                    print("  PROBLEM: " + problem)
                print(f"  The demo did NOT go as expected (DAG run {state}). See {log_path}.")
                args.keep = True
                return 1
            corrected = outcomes["corrected_to_sent"] + outcomes["corrected_to_read"]
            print(f"  HubSpot now shows what the integrator knows for all {len(seed.records)} messages: stale ones")
            print(f"  FAILED with an explanation, unreported receipts reported, {corrected} false FAILEDs corrected by")
            print("  late receipts; no READ was overwritten, no INCOMING message touched, unknown ids reported.")
            return 0
    finally:
        if args.keep:
            print(f"\n  Kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def run_dag(logical_date: datetime, log_path: Path) -> str:
    """Run the DAG with Airflow's output sent to a log file, so the terminal shows only the report."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    from airflow.utils import db

    saved = os.dup(1), os.dup(2)
    with open(log_path, "w") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            db.initdb()
            dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
            dag_run = dag.test(logical_date=logical_date)
            return str(dag_run.state)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)


def check(seed: object, before: dict[str, str], after: dict[str, str], sim: object, report: Path | None) -> list[str]:
    """Compare every message with the scenario's expectation; returns the problems found."""
    problems = []
    shown = {"no status": None, "unknown to HubSpot": None}
    for message_id, expected in seed.expected_status.items():  # type: ignore[attr-defined]
        got = shown.get(after[message_id], after[message_id])
        if got != expected:
            problems.append(f"{seed.expected[message_id]} {message_id} shows {got}, not {expected}")  # type: ignore[attr-defined]
        if sim.get_message(seed.channel_id, message_id) is None:  # type: ignore[attr-defined]
            continue  # unknown to HubSpot: nothing to show, nothing written
        history = sim.status_history(seed.channel_id, message_id)  # type: ignore[attr-defined]
        if before[message_id] == "READ" and any(h["statusType"] != "READ" for h in history):
            problems.append(f"READ message {message_id} was overwritten")
        if seed.expected[message_id] == "incoming" and any(h["source"] == "api" for h in history):  # type: ignore[attr-defined]
            problems.append(f"INCOMING message {message_id} was written")
    rows = [json.loads(line) for line in report.open()] if report else []
    for row in rows:
        expected_outcome = seed.expected_outcome.get(row["message_id"])  # type: ignore[attr-defined]
        if expected_outcome and row["outcome"] != expected_outcome:
            problems.append(f"{row['message_id']} ended {row['outcome']}, not {expected_outcome}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
