/*
 * From a checked configuration to a publishable snapshot: loads the zone
 * files, marks the service names, compiles the answer plan.  Control thread.
 */
#pragma once

#include "common/diag.h"
#include "dns/snapshot.h"
#include "gtm/conf.h"

/*
 * Builds a snapshot for `conf`: zones (ldns), service names and the plan
 * (every endpoint of a service, in config order, at the service TTL).
 * Returns NULL with every problem in `diag`.
 */
dns_snapshot_t *gtm_build_snapshot(const gtm_conf_t *conf, gtm_diag_t *diag);

/* The dns_opts_t for `conf` (EDNS size, NSID). */
void gtm_build_opts(const gtm_conf_t *conf, dns_opts_t *opts);
