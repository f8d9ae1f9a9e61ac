"""What every API call of the client returns, and the one method the typed calls are built on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_hubspot_channels.client.config import ClientConfig


@dataclass(frozen=True)
class Answer:
    """What one call got, and what it went through to get it.

    :param body: HubSpot's JSON answer (``{}`` if none).
    :param requests: HTTP requests the call sent to the API endpoint: the first attempt, retries and re-sends after
        ``401 EXPIRED_AUTHENTICATION`` (token POSTs are not counted).
    :param unanswered: attempts that went out and got no usable answer (reset, timeout, cut-off body, 5xx) before a
        later one: a write may have been applied more than once (with the same value; HubSpot keeps no
        idempotency key).
    """

    body: dict[str, Any]
    requests: int
    unanswered: int


def segment(value: object) -> str:
    """One URL path segment: ids are opaque and may hold '/', '?' or '#'.

    :param value: the id.
    """
    return quote(str(value), safe="")


class ApiCalls:
    """The base of the typed calls (:mod:`.custom_channels`, :mod:`.inbox`): they send through :meth:`send`, which
    :class:`~airflow_provider_hubspot_channels.client.client.HubSpotChannelsClient` implements."""

    config: ClientConfig

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Send one API call with budget, auth, retries and typed errors.

        :param method: HTTP method.
        :param path: path below the base URL, ids already encoded.
        :param params: query parameters.
        :param json: JSON body.
        """
        raise NotImplementedError

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """:meth:`send`, returning only the JSON body (``{}`` if none).

        :param method: HTTP method.
        :param path: path below the base URL, ids already encoded.
        :param params: query parameters.
        :param json: JSON body.
        """
        return self.send(method, path, params=params, json=json).body
