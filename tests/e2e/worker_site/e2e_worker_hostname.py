"""``[core] hostname_callable`` for the distributed e2e test's Celery workers.

Both workers run on one machine, so the default (the FQDN) would record the same host on every task instance; each
worker's environment names it (``HUBSPOT_E2E_CELERY_WORKER``) and this puts that name in front of the host.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    worker = os.environ.get("HUBSPOT_E2E_CELERY_WORKER")
    host = socket.getfqdn()
    return f"{worker}@{host}" if worker else host
