/*
 * libFuzzer target for the query path: every input is a DNS query handed to
 * dns_answer() over UDP and over TCP (with the largest and with the smallest
 * buffer the contract allows), and to dns_query_parse(), with ldns as the
 * reference reader of the same bytes.
 *
 * Invariants on each response:
 *   - its length is at most the room given (and DNS_TCP_MAX over TCP);
 *   - it is empty only for a runt or a packet with QR=1, and never empty
 *     otherwise;
 *   - when not empty, ldns_wire2pkt() reads it, QR=1, the ID and the opcode
 *     are the query's, a question in it is the query's question byte for
 *     byte;
 *   - over UDP it fits snap->opts.udp_max, fits 512 bytes when it carries no
 *     OPT, carries no OPT and fits 512 bytes when the query had none, and
 *     fits the client's EDNS size (raised to 512) otherwise;
 *   - an ECS option in it (RFC 7871) is well formed, its SCOPE is at most its
 *     SOURCE PREFIX-LENGTH, and its FAMILY, SOURCE PREFIX-LENGTH and ADDRESS
 *     are those of the query's one ECS option; a query without ECS gets an
 *     answer without ECS.
 *
 * Parser against ldns: when ldns reads the input as a well-formed query
 * (see reference_read() for the exact conditions and the differences we
 * make on purpose), our parser must accept it with the same question and
 * EDNS fields, and the answer must not be FORMERR.  Conversely, a query
 * that our parser accepts and that holds nothing but a question and an
 * uncompressed OPT must be readable by ldns.
 *
 * The snapshot is built once, from the zone file in GTM_FUZZ_ZONE or the
 * compiled-in tests/fuzz/example.com.zone, with www.example.com as a
 * steered service (DNS_PLAN_GEO over four cities, weighted sites, ECS on)
 * located in the GeoIP fixture database (GTM_FUZZ_GEO, else the one the
 * build generated; without it every client is unlocated); it is never
 * published (dns_answer() takes it directly).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "common/diag.h"
#include "dns/answer.h"
#include "dns/plan.h"
#include "dns/snapshot.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "geo/db.h"
#include "geo/map.h"

#ifndef GTM_FUZZ_ZONE_DEFAULT
#define GTM_FUZZ_ZONE_DEFAULT "tests/fuzz/example.com.zone"
#endif
#ifndef GTM_FUZZ_GEO_DEFAULT
#define GTM_FUZZ_GEO_DEFAULT "build/tests/geo/geoip2-city.mmdb"
#endif

#define FUZZ_UDP_MAX 1232
#define FUZZ_NSID "fuzz-ns1"
#define UDP_PLAIN_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

/*
 * ldns 1.8.3 leaks inside ldns_wire2pkt() on some inputs (a second TSIG RR
 * in the additional section replaces the first without freeing it).  The
 * code under test never calls ldns on the query path, so every allocation
 * made in libldns belongs to the reference side; leaks there are not ours.
 */
const char *__lsan_default_suppressions(void)
{
	return "leak:libldns.so\n";
}

/* ... and without a report of the suppression after every leak check. */
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static dns_snapshot_t *snap;
static dns_ctx_t ctx;        /* a worker's: counters, rng, geo cache */
static uint8_t *buf_big;     /* exactly DNS_TCP_MAX bytes, so ASan sees overruns */
static uint8_t *buf_small;   /* exactly 512 bytes */
static struct sockaddr_in client;

static void fail(int line, const char *cond, const char *what)
{
	fprintf(stderr, "fuzz_query.c:%d: invariant broken: %s (%s)\n", line, what, cond);
	abort();
}

#define CHECK(cond, what) \
	do { \
		if (!(cond)) \
			fail(__LINE__, #cond, what); \
	} while (0)

static void setup_fail(const char *step, gtm_diag_t *diag)
{
	fprintf(stderr, "fuzz_query: %s failed\n", step);
	for (size_t i = 0; i < diag->count; i++)
		fprintf(stderr, "  %s\n", diag->msgs[i]);
	abort();
}

static void setup(void)
{
	gtm_diag_t diag = { 0 };
	const char *zone = getenv("GTM_FUZZ_ZONE");
	if (zone == NULL || *zone == '\0')
		zone = GTM_FUZZ_ZONE_DEFAULT;

	dns_zoneset_t *zs = dns_zoneset_new();
	if (zs == NULL)
		setup_fail("dns_zoneset_new", &diag);
	if (dns_zoneset_add_zone(zs, "example.com", zone, &diag) != 0)
		setup_fail("dns_zoneset_add_zone", &diag);
	if (dns_zoneset_add_service(zs, "www.example.com", 0, __FILE__, __LINE__, &diag) != 0)
		setup_fail("dns_zoneset_add_service", &diag);
	if (dns_zoneset_freeze(zs, &diag) != 0)
		setup_fail("dns_zoneset_freeze", &diag);

	struct in_addr a[2];
	struct in6_addr aaaa[2];
	inet_pton(AF_INET, "192.0.2.10", &a[0]);
	inet_pton(AF_INET, "192.0.2.20", &a[1]);
	inet_pton(AF_INET6, "2001:db8::10", &aaaa[0]);
	inet_pton(AF_INET6, "2001:db8::20", &aaaa[1]);
	dns_plan_t *plan = dns_plan_new(1);
	if (plan == NULL)
		setup_fail("dns_plan_new", &diag);
	/* Beijing, Frankfurt, Ashburn, São Paulo; Frankfurt not serving. */
	static const geo_point_t cities[4] = {
		{ 39.9042, 116.4074 }, { 50.1109, 8.6821 }, { 39.0438, -77.4874 },
		{ -23.5505, -46.6333 },
	};
	dns_plan_service_init(plan, 0, 30, DNS_PLAN_GEO, 4);
	for (uint16_t c = 0; c < 4; c++) {
		dns_plan_site_t sites[2] = {
			{ .weight = c == 1 ? 0 : 3, .a = &a[0], .na = 1, .aaaa = aaaa, .naaaa = c == 2 ? 0 : 1 },
			{ .weight = c == 1 ? 0 : 1, .a = &a[1], .na = 1, .aaaa = &aaaa[1], .naaaa = 1 },
		};
		dns_plan_choice_set(plan, 0, c, sites, 2);
	}
	dns_plan_site_t all = { .weight = 1, .a = a, .na = 2, .aaaa = aaaa, .naaaa = 2 };
	dns_plan_choice_set(plan, 0, DNS_PLAN_FALLBACK, &all, 1);

	dns_opts_t opts;
	memset(&opts, 0, sizeof(opts));
	opts.udp_max = FUZZ_UDP_MAX;
	opts.nsid_len = (uint8_t)strlen(FUZZ_NSID);
	memcpy(opts.nsid, FUZZ_NSID, opts.nsid_len);
	opts.ecs = true;

	snap = dns_snapshot_new(zs, plan, &opts);
	if (snap == NULL)
		setup_fail("dns_snapshot_new", &diag);
	dns_zoneset_unref(zs);   /* the snapshot holds its own reference */

	geo_map_t *map = geo_map_new("fuzz", cities, 4, &diag);
	if (map == NULL)
		setup_fail("geo_map_new", &diag);
	const char *geo = getenv("GTM_FUZZ_GEO");
	if (geo == NULL || *geo == '\0')
		geo = GTM_FUZZ_GEO_DEFAULT;
	geo_fields_t fields;
	geo_fields_preset("geoip2", &fields);
	geo_db_t *db = geo_db_open(geo, NULL, &fields, &diag);
	if (db == NULL)
		fprintf(stderr, "fuzz_query: no GeoIP database (%s): every client unlocated\n", geo);
	gtm_diag_clear(&diag);
	geo_tree_t *tree = geo_tree_new(db, map, &diag);
	if (tree == NULL)
		setup_fail("geo_tree_new", &diag);
	dns_snapshot_set_geo(snap, db, map, tree);
	geo_tree_unref(tree);
	geo_db_unref(db);
	geo_map_unref(map);
	dns_ctx_init(&ctx, 1);

	buf_big = malloc(DNS_TCP_MAX);
	buf_small = malloc(UDP_PLAIN_MAX);
	if (buf_big == NULL || buf_small == NULL)
		abort();
	client.sin_family = AF_INET;
	client.sin_port = htons(40000);
	inet_pton(AF_INET, "198.51.100.7", &client.sin_addr);
}

/* ---- the reference: what ldns makes of the query ------------------------ */

typedef struct ref {
	bool parsed;         /* ldns_wire2pkt() accepted the bytes */
	bool aligned;        /* ... and ldns ends every record where RDLENGTH says */
	unsigned opt_any;    /* OPT RRs in any section, counted when aligned */
	bool well_formed;    /* a query we must not answer FORMERR; fields below valid */
	bool has_opt;        /* well_formed and one OPT in the additional section */
	uint16_t qtype, qclass;
	uint8_t qname[DNS_NAME_MAX];
	size_t qname_len;
	uint16_t edns_udp;   /* raised to 512, as dns_query_t has it */
	uint8_t edns_version;
	bool edns_do;
	bool edns_nsid;
	/* ECS options in any OPT, counted when aligned; the first one's
	 * fields (as sent, unchecked). */
	unsigned ecs_any;
	uint16_t ecs_family;
	uint8_t ecs_source, ecs_scope;
	uint8_t ecs_addr[255];
	size_t ecs_alen;
} ref_t;

/*
 * Walks the name at pkt[pos] as our parser wants names outside the question:
 * labels of at most 63 bytes, pointers strictly backwards (before the
 * pointer itself).  ldns also follows forward pointers (bounded by a pointer
 * count); we refuse them on purpose, since a query has no reason to point
 * forwards and refusing them makes loops impossible.  Returns false for a
 * name we refuse; else *end is the offset after the name in the packet and
 * *wlen its uncompressed length.
 */
static bool name_walk(const uint8_t *pkt, size_t len, size_t pos, size_t *end, size_t *wlen)
{
	size_t total = 0;
	*end = 0;
	for (;;) {
		if (pos >= len)
			return false;
		uint8_t l = pkt[pos];
		if ((l & 0xC0) == 0xC0) {
			if (pos + 1 >= len)
				return false;
			size_t target = (size_t)(l & 0x3F) << 8 | pkt[pos + 1];
			if (target >= pos)
				return false;
			if (*end == 0)
				*end = pos + 2;
			pos = target;
			continue;
		}
		if (l & 0xC0)
			return false;
		total += 1 + (size_t)l;
		if (total > DNS_NAME_MAX)
			return false;
		if (l == 0)
			break;
		pos += 1 + (size_t)l;
	}
	if (*end == 0)
		*end = pos + 1;
	*wlen = total;
	return true;
}

/*
 * Is this ECS option (RFC 7871 6) one a server may accept?  FAMILY 1 or 2,
 * SOURCE PREFIX-LENGTH within the family, SCOPE 0 (queries), ADDRESS exactly
 * ceil(SOURCE / 8) octets with no bit set beyond SOURCE (7.1.2).  Written
 * from the RFC, apart from dns/wire.c.
 */
static bool ecs_ok(const uint8_t *o, size_t olen)
{
	if (olen < 4)
		return false;
	unsigned family = dns_get16(o), source = o[2], scope = o[3];
	unsigned max = family == 1 ? 32 : family == 2 ? 128 : 0;
	if (max == 0 || source > max || scope != 0 || olen - 4 != (source + 7) / 8)
		return false;
	for (unsigned bit = source; bit < (olen - 4) * 8; bit++)
		if (o[4 + bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

/* Notes the first ECS option seen anywhere (counted in r->ecs_any). */
static void ecs_note(ref_t *r, const uint8_t *o, size_t olen)
{
	if (r->ecs_any++ > 0 || olen < 4)
		return;
	r->ecs_family = dns_get16(o);
	r->ecs_source = o[2];
	r->ecs_scope = o[3];
	r->ecs_alen = olen - 4;
	memcpy(r->ecs_addr, o + 4, r->ecs_alen);
}

/*
 * Are the EDNS options in rd[0..rdlen) well-formed TLVs?  Notes NSID and
 * ECS; in an OPT of version 0 (`v0`), a malformed ECS or a second one makes
 * the options malformed (other versions get BADVERS, options unread).
 */
static bool options_walk(ref_t *r, const uint8_t *rd, size_t rdlen, bool v0)
{
	size_t pos = 0;
	unsigned ecs = 0;
	bool ok = true;
	while (pos < rdlen) {
		if (rdlen - pos < 4)
			return false;
		uint16_t code = dns_get16(rd + pos);
		uint16_t olen = dns_get16(rd + pos + 2);
		pos += 4;
		if (rdlen - pos < olen)
			return false;
		if (code == DNS_EDNS_NSID)
			r->edns_nsid = true;
		if (code == DNS_EDNS_ECS) {
			ecs_note(r, rd + pos, olen);
			if (v0 && (++ecs > 1 || !ecs_ok(rd + pos, olen)))
				ok = false;
		}
		pos += olen;
	}
	return ok;
}

/*
 * Reads the query with ldns and decides whether it is a well-formed query
 * that must not get FORMERR.  ldns_wire2pkt() must accept it; then every
 * record is read again with ldns_wire2rr(), as ldns_wire2pkt() does, so that
 * we know where ldns thinks each record ends.  Well-formed means: QR=0,
 * opcode QUERY, QDCOUNT=1, and
 *   - the QNAME holds no compression pointer (we refuse pointers in the
 *     question on purpose: there is nothing before it to point at) and the
 *     QTYPE is not OPT;
 *   - every other owner name uses backward pointers only (see name_walk);
 *   - ldns's reading of each RDATA ends exactly RDLENGTH bytes after it
 *     starts ("aligned": ldns parses RDATA by type and may stop short of
 *     RDLENGTH or run past it; we skip RDLENGTH bytes, as RFC 1035 says);
 *   - at most one OPT, in the additional section, owned by the root, with
 *     well-formed option TLVs;
 *   - no bytes after the last record (ldns ignores them, we refuse them).
 */
static void reference_read(const uint8_t *pkt, size_t len, ref_t *r)
{
	memset(r, 0, sizeof(*r));
	ldns_pkt *p = NULL;
	if (ldns_wire2pkt(&p, pkt, len) != LDNS_STATUS_OK)
		return;
	ldns_pkt_free(p);
	r->parsed = true;

	/* The header counts as sent (ldns_pkt_arcount() leaves OPT out). */
	bool qr = (pkt[2] & 0x80) != 0;
	unsigned opcode = (pkt[2] >> 3) & 0x0F;
	unsigned qd = dns_get16(pkt + 4), an = dns_get16(pkt + 6);
	unsigned ns = dns_get16(pkt + 8), ar = dns_get16(pkt + 10);
	bool ok = !qr && opcode == DNS_OPCODE_QUERY && qd == 1;
	size_t pos = DNS_HDR_LEN;
	ldns_rr *rr = NULL;

	for (unsigned i = 0; i < qd; i++) {
		if (i == 0) {
			for (size_t q = pos; q < len && pkt[q] != 0; q += 1 + (size_t)pkt[q])
				if (pkt[q] & 0xC0)
					ok = false;     /* pointer in the question */
		}
		if (ldns_wire2rr(&rr, pkt, len, &pos, LDNS_SECTION_QUESTION) != LDNS_STATUS_OK)
			return;             /* cannot happen: ldns_wire2pkt() did this */
		if (i == 0) {
			r->qtype = ldns_rr_get_type(rr);
			r->qclass = ldns_rr_get_class(rr);
			const ldns_rdf *owner = ldns_rr_owner(rr);
			r->qname_len = ldns_rdf_size(owner);
			if (r->qname_len > DNS_NAME_MAX)
				ok = false;
			else
				dns_name_lower(r->qname, ldns_rdf_data(owner), r->qname_len);
		}
		ldns_rr_free(rr);
	}
	if (r->qtype == DNS_TYPE_OPT)
		ok = false;

	unsigned total = an + ns + ar;
	bool opt_seen = false;
	for (unsigned i = 0; i < total; i++) {
		/* Where ldns ends the owner, hence where it finds RDLENGTH. */
		size_t end = pos;
		ldns_rdf *owner = NULL;
		if (ldns_wire2dname(&owner, pkt, len, &end) != LDNS_STATUS_OK)
			return;
		ldns_rdf_deep_free(owner);
		if (len - end < 10)
			return;
		uint16_t type = dns_get16(pkt + end);
		size_t rd = end + 10;
		size_t rdlen = dns_get16(pkt + end + 8);
		ldns_pkt_section sec = i < an ? LDNS_SECTION_ANSWER :
		                       i < an + ns ? LDNS_SECTION_AUTHORITY :
		                       LDNS_SECTION_ADDITIONAL;
		size_t start = pos;
		if (ldns_wire2rr(&rr, pkt, len, &pos, sec) != LDNS_STATUS_OK)
			return;
		ldns_rr_free(rr);
		if (pos != rd + rdlen)
			return;                 /* not aligned: nothing more to say */

		size_t oend, wlen;
		if (!name_walk(pkt, len, start, &oend, &wlen) || oend != end)
			ok = false;
		if (type == DNS_TYPE_OPT) {
			r->opt_any++;
			bool v0 = pkt[end + 5] == 0;
			if (!options_walk(r, pkt + rd, rdlen, v0) ||
			    sec != LDNS_SECTION_ADDITIONAL || opt_seen || wlen != 1)
				ok = false;
			opt_seen = true;
			r->edns_udp = dns_get16(pkt + end + 2);
			if (r->edns_udp < 512)
				r->edns_udp = 512;
			r->edns_version = pkt[end + 5];
			r->edns_do = (pkt[end + 6] & 0x80) != 0;
		}
	}
	r->aligned = true;
	if (pos != len)
		ok = false;
	r->well_formed = ok;
	r->has_opt = ok && opt_seen;
}

/* ---- checks -------------------------------------------------------------- */

static void check_parser(const uint8_t *pkt, size_t len, const ref_t *r)
{
	static dns_query_t q;   /* large: keep it off the stack */
	dns_parse_rc_t rc = dns_query_parse(&q, pkt, len);

	if (r->well_formed) {
		CHECK(rc == DNS_PARSE_OK || rc == DNS_PARSE_BADVERS,
		      "ldns reads a well-formed query that our parser refuses");
		CHECK(q.has_question, "question not read");
		CHECK(q.qtype == r->qtype && q.qclass == r->qclass, "QTYPE/QCLASS differ from ldns");
		CHECK(q.qname_len == r->qname_len && memcmp(q.qname, r->qname, r->qname_len) == 0,
		      "QNAME differs from ldns");
		CHECK(q.has_edns == r->has_opt, "EDNS presence differs from ldns");
		if (r->has_opt) {
			CHECK(q.edns_udp == r->edns_udp, "EDNS UDP size differs");
			CHECK(q.edns_version == r->edns_version, "EDNS version differs");
			CHECK(q.edns_do == r->edns_do, "DO bit differs");
			CHECK(q.edns_nsid == r->edns_nsid, "NSID request differs");
		}
		CHECK((rc == DNS_PARSE_BADVERS) == (r->has_opt && r->edns_version > 0),
		      "BADVERS without EDNS version > 0, or the reverse");
	}

	/* The reverse: what we accept, ldns must read, as long as the query is
	 * only a question and an uncompressed OPT (RDATA of other types is
	 * parsed by type in ldns and skipped by us; a pointer to offset 0 is
	 * refused by ldns and fine for us). */
	if (rc == DNS_PARSE_OK || rc == DNS_PARSE_BADVERS) {
		unsigned an = dns_get16(pkt + 6), ns = dns_get16(pkt + 8), ar = dns_get16(pkt + 10);
		size_t opt_at = DNS_HDR_LEN + q.question_len;
		bool simple = an == 0 && ns == 0 &&
		              (ar == 0 || (ar == 1 && q.has_edns && opt_at < len && pkt[opt_at] == 0));
		if (simple)
			CHECK(r->parsed, "our parser accepts a query ldns cannot read");
	}
}

/* The ECS option of a response, against the query's (see the top). */
static void check_ecs(const ldns_pkt *p, const ref_t *r)
{
	const ldns_rdf *d = ldns_pkt_edns(p) ? ldns_pkt_edns_data(p) : NULL;
	if (d == NULL) {
		return;
	}
	const uint8_t *o = ldns_rdf_data(d);
	size_t n = ldns_rdf_size(d), pos = 0;
	unsigned seen = 0;
	while (pos + 4 <= n) {
		uint16_t code = dns_get16(o + pos), olen = dns_get16(o + pos + 2);
		CHECK(pos + 4 + olen <= n, "response EDNS option runs past the OPT");
		if (code == DNS_EDNS_ECS) {
			const uint8_t *e = o + pos + 4;
			seen++;
			CHECK(olen >= 4, "response ECS shorter than 4 bytes");
			unsigned family = dns_get16(e), source = e[2], scope = e[3];
			CHECK(family == 1 || family == 2, "response ECS family");
			CHECK(source <= (family == 1 ? 32u : 128u), "response ECS source prefix");
			CHECK(olen - 4u == (source + 7) / 8, "response ECS address length");
			CHECK(scope <= source, "response ECS scope longer than the source prefix");
			if (r->aligned) {
				CHECK(r->ecs_any == 1, "ECS in the response to a query without one ECS");
				CHECK(family == r->ecs_family && source == r->ecs_source &&
				      olen - 4u == r->ecs_alen && memcmp(e + 4, r->ecs_addr, r->ecs_alen) == 0,
				      "response ECS differs from the query's");
			}
		}
		pos += 4 + (size_t)olen;
	}
	CHECK(pos == n, "response EDNS options malformed");
	CHECK(seen <= 1, "more than one ECS in the response");
}

static void check_response(const uint8_t *pkt, size_t len, const uint8_t *resp, size_t rlen,
                           size_t outmax, dns_transport_t tr, const ref_t *r)
{
	CHECK(rlen <= outmax, "response longer than outmax");
	CHECK(rlen <= DNS_TCP_MAX, "response longer than DNS_TCP_MAX");

	bool droppable = len < DNS_HDR_LEN || (pkt[2] & 0x80) != 0;
	if (rlen == 0) {
		CHECK(droppable, "a query (QR=0, full header) got no response");
		return;
	}
	CHECK(!droppable, "a runt or a response was answered");
	CHECK(rlen >= DNS_HDR_LEN, "response shorter than a header");

	ldns_pkt *p = NULL;
	ldns_status st = ldns_wire2pkt(&p, resp, rlen);
	if (st != LDNS_STATUS_OK) {
		fprintf(stderr, "ldns: %s\n", ldns_get_errorstr_by_id(st));
		CHECK(st == LDNS_STATUS_OK, "ldns cannot read the response");
	}
	CHECK((resp[2] & 0x80) != 0, "QR=0 in the response");
	CHECK(resp[0] == pkt[0] && resp[1] == pkt[1], "response ID differs from the query's");
	CHECK((resp[2] & 0x78) == (pkt[2] & 0x78), "response opcode differs from the query's");

	bool resp_opt = ldns_pkt_edns(p);
	check_ecs(p, r);
	unsigned rcode = (unsigned)ldns_pkt_get_rcode(p) |
	                 (resp_opt ? (unsigned)ldns_pkt_edns_extended_rcode(p) << 4 : 0u);
	unsigned qdcount = ldns_pkt_qdcount(p);
	ldns_pkt_free(p);

	/* A question in the response is the query's, byte for byte (case too). */
	CHECK(qdcount <= 1, "more than one question in the response");
	if (qdcount == 1) {
		size_t end, wlen;
		CHECK(name_walk(resp, rlen, DNS_HDR_LEN, &end, &wlen) && end == DNS_HDR_LEN + wlen,
		      "response question name compressed or malformed");
		size_t qlen = wlen + 4;
		CHECK(len >= DNS_HDR_LEN + qlen &&
		      memcmp(resp + DNS_HDR_LEN, pkt + DNS_HDR_LEN, qlen) == 0,
		      "response question is not the query's");
	}

	if (tr == DNS_TRANSPORT_UDP) {
		CHECK(rlen <= FUZZ_UDP_MAX, "UDP response longer than udp_max");
		if (!resp_opt)
			CHECK(rlen <= UDP_PLAIN_MAX, "UDP response without OPT longer than 512");
		if (r->aligned && r->opt_any == 0) {
			CHECK(!resp_opt, "OPT in the response to a query without OPT");
			CHECK(rlen <= UDP_PLAIN_MAX, "UDP response to a query without OPT longer than 512");
		}
		if (r->well_formed && r->has_opt)
			CHECK(rlen <= r->edns_udp, "UDP response longer than the client's EDNS size");
	}

	if (r->well_formed) {
		CHECK(rcode != DNS_RCODE_FORMERR, "FORMERR for a query ldns reads as well-formed");
		CHECK(qdcount == 1, "no question in the answer to a well-formed query");
		CHECK(resp_opt == r->has_opt, "OPT in the response differs from OPT in the query");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (snap == NULL)
		setup();

	ref_t r;
	reference_read(data, size, &r);
	if (size >= DNS_HDR_LEN)
		check_parser(data, size, &r);

	const struct sockaddr *sa = (const struct sockaddr *)&client;
	size_t n;

	n = dns_answer(snap, data, size, buf_big, DNS_TCP_MAX, DNS_TRANSPORT_UDP, sa, &ctx);
	check_response(data, size, buf_big, n, DNS_TCP_MAX, DNS_TRANSPORT_UDP, &r);

	n = dns_answer(snap, data, size, buf_big, DNS_TCP_MAX, DNS_TRANSPORT_TCP, sa, &ctx);
	check_response(data, size, buf_big, n, DNS_TCP_MAX, DNS_TRANSPORT_TCP, &r);

	n = dns_answer(snap, data, size, buf_small, UDP_PLAIN_MAX, DNS_TRANSPORT_TCP, sa, &ctx);
	check_response(data, size, buf_small, n, UDP_PLAIN_MAX, DNS_TRANSPORT_TCP, &r);

	n = dns_answer(snap, data, size, buf_small, UDP_PLAIN_MAX, DNS_TRANSPORT_UDP, sa, &ctx);
	check_response(data, size, buf_small, n, UDP_PLAIN_MAX, DNS_TRANSPORT_UDP, &r);
	return 0;
}
