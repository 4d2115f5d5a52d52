#!/bin/bash
# Fuzzes for a while: runs an already built fuzz target (fuzz_query: the
# query path; fuzz_cluster: what a cluster node reads from etcd; fuzz_conf:
# the configuration loader) on a copy of its seed corpus,
# tests/fuzz/corpus/<name without fuzz_> (fuzz_conf: the goldens of
# tests/conf and etc/samples; the committed seeds stay untouched), and exits non-zero when libFuzzer finds a crash, a
# leak, a timeout or a broken invariant.  Builds nothing.
#
# Usage: tests/fuzz/run.sh [FUZZ_BINARY] [SECONDS]
#   binary:  default $FUZZ_QUERY, else build-fuzz/tests/fuzz/fuzz_query
#   seconds: default $FUZZ_SECONDS, else 60
# Env: FUZZ_JOBS (parallel fuzzing processes, default 1), FUZZ_ARTIFACTS
# (where crash inputs go, default a directory printed at the end),
# FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
BIN=${1:-${FUZZ_QUERY:-$TOP/build-fuzz/tests/fuzz/fuzz_query}}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
SECONDS_TO_RUN=${2:-${FUZZ_SECONDS:-60}}
JOBS=${FUZZ_JOBS:-1}

[ -x "$BIN" ] || { echo "run.sh: no fuzz target at $BIN (build with -DGTM_FUZZ=ON)" >&2; exit 2; }
NAME=$(basename "$BIN")
case $NAME in
fuzz_conf) SEEDS=("$TOP/tests/conf/good" "$TOP/tests/conf/bad" "$TOP/etc/samples") ;;
*) SEEDS=("$HERE/corpus/${NAME#fuzz_}") ;;
esac
for s in "${SEEDS[@]}"; do
	[ -d "$s" ] || { echo "run.sh: no seed corpus $s for $NAME" >&2; exit 2; }
done
MAXLEN=1024                  # a DNS query over UDP or TCP fits
[ "$NAME" = fuzz_query ] || MAXLEN=8192

WORK=$(mktemp -d /tmp/gtm-fuzz.XXXXXX)
ARTIFACTS=${FUZZ_ARTIFACTS:-$WORK/artifacts}
mkdir -p "$WORK/corpus" "$ARTIFACTS"
for s in "${SEEDS[@]}"; do
	for f in "$s"/*; do cp "$f" "$WORK/corpus/$(basename "$s")-$(basename "$f")"; done
done

args=(-max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len="$MAXLEN"
	-print_final_stats=1 -artifact_prefix="$ARTIFACTS/")
if [ "$JOBS" -gt 1 ]; then
	args+=(-jobs="$JOBS" -workers="$JOBS")   # fuzz-N.log files land in $WORK
fi
# shellcheck disable=SC2206
args+=(${FUZZ_ARGS:-})

export LSAN_OPTIONS="suppressions=$HERE/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
rc=0
(cd "$WORK" && "$BIN" "${args[@]}" "$WORK/corpus") || rc=$?

if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$ARTIFACTS")" ]; then
	echo "run.sh: $NAME failed (exit $rc); inputs in $ARTIFACTS:" >&2
	ls -l "$ARTIFACTS" >&2
	echo "run.sh: replay one with: $BIN $ARTIFACTS/<file>" >&2
	# Keep the artifacts; drop the grown corpus.
	rm -rf "$WORK/corpus"
	[ "$rc" -ne 0 ] || rc=1
	exit "$rc"
fi
echo "run.sh: $NAME: no crash in ${SECONDS_TO_RUN}s; corpus grew to $(ls "$WORK/corpus" | wc -l) inputs"
rm -rf "$WORK"
