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
