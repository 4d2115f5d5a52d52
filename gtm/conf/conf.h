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

#include "checks/check.h"
#include "common/diag.h"
#include "common/name.h"
#include "dns/snapshot.h"
#include "gtm/metrics/metrics.h"

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
	double demand;   /* the city's clients' load, in site capacity units; 0 = unknown
	                  * (nearest: capacity-aware spill needs it, controller.h) */
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
	/* Its index for the DNS workers' answer counters (dns_plan_site_t.site):
	 * the config index after loading; gtmd renumbers it so that a site keeps
	 * its counter across reloads (gtm/core/siteans.h). */
	uint16_t slot;
} gtm_site_t;

typedef enum gtm_policy {
	GTM_POLICY_NEAREST = 0,
	GTM_POLICY_PRIMARY_BACKUP,
	GTM_POLICY_GLOBAL,
	GTM_POLICY_FAILOVER,
} gtm_policy_t;

/* "No check": an unchecked endpoint (always up), a service without a
 * default check. */
#define GTM_NO_CHECK UINT32_MAX

typedef struct gtm_endpoint {
	uint32_t site;       /* index into conf->sites */
	int family;          /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	/* The check that proves it alive: index into conf->checks, resolved
	 * (the endpoint's own `check`, else the service's), or GTM_NO_CHECK
	 * (always up). */
	uint32_t check;
	/* Where the probe goes: check_address (as text, normalised) or the
	 * answered address; check_port, else the check's port (0: the check
	 * type's default, see chk_params_t.port). */
	char probe_addr[48];
	uint16_t probe_port;
	int line;
} gtm_endpoint_t;

typedef enum gtm_answer {
	GTM_ANSWER_ONE = 0,  /* one site per query, drawn by weight (default) */
	GTM_ANSWER_ALL,      /* every serving site's addresses */
} gtm_answer_t;

/* What a service answers when no choice serves (controller.h). */
typedef enum gtm_last_resort {
	GTM_LAST_RESORT_OPEN = 0,    /* every endpoint (default) */
	GTM_LAST_RESORT_CLOSED,      /* NODATA */
	GTM_LAST_RESORT_ADDRESS,     /* one fixed (disaster-recovery) address */
} gtm_last_resort_t;

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
	uint32_t check;      /* default check of its endpoints; GTM_NO_CHECK: none */
	uint32_t quorum;     /* endpoints up for a site to serve; default 1 */
	/* The controller's keys (controller.h). */
	double min_capacity; /* fraction of a city's capacity up for it to serve; default 0 */
	double trickle;      /* primary-backup: fraction (the key is a percentage) kept on
	                      * the backup while the primary serves; default 0 */
	gtm_last_resort_t last_resort;
	int lr_family;       /* GTM_LAST_RESORT_ADDRESS: AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} lr_addr;
	uint32_t degraded_ttl;   /* default min(ttl, 10) */
	bool auto_promote;   /* global: move the master automatically; default false */
	int line;
} gtm_service_t;

/*
 * A check (checks = ( { name = "web"; type = "http"; ... } )): the probe
 * parameters, ready for chk_target_add() once the port and address of an
 * endpoint are filled in.  Every string `params` points to is owned by the
 * gtm_check_t (freed with the configuration).
 */
typedef struct gtm_check {
	char *name;
	chk_params_t params;     /* params.name == name; durations in ms */
	/* What the loader read, kept for the key table (seconds). */
	double interval_s, timeout_s, recheck_s, jitter;
	char *source, *path, *host, *body, *ca_file, *qname, *answer;
	char **argv;             /* exec: NULL-terminated */
	bool valid;              /* chk_params_check() passed */
	int line;
} gtm_check_t;

typedef enum gtm_unknown {
	GTM_UNKNOWN_UP = 0,      /* a never-probed target counts as up (default) */
	GTM_UNKNOWN_WAIT,        /* not answered before its first verdict; gtmd waits
	                          * for the first round (at most unknown_wait) before
	                          * it starts answering */
} gtm_unknown_t;

/* The `health` group. */
typedef struct gtm_health_conf {
	char *state_file;        /* resolved against the config's folder; NULL: none */
	gtm_unknown_t unknown;
	double unknown_wait_s;   /* default 5 */
	uint32_t unknown_wait_ms;
} gtm_health_conf_t;

/* The `control` group (gtmctl's socket and the admin state).  Without
 * it there is no control socket; the controller runs all the same. */
typedef struct gtm_control_conf {
	bool enabled;            /* the group is present */
	char *socket;            /* default GTM_CTL_DEFAULT_SOCKET */
	char *mode_text;         /* as written, "0660" */
	uint32_t mode;           /* default 0660 */
	char *group;             /* NULL: gtmd's own */
	char *state_file;        /* resolved against the config's folder; NULL: not saved */
	char *history_file;      /* likewise; NULL: no history */
	uint32_t max_drained_sites;  /* 0: no limit (default) */
	double max_drained_capacity; /* fraction 0..1; default 0.5 */
} gtm_control_conf_t;

/* The `cluster` group (gtm/conf/conf_cluster.c): several gtmd nodes that share
 * the admin state and vote on health through etcd (gtm/cluster/cluster.h).
 * Without it the node stands alone (control.state_file). */
typedef struct gtm_cluster_conf {
	bool enabled;            /* the group is present */
	char *node;              /* this node's name: letters, digits, '.', '-', '_',
	                          * at most 63; default: the host name (gethostname) */
	char **etcd;             /* client URLs "http://HOST:PORT" or "https://HOST:PORT"
	                          * (at least one, no path, one scheme for all),
	                          * config order */
	size_t netcd;
	bool tls;                /* the URLs are https:// */
	char *ca_file;           /* https: the CA that signed etcd's certificates,
	                          * resolved against the config's folder; NULL:
	                          * the system's store */
	char *cert_file;         /* https: this node's client certificate (etcd's
	                          * --client-cert-auth) and its key; both or neither */
	char *key_file;
	char *prefix;            /* key prefix, starts and ends with '/'; default
	                          * "/gtm/" (a missing final '/' is added) */
	uint32_t lease_s;        /* TTL of this node's verdicts in etcd (whole
	                          * seconds, 2..300); default 5 */
	double timeout_s;        /* one etcd request; default 2, 0.1..60 */
	uint32_t timeout_ms;
	uint32_t health_quorum;  /* observers that must see a target down for it to
	                          * be down; 0 (default): a majority of the live
	                          * observers that have a verdict on it */
	uint32_t history_keep;   /* history records kept in etcd (the oldest go);
	                          * default 1000, 10..1000000 */
} gtm_cluster_conf_t;

/* The `controller` group. */
typedef struct gtm_controller_conf {
	double holddown_s;           /* default 60 */
	double failback_ramp_s;      /* default 120 */
	uint32_t holddown_ms, failback_ramp_ms;
	uint32_t failback_steps;     /* default 5 */
	uint32_t auto_evacuations_per_hour;  /* default 6; 0: no limit */
} gtm_controller_conf_t;

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
	char *user;                 /* server.user: the user a gtmd started as root
	                             * becomes after binding (gtm/daemon/daemon.h); NULL: none */

	gtm_zone_conf_t *zones;
	size_t nzones;
	gtm_city_t *cities;
	size_t ncities;
	gtm_site_t *sites;
	size_t nsites;
	gtm_service_t *services;
	size_t nservices;
	gtm_geo_conf_t geo;
	gtm_check_t *checks;        /* checks, config order */
	size_t nchecks;
	gtm_health_conf_t health;
	gtm_control_conf_t control;        /* the control group (gtm/conf/conf_control.c) */
	gtm_controller_conf_t controller;  /* the controller group (gtm/conf/conf_control.c) */
	gtm_metrics_conf_t metrics;  /* the metrics group (gtm/conf/conf_metrics.c) */
	gtm_cluster_conf_t cluster;  /* the cluster group (gtm/conf/conf_cluster.c) */

	/* Names to indices, built when the configuration is frozen: read them
	 * through gtm_conf_site() and friends, the one rule of common/name.h. */
	gtm_name_index_t ix_sites, ix_cities, ix_services, ix_checks, ix_zones;
} gtm_conf_t;

/*
 * Reads and checks `path`.  Returns the model, or NULL with every problem
 * added to `diag` ("file:line: message").  Warnings (traps the file most
 * likely does not mean: docs/gtm.conf.md, "Warnings") are added to `diag`
 * too, with its `warn` flag, whether or not it loads; they never make it
 * return NULL.  Does not load zone files; see
 * gtm_build_new() for the rest of the check that `gtmd -t` runs.
 */
gtm_conf_t *gtm_conf_load(const char *path, gtm_diag_t *diag);

/* NULL is a no-op. */
void gtm_conf_free(gtm_conf_t *c);

/*
 * Finding a configured object by name, in O(1), by the one rule of
 * common/name.h: services and zones are DNS names ("WWW.example.com." is
 * "www.example.com"), sites, cities and checks plain names (exact).  Each
 * returns the index into the configuration's array, or GTM_NAME_NONE.
 * Every lookup of an operator's or a file's name goes through these.
 */
uint32_t gtm_conf_site(const gtm_conf_t *c, const char *name);
/* (Re)builds the indices behind these look-ups: gtm_conf_load does it; a
 * configuration assembled by hand (tests) calls it once its arrays are
 * final, and gtm_conf_index_clear before freeing them itself. */
void gtm_conf_index(gtm_conf_t *c);
void gtm_conf_index_clear(gtm_conf_t *c);
uint32_t gtm_conf_city(const gtm_conf_t *c, const char *name);
uint32_t gtm_conf_service(const gtm_conf_t *c, const char *name);
uint32_t gtm_conf_check(const gtm_conf_t *c, const char *name);
uint32_t gtm_conf_zone(const gtm_conf_t *c, const char *name);

/*
 * Reload scope.  Every key of the key tables is either applied by a
 * reload (most) or read only when gtmd starts (KF_RESTART in the table:
 * server.listen, server.workers, server.user, the cluster group).  For each
 * restart-only key whose value differs between `old` and `conf`, calls
 * cb(key, arg) with the key's full name ("server.workers", "cluster.etcd").
 * Returns how many differ.
 */
typedef void (*gtm_conf_key_cb_t)(const char *key, void *arg);

/* What a restart-only key compares against is what gtmd runs with, which
 * is the configuration it started with: a copy of `c`'s restart-only keys
 * (everything else zero), to keep for the daemon's life and pass as `old`
 * below.  Free it with gtm_conf_free. */
gtm_conf_t *gtm_conf_restart_image(const gtm_conf_t *c);
size_t gtm_conf_restart_changes(const gtm_conf_t *old, const gtm_conf_t *conf, gtm_conf_key_cb_t cb,
                                void *arg);

/* The schema preset's paths with the geo.fields overrides applied.  The
 * strings are borrowed from `geo` (or static). */
void gtm_geo_fields(const gtm_geo_conf_t *geo, geo_fields_t *out);

/*
 * Parses a listen address: "127.0.0.1:53", "[::1]:5353", "127.0.0.1" or
 * "::1" (then port `default_port`).  Returns 0 or GTM_EINVAL.
 */
int gtm_listen_parse(const char *s, uint16_t default_port, gtm_listen_t *out);
