"""The package's base error and the error for bad input, shared by the client and the pure domain.

They live outside ``client/`` so that the reconciliation domain can raise them without importing the HTTP client.
"""

from __future__ import annotations


class HubSpotChannelsError(Exception):
    """Base class of everything this package raises about HubSpot or its input."""


class InvalidInputError(HubSpotChannelsError, ValueError):
    """Input that would be refused by HubSpot (or is meaningless), found before any request is sent.

    :param field: the argument, record key or connection field at fault.
    :param problem: what is wrong with the value.
    :param fix: what to do instead.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}")
