"""Seeded faults: every kind, scripts, probabilities, filters, determinism, and what a fault does to state."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest
import requests
from sim_helpers import CC, CHANNEL, Api, error_of, message_path

from airflow_provider_hubspot_channels.simulator import FAULT_KINDS, FaultConfig, HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.faults import FaultPlan, LatencyModel, parse_script
from tests.openapi_contract import assert_response, spec_dir

JSON_STATUSES = {"400": 400, "423": 423, "500": 500, "502": 502, "503": 503, "504": 504}


def _patch(api: Api, message_id: str = "m", status: str = "READ", **kwargs: Any) -> requests.Response:
    return api.patch(message_path(message_id), json={"statusType": status}, check=False, **kwargs)


def _check_error_shape(answer: requests.Response) -> None:
    if spec_dir() is not None:
        assert_response("PATCH", message_path("m"), answer.status_code, answer.content, headers=dict(answer.headers))


@pytest.mark.parametrize("kind", sorted(JSON_STATUSES))
def test_json_error_faults_answer_in_hubspots_shape_and_change_nothing(make_sim: Any, kind: str) -> None:
    sim = make_sim(rate_limit=100, faults=FaultConfig(script=(kind,), retry_after=2))
    sim.add_message(CHANNEL, "m")
    api = Api(sim)
    answer = _patch(api)
    assert answer.status_code == JSON_STATUSES[kind]
    error_of(answer)
    _check_error_shape(answer)
    assert answer.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert ("Retry-After" in answer.headers) == (kind == "423")
    assert sim.status_history(CHANNEL, "m") == []
    assert _patch(api).status_code == 200  # the script is spent
    assert sim.faults_injected == {kind: 1}
    api.close()


def test_injected_429_is_hubspots_body_with_optional_retry_after(make_sim: Any) -> None:
    sim = make_sim(rate_limit=100, faults=FaultConfig(script=("429",), retry_after=1))
    sim.add_message(CHANNEL, "m")
    api = Api(sim)
    answer = _patch(api)
    assert answer.status_code == 429
    body = answer.json()
    assert (body["policyName"], body["errorType"]) == ("TEN_SECONDLY_ROLLING", "RATE_LIMIT")
    assert answer.headers["Retry-After"] == "1"
    _check_error_shape(answer)
    # Injected faults consume no budget.
    assert _remaining(_patch(api)) == 99
    api.close()


def _remaining(answer: requests.Response) -> int:
    return int(answer.headers["X-HubSpot-RateLimit-Remaining"])


@pytest.mark.parametrize("kind", ["500_html", "502_html", "503_html", "504_html"])
def test_html_faults_answer_a_gateway_page(make_sim: Any, kind: str) -> None:
    sim = make_sim(rate_limit=None, faults=FaultConfig(script=(kind,)))
    sim.add_message(CHANNEL, "m")
    api = Api(sim)
    answer = _patch(api)
    assert answer.status_code == int(kind[:3])
    assert answer.headers["Content-Type"].startswith("text/html")
    assert f"<title>{kind[:3]}" in answer.text
    assert sim.status_history(CHANNEL, "m") == []
    api.close()


def test_reset_drops_the_connection_before_anything_changes(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, faults=FaultConfig(script=("reset",)))
    sim.add_message(CHANNEL, "m")
    api = Api(sim)
    with pytest.raises(requests.ConnectionError):
        _patch(api)
    assert sim.status_history(CHANNEL, "m") == []
    assert _patch(api).status_code == 200  # a new connection works
    log = sim.request_log
    assert [(e.status, e.fault) for e in log] == [(None, "reset"), (200, None)]
    api.close()


def test_reset_after_applies_the_write_then_drops_the_connection(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, faults=FaultConfig(script=("reset_after",)))
    sim.add_message(CHANNEL, "m")
    api = Api(sim)
    with pytest.raises(requests.ConnectionError):
        _patch(api, status="FAILED")
    assert [h["statusType"] for h in sim.status_history(CHANNEL, "m")] == ["FAILED"]
    api.close()


def test_slow_answers_outlast_a_client_timeout_but_still_land(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, faults=FaultConfig(script=("slow",), slow_seconds=0.6))
    sim.add_message(CHANNEL, "m")
    api = Api(sim)
    with pytest.raises(requests.Timeout):
        _patch(api, timeout=0.15)
    deadline = time.monotonic() + 5
    while not sim.status_history(CHANNEL, "m") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [h["statusType"] for h in sim.status_history(CHANNEL, "m")] == ["READ"]
    assert sim.faults_injected == {"slow": 1}
    api.close()


def test_latency_delays_every_answer(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, latency=0.05, latency_jitter=0.02)
    api = Api(sim)
    for _ in range(3):
        assert api.get(f"{CC}/{CHANNEL}").status_code == 200
    assert all(e.duration >= 0.05 for e in sim.request_log)
    api.close()


def test_latency_jitter_is_seeded() -> None:
    model_a, model_b, model_c = LatencyModel(0.01, 0.5, 3), LatencyModel(0.01, 0.5, 3), LatencyModel(0.01, 0.5, 4)
    delays = [model_a.next_delay() for _ in range(20)]
    assert delays == [model_b.next_delay() for _ in range(20)]
    assert delays != [model_c.next_delay() for _ in range(20)]
    assert all(0.01 <= d <= 0.51 for d in delays)
    assert len(set(delays)) > 10


def test_probability_one_faults_every_request(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, faults=FaultConfig(p_503=1.0, html_share=1.0))
    api = Api(sim)
    answers = [api.get(f"{CC}/{CHANNEL}", check=False) for _ in range(5)]
    assert {(a.status_code, a.headers["Content-Type"].split(";")[0]) for a in answers} == {(503, "text/html")}
    assert sim.faults_injected == {"503_html": 5}
    api.close()


def test_probabilities_are_roughly_honoured() -> None:
    plan = FaultPlan(FaultConfig(p_500=0.2, p_429=0.1, html_share=0.5), seed=11)
    kinds = [plan.decide("PATCH", "/x") for _ in range(5000)]
    share_500 = sum(k in ("500", "500_html") for k in kinds) / len(kinds)
    assert 0.17 < share_500 < 0.23
    assert 0.08 < kinds.count("429") / len(kinds) < 0.12
    assert 0.4 < kinds.count("500_html") / max(1, sum(k in ("500", "500_html") for k in kinds)) < 0.6


def _fault_sequence(sim: HubSpotSimulator) -> list[tuple[str | None, int | None]]:
    api = Api(sim, check=False)
    for n in range(40):
        with contextlib.suppress(requests.ConnectionError):
            if n % 2:
                api.get(f"{CC}/{CHANNEL}")
            else:
                _patch(api)
    api.close()
    return [(e.fault, e.status) for e in sim.request_log]


def test_a_seeded_fault_sequence_is_deterministic(make_sim: Any) -> None:
    config = FaultConfig(p_429=0.1, p_500=0.1, p_502=0.05, p_503=0.1, p_reset=0.05, html_share=0.5)
    runs = []
    for seed in (7, 7, 8):
        sim = make_sim(rate_limit=None, faults=config, seed=seed)
        sim.add_message(CHANNEL, "m")
        runs.append(_fault_sequence(sim))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert sum(fault is not None for fault, _ in runs[0]) >= 5


def test_script_comes_first_then_probabilities() -> None:
    plan = FaultPlan(FaultConfig(script=("429", None, "reset"), p_500=1.0), seed=0)
    assert [plan.decide("GET", "/x") for _ in range(5)] == ["429", None, "reset", "500", "500"]


def test_filters_limit_where_faults_go(make_sim: Any) -> None:
    config = FaultConfig(p_500=1.0, only_methods=frozenset({"patch"}), only_paths=("*/messages/err-*",))
    sim = make_sim(rate_limit=None, faults=config)
    sim.add_message(CHANNEL, "err-1")
    sim.add_message(CHANNEL, "ok-1")
    api = Api(sim, check=False)
    assert _patch(api, "err-1").status_code == 500
    assert _patch(api, "ok-1").status_code == 200
    assert api.get(message_path("err-1")).status_code == 200
    api.close()


def test_set_faults_switches_injection_at_run_time(sim: HubSpotSimulator, api: Api) -> None:
    sim.add_message(CHANNEL, "m")
    assert _patch(api).status_code == 200
    sim.set_faults(FaultConfig(script=("504",)))
    assert _patch(api).status_code == 504
    sim.set_faults(None)
    assert _patch(api).status_code == 200


def test_fault_config_is_validated() -> None:
    with pytest.raises(ValueError, match="add up"):
        FaultConfig(p_500=0.6, p_503=0.6)
    with pytest.raises(ValueError, match="within"):
        FaultConfig(p_429=-0.1)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultConfig(script=("418",))
    assert parse_script("429,,none,-,reset_after") == ("429", None, None, None, "reset_after")
    with pytest.raises(ValueError):
        parse_script("teapot")
    assert set(FAULT_KINDS) >= {"429", "423", "500", "502", "503", "504", "reset", "reset_after", "slow"}


def test_faults_under_concurrency_are_all_accounted_for(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, faults=FaultConfig(p_500=0.3, p_reset=0.1), seed=5)
    sim.add_message(CHANNEL, "m")
    errors: list[str] = []

    def work() -> None:
        api = Api(sim, check=False)
        for _ in range(25):
            try:
                _patch(api)
            except requests.ConnectionError:
                errors.append("reset")
        api.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = sim.request_log
    assert len(log) == 100
    assert sim.faults_injected["reset"] == len(errors) == sum(e.status is None for e in log)
    assert sim.faults_injected["500"] == sim.status_counts[500]
    accepted = [h for h in sim.status_history(CHANNEL, "m") if h["accepted"]]
    assert len(accepted) == sim.status_counts[200]
