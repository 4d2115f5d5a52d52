/*
 * The history, reload and stats commands.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/cluster/cluster.h"
#include "gtm/ctl/ctl_proto.h"
#include "gtm/ctl/cmd_int.h"

static json_t *cmd_history(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_control_t *c = arg;
	(void)peer;
	json_t *l = json_object_get(req, "limit");
	/* 0: all (gtmctl history --limit 0) */
	size_t limit = json_is_integer(l) && json_integer_value(l) >= 0 ? (size_t)json_integer_value(l) : 20;
	int rc = 0;
	const gtm_cluster_t *cl = gtm_control_cluster(c);
	if (cl && !gtm_admin_has_history(gtm_control_admin(c)))
		return json_pack("{s:b,s:o}", "ok", 1, "entries", gtm_cluster_history(cl, limit));
	json_t *entries = gtm_admin_history_read(gtm_control_admin(c), limit, &rc);
	if (entries == NULL)
		return gtm_ctl_error("cannot read the history file (%s)", gtm_strerror(rc));
	/* recorded: false when no history is kept (no control.history_file), so
	 * that "no history" is not mistaken for "nothing happened". */
	return json_pack("{s:b,s:o,s:b}", "ok", 1, "entries", entries, "recorded",
	                 cl != NULL || gtm_admin_has_history(gtm_control_admin(c)));
}

/* The messages of `d` as a JSON array of strings: its warnings (warn) or
 * its other messages. */
static json_t *diag_json(const gtm_diag_t *d, bool warn)
{
	json_t *a = json_array();
	for (size_t i = 0; i < d->count; i++)
		if ((d->warn && d->warn[i]) == warn)
			json_array_append_new(a, json_string(d->msgs[i]));
	return a;
}

static json_t *cmd_reload(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_control_t *c = arg;
	(void)req;
	log_info("control, reload asked by uid %u%s%s", (unsigned)peer->uid, peer->user[0] ? " " : "",
	         peer->user);
	gtm_diag_t diag = { 0 }, notes = { 0 };
	const gtm_control_hooks_t *h = gtm_control_hooks(c);
	int rc = h->reload ? h->reload(h->arg, &diag, &notes) : GTM_EINVAL;
	json_t *r;
	if (rc == 0) {
		/* `c` now serves the new configuration. */
		const gtm_conf_t *conf = gtm_control_conf(c);
		const dns_snapshot_t *snap = gtm_control_snapshot(c);
		r = json_pack("{s:b,s:s,s:I}", "ok", 1, "message", "reloaded", "generation",
		              (json_int_t)(snap ? snap->generation : 0));
		json_object_set_new(r, "services", json_integer((json_int_t)conf->nservices));
		/* Restart-only keys that changed: said, never silently ignored. */
		json_object_set_new(r, "restart_needed", diag_json(&notes, false));
		/* The configuration's warnings ("file:line: warning: ..."). */
		json_object_set_new(r, "warnings", diag_json(&notes, true));
	} else {
		r = gtm_ctl_error("reload failed, the running configuration keeps serving");
		json_object_set_new(r, "errors", diag_json(&diag, false));
		json_object_set_new(r, "warnings", diag_json(&diag, true));
	}
	gtm_diag_clear(&diag);
	gtm_diag_clear(&notes);
	return r;
}

static json_t *cmd_stats(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_control_t *c = arg;
	(void)req;
	(void)peer;
	const gtm_control_hooks_t *h = gtm_control_hooks(c);
	json_t *r = h->stats ? h->stats(h->arg) : NULL;
	if (r == NULL) {
		r = json_object();
		gtm_health_mon_t *hm = gtm_control_health(c);
		if (hm) {
			gtm_health_stats_t hs;
			gtm_health_mon_stats(hm, &hs);
			json_object_set_new(r, "health", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}",
			        "targets", (json_int_t)hs.targets, "up", (json_int_t)hs.up, "down", (json_int_t)hs.down,
			        "unknown", (json_int_t)hs.unknown, "probes", (json_int_t)hs.probes_done,
			        "probe_failures", (json_int_t)hs.probes_failed));
		}
		gtm_build_stats_t bs;
		gtm_build_stats(gtm_control_build(c), &bs);
		json_object_set_new(r, "snapshot", json_pack("{s:I}", "builds", (json_int_t)bs.snapshots));
		const dns_snapshot_t *snap = gtm_control_snapshot(c);
		if (snap)
			json_object_set_new(json_object_get(r, "snapshot"), "generation",
			                    json_integer((json_int_t)snap->generation));
	}
	gtm_controller_stats_t s;
	gtm_control_stats(c, &s);
	gtm_build_stats_t bs;
	gtm_build_stats(gtm_control_build(c), &bs);
	json_t *ct = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:i,s:I}",
	        "updates", (json_int_t)s.updates, "evacuations_auto", (json_int_t)s.evacuations,
	        "evacuations_suppressed", (json_int_t)s.evacuations_suppressed,
	        "site_failovers", (json_int_t)s.site_failovers, "failbacks", (json_int_t)s.failbacks,
	        "promotions_auto", (json_int_t)s.promotions, "services_degraded", (int)s.services_degraded,
	        "services_last_resort", (int)s.services_last_resort, "held_down", (int)s.held_down,
	        "failopen", (int)bs.failopen_now, "failopen_entered", (json_int_t)bs.failopen_entered);
	json_object_set_new(ct, "failover", json_pack("{s:I,s:i,s:i,s:i,s:i,s:f,s:f}",
	        "timed", (json_int_t)s.timed, "last_detect_ms", (int)s.last_detect_ms,
	        "last_publish_ms", (int)s.last_publish_ms, "max_detect_ms", (int)s.max_detect_ms,
	        "max_publish_ms", (int)s.max_publish_ms,
	        "avg_detect_ms", s.timed ? (double)s.sum_detect_ms / (double)s.timed : 0.0,
	        "avg_publish_ms", s.timed ? (double)s.sum_publish_ms / (double)s.timed : 0.0));
	/* Flat keys when the figures are flat (gtm_stats_snapshot), nested
	 * otherwise: gtmctl prints both as "controller.x  n". */
	if (json_object_get(r, "host")) {
		const char *k;
		json_t *v;
		json_object_foreach(ct, k, v) {
			if (json_is_object(v)) {
				const char *k2;
				json_t *v2;
				json_object_foreach(v, k2, v2) {
					char key[128];
					snprintf(key, sizeof(key), "controller.%s.%s", k, k2);
					json_object_set(r, key, v2);
				}
			} else {
				char key[128];
				snprintf(key, sizeof(key), "controller.%s", k);
				json_object_set(r, key, v);
			}
		}
		json_decref(ct);
	} else {
		json_object_set_new(r, "controller", ct);
	}
	if (!json_object_get(r, "ok"))
		json_object_set_new(r, "ok", json_true());
	return r;
}

void gtm_ctlcmd_register_misc(gtm_ctl_t *ctl, gtm_control_t *c)
{
	gtm_ctl_register(ctl, "history", cmd_history, c);
	gtm_ctl_register(ctl, "reload", cmd_reload, c);
	gtm_ctl_register(ctl, "stats", cmd_stats, c);
}
