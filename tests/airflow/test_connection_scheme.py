"""The connection type keeps its ``_``; Airflow's RFC 3986 warning about it is harmless (docs: the connection).

Airflow's core ``Connection.get_uri()`` warns whenever a type contains ``_`` (its own ``package_index`` does too),
then writes the scheme with ``-``, and both Connection classes read ``hubspot-channels://`` back as
``hubspot_channels``. Renaming the type would orphan every stored connection, so the URI round trip is what must hold.
"""

from __future__ import annotations

import pytest

from airflow_provider_hubspot_channels.get_provider_info import CONN_TYPE


@pytest.mark.airflow
def test_the_uri_airflow_writes_for_the_type_reads_back_as_the_same_connection() -> None:
    from airflow.models.connection import Connection as CoreConnection
    from airflow.sdk.definitions.connection import Connection as SdkConnection

    stored = CoreConnection(
        conn_id="hs", conn_type=CONN_TYPE, host="https://api.hubapi.com", password="pat-na1-secret-token"
    )
    uri = stored.get_uri()
    assert uri.startswith("hubspot-channels://")  # RFC 3986 scheme: no "_"
    for parsed in (CoreConnection(conn_id="hs", uri=uri), SdkConnection.from_uri(uri, conn_id="hs")):
        assert (parsed.conn_type, parsed.host, parsed.password) == (CONN_TYPE, stored.host, stored.password)


def test_the_type_stays_hubspot_channels_for_the_connections_users_already_have() -> None:
    assert CONN_TYPE == "hubspot_channels"
