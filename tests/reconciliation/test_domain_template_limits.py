"""Templates that could blow up (issue 12): format widths, field counts and broken text are refused up front."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import (
    DeliveryStatus,
    MessageRecord,
    StalenessPolicy,
    render_error_message,
    validate_template,
)
from airflow_provider_hubspot_channels.validation import ERROR_MESSAGE_MAX_LENGTH

POLICY = StalenessPolicy(timedelta(minutes=15), datetime(2026, 11, 24, 10, 20, tzinfo=timezone.utc))
RECORD = MessageRecord(0, 1234, "m-1", datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc), DeliveryStatus.PENDING)


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{sla:>200000000}", "200000000"),
        ("{sla:501}", "501"),
        ("{sla:.501}", "501"),
        ("{sla:x^0000000000000000000000000000000000000000000000000000000000000000601}", "601"),
        ("{sla:>" + "9" * 5000 + "}", "digits"),
        ("{sla:>\u0665\u0660\u0660\u0660\u0660\u0660\u0660}", "width"),
        ("{sla:>500}" * 40, "fields"),
        ("{carrier_error}" * 100_000, "fields"),
    ],
    ids=["width-2e8", "width-501", "precision-501", "zero-padded", "5000-digits", "arabic-digits", "40x500", "1e5"],
)
def test_templates_that_could_blow_up_are_refused(template: str, problem: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInputError) as caught:
        validate_template(template)
    assert time.perf_counter() - started < 0.5
    assert caught.value.field == "error_message_template"
    assert problem in caught.value.problem
    assert caught.value.fix


@pytest.mark.parametrize("template", ["{sla:>500}", "{sla:0<20.3}", "{sla:5>12}", "{recipient!r:^40}"])
def test_reasonable_format_specs_pass_and_render_within_the_cap(template: str) -> None:
    validate_template(template)
    assert len(render_error_message(template, RECORD, POLICY)) <= ERROR_MESSAGE_MAX_LENGTH


def test_a_template_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_template("Not delivered \ud83d within {sla}")
    assert "surrogate" in caught.value.problem
    str(caught.value).encode("utf-8")


def test_a_superscript_field_name_is_unknown_not_positional() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_template("within {²}")
    assert "not a known field" in caught.value.problem
