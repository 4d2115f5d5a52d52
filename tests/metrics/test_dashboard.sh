#!/bin/bash
# packaging/grafana/gtm-dashboard.json: well-formed JSON, a Graphite
# dashboard templated on prefix/host/site, unique panel ids, panels that do
# not overlap, and every target below $prefix.$host in a subsystem the
# metrics tree has (dns, site, check, controller, snapshot, config, metrics,
# cluster).
set -u
F=${GTM_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/packaging/grafana/gtm-dashboard.json
exec /usr/bin/python3 - "$F" <<'PY'
import json, re, sys
path = sys.argv[1]
fails = []
try:
    d = json.load(open(path))
except Exception as e:
    print("test_dashboard: %s: cannot read it as JSON: %s" % (path, e)); sys.exit(1)
names = [v["name"] for v in d["templating"]["list"]]
for want in ("datasource", "prefix", "host", "site"):
    if want not in names:
        fails.append("no template variable " + want)
ids, cells = set(), {}
panels = [p for p in d["panels"]]
for p in panels:
    if p["id"] in ids:
        fails.append("panel id %d twice" % p["id"])
    ids.add(p["id"])
    g = p["gridPos"]
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                fails.append("panels %s and %s overlap" % (cells[(x, y)], p["title"]))
            cells[(x, y)] = p["title"]
    if p["type"] == "row":
        continue
    if p["datasource"]["type"] != "graphite" or not p.get("targets"):
        fails.append("panel %s: no Graphite targets" % p["title"])
    for t in p.get("targets", []):
        paths = re.findall(r"\$prefix\.\$host\.([a-z_]+)\.", t["target"])
        if not paths:
            fails.append("panel %s: target not below $prefix.$host: %s" % (p["title"], t["target"]))
        for s in paths:
            if s not in ("dns", "site", "check", "controller", "snapshot", "config", "metrics", "cluster"):
                fails.append("panel %s: unknown subsystem %s" % (p["title"], s))
titles = " ".join(p["title"] for p in panels)
for want in ("rcode", "transport", "Answers per site", "Health per endpoint", "weight",
             "Evacuations", "Snapshot generation", "Reloads", "etcd"):
    if want not in titles:
        fails.append("no panel about " + want)
for f in fails:
    print("FAIL: " + f)
print("test_dashboard: %d panels, %d problems" % (len(panels), len(fails)))
sys.exit(1 if fails else 0)
PY
