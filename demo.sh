#!/usr/bin/env bash
# The main job: installs the Debian packages, builds, starts one stand-in
# IDC per site (a small HTTP server on 127.0.0.1:18001..18005 that the health
# checks probe) and runs gtmd on the demo configuration (etc/gtm.conf) on
# 127.0.0.1:5353 and [::1]:5353 in the foreground.  Ctrl-C stops everything.
set -euo pipefail
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
