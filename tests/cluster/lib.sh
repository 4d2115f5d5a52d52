# tests/cluster/lib.sh -- what the cluster tests share (drill.sh, tls.sh):
# prerequisites, gtmd and gtmctl, the work directory, free ports and the
# reporting.  Sourced, not run; the sourcing script sets ME first.
# shellcheck shell=bash
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
PASS=0 FAIL=0
# shellcheck source=tests/lib/common.sh
. "$HERE/../lib/common.sh"

skip() { echo "$ME: SKIP: $*"; exit 77; }
say() { echo "$*"; }
vsay() { [ -n "${VERBOSE:-}" ] && echo "   $*"; return 0; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }

# cluster_init TOOL...: skips (exit 77) when a tool is missing, finds gtmd
# and gtmctl (GTMD, GTMCTL, else the build tree) and makes $WORK.
cluster_init() {
	local tool c
	for tool in "$@" "$PY"; do
		command -v "$tool" >/dev/null 2>&1 || skip "$tool is missing (packaging/deps.sh test installs it)"
	done
	if [ -z "${GTMD:-}" ]; then
		for c in "${GTM_BINDIR:-/nonexistent}/gtm/gtmd" "$TOP/build/gtm/gtmd"; do
			[ -x "$c" ] && { GTMD=$c; break; }
		done
	fi
	[ -n "${GTMD:-}" ] && [ -x "$GTMD" ] || { echo "$ME: gtmd not found (set GTMD)" >&2; exit 1; }
	GTMCTL=${GTMCTL:-$(dirname "$GTMD")/gtmctl}
	[ -x "$GTMCTL" ] || { echo "$ME: gtmctl not found next to gtmd" >&2; exit 1; }
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/gtm-cluster.XXXXXX")
}

# free_ports N: N distinct ports free for TCP and UDP now (pick_port).
free_ports() {
	local out=() p
	while [ ${#out[@]} -lt "$1" ]; do
		p=$(pick_port) || return 1
		[[ " ${out[*]} " == *" $p "* ]] || out+=("$p")
	done
	echo "${out[*]}"
}

# sanitizer_check LOG WHAT: a failure when LOG holds a sanitizer or
# assertion report.
sanitizer_check() {
	if sanitizer_report "$1"; then
		fail "sanitizer or assertion report in $2's log"
	fi
}
