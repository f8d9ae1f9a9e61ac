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


def test_a_secret_with_a_backslash_beside_both_quotes_is_redacted_in_its_repr() -> None:
    # The token-echo property found it: repr of "00000\\\"'" was not among the secret's forms.
    from airflow_provider_hubspot_channels.client.secrets import Redactor

    token = "00000\\\"'"
    redactor = Redactor()
    redactor.add(token)
    header = "Bearer " + token
    assert token not in redactor.redact(f"{header!r} {header}")
    assert repr(token)[1:-1] not in redactor.redact(f"{header!r}")
