"""Bearer authentication, per-token scopes and the OAuth refresh grant."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from sim_helpers import CC, CHANNEL, INBOX, TIMEOUT, Api, error_of, message_path

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.openapi_contract import assert_requests_response

READ = "conversations.custom_channels.read"
WRITE = "conversations.custom_channels.write"
INBOX_READ = "conversations.read"


def _refresh(sim: HubSpotSimulator, path: str = "/oauth/2026-03/token", **fields: str) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "refresh_token": sim.refresh_token,
        **fields,
    }
    answer = requests.post(sim.base_url + path, data=form, timeout=TIMEOUT)
    if "json" in answer.headers.get("Content-Type", ""):
        assert_requests_response(answer)
    return answer


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "sim-at-without-scheme"]
)
def test_missing_or_unknown_credentials_are_401_invalid_authentication(
    sim: HubSpotSimulator, authorization: str | None
) -> None:
    api = Api(sim, anonymous=True)
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = api.get(f"{CC}/{CHANNEL}", headers=headers)
    assert answer.status_code == 401
    assert error_of(answer)["category"] == "INVALID_AUTHENTICATION"
    assert "X-HubSpot-RateLimit-Remaining" not in answer.headers
    api.close()


def test_expired_token_is_401_expired_authentication(sim: HubSpotSimulator) -> None:
    token = sim.issue_token()
    api = Api(sim, token)
    assert api.get(f"{CC}/{CHANNEL}").status_code == 200
    sim.expire_token(token)
    answer = api.get(f"{CC}/{CHANNEL}")
    assert answer.status_code == 401
    body = error_of(answer)
    assert body["category"] == "EXPIRED_AUTHENTICATION"
    assert "expired" in body["message"]
    api.close()


def test_tokens_expire_after_their_lifetime(make_sim: Any) -> None:
    sim = make_sim(rate_limit=None, token_lifetime=0.2)
    api = Api(sim)
    assert api.get(f"{CC}/{CHANNEL}").status_code == 200
    time.sleep(0.3)
    assert error_of(api.get(f"{CC}/{CHANNEL}"))["category"] == "EXPIRED_AUTHENTICATION"
    api.close()


@pytest.mark.parametrize(
    ("scopes", "method", "path", "missing"),
    [
        ([READ, INBOX_READ], "PATCH", message_path("m"), [WRITE]),
        ([READ, INBOX_READ], "POST", f"{CC}/{CHANNEL}/messages", [WRITE]),
        ([WRITE, INBOX_READ], "GET", message_path("m"), [READ]),
        ([WRITE, INBOX_READ], "GET", f"{CC}/{CHANNEL}", [READ]),
        ([INBOX_READ], "GET", f"{CC}/{CHANNEL}/channel-accounts", [READ, WRITE]),
        ([READ, WRITE], "GET", f"{INBOX}/threads", [INBOX_READ]),
        ([READ, WRITE], "GET", f"{INBOX}/threads/8100000001/messages", [INBOX_READ]),
    ],
)
def test_missing_scopes_are_403_naming_them(
    sim: HubSpotSimulator, scopes: list[str], method: str, path: str, missing: list[str]
) -> None:
    sim.add_message(CHANNEL, "m")
    api = Api(sim, sim.issue_token(scopes))
    answer = api.call(method, path, json={"statusType": "SENT"})
    assert answer.status_code == 403
    body = error_of(answer)
    assert body["category"] == "MISSING_SCOPES"
    assert body["context"]["missingScopes"] == missing
    assert body["context"]["requiredGranularScopes"] == missing
    assert sim.status_history(CHANNEL, "m") == []
    api.close()


def test_granted_scopes_suffice(sim: HubSpotSimulator) -> None:
    sim.add_message(CHANNEL, "m")
    reader = Api(sim, sim.issue_token([READ]))
    writer = Api(sim, sim.issue_token([WRITE]))
    assert reader.get(message_path("m")).status_code == 200
    assert reader.get(f"{CC}/{CHANNEL}/channel-accounts").status_code == 200
    assert writer.patch(message_path("m"), json={"statusType": "SENT"}).status_code == 200
    assert writer.get(f"{CC}/{CHANNEL}/channel-accounts").status_code == 200
    reader.close()
    writer.close()


@pytest.mark.parametrize("path", ["/oauth/2026-03/token", "/oauth/v1/token"])
def test_refresh_grant_mints_a_working_token(sim: HubSpotSimulator, path: str) -> None:
    answer = _refresh(sim, path)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer" and body["token_use"] == "access_token"
    assert body["expires_in"] == 1800
    assert body["hub_id"] == sim.hub_id
    assert body["refresh_token"] == sim.refresh_token
    assert {READ, WRITE, INBOX_READ} <= set(body["scopes"])
    assert body["access_token"] != sim.access_token and len(body["access_token"]) <= 300
    api = Api(sim, body["access_token"])
    assert api.get(f"{CC}/{CHANNEL}").status_code == 200
    api.close()
    assert sim.token_requests == 1


def test_token_lifetime_is_configurable(make_sim: Any) -> None:
    sim = make_sim(token_lifetime=120)
    assert _refresh(sim).json()["expires_in"] == 120


def test_rotation_makes_refresh_tokens_single_use(make_sim: Any) -> None:
    sim = make_sim(rotate_refresh_tokens=True)
    first = _refresh(sim).json()
    assert first["refresh_token"] != sim.refresh_token
    reused = _refresh(sim)
    assert reused.status_code == 400 and error_of(reused)["category"] == "BAD_REFRESH_TOKEN"
    second = _refresh(sim, refresh_token=first["refresh_token"])
    assert second.status_code == 200
    # Access tokens minted earlier stay valid until they expire.
    api = Api(sim, first["access_token"])
    assert api.get(f"{CC}/{CHANNEL}").status_code == 200
    api.close()
    assert sim.token_requests == 3


def test_revoked_refresh_token_is_refused(sim: HubSpotSimulator) -> None:
    sim.revoke_refresh_token(sim.refresh_token)
    answer = _refresh(sim)
    assert answer.status_code == 400
    body = error_of(answer)
    assert body["status"] == body["category"] == "BAD_REFRESH_TOKEN"


@pytest.mark.parametrize(
    ("fields", "category"),
    [
        ({"client_id": "someone-else"}, "BAD_CLIENT_ID"),
        ({"client_secret": "wrong"}, "BAD_CLIENT_SECRET"),
        ({"grant_type": "authorization_code"}, "BAD_GRANT_TYPE"),
        ({"refresh_token": ""}, "BAD_REFRESH_TOKEN"),
    ],
)
def test_bad_grant_requests_are_400(sim: HubSpotSimulator, fields: dict[str, str], category: str) -> None:
    answer = _refresh(sim, **fields)
    assert answer.status_code == 400
    assert error_of(answer)["category"] == category


def test_token_endpoint_wants_a_form(sim: HubSpotSimulator) -> None:
    answer = requests.post(sim.base_url + "/oauth/2026-03/token", json={"grant_type": "refresh_token"}, timeout=TIMEOUT)
    assert answer.status_code == 400
    assert requests.get(sim.base_url + "/oauth/2026-03/token", timeout=TIMEOUT).status_code == 405


def test_a_fixed_access_token_never_expires(make_sim: Any) -> None:
    sim = make_sim(access_token="demo-token", token_lifetime=0.01)
    time.sleep(0.05)
    api = Api(sim)
    assert sim.access_token == "demo-token"
    assert api.get(f"{CC}/{CHANNEL}").status_code == 200
    api.close()
