#!/usr/bin/env bash
# The man pages format without a warning, gtmd(8) and gtmctl(8) document
# every long option that `gtmd --help` and `gtmctl --help` list, and
# gtm.conf(5) every key and group that gtmd's configuration key tables
# accept.
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

# gtm.conf(5) documents every key the configuration key tables accept, and
# every top-level group.  The keys are read from the tables themselves:
# every `ckey_t NAME[] = { ... };` in gtm/conf/conf*.c (rows K_INT("key", ...),
# K_FN("key", ...), or { .name = "key", ... }), and the groups from
# conf.c's sections[] ({ "server", section_server }).  The tables are split
# into rows at their top-level commas (outside strings, comments and
# brackets); a row whose key name cannot be read is a failure, so a new
# row style cannot slip past unchecked.  Prints "TABLE KEY" per row, and
# "? TABLE ROW" for a row without a readable name.
conf_keys() {
	awk '
	function row(t, item,   m) {
		gsub(/^[ \t\n]+|[ \t\n]+$/, "", item)
		# empty, or the terminator: { 0 }, {0}, { NULL, NULL }
		if (item == "" || item ~ /^\{[ \t\n]*((0|NULL)[ \t\n]*(,[ \t\n]*(0|NULL)[ \t\n]*)*)?\}$/)
			return
		if (match(item, /^K_[A-Za-z0-9_]*[ \t\n]*\([ \t\n]*"[^"]*"/) ||
		    match(item, /^\{.*\.name[ \t\n]*=[ \t\n]*"[^"]*"/) ||
		    match(item, /^\{[ \t\n]*"[^"]*"/)) {
			m = substr(item, RSTART, RLENGTH)
			sub(/"$/, "", m)
			sub(/.*"/, "", m)
			print t, m
			n[t]++
		} else {
			gsub(/[ \t\n]+/, " ", item)
			print "?", t, item
		}
	}
	function rows(t, s,   i, c, d, q, item, started) {
		d = 0; q = 0; item = ""; started = 0
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (!started) { if (c == "{") started = 1; continue }
			if (q) {
				item = item c
				if (c == "\\") { i++; item = item substr(s, i, 1) }
				else if (c == "\"") q = 0
				continue
			}
			if (substr(s, i, 2) == "/*") {
				i = index(substr(s, i + 2), "*/") ? i + 2 + index(substr(s, i + 2), "*/") : length(s)
				item = item " "
				continue
			}
			if (substr(s, i, 2) == "//") {
				while (i <= length(s) && substr(s, i, 1) != "\n") i++
				item = item "\n"
				continue
			}
			if (c == "\"") q = 1
			else if (c == "(" || c == "{" || c == "[") d++
			else if (c == ")" || c == "}" || c == "]") {
				if (d == 0) { row(t, item); return }
				d--
			} else if (c == "," && d == 0) { row(t, item); item = ""; continue }
			item = item c
		}
		print "?", t, "(no closing brace)"
	}
	!intab && /(ckey_t[ \t]+[A-Za-z_][A-Za-z_0-9]*|[ \t]sections)[ \t]*\[[^]]*\][ \t]*=/ {
		intab = 1
		t = $0; sub(/[ \t]*\[.*/, "", t); sub(/.*[^A-Za-z_0-9]/, "", t)
		body = ""
	}
	intab {
		body = body $0 "\n"
		if ($0 ~ /^[ \t]*}[ \t]*;/) {
			rows(t, substr(body, index(body, "=") + 1))
			tables[t] = 1
			intab = 0
		}
	}
	END {
		for (t in tables)
			if (!n[t])
				print "?", t, "(no key read from the table)"
	}
	' "$@"
}

# The text of section .SH NAME of a page (to the next .SH).
man_section() {
	awk -v want="$2" '
		/^\.SH[ \t]/ { h = $0; sub(/^\.SH[ \t]+/, "", h); gsub(/"/, "", h); on = (h == want); next }
		on
	' "$1"
}

# Whether KEY is set in bold in TEXT: a whole word on a .B/.BR/.RB/.BI/.IB
# line (roff escapes such as \(dq and \fB removed first), or \fBKEY\f...
bold_in() {
	local key=$1 text=$2
	printf '%s\n' "$text" | sed -n '/^\.\(B\|BR\|RB\|BI\|IB\)\([ \t]\|$\)/p' |
		sed 's/\\([a-z][a-z]//g; s/\\f[BIRP]//g; s/\\-/-/g' |
		grep -qE "(^|[^A-Za-z0-9_])${key}([^A-Za-z0-9_]|\$)" && return 0
	printf '%s\n' "$text" | grep -qF "\\fB${key}\\f"
}

conf_page="$GTM_SRCDIR/packaging/man/gtm.conf.5"
keys=$(conf_keys "$GTM_SRCDIR"/gtm/conf/conf*.c)
if [ -z "$keys" ]; then
	echo "FAIL no key table found in gtm/conf/conf*.c"; fail=1
fi
while read -r table rest; do
	[ "$table" = "?" ] || continue
	echo "FAIL cannot read a key name from a row of $rest"; fail=1
done <<<"$keys"
groups=$(awk '$1 == "sections" { print $2 }' <<<"$keys")
[ -n "$groups" ] || { echo "FAIL no top-level group found in sections[] of gtm/conf/conf.c"; fail=1; }
for g in $groups; do
	if grep -qE "^\\.SH \"?${g^^}\"?\$" "$conf_page"; then
		echo "ok   gtm.conf.5 has a section for group $g"
	else
		echo "FAIL gtm.conf.5 has no .SH ${g^^} for group $g"; fail=1
	fi
done
# The group whose section documents each table's keys.  A table not listed
# here is matched by its name (foo_keys: group foo or foos), else its keys
# are looked for in the whole page.
group_of() {
	case $1 in
	geo_field_keys | map_keys) echo geo ;;
	endpoint_keys) echo services ;;
	graphite_keys) echo metrics ;;
	city_keys) echo cities ;;
	conf_cluster_keys) echo cluster ;;
	*)
		local base=${1%_keys} g
		for g in $groups; do
			if [ "$g" = "$base" ] || [ "$g" = "${base}s" ]; then echo "$g"; return; fi
		done
		;;
	esac
}
declare -A section_text
while read -r table key; do
	case $table in "?" | sections) continue ;; esac
	group=$(group_of "$table")
	if [ -n "$group" ]; then
		where=${group^^}
		[ -n "${section_text[$where]+set}" ] || section_text[$where]=$(man_section "$conf_page" "$where")
		text=${section_text[$where]}
	else
		where="the whole page"
		text=$(cat "$conf_page")
	fi
	if bold_in "$key" "$text"; then
		echo "ok   gtm.conf.5 documents $table $key"
	else
		echo "FAIL gtm.conf.5 does not document key '$key' ($table) in $where"; fail=1
	fi
done <<<"$keys"
exit $fail
