"""What every operator of this provider shares: one hook per ``execute``, closed at its end, stopped by ``on_kill``.

Runtime state is created in ``execute``, never in ``__init__``: Airflow deep-copies operators (``dag.partial_subset``,
mapped tasks), and a lock or event made at DAG parse time cannot be copied.

``on_kill`` runs inside Airflow's SIGTERM handler, in the main thread, which may hold any lock at that moment (an
event's while a retry waits, the rate budget's). Taking a lock there can deadlock the task, so ``on_kill`` only
writes a byte to a pipe (async-signal-safe, no Python lock); a thread of the kill switch's own does the stopping.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator

from airflow_provider_hubspot_channels.client import HubSpotChannelsError
from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from airflow_provider_hubspot_channels.operators.accounts import account_settings
from airflow_provider_hubspot_channels.operators.errors import airflow_error, retry_policy_decides_daily_limit

_KILL = b"k"
_DONE = b"d"


class KillSwitch:
    """Runs ``action`` in a thread of its own when :meth:`trigger` is called, also from a signal handler.

    :param action: what stopping means (set events, stop the client); runs at most once.
    """

    def __init__(self, action: Callable[[], None]) -> None:
        self._action = action
        self._read, self._write = os.pipe()
        self._closed = False
        self._thread = threading.Thread(target=self._wait, name="hubspot-kill-switch", daemon=True)
        self._thread.start()

    def trigger(self) -> None:
        """Ask for the stop; safe inside a signal handler (one ``os.write``, no lock)."""
        if self._closed:  # the descriptor may already belong to another file
            return
        with contextlib.suppress(OSError):
            os.write(self._write, _KILL)

    def close(self) -> None:
        """End the switch's thread (without stopping anything) and release the pipe."""
        if self._closed:
            return
        with contextlib.suppress(OSError):
            os.write(self._write, _DONE)
        self._thread.join()
        self._closed = True
        os.close(self._write)
        os.close(self._read)

    def _wait(self) -> None:
        if os.read(self._read, 1) == _KILL:
            self._action()


class HubSpotTaskMixin:
    """Shared by the operators: :meth:`hubspot_hook` for ``execute``, and ``on_kill``.

    Mixed in before ``BaseOperator``; the operator sets ``hubspot_conn_id``.
    """

    hubspot_conn_id: str
    #: Per-account credentials (``operators/accounts.py``); None: every row is the connection's account.
    account_conn_pattern: str | None = None
    refresh_tokens_sql_conn_id: str | None = None
    refresh_tokens_sql: str | None = None
    # Class defaults: nothing per instance until execute (deep copies of the operator stay plain).
    _killed = False
    _kill_switch: KillSwitch | None = None

    @contextlib.contextmanager
    def hubspot_hook(
        self, *, pool_size: int = 10, stop: threading.Event | None = None
    ) -> Iterator[HubSpotChannelsHook]:
        """A hook for one ``execute``: client errors become Airflow's, and ``on_kill`` stops it and sets ``stop``.

        :param pool_size: HTTP connections kept open (the operator's concurrency).
        :param stop: an event to set on kill as well (a batch's stop).
        """
        # The hook's own ``with`` closes the client (one way to close it, also for users' TaskFlow tasks); it is
        # entered first, so it closes last, after the kill switch's thread has ended.
        accounts = self.hubspot_accounts()
        with HubSpotChannelsHook(hubspot_conn_id=self.hubspot_conn_id, pool_size=pool_size, **accounts) as hook:

            def stop_all() -> None:
                if stop is not None:
                    stop.set()
                hook.stop()

            switch = KillSwitch(stop_all)
            self._kill_switch = switch
            if self._killed:  # killed before execute got here
                switch.trigger()
            try:
                yield hook
            except HubSpotChannelsError as exc:
                raise airflow_error(
                    exc, conn_id=self.hubspot_conn_id, policy_decides=retry_policy_decides_daily_limit(self)
                ) from exc
            finally:
                self._kill_switch = None
                switch.close()

    def hubspot_accounts(self) -> dict[str, str]:
        """The hook's per-account credential arguments (empty for a single-account task)."""
        return account_settings(self.account_conn_pattern, self.refresh_tokens_sql_conn_id, self.refresh_tokens_sql)

    def on_kill(self) -> None:
        """Stop the running call or batch: no new request starts, waits and retries end at once."""
        self._killed = True
        switch = self._kill_switch
        if switch is not None:
            switch.trigger()
