"""HubSpot client: the HTTP conversation with HubSpot, without any Airflow import."""

from airflow_provider_hubspot_channels.client.client import Answer, ClientStoppedError, HubSpotChannelsClient
from airflow_provider_hubspot_channels.client.config import ClientConfig
from airflow_provider_hubspot_channels.client.errors import (
    ErrorDetails,
    HubSpotAccountMismatchError,
    HubSpotApiError,
    HubSpotAuthenticationError,
    HubSpotBadRequestError,
    HubSpotChannelsError,
    HubSpotConnectionError,
    HubSpotDailyLimitError,
    HubSpotNotFoundError,
    HubSpotPaginationError,
    HubSpotPermissionError,
    HubSpotRetriesExhaustedError,
    HubSpotTokenRefreshError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.client.secrets import validate_secret
from airflow_provider_hubspot_channels.validation import ERROR_MESSAGE_MAX_LENGTH, STATUS_TYPES

__all__ = [
    "ERROR_MESSAGE_MAX_LENGTH",
    "STATUS_TYPES",
    "Answer",
    "ClientConfig",
    "ClientStoppedError",
    "ErrorDetails",
    "HubSpotAccountMismatchError",
    "HubSpotApiError",
    "HubSpotAuthenticationError",
    "HubSpotBadRequestError",
    "HubSpotChannelsClient",
    "HubSpotChannelsError",
    "HubSpotConnectionError",
    "HubSpotDailyLimitError",
    "HubSpotNotFoundError",
    "HubSpotPaginationError",
    "HubSpotPermissionError",
    "HubSpotRetriesExhaustedError",
    "HubSpotTokenRefreshError",
    "InvalidInputError",
    "validate_secret",
]
