/*
 * The controller: topology (+ health, later admin state) -> answer plan.
 * The rules per policy are in controller.h; this file only applies them.
 *
 * Per service, the endpoints are first grouped by site (in the order the
 * sites first appear among the endpoints), each site with two address lists:
 * the endpoints that are up, and all of them (for the fail-open fallback).
 * Every choice is then a list of those sites with a weight, handed to
 * dns_plan_choice_set(), which copies what it keeps.
 */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gtm/controller.h"

/* One site of one service. */
typedef struct svc_site {
	uint32_t site;               /* index into conf->sites */
	struct in_addr *a, *all_a;   /* up endpoints / every endpoint */
	size_t na, nall_a;
	struct in6_addr *aaaa, *all_aaaa;
	size_t naaaa, nall_aaaa;
} svc_site_t;

typedef struct svc_view {
	const gtm_conf_t *conf;
	const gtm_service_t *svc;
	svc_site_t *sites;
	size_t nsites;
	dns_plan_site_t *pick;       /* scratch for one choice, nsites long */
	size_t npick;
	bool serving;                /* some choice got a site */
} svc_view_t;

static void view_init(svc_view_t *v, const gtm_conf_t *conf, const gtm_service_t *svc,
                      const bool *up)
{
	memset(v, 0, sizeof(*v));
	v->conf = conf;
	v->svc = svc;
	v->sites = gtm_xcalloc(svc->nendpoints ? svc->nendpoints : 1, sizeof(*v->sites));
	v->pick = gtm_xcalloc(svc->nendpoints ? svc->nendpoints : 1, sizeof(*v->pick));
	for (size_t i = 0; i < svc->nendpoints; i++) {
		const gtm_endpoint_t *ep = &svc->endpoints[i];
		svc_site_t *s = NULL;
		for (size_t j = 0; j < v->nsites && !s; j++)
			if (v->sites[j].site == ep->site)
				s = &v->sites[j];
		if (s == NULL) {
			s = &v->sites[v->nsites++];
			s->site = ep->site;
			/* Sized for the worst case: every endpoint at this site. */
			s->a = gtm_xcalloc(svc->nendpoints, sizeof(*s->a));
			s->all_a = gtm_xcalloc(svc->nendpoints, sizeof(*s->all_a));
			s->aaaa = gtm_xcalloc(svc->nendpoints, sizeof(*s->aaaa));
			s->all_aaaa = gtm_xcalloc(svc->nendpoints, sizeof(*s->all_aaaa));
		}
		bool is_up = up == NULL || up[i];
		if (ep->family == AF_INET) {
			s->all_a[s->nall_a++] = ep->addr.v4;
			if (is_up)
				s->a[s->na++] = ep->addr.v4;
		} else {
			s->all_aaaa[s->nall_aaaa++] = ep->addr.v6;
			if (is_up)
				s->aaaa[s->naaaa++] = ep->addr.v6;
		}
	}
}

static void view_clear(svc_view_t *v)
{
	for (size_t i = 0; i < v->nsites; i++) {
		free(v->sites[i].a);
		free(v->sites[i].all_a);
		free(v->sites[i].aaaa);
		free(v->sites[i].all_aaaa);
	}
	free(v->sites);
	free(v->pick);
}

static const gtm_site_t *site_of(const svc_view_t *v, const svc_site_t *s)
{
	return &v->conf->sites[s->site];
}

static bool site_up(const svc_site_t *s)
{
	return s->na + s->naaaa > 0;
}

/* Usable by weight: not cold, something up, weight > 0. */
static bool site_usable(const svc_view_t *v, const svc_site_t *s)
{
	const gtm_site_t *site = site_of(v, s);
	return site->role != GTM_ROLE_COLD && site->weight > 0 && site_up(s);
}

static void pick_add(svc_view_t *v, const svc_site_t *s, uint32_t weight)
{
	v->pick[v->npick++] = (dns_plan_site_t){
		.weight = weight,
		.a = s->a, .na = s->na,
		.aaaa = s->aaaa, .naaaa = s->naaaa,
	};
}

/* Adds the usable sites of `city` with `role`; returns how many. */
static size_t pick_city_role(svc_view_t *v, uint32_t city, gtm_role_t role)
{
	size_t n = 0;
	for (size_t i = 0; i < v->nsites; i++) {
		const svc_site_t *s = &v->sites[i];
		const gtm_site_t *site = site_of(v, s);
		if (site->city != city || site->role != role || !site_usable(v, s))
			continue;
		pick_add(v, s, site->weight);
		n++;
	}
	return n;
}

/* A city's choice: its active sites, else its backup-role sites. */
static size_t pick_city(svc_view_t *v, uint32_t city)
{
	size_t n = pick_city_role(v, city, GTM_ROLE_ACTIVE);
	if (n == 0)
		n = pick_city_role(v, city, GTM_ROLE_BACKUP);
	return n;
}

static void choice_flush(svc_view_t *v, dns_plan_t *p, uint32_t svc, uint16_t choice)
{
	dns_plan_choice_set(p, svc, choice, v->pick, v->npick);
	if (choice != DNS_PLAN_FALLBACK && v->npick > 0)
		v->serving = true;
	v->npick = 0;
}

static void plan_nearest(svc_view_t *v, dns_plan_t *p, uint32_t svc)
{
	for (size_t c = 0; c < v->conf->ncities; c++) {
		pick_city(v, (uint32_t)c);
		choice_flush(v, p, svc, (uint16_t)c);
	}
}

static void plan_failover(svc_view_t *v, dns_plan_t *p, uint32_t svc)
{
	const gtm_service_t *s = v->svc;
	for (size_t i = 0; i < s->norder && v->npick == 0; i++)
		for (size_t j = 0; j < v->nsites; j++) {
			const svc_site_t *ss = &v->sites[j];
			if (ss->site != s->order[i])
				continue;
			/* The order is explicit: the weight (a share inside a
			 * city) has no say here. */
			if (site_of(v, ss)->role != GTM_ROLE_COLD && site_up(ss))
				pick_add(v, ss, 1);
			break;
		}
	choice_flush(v, p, svc, 0);
}

static void plan_primary_backup(svc_view_t *v, dns_plan_t *p, uint32_t svc)
{
	const gtm_service_t *s = v->svc;
	if (s->primary != GTM_NO_CITY)
		pick_city(v, s->primary);
	if (v->npick == 0 && s->backup != GTM_NO_CITY) {
		pick_city_role(v, s->backup, GTM_ROLE_ACTIVE);
		pick_city_role(v, s->backup, GTM_ROLE_BACKUP);
	}
	if (v->npick == 0 && s->backup == GTM_NO_CITY)
		for (size_t i = 0; i < v->nsites; i++) {
			const svc_site_t *ss = &v->sites[i];
			if (site_of(v, ss)->role == GTM_ROLE_BACKUP && site_usable(v, ss))
				pick_add(v, ss, site_of(v, ss)->weight);
		}
	choice_flush(v, p, svc, 0);
}

static void plan_global(svc_view_t *v, dns_plan_t *p, uint32_t svc)
{
	if (v->svc->master != GTM_NO_CITY)
		pick_city(v, v->svc->master);
	choice_flush(v, p, svc, 0);
}

/* Every endpoint of every site that is not cold (of every site when all
 * are cold), health and weight aside: the fail-open answer. */
static void plan_fallback(svc_view_t *v, dns_plan_t *p, uint32_t svc)
{
	bool any_warm = false;
	for (size_t i = 0; i < v->nsites; i++)
		any_warm |= site_of(v, &v->sites[i])->role != GTM_ROLE_COLD;
	for (size_t i = 0; i < v->nsites; i++) {
		const svc_site_t *s = &v->sites[i];
		if (any_warm && site_of(v, s)->role == GTM_ROLE_COLD)
			continue;
		v->pick[v->npick++] = (dns_plan_site_t){
			.weight = 1,
			.a = s->all_a, .na = s->nall_a,
			.aaaa = s->all_aaaa, .naaaa = s->nall_aaaa,
		};
	}
	choice_flush(v, p, svc, DNS_PLAN_FALLBACK);
}

dns_plan_t *gtm_controller_plan(const gtm_conf_t *conf, const gtm_health_t *health)
{
	dns_plan_t *p = dns_plan_new((uint32_t)conf->nservices);
	for (size_t i = 0; i < conf->nservices; i++) {
		const gtm_service_t *svc = &conf->services[i];
		uint32_t si = (uint32_t)i;
		uint8_t flags = svc->answer == GTM_ANSWER_ALL ? DNS_PLAN_ALL : 0;
		svc_view_t v;
		view_init(&v, conf, svc, health && health->up ? health->up[i] : NULL);
		if (svc->policy == GTM_POLICY_NEAREST) {
			dns_plan_service_init(p, si, svc->ttl, flags | DNS_PLAN_GEO, (uint16_t)conf->ncities);
			plan_nearest(&v, p, si);
		} else {
			dns_plan_service_init(p, si, svc->ttl, flags, 1);
			switch (svc->policy) {
			case GTM_POLICY_FAILOVER:
				plan_failover(&v, p, si);
				break;
			case GTM_POLICY_PRIMARY_BACKUP:
				plan_primary_backup(&v, p, si);
				break;
			case GTM_POLICY_GLOBAL:
				plan_global(&v, p, si);
				break;
			case GTM_POLICY_NEAREST:
				break;
			}
		}
		plan_fallback(&v, p, si);
		if (!v.serving)
			log_warn("service %s, no serving site, answering every endpoint (fail open)",
			         svc->name);
		view_clear(&v);
	}
	return p;
}
