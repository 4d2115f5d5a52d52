/*
 * A small DNS client side: a query builder and a response reader, for
 * gtmctl explain (which runs the real answer path on a built query) and
 * tests.  Allocation-free; never on the query path of the server.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/snapshot.h"

/*
 * Writes into `pkt` (room for `max` bytes) a query with ID 0x4754, RD
 * clear, one question `qname` (wire form, `qlen` bytes, uncompressed)
 * of type `qtype`, class IN, and an OPT record (UDP size 1232) that holds
 * an EDNS Client Subnet option for `ecs` when it is not NULL (scope 0).
 * Returns the packet's length, or 0 when `max` is under qlen + 64.
 */
size_t dns_query_build(uint8_t *pkt, size_t max, const uint8_t *qname, size_t qlen, uint16_t qtype,
                       const dns_net_t *ecs);

/* What dns_response_parse() read. */
typedef struct dns_response {
	int rcode;         /* 0..15; -1: shorter than a header */
	size_t naddrs;     /* A/AAAA records in the answer section */
	bool has_ttl;
	uint32_t ttl;      /* of the last A/AAAA answer, when has_ttl */
	int scope;         /* ECS scope prefix length; -1 without the option */
} dns_response_t;

/* Called once per A (AF_INET, 4 bytes) or AAAA (AF_INET6, 16 bytes)
 * answer, in packet order. */
typedef void (*dns_response_addr_cb_t)(int family, const uint8_t *addr, void *arg);

/*
 * Reads response `pkt` of `len` bytes into `out`, calling `cb` (may be
 * NULL) per address answer.  A malformed record ends the reading: what
 * came before it is kept.  Returns 0, or -1 when shorter than a header.
 */
int dns_response_parse(const uint8_t *pkt, size_t len, dns_response_t *out,
                       dns_response_addr_cb_t cb, void *arg);
