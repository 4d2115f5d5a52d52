#!/bin/bash
# DNS over TCP (RFC 7766): pipelining, reassembly, the idle timeout
# (tcp_idle_timeout = 2 in data/gtm.conf) and the client cap
# (tcp_max_clients = 50).
. "$(dirname "$0")/lib.sh"

start_gtmd

t "three pipelined queries on one connection, all answered"
LAST_CMD="dnsprobe.py pipeline --port $PORT --n 3"
"$PY" "$DNSPROBE" pipeline --port "$PORT" --n 3 >"$OUT" 2>&1
if grep -qx 'sent=3 answered=3 all-ok' "$OUT"; then ok "pipelined 3"; else fail "pipelining"; fi

t "five pipelined queries sent in small pieces, all answered"
LAST_CMD="dnsprobe.py pipeline --port $PORT --n 5 --split"
"$PY" "$DNSPROBE" pipeline --port "$PORT" --n 5 --split >"$OUT" 2>&1
if grep -qx 'sent=5 answered=5 all-ok' "$OUT"; then ok "pipelined 5, split"; else fail "pipelining with split writes"; fi

t "queries then a half-close: all answered"
LAST_CMD="dnsprobe.py pipeline --port $PORT --n 3 --shutdown"
"$PY" "$DNSPROBE" pipeline --port "$PORT" --n 3 --shutdown >"$OUT" 2>&1
if grep -qx 'sent=3 answered=3 all-ok' "$OUT"; then ok "answered after half-close"; else fail "half-closed connection"; fi

t "TCP ignores the EDNS UDP size"
query +tcp +bufsize=512 big.example.com TXT
expect_rcode NOERROR
expect_noflag tc
expect_count answer 12

t "idle timeout: idle connections closed after about 2 s, busy ones kept"
LAST_CMD="dnsprobe.py idle --port $PORT --active 3.2 --limit 6"
"$PY" "$DNSPROBE" idle --port "$PORT" --active 3.2 --limit 6 >"$OUT" 2>&1
PROBE=$(head -1 "$OUT")
expect_tokens after_answered=yes active_closed=never
silent=$(echo "$PROBE" | sed -n 's/.*silent_closed=\([0-9.]*\).*/\1/p')
after=$(echo "$PROBE" | sed -n 's/.*after_closed=\([0-9.]*\).*/\1/p')
sent=$(echo "$PROBE" | sed -n 's/.*active_sent=\([0-9]*\).*/\1/p')
answered=$(echo "$PROBE" | sed -n 's/.*active_answered=\([0-9]*\).*/\1/p')
# Allow for a timer that fires on a coarse tick: between 1.5 and 4 s.
in_range() { awk -v v="$1" 'BEGIN { exit !(v != "" && v >= 1.5 && v <= 4.0) }'; }
if in_range "$silent"; then ok "silent closed at $silent s"
else fail "silent connection closed at '${silent:-never}' s, expected about 2"; fi
if in_range "$after"; then ok "idle after a query closed at $after s"
else fail "idle connection (after one query) closed at '${after:-never}' s, expected about 2"; fi
expect_ge "$sent" 5 "queries on the busy connection"
if [ -n "$sent" ] && [ "$sent" = "$answered" ]; then ok "busy connection answered throughout"
else fail "busy connection: $answered of $sent answered"; fi

t "tcp_max_clients: 60 connections against a cap of 50"
LAST_CMD="dnsprobe.py maxclients --port $PORT --n 60"
"$PY" "$DNSPROBE" maxclients --port "$PORT" --n 60 >"$OUT" 2>&1
PROBE=$(head -1 "$OUT")
echo "   ($PROBE)"
answered=$(echo "$PROBE" | sed -n 's/.*answered=\([0-9]*\).*/\1/p')
expect_le "$answered" 50 "connections answered while 60 are held"
expect_ge "$answered" 40 "connections answered while 60 are held"
expect_alive

t "after the flood, TCP answers again"
query +tcp static.example.com A
expect_rcode NOERROR
expect_answer_is "static.example.com. 3600 IN A 192.0.2.50"
LAST_CMD="dnsprobe.py pipeline --port $PORT --n 3"
"$PY" "$DNSPROBE" pipeline --port "$PORT" --n 3 >"$OUT" 2>&1
if grep -qx 'sent=3 answered=3 all-ok' "$OUT"; then ok "pipelined 3 again"; else fail "pipelining after the flood"; fi

finish
