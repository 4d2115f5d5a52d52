/*
 * The safety rules of admin actions (see safety.h): what a change may not
 * do to the services' serving sites and capacity unless forced.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
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

/* A service's serving capacity fraction in a decision. */
static double service_capacity(const gtm_conf_t *conf, const gtm_decision_t *d, uint32_t svc)
{
	bool caps = true;
	for (size_t i = 0; i < d->nsites; i++)
		if (d->sites[i].service == svc && conf->sites[d->sites[i].site].capacity == 0)
			caps = false;
	double all = 0, up = 0;
	for (size_t i = 0; i < d->nsites; i++) {
		const gtm_site_view_t *s = &d->sites[i];
		const gtm_site_t *site = &conf->sites[s->site];
		if (s->service != svc || site->role == GTM_ROLE_COLD)
			continue;
		double cap = caps ? (double)site->capacity : (double)site->weight;
		all += cap;
		if (s->up)
			up += cap * s->admin;
	}
	return all > 0 ? up / all : 0;
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
	for (size_t i = 0; i < conf->nservices && rc == 0; i++) {
		const gtm_service_t *svc = &conf->services[i];
		if (dn->failopen[i] && !dc->failopen[i]) {
			snprintf(why, whylen, "service %s would have no serving site", svc->name);
			rc = 1;
			break;
		}
		double fc = service_capacity(conf, dc, (uint32_t)i), fn = service_capacity(conf, dn, (uint32_t)i);
		if (svc->min_capacity > 0 && fn + 1e-9 < svc->min_capacity && fn + 1e-9 < fc) {
			snprintf(why, whylen, "service %s would keep %.0f%% of its capacity, below its min_capacity %.0f%%",
			         svc->name, fn * 100, svc->min_capacity * 100);
			rc = 1;
		}
	}
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
