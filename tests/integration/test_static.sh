#!/bin/bash
# Static zone data: record types, NODATA/NXDOMAIN, empty non-terminals,
# CNAME chains, delegations, REFUSED, QNAME case, ANY.  Each case over UDP
# and TCP.  The zone is data/example.com.zone.
. "$(dirname "$0")/lib.sh"

start_gtmd

SOA_RDATA="ns1.example.com. hostmaster.example.com. 2024010101 7200 900 1209600 300"

for tr in +notcp +tcp; do
	# ---------------------------------------------------------- records
	t "SOA at the apex ($tr)"
	query $tr +norec example.com SOA
	expect_rcode NOERROR
	expect_flag qr aa
	expect_noflag ra tc
	expect_answer_is "example.com. 3600 IN SOA $SOA_RDATA"

	t "NS at the apex ($tr)"
	query $tr +norec example.com NS
	expect_rcode NOERROR
	expect_flag aa
	expect_count answer 2
	expect_answer "example.com. 3600 IN NS ns1.example.com." "example.com. 3600 IN NS ns2.example.com."

	t "A ($tr)"
	query $tr +norec ns1.example.com A
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "ns1.example.com. 3600 IN A 192.0.2.1"

	t "AAAA ($tr)"
	query $tr +norec ns1.example.com AAAA
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "ns1.example.com. 3600 IN AAAA 2001:db8::1"

	t "MX ($tr)"
	query $tr +norec example.com MX
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "example.com. 3600 IN MX 10 mail.example.com."

	t "TXT ($tr)"
	query $tr +norec example.com TXT
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is 'example.com. 3600 IN TXT "v=spf1 -all"'

	t "TXT with its own TTL ($tr)"
	query $tr +norec static.example.com TXT
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is 'static.example.com. 300 IN TXT "static text"'

	t "CAA ($tr)"
	query $tr +norec example.com CAA
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is 'example.com. 3600 IN CAA 0 issue "letsencrypt.org"'

	t "SRV ($tr)"
	query $tr +norec _sip._tcp.example.com SRV
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "_sip._tcp.example.com. 3600 IN SRV 10 60 5060 sip.example.com."

	t "PTR in the reverse zone ($tr)"
	query $tr +norec 10.2.0.192.in-addr.arpa PTR
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "10.2.0.192.in-addr.arpa. 3600 IN PTR www.example.com."

	t "SOA of the reverse zone ($tr)"
	query $tr +norec 2.0.192.in-addr.arpa SOA
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "2.0.192.in-addr.arpa. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300"

	# ---------------------------------------------------------- negative
	t "NODATA: MX at a name with only A/AAAA/TXT ($tr)"
	query $tr +norec static.example.com MX
	expect_nodata example.com.

	t "NODATA: AAAA at the apex ($tr)"
	query $tr +norec example.com AAAA
	expect_nodata example.com.

	t "NODATA: unknown type TYPE1000 (RFC 8906 8.1.2) ($tr)"
	query $tr +norec static.example.com TYPE1000
	expect_nodata example.com.

	t "NXDOMAIN ($tr)"
	query $tr +norec nope.example.com A
	expect_nxdomain example.com.
	expect_count answer 0

	t "NXDOMAIN below an existing name ($tr)"
	query $tr +norec x.static.example.com A
	expect_nxdomain example.com.

	t "NXDOMAIN in the reverse zone ($tr)"
	query $tr +norec 99.2.0.192.in-addr.arpa PTR
	expect_nxdomain 2.0.192.in-addr.arpa.

	t "empty non-terminal is NODATA, not NXDOMAIN ($tr)"
	query $tr +norec ent.example.com A
	expect_nodata example.com.
	query $tr +norec b.ent.example.com TXT
	expect_nodata example.com.

	t "NXDOMAIN next to an empty non-terminal ($tr)"
	query $tr +norec c.b.ent.example.com A
	expect_nxdomain example.com.

	t "the record below the empty non-terminals ($tr)"
	query $tr +norec a.b.ent.example.com A
	expect_rcode NOERROR
	expect_answer_is "a.b.ent.example.com. 3600 IN A 192.0.2.70"

	# ---------------------------------------------------------- CNAME
	t "CNAME chain of two, followed ($tr)"
	query $tr +norec chain1.example.com A
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "chain1.example.com. 3600 IN CNAME chain2.example.com." \
		"chain2.example.com. 3600 IN CNAME static.example.com." \
		"static.example.com. 3600 IN A 192.0.2.50"

	t "CNAME chain to TXT with its own TTL ($tr)"
	query $tr +norec chain1.example.com TXT
	expect_rcode NOERROR
	expect_answer_is "chain1.example.com. 3600 IN CNAME chain2.example.com." \
		"chain2.example.com. 3600 IN CNAME static.example.com." \
		'static.example.com. 300 IN TXT "static text"'

	t "CNAME chain ending in NODATA ($tr)"
	query $tr +norec chain1.example.com MX
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "chain1.example.com. 3600 IN CNAME chain2.example.com." \
		"chain2.example.com. 3600 IN CNAME static.example.com."
	expect_section authority "^example.com. 300 IN SOA "

	t "CNAME queried for type CNAME is not followed ($tr)"
	query $tr +norec chain1.example.com CNAME
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "chain1.example.com. 3600 IN CNAME chain2.example.com."

	t "CNAME to a missing name: NXDOMAIN with the CNAME (RFC 6604) ($tr)"
	query $tr +norec dangling.example.com A
	expect_rcode NXDOMAIN
	expect_flag aa
	expect_answer_is "dangling.example.com. 3600 IN CNAME nowhere.example.com."
	expect_section authority "^example.com. 300 IN SOA "

	t "CNAME to a service name: CNAME + service A ($tr)"
	query $tr +norec tosvc.example.com A
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "tosvc.example.com. 3600 IN CNAME www.example.com." \
		"www.example.com. 30 IN A 192.0.2.10"

	t "CNAME to a service name: CNAME + service AAAA ($tr)"
	query $tr +norec tosvc.example.com AAAA
	expect_rcode NOERROR
	expect_answer_is "tosvc.example.com. 3600 IN CNAME www.example.com." \
		"www.example.com. 30 IN AAAA 2001:db8::10"

	t "CNAME to a service name, type without data ($tr)"
	query $tr +norec tosvc.example.com TXT
	expect_rcode NOERROR
	expect_answer_is "tosvc.example.com. 3600 IN CNAME www.example.com."
	expect_section authority "^example.com. 300 IN SOA "

	t "CNAME loop: answered, not followed forever ($tr)"
	query $tr +norec loop1.example.com A
	if [ "$R_STATUS" = NOERROR ] || [ "$R_STATUS" = SERVFAIL ]; then ok "rcode $R_STATUS"
	else fail "rcode ${R_STATUS:-<no response>} for a CNAME loop"; fi
	expect_rr answer "loop1.example.com. 3600 IN CNAME loop2.example.com."
	expect_le "$R_AN" 20 "records in the answer to a CNAME loop"
	query $tr +norec self.example.com A
	if [ "$R_STATUS" = NOERROR ] || [ "$R_STATUS" = SERVFAIL ]; then ok "rcode $R_STATUS"
	else fail "rcode ${R_STATUS:-<no response>} for a CNAME to itself"; fi
	expect_le "$R_AN" 20 "records in the answer to a CNAME to itself"

	t "CNAME out of our zones: just the CNAME ($tr)"
	query $tr +norec ext.example.com A
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "ext.example.com. 3600 IN CNAME www.example.org."

	t "CNAME into the other zone ($tr)"
	query $tr +norec torev.example.com PTR
	expect_rcode NOERROR
	expect_rr answer "torev.example.com. 3600 IN CNAME 10.2.0.192.in-addr.arpa."

	# ---------------------------------------------------------- wildcards
	t "wildcard synthesis (RFC 4592) ($tr)"
	query $tr +norec x.wild.example.com A
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "x.wild.example.com. 3600 IN A 192.0.2.80"
	query $tr +norec a.b.wild.example.com TXT
	expect_rcode NOERROR
	expect_answer_is 'a.b.wild.example.com. 3600 IN TXT "wild"'
	query $tr +norec x.wild.example.com MX
	expect_nodata example.com.
	query $tr +norec wild.example.com A
	expect_nodata example.com.
	query $tr +norec exist.wild.example.com A
	expect_answer_is "exist.wild.example.com. 3600 IN A 192.0.2.81"
	query $tr +norec x.exist.wild.example.com A
	expect_nxdomain example.com.

	# ---------------------------------------------------------- delegation
	for name in x.sub.example.com sub.example.com a.b.c.sub.example.com ns1.sub.example.com; do
		t "referral for $name A ($tr)"
		query $tr +norec $name A
		expect_rcode NOERROR
		expect_noflag aa
		expect_count answer 0
		expect_rr authority "sub.example.com. 3600 IN NS ns1.sub.example.com."
		expect_rr authority "sub.example.com. 3600 IN NS ns2.sub.example.com."
		expect_nosection authority " SOA "
		expect_rr additional "ns1.sub.example.com. 3600 IN A 192.0.2.53"
		expect_rr additional "ns1.sub.example.com. 3600 IN AAAA 2001:db8::53"
		expect_rr additional "ns2.sub.example.com. 3600 IN A 192.0.2.54"
	done

	t "referral for NS at the cut ($tr)"
	query $tr +norec sub.example.com NS
	expect_rcode NOERROR
	expect_noflag aa
	expect_count answer 0
	expect_rr authority "sub.example.com. 3600 IN NS ns1.sub.example.com."

	t "DS at the cut is the parent's: NODATA (RFC 4035 3.1.4.1) ($tr)"
	query $tr +norec sub.example.com DS
	expect_nodata example.com.

	# ---------------------------------------------------------- REFUSED
	for qn in example.org com . xexample.com 3.0.192.in-addr.arpa 0.192.in-addr.arpa; do
		t "REFUSED outside every zone: $qn ($tr)"
		query $tr +norec $qn SOA
		expect_rcode REFUSED
		expect_noflag aa
		expect_count answer 0
	done

	t "REFUSED for CLASS CH ($tr)"
	query $tr +norec -c CH example.com SOA
	expect_rcode REFUSED
	expect_count answer 0
	query $tr +norec -c CH static.example.com A
	expect_rcode REFUSED

	# ---------------------------------------------------------- case
	t "QNAME case kept in question and answer ($tr)"
	dquery $tr +norec StAtIc.ExAmPlE.CoM A
	expect_rcode NOERROR
	expect_answer_is "StAtIc.ExAmPlE.CoM. 3600 IN A 192.0.2.50"
	expect_out '^;StAtIc\.ExAmPlE\.CoM\.[[:space:]]+IN[[:space:]]+A$'
	dquery $tr +norec WwW.ExAmPlE.CoM A
	expect_rcode NOERROR
	expect_answer "WwW.ExAmPlE.CoM. 30 IN A 192.0.2.10"
	dquery $tr +norec NoPe.ExAmPlE.CoM A
	expect_rcode NXDOMAIN
	expect_out '^;NoPe\.ExAmPlE\.CoM\.[[:space:]]+IN[[:space:]]+A$'
	dquery $tr +norec CHAIN1.example.COM A
	expect_rcode NOERROR
	expect_first_owner CHAIN1.example.COM.
	# Names compressed against the QNAME may take its case: compare the
	# rest case-insensitively.
	expect_section answer '^chain1\.example\.com\. 3600 IN CNAME chain2\.example\.com\.$'
	expect_section answer '^static\.example\.com\. 3600 IN A 192\.0\.2\.50$'
	dquery $tr +norec X.WiLd.example.com A
	expect_rcode NOERROR
	expect_answer_is "X.WiLd.example.com. 3600 IN A 192.0.2.80"

	# ---------------------------------------------------------- ANY
	t "ANY at the apex: NOERROR ($tr)"
	query $tr +norec example.com ANY
	expect_rcode NOERROR
	expect_flag aa
	expect_ge "$R_AN" 1 "answer records"

	t "ANY at a missing name: NXDOMAIN ($tr)"
	query $tr +norec nope.example.com ANY
	expect_nxdomain example.com.
done

t "ANY over UDP is a small subset (RFC 8482)"
query +norec example.com ANY
# The apex has SOA, NS, MX, TXT and CAA: never all five RRsets over UDP.
ntypes=$(awk '{ print $4 }' "$WORK/answer" | sort -u | wc -l)
expect_le "$ntypes" 2 "RRsets in the ANY answer"
expect_ge "$ntypes" 1 "RRsets in the ANY answer"
query +norec static.example.com ANY
expect_rcode NOERROR
ntypes=$(awk '{ print $4 }' "$WORK/answer" | sort -u | wc -l)
expect_le "$ntypes" 2 "RRsets in the ANY answer"

t "AXFR refused over TCP"
probe --tcp --name example.com --type AXFR
expect_tokens rcode=REFUSED flag=qr id=ok an=0
probe --tcp --name 2.0.192.in-addr.arpa --type AXFR
expect_tokens rcode=REFUSED an=0
LAST_CMD="kdig @127.0.0.1 -p $PORT example.com AXFR"
kdig @127.0.0.1 -p "$PORT" +time=2 example.com AXFR >"$OUT" 2>&1
if grep -q "REFUSED" "$OUT" && ! grep -q "IN[[:space:]]*SOA" "$OUT"; then ok "kdig AXFR refused"
else fail "kdig AXFR not refused"; fi

t "AXFR over UDP gets no zone"
probe --name example.com --type AXFR
expect_tokens flag=qr an=0 !rcode=NOERROR

finish
