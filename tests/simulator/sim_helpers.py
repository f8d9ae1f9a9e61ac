"""Helpers for the simulator tests: paths, and a small HTTP client that checks every JSON answer against
HubSpot's specs whenever they are available."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.openapi_contract import assert_requests_response, spec_dir

CC = "/conversations/custom-channels/2026-03"
CC_V3 = "/conversations/v3/custom-channels"
INBOX = "/conversations/conversations/2026-09"
INBOX_V3 = "/conversations/v3/conversations"
CHANNEL = 1001
ACCOUNT = 2001
INBOX_ID = 3001
TIMEOUT = 10.0


def message_egg(timestamp: str = "2026-03-01T12:00:00.000Z", **overrides: Any) -> dict[str, Any]:
    """A valid publish body (``ChannelIntegrationMessageEgg``) of an outgoing message, with fields overridden.

    :param timestamp: the message's time.
    :param overrides: body fields to replace or add.
    """
    egg: dict[str, Any] = {
        "text": "hello",
        "messageDirection": "OUTGOING",
        "channelAccountId": str(ACCOUNT),
        "senders": [],
        "recipients": [{"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15557770001"}}],
        "attachments": [],
        "timestamp": timestamp,
    }
    egg.update(overrides)
    return egg


def message_path(message_id: str, channel: int | str = CHANNEL, prefix: str = CC) -> str:
    """Path of one message, the id percent-encoded as a client must.

    :param message_id: the opaque id.
    :param channel: the channel id.
    :param prefix: the API prefix (2026-03 or v3).
    """
    return f"{prefix}/{channel}/messages/{quote(message_id, safe='')}"


class Api:
    """A keep-alive client of a running simulator.

    :param sim: the simulator.
    :param token: bearer token; the simulator's all-scope token when None.
    :param anonymous: send no Authorization header at all.
    :param check: check every JSON answer against HubSpot's spec (when the specs are available).
    """

    def __init__(
        self, sim: HubSpotSimulator, token: str | None = None, *, anonymous: bool = False, check: bool = True
    ) -> None:
        self.sim = sim
        self.session = requests.Session()
        if not anonymous:
            self.session.headers["Authorization"] = f"Bearer {token or sim.access_token}"
        self.check = check and spec_dir() is not None

    def call(self, method: str, path: str, *, check: bool | None = None, **kwargs: Any) -> requests.Response:
        """Send a request and, for JSON answers, check it against the spec.

        :param method: HTTP method.
        :param path: path (and optional query) below the base URL.
        :param check: override the client's checking for this call.
        :param kwargs: passed to ``requests``.
        """
        kwargs.setdefault("timeout", TIMEOUT)
        response = self.session.request(method, self.sim.base_url + path, **kwargs)
        if (self.check if check is None else check) and "json" in response.headers.get("Content-Type", ""):
            assert_requests_response(response)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET.

        :param path: path below the base URL.
        :param kwargs: passed to :meth:`call`.
        """
        return self.call("GET", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        """PATCH.

        :param path: path below the base URL.
        :param kwargs: passed to :meth:`call`.
        """
        return self.call("PATCH", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST.

        :param path: path below the base URL.
        :param kwargs: passed to :meth:`call`.
        """
        return self.call("POST", path, **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


def error_of(response: requests.Response) -> dict[str, Any]:
    """The JSON error body, asserting HubSpot's required ``Error`` keys.

    :param response: an error answer.
    """
    body: dict[str, Any] = response.json()
    for key in ("category", "correlationId", "message"):
        assert key in body, f"{key} missing from {body}"
    return body
