#!/usr/bin/env bash
# socd's main job on this machine, end to end:
#   1. installs socd into .venv (first run only),
#   2. starts a local Kafka-protocol broker and Elasticsearch-API server (.socd-dev/),
#   3. runs `socd setup` and `socd run` with deploy/socd.example.yaml and the shipped rules,
#   4. sends a realistic stream from every simulated sensor (`socd simulate --format mix`:
#      Suricata, CEF and LEEF firewalls, Wazuh, Zeek, the provider's Cyradar-style NDR),
#   5. shows the Prometheus counters, the threats by sensor, class and layer, and where the
#      threat documents are, then stops socd.
# Options: --count N (events, default 3000), --rate R (events/s, default 1000),
#          --down (stop the local servers and exit).
set -euo pipefail
cd "$(dirname "$0")/.."
count=3000
rate=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --down) .venv/bin/python -m socd.devservers down --dir .socd-dev; exit 0 ;;
    *) echo "usage: scripts/demo.sh [--count N] [--rate R] [--down]" >&2; exit 2 ;;
  esac
done

./scripts/bootstrap.sh
PY=.venv/bin/python
SOCD=.venv/bin/socd

echo "==> starting local Kafka and Elasticsearch (.socd-dev/)"
eval "$($PY -m socd.devservers up --dir .socd-dev --env)"
echo "    Kafka          $SOCD_TEST_KAFKA"
echo "    Elasticsearch  $SOCD_TEST_ELASTICSEARCH"

metrics_port=$($PY -c 'from socd.devservers import free_port; print(free_port())')
export SOCD_KAFKA__BOOTSTRAP_SERVERS="$SOCD_TEST_KAFKA"
export SOCD_ELASTICSEARCH__HOSTS="$SOCD_TEST_ELASTICSEARCH"
export SOCD_METRICS__LISTEN="127.0.0.1:$metrics_port"
export SOCD_RULES__PATHS="[\"$PWD/rules\"]"
export SOCD_LOGGING__FORMAT=console
export SOCD_KAFKA__SESSION_TIMEOUT_MS=6000   # the local broker waits half of it before assigning
config=deploy/socd.example.yaml

# every topic the configuration names (its inputs, dead letters, sharing) and every topic
# `socd simulate --format mix` sends to
$PY - "$SOCD_TEST_KAFKA" "$config" <<'EOF'
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from socd.config import load_config
from socd.simulate import FORMATS
async def main(bootstrap: str, config_path: str) -> None:
    config = load_config(config_path)
    consumed = {i.topic for i in config.inputs}
    unread = sorted(f.topic for f in FORMATS.values() if f.topic not in consumed)
    if unread:
        print(f"    note: no input of {config_path} reads {', '.join(unread)}")
    topics = consumed | {f.topic for f in FORMATS.values()} | {config.dead_letter.topic, config.sharing.topic}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        have = set(await admin.list_topics())
        want = [NewTopic(t, 3, 1) for t in sorted(topics - have)]
        if want:
            await admin.create_topics(want)
        print(f"    topics: {', '.join(sorted(topics))}")
    finally:
        await admin.close()
asyncio.run(main(*sys.argv[1:]))
EOF

echo "==> socd check-config && socd setup"
$SOCD check-config -c $config
$SOCD setup -c $config

run_started=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
echo "==> socd run (log: .socd-dev/socd.log)"
$SOCD run -c $config > .socd-dev/socd.log 2>&1 &
socd_pid=$!
trap 'kill -TERM $socd_pid 2>/dev/null || true' EXIT

echo "==> sending $count sensor events at $rate/s, every format to its topic (sensors.*)"
$SOCD simulate --bootstrap-servers "$SOCD_TEST_KAFKA" --format mix \
  --count "$count" --rate "$rate" --seed "$RANDOM"

$PY - "$metrics_port" "$count" "$SOCD_TEST_ELASTICSEARCH" "$run_started" "$socd_pid" "$SOCD_TEST_KAFKA" <<'EOF'
import json, os, re, sys, time, urllib.request
port, want, es, since, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
kafka = sys.argv[6]

def metrics() -> list[str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return [l for l in r.read().decode().splitlines() if l.startswith("socd_")]
    except OSError:  # not listening yet: socd is still starting, unless it stopped
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit("socd stopped; see .socd-dev/socd.log")
        return []

def total(lines, name):
    return sum(float(l.rsplit(" ", 1)[1]) for l in lines if l.startswith(name + "{") or l.startswith(name + " "))

deadline = time.time() + 120
while True:
    lines = metrics()
    if total(lines, "socd_events_total") >= want and time.time() > deadline - 118:
        time.sleep(1.5)   # let the last batch finish and commit
        lines = metrics()
        break
    if time.time() > deadline:
        print("socd did not take every event in time; see .socd-dev/socd.log"); break
    time.sleep(0.5)

print(f"\n==> Prometheus counters (http://127.0.0.1:{port}/metrics)")
for l in lines:
    if l.startswith(("socd_events_total", "socd_threats_total", "socd_dead_letter_total")) and not l.endswith(" 0.0"):
        print("   ", l)

def labelled(name):
    """(labels, value) of each sample of a metric."""
    for l in lines:
        if l.startswith(name + "{"):
            labels, value = l[len(name) + 1:].rsplit("} ", 1)
            yield dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(value)

sensors = {}
def row(sensor):
    return sensors.setdefault(sensor, {"events": 0, "layers": set(), "critical": 0, "high-risk": 0})
for labels, value in labelled("socd_events_total"):
    row(labels["sensor"])["events"] += value
for labels, value in labelled("socd_threats_total"):  # declared at 0 for the input's layer
    row(labels["sensor"])[labels["class"]] += value
    row(labels["sensor"])["layers"].add(labels["layer"])
print("\n==> threats by sensor (socd_threats_total{class,layer,sensor}, socd_events_total)")
print(f"    {'sensor':<16} {'layer':>5} {'events':>7} {'critical':>9} {'high-risk':>10}")
for sensor, r in sorted(sensors.items(), key=lambda kv: (-kv[1]["critical"] - kv[1]["high-risk"], kv[0])):
    layers = ",".join(sorted(r["layers"])) or "-"
    print(f"    {sensor:<16} {layers:>5} {r['events']:>7.0f} {r['critical']:>9.0f} {r['high-risk']:>10.0f}")
quiet = [s for s, r in sensors.items() if r["events"] and not r["critical"] + r["high-risk"]]
if quiet:
    print(f"    no threats from {', '.join(sorted(quiet))}: does rules/ hold a policy for them?")

def post(path, body):
    req = urllib.request.Request(es + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)

urllib.request.urlopen(urllib.request.Request(es + "/socd-alerts*/_refresh", method="POST"), timeout=10)
this_run = {"range": {"event.ingested": {"gte": since}}}
result = post("/socd-alerts*/_search", {"size": 1, "sort": [{"@timestamp": "desc"}], "query": this_run,
    "track_total_hits": True, "aggs": {
    "suppressed": {"filter": {"exists": {"field": "socd.suppression.docs_count"}},
                   "aggs": {"threats": {"sum": {"field": "socd.suppression.docs_count"}}}},
    "class": {"terms": {"field": "socd.class"}, "aggs": {"layer": {"terms": {"field": "socd.layer"}}}},
    "input": {"terms": {"field": "socd.input"}, "aggs": {"class": {"terms": {"field": "socd.class"}}}}}})
hits = result["hits"]
everything = post("/socd-alerts*/_count", {})["count"]
print(f"\n==> Elasticsearch: alert documents this run indexed in socd-alerts* ({es})")
for bucket in result["aggregations"]["class"]["buckets"]:
    layers = ", ".join(f"layer {b['key']}: {b['doc_count']}" for b in bucket["layer"]["buckets"])
    print(f"    {bucket['key']:<10} {bucket['doc_count']:>6}   ({layers})")
for bucket in result["aggregations"]["input"]["buckets"]:
    classes = ", ".join(f"{b['key']}: {b['doc_count']}" for b in bucket["class"]["buckets"])
    print(f"    from {bucket['key']:<17} {bucket['doc_count']:>5}   ({classes})")
if everything > hits["total"]["value"]:
    print(f"    (socd-alerts* holds {everything} in all, with earlier runs)")
suppressed = result["aggregations"]["suppressed"]
if suppressed["doc_count"]:
    print(f"    {suppressed['doc_count']} of these documents are suppressed alerts standing for "
          f"{suppressed['threats']['value']:.0f} threats (inputs[].suppress; socd_threats_total "
          "counts every threat)")
    top = post("/socd-alerts*/_search", {"size": 3, "query": {"bool": {"filter": [this_run, {
        "exists": {"field": "socd.suppression.docs_count"}}]}},
        "sort": [{"socd.suppression.docs_count": "desc"}]})["hits"]["hits"]
    for alert in top:
        s = alert["_source"]["socd"]["suppression"]
        key = ", ".join(f"{t['field']}={t['value']}" for t in s["terms"])
        print(f"      {s['docs_count']:>4} threats  {key}  {s['start']} .. {s['end']}")
if hits["hits"]:
    doc = hits["hits"][0]["_source"]
    doc["event"].pop("original", None)
    print("\n    the newest one:")
    shown = {k: doc[k] for k in ("@timestamp", "event", "observer", "source", "destination", "rule", "threat", "socd") if k in doc}
    print("   ", json.dumps(shown, ensure_ascii=False, indent=2).replace("\n", "\n    "))
print(f"\n    search them:  curl '{es}/socd-alerts*/_search?q=socd.class:critical&size=5'")

shared = {(l["class"], l["layer"]): v for l, v in labelled("socd_shared_total") if v}
if shared:
    listed = ", ".join(f"{c} layer {layer}: {v:.0f}" for (c, layer), v in sorted(shared.items()))
    print(f"\n==> shared with the national centre (socd_shared_total): {sum(shared.values()):.0f} "
          f"STIX 2.1 sightings ({listed}) on the topic socd.national")
    import asyncio
    from aiokafka import AIOKafkaConsumer

    async def newest() -> list:
        consumer = AIOKafkaConsumer("socd.national", bootstrap_servers=kafka,
                                    auto_offset_reset="earliest", isolation_level="read_committed")
        await consumer.start()
        try:
            found = []
            for records in (await consumer.getmany(timeout_ms=3000, max_records=100000)).values():
                found.extend(records)
            return sorted(found, key=lambda r: r.timestamp)[-3:]
        finally:
            await consumer.stop()

    for record in asyncio.run(newest()):
        objects = json.loads(record.value)["objects"]
        sighting = next(o for o in objects if o["type"] == "sighting")
        seen = next(o for o in objects if o["id"] == sighting["sighting_of_ref"])
        observed = [o["value"] for o in objects if "value" in o and o["type"] != "file"]
        print(f"    {record.key.decode()}  {sighting['labels'][0]:<9} {seen['type']} "
              f"{seen.get('name', '')!r}  observed: {', '.join(observed) or '-'}")
    print("    read them: README, 'Sharing with the national centre' (Watching it)")
EOF

echo
echo "==> stopping socd (SIGTERM: drain, commit, exit 0)"
kill -TERM $socd_pid
wait $socd_pid && echo "    socd stopped cleanly" || echo "    socd exited with status $?; see .socd-dev/socd.log"
trap - EXIT
echo
echo "The local Kafka and Elasticsearch keep running for you to explore (socd's metrics"
echo "endpoint went with socd). To point socd's other commands at them (socd alerts, socd report,"
echo "socd dead-letters) with the same configuration, in this shell:"
echo "    export SOCD_KAFKA__BOOTSTRAP_SERVERS=$SOCD_TEST_KAFKA SOCD_ELASTICSEARCH__HOSTS=$SOCD_TEST_ELASTICSEARCH"
echo "    .venv/bin/socd alerts list -c $config --limit 5"
echo "Stop them with: scripts/demo.sh --down"
