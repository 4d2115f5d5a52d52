/*
 * The generation: one loaded configuration and everything made from it
 * (its zones and GeoIP database, its probes), and the one owner that
 * replaces it.
 *
 * A gtm_gen_t is what gtmd serves: the checked configuration, the build
 * (zones, geo database, map, tree: gtm/core/build.h) and the health
 * monitor (the probes of its checks: gtm/core/health.h).  Start-up makes
 * the first generation, each reload the next one; nothing else swaps
 * configurations.
 *
 * A reload (gtm_gen_owner_reload):
 *   1. load and check the new configuration and what it names (zones, the
 *      GeoIP database); any problem refuses it whole, the running one keeps
 *      serving;
 *   2. compute once the remap from the running generation's indices to the
 *      new one's (gtm_remap_t): sites, cities, services and endpoints,
 *      matched by the one name rule of common/name.h;
 *   3. make the new probes, carrying the state of every unchanged target
 *      (a target's identity is its check parameters, address and port);
 *      a failure here still refuses the reload;
 *   4. from here nothing fails: carry the build's fail-open state through
 *      the remap, then hand (next, remap) to every member in the order they
 *      joined (gtm_gen_member_t: answer counters, metrics, the DNS server's
 *      live settings, the control plane with the admin state, controller and
 *      cluster), free the old generation, start the probes and publish once;
 *   5. say which restart-only keys differ from what gtmd runs with (the
 *      values it started with: "server.workers changed: restart to apply";
 *      gtm_conf_restart_changes), in the log and to the caller (gtmctl
 *      reload).
 *
 * A component joins by registering a member with a rebind function; it
 * must not keep indices or pointers into the old configuration past its
 * rebind (the old generation is freed right after the last member).
 *
 * Every function runs on the control thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "gtm/conf/conf.h"
#include "gtm/core/build.h"
#include "gtm/core/health.h"

struct event_base;

typedef struct gtm_gen {
	uint64_t number;            /* 1 for the first configuration, +1 per reload */
	gtm_conf_t *conf;
	gtm_build_t *build;         /* borrows conf */
	gtm_health_mon_t *health;   /* borrows conf; NULL until the probes are made */
} gtm_gen_t;

/* ---- the remap ----------------------------------------------------------- */

#define GTM_REMAP_NONE UINT32_MAX

/*
 * Old indices to new and back, for one reload.  In each direction an entry
 * is GTM_REMAP_NONE when the object exists on one side only.  Services and
 * zones match as DNS names, sites, cities and checks exactly (common/name.h).
 * An endpoint is the same when its service, its site and its address are.
 * (A probe target's identity is its check parameters, address and port, not
 * a name: gtm_health_mon_new carries targets by that key, so checks need no
 * entry here.)
 */
typedef struct gtm_remap {
	const gtm_conf_t *old, *conf;
	uint32_t *site_new, *city_new, *service_new;   /* [old index] */
	uint32_t *site_old, *city_old, *service_old;   /* [new index] */
	/* Endpoints of new service s: endpoint_old[ep_base[s] + e] is the index
	 * of the same endpoint among the old service's, or GTM_REMAP_NONE. */
	size_t *ep_base;
	uint32_t *endpoint_old;
} gtm_remap_t;

/* The remap from `old` to `conf` (both borrowed; must outlive it). */
gtm_remap_t *gtm_remap_new(const gtm_conf_t *old, const gtm_conf_t *conf);

/* NULL is a no-op. */
void gtm_remap_free(gtm_remap_t *m);

/* The old index of endpoint `e` of new service `s`, or GTM_REMAP_NONE. */
static inline uint32_t gtm_remap_endpoint_old(const gtm_remap_t *m, size_t s, size_t e)
{
	return m->endpoint_old[m->ep_base[s] + e];
}

/* ---- generations ---------------------------------------------------------- */

/*
 * Loads `path` and what it names into a generation without probes (the
 * check of `gtmd -t`, and step 1 of a reload).  NULL with every problem in
 * `diag`.
 */
gtm_gen_t *gtm_gen_load(const char *path, gtm_diag_t *diag);

/* The same for a reload of `cur` (borrowed; NULL: as gtm_gen_load): an
 * unchanged GeoIP database and city map are shared with cur's build
 * instead of being opened and translated again (gtm_build_new_from). */
gtm_gen_t *gtm_gen_load_next(const char *path, const gtm_gen_t *cur, gtm_diag_t *diag);

/* Frees the probes, the build and the configuration.  NULL is a no-op. */
void gtm_gen_free(gtm_gen_t *g);

/* ---- the owner ------------------------------------------------------------ */

typedef struct gtm_gen_owner gtm_gen_owner_t;

/* A component of the running generation. */
typedef struct gtm_gen_member {
	const char *name;           /* for the debug log: "control", "metrics" */
	/*
	 * Moves the component to `next`: from now on it reads next's
	 * configuration, build and health; `map` translates every index it
	 * kept from the previous generation.  The previous generation is still
	 * alive during the call and freed after the last member.  Cannot fail:
	 * what could fail was checked before the first member was called.
	 */
	void (*rebind)(void *arg, gtm_gen_t *next, const gtm_remap_t *map);
	void *arg;
} gtm_gen_member_t;

typedef struct gtm_gen_hooks {
	/* The probes' coalesced tick (gtm_health_publish_cb_t) of every
	 * generation's monitor. */
	gtm_health_publish_cb_t on_health;
	/* Publishes a snapshot of the running generation: once at the end of
	 * every reload.  Required. */
	void (*publish)(void *arg);
	void *arg;
} gtm_gen_hooks_t;

/*
 * The owner of the configuration at `path` (borrowed), with its first
 * generation loaded (no probes yet: gtm_gen_owner_start_health).  The
 * probes run on `base`.  NULL with the problems in `diag`.
 */
gtm_gen_owner_t *gtm_gen_owner_new(const char *path, struct event_base *base,
                                   const gtm_gen_hooks_t *hooks, gtm_diag_t *diag);

/* Frees the running generation (stop the members first).  NULL: no-op. */
void gtm_gen_owner_free(gtm_gen_owner_t *o);

/* Start-up: makes the first generation's probes (restored from the state
 * file) and starts them.  0, or a negative GTM_E* with `diag` filled. */
int gtm_gen_owner_start_health(gtm_gen_owner_t *o, gtm_diag_t *diag);

/* Appends a member (copied); members are rebound in the order they joined. */
void gtm_gen_owner_join(gtm_gen_owner_t *o, const gtm_gen_member_t *m);

/* server.listen comes from the command line (gtmd -l): its changes in the
 * file are not reported as needing a restart. */
void gtm_gen_owner_listen_fixed(gtm_gen_owner_t *o, bool fixed);

/* The running generation (borrowed until the next reload). */
gtm_gen_t *gtm_gen_owner_current(const gtm_gen_owner_t *o);

/*
 * Reloads (see the top of this file).  Returns 0, with one line per
 * restart-only key that changed added to `notes` (may be NULL); or a
 * negative GTM_E* with the problems in `diag` (may be NULL), the running
 * generation untouched.  Counts both in gtm_gen_owner_stats.
 */
int gtm_gen_owner_reload(gtm_gen_owner_t *o, gtm_diag_t *diag, gtm_diag_t *notes);

typedef struct gtm_gen_stats {
	uint64_t reloads;           /* reloads that succeeded */
	uint64_t reload_failures;   /* reloads refused */
	uint32_t last_reload_ms;    /* the last successful reload, load to publish */
} gtm_gen_stats_t;

void gtm_gen_owner_stats(const gtm_gen_owner_t *o, gtm_gen_stats_t *out);
