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
    # The escaped forms themselves too: with a backslash beside a quote, un-escaping the quotes below changes them.
    forms |= escaped
    for form in escaped:
        # repr escapes the quote that delimits it, and which one that is depends on the text around the secret.
        plain = form.replace("\\'", "'").replace('\\"', '"')
        forms |= {plain, plain.replace("'", "\\'"), plain.replace('"', '\\"')}
    return {form for form in forms if form}


class Redactor:
    """The secrets a client (or every client of a shared transport) knows, and :meth:`redact` to remove every form of
    them from a text.

    Forms are kept by their first :data:`PREFIX` characters, so that adding a secret costs the same with thousands of
    accounts' secrets known as with one, and :meth:`redact` looks only at forms whose start occurs in the text.
    """

    #: Characters of a form's start it is filed under (tokens share short starts such as "na1-"); shorter forms are
    #: checked one by one.
    PREFIX = 12
    #: Up to this many forms (one account's), a scan per form is faster than looking at every position of the text.
    SCAN_ALL_UP_TO = 128

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._short: tuple[str, ...] = ()  # forms shorter than PREFIX, longest first
        self._by_prefix: dict[str, tuple[str, ...]] = {}  # forms by their start, longest first
        self._few: tuple[str, ...] | None = ()  # every form, longest first, while there are few; else None

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
            forms = set().union(*(secret_forms(s) for s in new))
            few = self._few
            if few is not None:
                merged = forms.union(few)
                self._few = tuple(sorted(merged, key=len, reverse=True)) if len(merged) <= self.SCAN_ALL_UP_TO else None
            short = {form for form in forms if len(form) < self.PREFIX}
            if short:
                self._short = tuple(sorted(short.union(self._short), key=len, reverse=True))
            for form in forms - short:
                key = form[: self.PREFIX]
                bucket = self._by_prefix.get(key, ())
                if form not in bucket:
                    # Replaced whole, never changed in place: redact() reads without the lock.
                    self._by_prefix[key] = tuple(sorted((*bucket, form), key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every form of every known secret replaced by ``***``.

        :param text: any text that may leave the client (error messages, log lines).
        """
        few = self._few
        if few is not None:
            for form in few:
                if form in text:
                    text = text.replace(form, REDACTED)
            return text
        by_prefix = self._by_prefix
        found = {form for form in self._short if form in text}
        if by_prefix:
            size = self.PREFIX
            for start in range(len(text) - size + 1):
                bucket = by_prefix.get(text[start : start + size])
                if bucket:
                    found.update(form for form in bucket if text.startswith(form, start))
        # Longest first: a form that contains another must go whole.
        for form in sorted(found, key=len, reverse=True):
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
