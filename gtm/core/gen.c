/*
 * The generation and its owner: load, remap, rebind every member in order,
 * publish (gtm/core/gen.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/core/gen.h"

/* ---- the remap ------------------------------------------------------------ */

static uint32_t *fill_none(size_t n)
{
	uint32_t *v = gtm_xmalloc((n ? n : 1) * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = GTM_REMAP_NONE;
	return v;
}

/* Both directions of one kind of object, through the new configuration's
 * name index (old names are looked up in it, once each). */
static void map_kind(uint32_t **to_new, uint32_t **to_old, size_t nold, size_t nnew,
                     const void *old_items, size_t size, size_t name_off,
                     uint32_t (*find)(const gtm_conf_t *, const char *), const gtm_conf_t *conf)
{
	*to_new = fill_none(nold);
	*to_old = fill_none(nnew);
	for (size_t i = 0; i < nold; i++) {
		const char *name;
		memcpy(&name, (const char *)old_items + i * size + name_off, sizeof(name));
		uint32_t j = find(conf, name);
		if (j != GTM_NAME_NONE && j < nnew) {
			(*to_new)[i] = j;
			(*to_old)[j] = (uint32_t)i;
		}
	}
}

static bool same_address(const gtm_endpoint_t *a, const gtm_endpoint_t *b)
{
	if (a->family != b->family)
		return false;
	return a->family == AF_INET ? memcmp(&a->addr.v4, &b->addr.v4, sizeof(a->addr.v4)) == 0
	                            : memcmp(&a->addr.v6, &b->addr.v6, sizeof(a->addr.v6)) == 0;
}

gtm_remap_t *gtm_remap_new(const gtm_conf_t *old, const gtm_conf_t *conf)
{
	gtm_remap_t *m = gtm_xcalloc(1, sizeof(*m));
	m->old = old;
	m->conf = conf;
	map_kind(&m->site_new, &m->site_old, old->nsites, conf->nsites, old->sites,
	         sizeof(*old->sites), offsetof(gtm_site_t, name), gtm_conf_site, conf);
	map_kind(&m->city_new, &m->city_old, old->ncities, conf->ncities, old->cities,
	         sizeof(*old->cities), offsetof(gtm_city_t, name), gtm_conf_city, conf);
	map_kind(&m->service_new, &m->service_old, old->nservices, conf->nservices, old->services,
	         sizeof(*old->services), offsetof(gtm_service_t, name), gtm_conf_service, conf);

	/* Endpoints, per service: a service has a handful, so the pairs are
	 * compared directly (site through the remap, then the address). */
	m->ep_base = gtm_xcalloc(conf->nservices + 1, sizeof(*m->ep_base));
	for (size_t s = 0; s < conf->nservices; s++)
		m->ep_base[s + 1] = m->ep_base[s] + conf->services[s].nendpoints;
	m->endpoint_old = fill_none(m->ep_base[conf->nservices]);
	for (size_t s = 0; s < conf->nservices; s++) {
		uint32_t os = m->service_old[s];
		if (os == GTM_REMAP_NONE)
			continue;
		const gtm_service_t *nsvc = &conf->services[s], *osvc = &old->services[os];
		for (size_t e = 0; e < nsvc->nendpoints; e++) {
			const gtm_endpoint_t *ne = &nsvc->endpoints[e];
			for (size_t k = 0; k < osvc->nendpoints; k++) {
				const gtm_endpoint_t *oe = &osvc->endpoints[k];
				if (m->site_new[oe->site] == ne->site && same_address(oe, ne)) {
					m->endpoint_old[m->ep_base[s] + e] = (uint32_t)k;
					break;
				}
			}
		}
	}
	return m;
}

void gtm_remap_free(gtm_remap_t *m)
{
	if (m == NULL)
		return;
	free(m->site_new);
	free(m->site_old);
	free(m->city_new);
	free(m->city_old);
	free(m->service_new);
	free(m->service_old);
	free(m->ep_base);
	free(m->endpoint_old);
	free(m);
}

/* ---- generations ---------------------------------------------------------- */

gtm_gen_t *gtm_gen_load(const char *path, gtm_diag_t *diag)
{
	return gtm_gen_load_next(path, NULL, diag);
}

gtm_gen_t *gtm_gen_load_next(const char *path, const gtm_gen_t *cur, gtm_diag_t *diag)
{
	gtm_conf_t *conf = gtm_conf_load(path, diag);
	if (conf == NULL)
		return NULL;
	gtm_build_t *build = gtm_build_new_from(conf, cur ? cur->build : NULL, diag);
	if (build == NULL) {
		gtm_conf_free(conf);
		return NULL;
	}
	gtm_gen_t *g = gtm_xcalloc(1, sizeof(*g));
	g->conf = conf;
	g->build = build;
	return g;
}

void gtm_gen_free(gtm_gen_t *g)
{
	if (g == NULL)
		return;
	gtm_health_mon_free(g->health);
	gtm_build_free(g->build);
	gtm_conf_free(g->conf);
	free(g);
}

/* ---- the owner ------------------------------------------------------------ */

struct gtm_gen_owner {
	const char *path;
	struct event_base *base;
	gtm_gen_hooks_t hooks;
	gtm_gen_t *cur;
	gtm_conf_t *started;        /* the restart-only keys gtmd runs with */
	gtm_gen_member_t *members;
	size_t nmembers;
	bool listen_fixed;
	gtm_gen_stats_t stats;
};

gtm_gen_owner_t *gtm_gen_owner_new(const char *path, struct event_base *base,
                                   const gtm_gen_hooks_t *hooks, gtm_diag_t *diag)
{
	gtm_gen_t *g = gtm_gen_load(path, diag);
	if (g == NULL)
		return NULL;
	gtm_gen_owner_t *o = gtm_xcalloc(1, sizeof(*o));
	o->path = path;
	o->base = base;
	o->hooks = *hooks;
	o->cur = g;
	o->started = gtm_conf_restart_image(g->conf);
	g->number = 1;
	return o;
}

void gtm_gen_owner_free(gtm_gen_owner_t *o)
{
	if (o == NULL)
		return;
	gtm_gen_free(o->cur);
	gtm_conf_free(o->started);
	free(o->members);
	free(o);
}

int gtm_gen_owner_start_health(gtm_gen_owner_t *o, gtm_diag_t *diag)
{
	gtm_gen_t *g = o->cur;
	gtm_assert(g->health == NULL);
	g->health = gtm_health_mon_new(g->conf, o->base, NULL, NULL, o->hooks.on_health, o->hooks.arg,
	                               diag);
	if (g->health == NULL)
		return GTM_EINVAL;
	return gtm_health_mon_start(g->health);
}

void gtm_gen_owner_join(gtm_gen_owner_t *o, const gtm_gen_member_t *m)
{
	o->members = gtm_xgrow(o->members, o->nmembers, sizeof(*o->members));
	o->members[o->nmembers++] = *m;
}

void gtm_gen_owner_listen_fixed(gtm_gen_owner_t *o, bool fixed)
{
	o->listen_fixed = fixed;
}

gtm_gen_t *gtm_gen_owner_current(const gtm_gen_owner_t *o)
{
	return o->cur;
}

void gtm_gen_owner_stats(const gtm_gen_owner_t *o, gtm_gen_stats_t *out)
{
	*out = o->stats;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct restart_note {
	gtm_gen_owner_t *o;
	gtm_diag_t *notes;
} restart_note_t;

static void on_restart_key(const char *key, void *arg)
{
	restart_note_t *n = arg;
	if (n->o->listen_fixed && strcmp(key, "server.listen") == 0)
		return;
	log_warn("reload, %s changed: restart to apply", key);
	if (n->notes)
		gtm_diag_add(n->notes, NULL, 0, "%s changed: restart to apply", key);
}

static void refuse(gtm_gen_owner_t *o, gtm_diag_t *from, gtm_diag_t *to, const char *why)
{
	for (size_t i = 0; i < from->count; i++) {
		if (from->warn && from->warn[i])
			log_warn("%s", from->msgs[i]);
		else
			log_err("%s", from->msgs[i]);
		if (to)
			gtm_diag_copy(to, from, i);
	}
	gtm_diag_clear(from);
	log_err("reload, failed: %s, still serving the previous configuration", why);
	o->stats.reload_failures++;
}

int gtm_gen_owner_reload(gtm_gen_owner_t *o, gtm_diag_t *diag, gtm_diag_t *notes)
{
	uint64_t t0 = mono_ms();
	gtm_diag_t d = { 0 };
	gtm_gen_t *old = o->cur;
	log_info("reload, reading %s", o->path);
	gtm_gen_t *next = gtm_gen_load_next(o->path, old, &d);
	if (next == NULL) {
		char why[512];
		snprintf(why, sizeof(why), "%s refused", o->path);
		refuse(o, &d, diag, why);
		return GTM_EINVAL;
	}
	gtm_remap_t *map = gtm_remap_new(old->conf, next->conf);
	/* New probes, carrying the state of every unchanged target; the old
	 * engine keeps running until this succeeded. */
	next->health = gtm_health_mon_new(next->conf, o->base, old->health, map, o->hooks.on_health,
	                                  o->hooks.arg, &d);
	if (next->health == NULL) {
		refuse(o, &d, diag, "cannot set up the health checks");
		gtm_remap_free(map);
		gtm_gen_free(next);
		return GTM_EINVAL;
	}
	/* From here on nothing fails.  The configuration's warnings: logged,
	 * and told to whoever asked for the reload, beside the restart notes. */
	for (size_t i = 0; i < d.count; i++) {
		log_warn("%s", d.msgs[i]);
		if (notes)
			gtm_diag_copy(notes, &d, i);
	}
	gtm_diag_clear(&d);
	next->number = old->number + 1;
	restart_note_t rn = { o, notes };
	/* Against what runs (the start-up values), not the previous file: a
	 * key changed and changed back needs no restart. */
	gtm_conf_restart_changes(o->started, next->conf, on_restart_key, &rn);
	gtm_build_inherit(next->build, old->build, map);
	for (size_t i = 0; i < o->nmembers; i++) {
		log_debug("reload, rebinding %s", o->members[i].name);
		o->members[i].rebind(o->members[i].arg, next, map);
	}
	o->cur = next;
	gtm_remap_free(map);
	gtm_gen_free(old);
	gtm_health_mon_start(next->health);
	o->hooks.publish(o->hooks.arg);
	o->stats.reloads++;
	o->stats.last_reload_ms = (uint32_t)(mono_ms() - t0);
	return 0;
}
