"""Kibana: import socd's saved objects (data view, saved searches, SOC overview dashboard).

``socd setup --kibana URL`` calls :func:`import_saved_objects`, which sends
``deploy/kibana/socd.ndjson`` to Kibana's saved objects import API::

    POST <url>[/s/<space>]/api/saved_objects/_import?overwrite=true
    kbn-xsrf: true
    Content-Type: multipart/form-data   (one part, ``file``, named ``socd.ndjson``)

The ids in the file are fixed and ``overwrite=true`` replaces what an earlier import
created, so running it again is safe. For an ``elasticsearch.index_prefix`` other than
``socd`` the ids, references and the data view's pattern are rewritten first
(:func:`for_prefix`).

* :mod:`socd.sinks.kibana.objects` — the file: read, fit to a prefix, encode;
* :mod:`socd.sinks.kibana.client` — the ``kibana:`` configuration section and the request.

Errors: :class:`~socd.errors.ConfigError` for a missing or malformed URL, an unreadable CA
file or objects file; :class:`KibanaError` (a :class:`~socd.errors.SocdError`) when Kibana
is unreachable, refuses the request, or refuses any object.
"""

from __future__ import annotations

from socd.config import KibanaConfig
from socd.sinks.kibana.client import KibanaError, import_saved_objects
from socd.sinks.kibana.objects import (
    DEFAULT_PREFIX,
    encode_ndjson,
    for_prefix,
    load_saved_objects,
    saved_objects_file,
)

__all__ = ["DEFAULT_PREFIX", "KibanaConfig", "KibanaError", "encode_ndjson", "for_prefix",
           "import_saved_objects", "load_saved_objects", "saved_objects_file"]
