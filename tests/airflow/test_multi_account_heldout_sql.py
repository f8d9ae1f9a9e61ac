"""Issue 15's held-out check of refresh tokens from the integrator's own table (``refresh_tokens_sql_conn_id`` +
``refresh_tokens_sql``) with one WRONG token in it: a mixed batch of four accounts of one multi-account simulator,
where the row of one account holds another account's refresh token.

The operator runs in a child process (``_heldout_sql_child.py``) that sees a ``common.sql`` hook for SQLite from its
start (see ``test_hook_accounts_sql.py``, whose provider fixture this reuses); the simulator runs here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.airflow.test_hook_accounts_sql import ROOT, sql_provider_path  # noqa: F401 (a fixture)
from tests.airflow.test_multi_account_heldout import (
    MESSAGE_PATH,
    NOW,
    check_final_states,
    cross_account_requests,
    interleave,
    owners,
    read_report,
    seed_expectations,
    seeded_statuses,
    settled_log,
)
from tests.conftest import connection_json

QUERY = "SELECT refresh_token FROM installations WHERE portal_id = :portal_id"


def run_child(env: dict[str, str], args: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.airflow._heldout_sql_child", json.dumps(args)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for secret in secrets:  # nothing the task printed or logged holds a secret it read
        assert secret not in done.stdout and secret not in done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_wrong_refresh_token_in_the_table_stops_only_its_account_and_writes_nowhere(
    tmp_path: Path,
    sql_provider_path: str,  # noqa: F811
) -> None:
    with HubSpotSimulator(seed=4) as sim:
        records = sim.seed_accounts(4, 30, seed=8, now=NOW)
        seeds = seed_expectations(sim, 4, 30, seed=8)
        portals = list(seeds)
        wrong, lender = portals[1], portals[2]  # wrong's row holds lender's refresh token
        db = tmp_path / "installs.sqlite"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE installations (portal_id TEXT PRIMARY KEY, refresh_token TEXT)")
            conn.executemany(
                "INSERT INTO installations VALUES (?, ?)",
                [(p, sim.account(int(lender if p == wrong else p)).refresh_token) for p in portals],
            )
        (tmp_path / "records.json").write_text(json.dumps(interleave(records)))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([sql_provider_path, str(ROOT)]),
            # The app's connection: client id and secret only.
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT": connection_json(
                sim.base_url, client_id=sim.client_id, client_secret=sim.client_secret
            ),
            "AIRFLOW_CONN_REFRESH_TOKENS": json.dumps({"conn_type": "sqlite", "host": str(db)}),
        }
        before = seeded_statuses(sim, seeds)
        report = tmp_path / "report.jsonl"
        args = {"records": str(tmp_path / "records.json"), "sql": QUERY, "report": str(report), "end": NOW.isoformat()}
        secrets = [sim.client_secret] + [a.refresh_token for a in sim.accounts()[:4]]

        result = run_child(env, args, secrets)

        # The task fails naming the account whose token was wrong, and only it.
        failed = result["failed"]
        assert failed is not None and wrong in failed, failed
        assert "1 account stopped" in failed, failed
        rows = read_report(report)
        assert len(rows) == len(records) == 120
        wrong_rows = [r for r in rows if r["portal_id"] == wrong]
        assert len(wrong_rows) == 30
        for row in wrong_rows:
            if seeds[wrong].expected[row["message_id"]] == "fresh":
                # Within the SLA nothing is to be done, so no credentials are needed to say so.
                assert row["outcome"] == "skipped_not_stale", row
                continue
            assert row["outcome"] == "not_attempted", row
            # Every row says why, the first one (whose request met the refusal) as well as the rest.
            assert "belongs to another account" in row["reason"] and lender in row["reason"], row["reason"]
        others = {p: s for p, s in seeds.items() if p != wrong}
        other_rows = [r for r in rows if r["portal_id"] != wrong]
        assert {r["outcome"] for r in other_rows}.isdisjoint({"error", "not_attempted", "invalid"})
        check_final_states(sim, others, before)
        # The wrong account received no request and no write; its messages were not asked about with any token.
        log = settled_log(sim)
        api = [e for e in log if MESSAGE_PATH.match(e.path)]
        assert not [e for e in api if str(e.hub_id) == wrong]
        wrong_ids = set(seeds[wrong].expected)
        assert not [e for e in api if MESSAGE_PATH.match(e.path).group(2) in wrong_ids]  # type: ignore[union-attr]
        for message_id in wrong_ids - set(seeds[wrong].ids("not_found")):
            history = sim.account(int(wrong)).status_history(1001, message_id)
            assert [h for h in history if h.get("source") == "api"] == [], message_id
        assert cross_account_requests(log, owners(others)) == []
        assert not [e for e in log if e.status in (401, 403, 429)]
        # One token request per account, the refused one included; a refused account is not asked again.
        assert sim.token_requests == 4
