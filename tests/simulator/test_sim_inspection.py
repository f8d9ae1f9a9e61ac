"""The simulator seen from outside its process: /_simulator/ endpoints, --seed-file and the summary on exit."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import CC, CHANNEL, TIMEOUT, Api, message_path

from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.seeding import SeedFileError, seed_from_file

CLI = [sys.executable, "-m", "airflow_provider_hubspot_channels.simulator"]


def inspect(sim: HubSpotSimulator, path: str, **params: Any) -> requests.Response:
    # No Authorization header: inspection is the simulator's own, not HubSpot's.
    return requests.get(f"{sim.base_url}/_simulator/{path}", params=params, timeout=TIMEOUT)


def test_request_log_counters_and_history_over_http(make_sim) -> None:
    sim = make_sim(rate_limit=None, faults=FaultConfig(script=("503",)))
    sim.add_message(CHANNEL, "m/1", created_at="2026-11-24T10:00:00Z")
    api = Api(sim, check=False)
    assert api.patch(message_path("m/1"), json={"statusType": "SENT"}).status_code == 503  # the scripted fault
    assert api.patch(message_path("m/1"), json={"statusType": "FAILED", "errorMessage": "late"}).status_code == 200
    assert api.get(message_path("m/1")).status_code == 200

    log = inspect(sim, "requests").json()
    assert [(r["method"], r["status"], r["fault"]) for r in log["requests"]] == [
        ("PATCH", 503, "503"),
        ("PATCH", 200, None),
        ("GET", 200, None),
    ]
    assert [r["seq"] for r in log["requests"]] == [0, 1, 2] and log["next"] == 3
    # Inspecting is not a request to HubSpot: it is neither logged nor counted.
    assert inspect(sim, "requests", since=2).json()["requests"][0]["method"] == "GET"
    assert len(sim.request_log) == 3

    counters = inspect(sim, "counters").json()
    assert counters["statusCounts"] == {"200": 2, "503": 1}
    assert counters["faultsInjected"] == {"503": 1}
    assert counters["requests"] == 3 and counters["tokenRequests"] == 0
    assert counters["messagesByStatus"]["FAILED"] == 1

    history = inspect(sim, f"messages/{CHANNEL}/{quote('m/1', safe='')}/history").json()
    assert history["statusType"] == "FAILED"
    assert [(h["statusType"], h["errorMessage"]) for h in history["history"]] == [("FAILED", "late")]
    assert inspect(sim, f"messages/{CHANNEL}/nope/history").status_code == 404

    listed = inspect(sim, "messages", channelId=CHANNEL).json()
    assert {"channelId": str(CHANNEL), "id": "m/1", "direction": "OUTGOING", "statusType": "FAILED"}.items() <= (
        next(m for m in listed["messages"] if m["id"] == "m/1").items()
    )


def test_the_request_log_is_bounded_but_the_counters_are_not(make_sim) -> None:
    sim = make_sim(rate_limit=None, request_log_limit=5)
    api = Api(sim, check=False)
    for _ in range(12):
        api.get(f"{CC}/{CHANNEL}")
    log = inspect(sim, "requests", limit=100).json()
    assert [r["seq"] for r in log["requests"]] == [7, 8, 9, 10, 11]
    assert log["dropped"] == 7 and log["next"] == 12
    assert inspect(sim, "counters").json()["requests"] == 12
    assert inspect(sim, "requests", limit=2).json()["requests"][-1]["seq"] == 11


def test_only_get_and_known_paths(make_sim) -> None:
    sim = make_sim(rate_limit=None)
    refused = requests.post(f"{sim.base_url}/_simulator/counters", timeout=TIMEOUT)
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET"
    assert inspect(sim, "nothing-here").status_code == 404
    assert inspect(sim, "requests", limit="many").status_code == 400
    index = requests.get(f"{sim.base_url}/_simulator", timeout=TIMEOUT).json()
    assert "/_simulator/counters" in index["endpoints"]


SEGMENT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(lambda t: quote(t, safe=""))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "HEAD"]),
    segments=st.lists(st.one_of(SEGMENT, st.sampled_from(["requests", "counters", "messages", "history", "1001"]))),
    query=st.lists(st.tuples(st.sampled_from(["limit", "since", "channelId", "x"]), SEGMENT), max_size=3),
)
def test_any_inspection_request_gets_a_json_answer_never_a_bug(inspected, method, segments, query) -> None:
    url = f"{inspected.base_url}/_simulator/" + "/".join(segments)
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query)
    response = requests.request(method, url, timeout=TIMEOUT)
    assert response.status_code in (200, 400, 404, 405)
    if method != "HEAD":
        assert isinstance(response.json(), dict)


@pytest.fixture(scope="module")
def inspected():
    with HubSpotSimulator(rate_limit=None) as sim:
        sim.add_message(CHANNEL, "seeded", created_at="2026-11-24T10:00:00Z", status_type="SENT")
        yield sim


def write_lines(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


SEED = [
    {"type": "channel", "id": 1002, "name": "WhatsApp"},
    {"type": "channel_account", "channelId": 1002, "id": 2002},
    {"type": "thread", "channelId": 1002, "id": 555, "recipient": "+15550001111"},
    {"type": "message", "channelId": 1002, "id": "w-1", "threadId": 555, "createdAt": "2026-11-24T10:00:00Z"},
    {"type": "message", "channelId": 1002, "id": "w-2", "threadId": 555, "statusType": "SENT"},
    {"type": "status", "channelId": 1002, "messageId": "w-2", "statusType": "READ"},
]


def test_seed_from_a_file_in_process(tmp_path) -> None:
    sim = HubSpotSimulator(rate_limit=None)
    counts = seed_from_file(sim.state, write_lines(tmp_path / "seed.jsonl", SEED))
    assert counts == {"channel": 1, "channel_account": 1, "thread": 1, "message": 2, "status": 1}
    assert sim.get_message(1002, "w-1")["conversationsThreadId"] == "555"
    assert [h["statusType"] for h in sim.status_history(1002, "w-2")] == ["SENT", "READ"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("not json", "line"),
        ({"type": "galaxy"}, "type"),
        ({"type": "message", "id": "x"}, "channelId"),
        ({"type": "message", "channelId": 4242, "id": "x"}, "channelId"),
        ({"type": "status", "channelId": 1001, "messageId": "absent", "statusType": "READ"}, "messageId"),
        ({"type": "status", "channelId": 1001, "messageId": "m", "statusType": "LOST"}, "statusType"),
        ({"type": "channel", "id": "1001"}, "id"),
        ({"type": "message", "channelId": 1001, "id": "m", "colour": "red"}, "colour"),
        ({"type": "message", "channelId": 1001, "id": "n", "direction": "SIDEWAYS"}, "direction"),
        ({"type": "message", "channelId": 1001, "id": "n", "statusType": "LOST"}, "statusType"),
        ({"type": "message", "channelId": 1001, "id": "n", "createdAt": "yesterday"}, "createdAt"),
        ({"type": "message", "channelId": 1001, "id": "m"}, "already exists"),
    ],
)
def test_a_bad_seed_line_names_its_number_the_field_and_the_fix(tmp_path, line, field) -> None:
    sim = HubSpotSimulator(rate_limit=None)
    rows = [{"type": "message", "channelId": 1001, "id": "m", "createdAt": "2026-11-24T10:00:00Z"}, line]
    with pytest.raises(SeedFileError) as info:
        seed_from_file(sim.state, write_lines(tmp_path / "seed.jsonl", rows))
    assert "line 2" in str(info.value) and field in str(info.value) and "Fix:" in str(info.value)


JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=2)
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(["type", "id", "channelId", "messageId", "statusType", "threadId", "createdAt", "name"]),
            st.one_of(JSON_VALUES, st.sampled_from(["channel", "message", "status", "thread", "inbox", 1001, "SENT"])),
            max_size=6,
        ),
        max_size=4,
    )
)
def test_any_seed_file_seeds_or_is_refused_with_a_line_and_a_fix(tmp_path_factory, rows) -> None:
    path = write_lines(tmp_path_factory.mktemp("seed") / "seed.jsonl", rows)
    sim = HubSpotSimulator(rate_limit=None)
    try:
        seed_from_file(sim.state, path)
    except SeedFileError as exc:
        assert "line " in str(exc) and "Fix:" in str(exc)


def test_cli_seeds_from_a_file_serves_inspection_and_prints_a_summary_on_exit(tmp_path) -> None:
    seed = write_lines(tmp_path / "seed.jsonl", SEED)
    process = subprocess.Popen(
        [*CLI, "--port", "0", "--seed-file", str(seed), "--request-log-limit", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        values = dict(process.stdout.readline().strip().split("=", 1) for _ in range(8))
        base = values["HUBSPOT_SIMULATOR_BASE_URL"]
        headers = {"Authorization": f"Bearer {values['HUBSPOT_SIMULATOR_TOKEN']}"}
        assert requests.get(f"{base}{CC}/1002/messages/w-2", headers=headers, timeout=TIMEOUT).status_code == 200
        history = requests.get(f"{base}/_simulator/messages/1002/w-2/history", timeout=TIMEOUT).json()
        assert history["statusType"] == "READ"
        process.terminate()
        _, err = process.communicate(timeout=10)
        assert process.returncode == 0
        summary = json.loads(err.strip().splitlines()[-1].partition("summary: ")[2])
        assert summary["statusCounts"] == {"200": 1} and summary["requests"] == 1
    finally:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(Exception):
            process.communicate(timeout=5)


def test_cli_refuses_a_bad_seed_file_before_serving(tmp_path) -> None:
    seed = write_lines(tmp_path / "seed.jsonl", [{"type": "message", "channelId": 77, "id": "x"}])
    result = subprocess.run([*CLI, "--seed-file", str(seed)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "line 1" in result.stderr and "channelId" in result.stderr
    absent = subprocess.run(
        [*CLI, "--seed-file", str(tmp_path / "no.jsonl")], capture_output=True, text=True, timeout=60
    )
    assert absent.returncode == 2 and "no.jsonl" in absent.stderr
