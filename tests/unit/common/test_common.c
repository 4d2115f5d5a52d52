/* Unit tests of common/: diagnostics, growth of arrays, error names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/diag.h"
#include "common/errcode.h"

static void test_diag_formats(void **state)
{
	(void)state;
	gtm_diag_t d = { 0 };
	gtm_diag_add(&d, "etc/gtm.conf", 12, "duplicate city '%s'", "beijing");
	gtm_diag_add(&d, "etc/gtm.conf", 0, "no zone");
	gtm_diag_add(&d, NULL, 5, "listen %s: in use", "127.0.0.1:53");
	assert_int_equal(d.count, 3);
	assert_string_equal(d.msgs[0], "etc/gtm.conf:12: duplicate city 'beijing'");
	assert_string_equal(d.msgs[1], "etc/gtm.conf: no zone");
	assert_string_equal(d.msgs[2], "listen 127.0.0.1:53: in use");
	gtm_diag_clear(&d);
	assert_int_equal(d.count, 0);
	assert_null(d.msgs);
}

static void test_diag_many(void **state)
{
	(void)state;
	gtm_diag_t d = { 0 };
	for (int i = 0; i < 1000; i++)
		gtm_diag_add(&d, "f", i + 1, "error %d", i);
	assert_int_equal(d.count, 1000);
	assert_string_equal(d.msgs[999], "f:1000: error 999");
	assert_string_equal(d.msgs[4], "f:5: error 4");
	gtm_diag_clear(&d);
}

static void test_xgrow(void **state)
{
	(void)state;
	int *a = NULL;
	size_t n = 0;
	for (int i = 0; i < 5000; i++) {
		a = gtm_xgrow(a, n, sizeof(*a));
		a[n++] = i;
	}
	for (int i = 0; i < 5000; i++)
		assert_int_equal(a[i], i);
	free(a);
}

static void test_strings(void **state)
{
	(void)state;
	char *s = gtm_xasprintf("%s-%d", "bj", 7);
	assert_string_equal(s, "bj-7");
	free(s);
	s = gtm_xstrdup("");
	assert_string_equal(s, "");
	free(s);
	assert_string_equal(gtm_strerror(GTM_EOK), "ok");
	assert_string_equal(gtm_strerror(GTM_EEXIST), "already exists");
	assert_string_equal(gtm_strerror(-999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diag_formats),
		cmocka_unit_test(test_diag_many),
		cmocka_unit_test(test_xgrow),
		cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
