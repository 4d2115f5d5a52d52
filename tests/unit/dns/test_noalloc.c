/*
 * The answer path never allocates (STYLE.md, hot-path rules).
 *
 * A few thousand varied queries, intact and damaged, go through
 * dns_answer() while tests/unit/alloc_count.h counts every malloc-family
 * call in the process; the count must stay at zero.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/diag.h"
#include "dns/answer.h"
#include "dns/snapshot.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "tests/unit/alloc_count.h"
#include "tests/unit/dns/dns_test.h"

static dns_snapshot_t *snap;

static int setup_snapshot(void **state)
{
	gtm_diag_t diag = { 0 };
	dns_zoneset_t *zs = dns_zoneset_new();
	int rc = dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag);
	rc |= dns_zoneset_add_zone(zs, "child.example.com", tdata("child.example.com.zone"), &diag);
	rc |= dns_zoneset_add_service(zs, "www.example.com", 0, "t.conf", 1, &diag);
	rc |= dns_zoneset_freeze(zs, &diag);
	for (size_t i = 0; i < diag.count; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	gtm_diag_clear(&diag);
	if (rc != 0)
		return -1;
	dns_plan_t *plan = dns_plan_new(1);
	struct in_addr a[2];
	struct in6_addr aaaa[1];
	inet_pton(AF_INET, "192.0.2.10", &a[0]);
	inet_pton(AF_INET, "192.0.2.20", &a[1]);
	inet_pton(AF_INET6, "2001:db8::10", &aaaa[0]);
	dns_plan_set_addrs(plan, 0, 30, a, 2, aaaa, 1);
	dns_opts_t opts;
	memset(&opts, 0, sizeof(opts));
	opts.udp_max = 1232;
	opts.nsid_len = 4;
	memcpy(opts.nsid, "ns-1", 4);
	snap = dns_snapshot_new(zs, plan, &opts);
	dns_zoneset_unref(zs);
	return 0;
}

static int teardown_snapshot(void **state)
{
	dns_snapshot_free(snap);
	return 0;
}

/* The harness itself: an allocation while armed is seen.  The call goes
 * through a volatile pointer so the compiler cannot drop the pair. */
static void test_wrapper_counts(void **state)
{
	void *(*volatile m)(size_t) = malloc;
	void (*volatile f)(void *) = free;
	if (!gtm_alloc_count_available())
		skip();
	gtm_alloc_count_start();
	void *p = m(32);
	f(p);
	assert_int_equal(gtm_alloc_count_stop(), 2);
}

typedef struct pattern {
	const char *name;
	uint16_t qtype;
	bool edns;
	bool nsid;
	uint8_t version;
	int damage;   /* 0 none, 1 trailing byte, 2 cut short, 3 pointer in QNAME,
	               * 4 QR=1, 5 opcode NOTIFY, 6 second OPT, 7 runt */
} pattern_t;

static const pattern_t patterns[] = {
	{ "www.example.com", DNS_TYPE_A, false, false, 0, 0 },
	{ "WWW.Example.COM", DNS_TYPE_AAAA, true, false, 0, 0 },
	{ "www.example.com", DNS_TYPE_ANY, true, true, 0, 0 },
	{ "www.example.com", DNS_TYPE_MX, false, false, 0, 0 },
	{ "example.com", DNS_TYPE_SOA, true, true, 0, 0 },
	{ "example.com", DNS_TYPE_NS, false, false, 0, 0 },
	{ "example.com", DNS_TYPE_ANY, false, false, 0, 0 },
	{ "mail.example.com", DNS_TYPE_A, true, false, 0, 0 },
	{ "mail.example.com", DNS_TYPE_TXT, false, false, 0, 0 },
	{ "nothere.example.com", DNS_TYPE_A, true, false, 0, 0 },
	{ "b.c.example.com", DNS_TYPE_A, false, false, 0, 0 },
	{ "alias.example.com", DNS_TYPE_A, false, false, 0, 0 },
	{ "chain1.example.com", DNS_TYPE_AAAA, true, false, 0, 0 },
	{ "dangling.example.com", DNS_TYPE_A, false, false, 0, 0 },
	{ "loop1.example.com", DNS_TYPE_A, false, false, 0, 0 },
	{ "tochild.example.com", DNS_TYPE_A, true, false, 0, 0 },
	{ "foo.wild.example.com", DNS_TYPE_A, false, false, 0, 0 },
	{ "x.sub.example.com", DNS_TYPE_A, true, true, 0, 0 },
	{ "sub.example.com", DNS_TYPE_DS, false, false, 0, 0 },
	{ "www.fat.example.com", DNS_TYPE_A, false, false, 0, 0 },
	{ "www.fat.example.com", DNS_TYPE_A, true, false, 0, 0 },
	{ "big.example.com", DNS_TYPE_TXT, false, false, 0, 0 },
	{ "big.example.com", DNS_TYPE_TXT, true, true, 0, 0 },
	{ "_sip._tcp.example.com", DNS_TYPE_SRV, false, false, 0, 0 },
	{ "www.example.org", DNS_TYPE_A, true, false, 0, 0 },
	{ "example.com", DNS_TYPE_AXFR, false, false, 0, 0 },
	{ "www.example.com", DNS_TYPE_A, true, false, 1, 0 },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 1 },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 2 },
	{ "www.example.com", DNS_TYPE_A, false, false, 0, 3 },
	{ "www.example.com", DNS_TYPE_A, false, false, 0, 4 },
	{ "www.example.com", DNS_TYPE_SOA, false, false, 0, 5 },
	{ "www.example.com", DNS_TYPE_A, true, false, 0, 6 },
	{ "www.example.com", DNS_TYPE_A, false, false, 0, 7 },
};
#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))
#define ROUNDS 120

static size_t make(const pattern_t *p, uint16_t id, uint8_t *q)
{
	tq_t t = { .id = id, .flags1 = 0x01, .name = p->name, .qtype = p->qtype,
	           .edns = p->edns, .udp = 4096, .nsid = p->nsid, .version = p->version };
	size_t len = tq_build(&t, q);
	switch (p->damage) {
	case 1: q[len++] = 0x55; break;
	case 2: len -= 3; break;
	case 3: q[12] = 0xC0; q[13] = 12; break;
	case 4: q[2] |= 0x80; break;
	case 5: q[2] = 4 << 3; break;
	case 6: memcpy(q + len, q + len - 11, 11); len += 11; q[11] = 2; break;
	case 7: len = 7; break;
	}
	return len;
}

static void test_no_allocation(void **state)
{
	static uint8_t queries[NPATTERNS][600];
	static size_t lens[NPATTERNS];
	static uint8_t out[DNS_TCP_MAX];
	static uint8_t mutated[600];
	dns_stats_t st;
	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < NPATTERNS; i++)
		lens[i] = make(&patterns[i], (uint16_t)i, queries[i]);

	uint32_t rnd = 12345;
	size_t answered = 0;
	gtm_alloc_count_start();
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (size_t i = 0; i < NPATTERNS; i++) {
			dns_transport_t tr = (r % 3 == 0) ? DNS_TRANSPORT_TCP : DNS_TRANSPORT_UDP;
			size_t outmax = (r % 2 == 0) ? sizeof(out) : 512;
			answered += dns_answer(snap, queries[i], lens[i], out, outmax, tr, NULL, &st) > 0;
			/* And a damaged copy: two bytes overwritten at random
			 * places, for the parser's error paths. */
			memcpy(mutated, queries[i], lens[i]);
			for (int k = 0; k < 2; k++) {
				rnd = rnd * 1103515245u + 12345u;
				mutated[(rnd >> 8) % lens[i]] = (uint8_t)(rnd >> 24);
			}
			answered += dns_answer(snap, mutated, lens[i], out, outmax, tr, NULL, &st) > 0;
		}
	}
	long allocs = gtm_alloc_count_stop();
	if (gtm_alloc_count_available())
		assert_int_equal(allocs, 0);

	/* The batch went where it was meant to. */
	assert_true(answered > ROUNDS * NPATTERNS);
	assert_true(st.noerror > 0);
	assert_true(st.nxdomain > 0);
	assert_true(st.refused > 0);
	assert_true(st.formerr > 0);
	assert_true(st.notimp > 0);
	assert_true(st.badvers > 0);
	assert_true(st.truncated > 0);
	assert_true(st.dropped > 0);
	assert_true(st.edns > 0);
	assert_int_equal(st.queries + st.dropped, 2 * ROUNDS * NPATTERNS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrapper_counts),
		cmocka_unit_test(test_no_allocation),
	};
	return cmocka_run_group_tests(tests, setup_snapshot, teardown_snapshot);
}
