#!/usr/bin/env bash
# The main job: installs the Debian packages, builds, and runs gtmd on the
# demo configuration (etc/gtm.conf) on 127.0.0.1:5353 and [::1]:5353 in the
# foreground.  Ctrl-C stops it.
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
"$top/packaging/deps.sh" test
cmake -S "$top" -B "$top/build" >/dev/null
cmake --build "$top/build" -j"$(nproc)"

"$top/build/gtm/gtmd" -t -c "$top/etc/gtm.conf"
cat <<'TRY'

gtmd is starting on 127.0.0.1:5353 and [::1]:5353 (Ctrl-C stops it). Try, from another shell:

  kdig @127.0.0.1 -p 5353 www.example.com A          # the steered service
  kdig @127.0.0.1 -p 5353 www.example.com AAAA
  kdig @::1 -p 5353 +tcp example.com SOA             # static records, over TCP
  kdig @127.0.0.1 -p 5353 +nsid example.com NS       # which node answered (NSID)
  kdig @127.0.0.1 -p 5353 nosuch.example.com A       # NXDOMAIN with the SOA
  dig @127.0.0.1 -p 5353 web.example.com A           # a CNAME followed in the zone
  dig @127.0.0.1 -p 5353 host.sub.example.com A      # a referral to a delegated zone
  kill -HUP $(pgrep -x gtmd)                          # reload config and zones

TRY
exec "$top/build/gtm/gtmd" -c "$top/etc/gtm.conf"
