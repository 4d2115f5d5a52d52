#!/usr/bin/env bash
# The man pages format without a warning, and gtmd(8) documents every
# option that `gtmd --help` lists.
set -euo pipefail
: "${GTM_SRCDIR:?}" "${GTMD:?}"
fail=0
for page in "$GTM_SRCDIR"/packaging/man/*.[0-9]; do
	warnings=$(LC_ALL=C groff -man -ww -z "$page" 2>&1 || true)
	if [ -n "$warnings" ]; then
		echo "FAIL $page: groff warnings:"; echo "$warnings"; fail=1
	else
		echo "ok   $page formats cleanly"
	fi
done
page="$GTM_SRCDIR/packaging/man/gtmd.8"
for opt in $("$GTMD" --help | grep -oE '^  -[a-zA-Z], --[a-z-]+' | awk '{print $2}'); do
	# the roff source writes "\-\-config"
	if grep -qF -- "$(echo "$opt" | sed 's/-/\\-/g')" "$page"; then
		echo "ok   gtmd.8 documents $opt"
	else
		echo "FAIL gtmd.8 does not document $opt"; fail=1
	fi
done
exit $fail
