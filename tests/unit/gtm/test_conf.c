/*
 * gtm/conf/conf.c: the model gtm_conf_load() builds from good input, the exact
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
#include "gtm/core/build.h"
#include "gtm/conf/conf.h"
#include "tests/unit/gtm/gtm_test.h"

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
	/* One warning, not an error: api's only site is a backup-role site in
	 * its own primary city, so nothing takes over from it. */
	assert_int_equal(gtm_diag_errors(&d), 0);
	assert_int_equal(d.nwarn, 1);
	assert_non_null(strstr(d.msgs[0], "warning: service api.example.com: primary-backup with neither"));
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
	gtm_diag_clear(&d);   /* the warning */
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
	conf_expect_errors("server = {\n  workers = 2;\n  nsid = = \"x\";\n};\n" ZONE,
		"3: syntax error", NULL);
	conf_expect_errors("server = {\n  workers = 2;\n", "3: syntax error", NULL);
}

static void test_unknown_keys(void **state)
{
	conf_expect_errors(
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
	conf_expect_errors(
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
	conf_expect_errors(
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
	conf_expect_errors("server = { workers = 1; };\n",
		" no zones configured (zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );)",
		NULL);
	conf_expect_errors("zones = ();\n", "1: zones must name at least one zone", NULL);
	conf_expect_errors("server = { listen = []; };\n" ZONE,
		"1: server.listen must name at least one address", NULL);
}

static void test_duplicates(void **state)
{
	conf_expect_errors(
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
	conf_expect_errors(
		ZONE
		"cities = ( { name = \"shenzhen\"; lat = 22.54; lon = 114.06; } );\n"
		"sites = ( { name = \"sz-a\"; city = \"shenzen\"; } );\n",
		"3: site 'sz-a' names unknown city 'shenzen'",
		NULL);
	conf_expect_errors(
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
	conf_expect_errors(
		"server = { listen = [ \"127.0.0.1:53\", \"1.2.3.4:0\", \"[::1\", \"127.0.0.1:53\" ]; };\n" ZONE,
		"1: server.listen: '1.2.3.4:0' is not an IPv4 or IPv6 address with an optional port",
		"1: server.listen: '[::1' is not an IPv4 or IPv6 address with an optional port",
		"1: server.listen: duplicate address '127.0.0.1:53'",
		NULL);
}

static void test_names(void **state)
{
	conf_expect_errors(
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
	conf_expect_errors(
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

/* ---------------------------------------------------------------------- */
/* geo and the policy keys                                                */

static void test_geo_defaults(void **state)
{
	gtm_diag_t d = { 0 };
	gtm_conf_t *c = load_text(WORLD
		"services = ( { name = \"www.example.com\"; endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); } );\n",
		&d, NULL);
	assert_non_null(c);
	assert_null(c->geo.db);
	assert_null(c->geo.db_v6);
	assert_int_equal(c->geo.schema, GTM_GEO_SCHEMA_GEOIP2);
	assert_true(c->geo.ecs);
	assert_int_equal(c->geo.n_ecs_trusted, 0);
	assert_int_equal(c->geo.ndefault_order, 0);
	assert_int_equal(c->geo.nrules, 0);
	const gtm_service_t *s = &c->services[0];
	assert_int_equal(s->answer, GTM_ANSWER_ONE);
	assert_int_equal(s->norder, 0);
	assert_int_equal(s->primary, GTM_NO_CITY);
	assert_int_equal(s->backup, GTM_NO_CITY);
	assert_int_equal(s->master, GTM_NO_CITY);

	geo_fields_t f;
	gtm_geo_fields(&c->geo, &f);
	assert_string_equal(f.latitude, "location/latitude");
	assert_string_equal(f.country, "country/iso_code");

	dns_opts_t o;
	gtm_build_opts(c, &o);
	assert_true(o.ecs);
	assert_int_equal(o.n_ecs_trusted, 0);
	gtm_conf_free(c);
}

static void test_geo_keys(void **state)
{
	gtm_diag_t d = { 0 };
	char *path;
	gtm_conf_t *c = load_text(WORLD
		"geo = {\n"
		"  databases = [ \"v4.mmdb\", \"/abs/v6.mmdb\" ];\n"
		"  schema = \"flat\";\n"
		"  fields = { subdivision = \"\"; latitude = \"lat\"; };\n"
		"  ecs = false;\n"
		"  ecs_trusted = [ \"127.0.0.0/8\", \"::1/128\", \"192.0.2.53\" ];\n"
		"  default_order = [ \"shanghai\" ];\n"
		"  maps = (\n"
		"    { cidr = [ \"10.0.0.0/8\", \"fd00::/8\" ]; cities = [ \"shanghai\", \"beijing\" ]; },\n"
		"    { country = [ \"JP\" ]; continent = [ \"EU\" ]; subdivision = [ \"CN-GD\" ];\n"
		"      cities = [ \"beijing\" ]; }\n"
		"  );\n"
		"};\n"
		"services = (\n"
		"  { name = \"a.example.com\"; policy = \"failover\"; order = [ \"sh-a\", \"bj-a\" ]; answer = \"all\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); },\n"
		"  { name = \"b.example.com\"; policy = \"primary-backup\"; primary = \"shanghai\"; backup = \"beijing\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; },\n"
		"                  { site = \"sh-a\"; addresses = [ \"192.0.2.2\" ]; } ); },\n"
		"  { name = \"c.example.com\"; policy = \"global\"; master = \"shanghai\";\n"
		"    endpoints = ( { site = \"sh-a\"; addresses = [ \"192.0.2.2\" ]; } ); },\n"
		"  { name = \"d.example.com\"; policy = \"failover\";\n"
		"    endpoints = ( { site = \"sh-a\"; addresses = [ \"192.0.2.2\" ]; },\n"
		"                  { site = \"bj-a\"; addresses = [ \"192.0.2.1\", \"192.0.2.3\" ]; } ); }\n"
		");\n", &d, &path);
	for (size_t i = 0; i < d.count; i++)
		print_error("%s\n", d.msgs[i]);
	assert_non_null(c);
	char *v4 = gtm_xasprintf("%s/v4.mmdb", tmpdir);
	assert_string_equal(c->geo.db, v4);
	free(v4);
	assert_string_equal(c->geo.db_v6, "/abs/v6.mmdb");
	assert_int_equal(c->geo.db_line, 5);
	assert_int_equal(c->geo.schema, GTM_GEO_SCHEMA_FLAT);
	assert_false(c->geo.ecs);

	geo_fields_t f;
	gtm_geo_fields(&c->geo, &f);
	assert_string_equal(f.country, "country_code");
	assert_string_equal(f.subdivision, "");
	assert_string_equal(f.latitude, "lat");
	assert_string_equal(f.longitude, "longitude");

	assert_int_equal(c->geo.n_ecs_trusted, 3);
	assert_int_equal(c->geo.ecs_trusted[0].family, AF_INET);
	assert_int_equal(c->geo.ecs_trusted[0].prefix, 8);
	assert_int_equal(c->geo.ecs_trusted[0].addr[0], 127);
	assert_int_equal(c->geo.ecs_trusted[1].family, AF_INET6);
	assert_int_equal(c->geo.ecs_trusted[1].prefix, 128);
	assert_int_equal(c->geo.ecs_trusted[1].addr[15], 1);
	assert_int_equal(c->geo.ecs_trusted[2].prefix, 32);
	dns_opts_t o;
	gtm_build_opts(c, &o);
	assert_false(o.ecs);
	assert_int_equal(o.n_ecs_trusted, 3);
	assert_memory_equal(&o.ecs_trusted[1], &c->geo.ecs_trusted[1], sizeof(dns_net_t));

	assert_int_equal(c->geo.ndefault_order, 1);
	assert_int_equal(c->geo.default_order[0], 1);
	/* One rule per key, each with its entry's cities and its own line. */
	assert_int_equal(c->geo.nrules, 5);
	assert_int_equal(c->geo.rules[0].kind, GTM_GEO_CIDR);
	assert_string_equal(c->geo.rules[0].key, "10.0.0.0/8");
	assert_int_equal(c->geo.rules[0].ncities, 2);
	assert_int_equal(c->geo.rules[0].cities[0], 1);
	assert_int_equal(c->geo.rules[0].cities[1], 0);
	assert_int_equal(c->geo.rules[0].line, 12);
	assert_string_equal(c->geo.rules[1].key, "fd00::/8");
	assert_int_equal(c->geo.rules[2].kind, GTM_GEO_COUNTRY);
	assert_int_equal(c->geo.rules[3].kind, GTM_GEO_CONTINENT);
	assert_int_equal(c->geo.rules[4].kind, GTM_GEO_SUBDIVISION);
	assert_string_equal(c->geo.rules[4].key, "CN-GD");
	assert_int_equal(c->geo.rules[4].ncities, 1);
	assert_int_equal(c->geo.rules[4].line, 13);

	const gtm_service_t *s = &c->services[0];
	assert_int_equal(s->answer, GTM_ANSWER_ALL);
	assert_int_equal(s->norder, 2);
	assert_int_equal(s->order[0], 1);
	assert_int_equal(s->order[1], 0);
	s = &c->services[1];
	assert_int_equal(s->primary, 1);
	assert_int_equal(s->backup, 0);
	assert_int_equal(s->master, GTM_NO_CITY);
	s = &c->services[2];
	assert_int_equal(s->master, 1);
	/* Failover without order: the endpoints' sites, config order, once. */
	s = &c->services[3];
	assert_int_equal(s->norder, 2);
	assert_int_equal(s->order[0], 1);
	assert_int_equal(s->order[1], 0);
	gtm_conf_free(c);
	free(path);
}

static void test_geo_errors(void **state)
{
	conf_expect_errors(WORLD
		"geo = {\n"
		"  databases = [ ];\n"
		"  ecs_trusted = [ \"10.0.0.1/8\", \"x\" ];\n"
		"  default_order = [ \"beijing\", \"tokyo\" ];\n"
		"  maps = ( { cidr = [ \"10.0.0.0/33\" ]; cities = [ \"beijing\" ]; },\n"
		"           { country = [ \"JP\" ]; cities = [ \"beijing\" ]; },\n"
		"           { country = [ \"jp\" ]; cities = [ \"shanghai\", \"osaka\" ]; },\n"
		"           { country = [ \"jp\" ]; cities = [ \"shanghai\" ]; } );\n"
		"  ecs = 1;\n"
		"};\n",
		"5: geo.databases must name one file (IPv4 and IPv6) or two (the IPv4 file, then the IPv6 file)",
		"6: geo.ecs_trusted: '10.0.0.1/8' has host bits set after the prefix",
		"6: geo.ecs_trusted: 'x' is not a network (address/prefix)",
		"7: geo.default_order: unknown city 'tokyo'",
		"8: geo.maps: bad network '10.0.0.0/33': prefix length out of range (0..32)",
		"10: geo.maps cities: unknown city 'osaka'",
		"11: geo.maps: country JP is mapped twice",
		"12: geo.ecs must be true or false",
		NULL);
}

static void test_policy_key_errors(void **state)
{
	conf_expect_errors(WORLD
		"services = (\n"
		"  { name = \"a.example.com\"; master = \"beijing\"; order = [ \"bj-a\" ];\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); },\n"
		"  { name = \"b.example.com\"; policy = \"failover\"; order = [ \"bj-x\" ];\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); },\n"
		"  { name = \"c.example.com\"; policy = \"primary-backup\"; primary = \"shanghai\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); },\n"
		"  { name = \"d.example.com\"; policy = \"bogus\"; master = \"beijing\";\n"
		"    endpoints = ( { site = \"bj-a\"; addresses = [ \"192.0.2.1\" ]; } ); }\n"
		");\n",
		"5: service a.example.com: order applies only to policy failover (the policy is nearest)",
		"5: service a.example.com: master applies only to policy global (the policy is nearest)",
		"7: service b.example.com: order names unknown site 'bj-x'",
		"9: service c.example.com: primary city 'shanghai' has no endpoint of this service",
		"11: service d.example.com: policy must be one of nearest, primary-backup, global, failover (got 'bogus')",
		NULL);
}

/* The cluster group: every key read and normalised, then the defaults
 * (node: the host name), then the group's absence. */
static void test_cluster(void **state)
{
	gtm_conf_t *c = conf_load_ok(ZONE
		"cluster = {\n"
		"  node = \"gtm-1.bj_a\";\n"
		"  etcd = [ \"http://127.0.0.1:2379\", \"HTTP://[2001:DB8:0::1]:02379/\",\n"
		"           \"http://Etcd-3.Example.NET.:65535\" ];\n"
		"  prefix = \"/gtm/prod\";\n"
		"  lease = 300;\n"
		"  timeout = 0.25;\n"
		"  health_quorum = 64;\n"
		"  history_keep = 50;\n"
		"};\n");
	const gtm_cluster_conf_t *cc = &c->cluster;
	assert_true(cc->enabled);
	assert_string_equal(cc->node, "gtm-1.bj_a");
	assert_int_equal(cc->netcd, 3);
	assert_string_equal(cc->etcd[0], "http://127.0.0.1:2379");
	assert_string_equal(cc->etcd[1], "http://[2001:db8::1]:2379");
	assert_string_equal(cc->etcd[2], "http://etcd-3.example.net:65535");
	assert_string_equal(cc->prefix, "/gtm/prod/");
	assert_int_equal(cc->lease_s, 300);
	assert_true(cc->timeout_s == 0.25);
	assert_int_equal(cc->timeout_ms, 250);
	assert_int_equal(cc->health_quorum, 64);
	assert_int_equal(cc->history_keep, 50);
	gtm_conf_free(c);

	char host[256] = { 0 };
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	c = conf_load_ok(ZONE "cluster = { etcd = ( \"http://localhost:2379/\" ); };\n");
	cc = &c->cluster;
	assert_true(cc->enabled);
	assert_string_equal(cc->node, host);
	assert_int_equal(cc->netcd, 1);
	assert_string_equal(cc->etcd[0], "http://localhost:2379");
	assert_string_equal(cc->prefix, "/gtm/");
	assert_int_equal(cc->lease_s, 5);
	assert_true(cc->timeout_s == 2.0);
	assert_int_equal(cc->timeout_ms, 2000);
	assert_int_equal(cc->health_quorum, 0);
	assert_int_equal(cc->history_keep, 1000);
	gtm_conf_free(c);

	c = conf_load_ok(ZONE);
	cc = &c->cluster;
	assert_false(cc->enabled);
	assert_null(cc->node);
	assert_null(cc->etcd);
	assert_int_equal(cc->netcd, 0);
	assert_string_equal(cc->prefix, "/gtm/");
	assert_int_equal(cc->lease_s, 5);
	assert_int_equal(cc->timeout_ms, 2000);
	assert_int_equal(cc->health_quorum, 0);
	gtm_conf_free(c);

	conf_expect_errors(ZONE
		"cluster = {\n"
		"  node = \"gtm 1\";\n"
		"  etcd = [ \"https://127.0.0.1:2379\", \"http://a:1\", \"http://A:1/\" ];\n"
		"  prefix = \"gtm\"; lease = 2.5; timeout = 61; health_quorum = 65; peers = 3;\n"
		"};\n",
		"3: cluster.node 'gtm 1' is not valid (use letters, digits, '.', '-' and '_', at most 63)",
		"4: cluster.etcd: 'http://a:1' mixes http:// and https:// (line 4); use one scheme for every member",
		"4: cluster.etcd: 'http://A:1/' mixes http:// and https:// (line 4); use one scheme for every member",
		"5: unknown key 'peers' in cluster",
		"5: cluster.prefix must start with '/' (got 'gtm')",
		"5: cluster.lease must be an integer",
		"5: cluster.timeout must be between 0.1 and 60 (got 61)",
		"5: cluster.health_quorum must be between 0 and 64 (got 65)",
		NULL);
	conf_expect_errors(ZONE "cluster = { node = \"gtm1\"; };\n",
		"2: cluster has no 'etcd'", NULL);
	conf_expect_errors(ZONE "cluster = { etcd = [ \"http://a:1\", \"http://A:1/\" ]; };\n",
		"2: cluster.etcd: duplicate endpoint 'http://A:1/' (first at line 2)", NULL);

	/* TLS: https URLs take the CA, the client certificate and its key */
	char *ca = write_file("etcd-ca.pem", "not parsed by gtmd -t\n");
	char *text = gtm_xasprintf(ZONE "cluster = { node = \"n\"; etcd = [ \"https://etcd1.example.net:2379\" ];\n"
	                           "  ca_file = \"etcd-ca.pem\"; cert_file = \"%s\"; key_file = \"%s\"; };\n", ca, ca);
	c = conf_load_ok(text);
	cc = &c->cluster;
	assert_true(cc->tls);
	assert_string_equal(cc->etcd[0], "https://etcd1.example.net:2379");
	assert_string_equal(cc->ca_file, ca);   /* relative to the config's folder */
	assert_string_equal(cc->cert_file, ca);
	assert_string_equal(cc->key_file, ca);
	gtm_conf_free(c);
	free(text);
	free(ca);
	conf_expect_errors(ZONE "cluster = { etcd = [ \"https://a:1\" ];\n  cert_file = \"etcd-ca.pem\"; };\n",
		"3: cluster: cert_file and key_file go together (the client certificate and its key)", NULL);
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
		cmocka_unit_test(test_geo_defaults),
		cmocka_unit_test(test_geo_keys),
		cmocka_unit_test(test_geo_errors),
		cmocka_unit_test(test_policy_key_errors),
		cmocka_unit_test(test_cluster),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
