/* dns/wire.c: the query parser on good and malformed input, names, writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/errcode.h"
#include "dns/wire.h"
#include "tests/unit/dns/dns_test.h"

static dns_query_t q;
static uint8_t pkt[1024];

static size_t simple(const char *name, uint16_t qtype)
{
	tq_t t = { .id = 0x1234, .flags1 = 0x01, .name = name, .qtype = qtype };
	return tq_build(&t, pkt);
}

static void test_good_query(void **state)
{
	size_t len = simple("WwW.Example.COM", DNS_TYPE_AAAA);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);
	assert_int_equal(q.id, 0x1234);
	assert_int_equal(q.opcode, 0);
	assert_true(q.has_question);
	assert_false(q.has_edns);
	assert_int_equal(q.qtype, DNS_TYPE_AAAA);
	assert_int_equal(q.qclass, DNS_CLASS_IN);
	assert_int_equal(q.qname_len, 17);
	assert_memory_equal(q.qname, "\3www\7example\3com\0", 17);
	/* The question as received, case kept. */
	assert_ptr_equal(q.question, pkt + 12);
	assert_int_equal(q.question_len, 21);
	assert_memory_equal(q.question, "\3WwW\7Example\3COM\0", 17);
	assert_int_equal(q.nlabels, 3);
	assert_int_equal(q.label_off[0], 0);
	assert_int_equal(q.label_off[1], 4);
	assert_int_equal(q.label_off[2], 12);
	assert_int_equal(q.label_off[3], 16);
}

static void test_root_query(void **state)
{
	size_t len = simple(".", DNS_TYPE_NS);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);
	assert_int_equal(q.nlabels, 0);
	assert_int_equal(q.qname_len, 1);
	assert_int_equal(q.label_off[0], 0);
}

static void test_runt_and_response(void **state)
{
	size_t len = simple("example.com", 1);
	assert_int_equal(dns_query_parse(&q, pkt, 11), DNS_PARSE_DROP);
	assert_int_equal(dns_query_parse(&q, pkt, 0), DNS_PARSE_DROP);
	pkt[2] |= 0x80;             /* QR=1: a response, never answered */
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_DROP);
	/* A header alone (QDCOUNT 1, no question) is FORMERR, not a drop. */
	pkt[2] &= 0x7f;
	assert_int_equal(dns_query_parse(&q, pkt, 12), DNS_PARSE_FORMERR);
	assert_false(q.has_question);
}

static void test_notimp(void **state)
{
	size_t len = simple("example.com", DNS_TYPE_SOA);
	pkt[2] = (uint8_t)(4 << 3);   /* NOTIFY */
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_NOTIMP);
	assert_int_equal(q.opcode, 4);
	assert_true(q.has_question);
	pkt[2] = (uint8_t)(5 << 3);   /* UPDATE */
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_NOTIMP);
	pkt[5] = 0;                   /* and without question */
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_NOTIMP);
	assert_false(q.has_question);
}

static void test_qdcount(void **state)
{
	size_t len = simple("example.com", 1);
	pkt[5] = 0;
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_FORMERR);
	assert_false(q.has_question);
	pkt[5] = 2;
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_FORMERR);
	/* Two real questions are refused too. */
	memcpy(pkt + len, pkt + 12, len - 12);
	assert_int_equal(dns_query_parse(&q, pkt, len + len - 12), DNS_PARSE_FORMERR);
}

static void test_truncated(void **state)
{
	size_t len = simple("www.example.com", 1);
	/* Every cut inside the question is FORMERR, never a crash. */
	for (size_t l = 12; l < len; l++)
		assert_int_equal(dns_query_parse(&q, pkt, l), DNS_PARSE_FORMERR);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);

	tq_t t = { .name = "example.com", .qtype = 1, .edns = true, .udp = 1232, .nsid = true };
	len = tq_build(&t, pkt);
	for (size_t l = 12 + 17; l < len; l++)
		assert_int_equal(dns_query_parse(&q, pkt, l), DNS_PARSE_FORMERR);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);
}

static void test_pointer_in_qname(void **state)
{
	/* www + pointer to offset 12 (itself): invalid anywhere in a question. */
	const uint8_t p[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	                      3, 'w', 'w', 'w', 0xC0, 12, 0, 1, 0, 1 };
	assert_int_equal(dns_query_parse(&q, p, sizeof(p)), DNS_PARSE_FORMERR);
	assert_false(q.has_question);
	const uint8_t p2[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	                       0xC0, 0, 0, 1, 0, 1 };
	assert_int_equal(dns_query_parse(&q, p2, sizeof(p2)), DNS_PARSE_FORMERR);
}

static void test_label_types(void **state)
{
	uint8_t p[200] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	/* A 64-byte label: its length byte has the type bits 01. */
	p[12] = 64;
	memset(p + 13, 'a', 64);
	p[77] = 0;
	p[78] = 0; p[79] = 1; p[80] = 0; p[81] = 1;
	assert_int_equal(dns_query_parse(&q, p, 82), DNS_PARSE_FORMERR);
	/* 63 is fine. */
	p[12] = 63;
	p[76] = 0;
	p[77] = 0; p[78] = 1; p[79] = 0; p[80] = 1;
	assert_int_equal(dns_query_parse(&q, p, 81), DNS_PARSE_OK);
	/* Type bits 10. */
	p[12] = 0x80 | 3;
	assert_int_equal(dns_query_parse(&q, p, 81), DNS_PARSE_FORMERR);
	p[12] = 0x40 | 3;
	assert_int_equal(dns_query_parse(&q, p, 81), DNS_PARSE_FORMERR);
}

/* A query whose QNAME is `wirelen` bytes long (labels of 63, then fill). */
static size_t long_name_query(size_t wirelen)
{
	memset(pkt, 0, 12);
	pkt[5] = 1;
	size_t pos = 12, left = wirelen - 1;
	while (left > 0) {
		size_t l = left - 1 > 63 ? 63 : left - 1;
		if (left - 1 - l == 1)
			l--;                /* never leave a 1-byte remainder */
		pkt[pos++] = (uint8_t)l;
		memset(pkt + pos, 'x', l);
		pos += l;
		left -= l + 1;
	}
	pkt[pos++] = 0;
	pkt[pos++] = 0; pkt[pos++] = 1; pkt[pos++] = 0; pkt[pos++] = 1;
	return pos;
}

static void test_name_length(void **state)
{
	size_t len = long_name_query(255);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);
	assert_int_equal(q.qname_len, 255);
	len = long_name_query(256);
	assert_int_equal(len, 12 + 256 + 4);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_FORMERR);
}

static void test_qtype_opt(void **state)
{
	size_t len = simple("example.com", DNS_TYPE_OPT);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_FORMERR);
	assert_false(q.has_question);
}

static void test_trailing(void **state)
{
	size_t len = simple("example.com", 1);
	pkt[len] = 0;
	assert_int_equal(dns_query_parse(&q, pkt, len + 1), DNS_PARSE_FORMERR);
	assert_true(q.has_question);       /* echoed in the FORMERR answer */
	tq_t t = { .name = "example.com", .qtype = 1, .edns = true, .udp = 1232 };
	len = tq_build(&t, pkt);
	pkt[len] = 0xAA;
	assert_int_equal(dns_query_parse(&q, pkt, len + 1), DNS_PARSE_FORMERR);
	assert_true(q.has_edns);
}

static void test_edns(void **state)
{
	tq_t t = { .name = "example.com", .qtype = 1, .edns = true, .udp = 4096,
	           .do_bit = true, .nsid = true, .unknown_opt = true };
	size_t len = tq_build(&t, pkt);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_udp, 4096);
	assert_int_equal(q.edns_version, 0);
	assert_true(q.edns_do);
	assert_true(q.edns_nsid);

	t.udp = 100;            /* below 512 counts as 512 (RFC 6891 6.2.5) */
	t.do_bit = false;
	t.nsid = false;
	len = tq_build(&t, pkt);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);
	assert_int_equal(q.edns_udp, 512);
	assert_false(q.edns_do);
	assert_false(q.edns_nsid);
}

static void test_badvers(void **state)
{
	tq_t t = { .name = "example.com", .qtype = 1, .edns = true, .udp = 1232,
	           .version = 1, .do_bit = true };
	size_t len = tq_build(&t, pkt);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_BADVERS);
	assert_true(q.has_edns);
	assert_true(q.has_question);
	assert_int_equal(q.edns_version, 1);
	/* Malformation wins over BADVERS. */
	pkt[len] = 0;
	assert_int_equal(dns_query_parse(&q, pkt, len + 1), DNS_PARSE_FORMERR);
}

static void test_bad_options(void **state)
{
	tq_t t = { .name = "example.com", .qtype = 1, .edns = true, .udp = 1232, .nsid = true };
	size_t len = tq_build(&t, pkt);
	/* Option length 1 more than the RDATA holds. */
	pkt[len - 1] = 1;
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_FORMERR);
	/* RDATA holding a partial option header: rdlen 6, 2 bytes left over. */
	len = tq_build(&t, pkt);
	pkt[len - 6] = 0; pkt[len - 5] = 6;
	pkt[len] = 0; pkt[len + 1] = 3;
	assert_int_equal(dns_query_parse(&q, pkt, len + 2), DNS_PARSE_FORMERR);
	/* RDLENGTH past the end of the packet. */
	len = tq_build(&t, pkt);
	pkt[len - 5] = 9;
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_FORMERR);
}

/* ---- EDNS Client Subnet (RFC 7871) ----------------------------------- */

/* Parses a query whose OPT carries `opt` (raw option bytes). */
static dns_parse_rc_t parse_opt(const uint8_t *opt, size_t optlen)
{
	tq_t t = { .name = "www.example.com", .qtype = 1, .edns = true, .udp = 1232,
	           .raw_opt = opt, .raw_opt_len = optlen };
	size_t len = tq_build(&t, pkt);
	return dns_query_parse(&q, pkt, len);
}

static dns_parse_rc_t parse_ecs(const char *text)
{
	tq_t t = { .name = "www.example.com", .qtype = 1, .edns = true, .udp = 1232,
	           .ecs = text };
	size_t len = tq_build(&t, pkt);
	return dns_query_parse(&q, pkt, len);
}

static void test_ecs_good(void **state)
{
	/* IPv4 /24: three address bytes. */
	assert_int_equal(parse_ecs("198.18.7.0/24"), DNS_PARSE_OK);
	assert_true(q.has_ecs);
	assert_int_equal(q.ecs_family, DNS_ECS_IPV4);
	assert_int_equal(q.ecs_source, 24);
	assert_memory_equal(q.ecs_addr, "\xc6\x12\x07\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	/* /32: the whole address. */
	assert_int_equal(parse_ecs("198.18.7.9/32"), DNS_PARSE_OK);
	assert_int_equal(q.ecs_source, 32);
	assert_memory_equal(q.ecs_addr, "\xc6\x12\x07\x09", 4);
	/* /0: no address byte at all (the client opted out). */
	assert_int_equal(parse_ecs("0.0.0.0/0"), DNS_PARSE_OK);
	assert_true(q.has_ecs);
	assert_int_equal(q.ecs_source, 0);
	assert_memory_equal(q.ecs_addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	/* A prefix that ends inside a byte, bits beyond it zero: /15. */
	assert_int_equal(parse_ecs("198.18.0.0/15"), DNS_PARSE_OK);
	assert_int_equal(q.ecs_source, 15);
	/* IPv6 /56 and /0 and /128. */
	assert_int_equal(parse_ecs("2001:db8:500:5000::/56"), DNS_PARSE_OK);
	assert_int_equal(q.ecs_family, DNS_ECS_IPV6);
	assert_int_equal(q.ecs_source, 56);
	assert_memory_equal(q.ecs_addr, "\x20\x01\x0d\xb8\x05\x00\x50\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(parse_ecs("::/0"), DNS_PARSE_OK);
	assert_int_equal(q.ecs_family, DNS_ECS_IPV6);
	assert_int_equal(q.ecs_source, 0);
	assert_int_equal(parse_ecs("3fff:100::1/128"), DNS_PARSE_OK);
	assert_int_equal(q.ecs_source, 128);
	/* With other options around it. */
	tq_t t = { .name = "www.example.com", .qtype = 1, .edns = true, .udp = 1232,
	           .nsid = true, .unknown_opt = true, .ecs = "192.0.2.0/24" };
	size_t len = tq_build(&t, pkt);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);
	assert_true(q.has_ecs && q.edns_nsid);
	/* No ECS: has_ecs false, even after a query that had one. */
	t.ecs = NULL;
	len = tq_build(&t, pkt);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_OK);
	assert_false(q.has_ecs);
}

static void test_ecs_malformed(void **state)
{
	uint8_t o[64];
	size_t n;

	/* Shorter than FAMILY + the two prefix lengths. */
	const uint8_t short3[] = { 0, 8, 0, 3, 0, 1, 24 };
	assert_int_equal(parse_opt(short3, sizeof(short3)), DNS_PARSE_FORMERR);
	assert_false(q.has_ecs);
	const uint8_t empty[] = { 0, 8, 0, 0 };
	assert_int_equal(parse_opt(empty, sizeof(empty)), DNS_PARSE_FORMERR);
	/* Unknown family: 0 and 3. */
	n = tq_ecs_option("198.18.7.0/24", 0, o);
	o[5] = 0;
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	o[5] = 3;
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	o[4] = 1; o[5] = 1;      /* family 257 */
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	/* Source prefix longer than the address: 33 for IPv4, 129 for IPv6
	 * (with the address length that prefix would need). */
	n = tq_ecs_option("198.18.7.9/32", 0, o);
	o[6] = 33;
	o[3] = 9; o[n++] = 0;
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	n = tq_ecs_option("3fff:100::/128", 0, o);
	o[6] = 129;
	o[3] = 21; o[n++] = 0;
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	/* Scope not 0 in a query. */
	n = tq_ecs_option("198.18.7.0/24", 16, o);
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	n = tq_ecs_option("2001:db8:500:5000::/56", 56, o);
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	/* Address too long (4 bytes for a /24) and too short (2 for a /24). */
	n = tq_ecs_option("198.18.7.0/24", 0, o);
	o[3] = 8; o[n++] = 0;
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	n = tq_ecs_option("198.18.7.0/24", 0, o);
	o[3] = 6; n--;
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	/* An address byte for /0. */
	n = tq_ecs_option("0.0.0.0/0", 0, o);
	o[3] = 5; o[n++] = 0;
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	/* Bits set beyond the source prefix: in the last byte, and a /15
	 * whose 16th bit is set. */
	assert_int_equal(parse_ecs("198.18.7.1/24"), DNS_PARSE_OK);   /* byte 4 not sent */
	assert_int_equal(parse_ecs("198.18.7.128/25"), DNS_PARSE_OK);
	assert_int_equal(parse_ecs("198.18.7.192/25"), DNS_PARSE_FORMERR);
	assert_int_equal(parse_ecs("198.19.0.0/15"), DNS_PARSE_FORMERR);
	assert_int_equal(parse_ecs("2001:db8:500:50ff::/56"), DNS_PARSE_OK); /* /56 ends at a byte */
	assert_int_equal(parse_ecs("2001:db8:500:5080::/57"), DNS_PARSE_OK);
	assert_int_equal(parse_ecs("2001:db8:500:5040::/57"), DNS_PARSE_FORMERR);
	/* The option length runs past the OPT RDATA. */
	n = tq_ecs_option("198.18.7.0/24", 0, o);
	o[3] = 40;
	assert_int_equal(parse_opt(o, n), DNS_PARSE_FORMERR);
	/* Two ECS options, even identical ones. */
	n = tq_ecs_option("198.18.7.0/24", 0, o);
	memcpy(o + n, o, n);
	assert_int_equal(parse_opt(o, 2 * n), DNS_PARSE_FORMERR);
	/* In an OPT of version 1 the options are not ours to judge: BADVERS. */
	n = tq_ecs_option("198.18.7.0/24", 16, o);
	tq_t t = { .name = "www.example.com", .qtype = 1, .edns = true, .udp = 1232,
	           .version = 1, .raw_opt = o, .raw_opt_len = n };
	size_t len = tq_build(&t, pkt);
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_BADVERS);
	assert_false(q.has_ecs);
}

static void test_two_opts(void **state)
{
	tq_t t = { .name = "example.com", .qtype = 1, .edns = true, .udp = 1232 };
	size_t len = tq_build(&t, pkt);
	size_t opt = len - 11;
	memcpy(pkt + len, pkt + opt, 11);
	pkt[11] = 2;
	assert_int_equal(dns_query_parse(&q, pkt, len + 11), DNS_PARSE_FORMERR);
	assert_true(q.has_edns);
}

static void test_opt_owner_and_section(void **state)
{
	tq_t t = { .name = "example.com", .qtype = 1, .edns = true, .udp = 1232 };
	size_t len = tq_build(&t, pkt);
	size_t opt = len - 11;
	/* Owner "a." instead of the root. */
	uint8_t p[1024];
	memcpy(p, pkt, opt);
	p[opt] = 1; p[opt + 1] = 'a'; p[opt + 2] = 0;
	memcpy(p + opt + 3, pkt + opt + 1, 10);
	assert_int_equal(dns_query_parse(&q, p, len + 2), DNS_PARSE_FORMERR);
	/* Owner a pointer to the QNAME. */
	memcpy(p, pkt, opt);
	p[opt] = 0xC0; p[opt + 1] = 12;
	memcpy(p + opt + 2, pkt + opt + 1, 10);
	assert_int_equal(dns_query_parse(&q, p, len + 1), DNS_PARSE_FORMERR);
	/* OPT in the answer section. */
	memcpy(p, pkt, len);
	p[7] = 1; p[11] = 0;
	assert_int_equal(dns_query_parse(&q, p, len), DNS_PARSE_FORMERR);
	/* ...and in the authority section. */
	p[7] = 0; p[9] = 1;
	assert_int_equal(dns_query_parse(&q, p, len), DNS_PARSE_FORMERR);
}

static void test_other_sections(void **state)
{
	/* An A record in the answer section, owner a pointer to the QNAME:
	 * read and skipped. */
	size_t len = simple("example.com", 1);
	const uint8_t rr[] = { 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1 };
	memcpy(pkt + len, rr, sizeof(rr));
	pkt[7] = 1;
	assert_int_equal(dns_query_parse(&q, pkt, len + sizeof(rr)), DNS_PARSE_OK);
	/* The same record short of one byte of RDATA. */
	assert_int_equal(dns_query_parse(&q, pkt, len + sizeof(rr) - 1), DNS_PARSE_FORMERR);
	/* A forward pointer. */
	pkt[len + 1] = (uint8_t)(len + 2);
	assert_int_equal(dns_query_parse(&q, pkt, len + sizeof(rr)), DNS_PARSE_FORMERR);
	pkt[len + 1] = 12;
	/* ANCOUNT says 2 with one present. */
	pkt[7] = 2;
	assert_int_equal(dns_query_parse(&q, pkt, len + sizeof(rr)), DNS_PARSE_FORMERR);
	/* A non-OPT record in additional (say, a TSIG we do not check): skipped. */
	pkt[7] = 0; pkt[11] = 1;
	assert_int_equal(dns_query_parse(&q, pkt, len + sizeof(rr)), DNS_PARSE_OK);
	assert_false(q.has_edns);
	/* ARCOUNT 1 without any record. */
	assert_int_equal(dns_query_parse(&q, pkt, len), DNS_PARSE_FORMERR);
}

static void test_name_from_str(void **state)
{
	uint8_t w[DNS_NAME_MAX];
	assert_int_equal(dns_name_from_str("www.Example.COM", w), 17);
	assert_memory_equal(w, "\3www\7example\3com\0", 17);
	assert_int_equal(dns_name_from_str("www.example.com.", w), 17);
	assert_int_equal(dns_name_from_str(".", w), 1);
	assert_int_equal(w[0], 0);
	assert_int_equal(dns_name_from_str("", w), 0);
	assert_int_equal(dns_name_from_str("a..b", w), 0);
	assert_int_equal(dns_name_from_str(".a", w), 0);
	assert_int_equal(dns_name_from_str("a.b..", w), 0);
	assert_int_equal(dns_name_from_str("a\\.b.com", w), 9);
	assert_memory_equal(w, "\3a.b\3com\0", 9);
	assert_int_equal(dns_name_from_str("\\065bc.com", w), 9);
	assert_memory_equal(w, "\3abc\3com\0", 9);
	assert_int_equal(dns_name_from_str("\\25", w), 0);
	assert_int_equal(dns_name_from_str("\\256", w), 0);
	assert_int_equal(dns_name_from_str("a\\", w), 0);

	char s[400];
	memset(s, 'a', 63);
	strcpy(s + 63, ".com");
	assert_int_equal(dns_name_from_str(s, w), 1 + 63 + 4 + 1);
	memset(s, 'a', 64);
	strcpy(s + 64, ".com");
	assert_int_equal(dns_name_from_str(s, w), 0);

	/* 3 x 63 + 61: exactly 255 bytes of wire; one more is too long. */
	char *p = s;
	for (int i = 0; i < 3; i++) {
		memset(p, 'b', 63);
		p[63] = '.';
		p += 64;
	}
	memset(p, 'c', 61);
	p[61] = '\0';
	assert_int_equal(dns_name_from_str(s, w), 255);
	p[61] = 'c';
	p[62] = '\0';
	assert_int_equal(dns_name_from_str(s, w), 0);
}

static void test_name_labels(void **state)
{
	uint8_t off[DNS_LABELS_MAX];
	unsigned n;
	assert_int_equal(dns_name_labels((const uint8_t *)"\3www\7example\0", 13, off, &n), 13);
	assert_int_equal(n, 2);
	assert_int_equal(off[1], 4);
	assert_int_equal(off[2], 12);
	/* Short buffer, pointer. */
	assert_int_equal(dns_name_labels((const uint8_t *)"\3www\7example\0", 12, off, &n), 0);
	assert_int_equal(dns_name_labels((const uint8_t *)"\3www\xC0\x0C", 6, off, &n), 0);
}

static void test_name_write(void **state)
{
	uint8_t out[512];
	dns_ctab_t ct = { 0 };
	size_t pos = 12;
	/* A question as a client sent it, upper case. */
	pos += tname("WWW.EXAMPLE.COM", out + pos);
	dns_ctab_add(&ct, out, 12);
	assert_int_equal(ct.count, 3);

	/* The same name in lower case: one pointer to offset 12. */
	uint8_t w[DNS_NAME_MAX];
	size_t at = pos;
	dns_name_from_str("www.example.com", w);
	assert_int_equal(dns_name_write(out, &pos, sizeof(out), w, &ct), 0);
	assert_int_equal(pos - at, 2);
	assert_int_equal(out[at], 0xC0);
	assert_int_equal(out[at + 1], 12);

	/* mail.example.com: one label, then a pointer to "EXAMPLE.COM". */
	at = pos;
	dns_name_from_str("mail.example.com", w);
	assert_int_equal(dns_name_write(out, &pos, sizeof(out), w, &ct), 0);
	assert_int_equal(pos - at, 5 + 2);
	assert_int_equal(out[at + 5], 0xC0);
	assert_int_equal(out[at + 6], 16);

	/* Now a.mail.example.com compresses against the name just written. */
	size_t mail = at;
	at = pos;
	dns_name_from_str("a.mail.example.com", w);
	assert_int_equal(dns_name_write(out, &pos, sizeof(out), w, &ct), 0);
	assert_int_equal(pos - at, 2 + 2);
	assert_int_equal(out[at + 3], mail);

	/* Unrelated name: written whole. */
	at = pos;
	dns_name_from_str("example.org", w);
	assert_int_equal(dns_name_write(out, &pos, sizeof(out), w, &ct), 0);
	assert_int_equal(pos - at, 13);
	assert_int_equal(out[pos - 1], 0);

	/* No room: nothing written. */
	at = pos;
	dns_name_from_str("x.example.net", w);
	assert_int_equal(dns_name_write(out, &pos, pos + 5, w, &ct), GTM_ESPACE);
	assert_int_equal(pos, at);
	/* No table: no compression. */
	assert_int_equal(dns_name_write(out, &pos, sizeof(out), w, NULL), 0);
	assert_int_equal(pos - at, 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_query),
		cmocka_unit_test(test_root_query),
		cmocka_unit_test(test_runt_and_response),
		cmocka_unit_test(test_notimp),
		cmocka_unit_test(test_qdcount),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_pointer_in_qname),
		cmocka_unit_test(test_label_types),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_qtype_opt),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_edns),
		cmocka_unit_test(test_badvers),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_ecs_good),
		cmocka_unit_test(test_ecs_malformed),
		cmocka_unit_test(test_two_opts),
		cmocka_unit_test(test_opt_owner_and_section),
		cmocka_unit_test(test_other_sections),
		cmocka_unit_test(test_name_from_str),
		cmocka_unit_test(test_name_labels),
		cmocka_unit_test(test_name_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
