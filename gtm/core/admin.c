/*
 * Admin state: drains (with ramps), evacuations, promotions and activated
 * cold sites; their records, history and persistence.  See admin.h.
 *
 * A change is computed on a copy of the state, so that the caller's safety
 * rules can compare before and after and a dry run can hand the copy back
 * without touching the real one.  The state is small (a few words per
 * site, city and service), so copying it per operator action costs
 * nothing worth avoiding.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/core/admin.h"
#include "gtm/core/gen.h"

#define STATE_VERSION 1

/* Who changed an object last, why and when. */
typedef struct rec {
	uint64_t since;       /* 0: never changed */
	char *reason;
	char *user;
	uid_t uid;
	bool automatic;
} rec_t;

typedef struct site_adm {
	gtm_admin_site_state_t state;
	bool activated;
	/* the ramp, when state is DRAINING */
	uint64_t ramp_start, ramp_ms;
	unsigned steps;
	bool paused;
	uint64_t paused_at, paused_total;
	char *pause_reason;
	rec_t rec;
} site_adm_t;

typedef struct city_adm {
	bool evacuated;
	rec_t rec;
} city_adm_t;

typedef struct svc_adm {
	uint32_t master;      /* GTM_NO_CITY: the configuration's */
	rec_t rec;
} svc_adm_t;

struct gtm_admin {
	const gtm_conf_t *conf;
	char *state_file;
	char *history_file;
	size_t nsites, ncities, nservices;
	site_adm_t *sites;
	city_adm_t *cities;
	svc_adm_t *svcs;
};

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
};

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

static int state_parse(const char *s)
{
	for (int i = GTM_ADMIN_ACTIVE; i <= GTM_ADMIN_DRAINED; i++)
		if (strcmp(s, gtm_admin_state_name(i)) == 0)
			return i;
	return -1;
}

static bool op_on_site(gtm_admin_op_t op)
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

static void rec_clear(rec_t *r)
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
}

static void arrays_free(gtm_admin_t *a)
{
	for (size_t i = 0; i < a->nsites; i++) {
		free(a->sites[i].pause_reason);
		rec_clear(&a->sites[i].rec);
	}
	for (size_t i = 0; i < a->ncities; i++)
		rec_clear(&a->cities[i].rec);
	for (size_t i = 0; i < a->nservices; i++)
		rec_clear(&a->svcs[i].rec);
	free(a->sites);
	free(a->cities);
	free(a->svcs);
	a->sites = NULL;
	a->cities = NULL;
	a->svcs = NULL;
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
static gtm_admin_site_state_t site_state(const site_adm_t *s, uint64_t now)
{
	if (s->state == GTM_ADMIN_DRAINING && ramp_done(s, now))
		return GTM_ADMIN_DRAINED;
	return s->state;
}

static double site_factor(const site_adm_t *s, uint64_t now)
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
	return site_factor(&a->sites[site], now);
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
		v->factor[i] = site_factor(&a->sites[i], now);
		v->activated[i] = a->sites[i].activated;
	}
	for (size_t i = 0; i < a->ncities; i++)
		v->evacuated[i] = a->cities[i].evacuated;
	for (size_t i = 0; i < a->nservices; i++)
		v->master[i] = a->svcs[i].master;
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
	free(v);
}

int gtm_admin_site_info(const gtm_admin_t *a, uint32_t site, uint64_t now,
                        gtm_admin_site_info_t *out)
{
	if (site >= a->nsites)
		return GTM_ENOENT;
	const site_adm_t *s = &a->sites[site];
	memset(out, 0, sizeof(*out));
	out->state = site_state(s, now);
	out->factor = site_factor(s, now);
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
	out->automatic = s->rec.automatic;
	return 0;
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
static int find_site(const gtm_conf_t *c, const char *name)
{
	uint32_t i = gtm_conf_site(c, name);
	return i == GTM_NAME_NONE ? -1 : (int)i;
}

static int find_city(const gtm_conf_t *c, const char *name)
{
	uint32_t i = gtm_conf_city(c, name);
	return i == GTM_NAME_NONE ? -1 : (int)i;
}

static int find_service(const gtm_conf_t *c, const char *name)
{
	uint32_t i = gtm_conf_service(c, name);
	return i == GTM_NAME_NONE ? -1 : (int)i;
}

static bool service_has_site_in(const gtm_conf_t *c, const gtm_service_t *svc, uint32_t city)
{
	for (size_t i = 0; i < svc->nendpoints; i++)
		if (c->sites[svc->endpoints[i].site].city == city)
			return true;
	return false;
}

/* The master a global service has now: the override or the configuration's. */
static uint32_t effective_master(const gtm_admin_t *a, size_t svc)
{
	uint32_t m = a->svcs[svc].master;
	return m != GTM_NO_CITY ? m : a->conf->services[svc].master;
}

static const char *city_name(const gtm_conf_t *c, uint32_t city)
{
	return city < c->ncities ? c->cities[city].name : "none";
}

/* ------------------------------------------------------------------------ */
/* JSON: state file and status */

static void rec_to_json(json_t *o, const rec_t *r)
{
	if (r->since == 0)
		return;
	json_object_set_new(o, "since", json_integer((json_int_t)r->since));
	if (r->reason)
		json_object_set_new(o, "reason", json_string(r->reason));
	json_object_set_new(o, "uid", json_integer(r->uid));
	if (r->user)
		json_object_set_new(o, "user", json_string(r->user));
	if (r->automatic)
		json_object_set_new(o, "auto", json_true());
}

json_t *gtm_admin_to_json(const gtm_admin_t *a, uint64_t now, bool all)
{
	json_t *root = json_object();
	json_t *sites = json_object(), *cities = json_object(), *svcs = json_object();
	json_object_set_new(root, "version", json_integer(STATE_VERSION));

	for (size_t i = 0; i < a->nsites; i++) {
		const site_adm_t *s = &a->sites[i];
		if (!all && s->state == GTM_ADMIN_ACTIVE && !s->activated && s->rec.since == 0)
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "state", json_string(gtm_admin_state_name(
			all ? site_state(s, now) : s->state)));
		if (all)
			json_object_set_new(o, "factor", json_real(site_factor(s, now)));
		json_object_set_new(o, "activated", json_boolean(s->activated));
		if (s->state == GTM_ADMIN_DRAINING) {
			json_t *r = json_object();
			json_object_set_new(r, "start", json_integer((json_int_t)s->ramp_start));
			json_object_set_new(r, "duration", json_integer((json_int_t)s->ramp_ms));
			json_object_set_new(r, "steps", json_integer(s->steps));
			json_object_set_new(r, "paused", json_boolean(s->paused));
			json_object_set_new(r, "paused_at", json_integer((json_int_t)s->paused_at));
			json_object_set_new(r, "paused_total", json_integer((json_int_t)s->paused_total));
			if (s->pause_reason)
				json_object_set_new(r, "pause_reason", json_string(s->pause_reason));
			if (all) {
				gtm_admin_site_info_t info;
				gtm_admin_site_info(a, (uint32_t)i, now, &info);
				json_object_set_new(r, "step", json_integer(info.step));
				json_object_set_new(r, "end", json_integer((json_int_t)info.ramp_end));
				json_object_set_new(r, "next", json_integer((json_int_t)info.next_step));
			}
			json_object_set_new(o, "ramp", r);
		}
		rec_to_json(o, &s->rec);
		json_object_set_new(sites, a->conf->sites[i].name, o);
	}
	for (size_t i = 0; i < a->ncities; i++) {
		const city_adm_t *c = &a->cities[i];
		if (!all && !c->evacuated && c->rec.since == 0)
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "evacuated", json_boolean(c->evacuated));
		rec_to_json(o, &c->rec);
		json_object_set_new(cities, a->conf->cities[i].name, o);
	}
	for (size_t i = 0; i < a->nservices; i++) {
		const svc_adm_t *v = &a->svcs[i];
		if (!all && v->master == GTM_NO_CITY && v->rec.since == 0)
			continue;
		if (all && a->conf->services[i].policy != GTM_POLICY_GLOBAL)
			continue;
		json_t *o = json_object();
		if (v->master != GTM_NO_CITY)
			json_object_set_new(o, "master", json_string(city_name(a->conf, v->master)));
		else
			json_object_set_new(o, "master", json_null());
		if (all)
			json_object_set_new(o, "effective_master",
			                    json_string(city_name(a->conf, effective_master(a, i))));
		rec_to_json(o, &v->rec);
		json_object_set_new(svcs, a->conf->services[i].name, o);
	}
	json_object_set_new(root, "sites", sites);
	json_object_set_new(root, "cities", cities);
	json_object_set_new(root, "services", svcs);
	return root;
}

/* Reading: a wrong type anywhere is a corrupt file (GTM_EPARSE, with the
 * reason in `err`); a name that is gone is only dropped. */

static int get_u64(const json_t *o, const char *key, uint64_t *out, bool required,
                   char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL && !required)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "\"%s\" must be a non-negative integer", key);
		return GTM_EPARSE;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_str(const json_t *o, const char *key, char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" must be a string", key);
		return GTM_EPARSE;
	}
	free(*out);
	*out = gtm_xstrdup(json_string_value(v));
	return 0;
}

static int get_bool(const json_t *o, const char *key, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "\"%s\" must be true or false", key);
		return GTM_EPARSE;
	}
	*out = json_is_true(v);
	return 0;
}

static int rec_from_json(const json_t *o, rec_t *r, char *err, size_t errlen)
{
	uint64_t uid = 0;
	int rc;
	if ((rc = get_u64(o, "since", &r->since, false, err, errlen)) ||
	    (rc = get_str(o, "reason", &r->reason, err, errlen)) ||
	    (rc = get_u64(o, "uid", &uid, false, err, errlen)) ||
	    (rc = get_str(o, "user", &r->user, err, errlen)) ||
	    (rc = get_bool(o, "auto", &r->automatic, err, errlen)))
		return rc;
	r->uid = (uid_t)uid;
	return 0;
}

static int site_from_json(const json_t *o, site_adm_t *s, char *err, size_t errlen)
{
	int rc;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "an entry must be an object");
		return GTM_EPARSE;
	}
	json_t *st = json_object_get(o, "state");
	int state = json_is_string(st) ? state_parse(json_string_value(st)) : -1;
	if (state < 0) {
		snprintf(err, errlen, "\"state\" must be active, draining or drained");
		return GTM_EPARSE;
	}
	s->state = state;
	if ((rc = get_bool(o, "activated", &s->activated, err, errlen)) ||
	    (rc = rec_from_json(o, &s->rec, err, errlen)))
		return rc;
	if (s->state != GTM_ADMIN_DRAINING)
		return 0;
	json_t *r = json_object_get(o, "ramp");
	uint64_t steps = 0;
	if (!json_is_object(r)) {
		snprintf(err, errlen, "a draining site needs its \"ramp\"");
		return GTM_EPARSE;
	}
	if ((rc = get_u64(r, "start", &s->ramp_start, true, err, errlen)) ||
	    (rc = get_u64(r, "duration", &s->ramp_ms, true, err, errlen)) ||
	    (rc = get_u64(r, "steps", &steps, true, err, errlen)) ||
	    (rc = get_bool(r, "paused", &s->paused, err, errlen)) ||
	    (rc = get_u64(r, "paused_at", &s->paused_at, false, err, errlen)) ||
	    (rc = get_u64(r, "paused_total", &s->paused_total, false, err, errlen)) ||
	    (rc = get_str(r, "pause_reason", &s->pause_reason, err, errlen)))
		return rc;
	if (steps < 1 || steps > GTM_ADMIN_MAX_STEPS) {
		snprintf(err, errlen, "\"steps\" must be 1..%d", GTM_ADMIN_MAX_STEPS);
		return GTM_EPARSE;
	}
	s->steps = (unsigned)steps;
	return 0;
}

/*
 * Fills `a` (at its defaults, bound to its conf) from `root`.  `what`
 * names the source in log lines.  Returns 0 or GTM_EPARSE (err says why);
 * on error `a` is left partly filled: the caller resets it.
 */
static int state_from_json(gtm_admin_t *a, const json_t *root, const char *what,
                           int *dropped, char *err, size_t errlen)
{
	const gtm_conf_t *conf = a->conf;
	const char *key;
	json_t *o;
	int rc;
	*dropped = 0;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		return GTM_EPARSE;
	}
	json_t *ver = json_object_get(root, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) != STATE_VERSION) {
		snprintf(err, errlen, "\"version\" must be %d", STATE_VERSION);
		return GTM_EPARSE;
	}
	json_t *sites = json_object_get(root, "sites");
	json_t *cities = json_object_get(root, "cities");
	json_t *svcs = json_object_get(root, "services");
	if ((sites && !json_is_object(sites)) || (cities && !json_is_object(cities)) ||
	    (svcs && !json_is_object(svcs))) {
		snprintf(err, errlen, "\"sites\", \"cities\" and \"services\" must be objects");
		return GTM_EPARSE;
	}

	json_object_foreach(sites, key, o) {
		site_adm_t tmp = { 0 };
		char inner[256];
		rc = site_from_json(o, &tmp, inner, sizeof(inner));
		if (rc) {
			snprintf(err, errlen, "site %s: %s", key, inner);
			free(tmp.pause_reason);
			rec_clear(&tmp.rec);
			return rc;
		}
		int i = find_site(conf, key);
		const char *drop = NULL;
		if (i < 0)
			drop = "not in the configuration";
		else if (tmp.activated && conf->sites[i].role != GTM_ROLE_COLD) {
			/* Only the activation is dropped; a drain still holds. */
			log_warn("admin, site %s, activation dropped (%s: the site is no longer cold)",
			         key, what);
			tmp.activated = false;
			(*dropped)++;
		}
		if (drop) {
			log_warn("admin, site %s, state %s dropped (%s: %s)", key,
			         gtm_admin_state_name(tmp.state), what, drop);
			(*dropped)++;
			free(tmp.pause_reason);
			rec_clear(&tmp.rec);
			continue;
		}
		a->sites[i] = tmp;
	}
	json_object_foreach(cities, key, o) {
		city_adm_t tmp = { 0 };
		if (!json_is_object(o)) {
			snprintf(err, errlen, "city %s: an entry must be an object", key);
			return GTM_EPARSE;
		}
		char inner[256];
		if ((rc = get_bool(o, "evacuated", &tmp.evacuated, inner, sizeof(inner))) ||
		    (rc = rec_from_json(o, &tmp.rec, inner, sizeof(inner)))) {
			snprintf(err, errlen, "city %s: %s", key, inner);
			rec_clear(&tmp.rec);
			return rc;
		}
		int i = find_city(conf, key);
		if (i < 0) {
			log_warn("admin, city %s, %s dropped (%s: not in the configuration)",
			         key, tmp.evacuated ? "evacuation" : "record", what);
			(*dropped)++;
			rec_clear(&tmp.rec);
			continue;
		}
		a->cities[i] = tmp;
	}
	json_object_foreach(svcs, key, o) {
		svc_adm_t tmp = { .master = GTM_NO_CITY };
		char *master = NULL;
		char inner[256];
		if (!json_is_object(o)) {
			snprintf(err, errlen, "service %s: an entry must be an object", key);
			return GTM_EPARSE;
		}
		if ((rc = get_str(o, "master", &master, inner, sizeof(inner))) ||
		    (rc = rec_from_json(o, &tmp.rec, inner, sizeof(inner)))) {
			snprintf(err, errlen, "service %s: %s", key, inner);
			free(master);
			rec_clear(&tmp.rec);
			return rc;
		}
		int i = find_service(conf, key);
		int c = master ? find_city(conf, master) : -1;
		const char *drop = NULL;
		if (i < 0)
			drop = "not in the configuration";
		else if (master && conf->services[i].policy != GTM_POLICY_GLOBAL)
			drop = "no longer global";
		else if (master && c < 0)
			drop = "its master city is no longer in the configuration";
		else if (master && !service_has_site_in(conf, &conf->services[i], (uint32_t)c))
			drop = "no longer has a site in its master city";
		if (drop) {
			log_warn("admin, service %s, master %s dropped (%s: %s)", key,
			         master ? master : "record", what, drop);
			(*dropped)++;
			free(master);
			rec_clear(&tmp.rec);
			continue;
		}
		free(master);
		tmp.master = c >= 0 ? (uint32_t)c : GTM_NO_CITY;
		a->svcs[i] = tmp;
	}
	return 0;
}

static void reset(gtm_admin_t *a, const gtm_conf_t *conf)
{
	arrays_free(a);
	arrays_alloc(a, conf);
}

/* Opens the folder of `path` and fsyncs it, so that a rename is durable. */
static int fsync_dir_of(const char *path)
{
	char *copy = gtm_xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes the state file: temp file in the same folder, fsync, rename, fsync
 * of the folder.  Returns 0 or GTM_EIO with `err` set (errno kept). */
static int save(const gtm_admin_t *a, uint64_t now, char *err, size_t errlen)
{
	if (a->state_file == NULL)
		return 0;
	json_t *root = gtm_admin_to_json(a, now, false);
	char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	char *tmp = gtm_xasprintf("%s.tmp.XXXXXX", a->state_file);
	int rc = GTM_EIO;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto finish;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off < len || write(fd, "\n", 1) != 1 || fchmod(fd, 0640) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto finish;
	}
	if (close(fd) != 0 || rename(tmp, a->state_file) != 0) {
		snprintf(err, errlen, "%s: %s", a->state_file, strerror(errno));
		unlink(tmp);
		goto finish;
	}
	if (fsync_dir_of(a->state_file) != 0) {
		snprintf(err, errlen, "%s: fsync of its folder: %s", a->state_file, strerror(errno));
		goto finish;
	}
	rc = 0;
finish:
	free(tmp);
	free(text);
	return rc;
}

int gtm_admin_load(gtm_admin_t *a)
{
	if (a->state_file == NULL)
		return 0;
	json_error_t jerr;
	char err[512];
	int dropped;
	reset(a, a->conf);
	FILE *f = fopen(a->state_file, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		log_err("admin, state file %s cannot be read (%s)", a->state_file, strerror(errno));
		return GTM_EIO;
	}
	json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	int rc;
	if (root == NULL) {
		snprintf(err, sizeof(err), "line %d: %s", jerr.line, jerr.text);
		rc = GTM_EPARSE;
	} else {
		rc = state_from_json(a, root, a->state_file, &dropped, err, sizeof(err));
		json_decref(root);
	}
	if (rc != 0) {
		char *bad = gtm_xasprintf("%s.bad", a->state_file);
		int moved = rename(a->state_file, bad);
		log_err("admin, state file %s is corrupt, starting with no admin state (%s; %s %s)",
		        a->state_file, err, moved == 0 ? "moved to" : "could not move it to", bad);
		free(bad);
		reset(a, a->conf);
		return GTM_EPARSE;
	}
	log_info("admin, state restored from %s", a->state_file);
	return 0;
}

int gtm_admin_set_files(gtm_admin_t *a, const char *state_file, const char *history_file)
{
	free(a->state_file);
	free(a->history_file);
	a->state_file = state_file ? gtm_xstrdup(state_file) : NULL;
	a->history_file = history_file ? gtm_xstrdup(history_file) : NULL;
	char err[512];
	if (a->state_file && save(a, gtm_admin_now(), err, sizeof(err)) != 0) {
		log_err("admin, state file not saved (%s)", err);
		return GTM_EIO;
	}
	return 0;
}

/* Why a global service's master override `city` cannot stay in `conf`
 * (service `svc`), or NULL when it can. */
static const char *master_drop(const gtm_conf_t *conf, uint32_t svc, uint32_t city)
{
	if (conf->services[svc].policy != GTM_POLICY_GLOBAL)
		return "no longer global";
	if (city == GTM_REMAP_NONE)
		return "its master city is no longer in the configuration";
	if (!service_has_site_in(conf, &conf->services[svc], city))
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
			drop = master_drop(conf, n, city);
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
	arrays_free(&old);
	char err[512];
	if (dropped > 0 && save(a, gtm_admin_now(), err, sizeof(err)) != 0)
		log_err("admin, state file not saved (%s)", err);
}

static void swap_state(gtm_admin_t *a, gtm_admin_t *b);

int gtm_admin_replace_json(gtm_admin_t *a, const json_t *root, const char *what,
                           char *err, size_t errlen)
{
	gtm_admin_t *next = gtm_admin_new(a->conf, NULL, NULL);
	int dropped = 0;
	int rc = state_from_json(next, root, what, &dropped, err, errlen);
	if (rc == 0)
		gtm_admin_adopt(a, next);
	gtm_admin_free(next);
	return rc;
}

void gtm_admin_adopt(gtm_admin_t *a, gtm_admin_t *next)
{
	gtm_assert(next->conf == a->conf);
	swap_state(a, next);
	char err[512];
	if (a->state_file && save(a, gtm_admin_now(), err, sizeof(err)) != 0)
		log_err("admin, state file not saved (%s)", err);
}

/* ------------------------------------------------------------------------ */
/* History */

static int append_line(const char *path, const char *line, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return GTM_EIO;
	}
	/* One write per line, so that concurrent readers see whole lines. */
	char *buf = gtm_xasprintf("%s\n", line);
	size_t len = strlen(buf);
	ssize_t n = write(fd, buf, len);
	int rc = 0;
	if (n != (ssize_t)len || fdatasync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : "short write");
		rc = GTM_EIO;
	}
	free(buf);
	close(fd);
	return rc;
}

int gtm_admin_history_append(gtm_admin_t *a, json_t *rec)
{
	if (a->history_file == NULL)
		return 0;
	if (json_object_get(rec, "time") == NULL)
		json_object_set_new(rec, "time", json_integer((json_int_t)gtm_admin_now()));
	char *line = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	char err[512];
	int rc = append_line(a->history_file, line, err, sizeof(err));
	free(line);
	if (rc)
		log_err("admin, history not written (%s)", err);
	return rc;
}

bool gtm_admin_has_history(const gtm_admin_t *a)
{
	return a->history_file != NULL;
}

json_t *gtm_admin_history_read(const gtm_admin_t *a, size_t limit, int *rcp)
{
	json_t *out = json_array();
	if (rcp)
		*rcp = 0;
	if (a->history_file == NULL)
		return out;
	FILE *f = fopen(a->history_file, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return out;
		log_err("admin, history %s cannot be read (%s)", a->history_file, strerror(errno));
		json_decref(out);
		if (rcp)
			*rcp = GTM_EIO;
		return NULL;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *r = json_loadb(line, (size_t)n, 0, NULL);
		if (!json_is_object(r)) {
			json_decref(r);
			continue;
		}
		json_array_append_new(out, r);
		/* Keep at most 2 * limit, trimming in bulk, so that a long file
		 * costs neither memory nor quadratic time. */
		if (limit && json_array_size(out) >= 2 * limit) {
			json_t *keep = json_array();
			for (size_t i = json_array_size(out) - limit; i < json_array_size(out); i++)
				json_array_append(keep, json_array_get(out, i));
			json_decref(out);
			out = keep;
		}
	}
	free(line);
	fclose(f);
	if (limit && json_array_size(out) > limit) {
		json_t *keep = json_array();
		for (size_t i = json_array_size(out) - limit; i < json_array_size(out); i++)
			json_array_append(keep, json_array_get(out, i));
		json_decref(out);
		out = keep;
	}
	return out;
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
	rec_clear(r);
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
	gtm_admin_site_state_t st = site_state(s, c->now);
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
			s->paused_at = c->now;
			free(s->pause_reason);
			s->pause_reason = xstrdup_or_null(act->reason);
		} else {
			s->paused_total += c->now > s->paused_at ? c->now - s->paused_at : 0;
			s->paused = false;
			s->paused_at = 0;
			free(s->pause_reason);
			s->pause_reason = NULL;
		}
		changed(c, &s->rec, "site", name, "ramp", pause ? "running" : "paused",
		        pause ? "paused" : "running");
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
		int s = find_service(conf, act->service);
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
		if (!service_has_site_in(conf, svc, ci)) {
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
		uint32_t old = effective_master(n, i);
		if (old == ci)
			continue;
		/* Promoting back to the configured master drops the override, so
		 * that a later change of the configuration takes effect. */
		n->svcs[i].master = ci == svc->master ? GTM_NO_CITY : ci;
		changed(c, &n->svcs[i].rec, "service", svc->name, "master", city_name(conf, old), name);
	}
	if (json_array_size(c->changes) == 0)
		snprintf(err, errlen, "city %s is already the master%s", name,
		         act->service ? "" : " of every global service");
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

/* Appends records to the history file, one line each. */
static int write_history(gtm_admin_t *a, const json_t *records, char *err, size_t errlen)
{
	if (a->history_file == NULL)
		return 0;
	size_t i;
	json_t *r;
	int rc = 0;
	json_array_foreach(records, i, r) {
		char *line = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
		if (rc == 0)
			rc = append_line(a->history_file, line, err, errlen);
		free(line);
	}
	return rc;
}

static void swap_state(gtm_admin_t *a, gtm_admin_t *b)
{
	site_adm_t *s = a->sites;
	city_adm_t *c = a->cities;
	svc_adm_t *v = a->svcs;
	a->sites = b->sites;
	a->cities = b->cities;
	a->svcs = b->svcs;
	b->sites = s;
	b->cities = c;
	b->svcs = v;
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
		         op_on_site(act->op) ? "site" : "city");
		return GTM_EINVAL;
	}
	int idx;
	if (op_on_site(act->op)) {
		idx = find_site(a->conf, act->target);
		if (idx < 0) {
			snprintf(res->message, sizeof(res->message), "unknown site %s", act->target);
			return GTM_ENOENT;
		}
	} else {
		idx = find_city(a->conf, act->target);
		if (idx < 0) {
			snprintf(res->message, sizeof(res->message), "unknown city %s", act->target);
			return GTM_ENOENT;
		}
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
	int rc = op_on_site(act->op)
		? do_site(next, (uint32_t)idx, &c, res->message, sizeof(res->message))
		: do_city(next, (uint32_t)idx, &c, res->message, sizeof(res->message));
	if (rc != 0 || json_array_size(c.changes) == 0)
		goto finish;      /* an error, or nothing to change (message set) */

	res->changed = true;
	if (!act->force && check) {
		char why[400] = "";
		if (check(a, next, act, now, arg, why, sizeof(why)) != 0) {
			res->refused = true;
			res->changed = false;
			snprintf(res->message, sizeof(res->message), "%s refused: %s%s", opname,
			         why[0] ? why : "the safety rules say no", " (--force overrides)");
			json_array_clear(res->changes);
			log_info("admin, %s %s refused (%s; uid %u%s%s)", opname, act->target,
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
	if (write_history(a, res->history, err, sizeof(err)) != 0) {
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

/* ------------------------------------------------------------------------ */
/* Control protocol glue */

int gtm_admin_action_from_json(const json_t *req, gtm_admin_action_t *act,
                               char *err, size_t errlen)
{
	memset(act, 0, sizeof(*act));
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	int op = cmd ? gtm_admin_op_parse(cmd) : -1;
	if (op < 0) {
		snprintf(err, errlen, "\"cmd\" is not an admin action");
		return GTM_EINVAL;
	}
	act->op = op;
	const char *key = op_on_site(op) ? "site" : "city";
	json_t *t = json_object_get(req, key);
	if (!json_is_string(t) || json_string_length(t) == 0) {
		snprintf(err, errlen, "%s needs \"%s\" (a name)", cmd, key);
		return GTM_EINVAL;
	}
	act->target = json_string_value(t);

	json_t *v;
	if ((v = json_object_get(req, "service")) && !json_is_null(v)) {
		if (op != GTM_ADMIN_PROMOTE || !json_is_string(v)) {
			snprintf(err, errlen, "\"service\" is a name, for promote only");
			return GTM_EINVAL;
		}
		act->service = json_string_value(v);
	}
	if ((v = json_object_get(req, "ramp")) && !json_is_null(v)) {
		double s = json_number_value(v);
		if (op != GTM_ADMIN_DRAIN || !json_is_number(v) || s < 0 || s > 7 * 86400.0) {
			snprintf(err, errlen, "\"ramp\" is seconds (0 to 7 days), for drain only");
			return GTM_EINVAL;
		}
		act->ramp_ms = (uint64_t)(s * 1000.0 + 0.5);
	}
	if ((v = json_object_get(req, "steps")) && !json_is_null(v)) {
		if (op != GTM_ADMIN_DRAIN || !json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > GTM_ADMIN_MAX_STEPS) {
			snprintf(err, errlen, "\"steps\" is 1..%d, for drain only", GTM_ADMIN_MAX_STEPS);
			return GTM_EINVAL;
		}
		act->steps = (unsigned)json_integer_value(v);
	}
	if ((v = json_object_get(req, "reason")) && !json_is_null(v)) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "\"reason\" must be a string");
			return GTM_EINVAL;
		}
		act->reason = json_string_length(v) ? json_string_value(v) : NULL;
	}
	struct { const char *key; bool *out; } flags[] = {
		{ "force", &act->force }, { "dry_run", &act->dry_run },
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if ((v = json_object_get(req, flags[i].key)) && !json_is_null(v)) {
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "\"%s\" must be true or false", flags[i].key);
				return GTM_EINVAL;
			}
			*flags[i].out = json_is_true(v);
		}
	}
	return 0;
}

json_t *gtm_admin_result_json(const gtm_admin_action_t *act, int rc,
                              const gtm_admin_result_t *res)
{
	json_t *r = json_object();
	if (rc < 0 || res->refused) {
		json_object_set_new(r, "ok", json_false());
		json_object_set_new(r, "error", json_string(res->message));
		if (res->refused)
			json_object_set_new(r, "refused", json_true());
		json_object_set_new(r, "dry_run", json_boolean(act->dry_run));
		return r;
	}
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "changed", json_boolean(res->changed));
	json_object_set_new(r, "dry_run", json_boolean(act->dry_run));
	json_object_set_new(r, "message", json_string(res->message));
	json_object_set_new(r, "changes", res->changes ? json_deep_copy(res->changes) : json_array());
	return r;
}
