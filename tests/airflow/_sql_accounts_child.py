"""Child process of ``test_hook_accounts_sql.py``: builds the hook with refresh tokens from SQL and tries one status
write per account, printing each account's outcome as JSON (one line). Run with the test's environment (Airflow
connections in ``AIRFLOW_CONN_*``, a ``common.sql`` provider for ``sqlite`` on ``PYTHONPATH``).

Argument: JSON ``{"sql": ..., "writes": [[portal_id, channel_id, message_id], ...], "secrets": [...]}``.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook

    args = json.loads(sys.argv[1])
    outcomes: dict[str, str] = {}
    with HubSpotChannelsHook(refresh_tokens_sql_conn_id="refresh_tokens", refresh_tokens_sql=args["sql"]) as hook:
        for portal, channel, message in args["writes"]:
            try:
                hook.clients.client_for(portal).update_message_status(channel, message, "FAILED", "no receipt")
                outcomes[portal] = "ok"
            except Exception as exc:
                outcomes[portal] = f"{type(exc).__name__}: {exc}"
        # A second ask of a failed account does not query again (cached), and says the same.
        for portal, _, _ in args["writes"]:
            try:
                hook.clients.client_for(portal)
            except Exception as exc:
                assert outcomes[portal].endswith(str(exc)) or type(exc).__name__ in outcomes[portal], portal
    masked = [redact(f"<{secret}>") != f"<{secret}>" for secret in args["secrets"]]  # in order, never the secret
    print(json.dumps({"outcomes": outcomes, "masked": masked}))


if __name__ == "__main__":
    main()
