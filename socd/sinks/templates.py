"""What ``socd setup`` installs in Elasticsearch: the alerts index template with ECS types.

Threat documents go to monthly indices ``<prefix>-alerts-YYYY.MM`` (by ``@timestamp``,
UTC) and are searchable as ``<prefix>-alerts*`` or through the alias ``<prefix>-alerts``.
Classic indices rather than a data stream, because a replay must find a document by its
deterministic id in the index named from the event's time (docs/delivery.md). A lifecycle
policy is installed where the server has ILM (detected at run time).

:data:`ECS_FIELDS` lists every field a shipped connector writes with its ECS type; a test
checks it against the ECS reference. Strings socd does not list are mapped as ``keyword``.
"""

from __future__ import annotations

from typing import Any

TEMPLATE_VERSION = 5

ECS_FIELDS: dict[str, str] = {
    "@timestamp": "date",
    "message": "match_only_text",
    "tags": "keyword",
    "labels": "object",
    # event
    "event.id": "keyword",
    "event.kind": "keyword",
    "event.module": "keyword",
    "event.dataset": "keyword",
    "event.category": "keyword",
    "event.type": "keyword",
    "event.action": "keyword",
    "event.outcome": "keyword",
    "event.severity": "long",
    "event.ingested": "date",
    "event.created": "date",
    "event.timezone": "keyword",
    "event.original": "keyword",
    "event.provider": "keyword",
    "event.reference": "keyword",
    # observer, organization
    "observer.name": "keyword",
    "observer.vendor": "keyword",
    "observer.product": "keyword",
    "observer.type": "keyword",
    "observer.hostname": "keyword",
    "observer.ip": "ip",
    "organization.name": "keyword",
    "organization.id": "keyword",
    # network endpoints
    "source.ip": "ip",
    "source.port": "long",
    "source.domain": "keyword",
    "source.address": "keyword",
    "source.bytes": "long",
    "source.packets": "long",
    "source.mac": "keyword",
    "destination.ip": "ip",
    "destination.port": "long",
    "destination.domain": "keyword",
    "destination.address": "keyword",
    "destination.bytes": "long",
    "destination.packets": "long",
    "destination.mac": "keyword",
    "network.transport": "keyword",
    "network.protocol": "keyword",
    "network.direction": "keyword",
    "network.type": "keyword",
    "network.community_id": "keyword",
    "network.bytes": "long",
    "network.packets": "long",
    # hosts and users
    "host.name": "keyword",
    "host.hostname": "keyword",
    "host.ip": "ip",
    "user.name": "keyword",
    "url.full": "wildcard",
    "url.domain": "keyword",
    "url.path": "wildcard",
    "file.name": "keyword",
    "file.path": "keyword",
    "file.hash.md5": "keyword",
    "file.hash.sha1": "keyword",
    "file.hash.sha256": "keyword",
    "dns.question.name": "keyword",
    "http.request.method": "keyword",
    "user_agent.original": "keyword",
    # the sensor's own verdict
    "rule.id": "keyword",
    "rule.uuid": "keyword",
    "rule.name": "keyword",
    "rule.category": "keyword",
    "rule.ruleset": "keyword",
    "rule.version": "keyword",
    "rule.description": "keyword",
    "rule.reference": "keyword",
    # threat intelligence
    "threat.framework": "keyword",
    "threat.technique.id": "keyword",
    "threat.technique.name": "keyword",
    "threat.tactic.id": "keyword",
    "threat.tactic.name": "keyword",
    "threat.indicator.type": "keyword",
    "threat.indicator.name": "keyword",
    "threat.indicator.confidence": "keyword",
    "threat.indicator.ip": "ip",
    "threat.software.name": "keyword",
    # added with the Suricata, Wazuh, CEF, LEEF, Zeek and ECS connectors
    "client.ip": "ip",
    "client.port": "long",
    "destination.nat.ip": "ip",
    "destination.nat.port": "long",
    "destination.user.name": "keyword",
    "dns.id": "keyword",
    "dns.question.type": "keyword",
    "dns.response_code": "keyword",
    "dns.type": "keyword",
    "event.code": "keyword",
    "event.end": "date",
    "event.risk_score": "float",
    "event.start": "date",
    "file.mime_type": "keyword",
    "file.size": "long",
    "host.id": "keyword",
    "http.request.referrer": "keyword",
    "http.response.body.bytes": "long",
    "http.response.mime_type": "keyword",
    "http.response.status_code": "long",
    "network.application": "keyword",
    "observer.ingress.interface.name": "keyword",
    "observer.version": "keyword",
    "related.ip": "ip",
    "client.nat.ip": "ip",
    "server.nat.ip": "ip",
    "network.forwarded_ip": "ip",
    "dns.resolved_ip": "ip",
    "host.target.ip": "ip",
    "orchestrator.resource.ip": "ip",
    "process.entry_leader.entry_meta.source.ip": "ip",
    "server.ip": "ip",
    "server.port": "long",
    "source.nat.ip": "ip",
    "source.nat.port": "long",
    "source.user.name": "keyword",
    "tls.client.ja3": "keyword",
    "tls.client.server_name": "keyword",
    "tls.server.issuer": "keyword",
    "tls.server.ja3s": "keyword",
    "tls.server.subject": "keyword",
    "tls.version": "keyword",
    "tls.version_protocol": "keyword",
    "url.original": "wildcard",
    "user.domain": "keyword",
    "vulnerability.id": "keyword",
    "vulnerability.reference": "keyword",
    "vulnerability.score.base": "float",
    "vulnerability.severity": "keyword",
}

SOCD_FIELDS: dict[str, str] = {
    "socd.class": "keyword",
    "socd.layer": "integer",
    "socd.input": "keyword",
    "socd.rule.id": "keyword",
    "socd.rule.name": "keyword",
    "socd.rule.level": "keyword",
    "socd.rule.ids": "keyword",
    "socd.warnings": "keyword",
    "socd.sensor_timestamp": "date",
    # an operator's handling (socd alerts ack|close; socd.alerts): the states and reasons of
    # Elastic Security's kibana.alert.workflow_status / workflow_reason
    "socd.status": "keyword",
    "socd.status_reason": "keyword",
    "socd.status_by": "keyword",
    "socd.status_at": "date",
    "socd.status_comment": "keyword",
    "socd.status_history.status": "keyword",
    "socd.status_history.reason": "keyword",
    "socd.status_history.by": "keyword",
    "socd.status_history.at": "date",
    "socd.status_history.comment": "keyword",
    # suppression (docs/state.md): one alert per rule, key and window, the count exact; the
    # fields of Elastic Security's kibana.alert.suppression.*
    "socd.suppression.docs_count": "long",
    "socd.suppression.start": "date",
    "socd.suppression.end": "date",
    "socd.suppression.terms.field": "keyword",
    "socd.suppression.terms.value": "keyword",
    "socd.suppression.applied": "object-stored",
    "socd.suppression.order": "object-stored",
}
"""socd's own verdict and notes (a custom namespace, outside ECS)."""

_NOT_INDEXED = {"event.original"}


def _properties(fields: dict[str, str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for name, kind in fields.items():
        node = root
        parts = name.split(".") if name != "@timestamp" else [name]
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        spec: dict[str, Any] = {"type": kind}
        if kind == "object-stored":  # kept in _source, never fields (no mapping explosion)
            spec = {"type": "object", "enabled": False}
        elif name in _NOT_INDEXED:
            spec.update(index=False, doc_values=False)
        elif kind == "keyword":
            spec["ignore_above"] = 1024
        node[parts[-1]] = spec
    return root


def alerts_template(prefix: str) -> dict[str, Any]:
    """Keyword arguments for ``indices.put_index_template``."""
    return {
        "name": f"{prefix}-alerts",
        "index_patterns": [f"{prefix}-alerts-*"],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "meta": {"managed_by": "socd", "description": "socd threat documents (ECS)"},
        "template": {
            "settings": {"index": {"mapping": {"total_fields": {"limit": 2000}}}},
            "mappings": {
                "dynamic_templates": [
                    {"strings_as_keyword": {"match_mapping_type": "string",
                                            "mapping": {"type": "keyword",
                                                        "ignore_above": 1024}}},
                ],
                "properties": _properties({**ECS_FIELDS, **SOCD_FIELDS}),
            },
            "aliases": {f"{prefix}-alerts": {}},
        },
    }


def lifecycle_policy() -> dict[str, Any]:
    """Roll nothing over (monthly indices), delete after about 13 months of data."""
    return {"phases": {"hot": {"actions": {}},
                       "delete": {"min_age": "400d", "actions": {"delete": {}}}}}


def alerts_index(prefix: str, timestamp: str) -> str:
    """The monthly index of a document: ``@timestamp`` 2026-11-22T... → ``socd-alerts-2026.11``."""
    return f"{prefix}-alerts-{timestamp[0:4]}.{timestamp[5:7]}"


STATE_TEMPLATE_VERSION = 1


def state_index(prefix: str) -> str:
    """The index of socd's correlation windows (see :mod:`socd.state.windows`)."""
    return f"{prefix}-state"


def state_template(prefix: str) -> dict[str, Any]:
    """Keyword arguments for ``indices.put_index_template``: ``<prefix>-state``, where each
    correlation window is one document. Only ``correlation``, ``kind`` and the times are
    fields; what the window keeps (``data``, ``group``, ``applied``, ``fired``, times) stays
    in ``_source``, never mapped (``dynamic: false``: values of any type, no mapping
    explosion)."""
    return {
        "name": f"{prefix}-state",
        "index_patterns": [state_index(prefix)],
        "priority": 200,
        "version": STATE_TEMPLATE_VERSION,
        "meta": {"managed_by": "socd", "description": "socd correlation windows"},
        "template": {
            "settings": {"index": {"number_of_shards": 1}},
            "mappings": {
                "dynamic": False,
                "properties": {
                    "correlation": {"type": "keyword"},
                    "kind": {"type": "keyword"},
                    "expires": {"type": "date", "format": "epoch_millis"},
                    "updated": {"type": "date", "format": "epoch_millis"},
                },
            },
        },
    }
