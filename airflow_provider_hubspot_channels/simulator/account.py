"""One simulated HubSpot account ("portal"): its data, its tokens and its rate limiter.

A HubSpot app is installed in many accounts; each installation has its own refresh token, data and rate limit
(110 requests per 10 s for OAuth apps). :class:`SimulatedAccount` is one of them, and :class:`AccountData` holds
the seeding and inspection methods an account offers (the simulator's own methods act on its default account).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .auth import ALL_SCOPES, TokenStore
from .rate_limit import RateLimiter
from .scenarios import ScenarioSeed, seed_scenario
from .state import SimulatorState


class AccountData:
    """Seeding, inspection and tokens of one account: works on :attr:`state` and :attr:`tokens` for :attr:`hub_id`."""

    state: SimulatorState
    tokens: TokenStore
    seed: int
    _hub_id: int
    #: Whether :meth:`seed_scenario` records name the account as ``portal_id``.
    names_portal: bool = True

    @property
    def hub_id(self) -> int:
        """The account's portal id (``hubId``, ``portalId``)."""
        return self._hub_id

    def issue_token(self, scopes: Iterable[str] = ALL_SCOPES, lifetime: float | None = None) -> str:
        """Mint an access token of this account, e.g. one lacking a scope to provoke 403.

        :param scopes: scopes to grant.
        :param lifetime: seconds until expiry; ``token_lifetime`` when None; ``float("inf")`` for never.
        """
        return self.tokens.issue_access(scopes, lifetime, hub_id=self.hub_id)

    def issue_refresh_token(self, scopes: Iterable[str] = ALL_SCOPES) -> str:
        """Mint a refresh token of this account.

        :param scopes: scopes of the access tokens it mints.
        """
        return self.tokens.issue_refresh(scopes, hub_id=self.hub_id)

    # -------------------------------------------------------------------------------------------- seeding

    def add_inbox(
        self, inbox_id: int | None = None, *, name: str = "Support", created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add an inbox. See :meth:`SimulatorState.add_inbox`.

        :param inbox_id: int32 id; the next free id when None.
        :param name: display name.
        :param created_at: creation time; now when None.
        """
        return self.state.add_inbox(inbox_id, name=name, created_at=created_at)

    def add_channel(
        self,
        channel_id: int | None = None,
        *,
        name: str = "Simulated SMS",
        webhook_url: str = "https://integrator.example/hubspot/webhook",
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a custom channel. See :meth:`SimulatorState.add_channel`.

        :param channel_id: int32 id; the next free id when None.
        :param name: display name.
        :param webhook_url: the channel's webhook URL.
        :param created_at: creation time; now when None.
        """
        return self.state.add_channel(channel_id, name=name, webhook_url=webhook_url, created_at=created_at)

    def add_channel_account(
        self,
        channel_id: int,
        channel_account_id: int | None = None,
        *,
        inbox_id: int | None = None,
        name: str = "Support line",
        delivery_identifier: Mapping[str, str] | None = None,
        authorized: bool = True,
    ) -> dict[str, Any]:
        """Add a channel account. See :meth:`SimulatorState.add_channel_account`.

        :param channel_id: an existing channel.
        :param channel_account_id: int64 id; the next free id when None.
        :param inbox_id: an existing inbox; the first inbox when None.
        :param name: display name.
        :param delivery_identifier: ``{"type", "value"}``; a generated phone number when None.
        :param authorized: authorized flag.
        """
        return self.state.add_channel_account(
            channel_id,
            channel_account_id,
            inbox_id=inbox_id,
            name=name,
            delivery_identifier=delivery_identifier,
            authorized=authorized,
        )

    def add_thread(
        self,
        channel_id: int,
        thread_id: int | None = None,
        *,
        channel_account_id: int | None = None,
        recipient: str | None = None,
        status: str = "OPEN",
        archived: bool = False,
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a thread. See :meth:`SimulatorState.add_thread`.

        :param channel_id: an existing channel.
        :param thread_id: int64 id; the next free id when None.
        :param channel_account_id: an account of the channel; its first account when None.
        :param recipient: the customer's identifier value; generated when None.
        :param status: ``OPEN`` or ``CLOSED``.
        :param archived: archived flag.
        :param created_at: creation time; now when None.
        """
        return self.state.add_thread(
            channel_id,
            thread_id,
            channel_account_id=channel_account_id,
            recipient=recipient,
            status=status,
            archived=archived,
            created_at=created_at,
        )

    def add_message(
        self,
        channel_id: int,
        message_id: str | None = None,
        direction: str = "OUTGOING",
        created_at: datetime | str | None = None,
        status_type: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add a conversation message. See :meth:`SimulatorState.add_message` for the keyword options
        (``text``, ``recipient``, ``thread_id``, ``channel_account_id``, ``error_message``, ``archived``, and
        further JSON fields).

        :param channel_id: an existing channel.
        :param message_id: opaque id; generated when None.
        :param direction: ``OUTGOING`` or ``INCOMING``.
        :param created_at: creation time; now when None.
        :param status_type: initial status, or None for no ``status``.
        :param extra: see above.
        :returns: the message as the API returns it.
        """
        return self.state.add_message(channel_id, message_id, direction, created_at, status_type, **extra)

    def add_comment(
        self, thread_id: int, *, text: str = "Internal note", created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add an internal COMMENT to a thread.

        :param thread_id: an existing thread.
        :param text: comment text.
        :param created_at: creation time; now when None.
        """
        return self.state.add_comment(thread_id, text=text, created_at=created_at)

    def add_welcome_message(
        self, thread_id: int, *, text: str = "Hi! How can we help?", created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add a WELCOME_MESSAGE to a thread.

        :param thread_id: an existing thread.
        :param text: message text.
        :param created_at: creation time; now when None.
        """
        return self.state.add_welcome_message(thread_id, text=text, created_at=created_at)

    def seed_scenario(
        self, name: str, count: int | None = None, *, now: datetime | None = None, seed: int | None = None
    ) -> ScenarioSeed:
        """Seed a named realistic scenario (see :mod:`.scenarios`).

        :param name: ``reconciliation`` or ``smoke``.
        :param count: number of integrator records; the scenario's default when None.
        :param now: the reference time; the current time when None.
        :param seed: seed of the scenario; the simulator's seed when None.
        :returns: the integrator-side records and the expected classification of each; records of an account
            added with :meth:`.HubSpotSimulator.add_account` (and any account's, seeded through
            :meth:`.HubSpotSimulator.account`) name it as ``portal_id``.
        """
        portal_id = self.hub_id if self.names_portal else None
        seed = self.seed if seed is None else seed
        return seed_scenario(self.state, name, count, now=now, seed=seed, portal_id=portal_id)

    # ----------------------------------------------------------------------------------------- inspection

    def get_message(self, channel_id: int, message_id: str) -> dict[str, Any] | None:
        """A message as the API returns it, or None.

        :param channel_id: the channel.
        :param message_id: the message id.
        """
        return self.state.get_message(channel_id, message_id)

    def status_history(self, channel_id: int, message_id: str) -> list[dict[str, Any]]:
        """Every status change attempt of a message, oldest first (``time``, ``statusType``, ``errorMessage``,
        ``previousStatusType``, ``accepted``, ``source``).

        :param channel_id: the channel.
        :param message_id: the message id.
        :raises KeyError: unknown message.
        """
        return self.state.status_history(channel_id, message_id)

    def get_thread(self, thread_id: int) -> dict[str, Any] | None:
        """A thread as the Inbox API returns it, or None.

        :param thread_id: the thread id.
        """
        return self.state.get_thread(thread_id)

    def list_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """All conversation messages, optionally of one channel.

        :param channel_id: the channel, or None for all.
        """
        return self.state.list_messages(channel_id)


class SimulatedAccount(AccountData):
    """One HubSpot account the app is installed in (see :meth:`.HubSpotSimulator.add_account`).

    :param hub_id: its portal id.
    :param tokens: the app's token store, shared by every account.
    :param limiter: this account's rate limits.
    :param state: this account's data.
    :param seed: seed of its scenarios.
    :param access_token: a fixed access token (every scope, never expires) instead of a generated one.
    """

    def __init__(
        self,
        hub_id: int,
        *,
        tokens: TokenStore,
        limiter: RateLimiter,
        state: SimulatorState,
        seed: int,
        access_token: str | None = None,
    ) -> None:
        self._hub_id = hub_id
        self.tokens = tokens
        self.limiter = limiter
        self.state = state
        self.seed = seed
        if access_token is not None:
            tokens.add_access(access_token, hub_id=hub_id)
            self._access_token = access_token
        else:
            self._access_token = tokens.issue_access(hub_id=hub_id)
        self._refresh_token = tokens.issue_refresh(hub_id=hub_id)

    def __repr__(self) -> str:
        return f"SimulatedAccount(hub_id={self.hub_id})"  # no token: tests print accounts

    @property
    def access_token(self) -> str:
        """A valid access token of this account with every scope."""
        return self._access_token

    @property
    def refresh_token(self) -> str:
        """The installation's refresh token: the grant answers this account's ``hub_id``."""
        return self._refresh_token
