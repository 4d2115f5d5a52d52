/*
 * Helpers shared by the dns/ unit tests: a query builder that keeps the
 * name's case as written (dns_name_from_str lower-cases), and the path of
 * the test zone files.
 */
#pragma once

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GTM_DNS_TESTDATA
#define GTM_DNS_TESTDATA "tests/unit/dns/data"
#endif

/* "data/<file>" in a static buffer. */
static inline const char *tdata(const char *file)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%s", GTM_DNS_TESTDATA, file);
	return path;
}

/* Presentation name to wire, case kept, no escapes.  Returns the length. */
static inline size_t tname(const char *s, uint8_t *out)
{
	size_t pos = 0;
	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		out[pos++] = (uint8_t)l;
		memcpy(out + pos, s, l);
		pos += l;
		s += l;
		if (*s == '.')
			s++;
	}
	out[pos++] = 0;
	return pos;
}

typedef struct tq {
	uint16_t id;
	uint8_t flags1;        /* header byte 2; 0x01 = RD */
	uint8_t flags2;        /* header byte 3; 0x10 = CD */
	const char *name;
	uint16_t qtype;
	uint16_t qclass;       /* 0 means IN */
	bool edns;
	uint16_t udp;
	uint8_t version;
	bool do_bit;
	bool nsid;
	bool unknown_opt;      /* adds option 65001 with 3 bytes */
	/* "198.18.7.0/24" or "3fff:100::/32": adds an ECS option (RFC 7871)
	 * with that family and source prefix, scope 0, and the first
	 * ceil(prefix/8) bytes of the address as written (not masked). */
	const char *ecs;
	/* Raw option bytes appended to the OPT RDATA as they are. */
	const uint8_t *raw_opt;
	size_t raw_opt_len;
} tq_t;

/* Writes an ECS option for "addr/prefix" at out; returns its length, or 0
 * when the text does not parse.  `scope` is written as given. */
static inline size_t tq_ecs_option(const char *text, uint8_t scope, uint8_t *out)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	if (slash == NULL || (size_t)(slash - text) >= sizeof(addr))
		return 0;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	unsigned prefix = (unsigned)atoi(slash + 1);
	uint8_t bytes[16];
	uint16_t family;
	if (inet_pton(AF_INET, addr, bytes) == 1)
		family = 1;
	else if (inet_pton(AF_INET6, addr, bytes) == 1)
		family = 2;
	else
		return 0;
	size_t alen = (prefix + 7) / 8;
	out[0] = 0;
	out[1] = 8;
	out[2] = (uint8_t)((4 + alen) >> 8);
	out[3] = (uint8_t)(4 + alen);
	out[4] = 0;
	out[5] = (uint8_t)family;
	out[6] = (uint8_t)prefix;
	out[7] = scope;
	memcpy(out + 8, bytes, alen);
	return 8 + alen;
}

/* Writes the query into buf (>= 600 bytes); returns its length. */
static inline size_t tq_build(const tq_t *t, uint8_t *buf)
{
	size_t pos = 12;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(t->id >> 8);
	buf[1] = (uint8_t)t->id;
	buf[2] = t->flags1;
	buf[3] = t->flags2;
	buf[5] = 1;
	pos += tname(t->name, buf + pos);
	uint16_t qclass = t->qclass ? t->qclass : 1;
	buf[pos++] = (uint8_t)(t->qtype >> 8);
	buf[pos++] = (uint8_t)t->qtype;
	buf[pos++] = (uint8_t)(qclass >> 8);
	buf[pos++] = (uint8_t)qclass;
	if (t->edns) {
		buf[11] = 1;
		buf[pos++] = 0;                 /* root */
		buf[pos++] = 0;
		buf[pos++] = 41;
		buf[pos++] = (uint8_t)(t->udp >> 8);
		buf[pos++] = (uint8_t)t->udp;
		buf[pos++] = 0;                 /* extended rcode */
		buf[pos++] = t->version;
		buf[pos++] = t->do_bit ? 0x80 : 0;
		buf[pos++] = 0;
		size_t rdlen_at = pos;
		pos += 2;
		if (t->unknown_opt) {
			const uint8_t o[] = { 0xFD, 0xE9, 0, 3, 1, 2, 3 };
			memcpy(buf + pos, o, sizeof(o));
			pos += sizeof(o);
		}
		if (t->nsid) {
			const uint8_t o[] = { 0, 3, 0, 0 };
			memcpy(buf + pos, o, sizeof(o));
			pos += sizeof(o);
		}
		if (t->ecs != NULL)
			pos += tq_ecs_option(t->ecs, 0, buf + pos);
		if (t->raw_opt != NULL) {
			memcpy(buf + pos, t->raw_opt, t->raw_opt_len);
			pos += t->raw_opt_len;
		}
		size_t rdlen = pos - rdlen_at - 2;
		buf[rdlen_at] = (uint8_t)(rdlen >> 8);
		buf[rdlen_at + 1] = (uint8_t)rdlen;
	}
	return pos;
}
