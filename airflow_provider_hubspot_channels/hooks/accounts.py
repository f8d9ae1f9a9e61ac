"""Where each HubSpot account's credentials come from, on the Airflow side: both sources are lazy (an account is
looked up when a record first names it) and the client keeps each account's token with its expiry.

* :func:`connection_per_account`: one Airflow connection per account, found by a pattern such as
  ``hubspot_channels_{portal_id}``; works with every secrets backend.
* :func:`refresh_tokens_from_sql`: the app's client id and secret (and the base URL and settings) from the task's
  connection, each installation's refresh token from the integrator's own table through any ``common.sql`` hook
  (Postgres, MySQL, SQLite, ...), with a parameterised query.

Every secret read is masked (``mask_secret``) before it is used, and the token endpoint's answer is checked to name
the account (``expected_hub_id``): a refresh token stored under the wrong account never writes anywhere.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from airflow_provider_hubspot_channels.client import InvalidInputError
from airflow_provider_hubspot_channels.client.accounts import AccountCredentials, AccountCredentialsError
from airflow_provider_hubspot_channels.client.config import ClientConfig
from airflow_provider_hubspot_channels.client.secrets import validate_secret
from airflow_provider_hubspot_channels.hooks.hubspot import (
    config_from_connection,
    mask_connection_secrets,
    mask_secret_forms,
    settings_from_connection,
)
from airflow_provider_hubspot_channels.hooks.rotation import newest_refresh_token, store_rotated_refresh_token

PORTAL_FIELD = "portal_id"
T = TypeVar("T")


class CredentialSource(Protocol):
    """Looks up one account's credentials; keeps refresh tokens HubSpot rotated for the next run."""

    def __call__(self, portal_id: str) -> AccountCredentials:
        """The account's credentials.

        :param portal_id: the account (decimal text).
        """

    def store_rotated(self, portal_id: str, refresh_token: str) -> None:
        """Keep a refresh token HubSpot rotated where the next run reads it (never raises).

        :param portal_id: the account.
        :param refresh_token: the new refresh token.
        """


def validate_account_conn_pattern(pattern: object, *, field: str = "account_conn_pattern") -> str:
    """The pattern, if it names each account's connection by ``{portal_id}`` and holds no other placeholder.

    :param pattern: e.g. ``hubspot_channels_{portal_id}``.
    :param field: the argument to name in the error.
    """
    fix = "give a connection id with {portal_id} where the account goes, e.g. hubspot_channels_{portal_id}"
    if not isinstance(pattern, str) or not pattern.strip():
        raise InvalidInputError(field, "it is empty", fix)
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(pattern)
            if name is not None
        ]
    except ValueError as exc:
        raise InvalidInputError(field, f"{pattern!r} is not a valid pattern ({exc})", fix) from None
    if not fields:
        raise InvalidInputError(field, f"{pattern!r} has no {{portal_id}}: every account would get one connection", fix)
    for name, spec, conversion in fields:
        if name != PORTAL_FIELD or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise InvalidInputError(field, f"{pattern!r} holds {shown}; only {{portal_id}} is filled in", fix)
    return pattern.strip()


class ConnectionPerAccount:
    """Each account's credentials from its own Airflow connection (any secrets backend), named by a pattern.

    :param pattern: e.g. ``hubspot_channels_{portal_id}`` (validated now; nothing is read until an account is asked).
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = validate_account_conn_pattern(pattern)
        self._configured: dict[str, str] = {}  # portal id -> the refresh token its connection holds

    def __repr__(self) -> str:
        return f"ConnectionPerAccount(pattern={self.pattern!r})"

    def conn_id(self, portal_id: str) -> str:
        """The Airflow connection id of one account.

        :param portal_id: the account.
        """
        return self.pattern.format(portal_id=portal_id)

    def __call__(self, portal_id: str) -> AccountCredentials:
        """Read the account's connection (its secrets masked first) and validate it.

        :param portal_id: the account.
        """
        from airflow.sdk import BaseHook

        conn_id = self.conn_id(portal_id)
        try:
            conn = BaseHook.get_connection(conn_id)
        except not_found_error():
            raise AccountCredentialsError(
                portal_id,
                f"no Airflow connection {conn_id!r}",
                f"create connection {conn_id!r} (type hubspot_channels) with this installation's credentials, in "
                f"the metadata database or the secrets backend",
            ) from None
        mask_connection_secrets(conn)
        try:
            settings = settings_from_connection(
                host=conn.host, port=conn.port, password=conn.password, extras=conn.extra_dejson
            )
        except InvalidInputError as exc:
            raise AccountCredentialsError(
                portal_id, f"connection {conn_id!r} field {exc.field}: {exc.problem}", exc.fix
            ) from None
        refresh_token = settings.refresh_token
        if refresh_token is not None:
            self._configured[portal_id] = refresh_token
            # A refresh token HubSpot rotated in an earlier run (hooks/rotation.py), while it descends from this one.
            refresh_token = newest_refresh_token(conn_id, refresh_token)
            mask_secret_forms(refresh_token)
        return AccountCredentials(
            config=settings.config,
            access_token=settings.access_token,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            refresh_token=refresh_token,
        )

    def store_rotated(self, portal_id: str, refresh_token: str) -> None:
        """Keep a rotated refresh token for the account's connection (a Variable, as for a single connection).

        :param portal_id: the account.
        :param refresh_token: the new refresh token.
        """
        configured = self._configured.get(portal_id)
        if configured is not None:
            store_rotated_refresh_token(self.conn_id(portal_id), configured, refresh_token)


class RefreshTokensFromSql:
    """Each installation's refresh token from the integrator's table, the app's id and secret from one connection.

    :param sql_conn_id: an Airflow connection whose hook is a ``common.sql`` ``DbApiHook`` (Postgres, MySQL,
        SQLite, ...).
    :param sql: a query returning the refresh token in the first column of its first row, with the account as the
        parameter ``portal_id`` in the database's paramstyle (``:portal_id``, ``%(portal_id)s``, ...).
    :param app_conn_id: the ``hubspot_channels`` connection with the app's ``client_id`` and ``client_secret``, base
        URL and client settings (its own refresh token or password, if any, serve records without a portal id).
    """

    def __init__(self, sql_conn_id: str, sql: str, *, app_conn_id: str) -> None:
        for field, value in (("refresh_tokens_sql_conn_id", sql_conn_id), ("refresh_tokens_sql", sql)):
            if not isinstance(value, str) or not value.strip():
                raise InvalidInputError(
                    field, "it is empty", "give refresh_tokens_sql_conn_id and refresh_tokens_sql together"
                )
        self.sql_conn_id = sql_conn_id.strip()
        self.sql = sql.strip()
        self.app_conn_id = app_conn_id
        self._lock = threading.Lock()
        self._app: tuple[ClientConfig, str, str] | None = None
        self._db: Any = None
        self._failures: dict[str, InvalidInputError] = {}
        self._configured: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"RefreshTokensFromSql(sql_conn_id={self.sql_conn_id!r}, app_conn_id={self.app_conn_id!r})"

    def rotation_key(self, portal_id: str) -> str:
        """The name rotated refresh tokens of one account are kept under (the table is never written).

        :param portal_id: the account.
        """
        return f"{self.sql_conn_id}__{portal_id}"

    def _app_settings(self) -> tuple[ClientConfig, str, str]:
        with self._lock:
            if self._app is None:
                self._app = self._read_once("app", self._read_app)
            return self._app

    def _read_app(self) -> tuple[ClientConfig, str, str]:
        conn = _get_connection(self.app_conn_id, field="hubspot_conn_id", kind="hubspot_channels (the app's)")
        mask_connection_secrets(conn)
        extras = conn.extra_dejson
        where = f"connection '{self.app_conn_id}' field"
        try:
            config = config_from_connection(host=conn.host, port=conn.port, extras=extras)
            client_id = validate_secret(_text(extras.get("client_id")), field=f"{where} client_id")
            client_secret = validate_secret(_text(extras.get("client_secret")), field=f"{where} client_secret")
        except InvalidInputError as exc:
            raise InvalidInputError(
                exc.field, exc.problem, f"{exc.fix} (refresh tokens from SQL need the app's id and secret)"
            ) from None
        return config, client_id, client_secret

    def _hook(self) -> Any:
        with self._lock:
            if self._db is None:
                self._db = self._read_once("db", self._read_hook)
            return self._db

    def _read_hook(self) -> Any:
        conn = _get_connection(self.sql_conn_id, field="refresh_tokens_sql_conn_id", kind="SQL database")
        try:
            hook = conn.get_hook()
        except Exception as exc:  # no provider for its type: Airflow says "Unknown hook type"
            raise InvalidInputError(
                "refresh_tokens_sql_conn_id",
                f"Airflow has no hook for connection {self.sql_conn_id!r} of type {conn.conn_type!r} "
                f"({type(exc).__name__})",
                "install the Airflow provider of that database (e.g. apache-airflow-providers-postgres) on the workers",
            ) from None
        if not callable(getattr(hook, "get_first", None)):
            raise InvalidInputError(
                "refresh_tokens_sql_conn_id",
                f"connection {self.sql_conn_id!r} has a {type(hook).__name__}, not a common.sql hook",
                "use a connection of a SQL database (Postgres, MySQL, SQLite, ...)",
            )
        return hook

    def _read_once(self, what: str, read: Callable[[], T]) -> T:
        """``read()``, or the error it ended with the first time: a setup every account shares is read once."""
        failed = self._failures.get(what)
        if failed is None:
            try:
                return read()
            except InvalidInputError as exc:
                failed = self._failures[what] = exc
        raise InvalidInputError(failed.field, failed.problem, failed.fix)

    def __call__(self, portal_id: str) -> AccountCredentials:
        """Query the account's refresh token (masked at once) and pair it with the app's id and secret.

        :param portal_id: the account.
        """
        config, client_id, client_secret = self._app_settings()
        row = self._hook().get_first(self.sql, parameters={PORTAL_FIELD: portal_id})
        token = _first_column(row)
        mask_secret_forms(token)
        if not isinstance(token, str) or not token.strip():
            problem = (
                "no row"
                if not row
                else "an empty refresh token"
                if token is None or isinstance(token, str)
                else (f"a {type(token).__name__}, not a refresh token")
            )
            raise AccountCredentialsError(
                portal_id,
                f"refresh_tokens_sql on connection {self.sql_conn_id!r} returned {problem} for it",
                "store the installation's refresh token for this portal id, or leave its records out of the batch",
            )
        self._configured[portal_id] = token
        newest = newest_refresh_token(self.rotation_key(portal_id), token)
        mask_secret_forms(newest)
        return AccountCredentials(config=config, client_id=client_id, client_secret=client_secret, refresh_token=newest)

    def store_rotated(self, portal_id: str, refresh_token: str) -> None:
        """Keep a rotated refresh token in a Variable named by :meth:`rotation_key` (the table is never written:
        update it from the Variable if HubSpot rotates tokens).

        :param portal_id: the account.
        :param refresh_token: the new refresh token.
        """
        configured = self._configured.get(portal_id)
        if configured is not None:
            store_rotated_refresh_token(self.rotation_key(portal_id), configured, refresh_token)


class NoAccountCredentials:
    """The source of a hook given no way to find accounts' credentials: a record naming an account fails clearly."""

    def __call__(self, portal_id: str) -> AccountCredentials:
        """Always refuses: no credentials source is configured.

        :param portal_id: the account.
        """
        raise AccountCredentialsError(
            portal_id,
            "the record names a HubSpot account, and the task has no way to find accounts' credentials",
            "set account_conn_pattern (a connection per account) or refresh_tokens_sql_conn_id and refresh_tokens_sql "
            "(refresh tokens from a table), or leave portal_id out for the connection's own account",
        )

    def store_rotated(self, portal_id: str, refresh_token: str) -> None:
        """Nothing to keep: no account is ever built.

        :param portal_id: the account.
        :param refresh_token: the new refresh token.
        """


def not_found_error() -> type[Exception]:
    """Airflow's "no such connection" exception: in the Task SDK from 3.2, in ``airflow.exceptions`` on 3.1."""
    try:
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined,no-redef]
    return AirflowNotFoundException


def _get_connection(conn_id: str, *, field: str, kind: str) -> Any:
    """An Airflow connection; a missing one is an :class:`InvalidInputError` naming the argument and the id."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except not_found_error():
        raise InvalidInputError(
            field, f"there is no Airflow connection {conn_id!r}", f"create it: the {kind} connection"
        ) from None


def _first_column(row: Any) -> object:
    """The first column of a row as DB-API drivers give it: a tuple, or a mapping (dict cursors); a BYTEA/BLOB token
    as ASCII text. A row of another shape is no token (the caller says so), never an error a retry would repeat."""
    if not row:
        return None
    if isinstance(row, Mapping):
        value = next(iter(row.values()))
    elif isinstance(row, (tuple, list)):
        value = row[0]
    else:
        return row
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return value
    return value


def _text(value: object) -> object:
    return value.strip() or None if isinstance(value, str) else value


def connection_per_account(pattern: str) -> ConnectionPerAccount:
    """Credentials from one Airflow connection per account, e.g. ``hubspot_channels_{portal_id}``.

    :param pattern: the connection id with ``{portal_id}`` where the account goes.
    """
    return ConnectionPerAccount(pattern)


def refresh_tokens_from_sql(sql_conn_id: str, sql: str, *, app_conn_id: str) -> RefreshTokensFromSql:
    """Credentials from the app's connection plus each installation's refresh token from an SQL table.

    :param sql_conn_id: the database's Airflow connection (any ``common.sql`` hook).
    :param sql: the query, with the parameter ``portal_id`` in the database's paramstyle.
    :param app_conn_id: the ``hubspot_channels`` connection with the app's client id and secret.
    """
    return RefreshTokensFromSql(sql_conn_id, sql, app_conn_id=app_conn_id)


__all__ = [
    "ConnectionPerAccount",
    "CredentialSource",
    "NoAccountCredentials",
    "RefreshTokensFromSql",
    "connection_per_account",
    "refresh_tokens_from_sql",
    "validate_account_conn_pattern",
]


def validate_account_arguments(
    *,
    account_conn_pattern: str | None,
    refresh_tokens_sql_conn_id: str | None,
    refresh_tokens_sql: str | None,
) -> None:
    """Check the many-accounts arguments without reading anything (DAG parsing runs this): at most one way, both SQL
    arguments together, a pattern with ``{portal_id}``.

    :param account_conn_pattern: the connection id pattern of each account.
    :param refresh_tokens_sql_conn_id: the SQL connection of the refresh tokens.
    :param refresh_tokens_sql: the query of one account's refresh token.
    """
    sql = {"refresh_tokens_sql_conn_id": refresh_tokens_sql_conn_id, "refresh_tokens_sql": refresh_tokens_sql}
    given = [name for name, value in sql.items() if value is not None]
    if account_conn_pattern is not None and given:
        raise InvalidInputError(
            "account_conn_pattern",
            f"it is given together with {' and '.join(given)}: credentials come from one place",
            "give account_conn_pattern (a connection per account) or refresh_tokens_sql_conn_id and "
            "refresh_tokens_sql (refresh tokens from a table), not both",
        )
    if len(given) == 1:
        (missing,) = (name for name in sql if name not in given)
        raise InvalidInputError(missing, f"it is missing while {given[0]} is given", f"give {missing} too")
    for name, value in sql.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidInputError(name, "it is empty", "give the SQL connection id and the query")
    if account_conn_pattern is not None:
        validate_account_conn_pattern(account_conn_pattern)
