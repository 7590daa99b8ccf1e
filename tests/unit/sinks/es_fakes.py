"""Fakes at the Elasticsearch sink's transport seam: ``client.bulk`` answered by a script,
with a fake clock, so that latencies and timeouts cost no real time.

The HTTP behaviour of a real server is covered by the integration tests
(tests/integration/test_elasticsearch_sink.py)."""

from __future__ import annotations

import http.server
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import exceptions as es_exc

from socd.config import ElasticsearchConfig
from socd.event import IndexAction, Record
from socd.sinks.elasticsearch import ElasticsearchSink, encode_action
from socd.telemetry.metrics import Metrics


def actions(count: int, start: int = 0) -> list[IndexAction]:
    """``count`` documents with ids ``d<start>`` … in one index."""
    return [encode_action("socd-alerts-2026.02", f"d{i}", {"n": i},
                          Record("sensors", 0, i, b"{}")) for i in range(start, start + count)]


def ids(batch: list[IndexAction]) -> list[str]:
    return [action.doc_id for action in batch]


def api_error(status: int, error_type: str = "error", reason: str = "") -> es_exc.ApiError:
    """The exception elasticsearch-py raises for an error response with ``status``."""
    meta = ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(),
                           duration=0.0, node=NodeConfig("http", "127.0.0.1", 9200))
    cls = es_exc.HTTP_EXCEPTIONS.get(status, es_exc.ApiError)
    return cls(message=error_type, meta=meta,
               body={"error": {"type": error_type, "reason": reason}, "status": status})


def items(*statuses: int, error_type: str = "mapper_parsing_exception") -> dict[str, Any]:
    """A bulk response body with one item per status (errors for those ≥ 300)."""
    listed = []
    for status in statuses:
        item: dict[str, Any] = {"status": status}
        if status >= 300:
            item["error"] = {"type": error_type, "reason": f"failed with {status}"}
        listed.append({"index": item})
    return {"errors": any(s >= 300 for s in statuses), "items": listed}


@dataclass
class Clock:
    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class _Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


Answer = Callable[[list[str]], "dict[str, Any] | BaseException"]
"""The fake cluster: a request's document ids → a response body, or an exception to raise."""


class FakeClient:
    """``bulk`` as the sink calls it; each request's document ids are kept in ``requests``.
    ``latency(ids)`` advances the clock before the answer (seconds)."""

    def __init__(self, answer: Answer, clock: Clock,
                 latency: Callable[[list[str]], float] = lambda _: 0.01) -> None:
        self.answer = answer
        self.clock = clock
        self.latency = latency
        self.requests: list[list[str]] = []
        self.sent_at: list[float] = []
        """The clock's time as each request was sent."""
        self.closed = False
        self.up: Callable[[], bool] = lambda: False
        """Whether ``ping`` (``HEAD /``) is answered with a 2xx."""
        self.pings = 0

    def options(self, **_: Any) -> FakeClient:
        return self

    async def ping(self) -> bool:
        self.pings += 1
        return self.up()

    async def bulk(self, *, operations: bytes, filter_path: list[str]) -> _Response:
        lines = operations.split(b"\n")
        assert operations.endswith(b"\n") and lines[-1] == b""
        headers = [orjson.loads(line) for line in lines[0:-1:2]]
        request = [header["create"]["_id"] for header in headers]
        self.requests.append(request)
        self.sent_at.append(self.clock.now)
        self.clock.now += self.latency(request)
        result = self.answer(request)
        if isinstance(result, BaseException):
            raise result
        return _Response(result)

    async def close(self) -> None:
        self.closed = True


def durable(request: list[str]) -> dict[str, Any]:
    """Every document of the request indexed."""
    return items(*[201] * len(request))


async def started_sink(answer: Answer, *, latency: Callable[[list[str]], float] = lambda _: 0.01,
                       bulk_max_docs: int = 2000, request_timeout: float = 30.0,
                       retry_backoff_max: float = 30.0, seed: int = 7
                       ) -> tuple[ElasticsearchSink, FakeClient, Clock, Metrics]:
    clock = Clock()
    client = FakeClient(answer, clock, latency)
    metrics = Metrics()
    cfg = ElasticsearchConfig(bulk_max_docs=bulk_max_docs, request_timeout=request_timeout,
                              retry_backoff_max=retry_backoff_max)
    sink = ElasticsearchSink(cfg, metrics, client_factory=lambda _: client,  # type: ignore[arg-type,return-value]
                             clock=clock, sleep=clock.sleep, rng=random.Random(seed))
    await sink.start()
    return sink, client, clock, metrics


def sample(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request as a secured Elasticsearch answers bad credentials."""

    def _refuse(self) -> None:
        body = (b'{"error":{"type":"security_exception","reason":"unable to authenticate '
                b'user [socd] for REST request [' + self.path.encode() + b']"},"status":401}')
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("WWW-Authenticate", 'Basic realm="security" charset="UTF-8"')
        self.send_header("X-elastic-product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def refusing_elasticsearch() -> Iterator[str]:
    """A real HTTP server on loopback that answers 401 to every request, as Elasticsearch
    with security on answers wrong credentials (noida-db has no security to turn on); its
    URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
