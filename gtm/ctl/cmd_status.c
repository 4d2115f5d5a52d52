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
#include "common/name.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/cluster/cluster.h"
#include "gtm/ctl/ctl_proto.h"
#include "gtm/ctl/cmd_int.h"
#include "gtm/core/siteans.h"

/* Each observer's view of site `s`, this node first (its own probes):
 * "up" when it sees every checked endpoint of the site up, "down" when
 * none, "partial" in between, "unknown" without a verdict.
 * {"gtm1":"down","gtm2":"up",...}.  `eps` lists the site's endpoints
 * (indices into hl->endpoints), `neps` long. */
static json_t *observer_views(const gtm_cluster_t *cl, const gtm_health_list_t *hl, const uint32_t *eps,
                              size_t neps)
{
	json_t *o = json_object();
	size_t n = gtm_cluster_nobservers(cl);
	for (size_t k = 0; k <= n; k++) {   /* k 0: this node, k: observer k - 1 */
		unsigned up = 0, down = 0;
		for (size_t i = 0; i < neps; i++) {
			const gtm_endpoint_health_t *e = &hl->endpoints[eps[i]];
			if (!e->checked)
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

/* What status adds up per site, in one pass over the decision and the
 * health list each (no scan of every service per site). */
typedef struct site_sum {
	unsigned svc_up, svc_all, ep_up, ep_all;
	unsigned nch;                 /* serving choices of services it is in */
	double share;                 /* its share summed over them */
	const gtm_site_view_t *failback;  /* the first service failing it back */
	uint32_t ep_first, ep_n;      /* its endpoints in the bucketed list */
} site_sum_t;

static site_sum_t *site_sums(const gtm_conf_t *conf, const gtm_decision_t *d, const gtm_health_list_t *hl,
                             uint32_t **eps_out)
{
	site_sum_t *sum = gtm_xcalloc(conf->nsites ? conf->nsites : 1, sizeof(*sum));
	/* d->sites is in service order: each service's range once. */
	for (size_t i = 0, j = 0; i < d->nservices; i++) {
		size_t end = j;
		while (end < d->nsites && d->sites[end].service == i)
			end++;
		for (size_t x = j; x < end; x++) {
			const gtm_site_view_t *v = &d->sites[x];
			if (v->site >= conf->nsites)
				continue;
			site_sum_t *s = &sum[v->site];
			s->svc_all++;
			s->svc_up += v->up;
			if (s->failback == NULL && v->up && v->failback < 1)
				s->failback = v;
		}
		/* The planned share: a site's share of the serving choices of
		 * the services it is in.  A service names a site once in
		 * d->sites, so each (choice, site) counts once. */
		for (uint16_t k = 0; k < d->services[i].nchoices; k++) {
			const gtm_choice_view_t *cv = &d->services[i].choices[k];
			if (cv->n == 0)
				continue;
			for (size_t x = j; x < end; x++) {
				uint32_t st = d->sites[x].site;
				if (st >= conf->nsites)
					continue;
				sum[st].nch++;
				sum[st].share += gtm_ctlcmd_share_of(cv, st);
			}
		}
		j = end;
	}
	/* Endpoints bucketed by site (a counting sort), for the counts and
	 * the observers' views. */
	uint32_t *eps = gtm_xcalloc(hl->nendpoints ? hl->nendpoints : 1, sizeof(*eps));
	for (size_t i = 0; i < hl->nendpoints; i++)
		if (hl->endpoints[i].site < conf->nsites)
			sum[hl->endpoints[i].site].ep_n++;
	uint32_t off = 0;
	for (size_t s = 0; s < conf->nsites; s++) {
		sum[s].ep_first = off;
		off += sum[s].ep_n;
		sum[s].ep_n = 0;
	}
	for (size_t i = 0; i < hl->nendpoints; i++) {
		const gtm_endpoint_health_t *e = &hl->endpoints[i];
		if (e->site >= conf->nsites)
			continue;
		site_sum_t *s = &sum[e->site];
		eps[s->ep_first + s->ep_n++] = (uint32_t)i;
		s->ep_all++;
		s->ep_up += e->up;
	}
	*eps_out = eps;
	return sum;
}

static json_t *status_site(gtm_control_t *c, const gtm_health_list_t *hl, const site_sum_t *sum,
                           const uint32_t *eps, uint32_t s, uint64_t now, uint64_t mono,
                           uint64_t *win_all, uint64_t *win_ms)
{
	const gtm_conf_t *conf = gtm_control_conf(c);
	gtm_admin_t *admin = gtm_control_admin(c);
	const gtm_cluster_t *cl = gtm_control_cluster(c);
	gtm_siteans_t *ans = gtm_control_siteans(c);
	const gtm_site_t *site = &conf->sites[s];
	const site_sum_t *u = &sum[s];
	json_t *views = cl ? observer_views(cl, hl, eps + u->ep_first, u->ep_n) : NULL;
	gtm_admin_site_info_t info;
	gtm_admin_site_info(admin, s, now, &info);
	const char *health = u->svc_all == 0 ? "unknown" : u->svc_up == u->svc_all ? "up"
	                   : u->svc_up ? "partial" : "down";
	/* The weight now: the same function as the metric site.<site>.weight. */
	const char *zero_why = NULL;
	double wnow = gtm_admin_site_weight_now(admin, s, now, &zero_why);
	json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:s,s:b,s:f,s:i,s:f}",
	                      "name", site->name, "city", conf->cities[site->city].name,
	                      "role", gtm_ctlcmd_role_names[site->role], "health", health,
	                      "endpoints_up", (int)u->ep_up, "endpoints", (int)u->ep_all,
	                      "admin", gtm_admin_state_name(info.state), "activated", info.activated,
	                      "factor", gtm_ctlcmd_round3(info.factor), "weight", (int)site->weight,
	                      "weight_now", gtm_ctlcmd_round3(wnow));
	/* Why it takes no traffic from the operators' side, said by the
	 * server (a drain's reason is in "reason"). */
	if (zero_why && strcmp(zero_why, "drained") != 0)
		json_object_set_new(e, "note", json_string(zero_why));
	json_object_set_new(e, "share", u->nch ? json_real(gtm_ctlcmd_round3(u->share / u->nch)) : json_real(0));
	if (ans) {
		uint64_t n;
		*win_ms = gtm_siteans_recent(ans, site->name, mono, &n, win_all);
		json_object_set_new(e, "answers_1m", json_integer((json_int_t)n));
		json_object_set_new(e, "share_1m", json_real(*win_all ? gtm_ctlcmd_round3((double)n / (double)*win_all) : 0));
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
	if (u->failback) {
		json_object_set_new(e, "failback", json_real(gtm_ctlcmd_round3(u->failback->failback)));
		if (u->failback->until)
			json_object_set_new(e, "failback_next", json_integer((json_int_t)u->failback->until));
	}
	if (info.since) {
		json_object_set_new(e, "since", json_integer((json_int_t)info.since));
		if (info.reason)
			json_object_set_new(e, "reason", json_string(info.reason));
		if (info.user)
			json_object_set_new(e, "user", json_string(info.user));
		json_object_set_new(e, "uid", json_integer((json_int_t)info.uid));
	}
	return e;
}

static json_t *status_service(const gtm_conf_t *conf, gtm_admin_t *admin, const gtm_decision_t *d,
                              uint32_t i)
{
	/* At the last resort the state says which: fail open answers every
	 * endpoint, fail closed NODATA, an address that one record. */
	static const char *const lr_states[] = { "failopen", "failclosed", "lastresort" };
	const gtm_service_t *svc = &conf->services[i];
	const gtm_service_view_t *v = &d->services[i];
	const char *state = v->state == GTM_SVC_NORMAL ? "normal" : v->state == GTM_SVC_DEGRADED ? "degraded"
	                  : lr_states[svc->last_resort];
	json_t *e = json_pack("{s:s,s:s,s:s,s:i}", "name", svc->name, "policy", gtm_ctlcmd_policy_names[svc->policy],
	                      "state", state, "ttl", (int)v->ttl);
	if (v->state == GTM_SVC_LAST_RESORT)
		json_object_set_new(e, "last_resort", json_string(svc->last_resort == GTM_LAST_RESORT_OPEN
		                                                  ? "open" : svc->last_resort == GTM_LAST_RESORT_CLOSED
		                                                  ? "closed" : "address"));
	if (svc->policy == GTM_POLICY_GLOBAL && v->master != GTM_NO_CITY) {
		json_object_set_new(e, "master", json_string(conf->cities[v->master].name));
		json_object_set_new(e, "promoted", json_boolean(gtm_admin_master(admin, i) != GTM_NO_CITY));
	}
	return e;
}

/* One endpoint's health in detail (status --endpoints): what the answers
 * use, this node's own probes and each cluster observer's verdict. */
static json_t *status_endpoint(const gtm_conf_t *conf, const gtm_cluster_t *cl, const gtm_admin_t *admin,
                               const gtm_endpoint_health_t *h, uint64_t now)
{
	const gtm_service_t *svc = &conf->services[h->service];
	const gtm_endpoint_t *ep = &svc->endpoints[h->endpoint];
	char addr[INET6_ADDRSTRLEN];
	inet_ntop(ep->family, &ep->addr, addr, sizeof(addr));
	/* What the answers use: the operator's override over the probes
	 * (the controller reads the same: gtm_admin_view_t.ep_force). */
	uint64_t asince;
	const char *areason, *auser;
	gtm_admin_ep_state_t as = gtm_admin_endpoint(admin, h->service, h->endpoint, &asince, &areason, &auser);
	bool used = as == GTM_ADMIN_EP_ENABLED ? h->up : as == GTM_ADMIN_EP_FORCE_UP;
	json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s}", "service", svc->name, "site", conf->sites[h->site].name,
	                      "address", addr, "used", used ? "up" : "down",
	                      "admin", gtm_admin_ep_state_name(as));
	if (asince) {
		json_object_set_new(e, "admin_since", json_integer((json_int_t)asince));
		if (areason)
			json_object_set_new(e, "admin_reason", json_string(areason));
		if (auser)
			json_object_set_new(e, "admin_user", json_string(auser));
	}
	if (!h->checked) {
		json_object_set_new(e, "check", json_null());   /* always up */
		return e;
	}
	char probe[80];
	snprintf(probe, sizeof(probe), "%s%s%s:%u", strchr(h->probe_addr, ':') ? "[" : "", h->probe_addr,
	         strchr(h->probe_addr, ':') ? "]" : "", (unsigned)h->probe_port);
	json_object_set_new(e, "check", json_string(h->check));
	json_object_set_new(e, "probe", json_string(probe));
	json_object_set_new(e, "state", json_string(chk_state_name(h->state)));
	json_object_set_new(e, "voted", json_string(chk_state_name(h->voted)));
	json_object_set_new(e, "last_result", json_string(chk_reason_name(h->reason)));
	json_object_set_new(e, "change_reason", json_string(chk_reason_name(h->change_reason)));
	json_object_set_new(e, "latency_ms", json_integer((json_int_t)h->latency_ms));
	json_object_set_new(e, "probes", json_integer((json_int_t)h->probes));
	json_object_set_new(e, "failures", json_integer((json_int_t)h->failures));
	if (h->since_ms) {
		json_object_set_new(e, "since", json_integer((json_int_t)h->since_ms));
		json_object_set_new(e, "for_ms", json_integer((json_int_t)(now > (uint64_t)h->since_ms
		                                                             ? now - (uint64_t)h->since_ms : 0)));
	}
	if (cl) {
		json_t *o = json_object();
		json_object_set_new(o, gtm_cluster_node(cl), json_string(chk_state_name(h->state)));
		for (size_t k = 0; k < gtm_cluster_nobservers(cl); k++)
			json_object_set_new(o, gtm_cluster_observer(cl, k),
			                    json_string(chk_state_name(gtm_cluster_verdict(cl, k, h->vote_key))));
		json_object_set_new(e, "observers", o);
	}
	return e;
}

/*
 * status [service NAME] [site NAME] [endpoints]: every site, city and service; with
 * "service", that service and its sites and their cities; with "site",
 * that site, its city and the services that have it (both: the service,
 * if it has the site).
 */
static json_t *cmd_status(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_control_t *c = arg;
	(void)peer;
	const gtm_conf_t *conf = gtm_control_conf(c);
	gtm_admin_t *admin = gtm_control_admin(c);
	const json_t *jsvc = json_object_get(req, "service"), *jsite = json_object_get(req, "site");
	if ((jsvc && !json_is_string(jsvc)) || (jsite && !json_is_string(jsite)))
		return gtm_ctl_error("\"service\" and \"site\" must be names");
	int fsvc = -1, fsite = -1;
	if (jsvc && (fsvc = gtm_ctlcmd_service_index(conf, json_string_value(jsvc))) < 0)
		return gtm_ctl_error("no service %s", json_string_value(jsvc));
	if (jsite) {
		uint32_t k = gtm_conf_site(conf, json_string_value(jsite));
		if (k == GTM_NAME_NONE)
			return gtm_ctl_error("no site %s", json_string_value(jsite));
		fsite = (int)k;
	}
	const json_t *jeps = json_object_get(req, "endpoints");
	if (jeps && !json_is_boolean(jeps))
		return gtm_ctl_error("\"endpoints\" must be true or false");
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

	/* Which sites, cities and services the filters keep. */
	bool *keep_site = gtm_xcalloc(conf->nsites + 1, sizeof(bool));
	bool *keep_city = gtm_xcalloc(conf->ncities + 1, sizeof(bool));
	bool *keep_svc = gtm_xcalloc(conf->nservices + 1, sizeof(bool));
	for (size_t i = 0; i < conf->nservices; i++)
		keep_svc[i] = fsvc < 0 || (int)i == fsvc;
	if (fsite >= 0) {
		for (size_t i = 0; i < conf->nservices; i++)
			keep_svc[i] = false;
		for (size_t x = 0; x < d->nsites; x++)
			if ((int)d->sites[x].site == fsite && (fsvc < 0 || (int)d->sites[x].service == fsvc))
				keep_svc[d->sites[x].service] = true;
		keep_site[fsite] = true;
	} else if (fsvc >= 0) {
		for (size_t x = 0; x < d->nsites; x++)
			if ((int)d->sites[x].service == fsvc && d->sites[x].site < conf->nsites)
				keep_site[d->sites[x].site] = true;
	} else {
		for (size_t s = 0; s < conf->nsites; s++)
			keep_site[s] = true;
	}
	for (size_t s = 0; s < conf->nsites; s++)
		if (keep_site[s])
			keep_city[conf->sites[s].city] = true;
	if (fsvc < 0 && fsite < 0)
		for (size_t k = 0; k < conf->ncities; k++)
			keep_city[k] = true;

	uint32_t *eps = NULL;
	site_sum_t *sum = site_sums(conf, d, &hl, &eps);
	json_t *sites = json_array();
	for (uint32_t s = 0; s < conf->nsites; s++)
		if (keep_site[s])
			json_array_append_new(sites, status_site(c, &hl, sum, eps, s, now, mono, &win_all, &win_ms));
	if (ans && json_array_size(sites) == 0) {
		uint64_t n;
		win_ms = gtm_siteans_recent(ans, "", mono, &n, &win_all);
	}
	free(sum);
	free(eps);
	/* Per endpoint, on request: the filters apply (at 10,000 services
	 * the whole list is large). */
	json_t *endpoints = NULL;
	if (json_is_true(jeps)) {
		endpoints = json_array();
		for (size_t i = 0; i < hl.nendpoints; i++) {
			const gtm_endpoint_health_t *h = &hl.endpoints[i];
			if (keep_svc[h->service] && (fsite < 0 || (int)h->site == fsite))
				json_array_append_new(endpoints, status_endpoint(conf, cl, admin, h, now));
		}
	}
	gtm_health_list_clear(&hl);

	/* Cities: the admin state's JSON holds since/reason/user/uid. */
	json_t *aj = gtm_admin_to_json(admin, now, true);
	json_t *acities = json_object_get(aj, "cities");
	json_t *cities = json_array();
	for (uint32_t k = 0; k < conf->ncities; k++) {
		if (!keep_city[k])
			continue;
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
	for (uint32_t i = 0; i < conf->nservices; i++)
		if (keep_svc[i])
			json_array_append_new(svcs, status_service(conf, admin, d, i));
	free(keep_site);
	free(keep_city);
	free(keep_svc);
	gtm_decision_free(own);
	json_t *r = json_pack("{s:b,s:I,s:o,s:o,s:o}", "ok", 1, "time", (json_int_t)now, "sites", sites,
	                      "cities", cities, "services", svcs);
	/* The controller's budget of automatic changes, and what it holds
	 * back now (a suppressed failover is otherwise only a counter). */
	{
		uint32_t used, limit;
		uint32_t *sup = gtm_xcalloc(conf->ncities + 1, sizeof(*sup));
		gtm_controller_budget(gtm_control_controller(c), now, &used, &limit, sup);
		json_t *sj = json_array();
		for (uint32_t k = 0; k < conf->ncities; k++)
			if (sup[k])
				json_array_append_new(sj, json_pack("{s:s,s:i}", "city", conf->cities[k].name,
				                                    "services", (int)sup[k]));
		free(sup);
		json_t *cj = json_pack("{s:i,s:i,s:o}", "auto_per_hour", (int)limit, "auto_used", (int)used,
		                       "suppressed", sj);
		if (limit > 0)
			json_object_set_new(cj, "auto_left", json_integer(used < limit ? (int)(limit - used) : 0));
		json_object_set_new(r, "controller", cj);
	}
	if (cl)
		json_object_set_new(r, "cluster", gtm_cluster_status_json(cl));
	if (endpoints)
		json_object_set_new(r, "endpoints", endpoints);
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
