"""Properties of the pure domain (issue 12): whatever the input, a valid value or InvalidInputError, never a crash.

Each layer that met an input it could not handle (an odd key spelling, year 1, a half emoji, a huge number) is
tested here with arbitrary inputs of that kind, so the next unknown one is handled too.
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import (
    SUMMARY_MAX_BYTES,
    TEMPLATE_FIELDS,
    DeliveryStatus,
    MessageOutcome,
    MessageRecord,
    Outcome,
    RunReport,
    StalenessPolicy,
    format_table,
    iter_plan,
    parse_duration,
    parse_record,
    parse_timestamp,
    render_error_message,
    validate_template,
)
from airflow_provider_hubspot_channels.reconciliation.records import snake_case
from airflow_provider_hubspot_channels.reconciliation.timestamps import EARLIEST, LATEST, MAX_DURATION
from airflow_provider_hubspot_channels.validation import ERROR_MESSAGE_MAX_LENGTH, INT32_MAX

REFERENCE = datetime(2026, 11, 24, 10, 20, tzinfo=timezone.utc)
POLICY = StalenessPolicy(timedelta(minutes=15), REFERENCE)
BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text with what real inputs hold: emoji, their lone halves, Unicode digits, control characters and JSON-ish bits.
_ODD_CHARACTERS = st.sampled_from(
    [
        "\ud83d",
        "\ude00",
        "\U0001f600",
        "²",
        "٣",
        "\uff11",
        "\x00",
        "\n",
        "é",
        "Z",
        "T",
        "-",
        ":",
        ".",
        "0",
        "9",
        " ",
        "{",
    ]
)
TEXT = st.one_of(st.text(max_size=40), st.text(_ODD_CHARACTERS, max_size=40))
HUGE_INTS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=10**4300, max_value=10**4300 + 10),
)
NUMBERS = st.one_of(st.integers(), HUGE_INTS, st.floats(allow_nan=True, allow_infinity=True))
SCALARS = st.one_of(TEXT, NUMBERS, st.booleans(), st.none())
JSON_LIKE = st.recursive(
    SCALARS, lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3), max_leaves=6
)


def _spellings(snake: str) -> list[str]:
    words = snake.split("_")
    camel = words[0] + "".join(word.title() for word in words[1:])
    return [snake, camel, snake.upper(), "-".join(words), " ".join(word.title() for word in words), camel.title()]


_CORE = ("channel_id", "message_id", "created_at", "delivery_status")
_KNOWN = (*_CORE, "recipient", "carrier_error")
SPELT_KEYS = st.sampled_from([spelling for name in _KNOWN for spelling in _spellings(name)])


@st.composite
def misspelt_keys(draw: st.DrawFn, keys: st.SearchStrategy[str] = SPELT_KEYS) -> str:
    """A known key with one character dropped, doubled or swapped: what a hand-written export produces."""
    key = draw(keys)
    position = draw(st.integers(min_value=0, max_value=len(key) - 1))
    kind = draw(st.sampled_from(["drop", "double", "swap"]))
    if kind == "drop":
        return key[:position] + key[position + 1 :]
    if kind == "double":
        return key[:position] + key[position] + key[position:]
    return key[:position] + key[position + 1 : position + 2] + key[position : position + 1] + key[position + 2 :]


KEYS = st.one_of(SPELT_KEYS, misspelt_keys(), TEXT, st.sampled_from(["createdBy", "conversationsThreadId", "status"]))
GOOD_VALUES = {
    "channel_id": st.one_of(st.integers(min_value=1, max_value=INT32_MAX), st.just("1234"), st.just(1001.0)),
    "message_id": st.one_of(st.just("m-1"), st.text(min_size=1, max_size=10)),
    "created_at": st.sampled_from(["2026-11-24T10:00:00Z", 1795514400000, "2026-11-24T09:00:00-01:00"]),
    "delivery_status": st.sampled_from(["pending", "delivered", "READ", "failed", "", None]),
}


@st.composite
def rows(draw: st.DrawFn) -> Any:
    """Mostly plausible rows with arbitrary damage, so that valid and invalid paths are both exercised."""
    if draw(st.integers(min_value=0, max_value=19)) == 0:
        return draw(JSON_LIKE)
    row: dict[str, Any] = {}
    for name in _CORE:
        if draw(st.booleans()) or (name != "delivery_status" and draw(st.integers(0, 9)) > 0):
            row[draw(st.sampled_from(_spellings(name)))] = draw(GOOD_VALUES[name])
    for key, value in draw(st.dictionaries(KEYS, JSON_LIKE, max_size=4)).items():
        row[key] = value
    return row


class _Offset(tzinfo):
    """A tzinfo that answers whatever it was given, including offsets datetime refuses and non-timedeltas."""

    def __init__(self, offset: Any) -> None:
        self._offset = offset

    def utcoffset(self, dt: datetime | None) -> Any:
        return self._offset

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def __repr__(self) -> str:
        return f"_Offset({self._offset!r})"


TZINFOS = st.one_of(
    st.none(),
    st.just(timezone.utc),
    st.timezones(),
    st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23))),
    st.builds(_Offset, st.one_of(st.none(), st.timedeltas(max_value=timedelta(days=3)), st.just("+01:00"))),
)
DATETIMES = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    TZINFOS,
)
ISO_TEXT = st.builds(
    lambda instant, suffix: instant.isoformat() + suffix,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.sampled_from(["", "Z", "+01:00", "-05:00", "+23:59", "-23:59", "+14:00", "\ud83d"]),
)


@BOUNDED
@given(st.one_of(TEXT, ISO_TEXT, NUMBERS, DATETIMES, st.booleans(), st.none(), JSON_LIKE))
def test_parse_timestamp_returns_utc_in_range_or_invalid_input(value: Any) -> None:
    try:
        parsed = parse_timestamp(value, field="messages[0].created_at")
    except InvalidInputError as error:
        assert error.field == "messages[0].created_at"
        str(error).encode("utf-8")
        return
    assert type(parsed) is datetime
    assert parsed.tzinfo is timezone.utc
    assert EARLIEST <= parsed < LATEST


DURATION_TEXT = st.one_of(
    TEXT,
    st.from_regex(r"\AP(\d{1,12}W)?(\d{1,12}D)?(T(\d{1,12}H)?(\d{1,12}M)?(\d{1,12}(\.\d{1,3})?S)?)?\Z"),
    st.from_regex(r"\A-?\d{1,400}(\.\d{1,5})?\Z"),
)


@BOUNDED
@given(st.one_of(DURATION_TEXT, NUMBERS, st.timedeltas(), st.booleans(), st.none(), JSON_LIKE))
def test_parse_duration_returns_a_bounded_timedelta_or_invalid_input(value: Any) -> None:
    try:
        duration = parse_duration(value, field="stale_after")
    except InvalidInputError as error:
        assert error.field == "stale_after"
        str(error).encode("utf-8")
        return
    assert type(duration) is timedelta
    assert timedelta(0) < duration <= MAX_DURATION


@BOUNDED
@given(rows())
def test_parse_record_returns_a_record_or_invalid_input_naming_the_row(raw: Any) -> None:
    try:
        record = parse_record(raw, 7)
    except InvalidInputError as error:
        assert error.field.startswith("messages[7]")
        str(error).encode("utf-8")
        return
    assert isinstance(record, MessageRecord)
    assert 0 < record.channel_id <= INT32_MAX
    assert record.message_id.strip()
    assert EARLIEST <= record.created_at < LATEST
    for key, value in record.context.items():
        (key + value).encode("utf-8")


@BOUNDED
@given(st.lists(rows(), max_size=6))
def test_every_row_gets_exactly_one_decision_and_odd_rows_are_invalid_naming_the_field(batch: list[Any]) -> None:
    decisions = list(iter_plan(batch, POLICY))
    assert [decision.index for decision in decisions] == list(range(len(batch)))
    for index, (raw, decision) in enumerate(zip(batch, decisions, strict=True)):
        try:
            parse_record(raw, index)
        except InvalidInputError as error:
            assert decision.outcome is Outcome.INVALID
            assert decision.reason.startswith(f"{error.field}: ")
            assert error.field.startswith(f"messages[{index}]")
        else:
            assert decision.outcome is not Outcome.INVALID
        line = MessageOutcome(
            index=decision.index,
            channel_id=decision.channel_id,
            message_id=decision.message_id,
            outcome=decision.outcome or Outcome.WOULD_MARK_FAILED,
            reason=decision.reason,
            error_message=decision.error_message,
        ).to_json()
        assert json.loads(line.encode("utf-8"))["index"] == index


STATUS_KEYS = st.sampled_from(_spellings("delivery_status"))


@BOUNDED
@given(st.one_of(STATUS_KEYS, misspelt_keys(STATUS_KEYS)))
def test_a_receipt_under_any_spelling_is_read_or_refused_never_pending(key: str) -> None:
    # The fail-open case: a receipt that is there but read as pending gets its message marked FAILED.
    raw = {"channel_id": 1, "message_id": "m", "created_at": "2026-11-24T10:00:00Z", key: "read"}
    try:
        status = parse_record(raw, 0).delivery_status
    except InvalidInputError as error:
        assert key in error.field
        return
    assert (
        status is DeliveryStatus.READ
        or difflib.SequenceMatcher(None, snake_case(key), "delivery_status").ratio() < 0.85
    )


_TEMPLATE_PIECES = st.one_of(
    st.sampled_from([f"{{{name}}}" for name in TEMPLATE_FIELDS]),
    st.builds(
        lambda name, conversion, spec: f"{{{name}{conversion}:{spec}}}",
        st.sampled_from(list(TEMPLATE_FIELDS)),
        st.sampled_from(["", "!r", "!s", "!a", "!x"]),
        st.from_regex(r"\A.?[<>=^]?[-+ ]?#?0?\d{0,12}[,_]?(\.\d{0,12})?[sdfx%]?\Z"),
    ),
    TEXT,
    st.sampled_from(["{", "}", "{{", "}}", "{0}", "{}", "{sla.days}", "{sla[0]}", "{²}", "{sla:{age}}"]),
)


@BOUNDED
@given(st.lists(_TEMPLATE_PIECES, min_size=1, max_size=8).map("".join), TEXT, TEXT, st.text(min_size=1, max_size=5))
def test_a_template_is_refused_or_renders_a_bounded_utf8_message(
    template: str, recipient: str, carrier: str, message_id: str
) -> None:
    try:
        validate_template(template)
    except InvalidInputError as error:
        assert error.field == "error_message_template"
        str(error).encode("utf-8")
        return
    raw = {"channel_id": 1, "message_id": message_id, "created_at": "2026-11-24T10:00:00Z"}
    try:
        record = parse_record({**raw, "recipient": recipient, "carrier_error": carrier}, 0)
    except InvalidInputError:
        assume(False)
        return
    text = render_error_message(template, record, POLICY)
    assert text.strip()
    assert len(text) <= ERROR_MESSAGE_MAX_LENGTH
    text.encode("utf-8")


OPTIONAL_TEXT = st.one_of(st.none(), TEXT, st.text(_ODD_CHARACTERS, min_size=200, max_size=2000))
OUTCOMES = st.builds(
    MessageOutcome,
    index=st.integers(min_value=0, max_value=10**6),
    channel_id=OPTIONAL_TEXT,
    message_id=OPTIONAL_TEXT,
    outcome=st.sampled_from(Outcome),
    reason=st.one_of(TEXT, st.text(_ODD_CHARACTERS, min_size=200, max_size=2000)),
    error_message=OPTIONAL_TEXT,
    hubspot_status_before=OPTIONAL_TEXT,
    correlation_id=OPTIONAL_TEXT,
    attempts=st.integers(min_value=0, max_value=100),
)


@BOUNDED
@given(st.lists(OUTCOMES, max_size=30), OPTIONAL_TEXT)
def test_report_rows_summary_and_table_always_encode_and_stay_small(
    outcomes: list[MessageOutcome], stopped_reason: str | None
) -> None:
    report = RunReport()
    for outcome in outcomes:
        line = outcome.to_json()
        row = json.loads(line.encode("utf-8"))
        assert row["index"] == outcome.index
        assert "\n" not in line
        report.add(outcome)
    summary = report.summary(
        reference_time=REFERENCE,
        stale_after=timedelta(minutes=15),
        dry_run=False,
        verify_status=True,
        duration_seconds=1.5,
        stopped_reason=stopped_reason,
    )
    encoded = json.dumps(summary, ensure_ascii=False).encode("utf-8")
    assert len(json.dumps(summary)) < SUMMARY_MAX_BYTES
    assert len(encoded) < SUMMARY_MAX_BYTES
    assert json.loads(encoded)["total"] == len(outcomes)
    format_table(summary).encode("utf-8")
    format_table(json.loads(json.dumps(summary))).encode("utf-8")
