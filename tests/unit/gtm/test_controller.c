/*
 * gtm/controller.c: each policy's plan from a config (written to a
 * temporary file and loaded with gtm_conf_load, so the defaults are the
 * real ones), with and without health: which choices serve, which sites
 * (by their first address) with which cumulative weights, and the flags.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "dns/plan.h"
#include "gtm/conf.h"
#include "tests/unit/gtm/gtm_test.h"
#include "gtm/controller.h"

static gtm_conf_t *load(const char *text)
{
	char *path = write_file("c.conf", text);
	gtm_diag_t d = { 0 };
	gtm_conf_t *c = gtm_conf_load(path, &d);
	for (size_t i = 0; i < d.count; i++)
		print_error("%s\n", d.msgs[i]);
	assert_non_null(c);
	gtm_diag_clear(&d);
	free(path);
	return c;
}

/*
 * Cities 0 beijing, 1 shanghai, 2 shenzhen, 3 frankfurt.  Sites:
 *   bj-a beijing 200, bj-b beijing 100, bj-dr beijing backup,
 *   sh-a shanghai, sz-dr shenzhen backup, fra-cold frankfurt cold,
 *   sh-zero shanghai weight 0.
 * Each site's first IPv4 address is 10.0.0.<n> with n its number below.
 */
#define TOPOLOGY \
	"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n" \
	"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; },\n" \
	"           { name = \"shanghai\"; lat = 31.2; lon = 121.5; },\n" \
	"           { name = \"shenzhen\"; lat = 22.5; lon = 114.1; },\n" \
	"           { name = \"frankfurt\"; lat = 50.1; lon = 8.7; } );\n" \
	"sites = ( { name = \"bj-a\"; city = \"beijing\"; weight = 200; },\n" \
	"          { name = \"bj-b\"; city = \"beijing\"; weight = 100; },\n" \
	"          { name = \"bj-dr\"; city = \"beijing\"; role = \"backup\"; },\n" \
	"          { name = \"sh-a\"; city = \"shanghai\"; },\n" \
	"          { name = \"sz-dr\"; city = \"shenzhen\"; role = \"backup\"; },\n" \
	"          { name = \"fra-cold\"; city = \"frankfurt\"; role = \"cold\"; },\n" \
	"          { name = \"sh-zero\"; city = \"shanghai\"; weight = 0; } );\n"

#define EP_BJA "{ site = \"bj-a\"; addresses = [ \"10.0.0.1\", \"2001:db8::1\" ]; }"
#define EP_BJB "{ site = \"bj-b\"; addresses = [ \"10.0.0.2\" ]; }"
#define EP_BJDR "{ site = \"bj-dr\"; addresses = [ \"10.0.0.3\" ]; }"
#define EP_SHA "{ site = \"sh-a\"; addresses = [ \"10.0.0.4\", \"2001:db8::4\" ]; }"
#define EP_SZDR "{ site = \"sz-dr\"; addresses = [ \"10.0.0.5\" ]; }"
#define EP_FRA "{ site = \"fra-cold\"; addresses = [ \"10.0.0.6\" ]; }"
#define EP_SH0 "{ site = \"sh-zero\"; addresses = [ \"10.0.0.7\" ]; }"

/* The last octet of the first A record of site k of a pick. */
static int site_octet(const dns_plan_pick_t *p, size_t k)
{
	assert_true(k < p->nsites);
	const dns_rrwire_t *rw = &p->sites[k];
	assert_true(rw->count >= 1);
	/* TYPE CLASS TTL RDLENGTH, then the 4 address bytes. */
	return rw->wire[10 + 3];
}

/* The A pick holds exactly these sites (octets) with these cumulative
 * weights; n == 0 means the choice does not serve. */
static void expect_a(const dns_plan_choice_t *ch, size_t n, const int *octets, const uint32_t *cum)
{
	if (n == 0) {
		assert_false(ch->serving);
		assert_int_equal(ch->a.nsites, 0);
		return;
	}
	assert_true(ch->serving);
	assert_int_equal(ch->a.nsites, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(site_octet(&ch->a, i), octets[i]);
		if (cum)
			assert_int_equal(ch->a.cum[i], cum[i]);
	}
	if (cum)
		assert_int_equal(ch->a.total, cum[n - 1]);
}

#define SITES(...) (const int[]){ __VA_ARGS__ }
#define CUM(...) (const uint32_t[]){ __VA_ARGS__ }

static void test_nearest(void **state)
{
	gtm_conf_t *c = load(TOPOLOGY
		"services = ( { name = \"www.example.com\"; ttl = 20; endpoints = ( "
		EP_BJA ", " EP_BJB ", " EP_BJDR ", " EP_SHA ", " EP_SZDR ", " EP_FRA ", " EP_SH0 " ); } );\n");
	dns_plan_t *p = gtm_controller_plan(c, NULL);
	const dns_plan_service_t *s = &p->services[0];
	assert_int_equal(s->ttl, 20);
	assert_int_equal(s->flags, DNS_PLAN_GEO);
	assert_int_equal(s->nchoices, 4);
	/* beijing: its active sites by weight, not the backup-role one. */
	expect_a(&s->choices[0], 2, SITES(1, 2), CUM(200, 300));
	assert_int_equal(s->choices[0].aaaa.nsites, 1);
	assert_int_equal(s->choices[0].aaaa.total, 200);
	/* shanghai: sh-a; sh-zero has weight 0 and takes no share. */
	expect_a(&s->choices[1], 1, SITES(4), CUM(100));
	/* shenzhen: no active site, so its backup-role site. */
	expect_a(&s->choices[2], 1, SITES(5), CUM(100));
	assert_int_equal(s->choices[2].aaaa.nsites, 0);
	/* frankfurt: only a cold site: not serving. */
	expect_a(&s->choices[3], 0, NULL, NULL);
	/* Fallback: every site but the cold one, weight 0 included. */
	expect_a(&s->fallback, 6, SITES(1, 2, 3, 4, 5, 7), NULL);
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_nearest_health(void **state)
{
	gtm_conf_t *c = load(TOPOLOGY
		"services = ( { name = \"www.example.com\"; endpoints = ( "
		EP_BJA ", " EP_BJB ", " EP_BJDR ", " EP_SHA " ); } );\n");
	/* Endpoints in config order: bj-a v4, bj-a v6, bj-b, bj-dr, sh-a v4, sh-a v6. */
	bool up0[] = { false, true, true, true, true, true };
	const bool *rows[] = { up0 };
	gtm_health_t h = { rows };
	dns_plan_t *p = gtm_controller_plan(c, &h);
	const dns_plan_service_t *s = &p->services[0];
	/* bj-a still serves AAAA (its v6 endpoint is up), not A. */
	expect_a(&s->choices[0], 1, SITES(2), CUM(100));
	assert_int_equal(s->choices[0].aaaa.nsites, 1);
	dns_plan_free(p);

	/* Both active beijing sites down: the backup-role site in beijing. */
	bool up1[] = { false, false, false, true, true, true };
	rows[0] = up1;
	p = gtm_controller_plan(c, &h);
	s = &p->services[0];
	expect_a(&s->choices[0], 1, SITES(3), CUM(100));
	assert_int_equal(s->choices[0].aaaa.nsites, 0);
	dns_plan_free(p);

	/* Everything down: no city serves; the fallback still has every
	 * endpoint (fail open). */
	bool up2[] = { false, false, false, false, false, false };
	rows[0] = up2;
	p = gtm_controller_plan(c, &h);
	s = &p->services[0];
	for (int i = 0; i < 4; i++)
		assert_false(s->choices[i].serving);
	expect_a(&s->fallback, 4, SITES(1, 2, 3, 4), NULL);
	assert_int_equal(s->fallback.aaaa.nsites, 2);
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_failover(void **state)
{
	gtm_conf_t *c = load(TOPOLOGY
		"services = (\n"
		"  { name = \"a.example.com\"; policy = \"failover\"; order = [ \"sh-a\", \"bj-a\" ];\n"
		"    endpoints = ( " EP_BJA ", " EP_SHA " ); },\n"
		"  { name = \"b.example.com\"; policy = \"failover\";\n"
		"    endpoints = ( " EP_FRA ", " EP_SH0 ", " EP_BJA " ); },\n"
		"  { name = \"c.example.com\"; policy = \"failover\"; answer = \"all\";\n"
		"    order = [ \"bj-b\", \"sh-a\" ]; endpoints = ( " EP_SHA " ); }\n"
		");\n");
	dns_plan_t *p = gtm_controller_plan(c, NULL);
	const dns_plan_service_t *s = &p->services[0];
	assert_int_equal(s->flags, 0);
	assert_int_equal(s->nchoices, 1);
	expect_a(&s->choices[0], 1, SITES(4), NULL);
	assert_int_equal(s->choices[0].aaaa.nsites, 1);
	/* Default order: the endpoints' sites in config order; the cold one
	 * is skipped, a weight-0 site still serves when it is first. */
	s = &p->services[1];
	expect_a(&s->choices[0], 1, SITES(7), NULL);
	/* A site in the order without endpoints is passed over. */
	s = &p->services[2];
	assert_int_equal(s->flags, DNS_PLAN_ALL);
	expect_a(&s->choices[0], 1, SITES(4), NULL);
	dns_plan_free(p);

	/* The first site down: the next one. */
	bool up0[] = { true, true, false, false };
	const bool *rows[] = { up0, NULL, NULL };
	gtm_health_t h = { rows };
	p = gtm_controller_plan(c, &h);
	expect_a(&p->services[0].choices[0], 1, SITES(1), NULL);
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_primary_backup(void **state)
{
	gtm_conf_t *c = load(TOPOLOGY
		"services = (\n"
		"  { name = \"a.example.com\"; policy = \"primary-backup\"; primary = \"beijing\"; backup = \"shanghai\";\n"
		"    endpoints = ( " EP_SHA ", " EP_BJA ", " EP_BJB " ); },\n"
		"  { name = \"b.example.com\"; policy = \"primary-backup\";\n"
		"    endpoints = ( " EP_BJA ", " EP_SZDR " ); }\n"
		");\n");
	assert_int_equal(c->services[0].primary, 0);
	assert_int_equal(c->services[0].backup, 1);
	/* Defaults: the city of the first endpoint at an active site; no
	 * backup city. */
	assert_int_equal(c->services[1].primary, 0);
	assert_int_equal(c->services[1].backup, GTM_NO_CITY);
	assert_int_equal(c->services[1].master, GTM_NO_CITY);

	dns_plan_t *p = gtm_controller_plan(c, NULL);
	assert_int_equal(p->services[0].flags, 0);
	assert_int_equal(p->services[0].nchoices, 1);
	expect_a(&p->services[0].choices[0], 2, SITES(1, 2), CUM(200, 300));
	expect_a(&p->services[1].choices[0], 1, SITES(1), CUM(200));
	expect_a(&p->services[0].fallback, 3, SITES(4, 1, 2), NULL);
	dns_plan_free(p);

	/* The primary city down: the backup city; or, without one, the
	 * service's backup-role sites. */
	bool up0[] = { true, true, false, false, false };
	bool up1[] = { false, false, true };
	const bool *rows[] = { up0, up1 };
	gtm_health_t h = { rows };
	p = gtm_controller_plan(c, &h);
	expect_a(&p->services[0].choices[0], 1, SITES(4), CUM(100));
	expect_a(&p->services[1].choices[0], 1, SITES(5), CUM(100));
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_global(void **state)
{
	gtm_conf_t *c = load(TOPOLOGY
		"services = (\n"
		"  { name = \"a.example.com\"; policy = \"global\"; master = \"shanghai\"; answer = \"all\";\n"
		"    endpoints = ( " EP_BJA ", " EP_SHA ", " EP_SH0 " ); },\n"
		"  { name = \"b.example.com\"; policy = \"global\";\n"
		"    endpoints = ( " EP_BJDR ", " EP_BJB ", " EP_SHA " ); }\n"
		");\n");
	assert_int_equal(c->services[0].master, 1);
	assert_int_equal(c->services[1].master, 0);
	assert_int_equal(c->services[1].primary, GTM_NO_CITY);
	dns_plan_t *p = gtm_controller_plan(c, NULL);
	assert_int_equal(p->services[0].flags, DNS_PLAN_ALL);
	assert_int_equal(p->services[0].nchoices, 1);
	expect_a(&p->services[0].choices[0], 1, SITES(4), CUM(100));
	/* The master city's active site, not its backup-role one. */
	expect_a(&p->services[1].choices[0], 1, SITES(2), CUM(100));
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_cold_only(void **state)
{
	gtm_conf_t *c = load(TOPOLOGY
		"services = ( { name = \"www.example.com\"; answer = \"all\"; endpoints = ( " EP_FRA " ); } );\n");
	dns_plan_t *p = gtm_controller_plan(c, NULL);
	const dns_plan_service_t *s = &p->services[0];
	assert_int_equal(s->flags, DNS_PLAN_GEO | DNS_PLAN_ALL);
	for (int i = 0; i < 4; i++)
		assert_false(s->choices[i].serving);
	/* Nothing but cold sites: fail open to them rather than to nothing. */
	expect_a(&s->fallback, 1, SITES(6), NULL);
	dns_plan_free(p);
	gtm_conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nearest),
		cmocka_unit_test(test_nearest_health),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_primary_backup),
		cmocka_unit_test(test_global),
		cmocka_unit_test(test_cold_only),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
