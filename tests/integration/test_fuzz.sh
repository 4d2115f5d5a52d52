#!/bin/bash
# Random and mutated packets over UDP and TCP must never crash gtmd, and
# every response must be well formed (parseable, QR=1, <= 1232 bytes over
# UDP).  GTM_FUZZ_SEED and GTM_FUZZ_N change the run (defaults: 1, 2000).
. "$(dirname "$0")/lib.sh"

start_gtmd

seed=${GTM_FUZZ_SEED:-1}
n=${GTM_FUZZ_N:-2000}

t "$n random/mutated packets (seed $seed)"
LAST_CMD="dnsprobe.py fuzz --port $PORT --n $n --seed $seed"
"$PY" "$DNSPROBE" fuzz --port "$PORT" --n "$n" --seed "$seed" >"$OUT" 2>&1
rc=$?
PROBE=$(head -1 "$OUT")
[ -n "${VERBOSE:-}" ] && echo "   ($PROBE)"
if [ $rc -eq 0 ]; then ok "fuzzer ran"; else fail "fuzzer exited $rc"; fi
expect_tokens bad=0
answered=$(echo "$PROBE" | sed -n 's/.*answered=\([0-9]*\).*/\1/p')
expect_ge "$answered" 100 "responses to the fuzz packets"

t "still alive and correct afterwards"
expect_alive
query static.example.com A
expect_answer_is "static.example.com. 3600 IN A 192.0.2.50"
query +tcp www.example.com A
expect_count answer 1

finish
