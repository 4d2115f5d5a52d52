/* Unit tests of common/: diagnostics, growth of arrays, error names, the name rule, gtm_assert. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/diag.h"
#include "common/errcode.h"
#include "common/log.h"
#include "common/name.h"

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

/* Warnings share the list (so that a sorted report keeps file order) and
 * are told apart by their flag, not their text. */
static void test_diag_warnings(void **state)
{
	(void)state;
	gtm_diag_t d = { 0 }, to = { 0 };
	gtm_diag_add(&d, "gtm.conf", 3, "bad %s", "ttl");
	gtm_diag_warn(&d, "gtm.conf", 7, "check %s is named by no endpoint", "spare");
	gtm_diag_warn(&d, NULL, 0, "no file");
	assert_int_equal(d.count, 3);
	assert_int_equal(d.nwarn, 2);
	assert_int_equal(gtm_diag_errors(&d), 1);
	assert_false(d.warn[0]);
	assert_true(d.warn[1]);
	assert_string_equal(d.msgs[1], "gtm.conf:7: warning: check spare is named by no endpoint");
	assert_string_equal(d.msgs[2], "warning: no file");
	for (size_t i = 0; i < d.count; i++)
		gtm_diag_copy(&to, &d, i);
	assert_int_equal(to.nwarn, 2);
	assert_true(to.warn[2]);
	assert_string_equal(to.msgs[0], "gtm.conf:3: bad ttl");
	gtm_diag_clear(&d);
	gtm_diag_clear(&to);
	assert_int_equal(d.nwarn, 0);
	assert_null(d.warn);
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

/* DNS names: case and the final dot do not matter; plain names: exact. */
static void test_name_rule(void **state)
{
	(void)state;
	assert_true(gtm_name_eq(GTM_NAME_DNS, "WWW.example.com.", "www.example.com"));
	assert_true(gtm_name_eq(GTM_NAME_DNS, "www.example.com", "www.EXAMPLE.com."));
	assert_false(gtm_name_eq(GTM_NAME_DNS, "www.example.com", "www.example.co"));
	assert_false(gtm_name_eq(GTM_NAME_DNS, "www.example.com..", "www.example.com"));
	assert_true(gtm_name_eq(GTM_NAME_DNS, ".", "."));
	assert_false(gtm_name_eq(GTM_NAME_PLAIN, "BJ-A", "bj-a"));
	assert_true(gtm_name_eq(GTM_NAME_PLAIN, "bj-a", "bj-a"));
	assert_false(gtm_name_eq(GTM_NAME_PLAIN, "bj-a.", "bj-a"));
	assert_true(gtm_name_eq(GTM_NAME_PLAIN, NULL, NULL));
	assert_false(gtm_name_eq(GTM_NAME_DNS, NULL, "a"));
	assert_true(gtm_name_hash(GTM_NAME_DNS, "WWW.Example.COM.") ==
	            gtm_name_hash(GTM_NAME_DNS, "www.example.com"));
	assert_true(gtm_name_hash(GTM_NAME_PLAIN, "A") != gtm_name_hash(GTM_NAME_PLAIN, "a"));
}

/* The index finds every name by the same rule, through growth. */
static void test_name_index(void **state)
{
	(void)state;
	enum { N = 5000 };
	static char names[N][32];
	gtm_name_index_t ix;
	gtm_name_index_init(&ix, GTM_NAME_DNS, 4);  /* grows many times */
	for (unsigned i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "svc%u.Example.com", i);
		assert_int_equal(gtm_name_index_add(&ix, names[i], i), GTM_NAME_NONE);
	}
	assert_int_equal(ix.count, N);
	assert_int_equal(gtm_name_index_add(&ix, "SVC7.example.com.", 99), 7);  /* first wins */
	for (unsigned i = 0; i < N; i += 97) {
		char q[40];
		snprintf(q, sizeof(q), "SVC%u.EXAMPLE.COM.", i);
		assert_int_equal(gtm_name_index_find(&ix, q), i);
	}
	assert_int_equal(gtm_name_index_find(&ix, "svc5000.example.com"), GTM_NAME_NONE);
	assert_int_equal(gtm_name_index_find(&ix, NULL), GTM_NAME_NONE);
	gtm_name_index_clear(&ix);
	assert_int_equal(gtm_name_index_find(&ix, "svc1.example.com"), GTM_NAME_NONE);

	struct item { int x; const char *name; } items[3] = { { 0, "bj-a" }, { 1, "bj-b" }, { 2, "sh-a" } };
	gtm_name_index_build(&ix, GTM_NAME_PLAIN, items, 3, sizeof(items[0]), offsetof(struct item, name));
	assert_int_equal(gtm_name_index_find(&ix, "sh-a"), 2);
	assert_int_equal(gtm_name_index_find(&ix, "SH-A"), GTM_NAME_NONE);
	gtm_name_index_clear(&ix);
}

/* A failed gtm_assert aborts (a core dump to read), after its log line. */
static void test_assert_aborts(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		int broken = 1;
		gtm_assert(broken == 0);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assert_aborts),
		cmocka_unit_test(test_diag_formats),
		cmocka_unit_test(test_diag_warnings),
		cmocka_unit_test(test_diag_many),
		cmocka_unit_test(test_xgrow),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_name_rule),
		cmocka_unit_test(test_name_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
