"""TLS and authentication against real servers, with a certificate authority made here.

Neither local server speaks TLS itself (Tansu 0.6.0's ``--cert`` and ``--key`` cannot be
given together; noida-db has no TLS), so Debian's ``stunnel4`` terminates TLS in front of
them, as a TLS listener or a load balancer does in front of a real cluster:

* Kafka: a Tansu broker whose advertised listener is stunnel's port, so that every
  connection of the client (bootstrap, then the partition leaders) goes through TLS; a
  second one behind a stunnel service that requires a client certificate (``verify = 2``);
* Elasticsearch: noida-db behind stunnel, with and without a required client certificate.

SASL: noida-db's Kafka offers SASL/PLAIN (and accepts any user and password: it checks
none), so SASL_PLAINTEXT with PLAIN is exercised end to end; Tansu offers only SCRAM, with
users created through the Kafka API by an authenticated client, which its memory-only
storage makes impossible to begin, so SCRAM is exercised up to the broker's refusal. The
settings reaching aiokafka for every mechanism are unit-tested (tests/unit/source).

The tests skip, saying why, where stunnel4 or trustme is missing (``scripts/test-tools.sh``
installs stunnel4 where apt-get works).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, _tansu_binary, free_port
from tests.integration.helpers import daemon, socd, wait_for_count, write_config

pytestmark = pytest.mark.integration

trustme = pytest.importorskip("trustme", reason="trustme (a dev dependency) makes the test CA")
STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
if STUNNEL is None:
    pytest.skip("stunnel4 is not installed (scripts/test-tools.sh installs it where apt-get "
                "works): the TLS tests need it in front of the local servers",
                allow_module_level=True)

READY_S = 30.0


@dataclass(frozen=True)
class Tls:
    """The test CA's files and the TLS ports in front of the local servers."""

    ca: Path
    other_ca: Path
    """A CA that signed none of the servers' certificates."""
    client_cert: Path
    client_key: Path
    server_cert: Path
    server_key: Path
    leaf_sha256: str
    """The SHA-256 fingerprint of the servers' certificate (hex)."""
    kafka: str
    """Tansu through TLS."""
    kafka_mtls: str
    """Another Tansu through TLS that requires a client certificate."""
    elasticsearch: str
    elasticsearch_mtls: str


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}: {log.read_text()[-2000:]}")


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory, servers: Endpoints) -> Iterator[Tls]:
    """A test CA, two Tansu brokers and stunnel in front of them and of noida-db."""
    folder = tmp_path_factory.mktemp("tls")
    ca, other = trustme.CA(), trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("socd-client@example.test")
    files = {name: folder / name for name in (
        "ca.pem", "other-ca.pem", "server.pem", "server.key", "client.pem", "client.key")}
    ca.cert_pem.write_to_path(str(files["ca.pem"]))
    other.cert_pem.write_to_path(str(files["other-ca.pem"]))
    leaf.cert_chain_pems[0].write_to_path(str(files["server.pem"]))
    leaf.private_key_pem.write_to_path(str(files["server.key"]))
    client.cert_chain_pems[0].write_to_path(str(files["client.pem"]))
    client.private_key_pem.write_to_path(str(files["client.key"]))
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())

    processes: list[subprocess.Popen[bytes]] = []
    ports = {name: free_port() for name in ("tansu1", "tansu2", "k1", "k2", "e1", "e2")}
    es_port = int(servers.elasticsearch.rsplit(":", 1)[1])
    try:
        for broker, front in (("tansu1", "k1"), ("tansu2", "k2")):
            log = folder / f"{broker}.log"
            processes.append(_start([
                _tansu_binary(), "broker",
                "--listener-url", f"tcp://127.0.0.1:{ports[broker]}",
                "--advertised-listener-url", f"tcp://127.0.0.1:{ports[front]}",
                "--storage-engine", "memory://tansu/"], log))
            _wait_port(ports[broker], processes[-1], log)
        mtls = f"verify = 2\nCAfile = {files['ca.pem']}\n"
        conf = folder / "stunnel.conf"
        conf.write_text(f"""foreground = yes
pid =
debug = 4
cert = {files['server.pem']}
key = {files['server.key']}

[kafka]
accept = 127.0.0.1:{ports['k1']}
connect = 127.0.0.1:{ports['tansu1']}

[kafka-mtls]
accept = 127.0.0.1:{ports['k2']}
connect = 127.0.0.1:{ports['tansu2']}
{mtls}
[es]
accept = 127.0.0.1:{ports['e1']}
connect = 127.0.0.1:{es_port}

[es-mtls]
accept = 127.0.0.1:{ports['e2']}
connect = 127.0.0.1:{es_port}
{mtls}""")
        log = folder / "stunnel.log"
        assert STUNNEL is not None
        processes.append(_start([STUNNEL, str(conf)], log))
        for front in ("k1", "k2", "e1", "e2"):
            _wait_port(ports[front], processes[-1], log)
        yield Tls(
            ca=files["ca.pem"], other_ca=files["other-ca.pem"],
            client_cert=files["client.pem"], client_key=files["client.key"],
            server_cert=files["server.pem"], server_key=files["server.key"],
            leaf_sha256=hashlib.sha256(der).hexdigest(),
            kafka=f"127.0.0.1:{ports['k1']}", kafka_mtls=f"127.0.0.1:{ports['k2']}",
            elasticsearch=f"https://127.0.0.1:{ports['e1']}",
            elasticsearch_mtls=f"https://127.0.0.1:{ports['e2']}")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _client_context(tls: Tls, *, client: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca))
    if client:
        context.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    return context


async def _kafka_setup(bootstrap: str, context: ssl.SSLContext, topics: list[str],
                       messages: list[bytes]) -> None:
    """Create ``topics`` and send ``messages`` to the first, through TLS."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, security_protocol="SSL",
                                ssl_context=context)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in topics])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, security_protocol="SSL",
                                ssl_context=context, acks="all")
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(topics[0], message)
    finally:
        await producer.stop()


def _threat(unique: str) -> bytes:
    """A CyRadar alert that tests/files/rules classifies as critical."""
    return orjson.dumps({
        "alert_id": f"tls-{unique}", "detected_at": "2026-06-15T08:12:44+07:00",
        "sensor": {"id": "bp-ndr-01", "name": "core-dc", "org": "So TTTT Binh Phuoc"},
        "severity": 9, "category": "apt_c2", "threat_name": "apt_c2 over TLS",
        "src": {"ip": "10.20.1.15", "port": 52344}, "dst": {"ip": "185.244.25.1", "port": 443},
        "protocol": "tcp", "action": "alerted", "mitre": ["T1071.001"]})


def _config(tmp_path: Path, servers: Endpoints, unique: str, metrics_port: int,
            **sections: dict[str, Any]) -> Path:
    """helpers.write_config's configuration with ``sections``' keys set over its own."""
    path = write_config(tmp_path / "socd.yaml", servers, unique, metrics_port,
                        watch_rules=False)
    data = yaml.safe_load(path.read_text())
    for section, keys in sections.items():
        data.setdefault(section, {}).update(keys)
    path.write_text(yaml.safe_dump(data))
    return path


def _run_briefly(config: Path, log: Path, timeout: float = 60) -> tuple[int, str]:
    """``socd run`` that is expected to stop by itself: its exit status and output."""
    with daemon(config, log) as process:
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = -1
    return status, log.read_text()


def _fetch(url: str, context: ssl.SSLContext | None, auth: tuple[str, str] | None) -> int:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization",
                           "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def _wait_scrape(url: str, context: ssl.SSLContext, auth: tuple[str, str],
                       process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "socd exited early"
        try:
            return await asyncio.to_thread(_fetch, url, context, auth)
        except OSError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never answered")


async def test_a_threat_goes_through_tls_kafka_and_tls_elasticsearch(
        tls: Tls, servers: Endpoints, es: AsyncElasticsearch, unique: str,
        tmp_path: Path) -> None:
    """With the right CA: socd reads a threat from Kafka through TLS, indexes it in
    Elasticsearch through TLS, and serves /metrics over HTTPS behind basic auth (401 without
    the password, refused over plain HTTP)."""
    await _kafka_setup(tls.kafka, _client_context(tls),
                       [f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}"],
                       [_threat(unique)])
    (tmp_path / "metrics-password").write_text("scrape-secret\n")
    metrics_port = free_port()
    config = _config(
        tmp_path, servers, unique, metrics_port,
        kafka={"bootstrap_servers": tls.kafka, "security_protocol": "SSL",
               "ssl_cafile": str(tls.ca)},
        elasticsearch={"hosts": [tls.elasticsearch], "ca_certs": str(tls.ca)},
        metrics={"certfile": str(tls.server_cert), "keyfile": str(tls.server_key),
                 "username": "prometheus", "password_file": "metrics-password"})
    url = f"https://127.0.0.1:{metrics_port}/metrics"
    with daemon(config, tmp_path / "socd.log") as process:
        count = await wait_for_count(es, f"t{unique}-alerts*", 1, process)
        assert count == 1, (tmp_path / "socd.log").read_text()[-3000:]
        context = _client_context(tls)
        assert await _wait_scrape(url, context, ("prometheus", "scrape-secret"), process) == 200
        assert await asyncio.to_thread(_fetch, url, context, None) == 401
        assert await asyncio.to_thread(_fetch, url, context, ("prometheus", "wrong")) == 401
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            await asyncio.to_thread(_fetch, url.replace("https", "http"), None,
                                    ("prometheus", "scrape-secret"))
    log = (tmp_path / "socd.log").read_text()
    assert "scrape-secret" not in log


@pytest.mark.parametrize("side", ["kafka", "elasticsearch"])
def test_a_wrong_ca_stops_start_up_naming_the_setting(
        tls: Tls, servers: Endpoints, unique: str, tmp_path: Path, side: str) -> None:
    """A CA that signed none of the servers' certificates: start-up is refused with one
    clear line naming the setting (kafka.ssl_cafile, elasticsearch.ca_certs), no traceback."""
    kafka = {"bootstrap_servers": tls.kafka, "security_protocol": "SSL",
             "ssl_cafile": str(tls.other_ca if side == "kafka" else tls.ca)}
    elastic = {"hosts": [tls.elasticsearch],
               "ca_certs": str(tls.other_ca if side == "elasticsearch" else tls.ca)}
    config = _config(tmp_path, servers, unique, free_port(), kafka=kafka,
                     elasticsearch=elastic)
    status, output = _run_briefly(config, tmp_path / "socd.log")
    assert status in (1, 2), output[-3000:]
    assert "Traceback" not in output
    setting = "kafka.ssl_cafile" if side == "kafka" else "elasticsearch.ca_certs"
    assert setting in output and "not trusted" in output, output[-3000:]
    if side == "elasticsearch":  # `socd setup`, the first command of an install, says it too
        setup = socd("setup", "-c", str(config))
        assert setup.returncode in (1, 2), setup.stderr[-3000:]
        assert setting in setup.stderr and "not trusted" in setup.stderr, setup.stderr[-3000:]
        assert "Traceback" not in setup.stderr


@pytest.mark.parametrize("matches", [True, False])
async def test_elasticsearch_trusted_by_fingerprint(
        tls: Tls, servers: Endpoints, es: AsyncElasticsearch, unique: str, tmp_path: Path,
        matches: bool) -> None:
    """``elasticsearch.ssl_assert_fingerprint`` instead of a CA: the certificate's own
    fingerprint works (a threat is indexed); another one stops start-up naming the key."""
    await _kafka_setup(tls.kafka, _client_context(tls),
                       [f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}"],
                       [_threat(unique)])
    fingerprint = tls.leaf_sha256 if matches else hashlib.sha256(b"another").hexdigest()
    config = _config(
        tmp_path, servers, unique, free_port(),
        kafka={"bootstrap_servers": tls.kafka, "security_protocol": "SSL",
               "ssl_cafile": str(tls.ca)},
        elasticsearch={"hosts": [tls.elasticsearch], "ssl_assert_fingerprint": ":".join(
            fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()})
    if not matches:
        status, output = _run_briefly(config, tmp_path / "socd.log")
        assert status == 2 and "Traceback" not in output, output[-3000:]
        assert "elasticsearch.ssl_assert_fingerprint" in output, output[-3000:]
        return
    with daemon(config, tmp_path / "socd.log") as process:
        count = await wait_for_count(es, f"t{unique}-alerts*", 1, process)
    assert count == 1, (tmp_path / "socd.log").read_text()[-3000:]


async def test_client_certificates_where_the_servers_require_them(
        tls: Tls, servers: Endpoints, es: AsyncElasticsearch, unique: str,
        tmp_path: Path) -> None:
    """stunnel requires a client certificate signed by the CA (``verify = 2``) in front of
    Kafka and Elasticsearch: with kafka.ssl_certfile/keyfile and
    elasticsearch.client_cert/client_key a threat goes through."""
    await _kafka_setup(tls.kafka_mtls, _client_context(tls, client=True),
                       [f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}"],
                       [_threat(unique)])
    config = _config(
        tmp_path, servers, unique, free_port(),
        kafka={"bootstrap_servers": tls.kafka_mtls, "security_protocol": "SSL",
               "ssl_cafile": str(tls.ca), "ssl_certfile": str(tls.client_cert),
               "ssl_keyfile": str(tls.client_key)},
        elasticsearch={"hosts": [tls.elasticsearch_mtls], "ca_certs": str(tls.ca),
                       "client_cert": str(tls.client_cert),
                       "client_key": str(tls.client_key)})
    with daemon(config, tmp_path / "socd.log") as process:
        count = await wait_for_count(es, f"t{unique}-alerts*", 1, process)
    assert count == 1, (tmp_path / "socd.log").read_text()[-3000:]


@pytest.mark.parametrize("side", ["kafka", "elasticsearch"])
def test_without_the_client_certificate_start_up_is_refused(
        tls: Tls, servers: Endpoints, unique: str, tmp_path: Path, side: str) -> None:
    """The same servers without socd's client certificate: start-up stops with a line that
    names the client-certificate settings of that side, no traceback."""
    kafka: dict[str, Any] = {"bootstrap_servers": tls.kafka, "security_protocol": "SSL",
                             "ssl_cafile": str(tls.ca)}
    elastic: dict[str, Any] = {"hosts": [tls.elasticsearch], "ca_certs": str(tls.ca)}
    if side == "kafka":
        kafka["bootstrap_servers"] = tls.kafka_mtls
    else:
        elastic["hosts"] = [tls.elasticsearch_mtls]
    config = _config(tmp_path, servers, unique, free_port(), kafka=kafka,
                     elasticsearch=elastic)
    status, output = _run_briefly(config, tmp_path / "socd.log")
    assert status in (1, 2) and "Traceback" not in output, output[-3000:]
    setting = "kafka.ssl_certfile" if side == "kafka" else "elasticsearch.client_cert"
    assert setting in output, output[-3000:]
