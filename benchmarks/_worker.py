"""One benchmark client, run by ``benchmarks/run.py`` as its own OS process (never imported by the provider).

    python benchmarks/_worker.py MODE ARGS.json OUT.json

Each mode does its setup (imports, Airflow home, records) first, then, when ``go_file`` is given, writes
``ready_file`` and waits for ``go_file`` so that several workers start together; only the work after that is
timed. The result (wall seconds, the process's own CPU seconds from ``getrusage``, and what the mode checks) goes
to ``OUT.json``. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def airflow_env(args: dict[str, Any]) -> None:
    """A private AIRFLOW_HOME and the connections, before Airflow is imported."""
    home = args.get("airflow_home")
    if not home:
        home = tempfile.mkdtemp(prefix="hubspot-bench-airflow-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)  # a worker leaves no AIRFLOW_HOME behind
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(home) / "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    if "base_url" in args:
        conn = {
            "conn_type": "hubspot_channels",
            "host": args["base_url"],
            "password": args["token"],
            "extra": {"max_requests_per_10s": args.get("max_requests_per_10s", 1000)},
        }
        os.environ["AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT"] = json.dumps(conn)
        os.environ["AIRFLOW_CONN_HUBSPOT_HTTP"] = json.dumps({"conn_type": "http", "host": args["base_url"]})


def wait_for_go(args: dict[str, Any]) -> None:
    if not args.get("go_file"):
        return
    Path(args["ready_file"]).write_text("ready")
    deadline = time.monotonic() + 300
    while not Path(args["go_file"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal within 300 s")
        time.sleep(0.005)


def load_records(args: dict[str, Any]) -> list[dict[str, Any]]:
    with open(args["records_path"], encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def message_path(channel_id: int | str, message_id: str) -> str:
    return f"/conversations/custom-channels/2026-03/{channel_id}/messages/{message_id}"


# ------------------------------------------------------------------------------------------------------- modes


def mode_operator(args: dict[str, Any]) -> dict[str, Any]:
    """The provider as Airflow runs it: ``ReconcileStaleMessagesOperator.execute`` with the env connection."""
    airflow_env(args)
    from airflow_provider_hubspot_channels.operators.reconcile import ReconcileStaleMessagesOperator

    records = load_records(args)
    op = ReconcileStaleMessagesOperator(
        task_id="reconcile",
        messages=records,
        stale_after=args.get("stale_after", 600),
        verify_status=args["verify_status"],
        max_concurrency=args.get("max_concurrency", 4),
        report_path=args.get("report_path"),
        reference_time=args["reference_time"],
    )
    wait_for_go(args)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    summary = op.execute({})
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return {"wall_seconds": wall, "cpu_seconds": cpu, "counts": summary["counts"], "total": summary["total"]}


def mode_loop(args: dict[str, Any]) -> dict[str, Any]:
    """What a user would write in a PythonOperator: one PATCH after another with ``requests``.

    A ``requests.Session`` (keep-alive) makes it as fast as such a loop gets; it has no rate budget.
    """
    import requests

    records = load_records(args)
    base, token = args["base_url"], args["token"]
    wait_for_go(args)
    t0, cpu0 = time.perf_counter(), cpu_seconds()

    def mark_stale_failed() -> int:
        done = 0
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            for record in records:
                response = session.patch(
                    base + message_path(record["channel_id"], record["message_id"]),
                    json={"statusType": "FAILED", "errorMessage": "Not delivered: no delivery receipt arrived."},
                    timeout=30,
                )
                response.raise_for_status()
                done += 1
        return done

    done = mark_stale_failed()
    return {"wall_seconds": time.perf_counter() - t0, "cpu_seconds": cpu_seconds() - cpu0, "patched": done}


HTTP_DAG = """
import json, os
from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG

spec = json.loads(open(os.environ["BENCH_HTTP_DAG_SPEC"], encoding="utf-8").read())
with DAG(dag_id="bench_http_mapped", schedule=None, max_active_tasks=16) as dag:
    HttpOperator.partial(
        task_id="patch_status",
        http_conn_id="hubspot_http",
        method="PATCH",
        headers={"Authorization": "Bearer " + spec["token"], "Content-Type": "application/json"},
        data=spec["body"],
        log_response=False,
    ).expand(endpoint=spec["endpoints"])
"""


def mode_httpdag(args: dict[str, Any]) -> dict[str, Any]:
    """Airflow's HttpOperator mapped one task per message, as a real DAG file run with ``dag.test()``."""
    airflow_env(args)
    home = Path(os.environ["AIRFLOW_HOME"])
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    records = load_records(args)
    spec = {
        "token": args["token"],
        "body": json.dumps({"statusType": "FAILED", "errorMessage": "Not delivered: no delivery receipt arrived."}),
        "endpoints": [message_path(r["channel_id"], r["message_id"]) for r in records],
    }
    (home / "spec.json").write_text(json.dumps(spec))
    os.environ["BENCH_HTTP_DAG_SPEC"] = str(home / "spec.json")
    (dags / "bench_http_mapped.py").write_text(HTTP_DAG)
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    bag = DagBag(dag_folder=str(dags))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag("bench_http_mapped")
    wait_for_go(args)
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    dag_run = dag.test()
    wall = time.perf_counter() - t0
    states: dict[str, int] = {}
    for ti in dag_run.get_task_instances():
        state = str(ti.state)
        states[state] = states.get(state, 0) + 1
    return {"wall_seconds": wall, "cpu_seconds": cpu_seconds() - cpu0, "ti_states": states}


def stack_floors(args: dict[str, Any], patches: list[tuple[str, dict[str, str]]]) -> dict[str, float]:
    """CPU seconds of the same PATCHes sent one after another by each layer of the HTTP stack, in this process.

    ``requests`` as a user writes it (``Session.patch``), urllib3's connection pool beneath it, and
    ``http.client`` beneath that: what the provider's figure is made of, and what another transport would cost.

    :param patches: (path, JSON body) of every PATCH the provider sent.
    """
    import http.client
    from urllib.parse import urlsplit

    import requests
    import urllib3

    encoded = [(path, json.dumps(body).encode()) for path, body in patches]
    headers = {"Authorization": f"Bearer {args['token']}", "Content-Type": "application/json"}
    origin = urlsplit(args["base_url"])
    floors = {}

    start = cpu_seconds()
    with requests.Session() as session:
        session.headers["Authorization"] = headers["Authorization"]
        for path, body in patches:
            session.patch(args["base_url"] + path, json=body, timeout=30).raise_for_status()
    floors["requests_loop_cpu_seconds"] = cpu_seconds() - start

    start = cpu_seconds()
    with urllib3.HTTPConnectionPool(origin.hostname or "", origin.port, timeout=30.0, retries=False) as pool:
        for path, data in encoded:
            if pool.urlopen("PATCH", path, body=data, headers=headers).status != 200:
                raise RuntimeError(f"urllib3 loop: PATCH {path} failed")
    floors["urllib3_loop_cpu_seconds"] = cpu_seconds() - start

    start = cpu_seconds()
    connection = http.client.HTTPConnection(origin.hostname or "", origin.port, timeout=30)
    try:
        for path, data in encoded:
            connection.request("PATCH", path, body=data, headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"http.client loop: PATCH {path} failed")
    finally:
        connection.close()
    floors["http_client_loop_cpu_seconds"] = cpu_seconds() - start
    return floors


def mode_overhead(args: dict[str, Any]) -> dict[str, Any]:
    """The provider's own cost: plan + ``run_plan`` with a ``HubSpotChannelsClient``, no latency, no limit."""
    from datetime import datetime, timedelta
    from urllib.parse import quote

    from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient
    from airflow_provider_hubspot_channels.reconciliation import (
        DEFAULT_ERROR_MESSAGE_TEMPLATE,
        RunReport,
        StalenessPolicy,
        plan,
    )
    from airflow_provider_hubspot_channels.runner.reconcile import run_plan

    records = load_records(args)
    policy = StalenessPolicy(
        stale_after=timedelta(seconds=600), reference_time=datetime.fromisoformat(args["reference_time"])
    )
    concurrency = args.get("max_concurrency", 4)
    config = ClientConfig(base_url=args["base_url"], max_requests_per_10s=100_000)
    client = HubSpotChannelsClient(config=config, access_token=args["token"], pool_size=concurrency)
    report = RunReport()
    lines = 0

    def sink(outcome: Any) -> None:
        nonlocal lines
        outcome.to_json()
        lines += 1

    wait_for_go(args)
    t0, usage0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    decisions = plan(records, policy, DEFAULT_ERROR_MESSAGE_TEMPLATE)
    run_plan(decisions, client, report=report, sink=sink, verify_status=False, max_concurrency=concurrency)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0
    client.close()
    counts = dict(report.counts)
    report_lines = lines

    # The same PATCHes again (FAILED to FAILED) from one thread: what the other three threads add at no latency.
    one_thread = HubSpotChannelsClient(config=config, access_token=args["token"], pool_size=1)
    one_report = RunReport()
    one0 = cpu_seconds()
    run_plan(
        plan(records, policy, DEFAULT_ERROR_MESSAGE_TEMPLATE),
        one_thread,
        report=one_report,
        sink=sink,
        verify_status=False,
        max_concurrency=1,
    )
    one_thread_cpu = cpu_seconds() - one0
    one_thread.close()
    if one_report.counts.get("marked_failed", 0) != len(records):
        raise RuntimeError(f"one-thread run: {dict(one_report.counts)}")
    # The reference loops send what the provider sent: the same paths and the same agent-facing messages.
    floors = stack_floors(
        args,
        [
            (
                message_path(d.channel_id, quote(d.message_id, safe="")),
                {"statusType": "FAILED", "errorMessage": d.error_message},
            )
            for d in decisions
            if d.channel_id and d.message_id and d.error_message
        ],
    )

    # The provider without HTTP: the same plan and run_plan with a client that only takes a budget slot and
    # waits 0.5 ms (as if answered at once): planning, threads, budget, outcomes, report rows.
    from airflow_provider_hubspot_channels.client import Answer
    from airflow_provider_hubspot_channels.client.rate_budget import RateBudget
    from airflow_provider_hubspot_channels.validation import StatusUpdate

    class NoHttpClient:
        def __init__(self) -> None:
            self.budget = RateBudget(max_requests=100_000)

        def read_message(self, channel_id: int | str, message_id: str) -> Answer:
            return Answer({}, requests=1, unanswered=0)

        def write_status(self, update: StatusUpdate) -> Answer:
            self.budget.acquire()
            time.sleep(0.0005)
            self.budget.observe({})
            return Answer({}, requests=1, unanswered=0)

        def redact(self, text: str) -> str:
            return text

        def stop(self) -> None:
            self.budget.stop()

    mechanics0 = cpu_seconds()
    decisions = plan(records, policy, DEFAULT_ERROR_MESSAGE_TEMPLATE)
    run_plan(decisions, NoHttpClient(), report=RunReport(), sink=sink, verify_status=False, max_concurrency=concurrency)
    mechanics_cpu = cpu_seconds() - mechanics0
    return {
        "no_http_cpu_seconds": mechanics_cpu,
        "one_thread_cpu_seconds": one_thread_cpu,
        **floors,
        "wall_seconds": wall,
        "user_seconds": usage1.ru_utime - usage0.ru_utime,
        "sys_seconds": usage1.ru_stime - usage0.ru_stime,
        "cpu_seconds": (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime),
        "counts": counts,
        "report_lines": report_lines,
    }


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def mode_memory(args: dict[str, Any]) -> dict[str, Any]:
    """A 100,000-record batch through the operator (dry run, no verify): peak RSS growth, XCom size, report."""
    airflow_env(args)
    from datetime import datetime, timedelta

    from airflow_provider_hubspot_channels.operators.reconcile import ReconcileStaleMessagesOperator

    count = args["count"]
    reference = datetime.fromisoformat(args["reference_time"])
    rss_before_records = _rss_kib("VmRSS")
    records = [
        {
            "channel_id": 1001,
            "message_id": f"m{i:08d}-{'x' * 24}",
            "created_at": (reference - timedelta(minutes=60, seconds=i % 3600)).isoformat(),
            "delivery_status": "pending",
            "recipient": f"+1555{i % 10_000_000:07d}",
        }
        for i in range(count)
    ]
    rss_after_records = _rss_kib("VmRSS")
    report_path = args.get("report_path")
    op = ReconcileStaleMessagesOperator(
        task_id="reconcile",
        messages=records,
        stale_after=600,
        verify_status=False,
        dry_run=True,
        report_path=report_path,
        reference_time=args["reference_time"],
    )
    wait_for_go(args)
    # Reset the peak RSS (VmHWM) to now, so that the peak measured below is the operator's alone.
    Path("/proc/self/clear_refs").write_text("5")
    baseline = _rss_kib("VmRSS")
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    summary = op.execute({})
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    peak = _rss_kib("VmHWM")
    xcom = json.dumps(summary, default=str)
    report_lines = 0
    if report_path:
        with open(report_path, encoding="utf-8") as handle:
            report_lines = sum(1 for _ in handle)
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "records": count,
        "records_rss_mib": (rss_after_records - rss_before_records) / 1024,
        "baseline_rss_mib": baseline / 1024,
        "peak_rss_mib": peak / 1024,
        "peak_growth_mib": (peak - baseline) / 1024,
        "xcom_bytes": len(xcom.encode("utf-8")),
        "report_lines": report_lines,
        "report_bytes": os.path.getsize(report_path) if report_path else 0,
        "counts": summary["counts"],
    }


def mode_lookup(args: dict[str, Any]) -> dict[str, Any]:
    """Verify then write through ``StatusLookup`` and ``client.write_status`` (no Airflow, no runner): per message
    (``by_thread`` false) or by thread. Each record carries its ``target`` status and may carry ``reported_status``
    and ``conversationsThreadId``.

    The decision is the issue's transition table cut to what costs requests: a record whose reported status is its
    target costs nothing; otherwise HubSpot's status is read, and written unless it already shows the target (any
    FAILED counts for FAILED) or shows READ.
    """
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient
    from airflow_provider_hubspot_channels.runner.lookup import StatusLookup
    from airflow_provider_hubspot_channels.validation import build_status_update

    records = load_records(args)
    workers = args.get("max_concurrency", 8)
    config = ClientConfig(base_url=args["base_url"], max_requests_per_10s=args["max_requests_per_10s"])
    client = HubSpotChannelsClient(config=config, access_token=args["token"], pool_size=workers)
    lookup = StatusLookup(client, by_thread=args["by_thread"])

    def reconcile(record: dict[str, Any]) -> tuple[str, int]:
        target = record["target"]
        if (record.get("reported_status") or "").upper() == target:
            return "already_reported", 0
        answer = lookup.read(record["channel_id"], record["message_id"], record.get("conversationsThreadId"))
        shown = (answer.body.get("status") or {}).get("statusType")
        if shown == target:
            return "already_correct", answer.requests
        if shown == "READ":
            return "skipped_read_in_hubspot", answer.requests
        error = "Not delivered: no delivery receipt arrived in time." if target == "FAILED" else None
        written = client.write_status(build_status_update(record["channel_id"], record["message_id"], target, error))
        return ("corrected" if shown == "FAILED" else "written"), answer.requests + written.requests

    wait_for_go(args)
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(reconcile, records))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    client.close()
    counts: dict[str, int] = {}
    for outcome, _ in done:
        counts[outcome] = counts.get(outcome, 0) + 1
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "counts": counts,
        "requests": sum(spent for _, spent in done),
        "listing_refused": lookup.listing_refused,
    }


MODES = {
    "operator": mode_operator,
    "loop": mode_loop,
    "httpdag": mode_httpdag,
    "overhead": mode_overhead,
    "memory": mode_memory,
    "lookup": mode_lookup,
}


def main() -> None:
    mode, args_path, out_path = sys.argv[1:4]
    sys.path.insert(0, str(REPO))
    args = json.loads(Path(args_path).read_text())
    if mode.startswith("accounts_"):  # scenario 10's clients live beside its scenario
        import accounts

        result = accounts.WORKER_MODES[mode](args)
    else:
        result = MODES[mode](args)
    Path(out_path).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
