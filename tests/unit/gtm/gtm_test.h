/*
 * Helpers shared by the gtm/ unit tests: a temporary folder per test
 * program (made by the group setup, removed by the group teardown) and a
 * way to write files into it.
 */
#pragma once

#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/diag.h"
#include "gtm/conf/conf.h"

static char tmpdir[PATH_MAX];

static int tmpdir_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gtm-test-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int tmpdir_teardown(void **state)
{
	(void)state;
	char *cmd = gtm_xasprintf("rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

/* Writes `text` to tmpdir/name; returns the path (free it). */
static inline char *write_file(const char *name, const char *text)
{
	char *path = gtm_xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads `text` as tmpdir/test.conf; fails the test, printing the messages,
 * unless the configuration is accepted. */
static inline gtm_conf_t *conf_load_ok(const char *text)
{
	char *path = write_file("test.conf", text);
	gtm_diag_t d = { 0 };
	gtm_conf_t *c = gtm_conf_load(path, &d);
	for (size_t i = 0; i < d.count; i++)
		print_error("%s\n", d.msgs[i]);
	assert_non_null(c);
	gtm_diag_clear(&d);
	free(path);
	return c;
}

/* Checks that `text` is refused with exactly the messages given (each
 * without the "path:" prefix, e.g. "3: unknown key ..."), NULL-terminated. */
static inline void conf_expect_errors(const char *text, ...)
{
	char *path = write_file("test.conf", text);
	gtm_diag_t d = { 0 };
	gtm_conf_t *c = gtm_conf_load(path, &d);
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
