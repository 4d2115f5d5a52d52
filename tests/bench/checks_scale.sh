#!/bin/bash
# Scale of the health probes (issue "Active health probes", point 7): gtmd
# with 10,000 endpoints, each its own tcp check target, probed every second
# from the one control thread.  Not a test: it prints figures.
#
#   GTMD=build/gtm/gtmd tests/bench/checks_scale.sh [SECONDS] [ENDPOINTS]
#
# Setup: one Python process listens on ENDPOINTS loopback addresses
# 127.1.X.Y (one port), accepting and closing (epoll), so no two endpoints
# share a probe target; gtmd (1 DNS worker) serves 1,000 services of 10
# endpoints (two sites of five), each endpoint checked with
# `type = "tcp"; interval = 1; timeout = 0.5` on its own 127.1.X.Y address.
# After a 5 s warm-up, gtmd's counters are read twice, SECONDS (default 30)
# apart, through SIGUSR1 (the "health, stats (...)" log line), and its CPU
# time from /proc/PID/stat; meanwhile kdig asks for a steered name every
# 0.2 s and the answer times are kept.
#
# Reports: probes/s achieved (against ENDPOINTS/s offered), failed probes,
# targets not up, gtmd CPU (% of one core, user + system) and kdig answer
# times (median, max).
set -u
SECS=${1:-30}
N=${2:-10000}
here=$(cd "$(dirname "$0")" && pwd)
GTMD=${GTMD:-}
for c in "$GTMD" "${GTM_BINDIR:-/nonexistent}/gtm/gtmd" /tmp/build-health/gtm/gtmd build/gtm/gtmd; do
	[ -n "$c" ] && [ -x "$c" ] && { GTMD=$c; break; }
done
[ -x "$GTMD" ] || { echo "checks_scale: set GTMD to the gtmd binary" >&2; exit 2; }
command -v kdig >/dev/null || { echo "checks_scale: kdig is missing" >&2; exit 2; }
[ $((N % 10)) = 0 ] || { echo "checks_scale: ENDPOINTS must be a multiple of 10" >&2; exit 2; }

WORK=$(mktemp -d /tmp/gtm-checks-scale.XXXXXX)
LPID="" GPID=""
finish() {
	[ -n "$GPID" ] && kill -TERM "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
	[ -n "$LPID" ] && kill -TERM "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap finish EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PPORT=$(free_port)
DPORT=$(free_port)

# addr I: the probed address of endpoint I.
# 127.1.X.Y with Y in 1..250.
/usr/bin/python3 - "$N" "$PPORT" "$WORK/listen.ready" >"$WORK/listener.log" 2>&1 <<'EOF' &
import os, resource, selectors, socket, sys
n, port, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1024, n + 1024))
sel = selectors.DefaultSelector()
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.1.%d.%d" % (i // 250, i % 250 + 1), port))
    s.listen(64)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
open(ready, "w").close()
while True:
    for key, _ in sel.select():
        try:
            while True:
                c, _ = key.fileobj.accept()
                c.close()
        except (BlockingIOError, ConnectionError):
            pass
EOF
LPID=$!
for i in $(seq 1 300); do [ -f "$WORK/listen.ready" ] && break; sleep 0.1; done
[ -f "$WORK/listen.ready" ] || { echo "checks_scale: the listener did not start"; cat "$WORK/listener.log"; exit 1; }

cat >"$WORK/example.com.zone" <<'EOF'
$ORIGIN example.com.
$TTL 300
@   IN SOA ns1 hostmaster 1 3600 600 86400 300
@   IN NS  ns1
ns1 IN A   192.0.2.53
EOF
{
	echo 'server = { workers = 1; };'
	echo 'zones = ( { name = "example.com"; file = "example.com.zone"; } );'
	echo 'cities = ( { name = "beijing"; lat = 39.9; lon = 116.4; } );'
	echo 'sites = ( { name = "bj-a"; city = "beijing"; }, { name = "bj-b"; city = "beijing"; } );'
	echo "checks = ( { name = \"t\"; type = \"tcp\"; port = $PPORT; interval = 1; timeout = 0.5; } );"
	echo 'services = ('
	/usr/bin/python3 - "$N" <<'EOF'
import sys
n = int(sys.argv[1])
out = []
for s in range(n // 10):
    eps = []
    for k in range(10):
        i = s * 10 + k
        site = "bj-a" if k < 5 else "bj-b"
        eps.append('{ site = "%s"; addresses = [ "10.%d.%d.%d" ]; check_address = "127.1.%d.%d"; }'
                   % (site, i // 62500, (i // 250) % 250, i % 250 + 1, i // 250, i % 250 + 1))
    out.append('  { name = "s%d.example.com"; check = "t"; answer = "all";\n    endpoints = ( %s ); }'
               % (s, ",\n      ".join(eps)))
print(",\n".join(out))
EOF
	echo ');'
} >"$WORK/gtm.conf"

"$GTMD" -t -c "$WORK/gtm.conf" >/dev/null || { echo "checks_scale: gtmd -t refuses the generated config"; exit 1; }
"$GTMD" -c "$WORK/gtm.conf" -l "127.0.0.1:$DPORT" >"$WORK/gtmd.log" 2>&1 &
GPID=$!
for i in $(seq 1 200); do
	kdig @127.0.0.1 -p "$DPORT" +time=1 +retry=0 example.com SOA 2>/dev/null | grep -q NOERROR && break
	sleep 0.05
done

# cpu_ticks: utime + stime of gtmd, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$GPID/stat"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# stats: the last "health, stats" line after SIGUSR1.
stats() {
	local before
	before=$(grep -c 'health, stats' "$WORK/gtmd.log")
	kill -USR1 "$GPID"
	for i in $(seq 1 100); do
		[ "$(grep -c 'health, stats' "$WORK/gtmd.log")" -gt "$before" ] && break
		sleep 0.01
	done
	grep 'health, stats' "$WORK/gtmd.log" | tail -1
}
field() { echo "$1" | sed -n "s/.*$2.*/\\1/p"; }

echo "checks_scale: $N endpoints, $((N / 10)) services, tcp every 1 s; warming up 5 s"
sleep 5
s0=$(stats); c0=$(cpu_ticks); t0=$(now_ms)
: >"$WORK/kdig.ms"
end=$(( t0 + SECS * 1000 ))
while [ "$(now_ms)" -lt "$end" ]; do
	q0=$(now_ms)
	kdig @127.0.0.1 -p "$DPORT" +time=1 +retry=0 +short "s$((RANDOM % (N / 10))).example.com" A >/dev/null 2>&1 ||
		echo "timeout" >>"$WORK/kdig.fail"
	echo $(( $(now_ms) - q0 )) >>"$WORK/kdig.ms"
	sleep 0.2
done
s1=$(stats); c1=$(cpu_ticks); t1=$(now_ms)

done0=$(field "$s0" 'probes [0-9]* started, \([0-9]*\) done')
done1=$(field "$s1" 'probes [0-9]* started, \([0-9]*\) done')
fail0=$(field "$s0" 'done, \([0-9]*\) failed')
fail1=$(field "$s1" 'done, \([0-9]*\) failed')
targets=$(field "$s1" '(\([0-9]*\) targets')
up=$(field "$s1" 'endpoints: \([0-9]*\) up')
hz=$(getconf CLK_TCK)
dt=$(( t1 - t0 ))
sort -n "$WORK/kdig.ms" >"$WORK/kdig.sorted"
nq=$(wc -l <"$WORK/kdig.sorted")
med=$(sed -n "$(( (nq + 1) / 2 ))p" "$WORK/kdig.sorted")
max=$(tail -1 "$WORK/kdig.sorted")
nfail=$(cat "$WORK/kdig.fail" 2>/dev/null | wc -l)
echo "last stats: $s1" | sed 's/^.*health, stats/health, stats/'
awk -v d="$((done1 - done0))" -v f="$((fail1 - fail0))" -v dt="$dt" -v cpu="$((c1 - c0))" -v hz="$hz" \
    -v n="$N" -v targets="$targets" -v up="$up" -v med="$med" -v max="$max" -v nq="$nq" -v nf="$nfail" 'BEGIN {
	printf "targets:        %d (%d up)\n", targets, up
	printf "probes/s:       %.0f achieved, %d offered (interval 1 s), over %.1f s\n", d / (dt / 1000), n, dt / 1000
	printf "failed probes:  %d\n", f
	printf "gtmd CPU:       %.1f%% of one core (user+system, %.2f s CPU in %.1f s)\n", 100 * cpu / hz / (dt / 1000), cpu / hz, dt / 1000
	printf "per probe:      %.1f us of gtmd CPU\n", 1e6 * cpu / hz / (d > 0 ? d : 1)
	printf "kdig answers:   %d queries, median %d ms, max %d ms, %d timeouts\n", nq, med, max, nf
}'
