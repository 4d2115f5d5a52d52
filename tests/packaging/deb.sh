#!/usr/bin/env bash
# The Debian packages, end to end (CI: .ci/run; as root, it installs and
# removes packages on this machine):
#   build gtmd and gtmctl with packaging/build-deb.sh, install them with
#   apt-get, then check the installed files: the user gtm and its folders,
#   `gtmd -t` on the installed /etc/gtm/gtm.conf, `gtmctl --help`, the man
#   pages, the unit (systemd-analyze verify and security); run the
#   installed gtmd as root with server.user = "gtm" on a loopback port:
#   it answers and runs as gtm; then purge both packages.
# Prints the build time and the unit's exposure score.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "deb.sh: run as root (it installs packages)"; exit 2; }
"$top/packaging/deps.sh" package

pass=0
fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
gpid=""
cleanup() {
	[ -n "$gpid" ] && kill "$gpid" 2>/dev/null
	if dpkg-query -W -f='${Status}' gtmd 2>/dev/null | grep -q installed ||
	   dpkg-query -W -f='${Status}' gtmctl 2>/dev/null | grep -q installed; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq gtmd gtmctl >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

start=$(date +%s)
"$top/packaging/build-deb.sh" "$tmp/debs" >"$tmp/build.out"
echo "deb.sh: packages built in $(($(date +%s) - start)) s: $(cd "$tmp/debs" && ls *.deb | tr '\n' ' ')"
ls "$tmp"/debs/gtmd_*.deb "$tmp"/debs/gtmctl_*.deb >/dev/null && ok "gtmd and gtmctl built"

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	"$tmp"/debs/gtmd_*.deb "$tmp"/debs/gtmctl_*.deb >"$tmp/install.out" 2>&1 &&
	ok "apt-get install ./gtmd_*.deb ./gtmctl_*.deb" || { bad "install:"; tail -20 "$tmp/install.out"; }

out=$(/usr/sbin/gtmd -t -c /etc/gtm/gtm.conf 2>&1) && [ "$out" = "/etc/gtm/gtm.conf: configuration ok" ] &&
	ok "installed gtmd -t -c /etc/gtm/gtm.conf" || bad "installed gtmd -t: $out"
/usr/sbin/gtmctl --help >"$tmp/help" 2>&1 && grep -q -- '--socket' "$tmp/help" &&
	ok "installed gtmctl --help" || bad "gtmctl --help: $(head -3 "$tmp/help")"
/usr/sbin/gtmd --version | grep -q '^gtmd ' && ok "gtmd --version" || bad "gtmd --version"
id gtm >/dev/null 2>&1 && ok "user gtm ($(id gtm))" || bad "no user gtm"
for d in /var/lib/gtm /run/gtm; do
	[ "$(stat -c %U:%G "$d" 2>/dev/null)" = gtm:gtm ] && ok "$d owned by gtm" || bad "$d: $(stat -c %U:%G "$d" 2>&1)"
done
for f in /usr/share/man/man8/gtmd.8.gz /usr/share/man/man8/gtmctl.8.gz /usr/share/man/man5/gtm.conf.5.gz \
         /lib/systemd/system/gtmd.service /usr/share/doc/gtmd/examples/two-sites-three-centres.conf \
         /usr/share/gtm/grafana/gtm-dashboard.json /etc/gtm/example.com.zone; do
	[ -f "$f" ] && ok "installed $f" || bad "missing $f"
done
dpkg-query -W -f='${Conffiles}\n' gtmd | grep -q /etc/gtm/gtm.conf && ok "/etc/gtm/gtm.conf is a conffile" ||
	bad "/etc/gtm/gtm.conf is not a conffile"
for s in /usr/share/doc/gtmd/examples/*.conf; do
	/usr/sbin/gtmd -t -c "$s" >/dev/null 2>&1 && ok "installed sample $(basename "$s")" || bad "sample $s"
done
if command -v systemd-analyze >/dev/null; then
	v=$(systemd-analyze verify /lib/systemd/system/gtmd.service 2>&1 | grep '^/lib/systemd/system/gtmd.service\|^gtmd.service' || true)
	[ -z "$v" ] && ok "systemd-analyze verify gtmd.service" || bad "verify: $v"
	score=$(systemd-analyze security --offline=yes /lib/systemd/system/gtmd.service 2>/dev/null |
	        sed -n 's/.*Overall exposure level for gtmd.service: \([0-9.]*\).*/\1/p')
	echo "deb.sh: systemd-analyze security: exposure $score"
fi

# The installed daemon, started as root outside systemd: binds, drops to gtm.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/run"
cp /etc/gtm/example.com.zone "$tmp/run/"
cat >"$tmp/run/gtm.conf" <<CONF
server = { listen = [ "127.0.0.1:$port" ]; workers = 1; user = "gtm"; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
cities = ( { name = "c"; lat = 0; lon = 0; } );
sites = ( { name = "s"; city = "c"; } );
services = ( { name = "www.example.com"; endpoints = ( { site = "s"; addresses = [ "192.0.2.10" ]; } ); } );
CONF
chmod 755 "$tmp" "$tmp/run"
/usr/sbin/gtmd -c "$tmp/run/gtm.conf" >"$tmp/gtmd.log" 2>&1 &
gpid=$!
for i in $(seq 1 100); do grep -q 'startup, serving' "$tmp/gtmd.log" && break; sleep 0.05; done
[ "$(ps -o user= -p "$gpid" 2>/dev/null)" = gtm ] && ok "installed gtmd runs as gtm after binding" ||
	{ bad "gtmd user: $(ps -o user= -p "$gpid")"; cat "$tmp/gtmd.log"; }
if command -v kdig >/dev/null; then
	kdig @127.0.0.1 -p "$port" +short www.example.com A 2>&1 | grep -qx 192.0.2.10 &&
		ok "installed gtmd answers on port $port" || bad "no answer from the installed gtmd"
fi
kill "$gpid"; wait "$gpid" 2>/dev/null && ok "installed gtmd stops cleanly" || bad "gtmd exit status"
gpid=""

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq gtmd gtmctl >"$tmp/purge.out" 2>&1 && ok "apt-get purge" ||
	{ bad "purge:"; tail "$tmp/purge.out"; }
[ ! -e /usr/sbin/gtmd ] && [ ! -e /usr/sbin/gtmctl ] && [ ! -e /etc/gtm/gtm.conf ] &&
	ok "removed" || bad "files left after purge"
echo "packaging_deb: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
