/*
 * dns/answer.c: each behaviour of the answer path, checked by reading the
 * responses with ldns (the reference reader) and, where ldns hides the
 * detail, from the raw bytes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "common/diag.h"
#include "dns/answer.h"
#include "dns/snapshot.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "tests/unit/dns/dns_test.h"

#define NSID "ns-test-1"

static dns_snapshot_t *snap;
static dns_stats_t st;
static uint8_t out[DNS_TCP_MAX];
static size_t outlen;
static ldns_pkt *resp;

static int setup_snapshot(void **state)
{
	gtm_diag_t diag = { 0 };
	dns_zoneset_t *zs = dns_zoneset_new();
	int rc = dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag);
	rc |= dns_zoneset_add_zone(zs, "child.example.com", tdata("child.example.com.zone"), &diag);
	rc |= dns_zoneset_add_zone(zs, "example.net", tdata("example.net.zone"), &diag);
	rc |= dns_zoneset_add_service(zs, "www.example.com", 0, "t.conf", 1, &diag);
	rc |= dns_zoneset_add_service(zs, "api.example.com", 1, "t.conf", 2, &diag);
	rc |= dns_zoneset_add_service(zs, "empty.example.com", 2, "t.conf", 3, &diag);
	rc |= dns_zoneset_add_service(zs, "v6.example.com", 3, "t.conf", 4, &diag);
	rc |= dns_zoneset_freeze(zs, &diag);
	for (size_t i = 0; i < diag.count; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	if (rc != 0 || diag.count != 0)
		return -1;

	dns_plan_t *plan = dns_plan_new(4);
	struct in_addr a[2];
	struct in6_addr aaaa[2];
	inet_pton(AF_INET, "192.0.2.10", &a[0]);
	inet_pton(AF_INET, "192.0.2.20", &a[1]);
	inet_pton(AF_INET6, "2001:db8::10", &aaaa[0]);
	inet_pton(AF_INET6, "2001:db8::20", &aaaa[1]);
	dns_plan_set_addrs(plan, 0, 30, a, 2, aaaa, 2);
	dns_plan_set_addrs(plan, 1, 60, &a[1], 1, NULL, 0);
	dns_plan_set_addrs(plan, 2, 60, NULL, 0, NULL, 0);
	dns_plan_set_addrs(plan, 3, 60, NULL, 0, aaaa, 1);

	dns_opts_t opts;
	memset(&opts, 0, sizeof(opts));
	opts.udp_max = 1232;
	opts.nsid_len = (uint8_t)strlen(NSID);
	memcpy(opts.nsid, NSID, opts.nsid_len);
	snap = dns_snapshot_new(zs, plan, &opts);
	dns_zoneset_unref(zs);
	return 0;
}

static int teardown_snapshot(void **state)
{
	dns_snapshot_free(snap);
	return 0;
}

static int reset(void **state)
{
	memset(&st, 0, sizeof(st));
	return 0;
}

static int free_resp(void **state)
{
	ldns_pkt_free(resp);
	resp = NULL;
	return 0;
}

/* Sends `t`, parses the response into `resp`. */
static void ask_t(const tq_t *t, dns_transport_t tr, size_t outmax)
{
	uint8_t q[1024];
	size_t qlen = tq_build(t, q);
	ldns_pkt_free(resp);
	resp = NULL;
	outlen = dns_answer(snap, q, qlen, out, outmax, tr, NULL, &st);
	assert_true(outlen >= DNS_HDR_LEN);
	assert_true(outlen <= outmax);
	assert_int_equal(ldns_wire2pkt(&resp, out, outlen), LDNS_STATUS_OK);
	assert_int_equal(dns_get16(out), t->id);
	assert_true(ldns_pkt_qr(resp));
	assert_false(ldns_pkt_ra(resp));
	assert_false(ldns_pkt_ad(resp));
	assert_int_equal(out[3] & 0x40, 0);     /* Z */
}

static void ask(const char *name, uint16_t qtype)
{
	tq_t t = { .id = 0xBEEF, .name = name, .qtype = qtype };
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
}

/* "owner ttl class type rdata" of a record, single spaces, no newline. */
static const char *rr_text(const ldns_rr *rr)
{
	static char s[2048];
	char *p = ldns_rr2str(rr);
	size_t o = 0;
	for (const char *c = p; *c != '\0' && o < sizeof(s) - 1; c++) {
		if (*c == '\n')
			continue;
		s[o++] = *c == '\t' ? ' ' : *c;
	}
	s[o] = '\0';
	free(p);
	return s;
}

static void section_is(ldns_rr_list *l, const char *const *want, size_t n)
{
	if (ldns_rr_list_rr_count(l) != n)
		for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++)
			fprintf(stderr, "got: %s\n", rr_text(ldns_rr_list_rr(l, i)));
	assert_int_equal(ldns_rr_list_rr_count(l), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(rr_text(ldns_rr_list_rr(l, i)), want[i]);
}

#define ANSWER_IS(...) do { \
	const char *const w_[] = { __VA_ARGS__ }; \
	section_is(ldns_pkt_answer(resp), w_, sizeof(w_) / sizeof(w_[0])); \
} while (0)
#define AUTHORITY_IS(...) do { \
	const char *const w_[] = { __VA_ARGS__ }; \
	section_is(ldns_pkt_authority(resp), w_, sizeof(w_) / sizeof(w_[0])); \
} while (0)
#define ADDITIONAL_IS(...) do { \
	const char *const w_[] = { __VA_ARGS__ }; \
	section_is(ldns_pkt_additional(resp), w_, sizeof(w_) / sizeof(w_[0])); \
} while (0)

#define SOA_NEG "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. " \
	"2024010101 7200 3600 1209600 300"

static void expect(ldns_pkt_rcode rcode, bool aa, size_t an, size_t ns, size_t ar)
{
	assert_int_equal(ldns_pkt_get_rcode(resp), rcode);
	assert_int_equal(ldns_pkt_aa(resp), aa);
	assert_false(ldns_pkt_tc(resp));
	assert_int_equal(dns_get16(out + 4), 1);
	assert_int_equal(ldns_pkt_ancount(resp), an);
	assert_int_equal(ldns_pkt_nscount(resp), ns);
	assert_int_equal(dns_get16(out + 10), ar);   /* raw: OPT included */
}

/* ---- headers, case, services ------------------------------------------ */

static void test_header_and_case(void **state)
{
	tq_t t = { .id = 0x4242, .flags1 = 0x01, .flags2 = 0x10, .name = "WwW.ExAmple.COM",
	           .qtype = DNS_TYPE_A };
	ask_t(&t, DNS_TRANSPORT_UDP, 512);
	expect(LDNS_RCODE_NOERROR, true, 2, 0, 0);
	assert_true(ldns_pkt_rd(resp));
	assert_true(ldns_pkt_cd(resp));
	assert_int_equal(ldns_pkt_get_opcode(resp), LDNS_PACKET_QUERY);
	/* The question as sent, and owners pointing at it. */
	assert_memory_equal(out + 12, "\3WwW\7ExAmple\3COM\0\0\1\0\1", 21);
	assert_int_equal(out[33], 0xC0);
	assert_int_equal(out[34], 12);
	ANSWER_IS("WwW.ExAmple.COM. 30 IN A 192.0.2.10", "WwW.ExAmple.COM. 30 IN A 192.0.2.20");
	/* RD and CD clear in the query: clear in the answer. */
	ask("www.example.com", DNS_TYPE_A);
	assert_false(ldns_pkt_rd(resp));
	assert_false(ldns_pkt_cd(resp));
	assert_int_equal(st.queries, 2);
	assert_int_equal(st.udp, 2);
	assert_int_equal(st.noerror, 2);
}

static void test_service(void **state)
{
	ask("www.example.com", DNS_TYPE_AAAA);
	expect(LDNS_RCODE_NOERROR, true, 2, 0, 0);
	ANSWER_IS("www.example.com. 30 IN AAAA 2001:db8::10", "www.example.com. 30 IN AAAA 2001:db8::20");

	/* A service's other types come from the zone... */
	ask("api.example.com", DNS_TYPE_TXT);
	expect(LDNS_RCODE_NOERROR, true, 1, 0, 0);
	ANSWER_IS("api.example.com. 3600 IN TXT \"api-txt\"");
	ask("api.example.com", DNS_TYPE_A);
	ANSWER_IS("api.example.com. 60 IN A 192.0.2.20");
	/* ...or are NODATA. */
	ask("api.example.com", DNS_TYPE_AAAA);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG);
	ask("www.example.com", DNS_TYPE_MX);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	/* A service with no address at all: NODATA, never NXDOMAIN. */
	ask("empty.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG);
}

/* ---- zone data -------------------------------------------------------- */

static void test_static_types(void **state)
{
	ask("example.com", DNS_TYPE_SOA);
	expect(LDNS_RCODE_NOERROR, true, 1, 0, 0);
	ANSWER_IS("example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. "
	          "2024010101 7200 3600 1209600 300");
	ask("example.com", DNS_TYPE_NS);
	ANSWER_IS("example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.com.");
	ask("example.com", DNS_TYPE_MX);
	ANSWER_IS("example.com. 3600 IN MX 10 mail.example.com.");
	ask("example.com", DNS_TYPE_TXT);
	ANSWER_IS("example.com. 3600 IN TXT \"v=spf1 -all\"");
	ask("example.com", DNS_TYPE_CAA);
	ANSWER_IS("example.com. 3600 IN CAA 0 issue \"letsencrypt.org\"");
	ask("_sip._tcp.example.com", DNS_TYPE_SRV);
	ANSWER_IS("_sip._tcp.example.com. 3600 IN SRV 10 60 5060 sip.example.com.");
	ask("ptr.example.com", DNS_TYPE_PTR);
	ANSWER_IS("ptr.example.com. 3600 IN PTR host.example.org.");
	ask("mail.example.com", DNS_TYPE_A);
	ANSWER_IS("mail.example.com. 600 IN A 192.0.2.25");
	ask("Mixed.example.com", DNS_TYPE_A);
	ANSWER_IS("Mixed.example.com. 3600 IN A 192.0.2.7");
	ask("a.b.c.example.com", DNS_TYPE_A);
	ANSWER_IS("a.b.c.example.com. 3600 IN A 192.0.2.60");
	ask("www.example.net", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 1, 0, 0);
	ANSWER_IS("www.example.net. 300 IN A 198.51.100.1");
}

static void test_nodata_nxdomain(void **state)
{
	ask("mail.example.com", DNS_TYPE_TXT);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG);
	/* The SOA owner compresses against the question. */
	size_t soa_at = 12 + 18 + 4;
	assert_int_equal(out[soa_at], 0xC0);
	assert_int_equal(out[soa_at + 1], 12 + 5);

	ask("b.c.example.com", DNS_TYPE_A);       /* empty non-terminal */
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG);

	ask("nothere.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG);
	ask("x.b.c.example.com", DNS_TYPE_AAAA);
	expect(LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
	/* Another zone's SOA for its names. */
	ask("nothere.example.net", DNS_TYPE_A);
	expect(LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
	AUTHORITY_IS("example.net. 60 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 60");
	assert_int_equal(st.nxdomain, 3);
	assert_int_equal(st.noerror, 2);
}

static void test_cname(void **state)
{
	ask("Alias.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 2, 0, 0);
	ANSWER_IS("Alias.example.com. 3600 IN CNAME mail.example.com.",
	          "mail.example.com. 600 IN A 192.0.2.25");
	/* The target owner points into the CNAME's RDATA. */
	size_t rdata = 12 + 19 + 4 + 2 + 10;
	size_t owner2 = rdata + 18;
	assert_int_equal(out[owner2], 0xC0);
	assert_int_equal(out[owner2 + 1], rdata);

	ask("alias.example.com", DNS_TYPE_CNAME);
	ANSWER_IS("alias.example.com. 3600 IN CNAME mail.example.com.");
	ask("chain1.example.com", DNS_TYPE_AAAA);
	ANSWER_IS("chain1.example.com. 3600 IN CNAME chain2.example.com.",
	          "chain2.example.com. 3600 IN CNAME Mail.example.com.",
	          "Mail.example.com. 3600 IN AAAA 2001:db8::25");
	/* Chain to a name with no such type: NODATA after the CNAME. */
	ask("alias.example.com", DNS_TYPE_MX);
	expect(LDNS_RCODE_NOERROR, true, 1, 1, 0);
	AUTHORITY_IS(SOA_NEG);
	/* Dangling: NXDOMAIN from the last name (RFC 6604). */
	ask("dangling.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NXDOMAIN, true, 1, 1, 0);
	ANSWER_IS("dangling.example.com. 3600 IN CNAME nothere.example.com.");
	AUTHORITY_IS(SOA_NEG);
	/* Into another zone of ours, into a child zone, into a wildcard. */
	ask("outside.example.com", DNS_TYPE_A);
	ANSWER_IS("outside.example.com. 3600 IN CNAME www.example.net.",
	          "www.example.net. 300 IN A 198.51.100.1");
	ask("tochild.example.com", DNS_TYPE_A);
	ANSWER_IS("tochild.example.com. 3600 IN CNAME host.child.example.com.",
	          "host.child.example.com. 300 IN A 192.0.2.77");
	ask("towild.example.com", DNS_TYPE_A);
	ANSWER_IS("towild.example.com. 3600 IN CNAME foo.wild.example.com.",
	          "foo.wild.example.com. 3600 IN A 192.0.2.99");
	/* Out of our zones, or into a delegation: the CNAME alone. */
	ask("ext.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 1, 0, 0);
	ask("todeleg.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 1, 0, 0);
	/* A loop stops. */
	ask("loop1.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 2, 0, 0);
	ANSWER_IS("loop1.example.com. 3600 IN CNAME loop2.example.com.",
	          "loop2.example.com. 3600 IN CNAME loop1.example.com.");
}

static void test_wildcard(void **state)
{
	ask("Foo.Wild.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 1, 0, 0);
	ANSWER_IS("Foo.Wild.example.com. 3600 IN A 192.0.2.99");
	ask("a.b.wild.example.com", DNS_TYPE_TXT);
	ANSWER_IS("a.b.wild.example.com. 3600 IN TXT \"wild\"");
	ask("foo.wild.example.com", DNS_TYPE_MX);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	/* An existing name is not covered by the wildcard. */
	ask("exists.wild.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	ask("x.exists.wild.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
}

static void test_referral(void **state)
{
	ask("www.Sub.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, false, 0, 3, 3);
	AUTHORITY_IS("Sub.example.com. 3600 IN NS ns1.sub.example.com.",
	             "Sub.example.com. 3600 IN NS ns1.example.com.",
	             "Sub.example.com. 3600 IN NS ns.other.net.");
	ADDITIONAL_IS("ns1.sub.example.com. 3600 IN A 192.0.2.53",
	              "ns1.sub.example.com. 3600 IN AAAA 2001:db8::53",
	              "ns1.example.com. 3600 IN A 192.0.2.1");
	ask("sub.example.com", DNS_TYPE_NS);
	expect(LDNS_RCODE_NOERROR, false, 0, 3, 3);
	/* Glue names are referrals too, never answers. */
	ask("ns1.sub.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, false, 0, 3, 3);
	/* DS at the cut is the parent's to answer. */
	ask("sub.example.com", DNS_TYPE_DS);
	expect(LDNS_RCODE_NOERROR, true, 1, 0, 0);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(resp), 0)), LDNS_RR_TYPE_DS);
	/* The delegation to a child zone we serve as well: the child answers,
	 * but DS at its apex comes from the parent (NODATA here). */
	ask("child.example.com", DNS_TYPE_SOA);
	expect(LDNS_RCODE_NOERROR, true, 1, 0, 0);
	ANSWER_IS("child.example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. "
	          "1 7200 3600 1209600 60");
	ask("child.example.com", DNS_TYPE_DS);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG);
}

static void test_refused(void **state)
{
	ask("www.example.org", DNS_TYPE_A);
	expect(LDNS_RCODE_REFUSED, false, 0, 0, 0);
	assert_memory_equal(out + 12, "\3www\7example\3org\0\0\1\0\1", 21);
	ask("com", DNS_TYPE_NS);
	expect(LDNS_RCODE_REFUSED, false, 0, 0, 0);
	ask(".", DNS_TYPE_NS);
	expect(LDNS_RCODE_REFUSED, false, 0, 0, 0);

	tq_t t = { .id = 7, .name = "www.example.com", .qtype = DNS_TYPE_A, .qclass = 3 };
	ask_t(&t, DNS_TRANSPORT_UDP, 512);                  /* CH */
	expect(LDNS_RCODE_REFUSED, false, 0, 0, 0);
	t.qclass = DNS_CLASS_ANY;
	ask_t(&t, DNS_TRANSPORT_UDP, 512);
	expect(LDNS_RCODE_REFUSED, false, 0, 0, 0);
	t.qclass = DNS_CLASS_IN;
	t.qtype = DNS_TYPE_AXFR;
	ask_t(&t, DNS_TRANSPORT_TCP, sizeof(out));
	expect(LDNS_RCODE_REFUSED, false, 0, 0, 0);
	t.qtype = DNS_TYPE_IXFR;
	ask_t(&t, DNS_TRANSPORT_TCP, sizeof(out));
	expect(LDNS_RCODE_REFUSED, false, 0, 0, 0);
	assert_int_equal(st.refused, 7);
	assert_int_equal(st.tcp, 2);
}

static void test_any(void **state)
{
	/* RFC 8482: one RRset.  A service gives its A set. */
	ask("www.example.com", DNS_TYPE_ANY);
	expect(LDNS_RCODE_NOERROR, true, 2, 0, 0);
	ANSWER_IS("www.example.com. 30 IN A 192.0.2.10", "www.example.com. 30 IN A 192.0.2.20");
	ask("v6.example.com", DNS_TYPE_ANY);
	ANSWER_IS("v6.example.com. 60 IN AAAA 2001:db8::10");
	/* Otherwise the RRset with the lowest type: NS at the apex. */
	ask("example.com", DNS_TYPE_ANY);
	ANSWER_IS("example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.com.");
	ask("mail.example.com", DNS_TYPE_ANY);
	ANSWER_IS("mail.example.com. 600 IN A 192.0.2.25");
	ask("b.c.example.com", DNS_TYPE_ANY);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	ask("empty.example.com", DNS_TYPE_ANY);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	ask("nothere.example.com", DNS_TYPE_ANY);
	expect(LDNS_RCODE_NXDOMAIN, true, 0, 1, 0);
}

/* ---- EDNS ------------------------------------------------------------- */

static void test_edns(void **state)
{
	tq_t t = { .id = 9, .name = "www.example.com", .qtype = DNS_TYPE_A, .edns = true,
	           .udp = 4096, .do_bit = true, .unknown_opt = true };
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	expect(LDNS_RCODE_NOERROR, true, 2, 0, 1);
	assert_true(ldns_pkt_edns(resp));
	assert_int_equal(ldns_pkt_edns_udp_size(resp), 1232);
	assert_int_equal(ldns_pkt_edns_version(resp), 0);
	assert_true(ldns_pkt_edns_do(resp));
	assert_null(ldns_pkt_edns_data(resp));     /* no option echoed */
	/* OPT is the last 11 bytes. */
	assert_memory_equal(out + outlen - 11, "\0\0\x29\x04\xd0\0\0\x80\0\0\0", 11);

	t.do_bit = false;
	t.unknown_opt = false;
	t.nsid = true;
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	assert_false(ldns_pkt_edns_do(resp));
	assert_memory_equal(out + outlen - 13, "\0\x03\0\x09" NSID, 13);
	assert_int_equal(dns_get16(out + outlen - 15), 13);

	/* Without a configured NSID, nothing. */
	dns_opts_t saved = snap->opts;
	snap->opts.nsid_len = 0;
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	assert_int_equal(dns_get16(out + outlen - 2), 0);
	snap->opts = saved;

	/* No OPT in the query, none in the answer. */
	ask("www.example.com", DNS_TYPE_A);
	assert_false(ldns_pkt_edns(resp));
	assert_int_equal(dns_get16(out + 10), 0);
	assert_int_equal(st.edns, 3);

	/* OPT also on negative answers and REFUSED. */
	t.nsid = false;
	t.name = "nothere.example.com";
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	expect(LDNS_RCODE_NXDOMAIN, true, 0, 1, 1);
	t.name = "example.org";
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	expect(LDNS_RCODE_REFUSED, false, 0, 0, 1);
}

static void test_badvers(void **state)
{
	tq_t t = { .id = 10, .name = "www.example.com", .qtype = DNS_TYPE_A, .edns = true,
	           .udp = 1232, .version = 1, .do_bit = true };
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	assert_int_equal(out[3] & 0x0F, 0);              /* low bits of 16 */
	assert_int_equal(ldns_pkt_ancount(resp), 0);
	assert_int_equal(ldns_pkt_nscount(resp), 0);
	assert_int_equal(dns_get16(out + 10), 1);
	assert_int_equal(ldns_pkt_edns_extended_rcode(resp), 1);
	assert_int_equal(ldns_pkt_edns_version(resp), 0);
	assert_true(ldns_pkt_edns_do(resp));
	assert_int_equal(dns_get16(out + 4), 1);          /* question echoed */
	assert_int_equal(st.badvers, 1);
	assert_int_equal(st.noerror, 0);
}

/* ---- errors ----------------------------------------------------------- */

static size_t raw(const tq_t *t, uint8_t *q)
{
	return tq_build(t, q);
}

static void test_formerr(void **state)
{
	uint8_t q[1024];
	/* Trailing garbage after a good question and OPT: question and OPT
	 * are echoed. */
	tq_t t = { .id = 11, .name = "www.example.com", .qtype = DNS_TYPE_A, .edns = true,
	           .udp = 1232 };
	size_t len = raw(&t, q);
	q[len++] = 0xFF;
	outlen = dns_answer(snap, q, len, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &st);
	assert_int_equal(ldns_wire2pkt(&resp, out, outlen), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_get_rcode(resp), LDNS_RCODE_FORMERR);
	assert_false(ldns_pkt_aa(resp));
	assert_int_equal(dns_get16(out + 4), 1);
	assert_int_equal(dns_get16(out + 6), 0);
	assert_int_equal(dns_get16(out + 10), 1);
	assert_true(ldns_pkt_edns(resp));
	assert_int_equal(dns_get16(out), 11);
	ldns_pkt_free(resp);
	resp = NULL;

	/* A pointer in QNAME: no question to echo. */
	const uint8_t p[] = { 0, 12, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	                      3, 'w', 'w', 'w', 0xC0, 12, 0, 1, 0, 1 };
	outlen = dns_answer(snap, p, sizeof(p), out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &st);
	assert_int_equal(outlen, 12);
	assert_int_equal(out[3] & 0x0F, LDNS_RCODE_FORMERR);
	assert_int_equal(dns_get16(out + 4), 0);
	assert_int_equal(out[2], 0x81);                   /* QR, RD copied */
	assert_int_equal(st.formerr, 2);
}

static void test_notimp(void **state)
{
	tq_t t = { .id = 12, .flags1 = 4 << 3, .name = "example.com", .qtype = DNS_TYPE_SOA };
	ask_t(&t, DNS_TRANSPORT_UDP, 512);
	assert_int_equal(ldns_pkt_get_rcode(resp), LDNS_RCODE_NOTIMPL);
	assert_int_equal(ldns_pkt_get_opcode(resp), LDNS_PACKET_NOTIFY);
	assert_false(ldns_pkt_aa(resp));
	assert_int_equal(ldns_pkt_ancount(resp), 0);
	assert_int_equal(st.notimp, 1);
}

static void test_drop(void **state)
{
	uint8_t q[1024];
	tq_t t = { .id = 13, .flags1 = 0x80, .name = "www.example.com", .qtype = DNS_TYPE_A };
	size_t len = raw(&t, q);
	assert_int_equal(dns_answer(snap, q, len, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &st), 0);
	assert_int_equal(dns_answer(snap, q, 11, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &st), 0);
	assert_int_equal(dns_answer(snap, q, 0, out, sizeof(out), DNS_TRANSPORT_TCP, NULL, &st), 0);
	assert_int_equal(st.dropped, 3);
	assert_int_equal(st.queries, 0);
	assert_int_equal(st.udp + st.tcp, 0);
}

/* ---- size limits ------------------------------------------------------ */

static void test_truncation(void **state)
{
	/* 12 TXT records of ~115 bytes: over 512, and over 1232 too. */
	ask("big.example.com", DNS_TYPE_TXT);
	assert_true(ldns_pkt_tc(resp));
	assert_true(ldns_pkt_aa(resp));
	assert_int_equal(ldns_pkt_get_rcode(resp), LDNS_RCODE_NOERROR);
	assert_int_equal(dns_get16(out + 4), 1);
	assert_int_equal(ldns_pkt_ancount(resp), 0);
	assert_int_equal(outlen, 12 + 17 + 4);
	assert_int_equal(st.truncated, 1);

	tq_t t = { .id = 14, .name = "big.example.com", .qtype = DNS_TYPE_TXT, .edns = true,
	           .udp = 4096, .nsid = true };
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	assert_true(ldns_pkt_tc(resp));
	assert_int_equal(dns_get16(out + 10), 1);        /* OPT kept */
	assert_int_equal(outlen, 12 + 17 + 4 + 11 + 4 + strlen(NSID));
	assert_int_equal(st.truncated, 2);

	/* Over TCP it fits. */
	ask_t(&t, DNS_TRANSPORT_TCP, sizeof(out));
	assert_false(ldns_pkt_tc(resp));
	assert_int_equal(ldns_pkt_ancount(resp), 12);
	assert_true(outlen > 1232);
	/* The UDP cap is snap->opts.udp_max whatever the client says. */
	snap->opts.udp_max = 4096;
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	assert_false(ldns_pkt_tc(resp));
	assert_int_equal(ldns_pkt_ancount(resp), 12);
	/* ...and outmax. */
	ask_t(&t, DNS_TRANSPORT_UDP, 1000);
	assert_true(ldns_pkt_tc(resp));
	snap->opts.udp_max = 1232;
	/* A TCP buffer smaller than the answer truncates as well. */
	ask_t(&t, DNS_TRANSPORT_TCP, 600);
	assert_true(ldns_pkt_tc(resp));
	assert_int_equal(st.truncated, 4);
}

static void test_glue_truncation(void **state)
{
	/* Required glue (24 AAAA in the delegated zone) does not fit in 512. */
	ask("www.fat.example.com", DNS_TYPE_A);
	assert_true(ldns_pkt_tc(resp));
	assert_false(ldns_pkt_aa(resp));
	assert_int_equal(ldns_pkt_nscount(resp), 0);
	tq_t t = { .id = 15, .name = "www.fat.example.com", .qtype = DNS_TYPE_A, .edns = true,
	           .udp = 1232 };
	/* With 1232 bytes the required glue fits; the sibling's 20 AAAA do
	 * not and are left out without TC. */
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	assert_false(ldns_pkt_tc(resp));
	assert_int_equal(ldns_pkt_nscount(resp), 5);
	assert_int_equal(dns_get16(out + 10), 24 + 1);
	for (size_t i = 0; i < 24; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_additional(resp), i);
		assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_AAAA);
		assert_int_equal(strncmp(rr_text(rr), "ns", 2), 0);
	}
	/* Over TCP all of it. */
	ask_t(&t, DNS_TRANSPORT_TCP, sizeof(out));
	assert_int_equal(dns_get16(out + 10), 24 + 20 + 1);
	assert_int_equal(st.truncated, 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, reset, free_resp)
	const struct CMUnitTest tests[] = {
		T(test_header_and_case),
		T(test_service),
		T(test_static_types),
		T(test_nodata_nxdomain),
		T(test_cname),
		T(test_wildcard),
		T(test_referral),
		T(test_refused),
		T(test_any),
		T(test_edns),
		T(test_badvers),
		T(test_formerr),
		T(test_notimp),
		T(test_drop),
		T(test_truncation),
		T(test_glue_truncation),
	};
	return cmocka_run_group_tests(tests, setup_snapshot, teardown_snapshot);
}
