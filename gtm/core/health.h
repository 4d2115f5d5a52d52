/*
 * Endpoint health: the configured checks turned into probe targets of one
 * chk_engine (checks/check.h) on the control thread, their verdicts turned
 * into the table the controller reads (gtm_health_t), the per-site serving
 * state (quorum), the state file, and the status the control surface and
 * metrics read.
 *
 * Targets.  One per distinct (check parameters, probe address, probe port),
 * so that services or endpoints probing the same thing share one probe;
 * each maps to the endpoints that use it.  The check's name is not part of
 * the identity (two checks with equal parameters are one probe, logged
 * under the first one's name).  A target's label in the engine's log lines
 * is "SERVICE SITE ADDRESS" of its first endpoint, with " (+N)" when N more
 * endpoints share it.
 *
 * Changes.  The engine's callback marks the monitor dirty and arms a
 * one-shot tick of GTM_HEALTH_TICK_MS; the tick recomputes the table and
 * the sites' serving states (logging "service S, site X, serving -> not
 * serving (0 of 1 endpoints up, quorum 1)" once per change), then calls
 * the publish callback once.  A burst of flaps costs one snapshot per
 * tick.  The state file is written on its own coalesced timer
 * (GTM_HEALTH_SAVE_MS) and at gtm_health_mon_save().
 *
 * Up or not, per endpoint: no check -> up; UP -> up; DOWN -> not up;
 * UNKNOWN (never probed, not restored) -> up with health.unknown = "up",
 * not up with "wait" (gtmd, with "wait", also does not start answering
 * before every target has a verdict or unknown_wait has passed).
 *
 * State file (health.state_file): text, written atomically (temporary file
 * in the same folder, fsync, rename, fsync of the folder):
 *
 *     # gtm health state v1
 *     <check name> <probe address> <probe port> <param hash> up|down <changed_at_ms>
 *
 * one line per target with a verdict.  <param hash> is 16 hex digits of a
 * 64-bit FNV-1a hash over the check's effective parameters (type, timing,
 * rise/fall, source, and the type's own keys; not its name), so that a
 * changed check does not inherit a stale verdict.  At start-up a target
 * whose (address, port, hash) is in the file starts at that state (no
 * probe needed before it is answered or left out).  A missing file is
 * logged at info, a corrupt one (any bad line) at warning, and either way
 * gtmd starts as if there were none.
 *
 * Every function here runs on the control thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checks/check.h"
#include "common/diag.h"
#include "gtm/conf/conf.h"
#include "gtm/core/controller.h"

struct event_base;
struct gtm_remap;   /* gtm/core/gen.h */

/* Coalescing: one republish per tick, one state file write per save period. */
#define GTM_HEALTH_TICK_MS 10
#define GTM_HEALTH_SAVE_MS 200

typedef struct gtm_health_mon gtm_health_mon_t;

/* Called from the tick after the table changed: rebuild and publish the
 * snapshot with gtm_health_mon_table().  Must not free the monitor. */
typedef void (*gtm_health_publish_cb_t)(void *arg);

/*
 * Makes the targets for `conf` (borrowed; must outlive the monitor) on
 * `base` (borrowed), not started.
 *
 * prev NULL (start-up): targets start at the state the state file gives
 * them (if configured and readable), else UNKNOWN.
 * prev not NULL (reload): every target whose parameters and address are
 * unchanged keeps prev's state, counters and probe cadence
 * (chk_engine_reconcile: a target's identity is its parameters, address
 * and port, not a name); the sites' serving states (matched through `map`,
 * the reload's remap from prev's configuration to `conf`) and the
 * cumulative counters carry over too.  `map` is NULL exactly when prev is.  prev is not modified: free it afterwards, then
 * gtm_health_mon_start() the new one.
 *
 * Returns NULL with the problems in `diag` when a target cannot be made
 * (gtm_conf_load has checked everything the probe library checks, so this
 * is rare: e.g. a CA file that became unreadable).
 */
gtm_health_mon_t *gtm_health_mon_new(const gtm_conf_t *conf, struct event_base *base,
                                     const gtm_health_mon_t *prev, const struct gtm_remap *map,
                                     gtm_health_publish_cb_t cb, void *arg, gtm_diag_t *diag);

/* While quiet, sites' serving changes are applied but not logged: gtmd's
 * start-up wait (health.unknown = "wait"), where every site starts "not
 * serving" and the first round would log each as a change. */
void gtm_health_mon_quiet(gtm_health_mon_t *m, bool quiet);

/* Starts probing.  Returns 0 (GTM_EINVAL when started already). */
int gtm_health_mon_start(gtm_health_mon_t *m);

/* Cancels probes and timers and frees.  Does not write the state file
 * (call gtm_health_mon_save first at shutdown).  NULL does nothing. */
void gtm_health_mon_free(gtm_health_mon_t *m);

/* The table for gtm_build_snapshot(); valid until the next tick or free. */
const gtm_health_t *gtm_health_mon_table(const gtm_health_mon_t *m);

/*
 * Cluster voting (gtm/cluster/cluster.h).  With a vote function, what the answers
 * use for a target is vote(key, own state) instead of the own state: `key`
 * is "<vote hash> <probe address> <port>", the same on every node probing
 * the same thing (gtm_check_vote_hash leaves out the source address).
 * A change of the effective state from the own one is logged.  NULL
 * turns voting off.  Either way the table is recomputed at the next tick.
 */
typedef chk_state_t (*gtm_health_vote_cb_t)(const char *key, chk_state_t own, void *arg);
void gtm_health_mon_set_vote(gtm_health_mon_t *m, gtm_health_vote_cb_t cb, void *arg);
/* The votes changed: recompute the table (and publish) at the next tick. */
void gtm_health_mon_revote(gtm_health_mon_t *m);
/* The distinct probe targets, with their vote keys and own states. */
size_t gtm_health_mon_ntargets(const gtm_health_mon_t *m);
const char *gtm_health_mon_target_key(const gtm_health_mon_t *m, size_t i);
chk_state_t gtm_health_mon_target_state(const gtm_health_mon_t *m, size_t i);

/* Targets still without a verdict (for health.unknown = "wait"). */
size_t gtm_health_mon_unknown(const gtm_health_mon_t *m);

/* Writes the state file now (if configured and anything changed since the
 * last write, or `force`).  Returns 0 or a negative GTM_E* (logged). */
int gtm_health_mon_save(gtm_health_mon_t *m, bool force);

/* ---- status for the control surface (gtmctl) and metrics ---------------- */

/* One endpoint (one answered address of one service). */
typedef struct gtm_endpoint_health {
	uint32_t service;        /* index into conf->services */
	uint32_t endpoint;       /* index into that service's endpoints */
	uint32_t site;           /* index into conf->sites */
	bool up;                 /* what the answers use */
	bool checked;            /* false: no check, always up; the fields below are zero/NULL */
	const char *check;       /* check name (borrowed from the conf) */
	const char *probe_addr;  /* probed address (borrowed) */
	uint16_t probe_port;     /* probed port (0: exec without a port) */
	uint32_t target;         /* the probe target (shared by equal probes) */
	chk_state_t state;       /* unknown, down, up: this node's own probes */
	chk_state_t voted;       /* what the answers use: the observers' vote in a
	                          * cluster (gtm/cluster/cluster.h), else `state` */
	const char *vote_key;    /* the target's key among the observers (borrowed) */
	int64_t since_ms;        /* wall clock (ms) of the last change, restored from
	                          * the state file until it changes here; 0: never */
	chk_reason_t reason;     /* of the last completed probe */
	chk_reason_t change_reason; /* of the probe that made the last change */
	uint32_t latency_ms;     /* of the last completed probe */
	uint32_t detect_ms;      /* of the last change seen here: first probe of the
	                          * deciding run -> verdict (measured); 0: unknown */
	uint64_t probes, failures;
} gtm_endpoint_health_t;

/* One site of one service. */
typedef struct gtm_site_health {
	uint32_t service;        /* index into conf->services */
	uint32_t site;           /* index into conf->sites */
	bool serving;            /* up >= quorum (role, weight and admin state aside) */
	uint32_t up, total, quorum;
	int64_t since_ms;        /* wall clock of the last change; 0: since start-up */
} gtm_site_health_t;

typedef struct gtm_health_list {
	gtm_endpoint_health_t *endpoints;  /* every endpoint, services and endpoints in config order */
	size_t nendpoints;
	gtm_site_health_t *sites;          /* every (service, site), services in config order,
	                                    * sites in the order they appear among its endpoints */
	size_t nsites;
} gtm_health_list_t;

/* Fills `out` (the caller frees it with gtm_health_list_clear). */
void gtm_health_mon_list(const gtm_health_mon_t *m, gtm_health_list_t *out);
void gtm_health_list_clear(gtm_health_list_t *l);

/* Counters; the cumulative ones survive reloads. */
typedef struct gtm_health_stats {
	size_t targets;          /* distinct probes */
	size_t endpoints;        /* endpoints of every service */
	size_t checked;          /* endpoints with a check */
	size_t up, down, unknown;   /* targets by state */
	uint64_t probes_started, probes_done, probes_failed;  /* cumulative */
	uint32_t running;        /* probes in flight */
	uint64_t target_changes; /* state changes of targets, cumulative */
	uint64_t site_changes;   /* serving changes of sites, cumulative */
	uint64_t publishes;      /* ticks that republished, cumulative */
	uint64_t state_writes, state_write_errors;  /* cumulative */
} gtm_health_stats_t;

void gtm_health_mon_stats(const gtm_health_mon_t *m, gtm_health_stats_t *out);

/* ---- the state file, for gtm_health_mon and tests ------------------------ */

typedef struct gtm_health_record {
	char check[64];          /* check name (informative) */
	char addr[48];           /* probe address, normalised */
	uint16_t port;
	uint64_t hash;           /* gtm_check_param_hash() */
	chk_state_t state;       /* up or down */
	int64_t changed_at_ms;   /* 0: unknown */
} gtm_health_record_t;

/*
 * Reads a state file.  Returns 0 with *out (caller frees) and *n filled;
 * GTM_ENOENT when the file does not exist; GTM_EPARSE when any line is bad
 * (`why` then says which line and why; *out is NULL); GTM_EIO on a read
 * error.
 */
int gtm_health_state_read(const char *path, gtm_health_record_t **out, size_t *n,
                          char *why, size_t whylen);

/* Writes records atomically (temp file, fsync, rename, fsync of the folder).
 * Returns 0 or GTM_EIO (errno says why). */
int gtm_health_state_write(const char *path, const gtm_health_record_t *r, size_t n);

/* The 64-bit parameter hash of check `c` (see the state file above). */
uint64_t gtm_check_param_hash(const gtm_check_t *c);

/* The same without the source address: a target's identity among the
 * nodes of a cluster, which probe from their own addresses. */
uint64_t gtm_check_vote_hash(const gtm_check_t *c);

/* The port a probe of check `c` goes to for endpoint `ep`: its check_port,
 * else the check's port, else the type's default (http 80, https 443, dns
 * 53; tcp and exec: 0). */
uint16_t gtm_endpoint_probe_port(const gtm_check_t *c, const gtm_endpoint_t *ep);
