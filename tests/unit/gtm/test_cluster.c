/*
 * Cluster mode's pure parts: the observers' vote (gtm/cluster/cluster.h) and the
 * etcd JSON helpers (gtm/cluster/etcd.h).  The rest (etcd, three gtmd nodes,
 * partitions) is held by the drill, tests/cluster/drill.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "gtm/cluster/cluster.h"
#include "gtm/cluster/etcd.h"

#define U CHK_STATE_UP
#define D CHK_STATE_DOWN
#define X CHK_STATE_UNKNOWN

static chk_state_t vote(uint32_t quorum, size_t n, ...)
{
	chk_state_t v[16];
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		v[i] = (chk_state_t)va_arg(ap, int);
	va_end(ap);
	return gtm_cluster_vote(v, n, quorum);
}

static void test_vote_majority(void **state)
{
	(void)state;
	/* one node cut off from an IDC is outvoted */
	assert_int_equal(vote(0, 3, D, U, U), U);
	/* two of three see it down: down */
	assert_int_equal(vote(0, 3, D, D, U), D);
	assert_int_equal(vote(0, 3, D, D, D), D);
	/* two observers: one alone is not a majority */
	assert_int_equal(vote(0, 2, D, U), U);
	assert_int_equal(vote(0, 2, D, D), D);
	/* alone (the others gone): its own view */
	assert_int_equal(vote(0, 1, D), D);
	assert_int_equal(vote(0, 1, U), U);
	/* no verdict does not vote */
	assert_int_equal(vote(0, 3, D, X, X), D);
	assert_int_equal(vote(0, 3, D, U, X), U);
	assert_int_equal(vote(0, 3, X, X, X), X);
	assert_int_equal(vote(0, 0), X);
	/* five: three needed */
	assert_int_equal(vote(0, 5, D, D, U, U, U), U);
	assert_int_equal(vote(0, 5, D, D, D, U, U), D);
}

static void test_vote_quorum(void **state)
{
	(void)state;
	/* quorum 1: any observer that sees it down takes it out */
	assert_int_equal(vote(1, 3, U, D, U), D);
	/* quorum 3 of 3: all must see it down */
	assert_int_equal(vote(3, 3, D, D, U), U);
	assert_int_equal(vote(3, 3, D, D, D), D);
	/* a quorum above the voters counts them all */
	assert_int_equal(vote(5, 2, D, D), D);
	assert_int_equal(vote(5, 2, D, U), U);
}

static void b64_round(const char *s, size_t len, const char *want)
{
	json_t *j = gtm_etcd_b64(s, len);
	assert_string_equal(json_string_value(j), want);
	size_t n = 99;
	char *back = gtm_etcd_unb64(j, &n);
	assert_non_null(back);
	assert_int_equal(n, len);
	assert_memory_equal(back, s, len);
	free(back);
	json_decref(j);
}

static void test_b64(void **state)
{
	(void)state;
	b64_round("", 0, "");
	b64_round("f", 1, "Zg==");
	b64_round("fo", 2, "Zm8=");
	b64_round("foo", 3, "Zm9v");
	b64_round("/gtm/admin", 10, "L2d0bS9hZG1pbg==");
	b64_round("\xff\x00\xfe", 3, "/wD+");
	const char *bad[] = { "abc", "a===", "ab=c", "Zg==Zg==", "Z!==", "====" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_string(bad[i]);
		size_t n;
		char *out = gtm_etcd_unb64(j, &n);
		if (out)
			fail_msg("'%s' decoded", bad[i]);
		json_decref(j);
	}
	/* etcd leaves out empty values */
	size_t n = 9;
	char *e = gtm_etcd_unb64(NULL, &n);
	assert_non_null(e);
	assert_int_equal(n, 0);
	free(e);
	json_t *num = json_integer(3);
	assert_null(gtm_etcd_unb64(num, &n));
	json_decref(num);
}

static void prefix_end(const char *prefix, const char *want, size_t wlen)
{
	json_t *j = gtm_etcd_prefix_end(prefix);
	size_t n;
	char *s = gtm_etcd_unb64(j, &n);
	assert_non_null(s);
	assert_int_equal(n, wlen);
	assert_memory_equal(s, want, wlen);
	free(s);
	json_decref(j);
}

static void test_prefix_end_and_int(void **state)
{
	(void)state;
	prefix_end("/gtm/", "/gtm0", 5);
	prefix_end("a\xff", "b", 1);
	prefix_end("\xff", "\0", 1);
	json_t *s = json_string("8232476865643144710");
	assert_true(gtm_etcd_int(s) == INT64_C(8232476865643144710));
	json_decref(s);
	json_t *i = json_integer(42);
	assert_true(gtm_etcd_int(i) == 42);
	json_decref(i);
	json_t *bad = json_string("12x");
	assert_true(gtm_etcd_int(bad) == 0);
	json_decref(bad);
	assert_true(gtm_etcd_int(NULL) == 0);
}

/* A node with an older configuration keeps what it does not know. */
static void test_keep_unknown(void **state)
{
	(void)state;
	gtm_site_t sites[2] = { { .name = "bj-a" }, { .name = "bj-b" } };
	gtm_city_t cities[1] = { { .name = "beijing" } };
	gtm_conf_t conf = { .sites = sites, .nsites = 2, .cities = cities, .ncities = 1 };
	gtm_conf_index(&conf);
	json_error_t jerr;
	/* etcd's: bj-a drained, gz-a (unknown here) drained, guangzhou
	 * (unknown) evacuated, a service unknown here promoted */
	json_t *raw = json_loads("{\"version\":1,"
	                         "\"sites\":{\"bj-a\":{\"state\":\"drained\"},\"gz-a\":{\"state\":\"drained\"}},"
	                         "\"cities\":{\"guangzhou\":{\"evacuated\":true}},"
	                         "\"services\":{\"new.example.com\":{\"master\":\"guangzhou\"}}}", 0, &jerr);
	assert_non_null(raw);
	/* this node's new state: bj-a undrained (absent), bj-b drained */
	json_t *st = json_loads("{\"version\":1,\"sites\":{\"bj-b\":{\"state\":\"drained\"}},"
	                        "\"cities\":{}}", 0, &jerr);
	assert_non_null(st);
	gtm_cluster_keep_unknown(st, raw, &conf);
	json_t *want = json_loads("{\"version\":1,"
	                          "\"sites\":{\"bj-b\":{\"state\":\"drained\"},\"gz-a\":{\"state\":\"drained\"}},"
	                          "\"cities\":{\"guangzhou\":{\"evacuated\":true}},"
	                          "\"services\":{\"new.example.com\":{\"master\":\"guangzhou\"}}}", 0, &jerr);
	if (!json_equal(st, want)) {
		char *got = json_dumps(st, JSON_SORT_KEYS);
		fail_msg("merged: %s", got);
	}
	/* nothing to keep without etcd's state */
	json_t *st2 = json_loads("{\"version\":1}", 0, &jerr);
	gtm_cluster_keep_unknown(st2, NULL, &conf);
	assert_int_equal(json_object_size(st2), 1);
	json_decref(st2);
	json_decref(want);
	json_decref(st);
	json_decref(raw);
	gtm_conf_index_clear(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vote_majority),
		cmocka_unit_test(test_vote_quorum),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_prefix_end_and_int),
		cmocka_unit_test(test_keep_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
