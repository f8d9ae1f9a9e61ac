"""The error message agents read in the HubSpot inbox when a message is marked FAILED.

It must be understood at a glance: what happened (no delivery confirmation within the SLA), when (sent and
checked times in UTC, ``2026-11-24 10:00 UTC``), what it means for the customer and what to do.

Decisions:

* Templates use ``str.format`` named fields from :data:`TEMPLATE_FIELDS` only. Unknown names, positional
  fields, attribute or index access and bad braces are refused by :func:`validate_template`, cheaply
  enough to run at DAG parse time, so a typo fails the DAG import, not message 40,000 of a run.
* Nothing in a template may make rendering costly: a format width or precision above the message cap
  (``{sla:>200000000}`` would build 200 MB per message), more than :data:`MAX_TEMPLATE_FIELDS` fields, or
  lone surrogates (text no UTF-8 writer accepts) are refused.
* Rendered text is at most :data:`ERROR_MESSAGE_MAX_LENGTH` characters. When it is longer, the carrier's
  error text is shortened first (it is the least readable part and can be kilobytes of JSON); dropped when
  less than 20 characters of it would remain; only then is the whole text cut, ending in ``…``.
* Values are cleaned before they go in: control characters and runs of whitespace become one space, so a
  multi-line carrier payload cannot break the inbox bubble. A rendering that would be blank falls back to a
  short fixed sentence: agents never get an empty error.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation.policy import StalenessPolicy
from airflow_provider_hubspot_channels.reconciliation.records import DeliveryStatus, MessageRecord
from airflow_provider_hubspot_channels.validation import ERROR_MESSAGE_MAX_LENGTH, has_lone_surrogate

DEFAULT_ERROR_MESSAGE_TEMPLATE = (
    "Not delivered: no delivery confirmation arrived within {sla} of sending "
    "(sent {sent_at}, checked {checked_at}). This message may not have reached {recipient}; "
    "please resend it or contact them another way.{carrier_note}"
)
#: What agents read when the carrier's receipt said the message failed (two-way reconciliation).
DEFAULT_CARRIER_ERROR_MESSAGE_TEMPLATE = (
    "Not delivered: the carrier reported that this message failed ({failed_at}; sent {sent_at}).{carrier_note} "
    "It did not reach {recipient}; please resend it or contact them another way."
)

#: Every field a template may use, with what it holds.
TEMPLATE_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "message_id": "HubSpot's id of the message",
        "channel_id": "the custom channel's id",
        "sent_at": "when the message was sent, e.g. '2026-11-24 10:00 UTC'",
        "checked_at": "the run's reference time, e.g. '2026-11-24 10:20 UTC'",
        "sla": "the allowed wait for a delivery receipt, e.g. '15 minutes' or '1 hour 30 minutes'",
        "age": "time from sending to the check, e.g. '2 hours 5 minutes'",
        "recipient": "the record's recipient, or 'the recipient' when not given",
        "carrier_error": "the carrier's error text from the record, or '' when not given",
        "carrier_note": "' Carrier reported: <carrier_error>.' (leading space), or '' when not given",
        "failed_at": "when the carrier's failure receipt arrived (receipt_at), else when the message was sent",
    }
)

#: Fields a template may hold: the default uses 6; each can expand to the length of a carrier payload.
MAX_TEMPLATE_FIELDS = 20
#: Below this many characters a shortened carrier error says nothing useful, so it is dropped instead.
MIN_CARRIER_CHARS = 20
#: Recipients are names or phone numbers; anything longer is cut so it cannot crowd out the explanation.
MAX_RECIPIENT_CHARS = 80

_FALLBACK_TEMPLATE = "Not delivered: no delivery confirmation arrived within {sla} of sending."
_FALLBACK_CARRIER_TEMPLATE = "Not delivered: the carrier reported that this message failed."
_ELLIPSIS = "…"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FIELD = "error_message_template"
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
_SAMPLE_VALUES = {name: "x" for name in TEMPLATE_FIELDS}
# Unicode digits too: str.format reads Arabic-Indic digits after '>' as a width.
_SPEC_NUMBER = re.compile(r"\d+")
_ALIGN = "<>=^"


def validate_template(template: str, *, field: str = _FIELD) -> None:
    """Raise :class:`InvalidInputError` naming ``field`` unless ``template`` can be rendered.

    :param template: a ``str.format`` template using named fields from :data:`TEMPLATE_FIELDS`.
    :param field: the argument to name in the error (``error_message_template`` or
        ``carrier_error_message_template``).
    """
    if not isinstance(template, str):
        raise InvalidInputError(
            field, f"{type(template).__name__} is not text", "pass a string, e.g. the default template"
        )
    try:
        _compile(template)
    except InvalidInputError as exc:
        if field == _FIELD:
            raise
        raise InvalidInputError(field, exc.problem, exc.fix) from None


def render_error_message(template: str, record: MessageRecord, policy: StalenessPolicy) -> str:
    """Return the text agents see for a failed message: never blank, at most the length cap.

    :param template: a template accepted by :func:`validate_template`.
    :param record: the stale message, or one whose carrier receipt said ``failed``.
    :param policy: the run's SLA and reference time.
    """
    validate_template(template)
    used, carrier_uses = _compile(template)
    context = record.context
    # Only the fields the template shows are computed: this runs once per stale message.
    values = {
        "message_id": record.message_id,
        "channel_id": str(record.channel_id),
        "sent_at": format_utc(record.created_at) if "sent_at" in used else "",
        "checked_at": format_utc(policy.reference_time) if "checked_at" in used else "",
        "sla": describe_duration(policy.stale_after),
        "age": describe_duration(policy.age(record), max_units=2) if "age" in used else "",
        "recipient": _shorten(_clean(context.get("recipient", "")), MAX_RECIPIENT_CHARS) or "the recipient",
        "failed_at": format_utc(record.receipt_at or record.created_at) if "failed_at" in used else "",
    }
    carrier = _clean(context.get("carrier_error", "")) if carrier_uses else ""
    text = _render(template, values, carrier)
    overflow = len(text) - ERROR_MESSAGE_MAX_LENGTH
    if overflow > 0 and carrier:
        # Each use of the carrier text must give up its share of the overflow, plus one for the ellipsis.
        keep = len(carrier) - -(-overflow // carrier_uses) - 1
        carrier = carrier[:keep].rstrip() + _ELLIPSIS if keep >= MIN_CARRIER_CHARS else ""
        text = _render(template, values, carrier)
    if not text:
        failed = record.delivery_status is DeliveryStatus.FAILED
        text = _render(_FALLBACK_CARRIER_TEMPLATE if failed else _FALLBACK_TEMPLATE, values, "")
    return _shorten(text, ERROR_MESSAGE_MAX_LENGTH)


def format_utc(instant: datetime) -> str:
    """Return ``instant`` as readable UTC to the minute, e.g. ``2026-11-24 10:00 UTC``.

    :param instant: an aware UTC datetime.
    """
    # Built by hand: strftime is the slowest step of rendering 100,000 messages.
    return f"{instant.year:04d}-{instant.month:02d}-{instant.day:02d} {instant.hour:02d}:{instant.minute:02d} UTC"


@functools.lru_cache(maxsize=256)
def describe_duration(delta: timedelta, *, max_units: int = 4) -> str:
    """Return a duration in plain words, largest units first: ``15 minutes``, ``1 hour 30 minutes``.

    Units after the first ``max_units`` (counted from the largest non-zero one) are dropped, rounding
    down; the default shows every unit. Under a second reads ``less than a second``. Negative durations
    are described by their size.

    :param delta: the duration.
    :param max_units: how many units (days, hours, minutes, seconds) to show at most.
    """
    remaining = abs(int(delta.total_seconds()))
    counts: list[tuple[int, str]] = []
    for name, size in _UNITS:
        count, remaining = divmod(remaining, size)
        # From the largest non-zero unit on, units are taken in a row, so with two units
        # '1 day 0 hours 5 minutes' reads '1 day' rather than the misleading '1 day 5 minutes'.
        if count or counts:
            counts.append((count, name))
    parts = [f"{count} {name}" + ("" if count == 1 else "s") for count, name in counts[:max_units] if count]
    return " ".join(parts) if parts else "less than a second"


@functools.lru_cache(maxsize=64)
def _compile(template: str) -> tuple[frozenset[str], int]:
    """Validate a template (cached: it runs per message); return its fields and how many show carrier text."""
    if not template.strip():
        raise InvalidInputError(_FIELD, "it is empty", "pass a sentence agents can read, or use the default")
    if has_lone_surrogate(template):
        raise InvalidInputError(
            _FIELD,
            "it contains a lone surrogate (half of an emoji), which cannot be sent as UTF-8",
            "write the whole character, or remove it",
        )
    allowed = ", ".join(TEMPLATE_FIELDS)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InvalidInputError(
            _FIELD, f"bad braces ({error})", "write {name} for a field and {{ or }} for a literal brace"
        ) from None
    literal_length = 0
    carrier_uses = 0
    used: set[str] = set()
    fields = sum(name is not None for _literal, name, _spec, _conversion in parsed)
    if fields > MAX_TEMPLATE_FIELDS:
        raise InvalidInputError(
            _FIELD,
            f"it has {fields} fields, over the limit of {MAX_TEMPLATE_FIELDS}",
            "use each field once or twice; the message agents see is capped at "
            f"{ERROR_MESSAGE_MAX_LENGTH} characters anyway",
        )
    for literal, name, spec, _conversion in parsed:
        literal_length += len(literal)
        if name is None:
            continue
        # ASCII digits only: '{²}' is no position str.format knows, so it is reported as an unknown field.
        if name == "" or (name.isascii() and name.isdigit()):
            raise InvalidInputError(
                _FIELD, f"{{{name}}} is a positional field", f"name the field, e.g. {{sla}}; fields: {allowed}"
            )
        if "." in name or "[" in name:
            raise InvalidInputError(
                _FIELD, f"{{{name}}} uses attribute or index access", f"use a plain field name: {allowed}"
            )
        if name not in TEMPLATE_FIELDS:
            raise InvalidInputError(_FIELD, f"{{{name}}} is not a known field", f"use one of: {allowed}")
        if spec and "{" in spec:
            raise InvalidInputError(_FIELD, f"{{{name}}} has a nested field", "remove the inner {...}")
        if spec:
            _check_spec_size(name, spec)
        carrier_uses += name in ("carrier_error", "carrier_note")
        used.add(name)
    if literal_length > ERROR_MESSAGE_MAX_LENGTH:
        raise InvalidInputError(
            _FIELD,
            f"its fixed text alone has {literal_length} characters",
            f"keep it well under {ERROR_MESSAGE_MAX_LENGTH}, the cap of the message agents see",
        )
    try:
        template.format_map(_SAMPLE_VALUES)
    except (ValueError, TypeError) as error:
        raise InvalidInputError(
            _FIELD, f"it cannot be rendered ({error})", "drop the format spec or conversion after the field name"
        ) from None
    return frozenset(used), carrier_uses


def _check_spec_size(name: str, spec: str) -> None:
    """Refuse a width or precision above the message cap, before ``str.format`` allocates it."""
    # A fill character may be a digit ('{sla:5>12}'): skip fill and alignment, then every number left is the
    # width (maybe with a leading 0 flag) or the precision.
    rest = spec[2:] if spec[1:2] and spec[1] in _ALIGN else spec[1:] if spec[0] in _ALIGN else spec
    for number in _SPEC_NUMBER.findall(rest):
        digits = number.lstrip("0")
        # The length is checked first: int() refuses more than 4,300 digits with a bare ValueError.
        if len(digits) > len(str(ERROR_MESSAGE_MAX_LENGTH)) or (digits and int(digits) > ERROR_MESSAGE_MAX_LENGTH):
            shown_number = digits if len(digits) <= 12 else f"a number of {len(digits)} digits"
            raise InvalidInputError(
                _FIELD,
                f"{{{name}}} asks for a width or precision of {shown_number}, over the message cap "
                f"of {ERROR_MESSAGE_MAX_LENGTH} characters",
                f"use a width and precision of at most {ERROR_MESSAGE_MAX_LENGTH}, or none",
            )


def _render(template: str, values: dict[str, str], carrier: str) -> str:
    if carrier:
        end = "" if carrier[-1] in ".!?" + _ELLIPSIS else "."
        note = f" Carrier reported: {carrier}{end}"
    else:
        note = ""
    return template.format_map({**values, "carrier_error": carrier, "carrier_note": note}).strip()


def _clean(value: str) -> str:
    return " ".join(_CONTROL.sub(" ", value).split())


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + _ELLIPSIS
