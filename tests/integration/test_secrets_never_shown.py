"""Secrets never leave socd: a sentinel value in every secret setting, given every way
(in the file, from the environment, from a ``*_file``, as a systemd credential), must
appear in no output of any command and in no log line, however the command ends.

The servers are noida-db for both APIs (its Kafka takes SASL/PLAIN; it checks no password,
nor does its Elasticsearch API), so the commands run their whole course with the secrets in
use; then the same commands again against servers that cannot be reached, and with
configurations that are wrong, so that their error paths run too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import yaml
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, free_port
from tests.integration.conftest import make_topics
from tests.integration.helpers import ROOT, produce, wait_for_count, write_config

pytestmark = pytest.mark.integration

SENTINEL = "SENTINEL-6d1f0c"
"""Part of every secret: found in an output, it is a leak."""

SECRETS = {
    "kafka": f"kafka-{SENTINEL}",
    "es": f"es-{SENTINEL}",
    "kibana": f"kibana-{SENTINEL}",
    "metrics": f"metrics-{SENTINEL}",
}


def _environment(credentials: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCD_")}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "CREDENTIALS_DIRECTORY": str(credentials),
            "SOCD_ELASTICSEARCH__API_KEY": SECRETS["es"]}


def _setup(tmp_path: Path, servers: Endpoints, unique: str, *,
           kafka: str | None = None, elasticsearch: str | None = None) -> Path:
    """A configuration whose every secret holds the sentinel: the Kafka password in a file,
    Elasticsearch's API key from the environment, Kibana's password in the file itself, the
    metrics password as the systemd credential socd-metrics-password."""
    credentials = tmp_path / "credentials"
    credentials.mkdir(exist_ok=True)
    (credentials / "socd-metrics-password").write_text(SECRETS["metrics"])
    (tmp_path / "kafka-password").write_text(SECRETS["kafka"] + "\n")
    path = write_config(tmp_path / "socd.yaml", servers, unique, free_port(),
                        watch_rules=False, elasticsearch=elasticsearch)
    data = yaml.safe_load(path.read_text())
    data["kafka"].update({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                          "sasl_username": "socd", "sasl_password_file": "kafka-password"})
    if kafka is not None:
        data["kafka"]["bootstrap_servers"] = kafka
    data["kibana"] = {"url": f"http://127.0.0.1:{free_port()}", "username": "socd-setup",
                      "password": SECRETS["kibana"]}
    data["metrics"]["username"] = "prometheus"
    data["logging"] = {"format": "json", "level": "debug"}
    path.write_text(yaml.safe_dump(data))
    return path


def _command(env: dict[str, str], *argv: str) -> str:
    result = subprocess.run([sys.executable, "-m", "socd", *argv], capture_output=True,
                            text=True, env=env, timeout=120, check=False)
    return f"$ socd {' '.join(argv)} → {result.returncode}\n{result.stdout}{result.stderr}"


def _commands(config: Path, env: dict[str, str]) -> list[str]:
    c = str(config)
    return [
        _command(env, "check-config", "-c", c),
        _command(env, "setup", "-c", c, "--kibana"),
        _command(env, "alerts", "list", "-c", c, "--format", "json"),
        _command(env, "alerts", "ack", "-c", c, "--class", "critical", "--by", "t"),
        _command(env, "report", "-c", c, "--from", "2026-06-01", "--to", "2026-06-30",
                 "--format", "json"),
        _command(env, "dead-letters", "list", "-c", c, "--limit", "5"),
        _command(env, "dead-letters", "replay", "-c", c, "--dry-run"),
        _command(env, "rules", "coverage", "-c", c),
    ]


def _run_briefly(config: Path, env: dict[str, str], log: Path, seconds: float) -> str:
    """``socd run`` for at most ``seconds``, then SIGTERM: its whole output."""
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "socd", "run", "-c", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return log.read_text()


def _assert_clean(outputs: list[str]) -> None:
    for output in outputs:
        assert SENTINEL not in output, output[-3000:]


async def test_no_command_shows_a_secret_working_or_failing(
        noida_kafka: Endpoints, unique: str, tmp_path: Path) -> None:
    """Every command, on servers that answer and on servers that do not, with a threat
    indexed and a dead letter written: no output and no log line holds a secret."""
    env = _environment(tmp_path / "credentials")
    topic = f"sensors.cyradar.{unique}"
    await make_topics(noida_kafka.kafka, topic, f"socd.dead-letter.{unique}", partitions=1)
    await produce(noida_kafka.kafka, topic, [orjson.dumps({
        "alert_id": f"s-{unique}", "detected_at": "2026-06-15T08:12:44+07:00",
        "sensor": {"id": "bp-ndr-01", "name": "core-dc", "org": "So TTTT Binh Phuoc"},
        "severity": 9, "category": "apt_c2", "threat_name": "apt_c2",
        "src": {"ip": "10.20.1.15", "port": 52344}, "dst": {"ip": "185.244.25.1", "port": 443},
        "protocol": "tcp", "action": "alerted", "mitre": ["T1071.001"]}), b"not json"])
    good = _setup(tmp_path, noida_kafka, unique)
    outputs = [_command(env, "check-config", "-c", str(good))]
    assert "→ 0" in outputs[0], outputs[0]

    client = AsyncElasticsearch(noida_kafka.elasticsearch)
    log = tmp_path / "run.log"
    try:
        deadline = time.monotonic() + 90
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "socd", "run", "-c", str(good)],
                                       stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            count = await wait_for_count(client, f"t{unique}-alerts*", 1, process,
                                         timeout=deadline - time.monotonic())
            assert count == 1, log.read_text()[-3000:]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    finally:
        await client.close()
    outputs.append(log.read_text())
    outputs.extend(_commands(good, env))

    # the same against servers that are not there
    down = tmp_path / "down"
    down.mkdir()
    gone = _setup(down, noida_kafka, unique, kafka=f"127.0.0.1:{free_port()}",
                  elasticsearch=f"http://127.0.0.1:{free_port()}")
    outputs.append(_run_briefly(gone, env, down / "run.log", seconds=8))
    outputs.extend(_commands(gone, env))
    _assert_clean(outputs)
    assert any("→ 1" in output for output in outputs)  # the error paths did run


@pytest.mark.parametrize("mistake", ["both", "wrong_type", "unreadable", "env_and_file"])
def test_wrong_secret_settings_are_told_without_the_secret(
        tmp_path: Path, servers: Endpoints, unique: str, mistake: str) -> None:
    """A secret set twice, of the wrong type, or in a file that cannot be read: the
    problem names the keys (and the path), never the value, in check-config and run."""
    env = _environment(tmp_path / "credentials")
    config = _setup(tmp_path, servers, unique)
    data = yaml.safe_load(config.read_text())
    if mistake == "both":
        data["kafka"]["sasl_password"] = SECRETS["kafka"]
        expected = "kafka.sasl_password and kafka.sasl_password_file are both set"
    elif mistake == "wrong_type":
        data["kibana"]["password"] = [SECRETS["kibana"]]
        expected = "kibana.password"
    elif mistake == "unreadable":
        data["kafka"]["sasl_password_file"] = str(tmp_path / "missing-password")
        expected = f"cannot read {tmp_path / 'missing-password'}"
    else:
        data["elasticsearch"]["api_key_file"] = str(tmp_path / "kafka-password")
        expected = "elasticsearch.api_key and elasticsearch.api_key_file are both set"
    config.write_text(yaml.safe_dump(data))
    outputs = [_command(env, "check-config", "-c", str(config)),
               _run_briefly(config, env, tmp_path / "run.log", seconds=30)]
    assert "→ 2" in outputs[0], outputs[0]
    for output in outputs:
        assert expected in output, output[-3000:]
        assert "Traceback" not in output
    _assert_clean(outputs)
