# Integration test harness, sourced by every tests/integration/test_*.sh.
#
# A test script does:
#     . "$(dirname "$0")/lib.sh"
#     start_gtmd                      # data/ copied to $WORK, random port
#     t "static A"                    # names the case for messages
#     query +tcp static.example.com A # kdig; the response is parsed
#     expect_rcode NOERROR
#     expect_flag aa
#     expect_answer "static.example.com. 3600 IN A 192.0.2.50"
#     finish                          # summary, exit status
#
# Environment: GTMD (the binary; set by ctest), GTM_SRCDIR, GTM_BINDIR,
# VERBOSE=1 to print every passing check.  Everything binds to 127.0.0.1
# only; the EXIT trap stops gtmd and removes $WORK.

set -u

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA_DIR=$IT_DIR/data
PY=/usr/bin/python3
# shellcheck source=tests/lib/common.sh
. "$IT_DIR/../lib/common.sh"
DNSPROBE=$IT_DIR/dnsprobe.py
TEST_NAME=$(basename "$0" .sh)

if [ -z "${GTMD:-}" ]; then
	for c in "${GTM_BINDIR:-/nonexistent}/gtm/gtmd" /tmp/build-int/gtm/gtmd; do
		if [ -x "$c" ]; then GTMD=$c; break; fi
	done
fi
if [ -z "${GTMD:-}" ] || [ ! -x "$GTMD" ]; then
	echo "$TEST_NAME: gtmd binary not found (set GTMD)" >&2
	exit 1
fi
for tool in kdig dig "$PY"; do
	command -v "$tool" >/dev/null || { echo "$TEST_NAME: $tool is missing" >&2; exit 1; }
done

PASS=0
FAIL=0
CASE="(setup)"
LAST_CMD=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gtm-it.XXXXXX")
CONF=$WORK/gtm.conf
LOG=$WORK/gtmd.log
OUT=$WORK/out
GTMD_PID=""
PORT=""
: >"$LOG"
cp -a "$DATA_DIR"/. "$WORK"/

cleanup() {
	if [ -n "$GTMD_PID" ] && kill -0 "$GTMD_PID" 2>/dev/null; then
		kill -TERM "$GTMD_PID" 2>/dev/null
		local i
		for i in $(seq 1 50); do
			kill -0 "$GTMD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$GTMD_PID" 2>/dev/null
		wait "$GTMD_PID" 2>/dev/null
	fi
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "work dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'echo "$TEST_NAME: interrupted"; exit 130' INT TERM

# ------------------------------------------------------------ reporting

# t and ok come from tests/lib/common.sh (sourced above).

# fail MSG: records a failure with the last command and its output.
fail() {
	FAIL=$((FAIL + 1))
	echo "FAIL: $CASE: $*"
	if [ -n "$LAST_CMD" ]; then
		echo "   command: $LAST_CMD"
		sed -e 's/^/   | /' "$OUT" 2>/dev/null | head -40
	fi
	return 0
}

# die MSG: a failure the script cannot go on after.
die() {
	fail "$*"
	echo "--- gtmd log (last 30 lines) ---"
	tail -n 30 "$LOG"
	summary
	exit 1
}

summary() {
	echo "$TEST_NAME: $PASS passed, $FAIL failed"
}

# finish: checks that gtmd did not crash or report sanitizer errors, prints
# the summary and exits non-zero on any failure.
finish() {
	CASE="(end)"
	LAST_CMD=""
	if [ -n "$GTMD_PID" ]; then
		if kill -0 "$GTMD_PID" 2>/dev/null; then ok "gtmd still running"
		else fail "gtmd is no longer running"; fi
	fi
	if sanitizer_report "$LOG"; then
		fail "sanitizer or assertion report in the gtmd log"
	fi
	if [ "$FAIL" -gt 0 ]; then
		echo "--- gtmd log (last 30 lines) ---"
		tail -n 30 "$LOG"
	fi
	summary
	[ "$FAIL" -eq 0 ]
	exit
}

# ------------------------------------------------------------ server

# pick_port: tests/lib/common.sh.

# ready: true when gtmd answers the SOA of example.com over UDP and TCP.
ready() {
	kdig @127.0.0.1 -p "$PORT" +time=1 +retry=0 example.com SOA 2>&1 | grep -q 'status: NOERROR' &&
	kdig @127.0.0.1 -p "$PORT" +time=1 +retry=0 +tcp example.com SOA 2>&1 | grep -q 'status: NOERROR'
}

# wait_ready: polls for at most 5 s; false if gtmd exited or never answered.
wait_ready() {
	local i
	for i in $(seq 1 100); do
		kill -0 "$GTMD_PID" 2>/dev/null || return 1
		ready && return 0
		sleep 0.05
	done
	return 1
}

# start_gtmd [CONF]: starts gtmd on 127.0.0.1:random port; retries on a port
# that turned out to be taken.  Sets PORT and GTMD_PID.
start_gtmd() {
	local conf=${1:-$CONF} attempt off rc
	if [ -n "${GTM_IT_EXTERNAL_PORT:-}" ]; then
		# Debugging aid: run the checks against a server already listening
		# on 127.0.0.1:$GTM_IT_EXTERNAL_PORT (e.g. NSD with data/*.zone).
		PORT=$GTM_IT_EXTERNAL_PORT
		return 0
	fi
	for attempt in 1 2 3 4 5 6; do
		PORT=$(pick_port) || die "no free port found"
		off=$(stat -c %s "$LOG")
		"$GTMD" -c "$conf" -l "127.0.0.1:$PORT" >>"$LOG" 2>&1 &
		GTMD_PID=$!
		if wait_ready; then
			# SO_REUSEPORT lets a second server share the port silently:
			# make sure every socket on it is ours.
			if ss -Hlnup "( sport = :$PORT )" 2>/dev/null | grep -v "pid=$GTMD_PID," | grep -q . ||
			   ss -Hlntp "( sport = :$PORT )" 2>/dev/null | grep -v "pid=$GTMD_PID," | grep -q .; then
				echo "$TEST_NAME: port $PORT is shared with another process, trying another"
				kill -KILL "$GTMD_PID"; wait "$GTMD_PID" 2>/dev/null; GTMD_PID=""
				continue
			fi
			return 0
		fi
		if kill -0 "$GTMD_PID" 2>/dev/null; then
			die "gtmd (pid $GTMD_PID, port $PORT) did not answer within 5 s"
		fi
		wait "$GTMD_PID"
		rc=$?
		GTMD_PID=""
		if tail -c +$((off + 1)) "$LOG" | grep -qiE 'in use|bind'; then
			echo "$TEST_NAME: port $PORT was taken, trying another"
			continue
		fi
		die "gtmd exited with status $rc at start-up"
	done
	die "could not start gtmd after 6 tries"
}

# now_ms: monotonic enough for timing a test step.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# log_wait OFFSET PATTERN [SECONDS]: waits (default 10 s) until the gtmd
# log past byte OFFSET (from `stat -c %s "$LOG"` taken before the action)
# has a line matching PATTERN (grep -E); 0 when it has.
log_wait() {
	local off=$1 pat=$2 deadline=$(( $(now_ms) + ${3:-10} * 1000 ))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		tail -c +$((off + 1)) "$LOG" | grep -qE "$pat" && return 0
		sleep 0.05
	done
	return 1
}

# stop_gtmd: SIGTERM and wait (at most 5 s).  Sets STOP_RC and STOP_MS.
stop_gtmd() {
	local t0 i
	t0=$(now_ms)
	kill -TERM "$GTMD_PID"
	for i in $(seq 1 100); do
		kill -0 "$GTMD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$GTMD_PID" 2>/dev/null; then
		kill -KILL "$GTMD_PID"
		wait "$GTMD_PID" 2>/dev/null
		STOP_RC=killed
	else
		wait "$GTMD_PID"
		STOP_RC=$?
	fi
	STOP_MS=$(( $(now_ms) - t0 ))
	GTMD_PID=""
}

# ------------------------------------------------------------ kdig

# q ARGS: plain kdig against gtmd (for +short and the like).
q() {
	kdig @127.0.0.1 -p "$PORT" +time=2 +retry=1 "$@"
}

# query ARGS: kdig with full output, parsed into R_STATUS, R_FLAGS,
# R_QD/R_AN/R_NS/R_AR, R_EDNS (the EDNS line, empty without OPT), R_NSID,
# R_SIZE (bytes received) and the files $WORK/answer, authority, additional
# (one record a line, whitespace collapsed: "owner ttl class type rdata").
query() {
	LAST_CMD="kdig @127.0.0.1 -p $PORT $*"
	kdig @127.0.0.1 -p "$PORT" +time=2 +retry=1 "$@" >"$OUT" 2>&1
	LAST_RC=$?
	parse_kdig
}

# dquery ARGS: the same with dig (which, unlike kdig, keeps the QNAME's case).
dquery() {
	LAST_CMD="dig @127.0.0.1 -p $PORT $*"
	dig @127.0.0.1 -p "$PORT" +time=2 +tries=2 "$@" >"$OUT" 2>&1
	LAST_RC=$?
	parse_dig
}

parse_kdig() {
	local hdr
	R_STATUS=$(sed -n 's/^;; ->>HEADER<<- .*status: \([A-Z0-9]*\);.*/\1/p' "$OUT" | head -1)
	hdr=$(grep -m1 '^;; Flags:' "$OUT")
	R_FLAGS=" $(echo "$hdr" | sed -n 's/^;; Flags: \([^;]*\);.*/\1/p') "
	R_QD=$(echo "$hdr" | sed -n 's/.*QUERY: \([0-9]*\).*/\1/p')
	R_AN=$(echo "$hdr" | sed -n 's/.*ANSWER: \([0-9]*\).*/\1/p')
	R_NS=$(echo "$hdr" | sed -n 's/.*AUTHORITY: \([0-9]*\).*/\1/p')
	R_AR=$(echo "$hdr" | sed -n 's/.*ADDITIONAL: \([0-9]*\).*/\1/p')
	R_EDNS=$(grep -m1 '^;; Version: ' "$OUT")
	R_NSID=$(sed -n 's/^;; NSID: .*"\(.*\)"$/\1/p' "$OUT" | head -1)
	R_SIZE=$(sed -n 's/^;; Received \([0-9]*\) B.*/\1/p' "$OUT" | head -1)
	split_sections
}

parse_dig() {
	local hdr
	R_STATUS=$(sed -n 's/^;; ->>HEADER<<- .*status: \([A-Z0-9]*\),.*/\1/p' "$OUT" | head -1)
	hdr=$(grep -m1 '^;; flags:' "$OUT")
	R_FLAGS=" $(echo "$hdr" | sed -n 's/^;; flags: \([^;]*\);.*/\1/p') "
	R_QD=$(echo "$hdr" | sed -n 's/.*QUERY: \([0-9]*\).*/\1/p')
	R_AN=$(echo "$hdr" | sed -n 's/.*ANSWER: \([0-9]*\).*/\1/p')
	R_NS=$(echo "$hdr" | sed -n 's/.*AUTHORITY: \([0-9]*\).*/\1/p')
	R_AR=$(echo "$hdr" | sed -n 's/.*ADDITIONAL: \([0-9]*\).*/\1/p')
	R_EDNS=$(grep -m1 '^; EDNS: ' "$OUT")
	R_NSID=""
	R_SIZE=$(sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\).*/\1/p' "$OUT" | head -1)
	split_sections
}

split_sections() {
	: >"$WORK/answer"; : >"$WORK/authority"; : >"$WORK/additional"
	awk -v dir="$WORK" '
		/^;; ANSWER SECTION:/     { sec = "answer"; next }
		/^;; AUTHORITY SECTION:/  { sec = "authority"; next }
		/^;; ADDITIONAL SECTION:/ { sec = "additional"; next }
		/^;/ || /^[ \t]*$/        { sec = ""; next }
		sec != ""                 { $1 = $1; print > (dir "/" sec) }
	' "$OUT"
}

# ------------------------------------------------------------ expectations

expect_rcode() {
	if [ "$R_STATUS" = "$1" ]; then ok "rcode $1"
	else fail "rcode ${R_STATUS:-<none, no response>}, expected $1"; fi
}

expect_flag() {
	local f
	for f in "$@"; do
		case "$R_FLAGS" in
		*" $f "*) ok "flag $f" ;;
		*) fail "flag $f not set (flags:$R_FLAGS)" ;;
		esac
	done
}

expect_noflag() {
	local f
	for f in "$@"; do
		case "$R_FLAGS" in
		*" $f "*) fail "flag $f set (flags:$R_FLAGS)" ;;
		*) ok "flag $f clear" ;;
		esac
	done
}

# expect_count SECTION N: header count (answer, authority, additional).
expect_count() {
	local got
	case $1 in
	answer) got=$R_AN ;;
	authority) got=$R_NS ;;
	additional) got=$R_AR ;;
	*) fail "expect_count: bad section $1"; return ;;
	esac
	if [ "$got" = "$2" ]; then ok "$1 count $2"
	else fail "$1 count ${got:-?}, expected $2"; fi
}

norm() { echo "$*" | awk '{ $1 = $1; print }'; }

# expect_rr SECTION "owner ttl class type rdata": that record is in SECTION.
expect_rr() {
	local want
	want=$(norm "$2")
	if grep -qxF -- "$want" "$WORK/$1"; then ok "$1 has $want"
	else fail "$1 section lacks: $want"; fi
}

expect_answer() { local l; for l in "$@"; do expect_rr answer "$l"; done; }

# expect_answer_is LINE...: the answer section is exactly these, in order.
expect_answer_is() {
	local want="" l
	for l in "$@"; do want+=$(norm "$l")$'\n'; done
	if [ "$(cat "$WORK/answer")"$'\n' = "$want" ] || { [ $# -eq 0 ] && [ ! -s "$WORK/answer" ]; }; then
		ok "answer is exactly $# records"
	else
		fail "answer section differs; expected:$(printf '\n     %s' "$@")"
	fi
}

# expect_first_owner NAME: the first answer record's owner, case included.
expect_first_owner() {
	local got
	got=$(awk 'NR == 1 { print $1 }' "$WORK/answer")
	if [ "$got" = "$1" ]; then ok "first owner $1"
	else fail "first answer owner is '${got}', expected '$1' (case kept)"; fi
}

# expect_section SECTION ERE / expect_nosection SECTION ERE
expect_section() {
	if grep -qiE -- "$2" "$WORK/$1"; then ok "$1 matches $2"
	else fail "$1 section has no record matching /$2/"; fi
}

expect_nosection() {
	if grep -qiE -- "$2" "$WORK/$1"; then fail "$1 section has a record matching /$2/"
	else ok "$1 lacks $2"; fi
}

# expect_out ERE / expect_noout ERE: on the whole kdig/dig output.
expect_out() {
	if grep -qE -- "$1" "$OUT"; then ok "output matches $1"
	else fail "output does not match /$1/"; fi
}

expect_noout() {
	if grep -qE -- "$1" "$OUT"; then fail "output matches /$1/"
	else ok "output lacks $1"; fi
}

# expect_nodata ZONE-SOA-OWNER [TTL]: NOERROR, AA, empty answer, the zone's SOA in
# authority with the negative TTL (min of SOA TTL and MINIMUM, RFC 2308 5).
expect_nodata() {
	expect_rcode NOERROR
	expect_flag aa
	expect_count answer 0
	expect_section authority "^$1 ${2:-300} IN SOA "
}

expect_nxdomain() {
	expect_rcode NXDOMAIN
	expect_flag aa
	expect_section authority "^$1 300 IN SOA "
}

# expect_le A B NAME / expect_ge: numeric bounds.
expect_le() {
	if [ -n "$1" ] && [ "$1" -le "$2" ]; then ok "$3 $1 <= $2"
	else fail "$3 is ${1:-?}, expected <= $2"; fi
}

expect_ge() {
	if [ -n "$1" ] && [ "$1" -ge "$2" ]; then ok "$3 $1 >= $2"
	else fail "$3 is ${1:-?}, expected >= $2"; fi
}

# ------------------------------------------------------------ raw packets

# probe ARGS: dnsprobe.py probe against gtmd; the token line lands in
# $PROBE and $OUT.
probe() {
	LAST_CMD="dnsprobe.py probe --port $PORT $*"
	"$PY" "$DNSPROBE" probe --port "$PORT" "$@" >"$OUT" 2>&1
	PROBE=$(head -1 "$OUT")
}

# expect_tokens TOKEN...: each token is in $PROBE; "!TOKEN" must be absent.
expect_tokens() {
	local tok
	for tok in "$@"; do
		case $tok in
		!*)
			case " $PROBE " in
			*" ${tok#!} "*) fail "'${tok#!}' present" ;;
			*) ok "no ${tok#!}" ;;
			esac ;;
		*)
			case " $PROBE " in
			*" $tok "*) ok "$tok" ;;
			*) fail "'$tok' missing" ;;
			esac ;;
		esac
	done
}

# expect_alive: gtmd runs and answers a normal query over UDP and TCP.
expect_alive() {
	if [ -n "$GTMD_PID" ] && ! kill -0 "$GTMD_PID" 2>/dev/null; then
		die "gtmd has exited (crash?)"
	fi
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		ready && { ok "gtmd answers"; return 0; }
		sleep 0.1
	done
	fail "gtmd runs but does not answer example.com SOA over UDP and TCP"
}
