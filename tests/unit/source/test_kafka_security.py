"""The Kafka security settings reach aiokafka as it expects them (client_options, shared by
the consumer and every producer), and wrong combinations are refused at start-up.

aiokafka's real client classes are built from the options (no broker is contacted): the
seam is aiokafka's constructor, whose own checks run too. SCRAM-SHA-256/512 with a broker
that knows the user, and SASL_SSL, cannot be exercised against the local brokers (see
tests/integration/test_kafka_sasl.py); these tests fix what socd hands over for them.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from socd.config import KafkaConfig
from socd.errors import ConfigError
from socd.source.kafka import client_options

MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    client = ca.issue_cert("socd")
    files = {"ca": folder / "ca.pem", "cert": folder / "c.pem", "key": folder / "c.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    return files


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_sasl_settings_reach_aiokafka(protocol: str, mechanism: str,
                                            pki: dict[str, Path]) -> None:
    """Mechanism, user and the password's value (not its SecretStr) reach the consumer and
    the producer; SASL_SSL brings an SSL context with the configured CA."""
    cfg = KafkaConfig.model_validate({
        "security_protocol": protocol, "sasl_mechanism": mechanism, "sasl_username": "socd",
        "sasl_password": "pw-ü", "ssl_cafile": str(pki["ca"])})
    options = client_options(cfg)
    consumer, producer = AIOKafkaConsumer(**options), AIOKafkaProducer(**options)
    for client in (consumer._client, producer.client):
        assert (client._security_protocol, client._sasl_mechanism) == (protocol, mechanism)
        assert (client._sasl_plain_username, client._sasl_plain_password) == ("socd", "pw-ü")
        context = client._ssl_context
        assert (context is not None) == (protocol == "SASL_SSL")
        if context is not None:
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
            assert len(context.get_ca_certs()) == 1  # the CA file only, not the system's
    await consumer.stop()
    await producer.stop()


async def test_ssl_with_a_client_certificate(pki: dict[str, Path]) -> None:
    """SSL: the CA and the client certificate are loaded into the context; no SASL key."""
    cfg = KafkaConfig.model_validate({
        "security_protocol": "SSL", "ssl_cafile": str(pki["ca"]),
        "ssl_certfile": str(pki["cert"]), "ssl_keyfile": str(pki["key"]),
        "ssl_check_hostname": False})
    options = client_options(cfg)
    assert "sasl_mechanism" not in options
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and not context.check_hostname
    await AIOKafkaConsumer(**options).stop()  # aiokafka accepts them


def test_plaintext_has_no_tls_and_no_sasl() -> None:
    options = client_options(KafkaConfig())
    assert options["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in options and "sasl_mechanism" not in options


@pytest.mark.parametrize(("keys", "told"), [
    ({"security_protocol": "SASL_SSL"}, "needs sasl_mechanism"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
     "needs sasl_username and sasl_password"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
     "needs sasl_username and sasl_password"),
    ({"sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": "p"},
     "has no effect with security_protocol PLAINTEXT"),
    ({"security_protocol": "SSL", "ssl_certfile": "c.pem"}, "ssl_certfile and ssl_keyfile go"),
])
def test_incomplete_security_settings_are_refused(keys: dict[str, str], told: str) -> None:
    with pytest.raises(ValidationError, match=told):
        KafkaConfig.model_validate(keys)


@pytest.mark.parametrize("which", ["ca", "key"])
def test_a_tls_file_that_cannot_be_loaded_is_a_config_error(
        tmp_path: Path, pki: dict[str, Path], which: str) -> None:
    """A missing CA file, or a key that is not the certificate's: ConfigError naming the
    key, not an OpenSSL traceback."""
    other = trustme.CA().issue_cert("x")
    wrong_key = tmp_path / "wrong.key"
    other.private_key_pem.write_to_path(str(wrong_key))
    keys = {"security_protocol": "SSL", "ssl_cafile": str(tmp_path / "none.pem")}
    if which == "key":
        keys = {"security_protocol": "SSL", "ssl_cafile": str(pki["ca"]),
                "ssl_certfile": str(pki["cert"]), "ssl_keyfile": str(wrong_key)}
    with pytest.raises(ConfigError) as caught:
        client_options(KafkaConfig.model_validate(keys))
    key = "kafka.ssl_cafile" if which == "ca" else "kafka.ssl_certfile"
    assert key in str(caught.value) and "Traceback" not in str(caught.value)
