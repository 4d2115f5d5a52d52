#!/bin/bash
# Flapping drill: gtmd's rise/fall hysteresis against packet loss on the
# probe path.
#
# One IDC, a network namespace gtm-idc1-<pid> joined to the root namespace
# by a veth pair (10.77.X.1 here, 10.77.X.2 there), running the drills'
# small HTTP backend on port 80.  gtmd (with -d, so that every probe is
# logged) probes it with the shipped check defaults -- the check has no
# timing key: interval 1 s, timeout 0.5 s, rise 2, fall 3, recheck 0.1 s,
# jitter 0.1.  Then, for each loss level (1 %, 5 %, 10 %) for DURATION
# seconds, nftables inside the IDC drops that fraction of the probe path's
# packets at random, in both directions (input: tcp dport 80, i.e. SYN,
# ACKs and the request; output: tcp sport 80, i.e. SYN-ACK, the reply and
# its FIN).  The kernel has no sch_netem, hence nftables' "numgen random".
# After each level the loss is removed and the drill waits until the
# endpoint is up again before the next.
#
# From gtmd's log it counts, per level, the probes, the failed probes and
# the endpoint's state changes (with their times), and checks:
#   - at 1 % (any level <= ZERO_AT percent) there is no state change;
#   - replaying the logged probe results through the rise/fall counter
#     gives exactly the logged changes (a down after exactly `fall`
#     consecutive failures, an up after exactly `rise` successes, none
#     missed);
#   - consecutive changes are never closer than the model allows (see
#     README.md, "The spacing rule"): up -> down at least
#     i(1-j) - t + (fall-1) r = 0.6 s apart and down -> up at least
#     i(1-j) - t + (rise-1) r = 0.5 s apart with the defaults, and each gap
#     at least the exact bound computed from the logged probe durations;
#   - gtmd kept probing (>= 0.8 probes a second) and the loss was really
#     applied (nftables drop counters, where >= 20 drops are expected).
# Prints a table: loss, duration, probes, failed probes, state changes,
# min spacing between changes, verdict.
#
# Usage: flap.sh [--quick | --full] [--keep] | --analyse DIR
#   --full   (default) 1 %, 5 %, 10 % for DURATION = 300 s each, ~16 min
#   --quick  DURATION = 20 s (~65 s in all); same checks (zero changes at
#            1 % is sound for 20 s as for 300 s, see README.md); the ctest
#            case drill_flap (DRILL_MODE=quick)
#   --keep   keep the work directory (gtm.conf, gtmd.log, levels, changes)
#   --analyse DIR  only redo the analysis of a kept work directory
# Environment: GTMD (the binary), GTM_BINDIR, DRILL_MODE=quick|full,
# DURATION=S (seconds per level), LEVELS="1 5 10" (percent, decimals
# allowed, 0.1 % steps), LOSS_DIR=both|in|out (which direction drops;
# default both), ZERO_AT=1 (levels at or below this percent must show no
# change), GTMD_ARGS (default -d; the analysis needs -d), VERBOSE=1.
#
# Needs root (ip netns, nft); exits 77 (skip) without it.  Traffic stays on
# loopback and on the drill's own veth pair; an EXIT trap removes every
# namespace, veth and process the drill made, on success or failure.
set -u

ME=flap.sh
NIDC=1
# shellcheck source=tests/drill/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
MODE=${DRILL_MODE:-full}

ANALYSE=""
while [ $# -gt 0 ]; do
	arg=$1; shift
	case $arg in
	--quick) MODE=quick ;;
	--full) MODE=full ;;
	--keep) KEEP=1 ;;
	--analyse) ANALYSE=${1:-}; shift || true
		[ -s "$ANALYSE/levels" ] && [ -s "$ANALYSE/gtmd.log" ] ||
			{ echo "$ME: --analyse needs a kept work directory (levels, gtmd.log)" >&2; exit 2; } ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "$ME: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
	esac
done
case $MODE in
quick) DURATION=${DURATION:-20} SETTLE=1 ;;
full) DURATION=${DURATION:-300} SETTLE=2 ;;
*) echo "$ME: bad DRILL_MODE '$MODE'" >&2; exit 2 ;;
esac
LEVELS=${LEVELS:-1 5 10}
LOSS_DIR=${LOSS_DIR:-both}
ZERO_AT=${ZERO_AT:-1}
GTMD_ARGS=${GTMD_ARGS:--d}
case $DURATION in ''|*[!0-9]*) echo "$ME: DURATION must be whole seconds" >&2; exit 2 ;; esac
[ "$DURATION" -ge 5 ] && [ "$DURATION" -le 3600 ] || { echo "$ME: DURATION must be 5..3600" >&2; exit 2; }
case $LOSS_DIR in both|in|out) ;; *) echo "$ME: LOSS_DIR must be both, in or out" >&2; exit 2 ;; esac
for l in $LEVELS; do
	awk -v l="$l" 'BEGIN { exit !(l ~ /^[0-9]+(\.[0-9])?$/ && l + 0 <= 100) }' ||
		{ echo "$ME: bad loss level '$l' (percent, 0..100, one decimal)" >&2; exit 2; }
done

# The shipped check defaults (docs/gtm.conf.md); the config sets none of
# them, these only feed the analysis.
INTERVAL=1.0 TIMEOUT=0.5 RISE=2 FALL=3 RECHECK=0.1 JITTER=0.1

if [ -n "$ANALYSE" ]; then
	# the levels' own durations, not the mode's
	DURATION=$(awk '{ d = $3 - $2; if (!n++ || d < m) m = d } END { printf "%d", m + 0.5 }' "$ANALYSE/levels")
	WORK=$ANALYSE
fi

[ -n "$ANALYSE" ] || drill_init "--$MODE"
exec 7<> <(:)   # a pipe nobody writes: read -t on it is a sleep without a fork
nap() { read -r -t "$1" -u 7 _; }

# ------------------------------------------------------------ gtmd

# write_conf PROFILE: one service, one site, one endpoint (the IDC), one
# http check with no timing key (the shipped defaults).
write_conf() {
	cat >"$WORK/gtm.conf.tmp" <<EOF
# generated by tests/drill/flap.sh (check defaults)
server = { listen = [ "127.0.0.1:$PORT" ]; workers = 1; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
cities = ( { name = "beijing"; lat = 39.9; lon = 116.4; } );
sites = ( { name = "bj-a"; city = "beijing"; } );
checks = (
  { name = "web"; type = "http"; port = 80; path = "/health"; expect = [ 200 ]; }
);
health = { unknown = "$UNKNOWN"; };
services = (
  { name = "www.example.com"; policy = "failover"; order = [ "bj-a" ];
    ttl = 5; answer = "all"; check = "web";
    endpoints = ( { site = "bj-a"; addresses = [ "${ADDR[0]}" ]; } ); }
);
EOF
	mv "$WORK/gtm.conf.tmp" "$WORK/gtm.conf"
}

# endpoint_state: the state of gtmd's last logged transition ("" if none).
endpoint_state() {
	grep -E '^[0-9TZ:.-]+ gtmd\[[a-z]+\]: check web, .*, state [a-z]+ -> [a-z]+ \(' "$WORK/gtmd.log" |
		tail -n 1 | sed -E 's/.*, state [a-z]+ -> ([a-z]+) \(.*/\1/'
}

# wait_up SECONDS: until gtmd's log says the endpoint is up.
wait_up() {
	local n=$(( $1 * 10 ))
	for _ in $(seq 1 "$n"); do
		[ "$(endpoint_state)" = up ] && return 0
		kill -0 "$GTMD_PID" 2>/dev/null || die "gtmd died"
		nap 0.1
	done
	return 1
}

# ------------------------------------------------------------ loss

NSX() { ip netns exec "${NS[0]}" "$@"; }

# loss_on PERMILLE: drop that many packets in a thousand of the probe path
# (each direction in LOSS_DIR), counting every packet and every drop.
loss_on() {
	local pm=$1
	loss_off
	if [ "$LOSS_DIR" != out ]; then
		NSX nft add rule inet gtm input tcp dport 80 counter &&
		NSX nft add rule inet gtm input tcp dport 80 numgen random mod 1000 '<' "$pm" counter drop ||
			die "nft input rules failed"
	fi
	if [ "$LOSS_DIR" != in ]; then
		NSX nft add rule inet gtm output tcp sport 80 counter &&
		NSX nft add rule inet gtm output tcp sport 80 numgen random mod 1000 '<' "$pm" counter drop ||
			die "nft output rules failed"
	fi
}
loss_off() { NSX nft flush chain inet gtm input && NSX nft flush chain inet gtm output; }

# loss_counters: "packets drops" of the probe path (both chains) so far.
loss_counters() {
	NSX nft list table inet gtm | awk '
		/tcp (d|s)port 80 counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") p += $(i + 1) }
		/numgen random .* counter packets .* drop/ { for (i = 1; i <= NF; i++) if ($i == "packets") d += $(i + 1) }
		END { print p + 0, d + 0 }'
}

# ------------------------------------------------------------ analysis

# analyse: reads gtmd.log and the level windows, prints the table and the
# changes, writes FAILED=N to $WORK/verdict.
analyse() {
	"$PY" - "$WORK/gtmd.log" "$WORK/levels" "$WORK/changes.log" "$WORK/verdict" \
		"$INTERVAL" "$TIMEOUT" "$RISE" "$FALL" "$RECHECK" "$JITTER" "$ZERO_AT" "$LOSS_DIR" "$DURATION" <<'EOF'
import datetime, re, sys

logf, levelsf, changesf, verdictf = sys.argv[1:5]
i, t, R, F, r, j, zero_at = (float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]),
                              int(sys.argv[8]), float(sys.argv[9]), float(sys.argv[10]),
                              float(sys.argv[11]))
loss_dir = sys.argv[12]
duration = int(sys.argv[13])
TOL = 0.005   # ms log stamps and ms latencies, truncated: a few ms either way

stamp = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z gtmd\[\w+\]: (.*)$")
probe_re = re.compile(r"^check web, (\S+), probe (.*) \((\d+) ms, health (\d+), next in (\d+) ms\)$")
change_re = re.compile(r"^check web, (.*) \(([^()]*)\), state (\w+) -> (\w+) \((.*), (\d+) ms\)$")

def epoch(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()

probes = []    # (time, ok, latency_s, health)
changes = []   # (time, from, to, reason, index of the deciding probe)
for line in open(logf, errors="replace"):
    m = stamp.match(line.rstrip("\n"))
    if not m:
        continue
    ts, msg = epoch(m.group(1)), m.group(2)
    p = probe_re.match(msg)
    if p:
        probes.append((ts, p.group(2) == "ok", int(p.group(3)) / 1000.0, int(p.group(4)), p.group(2)))
        continue
    c = change_re.match(msg)
    if c:
        # logged right after the probe that decided it
        changes.append((ts, c.group(3), c.group(4), c.group(5), len(probes) - 1))

levels = []
for line in open(levelsf):
    pct, t0, t1, tend, pk, dr = line.split()
    levels.append((pct, float(t0), float(t1), float(tend), int(pk), int(dr)))

fails = []
bad_times = set()   # changes that broke the spacing rule
def fail(msg):
    fails.append(msg)
    print("   FAIL: " + msg)

if not probes:
    fail("no probe lines in gtmd's log (is gtmd run with -d?)")

# 1. Replay: the HAProxy counter over the logged results must give exactly
# the logged changes.  Start from the first logged change (unknown -> up).
top = R + F - 1
if changes and probes:
    k0 = changes[0][4]
    state = changes[0][2]
    h = top if state == "up" else 0
    predicted = []
    for k in range(k0 + 1, len(probes)):
        ok = probes[k][1]
        if ok:
            if h < top:
                h += 1
                if h >= R:
                    h = top
            if h >= R and state != "up":
                state = "up"; predicted.append((k, "up"))
        else:
            if h > R:
                h -= 1
            else:
                h = 0
                if state != "down":
                    state = "down"; predicted.append((k, "down"))
        if h != probes[k][3]:
            fail("replay: probe at %.3f: counter %d, gtmd logged %d" % (probes[k][0], h, probes[k][3]))
            break
    logged = [(c[4], c[2]) for c in changes[1:]]
    if predicted != logged:
        fail("replay: the rise/fall counter gives changes %s, gtmd logged %s" % (predicted, logged))

# 2. Spacing.  A change is decided at the end of a probe; right after it the
# counter is settled, so the next probe starts one jittered interval after
# that probe *started*: >= i(1-j) - d_prev after the change (d_prev its
# duration, <= t).  The next change needs n = fall failures (down) or
# rise successes (up) in a row, rechecked r after each ends:
#   gap >= i(1-j) - d_prev + (n-1) r + sum of those n probes' durations
# and, whatever the durations, gap >= i(1-j) - t + (n-1) r.
generic = {"down": i * (1 - j) - t + (F - 1) * r, "up": i * (1 - j) - t + (R - 1) * r}
rows = []
for idx in range(1, len(changes)):
    prev, cur = changes[idx - 1], changes[idx]
    gap = cur[0] - prev[0]
    n = F if cur[2] == "down" else R
    k = cur[4]
    d_prev = probes[prev[4]][2] if prev[4] >= 0 else 0.0
    run = sum(probes[q][2] for q in range(max(0, k - n + 1), k + 1))
    exact = i * (1 - j) - d_prev + (n - 1) * r + run
    rows.append((cur, prev, gap, exact))
    if cur[2] not in generic:
        continue
    if gap + TOL < generic[cur[2]]:
        bad_times.add(cur[0])
        fail("%s -> %s at %.3f only %.3f s after the previous change (model minimum %.3f s)"
             % (cur[1], cur[2], cur[0], gap, generic[cur[2]]))
    elif gap + TOL < exact:
        bad_times.add(cur[0])
        fail("%s -> %s at %.3f only %.3f s after the previous change (minimum %.3f s from the probe durations)"
             % (cur[1], cur[2], cur[0], gap, exact))

with open(changesf, "w") as f:
    f.write("# time(UTC) from -> to, reason, gap to the previous change, exact lower bound\n")
    for c in changes:
        g = [x for x in rows if x[0] is c]
        f.write("%s %s -> %s (%s)%s\n" % (
            datetime.datetime.fromtimestamp(c[0], datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3],
            c[1], c[2], c[3], "  gap %.3f s >= %.3f s" % (g[0][2], g[0][3]) if g else ""))

# 3. Per level: probes that ended while the loss was on ([t0, t1]); changes
# from loss on to the start of the next level (the recovery after the loss
# is removed counts as this level's change).
print("")
print("loss on the probe path (%s), check defaults: interval %g s, timeout %g s, rise %d, fall %d, recheck %g s, jitter %g"
      % ({"both": "both directions", "in": "to the backend only", "out": "from the backend only"}[loss_dir],
         i, t, R, F, r, j))
print("minimum spacing (model): up->down %.3f s, down->up %.3f s (README.md, 'The spacing rule')"
      % (generic["down"], generic["up"]))
hdr = "%-6s %8s %7s %14s %15s %8s %12s  %s" % ("loss", "duration", "probes", "failed probes",
                                                 "dropped/pkts", "changes", "min spacing", "verdict")
print(hdr)
for pct, t0, t1, tend, pk, dr in levels:
    lp = [p for p in probes if t0 <= p[0] <= t1]
    lf = sum(1 for p in lp if not p[1])
    lc = [c for c in changes if t0 <= c[0] < tend]
    gaps = [x[2] for x in rows if t0 <= x[0][0] < tend and t0 <= x[1][0]]
    bad = []
    dur = t1 - t0
    if float(pct) <= zero_at and lc:
        bad.append("%d state changes at %s %% (expected none)" % (len(lc), pct))
    if len(lp) < 0.8 * dur / i:
        bad.append("only %d probes in %.0f s" % (len(lp), dur))
    if dur < duration - 0.5:
        bad.append("the loss lasted %.1f s, not %d s" % (dur, duration))
    if pk * float(pct) / 100 >= 20 and dr == 0:
        bad.append("no packet dropped of %d (expected ~%.0f)" % (pk, pk * float(pct) / 100))
    if any(c[0] in bad_times for c in lc):
        bad.append("changes closer than the rise/fall model allows (above)")
    for b in bad:
        fail("%s %%: %s" % (pct, b))
    verdict = "FAIL" if bad else "PASS"
    print("%-6s %7.0fs %7d %6d (%4.1f%%) %7d/%-7d %8d %12s  %s" % (
        pct + "%", dur, len(lp), lf, 100.0 * lf / len(lp) if lp else 0, dr, pk, len(lc),
        "%.3f s" % min(gaps) if gaps else "-", verdict))
    for c in lc:
        print("         %s %s -> %s (%s)" % (
            datetime.datetime.fromtimestamp(c[0], datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3],
            c[1], c[2], c[3]))
if rows:
    print("all gaps between consecutive changes: min %.3f s (up->down min %s, down->up min %s)" % (
        min(x[2] for x in rows),
        "%.3f s" % min(x[2] for x in rows if x[0][2] == "down") if any(x[0][2] == "down" for x in rows) else "-",
        "%.3f s" % min(x[2] for x in rows if x[0][2] == "up") if any(x[0][2] == "up" for x in rows) else "-"))
lat = sorted(p[2] for p in probes if p[1])
reasons = {}
for p in probes:
    if not p[1]:
        reasons[p[4]] = reasons.get(p[4], 0) + 1
if lat:
    print("successful probes (whole run): median %.0f ms, max %.0f ms; failed probes by reason: %s" % (
        1000 * lat[len(lat) // 2], 1000 * lat[-1],
        ", ".join("%s %d" % kv for kv in sorted(reasons.items())) or "none"))
with open(verdictf, "w") as f:
    f.write("%d\n" % len(fails))
EOF
}

# ------------------------------------------------------------ main

if [ -n "$ANALYSE" ]; then
	analyse
	FAILED=$(cat "$WORK/verdict" 2>/dev/null || echo 1)
	[ "$FAILED" -eq 0 ] || { echo "$ME: $FAILED check(s) FAILED"; exit 1; }
	echo "$ME: all checks passed"
	exit 0
fi

drill_can_netns
T_START=$SECONDS
setup_net
NSX nft add chain inet gtm output '{ type filter hook output priority 0; policy accept; }' ||
	die "nftables output chain in ${NS[0]} failed"
backend_start 0
http_ok 0 || die "the backend at ${ADDR[0]} does not answer /health from the root namespace"

UNKNOWN=up
say "gtmd $GTMD, probing ${ADDR[0]}:80 with the check defaults; loss $LEVELS % ($LOSS_DIR directions), ${DURATION} s each"
start_gtmd defaults
wait_up 10 || die "the endpoint is not up 10 s after gtmd started (state '$(endpoint_state)')"
nap "$SETTLE"

: >"$WORK/levels"
for pct in $LEVELS; do
	pm=$(awk -v l="$pct" 'BEGIN { printf "%d", l * 10 + 0.5 }')
	wait_up 30 || die "the endpoint is not up before the $pct % level (state '$(endpoint_state)')"
	t0=$EPOCHREALTIME
	loss_on "$pm"
	end=$(awk -v a="$t0" -v d="$DURATION" 'BEGIN { printf "%.6f", a + d }')
	next_report=$((SECONDS + 60))
	# bounded: DURATION seconds in naps of <= 1 s
	for _ in $(seq 1 $((DURATION * 2 + 10))); do
		left=$(awk -v e="$end" -v n="$EPOCHREALTIME" 'BEGIN { d = e - n; printf "%.3f", (d > 1 ? 1 : d) }')
		awk -v d="$left" 'BEGIN { exit !(d <= 0) }' && break
		nap "$left"
		kill -0 "$GTMD_PID" 2>/dev/null || die "gtmd died during the $pct % level"
		if [ "$SECONDS" -ge "$next_report" ]; then
			next_report=$((SECONDS + 60))
			say "   $pct %: $(awk -v a="$t0" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.0f", n - a }') s, counters (packets drops) $(loss_counters), state $(endpoint_state)"
		fi
	done
	read -r pk dr < <(loss_counters)
	t1=$EPOCHREALTIME
	loss_off
	say "   $pct %: loss off after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s: $dr of $pk packets dropped, state $(endpoint_state)"
	# the recovery (if down) belongs to this level; then a quiet SETTLE s
	wait_up 30 || die "the endpoint is not up 30 s after the $pct % level (state '$(endpoint_state)')"
	nap "$SETTLE"
	echo "$pct $t0 $t1 $EPOCHREALTIME $pk $dr" >>"$WORK/levels"
done
stop_gtmd

analyse
FAILED=$(cat "$WORK/verdict" 2>/dev/null || echo 1)
say "elapsed $((SECONDS - T_START)) s; changes and their gaps: $WORK/changes.log${KEEP:+ (kept)}"
if [ "$FAILED" -gt 0 ]; then
	echo "$ME: $FAILED check(s) FAILED"
	[ -n "$VERBOSE" ] && grep -E 'state [a-z]+ -> ' "$WORK/gtmd.log" | tail -n 20
	exit 1
fi
echo "$ME: all checks passed"
exit 0
