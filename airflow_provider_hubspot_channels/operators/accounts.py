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

from typing import Any

from airflow_provider_hubspot_channels.hooks.accounts import validate_account_arguments

#: The operators' arguments for per-account credentials, as the hook takes them.
ACCOUNT_ARGUMENTS = ("account_conn_pattern", "refresh_tokens_sql_conn_id", "refresh_tokens_sql")


def account_settings(
    account_conn_pattern: Any = None, refresh_tokens_sql_conn_id: Any = None, refresh_tokens_sql: Any = None
) -> dict[str, str]:
    """The hook's keyword arguments for per-account credentials (empty: one account, the connection's), checked by
    the hook's own rule (:func:`~airflow_provider_hubspot_channels.hooks.accounts.validate_account_arguments`).

    :param account_conn_pattern: an Airflow connection id per account, with ``{portal_id}``.
    :param refresh_tokens_sql_conn_id: the SQL connection holding each installation's refresh token.
    :param refresh_tokens_sql: the query returning one account's refresh token, with a ``portal_id`` parameter.
    :raises InvalidInputError: naming the argument: both ways at once, one SQL argument without the other, an empty
        value, or a pattern without ``{portal_id}`` or with other fields.
    """
    values = (account_conn_pattern, refresh_tokens_sql_conn_id, refresh_tokens_sql)
    given = {name: value for name, value in zip(ACCOUNT_ARGUMENTS, values, strict=True) if value is not None}
    validate_account_arguments(
        account_conn_pattern=account_conn_pattern,
        refresh_tokens_sql_conn_id=refresh_tokens_sql_conn_id,
        refresh_tokens_sql=refresh_tokens_sql,
    )
    return given
