"""Secrets: refused early when they cannot be sent safely, and removed from any text that may leave the client.

A token with a line break or a non-ASCII character makes ``http.client`` raise with the whole header, token
included, in its message. Such a value is never a valid HubSpot token (they are printable ASCII), so it is refused
when the client is built, or when the token endpoint answers it, naming the field but never the value.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from urllib.parse import quote, quote_plus

from airflow_provider_hubspot_channels.client.errors import ErrorDetails, InvalidInputError

REDACTED = "***"


def validate_secret(value: object, *, field: str) -> str:
    """The secret without outer whitespace; refused if empty or holding whitespace, control or non-ASCII characters.

    :param value: the secret as configured or as answered by the token endpoint.
    :param field: the connection field or answer key to name in the error (never the value).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(field, "it is empty", f"set {field} to the value HubSpot issued")
    secret = value.strip()
    for position, char in enumerate(secret, start=1):
        if not "!" <= char <= "~":
            kind = "whitespace or a line break" if char.isspace() else "a control or non-ASCII character"
            raise InvalidInputError(
                field,
                f"it contains {kind} at position {position} (HubSpot's secrets are printable ASCII)",
                f"copy {field} again from HubSpot, without line breaks, spaces or quotes around it",
            )
    return secret


def secret_forms(secret: str) -> set[str]:
    """Every way ``secret`` can appear in text: raw, repr and ``unicode_escape`` (with either quote escaped), JSON,
    URL-encoded (``quote``, ``quote_plus``) and the bytes repr ``http.client`` puts into its errors.

    :param secret: the secret.
    """
    escaped = {repr(secret)[1:-1], secret.encode("unicode_escape").decode("ascii")}
    for encoding in ("utf-8", "latin-1"):
        try:
            escaped.add(repr(secret.encode(encoding))[2:-1])
        except UnicodeEncodeError:
            continue
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms |= {quote(secret), quote(secret, safe=""), quote_plus(secret)}
    for form in escaped:
        # repr escapes the quote that delimits it, and which one that is depends on the text around the secret.
        plain = form.replace("\\'", "'").replace('\\"', '"')
        forms |= {plain, plain.replace("'", "\\'"), plain.replace('"', '\\"')}
    return {form for form in forms if form}


class Redactor:
    """The secrets a client knows, and :meth:`redact` to remove every form of them from a text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._forms: tuple[str, ...] = ()

    def add(self, secret: str | None) -> None:
        """Remember a secret (and its stripped form).

        :param secret: a token, client secret or refresh token; ignored when empty.
        """
        if not isinstance(secret, str) or not secret.strip():
            return
        with self._lock:
            new = {secret, secret.strip()} - self._secrets
            if not new:
                return
            self._secrets |= new
            forms = set(self._forms).union(*(secret_forms(s) for s in new))
            # Longest first: a form that contains another must go whole.
            self._forms = tuple(sorted(forms, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every form of every known secret replaced by ``***``.

        :param text: any text that may leave the client (error messages, log lines).
        """
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text


def redact_details(details: ErrorDetails, redact: Callable[[str], str]) -> ErrorDetails:
    """``details`` with every text field redacted: a secret a server echoed inside an escaped form (a repr within
    JSON) shows only once the body is parsed.

    :param details: a parsed error answer.
    :param redact: e.g. :meth:`Redactor.redact`.
    """

    def text(value: str | None) -> str | None:
        return None if value is None else redact(value)

    return dataclasses.replace(
        details,
        category=text(details.category),
        sub_category=text(details.sub_category),
        message=text(details.message),
        correlation_id=text(details.correlation_id),
        policy_name=text(details.policy_name),
        context={key: [redact(value) for value in values] for key, values in details.context.items()},
        errors=tuple(
            {key: redact(value) if isinstance(value, str) else value for key, value in error.items()}
            for error in details.errors
        ),
    )
