/*
 * gtm.conf: the `checks` list (probe definitions) and the `health` group.
 * See conf_int.h for the key tables and docs/gtm.conf.md for the keys.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/file.h"
#include "gtm/conf/conf_int.h"

/* ------------------------------------------------------------------------ */
/* checks = ( { name; type; port; interval; ...; } )                        */

void conf_check_free(void *p)
{
	gtm_check_t *c = p;
	free(c->name);
	free(c->source);
	free(c->path);
	free(c->host);
	free(c->body);
	free(c->ca_file);
	free(c->qname);
	free(c->answer);
	if (c->argv)
		for (size_t i = 0; c->argv[i]; i++)
			free(c->argv[i]);
	free(c->argv);
}

int conf_check_index(const ctx_t *x, const char *name)
{
	for (size_t i = 0; i < x->conf->nchecks; i++)
		if (strcmp(x->conf->checks[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* "none" is what an endpoint writes to opt out of its service's check. */
static bool check_check_name(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	if (strcmp(sc->name, "none") == 0) {
		conf_err(x, s, "check name 'none' is reserved (an endpoint's check = \"none\" means unchecked)");
		return false;
	}
	return conf_check_plain_name(x, s, obj, sc);
}

/* The type a check group names, read from the group itself (as
 * group_policy) so that a type-specific key is judged whatever the order
 * of the keys.  -1 when absent or not valid (reported on its own). */
static int group_check_type(const config_setting_t *key)
{
	const config_setting_t *t = config_setting_get_member(config_setting_parent(key), "type");
	const char *v = t ? config_setting_get_string(t) : NULL;
	chk_type_t type;
	if (v == NULL || chk_type_parse(v, &type) != 0)
		return -1;
	return (int)type;
}

#define T_TCP (1u << CHK_TYPE_TCP)
#define T_HTTP (1u << CHK_TYPE_HTTP)
#define T_HTTPS (1u << CHK_TYPE_HTTPS)
#define T_DNS (1u << CHK_TYPE_DNS)
#define T_EXEC (1u << CHK_TYPE_EXEC)

/* A key that only the types in `mask` use: reported on a check of another type. */
static bool type_fits(ctx_t *x, const config_setting_t *s, scope_t *sc, unsigned mask)
{
	int t = group_check_type(s);
	if (t < 0 || (mask & (1u << t)))
		return true;
	char types[64] = "";
	for (int i = 0; i < CHK_TYPE_COUNT; i++)
		if (mask & (1u << i))
			snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s",
			         types[0] ? ", " : "", chk_type_name((chk_type_t)i));
	conf_err(x, s, "%s: %s applies only to type %s (the type is %s)", sc->where,
	    config_setting_name(s), types, chk_type_name((chk_type_t)t));
	return false;
}

static bool only_http(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return type_fits(x, s, sc, T_HTTP | T_HTTPS);
}

static bool only_https(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return type_fits(x, s, sc, T_HTTPS);
}

static bool only_dns(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return type_fits(x, s, sc, T_DNS);
}

static bool not_exec(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return type_fits(x, s, sc, T_TCP | T_HTTP | T_HTTPS | T_DNS);
}

static bool check_type(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_check_t *c = obj;
	const char *v = config_setting_get_string(s);
	if (v == NULL || chk_type_parse(v, &c->params.type) != 0) {
		if (v)
			conf_err(x, s, "%stype must be one of tcp, http, https, dns, exec (got '%s')", sc->prefix, v);
		else
			conf_err(x, s, "%stype must be one of tcp, http, https, dns, exec", sc->prefix);
		return false;
	}
	return true;
}

static bool check_method(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_check_t *c = obj;
	if (!only_http(x, s, obj, sc))
		return false;
	const char *v = config_setting_get_string(s);
	if (v && strcmp(v, "GET") == 0)
		c->params.http.method = CHK_HTTP_GET;
	else if (v && strcmp(v, "HEAD") == 0)
		c->params.http.method = CHK_HTTP_HEAD;
	else {
		conf_err(x, s, "%smethod must be one of GET, HEAD", sc->prefix);
		return false;
	}
	return true;
}

static bool check_expect(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_check_t *c = obj;
	if (!only_http(x, s, obj, sc))
		return false;
	int n = conf_is_array(s) ? config_setting_length(s) : -1;
	if (n < 1 || n > CHK_HTTP_MAX_STATUS) {
		conf_err(x, s, "%sexpect must be a list of 1 to %d HTTP statuses: [ 200, 204 ]", sc->prefix,
		    CHK_HTTP_MAX_STATUS);
		return false;
	}
	bool ok = true;
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int64_t v = conf_is_int(e) ? config_setting_get_int64(e) : -1;
		if (v < 100 || v > 599) {
			conf_err(x, e, "%sexpect entries must be HTTP statuses (100..599)", sc->prefix);
			ok = false;
			continue;
		}
		c->params.http.status[c->params.http.nstatus++] = (uint16_t)v;
	}
	return ok;
}

static bool check_command(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_check_t *c = obj;
	if (!type_fits(x, s, sc, T_EXEC))
		return false;
	int n = conf_is_array(s) ? config_setting_length(s) : -1;
	if (n < 1) {
		conf_err(x, s, "%scommand must be a list: [ \"/usr/lib/gtm/check-db\", \"%%a\", \"%%p\" ]", sc->prefix);
		return false;
	}
	char **av = gtm_xcalloc((size_t)n + 1, sizeof(*av));
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string(config_setting_get_elem(s, (unsigned)i));
		if (v == NULL || (i == 0 && *v == '\0')) {
			conf_err(x, config_setting_get_elem(s, (unsigned)i), "%scommand entries must be strings",
			    sc->prefix);
			for (int j = 0; j < i; j++)
				free(av[j]);
			free(av);
			return false;
		}
		av[i] = gtm_xstrdup(v);
	}
	c->argv = av;
	return true;
}

/* DNS types and rcodes by name, or as numbers. */
static const struct { const char *name; uint16_t v; } qtypes[] = {
	{ "A", 1 }, { "NS", 2 }, { "CNAME", 5 }, { "SOA", 6 }, { "PTR", 12 }, { "MX", 15 },
	{ "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 }, { "CAA", 257 }, { NULL, 0 }
};
static const char *const rcode_names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
	"NOTIMP", "REFUSED", NULL };

static bool check_qtype(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_check_t *c = obj;
	if (!only_dns(x, s, obj, sc))
		return false;
	if (conf_is_int(s) && config_setting_get_int64(s) >= 1 && config_setting_get_int64(s) <= 65535) {
		c->params.dns.qtype = (uint16_t)config_setting_get_int64(s);
		return true;
	}
	const char *v = config_setting_get_string(s);
	for (size_t i = 0; v && qtypes[i].name; i++)
		if (strcasecmp(v, qtypes[i].name) == 0) {
			c->params.dns.qtype = qtypes[i].v;
			return true;
		}
	conf_err(x, s, "%sqtype must be a type name (A, AAAA, NS, SOA, MX, TXT, CNAME, PTR, SRV, CAA) or a number 1..65535",
	    sc->prefix);
	return false;
}

static bool check_rcode(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_check_t *c = obj;
	if (!only_dns(x, s, obj, sc))
		return false;
	if (conf_is_int(s) && config_setting_get_int64(s) >= 0 && config_setting_get_int64(s) <= 15) {
		c->params.dns.rcode = (uint8_t)config_setting_get_int64(s);
		return true;
	}
	const char *v = config_setting_get_string(s);
	for (size_t i = 0; v && rcode_names[i]; i++)
		if (strcasecmp(v, rcode_names[i]) == 0) {
			c->params.dns.rcode = (uint8_t)i;
			return true;
		}
	conf_err(x, s, "%srcode must be one of NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED or a number 0..15",
	    sc->prefix);
	return false;
}

static bool check_protocol(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_check_t *c = obj;
	if (!only_dns(x, s, obj, sc))
		return false;
	const char *v = config_setting_get_string(s);
	if (v && (strcmp(v, "udp") == 0 || strcmp(v, "tcp") == 0)) {
		c->params.dns.tcp = strcmp(v, "tcp") == 0;
		return true;
	}
	conf_err(x, s, "%sprotocol must be one of udp, tcp", sc->prefix);
	return false;
}

/* sni: the library sends the Host name as SNI, so sni is another way to
 * say host for https; both, when different, cannot be honoured. */
static bool check_sni(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	if (!only_https(x, s, obj, sc))
		return false;
	const char *v = config_setting_get_string(s);
	if (v == NULL || *v == '\0') {
		conf_err(x, s, "%ssni must be a host name", sc->prefix);
		return false;
	}
	const config_setting_t *h = config_setting_get_member(config_setting_parent(s), "host");
	const char *hv = h ? config_setting_get_string(h) : NULL;
	if (hv && strcmp(hv, v) != 0) {
		conf_err(x, s, "%s: sni '%s' differs from host '%s' (the probe sends the host as SNI; give one)",
		    sc->where, v, hv);
		return false;
	}
	return true;
}

static const ckey_t check_keys[] = {
	K_STR("name", gtm_check_t, name, 1, 0, KF_NAME, check_check_name),
	K_FN("type", KF_REQUIRED, check_type),
	{ .name = "port", .type = KT_INT, .flags = KF_DEFAULT, FIELD(gtm_check_t, params.port),
	  .min = 1, .max = 65535, .def = 0 },
	K_NUM("interval", gtm_check_t, interval_s, 0.01, 86400, 0),
	K_NUM("timeout", gtm_check_t, timeout_s, 0.001, 86400, 0),
	K_NUM("recheck", gtm_check_t, recheck_s, 0.001, 86400, 0),
	K_NUM("jitter", gtm_check_t, jitter, 0, 0.5, 0),
	K_INT("rise", gtm_check_t, params.rise, 1, 100, 2),
	K_INT("fall", gtm_check_t, params.fall, 1, 100, 3),
	K_STR("source", gtm_check_t, source, 1, 64, 0, not_exec),
	/* http, https */
	K_STR("path", gtm_check_t, path, 1, 1024, 0, only_http),
	K_FN("method", 0, check_method),
	K_STR("host", gtm_check_t, host, 1, 255, 0, only_http),
	K_FN("expect", 0, check_expect),
	K_STR("body", gtm_check_t, body, 1, 1024, 0, only_http),
	{ .name = "body_max", .type = KT_INT, .flags = KF_DEFAULT, FIELD(gtm_check_t, params.http.body_max),
	  .min = 1, .max = 16 << 20, .def = 65536, .fn = only_http },
	{ .name = "tls_verify", .type = KT_BOOL, .flags = KF_DEFAULT,
	  FIELD(gtm_check_t, params.http.tls_verify), .def = 1, .fn = only_https },
	K_STR("ca_file", gtm_check_t, ca_file, 1, PATH_MAX, 0, only_https),
	K_FN("sni", 0, check_sni),
	/* dns */
	K_STR("qname", gtm_check_t, qname, 1, 255, 0, only_dns),
	K_FN("qtype", 0, check_qtype),
	K_FN("rcode", 0, check_rcode),
	K_STR("answer", gtm_check_t, answer, 1, 64, 0, only_dns),
	K_FN("protocol", 0, check_protocol),
	/* exec */
	K_FN("command", 0, check_command),
	{ 0 }
};

/* Defaults, durations in ms, the strings the params point to, then the
 * probe library's own check of the whole (timeout < interval, ...). */
static bool check_finish(ctx_t *x, const config_setting_t *g, void *item, scope_t *sc)
{
	gtm_check_t *c = item;
	chk_params_t *p = &c->params;
	chk_params_t d;
	chk_params_init(&d, p->type);

	p->name = c->name;
	p->interval_ms = c->interval_s > 0 ? conf_secs_ms(c->interval_s) : d.interval_ms;
	p->timeout_ms = c->timeout_s > 0 ? conf_secs_ms(c->timeout_s) : 0;
	p->recheck_ms = c->recheck_s > 0 ? conf_secs_ms(c->recheck_s) : d.recheck_ms;
	p->jitter = config_setting_get_member(g, "jitter") ? c->jitter : d.jitter;
	p->source = c->source;
	p->http.path = c->path ? c->path : d.http.path;
	const config_setting_t *sni = config_setting_get_member(g, "sni");
	if (c->host == NULL && sni && config_setting_get_string(sni))
		c->host = gtm_xstrdup(config_setting_get_string(sni));
	p->http.host = c->host;
	p->http.body = c->body;
	if (c->ca_file) {
		char *full = gtm_path_relative(x->path, c->ca_file);
		free(c->ca_file);
		c->ca_file = full;
	}
	p->http.ca_file = c->ca_file;
	if (!config_setting_get_member(g, "method"))
		p->http.method = d.http.method;
	if (!config_setting_get_member(g, "qtype"))
		p->dns.qtype = d.dns.qtype;
	p->dns.qname = c->qname;
	p->dns.answer = c->answer;
	p->exec.argv = (const char *const *)c->argv;

	if (p->type == CHK_TYPE_DNS && c->qname == NULL) {
		conf_err(x, g, "%s has no 'qname'", sc->where);
		return false;
	}
	if (p->type == CHK_TYPE_EXEC && c->argv == NULL) {
		conf_err(x, g, "%s has no 'command'", sc->where);
		return false;
	}
	/* A tcp check may leave the port to each endpoint (check_port). */
	chk_params_t v = *p;
	if (v.type == CHK_TYPE_TCP && v.port == 0)
		v.port = 1;
	gtm_diag_t diag = { 0 };
	bool ok = chk_params_check(&v, &diag, NULL, 0) == 0;
	for (size_t i = 0; i < diag.count; i++)
		conf_err(x, g, "%s", diag.msgs[i]);
	gtm_diag_clear(&diag);
	c->valid = ok;
	return ok;
}

static const list_def_t check_list = {
	"checks", "check", check_keys, sizeof(gtm_check_t),
	offsetof(gtm_check_t, line), offsetof(gtm_check_t, name),
	GTM_NAME_PLAIN, conf_check_free, check_finish, NULL, false,
};

void conf_section_checks(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->checks;
	conf_list_walk(x, s, &check_list, &items, &x->conf->nchecks);
	x->conf->checks = items;
}

/* ------------------------------------------------------------------------ */
/* health = { state_file; unknown; unknown_wait; }                          */

static const char *const unknown_names[] = { "up", "wait", NULL };

static const ckey_t health_keys[] = {
	K_STR("state_file", gtm_health_conf_t, state_file, 1, PATH_MAX, 0, NULL),
	K_ENUM("unknown", gtm_health_conf_t, unknown, unknown_names, GTM_UNKNOWN_UP),
	K_NUM("unknown_wait", gtm_health_conf_t, unknown_wait_s, 0, 3600, 0),
	{ 0 }
};

void conf_section_health(ctx_t *x, const config_setting_t *s)
{
	gtm_health_conf_t *h = &x->conf->health;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(x, s, "health must be a group: health = { ... }");
		return;
	}
	scope_t sc = { .kind = "health", .section = true };
	conf_group_walk(x, s, health_keys, h, &sc);
	if (h->state_file) {
		char *full = gtm_path_relative(x->path, h->state_file);
		free(h->state_file);
		h->state_file = full;
	}
}

void conf_health_defaults(gtm_conf_t *c)
{
	for (const ckey_t *k = health_keys; k->name; k++)
		conf_key_default(k, &c->health);
	c->health.unknown_wait_s = 5.0;
}
