"""Checks of message-level input, run before any request so that bad input never reaches HubSpot.

The reconciliation domain uses the same functions for its records: there is one definition of a valid channel id,
message id, status and error message in this package.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from airflow_provider_hubspot_channels.exceptions import InvalidInputError

#: Statuses the PATCH endpoint accepts. ``RECEIVED`` appears in responses only.
STATUS_TYPES = ("SENT", "READ", "FAILED")

#: HubSpot documents no length limit for ``errorMessage``. Agents read it in a small inbox bubble, so we cap it
#: at 500 characters and refuse longer text rather than let HubSpot cut it somewhere unknown.
ERROR_MESSAGE_MAX_LENGTH = 500

INT32_MAX = 2**31 - 1

#: How much of a bad value an error message quotes: enough to recognise it, not a whole payload.
SHOWN_CHARS = 60

_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_CHANNEL_FIX = "pass the numeric id of the custom channel, e.g. 1234 or '1234'"


def shown(value: Any) -> str:
    """Return ``repr(value)`` for an error message: at most about :data:`SHOWN_CHARS` characters, UTF-8 safe.

    ``repr`` alone fails on integers of more than 4,300 digits and can quote megabytes of text.

    :param value: the bad value.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * math.log10(2))} digits"
    try:
        text = repr(value)
    except ValueError:  # a huge integer inside a list or dict
        return f"a {type(value).__name__}"
    text = replace_lone_surrogates(text)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a UTF-16 surrogate code point, which no UTF-8 writer accepts.

    :param text: any text.
    """
    return not text.isascii() and _SURROGATE.search(text) is not None


def replace_lone_surrogates(text: str) -> str:
    """Return ``text`` encodable as UTF-8: surrogate pairs become their character, lone halves U+FFFD.

    :param text: any text, e.g. decoded from JavaScript's JSON, which may split an emoji in half.
    """
    if not has_lone_surrogate(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def validate_channel_id(value: Any, *, field: str = "channel_id") -> int:
    """Return the channel id as an int; HubSpot declares it a positive int32 in paths.

    :param value: an int, a whole float (``1001.0``, as a pandas float column gives it) or a string of ASCII digits.
    :param field: the name to report in the error.
    """
    if isinstance(value, bool):
        raise InvalidInputError(field, f"{value!r} is a boolean", "pass the numeric id of the custom channel")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = _whole_float(value, field)
    elif isinstance(value, str) and _ASCII_DIGITS.fullmatch(value.strip()):
        digits = value.strip().lstrip("0") or "0"
        # Checked on the text: int() refuses more than 4,300 digits with a bare ValueError.
        number = int(digits) if len(digits) <= 10 else INT32_MAX + 1
    else:
        # Only ASCII digits: '²' and other Unicode digits pass str.isdigit() but are no id HubSpot gave.
        raise InvalidInputError(field, f"{shown(value)} is not a number", _CHANNEL_FIX)
    if not 0 < number <= INT32_MAX:
        raise InvalidInputError(
            field, f"{shown(value)} is outside 1..{INT32_MAX}", "pass the positive int32 id HubSpot gave the channel"
        )
    return number


INT64_MAX = 2**63 - 1
_PORTAL_FIX = (
    "pass HubSpot's account id (the webhook's portalId), e.g. 243842089, or leave it out for the connection's account"
)


def validate_portal_id(value: Any, *, field: str = "portal_id") -> str:
    """Return a HubSpot account id (``portalId``) as decimal text without leading zeros; blank text is ``""``.

    :param value: an int, a whole float (a pandas float column) or a string of ASCII digits (webhooks send text).
    :param field: the name to report in the error.
    """
    if isinstance(value, bool):
        raise InvalidInputError(field, f"{value!r} is a boolean", _PORTAL_FIX)
    if isinstance(value, str) and not value.strip():
        return ""
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = _whole_float(value, field, fix=_PORTAL_FIX)
        # Above 2**53 a float no longer holds every integer: the id could name another customer's account.
        if number >= 2**53:  # 2**53 + 1 reads as 2**53: from there on a float names two accounts
            raise InvalidInputError(field, f"{value!r} is too large to be exact as a float", f"{_PORTAL_FIX}, as text")
    elif isinstance(value, str) and _ASCII_DIGITS.fullmatch(value.strip()):
        digits = value.strip().lstrip("0") or "0"
        # Checked on the text: int() refuses more than 4,300 digits with a bare ValueError.
        number = int(digits) if len(digits) <= 19 else INT64_MAX + 1
    else:
        raise InvalidInputError(field, f"{shown(value)} is not an account id", _PORTAL_FIX)
    if not 0 < number <= INT64_MAX:
        raise InvalidInputError(field, f"{shown(value)} is outside 1..{INT64_MAX}", _PORTAL_FIX)
    return str(number)


def _whole_float(value: float, field: str, fix: str = _CHANNEL_FIX) -> int:
    if not math.isfinite(value):
        raise InvalidInputError(field, f"{value!r} is not a finite number (an empty cell of a float column?)", fix)
    if not value.is_integer():
        raise InvalidInputError(
            field,
            f"{value!r} is not a number an id can be: it has a fractional part",
            f"{fix}; a whole float such as 1001.0 is accepted",
        )
    return int(value)


def validate_message_id(value: Any, *, field: str = "message_id") -> str:
    """Return the message id unchanged (it is opaque: never parsed), refusing empty, blank or broken ones.

    :param value: the id HubSpot gave the message.
    :param field: the name to report in the error.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInputError(field, f"{shown(value)} is not a string", "pass the message id HubSpot sent")
    if isinstance(value, int) and value.bit_length() > 200:
        raise InvalidInputError(field, f"{shown(value)} is no message id", "pass the message id HubSpot sent")
    text = str(value)
    if not text.strip():
        raise InvalidInputError(field, "it is empty", "pass the message id from HubSpot's webhook")
    if has_lone_surrogate(text):
        # Replacing the broken half would name a different (nonexistent) message, so the id is refused.
        raise InvalidInputError(
            field,
            f"{shown(text)} contains a lone surrogate (half of an emoji, as JavaScript's JSON may write it)",
            "store the id exactly as HubSpot sent it, in valid UTF-8",
        )
    return text


def validate_status_type(value: Any, *, field: str = "status_type") -> str:
    """Return the status upper-cased if it is one HubSpot accepts in a PATCH.

    :param value: ``SENT``, ``READ`` or ``FAILED`` (any case).
    :param field: the name to report in the error.
    """
    text = value.strip().upper() if isinstance(value, str) else None
    if text not in STATUS_TYPES:
        hint = " (RECEIVED is set by HubSpot only)" if text == "RECEIVED" else ""
        raise InvalidInputError(
            field, f"{shown(value)} is not a status HubSpot accepts{hint}", "use SENT, READ or FAILED"
        )
    return text


def validate_error_message(value: Any, status_type: str, *, field: str = "error_message") -> str | None:
    """Return the error message if it fits ``status_type`` and the length cap.

    :param value: the text agents will see, or None.
    :param status_type: the already validated status.
    :param field: the name to report in the error.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(field, f"{shown(value)} is not a string", "pass text, or None")
    if status_type != "FAILED":
        raise InvalidInputError(
            field, f"an error message goes with FAILED only, not {status_type}", "drop error_message or use FAILED"
        )
    if not value.strip():
        raise InvalidInputError(field, "it is blank", "pass a message agents can read, or None")
    if has_lone_surrogate(value):
        raise InvalidInputError(
            field,
            "it contains a lone surrogate (half of an emoji), which cannot be sent as UTF-8",
            "write the whole character, or remove it",
        )
    if len(value) > ERROR_MESSAGE_MAX_LENGTH:
        raise InvalidInputError(
            field,
            f"it has {len(value)} characters, over the cap of {ERROR_MESSAGE_MAX_LENGTH}",
            f"shorten it to {ERROR_MESSAGE_MAX_LENGTH} characters",
        )
    return value


@dataclass(frozen=True)
class StatusUpdate:
    """A validated status change of one message: exactly what the PATCH will carry.

    :param channel_id: the custom channel.
    :param message_id: the message (opaque).
    :param status_type: ``SENT``, ``READ`` or ``FAILED``.
    :param error_message: text for agents, FAILED only.
    """

    channel_id: int
    message_id: str
    status_type: str
    error_message: str | None = None

    def body(self) -> dict[str, str]:
        """The PATCH body as HubSpot's ``PublicChannelIntegrationMessageUpdateRequest``."""
        body = {"statusType": self.status_type}
        if self.error_message is not None:
            body["errorMessage"] = self.error_message
        return body


def build_status_update(channel_id: Any, message_id: Any, status_type: Any, error_message: Any = None) -> StatusUpdate:
    """Validate every part of a status change and return it normalised; raises :class:`InvalidInputError`.

    :param channel_id: positive int32, int or digit string.
    :param message_id: non-empty id.
    :param status_type: SENT, READ or FAILED, any case.
    :param error_message: text for FAILED only, at most :data:`ERROR_MESSAGE_MAX_LENGTH` characters.
    """
    status = validate_status_type(status_type)
    return StatusUpdate(
        channel_id=validate_channel_id(channel_id),
        message_id=validate_message_id(message_id),
        status_type=status,
        error_message=validate_error_message(error_message, status),
    )
