/*
 * gtm/conf.c: the model gtm_conf_load() builds from good input, the exact
 * messages it gives for bad input, gtm_listen_parse() and gtm_build_opts().
 * Configs are written to a temporary folder; no sockets, no zone loading.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "gtm/build.h"
#include "gtm/conf.h"

static char tmpdir[PATH_MAX];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gtm-test-conf-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	char *cmd = gtm_xasprintf("rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

/* Writes `text` to tmpdir/name; returns the path (free it). */
static char *write_file(const char *name, const char *text)
{
	char *path = gtm_xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads `text` as a config file; diag receives the messages. */
static gtm_conf_t *load_text(const char *text, gtm_diag_t *diag, char **pathp)
{
	char *path = write_file("test.conf", text);
	gtm_conf_t *c = gtm_conf_load(path, diag);
	if (pathp)
		*pathp = path;
	else
		free(path);
	return c;
}

/* Checks that `text` is refused with exactly the messages given (each
 * without the "path:" prefix, e.g. "3: unknown key ..."), NULL-terminated. */
static void expect_errors(const char *text, ...)
{
	gtm_diag_t d = { 0 };
	char *path;
	gtm_conf_t *c = load_text(text, &d, &path);
	assert_null(c);
	va_list ap;
	va_start(ap, text);
	size_t i = 0;
	for (const char *want; (want = va_arg(ap, const char *)) != NULL; i++) {
		char *full = gtm_xasprintf("%s:%s", path, want);
		if (i >= d.count)
			fail_msg("missing message %zu: %s", i, full);
		if (strcmp(d.msgs[i], full) != 0)
			fail_msg("message %zu:\n  got  %s\n  want %s", i, d.msgs[i], full);
		free(full);
	}
	va_end(ap);
	if (i != d.count)
		fail_msg("%zu messages, expected %zu; first extra: %s", d.count, i, d.msgs[i]);
	gtm_diag_clear(&d);
	free(path);
}

#define ZONE "zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n"
#define WORLD \
	ZONE \
	"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; }, { name = \"shanghai\"; lat = 31; lon = 121; } );\n" \
	"sites = ( { name = \"bj-a\"; city = \"beijing\"; }, { name = \"sh-a\"; city = \"shanghai\"; } );\n"

static uint16_t port_of(const gtm_listen_t *l)
{
	if (l->addr.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
}

/* ---------------------------------------------------------------------- */

static void test_defaults(void **state)
{
	gtm_diag_t d = { 0 };
	gtm_conf_t *c = load_text(WORLD
		"services = ( { name = \"www.example.com\"; endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); } );\n",
		&d, NULL);
	assert_non_null(c);
	assert_int_equal(d.count, 0);
	assert_int_equal(c->nlisten, 2);
	assert_int_equal(c->listen[0].addr.ss_family, AF_INET);
	assert_int_equal(port_of(&c->listen[0]), 53);
	assert_int_equal(c->listen[1].addr.ss_family, AF_INET6);
	assert_int_equal(port_of(&c->listen[1]), 53);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(c->workers, cpus < 1 ? 1 : cpus > 64 ? 64 : cpus);
	assert_int_equal(c->edns_udp_size, 1232);
	assert_null(c->nsid);
	assert_int_equal(c->tcp_idle_timeout_ms, 10000);
	assert_int_equal(c->tcp_max_clients, 1000);
	assert_int_equal(c->udp_rcvbuf, 4194304);
	assert_int_equal(c->nsites, 2);
	assert_int_equal(c->sites[0].weight, 100);
	assert_int_equal(c->sites[0].capacity, 0);
	assert_int_equal(c->sites[0].role, GTM_ROLE_ACTIVE);
	assert_int_equal(c->sites[1].city, 1);
	assert_int_equal(c->nservices, 1);
	assert_int_equal(c->services[0].policy, GTM_POLICY_NEAREST);
	assert_int_equal(c->services[0].ttl, 30);
	gtm_conf_free(c);
}

static void test_every_key(void **state)
{
	gtm_diag_t d = { 0 };
	char *path;
	/* Sections in reverse dependency order: they are read by dependency. */
	gtm_conf_t *c = load_text(
		"services = (\n"
		"  { name = \"www.example.com\"; policy = \"failover\"; ttl = 0;\n"
		"    endpoints = (\n"
		"      { site = \"sh-a\"; addresses = [ \"198.51.100.1\", \"2001:db8::1\" ]; },\n"
		"      { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; }\n"
		"    ); },\n"
		"  { name = \"api.example.com\"; policy = \"primary-backup\"; ttl = 2147483647;\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); },\n"
		"  { name = \"g.example.com\"; policy = \"global\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); }\n"
		");\n"
		"sites = (\n"
		"  { name = \"bj-a\"; city = \"beijing\"; weight = 0; capacity = 4000000000; role = \"backup\"; },\n"
		"  { name = \"sh-a\"; city = \"shanghai\"; weight = 1000000; role = \"cold\"; }\n"
		");\n"
		"cities = ( { name = \"beijing\"; lat = 40; lon = 116; },\n"
		"           { name = \"shanghai\"; lat = -31.5; lon = -180.0; } );\n"
		ZONE
		"server = {\n"
		"  listen = [ \"127.0.0.1:5353\", \"[::1]:5353\", \"::1\" ];\n"
		"  workers = 64; edns_udp_size = 4096; nsid = \"gtm-1\";\n"
		"  tcp_idle_timeout = 300; tcp_max_clients = 100000; udp_rcvbuf = 0;\n"
		"};\n", &d, &path);
	assert_int_equal(d.count, 0);
	assert_non_null(c);
	assert_string_equal(c->path, path);
	assert_int_equal(c->nlisten, 3);
	assert_int_equal(port_of(&c->listen[0]), 5353);
	assert_int_equal(port_of(&c->listen[2]), 53);
	assert_int_equal(c->workers, 64);
	assert_int_equal(c->edns_udp_size, 4096);
	assert_string_equal(c->nsid, "gtm-1");
	assert_int_equal(c->tcp_idle_timeout_ms, 300000);
	assert_int_equal(c->tcp_max_clients, 100000);
	assert_int_equal(c->udp_rcvbuf, 0);

	assert_int_equal(c->ncities, 2);
	assert_true(c->cities[0].lat == 40.0 && c->cities[0].lon == 116.0);
	assert_true(c->cities[1].lat == -31.5 && c->cities[1].lon == -180.0);
	assert_int_equal(c->cities[1].line, 17);

	assert_int_equal(c->nsites, 2);
	assert_int_equal(c->sites[0].weight, 0);
	assert_int_equal(c->sites[0].capacity, 4000000000u);
	assert_int_equal(c->sites[0].role, GTM_ROLE_BACKUP);
	assert_int_equal(c->sites[1].city, 1);
	assert_int_equal(c->sites[1].role, GTM_ROLE_COLD);

	assert_int_equal(c->nservices, 3);
	const gtm_service_t *s = &c->services[0];
	assert_string_equal(s->name, "www.example.com");
	assert_int_equal(s->policy, GTM_POLICY_FAILOVER);
	assert_int_equal(s->ttl, 0);
	assert_int_equal(s->line, 2);
	/* One endpoint per address, config order. */
	assert_int_equal(s->nendpoints, 3);
	assert_int_equal(s->endpoints[0].site, 1);
	assert_int_equal(s->endpoints[0].family, AF_INET);
	assert_int_equal(ntohl(s->endpoints[0].addr.v4.s_addr), 0xc6336401);
	assert_int_equal(s->endpoints[0].line, 4);
	assert_int_equal(s->endpoints[1].site, 1);
	assert_int_equal(s->endpoints[1].family, AF_INET6);
	assert_int_equal(s->endpoints[1].addr.v6.s6_addr[15], 1);
	assert_int_equal(s->endpoints[2].site, 0);
	assert_int_equal(s->endpoints[2].line, 5);
	assert_int_equal(c->services[1].policy, GTM_POLICY_PRIMARY_BACKUP);
	assert_int_equal(c->services[1].ttl, 2147483647);
	assert_int_equal(c->services[2].policy, GTM_POLICY_GLOBAL);

	gtm_conf_free(c);
	free(path);
}

static void test_zone_paths(void **state)
{
	gtm_diag_t d = { 0 };
	char *sub = gtm_xasprintf("%s/sub", tmpdir);
	assert_int_equal(mkdir(sub, 0755), 0);
	char *path = write_file("sub/z.conf",
		"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; },\n"
		"          { name = \"example.net\"; file = \"/abs/example.net.zone\"; },\n"
		"          { name = \"example.org\"; file = \"../example.org.zone\"; } );\n");
	gtm_conf_t *c = gtm_conf_load(path, &d);
	assert_non_null(c);
	char *want = gtm_xasprintf("%s/sub/example.com.zone", tmpdir);
	assert_string_equal(c->zones[0].file, want);
	assert_string_equal(c->zones[1].file, "/abs/example.net.zone");
	free(want);
	want = gtm_xasprintf("%s/sub/../example.org.zone", tmpdir);
	assert_string_equal(c->zones[2].file, want);
	assert_string_equal(c->zones[2].name, "example.org");
	assert_int_equal(c->zones[2].line, 3);
	gtm_conf_free(c);

	/* A bare file name: relative to the current folder, unchanged. */
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(sub), 0);
	c = gtm_conf_load("z.conf", &d);
	assert_int_equal(chdir(cwd), 0);
	assert_non_null(c);
	assert_string_equal(c->path, "z.conf");
	assert_string_equal(c->zones[0].file, "example.com.zone");
	gtm_conf_free(c);
	assert_int_equal(d.count, 0);
	free(want);
	free(path);
	free(sub);
}

static void test_demo_config(void **state)
{
	const char *src = getenv("GTM_SRCDIR");
	if (src == NULL)
		skip();
	char *path = gtm_xasprintf("%s/etc/gtm.conf", src);
	gtm_diag_t d = { 0 };
	gtm_conf_t *c = gtm_conf_load(path, &d);
	for (size_t i = 0; i < d.count; i++)
		print_error("%s\n", d.msgs[i]);
	assert_non_null(c);
	assert_int_equal(c->nlisten, 2);
	assert_int_equal(port_of(&c->listen[0]), 5353);
	assert_int_equal(c->workers, 2);
	assert_string_equal(c->nsid, "gtm-demo");
	assert_int_equal(c->nzones, 1);
	char *zone = gtm_xasprintf("%s/etc/example.com.zone", src);
	assert_string_equal(c->zones[0].file, zone);
	free(zone);
	assert_true(c->ncities >= 3);
	assert_true(c->nsites >= 4);
	assert_string_equal(c->services[0].name, "www.example.com");
	assert_int_equal(c->services[0].policy, GTM_POLICY_NEAREST);
	/* Every site of www has a v4 and a v6 address. */
	for (size_t s = 0; s < c->nsites; s++) {
		bool v4 = false, v6 = false, any = false;
		for (size_t e = 0; e < c->services[0].nendpoints; e++) {
			const gtm_endpoint_t *ep = &c->services[0].endpoints[e];
			if (ep->site != s)
				continue;
			any = true;
			v4 |= ep->family == AF_INET;
			v6 |= ep->family == AF_INET6;
		}
		assert_true(!any || (v4 && v6));
	}
	gtm_conf_free(c);
	free(path);
}

/* ---------------------------------------------------------------------- */
/* Messages                                                               */

static void test_missing_file(void **state)
{
	gtm_diag_t d = { 0 };
	assert_null(gtm_conf_load("/nonexistent/gtm.conf", &d));
	assert_int_equal(d.count, 1);
	assert_string_equal(d.msgs[0], "/nonexistent/gtm.conf: cannot open (No such file or directory)");
	gtm_diag_clear(&d);
}

static void test_syntax_error(void **state)
{
	expect_errors("server = {\n  workers = 2;\n  nsid = = \"x\";\n};\n" ZONE,
		"3: syntax error", NULL);
	expect_errors("server = {\n  workers = 2;\n", "3: syntax error", NULL);
}

static void test_unknown_keys(void **state)
{
	expect_errors(
		"server = { listn = [ \"127.0.0.1\" ]; };\n"
		WORLD
		"sevices = ();\n"
		"services = ( { name = \"www.example.com\"; tll = 3;\n"
		"  endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; weight = 1; } ); } );\n",
		"1: unknown key 'listn' in server",
		"5: unknown top-level key 'sevices'",
		"6: unknown key 'tll' in service www.example.com",
		"7: unknown key 'weight' in endpoint of service www.example.com",
		NULL);
}

static void test_types_and_ranges(void **state)
{
	expect_errors(
		"server = {\n"
		"  workers = 0;\n"
		"  edns_udp_size = \"big\";\n"
		"  tcp_idle_timeout = 1.5;\n"
		"  udp_rcvbuf = 4294967296;\n"
		"  nsid = \"\";\n"
		"};\n"
		ZONE
		"cities = ( { name = \"beijing\"; lat = 90.5; lon = \"east\"; } );\n"
		"sites = ( { name = \"bj-a\"; city = \"beijing\"; weight = -1; role = \"hot\"; } );\n"
		"services = ( { name = \"www.example.com\"; ttl = 2147483648; policy = 1;\n"
		"  endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); } );\n",
		"2: server.workers must be between 1 and 64 (got 0)",
		"3: server.edns_udp_size must be an integer",
		"4: server.tcp_idle_timeout must be an integer",
		"5: server.udp_rcvbuf must be between 0 and 1073741824 (got 4294967296)",
		"6: server.nsid must not be empty",
		"9: city beijing: lat must be between -90 and 90 (got 90.5)",
		"9: city beijing: lon must be a number",
		"10: site bj-a: weight must be between 0 and 1000000 (got -1)",
		"10: site bj-a: role must be one of active, backup, cold (got 'hot')",
		"11: service www.example.com: policy must be one of nearest, primary-backup, global, failover",
		"11: service www.example.com: ttl must be between 0 and 2147483647 (got 2147483648)",
		NULL);
}

static void test_required(void **state)
{
	expect_errors(
		"zones = ( { file = \"x\"; }, { name = \"example.com\"; } );\n"
		"cities = ( { lat = 1; lon = 2; }, { name = \"beijing\"; lat = 1; } );\n"
		"sites = ( { name = \"bj-a\"; } );\n"
		"services = ( { name = \"www.example.com\"; }, { name = \"api.example.com\"; endpoints = (); },\n"
		"  { name = \"x.example.com\"; endpoints = ( { addresses = [ \"192.0.2.1\" ]; } ); } );\n",
		"1: zone has no 'name'",
		"1: zone example.com has no 'file'",
		"2: city has no 'name'",
		"2: city beijing has no 'lon'",
		"3: site bj-a has no 'city'",
		"4: service www.example.com has no 'endpoints'",
		"4: service api.example.com has no endpoints",
		"5: endpoint of service x.example.com has no 'site'",
		NULL);
	expect_errors("server = { workers = 1; };\n",
		" no zones configured (zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );)",
		NULL);
	expect_errors("zones = ();\n", "1: zones must name at least one zone", NULL);
	expect_errors("server = { listen = []; };\n" ZONE,
		"1: server.listen must name at least one address", NULL);
}

static void test_duplicates(void **state)
{
	expect_errors(
		"zones = ( { name = \"example.com\"; file = \"a\"; },\n"
		"          { name = \"Example.COM.\"; file = \"b\"; } );\n"
		"cities = ( { name = \"beijing\"; lat = 1; lon = 2; },\n"
		"           { name = \"beijing\"; lat = 1; lon = 2; } );\n"
		"sites = ( { name = \"bj-a\"; city = \"beijing\"; },\n"
		"          { name = \"bj-a\"; city = \"beijing\"; } );\n"
		"services = (\n"
		"  { name = \"www.example.com\"; endpoints = ( { site = \"bj-a\";\n"
		"      addresses = [ \"192.0.2.1\", \"2001:db8::1\" ]; } ); },\n"
		"  { name = \"www.example.com.\"; endpoints = ( { site = \"bj-a\";\n"
		"      addresses = [ \"192.0.2.1\", \"2001:DB8:0::1\", \"192.0.2.1\" ]; } ); }\n"
		");\n",
		"2: duplicate zone 'Example.COM.' (first at line 1)",
		"4: duplicate city 'beijing' (first at line 3)",
		"6: duplicate site 'bj-a' (first at line 5)",
		"10: duplicate service 'www.example.com.' (first at line 8)",
		"11: service www.example.com.: duplicate address '192.0.2.1' (first at line 11)",
		NULL);
	/* The same address in two services is fine. */
	gtm_diag_t d = { 0 };
	gtm_conf_t *c = load_text(WORLD
		"services = ( { name = \"a.example.com\"; endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); },\n"
		"             { name = \"b.example.com\"; endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); } );\n",
		&d, NULL);
	assert_non_null(c);
	gtm_conf_free(c);
}

static void test_references_and_addresses(void **state)
{
	expect_errors(
		ZONE
		"cities = ( { name = \"shenzhen\"; lat = 22.54; lon = 114.06; } );\n"
		"sites = ( { name = \"sz-a\"; city = \"shenzen\"; } );\n",
		"3: site 'sz-a' names unknown city 'shenzen'",
		NULL);
	expect_errors(
		WORLD
		"services = ( { name = \"www.example.com\"; endpoints = (\n"
		"  { site = \"bj-a\"; addresses = [ \"192.0.2.300\", \"2001:db8::g\" ]; },\n"
		"  { site = \"bj-x\"; addresses = [ \"192.0.2.1\" ]; },\n"
		"  { site = \"sh-a\"; addresses = [ ]; }\n"
		"); } );\n",
		"5: service www.example.com: '192.0.2.300' is not an IPv4 or IPv6 address",
		"5: service www.example.com: '2001:db8::g' is not an IPv4 or IPv6 address",
		"6: service www.example.com: endpoint names unknown site 'bj-x'",
		"7: service www.example.com: endpoint at site sh-a has no addresses",
		NULL);
	expect_errors(
		"server = { listen = [ \"127.0.0.1:53\", \"1.2.3.4:0\", \"[::1\", \"127.0.0.1:53\" ]; };\n" ZONE,
		"1: server.listen: '1.2.3.4:0' is not an IPv4 or IPv6 address with an optional port",
		"1: server.listen: '[::1' is not an IPv4 or IPv6 address with an optional port",
		"1: server.listen: duplicate address '127.0.0.1:53'",
		NULL);
}

static void test_names(void **state)
{
	expect_errors(
		"zones = ( { name = \"example..com\"; file = \"x\"; } );\n"
		"cities = ( { name = \"bei jing\"; lat = 1; lon = 2; } );\n"
		"sites = ( { name = \"bj.a\"; city = \"bei jing\"; } );\n"
		"services = ( { name = \"-bad-\\\\\"; endpoints = ( { site = \"bj.a\"; addresses = [ \"192.0.2.1\" ]; } ); } );\n",
		"1: zone name 'example..com' is not a valid DNS name",
		"2: city name 'bei jing' is not valid (use letters, digits, '-' and '_', at most 63)",
		"3: site name 'bj.a' is not valid (use letters, digits, '-' and '_', at most 63)",
		"4: service name '-bad-\\' is not a valid DNS name",
		NULL);
}

static void test_sorted_by_line(void **state)
{
	/* Sections are checked in dependency order but reported by line. */
	expect_errors(
		"services = ( { name = \"www.example.com\"; endpoints = ( { site = \"nowhere\"; addresses = [ \"192.0.2.1\" ]; } ); } );\n"
		"sites = ( { name = \"bj-a\"; city = \"nowhere\"; } );\n"
		"server = { workers = 65; };\n"
		ZONE,
		"1: service www.example.com: endpoint names unknown site 'nowhere'",
		"2: site 'bj-a' names unknown city 'nowhere'",
		"3: server.workers must be between 1 and 64 (got 65)",
		NULL);
}

static void test_include(void **state)
{
	gtm_diag_t d = { 0 };
	char *inc = write_file("part.inc",
		"cities = ( { name = \"beijing\"; lat = 1; lon = 2; } );\n"
		"sites = ( { name = \"bj-a\"; city = \"beijing\"; capacity = 5000000000; } );\n");
	char *path = write_file("inc.conf", "@include \"part.inc\"\n" ZONE);
	assert_null(gtm_conf_load(path, &d));
	assert_int_equal(d.count, 1);
	char *want = gtm_xasprintf("%s:2: site bj-a: capacity must be between 0 and 4294967295 (got 5000000000)", inc);
	assert_string_equal(d.msgs[0], want);
	gtm_diag_clear(&d);
	free(want);
	free(path);
	free(inc);
}

/* ---------------------------------------------------------------------- */

static void test_listen_parse(void **state)
{
	gtm_listen_t l;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(gtm_listen_parse("127.0.0.1:5353", 53, &l), 0);
	assert_int_equal(l.addr.ss_family, AF_INET);
	assert_int_equal(l.len, sizeof(struct sockaddr_in));
	assert_int_equal(port_of(&l), 5353);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&l.addr)->sin_addr, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1");

	assert_int_equal(gtm_listen_parse("10.1.2.3", 53, &l), 0);
	assert_int_equal(port_of(&l), 53);
	assert_int_equal(gtm_listen_parse("0.0.0.0:65535", 53, &l), 0);
	assert_int_equal(port_of(&l), 65535);

	assert_int_equal(gtm_listen_parse("[::1]:5353", 53, &l), 0);
	assert_int_equal(l.addr.ss_family, AF_INET6);
	assert_int_equal(l.len, sizeof(struct sockaddr_in6));
	assert_int_equal(port_of(&l), 5353);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&l.addr)->sin6_addr, buf, sizeof(buf));
	assert_string_equal(buf, "::1");
	assert_int_equal(gtm_listen_parse("::1", 8053, &l), 0);
	assert_int_equal(port_of(&l), 8053);
	assert_int_equal(gtm_listen_parse("[2001:db8::1]", 53, &l), 0);
	assert_int_equal(port_of(&l), 53);
	assert_int_equal(gtm_listen_parse("[fe80::1%1]:53", 53, &l), 0);
	assert_int_equal(((struct sockaddr_in6 *)&l.addr)->sin6_scope_id, 1);
	assert_int_equal(gtm_listen_parse("[fe80::1%lo]:53", 53, &l), 0);

	static const char *const bad[] = {
		"", ":53", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:5x",
		"127.0.0.1:+53", "127.0.0.1:-1", "256.0.0.1", "localhost", "localhost:53",
		"[::1]x", "[::1]:", "[::1", "::1]", "[127.0.0.1]:53", "[fe80::1%]:53",
		"[fe80::1%nosuchif0]:53", "1.2.3.4:53:53", "127.0.0.1:000053x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gtm_listen_parse(bad[i], 53, &l) != GTM_EINVAL)
			fail_msg("'%s' parsed", bad[i]);
	/* A default port of 0 makes a bare address invalid. */
	assert_int_equal(gtm_listen_parse("127.0.0.1", 0, &l), GTM_EINVAL);
}

static void test_build_opts(void **state)
{
	gtm_conf_t c = { .edns_udp_size = 1400 };
	dns_opts_t o;
	gtm_build_opts(&c, &o);
	assert_int_equal(o.udp_max, 1400);
	assert_int_equal(o.nsid_len, 0);

	c.nsid = "gtm-demo";
	gtm_build_opts(&c, &o);
	assert_int_equal(o.nsid_len, 8);
	assert_memory_equal(o.nsid, "gtm-demo", 8);

	char host[256] = { 0 };
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	c.nsid = "hostname";
	gtm_build_opts(&c, &o);
	size_t n = strlen(host) > DNS_NSID_MAX ? DNS_NSID_MAX : strlen(host);
	assert_int_equal(o.nsid_len, n);
	assert_memory_equal(o.nsid, host, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_zone_paths),
		cmocka_unit_test(test_demo_config),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_types_and_ranges),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_references_and_addresses),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_sorted_by_line),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_build_opts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
