"""What every simulated sensor shares: the message types, the format registry's entry, the
monitored networks and their addresses, and the sensor clock.

Every address and name written here is data: internal addresses are in 10.0.0.0/8,
external ones in the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24),
external domains under the reserved ``.example`` top-level domain.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import orjson

Event = dict[str, Any]
"""One JSON sensor message, as the sensor would serialise it."""

Message = Any
"""One sensor message: an :data:`Event` for JSON formats, a ``str`` line for CEF and LEEF."""

VIETNAM = timezone(timedelta(hours=7), "ICT")
"""Vietnam's offset (UTC+07:00, no daylight saving): the sensors' local time."""


class EventGenerator(Protocol):
    """Yields sensor messages forever, deterministic for a given ``rng``.

    ``start`` is the sensor time of the first message; ``rate_hint`` the mean number of
    messages per second of sensor time (the spacing of the timestamps, not the sending rate).
    """

    def __call__(
        self, rng: random.Random, *, start: datetime, rate_hint: float = 1.0
    ) -> Iterator[Message]: ...


def json_bytes(message: Message) -> bytes:
    """A JSON message as a sensor sends it: one compact object."""
    return orjson.dumps(message)


def line_bytes(message: Message) -> bytes:
    """A line-format message (CEF, LEEF) as UTF-8."""
    return str(message).encode()


@dataclass(frozen=True, slots=True)
class SensorFormat:
    """A simulated sensor format: how to generate it, key it, encode it, where it goes."""

    generate: EventGenerator
    key: Callable[[Message], bytes | None]
    """The Kafka message key of a message (its id), or None for no key."""
    topic: str
    """The topic of the example configuration that consumes this format."""
    encode: Callable[[Message], bytes] = json_bytes
    """The bytes of one Kafka message; never contains a newline."""
    connector: str = ""
    """The connector that reads it (default: the format's name)."""


# --------------------------------------------------------------------------- time


def sensor_clock(rng: random.Random, start: datetime, rate_hint: float) -> Iterator[datetime]:
    """Sensor times from ``start`` (naive: Vietnam time) with exponential gaps of mean
    ``1 / rate_hint`` seconds, in +07:00."""
    if rate_hint <= 0:
        raise ValueError("rate_hint must be positive")
    if start.tzinfo is None:
        start = start.replace(tzinfo=VIETNAM)
    elapsed = 0.0
    while True:
        yield (start + timedelta(seconds=elapsed)).astimezone(VIETNAM)
        elapsed += rng.expovariate(rate_hint)


def compact_offset(moment: datetime, timespec: str = "microseconds") -> str:
    """ISO-8601 with the offset written without a colon (``+0700``), as Suricata and Wazuh
    write it."""
    text = moment.isoformat(timespec=timespec)
    return text[:-3] + text[-2:]


# --------------------------------------------------------------------------- networks


@dataclass(frozen=True, slots=True)
class Site:
    """One provincial network watched by the sensors."""

    org: str
    code: str
    slug: str  # the province in its .gov.vn domain
    octet: int  # internal addresses are 10.<octet>.x.y

    @property
    def portals(self) -> tuple[str, ...]:
        return (
            f"{self.slug}.gov.vn",
            f"dichvucong.{self.slug}.gov.vn",
            f"stttt.{self.slug}.gov.vn",
            f"vanban.{self.slug}.gov.vn",
        )

    @property
    def other_sites(self) -> tuple[str, ...]:
        """Web sites hosted on the network that are not government portals."""
        return (f"thpt-{self.code}.example", f"hoinongdan-{self.code}.example")


SITES: tuple[Site, ...] = (
    Site("So TTTT Binh Phuoc", "bp", "binhphuoc", 20),
    Site("So TTTT Dong Nai", "dn", "dongnai", 21),
    Site("So TTTT Lam Dong", "ld", "lamdong", 22),
    Site("So TTTT Tay Ninh", "tn", "tayninh", 23),
    Site("So TTTT Ca Mau", "cm", "camau", 24),
)
# Departments of a provincial administration: accounting, records office, personnel,
# inspection, one-stop service desk, planning and finance, IT, legal, director's office.
DEPARTMENTS = ("ketoan", "vanthu", "tochuc", "thanhtra", "motcua", "khtc", "cntt", "phapche",
               "vanphong", "giamdoc")
SERVERS = ("srv-portal-01", "srv-dvc-01", "srv-mail-01", "srv-qlvb-01", "srv-egov-02",
           "srv-vpn-01", "srv-dns-01", "srv-hcm-01")
EXTERNAL_NETS = ("192.0.2", "198.51.100", "203.0.113")


def external_ip(rng: random.Random) -> str:
    return f"{rng.choice(EXTERNAL_NETS)}.{rng.randint(1, 254)}"


def internal_ip(rng: random.Random, site: Site, *, server: bool) -> str:
    subnet = 10 if server else rng.randint(1, 9)
    return f"10.{site.octet}.{subnet}.{rng.randint(10, 250)}"


def workstation(rng: random.Random) -> str:
    kind = rng.choice(("ws", "ws", "pc", "lt"))
    return f"{kind}-{rng.choice(DEPARTMENTS)}-{rng.randint(1, 12):02d}"


def ptr_name(ip: str) -> str:
    """The reverse-DNS name a sensor shows for an external address."""
    return f"static-{ip.replace('.', '-')}.hosting.example"


def client_port(rng: random.Random) -> int:
    return rng.randint(49152, 65535)


USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "curl/7.88.1",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
)
