/*
 * The status command: sites, cities and services as gtmd sees them now
 * (health, admin state, shares, cluster observers).
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
#include "gtm/core/siteans.h"

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
		d = own = gtm_ctlcmd_preview_at(c, admin, now, now);
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
				share += gtm_ctlcmd_share_of(cv, s);
			}
		gtm_admin_site_info_t info;
		gtm_admin_site_info(admin, s, now, &info);
		const char *health = svc_all == 0 ? "unknown" : svc_up == svc_all ? "up" : svc_up ? "partial" : "down";
		json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:s,s:b,s:f,s:i,s:f}",
		                      "name", site->name, "city", conf->cities[site->city].name,
		                      "role", gtm_ctlcmd_role_names[site->role], "health", health,
		                      "endpoints_up", (int)ep_up, "endpoints", (int)ep_all,
		                      "admin", gtm_admin_state_name(info.state), "activated", info.activated,
		                      "factor", gtm_ctlcmd_round3(info.factor), "weight", (int)site->weight,
		                      "weight_now", gtm_ctlcmd_round3(site->weight * info.factor));
		json_object_set_new(e, "share", nch ? json_real(gtm_ctlcmd_round3(share / nch)) : json_real(0));
		if (ans) {
			uint64_t n;
			win_ms = gtm_siteans_recent(ans, site->name, mono, &n, &win_all);
			json_object_set_new(e, "answers_1m", json_integer((json_int_t)n));
			json_object_set_new(e, "share_1m", json_real(win_all ? gtm_ctlcmd_round3((double)n / (double)win_all) : 0));
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
				json_object_set_new(e, "failback", json_real(gtm_ctlcmd_round3(v->failback)));
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
		json_t *e = json_pack("{s:s,s:s,s:s,s:i}", "name", svc->name, "policy", gtm_ctlcmd_policy_names[svc->policy],
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

void gtm_ctlcmd_register_status(gtm_ctl_t *ctl, gtm_control_t *c)
{
	gtm_ctl_register(ctl, "status", cmd_status, c);
}
