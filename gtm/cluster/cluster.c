/*
 * Cluster mode on etcd: the shared admin state, the observers' votes and
 * life without etcd.  See cluster.h for the model and the keys.
 *
 * The connection's life:
 *
 *   DOWN --start--> SYNCING: grant a lease (if none), then one read-only
 *     transaction reads P admin, P observers/ and the history this node
 *     has not mirrored yet, all at one revision R; adopt them, publish the
 *     own verdicts, watch P from R + 1 -> UP.
 *   UP: the watch brings every change; a lease keepalive every lease / 3
 *     doubles as the member's liveness check.
 *   any failure -> DOWN: the node serves what it has, votes with its own
 *     probes only, and starts again after a backoff (0.25 s doubling to
 *     5 s), on the next member.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/cluster/cluster.h"
#include "gtm/cluster/etcd.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define WRITE_RETRY_MS 250
#define HIST_KEEP 1000

typedef enum { CL_DOWN = 0, CL_SYNCING, CL_UP } cl_state_t;

typedef struct observer {
	char *node;
	json_t *targets;         /* {"<vote key>": "up"|"down"} */
	int64_t time;            /* when the node wrote it (its clock) */
} observer_t;

typedef struct write_op write_op_t;

struct gtm_cluster {
	struct event_base *base;
	const gtm_conf_t *conf;
	uint32_t lease_s;        /* copied from the cluster group */
	uint32_t quorum;
	uint32_t history_keep;
	size_t netcd;
	gtm_admin_t *admin;
	gtm_health_mon_t *health;
	gtm_cluster_changed_cb_t changed;
	void *changed_arg;
	gtm_etcd_t *etcd;
	char **urls;             /* the etcd URLs, copied */
	char *node;
	char *prefix;
	char *k_admin, *k_hist, *k_obs, *k_self;

	cl_state_t state;
	bool closing;            /* gtm_cluster_free: callbacks only free */
	bool outage;             /* etcd unreachable (logged once per outage) */
	uint64_t gen;            /* bumped at every (re)start: stale replies are ignored */
	int64_t since;           /* ms: the current state's start */
	char error[512];         /* why etcd is unreachable */
	uint32_t backoff_ms;
	struct event *retry_ev;
	struct event *keepalive_ev;
	struct event *grace_ev;  /* end of the observers' verdicts after losing etcd */
	int64_t lease;           /* 0: none */
	bool keepalive_busy;

	int64_t admin_rev;       /* mod_revision of the admin state adopted last */
	json_t *last_by;         /* its "by" */
	json_t *raw_state;       /* its "state" as etcd has it, with what this
	                          * node's configuration does not know */
	int64_t hist_rev;        /* the newest history record mirrored */
	json_t *hist;            /* the last HIST_KEEP records, oldest first (for
	                          * gtmctl history without a history file) */

	observer_t *obs;         /* other nodes' verdicts (not this node's) */
	size_t nobs;

	json_t *published;       /* own targets as last written; NULL: not yet */
	bool pub_busy, pub_dirty;

	write_op_t *writes;      /* in flight */
	uint64_t seq;
	uint64_t boot_ms;
	bool pruning;            /* a history prune in flight */
	bool prune_again;        /* more writes came meanwhile: prune once more */
	gtm_cluster_stats_t st;
};

struct write_op {
	gtm_cluster_t *cl;
	gtm_admin_t *preview;
	json_t *value;           /* the admin key's value */
	json_t *history;         /* records */
	char id[128];
	int64_t expect;          /* the admin revision it was computed on */
	unsigned attempts;
	bool adopted;            /* adopt_now: already adopted */
	struct event *retry;
	gtm_cluster_write_cb_t cb;
	void *arg;
	write_op_t *next;
};

static void start(gtm_cluster_t *cl);
static void lost(gtm_cluster_t *cl, const char *why);
static void publish_own(gtm_cluster_t *cl, bool force);

static int64_t now_ms(void)
{
	return (int64_t)gtm_admin_now();
}

static json_t *b64s(const char *s)
{
	return gtm_etcd_b64(s, strlen(s));
}

/* ------------------------------------------------------------------------ */
/* The vote                                                                 */

chk_state_t gtm_cluster_vote(const chk_state_t *v, size_t n, uint32_t quorum)
{
	size_t voters = 0, down = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == CHK_STATE_UNKNOWN)
			continue;
		voters++;
		down += v[i] == CHK_STATE_DOWN;
	}
	if (voters == 0)
		return CHK_STATE_UNKNOWN;
	size_t q = quorum ? quorum : voters / 2 + 1;
	if (q > voters)
		q = voters;
	return down >= q ? CHK_STATE_DOWN : CHK_STATE_UP;
}

static chk_state_t state_of(const char *s)
{
	if (s && strcmp(s, "up") == 0)
		return CHK_STATE_UP;
	if (s && strcmp(s, "down") == 0)
		return CHK_STATE_DOWN;
	return CHK_STATE_UNKNOWN;
}

chk_state_t gtm_cluster_verdict(const gtm_cluster_t *cl, size_t i, const char *key);

static chk_state_t vote_cb(const char *key, chk_state_t own, void *arg)
{
	gtm_cluster_t *cl = arg;
	/* cl->obs is emptied when etcd has been gone for a lease (on_grace) */
	if (cl->nobs == 0)
		return own;
	chk_state_t stack[16];
	chk_state_t *v = cl->nobs + 1 <= 16 ? stack : gtm_xmalloc((cl->nobs + 1) * sizeof(*v));
	v[0] = own;
	for (size_t i = 0; i < cl->nobs; i++)
		v[i + 1] = gtm_cluster_verdict(cl, i, key);
	chk_state_t r = gtm_cluster_vote(v, cl->nobs + 1, cl->quorum);
	if (v != stack)
		free(v);
	return r == CHK_STATE_UNKNOWN ? own : r;
}

static void revote(gtm_cluster_t *cl)
{
	if (cl->health)
		gtm_health_mon_revote(cl->health);
}

/* ------------------------------------------------------------------------ */
/* Observers                                                                */

static observer_t *find_obs(gtm_cluster_t *cl, const char *node)
{
	for (size_t i = 0; i < cl->nobs; i++)
		if (strcmp(cl->obs[i].node, node) == 0)
			return &cl->obs[i];
	return NULL;
}

static void obs_clear(gtm_cluster_t *cl)
{
	for (size_t i = 0; i < cl->nobs; i++) {
		free(cl->obs[i].node);
		json_decref(cl->obs[i].targets);
	}
	cl->nobs = 0;
}

static void obs_remove(gtm_cluster_t *cl, const char *node)
{
	observer_t *o = find_obs(cl, node);
	if (o == NULL)
		return;
	log_info("cluster, observer %s left (lease ended)", node);
	free(o->node);
	json_decref(o->targets);
	*o = cl->obs[--cl->nobs];
}

/* A value of P observers/<node>. */
static void obs_put(gtm_cluster_t *cl, const char *node, const char *val, size_t len, int64_t rev)
{
	if (strcmp(node, cl->node) == 0)
		return;   /* our own: we vote with the fresher local state */
	json_error_t jerr;
	json_t *doc = json_loadb(val, len, 0, &jerr);
	json_t *targets = json_object_get(doc, "targets");
	if (!json_is_object(targets)) {
		log_warn("cluster, observer %s: unreadable verdicts ignored", node);
		json_decref(doc);
		return;
	}
	observer_t *o = find_obs(cl, node);
	if (o == NULL) {
		cl->obs = gtm_xrealloc(cl->obs, (cl->nobs + 1) * sizeof(*cl->obs));
		o = &cl->obs[cl->nobs++];
		*o = (observer_t){ .node = gtm_xstrdup(node) };
		log_info("cluster, observer %s joined", node);
	} else {
		json_decref(o->targets);
	}
	o->targets = json_incref(targets);
	o->time = gtm_etcd_int(json_object_get(doc, "time"));
	json_decref(doc);
}

/* ------------------------------------------------------------------------ */
/* The admin state and the history from etcd                               */

/* A value of P admin (NULL: the key was deleted: the empty state). */
static void admin_put(gtm_cluster_t *cl, const char *val, size_t len, int64_t rev, bool force)
{
	if (rev <= cl->admin_rev && !force)
		return;
	json_t *doc = NULL, *state;
	json_error_t jerr;
	if (val) {
		doc = json_loadb(val, len, 0, &jerr);
		state = json_object_get(doc, "state");
	} else {
		doc = json_pack("{s:{s:i}}", "state", "version", 1);
		state = json_object_get(doc, "state");
	}
	char err[512];
	char what[128];
	snprintf(what, sizeof(what), "etcd revision %" PRId64 ", ignored here, kept in etcd", rev);
	if (state == NULL || gtm_admin_replace_json(cl->admin, state, what, err, sizeof(err)) != 0) {
		log_err("cluster, admin state at etcd revision %" PRId64 " is unreadable, keeping the current "
		        "one (%s)", rev, state ? err : "no \"state\"");
		json_decref(doc);
		cl->admin_rev = rev;   /* not again */
		return;
	}
	bool news = rev != cl->admin_rev;
	cl->admin_rev = rev;
	json_decref(cl->raw_state);
	cl->raw_state = json_incref(state);
	json_t *by = json_object_get(doc, "by");
	json_decref(cl->last_by);
	cl->last_by = by ? json_incref(by) : NULL;
	if (news && by) {
		int64_t t = gtm_etcd_int(json_object_get(by, "time"));
		int64_t lag = t > 0 ? now_ms() - t : -1;
		const char *node = json_string_value(json_object_get(by, "node"));
		const char *user = json_string_value(json_object_get(by, "user"));
		const char *msg = json_string_value(json_object_get(by, "message"));
		if (lag >= 0)
			cl->st.last_propagation_ms = lag;
		log_info("cluster, admin state revision %" PRId64 " from %s (%s): %s; adopted %" PRId64
		         " ms after it was written", rev, node ? node : "?", user ? user : "?",
		         msg ? msg : "", lag);
	}
	cl->st.admin_updates++;
	json_decref(doc);
	if (cl->changed)
		cl->changed(cl->changed_arg);
}

/* A value of P history/...: mirrored into the local history file. */
static void hist_put(gtm_cluster_t *cl, const char *val, size_t len, int64_t rev)
{
	if (rev <= cl->hist_rev)
		return;
	cl->hist_rev = rev;
	json_error_t jerr;
	json_t *rec = json_loadb(val, len, 0, &jerr);
	if (!json_is_object(rec)) {
		json_decref(rec);
		return;
	}
	json_object_set_new(rec, "rev", json_integer((json_int_t)rev));
	gtm_admin_history_append(cl->admin, rec);
	json_array_append(cl->hist, rec);
	if (json_array_size(cl->hist) > HIST_KEEP)
		json_array_remove(cl->hist, 0);
	json_decref(rec);
}

/* One key-value of P (from the sync read or the watch). */
static bool kv_apply(gtm_cluster_t *cl, const json_t *kv, bool deleted, bool sync)
{
	size_t klen, vlen;
	char *key = gtm_etcd_unb64(json_object_get(kv, "key"), &klen);
	char *val = deleted ? NULL : gtm_etcd_unb64(json_object_get(kv, "value"), &vlen);
	int64_t rev = gtm_etcd_int(json_object_get(kv, "mod_revision"));
	bool votes = false;
	if (key == NULL || (!deleted && val == NULL)) {
		log_warn("cluster, a key under %s is not base64; ignored", cl->prefix);
	} else if (strcmp(key, cl->k_admin) == 0) {
		admin_put(cl, val, vlen, rev, sync);
	} else if (strncmp(key, cl->k_obs, strlen(cl->k_obs)) == 0) {
		const char *node = key + strlen(cl->k_obs);
		if (deleted)
			obs_remove(cl, node);
		else
			obs_put(cl, node, val, vlen, rev);
		votes = strcmp(node, cl->node) != 0;
		if (deleted && strcmp(node, cl->node) == 0 && cl->state == CL_UP) {
			/* Our verdicts went (the lease ended while we were away):
			 * write them again. */
			publish_own(cl, true);
		}
	} else if (!deleted && strncmp(key, cl->k_hist, strlen(cl->k_hist)) == 0) {
		hist_put(cl, val, vlen, rev);
	}
	free(key);
	free(val);
	return votes;
}

/* ------------------------------------------------------------------------ */
/* The own verdicts                                                         */

static json_t *own_targets(const gtm_cluster_t *cl)
{
	json_t *t = json_object();
	if (cl->health == NULL)
		return t;
	size_t n = gtm_health_mon_ntargets(cl->health);
	for (size_t i = 0; i < n; i++) {
		chk_state_t s = gtm_health_mon_target_state(cl->health, i);
		if (s == CHK_STATE_UNKNOWN)
			continue;
		json_object_set_new(t, gtm_health_mon_target_key(cl->health, i),
		                    json_string(s == CHK_STATE_UP ? "up" : "down"));
	}
	return t;
}

typedef struct pub_ctx {
	gtm_cluster_t *cl;
	uint64_t gen;
	json_t *targets;
} pub_ctx_t;

static void publish_done(int rc, const json_t *reply, const char *err, void *arg)
{
	pub_ctx_t *p = arg;
	gtm_cluster_t *cl = p->cl;
	(void)reply;
	if (p->gen == cl->gen && !cl->closing) {
		cl->pub_busy = false;
		if (rc == 0) {
			json_decref(cl->published);
			cl->published = json_incref(p->targets);
			if (cl->pub_dirty)
				publish_own(cl, false);
		} else if (rc == GTM_EIO) {
			lost(cl, err);
		} else {
			/* The lease has gone (e.g. expired during a long pause):
			 * start over with a new one. */
			log_warn("cluster, verdicts not written (%s); starting over", err);
			cl->lease = 0;
			lost(cl, err);
		}
	}
	json_decref(p->targets);
	free(p);
}

static void publish_own(gtm_cluster_t *cl, bool force)
{
	if (cl->state != CL_UP || cl->lease == 0)
		return;
	if (cl->pub_busy) {
		cl->pub_dirty = true;
		return;
	}
	json_t *targets = own_targets(cl);
	if (!force && cl->published && json_equal(targets, cl->published)) {
		json_decref(targets);
		return;
	}
	cl->pub_dirty = false;
	json_t *doc = json_pack("{s:s,s:I,s:O}", "node", cl->node, "time", (json_int_t)now_ms(),
	                        "targets", targets);
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	char lease[32];
	snprintf(lease, sizeof(lease), "%" PRId64, cl->lease);
	json_t *body = json_pack("{s:o,s:o,s:s}", "key", b64s(cl->k_self), "value", b64s(text),
	                         "lease", lease);
	free(text);
	pub_ctx_t *p = gtm_xcalloc(1, sizeof(*p));
	p->cl = cl;
	p->gen = cl->gen;
	p->targets = targets;
	cl->pub_busy = true;
	if (gtm_etcd_call(cl->etcd, "/v3/kv/put", body, publish_done, p) != 0) {
		cl->pub_busy = false;
		json_decref(targets);
		free(p);
		lost(cl, "cannot reach etcd");
	}
}

void gtm_cluster_health_changed(gtm_cluster_t *cl)
{
	publish_own(cl, false);
}

/* ------------------------------------------------------------------------ */
/* Connection                                                               */

typedef struct gen_ctx {
	gtm_cluster_t *cl;
	uint64_t gen;
} gen_ctx_t;

static gen_ctx_t *gen_ctx(gtm_cluster_t *cl)
{
	gen_ctx_t *g = gtm_xmalloc(sizeof(*g));
	g->cl = cl;
	g->gen = cl->gen;
	return g;
}

/* Makes a call whose reply counts only while the generation is the same. */
static bool call(gtm_cluster_t *cl, const char *path, json_t *body, gtm_etcd_cb_t cb)
{
	gen_ctx_t *g = gen_ctx(cl);
	if (gtm_etcd_call(cl->etcd, path, body, cb, g) != 0) {
		free(g);
		lost(cl, "cannot reach etcd");
		return false;
	}
	return true;
}

/* The cluster a call's reply is for, or NULL when the reply is stale (the
 * connection started over since the call) or the call failed (then etcd
 * is lost).  Frees the call's context. */
static gtm_cluster_t *reply_for(void *arg, int rc, const char *err)
{
	gen_ctx_t *g = arg;
	gtm_cluster_t *cl = g->cl;
	bool current = g->gen == cl->gen && !cl->closing;
	free(g);
	if (!current)
		return NULL;
	if (rc != 0) {
		lost(cl, err);
		return NULL;
	}
	return cl;
}

static void arm_ms(struct event *ev, uint32_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	evtimer_add(ev, &tv);
}

static void lost(gtm_cluster_t *cl, const char *why)
{
	bool was_up = cl->state == CL_UP;
	if (cl->state == CL_DOWN && evtimer_pending(cl->retry_ev, NULL))
		return;
	cl->gen++;
	gtm_etcd_watch_stop(cl->etcd);
	evtimer_del(cl->keepalive_ev);
	cl->keepalive_busy = false;
	cl->pub_busy = false;
	if (!cl->outage) {
		cl->outage = true;
		cl->since = now_ms();
		cl->st.outages++;
		log_warn("cluster, etcd unreachable (%s): trying the other members; until back, serving the "
		         "last admin state (revision %" PRId64 "), the others' verdicts for %u s, then this "
		         "node's own probes", why, cl->admin_rev, cl->lease_s);
	} else {
		log_debug("cluster, etcd still unreachable (%s)", why);
	}
	snprintf(cl->error, sizeof(cl->error), "%s", why);
	cl->state = CL_DOWN;
	/* The others' verdicts stay valid as long as their leases could: a
	 * member failing over must not flip the answers to this node's own
	 * view for a moment.  After that, own probes only. */
	if (was_up)
		arm_ms(cl->grace_ev, cl->lease_s * 1000);
	arm_ms(cl->retry_ev, cl->backoff_ms);
	cl->backoff_ms = cl->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cl->backoff_ms * 2;
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
	gtm_cluster_t *cl = arg;
	(void)fd;
	(void)what;
	if (cl->state == CL_UP || cl->nobs == 0)
		return;
	log_warn("cluster, etcd gone for %u s: the other observers' verdicts have expired, "
	         "health now comes from this node's own probes only", cl->lease_s);
	obs_clear(cl);
	revote(cl);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start(arg);
}

static void keepalive_done(int rc, const json_t *reply, const char *err, void *arg)
{
	gtm_cluster_t *cl = reply_for(arg, rc, err);   /* lost() clears keepalive_busy */
	if (cl == NULL)
		return;
	cl->keepalive_busy = false;
	const json_t *res = json_object_get(reply, "result");
	if (gtm_etcd_int(json_object_get(res, "TTL")) <= 0) {
		log_warn("cluster, lease %" PRId64 " expired; granting a new one", cl->lease);
		cl->lease = 0;
		lost(cl, "lease expired");
		return;
	}
	arm_ms(cl->keepalive_ev, cl->lease_s * 1000 / 3);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	gtm_cluster_t *cl = arg;
	(void)fd;
	(void)what;
	if (cl->state != CL_UP || cl->lease == 0 || cl->keepalive_busy)
		return;
	char id[32];
	snprintf(id, sizeof(id), "%" PRId64, cl->lease);
	cl->keepalive_busy = true;
	call(cl, "/v3/lease/keepalive", json_pack("{s:s}", "ID", id), keepalive_done);
}

static void watch_cb(const json_t *res, const char *err, void *arg)
{
	gtm_cluster_t *cl = arg;
	if (res == NULL) {
		lost(cl, err);
		return;
	}
	if (json_is_true(json_object_get(res, "canceled"))) {
		const char *why = json_string_value(json_object_get(res, "cancel_reason"));
		int64_t compact = gtm_etcd_int(json_object_get(res, "compact_revision"));
		char msg[300];
		snprintf(msg, sizeof(msg), "watch canceled by etcd (%s%s)", why ? why : "",
		         compact ? "; history compacted, reading everything again" : "");
		gtm_etcd_watch_stop(cl->etcd);
		lost(cl, msg);
		return;
	}
	const json_t *events = json_object_get(res, "events");
	size_t i;
	json_t *ev;
	bool votes = false;
	json_array_foreach(events, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		bool deleted = type && strcmp(type, "DELETE") == 0;
		votes |= kv_apply(cl, json_object_get(ev, "kv"), deleted, false);
	}
	if (votes)
		revote(cl);
}

/* The first node's state file written to an empty etcd: whether it went
 * in or another node was first, the watch brings the outcome. */
static void initial_done(int rc, const json_t *reply, const char *err, void *arg)
{
	gtm_cluster_t *cl = arg;
	(void)reply;
	if (rc != 0 && !cl->closing)
		log_warn("cluster, initial admin state not written (%s)", err);
}

void gtm_cluster_watch_input(gtm_cluster_t *cl, const json_t *result)
{
	watch_cb(result, "", cl);
}

static void sync_done(int rc, const json_t *reply, const char *err, void *arg)
{
	gtm_cluster_t *cl = reply_for(arg, rc, err);
	if (cl == NULL)
		return;
	int64_t rev = gtm_etcd_int(json_object_get(json_object_get(reply, "header"), "revision"));
	const json_t *resps = json_object_get(reply, "responses");
	/* [0] the admin key, [1] the observers, [2] the history not mirrored */
	const json_t *admin_kvs = json_object_get(json_object_get(json_array_get(resps, 0), "response_range"), "kvs");
	const json_t *obs_kvs = json_object_get(json_object_get(json_array_get(resps, 1), "response_range"), "kvs");
	const json_t *hist_kvs = json_object_get(json_object_get(json_array_get(resps, 2), "response_range"), "kvs");
	obs_clear(cl);
	size_t i;
	json_t *kv;
	if (json_array_size(admin_kvs) == 0) {
		/* No admin state in etcd yet.  The first node brings its own
		 * (its state file): etcd starts from what the operators had. */
		json_t *state = gtm_admin_to_json(cl->admin, gtm_admin_now(), false);
		if (json_object_size(json_object_get(state, "sites")) || json_object_size(json_object_get(state, "cities")) ||
		    json_object_size(json_object_get(state, "services"))) {
			log_info("cluster, etcd has no admin state: writing this node's (from its state file)");
			json_t *value = json_pack("{s:O,s:{s:s,s:s,s:I,s:s}}", "state", state, "by", "node",
			                          cl->node, "user", "gtmd", "time", (json_int_t)now_ms(),
			                          "message", "initial state from the state file");
			char *text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
			json_decref(value);
			json_t *body = json_pack("{s:[{s:o,s:s,s:s,s:s}],s:[{s:{s:o,s:o}}]}", "compare",
			                         "key", b64s(cl->k_admin), "target", "MOD", "result", "EQUAL",
			                         "mod_revision", "0", "success", "request_put", "key",
			                         b64s(cl->k_admin), "value", b64s(text));
			free(text);
			gtm_etcd_call(cl->etcd, "/v3/kv/txn", body, initial_done, cl);
		}
		json_decref(state);
		cl->admin_rev = 0;
	}
	json_array_foreach(admin_kvs, i, kv)
		kv_apply(cl, kv, false, true);
	json_array_foreach(obs_kvs, i, kv)
		kv_apply(cl, kv, false, true);
	json_array_foreach(hist_kvs, i, kv)
		kv_apply(cl, kv, false, true);

	json_t *create = json_pack("{s:o,s:o,s:s}", "key", b64s(cl->prefix), "range_end",
	                           gtm_etcd_prefix_end(cl->prefix), "start_revision", "");
	char r1[32];
	snprintf(r1, sizeof(r1), "%" PRId64, rev + 1);
	json_object_set_new(create, "start_revision", json_string(r1));
	if (gtm_etcd_watch(cl->etcd, create, watch_cb, cl) != 0) {
		lost(cl, "cannot start the watch");
		return;
	}
	bool was_down = cl->outage;
	evtimer_del(cl->grace_ev);
	cl->state = CL_UP;
	cl->outage = false;
	cl->backoff_ms = BACKOFF_MIN_MS;
	if (was_down)
		log_info("cluster, etcd back at %s (revision %" PRId64 ", %zu other observers): in sync again after %.1f s",
		         gtm_etcd_member(cl->etcd), rev, cl->nobs, (double)(now_ms() - cl->since) / 1000.0);
	else
		log_info("cluster, node %s joined at %s (revision %" PRId64 ", %zu other observers)", cl->node,
		         gtm_etcd_member(cl->etcd), rev, cl->nobs);
	cl->since = now_ms();
	cl->error[0] = '\0';
	publish_own(cl, true);
	revote(cl);
	arm_ms(cl->keepalive_ev, cl->lease_s * 1000 / 3);
}

static void sync_read(gtm_cluster_t *cl)
{
	char minrev[32];
	snprintf(minrev, sizeof(minrev), "%" PRId64, cl->hist_rev + 1);
	json_t *body = json_pack(
		"{s:[], s:[{s:{s:o}}, {s:{s:o,s:o}}, {s:{s:o,s:o,s:s}}]}", "compare", "success",
		"request_range", "key", b64s(cl->k_admin),
		"request_range", "key", b64s(cl->k_obs), "range_end", gtm_etcd_prefix_end(cl->k_obs),
		"request_range", "key", b64s(cl->k_hist), "range_end", gtm_etcd_prefix_end(cl->k_hist),
		"min_mod_revision", minrev);
	call(cl, "/v3/kv/txn", body, sync_done);
}

static void grant_done(int rc, const json_t *reply, const char *err, void *arg)
{
	gtm_cluster_t *cl = reply_for(arg, rc, err);
	if (cl == NULL)
		return;
	cl->lease = gtm_etcd_int(json_object_get(reply, "ID"));
	if (cl->lease == 0) {
		lost(cl, "etcd granted no lease");
		return;
	}
	sync_read(cl);
}

static void start(gtm_cluster_t *cl)
{
	cl->gen++;
	if (cl->state == CL_UP)
		return;
	cl->state = CL_SYNCING;
	if (cl->lease == 0) {
		json_t *body = json_pack("{s:I}", "TTL", (json_int_t)cl->lease_s);
		call(cl, "/v3/lease/grant", body, grant_done);
	} else {
		sync_read(cl);
	}
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */

/* By the one name rule (common/name.h), as the admin state reads names. */
static bool known(const gtm_conf_t *conf, const char *section, const char *name)
{
	uint32_t i;
	if (strcmp(section, "sites") == 0)
		i = gtm_conf_site(conf, name);
	else if (strcmp(section, "cities") == 0)
		i = gtm_conf_city(conf, name);
	else if (strcmp(section, "endpoints") == 0)
		return gtm_admin_endpoint_known(conf, name);
	else
		i = gtm_conf_service(conf, name);
	return i != GTM_NAME_NONE;
}

void gtm_cluster_keep_unknown(json_t *state, const json_t *raw, const gtm_conf_t *conf)
{
	static const char *const sections[] = { "sites", "cities", "services", "endpoints" };
	for (size_t i = 0; raw && i < 4; i++) {
		const json_t *from = json_object_get(raw, sections[i]);
		json_t *to = json_object_get(state, sections[i]);
		if (!json_is_object(from))
			continue;
		if (!json_is_object(to)) {
			to = json_object();
			json_object_set_new(state, sections[i], to);
		}
		const char *name;
		json_t *v;
		json_object_foreach((json_t *)from, name, v)
			if (!known(conf, sections[i], name) && json_object_get(to, name) == NULL)
				json_object_set(to, name, v);
	}
}

/* History pruning: after this node's writes, the oldest records beyond
 * history_keep leave etcd (every node's history file keeps them).  Three
 * calls, one after the other: count, find the last key to go, delete up to
 * it.  Pruning is idempotent, so two nodes doing it at once do no harm. */
static void prune_history(gtm_cluster_t *cl);

static void prune_done(int rc, const json_t *reply, const char *err, void *arg)
{
	gtm_cluster_t *cl = arg;
	(void)reply;
	cl->pruning = false;
	if (rc != 0 && !cl->closing)
		log_warn("cluster, old history records not removed from etcd (%s)", err);
	if (rc == 0 && cl->prune_again)
		prune_history(cl);
}

static void prune_keys(int rc, const json_t *reply, const char *err, void *arg)
{
	gtm_cluster_t *cl = arg;
	const json_t *kvs = json_object_get(reply, "kvs");
	if (rc != 0 || cl->closing || json_array_size(kvs) == 0) {
		prune_done(rc, reply, err, arg);
		return;
	}
	/* Delete [history/, last key to go] inclusive: range_end is that key
	 * with a zero byte appended, in base64. */
	size_t len;
	char *last = gtm_etcd_unb64(json_object_get(json_array_get(kvs, json_array_size(kvs) - 1), "key"), &len);
	if (last == NULL) {
		prune_done(GTM_EINVAL, NULL, "bad key", arg);
		return;
	}
	char *end = gtm_xmalloc(len + 1);
	memcpy(end, last, len);
	end[len] = '\0';
	json_t *body = json_pack("{s:o,s:o}", "key", b64s(cl->k_hist), "range_end", gtm_etcd_b64(end, len + 1));
	log_info("cluster, removing the %zu oldest history records from etcd (keeping %u)",
	         json_array_size(kvs), cl->history_keep);
	free(end);
	free(last);
	if (gtm_etcd_call(cl->etcd, "/v3/kv/deleterange", body, prune_done, cl) != 0)
		cl->pruning = false;
}

static void prune_count(int rc, const json_t *reply, const char *err, void *arg)
{
	gtm_cluster_t *cl = arg;
	int64_t count = gtm_etcd_int(json_object_get(reply, "count"));
	if (rc != 0 || cl->closing || count <= (int64_t)cl->history_keep) {
		prune_done(rc, reply, err, arg);
		return;
	}
	char limit[32];
	snprintf(limit, sizeof(limit), "%" PRId64, count - (int64_t)cl->history_keep);
	json_t *body = json_pack("{s:o,s:o,s:b,s:s}", "key", b64s(cl->k_hist), "range_end",
	                         gtm_etcd_prefix_end(cl->k_hist), "keys_only", 1, "limit", limit);
	if (gtm_etcd_call(cl->etcd, "/v3/kv/range", body, prune_keys, cl) != 0)
		cl->pruning = false;
}

static void prune_history(gtm_cluster_t *cl)
{
	if (cl->closing)
		return;
	if (cl->pruning) {
		cl->prune_again = true;
		return;
	}
	cl->prune_again = false;
	json_t *body = json_pack("{s:o,s:o,s:b}", "key", b64s(cl->k_hist), "range_end",
	                         gtm_etcd_prefix_end(cl->k_hist), "count_only", 1);
	cl->pruning = gtm_etcd_call(cl->etcd, "/v3/kv/range", body, prune_count, cl) == 0;
}

static void write_finish(write_op_t *w, int rc, const char *err)
{
	gtm_cluster_t *cl = w->cl;
	for (write_op_t **p = &cl->writes; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	if (rc == 0) {
		cl->st.writes++;
		prune_history(cl);
	}
	else if (rc == GTM_EEXIST)
		cl->st.conflicts++;
	else
		cl->st.write_errors++;
	if (w->cb)
		w->cb(rc, err, w->arg);
	else if (rc != 0)
		log_warn("cluster, automatic change not written to etcd (%s)", err);
	gtm_admin_free(w->preview);
	json_decref(w->value);
	json_decref(w->history);
	if (w->retry)
		event_free(w->retry);
	free(w);
}

static void write_send(write_op_t *w);

/* etcd has `w` at revision `rev`: this node takes it (unless the watch
 * brought that revision or a later one first), its state and its author. */
static void written(write_op_t *w, int64_t rev)
{
	gtm_cluster_t *cl = w->cl;
	if (rev <= cl->admin_rev)
		return;
	if (!w->adopted)
		gtm_admin_adopt(cl->admin, w->preview);
	cl->admin_rev = rev;
	json_decref(cl->last_by);
	cl->last_by = json_incref(json_object_get(w->value, "by"));
	json_decref(cl->raw_state);
	cl->raw_state = json_incref(json_object_get(w->value, "state"));
}

static void write_done(int rc, const json_t *reply, const char *err, void *arg)
{
	write_op_t *w = arg;
	gtm_cluster_t *cl = w->cl;
	if (cl->closing) {
		write_finish(w, GTM_EIO, "gtmd is stopping");
		return;
	}
	if (rc == GTM_EIO) {
		if (++w->attempts < cl->netcd + 2) {
			log_info("cluster, admin write: %s; trying %s", err, gtm_etcd_member(cl->etcd));
			arm_ms(w->retry, WRITE_RETRY_MS);
			return;
		}
		char msg[700];
		snprintf(msg, sizeof(msg), "etcd is unreachable (%s): nothing was changed, every node keeps "
		         "the state it has; try again when etcd is back (gtmctl status)", err);
		write_finish(w, GTM_EIO, msg);
		return;
	}
	if (rc != 0) {
		char msg[700];
		snprintf(msg, sizeof(msg), "etcd refused the change (%s)", err);
		write_finish(w, GTM_EIO, msg);
		return;
	}
	int64_t rev = gtm_etcd_int(json_object_get(json_object_get(reply, "header"), "revision"));
	if (json_is_true(json_object_get(reply, "succeeded"))) {
		written(w, rev);
		write_finish(w, 0, "");
		return;
	}
	/* The compare failed: who wrote what? */
	const json_t *resp = json_object_get(json_array_get(json_object_get(reply, "responses"), 0), "response_range");
	const json_t *kv = json_array_get(json_object_get(resp, "kvs"), 0);
	size_t len = 0;
	char *val = kv ? gtm_etcd_unb64(json_object_get(kv, "value"), &len) : NULL;
	int64_t cur = gtm_etcd_int(json_object_get(kv, "mod_revision"));
	json_error_t jerr;
	json_t *doc = val ? json_loadb(val, len, 0, &jerr) : NULL;
	const json_t *by = json_object_get(doc, "by");
	const char *id = json_string_value(json_object_get(by, "id"));
	if (id && strcmp(id, w->id) == 0) {
		/* An earlier attempt of this very write went through; its
		 * reply was lost. */
		json_decref(doc);
		free(val);
		written(w, cur);
		write_finish(w, 0, "");
		return;
	}
	const char *node = json_string_value(json_object_get(by, "node"));
	const char *user = json_string_value(json_object_get(by, "user"));
	const char *what = json_string_value(json_object_get(by, "message"));
	char msg[900];
	snprintf(msg, sizeof(msg),
	         "conflict: the admin state changed meanwhile (revision %" PRId64 " -> %" PRId64
	         ", by %s on %s: %s); nothing was changed: check `gtmctl status` and run the command again",
	         w->expect, cur, user ? user : "?", node ? node : "?", what ? what : "?");
	/* Take etcd's state now, so that a retry is judged against it. */
	admin_put(cl, val, len, cur, true);
	json_decref(doc);
	free(val);
	write_finish(w, GTM_EEXIST, msg);
}

static void write_send(write_op_t *w)
{
	gtm_cluster_t *cl = w->cl;
	char expect[32];
	snprintf(expect, sizeof(expect), "%" PRId64, w->expect);
	char *text = json_dumps(w->value, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *success = json_array();
	json_array_append_new(success, json_pack("{s:{s:o,s:o}}", "request_put", "key", b64s(cl->k_admin),
	                                         "value", b64s(text)));
	free(text);
	size_t i;
	json_t *rec;
	json_array_foreach(w->history, i, rec) {
		char key[512];
		snprintf(key, sizeof(key), "%s%020" PRId64 "-%s-%zu", cl->k_hist,
		         gtm_etcd_int(json_object_get(rec, "time")), w->id, i);
		char *rt = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
		json_array_append_new(success, json_pack("{s:{s:o,s:o}}", "request_put", "key", b64s(key),
		                                         "value", b64s(rt)));
		free(rt);
	}
	json_t *body = json_pack("{s:[{s:o,s:s,s:s,s:s}],s:o,s:[{s:{s:o}}]}", "compare", "key",
	                         b64s(cl->k_admin), "target", "MOD", "result", "EQUAL", "mod_revision",
	                         expect, "success", success, "failure", "request_range", "key",
	                         b64s(cl->k_admin));
	if (gtm_etcd_call(cl->etcd, "/v3/kv/txn", body, write_done, w) != 0)
		write_done(GTM_EIO, NULL, "cannot reach etcd", w);
}

static void on_write_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	write_send(arg);
}

void gtm_cluster_write(gtm_cluster_t *cl, gtm_admin_result_t *res, const gtm_admin_action_t *act,
                       bool adopt_now, gtm_cluster_write_cb_t cb, void *arg)
{
	write_op_t *w = gtm_xcalloc(1, sizeof(*w));
	w->cl = cl;
	w->cb = cb;
	w->arg = arg;
	w->expect = cl->admin_rev;
	w->preview = res->preview;
	res->preview = NULL;
	w->history = res->history ? res->history : json_array();
	res->history = NULL;
	snprintf(w->id, sizeof(w->id), "%s-%" PRIu64 "-%" PRIu64, cl->node, cl->boot_ms, ++cl->seq);
	int64_t t = now_ms();
	size_t i;
	json_t *rec;
	json_array_foreach(w->history, i, rec)
		json_object_set_new(rec, "node", json_string(cl->node));
	json_t *by = json_pack("{s:s,s:I,s:I,s:s,s:s}", "node", cl->node, "uid", (json_int_t)act->uid,
	                       "time", (json_int_t)t, "id", w->id, "message", res->message);
	const char *user = NULL;
	json_array_foreach(w->history, i, rec)
		if (user == NULL)
			user = json_string_value(json_object_get(rec, "user"));
	json_object_set_new(by, "user", json_string(user ? user : act->automatic ? "gtmd" : "?"));
	json_object_set_new(by, "auto", json_boolean(act->automatic));
	json_t *state = gtm_admin_to_json(w->preview, (uint64_t)t, false);
	gtm_cluster_keep_unknown(state, cl->raw_state, cl->conf);
	w->value = json_pack("{s:o,s:o}", "state", state, "by", by);
	w->retry = evtimer_new(cl->base, on_write_retry, w);
	w->next = cl->writes;
	cl->writes = w;
	if (adopt_now) {
		/* gtmd's own change (a paused ramp, a promotion): it must take
		 * effect here now; etcd's copy follows, and when another node
		 * was first, its state replaces this one. */
		gtm_admin_adopt(cl->admin, w->preview);
		w->adopted = true;
	}
	/* Even while the watch is down: one member gone is no reason to
	 * refuse, the write tries the others.  A stale revision here makes
	 * it a conflict, never an overwrite. */
	write_send(w);
}

/* ------------------------------------------------------------------------ */
/* Life                                                                     */

static void set_objects(gtm_cluster_t *cl, const gtm_conf_t *conf, gtm_admin_t *admin,
                        gtm_health_mon_t *health)
{
	cl->conf = conf;
	cl->admin = admin;
	if (cl->health && cl->health != health)
		gtm_health_mon_set_vote(cl->health, NULL, NULL);
	cl->health = health;
	if (health)
		gtm_health_mon_set_vote(health, vote_cb, cl);
}

/* The newest "rev" in the local history file: what was mirrored already. */
static int64_t mirrored_rev(const gtm_admin_t *a)
{
	int rc = 0;
	json_t *h = gtm_admin_history_read(a, 200, &rc);
	int64_t rev = 0;
	size_t i;
	json_t *r;
	json_array_foreach(h, i, r) {
		int64_t x = gtm_etcd_int(json_object_get(r, "rev"));
		if (x > rev)
			rev = x;
	}
	json_decref(h);
	return rev;
}

gtm_cluster_t *gtm_cluster_new(struct event_base *base, const gtm_conf_t *conf, gtm_admin_t *admin,
                               gtm_health_mon_t *health, gtm_cluster_changed_cb_t changed,
                               void *arg, char *err, size_t errlen)
{
	const gtm_cluster_conf_t *cc = &conf->cluster;
	gtm_etcd_tls_t tls = { cc->ca_file, cc->cert_file, cc->key_file };
	gtm_etcd_t *etcd = gtm_etcd_new(base, cc->etcd, cc->netcd, cc->timeout_ms, &tls, err, errlen);
	if (etcd == NULL)
		return NULL;
	gtm_cluster_t *cl = gtm_xcalloc(1, sizeof(*cl));
	cl->base = base;
	cl->lease_s = cc->lease_s;
	cl->quorum = cc->health_quorum;
	cl->history_keep = cc->history_keep;
	cl->netcd = cc->netcd;
	cl->etcd = etcd;
	cl->urls = gtm_xcalloc(cc->netcd, sizeof(*cl->urls));
	for (size_t i = 0; i < cc->netcd; i++)
		cl->urls[i] = gtm_xstrdup(cc->etcd[i]);
	cl->changed = changed;
	cl->changed_arg = arg;
	cl->node = gtm_xstrdup(cc->node);
	cl->prefix = gtm_xstrdup(cc->prefix);
	cl->k_admin = gtm_xasprintf("%sadmin", cl->prefix);
	cl->k_hist = gtm_xasprintf("%shistory/", cl->prefix);
	cl->k_obs = gtm_xasprintf("%sobservers/", cl->prefix);
	cl->k_self = gtm_xasprintf("%s%s", cl->k_obs, cl->node);
	cl->retry_ev = evtimer_new(base, on_retry, cl);
	cl->keepalive_ev = evtimer_new(base, on_keepalive, cl);
	cl->grace_ev = evtimer_new(base, on_grace, cl);
	cl->backoff_ms = BACKOFF_MIN_MS;
	cl->boot_ms = (uint64_t)now_ms();
	cl->st.last_propagation_ms = -1;
	cl->hist = json_array();
	set_objects(cl, conf, admin, health);
	cl->hist_rev = mirrored_rev(admin);
	log_info("cluster, node %s, etcd %s (%zu members), prefix %s", cl->node, cc->etcd[0], cc->netcd,
	         cl->prefix);
	start(cl);
	return cl;
}

static bool strv_same(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

void gtm_cluster_rebind(gtm_cluster_t *cl, const gtm_conf_t *conf, gtm_admin_t *admin,
                        gtm_health_mon_t *health)
{
	const gtm_cluster_conf_t *n = &conf->cluster;
	/* node, prefix, etcd, TLS and timeout are restart-only keys: the
	 * reload said so (gtm_conf_restart_changes); the running identity
	 * stays, and so do the live keys until the identity is the same. */
	if (n->enabled && strcmp(n->node, cl->node) == 0 && strcmp(n->prefix, cl->prefix) == 0 &&
	    strv_same(n->etcd, n->netcd, cl->urls, cl->netcd)) {
		cl->lease_s = n->lease_s;
		cl->quorum = n->health_quorum;
		cl->history_keep = n->history_keep;
	}
	set_objects(cl, conf, admin, health);
	publish_own(cl, false);
}

void gtm_cluster_free(gtm_cluster_t *cl)
{
	if (cl == NULL)
		return;
	cl->closing = true;
	gtm_etcd_free(cl->etcd);   /* writes in flight finish in write_done */
	while (cl->writes)         /* those waiting to retry */
		write_finish(cl->writes, GTM_EIO, "gtmd is stopping");
	if (cl->health)
		gtm_health_mon_set_vote(cl->health, NULL, NULL);
	event_free(cl->retry_ev);
	event_free(cl->keepalive_ev);
	event_free(cl->grace_ev);
	obs_clear(cl);
	free(cl->obs);
	json_decref(cl->published);
	json_decref(cl->last_by);
	json_decref(cl->raw_state);
	json_decref(cl->hist);
	for (size_t i = 0; i < cl->netcd; i++)
		free(cl->urls[i]);
	free(cl->urls);
	free(cl->node);
	free(cl->prefix);
	free(cl->k_admin);
	free(cl->k_hist);
	free(cl->k_obs);
	free(cl->k_self);
	free(cl);
}

/* ------------------------------------------------------------------------ */
/* Status                                                                   */

json_t *gtm_cluster_history(const gtm_cluster_t *cl, size_t limit)
{
	size_t n = json_array_size(cl->hist);
	size_t from = limit && limit < n ? n - limit : 0;
	json_t *out = json_array();
	for (size_t i = from; i < n; i++)
		json_array_append(out, json_array_get(cl->hist, i));
	return out;
}

int64_t gtm_cluster_revision(const gtm_cluster_t *cl)
{
	return cl->admin_rev;
}

const char *gtm_cluster_node(const gtm_cluster_t *cl)
{
	return cl->node;
}

size_t gtm_cluster_nobservers(const gtm_cluster_t *cl)
{
	return cl->nobs;
}

const char *gtm_cluster_observer(const gtm_cluster_t *cl, size_t i)
{
	return i < cl->nobs ? cl->obs[i].node : NULL;
}

chk_state_t gtm_cluster_verdict(const gtm_cluster_t *cl, size_t i, const char *key)
{
	return i < cl->nobs ? state_of(json_string_value(json_object_get(cl->obs[i].targets, key)))
	                    : CHK_STATE_UNKNOWN;
}

static void count_targets(const json_t *targets, size_t *up, size_t *down)
{
	const char *k;
	json_t *v;
	*up = *down = 0;
	json_object_foreach((json_t *)targets, k, v) {
		chk_state_t s = state_of(json_string_value(v));
		*up += s == CHK_STATE_UP;
		*down += s == CHK_STATE_DOWN;
	}
}

json_t *gtm_cluster_status_json(const gtm_cluster_t *cl)
{
	json_t *o = json_object();
	json_object_set_new(o, "node", json_string(cl->node));
	json_object_set_new(o, "etcd", json_string(cl->state == CL_UP ? "connected"
	                                           : cl->outage ? "unreachable" : "connecting"));
	json_object_set_new(o, "member", json_string(gtm_etcd_member(cl->etcd)));
	json_object_set_new(o, "since", json_integer((json_int_t)cl->since));
	if (cl->state != CL_UP && cl->error[0])
		json_object_set_new(o, "error", json_string(cl->error));
	json_object_set_new(o, "revision", json_integer((json_int_t)cl->admin_rev));
	json_object_set_new(o, "lease_s", json_integer(cl->lease_s));
	if (cl->quorum)
		json_object_set_new(o, "quorum", json_integer(cl->quorum));
	else
		json_object_set_new(o, "quorum", json_string("majority"));
	json_t *obs = json_array();
	json_t *own = own_targets(cl);
	size_t up, down;
	count_targets(own, &up, &down);
	json_array_append_new(obs, json_pack("{s:s,s:b,s:I,s:I,s:I}", "node", cl->node, "self", 1,
	                                     "updated", (json_int_t)now_ms(), "up", (json_int_t)up,
	                                     "down", (json_int_t)down));
	json_decref(own);
	for (size_t i = 0; i < cl->nobs; i++) {
		count_targets(cl->obs[i].targets, &up, &down);
		json_array_append_new(obs, json_pack("{s:s,s:b,s:I,s:I,s:I}", "node", cl->obs[i].node,
		                                     "self", 0, "updated", (json_int_t)cl->obs[i].time,
		                                     "up", (json_int_t)up, "down", (json_int_t)down));
	}
	json_object_set_new(o, "observers", obs);
	if (cl->last_by) {
		json_t *lc = json_deep_copy(cl->last_by);
		json_object_set_new(lc, "revision", json_integer((json_int_t)cl->admin_rev));
		json_object_del(lc, "id");
		json_object_set_new(o, "last_change", lc);
	}
	return o;
}

void gtm_cluster_stats(const gtm_cluster_t *cl, gtm_cluster_stats_t *out)
{
	*out = cl->st;
	out->connected = cl->state == CL_UP;
	out->observers = cl->nobs + 1;
	out->revision = cl->admin_rev;
}
