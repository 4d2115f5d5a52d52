/*
 * The controller: topology + health + admin state + its own memory (failback
 * hold-downs, the evacuation budget) -> answer plan.  The rules are in
 * controller.h; this file applies them.
 *
 * One update runs in two passes.  The first (advance) moves the memory to
 * `now`: which sites and cities are up, since when, which of them are
 * failing back, and records the events.  The second (compute) is a const
 * function of the memory and the inputs that makes the plan; a preview (a
 * dry run, a safety check) runs only the second, so it never disturbs the
 * memory.
 *
 * Per service, the endpoints are first grouped by site, each site with two
 * address lists: the endpoints that are up, and all of them (for the
 * fail-open last resort).  Every choice is a list of sites with a share,
 * turned into integer weights out of WEIGHT_SCALE and handed to
 * dns_plan_choice_set(), which copies what it keeps.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "geo/map.h"
#include "gtm/core/controller.h"
#include "gtm/core/gen.h"

#define WEIGHT_SCALE 1000000.0
/* The rate limit's memory: at most this many evacuations are remembered. */
#define BUDGET_MAX 3600

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */

/* A site or a city of one service, through time. */
typedef struct track {
	bool seen;           /* observed at least once */
	bool up;             /* site: quorum up; city: able by health */
	bool recovering;     /* back up after being down while gtmd ran */
	bool suppressed;     /* city: an evacuation held back by the rate limit */
	uint64_t since;      /* last change of `up` */
	uint64_t back_at;    /* recovering: when it came back */
	uint64_t unable_since;  /* city, global master: unable since (auto promote) */
} track_t;

/* The memory of one service: a tracker for each site it has (in the order
 * of its endpoints, as view_init() numbers them) and for each city it has a
 * site in (a `global` service: every city, as the master may be promoted
 * to any), not one for every site and city of the configuration (70
 * trackers x 10,000 services would be 28 MB). */
typedef struct svc_mem {
	track_t *sites;      /* [nsites] */
	uint32_t *site_id;   /* [nsites]: index into conf->sites */
	track_t *cities;     /* [ncities] */
	uint32_t *city_id;   /* [ncities]: index into conf->cities */
	uint32_t nsites, ncities;
} svc_mem_t;

struct gtm_controller {
	const gtm_conf_t *conf;
	svc_mem_t *svcs;     /* [conf->nservices] */
	track_t *tracks;     /* every service's trackers, one block */
	uint32_t *ids;       /* their ids, one block */
	size_t ntracks;
	uint64_t *budget;    /* times of automatic evacuations, oldest first */
	size_t nbudget;
	gtm_controller_stats_t stats;
};

/* Service `svc`'s distinct sites (first appearance) into sites[], its
 * cities into cities[]; returns the counts.  Either array may be NULL to
 * count only.  `seen` is conf->nsites + conf->ncities scratch, all 0, left
 * all 0. */
static void svc_layout(const gtm_conf_t *conf, const gtm_service_t *svc, uint8_t *seen,
                       uint32_t *sites, uint32_t *ns, uint32_t *cities, uint32_t *nc)
{
	uint8_t *city_seen = seen + conf->nsites;
	*ns = *nc = 0;
	for (size_t i = 0; i < svc->nendpoints; i++) {
		uint32_t st = svc->endpoints[i].site;
		if (seen[st])
			continue;
		seen[st] = 1;
		if (sites)
			sites[*ns] = st;
		(*ns)++;
		uint32_t k = conf->sites[st].city;
		if (svc->policy != GTM_POLICY_GLOBAL && !city_seen[k]) {
			city_seen[k] = 1;
			if (cities)
				cities[*nc] = k;
			(*nc)++;
		}
	}
	if (svc->policy == GTM_POLICY_GLOBAL) {
		for (uint32_t k = 0; k < conf->ncities; k++)
			if (cities)
				cities[k] = k;
		*nc = (uint32_t)conf->ncities;
	}
	for (size_t i = 0; i < svc->nendpoints; i++) {
		uint32_t st = svc->endpoints[i].site;
		seen[st] = 0;
		city_seen[conf->sites[st].city] = 0;
	}
}

static void mem_alloc(gtm_controller_t *c)
{
	const gtm_conf_t *conf = c->conf;
	c->svcs = gtm_xcalloc(conf->nservices ? conf->nservices : 1, sizeof(*c->svcs));
	uint8_t *seen = gtm_xcalloc(conf->nsites + conf->ncities + 1, 1);
	size_t n = 0;
	for (size_t i = 0; i < conf->nservices; i++) {
		uint32_t ns, nc;
		svc_layout(conf, &conf->services[i], seen, NULL, &ns, NULL, &nc);
		n += ns + nc;
	}
	c->ntracks = n;
	c->tracks = gtm_xcalloc(n ? n : 1, sizeof(*c->tracks));
	c->ids = gtm_xcalloc(n ? n : 1, sizeof(*c->ids));
	size_t at = 0;
	for (size_t i = 0; i < conf->nservices; i++) {
		svc_mem_t *m = &c->svcs[i];
		uint32_t ns, nc;
		svc_layout(conf, &conf->services[i], seen, c->ids + at, &ns, NULL, &nc);
		m->sites = c->tracks + at;
		m->site_id = c->ids + at;
		m->nsites = ns;
		at += ns;
		svc_layout(conf, &conf->services[i], seen, NULL, &ns, c->ids + at, &nc);
		m->cities = c->tracks + at;
		m->city_id = c->ids + at;
		m->ncities = nc;
		at += nc;
	}
	free(seen);
}

static void mem_free(gtm_controller_t *c)
{
	free(c->svcs);
	free(c->tracks);
	free(c->ids);
	c->svcs = NULL;
	c->tracks = NULL;
	c->ids = NULL;
}

/* The tracker of site `site` / city `city` of service memory `m`: a few
 * entries to scan.  The view only asks for sites and cities the service
 * has, so NULL is a caller bug. */
static track_t *mem_site(const svc_mem_t *m, uint32_t site)
{
	for (uint32_t i = 0; i < m->nsites; i++)
		if (m->site_id[i] == site)
			return &m->sites[i];
	return NULL;
}

static track_t *mem_city(const svc_mem_t *m, uint32_t city)
{
	for (uint32_t i = 0; i < m->ncities; i++)
		if (m->city_id[i] == city)
			return &m->cities[i];
	return NULL;
}

gtm_controller_t *gtm_controller_new(const gtm_conf_t *conf)
{
	gtm_controller_t *c = gtm_xcalloc(1, sizeof(*c));
	c->conf = conf;
	c->budget = gtm_xcalloc(BUDGET_MAX, sizeof(*c->budget));
	mem_alloc(c);
	return c;
}

void gtm_controller_free(gtm_controller_t *c)
{
	if (c == NULL)
		return;
	mem_free(c);
	free(c->budget);
	free(c);
}

void gtm_controller_rebind(gtm_controller_t *c, const gtm_conf_t *conf, const gtm_remap_t *map)
{
	gtm_controller_t old = *c;
	c->conf = conf;
	mem_alloc(c);
	/* Each new tracker takes the old one of the same service and site
	 * (city) through the remap; the others start unseen. */
	for (size_t i = 0; i < conf->nservices; i++) {
		uint32_t o = map->service_old[i];
		if (o == GTM_REMAP_NONE)
			continue;
		const svc_mem_t *om = &old.svcs[o];
		svc_mem_t *m = &c->svcs[i];
		for (uint32_t j = 0; j < m->nsites; j++) {
			uint32_t os = map->site_old[m->site_id[j]];
			const track_t *t = os != GTM_REMAP_NONE ? mem_site(om, os) : NULL;
			if (t)
				m->sites[j] = *t;
		}
		for (uint32_t j = 0; j < m->ncities; j++) {
			uint32_t ok = map->city_old[m->city_id[j]];
			const track_t *t = ok != GTM_REMAP_NONE ? mem_city(om, ok) : NULL;
			if (t)
				m->cities[j] = *t;
		}
	}
	mem_free(&old);
}

void gtm_controller_note_timing(gtm_controller_t *c, uint32_t detect_ms, uint32_t publish_ms)
{
	gtm_controller_stats_t *s = &c->stats;
	s->timed++;
	s->last_detect_ms = detect_ms;
	s->last_publish_ms = publish_ms;
	if (detect_ms > s->max_detect_ms)
		s->max_detect_ms = detect_ms;
	if (publish_ms > s->max_publish_ms)
		s->max_publish_ms = publish_ms;
	s->sum_detect_ms += detect_ms;
	s->sum_publish_ms += publish_ms;
}

void gtm_controller_stats(const gtm_controller_t *c, gtm_controller_stats_t *out)
{
	*out = c->stats;
}

/* The evacuation budget: drops what is older than an hour; true when one
 * more fits. */
static bool budget_ok(gtm_controller_t *c, uint64_t now)
{
	size_t drop = 0;
	while (drop < c->nbudget && c->budget[drop] + 3600000 <= now)
		drop++;
	memmove(c->budget, c->budget + drop, (c->nbudget - drop) * sizeof(*c->budget));
	c->nbudget -= drop;
	uint32_t max = c->conf->controller.auto_evacuations_per_hour;
	return max == 0 || c->nbudget < max;
}

void gtm_controller_budget(const gtm_controller_t *c, uint64_t now, uint32_t *used, uint32_t *limit,
                           uint32_t *suppressed)
{
	uint32_t n = 0;
	for (size_t i = 0; i < c->nbudget; i++)
		n += c->budget[i] + 3600000 > now;
	*used = n;
	*limit = c->conf->controller.auto_evacuations_per_hour;
	/* Cities whose failover is held back now, for any service. */
	for (size_t k = 0; suppressed && k < c->conf->ncities; k++)
		suppressed[k] = 0;
	for (size_t i = 0; suppressed && i < c->conf->nservices; i++) {
		const svc_mem_t *m = &c->svcs[i];
		for (uint32_t j = 0; j < m->ncities; j++)
			if (m->cities[j].suppressed && m->city_id[j] < c->conf->ncities)
				suppressed[m->city_id[j]]++;
	}
}

void gtm_controller_note_auto(gtm_controller_t *c, uint64_t now)
{
	budget_ok(c, now);
	if (c->nbudget == BUDGET_MAX) {
		memmove(c->budget, c->budget + 1, (BUDGET_MAX - 1) * sizeof(*c->budget));
		c->nbudget--;
	}
	c->budget[c->nbudget++] = now;
}

/* ------------------------------------------------------------------------ */
/* Failback factor                                                          */

/* The factor of something back up at `back_at`, at `now`; *next gets when
 * it next moves (0: it is 1 for good). */
static double ramp_factor(const gtm_controller_conf_t *cc, uint64_t back_at, uint64_t now, uint64_t *next)
{
	uint64_t hold = cc->holddown_ms, ramp = cc->failback_ramp_ms;
	unsigned steps = cc->failback_steps ? cc->failback_steps : 1;
	*next = 0;
	if (now < back_at + hold) {
		*next = back_at + hold;
		return 0;
	}
	if (steps == 1 || ramp == 0)
		return 1;
	uint64_t dt = now - back_at - hold;
	double every = (double)ramp / (double)(steps - 1);
	unsigned k = 1 + (unsigned)floor((double)dt / every);
	if (k >= steps)
		return 1;
	*next = back_at + hold + (uint64_t)ceil(every * k);
	if (*next <= now)
		*next = now + 1;
	return (double)k / (double)steps;
}

/* ------------------------------------------------------------------------ */
/* One service's sites                                                      */

typedef struct svc_site {
	uint32_t site;               /* index into conf->sites */
	struct in_addr *a, *all_a;   /* up endpoints / every endpoint */
	size_t na, nall_a;
	struct in6_addr *aaaa, *all_aaaa;
	size_t naaaa, nall_aaaa;
	bool up;                     /* at least `quorum` endpoints up */
	bool in;                     /* takes part: not cold, or cold and activated */
	double admin;                /* admin factor; 0 when evacuated or not `in` */
	double fb;                   /* failback factor (site's, or 1 under a city ramp) */
	double fb_city;              /* its city's failback ramp (1 when none): used where
	                              * sites are chosen one by one (failover) */
	double w;                    /* w' */
	double cap;                  /* capacity (or weight) */
	const char *why;
	uint64_t until;
} svc_site_t;

typedef struct svc_view {
	const gtm_conf_t *conf;
	const gtm_service_t *svc;
	uint32_t si;
	svc_site_t *sites;
	size_t nsites;
	bool use_capacity;           /* every site has a capacity */
	/* per city (conf->ncities) */
	double *city_g;              /* city factor: 0 unable, failback ramp, 1 */
	bool *city_able;
	double *city_cap_now;        /* serving capacity now (admin and failback applied) */
	bool *city_has;              /* the service has a site there */
	/* the choice being built */
	double *share;               /* [nsites] */
	struct view_scratch *x;      /* working memory (tmp_alloc) */
} svc_view_t;

/* The memory of one service's view, reused from service to service within
 * one compute (10,000 services would otherwise cost some 300,000 small
 * allocations per plan).  Sized for the largest service seen so far. */
typedef struct view_scratch {
	size_t cap;                  /* endpoints */
	svc_site_t *sites;
	double *share;
	uint32_t *ep_slot;           /* [cap]: each endpoint's site slot */
	uint32_t *slot_off;          /* [cap + 1]: each slot's first address */
	struct in_addr *a, *all_a;   /* [cap] each: sliced by site slot */
	struct in6_addr *aaaa, *all_aaaa;
	double *city_g;              /* [ncities] */
	bool *city_able;
	double *city_cap_now;
	bool *city_has;
	/* The policies' working vectors of one service (tmp_alloc), reset
	 * by view_init; what passes the block is allocated on its own and
	 * freed at the reset. */
	unsigned char *tmp;
	size_t tmp_used, tmp_cap;
	void **spill;
	size_t nspill;
} view_scratch_t;

#define TMP_BLOCK 65536

static void tmp_reset(view_scratch_t *x)
{
	for (size_t i = 0; i < x->nspill; i++)
		free(x->spill[i]);
	free(x->spill);
	x->spill = NULL;
	x->nspill = 0;
	x->tmp_used = 0;
}

/* `n` zeroed bytes, aligned for doubles, valid until the next reset. */
static void *tmp_alloc(view_scratch_t *x, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if (n == 0)
		n = 8;
	if (x->tmp_cap - x->tmp_used < n) {
		void *p = gtm_xcalloc(1, n);
		x->spill = gtm_xgrow(x->spill, x->nspill, sizeof(*x->spill));
		x->spill[x->nspill++] = p;
		return p;
	}
	void *p = x->tmp + x->tmp_used;
	x->tmp_used += n;
	return memset(p, 0, n);
}

static void scratch_init(view_scratch_t *x, const gtm_conf_t *conf)
{
	memset(x, 0, sizeof(*x));
	size_t nc = conf->ncities ? conf->ncities : 1;
	x->city_g = gtm_xcalloc(nc, sizeof(*x->city_g));
	x->city_able = gtm_xcalloc(nc, sizeof(*x->city_able));
	x->city_cap_now = gtm_xcalloc(nc, sizeof(*x->city_cap_now));
	x->city_has = gtm_xcalloc(nc, sizeof(*x->city_has));
	x->tmp_cap = TMP_BLOCK;
	x->tmp = gtm_xmalloc(x->tmp_cap);
}

/* The vectors sized by endpoints (scratch_reserve grows them). */
static void scratch_free_vectors(view_scratch_t *x)
{
	free(x->sites);
	free(x->share);
	free(x->ep_slot);
	free(x->slot_off);
	free(x->a);
	free(x->all_a);
	free(x->aaaa);
	free(x->all_aaaa);
}

static void scratch_reserve(view_scratch_t *x, size_t n)
{
	if (n <= x->cap)
		return;
	scratch_free_vectors(x);
	x->cap = n;
	x->sites = gtm_xcalloc(n, sizeof(*x->sites));
	x->share = gtm_xcalloc(n, sizeof(*x->share));
	x->ep_slot = gtm_xcalloc(n, sizeof(*x->ep_slot));
	x->slot_off = gtm_xcalloc(n + 1, sizeof(*x->slot_off));
	x->a = gtm_xcalloc(n, sizeof(*x->a));
	x->all_a = gtm_xcalloc(n, sizeof(*x->all_a));
	x->aaaa = gtm_xcalloc(n, sizeof(*x->aaaa));
	x->all_aaaa = gtm_xcalloc(n, sizeof(*x->all_aaaa));
}

static void scratch_clear(view_scratch_t *x)
{
	scratch_free_vectors(x);
	free(x->city_g);
	free(x->city_able);
	free(x->city_cap_now);
	free(x->city_has);
	tmp_reset(x);
	free(x->tmp);
}

/* `force`: the operators' endpoint overrides of this service (NULL: none;
 * gtm_admin_view_t.ep_force): -2 disabled (out, also of the last resort),
 * -1 forced down, +1 forced up, 0 the probes decide. */
static void view_init(svc_view_t *v, const gtm_conf_t *conf, uint32_t si, const bool *up,
                      const int8_t *force, view_scratch_t *x)
{
	const gtm_service_t *svc = &conf->services[si];
	memset(v, 0, sizeof(*v));
	v->conf = conf;
	v->svc = svc;
	v->si = si;
	v->x = x;
	tmp_reset(x);
	size_t n = svc->nendpoints ? svc->nendpoints : 1;
	scratch_reserve(x, n);
	v->sites = x->sites;
	v->share = x->share;
	memset(v->sites, 0, n * sizeof(*v->sites));
	memset(v->share, 0, n * sizeof(*v->share));
	size_t nc = conf->ncities ? conf->ncities : 1;
	v->city_g = x->city_g;
	v->city_able = x->city_able;
	v->city_cap_now = x->city_cap_now;
	v->city_has = x->city_has;
	memset(v->city_g, 0, nc * sizeof(*v->city_g));
	memset(v->city_able, 0, nc * sizeof(*v->city_able));
	memset(v->city_cap_now, 0, nc * sizeof(*v->city_cap_now));
	memset(v->city_has, 0, nc * sizeof(*v->city_has));
	/* The sites in the order they first appear, and how many endpoints
	 * each has: its slice of the address arrays. */
	memset(x->slot_off, 0, (n + 1) * sizeof(*x->slot_off));
	for (size_t i = 0; i < svc->nendpoints; i++) {
		const gtm_endpoint_t *ep = &svc->endpoints[i];
		size_t j = 0;
		while (j < v->nsites && v->sites[j].site != ep->site)
			j++;
		if (j == v->nsites)
			v->sites[v->nsites++].site = ep->site;
		x->ep_slot[i] = (uint32_t)j;
		x->slot_off[j + 1]++;
	}
	for (size_t j = 0; j < v->nsites; j++) {
		x->slot_off[j + 1] += x->slot_off[j];
		svc_site_t *s = &v->sites[j];
		s->a = x->a + x->slot_off[j];
		s->all_a = x->all_a + x->slot_off[j];
		s->aaaa = x->aaaa + x->slot_off[j];
		s->all_aaaa = x->all_aaaa + x->slot_off[j];
	}
	for (size_t i = 0; i < svc->nendpoints; i++) {
		const gtm_endpoint_t *ep = &svc->endpoints[i];
		svc_site_t *s = &v->sites[x->ep_slot[i]];
		bool is_up = up == NULL || up[i];
		int8_t f = force ? force[i] : 0;
		if (f != 0)
			is_up = f > 0;
		bool in_all = f != -2;   /* an operator's disable: not even failing open */
		if (ep->family == AF_INET) {
			if (in_all)
				s->all_a[s->nall_a++] = ep->addr.v4;
			if (is_up)
				s->a[s->na++] = ep->addr.v4;
		} else {
			if (in_all)
				s->all_aaaa[s->nall_aaaa++] = ep->addr.v6;
			if (is_up)
				s->aaaa[s->naaaa++] = ep->addr.v6;
		}
	}
	uint32_t quorum = svc->quorum ? svc->quorum : 1;
	v->use_capacity = v->nsites > 0;
	for (size_t j = 0; j < v->nsites; j++) {
		svc_site_t *s = &v->sites[j];
		s->up = s->na + s->naaaa >= quorum;
		if (conf->sites[s->site].capacity == 0)
			v->use_capacity = false;
		v->city_has[conf->sites[s->site].city] = true;
	}
	for (size_t j = 0; j < v->nsites; j++) {
		const gtm_site_t *site = &conf->sites[v->sites[j].site];
		v->sites[j].cap = v->use_capacity ? (double)site->capacity : (double)site->weight;
		/* What health alone judges (advance) leaves cold sites out;
		 * factors() adds the activated ones. */
		v->sites[j].in = site->role != GTM_ROLE_COLD;
	}
}

static const gtm_site_t *site_of(const svc_view_t *v, const svc_site_t *s)
{
	return &v->conf->sites[s->site];
}

static double admin_factor(const gtm_admin_view_t *av, uint32_t site)
{
	return av && site < av->nsites ? av->factor[site] : 1.0;
}

static bool admin_activated(const gtm_admin_view_t *av, uint32_t site)
{
	return av && site < av->nsites && av->activated[site];
}

static bool admin_evacuated(const gtm_admin_view_t *av, uint32_t city)
{
	return av && city < av->ncities && av->evacuated[city];
}

/* The fraction of city `c`'s capacity that health (and, with `admin`, the
 * admin factors) leaves serving; the total in *total. */
static double city_fraction(const svc_view_t *v, uint32_t c, bool with_admin, double *total)
{
	double up = 0, all = 0;
	for (size_t j = 0; j < v->nsites; j++) {
		const svc_site_t *s = &v->sites[j];
		if (site_of(v, s)->city != c || !s->in)
			continue;
		all += s->cap;
		if (s->up)
			up += s->cap * (with_admin ? s->admin : 1.0);
	}
	if (total)
		*total = all;
	return all > 0 ? up / all : 0;
}

static bool fraction_able(const svc_view_t *v, double f)
{
	return f > 0 && f + 1e-9 >= v->svc->min_capacity;
}

/* ------------------------------------------------------------------------ */
/* Advance: the memory moves to `now`                                       */

typedef struct evlist {
	gtm_ctl_event_t *ev;
	size_t n;
} evlist_t;

static void ev_add(evlist_t *l, gtm_ctl_event_kind_t kind, uint32_t site, uint32_t city,
                   uint32_t svc, uint64_t until)
{
	for (size_t i = 0; i < l->n; i++) {
		gtm_ctl_event_t *e = &l->ev[i];
		if (e->kind == kind && e->site == site && e->city == city) {
			e->nservices++;
			if (until > e->until)
				e->until = until;
			return;
		}
	}
	l->ev = gtm_xgrow(l->ev, l->n, sizeof(*l->ev));
	l->ev[l->n++] = (gtm_ctl_event_t){ kind, site, city, svc, 1, until };
}

/* Health only (no admin): which sites are up, which cities able. */
static void advance_service(gtm_controller_t *c, svc_view_t *v, uint64_t now, evlist_t *ev,
                            bool *city_budget_used)
{
	const gtm_controller_conf_t *cc = &c->conf->controller;
	svc_mem_t *m = &c->svcs[v->si];
	for (size_t j = 0; j < v->nsites; j++) {
		const svc_site_t *s = &v->sites[j];
		track_t *t = mem_site(m, s->site);
		if (!t->seen) {
			*t = (track_t){ .seen = true, .up = s->up, .since = now };
			continue;
		}
		if (t->up != s->up) {
			t->up = s->up;
			t->since = now;
			t->recovering = s->up;
			t->back_at = now;
			/* A site back while its city is unable or ramping back
			 * comes back with the city: the city's ramp covers it. */
			const track_t *ct = mem_city(m, site_of(v, s)->city);
			bool city_covers = ct->seen && (ct->recovering || !ct->up);
			if (!s->up && site_of(v, s)->role != GTM_ROLE_COLD) {
				ev_add(ev, GTM_EV_SITE_DOWN, s->site, site_of(v, s)->city, v->si, 0);
			} else if (s->up && !city_covers && cc->holddown_ms + cc->failback_ramp_ms > 0 &&
			           site_of(v, s)->role != GTM_ROLE_COLD) {
				ev_add(ev, GTM_EV_SITE_HELD, s->site, site_of(v, s)->city, v->si,
				       now + cc->holddown_ms);
			} else
				t->recovering = false;
		}
		if (t->recovering) {
			uint64_t next;
			if (ramp_factor(cc, t->back_at, now, &next) >= 1.0) {
				t->recovering = false;
				ev_add(ev, GTM_EV_SITE_BACK, s->site, site_of(v, s)->city, v->si, 0);
			}
		}
	}
	for (uint32_t k = 0; k < c->conf->ncities; k++) {
		if (!v->city_has[k])
			continue;
		track_t *t = mem_city(m, k);
		bool able = fraction_able(v, city_fraction(v, k, false, NULL));
		if (!t->seen) {
			*t = (track_t){ .seen = true, .up = able, .since = now,
			                .unable_since = able ? 0 : now };
			continue;
		}
		if (!able && t->up && !t->suppressed) {
			/* An automatic evacuation: rate limited, unless nothing
			 * of the city serves at all. */
			bool nothing = city_fraction(v, k, false, NULL) <= 0;
			if (!city_budget_used[k] && !budget_ok(c, now) && !nothing) {
				t->suppressed = true;
				ev_add(ev, GTM_EV_EVAC_SUPPRESSED, UINT32_MAX, k, v->si, 0);
				continue;
			}
			if (!city_budget_used[k]) {
				gtm_controller_note_auto(c, now);
				city_budget_used[k] = true;
			}
			ev_add(ev, GTM_EV_CITY_EVACUATED, UINT32_MAX, k, v->si, 0);
		} else if (!able && t->suppressed) {
			/* Held back earlier: evacuate once the budget allows or
			 * once nothing serves. */
			bool nothing = city_fraction(v, k, false, NULL) <= 0;
			if (!city_budget_used[k] && !nothing && !budget_ok(c, now))
				continue;
			if (!city_budget_used[k]) {
				gtm_controller_note_auto(c, now);
				city_budget_used[k] = true;
			}
			t->suppressed = false;
			ev_add(ev, GTM_EV_CITY_EVACUATED, UINT32_MAX, k, v->si, 0);
		} else if (able && t->suppressed) {
			t->suppressed = false;
			continue;
		}
		if (able != t->up) {
			t->up = able;
			t->since = now;
			t->recovering = able;
			t->back_at = now;
			t->unable_since = able ? 0 : now;
			if (able) {
				/* The city's ramp covers its sites. */
				for (size_t j = 0; j < v->nsites; j++)
					if (site_of(v, &v->sites[j])->city == k)
						mem_site(m, v->sites[j].site)->recovering = false;
				if (cc->holddown_ms + cc->failback_ramp_ms > 0)
					ev_add(ev, GTM_EV_CITY_HELD, UINT32_MAX, k, v->si, now + cc->holddown_ms);
				else
					t->recovering = false;
			}
		}
		if (t->recovering) {
			uint64_t next;
			if (ramp_factor(cc, t->back_at, now, &next) >= 1.0) {
				t->recovering = false;
				ev_add(ev, GTM_EV_CITY_BACK, UINT32_MAX, k, v->si, 0);
			}
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Compute: factors, then shares                                            */

static void due(uint64_t *next_due, uint64_t t)
{
	if (t && (*next_due == 0 || t < *next_due))
		*next_due = t;
}

/* Fills every site's factors and every city's factor from the memory. */
static void factors(const gtm_controller_t *c, svc_view_t *v, const gtm_admin_view_t *av,
                    uint64_t now, uint64_t *next_due)
{
	const gtm_controller_conf_t *cc = &c->conf->controller;
	const svc_mem_t *m = &c->svcs[v->si];
	for (size_t j = 0; j < v->nsites; j++) {
		svc_site_t *s = &v->sites[j];
		const gtm_site_t *site = site_of(v, s);
		s->in = site->role != GTM_ROLE_COLD || admin_activated(av, s->site);
		s->admin = s->in ? admin_factor(av, s->site) : 0;
		if (!s->in)
			s->why = "cold";
		else if (admin_evacuated(av, site->city)) {
			s->admin = 0;
			s->why = "evacuated";
		} else if (s->admin <= 0)
			s->why = "drained";
	}
	for (uint32_t k = 0; k < c->conf->ncities; k++) {
		if (!v->city_has[k])
			continue;
		const track_t *t = mem_city(m, k);
		double f_health = city_fraction(v, k, false, NULL);
		double f_admin = city_fraction(v, k, true, NULL);
		/* A suppressed evacuation keeps the city while anything of it
		 * serves. */
		bool held = t->seen && t->suppressed;
		bool able = (held ? f_health > 0 && f_admin > 0
		                  : fraction_able(v, f_health) && fraction_able(v, f_admin)) &&
		            !admin_evacuated(av, k);
		double g = able ? 1 : 0;
		if (able && t->seen && t->recovering) {
			uint64_t next;
			g = ramp_factor(cc, t->back_at, now, &next);
			due(next_due, next);
		}
		v->city_able[k] = able;
		v->city_g[k] = g;
	}
	for (size_t j = 0; j < v->nsites; j++) {
		svc_site_t *s = &v->sites[j];
		const gtm_site_t *site = site_of(v, s);
		const track_t *t = mem_site(m, s->site);
		const track_t *ct = mem_city(m, site->city);
		s->fb = s->up ? 1 : 0;
		s->fb_city = 1;
		if (ct->seen && ct->recovering) {
			uint64_t next;
			s->fb_city = ramp_factor(cc, ct->back_at, now, &next);
		}
		if (s->up && t->seen && t->recovering && !(ct->seen && ct->recovering)) {
			uint64_t next;
			s->fb = ramp_factor(cc, t->back_at, now, &next);
			s->until = next;
			due(next_due, next);
			if (s->fb <= 0 && s->why == NULL)
				s->why = "held down";
		}
		if (!s->up && s->why == NULL)
			s->why = "down";
		if (s->in && ct->seen && ct->recovering && v->city_able[site->city] &&
		    v->city_g[site->city] <= 0 && s->why == NULL) {
			uint64_t next;
			ramp_factor(cc, ct->back_at, now, &next);
			s->until = next;
			s->why = "city held down";
		}
		if (!v->city_able[site->city] && s->why == NULL && s->in)
			s->why = v->svc->min_capacity > 0 ? "city below min_capacity" : "city unable";
		s->w = s->up ? (double)site->weight * s->admin * s->fb : 0;
		if (s->w > 0)
			v->city_cap_now[site->city] += s->cap * s->admin * s->fb;
		if (site->weight == 0 && s->why == NULL)
			s->why = "weight 0";
	}
}

/* The sites of city `k` that take its share: active-role (and activated
 * cold) sites with w' > 0, else its backup-role sites. */
static double city_group(const svc_view_t *v, uint32_t k, double *w, bool any_role)
{
	double sum = 0;
	for (int pass = 0; pass < 2 && sum <= 0; pass++)
		for (size_t j = 0; j < v->nsites; j++) {
			const svc_site_t *s = &v->sites[j];
			const gtm_site_t *site = site_of(v, s);
			if (site->city != k || s->w <= 0)
				continue;
			bool backup = site->role == GTM_ROLE_BACKUP;
			if (!any_role && backup != (pass == 1))
				continue;
			w[j] += s->w;
			sum += s->w;
		}
	return sum;
}

/* Adds `share` of the traffic spread over the sites in `w` by weight. */
static void spread(svc_view_t *v, const double *w, double share)
{
	double sum = 0;
	for (size_t j = 0; j < v->nsites; j++)
		sum += w[j];
	if (sum <= 0)
		return;
	for (size_t j = 0; j < v->nsites; j++)
		v->share[j] += share * w[j] / sum;
}

/* A cascade: groups (site weight vectors) with factors; see controller.h.
 * Returns the share given. */
typedef struct group {
	double *w;      /* [nsites] */
	double f;
} group_t;

static void cascade(svc_view_t *v, group_t *g, size_t n)
{
	double rem = 1, given = 0;
	double *took = tmp_alloc(v->x, (n ? n : 1) * sizeof(*took));
	for (size_t i = 0; i < n && rem > 1e-12; i++) {
		double sum = 0;
		for (size_t j = 0; j < v->nsites; j++)
			sum += g[i].w[j];
		if (sum <= 0 || g[i].f <= 0)
			continue;
		double t = rem * (g[i].f > 1 ? 1 : g[i].f);
		took[i] = t;
		rem -= t;
		given += t;
	}
	for (size_t i = 0; i < n; i++)
		if (took[i] > 0)
			spread(v, g[i].w, took[i] / given);
}

static double *wvec(const svc_view_t *v)
{
	return tmp_alloc(v->x, (v->nsites ? v->nsites : 1) * sizeof(double));
}

static void plan_failover(svc_view_t *v)
{
	const gtm_service_t *svc = v->svc;
	group_t *g = tmp_alloc(v->x, (svc->norder ? svc->norder : 1) * sizeof(*g));
	for (size_t i = 0; i < svc->norder; i++) {
		g[i].w = wvec(v);
		for (size_t j = 0; j < v->nsites; j++) {
			const svc_site_t *s = &v->sites[j];
			if (s->site != svc->order[i])
				continue;
			/* The order is explicit: weight has no say, a weight-0
			 * site still serves here. */
			if (s->up && s->admin > 0 && s->fb * s->fb_city > 0) {
				g[i].w[j] = 1;
				g[i].f = s->admin * s->fb * s->fb_city;
			}
		}
	}
	cascade(v, g, svc->norder);
}

static void plan_primary_backup(svc_view_t *v)
{
	const gtm_service_t *svc = v->svc;
	group_t g[2] = { { wvec(v), 0 }, { wvec(v), 1 } };
	if (svc->primary != GTM_NO_CITY && v->city_able[svc->primary])
		city_group(v, svc->primary, g[0].w, false);
	bool has_backup = false;
	for (size_t j = 0; j < v->nsites; j++) {
		const svc_site_t *s = &v->sites[j];
		const gtm_site_t *site = site_of(v, s);
		if (s->w <= 0)
			continue;
		if (svc->backup != GTM_NO_CITY ? site->city == svc->backup
		                                : site->role == GTM_ROLE_BACKUP && site->city != svc->primary) {
			if (svc->backup != GTM_NO_CITY && !v->city_able[svc->backup])
				continue;
			g[1].w[j] = s->w;
			has_backup = true;
		}
	}
	double gp = svc->primary != GTM_NO_CITY ? v->city_g[svc->primary] : 0;
	g[0].f = gp * (has_backup ? 1.0 - svc->trickle : 1.0);
	cascade(v, g, 2);
}

static uint32_t global_master(const svc_view_t *v, const gtm_admin_view_t *av)
{
	if (av && v->si < av->nservices && av->master[v->si] != GTM_NO_CITY)
		return av->master[v->si];
	return v->svc->master;
}

static void plan_global(svc_view_t *v, uint32_t master)
{
	double *w = wvec(v);
	/* No failback ramp between cities: writes go to one master. */
	if (master != GTM_NO_CITY && v->city_able[master])
		city_group(v, master, w, false);
	spread(v, w, 1);
}

static double city_dist(const gtm_conf_t *conf, uint32_t a, uint32_t b)
{
	return geo_distance_km(conf->cities[a].lat, conf->cities[a].lon, conf->cities[b].lat,
	                       conf->cities[b].lon);
}

/* The able cities other than `k` that have sites of the service, nearest
 * first; returns how many. */
static size_t receivers(const svc_view_t *v, uint32_t k, uint32_t *out)
{
	size_t n = 0;
	for (uint32_t r = 0; r < v->conf->ncities; r++)
		if (r != k && v->city_has[r] && v->city_able[r] && v->city_g[r] > 0)
			out[n++] = r;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && city_dist(v->conf, k, out[j]) < city_dist(v->conf, k, out[j - 1]); j--) {
			uint32_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* nearest, one choice: city k's own share g, its remainder spilled.
 * `load` (per city) accumulates what earlier failed cities sent. */
static void plan_nearest_city(svc_view_t *v, uint32_t k, double *load)
{
	const gtm_conf_t *conf = v->conf;
	double g = v->city_able[k] ? v->city_g[k] : 0;
	double *own = wvec(v);
	if (g > 0)
		city_group(v, k, own, false);
	if (g >= 1) {
		spread(v, own, 1);
		return;
	}
	uint32_t *rc = tmp_alloc(v->x, (conf->ncities ? conf->ncities : 1) * sizeof(*rc));
	size_t nr = receivers(v, k, rc);
	bool model = v->use_capacity && conf->cities[k].demand > 0;
	for (size_t i = 0; i < nr && model; i++)
		model = conf->cities[rc[i]].demand > 0;
	if (g > 0)
		spread(v, own, g);
	double rest = 1 - g;
	if (nr == 0 || (!model && g <= 0)) {
		/* Nothing to spill to, or no model: the client's own order
		 * decides (this choice serves only its own share). */
		if (g > 0) {
			for (size_t j = 0; j < v->nsites; j++)
				v->share[j] /= g;
		}
		return;
	}
	double *w = wvec(v);
	if (!model) {
		city_group(v, rc[0], w, false);
		spread(v, w, rest);
	} else {
		double x = conf->cities[k].demand * rest;
		double *spare = tmp_alloc(v->x, nr * sizeof(*spare));
		double *take = tmp_alloc(v->x, nr * sizeof(*take));
		for (size_t i = 0; i < nr; i++) {
			double s = v->city_cap_now[rc[i]] - conf->cities[rc[i]].demand - load[rc[i]];
			spare[i] = s > 0 ? s : 0;
		}
		take[0] = x < spare[0] ? x : spare[0];
		double surplus = x - take[0], others = 0;
		for (size_t i = 1; i < nr; i++)
			others += spare[i];
		if (surplus > 0 && others > 0) {
			double f = surplus < others ? surplus / others : 1;
			for (size_t i = 1; i < nr; i++)
				take[i] = spare[i] * f;
			surplus -= f * others;
		}
		if (surplus > 0)
			take[0] += surplus;   /* overloaded anyway: stay near */
		for (size_t i = 0; i < nr; i++) {
			if (take[i] <= 0)
				continue;
			load[rc[i]] += take[i];
			memset(w, 0, v->nsites * sizeof(*w));
			city_group(v, rc[i], w, false);
			spread(v, w, rest * take[i] / x);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* The plan                                                                 */

/* The memory of a decision's views: the choices of every service in one
 * block, the shares in a few (10,000 services would otherwise cost some
 * 250,000 small allocations per decision). */
#define SHARE_BLOCK 4096   /* shares per block */

typedef struct share_block {
	struct share_block *next;
	size_t used, cap;
	gtm_share_t s[];
} share_block_t;

struct gtm_decision_mem {
	gtm_choice_view_t *choices;   /* every service's, one block */
	share_block_t *shares;
};

static gtm_share_t *shares_alloc(struct gtm_decision_mem *m, size_t n)
{
	share_block_t *b = m->shares;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > SHARE_BLOCK ? n : SHARE_BLOCK;
		share_block_t *nb = gtm_xmalloc(sizeof(*nb) + cap * sizeof(gtm_share_t));
		nb->used = 0;
		nb->cap = cap;
		if (b != NULL && cap > SHARE_BLOCK) {
			/* a big one behind the current block */
			nb->next = b->next;
			b->next = nb;
			nb->used = n;
			return nb->s;
		}
		nb->next = b;
		m->shares = b = nb;
	}
	gtm_share_t *r = b->s + b->used;
	b->used += n;
	return r;
}

/* Keeps the shares built in v->share as choice `cv` (its shares in `m`)
 * and clears them. */
static void choice_flush(svc_view_t *v, struct gtm_decision_mem *m, gtm_choice_view_t *cv)
{
	cv->n = 0;
	double sum = 0;
	size_t n = 0;
	for (size_t j = 0; j < v->nsites; j++)
		if (v->share[j] > 1e-9) {
			sum += v->share[j];
			n++;
		}
	/* Most choices of a nearest service are empty (a city without a
	 * site of it): those keep no memory, as the last decision is kept
	 * for every service. */
	cv->shares = n ? shares_alloc(m, n) : NULL;
	for (size_t j = 0; j < v->nsites && n; j++)
		if (v->share[j] > 1e-9)
			cv->shares[cv->n++] = (gtm_share_t){ v->sites[j].site, v->share[j] / sum };
	memset(v->share, 0, v->nsites * sizeof(*v->share));
}

/* Writes choice `cv` into the plan (the service is shaped with its TTL). */
static void choice_emit(const svc_view_t *v, dns_plan_t *p, uint16_t choice, const gtm_choice_view_t *cv)
{
	/* A choice that does not serve is the plan's shared empty one
	 * already (dns_plan_service_init). */
	if (cv->n == 0)
		return;
	dns_plan_site_t *pick = tmp_alloc(v->x, cv->n * sizeof(*pick));
	for (size_t i = 0; i < cv->n; i++) {
		const svc_site_t *s = NULL;
		for (size_t j = 0; j < v->nsites && !s; j++)
			if (v->sites[j].site == cv->shares[i].site)
				s = &v->sites[j];
		double wt = floor(cv->shares[i].share * WEIGHT_SCALE + 0.5);
		pick[i] = (dns_plan_site_t){
			.weight = wt < 1 ? 1 : (uint32_t)wt,
			.site = site_of(v, s)->slot,
			.a = s->a, .na = s->na,
			.aaaa = s->aaaa, .naaaa = s->naaaa,
		};
	}
	dns_plan_choice_set(p, v->si, choice, pick, cv->n);
}

/* The sites of the last resort "open": every site that is not cold (every
 * site when all are cold).  A global service never splits its writes:
 * failing open, it answers the endpoints of its master city only
 * (`master`, the effective one; any other policy passes GTM_NO_CITY).
 * Writes indices into v->sites to idx[] and returns how many.  The plan's
 * fallback and the decision's fallback view both come from here. */
static size_t fallback_select(const svc_view_t *v, uint32_t master, size_t *idx)
{
	bool any_warm = false, in_master = false;
	for (size_t i = 0; i < v->nsites; i++) {
		const gtm_site_t *st = site_of(v, &v->sites[i]);
		in_master |= st->city == master;
		any_warm |= st->role != GTM_ROLE_COLD && (master == GTM_NO_CITY || st->city == master);
	}
	if (!in_master)
		master = GTM_NO_CITY;   /* no site there at all: every city, as before */
	size_t n = 0;
	for (size_t i = 0; i < v->nsites; i++) {
		const svc_site_t *s = &v->sites[i];
		if (master != GTM_NO_CITY && site_of(v, s)->city != master)
			continue;
		if (any_warm && site_of(v, s)->role == GTM_ROLE_COLD)
			continue;
		if (s->nall_a + s->nall_aaaa == 0)
			continue;   /* every address disabled by an operator */
		idx[n++] = i;
	}
	return n;
}

/* The last resort: fail open (fallback_select), NODATA, or one address. */
static void plan_last_resort(svc_view_t *v, dns_plan_t *p, uint32_t master)
{
	const gtm_service_t *svc = v->svc;
	dns_plan_site_t *pick = tmp_alloc(v->x, (v->nsites ? v->nsites : 1) * sizeof(*pick));
	size_t n = 0;
	if (svc->last_resort == GTM_LAST_RESORT_ADDRESS) {
		pick[n++] = (dns_plan_site_t){
			.weight = 1,
			.site = DNS_PLAN_NO_SITE,     /* no site's records */
			.a = svc->lr_family == AF_INET ? &svc->lr_addr.v4 : NULL,
			.na = svc->lr_family == AF_INET,
			.aaaa = svc->lr_family == AF_INET6 ? &svc->lr_addr.v6 : NULL,
			.naaaa = svc->lr_family == AF_INET6,
		};
	} else if (svc->last_resort == GTM_LAST_RESORT_OPEN) {
		size_t *idx = tmp_alloc(v->x, (v->nsites ? v->nsites : 1) * sizeof(*idx));
		size_t k = fallback_select(v, master, idx);
		for (size_t i = 0; i < k; i++) {
			const svc_site_t *s = &v->sites[idx[i]];
			pick[n++] = (dns_plan_site_t){
				.weight = 1,
				.site = site_of(v, s)->slot,
				.a = s->all_a, .na = s->nall_a,
				.aaaa = s->all_aaaa, .naaaa = s->nall_aaaa,
			};
		}
	}
	dns_plan_choice_set(p, v->si, DNS_PLAN_FALLBACK, pick, n);
}

/* The decision's view of the same: the sites a fail-open answer gives
 * (equal shares), none with "closed" or a fixed address. */
static void view_last_resort(svc_view_t *v, struct gtm_decision_mem *m, uint32_t master,
                             gtm_choice_view_t *cv)
{
	cv->n = 0;
	cv->shares = NULL;
	if (v->svc->last_resort != GTM_LAST_RESORT_OPEN || v->nsites == 0)
		return;
	size_t *idx = tmp_alloc(v->x, v->nsites * sizeof(*idx));
	size_t k = fallback_select(v, master, idx);
	cv->shares = k ? shares_alloc(m, k) : NULL;
	for (size_t i = 0; i < k; i++)
		cv->shares[cv->n++] = (gtm_share_t){ v->sites[idx[i]].site, 1.0 / (double)k };
}

static bool service_degraded(const svc_view_t *v)
{
	for (size_t j = 0; j < v->nsites; j++) {
		const svc_site_t *s = &v->sites[j];
		if (!s->in)
			continue;
		if (!s->up || s->admin < 1 || s->fb < 1)
			return true;
		uint32_t k = site_of(v, s)->city;
		if (!v->city_able[k] || v->city_g[k] < 1)
			return true;
	}
	return false;
}

static gtm_decision_t *compute(gtm_controller_t *c, const gtm_health_t *health,
                               const gtm_admin_view_t *av, uint64_t now, evlist_t *ev, bool want_plan)
{
	const gtm_conf_t *conf = c->conf;
	gtm_decision_t *d = gtm_xcalloc(1, sizeof(*d));
	/* The plan (wire fragments for every choice) is most of the work and
	 * of the memory; what gtmctl compares needs only the views. */
	d->plan = want_plan ? dns_plan_new((uint32_t)conf->nservices) : NULL;
	d->nservices = conf->nservices;
	d->failopen = gtm_xcalloc(conf->nservices ? conf->nservices : 1, sizeof(*d->failopen));
	d->services = gtm_xcalloc(conf->nservices ? conf->nservices : 1, sizeof(*d->services));
	d->svc_sites = gtm_xcalloc(conf->nservices + 1, sizeof(*d->svc_sites));
	bool *budget_used = gtm_xcalloc(conf->ncities ? conf->ncities : 1, sizeof(*budget_used));
	/* A service has at most one view per endpoint: one array for all. */
	size_t nep = 0;
	for (size_t i = 0; i < conf->nservices; i++)
		nep += conf->services[i].nendpoints;
	d->sites = gtm_xmalloc((nep + 1) * sizeof(*d->sites));
	view_scratch_t scratch;
	scratch_init(&scratch, conf);
	uint32_t degraded = 0, last = 0;
	struct gtm_decision_mem *mem = d->mem = gtm_xcalloc(1, sizeof(*mem));
	size_t nch = 0;
	for (size_t i = 0; i < conf->nservices; i++)
		nch += conf->services[i].policy == GTM_POLICY_NEAREST ? conf->ncities : 1;
	mem->choices = gtm_xcalloc(nch ? nch : 1, sizeof(*mem->choices));
	nch = 0;

	for (size_t i = 0; i < conf->nservices; i++) {
		const gtm_service_t *svc = &conf->services[i];
		uint32_t si = (uint32_t)i;
		gtm_service_view_t *sv = &d->services[i];
		svc_view_t v;
		view_init(&v, conf, si, health && health->up ? health->up[i] : NULL,
		          av && av->ep_force && i < av->nservices ? av->ep_force + av->ep_off[i] : NULL, &scratch);
		if (ev)
			advance_service(c, &v, now, ev, budget_used);
		factors(c, &v, av, now, &d->next_due);

		uint8_t flags = svc->answer == GTM_ANSWER_ALL ? DNS_PLAN_ALL : 0;
		bool geo = svc->policy == GTM_POLICY_NEAREST;
		sv->nchoices = geo ? (uint16_t)conf->ncities : 1;
		sv->choices = mem->choices + nch;
		nch += sv->nchoices;
		sv->master = GTM_NO_CITY;
		bool serving = false;
		switch (svc->policy) {
		case GTM_POLICY_NEAREST: {
			double *load = tmp_alloc(&scratch, (conf->ncities ? conf->ncities : 1) * sizeof(*load));
			for (uint32_t k = 0; k < conf->ncities; k++) {
				if (v.city_has[k])
					plan_nearest_city(&v, k, load);
				choice_flush(&v, mem, &sv->choices[k]);
			}
			break;
		}
		case GTM_POLICY_FAILOVER:
			plan_failover(&v);
			choice_flush(&v, mem, &sv->choices[0]);
			break;
		case GTM_POLICY_PRIMARY_BACKUP:
			plan_primary_backup(&v);
			choice_flush(&v, mem, &sv->choices[0]);
			break;
		case GTM_POLICY_GLOBAL:
			sv->master = global_master(&v, av);
			plan_global(&v, sv->master);
			choice_flush(&v, mem, &sv->choices[0]);
			break;
		}
		for (uint16_t k = 0; k < sv->nchoices; k++)
			serving |= sv->choices[k].n > 0;

		/* Auto promote (global): the master unable for a hold-down. */
		if (ev && svc->policy == GTM_POLICY_GLOBAL && svc->auto_promote && sv->master != GTM_NO_CITY &&
		    !v.city_able[sv->master]) {
			track_t *t = mem_city(&c->svcs[i], sv->master);
			uint64_t since = t->unable_since ? t->unable_since : now;
			if (t->unable_since == 0)
				t->unable_since = now;
			if (now >= since + conf->controller.holddown_ms) {
				uint32_t *rc = gtm_xcalloc(conf->ncities ? conf->ncities : 1, sizeof(*rc));
				size_t nr = receivers(&v, sv->master, rc);
				if (nr > 0 && budget_ok(c, now))
					ev_add(ev, GTM_EV_PROMOTE, UINT32_MAX, rc[0], si, 0);
				free(rc);
			} else
				due(&d->next_due, since + conf->controller.holddown_ms);
		}

		d->failopen[i] = !serving;
		sv->state = !serving ? GTM_SVC_LAST_RESORT : service_degraded(&v) ? GTM_SVC_DEGRADED
		                                                                  : GTM_SVC_NORMAL;
		sv->ttl = sv->state == GTM_SVC_NORMAL ? svc->ttl : svc->degraded_ttl;
		/* The TTL is in the records' wire: shape the service now that
		 * it is known. */
		if (d->plan) {
			dns_plan_service_init(d->plan, si, sv->ttl, flags | (geo ? DNS_PLAN_GEO : 0), sv->nchoices);
			for (uint16_t k = 0; k < sv->nchoices; k++)
				choice_emit(&v, d->plan, k, &sv->choices[k]);
			plan_last_resort(&v, d->plan, sv->master);
		}
		if (sv->state == GTM_SVC_LAST_RESORT)
			view_last_resort(&v, d->mem, sv->master, &sv->fallback);
		degraded += sv->state != GTM_SVC_NORMAL;
		last += sv->state == GTM_SVC_LAST_RESORT;

		/* The site views */
		d->svc_sites[i] = d->nsites;
		for (size_t j = 0; j < v.nsites; j++) {
			const svc_site_t *s = &v.sites[j];
			d->sites[d->nsites++] = (gtm_site_view_t){
				.service = si, .site = s->site, .up = s->up, .admin = s->admin,
				.failback = s->fb * (v.city_able[site_of(&v, s)->city] ? v.city_g[site_of(&v, s)->city] : 0),
				.weight = s->w, .why = s->why, .until = s->until,
			};
		}
		d->svc_sites[i + 1] = d->nsites;
	}
	free(budget_used);
	scratch_clear(&scratch);
	if (ev) {
		c->stats.updates++;
		c->stats.services_degraded = degraded;
		c->stats.services_last_resort = last;
		uint32_t held = 0;
		for (size_t i = 0; i < c->ntracks; i++)
			held += c->tracks[i].recovering;
		c->stats.held_down = held;
		for (size_t i = 0; i < ev->n; i++)
			switch (ev->ev[i].kind) {
			case GTM_EV_SITE_DOWN: c->stats.site_failovers++; break;
			case GTM_EV_SITE_BACK:
			case GTM_EV_CITY_BACK: c->stats.failbacks++; break;
			case GTM_EV_CITY_EVACUATED: c->stats.evacuations++; break;
			case GTM_EV_EVAC_SUPPRESSED: c->stats.evacuations_suppressed++; break;
			case GTM_EV_PROMOTE: c->stats.promotions++; break;
			default: break;
			}
		d->events = ev->ev;
		d->nevents = ev->n;
	}
	return d;
}

gtm_decision_t *gtm_controller_update(gtm_controller_t *c, const gtm_health_t *health,
                                      const gtm_admin_view_t *admin, uint64_t now)
{
	evlist_t ev = { 0 };
	return compute(c, health, admin, now, &ev, true);
}

gtm_decision_t *gtm_controller_preview(const gtm_controller_t *c, const gtm_health_t *health,
                                       const gtm_admin_view_t *admin, uint64_t now)
{
	/* compute() without events only reads the memory. */
	return compute((gtm_controller_t *)c, health, admin, now, NULL, true);
}

gtm_decision_t *gtm_controller_preview_views(const gtm_controller_t *c, const gtm_health_t *health,
                                             const gtm_admin_view_t *admin, uint64_t now)
{
	return compute((gtm_controller_t *)c, health, admin, now, NULL, false);
}

gtm_decision_t *gtm_decision_ref(gtm_decision_t *d)
{
	d->refs++;
	return d;
}

void gtm_decision_free(gtm_decision_t *d)
{
	if (d == NULL)
		return;
	if (d->refs > 0) {
		d->refs--;
		return;
	}
	dns_plan_free(d->plan);
	if (d->mem != NULL) {
		for (share_block_t *b = d->mem->shares, *next; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
		free(d->mem->choices);
		free(d->mem);
	}
	free(d->services);
	free(d->failopen);
	free(d->sites);
	free(d->svc_sites);
	free(d->events);
	free(d);
}

const gtm_site_view_t *gtm_decision_site(const gtm_decision_t *d, uint32_t svc, uint32_t site)
{
	if (svc >= d->nservices)
		return NULL;
	for (size_t i = d->svc_sites[svc]; i < d->svc_sites[svc + 1]; i++)
		if (d->sites[i].site == site)
			return &d->sites[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Stateless shortcuts                                                      */

dns_plan_t *gtm_controller_plan(const gtm_conf_t *conf, const gtm_health_t *health)
{
	return gtm_controller_plan_report(conf, health, NULL);
}

dns_plan_t *gtm_controller_plan_report(const gtm_conf_t *conf, const gtm_health_t *health,
                                       bool *failopen)
{
	gtm_controller_t *c = gtm_controller_new(conf);
	gtm_decision_t *d = gtm_controller_preview(c, health, NULL, 0);
	dns_plan_t *p = d->plan;
	d->plan = NULL;
	if (failopen)
		memcpy(failopen, d->failopen, conf->nservices * sizeof(*failopen));
	gtm_decision_free(d);
	gtm_controller_free(c);
	return p;
}
