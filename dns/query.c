/*
 * A small DNS client side, for gtmctl explain and tests: builds a query
 * (with EDNS and an optional Client Subnet option) and reads a response's
 * rcode, A/AAAA answers, TTL and ECS scope.  See query.h.
 */
#include <string.h>
#include <sys/socket.h>

#include "dns/query.h"
#include "dns/wire.h"

size_t dns_query_build(uint8_t *pkt, size_t max, const uint8_t *qname, size_t qlen, uint16_t qtype,
                       const dns_net_t *ecs)
{
	if (qlen + 64 > max)
		return 0;
	memset(pkt, 0, DNS_HDR_LEN);
	dns_put16(pkt, 0x4754);
	dns_put16(pkt + 4, 1);
	dns_put16(pkt + 10, 1);
	size_t p = DNS_HDR_LEN;
	memcpy(pkt + p, qname, qlen);
	p += qlen;
	dns_put16(pkt + p, qtype);
	dns_put16(pkt + p + 2, 1);
	p += 4;
	pkt[p++] = 0;                     /* OPT owner: root */
	dns_put16(pkt + p, 41);
	dns_put16(pkt + p + 2, 1232);
	dns_put32(pkt + p + 4, 0);
	p += 8;
	size_t rdlen_at = p;
	p += 2;
	if (ecs) {
		size_t alen = (ecs->prefix + 7u) / 8u;
		dns_put16(pkt + p, 8);
		dns_put16(pkt + p + 2, (uint16_t)(4 + alen));
		dns_put16(pkt + p + 4, ecs->family == AF_INET ? 1 : 2);
		pkt[p + 6] = ecs->prefix;
		pkt[p + 7] = 0;
		memcpy(pkt + p + 8, ecs->addr, alen);
		p += 8 + alen;
	}
	dns_put16(pkt + rdlen_at, (uint16_t)(p - rdlen_at - 2));
	return p;
}

int dns_response_parse(const uint8_t *pkt, size_t len, dns_response_t *out,
                       dns_response_addr_cb_t cb, void *arg)
{
	memset(out, 0, sizeof(*out));
	out->scope = -1;
	if (len < DNS_HDR_LEN) {
		out->rcode = -1;
		return -1;
	}
	out->rcode = pkt[3] & 0x0f;
	unsigned qd = dns_get16(pkt + 4), an = dns_get16(pkt + 6), ns = dns_get16(pkt + 8),
	         ar = dns_get16(pkt + 10);
	size_t p = DNS_HDR_LEN;
	for (unsigned i = 0; i < qd && p; i++) {
		p = dns_name_skip(pkt, len, p, NULL);
		p = p && p + 4 <= len ? p + 4 : 0;
	}
	for (unsigned i = 0; i < an + ns + ar && p; i++) {
		p = dns_name_skip(pkt, len, p, NULL);
		if (p == 0 || p + 10 > len)
			break;
		uint16_t type = dns_get16(pkt + p), rdlen = dns_get16(pkt + p + 8);
		uint32_t ttl = dns_get32(pkt + p + 4);
		const uint8_t *rd = pkt + p + 10;
		if (p + 10 + rdlen > len)
			break;
		if (i < an && (type == DNS_TYPE_A || type == DNS_TYPE_AAAA)) {
			if ((type == DNS_TYPE_A && rdlen == 4) || (type == DNS_TYPE_AAAA && rdlen == 16)) {
				if (cb)
					cb(type == DNS_TYPE_A ? AF_INET : AF_INET6, rd, arg);
				out->naddrs++;
				out->has_ttl = true;
				out->ttl = ttl;
			}
		} else if (i >= an + ns && type == DNS_TYPE_OPT) {
			for (size_t o = 0; o + 4 <= rdlen;) {
				uint16_t code = dns_get16(rd + o), olen = dns_get16(rd + o + 2);
				if (code == 8 && olen >= 4 && o + 4 + olen <= rdlen)
					out->scope = rd[o + 7];
				o += 4 + (size_t)olen;
			}
		}
		p += 10 + rdlen;
	}
	return 0;
}
