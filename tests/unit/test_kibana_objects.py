"""deploy/kibana/socd.ndjson: Kibana's saved-object format, references, and fields that exist.

Kibana cannot run here, so these tests hold the file to what Kibana's own code requires
(elastic/kibana, read for these tests):

* import: one saved object per line; every reference must resolve in the file or in Kibana
  (``missing_references`` otherwise);
* ``coreMigrationVersion`` 8.8.0 and ``typeMigrationVersion`` per type, as a Kibana 8.x
  export writes them; Kibana migrates older documents up on import but refuses one newer
  than it knows, so no version may pass the oldest Kibana socd supports (8.9);
* the dashboard's attributes are checked against its 8.9.0 schema (``unknowns: 'forbid'``,
  ``dashboard_saved_object/schema/v1``) and a saved search's against ``SCHEMA_SEARCH_V8_8_0``
  (``saved_search/server/saved_objects/schema_legacy.ts``);
* by-value Lens panels keep their data-view references in
  ``embeddableConfig.attributes.references`` *and* on the dashboard as
  ``<panelIndex>:<name>`` (what the dashboard's reference extraction writes);
* every field a panel or search uses exists in socd's index template (or is a runtime field
  of the data view), with a type Elasticsearch can aggregate (or sort) where it is
  aggregated (or sorted);
* threats are counted as ``socd report`` counts them (README, "Threats and alerts"): the
  sum of the data view's runtime field ``socd.threats`` (an alert's
  ``socd.suppression.docs_count``, 1 for a document without it), never the documents, which
  are the *alerts*. Lens's ``sum`` has no ``missing`` value, and top values cannot be ranked
  by a formula column (``isSortableByColumn`` in Lens's terms operation refuses a column
  with ``references``), hence the runtime field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socd.sinks.kibana import (
    DEFAULT_PREFIX,
    encode_ndjson,
    for_prefix,
    load_saved_objects,
    saved_objects_file,
)
from socd.sinks.templates import alerts_template

FILE = Path(__file__).resolve().parents[2] / "deploy" / "kibana" / "socd.ndjson"

TYPE_MIGRATION_VERSIONS = {
    # What a Kibana 8.x export writes: index-pattern and search have had no migration
    # since 8.0.0 (their multi-namespace conversion); dashboards 8.9.0 (the last by-value
    # Lens migration before model versions). A 9.x export would write 10.x.y, which no 8.x
    # Kibana accepts.
    "index-pattern": "8.0.0",
    "search": "8.0.0",
    "dashboard": "8.9.0",
}
OLDEST_KIBANA = (8, 9, 0)

DASHBOARD_ATTRIBUTES = {  # dashboard schema v1 (8.9.0), unknowns forbidden
    "title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo",
    "refreshInterval", "controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version"}
SEARCH_ATTRIBUTES = {  # SCHEMA_SEARCH_V8_8_0, unknowns forbidden
    "title", "description", "columns", "sort", "grid", "rowHeight", "rowsPerPage",
    "hideChart", "breakdownField", "kibanaSavedObjectMeta", "isTextBasedQuery",
    "usesAdHocDataView", "timeRestore", "timeRange", "refreshInterval", "viewMode",
    "hideAggregatedPreview", "hits", "version"}
# attribute → the JSON type Kibana stores in that string
JSON_STRINGS: dict[str, dict[str, type]] = {
    "index-pattern": {"fieldAttrs": dict, "fieldFormatMap": dict, "fields": list,
                      "runtimeFieldMap": dict, "sourceFilters": list},
    "search": {"kibanaSavedObjectMeta.searchSourceJSON": dict},
    "dashboard": {"kibanaSavedObjectMeta.searchSourceJSON": dict, "panelsJSON": list,
                  "optionsJSON": dict},
}

AGGREGATABLE = {"keyword", "constant_keyword", "long", "integer", "short", "byte", "double",
                "float", "half_float", "scaled_float", "unsigned_long", "date", "date_nanos",
                "ip", "boolean"}
LENS_DATA_TYPES = {"keyword": "string", "ip": "ip", "date": "date", "long": "number",
                   "integer": "number", "float": "number", "boolean": "boolean"}
PENDING_FIELDS: dict[str, str] = {
    # A field the saved objects use before the template lists it: the strings_as_keyword
    # dynamic template maps it as keyword until then. None today (socd.status is listed).
}
KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@-]*)\s*:")


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return load_saved_objects(FILE)


def template_fields() -> dict[str, dict[str, Any]]:
    """Every field of socd's index template: dotted name → its mapping."""
    out: dict[str, dict[str, Any]] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            if "properties" in spec:
                walk(spec["properties"], f"{prefix}{name}.")
            else:
                out[f"{prefix}{name}"] = spec

    walk(alerts_template(DEFAULT_PREFIX)["template"]["mappings"]["properties"], "")
    return out


def runtime_fields() -> dict[str, dict[str, Any]]:
    """The data view's runtime fields: name → ``{"type", "script": {"source"}}``."""
    (data_view,) = [o for o in load_saved_objects(FILE) if o["type"] == "index-pattern"]
    found: dict[str, dict[str, Any]] = json.loads(data_view["attributes"]["runtimeFieldMap"])
    return found


def field_type(name: str) -> tuple[str, bool]:
    """(type, aggregatable) of a field socd's documents carry, or of a runtime field of the
    data view (aggregatable: Elasticsearch computes it at search time)."""
    fields = template_fields()
    runtime = runtime_fields()
    if name in runtime:
        return str(runtime[name]["type"]), True
    if name in fields:
        spec = fields[name]
        kind = str(spec["type"])
        return kind, kind in AGGREGATABLE and spec.get("doc_values", True) is not False
    if name in PENDING_FIELDS:
        return PENDING_FIELDS[name], True
    raise AssertionError(f"{name} is not in socd's index template")


def attribute(obj: dict[str, Any], dotted: str) -> Any:
    value: Any = obj["attributes"]
    for part in dotted.split("."):
        value = value[part]
    return value


def panels(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(obj["attributes"]["panelsJSON"])
    return result


def lens_layers(panel: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    state = panel["embeddableConfig"]["attributes"]["state"]
    yield from state["datasourceStates"]["formBased"]["layers"].items()


def kql_fields(query: dict[str, Any]) -> list[str]:
    assert query["language"] == "kuery"
    return KQL_FIELD.findall(query["query"])


def used_fields(objects: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(field, use, where): use is ``aggregated``, ``sorted``, ``queried`` or ``shown``."""
    uses: list[tuple[str, str, str]] = []
    for obj in objects:
        where = f"{obj['type']} {obj['id']}"
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            query = json.loads(meta["searchSourceJSON"]).get("query")
            if query:
                uses += [(f, "queried", where) for f in kql_fields(query)]
        if obj["type"] == "search":
            uses += [(f, "shown", where) for f in obj["attributes"]["columns"]]
            uses += [(f, "sorted", where) for f, _ in obj["attributes"]["sort"]]
        if obj["type"] == "index-pattern":
            uses.append((obj["attributes"]["timeFieldName"], "aggregated", where))
        if obj["type"] == "dashboard":
            for panel in panels(obj):
                if panel["type"] != "lens":
                    continue
                at = f"{where} panel {panel['title']!r}"
                state = panel["embeddableConfig"]["attributes"]["state"]
                uses += [(f, "queried", at) for f in kql_fields(state["query"])]
                for _, layer in lens_layers(panel):
                    for column in layer["columns"].values():
                        if column.get("sourceField", "___records___") != "___records___":
                            uses.append((column["sourceField"], "aggregated", at))
                        if "filter" in column:
                            uses += [(f, "queried", at) for f in kql_fields(column["filter"])]
    return uses


# --- the file as Kibana reads it --------------------------------------------------------


def test_every_line_is_a_saved_object(objects: list[dict[str, Any]]) -> None:
    """Each line is one JSON object with type, id, attributes, references and versions."""
    lines = [line for line in FILE.read_text(encoding="utf-8").splitlines() if line]
    assert len(lines) == len(objects) == 6
    for line in lines:
        obj = json.loads(line)
        assert {"type", "id", "attributes", "references", "coreMigrationVersion",
                "typeMigrationVersion"} <= obj.keys()


def test_the_shipped_file_is_what_setup_imports() -> None:
    """Without an installed copy, socd setup reads deploy/kibana/socd.ndjson."""
    assert saved_objects_file() in (FILE, FILE.parents[2] / "socd" / "_data" / "kibana"
                                    / "socd.ndjson")


def test_ids_are_unique_and_carry_the_prefix(objects: list[dict[str, Any]]) -> None:
    """Deterministic, unique ids, each starting with the default prefix it is rewritten from."""
    ids = [obj["id"] for obj in objects]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(f"{DEFAULT_PREFIX}-") for i in ids)


def test_id_suffixes_cannot_collide_across_prefixes(objects: list[dict[str, Any]]) -> None:
    """<p1><s1> == <p2><s2> with p1 != p2 needs one suffix to end the other: none does."""
    suffixes = [obj["id"][len(DEFAULT_PREFIX):] for obj in objects]
    for a in suffixes:
        for b in suffixes:
            assert a == b or not a.endswith(b), (a, b)


def test_migration_versions_are_a_real_8x_export(objects: list[dict[str, Any]]) -> None:
    """coreMigrationVersion 8.8.0; typeMigrationVersion per type and never past Kibana 8.9."""
    for obj in objects:
        assert obj["coreMigrationVersion"] == "8.8.0"
        assert obj["typeMigrationVersion"] == TYPE_MIGRATION_VERSIONS[obj["type"]]
        version = tuple(int(p) for p in obj["typeMigrationVersion"].split("."))
        assert version <= OLDEST_KIBANA


def test_json_strings_where_kibana_stores_them(objects: list[dict[str, Any]]) -> None:
    """panelsJSON, optionsJSON, searchSourceJSON and the data view's maps are JSON strings."""
    for obj in objects:
        for dotted, kind in JSON_STRINGS[obj["type"]].items():
            value = attribute(obj, dotted)
            assert isinstance(value, str), (obj["id"], dotted)
            assert isinstance(json.loads(value), kind), (obj["id"], dotted)


def test_attributes_fit_kibanas_schemas(objects: list[dict[str, Any]]) -> None:
    """Dashboards and saved searches carry only attributes their 8.x schema knows."""
    for obj in objects:
        keys = set(obj["attributes"])
        if obj["type"] == "dashboard":
            assert keys <= DASHBOARD_ATTRIBUTES, keys - DASHBOARD_ATTRIBUTES
        if obj["type"] == "search":
            assert keys <= SEARCH_ATTRIBUTES, keys - SEARCH_ATTRIBUTES
            assert all(isinstance(s, list) and len(s) == 2 for s in obj["attributes"]["sort"])


def assert_references_resolve(objects: list[dict[str, Any]]) -> None:
    """Every reference names an object of the file, and every user of a reference has one."""
    present = {(obj["type"], obj["id"]) for obj in objects}
    for obj in objects:
        refs = {ref["name"]: ref for ref in obj["references"]}
        assert len(refs) == len(obj["references"]), f"duplicate reference names in {obj['id']}"
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, (obj["id"], ref)
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        index_ref = json.loads(meta["searchSourceJSON"]).get("indexRefName") if meta else None
        if index_ref:
            assert refs[index_ref]["type"] == "index-pattern"
        used = {index_ref} if index_ref else set()
        if obj["type"] == "dashboard":
            for panel in panels(obj):
                index = panel["panelIndex"]
                if "panelRefName" in panel:
                    used.add(f"{index}:{panel['panelRefName']}")
                    assert refs[f"{index}:{panel['panelRefName']}"]["type"] == panel["type"]
                    continue
                inner = {r["name"]: r for r in panel["embeddableConfig"]["attributes"]
                         ["references"]}
                for layer_id, _ in lens_layers(panel):
                    name = f"indexpattern-datasource-layer-{layer_id}"
                    outer = refs[f"{index}:{name}"]
                    assert inner[name]["id"] == outer["id"]
                    assert inner[name]["type"] == outer["type"] == "index-pattern"
                    used.add(f"{index}:{name}")
        assert used == set(refs), f"unused references in {obj['id']}: {set(refs) - used}"


def test_every_reference_resolves(objects: list[dict[str, Any]]) -> None:
    """Searches point at the data view, Lens layers at the data view, the search panel at
    the critical-threats search; nothing dangles and nothing is missing."""
    assert_references_resolve(objects)


def test_lens_panels_are_internally_consistent(objects: list[dict[str, Any]]) -> None:
    """Column order, accessors, orderBy columns and layer ids agree; grid cells do not
    overlap and fit the 48-column grid."""
    (dashboard,) = [o for o in objects if o["type"] == "dashboard"]
    cells: set[tuple[int, int]] = set()
    indexes = set()
    for panel in panels(dashboard):
        grid = panel["gridData"]
        assert grid["i"] == panel["panelIndex"] and panel["panelIndex"] not in indexes
        indexes.add(panel["panelIndex"])
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 48
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & area, panel["title"]
        cells |= area
        if panel["type"] != "lens":
            continue
        attributes = panel["embeddableConfig"]["attributes"]
        assert attributes["type"] == "lens"
        (layer_id, layer), = lens_layers(panel)
        columns = layer["columns"]
        assert set(layer["columnOrder"]) == set(columns)
        for column in columns.values():
            order = column.get("params", {}).get("orderBy", {})
            if order.get("type") == "column":
                assert order["columnId"] in columns
        accessors = json.dumps(attributes["state"]["visualization"])
        assert layer_id in accessors
        for column_id in columns:
            assert column_id in accessors, (panel["title"], columns[column_id]["label"])


def test_every_used_field_exists_with_a_fitting_type(objects: list[dict[str, Any]]) -> None:
    """Aggregated and sorted fields are aggregatable (keyword, numeric, date, ip), not text;
    queried and shown fields exist in the template."""
    uses = used_fields(objects)
    assert {f for f, use, _ in uses if use == "aggregated"} >= {
        "@timestamp", "socd.class", "socd.layer", "rule.name", "source.ip", "destination.ip",
        "observer.name", "rule.category", "event.category"}
    for name, use, where in uses:
        kind, aggregatable = field_type(name)
        if use in ("aggregated", "sorted"):
            assert aggregatable, f"{where}: {name} ({kind}) cannot be {use}"


def test_lens_data_types_match_the_template(objects: list[dict[str, Any]]) -> None:
    """A Lens column's dataType is the one Kibana derives from the field's mapping."""
    (dashboard,) = [o for o in objects if o["type"] == "dashboard"]
    for panel in panels(dashboard):
        if panel["type"] != "lens":
            continue
        for _, layer in lens_layers(panel):
            for column in layer["columns"].values():
                if column["operationType"] in ("terms", "date_histogram", "sum"):
                    kind, _ = field_type(column["sourceField"])
                    assert column["dataType"] == LENS_DATA_TYPES[kind], column["label"]


def test_pending_fields_are_mapped_as_promised() -> None:
    """A field the file uses ahead of the template becomes what the test assumes."""
    template = alerts_template(DEFAULT_PREFIX)["template"]["mappings"]
    strings = [t["strings_as_keyword"] for t in template["dynamic_templates"]
               if "strings_as_keyword" in t]
    assert strings and strings[0]["mapping"]["type"] == "keyword"
    fields = template_fields()
    for name, kind in PENDING_FIELDS.items():
        assert fields.get(name, {"type": kind})["type"] == kind
    # the handling fields that "Threats not yet handled" and socd alerts read
    assert fields["socd.status"]["type"] == "keyword"
    assert fields["socd.status_at"]["type"] == "date"


def test_dashboard_and_searches_cover_the_soc_overview(objects: list[dict[str, Any]]) -> None:
    """The saved searches and dashboard panels the SOC overview promises are there."""
    titles = {obj["attributes"]["title"]: obj for obj in objects}
    assert {"Critical threats", "High-risk threats", "Threats by layer",
            "Threats not yet handled", "SOC overview"} <= set(titles)
    data_view = titles["socd-alerts*"]
    assert data_view["type"] == "index-pattern"
    assert data_view["attributes"]["timeFieldName"] == "@timestamp"
    open_query = json.loads(titles["Threats not yet handled"]["attributes"]
                            ["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
    # KQL `NOT f : v` becomes bool.must_not, which documents without the field also pass;
    # a threat the sensor blocked (event.type denied) is handled (socd.alerts).
    assert open_query == {"query": 'NOT socd.status : "closed" AND NOT event.type : "denied"',
                          "language": "kuery"}
    dashboard = titles["SOC overview"]
    kinds = [p["embeddableConfig"]["attributes"]["visualizationType"]
             for p in panels(dashboard) if p["type"] == "lens"]
    assert len(kinds) == 12 and {"lnsXY", "lnsMetric", "lnsDatatable", "lnsPie"} == set(kinds)
    searches = {r["id"] for r in dashboard["references"] if r["type"] == "search"}
    assert searches == {titles["Critical threats"]["id"]}


# --- another index prefix ---------------------------------------------------------------


def test_the_default_prefix_changes_nothing(objects: list[dict[str, Any]]) -> None:
    """For prefix socd the objects are sent as written (a copy)."""
    same = for_prefix(objects, DEFAULT_PREFIX)
    assert same == objects and same[0] is not objects[0]


def test_another_prefix_renames_every_id_and_the_pattern(objects: list[dict[str, Any]]) -> None:
    """acme: data view on acme-alerts*, ids acme-…, inner Lens references too, titles marked."""
    renamed = for_prefix(objects, "acme")
    text = encode_ndjson(renamed).decode()
    for obj in objects:
        assert f'"{obj["id"]}"' not in text and f'\\"{obj["id"]}\\"' not in text
    assert all(obj["id"].startswith("acme-") for obj in renamed)
    (data_view,) = [o for o in renamed if o["type"] == "index-pattern"]
    assert data_view["attributes"]["title"] == "acme-alerts*"
    assert data_view["id"] == "acme-alerts"
    titles = {o["attributes"]["title"] for o in renamed if o["type"] != "index-pattern"}
    assert "SOC overview (acme)" in titles
    assert_references_resolve(renamed)
    assert for_prefix(objects, "acme") == renamed  # deterministic: safe to import again


@given(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True),
       st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True))
def test_two_prefixes_coexist(first: str, second: str) -> None:
    """Any two index prefixes give disjoint ids, each set complete in itself."""
    objects = load_saved_objects(FILE)
    a, b = for_prefix(objects, first), for_prefix(objects, second)
    assert_references_resolve(a)
    ids_a, ids_b = {o["id"] for o in a}, {o["id"] for o in b}
    assert len(ids_a) == len(objects)
    assert (ids_a == ids_b) if first == second else not (ids_a & ids_b)


# --- threats and alerts -----------------------------------------------------------------


def lens_columns(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any],
                                                                  dict[str, Any], str]]:
    """(panel, layer, column id) of every Lens column of the dashboard."""
    (dashboard,) = [o for o in objects if o["type"] == "dashboard"]
    for panel in panels(dashboard):
        if panel["type"] == "lens":
            for _, layer in lens_layers(panel):
                for column_id in layer["columns"]:
                    yield panel, layer, column_id


def test_the_threats_runtime_field_counts_a_plain_document_as_one() -> None:
    """``socd.threats`` is a long: the alert's ``docs_count`` when the document has one, else
    1 — also where the index has no mapping for it (indices made before template v5), which
    ``doc[...]`` alone would refuse. It shadows no field of the template."""
    runtime = runtime_fields()
    assert set(runtime) == {"socd.threats"}
    field = runtime["socd.threats"]
    assert field["type"] == "long"
    source = field["script"]["source"]
    docs_count = "socd.suppression.docs_count"
    assert field_type(docs_count) == ("long", True)
    assert f"String f = '{docs_count}';" in source
    assert "if (doc.containsKey(f) && doc[f].size() > 0) { emit(doc[f].value); }" in source
    assert source.endswith("else { emit(1L); }")
    assert "socd.threats" not in template_fields()


def test_threat_counts_sum_the_alerts_counts(objects: list[dict[str, Any]]) -> None:
    """Every metric of the dashboard but the alerts and the sensors is a sum of
    ``socd.threats``; every count of documents is labelled Alerts."""
    metrics = 0
    for panel, layer, column_id in lens_columns(objects):
        column = layer["columns"][column_id]
        if column["isBucketed"] or column["operationType"] == "unique_count":
            continue
        metrics += 1
        if column["operationType"] == "count":
            assert column["label"] == "Alerts", (panel["title"], column["label"])
        else:
            assert (column["operationType"], column["sourceField"]) == ("sum", "socd.threats"), (
                panel["title"], column["label"])
            assert column["label"] != "Alerts"
    assert metrics == 18  # 15 threat figures and 3 alert counts


def test_top_values_rank_by_threats(objects: list[dict[str, Any]]) -> None:
    """A top list (terms) ranks by the threats it holds, not by its alert documents."""
    ranked = 0
    for panel, layer, column_id in lens_columns(objects):
        order = layer["columns"][column_id].get("params", {}).get("orderBy", {})
        if order.get("type") == "column":
            by = layer["columns"][order["columnId"]]
            assert (by["operationType"], by["sourceField"]) == ("sum", "socd.threats"), (
                panel["title"])
            ranked += 1
    assert ranked >= 10


def test_alerts_are_shown_with_their_counts(objects: list[dict[str, Any]]) -> None:
    """Each saved search (the alerts tables) shows the suppressed alert's count, first and
    last threat; the Threats metric gives the alerts as its secondary figure, and each top
    table an Alerts column next to Threats."""
    suppression = ["socd.suppression.docs_count", "socd.suppression.start",
                   "socd.suppression.end"]
    searches = [o for o in objects if o["type"] == "search"]
    assert len(searches) == 4
    for search in searches:
        columns = search["attributes"]["columns"]
        at = columns.index(suppression[0])
        assert columns[at:at + 3] == suppression, search["id"]
        assert "socd.suppression.docs_count threats" in search["attributes"]["description"]
    (dashboard,) = [o for o in objects if o["type"] == "dashboard"]
    by_title = {p["title"]: p for p in panels(dashboard)}
    metric = by_title["Threats"]["embeddableConfig"]["attributes"]["state"]
    (_, layer), = metric["datasourceStates"]["formBased"]["layers"].items()
    secondary = layer["columns"][metric["visualization"]["secondaryMetricAccessor"]]
    primary = layer["columns"][metric["visualization"]["metricAccessor"]]
    assert (secondary["label"], secondary["operationType"]) == ("Alerts", "count")
    assert (primary["label"], primary["operationType"]) == ("Threats", "sum")
    tables = [p for p in by_title.values() if p["type"] == "lens" and
              p["embeddableConfig"]["attributes"]["visualizationType"] == "lnsDatatable"]
    assert len(tables) == 2
    for table in tables:
        (_, layer), = lens_layers(table)
        shown = [layer["columns"][c["columnId"]]["label"] for c in
                 table["embeddableConfig"]["attributes"]["state"]["visualization"]["columns"]]
        assert shown[1:3] == ["Threats", "Alerts"], table["title"]
