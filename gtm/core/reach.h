/*
 * Where a city's clients go: the one walk that previews, explain and the
 * answer path agree on.
 *
 * The DNS workers answer a client of a `nearest` service with the first
 * choice of its city order that serves, else the service's fallback (its
 * last resort).  A preview that showed only the client's own city's choice
 * would say "(none: fallback)" where the clients in fact spill to the next
 * city.  gtm_reach() walks a decision the same way for the clients of one
 * city, so what an operator is shown is where the answers go.
 *
 * "The clients of city k" are clients located at k's coordinates: their
 * order is the map's distance order from k (the order a geo database
 * location there gets; CIDR and country rules name other clients).
 *
 * Every function runs on the control thread; no allocation in gtm_reach.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/plan.h"
#include "geo/map.h"
#include "gtm/conf/conf.h"
#include "gtm/core/controller.h"

/* The city orders of the clients of each city: orders[k * n + i] is the
 * i-th city for clients of city k (n = conf->ncities).  NULL map: every
 * city's order is config order, starting with itself.  Caller frees. */
uint16_t *gtm_reach_orders_new(const gtm_conf_t *conf, const geo_map_t *map);

typedef enum gtm_reach_kind {
	GTM_REACH_CHOICE = 0,     /* a choice serves: `choice`, from `city` */
	GTM_REACH_LAST_RESORT,    /* nothing in the order serves: the fallback */
} gtm_reach_kind_t;

typedef struct gtm_reach {
	gtm_reach_kind_t kind;
	/* CHOICE: the shares answered; LAST_RESORT: the fallback's view (the
	 * sites a fail-open answer gives; empty with last_resort closed or a
	 * fixed address: see conf). */
	const gtm_choice_view_t *choice;
	uint32_t city;            /* CHOICE of a nearest service: the city whose choice
	                           * serves (the clients' own, or where they spill);
	                           * GTM_NO_CITY for a service with one choice */
} gtm_reach_t;

/*
 * Where the clients of city `city` (an index; ignored for a service with
 * one choice) go for service `svc` in decision `d`.  `orders` from
 * gtm_reach_orders_new for d's configuration.  No allocation.
 */
void gtm_reach(const gtm_conf_t *conf, const gtm_decision_t *d, const uint16_t *orders, uint32_t svc,
               uint32_t city, gtm_reach_t *out);

/* The same for one client's own order (`order`, `norder` cities: what
 * geo_map_order gives it; explain). */
void gtm_reach_order(const gtm_conf_t *conf, const gtm_decision_t *d, uint32_t svc, const uint16_t *order,
                     size_t norder, gtm_reach_t *out);
