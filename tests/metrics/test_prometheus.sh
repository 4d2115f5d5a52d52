#!/bin/bash
# gtmd's figures in the Prometheus text format: scraped with curl from its
# loopback HTTP listener (metrics.prometheus) and checked with `promtool
# check metrics` (Debian's prometheus package); names, TYPE lines, labels,
# values that follow the queries sent through gtmd, the probes' verdicts,
# 404/405 for anything but GET /metrics, the default port.
#
# About 8 s.  Needs prometheus (promtool), curl and knot-dnsutils.
. "$(dirname "$0")/lib.sh"

for tool in promtool curl ss kdig; do
	command -v $tool >/dev/null || die "$tool is missing"
done

H='host="node1.example.com"'
# A carbon server that is never there, so that the module's own figures move.
DEAD=$(reserve_port) || die "no free port"
start_backend
write_gtmd_conf prom "prometheus = \"127.0.0.1:0\"; buffer = 20; graphite = ( { host = \"127.0.0.1\"; port = $DEAD; } );"
start_gtmd prom
[ -n "$PROM_PORT" ] && [ "$PROM_PORT" -gt 0 ] || die "no Prometheus port in the log"
URL=http://127.0.0.1:$PROM_PORT

# scrape FILE: GET /metrics into FILE (headers in FILE.h); false on error.
scrape() {
	curl -sS -f --max-time 5 -D "$1.h" -o "$1" "$URL/metrics"
}

# value FILE SERIES: the value of one series (name and labels as printed).
value() {
	awk -v s="$2" 'index($0, s " ") == 1 { print $2 }' "$1"
}

t "scrape and promtool"
query www.example.com A 10
query nx.example.com A 4
sleep 0.6   # the probes' first verdicts
scrape "$WORK/s1" || die "scrape of $URL/metrics failed"
ok "scraped $(wc -l <"$WORK/s1") lines"
if promtool check metrics <"$WORK/s1" >"$WORK/promtool.out" 2>&1; then
	ok "promtool check metrics: clean"
else
	fail "promtool check metrics: $(head -5 "$WORK/promtool.out" | tr '\n' ' ')"
fi
expect_eq "$(cat "$WORK/promtool.out")" "" "promtool has no remarks"
if grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/s1.h"; then ok "content type 0.0.4"
else fail "content type: $(grep -i '^content-type' "$WORK/s1.h")"; fi
if ss -Hltn "( sport = :$PROM_PORT )" | awk '{ print $4 }' | grep -qx "127.0.0.1:$PROM_PORT"; then
	ok "listening on 127.0.0.1 only"
else
	fail "listener: $(ss -Hltn "( sport = :$PROM_PORT )")"
fi

t "names, types, labels and values"
# expect_line ERE: a line of the scrape matches.
expect_line() {
	if grep -qE -- "$1" "$WORK/s1"; then ok "has /$1/"
	else fail "no line matches /$1/"; fi
}
expect_line "^# TYPE gtm_dns_queries_total counter$"
expect_line "^# HELP gtm_dns_queries_total Graphite path <prefix>.<host>.dns.queries$"
expect_line "^# TYPE gtm_dns_responses_total counter$"
expect_line "^# TYPE gtm_site_weight gauge$"
expect_line "^# TYPE gtm_check_latency_seconds gauge$"
expect_line "^# HELP gtm_check_up Graphite path <prefix>.<host>.check.<site>.<endpoint>.up$"
expect_line "^# TYPE gtm_metrics_dropped_total counter$"
expect_eq "$(value "$WORK/s1" "gtm_dns_queries_total{$H}")" 14 "dns queries"
expect_eq "$(value "$WORK/s1" "gtm_dns_udp_total{$H}")" 14 "dns udp"
expect_eq "$(value "$WORK/s1" "gtm_dns_responses_total{$H,rcode=\"noerror\"}")" 10 "noerror"
expect_eq "$(value "$WORK/s1" "gtm_dns_responses_total{$H,rcode=\"nxdomain\"}")" 4 "nxdomain"
expect_eq "$(value "$WORK/s1" "gtm_dns_responses_total{$H,rcode=\"refused\"}")" 0 "refused"
expect_eq "$(value "$WORK/s1" "gtm_site_weight{$H,site=\"bj-a\"}")" 200 "bj-a weight"
expect_eq "$(value "$WORK/s1" "gtm_site_healthy{$H,site=\"bj-a\"}")" 1 "bj-a healthy"
expect_eq "$(value "$WORK/s1" "gtm_site_healthy{$H,site=\"bj-b\"}")" 0 "bj-b not healthy"
expect_eq "$(value "$WORK/s1" "gtm_check_up{$H,site=\"bj-a\",endpoint=\"127.0.0.1\"}")" 1 "check bj-a up"
expect_eq "$(value "$WORK/s1" "gtm_check_up{$H,site=\"bj-b\",endpoint=\"127.0.0.1\"}")" 0 "check bj-b down"
expect_line "^gtm_check_latency_seconds\{$H,site=\"bj-a\",endpoint=\"127.0.0.1\"\} [0-9.e-]+$"
expect_line "^gtm_snapshot_generation\{$H\} [1-9][0-9]*$"
expect_line "^gtm_config_reloads_total\{$H\} 0$"
expect_line "^gtm_controller_failopen\{$H\} 0$"
families=$(grep -c '^# TYPE ' "$WORK/s1")
distinct=$(grep -v '^#' "$WORK/s1" | sed 's/[{ ].*//' | sort -u | wc -l)
expect_eq "$families" "$distinct" "one TYPE line per family"
expect_eq "$(grep -c '^# HELP ' "$WORK/s1")" "$families" "one HELP line per family"
if grep -v '^#' "$WORK/s1" | grep -q '_ms\b'; then fail "a name still in milliseconds"
else ok "no _ms names"; fi

t "values follow gtmd"
query www.example.com AAAA 6
kill -HUP "$GTMD_PID"
sleep 1.2
scrape "$WORK/s2" || fail "second scrape failed"
expect_eq "$(value "$WORK/s2" "gtm_dns_queries_total{$H}")" 20 "dns queries after 6 more"
expect_eq "$(value "$WORK/s2" "gtm_config_reloads_total{$H}")" 1 "reloads after SIGHUP"
dropped=$(value "$WORK/s2" "gtm_metrics_dropped_total{$H}")
expect_ge "$dropped" 1 "drops counted while carbon is absent"
promtool check metrics <"$WORK/s2" >/dev/null 2>&1 && ok "second scrape passes promtool" ||
	fail "second scrape fails promtool"

t "other requests"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/other")
expect_eq "$code" 404 "GET /other"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -d x "$URL/metrics")
expect_eq "$code" 405 "POST /metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -I "$URL/metrics")
expect_eq "$code" 200 "HEAD /metrics"

t "the default port"
if "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 9153))' 2>/dev/null; then
	write_gtmd_conf default "prometheus = \"127.0.0.1\"; hostname = \"h\";"
	start_gtmd default
	expect_eq "$PROM_PORT" 9153 "bare address listens on 9153"
	curl -sf --max-time 5 http://127.0.0.1:9153/metrics | grep -q '^gtm_dns_queries_total{host="h"} 0$' &&
		ok "scrape on 9153" || fail "scrape on 9153"
else
	echo "$TEST_NAME: 127.0.0.1:9153 is taken, default-port case skipped"
fi

t "shutdown"
for p in $GTMD_PIDS; do
	kill_wait "$p"
	expect_eq "$KILL_RC" 0 "gtmd $p exit status"
done
GTMD_PIDS=""

finish
