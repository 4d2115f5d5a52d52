/*
 * gtm/core/health.c and the health parts of conf.c, controller.c and build.c,
 * without sockets: the new configuration keys (values and exact messages),
 * target dedupe, quorum -> site serving, the state file (round trip,
 * corrupt files, restore into targets), and fail-open transitions counted
 * once per transition.  The monitor is built on an event base that never
 * runs, so no probe is ever sent; states come from the state file.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "dns/snapshot.h"
#include "gtm/core/build.h"
#include "gtm/conf/conf.h"
#include "gtm/core/controller.h"
#include "gtm/core/gen.h"
#include "gtm/core/health.h"
#include "tests/unit/gtm/gtm_test.h"

#define WORLD \
	"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n" \
	"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; } );\n" \
	"sites = ( { name = \"bj-a\"; city = \"beijing\"; }, { name = \"bj-b\"; city = \"beijing\"; } );\n"

/* ---------------------------------------------------------------------- */

static void test_check_keys(void **state)
{
	gtm_conf_t *c = conf_load_ok(WORLD
		"checks = (\n"
		"  { name = \"web\"; type = \"http\"; port = 8080; path = \"/health\"; method = \"HEAD\";\n"
		"    host = \"www.example.com\"; expect = [ 200, 204 ]; interval = 2; timeout = 0.5;\n"
		"    rise = 3; fall = 4; recheck = 0.25; jitter = 0; source = \"127.0.0.1\"; },\n"
		"  { name = \"tls\"; type = \"https\"; tls_verify = false; sni = \"api.example.com\"; body = \"ok\"; },\n"
		"  { name = \"ns\"; type = \"dns\"; qname = \"example.com\"; qtype = \"AAAA\"; rcode = \"NXDOMAIN\";\n"
		"    answer = \"2001:db8::1\"; protocol = \"tcp\"; },\n"
		"  { name = \"db\"; type = \"exec\"; command = [ \"/bin/true\", \"%a\", \"%p\" ]; },\n"
		"  { name = \"t\"; type = \"tcp\"; port = 22; }\n"
		");\n"
		"health = { state_file = \"h.state\"; unknown = \"wait\"; unknown_wait = 2.5; };\n"
		"services = ( { name = \"www.example.com\"; check = \"web\"; quorum = 2;\n"
		"  endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\", \"192.0.2.2\" ]; },\n"
		"                { site = \"bj-b\"; addresses = [ \"192.0.2.3\", \"192.0.2.4\" ]; check = \"t\";\n"
		"                  check_address = \"10.1.1.2\"; check_port = 2222; },\n"
		"                { site = \"bj-b\"; addresses = [ \"192.0.2.5\" ]; check = \"none\"; } ); } );\n");
	assert_int_equal(c->nchecks, 5);
	const chk_params_t *p = &c->checks[0].params;
	assert_string_equal(p->name, "web");
	assert_int_equal(p->type, CHK_TYPE_HTTP);
	assert_int_equal(p->port, 8080);
	assert_string_equal(p->http.path, "/health");
	assert_int_equal(p->http.method, CHK_HTTP_HEAD);
	assert_string_equal(p->http.host, "www.example.com");
	assert_int_equal(p->http.nstatus, 2);
	assert_int_equal(p->http.status[1], 204);
	assert_int_equal(p->interval_ms, 2000);
	assert_int_equal(p->timeout_ms, 500);
	assert_int_equal(p->recheck_ms, 250);
	assert_int_equal(p->rise, 3);
	assert_int_equal(p->fall, 4);
	assert_true(p->jitter == 0.0);
	assert_string_equal(p->source, "127.0.0.1");
	/* Defaults. */
	p = &c->checks[1].params;
	assert_int_equal(p->interval_ms, 1000);
	assert_int_equal(p->timeout_ms, 0);     /* the library's interval/2 */
	assert_int_equal(p->recheck_ms, 100);
	assert_int_equal(p->rise, 2);
	assert_int_equal(p->fall, 3);
	assert_true(p->jitter > 0.099 && p->jitter < 0.101);
	assert_false(p->http.tls_verify);
	assert_string_equal(p->http.host, "api.example.com");   /* sni */
	assert_string_equal(p->http.body, "ok");
	assert_int_equal(p->http.method, CHK_HTTP_GET);
	p = &c->checks[2].params;
	assert_int_equal(p->dns.qtype, 28);
	assert_int_equal(p->dns.rcode, 3);
	assert_true(p->dns.tcp);
	assert_string_equal(p->dns.answer, "2001:db8::1");
	p = &c->checks[3].params;
	assert_string_equal(p->exec.argv[0], "/bin/true");
	assert_string_equal(p->exec.argv[2], "%p");
	assert_null(p->exec.argv[3]);

	assert_non_null(strstr(c->health.state_file, "/h.state"));
	assert_int_equal(c->health.unknown, GTM_UNKNOWN_WAIT);
	assert_int_equal(c->health.unknown_wait_ms, 2500);

	const gtm_service_t *s = &c->services[0];
	assert_int_equal(s->check, 0);
	assert_int_equal(s->quorum, 2);
	assert_int_equal(s->nendpoints, 5);
	assert_int_equal(s->endpoints[0].check, 0);            /* the service's */
	assert_string_equal(s->endpoints[0].probe_addr, "192.0.2.1");
	assert_int_equal(s->endpoints[0].probe_port, 0);
	assert_int_equal(gtm_endpoint_probe_port(&c->checks[0], &s->endpoints[0]), 8080);
	assert_int_equal(s->endpoints[2].check, 4);            /* its own */
	assert_string_equal(s->endpoints[2].probe_addr, "10.1.1.2");
	assert_string_equal(s->endpoints[3].probe_addr, "10.1.1.2");
	assert_int_equal(s->endpoints[3].probe_port, 2222);
	assert_int_equal(s->endpoints[4].check, GTM_NO_CHECK); /* "none" */
	gtm_conf_free(c);

	/* No checks, no health group: nothing checked, unknown "up". */
	c = conf_load_ok(WORLD "services = ( { name = \"a.example.com\";\n"
	                  "  endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); } );\n");
	assert_int_equal(c->nchecks, 0);
	assert_null(c->health.state_file);
	assert_int_equal(c->health.unknown, GTM_UNKNOWN_UP);
	assert_int_equal(c->health.unknown_wait_ms, 5000);
	assert_int_equal(c->services[0].check, GTM_NO_CHECK);
	assert_int_equal(c->services[0].quorum, 1);
	assert_int_equal(c->services[0].endpoints[0].check, GTM_NO_CHECK);
	gtm_conf_free(c);
}

static void test_check_errors(void **state)
{
	conf_expect_errors(WORLD
		"checks = (\n"
		"  { name = \"a\"; type = \"ftp\"; },\n"
		"  { name = \"b\"; type = \"tcp\"; path = \"/x\"; qname = \"x\"; tls_verify = true; },\n"
		"  { name = \"c\"; type = \"http\"; interval = 0.2; timeout = 0.5; rise = 0; expect = [ 99 ]; },\n"
		"  { name = \"d\"; type = \"dns\"; },\n"
		"  { name = \"e\"; type = \"exec\"; command = [ \"check-db\" ]; },\n"
		"  { name = \"none\"; type = \"tcp\"; port = 1; },\n"
		"  { name = \"f\"; type = \"http\"; method = \"POST\"; jitter = 0.9; colour = 1; },\n"
		"  { name = \"a\"; type = \"tcp\"; port = 1; },\n"
		"  { name = \"g\"; type = \"https\"; host = \"a.example.com\"; sni = \"b.example.com\"; },\n"
		"  { name = \"h\"; type = \"dns\"; qname = \"x\"; qtype = \"BOGUS\"; rcode = 16; }\n"
		");\n"
		"health = { unknown = \"maybe\"; unknown_wait = -1; };\n",
		"5: check a: type must be one of tcp, http, https, dns, exec (got 'ftp')",
		"6: check b: path applies only to type http, https (the type is tcp)",
		"6: check b: tls_verify applies only to type https (the type is tcp)",
		"6: check b: qname applies only to type dns (the type is tcp)",
		"7: check c: rise must be between 1 and 100 (got 0)",
		"7: check c: expect entries must be HTTP statuses (100..599)",
		"8: check d has no 'qname'",
		"9: check e, exec command check-db must be an absolute path (no shell, no PATH search)",
		"10: check name 'none' is reserved (an endpoint's check = \"none\" means unchecked)",
		"11: unknown key 'colour' in check f",
		"11: check f: jitter must be between 0 and 0.5 (got 0.9)",
		"11: check f: method must be one of GET, HEAD",
		"12: duplicate check 'a' (first at line 5)",
		"13: check g: sni 'b.example.com' differs from host 'a.example.com' (the probe sends the host as SNI; give one)",
		"14: check h: qtype must be a type name (A, AAAA, NS, SOA, MX, TXT, CNAME, PTR, SRV, CAA) or a number 1..65535",
		"14: check h: rcode must be one of NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED or a number 0..15",
		"16: health.unknown must be one of up, wait (got 'maybe')",
		"16: health.unknown_wait must be between 0 and 3600 (got -1)",
		NULL);
	/* Cross-field rules come from the probe library. */
	conf_expect_errors(WORLD
		"checks = ( { name = \"c\"; type = \"http\"; interval = 0.2; timeout = 0.5; } );\n",
		"4: check c, timeout 500 ms must be less than the interval 200 ms",
		NULL);
}

static void test_endpoint_check_errors(void **state)
{
	conf_expect_errors(WORLD
		"checks = ( { name = \"t\"; type = \"tcp\"; },\n"
		"           { name = \"w\"; type = \"http\"; source = \"127.0.0.1\"; } );\n"
		"services = (\n"
		"  { name = \"a.example.com\"; check = \"nope\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; check = \"gone\"; } ); },\n"
		"  { name = \"b.example.com\"; check = \"t\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); },\n"
		"  { name = \"c.example.com\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"2001:db8::1\" ]; check = \"w\"; },\n"
		"                  { site = \"bj-b\"; addresses = [ \"192.0.2.2\" ]; check = \"w\"; check_address = \"10.0.0.300\"; check_port = 0; } ); },\n"
		"  { name = \"d.example.com\"; quorum = 2;\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\", \"192.0.2.2\" ]; },\n"
		"                  { site = \"bj-b\"; addresses = [ \"192.0.2.3\" ]; } ); },\n"
		"  { name = \"e.example.com\"; quorum = 0;\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); }\n"
		");\n",
		"7: service a.example.com: check names unknown check 'nope'",
		"8: service a.example.com: endpoint names unknown check 'gone'",
		"10: service b.example.com: endpoint at site bj-a: check t has no port (set port in the check or check_port here)",
		"12: service c.example.com: endpoint at site bj-a: check w, source 127.0.0.1 and target 2001:db8::1 are of different families",
		"13: service c.example.com: check_address '10.0.0.300' is not an IPv4 or IPv6 address",
		"13: service c.example.com: endpoint check_port must be between 1 and 65535 (got 0)",
		"14: service d.example.com: quorum 2 is more than the 1 endpoint of site bj-b (it could never serve)",
		"17: service e.example.com: quorum must be between 1 and 65535 (got 0)",
		NULL);
}

/* ---------------------------------------------------------------------- */

#define DEDUPE \
	WORLD \
	"checks = ( { name = \"web\"; type = \"http\"; path = \"/h\"; },\n" \
	"           { name = \"web2\"; type = \"http\"; path = \"/h\"; },\n" \
	"           { name = \"other\"; type = \"http\"; path = \"/other\"; } );\n" \
	"services = (\n" \
	"  { name = \"a.example.com\"; check = \"web\";\n" \
	"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; },\n" \
	"                  { site = \"bj-b\"; addresses = [ \"192.0.2.2\", \"2001:db8::2\" ]; check_address = \"10.0.0.2\"; } ); },\n" \
	"  { name = \"b.example.com\"; check = \"web2\";\n" \
	"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; },\n" \
	"                  { site = \"bj-b\"; addresses = [ \"192.0.2.9\" ]; check_address = \"10.0.0.2\"; check_port = 8080; } ); },\n" \
	"  { name = \"c.example.com\"; check = \"other\";\n" \
	"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; },\n" \
	"                  { site = \"bj-b\"; addresses = [ \"192.0.2.3\" ]; check = \"none\"; } ); }\n" \
	");\n"

static void test_dedupe(void **state)
{
	gtm_conf_t *c = conf_load_ok(DEDUPE);
	struct event_base *base = event_base_new();
	gtm_diag_t d = { 0 };
	gtm_health_mon_t *m = gtm_health_mon_new(c, base, NULL, NULL, NULL, NULL, &d);
	assert_non_null(m);
	gtm_health_stats_t st;
	gtm_health_mon_stats(m, &st);
	/*
	 * Targets: 192.0.2.1:80 /h (a and b: web and web2 have equal params),
	 * 10.0.0.2:80 /h (both addresses of a's bj-b entry), 10.0.0.2:8080 /h
	 * (b's bj-b), 192.0.2.1:80 /other (c).  c's bj-b is unchecked.
	 */
	assert_int_equal(st.targets, 4);
	assert_int_equal(st.endpoints, 7);
	assert_int_equal(st.checked, 6);
	assert_int_equal(st.unknown, 4);

	gtm_health_list_t l;
	gtm_health_mon_list(m, &l);
	assert_int_equal(l.nendpoints, 7);
	assert_int_equal(l.endpoints[0].target, l.endpoints[3].target);   /* a bj-a == b bj-a */
	assert_int_equal(l.endpoints[1].target, l.endpoints[2].target);   /* a's bj-b entry */
	assert_int_not_equal(l.endpoints[1].target, l.endpoints[4].target);
	assert_int_not_equal(l.endpoints[0].target, l.endpoints[5].target);
	assert_int_equal(l.endpoints[4].probe_port, 8080);
	assert_string_equal(l.endpoints[4].probe_addr, "10.0.0.2");
	assert_false(l.endpoints[6].checked);
	assert_true(l.endpoints[6].up);                /* unchecked: up */
	assert_true(l.endpoints[0].up);                /* unknown, unknown = "up" */
	assert_int_equal(l.nsites, 6);
	for (size_t i = 0; i < l.nsites; i++)
		assert_true(l.sites[i].serving);
	gtm_health_list_clear(&l);

	/* Equal params hash equally whatever the name; others differ. */
	assert_true(gtm_check_param_hash(&c->checks[0]) == gtm_check_param_hash(&c->checks[1]));
	assert_true(gtm_check_param_hash(&c->checks[0]) != gtm_check_param_hash(&c->checks[2]));
	gtm_health_mon_free(m);
	event_base_free(base);
	gtm_conf_free(c);
}

/* ---------------------------------------------------------------------- */

static void test_state_file_round_trip(void **state)
{
	char *path = gtm_xasprintf("%s/rt.state", tmpdir);
	gtm_health_record_t r[2] = {
		{ .check = "web", .addr = "192.0.2.1", .port = 80, .hash = 0x0123456789abcdefULL,
		  .state = CHK_STATE_UP, .changed_at_ms = 1700000000123LL },
		{ .check = "db", .addr = "2001:db8::1", .port = 0, .hash = 0xfedcba9876543210ULL,
		  .state = CHK_STATE_DOWN, .changed_at_ms = 0 },
	};
	assert_int_equal(gtm_health_state_write(path, r, 2), 0);
	char *tmp = gtm_xasprintf("%s.tmp", path);
	assert_int_not_equal(access(tmp, F_OK), 0);    /* renamed away */
	free(tmp);
	gtm_health_record_t *out;
	size_t n;
	char why[256];
	assert_int_equal(gtm_health_state_read(path, &out, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(&out[0], &r[0], sizeof(r[0]));
	assert_memory_equal(&out[1], &r[1], sizeof(r[1]));
	free(out);

	/* Missing, foreign, truncated, bad fields: refused whole. */
	char *missing = gtm_xasprintf("%s/nope.state", tmpdir);
	assert_int_equal(gtm_health_state_read(missing, &out, &n, why, sizeof(why)), GTM_ENOENT);
	free(missing);
	static const struct { const char *text, *why; } bad[] = {
		{ "", "empty file" },
		{ "hello\n", "line 1: not a gtm health state file (no '# gtm health state v1')" },
		{ "# gtm health state v1\nweb 192.0.2.1 80 0123456789abcdef up 1\nweb 192.0.2.2 80 0123456789abcdef up",
		  "line 3: truncated or too long" },
		{ "# gtm health state v1\nweb 192.0.2.1 80 0123456789abcdef sideways 1\n",
		  "line 2: state 'sideways' is not up or down" },
		{ "# gtm health state v1\nweb 192.0.2.1 80 0123 up 1\n", "line 2: bad port, hash or time" },
		{ "# gtm health state v1\nweb host 80 0123456789abcdef up 1\n", "line 2: 'host' is not an address" },
		{ "# gtm health state v1\nweb 192.0.2.1 80 0123456789abcdef up\n", "line 2: expected 6 fields" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *p = write_file("bad.state", bad[i].text);
		out = (gtm_health_record_t *)1;
		assert_int_equal(gtm_health_state_read(p, &out, &n, why, sizeof(why)), GTM_EPARSE);
		assert_null(out);
		assert_string_equal(why, bad[i].why);
		free(p);
	}
	free(path);
}

/* A state file written for the config restores the targets' states, and
 * quorum decides each site's serving state from them. */
#define QUORUM(state_file, unknown) \
	WORLD \
	"checks = ( { name = \"t\"; type = \"tcp\"; port = 7; } );\n" \
	"health = { state_file = \"" state_file "\"; unknown = \"" unknown "\"; };\n" \
	"services = ( { name = \"q.example.com\"; check = \"t\"; quorum = 2; policy = \"failover\";\n" \
	"  endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\" ]; },\n" \
	"                { site = \"bj-b\"; addresses = [ \"192.0.2.4\", \"192.0.2.5\" ]; } ); } );\n"

static void test_restore_and_quorum(void **state)
{
	gtm_conf_t *c = conf_load_ok(QUORUM("q.state", "up"));
	uint64_t h = gtm_check_param_hash(&c->checks[0]);
	/* bj-a: 1 up, 1 down, 1 unknown (counts up): 2 of 3 -> serving.
	 * bj-b: 1 up, 1 down: 1 of 2 -> not serving.  A record of another
	 * port or hash is ignored. */
	char *text = gtm_xasprintf(
		"# gtm health state v1\n"
		"t 192.0.2.1 7 %016llx up 1000\n"
		"t 192.0.2.2 7 %016llx down 2000\n"
		"t 192.0.2.4 7 %016llx up 3000\n"
		"t 192.0.2.5 7 %016llx down 4000\n"
		"t 192.0.2.3 8 %016llx down 5000\n"
		"t 192.0.2.3 7 %016llx down 6000\n",
		(unsigned long long)h, (unsigned long long)h, (unsigned long long)h,
		(unsigned long long)h, (unsigned long long)h, (unsigned long long)(h ^ 1));
	free(write_file("q.state", text));
	free(text);

	struct event_base *base = event_base_new();
	gtm_diag_t d = { 0 };
	gtm_health_mon_t *m = gtm_health_mon_new(c, base, NULL, NULL, NULL, NULL, &d);
	assert_non_null(m);
	gtm_health_list_t l;
	gtm_health_mon_list(m, &l);
	assert_int_equal(l.endpoints[0].state, CHK_STATE_UP);
	assert_int_equal(l.endpoints[0].since_ms, 1000);
	assert_int_equal(l.endpoints[1].state, CHK_STATE_DOWN);
	assert_false(l.endpoints[1].up);
	assert_int_equal(l.endpoints[2].state, CHK_STATE_UNKNOWN);
	assert_true(l.endpoints[2].up);
	assert_int_equal(l.endpoints[4].since_ms, 4000);
	assert_int_equal(l.nsites, 2);
	assert_true(l.sites[0].serving);
	assert_int_equal(l.sites[0].up, 2);
	assert_int_equal(l.sites[0].total, 3);
	assert_int_equal(l.sites[0].quorum, 2);
	assert_false(l.sites[1].serving);
	assert_int_equal(l.sites[1].up, 1);
	gtm_health_list_clear(&l);

	/* The controller agrees: bj-b below quorum, bj-a serves: not fail open. */
	bool fo = true;
	dns_plan_free(gtm_controller_plan_report(c, gtm_health_mon_table(m), &fo));
	assert_false(fo);

	/* Saved back: the targets with a verdict, same lines. */
	assert_int_equal(gtm_health_mon_save(m, true), 0);
	gtm_health_record_t *r;
	size_t n;
	char why[256];
	assert_int_equal(gtm_health_state_read(c->health.state_file, &r, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(r[1].addr, "192.0.2.2");
	assert_int_equal(r[1].state, CHK_STATE_DOWN);
	assert_int_equal(r[1].changed_at_ms, 2000);
	free(r);
	gtm_health_mon_free(m);

	/* unknown = "wait": the never-seen endpoint counts as down, so bj-a has
	 * 1 of 3 and nothing serves: fail open. */
	gtm_conf_t *c2 = conf_load_ok(QUORUM("q.state", "wait"));
	m = gtm_health_mon_new(c2, base, NULL, NULL, NULL, NULL, &d);
	assert_non_null(m);
	assert_int_equal(gtm_health_mon_unknown(m), 1);
	gtm_health_mon_list(m, &l);
	assert_false(l.endpoints[2].up);
	assert_false(l.sites[0].serving);
	gtm_health_list_clear(&l);
	fo = false;
	dns_plan_free(gtm_controller_plan_report(c2, gtm_health_mon_table(m), &fo));
	assert_true(fo);

	/* Reload onto a changed config: carried state by identity. */
	gtm_remap_t *map = gtm_remap_new(c, c);
	gtm_health_mon_t *m2 = gtm_health_mon_new(c, base, m, map, NULL, NULL, &d);
	gtm_remap_free(map);
	assert_non_null(m2);
	gtm_health_mon_list(m2, &l);
	assert_int_equal(l.endpoints[1].state, CHK_STATE_DOWN);
	assert_int_equal(l.endpoints[1].since_ms, 2000);
	assert_true(l.endpoints[2].up);               /* unknown, and now "up" */
	gtm_health_list_clear(&l);
	gtm_health_mon_free(m);
	gtm_health_mon_free(m2);
	gtm_conf_free(c2);

	/* A corrupt file: every target starts unknown. */
	free(write_file("q.state", "# gtm health state v1\nnonsense\n"));
	m = gtm_health_mon_new(c, base, NULL, NULL, NULL, NULL, &d);
	assert_non_null(m);
	assert_int_equal(gtm_health_mon_unknown(m), 5);
	gtm_health_mon_free(m);

	assert_int_equal(d.count, 0);
	event_base_free(base);
	gtm_conf_free(c);
}

/* ---------------------------------------------------------------------- */

static void test_failopen_transitions(void **state)
{
	free(write_file("example.com.zone",
		"$ORIGIN example.com.\n$TTL 300\n"
		"@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
		"@ IN NS ns1\nns1 IN A 192.0.2.53\n"));
	gtm_conf_t *c = conf_load_ok(WORLD
		"services = ( { name = \"a.example.com\"; policy = \"failover\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; },\n"
		"                  { site = \"bj-b\"; addresses = [ \"192.0.2.2\" ]; } ); },\n"
		"  { name = \"b.example.com\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.3\" ]; } ); } );\n");
	gtm_diag_t d = { 0 };
	gtm_build_t *b = gtm_build_new(c, &d);
	assert_non_null(b);
	bool a_up[2] = { true, true }, b_up[1] = { true };
	const bool *rows[2] = { a_up, b_up };
	gtm_health_t h = { rows };
	gtm_build_stats_t st;

	/* Each step: the health, then the expected counters. */
	static const struct { bool a0, a1, b0; uint64_t entered, left; uint32_t now; } steps[] = {
		{ 1, 1, 1, 0, 0, 0 },
		{ 0, 1, 1, 0, 0, 0 },   /* a fails over, still serving */
		{ 0, 0, 1, 1, 0, 1 },   /* a fails open */
		{ 0, 0, 1, 1, 0, 1 },   /* rebuilt again: no new transition */
		{ 0, 0, 0, 2, 0, 2 },   /* b too */
		{ 0, 0, 0, 2, 0, 2 },
		{ 1, 0, 0, 2, 1, 1 },   /* a back */
		{ 1, 0, 1, 2, 2, 0 },
		{ 0, 0, 1, 3, 2, 1 },   /* a again */
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		a_up[0] = steps[i].a0;
		a_up[1] = steps[i].a1;
		b_up[0] = steps[i].b0;
		dns_snapshot_free(gtm_build_snapshot(b, &h));
		gtm_build_stats(b, &st);
		assert_int_equal(st.failopen_entered, steps[i].entered);
		assert_int_equal(st.failopen_left, steps[i].left);
		assert_int_equal(st.failopen_now, steps[i].now);
		assert_int_equal(gtm_build_failopen(b, 0), !steps[i].a0 && !steps[i].a1);
	}
	assert_int_equal(st.snapshots, sizeof(steps) / sizeof(steps[0]));

	/* A reload carries the state: no transition logged or counted. */
	gtm_build_t *b2 = gtm_build_new(c, &d);
	assert_non_null(b2);
	gtm_remap_t *map = gtm_remap_new(c, c);
	gtm_build_inherit(b2, b, map);
	gtm_remap_free(map);
	dns_snapshot_free(gtm_build_snapshot(b2, &h));
	gtm_build_stats(b2, &st);
	assert_int_equal(st.failopen_entered, 3);
	assert_int_equal(st.failopen_now, 1);
	gtm_build_free(b2);
	gtm_build_free(b);
	gtm_conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_keys),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_endpoint_check_errors),
		cmocka_unit_test(test_dedupe),
		cmocka_unit_test(test_state_file_round_trip),
		cmocka_unit_test(test_restore_and_quorum),
		cmocka_unit_test(test_failopen_transitions),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
