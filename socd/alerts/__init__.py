"""``socd alerts list|ack|close``: operators' handling of threats, recorded on the documents.

The states and closing reasons are those of Elastic Security's alert workflow
(``kibana.alert.workflow_status`` open / acknowledged / closed and
``kibana.alert.workflow_reason``; Elastic's ``benign_positive`` is socd's ``benign``), kept
in socd's own namespace of the threat document:

``socd.status``          ``open`` | ``acknowledged`` | ``closed`` (absent: ``open``, as the
                         daemon writes every threat)
``socd.status_reason``   for ``closed`` only: ``true_positive`` | ``false_positive`` |
                         ``benign`` | ``duplicate`` (null otherwise)
``socd.status_by``       who made the last change (``--by``, default the login name)
``socd.status_at``       when (UTC, ISO-8601)
``socd.status_comment``  the comment of the last change (null when none was given)
``socd.status_history``  the last :data:`HISTORY_MAX` changes, oldest first, each
                         ``{status, reason, by, at, comment}``

Transitions: ``open → acknowledged → closed``; ``close`` from ``open`` is allowed; closing a
closed threat with another reason changes the reason. ``ack`` of a closed threat reopens it
(to ``acknowledged``, the reason removed, as Elastic removes it) only with ``reopen=True``
(``--reopen``); without it the threat is left closed and reported. A change that would leave
the status and reason as they are changes nothing (idempotent: neither the comment nor the
time is rewritten).

Every update is conditional on the document's ``_seq_no``/``_primary_term`` as read
(optimistic concurrency): when another writer changed it in between, Elasticsearch answers
409, the document is read again and the change decided again on what it now holds, up to
:data:`MAX_TRIES` times, so a concurrent change is never overwritten.

A threat the sensor blocked (ECS ``event.type: denied``, which the Cyradar and Suricata
connectors write for ``action: blocked``) is *handled by the sensor*: it is shown so
(``handled``) without any document being rewritten.
"""

from socd.alerts.commands import handle, list_threats, summary, write_table
from socd.alerts.model import (
    BLOCKED,
    CLASSES,
    HISTORY_MAX,
    MAX_TRIES,
    REASONS,
    STATUSES,
    Change,
    Selection,
    decide,
    login_name,
    now_utc,
)
from socd.alerts.store import Store

__all__ = ["BLOCKED", "CLASSES", "HISTORY_MAX", "MAX_TRIES", "REASONS", "STATUSES", "Change",
           "Selection", "Store", "decide", "handle", "list_threats", "login_name", "now_utc",
           "summary", "write_table"]
