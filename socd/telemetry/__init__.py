"""Telemetry: Prometheus metrics (:mod:`.metrics`) and structured logs (:mod:`.logging`)."""
