#!/bin/bash
# Steered services (data/gtm.conf, no geo database): every client is
# unlocated and follows the default order (config order of the cities), so a
# nearest service answers from the first city that has one of its sites, at
# the service TTL; A and AAAA separately; other types from the zone file,
# NODATA when it has none.  Geo steering itself: test_geo.sh.
. "$(dirname "$0")/lib.sh"

start_gtmd

for tr in +notcp +tcp; do
	t "service A: the first city's site (beijing, bj-a), TTL 30 ($tr)"
	query $tr +norec www.example.com A
	expect_rcode NOERROR
	expect_flag aa
	expect_noflag tc ra
	expect_answer_is "www.example.com. 30 IN A 192.0.2.10"

	t "service AAAA: the same site's v6 endpoint ($tr)"
	query $tr +norec www.example.com AAAA
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "www.example.com. 30 IN AAAA 2001:db8::10"

	t "service TXT: NODATA ($tr)"
	query $tr +norec www.example.com TXT
	expect_nodata example.com.

	t "service MX: NODATA ($tr)"
	query $tr +norec www.example.com MX
	expect_nodata example.com.

	t "service with EDNS and DO ($tr)"
	query $tr +norec +dnssec +bufsize=1232 www.example.com A
	expect_rcode NOERROR
	expect_count answer 1

	t "second service, own TTL ($tr)"
	query $tr +norec api.example.com A
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "api.example.com. 60 IN A 192.0.2.40"

	t "service without v6 endpoints: AAAA is NODATA, cached no longer than the service's TTL ($tr)"
	query $tr +norec api.example.com AAAA
	expect_nodata example.com. 60

	t "service name with a zone record of another type ($tr)"
	query $tr +norec api.example.com MX
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "api.example.com. 3600 IN MX 20 mail.example.com."

	t "below a service name: NXDOMAIN ($tr)"
	query $tr +norec x.www.example.com A
	expect_nxdomain example.com.

	t "ANY at a service name: NOERROR ($tr)"
	query $tr +norec www.example.com ANY
	expect_rcode NOERROR
	expect_flag aa
done

t "service answers are stable (one site per city here)"
first=$(q +short www.example.com A | tr '\n' ' ')
if [ "$first" = "192.0.2.10 " ]; then ok "answer"; else fail "answer: '$first'"; fi
same=0
for i in $(seq 1 10); do
	[ "$(q +short www.example.com A | tr '\n' ' ')" = "$first" ] && same=$((same + 1))
done
expect_ge "$same" 10 "identical answers out of 10"

t "PTR of a service address (reverse zone)"
query +norec 10.2.0.192.in-addr.arpa PTR
expect_answer_is "10.2.0.192.in-addr.arpa. 3600 IN PTR www.example.com."

finish
