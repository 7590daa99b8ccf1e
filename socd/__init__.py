"""socd — security-operations alert aggregator.

Data flow (one module or package per stage)::

    source/kafka.py ─► normalize/ (decode + connector) ─► classify/ (Sigma rules)
        ─► sinks/elasticsearch/ (bulk) ─► commit offsets (delivery.py: in fetch order,
                                                   once durable)
        ├► telemetry/ (Prometheus counters, structlog)
        └► sinks/dead_letter.py (bad input, with the reason)
"""

__version__ = "0.1.0"
