/*
 * The safety rules of admin actions (see safety.h): what a change may not
 * do to the services' serving sites and capacity unless forced.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/cluster/cluster.h"
#include "gtm/ctl/ctl_proto.h"
#include "gtm/ctl/cmd_int.h"
#include "gtm/ctl/safety.h"

typedef struct drained {
	uint32_t sites;
	double capacity;     /* fraction of the capacity of the sites that are not cold */
} drained_t;

/* Sites whose factor is below 1 (drained, draining or in an evacuated
 * city) in view `v`, and their share of the capacity. */
static drained_t drained_of(const gtm_conf_t *conf, const gtm_admin_view_t *v)
{
	drained_t d = { 0 };
	bool caps = true;
	for (size_t s = 0; s < conf->nsites; s++)
		if (conf->sites[s].role != GTM_ROLE_COLD && conf->sites[s].capacity == 0)
			caps = false;
	double all = 0, gone = 0;
	for (size_t s = 0; s < conf->nsites; s++) {
		const gtm_site_t *site = &conf->sites[s];
		if (site->role == GTM_ROLE_COLD)
			continue;
		double cap = caps ? (double)site->capacity : (double)site->weight;
		double f = v->evacuated[site->city] ? 0 : v->factor[s];
		all += cap;
		if (f < 1) {
			d.sites++;
			gone += cap * (1 - f);
		}
	}
	d.capacity = all > 0 ? gone / all : 0;
	return d;
}

/* The fraction of city `k`'s capacity of service `svc` that serves in
 * decision `d` with admin view `av`, as the controller judges a city able
 * (controller.c city_fraction with the admin factor): over the service's
 * sites in the city that are in the plan (not cold, or activated), their
 * capacity (every site of the service has one) else their weight, up x
 * admin factor.  -1 when the service has no such site there. */
static double city_fraction_of(const gtm_conf_t *conf, const gtm_decision_t *d, const gtm_admin_view_t *av,
                               uint32_t svc, uint32_t k)
{
	size_t from = d->svc_sites[svc], to = d->svc_sites[svc + 1];
	bool caps = true;
	for (size_t i = from; i < to; i++)
		if (conf->sites[d->sites[i].site].capacity == 0)
			caps = false;
	double all = 0, up = 0;
	for (size_t i = from; i < to; i++) {
		const gtm_site_view_t *s = &d->sites[i];
		const gtm_site_t *site = &conf->sites[s->site];
		if (site->city != k || (site->role == GTM_ROLE_COLD && !(av && av->activated[s->site])))
			continue;
		double cap = caps ? (double)site->capacity : (double)site->weight;
		all += cap;
		if (s->up)
			up += cap * s->admin;
	}
	return all > 0 ? up / all : -1;
}

/* Adds one broken service to the refusal: the first two are named with
 * why, the rest counted. */
typedef struct refusal {
	char first[2][200];
	size_t n;
} refusal_t;

static void refuse(refusal_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(refusal_t *r, const char *fmt, ...)
{
	if (r->n < 2) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->first[r->n], sizeof(r->first[r->n]), fmt, ap);
		va_end(ap);
	}
	r->n++;
}

int gtm_ctl_safety_check(const gtm_admin_t *cur, const gtm_admin_t *next,
                      const gtm_admin_action_t *act, uint64_t now, void *arg,
                      char *why, size_t whylen)
{
	gtm_control_t *c = arg;
	const gtm_conf_t *conf = gtm_control_conf(c);
	(void)act;
	int rc = 0;
	gtm_decision_t *dc = gtm_ctlcmd_preview_at(c, cur, GTM_ADMIN_END, now);
	gtm_decision_t *dn = gtm_ctlcmd_preview_at(c, next, GTM_ADMIN_END, now);
	gtm_admin_view_t *avc = gtm_admin_view_new(cur, GTM_ADMIN_END);
	gtm_admin_view_t *avn = gtm_admin_view_new(next, GTM_ADMIN_END);
	/* Every service the change would break, not only the first. */
	refusal_t r = { 0 };
	for (size_t i = 0; i < conf->nservices; i++) {
		const gtm_service_t *svc = &conf->services[i];
		if (dn->failopen[i] && !dc->failopen[i]) {
			refuse(&r, "service %s would have no serving site", svc->name);
			continue;
		}
		/* min_capacity is per city (gtm.conf(5)): a city of the service
		 * that meets it now and would not. */
		if (svc->min_capacity <= 0)
			continue;
		for (uint32_t k = 0; k < conf->ncities; k++) {
			double fc = city_fraction_of(conf, dc, avc, (uint32_t)i, k);
			double fn = city_fraction_of(conf, dn, avn, (uint32_t)i, k);
			if (fc < 0 || fc + 1e-9 < svc->min_capacity || fn + 1e-9 >= svc->min_capacity)
				continue;
			refuse(&r, "service %s, city %s would keep %.0f%% of its capacity, below its min_capacity %.0f%%",
			       svc->name, conf->cities[k].name, fn * 100, svc->min_capacity * 100);
			break;
		}
	}
	if (r.n > 0) {
		rc = 1;
		if (r.n == 1)
			snprintf(why, whylen, "%s", r.first[0]);
		else if (r.n == 2)
			snprintf(why, whylen, "%s; %s", r.first[0], r.first[1]);
		else
			snprintf(why, whylen, "%s; %s; and %zu more services", r.first[0], r.first[1], r.n - 2);
	}
	gtm_admin_view_free(avc);
	gtm_admin_view_free(avn);
	if (rc == 0) {
		gtm_admin_view_t *vc = gtm_admin_view_new(cur, GTM_ADMIN_END);
		gtm_admin_view_t *vn = gtm_admin_view_new(next, GTM_ADMIN_END);
		drained_t a = drained_of(conf, vc), b = drained_of(conf, vn);
		uint32_t max_sites = conf->control.max_drained_sites;
		double max_cap = conf->control.max_drained_capacity;
		if (max_sites > 0 && b.sites > max_sites && b.sites > a.sites) {
			snprintf(why, whylen, "%u sites would be drained or evacuated (control.max_drained_sites %u)",
			         b.sites, max_sites);
			rc = 1;
		} else if (b.capacity > max_cap + 1e-9 && b.capacity > a.capacity + 1e-9) {
			snprintf(why, whylen, "%.0f%% of the capacity would be drained or evacuated (control.max_drained_capacity %.0f%%)",
			         b.capacity * 100, max_cap * 100);
			rc = 1;
		}
		gtm_admin_view_free(vc);
		gtm_admin_view_free(vn);
	}
	gtm_decision_free(dc);
	gtm_decision_free(dn);
	return rc;
}
