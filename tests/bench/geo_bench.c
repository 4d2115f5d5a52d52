/*
 * geo_bench: the cost of translating the database into the geo tree
 * (geo_tree_new: time, nodes, regions, memory) and nanoseconds per
 * geo_db_lookup(), + geo_map_order() (the plain path, `gtmctl explain`),
 * geo_db_locate() alone, and geo_tree_order() (the query path), on one
 * core.  Not a test.
 *
 *   geo_bench flat   V4.mmdb V6.mmdb [N] [fixture]
 *   geo_bench geoip2 FILE.mmdb [N] [fixture]
 *
 * With "fixture" the clients are drawn from the fixture networks of
 * tests/geo/gen-mmdb.pl instead (so that they are found).
 *
 * Clients: N (default 2,000,000) lookups over a table of 65,536 addresses,
 * 80 % IPv4 drawn uniformly from 1.0.0.0–223.255.255.255 and 20 % IPv6
 * from 2400::/6 (where most allocations are) — a worst case for caches and
 * CPU caches alike, since real resolver populations repeat.  A second run
 * uses 1,024 distinct addresses (a hot set).  The map has 10 cities (the
 * fixture's) and a few rules of every kind.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/diag.h"
#include "geo/db.h"
#include "geo/map.h"
#include "geo/tree.h"

#define NADDR 65536

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	/* xorshift64*: enough for spreading addresses. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The fixture networks (tests/geo/README.md). */
static const struct { uint32_t v4; unsigned p4; uint16_t v6[3]; unsigned p6; } fixture_nets[] = {
	{ 0xc6120000, 16, { 0x3fff, 0x0100, 0 }, 32 }, { 0xc6130000, 16, { 0x3fff, 0x0200, 0 }, 32 },
	{ 0x64400000, 20, { 0x2001, 0x0db8, 0x0100 }, 48 }, { 0x64401000, 20, { 0x2001, 0x0db8, 0x0200 }, 48 },
	{ 0x64410000, 24, { 0x2001, 0x0db8, 0x0300 }, 48 }, { 0xc0000200, 24, { 0x3fff, 0x0300, 0 }, 32 },
	{ 0xc6336400, 24, { 0x3fff, 0x0400, 0 }, 32 }, { 0xcb007100, 24, { 0x2001, 0x0db8, 0x0400 }, 48 },
	{ 0x64420000, 16, { 0x3fff, 0x0500, 0 }, 32 }, { 0x64430000, 22, { 0x2001, 0x0db8, 0x0500 }, 56 },
};

static void fill_fixture(struct sockaddr_in6 *addrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&addrs[i], 0, sizeof(addrs[i]));
		uint64_t r = next_rand();
		size_t k = (size_t)(r >> 32) % (sizeof(fixture_nets) / sizeof(fixture_nets[0]));
		if (r % 10 < 8) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&addrs[i];
			uint32_t host = (uint32_t)next_rand() & (0xffffffffu >> fixture_nets[k].p4);
			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl(fixture_nets[k].v4 | host);
		} else {
			addrs[i].sin6_family = AF_INET6;
			for (int b = 0; b < 16; b++)
				addrs[i].sin6_addr.s6_addr[b] = (uint8_t)next_rand();
			for (unsigned b = 0; b < fixture_nets[k].p6 / 8; b++)
				addrs[i].sin6_addr.s6_addr[b] = (uint8_t)(fixture_nets[k].v6[b / 2] >> (b % 2 ? 0 : 8));
		}
	}
}

static void fill(struct sockaddr_in6 *addrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&addrs[i], 0, sizeof(addrs[i]));
		uint64_t r = next_rand();
		if (r % 10 < 8) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&addrs[i];
			uint32_t a = (uint32_t)(1 + (r >> 8) % 223) << 24 | (uint32_t)(next_rand() & 0xffffff);
			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl(a);
		} else {
			addrs[i].sin6_family = AF_INET6;
			uint64_t hi = next_rand(), lo = next_rand();
			hi = (hi & 0x03ffffffffffffffull) | 0x2400000000000000ull;
			for (int b = 0; b < 8; b++) {
				addrs[i].sin6_addr.s6_addr[b] = (uint8_t)(hi >> (56 - 8 * b));
				addrs[i].sin6_addr.s6_addr[8 + b] = (uint8_t)(lo >> (56 - 8 * b));
			}
		}
	}
}

static const geo_point_t cities[] = {
	{ 39.9042, 116.4074 }, { 31.2304, 121.4737 }, { 22.5431, 114.0579 }, { 23.1291, 113.2644 },
	{ 30.2741, 120.1551 }, { 50.1109, 8.6821 },   { 39.0438, -77.4874 }, { 35.6762, 139.6503 },
	{ 1.3521, 103.8198 },  { -23.5505, -46.6333 },
};
#define NCITIES (sizeof(cities) / sizeof(cities[0]))

static void run(const char *label, const geo_db_t *db, const geo_map_t *m, const geo_tree_t *t,
                const struct sockaddr_in6 *addrs, size_t naddr, long n)
{
	geo_loc_t loc;
	uint16_t out[NCITIES];
	geo_order_info_t info;
	volatile unsigned sink = 0;
	long found = 0;

	/* Warm the page cache and the CPU caches. */
	for (size_t i = 0; i < naddr; i++) {
		geo_db_lookup(db, (const struct sockaddr *)&addrs[i], &loc);
		sink += geo_tree_order(t, (const struct sockaddr *)&addrs[i], NULL)[0];
	}

	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		geo_db_lookup(db, (const struct sockaddr *)&addrs[(size_t)i % naddr], &loc);
		found += loc.found;
		sink += loc.prefix;
	}
	double t1 = now_ns();
	for (long i = 0; i < n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[(size_t)i % naddr];
		geo_db_lookup(db, sa, &loc);
		geo_map_order(m, sa, &loc, out, &info);
		sink += out[0];
	}
	double t2 = now_ns();
	for (long i = 0; i < n; i++) {
		geo_db_locate(db, (const struct sockaddr *)&addrs[(size_t)i % naddr], &loc);
		sink += loc.prefix;
	}
	double t3 = now_ns();
	for (long i = 0; i < n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[(size_t)i % naddr];
		unsigned scope;
		sink += geo_tree_order(t, sa, &scope)[0] + scope;
	}
	double t4 = now_ns();
	printf("%-24s found %4.1f%%  lookup %4.0f  +order %4.0f  locate only %4.0f  tree %4.0f ns\n",
	       label, 100.0 * (double)found / (double)n,
	       (t1 - t0) / (double)n, (t2 - t1) / (double)n, (t3 - t2) / (double)n,
	       (t4 - t3) / (double)n);
	(void)sink;
}

/* Resident anonymous memory of this process, KiB (RssAnon), or -1. */
static long rss_anon_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	geo_fields_t fields;
	const char *p1, *p2 = NULL;
	long n = 2000000;
	int a = 2;

	if (argc < 3 || geo_fields_preset(argv[1], &fields) != 0) {
		fprintf(stderr, "usage: geo_bench flat V4.mmdb V6.mmdb [N] | geo_bench geoip2 FILE.mmdb [N]\n");
		return 2;
	}
	p1 = argv[a++];
	if (strcmp(argv[1], "flat") == 0) {
		if (argc < 4) {
			fprintf(stderr, "geo_bench: flat needs the v4 and v6 files\n");
			return 2;
		}
		p2 = argv[a++];
	}
	if (a < argc)
		n = atol(argv[a++]);
	bool fixture = a < argc && strcmp(argv[a], "fixture") == 0;

	gtm_diag_t d = { 0 };
	double t0 = now_ns();
	geo_db_t *db = geo_db_open(p1, p2, &fields, &d);
	double t1 = now_ns();
	for (size_t i = 0; i < d.count; i++)
		fprintf(stderr, "%s\n", d.msgs[i]);
	if (db == NULL)
		return 1;
	char desc[512];
	geo_db_describe(db, desc, sizeof(desc));
	printf("%s\nopen + check: %.2f ms\n", desc, (t1 - t0) / 1e6);

	geo_map_t *m = geo_map_new("bench", cities, NCITIES, &d);
	const uint16_t o1[] = { 5, 6 }, o2[] = { 8 }, o3[] = { 0, 1 };
	geo_map_add_cidr(m, "198.18.0.0/15", o1, 2, &d, NULL, 0);
	geo_map_add_cidr(m, "2001:db8::/32", o2, 1, &d, NULL, 0);
	geo_map_add_country(m, "KR", o3, 2, &d, NULL, 0);
	geo_map_add_country(m, "AU", o2, 1, &d, NULL, 0);
	geo_map_add_continent(m, "AF", o1, 2, &d, NULL, 0);
	geo_map_add_subdivision(m, "CN-BJ", o3, 2, &d, NULL, 0);

	long anon0 = rss_anon_kib();
	double b0 = now_ns();
	geo_tree_t *t = geo_tree_new(db, m, &d);
	double b1 = now_ns();
	if (t == NULL) {
		for (size_t i = 0; i < d.count; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		return 1;
	}
	geo_tree_stats_t st;
	geo_tree_get_stats(t, &st);
	printf("tree: %.0f ms, %llu nodes, %llu networks, %llu regions, %llu records, "
	       "%llu search nodes read, %zu KiB held, RssAnon %+ld KiB during the build\n",
	       (b1 - b0) / 1e6, (unsigned long long)st.nodes, (unsigned long long)st.leaves,
	       (unsigned long long)st.regions, (unsigned long long)st.records,
	       (unsigned long long)st.visits, st.bytes / 1024, rss_anon_kib() - anon0);

	static struct sockaddr_in6 addrs[NADDR];
	if (fixture)
		fill_fixture(addrs, NADDR);
	else
		fill(addrs, NADDR);
	run("random (65,536 clients)", db, m, t, addrs, NADDR, n);
	run("hot set (1,024 clients)", db, m, t, addrs, 1024, n);

	geo_tree_unref(t);
	geo_map_free(m);
	geo_db_free(db);
	gtm_diag_clear(&d);
	return 0;
}
