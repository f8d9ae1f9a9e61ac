"""Issue 5.7, secrets: static and refreshed access tokens, refresh tokens and the client secret never appear in
logs, exception texts, XCom, reports or ``repr()`` of the hook and client, and every one of them is registered with
Airflow's secret masker (checked with its ``redact``, since tests do not run behind a real worker's log masking).

Every output of runs that refresh tokens (short-lived, rotating refresh tokens) and hit errors is captured: stdout
and stderr at the file-descriptor level, structlog events, stdlib logging, exception texts with their tracebacks
and causes, the XCom summary and the JSON Lines report.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import structlog
from airflow.sdk._shared.secrets_masker import redact

from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from airflow_provider_hubspot_channels.operators.errors import AirflowException
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator

from ._support import CONN_ENV, connection_json, context_for, reconcile, use_connection

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def every_secret(sim: HubSpotSimulator) -> set[str]:
    """Every secret the simulator ever issued or holds: access tokens, refresh tokens, the client secret."""
    tokens = sim.tokens
    with tokens._lock:
        return {*tokens._access, *tokens._refresh, tokens.client_secret}


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc)


class Outputs:
    """Everything a run wrote where people or machines can read it."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.sources: list[Any] = []

    def add(self, value: Any) -> None:
        self.parts.append(value if isinstance(value, str) else json.dumps(value, default=repr))

    def collect(self) -> None:
        """Read what the log and stream captures hold so far."""
        for source in self.sources:
            source(self)

    def assert_free_of(self, secrets: set[str]) -> None:
        self.collect()
        text = "\n".join(self.parts)
        leaked = sorted(s[:12] + "..." for s in secrets if s in text)
        assert not leaked, f"secrets leaked: {leaked}"


@pytest.fixture
def outputs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Any:
    collected = Outputs()
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:

        def read(into: Outputs) -> None:
            out, err = capfd.readouterr()
            into.add(out)
            into.add(err)
            into.add(caplog.text)
            caplog.clear()
            into.add([{k: repr(v) for k, v in event.items()} for event in events])
            events.clear()

        collected.sources.append(read)
        yield collected


def run_and_capture(outputs: Outputs, op: Any, context: dict[str, Any]) -> Any:
    try:
        summary = op.execute(context)
    except Exception as exc:
        outputs.add(exception_text(exc))
        return exc
    outputs.add(summary)
    return summary


def test_no_secret_leaks_from_runs_that_refresh_tokens_and_hit_errors(outputs, monkeypatch, tmp_path: Path):
    faults = FaultConfig(p_503=0.05, p_500=0.03, html_share=0.5, p_reset=0.02, p_429=0.02, retry_after=0)
    with HubSpotSimulator(
        seed=21, token_lifetime=1.0, rotate_refresh_tokens=True, latency=0.01, rate_limit=None
    ) as sim:
        seed = sim.seed_scenario("reconciliation", 120, now=NOW)
        sim.set_faults(faults)
        context = context_for(seed)

        # 1. OAuth with rotating refresh tokens: several refreshes while the batch runs; faults along the way.
        use_connection(monkeypatch, sim, oauth=True, timeout=2, max_retries=4, max_requests_per_10s=10_000)
        report_1 = tmp_path / "oauth.jsonl"
        first = run_and_capture(outputs, reconcile(seed.records, report_path=str(report_1)), context)
        assert isinstance(first, dict) and first["counts"]["marked_failed"] == len(seed.ids("stale"))
        assert sim.token_requests >= 2
        outputs.add(report_1.read_text())

        # 2. A static token plus OAuth settings, with errors that outlive the retries: a retryable failure.
        static = sim.issue_token(lifetime=float("inf"))
        sim.set_faults(FaultConfig(p_503=0.6, html_share=0.5))
        monkeypatch.setenv(
            CONN_ENV,
            connection_json(
                sim.base_url,
                password=static,
                client_id=sim.client_id,
                client_secret=sim.client_secret,
                refresh_token=sim.refresh_token,
                timeout=2,
                max_retries=1,
                max_requests_per_10s=10_000,
            ),
        )
        fresh = sim.seed_scenario("reconciliation", 30, now=NOW, seed=99)
        report_2 = tmp_path / "errors.jsonl"
        second = run_and_capture(outputs, reconcile(fresh.records, report_path=str(report_2)), context_for(fresh))
        assert isinstance(second, AirflowException)
        outputs.add(report_2.read_text())
        sim.set_faults(None)

        # 3. A refresh HubSpot refuses, and 4. a token HubSpot refuses: failures that name the connection.
        for rotated in list(sim.tokens._refresh):
            sim.revoke_refresh_token(rotated)
        use_connection(monkeypatch, sim, oauth=True, timeout=2)
        assert isinstance(run_and_capture(outputs, reconcile(seed.records), context), AirflowException)
        expired = sim.issue_token()
        sim.expire_token(expired)
        monkeypatch.setenv(CONN_ENV, connection_json(sim.base_url, password=expired, timeout=2))
        assert isinstance(run_and_capture(outputs, reconcile(seed.records), context), AirflowException)

        # repr of the hook and its client, after use (with a new installation's refresh token).
        monkeypatch.setenv(
            CONN_ENV,
            connection_json(
                sim.base_url,
                client_id=sim.client_id,
                client_secret=sim.client_secret,
                refresh_token=sim.issue_refresh_token(),
                timeout=2,
            ),
        )
        hook = HubSpotChannelsHook()
        hook.get_channel(1001)
        for thing in (hook, hook.client, hook.client._auth, hook.connection_settings()):
            outputs.add(repr(thing))
            outputs.add(str(thing))
        hook.close()
        secrets = every_secret(sim)
        unused = sim.access_token

    assert len(secrets) > 6  # static, expired, several refreshed access tokens, rotated refresh tokens, secret
    outputs.assert_free_of({form for secret in secrets for form in encodings(secret)})
    # The capture did see the runs: their summaries, the retries' warnings and the failures.
    seen = "\n".join(outputs.parts)
    for evidence in ("Reconciliation summary", "retry 1 in", "OAuth refresh was refused", "EXPIRED_AUTHENTICATION"):
        assert evidence in seen, evidence
    # Every secret the provider handled is registered with Airflow's masker; the simulator's default access token
    # is the one secret this test never gave it.
    for secret in secrets - {unused}:
        assert redact(secret) == "***", secret[:12]
    assert redact(f"Bearer {next(iter(secrets - {unused}))}") == "Bearer ***"


def test_the_leak_check_itself_finds_a_leak():
    outputs = Outputs()
    outputs.add({"summary": "Bearer sim-at-abcdef"})
    with pytest.raises(AssertionError, match="secrets leaked"):
        outputs.assert_free_of({"sim-at-abcdef"})


def encodings(secret: str) -> set[str]:
    """Every form a secret can take in text: raw, repr/escaped, JSON-escaped, URL-encoded, and its pieces."""
    from urllib.parse import quote, quote_plus

    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret), quote_plus(secret)}
    forms |= {piece for piece in secret.replace("\r", "\n").split("\n") if len(piece) >= 8}
    return forms


@pytest.mark.parametrize("wrap", ["\n", "\r\n", " ", "\t"])
def test_a_wrapped_token_is_refused_by_field_and_never_shown(outputs, monkeypatch, tmp_path: Path, wrap):
    # A secret wrapped by a secrets backend or an environment file: http.client refuses the header, and its
    # ValueError holds the token with an escaped line break that no masker registered with the real one matches.
    with HubSpotSimulator() as sim:
        sim.add_message(1001, "m-1", created_at="2026-11-24T10:00:00Z")
        token = sim.access_token
        wrapped = token[:20] + wrap + token[20:]
        monkeypatch.setenv(CONN_ENV, connection_json(sim.base_url, password=wrapped, channel_id=1001))
        records = [{"channel_id": 1001, "message_id": "m-1", "created_at": "2026-11-24T10:00:00Z"}]
        report = tmp_path / "r.jsonl"
        failure = run_and_capture(outputs, reconcile(records, report_path=str(report)), {"data_interval_end": NOW})
        ok, message = HubSpotChannelsHook().test_connection()
        outputs.add(message)
        if report.exists():
            outputs.add(report.read_text())
        assert sim.request_log == []  # refused before any request
    assert isinstance(failure, AirflowException) and "password" in str(failure)
    assert not ok and "password" in message
    outputs.assert_free_of(encodings(wrapped))


def test_outer_whitespace_around_a_token_is_stripped(monkeypatch):
    # A trailing newline from `echo token > file` is a copy-paste habit, not a different token.
    with HubSpotSimulator() as sim:
        monkeypatch.setenv(CONN_ENV, connection_json(sim.base_url, password=f"  {sim.access_token}\n", channel_id=1001))
        ok, message = HubSpotChannelsHook().test_connection()
    assert ok, message
