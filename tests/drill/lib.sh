# tests/drill/lib.sh -- the plumbing shared by the drills (failover.sh,
# flap.sh): prerequisites, the work directory, the clean-up trap, the IDC
# namespaces and veths, the HTTP backends, gtmd start and stop.  Sourced,
# not run.  The sourcing script sets, before calling drill_init:
#   ME      its name, for messages
#   NIDC    how many IDCs (namespaces) setup_net makes (1..3)
# and defines write_conf PROFILE (the gtm.conf for start_gtmd; it may use
# $WORK, $PORT, $UNKNOWN, ${ADDR[@]}).  It may define drill_cleanup_hook,
# called first by the EXIT trap (e.g. to stop a poller).
#
# Names: namespaces gtm-idcN-<pid>, veths gtmhN-<pid> (root side) and
# gtmnN-<pid> (inside), 10.77.X.1 / 10.77.X.2 with X chosen under
# /run/lock/gtm-drill.lock among blocks no other interface holds, so drills
# run side by side.  Each namespace has an nftables table "inet gtm" with
# an "input" chain (policy accept) for the drill's rules.
# shellcheck shell=bash
# shellcheck disable=SC2034 # READY_T, START_T, UP_T are read by the sourcing script

DRILL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$DRILL_DIR/../.." && pwd)
PY=/usr/bin/python3
# shellcheck source=tests/lib/common.sh
. "$DRILL_DIR/../lib/common.sh"
KEEP=${KEEP_WORK:-}
VERBOSE=${VERBOSE:-}
NIDC=${NIDC:-3}

skip() { echo "$ME: SKIP: $*"; exit 77; }
die() { echo "$ME: ERROR: $*" >&2; [ -n "${WORK:-}" ] && [ -s "$WORK/gtmd.log" ] &&
	{ echo "--- gtmd log (last 30 lines) ---" >&2; tail -n 30 "$WORK/gtmd.log" >&2; }; exit 1; }
say() { echo "$*"; }
vsay() { [ -n "$VERBOSE" ] && echo "   $*"; return 0; }

# ------------------------------------------------------------ prerequisites

# drill_init HINT: checks the prerequisites (skip, exit 77, without root or
# a tool; HINT is the option to suggest with sudo), finds gtmd, makes the
# work directory and sets the clean-up trap.  Then drill_can_netns, setup_net.
drill_init() {
	local hint=${1:-} tool c
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and nftables); run: sudo $0${hint:+ $hint}"
	for tool in ip nft kdig "$PY" flock awk; do
		command -v "$tool" >/dev/null 2>&1 || {
			case $tool in
			nft) skip "nft is missing (apt-get install nftables)" ;;
			kdig) skip "kdig is missing (apt-get install knot-dnsutils)" ;;
			*) skip "$tool is missing" ;;
			esac
		}
	done
	[ -n "${EPOCHREALTIME:-}" ] || die "bash without \$EPOCHREALTIME (needs bash >= 5)"

	if [ -z "${GTMD:-}" ]; then
		for c in "${GTM_BINDIR:-/nonexistent}/gtm/gtmd" /tmp/build-drill/gtm/gtmd "$TOP/build/gtm/gtmd"; do
			if [ -x "$c" ]; then GTMD=$c; break; fi
		done
	fi
	[ -n "${GTMD:-}" ] && [ -x "$GTMD" ] || die "gtmd binary not found (set GTMD)"

	ID=$$
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/gtm-drill.XXXXXX")
	NS=() VH=() VN=() ADDR=() GW=() BPID=()
	GTMD_PID="" PORT=""
	: >"$WORK/gtmd.log"
	trap cleanup EXIT
	trap 'echo "$ME: interrupted"; exit 130' INT TERM
	write_backend_py
	write_zone
}

# drill_can_netns: skips (77) where namespaces cannot be made.
drill_can_netns() {
	if ! ip netns add "gtm-probe-$ID" 2>/dev/null; then
		skip "cannot create network namespaces here (ip netns add failed)"
	fi
	ip netns del "gtm-probe-$ID"
}

# ------------------------------------------------------------ cleanup

cleanup() {
	local rc=$? i p
	trap - EXIT INT TERM
	exec 2>/dev/null   # no "Killed" job notices
	declare -F drill_cleanup_hook >/dev/null && drill_cleanup_hook
	stop_gtmd
	for i in "${!NS[@]}"; do
		[ -n "${BPID[$i]:-}" ] && kill -KILL "${BPID[$i]}" 2>/dev/null
		if ip netns list 2>/dev/null | grep -qw "${NS[$i]}"; then
			# anything still running inside our own namespace is ours
			for p in $(ip netns pids "${NS[$i]}" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
			ip netns del "${NS[$i]}" 2>/dev/null
		fi
		ip link del "${VH[$i]}" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "$KEEP" ]; then echo "$ME: work dir kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}

# If the drill is SIGKILLed (a ctest timeout), the kernel kills gtmd and the
# backends with it (they are exec'd, so $! stays their pid) ...
DEATHSIG=""
command -v setpriv >/dev/null 2>&1 && DEATHSIG="setpriv --pdeathsig KILL --"

# ... and the next drill removes the namespaces such a drill left behind:
# gtm-idcN-PID where no process PID runs any more.
sweep_stale() {
	local ns pid p
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^gtm-idc[0-9]+-[0-9]+$'); do
		pid=${ns##*-}
		[ "$pid" = "$ID" ] && continue
		kill -0 "$pid" 2>/dev/null && continue
		echo "$ME: removing $ns, left behind by drill $pid"
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
		# the kernel dismantles a namespace (and its veths) asynchronously
		for p in $(seq 1 40); do
			ip -o link show 2>/dev/null | grep -q "gtmh[0-9]*-${pid}[@:]" || break
			sleep 0.05
		done
	done
}

# ------------------------------------------------------------ network

# The namespaces and veths.  Names carry the pid; the subnets 10.77.X.0/24
# are chosen under a lock among those no other interface of the root
# namespace holds, so parallel drills neither clash nor share routes.
setup_net() {
	local base b i x used
	exec 9>/run/lock/gtm-drill.lock || die "cannot open /run/lock/gtm-drill.lock"
	flock -w 30 9 || die "another drill holds /run/lock/gtm-drill.lock for 30 s"
	sweep_stale
	used=$(ip -4 -o addr show | awk '{ print $4 }'; ip -4 route show | awk '{ print $1 }')
	base=""
	for b in $(seq 0 4 248); do
		for x in $(seq $((b + 1)) $((b + NIDC))); do
			echo "$used" | grep -q "^10\.77\.$x\." && continue 2
		done
		base=$b; break
	done
	[ -n "$base" ] || die "no free 10.77.X.0/24 subnets"
	for i in $(seq 0 $((NIDC - 1))); do
		x=$((base + i + 1))
		NS[$i]=gtm-idc$((i + 1))-$ID
		VH[$i]=gtmh$((i + 1))-$ID   # <= 15 characters for a pid <= 9999999
		VN[$i]=gtmn$((i + 1))-$ID
		GW[$i]=10.77.$x.1
		ADDR[$i]=10.77.$x.2
		ip netns add "${NS[$i]}" || die "ip netns add ${NS[$i]} failed"
		ip link add "${VH[$i]}" type veth peer name "${VN[$i]}" netns "${NS[$i]}" ||
			die "veth ${VH[$i]} failed"
		# no IPv6 on the pair: no router solicitations, DAD or MLD noise
		sysctl -qw "net.ipv6.conf.${VH[$i]}.disable_ipv6=1" 2>/dev/null
		ip netns exec "${NS[$i]}" sysctl -qw "net.ipv6.conf.all.disable_ipv6=1" 2>/dev/null
		ip addr add "${GW[$i]}/24" dev "${VH[$i]}" || die "address on ${VH[$i]} failed"
		ip link set "${VH[$i]}" up
		ip -n "${NS[$i]}" link set lo up
		ip -n "${NS[$i]}" addr add "${ADDR[$i]}/24" dev "${VN[$i]}"
		ip -n "${NS[$i]}" link set "${VN[$i]}" up
		ip netns exec "${NS[$i]}" nft add table inet gtm &&
		ip netns exec "${NS[$i]}" nft add chain inet gtm input \
			'{ type filter hook input priority 0; policy accept; }' ||
			die "nftables in ${NS[$i]} failed"
	done
	flock -u 9; exec 9>&-
	say "network: ${NS[*]} at ${ADDR[*]}"
}

blackhole() { ip netns exec "${NS[$1]}" nft add rule inet gtm input iifname "${VN[$1]}" drop; }
unblackhole() { ip netns exec "${NS[$1]}" nft flush chain inet gtm input; }

# ------------------------------------------------------------ backends

write_backend_py() {
cat >"$WORK/backend.py" <<'EOF'
# IDC backend: /health -> 200 "ok", anything else -> 404.  Writes the time
# it started listening (CLOCK_REALTIME, like bash's EPOCHREALTIME) to argv[3].
import http.server, sys, time

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def reply(self, body):
        code = 200 if self.path.split("?")[0] == "/health" else 404
        data = b"ok\n" if code == 200 else b"not found\n"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(data)
    def do_GET(self): self.reply(True)
    def do_HEAD(self): self.reply(False)
    def log_message(self, *args): pass

class S(http.server.HTTPServer):
    allow_reuse_address = True
    request_queue_size = 64

s = S((sys.argv[1], int(sys.argv[2])), H)
with open(sys.argv[3] + ".tmp", "w") as f:
    f.write("%.6f\n" % time.time())
import os
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
s.serve_forever()
EOF

# backend_start I: starts IDC I's backend (ip netns exec execs python, so $!
# is the backend itself); waits (<= 5 s) until it listens.  Sets READY_T, the
}

# time it started listening.
backend_start() {
	local i=$1
	rm -f "$WORK/ready$i"
	$DEATHSIG ip netns exec "${NS[$i]}" "$PY" -u "$WORK/backend.py" "${ADDR[$i]}" 80 "$WORK/ready$i" \
		>>"$WORK/backend$i.log" 2>&1 &
	BPID[$i]=$!
	for _ in $(seq 1 500); do
		[ -s "$WORK/ready$i" ] && { READY_T=$(cat "$WORK/ready$i"); return 0; }
		kill -0 "${BPID[$i]}" 2>/dev/null || break
		sleep 0.01
	done
	die "backend of IDC $((i + 1)) did not start (see $WORK/backend$i.log)"
}

backend_kill() {
	kill -KILL "${BPID[$1]}" 2>/dev/null
	wait "${BPID[$1]}" 2>/dev/null
	BPID[$1]=""
}

# http_ok I: the backend answers /health from the root namespace.
http_ok() {
	"$PY" - "${ADDR[$1]}" <<'EOF' 2>/dev/null
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], 80, timeout=1)
c.request("GET", "/health")
sys.exit(0 if c.getresponse().status == 200 else 1)
EOF
}

# tcp_state I: "open", "refused" or "timeout" (0.5 s) for IDC I's port 80.
tcp_state() {
	"$PY" - "${ADDR[$1]}" <<'EOF2' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(0.5)
try:
    s.connect((sys.argv[1], 80)); print("open")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("error-%d" % e.errno)
EOF2
}

# ------------------------------------------------------------ gtmd

# pick_port: tests/lib/common.sh.

write_zone() {
cat >"$WORK/example.com.zone" <<'EOF'
$ORIGIN example.com.
$TTL 3600
@   IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300
@   IN NS  ns1.example.com.
ns1 IN A   192.0.2.1
EOF
}

stop_gtmd() {
	local i
	[ -n "$GTMD_PID" ] || return 0
	kill -TERM "$GTMD_PID" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$GTMD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$GTMD_PID" 2>/dev/null
	wait "$GTMD_PID" 2>/dev/null
	GTMD_PID=""
}

dig1() { kdig @127.0.0.1 -p "$PORT" +short +timeout=1 +retry=0 "$@"; }

# start_gtmd PROFILE [keep]: a gtmd on a random port, with a fresh state file
# unless "keep".  Sets START_T (just before the launch) and UP_T (the first
# answer).
UNKNOWN=up
start_gtmd() {
	local profile=$1 off
	[ "${2:-}" = keep ] || rm -f "$WORK/health.state"
	for _ in 1 2 3 4 5; do
		PORT=$(pick_port) || die "no free port"
		write_conf "$profile"
		"$GTMD" -t -c "$WORK/gtm.conf" >"$WORK/check.out" 2>&1 ||
			{ cat "$WORK/check.out" >&2; die "gtmd -t refuses the $profile configuration ($WORK/gtm.conf)"; }
		off=$(stat -c %s "$WORK/gtmd.log")
		echo "=== gtmd, profile $profile, port $PORT, unknown $UNKNOWN" >>"$WORK/gtmd.log"
		START_T=$EPOCHREALTIME
		# shellcheck disable=SC2086 # GTMD_ARGS is a list
		$DEATHSIG "$GTMD" -c "$WORK/gtm.conf" ${GTMD_ARGS:-} >>"$WORK/gtmd.log" 2>&1 &
		GTMD_PID=$!
		for _ in $(seq 1 100); do
			kill -0 "$GTMD_PID" 2>/dev/null || break
			dig1 example.com SOA 2>/dev/null | grep -q hostmaster && break
			sleep 0.05
		done
		if kill -0 "$GTMD_PID" 2>/dev/null; then
			dig1 example.com SOA 2>/dev/null | grep -q hostmaster ||
				die "gtmd does not answer on 127.0.0.1:$PORT within 5 s"
			UP_T=$EPOCHREALTIME
			# SO_REUSEPORT would let a stranger share the port silently
			if ss -Hlnup "( sport = :$PORT )" 2>/dev/null | grep -v "pid=$GTMD_PID," | grep -q .; then
				stop_gtmd; continue
			fi
			return 0
		fi
		wait "$GTMD_PID"; GTMD_PID=""
		tail -c +$((off + 1)) "$WORK/gtmd.log" | grep -qiE 'in use|bind' && continue
		die "gtmd exited at start-up"
	done
	die "could not start gtmd on a free port"
}
