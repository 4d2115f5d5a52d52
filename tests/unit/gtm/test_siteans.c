/*
 * gtm/core/siteans.c: slots follow site names across reloads (a renumbering
 * never moves one site's count to another; a slot is reused only a reload
 * after its name left), totals never go back, and the one-minute window.
 * The workers' counters are a plain array here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gtm/core/siteans.h"

static uint64_t counts[DNS_MAX_SITES];   /* what the "workers" counted, per slot */

static void read_counts(void *arg, uint64_t *out, size_t n)
{
	(void)arg;
	memcpy(out, counts, n * sizeof(*out));
}

/* A configuration with these site names (only names and slots matter). */
typedef struct fake_conf {
	gtm_conf_t conf;
	gtm_site_t sites[DNS_MAX_SITES];
	char names[DNS_MAX_SITES][16];
} fake_conf_t;

static void conf_set(fake_conf_t *f, const char *const *names, size_t n)
{
	memset(&f->conf, 0, sizeof(f->conf));
	for (size_t i = 0; i < n; i++) {
		snprintf(f->names[i], sizeof(f->names[i]), "%s", names[i]);
		f->sites[i] = (gtm_site_t){ .name = f->names[i], .slot = (uint16_t)i };
	}
	f->conf.sites = f->sites;
	f->conf.nsites = n;
}

/* b, c, d, then n1..n1020, then extra (if not NULL): 1023 or 1024 sites. */
static void conf_big(fake_conf_t *f, const char *first, const char *extra)
{
	static char buf[DNS_MAX_SITES][16];
	static const char *v[DNS_MAX_SITES];
	size_t n = 0;
	v[n++] = first;
	v[n++] = "c";
	v[n++] = "d";
	for (int i = 1; i <= 1020; i++) {
		snprintf(buf[n], sizeof(buf[n]), "n%d", i);
		v[n] = buf[n];
		n++;
	}
	if (extra)
		v[n++] = extra;
	conf_set(f, v, n);
}

static void test_slots_follow_names(void **state)
{
	(void)state;
	static fake_conf_t f;
	memset(counts, 0, sizeof(counts));
	gtm_siteans_t *t = gtm_siteans_new(NULL, read_counts, NULL, 0);

	static const char *const v1[] = { "a", "b", "c" };
	conf_set(&f, v1, 3);
	gtm_siteans_bind(t, &f.conf);
	assert_int_equal(f.sites[0].slot, 0);
	assert_int_equal(f.sites[1].slot, 1);
	assert_int_equal(f.sites[2].slot, 2);
	counts[0] += 10;
	counts[1] += 5;
	gtm_siteans_sample(t);
	assert_int_equal(gtm_siteans_total(t, "a"), 10);
	assert_int_equal(gtm_siteans_total(t, "b"), 5);
	assert_int_equal(gtm_siteans_total(t, "c"), 0);
	assert_int_equal(gtm_siteans_total(t, "nobody"), 0);

	/* Reload: a removed, the others reordered, d new.  Each keeps its
	 * slot; d does not get a's, which the old snapshot still counts in. */
	static const char *const v2[] = { "d", "c", "b" };
	conf_set(&f, v2, 3);
	counts[1] += 1;             /* before the bind: b's */
	gtm_siteans_bind(t, &f.conf);
	assert_int_equal(f.sites[0].slot, 3);
	assert_int_equal(f.sites[1].slot, 2);
	assert_int_equal(f.sites[2].slot, 1);
	counts[0] += 2;             /* the old snapshot, still answering a */
	counts[3] += 7;
	gtm_siteans_sample(t);
	assert_int_equal(gtm_siteans_total(t, "a"), 12);
	assert_int_equal(gtm_siteans_total(t, "b"), 6);
	assert_int_equal(gtm_siteans_total(t, "d"), 7);

	/* Every slot but a's in use; then a new name takes a's (gone for a
	 * whole reload), starting from 0 while a keeps its total. */
	conf_big(&f, "b", NULL);
	gtm_siteans_bind(t, &f.conf);
	assert_int_equal(f.sites[0].slot, 1);
	assert_int_equal(f.sites[3].slot, 4);
	conf_big(&f, "b", "e");
	gtm_siteans_bind(t, &f.conf);
	assert_int_equal(f.sites[1023].slot, 0);
	counts[0] += 4;
	gtm_siteans_sample(t);
	assert_int_equal(gtm_siteans_total(t, "e"), 4);
	assert_int_equal(gtm_siteans_total(t, "a"), 12);

	/* No slot is free and b left only now: f is not counted (yet)... */
	conf_big(&f, "f", "e");
	gtm_siteans_bind(t, &f.conf);
	assert_int_equal(f.sites[0].slot, DNS_PLAN_NO_SITE);
	counts[1] += 3;             /* the old snapshot answering b */
	gtm_siteans_sample(t);
	assert_int_equal(gtm_siteans_total(t, "b"), 9);
	/* ...until the next reload, when it takes b's slot. */
	gtm_siteans_bind(t, &f.conf);
	assert_int_equal(f.sites[0].slot, 1);
	counts[1] += 2;
	gtm_siteans_sample(t);
	assert_int_equal(gtm_siteans_total(t, "f"), 2);
	assert_int_equal(gtm_siteans_total(t, "b"), 9);

	/* A site back under its old name continues its total (a slot for it
	 * is free one reload after the others left). */
	static const char *const v3[] = { "a", "b" };
	conf_set(&f, v3, 2);
	gtm_siteans_bind(t, &f.conf);
	assert_int_equal(f.sites[0].slot, DNS_PLAN_NO_SITE);
	gtm_siteans_bind(t, &f.conf);
	assert_true(f.sites[0].slot < DNS_MAX_SITES);
	counts[f.sites[0].slot] += 1;
	gtm_siteans_sample(t);
	assert_int_equal(gtm_siteans_total(t, "a"), 13);
	gtm_siteans_free(t);
	gtm_siteans_free(NULL);
}

static void test_window(void **state)
{
	(void)state;
	static fake_conf_t f;
	memset(counts, 0, sizeof(counts));
	gtm_siteans_t *t = gtm_siteans_new(NULL, read_counts, NULL, 0);
	static const char *const v[] = { "x", "y" };
	conf_set(&f, v, 2);
	gtm_siteans_bind(t, &f.conf);
	uint64_t site, all, span;

	counts[0] = 10;
	gtm_siteans_tick(t, 5000);
	counts[0] = 15;
	counts[1] = 5;
	gtm_siteans_tick(t, 10000);
	span = gtm_siteans_recent(t, "x", 10000, &site, &all);
	assert_int_equal(span, 10000);             /* since start-up */
	assert_int_equal(site, 15);
	assert_int_equal(all, 20);
	gtm_siteans_recent(t, "y", 10000, &site, &all);
	assert_int_equal(site, 5);

	/* A minute later with nothing new: the window holds nothing. */
	for (uint64_t ms = 15000; ms <= 70000; ms += 5000)
		gtm_siteans_tick(t, ms);
	span = gtm_siteans_recent(t, "x", 70000, &site, &all);
	assert_int_equal(span, 60000);
	assert_int_equal(site, 0);
	assert_int_equal(all, 0);
	counts[1] = 8;
	gtm_siteans_sample(t);
	span = gtm_siteans_recent(t, "y", 72000, &site, &all);
	assert_int_equal(span, 57000);             /* from the row of 15 s */
	assert_int_equal(site, 3);
	assert_int_equal(all, 3);
	gtm_siteans_recent(t, "x", 72000, &site, &all);
	assert_int_equal(site, 0);
	/* A name bound after a row was taken counts from 0 in it. */
	static const char *const w[] = { "x", "y", "z" };
	conf_set(&f, w, 3);
	gtm_siteans_bind(t, &f.conf);
	counts[f.sites[2].slot] += 6;
	gtm_siteans_sample(t);
	gtm_siteans_recent(t, "z", 72000, &site, &all);
	assert_int_equal(site, 6);
	assert_int_equal(all, 9);
	gtm_siteans_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_follow_names),
		cmocka_unit_test(test_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
