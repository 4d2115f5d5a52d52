/*
 * Cluster mode: several gtmd nodes, one system, through etcd (gtm/cluster/etcd.h).
 *
 * Keys, under the configured prefix P (default "/gtm/"):
 *
 *   P admin                the admin state: {"state": <the state file's JSON
 *                          (gtm/core/admin.h)>, "by": {"node","user","uid","time",
 *                          "id","message"}}; written only by compare-and-swap
 *                          on its mod_revision
 *   P history/<ms>-<node>-<n>   one history record (the history file's line,
 *                          plus "node"), written in the same transaction
 *   P observers/<node>     the node's own probe verdicts {"node","time",
 *                          "targets":{"<vote key>":"up"|"down"}}, attached to
 *                          the node's lease, so that they vanish when the
 *                          node dies (or loses etcd) for longer than the lease
 *
 * Admin changes.  gtmctl's action is computed on the local copy (the
 * safety rules included), written to etcd with a transaction that compares
 * P admin's mod_revision with the one this node last saw, and only then
 * adopted and published.  A transaction that finds another revision is
 * refused ("changed meanwhile"): two operators never silently overwrite
 * each other, and the refused one sees the new state at once.  Every node
 * watches P and adopts each new revision as it arrives.  Each change's
 * history records are mirrored by every node into its own history file
 * (with "rev" and "node"), so gtmctl history reads the same everywhere.
 *
 * Health by quorum.  A probe target's state in the answers is the vote of
 * the live observers that have a verdict on it (this node's own verdict
 * straight from its probes): down when at least `health_quorum` of them
 * see it down (default a majority of them).  One node cut off from an IDC
 * is outvoted by the others.
 *
 * Losing etcd.  A failed call, a broken watch or a failed lease keepalive
 * marks etcd unreachable: the node keeps the admin state it has (and its
 * state file), uses its own probes only, refuses admin changes (they
 * would not reach the other nodes), says so in the log, in `gtmctl status`
 * and in cluster.* metrics, and retries with backoff, member after member.
 * Once back it reads P again (the admin state in etcd wins), re-publishes
 * its verdicts, mirrors the history it missed and resumes the watch.
 *
 * Every function runs on the control thread.
 */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "gtm/core/admin.h"
#include "gtm/conf/conf.h"
#include "gtm/core/health.h"

typedef struct gtm_cluster gtm_cluster_t;

/* The admin state changed (adopted from etcd), or the votes changed the
 * health table: rebuild and publish.  Must not free the cluster. */
typedef void (*gtm_cluster_changed_cb_t)(void *arg);

/*
 * Starts cluster mode for conf->cluster (must be enabled): connects to
 * etcd on `base`, in the background.  `admin` (the local copy, loaded from
 * the state file) and `health` (may be NULL) are borrowed until the next
 * rebind.  NULL with a message in `err` when the etcd URLs are unusable.
 */
gtm_cluster_t *gtm_cluster_new(struct event_base *base, const gtm_conf_t *conf, gtm_admin_t *admin,
                               gtm_health_mon_t *health, gtm_cluster_changed_cb_t changed,
                               void *arg, char *err, size_t errlen);

/* After a reload: the new objects.  A changed cluster group needs a
 * restart (logged). */
void gtm_cluster_rebind(gtm_cluster_t *cl, const gtm_conf_t *conf, gtm_admin_t *admin,
                        gtm_health_mon_t *health);

/* Frees (the lease is left to expire: the node's verdicts leave the vote
 * `lease` seconds later).  Pending write callbacks are called with
 * GTM_EIO.  NULL is a no-op. */
void gtm_cluster_free(gtm_cluster_t *cl);

/* The own probe verdicts may have changed (a health tick): publish them
 * to etcd if they did (coalesced: one write in flight at a time). */
void gtm_cluster_health_changed(gtm_cluster_t *cl);

/* The last `limit` (0: all) of the history records this node has seen in
 * etcd since it started (at most 1000), oldest first: what gtmctl history
 * shows when there is no history file.  New reference. */
json_t *gtm_cluster_history(const gtm_cluster_t *cl, size_t limit);

/* The revision of the admin state adopted last (0: none yet). */
int64_t gtm_cluster_revision(const gtm_cluster_t *cl);

/*
 * Writing an admin change: `res` is gtm_admin_apply()'s result of a
 * `propose` action (its preview and history are taken from it).  `cb` gets
 * 0 once etcd has it and the local copy has adopted it; GTM_EEXIST when
 * etcd's state changed meanwhile (nothing written; the local copy now has
 * etcd's state); GTM_EIO when etcd is unreachable (nothing written).
 * `err` says it in one line.  The compare is on the revision this node
 * adopted last (gtm_cluster_revision).  With `adopt_now` (gtmd's own automatic
 * changes) the preview is adopted at once and a failure only logged.
 */
typedef void (*gtm_cluster_write_cb_t)(int rc, const char *err, void *arg);
void gtm_cluster_write(gtm_cluster_t *cl, gtm_admin_result_t *res, const gtm_admin_action_t *act,
                       bool adopt_now, gtm_cluster_write_cb_t cb, void *arg);

/*
 * For status: {"node","etcd":"connected"|"connecting"|"unreachable",
 * "member","since","error","revision","lease_s","quorum",
 * "observers":[{"node","self","updated","down":n,"up":n}],
 * "last_change":{"node","user","time","message","revision"}}.  New reference.
 */
json_t *gtm_cluster_status_json(const gtm_cluster_t *cl);

/* The other live observers (this node is not one of them: its own
 * verdicts are its probes'): how many, the name of the i-th (borrowed until
 * the next event), and its verdict on target `key` (CHK_STATE_UNKNOWN:
 * none). */
size_t gtm_cluster_nobservers(const gtm_cluster_t *cl);
const char *gtm_cluster_observer(const gtm_cluster_t *cl, size_t i);
chk_state_t gtm_cluster_verdict(const gtm_cluster_t *cl, size_t i, const char *key);

/* This node's name. */
const char *gtm_cluster_node(const gtm_cluster_t *cl);

/* Figures for metrics: cluster.connected, .observers, .revision,
 * .writes, .conflicts, .write_errors, .outages, .admin_updates,
 * .last_propagation_ms. */
typedef struct gtm_cluster_stats {
	bool connected;
	size_t observers;          /* live, this node included */
	int64_t revision;          /* of the admin state adopted last */
	uint64_t writes, conflicts, write_errors;
	uint64_t outages;          /* times etcd became unreachable */
	uint64_t admin_updates;    /* revisions adopted from the watch */
	int64_t last_propagation_ms;  /* written (by its node's clock) -> adopted
	                               * here; -1 before the first */
} gtm_cluster_stats_t;
void gtm_cluster_stats(const gtm_cluster_t *cl, gtm_cluster_stats_t *out);

/*
 * Writes keep what this node does not know: the entries of `raw` (the
 * state as etcd had it) whose site, city or service is not in `conf` are
 * copied into `state` (the state to write), so that a node with an older
 * configuration (a rolling change) never erases another node's drain of a
 * site it has not heard of.  Exposed for unit tests.
 */
void gtm_cluster_keep_unknown(json_t *state, const json_t *raw, const gtm_conf_t *conf);

/* Handles `result` as if the watch had brought it (a WatchResponse's
 * "result": events of PUTs and DELETEs under the prefix, or a
 * cancellation).  For tests and tests/fuzz/fuzz_cluster.c: whatever another
 * tool wrote in etcd must not hurt the node. */
void gtm_cluster_watch_input(gtm_cluster_t *cl, const json_t *result);

/*
 * The vote (exposed for unit tests): of `n` observer verdicts (the own one
 * included; CHK_STATE_UNKNOWN for none), down when at least `quorum` see
 * it down (0: a majority of those with a verdict).  UNKNOWN when none has
 * a verdict.
 */
chk_state_t gtm_cluster_vote(const chk_state_t *verdicts, size_t n, uint32_t quorum);
