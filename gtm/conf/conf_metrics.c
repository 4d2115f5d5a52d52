/*
 * metrics = { graphite = ( { host; port; protocol; } ); prefix; hostname;
 *             interval; buffer; prometheus; }
 *
 * Read into conf->metrics (gtm/metrics/metrics.h's gtm_metrics_conf_t) with the key
 * tables of conf_int.h for types and ranges, then checked whole by
 * gtm_metrics_conf_check (prefix syntax, addresses, host names), whose
 * messages are put back at the line of the key (or server entry) they are
 * about.  Without the group: no carbon server, Prometheus off, and gtmd
 * still keeps the figures for `gtmctl stats`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "gtm/conf/conf_int.h"
#include "gtm/metrics/metrics.h"

static const char *const proto_choices[] = { "tcp", "udp", NULL };

static const ckey_t graphite_keys[] = {
	K_STR("host", gtm_carbon_conf_t, host, 1, 253, KF_NAME, NULL),
	K_INT("port", gtm_carbon_conf_t, port, 1, 65535, 2003),
	K_ENUM("protocol", gtm_carbon_conf_t, protocol, proto_choices, GTM_CARBON_TCP),
	{ 0 }
};

static bool graphite_graphite(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc);

static const ckey_t metrics_keys[] = {
	K_FN("graphite", 0, graphite_graphite),
	K_STR("prefix", gtm_metrics_conf_t, prefix, 1, 255, 0, NULL),
	K_STR("hostname", gtm_metrics_conf_t, hostname, 1, 255, 0, NULL),
	K_INT("interval", gtm_metrics_conf_t, interval, 1, GTM_METRICS_MAX_INTERVAL,
	      GTM_METRICS_DEFAULT_INTERVAL),
	K_INT("buffer", gtm_metrics_conf_t, buffer, 0, GTM_METRICS_MAX_BUFFER,
	      GTM_METRICS_DEFAULT_BUFFER),
	K_STR("prometheus", gtm_metrics_conf_t, prometheus, 1, 64, 0, NULL),
	{ 0 }
};

/* Two entries for the same server are one mistake. */
static const void *carbon_same(const void *items, size_t n, size_t size, const void *item)
{
	const gtm_carbon_conf_t *v = items, *it = item;
	(void)size;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].host, it->host) == 0 && v[i].port == it->port &&
		    v[i].protocol == it->protocol)
			return &v[i];
	return NULL;
}

static void carbon_free(void *p)
{
	gtm_carbon_conf_t *c = p;
	free(c->host);
}

static bool graphite_graphite(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_metrics_conf_t *m = obj;
	(void)sc;
	static const list_def_t def = {
		.list = "metrics.graphite",
		.kind = "graphite server",
		.keys = graphite_keys,
		.size = sizeof(gtm_carbon_conf_t),
		.line_off = offsetof(gtm_carbon_conf_t, line),
		.name_off = offsetof(gtm_carbon_conf_t, host),
		.same = carbon_same,
		.item_free = carbon_free,
	};
	size_t before = x->nmsgs;
	void *items = m->carbon;
	conf_list_walk(x, s, &def, &items, &m->ncarbon);
	m->carbon = items;
	/* Each entry's own problems (host syntax), at its line. */
	for (size_t i = 0; i < m->ncarbon; i++) {
		gtm_metrics_conf_t one;
		gtm_metrics_conf_init(&one);
		/* A port the key table refused stays 0: reported once, there. */
		gtm_carbon_conf_t c = m->carbon[i];
		if (c.port == 0)
			c.port = 2003;
		one.carbon = &c;
		one.ncarbon = 1;
		gtm_diag_t d = { 0 };
		gtm_metrics_conf_check(&one, NULL, 0, &d);
		const config_setting_t *e = config_setting_get_elem(s, 0);
		for (int k = 0; k < config_setting_length(s); k++) {
			const config_setting_t *g = config_setting_get_elem(s, (unsigned)k);
			if ((int)config_setting_source_line(g) == m->carbon[i].line)
				e = g;
		}
		for (size_t k = 0; k < d.count; k++)
			conf_err(x, e, "%s", d.msgs[k]);
		gtm_diag_clear(&d);
	}
	return x->nmsgs == before;
}

void conf_section_metrics(ctx_t *x, const config_setting_t *s)
{
	gtm_metrics_conf_t *m = &x->conf->metrics;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(x, s, "metrics must be a group: metrics = { ... }");
		return;
	}
	scope_t sc = { .kind = "metrics", .section = true };
	conf_group_walk(x, s, metrics_keys, m, &sc);
	/* The whole group's rules, servers aside (checked above at their own
	 * lines); each message at the key it names. */
	gtm_metrics_conf_t rest = *m;
	rest.carbon = NULL;
	rest.ncarbon = 0;
	gtm_diag_t d = { 0 };
	gtm_metrics_conf_check(&rest, NULL, 0, &d);
	for (size_t i = 0; i < d.count; i++) {
		const config_setting_t *at = s;
		for (const ckey_t *k = metrics_keys; k->name; k++) {
			size_t n = strlen(k->name);
			if (strncmp(d.msgs[i], "metrics.", 8) == 0 && strncmp(d.msgs[i] + 8, k->name, n) == 0 &&
			    (d.msgs[i][8 + n] == ' ' || d.msgs[i][8 + n] == ':')) {
				const config_setting_t *m2 = config_setting_get_member(s, k->name);
				if (m2)
					at = m2;
			}
		}
		conf_err(x, at, "%s", d.msgs[i]);
	}
	gtm_diag_clear(&d);
}

void conf_metrics_defaults(gtm_conf_t *c)
{
	gtm_metrics_conf_init(&c->metrics);
}

void conf_metrics_free(gtm_conf_t *c)
{
	gtm_metrics_conf_clear(&c->metrics);
}
