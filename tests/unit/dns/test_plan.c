/*
 * dns/plan.c: services, choices, per-family picks with cumulative weights,
 * the "all" RRsets, the fallback, and dns_plan_set_addrs() on top of them.
 * Under ASan, every test also proves that replacing and freeing leak nothing.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns/plan.h"
#include "dns/wire.h"

/* The i-th record's RDATA of `rw`, with its type, TTL and length checked. */
static const uint8_t *rec(const dns_rrwire_t *rw, uint16_t i, uint16_t type, uint32_t ttl)
{
	assert_true(i < rw->count);
	const uint8_t *p = rw->wire + rw->offsets[i];
	assert_int_equal(dns_get16(p), type);
	assert_int_equal(dns_get16(p + 2), DNS_CLASS_IN);
	assert_int_equal(dns_get32(p + 4), ttl);
	assert_int_equal(dns_get16(p + 8), type == DNS_TYPE_A ? 4 : 16);
	return p + 10;
}

static void rec_is_v4(const dns_rrwire_t *rw, uint16_t i, uint32_t ttl, const char *text)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	assert_memory_equal(rec(rw, i, DNS_TYPE_A, ttl), &a, 4);
}

static void rec_is_v6(const dns_rrwire_t *rw, uint16_t i, uint32_t ttl, const char *text)
{
	struct in6_addr a;
	assert_int_equal(inet_pton(AF_INET6, text, &a), 1);
	assert_memory_equal(rec(rw, i, DNS_TYPE_AAAA, ttl), &a, 16);
}

static struct in_addr v4(const char *text)
{
	struct in_addr a;
	inet_pton(AF_INET, text, &a);
	return a;
}

static struct in6_addr v6(const char *text)
{
	struct in6_addr a;
	inet_pton(AF_INET6, text, &a);
	return a;
}

static void test_new_is_empty(void **state)
{
	dns_plan_t *p = dns_plan_new(3);
	assert_int_equal(p->count, 3);
	for (uint32_t i = 0; i < 3; i++) {
		const dns_plan_service_t *s = &p->services[i];
		assert_int_equal(s->nchoices, 0);
		assert_false(s->fallback.serving);
		assert_int_equal(s->fallback.a.nsites, 0);
		assert_int_equal(s->fallback.aaaa.nsites, 0);
	}
	dns_plan_free(p);
	dns_plan_free(NULL);
	/* A plan of no services is fine too. */
	dns_plan_free(dns_plan_new(0));
}

static void test_service_init(void **state)
{
	dns_plan_t *p = dns_plan_new(2);
	dns_plan_service_init(p, 1, 45, DNS_PLAN_GEO, 4);
	const dns_plan_service_t *s = &p->services[1];
	assert_int_equal(s->ttl, 45);
	assert_int_equal(s->flags, DNS_PLAN_GEO);
	assert_int_equal(s->nchoices, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_false(s->choices[i]->serving);
		assert_int_equal(s->choices[i]->a.nsites, 0);
	}
	/* Shaping again replaces everything (and frees what was there). */
	struct in_addr a = v4("192.0.2.1");
	dns_plan_site_t site = { .weight = 1, .a = &a, .na = 1 };
	dns_plan_choice_set(p, 1, 2, &site, 1);
	dns_plan_choice_set(p, 1, DNS_PLAN_FALLBACK, &site, 1);
	assert_true(s->choices[2]->serving);
	dns_plan_service_init(p, 1, 60, DNS_PLAN_ALL, 1);
	assert_int_equal(s->ttl, 60);
	assert_int_equal(s->flags, DNS_PLAN_ALL);
	assert_int_equal(s->nchoices, 1);
	assert_false(s->choices[0]->serving);
	assert_false(s->fallback.serving);
	dns_plan_free(p);
}

static void test_choice_weights_and_families(void **state)
{
	dns_plan_t *p = dns_plan_new(1);
	dns_plan_service_init(p, 0, 30, DNS_PLAN_GEO, 2);

	struct in_addr a1[2] = { v4("192.0.2.1"), v4("192.0.2.2") };
	struct in_addr a2 = v4("192.0.2.3");
	struct in_addr a4 = v4("192.0.2.4");
	struct in6_addr b1 = v6("2001:db8::1");
	struct in6_addr b3 = v6("2001:db8::3");
	dns_plan_site_t sites[] = {
		{ .weight = 3, .site = 40, .a = a1, .na = 2, .aaaa = &b1, .naaaa = 1 },
		{ .weight = 0, .site = 41, .a = &a4, .na = 1 },  /* weight 0: left out */
		{ .weight = 5, .site = DNS_MAX_SITES, .a = &a2, .na = 1 }, /* no AAAA */
		{ .weight = 2, .site = 43, .aaaa = &b3, .naaaa = 1 },      /* no A */
		{ .weight = 7, .site = 44 },                     /* no address */
	};
	dns_plan_choice_set(p, 0, 1, sites, sizeof(sites) / sizeof(sites[0]));
	const dns_plan_choice_t *c = p->services[0].choices[1];
	assert_true(c->serving);
	assert_false(p->services[0].choices[0]->serving);

	/* A: sites 0 and 2, cumulative 3, 8. */
	assert_int_equal(c->a.nsites, 2);
	assert_int_equal(c->a.total, 8);
	assert_int_equal(c->a.cum[0], 3);
	assert_int_equal(c->a.cum[1], 8);
	assert_int_equal(c->a.sites[0].count, 2);
	rec_is_v4(&c->a.sites[0], 0, 30, "192.0.2.1");
	rec_is_v4(&c->a.sites[0], 1, 30, "192.0.2.2");
	assert_int_equal(c->a.sites[1].count, 1);
	rec_is_v4(&c->a.sites[1], 0, 30, "192.0.2.3");
	assert_int_equal(c->a.all.count, 3);
	rec_is_v4(&c->a.all, 0, 30, "192.0.2.1");
	rec_is_v4(&c->a.all, 1, 30, "192.0.2.2");
	rec_is_v4(&c->a.all, 2, 30, "192.0.2.3");
	/* Each site's counter index, parallel to sites[]; one out of range
	 * is not counted. */
	assert_int_equal(c->a.site[0], 40);
	assert_int_equal(c->a.site[1], DNS_PLAN_NO_SITE);

	/* AAAA: sites 0 and 3, cumulative 3, 5. */
	assert_int_equal(c->aaaa.nsites, 2);
	assert_int_equal(c->aaaa.total, 5);
	assert_int_equal(c->aaaa.cum[0], 3);
	assert_int_equal(c->aaaa.cum[1], 5);
	rec_is_v6(&c->aaaa.sites[0], 0, 30, "2001:db8::1");
	rec_is_v6(&c->aaaa.sites[1], 0, 30, "2001:db8::3");
	assert_int_equal(c->aaaa.site[0], 40);
	assert_int_equal(c->aaaa.site[1], 43);
	assert_int_equal(c->aaaa.all.count, 2);
	rec_is_v6(&c->aaaa.all, 1, 30, "2001:db8::3");

	/* Set again: replaced, not appended. */
	dns_plan_choice_set(p, 0, 1, &sites[2], 1);
	c = p->services[0].choices[1];
	assert_int_equal(c->a.nsites, 1);
	assert_int_equal(c->a.total, 5);
	assert_int_equal(c->a.all.count, 1);
	assert_int_equal(c->aaaa.nsites, 0);
	assert_int_equal(c->aaaa.all.count, 0);
	assert_true(c->serving);

	/* Nothing usable: not serving. */
	dns_plan_choice_set(p, 0, 1, &sites[1], 1);
	c = p->services[0].choices[1];
	assert_false(c->serving);
	dns_plan_choice_set(p, 0, 1, &sites[4], 1);
	c = p->services[0].choices[1];
	assert_false(c->serving);
	dns_plan_choice_set(p, 0, 1, NULL, 0);
	c = p->services[0].choices[1];
	assert_false(c->serving);
	dns_plan_free(p);
}

static void test_fallback(void **state)
{
	dns_plan_t *p = dns_plan_new(1);
	dns_plan_service_init(p, 0, 20, 0, 1);
	struct in_addr a[2] = { v4("198.51.100.1"), v4("198.51.100.2") };
	dns_plan_site_t sites[] = {
		{ .weight = 1, .a = &a[0], .na = 1 },
		{ .weight = 1, .a = &a[1], .na = 1 },
	};
	dns_plan_choice_set(p, 0, DNS_PLAN_FALLBACK, sites, 2);
	const dns_plan_service_t *s = &p->services[0];
	assert_true(s->fallback.serving);
	assert_false(s->choices[0]->serving);
	assert_int_equal(s->fallback.a.all.count, 2);
	rec_is_v4(&s->fallback.a.all, 0, 20, "198.51.100.1");
	rec_is_v4(&s->fallback.a.all, 1, 20, "198.51.100.2");
	dns_plan_free(p);
}

static void test_set_addrs(void **state)
{
	dns_plan_t *p = dns_plan_new(2);
	struct in_addr a[2] = { v4("192.0.2.10"), v4("192.0.2.20") };
	struct in6_addr b[1] = { v6("2001:db8::10") };
	dns_plan_set_addrs(p, 0, 30, a, 2, b, 1);
	const dns_plan_service_t *s = &p->services[0];
	/* One non-geo choice of one site, answered whole, in config order. */
	assert_int_equal(s->flags, DNS_PLAN_ALL);
	assert_int_equal(s->nchoices, 1);
	assert_true(s->choices[0]->serving);
	assert_int_equal(s->choices[0]->a.nsites, 1);
	assert_int_equal(s->choices[0]->a.all.count, 2);
	rec_is_v4(&s->choices[0]->a.all, 0, 30, "192.0.2.10");
	rec_is_v4(&s->choices[0]->a.all, 1, 30, "192.0.2.20");
	assert_int_equal(s->choices[0]->aaaa.all.count, 1);
	rec_is_v6(&s->choices[0]->aaaa.all, 0, 30, "2001:db8::10");
	assert_true(s->fallback.serving);
	assert_int_equal(s->fallback.a.all.count, 2);
	/* The one site has no counter index. */
	assert_int_equal(s->choices[0]->a.site[0], DNS_PLAN_NO_SITE);
	assert_int_equal(s->fallback.a.site[0], DNS_PLAN_NO_SITE);

	/* No address: not serving, NODATA in the answer. */
	dns_plan_set_addrs(p, 1, 60, NULL, 0, NULL, 0);
	assert_false(p->services[1].choices[0]->serving);
	assert_false(p->services[1].fallback.serving);
	/* Again over the first: replaced. */
	dns_plan_set_addrs(p, 0, 10, &a[1], 1, NULL, 0);
	assert_int_equal(s->ttl, 10);
	assert_int_equal(s->choices[0]->a.all.count, 1);
	assert_int_equal(s->choices[0]->aaaa.nsites, 0);
	rec_is_v4(&s->choices[0]->a.all, 0, 10, "192.0.2.20");
	dns_plan_free(p);
}

static void test_wire_limit(void **state)
{
	/* 5000 A records pass 65535 bytes of wire: the set stops short and
	 * the rest is dropped, never a wrapped length. */
	enum { N = 5000 };
	struct in_addr *a = calloc(N, sizeof(*a));
	for (unsigned i = 0; i < N; i++)
		a[i].s_addr = htonl(0xC6120000u + i);
	dns_plan_t *p = dns_plan_new(1);
	dns_plan_set_addrs(p, 0, 30, a, N, NULL, 0);
	const dns_rrwire_t *rw = &p->services[0].choices[0]->a.all;
	assert_true(rw->count > 4000 && rw->count < N);
	assert_int_equal(rw->len, (size_t)rw->count * 14);
	dns_plan_free(p);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_is_empty),
		cmocka_unit_test(test_service_init),
		cmocka_unit_test(test_choice_weights_and_families),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_set_addrs),
		cmocka_unit_test(test_wire_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
