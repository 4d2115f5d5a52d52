# shellcheck shell=bash
# Shared by tests/bench/bench.sh and tests/bench/geo-bench.sh (sourced, not
# run): CPU per query from /proc, the dnsperf runs, socket buffers.
#
# The caller sets: WORK (a scratch directory), DNSPERF, CLIENTS, OUTSTANDING,
# DURATION, FIXED_QPS, CLIENT_CPU, SOCKBUF, DNSPERF_EXTRA, CLK_TCK; and
# defines die().

# The pid and every descendant of $1 (NSD forks xfrd and its server).
pid_tree() {
	local p=$1 c
	echo "$p"
	for c in $(pgrep -P "$p"); do
		pid_tree "$c"
	done
}

# utime + stime of the process tree under $1, in clock ticks.  Fields 14 and
# 15 of /proc/PID/stat count every thread of the process; we strip the
# "(comm)" first since a name may hold spaces.
cpu_ticks() {
	local total=0 p rest
	for p in $(pid_tree "$1"); do
		rest=$(sed 's/^.*) //' /proc/"$p"/stat 2>/dev/null) || continue
		[ -n "$rest" ] || continue
		# after "pid (comm) ", field 3 (state) is $1, so 14/15 are $12/$13
		total=$((total + $(echo "$rest" | awk '{print $12 + $13}')))
	done
	echo "$total"
}

# VmRSS (or another /proc/PID/status field in kB, e.g. RssAnon) of the
# process tree under $1, in KiB.
rss_kib() { # pid [field]
	local total=0 p v
	for p in $(pid_tree "$1"); do
		v=$(awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' /proc/"$p"/status 2>/dev/null) || continue
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

stat_of() { # file "Label:" -> first number after it
	awk -v k="$2" 'index($0, k) { sub(".*" k "[ \t]*", ""); print $1 + 0; exit }' "$1"
}

# One saturating run against the server whose pid is $4 (default
# $SERVER_PID): dnsperf with $CLIENTS x $OUTSTANDING for $DURATION s.
# Prints "qps lost completed us_per_query".
run_load() { # port queryfile tag [pid]
	local port=$1 qfile=$2 pid=${4:-$SERVER_PID} out=$WORK/dnsperf-$3.out t0 t1
	t0=$(cpu_ticks "$pid")
	# shellcheck disable=SC2086
	taskset -c "$CLIENT_CPU" "$DNSPERF" -s 127.0.0.1 -p "$port" -d "$qfile" \
		-c "$CLIENTS" -q "$OUTSTANDING" -l "$DURATION" $DNSPERF_EXTRA >"$out" 2>&1 ||
		die "dnsperf failed ($out)"
	t1=$(cpu_ticks "$pid")
	local qps lost completed
	qps=$(stat_of "$out" "Queries per second:")
	lost=$(stat_of "$out" "Queries lost:")
	completed=$(stat_of "$out" "Queries completed:")
	awk -v q="$qps" -v l="$lost" -v d="$completed" -v t=$((t1 - t0)) -v hz="$CLK_TCK" \
		'BEGIN { printf "%.0f %d %d %.2f\n", q, l, d, (d > 0 ? t * 1e6 / hz / d : 0) }'
}

# One run at a fixed $FIXED_QPS with dnsperf -v, which prints every
# response's latency ("> NOERROR name A 0.000123"; with -B, "> NOERROR
# 0.000123"), "T" on a timeout or "I" for a query still in flight when the
# run ends (left out).  Timeouts count as infinitely slow, so they push up
# the percentiles rather than vanish.  Prints "p50_us p99_us".
run_latency() { # port queryfile tag
	local port=$1 qfile=$2 out=$WORK/dnsperf-lat-$3.out
	# shellcheck disable=SC2086
	taskset -c "$CLIENT_CPU" "$DNSPERF" -s 127.0.0.1 -p "$port" -d "$qfile" \
		-c "$CLIENTS" -q "$OUTSTANDING" -l "$DURATION" -Q "$FIXED_QPS" -v $DNSPERF_EXTRA \
		>"$out" 2>&1 || die "dnsperf failed ($out)"
	awk '$1 == ">" && $2 != "I" { print ($2 == "T" || NF < 3) ? "inf" : $NF * 1e6 }' "$out" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "- -"; exit }
			i50 = int(NR * 0.50 + 0.999999); if (i50 < 1) i50 = 1
			i99 = int(NR * 0.99 + 0.999999); if (i99 < 1) i99 = 1
			printf "%s %s\n", (v[i50] == "inf" ? "timeout" : sprintf("%.0f", v[i50])),
			                  (v[i99] == "inf" ? "timeout" : sprintf("%.0f", v[i99]))
		}'
}

# Raises net.core.rmem_max/wmem_max to $SOCKBUF if lower (root only);
# restore_sockbuf puts the old values back (call it on exit).
OLD_RMEM=
OLD_WMEM=
raise_sockbuf() {
	local cur_r cur_w
	cur_r=$(sysctl -n net.core.rmem_max)
	cur_w=$(sysctl -n net.core.wmem_max)
	if [ "$cur_r" -lt "$SOCKBUF" ] || [ "$cur_w" -lt "$SOCKBUF" ]; then
		if sysctl -q -w net.core.rmem_max="$SOCKBUF" net.core.wmem_max="$SOCKBUF" >/dev/null 2>&1; then
			OLD_RMEM=$cur_r
			OLD_WMEM=$cur_w
			echo "bench: raised net.core.rmem_max/wmem_max from $cur_r/$cur_w to $SOCKBUF (restored on exit)"
		else
			echo "bench: warning: could not raise net.core.rmem_max/wmem_max ($cur_r/$cur_w); servers get smaller buffers" >&2
		fi
	else
		echo "bench: net.core.rmem_max/wmem_max already $cur_r/$cur_w"
	fi
}
restore_sockbuf() {
	if [ -n "$OLD_RMEM" ]; then
		sysctl -q -w net.core.rmem_max="$OLD_RMEM" net.core.wmem_max="$OLD_WMEM" \
			>/dev/null 2>&1 || true
		OLD_RMEM=
	fi
}

# Anything else running skews both the CPU per query (cache, frequency) and
# the tail latency (a runnable neighbour costs a scheduler tick).
warn_busy() {
	local busy
	busy=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 20 { printf "%s%s (%s%%)", sep, $2, $1; sep=", " }')
	if [ -n "$busy" ]; then
		echo "bench: warning: other processes are using CPU: $busy; figures will be noisy" >&2
	fi
	echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
}
