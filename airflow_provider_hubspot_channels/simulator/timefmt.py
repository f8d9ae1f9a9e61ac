"""Timestamps the way HubSpot writes them: ISO 8601 in UTC with milliseconds and a ``Z``.

Internally every time is an integer of epoch milliseconds, which sorts and compares cheaply and cannot carry a
time zone mistake.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})")


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    """Format epoch milliseconds as HubSpot does, e.g. ``2026-03-01T12:00:00.123Z``.

    :param ms: epoch milliseconds.
    """
    seconds, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{milli:03d}Z"


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
    if offset in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)
    return to_ms(moment)


def to_ms(value: datetime | str) -> int:
    """Epoch milliseconds of an aware ``datetime`` or an ISO 8601 string with offset.

    :param value: the moment; a naive ``datetime`` is refused because its zone is a guess.
    :raises ValueError: naive datetime or unparsable text.
    """
    if isinstance(value, str):
        return parse_iso(value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime (e.g. datetime.now(timezone.utc))")
    return round(value.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """An aware UTC ``datetime`` for epoch milliseconds.

    :param ms: epoch milliseconds.
    """
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
