"""Issue 12, defect 8: every attempt has a total deadline (connect + read timeout) however slowly a server drips
its answer, for API calls and token POSTs; and defect 21: the adapter's transport tuning really runs."""

from __future__ import annotations

import ipaddress
import ssl
import time

import pytest

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotConnectionError,
)
from airflow_provider_hubspot_channels.client.client import MAX_EXPIRY_REFRESHES
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

from ._servers import ScriptedServer, json_reply

DRIP = 0.3  # seconds between two bytes: every socket read gets its byte well within the timeout
TIMEOUT = 0.5
RETRIES = 1
MESSAGE = {"id": "m-1", "status": {"statusType": "SENT"}, "text": "x" * 40}


def dripping_config(server: ScriptedServer) -> ClientConfig:
    return ClientConfig(base_url=server.base_url, timeout=TIMEOUT, max_retries=RETRIES, max_retry_wait=0.1)


def policy() -> RetryPolicy:
    return RetryPolicy(max_retries=RETRIES, max_total_wait=0.1, backoff_base=0.05, backoff_max=0.05)


def test_a_dripping_api_answer_is_cut_at_the_attempt_deadline():
    with ScriptedServer(lambda *_: json_reply(200, MESSAGE), drip_seconds=DRIP) as server:
        config = dripping_config(server)
        with HubSpotChannelsClient(config=config, access_token="t" * 20, retry_policy=policy()) as client:
            started = time.monotonic()
            with pytest.raises(HubSpotConnectionError) as info:
                client.get_message(1001, "m-1")
            elapsed = time.monotonic() - started
    print(f"\n[deadline] dripping API answer: gave up after {elapsed:.2f} s")
    # Without the deadline one attempt alone takes len(answer) * DRIP, about 40 s.
    assert elapsed <= config.worst_case_call_seconds()
    assert elapsed >= (RETRIES + 1) * (config.connect_timeout + config.timeout) * 0.9
    assert "deadline" in str(info.value)
    assert (info.value.requests, info.value.unanswered) == (RETRIES + 1, RETRIES + 1)


def test_a_dripping_token_endpoint_is_cut_at_the_attempt_deadline():
    def answer(method, path, headers, body):
        return json_reply(200, {"access_token": "a" * 20, "expires_in": 1800})

    with ScriptedServer(answer, drip_seconds=DRIP) as server:
        config = dripping_config(server)
        client = HubSpotChannelsClient(
            config=config, client_id="id", client_secret="secret", refresh_token="refresh", retry_policy=policy()
        )
        started = time.monotonic()
        with client, pytest.raises(HubSpotConnectionError) as info:
            client.get_message(1001, "m-1")
        elapsed = time.monotonic() - started
        assert all(path.startswith("/oauth/") for path in server.paths())
    print(f"\n[deadline] dripping token endpoint: gave up after {elapsed:.2f} s")
    assert elapsed <= config.worst_case_call_seconds()
    assert "/oauth/" in str(info.value) and info.value.requests == 0


def self_signed(tmp_path):
    """A certificate and key for 127.0.0.1, written to ``tmp_path``; the certificate is its own CA."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def test_a_dripping_https_answer_is_cut_too(tmp_path):
    # The watchdog shuts the socket down below TLS: a plain-socket trick would not reach a TLS socket's reads.
    cert_file, key_file = self_signed(tmp_path)
    with ScriptedServer(lambda *_: json_reply(200, MESSAGE), drip_seconds=DRIP) as server:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        server.tls = context
        config = ClientConfig(
            base_url=server.base_url.replace("http:", "https:"),
            timeout=TIMEOUT,
            max_retries=0,
            max_retry_wait=0,
        )
        client = HubSpotChannelsClient(config=config, access_token="t" * 20, retry_policy=RetryPolicy(max_retries=0))
        client.session.verify = cert_file
        started = time.monotonic()
        with client, pytest.raises(HubSpotConnectionError, match="deadline"):
            client.get_message(1001, "m-1")
        elapsed = time.monotonic() - started
        assert len(server.requests) == 1  # the TLS handshake and the request went through: the answer dripped
    assert elapsed <= config.worst_case_call_seconds()


def test_the_worst_case_counts_token_posts_and_expiry_resends():
    config = ClientConfig(timeout=TIMEOUT, max_retries=RETRIES, max_retry_wait=2.0)
    attempt = config.connect_timeout + config.timeout
    # Every API attempt (retries and re-sends after 401 EXPIRED_AUTHENTICATION) may first need a token POST.
    assert config.worst_case_call_seconds() == pytest.approx((RETRIES + 1 + MAX_EXPIRY_REFRESHES) * 2 * attempt + 2.0)


def test_the_adapters_pool_lookup_and_deadline_connections_are_used_for_real_requests():
    # requests calls get_connection_with_tls_context only from 2.32.2 on; before, the override (and with it the
    # deadline) would be skipped silently. A real request must go through it.
    with HubSpotSimulator() as sim:
        sim.add_message(1001, "m-1")
        client = HubSpotChannelsClient(config=ClientConfig(base_url=sim.base_url), access_token=sim.access_token)
        with client:
            adapter = client.session.get_adapter(sim.base_url)
            assert adapter._pools == {}
            client.get_message(1001, "m-1")
            (pool,) = adapter._pools.values()
            assert pool.ConnectionCls.__name__.startswith("_Deadline")
            assert pool.num_connections == 1


def test_closing_the_client_ends_its_watchdog_thread():
    with ScriptedServer(lambda *_: json_reply(200, MESSAGE)) as server:
        client = HubSpotChannelsClient(config=dripping_config(server), access_token="t" * 20)
        with client:
            client.get_message(1001, "m-1")
            thread = client._watchdog._thread
            assert thread is not None and thread.is_alive()
        assert not thread.is_alive()
