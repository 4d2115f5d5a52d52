#!/bin/bash
# The protocol around the data: header bits (RFC 8906 section 8), opcodes,
# malformed queries, EDNS0 (RFC 6891), NSID (RFC 5001) and truncation.
. "$(dirname "$0")/lib.sh"

start_gtmd

for tr in +notcp +tcp; do
	ptcp=""
	[ "$tr" = "+tcp" ] && ptcp=--tcp

	# ---------------------------------------------------------- header bits
	t "RD copied, RA clear ($tr)"
	query $tr +rec static.example.com A
	expect_rcode NOERROR
	expect_flag qr aa rd
	expect_noflag ra
	query $tr +norec static.example.com A
	expect_flag qr aa
	expect_noflag rd ra

	t "Z=1 in the query: answered, Z=0 in the response (RFC 8906 8.1.3.3) ($tr)"
	probe $ptcp --name example.com --type SOA --flags 0x0140
	expect_tokens rcode=NOERROR flag=qr flag=aa flag=rd an=1 !flag=z !flag=ra

	t "CD=1 in the query: answered (RFC 8906 8.1.3.1) ($tr)"
	probe $ptcp --name example.com --type SOA --flags 0x0010
	expect_tokens rcode=NOERROR flag=aa an=1 !flag=rd

	t "AD=1 in the query: answered, AD clear (RFC 8906 8.1.3.2) ($tr)"
	probe $ptcp --name example.com --type SOA --flags 0x0020
	expect_tokens rcode=NOERROR flag=aa an=1 !flag=ad

	# ---------------------------------------------------------- opcodes
	for op in 1 2 4 5 6 15; do
		t "opcode $op: NOTIMP, opcode echoed, AA clear (RFC 8906 8.1.4) ($tr)"
		probe $ptcp --name example.com --type SOA --opcode $op --flags 0
		expect_tokens id=ok rcode=NOTIMP opcode=$op flag=qr !flag=aa an=0
	done
	t "opcode NOTIFY with EDNS: NOTIMP ($tr)"
	probe $ptcp --name example.com --type SOA --opcode 4 --edns 0
	expect_tokens rcode=NOTIMP opcode=4 !flag=aa an=0

	# ---------------------------------------------------------- FORMERR
	for c in qdcount0 qdcount2 qdcount2_missing truncated_name truncated_type label64 \
		label_type_ext name_too_long compressed_qname compressed_qname_fwd trailing \
		trailing_edns two_opt opt_owner opt_truncated opt_badlen ancount_missing; do
		t "malformed query '$c': FORMERR ($tr)"
		probe $ptcp --case $c
		expect_tokens id=ok rcode=FORMERR flag=qr !flag=aa an=0
	done

	t "longest valid name (255 octets): NXDOMAIN, not FORMERR ($tr)"
	probe $ptcp --case name255
	expect_tokens id=ok rcode=NXDOMAIN flag=aa qd=1

	t "labels holding dots or NUL are one label each ($tr)"
	probe $ptcp --case label_with_dot
	expect_tokens id=ok rcode=NXDOMAIN flag=aa an=0
	probe $ptcp --case label_with_dot_sub
	expect_tokens id=ok rcode=NXDOMAIN flag=aa an=0
	probe $ptcp --case label_with_nul
	expect_tokens id=ok rcode=NXDOMAIN flag=aa an=0
	probe $ptcp --case label_fqdn_in_one
	expect_tokens id=ok rcode=REFUSED !flag=aa an=0

	t "a response (QR=1) gets no answer ($tr)"
	probe $ptcp --case qr1 --timeout 0.5
	expect_tokens noanswer
	probe $ptcp --case header_only_qr1 --timeout 0.5
	expect_tokens noanswer
	expect_alive

	# ---------------------------------------------------------- EDNS
	t "no EDNS in the query: no OPT in the response ($tr)"
	query $tr +noedns static.example.com A
	expect_rcode NOERROR
	if [ -z "$R_EDNS" ]; then ok "no OPT"; else fail "OPT in a response to a query without EDNS"; fi

	t "EDNS: OPT with version 0 and UDP size 1232 ($tr)"
	query $tr +edns static.example.com A
	expect_rcode NOERROR
	expect_flag aa
	expect_answer_is "static.example.com. 3600 IN A 192.0.2.50"
	expect_out '^;; Version: 0; flags: ; UDP size: 1232 B; ext-rcode: NOERROR'

	t "EDNS: client advertises 4096, server still says 1232 ($tr)"
	query $tr +bufsize=4096 static.example.com A
	expect_out '^;; Version: 0; .*UDP size: 1232 B'

	t "EDNS version 1: BADVERS with an OPT of version 0 (RFC 6891 6.1.3) ($tr)"
	query $tr +edns=1 +norec example.com SOA
	expect_rcode BADVERS
	expect_count answer 0
	expect_out '^;; Version: 0;'
	probe $ptcp --edns 1
	expect_tokens id=ok rcode=BADVERS ednsver=0 an=0 !flag=aa
	probe $ptcp --edns 1 --opt 65001:abcd --ednsflags 0x4000
	expect_tokens rcode=BADVERS ednsver=0 an=0 !opt=65001

	t "unknown EDNS option ignored (RFC 8906 8.2.3) ($tr)"
	query $tr +ednsopt=65001:abcd static.example.com A
	expect_rcode NOERROR
	expect_answer_is "static.example.com. 3600 IN A 192.0.2.50"
	probe $ptcp --edns 0 --opt 65001:abcd --opt 100:
	expect_tokens rcode=NOERROR an=1 edns=yes ednsver=0 !opt=65001 !opt=100

	t "unknown EDNS flags ignored and not echoed (RFC 8906 8.2.4) ($tr)"
	probe $ptcp --edns 0 --ednsflags 0x4001
	expect_tokens rcode=NOERROR flag=aa an=1 edns=yes ednsflags=0x0000

	t "DO bit echoed ($tr)"
	query $tr +dnssec static.example.com A
	expect_rcode NOERROR
	expect_out '^;; Version: 0; flags: do;'
	probe $ptcp --edns 0 --ednsflags 0x8000
	expect_tokens rcode=NOERROR an=1 ednsflag=do
	probe $ptcp --edns 0
	expect_tokens rcode=NOERROR an=1 !ednsflag=do

	t "EDNS on errors: NXDOMAIN and REFUSED keep the OPT ($tr)"
	probe $ptcp --edns 0 --name nope.example.com --type A
	expect_tokens rcode=NXDOMAIN edns=yes udpsize=1232
	probe $ptcp --edns 0 --name example.org --type A
	expect_tokens rcode=REFUSED edns=yes

	t "NSID (RFC 5001) ($tr)"
	query $tr +nsid static.example.com A
	expect_rcode NOERROR
	if [ "$R_NSID" = "test-node" ]; then ok "NSID test-node"
	else fail "NSID '${R_NSID}', expected 'test-node'"; fi
	query $tr +edns static.example.com A
	if [ -z "$R_NSID" ]; then ok "no NSID unasked"; else fail "NSID sent without being asked"; fi
	probe $ptcp --edns 0 --opt 3:
	expect_tokens rcode=NOERROR opt=3

	# ---------------------------------------------------------- sizes
	t "TXT RRset > 512 B ($tr)"
	if [ "$tr" = "+notcp" ]; then
		query +notcp +ignore +noedns mid.example.com TXT
		expect_rcode NOERROR
		expect_flag tc
		expect_le "$R_SIZE" 512 "response bytes without EDNS"
		query +notcp +ignore +bufsize=512 mid.example.com TXT
		expect_flag tc
		expect_le "$R_SIZE" 512 "response bytes with EDNS 512"
		if [ -n "$R_EDNS" ]; then ok "OPT in the truncated response"
		else fail "no OPT in a truncated EDNS response"; fi
		query +notcp +ignore +bufsize=100 mid.example.com TXT
		expect_flag tc
		expect_le "$R_SIZE" 512 "response bytes with EDNS 100 (taken as 512)"
		query +notcp +ignore +bufsize=1232 mid.example.com TXT
		expect_noflag tc
		expect_count answer 4
	else
		query +tcp +noedns mid.example.com TXT
		expect_rcode NOERROR
		expect_noflag tc
		expect_count answer 4
	fi

	t "TXT RRset > 1232 B with EDNS 4096 ($tr)"
	if [ "$tr" = "+notcp" ]; then
		query +notcp +ignore +bufsize=4096 big.example.com TXT
		expect_rcode NOERROR
		expect_flag tc
		expect_le "$R_SIZE" 1232 "UDP response bytes (cap 1232)"
		probe --name big.example.com --type TXT --edns 0 --bufsize 65535
		expect_tokens flag=tc edns=yes
	else
		query +tcp +bufsize=4096 big.example.com TXT
		expect_rcode NOERROR
		expect_noflag tc
		expect_count answer 12
		query +tcp +noedns big.example.com TXT
		expect_noflag tc
		expect_count answer 12
	fi
done

t "question kept in a truncated response"
probe --name mid.example.com --type TXT
expect_tokens flag=tc qd=1 qname=mid.example.com.

t "kdig falls back to TCP on TC and gets everything"
query +bufsize=1232 big.example.com TXT
expect_rcode NOERROR
expect_count answer 12

expect_alive
finish
