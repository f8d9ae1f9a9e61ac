"""HubSpotRetryPolicy: typed errors decide what a task retry does (Airflow 3.3's task retry policies, AIP-105).

``evaluate`` is tested with real exception objects raised the way the operators raise them: a client call against the
simulator fails, and the operator's mapping (``airflow_error``) wraps it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotChannelsError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.client.retry import RetryPolicy as ClientRetries
from airflow_provider_hubspot_channels.operators.errors import AirflowException, HubSpotUnavailableError, airflow_error
from airflow_provider_hubspot_channels.operators.retry_policy import (
    RETRY_POLICIES_SUPPORTED,
    FailureKind,
    HubSpotRetryPolicy,
    failure_kind,
    next_daily_reset,
    retry_policy_kwargs,
)
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator

needs_retry_policies = pytest.mark.skipif(
    not RETRY_POLICIES_SUPPORTED, reason="task retry policies arrived in Airflow 3.3"
)
FAST = ClientRetries(max_retries=2, max_total_wait=5, backoff_base=0.01, backoff_max=0.02, lock_wait=0.01)
NOON_UTC = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def client_error(sim: HubSpotSimulator, call: str = "get", token: str | None = None) -> HubSpotChannelsError:
    """What a client call against ``sim`` raises."""
    config = ClientConfig(base_url=sim.base_url, max_requests_per_10s=1000, timeout=2)
    with HubSpotChannelsClient(config=config, access_token=token or sim.access_token, retry_policy=FAST) as client:
        try:
            if call == "patch":
                client.update_message_status(1001, "m-1", "READ")
            else:
                client.get_message(1001, "m-1")
        except HubSpotChannelsError as exc:
            return exc
    raise AssertionError("the call did not fail")


def as_operator_raises(exc: HubSpotChannelsError, *, policy_decides: bool = True) -> BaseException:
    """The exception a task ends with: the operators raise ``airflow_error(...)`` (sometimes ``from`` the error)."""
    try:
        raise airflow_error(exc, conn_id="hubspot_channels_default", policy_decides=policy_decides)
    except AirflowException as raised:
        return raised


@pytest.fixture(scope="module")
def errors() -> dict[str, HubSpotChannelsError]:
    """One real client error of each kind the table names."""
    found: dict[str, HubSpotChannelsError] = {}
    with HubSpotSimulator() as sim:
        sim.add_message(1001, "m-1")
        found["token_refused"] = client_error(sim, token="not-a-token-of-this-account")
        read_only = sim.issue_token(scopes=["conversations.custom_channels.read"])
        found["scope_missing"] = client_error(sim, "patch", token=read_only)
    with HubSpotSimulator() as sim:
        found["not_found"] = client_error(sim)
    with HubSpotSimulator(daily_limit=1) as sim:
        sim.add_message(1001, "m-1")
        config = ClientConfig(base_url=sim.base_url, max_requests_per_10s=1000)
        with HubSpotChannelsClient(config=config, access_token=sim.access_token) as client:
            client.get_message(1001, "m-1")
        found["daily_limit"] = client_error(sim)
    with HubSpotSimulator(faults=FaultConfig(p_503=1.0)) as sim:
        found["server_down"] = client_error(sim)
    with HubSpotSimulator(faults=FaultConfig(p_reset=1.0)) as sim:
        found["no_answer"] = client_error(sim)
    with HubSpotSimulator(faults=FaultConfig(p_429=1.0, retry_after=0)) as sim:
        found["rate_limited"] = client_error(sim)
    found["invalid_input"] = InvalidInputError("status_type", "'DONE' is not a status", "use SENT, READ or FAILED")
    return found


EXPECTED_KIND = {
    "token_refused": FailureKind.REFUSED,
    "scope_missing": FailureKind.REFUSED,
    "not_found": FailureKind.REFUSED,
    "invalid_input": FailureKind.REFUSED,
    "daily_limit": FailureKind.DAILY_LIMIT,
    "server_down": FailureKind.UNAVAILABLE,
    "no_answer": FailureKind.UNAVAILABLE,
    "rate_limited": None,
}


def test_each_client_error_has_its_kind_also_behind_the_operators_exception(errors):
    for name, exc in errors.items():
        assert failure_kind(exc) is EXPECTED_KIND[name], name
        assert failure_kind(as_operator_raises(exc)) is EXPECTED_KIND[name], name
    assert failure_kind(HubSpotUnavailableError("a batch stopped: HubSpot did not answer")) is FailureKind.UNAVAILABLE
    assert failure_kind(RuntimeError("anything else")) is None
    assert failure_kind(TimeoutError("execution_timeout")) is None


def test_the_daily_limit_is_retryable_only_when_a_retry_policy_decides(errors):
    from airflow_provider_hubspot_channels.operators.errors import AirflowFailException

    # Without a policy (Airflow 3.1/3.2, or none attached) the task fails at once as before: a retry in
    # retry_delay would only meet the same limit.
    assert isinstance(as_operator_raises(errors["daily_limit"], policy_decides=False), AirflowFailException)
    raised = as_operator_raises(errors["daily_limit"], policy_decides=True)
    assert not isinstance(raised, AirflowFailException) and isinstance(raised, AirflowException)
    assert "daily request limit" in str(raised)
    # the rest of the mapping does not depend on the policy
    for name in ("token_refused", "scope_missing", "not_found"):
        assert isinstance(as_operator_raises(errors[name], policy_decides=True), AirflowFailException), name


@pytest.mark.parametrize(
    ("zone", "now", "reset"),
    [
        ("UTC", NOON_UTC, datetime(2026, 12, 4, 0, 0, tzinfo=timezone.utc)),
        # 07:00 in New York (UTC-5 in December): the next midnight there is 05:00 UTC tomorrow
        ("America/New_York", NOON_UTC, datetime(2026, 12, 4, 5, 0, tzinfo=timezone.utc)),
        # 21:00 in Tokyo (UTC+9): midnight there is 15:00 UTC today
        ("Asia/Tokyo", NOON_UTC, datetime(2026, 12, 3, 15, 0, tzinfo=timezone.utc)),
        # exactly midnight: the limit was hit after the reset, so the next one is a day later
        ("UTC", datetime(2026, 12, 4, 0, 0, tzinfo=timezone.utc), datetime(2026, 12, 5, 0, 0, tzinfo=timezone.utc)),
        # the night clocks go forward in New York (8 March 2026): midnight is still midnight
        (
            "America/New_York",
            datetime(2026, 3, 7, 12, 0, tzinfo=timezone.utc),
            datetime(2026, 3, 8, 5, 0, tzinfo=timezone.utc),
        ),
    ],
)
def test_next_daily_reset_is_midnight_in_the_accounts_time_zone(zone, now, reset):
    assert next_daily_reset(now, zone) == reset


@needs_retry_policies
def test_the_failure_table(errors):
    from airflow.sdk.definitions.retry_policy import RetryAction

    policy = HubSpotRetryPolicy(account_timezone="America/New_York", clock=lambda: NOON_UTC)

    def decide(name: str, try_number: int = 1):
        return policy.evaluate(as_operator_raises(errors[name]), try_number=try_number, max_tries=3)

    daily = decide("daily_limit")
    assert daily.action is RetryAction.RETRY
    # 05:00 UTC tomorrow plus the 5 minute margin, from noon UTC
    assert daily.retry_delay == timedelta(hours=17, minutes=5)
    assert "2026-12-04T00:05:00-05:00" in (daily.reason or "")
    for name in ("token_refused", "scope_missing", "not_found", "invalid_input"):
        decision = decide(name)
        assert decision.action is RetryAction.FAIL, name
        assert decision.reason, name
    down = [decide(name, try_number) for name in ("server_down", "no_answer") for try_number in (1, 2, 3, 9)]
    assert {d.action for d in down} == {RetryAction.RETRY}
    assert [d.retry_delay for d in down[:4]] == [
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(hours=1),
    ]
    assert decide("rate_limited").action is RetryAction.DEFAULT
    timeout = policy.evaluate(TimeoutError("execution_timeout"), try_number=1, max_tries=3)
    assert timeout.action is RetryAction.DEFAULT
    unfinished = AirflowException("HubSpot connection 'c': stopped: the task was killed. 3 messages ...")
    assert policy.evaluate(unfinished, try_number=1, max_tries=3).action is RetryAction.DEFAULT


def test_bad_settings_name_the_field_and_the_fix():
    with pytest.raises(InvalidInputError, match=r"account_timezone.*IANA"):
        next_daily_reset(NOON_UTC, "Mars/Olympus_Mons")
    if RETRY_POLICIES_SUPPORTED:
        with pytest.raises(InvalidInputError, match="account_timezone"):
            HubSpotRetryPolicy(account_timezone="CEST+2")
        with pytest.raises(InvalidInputError, match="unavailable_delay"):
            HubSpotRetryPolicy(unavailable_delay=timedelta(0))
        with pytest.raises(InvalidInputError, match="reset_margin"):
            HubSpotRetryPolicy(reset_margin=timedelta(hours=-1))


def test_retry_policy_kwargs_attach_the_policy_only_where_airflow_has_retry_policies():
    kwargs = retry_policy_kwargs()
    if RETRY_POLICIES_SUPPORTED:
        assert isinstance(kwargs["retry_policy"], HubSpotRetryPolicy)
        from airflow.sdk import BaseOperator

        assert BaseOperator(task_id="t", **kwargs).retry_policy is kwargs["retry_policy"]
    else:
        assert kwargs == {}


# -- any exception, any chain, any time and zone: evaluate never raises and its delays stay within bounds -----------

_ZONES = st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
_INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)


@settings(max_examples=300, deadline=None)
@given(now=_INSTANTS, zone=_ZONES)
def test_the_next_reset_is_within_a_day_and_at_midnight_there(now, zone):
    from zoneinfo import ZoneInfo

    reset = next_daily_reset(now, zone)
    assert now < reset <= now + timedelta(hours=25)  # a day, plus one hour where clocks go back
    local = reset.astimezone(ZoneInfo(zone))
    assert (local.hour, local.minute) == (0, 0) or local.date() != (reset - timedelta(hours=1)).astimezone(
        ZoneInfo(zone)
    ).date()


_LEAVES = st.sampled_from(list(EXPECTED_KIND))


@needs_retry_policies
@settings(max_examples=150, deadline=None)
@given(
    leaf=_LEAVES,
    wrappers=st.lists(st.sampled_from(["cause", "context", "airflow"]), max_size=4),
    cycle=st.booleans(),
    try_number=st.integers(min_value=-5, max_value=10_000),
    now=_INSTANTS,
)
def test_evaluate_never_raises_and_keeps_its_delays_bounded(errors, leaf, wrappers, cycle, try_number, now):
    from airflow.sdk.definitions.retry_policy import RetryAction

    exc: BaseException = errors[leaf]
    for wrapper in wrappers:
        outer: BaseException = AirflowException("wrapped") if wrapper == "airflow" else RuntimeError("wrapped")
        if wrapper == "context":
            outer.__context__ = exc
        else:
            outer.__cause__ = exc
        exc = outer
    if cycle:
        inner = errors[leaf]
        inner.__context__ = exc  # a chain that loops back: the walk must end
    try:
        policy = HubSpotRetryPolicy(clock=lambda: now)
        decision = policy.evaluate(exc, try_number=try_number, max_tries=3)
    finally:
        errors[leaf].__context__ = None
    assert decision.action in set(RetryAction)
    if decision.retry_delay is not None:
        assert timedelta(0) < decision.retry_delay <= timedelta(hours=25, minutes=5)
    assert (decision.action is RetryAction.FAIL) == (EXPECTED_KIND[leaf] is FailureKind.REFUSED)


def test_without_retry_policies_in_airflow_the_module_imports_and_attaches_nothing():
    # Airflow 3.1/3.2 have no retry_policy module: simulated in a fresh interpreter by making it unimportable.
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['airflow.sdk.definitions.retry_policy'] = None\n"
        "from airflow_provider_hubspot_channels.operators import retry_policy as r\n"
        "from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator\n"
        "assert r.RETRY_POLICIES_SUPPORTED is False and r.retry_policy_kwargs() == {}\n"
        "UpdateMessageStatusOperator(task_id='t', channel_id=1, message_id='m', status_type='SENT',"
        " **r.retry_policy_kwargs())\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
