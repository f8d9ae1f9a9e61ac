"""The project's pytest filters make Airflow deprecations errors, at collection and in tests (review B's tests)."""

from __future__ import annotations

import sys

import pytest


def test_airflows_deprecated_import_warning_is_an_error_under_the_projects_filters():
    """Issue 14 point 6: Airflow deprecation warnings must be errors. Airflow's moved-import warning
    (airflow.utils.deprecation_tools.DeprecatedImportWarning) is a FutureWarning, which
    'error::DeprecationWarning:airflow' does not match: `from airflow.stats import Stats` passes silently."""
    import importlib.util

    from airflow.utils.deprecation_tools import DeprecatedImportWarning

    if importlib.util.find_spec("airflow.sdk.observability") is None:
        pytest.skip("Airflow 3.1: airflow.stats is current there, not a deprecated shim")
    assert not issubclass(DeprecatedImportWarning, DeprecationWarning)
    sys.modules.pop("airflow.stats", None)
    with pytest.raises(DeprecatedImportWarning):
        from airflow.stats import Stats  # noqa: F401


def test_an_airflow_deprecation_raised_while_our_modules_are_imported_is_an_error(tmp_path):
    """pyproject's 'error::DeprecationWarning:airflow' is defeated by Airflow itself: airflow/configuration.py, on
    first import, inserts filterwarnings('default', DeprecationWarning, module='airflow') IN FRONT of pytest's
    filters (unless sys.warnoptions). pytest wraps the whole collection in one catch_warnings, and the first test
    module importing Airflow imports airflow.configuration there: from then on every Airflow deprecation attributed
    to 'airflow*' -- our package included -- at import time of our modules is only printed. Here a module of ours
    (by name) warns RemovedInAirflow4Warning at import, after Airflow was imported, and collection succeeds."""
    import os
    import subprocess
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            import airflow.configuration  # what importing the provider's operators does first
            from airflow.exceptions import RemovedInAirflow4Warning

            code = "import warnings\\nwarnings.warn('a call Airflow 4 removes', W, stacklevel=1)\\n"
            scope = {"__name__": "airflow_provider_hubspot_channels.probe", "W": RemovedInAirflow4Warning}
            exec(compile(code, "airflow_provider_hubspot_channels/probe.py", "exec"), scope)

            def test_nothing():
                pass
            """
        )
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONPATH": str(root)}
    # The probe lives outside tests/, so `-p tests.conftest` loads the suite's conftest as every test of ours has it.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "-c",
            str(root / "pyproject.toml"),
            "--rootdir",
            str(root),
            str(probe),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert done.returncode != 0, "the deprecation was not an error:\n" + done.stdout[-1500:]


def test_the_metrics_module_imports_airflows_current_stats_without_a_deprecation(tmp_path):
    """operators/metrics.py imports Stats from the path this Airflow version keeps current: the Task SDK's on 3.2+
    (where `airflow.stats` is a deprecated shim), `airflow.stats` on 3.1. A fresh interpreter, since a module warns
    only on its first import."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "import importlib.util, warnings\n"
        "warnings.filterwarnings('error', category=FutureWarning)\n"
        "warnings.filterwarnings('error', category=DeprecationWarning, module='airflow')\n"
        "from airflow_provider_hubspot_channels.operators import metrics\n"
        "has_sdk = importlib.util.find_spec('airflow.sdk.observability') is not None\n"
        "print(has_sdk, metrics.Stats.__module__)\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    has_sdk, stats_module = done.stdout.split()[-2:]
    assert has_sdk == "True" or stats_module == "airflow.stats", done.stdout
    assert has_sdk == "False" or stats_module.startswith("airflow.sdk"), done.stdout
