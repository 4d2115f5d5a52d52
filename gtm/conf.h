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

typedef struct gtm_service {
	char *name;          /* as written, e.g. "www.example.com" */
	gtm_policy_t policy;
	uint32_t ttl;        /* default 30 */
	gtm_endpoint_t *endpoints;  /* config order */
	size_t nendpoints;
	int line;
} gtm_service_t;

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
} gtm_conf_t;

/*
 * Reads and checks `path`.  Returns the model, or NULL with every problem
 * added to `diag` ("file:line: message").  Does not load zone files; see
 * gtm_build_check() for the whole check that `gtmd -t` runs.
 */
gtm_conf_t *gtm_conf_load(const char *path, gtm_diag_t *diag);

/* NULL is a no-op. */
void gtm_conf_free(gtm_conf_t *c);

/*
 * Parses a listen address: "127.0.0.1:53", "[::1]:5353", "127.0.0.1" or
 * "::1" (then port `default_port`).  Returns 0 or GTM_EINVAL.
 */
int gtm_listen_parse(const char *s, uint16_t default_port, gtm_listen_t *out);
