/*
 * gtm/metrics/metrics.c and gtm/metrics/prometheus.c: path escaping, templates, the
 * Graphite line format, text/JSON/Prometheus rendering, the bounded point
 * queue, the backoff schedule and the config check.  The last cases run
 * the module on an event base against a loopback listener standing in for
 * carbon (down, then up: the newest points arrive, the drops are counted).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "gtm/metrics/metrics.h"

#define TS 1700000000

/* ------------------------------------------------------------ names */

static void expect_escape(const char *in, const char *want)
{
	char buf[128];
	int n = gtm_metrics_escape(buf, sizeof(buf), in);
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
}

static void test_escape(void **state)
{
	(void)state;
	expect_escape("bj-a", "bj-a");
	expect_escape("192.0.2.10", "192_0_2_10");
	expect_escape("www.example.com", "www_example_com");
	expect_escape("2001:db8::1", "2001_db8__1");
	expect_escape("", "_");
	expect_escape("a b/c*d?e[f]{g},h\ti\n", "a_b_c_d_e_f__g__h_i_");
	expect_escape("Node_1", "Node_1");
	expect_escape("caf\xc3\xa9", "caf__");

	char small[4];
	assert_int_equal(gtm_metrics_escape(small, sizeof(small), "abcd"), GTM_ESPACE);
	assert_string_equal(small, "abc");
	assert_int_equal(gtm_metrics_escape(small, sizeof(small), "abc"), 3);
}

static void test_path(void **state)
{
	(void)state;
	char buf[64];
	const char *c[] = { "check", "bj-a", "192.0.2.10", "up" };
	assert_int_equal(gtm_metrics_path(buf, sizeof(buf), c, 4), 24);
	assert_string_equal(buf, "check.bj-a.192_0_2_10.up");
	const char *one[] = { "www.example.com" };
	gtm_metrics_path(buf, sizeof(buf), one, 1);
	assert_string_equal(buf, "www_example_com");
	assert_int_equal(gtm_metrics_path(buf, 10, c, 4), GTM_ESPACE);
	assert_int_equal(gtm_metrics_path(buf, sizeof(buf), c, 0), 0);
	assert_string_equal(buf, "");
}

static void test_template(void **state)
{
	(void)state;
	assert_int_equal(gtm_metrics_template_check("dns.queries"), 0);
	assert_int_equal(gtm_metrics_template_check("site.{site}.answers"), 1);
	assert_int_equal(gtm_metrics_template_check("check.{site}.{endpoint}.up"), 2);
	assert_int_equal(gtm_metrics_template_check("dns.{rcode}|dns_responses"), 1);
	assert_int_equal(gtm_metrics_template_check("{a}.{b}.{c}.{d}|x"), 4);
	assert_int_equal(gtm_metrics_template_check("Site-A.x_1"), 0);

	const char *bad[] = {
		"", ".", "dns.", ".dns", "dns..queries", "dns.que ries", "dns.que/ries",
		"site.{}.x", "site.{Site}.x", "site.{1a}.x", "site.{site.x", "site.site}.x",
		"site.{host}.x", "site.{__a}.x", "x.{a}.{a}", "{a}", "{a}.{b}",
		"x|", "x|Bad", "x|a-b", "{a}.{b}.{c}.{d}.{e}|x", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (gtm_metrics_template_check(bad[i]) != GTM_EINVAL)
			fail_msg("template \"%s\" accepted", bad[i]);
	}
}

/* ------------------------------------------------------------ rendering */

/* A sink with one figure of each shape. */
static gtm_metrics_sink_t *sample(void)
{
	gtm_metrics_sink_t *s = gtm_metrics_sink_new("gtm", "node1.example.com", TS);
	gtm_metrics_counter(s, "dns.queries", 42);
	gtm_metrics_counter(s, "dns.{rcode}|dns_responses", 40, "noerror");
	gtm_metrics_counter(s, "dns.{rcode}|dns_responses", 2, "nxdomain");
	gtm_metrics_gauge(s, "site.{site}.weight", 0.5, "www.example.com");
	gtm_metrics_gauge(s, "check.{site}.{endpoint}.latency_ms", 12.5, "bj-a", "192.0.2.10");
	gtm_metrics_gauge(s, "check.{site}.{endpoint}.up", 1, "bj-a", "192.0.2.10");
	return s;
}

static void test_graphite_lines(void **state)
{
	(void)state;
	gtm_metrics_sink_t *s = sample();
	size_t len;
	char *t = gtm_metrics_sink_render(s, GTM_METRICS_GRAPHITE, &len);
	const char *want =
		"gtm.node1_example_com.dns.queries 42 1700000000\n"
		"gtm.node1_example_com.dns.noerror 40 1700000000\n"
		"gtm.node1_example_com.dns.nxdomain 2 1700000000\n"
		"gtm.node1_example_com.site.www_example_com.weight 0.5 1700000000\n"
		"gtm.node1_example_com.check.bj-a.192_0_2_10.latency_ms 12.5 1700000000\n"
		"gtm.node1_example_com.check.bj-a.192_0_2_10.up 1 1700000000\n";
	assert_string_equal(t, want);
	assert_int_equal(len, strlen(want));
	free(t);
	gtm_metrics_sink_free(s);

	/* A dotted prefix stays dotted: it is the operator's hierarchy. */
	s = gtm_metrics_sink_new("prod.dns", "n1", 5);
	gtm_metrics_counter(s, "controller.evacuations", 3);
	t = gtm_metrics_sink_render(s, GTM_METRICS_GRAPHITE, NULL);
	assert_string_equal(t, "prod.dns.n1.controller.evacuations 3 5\n");
	free(t);
	gtm_metrics_sink_free(s);
}

static void test_values(void **state)
{
	(void)state;
	gtm_metrics_sink_t *s = gtm_metrics_sink_new("gtm", "h", TS);
	gtm_metrics_counter(s, "a", UINT64_MAX);
	gtm_metrics_gauge(s, "b", 3.0);
	gtm_metrics_gauge(s, "c", -2.0);
	gtm_metrics_gauge(s, "d", 0.00001);
	gtm_metrics_gauge(s, "e", 1.0 / 3.0);
	gtm_metrics_gauge(s, "f", 1e20);
	gtm_metrics_gauge(s, "g", NAN);       /* left out */
	gtm_metrics_gauge(s, "h", INFINITY);  /* left out */
	assert_int_equal(gtm_metrics_sink_count(s), 6);
	char *t = gtm_metrics_sink_render(s, GTM_METRICS_TEXT, NULL);
	assert_string_equal(t,
	                    "a 18446744073709551615\n"
	                    "b 3\n"
	                    "c -2\n"
	                    "d 1e-05\n"
	                    "e 0.333333333333333\n"
	                    "f 1e+20\n");
	free(t);
	assert_int_equal(gtm_metrics_sink_time(s), TS);
	const gtm_metric_t *f = gtm_metrics_sink_get(s, 0);
	assert_int_equal(f->kind, GTM_METRIC_COUNTER);
	assert_true(f->count == UINT64_MAX);
	gtm_metrics_sink_free(s);
}

static void test_figure_fields(void **state)
{
	(void)state;
	gtm_metrics_sink_t *s = sample();
	const gtm_metric_t *f = gtm_metrics_sink_get(s, 4);
	assert_string_equal(f->path, "check.bj-a.192_0_2_10.latency_ms");
	assert_string_equal(f->shape, "check.<site>.<endpoint>.latency_ms");
	assert_string_equal(f->family, "gtm_check_latency_seconds");
	assert_true(f->prom_scale == 0.001);
	assert_int_equal(f->nlabels, 2);
	assert_string_equal(f->label_names[1], "endpoint");
	assert_string_equal(f->label_values[1], "192.0.2.10");
	f = gtm_metrics_sink_get(s, 1);
	assert_string_equal(f->family, "gtm_dns_responses_total");
	assert_string_equal(f->path, "dns.noerror");
	f = gtm_metrics_sink_get(s, 0);
	assert_string_equal(f->family, "gtm_dns_queries_total");
	assert_int_equal(f->nlabels, 0);
	gtm_metrics_sink_free(s);

	/* Array form; dashes and capitals become a valid Prometheus name. */
	s = gtm_metrics_sink_new("gtm", "h", TS);
	const char *lv[] = { "bj-a" };
	gtm_metrics_counterv(s, "Site-X.{site}.answers", 7, lv, 1);
	gtm_metrics_gaugev(s, "reload.total_ms", 1500, NULL, 0);
	gtm_metrics_counter(s, "already.total", 1);
	assert_string_equal(gtm_metrics_sink_get(s, 0)->family, "gtm_site_x_answers_total");
	assert_string_equal(gtm_metrics_sink_get(s, 0)->path, "Site-X.bj-a.answers");
	assert_string_equal(gtm_metrics_sink_get(s, 1)->family, "gtm_reload_total_seconds");
	assert_string_equal(gtm_metrics_sink_get(s, 2)->family, "gtm_already_total");
	gtm_metrics_sink_free(s);
}

static void test_text(void **state)
{
	(void)state;
	gtm_metrics_sink_t *s = sample();
	char *t = gtm_metrics_sink_render(s, GTM_METRICS_TEXT, NULL);
	assert_string_equal(t,
	                    "dns.queries 42\n"
	                    "dns.noerror 40\n"
	                    "dns.nxdomain 2\n"
	                    "site.www_example_com.weight 0.5\n"
	                    "check.bj-a.192_0_2_10.latency_ms 12.5\n"
	                    "check.bj-a.192_0_2_10.up 1\n");
	free(t);
	gtm_metrics_sink_free(s);
}

static void test_json(void **state)
{
	(void)state;
	gtm_metrics_sink_t *s = gtm_metrics_sink_new("gtm", "node\"1", TS);
	gtm_metrics_counter(s, "dns.queries", 42);
	gtm_metrics_gauge(s, "site.{site}.weight", 0.5, "a\\b\n");
	char *t = gtm_metrics_sink_render(s, GTM_METRICS_JSON, NULL);
	assert_string_equal(t,
	                    "{\"prefix\":\"gtm\",\"host\":\"node\\\"1\",\"time\":1700000000,\"metrics\":["
	                    "{\"path\":\"dns.queries\",\"type\":\"counter\",\"value\":42,\"labels\":{}},"
	                    "{\"path\":\"site.a_b_.weight\",\"type\":\"gauge\",\"value\":0.5,"
	                    "\"labels\":{\"site\":\"a\\\\b\\u000a\"}}]}\n");
	free(t);
	gtm_metrics_sink_free(s);

	s = gtm_metrics_sink_new("gtm", "h", 0);
	t = gtm_metrics_sink_render(s, GTM_METRICS_JSON, NULL);
	assert_string_equal(t, "{\"prefix\":\"gtm\",\"host\":\"h\",\"time\":0,\"metrics\":[]}\n");
	free(t);
	gtm_metrics_sink_free(s);
}

static void test_prometheus(void **state)
{
	(void)state;
	gtm_metrics_sink_t *s = gtm_metrics_sink_new("prod", "node1.example.com", TS);
	/* Out of family order on purpose. */
	gtm_metrics_counter(s, "site.{site}.answers", 10, "sh-a");
	gtm_metrics_counter(s, "dns.queries", 42);
	gtm_metrics_counter(s, "site.{site}.answers", 20, "bj-a");
	gtm_metrics_gauge(s, "check.{site}.{endpoint}.latency_ms", 12.5, "bj-a", "192.0.2.10");
	gtm_metrics_gauge(s, "site.{site}.weight", 1, "q\"uote\\back\nline");
	gtm_metrics_counter(s, "site.{site}.answers", 99, "bj-a");      /* duplicate: skipped */
	gtm_metrics_gauge(s, "dns.queries|dns_queries_total", 1);        /* kind conflict: skipped */
	gtm_metrics_counter(s, "dns.{rcode}|dns_responses", 2, "nxdomain");
	char *t = gtm_metrics_sink_render(s, GTM_METRICS_PROMETHEUS, NULL);
	assert_string_equal(t,
		"# HELP gtm_check_latency_seconds Graphite path <prefix>.<host>.check.<site>.<endpoint>.latency_ms (in milliseconds there)\n"
		"# TYPE gtm_check_latency_seconds gauge\n"
		"gtm_check_latency_seconds{host=\"node1.example.com\",site=\"bj-a\",endpoint=\"192.0.2.10\"} 0.0125\n"
		"# HELP gtm_dns_queries_total Graphite path <prefix>.<host>.dns.queries\n"
		"# TYPE gtm_dns_queries_total counter\n"
		"gtm_dns_queries_total{host=\"node1.example.com\"} 42\n"
		"# HELP gtm_dns_responses_total Graphite path <prefix>.<host>.dns.<rcode>\n"
		"# TYPE gtm_dns_responses_total counter\n"
		"gtm_dns_responses_total{host=\"node1.example.com\",rcode=\"nxdomain\"} 2\n"
		"# HELP gtm_site_answers_total Graphite path <prefix>.<host>.site.<site>.answers\n"
		"# TYPE gtm_site_answers_total counter\n"
		"gtm_site_answers_total{host=\"node1.example.com\",site=\"bj-a\"} 20\n"
		"gtm_site_answers_total{host=\"node1.example.com\",site=\"sh-a\"} 10\n"
		"# HELP gtm_site_weight Graphite path <prefix>.<host>.site.<site>.weight\n"
		"# TYPE gtm_site_weight gauge\n"
		"gtm_site_weight{host=\"node1.example.com\",site=\"q\\\"uote\\\\back\\nline\"} 1\n");
	free(t);
	gtm_metrics_sink_free(s);

	s = gtm_metrics_sink_new("gtm", "h", TS);
	t = gtm_metrics_sink_render(s, GTM_METRICS_PROMETHEUS, NULL);
	assert_string_equal(t, "");
	free(t);
	gtm_metrics_sink_free(s);
}

/* ------------------------------------------------------------ queue, backoff */

static char *drain(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = gtm_xmalloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

static void push(gtm_metrics_queue_t *q, const char *line, size_t want_dropped)
{
	assert_int_equal(gtm_metrics_queue_push(q, line, strlen(line)), want_dropped);
}

static void test_queue_keeps_newest(void **state)
{
	(void)state;
	gtm_metrics_queue_t *q = gtm_metrics_queue_new(3);
	struct evbuffer *out = evbuffer_new();
	push(q, "a 1 1\n", 0);
	push(q, "b 2 1\n", 0);
	push(q, "c 3 1\n", 0);
	assert_int_equal(gtm_metrics_queue_dropped(q), 0);
	push(q, "d 4 1\n", 1);
	push(q, "eee 5 1\n", 1);
	assert_int_equal(gtm_metrics_queue_count(q), 3);
	assert_int_equal(gtm_metrics_queue_dropped(q), 2);
	assert_int_equal(gtm_metrics_queue_bytes(q), 20);

	/* Whole points only, at least one, oldest first. */
	assert_int_equal(gtm_metrics_queue_pop(q, out, 1), 1);
	char *s = drain(out);
	assert_string_equal(s, "c 3 1\n");
	free(s);
	push(q, "f 6 1\n", 0);
	push(q, "g 7 1\n", 1);
	assert_int_equal(gtm_metrics_queue_pop(q, out, 13), 1);   /* "d" 6 + "eee" 8 > 13 */
	assert_int_equal(gtm_metrics_queue_pop(q, out, 1000), 2);
	assert_int_equal(gtm_metrics_queue_pop(q, out, 1000), 0);
	s = drain(out);
	assert_string_equal(s, "eee 5 1\nf 6 1\ng 7 1\n");
	free(s);
	assert_int_equal(gtm_metrics_queue_count(q), 0);
	assert_int_equal(gtm_metrics_queue_bytes(q), 0);
	assert_int_equal(gtm_metrics_queue_dropped(q), 3);
	gtm_metrics_queue_free(q);

	/* Many wraps of the ring. */
	q = gtm_metrics_queue_new(100);
	char line[32];
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(line, sizeof(line), "p %d 1\n", i);
		gtm_metrics_queue_push(q, line, (size_t)n);
	}
	assert_int_equal(gtm_metrics_queue_count(q), 100);
	assert_int_equal(gtm_metrics_queue_dropped(q), 900);
	assert_int_equal(gtm_metrics_queue_pop(q, out, 1), 1);
	s = drain(out);
	assert_string_equal(s, "p 900 1\n");
	free(s);
	gtm_metrics_queue_free(q);

	/* No buffer at all: every point is a drop. */
	q = gtm_metrics_queue_new(0);
	push(q, "a 1 1\n", 1);
	assert_int_equal(gtm_metrics_queue_count(q), 0);
	assert_int_equal(gtm_metrics_queue_dropped(q), 1);
	assert_int_equal(gtm_metrics_queue_pop(q, out, 100), 0);
	gtm_metrics_queue_free(q);
	gtm_metrics_queue_free(NULL);
	evbuffer_free(out);
}

static void test_backoff(void **state)
{
	(void)state;
	const uint32_t want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(gtm_metrics_backoff_ms(i, 1000, 60000, 0), want[i]);
	assert_int_equal(gtm_metrics_backoff_ms(1000, 1000, 60000, 0), 60000);
	assert_int_equal(gtm_metrics_backoff_ms(UINT32_MAX, 1000, 60000, 0), 60000);
	/* Jitter: never above the nominal delay, never below three quarters. */
	for (unsigned i = 0; i < 12; i++) {
		uint32_t d = want[i < 8 ? i : 8];
		for (uint32_t r = 0; r < 100000; r += 997) {
			uint32_t got = gtm_metrics_backoff_ms(i, 1000, 60000, r * 2654435761u);
			if (got > d || got < d - d / 4)
				fail_msg("attempt %u rnd %u: %u ms outside [%u, %u]", i, r, got, d - d / 4, d);
		}
	}
	assert_int_equal(gtm_metrics_backoff_ms(0, 1000, 60000, 250), 750);
	assert_int_equal(gtm_metrics_backoff_ms(0, 1000, 60000, 251), 1000);
	assert_int_equal(gtm_metrics_backoff_ms(3, 100, 500, 0), 500);
	assert_int_equal(gtm_metrics_backoff_ms(0, 1, 1, 7), 1);
}

/* ------------------------------------------------------------ config */

static void test_listen_parse(void **state)
{
	(void)state;
	char a[64];
	uint16_t p;
	assert_int_equal(gtm_metrics_listen_parse("127.0.0.1:9153", a, sizeof(a), &p), 0);
	assert_string_equal(a, "127.0.0.1");
	assert_int_equal(p, 9153);
	assert_int_equal(gtm_metrics_listen_parse("[::1]:9100", a, sizeof(a), &p), 0);
	assert_string_equal(a, "::1");
	assert_int_equal(p, 9100);
	assert_int_equal(gtm_metrics_listen_parse("127.0.0.2", a, sizeof(a), &p), 0);
	assert_int_equal(p, 9153);
	assert_int_equal(gtm_metrics_listen_parse("::1", a, sizeof(a), &p), 0);
	assert_string_equal(a, "::1");
	assert_int_equal(p, 9153);
	assert_int_equal(gtm_metrics_listen_parse("[::1]", a, sizeof(a), &p), 0);
	assert_int_equal(gtm_metrics_listen_parse("127.0.0.1:0", a, sizeof(a), &p), 0);
	assert_int_equal(p, 0);
	const char *bad[] = { "", ":9153", "localhost:9153", "127.0.0.1:", "127.0.0.1:65536",
	                      "127.0.0.1:x", "127.0.0.1:-1", "[::1", "[::1]x", "[::1]:", "1.2.3:80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gtm_metrics_listen_parse(bad[i], a, sizeof(a), &p) != GTM_EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	assert_int_equal(gtm_metrics_listen_parse("127.0.0.1:1", a, 4, &p), GTM_EINVAL);
}

static void expect_diag(const gtm_diag_t *d, const char *const *want, size_t n)
{
	if (d->count != n)
		for (size_t i = 0; i < d->count; i++)
			print_message("  got: %s\n", d->msgs[i]);
	assert_int_equal(d->count, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(d->msgs[i], want[i]);
}

static void test_conf_check(void **state)
{
	(void)state;
	gtm_metrics_conf_t c;
	gtm_diag_t d = { 0 };
	gtm_metrics_conf_init(&c);
	assert_int_equal(c.interval, 10);
	assert_int_equal(c.buffer, 100000);
	assert_null(c.prometheus);
	assert_int_equal(gtm_metrics_conf_check(&c, "gtm.conf", 7, &d), 0);
	assert_int_equal(d.count, 0);

	gtm_carbon_proto_t pr;
	assert_int_equal(gtm_carbon_proto_parse("udp", &pr), 0);
	assert_int_equal(pr, GTM_CARBON_UDP);
	assert_int_equal(gtm_carbon_proto_parse("tcp", &pr), 0);
	assert_int_equal(pr, GTM_CARBON_TCP);
	assert_int_equal(gtm_carbon_proto_parse("TCP", &pr), GTM_EINVAL);

	gtm_metrics_conf_add_carbon(&c, "127.0.0.1", 2003, GTM_CARBON_TCP)->line = 9;
	gtm_metrics_conf_add_carbon(&c, "graphite.example.com", 2003, GTM_CARBON_UDP);
	c.prefix = gtm_xstrdup("prod.gtm");
	c.hostname = gtm_xstrdup("node1.example.com");
	c.prometheus = gtm_xstrdup("[::1]:9153");
	assert_int_equal(gtm_metrics_conf_check(&c, "gtm.conf", 7, &d), 0);

	gtm_metrics_conf_t o;
	gtm_metrics_conf_init(&o);
	assert_false(gtm_metrics_conf_same(&c, &o));
	gtm_metrics_conf_add_carbon(&o, "127.0.0.1", 2003, GTM_CARBON_TCP);
	gtm_metrics_conf_add_carbon(&o, "graphite.example.com", 2003, GTM_CARBON_UDP);
	o.prefix = gtm_xstrdup("prod.gtm");
	o.hostname = gtm_xstrdup("node1.example.com");
	o.prometheus = gtm_xstrdup("[::1]:9153");
	assert_true(gtm_metrics_conf_same(&c, &o));
	o.carbon[1].port = 2004;
	assert_false(gtm_metrics_conf_same(&c, &o));
	gtm_metrics_conf_clear(&o);

	gtm_metrics_conf_clear(&c);
	assert_int_equal(c.ncarbon, 0);
	assert_null(c.prefix);

	/* Every problem at once, each with its line. */
	gtm_metrics_conf_add_carbon(&c, "127.0.0.1", 2003, GTM_CARBON_TCP)->line = 9;
	gtm_metrics_conf_add_carbon(&c, "127.0.0.1", 2003, GTM_CARBON_TCP)->line = 10;
	gtm_metrics_conf_add_carbon(&c, "", 0, GTM_CARBON_UDP);
	c.prefix = gtm_xstrdup("gtm..x");
	c.hostname = gtm_xstrdup("");
	c.interval = 0;
	c.buffer = 20000000;
	c.prometheus = gtm_xstrdup("localhost:9153");
	assert_int_equal(gtm_metrics_conf_check(&c, "gtm.conf", 7, &d), GTM_EINVAL);
	const char *want[] = {
		"gtm.conf:7: metrics.prefix \"gtm..x\": components of letters, digits, '_' and '-' separated by dots",
		"gtm.conf:7: metrics.hostname: 1 to 255 characters",
		"gtm.conf:7: metrics.interval 0: must be 1..3600 seconds",
		"gtm.conf:7: metrics.buffer 20000000: must be 0..10000000 points",
		"gtm.conf:7: metrics.prometheus \"localhost:9153\": not an address (ADDR:PORT, [ADDR6]:PORT or ADDR)",
		"gtm.conf:10: metrics.graphite 127.0.0.1:2003 (tcp): listed twice",
		"gtm.conf:7: metrics.graphite: host \"\" is not an address or name",
		"gtm.conf:7: metrics.graphite: port 0 must be 1..65535",
	};
	expect_diag(&d, want, sizeof(want) / sizeof(want[0]));
	gtm_diag_clear(&d);

	gtm_metrics_conf_clear(&c);
	c.interval = 3601;
	c.backoff_min_ms = 0;
	assert_int_equal(gtm_metrics_conf_check(&c, "f", 0, &d), GTM_EINVAL);
	const char *want2[] = {
		"f: metrics.interval 3601: must be 1..3600 seconds",
		"f: metrics backoff 0..60000 ms: need 1 <= min <= max",
	};
	expect_diag(&d, want2, 2);
	gtm_diag_clear(&d);
	gtm_metrics_conf_clear(&c);
}

/* ------------------------------------------------------------ the module */

static uint64_t collected;

static void collect(gtm_metrics_sink_t *s, void *arg)
{
	(void)arg;
	collected++;
	gtm_metrics_counter(s, "test.requests", 7 * collected);
	gtm_metrics_gauge(s, "site.{site}.weight", 100, "bj-a");
}

static void test_snapshot(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	gtm_metrics_conf_t c;
	gtm_metrics_conf_init(&c);
	c.hostname = gtm_xstrdup("n1.example.com");
	gtm_metrics_t *m = gtm_metrics_new(base, &c, collect, NULL);
	assert_non_null(m);
	assert_string_equal(gtm_metrics_host(m), "n1_example_com");
	assert_int_equal(gtm_metrics_prometheus_port(m), 0);
	collected = 0;
	char *t = gtm_metrics_snapshot(m, GTM_METRICS_TEXT, NULL);
	assert_string_equal(t,
	                    "test.requests 7\n"
	                    "site.bj-a.weight 100\n"
	                    "metrics.dropped 0\n"
	                    "metrics.buffered 0\n");
	free(t);
	t = gtm_metrics_snapshot(m, GTM_METRICS_PROMETHEUS, NULL);
	assert_non_null(strstr(t, "gtm_test_requests_total{host=\"n1.example.com\"} 14\n"));
	assert_non_null(strstr(t, "# TYPE gtm_metrics_dropped_total counter\n"));
	assert_non_null(strstr(t, "gtm_metrics_buffered{host=\"n1.example.com\"} 0\n"));
	free(t);
	assert_int_equal(gtm_metrics_flush(m, 100), 0);
	gtm_metrics_free(m);
	gtm_metrics_free(NULL);
	gtm_metrics_conf_clear(&c);
	event_base_free(base);
}

static void run_for(struct event_base *base, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Reads what arrived on `fd` for at most `ms`. */
static size_t slurp(int fd, char *buf, size_t cap, int ms)
{
	size_t n = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (n + 1 < cap && poll(&p, 1, ms) > 0) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * Carbon down at start: the module buffers at most 4 points (2 figures + 2
 * own per collection) and drops the older ones; once a listener appears
 * the kept points are delivered in order, and the drops show up in
 * metrics.dropped.  Collections here are forced with gtm_metrics_flush,
 * which also gives the module a chance to write without the loop.
 */
static void test_buffer_then_deliver(void **state)
{
	(void)state;
	/* A free port: bind, note it, close; then listen on it later. */
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(ls, (struct sockaddr *)&sa, &sl);
	close(ls);

	struct event_base *base = event_base_new();
	gtm_metrics_conf_t c;
	gtm_metrics_conf_init(&c);
	c.hostname = gtm_xstrdup("h");
	c.buffer = 4;
	/* The tick fires at wall-clock multiples of the interval: an hour
	 * keeps it out of this test's few hundred milliseconds, so only the
	 * explicit flushes collect. */
	c.interval = 3600;
	c.backoff_min_ms = 20;
	c.backoff_max_ms = 40;
	gtm_metrics_conf_add_carbon(&c, "127.0.0.1", ntohs(sa.sin_port), GTM_CARBON_TCP);
	collected = 0;
	gtm_metrics_t *m = gtm_metrics_new(base, &c, collect, NULL);
	assert_non_null(m);
	run_for(base, 50);                                /* refused at least once */
	for (int i = 0; i < 3; i++)
		gtm_metrics_flush(m, 0);                  /* 3 collections of 4 points */
	assert_int_equal(gtm_metrics_buffered(m), 4);
	assert_int_equal(gtm_metrics_dropped(m), 8);

	ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 4), 0);
	run_for(base, 200);                               /* reconnects within 40 ms */
	int fd = accept(ls, NULL, NULL);
	assert_true(fd >= 0);
	char buf[8192];
	slurp(fd, buf, sizeof(buf), 200);
	/* The newest collection's 4 points, whole and in order. */
	if (count_str(buf, "\n") != 4 || strncmp(buf, "gtm.h.test.requests 21 ", 23) != 0 ||
	    strstr(buf, "gtm.h.metrics.dropped 4 ") == NULL)
		fail_msg("carbon received:\n%s", buf);
	assert_int_equal(gtm_metrics_buffered(m), 0);

	/* A fourth collection goes straight through and reports the drops. */
	assert_int_equal(gtm_metrics_flush(m, 1000), 0);
	slurp(fd, buf, sizeof(buf), 200);
	if (strncmp(buf, "gtm.h.test.requests 28 ", 23) != 0 ||
	    strstr(buf, "gtm.h.metrics.dropped 8 ") == NULL)
		fail_msg("carbon received:\n%s", buf);

	/* Carbon goes away: the module notices, keeps collecting. */
	close(fd);
	close(ls);
	run_for(base, 100);
	gtm_metrics_flush(m, 0);
	assert_int_equal(gtm_metrics_buffered(m), 4);
	gtm_metrics_free(m);
	gtm_metrics_conf_clear(&c);
	event_base_free(base);
}

/* A host name goes through evdns (here the hosts file's localhost); every
 * address it has is tried before backing off. */
static void test_carbon_by_name(void **state)
{
	(void)state;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 4), 0);
	socklen_t sl = sizeof(sa);
	getsockname(ls, (struct sockaddr *)&sa, &sl);

	struct event_base *base = event_base_new();
	gtm_metrics_conf_t c;
	gtm_metrics_conf_init(&c);
	c.hostname = gtm_xstrdup("h");
	c.interval = 3600; /* only the explicit flush collects (see above) */
	gtm_metrics_conf_add_carbon(&c, "localhost", ntohs(sa.sin_port), GTM_CARBON_TCP);
	collected = 0;
	gtm_metrics_t *m = gtm_metrics_new(base, &c, collect, NULL);
	assert_non_null(m);
	run_for(base, 300);
	assert_int_equal(gtm_metrics_flush(m, 1000), 0);
	int fd = accept(ls, NULL, NULL);
	assert_true(fd >= 0);
	char buf[4096];
	slurp(fd, buf, sizeof(buf), 200);
	if (strncmp(buf, "gtm.h.test.requests 7 ", 22) != 0)
		fail_msg("carbon received:\n%s", buf);
	close(fd);
	close(ls);
	gtm_metrics_free(m);
	gtm_metrics_conf_clear(&c);
	event_base_free(base);
}

/* The Prometheus listener answers /metrics with the figures and 404
 * elsewhere. */
static void test_prometheus_http(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	gtm_metrics_conf_t c;
	gtm_metrics_conf_init(&c);
	c.hostname = gtm_xstrdup("h");
	c.prometheus = gtm_xstrdup("127.0.0.1:0");
	gtm_metrics_t *m = gtm_metrics_new(base, &c, collect, NULL);
	assert_non_null(m);
	uint16_t port = gtm_metrics_prometheus_port(m);
	assert_true(port != 0);

	const char *paths[] = { "/metrics", "/nope" };
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
		                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		char req[128];
		int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", paths[i]);
		assert_int_equal(write(fd, req, (size_t)n), n);
		run_for(base, 100);
		char buf[8192];
		slurp(fd, buf, sizeof(buf), 100);
		close(fd);
		if (i == 0) {
			if (strncmp(buf, "HTTP/1.0 200", 12) != 0 ||
			    strstr(buf, "Content-Type: text/plain; version=0.0.4") == NULL ||
			    strstr(buf, "\r\n\r\n# HELP ") == NULL ||
			    strstr(buf, "gtm_site_weight{host=\"h\",site=\"bj-a\"} 100\n") == NULL)
				fail_msg("response:\n%s", buf);
		} else if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 404", 4) != 0) {
			fail_msg("response:\n%s", buf);
		}
	}

	/* A second module on the same port cannot listen: NULL. */
	char *addr = gtm_xasprintf("127.0.0.1:%u", port);
	free(c.prometheus);
	c.prometheus = addr;
	assert_null(gtm_metrics_new(base, &c, collect, NULL));
	gtm_metrics_free(m);
	gtm_metrics_conf_clear(&c);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_graphite_lines),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_figure_fields),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_queue_keeps_newest),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_conf_check),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_buffer_then_deliver),
		cmocka_unit_test(test_carbon_by_name),
		cmocka_unit_test(test_prometheus_http),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
