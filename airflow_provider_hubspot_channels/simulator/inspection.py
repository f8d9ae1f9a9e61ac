"""What the simulator saw, over HTTP from outside its process: ``GET /_simulator/...``.

HubSpot's APIs never use a path starting with ``/_simulator`` (none of its OpenAPI specs does), so these endpoints
cannot shadow a real one. They need no token (the simulator binds 127.0.0.1 only and holds no real data), and they
bypass faults, latency, the rate limit and the request log: looking must not change what is measured.

* ``/_simulator`` lists the endpoints;
* ``/_simulator/requests?since=SEQ&limit=N``: the request log, numbered from 0, at most ``limit`` entries
  (default 100, at most 1,000) from ``since`` on (default: the newest); ``next`` is the ``since`` of the next
  poll and ``dropped`` how many the bounded log no longer keeps;
* ``/_simulator/counters``: answers per status, injected faults, token requests, messages per current status;
* ``/_simulator/messages?channelId=C&limit=N``: ids, direction and current status (no text or recipients);
* ``/_simulator/messages/{channelId}/{messageId}/history``: every status change of one message.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

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
            return json_reply(200, counters(app.metrics, app.ctx.state))
        if parts == ["messages"]:
            return json_reply(200, _messages(app, params))
        if len(parts) == 4 and parts[0] == "messages" and parts[3] == "history":
            return _history(app, parts[1], parts[2])
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
            }
            for offset, e in enumerate(chosen)
        ],
        "next": start + len(chosen),
        "dropped": first,
        "logLimit": app.metrics.log_limit,
    }


def counters(metrics: Metrics, state: SimulatorState) -> dict[str, Any]:
    """What ``/_simulator/counters`` answers (and the command line prints on exit).

    :param metrics: the request log and counters.
    :param state: the simulated account.
    """
    with state.lock:
        by_status = Counter(m.status_type or "NONE" for m in state.messages.values())
    return {
        "requests": metrics.total_requests,
        "statusCounts": {str(k): v for k, v in sorted(metrics.status_counts.items())},
        "faultsInjected": dict(sorted(metrics.faults_injected.items())),
        "tokenRequests": metrics.token_requests,
        "messages": sum(by_status.values()),
        "messagesByStatus": dict(sorted(by_status.items())),
    }


def _messages(app: SimulatorApp, params: dict[str, str]) -> dict[str, Any]:
    channel = _int(params, "channelId", None, 0, 2**31 - 1)
    limit = _int(params, "limit", MAX_LIMIT, 1, 100_000) or MAX_LIMIT
    state = app.ctx.state
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


def _history(app: SimulatorApp, channel_text: str, message_id: str) -> Reply:
    if not (len(channel_text) <= 10 and channel_text.isascii() and channel_text.isdigit()):
        raise _BadQuery("channelId must be digits")
    state = app.ctx.state
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
