"""Airflow 3.3's own loader finds the example DAGs in the INSTALLED wheel, and they parse safely there.

With ``[core] load_examples`` on, Airflow 3.3 adds ``<provider package>/example_dags`` of every installed provider
as a bundle (``_add_provider_example_dags_to_bundle``). The wheel is installed into a folder of its own, put first
on the path of a fresh Python process, so the package imported is the installed one, never this source tree. There,
with no simulator, no connection and a metadata database nobody migrated, the bundle must exist and every DAG in it
must parse with no import error, no warning, and no file written or database opened (an audit hook records them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.packaging.conftest import Distributions

bundles_manager = pytest.importorskip("airflow.dag_processing.bundles.manager")

BUNDLE = "airflow-provider-hubspot-channels-example-dags"
EXAMPLES = {
    "example_hubspot_update_message_status",
    "example_hubspot_reconcile_messages",
    "example_hubspot_backfill_reconcile",
    "example_hubspot_discover_and_reconcile",
}

# Runs in the fresh process. The audit hook goes in after Airflow's imports and configuration, before parsing.
PARSE = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    import airflow_provider_hubspot_channels as package
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag

    manager = DagBundlesManager()
    manager.parse_config()
    bundle = manager.get_bundle(sys.argv[1])
    bundle.initialize()
    side_effects = []
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def audit(event, args):
        if event == "open" and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1], args[2] or 0
            if (isinstance(mode, str) and set(mode) & set("wax+")) or flags & WRITE_FLAGS:
                side_effects.append(f"open for writing: {args[0]}")
        elif event in {"os.mkdir", "os.rename", "os.remove", "os.symlink", "shutil.copyfile", "sqlite3.connect"}:
            side_effects.append(f"{event}: {args[0]}")
        elif event == "socket.connect":
            side_effects.append(f"{event}: {args[1]}")

    sys.addaudithook(audit)
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=sys.argv[1])
    print(json.dumps({
        "package": package.__file__,
        "bundles": sorted(manager.get_all_bundle_names()),
        "path": str(bundle.path),
        "dag_ids": sorted(bag.dag_ids),
        "import_errors": bag.import_errors,
        "warnings": {k: list(v) for k, v in bag.captured_warnings.items()},
        "side_effects": side_effects,
    }))
    """
)


@pytest.fixture(scope="module")
def installed(distributions: Distributions, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built wheel, installed (without dependencies: this environment has them) into a folder of its own."""
    site = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile"]
    subprocess.run(
        [*pip, "--target", str(site), str(distributions.wheel)],
        check=True,
        timeout=120,
    )
    return site


@pytest.mark.skipif(
    not hasattr(bundles_manager, "_add_provider_example_dags_to_bundle"),
    reason="Airflow < 3.3 loads no provider example DAGs as bundles",
)
def test_airflow_3_3_loads_the_installed_example_dags_as_a_bundle(installed: Path, tmp_path: Path) -> None:
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "HUBSPOT_"))
    }
    env.update(
        {
            "PYTHONPATH": str(installed),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", PARSE, BUNDLE],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["package"]).is_relative_to(installed), report["package"]
    assert BUNDLE in report["bundles"]
    assert Path(report["path"]) == installed / "airflow_provider_hubspot_channels" / "example_dags"
    assert report["import_errors"] == {}
    assert report["warnings"] == {}
    assert set(report["dag_ids"]) >= EXAMPLES
    assert report["side_effects"] == []
