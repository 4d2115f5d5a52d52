/*
 * From a checked configuration to snapshots the DNS workers can serve:
 * zones from their files, service names marked in the zone tree, the GeoIP
 * database and city map, and the answer plan (gtm/core/controller.c) compiled to
 * wire fragments.  Control thread, at start and at every reload; a reload
 * that fails here leaves the running snapshot alone.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "dns/plan.h"
#include "dns/zone.h"
#include "geo/db.h"
#include "geo/map.h"
#include "geo/tree.h"
#include "gtm/core/build.h"
#include "gtm/core/gen.h"

void gtm_build_opts(const gtm_conf_t *conf, dns_opts_t *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->udp_max = conf->edns_udp_size;
	opts->ecs = conf->geo.ecs;
	opts->n_ecs_trusted = conf->geo.n_ecs_trusted;
	memcpy(opts->ecs_trusted, conf->geo.ecs_trusted,
	       conf->geo.n_ecs_trusted * sizeof(opts->ecs_trusted[0]));
	if (conf->nsid == NULL)
		return;
	if (strcmp(conf->nsid, "hostname") == 0) {
		/* Resolved at every build, so that a reload picks up a new host
		 * name.  gethostname() may leave the name unterminated when it
		 * is truncated; the buffer is one byte longer than the cap. */
		char host[DNS_NSID_MAX + 1] = { 0 };
		if (gethostname(host, DNS_NSID_MAX) != 0) {
			log_warn("server, nsid hostname unavailable, NSID off");
			return;
		}
		size_t n = strnlen(host, DNS_NSID_MAX);
		memcpy(opts->nsid, host, n);
		opts->nsid_len = (uint8_t)n;
		return;
	}
	size_t n = strlen(conf->nsid);
	if (n > DNS_NSID_MAX)   /* the loader refuses it; stay safe */
		n = DNS_NSID_MAX;
	memcpy(opts->nsid, conf->nsid, n);
	opts->nsid_len = (uint8_t)n;
}

/* What a database file looked like on disk, to recognise one that failed. */
typedef struct file_sig {
	bool ok;                   /* stat() worked */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
} file_sig_t;

struct gtm_build {
	const gtm_conf_t *conf;    /* borrowed */
	dns_zoneset_t *zones;      /* one reference */
	geo_db_t *db;              /* one reference; NULL: no database */
	geo_map_t *map;            /* one reference; NULL: no cities */
	geo_tree_t *tree;          /* one reference; db and map translated; NULL iff map is */
	bool failed;               /* the last reopen failed on files like these: */
	file_sig_t failed_sig[2];
	bool *failopen;            /* per service: fails open in the last snapshot */
	gtm_build_stats_t stats;
};

static void file_sig_read(const char *path, file_sig_t *sig)
{
	struct stat st;
	memset(sig, 0, sizeof(*sig));
	if (path == NULL || stat(path, &st) != 0)
		return;
	*sig = (file_sig_t){ true, st.st_dev, st.st_ino, st.st_size, st.st_mtim };
}

static bool file_sig_eq(const file_sig_t *a, const file_sig_t *b)
{
	return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static geo_db_t *open_db(const gtm_conf_t *conf, gtm_diag_t *diag)
{
	geo_fields_t fields;
	gtm_geo_fields(&conf->geo, &fields);
	return geo_db_open(conf->geo.db, conf->geo.db_v6, &fields, diag);
}

typedef int (*map_add_fn_t)(geo_map_t *m, const char *key, const uint16_t *cities, size_t n,
                            gtm_diag_t *diag, const char *file, int line);

/* The map of the cities, rules and default order.  The loader has checked
 * every rule against the same geo/ functions, so errors here would be a
 * bug; they are reported all the same. */
static geo_map_t *build_map(const gtm_conf_t *conf, gtm_diag_t *diag)
{
	static const map_add_fn_t add[] = {
		[GTM_GEO_CIDR] = geo_map_add_cidr,
		[GTM_GEO_COUNTRY] = geo_map_add_country,
		[GTM_GEO_CONTINENT] = geo_map_add_continent,
		[GTM_GEO_SUBDIVISION] = geo_map_add_subdivision,
	};
	if (conf->ncities == 0)
		return NULL;
	geo_point_t *pts = gtm_xcalloc(conf->ncities, sizeof(*pts));
	for (size_t i = 0; i < conf->ncities; i++)
		pts[i] = (geo_point_t){ conf->cities[i].lat, conf->cities[i].lon };
	geo_map_t *m = geo_map_new("geo.maps", pts, conf->ncities, diag);
	free(pts);
	if (m == NULL)
		return NULL;
	int rc = 0;
	for (size_t i = 0; i < conf->geo.nrules; i++) {
		const gtm_geo_rule_t *r = &conf->geo.rules[i];
		if (add[r->kind](m, r->key, r->cities, r->ncities, diag, conf->path, r->line) != 0)
			rc = GTM_EINVAL;
	}
	if (conf->geo.ndefault_order > 0 &&
	    geo_map_set_default(m, conf->geo.default_order, conf->geo.ndefault_order, diag,
	                        conf->path, conf->geo.default_line) != 0)
		rc = GTM_EINVAL;
	if (rc != 0) {
		geo_map_unref(m);
		return NULL;
	}
	return m;
}

static dns_zoneset_t *build_zones(const gtm_conf_t *conf, gtm_diag_t *diag)
{
	dns_zoneset_t *zs = dns_zoneset_new();
	size_t errors = diag->count;
	int rc = 0;

	for (size_t i = 0; i < conf->nzones; i++) {
		int r = dns_zoneset_add_zone(zs, conf->zones[i].name, conf->zones[i].file, diag);
		if (r != 0)
			rc = r;
	}
	/* A zone that did not load would make every service in it look like
	 * "outside every zone": report the zone problems alone. */
	if (rc != 0 || diag->count > errors)
		goto fail;

	for (size_t i = 0; i < conf->nservices; i++) {
		int r = dns_zoneset_add_service(zs, conf->services[i].name, (uint32_t)i,
		                                conf->path, conf->services[i].line, diag);
		if (r != 0)
			rc = r;
	}
	if (rc != 0 || diag->count > errors)
		goto fail;

	rc = dns_zoneset_freeze(zs, diag);
	if (rc != 0 || diag->count > errors)
		goto fail;
	return zs;
fail:
	/* Every failure must say why; the dns module always does, but a
	 * silent refusal would be the worst message of all. */
	if (diag->count == errors)
		gtm_diag_add(diag, conf->path, 0, "cannot build the zones (%s)",
		             gtm_strerror(rc ? rc : GTM_EINVAL));
	dns_zoneset_unref(zs);
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether `a` and `b` give the same geo map and tree from the same files:
 * the database paths and fields, the cities' coordinates, the rules and
 * the default order.  (Names and sites do not enter the map: it speaks
 * city indices.) */
static bool geo_inputs_equal(const gtm_conf_t *a, const gtm_conf_t *b)
{
	const gtm_geo_conf_t *ga = &a->geo, *gb = &b->geo;
	if (!str_eq(ga->db, gb->db) || !str_eq(ga->db_v6, gb->db_v6) || ga->schema != gb->schema)
		return false;
	for (int i = 0; i < GTM_GEO_NFIELDS; i++)
		if (!str_eq(ga->fields[i], gb->fields[i]))
			return false;
	if (a->ncities != b->ncities || ga->nrules != gb->nrules || ga->ndefault_order != gb->ndefault_order)
		return false;
	for (size_t i = 0; i < a->ncities; i++)
		if (a->cities[i].lat != b->cities[i].lat || a->cities[i].lon != b->cities[i].lon)
			return false;
	for (size_t i = 0; i < ga->nrules; i++) {
		const gtm_geo_rule_t *x = &ga->rules[i], *y = &gb->rules[i];
		if (x->kind != y->kind || !str_eq(x->key, y->key) || x->ncities != y->ncities ||
		    memcmp(x->cities, y->cities, x->ncities * sizeof(*x->cities)) != 0)
			return false;
	}
	return ga->ndefault_order == 0 ||
	       memcmp(ga->default_order, gb->default_order, ga->ndefault_order * sizeof(*ga->default_order)) == 0;
}

gtm_build_t *gtm_build_new(const gtm_conf_t *conf, gtm_diag_t *diag)
{
	return gtm_build_new_from(conf, NULL, diag);
}

gtm_build_t *gtm_build_new_from(const gtm_conf_t *conf, const gtm_build_t *prev, gtm_diag_t *diag)
{
	gtm_build_t *b = gtm_xcalloc(1, sizeof(*b));
	size_t errors = diag->count;
	b->conf = conf;
	b->failopen = gtm_xcalloc(conf->nservices ? conf->nservices : 1, sizeof(*b->failopen));
	b->zones = build_zones(conf, diag);
	/* A reload whose database files (dev, inode, size, mtime) and map
	 * inputs are unchanged keeps the running database, map and tree:
	 * translating the GeoLite2 City database again would cost most of
	 * the reload's time and, with the old tree alive, its memory peak. */
	if (b->zones != NULL && prev != NULL && prev->map != NULL && geo_inputs_equal(prev->conf, conf) &&
	    (prev->db == NULL || !geo_db_changed(prev->db))) {
		if ((b->db = prev->db) != NULL)
			geo_db_ref(b->db);
		b->map = prev->map;
		geo_map_ref(b->map);
		b->tree = prev->tree;
		geo_tree_ref(b->tree);
		log_info("reload, GeoIP database and city map unchanged, kept");
		return b;
	}
	/* The database is checked even when a zone failed, so that one run of
	 * gtmd -t reports both. */
	if (conf->geo.db != NULL)
		b->db = open_db(conf, diag);
	b->map = build_map(conf, diag);
	if (b->zones == NULL || (conf->geo.db != NULL && b->db == NULL) ||
	    (conf->ncities > 0 && b->map == NULL) || diag->count > errors) {
		if (diag->count == errors)
			gtm_diag_add(diag, conf->path, 0, "cannot build the snapshot");
		gtm_build_free(b);
		return NULL;
	}
	/* What the query path reads: the database and the map translated
	 * into one prefix tree (geo/tree.h). */
	if (b->map != NULL && (b->tree = geo_tree_new(b->db, b->map, diag)) == NULL) {
		gtm_build_free(b);
		return NULL;
	}
	return b;
}

void gtm_build_free(gtm_build_t *b)
{
	if (b == NULL)
		return;
	dns_zoneset_unref(b->zones);
	geo_db_unref(b->db);
	geo_map_unref(b->map);
	geo_tree_unref(b->tree);
	free(b->failopen);
	free(b);
}

dns_snapshot_t *gtm_build_snapshot(gtm_build_t *b, const gtm_health_t *health)
{
	const gtm_conf_t *conf = b->conf;
	bool *now = gtm_xcalloc(conf->nservices ? conf->nservices : 1, sizeof(*now));
	dns_plan_t *plan = gtm_controller_plan_report(conf, health, now);
	return gtm_build_snapshot_plan(b, plan, now);
}

/* What a service at its last resort answers, for the log line. */
static void last_resort_text(const gtm_service_t *svc, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	switch (svc->last_resort) {
	case GTM_LAST_RESORT_OPEN:
		/* A global service fails open inside its master city (the
		 * controller's plan_last_resort): writes never split. */
		snprintf(buf, len, "%s",
		         svc->policy == GTM_POLICY_GLOBAL ? "answering every endpoint of its master city (fail open)"
		                                          : "answering every endpoint (fail open)");
		break;
	case GTM_LAST_RESORT_CLOSED:
		snprintf(buf, len, "answering NODATA (fail closed)");
		break;
	case GTM_LAST_RESORT_ADDRESS:
		inet_ntop(svc->lr_family, &svc->lr_addr, addr, sizeof(addr));
		snprintf(buf, len, "answering the last-resort address %s", addr);
		break;
	}
}

dns_snapshot_t *gtm_build_snapshot_plan(gtm_build_t *b, dns_plan_t *plan, bool *now)
{
	const gtm_conf_t *conf = b->conf;
	dns_opts_t opts;
	gtm_build_opts(conf, &opts);
	/* Fail open is said once when a service enters it and once when it
	 * leaves, not at every rebuild: a flapping fleet rebuilds often. */
	uint32_t n = 0;
	for (size_t i = 0; i < conf->nservices; i++) {
		n += now[i];
		if (now[i] == b->failopen[i])
			continue;
		if (now[i]) {
			char what[128];
			last_resort_text(&conf->services[i], what, sizeof(what));
			b->stats.failopen_entered++;
			log_warn("service %s, no serving site, %s", conf->services[i].name, what);
		} else {
			b->stats.failopen_left++;
			log_warn("service %s, serving again, %s over", conf->services[i].name,
			         conf->services[i].last_resort == GTM_LAST_RESORT_OPEN ? "fail open" : "last resort");
		}
	}
	free(b->failopen);
	b->failopen = now;
	b->stats.failopen_now = n;
	b->stats.snapshots++;
	dns_snapshot_t *snap = dns_snapshot_new(b->zones, plan, &opts);
	dns_snapshot_set_geo(snap, b->db, b->map, b->tree);
	return snap;
}

void gtm_build_inherit(gtm_build_t *b, const gtm_build_t *old, const gtm_remap_t *map)
{
	if (old == NULL)
		return;
	b->stats = old->stats;
	b->stats.failopen_now = 0;
	for (size_t i = 0; i < b->conf->nservices; i++) {
		uint32_t o = map->service_old[i];
		if (o != GTM_REMAP_NONE) {
			b->failopen[i] = old->failopen[o];
			b->stats.failopen_now += old->failopen[o];
		}
	}
}

void gtm_build_stats(const gtm_build_t *b, gtm_build_stats_t *out)
{
	*out = b->stats;
}

bool gtm_build_failopen(const gtm_build_t *b, size_t service)
{
	return service < b->conf->nservices && b->failopen[service];
}

bool gtm_build_geo_changed(const gtm_build_t *b)
{
	if (b->db == NULL || !geo_db_changed(b->db))
		return false;
	if (!b->failed)
		return true;
	file_sig_t now[2];
	file_sig_read(b->conf->geo.db, &now[0]);
	file_sig_read(b->conf->geo.db_v6, &now[1]);
	return !file_sig_eq(&now[0], &b->failed_sig[0]) || !file_sig_eq(&now[1], &b->failed_sig[1]);
}

int gtm_build_reopen_geo(gtm_build_t *b, gtm_diag_t *diag)
{
	if (b->conf->geo.db == NULL)
		return 0;
	/* Read the files' state before opening, so that a file replaced
	 * while it is opened is tried again at the next poll. */
	file_sig_t sig[2];
	file_sig_read(b->conf->geo.db, &sig[0]);
	file_sig_read(b->conf->geo.db_v6, &sig[1]);
	size_t errors = diag->count;
	geo_db_t *db = open_db(b->conf, diag);
	geo_tree_t *tree = NULL;
	if (db != NULL && b->map != NULL && (tree = geo_tree_new(db, b->map, diag)) == NULL) {
		geo_db_unref(db);
		db = NULL;
	}
	if (db == NULL) {
		if (diag->count == errors)
			gtm_diag_add(diag, b->conf->geo.db, 0, "cannot open GeoIP database");
		b->failed = true;
		memcpy(b->failed_sig, sig, sizeof(sig));
		return GTM_EINVAL;
	}
	geo_db_unref(b->db);
	geo_tree_unref(b->tree);
	b->db = db;
	b->tree = tree;
	b->failed = false;
	return 0;
}

int gtm_build_describe_geo(const gtm_build_t *b, char *buf, size_t len)
{
	if (b->db == NULL)
		return snprintf(buf, len, "none");
	return geo_db_describe(b->db, buf, len);
}
