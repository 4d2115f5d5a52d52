/* dns/zone.c: loading, refusals with their messages, services, lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "common/diag.h"
#include "common/errcode.h"
#include "dns/zone.h"
#include "tests/unit/dns/dns_test.h"

static gtm_diag_t diag;

static int teardown_diag(void **state)
{
	gtm_diag_clear(&diag);
	return 0;
}

/* Does some message contain `needle`? */
static bool diag_has(const char *needle)
{
	for (size_t i = 0; i < diag.count; i++)
		if (strstr(diag.msgs[i], needle) != NULL)
			return true;
	return false;
}

static void dump_diag(void)
{
	for (size_t i = 0; i < diag.count; i++)
		fprintf(stderr, "diag: %s\n", diag.msgs[i]);
}

static dns_zoneset_t *load_main(void)
{
	dns_zoneset_t *zs = dns_zoneset_new();
	int rc = dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag);
	if (rc != 0)
		dump_diag();
	assert_int_equal(rc, 0);
	assert_int_equal(diag.count, 0);
	return zs;
}

static void lookup(const dns_zoneset_t *zs, const char *name, bool ds, dns_lookup_t *res)
{
	uint8_t w[DNS_NAME_MAX], off[DNS_LABELS_MAX];
	unsigned nl;
	size_t len = dns_name_from_str(name, w);
	assert_true(len > 0);
	assert_int_equal(dns_name_labels(w, len, off, &nl), len);
	dns_zoneset_lookup(zs, w, len, off, nl, ds, res);
}

static const char *node_name(const dns_node_t *n)
{
	static char s[1100];
	ldns_rdf *r = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, n->name_len, n->name);
	char *p = ldns_rdf2str(r);
	snprintf(s, sizeof(s), "%s", p);
	free(p);
	ldns_rdf_deep_free(r);
	return s;
}

/*
 * Each record text parses with ldns, and the zone holds exactly ldns's
 * RDATA wire for it (the round trip of every listed type), with the TTL
 * and class in the fragment.
 */
static void check_rr(const dns_zoneset_t *zs, const char *text)
{
	ldns_rr *rr = NULL;
	assert_int_equal(ldns_rr_new_frm_str(&rr, text, 3600, NULL, NULL), LDNS_STATUS_OK);
	ldns_buffer *b = ldns_buffer_new(512);
	assert_int_equal(ldns_rr_rdata2buffer_wire(b, rr), LDNS_STATUS_OK);
	char *owner = ldns_rdf2str(ldns_rr_owner(rr));
	dns_lookup_t res;
	lookup(zs, owner, ldns_rr_get_type(rr) == LDNS_RR_TYPE_DS, &res);
	free(owner);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	const dns_rrset_t *set = dns_node_rrset(res.node, (uint16_t)ldns_rr_get_type(rr));
	assert_non_null(set);
	bool found = false;
	for (uint16_t i = 0; i < set->rr.count; i++) {
		const uint8_t *rec = set->rr.wire + set->rr.offsets[i];
		assert_int_equal(dns_get16(rec), ldns_rr_get_type(rr));
		assert_int_equal(dns_get16(rec + 2), DNS_CLASS_IN);
		uint16_t rdlen = dns_get16(rec + 8);
		if (rdlen == ldns_buffer_position(b) &&
		    memcmp(rec + 10, ldns_buffer_begin(b), rdlen) == 0) {
			assert_int_equal(dns_get32(rec + 4), ldns_rr_ttl(rr));
			found = true;
		}
	}
	if (!found)
		fprintf(stderr, "not in the zone: %s\n", text);
	assert_true(found);
	ldns_buffer_free(b);
	ldns_rr_free(rr);
}

static void test_load_types(void **state)
{
	dns_zoneset_t *zs = load_main();
	assert_int_equal(dns_zoneset_count(zs), 1);
	check_rr(zs, "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. "
	             "2024010101 7200 3600 1209600 300");
	check_rr(zs, "example.com. 3600 IN NS ns1.example.com.");
	check_rr(zs, "example.com. 3600 IN NS ns2.example.com.");
	check_rr(zs, "example.com. 3600 IN MX 10 mail.example.com.");
	check_rr(zs, "example.com. 3600 IN TXT \"v=spf1 -all\"");
	check_rr(zs, "example.com. 3600 IN CAA 0 issue \"letsencrypt.org\"");
	check_rr(zs, "ns1.example.com. 3600 IN A 192.0.2.1");
	check_rr(zs, "ns2.example.com. 3600 IN AAAA 2001:db8::2");
	check_rr(zs, "mail.example.com. 600 IN A 192.0.2.25");
	check_rr(zs, "alias.example.com. 3600 IN CNAME mail.example.com.");
	check_rr(zs, "_sip._tcp.example.com. 3600 IN SRV 10 60 5060 sip.example.com.");
	check_rr(zs, "ptr.example.com. 3600 IN PTR host.example.org.");
	check_rr(zs, "sub.example.com. 3600 IN DS 12345 8 2 "
	             "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");
	/* Owner names are keyed in lower case. */
	check_rr(zs, "mixed.example.com. 3600 IN A 192.0.2.7");

	/* ns1 A is written twice in the file: served once. */
	dns_lookup_t r1;
	lookup(zs, "ns1.example.com", false, &r1);
	assert_int_equal(dns_node_rrset(r1.node, DNS_TYPE_A)->rr.count, 1);
	const dns_rrset_t *ns = dns_node_rrset(dns_zoneset_zone(zs, 0)->apex_node, DNS_TYPE_NS);
	assert_int_equal(ns->rr.count, 2);
	const dns_rrset_t *big;
	dns_lookup_t res;
	lookup(zs, "big.example.com", false, &res);
	big = dns_node_rrset(res.node, DNS_TYPE_TXT);
	assert_int_equal(big->rr.count, 12);
	dns_zoneset_unref(zs);
}

static void test_negative_soa(void **state)
{
	dns_zoneset_t *zs = load_main();
	const dns_zone_t *z = dns_zoneset_zone(zs, 0);
	assert_null(dns_zoneset_zone(zs, 1));
	assert_int_equal(z->soa_neg.count, 1);
	/* min(3600, MINIMUM 300) */
	assert_int_equal(dns_get32(z->soa_neg.wire + 4), 300);
	assert_string_equal(z->origin, "example.com");
	dns_zoneset_unref(zs);
}

static void test_lookup_kinds(void **state)
{
	dns_zoneset_t *zs = load_main();
	assert_int_equal(dns_zoneset_freeze(zs, &diag), 0);
	dns_lookup_t res;

	lookup(zs, "MAIL.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_string_equal(node_name(res.node), "mail.example.com.");
	assert_ptr_equal(res.zone, dns_zoneset_zone(zs, 0));

	/* Empty non-terminals exist, with nothing in them. */
	lookup(zs, "b.c.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_int_equal(res.node->nsets, 0);
	lookup(zs, "c.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	lookup(zs, "_tcp.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);

	lookup(zs, "nothere.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_NXDOMAIN);
	assert_ptr_equal(res.node, dns_zoneset_zone(zs, 0)->apex_node);
	lookup(zs, "x.b.c.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_NXDOMAIN);
	assert_string_equal(node_name(res.node), "b.c.example.com.");

	/* Delegation: at the cut, below it, and its glue. */
	lookup(zs, "sub.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_REFERRAL);
	assert_string_equal(node_name(res.node), "sub.example.com.");
	assert_true(res.node->flags & DNS_NODE_CUT);
	lookup(zs, "ns1.sub.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_REFERRAL);
	assert_string_equal(node_name(res.node), "sub.example.com.");
	lookup(zs, "deep.below.sub.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_REFERRAL);
	const dns_node_t *cut = res.node;
	assert_int_equal(cut->nglue, 2);
	assert_true(cut->glue[0].required);
	assert_string_equal(node_name(cut->glue[0].node), "ns1.sub.example.com.");
	assert_false(cut->glue[1].required);
	assert_string_equal(node_name(cut->glue[1].node), "ns1.example.com.");
	/* DS at the cut is the parent's; below the cut it is not. */
	lookup(zs, "sub.example.com", true, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_non_null(dns_node_rrset(res.node, DNS_TYPE_DS));
	lookup(zs, "x.sub.example.com", true, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_REFERRAL);

	/* Wildcards (RFC 4592). */
	lookup(zs, "foo.wild.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_WILDCARD);
	assert_string_equal(node_name(res.node), "*.wild.example.com.");
	lookup(zs, "a.b.wild.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_WILDCARD);
	lookup(zs, "exists.wild.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	/* Below an existing name, the wildcard does not reach. */
	lookup(zs, "x.exists.wild.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_NXDOMAIN);
	lookup(zs, "wild.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);

	lookup(zs, "example.org", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_REFUSED);
	assert_null(res.zone);
	lookup(zs, "com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_REFUSED);
	lookup(zs, ".", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_REFUSED);
	dns_zoneset_unref(zs);
}

static void test_nested_zones(void **state)
{
	dns_zoneset_t *zs = load_main();
	assert_int_equal(dns_zoneset_add_zone(zs, "child.example.com.",
	                                      tdata("child.example.com.zone"), &diag), 0);
	assert_int_equal(dns_zoneset_add_zone(zs, "example.net", tdata("example.net.zone"), &diag), 0);
	assert_int_equal(dns_zoneset_count(zs), 3);
	assert_int_equal(dns_zoneset_freeze(zs, &diag), 0);
	dns_lookup_t res;
	/* The child's apex is the child's, not the parent's delegation. */
	lookup(zs, "child.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_ptr_equal(res.zone, dns_zoneset_zone(zs, 1));
	lookup(zs, "host.child.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	/* DS for the child apex: the parent's delegation point. */
	lookup(zs, "child.example.com", true, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_ptr_equal(res.zone, dns_zoneset_zone(zs, 0));
	assert_true(res.node->flags & DNS_NODE_CUT);
	/* DS at an apex with no parent of ours: the zone itself answers. */
	lookup(zs, "example.com", true, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_ptr_equal(res.zone, dns_zoneset_zone(zs, 0));
	lookup(zs, "www.example.net", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_ptr_equal(res.zone, dns_zoneset_zone(zs, 2));
	dns_zoneset_unref(zs);
}

/* A refused zone: rc, message, and the zoneset left as it was. */
static void refuse(const char *origin, const char *file, int want_rc, const char *msg)
{
	dns_zoneset_t *zs = dns_zoneset_new();
	int rc = dns_zoneset_add_zone(zs, origin, tdata(file), &diag);
	if (!diag_has(msg)) {
		dump_diag();
		fprintf(stderr, "wanted: %s\n", msg);
	}
	assert_int_equal(rc, want_rc);
	assert_true(diag_has(msg));
	assert_int_equal(dns_zoneset_count(zs), 0);
	dns_lookup_t res;
	lookup(zs, "www.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_REFUSED);
	dns_zoneset_unref(zs);
	gtm_diag_clear(&diag);
}

static void test_refusals(void **state)
{
	char want[4200];
	snprintf(want, sizeof(want), "%s: zone example.com has no SOA at its apex",
	         tdata("no-soa.zone"));
	refuse("example.com", "no-soa.zone", GTM_EPARSE, want);
	refuse("example.com", "no-ns.zone", GTM_EPARSE, "zone example.com has no NS at its apex");
	/* A zone file for another origin has no SOA at our apex. */
	refuse("example.com", "example.net.zone", GTM_EPARSE, "zone example.com has no SOA at its apex");
	refuse("example.com", "example.net.zone", GTM_EPARSE,
	       "record example.net. is outside zone example.com");
	refuse("example.com", "out-of-zone.zone", GTM_EPARSE,
	       "record www.example.org. is outside zone example.com");
	refuse("example.com", "cname-other.zone", GTM_EPARSE,
	       "www.example.com. has a CNAME and other data");
	refuse("example.com", "cname-other.zone", GTM_EPARSE,
	       "two.example.com. has more than one CNAME");
	refuse("example.com", "class-ch.zone", GTM_EPARSE, "only IN is served");
	snprintf(want, sizeof(want), "%s:7: ", tdata("syntax.zone"));
	refuse("example.com", "syntax.zone", GTM_EPARSE, want);
	snprintf(want, sizeof(want), "%s:4: example.com.: a second SOA record",
	         tdata("soa-twice.zone"));
	refuse("example.com", "soa-twice.zone", GTM_EPARSE, want);
	snprintf(want, sizeof(want), "%s:5: h.example.com.: an SOA record", tdata("soa-twice.zone"));
	refuse("example.com", "soa-twice.zone", GTM_EPARSE, want);
	snprintf(want, sizeof(want), "%s:4: record www.example.com. has class 3",
	         tdata("class-ch.zone"));
	refuse("example.com", "class-ch.zone", GTM_EPARSE, want);
	snprintf(want, sizeof(want), "%s:4: www.example.com. has a CNAME and other data",
	         tdata("cname-other.zone"));
	refuse("example.com", "cname-other.zone", GTM_EPARSE, want);
	refuse("example.com", "does-not-exist.zone", GTM_EIO, "cannot open zone file");
	refuse("bad..name", "example.com.zone", GTM_EINVAL, "not a valid domain name");
}

static void test_all_errors_reported(void **state)
{
	/* cname-other.zone has two problems; both are reported. */
	dns_zoneset_t *zs = dns_zoneset_new();
	assert_int_equal(dns_zoneset_add_zone(zs, "example.com", tdata("cname-other.zone"), &diag),
	                 GTM_EPARSE);
	assert_int_equal(diag.count, 2);
	dns_zoneset_unref(zs);
}

static void test_syntax_errors_all_reported(void **state)
{
	/* Reading goes on after a broken record: each one has its line. */
	dns_zoneset_t *zs = dns_zoneset_new();
	assert_int_equal(dns_zoneset_add_zone(zs, "example.com", tdata("syntax.zone"), &diag),
	                 GTM_EPARSE);
	if (diag.count != 3)
		dump_diag();
	assert_int_equal(diag.count, 3);
	char want[4200];
	snprintf(want, sizeof(want), "%s:9: ", tdata("syntax.zone"));
	assert_true(diag_has(want));
	snprintf(want, sizeof(want), "%s:10: $INCLUDE is not supported", tdata("syntax.zone"));
	assert_true(diag_has(want));
	dns_zoneset_unref(zs);
}

static uint32_t ttl_of(const dns_zoneset_t *zs, const char *name, uint16_t i)
{
	dns_lookup_t res;
	lookup(zs, name, false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	const dns_rrset_t *set = dns_node_rrset(res.node, DNS_TYPE_A);
	assert_non_null(set);
	assert_true(i < set->rr.count);
	return dns_get32(set->rr.wire + set->rr.offsets[i] + 4);
}

static void test_ttl_defaults(void **state)
{
	dns_zoneset_t *zs = dns_zoneset_new();
	int rc = dns_zoneset_add_zone(zs, "example.com", tdata("ttl.zone"), &diag);
	dump_diag();
	assert_int_equal(rc, 0);
	assert_int_equal(ttl_of(zs, "a.example.com", 0), 500);
	assert_int_equal(ttl_of(zs, "b.example.com", 0), 700);
	assert_int_equal(ttl_of(zs, "c.example.com", 0), 700);
	assert_int_equal(ttl_of(zs, "d.example.com", 0), 900);
	assert_int_equal(ttl_of(zs, "e.example.com", 0), 100);
	assert_int_equal(ttl_of(zs, "f.example.com", 0), 900);
	assert_int_equal(ttl_of(zs, "g.example.com", 0), 150);
	assert_int_equal(ttl_of(zs, "g.example.com", 1), 150);
	dns_zoneset_unref(zs);
}

static void test_duplicate_zone(void **state)
{
	dns_zoneset_t *zs = load_main();
	assert_int_equal(dns_zoneset_add_zone(zs, "Example.COM.", tdata("example.com.zone"), &diag),
	                 GTM_EEXIST);
	assert_true(diag_has("zone Example.COM. is already loaded"));
	assert_int_equal(dns_zoneset_count(zs), 1);
	dns_zoneset_unref(zs);
}

static void test_services(void **state)
{
	dns_zoneset_t *zs = load_main();
	assert_int_equal(dns_zoneset_add_service(zs, "www.example.com", 0, "gtm.conf", 10, &diag), 0);
	assert_int_equal(dns_zoneset_add_service(zs, "API.example.com.", 1, "gtm.conf", 11, &diag), 0);
	assert_int_equal(dns_zoneset_add_service(zs, "svc.deep.example.com", 2, "gtm.conf", 12, &diag), 0);
	assert_int_equal(diag.count, 0);

	assert_int_equal(dns_zoneset_add_service(zs, "www.other.org", 3, "gtm.conf", 20, &diag),
	                 GTM_ENOENT);
	assert_true(diag_has("gtm.conf:20: service www.other.org is outside every zone"));
	assert_int_equal(dns_zoneset_add_service(zs, "sub.example.com", 3, "gtm.conf", 21, &diag),
	                 GTM_EINVAL);
	assert_true(diag_has("gtm.conf:21: service sub.example.com is at or below the delegation sub.example.com."));
	assert_int_equal(dns_zoneset_add_service(zs, "x.y.sub.example.com", 3, "gtm.conf", 22, &diag),
	                 GTM_EINVAL);
	assert_true(diag_has("gtm.conf:22: service x.y.sub.example.com is at or below"));
	assert_int_equal(dns_zoneset_add_service(zs, "mail.example.com", 3, "gtm.conf", 23, &diag),
	                 GTM_EEXIST);
	assert_true(diag_has("gtm.conf:23: service mail.example.com owns A, AAAA or CNAME"));
	assert_int_equal(dns_zoneset_add_service(zs, "alias.example.com", 3, "gtm.conf", 24, &diag),
	                 GTM_EEXIST);
	assert_true(diag_has("gtm.conf:24: service alias.example.com owns"));
	assert_int_equal(dns_zoneset_add_service(zs, "ns2.example.com", 3, "gtm.conf", 25, &diag),
	                 GTM_EEXIST);
	assert_int_equal(dns_zoneset_add_service(zs, "WWW.example.com", 3, "gtm.conf", 26, &diag),
	                 GTM_EEXIST);
	assert_true(diag_has("gtm.conf:26: service WWW.example.com is declared twice"));
	assert_int_equal(dns_zoneset_add_service(zs, "a..b", 3, "gtm.conf", 27, &diag), GTM_EINVAL);
	assert_int_equal(diag.count, 8);

	assert_int_equal(dns_zoneset_freeze(zs, &diag), 0);
	/* After freeze nothing more is added. */
	assert_int_equal(dns_zoneset_add_service(zs, "late.example.com", 4, "gtm.conf", 30, &diag),
	                 GTM_EINVAL);
	assert_int_equal(dns_zoneset_add_zone(zs, "example.net", tdata("example.net.zone"), &diag),
	                 GTM_EINVAL);

	dns_lookup_t res;
	lookup(zs, "www.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_true(res.node->flags & DNS_NODE_SERVICE);
	assert_int_equal(res.node->service, 0);
	lookup(zs, "api.example.com", false, &res);
	assert_true(res.node->flags & DNS_NODE_SERVICE);
	assert_int_equal(res.node->service, 1);
	assert_non_null(dns_node_rrset(res.node, DNS_TYPE_TXT));
	/* The service's parent became an empty non-terminal. */
	lookup(zs, "deep.example.com", false, &res);
	assert_int_equal(res.kind, DNS_LOOKUP_FOUND);
	assert_false(res.node->flags & DNS_NODE_SERVICE);
	lookup(zs, "svc.deep.example.com", false, &res);
	assert_int_equal(res.node->service, 2);
	dns_zoneset_unref(zs);
}

static void test_refcount(void **state)
{
	dns_zoneset_t *zs = load_main();
	dns_zoneset_ref(zs);
	dns_zoneset_unref(zs);
	/* Still alive: ASan would flag a use after free here. */
	assert_int_equal(dns_zoneset_count(zs), 1);
	dns_zoneset_unref(zs);
	dns_zoneset_unref(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_load_types, teardown_diag),
		cmocka_unit_test_teardown(test_negative_soa, teardown_diag),
		cmocka_unit_test_teardown(test_lookup_kinds, teardown_diag),
		cmocka_unit_test_teardown(test_nested_zones, teardown_diag),
		cmocka_unit_test_teardown(test_refusals, teardown_diag),
		cmocka_unit_test_teardown(test_all_errors_reported, teardown_diag),
		cmocka_unit_test_teardown(test_syntax_errors_all_reported, teardown_diag),
		cmocka_unit_test_teardown(test_ttl_defaults, teardown_diag),
		cmocka_unit_test_teardown(test_duplicate_zone, teardown_diag),
		cmocka_unit_test_teardown(test_services, teardown_diag),
		cmocka_unit_test_teardown(test_refcount, teardown_diag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
