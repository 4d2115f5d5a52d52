#!/bin/bash
# gtmd against gdnsd on geo-steered answers (nearest city by GeoIP, located
# by EDNS Client Subnet), one after the other in the same run, with the
# fixture database and with the real GeoLite2 City database.
#
# Both servers get the same zone, the same ten cities (one site, one address
# each), the same MMDB file and the same queries: A queries for the steered
# name, each with an ECS subnet drawn from the database's networks, from a
# dnsperf -B (binary) file.  gdnsd: the geoip plugin in city-auto-mode
# (auto_dc_coords), edns_client_subnet on.  gtmd: policy nearest, ECS
# trusted from 127.0.0.1.  Before measuring, a sample of the queries goes to
# both servers and the answers are compared.
#
# Measured as in bench.sh (same pinning, one worker/thread, dnsperf on the
# other core): qps, lost, the server's CPU per answered query (utime + stime
# from /proc over the run), p50/p99 at a fixed rate; plus the start-up time
# (exec to first answer) and the RSS after load and after the runs.  See
# tests/bench/README.md.
#
# Not part of the test suite.  Root is needed to install gdnsd (not done
# here: apt-get install gdnsd, see the README) and to raise rmem_max/wmem_max.
# gdnsd runs in the foreground from a temporary directory; its system
# service and /etc/gdnsd are never touched, nor is port 53.
#
# Usage: tests/bench/geo-bench.sh            (env below overrides)
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)

BUILD=${BUILD:-$TOP/build}
GTMD=${GTMD:-$BUILD/gtm/gtmd}
FIXTURE_DB=${FIXTURE_DB:-$BUILD/tests/geo/geoip2-city.mmdb}
FIXTURE_TSV=${FIXTURE_TSV:-$(dirname "$FIXTURE_DB")/networks.tsv}
GDNSD=${GDNSD:-gdnsd}
DNSPERF=${DNSPERF:-dnsperf}
PYTHON=${PYTHON:-/usr/bin/python3}
DBS=${DBS:-fixture real}          # which databases to run, in order
REAL_DB=${REAL_DB:-}              # a GeoIP2-City MMDB; default: convert the fetched flat files
REAL_NETWORKS=${REAL_NETWORKS:-}  # its networks list (flat-to-geoip2.pl --networks); with REAL_DB
REAL_FRACTION=${REAL_FRACTION:-1} # flat-to-geoip2.pl --fraction when converting
CLIENTS=${CLIENTS:-4}             # dnsperf -c
OUTSTANDING=${OUTSTANDING:-200}   # dnsperf -q
DURATION=${DURATION:-10}          # dnsperf -l, seconds, for every run
FIXED_QPS=${FIXED_QPS:-10000}     # dnsperf -Q for the latency runs
NQUERIES=${NQUERIES:-100000}      # distinct queries in each query file
CHECK_COUNT=${CHECK_COUNT:-10000}  # queries compared between the servers
SERVER_CPU=${SERVER_CPU:-1}       # taskset -c for the servers
CLIENT_CPU=${CLIENT_CPU:-0}       # taskset -c for dnsperf
GTMD_PORT=${GTMD_PORT:-15355}
GDNSD_PORT=${GDNSD_PORT:-15356}
SOCKBUF=${SOCKBUF:-8388608}       # rmem_max/wmem_max and gtmd's udp_rcvbuf
GDNSD_SOCKBUF=${GDNSD_SOCKBUF:-1048576} # gdnsd udp_rcvbuf/udp_sndbuf (its maximum)
DNSPERF_EXTRA=${DNSPERF_EXTRA:-}  # more dnsperf flags
RUN_GDNSD=${RUN_GDNSD:-1}         # 0 skips gdnsd
RUN_GTMD=${RUN_GTMD:-1}           # 0 skips gtmd

CLK_TCK=$(getconf CLK_TCK)
QUERIES_PY=$TOP/tests/bench/geo-queries.py
CONVERT=$TOP/tests/geo/flat-to-geoip2.pl

# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"

die() { echo "geo-bench: $*" >&2; exit 1; }

[ "$RUN_GTMD" = 1 ] && { [ -x "$GTMD" ] || die "no gtmd at $GTMD (build first, or set BUILD= or GTMD=)"; }
[ "$RUN_GDNSD" = 1 ] && { command -v "$GDNSD" >/dev/null || die "gdnsd not found (apt-get install gdnsd, or RUN_GDNSD=0)"; }
command -v "$DNSPERF" >/dev/null || die "dnsperf not found"
command -v taskset >/dev/null || die "taskset not found"
[ -x "$PYTHON" ] || die "no python3 at $PYTHON"
[ "$(nproc)" -ge 2 ] || echo "geo-bench: warning: fewer than 2 CPUs, pinning is meaningless" >&2

WORK=$(mktemp -d /tmp/gtm-geo-bench.XXXXXX)
GTMD_PID=
GDNSD_PID=

# SIGTERM to the process (started in its own session by geo-queries.py
# launch, so not our child), SIGKILL after 5 s.
stop_pid() { # pid
	local p=$1
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$p" 2>/dev/null || return 0
		grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null && return 0
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
}

stop_servers() {
	stop_pid "$GTMD_PID"
	GTMD_PID=
	stop_pid "$GDNSD_PID"
	GDNSD_PID=
}

cleanup() {
	local rc=$?
	stop_servers
	restore_sockbuf
	if [ "${KEEP_WORK:-0}" = 1 ]; then
		echo "geo-bench: kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

raise_sockbuf

# --- the cities, the zone ----------------------------------------------------
# name lat lon address: the fixture's cities (tests/geo/gen-mmdb.pl), real
# places, so the same list serves the real database.
CITIES="beijing 39.9042 116.4074 192.0.2.11
shanghai 31.2304 121.4737 192.0.2.12
shenzhen 22.5431 114.0579 192.0.2.13
guangzhou 23.1291 113.2644 192.0.2.14
hangzhou 30.2741 120.1551 192.0.2.15
frankfurt 50.1109 8.6821 192.0.2.16
ashburn 39.0438 -77.4874 192.0.2.17
tokyo 35.6762 139.6503 192.0.2.18
singapore 1.3521 103.8198 192.0.2.19
saopaulo -23.5505 -46.6333 192.0.2.20"

zone_static() {
	echo '$ORIGIN example.com.'
	echo '$TTL 3600'
	echo '@    IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300'
	echo '@    IN NS  ns1'
	echo '@    IN NS  ns2'
	echo 'ns1  IN A   192.0.2.1'
	echo 'ns2  IN A   192.0.2.2'
}

# gtmd's configuration for database $1 in directory $2.
write_gtmd_conf() {
	local db=$1 dir=$2 sep
	mkdir -p "$dir"
	zone_static >"$dir/example.com.zone"
	{
		echo "server = { listen = [ \"127.0.0.1:$GTMD_PORT\" ]; workers = 1; udp_rcvbuf = $SOCKBUF; };"
		echo "zones = ( { name = \"example.com\"; file = \"$dir/example.com.zone\"; } );"
		echo "cities = ("
		sep=" "
		while read -r name lat lon _; do
			echo "  $sep{ name = \"$name\"; lat = $lat; lon = $lon; }"
			sep=","
		done <<<"$CITIES"
		echo ");"
		echo "sites = ("
		sep=" "
		while read -r name _; do
			echo "  $sep{ name = \"$name-1\"; city = \"$name\"; }"
			sep=","
		done <<<"$CITIES"
		echo ");"
		echo "geo = { databases = [ \"$db\" ]; schema = \"geoip2\"; ecs = true; ecs_trusted = [ \"127.0.0.1\" ]; };"
		echo "services = ( { name = \"www.example.com\"; policy = \"nearest\"; ttl = 30; endpoints = ("
		sep=" "
		while read -r name _ _ addr; do
			echo "  $sep{ site = \"$name-1\"; addresses = [ \"$addr\" ]; }"
			sep=","
		done <<<"$CITIES"
		echo "); } );"
	} >"$dir/gtm.conf"
}

# gdnsd's configuration directory for database $1: $2/config, $2/zones/.
write_gdnsd_conf() {
	local db=$1 dir=$2
	mkdir -p "$dir/zones" "$dir/run" "$dir/state"
	{
		zone_static
		echo 'www  30 DYNA geoip!www'
	} >"$dir/zones/example.com"
	{
		echo "options => {"
		echo "  listen => [ 127.0.0.1:$GDNSD_PORT ]"
		echo "  udp_threads => 1, tcp_threads => 1"
		echo "  udp_rcvbuf => $GDNSD_SOCKBUF, udp_sndbuf => $GDNSD_SOCKBUF"
		echo "  edns_client_subnet => true"
		echo "  zones_rfc1035_threads => 1"
		echo "  run_dir => $dir/run, state_dir => $dir/state"
		echo "}"
		echo "plugins => { geoip => {"
		echo "  maps => { cities => {"
		echo "    geoip2_db => \"$db\""
		echo "    datacenters => [ $(awk '{ printf "%s%s", sep, $1; sep = ", " }' <<<"$CITIES") ]"
		echo "    auto_dc_coords => {"
		awk '{ printf "      %s => [ %s, %s ]\n", $1, $2, $3 }' <<<"$CITIES"
		echo "    }"
		echo "  } }"
		echo "  resources => { www => {"
		echo "    map => cities"
		echo "    service_types => up"
		echo "    dcmap => {"
		awk '{ printf "      %s => %s\n", $1, $4 }' <<<"$CITIES"
		echo "    }"
		echo "  } }"
		echo "} }"
	} >"$dir/config"
}

# Starts a server through geo-queries.py launch (pinned), which prints
# "PID MS": the pid and the milliseconds from exec to the first steered
# answer.  Sets LAUNCH_PID, LAUNCH_MS.
launch() { # port log argv...
	local port=$1 log=$2 out
	shift 2
	out=$("$PYTHON" "$QUERIES_PY" launch --port "$port" --log "$log" -- \
		taskset -c "$SERVER_CPU" "$@") || die "$1 did not start (see $log)"
	LAUNCH_PID=${out% *}
	LAUNCH_MS=${out#* }
}

# --- the databases -----------------------------------------------------------
# The real database: the ip-location-db GeoLite2 City flat files
# (tests/geo/fetch-real-db.sh), converted once into a GeoIP2-City file next
# to them (gdnsd reads no other schema; gtmd then loads the same file).
prepare_real_db() {
	if [ -n "$REAL_DB" ]; then
		[ -f "$REAL_DB" ] || die "REAL_DB=$REAL_DB: no such file"
		[ -n "$REAL_NETWORKS" ] || die "REAL_DB needs REAL_NETWORKS (flat-to-geoip2.pl --networks)"
		return 0
	fi
	local v4 v6 dir tag
	eval "$("$TOP/tests/geo/fetch-real-db.sh" | awk '$1 == "v4" { print "v4=" $2 } $1 == "v6" { print "v6=" $2 }')"
	if [ ! -f "${v4:-}" ] || [ ! -f "${v6:-}" ]; then
		die "tests/geo/fetch-real-db.sh gave no database"
	fi
	dir=$(dirname "$v4")
	tag=$([ "$REAL_FRACTION" = 1 ] && echo full || echo "sample-$REAL_FRACTION")
	REAL_DB=$dir/geoip2-city-$tag.mmdb
	REAL_NETWORKS=$dir/geoip2-city-$tag.networks.tsv
	if [ ! -s "$REAL_DB" ] || [ "$REAL_DB" -ot "$CONVERT" ] || [ "$REAL_DB" -ot "$v4" ] ||
		[ "$REAL_DB" -ot "$v6" ] || [ ! -s "$REAL_NETWORKS" ]; then
		echo "geo-bench: converting $v4 + $v6 to $REAL_DB (once; about a minute)"
		perl "$CONVERT" --fraction "$REAL_FRACTION" --networks "$REAL_NETWORKS" \
			"$v4" "$v6" "$REAL_DB" || die "flat-to-geoip2.pl failed"
	fi
}

# --- the runs ----------------------------------------------------------------
RESULTS=$WORK/results
CHECKS=$WORK/checks
: >"$RESULTS"
: >"$CHECKS"

echo "geo-bench: gtmd $GTMD, $( ("$GDNSD" -h 2>&1 || true) | grep -m1 -o 'gdnsd version.*'), dnsperf $("$DNSPERF" -h 2>&1 | grep -m1 -o 'Version.*' | cut -d' ' -f2)"
echo "geo-bench: servers on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU (-c $CLIENTS -q $OUTSTANDING -l $DURATION -B), $NQUERIES distinct queries per database, CLK_TCK $CLK_TCK"

bench_one() { # server port pid queryfile tag
	local name=$1 port=$2 pid=$3 qfile=$4 tag=$5 load lat
	echo "geo-bench: $tag: saturating run" >&2
	load=$(DNSPERF_EXTRA="-B $DNSPERF_EXTRA" run_load "$port" "$qfile" "$tag" "$pid")
	echo "geo-bench: $tag: latency run (-Q $FIXED_QPS)" >&2
	lat=$(DNSPERF_EXTRA="-B $DNSPERF_EXTRA" run_latency "$port" "$qfile" "$tag")
	echo "$load $lat"
}

for db in $DBS; do
	case $db in
	fixture)
		DBFILE=$FIXTURE_DB
		[ -f "$DBFILE" ] || die "no fixture database at $DBFILE (cmake --build build --target geo_fixtures)"
		# The fixture's networks, and a few addresses in no network (unlocated:
		# both servers fall back to the first city).
		"$PYTHON" "$QUERIES_PY" gen --out "$WORK/q-$db.bin" --count "$NQUERIES" \
			--fixture "$FIXTURE_TSV" --extra 192.0.0.0/24 2001:db8:ffff::/48
		;;
	real)
		prepare_real_db
		DBFILE=$REAL_DB
		"$PYTHON" "$QUERIES_PY" gen --out "$WORK/q-$db.bin" --count "$NQUERIES" \
			--networks "$REAL_NETWORKS"
		;;
	*) die "DBS: unknown database '$db' (fixture, real)" ;;
	esac
	echo "geo-bench: [$db] database $DBFILE ($(du -h "$DBFILE" | cut -f1))"
	QFILE=$WORK/q-$db.bin
	warn_busy

	if [ "$RUN_GTMD" = 1 ]; then
		write_gtmd_conf "$DBFILE" "$WORK/gtmd-$db"
		"$GTMD" -t -c "$WORK/gtmd-$db/gtm.conf" >"$WORK/gtmd-$db.check" 2>&1 ||
			die "gtmd -t refused the config: $(cat "$WORK/gtmd-$db.check")"
		launch "$GTMD_PORT" "$WORK/gtmd-$db.log" "$GTMD" -c "$WORK/gtmd-$db/gtm.conf"
		GTMD_PID=$LAUNCH_PID
		GTMD_START=$LAUNCH_MS
		GTMD_RSS0=$(rss_kib "$GTMD_PID")
		echo "geo-bench: [$db] gtmd up in $GTMD_START ms, VmRSS $((GTMD_RSS0 / 1024)) MiB"
	fi
	if [ "$RUN_GDNSD" = 1 ]; then
		write_gdnsd_conf "$DBFILE" "$WORK/gdnsd-$db"
		"$GDNSD" -c "$WORK/gdnsd-$db" checkconf >"$WORK/gdnsd-$db.check" 2>&1 ||
			die "gdnsd checkconf refused the config: $(tail -5 "$WORK/gdnsd-$db.check")"
		launch "$GDNSD_PORT" "$WORK/gdnsd-$db.log" "$GDNSD" -c "$WORK/gdnsd-$db" start
		GDNSD_PID=$LAUNCH_PID
		GDNSD_START=$LAUNCH_MS
		GDNSD_RSS0=$(rss_kib "$GDNSD_PID")
		echo "geo-bench: [$db] gdnsd up in $GDNSD_START ms, VmRSS $((GDNSD_RSS0 / 1024)) MiB"
	fi

	if [ "$RUN_GTMD" = 1 ] && [ "$RUN_GDNSD" = 1 ]; then
		echo "geo-bench: [$db] comparing the answers to the first $CHECK_COUNT queries"
		"$PYTHON" "$QUERIES_PY" check --file "$QFILE" --count "$CHECK_COUNT" --names gtmd gdnsd \
			"127.0.0.1:$GTMD_PORT" "127.0.0.1:$GDNSD_PORT" | tee "$WORK/check-$db.out" |
			sed "s/^check:/geo-bench: [$db]/"
		sed -n "1s/^check: /$db: /p" "$WORK/check-$db.out" >>"$CHECKS"
		grep -c '^check: differ' "$WORK/check-$db.out" >/dev/null &&
			grep '^check: differ' "$WORK/check-$db.out" | sed "s/^check: differ: /$db: /" >>"$CHECKS"
	fi

	# Measured one at a time; the other one sits idle on the same core.
	if [ "$RUN_GTMD" = 1 ]; then
		r=$(bench_one gtmd "$GTMD_PORT" "$GTMD_PID" "$QFILE" "gtmd-$db")
		echo "gtmd-$db $r $GTMD_START $((GTMD_RSS0 / 1024)) $(($(rss_kib "$GTMD_PID") / 1024)) $(($(rss_kib "$GTMD_PID" RssAnon) / 1024))" >>"$RESULTS"
	fi
	if [ "$RUN_GDNSD" = 1 ]; then
		r=$(bench_one gdnsd "$GDNSD_PORT" "$GDNSD_PID" "$QFILE" "gdnsd-$db")
		echo "gdnsd-$db $r $GDNSD_START $((GDNSD_RSS0 / 1024)) $(($(rss_kib "$GDNSD_PID") / 1024)) $(($(rss_kib "$GDNSD_PID" RssAnon) / 1024))" >>"$RESULTS"
	fi
	stop_servers
done

echo
awk '
	{ tag[NR] = $1; qps[NR] = $2; lost[NR] = $3; us[NR] = $5; p50[NR] = $6; p99[NR] = $7
	  st[NR] = $8; r0[NR] = $9; r1[NR] = $10; a1[NR] = $11; byname[$1] = $5 }
	END {
		printf "%-14s %8s %6s %9s %6s %6s %8s %8s %8s %8s\n", "server-db", "qps", "lost", "us/answer",
			"p50 us", "p99 us", "start ms", "RSS0 MiB", "RSS1 MiB", "anon MiB"
		for (i = 1; i <= NR; i++)
			printf "%-14s %8s %6s %9s %6s %6s %8s %8s %8s %8s\n", tag[i], qps[i], lost[i], us[i],
				p50[i], p99[i], st[i], r0[i], r1[i], a1[i]
		split("fixture real", dbs, " ")
		for (j = 1; j <= 2; j++) {
			g = "gtmd-" dbs[j]; d = "gdnsd-" dbs[j]
			if ((g in byname) && (d in byname) && byname[d] > 0)
				printf "ratio gtmd/gdnsd us per steered answer, %s database: %.2f\n", dbs[j], byname[g] / byname[d]
		}
	}' "$RESULTS"
if [ -s "$CHECKS" ]; then
	echo
	echo "answers compared (gtmd vs gdnsd, same queries):"
	sed 's/^/  /' "$CHECKS"
fi
echo
echo "us/answer: server CPU (utime+stime, $CLK_TCK Hz ticks) over the saturating run / queries answered."
echo "p50/p99: per-response latency seen by dnsperf at a fixed $FIXED_QPS qps (timeouts count as infinite)."
echo "start ms: exec to the first steered answer; RSS0/RSS1: VmRSS after start-up / after the runs"
echo "(file-backed pages of the mmap'ed database included); anon: RssAnon after the runs."
