/*
 * Operator truth, as a property: for many random configurations, health
 * states and admin states (a seeded generator), what the preview says the
 * clients of each city get for each service (gtm/core/reach.h over the
 * controller's decision: their city's choice, the city they spill to, the
 * last resort) is what the published snapshot's answer path (dns_answer)
 * answers a client located in that city.  A preview that can diverge from
 * the answer path is a defect; this test keeps it from coming back.
 *
 * The clients are the GeoIP fixture's (tests/geo/README.md): the
 * configurations' cities are the fixture's, at the same coordinates, and
 * a query carries an ECS subnet inside that city's network.  Every service
 * answers "all" (the answer names every site it picked, so that sets can
 * be compared), IPv4 endpoints 10.<service>.<site>.1.
 *
 * GTM_TRUTH_CASES and GTM_TRUTH_SEED (environment) change the number of
 * cases and the first seed; a failure prints the seed and the
 * configuration, so that one case can be run again.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "dns/answer.h"
#include "dns/query.h"
#include "dns/snapshot.h"
#include "dns/wire.h"
#include "gtm/conf/conf.h"
#include "gtm/core/admin.h"
#include "gtm/core/build.h"
#include "gtm/core/controller.h"
#include "gtm/core/reach.h"
#include "tests/unit/gtm/gtm_test.h"

/* The fixture's cities: coordinates and a client subnet in each one's
 * network. */
static const struct {
	const char *name;
	double lat, lon;
	const char *net;
	uint8_t addr[4], prefix;
} cities[] = {
	{ "beijing", 39.9042, 116.4074, "198.18.7.0/24", { 198, 18, 7, 0 }, 24 },
	{ "shanghai", 31.2304, 121.4737, "198.19.200.0/24", { 198, 19, 200, 0 }, 24 },
	{ "shenzhen", 22.5431, 114.0579, "100.64.5.0/24", { 100, 64, 5, 0 }, 24 },
	{ "guangzhou", 23.1291, 113.2644, "100.64.20.0/24", { 100, 64, 20, 0 }, 24 },
	{ "hangzhou", 30.2741, 120.1551, "100.65.0.0/24", { 100, 65, 0, 0 }, 24 },
	{ "frankfurt", 50.1109, 8.6821, "192.0.2.0/24", { 192, 0, 2, 0 }, 24 },
	{ "ashburn", 39.0438, -77.4874, "198.51.100.0/24", { 198, 51, 100, 0 }, 24 },
	{ "tokyo", 35.6762, 139.6503, "203.0.113.0/24", { 203, 0, 113, 0 }, 24 },
	{ "singapore", 1.3521, 103.8198, "100.66.40.0/24", { 100, 66, 40, 0 }, 24 },
	{ "saopaulo", -23.5505, -46.6333, "100.67.3.0/24", { 100, 67, 3, 0 }, 24 },
};
#define NFIX (sizeof(cities) / sizeof(cities[0]))

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}
static bool chance(unsigned pct)
{
	return rnd(100) < pct;
}

typedef struct world {
	char text[32768];
	size_t len;
	unsigned ncity, city[6];      /* indices into cities[] */
	unsigned nsite, site_city[18];
	unsigned nsvc;
} world_t;

static void put(world_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(world_t *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w->text + w->len, sizeof(w->text) - w->len, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(w->text) - w->len);
	w->len += (size_t)n;
}

static const char *policies[] = { "nearest", "failover", "primary-backup", "global" };

/* A random configuration over the fixture's cities. */
static void make_world(world_t *w, const char *mmdb)
{
	memset(w, 0, sizeof(*w));
	put(w, "zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n");
	put(w, "geo = { databases = [ \"%s\" ]; };\n", mmdb);
	w->ncity = 2 + rnd(4);
	bool used[NFIX] = { false };
	put(w, "cities = (");
	for (unsigned i = 0; i < w->ncity; i++) {
		unsigned c;
		do
			c = rnd(NFIX);
		while (used[c]);
		used[c] = true;
		w->city[i] = c;
		put(w, "%s{ name = \"%s\"; lat = %.4f; lon = %.4f; }", i ? ", " : " ", cities[c].name, cities[c].lat,
		    cities[c].lon);
	}
	put(w, " );\nsites = (");
	bool caps = chance(50);
	for (unsigned i = 0; i < w->ncity; i++) {
		unsigned n = 1 + rnd(3);
		for (unsigned j = 0; j < n; j++) {
			unsigned s = w->nsite++;
			w->site_city[s] = i;
			const char *role = chance(80) ? "active" : chance(50) ? "backup" : "cold";
			put(w, "%s{ name = \"s%u\"; city = \"%s\"; weight = %u; role = \"%s\";", s ? ",\n  " : " ", s,
			    cities[w->city[i]].name, 1 + rnd(100), role);
			if (caps)
				put(w, " capacity = %u;", 10 + rnd(1000));
			put(w, " }");
		}
	}
	put(w, " );\nservices = (");
	w->nsvc = 1 + rnd(5);
	for (unsigned v = 0; v < w->nsvc; v++) {
		const char *pol = policies[rnd(4)];
		bool ep[18] = { false };
		unsigned nep = 0;
		for (unsigned s = 0; s < w->nsite; s++)
			if (chance(60)) {
				ep[s] = true;
				nep++;
			}
		if (nep == 0) {
			ep[rnd(w->nsite)] = true;
			nep = 1;
		}
		put(w, "%s{ name = \"v%u.example.com\"; policy = \"%s\"; answer = \"all\"; ttl = 30;", v ? ",\n  " : " ",
		    v, pol);
		put(w, " last_resort = \"%s\";", chance(70) ? "open" : "closed");
		if (chance(30))
			put(w, " min_capacity = 0.5;");
		/* primary-backup: primary and backup cities among its sites'; global: master */
		unsigned first = 0;
		while (!ep[first])
			first++;
		if (strcmp(pol, "primary-backup") == 0) {
			unsigned s2 = rnd(w->nsite);
			while (!ep[s2])
				s2 = (s2 + 1) % w->nsite;
			put(w, " primary = \"%s\";", cities[w->city[w->site_city[first]]].name);
			if (w->site_city[s2] != w->site_city[first] && chance(70))
				put(w, " backup = \"%s\";", cities[w->city[w->site_city[s2]]].name);
		} else if (strcmp(pol, "global") == 0) {
			unsigned s2 = rnd(w->nsite);
			while (!ep[s2])
				s2 = (s2 + 1) % w->nsite;
			put(w, " master = \"%s\";", cities[w->city[w->site_city[s2]]].name);
		} else if (strcmp(pol, "failover") == 0) {
			/* every site of its endpoints, in a random order */
			unsigned ord[18], n = 0;
			for (unsigned s = 0; s < w->nsite; s++)
				if (ep[s])
					ord[n++] = s;
			for (unsigned i = n; i > 1; i--) {
				unsigned j = rnd(i), t = ord[i - 1];
				ord[i - 1] = ord[j];
				ord[j] = t;
			}
			put(w, " order = [");
			for (unsigned i = 0; i < n; i++)
				put(w, "%s\"s%u\"", i ? ", " : " ", ord[i]);
			put(w, " ];");
		}
		put(w, "\n    endpoints = (");
		for (unsigned s = 0, k = 0; s < w->nsite; s++)
			if (ep[s])
				put(w, "%s{ site = \"s%u\"; addresses = [ \"10.%u.%u.1\" ]; }", k++ ? ", " : " ", s, v, s);
		put(w, " ); }");
	}
	put(w, " );\n");
}

/* The sites an answer names: bit s for 10.<svc>.<s>.1. */
typedef struct seen {
	uint32_t svc;
	uint64_t sites;
	bool other;      /* an address that is no endpoint of the service */
} seen_t;

static void on_addr(int family, const uint8_t *a, void *arg)
{
	seen_t *s = arg;
	if (family == AF_INET && a[0] == 10 && a[1] == s->svc && a[3] == 1 && a[2] < 64)
		s->sites |= 1ull << a[2];
	else
		s->other = true;
}

static void fail_case(uint64_t seed, const world_t *w, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_case(uint64_t seed, const world_t *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("seed %llu: %s\n--- configuration ---\n%s\n", (unsigned long long)seed, msg, w->text);
	fail();
}

static void one_case(uint64_t seed, const char *mmdb, unsigned *compared)
{
	rng = seed * 0x9E3779B97F4A7C15ull + 1;
	world_t *w = gtm_xcalloc(1, sizeof(*w));
	make_world(w, mmdb);
	char *path = write_file("truth.conf", w->text);
	gtm_diag_t d = { 0 };
	gtm_conf_t *conf = gtm_conf_load(path, &d);
	free(path);
	if (conf == NULL) {
		for (size_t i = 0; i < d.count; i++)
			print_error("%s\n", d.msgs[i]);
		fail_case(seed, w, "the generated configuration was refused");
	}
	gtm_diag_clear(&d);
	gtm_build_t *b = gtm_build_new(conf, &d);
	assert_non_null(b);
	gtm_diag_clear(&d);

	/* Health: each endpoint up three times in four. */
	bool **rows = gtm_xcalloc(conf->nservices, sizeof(*rows));
	for (size_t i = 0; i < conf->nservices; i++) {
		rows[i] = gtm_xcalloc(conf->services[i].nendpoints + 1, sizeof(bool));
		for (size_t e = 0; e < conf->services[i].nendpoints; e++)
			rows[i][e] = chance(75);
	}
	gtm_health_t h = { (const bool *const *)rows };
	/* Admin: some drains, evacuations, activations (forced: no rules). */
	uint64_t now = 1800000000000ull;
	gtm_admin_t *a = gtm_admin_new(conf, NULL, NULL);
	for (size_t s = 0; s < conf->nsites; s++) {
		gtm_admin_result_t res;
		gtm_admin_action_t act = { .op = GTM_ADMIN_DRAIN, .target = conf->sites[s].name, .force = true };
		if (chance(10)) {
			gtm_admin_apply(a, &act, now, NULL, NULL, &res);
			gtm_admin_result_clear(&res);
		}
		if (conf->sites[s].role == GTM_ROLE_COLD && chance(50)) {
			act.op = GTM_ADMIN_ACTIVATE;
			gtm_admin_apply(a, &act, now, NULL, NULL, &res);
			gtm_admin_result_clear(&res);
		}
	}
	for (size_t k = 0; k < conf->ncities; k++)
		if (chance(8)) {
			gtm_admin_result_t res;
			gtm_admin_action_t act = { .op = GTM_ADMIN_EVACUATE, .target = conf->cities[k].name, .force = true };
			gtm_admin_apply(a, &act, now, NULL, NULL, &res);
			gtm_admin_result_clear(&res);
		}
	gtm_admin_view_t *view = gtm_admin_view_new(a, now);
	gtm_controller_t *ctl = gtm_controller_new(conf);
	gtm_decision_t *dec = gtm_controller_update(ctl, &h, view, now);
	assert_non_null(dec->plan);
	bool *failopen = gtm_xcalloc(conf->nservices + 1, sizeof(bool));
	memcpy(failopen, dec->failopen, conf->nservices * sizeof(bool));
	dns_snapshot_t *snap = gtm_build_snapshot_plan(b, dec->plan, failopen);
	dec->plan = NULL;
	uint16_t *orders = gtm_reach_orders_new(conf, snap->geo_map);

	dns_ctx_t ctx;
	dns_ctx_init(&ctx, seed | 1);
	struct sockaddr_in client = { .sin_family = AF_INET, .sin_port = htons(53) };
	inet_pton(AF_INET, "127.0.0.1", &client.sin_addr);
	for (uint32_t v = 0; v < conf->nservices; v++) {
		uint8_t qname[DNS_NAME_MAX];
		size_t qlen = dns_name_from_str(conf->services[v].name, qname);
		assert_true(qlen > 0);
		for (uint32_t k = 0; k < conf->ncities; k++) {
			/* The preview's word for the clients of city k ... */
			gtm_reach_t r;
			gtm_reach(conf, dec, orders, v, k, &r);
			uint64_t want = 0;
			for (size_t i = 0; i < r.choice->n; i++)
				want |= 1ull << r.choice->shares[i].site;
			/* ... and the answer to one of them. */
			unsigned fix = 0;
			while (strcmp(cities[fix].name, conf->cities[k].name) != 0)
				fix++;
			dns_net_t net = { .family = AF_INET, .prefix = cities[fix].prefix };
			memcpy(net.addr, cities[fix].addr, 4);
			uint8_t pkt[512], out[4096];
			size_t plen = dns_query_build(pkt, sizeof(pkt), qname, qlen, 1, &net);
			size_t n = dns_answer(snap, pkt, plen, out, sizeof(out), DNS_TRANSPORT_UDP,
			                      (const struct sockaddr *)&client, &ctx);
			dns_response_t resp;
			seen_t got = { .svc = v };
			assert_int_equal(dns_response_parse(out, n, &resp, on_addr, &got), 0);
			if (resp.rcode != 0 || got.other)
				fail_case(seed, w, "%s for %s: rcode %d, foreign address %d", conf->services[v].name,
				          conf->cities[k].name, resp.rcode, got.other);
			if (got.sites != want) {
				char ws[128] = "", gs[128] = "";
				for (unsigned s = 0; s < 64; s++) {
					if (want & (1ull << s))
						snprintf(ws + strlen(ws), sizeof(ws) - strlen(ws), " s%u", s);
					if (got.sites & (1ull << s))
						snprintf(gs + strlen(gs), sizeof(gs) - strlen(gs), " s%u", s);
				}
				fail_case(seed, w, "%s for clients of %s: the preview says {%s } (%s%s), the answer path answers {%s }",
				          conf->services[v].name, conf->cities[k].name, ws,
				          r.kind == GTM_REACH_LAST_RESORT ? "last resort" : "choice of ",
				          r.kind == GTM_REACH_LAST_RESORT || r.city == GTM_NO_CITY ? "" : conf->cities[r.city].name,
				          gs);
			}
			(*compared)++;
		}
	}
	free(orders);
	dns_snapshot_free(snap);
	gtm_decision_free(dec);
	gtm_controller_free(ctl);
	gtm_admin_view_free(view);
	gtm_admin_free(a);
	for (size_t i = 0; i < conf->nservices; i++)
		free(rows[i]);
	free(rows);
	gtm_build_free(b);
	gtm_conf_free(conf);
	free(w);
}

static void test_preview_is_the_answer(void **state)
{
	(void)state;
	const char *bindir = getenv("GTM_BINDIR");
	assert_non_null(bindir);
	char *mmdb = gtm_xasprintf("%s/tests/geo/geoip2-city.mmdb", bindir);
	FILE *f = fopen(mmdb, "r");
	if (f == NULL)
		fail_msg("fixture %s missing (build target geo_fixtures)", mmdb);
	fclose(f);
	const char *e = getenv("GTM_TRUTH_CASES");
	unsigned ncases = e ? (unsigned)strtoul(e, NULL, 10) : 1500;
	e = getenv("GTM_TRUTH_SEED");
	uint64_t seed0 = e ? strtoull(e, NULL, 10) : 1;
	unsigned compared = 0;
	for (unsigned i = 0; i < ncases; i++)
		one_case(seed0 + i, mmdb, &compared);
	print_message("%u cases, %u (service, client city) answers compared\n", ncases, compared);
	assert_true(compared > ncases);
	free(mmdb);
}

static int setup(void **state)
{
	tmpdir_setup(state);
	free(write_file("example.com.zone",
	                "$ORIGIN example.com.\n$TTL 60\n@ SOA ns hostmaster 1 60 60 60 60\n@ NS ns\nns A 192.0.2.53\n"));
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preview_is_the_answer),
	};
	return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
