"""Property of seeding: any line is seeded or refused with a SeedFileError naming the line (the simulator's CLI
catches only that; anything else is a traceback at start), and a seeded message can be read back by its id."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.simulator.seeding import _FIELDS, SeedFileError, seed_from_file
from airflow_provider_hubspot_channels.simulator.state import SimulatorState

DEEP = "[" * 50_000 + "]" * 50_000
FIELD_NAMES = sorted({name for fields in _FIELDS.values() for name in fields})
# Ids near every edge the API has (int32, int64, positive), the default objects' ids, and anything else.
IDS = st.sampled_from([1001, 2001, 3001, 0, -5, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**30])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | IDS | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
message_ids = st.one_of(st.text(max_size=20), st.sampled_from(["", "m-1", "x" * 5000, "\ud800"]))
SEED_LINES = st.one_of(
    # Lines that refer to what exists, so that many get as far as the state.
    st.builds(
        lambda channel_id, message_id: json.dumps({"type": "message", "channelId": channel_id, "id": message_id}),
        st.sampled_from([1001, 1002]),
        message_ids,
    ),
    st.builds(lambda channel_id: json.dumps({"type": "channel", "id": channel_id}), IDS),
    st.builds(
        lambda kind, fields: json.dumps({"type": kind, **fields}),
        st.sampled_from([*_FIELDS, "nope"]),
        st.dictionaries(
            st.sampled_from(FIELD_NAMES),
            st.one_of(json_values, IDS, message_ids, st.sampled_from(["SENT", "READ", "FAILED", "OPEN", "OUTGOING"])),
            max_size=5,
        ),
    ),
    json_values.map(json.dumps),
    st.text(max_size=40),
    st.just(DEEP),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(SEED_LINES, min_size=1, max_size=4))
def test_any_seed_line_is_seeded_or_a_seed_file_error(lines: list[str]) -> None:
    state = SimulatorState()
    state.seed_defaults()
    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp) / "seed.jsonl"
        seed.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
        try:
            seed_from_file(state, seed)
        except SeedFileError as exc:
            assert " line " in str(exc) and "Fix: " in str(exc)
    for (channel_id, message_id), message in state.messages.items():
        # Addressable: the inspection takes digits, a request path carries its UTF-8.
        assert channel_id > 0 and message_id and message_id.encode("utf-8")
        assert state.find_message(channel_id, message_id) is message
