/*
 * gtmd's figures: the collect callback of the metrics module
 * (gtm/metrics/metrics.h) and the `stats` control command's reply.
 *
 * The tree (below <prefix>.<host>. in Graphite; gtm_* in Prometheus):
 *
 *   dns.queries  dns.udp  dns.tcp                counters, summed over the
 *   dns.{noerror,nxdomain,refused,formerr,        DNS workers' own counters
 *        servfail,notimp,badvers}                 (dns_server_stats: no atomics
 *   dns.truncated  dns.dropped  dns.edns          on the query path, a slightly
 *   dns.ecs  dns.geo  dns.fallback                stale read here)
 *   dns.tcp_rejected  dns.tcp_timeouts
 *   site.<site>.healthy   gauge: the share of the site's services it serves
 *                         (enough endpoints up for the quorum): 1 all, 0 none;
 *                         absent for a site without endpoints
 *   site.<site>.weight    gauge: configured weight x the admin factor (a drain
 *                         ramp), 0 while drained or its city is evacuated
 *   site.<site>.admin     gauge: 0 active, 1 draining, 2 drained
 *   site.<site>.answers   counter: steered answers (A, AAAA, ANY of a service)
 *                         written with the site's records since gtmd started;
 *                         an answer given whole counts for each of its sites.
 *                         Kept per site name (gtm/core/siteans.h): a reload that
 *                         renumbers sites does not move or reset it
 *   check.<site>.<endpoint>.up          gauge 1 up, 0 down; absent before the
 *                                       first verdict
 *   check.<site>.<endpoint>.latency_ms  gauge, the last probe's
 *   check.<site>.<endpoint>.failures    counter, failed probes
 *   check.<site>.<endpoint>.probes      counter, probes done
 *       one series per probe target and site: endpoints (and services) that
 *       share a probe share the series; <endpoint> is the probed address,
 *       "addr:port" when one site probes one address on several ports
 *   health.{targets,up,down,unknown}    gauges; health.probes,
 *   health.probe_failures               counters
 *   controller.failopen          gauge: services answering from the fallback now
 *   controller.failopen_entered  counter: transitions into fail open
 *   controller.evacuations       counter: automatic city evacuations (the
 *                                controller's), plus src->evacuations
 *   controller.evacuated         gauge: cities evacuated now (admin state)
 *   cluster.connected  cluster.observers  cluster.revision  gauges (cluster mode:
 *     in sync with etcd 0/1, live observers, admin state revision)
 *   cluster.writes  .conflicts  .write_errors  .outages  .admin_updates   counters
 *   cluster.last_propagation_ms  gauge: the last admin change, written -> adopted here
 *   controller.{evacuations_suppressed,site_failovers,failbacks,promotions,
 *               updates}         counters (gtm_control_stats)
 *   controller.{services_degraded,services_last_resort,held_down,
 *               last_detect_ms,last_publish_ms,max_detect_ms,max_publish_ms}
 *                                gauges (gtm_control_stats)
 *   snapshot.generation          gauge: the published snapshot's generation
 *   snapshot.builds              counter: snapshots built
 *   config.reloads  config.reload_failures   counters (the generation owner's)
 *   config.zones  config.services  config.sites  config.checks   gauges
 * and the module's own metrics.dropped and metrics.buffered.
 *
 * Everything here runs on the control thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dns/server.h"
#include "gtm/core/admin.h"
#include "gtm/core/build.h"
#include "gtm/core/gen.h"
#include "gtm/conf/conf.h"
#include "gtm/ctl/control.h"
#include "gtm/ctl/ctl.h"
#include "gtm/core/health.h"
#include "gtm/metrics/metrics.h"
#include "gtm/core/siteans.h"

/*
 * What the figures are read from.  The object pointers point at gtmd's own
 * fields (&g->gens, ...), and the configuration, build and health are the
 * running generation's, so that a reload, which replaces them, needs no
 * call here: each collection reads whatever is running then.  Any
 * of them (or what it points at) may be NULL: the figures of that part are
 * left out (dns.* are then zero).  The counters are gtmd's to increment.
 */
typedef struct gtm_stats_src {
	gtm_gen_owner_t *const *gens;    /* the running generation: conf, build, health */
	dns_server_t *const *server;
	gtm_admin_t *const *admin;
	gtm_control_t *const *control;   /* the controller's counters (controller.*) */
	gtm_siteans_t *const *answers;   /* site.<site>.answers (absent when NULL) */
	uint64_t evacuations;      /* evacuations started (operator or automatic) */
} gtm_stats_src_t;

/* The gtm_metrics_collect_cb_t for gtm_metrics_new(); `arg` is a
 * gtm_stats_src_t (borrowed for the module's life). */
void gtm_stats_collect(gtm_metrics_sink_t *sink, void *arg);

/*
 * For the `stats` control command.  The figures now (collected at the
 * call, with the module's own metrics.*), as a JSON object whose keys are
 * the Graphite paths below <prefix>.<host>:
 *     {"host":"node1","time":1764146400,"dns.queries":12345,
 *      "check.bj-a.192_0_2_10.up":1, ...}
 * counters as integers, gauges as numbers; gtmctl prints it flattened
 * ("dns.queries  12345").  `m` NULL gives {"host":"","time":now} only.
 * New reference.
 */
json_t *gtm_stats_snapshot(gtm_metrics_t *m);

/* The same as text, "path value\n" per figure (GTM_METRICS_TEXT); the
 * caller frees.  "" when `m` is NULL. */
char *gtm_stats_snapshot_text(gtm_metrics_t *m);

/*
 * A ready gtm_ctl_handler_t (gtm/ctl/ctl.h) for {"cmd":"stats"}: register it
 * with `arg` = the address of gtmd's gtm_metrics_t pointer (&g->metrics),
 * which a reload may replace:
 *     gtm_ctl_register(ctl, "stats", gtm_stats_ctl_handler, &g->metrics);
 * {"cmd":"stats","format":"text"} answers {"ok":true,"text":"path value\n..."}.
 */
json_t *gtm_stats_ctl_handler(const json_t *req, const gtm_ctl_peer_t *peer, void *arg);

/* Sites serving now: a site serves when it serves at least one of its
 * services and its admin factor is above 0.  *total gets the number of
 * sites.  For STATUS= and logs. */
size_t gtm_stats_sites_serving(const gtm_stats_src_t *src, size_t *total);

/* The one-line summary for systemd's STATUS= and the start-up log:
 * "serving 2 zones, 5 services, 4 of 5 sites, generation 7". */
void gtm_stats_status_line(const gtm_stats_src_t *src, char *buf, size_t len);

/*
 * Sends "<head>STATUS=<gtm_stats_status_line>" to systemd (gtm/daemon/daemon.h),
 * e.g. head "READY=1\n" once serving, "" for a status update.  Does
 * nothing (and computes nothing) outside systemd.
 */
void gtm_stats_notify(const gtm_stats_src_t *src, const char *head);

/* ---- the module's life in gtmd ------------------------------------------ */

/*
 * Starts the metrics module for `conf` with gtm_stats_collect on `src`.
 * NULL (logged) when it cannot start: the Prometheus address cannot be
 * bound, or the host name is unknown.
 */
gtm_metrics_t *gtm_stats_metrics_new(struct event_base *base, const gtm_metrics_conf_t *conf,
                                     gtm_stats_src_t *src);

/*
 * Reload: when `next` configures something else than `cur` (the running
 * one), flushes the running module (at most 1 s), frees it and starts one
 * for `next` in *m; when that fails (logged), starts one for `cur` again,
 * so that a bad Prometheus address does not stop the figures.  Unchanged:
 * nothing happens and the buffered points are kept.  Call it while both
 * configurations are alive.  Returns true when the module was replaced.
 */
bool gtm_stats_metrics_reload(gtm_metrics_t **m, struct event_base *base,
                              const gtm_metrics_conf_t *cur, const gtm_metrics_conf_t *next,
                              gtm_stats_src_t *src);

/* Shutdown: collects once more, sends what is buffered (at most
 * `timeout_ms`), logs what is left, frees.  NULL does nothing. */
void gtm_stats_metrics_stop(gtm_metrics_t *m, int timeout_ms);

