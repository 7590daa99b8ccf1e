"""The start-up checks: the health check and the index template check, against a fake
client for each status, and against a real HTTP server on loopback that refuses the
credentials (noida-db has no security to turn on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout

from socd.config import ElasticsearchConfig
from socd.errors import CredentialsRefused, SinkError
from socd.sinks.elasticsearch import ElasticsearchSink
from socd.sinks.elasticsearch.health import check_health
from socd.telemetry.metrics import Metrics
from tests.unit.sinks.es_fakes import api_error, refusing_elasticsearch


class _Answer:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    async def __call__(self, **_: Any) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return type("Response", (), {"body": self.answer})()


class FakeClient:
    def __init__(self, health: Any = None, template: Any = None) -> None:
        self.cluster = type("Cluster", (), {"health": _Answer(health)})()
        self.indices = type("Indices", (), {"get_index_template": _Answer(template)})()


def cfg(**keys: Any) -> ElasticsearchConfig:
    return ElasticsearchConfig(hosts=["https://elastic:secret@es1:9200", "http://es2:9200"],
                               **keys)


async def test_healthy_cluster_gives_its_status() -> None:
    """2xx: the status the cluster reports."""
    assert await check_health(FakeClient({"status": "yellow"}), cfg()) == "yellow"  # type: ignore[arg-type]


@pytest.mark.parametrize(("keys", "named"), [
    ({"api_key": "abc"}, "correct elasticsearch.api_key"),
    ({"username": "socd", "password": "x"},
     "correct elasticsearch.username and elasticsearch.password"),
    ({}, "the cluster requires credentials: set elasticsearch.api_key, or "
         "elasticsearch.username and elasticsearch.password"),
])
async def test_401_stops_with_the_settings_to_correct(keys: dict[str, str], named: str) -> None:
    """401: CredentialsRefused (not retriable) naming the settings in use, the hosts
    without the password a URL carries, and the cluster's reason."""
    client = FakeClient(api_error(401, "security_exception", "unable to authenticate user"))
    with pytest.raises(CredentialsRefused) as caught:
        await check_health(client, cfg(**keys))  # type: ignore[arg-type]
    message = str(caught.value)
    assert named in message
    assert "https://es1:9200, http://es2:9200" in message and "secret" not in message
    assert "security_exception: unable to authenticate user" in message
    assert not caught.value.retriable


@pytest.mark.parametrize("answer", [api_error(503, "master_not_discovered_exception"),
                                    api_error(429, "too_many_requests"),
                                    TransportConnectionError("Connection refused"),
                                    ConnectionTimeout("timed out")])
async def test_unreachable_or_overloaded_is_retriable(answer: Exception) -> None:
    """Connection errors, timeouts, 429 and 5xx: a retriable SinkError naming the hosts."""
    with pytest.raises(SinkError) as caught:
        await check_health(FakeClient(answer), cfg())  # type: ignore[arg-type]
    assert caught.value.retriable and not isinstance(caught.value, CredentialsRefused)
    assert "es1:9200" in str(caught.value) and "secret" not in str(caught.value)


@pytest.mark.parametrize("status", [403, 404, 405])
async def test_other_answers_mean_reachable(status: int) -> None:
    """403 (authenticated; no ``monitor`` privilege) or a server without the API: reachable,
    health unknown; the template check that follows decides."""
    assert await check_health(FakeClient(api_error(status)), cfg()) == "unknown"  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [401, 403])
async def test_template_check_refused_names_keys_or_privileges(status: int) -> None:
    """The index template check answered 401/403: CredentialsRefused; a 403 names the
    privileges socd's user needs."""
    client = FakeClient(template=api_error(status, "security_exception", "action denied"))
    sink = ElasticsearchSink(cfg(api_key="abc"), Metrics(),
                             client_factory=lambda _: client)  # type: ignore[arg-type,return-value]
    await sink.start()
    with pytest.raises(CredentialsRefused) as caught:
        await sink.template_installed()
    message = str(caught.value)
    assert "elasticsearch.api_key" in message and "GET /_index_template/socd-alerts" in message
    if status == 403:
        assert "manage_index_templates" in message and "socd-alerts-*" in message


@pytest.fixture
def refusing_server() -> Iterator[str]:
    with refusing_elasticsearch() as url:
        yield url


async def test_real_http_401_through_the_real_client(refusing_server: str) -> None:
    """Through elasticsearch-py over real HTTP: the 401 becomes CredentialsRefused naming
    elasticsearch.username and elasticsearch.password."""
    config = ElasticsearchConfig(hosts=[refusing_server], username="socd", password="wrong")
    sink = ElasticsearchSink(config, Metrics())
    await sink.start()
    try:
        with pytest.raises(CredentialsRefused) as caught:
            await sink.check_health()
        assert "elasticsearch.username and elasticsearch.password" in str(caught.value)
        assert "unable to authenticate user [socd]" in str(caught.value)
    finally:
        await sink.stop()


def test_setup_refused_says_which_settings_to_correct(
        refusing_server: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """``socd setup`` against a cluster that answers 401: exit 1 and one line naming the
    settings, with no password of a URL in it."""
    from socd import cli

    url = refusing_server.replace("http://", "http://admin:hunter2@")
    config = tmp_path / "socd.yaml"
    config.write_text(f"""
inputs: [{{topic: sensors.ndr, connector: cyradar, layer: 2, sensor: ndr}}]
rules: {{paths: ["{tmp_path}"], watch: false}}
elasticsearch: {{hosts: ["{url}"], username: socd, password: wrong}}
""")
    assert cli.main(["setup", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("socd: Elasticsearch at http://127.0.0.1:")
    assert "correct elasticsearch.username and elasticsearch.password" in err
    assert "hunter2" not in err
