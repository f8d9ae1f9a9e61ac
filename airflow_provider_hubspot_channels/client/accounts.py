"""Many HubSpot accounts ("portals") in one task: a client per account, built lazily, all on one transport.

An app is installed in many HubSpot accounts; each installation has its own refresh token and its own rate limit.
:class:`MultiAccountClient` builds an account's :class:`HubSpotChannelsClient` the first time a record names the
account, from the credentials a callable looks up (an Airflow connection, a row of the integrator's table, ...). Per
account stay only what must: its token source, its :class:`RateBudget` and its remembered refusals; the session,
connection pools, deadline watchdog, redactor and usage counters are shared, so memory and connections stay bounded
however many accounts a batch holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_hubspot_channels.client.auth import normalize_hub_id
from airflow_provider_hubspot_channels.client.client import HubSpotChannelsClient
from airflow_provider_hubspot_channels.client.config import ClientConfig
from airflow_provider_hubspot_channels.client.errors import HubSpotChannelsError, InvalidInputError
from airflow_provider_hubspot_channels.client.transport import SharedTransport
from airflow_provider_hubspot_channels.client.usage import UsageCounters

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, repr=False)
class AccountCredentials:
    """How to authenticate as one HubSpot account: a static ``access_token``, or ``client_id`` + ``client_secret`` +
    ``refresh_token`` (the app's id and secret, the installation's refresh token).

    :param config: URLs, versions, timeouts, retries and rate budget of this account's client.
    :param access_token: a static access token (cannot be checked against the account: no token answer names it).
    :param client_id: the app's OAuth client id.
    :param client_secret: the app's OAuth client secret.
    :param refresh_token: the installation's refresh token.
    """

    config: ClientConfig = field(default_factory=ClientConfig)
    access_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None

    def __post_init__(self) -> None:
        oauth = {"client_id": self.client_id, "client_secret": self.client_secret, "refresh_token": self.refresh_token}
        given = [name for name, value in oauth.items() if value]
        if given and len(given) < 3:
            missing = ", ".join(name for name in oauth if name not in given)
            raise InvalidInputError(
                missing, "OAuth refresh needs client_id, client_secret and refresh_token", f"give {missing} too"
            )
        if given and self.access_token:
            raise InvalidInputError(
                "access_token", "both a static token and OAuth refresh are given", "give one of the two"
            )
        if not given and not self.access_token:
            raise InvalidInputError(
                "access_token", "no credentials", "give access_token, or client_id, client_secret and refresh_token"
            )

    def __repr__(self) -> str:
        return f"AccountCredentials(config={self.config!r}, oauth={self.client_id is not None}, secrets=***)"


class AccountCredentialsError(HubSpotChannelsError):
    """The credentials of one account are missing or cannot be read or used: that account's records fail, others go
    on. Final: the lookup is not repeated for the account in this run.

    :param portal_id: the account.
    :param problem: what is wrong (never a secret value).
    :param fix: what to do about it.
    :param retryable: the lookup failed in a way a later try may not (a secrets backend or database that timed
        out); missing or unusable credentials are not.
    """

    def __init__(self, portal_id: str, problem: str, fix: str, *, retryable: bool = False) -> None:
        self.portal_id = portal_id
        self.problem = problem
        self.fix = fix
        self.retryable = retryable
        super().__init__(f"account {portal_id}: {problem}. Fix: {fix}")

    @property
    def retry_may_succeed(self) -> bool:
        """Missing or unusable credentials stay so until someone fixes them; a lookup that failed may not."""
        return self.retryable

    def again(self) -> AccountCredentialsError:
        """A new error like this one, to raise for a remembered failure (one object raised in many threads would
        share, and grow, one traceback)."""
        return AccountCredentialsError(self.portal_id, self.problem, self.fix, retryable=self.retryable)


#: How errors name the task connection's account (records without a portal id).
CONNECTION_LABEL = "of the connection"

#: Builds the client of records without a portal id (the task connection's account) on the shared transport.
DefaultFactory = Callable[[SharedTransport], HubSpotChannelsClient]


class MultiAccountClient:
    """One :class:`HubSpotChannelsClient` per HubSpot account, built on first use, all on one shared transport.

    Thread-safe: many threads may ask for clients at once; each account's credentials are looked up once, and a
    failed lookup is remembered and raised again for that account without asking again.

    :param credentials: looks up an account's credentials by its portal id (decimal text); raises
        :class:`AccountCredentialsError` (or anything: reported by type only, as its text may hold a secret).
    :param default: the client of records without a portal id (the task connection's account): a client, or a
        factory given the shared transport, called once when first needed; None: such records fail.
    :param pool_size: HTTP connections kept open per origin, for all accounts together.
    :param on_new_token: called with every secret before it is used (Airflow: ``mask_secret``).
    :param on_refresh_token_rotated: called with the portal id and the new refresh token when HubSpot rotates one.
    """

    def __init__(
        self,
        *,
        credentials: Callable[[str], AccountCredentials],
        default: HubSpotChannelsClient | DefaultFactory | None = None,
        pool_size: int = 10,
        on_new_token: Callable[[str], None] = lambda _secret: None,
        on_refresh_token_rotated: Callable[[str, str], None] = lambda _portal, _token: None,
    ) -> None:
        self._credentials = credentials
        self._default_source = default
        self._default: HubSpotChannelsClient | None = default if isinstance(default, HubSpotChannelsClient) else None
        self._on_new_token = on_new_token
        self._on_rotated = on_refresh_token_rotated
        self._transport = SharedTransport(pool_size=pool_size)
        # An account's client, or the error its lookup ended with. Read without the lock (a dict lookup is atomic);
        # written under it. A build lock per account while it is built: one lookup per account, and a slow lookup
        # of one account never holds up the others.
        self._clients: dict[str, HubSpotChannelsClient | AccountCredentialsError] = {}
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._default_lock = threading.Lock()
        self._default_error: AccountCredentialsError | None = None  # the default factory failed: not asked again
        self._stopped = False
        self._closed = False

    def __repr__(self) -> str:
        return f"MultiAccountClient(accounts={len(self._clients)}, transport={self._transport!r})"

    @property
    def usage(self) -> UsageCounters:
        """What every account's client sent and waited for (``usage.snapshot()``); a ``default`` client given ready
        built counts on its own transport."""
        return self._transport.usage

    def client_for(self, portal_id: str | None) -> HubSpotChannelsClient:
        """The client of one account, built on first use.

        :param portal_id: the account's portal id (decimal text; leading zeros and outer spaces ignored), or None for
            the task connection's account (``default``).
        :raises AccountCredentialsError: the account's credentials are missing or unusable (also on every later ask).
        :raises InvalidInputError: ``portal_id`` is not an account id.
        """
        if portal_id is None:
            return self._default_client()
        key = normalize_hub_id(portal_id, field="portal_id")
        entry = self._clients.get(key)
        if entry is None:
            with self._lock:
                building = self._building.setdefault(key, threading.Lock())
            with building:
                entry = self._clients.get(key)
                if entry is None:
                    entry = self._build(key)
                    with self._lock:
                        self._clients[key] = entry
                        self._building.pop(key, None)
                        if self._stopped and isinstance(entry, HubSpotChannelsClient):
                            entry.stop()
        if isinstance(entry, AccountCredentialsError):
            raise entry.again()
        return entry

    def _build(self, portal_id: str) -> HubSpotChannelsClient | AccountCredentialsError:
        try:
            found = self._credentials(portal_id)
            if not isinstance(found, AccountCredentials):
                raise TypeError(f"the credentials lookup returned {type(found).__name__}, not AccountCredentials")
            if found.access_token:
                log.warning(
                    "HubSpot account %s uses a static access token: no token answer names its account, so it cannot "
                    "be checked to belong to account %s (OAuth refresh credentials are checked)",
                    portal_id,
                    portal_id,
                )
            return HubSpotChannelsClient(
                config=found.config,
                access_token=found.access_token,
                client_id=found.client_id,
                client_secret=found.client_secret,
                refresh_token=found.refresh_token,
                on_new_token=self._on_new_token,
                on_refresh_token_rotated=lambda token: self._on_rotated(portal_id, token),
                expected_hub_id=portal_id,
                shared=self._transport,
            )
        except AccountCredentialsError as exc:
            return exc
        except InvalidInputError as exc:
            return AccountCredentialsError(
                portal_id, f"its credentials are unusable ({exc.field}: {exc.problem})", exc.fix
            )
        except Exception as exc:
            # Only the type: the text of a failed lookup (a database URL, a backend's answer) may hold a secret.
            log.warning("Reading the credentials of HubSpot account %s failed: %s", portal_id, type(exc).__name__)
            return AccountCredentialsError(
                portal_id,
                f"reading its credentials failed ({type(exc).__name__})",
                "check the credentials store this account's credentials come from; the task log has the error type",
                retryable=True,  # not known to be missing: a backend that timed out may answer the task's retry
            )

    def _default_client(self) -> HubSpotChannelsClient:
        client = self._default
        if client is not None:
            return client
        source = self._default_source
        if source is None or isinstance(source, HubSpotChannelsClient):
            raise AccountCredentialsError(
                "(none)",
                "the record names no portal_id and this task has no default account",
                "give every record its portal_id",
            )
        with self._default_lock:  # its own lock: reading a connection must not hold up other accounts
            failed = self._default_error
            if self._default is None and failed is None:
                try:
                    built = source(self._transport)
                except AccountCredentialsError as exc:  # known to be missing or unusable (the hook says so)
                    failed = self._default_error = exc
                except Exception as exc:
                    # Only the type: the text (a connection URI, a backend's answer) may hold a secret.
                    log.warning("Building the task connection's HubSpot client failed: %s", type(exc).__name__)
                    failed = self._default_error = AccountCredentialsError(
                        CONNECTION_LABEL,
                        f"building the task connection's client failed ({type(exc).__name__})",
                        "check the task's HubSpot connection (hubspot_conn_id), or give every record its portal_id; "
                        "the task log has the error type",
                        retryable=True,  # not known to be missing: a backend that timed out may answer a retry
                    )
                else:
                    with self._lock:
                        self._default = built
                        if self._stopped:
                            built.stop()
            if failed is not None:
                raise failed.again()
            assert self._default is not None
            return self._default

    def _built(self) -> list[HubSpotChannelsClient]:
        with self._lock:
            clients = [entry for entry in self._clients.values() if isinstance(entry, HubSpotChannelsClient)]
            if self._default is not None:
                clients.append(self._default)
        return clients

    def redact(self, text: str) -> str:
        """``text`` without any form of any secret of any account's client.

        :param text: e.g. an exception's text, before it is logged or reported.
        """
        text = self._transport.redactor.redact(text)
        default = self._default
        if default is not None and default.session is not self._transport.session:
            text = default.redact(text)
        return text

    def stop(self) -> None:
        """Stop every account's client (task killed): calls give up promptly; clients built later start stopped."""
        with self._lock:
            self._stopped = True
        for client in self._built():
            client.stop()

    def close(self) -> None:
        """Close the shared session's connections and its watchdog, once."""
        with self._lock:
            closed, self._closed = self._closed, True
        if not closed:
            self._transport.close()

    def __enter__(self) -> MultiAccountClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["AccountCredentials", "AccountCredentialsError", "MultiAccountClient"]
