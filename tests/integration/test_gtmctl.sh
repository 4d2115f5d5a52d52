#!/bin/bash
# gtmctl against a running gtmd: every command, --json, --dry-run (changes
# nothing, prints the answer diff), the safety refusals and --force, exit
# codes, a restart that keeps the drains, explain for an ECS client,
# history, reload (good and bad).  Answers are checked with kdig.
#
# Topology: two sites, three centres -- bj-a and bj-b in beijing, sh-dr (a
# backup-role site) in shanghai -- plus bj-cold, a cold standby in beijing.
# Services:
#   pb.example.com     primary-backup beijing -> shanghai
#   near.example.com   nearest (beijing clients: ECS 198.18.7.0/24 from the
#                      GeoIP fixture; shanghai: 198.19.0.0/24)
#   write.example.com  global, master beijing
# No probes: the admin state alone moves the answers.
. "$(dirname "$0")/lib.sh"

FIX=${GTM_BINDIR:-/nonexistent}/tests/geo
[ -f "$FIX/geoip2-city.mmdb" ] || { echo "$TEST_NAME: fixture $FIX/geoip2-city.mmdb missing (build target geo_fixtures)" >&2; exit 1; }
cp "$FIX/geoip2-city.mmdb" "$WORK/geo.mmdb"
GTMCTL=${GTMCTL:-$(dirname "$GTMD")/gtmctl}
[ -x "$GTMCTL" ] || { echo "$TEST_NAME: gtmctl not found next to $GTMD" >&2; exit 1; }
SOCK=$WORK/gtmd.sock
CCONF=$WORK/ctl.conf
BJ=198.18.7.0/24
SH=198.19.0.0/24

# write_conf [TTL [EXTRA-CONTROL-KEYS [EXTRA-PB-KEYS]]]
write_conf() {
	cat >"$CCONF" <<EOF
server = { workers = 2; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
cities = (
  { name = "beijing";  lat = 39.9042; lon = 116.4074; },
  { name = "shanghai"; lat = 31.2304; lon = 121.4737; }
);
sites = (
  { name = "bj-a";    city = "beijing";  capacity = 100; },
  { name = "bj-b";    city = "beijing";  capacity = 100; },
  { name = "sh-dr";   city = "shanghai"; capacity = 100; role = "backup"; },
  { name = "bj-cold"; city = "beijing";  capacity = 100; role = "cold"; }
);
geo = { databases = [ "geo.mmdb" ]; };
control = { socket = "$SOCK"; state_file = "admin.state"; history_file = "history.jsonl"; ${2:-} };
controller = { holddown = 2; failback_ramp = 2; failback_steps = 2; };
services = (
  { name = "pb.example.com"; policy = "primary-backup"; ttl = ${1:-30};
    primary = "beijing"; backup = "shanghai"; ${3:-}
    endpoints = (
      { site = "bj-a";    addresses = [ "192.0.2.101" ]; },
      { site = "bj-b";    addresses = [ "192.0.2.102" ]; },
      { site = "sh-dr";   addresses = [ "192.0.2.103" ]; },
      { site = "bj-cold"; addresses = [ "192.0.2.104" ]; }
    ); },
  { name = "near.example.com"; policy = "nearest"; ttl = 30;
    endpoints = (
      { site = "bj-a";  addresses = [ "192.0.2.111" ]; },
      { site = "bj-b";  addresses = [ "192.0.2.112" ]; },
      { site = "sh-dr"; addresses = [ "192.0.2.113" ]; }
    ); },
  { name = "write.example.com"; policy = "global"; master = "beijing"; ttl = 30;
    endpoints = (
      { site = "bj-a";  addresses = [ "192.0.2.121" ]; },
      { site = "sh-dr"; addresses = [ "192.0.2.123" ]; }
    ); }
);
EOF
}

# ctl ARGS: runs gtmctl; output in $OUT, exit code in CTL_RC.
ctl() {
	LAST_CMD="gtmctl -s $SOCK $*"
	"$GTMCTL" -s "$SOCK" "$@" >"$OUT" 2>&1
	CTL_RC=$?
}

expect_rc() {
	if [ "$CTL_RC" = "$1" ]; then ok "exit $1"
	else fail "exit $CTL_RC, expected $1"; fi
}

# answers NAME [SUBNET]: the distinct A records of 30 queries, sorted.
answers() {
	local i sub=()
	[ -n "${2:-}" ] && sub=(+subnet="$2")
	for i in $(seq 1 30); do
		q +short "${sub[@]}" "$1" A
	done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

expect_answers() {
	local got
	got=$(answers "$1" "${3:-}")
	if [ "$got" = "$2" ]; then ok "$1${3:+ for $3}: $2"
	else fail "$1${3:+ for $3}: answers '$got', expected '$2'"; fi
}

# json_get EXPR: evaluates a Python expression on the JSON in $OUT (as j).
json_get() {
	"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1" 2>&1
}

expect_json() {
	local got
	got=$(json_get "$1")
	if [ "$got" = "$2" ]; then ok "$1 = $2"
	else fail "$1 = '$got', expected '$2'"; fi
}

write_conf
start_gtmd "$CCONF"

t "status"
ctl status
expect_rc 0
expect_out '^beijing +bj-a +active +up +active +100'
expect_out '^beijing +bj-cold +cold '
ctl status --json
expect_rc 0
expect_json 'j["ok"]' True
expect_json 'len(j["sites"])' 4
expect_json '[s["admin"] for s in j["sites"]]' "['active', 'active', 'active', 'active']"
expect_json '[s["state"] for s in j["services"]]' "['normal', 'normal', 'normal']"
expect_json '[s.get("master") for s in j["services"]]' "[None, None, 'beijing']"

t "status: the measured share of the last minute"
ctl drain bj-b --reason "answers test"
expect_rc 0
for i in $(seq 1 20); do q +short pb.example.com A; done >/dev/null
ctl status --json
expect_json '[(s["name"], s["answers_1m"], s["share_1m"]) for s in j["sites"]]' \
	"[('bj-a', 20, 1.0), ('bj-b', 0, 0.0), ('sh-dr', 0, 0.0), ('bj-cold', 0, 0.0)]"
expect_json 'j["answers_1m"]' 20
ctl status
expect_out '^CITY +SITE +ROLE +HEALTH +ADMIN +WEIGHT +SHARE +ANS 1M +NOTE'
expect_out '^beijing +bj-a +active +up +active +100 +[0-9.]+% +100\.0% '
expect_out '^beijing +bj-b +active +up +drained +0 +0\.0% +0\.0% '
expect_out '^ANS 1M: each site.s share of the 20 steered answers of the last [0-9]+ s'
ctl undrain bj-b
expect_rc 0

t "answers before any action"
expect_answers pb.example.com "192.0.2.101 192.0.2.102"
expect_answers near.example.com "192.0.2.111 192.0.2.112" "$BJ"
expect_answers near.example.com "192.0.2.113" "$SH"
expect_answers write.example.com "192.0.2.121"

t "a refused action is refused in a dry run too: a service would have no serving site"
ctl drain bj-a --dry-run
expect_rc 1
expect_out 'refused: service write.example.com would have no serving site'
# truth (issue 13): a dry run's refusal is logged as what it is.
grep -q 'admin, drain bj-a would be refused (dry run)' "$LOG" && ok "the log says the dry run would be refused" ||
	fail "no 'would be refused (dry run)' line in the log"
ctl drain bj-a --json
expect_rc 1
expect_json 'j["ok"], j["refused"]' "(False, True)"
grep -q 'admin, drain bj-a refused (' "$LOG" && ok "a real refusal is logged as refused" ||
	fail "no 'admin, drain bj-a refused' line in the log"
expect_answers pb.example.com "192.0.2.101 192.0.2.102"

t "promote the write master (a service name in any case, with the final dot: one rule)"
ctl explain WRITE.Example.com. 127.0.0.1
expect_rc 0
ctl promote shanghai --service WRITE.Example.com. --reason "move writes"
expect_rc 0
expect_out 'will change:'
expect_out 'write.example.com: bj-a 100.0%  ->  sh-dr 100.0%'
expect_out 'done: '
expect_answers write.example.com "192.0.2.123"
ctl status --json
expect_json 'j["services"][2]["promoted"], j["services"][2]["master"]' "(True, 'shanghai')"

t "drain --dry-run changes nothing and prints the answer diff"
ctl drain bj-a --dry-run
expect_rc 0
expect_out 'would change \(dry run\)'
expect_out 'site bj-a: admin active -> drained'
expect_out 'pb.example.com: bj-a 50.0%, bj-b 50.0%  ->  bj-b 100.0%'
expect_out 'near.example.com for beijing: bj-a 50.0%, bj-b 50.0%  ->  bj-b 100.0%'
expect_out 'dry run: nothing changed'
ctl drain bj-a --dry-run --json
expect_rc 0
expect_json 'j["dry_run"], j["changed"]' "(True, True)"
expect_json 'sorted((a["service"], a.get("city")) for a in j["answers"])' \
	"[('near.example.com', 'beijing'), ('pb.example.com', None)]"
expect_json 'j["answers"][0]["ttl_before"], j["answers"][0]["ttl_after"]' "(30, 10)"
ctl status --json
expect_json 'j["sites"][0]["admin"]' active
expect_answers pb.example.com "192.0.2.101 192.0.2.102"

t "drain"
ctl drain bj-a --reason "power work"
expect_rc 0
expect_out 'will change:'
expect_out 'done: site bj-a: admin active -> drained'
expect_answers pb.example.com "192.0.2.102"
expect_answers near.example.com "192.0.2.112" "$BJ"
t "degraded TTL while a site is drained"
query pb.example.com A
expect_section answer '^pb\.example\.com\. 10 IN A 192\.0\.2\.102$'
ctl status --json
expect_json 'j["services"][0]["state"]' degraded

t "a second drain passes the capacity limit: refused, --force overrides"
ctl drain bj-b
expect_rc 1
expect_out 'refused: 67% of the capacity would be drained or evacuated \(control.max_drained_capacity 50%\)'
expect_answers pb.example.com "192.0.2.102"
ctl drain bj-b --force --reason "forced"
expect_rc 0
expect_answers pb.example.com "192.0.2.103"
expect_answers near.example.com "192.0.2.113" "$BJ"
ctl undrain bj-b
expect_rc 0
expect_answers pb.example.com "192.0.2.102"

t "already so: nothing to change"
ctl drain bj-a
expect_rc 0
expect_out 'nothing to change'

t "unknown names"
ctl drain nowhere
expect_rc 1
expect_out 'nowhere'
ctl evacuate atlantis
expect_rc 1

t "evacuate and restore a city"
ctl undrain bj-a
expect_rc 0
ctl evacuate beijing --dry-run
expect_rc 1
expect_out 'refused: 67% of the capacity'
ctl evacuate beijing --dry-run --force
expect_rc 0
expect_out 'city beijing: evacuated'
expect_out 'pb.example.com: bj-a 50.0%, bj-b 50.0%  ->  sh-dr 100.0%'
expect_answers pb.example.com "192.0.2.101 192.0.2.102"
ctl evacuate beijing --force --reason "drill"
expect_rc 0
expect_answers pb.example.com "192.0.2.103"
expect_answers near.example.com "192.0.2.113" "$BJ"
ctl status
expect_out 'evacuated cities:'
expect_out 'beijing +since .* by .*: drill'
t "safety: the last serving site"
ctl drain sh-dr
expect_rc 1
expect_out 'would have no serving site'
ctl restore beijing
expect_rc 0
expect_answers pb.example.com "192.0.2.101 192.0.2.102"
expect_answers near.example.com "192.0.2.111 192.0.2.112" "$BJ"

t "activate and deactivate a cold site"
ctl activate bj-b
expect_rc 1
expect_out 'cold'
ctl activate bj-cold
expect_rc 0
expect_answers pb.example.com "192.0.2.101 192.0.2.102 192.0.2.104"
ctl deactivate bj-cold
expect_rc 0
expect_answers pb.example.com "192.0.2.101 192.0.2.102"

t "a drain ramp, paused and resumed"
ctl drain bj-a --ramp 60s --steps 4 --reason "ramp test"
expect_rc 0
ctl status --json
expect_json 'j["sites"][0]["admin"], j["sites"][0]["factor"], j["sites"][0]["ramp"]["steps"]' "('draining', 0.75, 4)"
ctl pause bj-a --reason "hold on"
expect_rc 0
ctl status
expect_out 'ramp step 1/4, paused: hold on'
ctl resume bj-a
expect_rc 0
ctl status --json
expect_json 'j["sites"][0]["ramp"]["paused"]' False
ctl undrain bj-a
expect_rc 0
expect_answers pb.example.com "192.0.2.101 192.0.2.102"

t "explain for an ECS client"
ctl explain near.example.com 127.0.0.1 --ecs "$BJ"
expect_rc 0
expect_out '^located +by ecs: network 198\.18\.0\.0/16 continent AS country CN subdivision BJ'
expect_out '^order +beijing > shanghai'
expect_out '^beijing +bj-a +up +active +100\.0% +100 +yes'
expect_out '^answer +NOERROR, TTL 30, ECS scope /16'
expect_out '^ +192\.0\.2\.11[12]$'
ctl explain near.example.com 127.0.0.1 --ecs "$SH" --json
expect_json 'j["located_by"], j["order"], j["answer"]["records"]' "('ecs', ['shanghai', 'beijing'], ['192.0.2.113'])"
ctl explain static.example.com 127.0.0.1 --json
expect_rc 0
expect_json 'j["note"], j["answer"]["records"]' "('not a steered service: the zone answers', ['192.0.2.50'])"
ctl explain near.example.com not-an-ip
expect_rc 2
expect_out 'not an IPv4 or IPv6 address'
ctl explain pb.example.com 127.0.0.1
expect_out '^beijing +bj-cold +up +out .* no: cold'
expect_out '^shanghai +sh-dr +up +active .* no: not chosen'


t "history"
ctl history
expect_rc 0
expect_out 'drain +site bj-a admin +active -> drained +power work'
expect_out 'promote'
ctl history --limit 3 --json
expect_json 'len(j["entries"])' 3
expect_json 'j["entries"][-1]["op"]' undrain

t "stats"
ctl stats
expect_rc 0
expect_out '^controller\.'
ctl stats --json
expect_json 'j["ok"]' True

t "exit codes"
"$GTMCTL" -s "$WORK/none.sock" status >"$OUT" 2>&1; CTL_RC=$?
expect_rc 3
"$GTMCTL" -s "$SOCK" frobnicate >"$OUT" 2>&1; CTL_RC=$?
expect_rc 2

t "CLI nits (truth, issue 13): usage errors are rc 2 with a message that says what is wrong"
ctl drain bj-a --wait
expect_rc 2
expect_out '\-\-wait needs \-\-ramp'
ctl explain near.example.com 1.2.3
expect_rc 2
expect_out "CLIENT-IP '1\.2\.3' is not an IPv4 or IPv6 address"
ctl explain near.example.com 127.0.0.1 --ecs 10.0.0.1/8
expect_rc 2
expect_out 'host bits set after the /8 prefix \(did you mean 10\.0\.0\.0/8\?\)'
ctl -t 0 status
expect_rc 2
expect_out '0 seconds is out of range \(more than 0, at most 86400\)'
ctl status extra
expect_rc 2
expect_out "status takes no argument \(unexpected 'extra'\); for one service or site: --service NAME, --site NAME"
ctl status --json
if grep -qE '[0-9]\.[0-9]{16}' "$OUT"; then fail "a float with 17 digits: $(grep -oE '[0-9.]*[0-9]\.[0-9]{16}' "$OUT" | head -1)"
else ok "floats in 15 significant digits at most"; fi

t "reload: good"
write_conf 40
ctl reload
expect_rc 0
query pb.example.com A
expect_section answer '^pb\.example\.com\. 40 IN A '
t "reload: restart-only keys are said, live keys apply at once"
# tcp_idle_closes SECONDS: an idle TCP connection to gtmd is closed by it
# within SECONDS (python prints "closed" or "open").
tcp_idle_closes() {
	"$PY" - "$PORT" "$1" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
try:
    print("closed" if s.recv(1) == b"" else "data")
except socket.timeout:
    print("open")
except ConnectionResetError:
    print("closed")
PYEOF
}
[ "$(tcp_idle_closes 2)" = open ] && ok "idle TCP open after 2 s (timeout 10 s)" ||
	fail "idle TCP connection closed before the 10 s timeout"
sed -i 's/^server = { workers = 2; };/server = { workers = 1; tcp_idle_timeout = 1; };/' "$CCONF"
ctl reload
expect_rc 0
expect_out 'warning: server.workers changed: restart to apply'
grep -q 'reload, server.workers changed: restart to apply' "$LOG" && ok "the log says so" ||
	fail "no 'server.workers changed: restart to apply' in the log"
[ "$(tcp_idle_closes 4)" = closed ] && ok "idle TCP closed after the reloaded 1 s timeout" ||
	fail "server.tcp_idle_timeout was not applied by the reload"
ctl reload --json
expect_json 'j["restart_needed"]' "['server.workers changed: restart to apply']"
write_conf 40
ctl reload
expect_rc 0
grep -q 'restart to apply' "$OUT" && fail "workers back to the running value still needs a restart" ||
	ok "workers back to the running value: nothing to restart"

t "reload: bad, the running configuration keeps serving"
echo 'services = ( oops' >>"$CCONF"
ctl reload
expect_rc 1
expect_out 'reload failed, the running configuration keeps serving'
expect_out 'ctl\.conf:[0-9]+: '
expect_answers pb.example.com "192.0.2.101 192.0.2.102"
write_conf 40

t "reload: the configuration's warnings are printed and logged, and it serves"
write_conf 40
echo 'checks = ( { name = "spare"; type = "tcp"; port = 1; } );' >>"$CCONF"
ctl reload
expect_rc 0
expect_out 'ctl\.conf:[0-9]+: warning: check spare is named by no endpoint and no service'
grep -q 'warning.*ctl\.conf:[0-9]*: warning: check spare' "$LOG" && ok "logged at warning level" ||
	fail "the warning is not in the log"
write_conf 40

t "history without a history file says what to configure"
sed -i 's/ history_file = "history.jsonl";//' "$CCONF"
ctl reload
expect_rc 0
ctl history
expect_rc 0
expect_out 'no history: none is recorded \(set control.history_file in gtm.conf, then reload\)'
write_conf 40
ctl reload
expect_rc 0

t "reload: a new state file gets the running state"
ctl drain bj-a --reason "moving files"
expect_rc 0
sed -i 's/state_file = "admin.state"; history_file = "history.jsonl";/state_file = "admin2.state"; history_file = "history2.jsonl";/' "$CCONF"
ctl reload
expect_rc 0
grep -q '"moving files"' "$WORK/admin2.state" && ok "admin2.state has the drain" || fail "admin2.state lacks the drain"
ctl undrain bj-a
expect_rc 0
grep -q '"undrain"' "$WORK/history2.jsonl" && ok "history2.jsonl has the undrain" || fail "history2.jsonl lacks the undrain"
write_conf 40
ctl reload
expect_rc 0

t "a restart keeps the drains"
ctl drain bj-a --reason "across restarts"
expect_rc 0
stop_gtmd
[ "$STOP_RC" = 0 ] && ok "stopped" || fail "gtmd stop status $STOP_RC"
grep -q '"bj-a"' "$WORK/admin.state" && ok "state file has bj-a" || fail "state file lacks bj-a"
start_gtmd "$CCONF"
ctl status --json
expect_json 'j["sites"][0]["admin"], j["sites"][0]["reason"]' "('drained', 'across restarts')"
expect_answers pb.example.com "192.0.2.102"
ctl undrain bj-a
expect_rc 0
expect_answers pb.example.com "192.0.2.101 192.0.2.102"

t "safety: max_drained_sites and min_capacity"
write_conf 40 "max_drained_sites = 1; max_drained_capacity = 1;"
ctl reload
expect_rc 0
ctl drain bj-b
expect_rc 0
ctl drain bj-a
expect_rc 1
expect_out 'refused: 2 sites would be drained or evacuated \(control.max_drained_sites 1\)'
ctl drain bj-a --dry-run --force
expect_rc 0
ctl undrain bj-b
expect_rc 0
write_conf 40 "max_drained_sites = 1; max_drained_capacity = 1;" "min_capacity = 0.7;"
ctl reload
expect_rc 0
ctl drain bj-a
expect_rc 1
# Per city, as gtm.conf(5) defines it: beijing keeps 1 of its 2 sites.
expect_out 'refused: service pb.example.com, city beijing would keep 50% of its capacity, below its min_capacity 70%'
ctl drain bj-a --force
expect_rc 0
t "min_capacity: beijing at 50% of its capacity is evacuated"
expect_answers pb.example.com "192.0.2.103"
ctl undrain bj-a
expect_rc 0
expect_answers pb.example.com "192.0.2.101 192.0.2.102"

finish
