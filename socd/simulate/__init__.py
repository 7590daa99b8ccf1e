"""Realistic sensor traffic: ``socd simulate``.

From pure to effectful:

- **Generators** (:data:`FORMATS`: format name → :class:`SensorFormat`) yield the messages a
  sensor would publish, deterministic for a given :class:`random.Random`: ``cyradar``
  (the Cyradar-style schema of the design brief), ``suricata`` (EVE JSON alerts with dns,
  http, tls and flow records), ``wazuh`` (``alerts.json``), ``cef`` (ArcSight CEF lines,
  some behind a syslog header), ``leef`` (LEEF 1.0 and 2.0 lines of Palo Alto firewalls and
  Deep Security agents, behind syslog headers) and ``zeek`` (``notice.log`` and
  ``intel.log`` records of Zeek's JSON writer). Each normalises cleanly through the
  connector of the same name, and each has the spread of severities and categories of its
  vendor: mostly noise, some high-risk, a few critical. :func:`mixed_messages` interleaves
  them in the shares of :data:`MIX` (``--format mix``).
- :func:`produce` sends messages to Kafka with aiokafka (``acks="all"``), paced to a rate or
  as fast as possible, and returns how many the broker acknowledged. It does not create
  topics.
- :func:`add_arguments` and :func:`run` make the sub-command; ``--output`` writes one
  message a line instead of producing.

Every address and name the generators write is data: internal addresses are in 10.0.0.0/8,
external ones in the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24),
external domains under the reserved ``.example`` top-level domain.
"""

from __future__ import annotations

from socd.simulate.cef import cef_events
from socd.simulate.command import add_arguments, run
from socd.simulate.common import VIETNAM, Event, EventGenerator, Message, SensorFormat
from socd.simulate.cyradar import cyradar_events
from socd.simulate.formats import FORMATS, MIX, mixed_messages
from socd.simulate.kafka import produce
from socd.simulate.leef import leef_events
from socd.simulate.suricata import suricata_events
from socd.simulate.wazuh import wazuh_events
from socd.simulate.zeek import zeek_events

__all__ = [
    "FORMATS",
    "MIX",
    "VIETNAM",
    "Event",
    "EventGenerator",
    "Message",
    "SensorFormat",
    "add_arguments",
    "cef_events",
    "cyradar_events",
    "leef_events",
    "mixed_messages",
    "produce",
    "run",
    "suricata_events",
    "wazuh_events",
    "zeek_events",
]
