#!/bin/bash
# Geo steering end to end: gtmd with the generated GeoIP fixtures
# (tests/geo/README.md lists their networks), ten cities with one site each,
# queried with kdig +subnet= (EDNS Client Subnet, RFC 7871).
#
#   - every fixture city, IPv4 and IPv6 ECS: that city's address, and the
#     scope = the widest prefix over which the answer is the same (the
#     merged network of the geo tree), at most the source's;
#   - no ECS: located by the source address 127.0.0.1, which is in no
#     network, so the default order (shanghai first);
#   - ecs = false, and a resolver outside ecs_trusted: ECS ignored (no
#     option in the answer), default order;
#   - maps (a country rule, a CIDR rule) win over distance;
#   - failover answers its first site whoever asks; answer = "all";
#   - the flat schema with separate IPv4/IPv6 files answers the same;
#   - SIGHUP with a changed database; the database file replaced on disk
#     (picked up by the 5 s poll); a corrupt replacement keeps the old one.
. "$(dirname "$0")/lib.sh"

FIX=${GTM_BINDIR:-/nonexistent}/tests/geo
for f in geoip2-city.mmdb flat-city-ipv4.mmdb flat-city-ipv6.mmdb; do
	[ -f "$FIX/$f" ] || { echo "$TEST_NAME: fixture $FIX/$f missing (build target geo_fixtures)" >&2; exit 1; }
done
cp "$FIX/geoip2-city.mmdb" "$FIX/flat-city-ipv4.mmdb" "$FIX/flat-city-ipv6.mmdb" "$WORK/"
cp "$FIX/geoip2-city.mmdb" "$WORK/geo.mmdb"

GCONF=$WORK/geo.conf

# write_conf GEO-BODY: the geo test config with this geo = { ... } body.
write_conf() {
	cat >"$GCONF" <<EOF
server = { workers = 2; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
cities = (
  { name = "beijing";   lat = 39.9042;  lon = 116.4074; },
  { name = "shanghai";  lat = 31.2304;  lon = 121.4737; },
  { name = "shenzhen";  lat = 22.5431;  lon = 114.0579; },
  { name = "guangzhou"; lat = 23.1291;  lon = 113.2644; },
  { name = "hangzhou";  lat = 30.2741;  lon = 120.1551; },
  { name = "frankfurt"; lat = 50.1109;  lon = 8.6821; },
  { name = "virginia";  lat = 39.0438;  lon = -77.4874; },
  { name = "tokyo";     lat = 35.6762;  lon = 139.6503; },
  { name = "singapore"; lat = 1.3521;   lon = 103.8198; },
  { name = "sao-paulo"; lat = -23.5505; lon = -46.6333; }
);
sites = (
  { name = "bj-a";  city = "beijing"; },
  { name = "sh-a";  city = "shanghai"; },
  { name = "sz-a";  city = "shenzhen"; },
  { name = "gz-a";  city = "guangzhou"; },
  { name = "hz-a";  city = "hangzhou"; },
  { name = "fra-a"; city = "frankfurt"; },
  { name = "iad-a"; city = "virginia"; },
  { name = "tyo-a"; city = "tokyo"; },
  { name = "sg-a";  city = "singapore"; },
  { name = "gru-a"; city = "sao-paulo"; },
  { name = "bj-b";  city = "beijing"; }
);
geo = {
$1
};
services = (
  { name = "geo.example.com"; policy = "nearest"; ttl = 30;
    endpoints = (
      { site = "bj-a";  addresses = [ "203.0.113.1",  "2001:db8:f::1" ]; },
      { site = "sh-a";  addresses = [ "203.0.113.2",  "2001:db8:f::2" ]; },
      { site = "sz-a";  addresses = [ "203.0.113.3",  "2001:db8:f::3" ]; },
      { site = "gz-a";  addresses = [ "203.0.113.4",  "2001:db8:f::4" ]; },
      { site = "hz-a";  addresses = [ "203.0.113.5",  "2001:db8:f::5" ]; },
      { site = "fra-a"; addresses = [ "203.0.113.6",  "2001:db8:f::6" ]; },
      { site = "iad-a"; addresses = [ "203.0.113.7",  "2001:db8:f::7" ]; },
      { site = "tyo-a"; addresses = [ "203.0.113.8",  "2001:db8:f::8" ]; },
      { site = "sg-a";  addresses = [ "203.0.113.9",  "2001:db8:f::9" ]; },
      { site = "gru-a"; addresses = [ "203.0.113.10", "2001:db8:f::10" ]; }
    ); },
  { name = "all.example.com"; policy = "nearest"; answer = "all";
    endpoints = (
      { site = "bj-a"; addresses = [ "203.0.113.21" ]; },
      { site = "bj-b"; addresses = [ "203.0.113.22" ]; },
      { site = "sh-a"; addresses = [ "203.0.113.23" ]; }
    ); },
  { name = "one.example.com"; policy = "nearest";
    endpoints = (
      { site = "bj-a"; addresses = [ "203.0.113.41" ]; },
      { site = "bj-b"; addresses = [ "203.0.113.42" ]; }
    ); },
  { name = "fo.example.com"; policy = "failover"; order = [ "sg-a", "bj-a" ];
    endpoints = (
      { site = "bj-a"; addresses = [ "203.0.113.31" ]; },
      { site = "sg-a"; addresses = [ "203.0.113.39" ]; }
    ); }
);
EOF
}

GEO_BASE='  databases = [ "geo.mmdb" ];
  default_order = [ "shanghai" ];'

# city index -> site address octet; the ECS subnets of each fixture city
# (an IPv4 /24 and an IPv6 /56 inside its network) and the expected scopes.
#        city       v4 subnet           scope  v6 subnet                  scope  octet
CITIES="beijing    198.18.7.0/24       16     3fff:100:ab00::/56         32     1
shanghai   198.19.200.0/24     16     3fff:200::/56              32     2
shenzhen   100.64.5.0/24       20     2001:db8:100::/56          48     3
guangzhou  100.64.20.0/24      20     2001:db8:200::/56          48     4
hangzhou   100.65.0.0/24       24     2001:db8:300::/56          48     5
frankfurt  192.0.2.0/24        24     3fff:300::/56              32     6
virginia   198.51.100.0/24     24     3fff:400::/56              32     7
tokyo      203.0.113.0/24      24     2001:db8:400::/56          48     8
singapore  100.66.40.0/24      16     3fff:500::/56              32     9
sao-paulo  100.67.0.0/24       22     2001:db8:500::/56          56     10"

# expect_ecs SUBNET/SCOPE: the answer echoes ECS with this source and scope.
expect_ecs() {
	local got
	got=$(sed -n 's/^;; CLIENT-SUBNET: //p' "$OUT" | head -1)
	if [ "$got" = "$1" ]; then ok "ECS $1"
	else fail "ECS in the answer is '${got:-<none>}', expected $1"; fi
}

expect_no_ecs() {
	if grep -q '^;; CLIENT-SUBNET:' "$OUT"; then fail "the answer carries ECS: $(grep '^;; CLIENT-SUBNET:' "$OUT")"
	else ok "no ECS in the answer"; fi
}

# every_city LABEL: each fixture city over IPv4 and IPv6 ECS.
every_city() {
	local city v4 s4 v6 s6 n
	while read -r city v4 s4 v6 s6 n; do
		t "$1: $city, IPv4 ECS $v4"
		query +norec +subnet="$v4" geo.example.com A
		expect_rcode NOERROR
		expect_answer_is "geo.example.com. 30 IN A 203.0.113.$n"
		expect_ecs "$v4/$s4"

		t "$1: $city, IPv6 ECS $v6"
		query +norec +subnet="$v6" geo.example.com AAAA
		expect_rcode NOERROR
		expect_answer_is "geo.example.com. 30 IN AAAA 2001:db8:f::$n"
		expect_ecs "$v6/$s6"
	done <<<"$CITIES"
}

# wait_log ERE [SECONDS]: until the gtmd log (from offset $off) matches.
wait_log() {
	local i
	for i in $(seq 1 $(( ${2:-5} * 10 ))); do
		tail -c +$((off + 1)) "$LOG" | grep -qE -- "$1" && return 0
		sleep 0.1
	done
	return 1
}

# reload_with GEO-BODY: rewrites the config, SIGHUP, waits for the log line.
reload_with() {
	write_conf "$1"
	LAST_CMD="$GTMD -t -c $GCONF"
	"$GTMD" -t -c "$GCONF" >"$OUT" 2>&1 || die "test bug: the config does not pass gtmd -t"
	off=$(stat -c %s "$LOG")
	kill -HUP "$GTMD_PID"
	wait_log 'reload, (done|failed)' || die "no reload line in the log 5 s after SIGHUP"
	tail -c +$((off + 1)) "$LOG" | grep -q 'reload, done' || die "reload refused"
}

write_conf "$GEO_BASE"
start_gtmd "$GCONF"

every_city "geoip2"

t "ECS source prefix shorter than the network: the scope is capped"
query +norec +subnet=198.18.0.0/15 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.1"
expect_ecs "198.18.0.0/15/15"

t "no ECS: the source address 127.0.0.1 is unlocated, default order (shanghai)"
query +norec geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.2"
expect_no_ecs

t "ECS in no network: default order"
query +norec +subnet=8.8.8.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.2"

t "country-only record (DE, no coordinates): default order"
query +norec +subnet=100.68.1.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.2"

t "over TCP too"
query +tcp +norec +subnet=203.0.113.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.8"

t "answer = all: every site of the nearest city (config order)"
query +norec +subnet=198.18.7.0/24 all.example.com A
expect_answer_is "all.example.com. 30 IN A 203.0.113.21" "all.example.com. 30 IN A 203.0.113.22"

t "answer = all: a city without the service's sites falls through to the next one"
query +norec +subnet=100.65.0.0/24 all.example.com A
expect_answer_is "all.example.com. 30 IN A 203.0.113.23"

t "answer = one: one site per query, both sites of the city over 40 queries"
seen41=0 seen42=0 bad=0
for i in $(seq 1 40); do
	a=$(q +short +subnet=198.18.7.0/24 one.example.com A | tr '\n' ' ')
	case $a in
	"203.0.113.41 ") seen41=$((seen41 + 1)) ;;
	"203.0.113.42 ") seen42=$((seen42 + 1)) ;;
	*) bad=$((bad + 1)) ;;
	esac
done
expect_le "$bad" 0 "answers that were not exactly one beijing site"
expect_ge "$seen41" 1 "answers with bj-a"
expect_ge "$seen42" 1 "answers with bj-b"

t "failover: the first site of the order, whoever asks"
for s in 198.18.7.0/24 192.0.2.0/24 100.67.0.0/24; do
	query +norec +subnet=$s fo.example.com A
	expect_answer_is "fo.example.com. 30 IN A 203.0.113.39"
done
query +norec fo.example.com A
expect_answer_is "fo.example.com. 30 IN A 203.0.113.39"

t "static records: ECS scope 0"
query +norec +subnet=198.18.7.0/24 static.example.com A
expect_answer_is "static.example.com. 3600 IN A 192.0.2.50"
expect_ecs "198.18.7.0/24/0"

# ------------------------------------------------------------ ECS settings

t "ecs = false: ECS ignored, default order, no ECS in the answer"
reload_with "$GEO_BASE
  ecs = false;"
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.2"
expect_no_ecs

t "ECS from a resolver outside ecs_trusted: ignored"
reload_with "$GEO_BASE
  ecs_trusted = [ \"192.0.2.0/24\", \"::1/128\" ];"
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.2"
expect_no_ecs

t "ECS from a trusted resolver: used"
reload_with "$GEO_BASE
  ecs_trusted = [ \"127.0.0.0/8\" ];"
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.1"
expect_ecs "198.18.7.0/24/16"

# ------------------------------------------------------------ maps

t "maps: a country rule and a CIDR rule win over distance"
reload_with "$GEO_BASE
  maps = (
    { country = [ \"JP\" ]; cities = [ \"singapore\" ]; },
    { cidr = [ \"198.18.0.0/16\", \"3fff:100::/32\" ]; cities = [ \"frankfurt\" ]; },
    { continent = [ \"SA\" ]; cities = [ \"virginia\" ]; },
    { subdivision = [ \"CN-ZJ\" ]; cities = [ \"hangzhou\", \"shenzhen\" ]; }
  );"
query +norec +subnet=203.0.113.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.9"
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.6"
query +norec +subnet=3fff:100:ab00::/56 geo.example.com AAAA
expect_answer_is "geo.example.com. 30 IN AAAA 2001:db8:f::6"
query +norec +subnet=100.67.0.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.7"
t "maps: a client no rule matches still goes by distance"
query +norec +subnet=192.0.2.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.6"
query +norec +subnet=100.64.20.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.4"
t "maps: a rule's city without the service falls through to the next nearest"
query +norec +subnet=198.18.7.0/24 all.example.com A
expect_answer_is "all.example.com. 30 IN A 203.0.113.21" "all.example.com. 30 IN A 203.0.113.22"

# ------------------------------------------------------------ reload

t "SIGHUP with a changed database file: the new locations"
perl "$IT_DIR/gen-moved-mmdb.pl" "$WORK/moved.mmdb" || die "gen-moved-mmdb.pl failed"
reload_with '  databases = [ "moved.mmdb" ];
  default_order = [ "shanghai" ];'
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.6"
query +norec +subnet=198.19.200.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.8"

t "SIGHUP back to the fixture"
reload_with "$GEO_BASE"
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.1"

t "the database file replaced on disk (rename over it): picked up by the poll"
off=$(stat -c %s "$LOG")
cp "$WORK/moved.mmdb" "$WORK/geo.mmdb.new"
mv "$WORK/geo.mmdb.new" "$WORK/geo.mmdb"
if wait_log 'geo, database reloaded' 12; then ok "reload logged"
else fail "no 'geo, database reloaded' within 12 s of replacing the file"; fi
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.6"

t "a corrupt replacement: error logged once, the old database keeps serving"
off=$(stat -c %s "$LOG")
echo "not an mmdb file" >"$WORK/geo.mmdb.new"
mv "$WORK/geo.mmdb.new" "$WORK/geo.mmdb"
if wait_log 'geo, database .* refused' 12; then ok "refusal logged"
else fail "no refusal in the log within 12 s of a corrupt replacement"; fi
if tail -c +$((off + 1)) "$LOG" | grep -q 'geo.mmdb: not a usable MMDB database'; then ok "the error names the file"
else fail "the error does not name geo.mmdb"; fi
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.6"
sleep 6
n=$(tail -c +$((off + 1)) "$LOG" | grep -c 'refused')
expect_le "$n" 1 "refusals logged for the same corrupt file"

t "the good file back in place: picked up"
off=$(stat -c %s "$LOG")
cp "$FIX/geoip2-city.mmdb" "$WORK/geo.mmdb.new"
mv "$WORK/geo.mmdb.new" "$WORK/geo.mmdb"
if wait_log 'geo, database reloaded' 12; then ok "reload logged"
else fail "no 'geo, database reloaded' within 12 s"; fi
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.1"

t "SIGHUP with a missing database: refused, still serving"
write_conf '  databases = [ "no-such.mmdb" ];'
off=$(stat -c %s "$LOG")
kill -HUP "$GTMD_PID"
if wait_log 'reload, failed' 5; then ok "refused"; else fail "no refusal logged"; fi
if tail -c +$((off + 1)) "$LOG" | grep -q 'no-such.mmdb: cannot open GeoIP database'; then ok "the error names the file"
else fail "the error does not name no-such.mmdb"; fi
query +norec +subnet=198.18.7.0/24 geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.1"

stop_gtmd
if [ "$STOP_RC" = 0 ]; then ok "gtmd stopped cleanly"; else fail "gtmd exit status $STOP_RC"; fi

# ------------------------------------------------------------ flat schema

t "flat schema, separate IPv4 and IPv6 files"
write_conf '  databases = [ "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb" ];
  schema = "flat";
  default_order = [ "shanghai" ];'
start_gtmd "$GCONF"
every_city "flat"

t "flat: no ECS, default order"
query +norec geo.example.com A
expect_answer_is "geo.example.com. 30 IN A 203.0.113.2"

finish
