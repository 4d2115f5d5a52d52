#!/usr/bin/env bash
# The cluster drill: a three-member etcd cluster and three gtmd nodes on
# loopback, serving www.example.com (primary-backup: bj-a + bj-b in beijing,
# sh-dr the disaster-recovery centre), each node probing three HTTP stand-in
# IDCs from its own source address (127.0.0.11, .12, .13).  A watcher
# (watcher.py) queries every node every 10 ms for the whole run and records
# each change of each node's answer and every query without a reply.
#
#   1. join      every node in sync with etcd, three observers each
#   2. drain     gtmctl drain bj-a on node 1 -> nodes 1, 2 and 3 answer
#                without bj-a; the propagation time per node (< 1 s)
#   3. conflict  two operators act on the same revision (--if-revision):
#                the second is refused, nothing is overwritten; two writes
#                raced on two nodes: none is lost silently
#   4. partition node 1 cut off from bj-a (nftables on its source address):
#                no answer changes while nodes 2 and 3 see bj-a; status shows
#                each observer's view; node 2 cut off too -> a majority sees
#                it down -> every node leaves bj-a out
#   5. leader    the etcd leader killed, an admin change at once: it reaches
#                every node, no query lost
#   6. etcd down all etcd members killed: every node answers with the last
#                state, says so (status, stats), refuses admin changes, uses
#                its own probes; etcd back -> in sync again, changes work
#   finally      no query lost on any node over the whole run
#
# Needs root (nftables), etcd and etcdctl (Debian etcd-server, etcd-client),
# python3, nft.  Without root or etcd it exits 77 (skipped).
#   sudo tests/cluster/drill.sh [--keep]      VERBOSE=1 for more
# shellcheck disable=SC2317  # cleanup is called by the trap
ME=cluster/drill.sh
# shellcheck source=tests/cluster/lib.sh
. "$(dirname "$0")/lib.sh"
[ "${1:-}" = --keep ] && KEEP_WORK=1
[ "$(id -u)" -eq 0 ] || skip "needs root (nftables partitions); run: sudo $0"
cluster_init etcd etcdctl nft kdig
TABLE=gtmcl$$
EPIDS=() GPIDS=() BPIDS=() WATCH_PID=""
declare -A FIG   # figures for the summary

die() {
	fail "$*"
	for i in 1 2 3; do
		[ -s "$WORK/n$i/gtmd.log" ] && { echo "--- node $i log (last 15 lines)"; tail -n 15 "$WORK/n$i/gtmd.log"; }
	done
	exit 1
}

cleanup() {
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
	nft delete table inet "$TABLE" 2>/dev/null
	local p
	for p in "${GPIDS[@]}" "${BPIDS[@]}" "${EPIDS[@]}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	sleep 0.3
	for p in "${GPIDS[@]}" "${BPIDS[@]}" "${EPIDS[@]}"; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "${KEEP_WORK:-}" ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "$ME: interrupted"; exit 130' INT TERM

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

read -r -a P <<<"$(free_ports 12)"
ECLI=("${P[0]}" "${P[1]}" "${P[2]}") EPEER=("${P[3]}" "${P[4]}" "${P[5]}")
DNS=("${P[6]}" "${P[7]}" "${P[8]}") IDC=("${P[9]}" "${P[10]}" "${P[11]}")
SITES=(bj-a bj-b sh-dr)
ADDR=(192.0.2.10 192.0.2.20 198.51.100.10)
ENDPOINTS="http://127.0.0.1:${ECLI[0]},http://127.0.0.1:${ECLI[1]},http://127.0.0.1:${ECLI[2]}"

# ------------------------------------------------------------ etcd

start_etcd() {   # start_etcd I (0..2); the cluster is "new" the first time
	local i=$1 init="" state=new
	for j in 0 1 2; do init+="${init:+,}e$j=http://127.0.0.1:${EPEER[$j]}"; done
	[ -d "$WORK/etcd$i/member" ] && state=existing
	etcd --name "e$i" --data-dir "$WORK/etcd$i" \
		--listen-client-urls "http://127.0.0.1:${ECLI[$i]}" --advertise-client-urls "http://127.0.0.1:${ECLI[$i]}" \
		--listen-peer-urls "http://127.0.0.1:${EPEER[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${EPEER[$i]}" \
		--initial-cluster "$init" --initial-cluster-state "$state" --initial-cluster-token "gtm-drill-$$" \
		>>"$WORK/etcd$i.log" 2>&1 &
	EPIDS[$i]=$!
}

ectl() { ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" --command-timeout=2s "$@"; }

wait_etcd() {   # wait_etcd N: until N members answer health
	local n=$1 k
	for k in $(seq 1 100); do
		[ "$(ectl endpoint health 2>&1 | grep -c 'is healthy')" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

leader() {   # prints the index (0..2) of the etcd leader
	ectl endpoint status -w json 2>/dev/null | "$PY" -c '
import json, sys
ports = sys.argv[1:]
for e in json.load(sys.stdin):
    if e["Status"]["header"]["member_id"] == e["Status"]["leader"]:
        print(ports.index(e["Endpoint"].rsplit(":", 1)[1])); sys.exit(0)
sys.exit(1)' "${ECLI[@]}"
}

# ------------------------------------------------------------ IDC stand-ins and gtmd

start_idcs() {
	for i in 0 1 2; do
		"$PY" "$TOP/tests/integration/health_backend.py" http "${IDC[$i]}" "$WORK/idc$i.ready" "$WORK/idc$i.down" \
			>>"$WORK/idc$i.log" 2>&1 &
		BPIDS[$i]=$!
	done
	for k in $(seq 1 50); do
		[ -e "$WORK/idc0.ready" ] && [ -e "$WORK/idc1.ready" ] && [ -e "$WORK/idc2.ready" ] && return 0
		sleep 0.1
	done
	die "the IDC stand-ins did not start"
}

write_conf() {   # write_conf N (1..3)
	local n=$1 d=$WORK/n$1
	mkdir -p "$d"
	cp "$TOP/tests/integration/data/example.com.zone" "$d/"
	cat >"$d/gtm.conf" <<EOF
# generated by tests/cluster/drill.sh: node gtm$n
server = { listen = [ "127.0.0.1:${DNS[$((n - 1))]}" ]; workers = 1; nsid = "gtm$n"; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
cities = ( { name = "beijing"; lat = 39.9042; lon = 116.4074; },
           { name = "shanghai"; lat = 31.2304; lon = 121.4737; } );
sites = ( { name = "bj-a"; city = "beijing"; }, { name = "bj-b"; city = "beijing"; },
          { name = "sh-dr"; city = "shanghai"; role = "backup"; } );
checks = ( { name = "web"; type = "http"; port = 80; path = "/health"; expect = [ 200 ];
             interval = 0.2; timeout = 0.1; rise = 2; fall = 2; recheck = 0.1;
             source = "127.0.0.1$n"; } );
health = { state_file = "health.state"; unknown = "up"; };
control = { socket = "$d/gtmd.sock"; state_file = "admin.state"; history_file = "history.jsonl"; };
controller = { holddown = 0; failback_ramp = 0; };
cluster = { node = "gtm$n"; etcd = [ "http://127.0.0.1:${ECLI[0]}", "http://127.0.0.1:${ECLI[1]}",
                                     "http://127.0.0.1:${ECLI[2]}" ];
            prefix = "/gtm-drill/"; lease = 2; timeout = 1; };
services = (
  { name = "www.example.com"; policy = "primary-backup"; primary = "beijing"; backup = "shanghai";
    answer = "all"; ttl = 5; check = "web";
    endpoints = (
      { site = "bj-a";  addresses = [ "${ADDR[0]}" ]; check_port = ${IDC[0]}; check_address = "127.0.0.1"; },
      { site = "bj-b";  addresses = [ "${ADDR[1]}" ]; check_port = ${IDC[1]}; check_address = "127.0.0.1"; },
      { site = "sh-dr"; addresses = [ "${ADDR[2]}" ]; check_port = ${IDC[2]}; check_address = "127.0.0.1"; }
    ); }
);
EOF
}

start_gtmd() {   # start_gtmd N
	local n=$1 d=$WORK/n$1
	(cd "$d" && exec "$GTMD" -c gtm.conf >>gtmd.log 2>&1) &
	GPIDS[$n]=$!
}

ctl() {   # ctl N ARGS...: gtmctl on node N
	local n=$1
	shift
	"$GTMCTL" -s "$WORK/n$n/gtmd.sock" -t 10 "$@"
}

jq_py() {   # jq_py EXPR < json: a python expression on `j`
	"$PY" -c "import json,sys; j=json.load(sys.stdin); print($1)"
}

cluster_field() {   # cluster_field N EXPR (on j = status["cluster"])
	ctl "$1" --json status 2>/dev/null | jq_py "(lambda j: $2)(j.get('cluster', {}))" 2>/dev/null
}

wait_for() {   # wait_for SECONDS CMD...: until CMD succeeds
	local limit=$1 t0
	shift
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt $((limit * 1000)) ]; do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

all_synced() {   # every node connected with 3 observers
	for n in 1 2 3; do
		[ "$(cluster_field "$n" "j['etcd'] + ' ' + str(len(j['observers']))")" = "connected 3" ] || return 1
	done
}

# The last answer of node N (0-based index in the watcher) at or after T ms.
answer_since() {   # answer_since IDX T -> prints "time addrs" of the first change at/after T
	awk -v i="$1" -v t="$2" '$1 == "change" && $3 == i && $2 >= t { print $2, $4; exit }' "$WORK/watch.out"
}
current_answer() {   # current_answer IDX
	awk -v i="$1" '$1 == "change" && $3 == i { a = $4 } END { print a }' "$WORK/watch.out"
}
# wait_answer IDX WANT SECONDS: until node IDX answers WANT
wait_answer() {
	local i=$1 want=$2 limit=$3 t0
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt $((limit * 1000)) ]; do
		[ "$(current_answer "$i")" = "$want" ] && return 0
		sleep 0.02
	done
	return 1
}
# When node IDX first answered WANT at or after T (ms), or "".
answered_at() {
	awk -v i="$1" -v w="$2" -v t="$3" '$1 == "change" && $3 == i && $2 >= t && $4 == w { print $2; exit }' "$WORK/watch.out"
}
# reached WANT T0 KEY SECONDS LIMIT WHAT: every node answers WANT within
# SECONDS; FIG[KEY_nN] = ms from T0 to node N's first such answer; a
# failure when it never came or came after LIMIT ms (0: no limit).
reached() {
	local want=$1 t0=$2 key=$3 secs=$4 limit=$5 what=$6 i t d
	for i in 0 1 2; do
		if ! wait_answer "$i" "$want" "$secs"; then
			fail "node $((i + 1)): $what: still answers $(current_answer "$i") after $secs s"
			continue
		fi
		t=$(answered_at "$i" "$want" "$t0")
		d=$((t - t0))
		FIG[${key}_n$((i + 1))]=$d
		if [ "$limit" -gt 0 ] && [ "$d" -gt "$limit" ]; then
			fail "node $((i + 1)): $what took $d ms (limit $limit)"
		else
			ok "node $((i + 1)): $what after $d ms"
		fi
	done
}

changes_between() {   # changes_between T0 T1: answer changes of any node in [T0, T1]
	awk -v a="$1" -v b="$2" '$1 == "change" && $2 >= a && $2 <= b' "$WORK/watch.out" | wc -l
}

ALL3="${ADDR[0]},${ADDR[1]}"            # primary-backup, answer all: bj-a and bj-b
NOBJA="${ADDR[1]}"

# ------------------------------------------------------------ 1. join

say "cluster drill: etcd on ${ECLI[*]}, gtmd on ${DNS[*]}, IDCs on ${IDC[*]}"
for i in 0 1 2; do start_etcd "$i"; done
wait_etcd 3 || die "etcd cluster did not come up"
start_idcs
for n in 1 2 3; do write_conf "$n"; "$GTMD" -t -c "$WORK/n$n/gtm.conf" >/dev/null || die "gtmd -t refused node $n's config"; done
for n in 1 2 3; do start_gtmd "$n"; done
if wait_for 15 all_synced; then ok "3 nodes in sync, 3 observers each"; else die "the nodes did not all join"; fi
# From here on every query to every node must be answered.
"$PY" "$HERE/watcher.py" "$WORK/watch.out" www.example.com 10 "${DNS[@]}" &
WATCH_PID=$!
for i in 0 1 2; do
	wait_answer "$i" "$ALL3" 5 || die "node $((i + 1)) does not answer bj-a + bj-b ($(current_answer "$i"))"
done
ok "every node answers $ALL3"
ctl 1 reload >"$WORK/reload.out" 2>&1 || { cat "$WORK/reload.out"; fail "gtmctl reload on node 1 failed"; }
wait_for 5 all_synced && ok "node 1 reloaded, still in sync" || fail "node 1 out of sync after a reload"

# ------------------------------------------------------------ 2. drain propagation

say "2. drain bj-a on node 1"
rev0=$(cluster_field 1 "j['revision']")
T0=$(now_ms)
ctl 1 drain bj-a --reason "cluster drill" >"$WORK/drain.out" 2>&1 || { cat "$WORK/drain.out"; die "drain on node 1 failed"; }
T1=$(now_ms)
reached "$NOBJA" "$T0" drain 3 1000 "bj-a left out after the drain on node 1"
FIG[drain_cmd]=$((T1 - T0))
rev1=$(cluster_field 2 "j['revision']")
[ "$rev1" -gt "$rev0" ] && ok "revision $rev0 -> $rev1 on node 2" || fail "node 2's revision did not move ($rev0 -> $rev1)"
lc=$(cluster_field 3 "j['last_change']['node'] + ' ' + j['last_change']['message']")
case $lc in gtm1*bj-a*) ok "node 3 names the change: $lc" ;; *) fail "node 3's last change: '$lc'" ;; esac
grep -q '"node":"gtm1"' "$WORK/n3/history.jsonl" && ok "node 3's history has gtm1's drain" ||
	fail "node 3's history file has no record from gtm1"
ctl 3 history | grep -q "root@gtm1 *drain" && ok "gtmctl history on node 3 shows root@gtm1's drain" ||
	fail "gtmctl history on node 3: $(ctl 3 history | tail -2)"
ectl get --prefix /gtm-drill/history/ --print-value-only | grep -q '"op":"drain"' &&
	ok "the history is in etcd" || fail "no drain record under /gtm-drill/history/ in etcd"
ctl 2 undrain bj-a >/dev/null || fail "undrain on node 2 failed"
for i in 0 1 2; do wait_answer "$i" "$ALL3" 3 || fail "node $((i + 1)) did not take bj-a back"; done

# ------------------------------------------------------------ 3. conflicts

say "3. conflicting writes"
r=$(cluster_field 1 "j['revision']")
wait_for 3 sh -c "[ \"\$($GTMCTL -s $WORK/n2/gtmd.sock --json status | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"cluster\"][\"revision\"])')\" = $r ]" ||
	fail "node 2 did not reach revision $r"
ctl 2 drain bj-b --if-revision "$r" --reason "operator A" >"$WORK/c1.out" 2>&1 &&
	ok "operator A (node 2, revision $r) drained bj-b" || { cat "$WORK/c1.out"; fail "operator A's drain failed"; }
ctl 3 drain bj-a --if-revision "$r" --reason "operator B" >"$WORK/c2.out" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && grep -q conflict "$WORK/c2.out"; then ok "operator B (node 3, same revision $r) refused: $(head -c 160 "$WORK/c2.out")"
else cat "$WORK/c2.out"; fail "operator B's write on a stale revision was not refused (exit $rc)"; fi
st=$(ectl get /gtm-drill/admin --print-value-only)
echo "$st" | "$PY" -c 'import json,sys; s=json.load(sys.stdin)["state"]["sites"]
sys.exit(0 if s["bj-b"]["state"] == "drained" and s.get("bj-a", {}).get("state", "active") == "active" else 1)' &&
	ok "etcd holds A's drain and not B's" || fail "etcd's admin state is not A's: $st"
ctl 1 undrain bj-b >/dev/null || fail "undrain bj-b failed"
# A race: two nodes write at the same moment, each from its own revision.
ctl 2 evacuate shanghai --force --reason "race A" >"$WORK/r1.out" 2>&1 & ra=$!
ctl 3 drain bj-b --force --reason "race B" >"$WORK/r2.out" 2>&1 & rb=$!
wait "$ra"; ea=$?
wait "$rb"; eb=$?
sleep 0.5
st=$(ectl get /gtm-drill/admin --print-value-only)
has_a=0 has_b=0
echo "$st" | "$PY" -c 'import json,sys; s=json.load(sys.stdin)["state"]; sys.exit(0 if s.get("cities",{}).get("shanghai",{}).get("evacuated") else 1)' && has_a=1
echo "$st" | "$PY" -c 'import json,sys; s=json.load(sys.stdin)["state"]; sys.exit(0 if s.get("sites",{}).get("bj-b",{}).get("state") == "drained" else 1)' && has_b=1
if [ "$ea" -eq 0 ] && [ "$has_a" -eq 0 ]; then fail "race: A was told ok but its change is not in etcd"
elif [ "$eb" -eq 0 ] && [ "$has_b" -eq 0 ]; then fail "race: B was told ok but its change is not in etcd"
elif [ "$ea" -ne 0 ] && [ "$has_a" -eq 1 ]; then fail "race: A was refused but its change is in etcd"
elif [ "$eb" -ne 0 ] && [ "$has_b" -eq 1 ]; then fail "race: B was refused but its change is in etcd"
elif [ "$ea" -ne 0 ] && [ "$eb" -ne 0 ]; then fail "race: both refused (one of two writes on the same revision must win)"
else ok "race: A exit $ea, B exit $eb; etcd has exactly what was confirmed"; fi
[ "$ea" -ne 0 ] && vsay "A: $(cat "$WORK/r1.out")"
[ "$eb" -ne 0 ] && vsay "B: $(cat "$WORK/r2.out")"
FIG[race]="A exit $ea, B exit $eb"
[ "$has_a" -eq 1 ] && { ctl 1 restore shanghai --force >/dev/null || fail "restore failed"; }
[ "$has_b" -eq 1 ] && { ctl 1 undrain bj-b >/dev/null || fail "undrain failed"; }
for i in 0 1 2; do wait_answer "$i" "$ALL3" 3 || fail "node $((i + 1)) not back to $ALL3 after the race"; done

# ------------------------------------------------------------ 3b. rolling change

say "3b. a rolling configuration change: node 3 knows a new site, node 1 not yet"
sed -i 's|{ name = "sh-dr"; city = "shanghai"; role = "backup"; } );|{ name = "sh-dr"; city = "shanghai"; role = "backup"; },\n          { name = "sh-new"; city = "shanghai"; } );|' "$WORK/n3/gtm.conf"
ctl 3 reload >"$WORK/reload3.out" 2>&1 || { cat "$WORK/reload3.out"; fail "reload of node 3 failed"; }
ctl 3 drain sh-new --reason "new site, not ready" >/dev/null || fail "drain sh-new on node 3 failed"
ctl 1 drain bj-b --force --reason "old config" >/dev/null || fail "drain bj-b on node 1 failed"
st=$(ectl get /gtm-drill/admin --print-value-only)
echo "$st" | "$PY" -c 'import json,sys; s=json.load(sys.stdin)["state"]["sites"]
sys.exit(0 if s.get("sh-new", {}).get("state") == "drained" and s.get("bj-b", {}).get("state") == "drained" else 1)' &&
	ok "node 1's write kept node 3's drain of a site node 1 does not know" ||
	fail "a write from the older configuration lost sh-new's drain: $st"
grep -q "sh-new" "$WORK/n1/gtmd.log" && ok "node 1 logs the site it does not know" || fail "node 1 does not mention sh-new"
ctl 1 undrain bj-b >/dev/null || fail "undrain bj-b failed"
for i in 0 1 2; do wait_answer "$i" "$ALL3" 3 || fail "node $((i + 1)) not back to $ALL3 after the rolling change"; done

# ------------------------------------------------------------ 4. partition

say "4. node 1 cut off from bj-a"
nft add table inet "$TABLE"
nft add chain inet "$TABLE" out '{ type filter hook output priority 0; policy accept; }'
nft add rule inet "$TABLE" out ip saddr 127.0.0.11 tcp dport "${IDC[0]}" drop
T0=$(now_ms)
view() { ctl 1 --json status | jq_py "[s for s in j['sites'] if s['name']=='bj-a'][0]['observers']['$1']"; }
wait_for 5 sh -c "[ \"\$($GTMCTL -s $WORK/n1/gtmd.sock --json status | $PY -c 'import json,sys; j=json.load(sys.stdin); print([s for s in j[\"sites\"] if s[\"name\"]==\"bj-a\"][0][\"observers\"][\"gtm1\"])')\" = down ]" ||
	fail "node 1's own probes do not see bj-a down"
sleep 2
T1=$(now_ms)
n=$(changes_between "$T0" "$T1")
[ "$n" -eq 0 ] && ok "no answer changed on any node in $(((T1 - T0))) ms while node 1 alone sees bj-a down" ||
	fail "$n answer changes while only node 1 saw bj-a down"
v="$(view gtm1) $(view gtm2) $(view gtm3)"
[ "$v" = "down up up" ] && ok "node 1's status shows each observer's view: gtm1 down, gtm2 up, gtm3 up" ||
	fail "observer views on node 1: $v"
ctl 1 status >"$WORK/status1.txt"
grep -q "observers" "$WORK/status1.txt" && ok "gtmctl status prints the observers" || fail "no observers in gtmctl status"
vsay "$(sed -n '/^cluster/,$p' "$WORK/status1.txt")"
say "   node 2 cut off as well: a majority sees bj-a down"
T0=$(now_ms)
nft add rule inet "$TABLE" out ip saddr 127.0.0.12 tcp dport "${IDC[0]}" drop
reached "$NOBJA" "$T0" vote 5 0 "bj-a left out with 2 of 3 observers seeing it down"
nft flush chain inet "$TABLE" out
for i in 0 1 2; do wait_answer "$i" "$ALL3" 5 || fail "node $((i + 1)) did not take bj-a back after the partition"; done

# ------------------------------------------------------------ 5. leader killed

say "5. the etcd leader killed"
L=$(leader) || die "no etcd leader found"
kill -9 "${EPIDS[$L]}"
wait "${EPIDS[$L]}" 2>/dev/null
EPIDS[$L]=""
T0=$(now_ms)
ctl 3 drain bj-b --reason "during leader loss" >"$WORK/l.out" 2>&1
rc=$?
T1=$(now_ms)
if [ "$rc" -eq 0 ]; then ok "drain on node 3 confirmed $((T1 - T0)) ms after the leader (e$L) died"
else cat "$WORK/l.out"; fail "drain on node 3 failed after the leader died (exit $rc)"; fi
FIG[leader_cmd]=$((T1 - T0))
WANT="${ADDR[0]}"
reached "$WANT" "$T0" leader 5 0 "the drain made during the leader loss applied"
start_etcd "$L"
wait_etcd 3 || fail "etcd member e$L did not rejoin"
wait_for 10 all_synced && ok "all in sync after e$L rejoined" || fail "nodes not in sync after e$L rejoined"

# ------------------------------------------------------------ 6. all of etcd down

say "6. all etcd members down"
for i in 0 1 2; do [ -n "${EPIDS[$i]}" ] && kill -9 "${EPIDS[$i]}"; done
wait "${EPIDS[@]}" 2>/dev/null
EPIDS=("" "" "")
T0=$(now_ms)
unreach() { for n in 1 2 3; do [ "$(cluster_field "$n" "j['etcd']")" = unreachable ] || return 1; done; }
wait_for 10 unreach && ok "every node says etcd is unreachable ($(($(now_ms) - T0)) ms)" || fail "a node did not notice etcd is gone"
ctl 1 stats >"$WORK/stats.txt"
grep -qE 'cluster.connected +0' "$WORK/stats.txt" && ok "stats: cluster.connected 0" || fail "stats lack cluster.connected 0"
grep -q "etcd unreachable" "$WORK/n2/gtmd.log" && ok "node 2 logs it" || fail "node 2 does not log the outage"
T1=$(now_ms)
ctl 2 undrain bj-b >"$WORK/u.out" 2>&1 && fail "an admin change was accepted without etcd" ||
	{ grep -q "etcd is unreachable" "$WORK/u.out" && ok "an admin change is refused after $(($(now_ms) - T1)) ms: $(cat "$WORK/u.out")" || fail "refusal without the reason: $(cat "$WORK/u.out")"; }
sleep 1
for i in 0 1 2; do
	[ "$(current_answer "$i")" = "$WANT" ] && ok "node $((i + 1)) keeps the last state ($WANT)" ||
		fail "node $((i + 1)) answers $(current_answer "$i") without etcd"
done
# Own probes decide now: node 1 alone cut off from bj-a leaves it out.
nft add rule inet "$TABLE" out ip saddr 127.0.0.11 tcp dport "${IDC[0]}" drop
wait_answer 0 "${ADDR[2]}" 5 && ok "node 1 follows its own probes without etcd (bj-a down -> sh-dr)" ||
	fail "node 1 answers $(current_answer 0) with its own probe of bj-a failing"
[ "$(current_answer 1)" = "$WANT" ] && ok "node 2 still answers bj-a (its probes see it)" || fail "node 2 answers $(current_answer 1)"
nft flush chain inet "$TABLE" out
wait_answer 0 "$WANT" 5 || fail "node 1 did not take bj-a back"
T0=$(now_ms)
for i in 0 1 2; do start_etcd "$i"; done
wait_etcd 3 || die "etcd did not come back"
if wait_for 20 all_synced; then
	FIG[recover]=$(($(now_ms) - T0))
	ok "every node in sync again ${FIG[recover]} ms after etcd was restarted"
else
	fail "the nodes did not get back in sync"
fi
T0=$(now_ms)
ctl 2 undrain bj-b >/dev/null && ok "admin changes work again" || fail "undrain after recovery failed"
reached "$ALL3" "$T0" after 3 0 "the undrain after recovery applied"

# ------------------------------------------------------------ the end

kill "$WATCH_PID"
wait "$WATCH_PID" 2>/dev/null
WATCH_PID=""
while read -r _ i sent answered lost; do
	FIG[queries_n$((i + 1))]="$sent sent, $lost lost"
	[ "$lost" -eq 0 ] && ok "node $((i + 1)): $sent queries, none lost" || fail "node $((i + 1)): $lost of $sent queries lost"
done < <(grep '^summary' "$WORK/watch.out")
for n in 1 2 3; do
	kill -0 "${GPIDS[$n]}" 2>/dev/null && ok "gtmd $n still running" || fail "gtmd $n died"
	# A clean stop, so that a leak report (sanitizer builds) lands in the log.
	kill -TERM "${GPIDS[$n]}" 2>/dev/null
	wait "${GPIDS[$n]}" 2>/dev/null
	GPIDS[$n]=""
	sanitizer_check "$WORK/n$n/gtmd.log" "node $n"
done

say ""
say "figures (ms from the command's start; nodes 1 / 2 / 3):"
say "  drain on node 1 -> answers changed     ${FIG[drain_n1]:-?} / ${FIG[drain_n2]:-?} / ${FIG[drain_n3]:-?}   (gtmctl returned after ${FIG[drain_cmd]:-?})"
say "  2 of 3 observers see bj-a down -> out  ${FIG[vote_n1]:-?} / ${FIG[vote_n2]:-?} / ${FIG[vote_n3]:-?}"
say "  leader killed, drain on node 3         ${FIG[leader_n1]:-?} / ${FIG[leader_n2]:-?} / ${FIG[leader_n3]:-?}   (gtmctl returned after ${FIG[leader_cmd]:-?})"
say "  etcd restarted -> all nodes in sync    ${FIG[recover]:-?}"
say "  first change after recovery            ${FIG[after_n1]:-?} / ${FIG[after_n2]:-?} / ${FIG[after_n3]:-?}"
say "  race on two nodes                      ${FIG[race]:-?}"
say "  queries                                ${FIG[queries_n1]:-?} | ${FIG[queries_n2]:-?} | ${FIG[queries_n3]:-?}"
say "$ME: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
