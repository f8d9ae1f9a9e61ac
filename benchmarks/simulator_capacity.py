"""Capacity of the bundled HubSpot simulator: requests per second on loopback with faults off.

The simulator must not be the bottleneck of the provider's benchmarks. This script starts it (by default as a
separate process through its CLI, so that client and server do not share one interpreter lock), fires a bounded
number of requests (bounded by count and by time) from a few threads, each with its own keep-alive
``requests.Session``, and reports the answered requests per second. Everything targets 127.0.0.1 only.

    .venv/bin/python benchmarks/simulator_capacity.py --requests 20000 --seconds 30 --threads 4 --json out.json

The mix cycles GET message, PATCH message (SENT) and GET channel over messages each worker first publishes with
POST. The rate limit is off (``--rate-limit 0``): this measures the simulator, not HubSpot's budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

REPO = Path(__file__).resolve().parents[1]
CHANNEL = 1001
ACCOUNT = "2001"
PREFIX = f"/conversations/custom-channels/2026-03/{CHANNEL}"


class Server:
    """The simulator under test, in a child process or in this one.

    :param in_process: run it in this interpreter (client and server then share the GIL).
    """

    def __init__(self, in_process: bool) -> None:
        self.in_process = in_process
        self.process: subprocess.Popen[str] | None = None
        self.simulator: Any = None
        self.base_url = ""
        self.token = ""

    def __enter__(self) -> Server:
        if self.in_process:
            sys.path.insert(0, str(REPO))
            from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

            self.simulator = HubSpotSimulator(rate_limit=None, request_log_limit=1000).start()
            self.base_url, self.token = self.simulator.base_url, self.simulator.access_token
            return self
        command = [
            sys.executable,
            "-m",
            "airflow_provider_hubspot_channels.simulator",
            "--port",
            "0",
            "--rate-limit",
            "0",
        ]
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        values: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while "HUBSPOT_SIMULATOR_TOKEN" not in values or "HUBSPOT_SIMULATOR_BASE_URL" not in values:
            line = self.process.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not print its base URL and token")
            key, _, value = line.strip().partition("=")
            values[key] = value
        self.base_url = values["HUBSPOT_SIMULATOR_BASE_URL"]
        self.token = values["HUBSPOT_SIMULATOR_TOKEN"]
        if not self.base_url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"refusing to benchmark a non-loopback URL: {self.base_url}")
        return self

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the simulator process used so far, where /proc tells (Linux)."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the command name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self.simulator is not None:
            self.simulator.stop()
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _worker(
    base_url: str,
    token: str,
    budget: list[int],
    lock: threading.Lock,
    deadline: float,
    statuses: Counter[int],
    latencies: list[float],
    errors: list[str],
) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    ids: list[str] = []
    for n in range(5):
        answer = session.post(
            f"{base_url}{PREFIX}/messages",
            json={
                "text": f"benchmark {n}",
                "messageDirection": "OUTGOING",
                "channelAccountId": ACCOUNT,
                "senders": [{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550100000"}}],
                "recipients": [{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": f"+1555020{n:04d}"}}],
                "attachments": [],
                "timestamp": "2026-03-01T12:00:00Z",
            },
            timeout=10,
        )
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    local: Counter[int] = Counter()
    local_latencies: list[float] = []
    step = 0
    while time.monotonic() < deadline:
        with lock:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        message = f"{base_url}{PREFIX}/messages/{quote(ids[step % len(ids)], safe='')}"
        started = time.perf_counter()
        try:
            if step % 3 == 0:
                answer = session.get(message, timeout=10)
            elif step % 3 == 1:
                answer = session.patch(message, json={"statusType": "SENT"}, timeout=10)
            else:
                answer = session.get(f"{base_url}{PREFIX}", timeout=10)
            local[answer.status_code] += 1
        except requests.RequestException as exc:
            errors.append(type(exc).__name__)
        local_latencies.append(time.perf_counter() - started)
        step += 1
    session.close()
    with lock:
        statuses.update(local)
        latencies.extend(local_latencies)


def run(requests_total: int, seconds: float, threads: int, in_process: bool) -> dict[str, Any]:
    """Run the benchmark and return its figures.

    :param requests_total: stop after this many requests.
    :param seconds: or after this many seconds.
    :param threads: client threads, each with its own keep-alive session.
    :param in_process: run the simulator in this interpreter.
    """
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    budget = [requests_total]
    with Server(in_process) as server:
        deadline = time.monotonic() + seconds
        workers = [
            threading.Thread(
                target=_worker,
                args=(server.base_url, server.token, budget, lock, deadline, statuses, latencies, errors),
            )
            for _ in range(threads)
        ]
        started = time.perf_counter()
        server_cpu_before = server.cpu_seconds()
        client_cpu_before = time.process_time()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu_before
        server_cpu_after = server.cpu_seconds()
    server_cpu = (
        server_cpu_after - server_cpu_before if server_cpu_after is not None and server_cpu_before is not None else None
    )
    answered = sum(statuses.values())
    latencies.sort()

    def percentile(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3) if latencies else 0.0

    return {
        "requests": answered,
        "errors": len(errors),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(answered / elapsed, 1) if elapsed else 0.0,
        "threads": threads,
        "server": "in-process" if in_process else "subprocess",
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": {"p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99)},
        # CPU seconds each side burned: when the server's share is well below the elapsed time, the client (not
        # the simulator) limited the figure; requests per server CPU second estimates the simulator's ceiling.
        "client_cpu_seconds": round(client_cpu, 3),
        "server_cpu_seconds": None if server_cpu is None else round(server_cpu, 3),
        "requests_per_server_cpu_second": round(answered / server_cpu, 1) if server_cpu else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point.

    :param argv: arguments; ``sys.argv[1:]`` when None.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=20_000, help="stop after this many requests")
    parser.add_argument("--seconds", type=float, default=30.0, help="or after this many seconds")
    parser.add_argument("--threads", type=int, default=4, help="client threads (keep-alive sessions)")
    parser.add_argument("--in-process", action="store_true", help="run the simulator in this interpreter")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    figures = run(args.requests, args.seconds, args.threads, args.in_process)
    print(
        f"{figures['requests']} requests in {figures['seconds']} s from {figures['threads']} threads "
        f"({figures['server']} simulator): {figures['requests_per_second']} requests/s, "
        f"p50 {figures['latency_ms']['p50']} ms, p99 {figures['latency_ms']['p99']} ms, "
        f"{figures['errors']} errors, statuses {figures['statuses']}; CPU s: client {figures['client_cpu_seconds']}, "
        f"server {figures['server_cpu_seconds']} ({figures['requests_per_server_cpu_second']} requests per server "
        "CPU second)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if figures["errors"] == 0 and set(figures["statuses"]) <= {"200"} else 1


if __name__ == "__main__":
    sys.exit(main())
