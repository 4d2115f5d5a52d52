#!/bin/bash
# gtmd against NSD under dnsperf, one after the other in the same run.
#
# Each server is pinned to one core with one worker, dnsperf to the other
# core.  For each server: the queries/s dnsperf reached, the queries it lost,
# the server's CPU time per answered query (utime + stime from /proc, over
# the dnsperf run) and the p50/p99 latency at a fixed offered rate.  The
# per-query CPU cost is the figure DESIGN.md holds us to: on two cores
# dnsperf saturates its own core before either server saturates its, so qps
# alone mostly measures dnsperf.  See tests/bench/README.md.
#
# Not part of the test suite.  Needs root only to raise net.core.rmem_max /
# wmem_max (restored on exit); without it the servers get smaller buffers.
#
# Usage: tests/bench/bench.sh            (from anywhere; env below overrides)
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)

GTMD=${GTMD:-$TOP/build/gtm/gtmd}
NSD=${NSD:-nsd}
DNSPERF=${DNSPERF:-dnsperf}
CLIENTS=${CLIENTS:-4}             # dnsperf -c
OUTSTANDING=${OUTSTANDING:-200}   # dnsperf -q
DURATION=${DURATION:-10}          # dnsperf -l, seconds, for every run
FIXED_QPS=${FIXED_QPS:-10000}     # dnsperf -Q for the latency runs
NRECORDS=${NRECORDS:-300}         # A records in the generated zone
SERVER_CPU=${SERVER_CPU:-1}       # taskset -c for the servers
CLIENT_CPU=${CLIENT_CPU:-0}       # taskset -c for dnsperf
GTMD_PORT=${GTMD_PORT:-15353}
NSD_PORT=${NSD_PORT:-15354}
SOCKBUF=${SOCKBUF:-8388608}       # rmem_max/wmem_max and the servers' buffers
DNSPERF_EXTRA=${DNSPERF_EXTRA:-}  # e.g. "-b 8192"
RUN_NSD=${RUN_NSD:-1}             # 0 skips NSD (gtmd figures only)
RUN_GTMD=${RUN_GTMD:-1}           # 0 skips gtmd (NSD baseline only)
STEERED_ECS=${STEERED_ECS:-0}     # 1: steered queries carry EDNS Client Subnet 198.51.100.0/24

CLK_TCK=$(getconf CLK_TCK)

# pid_tree, cpu_ticks, stat_of, run_load, run_latency, raise_sockbuf, ...
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }

if [ "$RUN_GTMD" = 1 ]; then
	[ -x "$GTMD" ] || die "no gtmd at $GTMD (build first, or set GTMD=)"
fi
command -v "$DNSPERF" >/dev/null || die "dnsperf not found"
command -v taskset >/dev/null || die "taskset not found"
if [ "$RUN_NSD" = 1 ]; then
	command -v "$NSD" >/dev/null || die "nsd not found (or RUN_NSD=0)"
fi
[ "$(nproc)" -ge 2 ] || echo "bench: warning: fewer than 2 CPUs, pinning is meaningless" >&2

WORK=$(mktemp -d /tmp/gtm-bench.XXXXXX)
SERVER_PID=
STOP_PID=

# Stops the server: SIGTERM to STOP_PID (NSD's main process, which is a child
# of the process we started: that one becomes xfrd) or else SERVER_PID, then
# SIGKILL to whatever of its process tree is left after 5 s.
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	local tree p
	tree=$(pid_tree "$SERVER_PID" 2>/dev/null || true)
	kill -TERM "${STOP_PID:-$SERVER_PID}" 2>/dev/null || true
	for _ in $(seq 50); do
		alive=
		for p in $tree; do
			if kill -0 "$p" 2>/dev/null && ! grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null; then
				alive=1
			fi
		done
		[ -n "$alive" ] || break
		sleep 0.1
	done
	for p in $tree; do kill -KILL "$p" 2>/dev/null || true; done
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	STOP_PID=
}

cleanup() {
	local rc=$?
	stop_server
	restore_sockbuf
	if [ "${KEEP_WORK:-0}" = 1 ]; then
		echo "bench: kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- kernel socket buffers -------------------------------------------------
raise_sockbuf

# --- the zone, the query files, the configs --------------------------------
ZONE=$WORK/example.com.zone
{
	echo '$ORIGIN example.com.'
	echo '$TTL 3600'
	echo '@    IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300'
	echo '@    IN NS  ns1'
	echo '@    IN NS  ns2'
	echo 'ns1  IN A   192.0.2.1'
	echo 'ns2  IN A   192.0.2.2'
	echo '@    IN MX  10 mail'
	echo 'mail IN A   192.0.2.3'
	for i in $(seq 1 "$NRECORDS"); do
		printf 'host%d IN A 198.51.%d.%d\n' "$i" $((i / 250)) $((i % 250 + 1))
	done
} >"$ZONE"

# Static A queries for names that exist, each name once per pass.
QSTATIC=$WORK/queries-static
for i in $(seq 1 "$NRECORDS"); do echo "host$i.example.com A"; done >"$QSTATIC"
QSTEERED=$WORK/queries-steered
echo "www.example.com A" >"$QSTEERED"

GTMD_CONF=$WORK/gtm.conf
cat >"$GTMD_CONF" <<EOF
server = { listen = [ "127.0.0.1:$GTMD_PORT" ]; workers = 1; udp_rcvbuf = $SOCKBUF; };
zones = ( { name = "example.com"; file = "$ZONE"; } );
cities = ( { name = "beijing"; lat = 39.9; lon = 116.4; },
           { name = "shanghai"; lat = 31.2; lon = 121.5; } );
sites = ( { name = "bj-a"; city = "beijing"; },
          { name = "sh-a"; city = "shanghai"; } );
services = ( { name = "www.example.com"; ttl = 30;
               endpoints = ( { site = "bj-a"; addresses = [ "192.0.2.10", "2001:db8::10" ]; },
                             { site = "sh-a"; addresses = [ "192.0.2.20", "2001:db8::20" ]; } ); } );
EOF

NSD_CONF=$WORK/nsd.conf
cat >"$NSD_CONF" <<EOF
server:
  ip-address: 127.0.0.1
  port: $NSD_PORT
  server-count: 1
  username: ""
  zonesdir: ""
  database: ""
  zonelistfile: "$WORK/nsd-zone.list"
  pidfile: "$WORK/nsd.pid"
  xfrdfile: "$WORK/nsd-xfrd.state"
  xfrdir: "$WORK"
  logfile: "$WORK/nsd.log"
  verbosity: 0
  # Debian's NSD is built with RRL on (200 qps per source): off, or it
  # caps the run at a few thousand queries/s.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  receive-buffer-size: $SOCKBUF
  send-buffer-size: $SOCKBUF
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: "$ZONE"
EOF

# --- helpers -----------------------------------------------------------------

wait_ready() { # port name
	local port=$1 name=$2
	for _ in $(seq 100); do
		kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited at start (see $WORK)"
		if dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 ns1.example.com A 2>/dev/null |
			grep -q '^192\.0\.2\.1$'; then
			return 0
		fi
		sleep 0.1
	done
	die "$name did not answer on 127.0.0.1:$port"
}

start_gtmd() {
	taskset -c "$SERVER_CPU" "$GTMD" -c "$GTMD_CONF" >"$WORK/gtmd.log" 2>&1 &
	SERVER_PID=$!
	wait_ready "$GTMD_PORT" gtmd
}

start_nsd() {
	nsd-checkconf "$NSD_CONF" || die "nsd-checkconf refused $NSD_CONF"
	taskset -c "$SERVER_CPU" "$NSD" -d -c "$NSD_CONF" >"$WORK/nsd.out" 2>&1 &
	SERVER_PID=$!
	wait_ready "$NSD_PORT" nsd
	STOP_PID=$(cat "$WORK/nsd.pid" 2>/dev/null || true)
}

RESULTS=$WORK/results

bench_server() { # name port queryfile tag
	local name=$1 port=$2 qfile=$3 tag=$4 load lat
	echo "bench: $tag: saturating run (dnsperf -c $CLIENTS -q $OUTSTANDING -l $DURATION)" >&2
	load=$(run_load "$port" "$qfile" "$tag")
	echo "bench: $tag: latency run (dnsperf -Q $FIXED_QPS -l $DURATION -v)" >&2
	lat=$(run_latency "$port" "$qfile" "$tag")
	echo "$tag $load $lat" >>"$RESULTS"
}

# --- the runs ----------------------------------------------------------------
echo "bench: gtmd $GTMD, $("$NSD" -v 2>&1 | head -1), dnsperf $("$DNSPERF" -h 2>&1 | grep -m1 -o 'Version.*' | cut -d' ' -f2)"
warn_busy
echo "bench: servers on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU, zone of $NRECORDS A records, CLK_TCK $CLK_TCK"

: >"$RESULTS"
if [ "$RUN_GTMD" = 1 ]; then
	start_gtmd
	bench_server gtmd "$GTMD_PORT" "$QSTATIC" gtmd-static
	if [ "$STEERED_ECS" = 1 ]; then
		# family 1, source /24, scope 0, 198.51.100
		DNSPERF_EXTRA="$DNSPERF_EXTRA -E 8:000118c63364" \
			bench_server gtmd "$GTMD_PORT" "$QSTEERED" gtmd-steered-ecs
	else
		bench_server gtmd "$GTMD_PORT" "$QSTEERED" gtmd-steered
	fi
	stop_server
fi

if [ "$RUN_NSD" = 1 ]; then
	start_nsd
	bench_server nsd "$NSD_PORT" "$QSTATIC" nsd-static
	stop_server
fi

echo
awk -v hz="$CLK_TCK" '
	{ tag[NR] = $1; qps[NR] = $2; lost[NR] = $3; us[NR] = $5; p50[NR] = $6; p99[NR] = $7
	  byname[$1] = $5 }
	END {
		printf "%-14s %10s %8s %10s %9s %9s\n", "server", "qps", "lost", "us/query", "p50 us", "p99 us"
		for (i = 1; i <= NR; i++)
			printf "%-14s %10s %8s %10s %9s %9s\n", tag[i], qps[i], lost[i], us[i], p50[i], p99[i]
		if (("nsd-static" in byname) && ("gtmd-static" in byname) && byname["nsd-static"] > 0) {
			printf "\nratio gtmd/NSD us per query: static %.2f",
				byname["gtmd-static"] / byname["nsd-static"]
			if ("gtmd-steered" in byname)
				printf ", steered %.2f", byname["gtmd-steered"] / byname["nsd-static"]
			if ("gtmd-steered-ecs" in byname)
				printf ", steered+ECS %.2f", byname["gtmd-steered-ecs"] / byname["nsd-static"]
			printf "\n"
		}
	}' "$RESULTS"
echo
echo "us/query: server CPU (utime+stime, $CLK_TCK Hz ticks) over the saturating run / queries answered."
echo "p50/p99: per-response latency seen by dnsperf at a fixed $FIXED_QPS qps (timeouts count as infinite)."
