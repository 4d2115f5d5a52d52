# Harness of the metrics integration tests, sourced by test_*.sh here.
#
#     . "$(dirname "$0")/lib.sh"
#     start_carbon                    # carbon-cache on 127.0.0.1, free ports
#     start_backend                   # a TCP listener for the health checks
#     write_gtmd_conf node1 "graphite = ( { host = \"127.0.0.1\"; port = $CARBON_PORT; } );"
#     start_gtmd node1                # the real gtmd on a free loopback port
#     query www.example.com A 20      # kdig, 20 times
#     wait_value gtm.node1_example_com.dns.queries 20
#     t "values"; expect_eq "$(last_value gtm.node1_example_com.dns.queries)" ...
#     finish
#
# The figures come from the real gtmd, whose metrics group points at the
# carbon-cache started here: queries sent with kdig and dnsperf are counted
# by its DNS workers, the health of a listener the test opens (site bj-a)
# and of a port nobody listens on (site bj-b) by its probes.
#
# Environment: GTMD (the gtmd binary; ctest sets it) or GTM_BINDIR,
# GTM_SRCDIR, VERBOSE=1, KEEP_WORK=1.  Everything binds to 127.0.0.1; the
# EXIT trap stops every process started here and removes $WORK.

set -u

MT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
# shellcheck source=tests/lib/common.sh
. "$MT_DIR/../lib/common.sh"
WSP=$MT_DIR/wsp.py
TEST_NAME=$(basename "$0" .sh)
SRCDIR=${GTM_SRCDIR:-$(cd "$MT_DIR/../.." && pwd)}

if [ -z "${GTMD:-}" ]; then
	for c in "${GTM_BINDIR:-/nonexistent}/gtm/gtmd" /tmp/build-ops/gtm/gtmd; do
		if [ -x "$c" ]; then GTMD=$c; break; fi
	done
fi
if [ -z "${GTMD:-}" ] || [ ! -x "$GTMD" ]; then
	echo "$TEST_NAME: gtmd not found (set GTMD or GTM_BINDIR)" >&2
	exit 1
fi

PASS=0
FAIL=0
CASE="(setup)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gtm-mt.XXXXXX")
CARBON_PID=""
CARBON_PORT=""
CARBON_UDP_PORT=""
GTMD_PIDS=""
GTMD_PID=""
BACKEND_PID=""
BACKEND_PORT=""
DEAD_PORT=""

# kill_wait PID: SIGTERM, at most 5 s, then SIGKILL.  Sets KILL_RC.
kill_wait() {
	local pid=$1 i
	KILL_RC=""
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; KILL_RC=$?; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		KILL_RC=killed
	else
		wait "$pid" 2>/dev/null
		KILL_RC=$?
	fi
}

cleanup() {
	local p
	for p in $GTMD_PIDS $CARBON_PID $BACKEND_PID; do
		kill_wait "$p"
	done
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "work dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'echo "$TEST_NAME: interrupted"; exit 130' INT TERM

# ------------------------------------------------------------ reporting

# t and ok: tests/lib/common.sh.

fail() {
	FAIL=$((FAIL + 1))
	echo "FAIL: $CASE: $*"
	return 0
}

show_logs() {
	local f
	for f in "$WORK"/*.log; do
		[ -f "$f" ] || continue
		echo "--- $(basename "$f") (last 20 lines) ---"
		tail -n 20 "$f"
	done
}

die() {
	fail "$*"
	show_logs
	summary
	exit 1
}

summary() {
	echo "$TEST_NAME: $PASS passed, $FAIL failed"
}

# finish: no sanitizer reports from gtmd, summary, exit status.
finish() {
	CASE="(end)"
	local log
	for log in "$WORK"/gtmd*.log; do
		[ -f "$log" ] && sanitizer_report "$log" && fail "sanitizer or assertion report in $(basename "$log")"
	done
	[ "$FAIL" -gt 0 ] && show_logs
	summary
	[ "$FAIL" -eq 0 ]
	exit
}

expect_eq() {
	if [ "$1" = "$2" ]; then ok "$3 = $2"
	else fail "$3 is '${1}', expected '$2'"; fi
}

expect_ge() {
	if [ -n "$1" ] && [ "$1" -ge "$2" ]; then ok "$3 $1 >= $2"
	else fail "$3 is ${1:-?}, expected >= $2"; fi
}

expect_le() {
	if [ -n "$1" ] && [ "$1" -le "$2" ]; then ok "$3 $1 <= $2"
	else fail "$3 is ${1:-?}, expected <= $2"; fi
}

# expect_log FILE ERE WHAT
expect_log() {
	if grep -qE -- "$2" "$1"; then ok "$3"
	else fail "$3: no line matching /$2/ in $(basename "$1")"; fi
}

# ------------------------------------------------------------ ports

# pick_port, reserve_port: tests/lib/common.sh.

# port_open PORT: something listens on 127.0.0.1:PORT (TCP).
port_open() {
	"$PY" - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(0.5)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.close()
EOF
}

# ------------------------------------------------------------ carbon

STORAGE=$WORK/storage
WHISPER=$STORAGE/whisper

# write_carbon_conf: carbon.conf and storage-schemas.conf in $WORK/carbon,
# every port on 127.0.0.1 and free, whisper files in $WHISPER, one-second
# points kept ten minutes, no throttling (the test counts on every point
# being written at once), no tag database (it would call graphite-web).
write_carbon_conf() {
	local pickle query
	CARBON_PORT=$(pick_port) || die "no free port"
	CARBON_UDP_PORT=$CARBON_PORT
	pickle=$(pick_port) || die "no free port"
	query=$(pick_port) || die "no free port"
	mkdir -p "$WORK/carbon" "$WHISPER" "$STORAGE/lists" "$WORK/carbon-log"
	cat >"$WORK/carbon/carbon.conf" <<EOF
[cache]
STORAGE_DIR = $STORAGE/
LOCAL_DATA_DIR = $WHISPER/
WHITELISTS_DIR = $STORAGE/lists/
CONF_DIR = $WORK/carbon/
LOG_DIR = $WORK/carbon-log/
PID_DIR = $WORK/carbon/
DATABASE = whisper
ENABLE_LOGROTATION = False
USER =
ENABLE_TAGS = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
MIN_TIMESTAMP_RESOLUTION = 1
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = $CARBON_PORT
ENABLE_UDP_LISTENER = True
UDP_RECEIVER_INTERFACE = 127.0.0.1
UDP_RECEIVER_PORT = $CARBON_UDP_PORT
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = $pickle
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = $query
LOG_LISTENER_CONNECTIONS = True
LOG_UPDATES = False
WHISPER_AUTOFLUSH = True
WHISPER_FALLOCATE_CREATE = False
EOF
	cat >"$WORK/carbon/storage-schemas.conf" <<EOF
[all]
pattern = .*
retentions = 1s:10m
EOF
}

# start_carbon: carbon-cache in the foreground (--nodaemon), logging to
# $WORK/carbon.log; waits (10 s) for its line receiver.
start_carbon() {
	local i
	command -v carbon-cache >/dev/null || die "carbon-cache is missing (apt-get install graphite-carbon)"
	[ -f "$WORK/carbon/carbon.conf" ] || write_carbon_conf
	(cd "$WORK/carbon" && exec carbon-cache --config="$WORK/carbon/carbon.conf" --nodaemon start) \
		>>"$WORK/carbon.log" 2>&1 &
	CARBON_PID=$!
	for i in $(seq 1 200); do
		kill -0 "$CARBON_PID" 2>/dev/null || die "carbon-cache exited at start-up"
		port_open "$CARBON_PORT" && return 0
		sleep 0.05
	done
	die "carbon-cache did not listen on $CARBON_PORT within 10 s"
}

# stop_carbon: SIGTERM (carbon writes its cache out first) and wait.
stop_carbon() {
	[ -n "$CARBON_PID" ] || return 0
	kill_wait "$CARBON_PID"
	CARBON_PID=""
	rm -f "$WORK/carbon/"*.pid
}

# ------------------------------------------------------------ gtmd

# start_backend: a TCP listener on a free port (BACKEND_PORT) that the
# check of site bj-a probes; DEAD_PORT is free and stays closed (bj-b down).
start_backend() {
	local i
	BACKEND_PORT=$(pick_port) || die "no free port"
	DEAD_PORT=$(reserve_port) || die "no free port"
	"$PY" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
' "$BACKEND_PORT" >"$WORK/backend.log" 2>&1 &
	BACKEND_PID=$!
	for i in $(seq 1 100); do
		port_open "$BACKEND_PORT" && return 0
		sleep 0.05
	done
	die "backend did not listen on $BACKEND_PORT"
}

# write_gtmd_conf NAME METRICS-KEYS: $WORK/NAME.conf serving example.com on
# a free port with two sites in one city: bj-a (weight 200) probed on the
# backend (up), bj-b (weight 100) on a closed port (down).  The metrics
# group holds METRICS-KEYS, plus interval = 1 and hostname =
# "node1.example.com" unless they are given.
write_gtmd_conf() {
	local name=$1 keys=$2 port
	port=$(pick_port) || die "no free port"
	printf -v "DNS_PORT_${name//-/_}" %s "$port"
	cp "$SRCDIR/etc/example.com.zone" "$WORK/example.com.zone"
	case $keys in *interval*) ;; *) keys="$keys interval = 1;" ;; esac
	case $keys in *hostname*) ;; *) keys="$keys hostname = \"node1.example.com\";" ;; esac
	cat >"$WORK/$name.conf" <<EOF
server = { listen = [ "127.0.0.1:$port" ]; workers = 2; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
cities = ( { name = "beijing"; lat = 39.90; lon = 116.40; } );
sites = ( { name = "bj-a"; city = "beijing"; weight = 200; },
          { name = "bj-b"; city = "beijing"; weight = 100; } );
checks = ( { name = "alive"; type = "tcp"; interval = 0.2; timeout = 0.1; rise = 1; fall = 1; } );
# Answer only once both endpoints have a verdict, so that every steered
# answer is counted for bj-a, whatever the machine's speed.
health = { unknown = "wait"; };
services = (
  { name = "www.example.com"; check = "alive";
    endpoints = (
      { site = "bj-a"; addresses = [ "192.0.2.10" ]; check_address = "127.0.0.1"; check_port = ${BACKEND_PORT:-1}; },
      { site = "bj-b"; addresses = [ "192.0.2.20" ]; check_address = "127.0.0.1"; check_port = ${DEAD_PORT:-1}; }
    ); }
);
metrics = { $keys };
EOF
}

# start_gtmd NAME: gtmd -c $WORK/NAME.conf, logging to $WORK/gtmd-NAME.log;
# waits (10 s) for "startup, serving".  Sets GTMD_PID, DNS_PORT (its DNS
# port), PROM_PORT (its Prometheus port, when on) and START (the second).
start_gtmd() {
	local name=$1 log=$WORK/gtmd-$1.log i v
	v="DNS_PORT_${name//-/_}"
	DNS_PORT=${!v}
	START=$(date +%s)
	"$GTMD" -c "$WORK/$name.conf" >"$log" 2>&1 &
	GTMD_PID=$!
	GTMD_PIDS="$GTMD_PIDS $GTMD_PID"
	for i in $(seq 1 200); do
		if grep -q 'startup, serving' "$log"; then
			PROM_PORT=$(sed -n 's/.*metrics, prometheus listening on .*:\([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
			return 0
		fi
		kill -0 "$GTMD_PID" 2>/dev/null || die "gtmd $name exited at start-up"
		sleep 0.05
	done
	die "gtmd $name not serving within 10 s"
}

# query NAME TYPE N: N queries with kdig (UDP) to the last started gtmd;
# fails the case when one gets no answer.
query() {
	local i out
	for i in $(seq 1 "$3"); do
		out=$(kdig @127.0.0.1 -p "$DNS_PORT" +time=2 +retry=0 "$1" "$2" 2>&1)
		case $out in *"status: "*) ;; *) fail "no answer to $1 $2: $out"; return 1 ;; esac
	done
}

# qps SECONDS: dnsperf at full rate (one thread, 4 clients, 200 in flight)
# against the last started gtmd for SECONDS; prints the queries per second
# it measured (the full output is in $WORK/dnsperf.out).
qps() {
	printf 'www.example.com A\nexample.com SOA\nwww.example.com AAAA\n' >"$WORK/dnsperf.in"
	dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$WORK/dnsperf.in" -l "$1" -c 4 -T 1 -q 200 \
		>"$WORK/dnsperf.out" 2>&1
	awk '/Queries per second:/ { printf "%d\n", $4 }' "$WORK/dnsperf.out"
}

# lost: the queries the last qps run lost (dnsperf "Queries lost: N (x%)").
lost() { awk '/Queries lost:/ { print $3 }' "$WORK/dnsperf.out"; }

# ------------------------------------------------------------ whisper

# wsp_file METRIC: the whisper file of a dotted metric name.
wsp_file() { echo "$WHISPER/$(echo "$1" | tr . /).wsp"; }

# points METRIC [FROM [UNTIL]]: "time value" lines of the points held.
points() {
	local f
	f=$(wsp_file "$1")
	[ -f "$f" ] || return 0
	"$PY" "$WSP" "$f" "${@:2}"
}

npoints() { points "$@" | wc -l; }

# wait_points METRIC N [FROM [SECONDS]]: until METRIC has N points at or
# after FROM (default: any), for at most SECONDS (default 10).
wait_points() {
	local m=$1 n=$2 from=${3:-0} secs=${4:-10} i
	for i in $(seq 1 $((secs * 10))); do
		[ "$(points "$m" "$from" 2>/dev/null | awk -v f="$from" '$1 >= f' | wc -l)" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# last_value METRIC: the newest point's value, as an integer when whole.
last_value() {
	points "$1" | tail -n 1 | awk '{ v = $2 + 0; if (v == int(v)) printf "%d\n", v; else print v }'
}

# wait_value METRIC MIN [FROM [SECONDS]]: until METRIC has a point at or
# after FROM (default: any) whose value is >= MIN, for at most SECONDS
# (default 10).
wait_value() {
	local m=$1 min=$2 from=${3:-0} secs=${4:-10} i
	for i in $(seq 1 $((secs * 10))); do
		points "$m" 2>/dev/null | awk -v f="$from" -v m="$min" '$1 >= f && $2 + 0 >= m + 0 { ok = 1 } END { exit !ok }' && return 0
		sleep 0.1
	done
	return 1
}
