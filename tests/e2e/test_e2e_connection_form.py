"""The "HubSpot Custom Channels" connection form in Airflow's real UI, in headless Chromium (Debian's package).

Adds a connection through the form as a person would, checks the labels and that secrets are password inputs,
saves it, and presses Test against the simulator until the UI shows success.

Screenshots go to ``$HUBSPOT_E2E_ARTIFACTS`` (default: the test's tmp dir); with ``HUBSPOT_E2E_UPDATE_DOCS=1`` the
filled form also replaces ``docs/connection-form.png``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from airflow_provider_hubspot_channels.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.e2e._airflow import ROOT, AirflowServices, airflow_services

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CONN_ID = "hubspot_from_the_form"
CHANNEL = 1001
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT_MS = 30_000


def airflow_version() -> tuple[int, int]:
    import airflow

    major, minor = airflow.__version__.split(".")[:2]
    return int(major), int(minor)


def airflow_rejects_portless_test() -> bool:
    """Airflow's Test button sends ``port: 0`` for a connection without a port; up to 3.3.2 the API then answers
    400 "host or port ... differs" (fixed upstream by apache/airflow#73298)."""
    try:
        from airflow.api_fastapi.core_api.routes.public.connections import _same_endpoint
    except ImportError:
        return False
    return not _same_endpoint(0, None)


def field(page: Page, label: str) -> Locator:
    """The input of the form field labelled ``label`` (the UI does not tie every label to its input by id)."""
    exact = re.compile(r"^\s*" + re.escape(label) + r"\s*\*?\s*$")
    root = page.locator('[data-scope="field"][data-part="root"]').filter(
        has=page.locator('label[data-part="label"]', has_text=exact)
    )
    return root.locator("input, textarea").first


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Page]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is not installed: run `make test-e2e`, which installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def test_add_and_test_connection_through_the_form(tmp_path: Path, browser_page: Page) -> None:
    page = browser_page
    shots = Path(os.environ.get("HUBSPOT_E2E_ARTIFACTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    version = airflow_version()
    declarative = version >= (3, 2)  # conn-fields/ui-field-behaviour; 3.1 reads the hook's form methods
    # 3.2's UI renders conn-fields with `format: password` as plain text inputs (seen on 3.2.2); 3.3 hides them.
    secret_inputs = version >= (3, 3)

    with HubSpotSimulator() as sim, airflow_services(tmp_path / "airflow") as af:
        af.migrate()
        af.start_api_server()
        try:
            # As a person would: the home page, then Admin > Connections (the route differs between versions).
            page.goto(af.api_url)
            page.get_by_role("button", name="Admin").click()
            page.get_by_role("menuitem", name="Connections").click()
            page.get_by_role("button", name="Add Connection").click()
            page.get_by_label("Connection ID").fill(CONN_ID)
            page.get_by_role("combobox", name="Connection Type").fill("HubSpot Custom")
            page.get_by_role("option", name="HubSpot Custom Channels").click()

            # Standard fields: relabelled, with placeholders; login, port and schema hidden; the token is secret.
            base_url, token = field(page, "HubSpot API base URL"), field(page, "Access token")
            expect(base_url).to_be_visible()
            expect(base_url).to_have_attribute("placeholder", UI_FIELD_BEHAVIOUR["placeholders"]["host"])
            assert base_url.get_attribute("type") != "password"
            expect(token).to_have_attribute("type", "password")
            for hidden in ("Login", "Port", "Schema", "Host", "Password"):
                expect(field(page, hidden)).to_have_count(0)
            base_url.fill(sim.base_url)
            token.fill(sim.access_token)
            page.screenshot(path=str(shots / "01-standard-fields.png"))

            # Extra fields: every conn-field under its label. From 3.3 exactly the secret ones are password inputs;
            # from 3.2 they carry their descriptions; 3.1's UI renders every extra field as plain text without them.
            page.get_by_role("button", name="Extra Fields", exact=True).click()
            for name, spec in CONN_FIELDS.items():
                widget = field(page, spec["label"])
                expect(widget, f"field {name} labelled {spec['label']!r}").to_be_visible()
                if secret_inputs:
                    secret = spec["schema"].get("format") == "password"
                    kind = widget.get_attribute("type")
                    assert (kind == "password") == secret, f"{name} is an input of type {kind}"
                if declarative:
                    expect(page.get_by_text(spec["description"], exact=True)).to_be_visible()
            field(page, "OAuth client ID").fill(sim.client_id)
            field(page, "OAuth client secret").fill(sim.client_secret)
            field(page, "OAuth refresh token").fill(sim.refresh_token)
            field(page, "Channel ID for Test").fill(str(CHANNEL))
            # For the picture: the whole dialog, in a viewport tall enough to show every extra field.
            page.set_viewport_size({"width": 1100, "height": 1800})
            page.wait_for_timeout(500)  # the accordion's animation
            page.get_by_role("dialog").screenshot(path=str(shots / "02-form-filled.png"))
            if os.environ.get("HUBSPOT_E2E_UPDATE_DOCS") == "1" and version >= (3, 3):
                shutil.copyfile(shots / "02-form-filled.png", ROOT / "docs" / "connection-form.png")
            page.set_viewport_size({"width": 1280, "height": 1000})

            page.get_by_role("button", name="Save").click()
            expect(page.get_by_text("Connection has been successfully created")).to_be_visible()
            stored = stored_connection(af)
            assert stored["conn_type"] == "hubspot_channels"
            assert stored["host"] == sim.base_url
            assert stored["password"] == sim.access_token, "the access token was not saved"
            extra = stored["extra_dejson"]
            channel = extra.get("channel_id", extra.get("extra__hubspot_channels__channel_id"))
            assert int(channel) == CHANNEL, extra
            assert (extra["client_id"], extra["client_secret"], extra["refresh_token"]) == (
                sim.client_id,
                sim.client_secret,
                sim.refresh_token,
            ), "the OAuth fields were not saved under their names"
            # ... and the API the UI reads never sends a secret back to the browser.
            shown = af.api(f"connections/{CONN_ID}")
            shown_extra = json.loads(shown["extra"])
            assert shown["password"] == "***", shown
            assert shown_extra["client_secret"] == shown_extra["refresh_token"] == "***", shown_extra
            assert sim.access_token not in json.dumps(shown) and sim.client_secret not in json.dumps(shown)

            row = page.get_by_role("row").filter(has_text=CONN_ID)
            if airflow_rejects_portless_test():
                # Airflow's own bug, not this provider's: show it, then give the stored connection a port (the
                # hook ignores it; the host URL carries the real one) so that the button can be exercised.
                row.get_by_role("button", name="Test Connection").click()
                expect(page.get_by_text("Test Connection Failed")).to_be_visible()
                page.screenshot(path=str(shots / "03-airflow-port-bug.png"))
                af.api(f"connections/{CONN_ID}?update_mask=port", method="PATCH", body=patch_port(sim.port))
                page.reload()
                row = page.get_by_role("row").filter(has_text=CONN_ID)
            requests_before = len(sim.request_log)
            row.get_by_role("button", name="Test Connection").click()
            expect(page.get_by_text("Test Connection Successful")).to_be_visible()
            expect(page.get_by_text(re.compile(f"Connected: channel {CHANNEL} .* is readable"))).to_be_visible()
            page.wait_for_timeout(500)  # the toast's animation, for the picture
            page.screenshot(path=str(shots / "04-test-success.png"))
            calls = [(e.method, e.path, e.status) for e in sim.request_log[requests_before:]]
            assert any(m == "GET" and p.endswith(f"/{CHANNEL}") and s == 200 for m, p, s in calls), calls
        except BaseException:
            page.screenshot(path=str(shots / "99-failure.png"))
            print(f"screenshots in {shots}")
            raise


def stored_connection(af: AirflowServices) -> dict[str, Any]:
    """The saved connection with its secrets, as ``airflow connections get`` reads it from the database."""
    result = af.airflow_json("connections", "get", CONN_ID)
    return result[0] if isinstance(result, list) else result


def patch_port(port: int) -> dict[str, Any]:
    return {"connection_id": CONN_ID, "conn_type": "hubspot_channels", "port": port}
