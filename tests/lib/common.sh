# tests/lib/common.sh -- the helpers every shell harness shares
# (tests/integration/lib.sh, tests/metrics/lib.sh, tests/drill/lib.sh,
# tests/cluster/lib.sh).  Sourced, not run.  Expects PY (python3) set and,
# for t/ok, the counters PASS and CASE of the sourcing harness.
# shellcheck shell=bash

# t NAME: starts a case; messages name it.
t() {
	CASE=$*
	[ -n "${VERBOSE:-}" ] && echo "== $CASE"
	return 0
}

# ok MSG: a check that passed (printed with VERBOSE=1).
ok() {
	PASS=$((PASS + 1))
	[ -n "${VERBOSE:-}" ] && echo "   ok: $*"
	return 0
}

# pick_port: a port in 20000..31999 (below the kernel's ephemeral range, so
# clients' own source ports never collide) that is free for both UDP and
# TCP on 127.0.0.1 right now.
pick_port() {
	local p i
	for i in $(seq 1 20); do
		p=$((20000 + RANDOM % 12000))
		if "$PY" - "$p" <<'PYEOF' 2>/dev/null; then echo "$p"; return 0; fi
import socket, sys
p = int(sys.argv[1])
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", p))
    s.close()
PYEOF
	done
	return 1
}

# sanitizer_report LOG: true when LOG holds a sanitizer or assertion report
# (printed, first 40 lines).
sanitizer_report() {
	grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|assertion failed' "$1" || return 1
	grep -E -A20 'AddressSanitizer|LeakSanitizer|runtime error:|assertion failed' "$1" | head -40
	return 0
}

# reserve_port: a port (20000..31999) that stays refused for as long as the
# calling script runs: a helper holds a TCP socket bound to it on every
# address without listening (a connection gets RST) and without
# SO_REUSEADDR, so no other test can bind it meanwhile.  For "a dead
# backend": a port that is merely free now may be taken by a test running
# beside this one.
reserve_port() {
	local f i
	f=$(mktemp "${TMPDIR:-/tmp}/gtm-port.XXXXXX")
	"$PY" - "$f" "$$" >/dev/null 2>&1 <<'PYEOF' &
import os, random, socket, sys, time
path, owner = sys.argv[1], int(sys.argv[2])
for _ in range(100):
    p = random.randint(20000, 31999)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("0.0.0.0", p))
        u.bind(("0.0.0.0", p))
    except OSError:
        t.close(); u.close()
        continue
    with open(path + ".tmp", "w") as f:
        f.write(str(p))
    os.rename(path + ".tmp", path)
    break
while True:
    try:
        os.kill(owner, 0)
    except OSError:
        break
    time.sleep(0.5)
PYEOF
	for i in $(seq 1 100); do
		[ -s "$f" ] && break
		sleep 0.02
	done
	local port
	port=$(cat "$f")
	rm -f "$f"
	[ -n "$port" ] || return 1
	echo "$port"
}
