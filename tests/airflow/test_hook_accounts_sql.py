"""Issue 15: each installation's refresh token from the integrator's own table, through a ``common.sql`` hook.

A real SQLite database behind an Airflow connection (``AIRFLOW_CONN_REFRESH_TOKENS``) and a parameterised query. The
SQLite provider is used when installed; otherwise a minimal ``DbApiHook`` over ``sqlite3`` is registered for the
``sqlite`` connection type the way any provider registers (an ``apache_airflow_provider`` entry point). Airflow
discovers providers once per process, so the hook runs in a child process that sees it from the start.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.conftest import connection_json

ROOT = Path(__file__).resolve().parents[2]
QUERY = "SELECT refresh_token FROM installations WHERE portal_id = :portal_id"

HOOK_MODULE = '''
import sqlite3

from airflow.providers.common.sql.hooks.sql import DbApiHook


class SqliteTestHook(DbApiHook):
    """sqlite3 for the test: the connection's host is the database file."""

    conn_name_attr = "sqlite_conn_id"
    default_conn_name = "sqlite_default"
    conn_type = "sqlite"
    hook_name = "SQLite (test)"
    placeholder = "?"

    def get_conn(self):
        return sqlite3.connect(self.get_connection(getattr(self, self.conn_name_attr)).host)
'''

PROVIDER_INFO = """
def get_provider_info():
    return {
        "package-name": "hubspot-channels-test-sqlite",
        "name": "SQLite for tests",
        "description": "A DbApiHook over sqlite3 for the provider's tests.",
        "versions": ["1.0.0"],
        "connection-types": [
            {"connection-type": "sqlite", "hook-class-name": "hubspot_channels_test_sqlite.hooks.SqliteTestHook"}
        ],
    }
"""


@pytest.fixture(scope="module")
def sql_provider_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PYTHONPATH entry that gives Airflow a hook for ``sqlite`` connections."""
    root = tmp_path_factory.mktemp("sql-provider")
    if importlib.util.find_spec("airflow.providers.sqlite") is not None:
        return str(root)  # the real provider is installed: nothing to add
    package = root / "hubspot_channels_test_sqlite"
    package.mkdir()
    (package / "__init__.py").write_text(PROVIDER_INFO)
    (package / "hooks.py").write_text(HOOK_MODULE)
    dist = root / "hubspot_channels_test_sqlite-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hubspot-channels-test-sqlite\nVersion: 1.0.0\n")
    (dist / "entry_points.txt").write_text(
        "[apache_airflow_provider]\nprovider_info = hubspot_channels_test_sqlite:get_provider_info\n"
    )
    return str(root)


def run_child(env: dict[str, str], args: dict[str, object]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.airflow._sql_accounts_child", json.dumps(args)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    # Nothing the child printed or logged holds a secret it read.
    for secret in args["secrets"]:  # type: ignore[attr-defined]
        assert secret not in done.stdout and secret not in done.stderr
    return result


def test_refresh_tokens_from_a_table_write_only_to_their_own_account(tmp_path, sql_provider_path):
    db = tmp_path / "store.sqlite"
    with HubSpotSimulator() as sim:
        portal = str(sim.hub_id)
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE installations (portal_id TEXT PRIMARY KEY, refresh_token TEXT)")
            conn.executemany(
                "INSERT INTO installations VALUES (?, ?)",
                [
                    (portal, sim.refresh_token),
                    ("555", sim.refresh_token),  # another account's refresh token, stored under 555 by mistake
                    ("556", None),
                    ("557", "   "),
                ],
            )
        own, mistaken = sim.add_message(1001), sim.add_message(1001)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([sql_provider_path, str(ROOT)]),
            # The app's connection: client id and secret only (no refresh token of its own).
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT": connection_json(
                sim.base_url, client_id=sim.client_id, client_secret=sim.client_secret
            ),
            "AIRFLOW_CONN_REFRESH_TOKENS": json.dumps({"conn_type": "sqlite", "host": str(db)}),
        }
        args = {
            "sql": QUERY,
            "writes": [
                [portal, 1001, own["id"]],
                ["555", 1001, mistaken["id"]],
                ["556", 1001, mistaken["id"]],
                ["557", 1001, mistaken["id"]],
                ["558", 1001, mistaken["id"]],
            ],
            "secrets": [sim.refresh_token, sim.client_secret],
        }
        result = run_child(env, args)
        outcomes = result["outcomes"]
        assert outcomes[portal] == "ok"
        assert str(outcomes["555"]).startswith("HubSpotAccountMismatchError") and portal in str(outcomes["555"])
        for missing, words in (("556", "empty refresh token"), ("557", "empty refresh token"), ("558", "no row")):
            assert str(outcomes[missing]).startswith("AccountCredentialsError"), outcomes[missing]
            assert words in str(outcomes[missing]) and f"account {missing}" in str(outcomes[missing])
        assert result["masked"] == [True, True]
        # One write, to the right account's message; the mistaken account's message was never touched.
        patches = [entry for entry in sim.request_log if entry.method == "PATCH"]
        assert [entry.path.rsplit("/", 1)[1] for entry in patches] == [own["id"]]
        assert sim.get_message(1001, own["id"])["status"]["statusType"] == "FAILED"
        assert sim.get_message(1001, mistaken["id"]).get("status", {}).get("statusType") != "FAILED"
        # Two token requests: the rightful account's and the mistaken one's (refused by its answer), no more.
        assert sim.token_requests == 2


def test_a_query_without_a_row_for_anyone_fails_each_account_once(tmp_path, sql_provider_path):
    db = tmp_path / "empty.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE installations (portal_id TEXT, refresh_token TEXT)")
    with HubSpotSimulator() as sim:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([sql_provider_path, str(ROOT)]),
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT": connection_json(
                sim.base_url, client_id=sim.client_id, client_secret=sim.client_secret
            ),
            "AIRFLOW_CONN_REFRESH_TOKENS": json.dumps({"conn_type": "sqlite", "host": str(db)}),
        }
        message = sim.add_message(1001)
        args = {"sql": QUERY, "writes": [["101", 1001, message["id"]], ["102", 1001, message["id"]]], "secrets": []}
        outcomes = run_child(env, args)["outcomes"]
        assert all(str(text).startswith("AccountCredentialsError") for text in outcomes.values())
        assert sim.request_log == []
