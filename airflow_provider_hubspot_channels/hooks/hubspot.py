"""Airflow Connection -> HubSpot client.

Secrets come only from the Connection (password, ``client_secret``, ``refresh_token``), never from operator
arguments. Nothing happens in ``__init__`` (DAG parsing runs constructors); the client is built on first use.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotChannelsError,
    HubSpotPermissionError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.client.accounts import MultiAccountClient
from airflow_provider_hubspot_channels.client.config import DEFAULT_BASE_URL, is_loopback
from airflow_provider_hubspot_channels.client.secrets import secret_forms, validate_secret
from airflow_provider_hubspot_channels.client.transport import SharedTransport
from airflow_provider_hubspot_channels.get_provider_info import CONN_FIELDS, CONN_TYPE, UI_FIELD_BEHAVIOUR
from airflow_provider_hubspot_channels.hooks.rotation import newest_refresh_token, store_rotated_refresh_token
from airflow_provider_hubspot_channels.validation import validate_channel_id

if TYPE_CHECKING:
    from airflow_provider_hubspot_channels.hooks.accounts import CredentialSource


#: Airflow 3.1's Task SDK asks its supervisor for connections, Variables and secret masks over one channel without a
#: lock: lookups from several threads at once can swap answers (one account's token in another's client) or hang.
#: A hook serving many accounts looks them up from the runner's threads, so every such lookup takes this lock (3.2+
#: lock the channel themselves; one more lock costs nothing there).
_AIRFLOW_LOOKUPS = threading.RLock()
_R = TypeVar("_R")


def one_lookup_at_a_time(call: Callable[..., _R]) -> Callable[..., _R]:
    """``call`` made under the process-wide lock of Airflow lookups (see :data:`_AIRFLOW_LOOKUPS`).

    :param call: a function that reads connections or Variables, or masks secrets.
    """

    @functools.wraps(call)
    def locked(*args: Any, **kwargs: Any) -> _R:
        with _AIRFLOW_LOOKUPS:
            return call(*args, **kwargs)

    return locked


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the client needs, read and validated from one Airflow Connection.

    :param config: URLs, versions, timeouts, retries and rate budget.
    :param access_token: static access token (the password), if any.
    :param client_id: OAuth client id, if OAuth refresh is configured.
    :param client_secret: OAuth client secret.
    :param refresh_token: OAuth refresh token.
    :param channel_id: the channel Test connection reads, if set.
    """

    config: ClientConfig
    access_token: str | None
    client_id: str | None
    client_secret: str | None
    refresh_token: str | None
    channel_id: int | None

    def __repr__(self) -> str:
        return f"ConnectionSettings(config={self.config!r}, oauth={self.client_id is not None}, secrets=***)"


def _extra(extras: Mapping[str, Any], name: str) -> Any:
    """A connection extra by its name or its legacy ``extra__hubspot_channels__<name>`` key; blank means unset."""
    value = extras.get(name)
    if value is None or value == "":
        value = extras.get(f"extra__{CONN_TYPE}__{name}")
    if isinstance(value, str):
        value = value.strip()
    return None if value in (None, "") else value


def base_url_from_connection(host: str | None, port: int | str | None) -> str:
    """The API base URL from the connection's host and port, as users write them.

    ``host`` may be a full URL (``http://127.0.0.1:8765``, the form's way) or a bare host name (Airflow's URI form
    ``hubspot-channels://:token@127.0.0.1:8765/`` stores ``127.0.0.1`` and port 8765). A bare host is reached over
    HTTPS, except a loopback host (the bundled simulator, a local proxy), which is reached over plain HTTP; write the
    scheme in the host to choose otherwise. A port given both in the URL and in the port field must agree.

    :param host: the connection's host; empty means HubSpot's.
    :param port: the connection's port, if any.
    """
    text = (host or "").strip() or DEFAULT_BASE_URL
    if "://" not in text:
        if text.count(":") > 1 and not text.startswith("["):  # a bare IPv6 address
            text = f"[{text}]"
        bare = urlsplit(f"//{text}")
        text = f"{'http' if is_loopback(bare.hostname or '') else 'https'}://{text}"
    if port in (None, ""):
        return text
    parts = urlsplit(text)
    try:
        given = parts.port
    except ValueError:
        given = None  # validate_base_url names the bad URL
    if str(port).strip() != str(given) and given is not None:
        raise InvalidInputError(
            "port", f"{port} differs from the port {given} in the host URL", "give the port in one place only"
        )
    if given is None and parts.hostname:
        netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        text = parts._replace(netloc=f"{netloc}:{str(port).strip()}").geturl()
    return text


def config_from_connection(
    *, host: str | None, extras: Mapping[str, Any], port: int | str | None = None
) -> ClientConfig:
    """The client settings of a connection (URL, versions, timeouts, retries, budget), without its credentials.

    :param host: the connection's host (base URL or host name); empty means HubSpot's.
    :param extras: the connection's extra fields.
    :param port: the connection's port, if any (see :func:`base_url_from_connection`).
    """
    options: dict[str, Any] = {"base_url": base_url_from_connection(host, port)}
    for name in ("api_version", "inbox_api_version", "timeout", "max_retries", "max_requests_per_10s", "budget_share"):
        value = _extra(extras, name)
        if value is not None:
            options[name] = value
    return ClientConfig(**options)


def mask_connection_secrets(conn: Any) -> None:
    """Mask every form a connection's secrets can take in text, as stored (a wrapped one too), before anything can
    fail with them.

    :param conn: an Airflow connection of type ``hubspot_channels``.
    """
    extras = conn.extra_dejson
    for secret in (conn.password, _extra(extras, "client_secret"), _extra(extras, "refresh_token")):
        mask_secret_forms(secret)


def mask_secret_forms(secret: object) -> None:
    """Mask every form of one secret (raw, stripped, JSON, repr, URL-encoded) in Airflow's logs.

    :param secret: a secret as read; anything but a non-empty string is ignored.
    """
    if isinstance(secret, str) and secret.strip():
        for form in secret_forms(secret) | secret_forms(secret.strip()):
            mask_secret(form)


def settings_from_connection(
    *, host: str | None, password: str | None, extras: Mapping[str, Any], port: int | str | None = None
) -> ConnectionSettings:
    """Read and validate connection fields; errors name the form field and the fix.

    :param host: the connection's host (base URL or host name); empty means HubSpot's.
    :param password: the static access token, if any.
    :param extras: the connection's extra fields.
    :param port: the connection's port, if any (see :func:`base_url_from_connection`).
    """
    config = config_from_connection(host=host, port=port, extras=extras)
    oauth = {name: _extra(extras, name) for name in ("client_id", "client_secret", "refresh_token")}
    given = [name for name, value in oauth.items() if value]
    if given and len(given) < 3:
        missing = ", ".join(name for name in oauth if name not in given)
        raise InvalidInputError(
            missing,
            "OAuth refresh needs all three of client_id, client_secret, refresh_token",
            f"set {missing} too, or clear {', '.join(given)} to use a static access token",
        )
    token = (password or "").strip() or None
    if not given and not token:
        raise InvalidInputError(
            "password",
            "the connection has no access token and no OAuth refresh settings",
            "put an access token in the password field, or set client_id, client_secret and refresh_token",
        )
    # A wrapped secret (a line break from a secrets backend) would reach http.client, whose error quotes the header;
    # refused here, naming the field, never the value. Outer whitespace is stripped.
    if given:
        oauth = {name: validate_secret(value, field=name) for name, value in oauth.items()}
    elif token is not None:
        token = validate_secret(token, field="password")
    channel = _extra(extras, "channel_id")
    return ConnectionSettings(
        config=config,
        # With OAuth refresh the password is ignored: an old token there (e.g. from a previous install) would be
        # trusted until HubSpot refused it, and a 401 is not the signal to refresh; a fresh token costs one request.
        access_token=None if given else token,
        client_id=oauth["client_id"],
        client_secret=oauth["client_secret"],
        refresh_token=oauth["refresh_token"],
        channel_id=validate_channel_id(channel, field="channel_id") if channel is not None else None,
    )


class HubSpotChannelsHook(BaseHook):
    """Talks to HubSpot's Custom Channels API through an Airflow Connection of type ``hubspot_channels``.

    Many accounts (records naming a ``portal_id``): :attr:`clients` gives each account its own client, with
    credentials from one connection per account (``account_conn_pattern``) or from the app's connection plus a
    refresh token per account from an SQL table (``refresh_tokens_sql_conn_id`` and ``refresh_tokens_sql``).

    :param hubspot_conn_id: the Airflow Connection to use (with SQL refresh tokens: the app's client id and secret).
    :param pool_size: HTTP connections kept open; at least the number of threads sharing the hook (for many
        accounts: per origin, for all accounts together).
    :param account_conn_pattern: the connection id of each account, with ``{portal_id}`` where the account goes,
        e.g. ``hubspot_channels_{portal_id}``.
    :param refresh_tokens_sql_conn_id: an SQL connection (any ``common.sql`` hook) holding each installation's
        refresh token.
    :param refresh_tokens_sql: the query returning an account's refresh token (first column of the first row), with
        the parameter ``portal_id`` in the database's paramstyle, e.g.
        ``SELECT refresh_token FROM installations WHERE portal_id = :portal_id``.
    """

    conn_name_attr = "hubspot_conn_id"
    default_conn_name = "hubspot_channels_default"
    conn_type = CONN_TYPE
    hook_name = "HubSpot Custom Channels"

    def __init__(
        self,
        *,
        hubspot_conn_id: str = default_conn_name,
        pool_size: int = 10,
        account_conn_pattern: str | None = None,
        refresh_tokens_sql_conn_id: str | None = None,
        refresh_tokens_sql: str | None = None,
    ) -> None:
        super().__init__()
        self.hubspot_conn_id = hubspot_conn_id
        self.pool_size = pool_size
        self.account_conn_pattern = account_conn_pattern
        self.refresh_tokens_sql_conn_id = refresh_tokens_sql_conn_id
        self.refresh_tokens_sql = refresh_tokens_sql
        # Imported here: hooks/accounts.py builds on this module's connection settings.
        from airflow_provider_hubspot_channels.hooks.accounts import validate_account_arguments

        validate_account_arguments(
            account_conn_pattern=account_conn_pattern,
            refresh_tokens_sql_conn_id=refresh_tokens_sql_conn_id,
            refresh_tokens_sql=refresh_tokens_sql,
        )
        self._stopped = False
        # Guards the stop flag and the built clients together: a stop from another thread (on_kill's kill switch)
        # while a client is being built must stop that client too.
        self._lock = threading.Lock()
        self._built: HubSpotChannelsClient | None = None
        self._clients: MultiAccountClient | None = None

    def __repr__(self) -> str:
        return f"HubSpotChannelsHook(hubspot_conn_id={self.hubspot_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour for Airflow 3.1, which predates the declarative ``ui-field-behaviour``."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Form fields for Airflow 3.1, which predates the declarative ``conn-fields`` (needs wtforms and FAB)."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from wtforms import IntegerField, PasswordField, StringField

        widgets: dict[str, Any] = {}
        for name, field in CONN_FIELDS.items():
            schema = field["schema"]
            label, description, default = field["label"], field["description"], schema.get("default")
            if schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
            elif "integer" in schema["type"]:
                widgets[name] = IntegerField(
                    label, widget=BS3TextFieldWidget(), default=default, description=description
                )
            else:
                widgets[name] = StringField(
                    label, widget=BS3TextFieldWidget(), default=default, description=description
                )
        return widgets

    def connection_settings(self) -> ConnectionSettings:
        """Read the Connection and validate it (no request is sent)."""
        conn = self.get_connection(self.hubspot_conn_id)
        mask_connection_secrets(conn)
        try:
            return settings_from_connection(
                host=conn.host, port=conn.port, password=conn.password, extras=conn.extra_dejson
            )
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"connection '{self.hubspot_conn_id}' field {exc.field}", exc.problem, exc.fix
            ) from None

    @cached_property
    def client(self) -> HubSpotChannelsClient:
        """The HubSpot client, built on first use from the Connection."""
        settings = self.connection_settings()
        client = self._client_for(settings, settings.config)
        with self._lock:
            self._built = client
            if self._stopped:  # killed while the connection was being read or the client built
                client.stop()
        return client

    @property
    def clients(self) -> MultiAccountClient:
        """A client per HubSpot account (records' ``portal_id``), built lazily on one shared transport; records
        without a portal id use this connection's own account (its client is built only when one needs it)."""
        with self._lock:
            if self._clients is None:
                source = self._credential_source()
                self._clients = MultiAccountClient(
                    credentials=one_lookup_at_a_time(source),
                    default=one_lookup_at_a_time(self._default_client),
                    pool_size=self.pool_size,
                    on_new_token=one_lookup_at_a_time(mask_secret),
                    on_refresh_token_rotated=one_lookup_at_a_time(source.store_rotated),
                )
                if self._stopped:
                    self._clients.stop()
            return self._clients

    def _credential_source(self) -> CredentialSource:
        from airflow_provider_hubspot_channels.hooks.accounts import (
            NoAccountCredentials,
            connection_per_account,
            refresh_tokens_from_sql,
        )

        if self.account_conn_pattern is not None:
            return connection_per_account(self.account_conn_pattern)
        if self.refresh_tokens_sql_conn_id is not None and self.refresh_tokens_sql is not None:
            return refresh_tokens_from_sql(
                self.refresh_tokens_sql_conn_id, self.refresh_tokens_sql, app_conn_id=self.hubspot_conn_id
            )
        return NoAccountCredentials()

    def _default_client(self, shared: SharedTransport) -> HubSpotChannelsClient:
        """The client of records without a portal id; a connection that is missing or unusable is said so (final),
        anything else (a secrets backend that timed out) is left to the caller as a failure a retry may cure."""
        from airflow_provider_hubspot_channels.client.accounts import CONNECTION_LABEL, AccountCredentialsError
        from airflow_provider_hubspot_channels.hooks.accounts import not_found_error

        try:
            settings = self.connection_settings()
        except not_found_error():
            raise AccountCredentialsError(
                CONNECTION_LABEL,
                f"there is no Airflow connection {self.hubspot_conn_id!r} (hubspot_conn_id)",
                "create it, or give every record its portal_id",
            ) from None
        except InvalidInputError as exc:
            raise AccountCredentialsError(CONNECTION_LABEL, f"{exc.field}: {exc.problem}", exc.fix) from None
        return self._client_for(settings, settings.config, shared=shared)

    def _client_for(
        self, settings: ConnectionSettings, config: ClientConfig, *, shared: SharedTransport | None = None
    ) -> HubSpotChannelsClient:
        configured = settings.refresh_token
        refresh_token = configured
        if configured is not None:
            # A refresh token HubSpot rotated in an earlier run (hooks/rotation.py), while it descends from this one.
            refresh_token = newest_refresh_token(self.hubspot_conn_id, configured)
            if refresh_token != configured:
                mask_secret(refresh_token)

        def keep_rotated(rotated: str) -> None:
            if configured is not None:
                store_rotated_refresh_token(self.hubspot_conn_id, configured, rotated)

        return HubSpotChannelsClient(
            config=config,
            access_token=settings.access_token,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            refresh_token=refresh_token,
            # Called from the runner's threads, beside other accounts' refreshes.
            on_new_token=one_lookup_at_a_time(mask_secret),
            on_refresh_token_rotated=one_lookup_at_a_time(keep_rotated),
            pool_size=self.pool_size,
            shared=shared,
        )

    def get_conn(self) -> HubSpotChannelsClient:
        """The HubSpot client (Airflow's conventional accessor)."""
        return self.client

    def get_channel(self, channel_id: int | str) -> dict[str, Any]:
        """Read a custom channel; a cheap authenticated call (scope ``conversations.custom_channels.read``).

        :param channel_id: the channel's numeric id.
        :return: HubSpot's channel object (``id``, ``name``, ...).
        """
        return self.client.get_channel(channel_id)

    def get_message(self, channel_id: int | str, message_id: str) -> dict[str, Any]:
        """Read one message with its current status (scope ``conversations.custom_channels.read``).

        :param channel_id: the channel's numeric id.
        :param message_id: the message id from HubSpot's webhook (opaque, never parsed).
        :return: HubSpot's message; its status is at ``["status"]["statusType"]`` (``status`` may be absent).
        """
        return self.client.get_message(channel_id, message_id)

    def update_message_status(
        self, channel_id: int | str, message_id: str, status_type: str, error_message: str | None = None
    ) -> dict[str, Any]:
        """Report a message's delivery outcome (scope ``conversations.custom_channels.write``).

        The input is validated before any request; nothing is read first (a READ in HubSpot would be overwritten:
        read the message with :meth:`get_message` first where that matters).

        :param channel_id: the channel's numeric id.
        :param message_id: the message id from HubSpot's webhook (opaque, never parsed).
        :param status_type: ``SENT``, ``READ`` or ``FAILED`` (any case).
        :param error_message: what agents see in the inbox for a FAILED message, at most 500 characters.
        :return: the updated message.
        """
        return self.client.update_message_status(channel_id, message_id, status_type, error_message)

    def publish_message(
        self,
        channel_id: int | str,
        *,
        channel_account_id: str,
        text: str,
        senders: Sequence[Mapping[str, Any]],
        recipients: Sequence[Mapping[str, Any]],
        message_direction: str = "INCOMING",
        timestamp: str | None = None,
        rich_text: str | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
        integration_thread_id: str | None = None,
        in_reply_to_id: str | None = None,
        integration_idempotency_id: str | None = None,
    ) -> dict[str, Any]:
        """Publish a message over the channel (scope ``conversations.custom_channels.write``).

        :param channel_id: the channel's numeric id.
        :param channel_account_id: the channel account it belongs to.
        :param text: plain text of the message.
        :param senders: participants, each with ``deliveryIdentifier`` ``{type, value}`` and optional ``name``.
        :param recipients: participants like ``senders``.
        :param message_direction: ``INCOMING`` (from a customer) or ``OUTGOING``.
        :param timestamp: ISO 8601 time of the message; now if omitted.
        :param rich_text: optional HTML body.
        :param attachments: HubSpot attachment objects.
        :param integration_thread_id: your thread id, to group messages in one HubSpot thread.
        :param in_reply_to_id: id of the message this one answers.
        :param integration_idempotency_id: your id that makes re-publishing safe; a random one per call if omitted,
            so that the client's own retries never publish twice.
        :return: the created message.
        """
        return self.client.publish_message(
            channel_id,
            channel_account_id=channel_account_id,
            text=text,
            senders=senders,
            recipients=recipients,
            message_direction=message_direction,
            timestamp=timestamp,
            rich_text=rich_text,
            attachments=attachments,
            integration_thread_id=integration_thread_id,
            in_reply_to_id=in_reply_to_id,
            integration_idempotency_id=integration_idempotency_id,
        )

    def iter_threads(self, *, inbox_id: int | str, latest_message_timestamp_after: str) -> Iterator[dict[str, Any]]:
        """Threads of one inbox with activity after a time, oldest first, page by page (scope ``conversations.read``).

        :param inbox_id: the inbox (HubSpot accepts one per query).
        :param latest_message_timestamp_after: ISO 8601 time; threads with a message after it.
        :return: an iterator of HubSpot's thread objects; pages are fetched as it is consumed.
        """
        return self.client.iter_threads(
            inbox_id=inbox_id, latest_message_timestamp_after=latest_message_timestamp_after
        )

    def iter_thread_messages(self, thread_id: int | str) -> Iterator[dict[str, Any]]:
        """Every entry of a thread (messages, comments, ...), oldest first, page by page (scope ``conversations.read``).

        :param thread_id: the thread's id.
        :return: an iterator of HubSpot's entries; keep ``type == "MESSAGE"`` for messages.
        """
        return self.client.iter_thread_messages(thread_id)

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call: read the connection's test channel; never raises.

        Its own client has no retries and a timeout of at most 5 s, so the answer (a token request with OAuth,
        then one GET) comes within Airflow's 60 s limit for connection tests, whatever the task settings are.
        """
        client: HubSpotChannelsClient | None = None
        try:
            settings = self.connection_settings()
            config = dataclasses.replace(
                settings.config, max_retries=0, max_retry_wait=0, timeout=min(settings.config.timeout, 5.0)
            )
            client = self._client_for(settings, config)
            if settings.channel_id is None:
                if settings.client_id:
                    client.authenticate()
                    return True, "OAuth refresh works. Set 'Channel ID for Test' to also check the token's scopes."
                return False, "Set 'Channel ID for Test' so Test connection can read a channel with this token."
            channel = client.get_channel(settings.channel_id)
            return True, f"Connected: channel {channel.get('id')} ({channel.get('name', 'unnamed')}) is readable."
        except HubSpotPermissionError as exc:
            scopes = ", ".join(exc.missing_scopes) or "see HubSpot's message"
            return False, f"The token lacks scopes ({scopes}): {exc}"
        except HubSpotChannelsError as exc:
            return False, str(exc)
        except Exception as exc:
            # The test button must answer, never crash the worker; the type tells what kind of failure it was. The
            # text of an exception from below may hold a header value: redacted like every text the client builds.
            text = f"{type(exc).__name__}: {exc}"
            return False, client.redact(text) if client is not None else text
        finally:
            if client is not None:
                client.close()

    def stop(self) -> None:
        """Make every client's waiting and retrying calls give up at once (``on_kill``), also clients built later
        (every account's)."""
        with self._lock:
            self._stopped = True
            client, clients = self._built, self._clients
        if client is not None:
            client.stop()
        if clients is not None:
            clients.stop()

    def close(self) -> None:
        """Close the pooled connections of every client built (every account's)."""
        with self._lock:
            client, clients = self._built, self._clients
        if client is not None:
            client.close()
        if clients is not None:
            clients.close()

    def __enter__(self) -> HubSpotChannelsHook:
        """Use the hook in a ``with`` block (a TaskFlow task's custom logic); nothing is read or built yet."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the client's connections; an exception from the block goes on unchanged."""
        self.close()


__all__ = ["ConnectionSettings", "HubSpotChannelsHook", "settings_from_connection"]
