"""SASL against the local brokers that speak it.

* noida-db's Kafka offers the PLAIN mechanism (and only it), and accepts any user and
  password: the PLAIN exchange runs for real here, a wrong password cannot be refused.
* Tansu (``--authentication``) offers SCRAM-SHA-256 and SCRAM-SHA-512 and checks them, but
  its users are created through the Kafka API by a client already authenticated, which its
  memory-only storage makes impossible to begin: the SCRAM exchange runs for real up to the
  broker's refusal, which must stop start-up with a clear line.

SASL_SSL combines the TLS of test_tls.py with these exchanges; neither broker can advertise
a TLS terminator's port while speaking SASL here, so it is covered by the unit tests of the
settings that reach aiokafka (tests/unit/source/test_kafka_security.py).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, _tansu_binary, free_port
from tests.integration.conftest import make_topics
from tests.integration.helpers import daemon, produce, wait_for_count, write_config

pytestmark = pytest.mark.integration

PASSWORD = "sasl-SENTINEL-7f3a"


def _config(tmp_path: Path, servers: Endpoints, unique: str, kafka: dict[str, object]) -> Path:
    path = write_config(tmp_path / "socd.yaml", servers, unique, free_port(),
                        watch_rules=False)
    data = yaml.safe_load(path.read_text())
    data["kafka"].update(kafka)
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "kafka-password").write_text(PASSWORD + "\n")
    return path


async def test_sasl_plain_reads_a_threat(noida_kafka: Endpoints, unique: str,
                                         tmp_path: Path) -> None:
    """SASL_PLAINTEXT with PLAIN, the password from ``kafka.sasl_password_file``: socd
    authenticates to noida-db's Kafka and indexes the threat it reads; the password is in
    no line of its log."""
    topic = f"sensors.cyradar.{unique}"
    await make_topics(noida_kafka.kafka, topic, f"socd.dead-letter.{unique}", partitions=1)
    await produce(noida_kafka.kafka, topic, [orjson.dumps({
        "alert_id": f"sasl-{unique}", "detected_at": "2026-06-15T08:12:44+07:00",
        "sensor": {"id": "bp-ndr-01", "name": "core-dc", "org": "So TTTT Binh Phuoc"},
        "severity": 9, "category": "apt_c2", "threat_name": "apt_c2 over SASL",
        "src": {"ip": "10.20.1.15", "port": 52344}, "dst": {"ip": "185.244.25.1", "port": 443},
        "protocol": "tcp", "action": "alerted", "mitre": ["T1071.001"]})])
    config = _config(tmp_path, noida_kafka, unique, {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
        "sasl_username": "socd", "sasl_password_file": "kafka-password"})
    client = AsyncElasticsearch(noida_kafka.elasticsearch)
    try:
        with daemon(config, tmp_path / "socd.log") as process:
            count = await wait_for_count(client, f"t{unique}-alerts*", 1, process)
    finally:
        await client.close()
    log = (tmp_path / "socd.log").read_text()
    assert count == 1, log[-3000:]
    assert PASSWORD not in log


@pytest.fixture(scope="module")
def tansu_scram(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker that requires SASL (SCRAM)."""
    folder = tmp_path_factory.mktemp("scram")
    port = free_port()
    listener = f"tcp://127.0.0.1:{port}"
    with open(folder / "tansu.log", "wb") as log:
        process = subprocess.Popen(
            [_tansu_binary(), "broker", "--listener-url", listener, "--advertised-listener-url",
             listener, "--storage-engine", "memory://tansu/", "--authentication"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (folder / "tansu.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "Tansu did not listen"
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_refused_stops_start_up_with_a_clear_line(
        tansu_scram: str, servers: Endpoints, unique: str, tmp_path: Path,
        mechanism: str) -> None:
    """A SCRAM user the broker does not know: start-up stops (exit 1) with one line naming
    the mechanism, the user and kafka.sasl_password; no traceback, and no password."""
    config = _config(tmp_path, Endpoints(tansu_scram, servers.elasticsearch), unique, {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
        "sasl_username": "socd", "sasl_password_file": "kafka-password"})
    with daemon(config, tmp_path / "socd.log") as process:
        status = process.wait(timeout=60)
    output = (tmp_path / "socd.log").read_text()
    assert status == 1 and "Traceback" not in output, output[-3000:]
    assert f"refused the SASL authentication ({mechanism} as 'socd')" in output, output[-3000:]
    assert "kafka.sasl_password" in output and PASSWORD not in output
