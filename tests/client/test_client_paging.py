"""Issue 12, defect 15: cursor paging ends even when a server keeps answering new cursors."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, HubSpotPaginationError
from airflow_provider_hubspot_channels.client import inbox as inbox_module

from ._servers import ScriptedServer, json_reply


def paging_server(results_per_page: int) -> ScriptedServer:
    cursors = itertools.count(1)

    def answer(method, path, headers, body):
        page = next(cursors)
        results = [{"id": f"{page}-{i}"} for i in range(results_per_page)]
        return json_reply(200, {"results": results, "paging": {"next": {"after": f"c{page}"}}})

    return ScriptedServer(answer)


def client_for(server: ScriptedServer) -> HubSpotChannelsClient:
    config = ClientConfig(base_url=server.base_url, max_requests_per_10s=10_000, timeout=5)
    return HubSpotChannelsClient(config=config, access_token="t" * 20)


def test_new_cursors_with_empty_pages_stop_after_a_few_pages():
    with paging_server(0) as server, client_for(server) as client:
        with pytest.raises(HubSpotPaginationError, match="empty pages") as info:
            list(client.iter_thread_messages(7))
        assert len(server.requests) == inbox_module.MAX_EMPTY_PAGES
    assert info.value.retry_may_succeed is False


def test_endless_pages_stop_at_the_page_limit(monkeypatch):
    monkeypatch.setattr(inbox_module, "MAX_PAGES", 12)
    with paging_server(1) as server, client_for(server) as client:
        seen = []
        with pytest.raises(HubSpotPaginationError, match="12 pages"):
            seen.extend(client.iter_threads(inbox_id=3, latest_message_timestamp_after="2026-01-01T00:00:00Z"))
        assert len(server.requests) == 12 and len(seen) == 12
