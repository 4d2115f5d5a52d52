#!/bin/bash
# The process: --version, -t, SIGHUP reloads (good and bad zone files and
# configs), SIGTERM.  Works on the copy of data/ in $WORK.
. "$(dirname "$0")/lib.sh"

ZONE=$WORK/example.com.zone

# wait_for CMD...: polls CMD every 0.1 s for at most 5 s.
wait_for() {
	local i
	for i in $(seq 1 50); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

static_is() { [ "$(q +short static.example.com A)" = "$1" ]; }
# log_since OFFSET ERE: the log written after OFFSET matches ERE.
log_since() { tail -c +$(($1 + 1)) "$LOG" | grep -qiE "$2"; }

t "gtmd --version"
LAST_CMD="$GTMD --version"
"$GTMD" --version >"$OUT" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "exit 0"; else fail "exit status $rc"; fi
expect_out '[0-9]+\.[0-9]+\.[0-9]+'

t "gtmd -t accepts the test config"
LAST_CMD="$GTMD -t -c $CONF"
"$GTMD" -t -c "$CONF" >"$OUT" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "exit 0"; else fail "exit status $rc"; fi

t "gtmd -t rejects a broken zone with file:line"
mkdir "$WORK/bad"
cp "$WORK"/*.conf "$WORK"/*.zone "$WORK/bad/"
echo 'broken IN A 999.1.1.1' >>"$WORK/bad/example.com.zone"
badline=$(wc -l <"$WORK/bad/example.com.zone")
LAST_CMD="$GTMD -t -c $WORK/bad/gtm.conf"
"$GTMD" -t -c "$WORK/bad/gtm.conf" >"$OUT" 2>&1
rc=$?
if [ $rc -ne 0 ]; then ok "exit $rc"; else fail "exit status 0 for a broken zone"; fi
expect_out "example\.com\.zone:$badline"

t "gtmd refuses to start with a broken zone, quickly"
LAST_CMD="$GTMD -c $WORK/bad/gtm.conf -l 127.0.0.1:1"
t0=$(now_ms)
timeout 10 "$GTMD" -c "$WORK/bad/gtm.conf" -l 127.0.0.1:1 >"$OUT" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then ok "exit $rc"; else fail "exit status $rc"; fi
expect_le $(( $(now_ms) - t0 )) 2000 "milliseconds to refuse"
expect_out "example\.com\.zone:$badline"
LAST_CMD=""

start_gtmd

t "listens only where -l says (not the config's 127.0.0.1:5353)"
socks=$(ss -Hlntup 2>/dev/null | grep "pid=$GTMD_PID,")
LAST_CMD="ss -Hlntup | grep pid=$GTMD_PID"
echo "$socks" >"$OUT"
if [ -n "$socks" ] && ! echo "$socks" | grep -vq "127.0.0.1:$PORT "; then ok "only 127.0.0.1:$PORT"
else fail "gtmd sockets elsewhere than 127.0.0.1:$PORT"; fi
LAST_CMD=""

t "before reload"
query static.example.com A
expect_answer_is "static.example.com. 3600 IN A 192.0.2.50"
query new.example.com A
expect_rcode NXDOMAIN

t "SIGHUP with a changed zone file serves the new data"
sed -i -e 's/2024010101 ; serial/2024010102 ; serial/' \
	-e 's/^static      IN A    192.0.2.50$/static      IN A    192.0.2.51/' "$ZONE"
echo 'new         IN A    192.0.2.99' >>"$ZONE"
grep -q '192.0.2.51' "$ZONE" || die "test bug: the sed did not change the zone"
kill -HUP "$GTMD_PID"
if wait_for static_is 192.0.2.51; then ok "reloaded"; else fail "still $(q +short static.example.com A) 5 s after SIGHUP"; fi
query new.example.com A
expect_rcode NOERROR
expect_answer_is "new.example.com. 3600 IN A 192.0.2.99"
query +tcp example.com SOA
expect_section answer " 2024010102 "
query www.example.com A
expect_count answer 1

t "SIGHUP with a broken zone file keeps the old data and logs an error"
cp "$ZONE" "$WORK/good.zone"
sed -i 's/^static      IN A    192.0.2.51$/static      IN A    192.0.2.52/' "$ZONE"
echo 'broken      IN A    999.1.1.1' >>"$ZONE"
off=$(stat -c %s "$LOG")
kill -HUP "$GTMD_PID"
if wait_for log_since "$off" 'err|fail|invalid|reject'; then ok "error logged"
else fail "no error in the log 5 s after a SIGHUP with a broken zone"; fi
if log_since "$off" 'example\.com\.zone'; then ok "the error names the zone file"
else fail "the reload error does not name example.com.zone"; fi
sleep 0.2
expect_alive
query static.example.com A
expect_answer_is "static.example.com. 3600 IN A 192.0.2.51"
query +tcp new.example.com A
expect_answer_is "new.example.com. 3600 IN A 192.0.2.99"

t "SIGHUP with a broken config keeps serving"
cp "$ZONE" "$WORK/broken.zone"
cp "$WORK/good.zone" "$ZONE"
cp "$CONF" "$WORK/good.conf"
echo 'server = { this is not libconfig' >>"$CONF"
off=$(stat -c %s "$LOG")
kill -HUP "$GTMD_PID"
if wait_for log_since "$off" 'err|fail|invalid|reject'; then ok "error logged"
else fail "no error in the log 5 s after a SIGHUP with a broken config"; fi
sleep 0.2
expect_alive
query static.example.com A
expect_answer_is "static.example.com. 3600 IN A 192.0.2.51"
query www.example.com A
expect_count answer 1

t "SIGHUP with a changed config: service TTL, NSID, zones"
cp "$WORK/good.conf" "$CONF"
sed -i -e 's/ttl = 30;/ttl = 45;/' -e 's/nsid = "test-node";/nsid = "test-node-2";/' \
	-e '/2.0.192.in-addr.arpa.zone/d' -e 's/file = "example.com.zone"; },/file = "example.com.zone"; }/' "$CONF"
LAST_CMD="$GTMD -t -c $CONF"
"$GTMD" -t -c "$CONF" >"$OUT" 2>&1 || die "test bug: the edited config does not pass gtmd -t"
kill -HUP "$GTMD_PID"
ttl45() { q +noall +answer www.example.com A | grep -q '[[:space:]]45[[:space:]]'; }
if wait_for ttl45; then ok "reloaded"; else fail "service TTL not 45 5 s after SIGHUP"; fi
query +norec www.example.com A
expect_answer_is "www.example.com. 45 IN A 192.0.2.10"
query +nsid static.example.com A
if [ "$R_NSID" = "test-node-2" ]; then ok "NSID changed"
else fail "NSID '$R_NSID' after reload, expected 'test-node-2'"; fi
query 10.2.0.192.in-addr.arpa PTR
expect_rcode REFUSED
query static.example.com A
expect_answer_is "static.example.com. 3600 IN A 192.0.2.51"

t "ten SIGHUPs under query load: no query lost, no wrong answer"
LAST_CMD="dnsprobe.py load --port $PORT --duration 1.5"
hupoff=$(stat -c %s "$LOG")
"$PY" "$DNSPROBE" load --port "$PORT" --duration 1.5 >"$WORK/load.out" 2>&1 &
loadpid=$!
sleep 0.2
for i in $(seq 1 10); do
	kill -HUP "$GTMD_PID"
	sleep 0.1
done
wait $loadpid
cp "$WORK/load.out" "$OUT"
PROBE=$(head -1 "$OUT")
expect_tokens lost=0 wrong=0
expect_alive
reloads=$(tail -c +$((hupoff + 1)) "$LOG" | grep -c "reload")
expect_ge "$reloads" 10 "reload lines in the log"

t "SIGTERM exits 0 promptly"
pid=$GTMD_PID
stop_gtmd
if [ "$STOP_RC" = 0 ]; then ok "exit 0"; else fail "exit status $STOP_RC after SIGTERM"; fi
expect_le "$STOP_MS" 2000 "milliseconds to exit"
if kill -0 "$pid" 2>/dev/null; then fail "pid $pid still there"; else ok "gone"; fi
LAST_CMD="kdig @127.0.0.1 -p $PORT +time=1 +retry=0 example.com SOA"
if kdig @127.0.0.1 -p "$PORT" +time=1 +retry=0 example.com SOA >"$OUT" 2>&1 &&
   grep -q 'status:' "$OUT"; then
	fail "something still answers on port $PORT"
else
	ok "port $PORT silent"
fi

t "several -l listeners all answer"
LAST_CMD=""
p1=$(pick_port) && p2=$(pick_port) || die "no free port"
v6=""
if "$PY" -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0))' 2>/dev/null; then
	v6="-l [::1]:$p1"
fi
"$GTMD" -c "$CONF" -l "127.0.0.1:$p1" -l "127.0.0.1:$p2" $v6 >>"$LOG" 2>&1 &
GTMD_PID=$!
PORT=$p1
wait_ready || die "gtmd with three -l did not start"
PORT=$p2
if ready; then ok "second listener"; else fail "127.0.0.1:$p2 does not answer"; fi
if [ -n "$v6" ]; then
	LAST_CMD="kdig @::1 -p $p1 static.example.com A"
	kdig @::1 -p "$p1" +time=1 +retry=0 static.example.com A >"$OUT" 2>&1
	if grep -q 'status: NOERROR' "$OUT"; then ok "[::1] listener"; else fail "[::1]:$p1 does not answer"; fi
	kdig @::1 -p "$p1" +tcp +time=1 +retry=0 static.example.com A >"$OUT" 2>&1
	if grep -q 'status: NOERROR' "$OUT"; then ok "[::1] TCP listener"; else fail "[::1]:$p1 does not answer over TCP"; fi
fi

finish
