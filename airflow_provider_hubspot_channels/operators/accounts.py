"""Where a batch's per-account credentials come from: the operators' three plain-string arguments, checked at parse.

Two ways (at most one per task), both read lazily per account by the hook (``hooks/accounts.py``):

* ``account_conn_pattern``: one Airflow connection per account, e.g. ``hubspot_channels_{portal_id}`` (any secrets
  backend);
* ``refresh_tokens_sql_conn_id`` + ``refresh_tokens_sql``: the app's client id and secret from the task's
  ``hubspot_conn_id`` connection, each installation's refresh token from the integrator's table through any
  common.sql connection, e.g. ``SELECT refresh_token FROM hubspot_installs WHERE portal_id = :portal_id`` (the
  database's paramstyle: ``:portal_id``, ``%(portal_id)s`` or ``?``).

Plain strings, not templated: a mapped task (``.partial(...).expand_kwargs(...)``) serialises them as they are, and
the braces of the pattern are not Jinja's.
"""

from __future__ import annotations

import string
from typing import Any

from airflow_provider_hubspot_channels.exceptions import InvalidInputError

#: The operators' arguments for per-account credentials, as the hook takes them.
ACCOUNT_ARGUMENTS = ("account_conn_pattern", "refresh_tokens_sql_conn_id", "refresh_tokens_sql")
_PATTERN_FIX = "use e.g. 'hubspot_channels_{portal_id}': {portal_id} once or more, and no other braces"


def account_settings(
    account_conn_pattern: Any = None, refresh_tokens_sql_conn_id: Any = None, refresh_tokens_sql: Any = None
) -> dict[str, str]:
    """The hook's keyword arguments for per-account credentials (empty: one account, the connection's).

    :param account_conn_pattern: an Airflow connection id per account, with ``{portal_id}``.
    :param refresh_tokens_sql_conn_id: the SQL connection holding each installation's refresh token.
    :param refresh_tokens_sql: the query returning one account's refresh token, with a ``portal_id`` parameter.
    :raises InvalidInputError: naming the argument: both ways at once, one SQL argument without the other, an empty
        value, or a pattern without ``{portal_id}`` or with other fields.
    """
    given = {
        name: value
        for name, value in zip(
            ACCOUNT_ARGUMENTS, (account_conn_pattern, refresh_tokens_sql_conn_id, refresh_tokens_sql), strict=True
        )
        if value is not None
    }
    for name, value in given.items():
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(name, f"{value!r} is not a non-empty string", "give the text, or leave it out")
    if "account_conn_pattern" in given and len(given) > 1:
        raise InvalidInputError(
            "account_conn_pattern",
            "it is given together with refresh_tokens_sql_conn_id/refresh_tokens_sql",
            "choose one source of per-account credentials: a connection per account, or refresh tokens from SQL",
        )
    sql_args = [name for name in ACCOUNT_ARGUMENTS[1:] if name in given]
    if len(sql_args) == 1:
        missing = ACCOUNT_ARGUMENTS[2] if sql_args[0] == ACCOUNT_ARGUMENTS[1] else ACCOUNT_ARGUMENTS[1]
        raise InvalidInputError(missing, "it is missing", f"give {missing} together with {sql_args[0]}")
    if "account_conn_pattern" in given:
        _check_pattern(given["account_conn_pattern"])
    return given


def _check_pattern(pattern: str) -> None:
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(pattern)]
    except ValueError as exc:  # a lone brace
        raise InvalidInputError(
            "account_conn_pattern", f"{pattern!r} is not a format pattern ({exc})", _PATTERN_FIX
        ) from None
    named = [field for field in fields if field[0] is not None]
    if not named or any(field != ("portal_id", "", None) for field in named):
        raise InvalidInputError("account_conn_pattern", f"{pattern!r} does not name {{portal_id}} alone", _PATTERN_FIX)
