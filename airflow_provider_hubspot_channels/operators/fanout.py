"""Fan a multi-account batch out over Airflow tasks: helpers to call inside a ``@task``.

HubSpot's limit is per account (110 requests per 10 s), so a batch of many accounts scales by splitting it into
groups of *whole* accounts, one task per group, each task serving all of its accounts at once (one thread pool,
one rate budget per account). Two ways:

* :func:`split_batch_by_account` for ``.partial(...).expand_kwargs(...)``: groups balanced by estimated request
  cost. Run the DAG with ``max_active_runs=1``: one run's mapped tasks never share an account, but two runs could.
* :func:`account_lanes` for the per-account pool option: an account always lands in the same lane, so with one
  static task per lane, each in its own one-slot Airflow pool (:func:`lane_pool`), two runs or two DAGs never serve
  one account at once. Airflow takes a mapped task's ``pool`` from ``.partial()`` only (``MappedOperator.pool``
  reads ``partial_kwargs``), so a pool per account cannot be mapped: lanes are the way to get one.

Example (a mapped reconcile; see ``example_dags/example_hubspot_multi_account.py``)::

    @task
    def split(batch: list[dict]) -> list[dict]:
        return split_batch_by_account(batch, groups=8)

    ReconcileMessagesOperator.partial(
        task_id="reconcile", stale_after=900, account_conn_pattern="hubspot_channels_{portal_id}"
    ).expand_kwargs(split(load_batch()))
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation.fanout import MAX_GROUPS, split_by_account

__all__ = ["account_lanes", "lane_pool", "split_batch_by_account"]

#: The pool of lane ``k`` is ``hubspot_channels_lane_{k}``; create each with one slot.
LANE_POOL = "hubspot_channels_lane_{lane}"


#: ``[{"messages": rows}, ...]`` for ``.expand_kwargs``: the domain's split, under the name DAGs use.
split_batch_by_account = split_by_account


def account_lanes(messages: Any, *, lanes: int) -> dict[str, list[Any]]:
    """``{"lane_0": rows, ...}`` for ``@task(multiple_outputs=True)``: every lane present, an account always in the
    same lane for the same number of lanes.

    :param messages: the batch, as :func:`split_batch_by_account` takes it.
    :param lanes: the number of static lane tasks (1..1024); changing it moves accounts between lanes.
    """
    split = split_by_account(messages, groups=lanes, placement="stable")
    return {f"lane_{number}": group["messages"] for number, group in enumerate(split)}


def lane_pool(lane: int) -> str:
    """The Airflow pool of a lane (create it with one slot, e.g. ``airflow pools set hubspot_channels_lane_0 1 ...``).

    :param lane: the lane number, 0-based.
    """
    if isinstance(lane, bool) or not isinstance(lane, int) or not 0 <= lane < MAX_GROUPS:
        raise InvalidInputError("lane", f"{lane!r} is not a lane number", f"use 0..{MAX_GROUPS - 1}")
    return LANE_POOL.format(lane=lane)
