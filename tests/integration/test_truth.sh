#!/bin/bash
# Operator truth, the answers themselves (issue "Operator truth"): what a
# service answers when nothing serves.
#   - a global service (the Global Zone: writes to one master city) whose
#     master city cannot serve, with no promotion, fails open inside its
#     master city: its endpoints only, never another city's (writes must
#     not split);
#   - a fail-closed service's NODATA is cached no longer than its
#     degraded_ttl: the SOA in authority carries that TTL, not the zone's
#     negative TTL (300 s here);
#   - explain's ECS scope is the scope the answers carry (the served prefix
#     tree's network, which merges neighbouring database networks with the
#     same city order), and the database network it prints is a network.
# No probes: sites are taken out with gtmctl drain --force.
. "$(dirname "$0")/lib.sh"

FIX=${GTM_BINDIR:-/nonexistent}/tests/geo
[ -f "$FIX/geoip2-city.mmdb" ] || { echo "$TEST_NAME: fixture $FIX/geoip2-city.mmdb missing (build target geo_fixtures)" >&2; exit 1; }
cp "$FIX/geoip2-city.mmdb" "$WORK/geo.mmdb"

GTMCTL=${GTMCTL:-$(dirname "$GTMD")/gtmctl}
SOCK=$WORK/gtmd.sock
cat >"$CONF" <<CONF
server = { workers = 1; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
cities = (
  { name = "beijing";  lat = 39.9; lon = 116.4; },
  { name = "shanghai"; lat = 31.2; lon = 121.5; },
  { name = "shenzhen"; lat = 22.5; lon = 114.1; }
);
sites = (
  { name = "bj-a"; city = "beijing"; },
  { name = "bj-b"; city = "beijing"; },
  { name = "sh-a"; city = "shanghai"; },
  { name = "sz-a"; city = "shenzhen"; },
  { name = "bj-cold"; city = "beijing"; role = "cold"; }
);
geo = { databases = [ "geo.mmdb" ]; };
control = { socket = "$SOCK"; history_file = "history.jsonl"; state_file = "admin.state"; };
# up while $WORK/bj-a.up exists
checks = ( { name = "flag"; type = "exec"; command = [ "/usr/bin/test", "-f", "$WORK/bj-a.up" ];
             interval = 0.2; timeout = 0.15; rise = 1; fall = 1; } );
controller = { holddown = 1; failback_ramp = 0; };
services = (
  { name = "write.example.com"; policy = "global"; master = "beijing"; ttl = 30; answer = "all";
    endpoints = (
      { site = "bj-a"; addresses = [ "192.0.2.1" ]; },
      { site = "bj-b"; addresses = [ "192.0.2.2" ]; },
      { site = "sh-a"; addresses = [ "192.0.2.3" ]; },
      { site = "sz-a"; addresses = [ "192.0.2.4" ]; }
    ); },
  { name = "near.example.com"; policy = "nearest";
    endpoints = ( { site = "bj-a"; addresses = [ "192.0.2.21" ]; },
                  { site = "sh-a"; addresses = [ "192.0.2.23" ]; },
                  { site = "bj-cold"; addresses = [ "192.0.2.25" ]; } ); },
  { name = "pb.example.com"; policy = "primary-backup"; primary = "beijing"; backup = "shanghai";
    min_capacity = 0.6;
    endpoints = ( { site = "bj-a"; addresses = [ "192.0.2.31" ]; check = "flag"; },
                  { site = "bj-b"; addresses = [ "192.0.2.32" ]; },
                  { site = "sh-a"; addresses = [ "192.0.2.33" ]; } ); },
  { name = "closed.example.com"; policy = "failover"; ttl = 30; degraded_ttl = 5;
    last_resort = "closed";
    endpoints = ( { site = "sh-a"; addresses = [ "192.0.2.13" ]; } ); }
);
CONF
touch "$WORK/bj-a.up"
start_gtmd "$CONF"

ctl() { "$GTMCTL" -s "$SOCK" "$@" >"$OUT" 2>&1 || fail "gtmctl $* (rc $?): $(cat "$OUT")"; }
# addrs NAME: the A records of one query, sorted, space-separated.
addrs() { q +short "$1" A | sort | tr '\n' ' ' | sed 's/ $//'; }
# wait_addrs NAME WANT [SECONDS]: until NAME answers WANT (a failback
# hold-down may delay it); 0 when it does.
wait_addrs() {
	local deadline=$(( $(now_ms) + ${3:-5} * 1000 ))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		[ "$(addrs "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

t "global: the master city's sites serve"
got=$(addrs write.example.com)
[ "$got" = "192.0.2.1 192.0.2.2" ] && ok "write: $got" || fail "write answers '$got'"

t "global: the master city cannot serve, no promotion: fail open inside it, never split"
ctl drain bj-a --force --reason test
ctl drain bj-b --force --reason test
got=$(addrs write.example.com)
[ "$got" = "192.0.2.1 192.0.2.2" ] && ok "write fails open to beijing only: $got" ||
	fail "write answers '$got' (expected beijing's 192.0.2.1 192.0.2.2 only)"
grep -q 'service write.example.com, no serving site, answering every endpoint of its master city (fail open)' "$LOG" &&
	ok "the log says where it fails open" || fail "no 'answering every endpoint of its master city' in the log"
ctl undrain bj-a
ctl undrain bj-b

t "fail closed: NODATA cached no longer than degraded_ttl"
query closed.example.com A
expect_rcode NOERROR
expect_section answer '^closed\.example\.com\. 30 IN A 192\.0\.2\.13$'
ctl drain sh-a --force --reason test
query closed.example.com A
expect_rcode NOERROR
expect_count answer 0
"$GTMCTL" -s "$SOCK" status --json >"$OUT" 2>&1
st=$("$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print([x["state"] for x in j["services"] if x["name"]=="closed.example.com"][0])' "$OUT")
[ "$st" = failclosed ] && ok "status: closed.example.com failclosed" || fail "status says '$st' for a fail-closed service"
"$GTMCTL" -s "$SOCK" status >"$OUT" 2>&1
grep -q 'closed.example.com .*fail closed: NODATA' "$OUT" && ok "status text: fail closed: NODATA" ||
	fail "status text: $(grep closed.example.com "$OUT")"
expect_section authority '^example\.com\. 5 IN SOA ns1\.example\.com\. hostmaster\.example\.com\. 2024010101 7200 900 1209600 300$'
# A name of the zone that is not steered keeps the zone's negative TTL.
query mail.example.com TXT
expect_section authority '^example\.com\. 300 IN SOA '
ctl undrain sh-a

t "the controller fails a city over; only an operator evacuates"
# bj-a fails: beijing keeps 50% of its capacity, under min_capacity 0.6:
# the controller sends pb's clients to shanghai.  That is a failover, not
# an evacuation: the log and the history say so, restore has nothing to
# undo.
off=$(stat -c %s "$LOG")
rm -f "$WORK/bj-a.up"
log_wait "$off" 'controller, city beijing, serving -> failed over' &&
	ok "logged as a failover" || fail "no 'city beijing, serving -> failed over' in the log"
tail -c +$((off + 1)) "$LOG" | grep -q 'serving -> evacuated' &&
	fail "the controller's failover logged as an evacuation" || ok "not called an evacuation"
got=$(addrs pb.example.com)
[ "$got" = "192.0.2.33" ] && ok "pb failed over to shanghai: $got" || fail "pb answers '$got'"
"$GTMCTL" -s "$SOCK" history --json >"$OUT" 2>&1
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); e=[x for x in j["entries"] if x.get("object")=="city"]; sys.exit(0 if e and e[-1]["op"]=="auto failover" and e[-1]["new"]=="failed over" else 1)' "$OUT" &&
	ok "history: auto failover city beijing serving -> failed over" || fail "history: $(tail -c 600 "$OUT")"
"$GTMCTL" -s "$SOCK" restore beijing >"$OUT" 2>&1
grep -q 'already in service' "$OUT" && ok "restore: nothing an operator did to undo" || fail "restore: $(cat "$OUT")"
"$GTMCTL" -s "$SOCK" status --json >"$OUT" 2>&1
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1]))["controller"]; sys.exit(0 if j["auto_per_hour"]==6 and j["auto_used"]==1 and j["auto_left"]==5 and j["suppressed"]==[] else 1)' "$OUT" &&
	ok "status: the hour's budget of automatic failovers, 1 of 6 used" || fail "status: $(cat "$OUT")"
touch "$WORK/bj-a.up"
off=$(stat -c %s "$LOG")
log_wait "$off" 'controller, city beijing, .*-> serving' 15 && ok "beijing back by itself" ||
	fail "beijing did not come back"

t "status WEIGHT is the weight now, the same figure as the metric site.<site>.weight"
ctl evacuate shenzhen --force --reason test
"$GTMCTL" -s "$SOCK" status --json >"$WORK/status.json" 2>&1
"$GTMCTL" -s "$SOCK" stats --json >"$WORK/stats.json" 2>&1
"$PY" - "$WORK/status.json" "$WORK/stats.json" >"$OUT" <<'PYEOF'
import json, sys
st = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
bad = 0
for x in st["sites"]:
    w = m.get("site.%s.weight" % x["name"])
    print(x["name"], "%g" % x["weight_now"], "%g" % w if w is not None else "-", x.get("note", ""))
    if w is None or abs(x["weight_now"] - w) > 1e-9:
        bad += 1
sys.exit(bad)
PYEOF
[ $? = 0 ] && ok "every site: status weight_now = stats site.<site>.weight" || fail "status and stats differ: $(cat "$OUT")"
grep -q '^bj-cold 0 0 cold standby, not activated$' "$OUT" && ok "bj-cold: 0, cold standby, not activated" ||
	fail "bj-cold: $(grep bj-cold "$OUT")"
grep -q '^sz-a 0 0 city evacuated$' "$OUT" && ok "sz-a: 0, city evacuated" || fail "sz-a: $(grep sz-a "$OUT")"
grep -q '^bj-a 100 100 $' "$OUT" && ok "bj-a: 100" || fail "bj-a: $(grep bj-a "$OUT")"
ctl restore shenzhen

t "status --endpoints: each endpoint's check, state, last result, latency, since"
"$GTMCTL" -s "$SOCK" status --service pb.example.com --endpoints --json >"$OUT" 2>&1
"$PY" - "$OUT" >"$WORK/eps" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
for e in j["endpoints"]:
    print(e["service"], e["site"], e["address"], e["used"], e.get("check"), e.get("state"),
          e.get("last_result"), "latency" if "latency_ms" in e else "-", "since" if "since" in e else "-")
PYEOF
grep -q '^pb.example.com bj-a 192.0.2.31 up flag up ok latency since$' "$WORK/eps" && ok "bj-a: checked by flag, up, ok" ||
	fail "bj-a: $(cat "$WORK/eps")"
grep -q '^pb.example.com bj-b 192.0.2.32 up None None None - -$' "$WORK/eps" && ok "bj-b: unchecked, always up" ||
	fail "bj-b: $(grep bj-b "$WORK/eps")"
[ "$(wc -l <"$WORK/eps")" = 3 ] && ok "only pb's three endpoints" || fail "endpoints listed: $(cat "$WORK/eps")"
"$GTMCTL" -s "$SOCK" status --service pb.example.com --endpoints >"$OUT" 2>&1
grep -qE '^pb\.example\.com +bj-a +192\.0\.2\.31 +enabled +flag +up +up +ok +[0-9]+ ms' "$OUT" && ok "status text: bj-a's line" ||
	fail "status text: $(cat "$OUT")"

t "several sites in one action: one change, one safety check"
"$GTMCTL" -s "$SOCK" drain bj-a bj-b --dry-run >"$OUT" 2>&1
grep -q "drain refused: service write.example.com would have no serving site" "$OUT" &&
	ok "one safety check over both: refused" || fail "drain bj-a bj-b --dry-run: $(cat "$OUT")"
"$GTMCTL" -s "$SOCK" drain bj-a bj-b --dry-run --force >"$OUT" 2>&1
grep -q 'site bj-a: admin active -> drained' "$OUT" && grep -q 'site bj-b: admin active -> drained' "$OUT" &&
	ok "the dry run names both" || fail "dry run: $(cat "$OUT")"
n0=$(wc -l <"$WORK/history.jsonl")
ctl drain bj-a bj-b --reason "both at once" --force
got=$(addrs pb.example.com)
[ "$got" = "192.0.2.33" ] && ok "pb to shanghai once both are drained: $got" || fail "pb answers '$got'"
n1=$(wc -l <"$WORK/history.jsonl")
[ $((n1 - n0)) = 2 ] && ok "one record per site, written together" || fail "history grew by $((n1 - n0))"
"$GTMCTL" -s "$SOCK" undrain bj-a nowhere >"$OUT" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q 'unknown site nowhere' "$OUT" && ok "an unknown name refuses the whole" ||
	fail "undrain bj-a nowhere: rc $rc, $(cat "$OUT")"
"$GTMCTL" -s "$SOCK" status --json >"$OUT" 2>&1
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); a={x["name"]:x["admin"] for x in j["sites"]}; sys.exit(0 if a["bj-a"]=="drained" and a["bj-b"]=="drained" else 1)' "$OUT" &&
	ok "bj-a stays drained" || fail "status: $(cat "$OUT")"
ctl undrain bj-a bj-b

t "one endpoint out of the answers: disable, enable; forced states"
ctl disable write.example.com 192.0.2.2 --reason "bad disk"
got=$(addrs write.example.com)
[ "$got" = "192.0.2.1" ] && ok "write without bj-b's disabled address: $got" || fail "write answers '$got'"
"$GTMCTL" -s "$SOCK" status --service write.example.com --endpoints --json >"$OUT" 2>&1
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); e=[x for x in j["endpoints"] if x["address"]=="192.0.2.2"][0]; sys.exit(0 if e["admin"]=="disabled" and e["used"]=="down" and e["admin_reason"]=="bad disk" else 1)' "$OUT" &&
	ok "status: 192.0.2.2 disabled, not used, with the reason" || fail "status: $(cat "$OUT")"
grep -q '"name":"write.example.com 192.0.2.2".*"new":"disabled"' "$WORK/history.jsonl" &&
	ok "history: endpoint write.example.com 192.0.2.2 enabled -> disabled" || fail "history: $(tail -n 3 "$WORK/history.jsonl")"
# The safety rules see endpoints too: closed.example.com's only endpoint.
"$GTMCTL" -s "$SOCK" disable closed.example.com 192.0.2.13 >"$OUT" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q 'would have no serving site' "$OUT" && ok "disabling a service's last endpoint is refused" ||
	fail "disable closed.example.com 192.0.2.13: rc $rc, $(cat "$OUT")"
# Kept across a reload (the remap) and a restart (the state file).
off=$(stat -c %s "$LOG")
kill -HUP "$GTMD_PID"
log_wait "$off" "reload, done" || fail "no 'reload, done'"
got=$(addrs write.example.com)
[ "$got" = "192.0.2.1" ] && ok "after a reload: still disabled" || fail "write answers '$got' after a reload"
stop_gtmd
start_gtmd "$CONF"
got=$(addrs write.example.com)
[ "$got" = "192.0.2.1" ] && ok "after a restart: still disabled" || fail "write answers '$got' after a restart"
ctl enable write.example.com 192.0.2.2
wait_addrs write.example.com "192.0.2.1 192.0.2.2" && ok "enabled again: both" ||
	fail "write answers '$(addrs write.example.com)' after enable"
# Forced down: health down whatever the probes say (beijing then keeps
# 50% < min_capacity: pb fails over); forced up: up although the probe
# says down.
ctl disable pb.example.com 192.0.2.31 --force-down --force   # beijing below min_capacity: forced
got=$(addrs pb.example.com)
[ "$got" = "192.0.2.33" ] && ok "bj-a forced down: pb to shanghai" || fail "pb answers '$got' with bj-a forced down"
ctl enable pb.example.com 192.0.2.31
rm -f "$WORK/bj-a.up"
sleep 1
got=$(addrs pb.example.com)
[ "$got" = "192.0.2.33" ] && ok "bj-a's probe down: pb to shanghai" || fail "pb answers '$got' with bj-a down"
ctl enable pb.example.com 192.0.2.31 --force-up
"$GTMCTL" -s "$SOCK" status --service pb.example.com --endpoints --json >"$OUT" 2>&1
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); e=[x for x in j["endpoints"] if x["address"]=="192.0.2.31"][0]; sys.exit(0 if e["admin"]=="forced up" and e["used"]=="up" and e["state"]=="down" else 1)' "$OUT" &&
	ok "status: bj-a forced up, used, its own probe down" || fail "status: $(cat "$OUT")"
# Back to a probe that says down: beijing would fall below min_capacity.
"$GTMCTL" -s "$SOCK" enable pb.example.com 192.0.2.31 >"$OUT" 2>&1 && fail "enable under min_capacity accepted" ||
	ok "back to a down probe under min_capacity: refused"
touch "$WORK/bj-a.up"
sleep 0.5
ctl enable pb.example.com 192.0.2.31

t "status notes: gtmd's pause said once, no stale note after the ramp"
off=$(stat -c %s "$LOG")
ctl drain bj-b --ramp 2s --steps 2 --reason "rack move" --force
rm -f "$WORK/bj-a.up"
log_wait "$off" 'site bj-b, drain ramp paused' || fail "the ramp was not paused"
"$GTMCTL" -s "$SOCK" status >"$OUT" 2>&1
line=$(grep -E '^beijing +bj-b ' "$OUT")
n=$(printf '%s\n' "$line" | grep -o 'receiving site bj-a is down' | wc -l)
[ "$n" = 1 ] && ok "the pause's reason once: $line" || fail "the pause's reason $n times: $line"
printf '%s\n' "$line" | grep -q 'rack move (root)' && ok "the operator's reason kept" || fail "note: $line"
off=$(stat -c %s "$LOG")
touch "$WORK/bj-a.up"
log_wait "$off" 'site bj-b, drain ramp resumed' || fail "the ramp was not resumed"
log_wait "$off" 'site bj-b, admin draining -> drained' 10 || fail "the ramp did not end"
"$GTMCTL" -s "$SOCK" status >"$OUT" 2>&1
line=$(grep -E '^beijing +bj-b ' "$OUT")
printf '%s\n' "$line" | grep -q 'receiving sites up again' && fail "stale note: $line" ||
	ok "no stale 'receiving sites up again' once drained"
printf '%s\n' "$line" | grep -q 'rack move (root)' && ok "the drained site's reason is the operator's" || fail "note: $line"
ctl undrain bj-b

t "previews say where each city's clients go: spill, fail open, fail closed"
"$GTMCTL" -s "$SOCK" drain bj-a --dry-run --force >"$OUT" 2>&1
grep -q 'near.example.com for beijing: bj-a 100.0%  ->  sh-a 100.0% (spill to shanghai)' "$OUT" &&
	ok "beijing's clients spill to shanghai: said" || fail "preview: $(cat "$OUT")"
"$GTMCTL" -s "$SOCK" drain bj-a --dry-run --force --json >"$OUT" 2>&1
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); e=[x for x in j["answers"] if x["service"]=="near.example.com" and x.get("city")=="beijing"][0]; sys.exit(0 if e["after"]==[{"site":"sh-a","share":1.0}] and e["after_to"]=="shanghai" else 1)' "$OUT" &&
	ok "JSON: after sh-a, after_to shanghai" || fail "JSON: $(cat "$OUT")"
"$GTMCTL" -s "$SOCK" drain sh-a --dry-run --force >"$OUT" 2>&1
grep -q 'closed.example.com: sh-a 100.0%  ->  fail closed (NODATA)' "$OUT" && ok "fail closed said" ||
	fail "preview: $(grep closed "$OUT")"
"$GTMCTL" -s "$SOCK" evacuate beijing shanghai shenzhen --dry-run --force >"$OUT" 2>&1
grep -q 'write.example.com: bj-a 50.0%, bj-b 50.0%  ->  fail open: bj-a, bj-b' "$OUT" &&
	ok "fail open said, with its sites (the master city's)" || fail "preview: $(grep write "$OUT")"

ctl drain bj-a --force
"$GTMCTL" -s "$SOCK" explain near.example.com 127.0.0.1 --ecs 198.18.7.0/24 --json >"$OUT" 2>&1
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); b=j["answered_by"]; sys.exit(0 if b=={"kind":"choice","city":"shanghai"} and j["answer"]["records"]==["192.0.2.23"] and [c["site"] for c in j["candidates"] if c.get("serving")]==["sh-a"] else 1)' "$OUT" &&
	ok "explain: a beijing client is answered by shanghai's choice, as its answer is" || fail "explain: $(cat "$OUT")"
ctl undrain bj-a

t "a refused action names every service it breaks, and still shows the preview"
"$GTMCTL" -s "$SOCK" evacuate beijing shanghai --dry-run >"$OUT" 2>&1
rc=$?
[ "$rc" = 1 ] && ok "refused (exit 1)" || fail "evacuate beijing shanghai --dry-run: rc $rc"
grep -q 'refused: service write.example.com would have no serving site; service near.example.com would have no serving site; and 2 more services' "$OUT" &&
	ok "four services named or counted" || fail "refusal: $(cat "$OUT")"
grep -q 'would change if forced:' "$OUT" && grep -q 'city beijing: evacuated no -> yes' "$OUT" &&
	grep -q 'pb.example.com: .*->' "$OUT" && ok "and the whole preview" || fail "no preview: $(cat "$OUT")"
"$GTMCTL" -s "$SOCK" status --json >"$OUT" 2>&1
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if not any(c["evacuated"] for c in j["cities"]) else 1)' "$OUT" &&
	ok "nothing changed" || fail "a refused dry run changed something"

t "min_capacity is per city, as gtm.conf(5) says"
"$GTMCTL" -s "$SOCK" drain bj-b >"$OUT" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q 'refused: service pb.example.com, city beijing would keep 50% of its capacity, below its min_capacity 60%' "$OUT" &&
	ok "drain bj-b refused: beijing 50% < 60%" || fail "drain bj-b: rc $rc, $(cat "$OUT")"

t "explain: the scope it prints is the scope answered"
# 100.64.0.0/20 (the fixture's Shenzhen) and 100.64.16.0/20 (Guangzhou)
# get the same city order (shenzhen is the nearest configured city of
# both): one region, one /19 network in the prefix tree.
"$GTMCTL" -s "$SOCK" explain near.example.com 127.0.0.1 --ecs 100.64.5.0/24 --json >"$OUT" 2>&1
scope=$("$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["scope"], j["answer"]["scope"], j["location"]["network"])' "$OUT")
set -- $scope
[ "$1" = "$2" ] && ok "explain's region scope /$1 = its answer's scope /$2" ||
	fail "explain says scope /$1, its answer /$2"
[ "$3" = "100.64.0.0/20" ] && ok "database network printed as a network: $3" ||
	fail "database network printed as '$3' (expected 100.64.0.0/20)"
dig_scope=$(dig @127.0.0.1 -p "$PORT" +norec +subnet=100.64.5.0/24 near.example.com A |
	sed -n 's/.*CLIENT-SUBNET: [0-9.]*\/[0-9]*\/\([0-9]*\).*/\1/p')
[ "$dig_scope" = "$1" ] && ok "the wire's scope (dig) /$dig_scope = explain's" ||
	fail "the wire's scope /$dig_scope, explain /$1"

finish
