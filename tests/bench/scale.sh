#!/bin/bash
# The control plane at scale (DESIGN.md "Numbers it must reach", issue 12
# point 6): gtmd with N generated `nearest` services (default 10,000; 5 sites
# each) over 50 sites in 20 cities, no checks, a control socket.  Not timed
# in the suite: it prints figures; with --services 200 --quick it is the
# `scale` smoke test, which asserts only correctness (drain changes the
# answer, reload succeeds, status replies, no query lost during the reload).
#
#   tests/bench/scale.sh [--services N] [--geo] [--quick] [--keep]
#
#   --services N  how many services (default 10000)
#   --geo         load the real GeoLite2 City database (flat schema, two
#                 files) that tests/geo/fetch-real-db.sh fetches into
#                 ~/.cache/gtm/geo (fetched if missing; skipped with a
#                 warning when it cannot be)
#   --quick       shorter waits (the smoke test)
#   --keep        keep the work directory (config, log)
#
# Environment: GTMD, GTMCTL (the binaries; default build/gtm/...),
# STATUS_TIMEOUT (seconds gtmctl waits for status, default 60), RATE
# (queries/s of the query loop during the reload, default 200).
#
# Prints one "scale: KEY VALUE" line per figure; exits 1 when a correctness
# check fails.  Everything binds to 127.0.0.1 only and is stopped on exit.
set -u
N=10000 GEO=0 QUICK=0 KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--services) N=$2; shift ;;
	--geo) GEO=1 ;;
	--quick) QUICK=1 ;;
	--keep) KEEP=1 ;;
	*) echo "usage: $0 [--services N] [--geo] [--quick] [--keep]" >&2; exit 2 ;;
	esac
	shift
done
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
GTMD=${GTMD:-}
for c in "$GTMD" "${GTM_BINDIR:-/nonexistent}/gtm/gtmd" "$top/build/gtm/gtmd"; do
	[ -n "$c" ] && [ -x "$c" ] && { GTMD=$c; break; }
done
GTMCTL=${GTMCTL:-$(dirname "$GTMD")/gtmctl}
[ -x "$GTMD" ] && [ -x "$GTMCTL" ] || { echo "scale: set GTMD and GTMCTL" >&2; exit 2; }
STATUS_TIMEOUT=${STATUS_TIMEOUT:-60}
RATE=${RATE:-200}
DNS="$PY $here/scale-dns.py"
# shellcheck source=tests/lib/common.sh
. "$top/tests/lib/common.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gtm-scale.XXXXXX")
LOG=$WORK/gtmd.log
GPID="" LOOP=""
FAILS=0
finish() {
	[ -n "$LOOP" ] && kill "$LOOP" 2>/dev/null && wait "$LOOP" 2>/dev/null
	if [ -n "$GPID" ] && kill -0 "$GPID" 2>/dev/null; then
		kill -TERM "$GPID" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$GPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GPID" 2>/dev/null
		wait "$GPID" 2>/dev/null
	fi
	if [ "$KEEP" = 1 ]; then echo "scale: kept $WORK"; else rm -rf "$WORK"; fi
}
trap finish EXIT
trap 'exit 1' INT TERM

say() { echo "scale: $*"; }
fail() { echo "scale: FAIL: $*"; FAILS=$((FAILS + 1)); }
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
kib() { awk -v f="$2:" '$1 == f { print $2 }' /proc/"$1"/status; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ctl() { "$GTMCTL" -s "$WORK/gtmd.sock" "$@"; }
# wait_log PATTERN COUNT SECS: until PATTERN occurs COUNT times in the log.
wait_log() {
	local end=$(( $(date +%s) + $3 ))
	while [ "$(grep -c -- "$1" "$LOG")" -lt "$2" ]; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		kill -0 "$GPID" 2>/dev/null || return 1
		sleep 0.01
	done
}

geo_args=()
if [ "$GEO" = 1 ]; then
	if out=$("$top/tests/geo/fetch-real-db.sh" 2>/dev/null); then
		v4=$(echo "$out" | awk '$1 == "v4" { print $2 }')
		v6=$(echo "$out" | awk '$1 == "v6" { print $2 }')
		geo_args=(--geo "$v4" "$v6")
		say "geo $v4 $v6"
	else
		echo "scale: warning: no real GeoIP database (tests/geo/fetch-real-db.sh failed); running without" >&2
		GEO=0
	fi
fi

t0=$(now_ns)
"$PY" "$here/gen-scale.py" "$WORK" --services "$N" "${geo_args[@]}" >"$WORK/probes" || exit 1
say "config $N services, $(wc -c <"$WORK/gtm.conf") bytes, generated in $(ms_since "$t0") ms"
read -r _ PROBE SITE < <(head -n 1 "$WORK/probes")

PORT=""
for attempt in 1 2 3 4 5; do
	PORT=$(pick_port) || { echo "scale: no free port" >&2; exit 1; }
	: >"$LOG"
	t0=$(now_ns)
	"$GTMD" -c "$WORK/gtm.conf" -l "127.0.0.1:$PORT" >>"$LOG" 2>&1 &
	GPID=$!
	while kill -0 "$GPID" 2>/dev/null && ! grep -q "startup, serving" "$LOG"; do sleep 0.01; done
	grep -q "startup, serving" "$LOG" && break
	wait "$GPID"; GPID=""
	grep -qiE 'in use|bind' "$LOG" || { cat "$LOG"; echo "scale: gtmd did not start" >&2; exit 1; }
done
[ -n "$GPID" ] || { echo "scale: gtmd did not start" >&2; exit 1; }
say "startup_ms $(ms_since "$t0")"
sleep $([ "$QUICK" = 1 ] && echo 0.2 || echo 2)
say "rss_start_mib $(mib "$(kib "$GPID" VmRSS)") (VmHWM $(mib "$(kib "$GPID" VmHWM)"))"

before=$($DNS ask "$PORT" "$PROBE")
[ "$before" != timeout ] && [ "$before" != - ] || fail "no answer for $PROBE ($before)"

# The preview of a drain: how many lines a dry run prints.
t0=$(now_ns)
lines=$(ctl -t "$STATUS_TIMEOUT" --dry-run drain "$SITE" 2>&1 | wc -l)
say "drain_dry_run_ms $(ms_since "$t0") (lines $lines)"

# Drain: from the command to the first changed answer.
read -r changed cmd_ms rc b a < <($DNS change "$PORT" "$PROBE" -- "$GTMCTL" -s "$WORK/gtmd.sock" \
	-t "$STATUS_TIMEOUT" --force --reason scale drain "$SITE")
say "drain_to_answer_ms $changed (gtmctl $cmd_ms ms, rc $rc; $PROBE $b -> $a)"
[ "$changed" != timeout ] && [ "$rc" = 0 ] || fail "drain $SITE did not change the answer for $PROBE"
read -r changed cmd_ms rc b a < <($DNS change "$PORT" "$PROBE" -- "$GTMCTL" -s "$WORK/gtmd.sock" \
	-t "$STATUS_TIMEOUT" --force undrain "$SITE")
say "undrain_to_answer_ms $changed (gtmctl $cmd_ms ms, rc $rc)"
[ "$changed" != timeout ] && [ "$rc" = 0 ] || fail "undrain $SITE did not change the answer back"

# Reload under a query loop: SIGHUP until "reload, done" in the log.
rm -f "$WORK/stop"
$DNS loop "$PORT" "$PROBE" "$RATE" "$WORK/stop" >"$WORK/loop.out" &
LOOP=$!
sleep 0.5
# The peak of the reload alone: VmHWM reset to VmRSS (clear_refs 5, Linux
# 4.0+; else the figure is the peak so far, said so).
hwm_all=$(kib "$GPID" VmHWM)
rss0=$(kib "$GPID" VmRSS)
if echo 5 2>/dev/null >/proc/"$GPID"/clear_refs; then hwm_note="reset before the reload"; else
	hwm_note="peak since start: VmHWM could not be reset"; fi
say "rss_before_reload_mib $(mib "$rss0") (VmHWM so far $(mib "$hwm_all"), after the drains and the dry run)"
t0=$(now_ns)
kill -HUP "$GPID"
if wait_log "reload, done" 1 120; then
	say "reload_ms $(ms_since "$t0") (log: $(grep -E "reload, (reading|done)" "$LOG" | tail -n 2 |
		awk '{ split($1, t, /[T:Z]/); s = t[2] * 3600 + t[3] * 60 + t[4]; if (NR == 1) a = s; else printf "%.0f ms", (s - a) * 1000 }'))"
else
	fail "reload did not finish within 120 s"
	grep "reload" "$LOG" | tail -n 3
fi
sleep 0.5
touch "$WORK/stop"
wait "$LOOP"; LOOP=""
read -r sent lost maxl p99 <"$WORK/loop.out"
say "reload_queries sent $sent, lost $lost, max latency $maxl ms, p99 $p99 ms"
[ "${lost:-1}" = 0 ] && [ "${sent:-0}" -gt 0 ] || fail "queries lost during the reload ($lost of $sent)"
rss=$(kib "$GPID" VmRSS)
hwm=$(kib "$GPID" VmHWM)
say "rss_after_reload_mib $(mib "$rss") (VmHWM $(mib "$hwm"), $hwm_note; peak/before $(awk -v a="$hwm" -v b="$rss0" 'BEGIN { printf "%.2f", a / b }'))"
a=$($DNS ask "$PORT" "$PROBE")
[ "$a" = "$before" ] || fail "after the reload $PROBE answers $a, not $before"

# status, whole and filtered; and how long explain waits behind a status.
t0=$(now_ns)
ctl -t "$STATUS_TIMEOUT" status >"$WORK/status.out" 2>&1
rc=$?
say "status_ms $(ms_since "$t0") (rc $rc, $(wc -l <"$WORK/status.out") lines)"
[ "$rc" = 0 ] || fail "status failed (rc $rc): $(head -n 2 "$WORK/status.out")"
t0=$(now_ns)
ctl -t "$STATUS_TIMEOUT" --json status >/dev/null 2>&1
say "status_json_ms $(ms_since "$t0") (rc $?)"
if "$GTMCTL" --help 2>&1 | grep -q -- "--site NAME"; then
	# counts NAME FILE: "SITES CITIES SERVICES" of a status reply, and
	# whether NAME is among its sites or services.
	counts() {
		"$PY" -c 'import json, sys
r = json.load(open(sys.argv[2]))
names = [e["name"] for k in ("sites", "services") for e in r.get(k, [])]
print(len(r.get("sites", [])), len(r.get("cities", [])), len(r.get("services", [])),
      "has" if sys.argv[1] in names else "lacks")' "$1" "$2" 2>/dev/null || echo "- - - bad"
	}
	t0=$(now_ns)
	ctl -t "$STATUS_TIMEOUT" --json status --service "$PROBE" >"$WORK/status-svc.out" 2>&1
	rc=$?
	say "status_service_ms $(ms_since "$t0") (rc $rc)"
	read -r ns nc nv has < <(counts "$PROBE" "$WORK/status-svc.out")
	[ "$rc" = 0 ] && [ "$has" = has ] && [ "$nv" = 1 ] && [ "$ns" = 5 ] ||
		fail "status --service $PROBE: $ns sites, $nc cities, $nv services, $has"
	t0=$(now_ns)
	ctl -t "$STATUS_TIMEOUT" --json status --site "$SITE" >"$WORK/status-site.out" 2>&1
	rc=$?
	read -r ns nc nv has < <(counts "$SITE" "$WORK/status-site.out")
	say "status_site_ms $(ms_since "$t0") (rc $rc, $nv services)"
	[ "$rc" = 0 ] && [ "$has" = has ] && [ "$ns" = 1 ] && [ "$nc" = 1 ] && [ "$nv" -gt 0 ] ||
		fail "status --site $SITE: $ns sites, $nc cities, $nv services, $has"
fi
ctl -t "$STATUS_TIMEOUT" status >/dev/null 2>&1 &
spid=$!
sleep 0.05
t0=$(now_ns)
ctl -t "$STATUS_TIMEOUT" explain "$PROBE" 127.0.0.1 >"$WORK/explain.out" 2>&1
rc=$?
say "explain_behind_status_ms $(ms_since "$t0") (rc $rc)"
[ "$rc" = 0 ] || fail "explain failed (rc $rc)"
wait "$spid"
t0=$(now_ns)
ctl -t "$STATUS_TIMEOUT" explain "$PROBE" 127.0.0.1 >/dev/null 2>&1
say "explain_alone_ms $(ms_since "$t0")"

if sanitizer_report "$LOG" 2>/dev/null; then fail "sanitizer report in the log"; fi
kill -0 "$GPID" 2>/dev/null || fail "gtmd died"
if [ "$FAILS" -gt 0 ]; then
	echo "scale: $FAILS check(s) failed; log tail:"
	tail -n 20 "$LOG"
	exit 1
fi
say "ok"
