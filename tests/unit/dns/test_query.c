/*
 * dns/query.c: the query builder checked by ldns parsing what it writes,
 * and the response reader checked on responses ldns builds (compressed
 * names, A and AAAA, other types skipped, ECS scope, truncation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "dns/query.h"
#include "dns/wire.h"

static size_t qname(const char *s, uint8_t out[DNS_NAME_MAX])
{
	size_t n = dns_name_from_str(s, out);
	assert_true(n > 0);
	return n;
}

static ldns_pkt *parse(const uint8_t *pkt, size_t len)
{
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, pkt, len), LDNS_STATUS_OK);
	return p;
}

static void test_build_plain(void **state)
{
	(void)state;
	uint8_t name[DNS_NAME_MAX], pkt[512];
	size_t n = qname("www.Example.com", name);
	size_t len = dns_query_build(pkt, sizeof(pkt), name, n, LDNS_RR_TYPE_AAAA, NULL);
	assert_true(len > DNS_HDR_LEN);
	ldns_pkt *p = parse(pkt, len);
	assert_int_equal(ldns_pkt_id(p), 0x4754);
	assert_false(ldns_pkt_qr(p));
	assert_false(ldns_pkt_rd(p));
	assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_QUERY);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_pkt_nscount(p), 0);
	ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	char *owner = ldns_rdf2str(ldns_rr_owner(q));
	assert_string_equal(owner, "www.example.com.");
	free(owner);
	assert_int_equal(ldns_rr_get_type(q), LDNS_RR_TYPE_AAAA);
	assert_int_equal(ldns_rr_get_class(q), LDNS_RR_CLASS_IN);
	assert_true(ldns_pkt_edns(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
	assert_int_equal(ldns_pkt_edns_version(p), 0);
	assert_false(ldns_pkt_edns_do(p));
	ldns_rdf *opt = ldns_pkt_edns_data(p);
	assert_true(opt == NULL || ldns_rdf_size(opt) == 0);
	ldns_pkt_free(p);
}

static void test_build_ecs(void **state)
{
	(void)state;
	uint8_t name[DNS_NAME_MAX], pkt[512];
	size_t n = qname("svc.example.com.", name);
	dns_net_t v4 = { .family = AF_INET, .prefix = 24, .addr = { 192, 0, 2 } };
	size_t len = dns_query_build(pkt, sizeof(pkt), name, n, LDNS_RR_TYPE_A, &v4);
	ldns_pkt *p = parse(pkt, len);
	ldns_rdf *opt = ldns_pkt_edns_data(p);
	assert_non_null(opt);
	/* code 8, length 7, family 1, source 24, scope 0, 3 address bytes */
	static const uint8_t want4[] = { 0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2 };
	assert_int_equal(ldns_rdf_size(opt), sizeof(want4));
	assert_memory_equal(ldns_rdf_data(opt), want4, sizeof(want4));
	ldns_pkt_free(p);

	dns_net_t v6 = { .family = AF_INET6, .prefix = 33, .addr = { 0x20, 0x01, 0x0d, 0xb8, 0x80 } };
	len = dns_query_build(pkt, sizeof(pkt), name, n, LDNS_RR_TYPE_AAAA, &v6);
	p = parse(pkt, len);
	opt = ldns_pkt_edns_data(p);
	static const uint8_t want6[] = { 0, 8, 0, 9, 0, 2, 33, 0, 0x20, 0x01, 0x0d, 0xb8, 0x80 };
	assert_int_equal(ldns_rdf_size(opt), sizeof(want6));
	assert_memory_equal(ldns_rdf_data(opt), want6, sizeof(want6));
	ldns_pkt_free(p);

	/* No room: nothing written. */
	assert_int_equal(dns_query_build(pkt, n + 63, name, n, LDNS_RR_TYPE_A, NULL), 0);
}

typedef struct addrs {
	char text[8][INET6_ADDRSTRLEN];
	size_t n;
} addrs_t;

static void collect(int family, const uint8_t *addr, void *arg)
{
	addrs_t *a = arg;
	assert_true(a->n < 8);
	inet_ntop(family, addr, a->text[a->n++], INET6_ADDRSTRLEN);
}

static void push(ldns_pkt *p, ldns_pkt_section sec, const char *rr)
{
	ldns_rr *r = NULL;
	assert_int_equal(ldns_rr_new_frm_str(&r, rr, 0, NULL, NULL), LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(p, sec, r));
}

/* A response to www.example.com. A built by ldns (which compresses names). */
static uint8_t *response(ldns_pkt_rcode rcode, const uint8_t *ecs, size_t ecslen, size_t *len)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str("www.example.com."),
	                                 LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
	assert_non_null(p);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_aa(p, true);
	ldns_pkt_set_rcode(p, rcode);
	if (rcode == LDNS_RCODE_NOERROR) {
		push(p, LDNS_SECTION_ANSWER, "www.example.com. 300 IN CNAME web.example.com.");
		push(p, LDNS_SECTION_ANSWER, "web.example.com. 30 IN A 192.0.2.1");
		push(p, LDNS_SECTION_ANSWER, "web.example.com. 20 IN A 192.0.2.2");
		push(p, LDNS_SECTION_ANSWER, "web.example.com. 20 IN AAAA 2001:db8::1");
		push(p, LDNS_SECTION_AUTHORITY, "example.com. 3600 IN NS ns1.example.com.");
		push(p, LDNS_SECTION_ADDITIONAL, "ns1.example.com. 3600 IN A 198.51.100.1");
	}
	ldns_pkt_set_edns_udp_size(p, 1232);
	if (ecs)
		ldns_pkt_set_edns_data(p, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, ecslen, ecs));
	uint8_t *wire = NULL;
	assert_int_equal(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return wire;
}

static void test_parse_answers(void **state)
{
	(void)state;
	static const uint8_t ecs[] = { 0, 8, 0, 7, 0, 1, 24, 20, 192, 0, 2 };
	size_t len;
	uint8_t *wire = response(LDNS_RCODE_NOERROR, ecs, sizeof(ecs), &len);
	/* ldns compressed the owners: the reader must follow pointers. */
	assert_non_null(memchr(wire + DNS_HDR_LEN, 0xc0, len - DNS_HDR_LEN));
	dns_response_t r;
	addrs_t a = { .n = 0 };
	assert_int_equal(dns_response_parse(wire, len, &r, collect, &a), 0);
	assert_int_equal(r.rcode, 0);
	assert_int_equal(r.naddrs, 3);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.text[0], "192.0.2.1");
	assert_string_equal(a.text[1], "192.0.2.2");
	assert_string_equal(a.text[2], "2001:db8::1");   /* not the additional A */
	assert_true(r.has_ttl);
	assert_int_equal(r.ttl, 20);
	assert_int_equal(r.scope, 20);

	/* Cut inside the last answer: the ones before it are kept. */
	size_t cut = 0;
	for (size_t i = len; i-- > 4;)
		if (memcmp(wire + i, "\x20\x01\x0d\xb8", 4) == 0)
			cut = i + 4;
	assert_true(cut > 0);
	a.n = 0;
	assert_int_equal(dns_response_parse(wire, cut, &r, collect, &a), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(r.scope, -1);
	free(wire);
}

static void test_parse_rcode(void **state)
{
	(void)state;
	size_t len;
	uint8_t *wire = response(LDNS_RCODE_NXDOMAIN, NULL, 0, &len);
	dns_response_t r;
	assert_int_equal(dns_response_parse(wire, len, &r, NULL, NULL), 0);
	assert_int_equal(r.rcode, LDNS_RCODE_NXDOMAIN);
	assert_int_equal(r.naddrs, 0);
	assert_false(r.has_ttl);
	assert_int_equal(r.scope, -1);
	/* Shorter than a header. */
	assert_int_equal(dns_response_parse(wire, DNS_HDR_LEN - 1, &r, NULL, NULL), -1);
	assert_int_equal(r.rcode, -1);
	free(wire);
}

static void test_name_skip(void **state)
{
	(void)state;
	/* "a.b." at 0, then a pointer to it at 5, then a forward pointer. */
	static const uint8_t pkt[] = { 1, 'a', 1, 'b', 0, 0xc0, 0x00, 0xc0, 0x09, 0x40 };
	size_t wl = 0;
	assert_int_equal(dns_name_skip(pkt, sizeof(pkt), 0, &wl), 5);
	assert_int_equal(wl, 5);
	assert_int_equal(dns_name_skip(pkt, sizeof(pkt), 5, NULL), 7);
	assert_int_equal(dns_name_skip(pkt, sizeof(pkt), 7, NULL), 0);    /* forward */
	assert_int_equal(dns_name_skip(pkt, sizeof(pkt), 9, NULL), 0);    /* label type 01 */
	assert_int_equal(dns_name_skip(pkt, 3, 0, NULL), 0);              /* runs off */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_plain),
		cmocka_unit_test(test_build_ecs),
		cmocka_unit_test(test_parse_answers),
		cmocka_unit_test(test_parse_rcode),
		cmocka_unit_test(test_name_skip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
