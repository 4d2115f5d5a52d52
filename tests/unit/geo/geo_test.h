/*
 * Shared by the geo unit tests: the fixture networks that
 * tests/geo/gen-mmdb.pl writes (keep in step with its table and with
 * tests/geo/README.md), and helpers to open the fixture files.
 */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/diag.h"
#include "geo/db.h"

#ifndef GTM_GEO_FIXTURES
#error "GTM_GEO_FIXTURES must name the folder of the generated .mmdb files"
#endif

struct fixture_city {
	const char *name;
	const char *cc, *continent, *sub_geoip2, *sub_flat;
	double lat, lon;
	const char *v4;           /* an address inside the IPv4 network */
	unsigned v4_prefix;
	const char *v6;
	unsigned v6_prefix;
};

static const struct fixture_city fixture_cities[] = {
	{ "Beijing",   "CN", "AS", "BJ", "Beijing",   39.9042, 116.4074, "198.18.7.9",    16, "3fff:100:abcd::1",     32 },
	{ "Shanghai",  "CN", "AS", "SH", "Shanghai",  31.2304, 121.4737, "198.19.200.1",  16, "3fff:200::53",         32 },
	{ "Shenzhen",  "CN", "AS", "GD", "Guangdong", 22.5431, 114.0579, "100.64.5.5",    20, "2001:db8:100:1::1",    48 },
	{ "Guangzhou", "CN", "AS", "GD", "Guangdong", 23.1291, 113.2644, "100.64.20.20",  20, "2001:db8:200:ff::2",   48 },
	{ "Hangzhou",  "CN", "AS", "ZJ", "Zhejiang",  30.2741, 120.1551, "100.65.0.77",   24, "2001:db8:300::77",     48 },
	{ "Frankfurt", "DE", "EU", "HE", "Hesse",     50.1109,   8.6821, "192.0.2.10",    24, "3fff:300:1::10",       32 },
	{ "Ashburn",   "US", "NA", "VA", "Virginia",  39.0438, -77.4874, "198.51.100.20", 24, "3fff:400::20",         32 },
	{ "Tokyo",     "JP", "AS", "13", "Tokyo",     35.6762, 139.6503, "203.0.113.30",  24, "2001:db8:400:30::30",  48 },
	{ "Singapore", "SG", "AS", "01", "Central Singapore", 1.3521, 103.8198, "100.66.40.40", 16, "3fff:500::40",   32 },
	{ "São Paulo", "BR", "SA", "SP", "São Paulo", -23.5505, -46.6333, "100.67.3.50",  22, "2001:db8:500:50::50",  56 },
};
#define NFIXTURE_CITIES (sizeof(fixture_cities) / sizeof(fixture_cities[0]))

/* The country-only record (Germany, no location). */
#define FIXTURE_COUNTRY_ONLY_V4 "100.68.1.2"
#define FIXTURE_COUNTRY_ONLY_V6 "3fff:600::2"

static inline const char *fixture_path(const char *file)
{
	static char buf[4][512];
	static unsigned next;
	char *p = buf[next++ % 4];
	snprintf(p, sizeof(buf[0]), "%s/%s", GTM_GEO_FIXTURES, file);
	return p;
}

/* Fills a sockaddr_storage from a textual address; returns it as sockaddr. */
static inline const struct sockaddr *mkaddr(struct sockaddr_storage *ss, const char *text)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
	} else {
		fprintf(stderr, "bad test address %s\n", text);
		return NULL;
	}
	return (const struct sockaddr *)ss;
}

static inline void print_diag(const gtm_diag_t *d)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(stderr, "diag: %s\n", d->msgs[i]);
}

static inline geo_db_t *open_fixture(const char *preset, const char *f1, const char *f2)
{
	geo_fields_t fields;
	gtm_diag_t d = { 0 };
	if (geo_fields_preset(preset, &fields) != 0)
		return NULL;
	geo_db_t *db = geo_db_open(fixture_path(f1), f2 != NULL ? fixture_path(f2) : NULL, &fields, &d);
	print_diag(&d);
	gtm_diag_clear(&d);
	return db;
}
