"""Real Kafka and Elasticsearch for integration tests.

``SOCD_TEST_KAFKA`` (HOST:PORT) and ``SOCD_TEST_ELASTICSEARCH`` (URL) point the suite at
existing servers; without them, local servers are started on free loopback ports for the
session and stopped afterwards (see socd.devservers).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import AsyncElasticsearch

from socd.devservers import Endpoints, LocalServers


def given_servers() -> Endpoints | None:
    kafka = os.environ.get("SOCD_TEST_KAFKA")
    elastic = os.environ.get("SOCD_TEST_ELASTICSEARCH")
    return Endpoints(kafka, elastic) if kafka and elastic else None


def given_or_local(tmp_path_factory: pytest.TempPathFactory, name: str,
                   kafka: str | None = None) -> Iterator[Endpoints]:
    """The servers SOCD_TEST_* give, else local ones in a fresh folder ``name`` (``kafka``:
    ``tansu`` or ``noida`` for the Kafka protocol; None: the default), stopped afterwards."""
    given = given_servers()
    if given:
        yield given
        return
    with LocalServers(Path(tmp_path_factory.mktemp(name)), kafka=kafka) as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    yield from given_or_local(tmp_path_factory, "servers")


@pytest.fixture(scope="session")
def group_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """Servers whose group coordinator hands the partitions of a member that left or died
    to the others, for the tests that kill and start socd processes of one group.

    noida-db's does not (the remaining member waits in SyncGroup for the departed leader
    forever), so locally these tests run on the Tansu broker; SOCD_TEST_* still win.
    """
    yield from given_or_local(tmp_path_factory, "tansu", kafka="tansu")


@pytest.fixture
async def group_es(group_servers: Endpoints) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(group_servers.elasticsearch)
    yield client
    await client.close()


@pytest.fixture
def unique() -> str:
    """A fresh name part, so that tests sharing servers never see each other's data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def es(servers: Endpoints) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(servers.elasticsearch)
    yield client
    await client.close()


TopicMaker = Callable[..., Awaitable[None]]


@pytest.fixture
def create_topics(servers: Endpoints) -> TopicMaker:
    """``await create_topics(*names, partitions=3)`` on the test broker."""

    async def create(*names: str, partitions: int = 3) -> None:
        await make_topics(servers.kafka, *names, partitions=partitions)

    return create


@pytest.fixture
async def topics(unique: str, create_topics: TopicMaker) -> tuple[str, str]:
    """The input and dead-letter topics that helpers.write_config names."""
    names = (f"sensors.cyradar.{unique}", f"socd.dead-letter.{unique}")
    await create_topics(*names)
    return names


async def make_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def noida_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """noida-db for both APIs: its Kafka speaks SASL/PLAIN (and accepts any password)."""
    if given_servers() is not None:
        pytest.skip("servers given by SOCD_TEST_*: this test needs noida-db's Kafka (SASL)")
    with LocalServers(Path(tmp_path_factory.mktemp("noida-kafka")), kafka="noida") as endpoints:
        yield endpoints
