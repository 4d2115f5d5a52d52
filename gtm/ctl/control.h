/*
 * The control plane of gtmd in one object: the admin state (gtm/core/admin.h),
 * the controller (gtm/core/controller.h), the control socket (gtm/ctl/ctl.h, with
 * the command handlers of gtm/ctl/cmd_*.c) and the one timer that wakes the
 * controller for the next ramp step or hold-down expiry.
 *
 * gtmd makes one at start-up, rebinds it after every reload, and calls
 * gtm_control_publish() whenever an input changed (a health tick, a
 * reload, a new GeoIP file); the object also publishes by itself after an
 * operator action and when its timer fires.
 *
 * A publish: settle finished drain ramps, read the admin view, run the
 * controller, apply what the controller wants done automatically (promote
 * a global service's master with auto_promote; pause a drain ramp while a
 * receiving site is down, resume it once it is up again), build and
 * publish the snapshot, then log the automatic changes and append them to
 * the history with their detection and publication times, and arm the
 * timer.
 *
 * Detection time (first failed probe -> verdict) is derived from the
 * check's parameters: fall x the last probe's latency + (fall - 1) x
 * recheck (rise for a recovery), because the probe engine keeps the
 * verdict's time but not the first failure's.  Publication time is the
 * verdict's time (the endpoint's since_ms) to the return of
 * dns_snapshot_publish (every worker then serves the new snapshot).
 *
 * Every function runs on the control thread.
 */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/diag.h"
#include "dns/snapshot.h"
#include "gtm/core/admin.h"
#include "gtm/core/build.h"
#include "gtm/conf/conf.h"
#include "gtm/core/controller.h"
#include "gtm/core/gen.h"
#include "gtm/core/health.h"

typedef struct gtm_control gtm_control_t;

typedef struct gtm_control_hooks {
	/* gtmctl reload: re-reads the configuration as SIGHUP does (and
	 * rebinds this object).  0, with one line per restart-only key that
	 * changed in `notes` ("server.workers changed: restart to apply"), or
	 * a negative GTM_E* with the problems in `diag`.  Required. */
	int (*reload)(void *arg, gtm_diag_t *diag, gtm_diag_t *notes);
	/* gtmctl stats: the figures as a JSON object (gtm/daemon/stats.h's
	 * gtm_stats_snapshot); NULL: a built-in set.  The controller's own
	 * figures (controller.*) are added either way.  New reference. */
	json_t *(*stats)(void *arg);
	void *arg;
} gtm_control_hooks_t;

/*
 * Makes the admin state (loaded from control.state_file), the controller
 * and, when the configuration has a `control` group, the control socket,
 * on `base`.  conf, build and health (may be NULL: no probes) are
 * borrowed until the next rebind.  NULL with the problem in `diag` when
 * the socket cannot be made.
 */
gtm_control_t *gtm_control_new(struct event_base *base, const gtm_conf_t *conf, gtm_build_t *build,
                               gtm_health_mon_t *health, const gtm_control_hooks_t *hooks,
                               gtm_diag_t *diag);

/* After a reload: the new generation (its objects borrowed).  The admin
 * state and the controller move to the new configuration through `map`
 * (gtm/core/gen.h); a changed socket path, mode or group makes a new
 * socket (on failure the old one stays, logged).  A changed state or
 * history file takes effect at once: the state in memory is saved to the
 * new state file. */
void gtm_control_rebind(gtm_control_t *c, const gtm_gen_t *gen, const gtm_remap_t *map);

/* The same as a gtm_gen_member_t's rebind (`arg` is the gtm_control_t). */
void gtm_control_gen_rebind(void *arg, gtm_gen_t *next, const gtm_remap_t *map);

/* Runs the controller and publishes a snapshot (see above).  Returns it
 * (owned by the snapshot machinery: valid until the next publish). */
dns_snapshot_t *gtm_control_publish(gtm_control_t *c);

/* Closes the socket, saves nothing more (every change was saved when it
 * was made), frees.  NULL is a no-op. */
void gtm_control_free(gtm_control_t *c);

/* For gtm/daemon/stats.c and gtm/ctl/cmd_*.c. */
gtm_admin_t *gtm_control_admin(const gtm_control_t *c);
/* Cluster mode (gtm/cluster/cluster.h), or NULL for a node alone. */
struct gtm_cluster;
struct gtm_cluster *gtm_control_cluster(const gtm_control_t *c);
/* The answers per site (gtm/core/siteans.h) for `status`: borrowed, may be NULL
 * (status then shows no measured share). */
struct gtm_siteans;
void gtm_control_set_siteans(gtm_control_t *c, struct gtm_siteans *t);
struct gtm_siteans *gtm_control_siteans(const gtm_control_t *c);
void gtm_control_stats(const gtm_control_t *c, gtm_controller_stats_t *out);

/* ---- for gtm/ctl/cmd_*.c ----------------------------------------------------- */

const gtm_conf_t *gtm_control_conf(const gtm_control_t *c);
gtm_build_t *gtm_control_build(const gtm_control_t *c);
gtm_health_mon_t *gtm_control_health(const gtm_control_t *c);
const gtm_controller_t *gtm_control_controller(const gtm_control_t *c);
/* The decision behind the snapshot served now (NULL before the first publish). */
const gtm_decision_t *gtm_control_decision(const gtm_control_t *c);
/* The snapshot served now (NULL before the first publish). */
const dns_snapshot_t *gtm_control_snapshot(const gtm_control_t *c);
const gtm_control_hooks_t *gtm_control_hooks(const gtm_control_t *c);
/*
 * The views (d->plan NULL) for the admin state `a` seen at `admin_now`
 * (GTM_ADMIN_END: where its ramps end), with the health of now, at `now`,
 * memory untouched.  When the decision behind the snapshot served now, or
 * the last preview since it, was computed from the same admin view and
 * health and nothing in it is due before `now`, that one is shared (the
 * same computation would give it again); else computed, and kept as the
 * last preview until the next publish.  A drain's preview, its safety
 * check and its answers' before and after are so one computation, not
 * one each.  Caller frees (gtm_decision_free drops one reference).
 */
gtm_decision_t *gtm_control_views(gtm_control_t *c, const gtm_admin_t *a, uint64_t admin_now, uint64_t now);

/* The controller's plan for the admin state `a` at `now`, with the health
 * of now, memory untouched.  Caller frees. */
gtm_decision_t *gtm_control_preview(const gtm_control_t *c, const gtm_admin_t *a, uint64_t now);
