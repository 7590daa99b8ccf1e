"""Telemetry: Prometheus metrics (:mod:`.metrics`), structured logs (:mod:`.logging`) and
systemd's notifications and watchdog (:mod:`.systemd`)."""
