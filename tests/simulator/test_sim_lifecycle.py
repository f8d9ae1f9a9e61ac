"""Starting and stopping cleanly, loopback only, standard library only, and the command line."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sim_helpers import CC, CHANNEL, TIMEOUT, Api

from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.__main__ import main

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_hubspot_channels" / "simulator"
CLI = [sys.executable, "-m", "airflow_provider_hubspot_channels.simulator"]


def _simulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hubspot-simulator")]


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_stop_leaves_no_thread_and_no_listening_socket() -> None:
    before = set(threading.enumerate())
    sim = HubSpotSimulator().start()
    port = sim.port
    api = Api(sim)
    for _ in range(3):  # keep-alive: the connection (and its thread) stays open after each answer
        assert api.get(f"{CC}/{CHANNEL}").status_code == 200
    assert len(_simulator_threads()) == 2
    sim.stop()
    assert set(threading.enumerate()) - before == set()
    assert not _port_open(port)
    api.close()


def test_stop_does_not_wait_for_a_slow_answer_in_flight() -> None:
    sim = HubSpotSimulator(faults=FaultConfig(p_slow=1.0, slow_seconds=60)).start()
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(Api(sim, check=False).get(f"{CC}/{CHANNEL}", timeout=30).status_code)
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while len(_simulator_threads()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 5
    caller.join(10)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], requests.ConnectionError)
    assert _simulator_threads() == []


def test_context_manager_restart_and_idempotent_stop() -> None:
    # Only this test's threads count: a daemon thread another test's simulator is still ending must not fail it.
    before = set(_simulator_threads())
    sim = HubSpotSimulator()
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    with sim:
        assert sim.running and sim.base_url == f"http://127.0.0.1:{sim.port}"
        with pytest.raises(RuntimeError):
            sim.start()
    assert not sim.running
    sim.stop()
    with sim:
        assert requests.get(f"{sim.base_url}{CC}/{CHANNEL}", timeout=TIMEOUT).status_code == 401
    assert set(_simulator_threads()) - before == set()


def test_binds_the_loopback_interface_only() -> None:
    with HubSpotSimulator() as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.connect(("10.255.255.255", 1))  # no packet is sent; this only picks a local address
                other = udp.getsockname()[0]
            except OSError:
                other = "127.0.0.1"
        if other.startswith("127."):
            pytest.skip("no non-loopback address on this machine to probe")
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex((other, sim.port)) != 0


def test_the_package_imports_only_the_standard_library() -> None:
    for module in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", f"{module.name} imports {name}"


def test_importing_it_pulls_in_no_airflow_and_no_third_party_module() -> None:
    code = (
        "import sys, airflow_provider_hubspot_channels.simulator, "
        "airflow_provider_hubspot_channels.simulator.__main__\n"
        "print(sorted(m for m in ('airflow', 'requests', 'pendulum', 'urllib3') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_cli_help_documents_the_options() -> None:
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--port", "--scenario", "--count", "--seed", "--rate-limit", "--latency", "--p-503", "--p-reset"):
        assert option in result.stdout


@pytest.mark.parametrize("arguments", [["--p-500", "2"], ["--p-500", "0.7", "--p-503", "0.7"], ["--scenario", "x"]])
def test_cli_refuses_bad_options(arguments: list[str]) -> None:
    result = subprocess.run([*CLI, *arguments], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "error" in result.stderr


def _read_values(process: subprocess.Popen[str], last: str) -> dict[str, str]:
    assert process.stdout is not None
    values: dict[str, str] = {}
    while last not in values:
        line = process.stdout.readline()
        assert line, "the simulator exited before printing its settings"
        key, _, value = line.strip().partition("=")
        values[key] = value
    return values


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_a_signal_and_exits_cleanly(tmp_path: Path, signum: int) -> None:
    records = tmp_path / "records.jsonl"
    process = subprocess.Popen(
        [*CLI, "--port", "0", "--scenario", "smoke", "--seed", "3", "--records-out", str(records)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        values = _read_values(process, last="HUBSPOT_SIMULATOR_RECORDS")
        base_url = values["HUBSPOT_SIMULATOR_BASE_URL"]
        assert base_url.startswith("http://127.0.0.1:")
        headers = {"Authorization": f"Bearer {values['HUBSPOT_SIMULATOR_TOKEN']}"}
        assert requests.get(f"{base_url}{CC}/{CHANNEL}", headers=headers, timeout=TIMEOUT).status_code == 200
        lines = records.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 12 and json.loads(lines[0])["channel_id"] == CHANNEL
        assert values["HUBSPOT_SIMULATOR_RECORDS"] == str(records)
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        with contextlib.suppress(Exception):
            process.communicate(timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}{CC}/{CHANNEL}", timeout=TIMEOUT)


def test_cli_main_runs_for_a_while_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--run-for", "0.2", "--access-token", "fixed", "--rate-limit", "0", "--fault-script", "503,"]) == 0
    printed: dict[str, Any] = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert printed["HUBSPOT_SIMULATOR_TOKEN"] == "fixed"
    assert _simulator_threads() == []
