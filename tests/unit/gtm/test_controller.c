/*
 * gtm/core/controller.c: each policy's plan from a config (written to a
 * temporary file and loaded with gtm_conf_load, so the defaults are the
 * real ones), with and without health: which choices serve, which sites
 * (by their first address) with which cumulative weights, and the flags.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
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
#include "gtm/conf/conf.h"
#include "tests/unit/gtm/gtm_test.h"
#include "gtm/core/controller.h"
#include "gtm/core/gen.h"

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
	gtm_conf_t *c = conf_load_ok(TOPOLOGY
		"services = ( { name = \"www.example.com\"; ttl = 20; endpoints = ( "
		EP_BJA ", " EP_BJB ", " EP_BJDR ", " EP_SHA ", " EP_SZDR ", " EP_FRA ", " EP_SH0 " ); } );\n");
	dns_plan_t *p = gtm_controller_plan(c, NULL);
	const dns_plan_service_t *s = &p->services[0];
	assert_int_equal(s->ttl, 20);
	assert_int_equal(s->flags, DNS_PLAN_GEO);
	assert_int_equal(s->nchoices, 4);
	/* beijing: its active sites by weight, not the backup-role one. */
	expect_a(s->choices[0], 2, SITES(1, 2), CUM(666667, 1000000));
	assert_int_equal(s->choices[0]->aaaa.nsites, 1);
	assert_int_equal(s->choices[0]->aaaa.total, 666667);
	/* shanghai: sh-a; sh-zero has weight 0 and takes no share. */
	expect_a(s->choices[1], 1, SITES(4), CUM(1000000));
	/* shenzhen: no active site, so its backup-role site. */
	expect_a(s->choices[2], 1, SITES(5), CUM(1000000));
	assert_int_equal(s->choices[2]->aaaa.nsites, 0);
	/* frankfurt: only a cold site: not serving. */
	expect_a(s->choices[3], 0, NULL, NULL);
	/* Fallback: every site but the cold one, weight 0 included. */
	expect_a(&s->fallback, 6, SITES(1, 2, 3, 4, 5, 7), NULL);
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_nearest_health(void **state)
{
	gtm_conf_t *c = conf_load_ok(TOPOLOGY
		"services = ( { name = \"www.example.com\"; endpoints = ( "
		EP_BJA ", " EP_BJB ", " EP_BJDR ", " EP_SHA " ); } );\n");
	/* Endpoints in config order: bj-a v4, bj-a v6, bj-b, bj-dr, sh-a v4, sh-a v6. */
	bool up0[] = { false, true, true, true, true, true };
	const bool *rows[] = { up0 };
	gtm_health_t h = { rows };
	dns_plan_t *p = gtm_controller_plan(c, &h);
	const dns_plan_service_t *s = &p->services[0];
	/* bj-a still serves AAAA (its v6 endpoint is up), not A. */
	expect_a(s->choices[0], 1, SITES(2), CUM(333333));
	assert_int_equal(s->choices[0]->aaaa.nsites, 1);
	dns_plan_free(p);

	/* Both active beijing sites down: the backup-role site in beijing. */
	bool up1[] = { false, false, false, true, true, true };
	rows[0] = up1;
	p = gtm_controller_plan(c, &h);
	s = &p->services[0];
	expect_a(s->choices[0], 1, SITES(3), CUM(1000000));
	assert_int_equal(s->choices[0]->aaaa.nsites, 0);
	dns_plan_free(p);

	/* Everything down: no city serves; the fallback still has every
	 * endpoint (fail open). */
	bool up2[] = { false, false, false, false, false, false };
	rows[0] = up2;
	p = gtm_controller_plan(c, &h);
	s = &p->services[0];
	for (int i = 0; i < 4; i++)
		assert_false(s->choices[i]->serving);
	expect_a(&s->fallback, 4, SITES(1, 2, 3, 4), NULL);
	assert_int_equal(s->fallback.aaaa.nsites, 2);
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_failover(void **state)
{
	gtm_conf_t *c = conf_load_ok(TOPOLOGY
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
	expect_a(s->choices[0], 1, SITES(4), NULL);
	assert_int_equal(s->choices[0]->aaaa.nsites, 1);
	/* Default order: the endpoints' sites in config order; the cold one
	 * is skipped, a weight-0 site still serves when it is first. */
	s = &p->services[1];
	expect_a(s->choices[0], 1, SITES(7), NULL);
	/* A site in the order without endpoints is passed over. */
	s = &p->services[2];
	assert_int_equal(s->flags, DNS_PLAN_ALL);
	expect_a(s->choices[0], 1, SITES(4), NULL);
	dns_plan_free(p);

	/* The first site down: the next one. */
	bool up0[] = { true, true, false, false };
	const bool *rows[] = { up0, NULL, NULL };
	gtm_health_t h = { rows };
	p = gtm_controller_plan(c, &h);
	expect_a(p->services[0].choices[0], 1, SITES(1), NULL);
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_primary_backup(void **state)
{
	gtm_conf_t *c = conf_load_ok(TOPOLOGY
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
	expect_a(p->services[0].choices[0], 2, SITES(1, 2), CUM(666667, 1000000));
	expect_a(p->services[1].choices[0], 1, SITES(1), CUM(1000000));
	expect_a(&p->services[0].fallback, 3, SITES(4, 1, 2), NULL);
	dns_plan_free(p);

	/* The primary city down: the backup city; or, without one, the
	 * service's backup-role sites. */
	bool up0[] = { true, true, false, false, false };
	bool up1[] = { false, false, true };
	const bool *rows[] = { up0, up1 };
	gtm_health_t h = { rows };
	p = gtm_controller_plan(c, &h);
	expect_a(p->services[0].choices[0], 1, SITES(4), CUM(1000000));
	expect_a(p->services[1].choices[0], 1, SITES(5), CUM(1000000));
	dns_plan_free(p);
	gtm_conf_free(c);
}

static void test_global(void **state)
{
	gtm_conf_t *c = conf_load_ok(TOPOLOGY
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
	expect_a(p->services[0].choices[0], 1, SITES(4), CUM(1000000));
	/* The master city's active site, not its backup-role one. */
	expect_a(p->services[1].choices[0], 1, SITES(2), CUM(1000000));
	dns_plan_free(p);

	/* Every endpoint down, no promotion: failing open, a global service
	 * answers its master city's endpoints only, never another city's
	 * (writes must not split).  b.example.com: beijing's bj-dr and bj-b,
	 * not sh-a; a.example.com: shanghai's sh-a and sh-zero, not bj-a. */
	gtm_controller_t *ctl = gtm_controller_new(c);
	bool down[8] = { false };   /* each address is an endpoint: a has 5, b 3 */
	const bool *rows[] = { down, down };
	gtm_health_t h = { rows };
	gtm_decision_t *d = gtm_controller_update(ctl, &h, NULL, 1000);
	assert_int_equal(d->services[1].state, GTM_SVC_LAST_RESORT);
	expect_a(&d->plan->services[1].fallback, 2, SITES(3, 2), NULL);
	expect_a(&d->plan->services[0].fallback, 2, SITES(4, 7), NULL);
	gtm_decision_free(d);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static void test_cold_only(void **state)
{
	gtm_conf_t *c = conf_load_ok(TOPOLOGY
		"services = ( { name = \"www.example.com\"; answer = \"all\"; endpoints = ( " EP_FRA " ); } );\n");
	dns_plan_t *p = gtm_controller_plan(c, NULL);
	const dns_plan_service_t *s = &p->services[0];
	assert_int_equal(s->flags, DNS_PLAN_GEO | DNS_PLAN_ALL);
	for (int i = 0; i < 4; i++)
		assert_false(s->choices[i]->serving);
	/* Nothing but cold sites: fail open to them rather than to nothing. */
	expect_a(&s->fallback, 1, SITES(6), NULL);
	dns_plan_free(p);
	gtm_conf_free(c);
}


/* ------------------------------------------------------------------------ */
/* The stateful controller on a simulated clock                             */

#define S(t) ((uint64_t)(t) * 1000 + 1700000000000ull)   /* seconds -> ms epoch */

/* Two sites, three centres: bj-a, bj-b in beijing, sh-dr in shanghai. */
#define TSTC(svc_extra, controller) \
	"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n" \
	"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; demand = 80; },\n" \
	"           { name = \"shanghai\"; lat = 31.2; lon = 121.5; demand = 50; },\n" \
	"           { name = \"shenzhen\"; lat = 22.5; lon = 114.1; demand = 30; } );\n" \
	"sites = ( { name = \"bj-a\"; city = \"beijing\"; capacity = 50; },\n" \
	"          { name = \"bj-b\"; city = \"beijing\"; capacity = 50; },\n" \
	"          { name = \"sh-dr\"; city = \"shanghai\"; role = \"backup\"; capacity = 100; },\n" \
	"          { name = \"sz-a\"; city = \"shenzhen\"; capacity = 100; },\n" \
	"          { name = \"bj-cold\"; city = \"beijing\"; role = \"cold\"; capacity = 50; } );\n" \
	controller \
	"services = ( { name = \"www.example.com\"; policy = \"primary-backup\"; ttl = 30;\n" \
	"    primary = \"beijing\"; backup = \"shanghai\"; " svc_extra "\n" \
	"    endpoints = ( { site = \"bj-a\"; addresses = [ \"10.0.0.1\" ]; },\n" \
	"                  { site = \"bj-b\"; addresses = [ \"10.0.0.2\" ]; },\n" \
	"                  { site = \"sh-dr\"; addresses = [ \"10.0.0.3\" ]; },\n" \
	"                  { site = \"bj-cold\"; addresses = [ \"10.0.0.5\" ]; } ); } );\n"

/* Site indices in TSTC. */
enum { BJA = 0, BJB = 1, SHDR = 2, SZA = 3, BJCOLD = 4 };

static double share(const gtm_decision_t *d, size_t svc, size_t choice, uint32_t site)
{
	const gtm_choice_view_t *cv = &d->services[svc].choices[choice];
	for (size_t i = 0; i < cv->n; i++)
		if (cv->shares[i].site == site)
			return cv->shares[i].share;
	return 0;
}

#define assert_share(d, svc, ch, site, v) \
	assert_true(fabs(share(d, svc, ch, site) - (v)) < 0.001)

static bool has_event(const gtm_decision_t *d, gtm_ctl_event_kind_t kind, uint32_t city_or_site)
{
	for (size_t i = 0; i < d->nevents; i++)
		if (d->events[i].kind == kind &&
		    (d->events[i].site == city_or_site || d->events[i].city == city_or_site))
			return true;
	return false;
}

/* One step: health row for service 0 (NULL: all up), admin view (NULL: defaults). */
static gtm_decision_t *step(gtm_controller_t *ctl, const bool *up, const gtm_admin_view_t *av, uint64_t now)
{
	const bool *rows[] = { up, NULL, NULL };
	gtm_health_t h = { rows };
	return gtm_controller_update(ctl, &h, av, now);
}

static void test_pb_evacuate_failback(void **state)
{
	gtm_conf_t *c = conf_load_ok(TSTC("", ""));
	gtm_controller_t *ctl = gtm_controller_new(c);
	bool all[] = { true, true, true, true }, a_down[] = { false, true, true, true },
	     ab_down[] = { false, false, true, true };
	gtm_decision_t *d = step(ctl, all, NULL, S(0));
	assert_share(d, 0, 0, BJA, 0.5);
	assert_share(d, 0, 0, BJB, 0.5);
	assert_share(d, 0, 0, SHDR, 0);
	assert_int_equal(d->services[0].state, GTM_SVC_NORMAL);
	assert_int_equal(d->services[0].ttl, 30);
	assert_int_equal(d->plan->services[0].ttl, 30);
	assert_int_equal(d->nevents, 0);
	gtm_decision_free(d);

	/* bj-a down: its share to bj-b, shorter TTL. */
	d = step(ctl, a_down, NULL, S(10));
	assert_share(d, 0, 0, BJB, 1);
	assert_true(has_event(d, GTM_EV_SITE_DOWN, BJA));
	assert_int_equal(d->services[0].state, GTM_SVC_DEGRADED);
	assert_int_equal(d->services[0].ttl, 10);
	gtm_decision_free(d);

	/* bj-b down too: beijing evacuated to the remote centre. */
	d = step(ctl, ab_down, NULL, S(20));
	assert_share(d, 0, 0, SHDR, 1);
	assert_true(has_event(d, GTM_EV_CITY_EVACUATED, 0));
	gtm_decision_free(d);

	/* Both back: beijing held down for 60 s, then 5 steps over 120 s. */
	d = step(ctl, all, NULL, S(30));
	assert_true(has_event(d, GTM_EV_CITY_HELD, 0));
	assert_share(d, 0, 0, SHDR, 1);
	assert_int_equal(d->next_due, S(90));
	gtm_decision_free(d);
	d = step(ctl, all, NULL, S(89));
	assert_share(d, 0, 0, SHDR, 1);
	gtm_decision_free(d);
	double expect[] = { 0.2, 0.4, 0.6, 0.8 };
	for (int k = 0; k < 4; k++) {
		d = step(ctl, all, NULL, S(90 + 30 * k));
		assert_share(d, 0, 0, SHDR, 1 - expect[k]);
		assert_share(d, 0, 0, BJA, expect[k] / 2);
		assert_share(d, 0, 0, BJB, expect[k] / 2);
		assert_int_equal(d->next_due, S(90 + 30 * (k + 1)));
		assert_int_equal(d->services[0].ttl, 10);
		gtm_decision_free(d);
	}
	d = step(ctl, all, NULL, S(210));
	assert_true(has_event(d, GTM_EV_CITY_BACK, 0));
	assert_share(d, 0, 0, BJA, 0.5);
	assert_share(d, 0, 0, SHDR, 0);
	assert_int_equal(d->services[0].ttl, 30);
	assert_int_equal(d->next_due, 0);
	gtm_decision_free(d);

	gtm_controller_stats_t st;
	gtm_controller_stats(ctl, &st);
	assert_int_equal(st.evacuations, 1);
	assert_int_equal(st.site_failovers, 2);
	assert_int_equal(st.failbacks, 1);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static void test_site_failback(void **state)
{
	gtm_conf_t *c = conf_load_ok(TSTC("", "controller = { holddown = 10; failback_ramp = 20; failback_steps = 3; };\n"));
	gtm_controller_t *ctl = gtm_controller_new(c);
	bool all[] = { true, true, true, true }, a_down[] = { false, true, true, true };
	gtm_decision_free(step(ctl, all, NULL, S(0)));
	gtm_decision_free(step(ctl, a_down, NULL, S(1)));
	gtm_decision_t *d = step(ctl, all, NULL, S(2));
	assert_true(has_event(d, GTM_EV_SITE_HELD, BJA));
	assert_share(d, 0, 0, BJB, 1);
	assert_int_equal(d->next_due, S(12));
	const gtm_site_view_t *sv = gtm_decision_site(d, 0, BJA);
	assert_non_null(sv);
	assert_string_equal(sv->why, "held down");
	gtm_decision_free(d);
	/* 3 steps over 20 s: 1/3 at 12 s, 2/3 at 22 s, 1 at 32 s; the site's
	 * weight is scaled, so its share is f / (f + 1). */
	d = step(ctl, all, NULL, S(12));
	assert_share(d, 0, 0, BJA, (1.0 / 3) / (1.0 / 3 + 1));
	assert_int_equal(d->next_due, S(22));
	gtm_decision_free(d);
	d = step(ctl, all, NULL, S(22));
	assert_share(d, 0, 0, BJA, (2.0 / 3) / (2.0 / 3 + 1));
	gtm_decision_free(d);
	/* Down again during the ramp: out at once, the ramp starts over. */
	d = step(ctl, a_down, NULL, S(25));
	assert_share(d, 0, 0, BJA, 0);
	gtm_decision_free(d);
	d = step(ctl, all, NULL, S(26));
	assert_share(d, 0, 0, BJA, 0);
	assert_int_equal(d->next_due, S(36));
	gtm_decision_free(d);
	d = step(ctl, all, NULL, S(56));
	assert_true(has_event(d, GTM_EV_SITE_BACK, BJA));
	assert_share(d, 0, 0, BJA, 0.5);
	gtm_decision_free(d);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static void test_trickle_min_capacity(void **state)
{
	gtm_conf_t *c = conf_load_ok(TSTC("trickle = 10; min_capacity = 0.6;", ""));
	assert_true(fabs(c->services[0].trickle - 0.1) < 1e-9);
	gtm_controller_t *ctl = gtm_controller_new(c);
	bool all[] = { true, true, true, true }, a_down[] = { false, true, true, true };
	gtm_decision_t *d = step(ctl, all, NULL, S(0));
	assert_share(d, 0, 0, BJA, 0.45);
	assert_share(d, 0, 0, BJB, 0.45);
	assert_share(d, 0, 0, SHDR, 0.1);
	gtm_decision_free(d);
	/* bj-a down: beijing keeps 50% of its capacity, below 60%: evacuated. */
	d = step(ctl, a_down, NULL, S(10));
	assert_share(d, 0, 0, SHDR, 1);
	assert_true(has_event(d, GTM_EV_CITY_EVACUATED, 0));
	const gtm_site_view_t *sv = gtm_decision_site(d, 0, BJB);
	assert_string_equal(sv->why, "city below min_capacity");
	gtm_decision_free(d);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static gtm_admin_view_t *view(const gtm_conf_t *c)
{
	gtm_admin_view_t *v = gtm_xcalloc(1, sizeof(*v));
	v->nsites = c->nsites;
	v->ncities = c->ncities;
	v->nservices = c->nservices;
	v->factor = gtm_xcalloc(c->nsites, sizeof(double));
	v->activated = gtm_xcalloc(c->nsites, sizeof(bool));
	v->evacuated = gtm_xcalloc(c->ncities, sizeof(bool));
	v->master = gtm_xcalloc(c->nservices, sizeof(uint32_t));
	for (size_t i = 0; i < c->nsites; i++)
		v->factor[i] = 1;
	for (size_t i = 0; i < c->nservices; i++)
		v->master[i] = GTM_NO_CITY;
	return v;
}

static void view_free(gtm_admin_view_t *v)
{
	free(v->factor);
	free(v->activated);
	free(v->evacuated);
	free(v->master);
	free(v);
}

static void test_admin_inputs(void **state)
{
	gtm_conf_t *c = conf_load_ok(TSTC("", ""));
	gtm_controller_t *ctl = gtm_controller_new(c);
	gtm_admin_view_t *v = view(c);
	/* A drain ramp at 0.5: bj-a's weight halved, no hold-down. */
	v->factor[BJA] = 0.5;
	gtm_decision_t *d = step(ctl, NULL, v, S(0));
	assert_share(d, 0, 0, BJA, 1.0 / 3);
	assert_share(d, 0, 0, BJB, 2.0 / 3);
	assert_int_equal(d->services[0].ttl, 10);
	gtm_decision_free(d);
	/* Drained and undrained: back at once (operators are not held down). */
	v->factor[BJA] = 0;
	gtm_decision_free(step(ctl, NULL, v, S(1)));
	v->factor[BJA] = 1;
	d = step(ctl, NULL, v, S(2));
	assert_share(d, 0, 0, BJA, 0.5);
	gtm_decision_free(d);
	/* beijing evacuated by an operator: the backup. */
	v->evacuated[0] = true;
	d = step(ctl, NULL, v, S(3));
	assert_share(d, 0, 0, SHDR, 1);
	assert_false(has_event(d, GTM_EV_CITY_EVACUATED, 0));
	assert_string_equal(gtm_decision_site(d, 0, BJA)->why, "evacuated");
	gtm_decision_free(d);
	v->evacuated[0] = false;
	/* Cold: never automatic, even with everything else down ... */
	bool warm_down[] = { false, false, false, true };
	d = step(ctl, warm_down, v, S(4));
	assert_share(d, 0, 0, BJCOLD, 0);
	assert_int_equal(d->services[0].state, GTM_SVC_LAST_RESORT);
	assert_true(d->failopen[0]);
	assert_string_equal(gtm_decision_site(d, 0, BJCOLD)->why, "cold");
	gtm_decision_free(d);
	/* ... only activated. */
	v->activated[BJCOLD] = true;
	d = step(ctl, warm_down, v, S(5));
	assert_share(d, 0, 0, BJCOLD, 1);
	gtm_decision_free(d);
	view_free(v);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static void test_last_resort(void **state)
{
	const char *modes[] = { "last_resort = \"open\";", "last_resort = \"closed\";",
	                        "last_resort = \"192.0.2.99\";", "last_resort = \"2001:db8::99\";" };
	for (int m = 0; m < 4; m++) {
		char *text = gtm_xasprintf(TSTC("%s degraded_ttl = 3;", ""), modes[m]);
		gtm_conf_t *c = conf_load_ok(text);
		free(text);
		gtm_controller_t *ctl = gtm_controller_new(c);
		bool none[] = { false, false, false, false };
		gtm_decision_t *d = step(ctl, none, NULL, S(0));
		const dns_plan_service_t *s = &d->plan->services[0];
		assert_false(s->choices[0]->serving);
		assert_int_equal(s->ttl, 3);
		switch (m) {
		case 0: /* every endpoint of the warm sites */
			expect_a(&s->fallback, 3, SITES(1, 2, 3), NULL);
			break;
		case 1: /* NODATA */
			assert_false(s->fallback.serving);
			break;
		case 2:
			expect_a(&s->fallback, 1, SITES(99), NULL);
			break;
		case 3:
			assert_int_equal(s->fallback.a.nsites, 0);
			assert_int_equal(s->fallback.aaaa.nsites, 1);
			break;
		}
		gtm_decision_free(d);
		gtm_controller_free(ctl);
		gtm_conf_free(c);
	}
}

/* nearest: beijing (demand 80) fails; shanghai (capacity 100, demand 50)
 * is nearest and takes its spare 50, the surplus 30 goes to shenzhen
 * (spare 70). */
#define NEAR(extra) \
	"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n" \
	"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; " extra " },\n" \
	"           { name = \"shanghai\"; lat = 31.2; lon = 121.5; " extra " },\n" \
	"           { name = \"shenzhen\"; lat = 22.5; lon = 114.1; " extra " } );\n" \
	"sites = ( { name = \"bj-a\"; city = \"beijing\"; capacity = 100; },\n" \
	"          { name = \"sh-a\"; city = \"shanghai\"; capacity = 100; },\n" \
	"          { name = \"sz-a\"; city = \"shenzhen\"; capacity = 100; } );\n" \
	"services = ( { name = \"n.example.com\"; endpoints = (\n" \
	"    { site = \"bj-a\"; addresses = [ \"10.0.0.1\" ]; },\n" \
	"    { site = \"sh-a\"; addresses = [ \"10.0.0.2\" ]; },\n" \
	"    { site = \"sz-a\"; addresses = [ \"10.0.0.3\" ]; } ); } );\n"

static void test_nearest_spill(void **state)
{
	const char *conf_demand =
		"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n"
		"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; demand = 80; },\n"
		"           { name = \"shanghai\"; lat = 31.2; lon = 121.5; demand = 50; },\n"
		"           { name = \"shenzhen\"; lat = 22.5; lon = 114.1; demand = 30; } );\n"
		"sites = ( { name = \"bj-a\"; city = \"beijing\"; capacity = 100; },\n"
		"          { name = \"sh-a\"; city = \"shanghai\"; capacity = 100; },\n"
		"          { name = \"sz-a\"; city = \"shenzhen\"; capacity = 100; } );\n"
		"services = ( { name = \"n.example.com\"; endpoints = (\n"
		"    { site = \"bj-a\"; addresses = [ \"10.0.0.1\" ]; },\n"
		"    { site = \"sh-a\"; addresses = [ \"10.0.0.2\" ]; },\n"
		"    { site = \"sz-a\"; addresses = [ \"10.0.0.3\" ]; } ); } );\n";
	gtm_conf_t *c = conf_load_ok(conf_demand);
	gtm_controller_t *ctl = gtm_controller_new(c);
	bool bj_down[] = { false, true, true };
	gtm_decision_t *d = step(ctl, NULL, NULL, S(0));
	assert_share(d, 0, 0, 0, 1);
	assert_share(d, 0, 1, 1, 1);
	gtm_decision_free(d);
	d = step(ctl, bj_down, NULL, S(1));
	assert_true(d->plan->services[0].choices[0]->serving);
	assert_share(d, 0, 0, 1, 50.0 / 80);
	assert_share(d, 0, 0, 2, 30.0 / 80);
	/* The receivers' own clients stay home. */
	assert_share(d, 0, 1, 1, 1);
	assert_share(d, 0, 2, 2, 1);
	gtm_decision_free(d);
	/* Shanghai drained to half: no spare (50 - 50); all spare is
	 * shenzhen's 70, which takes 70 of 80; the last 10 stay nearest. */
	gtm_admin_view_t *v = view(c);
	v->factor[1] = 0.5;
	d = step(ctl, bj_down, v, S(2));
	assert_share(d, 0, 0, 1, 10.0 / 80);
	assert_share(d, 0, 0, 2, 70.0 / 80);
	gtm_decision_free(d);
	view_free(v);
	/* Failback of beijing: held down, then its own share g, the rest
	 * spilled as before (X = 80 x (1 - g)). */
	d = step(ctl, NULL, NULL, S(3));
	assert_true(has_event(d, GTM_EV_CITY_HELD, 0));
	assert_share(d, 0, 0, 0, 0);
	gtm_decision_free(d);
	d = step(ctl, NULL, NULL, S(63));
	/* X = 64: shanghai's spare 50, shenzhen the other 14. */
	assert_share(d, 0, 0, 0, 0.2);
	assert_share(d, 0, 0, 1, 0.8 * 50 / 64);
	assert_share(d, 0, 0, 2, 0.8 * 14 / 64);
	gtm_decision_free(d);
	gtm_controller_free(ctl);
	gtm_conf_free(c);

	/* Without demand: a failed city's choice does not serve, so that
	 * each client falls through to its own next city. */
	c = conf_load_ok(
		"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n"
		"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; },\n"
		"           { name = \"shanghai\"; lat = 31.2; lon = 121.5; } );\n"
		"sites = ( { name = \"bj-a\"; city = \"beijing\"; }, { name = \"sh-a\"; city = \"shanghai\"; } );\n"
		"services = ( { name = \"n.example.com\"; endpoints = (\n"
		"    { site = \"bj-a\"; addresses = [ \"10.0.0.1\" ]; },\n"
		"    { site = \"sh-a\"; addresses = [ \"10.0.0.2\" ]; } ); } );\n");
	ctl = gtm_controller_new(c);
	bool down[] = { false, true };
	gtm_decision_free(step(ctl, NULL, NULL, S(0)));
	d = step(ctl, down, NULL, S(1));
	assert_false(d->plan->services[0].choices[0]->serving);
	assert_true(d->plan->services[0].choices[1]->serving);
	gtm_decision_free(d);
	/* Recovering without a model: the remainder to the nearest city. */
	gtm_decision_free(step(ctl, NULL, NULL, S(2)));
	d = step(ctl, NULL, NULL, S(62));
	assert_share(d, 0, 0, 0, 0.2);
	assert_share(d, 0, 0, 1, 0.8);
	gtm_decision_free(d);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static void test_global_promote(void **state)
{
	gtm_conf_t *c = conf_load_ok(
		"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n"
		"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; },\n"
		"           { name = \"shanghai\"; lat = 31.2; lon = 121.5; },\n"
		"           { name = \"frankfurt\"; lat = 50.1; lon = 8.7; } );\n"
		"sites = ( { name = \"bj-a\"; city = \"beijing\"; }, { name = \"sh-a\"; city = \"shanghai\"; },\n"
		"          { name = \"fra-a\"; city = \"frankfurt\"; } );\n"
		"controller = { auto_evacuations_per_hour = 2; };\n"
		"services = ( { name = \"w.example.com\"; policy = \"global\"; master = \"beijing\"; auto_promote = true;\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"10.0.0.1\" ]; },\n"
		"                  { site = \"sh-a\"; addresses = [ \"10.0.0.2\" ]; },\n"
		"                  { site = \"fra-a\"; addresses = [ \"10.0.0.3\" ]; } ); } );\n");
	gtm_controller_t *ctl = gtm_controller_new(c);
	bool down[] = { false, true, true };
	gtm_decision_t *d = step(ctl, NULL, NULL, S(0));
	assert_share(d, 0, 0, 0, 1);
	assert_int_equal(d->services[0].master, 0);
	gtm_decision_free(d);
	/* The master down: never split to another city; the last resort
	 * until a promotion. */
	d = step(ctl, down, NULL, S(1));
	assert_int_equal(d->services[0].state, GTM_SVC_LAST_RESORT);
	assert_false(has_event(d, GTM_EV_PROMOTE, 1));
	assert_int_equal(d->next_due, S(61));
	gtm_decision_free(d);
	/* After the hold-down: a promotion to the nearest able city. */
	d = step(ctl, down, NULL, S(61));
	assert_true(has_event(d, GTM_EV_PROMOTE, 1));
	gtm_decision_free(d);
	/* The admin state now names shanghai: it serves. */
	gtm_admin_view_t *v = view(c);
	v->master[0] = 1;
	gtm_controller_note_auto(ctl, S(61));
	d = step(ctl, down, v, S(62));
	assert_share(d, 0, 0, 1, 1);
	assert_int_equal(d->services[0].master, 1);
	gtm_decision_free(d);
	/* The budget (2 an hour: beijing's evacuation, the promotion) is spent: shanghai down too, no promotion. */
	bool down2[] = { false, false, true };
	gtm_decision_free(step(ctl, down2, v, S(100)));
	d = step(ctl, down2, v, S(200));
	assert_false(has_event(d, GTM_EV_PROMOTE, 2));
	gtm_decision_free(d);
	view_free(v);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static void test_rate_limit(void **state)
{
	gtm_conf_t *c = conf_load_ok(TSTC("min_capacity = 0.6;", "controller = { auto_evacuations_per_hour = 1; };\n"));
	gtm_controller_t *ctl = gtm_controller_new(c);
	bool all[] = { true, true, true, true }, a_down[] = { false, true, true, true },
	     ab_down[] = { false, false, true, true };
	gtm_decision_free(step(ctl, all, NULL, S(0)));
	/* First evacuation: allowed. */
	gtm_decision_t *d = step(ctl, a_down, NULL, S(1));
	assert_true(has_event(d, GTM_EV_CITY_EVACUATED, 0));
	gtm_decision_free(d);
	gtm_decision_free(step(ctl, all, NULL, S(2)));
	gtm_decision_free(step(ctl, all, NULL, S(400)));   /* failback done */
	/* Second within the hour, the city still half up: suppressed, the
	 * city keeps its clients. */
	d = step(ctl, a_down, NULL, S(500));
	assert_true(has_event(d, GTM_EV_EVAC_SUPPRESSED, 0));
	assert_share(d, 0, 0, BJB, 1);
	gtm_decision_free(d);
	/* What status shows: the hour's budget spent, beijing held back. */
	uint32_t used, limit, sup[3] = { 9, 9, 9 };
	gtm_controller_budget(ctl, S(500), &used, &limit, sup);
	assert_int_equal(used, 1);
	assert_int_equal(limit, 1);
	assert_int_equal(sup[0], 1);
	assert_int_equal(sup[1], 0);
	assert_int_equal(sup[2], 0);
	/* An hour after the first: the budget is back. */
	gtm_controller_budget(ctl, S(1 + 3600), &used, &limit, NULL);
	assert_int_equal(used, 0);
	/* Nothing up at all: evacuated whatever the budget. */
	d = step(ctl, ab_down, NULL, S(501));
	assert_true(has_event(d, GTM_EV_CITY_EVACUATED, 0));
	assert_share(d, 0, 0, SHDR, 1);
	gtm_decision_free(d);
	gtm_controller_stats_t st;
	gtm_controller_stats(ctl, &st);
	assert_int_equal(st.evacuations_suppressed, 1);
	assert_int_equal(st.evacuations, 2);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static void test_failover_cascade(void **state)
{
	gtm_conf_t *c = conf_load_ok(TOPOLOGY
		"controller = { holddown = 5; failback_ramp = 10; failback_steps = 2; };\n"
		"services = ( { name = \"a.example.com\"; policy = \"failover\"; order = [ \"sh-a\", \"bj-a\" ];\n"
		"    endpoints = ( " EP_BJA ", " EP_SHA " ); } );\n");
	gtm_controller_t *ctl = gtm_controller_new(c);
	/* endpoints: bj-a v4, v6, sh-a v4, v6; site indices bj-a 0, sh-a 3 */
	bool sh_down[] = { true, true, false, false };
	gtm_decision_free(step(ctl, NULL, NULL, S(0)));
	gtm_decision_t *d = step(ctl, sh_down, NULL, S(1));
	assert_share(d, 0, 0, 0, 1);
	gtm_decision_free(d);
	d = step(ctl, NULL, NULL, S(2));
	assert_share(d, 0, 0, 0, 1);
	gtm_decision_free(d);
	/* 2 steps over 10 s: half at 7 s, all at 17 s. */
	d = step(ctl, NULL, NULL, S(7));
	assert_share(d, 0, 0, 3, 0.5);
	assert_share(d, 0, 0, 0, 0.5);
	gtm_decision_free(d);
	d = step(ctl, NULL, NULL, S(17));
	assert_share(d, 0, 0, 3, 1);
	gtm_decision_free(d);
	/* A preview changes no memory: drain sh-a in a preview, then the
	 * real update still serves it. */
	gtm_admin_view_t *v = view(c);
	v->factor[3] = 0;
	d = gtm_controller_preview(ctl, NULL, v, S(18));
	assert_share(d, 0, 0, 0, 1);
	assert_int_equal(d->nevents, 0);
	gtm_decision_free(d);
	view_free(v);
	d = step(ctl, NULL, NULL, S(19));
	assert_share(d, 0, 0, 3, 1);
	gtm_decision_free(d);
	gtm_controller_free(ctl);
	gtm_conf_free(c);
}

static void test_rebind(void **state)
{
	gtm_conf_t *c = conf_load_ok(TSTC("", ""));
	gtm_controller_t *ctl = gtm_controller_new(c);
	bool all[] = { true, true, true, true }, a_down[] = { false, true, true, true };
	gtm_decision_free(step(ctl, all, NULL, S(0)));
	gtm_decision_free(step(ctl, a_down, NULL, S(1)));
	gtm_decision_free(step(ctl, all, NULL, S(2)));   /* held until 62 */
	/* A reload keeps the hold-down (same names). */
	gtm_conf_t *c2 = conf_load_ok(TSTC("degraded_ttl = 5;", ""));
	gtm_remap_t *map = gtm_remap_new(c, c2);
	gtm_controller_rebind(ctl, c2, map);
	gtm_remap_free(map);
	gtm_conf_free(c);
	gtm_decision_t *d = step(ctl, all, NULL, S(3));
	assert_share(d, 0, 0, BJA, 0);
	assert_int_equal(d->next_due, S(62));
	gtm_decision_free(d);
	gtm_controller_free(ctl);
	gtm_conf_free(c2);
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
		cmocka_unit_test(test_pb_evacuate_failback),
		cmocka_unit_test(test_site_failback),
		cmocka_unit_test(test_trickle_min_capacity),
		cmocka_unit_test(test_admin_inputs),
		cmocka_unit_test(test_last_resort),
		cmocka_unit_test(test_nearest_spill),
		cmocka_unit_test(test_global_promote),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_failover_cascade),
		cmocka_unit_test(test_rebind),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
