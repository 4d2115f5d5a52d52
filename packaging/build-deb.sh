#!/usr/bin/env bash
# Builds the Debian packages gtmd and gtmctl from this source tree:
#   packaging/build-deb.sh [OUTDIR]      (default: ./build-deb)
# Copies the tree (without build folders and .git) to a temporary folder,
# puts packaging/debian/ at its root with the systemd unit, sysusers.d and
# tmpfiles.d files of packaging/systemd/, and runs
# `dpkg-buildpackage -us -uc -b`.  The .deb files land in OUTDIR.
# Needs `packaging/deps.sh package`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$top/build-deb}" && cd "${1:-$top/build-deb}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtm-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

src=$tmp/gtm-0.1.0
mkdir -p "$src"
# Only the sources: no build trees, no git metadata, no earlier packages.
tar -C "$top" --exclude=.git --exclude='./build*' --exclude='./debian' -cf - . | tar -C "$src" -xf -
cp -a "$top/packaging/debian" "$src/debian"
cp "$top/packaging/systemd/gtmd.service" "$src/debian/gtmd.service"
cp "$top/packaging/systemd/gtmd.sysusers.conf" "$src/debian/gtmd.sysusers"
cp "$top/packaging/systemd/gtmd.tmpfiles.conf" "$src/debian/gtmd.tmpfiles"

start=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$tmp/build.log" 2>&1 || {
	tail -n 60 "$tmp/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed" >&2
	exit 1
}
for f in "$tmp"/*.deb; do
	cp "$f" "$out/"
	echo "$out/$(basename "$f")"
done
echo "build-deb.sh: built in $(($(date +%s) - start)) s" >&2
