"""Timestamps the way HubSpot writes them: ISO 8601 in UTC with milliseconds and a ``Z``.

Internally every time is an integer of epoch milliseconds, which sorts and compares cheaply and cannot carry a
time zone mistake. Every moment RFC 3339 can write is representable, before 1970 and before year 1000 too
(always four year digits: ``0999-12-31T23:59:59.999Z``); moments outside years 0001..9999 UTC are refused.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

# The moments RFC 3339 can write (years 0001..9999, UTC), in epoch milliseconds.
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND = timedelta(microseconds=1)
_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})", re.ASCII
)


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    """Format epoch milliseconds as HubSpot does, e.g. ``2026-03-01T12:00:00.123Z``.

    :param ms: epoch milliseconds within :data:`MIN_MS` .. :data:`MAX_MS`.
    :raises ValueError: outside years 0001..9999.
    """
    # Not strftime("%Y"): glibc writes year 999 as "999", which is not RFC 3339.
    return from_ms(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> int:
    """Parse an ISO 8601 date-time that carries an offset (``Z`` or ``+hh:mm``) into epoch milliseconds.

    A time without an offset is refused: HubSpot's ``date-time`` parameters are RFC 3339, and guessing a zone
    would hide client bugs.

    :param text: the date-time text.
    :raises ValueError: the text is not such a date-time.
    """
    match = _ISO_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 date-time with offset: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        if offset in ("Z", "z"):
            tz = timezone.utc
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)
    except ValueError as exc:  # e.g. month 13, or an offset of 24 hours or more
        raise ValueError(f"not a valid date-time: {text!r} ({exc})") from exc
    return to_ms(moment)


def to_ms(value: datetime | str) -> int:
    """Epoch milliseconds of an aware ``datetime`` or an ISO 8601 string with offset.

    :param value: the moment; a naive ``datetime`` is refused because its zone is a guess.
    :raises ValueError: naive datetime, unparsable text, or a moment outside years 0001..9999 in UTC.
    """
    if isinstance(value, str):
        return parse_iso(value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime (e.g. datetime.now(timezone.utc))")
    # Integer arithmetic: a float timestamp loses milliseconds far from 1970.
    micros = (value - _EPOCH) // _ONE_MICROSECOND
    ms = (micros + 500) // 1000
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError(f"{value.isoformat()} falls outside the years 0001..9999 in UTC")
    return ms


def from_ms(ms: int) -> datetime:
    """An aware UTC ``datetime`` for epoch milliseconds.

    :param ms: epoch milliseconds within :data:`MIN_MS` .. :data:`MAX_MS`.
    :raises ValueError: outside years 0001..9999.
    """
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError(f"{ms} ms since 1970 falls outside the years 0001..9999")
    return _EPOCH + timedelta(milliseconds=ms)
