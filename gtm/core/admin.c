/*
 * Admin state: drains (with ramps), evacuations, promotions and activated
 * cold sites: the model, its ramps and the actions that change it.  See
 * admin.h.  Its JSON codec is in admin_json.c, the state file in
 * admin_store.c and the history in admin_history.c (admin_int.h holds
 * what they share).
 *
 * A change is computed on a copy of the state, so that the caller's safety
 * rules can compare before and after and a dry run can hand the copy back
 * without touching the real one.  The state is small (a few words per
 * site, city and service), so copying it per operator action costs
 * nothing worth avoiding.
 */
#include <arpa/inet.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/core/admin.h"
#include "gtm/core/admin_int.h"
#include "gtm/core/gen.h"

static const char *const op_names[GTM_ADMIN_NOPS] = {
	[GTM_ADMIN_DRAIN] = "drain",
	[GTM_ADMIN_UNDRAIN] = "undrain",
	[GTM_ADMIN_EVACUATE] = "evacuate",
	[GTM_ADMIN_RESTORE] = "restore",
	[GTM_ADMIN_PROMOTE] = "promote",
	[GTM_ADMIN_ACTIVATE] = "activate",
	[GTM_ADMIN_DEACTIVATE] = "deactivate",
	[GTM_ADMIN_PAUSE] = "pause",
	[GTM_ADMIN_RESUME] = "resume",
	[GTM_ADMIN_DISABLE] = "disable",
	[GTM_ADMIN_ENABLE] = "enable",
};

static const char *const ep_state_names[] = {
	[GTM_ADMIN_EP_ENABLED] = "enabled",
	[GTM_ADMIN_EP_DISABLED] = "disabled",
	[GTM_ADMIN_EP_FORCE_DOWN] = "forced down",
	[GTM_ADMIN_EP_FORCE_UP] = "forced up",
};

const char *gtm_admin_ep_state_name(gtm_admin_ep_state_t s)
{
	return (unsigned)s <= GTM_ADMIN_EP_FORCE_UP ? ep_state_names[s] : "?";
}

int gtm_adm_ep_state_parse(const char *s)
{
	for (int i = GTM_ADMIN_EP_ENABLED; i <= GTM_ADMIN_EP_FORCE_UP; i++)
		if (strcmp(s, ep_state_names[i]) == 0)
			return i;
	return -1;
}

const char *gtm_admin_op_name(gtm_admin_op_t op)
{
	return (unsigned)op < GTM_ADMIN_NOPS ? op_names[op] : NULL;
}

int gtm_admin_op_parse(const char *name)
{
	for (int i = 0; i < GTM_ADMIN_NOPS; i++)
		if (strcmp(op_names[i], name) == 0)
			return i;
	return -1;
}

const char *gtm_admin_state_name(gtm_admin_site_state_t s)
{
	switch (s) {
	case GTM_ADMIN_ACTIVE: return "active";
	case GTM_ADMIN_DRAINING: return "draining";
	case GTM_ADMIN_DRAINED: return "drained";
	}
	return "?";
}

int gtm_adm_state_parse(const char *s)
{
	for (int i = GTM_ADMIN_ACTIVE; i <= GTM_ADMIN_DRAINED; i++)
		if (strcmp(s, gtm_admin_state_name(i)) == 0)
			return i;
	return -1;
}

bool gtm_adm_op_on_site(gtm_admin_op_t op)
{
	return op == GTM_ADMIN_DRAIN || op == GTM_ADMIN_UNDRAIN || op == GTM_ADMIN_ACTIVATE ||
	       op == GTM_ADMIN_DEACTIVATE || op == GTM_ADMIN_PAUSE || op == GTM_ADMIN_RESUME;
}

uint64_t gtm_admin_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Records and copies */

static char *xstrdup_or_null(const char *s)
{
	return s ? gtm_xstrdup(s) : NULL;
}

void gtm_adm_rec_clear(rec_t *r)
{
	free(r->reason);
	free(r->user);
	memset(r, 0, sizeof(*r));
}

static void rec_copy(rec_t *dst, const rec_t *src)
{
	*dst = *src;
	dst->reason = xstrdup_or_null(src->reason);
	dst->user = xstrdup_or_null(src->user);
}

static void arrays_alloc(gtm_admin_t *a, const gtm_conf_t *conf)
{
	a->conf = conf;
	a->nsites = conf->nsites;
	a->ncities = conf->ncities;
	a->nservices = conf->nservices;
	a->sites = gtm_xcalloc(a->nsites, sizeof(*a->sites));
	a->cities = gtm_xcalloc(a->ncities, sizeof(*a->cities));
	a->svcs = gtm_xcalloc(a->nservices, sizeof(*a->svcs));
	for (size_t i = 0; i < a->nservices; i++)
		a->svcs[i].master = GTM_NO_CITY;
	a->ep_off = gtm_xcalloc(a->nservices + 1, sizeof(*a->ep_off));
	for (size_t i = 0; i < a->nservices; i++)
		a->ep_off[i + 1] = a->ep_off[i] + conf->services[i].nendpoints;
	a->neps = a->ep_off[a->nservices];
	a->eps = gtm_xcalloc(a->neps ? a->neps : 1, sizeof(*a->eps));
}

static void arrays_free(gtm_admin_t *a)
{
	for (size_t i = 0; i < a->nsites; i++) {
		free(a->sites[i].pause_reason);
		gtm_adm_rec_clear(&a->sites[i].rec);
	}
	for (size_t i = 0; i < a->ncities; i++)
		gtm_adm_rec_clear(&a->cities[i].rec);
	for (size_t i = 0; i < a->nservices; i++)
		gtm_adm_rec_clear(&a->svcs[i].rec);
	for (size_t i = 0; i < a->neps; i++)
		gtm_adm_rec_clear(&a->eps[i].rec);
	free(a->sites);
	free(a->cities);
	free(a->svcs);
	free(a->eps);
	free(a->ep_off);
	a->sites = NULL;
	a->cities = NULL;
	a->svcs = NULL;
	a->eps = NULL;
	a->ep_off = NULL;
	a->neps = 0;
}

gtm_admin_t *gtm_admin_new(const gtm_conf_t *conf, const char *state_file,
                           const char *history_file)
{
	gtm_admin_t *a = gtm_xcalloc(1, sizeof(*a));
	arrays_alloc(a, conf);
	a->state_file = xstrdup_or_null(state_file);
	a->history_file = xstrdup_or_null(history_file);
	return a;
}

void gtm_admin_free(gtm_admin_t *a)
{
	if (a == NULL)
		return;
	arrays_free(a);
	free(a->state_file);
	free(a->history_file);
	free(a);
}

/* A copy of the state that is never saved (no files). */
static gtm_admin_t *admin_clone(const gtm_admin_t *a)
{
	gtm_admin_t *c = gtm_admin_new(a->conf, NULL, NULL);
	for (size_t i = 0; i < a->nsites; i++) {
		c->sites[i] = a->sites[i];
		c->sites[i].pause_reason = xstrdup_or_null(a->sites[i].pause_reason);
		rec_copy(&c->sites[i].rec, &a->sites[i].rec);
	}
	for (size_t i = 0; i < a->ncities; i++) {
		c->cities[i] = a->cities[i];
		rec_copy(&c->cities[i].rec, &a->cities[i].rec);
	}
	for (size_t i = 0; i < a->nservices; i++) {
		c->svcs[i] = a->svcs[i];
		rec_copy(&c->svcs[i].rec, &a->svcs[i].rec);
	}
	for (size_t i = 0; i < a->neps; i++) {
		c->eps[i] = a->eps[i];
		rec_copy(&c->eps[i].rec, &a->eps[i].rec);
	}
	return c;
}

const gtm_conf_t *gtm_admin_conf(const gtm_admin_t *a)
{
	return a->conf;
}

/* ------------------------------------------------------------------------ */
/* Ramps */

/* Time into the ramp at `now`, not counting pauses. */
static uint64_t ramp_elapsed(const site_adm_t *s, uint64_t now)
{
	uint64_t t = s->paused ? s->paused_at : now;
	uint64_t origin = s->ramp_start + s->paused_total;
	return t > origin ? t - origin : 0;
}

/* When step j (0 = the first, at once) is taken, relative to the ramp's
 * origin. */
static uint64_t step_offset(const site_adm_t *s, unsigned j)
{
	if (s->steps <= 1)
		return 0;
	/* j * ramp_ms / (steps - 1) without overflow for any sane duration
	 * (ramp_ms < 2^57). */
	return (uint64_t)j * s->ramp_ms / (s->steps - 1);
}

/* Steps taken (1..steps) at `now`. */
static unsigned ramp_steps_taken(const site_adm_t *s, uint64_t now)
{
	uint64_t e = ramp_elapsed(s, now);
	unsigned k = 1;
	while (k < s->steps && step_offset(s, k) <= e)
		k++;
	return k;
}

static bool ramp_done(const site_adm_t *s, uint64_t now)
{
	return ramp_steps_taken(s, now) >= s->steps;
}

/* The site's effective state at `now`: a finished ramp reads drained. */
gtm_admin_site_state_t gtm_adm_site_state(const site_adm_t *s, uint64_t now)
{
	if (s->state == GTM_ADMIN_DRAINING && ramp_done(s, now))
		return GTM_ADMIN_DRAINED;
	return s->state;
}

double gtm_adm_site_factor(const site_adm_t *s, uint64_t now)
{
	switch (s->state) {
	case GTM_ADMIN_ACTIVE: return 1.0;
	case GTM_ADMIN_DRAINED: return 0.0;
	case GTM_ADMIN_DRAINING: break;
	}
	unsigned k = ramp_steps_taken(s, now);
	return (double)(s->steps - k) / (double)s->steps;
}

/* When the site's next step is due; 0 when paused, done or not ramping. */
static uint64_t site_next_step(const site_adm_t *s, uint64_t now)
{
	if (s->state != GTM_ADMIN_DRAINING || s->paused)
		return 0;
	unsigned k = ramp_steps_taken(s, now);
	if (k >= s->steps)
		return 0;
	return s->ramp_start + s->paused_total + step_offset(s, k);
}

double gtm_admin_site_factor(const gtm_admin_t *a, uint32_t site, uint64_t now)
{
	if (site >= a->nsites)
		return 1.0;
	return gtm_adm_site_factor(&a->sites[site], now);
}

uint64_t gtm_admin_next_due(const gtm_admin_t *a, uint64_t now)
{
	uint64_t due = 0;
	for (size_t i = 0; i < a->nsites; i++) {
		uint64_t t = site_next_step(&a->sites[i], now);
		if (t && (due == 0 || t < due))
			due = t;
	}
	return due;
}

gtm_admin_view_t *gtm_admin_view_new(const gtm_admin_t *a, uint64_t now)
{
	gtm_admin_view_t *v = gtm_xcalloc(1, sizeof(*v));
	v->nsites = a->nsites;
	v->ncities = a->ncities;
	v->nservices = a->nservices;
	v->factor = gtm_xcalloc(a->nsites, sizeof(*v->factor));
	v->activated = gtm_xcalloc(a->nsites, sizeof(*v->activated));
	v->evacuated = gtm_xcalloc(a->ncities, sizeof(*v->evacuated));
	v->master = gtm_xcalloc(a->nservices, sizeof(*v->master));
	for (size_t i = 0; i < a->nsites; i++) {
		v->factor[i] = gtm_adm_site_factor(&a->sites[i], now);
		v->activated[i] = a->sites[i].activated;
	}
	for (size_t i = 0; i < a->ncities; i++)
		v->evacuated[i] = a->cities[i].evacuated;
	for (size_t i = 0; i < a->nservices; i++)
		v->master[i] = a->svcs[i].master;
	for (size_t i = 0; i < a->neps; i++) {
		gtm_admin_ep_state_t st = a->eps[i].state;
		if (st == GTM_ADMIN_EP_ENABLED)
			continue;
		if (v->ep_force == NULL) {
			v->ep_force = gtm_xcalloc(a->neps, sizeof(*v->ep_force));
			v->ep_off = gtm_xmalloc((a->nservices + 1) * sizeof(*v->ep_off));
			memcpy(v->ep_off, a->ep_off, (a->nservices + 1) * sizeof(*v->ep_off));
		}
		v->ep_force[i] = st == GTM_ADMIN_EP_FORCE_UP ? 1 : st == GTM_ADMIN_EP_FORCE_DOWN ? -1 : -2;
	}
	v->next_due = gtm_admin_next_due(a, now);
	return v;
}

void gtm_admin_view_free(gtm_admin_view_t *v)
{
	if (v == NULL)
		return;
	free(v->factor);
	free(v->activated);
	free(v->evacuated);
	free(v->master);
	free(v->ep_force);
	free(v->ep_off);
	free(v);
}

bool gtm_admin_view_eq(const gtm_admin_view_t *a, const gtm_admin_view_t *b)
{
	if (a->nsites != b->nsites || a->ncities != b->ncities || a->nservices != b->nservices ||
	    memcmp(a->factor, b->factor, a->nsites * sizeof(*a->factor)) != 0 ||
	    memcmp(a->activated, b->activated, a->nsites * sizeof(*a->activated)) != 0 ||
	    memcmp(a->evacuated, b->evacuated, a->ncities * sizeof(*a->evacuated)) != 0 ||
	    memcmp(a->master, b->master, a->nservices * sizeof(*a->master)) != 0)
		return false;
	if ((a->ep_force == NULL) != (b->ep_force == NULL))
		return false;
	if (a->ep_force == NULL)
		return true;
	size_t n = a->ep_off[a->nservices];
	return n == b->ep_off[b->nservices] &&
	       memcmp(a->ep_off, b->ep_off, (a->nservices + 1) * sizeof(*a->ep_off)) == 0 &&
	       memcmp(a->ep_force, b->ep_force, n * sizeof(*a->ep_force)) == 0;
}

int gtm_admin_site_info(const gtm_admin_t *a, uint32_t site, uint64_t now,
                        gtm_admin_site_info_t *out)
{
	if (site >= a->nsites)
		return GTM_ENOENT;
	const site_adm_t *s = &a->sites[site];
	memset(out, 0, sizeof(*out));
	out->state = gtm_adm_site_state(s, now);
	out->factor = gtm_adm_site_factor(s, now);
	out->activated = s->activated;
	if (s->state == GTM_ADMIN_DRAINING) {
		out->ramp = true;
		out->steps = s->steps;
		out->step = ramp_steps_taken(s, now);
		out->ramp_start = s->ramp_start;
		out->ramp_ms = s->ramp_ms;
		uint64_t pause_now = s->paused && now > s->paused_at ? now - s->paused_at : 0;
		out->ramp_end = s->ramp_start + s->paused_total + pause_now + s->ramp_ms;
		out->next_step = site_next_step(s, now);
		out->paused = s->paused;
		out->pause_reason = s->paused ? s->pause_reason : NULL;
	}
	out->since = s->rec.since;
	out->reason = s->rec.reason;
	out->user = s->rec.user;
	out->uid = s->rec.uid;
	out->automatic = s->rec.automatic || (s->paused && s->paused_auto);
	return 0;
}

double gtm_admin_site_weight_now(const gtm_admin_t *a, uint32_t site, uint64_t now, const char **why)
{
	const char *w = NULL;
	double v = 0;
	if (site < a->nsites) {
		const gtm_site_t *st = &a->conf->sites[site];
		const site_adm_t *s = &a->sites[site];
		double f = gtm_adm_site_factor(s, now);
		if (st->role == GTM_ROLE_COLD && !s->activated)
			w = "cold standby, not activated";
		else if (gtm_admin_city_evacuated(a, st->city))
			w = "city evacuated";
		else if (f <= 0)
			w = "drained";
		else
			v = st->weight * f;
	}
	if (why)
		*why = w;
	return v;
}

gtm_admin_ep_state_t gtm_admin_endpoint(const gtm_admin_t *a, uint32_t svc, uint32_t ep,
                                        uint64_t *since, const char **reason, const char **user)
{
	const ep_adm_t *e = svc < a->nservices && a->ep_off[svc] + ep < a->ep_off[svc + 1]
	                    ? &a->eps[a->ep_off[svc] + ep] : NULL;
	if (since)
		*since = e ? e->rec.since : 0;
	if (reason)
		*reason = e ? e->rec.reason : NULL;
	if (user)
		*user = e ? e->rec.user : NULL;
	return e ? e->state : GTM_ADMIN_EP_ENABLED;
}

int gtm_adm_find_endpoint(const gtm_conf_t *c, uint32_t svc, const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;
	int family = inet_pton(AF_INET, addr, &a4) == 1 ? AF_INET
	           : inet_pton(AF_INET6, addr, &a6) == 1 ? AF_INET6 : 0;
	if (family == 0 || svc >= c->nservices)
		return -1;
	const gtm_service_t *s = &c->services[svc];
	int found = -1;
	for (size_t i = 0; i < s->nendpoints; i++) {
		const gtm_endpoint_t *e = &s->endpoints[i];
		if (e->family != family || (family == AF_INET ? memcmp(&e->addr.v4, &a4, 4)
		                                              : memcmp(&e->addr.v6, &a6, 16)) != 0)
			continue;
		if (found >= 0)
			return -2;
		found = (int)i;
	}
	return found;
}

int gtm_adm_endpoint_parse(const gtm_conf_t *conf, const char *name, uint32_t *svc, uint32_t *ep)
{
	const char *sp = strrchr(name, ' ');
	char sname[256];
	if (sp == NULL || (size_t)(sp - name) >= sizeof(sname))
		return -1;
	memcpy(sname, name, (size_t)(sp - name));
	sname[sp - name] = '\0';
	int si = gtm_adm_find_service(conf, sname);
	int ei = si >= 0 ? gtm_adm_find_endpoint(conf, (uint32_t)si, sp + 1) : -1;
	if (ei < 0)
		return -1;
	*svc = (uint32_t)si;
	*ep = (uint32_t)ei;
	return 0;
}

bool gtm_admin_endpoint_known(const gtm_conf_t *conf, const char *name)
{
	uint32_t s, e;
	return gtm_adm_endpoint_parse(conf, name, &s, &e) == 0;
}

void gtm_adm_endpoint_name(const gtm_conf_t *c, uint32_t svc, uint32_t ep, char *buf, size_t len)
{
	const gtm_endpoint_t *e = &c->services[svc].endpoints[ep];
	char addr[INET6_ADDRSTRLEN];
	inet_ntop(e->family, &e->addr, addr, sizeof(addr));
	snprintf(buf, len, "%s %s", c->services[svc].name, addr);
}

bool gtm_admin_city_evacuated(const gtm_admin_t *a, uint32_t city)
{
	return city < a->ncities && a->cities[city].evacuated;
}

uint32_t gtm_admin_master(const gtm_admin_t *a, uint32_t svc)
{
	return svc < a->nservices ? a->svcs[svc].master : GTM_NO_CITY;
}

/* ------------------------------------------------------------------------ */
/* Names */

/* By the one name rule (common/name.h): services are DNS names. */
int gtm_adm_find_site(const gtm_conf_t *c, const char *name)
{
	uint32_t i = gtm_conf_site(c, name);
	return i == GTM_NAME_NONE ? -1 : (int)i;
}

int gtm_adm_find_city(const gtm_conf_t *c, const char *name)
{
	uint32_t i = gtm_conf_city(c, name);
	return i == GTM_NAME_NONE ? -1 : (int)i;
}

int gtm_adm_find_service(const gtm_conf_t *c, const char *name)
{
	uint32_t i = gtm_conf_service(c, name);
	return i == GTM_NAME_NONE ? -1 : (int)i;
}

bool gtm_adm_service_has_site_in(const gtm_conf_t *c, const gtm_service_t *svc, uint32_t city)
{
	for (size_t i = 0; i < svc->nendpoints; i++)
		if (c->sites[svc->endpoints[i].site].city == city)
			return true;
	return false;
}

/* The master a global service has now: the override or the configuration's. */
uint32_t gtm_adm_effective_master(const gtm_admin_t *a, size_t svc)
{
	uint32_t m = a->svcs[svc].master;
	return m != GTM_NO_CITY ? m : a->conf->services[svc].master;
}

const char *gtm_adm_city_name(const gtm_conf_t *c, uint32_t city)
{
	return city < c->ncities ? c->cities[city].name : "none";
}

void gtm_adm_reset(gtm_admin_t *a, const gtm_conf_t *conf)
{
	arrays_free(a);
	arrays_alloc(a, conf);
}

/* The state file is written by admin_store.c. */
static int save(const gtm_admin_t *a, uint64_t now, char *err, size_t errlen)
{
	return gtm_adm_save(a, now, err, errlen);
}

const char *gtm_adm_master_drop(const gtm_conf_t *conf, uint32_t svc, uint32_t city)
{
	if (conf->services[svc].policy != GTM_POLICY_GLOBAL)
		return "no longer global";
	if (city == GTM_REMAP_NONE)
		return "its master city is no longer in the configuration";
	if (!gtm_adm_service_has_site_in(conf, &conf->services[svc], city))
		return "no longer has a site in its master city";
	return NULL;
}

void gtm_admin_rebind(gtm_admin_t *a, const gtm_conf_t *conf, const gtm_remap_t *map)
{
	/* Every entry moves through the remap, in O(objects); what the new
	 * configuration cannot hold is dropped, logged, and the state saved. */
	gtm_admin_t old = *a;
	arrays_alloc(a, conf);
	const char *what = "after reload";
	int dropped = 0;
	for (size_t i = 0; i < old.nsites; i++) {
		site_adm_t *st = &old.sites[i];
		bool set = st->state != GTM_ADMIN_ACTIVE || st->activated || st->rec.since != 0;
		uint32_t n = map->site_new[i];
		if (n == GTM_REMAP_NONE) {
			if (set) {
				log_warn("admin, site %s, state %s dropped (%s: not in the configuration)",
				         old.conf->sites[i].name, gtm_admin_state_name(st->state), what);
				dropped++;
			}
			continue;
		}
		if (st->activated && conf->sites[n].role != GTM_ROLE_COLD) {
			/* Only the activation is dropped; a drain still holds. */
			log_warn("admin, site %s, activation dropped (%s: the site is no longer cold)",
			         conf->sites[n].name, what);
			st->activated = false;
			dropped++;
		}
		a->sites[n] = *st;
		*st = (site_adm_t){ 0 };   /* moved: its strings belong to a now */
	}
	for (size_t i = 0; i < old.ncities; i++) {
		city_adm_t *st = &old.cities[i];
		uint32_t n = map->city_new[i];
		if (n == GTM_REMAP_NONE) {
			if (st->evacuated || st->rec.since != 0) {
				log_warn("admin, city %s, %s dropped (%s: not in the configuration)",
				         old.conf->cities[i].name, st->evacuated ? "evacuation" : "record", what);
				dropped++;
			}
			continue;
		}
		a->cities[n] = *st;
		*st = (city_adm_t){ 0 };
	}
	for (size_t i = 0; i < old.nservices; i++) {
		svc_adm_t *st = &old.svcs[i];
		uint32_t n = map->service_new[i];
		bool set = st->master != GTM_NO_CITY || st->rec.since != 0;
		const char *drop = NULL;
		uint32_t city = st->master == GTM_NO_CITY ? GTM_NO_CITY : map->city_new[st->master];
		if (n == GTM_REMAP_NONE)
			drop = "not in the configuration";
		else if (st->master != GTM_NO_CITY)
			drop = gtm_adm_master_drop(conf, n, city);
		if (drop) {
			if (set) {
				log_warn("admin, service %s, master %s dropped (%s: %s)", old.conf->services[i].name,
				         st->master != GTM_NO_CITY ? old.conf->cities[st->master].name : "record",
				         what, drop);
				dropped++;
			}
			continue;
		}
		a->svcs[n] = *st;
		a->svcs[n].master = city;
		*st = (svc_adm_t){ .master = GTM_NO_CITY };
	}
	/* Endpoints: the same service, site and address (the remap's). */
	for (size_t s = 0; s < conf->nservices; s++) {
		uint32_t os = map->service_old[s];
		if (os == GTM_REMAP_NONE)
			continue;
		for (size_t e = 0; e < conf->services[s].nendpoints; e++) {
			uint32_t oe = gtm_remap_endpoint_old(map, s, e);
			if (oe == GTM_REMAP_NONE)
				continue;
			ep_adm_t *st = &old.eps[old.ep_off[os] + oe];
			a->eps[a->ep_off[s] + e] = *st;
			*st = (ep_adm_t){ 0 };
		}
	}
	for (size_t s = 0; s < old.nservices; s++)
		for (size_t e = old.ep_off[s]; e < old.ep_off[s + 1]; e++)
			if (old.eps[e].state != GTM_ADMIN_EP_ENABLED) {
				char name[320];
				gtm_adm_endpoint_name(old.conf, (uint32_t)s, (uint32_t)(e - old.ep_off[s]), name,
				                      sizeof(name));
				log_warn("admin, endpoint %s, %s dropped (%s: not in the configuration)", name,
				         gtm_admin_ep_state_name(old.eps[e].state), what);
				dropped++;
			}
	arrays_free(&old);
	char err[512];
	if (dropped > 0 && save(a, gtm_admin_now(), err, sizeof(err)) != 0)
		log_err("admin, state file not saved (%s)", err);
}

static void swap_state(gtm_admin_t *a, gtm_admin_t *b);

void gtm_admin_adopt(gtm_admin_t *a, gtm_admin_t *next)
{
	gtm_assert(next->conf == a->conf);
	swap_state(a, next);
	char err[512];
	if (a->state_file && save(a, gtm_admin_now(), err, sizeof(err)) != 0)
		log_err("admin, state file not saved (%s)", err);
}

/* ------------------------------------------------------------------------ */
/* Applying actions */

/* The change being computed. */
typedef struct change {
	const gtm_admin_action_t *act;
	uint64_t now;
	rec_t rec;           /* the record every changed object gets */
	json_t *changes;     /* [{"object","name","field","old","new"}] */
	char msg[512];
	size_t msglen;
} change_t;

static void msg_add(change_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg_add(change_t *c, const char *fmt, ...)
{
	if (c->msglen >= sizeof(c->msg) - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->msg + c->msglen, sizeof(c->msg) - c->msglen, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->msglen += (size_t)n;
	if (c->msglen > sizeof(c->msg) - 1)
		c->msglen = sizeof(c->msg) - 1;
}

/* Records one changed field and stamps the object's record. */
static void changed(change_t *c, rec_t *r, const char *object, const char *name,
                    const char *field, const char *old, const char *new)
{
	json_t *o = json_object();
	json_object_set_new(o, "object", json_string(object));
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "field", json_string(field));
	json_object_set_new(o, "old", json_string(old));
	json_object_set_new(o, "new", json_string(new));
	json_array_append_new(c->changes, o);
	gtm_adm_rec_clear(r);
	rec_copy(r, &c->rec);
	msg_add(c, "%s%s %s: %s %s -> %s", json_array_size(c->changes) > 1 ? "; " : "",
	        object, name, field, old, new);
}

static void fmt_ms(char *buf, size_t len, uint64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%llu s", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%.3g s", (double)ms / 1000.0);
}

static int do_site(gtm_admin_t *n, uint32_t i, change_t *c, char *err, size_t errlen)
{
	const gtm_admin_action_t *act = c->act;
	const char *name = n->conf->sites[i].name;
	site_adm_t *s = &n->sites[i];
	gtm_admin_site_state_t st = gtm_adm_site_state(s, c->now);
	const char *old = gtm_admin_state_name(st);

	switch (act->op) {
	case GTM_ADMIN_DRAIN:
		if (st == GTM_ADMIN_DRAINED) {
			snprintf(err, errlen, "site %s is already drained", name);
			return 0;
		}
		if (st == GTM_ADMIN_DRAINING && act->ramp_ms > 0) {
			snprintf(err, errlen, "site %s is already draining (step %u of %u); "
			         "undrain it first, or drain it without a ramp to finish now",
			         name, ramp_steps_taken(s, c->now), s->steps);
			return GTM_EINVAL;
		}
		free(s->pause_reason);
		s->pause_reason = NULL;
		s->paused = false;
		s->paused_at = s->paused_total = 0;
		if (act->ramp_ms > 0) {
			unsigned steps = act->steps ? act->steps : GTM_ADMIN_DEFAULT_STEPS;
			if (steps > GTM_ADMIN_MAX_STEPS) {
				snprintf(err, errlen, "steps must be 1..%d", GTM_ADMIN_MAX_STEPS);
				return GTM_EINVAL;
			}
			s->state = GTM_ADMIN_DRAINING;
			s->ramp_start = c->now;
			s->ramp_ms = act->ramp_ms;
			s->steps = steps;
			char d[32];
			fmt_ms(d, sizeof(d), act->ramp_ms);
			changed(c, &s->rec, "site", name, "admin", old, "draining");
			msg_add(c, " (ramp %s in %u steps)", d, steps);
		} else {
			s->state = GTM_ADMIN_DRAINED;
			s->ramp_start = s->ramp_ms = 0;
			s->steps = 0;
			changed(c, &s->rec, "site", name, "admin", old, "drained");
		}
		return 0;
	case GTM_ADMIN_UNDRAIN:
		if (s->state == GTM_ADMIN_ACTIVE) {
			snprintf(err, errlen, "site %s is already active", name);
			return 0;
		}
		free(s->pause_reason);
		s->pause_reason = NULL;
		s->state = GTM_ADMIN_ACTIVE;
		s->paused = false;
		s->ramp_start = s->ramp_ms = s->paused_at = s->paused_total = 0;
		s->steps = 0;
		changed(c, &s->rec, "site", name, "admin", old, "active");
		return 0;
	case GTM_ADMIN_ACTIVATE:
	case GTM_ADMIN_DEACTIVATE: {
		bool on = act->op == GTM_ADMIN_ACTIVATE;
		if (n->conf->sites[i].role != GTM_ROLE_COLD) {
			snprintf(err, errlen, "site %s is not a cold site; %s applies only to "
			         "sites with role \"cold\"", name, gtm_admin_op_name(act->op));
			return GTM_EINVAL;
		}
		if (s->activated == on) {
			snprintf(err, errlen, "site %s is already %s", name,
			         on ? "activated" : "deactivated");
			return 0;
		}
		s->activated = on;
		changed(c, &s->rec, "site", name, "activated", on ? "no" : "yes", on ? "yes" : "no");
		return 0;
	}
	case GTM_ADMIN_PAUSE:
	case GTM_ADMIN_RESUME: {
		bool pause = act->op == GTM_ADMIN_PAUSE;
		if (st != GTM_ADMIN_DRAINING) {
			snprintf(err, errlen, "site %s has no ramp in progress (it is %s)", name, old);
			return GTM_EINVAL;
		}
		if (s->paused == pause) {
			snprintf(err, errlen, "the ramp of site %s is already %s", name,
			         pause ? "paused" : "running");
			return 0;
		}
		if (pause) {
			s->paused = true;
			s->paused_auto = act->automatic;
			s->paused_at = c->now;
			free(s->pause_reason);
			s->pause_reason = xstrdup_or_null(act->reason);
		} else {
			s->paused_total += c->now > s->paused_at ? c->now - s->paused_at : 0;
			s->paused = false;
			s->paused_auto = false;
			s->paused_at = 0;
			free(s->pause_reason);
			s->pause_reason = NULL;
		}
		/* gtmd's own pause and resume are recorded in the history but
		 * leave the drain's record alone: its reason and author stay the
		 * operator's (the pause's reason is pause_reason), so status never
		 * shows a stale "receiving sites up again" nor the pause twice. */
		rec_t keep = { 0 };
		if (act->automatic)
			rec_copy(&keep, &s->rec);
		changed(c, &s->rec, "site", name, "ramp", pause ? "running" : "paused",
		        pause ? "paused" : "running");
		if (act->automatic) {
			gtm_adm_rec_clear(&s->rec);
			s->rec = keep;
		}
		if (pause && act->reason)
			msg_add(c, " (%s)", act->reason);
		return 0;
	}
	default:
		break;
	}
	return GTM_EINVAL;
}

static int do_city(gtm_admin_t *n, uint32_t ci, change_t *c, char *err, size_t errlen)
{
	const gtm_admin_action_t *act = c->act;
	const gtm_conf_t *conf = n->conf;
	const char *name = conf->cities[ci].name;

	if (act->op == GTM_ADMIN_EVACUATE || act->op == GTM_ADMIN_RESTORE) {
		bool on = act->op == GTM_ADMIN_EVACUATE;
		city_adm_t *city = &n->cities[ci];
		if (city->evacuated == on) {
			snprintf(err, errlen, "city %s is already %s", name,
			         on ? "evacuated" : "in service");
			return 0;
		}
		city->evacuated = on;
		changed(c, &city->rec, "city", name, "evacuated", on ? "no" : "yes", on ? "yes" : "no");
		return 0;
	}

	/* promote */
	size_t first = 0, end = conf->nservices;
	if (act->service) {
		int s = gtm_adm_find_service(conf, act->service);
		if (s < 0) {
			snprintf(err, errlen, "unknown service %s", act->service);
			return GTM_ENOENT;
		}
		if (conf->services[s].policy != GTM_POLICY_GLOBAL) {
			snprintf(err, errlen, "service %s is not global; promote applies only "
			         "to services with policy \"global\"", act->service);
			return GTM_EINVAL;
		}
		first = (size_t)s;
		end = first + 1;
	}
	size_t nglobal = 0;
	for (size_t i = first; i < end; i++) {
		const gtm_service_t *svc = &conf->services[i];
		if (svc->policy != GTM_POLICY_GLOBAL)
			continue;
		nglobal++;
		if (!gtm_adm_service_has_site_in(conf, svc, ci)) {
			snprintf(err, errlen, "service %s has no site in city %s%s", svc->name,
			         name, act->service ? "" : "; name the services to promote with --service");
			return GTM_EINVAL;
		}
	}
	if (nglobal == 0) {
		snprintf(err, errlen, "no service has policy \"global\"; nothing to promote");
		return GTM_EINVAL;
	}
	for (size_t i = first; i < end; i++) {
		const gtm_service_t *svc = &conf->services[i];
		if (svc->policy != GTM_POLICY_GLOBAL)
			continue;
		uint32_t old = gtm_adm_effective_master(n, i);
		if (old == ci)
			continue;
		/* Promoting back to the configured master drops the override, so
		 * that a later change of the configuration takes effect. */
		n->svcs[i].master = ci == svc->master ? GTM_NO_CITY : ci;
		changed(c, &n->svcs[i].rec, "service", svc->name, "master",
		        gtm_adm_city_name(conf, old), name);
	}
	if (json_array_size(c->changes) == 0)
		snprintf(err, errlen, "city %s is already the master%s", name,
		         act->service ? "" : " of every global service");
	return 0;
}

/* disable / enable one endpoint (service `svc`, its endpoint `e`). */
static int do_endpoint(gtm_admin_t *n, uint32_t svc, uint32_t e, change_t *c, char *err, size_t errlen)
{
	const gtm_admin_action_t *act = c->act;
	ep_adm_t *ep = &n->eps[n->ep_off[svc] + e];
	gtm_admin_ep_state_t want = act->op == GTM_ADMIN_DISABLE
		? (act->forced_state ? GTM_ADMIN_EP_FORCE_DOWN : GTM_ADMIN_EP_DISABLED)
		: (act->forced_state ? GTM_ADMIN_EP_FORCE_UP : GTM_ADMIN_EP_ENABLED);
	char name[320];
	gtm_adm_endpoint_name(n->conf, svc, e, name, sizeof(name));
	if (ep->state == want) {
		snprintf(err, errlen, "endpoint %s is already %s", name, gtm_admin_ep_state_name(want));
		return 0;
	}
	const char *old = gtm_admin_ep_state_name(ep->state);
	ep->state = want;
	changed(c, &ep->rec, "endpoint", name, "admin", old, gtm_admin_ep_state_name(want));
	return 0;
}

static char *user_of(uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		return gtm_xstrdup(res->pw_name);
	return NULL;
}

/* The history records of a change: one per changed field. */
static json_t *history_records(const change_t *c)
{
	const gtm_admin_action_t *act = c->act;
	json_t *out = json_array();
	size_t i;
	json_t *ch;
	json_array_foreach(c->changes, i, ch) {
		json_t *r = json_deep_copy(ch);
		json_object_set_new(r, "time", json_integer((json_int_t)c->now));
		json_object_set_new(r, "op", json_string(gtm_admin_op_name(act->op)));
		if (act->op == GTM_ADMIN_DRAIN && act->ramp_ms) {
			json_object_set_new(r, "ramp", json_real((double)act->ramp_ms / 1000.0));
			json_object_set_new(r, "steps", json_integer(act->steps ? act->steps
			                                                        : GTM_ADMIN_DEFAULT_STEPS));
		}
		if (c->rec.reason)
			json_object_set_new(r, "reason", json_string(c->rec.reason));
		json_object_set_new(r, "uid", json_integer(c->rec.uid));
		if (c->rec.user)
			json_object_set_new(r, "user", json_string(c->rec.user));
		json_object_set_new(r, "auto", json_boolean(c->rec.automatic));
		json_object_set_new(r, "force", json_boolean(act->force));
		json_array_append_new(out, r);
	}
	return out;
}

static void swap_state(gtm_admin_t *a, gtm_admin_t *b)
{
	site_adm_t *s = a->sites;
	city_adm_t *c = a->cities;
	svc_adm_t *v = a->svcs;
	ep_adm_t *e = a->eps;
	a->sites = b->sites;
	a->cities = b->cities;
	a->svcs = b->svcs;
	a->eps = b->eps;
	b->sites = s;
	b->cities = c;
	b->svcs = v;
	b->eps = e;
}

int gtm_admin_apply(gtm_admin_t *a, const gtm_admin_action_t *act, uint64_t now,
                    gtm_admin_check_cb_t check, void *arg, gtm_admin_result_t *res)
{
	memset(res, 0, sizeof(*res));
	res->changes = json_array();
	const char *opname = gtm_admin_op_name(act->op);
	if (opname == NULL) {
		snprintf(res->message, sizeof(res->message), "unknown action %d", (int)act->op);
		return GTM_EINVAL;
	}
	if (act->target == NULL || act->target[0] == '\0') {
		snprintf(res->message, sizeof(res->message), "%s: no %s named", opname,
		         gtm_adm_op_on_site(act->op) ? "site" : "city");
		return GTM_EINVAL;
	}
	/* Every object first: an unknown or repeated name refuses the whole. */
	uint32_t idx[GTM_ADMIN_MAX_TARGETS];
	size_t nidx = 0;
	bool on_site = gtm_adm_op_on_site(act->op);
	bool on_ep = act->op == GTM_ADMIN_DISABLE || act->op == GTM_ADMIN_ENABLE;
	uint32_t ep_svc = 0;
	if (on_ep) {
		/* One endpoint: SERVICE ADDRESS. */
		int si = act->service ? gtm_adm_find_service(a->conf, act->service) : -1;
		if (si < 0) {
			snprintf(res->message, sizeof(res->message), "%s: unknown service %s", opname,
			         act->service ? act->service : "(none named)");
			return GTM_ENOENT;
		}
		int ei = gtm_adm_find_endpoint(a->conf, (uint32_t)si, act->target);
		if (ei == -2) {
			snprintf(res->message, sizeof(res->message), "%s: service %s has %s at several sites",
			         opname, act->service, act->target);
			return GTM_EINVAL;
		}
		if (ei < 0 || act->nmore > 0) {
			snprintf(res->message, sizeof(res->message), act->nmore ? "%s: one endpoint at a time"
			         : "%s: service %s has no endpoint %s", opname, act->service, act->target);
			return act->nmore ? GTM_EINVAL : GTM_ENOENT;
		}
		ep_svc = (uint32_t)si;
		idx[nidx++] = (uint32_t)ei;
	}
	if (act->nmore > GTM_ADMIN_MAX_TARGETS - 1) {
		snprintf(res->message, sizeof(res->message), "%s: at most %d objects at once", opname,
		         GTM_ADMIN_MAX_TARGETS);
		return GTM_EINVAL;
	}
	for (size_t k = 0; !on_ep && k <= act->nmore; k++) {
		const char *name = k == 0 ? act->target : act->more[k - 1];
		int i = name == NULL ? -1 : on_site ? gtm_adm_find_site(a->conf, name)
		                                    : gtm_adm_find_city(a->conf, name);
		if (i < 0) {
			snprintf(res->message, sizeof(res->message), "unknown %s %s", on_site ? "site" : "city",
			         name ? name : "(none)");
			return GTM_ENOENT;
		}
		for (size_t j = 0; j < nidx; j++)
			if (idx[j] == (uint32_t)i) {
				snprintf(res->message, sizeof(res->message), "%s: %s named twice", opname, name);
				return GTM_EINVAL;
			}
		idx[nidx++] = (uint32_t)i;
	}
	if (act->op == GTM_ADMIN_DRAIN && act->ramp_ms > 0 &&
	    (act->steps > GTM_ADMIN_MAX_STEPS)) {
		snprintf(res->message, sizeof(res->message), "steps must be 1..%d",
		         GTM_ADMIN_MAX_STEPS);
		return GTM_EINVAL;
	}

	change_t c = { .act = act, .now = now, .changes = res->changes };
	c.rec.since = now;
	c.rec.reason = (char *)act->reason;
	c.rec.uid = act->uid;
	c.rec.automatic = act->automatic;
	char *user = act->user ? gtm_xstrdup(act->user)
	                       : act->automatic ? gtm_xstrdup("gtmd") : user_of(act->uid);
	c.rec.user = user;

	gtm_admin_t *next = admin_clone(a);
	int rc = 0;
	for (size_t k = 0; k < nidx && rc == 0; k++)
		rc = on_ep ? do_endpoint(next, ep_svc, idx[k], &c, res->message, sizeof(res->message))
		   : on_site ? do_site(next, idx[k], &c, res->message, sizeof(res->message))
		             : do_city(next, idx[k], &c, res->message, sizeof(res->message));
	if (rc != 0) {
		/* One object failed: nothing of the others is kept. */
		json_array_clear(res->changes);
		goto finish;
	}
	if (json_array_size(c.changes) == 0)
		goto finish;      /* nothing to change (message set) */

	res->changed = true;
	if (!act->force && check) {
		char why[400] = "";
		if (check(a, next, act, now, arg, why, sizeof(why)) != 0) {
			res->refused = true;
			res->changed = false;
			snprintf(res->message, sizeof(res->message), "%s refused: %s%s", opname,
			         why[0] ? why : "the safety rules say no", " (--force overrides)");
			/* A refused dry run still shows what the change would do
			 * (the changes and the would-be state): the operator sees
			 * the refusal and the whole preview. */
			if (act->dry_run) {
				res->preview = next;
				next = NULL;
			} else {
				json_array_clear(res->changes);
			}
			/* A dry run changes nothing, and its log line must not read
			 * as if an action had been tried and turned down. */
			log_info("admin, %s %s%s %s (%s; uid %u%s%s)", opname, act->target,
			         act->nmore ? " and more" : "",
			         act->dry_run ? "would be refused (dry run)" : "refused",
			         why[0] ? why : "safety rules", (unsigned)act->uid,
			         user ? ", " : "", user ? user : "");
			goto finish;
		}
	}
	if (act->dry_run) {
		snprintf(res->message, sizeof(res->message), "would change: %.480s", c.msg);
		res->preview = next;
		next = NULL;
		goto finish;
	}
	res->history = history_records(&c);
	if (act->propose) {
		snprintf(res->message, sizeof(res->message), "%s", c.msg);
		res->preview = next;
		next = NULL;
		goto finish;
	}

	swap_state(a, next);
	snprintf(res->message, sizeof(res->message), "%s", c.msg);
	log_info("admin, %s (%s%s; uid %u%s%s%s)", c.msg, act->automatic ? "automatic, " : "",
	         act->reason ? act->reason : "no reason given", (unsigned)act->uid,
	         user ? ", " : "", user ? user : "", act->force ? ", forced" : "");
	char err[512];
	if (gtm_adm_history_write(a, res->history, err, sizeof(err)) != 0) {
		log_err("admin, history not written (%s)", err);
		size_t l = strlen(res->message);
		snprintf(res->message + l, sizeof(res->message) - l, " (history not written: %s)", err);
	}
	if (a->state_file) {
		if (save(a, now, err, sizeof(err)) != 0) {
			log_err("admin, state file not saved (%s)", err);
			size_t l = strlen(res->message);
			snprintf(res->message + l, sizeof(res->message) - l, " (state not saved: %s)", err);
		} else {
			res->saved = true;
		}
	}
finish:
	gtm_admin_free(next);
	free(user);
	return rc;
}

void gtm_admin_result_clear(gtm_admin_result_t *res)
{
	json_decref(res->changes);
	json_decref(res->history);
	gtm_admin_free(res->preview);
	memset(res, 0, sizeof(*res));
}

int gtm_admin_settle(gtm_admin_t *a, uint64_t now)
{
	int n = 0;
	for (size_t i = 0; i < a->nsites; i++) {
		site_adm_t *s = &a->sites[i];
		if (s->state != GTM_ADMIN_DRAINING || !ramp_done(s, now))
			continue;
		s->state = GTM_ADMIN_DRAINED;
		s->ramp_start = s->ramp_ms = s->paused_at = s->paused_total = 0;
		s->steps = 0;
		s->paused = false;
		log_info("admin, site %s, admin draining -> drained (ramp done)", a->conf->sites[i].name);
		json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:b}", "object", "site",
		                      "name", a->conf->sites[i].name, "field", "admin",
		                      "old", "draining", "new", "drained", "time", (json_int_t)now,
		                      "op", "ramp done", "auto", 1);
		gtm_admin_history_append(a, r);
		json_decref(r);
		n++;
	}
	char err[512];
	if (n && save(a, now, err, sizeof(err)) != 0)
		log_err("admin, state file not saved (%s)", err);
	return n;
}

