"""Elasticsearch's TLS and authentication settings: what reaches the client, what start-up
refuses, and the message of a TLS failure."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import trustme
from aiohttp import ServerFingerprintMismatch
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import TlsError

from socd.config import ElasticsearchConfig, read_config, validate_config
from socd.sinks.elasticsearch.client import make_client
from socd.sinks.elasticsearch.health import tls_failure, tls_refused


async def test_api_key_and_basic_auth_headers() -> None:
    """The API key's value (not its SecretStr) as ``ApiKey``; else user and password as
    ``Basic`` (RFC 7617)."""
    client = make_client(ElasticsearchConfig.model_validate({"api_key": "a2V5OnNlY3JldA=="}))
    assert client._headers["authorization"] == "ApiKey a2V5OnNlY3JldA=="
    await client.close()
    client = make_client(ElasticsearchConfig.model_validate(
        {"username": "socd", "password": "pässword"}))
    expected = base64.b64encode("socd:pässword".encode()).decode()
    assert client._headers["authorization"] == f"Basic {expected}"
    await client.close()


@pytest.mark.parametrize("written", [
    "AB:" * 31 + "AB", "ab" * 32, " " + "Ab" * 32 + " "])
def test_fingerprints_are_normalised(written: str) -> None:
    cfg = ElasticsearchConfig.model_validate({"hosts": ["https://es:9200"],
                                              "ssl_assert_fingerprint": written})
    assert cfg.ssl_assert_fingerprint == "ab" * 32


@pytest.mark.parametrize("written", ["ab" * 31, "zz" * 32, "SHA256 Fingerprint=ab"])
def test_a_malformed_fingerprint_is_refused(written: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256 fingerprint"):
        ElasticsearchConfig.model_validate({"ssl_assert_fingerprint": written})


def test_missing_tls_files_are_config_problems_on_their_keys(tmp_path: Path) -> None:
    """A CA file that is not there, a client key that is not the certificate's: problems on
    ``elasticsearch.ca_certs`` and ``elasticsearch.client_cert`` at validation, before any
    server is touched."""
    leaf, other = trustme.CA().issue_cert("socd"), trustme.CA().issue_cert("x")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    other.private_key_pem.write_to_path(str(tmp_path / "o.key"))
    path = tmp_path / "socd.yaml"
    path.write_text(f"""
inputs:
  - {{topic: t1, connector: cyradar, layer: 2, sensor: s}}
elasticsearch:
  hosts: ["https://es:9200"]
  ca_certs: {tmp_path / "none.pem"}
  client_cert: {tmp_path / "c.pem"}
  client_key: {tmp_path / "o.key"}
""")
    raw = read_config(path, {})
    validate_config(raw)
    keys = {problem.key for problem in raw.problems}
    assert {"elasticsearch.ca_certs", "elasticsearch.client_cert"} <= keys


def _chained(outer: Exception, *causes: BaseException) -> Exception:
    current: BaseException = outer
    for cause in causes:
        current.__cause__ = cause
        current = cause
    return outer


@pytest.mark.parametrize(("error", "told"), [
    (_chained(TlsError("x"), ssl.SSLCertVerificationError(
        1, "certificate verify failed")), "elasticsearch.ca_certs"),
    (_chained(TransportConnectionError("x"), ServerFingerprintMismatch(b"a", b"b", "h", 1)),
     "elasticsearch.ssl_assert_fingerprint"),
    (_chained(TlsError("x"), ssl.SSLError(1, "tlsv13 alert certificate required")),
     "elasticsearch.client_cert"),
])
def test_tls_failures_name_the_setting(error: Exception, told: str) -> None:
    cfg = ElasticsearchConfig.model_validate({"hosts": ["https://es:9200"]})
    assert tls_failure(error) is not None
    refused = tls_refused(cfg, error)
    assert told in str(refused) and not refused.retriable


def test_a_plain_connection_error_is_no_tls_failure() -> None:
    assert tls_failure(_chained(TransportConnectionError("x"), ConnectionRefusedError())) is None
