"""Turning the timestamps and durations users and HubSpot send into aware UTC instants and durations.

Decisions:

* A timestamp without a UTC offset (naive ``datetime``, ``2026-11-24T10:00:00``) is refused, never
  guessed: the same wall-clock text names different instants in different zones, and a wrong guess marks
  messages FAILED that were on time (or hides ones that were not). The fix: add ``+00:00`` or ``Z``.
* Numbers are epoch **milliseconds**, as in HubSpot's webhooks. Values below 10^11 are epoch *seconds* in
  every plausible case (10^11 ms is 1973), so they are refused with a fix rather than read as 1970.
* Instants before 2000 or from 2100 on are refused as absurd: they come from unit mix-ups.
* Results are plain ``datetime.datetime`` objects with ``tzinfo=timezone.utc`` (pendulum input is
  converted), so comparisons measure elapsed real time whatever zone or DST rule the input used.
* Every conversion that can fail (out-of-range years such as ``0001-01-01T00:00:00+01:00``, a tzinfo that
  answers nonsense, a number with thousands of digits) raises :class:`InvalidInputError` naming the field:
  one bad row is that row's ``invalid`` outcome, never the end of the batch. Numbers are ASCII digits only.
* A reference time beyond a few minutes of clock skew after now is a typo that would mark every pending
  message FAILED; :func:`check_reference_time` refuses it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.validation import shown

EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
MAX_DURATION = timedelta(days=90)

# Below this, a number is epoch seconds (or nonsense), not milliseconds: 10**11 ms is March 1973.
_EPOCH_MS_MIN = 10**11
# From here on a number is epoch microseconds or nanoseconds: 10**14 ms is the year 5138.
_EPOCH_MS_MICROS = 10**14
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# ASCII digits only: Unicode digits ('١٢', full-width ones) are no epoch or duration anyone meant to write.
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
# Longer digit strings are far out of range anyway; int() refuses more than 4,300 digits with a bare ValueError.
_MAX_DIGITS = 30
# What datetime, timedelta and pendulum raise for values out of their range or a tzinfo that answers nonsense.
_CONVERSION_ERRORS = (ValueError, OverflowError, OSError, TypeError)
_DEFAULT_SKEW = timedelta(minutes=5)
_ISO_FIX = "pass e.g. '2026-11-24T10:00:00+01:00', '2026-11-24T09:00:00Z' or epoch milliseconds"
_YEAR_FIX = "check the unit and the year; pass the message's real creation time"
_OFFSET_FIX = "add a UTC offset, e.g. '2026-11-24T10:00:00+00:00' or '2026-11-24T10:00:00Z'"


def parse_timestamp(value: Any, *, field: str) -> datetime:
    """Return ``value`` as an aware UTC ``datetime``; raises :class:`InvalidInputError` naming ``field``.

    :param value: an ISO 8601 string with an offset or ``Z``, epoch milliseconds (int, float or digit string),
        or an aware ``datetime`` (pendulum included).
    :param field: the name to report in the error, e.g. ``messages[3].created_at``.
    """
    if isinstance(value, datetime):
        return _from_datetime(value, field)
    if isinstance(value, bool):
        raise InvalidInputError(field, f"{value!r} is a boolean", "pass an ISO 8601 timestamp or epoch milliseconds")
    if isinstance(value, (int, float)):
        return _from_epoch_ms(value, field)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            if len(text) > _MAX_DIGITS:
                raise InvalidInputError(field, f"{shown(value)} is far too large", "send epoch milliseconds")
            return _from_epoch_ms(float(text) if "." in text else int(text), field)
        return _from_iso(text, value, field)
    raise InvalidInputError(
        field,
        f"{shown(value)} ({type(value).__name__}) is not a timestamp",
        "pass an ISO 8601 string with an offset, e.g. '2026-11-24T10:00:00Z', or epoch milliseconds",
    )


def parse_reference_time(value: Any, *, field: str = "reference_time") -> datetime:
    """Return the instant a run checks against, under the same rules as :func:`parse_timestamp`.

    :param value: ISO 8601 string with an offset, epoch milliseconds or an aware ``datetime``.
    :param field: the name to report in the error.
    """
    return parse_timestamp(value, field=field)


def check_reference_time(
    reference: Any, *, now: datetime, field: str = "reference_time", max_skew: timedelta = _DEFAULT_SKEW
) -> datetime:
    """Return ``reference`` as aware UTC unless it lies more than ``max_skew`` after ``now``.

    A future reference time (a typo in the year, a wrong offset) would make every pending message look stale
    and mark it FAILED, so it is refused rather than trusted.

    :param reference: the run's reference time, in any form :func:`parse_reference_time` accepts.
    :param now: the current time, aware.
    :param field: the name to report in the error.
    :param max_skew: how far ahead of ``now`` clocks may disagree.
    """
    instant = parse_reference_time(reference, field=field)
    current = parse_timestamp(now, field="now")
    if instant > current + max_skew:
        raise InvalidInputError(
            field,
            f"{instant.isoformat()} is {instant - current} after the current time {current.isoformat()}",
            "pass a time at or before now, usually the run's data_interval_end; check the year and the UTC offset",
        )
    return instant


def parse_duration(value: Any, *, field: str = "stale_after") -> timedelta:
    """Return a positive duration of at most 90 days as a plain ``timedelta``.

    :param value: a ``timedelta``, seconds as int/float or digit string (``"900"``), or an ISO 8601 duration
        (``"PT15M"``, ``"P1DT2H"``). Years and months are refused because their length varies.
    :param field: the name to report in the error.
    """
    if isinstance(value, bool):
        raise InvalidInputError(field, f"{value!r} is a boolean", f"pass a duration, {_DURATION_EXAMPLE}")
    if isinstance(value, timedelta):
        if isinstance(value, pendulum.Duration) and (value.years or value.months):
            # pendulum.Duration is a timedelta that can carry months; total_seconds() counts them as 30 days.
            raise InvalidInputError(
                field, "years and months have no fixed length", f"express it in days or less, {_DURATION_EXAMPLE}"
            )
        seconds: int | float = value.total_seconds()
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(field, f"{value!r} is not a finite number", f"pass a duration, {_DURATION_EXAMPLE}")
        seconds = value
    elif isinstance(value, str):
        seconds = _seconds_from_text(value.strip(), value, field)
    else:
        raise InvalidInputError(
            field, f"{shown(value)} ({type(value).__name__}) is not a duration", f"pass a duration, {_DURATION_EXAMPLE}"
        )
    # Bounds are checked on the number: timedelta() itself overflows on values like 1e300 or 10**30.
    if seconds <= 0:
        raise InvalidInputError(
            field,
            f"{shown(value)} is not positive",
            f"pass how long a message may wait for its delivery receipt, {_DURATION_EXAMPLE}",
        )
    if seconds > _MAX_SECONDS:
        raise InvalidInputError(
            field,
            f"{shown(value)} is longer than {MAX_DURATION.days} days",
            f"pass at most {MAX_DURATION.days} days; a receipt this late is not a delivery SLA",
        )
    duration = value if type(value) is timedelta else timedelta(seconds=seconds)
    if not duration:
        raise InvalidInputError(
            field, f"{shown(value)} rounds to zero microseconds", f"pass a positive duration, {_DURATION_EXAMPLE}"
        )
    return duration


_DURATION_EXAMPLE = "e.g. 900 (seconds), 'PT15M' or timedelta(minutes=15)"
_MAX_SECONDS = MAX_DURATION.total_seconds()


def _seconds_from_text(text: str, original: str, field: str) -> float:
    if _NUMBER.fullmatch(text):
        # float() of a long digit string is inf at worst, which the caller refuses as too long.
        return float(text)
    if text.startswith("-"):
        raise InvalidInputError(
            field, f"{shown(original)} is negative", f"pass a positive duration, {_DURATION_EXAMPLE}"
        )
    try:
        parsed = pendulum.parse(text, exact=True) if text.upper().startswith("P") else None
    except OverflowError:
        raise InvalidInputError(
            field,
            f"{shown(original)} is far longer than {MAX_DURATION.days} days",
            f"pass at most {MAX_DURATION.days} days, {_DURATION_EXAMPLE}",
        ) from None
    except _CONVERSION_ERRORS:
        parsed = None
    if not isinstance(parsed, pendulum.Duration):
        raise InvalidInputError(field, f"{shown(original)} is not a duration", f"pass a duration, {_DURATION_EXAMPLE}")
    if parsed.years or parsed.months:
        raise InvalidInputError(
            field,
            f"{shown(original)} uses years or months, which have no fixed length",
            f"use days, {_DURATION_EXAMPLE}",
        )
    return parsed.total_seconds()


def _from_datetime(value: datetime, field: str) -> datetime:
    try:
        offset = value.utcoffset()
    except _CONVERSION_ERRORS as error:
        raise InvalidInputError(
            field,
            f"its time zone {type(value.tzinfo).__name__} gives no valid UTC offset ({error})",
            "attach a standard time zone, e.g. timezone.utc or pendulum's tz='Europe/Berlin'",
        ) from None
    if offset is None:
        raise InvalidInputError(
            field,
            f"{_naive_text(value)} is a naive datetime (no time zone), so the instant is ambiguous",
            "attach a time zone, e.g. datetime(..., tzinfo=timezone.utc) or pendulum.datetime(..., tz='UTC')",
        )
    try:
        utc = value.astimezone(timezone.utc)
    except _CONVERSION_ERRORS:
        # Year 1 east of UTC or year 9999 west of it has no UTC instant in datetime's range.
        raise InvalidInputError(
            field, f"{_naive_text(value)} {offset} is outside the years 2000 to 2099", _YEAR_FIX
        ) from None
    if type(utc) is not datetime:
        # pendulum.DateTime and other subclasses become the stdlib type: results compare and hash uniformly.
        utc = datetime(
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond,
            tzinfo=timezone.utc,
        )
    return _in_range(utc, value, field)


def _from_iso(text: str, original: str, field: str) -> datetime:
    # fromisoformat is far faster than pendulum; Python 3.10's one does not know 'Z', so map it to +00:00.
    candidate = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    if not text.isascii():
        # ISO 8601 is ASCII; a stray emoji half or Unicode digits must not reach the parsers.
        raise InvalidInputError(field, f"{shown(original)} has characters an ISO 8601 timestamp never has", _ISO_FIX)
    try:
        parsed: Any = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = pendulum.parse(text, exact=True, tz=None)
        except _CONVERSION_ERRORS:
            parsed = None
    if not isinstance(parsed, datetime):
        raise InvalidInputError(
            field,
            f"{shown(original)} is not an ISO 8601 timestamp",
            _ISO_FIX,
        )
    if parsed.tzinfo is None:
        raise InvalidInputError(field, f"{shown(original)} has no UTC offset, so the instant is ambiguous", _OFFSET_FIX)
    return _from_datetime(parsed, field)


def _from_epoch_ms(value: int | float, field: str) -> datetime:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(field, f"{value!r} is not a finite number", "send epoch milliseconds")
    if value < 0:
        raise InvalidInputError(
            field, f"{shown(value)} is negative", "send the message's creation time in milliseconds"
        )
    if value < _EPOCH_MS_MIN:
        raise InvalidInputError(
            field,
            f"{value!r} looks like epoch seconds",
            f"send milliseconds (HubSpot's unit), e.g. {int(value) * 1000}, or an ISO 8601 string",
        )
    if value >= _EPOCH_MS_MICROS:
        raise InvalidInputError(
            field,
            f"{shown(value)} looks like epoch microseconds or nanoseconds",
            "send milliseconds (HubSpot's unit)",
        )
    # Integer arithmetic keeps millisecond values exact (a float division would round some of them).
    if isinstance(value, int):
        instant = _EPOCH + timedelta(milliseconds=value)
    else:
        instant = _EPOCH + timedelta(microseconds=round(value * 1000))
    return _in_range(instant, value, field)


def _in_range(instant: datetime, original: Any, field: str) -> datetime:
    if not EARLIEST <= instant < LATEST:
        raise InvalidInputError(
            field,
            f"{shown(original)} is {instant.isoformat()}, outside the years 2000 to 2099",
            _YEAR_FIX,
        )
    return instant


def _naive_text(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat()
