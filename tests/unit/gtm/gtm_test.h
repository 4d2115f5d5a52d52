/*
 * Helpers shared by the gtm/ unit tests: a temporary folder per test
 * program (made by the group setup, removed by the group teardown) and a
 * way to write files into it.
 */
#pragma once

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/alloc.h"

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
