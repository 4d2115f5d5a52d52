/*
 * The snapshot: everything a DNS worker reads to answer, immutable once
 * published.  The control thread builds a new one on any change (config,
 * zones, health, admin state) and publishes it with one pointer swap under
 * liburcu (memb flavour); the old one is freed after a grace period.
 *
 * Workers:   dns_snapshot_read_lock(); s = dns_snapshot_current(); ...use s...
 *            dns_snapshot_read_unlock();   (once per batch of packets)
 *            Each worker thread calls dns_snapshot_thread_register() first.
 * Control:   dns_snapshot_publish(new);    (frees the previous one)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "dns/plan.h"
#include "dns/zone.h"
#include "geo/db.h"
#include "geo/map.h"
#include "geo/tree.h"

#define DNS_NSID_MAX 128
#define DNS_ECS_TRUSTED_MAX 64

/* A network allowed to send EDNS Client Subnet (server side of RFC 7871). */
typedef struct dns_net {
	uint8_t family;        /* AF_INET or AF_INET6 */
	uint8_t prefix;
	uint8_t addr[16];      /* network bytes, host bits zero */
} dns_net_t;

typedef struct dns_opts {
	/* EDNS UDP payload size we advertise, and the cap on any UDP answer
	 * whatever the client advertises (RFC 6891 6.2.5; default 1232 as the
	 * DNS flag day 2020 advises). 512..4096. */
	uint16_t udp_max;
	/* NSID (RFC 5001) payload; nsid_len 0 means not configured. */
	uint8_t nsid_len;
	uint8_t nsid[DNS_NSID_MAX];
	/* EDNS Client Subnet: when false the option is ignored (and not
	 * echoed) and clients are located by their source address. */
	bool ecs;
	/* Resolvers whose ECS we believe; 0 entries = every resolver.  ECS
	 * from others is ignored as when ecs is false. */
	uint16_t n_ecs_trusted;
	dns_net_t ecs_trusted[DNS_ECS_TRUSTED_MAX];
} dns_opts_t;

typedef struct dns_snapshot {
	uint64_t generation;
	dns_zoneset_t *zones;     /* shared between snapshots; one reference held */
	dns_plan_t *plan;         /* owned */
	geo_db_t *geo_db;         /* NULL: no database, every client unlocated; one reference held */
	geo_map_t *geo_map;       /* NULL only in tests without geo services; one reference held */
	/* The database and the map translated (geo_tree_new(geo_db, geo_map)):
	 * what the query path reads.  NULL exactly when geo_map is NULL; one
	 * reference held.  geo_db and geo_map stay for describing a client
	 * (`gtmctl explain`: geo_db_lookup + geo_map_order). */
	geo_tree_t *geo_tree;
	dns_opts_t opts;
} dns_snapshot_t;

/* Makes a snapshot.  Takes a reference on `zones` (dns_zoneset_ref) and
 * ownership of `plan`.  Control thread. */
dns_snapshot_t *dns_snapshot_new(dns_zoneset_t *zones, dns_plan_t *plan, const dns_opts_t *opts);

/* Attaches the GeoIP database, the city map and the tree built from them
 * (geo_tree_new(db, map); NULL exactly when map is NULL; db may be NULL),
 * taking a reference on each: all three are shared between snapshots, so
 * that a health flip rebuilds only the plan.  Control thread. */
void dns_snapshot_set_geo(dns_snapshot_t *s, geo_db_t *db, geo_map_t *map, geo_tree_t *tree);

/* Drops the zone and geo references, frees the plan and the snapshot.  NULL is a no-op. */
void dns_snapshot_free(dns_snapshot_t *s);

/* Makes `s` the current snapshot (its generation is set to the previous
 * one's + 1), waits for a grace period and frees the previous snapshot.
 * Control thread only; takes ownership of `s`. */
void dns_snapshot_publish(dns_snapshot_t *s);

/* Takes the current snapshot away (for shutdown), waits for readers, frees it. */
void dns_snapshot_retire(void);

/* Reader side.  A worker thread registers once, then brackets each batch. */
void dns_snapshot_thread_register(void);
void dns_snapshot_thread_unregister(void);
void dns_snapshot_read_lock(void);
void dns_snapshot_read_unlock(void);
/* The current snapshot, or NULL before the first publish.  Only valid
 * inside a read lock. */
const dns_snapshot_t *dns_snapshot_current(void);
