"""What an endpoint of the simulated API works on: the context shared by all calls, and one call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .auth import TokenStore
from .rate_limit import RateLimiter
from .responses import Reply
from .state import SimulatorState


@dataclass
class ApiContext:
    """What the endpoints work on.

    :param state: the store.
    :param tokens: tokens and OAuth.
    :param limiter: the account's rate limits.
    :param base_url: the server's base URL, for ``Location`` headers.
    """

    state: SimulatorState
    tokens: TokenStore
    limiter: RateLimiter
    base_url: str = ""


@dataclass(frozen=True)
class Call:
    """One API call, as an endpoint sees it.

    :param ctx: the context.
    :param path: the request path (percent-encoded, no query).
    :param params: raw path parameters (percent-encoded).
    :param query: the parsed query string.
    :param body: the raw body.
    """

    ctx: ApiContext
    path: str
    params: tuple[str, ...]
    query: Mapping[str, list[str]]
    body: bytes


Endpoint = Callable[[Call], Reply]


@dataclass(frozen=True)
class Operation:
    """An endpoint and the scopes that allow it (any one suffices).

    :param endpoint: the function answering the call.
    :param scopes: alternative scopes.
    """

    endpoint: Endpoint
    scopes: tuple[str, ...]
