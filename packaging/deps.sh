#!/usr/bin/env bash
# Installs the Debian 12 packages gtm needs, by purpose:
#   packaging/deps.sh build      compilers, cmake and the -dev libraries
#   packaging/deps.sh test       build + the real DNS clients the tests drive
#   packaging/deps.sh fuzz       test + clang and its libFuzzer runtime
#   packaging/deps.sh bench      build + dnsperf and NSD (the comparison server)
#   packaging/deps.sh package    build + what packaging/build-deb.sh needs
#                                (debhelper, dpkg-dev, fakeroot)
# Nothing is installed that is already there; run as root (or with sudo).
set -euo pipefail

build=(build-essential cmake pkg-config libldns-dev libevent-dev libconfig-dev
       liburcu-dev libcmocka-dev libmaxminddb-dev libmaxmind-db-writer-perl libssl-dev
       libjansson-dev)
test=(knot-dnsutils dnsutils python3 iproute2 procps groff-base openssl
      graphite-carbon python3-whisper prometheus curl nftables dnsperf
      etcd-server etcd-client)
fuzz=(clang libclang-rt-14-dev)
bench=(dnsperf nsd gdnsd util-linux npm)
package=(debhelper dpkg-dev fakeroot)

want=()
for group in "${@:-test}"; do
	case "$group" in
	build) want+=("${build[@]}") ;;
	test) want+=("${build[@]}" "${test[@]}") ;;
	fuzz) want+=("${build[@]}" "${test[@]}" "${fuzz[@]}") ;;
	bench) want+=("${build[@]}" "${bench[@]}") ;;
	package) want+=("${build[@]}" "${package[@]}") ;;
	*) echo "deps.sh: unknown group '$group' (build, test, fuzz, bench, package)" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps.sh: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
# policy-rc.d keeps Debian's nsd from starting a system service on port 53.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
