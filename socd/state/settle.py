"""The step between processing and delivery: a batch's correlated events counted durably.

:class:`socd.pipeline.Pipeline` (``defer=True``, the daemon) leaves the events that feed
correlation rules in ``Batch.correlated``. :class:`Settler` — called by
:class:`socd.delivery.Delivery` on each processed batch, in fetch order, before the batch is
handed to delivery — counts them in the windows of :class:`~socd.state.windows.WindowStore`
and turns them into threats with their final verdicts. A batch without correlated events
costs nothing more than the check of an empty list.
"""

from __future__ import annotations

from collections.abc import Mapping

from socd.classify.correlate import Correlation
from socd.delivery import Source
from socd.event import Record
from socd.pipeline import Batch, Partition, Pipeline
from socd.state.applied import partition_key
from socd.state.windows import Event, WindowStore


class Settler:
    """``await settler(batch)``: the batch's correlated events become threats, their
    windows durable. Raises :class:`~socd.errors.SocdError` as
    :meth:`WindowStore.settle` does."""

    def __init__(self, pipeline: Pipeline, store: WindowStore) -> None:
        self._pipeline = pipeline
        self.store = store
        self.committed: dict[str, int] = {}
        """Per ``"topic/partition"``, the highest offset this process has committed."""

    def watching(self, source: Source) -> Source:
        """``source``, its commits noted in :attr:`committed` (recorded firings below them
        can be forgotten)."""
        return _Watched(source, self.committed)

    async def __call__(self, batch: Batch) -> None:
        correlated = batch.correlated
        if not correlated:
            return
        ends = {partition_key(topic, partition): offset
                for (topic, partition), offset in batch.offsets.items()}
        fired: list[list[Correlation]] = []
        start = 0
        while start < len(correlated):  # runs of one rule set (a reload may fall in a batch)
            correlator = correlated[start].deferred.correlator
            end = start + 1
            while end < len(correlated) and correlated[end].deferred.correlator is correlator:
                end += 1
            events = [Event(c.doc, c.deferred.inputs,
                            partition_key(c.record.topic, c.record.partition), c.record.offset)
                      for c in correlated[start:end]]
            fired += await self.store.settle(correlator, events, ends, self.committed)
            start = end
        self._pipeline.settled(batch, fired)


class _Watched:
    """A source whose successful commits are noted (see :meth:`Settler.watching`)."""

    def __init__(self, source: Source, committed: dict[str, int]) -> None:
        self._source = source
        self._committed = committed

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[Record]:
        return await self._source.fetch(timeout_ms, max_records)

    async def commit(self, offsets: Mapping[Partition, int]) -> bool:
        done = await self._source.commit(offsets)
        if done:
            committed = self._committed
            for (topic, partition), offset in offsets.items():
                key = partition_key(topic, partition)
                if offset > committed.get(key, 0):
                    committed[key] = offset
        return done

    def pause(self, paused: bool) -> None:
        self._source.pause(paused)
