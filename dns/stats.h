/*
 * Per-worker DNS counters.  Each worker owns one dns_stats_t and is the only
 * writer (plain increments, no atomics on the query path); the control thread
 * sums them for metrics, accepting a slightly stale read.
 */
#pragma once

#include <stdint.h>

typedef struct dns_stats {
	uint64_t queries;     /* packets answered (drops excluded) */
	uint64_t udp;         /* answers sent over UDP */
	uint64_t tcp;         /* answers sent over TCP */
	uint64_t noerror;
	uint64_t nxdomain;
	uint64_t refused;
	uint64_t formerr;
	uint64_t servfail;
	uint64_t notimp;
	uint64_t badvers;
	uint64_t truncated;   /* UDP answers sent with TC=1 */
	uint64_t dropped;     /* packets not answered (QR=1, runt) */
	uint64_t edns;        /* queries that carried OPT */
	uint64_t ecs;         /* queries whose EDNS Client Subnet was used (and echoed) */
	uint64_t geo;         /* answers of a steered (DNS_PLAN_GEO) service: client located */
	uint64_t fallback;    /* service answers from the fallback: nothing serving (fail open) */
	uint64_t tcp_rejected;  /* TCP connections closed at once: over tcp_max_clients */
	uint64_t tcp_timeouts;  /* TCP connections closed for idleness */
} dns_stats_t;

/* Adds every counter of `b` into `a`. */
static inline void dns_stats_add(dns_stats_t *a, const dns_stats_t *b)
{
	uint64_t *pa = (uint64_t *)a;
	const uint64_t *pb = (const uint64_t *)b;
	for (unsigned i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
		pa[i] += pb[i];
}
