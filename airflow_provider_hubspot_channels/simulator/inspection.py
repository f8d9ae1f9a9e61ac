"""What the simulator saw, over HTTP from outside its process: ``GET /_simulator/...``.

HubSpot's APIs never use a path starting with ``/_simulator`` (none of its OpenAPI specs does), so these endpoints
cannot shadow a real one. They need no token (the simulator binds 127.0.0.1 only and holds no real data), and they
bypass faults, latency, the rate limit and the request log: looking must not change what is measured.

* ``/_simulator`` lists the endpoints;
* ``/_simulator/requests?since=SEQ&limit=N``: the request log, numbered from 0, at most ``limit`` entries
  (default 100, at most 1,000) from ``since`` on (default: the newest); ``next`` is the ``since`` of the next
  poll and ``dropped`` how many the bounded log no longer keeps;
* ``/_simulator/counters``: answers per status, injected faults, token requests, messages per current status
  (messages of every account);
* ``/_simulator/accounts``: every account (``hubId``) with its requests, answers per status, messages per status
  and the rate limit left in its window; never a token;
* ``/_simulator/messages?channelId=C&limit=N&hubId=H``: ids, direction and current status (no text or recipients)
  of one account's messages (the default account's without ``hubId``);
* ``/_simulator/messages/{channelId}/{messageId}/history?hubId=H``: every status change of one message.

Request log entries carry ``hubId``: the account whose token (or refresh token) the request used, null when
unknown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from .account import SimulatedAccount
from .metrics import Metrics
from .responses import Reply, json_reply
from .state import SimulatorState
from .timefmt import iso

if TYPE_CHECKING:
    from .handler import SimulatorApp

PREFIX = "/_simulator"
ENDPOINTS = (
    f"{PREFIX}/requests",
    f"{PREFIX}/counters",
    f"{PREFIX}/accounts",
    f"{PREFIX}/messages",
    f"{PREFIX}/messages/{{channelId}}/{{messageId}}/history",
)
MAX_LIMIT = 1000


def is_inspection(path: str) -> bool:
    """Whether a request path is the simulator's own (not HubSpot's).

    :param path: the path without the query string.
    """
    return path == PREFIX or path.startswith(PREFIX + "/")


class _BadQuery(Exception):
    pass


def handle(app: SimulatorApp, method: str, path: str, query: str) -> Reply:
    """Answer one inspection request.

    :param app: the simulator's shared state.
    :param method: HTTP method; only GET (and HEAD) are served.
    :param path: the path without the query string.
    :param query: the raw query string.
    """
    if method not in ("GET", "HEAD"):
        return json_reply(405, _error(f"{PREFIX} answers GET only"), [("Allow", "GET")])
    parts = [unquote(p, errors="replace") for p in path[len(PREFIX) :].split("/") if p]
    try:
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True, errors="replace").items()}
        if not parts:
            return json_reply(200, {"endpoints": list(ENDPOINTS)})
        if parts == ["requests"]:
            return json_reply(200, _requests(app, params))
        if parts == ["counters"]:
            return json_reply(200, counters(app.metrics, list(app.ctx.accounts.values())))
        if parts == ["accounts"]:
            return json_reply(200, {"accounts": account_counters(app.metrics, list(app.ctx.accounts.values()))})
        if parts == ["messages"]:
            return json_reply(200, _messages(app, params))
        if len(parts) == 4 and parts[0] == "messages" and parts[3] == "history":
            return _history(_state(app, params), parts[1], parts[2])
    except _BadQuery as exc:
        return json_reply(400, _error(str(exc)))
    return json_reply(404, _error(f"no such inspection endpoint; try one of {', '.join(ENDPOINTS)}"))


def _error(message: str) -> dict[str, Any]:
    return {"status": "error", "message": message}


def _int(params: dict[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    text = params.get(name)
    if text is None:
        return default
    # Length first: int() of thousands of digits raises (and costs) before the range could be checked.
    if not (len(text) <= 20 and text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise _BadQuery(f"{name} must be a whole number within {low}..{high}")
    return int(text)


def _requests(app: SimulatorApp, params: dict[str, str]) -> dict[str, Any]:
    limit = _int(params, "limit", 100, 1, MAX_LIMIT) or 100
    since = _int(params, "since", None, 0, 2**62)
    first, entries = app.metrics.log_window()
    end = first + len(entries)
    start = max(first, end - limit) if since is None else max(first, since)
    chosen = entries[start - first : start - first + limit]
    return {
        "requests": [
            {
                "seq": start + offset,
                "method": e.method,
                "path": e.path,
                "status": e.status,
                "time": e.time,
                "duration": round(e.duration, 6),
                "fault": e.fault,
                "hubId": e.hub_id,
            }
            for offset, e in enumerate(chosen)
        ],
        "next": start + len(chosen),
        "dropped": first,
        "logLimit": app.metrics.log_limit,
    }


def _by_status(state: SimulatorState) -> Counter[str]:
    with state.lock:
        return Counter(m.status_type or "NONE" for m in state.messages.values())


def counters(metrics: Metrics, accounts: Sequence[SimulatedAccount]) -> dict[str, Any]:
    """What ``/_simulator/counters`` answers (and the command line prints on exit).

    :param metrics: the request log and counters.
    :param accounts: every simulated account.
    """
    by_status: Counter[str] = Counter()
    for account in accounts:
        by_status.update(_by_status(account.state))
    return {
        "requests": metrics.total_requests,
        "statusCounts": {str(k): v for k, v in sorted(metrics.status_counts.items())},
        "faultsInjected": dict(sorted(metrics.faults_injected.items())),
        "tokenRequests": metrics.token_requests,
        "messages": sum(by_status.values()),
        "messagesByStatus": dict(sorted(by_status.items())),
    }


def account_counters(metrics: Metrics, accounts: Sequence[SimulatedAccount]) -> list[dict[str, Any]]:
    """Per account: requests its tokens made, answers per status, messages per status, rate limit left.

    :param metrics: the request log and counters.
    :param accounts: every simulated account.
    """
    listed = []
    for account in accounts:
        answers = metrics.account_status_counts(account.hub_id)
        by_status = _by_status(account.state)
        remaining = dict(account.limiter.peek_headers()).get("X-HubSpot-RateLimit-Remaining")
        listed.append(
            {
                "hubId": account.hub_id,
                "requests": sum(answers.values()),
                "statusCounts": {str(k): v for k, v in sorted(answers.items(), key=lambda kv: str(kv[0]))},
                "messages": sum(by_status.values()),
                "messagesByStatus": dict(sorted(by_status.items())),
                "rateLimitRemaining": None if remaining is None else int(remaining),
            }
        )
    return listed


def _state(app: SimulatorApp, params: dict[str, str]) -> SimulatorState:
    hub_id = _int(params, "hubId", None, 1, 2**63 - 1)
    if hub_id is None:
        return app.ctx.state
    account = app.ctx.accounts.get(hub_id)
    if account is None:
        raise _BadQuery(f"no account {hub_id}; /_simulator/accounts lists them")
    return account.state


def _messages(app: SimulatorApp, params: dict[str, str]) -> dict[str, Any]:
    channel = _int(params, "channelId", None, 0, 2**31 - 1)
    limit = _int(params, "limit", MAX_LIMIT, 1, 100_000) or MAX_LIMIT
    state = _state(app, params)
    with state.lock:
        chosen = [m for m in state.messages.values() if channel is None or m.channel_id == channel]
        listed = [
            {
                "channelId": str(m.channel_id),
                "id": m.id,
                "direction": m.direction,
                "statusType": m.status_type,
                "createdAt": iso(m.created_at),
                "changes": len(m.history),
            }
            for m in sorted(chosen, key=lambda m: m.seq)[:limit]
        ]
    return {"messages": listed, "total": len(chosen)}


def _history(state: SimulatorState, channel_text: str, message_id: str) -> Reply:
    if not (len(channel_text) <= 10 and channel_text.isascii() and channel_text.isdigit()):
        raise _BadQuery("channelId must be digits")
    with state.lock:
        message = state.find_message(int(channel_text), message_id)
        if message is None:
            return json_reply(404, _error(f"no message {message_id!r} in channel {channel_text}"))
        current = message.status_type
    return json_reply(
        200,
        {
            "channelId": channel_text,
            "messageId": message_id,
            "statusType": current,
            "history": state.status_history(int(channel_text), message_id),
        },
    )
