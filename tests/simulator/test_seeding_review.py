"""Review B findings on seeding: every line that does not fit is a SeedFileError naming the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_a_seed_line_nested_too_deep_is_a_seed_file_error(tmp_path: Path):
    """seeding.py promises 'A line that does not fit raises SeedFileError naming the line'; the simulator's main
    catches ValueError only, so anything else is a traceback at start."""
    from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
    from airflow_provider_hubspot_channels.simulator.seeding import SeedFileError, seed_from_file

    seed = tmp_path / "seed.jsonl"
    seed.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with HubSpotSimulator() as sim, pytest.raises(SeedFileError, match="line 1"):
        seed_from_file(sim.state, seed)


def test_a_seeded_message_id_must_be_addressable(tmp_path: Path):
    """An empty message id is seeded without complaint although no API path (nor the history endpoint) can name it."""
    from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
    from airflow_provider_hubspot_channels.simulator.seeding import SeedFileError, seed_from_file

    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"type": "message", "channelId": 1001, "id": ""}) + "\n")
    with HubSpotSimulator() as sim, pytest.raises(SeedFileError, match="id"):
        seed_from_file(sim.state, seed)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"type": "message", "channelId": 1001, "id": "m" * 100_000}, "id"),
        ({"type": "channel", "id": -5}, "id"),
        ({"type": "channel", "id": 0}, "id"),
        ({"type": "inbox", "id": 2**31}, "id"),
        ({"type": "channel_account", "channelId": 1001, "id": 2**63}, "id"),
        ({"type": "status", "channelId": 1001, "messageId": "", "statusType": "SENT"}, "messageId"),
    ],
)
def test_a_seeded_id_the_api_cannot_address_is_refused(tmp_path: Path, line: dict, field: str):
    """The id rules are the API's (simulator/api.py): a message id a request path can carry, a positive id that fits
    the path parameter's integer."""
    from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
    from airflow_provider_hubspot_channels.simulator.seeding import SeedFileError, seed_from_file

    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps(line) + "\n")
    with HubSpotSimulator() as sim, pytest.raises(SeedFileError) as caught:
        seed_from_file(sim.state, seed)
    assert caught.value.field == field and "Fix" in str(caught.value)


def test_a_seeded_message_with_a_long_id_is_addressable_through_the_api(tmp_path: Path):
    """The longest id the rule allows, in 4-byte characters, can still be read back over HTTP."""
    import urllib.parse
    import urllib.request

    from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
    from airflow_provider_hubspot_channels.simulator.api import MAX_MESSAGE_ID_LENGTH
    from airflow_provider_hubspot_channels.simulator.seeding import seed_from_file

    message_id = "😀" * MAX_MESSAGE_ID_LENGTH
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"type": "message", "channelId": 1001, "id": message_id}) + "\n")
    with HubSpotSimulator() as sim:
        seed_from_file(sim.state, seed)
        url = f"{sim.base_url}/_simulator/messages/1001/{urllib.parse.quote(message_id, safe='')}/history"
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert json.load(reply)["messageId"] == message_id
