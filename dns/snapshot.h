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

#include <stdint.h>

#include "dns/plan.h"
#include "dns/zone.h"

#define DNS_NSID_MAX 128

typedef struct dns_opts {
	/* EDNS UDP payload size we advertise, and the cap on any UDP answer
	 * whatever the client advertises (RFC 6891 6.2.5; default 1232 as the
	 * DNS flag day 2020 advises). 512..4096. */
	uint16_t udp_max;
	/* NSID (RFC 5001) payload; nsid_len 0 means not configured. */
	uint8_t nsid_len;
	uint8_t nsid[DNS_NSID_MAX];
} dns_opts_t;

typedef struct dns_snapshot {
	uint64_t generation;
	dns_zoneset_t *zones;     /* shared between snapshots; one reference held */
	dns_plan_t *plan;         /* owned */
	dns_opts_t opts;
} dns_snapshot_t;

/* Makes a snapshot.  Takes a reference on `zones` (dns_zoneset_ref) and
 * ownership of `plan`.  Control thread. */
dns_snapshot_t *dns_snapshot_new(dns_zoneset_t *zones, dns_plan_t *plan, const dns_opts_t *opts);

/* Drops the zone reference, frees the plan and the snapshot.  NULL is a no-op. */
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
