/*
 * Unit tests of geo/db.c and geo/continent.c: field-path presets against
 * both fixture schemas, a lookup for every fixture city over IPv4 and IPv6,
 * prefix lengths, IPv4 in an IPv6 database, addresses in no network, and the
 * errors of geo_db_open().
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/errcode.h"
#include "geo/continent.h"
#include "geo/db.h"
#include "geo_test.h"

enum schema { GEOIP2, FLAT };

static void check_city(const geo_db_t *db, enum schema schema, const struct fixture_city *c,
                       bool v6, bool mapped)
{
	struct sockaddr_storage ss;
	geo_loc_t loc;
	char text[64];

	if (mapped)
		snprintf(text, sizeof(text), "::ffff:%s", c->v4);
	else
		snprintf(text, sizeof(text), "%s", v6 ? c->v6 : c->v4);
	assert_int_equal(geo_db_lookup(db, mkaddr(&ss, text), &loc), 0);
	if (!loc.found)
		fprintf(stderr, "%s (%s) not found\n", c->name, text);
	assert_true(loc.found);
	assert_true(loc.has_coords);
	assert_string_equal(loc.country, c->cc);
	assert_string_equal(loc.continent, c->continent);
	assert_string_equal(loc.subdivision, schema == GEOIP2 ? c->sub_geoip2 : c->sub_flat);
	/* The flat schema stores 32-bit floats. */
	assert_true(fabs(loc.lat - c->lat) < 1e-4);
	assert_true(fabs(loc.lon - c->lon) < 1e-4);
	assert_int_equal(loc.prefix, v6 ? c->v6_prefix : c->v4_prefix);
	assert_true(loc.key != 0);
}

static void test_presets(void **state)
{
	geo_fields_t f;
	assert_int_equal(geo_fields_preset("geoip2", &f), 0);
	assert_string_equal(f.country, "country/iso_code");
	assert_string_equal(f.continent, "continent/code");
	assert_string_equal(f.subdivision, "subdivisions/0/iso_code");
	assert_string_equal(f.latitude, "location/latitude");
	assert_string_equal(f.longitude, "location/longitude");
	assert_int_equal(geo_fields_preset("flat", &f), 0);
	assert_string_equal(f.country, "country_code");
	assert_null(f.continent);
	assert_string_equal(f.subdivision, "state1");
	assert_string_equal(f.latitude, "latitude");
	assert_string_equal(f.longitude, "longitude");
	assert_int_equal(geo_fields_preset("GeoIP2", &f), GTM_ENOENT);
	assert_int_equal(geo_fields_preset(NULL, &f), GTM_ENOENT);
}

static void test_geoip2_all_cities(void **state)
{
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	assert_non_null(db);
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		check_city(db, GEOIP2, &fixture_cities[i], false, false);
		check_city(db, GEOIP2, &fixture_cities[i], true, false);
		/* IPv4-mapped IPv6 is looked up as IPv4, with an IPv4 prefix. */
		check_city(db, GEOIP2, &fixture_cities[i], false, true);
	}
	geo_db_free(db);
}

static void test_flat_all_cities(void **state)
{
	geo_db_t *db = open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
	assert_non_null(db);
	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		check_city(db, FLAT, &fixture_cities[i], false, false);
		check_city(db, FLAT, &fixture_cities[i], true, false);
		check_city(db, FLAT, &fixture_cities[i], false, true);
	}
	geo_db_free(db);
}

/* The flat IPv4 file alone answers IPv4 and leaves IPv6 unlocated. */
static void test_flat_v4_only(void **state)
{
	struct sockaddr_storage ss;
	geo_loc_t loc;
	geo_db_t *db = open_fixture("flat", "flat-city-ipv4.mmdb", NULL);
	assert_non_null(db);
	check_city(db, FLAT, &fixture_cities[0], false, false);
	assert_int_equal(geo_db_lookup(db, mkaddr(&ss, fixture_cities[0].v6), &loc), 0);
	assert_false(loc.found);
	assert_int_equal(loc.prefix, 0);
	geo_db_free(db);
}

static void test_not_found(void **state)
{
	struct sockaddr_storage ss;
	geo_loc_t loc;
	const char *nowhere[] = { "192.0.0.1", "8.8.8.8", "2001:db8:ffff::1", "3fff:f00::1", "::1" };

	for (int s = 0; s < 2; s++) {
		geo_db_t *db = s == 0 ? open_fixture("geoip2", "geoip2-city.mmdb", NULL)
		                      : open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
		assert_non_null(db);
		for (size_t i = 0; i < sizeof(nowhere) / sizeof(nowhere[0]); i++) {
			memset(&loc, 0xa5, sizeof(loc));
			assert_int_equal(geo_db_lookup(db, mkaddr(&ss, nowhere[i]), &loc), 0);
			assert_false(loc.found);
			assert_false(loc.has_coords);
			assert_int_equal(loc.key, 0);
			assert_string_equal(loc.country, "");
			assert_true(loc.prefix <= (strchr(nowhere[i], ':') ? 128 : 32));
		}
		geo_db_free(db);
	}
}

/* A record with a country and no location: found, no coordinates. */
static void test_country_only(void **state)
{
	struct sockaddr_storage ss;
	geo_loc_t loc;

	for (int s = 0; s < 2; s++) {
		geo_db_t *db = s == 0 ? open_fixture("geoip2", "geoip2-city.mmdb", NULL)
		                      : open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
		assert_non_null(db);
		assert_int_equal(geo_db_lookup(db, mkaddr(&ss, FIXTURE_COUNTRY_ONLY_V4), &loc), 0);
		assert_true(loc.found);
		assert_false(loc.has_coords);
		assert_string_equal(loc.country, "DE");
		assert_string_equal(loc.continent, "EU");   /* derived from DE for "flat" */
		assert_string_equal(loc.subdivision, "");
		assert_int_equal(loc.prefix, 16);
		assert_int_equal(geo_db_lookup(db, mkaddr(&ss, FIXTURE_COUNTRY_ONLY_V6), &loc), 0);
		assert_true(loc.found);
		assert_string_equal(loc.country, "DE");
		assert_int_equal(loc.prefix, 32);
		geo_db_free(db);
	}
}

/* Same record → same key; different records, files or databases → not. */
static void test_keys(void **state)
{
	struct sockaddr_storage ss;
	geo_loc_t a, b;
	geo_db_t *db = open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
	geo_db_t *db2 = open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
	assert_non_null(db);
	assert_non_null(db2);
	assert_int_not_equal(geo_db_generation(db), geo_db_generation(db2));

	geo_db_lookup(db, mkaddr(&ss, "198.18.0.1"), &a);
	geo_db_lookup(db, mkaddr(&ss, "198.18.255.254"), &b);
	assert_true(a.key == b.key);
	geo_db_lookup(db, mkaddr(&ss, "198.19.0.1"), &b);
	assert_true(a.key != b.key);
	geo_db_lookup(db, mkaddr(&ss, "3fff:100::1"), &b);      /* Beijing, other file */
	assert_true(a.key != b.key);
	geo_db_lookup(db2, mkaddr(&ss, "198.18.0.1"), &b);      /* same record, other db */
	assert_true(a.key != b.key);
	geo_db_free(db);
	geo_db_free(db2);
}

/* geo_db_lookup() = geo_db_locate() + geo_db_fill(). */
static void test_locate_fill(void **state)
{
	struct sockaddr_storage ss;
	geo_loc_t full, part;
	geo_db_t *db = open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");
	geo_db_t *other = open_fixture("flat", "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb");

	for (size_t i = 0; i < NFIXTURE_CITIES; i++) {
		for (int v6 = 0; v6 < 2; v6++) {
			const struct sockaddr *sa = mkaddr(&ss, v6 ? fixture_cities[i].v6 : fixture_cities[i].v4);
			assert_int_equal(geo_db_lookup(db, sa, &full), 0);
			assert_int_equal(geo_db_locate(db, sa, &part), 0);
			assert_true(part.found);
			assert_true(part.key == full.key);
			assert_int_equal(part.prefix, full.prefix);
			assert_string_equal(part.country, "");
			assert_false(part.has_coords);
			/* A key from another database is not decoded. */
			geo_loc_t foreign = part;
			geo_db_fill(other, &foreign);
			assert_string_equal(foreign.country, "");
			geo_db_fill(db, &part);
			assert_memory_equal(&part, &full, sizeof(full));
		}
	}
	geo_db_free(db);
	geo_db_free(other);
}

static void test_bad_family(void **state)
{
	struct sockaddr sa;
	geo_loc_t loc;
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_int_equal(geo_db_lookup(db, &sa, &loc), GTM_EINVAL);
	assert_false(loc.found);
	geo_db_free(db);
}

static bool diag_has(const gtm_diag_t *d, const char *needle)
{
	for (size_t i = 0; i < d->count; i++)
		if (strstr(d->msgs[i], needle) != NULL)
			return true;
	return false;
}

static void expect_open_fails(const char *preset, const geo_fields_t *custom, const char *p1,
                              const char *p2, const char *needle)
{
	geo_fields_t f;
	gtm_diag_t d = { 0 };
	if (custom != NULL)
		f = *custom;
	else
		assert_int_equal(geo_fields_preset(preset, &f), 0);
	geo_db_t *db = geo_db_open(p1, p2, &f, &d);
	assert_null(db);
	assert_true(d.count > 0);
	if (!diag_has(&d, needle)) {
		print_diag(&d);
		fprintf(stderr, "expected a message containing '%s'\n", needle);
		fail();
	}
	gtm_diag_clear(&d);
}

static void test_open_errors(void **state)
{
	char missing[600];
	snprintf(missing, sizeof(missing), "%s", fixture_path("no-such-file.mmdb"));
	char want[700];
	snprintf(want, sizeof(want), "%s: cannot open GeoIP database (No such file or directory)", missing);
	expect_open_fails("geoip2", NULL, missing, NULL, want);

	/* Not an MMDB at all. */
	char junk[] = "/tmp/gtm-geo-junk-XXXXXX";
	int fd = mkstemp(junk);
	assert_true(fd >= 0);
	char bytes[4096];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (char)(i * 7 + 3);
	assert_int_equal(write(fd, bytes, sizeof(bytes)), (ssize_t)sizeof(bytes));
	close(fd);
	expect_open_fails("geoip2", NULL, junk, NULL, "not a usable MMDB database");
	unlink(junk);

	/* A real file cut short: the metadata is at the end, so it is gone. */
	char cut[] = "/tmp/gtm-geo-cut-XXXXXX";
	fd = mkstemp(cut);
	FILE *in = fopen(fixture_path("geoip2-city.mmdb"), "rb");
	assert_non_null(in);
	size_t n = fread(bytes, 1, 1000, in);
	fclose(in);
	assert_int_equal(write(fd, bytes, n), (ssize_t)n);
	close(fd);
	expect_open_fails("geoip2", NULL, cut, NULL, "not a usable MMDB database");
	unlink(cut);

	/* Wrong preset: the paths resolve nowhere. */
	expect_open_fails("geoip2", NULL, fixture_path("flat-city-ipv4.mmdb"), NULL,
	                  "field country: path 'country/iso_code' not found in any of");
	expect_open_fails("flat", NULL, fixture_path("geoip2-city.mmdb"), NULL,
	                  "field latitude: path 'latitude' not found");

	/* A path that resolves to a map, not a string. */
	geo_fields_t f;
	geo_fields_preset("geoip2", &f);
	f.country = "country";
	expect_open_fails(NULL, &f, fixture_path("geoip2-city.mmdb"), NULL,
	                  "field country: path 'country' holds a value of MMDB type 7");
	f.country = "country//iso_code";
	expect_open_fails(NULL, &f, fixture_path("geoip2-city.mmdb"), NULL, "bad path");
	geo_fields_preset("geoip2", &f);
	f.longitude = NULL;
	expect_open_fails(NULL, &f, fixture_path("geoip2-city.mmdb"), NULL, "configured together");

	/* An IPv4 file in the IPv6 place. */
	expect_open_fails("flat", NULL, fixture_path("flat-city-ipv4.mmdb"),
	                  fixture_path("flat-city-ipv4.mmdb"), "given as the IPv6 one");
}

/* Continent and subdivision are optional fields. */
static void test_optional_fields(void **state)
{
	struct sockaddr_storage ss;
	geo_loc_t loc;
	geo_fields_t f = { .country = "country/iso_code", .latitude = "location/latitude",
	                   .longitude = "location/longitude" };
	gtm_diag_t d = { 0 };
	geo_db_t *db = geo_db_open(fixture_path("geoip2-city.mmdb"), NULL, &f, &d);
	assert_non_null(db);
	assert_int_equal(d.count, 0);
	geo_db_lookup(db, mkaddr(&ss, "203.0.113.1"), &loc);
	assert_string_equal(loc.country, "JP");
	assert_string_equal(loc.continent, "AS");   /* derived */
	assert_string_equal(loc.subdivision, "");
	geo_db_free(db);

	/* A country-only configuration (no coordinates) opens too. */
	geo_fields_t c = { .country = "country/iso_code" };
	db = geo_db_open(fixture_path("geoip2-city.mmdb"), NULL, &c, &d);
	assert_non_null(db);
	geo_db_lookup(db, mkaddr(&ss, "203.0.113.1"), &loc);
	assert_true(loc.found);
	assert_false(loc.has_coords);
	geo_db_free(db);
}

static void test_changed_and_describe(void **state)
{
	char tmp[] = "/tmp/gtm-geo-copy-XXXXXX";
	int fd = mkstemp(tmp);
	assert_true(fd >= 0);
	FILE *in = fopen(fixture_path("geoip2-city.mmdb"), "rb");
	char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);

	geo_fields_t f;
	gtm_diag_t d = { 0 };
	geo_fields_preset("geoip2", &f);
	geo_db_t *db = geo_db_open(tmp, NULL, &f, &d);
	assert_non_null(db);
	assert_false(geo_db_changed(db));

	char text[512];
	int len = geo_db_describe(db, text, sizeof(text));
	assert_true(len > 0);
	assert_non_null(strstr(text, "(GeoIP2-City, IPv6, built 2023-11-14, "));
	/* Truncation is safe and reports the full length. */
	char small[8];
	assert_int_equal(geo_db_describe(db, small, sizeof(small)), len);
	assert_int_equal(strlen(small), 7);

	/* Replace the file as an update would: write a new one, rename over. */
	char tmp2[] = "/tmp/gtm-geo-copy2-XXXXXX";
	fd = mkstemp(tmp2);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
	assert_int_equal(rename(tmp2, tmp), 0);
	assert_true(geo_db_changed(db));
	unlink(tmp);
	assert_true(geo_db_changed(db));
	geo_db_free(db);
}

static void test_loc_format(void **state)
{
	struct sockaddr_storage ss;
	geo_loc_t loc;
	char text[128];
	geo_db_t *db = open_fixture("geoip2", "geoip2-city.mmdb", NULL);
	geo_db_lookup(db, mkaddr(&ss, "198.18.1.1"), &loc);
	geo_loc_format(&loc, text, sizeof(text));
	assert_string_equal(text, "CN/AS/BJ 39.9042,116.4074 /16");
	geo_db_lookup(db, mkaddr(&ss, FIXTURE_COUNTRY_ONLY_V4), &loc);
	geo_loc_format(&loc, text, sizeof(text));
	assert_string_equal(text, "DE/EU/- no coordinates /16");
	geo_db_lookup(db, mkaddr(&ss, "3fff:f00::1"), &loc);
	geo_loc_format(&loc, text, sizeof(text));
	assert_int_equal(strncmp(text, "not found /", 11), 0);
	geo_db_free(db);
}

static void test_continent_table(void **state)
{
	assert_string_equal(geo_continent_of_country("CN"), "AS");
	assert_string_equal(geo_continent_of_country("DE"), "EU");
	assert_string_equal(geo_continent_of_country("US"), "NA");
	assert_string_equal(geo_continent_of_country("BR"), "SA");
	assert_string_equal(geo_continent_of_country("AU"), "OC");
	assert_string_equal(geo_continent_of_country("ZA"), "AF");
	assert_string_equal(geo_continent_of_country("AQ"), "AN");
	assert_string_equal(geo_continent_of_country("AD"), "EU");   /* first */
	assert_string_equal(geo_continent_of_country("ZW"), "AF");   /* last */
	assert_string_equal(geo_continent_of_country("RU"), "EU");
	assert_string_equal(geo_continent_of_country("TR"), "AS");
	assert_null(geo_continent_of_country("XX"));
	assert_null(geo_continent_of_country("UK"));
	assert_null(geo_continent_of_country("cn"));
	assert_null(geo_continent_of_country("CNX"));
	assert_null(geo_continent_of_country("C"));
	assert_null(geo_continent_of_country(""));
	assert_null(geo_continent_of_country(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_geoip2_all_cities),
		cmocka_unit_test(test_flat_all_cities),
		cmocka_unit_test(test_flat_v4_only),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_country_only),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_locate_fill),
		cmocka_unit_test(test_bad_family),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_optional_fields),
		cmocka_unit_test(test_changed_and_describe),
		cmocka_unit_test(test_loc_format),
		cmocka_unit_test(test_continent_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
