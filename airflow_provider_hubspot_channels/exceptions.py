"""The package's base error and the error for bad input, shared by the client and the pure domain.

They live outside ``client/`` so that the reconciliation domain can raise them without importing the HTTP client.
"""

from __future__ import annotations


class HubSpotChannelsError(Exception):
    """Base class of everything this package raises about HubSpot or its input.

    The client's request loop sets ``requests`` (HTTP requests the failed call sent to the API endpoint, token
    POSTs not counted) and ``unanswered`` (attempts that went out and got no usable answer, so a write may have
    landed) on every error it raises; both stay 0 for errors raised before any request.
    """

    requests: int = 0
    unanswered: int = 0

    @property
    def retry_may_succeed(self) -> bool:
        """Whether repeating the same call later could end differently (True unless known to be final)."""
        return True


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

    @property
    def retry_may_succeed(self) -> bool:
        """Bad input stays bad: never."""
        return False
