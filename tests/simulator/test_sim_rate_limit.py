"""Per-account rate limits: rolling window with HubSpot's headers and 429 body, optional daily limit."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from sim_helpers import CC, CHANNEL, TIMEOUT, Api, message_path

WINDOW = 0.5


def _remaining(answer: requests.Response) -> int:
    return int(answer.headers["X-HubSpot-RateLimit-Remaining"])


def test_every_authenticated_answer_carries_the_rate_headers(make_sim: Any) -> None:
    sim = make_sim(rate_limit=50)
    api = Api(sim)
    answers = [
        api.get(f"{CC}/{CHANNEL}"),  # 200
        api.get(message_path("missing")),  # 404
        api.patch(message_path("missing"), json={"statusType": "NOPE"}),  # 400
        Api(sim, sim.issue_token([])).get(f"{CC}/{CHANNEL}"),  # 403
    ]
    assert [a.status_code for a in answers] == [200, 404, 400, 403]
    for answer in answers:
        assert answer.headers["X-HubSpot-RateLimit-Max"] == "50"
        assert answer.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert [_remaining(a) for a in answers] == [49, 48, 47, 46]
    api.close()


def test_exceeding_the_window_is_429_ten_secondly_rolling(make_sim: Any) -> None:
    sim = make_sim(rate_limit=5, rate_window_seconds=WINDOW)
    api = Api(sim)
    assert all(api.get(f"{CC}/{CHANNEL}").status_code == 200 for _ in range(5))
    refused = api.get(f"{CC}/{CHANNEL}")
    assert refused.status_code == 429
    body = refused.json()
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    uuid.UUID(body["correlationId"])
    uuid.UUID(body["requestId"])
    assert _remaining(refused) == 0
    assert refused.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == str(int(WINDOW * 1000))
    assert "Retry-After" not in refused.headers
    api.close()


def test_refused_requests_do_not_consume_budget_and_the_window_rolls(make_sim: Any) -> None:
    sim = make_sim(rate_limit=3, rate_window_seconds=WINDOW)
    api = Api(sim)
    statuses = [api.get(f"{CC}/{CHANNEL}").status_code for _ in range(10)]
    assert statuses == [200] * 3 + [429] * 7
    time.sleep(WINDOW + 0.1)
    statuses = [api.get(f"{CC}/{CHANNEL}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert sim.status_counts == {200: 6, 429: 8}
    api.close()


def test_unauthenticated_requests_and_token_refreshes_do_not_count(make_sim: Any) -> None:
    sim = make_sim(rate_limit=2, rate_window_seconds=WINDOW)
    anonymous = Api(sim, anonymous=True)
    assert all(anonymous.get(f"{CC}/{CHANNEL}").status_code == 401 for _ in range(5))
    for _ in range(3):
        refreshed = requests.post(
            sim.base_url + "/oauth/v1/token",
            data={
                "grant_type": "refresh_token",
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "refresh_token": sim.refresh_token,
            },
            timeout=TIMEOUT,
        )
        assert refreshed.status_code == 200
    api = Api(sim)
    assert [api.get(f"{CC}/{CHANNEL}").status_code for _ in range(3)] == [200, 200, 429]
    anonymous.close()
    api.close()


def test_daily_limit_answers_429_daily(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, daily_limit=3)
    api = Api(sim)
    answers = [api.get(f"{CC}/{CHANNEL}") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-HubSpot-RateLimit-Daily"] == "3"
    assert [a.headers["X-HubSpot-RateLimit-Daily-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    body = answers[3].json()
    assert body["policyName"] == "DAILY"
    assert body["message"] == "You have reached your daily limit."
    api.close()


def test_no_limit_means_no_headers(sim: Any, api: Api) -> None:
    answers = [api.get(f"{CC}/{CHANNEL}") for _ in range(150)]
    assert {a.status_code for a in answers} == {200}
    assert "X-HubSpot-RateLimit-Max" not in answers[0].headers


def test_default_is_hubspots_110_per_10_seconds(make_sim: Any) -> None:
    sim = make_sim()
    api = Api(sim)
    statuses = [api.get(f"{CC}/{CHANNEL}").status_code for _ in range(111)]
    assert statuses.count(200) == 110 and statuses[-1] == 429
    api.close()
