#!/usr/bin/env bash
# The main job: installs the Debian packages, builds, starts one stand-in
# IDC per site (a small HTTP server on 127.0.0.1:18001..18005 that the health
# checks probe) and runs gtmd on the demo configuration (etc/gtm.conf) on
# 127.0.0.1:5353 and [::1]:5353 in the foreground.  Ctrl-C stops everything.
#
#   ./demo.sh --cluster   the same as a cluster: three etcd members
#                         (127.0.0.1:23791..23793) and three gtmd nodes
#                         (127.0.0.1:5353, 5354, 5355) sharing the admin
#                         state and voting on health (README, "Running a
#                         cluster").
set -euo pipefail
mode=${1:-}
case $mode in
"" | --cluster) ;;
*) echo "usage: $0 [--cluster]" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")" && pwd)
"$top/packaging/deps.sh" test
cmake -S "$top" -B "$top/build" >/dev/null
cmake --build "$top/build" -j"$(nproc)"
"$top/build/gtm/gtmd" -t -c "$top/etc/gtm.conf"

run=/tmp/gtm-demo          # control.socket of etc/gtm.conf lives here
mkdir -p "$run"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
sites=(bj-a bj-b sh-a sz-a fra-a)
for i in "${!sites[@]}"; do
	port=$((18001 + i))
	mkdir -p "$run/${sites[$i]}"
	/usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 --directory "$run/${sites[$i]}" \
		>"$run/${sites[$i]}.log" 2>&1 &
	pids+=($!)
	echo $! >"$run/${sites[$i]}.pid"
done

if [ "$mode" = --cluster ]; then
	# Three etcd members, fresh each run.
	members="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
	for n in 1 2 3; do
		rm -rf "$run/etcd$n"
		etcd --name "e$n" --data-dir "$run/etcd$n" --initial-cluster "$members" \
			--listen-client-urls "http://127.0.0.1:2379$n" --advertise-client-urls "http://127.0.0.1:2379$n" \
			--listen-peer-urls "http://127.0.0.1:2380$n" --initial-advertise-peer-urls "http://127.0.0.1:2380$n" \
			--initial-cluster-token gtm-demo >"$run/etcd$n.log" 2>&1 &
		pids+=($!)
		echo $! >"$run/etcd$n.pid"
	done
	# Node N: etc/gtm.conf with its own control socket and a cluster
	# group; its DNS port comes from -l.
	for n in 1 2 3; do
		mkdir -p "$run/n$n"
		sed -e "s|/tmp/gtm-demo/gtmd.sock|$run/n$n.sock|" \
		    -e "s|file = \"example.com.zone\"|file = \"$top/etc/example.com.zone\"|" \
		    "$top/etc/gtm.conf" >"$run/n$n/gtm.conf"
		cat >>"$run/n$n/gtm.conf" <<CONF

# added by demo.sh --cluster
cluster = {
  node = "gtm$n";
  etcd = [ "http://127.0.0.1:23791", "http://127.0.0.1:23792", "http://127.0.0.1:23793" ];
  lease = 3;
};
CONF
		"$top/build/gtm/gtmd" -t -c "$run/n$n/gtm.conf" >/dev/null
	done
	for n in 1 2 3; do
		"$top/build/gtm/gtmd" -c "$run/n$n/gtm.conf" -l "127.0.0.1:535$((n + 2))" >"$run/n$n.log" 2>&1 &
		pids+=($!)
		echo $! >"$run/n$n.pid"
	done
	cat <<TRY

Three etcd members (127.0.0.1:23791..23793) and three gtmd nodes are
starting: gtm1 on 127.0.0.1:5353, gtm2 on :5354, gtm3 on :5355, control
sockets $run/n1.sock .. n3.sock, logs $run/n1.log .. n3.log.  Stand-in
IDCs on 127.0.0.1:18001..18005.  Ctrl-C stops it all.  Try:

  gtmctl=$top/build/gtm/gtmctl
  \$gtmctl -s $run/n2.sock status                        # the cluster, each observer's view
  \$gtmctl -s $run/n1.sock drain bj-a --reason demo      # on node 1 ...
  kdig @127.0.0.1 -p 5355 www.example.com A              # ... node 3 answers without bj-a
  \$gtmctl -s $run/n3.sock history                       # the change, made on gtm1, on every node
  \$gtmctl -s $run/n3.sock undrain bj-a
  kill \$(cat $run/etcd1.pid) \$(cat $run/etcd2.pid)      # etcd loses its quorum:
  \$gtmctl -s $run/n1.sock status                        #   NOT IN SYNC, answers unchanged

TRY
	tail -f "$run/n1.log" "$run/n2.log" "$run/n3.log" &
	pids+=($!)
	wait "${pids[@]}"
	exit 0
fi

cat <<TRY

gtmd is starting on 127.0.0.1:5353 and [::1]:5353, with stand-in IDCs on
127.0.0.1:18001..18005 (bj-a bj-b sh-a sz-a fra-a).  Ctrl-C stops it all.
Try, from another shell:

  kdig @127.0.0.1 -p 5353 www.example.com A                      # the steered service
  kdig @127.0.0.1 -p 5353 +subnet=203.0.113.0/24 www.example.com A  # a client elsewhere (ECS)
  kdig @::1 -p 5353 +tcp example.com SOA                         # static records, over TCP
  kdig @127.0.0.1 -p 5353 +nsid example.com NS                   # which node answered (NSID)
  kdig @127.0.0.1 -p 5353 nosuch.example.com A                   # NXDOMAIN with the SOA
  dig @127.0.0.1 -p 5353 web.example.com A                       # a CNAME followed in the zone
  dig @127.0.0.1 -p 5353 host.sub.example.com A                  # a referral to a delegated zone

  gtmctl=$top/build/gtm/gtmctl; sock="-s $run/gtmd.sock"
  \$gtmctl \$sock status                                          # sites, health, admin state, shares
  \$gtmctl \$sock drain bj-a --ramp 30s --reason "demo" --wait    # drain an IDC stepwise
  \$gtmctl \$sock undrain bj-a
  \$gtmctl \$sock explain www.example.com 192.0.2.1                # why a client gets its answer
  kill \$(cat $run/bj-a.pid)                                      # fail the bj-a stand-in: it leaves the answers
  kill -HUP \$(pgrep -x gtmd)                                     # reload config and zones

TRY
"$top/build/gtm/gtmd" -c "$top/etc/gtm.conf"
