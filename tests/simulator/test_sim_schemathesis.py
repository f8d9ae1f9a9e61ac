"""Property-based conformance of the simulator against HubSpot's official OpenAPI specs, with schemathesis.

For each operation the simulator serves, schemathesis generates requests from the spec (its deterministic coverage
phase: boundary and malformed values, undeclared methods; and its random phase: valid and invalid requests) and
sends them to a running simulator with an all-scope bearer token, which also goes to the channel-level operations
whose spec lists no security. Every answer must be documented by the spec: status code, content type and body
schema, error bodies being HubSpot's ``Error`` (the spec's ``*/*`` error media type is read as JSON, see
``tests.openapi_contract``); no answer may be a server error; an undeclared method must be 405 with ``Allow``.
Seeded objects (channel 1001, account 2001, inbox 3001, a message, its thread) are the targets of half of the random
requests, so that valid requests also reach real objects and their answers get checked.

Bounded: about 1,600 coverage requests and 25 random examples per operation and mode, no shrinking, well under a
minute on a shared 2-core machine. Skips, saying why, where the specs are absent.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.state import FIRST_THREAD_ID
from tests.openapi_contract import (
    CONVERSATIONS_2026_09,
    CUSTOM_CHANNELS,
    OAUTH,
    patched_document,
)

load_all_checks()

TOKEN = "conformance-token-with-every-scope"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
CHANNEL = 1001
ACCOUNT = 2001
INBOX = 3001
MESSAGE_ID = "conformance-message-1"
REFERENCES = {"channelAccountId": str(ACCOUNT), "inboxId": str(INBOX)}

# (spec file, HTTP method, path as the spec writes it): what the simulator serves.
SERVED: tuple[tuple[str, str, str], ...] = (
    (CUSTOM_CHANNELS, "GET", "/conversations/custom-channels/2026-03/{channelId}"),
    (CUSTOM_CHANNELS, "GET", "/conversations/custom-channels/2026-03/{channelId}/channel-accounts"),
    (CUSTOM_CHANNELS, "POST", "/conversations/custom-channels/2026-03/{channelId}/channel-accounts"),
    (CUSTOM_CHANNELS, "GET", "/conversations/custom-channels/2026-03/{channelId}/channel-accounts/{channelAccountId}"),
    (CUSTOM_CHANNELS, "POST", "/conversations/custom-channels/2026-03/{channelId}/messages"),
    (CUSTOM_CHANNELS, "GET", "/conversations/custom-channels/2026-03/{channelId}/messages/{messageId}"),
    (CUSTOM_CHANNELS, "PATCH", "/conversations/custom-channels/2026-03/{channelId}/messages/{messageId}"),
    (CONVERSATIONS_2026_09, "GET", "/conversations/conversations/2026-09/threads"),
    (CONVERSATIONS_2026_09, "GET", "/conversations/conversations/2026-09/threads/{threadId}/messages"),
    (OAUTH, "POST", "/oauth/2026-03/token"),
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def conformance_sim() -> Iterator[HubSpotSimulator]:
    """A simulator without rate limit, with objects the generated requests can hit."""
    sim = HubSpotSimulator(rate_limit=None, access_token=TOKEN, seed=12).start()
    try:
        message = sim.add_message(CHANNEL, MESSAGE_ID, status_type="SENT", created_at="2026-03-01T12:00:00Z")
        assert message["conversationsThreadId"] == str(FIRST_THREAD_ID)
        sim.add_message(CHANNEL, created_at="1969-07-20T20:17:40Z")
        yield sim
    finally:
        sim.stop()


@functools.cache
def _schema(name: str) -> BaseSchema:
    """One spec, cut down to the paths the simulator serves (with every method the spec declares there, so that
    schemathesis knows which methods a path must refuse)."""
    document = patched_document(name)  # skips, saying why, when the specs are absent
    served = {path for spec, _, path in SERVED if spec == name}
    document["paths"] = {path: item for path, item in document["paths"].items() if path in served}
    return schemathesis.openapi.from_dict(document)


def _failure(exc: BaseException) -> str:
    """The useful head of a schemathesis failure: the check's code and title, the reason, the reproducing curl."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return "\n".join(lines[:12])


def _seeded(path: str) -> st.SearchStrategy[dict[str, object]]:
    """Path parameters that point at seeded objects half of the time; schemathesis generates the rest."""
    known: dict[str, object] = {
        "channelId": CHANNEL,
        "channelAccountId": ACCOUNT,
        "messageId": MESSAGE_ID,
        "threadId": FIRST_THREAD_ID,
    }
    fixed = {key: value for key, value in known.items() if "{" + key + "}" in path}
    return st.sampled_from([fixed, {}]) if fixed else st.just({})


OPERATIONS = pytest.mark.parametrize(("name", "method", "path"), SERVED, ids=[f"{m} {p}" for _, m, p in SERVED])


@OPERATIONS
def test_coverage_phase_conforms(conformance_sim: HubSpotSimulator, name: str, method: str, path: str) -> None:
    """Schemathesis' deterministic coverage phase: boundary values, missing and malformed parameters and bodies,
    undeclared methods (OPTIONS, TRACE, PUT, ... must be 405 with ``Allow``). About 1,600 requests in all."""
    schema = _schema(name)
    operation = schema[path][method]
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation),
    )
    failures: dict[str, None] = {}
    sent = 0
    for case in cases:
        sent += 1
        try:
            case.call_and_validate(
                base_url=conformance_sim.base_url, headers=HEADERS, checks=[*CHECKS, unsupported_method]
            )
        except Exception as exc:  # schemathesis raises a group of check failures; collect them all, then report
            failures[_failure(exc)] = None
    assert sent > 0
    assert not failures, f"{len(failures)} distinct failures, e.g.:\n\n" + "\n\n".join(list(failures)[:3])


@OPERATIONS
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_fuzzing_phase_conforms(
    conformance_sim: HubSpotSimulator, name: str, method: str, path: str, mode: GenerationMode
) -> None:
    """Schemathesis' random phase (hypothesis): valid or invalid requests, half of them aimed at seeded objects."""
    operation = _schema(name)[path][method]

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(data=st.data(), fixed=_seeded(path))
    def check(data: st.DataObject, fixed: dict[str, object]) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
        if isinstance(case.body, dict) and data.draw(st.booleans()):
            # References to seeded objects, so that valid bodies get past the existence checks.
            case.body.update({k: v for k, v in REFERENCES.items() if k in case.body})
        case.call_and_validate(base_url=conformance_sim.base_url, headers=HEADERS, checks=CHECKS)

    check()
