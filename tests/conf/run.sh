#!/bin/bash
# Config check goldens (NSD checkconf.tdir style).
#
#   bad/NAME.conf   must make `gtmd -t -c bad/NAME.conf` exit 1, print
#                   nothing on stdout and exactly bad/NAME.err on stderr;
#   good/NAME.conf  must exit 0, print "good/NAME.conf: configuration ok" on
#                   stdout and nothing on stderr; so must etc/gtm.conf.
#   warn/NAME.conf  loads with warnings: `gtmd -t` must exit 0, print
#                   "warn/NAME.conf: configuration ok" on stdout and exactly
#                   warn/NAME.err (the "file:line: warning: ..." lines) on
#                   stderr; `gtmd -t --strict` must exit 1, print nothing on
#                   stdout and warn/NAME.err followed by
#                   "warn/NAME.conf: N warning(s), refused (--strict)".
#
# Runs from this folder so that the paths in messages are relative
# ("bad/NAME.conf:LINE: ...").
#
# Environment: GTMD (the gtmd binary; required), GTM_SRCDIR (the source
# tree; default: two levels up from this script), GTM_BINDIR (the build
# tree: configs that name GeoIP databases read the generated fixtures as
# fixtures/*.mmdb, a link to $GTM_BINDIR/tests/geo).
#
# The checks run in a copy of this folder (and of etc/), so that the link to
# the fixtures never lands in the source tree.
#
# Usage: run.sh [--update] [NAME...]
#   NAME      only these configs (e.g. bad/dup-city, warn/traps or dup-city)
#   --update  rewrite the .err files from the current output, then review
#             them with `git diff` before committing: a golden is a promise
#             to operators, not a recording.
set -u
shopt -s nullglob

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${GTM_SRCDIR:=$(cd "$here/../.." && pwd)}"
[ -d "$GTM_SRCDIR/tests/conf" ] || exit 2

if [ -z "${GTMD:-}" ] || [ ! -x "$GTMD" ]; then
	echo "run.sh: set GTMD to the gtmd binary (got '${GTMD:-}')" >&2
	exit 2
fi

update=0
if [ "${1:-}" = "--update" ]; then
	update=1
	shift
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tree=$tmp/tree
mkdir -p "$tree/tests"
cp -a "$GTM_SRCDIR/tests/conf" "$tree/tests/conf"
cp -a "$GTM_SRCDIR/etc" "$tree/etc"
if [ -n "${GTM_BINDIR:-}" ] && [ -f "$GTM_BINDIR/tests/geo/geoip2-city.mmdb" ]; then
	ln -s "$GTM_BINDIR/tests/geo" "$tree/tests/conf/fixtures"
else
	echo "note: no GeoIP fixtures (set GTM_BINDIR to a build tree); configs that read fixtures/ will fail"
fi
cd "$tree/tests/conf" || exit 2

pass=0
fail=0
failed=()

# Runs gtmd -t on $1; sets rc and fills $tmp/out, $tmp/err.
check() {
	# ASan/UBSan reports would land in stderr and fail the comparison,
	# which is what we want.
	"$GTMD" -t ${2:+"$2"} -c "$1" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}

# Compares $tmp/err with golden $2 for config $1; 0 when they match.
same_err() {
	if ! diff -u --label "expected $2" --label "actual stderr" "$2" "$tmp/err" >"$tmp/diff"; then
		echo "FAIL $1: stderr differs from $2"
		sed 's/^/    /' "$tmp/diff"
		return 1
	fi
}

warn() {
	local conf=$1 golden=${1%.conf}.err ok=1
	check "$conf"
	if [ "$update" = 1 ]; then
		cp "$tmp/err" "$golden"
		cp "$tmp/err" "$GTM_SRCDIR/tests/conf/$golden"
	fi
	if [ ! -f "$golden" ]; then
		echo "FAIL $conf: no golden $golden (run.sh --update $conf, then review it)"
		result "$conf" 0
		return
	fi
	if ! grep -q ': warning: ' "$golden"; then
		echo "FAIL $golden: no warning in it (a config without warnings belongs in good/)"
		ok=0
	fi
	same_err "$conf" "$golden" || ok=0
	[ "$rc" = 0 ] || { echo "FAIL $conf: exit status $rc, expected 0"; ok=0; }
	if [ "$(cat "$tmp/out")" != "$conf: configuration ok" ]; then
		echo "FAIL $conf: stdout is not '$conf: configuration ok':"
		sed 's/^/    /' "$tmp/out"
		ok=0
	fi
	# --strict: the same lines, then the refusal.
	local n
	n=$(grep -c ': warning: ' "$golden")
	cp "$golden" "$tmp/strict.err"
	if [ "$n" = 1 ]; then
		echo "$conf: 1 warning, refused (--strict)" >>"$tmp/strict.err"
	else
		echo "$conf: $n warnings, refused (--strict)" >>"$tmp/strict.err"
	fi
	check "$conf" --strict
	same_err "$conf --strict" "$tmp/strict.err" || ok=0
	[ "$rc" = 1 ] || { echo "FAIL $conf --strict: exit status $rc, expected 1"; ok=0; }
	if [ -s "$tmp/out" ]; then
		echo "FAIL $conf --strict: unexpected stdout:"
		sed 's/^/    /' "$tmp/out"
		ok=0
	fi
	result "$conf" "$ok"
}

bad() {
	local conf=$1 golden=${1%.conf}.err ok=1
	check "$conf"
	if [ "$update" = 1 ]; then
		cp "$tmp/err" "$golden"
		cp "$tmp/err" "$GTM_SRCDIR/tests/conf/$golden"
	fi
	if [ ! -f "$golden" ]; then
		echo "FAIL $conf: no golden $golden (run.sh --update $conf, then review it)"
		ok=0
	elif ! diff -u --label "expected $golden" --label "actual stderr" "$golden" "$tmp/err" >"$tmp/diff"; then
		echo "FAIL $conf: stderr differs from $golden"
		sed 's/^/    /' "$tmp/diff"
		ok=0
	fi
	if [ "$rc" != 1 ]; then
		echo "FAIL $conf: exit status $rc, expected 1"
		ok=0
	fi
	if [ -s "$tmp/out" ]; then
		echo "FAIL $conf: unexpected stdout:"
		sed 's/^/    /' "$tmp/out"
		ok=0
	fi
	result "$conf" "$ok"
}

good() {
	local conf=$1 ok=1
	check "$conf"
	if [ "$rc" != 0 ]; then
		echo "FAIL $conf: exit status $rc, expected 0"
		ok=0
	fi
	if [ -s "$tmp/err" ]; then
		echo "FAIL $conf: unexpected stderr:"
		sed 's/^/    /' "$tmp/err"
		ok=0
	fi
	if [ "$(cat "$tmp/out")" != "$conf: configuration ok" ]; then
		echo "FAIL $conf: stdout is not '$conf: configuration ok':"
		sed 's/^/    /' "$tmp/out"
		ok=0
	fi
	result "$conf" "$ok"
}

result() {
	if [ "$2" = 1 ]; then
		pass=$((pass + 1))
		echo "ok   $1"
	else
		fail=$((fail + 1))
		failed+=("$1")
	fi
}

if [ $# -gt 0 ]; then
	confs=()
	for n in "$@"; do
		n=${n%.conf}
		case $n in
		bad/* | good/* | warn/*) confs+=("$n.conf") ;;
		*) [ -f "bad/$n.conf" ] && confs+=("bad/$n.conf")
		   [ -f "good/$n.conf" ] && confs+=("good/$n.conf")
		   [ -f "warn/$n.conf" ] && confs+=("warn/$n.conf") ;;
		esac
	done
else
	# The shipped demo must pass too.
	confs=(bad/*.conf good/*.conf warn/*.conf ../../etc/gtm.conf)
fi

for conf in "${confs[@]}"; do
	if [ ! -f "$conf" ]; then
		echo "FAIL $conf: no such config"
		fail=$((fail + 1))
		failed+=("$conf")
		continue
	fi
	case $conf in
	bad/*) bad "$conf" ;;
	warn/*) warn "$conf" ;;
	*) good "$conf" ;;
	esac
done

# A golden without its config is a test that silently stopped running.
for golden in bad/*.err warn/*.err; do
	[ -f "${golden%.err}.conf" ] && continue
	echo "FAIL $golden: no ${golden%.err}.conf"
	fail=$((fail + 1))
	failed+=("$golden")
done

echo "conf_golden: $pass passed, $fail failed"
if [ "$fail" -gt 0 ]; then
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
exit 0
