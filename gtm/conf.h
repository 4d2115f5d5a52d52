/*
 * The configuration file (libconfig syntax), checked and turned into the
 * model: cities, sites, services and endpoints with names resolved to
 * indices, so that nothing downstream handles names.
 *
 * Loading runs parse -> validate -> freeze: every problem is collected with
 * "file:line: message" and reported together; a config with any error is
 * refused whole.  Control thread.  The reference of every key is
 * docs/gtm.conf.md (and later the gtm.conf(5) man page).
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/diag.h"
#include "dns/snapshot.h"

typedef struct gtm_listen {
	struct sockaddr_storage addr;
	socklen_t len;
} gtm_listen_t;

typedef struct gtm_zone_conf {
	char *name;      /* as written, e.g. "example.com" */
	char *file;      /* resolved against the config file's folder */
	int line;        /* where the zone is declared */
} gtm_zone_conf_t;

typedef struct gtm_city {
	char *name;
	double lat, lon; /* degrees; lat -90..90, lon -180..180 */
	int line;
} gtm_city_t;

typedef enum gtm_role {
	GTM_ROLE_ACTIVE = 0, /* serves by policy (default) */
	GTM_ROLE_BACKUP,     /* the remote disaster-recovery centre */
	GTM_ROLE_COLD,       /* cold standby: never gets traffic automatically */
} gtm_role_t;

typedef struct gtm_site {
	char *name;
	uint32_t city;       /* index into conf->cities */
	uint32_t weight;     /* share inside its city; default 100 */
	uint32_t capacity;   /* queries/s or any unit, same for all sites; default 0 = unknown */
	gtm_role_t role;
	int line;
} gtm_site_t;

typedef enum gtm_policy {
	GTM_POLICY_NEAREST = 0,
	GTM_POLICY_PRIMARY_BACKUP,
	GTM_POLICY_GLOBAL,
	GTM_POLICY_FAILOVER,
} gtm_policy_t;

typedef struct gtm_endpoint {
	uint32_t site;       /* index into conf->sites */
	int family;          /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	int line;
} gtm_endpoint_t;

typedef enum gtm_answer {
	GTM_ANSWER_ONE = 0,  /* one site per query, drawn by weight (default) */
	GTM_ANSWER_ALL,      /* every serving site's addresses */
} gtm_answer_t;

/* "No city": an unset primary/backup/master. */
#define GTM_NO_CITY UINT32_MAX

typedef struct gtm_service {
	char *name;          /* as written, e.g. "www.example.com" */
	gtm_policy_t policy;
	uint32_t ttl;        /* default 30 */
	gtm_answer_t answer; /* default GTM_ANSWER_ONE */
	gtm_endpoint_t *endpoints;  /* config order */
	size_t nendpoints;
	/* failover: sites (indices into conf->sites) in preference order; when
	 * `order` is not configured, the endpoints' sites in config order. */
	uint32_t *order;
	size_t norder;
	/* primary-backup: the primary city (default: the city of the first
	 * endpoint at an active site) and the backup city (GTM_NO_CITY: the
	 * service's backup-role sites, wherever they are).
	 * global: `master` (default as primary).  Indices into conf->cities;
	 * GTM_NO_CITY for the other policies. */
	uint32_t primary;
	uint32_t backup;
	uint32_t master;
	int line;
} gtm_service_t;

typedef enum gtm_geo_kind {
	GTM_GEO_CIDR = 0,
	GTM_GEO_COUNTRY,
	GTM_GEO_CONTINENT,
	GTM_GEO_SUBDIVISION,
} gtm_geo_kind_t;

/* One key of a geo.maps entry: "10.0.0.0/8" -> [beijing, shanghai]. */
typedef struct gtm_geo_rule {
	gtm_geo_kind_t kind;
	char *key;           /* as written: "10.0.0.0/8", "JP", "EU", "CN-GD" */
	uint16_t *cities;    /* indices into conf->cities, the rule's order */
	size_t ncities;
	int line;            /* the key's line */
} gtm_geo_rule_t;

/* Indices of geo_fields_t's paths in gtm_geo_conf_t.fields. */
enum { GTM_GEO_F_COUNTRY = 0, GTM_GEO_F_CONTINENT, GTM_GEO_F_SUBDIVISION,
       GTM_GEO_F_LATITUDE, GTM_GEO_F_LONGITUDE, GTM_GEO_NFIELDS };

typedef enum gtm_geo_schema {
	GTM_GEO_SCHEMA_GEOIP2 = 0,
	GTM_GEO_SCHEMA_FLAT,
} gtm_geo_schema_t;

/* The `geo` group.  Without it: no database (every client unlocated and
 * sent the default order, config order), ECS on from every resolver. */
typedef struct gtm_geo_conf {
	char *db;            /* resolved against the config's folder; NULL: none */
	char *db_v6;         /* the IPv6 file when two are given, else NULL */
	int db_line;
	gtm_geo_schema_t schema;
	/* Overrides of the schema's paths (geo.fields); NULL: the preset's,
	 * "": the database has no such field. */
	char *fields[GTM_GEO_NFIELDS];
	bool ecs;            /* default true */
	uint16_t n_ecs_trusted;  /* 0: every resolver */
	dns_net_t ecs_trusted[DNS_ECS_TRUSTED_MAX];
	uint16_t *default_order; /* cities first in the default order; may be partial */
	size_t ndefault_order;
	int default_line;
	gtm_geo_rule_t *rules;   /* in config order */
	size_t nrules;
} gtm_geo_conf_t;

typedef struct gtm_conf {
	char *path;                 /* the file loaded */

	gtm_listen_t *listen;       /* server.listen; default 127.0.0.1:53 and [::1]:53 */
	size_t nlisten;
	unsigned workers;           /* server.workers; default = online CPUs */
	uint16_t edns_udp_size;     /* server.edns_udp_size; default 1232, 512..4096 */
	char *nsid;                 /* server.nsid; NULL = off; "hostname" = gethostname() */
	unsigned tcp_idle_timeout_ms;  /* server.tcp_idle_timeout (s); default 10 s */
	unsigned tcp_max_clients;   /* server.tcp_max_clients; default 1000 */
	int udp_rcvbuf;             /* server.udp_rcvbuf (bytes); default 4 MiB */

	gtm_zone_conf_t *zones;
	size_t nzones;
	gtm_city_t *cities;
	size_t ncities;
	gtm_site_t *sites;
	size_t nsites;
	gtm_service_t *services;
	size_t nservices;
	gtm_geo_conf_t geo;
} gtm_conf_t;

/*
 * Reads and checks `path`.  Returns the model, or NULL with every problem
 * added to `diag` ("file:line: message").  Does not load zone files; see
 * gtm_build_new() for the rest of the check that `gtmd -t` runs.
 */
gtm_conf_t *gtm_conf_load(const char *path, gtm_diag_t *diag);

/* NULL is a no-op. */
void gtm_conf_free(gtm_conf_t *c);

/* The schema preset's paths with the geo.fields overrides applied.  The
 * strings are borrowed from `geo` (or static). */
void gtm_geo_fields(const gtm_geo_conf_t *geo, geo_fields_t *out);

/*
 * Parses a listen address: "127.0.0.1:53", "[::1]:5353", "127.0.0.1" or
 * "::1" (then port `default_port`).  Returns 0 or GTM_EINVAL.
 */
int gtm_listen_parse(const char *s, uint16_t default_port, gtm_listen_t *out);
