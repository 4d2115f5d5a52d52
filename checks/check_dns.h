/*
 * dns probe: one query (qname, qtype, RD clear) to the target over UDP --
 * or TCP when asked -- that is up when the reply's rcode is the expected
 * one and, if an address is configured, an A or AAAA record of the answer
 * section holds it.  The reply must echo the query's id and question; over
 * UDP other datagrams are ignored, and an ICMP port unreachable counts as
 * a refused connection.
 *
 * A small wire reader of its own: checks/ depends on nothing in dns/.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "checks/check_int.h"

/* chk_dns_response_check() returns this for a datagram that is not the
 * reply to our query (wrong id or question). */
#define CHK_DNS_IGNORE (-1)

/* Writes a query for qname (text, trailing dot optional) and qtype, class
 * IN, into buf.  Returns its length, or GTM_EINVAL (bad name) /
 * GTM_ESPACE. */
int chk_dns_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *qname, uint16_t qtype);

/*
 * Judges reply `resp` to `query` (both wire format).  rcode: expected.
 * addr: expected address bytes (4 or 16, addr_len) or NULL for any.
 * Returns CHK_DNS_IGNORE, or a chk_reason_t (CHK_OK, CHK_FAIL_DNS_RCODE,
 * CHK_FAIL_DNS_ANSWER, CHK_FAIL_PROTOCOL).
 */
int chk_dns_response_check(const uint8_t *resp, size_t len, const uint8_t *query, size_t qlen,
                           uint8_t rcode, const uint8_t *addr, size_t addr_len);

/* Starts a dns probe of t (ops table entry). */
void chk_dns_start(chk_target_t *t);
