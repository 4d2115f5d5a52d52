/*
 * The control commands (see ctlcmd.h and the protocol in ctl.h).  Every
 * handler reads the control plane through gtm/ctl/control.h and answers one
 * JSON object; actions go through gtm_admin_apply() with the safety rules
 * below, then publish.
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
#include "dns/answer.h"
#include "dns/wire.h"
#include "geo/db.h"
#include "geo/map.h"
#include "gtm/cluster/cluster.h"
#include "gtm/ctl/ctl_proto.h"
#include "gtm/ctl/ctlcmd.h"
#include "gtm/core/siteans.h"

static const char *const policy_names[] = { "nearest", "primary-backup", "global", "failover" };
static const char *const role_names[] = { "active", "backup", "cold" };

static double round3(double v)
{
	return floor(v * 1000.0 + 0.5) / 1000.0;
}

static int service_index(const gtm_conf_t *conf, const char *name)
{
	size_t ln = strlen(name);
	if (ln > 1 && name[ln - 1] == '.')
		ln--;
	for (size_t i = 0; i < conf->nservices; i++) {
		const char *s = conf->services[i].name;
		size_t ls = strlen(s);
		if (ls > 1 && s[ls - 1] == '.')
			ls--;
		if (ls == ln && strncasecmp(s, name, ln) == 0)
			return (int)i;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Answers diff                                                             */

static json_t *shares_json(const gtm_conf_t *conf, const gtm_choice_view_t *cv)
{
	json_t *a = json_array();
	for (size_t i = 0; cv && i < cv->n; i++)
		json_array_append_new(a, json_pack("{s:s,s:f}", "site", conf->sites[cv->shares[i].site].name,
		                                   "share", round3(cv->shares[i].share)));
	return a;
}

static double share_of(const gtm_choice_view_t *cv, uint32_t site)
{
	for (size_t i = 0; i < cv->n; i++)
		if (cv->shares[i].site == site)
			return cv->shares[i].share;
	return 0;
}

static bool choices_differ(const gtm_choice_view_t *a, const gtm_choice_view_t *b)
{
	for (size_t i = 0; i < a->n; i++)
		if (fabs(a->shares[i].share - share_of(b, a->shares[i].site)) > 0.0005)
			return true;
	for (size_t i = 0; i < b->n; i++)
		if (fabs(b->shares[i].share - share_of(a, b->shares[i].site)) > 0.0005)
			return true;
	return false;
}

json_t *gtm_ctlcmd_answer_diff(const gtm_conf_t *conf, const gtm_decision_t *before,
                               const gtm_decision_t *after)
{
	json_t *out = json_array();
	for (size_t i = 0; i < conf->nservices && i < before->nservices && i < after->nservices; i++) {
		const gtm_service_view_t *b = &before->services[i], *a = &after->services[i];
		bool geo = conf->services[i].policy == GTM_POLICY_NEAREST;
		size_t first = json_array_size(out);
		for (uint16_t k = 0; k < b->nchoices && k < a->nchoices; k++) {
			if (!choices_differ(&b->choices[k], &a->choices[k]))
				continue;
			json_t *e = json_pack("{s:s}", "service", conf->services[i].name);
			if (geo)
				json_object_set_new(e, "city", json_string(conf->cities[k].name));
			json_object_set_new(e, "before", shares_json(conf, &b->choices[k]));
			json_object_set_new(e, "after", shares_json(conf, &a->choices[k]));
			json_array_append_new(out, e);
		}
		/* The TTL (degraded_ttl) changes with the answers: said on the
		 * service's entries. */
		for (size_t j = first; j < json_array_size(out) && b->ttl != a->ttl; j++) {
			json_t *e = json_array_get(out, j);
			json_object_set_new(e, "ttl_before", json_integer(b->ttl));
			json_object_set_new(e, "ttl_after", json_integer(a->ttl));
		}
	}
	return out;
}

/* ------------------------------------------------------------------------ */
/* Safety rules                                                             */

typedef struct drained {
	uint32_t sites;
	double capacity;     /* fraction of the capacity of the sites that are not cold */
} drained_t;

/* Sites whose factor is below 1 (drained, draining or in an evacuated
 * city) in view `v`, and their share of the capacity. */
static drained_t drained_of(const gtm_conf_t *conf, const gtm_admin_view_t *v)
{
	drained_t d = { 0 };
	bool caps = true;
	for (size_t s = 0; s < conf->nsites; s++)
		if (conf->sites[s].role != GTM_ROLE_COLD && conf->sites[s].capacity == 0)
			caps = false;
	double all = 0, gone = 0;
	for (size_t s = 0; s < conf->nsites; s++) {
		const gtm_site_t *site = &conf->sites[s];
		if (site->role == GTM_ROLE_COLD)
			continue;
		double cap = caps ? (double)site->capacity : (double)site->weight;
		double f = v->evacuated[site->city] ? 0 : v->factor[s];
		all += cap;
		if (f < 1) {
			d.sites++;
			gone += cap * (1 - f);
		}
	}
	d.capacity = all > 0 ? gone / all : 0;
	return d;
}

/* A service's serving capacity fraction in a decision. */
static double service_capacity(const gtm_conf_t *conf, const gtm_decision_t *d, uint32_t svc)
{
	bool caps = true;
	for (size_t i = 0; i < d->nsites; i++)
		if (d->sites[i].service == svc && conf->sites[d->sites[i].site].capacity == 0)
			caps = false;
	double all = 0, up = 0;
	for (size_t i = 0; i < d->nsites; i++) {
		const gtm_site_view_t *s = &d->sites[i];
		const gtm_site_t *site = &conf->sites[s->site];
		if (s->service != svc || site->role == GTM_ROLE_COLD)
			continue;
		double cap = caps ? (double)site->capacity : (double)site->weight;
		all += cap;
		if (s->up)
			up += cap * s->admin;
	}
	return all > 0 ? up / all : 0;
}

static gtm_decision_t *preview_at(gtm_control_t *c, const gtm_admin_t *a, uint64_t admin_now,
                                  uint64_t now)
{
	gtm_admin_view_t *v = gtm_admin_view_new(a, admin_now);
	gtm_health_mon_t *h = gtm_control_health(c);
	gtm_decision_t *d = gtm_controller_preview(gtm_control_controller(c), h ? gtm_health_mon_table(h) : NULL,
	                                           v, now);
	gtm_admin_view_free(v);
	return d;
}

int gtm_ctlcmd_safety(const gtm_admin_t *cur, const gtm_admin_t *next,
                      const gtm_admin_action_t *act, uint64_t now, void *arg,
                      char *why, size_t whylen)
{
	gtm_control_t *c = arg;
	const gtm_conf_t *conf = gtm_control_conf(c);
	(void)act;
	int rc = 0;
	gtm_decision_t *dc = preview_at(c, cur, GTM_ADMIN_END, now);
	gtm_decision_t *dn = preview_at(c, next, GTM_ADMIN_END, now);
	for (size_t i = 0; i < conf->nservices && rc == 0; i++) {
		const gtm_service_t *svc = &conf->services[i];
		if (dn->failopen[i] && !dc->failopen[i]) {
			snprintf(why, whylen, "service %s would have no serving site", svc->name);
			rc = 1;
			break;
		}
		double fc = service_capacity(conf, dc, (uint32_t)i), fn = service_capacity(conf, dn, (uint32_t)i);
		if (svc->min_capacity > 0 && fn + 1e-9 < svc->min_capacity && fn + 1e-9 < fc) {
			snprintf(why, whylen, "service %s would keep %.0f%% of its capacity, below its min_capacity %.0f%%",
			         svc->name, fn * 100, svc->min_capacity * 100);
			rc = 1;
		}
	}
	if (rc == 0) {
		gtm_admin_view_t *vc = gtm_admin_view_new(cur, GTM_ADMIN_END);
		gtm_admin_view_t *vn = gtm_admin_view_new(next, GTM_ADMIN_END);
		drained_t a = drained_of(conf, vc), b = drained_of(conf, vn);
		uint32_t max_sites = conf->control.max_drained_sites;
		double max_cap = conf->control.max_drained_capacity;
		if (max_sites > 0 && b.sites > max_sites && b.sites > a.sites) {
			snprintf(why, whylen, "%u sites would be drained or evacuated (control.max_drained_sites %u)",
			         b.sites, max_sites);
			rc = 1;
		} else if (b.capacity > max_cap + 1e-9 && b.capacity > a.capacity + 1e-9) {
			snprintf(why, whylen, "%.0f%% of the capacity would be drained or evacuated (control.max_drained_capacity %.0f%%)",
			         b.capacity * 100, max_cap * 100);
			rc = 1;
		}
		gtm_admin_view_free(vc);
		gtm_admin_view_free(vn);
	}
	gtm_decision_free(dc);
	gtm_decision_free(dn);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Actions                                                                  */

/* An action on its way to etcd (cluster mode): the reply waits for it. */
typedef struct pending_action {
	gtm_control_t *c;
	gtm_ctl_defer_t *defer;
	gtm_admin_action_t act;     /* its strings are not kept: only op, dry_run */
	gtm_admin_result_t res;     /* message and changes (preview and history
	                             * went to the cluster) */
	gtm_decision_t *before;
} pending_action_t;

/* The answers' diff (before -> where the change ends) into `reply`. */
static void add_answers(gtm_control_t *c, json_t *reply, const gtm_decision_t *before)
{
	gtm_decision_t *after = preview_at(c, gtm_control_admin(c), GTM_ADMIN_END, gtm_admin_now());
	json_object_set_new(reply, "answers", gtm_ctlcmd_answer_diff(gtm_control_conf(c), before, after));
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
		add_answers(p->c, reply, p->before);
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
	gtm_decision_t *before = preview_at(c, admin, now, now);
	gtm_admin_result_t res = { 0 };
	act.propose = cl != NULL && !act.dry_run;
	int rc = gtm_admin_apply(admin, &act, now, gtm_ctlcmd_safety, c, &res);
	if (act.propose && rc == 0 && !res.refused && res.changed) {
		/* Cluster mode: etcd first, then here (gtm/cluster/cluster.h). */
		pending_action_t *p = gtm_xcalloc(1, sizeof(*p));
		p->c = c;
		p->act = (gtm_admin_action_t){ .op = act.op };
		p->res = res;
		p->before = before;
		p->defer = gtm_ctl_defer(peer);
		gtm_cluster_write(cl, &p->res, &act, false, action_written, p);
		return NULL;
	}
	json_t *reply = gtm_admin_result_json(&act, rc, &res);
	if (rc == 0 && !res.refused && res.changed) {
		gtm_decision_t *after;
		if (act.dry_run) {
			after = preview_at(c, res.preview, GTM_ADMIN_END, now);
		} else {
			gtm_control_publish(c);
			after = preview_at(c, admin, GTM_ADMIN_END, gtm_admin_now());
		}
		json_object_set_new(reply, "answers", gtm_ctlcmd_answer_diff(conf, before, after));
		gtm_decision_free(after);
	}
	gtm_decision_free(before);
	gtm_admin_result_clear(&res);
	return reply;
}

/* ------------------------------------------------------------------------ */
/* status                                                                   */

/* Each observer's view of site `s`, this node first (its own probes):
 * "up" when it sees every checked endpoint of the site up, "down" when
 * none, "partial" in between, "unknown" without a verdict.
 * {"gtm1":"down","gtm2":"up",...} */
static json_t *observer_views(const gtm_cluster_t *cl, const gtm_health_list_t *hl, uint32_t s)
{
	json_t *o = json_object();
	size_t n = gtm_cluster_nobservers(cl);
	for (size_t k = 0; k <= n; k++) {   /* k 0: this node, k: observer k - 1 */
		unsigned up = 0, down = 0;
		for (size_t i = 0; i < hl->nendpoints; i++) {
			const gtm_endpoint_health_t *e = &hl->endpoints[i];
			if (e->site != s || !e->checked)
				continue;
			chk_state_t v = k == 0 ? e->state : gtm_cluster_verdict(cl, k - 1, e->vote_key);
			up += v == CHK_STATE_UP;
			down += v == CHK_STATE_DOWN;
		}
		const char *view = up && !down ? "up" : down && !up ? "down" : up ? "partial" : "unknown";
		json_object_set_new(o, k == 0 ? gtm_cluster_node(cl) : gtm_cluster_observer(cl, k - 1),
		                    json_string(view));
	}
	return o;
}

static json_t *cmd_status(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_control_t *c = arg;
	(void)req;
	(void)peer;
	const gtm_conf_t *conf = gtm_control_conf(c);
	gtm_admin_t *admin = gtm_control_admin(c);
	uint64_t now = gtm_admin_now();
	gtm_decision_t *own = NULL;
	const gtm_decision_t *d = gtm_control_decision(c);
	if (d == NULL)
		d = own = preview_at(c, admin, now, now);
	gtm_health_list_t hl = { 0 };
	if (gtm_control_health(c))
		gtm_health_mon_list(gtm_control_health(c), &hl);
	const gtm_cluster_t *cl = gtm_control_cluster(c);
	/* The measured share: answers in the last minute, all services
	 * together (gtm/core/siteans.h). */
	gtm_siteans_t *ans = gtm_control_siteans(c);
	uint64_t mono = gtm_siteans_now(), win_all = 0, win_ms = 0;
	if (ans)
		gtm_siteans_sample(ans);

	json_t *sites = json_array();
	for (uint32_t s = 0; s < conf->nsites; s++) {
		const gtm_site_t *site = &conf->sites[s];
		unsigned svc_up = 0, svc_all = 0, ep_up = 0, ep_all = 0;
		for (size_t i = 0; i < d->nsites; i++)
			if (d->sites[i].site == s) {
				svc_all++;
				svc_up += d->sites[i].up;
			}
		for (size_t i = 0; i < hl.nendpoints; i++)
			if (hl.endpoints[i].site == s) {
				ep_all++;
				ep_up += hl.endpoints[i].up;
			}
		json_t *views = cl ? observer_views(cl, &hl, s) : NULL;
		/* The planned share: this site's share of the serving choices. */
		double share = 0;
		unsigned nch = 0;
		for (size_t i = 0; i < d->nservices; i++)
			for (uint16_t k = 0; k < d->services[i].nchoices; k++) {
				const gtm_choice_view_t *cv = &d->services[i].choices[k];
				if (cv->n == 0)
					continue;
				bool has = false;
				for (size_t j = 0; j < d->nsites && !has; j++)
					has = d->sites[j].service == i && d->sites[j].site == s;
				if (!has)
					continue;
				nch++;
				share += share_of(cv, s);
			}
		gtm_admin_site_info_t info;
		gtm_admin_site_info(admin, s, now, &info);
		const char *health = svc_all == 0 ? "unknown" : svc_up == svc_all ? "up" : svc_up ? "partial" : "down";
		json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:s,s:b,s:f,s:i,s:f}",
		                      "name", site->name, "city", conf->cities[site->city].name,
		                      "role", role_names[site->role], "health", health,
		                      "endpoints_up", (int)ep_up, "endpoints", (int)ep_all,
		                      "admin", gtm_admin_state_name(info.state), "activated", info.activated,
		                      "factor", round3(info.factor), "weight", (int)site->weight,
		                      "weight_now", round3(site->weight * info.factor));
		json_object_set_new(e, "share", nch ? json_real(round3(share / nch)) : json_real(0));
		if (ans) {
			uint64_t n;
			win_ms = gtm_siteans_recent(ans, site->name, mono, &n, &win_all);
			json_object_set_new(e, "answers_1m", json_integer((json_int_t)n));
			json_object_set_new(e, "share_1m", json_real(win_all ? round3((double)n / (double)win_all) : 0));
		}
		json_object_set_new(e, "capacity", json_integer(site->capacity));
		if (views)
			json_object_set_new(e, "observers", views);
		if (info.ramp) {
			json_t *r = json_pack("{s:i,s:i,s:I,s:I,s:b}", "step", (int)info.step, "steps", (int)info.steps,
			                      "next", (json_int_t)info.next_step, "end", (json_int_t)info.ramp_end,
			                      "paused", info.paused);
			if (info.pause_reason)
				json_object_set_new(r, "pause_reason", json_string(info.pause_reason));
			json_object_set_new(e, "ramp", r);
		}
		/* A failback in progress (the first service that has one). */
		for (size_t i = 0; i < d->nsites; i++) {
			const gtm_site_view_t *v = &d->sites[i];
			if (v->site == s && v->up && v->failback < 1) {
				json_object_set_new(e, "failback", json_real(round3(v->failback)));
				if (v->until)
					json_object_set_new(e, "failback_next", json_integer((json_int_t)v->until));
				break;
			}
		}
		if (info.since) {
			json_object_set_new(e, "since", json_integer((json_int_t)info.since));
			if (info.reason)
				json_object_set_new(e, "reason", json_string(info.reason));
			if (info.user)
				json_object_set_new(e, "user", json_string(info.user));
			json_object_set_new(e, "uid", json_integer((json_int_t)info.uid));
		}
		json_array_append_new(sites, e);
	}
	gtm_health_list_clear(&hl);

	/* Cities: the admin state's JSON holds since/reason/user/uid. */
	json_t *aj = gtm_admin_to_json(admin, now, true);
	json_t *acities = json_object_get(aj, "cities");
	json_t *cities = json_array();
	for (uint32_t k = 0; k < conf->ncities; k++) {
		json_t *e = json_pack("{s:s}", "name", conf->cities[k].name);
		json_t *a = json_object_get(acities, conf->cities[k].name);
		json_object_set_new(e, "evacuated", json_boolean(gtm_admin_city_evacuated(admin, k)));
		const char *keys[] = { "since", "reason", "user", "uid" };
		for (size_t j = 0; a && j < 4; j++)
			if (json_object_get(a, keys[j]))
				json_object_set(e, keys[j], json_object_get(a, keys[j]));
		json_array_append_new(cities, e);
	}
	json_decref(aj);

	json_t *svcs = json_array();
	for (uint32_t i = 0; i < conf->nservices; i++) {
		const gtm_service_t *svc = &conf->services[i];
		const gtm_service_view_t *v = &d->services[i];
		static const char *const states[] = { "normal", "degraded", "failopen" };
		json_t *e = json_pack("{s:s,s:s,s:s,s:i}", "name", svc->name, "policy", policy_names[svc->policy],
		                      "state", states[v->state], "ttl", (int)v->ttl);
		if (v->state == GTM_SVC_LAST_RESORT)
			json_object_set_new(e, "last_resort", json_string(svc->last_resort == GTM_LAST_RESORT_OPEN
			                                                  ? "open" : svc->last_resort == GTM_LAST_RESORT_CLOSED
			                                                  ? "closed" : "address"));
		if (svc->policy == GTM_POLICY_GLOBAL && v->master != GTM_NO_CITY) {
			json_object_set_new(e, "master", json_string(conf->cities[v->master].name));
			json_object_set_new(e, "promoted", json_boolean(gtm_admin_master(admin, i) != GTM_NO_CITY));
		}
		json_array_append_new(svcs, e);
	}
	gtm_decision_free(own);
	json_t *r = json_pack("{s:b,s:I,s:o,s:o,s:o}", "ok", 1, "time", (json_int_t)now, "sites", sites,
	                      "cities", cities, "services", svcs);
	if (cl)
		json_object_set_new(r, "cluster", gtm_cluster_status_json(cl));
	if (ans) {
		json_object_set_new(r, "answers_1m", json_integer((json_int_t)win_all));
		json_object_set_new(r, "answers_window_ms", json_integer((json_int_t)win_ms));
	}
	return r;
}

/* ------------------------------------------------------------------------ */
/* explain                                                                  */

/* A query for `qname` `qtype` with an ECS option when `ecs` is set. */
static size_t build_query(uint8_t *pkt, size_t max, const uint8_t *qname, size_t qlen, uint16_t qtype,
                          const dns_net_t *ecs)
{
	if (qlen + 64 > max)
		return 0;
	memset(pkt, 0, DNS_HDR_LEN);
	dns_put16(pkt, 0x4754);
	dns_put16(pkt + 4, 1);
	dns_put16(pkt + 10, 1);
	size_t p = DNS_HDR_LEN;
	memcpy(pkt + p, qname, qlen);
	p += qlen;
	dns_put16(pkt + p, qtype);
	dns_put16(pkt + p + 2, 1);
	p += 4;
	pkt[p++] = 0;                     /* OPT owner: root */
	dns_put16(pkt + p, 41);
	dns_put16(pkt + p + 2, 1232);
	dns_put32(pkt + p + 4, 0);
	p += 8;
	size_t rdlen_at = p;
	p += 2;
	if (ecs) {
		size_t alen = (ecs->prefix + 7u) / 8u;
		dns_put16(pkt + p, 8);
		dns_put16(pkt + p + 2, (uint16_t)(4 + alen));
		dns_put16(pkt + p + 4, ecs->family == AF_INET ? 1 : 2);
		pkt[p + 6] = ecs->prefix;
		pkt[p + 7] = 0;
		memcpy(pkt + p + 8, ecs->addr, alen);
		p += 8 + alen;
	}
	dns_put16(pkt + rdlen_at, (uint16_t)(p - rdlen_at - 2));
	return p;
}

/* Skips a (possibly compressed) name; 0 on a bad packet. */
static size_t skip_name(const uint8_t *pkt, size_t len, size_t p)
{
	while (p < len) {
		uint8_t l = pkt[p];
		if (l == 0)
			return p + 1;
		if ((l & 0xc0) == 0xc0)
			return p + 2 <= len ? p + 2 : 0;
		p += 1 + (size_t)l;
	}
	return 0;
}

static const char *const rcodes[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED" };

/* Reads the response into {"rcode","ttl","scope","records":[...]}. */
static json_t *parse_response(const uint8_t *pkt, size_t len)
{
	if (len < DNS_HDR_LEN)
		return json_pack("{s:s}", "rcode", "none");
	unsigned rc = pkt[3] & 0x0f;
	json_t *r = json_pack("{s:s}", "rcode", rc < 6 ? rcodes[rc] : "other");
	json_t *recs = json_array();
	unsigned qd = dns_get16(pkt + 4), an = dns_get16(pkt + 6), ns = dns_get16(pkt + 8),
	         ar = dns_get16(pkt + 10);
	size_t p = DNS_HDR_LEN;
	for (unsigned i = 0; i < qd && p; i++) {
		p = skip_name(pkt, len, p);
		p = p && p + 4 <= len ? p + 4 : 0;
	}
	for (unsigned i = 0; i < an + ns + ar && p; i++) {
		p = skip_name(pkt, len, p);
		if (p == 0 || p + 10 > len)
			break;
		uint16_t type = dns_get16(pkt + p), rdlen = dns_get16(pkt + p + 8);
		uint32_t ttl = dns_get32(pkt + p + 4);
		const uint8_t *rd = pkt + p + 10;
		if (p + 10 + rdlen > len)
			break;
		if (i < an && (type == 1 || type == 28)) {
			char buf[INET6_ADDRSTRLEN];
			if ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16)) {
				inet_ntop(type == 1 ? AF_INET : AF_INET6, rd, buf, sizeof(buf));
				json_array_append_new(recs, json_string(buf));
				json_object_set_new(r, "ttl", json_integer(ttl));
			}
		} else if (i >= an + ns && type == 41) {
			for (size_t o = 0; o + 4 <= rdlen;) {
				uint16_t code = dns_get16(rd + o), olen = dns_get16(rd + o + 2);
				if (code == 8 && olen >= 4 && o + 4 + olen <= rdlen)
					json_object_set_new(r, "scope", json_integer(rd[o + 7]));
				o += 4 + (size_t)olen;
			}
		}
		p += 10 + rdlen;
	}
	json_object_set_new(r, "records", recs);
	return r;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return 0;
	}
	return GTM_EINVAL;
}

/* "198.18.7.0/24" -> net, host bits cleared. */
static int parse_subnet(const char *s, dns_net_t *net, struct sockaddr_storage *ss)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	long plen = -1;
	if (slash) {
		*slash = '\0';
		char *e;
		plen = strtol(slash + 1, &e, 10);
		if (*e != '\0')
			return GTM_EINVAL;
	}
	if (parse_addr(buf, ss) != 0)
		return GTM_EINVAL;
	memset(net, 0, sizeof(*net));
	if (ss->ss_family == AF_INET) {
		net->family = AF_INET;
		if (plen < 0)
			plen = 32;
		if (plen > 32)
			return GTM_EINVAL;
		memcpy(net->addr, &((struct sockaddr_in *)ss)->sin_addr, 4);
	} else {
		net->family = AF_INET6;
		if (plen < 0)
			plen = 128;
		if (plen > 128)
			return GTM_EINVAL;
		memcpy(net->addr, &((struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
	net->prefix = (uint8_t)plen;
	for (unsigned b = (unsigned)plen; b < 128; b++)
		net->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
	if (ss->ss_family == AF_INET)
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, net->addr, 4);
	else
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, net->addr, 16);
	return 0;
}

static bool net_contains(const dns_net_t *n, const struct sockaddr *sa)
{
	const uint8_t *a;
	if (sa->sa_family != n->family)
		return false;
	a = n->family == AF_INET ? (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr
	                         : (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	for (unsigned b = 0; b < n->prefix; b++)
		if ((a[b / 8] ^ n->addr[b / 8]) & (0x80u >> (b % 8)))
			return false;
	return true;
}

static const char *how_text(geo_how_t how)
{
	switch (how) {
	case GEO_BY_DEFAULT: return "the default order (not located, or no coordinates)";
	case GEO_BY_DISTANCE: return "nearest cities first (distance)";
	case GEO_BY_CIDR: return "a geo.maps CIDR rule";
	case GEO_BY_SUBDIVISION: return "a geo.maps subdivision rule";
	case GEO_BY_COUNTRY: return "a geo.maps country rule";
	case GEO_BY_CONTINENT: return "a geo.maps continent rule";
	}
	return "?";
}

static json_t *candidate(const gtm_conf_t *conf, const gtm_decision_t *d, uint32_t svc, uint32_t site,
                         double share, const char *why)
{
	const gtm_site_view_t *v = gtm_decision_site(d, svc, site);
	json_t *e = json_pack("{s:s,s:s}", "city", conf->cities[conf->sites[site].city].name,
	                      "site", conf->sites[site].name);
	json_object_set_new(e, "health", json_string(v && v->up ? "up" : "down"));
	json_object_set_new(e, "admin", json_string(v && v->admin >= 1 ? "active" : v && v->admin > 0
	                                            ? "draining" : "out"));
	json_object_set_new(e, "factor", json_real(round3(v ? v->admin * v->failback : 0)));
	json_object_set_new(e, "weight", json_real(round3(v ? v->weight : 0)));
	json_object_set_new(e, "serving", json_boolean(share > 0));
	if (share > 0)
		json_object_set_new(e, "share", json_real(round3(share)));
	const char *w = why ? why : v && share <= 0 ? v->why : NULL;
	if (w)
		json_object_set_new(e, "why", json_string(w));
	return e;
}

/* The candidates of one choice: its shares, then the choice city's other
 * sites of the service with why they take nothing. */
static void choice_candidates(json_t *out, const gtm_conf_t *conf, const gtm_decision_t *d,
                              uint32_t svc, const gtm_choice_view_t *cv, uint32_t city)
{
	for (size_t i = 0; i < cv->n; i++) {
		uint32_t s = cv->shares[i].site;
		char why[96] = "";
		if (city != GTM_NO_CITY && conf->sites[s].city != city)
			snprintf(why, sizeof(why), "spill from %s", conf->cities[city].name);
		json_array_append_new(out, candidate(conf, d, svc, s, cv->shares[i].share, why[0] ? why : NULL));
	}
	for (size_t i = 0; i < d->nsites; i++) {
		const gtm_site_view_t *v = &d->sites[i];
		if (v->service != svc || share_of(cv, v->site) > 0)
			continue;
		if (city != GTM_NO_CITY && conf->sites[v->site].city != city)
			continue;
		json_array_append_new(out, candidate(conf, d, svc, v->site, 0,
		                                     v->why ? v->why : cv->n ? "not chosen" : NULL));
	}
}

static json_t *cmd_explain(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_control_t *c = arg;
	(void)peer;
	const gtm_conf_t *conf = gtm_control_conf(c);
	const dns_snapshot_t *snap = gtm_control_snapshot(c);
	const gtm_decision_t *d = gtm_control_decision(c);
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *client = json_string_value(json_object_get(req, "client"));
	const char *ecs = json_string_value(json_object_get(req, "ecs"));
	const char *type = json_string_value(json_object_get(req, "type"));
	if (name == NULL || client == NULL)
		return gtm_ctl_error("explain needs \"name\" and \"client\"");
	if (snap == NULL || d == NULL)
		return gtm_ctl_error("nothing published yet");
	struct sockaddr_storage css, ess;
	dns_net_t net;
	if (parse_addr(client, &css) != 0)
		return gtm_ctl_error("client '%s' is not an IPv4 or IPv6 address", client);
	if (ecs && parse_subnet(ecs, &net, &ess) != 0)
		return gtm_ctl_error("ecs '%s' is not a subnet (198.51.100.0/24, 2001:db8::/56)", ecs);
	uint8_t qname[DNS_NAME_MAX];
	size_t qlen = dns_name_from_str(name, qname);
	if (qlen == 0)
		return gtm_ctl_error("'%s' is not a DNS name", name);
	uint16_t qtype = type && strcasecmp(type, "AAAA") == 0 ? 28 : 1;

	json_t *r = json_pack("{s:s,s:s}", "name", name, "client", client);
	if (ecs)
		json_object_set_new(r, "ecs", json_string(ecs));
	/* Which address locates the client: the ECS subnet when it is used
	 * (ECS on, and the client a trusted resolver), else the client. */
	bool use_ecs = false;
	if (ecs && snap->opts.ecs) {
		use_ecs = snap->opts.n_ecs_trusted == 0;
		for (uint16_t i = 0; i < snap->opts.n_ecs_trusted && !use_ecs; i++)
			use_ecs = net_contains(&snap->opts.ecs_trusted[i], (struct sockaddr *)&css);
		if (!use_ecs)
			json_object_set_new(r, "ecs_ignored", json_string(snap->opts.ecs ? "the client is not in geo.ecs_trusted"
			                                                                  : "geo.ecs is off"));
	}
	const struct sockaddr *loc_sa = (const struct sockaddr *)(use_ecs ? &ess : &css);
	json_object_set_new(r, "located_by", json_string(use_ecs ? "ecs" : "client"));
	geo_loc_t loc = { 0 };
	if (snap->geo_db && geo_db_lookup(snap->geo_db, loc_sa, &loc) == 0 && loc.found) {
		json_t *l = json_object();
		if (loc.country[0])
			json_object_set_new(l, "country", json_string(loc.country));
		if (loc.continent[0])
			json_object_set_new(l, "continent", json_string(loc.continent));
		if (loc.subdivision[0])
			json_object_set_new(l, "subdivision", json_string(loc.subdivision));
		if (loc.has_coords) {
			json_object_set_new(l, "lat", json_real(loc.lat));
			json_object_set_new(l, "lon", json_real(loc.lon));
		}
		char nbuf[80], abuf[INET6_ADDRSTRLEN];
		inet_ntop(loc_sa->sa_family, loc_sa->sa_family == AF_INET
		          ? (const void *)&((const struct sockaddr_in *)loc_sa)->sin_addr
		          : (const void *)&((const struct sockaddr_in6 *)loc_sa)->sin6_addr, abuf, sizeof(abuf));
		snprintf(nbuf, sizeof(nbuf), "%s/%u", abuf, (unsigned)loc.prefix);
		json_object_set_new(l, "network", json_string(nbuf));
		json_object_set_new(r, "location", l);
	} else {
		json_object_set_new(r, "located_by", json_string(snap->geo_db ? "none (in no network of the database)"
		                                                              : "none (no GeoIP database)"));
	}
	uint16_t order[GEO_MAX_CITIES];
	size_t norder = 0;
	if (snap->geo_map) {
		geo_order_info_t info;
		norder = geo_map_order(snap->geo_map, loc_sa, loc.found ? &loc : NULL, order, &info);
		char region[160];
		if (info.rule >= 0)
			snprintf(region, sizeof(region), "%s (rule %d), scope /%u", how_text(info.how), info.rule + 1,
			         info.scope);
		else
			snprintf(region, sizeof(region), "%s, scope /%u", how_text(info.how), info.scope);
		json_object_set_new(r, "region", json_string(region));
		json_t *o = json_array();
		for (size_t i = 0; i < norder; i++)
			json_array_append_new(o, json_string(conf->cities[order[i]].name));
		json_object_set_new(r, "order", o);
	}
	int si = service_index(conf, name);
	json_t *cands = json_array();
	if (si >= 0 && (size_t)si < d->nservices) {
		const gtm_service_t *svc = &conf->services[si];
		const gtm_service_view_t *sv = &d->services[si];
		json_object_set_new(r, "service", json_pack("{s:s,s:s,s:i}", "policy", policy_names[svc->policy],
		                                            "state", sv->state == GTM_SVC_NORMAL ? "normal"
		                                            : sv->state == GTM_SVC_DEGRADED ? "degraded" : "failopen",
		                                            "ttl", (int)sv->ttl));
		if (svc->policy == GTM_POLICY_NEAREST) {
			bool chosen = false;
			for (size_t i = 0; i < norder || (norder == 0 && i < conf->ncities); i++) {
				uint32_t k = norder ? order[i] : (uint32_t)i;
				if (k >= sv->nchoices)
					continue;
				bool has = sv->choices[k].n > 0;
				for (size_t j = 0; j < d->nsites && !has; j++)
					has = d->sites[j].service == (uint32_t)si && conf->sites[d->sites[j].site].city == k;
				if (!has)
					continue;
				size_t first = json_array_size(cands);
				choice_candidates(cands, conf, d, (uint32_t)si, &sv->choices[k], k);
				for (size_t j = first; j < json_array_size(cands); j++) {
					json_t *e = json_array_get(cands, j);
					json_object_set_new(e, "choice", json_string(conf->cities[k].name));
					if (chosen)
						json_object_set_new(e, "serving", json_false());
				}
				chosen |= sv->choices[k].n > 0;
			}
		} else {
			choice_candidates(cands, conf, d, (uint32_t)si, &sv->choices[0], GTM_NO_CITY);
		}
		if (sv->state == GTM_SVC_LAST_RESORT)
			json_object_set_new(r, "last_resort", json_string(svc->last_resort == GTM_LAST_RESORT_OPEN
			                                                  ? "open: every endpoint" : svc->last_resort ==
			                                                  GTM_LAST_RESORT_CLOSED ? "closed: NODATA"
			                                                  : "the fixed address"));
	} else {
		json_object_set_new(r, "note", json_string("not a steered service: the zone answers"));
	}
	json_object_set_new(r, "candidates", cands);

	/* The answer itself: the real answer path on the served snapshot. */
	uint8_t pkt[512], out[4096];
	size_t plen = build_query(pkt, sizeof(pkt), qname, qlen, qtype, ecs ? &net : NULL);
	dns_ctx_t ctx;
	dns_ctx_init(&ctx, (uint64_t)gtm_admin_now() | 1);
	size_t n = dns_answer(snap, pkt, plen, out, sizeof(out), DNS_TRANSPORT_UDP,
	                      (const struct sockaddr *)&css, &ctx);
	json_t *ans = parse_response(out, n);
	json_object_set_new(ans, "type", json_string(qtype == 1 ? "A" : "AAAA"));
	json_object_set_new(r, "answer", ans);
	return r;
}

/* ------------------------------------------------------------------------ */
/* history, reload, stats                                                   */

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
	return json_pack("{s:b,s:o}", "ok", 1, "entries", entries);
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
		json_t *rs = json_array();
		for (size_t i = 0; i < notes.count; i++)
			json_array_append_new(rs, json_string(notes.msgs[i]));
		json_object_set_new(r, "restart_needed", rs);
	} else {
		r = gtm_ctl_error("reload failed, the running configuration keeps serving");
		json_t *errs = json_array();
		for (size_t i = 0; i < diag.count; i++)
			json_array_append_new(errs, json_string(diag.msgs[i]));
		json_object_set_new(r, "errors", errs);
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

void gtm_ctlcmd_register(gtm_ctl_t *ctl, gtm_control_t *c)
{
	static const char *const actions[] = { "drain", "undrain", "evacuate", "restore", "promote",
	                                       "activate", "deactivate", "pause", "resume" };
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		gtm_ctl_register(ctl, actions[i], cmd_action, c);
	gtm_ctl_register(ctl, "status", cmd_status, c);
	gtm_ctl_register(ctl, "explain", cmd_explain, c);
	gtm_ctl_register(ctl, "history", cmd_history, c);
	gtm_ctl_register(ctl, "reload", cmd_reload, c);
	gtm_ctl_register(ctl, "stats", cmd_stats, c);
}
