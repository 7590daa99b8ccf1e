"""The simulated formats by name, and ``mix``: several formats interleaved."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import datetime

from socd.simulate.cef import cef_events, external_id_key
from socd.simulate.common import SensorFormat, line_bytes
from socd.simulate.cyradar import alert_id_key, cyradar_events
from socd.simulate.leef import leef_events, sequence_key
from socd.simulate.suricata import flow_id_key, suricata_events
from socd.simulate.wazuh import wazuh_events, wazuh_id_key
from socd.simulate.zeek import zeek_events, zeek_key

FORMATS: dict[str, SensorFormat] = {
    "cyradar": SensorFormat(cyradar_events, alert_id_key, "sensors.cyradar"),
    "suricata": SensorFormat(suricata_events, flow_id_key, "sensors.suricata"),
    "wazuh": SensorFormat(wazuh_events, wazuh_id_key, "sensors.wazuh"),
    "cef": SensorFormat(cef_events, external_id_key, "sensors.cef", encode=line_bytes),
    "leef": SensorFormat(leef_events, sequence_key, "sensors.leef", encode=line_bytes),
    "zeek": SensorFormat(zeek_events, zeek_key, "sensors.zeek"),
}
"""The simulated sensor formats, by the name ``--format`` takes (also the connector's)."""

MIX: Mapping[str, float] = {"suricata": 30, "cef": 22, "leef": 14, "wazuh": 14, "zeek": 10,
                            "cyradar": 10}
"""The share of each format in ``--format mix``, in percent: a provincial network's day, when
the on-site IDS (Suricata) and firewalls (CEF, LEEF) report most, the servers' HIDS (Wazuh)
and the network monitor's notices and intelligence hits (Zeek) less, and the provider's
NDR/APT sensors (Cyradar), which report only what they judge a threat, the least."""

Tagged = tuple[str, object]
"""A message of a mix: (format name, message)."""


def mixed_messages(rng: random.Random, *, start: datetime, rate_hint: float = 1.0,
                   shares: Mapping[str, float] = MIX) -> Iterator[Tagged]:
    """Messages of several formats interleaved at random in the proportions of ``shares``,
    each tagged with its format, deterministic for a given ``rng``.

    Each format has its own generator (seeded from ``rng``) whose clock runs at its share of
    ``rate_hint``, so every format's timestamps advance at the pace of its own traffic.
    """
    if rate_hint <= 0:
        raise ValueError("rate_hint must be positive")
    names = [name for name, share in shares.items() if share > 0]
    if not names:
        raise ValueError("shares: no format has a positive share")
    total = sum(shares[name] for name in names)
    streams = {name: FORMATS[name].generate(random.Random(rng.getrandbits(64)), start=start,
                                            rate_hint=rate_hint * shares[name] / total)
               for name in names}
    weights = [shares[name] for name in names]
    while True:
        name = rng.choices(names, weights=weights)[0]
        yield name, next(streams[name])
