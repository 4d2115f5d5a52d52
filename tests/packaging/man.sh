#!/usr/bin/env bash
# The man pages format without a warning, and gtmd(8) and gtmctl(8)
# document every long option that `gtmd --help` and `gtmctl --help` list.
set -euo pipefail
: "${GTM_SRCDIR:?}" "${GTMD:?}"
GTMCTL=${GTMCTL:-$(dirname "$GTMD")/gtmctl}
fail=0
for page in "$GTM_SRCDIR"/packaging/man/*.[0-9]; do
	warnings=$(LC_ALL=C groff -man -ww -z "$page" 2>&1 || true)
	if [ -n "$warnings" ]; then
		echo "FAIL $page: groff warnings:"; echo "$warnings"; fail=1
	else
		echo "ok   $page formats cleanly"
	fi
done
# Every long option of a program's --help must appear in its page (the roff
# source writes "\-\-config").
check_options() {
	local prog=$1 page=$2 opt
	for opt in $("$prog" --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+'); do
		if grep -qF -- "$(echo "$opt" | sed 's/-/\\-/g')" "$page"; then
			echo "ok   $(basename "$page") documents $opt"
		else
			echo "FAIL $(basename "$page") does not document $opt"; fail=1
		fi
	done
}
check_options "$GTMD" "$GTM_SRCDIR/packaging/man/gtmd.8"
check_options "$GTMCTL" "$GTM_SRCDIR/packaging/man/gtmctl.8"
exit $fail
