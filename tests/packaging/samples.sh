#!/usr/bin/env bash
# The shipped configurations pass `gtmd -t`: one sample per topology in
# etc/samples/ and the package's /etc/gtm/gtm.conf (packaging/gtm.conf,
# checked beside the zone it is installed with).  The systemd unit is
# well-formed (systemd-analyze verify, when systemd is installed) and keeps
# its hardening: Type=notify, a dedicated user, only CAP_NET_BIND_SERVICE,
# ProtectSystem=strict, the state and runtime folders.
set -uo pipefail
: "${GTM_SRCDIR:?}" "${GTMD:?}"
fail=0
pass=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

want="active-standby mutual-backup same-city-active-active two-sites-three-centres
      cross-city-active-active cross-city-multi-active unit-based cold-standby cluster"
for name in $want; do
	[ -f "$GTM_SRCDIR/etc/samples/$name.conf" ] && ok "sample $name exists" || bad "no etc/samples/$name.conf"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$GTM_SRCDIR/etc/samples" "$tmp/samples"
mkdir "$tmp/etc-gtm"
cp "$GTM_SRCDIR/packaging/gtm.conf" "$GTM_SRCDIR/etc/example.com.zone" "$tmp/etc-gtm/"
for conf in "$tmp"/samples/*.conf "$tmp/etc-gtm/gtm.conf"; do
	name=${conf#"$tmp"/}
	if out=$("$GTMD" -t -c "$conf" 2>&1) && [ "$out" = "$conf: configuration ok" ]; then
		ok "gtmd -t $name"
	else
		bad "gtmd -t $name:"; echo "$out" | sed 's/^/    /'
	fi
done

unit=$GTM_SRCDIR/packaging/systemd/gtmd.service
for line in "Type=notify" "User=gtm" "ExecStart=/usr/sbin/gtmd -c /etc/gtm/gtm.conf" \
            'ExecReload=/bin/kill -HUP $MAINPID' "AmbientCapabilities=CAP_NET_BIND_SERVICE" \
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" "NoNewPrivileges=yes" \
            "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "StateDirectory=gtm" \
            "RuntimeDirectory=gtm" "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
            "SystemCallFilter=@system-service"; do
	grep -qxF -- "$line" "$unit" && ok "unit has $line" || bad "unit lacks $line"
done
if command -v systemd-analyze >/dev/null; then
	# Only the unit's own problems: the binary and man pages are not installed here.
	out=$(systemd-analyze verify "$unit" 2>&1 | grep '^gtmd.service' |
	      grep -vE 'is not executable|Command .man ' || true)
	[ -z "$out" ] && ok "systemd-analyze verify" || { bad "systemd-analyze verify:"; echo "$out"; }
	score=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
	        sed -n 's/.*Overall exposure level for gtmd.service: \([0-9.]*\).*/\1/p')
	if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
		ok "systemd-analyze security: exposure $score (at most 2.0)"
	else
		bad "systemd-analyze security: exposure '${score:-?}', want at most 2.0"
	fi
else
	echo "note: systemd-analyze not installed, unit verification skipped"
fi
echo "packaging_samples: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
