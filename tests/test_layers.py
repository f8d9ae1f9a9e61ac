"""The layers stay apart: what each one may import is checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

PACKAGE = "airflow_provider_hubspot_channels"


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        (f"{PACKAGE}.reconciliation", ["airflow", "requests", f"{PACKAGE}.client", f"{PACKAGE}.simulator"]),
        (f"{PACKAGE}.client", ["airflow", f"{PACKAGE}.reconciliation", f"{PACKAGE}.simulator"]),
        (f"{PACKAGE}.simulator", ["airflow", "requests", f"{PACKAGE}.client", f"{PACKAGE}.reconciliation"]),
        (f"{PACKAGE}.runner.reconcile", ["airflow", f"{PACKAGE}.simulator"]),
        (f"{PACKAGE}.runner.lookup", ["airflow", f"{PACKAGE}.simulator"]),
    ],
)
def test_layer_imports(module, forbidden):
    code = f"import sys, {module}; print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "", f"{module} pulls in {result.stdout.strip()}"
