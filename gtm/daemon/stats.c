/*
 * gtmd's figures for the metrics module and `gtmctl stats`: read from the
 * DNS workers' counters, the health monitor, the build, the admin state and
 * gtmd's own counters, on the control thread, at each collection.  See
 * stats.h for the tree.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/log.h"
#include "dns/snapshot.h"
#include "gtm/cluster/cluster.h"
#include "gtm/daemon/daemon.h"
#include "gtm/daemon/stats.h"

/* ------------------------------------------------------------ dns */

/* The running generation, or NULL before there is one. */
static const gtm_gen_t *running(const gtm_stats_src_t *src)
{
	return src->gens && *src->gens ? gtm_gen_owner_current(*src->gens) : NULL;
}

static void collect_dns(gtm_metrics_sink_t *s, const dns_server_t *server)
{
	dns_stats_t st = { 0 };
	if (server != NULL)
		dns_server_stats(server, &st);
	gtm_metrics_counter(s, "dns.queries", st.queries);
	gtm_metrics_counter(s, "dns.udp", st.udp);
	gtm_metrics_counter(s, "dns.tcp", st.tcp);
	static const char *const rc = "dns.{rcode}|dns_responses";
	gtm_metrics_counter(s, rc, st.noerror, "noerror");
	gtm_metrics_counter(s, rc, st.nxdomain, "nxdomain");
	gtm_metrics_counter(s, rc, st.refused, "refused");
	gtm_metrics_counter(s, rc, st.formerr, "formerr");
	gtm_metrics_counter(s, rc, st.servfail, "servfail");
	gtm_metrics_counter(s, rc, st.notimp, "notimp");
	gtm_metrics_counter(s, rc, st.badvers, "badvers");
	gtm_metrics_counter(s, "dns.truncated", st.truncated);
	gtm_metrics_counter(s, "dns.dropped", st.dropped);
	gtm_metrics_counter(s, "dns.edns", st.edns);
	gtm_metrics_counter(s, "dns.ecs", st.ecs);
	gtm_metrics_counter(s, "dns.geo", st.geo);
	gtm_metrics_counter(s, "dns.fallback", st.fallback);
	gtm_metrics_counter(s, "dns.tcp_rejected", st.tcp_rejected);
	gtm_metrics_counter(s, "dns.tcp_timeouts", st.tcp_timeouts);
}

/* ------------------------------------------------------------ checks */

/* Sorts endpoints by (site, target), then by probed address and port, so
 * that the endpoints sharing one probe at one site are adjacent. */
static int ep_cmp(const void *a, const void *b)
{
	const gtm_endpoint_health_t *x = *(const gtm_endpoint_health_t *const *)a;
	const gtm_endpoint_health_t *y = *(const gtm_endpoint_health_t *const *)b;
	if (x->site != y->site)
		return x->site < y->site ? -1 : 1;
	int c = strcmp(x->probe_addr, y->probe_addr);
	if (c != 0)
		return c;
	if (x->probe_port != y->probe_port)
		return x->probe_port < y->probe_port ? -1 : 1;
	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return 0;
}

static void collect_checks(gtm_metrics_sink_t *s, const gtm_conf_t *conf,
                           const gtm_health_list_t *l)
{
	const gtm_endpoint_health_t **v = gtm_xcalloc(l->nendpoints + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < l->nendpoints; i++)
		if (l->endpoints[i].checked && l->endpoints[i].site < conf->nsites)
			v[n++] = &l->endpoints[i];
	qsort(v, n, sizeof(*v), ep_cmp);

	/* One series per (site, target): the first endpoint of each run. */
	size_t i = 0;
	while (i < n) {
		size_t j = i + 1;
		while (j < n && v[j]->site == v[i]->site && v[j]->target == v[i]->target)
			j++;
		const gtm_endpoint_health_t *e = v[i];
		/* The address alone names the series unless this site probes the
		 * same address as another target too (another port or check). */
		bool shared_addr = (i > 0 && v[i - 1]->site == e->site &&
		                    strcmp(v[i - 1]->probe_addr, e->probe_addr) == 0) ||
		                   (j < n && v[j]->site == e->site &&
		                    strcmp(v[j]->probe_addr, e->probe_addr) == 0);
		char label[96];
		if (!shared_addr)
			snprintf(label, sizeof(label), "%s", e->probe_addr);
		else if (strchr(e->probe_addr, ':'))
			snprintf(label, sizeof(label), "[%s]:%u", e->probe_addr, e->probe_port);
		else
			snprintf(label, sizeof(label), "%s:%u", e->probe_addr, e->probe_port);
		const char *site = conf->sites[e->site].name;
		if (e->state == CHK_STATE_UP || e->state == CHK_STATE_DOWN)
			gtm_metrics_gauge(s, "check.{site}.{endpoint}.up", e->state == CHK_STATE_UP ? 1 : 0,
			                  site, label);
		if (e->probes > 0)
			gtm_metrics_gauge(s, "check.{site}.{endpoint}.latency_ms", (double)e->latency_ms,
			                  site, label);
		gtm_metrics_counter(s, "check.{site}.{endpoint}.failures", e->failures, site, label);
		gtm_metrics_counter(s, "check.{site}.{endpoint}.probes", e->probes, site, label);
		i = j;
	}
	free(v);
}

/* ------------------------------------------------------------ sites */

typedef struct site_fig {
	uint32_t services, serving;
	double factor;
	int admin;        /* 0 active, 1 draining, 2 drained */
	bool evacuated;
	double weight;    /* gtm_admin_site_weight_now: as gtmctl status shows it */
} site_fig_t;

/* Per-site figures from the health list and the admin state (NULL: every
 * site active); conf->nsites entries, the caller frees. */
static site_fig_t *site_figs(const gtm_conf_t *conf, const gtm_health_list_t *l,
                             const gtm_admin_t *admin)
{
	site_fig_t *f = gtm_xcalloc(conf->nsites + 1, sizeof(*f));
	uint64_t now = admin ? gtm_admin_now() : 0;
	for (size_t i = 0; i < conf->nsites; i++) {
		f[i].factor = 1.0;
		f[i].weight = conf->sites[i].role == GTM_ROLE_COLD ? 0 : conf->sites[i].weight;
		if (admin == NULL || gtm_admin_conf(admin) != conf)
			continue;
		f[i].weight = gtm_admin_site_weight_now(admin, (uint32_t)i, now, NULL);
		gtm_admin_site_info_t info;
		if (gtm_admin_site_info(admin, (uint32_t)i, now, &info) == 0) {
			f[i].factor = info.factor;
			f[i].admin = info.state == GTM_ADMIN_ACTIVE ? 0 : info.state == GTM_ADMIN_DRAINING ? 1 : 2;
		}
		f[i].evacuated = gtm_admin_city_evacuated(admin, conf->sites[i].city);
	}
	for (size_t i = 0; l != NULL && i < l->nsites; i++) {
		const gtm_site_health_t *h = &l->sites[i];
		if (h->site >= conf->nsites)
			continue;
		f[h->site].services++;
		f[h->site].serving += h->serving;
	}
	return f;
}

static void collect_sites(gtm_metrics_sink_t *s, const gtm_conf_t *conf, const site_fig_t *f,
                          gtm_siteans_t *answers)
{
	if (answers != NULL)
		gtm_siteans_sample(answers);
	for (size_t i = 0; i < conf->nsites; i++) {
		const char *name = conf->sites[i].name;
		double healthy = f[i].services ? (double)f[i].serving / f[i].services : NAN;
		gtm_metrics_gauge(s, "site.{site}.healthy", healthy, name);
		double w = f[i].weight;
		gtm_metrics_gauge(s, "site.{site}.weight", w, name);
		gtm_metrics_gauge(s, "site.{site}.admin", f[i].admin, name);
		if (answers != NULL)
			gtm_metrics_counter(s, "site.{site}.answers", gtm_siteans_total(answers, name), name);
	}
}

/* ------------------------------------------------------------ collect */

void gtm_stats_collect(gtm_metrics_sink_t *s, void *arg)
{
	const gtm_stats_src_t *src = arg;
	const gtm_gen_t *gen = running(src);
	const gtm_conf_t *conf = gen ? gen->conf : NULL;
	const gtm_build_t *build = gen ? gen->build : NULL;
	const gtm_health_mon_t *health = gen ? gen->health : NULL;
	const dns_server_t *server = src->server ? *src->server : NULL;
	const gtm_admin_t *admin = src->admin ? *src->admin : NULL;
	gtm_siteans_t *answers = src->answers ? *src->answers : NULL;

	collect_dns(s, server);

	gtm_health_list_t l = { 0 };
	if (health != NULL && conf != NULL)
		gtm_health_mon_list(health, &l);
	if (conf != NULL) {
		site_fig_t *f = site_figs(conf, health ? &l : NULL, admin);
		collect_sites(s, conf, f, answers);
		free(f);
		collect_checks(s, conf, &l);
	}
	gtm_health_list_clear(&l);

	if (health != NULL) {
		gtm_health_stats_t hs;
		gtm_health_mon_stats(health, &hs);
		gtm_metrics_gauge(s, "health.targets", (double)hs.targets);
		gtm_metrics_gauge(s, "health.up", (double)hs.up);
		gtm_metrics_gauge(s, "health.down", (double)hs.down);
		gtm_metrics_gauge(s, "health.unknown", (double)hs.unknown);
		gtm_metrics_counter(s, "health.probes", hs.probes_done);
		gtm_metrics_counter(s, "health.probe_failures", hs.probes_failed);
	}

	gtm_build_stats_t bs = { 0 };
	if (build != NULL)
		gtm_build_stats(build, &bs);
	gtm_metrics_gauge(s, "controller.failopen", bs.failopen_now);
	gtm_metrics_counter(s, "controller.failopen_entered", bs.failopen_entered);
	gtm_controller_stats_t cs = { 0 };
	const gtm_control_t *control = src->control ? *src->control : NULL;
	if (control != NULL)
		gtm_control_stats(control, &cs);
	gtm_metrics_counter(s, "controller.evacuations", cs.evacuations + src->evacuations);
	if (control != NULL) {
		gtm_metrics_counter(s, "controller.evacuations_suppressed", cs.evacuations_suppressed);
		gtm_metrics_counter(s, "controller.site_failovers", cs.site_failovers);
		gtm_metrics_counter(s, "controller.failbacks", cs.failbacks);
		gtm_metrics_counter(s, "controller.promotions", cs.promotions);
		gtm_metrics_counter(s, "controller.updates", cs.updates);
		gtm_metrics_gauge(s, "controller.services_degraded", cs.services_degraded);
		gtm_metrics_gauge(s, "controller.services_last_resort", cs.services_last_resort);
		gtm_metrics_gauge(s, "controller.held_down", cs.held_down);
		if (cs.timed > 0) {
			gtm_metrics_gauge(s, "controller.last_detect_ms", cs.last_detect_ms);
			gtm_metrics_gauge(s, "controller.last_publish_ms", cs.last_publish_ms);
			gtm_metrics_gauge(s, "controller.max_detect_ms", cs.max_detect_ms);
			gtm_metrics_gauge(s, "controller.max_publish_ms", cs.max_publish_ms);
		}
	}
	const gtm_cluster_t *cl = control ? gtm_control_cluster(control) : NULL;
	if (cl != NULL) {
		gtm_cluster_stats_t k;
		gtm_cluster_stats(cl, &k);
		gtm_metrics_gauge(s, "cluster.connected", k.connected ? 1 : 0);
		gtm_metrics_gauge(s, "cluster.observers", (double)k.observers);
		gtm_metrics_gauge(s, "cluster.revision", (double)k.revision);
		gtm_metrics_counter(s, "cluster.writes", k.writes);
		gtm_metrics_counter(s, "cluster.conflicts", k.conflicts);
		gtm_metrics_counter(s, "cluster.write_errors", k.write_errors);
		gtm_metrics_counter(s, "cluster.outages", k.outages);
		gtm_metrics_counter(s, "cluster.admin_updates", k.admin_updates);
		if (k.last_propagation_ms >= 0)
			gtm_metrics_gauge(s, "cluster.last_propagation_ms", (double)k.last_propagation_ms);
	}
	if (admin != NULL && conf != NULL && gtm_admin_conf(admin) == conf) {
		size_t ev = 0;
		for (size_t i = 0; i < conf->ncities; i++)
			ev += gtm_admin_city_evacuated(admin, (uint32_t)i);
		gtm_metrics_gauge(s, "controller.evacuated", (double)ev);
	}

	/* The control thread is the only one that publishes and frees
	 * snapshots, so it may read the current one without a read lock. */
	const dns_snapshot_t *snap = dns_snapshot_current();
	if (snap != NULL)
		gtm_metrics_gauge(s, "snapshot.generation", (double)snap->generation);
	gtm_metrics_counter(s, "snapshot.builds", bs.snapshots);

	gtm_gen_stats_t gs = { 0 };
	if (src->gens && *src->gens)
		gtm_gen_owner_stats(*src->gens, &gs);
	gtm_metrics_counter(s, "config.reloads", gs.reloads);
	gtm_metrics_counter(s, "config.reload_failures", gs.reload_failures);
	if (conf != NULL) {
		gtm_metrics_gauge(s, "config.zones", (double)conf->nzones);
		gtm_metrics_gauge(s, "config.services", (double)conf->nservices);
		gtm_metrics_gauge(s, "config.sites", (double)conf->nsites);
		gtm_metrics_gauge(s, "config.checks", (double)conf->nchecks);
	}
}

/* ------------------------------------------------------------ stats command */

json_t *gtm_stats_snapshot(gtm_metrics_t *m)
{
	json_t *out = json_object();
	if (m == NULL) {
		json_object_set_new(out, "host", json_string(""));
		json_object_set_new(out, "time", json_integer((json_int_t)time(NULL)));
		return out;
	}
	char *text = gtm_metrics_snapshot(m, GTM_METRICS_JSON, NULL);
	json_t *in = json_loads(text, 0, NULL);
	free(text);
	if (in == NULL)
		return out;
	json_object_set(out, "host", json_object_get(in, "host"));
	json_object_set(out, "time", json_object_get(in, "time"));
	size_t i;
	json_t *fig;
	json_array_foreach(json_object_get(in, "metrics"), i, fig) {
		const char *path = json_string_value(json_object_get(fig, "path"));
		json_t *v = json_object_get(fig, "value");
		if (path != NULL && v != NULL)
			json_object_set(out, path, v);
	}
	json_decref(in);
	return out;
}

char *gtm_stats_snapshot_text(gtm_metrics_t *m)
{
	if (m == NULL)
		return gtm_xstrdup("");
	return gtm_metrics_snapshot(m, GTM_METRICS_TEXT, NULL);
}

json_t *gtm_stats_ctl_handler(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_metrics_t *const *mp = arg;
	gtm_metrics_t *m = mp ? *mp : NULL;
	(void)peer;
	const char *fmt = json_string_value(json_object_get(req, "format"));
	if (fmt != NULL && strcmp(fmt, "text") == 0) {
		char *t = gtm_stats_snapshot_text(m);
		json_t *r = json_pack("{s:b,s:s}", "ok", 1, "text", t);
		free(t);
		return r;
	}
	json_t *r = gtm_stats_snapshot(m);
	json_object_set_new(r, "ok", json_true());
	return r;
}

/* ------------------------------------------------------------ summary */

size_t gtm_stats_sites_serving(const gtm_stats_src_t *src, size_t *total)
{
	const gtm_gen_t *gen = running(src);
	const gtm_conf_t *conf = gen ? gen->conf : NULL;
	const gtm_health_mon_t *health = gen ? gen->health : NULL;
	const gtm_admin_t *admin = src->admin ? *src->admin : NULL;
	*total = conf ? conf->nsites : 0;
	if (conf == NULL)
		return 0;
	gtm_health_list_t l = { 0 };
	if (health != NULL)
		gtm_health_mon_list(health, &l);
	site_fig_t *f = site_figs(conf, health ? &l : NULL, admin);
	size_t n = 0;
	for (size_t i = 0; i < conf->nsites; i++) {
		/* Without a health monitor every endpoint counts as up. */
		bool serves = health ? f[i].serving > 0 : true;
		n += serves && f[i].factor > 0 && !f[i].evacuated;
	}
	free(f);
	gtm_health_list_clear(&l);
	return n;
}

void gtm_stats_status_line(const gtm_stats_src_t *src, char *buf, size_t len)
{
	const gtm_gen_t *gen = running(src);
	const gtm_conf_t *conf = gen ? gen->conf : NULL;
	size_t total;
	size_t serving = gtm_stats_sites_serving(src, &total);
	const dns_snapshot_t *snap = dns_snapshot_current();
	snprintf(buf, len, "serving %zu zones, %zu services, %zu of %zu sites, generation %llu",
	         conf ? conf->nzones : 0, conf ? conf->nservices : 0, serving, total,
	         snap ? (unsigned long long)snap->generation : 0ULL);
}

void gtm_stats_notify(const gtm_stats_src_t *src, const char *head)
{
	if (!gtm_daemon_notify_enabled())
		return;
	char line[512];
	gtm_stats_status_line(src, line, sizeof(line));
	gtm_daemon_notifyf("%sSTATUS=%s", head, line);
}

/* ------------------------------------------------------------ module life */

static void describe(const gtm_metrics_conf_t *c, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "interval %u s", c->interval);
	for (size_t i = 0; i < c->ncarbon && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, ", graphite %s:%u/%s", c->carbon[i].host,
		                      c->carbon[i].port,
		                      c->carbon[i].protocol == GTM_CARBON_UDP ? "udp" : "tcp");
	if (c->ncarbon == 0 && n < len)
		n += (size_t)snprintf(buf + n, len - n, ", no graphite");
	if (n < len)
		snprintf(buf + n, len - n, ", prometheus %s", c->prometheus ? c->prometheus : "off");
}

gtm_metrics_t *gtm_stats_metrics_new(struct event_base *base, const gtm_metrics_conf_t *conf,
                                     gtm_stats_src_t *src)
{
	gtm_metrics_t *m = gtm_metrics_new(base, conf, gtm_stats_collect, src);
	char d[512];
	describe(conf, d, sizeof(d));
	/* The module logs what it started itself. */
	if (m == NULL)
		log_err("metrics, cannot start (%s)", d);
	return m;
}

bool gtm_stats_metrics_reload(gtm_metrics_t **m, struct event_base *base,
                              const gtm_metrics_conf_t *cur, const gtm_metrics_conf_t *next,
                              gtm_stats_src_t *src)
{
	if (*m != NULL && gtm_metrics_conf_same(cur, next))
		return false;
	/* The old module first: the new one may want its Prometheus port. */
	gtm_stats_metrics_stop(*m, 1000);
	*m = gtm_stats_metrics_new(base, next, src);
	if (*m == NULL) {
		log_warn("metrics, keeping the previous settings");
		*m = gtm_stats_metrics_new(base, cur, src);
	}
	return true;
}

void gtm_stats_metrics_stop(gtm_metrics_t *m, int timeout_ms)
{
	if (m == NULL)
		return;
	size_t left = gtm_metrics_flush(m, timeout_ms);
	uint64_t dropped = gtm_metrics_dropped(m);
	if (left > 0 || dropped > 0)
		log_info("metrics, stopped (%zu points unsent, %llu dropped in all)", left,
		         (unsigned long long)dropped);
	gtm_metrics_free(m);
}

