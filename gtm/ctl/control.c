/*
 * gtmd's control plane: admin state + controller + control socket + the
 * controller's timer.  See control.h for the cycle of a publish; this file
 * also turns the controller's events into log lines, history records with
 * their timings, and automatic admin actions (auto promote, ramp pause).
 */
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/cluster/cluster.h"
#include "gtm/ctl/control.h"
#include "gtm/ctl/ctl.h"
#include "gtm/ctl/ctlcmd.h"

/* What a decision was computed from: the admin view and every endpoint's
 * health.  Another computation with equal inputs, before the decision's
 * next_due, gives the same decision (the controller's memory moves only
 * at a publish), so the control commands share it instead of planning
 * 10,000 services again (gtm_control_views). */
typedef struct inputs {
	gtm_admin_view_t *view;       /* owned; NULL: nothing kept */
	bool *up;                     /* [endpoints of every service], flat */
	size_t nup;
} inputs_t;

struct gtm_control {
	struct event_base *base;
	const gtm_conf_t *conf;
	gtm_build_t *build;
	gtm_health_mon_t *health;
	gtm_control_hooks_t hooks;
	gtm_admin_t *admin;
	gtm_controller_t *controller;
	gtm_ctl_t *ctl;
	char *ctl_path, *ctl_group;   /* what the socket was made with */
	uint32_t ctl_mode;
	char *state_file, *history_file;
	struct event *timer;
	struct event *reopen;         /* deferred socket change after a reload */
	gtm_decision_t *last;         /* behind the snapshot served now */
	inputs_t last_in;             /* what it was computed from */
	gtm_decision_t *pv;           /* the last preview (views only), until a publish */
	inputs_t pv_in;
	dns_snapshot_t *snap;
	bool publishing;
	struct gtm_siteans *siteans;  /* borrowed; NULL: no measured shares */
	gtm_cluster_t *cluster;       /* cluster mode; NULL: a node alone */
	struct event *kick;           /* publish from the event loop (cluster changes) */
	struct event *trim;           /* give freed plan memory back, after publishing */
};

void gtm_control_gen_rebind(void *arg, gtm_gen_t *next, const gtm_remap_t *map)
{
	gtm_control_rebind(arg, next, map);
}

static void ctl_reconcile(evutil_socket_t fd, short what, void *arg);
static void inputs_clear(inputs_t *in);
static void previews_drop(gtm_control_t *c);

/* A publish builds the new plan while the old one still serves, then
 * frees the old: tens of MB at 10,000 services that malloc keeps unless
 * asked.  Asked once, a second after the last publish, so that a burst of
 * publishes (a ramp, health flaps) costs one trim. */
static void on_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	gtm_control_t *c = arg;
	(void)fd;
	(void)what;
	gtm_control_publish(c);
}

static void on_cluster_change(void *arg)
{
	gtm_control_t *c = arg;
	struct timeval zero = { 0, 0 };
	evtimer_add(c->kick, &zero);
}

static char *dup_or_null(const char *s)
{
	return s ? gtm_xstrdup(s) : NULL;
}

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static gtm_ctl_t *ctl_open(gtm_control_t *c, const gtm_conf_t *conf, char *err, size_t errlen)
{
	gtm_ctl_opts_t o = {
		.path = conf->control.socket,
		.mode = (mode_t)conf->control.mode,
		.group = conf->control.group,
	};
	gtm_ctl_t *ctl = gtm_ctl_new(c->base, &o, err, errlen);
	if (ctl == NULL)
		return NULL;
	gtm_ctlcmd_register(ctl, c);
	free(c->ctl_path);
	free(c->ctl_group);
	c->ctl_path = gtm_xstrdup(conf->control.socket);
	c->ctl_group = dup_or_null(conf->control.group);
	c->ctl_mode = conf->control.mode;
	return ctl;
}

gtm_control_t *gtm_control_new(struct event_base *base, const gtm_conf_t *conf, gtm_build_t *build,
                               gtm_health_mon_t *health, const gtm_control_hooks_t *hooks,
                               gtm_diag_t *diag)
{
	gtm_control_t *c = gtm_xcalloc(1, sizeof(*c));
	c->base = base;
	c->conf = conf;
	c->build = build;
	c->health = health;
	if (hooks)
		c->hooks = *hooks;
	c->state_file = dup_or_null(conf->control.state_file);
	c->history_file = dup_or_null(conf->control.history_file);
	c->admin = gtm_admin_new(conf, c->state_file, c->history_file);
	/* A bad state file is renamed and logged by the loader: gtmd
	 * starts with everything active rather than not at all. */
	gtm_admin_load(c->admin);
	c->controller = gtm_controller_new(conf);
	c->timer = evtimer_new(base, on_timer, c);
	c->kick = evtimer_new(base, on_timer, c);
	c->reopen = evtimer_new(base, ctl_reconcile, c);
	c->trim = evtimer_new(base, on_trim, c);
	if (conf->cluster.enabled) {
		char err[512];
		c->cluster = gtm_cluster_new(base, conf, c->admin, health, on_cluster_change, c, err,
		                             sizeof(err));
		if (c->cluster == NULL) {
			gtm_diag_add(diag, conf->path, 0, "cluster: %s", err);
			gtm_control_free(c);
			return NULL;
		}
	}
	if (conf->control.enabled) {
		char err[512];
		c->ctl = ctl_open(c, conf, err, sizeof(err));
		if (c->ctl == NULL) {
			gtm_diag_add(diag, conf->path, 0, "%s", err);
			gtm_control_free(c);
			return NULL;
		}
	} else {
		log_info("control, no control group configured: no control socket (gtmctl unavailable)");
	}
	return c;
}

void gtm_control_rebind(gtm_control_t *c, const gtm_gen_t *gen, const gtm_remap_t *map)
{
	const gtm_conf_t *conf = gen->conf;
	gtm_build_t *build = gen->build;
	gtm_health_mon_t *health = gen->health;
	c->build = build;
	c->health = health;
	gtm_admin_rebind(c->admin, conf, map);
	gtm_controller_rebind(c->controller, conf, map);
	/* A cluster group added or removed is a restart-only change (said by
	 * the reload); the node keeps running as it started. */
	if (c->cluster)
		gtm_cluster_rebind(c->cluster, conf, c->admin, health);
	/* The last decision's indices are the old configuration's. */
	gtm_decision_free(c->last);
	c->last = NULL;
	inputs_clear(&c->last_in);
	previews_drop(c);
	if (!str_same(conf->control.state_file, c->state_file) ||
	    !str_same(conf->control.history_file, c->history_file)) {
		/* The state in memory moves to the new files; nothing is read
		 * from them (the running state is the truth). */
		free(c->state_file);
		free(c->history_file);
		c->state_file = dup_or_null(conf->control.state_file);
		c->history_file = dup_or_null(conf->control.history_file);
		gtm_admin_set_files(c->admin, c->state_file, c->history_file);
		log_info("reload, admin state file now %s, history file %s",
		         c->state_file ? c->state_file : "(none: not saved)",
		         c->history_file ? c->history_file : "(none)");
	}
	c->conf = conf;
	/* The reload may run inside a command handler of the very socket
	 * that changes: change it from the event loop, after the reply. */
	struct timeval zero = { 0, 0 };
	evtimer_add(c->reopen, &zero);
}

static void ctl_reconcile(evutil_socket_t fd, short what, void *arg)
{
	gtm_control_t *c = arg;
	const gtm_conf_t *conf = c->conf;
	(void)fd;
	(void)what;
	bool want = conf->control.enabled;
	bool same = c->ctl && want && str_same(conf->control.socket, c->ctl_path) &&
	            str_same(conf->control.group, c->ctl_group) && conf->control.mode == c->ctl_mode;
	if (same)
		return;
	if (!want) {
		if (c->ctl)
			log_info("control, control group removed: socket %s closed", c->ctl_path);
		gtm_ctl_free(c->ctl);
		c->ctl = NULL;
		return;
	}
	/* A socket at the same path is ours: close it first. */
	if (c->ctl && str_same(conf->control.socket, c->ctl_path)) {
		gtm_ctl_free(c->ctl);
		c->ctl = NULL;
	}
	char err[512];
	gtm_ctl_t *ctl = ctl_open(c, conf, err, sizeof(err));
	if (ctl == NULL) {
		log_err("reload, %s; %s", err, c->ctl ? "the previous control socket stays" : "no control socket");
		return;
	}
	gtm_ctl_free(c->ctl);
	c->ctl = ctl;
}

void gtm_control_free(gtm_control_t *c)
{
	if (c == NULL)
		return;
	gtm_ctl_free(c->ctl);
	gtm_cluster_free(c->cluster);
	if (c->kick)
		event_free(c->kick);
	if (c->trim)
		event_free(c->trim);
	if (c->timer)
		event_free(c->timer);
	if (c->reopen)
		event_free(c->reopen);
	gtm_decision_free(c->last);
	inputs_clear(&c->last_in);
	previews_drop(c);
	gtm_controller_free(c->controller);
	gtm_admin_free(c->admin);
	free(c->ctl_path);
	free(c->ctl_group);
	free(c->state_file);
	free(c->history_file);
	free(c);
}

gtm_admin_t *gtm_control_admin(const gtm_control_t *c) { return c->admin; }
gtm_cluster_t *gtm_control_cluster(const gtm_control_t *c) { return c->cluster; }
const gtm_conf_t *gtm_control_conf(const gtm_control_t *c) { return c->conf; }
gtm_build_t *gtm_control_build(const gtm_control_t *c) { return c->build; }
gtm_health_mon_t *gtm_control_health(const gtm_control_t *c) { return c->health; }
const gtm_controller_t *gtm_control_controller(const gtm_control_t *c) { return c->controller; }
const gtm_decision_t *gtm_control_decision(const gtm_control_t *c) { return c->last; }
const dns_snapshot_t *gtm_control_snapshot(const gtm_control_t *c) { return c->snap; }
const gtm_control_hooks_t *gtm_control_hooks(const gtm_control_t *c) { return &c->hooks; }
void gtm_control_set_siteans(gtm_control_t *c, struct gtm_siteans *t) { c->siteans = t; }
struct gtm_siteans *gtm_control_siteans(const gtm_control_t *c) { return c->siteans; }

void gtm_control_stats(const gtm_control_t *c, gtm_controller_stats_t *out)
{
	gtm_controller_stats(c->controller, out);
}

static const gtm_health_t *health_table(const gtm_control_t *c)
{
	return c->health ? gtm_health_mon_table(c->health) : NULL;
}

static void inputs_clear(inputs_t *in)
{
	gtm_admin_view_free(in->view);
	free(in->up);
	memset(in, 0, sizeof(*in));
}

/* Keeps `v` (takes ownership) and a copy of the health now. */
static void inputs_keep(const gtm_control_t *c, inputs_t *in, gtm_admin_view_t *v)
{
	inputs_clear(in);
	const gtm_conf_t *conf = c->conf;
	const gtm_health_t *h = health_table(c);
	size_t n = 0;
	for (size_t i = 0; i < conf->nservices; i++)
		n += conf->services[i].nendpoints;
	in->view = v;
	in->nup = n;
	in->up = gtm_xmalloc(n ? n : 1);
	size_t at = 0;
	for (size_t i = 0; i < conf->nservices; i++) {
		const bool *row = h && h->up ? h->up[i] : NULL;
		for (size_t j = 0; j < conf->services[i].nendpoints; j++)
			in->up[at++] = row ? row[j] : true;
	}
}

/* Whether decision `d`, computed from `in`, is what `v` and the health of
 * now give at `now`. */
static bool inputs_match(const gtm_control_t *c, const gtm_decision_t *d, const inputs_t *in,
                         const gtm_admin_view_t *v, uint64_t now)
{
	if (d == NULL || in->view == NULL || (d->next_due != 0 && now >= d->next_due) || !gtm_admin_view_eq(in->view, v))
		return false;
	const gtm_conf_t *conf = c->conf;
	const gtm_health_t *h = health_table(c);
	size_t at = 0;
	for (size_t i = 0; i < conf->nservices; i++) {
		const bool *row = h && h->up ? h->up[i] : NULL;
		size_t n = conf->services[i].nendpoints;
		if (at + n > in->nup)
			return false;
		if (row ? memcmp(row, in->up + at, n * sizeof(*row)) != 0 : memchr(in->up + at, 0, n) != NULL)
			return false;
		at += n;
	}
	return at == in->nup;
}

gtm_decision_t *gtm_control_views(gtm_control_t *c, const gtm_admin_t *a, uint64_t admin_now, uint64_t now)
{
	gtm_admin_view_t *v = gtm_admin_view_new(a, admin_now);
	if (inputs_match(c, c->last, &c->last_in, v, now)) {
		gtm_admin_view_free(v);
		return gtm_decision_ref(c->last);
	}
	if (inputs_match(c, c->pv, &c->pv_in, v, now)) {
		gtm_admin_view_free(v);
		return gtm_decision_ref(c->pv);
	}
	gtm_decision_t *d = gtm_controller_preview_views(c->controller, health_table(c), v, now);
	gtm_decision_free(c->pv);
	c->pv = gtm_decision_ref(d);
	inputs_keep(c, &c->pv_in, v);
	return d;
}

/* The previews were made with the memory before this publish. */
static void previews_drop(gtm_control_t *c)
{
	gtm_decision_free(c->pv);
	c->pv = NULL;
	inputs_clear(&c->pv_in);
}

gtm_decision_t *gtm_control_preview(const gtm_control_t *c, const gtm_admin_t *a, uint64_t now)
{
	gtm_admin_view_t *v = gtm_admin_view_new(a, now);
	gtm_decision_t *d = gtm_controller_preview(c->controller, health_table(c), v, now);
	gtm_admin_view_free(v);
	return d;
}

/* ------------------------------------------------------------------------ */
/* Automatic admin actions                                                  */

static bool auto_apply(gtm_control_t *c, gtm_admin_op_t op, const char *target, const char *service,
                       const char *reason, uint64_t now)
{
	gtm_admin_action_t act = {
		.op = op, .target = target, .service = service, .reason = reason,
		.uid = getuid(), .user = "gtmd", .automatic = true, .force = true,
	};
	gtm_admin_result_t res = { 0 };
	/* In a cluster the change goes to etcd too; it takes effect here at
	 * once either way (gtm/cluster/cluster.h). */
	act.propose = c->cluster != NULL;
	int rc = gtm_admin_apply(c->admin, &act, now, NULL, NULL, &res);
	bool changed = rc == 0 && res.changed;
	if (changed && c->cluster)
		gtm_cluster_write(c->cluster, &res, &act, true, NULL, NULL);
	if (rc < 0)
		log_warn("controller, automatic %s %s failed (%s)", gtm_admin_op_name(op), target, res.message);
	gtm_admin_result_clear(&res);
	return changed;
}

/* A site of the same city that serves a service the draining site serves
 * and is down: the ramp would push traffic onto a site that cannot take
 * it.  Returns its name, or NULL. */
static const char *receiver_down(const gtm_control_t *c, const gtm_decision_t *d, uint32_t site)
{
	const gtm_conf_t *conf = c->conf;
	for (size_t i = 0; i < d->nsites; i++) {
		const gtm_site_view_t *s = &d->sites[i];
		if (s->site != site)
			continue;
		for (size_t j = 0; j < d->nsites; j++) {
			const gtm_site_view_t *r = &d->sites[j];
			if (r->service != s->service || r->site == site ||
			    conf->sites[r->site].city != conf->sites[site].city ||
			    conf->sites[r->site].role == GTM_ROLE_COLD)
				continue;
			if (!r->up)
				return conf->sites[r->site].name;
		}
	}
	return NULL;
}

/* Pauses ramps whose receivers went down; resumes those gtmd paused once
 * they are up.  True when anything changed. */
static bool ramps_guard(gtm_control_t *c, const gtm_decision_t *d, uint64_t now)
{
	bool changed = false;
	for (uint32_t s = 0; s < c->conf->nsites; s++) {
		gtm_admin_site_info_t info;
		if (gtm_admin_site_info(c->admin, s, now, &info) != 0 || info.state != GTM_ADMIN_DRAINING ||
		    !info.ramp)
			continue;
		const char *down = receiver_down(c, d, s);
		if (!info.paused && down) {
			char why[160];
			snprintf(why, sizeof(why), "receiving site %s is down", down);
			log_warn("controller, site %s, drain ramp paused (%s)", c->conf->sites[s].name, why);
			changed |= auto_apply(c, GTM_ADMIN_PAUSE, c->conf->sites[s].name, NULL, why, now);
		} else if (info.paused && info.automatic && !down) {
			log_info("controller, site %s, drain ramp resumed (receiving sites up again)",
			         c->conf->sites[s].name);
			changed |= auto_apply(c, GTM_ADMIN_RESUME, c->conf->sites[s].name, NULL,
			                      "receiving sites up again", now);
		}
	}
	return changed;
}

/* Applies the promotions the controller wants; true when any was made. */
static bool promotions(gtm_control_t *c, const gtm_decision_t *d, uint64_t now)
{
	bool changed = false;
	for (size_t i = 0; i < d->nevents; i++) {
		const gtm_ctl_event_t *e = &d->events[i];
		if (e->kind != GTM_EV_PROMOTE)
			continue;
		const gtm_service_t *svc = &c->conf->services[e->service];
		uint32_t from = d->services[e->service].master;
		char why[256];
		snprintf(why, sizeof(why), "auto_promote: master city %s unable to serve for %.0f s",
		         from != GTM_NO_CITY ? c->conf->cities[from].name : "?", c->conf->controller.holddown_s);
		if (auto_apply(c, GTM_ADMIN_PROMOTE, c->conf->cities[e->city].name, svc->name, why, now)) {
			gtm_controller_note_auto(c->controller, now);
			log_warn("controller, service %s, master %s -> %s (automatic promotion: %s)", svc->name,
			         from != GTM_NO_CITY ? c->conf->cities[from].name : "?",
			         c->conf->cities[e->city].name, why);
			changed = true;
		}
	}
	return changed;
}

/* ------------------------------------------------------------------------ */
/* Events: logs, history, timings                                           */

typedef struct timing {
	bool known;
	int64_t verdict_ms;   /* when the probes decided */
	uint32_t detect_ms;   /* first failed (or good) probe -> verdict */
} timing_t;

/* The timing of a change of `site` (or, site UINT32_MAX, of every site of
 * `city`) of service `svc` to `up`: the latest verdict among its
 * endpoints in that state. */
static timing_t event_timing(const gtm_control_t *c, const gtm_health_list_t *hl, uint32_t svc,
                             uint32_t site, uint32_t city, bool up)
{
	timing_t t = { 0 };
	for (size_t i = 0; hl && i < hl->nendpoints; i++) {
		const gtm_endpoint_health_t *e = &hl->endpoints[i];
		if (e->service != svc || !e->checked || e->up != up || e->since_ms <= 0)
			continue;
		if (site != UINT32_MAX ? e->site != site : c->conf->sites[e->site].city != city)
			continue;
		if (t.known && e->since_ms <= t.verdict_ms)
			continue;
		const gtm_endpoint_t *ep = &c->conf->services[svc].endpoints[e->endpoint];
		if (ep->check == GTM_NO_CHECK)
			continue;
		t.known = true;
		t.verdict_ms = e->since_ms;
		t.detect_ms = e->detect_ms;
	}
	return t;
}

static const char *const ev_ops[] = {
	[GTM_EV_SITE_DOWN] = "auto failover",
	[GTM_EV_SITE_HELD] = "auto hold-down",
	[GTM_EV_SITE_BACK] = "auto failback",
	/* "evacuated" is the operator's word (gtmctl evacuate); what the
	 * controller does to a city that cannot serve is a failover. */
	[GTM_EV_CITY_EVACUATED] = "auto failover",
	[GTM_EV_CITY_HELD] = "auto hold-down",
	[GTM_EV_CITY_BACK] = "auto failback",
	[GTM_EV_EVAC_SUPPRESSED] = "auto failover suppressed",
	[GTM_EV_PROMOTE] = "auto promote",
};

static void events_record(gtm_control_t *c, const gtm_decision_t *d, uint64_t published)
{
	const gtm_conf_t *conf = c->conf;
	gtm_health_list_t hl = { 0 };
	bool have_list = false;
	for (size_t i = 0; i < d->nevents; i++) {
		const gtm_ctl_event_t *e = &d->events[i];
		if (e->kind == GTM_EV_PROMOTE)
			continue;   /* recorded by the admin state */
		bool is_site = e->site != UINT32_MAX;
		const char *obj = is_site ? conf->sites[e->site].name : conf->cities[e->city].name;
		const char *svc = conf->services[e->service].name;
		char more[64] = "";
		if (e->nservices > 1)
			snprintf(more, sizeof(more), " and %u more", e->nservices - 1);
		const char *old = "", *new = "";
		switch (e->kind) {
		case GTM_EV_SITE_DOWN: old = "serving"; new = "down"; break;
		case GTM_EV_SITE_HELD: old = "down"; new = "held down"; break;
		case GTM_EV_SITE_BACK: old = "ramping back"; new = "serving"; break;
		case GTM_EV_CITY_EVACUATED: old = "serving"; new = "failed over"; break;
		case GTM_EV_CITY_HELD: old = "failed over"; new = "held down"; break;
		case GTM_EV_CITY_BACK: old = "ramping back"; new = "serving"; break;
		case GTM_EV_EVAC_SUPPRESSED: old = "serving"; new = "serving (failover suppressed)"; break;
		default: break;
		}
		bool timed = e->kind == GTM_EV_SITE_DOWN || e->kind == GTM_EV_CITY_EVACUATED ||
		             e->kind == GTM_EV_SITE_HELD || e->kind == GTM_EV_CITY_HELD;
		timing_t t = { 0 };
		if (timed && c->health) {
			if (!have_list) {
				gtm_health_mon_list(c->health, &hl);
				have_list = true;
			}
			bool up = e->kind == GTM_EV_SITE_HELD || e->kind == GTM_EV_CITY_HELD;
			t = event_timing(c, &hl, e->service, e->site, e->city, up);
		}
		uint32_t publish_ms = 0;
		if (t.known) {
			int64_t p = (int64_t)published - t.verdict_ms;
			publish_ms = p > 0 ? (uint32_t)p : 0;
			if (e->kind == GTM_EV_SITE_DOWN || e->kind == GTM_EV_CITY_EVACUATED)
				gtm_controller_note_timing(c->controller, t.detect_ms, publish_ms);
		}
		char timing[128] = "";
		if (t.known)
			snprintf(timing, sizeof(timing), ", detected in %u ms, published in %u ms", t.detect_ms,
			         publish_ms);
		char until[64] = "";
		if (e->until)
			snprintf(until, sizeof(until), ", traffic back from %.1f s on",
			         (double)(e->until - published) / 1000.0);
		if (e->kind == GTM_EV_EVAC_SUPPRESSED)
			log_err("controller, city %s, automatic failover suppressed: over controller.auto_evacuations_per_hour (%u) (service %s%s)",
			        obj, conf->controller.auto_evacuations_per_hour, svc, more);
		else if (e->kind == GTM_EV_SITE_DOWN || e->kind == GTM_EV_CITY_EVACUATED)
			log_warn("controller, %s %s, %s -> %s (service %s%s%s)", is_site ? "site" : "city", obj,
			         old, new, svc, more, timing);
		else
			log_info("controller, %s %s, %s -> %s (service %s%s%s%s)", is_site ? "site" : "city", obj,
			         old, new, svc, more, timing, until);
		json_t *r = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:i}", "time", (json_int_t)published,
		                      "op", ev_ops[e->kind], "object", is_site ? "site" : "city", "name", obj,
		                      "field", "serving", "old", old, "new", new, "auto", 1, "service", svc,
		                      "services", (int)e->nservices);
		json_object_set_new(r, "user", json_string("gtmd"));
		if (t.known) {
			json_object_set_new(r, "detect_ms", json_integer(t.detect_ms));
			json_object_set_new(r, "publish_ms", json_integer(publish_ms));
		}
		if (e->until)
			json_object_set_new(r, "until", json_integer((json_int_t)e->until));
		gtm_admin_history_append(c->admin, r);
		json_decref(r);
	}
	if (have_list)
		gtm_health_list_clear(&hl);
}

/* ------------------------------------------------------------------------ */
/* Publish                                                                  */

static gtm_decision_t *decide(gtm_control_t *c, uint64_t now, uint64_t *admin_due, gtm_admin_view_t **view)
{
	gtm_admin_view_t *v = gtm_admin_view_new(c->admin, now);
	gtm_decision_t *d = gtm_controller_update(c->controller, health_table(c), v, now);
	*admin_due = v->next_due;
	gtm_admin_view_free(*view);
	*view = v;
	return d;
}

/* Appends the events of `b` to `a` (a second pass of the same publish). */
static void events_merge(gtm_decision_t *a, gtm_decision_t *b)
{
	if (b->nevents == 0)
		return;
	a->events = gtm_xrealloc(a->events, (a->nevents + b->nevents) * sizeof(*a->events));
	memcpy(a->events + a->nevents, b->events, b->nevents * sizeof(*b->events));
	a->nevents += b->nevents;
}

dns_snapshot_t *gtm_control_publish(gtm_control_t *c)
{
	if (c->publishing)
		return c->snap;
	c->publishing = true;
	uint64_t now = gtm_admin_now(), admin_due = 0;
	/* In a cluster a finished ramp stays as it is in etcd: it reads
	 * drained all the same, and every node would otherwise write it. */
	if (c->cluster == NULL)
		gtm_admin_settle(c->admin, now);
	gtm_admin_view_t *view = NULL;
	gtm_decision_t *d = decide(c, now, &admin_due, &view);
	/* What the controller wants done through the admin state; then the
	 * plan once more with it (at most twice: the second pass changes
	 * nothing the first did not already ask for). */
	for (int pass = 0; pass < 2; pass++) {
		bool again = promotions(c, d, now);
		again |= ramps_guard(c, d, now);
		if (!again)
			break;
		gtm_decision_t *d2 = decide(c, now, &admin_due, &view);
		events_merge(d2, d);
		gtm_decision_free(d);
		d = d2;
	}
	bool *failopen = gtm_xcalloc(d->nservices ? d->nservices : 1, sizeof(*failopen));
	memcpy(failopen, d->failopen, d->nservices * sizeof(*failopen));
	dns_snapshot_t *snap = gtm_build_snapshot_plan(c->build, d->plan, failopen);
	d->plan = NULL;
	dns_snapshot_publish(snap);
	c->snap = snap;
	if (c->trim) {
		struct timeval later = { 1, 0 };
		evtimer_add(c->trim, &later);
	}
	uint64_t published = gtm_admin_now();
	events_record(c, d, published);
	gtm_decision_free(c->last);
	c->last = d;
	inputs_keep(c, &c->last_in, view);
	previews_drop(c);

	/* One timer for the next ramp step or hold-down expiry. */
	uint64_t next = d->next_due;
	if (admin_due && (next == 0 || admin_due < next))
		next = admin_due;
	evtimer_del(c->timer);
	if (next) {
		uint64_t t = gtm_admin_now();
		uint64_t ms = next > t ? next - t : 1;
		struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
		evtimer_add(c->timer, &tv);
	}
	c->publishing = false;
	if (c->cluster)
		gtm_cluster_health_changed(c->cluster);
	return snap;
}
