"""Seeding from a file: one JSON object per line, each with a ``type`` and HubSpot's camelCase field names.

``python -m airflow_provider_hubspot_channels.simulator --seed-file seed.jsonl``, or :func:`seed_from_file`.
Lines are applied in order, so a line may name what an earlier line created. The default channel 1001, inbox 3001
and channel account 2001 exist before the first line. Types and their fields (``*`` required):

* ``inbox``: ``id``, ``name``, ``createdAt``
* ``channel``: ``id``, ``name``, ``webhookUrl``, ``createdAt``
* ``channel_account``: ``channelId*``, ``id``, ``inboxId``, ``name``, ``authorized``
* ``thread``: ``channelId*``, ``id``, ``channelAccountId``, ``recipient``, ``status`` (OPEN, CLOSED), ``archived``,
  ``createdAt``
* ``message``: ``channelId*``, ``id``, ``direction`` (OUTGOING, INCOMING), ``createdAt``, ``statusType``,
  ``errorMessage``, ``text``, ``recipient``, ``threadId``, ``channelAccountId``, ``archived``
* ``status``: ``channelId*``, ``messageId*``, ``statusType*`` (SENT, READ, FAILED, RECEIVED), ``errorMessage``:
  a status change after seeding, kept in the message's history (source ``seed``)

Ids are numbers except message ids (strings), by the API's rules (:func:`.api.id_problem`,
:func:`.api.message_id_problem`) so that every seeded record can be addressed; times are ISO 8601 with an offset.
A line that does not fit raises :class:`SeedFileError` naming the line, the field and the fix; the lines before it
stay seeded.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from .api import id_problem, message_id_problem
from .state import SimulatorState, TransitionRefused
from .timefmt import to_ms

_INT = "a whole number"
_TEXT = "a string"
_BOOL = "true or false"
_CHECKS: dict[str, Callable[[Any], bool]] = {
    _INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    _TEXT: lambda v: isinstance(v, str),
    _BOOL: lambda v: isinstance(v, bool),
}
# Per type: field -> (kind, required)
_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "inbox": {"id": (_INT, False), "name": (_TEXT, False), "createdAt": (_TEXT, False)},
    "channel": {"id": (_INT, False), "name": (_TEXT, False), "webhookUrl": (_TEXT, False), "createdAt": (_TEXT, False)},
    "channel_account": {
        "channelId": (_INT, True),
        "id": (_INT, False),
        "inboxId": (_INT, False),
        "name": (_TEXT, False),
        "authorized": (_BOOL, False),
    },
    "thread": {
        "channelId": (_INT, True),
        "id": (_INT, False),
        "channelAccountId": (_INT, False),
        "recipient": (_TEXT, False),
        "status": (_TEXT, False),
        "archived": (_BOOL, False),
        "createdAt": (_TEXT, False),
    },
    "message": {
        "channelId": (_INT, True),
        "id": (_TEXT, False),
        "direction": (_TEXT, False),
        "createdAt": (_TEXT, False),
        "statusType": (_TEXT, False),
        "errorMessage": (_TEXT, False),
        "text": (_TEXT, False),
        "recipient": (_TEXT, False),
        "threadId": (_INT, False),
        "channelAccountId": (_INT, False),
        "archived": (_BOOL, False),
    },
    "status": {
        "channelId": (_INT, True),
        "messageId": (_TEXT, True),
        "statusType": (_TEXT, True),
        "errorMessage": (_TEXT, False),
    },
}


_ONE_OBJECT = 'write one JSON object per line, e.g. {"type": "message", "channelId": 1001, "id": "m-1"}'


# Fields with a fixed set of values, checked here so that the error names the field (the state's own refusal
# would only name the line's type).
_ENUMS = {
    "direction": ("OUTGOING", "INCOMING"),
    "statusType": ("SENT", "READ", "FAILED", "RECEIVED"),
    "status": ("OPEN", "CLOSED"),
}


# Numeric ids and the width of the API's path parameter that names them, so a seeded id is one the API can address.
_ID_BITS = {"channelId": 32, "inboxId": 32, "channelAccountId": 64, "threadId": 64}
_OWN_ID_BITS = {"inbox": 32, "channel": 32, "channel_account": 64, "thread": 64}
_ID_FIX = "use the id the simulator (or HubSpot) gave, or leave id out to have one generated"


class SeedFileError(ValueError):
    """A seed file line the simulator cannot apply.

    :param where: ``FILE line N``.
    :param field: the field at fault (``line`` when the line itself is unreadable).
    :param problem: what is wrong.
    :param fix: what to write instead.
    """

    def __init__(self, where: str, field: str, problem: str, fix: str) -> None:
        self.field = field
        super().__init__(f"{where}: {field}: {problem}. Fix: {fix}")


class _Bad(Exception):
    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(field, problem, fix)
        self.field, self.problem, self.fix = field, problem, fix


def seed_from_file(state: SimulatorState, path: str | os.PathLike[str]) -> Counter[str]:
    """Apply a seed file to a simulator's state; returns how many lines of each type were applied.

    :param state: the simulator's state (``HubSpotSimulator.state``).
    :param path: the JSON Lines file.
    :raises SeedFileError: a line that does not fit (or the file cannot be read: ``line`` 0).
    """
    try:
        with open(path, "rb") as source:
            raw = source.read()
    except OSError as exc:
        raise SeedFileError(
            f"{os.fspath(path)}", "file", str(exc.strerror), "give the path of a JSON Lines file"
        ) from None
    counts: Counter[str] = Counter()
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            kind = _apply(state, _parse(line))
        except _Bad as bad:
            raise SeedFileError(f"{os.fspath(path)} line {number}", bad.field, bad.problem, bad.fix) from None
        counts[kind] += 1
    return counts


def _parse(line: bytes) -> dict[str, Any]:
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Bad("line", "not JSON in UTF-8", _ONE_OBJECT) from None
    except RecursionError:  # thousands of nested '[': deeper than the json module's stack
        raise _Bad("line", "nested too deep", _ONE_OBJECT) from None
    if not isinstance(row, dict):
        raise _Bad("line", "not a JSON object", _ONE_OBJECT)
    kind = row.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise _Bad("type", f"{str(kind)[:40]!r} is no seed type", f"use one of {', '.join(_FIELDS)}")
    fields = _FIELDS[kind]
    for name, value in row.items():
        if name == "type":
            continue
        if name not in fields:
            raise _Bad(name, f"not a field of {kind}", f"use only {', '.join(fields)}")
        expected = fields[name][0]
        if value is not None and not _CHECKS[expected](value):
            raise _Bad(name, f"{str(value)[:40]!r} is not {expected}", f"give {name} as {expected}")
    _check_ids(kind, row)
    for name, allowed in _ENUMS.items():
        if name in fields and row.get(name) is not None and row[name] not in allowed:
            raise _Bad(name, f"{row[name][:40]!r} is not allowed", f"use one of {', '.join(allowed)}")
    if row.get("createdAt") is not None:
        try:
            to_ms(row["createdAt"])
        except (ValueError, OverflowError):
            raise _Bad("createdAt", f"{row['createdAt'][:40]!r} is no time", "write ISO 8601 with an offset") from None
    for name, (_, required) in fields.items():
        if required and row.get(name) is None:
            raise _Bad(name, "it is missing", f"every {kind} line needs {name}")
    return {k: v for k, v in row.items() if v is not None}


def _check_ids(kind: str, row: Mapping[str, Any]) -> None:
    """Ids by the API's rules (:mod:`.api`): a seeded record the API or the inspection cannot name is no use."""
    for name, value in row.items():
        if value is None:
            continue
        problem = None
        if (kind == "message" and name == "id") or name == "messageId":
            problem = message_id_problem(value)
        elif name in _ID_BITS or name == "id":
            problem = id_problem(value, _ID_BITS.get(name) or _OWN_ID_BITS[kind])
        if problem:
            raise _Bad(name, problem, _ID_FIX)


def _apply(state: SimulatorState, row: Mapping[str, Any]) -> str:
    kind = str(row["type"])
    _check_references(state, row)
    try:
        if kind == "inbox":
            state.add_inbox(row.get("id"), name=row.get("name", "Support"), created_at=row.get("createdAt"))
        elif kind == "channel":
            state.add_channel(
                row.get("id"),
                **_renamed(row, {"name": "name", "webhookUrl": "webhook_url", "createdAt": "created_at"}),
            )
        elif kind == "channel_account":
            state.add_channel_account(
                row["channelId"],
                row.get("id"),
                **_renamed(row, {"inboxId": "inbox_id", "name": "name", "authorized": "authorized"}),
            )
        elif kind == "thread":
            names = {"channelAccountId": "channel_account_id", "recipient": "recipient", "status": "status"}
            state.add_thread(
                row["channelId"],
                row.get("id"),
                **_renamed(row, {**names, "archived": "archived", "createdAt": "created_at"}),
            )
        elif kind == "message":
            names = {"text": "text", "recipient": "recipient", "threadId": "thread_id", "archived": "archived"}
            state.add_message(
                row["channelId"],
                row.get("id"),
                row.get("direction", "OUTGOING"),
                row.get("createdAt"),
                row.get("statusType"),
                **_renamed(row, {**names, "channelAccountId": "channel_account_id", "errorMessage": "error_message"}),
            )
        else:
            _status(state, row)
    except (ValueError, KeyError, TypeError, OverflowError, TransitionRefused) as exc:
        # The state's own refusal (a duplicate id, a thread of another channel, a bad time, ...), word for word.
        raise _Bad(kind, str(exc).strip("'\""), "fix the value, or seed what it refers to on an earlier line") from None
    return kind


def _renamed(row: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {python: row[field] for field, python in names.items() if field in row}


def _check_references(state: SimulatorState, row: Mapping[str, Any]) -> None:
    for field, known, what in (
        ("channelId", state.channels, "channel"),
        ("inboxId", state.inboxes, "inbox"),
        ("channelAccountId", state.accounts, "channel_account"),
        ("threadId", state.threads, "thread"),
    ):
        if field in row and row[field] not in known:
            raise _Bad(
                field, f"no {what} {row[field]} exists", f"seed the {what} on an earlier line, or use an existing id"
            )


def _status(state: SimulatorState, row: Mapping[str, Any]) -> None:
    status = row["statusType"]
    with state.lock:
        message = state.find_message(row["channelId"], row["messageId"])
        if message is None:
            raise _Bad(
                "messageId",
                f"no message {row['messageId'][:40]!r} in channel {row['channelId']}",
                "seed the message on an earlier line",
            )
        state.patch_status(message, status, row.get("errorMessage"), source="seed")
