/*
 * dns/answer.c: each behaviour of the answer path, checked by reading the
 * responses with ldns (the reference reader) and, where ldns hides the
 * detail, from the raw bytes.  The second group steers services by the
 * client's location (EDNS Client Subnet or source address) in the GeoIP
 * fixtures that tests/geo generates at build time.
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
#include "tests/unit/geo/geo_test.h"

#define NSID "ns-test-1"

static dns_snapshot_t *snap;
static dns_ctx_t ctx;          /* no geo cache: see the geo tests for one */
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
	dns_ctx_init(&ctx, 1);
	return 0;
}

static int teardown_snapshot(void **state)
{
	dns_snapshot_free(snap);
	return 0;
}

static int reset(void **state)
{
	memset(&ctx.stats, 0, sizeof(ctx.stats));
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
	outlen = dns_answer(snap, q, qlen, out, outmax, tr, NULL, &ctx);
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
/* The SOA of a steered name's NODATA: its TTL capped at the service's TTL
 * (RFC 2308 5: resolvers cache it no longer than that). */
#define SOA_NEG_TTL(ttl) "example.com. " #ttl " IN SOA ns1.example.com. hostmaster.example.com. " \
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
	assert_int_equal(ctx.stats.queries, 2);
	assert_int_equal(ctx.stats.udp, 2);
	assert_int_equal(ctx.stats.noerror, 2);
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
	/* ...or are NODATA, cached no longer than the service's TTL (60 s,
	 * not the zone's 300) since the answer follows the plan. */
	ask("api.example.com", DNS_TYPE_AAAA);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG_TTL(60));
	/* Other types of a service are the zone's: its negative TTL. */
	ask("www.example.com", DNS_TYPE_MX);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG);
	/* A service with no address at all (fail closed): NODATA, never
	 * NXDOMAIN, cached no longer than its TTL. */
	ask("empty.example.com", DNS_TYPE_A);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 0);
	AUTHORITY_IS(SOA_NEG_TTL(60));
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
	assert_int_equal(ctx.stats.nxdomain, 3);
	assert_int_equal(ctx.stats.noerror, 2);
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
	assert_int_equal(ctx.stats.refused, 7);
	assert_int_equal(ctx.stats.tcp, 2);
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
	assert_int_equal(ctx.stats.edns, 3);

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
	assert_int_equal(ctx.stats.badvers, 1);
	assert_int_equal(ctx.stats.noerror, 0);
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
	outlen = dns_answer(snap, q, len, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &ctx);
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
	outlen = dns_answer(snap, p, sizeof(p), out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &ctx);
	assert_int_equal(outlen, 12);
	assert_int_equal(out[3] & 0x0F, LDNS_RCODE_FORMERR);
	assert_int_equal(dns_get16(out + 4), 0);
	assert_int_equal(out[2], 0x81);                   /* QR, RD copied */
	assert_int_equal(ctx.stats.formerr, 2);
}

static void test_notimp(void **state)
{
	tq_t t = { .id = 12, .flags1 = 4 << 3, .name = "example.com", .qtype = DNS_TYPE_SOA };
	ask_t(&t, DNS_TRANSPORT_UDP, 512);
	assert_int_equal(ldns_pkt_get_rcode(resp), LDNS_RCODE_NOTIMPL);
	assert_int_equal(ldns_pkt_get_opcode(resp), LDNS_PACKET_NOTIFY);
	assert_false(ldns_pkt_aa(resp));
	assert_int_equal(ldns_pkt_ancount(resp), 0);
	assert_int_equal(ctx.stats.notimp, 1);
}

static void test_drop(void **state)
{
	uint8_t q[1024];
	tq_t t = { .id = 13, .flags1 = 0x80, .name = "www.example.com", .qtype = DNS_TYPE_A };
	size_t len = raw(&t, q);
	assert_int_equal(dns_answer(snap, q, len, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &ctx), 0);
	assert_int_equal(dns_answer(snap, q, 11, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &ctx), 0);
	assert_int_equal(dns_answer(snap, q, 0, out, sizeof(out), DNS_TRANSPORT_TCP, NULL, &ctx), 0);
	assert_int_equal(ctx.stats.dropped, 3);
	assert_int_equal(ctx.stats.queries, 0);
	assert_int_equal(ctx.stats.udp + ctx.stats.tcp, 0);
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
	assert_int_equal(ctx.stats.truncated, 1);

	tq_t t = { .id = 14, .name = "big.example.com", .qtype = DNS_TYPE_TXT, .edns = true,
	           .udp = 4096, .nsid = true };
	ask_t(&t, DNS_TRANSPORT_UDP, sizeof(out));
	assert_true(ldns_pkt_tc(resp));
	assert_int_equal(dns_get16(out + 10), 1);        /* OPT kept */
	assert_int_equal(outlen, 12 + 17 + 4 + 11 + 4 + strlen(NSID));
	assert_int_equal(ctx.stats.truncated, 2);

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
	assert_int_equal(ctx.stats.truncated, 4);
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
	assert_int_equal(ctx.stats.truncated, 1);
}

/* ---- geo steering ------------------------------------------------------ */

/*
 * The map: five fixture cities, index = choice.  Unlocated clients get
 * Ashburn first (a default order unlike config order, so that "unlocated"
 * shows in the answer).  Services:
 *   0 geo.example.com   GEO: city i answers 10.0.0.(i+1); AAAA
 *                       2001:db8:aaaa::(i+1) only in Beijing, Frankfurt,
 *                       São Paulo; fallback: every city's address.
 *   1 wgt.example.com   not GEO: one choice, sites 10.1.0.1 (weight 3, and
 *                       AAAA 2001:db8:bbbb::1) and 10.1.0.2 (weight 1, no AAAA).
 *   2 all.example.com   GEO | ALL: Beijing has two sites (10.2.0.1 with
 *                       AAAA 2001:db8:cccc::1, 10.2.0.2 without), the others
 *                       one each (10.2.0.(i+1)).
 *   3 www.example.com   dns_plan_set_addrs(): not steered.
 */
enum { BJ, SH, FRA, IAD, GRU, NCITY };
static const unsigned geo_fixture[NCITY] = { 0, 1, 5, 6, 9 };

static dns_snapshot_t *gsnap;
static geo_db_t *gdb;          /* our own references, for tests that swap them out */
static geo_map_t *gmap;
static geo_tree_t *gtree;      /* built from gdb and gmap */
static dns_ctx_t gctx;

/* Attaches db and map to gsnap with a tree built from them (none without
 * a map), as gtm/core/build.c does. */
static void set_geo(geo_db_t *db, geo_map_t *map)
{
	gtm_diag_t d = { 0 };
	geo_tree_t *t = map != NULL ? geo_tree_new(db, map, &d) : NULL;
	assert_true(map == NULL || t != NULL);
	dns_snapshot_set_geo(gsnap, db, map, t);
	geo_tree_unref(t);
}

static struct in_addr ip4(const char *text)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	return a;
}

static struct in6_addr ip6(const char *text)
{
	struct in6_addr a;
	assert_int_equal(inet_pton(AF_INET6, text, &a), 1);
	return a;
}

/* (Re)fills choice `city` of geo.example.com; serving or not. */
static void geo_city(dns_plan_t *plan, unsigned city, bool serving)
{
	char t[64];
	snprintf(t, sizeof(t), "10.0.0.%u", city + 1);
	struct in_addr a = ip4(t);
	snprintf(t, sizeof(t), "2001:db8:aaaa::%u", city + 1);
	struct in6_addr b = ip6(t);
	dns_plan_site_t site = { .weight = serving ? 1 : 0, .a = &a, .na = 1,
	                         .aaaa = &b, .naaaa = city % 2 == 0 ? 1 : 0 };
	dns_plan_choice_set(plan, 0, (uint16_t)city, &site, 1);
}

static int setup_geo(void **state)
{
	gtm_diag_t diag = { 0 };
	dns_zoneset_t *zs = dns_zoneset_new();
	int rc = dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag);
	rc |= dns_zoneset_add_service(zs, "geo.example.com", 0, "t.conf", 1, &diag);
	rc |= dns_zoneset_add_service(zs, "wgt.example.com", 1, "t.conf", 2, &diag);
	rc |= dns_zoneset_add_service(zs, "all.example.com", 2, "t.conf", 3, &diag);
	rc |= dns_zoneset_add_service(zs, "www.example.com", 3, "t.conf", 4, &diag);
	rc |= dns_zoneset_freeze(zs, &diag);
	print_diag(&diag);
	if (rc != 0 || diag.count != 0)
		return -1;

	dns_plan_t *plan = dns_plan_new(4);
	dns_plan_service_init(plan, 0, 30, DNS_PLAN_GEO, NCITY);
	struct in_addr fb[NCITY];
	dns_plan_site_t fbs[NCITY];
	for (unsigned i = 0; i < NCITY; i++) {
		geo_city(plan, i, true);
		char t[32];
		snprintf(t, sizeof(t), "10.0.0.%u", i + 1);
		fb[i] = ip4(t);
		fbs[i] = (dns_plan_site_t){ .weight = 1, .a = &fb[i], .na = 1 };
	}
	dns_plan_choice_set(plan, 0, DNS_PLAN_FALLBACK, fbs, NCITY);

	struct in_addr w[2] = { ip4("10.1.0.1"), ip4("10.1.0.2") };
	struct in6_addr w6 = ip6("2001:db8:bbbb::1");
	dns_plan_site_t ws[2] = {
		{ .weight = 3, .a = &w[0], .na = 1, .aaaa = &w6, .naaaa = 1 },
		{ .weight = 1, .a = &w[1], .na = 1 },
	};
	dns_plan_service_init(plan, 1, 30, 0, 1);
	dns_plan_choice_set(plan, 1, 0, ws, 2);
	dns_plan_choice_set(plan, 1, DNS_PLAN_FALLBACK, ws, 2);

	dns_plan_service_init(plan, 2, 30, DNS_PLAN_GEO | DNS_PLAN_ALL, NCITY);
	struct in_addr al[NCITY + 1];
	struct in6_addr al6 = ip6("2001:db8:cccc::1");
	for (unsigned i = 0; i <= NCITY; i++) {
		char t[32];
		snprintf(t, sizeof(t), "10.2.0.%u", i + 1);
		al[i] = ip4(t);
	}
	dns_plan_site_t bj[2] = {
		{ .weight = 1, .a = &al[0], .na = 1, .aaaa = &al6, .naaaa = 1 },
		{ .weight = 1, .a = &al[1], .na = 1 },
	};
	dns_plan_choice_set(plan, 2, BJ, bj, 2);
	for (unsigned i = 1; i < NCITY; i++) {
		dns_plan_site_t one = { .weight = 1, .a = &al[i + 1], .na = 1 };
		dns_plan_choice_set(plan, 2, (uint16_t)i, &one, 1);
	}
	dns_plan_choice_set(plan, 2, DNS_PLAN_FALLBACK, bj, 2);

	struct in_addr s3 = ip4("192.0.2.10");
	dns_plan_set_addrs(plan, 3, 30, &s3, 1, NULL, 0);

	dns_opts_t opts;
	memset(&opts, 0, sizeof(opts));
	opts.udp_max = 1232;
	opts.ecs = true;
	gsnap = dns_snapshot_new(zs, plan, &opts);
	dns_zoneset_unref(zs);

	geo_point_t pts[NCITY];
	for (unsigned i = 0; i < NCITY; i++) {
		pts[i].lat = fixture_cities[geo_fixture[i]].lat;
		pts[i].lon = fixture_cities[geo_fixture[i]].lon;
	}
	gmap = geo_map_new("test", pts, NCITY, &diag);
	const uint16_t def[] = { IAD };
	if (gmap == NULL || geo_map_set_default(gmap, def, 1, &diag, NULL, 0) != 0)
		return -1;
	gdb = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	if (gdb == NULL)
		return -1;
	gtree = geo_tree_new(gdb, gmap, &diag);
	if (gtree == NULL)
		return -1;
	dns_snapshot_set_geo(gsnap, gdb, gmap, gtree);
	dns_ctx_init(&gctx, 42);
	return 0;
}

static int teardown_geo(void **state)
{
	dns_snapshot_free(gsnap);
	geo_db_unref(gdb);
	geo_map_unref(gmap);
	geo_tree_unref(gtree);
	return 0;
}

/* What the last geo answer carried in its ECS option. */
typedef struct ecs_seen {
	bool present;
	unsigned family, source, scope;
	uint8_t addr[16];
	size_t alen;
} ecs_seen_t;

static ecs_seen_t ecs_of_resp(void)
{
	ecs_seen_t e = { 0 };
	if (!ldns_pkt_edns(resp) || ldns_pkt_edns_data(resp) == NULL)
		return e;
	const ldns_rdf *d = ldns_pkt_edns_data(resp);
	const uint8_t *p = ldns_rdf_data(d);
	size_t n = ldns_rdf_size(d), pos = 0;
	while (pos + 4 <= n) {
		uint16_t code = dns_get16(p + pos), olen = dns_get16(p + pos + 2);
		assert_true(pos + 4 + olen <= n);
		if (code == DNS_EDNS_ECS) {
			assert_false(e.present);          /* at most one */
			assert_true(olen >= 4);
			e.present = true;
			e.family = dns_get16(p + pos + 4);
			e.source = p[pos + 6];
			e.scope = p[pos + 7];
			e.alen = olen - 4u;
			assert_int_equal(e.alen, (e.source + 7) / 8);
			memcpy(e.addr, p + pos + 8, e.alen);
		}
		pos += 4 + (size_t)olen;
	}
	return e;
}

/* Asks `gsnap` for `name`/`qtype` with EDNS, ECS `ecs` (NULL: none), from
 * `client` (NULL: unknown), through `c`. */
static void gask_ctx(dns_ctx_t *c, const char *name, uint16_t qtype, const char *ecs,
                     const char *client)
{
	uint8_t q[1024];
	tq_t t = { .id = 0x6E0, .name = name, .qtype = qtype, .edns = true, .udp = 1232,
	           .ecs = ecs };
	size_t qlen = tq_build(&t, q);
	struct sockaddr_storage ss;
	const struct sockaddr *sa = client != NULL ? mkaddr(&ss, client) : NULL;
	ldns_pkt_free(resp);
	resp = NULL;
	outlen = dns_answer(gsnap, q, qlen, out, sizeof(out), DNS_TRANSPORT_UDP, sa, c);
	assert_true(outlen >= DNS_HDR_LEN && outlen <= 1232);
	assert_int_equal(ldns_wire2pkt(&resp, out, outlen), LDNS_STATUS_OK);
}

static void gask(const char *name, uint16_t qtype, const char *ecs, const char *client)
{
	gask_ctx(&gctx, name, qtype, ecs, client);
}

/* The answer's single A/AAAA address as text ("" for none, "many" for more). */
static const char *answer_addr(void)
{
	static char buf[INET6_ADDRSTRLEN];
	ldns_rr_list *l = ldns_pkt_answer(resp);
	if (ldns_rr_list_rr_count(l) == 0)
		return "";
	if (ldns_rr_list_rr_count(l) > 1)
		return "many";
	const ldns_rdf *rd = ldns_rr_rdf(ldns_rr_list_rr(l, 0), 0);
	int af = ldns_rdf_size(rd) == 4 ? AF_INET : AF_INET6;
	inet_ntop(af, ldns_rdf_data(rd), buf, sizeof(buf));
	return buf;
}

/* "a.b.c.0/24" for a fixture city's IPv4 network (last byte zeroed). */
static const char *net24(unsigned fixture)
{
	static char buf[64];
	struct in_addr a = ip4(fixture_cities[fixture].v4);
	((uint8_t *)&a)[3] = 0;
	char t[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a, t, sizeof(t));
	snprintf(buf, sizeof(buf), "%s/24", t);
	return buf;
}

static void test_geo_ecs_each_city(void **state)
{
	/* ECS from each city's network: that city's address, and the scope
	 * the MMDB network's length (all of them /24 or shorter). */
	for (unsigned city = 0; city < NCITY; city++) {
		unsigned f = geo_fixture[city];
		char want[32];
		snprintf(want, sizeof(want), "10.0.0.%u", city + 1);
		gask("geo.example.com", DNS_TYPE_A, net24(f), "127.0.0.1");
		assert_int_equal(ldns_pkt_get_rcode(resp), LDNS_RCODE_NOERROR);
		assert_string_equal(answer_addr(), want);
		ecs_seen_t e = ecs_of_resp();
		assert_true(e.present);
		assert_int_equal(e.family, 1);
		assert_int_equal(e.source, 24);
		assert_int_equal(e.scope, fixture_cities[f].v4_prefix);
		struct in_addr a = ip4(fixture_cities[f].v4);
		assert_memory_equal(e.addr, &a, 3);
		/* The TTL is the service's. */
		assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(resp), 0)), 30);
	}
	assert_true(gctx.stats.ecs >= NCITY);
	/* Again: the same. */
	gask("geo.example.com", DNS_TYPE_A, "198.19.200.0/24", "127.0.0.1");
	assert_string_equal(answer_addr(), "10.0.0.2");
	assert_int_equal(ecs_of_resp().scope, 16);
}

static void test_geo_ecs_scope(void **state)
{
	/* Beijing is a /16: a /24 subnet gets scope 16, a /32 too. */
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.1");
	assert_int_equal(ecs_of_resp().scope, 16);
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.9/32", NULL);
	assert_int_equal(ecs_of_resp().scope, 16);
	assert_int_equal(ecs_of_resp().source, 32);
	/* A source prefix shorter than the network caps the scope: /15. */
	gask("geo.example.com", DNS_TYPE_A, "198.18.0.0/15", NULL);
	assert_string_equal(answer_addr(), "10.0.0.1");
	ecs_seen_t e = ecs_of_resp();
	assert_int_equal(e.source, 15);
	assert_int_equal(e.scope, 15);
	/* /12 of Shenzhen's /20 (100.64.0.0): capped at 12, and Shenzhen,
	 * not a city of the map, goes to the nearest one: Shanghai. */
	gask("geo.example.com", DNS_TYPE_A, "100.64.0.0/12", NULL);
	assert_string_equal(answer_addr(), "10.0.0.2");
	assert_int_equal(ecs_of_resp().scope, 12);
	/* /8: the host bits are zero, 198.0.0.0 is in no network; the client
	 * is unlocated and gets the default order (Ashburn first). */
	gask("geo.example.com", DNS_TYPE_A, "198.0.0.0/8", NULL);
	assert_string_equal(answer_addr(), "10.0.0.4");
	e = ecs_of_resp();
	assert_true(e.present);
	assert_true(e.scope <= 8);
	/* A located record without coordinates (Germany only): the default.
	 * Its /16 gets the same order as the unlocated space around it
	 * (100.69.0.0-100.71.255.255), so the scope is the merged /14. */
	gask("geo.example.com", DNS_TYPE_A, "100.68.1.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.4");
	assert_int_equal(ecs_of_resp().scope, 14);
}

static void test_geo_ecs_v6(void **state)
{
	/* Beijing's /32 and São Paulo's /56. */
	gask("geo.example.com", DNS_TYPE_A, "3fff:100::/32", NULL);
	assert_string_equal(answer_addr(), "10.0.0.1");
	ecs_seen_t e = ecs_of_resp();
	assert_int_equal(e.family, 2);
	assert_int_equal(e.source, 32);
	assert_int_equal(e.scope, 32);
	gask("geo.example.com", DNS_TYPE_AAAA, "2001:db8:500:50::/64", NULL);
	assert_string_equal(answer_addr(), "2001:db8:aaaa::5");
	e = ecs_of_resp();
	assert_int_equal(e.source, 64);
	assert_int_equal(e.scope, 56);
	assert_int_equal(e.alen, 8);
	/* A /48 inside Frankfurt's /32. */
	gask("geo.example.com", DNS_TYPE_A, "3fff:300:1::/48", NULL);
	assert_string_equal(answer_addr(), "10.0.0.3");
	assert_int_equal(ecs_of_resp().scope, 32);
	/* An IPv4-mapped subnet is located as IPv4; its scope is counted in
	 * IPv6 bits: Beijing's /16 is ::ffff:198.18.0.0/112. */
	gask("geo.example.com", DNS_TYPE_A, "::ffff:198.18.7.0/120", NULL);
	assert_string_equal(answer_addr(), "10.0.0.1");
	assert_int_equal(ecs_of_resp().scope, 112);
}

static void test_geo_source_address(void **state)
{
	/* No ECS: the source address locates the client; no ECS echoed. */
	gask("geo.example.com", DNS_TYPE_A, NULL, "192.0.2.10");
	assert_string_equal(answer_addr(), "10.0.0.3");
	assert_false(ecs_of_resp().present);
	gask("geo.example.com", DNS_TYPE_A, NULL, "3fff:500::40");   /* Singapore */
	assert_string_equal(answer_addr(), "10.0.0.2");              /* nearest: Shanghai */
	/* Unknown source: unlocated, the default order. */
	gask("geo.example.com", DNS_TYPE_A, NULL, NULL);
	assert_string_equal(answer_addr(), "10.0.0.4");
	gask("geo.example.com", DNS_TYPE_A, NULL, "8.8.8.8");
	assert_string_equal(answer_addr(), "10.0.0.4");
	/* Without EDNS at all. */
	uint8_t q[512];
	tq_t t = { .id = 1, .name = "geo.example.com", .qtype = DNS_TYPE_A };
	size_t qlen = tq_build(&t, q);
	struct sockaddr_storage ss;
	outlen = dns_answer(gsnap, q, qlen, out, sizeof(out), DNS_TRANSPORT_TCP,
	                    mkaddr(&ss, "100.67.3.50"), &gctx);
	ldns_pkt_free(resp);
	resp = NULL;
	assert_int_equal(ldns_wire2pkt(&resp, out, outlen), LDNS_STATUS_OK);
	assert_string_equal(answer_addr(), "10.0.0.5");
	assert_false(ldns_pkt_edns(resp));

	/* Source prefix 0: the client opted out; the resolver's address
	 * locates, and the scope is 0. */
	gask("geo.example.com", DNS_TYPE_A, "0.0.0.0/0", "192.0.2.10");
	assert_string_equal(answer_addr(), "10.0.0.3");
	ecs_seen_t e = ecs_of_resp();
	assert_true(e.present);
	assert_int_equal(e.source, 0);
	assert_int_equal(e.scope, 0);
	assert_int_equal(e.alen, 0);
	gask("geo.example.com", DNS_TYPE_A, "::/0", NULL);
	assert_string_equal(answer_addr(), "10.0.0.4");
	assert_int_equal(ecs_of_resp().family, 2);
}

static void test_geo_ecs_off_and_untrusted(void **state)
{
	/* ECS off: ignored (the source locates) and not echoed. */
	gsnap->opts.ecs = false;
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", "192.0.2.10");
	assert_string_equal(answer_addr(), "10.0.0.3");
	assert_false(ecs_of_resp().present);
	assert_true(ldns_pkt_edns(resp));
	gsnap->opts.ecs = true;

	/* Only 127.0.0.0/8 and 2001:db8:53::/48 may send ECS. */
	gsnap->opts.n_ecs_trusted = 2;
	gsnap->opts.ecs_trusted[0] = (dns_net_t){ .family = AF_INET, .prefix = 8,
	                                          .addr = { 127 } };
	gsnap->opts.ecs_trusted[1] = (dns_net_t){ .family = AF_INET6, .prefix = 48,
	                                          .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x53 } };
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", "192.0.2.10");
	assert_string_equal(answer_addr(), "10.0.0.3");
	assert_false(ecs_of_resp().present);
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", NULL);   /* unknown: untrusted */
	assert_string_equal(answer_addr(), "10.0.0.4");
	assert_false(ecs_of_resp().present);
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", "127.0.0.53");
	assert_string_equal(answer_addr(), "10.0.0.1");
	assert_int_equal(ecs_of_resp().scope, 16);
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", "::ffff:127.1.2.3");
	assert_string_equal(answer_addr(), "10.0.0.1");
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", "2001:db8:53:ff::1");
	assert_string_equal(answer_addr(), "10.0.0.1");
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", "2001:db8:54::1");
	assert_false(ecs_of_resp().present);
	/* A /0 entry trusts a whole family. */
	gsnap->opts.ecs_trusted[1] = (dns_net_t){ .family = AF_INET6, .prefix = 0 };
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", "3fff:f00::1");
	assert_true(ecs_of_resp().present);
	gsnap->opts.n_ecs_trusted = 0;
}

static void test_geo_next_city_and_fallback(void **state)
{
	dns_plan_t *plan = gsnap->plan;
	/* Shanghai not serving: a Shanghai client goes to the nearest other
	 * city, Beijing; the scope is still the location's. */
	geo_city(plan, SH, false);
	gask("geo.example.com", DNS_TYPE_A, "198.19.0.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.1");
	assert_int_equal(ecs_of_resp().scope, 16);
	/* ...and Beijing too: then Frankfurt?  No: Tokyo is not a city here;
	 * from Shanghai, after Beijing, the next nearest is Frankfurt. */
	geo_city(plan, BJ, false);
	gask("geo.example.com", DNS_TYPE_A, "198.19.0.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.3");
	/* The default order goes on past Ashburn too. */
	geo_city(plan, IAD, false);
	gask("geo.example.com", DNS_TYPE_A, NULL, NULL);
	assert_string_equal(answer_addr(), "10.0.0.3");
	/* Nothing serving: the fallback, every address. */
	geo_city(plan, FRA, false);
	geo_city(plan, GRU, false);
	uint64_t fb = gctx.stats.fallback;
	gask("geo.example.com", DNS_TYPE_A, "198.19.0.0/24", NULL);
	ANSWER_IS("geo.example.com. 30 IN A 10.0.0.1", "geo.example.com. 30 IN A 10.0.0.2",
	          "geo.example.com. 30 IN A 10.0.0.3", "geo.example.com. 30 IN A 10.0.0.4",
	          "geo.example.com. 30 IN A 10.0.0.5");
	assert_int_equal(gctx.stats.fallback, fb + 1);
	/* The fallback has no AAAA: NODATA. */
	gask("geo.example.com", DNS_TYPE_AAAA, "198.19.0.0/24", NULL);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 1);
	for (unsigned i = 0; i < NCITY; i++)
		geo_city(plan, i, true);
	gask("geo.example.com", DNS_TYPE_A, "198.19.0.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.2");
}

static void test_geo_families(void **state)
{
	/* AAAA from a city whose site has IPv6. */
	gask("geo.example.com", DNS_TYPE_AAAA, "198.18.7.0/24", NULL);
	assert_string_equal(answer_addr(), "2001:db8:aaaa::1");
	/* Shanghai serves, but has no IPv6: NODATA, not another city (the
	 * choice serves; families are not mixed across cities), with the
	 * location's scope (the answer depends on it). */
	gask("geo.example.com", DNS_TYPE_AAAA, "198.19.0.0/24", NULL);
	expect(LDNS_RCODE_NOERROR, true, 0, 1, 1);
	AUTHORITY_IS(SOA_NEG_TTL(30));
	assert_int_equal(ecs_of_resp().scope, 16);
	/* ANY: the A set of the client's city. */
	gask("geo.example.com", DNS_TYPE_ANY, "192.0.2.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.3");
	/* Inside a choice, AAAA draws only from the sites that have one. */
	for (int i = 0; i < 50; i++) {
		gask("wgt.example.com", DNS_TYPE_AAAA, NULL, NULL);
		assert_string_equal(answer_addr(), "2001:db8:bbbb::1");
	}
	/* ALL with a site without IPv6: the one AAAA. */
	gask("all.example.com", DNS_TYPE_AAAA, "198.18.7.0/24", NULL);
	ANSWER_IS("all.example.com. 30 IN AAAA 2001:db8:cccc::1");
}

static void test_geo_weights(void **state)
{
	/* 3:1 over 40000 queries with a fixed seed: within a percent. */
	dns_ctx_t c;
	dns_ctx_init(&c, 12345);
	uint8_t q[512];
	tq_t t = { .id = 2, .name = "wgt.example.com", .qtype = DNS_TYPE_A };
	size_t qlen = tq_build(&t, q);
	unsigned n1 = 0, n2 = 0;
	const size_t rec = qlen + 2 + 10;        /* the RDATA of the one answer */
	for (int i = 0; i < 40000; i++) {
		size_t n = dns_answer(gsnap, q, qlen, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &c);
		assert_int_equal(n, rec + 4);
		assert_int_equal(dns_get16(out + 6), 1);
		if (memcmp(out + rec, "\x0a\x01\x00\x01", 4) == 0)
			n1++;
		else if (memcmp(out + rec, "\x0a\x01\x00\x02", 4) == 0)
			n2++;
	}
	assert_int_equal(n1 + n2, 40000);
	assert_true(n1 > 29600 && n1 < 30400);
	/* The same seed draws the same sequence. */
	dns_ctx_t d;
	dns_ctx_init(&d, 12345);
	uint8_t o2[512];
	for (int i = 0; i < 100; i++) {
		dns_answer(gsnap, q, qlen, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &c);
		dns_answer(gsnap, q, qlen, o2, sizeof(o2), DNS_TRANSPORT_UDP, NULL, &d);
	}
	/* Seed 0 is not a stuck generator. */
	dns_ctx_init(&c, 0);
	assert_true(c.rng != 0);
	n1 = 0;
	for (int i = 0; i < 400; i++) {
		dns_answer(gsnap, q, qlen, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &c);
		n1 += memcmp(out + rec, "\x0a\x01\x00\x01", 4) == 0;
	}
	assert_true(n1 > 200 && n1 < 400);
}

static void test_geo_all(void **state)
{
	/* ALL: every site of Beijing's choice, in order. */
	gask("all.example.com", DNS_TYPE_A, "198.18.7.0/24", NULL);
	ANSWER_IS("all.example.com. 30 IN A 10.2.0.1", "all.example.com. 30 IN A 10.2.0.2");
	assert_int_equal(ecs_of_resp().scope, 16);
	gask("all.example.com", DNS_TYPE_A, "192.0.2.0/24", NULL);
	ANSWER_IS("all.example.com. 30 IN A 10.2.0.4");
}

static void test_geo_static_scope_zero(void **state)
{
	/* Answers that do not depend on the location: scope 0, ECS echoed. */
	static const struct { const char *name; uint16_t qtype; int rcode; } cases[] = {
		{ "mail.example.com", DNS_TYPE_A, LDNS_RCODE_NOERROR },
		{ "example.com", DNS_TYPE_SOA, LDNS_RCODE_NOERROR },
		{ "nothere.example.com", DNS_TYPE_A, LDNS_RCODE_NXDOMAIN },
		{ "www.example.com", DNS_TYPE_A, LDNS_RCODE_NOERROR },     /* not steered */
		{ "wgt.example.com", DNS_TYPE_A, LDNS_RCODE_NOERROR },     /* not steered */
		{ "geo.example.com", DNS_TYPE_TXT, LDNS_RCODE_NOERROR },   /* steered, other type */
		{ "www.example.org", DNS_TYPE_A, LDNS_RCODE_REFUSED },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		gask(cases[i].name, cases[i].qtype, "198.18.7.0/24", NULL);
		assert_int_equal(ldns_pkt_get_rcode(resp), cases[i].rcode);
		ecs_seen_t e = ecs_of_resp();
		assert_true(e.present);
		assert_int_equal(e.family, 1);
		assert_int_equal(e.source, 24);
		assert_int_equal(e.scope, 0);
	}
	/* Malformed ECS: FORMERR, OPT without ECS. */
	uint8_t q[512], o[32];
	size_t n = tq_ecs_option("198.18.7.0/24", 24, o);
	tq_t t = { .id = 3, .name = "geo.example.com", .qtype = DNS_TYPE_A, .edns = true,
	           .udp = 1232, .raw_opt = o, .raw_opt_len = n };
	size_t qlen = tq_build(&t, q);
	outlen = dns_answer(gsnap, q, qlen, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &gctx);
	ldns_pkt_free(resp);
	resp = NULL;
	assert_int_equal(ldns_wire2pkt(&resp, out, outlen), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_get_rcode(resp), LDNS_RCODE_FORMERR);
	assert_true(ldns_pkt_edns(resp));
	assert_false(ecs_of_resp().present);
}

static void test_geo_truncation_keeps_ecs(void **state)
{
	/* big.example.com's TXT set does not fit 1232: TC=1, and the OPT,
	 * ECS included, still fits in the client's limit. */
	uint8_t q[512];
	tq_t t = { .id = 4, .name = "big.example.com", .qtype = DNS_TYPE_TXT, .edns = true,
	           .udp = 1232, .ecs = "3fff:100:abcd::/48" };
	size_t qlen = tq_build(&t, q);
	outlen = dns_answer(gsnap, q, qlen, out, 1232, DNS_TRANSPORT_UDP, NULL, &gctx);
	ldns_pkt_free(resp);
	resp = NULL;
	assert_int_equal(ldns_wire2pkt(&resp, out, outlen), LDNS_STATUS_OK);
	assert_true(ldns_pkt_tc(resp));
	assert_true(outlen <= 1232);
	ecs_seen_t e = ecs_of_resp();
	assert_true(e.present);
	assert_int_equal(e.source, 48);
	assert_int_equal(e.scope, 0);
	/* A steered answer of the largest size of ECS and NSID in 512 bytes:
	 * without EDNS room the limit is 512, and it still fits. */
	t.name = "geo.example.com";
	t.qtype = DNS_TYPE_A;
	t.udp = 512;
	t.nsid = true;
	t.ecs = "3fff:100::1/128";
	gsnap->opts.nsid_len = DNS_NSID_MAX;
	memset(gsnap->opts.nsid, 'n', DNS_NSID_MAX);
	qlen = tq_build(&t, q);
	outlen = dns_answer(gsnap, q, qlen, out, sizeof(out), DNS_TRANSPORT_UDP, NULL, &gctx);
	gsnap->opts.nsid_len = 0;
	ldns_pkt_free(resp);
	resp = NULL;
	assert_int_equal(ldns_wire2pkt(&resp, out, outlen), LDNS_STATUS_OK);
	assert_true(outlen <= 512);
	assert_false(ldns_pkt_tc(resp));
	assert_string_equal(answer_addr(), "10.0.0.1");
	assert_int_equal(ecs_of_resp().scope, 32);
}

static void test_geo_without_db_or_map(void **state)
{
	/* Another worker's context: the same answers. */
	dns_ctx_t nc;
	dns_ctx_init(&nc, 7);
	gask_ctx(&nc, "geo.example.com", DNS_TYPE_A, "198.51.100.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.4");
	assert_int_equal(ecs_of_resp().scope, 24);
	gask_ctx(&nc, "geo.example.com", DNS_TYPE_A, NULL, "100.67.3.50");
	assert_string_equal(answer_addr(), "10.0.0.5");

	/* Without a database: everybody unlocated, the default order. */
	set_geo(NULL, gmap);
	gask("geo.example.com", DNS_TYPE_A, "198.18.7.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.4");
	assert_true(ecs_of_resp().present);
	/* Without a map: the choices in index order, scope 0. */
	set_geo(gdb, NULL);
	gask("geo.example.com", DNS_TYPE_A, "192.0.2.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.1");
	assert_int_equal(ecs_of_resp().scope, 0);
	geo_city(gsnap->plan, BJ, false);
	gask("geo.example.com", DNS_TYPE_A, "192.0.2.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.2");
	geo_city(gsnap->plan, BJ, true);
	/* Setting the same handles again keeps them alive. */
	dns_snapshot_set_geo(gsnap, gdb, gmap, gtree);
	dns_snapshot_set_geo(gsnap, gdb, gmap, gtree);
	gask("geo.example.com", DNS_TYPE_A, "192.0.2.0/24", NULL);
	assert_string_equal(answer_addr(), "10.0.0.3");
}

static void test_geo_many_cities(void **state)
{
	/* A map of 70 cities: the tree's regions hold whole orders.  Only
	 * the last city serves, placed in Frankfurt; every other city sits on
	 * the equator. */
	enum { N = 70 };
	geo_point_t pts[N];
	for (unsigned i = 0; i < N; i++)
		pts[i] = (geo_point_t){ .lat = 0, .lon = -170.0 + i * 4.0 };
	pts[N - 1] = (geo_point_t){ .lat = 50.1109, .lon = 8.6821 };
	pts[N - 2] = (geo_point_t){ .lat = 39.9042, .lon = 116.4074 };   /* Beijing */
	gtm_diag_t diag = { 0 };
	geo_map_t *m = geo_map_new("many", pts, N, &diag);
	assert_non_null(m);

	dns_plan_t *plan = dns_plan_new(1);
	dns_plan_service_init(plan, 0, 30, DNS_PLAN_GEO, N);
	struct in_addr a = ip4("10.9.9.9"), b = ip4("10.8.8.8");
	dns_plan_site_t fra = { .weight = 1, .a = &a, .na = 1 };
	dns_plan_site_t bj = { .weight = 1, .a = &b, .na = 1 };
	dns_plan_choice_set(plan, 0, N - 1, &fra, 1);
	dns_plan_choice_set(plan, 0, N - 2, &bj, 1);
	dns_zoneset_t *zs = dns_zoneset_new();
	assert_int_equal(dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag), 0);
	assert_int_equal(dns_zoneset_add_service(zs, "geo.example.com", 0, "t.conf", 1, &diag), 0);
	assert_int_equal(dns_zoneset_freeze(zs, &diag), 0);
	dns_snapshot_t *saved = gsnap;
	gsnap = dns_snapshot_new(zs, plan, &saved->opts);
	dns_zoneset_unref(zs);
	set_geo(gdb, m);
	geo_map_unref(m);
	for (int round = 0; round < 3; round++) {
		gask("geo.example.com", DNS_TYPE_A, "192.0.2.0/24", NULL);
		assert_string_equal(answer_addr(), "10.9.9.9");
		gask("geo.example.com", DNS_TYPE_A, "198.19.0.0/24", NULL);
		assert_string_equal(answer_addr(), "10.8.8.8");
		assert_int_equal(ecs_of_resp().scope, 16);
	}
	dns_snapshot_free(gsnap);
	gsnap = saved;
}

/* ------------------------------------------------------------------------ */
/* Answers per site (dns_ctx_t.site_answers)                                 */

static dns_snapshot_t *csnap;

/*
 *   www.example.com    one choice: sites 7 and 9, weights 3:1, drawn
 *   api.example.com    DNS_PLAN_ALL: sites 7, 9 and one with no index
 *   empty.example.com  nothing serves: the fallback (sites 3 and 4, whole)
 *   v6.example.com     ALL, site 11 with 60 A records: TC=1 over UDP
 */
static int setup_counters(void **state)
{
	gtm_diag_t diag = { 0 };
	dns_zoneset_t *zs = dns_zoneset_new();
	int rc = dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag);
	rc |= dns_zoneset_add_service(zs, "www.example.com", 0, "t.conf", 1, &diag);
	rc |= dns_zoneset_add_service(zs, "api.example.com", 1, "t.conf", 2, &diag);
	rc |= dns_zoneset_add_service(zs, "empty.example.com", 2, "t.conf", 3, &diag);
	rc |= dns_zoneset_add_service(zs, "v6.example.com", 3, "t.conf", 4, &diag);
	rc |= dns_zoneset_freeze(zs, &diag);
	gtm_diag_clear(&diag);
	if (rc != 0)
		return -1;
	struct in_addr a[60];
	struct in6_addr aaaa = ip6("2001:db8::1");
	for (unsigned i = 0; i < 60; i++)
		a[i].s_addr = htonl(0x0A030000u + i + 1);
	dns_plan_t *plan = dns_plan_new(4);
	dns_plan_site_t ww[2] = {
		{ .weight = 3, .site = 7, .a = &a[0], .na = 1, .aaaa = &aaaa, .naaaa = 1 },
		{ .weight = 1, .site = 9, .a = &a[1], .na = 1 },
	};
	dns_plan_service_init(plan, 0, 30, 0, 1);
	dns_plan_choice_set(plan, 0, 0, ww, 2);
	dns_plan_site_t all[3] = {
		{ .weight = 1, .site = 7, .a = &a[0], .na = 1 },
		{ .weight = 1, .site = 9, .a = &a[1], .na = 1 },
		{ .weight = 1, .site = DNS_PLAN_NO_SITE, .a = &a[2], .na = 1 },
	};
	dns_plan_service_init(plan, 1, 30, DNS_PLAN_ALL, 1);
	dns_plan_choice_set(plan, 1, 0, all, 3);
	dns_plan_site_t fb[2] = {
		{ .weight = 1, .site = 3, .a = &a[3], .na = 1 },
		{ .weight = 1, .site = 4, .a = &a[4], .na = 2 },
	};
	dns_plan_service_init(plan, 2, 30, 0, 1);
	dns_plan_choice_set(plan, 2, DNS_PLAN_FALLBACK, fb, 2);
	dns_plan_site_t big = { .weight = 1, .site = 11, .a = a, .na = 60 };
	dns_plan_service_init(plan, 3, 30, DNS_PLAN_ALL, 1);
	dns_plan_choice_set(plan, 3, 0, &big, 1);
	dns_opts_t opts;
	memset(&opts, 0, sizeof(opts));
	opts.udp_max = 1232;
	csnap = dns_snapshot_new(zs, plan, &opts);
	dns_zoneset_unref(zs);
	return 0;
}

static int teardown_counters(void **state)
{
	dns_snapshot_free(csnap);
	return 0;
}

static uint64_t site_sum(const dns_ctx_t *c)
{
	uint64_t n = 0;
	for (size_t i = 0; i < DNS_MAX_SITES; i++)
		n += c->site_answers[i];
	return n;
}

static size_t cask(dns_ctx_t *c, const char *name, uint16_t qtype, dns_transport_t tr)
{
	uint8_t q[512];
	tq_t t = { .id = 3, .name = name, .qtype = qtype };
	size_t qlen = tq_build(&t, q);
	return dns_answer(csnap, q, qlen, out, sizeof(out), tr, NULL, c);
}

static void test_site_counters(void **state)
{
	static dns_ctx_t c;
	dns_ctx_init(&c, 42);
	assert_int_equal(site_sum(&c), 0);

	/* A drawn site: one increment per answer, for the site drawn (3:1). */
	for (int i = 0; i < 4000; i++)
		cask(&c, "www.example.com", DNS_TYPE_A, DNS_TRANSPORT_UDP);
	assert_int_equal(c.site_answers[7] + c.site_answers[9], 4000);
	assert_true(c.site_answers[7] > 2800 && c.site_answers[7] < 3200);
	assert_int_equal(site_sum(&c), 4000);
	/* AAAA: only site 7 has one; ANY answers the A set. */
	cask(&c, "www.example.com", DNS_TYPE_AAAA, DNS_TRANSPORT_UDP);
	cask(&c, "www.example.com", DNS_TYPE_ANY, DNS_TRANSPORT_UDP);
	assert_int_equal(site_sum(&c), 4002);
	/* Not a steered answer: other types, NODATA, NXDOMAIN, static names. */
	dns_ctx_init(&c, 42);
	cask(&c, "www.example.com", DNS_TYPE_MX, DNS_TRANSPORT_UDP);
	cask(&c, "api.example.com", DNS_TYPE_AAAA, DNS_TRANSPORT_UDP);
	cask(&c, "nothere.example.com", DNS_TYPE_A, DNS_TRANSPORT_UDP);
	cask(&c, "mail.example.com", DNS_TYPE_A, DNS_TRANSPORT_UDP);
	assert_int_equal(site_sum(&c), 0);

	/* ALL: every site of the pick once; one with no index is not counted. */
	cask(&c, "api.example.com", DNS_TYPE_A, DNS_TRANSPORT_UDP);
	cask(&c, "api.example.com", DNS_TYPE_A, DNS_TRANSPORT_TCP);
	assert_int_equal(c.site_answers[7], 2);
	assert_int_equal(c.site_answers[9], 2);
	assert_int_equal(site_sum(&c), 4);

	/* The fallback: every site, whole. */
	cask(&c, "empty.example.com", DNS_TYPE_A, DNS_TRANSPORT_UDP);
	assert_int_equal(c.site_answers[3], 1);
	assert_int_equal(c.site_answers[4], 1);
	assert_int_equal(c.stats.fallback, 1);
	assert_int_equal(site_sum(&c), 6);

	/* A truncated answer carries no records: nothing counted; over TCP
	 * the whole set is written. */
	cask(&c, "v6.example.com", DNS_TYPE_A, DNS_TRANSPORT_UDP);
	assert_int_equal(c.stats.truncated, 1);
	assert_int_equal(c.site_answers[11], 0);
	cask(&c, "v6.example.com", DNS_TYPE_A, DNS_TRANSPORT_TCP);
	assert_int_equal(c.site_answers[11], 1);

	/* The helper dns_server_site_answers sums the workers with. */
	static dns_ctx_t d;
	dns_ctx_init(&d, 7);
	d.site_answers[7] = 10;
	d.site_answers[DNS_MAX_SITES - 1] = 5;
	uint64_t sum[DNS_MAX_SITES + 1];
	memset(sum, 0, sizeof(sum));
	sum[DNS_MAX_SITES] = 99;
	dns_ctx_site_answers_add(sum, DNS_MAX_SITES + 1, &c);
	dns_ctx_site_answers_add(sum, DNS_MAX_SITES + 1, &d);
	assert_int_equal(sum[7], 12);
	assert_int_equal(sum[9], 2);
	assert_int_equal(sum[11], 1);
	assert_int_equal(sum[DNS_MAX_SITES - 1], 5);
	assert_int_equal(sum[DNS_MAX_SITES], 99);   /* beyond the bound: untouched */
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
	const struct CMUnitTest geo_tests[] = {
		T(test_geo_ecs_each_city),
		T(test_geo_ecs_scope),
		T(test_geo_ecs_v6),
		T(test_geo_source_address),
		T(test_geo_ecs_off_and_untrusted),
		T(test_geo_next_city_and_fallback),
		T(test_geo_families),
		T(test_geo_weights),
		T(test_geo_all),
		T(test_geo_static_scope_zero),
		T(test_geo_truncation_keeps_ecs),
		T(test_geo_without_db_or_map),
		T(test_geo_many_cities),
	};
	int rc = cmocka_run_group_tests_name("answer", tests, setup_snapshot, teardown_snapshot);
	rc |= cmocka_run_group_tests_name("geo", geo_tests, setup_geo, teardown_geo);
	const struct CMUnitTest counter_tests[] = {
		T(test_site_counters),
	};
	rc |= cmocka_run_group_tests_name("site counters", counter_tests, setup_counters,
	                                  teardown_counters);
	return rc;
}
