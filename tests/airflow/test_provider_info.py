"""Airflow discovers the provider: metadata validates against Airflow's schema and the CLI lists it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from importlib import resources

import jsonschema
import pytest

from airflow_provider_hubspot_channels.get_provider_info import CONN_FIELDS, get_provider_info

DIST = "airflow-provider-hubspot-channels"


def test_provider_info_validates_against_airflows_schema():
    schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_distribution_name():
    info = get_provider_info()
    assert info["package-name"] == DIST
    assert importlib.metadata.distribution(DIST).metadata["Name"] == DIST
    entry_points = importlib.metadata.entry_points(group="apache_airflow_provider")
    assert any(ep.value.startswith("airflow_provider_hubspot_channels.get_provider_info") for ep in entry_points)


def test_connection_type_and_form():
    (conn,) = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "hubspot_channels"
    assert conn["hook-name"] == "HubSpot Custom Channels"
    for name in ("client_id", "client_secret", "refresh_token", "api_version", "timeout", "max_retries"):
        assert name in CONN_FIELDS
    assert "max_requests_per_10s" in CONN_FIELDS
    secrets = {name for name, field in CONN_FIELDS.items() if field["schema"].get("format") == "password"}
    assert secrets == {"client_secret", "refresh_token"}
    assert conn["ui-field-behaviour"]["relabeling"] == {"host": "HubSpot API base URL", "password": "Access token"}
    assert CONN_FIELDS["api_version"]["schema"]["default"] == "2026-03"


def test_every_listed_module_imports():
    import importlib

    info = get_provider_info()
    for group in ("hooks", "operators"):
        for entry in info[group]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    module, _, cls = info["connection-types"][0]["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module), cls).conn_type == "hubspot_channels"


def _airflow(*args: str) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _airflow_before_3_2() -> bool:
    from packaging.version import Version

    return Version(importlib.metadata.version("apache-airflow")) < Version("3.2")


@pytest.mark.airflow
def test_airflow_cli_lists_provider_hook_and_form_fields():
    assert DIST in _airflow("providers", "list", "-o", "json")
    hooks = _airflow("providers", "hooks", "-o", "json")
    assert "hubspot_channels" in hooks and "HubSpotChannelsHook" in hooks
    if _airflow_before_3_2():
        pytest.skip("Airflow 3.1 lists form widgets only with FAB installed; the UI test below covers 3.1")
    widgets = _airflow("providers", "widgets", "-o", "json")
    for name in ("client_secret", "refresh_token", "max_requests_per_10s"):
        assert f"extra__hubspot_channels__{name}" in widgets


@pytest.mark.airflow
def test_ui_form_metadata_has_labels_and_secret_fields():
    """What Airflow's connection form is built from, on every supported version."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "hubspot_channels"]
    assert meta.hook_name == "HubSpot Custom Channels"
    standard = meta.standard_fields
    assert standard.host.title == "HubSpot API base URL" and standard.password.title == "Access token"
    assert standard.login.hidden and standard.port.hidden
    extras = meta.extra_fields
    labels = {name.rsplit("__", 1)[-1]: field["schema"].get("title") for name, field in extras.items()}
    assert labels["client_secret"] == "OAuth client secret" and labels["channel_id"] == "Channel ID for Test"
    secrets = {
        name.rsplit("__", 1)[-1] for name, field in extras.items() if field["schema"].get("format") == "password"
    }
    assert secrets == {"client_secret", "refresh_token"}
