"""Shared fixtures: a private AIRFLOW_HOME (set before Airflow is imported), the simulator, and connections."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = ROOT / "example_dags"

# Airflow reads its configuration when first imported: point it at a throw-away home before any test imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="hubspot-channels-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLE_DAGS)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["HUBSPOT_CHANNELS_STORE"] = f"{_AIRFLOW_HOME}/store/integrator_store.sqlite"
os.environ["HUBSPOT_CHANNELS_REPORTS"] = f"{_AIRFLOW_HOME}/reports"

# airflow.configuration's first import puts filterwarnings("default", DeprecationWarning, module="airflow") in FRONT
# of the warning filters (when sys.warnoptions is empty). pytest applies pyproject's filterwarnings once around the
# whole collection, so had the first test module importing Airflow imported it there, every later Airflow deprecation
# attributed to `airflow*` (ours included) during collection would only be printed. Imported now, before collection,
# its filter sits under the filters pytest pushes for collection and for each test, and never wins over them.
# (`-W` in addopts would not help: pytest applies it the same way and never sets sys.warnoptions.)
import airflow.configuration  # noqa: E402,F401


def DagBag(**kwargs: object) -> object:
    """Airflow's DagBag, wherever this Airflow version keeps it (3.1: ``airflow.models.dagbag``)."""
    try:
        from airflow.dag_processing.dagbag import DagBag as dagbag_class
    except ImportError:
        from airflow.models.dagbag import DagBag as dagbag_class  # type: ignore[no-redef]
    return dagbag_class(**kwargs)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated Airflow metadata database in the private AIRFLOW_HOME (needed by ``dag.test()``)."""
    from airflow.utils import db

    db.initdb()
    return _AIRFLOW_HOME


@pytest.fixture
def simulator() -> Iterator[object]:
    """A HubSpot simulator on 127.0.0.1, stopped after the test."""
    from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

    with HubSpotSimulator() as sim:
        yield sim


def connection_json(base_url: str, *, password: str | None = None, **extra: object) -> str:
    """An ``AIRFLOW_CONN_*`` value for a hubspot_channels connection."""
    conn: dict[str, object] = {"conn_type": "hubspot_channels", "host": base_url, "extra": extra}
    if password is not None:
        conn["password"] = password
    return json.dumps(conn)


@pytest.fixture
def hubspot_conn(simulator: object, monkeypatch: pytest.MonkeyPatch) -> str:
    """Connection ``hubspot_channels_default`` pointing at the simulator with a static token."""
    value = connection_json(simulator.base_url, password=simulator.access_token, channel_id=1001)  # type: ignore[attr-defined]
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", value)
    return "hubspot_channels_default"
