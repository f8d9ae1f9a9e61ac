"""Airflow 3.3 loads provider example DAGs as a bundle when ``load_examples`` is on: they must parse anywhere.

Parsed in a clean process, as the DAG processor parses a ``LocalDagBundle``: HOME and the working directory empty
(the working directory read-only), no ``AIRFLOW_CONN_*`` and no ``HUBSPOT_CHANNELS_*`` variables. An audit hook
records every file opened for writing, directory made, file removed, SQLite database opened and socket connected
while the DAGs are parsed: there must be none.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_DAGS, ROOT

pytestmark = pytest.mark.airflow

PARSE = textwrap.dedent(
    """
    import inspect, json, os, sys

    events = []
    recording = False
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def audit(event, args):
        if not recording:
            return
        if event == "open":
            path, mode, flags = args
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS:
                events.append([event, str(path)])
        elif event in ("os.mkdir", "os.remove", "os.rename", "os.rmdir", "shutil.rmtree", "sqlite3.connect"):
            events.append([event, str(args[0])])
        elif event == "socket.connect":
            events.append([event, repr(args[1])])

    sys.addaudithook(audit)
    from airflow.dag_processing.bundles.local import LocalDagBundle
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    bundle = LocalDagBundle(name="airflow-provider-hubspot-channels-example-dags", path=sys.argv[1])
    bundle.initialize()
    recording = True
    # Before 3.3 a DagBag adds Airflow's own examples when load_examples is on (they are not this bundle's), and
    # 3.1's takes no bundle name: pass what this version's DagBag accepts.
    accepted = inspect.signature(DagBag).parameters
    wanted = {"bundle_path": bundle.path, "bundle_name": bundle.name, "include_examples": False}
    bag = DagBag(dag_folder=str(bundle.path), **{k: v for k, v in wanted.items() if k in accepted})
    recording = False
    print(json.dumps({
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "events": events,
        "dags": {
            dag_id: {
                "is_paused_upon_creation": dag.is_paused_upon_creation,
                "timetable": type(dag.timetable).__name__,
                "catchup": dag.catchup,
            }
            for dag_id, dag in bag.dags.items()
        },
    }))
    """
)


def snapshot(*roots: Path) -> set[str]:
    return {str(path) for root in roots for path in root.rglob("*")}


def parse_in_a_bare_environment(folder: Path, tmp_path: Path) -> tuple[dict, set[str]]:
    """Parse ``folder`` as a bundle in a clean process; its report and the files that appeared meanwhile."""
    home, cwd, tmp, airflow_home = (tmp_path / name for name in ("home", "cwd", "tmp", "airflow_home"))
    for path in (home, cwd, tmp, airflow_home):
        path.mkdir()
    cwd.chmod(stat.S_IRUSR | stat.S_IXUSR)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "HUBSPOT_CHANNELS_", "AIRFLOW__"))
    }
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp),
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__LOAD_EXAMPLES="True",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{airflow_home}/airflow.db",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
    )
    before = snapshot(home, cwd, tmp, folder)
    try:
        done = subprocess.run(
            [sys.executable, "-c", PARSE, str(folder)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        cwd.chmod(stat.S_IRWXU)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), snapshot(home, cwd, tmp, folder) - before


def test_examples_parse_in_a_bare_environment_and_write_nothing(tmp_path):
    result, created = parse_in_a_bare_environment(EXAMPLE_DAGS, tmp_path)
    assert result["import_errors"] == {}
    assert result["events"] == [], "parsing the examples wrote, removed or connected"
    assert created == set()
    dags = result["dags"]
    assert set(dags) == {path.stem for path in EXAMPLE_DAGS.glob("example_*.py")}
    # Nothing runs until a user unpauses it, whatever the deployment's dags_are_paused_at_creation says.
    assert {dag_id for dag_id, dag in dags.items() if dag["is_paused_upon_creation"] is not True} == set()
    # Unpaused, a scheduled example runs the latest interval only, never a backlog since its start date.
    assert {dag_id for dag_id, dag in dags.items() if dag["catchup"]} == set()


def test_the_check_sees_a_dag_file_that_writes_or_connects_at_parse_time(tmp_path):
    # The control: without it, an audit hook that records nothing would pass the test above.
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "careless.py").write_text(
        textwrap.dedent(
            """
            import os, socket, tempfile
            from airflow.sdk import DAG

            os.makedirs(os.path.join(tempfile.gettempdir(), "reports"), exist_ok=True)
            with socket.socket() as s:
                s.settimeout(0.2)
                try:
                    s.connect(("127.0.0.1", 9))
                except OSError:
                    pass
            with DAG(dag_id="careless", schedule=None):
                pass
            """
        )
    )
    result, created = parse_in_a_bare_environment(folder, tmp_path)
    assert result["import_errors"] == {}
    assert {event for event, _ in result["events"]} == {"os.mkdir", "socket.connect"}
    assert [Path(path).name for path in created] == ["reports"]
