/*
 * From a checked configuration to snapshots the DNS workers can serve.
 *
 * A gtm_build_t is what the control thread keeps for the configuration it
 * serves, so that a new snapshot (a health flip, a drain, a replaced GeoIP
 * file) costs only a new plan:
 *
 *   zones     loaded from their files once per configuration (ldns), with
 *             the service names marked;
 *   geo db    the GeoIP database (geo_db_open), NULL when geo.databases is
 *             not configured;
 *   geo map   the cities' coordinates, geo.maps rules and geo.default_order
 *             (geo_map_new), NULL only when there are no cities;
 *   geo tree  db and map translated into one prefix tree of regions
 *             (geo_tree_new), rebuilt when either changes; NULL iff the map is.
 *
 * Ownership: the gtm_build_t holds one reference on each of the four.
 * Every snapshot it makes takes its own (dns_snapshot_new on the zones,
 * dns_snapshot_set_geo on db, map and tree), so the build may be freed, or its
 * database swapped, while snapshots made from it are still served; the
 * last holder frees.  References are counted on the control thread only
 * (snapshots are freed there, after a grace period).
 *
 * Every function here runs on the control thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/diag.h"
#include "dns/snapshot.h"
#include "gtm/conf/conf.h"
#include "gtm/core/controller.h"

typedef struct gtm_build gtm_build_t;

/*
 * Loads what `conf` names: zone files, service names, the GeoIP database
 * (if configured, with the schema's field paths) and the city map.  `conf`
 * is borrowed and must outlive the build.  Returns NULL with every problem
 * in `diag` ("file:line: message", or "file: message" about a zone or
 * database file).
 */
gtm_build_t *gtm_build_new(const gtm_conf_t *conf, gtm_diag_t *diag);

/*
 * The same for a reload, with `prev` the running build (borrowed; NULL:
 * as gtm_build_new): when the database files are those `prev` opened,
 * unchanged on disk (geo_db_changed(): device, inode, size, mtime), and
 * the geo inputs of the configurations are equal (database paths and
 * fields, cities' coordinates, geo.maps rules, default order), the new
 * build takes references on prev's database, map and tree instead of
 * opening and translating again.
 */
gtm_build_t *gtm_build_new_from(const gtm_conf_t *conf, const gtm_build_t *prev, gtm_diag_t *diag);

/* Drops the build's references.  NULL is a no-op. */
void gtm_build_free(gtm_build_t *b);

/*
 * A new snapshot: the build's zones, database and map, the plan that
 * gtm_controller_plan() makes for `health` (NULL: every endpoint up) and
 * the options of gtm_build_opts().  The caller owns it (and normally hands
 * it to dns_snapshot_publish).  Never fails.
 *
 * Fail open: the build remembers which services failed open in its last
 * snapshot; a service that enters fail open is logged at warning
 * ("service NAME, no serving site, answering every endpoint (fail open)")
 * and counted, one that leaves it is logged ("service NAME, serving again,
 * fail open over"), once per transition however often snapshots are made.
 */
dns_snapshot_t *gtm_build_snapshot(gtm_build_t *b, const gtm_health_t *health);

/*
 * The same from a plan the caller made (the stateful controller's,
 * gtm_controller_update): takes ownership of `plan` and of `failopen`
 * (conf->nservices flags: the service is at its last resort, logged once
 * per transition as above; for a fail-closed or fixed-address last resort
 * the line says what is answered instead).
 */
dns_snapshot_t *gtm_build_snapshot_plan(gtm_build_t *b, dns_plan_t *plan, bool *failopen);

/* Counters of the snapshots a build (and, through gtm_build_inherit, the
 * builds before it) made; for metrics (controller.failopen) and gtmctl. */
typedef struct gtm_build_stats {
	uint64_t failopen_entered;  /* transitions of a service into fail open */
	uint64_t failopen_left;     /* transitions out of it */
	uint32_t failopen_now;      /* services failing open in the last snapshot */
	uint64_t snapshots;         /* snapshots made */
} gtm_build_stats_t;

void gtm_build_stats(const gtm_build_t *b, gtm_build_stats_t *out);

/* Whether service `service` (index into conf->services) fails open in the
 * last snapshot. */
bool gtm_build_failopen(const gtm_build_t *b, size_t service);

/*
 * Reload: carries the counters and each service's fail-open state (through
 * `map`, the reload's remap: gtm/core/gen.h) from `old` to `b`, before b's
 * first snapshot, so that a reload neither repeats nor loses a fail-open
 * transition.  NULL old: nothing.
 */
struct gtm_remap;
void gtm_build_inherit(gtm_build_t *b, const gtm_build_t *old, const struct gtm_remap *map);

/*
 * True when the database file(s) the build opened have been replaced or
 * changed on disk since (geo_db_changed()) and differ from the last
 * attempt that failed, so that a broken file is tried (and reported) once,
 * not at every poll.  False without a database.
 */
bool gtm_build_geo_changed(const gtm_build_t *b);

/*
 * Opens the configured database file(s) again.  On success the build holds
 * the new database (the old one lives on in the snapshots that hold it) and
 * 0 is returned; the next gtm_build_snapshot() serves it.  On failure the
 * old database stays, the problems are in `diag`, the file's state is
 * remembered for gtm_build_geo_changed(), and a negative GTM_E* is returned.
 */
int gtm_build_reopen_geo(gtm_build_t *b, gtm_diag_t *diag);

/* geo_db_describe() of the current database, or "none". */
int gtm_build_describe_geo(const gtm_build_t *b, char *buf, size_t len);

/* The dns_opts_t for `conf` (EDNS size, NSID, ECS). */
void gtm_build_opts(const gtm_conf_t *conf, dns_opts_t *opts);
