"""Checks of message-level input, run before any request so that bad input never reaches HubSpot.

The reconciliation domain uses the same functions for its records: there is one definition of a valid channel id,
message id, status and error message in this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_hubspot_channels.exceptions import InvalidInputError

#: Statuses the PATCH endpoint accepts. ``RECEIVED`` appears in responses only.
STATUS_TYPES = ("SENT", "READ", "FAILED")

#: HubSpot documents no length limit for ``errorMessage``. Agents read it in a small inbox bubble, so we cap it
#: at 500 characters and refuse longer text rather than let HubSpot cut it somewhere unknown.
ERROR_MESSAGE_MAX_LENGTH = 500

INT32_MAX = 2**31 - 1


def validate_channel_id(value: Any, *, field: str = "channel_id") -> int:
    """Return the channel id as an int; HubSpot declares it a positive int32 in paths.

    :param value: an int or a string of digits.
    :param field: the name to report in the error.
    """
    if isinstance(value, bool):
        raise InvalidInputError(field, f"{value!r} is a boolean", "pass the numeric id of the custom channel")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise InvalidInputError(
            field, f"{value!r} is not a number", "pass the numeric id of the custom channel, e.g. 1234 or '1234'"
        )
    if not 0 < number <= INT32_MAX:
        raise InvalidInputError(
            field, f"{number} is outside 1..{INT32_MAX}", "pass the positive int32 id HubSpot gave the channel"
        )
    return number


def validate_message_id(value: Any, *, field: str = "message_id") -> str:
    """Return the message id unchanged (it is opaque: never parsed), refusing empty or blank ones.

    :param value: the id HubSpot gave the message.
    :param field: the name to report in the error.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInputError(field, f"{value!r} is not a string", "pass the message id HubSpot sent")
    text = str(value)
    if not text.strip():
        raise InvalidInputError(field, "it is empty", "pass the message id from HubSpot's webhook")
    return text


def validate_status_type(value: Any, *, field: str = "status_type") -> str:
    """Return the status upper-cased if it is one HubSpot accepts in a PATCH.

    :param value: ``SENT``, ``READ`` or ``FAILED`` (any case).
    :param field: the name to report in the error.
    """
    text = value.strip().upper() if isinstance(value, str) else None
    if text not in STATUS_TYPES:
        hint = " (RECEIVED is set by HubSpot only)" if text == "RECEIVED" else ""
        raise InvalidInputError(field, f"{value!r} is not a status HubSpot accepts{hint}", "use SENT, READ or FAILED")
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
        raise InvalidInputError(field, f"{value!r} is not a string", "pass text, or None")
    if status_type != "FAILED":
        raise InvalidInputError(
            field, f"an error message goes with FAILED only, not {status_type}", "drop error_message or use FAILED"
        )
    if not value.strip():
        raise InvalidInputError(field, "it is blank", "pass a message agents can read, or None")
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
