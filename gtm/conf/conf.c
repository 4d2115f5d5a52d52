/*
 * The configuration file: libconfig text -> checked model (gtm_conf_t).
 *
 * Loading runs parse -> validate -> freeze.  libconfig parses; then every
 * group is walked against a key table (one table per group, each row naming
 * the key, its type, range, default and an optional check function, as
 * Knot's schema.c and Redis' static_configs[] do), so that adding a key or a
 * whole top-level group is one table row and, at most, one small function.
 * Every problem is collected with the file and line libconfig recorded for
 * the setting and reported together, sorted by line (NSD's c_error); a
 * configuration with any problem is refused whole.
 *
 * This file holds the top level and the topology groups; the engine is in
 * conf_keys.c, the other groups in conf_health.c and conf_control.c (see
 * conf_int.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "common/alloc.h"
#include "common/file.h"
#include "common/errcode.h"
#include "common/log.h"
#include "dns/snapshot.h"
#include "dns/wire.h"
#include "geo/map.h"
#include "gtm/conf/conf.h"
#include "gtm/conf/conf_int.h"


/* ------------------------------------------------------------------------ */
/* Names                                                                    */

static bool check_dns_name(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	uint8_t wire[DNS_NAME_MAX];
	if (dns_name_from_str(sc->name, wire) > 0)
		return true;
	conf_err(x, s, "%s name '%s' is not a valid DNS name", sc->kind, sc->name);
	return false;
}

/* ------------------------------------------------------------------------ */
/* server = { ... }                                                         */

static bool server_listen(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_conf_t *c = obj;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		conf_err(x, s, "server.listen must be a list of addresses: [ \"127.0.0.1:53\", \"[::1]:53\" ]");
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		gtm_listen_t l;
		if (v == NULL) {
			conf_err(x, e, "server.listen entries must be strings");
			ok = false;
			continue;
		}
		if (gtm_listen_parse(v, 53, &l) != 0) {
			conf_err(x, e, "server.listen: '%s' is not an IPv4 or IPv6 address with an optional port", v);
			ok = false;
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < c->nlisten; j++)
			if (c->listen[j].len == l.len && memcmp(&c->listen[j].addr, &l.addr, l.len) == 0)
				dup = true;
		if (dup) {
			conf_err(x, e, "server.listen: duplicate address '%s'", v);
			ok = false;
			continue;
		}
		c->listen = gtm_xgrow(c->listen, c->nlisten, sizeof(*c->listen));
		c->listen[c->nlisten++] = l;
	}
	if (config_setting_length(s) == 0) {
		conf_err(x, s, "server.listen must name at least one address");
		ok = false;
	}
	return ok;
}

/* server.listen and server.workers are made once (sockets, threads), and
 * server.user is taken once, after binding: restart-only. */
static bool listen_same(const void *a, const void *b)
{
	const gtm_conf_t *x = a, *y = b;
	if (x->nlisten != y->nlisten)
		return false;
	for (size_t i = 0; i < x->nlisten; i++)
		if (x->listen[i].len != y->listen[i].len ||
		    memcmp(&x->listen[i].addr, &y->listen[i].addr, x->listen[i].len) != 0)
			return false;
	return true;
}

static const ckey_t server_keys[] = {
	K_FN("listen", 0, server_listen, RESTART, .same = listen_same),
	K_INT("workers", gtm_conf_t, workers, 1, 64, 0, RESTART),  /* 0: online CPUs, set at freeze */
	K_INT("edns_udp_size", gtm_conf_t, edns_udp_size, 512, 4096, 1232),
	/* "hostname" is resolved when the snapshot is built (gtm_build_opts),
	 * so that a renamed host shows after a reload. */
	K_STR("nsid", gtm_conf_t, nsid, 1, DNS_NSID_MAX, 0, NULL),
	{ .name = "tcp_idle_timeout", .type = KT_INT, .flags = KF_DEFAULT,
	  FIELD(gtm_conf_t, tcp_idle_timeout_ms), .min = 1, .max = 300, .def = 10, .scale = 1000 },
	K_INT("tcp_max_clients", gtm_conf_t, tcp_max_clients, 1, 100000, 1000),
	K_INT("udp_rcvbuf", gtm_conf_t, udp_rcvbuf, 0, 1073741824, 4194304),
	/* Looked up when gtmd starts (gtm/daemon/daemon.h), not here: a config is
	 * checked on machines that need not have the user. */
	K_STR("user", gtm_conf_t, user, 1, 32, 0, NULL, RESTART),
	{ 0 }
};

static void section_server(ctx_t *x, const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(x, s, "server must be a group: server = { ... }");
		return;
	}
	scope_t sc = { .kind = "server", .section = true };
	conf_group_walk(x, s, server_keys, x->conf, &sc);
}

/* ------------------------------------------------------------------------ */
/* zones = ( { name; file; } )                                              */

static void zone_free(void *p)
{
	gtm_zone_conf_t *z = p;
	free(z->name);
	free(z->file);
}

/* Zone files are named relative to the config file's folder. */
static bool zone_finish(ctx_t *x, const config_setting_t *g, void *item, scope_t *sc)
{
	gtm_zone_conf_t *z = item;
	char *p = gtm_path_relative(x->path, z->file);
	free(z->file);
	z->file = p;
	return true;
}

static const ckey_t zone_keys[] = {
	K_STR("name", gtm_zone_conf_t, name, 1, 0, KF_NAME, check_dns_name),
	K_STR("file", gtm_zone_conf_t, file, 1, PATH_MAX, KF_REQUIRED, NULL),
	{ 0 }
};

static const list_def_t zone_list = {
	"zones", "zone", zone_keys, sizeof(gtm_zone_conf_t),
	offsetof(gtm_zone_conf_t, line), offsetof(gtm_zone_conf_t, name),
	GTM_NAME_DNS, zone_free, zone_finish, NULL, false,
};

static void section_zones(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->zones;
	conf_list_walk(x, s, &zone_list, &items, &x->conf->nzones);
	x->conf->zones = items;
	if (conf_is_list(s) && config_setting_length(s) == 0)
		conf_err(x, s, "zones must name at least one zone");
}

/* ------------------------------------------------------------------------ */
/* cities = ( { name; lat; lon; } )                                         */

static void city_free(void *p)
{
	free(((gtm_city_t *)p)->name);
}

static const ckey_t city_keys[] = {
	K_STR("name", gtm_city_t, name, 1, 0, KF_NAME, conf_check_plain_name),
	K_NUM("lat", gtm_city_t, lat, -90, 90, KF_REQUIRED),
	K_NUM("lon", gtm_city_t, lon, -180, 180, KF_REQUIRED),
	K_NUM("demand", gtm_city_t, demand, 0, 1e15, 0),
	{ 0 }
};

static const list_def_t city_list = {
	"cities", "city", city_keys, sizeof(gtm_city_t),
	offsetof(gtm_city_t, line), offsetof(gtm_city_t, name),
	GTM_NAME_PLAIN, city_free, NULL, NULL, false,
};

static void section_cities(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->cities;
	conf_list_walk(x, s, &city_list, &items, &x->conf->ncities);
	x->conf->cities = items;
	/* Orders are lists of city indices on the workers' stacks. */
	if (x->conf->ncities > GEO_MAX_CITIES)
		conf_err(x, s, "cities: at most %d cities (got %zu)", GEO_MAX_CITIES, x->conf->ncities);
}

/* ------------------------------------------------------------------------ */
/* sites = ( { name; city; weight; capacity; role; } )                      */

static void site_free(void *p)
{
	free(((gtm_site_t *)p)->name);
}

static bool site_city(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_site_t *site = obj;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		conf_err(x, s, "%scity must be a string", sc->prefix);
		return false;
	}
	for (size_t i = 0; i < x->conf->ncities; i++)
		if (strcmp(x->conf->cities[i].name, v) == 0) {
			site->city = (uint32_t)i;
			return true;
		}
	conf_err(x, s, "site '%s' names unknown city '%s'", sc->name ? sc->name : "", v);
	return false;
}

static const char *const role_names[] = { "active", "backup", "cold", NULL };

static const ckey_t site_keys[] = {
	K_STR("name", gtm_site_t, name, 1, 0, KF_NAME, conf_check_plain_name),
	K_FN("city", KF_REQUIRED, site_city),
	K_INT("weight", gtm_site_t, weight, 0, 1000000, 100),
	K_INT("capacity", gtm_site_t, capacity, 0, UINT32_MAX, 0),
	K_ENUM("role", gtm_site_t, role, role_names, GTM_ROLE_ACTIVE),
	{ 0 }
};

static const list_def_t site_list = {
	"sites", "site", site_keys, sizeof(gtm_site_t),
	offsetof(gtm_site_t, line), offsetof(gtm_site_t, name),
	GTM_NAME_PLAIN, site_free, NULL, NULL, false,
};

static void section_sites(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->sites;
	conf_list_walk(x, s, &site_list, &items, &x->conf->nsites);
	x->conf->sites = items;
	/* The DNS workers count answers per site in a fixed array. */
	if (x->conf->nsites > DNS_MAX_SITES)
		conf_err(x, s, "sites: at most %d sites (got %zu)", DNS_MAX_SITES, x->conf->nsites);
	for (size_t i = 0; i < x->conf->nsites; i++)
		x->conf->sites[i].slot = (uint16_t)(i < DNS_MAX_SITES ? i : DNS_PLAN_NO_SITE);
}

/* ------------------------------------------------------------------------ */
/* geo = { databases; schema; fields; ecs; ecs_trusted; default_order; maps; } */

static bool geo_databases(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_geo_conf_t *g = obj;
	int n = conf_is_array(s) ? config_setting_length(s) : -1;
	if (n < 1 || n > 2) {
		conf_err(x, s, "geo.databases must name one file (IPv4 and IPv6) or two (the IPv4 file, then the IPv6 file)");
		return false;
	}
	char *paths[2] = { NULL, NULL };
	bool ok = true;
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v == NULL || *v == '\0') {
			conf_err(x, e, "geo.databases entries must be file names");
			ok = false;
			continue;
		}
		/* Relative to the config file's folder, as zone files are. */
		paths[i] = gtm_path_relative(x->path, v);
	}
	if (!ok) {
		free(paths[0]);
		free(paths[1]);
		return false;
	}
	g->db = paths[0];
	g->db_v6 = paths[1];
	g->db_line = (int)config_setting_source_line(s);
	return true;
}

static const char *const schema_names[] = { "geoip2", "flat", NULL };

static const ckey_t geo_field_keys[] = {
	K_STR("country", gtm_geo_conf_t, fields[GTM_GEO_F_COUNTRY], 0, 255, 0, NULL),
	K_STR("continent", gtm_geo_conf_t, fields[GTM_GEO_F_CONTINENT], 0, 255, 0, NULL),
	K_STR("subdivision", gtm_geo_conf_t, fields[GTM_GEO_F_SUBDIVISION], 0, 255, 0, NULL),
	K_STR("latitude", gtm_geo_conf_t, fields[GTM_GEO_F_LATITUDE], 0, 255, 0, NULL),
	K_STR("longitude", gtm_geo_conf_t, fields[GTM_GEO_F_LONGITUDE], 0, 255, 0, NULL),
	{ 0 }
};

static bool geo_fields_key(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(x, s, "geo.fields must be a group: fields = { latitude = \"location/latitude\"; ... }");
		return false;
	}
	scope_t fsc = { .kind = "geo.fields", .section = true };
	return conf_group_walk(x, s, geo_field_keys, obj, &fsc);
}

/* "192.0.2.0/24", "2001:db8::/32", or a bare address (one host). */
static int parse_net(const char *v, dns_net_t *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (strlen(v) >= sizeof(buf))
		return GTM_EINVAL;
	strcpy(buf, v);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(out, 0, sizeof(*out));
	unsigned max;
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return GTM_EINVAL;
	unsigned prefix = max;
	if (slash) {
		if (*slash == '\0' || strlen(slash) > 3)
			return GTM_EINVAL;
		prefix = 0;
		for (const char *p = slash; *p; p++) {
			if (*p < '0' || *p > '9')
				return GTM_EINVAL;
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max)
			return GTM_EINVAL;
	}
	out->prefix = (uint8_t)prefix;
	for (unsigned bit = prefix; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
			return GTM_ERANGE;
	return 0;
}

static bool geo_ecs_trusted(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_geo_conf_t *g = obj;
	if (!conf_is_array(s)) {
		conf_err(x, s, "geo.ecs_trusted must be a list of networks: [ \"127.0.0.0/8\", \"::1/128\" ]");
		return false;
	}
	if (config_setting_length(s) > DNS_ECS_TRUSTED_MAX) {
		conf_err(x, s, "geo.ecs_trusted: at most %d networks (got %d)", DNS_ECS_TRUSTED_MAX,
		    config_setting_length(s));
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		dns_net_t net;
		int rc = v ? parse_net(v, &net) : GTM_EINVAL;
		if (rc == GTM_ERANGE) {
			conf_err(x, e, "geo.ecs_trusted: '%s' has host bits set after the prefix", v);
			ok = false;
			continue;
		}
		if (rc != 0) {
			conf_err(x, e, "geo.ecs_trusted: '%s' is not a network (address/prefix)", v ? v : "?");
			ok = false;
			continue;
		}
		g->ecs_trusted[g->n_ecs_trusted++] = net;
	}
	if (config_setting_length(s) == 0) {
		/* An empty list would read as "every resolver": the opposite of
		 * what someone writing it probably means. */
		conf_err(x, s, "geo.ecs_trusted must name at least one network (leave it out to trust every resolver, or set ecs = false)");
		ok = false;
	}
	return ok;
}

/* A list of city names -> indices; false (reported) on unknown or repeated
 * names.  `what` names the list in messages ("geo.default_order"). */
static bool city_list_parse(ctx_t *x, const config_setting_t *s, const char *what,
                            uint16_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!conf_is_array(s) || config_setting_length(s) == 0) {
		conf_err(x, s, "%s must be a non-empty list of cities: [ \"beijing\", \"shanghai\" ]", what);
		return false;
	}
	bool ok = true;
	uint16_t *v = gtm_xcalloc((size_t)config_setting_length(s), sizeof(*v));
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_get_string(e);
		if (name == NULL) {
			conf_err(x, e, "%s entries must be city names", what);
			ok = false;
			continue;
		}
		int c = conf_city_index(x, name);
		if (c < 0) {
			conf_err(x, e, "%s: unknown city '%s'", what, name);
			ok = false;
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < *n; j++)
			dup |= v[j] == (uint16_t)c;
		if (dup) {
			conf_err(x, e, "%s: city '%s' listed twice", what, name);
			ok = false;
			continue;
		}
		v[(*n)++] = (uint16_t)c;
	}
	if (!ok) {
		free(v);
		*n = 0;
		return false;
	}
	*out = v;
	return true;
}

/* Passes a geo/ message ("geo.maps: ...", made without file and line) on
 * at the setting that caused it. */
static void pass_diag(ctx_t *x, const config_setting_t *s, gtm_diag_t *d)
{
	for (size_t i = 0; i < d->count; i++)
		conf_err(x, s, "%s", d->msgs[i]);
	gtm_diag_clear(d);
}

static bool geo_default_order(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_geo_conf_t *g = obj;
	if (!city_list_parse(x, s, "geo.default_order", &g->default_order, &g->ndefault_order))
		return false;
	g->default_line = (int)config_setting_source_line(s);
	if (x->check_map) {
		gtm_diag_t d = { 0 };
		if (geo_map_set_default(x->check_map, g->default_order, g->ndefault_order, &d, NULL, 0) != 0) {
			pass_diag(x, s, &d);
			return false;
		}
	}
	return true;
}

/* One entry of geo.maps while it is read. */
typedef struct map_entry {
	const config_setting_t *sel[4];  /* by gtm_geo_kind_t */
	uint16_t *cities;
	size_t ncities;
} map_entry_t;

static const char *const geo_kind_names[] = { "cidr", "country", "continent", "subdivision" };

static bool map_selector(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	map_entry_t *e = obj;
	const char *name = config_setting_name(s);
	if (!conf_is_array(s) || config_setting_length(s) == 0) {
		conf_err(x, s, "geo.maps: %s must be a non-empty list of strings: %s = [ ... ]", name, name);
		return false;
	}
	for (int i = 0; i < config_setting_length(s); i++)
		if (config_setting_get_string(config_setting_get_elem(s, (unsigned)i)) == NULL) {
			conf_err(x, config_setting_get_elem(s, (unsigned)i), "geo.maps: %s entries must be strings", name);
			return false;
		}
	for (int k = 0; k < 4; k++)
		if (strcmp(name, geo_kind_names[k]) == 0)
			e->sel[k] = s;
	return true;
}

static bool map_cities(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	map_entry_t *e = obj;
	return city_list_parse(x, s, "geo.maps cities", &e->cities, &e->ncities);
}

static const ckey_t map_keys[] = {
	K_FN("cidr", 0, map_selector),
	K_FN("country", 0, map_selector),
	K_FN("continent", 0, map_selector),
	K_FN("subdivision", 0, map_selector),
	K_FN("cities", KF_REQUIRED, map_cities),
	{ 0 }
};

typedef int (*map_add_fn_t)(geo_map_t *m, const char *key, const uint16_t *cities, size_t n,
                            gtm_diag_t *diag, const char *file, int line);

static const map_add_fn_t map_add[] = {
	geo_map_add_cidr, geo_map_add_country, geo_map_add_continent, geo_map_add_subdivision,
};

static bool geo_maps(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_geo_conf_t *g = obj;
	if (!conf_is_list(s)) {
		conf_err(x, s, "geo.maps must be a list of groups: maps = ( { country = [ \"JP\" ]; cities = [ \"tokyo\" ]; } )");
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *eg = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(eg) != CONFIG_TYPE_GROUP) {
			conf_err(x, eg, "geo.maps entries must be groups { ... }");
			ok = false;
			continue;
		}
		map_entry_t e = { 0 };
		scope_t msc = { .kind = "geo.maps" };
		bool eok = conf_group_walk(x, eg, map_keys, &e, &msc);
		if (eok && !e.sel[0] && !e.sel[1] && !e.sel[2] && !e.sel[3]) {
			conf_err(x, eg, "geo.maps entry has no cidr, country, continent or subdivision");
			eok = false;
		}
		bool walked = eok;
		for (int k = 0; walked && k < 4; k++) {
			if (e.sel[k] == NULL)
				continue;
			for (int j = 0; j < config_setting_length(e.sel[k]); j++) {
				config_setting_t *ks = config_setting_get_elem(e.sel[k], (unsigned)j);
				const char *key = config_setting_get_string(ks);
				if (x->check_map) {
					gtm_diag_t d = { 0 };
					if (map_add[k](x->check_map, key, e.cities, e.ncities, &d, NULL, 0) != 0) {
						pass_diag(x, ks, &d);
						eok = false;
						continue;
					}
				}
				g->rules = gtm_xgrow(g->rules, g->nrules, sizeof(*g->rules));
				gtm_geo_rule_t *r = &g->rules[g->nrules++];
				r->kind = (gtm_geo_kind_t)k;
				r->key = gtm_xstrdup(key);
				r->cities = gtm_xcalloc(e.ncities, sizeof(*r->cities));
				memcpy(r->cities, e.cities, e.ncities * sizeof(*r->cities));
				r->ncities = e.ncities;
				r->line = (int)config_setting_source_line(ks);
			}
		}
		free(e.cities);
		ok &= eok;
	}
	return ok;
}

static const ckey_t geo_keys[] = {
	K_FN("databases", 0, geo_databases),
	K_ENUM("schema", gtm_geo_conf_t, schema, schema_names, GTM_GEO_SCHEMA_GEOIP2),
	K_FN("fields", 0, geo_fields_key),
	K_BOOL("ecs", gtm_geo_conf_t, ecs, true),
	K_FN("ecs_trusted", 0, geo_ecs_trusted),
	K_FN("default_order", 0, geo_default_order),
	K_FN("maps", 0, geo_maps),
	{ 0 }
};

static void section_geo(ctx_t *x, const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(x, s, "geo must be a group: geo = { ... }");
		return;
	}
	/* Rules are checked as they are read, against a map of the cities, so
	 * that geo/ judges CIDR syntax and keys mapped twice exactly as it will
	 * when the snapshot is built. */
	const gtm_conf_t *c = x->conf;
	if (c->ncities > 0 && c->ncities <= GEO_MAX_CITIES) {
		geo_point_t *pts = gtm_xcalloc(c->ncities, sizeof(*pts));
		for (size_t i = 0; i < c->ncities; i++)
			pts[i] = (geo_point_t){ c->cities[i].lat, c->cities[i].lon };
		gtm_diag_t d = { 0 };
		x->check_map = geo_map_new("geo.maps", pts, c->ncities, &d);
		pass_diag(x, s, &d);
		free(pts);
	}
	scope_t sc = { .kind = "geo", .section = true };
	conf_group_walk(x, s, geo_keys, &x->conf->geo, &sc);
	geo_map_free(x->check_map);
	x->check_map = NULL;
}

static void geo_conf_free(gtm_geo_conf_t *g)
{
	free(g->db);
	free(g->db_v6);
	for (int i = 0; i < GTM_GEO_NFIELDS; i++)
		free(g->fields[i]);
	free(g->default_order);
	for (size_t i = 0; i < g->nrules; i++) {
		free(g->rules[i].key);
		free(g->rules[i].cities);
	}
	free(g->rules);
}

void gtm_geo_fields(const gtm_geo_conf_t *geo, geo_fields_t *out)
{
	gtm_assert(geo_fields_preset(schema_names[geo->schema], out) == 0);
	const char **f[GTM_GEO_NFIELDS] = {
		[GTM_GEO_F_COUNTRY] = &out->country,
		[GTM_GEO_F_CONTINENT] = &out->continent,
		[GTM_GEO_F_SUBDIVISION] = &out->subdivision,
		[GTM_GEO_F_LATITUDE] = &out->latitude,
		[GTM_GEO_F_LONGITUDE] = &out->longitude,
	};
	for (int i = 0; i < GTM_GEO_NFIELDS; i++)
		if (geo->fields[i])
			*f[i] = geo->fields[i];
}

/* ------------------------------------------------------------------------ */
/* services = ( { name; policy; ttl; endpoints = ( { site; addresses; } ); } ) */

/* An endpoints entry while it is read: its addresses become endpoints of
 * the service once the site is known. */
typedef struct endpoint_entry {
	gtm_service_t *svc;
	bool have_site;
	uint32_t site;
	const char *site_name;
	int line;
	bool has_check;          /* `check` given (else the service's) */
	uint32_t check;          /* GTM_NO_CHECK: "none" */
	char check_address[48];  /* normalised; "" when not given */
	uint16_t check_port;     /* 0 when not given */
} endpoint_entry_t;

static bool endpoint_site(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	endpoint_entry_t *e = obj;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		conf_err(x, s, "%ssite must be a string", sc->prefix);
		return false;
	}
	e->site_name = v;
	for (size_t i = 0; i < x->conf->nsites; i++)
		if (strcmp(x->conf->sites[i].name, v) == 0) {
			e->site = (uint32_t)i;
			e->have_site = true;
			return true;
		}
	conf_err(x, s, "%s: endpoint names unknown site '%s'", sc->parent, v);
	return false;
}

static bool endpoint_addresses(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	endpoint_entry_t *e = obj;
	gtm_service_t *svc = e->svc;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		conf_err(x, s, "%saddresses must be a list of addresses: [ \"192.0.2.10\", \"2001:db8::10\" ]",
		    sc->prefix);
		return false;
	}
	if (config_setting_length(s) == 0) {
		conf_err(x, s, "%s: endpoint at site %s has no addresses", sc->parent,
		    e->site_name ? e->site_name : "?");
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *a = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(a);
		gtm_endpoint_t ep = { .site = e->site, .line = (int)config_setting_source_line(a) };
		if (v == NULL) {
			conf_err(x, a, "%saddresses entries must be strings", sc->prefix);
			ok = false;
			continue;
		}
		if (inet_pton(AF_INET, v, &ep.addr.v4) == 1)
			ep.family = AF_INET;
		else if (inet_pton(AF_INET6, v, &ep.addr.v6) == 1)
			ep.family = AF_INET6;
		else {
			conf_err(x, a, "%s: '%s' is not an IPv4 or IPv6 address", sc->parent, v);
			ok = false;
			continue;
		}
		const gtm_endpoint_t *first = NULL;
		for (size_t j = 0; j < svc->nendpoints && !first; j++) {
			const gtm_endpoint_t *o = &svc->endpoints[j];
			if (o->family == ep.family &&
			    memcmp(&o->addr, &ep.addr, ep.family == AF_INET ? 4 : 16) == 0)
				first = o;
		}
		if (first) {
			conf_err(x, a, "%s: duplicate address '%s' (first at line %d)", sc->parent, v, first->line);
			ok = false;
			continue;
		}
		if (!e->have_site)
			continue;
		svc->endpoints = gtm_xgrow(svc->endpoints, svc->nendpoints, sizeof(*svc->endpoints));
		svc->endpoints[svc->nendpoints++] = ep;
	}
	return ok;
}

static bool endpoint_check(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	endpoint_entry_t *e = obj;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		conf_err(x, s, "%scheck must be a check name (or \"none\")", sc->prefix);
		return false;
	}
	e->has_check = true;
	if (strcmp(v, "none") == 0) {
		e->check = GTM_NO_CHECK;
		return true;
	}
	int c = conf_check_index(x, v);
	if (c < 0) {
		conf_err(x, s, "%s: endpoint names unknown check '%s'", sc->parent, v);
		return false;
	}
	e->check = (uint32_t)c;
	return true;
}

static bool endpoint_check_address(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	endpoint_entry_t *e = obj;
	const char *v = config_setting_get_string(s);
	unsigned char buf[16];
	int fam = 0;
	if (v && inet_pton(AF_INET, v, buf) == 1)
		fam = AF_INET;
	else if (v && inet_pton(AF_INET6, v, buf) == 1)
		fam = AF_INET6;
	if (fam == 0) {
		conf_err(x, s, "%s: check_address '%s' is not an IPv4 or IPv6 address", sc->parent, v ? v : "");
		return false;
	}
	inet_ntop(fam, buf, e->check_address, sizeof(e->check_address));
	return true;
}

static const ckey_t endpoint_keys[] = {
	K_FN("site", KF_REQUIRED, endpoint_site),
	K_FN("addresses", KF_REQUIRED, endpoint_addresses),
	K_FN("check", 0, endpoint_check),
	K_FN("check_address", 0, endpoint_check_address),
	{ .name = "check_port", .type = KT_INT, .flags = KF_DEFAULT, FIELD(endpoint_entry_t, check_port),
	  .min = 1, .max = 65535, .def = 0 },
	{ 0 }
};

/* The service's default check as its group names it (read from the group,
 * so that endpoints need not come after it); GTM_NO_CHECK when absent or
 * unknown (reported by service_check). */
static uint32_t group_service_check(ctx_t *x, const config_setting_t *endpoints)
{
	const config_setting_t *c = config_setting_get_member(config_setting_parent(endpoints), "check");
	const char *v = c ? config_setting_get_string(c) : NULL;
	int i = v ? conf_check_index(x, v) : -1;
	return i < 0 ? GTM_NO_CHECK : (uint32_t)i;
}

/* Gives the endpoints [first, svc->nendpoints) of one entry their check
 * and probe target, and checks each target as the probe library will
 * (address family against the check's source, a port for tcp). */
static bool endpoint_targets(ctx_t *x, const config_setting_t *g, endpoint_entry_t *e, size_t first,
                             uint32_t svc_check)
{
	gtm_service_t *svc = e->svc;
	uint32_t check = e->has_check ? e->check : svc_check;
	bool ok = true, said = false;
	for (size_t i = first; i < svc->nendpoints; i++) {
		gtm_endpoint_t *ep = &svc->endpoints[i];
		ep->check = check;
		if (e->check_address[0])
			snprintf(ep->probe_addr, sizeof(ep->probe_addr), "%s", e->check_address);
		else
			inet_ntop(ep->family, &ep->addr, ep->probe_addr, sizeof(ep->probe_addr));
		ep->probe_port = e->check_port;
		/* With a check_address the entry is one probe target: said once. */
		if (check == GTM_NO_CHECK || !ok || said)
			continue;
		const gtm_check_t *c = &x->conf->checks[check];
		if (!c->valid)
			continue;
		chk_params_t p = c->params;
		if (ep->probe_port)
			p.port = ep->probe_port;
		if (p.type == CHK_TYPE_TCP && p.port == 0) {
			conf_err(x, g, "service %s: endpoint at site %s: check %s has no port (set port in the check or check_port here)",
			    svc->name, x->conf->sites[ep->site].name, c->name);
			ok = false;
			continue;
		}
		chk_target_spec_t spec = { .params = &p, .address = ep->probe_addr };
		gtm_diag_t diag = { 0 };
		if (chk_target_spec_check(&spec, &diag, NULL, 0) != 0) {
			for (size_t j = 0; j < diag.count; j++)
				conf_err(x, g, "service %s: endpoint at site %s: %s", svc->name,
				    x->conf->sites[ep->site].name, diag.msgs[j]);
			ok = false;
		}
		gtm_diag_clear(&diag);
		said = e->check_address[0] != '\0';
	}
	return ok;
}

static bool service_endpoints(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_service_t *svc = obj;
	if (!conf_is_list(s)) {
		conf_err(x, s, "%sendpoints must be a list of groups: endpoints = ( { site = ...; addresses = [ ... ]; } )",
		    sc->prefix);
		return false;
	}
	if (config_setting_length(s) == 0) {
		conf_err(x, s, "%s has no endpoints", sc->where);
		return false;
	}
	char parent[320];
	snprintf(parent, sizeof(parent), "%s", sc->where);
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			conf_err(x, g, "%sendpoints entries must be groups { ... }", sc->prefix);
			ok = false;
			continue;
		}
		endpoint_entry_t e = { .svc = svc, .line = (int)config_setting_source_line(g) };
		scope_t esc = { .kind = "endpoint", .parent = parent };
		size_t first = svc->nendpoints;
		bool eok = conf_group_walk(x, g, endpoint_keys, &e, &esc);
		if (eok)
			eok = endpoint_targets(x, g, &e, first, group_service_check(x, s));
		ok &= eok;
	}
	return ok;
}

static void service_free(void *p)
{
	gtm_service_t *s = p;
	free(s->name);
	free(s->endpoints);
	free(s->order);
}

static const char *const policy_names[] = { "nearest", "primary-backup", "global", "failover", NULL };
static const char *const answer_names[] = { "one", "all", NULL };

/*
 * The policy a service group names, read from the group itself rather than
 * from the item, so that a policy-specific key is judged by the policy as
 * written whatever order the keys are parsed in.  -1 when the policy is
 * not valid (that is reported on its own).
 */
static int group_policy(const config_setting_t *key)
{
	const config_setting_t *p = config_setting_get_member(config_setting_parent(key), "policy");
	if (p == NULL)
		return GTM_POLICY_NEAREST;
	const char *v = config_setting_get_string(p);
	for (int i = 0; v && policy_names[i]; i++)
		if (strcmp(v, policy_names[i]) == 0)
			return i;
	return -1;
}

/* A key that only `policy` uses: reports it on a service of another policy. */
static bool policy_fits(ctx_t *x, const config_setting_t *s, scope_t *sc, gtm_policy_t policy)
{
	int p = group_policy(s);
	if (p < 0 || p == (int)policy)
		return true;
	conf_err(x, s, "%s: %s applies only to policy %s (the policy is %s)", sc->where,
	    config_setting_name(s), policy_names[policy], policy_names[p]);
	return false;
}

static bool service_order(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_service_t *svc = obj;
	if (!policy_fits(x, s, sc, GTM_POLICY_FAILOVER))
		return false;
	if (!conf_is_array(s) || config_setting_length(s) == 0) {
		conf_err(x, s, "%sorder must be a non-empty list of sites: [ \"bj-a\", \"sh-a\" ]", sc->prefix);
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v == NULL) {
			conf_err(x, e, "%sorder entries must be site names", sc->prefix);
			ok = false;
			continue;
		}
		int site = conf_site_index(x, v);
		if (site < 0) {
			conf_err(x, e, "%s: order names unknown site '%s'", sc->where, v);
			ok = false;
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < svc->norder; j++)
			dup |= svc->order[j] == (uint32_t)site;
		if (dup) {
			conf_err(x, e, "%s: order names site '%s' twice", sc->where, v);
			ok = false;
			continue;
		}
		svc->order = gtm_xgrow(svc->order, svc->norder, sizeof(*svc->order));
		svc->order[svc->norder++] = (uint32_t)site;
	}
	return ok;
}

/* primary, backup, master: a city name. */
static bool service_city_key(ctx_t *x, const config_setting_t *s, scope_t *sc,
                             gtm_policy_t policy, uint32_t *out)
{
	if (!policy_fits(x, s, sc, policy))
		return false;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		conf_err(x, s, "%s%s must be a city name", sc->prefix, config_setting_name(s));
		return false;
	}
	int c = conf_city_index(x, v);
	if (c < 0) {
		conf_err(x, s, "%s: %s names unknown city '%s'", sc->where, config_setting_name(s), v);
		return false;
	}
	*out = (uint32_t)c;
	return true;
}

static bool service_primary(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return service_city_key(x, s, sc, GTM_POLICY_PRIMARY_BACKUP, &((gtm_service_t *)obj)->primary);
}

static bool service_backup(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return service_city_key(x, s, sc, GTM_POLICY_PRIMARY_BACKUP, &((gtm_service_t *)obj)->backup);
}

static bool service_master(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return service_city_key(x, s, sc, GTM_POLICY_GLOBAL, &((gtm_service_t *)obj)->master);
}

static bool service_check(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_service_t *svc = obj;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		conf_err(x, s, "%scheck must be a check name", sc->prefix);
		return false;
	}
	int c = conf_check_index(x, v);
	if (c < 0) {
		conf_err(x, s, "%s: check names unknown check '%s'", sc->where, v);
		return false;
	}
	svc->check = (uint32_t)c;
	return true;
}

static bool service_trickle(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return policy_fits(x, s, sc, GTM_POLICY_PRIMARY_BACKUP);
}

static bool service_auto_promote(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return policy_fits(x, s, sc, GTM_POLICY_GLOBAL);
}

/* "open", "closed", or an IPv4 or IPv6 address (a fixed DR answer). */
static bool service_last_resort(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_service_t *svc = obj;
	const char *v = config_setting_get_string(s);
	if (v && strcmp(v, "open") == 0)
		svc->last_resort = GTM_LAST_RESORT_OPEN;
	else if (v && strcmp(v, "closed") == 0)
		svc->last_resort = GTM_LAST_RESORT_CLOSED;
	else if (v && inet_pton(AF_INET, v, &svc->lr_addr.v4) == 1) {
		svc->last_resort = GTM_LAST_RESORT_ADDRESS;
		svc->lr_family = AF_INET;
	} else if (v && inet_pton(AF_INET6, v, &svc->lr_addr.v6) == 1) {
		svc->last_resort = GTM_LAST_RESORT_ADDRESS;
		svc->lr_family = AF_INET6;
	} else {
		conf_err(x, s, "%slast_resort must be \"open\", \"closed\" or an IPv4 or IPv6 address%s%s%s",
		         sc->prefix, v ? " (got '" : "", v ? v : "", v ? "')" : "");
		return false;
	}
	return true;
}

static const ckey_t service_keys[] = {
	K_STR("name", gtm_service_t, name, 1, 0, KF_NAME, check_dns_name),
	K_ENUM("policy", gtm_service_t, policy, policy_names, GTM_POLICY_NEAREST),
	K_INT("ttl", gtm_service_t, ttl, 0, 2147483647, 30),
	K_ENUM("answer", gtm_service_t, answer, answer_names, GTM_ANSWER_ONE),
	/* After endpoints: the finish step checks them against the endpoints. */
	K_FN("endpoints", KF_REQUIRED, service_endpoints),
	K_FN("order", 0, service_order),
	K_FN("primary", 0, service_primary),
	K_FN("backup", 0, service_backup),
	K_FN("master", 0, service_master),
	K_FN("check", 0, service_check),
	K_INT("quorum", gtm_service_t, quorum, 1, 65535, 1),
	/* The controller's keys (controller.h). */
	K_NUM("min_capacity", gtm_service_t, min_capacity, 0, 1, 0),
	{ .name = "trickle", .type = KT_NUM, FIELD(gtm_service_t, trickle), .dmin = 0, .dmax = 50,
	  .fn = service_trickle },
	K_FN("last_resort", 0, service_last_resort),
	{ .name = "degraded_ttl", .type = KT_INT, FIELD(gtm_service_t, degraded_ttl),
	  .min = 0, .max = 2147483647 },
	{ .name = "auto_promote", .type = KT_BOOL, .flags = KF_DEFAULT, FIELD(gtm_service_t, auto_promote),
	  .def = 0, .fn = service_auto_promote },
	{ 0 }
};

static bool city_has_endpoint(const gtm_conf_t *c, const gtm_service_t *svc, uint32_t city)
{
	for (size_t i = 0; i < svc->nendpoints; i++)
		if (c->sites[svc->endpoints[i].site].city == city)
			return true;
	return false;
}

/* The city of the first endpoint at an active site; else at any site that
 * is not cold; else the first endpoint's. */
static uint32_t first_city(const gtm_conf_t *c, const gtm_service_t *svc)
{
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < svc->nendpoints; i++) {
			const gtm_site_t *site = &c->sites[svc->endpoints[i].site];
			if (pass == 0 && site->role != GTM_ROLE_ACTIVE)
				continue;
			if (pass == 1 && site->role == GTM_ROLE_COLD)
				continue;
			return site->city;
		}
	return GTM_NO_CITY;
}

/* A city key's cross-field rules: the city must hold some of the service. */
static bool city_key_check(ctx_t *x, const config_setting_t *g, const gtm_service_t *svc,
                           const char *key, uint32_t city)
{
	if (city_has_endpoint(x->conf, svc, city))
		return true;
	conf_err(x, config_setting_get_member(g, key), "service %s: %s city '%s' has no endpoint of this service",
	    svc->name, key, x->conf->cities[city].name);
	return false;
}

/* The traps a service can load with but most likely does not mean: each a
 * warning (conf_warn), not an error.  Only called with the keys it reads
 * parsed. */
static void service_warn(ctx_t *x, const config_setting_t *g, const gtm_service_t *svc)
{
	const gtm_conf_t *c = x->conf;
	bool all_cold = true;
	for (size_t i = 0; i < svc->nendpoints; i++)
		all_cold &= c->sites[svc->endpoints[i].site].role == GTM_ROLE_COLD;
	if (all_cold)
		conf_warn(x, g, "service %s: every site of its endpoints is cold (it answers its last resort from "
		          "start-up until one is activated with gtmctl activate)", svc->name);

	const config_setting_t *order = config_setting_get_member(g, "order");
	if (svc->policy == GTM_POLICY_FAILOVER && order != NULL) {
		for (size_t i = 0; i < svc->nendpoints; i++) {
			uint32_t site = svc->endpoints[i].site;
			bool seen = false;
			for (size_t j = 0; j < i; j++)
				seen |= svc->endpoints[j].site == site;
			for (size_t j = 0; j < svc->norder; j++)
				seen |= svc->order[j] == site;
			if (!seen)
				conf_warn(x, order, "service %s: order leaves out site %s, which has endpoints of this "
				          "service (they are never answered)", svc->name, c->sites[site].name);
		}
	}

	if (svc->policy == GTM_POLICY_PRIMARY_BACKUP && svc->backup == GTM_NO_CITY) {
		bool backup_site = false;
		for (size_t i = 0; i < svc->nendpoints; i++) {
			const gtm_site_t *site = &c->sites[svc->endpoints[i].site];
			backup_site |= site->role == GTM_ROLE_BACKUP && site->city != svc->primary;
		}
		if (!backup_site)
			conf_warn(x, g, "service %s: primary-backup with neither a 'backup' city nor an endpoint at a "
			          "backup-role site outside the primary city (nothing takes over from the primary)",
			          svc->name);
	}
}

/* Defaults that depend on the endpoints, and rules across keys.  Runs even
 * when some key was reported (finish_partial), so that every problem is
 * listed in one run: each rule is skipped when a key it reads failed. */
static bool service_finish(ctx_t *x, const config_setting_t *g, void *item, scope_t *sc)
{
	gtm_service_t *svc = item;
	const gtm_conf_t *c = x->conf;
	bool has_primary = config_setting_get_member(g, "primary") != NULL;
	bool has_backup = config_setting_get_member(g, "backup") != NULL;
	bool has_master = config_setting_get_member(g, "master") != NULL;
	bool eps_ok = !conf_key_failed(sc, "endpoints");
	bool ok = true;

	/* The endpoints grew by doubling; at 10,000 services the slack is
	 * megabytes kept for the configuration's life. */
	if (svc->nendpoints > 0)
		svc->endpoints = gtm_xrealloc(svc->endpoints, svc->nendpoints * sizeof(*svc->endpoints));

	if (!has_primary)
		svc->primary = GTM_NO_CITY;
	if (!has_backup)
		svc->backup = GTM_NO_CITY;
	if (!has_master)
		svc->master = GTM_NO_CITY;
	if (config_setting_get_member(g, "check") == NULL)
		svc->check = GTM_NO_CHECK;
	svc->trickle /= 100.0;
	const config_setting_t *dt = config_setting_get_member(g, "degraded_ttl");
	if (dt == NULL)
		svc->degraded_ttl = svc->ttl < 10 ? svc->ttl : 10;
	else if (!conf_key_failed(sc, "degraded_ttl") && !conf_key_failed(sc, "ttl") &&
	         svc->degraded_ttl > svc->ttl) {
		conf_err(x, dt, "service %s: degraded_ttl %" PRIu32 " is more than ttl %" PRIu32,
		         svc->name, svc->degraded_ttl, svc->ttl);
		ok = false;
	}
	/* A site with fewer endpoints than the quorum could never serve. */
	for (size_t i = 0; eps_ok && !conf_key_failed(sc, "quorum") && i < svc->nendpoints && svc->quorum > 1; i++) {
		uint32_t site = svc->endpoints[i].site, n = 0;
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= svc->endpoints[j].site == site;
		if (seen)
			continue;
		for (size_t j = 0; j < svc->nendpoints; j++)
			n += svc->endpoints[j].site == site;
		if (n < svc->quorum) {
			conf_err(x, config_setting_get_member(g, "quorum"),
			    "service %s: quorum %" PRIu32 " is more than the %" PRIu32 " endpoint%s of site %s (it could never serve)",
			    svc->name, svc->quorum, n, n == 1 ? "" : "s", c->sites[site].name);
			ok = false;
		}
	}
	/* The policy's rules read the endpoints and the city keys. */
	if (!eps_ok || conf_key_failed(sc, "policy") || conf_key_failed(sc, "primary") ||
	    conf_key_failed(sc, "backup") || conf_key_failed(sc, "master") || conf_key_failed(sc, "order"))
		return false;
	switch (svc->policy) {
	case GTM_POLICY_PRIMARY_BACKUP:
		if (!has_primary)
			svc->primary = first_city(c, svc);
		else
			ok &= city_key_check(x, g, svc, "primary", svc->primary);
		if (has_backup) {
			ok &= city_key_check(x, g, svc, "backup", svc->backup);
			if (svc->backup == svc->primary) {
				conf_err(x, config_setting_get_member(g, "backup"),
				    "service %s: backup city '%s' is also the primary city", svc->name,
				    c->cities[svc->backup].name);
				ok = false;
			}
		}
		break;
	case GTM_POLICY_GLOBAL:
		if (!has_master)
			svc->master = first_city(c, svc);
		else
			ok &= city_key_check(x, g, svc, "master", svc->master);
		break;
	case GTM_POLICY_FAILOVER:
		/* Default order: the endpoints' sites in config order. */
		if (svc->norder == 0)
			for (size_t i = 0; i < svc->nendpoints; i++) {
				uint32_t site = svc->endpoints[i].site;
				bool seen = false;
				for (size_t j = 0; j < svc->norder; j++)
					seen |= svc->order[j] == site;
				if (seen)
					continue;
				svc->order = gtm_xgrow(svc->order, svc->norder, sizeof(*svc->order));
				svc->order[svc->norder++] = site;
			}
		break;
	case GTM_POLICY_NEAREST:
		break;
	}
	if (ok)
		service_warn(x, g, svc);
	return ok;
}

static const list_def_t service_list = {
	"services", "service", service_keys, sizeof(gtm_service_t),
	offsetof(gtm_service_t, line), offsetof(gtm_service_t, name),
	GTM_NAME_DNS, service_free, service_finish, NULL, true,
};

static void section_services(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->services;
	conf_list_walk(x, s, &service_list, &items, &x->conf->nservices);
	x->conf->services = items;
}

/* ------------------------------------------------------------------------ */
/* Top level                                                                */

/* Sections are read in this order whatever their order in the file, so that
 * references always point backwards (sites name cities, services name
 * sites).  A new top-level group is one row here. */
static const struct section {
	const char *name;
	void (*load)(ctx_t *x, const config_setting_t *s);
} sections[] = {
	{ "server", section_server },
	{ "zones", section_zones },
	{ "cities", section_cities },
	{ "sites", section_sites },
	{ "geo", section_geo },
	{ "checks", conf_section_checks },
	{ "health", conf_section_health },
	{ "control", conf_section_control },
	{ "controller", conf_section_controller },
	{ "metrics", conf_section_metrics },
	{ "cluster", conf_section_cluster },
	{ "services", section_services },
	{ NULL, NULL }
};

size_t gtm_conf_restart_changes(const gtm_conf_t *old, const gtm_conf_t *conf, gtm_conf_key_cb_t cb,
                                void *arg)
{
	size_t n = conf_keys_restart_diff("server", server_keys, old, conf, cb, arg);
	if (old->cluster.enabled != conf->cluster.enabled) {
		cb("cluster", arg);   /* the group itself, added or removed */
		return n + 1;
	}
	return n + conf_keys_restart_diff("cluster", conf_cluster_keys, &old->cluster, &conf->cluster,
	                                  cb, arg);
}

static char *dup_or_null(const char *s)
{
	return s ? gtm_xstrdup(s) : NULL;
}

gtm_conf_t *gtm_conf_restart_image(const gtm_conf_t *c)
{
	gtm_conf_t *r = gtm_xcalloc(1, sizeof(*r));
	r->path = gtm_xstrdup(c->path);
	r->nlisten = c->nlisten;
	r->listen = gtm_xcalloc(c->nlisten ? c->nlisten : 1, sizeof(*r->listen));
	memcpy(r->listen, c->listen, c->nlisten * sizeof(*r->listen));
	r->workers = c->workers;
	r->user = dup_or_null(c->user);
	gtm_cluster_conf_t *d = &r->cluster;
	const gtm_cluster_conf_t *o = &c->cluster;
	*d = *o;
	d->node = dup_or_null(o->node);
	d->prefix = dup_or_null(o->prefix);
	d->ca_file = dup_or_null(o->ca_file);
	d->cert_file = dup_or_null(o->cert_file);
	d->key_file = dup_or_null(o->key_file);
	d->etcd = gtm_xcalloc(o->netcd ? o->netcd : 1, sizeof(*d->etcd));
	for (size_t i = 0; i < o->netcd; i++)
		d->etcd[i] = gtm_xstrdup(o->etcd[i]);
	return r;
}

/* The server defaults also hold when there is no server group at all. */
static void defaults(gtm_conf_t *c)
{
	for (const ckey_t *k = server_keys; k->name; k++)
		conf_key_default(k, c);
	for (const ckey_t *k = geo_keys; k->name; k++)
		conf_key_default(k, &c->geo);
	conf_health_defaults(c);
	conf_control_defaults(c);
	conf_metrics_defaults(c);
	conf_cluster_defaults(c);
}

/* Fills what depends on the machine or on the absence of a whole group. */
static void freeze(gtm_conf_t *c)
{
	if (c->nlisten == 0) {
		static const char *const def[] = { "127.0.0.1:53", "[::1]:53" };
		c->listen = gtm_xcalloc(2, sizeof(*c->listen));
		for (size_t i = 0; i < 2; i++)
			gtm_assert(gtm_listen_parse(def[i], 53, &c->listen[c->nlisten++]) == 0);
	}
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
	}
	c->health.unknown_wait_ms = conf_secs_ms(c->health.unknown_wait_s);
	conf_control_freeze(c);
	gtm_conf_index(c);
}

void gtm_conf_index(gtm_conf_t *c)
{
	gtm_conf_index_clear(c);
	gtm_name_index_build(&c->ix_sites, GTM_NAME_PLAIN, c->sites, c->nsites, sizeof(*c->sites),
	                     offsetof(gtm_site_t, name));
	gtm_name_index_build(&c->ix_cities, GTM_NAME_PLAIN, c->cities, c->ncities, sizeof(*c->cities),
	                     offsetof(gtm_city_t, name));
	gtm_name_index_build(&c->ix_services, GTM_NAME_DNS, c->services, c->nservices,
	                     sizeof(*c->services), offsetof(gtm_service_t, name));
	gtm_name_index_build(&c->ix_checks, GTM_NAME_PLAIN, c->checks, c->nchecks, sizeof(*c->checks),
	                     offsetof(gtm_check_t, name));
	gtm_name_index_build(&c->ix_zones, GTM_NAME_DNS, c->zones, c->nzones, sizeof(*c->zones),
	                     offsetof(gtm_zone_conf_t, name));
}

void gtm_conf_index_clear(gtm_conf_t *c)
{
	gtm_name_index_clear(&c->ix_sites);
	gtm_name_index_clear(&c->ix_cities);
	gtm_name_index_clear(&c->ix_services);
	gtm_name_index_clear(&c->ix_checks);
	gtm_name_index_clear(&c->ix_zones);
}

uint32_t gtm_conf_site(const gtm_conf_t *c, const char *name)
{
	return gtm_name_index_find(&c->ix_sites, name);
}

uint32_t gtm_conf_city(const gtm_conf_t *c, const char *name)
{
	return gtm_name_index_find(&c->ix_cities, name);
}

uint32_t gtm_conf_service(const gtm_conf_t *c, const char *name)
{
	return gtm_name_index_find(&c->ix_services, name);
}

uint32_t gtm_conf_check(const gtm_conf_t *c, const char *name)
{
	return gtm_name_index_find(&c->ix_checks, name);
}

uint32_t gtm_conf_zone(const gtm_conf_t *c, const char *name)
{
	return gtm_name_index_find(&c->ix_zones, name);
}

/* A check that no endpoint and no service names probes nothing: most likely
 * a misspelt or forgotten reference.  `list` is the checks setting, whose
 * entries are conf->checks in order (nothing was dropped: no errors). */
static void checks_warn(ctx_t *x, const config_setting_t *list)
{
	const gtm_conf_t *c = x->conf;
	for (size_t k = 0; list && k < c->nchecks; k++) {
		bool used = false;
		for (size_t i = 0; i < c->nservices && !used; i++) {
			const gtm_service_t *svc = &c->services[i];
			used = svc->check == k;
			for (size_t j = 0; j < svc->nendpoints && !used; j++)
				used = svc->endpoints[j].check == k;
		}
		if (!used)
			conf_warn(x, config_setting_get_elem(list, (unsigned)k),
			          "check %s is named by no endpoint and no service (it probes nothing)", c->checks[k].name);
	}
}

gtm_conf_t *gtm_conf_load(const char *path, gtm_diag_t *diag)
{
	ctx_t x = { .path = path };
	config_t cfg;
	gtm_conf_t *c = NULL;
	char *dir = NULL;

	/* libconfig says only "file I/O error"; say which. */
	FILE *fp = fopen(path, "r");
	struct stat st;
	if (fp == NULL || fstat(fileno(fp), &st) != 0 || S_ISDIR(st.st_mode)) {
		gtm_diag_add(diag, path, 0, "cannot open (%s)", fp ? strerror(EISDIR) : strerror(errno));
		if (fp)
			fclose(fp);
		return NULL;
	}
	fclose(fp);

	config_init(&cfg);
	/* @include "x.conf" is relative to the config file's folder. */
	const char *slash = strrchr(path, '/');
	if (slash) {
		dir = gtm_xasprintf("%.*s", slash == path ? 1 : (int)(slash - path), path);
		config_set_include_dir(&cfg, dir);
		x.dir = dir;
	}
	if (!config_read_file(&cfg, path)) {
		const char *f = config_error_file(&cfg);
		char *full = NULL;
		if (f && strcmp(f, path) != 0 && f[0] != '/' && dir)
			f = full = gtm_xasprintf("%s/%s", dir, f);
		gtm_diag_add(diag, f ? f : path, config_error_line(&cfg), "%s", config_error_text(&cfg));
		free(full);
		goto finish;
	}

	c = gtm_xcalloc(1, sizeof(*c));
	c->path = gtm_xstrdup(path);
	defaults(c);
	x.conf = c;
	conf_file_index(&x, path);

	config_setting_t *root = config_root_setting(&cfg);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		bool known = false;
		for (const struct section *sec = sections; sec->name; sec++)
			known |= strcmp(sec->name, config_setting_name(s)) == 0;
		if (!known)
			conf_err(&x, s, "unknown top-level key '%s'", config_setting_name(s));
	}
	for (const struct section *sec = sections; sec->name; sec++) {
		config_setting_t *s = config_setting_get_member(root, sec->name);
		if (s)
			sec->load(&x, s);
	}
	if (config_setting_get_member(root, "zones") == NULL)
		conf_err(&x, NULL, "no zones configured (zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );)");

	/* Whether a check is used is only known once every service loaded. */
	if (x.nerrs == 0)
		checks_warn(&x, config_setting_get_member(root, "checks"));
	if (x.nerrs == 0)
		freeze(c);
	else {
		gtm_conf_free(c);
		c = NULL;
	}
finish:
	conf_ctx_flush(&x, diag);
	config_destroy(&cfg);
	free(dir);
	return c;
}

void gtm_conf_free(gtm_conf_t *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->listen);
	free(c->nsid);
	for (size_t i = 0; i < c->nzones; i++)
		zone_free(&c->zones[i]);
	free(c->zones);
	for (size_t i = 0; i < c->ncities; i++)
		city_free(&c->cities[i]);
	free(c->cities);
	for (size_t i = 0; i < c->nsites; i++)
		site_free(&c->sites[i]);
	free(c->sites);
	for (size_t i = 0; i < c->nservices; i++)
		service_free(&c->services[i]);
	free(c->services);
	geo_conf_free(&c->geo);
	for (size_t i = 0; i < c->nchecks; i++)
		conf_check_free(&c->checks[i]);
	free(c->checks);
	free(c->health.state_file);
	conf_control_free(c);
	conf_metrics_free(c);
	conf_cluster_free(c);
	free(c->user);
	gtm_conf_index_clear(c);
	free(c);
}

/* ------------------------------------------------------------------------ */
/* Listen addresses                                                         */

static bool parse_port(const char *s, uint16_t *port)
{
	if (*s == '\0' || strlen(s) > 5)
		return false;
	unsigned v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* An IPv6 address with an optional zone ("fe80::1%eth0"). */
static bool parse_v6(const char *s, struct sockaddr_in6 *sin6)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	char *pct = strchr(buf, '%');
	if (pct) {
		*pct++ = '\0';
		if (*pct == '\0')
			return false;
		unsigned idx = if_nametoindex(pct);
		if (idx == 0) {
			char *e;
			unsigned long n = strtoul(pct, &e, 10);
			if (*e != '\0' || n == 0 || n > UINT32_MAX)
				return false;
			idx = (unsigned)n;
		}
		sin6->sin6_scope_id = idx;
	}
	return inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1;
}

int gtm_listen_parse(const char *s, uint16_t default_port, gtm_listen_t *out)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	uint16_t port = default_port;
	gtm_listen_t l;
	memset(&l, 0, sizeof(l));

	if (s == NULL || strlen(s) >= sizeof(host))
		return GTM_EINVAL;
	if (s[0] == '[') {
		/* "[v6]" or "[v6]:port" */
		const char *close = strchr(s, ']');
		if (close == NULL)
			return GTM_EINVAL;
		size_t n = (size_t)(close - s - 1);
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (close[1] == ':') {
			if (!parse_port(close + 2, &port))
				return GTM_EINVAL;
		} else if (close[1] != '\0')
			return GTM_EINVAL;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l.addr;
		if (!parse_v6(host, sin6))
			return GTM_EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		l.len = sizeof(*sin6);
	} else if (strchr(s, ':') == strrchr(s, ':')) {
		/* "v4" or "v4:port" (at most one colon) */
		strcpy(host, s);
		char *colon = strchr(host, ':');
		if (colon) {
			*colon = '\0';
			if (!parse_port(colon + 1, &port))
				return GTM_EINVAL;
		}
		struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return GTM_EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		l.len = sizeof(*sin);
	} else {
		/* a bare IPv6 address: "::1" */
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l.addr;
		if (!parse_v6(s, sin6))
			return GTM_EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		l.len = sizeof(*sin6);
	}
	if (port == 0)
		return GTM_EINVAL;
	*out = l;
	return 0;
}
