"""Rotated OAuth refresh tokens, kept where the next task run can read them.

HubSpot does not document refresh-token rotation, but an OAuth server may answer a refresh with a new refresh token
and refuse the old one from then on. A task cannot change its Airflow Connection (workers have no write access to
connections in Airflow 3), so the newest refresh token goes into an Airflow Variable that the next run reads:

* key ``hubspot_channels_rotated_refresh_token__<conn_id>``: it contains ``token``, so Airflow masks the value in
  the UI and in logs, and stores it encrypted when a Fernet key is configured, like a connection's password;
* value ``{"origin": <fingerprint of the connection's refresh token>, "refresh_token": <newest>}``: the stored token
  is used only while the connection still holds the refresh token it descends from, so re-authorizing the app and
  updating the connection is never overridden by an old rotation.

Without a place to write (``test_connection`` outside a task, a secrets backend that refuses writes) the newest token
lives in the process only and a warning says what to do; the token itself is never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

VARIABLE_PREFIX = "hubspot_channels_rotated_refresh_token__"


def variable_key(conn_id: str) -> str:
    """The Variable that holds a connection's newest rotated refresh token.

    :param conn_id: the Airflow connection id.
    """
    return f"{VARIABLE_PREFIX}{conn_id}"


def fingerprint(secret: str) -> str:
    """A short one-way fingerprint of a secret, to recognise it without storing it twice.

    :param secret: the refresh token.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:32]


def newest_refresh_token(conn_id: str, configured: str) -> str:
    """The refresh token to use: the newest stored rotation of ``configured``, else ``configured`` itself.

    :param conn_id: the Airflow connection id.
    :param configured: the refresh token in the connection.
    """
    from airflow.sdk import Variable

    try:
        raw: Any = Variable.get(variable_key(conn_id), default=None)
    except Exception as exc:  # no Variable store reachable: the connection's token is all there is
        log.debug("Rotated refresh token of connection %s not readable: %s", conn_id, type(exc).__name__)
        return configured
    try:
        stored = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        stored = None
    if (
        isinstance(stored, dict)
        and stored.get("origin") == fingerprint(configured)
        and isinstance(stored.get("refresh_token"), str)
        and stored["refresh_token"]
    ):
        return str(stored["refresh_token"])
    return configured


def store_rotated_refresh_token(conn_id: str, configured: str, rotated: str) -> None:
    """Keep ``rotated`` where the next run of any task using ``conn_id`` reads it (never raises, never logs it).

    :param conn_id: the Airflow connection id.
    :param configured: the refresh token in the connection (the rotation's origin).
    :param rotated: the refresh token HubSpot's answer carried.
    """
    from airflow.sdk import Variable

    value = json.dumps({"origin": fingerprint(configured), "refresh_token": rotated})
    try:
        Variable.set(
            variable_key(conn_id),
            value,
            description=f"Newest OAuth refresh token of connection {conn_id} (rotated by the token endpoint).",
        )
    except Exception as exc:
        log.warning(
            "The token endpoint rotated the refresh token of connection %s, and it could not be stored (%s). This run "
            "goes on with the new token; the next run will be refused with the old one: re-authorize the app and "
            "update the connection's refresh_token.",
            conn_id,
            type(exc).__name__,
        )
        return
    log.info(
        "The token endpoint rotated the refresh token of connection %s; the newest is in Variable %s.",
        conn_id,
        variable_key(conn_id),
    )
