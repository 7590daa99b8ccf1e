"""The Elasticsearch sink: bulk indexing where each item's result decides.

Split by concern, as Vector's Elasticsearch sink is (``src/sinks/elasticsearch/``: config,
request builder, service, retry, health check):

* :mod:`.client` — ``elasticsearch.*`` settings → the client (which retries nothing itself);
* :mod:`.request` — documents → the NDJSON body of a ``_bulk`` request (:func:`encode_action`);
* :mod:`.service` — one request; the client's exceptions translated into socd's terms;
* :mod:`.outcome` — a bulk response → per document: durable, retry, or rejected with the
  reason (a pure function);
* :mod:`.retry` — the policy: which statuses and errors are retried, split or rejected, and
  the backoff (capped exponential, full jitter);
* :mod:`.size` — the request size, adapted to the cluster's latency (AIMD);
* :mod:`.health` — the start-up check: reachable, credentials taken;
* :mod:`.sink` — :class:`ElasticsearchSink`, which puts them together.

In short: 200/201 items are durable; 429 and 5xx items, connection errors and whole-request
429/5xx are sent again after a backoff, for as long as it takes (delivery stalls, Kafka
partitions are paused, nothing is committed meanwhile); a request that times out is sent
again in halves and the request size shrinks, then grows back while requests are fast; a
413 splits the request in halves down to one document; a document Elasticsearch refuses
(400 mapping and parse errors, 404, 409 …) is returned with the reason, and dead-lettered.
Credentials refused (401/403) stop start-up with the settings to correct; refused later,
while running, they are retried and logged as errors, never dead-lettered.

elasticsearch-py's exceptions stop in this package; callers see
:class:`~socd.errors.SinkError` (and :class:`~socd.errors.CredentialsRefused`) only.
"""

from socd.sinks.elasticsearch.client import make_client
from socd.sinks.elasticsearch.outcome import Rejected
from socd.sinks.elasticsearch.request import encode_action
from socd.sinks.elasticsearch.sink import ElasticsearchSink

__all__ = ["ElasticsearchSink", "Rejected", "encode_action", "make_client"]
