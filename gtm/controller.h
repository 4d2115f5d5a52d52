/*
 * The controller: from the topology (and, as later issues add them, the
 * endpoints' health and the operators' admin state) to the answer plan that
 * the DNS workers serve.
 *
 * It is a pure function of its inputs, run on the control thread whenever
 * one of them changes: config load or reload, a health flip, a drain.  It
 * never looks at the clock or at files, so a test states the inputs and
 * reads the plan.
 *
 * What each policy compiles to (docs/gtm.conf.md says it for operators):
 *
 *   A service's sites are its endpoints grouped by site; a site's addresses
 *   are the service's endpoints there (only those that are up).  Sites with
 *   the role "cold" never enter a choice.  "Usable" below means: not cold,
 *   at least one endpoint up, weight > 0 (a weight-0 site takes no share).
 *
 *   nearest         DNS_PLAN_GEO, one choice per city (index = city index):
 *                   the city's usable active sites by site weight; when it
 *                   has none, its usable backup-role sites.  A city with
 *                   neither does not serve, and its clients fall through to
 *                   their next city.
 *   failover        one choice: the first site in the service's `order`
 *                   that has an endpoint up (all of its addresses; weight
 *                   does not matter, a weight-0 site still serves here).
 *   primary-backup  one choice: the primary city's sites (as for nearest);
 *                   when none is usable, the backup city's usable sites
 *                   (any role but cold), or, without a `backup` city, the
 *                   service's usable backup-role sites wherever they are.
 *   global          one choice: the master city's sites (as for nearest).
 *
 *   answer = "all" sets DNS_PLAN_ALL.  The fallback (what a client gets
 *   when no choice in its order serves: fail open, DESIGN.md) holds every
 *   endpoint of every site of the service that is not cold, whatever its
 *   health or weight; when every site of the service is cold, every site.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "dns/plan.h"
#include "gtm/conf.h"

/*
 * What the probes say, as the controller reads it.  For now a plain table;
 * gtm/state.c (health-check issue) will publish it.  up[i][j] is the health
 * of endpoint j of conf->services[i] (config order); a NULL row, or a NULL
 * gtm_health_t, means every endpoint up.  Borrowed.
 */
typedef struct gtm_health {
	const bool *const *up;
} gtm_health_t;

/*
 * Compiles the plan for `conf` (checked by gtm_conf_load) and `health`
 * (NULL: every endpoint up).  Returns a new plan (the caller owns it;
 * dns_snapshot_new takes it).  Never fails; aborts on OOM.  Control thread.
 *
 * Later inputs (admin state: drained sites, evacuated cities, a promoted
 * master, activated cold sites) will come as further const arguments.
 */
dns_plan_t *gtm_controller_plan(const gtm_conf_t *conf, const gtm_health_t *health);
