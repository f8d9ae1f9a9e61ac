"""Issue 12, defect 4: no secret leaves the client in any form: bad secrets are refused without their value, and
every error text the client builds is redacted."""

from __future__ import annotations

import contextlib
import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotChannelsError,
    InvalidInputError,
    validate_secret,
)
from airflow_provider_hubspot_channels.client.retry import RetryPolicy

from ._servers import ScriptedServer, json_reply

FAST = RetryPolicy(max_retries=1, backoff_base=0.01, backoff_max=0.01)
BAD_TOKENS = [
    "tok-with\nnewline-0123456789",
    "tok-with\r\ncrlf-0123456789",
    "tok with space 0123456789",
    "tok-ünïcödé-0123456789",
    "tok-\x00-nul-0123456789",
    "tok-\u2028-linesep-0123",
]
GOOD_WITH_QUOTES = "tok-'quoted\"-<&>%+/=-0123456789"


def forms(secret: str) -> set[str]:
    """Every way a secret can show up in text."""
    found = {
        secret,
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        repr(f"Bearer {secret}".encode())[2:-1],
    }
    # http.client encodes header values in latin-1 when it can.
    with contextlib.suppress(UnicodeEncodeError):
        found.add(repr(f"Bearer {secret}".encode("latin-1"))[2:-1])
    # Escaped forms of a line break must not match the plain prefix of the token.
    return {f for f in found if f}


def assert_no_form(secret: str, *texts: str) -> None:
    for text in texts:
        for form in forms(secret):
            assert form not in text, f"a form of the secret ({form!r}) leaked"
        for part in secret.replace("\r", "\n").split("\n"):
            if len(part) >= 8:
                assert part not in text


def everything_about(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), repr(exc.args), *(str(a) for a in exc.args)]


@pytest.mark.parametrize("bad", BAD_TOKENS)
@pytest.mark.parametrize("field", ["password", "client_id", "client_secret", "refresh_token"])
def test_a_bad_secret_is_refused_by_name_without_its_value(bad, field, caplog):
    caplog.set_level(logging.DEBUG)
    kwargs = (
        {"access_token": bad}
        if field == "password"
        else {"client_id": "id-1", "client_secret": "secret-1", "refresh_token": "refresh-1", field: bad}
    )
    with pytest.raises(InvalidInputError) as info:
        HubSpotChannelsClient(config=ClientConfig(base_url="http://127.0.0.1:9"), **kwargs)
    assert info.value.field == field
    assert "Fix:" in str(info.value)
    assert_no_form(bad, *everything_about(info.value), caplog.text)


def test_outer_whitespace_is_stripped():
    assert validate_secret("  abc-DEF_123.~  \n", field="password") == "abc-DEF_123.~"
    with pytest.raises(InvalidInputError, match="password: it is empty"):
        validate_secret(" \n ", field="password")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_validate_secret_accepts_only_printable_ascii_without_spaces(value):
    try:
        cleaned = validate_secret(value, field="password")
    except InvalidInputError as exc:
        assert exc.field == "password"
        stripped = value.strip()
        if len(stripped) >= 4:
            assert stripped not in str(exc)
        return
    assert cleaned and all("!" <= c <= "~" for c in cleaned)
    assert cleaned == value.strip()


@pytest.mark.parametrize("bad", [*BAD_TOKENS, "tok-\\n-looks-escaped-123"])
def test_a_bad_access_token_from_the_token_endpoint_is_refused(bad, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def answer(method, path, headers, body):
        return json_reply(200, {"access_token": bad, "refresh_token": "refresh-1", "expires_in": 1800})

    with ScriptedServer(answer) as server:
        client = HubSpotChannelsClient(
            config=ClientConfig(base_url=server.base_url, max_retries=1, timeout=2),
            client_id="id-1",
            client_secret="secret-1",
            refresh_token="refresh-1",
            on_new_token=seen.append,
            retry_policy=FAST,
        )
        if "\\" in bad:  # printable: a valid token
            with client:
                client.authenticate()
            return
        with client, pytest.raises(InvalidInputError) as info:
            client.get_channel(1001)
    assert info.value.field == "access_token"
    assert bad in seen  # masked before anything else happened with it
    assert all(path.startswith("/oauth/") for path in server.paths())  # never sent to the API
    assert_no_form(bad, *everything_about(info.value), caplog.text, repr(client))


def test_a_server_that_echoes_the_token_never_gets_it_into_an_error(caplog):
    # Some proxies answer an error page that quotes the request, Authorization header included.
    caplog.set_level(logging.DEBUG)

    def answer(method, path, headers, body):
        token = headers.get("authorization", "")
        if path.startswith("/oauth/"):
            return json_reply(200, {"access_token": GOOD_WITH_QUOTES, "refresh_token": "refresh-1"})
        if "echo-json" in path:
            return json_reply(400, {"category": "VALIDATION_ERROR", "message": f"bad header {token!r} {token}"})
        if "echo-url" in path:
            return 502, {}, f"<html>{quote(token)} {quote_plus(token)}</html>".encode()
        return 503, {}, f"{token.encode()!r}".encode()

    with ScriptedServer(answer) as server:
        config = ClientConfig(base_url=server.base_url, max_retries=1, timeout=2)
        for kwargs in (
            {"access_token": GOOD_WITH_QUOTES},
            {"client_id": "id-1", "client_secret": "s3cr3t'\"<>", "refresh_token": "refresh-'1\""},
        ):
            with HubSpotChannelsClient(config=config, retry_policy=FAST, **kwargs) as client:
                for path in ("/echo-json", "/echo-url", "/echo-bytes"):
                    with pytest.raises(HubSpotChannelsError) as info:
                        client.request("GET", path)
                    assert "***" in str(info.value)
                    assert_no_form(GOOD_WITH_QUOTES, *everything_about(info.value), caplog.text, repr(client))
                    for secret in ("s3cr3t'\"<>", "refresh-'1\""):
                        assert_no_form(secret, *everything_about(info.value), caplog.text, repr(client))


def test_redact_covers_every_form_of_every_secret_the_client_knows():
    secret = "abc'def\"ghi<>%+/="
    client = HubSpotChannelsClient(
        config=ClientConfig(base_url="http://127.0.0.1:9"),
        access_token=secret,
    )
    for form in forms(secret):
        redacted = client.redact(f"x {form} y")
        assert "***" in redacted
        assert_no_form(secret, redacted)
    assert client.redact("nothing secret") == "nothing secret"


def test_an_unexpected_exception_while_sending_leaks_only_its_type(caplog):
    # A token the client refuses cannot reach http.client any more; an on_new_token callback (Airflow's
    # mask_secret) that fails with the token in its text stands in for any unexpected failure while sending.
    caplog.set_level(logging.DEBUG)

    def answer(method, path, headers, body):
        return json_reply(200, {"access_token": "fresh-token-0123456789", "expires_in": 1800})

    def failing_mask(secret: str) -> None:
        raise ValueError(f"Invalid header value b'Bearer {secret}'")

    with ScriptedServer(answer) as server:
        config = ClientConfig(base_url=server.base_url, max_retries=1, timeout=2)
        client = HubSpotChannelsClient(
            config=config,
            client_id="id-1",
            client_secret="secret-1",
            refresh_token="refresh-1",
            on_new_token=failing_mask,
            retry_policy=FAST,
        )
        with client, pytest.raises(HubSpotChannelsError) as info:
            client.get_channel(1001)
    assert "ValueError" in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None  # not even in a chained traceback
    assert_no_form("fresh-token-0123456789", *everything_about(info.value), caplog.text)


def test_no_configured_token_ever_leaks_through_a_server_that_echoes_it(caplog):
    # The class, not the examples: whatever the token, it is refused without its value or, once sent, redacted
    # from every error an echoing server provokes.
    caplog.set_level(logging.DEBUG)

    def echo(method, path, headers, body):
        token = headers.get("authorization", "")
        return json_reply(400, {"category": "VALIDATION_ERROR", "message": f"{token!r} {json.dumps(token)} {token}"})

    with ScriptedServer(echo) as server:
        config = ClientConfig(base_url=server.base_url, max_retries=0, timeout=2)

        printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=8, max_size=40)
        # A "token" that is part of the server's own URL (e.g. "127.0.0.") is found in every message naming it.
        # So is one that is a word of the client's repr (e.g. "base_url"): that is not a leak.
        shown = repr(HubSpotChannelsClient(config=config, access_token="placeholder-token"))
        tokens = st.one_of(printable, st.text(min_size=8, max_size=40)).filter(
            lambda t: "*" not in t and t.strip() not in server.base_url and t.strip() not in shown
        )

        @settings(max_examples=100, deadline=None)
        @given(tokens)
        def check(token: str) -> None:
            caplog.clear()
            try:
                client = HubSpotChannelsClient(config=config, access_token=token, retry_policy=FAST)
            except InvalidInputError as exc:
                assert exc.field == "password"
                if len(token.strip()) >= 8:
                    assert_no_form(token.strip(), *everything_about(exc), ours())
                return
            sent[0] += 1
            with client, pytest.raises(HubSpotChannelsError) as info:
                client.request("GET", "/echo")
            assert_no_form(token.strip(), *everything_about(info.value), ours(), repr(client))

        def ours() -> str:
            # urllib3's own debug lines show the request line, which a short token may happen to match.
            return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("airflow_provider"))

        sent = [0]
        check()
        assert sent[0] >= 20  # most examples were sent and echoed, not only refused
