"""The Elasticsearch sink: bulk indexing where each item's result decides.

* 200/201 — durable.
* 429 and 5xx items, connection errors, timeouts, whole-request 429/5xx — sent again with
  capped exponential backoff, for as long as it takes (the daemon stops fetching meanwhile).
* 413 (request too large) — the request is split in halves.
* any other 4xx item (a malformed document) — returned to the caller, which dead-letters it.

elasticsearch-py's exceptions stop here; callers see :class:`~socd.errors.SinkError` only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, OrjsonSerializer
from elasticsearch import AsyncElasticsearch
from elasticsearch import exceptions as es_exc

from socd.config import ElasticsearchConfig
from socd.errors import SinkError
from socd.event import IndexAction, Record
from socd.sinks import templates
from socd.telemetry.logging import get_logger
from socd.telemetry.metrics import Metrics

log = get_logger("socd.elasticsearch")

Rejected = tuple[IndexAction, str]
"""A document Elasticsearch will never take, and why."""


def encode_action(index: str, doc_id: str, doc: dict[str, Any], record: Record,
                  labels: tuple[str, str, str] = ("", "", "")) -> IndexAction:
    header = orjson.dumps({"index": {"_index": index, "_id": doc_id}})
    body = b"%b\n%b\n" % (header, orjson.dumps(doc))
    return IndexAction(index=index, doc_id=doc_id, body=body, record=record, doc=doc,
                       labels=labels)


def make_client(cfg: ElasticsearchConfig) -> AsyncElasticsearch:
    options: dict[str, Any] = {
        "request_timeout": cfg.request_timeout,
        "verify_certs": cfg.verify_certs,
        "retry_on_timeout": False,
        "max_retries": 0,  # socd retries itself, item by item
        # Bulk responses hold an item per document: orjson parses them several times faster.
        "serializer": OrjsonSerializer(),
    }
    if cfg.ca_certs:
        options["ca_certs"] = str(cfg.ca_certs)
    if cfg.api_key:
        options["api_key"] = cfg.api_key
    elif cfg.username is not None and cfg.password is not None:
        options["basic_auth"] = (cfg.username, cfg.password)
    return AsyncElasticsearch(cfg.hosts, **options)


class ElasticsearchSink:
    def __init__(self, cfg: ElasticsearchConfig, metrics: Metrics) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self._client: AsyncElasticsearch | None = None

    @property
    def client(self) -> AsyncElasticsearch:
        if self._client is None:
            raise RuntimeError("ElasticsearchSink is not started")
        return self._client

    async def start(self) -> None:
        if self._client is None:
            self._client = make_client(self._cfg)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def setup(self) -> list[str]:
        """Install (or update) the index template and, where supported, the ILM policy.

        Returns what was done, one line each. Safe to run again.
        """
        client = self.client
        prefix = self._cfg.index_prefix
        done = []
        try:
            ilm = True
            try:
                await client.ilm.put_lifecycle(name=f"{prefix}-alerts",
                                               policy=templates.lifecycle_policy())
                done.append(f"lifecycle policy {prefix}-alerts installed")
            except es_exc.BadRequestError as exc:
                if "no handler found" not in str(exc):
                    raise
                ilm = False
                done.append("lifecycle policy skipped: this server has no ILM API")
            template = templates.alerts_template(prefix)
            if ilm:
                settings = template["template"]["settings"]["index"]
                settings["lifecycle"] = {"name": f"{prefix}-alerts"}
            await client.indices.put_index_template(**template)
            done.append(f"index template {template['name']} v{templates.TEMPLATE_VERSION} "
                        f"installed for {template['index_patterns'][0]}")
        except (es_exc.ApiError, es_exc.TransportError) as exc:
            raise SinkError(f"Elasticsearch setup failed: {exc}") from exc
        return done

    async def template_installed(self) -> bool:
        name = f"{self._cfg.index_prefix}-alerts"
        try:
            response = await self.client.indices.get_index_template(name=name)
        except es_exc.NotFoundError:
            return False
        except (es_exc.ApiError, es_exc.TransportError) as exc:
            raise SinkError(f"cannot read the index template {name}: {exc}") from exc
        found = response.body.get("index_templates", [])
        version = found[0]["index_template"].get("version") if found else None
        return version == templates.TEMPLATE_VERSION

    async def index(self, actions: Sequence[IndexAction]) -> list[Rejected]:
        """Make ``actions`` durable; return the items rejected for good.

        Retries forever on retriable failures, even while socd is stopping: the offsets of
        these documents must not be committed before they are durable (the shutdown drain
        is bounded instead).
        """
        pending = list(actions)
        rejected: list[Rejected] = []
        attempt = 0
        while pending:
            if attempt:
                self._metrics.bulk_retries.inc()
                await asyncio.sleep(self._backoff(attempt))
            attempt += 1
            try:
                retry, refused = await self._bulk_once(pending)
            except _Retry as exc:
                log.warning("bulk_retry", documents=len(pending), attempt=attempt,
                            error=str(exc))
                continue
            rejected.extend(refused)
            if retry:
                log.warning("bulk_items_retry", documents=len(retry), attempt=attempt)
            pending = retry
        self._metrics.indexed.inc(len(actions) - len(rejected))
        return rejected

    async def _bulk_once(self, actions: list[IndexAction]
                         ) -> tuple[list[IndexAction], list[Rejected]]:
        if not actions:
            return [], []
        body = b"".join(action.body for action in actions)
        try:
            # Pre-encoded NDJSON passes through the client's serializer unchanged.
            response = await self.client.bulk(
                operations=body, filter_path=_FILTER)  # type: ignore[arg-type]
        except es_exc.ApiError as exc:
            status = exc.meta.status
            if status == 413 and len(actions) > 1:
                half = len(actions) // 2
                retry_a, refused_a = await self._bulk_once(actions[:half])
                retry_b, refused_b = await self._bulk_once(actions[half:])
                return retry_a + retry_b, refused_a + refused_b
            if status == 429 or status >= 500:
                raise _Retry(f"HTTP {status}: {exc.message}") from exc
            # The whole request refused for good: every item gets the same reason.
            return [], [(action, f"HTTP {status}: {exc.message}") for action in actions]
        except (TransportConnectionError, ConnectionTimeout, es_exc.TransportError) as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        body_out = response.body
        if not body_out.get("errors"):
            return [], []
        retry: list[IndexAction] = []
        refused: list[Rejected] = []
        for action, item in zip(actions, body_out["items"], strict=True):
            result = next(iter(item.values()))
            status = int(result.get("status", 500))
            if status < 300:
                continue
            if status == 429 or status >= 500:
                retry.append(action)
            else:
                error = result.get("error") or {}
                reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"
                refused.append((action, f"HTTP {status}: {reason}"))
        return retry, refused

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._cfg.retry_backoff_max, 0.2 * (2 ** min(attempt, 10)))
        return float(random.uniform(ceiling / 2, ceiling))


_FILTER = ["errors", "items.*.status", "items.*.error.type", "items.*.error.reason"]


class _Retry(Exception):
    """The whole request can be sent again."""
