"""The progress module stays free of Airflow: the runner and benchmarks use it with a dict-backed store."""

from __future__ import annotations

import subprocess
import sys


def test_progress_imports_no_airflow():
    module = "airflow_provider_hubspot_channels.runner.progress"
    code = f"import sys, {module}; print(','.join(m for m in ('airflow', 'requests') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "", f"{module} pulls in {result.stdout.strip()}"
