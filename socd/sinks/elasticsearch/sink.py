"""The sink: makes a batch of documents durable, request by request, by the retry policy.

:meth:`ElasticsearchSink.index` cuts a batch into requests of the current request size
(:mod:`.size`), sends each (:mod:`.service`), and sorts the documents by the outcome
(:mod:`.outcome`, :mod:`.retry`): durable; sent again after a backoff (429, 5xx, connection
lost, 401/403); sent again in smaller requests (timeouts); split at once (413); or returned
to the caller, rejected for good with the reason (the caller dead-letters them). It returns
only when every document is durable or rejected, however long that takes. While the cluster
does not answer at all, it is asked every :data:`PROBE_S` whether it is back, so that the
documents go as soon as it is rather than at the end of a backoff grown long.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from elasticsearch import AsyncElasticsearch
from elasticsearch import exceptions as es_exc

from socd.config import ElasticsearchConfig
from socd.errors import SinkError
from socd.event import IndexAction
from socd.sinks import templates
from socd.sinks.elasticsearch.client import make_client, shown_hosts
from socd.sinks.elasticsearch.health import check_health, refused
from socd.sinks.elasticsearch.outcome import Outcome, Rejected
from socd.sinks.elasticsearch.request import halves
from socd.sinks.elasticsearch.retry import Action, Backoff
from socd.sinks.elasticsearch.service import RequestFailure, send_bulk
from socd.sinks.elasticsearch.size import RequestSize
from socd.state import suppress
from socd.telemetry.logging import get_logger
from socd.telemetry.metrics import Metrics

log = get_logger("socd.elasticsearch")

PROBE_S = 1.0
"""While the cluster does not answer, how often it is asked whether it is back (seconds)."""

ClientFactory = Callable[[ElasticsearchConfig], AsyncElasticsearch]
"""Makes the client at :meth:`ElasticsearchSink.start` (tests give a fake)."""


class ElasticsearchSink:
    """Bulk indexing into Elasticsearch, and the set-up of its index template.

    ``clock`` (monotonic seconds), ``sleep`` and ``rng`` (the backoff's jitter) are for
    tests; the defaults are the real ones.
    """

    def __init__(self, cfg: ElasticsearchConfig, metrics: Metrics, *,
                 client_factory: ClientFactory = make_client,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self._client: AsyncElasticsearch | None = None
        self._client_factory = client_factory
        self._clock = clock
        self._sleep = sleep
        self._backoff = Backoff(cfg.retry_backoff_max, rng=rng or random.Random())
        self.size = RequestSize(cfg.bulk_max_docs, cfg.request_timeout)
        """The current request size (documents per bulk request)."""
        self._shown_size = self.size.current
        metrics.bulk_request_documents.set(self.size.current)

    @property
    def client(self) -> AsyncElasticsearch:
        if self._client is None:
            raise RuntimeError("ElasticsearchSink is not started")
        return self._client

    async def start(self) -> None:
        """Make the client (no request yet). Safe to call again."""
        if self._client is None:
            self._client = self._client_factory(self._cfg)

    async def stop(self) -> None:
        """Close the client's connections. Safe to call again."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    @property
    def hosts(self) -> str:
        """``elasticsearch.hosts`` for a log line (any ``user:password@`` left out)."""
        return shown_hosts(self._cfg)

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (from 1) in a row, by the retry
        policy (:class:`~socd.sinks.elasticsearch.retry.Backoff`)."""
        return self._backoff.delay(attempt)

    # ------------------------------------------------------------------ set-up

    async def check_health(self) -> str:
        """The cluster's health status (see :mod:`socd.sinks.elasticsearch.health`).
        Raises CredentialsRefused (401), or SinkError while unreachable (retriable)."""
        return await check_health(self.client, self._cfg)

    async def setup(self) -> list[str]:
        """Install (or update) the index template, the stored script of alert suppression
        and, where supported, the ILM policy.

        Returns what was done, one line each. Safe to run again. Raises CredentialsRefused
        (401/403) or SinkError.
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
            await client.put_script(id=suppress.SCRIPT_ID, script={
                "lang": "painless", "source": suppress.SCRIPT_SOURCE})
            done.append(f"stored script {suppress.SCRIPT_ID} installed (alert suppression)")
            state = templates.state_template(prefix)
            await client.indices.put_index_template(**state)
            done.append(f"index template {state['name']} installed for correlation windows")
        except es_exc.ApiError as exc:
            if exc.meta.status in (401, 403):
                raise refused(self._cfg, exc, "the set-up of the index template") from exc
            raise SinkError(f"Elasticsearch setup failed: {exc}") from exc
        except es_exc.TransportError as exc:
            raise SinkError(f"Elasticsearch setup failed: {exc}") from exc
        return done

    async def template_installed(self) -> bool:
        """Whether socd's index template, of this version, and its stored script (alert
        suppression) are in place. Raises
        CredentialsRefused (401/403) or SinkError (unreachable: retriable)."""
        name = f"{self._cfg.index_prefix}-alerts"
        try:
            response = await self.client.indices.get_index_template(name=name)
        except es_exc.NotFoundError:
            return False
        except es_exc.ApiError as exc:
            if exc.meta.status in (401, 403):
                raise refused(self._cfg, exc,
                              f"the index template check (GET /_index_template/{name})"
                              ) from exc
            raise SinkError(f"cannot read the index template {name} at "
                            f"{shown_hosts(self._cfg)}: {exc}") from exc
        except es_exc.TransportError as exc:
            raise SinkError(f"cannot read the index template {name} at "
                            f"{shown_hosts(self._cfg)}: {exc}") from exc
        found = response.body.get("index_templates", [])
        version = found[0]["index_template"].get("version") if found else None
        if version != templates.TEMPLATE_VERSION:
            return False
        try:
            await self.client.get_script(id=suppress.SCRIPT_ID)
        except es_exc.NotFoundError:
            return False
        except (es_exc.ApiError, es_exc.TransportError) as exc:
            raise SinkError(f"cannot read the stored script {suppress.SCRIPT_ID} at "
                            f"{shown_hosts(self._cfg)}: {exc}") from exc
        return True

    # ------------------------------------------------------------------ indexing

    async def index(self, actions: Sequence[IndexAction]) -> list[Rejected]:
        """Make ``actions`` durable; return the documents rejected for good, with why.

        Sent in requests of at most the current request size, one after the other; the
        documents a request leaves to retry go first into the next one. Retries without
        end on retriable failures, even while socd is stopping: the offsets of these
        documents must not be committed before they are durable (the shutdown drain is
        bounded instead).
        """
        pending = deque(actions)
        rejected: list[Rejected] = []
        failures = 0  # retries in a row without progress: the backoff's step
        while pending:
            count = min(len(pending), self.size.current)
            chunk = [pending.popleft() for _ in range(count)]
            outcome = await self._request(chunk)
            rejected.extend(outcome.rejected)
            if not outcome.retry:
                failures = 0
                continue
            pending.extendleft(reversed(outcome.retry))
            failures = 1 if outcome.progressed else failures + 1
            delay = self._backoff.delay(failures)
            self._metrics.bulk_retries.inc()
            fields = {"documents": len(outcome.retry), "of": count, "attempt": failures,
                      "reason": outcome.retry_reason, "retry_in": round(delay, 3),
                      "request_documents": self.size.current}
            if outcome.refused:
                log.error("bulk_refused", **fields, hosts=self.hosts, fix=(
                    "correct elasticsearch.api_key (or username and password), or give the "
                    "user the index privileges create_index and index on "
                    f"{self._cfg.index_prefix}-alerts-*; socd retries meanwhile"))
            else:
                log.warning("bulk_retry", **fields)
            if outcome.unreachable:
                await self._wait_for_answer(delay)
            else:
                await self._sleep(delay)
        self._metrics.indexed.inc(len(actions) - len(rejected))
        return rejected

    async def _wait_for_answer(self, delay: float) -> None:
        """Wait ``delay`` seconds, or less: every :data:`PROBE_S` the cluster is asked
        (``HEAD /``), and the wait ends as soon as it answers with a 2xx. A cluster
        that was away (restarted, network cut) thus gets its documents within a second of
        its return rather than at the end of a backoff grown to ``retry_backoff_max``; a
        busy one (429, 5xx) is not probed but waited out."""
        deadline = self._clock() + delay
        while (left := deadline - self._clock()) > 0:
            await self._sleep(min(PROBE_S, left))
            if self._clock() < deadline and await self._answers():
                return

    async def _answers(self) -> bool:
        """Whether the cluster answers ``HEAD /`` with a 2xx within :data:`PROBE_S`."""
        return bool(await self.client.options(request_timeout=PROBE_S).ping())

    async def _request(self, chunk: list[IndexAction]) -> Outcome:
        """One request of ``chunk``, or two halves of it and so on after a 413."""
        started = self._clock()
        reply = await send_bulk(self.client, chunk, self._cfg.request_timeout)
        seconds = self._clock() - started
        if isinstance(reply, Outcome):
            self._resize(self.size.observe(len(chunk), seconds), "slow", seconds)
            return reply
        return await self._failed(chunk, reply, seconds)

    async def _failed(self, chunk: list[IndexAction], failure: RequestFailure,
                      seconds: float) -> Outcome:
        if failure.action is Action.SPLIT:
            self._resize(self.size.shrink(len(chunk)), "too_large", seconds)
            if len(chunk) == 1:
                return Outcome(rejected=[(chunk[0], f"{failure.reason} (this one document is "
                                          "larger than the cluster takes in one request: "
                                          "http.max_content_length)")])
            first, second = halves(chunk)
            log.info("bulk_split", documents=len(chunk), reason=failure.reason)
            outcome = await self._request(list(first))
            return outcome.add(await self._request(list(second)))
        if failure.action is Action.REJECT:
            return Outcome(rejected=[(action, failure.reason) for action in chunk])
        if failure.action is Action.RETRY_SMALLER:
            self._resize(self.size.shrink(len(chunk)), "timeout", seconds)
        return Outcome(retry=chunk, retry_reason=failure.reason,
                       refused=failure.action is Action.REFUSED,
                       unreachable=failure.unreachable)

    def _resize(self, size: int, why: str, seconds: float) -> None:
        """Export the request size; log when it shrinks, and when it is back to the most."""
        previous, self._shown_size = self._shown_size, size
        if size == previous:
            return
        self._metrics.bulk_request_documents.set(size)
        if size < previous:
            log.warning("bulk_request_shrunk", documents=size, previous=previous, reason=why,
                        seconds=round(seconds, 3), request_timeout=self._cfg.request_timeout)
        elif size == self.size.maximum:
            log.info("bulk_request_restored", documents=size)
