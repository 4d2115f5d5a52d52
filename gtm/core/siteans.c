/*
 * Answers per site name: slots handed to the plan, totals folded from the
 * workers' counters, and a ring of totals for the last minute.  See
 * siteans.h for why slots follow names.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/alloc.h"
#include "common/name.h"
#include "common/log.h"
#include "gtm/core/siteans.h"

#define NO_OWNER UINT32_MAX

typedef struct name_ent {
	char *name;
	uint64_t total;       /* answers so far */
	uint16_t slot;        /* DNS_PLAN_NO_SITE: none */
	bool live;            /* in the configuration bound last */
	bool was_live;        /* in the one before (scratch of bind) */
} name_ent_t;

typedef struct row {
	uint64_t t;           /* ms, gtm_siteans_now's clock */
	uint64_t *tot;        /* totals of names[0..n) */
	size_t n;
} row_t;

struct gtm_siteans {
	struct event *timer;
	gtm_siteans_read_cb_t read;
	void *arg;
	name_ent_t *names;
	size_t nnames, cap;
	gtm_name_index_t ix;             /* names -> index into names (plain names) */
	uint32_t owner[DNS_MAX_SITES];   /* index into names, or NO_OWNER */
	uint64_t last[DNS_MAX_SITES];    /* the workers' sum at the last sample */
	uint64_t cur[DNS_MAX_SITES];     /* scratch */
	row_t ring[GTM_SITEANS_RING];
	unsigned head;                   /* the next row to write */
	unsigned rows;                   /* rows written, at most GTM_SITEANS_RING */
};

uint64_t gtm_siteans_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gtm_siteans_tick(arg, gtm_siteans_now());
}

static void push_row(gtm_siteans_t *t, uint64_t now_ms)
{
	row_t *r = &t->ring[t->head];
	r->t = now_ms;
	r->tot = gtm_xrealloc(r->tot, (t->nnames ? t->nnames : 1) * sizeof(*r->tot));
	r->n = t->nnames;
	for (size_t i = 0; i < t->nnames; i++)
		r->tot[i] = t->names[i].total;
	t->head = (t->head + 1) % GTM_SITEANS_RING;
	if (t->rows < GTM_SITEANS_RING)
		t->rows++;
}

void gtm_siteans_read_server(void *arg, uint64_t *out, size_t n)
{
	dns_server_t *const *server = arg;
	if (server != NULL && *server != NULL)
		dns_server_site_answers(*server, out, n);
	else
		memset(out, 0, n * sizeof(*out));
}

gtm_siteans_t *gtm_siteans_new(struct event_base *base, gtm_siteans_read_cb_t read, void *arg,
                               uint64_t now_ms)
{
	gtm_siteans_t *t = gtm_xcalloc(1, sizeof(*t));
	t->read = read;
	t->arg = arg;
	gtm_name_index_init(&t->ix, GTM_NAME_PLAIN, 16);
	for (size_t i = 0; i < DNS_MAX_SITES; i++)
		t->owner[i] = NO_OWNER;
	push_row(t, now_ms);
	if (base != NULL) {
		t->timer = event_new(base, -1, EV_PERSIST, on_tick, t);
		struct timeval tv = { GTM_SITEANS_TICK_MS / 1000, (GTM_SITEANS_TICK_MS % 1000) * 1000 };
		event_add(t->timer, &tv);
	}
	return t;
}

void gtm_siteans_free(gtm_siteans_t *t)
{
	if (t == NULL)
		return;
	if (t->timer)
		event_free(t->timer);
	gtm_name_index_clear(&t->ix);
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i].name);
	free(t->names);
	for (size_t i = 0; i < GTM_SITEANS_RING; i++)
		free(t->ring[i].tot);
	free(t);
}

void gtm_siteans_sample(gtm_siteans_t *t)
{
	t->read(t->arg, t->cur, DNS_MAX_SITES);
	for (size_t i = 0; i < DNS_MAX_SITES; i++) {
		/* The workers' counters only grow; a stale read that seems to
		 * go back is caught up at the next sample. */
		if (t->cur[i] <= t->last[i])
			continue;
		if (t->owner[i] != NO_OWNER)
			t->names[t->owner[i]].total += t->cur[i] - t->last[i];
		t->last[i] = t->cur[i];
	}
}

void gtm_siteans_tick(gtm_siteans_t *t, uint64_t now_ms)
{
	gtm_siteans_sample(t);
	push_row(t, now_ms);
}

/* Sites are plain names (common/name.h), found through the index. */
static size_t find(const gtm_siteans_t *t, const char *name)
{
	uint32_t i = gtm_name_index_find(&t->ix, name);
	return i == GTM_NAME_NONE ? SIZE_MAX : i;
}

/* A slot for a new name: one never owned (or freed), else one whose name
 * left the configuration before the previous reload, so that no snapshot
 * still served counts into it.  DNS_PLAN_NO_SITE when none is left. */
static uint16_t take_slot(gtm_siteans_t *t)
{
	for (size_t i = 0; i < DNS_MAX_SITES; i++)
		if (t->owner[i] == NO_OWNER)
			return (uint16_t)i;
	for (size_t i = 0; i < DNS_MAX_SITES; i++) {
		name_ent_t *e = &t->names[t->owner[i]];
		if (!e->live && !e->was_live) {
			e->slot = DNS_PLAN_NO_SITE;
			t->owner[i] = NO_OWNER;
			return (uint16_t)i;
		}
	}
	return DNS_PLAN_NO_SITE;
}

void gtm_siteans_bind(gtm_siteans_t *t, gtm_conf_t *conf)
{
	/* Every count so far goes to the names that own the slots now. */
	gtm_siteans_sample(t);
	for (size_t i = 0; i < t->nnames; i++) {
		t->names[i].was_live = t->names[i].live;
		t->names[i].live = false;
	}
	size_t *ent = gtm_xcalloc(conf->nsites + 1, sizeof(*ent));
	for (size_t i = 0; i < conf->nsites; i++) {
		size_t e = find(t, conf->sites[i].name);
		if (e == SIZE_MAX) {
			if (t->nnames == t->cap) {
				t->cap = t->cap ? 2 * t->cap : 16;
				t->names = gtm_xrealloc(t->names, t->cap * sizeof(*t->names));
			}
			e = t->nnames++;
			t->names[e] = (name_ent_t){ .name = gtm_xstrdup(conf->sites[i].name),
			                            .slot = DNS_PLAN_NO_SITE };
			gtm_name_index_add(&t->ix, t->names[e].name, (uint32_t)e);
		}
		t->names[e].live = true;
		ent[i] = e;
	}
	/* Names that keep their slot first, then slots for the others. */
	for (size_t i = 0; i < conf->nsites; i++) {
		name_ent_t *e = &t->names[ent[i]];
		if (e->slot == DNS_PLAN_NO_SITE) {
			e->slot = take_slot(t);
			if (e->slot == DNS_PLAN_NO_SITE)
				log_warn("site %s, no answer counter free (all %d held by sites configured "
				         "now or until the previous reload): its answers are not counted "
				         "until a later reload", e->name, DNS_MAX_SITES);
			else
				t->owner[e->slot] = (uint32_t)ent[i];
		}
		conf->sites[i].slot = e->slot;
	}
	free(ent);
}

uint64_t gtm_siteans_total(const gtm_siteans_t *t, const char *name)
{
	size_t e = find(t, name);
	return e == SIZE_MAX ? 0 : t->names[e].total;
}

uint64_t gtm_siteans_recent(const gtm_siteans_t *t, const char *name, uint64_t now_ms,
                            uint64_t *site, uint64_t *all)
{
	/* The oldest row inside the window; rows are in time order from the
	 * oldest (head when the ring is full). */
	const row_t *base = NULL;
	unsigned first = t->rows < GTM_SITEANS_RING ? 0 : t->head;
	for (unsigned k = 0; k < t->rows && base == NULL; k++) {
		const row_t *r = &t->ring[(first + k) % GTM_SITEANS_RING];
		if (r->t + GTM_SITEANS_WINDOW_MS >= now_ms)
			base = r;
	}
	if (base == NULL)   /* the timer fell behind: the newest row */
		base = &t->ring[(t->head + GTM_SITEANS_RING - 1) % GTM_SITEANS_RING];
	size_t e = find(t, name);
	*site = 0;
	*all = 0;
	for (size_t i = 0; i < t->nnames; i++) {
		uint64_t b = i < base->n ? base->tot[i] : 0;
		uint64_t d = t->names[i].total - b;
		*all += d;
		if (i == e)
			*site = d;
	}
	return now_ms > base->t ? now_ms - base->t : 0;
}
