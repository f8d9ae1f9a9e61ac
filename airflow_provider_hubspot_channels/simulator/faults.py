"""Seeded fault injection: the failures a client of HubSpot has to survive.

Kinds (strings, usable in :attr:`FaultConfig.script`):

* ``"429"``: HubSpot's ``TEN_SECONDLY_ROLLING`` 429 body (with ``Retry-After`` when configured).
* ``"423"``: 423 Locked in HubSpot's ``Error`` shape.
* ``"500"``, ``"502"``, ``"503"``, ``"504"``: JSON error in HubSpot's shape; ``"500_html"`` ... ``"504_html"`` answer
  an HTML gateway page instead (probabilistic 5xx pick HTML with probability ``html_share``).
* ``"400"`` (script only): 400 ``VALIDATION_ERROR`` for a rule HubSpot does not document: a refusal that repeats on
  every retry, answered before the request touches any state.
* ``"reset"``: the connection is dropped (TCP reset) before anything is processed or answered.
* ``"reset_after"``: the request is processed in full (a PATCH lands) and then the connection is dropped without an
  answer. This models a write that succeeded "in flight" while the client saw a network error.
* ``"slow"``: the answer is delayed by ``slow_seconds`` and then processed and answered normally, so a client with
  a shorter timeout gives up although the write still lands afterwards.

Every fault except ``reset_after`` and ``slow`` is decided and answered before the request touches any state, so a
faulted PATCH never changed anything. Injected faults are decided before authentication and rate limiting and do
not consume rate-limit budget (they model the network and HubSpot's front end, not the API).

Determinism: all draws come from one ``random.Random(seed)`` under a lock, and only requests that match the
filters draw. For the same seed, configuration and order of matching requests the sequence of faults is the same.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .responses import Reply, error_reply, html_reply, rate_limit_reply

ERROR_KINDS = ("429", "423", "500", "502", "503", "504")
HTML_KINDS = ("500_html", "502_html", "503_html", "504_html")
#: Kinds only a script injects: refusals are not weather, so they have no probability.
SCRIPT_ONLY_KINDS = ("400",)
FAULT_KINDS: tuple[str, ...] = (*ERROR_KINDS, *SCRIPT_ONLY_KINDS, *HTML_KINDS, "reset", "reset_after", "slow")

# Order in which probabilities are laid out on [0, 1); part of the determinism contract.
_PROBABILITY_ORDER = ("429", "423", "500", "502", "503", "504", "reset", "reset_after", "slow")


@dataclass(frozen=True)
class FaultConfig:
    """What to inject, and how often.

    :param p_429: probability of a 429 (``TEN_SECONDLY_ROLLING`` body).
    :param p_423: probability of a 423 Locked.
    :param p_500: probability of a 500.
    :param p_502: probability of a 502.
    :param p_503: probability of a 503.
    :param p_504: probability of a 504.
    :param p_reset: probability of dropping the connection before processing.
    :param p_reset_after: probability of processing and then dropping the connection unanswered.
    :param p_slow: probability of delaying the answer by ``slow_seconds``.
    :param slow_seconds: the delay of a ``slow`` fault.
    :param html_share: fraction of probabilistic 5xx answered with an HTML page instead of JSON.
    :param retry_after: seconds for a ``Retry-After`` header on injected 429 and 423, or None for no header.
    :param script: fault kinds (or None for "no fault") applied in order to the first matching requests, before
        any probability is drawn.
    :param only_methods: inject only into these HTTP methods (e.g. ``{"PATCH"}``); all when None.
    :param only_paths: inject only into paths matching one of these ``fnmatch`` globs
        (e.g. ``"*/messages/*"``); all when None.
    """

    p_429: float = 0.0
    p_423: float = 0.0
    p_500: float = 0.0
    p_502: float = 0.0
    p_503: float = 0.0
    p_504: float = 0.0
    p_reset: float = 0.0
    p_reset_after: float = 0.0
    p_slow: float = 0.0
    slow_seconds: float = 5.0
    html_share: float = 0.0
    retry_after: int | None = None
    script: tuple[str | None, ...] | None = None
    only_methods: frozenset[str] | None = None
    only_paths: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("html_share", *(f"p_{k}" for k in _PROBABILITY_ORDER)):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.total_probability > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to {self.total_probability:.3f}; at most 1 allowed")
        if self.slow_seconds < 0:
            raise ValueError("slow_seconds must not be negative")
        if self.script is not None:
            object.__setattr__(self, "script", tuple(self.script))
            unknown = [k for k in self.script if k is not None and k not in FAULT_KINDS]
            if unknown:
                raise ValueError(f"unknown fault kinds in script: {unknown}; known: {', '.join(FAULT_KINDS)}")
        if self.only_methods is not None:
            object.__setattr__(self, "only_methods", frozenset(m.upper() for m in self.only_methods))
        if self.only_paths is not None:
            object.__setattr__(self, "only_paths", tuple(self.only_paths))

    @property
    def total_probability(self) -> float:
        """Sum of all fault probabilities."""
        return float(sum(getattr(self, f"p_{k}") for k in _PROBABILITY_ORDER))

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is eligible for injection.

        :param method: HTTP method.
        :param path: request path without query.
        """
        if self.only_methods is not None and method.upper() not in self.only_methods:
            return False
        return self.only_paths is None or any(fnmatch.fnmatchcase(path, p) for p in self.only_paths)


@dataclass
class FaultPlan:
    """Draws faults for requests, deterministically from a seed.

    :param config: what to inject; None injects nothing.
    :param seed: seed of the random sequence.
    """

    config: FaultConfig | None
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _scripted: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def decide(self, method: str, path: str) -> str | None:
        """The fault for the next request, or None.

        :param method: HTTP method.
        :param path: request path without query.
        """
        config = self.config
        if config is None or not config.matches(method, path):
            return None
        with self._lock:
            script = config.script
            if script is not None and self._scripted < len(script):
                kind = script[self._scripted]
                self._scripted += 1
                return kind
            if config.total_probability <= 0.0:
                return None
            draw = self._rng.random()
            cumulative = 0.0
            for kind in _PROBABILITY_ORDER:
                cumulative += getattr(config, f"p_{kind}")
                if draw < cumulative:
                    if kind in ("500", "502", "503", "504") and self._rng.random() < config.html_share:
                        return kind + "_html"
                    return kind
            return None


class LatencyModel:
    """Fixed latency plus uniform jitter, drawn from its own seeded generator so it does not shift the fault
    sequence.

    :param latency: seconds added to every answer.
    :param jitter: up to this many further seconds, uniformly drawn.
    :param seed: seed of the jitter draws.
    """

    def __init__(self, latency: float = 0.0, jitter: float = 0.0, seed: int = 0) -> None:
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter must not be negative")
        self.latency = latency
        self.jitter = jitter
        self._rng = random.Random(seed ^ 0x5EED)
        self._lock = threading.Lock()

    def next_delay(self) -> float:
        """Seconds to wait before answering the next request."""
        if self.jitter <= 0:
            return self.latency
        with self._lock:
            return self.latency + self._rng.uniform(0.0, self.jitter)


def parse_script(text: str) -> tuple[str | None, ...]:
    """Parse a comma separated fault script; empty items, ``-`` and ``none`` mean "no fault".

    :param text: e.g. ``"429,,500_html,reset"``.
    :raises ValueError: unknown kind.
    """
    kinds: list[str | None] = []
    for item in text.split(","):
        item = item.strip()
        if item in ("", "-") or item.lower() == "none":
            kinds.append(None)
        elif item in FAULT_KINDS:
            kinds.append(item)
        else:
            raise ValueError(f"unknown fault kind {item!r}; known: {', '.join(FAULT_KINDS)}")
    return tuple(kinds)


def methods_from(values: Iterable[str]) -> frozenset[str]:
    """Upper-cased set of HTTP methods.

    :param values: method names.
    """
    return frozenset(v.strip().upper() for v in values if v.strip())


_FAULT_CATEGORIES = {
    500: ("INTERNAL_ERROR", "An internal error occurred. Please retry."),
    502: ("BAD_GATEWAY", "Bad gateway. Please retry."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please retry."),
    504: ("GATEWAY_TIMEOUT", "The request timed out upstream. Please retry."),
}


def fault_reply(kind: str, config: FaultConfig, rate_headers: Sequence[tuple[str, str]]) -> Reply:
    """The answer of an injected error fault.

    :param kind: one of :data:`ERROR_KINDS` or :data:`HTML_KINDS`.
    :param config: the fault configuration (for ``retry_after``).
    :param rate_headers: current rate-limit headers (sent with JSON answers, as HubSpot's API would).
    """
    retry = [("Retry-After", str(config.retry_after))] if config.retry_after is not None else []
    if kind == "429":
        return rate_limit_reply("TEN_SECONDLY_ROLLING", [*rate_headers, *retry])
    if kind == "423":
        return error_reply(
            423,
            "LOCKED",
            "The resource is locked by a concurrent operation. Wait at least 2 seconds and retry.",
            headers=[*rate_headers, *retry],
        )
    if kind == "400":
        return error_reply(
            400, "VALIDATION_ERROR", "The request was refused by a validation rule.", headers=rate_headers
        )
    if kind.endswith("_html"):
        return html_reply(int(kind[:3]))
    status = int(kind)
    category, message = _FAULT_CATEGORIES[status]
    return error_reply(status, category, message, headers=rate_headers)
