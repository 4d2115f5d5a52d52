/*
 * Where a city's clients go (gtm/core/reach.h): the walk of the DNS
 * workers' service_choice() (dns/answer.c) over a decision's views.
 */
#include <string.h>

#include "common/alloc.h"
#include "gtm/core/reach.h"

uint16_t *gtm_reach_orders_new(const gtm_conf_t *conf, const geo_map_t *map)
{
	size_t n = conf->ncities;
	uint16_t *o = gtm_xcalloc(n ? n * n : 1, sizeof(*o));
	for (size_t k = 0; k < n; k++) {
		uint16_t *row = o + k * n;
		if (map != NULL && geo_map_ncities(map) == n) {
			/* A client located at the city: no address (no CIDR rule), no
			 * country (no country rule), its coordinates. */
			geo_loc_t loc = { .lat = conf->cities[k].lat, .lon = conf->cities[k].lon,
			                  .found = true, .has_coords = true };
			if (geo_map_order(map, NULL, &loc, row, NULL) == n)
				continue;
		}
		row[0] = (uint16_t)k;
		for (size_t i = 0, j = 1; i < n; i++)
			if (i != k)
				row[j++] = (uint16_t)i;
	}
	return o;
}

void gtm_reach_order(const gtm_conf_t *conf, const gtm_decision_t *d, uint32_t svc, const uint16_t *order,
                     size_t norder, gtm_reach_t *out)
{
	memset(out, 0, sizeof(*out));
	out->city = GTM_NO_CITY;
	const gtm_service_view_t *sv = &d->services[svc];
	if (conf->services[svc].policy == GTM_POLICY_NEAREST) {
		/* The client's order, first serving choice wins (a choice that
		 * does not serve sends the client on). */
		for (size_t i = 0; i < norder; i++) {
			uint16_t k = order[i];
			if (k < sv->nchoices && sv->choices[k].n > 0) {
				out->kind = GTM_REACH_CHOICE;
				out->choice = &sv->choices[k];
				out->city = k;
				return;
			}
		}
	} else if (sv->nchoices > 0 && sv->choices[0].n > 0) {
		out->kind = GTM_REACH_CHOICE;
		out->choice = &sv->choices[0];
		return;
	}
	out->kind = GTM_REACH_LAST_RESORT;
	out->choice = &sv->fallback;
}

void gtm_reach(const gtm_conf_t *conf, const gtm_decision_t *d, const uint16_t *orders, uint32_t svc,
               uint32_t city, gtm_reach_t *out)
{
	gtm_reach_order(conf, d, svc, orders + (size_t)city * conf->ncities, conf->ncities, out);
}
