/*
 * The admin action commands (drain undrain evacuate restore promote
 * activate deactivate pause resume): checked by the safety rules unless
 * forced, applied (through etcd first in cluster mode), published; the
 * reply carries the answers that change.
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
#include "gtm/ctl/safety.h"

/* An action on its way to etcd (cluster mode): the reply waits for it. */
typedef struct pending_action {
	gtm_control_t *c;
	gtm_ctl_defer_t *defer;
	gtm_admin_action_t act;     /* its strings are not kept: only op, dry_run */
	gtm_admin_result_t res;     /* message and changes (preview and history
	                             * went to the cluster) */
	gtm_decision_t *before;
	bool full;                  /* every answer that changes, not the first few */
} pending_action_t;

/* The answers' diff (before -> where the change ends) into `reply`. */
static void add_answers(gtm_control_t *c, json_t *reply, const gtm_decision_t *before, bool full)
{
	gtm_decision_t *after = gtm_ctlcmd_preview_at(c, gtm_control_admin(c), GTM_ADMIN_END, gtm_admin_now());
	uint16_t *orders = gtm_ctlcmd_orders(c);
	gtm_ctlcmd_add_answers(reply, gtm_control_conf(c), orders, before, after, full);
	free(orders);
	gtm_decision_free(after);
}

static void action_written(int rc, const char *err, void *arg)
{
	pending_action_t *p = arg;
	json_t *reply;
	if (rc == 0) {
		gtm_control_publish(p->c);
		reply = gtm_admin_result_json(&p->act, 0, &p->res);
		json_object_set_new(reply, "revision",
		                    json_integer((json_int_t)gtm_cluster_revision(gtm_control_cluster(p->c))));
		add_answers(p->c, reply, p->before, p->full);
	} else {
		reply = gtm_ctl_error("%s", err);
		if (rc == GTM_EEXIST)
			json_object_set_new(reply, "conflict", json_true());
	}
	gtm_ctl_complete(p->defer, reply);
	gtm_decision_free(p->before);
	gtm_admin_result_clear(&p->res);
	free(p);
}

static json_t *cmd_action(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_control_t *c = arg;
	gtm_admin_action_t act;
	char err[256];
	if (gtm_admin_action_from_json(req, &act, err, sizeof(err)) != 0)
		return gtm_ctl_error("%s", err);
	act.uid = peer->uid;
	act.user = peer->user[0] ? peer->user : NULL;
	act.automatic = false;
	gtm_admin_t *admin = gtm_control_admin(c);
	const gtm_conf_t *conf = gtm_control_conf(c);
	gtm_cluster_t *cl = gtm_control_cluster(c);
	const json_t *ifrev = json_object_get(req, "if_revision");
	const json_t *jfull = json_object_get(req, "full");
	if (jfull && !json_is_boolean(jfull))
		return gtm_ctl_error("\"full\" must be true or false");
	bool full = json_is_true(jfull);
	if (ifrev && (!json_is_integer(ifrev) || json_integer_value(ifrev) < 0))
		return gtm_ctl_error("\"if_revision\" must be a revision number");
	if (ifrev && cl == NULL)
		return gtm_ctl_error("--if-revision needs cluster mode (a cluster group in the configuration)");
	/* The write compares etcd's revision with this node's, so checking
	 * the operator's against this node's here is the whole rule. */
	if (ifrev && cl && gtm_cluster_revision(cl) != (int64_t)json_integer_value(ifrev)) {
		int64_t rev = gtm_cluster_revision(cl);
		json_t *r = gtm_ctl_error("conflict: the admin state is at revision %" PRId64
		                          ", not %" JSON_INTEGER_FORMAT "; nothing was changed: check "
		                          "`gtmctl status` and run the command again", rev,
		                          json_integer_value(ifrev));
		json_object_set_new(r, "conflict", json_true());
		json_object_set_new(r, "revision", json_integer((json_int_t)rev));
		return r;
	}
	uint64_t now = gtm_admin_now();
	gtm_decision_t *before = gtm_ctlcmd_preview_at(c, admin, now, now);
	gtm_admin_result_t res = { 0 };
	act.propose = cl != NULL && !act.dry_run;
	int rc = gtm_admin_apply(admin, &act, now, gtm_ctl_safety_check, c, &res);
	if (act.propose && rc == 0 && !res.refused && res.changed) {
		/* Cluster mode: etcd first, then here (gtm/cluster/cluster.h). */
		pending_action_t *p = gtm_xcalloc(1, sizeof(*p));
		p->c = c;
		p->act = (gtm_admin_action_t){ .op = act.op };
		p->res = res;
		p->before = before;
		p->full = full;
		p->defer = gtm_ctl_defer(peer);
		gtm_cluster_write(cl, &p->res, &act, false, action_written, p);
		return NULL;
	}
	json_t *reply = gtm_admin_result_json(&act, rc, &res);
	if (rc == 0 && res.refused && act.dry_run && res.preview) {
		/* Refused, and still the whole preview: what it would do. */
		gtm_decision_t *after = gtm_ctlcmd_preview_at(c, res.preview, GTM_ADMIN_END, now);
		uint16_t *orders = gtm_ctlcmd_orders(c);
		gtm_ctlcmd_add_answers(reply, conf, orders, before, after, full);
		free(orders);
		gtm_decision_free(after);
	} else if (rc == 0 && !res.refused && res.changed) {
		gtm_decision_t *after;
		if (act.dry_run) {
			after = gtm_ctlcmd_preview_at(c, res.preview, GTM_ADMIN_END, now);
		} else {
			gtm_control_publish(c);
			after = gtm_ctlcmd_preview_at(c, admin, GTM_ADMIN_END, gtm_admin_now());
		}
		uint16_t *orders = gtm_ctlcmd_orders(c);
		gtm_ctlcmd_add_answers(reply, conf, orders, before, after, full);
		free(orders);
		gtm_decision_free(after);
	}
	gtm_decision_free(before);
	gtm_admin_result_clear(&res);
	return reply;
}

void gtm_ctlcmd_register_action(gtm_ctl_t *ctl, gtm_control_t *c)
{
	static const char *const actions[] = { "drain", "undrain", "evacuate", "restore", "promote",
	                                       "activate", "deactivate", "pause", "resume", "disable",
	                                       "enable" };
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		gtm_ctl_register(ctl, actions[i], cmd_action, c);
}
