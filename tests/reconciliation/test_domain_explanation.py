"""The explanation agents read: its content, the 500-character cap, and template validation."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_hubspot_channels.client.errors import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import (
    DEFAULT_ERROR_MESSAGE_TEMPLATE,
    TEMPLATE_FIELDS,
    DeliveryStatus,
    MessageRecord,
    StalenessPolicy,
    describe_duration,
    render_error_message,
    validate_template,
)
from airflow_provider_hubspot_channels.validation import ERROR_MESSAGE_MAX_LENGTH, validate_error_message

SENT = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
POLICY = StalenessPolicy(timedelta(minutes=15), datetime(2026, 11, 24, 10, 20, tzinfo=timezone.utc))


def record(message_id: str = "m-1", **context: str) -> MessageRecord:
    return MessageRecord(
        index=0,
        channel_id=1234,
        message_id=message_id,
        created_at=SENT,
        delivery_status=DeliveryStatus.PENDING,
        context=context,
    )


def test_default_message_says_what_when_and_what_to_do() -> None:
    text = render_error_message(DEFAULT_ERROR_MESSAGE_TEMPLATE, record(recipient="Ana Lima"), POLICY)
    assert text.startswith("Not delivered:")
    assert "within 15 minutes" in text
    assert "sent 2026-11-24 10:00 UTC" in text
    assert "checked 2026-11-24 10:20 UTC" in text
    assert "Ana Lima" in text
    assert "resend" in text
    assert "Carrier reported" not in text


def test_default_message_without_context_names_the_recipient_generically() -> None:
    text = render_error_message(DEFAULT_ERROR_MESSAGE_TEMPLATE, record(), POLICY)
    assert "may not have reached the recipient;" in text


def test_carrier_note_is_one_sentence_without_a_double_period() -> None:
    plain = render_error_message(DEFAULT_ERROR_MESSAGE_TEMPLATE, record(carrier_error="Handset off"), POLICY)
    dotted = render_error_message(DEFAULT_ERROR_MESSAGE_TEMPLATE, record(carrier_error="Handset off."), POLICY)
    assert plain.endswith(" Carrier reported: Handset off.")
    assert dotted.endswith(" Carrier reported: Handset off.")


def test_a_two_thousand_character_carrier_error_is_shortened_not_the_explanation() -> None:
    carrier = "E30003 " + "x" * 1993
    text = render_error_message(DEFAULT_ERROR_MESSAGE_TEMPLATE, record(carrier_error=carrier), POLICY)
    # Within the cap, and the carrier text fills what the explanation leaves.
    assert ERROR_MESSAGE_MAX_LENGTH - 2 <= len(text) <= ERROR_MESSAGE_MAX_LENGTH
    assert "sent 2026-11-24 10:00 UTC" in text and "contact them another way." in text
    assert "Carrier reported: E30003 xxx" in text
    assert text.endswith("…")
    assert validate_error_message(text, "FAILED") == text


def test_carrier_text_used_twice_still_fits() -> None:
    template = "{carrier_error} / {carrier_error} / {sla}"
    text = render_error_message(template, record(carrier_error="y" * 2000), POLICY)
    assert len(text) <= ERROR_MESSAGE_MAX_LENGTH
    assert text.endswith("/ 15 minutes")


def test_carrier_text_is_dropped_when_almost_nothing_of_it_would_remain() -> None:
    template = "{message_id} {carrier_note}"
    text = render_error_message(template, record(message_id="m" * 495, carrier_error="z" * 100), POLICY)
    assert "z" not in text
    assert len(text) <= ERROR_MESSAGE_MAX_LENGTH


def test_everything_too_long_is_cut_with_an_ellipsis() -> None:
    long_id = "m" * 2000
    text = render_error_message("{message_id}: {recipient}", record(long_id, recipient="r" * 2000), POLICY)
    assert len(text) == ERROR_MESSAGE_MAX_LENGTH
    assert text.endswith("…")


def test_long_recipients_are_cut_so_the_explanation_survives() -> None:
    text = render_error_message(DEFAULT_ERROR_MESSAGE_TEMPLATE, record(recipient="R" * 2000), POLICY)
    assert text.endswith("contact them another way.")
    assert "R" * 79 + "…" in text


def test_multi_line_carrier_payloads_become_one_line() -> None:
    text = render_error_message("{carrier_error}", record(carrier_error='{\n  "code":\t30003\r\n}\x00'), POLICY)
    assert text == '{ "code": 30003 }'


def test_a_blank_rendering_falls_back_to_a_plain_sentence() -> None:
    text = render_error_message("{carrier_error}", record(), POLICY)
    assert text == "Not delivered: no delivery confirmation arrived within 15 minutes of sending."


def test_every_documented_field_renders() -> None:
    template = " | ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS)
    text = render_error_message(template, record(recipient="Ana", carrier_error="busy"), POLICY)
    assert text == (
        "m-1 | 1234 | 2026-11-24 10:00 UTC | 2026-11-24 10:20 UTC | 15 minutes | 20 minutes | Ana | busy"
        " |  Carrier reported: busy. | 2026-11-24 10:00 UTC"
    )


@pytest.mark.parametrize(
    "name", ["message_id", "channel_id", "sent_at", "checked_at", "sla", "age", "recipient", "carrier_error"]
)
def test_required_fields_are_documented(name: str) -> None:
    assert TEMPLATE_FIELDS[name]
    assert "carrier_note" in TEMPLATE_FIELDS


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(minutes=15), "15 minutes"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(hours=1, minutes=30), "1 hour 30 minutes"),
        (timedelta(days=1, hours=2), "1 day 2 hours"),
        (timedelta(seconds=90), "1 minute 30 seconds"),
        (timedelta(seconds=1), "1 second"),
        (timedelta(milliseconds=500), "less than a second"),
        (timedelta(hours=1, seconds=30), "1 hour 30 seconds"),
        (timedelta(minutes=-4), "4 minutes"),
    ],
)
def test_durations_read_as_plain_words(delta: timedelta, words: str) -> None:
    assert describe_duration(delta) == words


def test_two_unit_durations_round_down_without_skipping_units() -> None:
    assert describe_duration(timedelta(days=1, minutes=5), max_units=2) == "1 day"
    assert describe_duration(timedelta(hours=2, minutes=14, seconds=59), max_units=2) == "2 hours 14 minutes"


@pytest.mark.parametrize(
    ("template", "problem", "fix"),
    [
        ("Failed {reason}", "{reason} is not a known field", "message_id, channel_id, sent_at"),
        ("Failed {}", "positional", "{sla}"),
        ("Failed {0}", "positional", "{sla}"),
        ("Failed {sla.days}", "attribute or index", "sla"),
        ("Failed {sla[0]}", "attribute or index", "sla"),
        ("Failed {sla", "bad braces", "{{"),
        ("Failed }", "bad braces", "{{"),
        ("", "empty", "default"),
        ("   ", "empty", "default"),
        ("{sla:{age}}", "nested", "{...}"),
        ("{sla:d}", "cannot be rendered", "format spec"),
        ("{sla!z}", "cannot be rendered", "conversion"),
        ("x" * 501, "501 characters", "500"),
    ],
)
def test_bad_templates_are_refused_naming_the_field_and_fix(template: str, problem: str, fix: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_template(template)
    assert caught.value.field == "error_message_template"
    assert problem in caught.value.problem
    assert fix in caught.value.fix


def test_non_text_template_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="error_message_template"):
        validate_template(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "template", [DEFAULT_ERROR_MESSAGE_TEMPLATE, "No receipt in {sla} {{see runbook}}", "{sla!s:>12}"]
)
def test_good_templates_pass(template: str) -> None:
    validate_template(template)


def test_validation_is_cheap_enough_for_dag_parsing() -> None:
    started = time.perf_counter()
    for number in range(2000):
        validate_template(f"Not delivered within {{sla}} (template {number})")
    assert time.perf_counter() - started < 0.5
