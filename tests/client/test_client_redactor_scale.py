"""Issue 15: one redactor holds every account's secrets; adding and redacting stay cheap with thousands of them, and
the indexed search removes exactly what a scan of every form would."""

from __future__ import annotations

import time
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client.secrets import REDACTED, Redactor, secret_forms

SECRET_CHARS = st.characters(min_codepoint=33, max_codepoint=126)


def scan_every_form(secrets: list[str], text: str) -> str:
    """The plain algorithm: every form of every secret, longest first."""
    forms = set().union(*(secret_forms(s) | secret_forms(s.strip()) for s in secrets)) if secrets else set()
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, REDACTED)
    return text


@settings(max_examples=200, deadline=None)
@given(
    secrets=st.lists(st.text(alphabet=SECRET_CHARS, min_size=1, max_size=24), min_size=1, max_size=60),
    picks=st.lists(st.tuples(st.integers(min_value=0, max_value=59), st.sampled_from(["raw", "json", "repr"]))),
    filler=st.lists(st.text(max_size=8), max_size=10),
)
def test_property_the_index_removes_what_a_scan_removes(secrets, picks, filler):
    redactor = Redactor()
    for secret in secrets:
        redactor.add(secret)
    parts = []
    for (index, form), gap in zip(picks, filler + [""] * len(picks), strict=False):
        secret = secrets[index % len(secrets)]
        parts.append({"raw": secret, "json": repr(secret), "repr": repr(secret.encode())}[form] + gap)
    text = " ".join(parts)
    assert redactor.redact(text) == scan_every_form(secrets, text)


def test_thousands_of_accounts_secrets_stay_cheap():
    redactor = Redactor()
    started = time.perf_counter()
    # HubSpot's tokens share their start (a region such as "na1-"): the index must not pile them into one bucket.
    tokens = [f"na1-{uuid.UUID(int=i * 7919 + 1)}" for i in range(5000)]
    for token in tokens:
        redactor.add(token)
    added = time.perf_counter() - started
    text = f"HTTP 400: refused {tokens[1234]!r} and {tokens[4321]} " + "x" * 2000
    started = time.perf_counter()
    for _ in range(100):
        redacted = redactor.redact(text)
    per_call = (time.perf_counter() - started) / 100
    assert tokens[1234] not in redacted and tokens[4321] not in redacted and redacted.count(REDACTED) == 2
    assert added < 5.0 and per_call < 0.01, (added, per_call)
