"""One worker process of the shared-budget test: ``python -m tests.reliability._budget_worker BASE_URL TOKEN SECONDS
SHARE`` reads channel 1001 as fast as its client's budget allows for SECONDS, then prints ``CALLS n ERRORS n``."""

from __future__ import annotations

import sys
import threading
import time


def main(argv: list[str]) -> int:
    base_url, token, seconds, share = argv
    from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient

    config = ClientConfig(base_url=base_url, timeout=5, max_requests_per_10s=10_000, budget_share=float(share))
    client = HubSpotChannelsClient(config=config, access_token=token)
    until = time.monotonic() + float(seconds)
    calls, errors = [0], [0]
    lock = threading.Lock()

    def hammer() -> None:
        while time.monotonic() < until:
            try:
                client.get_channel(1001)
                with lock:
                    calls[0] += 1
            except Exception:  # counted and reported
                with lock:
                    errors[0] += 1
                return

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    print(f"CALLS {calls[0]} ERRORS {errors[0]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
