"""Command line: run the HubSpot simulator until interrupted.

``python -m airflow_provider_hubspot_channels.simulator --port 8765 --scenario reconciliation --count 1000``

Prints ``KEY=VALUE`` lines on stdout (base URL, access token, OAuth client and refresh token, channel and inbox
ids) so that a shell or a test can read them, then serves until SIGINT or SIGTERM and exits 0 after a clean stop,
printing a one-line JSON summary (the counters of ``GET /_simulator/counters``, and per account those of
``GET /_simulator/accounts``) on stderr.

Many accounts: ``--accounts 50 --messages-per-account 200 --records-out records.jsonl --accounts-out accounts.json``
seeds 50 accounts (the default one first) with 200 records each; every record names its account as ``portal_id``,
and ``accounts.json`` holds ``{"base_url", "client_id", "client_secret", "accounts": {portal_id: refresh_token}}``
(written owner-readable only: it holds secrets).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from types import FrameType

from .faults import FAULT_KINDS, FaultConfig, methods_from, parse_script
from .inspection import account_counters, counters
from .scenarios import SCENARIOS
from .seeding import seed_from_file
from .server import HubSpotSimulator
from .state import DEFAULT_CHANNEL_ID, DEFAULT_INBOX_ID


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability within [0, 1]")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _not_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def _write_accounts(path: str, simulator: HubSpotSimulator) -> None:
    """Write the app's credentials and each account's refresh token, readable by the owner only (secrets)."""
    payload = {
        "base_url": simulator.base_url,
        "client_id": simulator.client_id,
        "client_secret": simulator.client_secret,
        "accounts": {str(a.hub_id): a.refresh_token for a in simulator.accounts()},
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="utf-8") as out:
        json.dump(payload, out, indent=1)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs an offset, e.g. 2026-03-01T12:00:00+00:00")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option documented in ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_hubspot_channels.simulator",
        description=(
            "Run a local HubSpot simulator (Custom Channels 2026-03 and v3, Conversations Inbox 2026-09 and v3, "
            "OAuth refresh) on 127.0.0.1. Prints KEY=VALUE lines (base URL, token, OAuth credentials) and serves "
            "until SIGINT/SIGTERM."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    server = parser.add_argument_group("server")
    server.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free port")
    server.add_argument("--seed", type=int, default=0, help="seed of faults, jitter, ids and the scenario")
    server.add_argument(
        "--request-log-limit",
        type=int,
        default=100_000,
        metavar="N",
        help="keep the newest N requests in the log (/_simulator/requests); counters count every request",
    )
    server.add_argument(
        "--run-for", type=_non_negative, default=None, metavar="SECONDS", help="stop after this many seconds"
    )

    seeding = parser.add_argument_group("seeding")
    seeding.add_argument(
        "--scenario", choices=("none", *SCENARIOS), default="none", help="named realistic scenario to seed"
    )
    seeding.add_argument("--count", type=int, default=None, help="records of the scenario (its default if unset)")
    seeding.add_argument(
        "--now", type=_aware, default=None, help="reference time of the scenario (ISO 8601 with offset)"
    )
    seeding.add_argument(
        "--seed-file",
        default=None,
        metavar="PATH",
        help="JSON Lines of channels, threads, messages and status changes to seed (see the simulator docs)",
    )
    seeding.add_argument(
        "--records-out", default=None, metavar="PATH", help="write the integrator's records as JSON Lines here"
    )
    seeding.add_argument(
        "--accounts", type=_positive, default=1, metavar="N", help="HubSpot accounts the app is installed in"
    )
    seeding.add_argument(
        "--messages-per-account",
        type=_not_negative_int,
        default=None,
        metavar="M",
        help="seed the scenario (reconciliation unless --scenario) with M records in each of the --accounts "
        "accounts; records name their account as portal_id",
    )
    seeding.add_argument(
        "--accounts-out",
        default=None,
        metavar="PATH",
        help="write JSON {base_url, client_id, client_secret, accounts: {portal_id: refresh_token}} here (mode 600)",
    )

    limits = parser.add_argument_group("rate limits and latency")
    limits.add_argument("--rate-limit", type=int, default=110, help="requests per rolling window; 0 disables")
    limits.add_argument("--rate-window", type=float, default=10.0, metavar="SECONDS", help="rolling window")
    limits.add_argument("--daily-limit", type=int, default=None, help="requests per UTC day (429 DAILY)")
    limits.add_argument("--latency", type=_non_negative, default=0.0, metavar="SECONDS", help="added per answer")
    limits.add_argument(
        "--latency-jitter", type=_non_negative, default=0.0, metavar="SECONDS", help="uniform extra latency"
    )

    faults = parser.add_argument_group("faults (probabilities per request, drawn from --seed)")
    for kind in ("429", "423", "500", "502", "503", "504"):
        faults.add_argument(f"--p-{kind}", type=_probability, default=0.0, metavar="P", help=f"answer {kind}")
    faults.add_argument("--p-reset", type=_probability, default=0.0, metavar="P", help="drop the connection")
    faults.add_argument(
        "--p-reset-after",
        type=_probability,
        default=0.0,
        metavar="P",
        help="process the request, then drop the connection unanswered",
    )
    faults.add_argument("--p-slow", type=_probability, default=0.0, metavar="P", help="delay by --slow-seconds")
    faults.add_argument("--slow-seconds", type=_non_negative, default=5.0, help="delay of a slow answer")
    faults.add_argument(
        "--html-share", type=_probability, default=0.0, metavar="P", help="share of 5xx answered as HTML"
    )
    faults.add_argument("--retry-after", type=int, default=None, help="Retry-After seconds on injected 429/423")
    faults.add_argument(
        "--fault-script",
        default=None,
        metavar="KINDS",
        help=f"comma separated kinds for the first requests, empty for none; kinds: {', '.join(FAULT_KINDS)}",
    )
    faults.add_argument(
        "--fault-methods", default=None, metavar="METHODS", help="inject only into these methods, e.g. PATCH,GET"
    )
    faults.add_argument(
        "--fault-path",
        action="append",
        default=None,
        metavar="GLOB",
        help="inject only into paths matching this glob (repeatable), e.g. '*/messages/*'",
    )

    auth = parser.add_argument_group("authentication")
    auth.add_argument("--token-lifetime", type=float, default=1800.0, metavar="SECONDS", help="access tokens")
    auth.add_argument("--rotate-refresh-tokens", action="store_true", help="refresh tokens are single use")
    auth.add_argument("--access-token", default=None, help="a fixed access token (every scope, never expires)")

    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument(
        "--strict-transitions",
        action="store_true",
        help="refuse status changes of messages that are READ or FAILED (an assumption: HubSpot documents none)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM (or ``--run-for``).

    :param argv: arguments; ``sys.argv[1:]`` when None.
    :returns: the exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        script = parse_script(args.fault_script) if args.fault_script is not None else None
        faults = FaultConfig(
            p_429=args.p_429,
            p_423=args.p_423,
            p_500=args.p_500,
            p_502=args.p_502,
            p_503=args.p_503,
            p_504=args.p_504,
            p_reset=args.p_reset,
            p_reset_after=args.p_reset_after,
            p_slow=args.p_slow,
            slow_seconds=args.slow_seconds,
            html_share=args.html_share,
            retry_after=args.retry_after,
            script=script,
            only_methods=methods_from(args.fault_methods.split(",")) if args.fault_methods else None,
            only_paths=tuple(args.fault_path) if args.fault_path else None,
        )
        simulator = HubSpotSimulator(
            port=args.port,
            rate_limit=args.rate_limit or None,
            rate_window_seconds=args.rate_window,
            daily_limit=args.daily_limit,
            latency=args.latency,
            latency_jitter=args.latency_jitter,
            faults=None if faults.total_probability == 0 and script is None else faults,
            seed=args.seed,
            token_lifetime=args.token_lifetime,
            rotate_refresh_tokens=args.rotate_refresh_tokens,
            strict_transitions=args.strict_transitions,
            access_token=args.access_token,
            request_log_limit=args.request_log_limit,
        )
        if args.seed_file is not None:
            seed_from_file(simulator.state, args.seed_file)
    except ValueError as exc:  # SeedFileError included: refused before serving, naming the line and the fix
        parser.error(str(exc))

    seeded = None
    records: list[dict[str, object]] | None = None
    if args.messages_per_account is not None:
        if args.count is not None:
            parser.error("--count seeds the default account only; with --messages-per-account leave it out")
        scenario = "reconciliation" if args.scenario == "none" else args.scenario
        records = simulator.seed_accounts(
            args.accounts, args.messages_per_account, seed=args.seed, scenario=scenario, now=args.now
        )
    else:
        while len(simulator.accounts()) < args.accounts:
            simulator.add_account()
        if args.scenario != "none":
            seeded = simulator.seed_scenario(args.scenario, args.count, now=args.now)
            records = seeded.records
    if records is not None and args.records_out:
        with open(args.records_out, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        simulator.start()
        lines = {
            "HUBSPOT_SIMULATOR_BASE_URL": simulator.base_url,
            "HUBSPOT_SIMULATOR_TOKEN": simulator.access_token,
            "HUBSPOT_SIMULATOR_CLIENT_ID": simulator.client_id,
            "HUBSPOT_SIMULATOR_CLIENT_SECRET": simulator.client_secret,
            "HUBSPOT_SIMULATOR_REFRESH_TOKEN": simulator.refresh_token,
            "HUBSPOT_SIMULATOR_HUB_ID": str(simulator.hub_id),
            "HUBSPOT_SIMULATOR_CHANNEL_ID": str(DEFAULT_CHANNEL_ID),
            "HUBSPOT_SIMULATOR_INBOX_ID": str(DEFAULT_INBOX_ID),
        }
        if records is not None and args.records_out:
            lines["HUBSPOT_SIMULATOR_RECORDS"] = str(args.records_out)
        if args.accounts_out:
            _write_accounts(args.accounts_out, simulator)
            lines["HUBSPOT_SIMULATOR_ACCOUNTS"] = str(args.accounts_out)
        print("\n".join(f"{key}={value}" for key, value in lines.items()), flush=True)
        summary = f"seeded scenario {seeded.name} ({dict(seeded.counts())})" if seeded else "no scenario seeded"
        if args.messages_per_account is not None:
            summary = f"seeded {args.accounts} accounts with {args.messages_per_account} records each"
        print(f"HubSpot simulator on {simulator.base_url}: {summary}; SIGINT/SIGTERM stops it", file=sys.stderr)
        # A timed wait keeps the main thread responsive to signals on every platform.
        deadline = args.run_for
        waited = 0.0
        while not stop.wait(0.2):
            waited += 0.2
            if deadline is not None and waited >= deadline:
                break
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    accounts = simulator.accounts()
    totals = counters(simulator.metrics, accounts)
    if len(accounts) > 1:
        totals["accounts"] = account_counters(simulator.metrics, accounts)
    print(
        f"HubSpot simulator stopped after {totals['requests']} requests; summary: {json.dumps(totals)}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
