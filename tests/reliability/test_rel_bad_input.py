"""Issue 5.6, the bad input table: every mistake in operator arguments, records or connection fields gets an error
that names the field and the fix, and no request is sent (counted at the HTTP session and at the simulator)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

from ._support import CONN_ENV, connection_json, reconcile

END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONTEXT = {"data_interval_start": END - timedelta(minutes=15), "data_interval_end": END, "logical_date": END}
OLD = (END - timedelta(hours=1)).isoformat()


def record(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"channel_id": 1001, "message_id": "m-1", "created_at": OLD}
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not ...}


# (case id, kind, arguments, words the error must contain besides "Fix")
# kind "op": ReconcileStaleMessagesOperator(**arguments) at parse time, then execute
# kind "render": constructed fine, the rendered template value (set after construction) is bad
# kind "record": one bad record in the batch
# kind "update": UpdateMessageStatusOperator(**arguments)
# kind "conn": connection fields (host, password, extra) of an otherwise good run
CASES: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("negative SLA", "op", {"stale_after": -5}, ("stale_after",)),
    ("unparsable SLA", "op", {"stale_after": "fifteen minutes"}, ("stale_after",)),
    ("unknown template field", "op", {"error_message_template": "Lost {nonsense}"}, ("nonsense",)),
    ("positional template field", "op", {"error_message_template": "Lost {}"}, ("error_message_template",)),
    ("zero concurrency", "op", {"max_concurrency": 0}, ("max_concurrency",)),
    ("concurrency not a number", "op", {"max_concurrency": "many"}, ("max_concurrency",)),
    ("dry_run not a flag", "op", {"dry_run": "maybe"}, ("dry_run",)),
    ("verify_status not a flag", "op", {"verify_status": "perhaps"}, ("verify_status",)),
    ("naive reference time", "op", {"reference_time": "2026-11-24T10:00:00"}, ("reference_time",)),
    ("unparsable reference time", "op", {"reference_time": "teatime"}, ("reference_time",)),
    ("rendered SLA negative", "render", {"stale_after": "-PT5M"}, ("stale_after",)),
    ("rendered dry_run garbage", "render", {"is_dry_run": "sometimes"}, ("dry_run",)),
    ("batch not a list", "render", {"messages": {"channel_id": 1001}}, ("messages",)),
    ("batch JSON not an array", "render", {"messages": '{"channel_id": 1001}'}, ("messages",)),
    ("batch string not JSON", "render", {"messages": "m-1,m-2"}, ("messages",)),
    ("wrong delivery status", "record", {"delivery_status": "sent"}, ("messages[0].delivery_status",)),
    ("negative channel id", "record", {"channel_id": -3}, ("messages[0].channel_id",)),
    ("non-numeric channel id", "record", {"channel_id": "sms"}, ("messages[0].channel_id",)),
    ("channel id beyond int32", "record", {"channel_id": 2**31}, ("messages[0].channel_id",)),
    ("empty message id", "record", {"message_id": ""}, ("messages[0].message_id",)),
    ("blank message id", "record", {"message_id": "   "}, ("messages[0].message_id",)),
    ("missing message id", "record", {"message_id": ...}, ("messages[0].message_id",)),
    ("naive timestamp", "record", {"created_at": "2026-11-24T10:00:00"}, ("messages[0].created_at",)),
    ("unparsable timestamp", "record", {"created_at": "yesterday"}, ("messages[0].created_at",)),
    ("epoch seconds timestamp", "record", {"created_at": 1795435200}, ("messages[0].created_at",)),
    ("missing timestamp", "record", {"created_at": ...}, ("messages[0].created_at",)),
    ("disagreeing spellings", "record", {"channelId": 1002}, ("messages[0].channel_id",)),
    ("recipient not text", "record", {"recipient": {"phone": "+1555"}}, ("messages[0].recipient",)),
    ("status not accepted", "update", {"status_type": "DELIVERED"}, ("status_type",)),
    ("RECEIVED is HubSpot's", "update", {"status_type": "RECEIVED"}, ("status_type", "RECEIVED")),
    ("error message with SENT", "update", {"status_type": "SENT", "error_message": "x"}, ("error_message", "FAILED")),
    ("error message too long", "update", {"error_message": "x" * 501}, ("error_message", "500")),
    ("update: negative channel id", "update", {"channel_id": -1}, ("channel_id",)),
    ("update: blank message id", "update", {"message_id": " "}, ("message_id",)),
    ("http to a non-loopback host", "conn", {"host": "http://api.hubapi.com"}, ("host", "https")),
    ("credentials in the host", "conn", {"host": "https://user:pw@api.hubapi.com"}, ("host",)),
    ("missing token", "conn", {"password": None}, ("password",)),
    ("non-numeric timeout", "conn", {"extra": {"timeout": "soon"}}, ("timeout",)),
    ("negative retries", "conn", {"extra": {"max_retries": -1}}, ("max_retries",)),
    ("budget share over 1", "conn", {"extra": {"budget_share": 1.5}}, ("budget_share",)),
    ("unknown API version", "conn", {"extra": {"api_version": "2020"}}, ("api_version",)),
    ("half an OAuth setup", "conn", {"extra": {"client_id": "abc"}}, ("client_secret", "refresh_token")),
    ("non-numeric test channel", "conn", {"extra": {"channel_id": "sms"}}, ("channel_id",)),
]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP request any session sends (the simulator's log is the second witness).

    Counted at ``Session.send``: the client sends requests it prepared itself, and ``Session.request`` ends there too.
    """
    calls: list[str] = []
    real = requests.Session.send

    def counting(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        calls.append(f"{request.method} {request.url}")
        return real(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", counting)
    return calls


def run_case(kind: str, arguments: dict[str, Any], sim: HubSpotSimulator, monkeypatch: pytest.MonkeyPatch) -> str:
    conn: dict[str, Any] = {"host": sim.base_url, "password": sim.access_token, "extra": {"timeout": 5}}
    if kind == "conn":
        conn.update({k: v for k, v in arguments.items() if k != "extra"})
        conn["extra"] = {**conn["extra"], **arguments.get("extra", {})}
    monkeypatch.setenv(CONN_ENV, connection_json(conn["host"], password=conn["password"], **conn["extra"]))
    try:
        if kind == "op":
            reconcile([record()], **arguments).execute(CONTEXT)
        elif kind == "render":
            op = reconcile([record()])
            for name, value in arguments.items():
                setattr(op, name, value)
            op.execute(CONTEXT)
        elif kind == "record":
            reconcile([record(**arguments)]).execute(CONTEXT)
        elif kind == "update":
            base = {"channel_id": 1001, "message_id": "m-1", "status_type": "FAILED"}
            UpdateMessageStatusOperator(task_id="update", **{**base, **arguments}).execute(CONTEXT)
        elif kind == "conn":
            reconcile([record()]).execute(CONTEXT)
    except (ValueError, AirflowFailException) as exc:
        return str(exc)
    pytest.fail("no error was raised")


@pytest.mark.parametrize(("kind", "arguments", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_field_and_the_fix_and_sends_nothing(kind, arguments, words, sent, monkeypatch):
    with HubSpotSimulator() as sim:
        sim.add_message(1001, "m-1", created_at=OLD)
        text = run_case(kind, arguments, sim, monkeypatch)
        for word in words:
            assert word in text, text
        assert "Fix:" in text, text
        assert sent == [], sent
        assert sim.request_log == []


def test_the_table_is_large_enough():
    assert len(CASES) >= 25
    assert {kind for _, kind, _, _ in CASES} == {"op", "render", "record", "update", "conn"}


def test_the_request_counter_sees_what_a_valid_run_sends(sent, monkeypatch):
    # The witness above must be able to fail: the same operator with valid input is counted at the session.
    with HubSpotSimulator() as sim:
        sim.add_message(1001, "m-1", created_at=OLD)
        monkeypatch.setenv(CONN_ENV, connection_json(sim.base_url, password=sim.access_token, timeout=5))
        reconcile([record()]).execute(CONTEXT)
        assert len(sent) == len(sim.request_log) >= 1, (sent, sim.request_log)
