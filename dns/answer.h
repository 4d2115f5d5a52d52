/*
 * The answer path: one query in, one response out, from a snapshot.
 *
 * No allocation, no lock, no syscall: this runs in the DNS workers for
 * every packet.  Wire parsing is ours (dns/wire.h); ldns is load-time only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/plan.h"
#include "dns/snapshot.h"
#include "dns/stats.h"

typedef enum dns_transport {
	DNS_TRANSPORT_UDP = 0,
	DNS_TRANSPORT_TCP = 1,
} dns_transport_t;

/*
 * A worker's own state for answering: its counters and its random source
 * for weighted choices.  One per worker thread (or per test); never shared.
 * It holds no memory of its own.
 *
 * site_answers[i] counts the steered A/AAAA (and ANY) answers written with
 * the records of site index i (dns_plan_site_t.site): one for the site
 * drawn by weight, one for each site of an answer given whole (DNS_PLAN_ALL
 * or the fallback).  A truncated answer (TC=1) counts nothing.  8 KiB per
 * worker, so that counting is one plain increment.
 */
typedef struct dns_ctx {
	dns_stats_t stats;
	uint64_t rng;              /* xorshift64 state, never 0 */
	uint64_t site_answers[DNS_MAX_SITES];
} dns_ctx_t;

/* Adds ctx's first `n` (at most DNS_MAX_SITES) site counters into out[]
 * (dns_server_site_answers sums the workers with it). */
static inline void dns_ctx_site_answers_add(uint64_t *out, size_t n, const dns_ctx_t *ctx)
{
	if (n > DNS_MAX_SITES)
		n = DNS_MAX_SITES;
	for (size_t i = 0; i < n; i++)
		out[i] += ctx->site_answers[i];
}

/* Prepares `ctx`: counters zero, rng seeded from `seed`.  Not on the query
 * path. */
void dns_ctx_init(dns_ctx_t *ctx, uint64_t seed);

/* The largest response dns_answer() ever writes over TCP. */
#define DNS_TCP_MAX 65535

/*
 * Answers the query `pkt` (`len` bytes, as received) into `out`.
 *
 * `outmax` is the room in `out`.  Over UDP the response is further limited to
 * the client's EDNS payload size (512 without EDNS), capped at
 * snap->opts.udp_max; an answer that does not fit is truncated (TC=1, RFC 2181
 * 9).  Over TCP up to min(outmax, DNS_TCP_MAX).  `outmax` must be at least 512.
 *
 * `client` is the source address (NULL: unlocated).  A steered service is
 * answered for the location of the ECS subnet when the query carries one
 * from a trusted resolver (RFC 7871), else for `client`'s.
 * `ctx` is the calling worker's own state (counters, rng).
 *
 * Returns the response length, or 0 when the packet must be dropped
 * (QR=1, shorter than a header).  Thread-safe for distinct ctx; `snap` is
 * borrowed.
 */
size_t dns_answer(const dns_snapshot_t *snap, const uint8_t *pkt, size_t len,
                  uint8_t *out, size_t outmax, dns_transport_t transport,
                  const struct sockaddr *client, dns_ctx_t *ctx);
