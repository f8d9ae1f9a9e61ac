"""What an endpoint of the simulated API works on: the context shared by all calls, and one call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .account import SimulatedAccount
from .auth import TokenStore
from .rate_limit import RateLimiter
from .responses import Reply
from .state import SimulatorState


@dataclass
class ApiContext:
    """What the endpoints work on.

    :param tokens: tokens and OAuth of the one app, for every account.
    :param default: the default account.
    :param accounts: every account by portal id (the default one too); the simulator adds to it.
    :param base_url: the server's base URL, for ``Location`` headers.
    """

    tokens: TokenStore
    default: SimulatedAccount
    accounts: Mapping[int, SimulatedAccount]
    base_url: str = ""

    @property
    def state(self) -> SimulatorState:
        """The default account's data."""
        return self.default.state

    @property
    def limiter(self) -> RateLimiter:
        """The default account's rate limits."""
        return self.default.limiter

    def limiter_for(self, authorization: str | None) -> RateLimiter:
        """The rate limits of the account a bearer token belongs to; the default account's for unknown tokens.

        :param authorization: the ``Authorization`` header value.
        """
        hub_id = self.tokens.hub_of(authorization)
        account = self.accounts.get(hub_id) if hub_id is not None else None
        return (account or self.default).limiter


@dataclass(frozen=True)
class Call:
    """One API call, as an endpoint sees it.

    :param ctx: the context.
    :param account: the account the bearer token belongs to: the call sees its data only.
    :param path: the request path (percent-encoded, no query).
    :param params: raw path parameters (percent-encoded).
    :param query: the parsed query string.
    :param body: the raw body.
    """

    ctx: ApiContext
    account: SimulatedAccount
    path: str
    params: tuple[str, ...]
    query: Mapping[str, list[str]]
    body: bytes

    @property
    def state(self) -> SimulatorState:
        """The data of the token's account."""
        return self.account.state


Endpoint = Callable[[Call], Reply]


@dataclass(frozen=True)
class Operation:
    """An endpoint and the scopes that allow it (any one suffices).

    :param endpoint: the function answering the call.
    :param scopes: alternative scopes.
    """

    endpoint: Endpoint
    scopes: tuple[str, ...]
