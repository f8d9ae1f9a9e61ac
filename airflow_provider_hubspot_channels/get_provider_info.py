"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

``package-name`` must equal the distribution name exactly: a mismatch makes ``import airflow`` fail wherever the
package is installed. The connection form is declarative (``conn-fields``, Airflow 3.2+); the hook also offers the
older form methods for Airflow 3.1.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hubspot_channels import __version__

CONN_TYPE = "hubspot_channels"
HOOK_CLASS = "airflow_provider_hubspot_channels.hooks.hubspot.HubSpotChannelsHook"


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _secret(label: str, description: str) -> dict[str, Any]:
    # format: password makes Airflow treat the field as sensitive (hidden in the form, masked in logs).
    return _text(label, description, format="password")


def _number(label: str, description: str, kind: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"], **schema}}


#: Connection fields beyond host and password; their values land in ``Connection.extra``.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "client_id": _text("OAuth client ID", "Your app's client ID. With client secret and refresh token: OAuth refresh."),
    "client_secret": _secret("OAuth client secret", "Your app's client secret (for OAuth refresh)."),
    "refresh_token": _secret("OAuth refresh token", "The installation's refresh token (for OAuth refresh)."),
    "channel_id": _number(
        "Channel ID for Test", "A custom channel the token may read; Test connection reads it.", "integer", minimum=1
    ),
    "api_version": _text(
        "Custom Channels API version", "Date-versioned path segment, or v3 (legacy).", default="2026-03"
    ),
    "inbox_api_version": _text(
        "Inbox API version", "Conversations Inbox API version used for discovery.", default="2026-09"
    ),
    "timeout": _number(
        "Timeout (s)", "Read timeout of one request, in seconds.", "number", default=30, minimum=0.1, maximum=600
    ),
    "max_retries": _number(
        "Max retries",
        "Retries of one call after 429, 423, 5xx or no answer.",
        "integer",
        default=5,
        minimum=0,
        maximum=20,
    ),
    "max_requests_per_10s": _number(
        "Max requests per 10 s",
        "This connection's own ceiling per worker process; HubSpot's OAuth limit is 110 per 10 s per account.",
        "integer",
        default=100,
        minimum=1,
    ),
    "budget_share": _number(
        "Share of the account's rate limit",
        "Fraction (0.01-1) of HubSpot's per-account limit this provider may use; the rest stays with the live "
        "integration.",
        "number",
        default=1.0,
        minimum=0.01,
        maximum=1.0,
    ),
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port", "extra"],
    "relabeling": {"host": "HubSpot API base URL", "password": "Access token"},
    "placeholders": {
        "host": "https://api.hubapi.com",
        "password": "A static access token (ignored when OAuth refresh is configured)",
        "client_id": "e.g. 5f2a...-...",
        "channel_id": "e.g. 1001",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider, its hook, operators and connection form to Airflow."""
    return {
        "package-name": "airflow-provider-hubspot-channels",
        "name": "HubSpot Custom Channels",
        "description": "Report delivery status of HubSpot Conversations custom-channel messages and reconcile "
        "messages nobody confirmed.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "HubSpot Custom Channels",
                "external-doc-url": "https://developers.hubspot.com/docs/api/conversations/custom-channels",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "HubSpot Custom Channels",
                "python-modules": ["airflow_provider_hubspot_channels.hooks.hubspot"],
            }
        ],
        "operators": [
            {
                "integration-name": "HubSpot Custom Channels",
                "python-modules": [
                    "airflow_provider_hubspot_channels.operators.messages",
                    "airflow_provider_hubspot_channels.operators.reconcile",
                    "airflow_provider_hubspot_channels.operators.discovery",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": HOOK_CLASS,
                "hook-name": "HubSpot Custom Channels",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
