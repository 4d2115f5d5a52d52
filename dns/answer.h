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

#include "dns/snapshot.h"
#include "dns/stats.h"

typedef enum dns_transport {
	DNS_TRANSPORT_UDP = 0,
	DNS_TRANSPORT_TCP = 1,
} dns_transport_t;

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
 * `client` is the source address (for geo in a later issue; may be NULL).
 * `st` is the calling worker's counters.
 *
 * Returns the response length, or 0 when the packet must be dropped
 * (QR=1, shorter than a header).  Thread-safe; `snap` is borrowed.
 */
size_t dns_answer(const dns_snapshot_t *snap, const uint8_t *pkt, size_t len,
                  uint8_t *out, size_t outmax, dns_transport_t transport,
                  const struct sockaddr *client, dns_stats_t *st);
