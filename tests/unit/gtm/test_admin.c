/*
 * gtm/core/admin.c: every action and its record, ramps on a fake clock, pause
 * and resume, the safety hook (refusal, force, dry run), persistence (round
 * trip, corrupt file, names no longer in the configuration, rebind after a
 * reload) and the history.  The configuration is built in memory; files go
 * to a temporary folder.
 */
#include <dirent.h>
#include <limits.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "gtm/core/admin.h"
#include "gtm/core/gen.h"
#include "gtm/conf/conf.h"
#include "tests/unit/gtm/gtm_test.h"

/* Fake clock: an arbitrary epoch time in ms. */
#define T0 1700000000000ULL

/*
 * The world: beijing (bj-a, bj-b), shanghai (sh-dr, backup), guangzhou
 * (gz-cold, cold).  Services: www (nearest: bj-a, bj-b, sh-dr), write
 * (global, master beijing: bj-a, sh-dr), db (global, master beijing:
 * bj-b, sh-dr).
 */
typedef struct world {
	gtm_conf_t conf;
	gtm_city_t cities[3];
	gtm_site_t sites[4];
	gtm_service_t services[3];
	gtm_endpoint_t ep[3][3];
} world_t;

enum { BJ = 0, SH, GZ };
enum { BJ_A = 0, BJ_B, SH_DR, GZ_COLD };
enum { WWW = 0, WRITE, DB };

static void service(world_t *w, int i, const char *name, gtm_policy_t p, const int *sites, int n)
{
	gtm_service_t *s = &w->services[i];
	s->name = (char *)name;
	s->policy = p;
	s->ttl = 30;
	s->endpoints = w->ep[i];
	s->nendpoints = (size_t)n;
	for (int j = 0; j < n; j++) {
		w->ep[i][j].site = (uint32_t)sites[j];
		w->ep[i][j].family = AF_INET;
	}
	s->primary = s->backup = s->master = GTM_NO_CITY;
	if (p == GTM_POLICY_GLOBAL)
		s->master = BJ;
}

static world_t *world_new(void)
{
	world_t *w = gtm_xcalloc(1, sizeof(*w));
	w->cities[BJ].name = "beijing";
	w->cities[SH].name = "shanghai";
	w->cities[GZ].name = "guangzhou";
	const char *sn[] = { "bj-a", "bj-b", "sh-dr", "gz-cold" };
	const uint32_t sc[] = { BJ, BJ, SH, GZ };
	const gtm_role_t sr[] = { GTM_ROLE_ACTIVE, GTM_ROLE_ACTIVE, GTM_ROLE_BACKUP, GTM_ROLE_COLD };
	for (int i = 0; i < 4; i++) {
		w->sites[i].name = (char *)sn[i];
		w->sites[i].city = sc[i];
		w->sites[i].weight = 100;
		w->sites[i].role = sr[i];
	}
	service(w, WWW, "www.example.com", GTM_POLICY_NEAREST, (int[]){ BJ_A, BJ_B, SH_DR }, 3);
	service(w, WRITE, "write.example.com", GTM_POLICY_GLOBAL, (int[]){ BJ_A, SH_DR }, 2);
	service(w, DB, "db.example.com", GTM_POLICY_GLOBAL, (int[]){ BJ_B, SH_DR }, 2);
	w->conf.cities = w->cities;
	w->conf.ncities = 3;
	w->conf.sites = w->sites;
	w->conf.nsites = 4;
	w->conf.services = w->services;
	w->conf.nservices = 3;
	gtm_conf_index(&w->conf);
	return w;
}

/* A world changed after world_new: its look-ups follow. */
static void world_reindex(world_t *w)
{
	gtm_conf_index(&w->conf);
}

static void world_free(world_t *w)
{
	gtm_conf_index_clear(&w->conf);
	free(w);
}

static gtm_admin_action_t act(gtm_admin_op_t op, const char *target)
{
	return (gtm_admin_action_t){ .op = op, .target = target, .reason = "test", .uid = 0 };
}

/* Applies and expects return code `want_rc`; returns res->changed. */
static bool apply(gtm_admin_t *a, gtm_admin_action_t x, uint64_t now, int want_rc, char *msg)
{
	gtm_admin_result_t res;
	int rc = gtm_admin_apply(a, &x, now, NULL, NULL, &res);
	if (rc != want_rc)
		fail_msg("%s %s: rc %d, expected %d (%s)", gtm_admin_op_name(x.op), x.target, rc,
		         want_rc, res.message);
	if (msg)
		snprintf(msg, 512, "%s", res.message);
	bool ch = res.changed;
	gtm_admin_result_clear(&res);
	return ch;
}

static char *path_in_tmp(const char *name)
{
	return gtm_xasprintf("%s/%s", tmpdir, name);
}

static char *dump(const gtm_admin_t *a, uint64_t now, bool all)
{
	json_t *j = gtm_admin_to_json(a, now, all);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

/* ---------------------------------------------------------------------- */

static void test_drain_undrain(void **state)
{
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	char msg[512];
	gtm_admin_site_info_t info;

	assert_true(apply(a, act(GTM_ADMIN_DRAIN, "bj-a"), T0, 0, msg));
	assert_string_equal(msg, "site bj-a: admin active -> drained");
	assert_int_equal(gtm_admin_site_info(a, BJ_A, T0 + 5, &info), 0);
	assert_int_equal(info.state, GTM_ADMIN_DRAINED);
	assert_true(info.factor == 0.0);
	assert_false(info.ramp);
	assert_true(info.since == T0);
	assert_string_equal(info.reason, "test");
	assert_string_equal(info.user, "root");   /* uid 0, resolved */
	assert_int_equal(info.uid, 0);
	assert_true(gtm_admin_site_factor(a, BJ_B, T0) == 1.0);

	assert_false(apply(a, act(GTM_ADMIN_DRAIN, "bj-a"), T0 + 1, 0, msg));
	assert_string_equal(msg, "site bj-a is already drained");

	gtm_admin_action_t u = act(GTM_ADMIN_UNDRAIN, "bj-a");
	u.uid = 4242;
	u.user = "alice";
	u.reason = "maintenance done";
	assert_true(apply(a, u, T0 + 10, 0, msg));
	assert_string_equal(msg, "site bj-a: admin drained -> active");
	gtm_admin_site_info(a, BJ_A, T0 + 10, &info);
	assert_int_equal(info.state, GTM_ADMIN_ACTIVE);
	assert_string_equal(info.user, "alice");
	assert_int_equal(info.uid, 4242);
	assert_string_equal(info.reason, "maintenance done");
	assert_false(apply(a, act(GTM_ADMIN_UNDRAIN, "bj-a"), T0 + 11, 0, msg));
	assert_string_equal(msg, "site bj-a is already active");

	gtm_admin_free(a);
	world_free(w);
}

/* gtm_admin_view_eq: what control.c shares a decision on. */
static void test_view_eq(void **state)
{
	(void)state;
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	gtm_admin_view_t *v0 = gtm_admin_view_new(a, T0), *v1 = gtm_admin_view_new(a, T0 + 1000);
	assert_true(gtm_admin_view_eq(v0, v1));
	gtm_admin_view_free(v1);

	assert_true(apply(a, act(GTM_ADMIN_DRAIN, "bj-a"), T0, 0, NULL));
	v1 = gtm_admin_view_new(a, T0);
	assert_false(gtm_admin_view_eq(v0, v1));
	gtm_admin_view_t *v2 = gtm_admin_view_new(a, GTM_ADMIN_END);
	assert_true(gtm_admin_view_eq(v1, v2));   /* no ramp: the end is now */
	gtm_admin_view_free(v2);

	assert_true(apply(a, act(GTM_ADMIN_UNDRAIN, "bj-a"), T0, 0, NULL));
	assert_true(apply(a, act(GTM_ADMIN_EVACUATE, "shanghai"), T0, 0, NULL));
	v2 = gtm_admin_view_new(a, T0);
	assert_false(gtm_admin_view_eq(v0, v2));
	assert_false(gtm_admin_view_eq(v1, v2));
	gtm_admin_view_free(v2);

	gtm_admin_view_free(v0);
	gtm_admin_view_free(v1);
	gtm_admin_free(a);
	world_free(w);
}

static void test_unknown_and_invalid(void **state)
{
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	char msg[512];

	apply(a, act(GTM_ADMIN_DRAIN, "nope"), T0, GTM_ENOENT, msg);
	assert_string_equal(msg, "unknown site nope");
	apply(a, act(GTM_ADMIN_EVACUATE, "atlantis"), T0, GTM_ENOENT, msg);
	assert_string_equal(msg, "unknown city atlantis");
	apply(a, act(GTM_ADMIN_EVACUATE, "bj-a"), T0, GTM_ENOENT, msg);  /* a site, not a city */
	assert_string_equal(msg, "unknown city bj-a");
	apply(a, act(GTM_ADMIN_DRAIN, NULL), T0, GTM_EINVAL, msg);
	assert_string_equal(msg, "drain: no site named");
	apply(a, act(GTM_ADMIN_ACTIVATE, "bj-a"), T0, GTM_EINVAL, msg);
	assert_string_equal(msg, "site bj-a is not a cold site; activate applies only to sites "
	                         "with role \"cold\"");
	apply(a, act(GTM_ADMIN_PAUSE, "bj-a"), T0, GTM_EINVAL, msg);
	assert_string_equal(msg, "site bj-a has no ramp in progress (it is active)");
	apply(a, act(GTM_ADMIN_RESUME, "bj-a"), T0, GTM_EINVAL, msg);

	gtm_admin_action_t p = act(GTM_ADMIN_PROMOTE, "shanghai");
	p.service = "nope.example.com";
	apply(a, p, T0, GTM_ENOENT, msg);
	assert_string_equal(msg, "unknown service nope.example.com");
	p.service = "www.example.com";
	apply(a, p, T0, GTM_EINVAL, msg);
	assert_string_equal(msg, "service www.example.com is not global; promote applies only "
	                         "to services with policy \"global\"");

	gtm_admin_action_t d = act(GTM_ADMIN_DRAIN, "bj-a");
	d.ramp_ms = 1000;
	d.steps = 101;
	apply(a, d, T0, GTM_EINVAL, msg);
	assert_string_equal(msg, "steps must be 1..100");

	/* Nothing above changed anything. */
	char *s = dump(a, T0, false);
	assert_string_equal(s, "{\"cities\":{},\"services\":{},\"sites\":{},\"version\":1}");
	free(s);
	gtm_admin_free(a);
	world_free(w);
}

static void test_evacuate_restore(void **state)
{
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	char msg[512];

	assert_true(apply(a, act(GTM_ADMIN_EVACUATE, "beijing"), T0, 0, msg));
	assert_string_equal(msg, "city beijing: evacuated no -> yes");
	assert_true(gtm_admin_city_evacuated(a, BJ));
	assert_false(gtm_admin_city_evacuated(a, SH));
	assert_false(apply(a, act(GTM_ADMIN_EVACUATE, "beijing"), T0, 0, msg));
	assert_string_equal(msg, "city beijing is already evacuated");
	gtm_admin_view_t *v = gtm_admin_view_new(a, T0);
	assert_true(v->evacuated[BJ]);
	assert_false(v->evacuated[SH]);
	assert_true(v->factor[BJ_A] == 1.0);   /* evacuation is not a drain */
	gtm_admin_view_free(v);

	assert_true(apply(a, act(GTM_ADMIN_RESTORE, "beijing"), T0 + 1, 0, msg));
	assert_string_equal(msg, "city beijing: evacuated yes -> no");
	assert_false(gtm_admin_city_evacuated(a, BJ));
	assert_false(apply(a, act(GTM_ADMIN_RESTORE, "beijing"), T0 + 1, 0, msg));
	assert_string_equal(msg, "city beijing is already in service");
	gtm_admin_free(a);
	world_free(w);
}

static void test_promote(void **state)
{
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	char msg[512];

	gtm_admin_action_t p = act(GTM_ADMIN_PROMOTE, "shanghai");
	p.service = "write.example.com";
	assert_true(apply(a, p, T0, 0, msg));
	assert_string_equal(msg, "service write.example.com: master beijing -> shanghai");
	assert_int_equal(gtm_admin_master(a, WRITE), SH);
	assert_int_equal(gtm_admin_master(a, DB), GTM_NO_CITY);
	assert_int_equal(gtm_admin_master(a, WWW), GTM_NO_CITY);
	assert_false(apply(a, p, T0, 0, msg));
	assert_string_equal(msg, "city shanghai is already the master");

	/* Every global service: only db changes. */
	assert_true(apply(a, act(GTM_ADMIN_PROMOTE, "shanghai"), T0 + 1, 0, msg));
	assert_string_equal(msg, "service db.example.com: master beijing -> shanghai");
	assert_int_equal(gtm_admin_master(a, DB), SH);
	assert_false(apply(a, act(GTM_ADMIN_PROMOTE, "shanghai"), T0 + 2, 0, msg));
	assert_string_equal(msg, "city shanghai is already the master of every global service");

	/* Back to the configured master: the override goes. */
	gtm_admin_result_t res;
	gtm_admin_action_t b = act(GTM_ADMIN_PROMOTE, "beijing");
	assert_int_equal(gtm_admin_apply(a, &b, T0 + 3, NULL, NULL, &res), 0);
	assert_string_equal(res.message, "service write.example.com: master shanghai -> beijing; "
	                                 "service db.example.com: master shanghai -> beijing");
	assert_int_equal(json_array_size(res.changes), 2);
	gtm_admin_result_clear(&res);
	assert_int_equal(gtm_admin_master(a, WRITE), GTM_NO_CITY);
	assert_int_equal(gtm_admin_master(a, DB), GTM_NO_CITY);

	/* A city where a service has no site. */
	apply(a, act(GTM_ADMIN_PROMOTE, "guangzhou"), T0, GTM_EINVAL, msg);
	assert_string_equal(msg, "service write.example.com has no site in city guangzhou; "
	                         "name the services to promote with --service");
	gtm_admin_free(a);
	world_free(w);
}

static void test_activate_cold(void **state)
{
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	char msg[512];

	assert_true(apply(a, act(GTM_ADMIN_ACTIVATE, "gz-cold"), T0, 0, msg));
	assert_string_equal(msg, "site gz-cold: activated no -> yes");
	gtm_admin_view_t *v = gtm_admin_view_new(a, T0);
	assert_true(v->activated[GZ_COLD]);
	assert_false(v->activated[BJ_A]);
	gtm_admin_view_free(v);
	assert_false(apply(a, act(GTM_ADMIN_ACTIVATE, "gz-cold"), T0, 0, msg));
	assert_string_equal(msg, "site gz-cold is already activated");
	assert_true(apply(a, act(GTM_ADMIN_DEACTIVATE, "gz-cold"), T0, 0, msg));
	assert_string_equal(msg, "site gz-cold: activated yes -> no");
	assert_false(apply(a, act(GTM_ADMIN_DEACTIVATE, "gz-cold"), T0, 0, msg));
	apply(a, act(GTM_ADMIN_DEACTIVATE, "sh-dr"), T0, GTM_EINVAL, msg);
	gtm_admin_free(a);
	world_free(w);
}

/* The ramp, step by step: 30 s in 5 steps. */
static void test_ramp_steps(void **state)
{
	static const struct {
		uint64_t at;        /* ms after the drain */
		double factor;
		uint64_t next;      /* ms after the drain; 0 = none */
		unsigned step;
		gtm_admin_site_state_t st;
	} table[] = {
		{ 0, 0.8, 7500, 1, GTM_ADMIN_DRAINING },
		{ 1, 0.8, 7500, 1, GTM_ADMIN_DRAINING },
		{ 7499, 0.8, 7500, 1, GTM_ADMIN_DRAINING },
		{ 7500, 0.6, 15000, 2, GTM_ADMIN_DRAINING },
		{ 14999, 0.6, 15000, 2, GTM_ADMIN_DRAINING },
		{ 15000, 0.4, 22500, 3, GTM_ADMIN_DRAINING },
		{ 22500, 0.2, 30000, 4, GTM_ADMIN_DRAINING },
		{ 29999, 0.2, 30000, 4, GTM_ADMIN_DRAINING },
		{ 30000, 0.0, 0, 5, GTM_ADMIN_DRAINED },
		{ 3600000, 0.0, 0, 5, GTM_ADMIN_DRAINED },
	};
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	char msg[512];
	gtm_admin_action_t d = act(GTM_ADMIN_DRAIN, "bj-a");
	d.ramp_ms = 30000;
	assert_true(apply(a, d, T0, 0, msg));
	assert_string_equal(msg, "site bj-a: admin active -> draining (ramp 30 s in 5 steps)");

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		uint64_t now = T0 + table[i].at;
		gtm_admin_site_info_t info;
		gtm_admin_site_info(a, BJ_A, now, &info);
		gtm_admin_view_t *v = gtm_admin_view_new(a, now);
		if (v->factor[BJ_A] < table[i].factor - 1e-9 || v->factor[BJ_A] > table[i].factor + 1e-9)
			fail_msg("at +%llu ms: factor %g, expected %g", (unsigned long long)table[i].at,
			         v->factor[BJ_A], table[i].factor);
		uint64_t want_next = table[i].next ? T0 + table[i].next : 0;
		if (v->next_due != want_next)
			fail_msg("at +%llu ms: next %llu, expected %llu", (unsigned long long)table[i].at,
			         (unsigned long long)v->next_due, (unsigned long long)want_next);
		assert_true(v->factor[BJ_B] == 1.0);
		assert_int_equal(info.step, table[i].step);
		assert_int_equal(info.steps, 5);
		assert_int_equal(info.state, table[i].st);
		assert_true(info.ramp_end == T0 + 30000);
		gtm_admin_view_free(v);
	}
	/* The view at the end of every ramp. */
	assert_true(gtm_admin_site_factor(a, BJ_A, GTM_ADMIN_END) == 0.0);

	/* A drain without a ramp finishes a running ramp; one with a ramp is refused. */
	gtm_admin_action_t d2 = act(GTM_ADMIN_DRAIN, "bj-b");
	d2.ramp_ms = 10000;
	d2.steps = 2;
	assert_true(apply(a, d2, T0, 0, NULL));
	assert_true(gtm_admin_site_factor(a, BJ_B, T0) == 0.5);
	assert_true(gtm_admin_site_factor(a, BJ_B, T0 + 9999) == 0.5);
	assert_true(gtm_admin_site_factor(a, BJ_B, T0 + 10000) == 0.0);
	assert_true(gtm_admin_next_due(a, T0 + 1) == T0 + 7500);   /* bj-a's comes first */
	apply(a, d2, T0 + 1, GTM_EINVAL, msg);
	assert_string_equal(msg, "site bj-b is already draining (step 1 of 2); undrain it first, "
	                         "or drain it without a ramp to finish now");
	assert_true(apply(a, act(GTM_ADMIN_DRAIN, "bj-b"), T0 + 2, 0, msg));
	assert_string_equal(msg, "site bj-b: admin draining -> drained");
	assert_true(gtm_admin_site_factor(a, BJ_B, T0 + 2) == 0.0);

	/* One step: drained at once. */
	gtm_admin_action_t d3 = act(GTM_ADMIN_DRAIN, "sh-dr");
	d3.ramp_ms = 10000;
	d3.steps = 1;
	assert_true(apply(a, d3, T0, 0, NULL));
	assert_true(gtm_admin_site_factor(a, SH_DR, T0) == 0.0);
	gtm_admin_free(a);
	world_free(w);
}

static void test_pause_resume(void **state)
{
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	char msg[512];
	gtm_admin_site_info_t info;
	gtm_admin_action_t d = act(GTM_ADMIN_DRAIN, "bj-a");
	d.ramp_ms = 30000;
	assert_true(apply(a, d, T0, 0, NULL));

	gtm_admin_action_t p = act(GTM_ADMIN_PAUSE, "bj-a");
	p.reason = "receiving site bj-b unhealthy";
	p.automatic = true;
	assert_true(apply(a, p, T0 + 8000, 0, msg));
	assert_string_equal(msg, "site bj-a: ramp running -> paused (receiving site bj-b unhealthy)");
	assert_false(apply(a, p, T0 + 8001, 0, msg));
	assert_string_equal(msg, "the ramp of site bj-a is already paused");

	/* Paused: the factor holds, no step is due. */
	for (uint64_t t = 8000; t <= 60000; t += 13000) {
		assert_true(gtm_admin_site_factor(a, BJ_A, T0 + t) == 0.6);
		assert_true(gtm_admin_next_due(a, T0 + t) == 0);
	}
	gtm_admin_site_info(a, BJ_A, T0 + 9000, &info);
	assert_true(info.paused);
	assert_string_equal(info.pause_reason, "receiving site bj-b unhealthy");
	/* gtmd's pause leaves the drain's record the operator's (status shows
	 * its reason once, and no stale note after a resume), and says that
	 * gtmd may resume it. */
	assert_string_equal(info.user, "root");
	assert_string_equal(info.reason, "test");
	assert_true(info.automatic);
	assert_true(info.ramp_end == T0 + 30000 + 1000);
	assert_true(gtm_admin_site_factor(a, BJ_A, GTM_ADMIN_END) == 0.6);

	/* Resumed 12 s later: every later step moves 12 s. */
	assert_true(apply(a, act(GTM_ADMIN_RESUME, "bj-a"), T0 + 20000, 0, msg));
	assert_string_equal(msg, "site bj-a: ramp paused -> running");
	assert_false(apply(a, act(GTM_ADMIN_RESUME, "bj-a"), T0 + 20000, 0, msg));
	assert_string_equal(msg, "the ramp of site bj-a is already running");
	assert_true(gtm_admin_site_factor(a, BJ_A, T0 + 20000) == 0.6);
	assert_true(gtm_admin_next_due(a, T0 + 20000) == T0 + 27000);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0 + 26999) == 0.6);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0 + 27000) == 0.4);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0 + 41999) == 0.2);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0 + 42000) == 0.0);
	gtm_admin_site_info(a, BJ_A, T0 + 30000, &info);
	assert_false(info.paused);
	assert_null(info.pause_reason);
	assert_true(info.ramp_end == T0 + 42000);

	/* A finished ramp cannot be paused. */
	apply(a, p, T0 + 42000, GTM_EINVAL, msg);
	assert_string_equal(msg, "site bj-a has no ramp in progress (it is drained)");
	gtm_admin_free(a);
	world_free(w);
}

/* The safety hook. */
typedef struct check_ctx {
	int calls;
	bool refuse;
} check_ctx_t;

static int check_cb(const gtm_admin_t *cur, const gtm_admin_t *next,
                    const gtm_admin_action_t *x, uint64_t now, void *arg, char *why, size_t len)
{
	check_ctx_t *c = arg;
	c->calls++;
	assert_true(cur != next);
	assert_ptr_equal(gtm_admin_conf(cur), gtm_admin_conf(next));
	/* Judged where ramps end: bj-a will be at 0, but is not yet. */
	assert_true(gtm_admin_site_factor(cur, BJ_A, GTM_ADMIN_END) == 1.0);
	assert_true(gtm_admin_site_factor(next, BJ_A, GTM_ADMIN_END) == 0.0);
	if (c->refuse) {
		snprintf(why, len, "service write.example.com would have no serving site");
		return 1;
	}
	return 0;
}

static void test_check_force_dry_run(void **state)
{
	world_t *w = world_new();
	char *sf = path_in_tmp("check-state.json"), *hf = path_in_tmp("check-history.jsonl");
	gtm_admin_t *a = gtm_admin_new(&w->conf, sf, hf);
	check_ctx_t ctx = { .refuse = true };
	gtm_admin_result_t res;
	gtm_admin_action_t d = act(GTM_ADMIN_DRAIN, "bj-a");
	d.ramp_ms = 30000;
	char *before = dump(a, T0, true);

	/* Refused. */
	assert_int_equal(gtm_admin_apply(a, &d, T0, check_cb, &ctx, &res), 0);
	assert_true(res.refused);
	assert_false(res.changed);
	assert_null(res.preview);
	assert_string_equal(res.message, "drain refused: service write.example.com would have no "
	                                 "serving site (--force overrides)");
	json_t *j = gtm_admin_result_json(&d, 0, &res);
	char *js = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(js, "{\"dry_run\":false,\"error\":\"drain refused: service "
	                        "write.example.com would have no serving site (--force overrides)\","
	                        "\"ok\":false,\"refused\":true}");
	free(js);
	json_decref(j);
	gtm_admin_result_clear(&res);
	assert_int_equal(ctx.calls, 1);

	/* A dry run is checked too, and refused the same way. */
	d.dry_run = true;
	assert_int_equal(gtm_admin_apply(a, &d, T0, check_cb, &ctx, &res), 0);
	assert_true(res.refused);
	gtm_admin_result_clear(&res);
	assert_int_equal(ctx.calls, 2);

	/* A forced dry run: not checked; the preview has the change, the state not. */
	d.force = true;
	assert_int_equal(gtm_admin_apply(a, &d, T0, check_cb, &ctx, &res), 0);
	assert_int_equal(ctx.calls, 2);
	assert_true(res.changed);
	assert_false(res.saved);
	assert_non_null(res.preview);
	assert_string_equal(res.message, "would change: site bj-a: admin active -> draining "
	                                 "(ramp 30 s in 5 steps)");
	assert_true(gtm_admin_site_factor(res.preview, BJ_A, T0) == 0.8);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 1.0);
	gtm_admin_result_clear(&res);

	char *after = dump(a, T0, true);
	assert_string_equal(before, after);
	free(after);
	struct stat st;
	assert_int_equal(stat(sf, &st), -1);     /* nothing written */
	assert_int_equal(stat(hf, &st), -1);

	/* Allowed by the check. */
	ctx.refuse = false;
	d.force = false;
	d.dry_run = false;
	assert_int_equal(gtm_admin_apply(a, &d, T0, check_cb, &ctx, &res), 0);
	assert_int_equal(ctx.calls, 3);
	assert_true(res.changed);
	assert_true(res.saved);
	gtm_admin_result_clear(&res);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 0.8);

	/* Forced against a refusing check: applied, not checked, recorded as forced. */
	ctx.refuse = true;
	gtm_admin_action_t e = act(GTM_ADMIN_EVACUATE, "shanghai");
	e.force = true;
	assert_int_equal(gtm_admin_apply(a, &e, T0 + 1, check_cb, &ctx, &res), 0);
	assert_int_equal(ctx.calls, 3);
	assert_true(res.changed);
	gtm_admin_result_clear(&res);
	assert_true(gtm_admin_city_evacuated(a, SH));
	json_t *h = gtm_admin_history_read(a, 1, NULL);
	assert_true(json_is_true(json_object_get(json_array_get(h, 0), "force")));
	json_decref(h);

	free(before);
	gtm_admin_free(a);
	unlink(sf);
	unlink(hf);
	free(sf);
	free(hf);
	world_free(w);
}

static void test_history(void **state)
{
	world_t *w = world_new();
	char *hf = path_in_tmp("history.jsonl");
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, hf);
	gtm_admin_action_t d = act(GTM_ADMIN_DRAIN, "bj-a");
	d.ramp_ms = 30000;
	d.user = "alice";
	d.uid = 1000;
	d.reason = "kernel upgrade";
	apply(a, d, T0, 0, NULL);
	apply(a, act(GTM_ADMIN_EVACUATE, "shanghai"), T0 + 1, 0, NULL);
	apply(a, act(GTM_ADMIN_EVACUATE, "shanghai"), T0 + 2, 0, NULL);   /* no change: no record */
	assert_int_equal(gtm_admin_settle(a, T0 + 29999), 0);
	assert_int_equal(gtm_admin_settle(a, T0 + 30000), 1);
	assert_int_equal(gtm_admin_settle(a, T0 + 30001), 0);
	gtm_admin_site_info_t info;
	gtm_admin_site_info(a, BJ_A, T0 + 30001, &info);
	assert_int_equal(info.state, GTM_ADMIN_DRAINED);
	assert_false(info.ramp);
	json_t *ev = json_pack("{s:s,s:s,s:s,s:i,s:i}", "op", "evacuate", "object", "city",
	                       "name", "beijing", "detect_ms", 3012, "publish_ms", 4);
	assert_int_equal(gtm_admin_history_append(a, ev), 0);
	json_decref(ev);

	json_t *all = gtm_admin_history_read(a, 0, NULL);
	assert_int_equal(json_array_size(all), 4);
	char *s0 = json_dumps(json_array_get(all, 0), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s0, "{\"auto\":false,\"field\":\"admin\",\"force\":false,\"name\":\"bj-a\","
	                        "\"new\":\"draining\",\"object\":\"site\",\"old\":\"active\","
	                        "\"op\":\"drain\",\"ramp\":30.0,\"reason\":\"kernel upgrade\","
	                        "\"steps\":5,\"time\":1700000000000,\"uid\":1000,\"user\":\"alice\"}");
	free(s0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(all, 1), "name")), "shanghai");
	assert_string_equal(json_string_value(json_object_get(json_array_get(all, 2), "new")), "drained");
	assert_true(json_is_true(json_object_get(json_array_get(all, 2), "auto")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 3), "detect_ms")), 3012);
	assert_non_null(json_object_get(json_array_get(all, 3), "time"));
	json_decref(all);

	/* The last 2, oldest first; a broken line is skipped. */
	FILE *f = fopen(hf, "a");
	fputs("{not json\n", f);
	fclose(f);
	apply(a, act(GTM_ADMIN_RESTORE, "shanghai"), T0 + 40000, 0, NULL);
	json_t *last = gtm_admin_history_read(a, 2, NULL);
	assert_int_equal(json_array_size(last), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(last, 0), "op")), "evacuate");
	assert_string_equal(json_string_value(json_object_get(json_array_get(last, 1), "op")), "restore");
	json_decref(last);

	/* Many lines, small limit (the bulk trimming). */
	for (int i = 0; i < 25; i++)
		apply(a, act(i % 2 ? GTM_ADMIN_RESTORE : GTM_ADMIN_EVACUATE, "guangzhou"),
		      T0 + 50000 + (uint64_t)i, 0, NULL);
	last = gtm_admin_history_read(a, 3, NULL);
	assert_int_equal(json_array_size(last), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(last, 2), "time")),
	                 (json_int_t)(T0 + 50024));
	json_decref(last);

	/* No history file yet: empty. */
	gtm_admin_t *b = gtm_admin_new(&w->conf, NULL, "/nonexistent-dir/h.jsonl");
	json_t *none = gtm_admin_history_read(b, 5, NULL);
	assert_int_equal(json_array_size(none), 0);
	json_decref(none);
	gtm_admin_free(b);

	gtm_admin_free(a);
	unlink(hf);
	free(hf);
	world_free(w);
}

static int count_files_with(const char *prefix)
{
	DIR *d = opendir(tmpdir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void test_persist_round_trip(void **state)
{
	world_t *w = world_new();
	char *sf = path_in_tmp("rt.json");
	gtm_admin_t *a = gtm_admin_new(&w->conf, sf, NULL);
	assert_int_equal(gtm_admin_load(a), 0);        /* no file yet */

	gtm_admin_action_t d = act(GTM_ADMIN_DRAIN, "bj-a");
	d.ramp_ms = 30000;
	d.reason = "disk \"swap\" ✓";
	apply(a, d, T0, 0, NULL);
	gtm_admin_action_t p = act(GTM_ADMIN_PAUSE, "bj-a");
	p.reason = "bj-b down";
	apply(a, p, T0 + 8000, 0, NULL);
	apply(a, act(GTM_ADMIN_DRAIN, "bj-b"), T0, 0, NULL);
	apply(a, act(GTM_ADMIN_ACTIVATE, "gz-cold"), T0, 0, NULL);
	apply(a, act(GTM_ADMIN_EVACUATE, "guangzhou"), T0, 0, NULL);
	gtm_admin_action_t pr = act(GTM_ADMIN_PROMOTE, "shanghai");
	pr.service = "db.example.com";
	apply(a, pr, T0, 0, NULL);

	struct stat st;
	assert_int_equal(stat(sf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(count_files_with("rt.json.tmp"), 0);   /* no temp file left */

	gtm_admin_t *b = gtm_admin_new(&w->conf, sf, NULL);
	assert_int_equal(gtm_admin_load(b), 0);
	char *sa = dump(a, T0 + 9000, true), *sb = dump(b, T0 + 9000, true);
	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
	gtm_admin_site_info_t info;
	gtm_admin_site_info(b, BJ_A, T0 + 9000, &info);
	assert_true(info.paused);
	assert_string_equal(info.pause_reason, "bj-b down");
	assert_string_equal(info.reason, "bj-b down");
	assert_true(gtm_admin_site_factor(b, BJ_A, T0 + 100000) == 0.6);
	assert_true(gtm_admin_city_evacuated(b, GZ));
	assert_int_equal(gtm_admin_master(b, DB), SH);
	gtm_admin_view_t *v = gtm_admin_view_new(b, T0);
	assert_true(v->activated[GZ_COLD]);
	assert_true(v->factor[BJ_B] == 0.0);
	gtm_admin_view_free(v);

	/* Undrained and saved again: the file follows. */
	apply(b, act(GTM_ADMIN_UNDRAIN, "bj-a"), T0 + 10000, 0, NULL);
	gtm_admin_t *c = gtm_admin_new(&w->conf, sf, NULL);
	assert_int_equal(gtm_admin_load(c), 0);
	assert_true(gtm_admin_site_factor(c, BJ_A, T0 + 10000) == 1.0);

	gtm_admin_free(a);
	gtm_admin_free(b);
	gtm_admin_free(c);
	unlink(sf);
	free(sf);
	world_free(w);
}

static void test_persist_corrupt(void **state)
{
	static const char *const bad[] = {
		"{\"version\":1,\"sites\":{\"bj-a\":",                       /* truncated */
		"[]",
		"{\"version\":2}",
		"{\"version\":1,\"sites\":{\"bj-a\":{\"state\":5}}}",
		"{\"version\":1,\"sites\":{\"bj-a\":{\"state\":\"draining\"}}}",   /* no ramp */
		"{\"version\":1,\"sites\":{\"bj-a\":{\"state\":\"draining\",\"ramp\":{\"start\":1,"
		"\"duration\":10,\"steps\":0}}}}",
		"{\"version\":1,\"cities\":{\"beijing\":{\"evacuated\":\"yes\"}}}",
		"{\"version\":1,\"services\":{\"db.example.com\":{\"master\":7}}}",
		"{\"version\":1,\"sites\":[]}",
	};
	world_t *w = world_new();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *sf = write_file("corrupt.json", bad[i]);
		char *moved = gtm_xasprintf("%s.bad", sf);
		gtm_admin_t *a = gtm_admin_new(&w->conf, sf, NULL);
		/* Something in memory first: a failed load leaves the defaults. */
		apply(a, act(GTM_ADMIN_EVACUATE, "beijing"), T0, 0, NULL);
		free(write_file("corrupt.json", bad[i]));
		if (gtm_admin_load(a) != GTM_EPARSE)
			fail_msg("case %zu accepted: %s", i, bad[i]);
		assert_false(gtm_admin_city_evacuated(a, BJ));
		struct stat st;
		assert_int_equal(stat(sf, &st), -1);          /* moved aside */
		assert_int_equal(stat(moved, &st), 0);
		gtm_admin_free(a);
		unlink(moved);
		free(moved);
		free(sf);
	}
	world_free(w);
}

static void test_persist_names_gone(void **state)
{
	world_t *w = world_new();
	char *sf = write_file("gone.json",
		"{\"version\":1,"
		" \"sites\":{\"bj-a\":{\"state\":\"drained\",\"reason\":\"r\",\"uid\":7,\"since\":5},"
		"            \"old-site\":{\"state\":\"drained\"},"
		"            \"bj-b\":{\"state\":\"active\",\"activated\":true}},"
		" \"cities\":{\"atlantis\":{\"evacuated\":true},\"shanghai\":{\"evacuated\":true}},"
		" \"services\":{\"gone.example.com\":{\"master\":\"shanghai\"},"
		"               \"www.example.com\":{\"master\":\"shanghai\"},"
		"               \"write.example.com\":{\"master\":\"atlantis\"},"
		"               \"db.example.com\":{\"master\":\"shanghai\"}}}");
	gtm_admin_t *a = gtm_admin_new(&w->conf, sf, NULL);
	assert_int_equal(gtm_admin_load(a), 0);
	gtm_admin_site_info_t info;
	gtm_admin_site_info(a, BJ_A, T0, &info);
	assert_int_equal(info.state, GTM_ADMIN_DRAINED);
	assert_int_equal(info.uid, 7);
	assert_string_equal(info.reason, "r");
	gtm_admin_site_info(a, BJ_B, T0, &info);
	assert_false(info.activated);                 /* bj-b is not cold */
	assert_true(gtm_admin_city_evacuated(a, SH));
	assert_int_equal(gtm_admin_master(a, WWW), GTM_NO_CITY);   /* not global */
	assert_int_equal(gtm_admin_master(a, WRITE), GTM_NO_CITY); /* city gone */
	assert_int_equal(gtm_admin_master(a, DB), SH);
	gtm_admin_free(a);
	unlink(sf);
	free(sf);
	world_free(w);
}

static void test_rebind(void **state)
{
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	apply(a, act(GTM_ADMIN_DRAIN, "bj-a"), T0, 0, NULL);
	apply(a, act(GTM_ADMIN_DRAIN, "sh-dr"), T0, 0, NULL);
	apply(a, act(GTM_ADMIN_EVACUATE, "guangzhou"), T0, 0, NULL);

	/* The reloaded configuration lost bj-a; sh-dr moved to index 0. */
	world_t *w2 = world_new();
	w2->sites[0] = w->sites[SH_DR];
	w2->sites[1] = w->sites[BJ_B];
	w2->sites[2] = w->sites[GZ_COLD];
	w2->conf.nsites = 3;
	w2->conf.nservices = 1;
	w2->ep[WWW][0].site = 1;
	w2->ep[WWW][1].site = 1;
	w2->ep[WWW][2].site = 0;
	world_reindex(w2);
	gtm_remap_t *map = gtm_remap_new(&w->conf, &w2->conf);
	gtm_admin_rebind(a, &w2->conf, map);
	gtm_remap_free(map);
	assert_ptr_equal(gtm_admin_conf(a), &w2->conf);
	assert_true(gtm_admin_site_factor(a, 0, T0) == 0.0);   /* sh-dr */
	assert_true(gtm_admin_site_factor(a, 1, T0) == 1.0);   /* bj-b */
	assert_true(gtm_admin_city_evacuated(a, GZ));
	gtm_admin_view_t *v = gtm_admin_view_new(a, T0);
	assert_int_equal(v->nsites, 3);
	assert_int_equal(v->nservices, 1);
	gtm_admin_view_free(v);
	char msg[512];
	apply(a, act(GTM_ADMIN_UNDRAIN, "bj-a"), T0, GTM_ENOENT, msg);
	gtm_admin_free(a);
	world_free(w);
	world_free(w2);
}

/* Endpoint overrides: the view the controller reads, the JSON of the state
 * file and etcd, a reload's remap. */
static void test_endpoint_state(void **state)
{
	world_t *w = world_new();
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			w->ep[i][j].addr.v4.s_addr = htonl((10u << 24) | ((unsigned)i << 16) | ((unsigned)j << 8) | 1);
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	char msg[512];
	gtm_admin_action_t d = act(GTM_ADMIN_DISABLE, "10.0.1.1");
	d.service = "WWW.example.com.";   /* the DNS name rule */
	assert_true(apply(a, d, T0, 0, msg));
	assert_string_equal(msg, "endpoint www.example.com 10.0.1.1: admin enabled -> disabled");
	assert_false(apply(a, d, T0, 0, msg));
	assert_string_equal(msg, "endpoint www.example.com 10.0.1.1 is already disabled");
	assert_int_equal(gtm_admin_endpoint(a, WWW, 1, NULL, NULL, NULL), GTM_ADMIN_EP_DISABLED);
	gtm_admin_view_t *v = gtm_admin_view_new(a, T0);
	assert_non_null(v->ep_force);
	assert_int_equal(v->ep_force[v->ep_off[WWW] + 1], -2);
	assert_int_equal(v->ep_force[v->ep_off[WWW] + 0], 0);
	gtm_admin_view_free(v);
	gtm_admin_action_t u = act(GTM_ADMIN_ENABLE, "10.1.1.1");
	u.service = "write.example.com";
	u.forced_state = true;
	assert_true(apply(a, u, T0, 0, msg));
	assert_string_equal(msg, "endpoint write.example.com 10.1.1.1: admin enabled -> forced up");
	gtm_admin_action_t bad = act(GTM_ADMIN_DISABLE, "10.9.9.9");
	bad.service = "www.example.com";
	apply(a, bad, T0, GTM_ENOENT, msg);
	assert_string_equal(msg, "disable: service www.example.com has no endpoint 10.9.9.9");

	/* The state's JSON, read back into a fresh state. */
	json_t *j = gtm_admin_to_json(a, T0, false);
	json_t *eps = json_object_get(j, "endpoints");
	assert_string_equal(json_string_value(json_object_get(json_object_get(eps, "www.example.com 10.0.1.1"), "state")),
	                    "disabled");
	assert_string_equal(json_string_value(json_object_get(json_object_get(eps, "write.example.com 10.1.1.1"), "state")),
	                    "forced up");
	gtm_admin_t *b = gtm_admin_new(&w->conf, NULL, NULL);
	char err[256];
	assert_int_equal(gtm_admin_replace_json(b, j, "test", err, sizeof(err)), 0);
	assert_int_equal(gtm_admin_endpoint(b, WWW, 1, NULL, NULL, NULL), GTM_ADMIN_EP_DISABLED);
	assert_int_equal(gtm_admin_endpoint(b, WRITE, 1, NULL, NULL, NULL), GTM_ADMIN_EP_FORCE_UP);
	json_decref(j);
	gtm_admin_free(b);

	/* A reload that reorders www's endpoints: the override follows its
	 * address (the remap), the one that is gone is dropped. */
	world_t *w2 = world_new();
	memcpy(w2->ep, w->ep, sizeof(w->ep));
	w2->ep[WWW][0] = w->ep[WWW][1];
	w2->ep[WWW][1] = w->ep[WWW][0];
	w2->services[WRITE].nendpoints = 1;   /* 10.1.1.1 gone */
	gtm_remap_t *map = gtm_remap_new(&w->conf, &w2->conf);
	gtm_admin_rebind(a, &w2->conf, map);
	gtm_remap_free(map);
	assert_int_equal(gtm_admin_endpoint(a, WWW, 0, NULL, NULL, NULL), GTM_ADMIN_EP_DISABLED);
	assert_int_equal(gtm_admin_endpoint(a, WWW, 1, NULL, NULL, NULL), GTM_ADMIN_EP_ENABLED);
	assert_int_equal(gtm_admin_endpoint(a, WRITE, 0, NULL, NULL, NULL), GTM_ADMIN_EP_ENABLED);
	gtm_admin_free(a);
	world_free(w);
	world_free(w2);
}

/* Several objects in one action: one copy of the state, one safety check,
 * one set of history records, all or nothing. */
static void test_multi_target(void **state)
{
	world_t *w = world_new();
	char *hf = path_in_tmp("multi-history.jsonl");
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, hf);
	check_ctx_t ctx = { 0 };
	gtm_admin_result_t res;
	gtm_admin_action_t d = act(GTM_ADMIN_DRAIN, "bj-b");
	d.more[d.nmore++] = "bj-a";
	d.dry_run = true;
	assert_int_equal(gtm_admin_apply(a, &d, T0, check_cb, &ctx, &res), 0);
	assert_int_equal(ctx.calls, 1);          /* one check for both */
	assert_true(res.changed);
	assert_int_equal(json_array_size(res.changes), 2);
	assert_non_null(strstr(res.message, "site bj-b: admin active -> drained; site bj-a: admin active -> drained"));
	assert_true(gtm_admin_site_factor(res.preview, BJ_A, T0) == 0.0);
	assert_true(gtm_admin_site_factor(res.preview, BJ_B, T0) == 0.0);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 1.0);   /* dry run */
	gtm_admin_result_clear(&res);
	d.dry_run = false;
	assert_int_equal(gtm_admin_apply(a, &d, T0, check_cb, &ctx, &res), 0);
	assert_int_equal(ctx.calls, 2);
	assert_int_equal(json_array_size(res.history), 2);
	gtm_admin_result_clear(&res);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 0.0 && gtm_admin_site_factor(a, BJ_B, T0) == 0.0);
	/* An unknown or repeated name refuses the whole: nothing changes. */
	gtm_admin_action_t u = act(GTM_ADMIN_UNDRAIN, "bj-a");
	u.more[u.nmore++] = "nowhere";
	char msg[512];
	apply(a, u, T0, GTM_ENOENT, msg);
	assert_string_equal(msg, "unknown site nowhere");
	u.more[0] = "bj-a";
	apply(a, u, T0, GTM_EINVAL, msg);
	assert_string_equal(msg, "undrain: bj-a named twice");
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 0.0);
	/* An error on one object (a ramp over a running ramp) keeps nothing of the others. */
	gtm_admin_action_t r = act(GTM_ADMIN_DRAIN, "sh-dr");
	r.ramp_ms = 30000;
	assert_true(apply(a, r, T0, 0, NULL));
	u = act(GTM_ADMIN_UNDRAIN, "bj-a");
	u.more[u.nmore++] = "bj-b";
	assert_true(apply(a, u, T0, 0, NULL));
	gtm_admin_action_t both = act(GTM_ADMIN_DRAIN, "bj-a");
	both.ramp_ms = 30000;
	both.more[both.nmore++] = "sh-dr";
	apply(a, both, T0, GTM_EINVAL, msg);
	assert_non_null(strstr(msg, "site sh-dr is already draining"));
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 1.0);
	gtm_admin_free(a);
	free(hf);
	world_free(w);
}

static void test_json_glue(void **state)
{
	static const struct {
		const char *req;
		const char *err;    /* NULL: accepted */
	} cases[] = {
		{ "{\"cmd\":\"drain\",\"site\":\"bj-a\",\"ramp\":30,\"steps\":4,\"reason\":\"x\","
		  "\"force\":true,\"dry_run\":true,\"id\":7}", NULL },
		{ "{\"cmd\":\"drain\",\"site\":\"bj-a\",\"ramp\":1.5}", NULL },
		{ "{\"cmd\":\"promote\",\"city\":\"shanghai\",\"service\":\"db.example.com\"}", NULL },
		{ "{\"cmd\":\"status\"}", "\"cmd\" is not an admin action" },
		{ "{\"cmd\":\"drain\"}", "drain needs \"site\" (a name or an array of names)" },
		{ "{\"cmd\":\"evacuate\",\"site\":\"bj-a\"}", "evacuate needs \"city\" (a name or an array of names)" },
		{ "{\"cmd\":\"drain\",\"site\":[\"bj-a\",\"bj-b\"]}", NULL },
		{ "{\"cmd\":\"drain\",\"site\":[\"bj-a\",3]}", "drain needs \"site\" (a name or an array of names)" },
		{ "{\"cmd\":\"drain\",\"site\":\"bj-a\",\"ramp\":\"30s\"}",
		  "\"ramp\" is seconds (0 to 7 days), for drain only" },
		{ "{\"cmd\":\"drain\",\"site\":\"bj-a\",\"ramp\":-1}",
		  "\"ramp\" is seconds (0 to 7 days), for drain only" },
		{ "{\"cmd\":\"undrain\",\"site\":\"bj-a\",\"ramp\":3}",
		  "\"ramp\" is seconds (0 to 7 days), for drain only" },
		{ "{\"cmd\":\"drain\",\"site\":\"bj-a\",\"steps\":0}", "\"steps\" is 1..100, for drain only" },
		{ "{\"cmd\":\"drain\",\"site\":\"bj-a\",\"force\":1}", "\"force\" must be true or false" },
		{ "{\"cmd\":\"drain\",\"site\":\"bj-a\",\"reason\":3}", "\"reason\" must be a string" },
		{ "{\"cmd\":\"drain\",\"site\":\"bj-a\",\"service\":\"x\"}",
		  "\"service\" is a name, for promote only" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *req = json_loads(cases[i].req, 0, NULL);
		assert_non_null(req);
		gtm_admin_action_t x;
		char err[256] = "";
		int rc = gtm_admin_action_from_json(req, &x, err, sizeof(err));
		if (cases[i].err == NULL && rc != 0)
			fail_msg("case %zu refused: %s", i, err);
		if (cases[i].err && (rc != GTM_EINVAL || strcmp(err, cases[i].err) != 0))
			fail_msg("case %zu: rc %d, message '%s', expected '%s'", i, rc, err, cases[i].err);
		if (i == 0) {
			assert_int_equal(x.op, GTM_ADMIN_DRAIN);
			assert_string_equal(x.target, "bj-a");
			assert_true(x.ramp_ms == 30000);
			assert_int_equal(x.steps, 4);
			assert_string_equal(x.reason, "x");
			assert_true(x.force);
			assert_true(x.dry_run);
		}
		if (i == 1)
			assert_true(x.ramp_ms == 1500);
		if (i == 2)
			assert_string_equal(x.service, "db.example.com");
		json_decref(req);
	}

	/* The reply of an applied action, and of an error. */
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, NULL, NULL);
	gtm_admin_action_t x = act(GTM_ADMIN_EVACUATE, "beijing");
	gtm_admin_result_t res;
	int rc = gtm_admin_apply(a, &x, T0, NULL, NULL, &res);
	json_t *j = gtm_admin_result_json(&x, rc, &res);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"changed\":true,\"changes\":[{\"field\":\"evacuated\",\"name\":"
	                       "\"beijing\",\"new\":\"yes\",\"object\":\"city\",\"old\":\"no\"}],"
	                       "\"dry_run\":false,\"message\":\"city beijing: evacuated no -> yes\","
	                       "\"ok\":true}");
	free(s);
	json_decref(j);
	gtm_admin_result_clear(&res);
	x.target = "nowhere";
	rc = gtm_admin_apply(a, &x, T0, NULL, NULL, &res);
	j = gtm_admin_result_json(&x, rc, &res);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"dry_run\":false,\"error\":\"unknown city nowhere\",\"ok\":false}");
	free(s);
	json_decref(j);
	gtm_admin_result_clear(&res);

	/* Status JSON lists everything, with the ramp's progress. */
	gtm_admin_action_t d = act(GTM_ADMIN_DRAIN, "bj-a");
	d.ramp_ms = 30000;
	apply(a, d, T0, 0, NULL);
	j = gtm_admin_to_json(a, T0 + 8000, true);
	json_t *site = json_object_get(json_object_get(j, "sites"), "bj-a");
	assert_string_equal(json_string_value(json_object_get(site, "state")), "draining");
	assert_true(json_real_value(json_object_get(site, "factor")) == 0.6);
	json_t *ramp = json_object_get(site, "ramp");
	assert_int_equal(json_integer_value(json_object_get(ramp, "step")), 2);
	assert_int_equal(json_integer_value(json_object_get(ramp, "next")), (json_int_t)(T0 + 15000));
	assert_int_equal(json_object_size(json_object_get(j, "sites")), 4);
	assert_int_equal(json_object_size(json_object_get(j, "services")), 2);   /* global only */
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j,
		"services"), "db.example.com"), "effective_master")), "beijing");
	json_decref(j);
	gtm_admin_free(a);
	world_free(w);

	assert_int_equal(gtm_admin_op_parse("deactivate"), GTM_ADMIN_DEACTIVATE);
	assert_int_equal(gtm_admin_op_parse("explode"), -1);
	assert_null(gtm_admin_op_name(GTM_ADMIN_NOPS));
}

static void test_save_failure_keeps_change(void **state)
{
	world_t *w = world_new();
	gtm_admin_t *a = gtm_admin_new(&w->conf, "/nonexistent-dir/state.json", NULL);
	gtm_admin_result_t res;
	gtm_admin_action_t x = act(GTM_ADMIN_DRAIN, "bj-a");
	assert_int_equal(gtm_admin_apply(a, &x, T0, NULL, NULL, &res), 0);
	assert_true(res.changed);
	assert_false(res.saved);
	assert_non_null(strstr(res.message, "(state not saved: "));
	gtm_admin_result_clear(&res);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 0.0);
	gtm_admin_free(a);
	world_free(w);
}

/* Cluster mode: propose computes without changing; adopt and replace_json
 * take a state; a bad state changes nothing. */
static void test_propose_adopt_replace(void **state)
{
	(void)state;
	world_t *w = world_new();
	char *sf = path_in_tmp("propose.state"), *hf = path_in_tmp("propose.history");
	unlink(sf);
	unlink(hf);
	gtm_admin_t *a = gtm_admin_new(&w->conf, sf, hf);
	gtm_admin_action_t x = act(GTM_ADMIN_DRAIN, "bj-a");
	x.propose = true;
	gtm_admin_result_t res;
	assert_int_equal(gtm_admin_apply(a, &x, T0, NULL, NULL, &res), 0);
	assert_true(res.changed);
	assert_non_null(res.preview);
	assert_string_equal(res.message, "site bj-a: admin active -> drained");
	assert_int_equal(json_array_size(res.history), 1);
	json_t *rec = json_array_get(res.history, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "op")), "drain");
	assert_string_equal(json_string_value(json_object_get(rec, "new")), "drained");
	/* nothing changed, written or saved yet */
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 1.0);
	assert_int_equal(access(hf, F_OK), -1);
	assert_int_equal(access(sf, F_OK), -1);
	assert_false(res.saved);
	/* adopt: the preview's state here, saved, still no history line */
	gtm_admin_adopt(a, res.preview);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 0.0);
	assert_int_equal(access(sf, F_OK), 0);
	assert_int_equal(access(hf, F_OK), -1);
	gtm_admin_result_clear(&res);

	/* replace with another node's state: bj-a back, beijing evacuated */
	json_error_t jerr;
	json_t *other = json_loads("{\"version\":1,\"sites\":{},\"cities\":{\"beijing\":"
	                           "{\"evacuated\":true,\"since\":5,\"user\":\"ops\",\"uid\":7}},"
	                           "\"services\":{}}", 0, &jerr);
	assert_non_null(other);
	char err[256];
	assert_int_equal(gtm_admin_replace_json(a, other, "test", err, sizeof(err)), 0);
	json_decref(other);
	assert_true(gtm_admin_site_factor(a, BJ_A, T0) == 1.0);
	assert_true(gtm_admin_city_evacuated(a, BJ));
	/* a bad one: refused, nothing changes */
	json_t *bad = json_loads("{\"version\":9}", 0, &jerr);
	assert_int_equal(gtm_admin_replace_json(a, bad, "test", err, sizeof(err)), GTM_EPARSE);
	json_decref(bad);
	assert_true(gtm_admin_city_evacuated(a, BJ));
	/* the state file follows (a restart without etcd starts from it) */
	gtm_admin_t *b = gtm_admin_new(&w->conf, sf, NULL);
	assert_int_equal(gtm_admin_load(b), 0);
	assert_true(gtm_admin_city_evacuated(b, BJ));
	gtm_admin_free(b);
	gtm_admin_free(a);
	free(sf);
	free(hf);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drain_undrain),
		cmocka_unit_test(test_view_eq),
		cmocka_unit_test(test_unknown_and_invalid),
		cmocka_unit_test(test_evacuate_restore),
		cmocka_unit_test(test_promote),
		cmocka_unit_test(test_activate_cold),
		cmocka_unit_test(test_ramp_steps),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_check_force_dry_run),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_persist_round_trip),
		cmocka_unit_test(test_persist_corrupt),
		cmocka_unit_test(test_persist_names_gone),
		cmocka_unit_test(test_rebind),
		cmocka_unit_test(test_json_glue),
		cmocka_unit_test(test_multi_target),
		cmocka_unit_test(test_endpoint_state),
		cmocka_unit_test(test_save_failure_keeps_change),
		cmocka_unit_test(test_propose_adopt_replace),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
