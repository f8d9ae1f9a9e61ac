"""A base URL holding credentials is refused without quoting it, whatever else is wrong with it (review: a URL of
another scheme with ``user:pass@`` was quoted whole in the error)."""

from __future__ import annotations

import pytest

from airflow_provider_hubspot_channels.client.config import validate_base_url
from airflow_provider_hubspot_channels.exceptions import InvalidInputError


@pytest.mark.parametrize(
    "url", ["ftp://user:s3cret@host", "https://user:s3cret@api.hubapi.com", "user:s3cret@host", "//:s3cret@"]
)
def test_credentials_in_the_base_url_are_never_quoted(url: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_base_url(url)
    assert "s3cret" not in str(raised.value)
