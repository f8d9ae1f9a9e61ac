"""Split a multi-account batch into groups for Airflow's ``.expand_kwargs``: each account wholly in one group.

HubSpot's rate limit is per account (110 requests per 10 s), so a group is a set of accounts, never a slice of one:
two tasks serving one account would share (and fight over) one account's limit. Decisions:

* **Balanced** (the default): accounts are placed greedily, largest first, in the group with the least estimated
  request cost so far (longest-processing-time: the largest group is at most the ideal share plus one account).
  With ``.expand_kwargs`` and ``max_active_runs=1`` no two tasks ever serve one account at once.
* **Stable**: an account always lands in lane ``stable_hash(portal_id) % groups``, in every run and every DAG that
  uses the same number of lanes. With one static task per lane, each in its own one-slot Airflow pool, two runs or
  two DAGs never serve one account at once. An Airflow pool cannot be mapped (a mapped task's ``pool`` comes from
  ``.partial()`` only), so a per-account pool needs these fixed lanes.
* Within a group, rows are ordered round-robin across its accounts (each account's rows keep their order), so the
  task's threads serve every account of the group at once instead of one account after the other.
* Cost: one unit per row that can be parsed (it costs requests); an invalid row costs nothing (the operator only
  reports it) and goes with its account when its ``portal_id`` can be read, else with the connection's account.
* Rows without ``portal_id`` belong to the task connection's account: one more "account" for placement.
* Deterministic: equal input gives equal groups (no dict-order or hash-seed dependence).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation.ordering import round_robin
from airflow_provider_hubspot_channels.reconciliation.records import batch_rows, parse_batch

#: Groups (mapped tasks or lanes) one split may make: Airflow's default ``max_map_length`` is 1024.
MAX_GROUPS = 1024
Placement = Literal["balanced", "stable"]
PLACEMENTS: tuple[str, ...] = ("balanced", "stable")
#: Placement key of rows without ``portal_id`` (the task connection's account). Never a portal id: those are digits.
CONNECTION_ACCOUNT = "connection"


def split_by_account(messages: Any, *, groups: int, placement: Placement = "balanced") -> list[dict[str, list[Any]]]:
    """Split rows into at most ``groups`` groups of whole accounts, as ``[{"messages": [...]}, ...]``.

    :param messages: the batch's rows (dicts as the operators take them), in input order: a list (or other
        sequence, such as Airflow's lazy XCom one) or a JSON string of one.
    :param groups: the most groups wanted (1..1024). ``balanced`` returns no empty group (fewer groups when there
        are fewer accounts); ``stable`` returns exactly ``groups`` lanes, some maybe empty, so lane ``k`` is always
        the same static task.
    :param placement: ``"balanced"`` (by estimated request cost) or ``"stable"`` (by a hash of the account).
    """
    count = validate_groups(groups)
    if placement not in PLACEMENTS:
        raise InvalidInputError("placement", f"{placement!r} is not a placement", "use 'balanced' or 'stable'")
    accounts: dict[str, list[Any]] = {}
    costs: dict[str, int] = {}
    for index, row in enumerate(batch_rows(messages)):
        key, cost = _account_and_cost(row, index)
        accounts.setdefault(key, []).append(row)
        costs[key] = costs.get(key, 0) + cost
    if placement == "stable":
        lanes: list[list[str]] = [[] for _ in range(count)]
        for key in sorted(accounts):
            lanes[stable_lane(key, count)].append(key)
    else:
        lanes = _longest_first(costs, min(count, len(accounts)))
    return [{"messages": round_robin(accounts[key] for key in lane)} for lane in lanes]


def validate_groups(groups: Any, *, field: str = "groups") -> int:
    """``groups`` as an int in 1..:data:`MAX_GROUPS`.

    :param groups: the value.
    :param field: the argument's name for the error.
    """
    if isinstance(groups, bool) or not isinstance(groups, int) or not 1 <= groups <= MAX_GROUPS:
        raise InvalidInputError(
            field, f"{groups!r} is not a whole number in 1..{MAX_GROUPS}", "use e.g. the number of Celery workers x 2"
        )
    return groups


def stable_lane(account: str, lanes: int) -> int:
    """The lane of an account: the same in every process and run (Python's ``hash`` of text is salted per process).

    :param account: the portal id, or :data:`CONNECTION_ACCOUNT`.
    :param lanes: the number of lanes.
    """
    digest = hashlib.blake2b(account.encode("ascii", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % lanes


def _account_and_cost(row: Any, index: int) -> tuple[str, int]:
    records, invalid = parse_batch([row])
    if records:
        return records[0].portal_id or CONNECTION_ACCOUNT, 1
    return invalid[0].portal_id or CONNECTION_ACCOUNT, 0  # the account it names, when that can be read


def _longest_first(costs: Mapping[str, int], count: int) -> list[list[str]]:
    """Greedy LPT: largest account first into the least loaded group; ties by account, then by group number."""
    lanes: list[list[str]] = [[] for _ in range(count)]
    loads = [0] * count
    for key in sorted(costs, key=lambda k: (-costs[k], k)):
        # Ties by accounts held: accounts that cost nothing (only invalid rows) still spread, no group stays empty.
        lightest = min(range(count), key=lambda g: (loads[g], len(lanes[g]), g))
        lanes[lightest].append(key)
        loads[lightest] += costs[key]
    return lanes
