#!/bin/bash
# Active health probes end to end: gtmd probing real backends on 127.0.0.1
# for every probe type (tcp, http, https with and without verification,
# dns against a second gtmd, exec), each flipped down and back up while
# kdig watches the answers change; then fail open, the state file across a
# restart, health.unknown = "wait", and answering that never stalls while
# probes time out.
#
# Every service is `failover` over two sites: bj-a (10.0.N.1, checked, its
# probe sent to 127.0.0.1 with check_address) and bj-b (10.0.N.2, not
# checked, so always up).  The answer is bj-a's address while its probe
# passes and bj-b's once it fails.  Checks run every 0.2 s (timeout 0.1 s,
# rise 2, fall 3, recheck 0.1 s): a flip shows within ~0.5 s; the test
# allows 2 s (sanitizer builds are slower; tests/drill measures the real
# figures).
. "$(dirname "$0")/lib.sh"

BACKEND=$IT_DIR/health_backend.py
LIMIT_MS=2000
declare -A BPID

# backend NAME KIND ARGS...: starts a fake backend; waits until it listens.
backend() {
	local name=$1 kind=$2 port=$3 i
	shift 3
	rm -f "$WORK/$name.ready"
	"$PY" "$BACKEND" "$kind" "$port" "$WORK/$name.ready" "$@" >>"$WORK/backend.log" 2>&1 &
	BPID[$name]=$!
	for i in $(seq 1 100); do
		[ -f "$WORK/$name.ready" ] && return 0
		sleep 0.02
	done
	die "backend $name ($kind on $port) did not start"
}

kill_backend() {
	local pid=${BPID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	BPID[$1]=""
}

DNS_PID=""
stop_all() {
	local n
	for n in "${!BPID[@]}"; do kill_backend "$n"; done
	if [ -n "$DNS_PID" ]; then kill -TERM "$DNS_PID" 2>/dev/null; wait "$DNS_PID" 2>/dev/null; fi
	cleanup
}
trap stop_all EXIT

# first NAME: the first address of the A answer for NAME.example.com.
first() {
	kdig @127.0.0.1 -p "$PORT" +time=1 +retry=0 +short "$1.example.com" A 2>/dev/null | head -1
}

# wait_answer NAME ADDR [LIMIT_MS]: polls until NAME answers ADDR; records
# the time in WAITED (ms) and passes or fails the case.
wait_answer() {
	local name=$1 want=$2 limit=${3:-$LIMIT_MS} t0 got
	t0=$(now_ms)
	LAST_CMD="kdig +short $name.example.com A (waiting for $want)"
	while :; do
		got=$(first "$name")
		WAITED=$(( $(now_ms) - t0 ))
		if [ "$got" = "$want" ]; then
			ok "$name answers $want after $WAITED ms"
			return 0
		fi
		if [ "$WAITED" -gt "$limit" ]; then
			echo "$got" >"$OUT"
			fail "$name still answers '${got}' after $WAITED ms, expected $want"
			return 1
		fi
		sleep 0.02
	done
}

# ------------------------------------------------------------ backends

P_TCP=$(pick_port); P_HTTP=$(pick_port); P_HTTPS=$(pick_port); P_DNS=$(pick_port)
P_HANG=$(pick_port); P_UDP=$(pick_port); P_DEAD=$(reserve_port)   # stays refused
[ -n "$P_DEAD" ] || die "no free ports"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 ||
	die "openssl cannot make a self-signed certificate"

backend tcp tcp "$P_TCP"
backend http http "$P_HTTP" "$WORK/http.down"
backend https http "$P_HTTPS" "$WORK/https.down" "$WORK/cert.pem" "$WORK/key.pem"
backend hang hang "$P_HANG"
backend udp udp-silent "$P_UDP"

# The DNS backend: a second gtmd serving the test zone (static.example.com
# A 192.0.2.50), no checks.
cat >"$WORK/dns-backend.conf" <<EOF
server = { workers = 1; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
EOF
start_dns_backend() {
	local i
	"$GTMD" -c "$WORK/dns-backend.conf" -l "127.0.0.1:$P_DNS" >>"$WORK/dns-backend.log" 2>&1 &
	DNS_PID=$!
	for i in $(seq 1 100); do
		kdig @127.0.0.1 -p "$P_DNS" +time=1 +retry=0 static.example.com A 2>/dev/null |
			grep -q 'status: NOERROR' && return 0
		sleep 0.05
	done
	die "the DNS backend gtmd did not start"
}
stop_dns_backend() {
	kill -TERM "$DNS_PID" 2>/dev/null
	wait "$DNS_PID" 2>/dev/null
	DNS_PID=""
}
start_dns_backend

cat >"$WORK/check-file.sh" <<'EOF'
#!/bin/sh
# exec check: up while the file named by $1 exists.
[ -e "$1" ]
EOF
chmod +x "$WORK/check-file.sh"
touch "$WORK/exec.flag"

# ------------------------------------------------------------ configuration

# write_conf FILE HEALTH-GROUP
write_conf() {
	local n=0 svc eps="" s
	cat >"$1" <<EOF
server = { workers = 2; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
# What is measured here is the probes: a recovered site serves again at
# once (no failback hold-down or ramp, which test_gtmctl.sh and the
# controller's unit tests cover).
controller = { holddown = 0; failback_ramp = 0; };
cities = ( { name = "beijing"; lat = 39.9; lon = 116.4; } );
sites = ( { name = "bj-a"; city = "beijing"; }, { name = "bj-b"; city = "beijing"; } );
checks = (
  { name = "tcp"; type = "tcp"; port = $P_TCP; interval = 0.2; timeout = 0.1; recheck = 0.1; },
  { name = "http"; type = "http"; port = $P_HTTP; path = "/health"; method = "GET";
    host = "www.example.com"; expect = [ 200 ]; body = "ok"; interval = 0.2; timeout = 0.1; },
  { name = "https"; type = "https"; port = $P_HTTPS; path = "/health"; tls_verify = false;
    interval = 0.2; timeout = 0.1; },
  { name = "httpsv"; type = "https"; port = $P_HTTPS; path = "/health"; tls_verify = true;
    ca_file = "cert.pem"; sni = "localhost"; interval = 0.2; timeout = 0.1; },
  { name = "httpsbad"; type = "https"; port = $P_HTTPS; path = "/health"; host = "localhost";
    interval = 0.2; timeout = 0.1; },
  { name = "dns"; type = "dns"; port = $P_DNS; qname = "static.example.com"; qtype = "A";
    rcode = "NOERROR"; answer = "192.0.2.50"; interval = 0.2; timeout = 0.1; },
  { name = "true"; type = "exec"; command = [ "/bin/true" ]; interval = 0.2; timeout = 0.15; },
  { name = "false"; type = "exec"; command = [ "/bin/false" ]; interval = 0.2; timeout = 0.15; },
  { name = "file"; type = "exec"; command = [ "$WORK/check-file.sh", "$WORK/exec.flag", "%a", "%p" ];
    interval = 0.2; timeout = 0.15; },
  { name = "dead"; type = "tcp"; port = $P_DEAD; interval = 0.2; timeout = 0.1; },
  { name = "slow"; type = "tcp"; port = $P_DEAD; interval = 3.0; timeout = 0.2; },
  { name = "hang"; type = "http"; port = $P_HANG; interval = 0.5; timeout = 0.4; },
  { name = "silent"; type = "dns"; port = $P_UDP; qname = "example.com"; interval = 0.5; timeout = 0.4; }
);
$2
services = (
EOF
	for svc in tcp http https httpsv httpsbad dns true false file slow hang silent; do
		n=$((n + 1))
		cat >>"$1" <<EOF
  { name = "$svc.example.com"; policy = "failover"; ttl = 5;
    endpoints = ( { site = "bj-a"; addresses = [ "10.0.$n.1" ]; check = "$svc"; check_address = "127.0.0.1"; },
                  { site = "bj-b"; addresses = [ "10.0.$n.2" ]; } ); },
EOF
	done
	# Both sites checked and dead: fail open.
	cat >>"$1" <<EOF
  { name = "fo.example.com"; policy = "failover"; ttl = 5; answer = "all"; check = "dead";
    endpoints = ( { site = "bj-a"; addresses = [ "10.0.99.1" ]; check_address = "127.0.0.1"; },
                  { site = "bj-b"; addresses = [ "10.0.99.2" ]; check_address = "127.0.0.2"; } ); }
);
EOF
}

# Service number n (in write_conf's order) answers 10.0.n.1 (up) or 10.0.n.2.
A() { echo "10.0.$1.1"; }
B() { echo "10.0.$1.2"; }

write_conf "$CONF" "health = { state_file = \"health.state\"; unknown = \"up\"; };"
t "configuration check"
LAST_CMD="gtmd -t -c $CONF"
if "$GTMD" -t -c "$CONF" >"$OUT" 2>&1; then ok "gtmd -t accepts it"; else die "gtmd -t refuses the test configuration"; fi

start_gtmd
T_START=$(now_ms)
sleep 0.4    # the first round (interval 0.2 s): flips below start from a verdict

# ------------------------------------------------------------ every probe type

t "tcp: listener killed, then back"
wait_answer tcp "$(A 1)"
kill_backend tcp
wait_answer tcp "$(B 1)"
backend tcp tcp "$P_TCP"
wait_answer tcp "$(A 1)"

t "http: /health answers 503, then 200 again"
wait_answer http "$(A 2)"
touch "$WORK/http.down"
wait_answer http "$(B 2)"
rm -f "$WORK/http.down"
wait_answer http "$(A 2)"

t "https without verification: server killed, then back"
wait_answer https "$(A 3)"
wait_answer httpsv "$(A 4)"
kill_backend https
wait_answer https "$(B 3)"
wait_answer httpsv "$(B 4)"
backend https http "$P_HTTPS" "$WORK/https.down" "$WORK/cert.pem" "$WORK/key.pem"
wait_answer https "$(A 3)"
t "https with verification against ca_file: back too"
wait_answer httpsv "$(A 4)"

t "https verified against the system store: the self-signed certificate fails"
wait_answer httpsbad "$(B 5)"
LAST_CMD="grep 'check httpsbad' gtmd.log"
if grep -q "check httpsbad, .*-> down (tls failed" "$LOG"; then ok "logged as a TLS failure"
else fail "no '-> down (tls failed ...' line for httpsbad"; fi

t "dns: the backend gtmd stopped, then started again"
wait_answer dns "$(A 6)"
stop_dns_backend
wait_answer dns "$(B 6)"
start_dns_backend
wait_answer dns "$(A 6)"

t "exec: /bin/true up, /bin/false down"
wait_answer true "$(A 7)"
wait_answer false "$(B 8)"

t "exec: a script that checks a file, flipped"
wait_answer file "$(A 9)"
rm -f "$WORK/exec.flag"
wait_answer file "$(B 9)"
touch "$WORK/exec.flag"
wait_answer file "$(A 9)"

# ------------------------------------------------------------ logging

t "one log line per site transition"
LAST_CMD="grep 'service tcp.example.com, site bj-a' gtmd.log"
n=$(grep -c "service tcp.example.com, site bj-a, serving -> not serving (0 of 1 endpoints up, quorum 1)" "$LOG")
expect_le "$n" 1 "tcp site down lines"
expect_ge "$n" 1 "tcp site down lines"
n=$(grep -c "service tcp.example.com, site bj-a, not serving -> serving (1 of 1 endpoints up, quorum 1)" "$LOG")
expect_ge "$n" 1 "tcp site up lines"
expect_le "$n" 1 "tcp site up lines"
n=$(grep -cE "check tcp, tcp.example.com bj-a 10.0.1.1 \(127.0.0.1:$P_TCP\), state (up|unknown) -> down \(connection refused" "$LOG")
expect_ge "$n" 1 "tcp endpoint down lines"

# ------------------------------------------------------------ fail open

t "fail open: every endpoint answered, warned once"
query fo.example.com A
expect_rcode NOERROR
expect_count answer 2
expect_answer "fo.example.com. 5 IN A 10.0.99.1" "fo.example.com. 5 IN A 10.0.99.2"
# Many snapshots have been rebuilt by now (every flip above).
n=$(grep -c "service fo.example.com, no serving site, answering every endpoint (fail open)" "$LOG")
LAST_CMD="grep 'fo.example.com' gtmd.log"
if [ "$n" = 1 ]; then ok "fail open logged once"; else fail "fail open logged $n times, expected 1"; fi

# ------------------------------------------------------------ never stalls

t "probes timing out (hang, silent) never delay answers"
wait_answer hang "$(B 11)" 4000
wait_answer silent "$(B 12)" 4000
maxms=0
for i in $(seq 1 20); do
	t0=$(now_ms)
	q +short static.example.com A >/dev/null
	d=$(( $(now_ms) - t0 ))
	[ "$d" -gt "$maxms" ] && maxms=$d
done
expect_le "$maxms" 300 "slowest of 20 queries (ms)"
LAST_CMD="grep 'check hang' gtmd.log"
if grep -q "check hang, .*-> down (timeout" "$LOG"; then ok "hang: down by timeout"; else fail "hang not down by timeout"; fi

# ------------------------------------------------------------ state file

t "state file: an endpoint down at stop is absent from the first answer after a restart"
# "slow" probes a dead port every 3 s: once down, a restart without the
# state file would answer it as up for up to 3 s.
wait_answer slow "$(B 10)" 4000
stop_gtmd
LAST_CMD="cat health.state"
cp "$WORK/health.state" "$OUT" 2>/dev/null
if grep -qE "^slow 127\.0\.0\.1 $P_DEAD [0-9a-f]{16} down [0-9]+$" "$WORK/health.state"; then
	ok "state file holds slow as down"
else
	fail "state file lacks 'slow 127.0.0.1 $P_DEAD <hash> down <time>'"
fi
start_gtmd
got=$(first slow)
if [ "$got" = "$(B 10)" ]; then ok "first answer after restart is $got"
else fail "first answer after restart is '$got', expected $(B 10)"; fi
LAST_CMD="grep 'state file' gtmd.log"
if grep -q "health, state file .*health.state: [0-9]* of [0-9]* targets restored" "$LOG"; then ok "restore logged"
else fail "no 'targets restored' line"; fi

t "state file: a corrupt file is logged and ignored"
stop_gtmd
echo "garbage" >"$WORK/health.state"
start_gtmd
LAST_CMD="grep 'unusable' gtmd.log"
if grep -q "health, state file .* is unusable (line 1: not a gtm health state file" "$LOG"; then ok "corrupt file logged"
else fail "no 'unusable' line"; fi

# ------------------------------------------------------------ unknown = wait

t "unknown = wait: no answer before the first round, and then without the dead endpoints"
stop_gtmd
rm -f "$WORK/health.state"
write_conf "$CONF" "health = { state_file = \"health.state\"; unknown = \"wait\"; unknown_wait = 4; };"
start_gtmd
got=$(first slow)
if [ "$got" = "$(B 10)" ]; then ok "first answer leaves out the never-seen dead endpoint"
else fail "first answer is '$got', expected $(B 10)"; fi
got=$(first tcp)
if [ "$got" = "$(A 1)" ]; then ok "first answer has the live endpoint"
else fail "first answer for tcp is '$got', expected $(A 1)"; fi
LAST_CMD="grep 'first' gtmd.log"
if grep -q "health, waiting for a first verdict on" "$LOG" && grep -q "health, first round complete after" "$LOG"; then
	ok "wait logged"
else
	fail "no 'waiting for a first verdict' / 'first round complete' lines"
fi

t "a reload with a bad check is refused and the probes keep running"
cp "$CONF" "$WORK/good.conf"
sed -i 's/name = "tcp"; type = "tcp";/name = "tcp"; type = "tcpp";/' "$CONF"
off=$(stat -c %s "$LOG")
kill -HUP "$GTMD_PID"
LAST_CMD="grep reload gtmd.log"
if log_wait "$off" "reload, failed"; then ok "refused"; else fail "no 'reload, failed'"; fi
kill_backend tcp
wait_answer tcp "$(B 1)"
backend tcp tcp "$P_TCP"
wait_answer tcp "$(A 1)"
cp "$WORK/good.conf" "$CONF"

t "reload keeps the probes' state"
off=$(stat -c %s "$LOG")
kill -HUP "$GTMD_PID"
LAST_CMD="grep reload gtmd.log"
if log_wait "$off" "reload, done"; then ok "reloaded"; else fail "no 'reload, done'"; fi
got=$(first slow)
if [ "$got" = "$(B 10)" ]; then ok "slow still down after reload"; else fail "slow answers '$got' after reload"; fi
got=$(first tcp)
if [ "$got" = "$(A 1)" ]; then ok "tcp still up after reload"; else fail "tcp answers '$got' after reload"; fi

t "clean exit after a reload (sanitizer builds: no leak)"
stop_gtmd
if [ "$STOP_RC" = 0 ]; then ok "gtmd exited 0"; else fail "gtmd exit status $STOP_RC"; fi

echo "$TEST_NAME: ran in $(( $(now_ms) - T_START )) ms after the first start"
finish
