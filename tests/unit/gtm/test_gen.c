/*
 * gtm/core/gen.c and the reload scope of gtm/conf/conf.c: the old->new
 * remap a reload hands to every component (one name rule: DNS names
 * without case or final dot, other names exact), the restart-only keys a
 * reload reports, and the conf's name look-ups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gtm/conf/conf.h"
#include "gtm/core/gen.h"
#include "tests/unit/gtm/gtm_test.h"

#define BASE(server, cluster) \
	"server = { " server " };\n" \
	"zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );\n" cluster

static const char *conf_a =
	BASE("workers = 2; tcp_idle_timeout = 10;", "")
	"cities = ( { name = \"beijing\"; lat = 39.9; lon = 116.4; },\n"
	"           { name = \"shanghai\"; lat = 31.2; lon = 121.5; } );\n"
	"sites = ( { name = \"bj-a\"; city = \"beijing\"; },\n"
	"          { name = \"bj-b\"; city = \"beijing\"; },\n"
	"          { name = \"sh-a\"; city = \"shanghai\"; } );\n"
	"services = ( { name = \"www.example.com\";\n"
	"    endpoints = ( { site = \"bj-a\"; addresses = [ \"10.0.0.1\" ]; },\n"
	"                  { site = \"bj-b\"; addresses = [ \"10.0.0.2\" ]; },\n"
	"                  { site = \"sh-a\"; addresses = [ \"10.0.0.3\" ]; } ); },\n"
	"  { name = \"api.example.com\";\n"
	"    endpoints = ( { site = \"sh-a\"; addresses = [ \"10.0.1.3\" ]; } ); } );\n";

/* Reordered, renamed in case and with a final dot, one site gone, one
 * new, one endpoint's address changed, a service gone and one new. */
static const char *conf_b =
	BASE("workers = 1; tcp_idle_timeout = 2;", "")
	"cities = ( { name = \"shanghai\"; lat = 31.2; lon = 121.5; },\n"
	"           { name = \"beijing\"; lat = 39.9; lon = 116.4; } );\n"
	"sites = ( { name = \"sh-a\"; city = \"shanghai\"; },\n"
	"          { name = \"BJ-B\"; city = \"beijing\"; },\n"
	"          { name = \"bj-b\"; city = \"beijing\"; } );\n"
	"services = ( { name = \"new.example.com\";\n"
	"    endpoints = ( { site = \"sh-a\"; addresses = [ \"10.0.2.3\" ]; } ); },\n"
	"  { name = \"WWW.Example.COM.\";\n"
	"    endpoints = ( { site = \"sh-a\"; addresses = [ \"10.0.0.3\" ]; },\n"
	"                  { site = \"bj-b\"; addresses = [ \"10.0.0.9\" ]; },\n"
	"                  { site = \"bj-b\"; addresses = [ \"10.0.0.2\" ]; } ); } );\n";

static int setup(void **state)
{
	tmpdir_setup(state);
	free(write_file("example.com.zone",
	                "$ORIGIN example.com.\n$TTL 60\n@ SOA ns hostmaster 1 60 60 60 60\n@ NS ns\nns A 192.0.2.53\n"));
	return 0;
}

static void test_lookups(void **state)
{
	(void)state;
	gtm_conf_t *c = conf_load_ok(conf_a);
	assert_int_equal(gtm_conf_service(c, "WWW.EXAMPLE.com."), 0);
	assert_int_equal(gtm_conf_service(c, "api.example.com"), 1);
	assert_int_equal(gtm_conf_service(c, "api.example.co"), GTM_NAME_NONE);
	assert_int_equal(gtm_conf_site(c, "sh-a"), 2);
	assert_int_equal(gtm_conf_site(c, "SH-A"), GTM_NAME_NONE);   /* plain names: exact */
	assert_int_equal(gtm_conf_city(c, "shanghai"), 1);
	assert_int_equal(gtm_conf_zone(c, "Example.Com."), 0);
	gtm_conf_free(c);
}

static void test_remap(void **state)
{
	(void)state;
	gtm_conf_t *a = conf_load_ok(conf_a), *b = conf_load_ok(conf_b);
	gtm_remap_t *m = gtm_remap_new(a, b);
	/* sites: bj-a gone, bj-b 1 -> 2, sh-a 2 -> 0; BJ-B is another site */
	assert_int_equal(m->site_new[0], GTM_REMAP_NONE);
	assert_int_equal(m->site_new[1], 2);
	assert_int_equal(m->site_new[2], 0);
	assert_int_equal(m->site_old[0], 2);
	assert_int_equal(m->site_old[1], GTM_REMAP_NONE);
	assert_int_equal(m->site_old[2], 1);
	/* cities swapped */
	assert_int_equal(m->city_new[0], 1);
	assert_int_equal(m->city_new[1], 0);
	/* services: www is WWW.Example.COM. (index 1); api gone; new is new */
	assert_int_equal(m->service_new[0], 1);
	assert_int_equal(m->service_new[1], GTM_REMAP_NONE);
	assert_int_equal(m->service_old[0], GTM_REMAP_NONE);
	assert_int_equal(m->service_old[1], 0);
	/* endpoints of www: sh-a 10.0.0.3 was its third; bj-b 10.0.0.9 is new;
	 * bj-b 10.0.0.2 was its second */
	assert_int_equal(gtm_remap_endpoint_old(m, 1, 0), 2);
	assert_int_equal(gtm_remap_endpoint_old(m, 1, 1), GTM_REMAP_NONE);
	assert_int_equal(gtm_remap_endpoint_old(m, 1, 2), 1);
	assert_int_equal(gtm_remap_endpoint_old(m, 0, 0), GTM_REMAP_NONE);
	gtm_remap_free(m);
	gtm_conf_free(a);
	gtm_conf_free(b);
}

static void collect(const char *key, void *arg)
{
	char *buf = arg;
	strcat(buf, key);
	strcat(buf, ";");
}

static void test_restart_scope(void **state)
{
	(void)state;
	gtm_conf_t *a = conf_load_ok(conf_a), *b = conf_load_ok(conf_b);
	gtm_conf_t *img = gtm_conf_restart_image(a);
	char keys[512] = "";
	/* workers needs a restart, tcp_idle_timeout does not */
	assert_int_equal(gtm_conf_restart_changes(img, b, collect, keys), 1);
	assert_string_equal(keys, "server.workers;");
	keys[0] = '\0';
	assert_int_equal(gtm_conf_restart_changes(img, a, collect, keys), 0);
	/* listen, user and a cluster group added */
	gtm_conf_t *c = conf_load_ok(BASE("workers = 2; listen = [ \"127.0.0.1:5399\" ]; user = \"nobody\";",
	                                  "cluster = { node = \"n1\"; etcd = [ \"http://127.0.0.1:2379\" ]; };\n"));
	keys[0] = '\0';
	assert_int_equal(gtm_conf_restart_changes(img, c, collect, keys), 3);
	assert_string_equal(keys, "server.listen;server.user;cluster;");
	/* within a cluster group: etcd and timeout restart, lease does not */
	gtm_conf_t *d = conf_load_ok(BASE("workers = 2; listen = [ \"127.0.0.1:5399\" ]; user = \"nobody\";",
	                                  "cluster = { node = \"n1\"; etcd = [ \"http://127.0.0.1:2380\" ];"
	                                  " lease = 9; timeout = 3; };\n"));
	gtm_conf_t *cimg = gtm_conf_restart_image(c);
	keys[0] = '\0';
	assert_int_equal(gtm_conf_restart_changes(cimg, d, collect, keys), 2);
	assert_string_equal(keys, "cluster.etcd;cluster.timeout;");
	gtm_conf_free(cimg);
	gtm_conf_free(d);
	gtm_conf_free(c);
	gtm_conf_free(img);
	gtm_conf_free(a);
	gtm_conf_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_remap),
		cmocka_unit_test(test_restart_scope),
	};
	return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
