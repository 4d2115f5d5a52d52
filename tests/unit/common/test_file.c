/* common/file.c: the atomic write (content, exact mode, no temp file left,
 * failures reported) and names relative to a file's folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/errcode.h"
#include "common/file.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/gtm-test-file.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];
	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

static size_t entries(void)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[256];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_write_atomic(void **state)
{
	(void)state;
	char path[128], err[256] = "";
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(gtm_file_write_atomic(path, "one\n", 4, 0640, err, sizeof(err)), 0);
	assert_string_equal(slurp(path), "one\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	/* Replacing: the new content, the new mode, no temp file beside. */
	assert_int_equal(gtm_file_write_atomic(path, "two", 3, 0644, NULL, 0), 0);
	assert_string_equal(slurp(path), "two");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(entries(), 1);

	/* Empty content is a file too. */
	assert_int_equal(gtm_file_write_atomic(path, "", 0, 0600, NULL, 0), 0);
	assert_string_equal(slurp(path), "");
}

static void test_write_fails(void **state)
{
	(void)state;
	char path[128], err[256] = "";
	snprintf(path, sizeof(path), "%s/no-such-folder/state", dir);
	errno = 0;
	assert_int_equal(gtm_file_write_atomic(path, "x", 1, 0640, err, sizeof(err)), GTM_EIO);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "no-such-folder/state.tmp."));
	assert_non_null(strstr(err, strerror(ENOENT)));

	/* A folder where the file should be: the rename fails, the temp goes. */
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	char inner[160];
	snprintf(inner, sizeof(inner), "%s/x", path);
	FILE *f = fopen(inner, "w");
	fclose(f);
	assert_int_equal(gtm_file_write_atomic(path, "x", 1, 0640, err, sizeof(err)), GTM_EIO);
	assert_non_null(strstr(err, path));
	assert_int_equal(entries(), 1);     /* only sub/ */
	unlink(inner);
	rmdir(path);
}

static void test_path_relative(void **state)
{
	(void)state;
	char *p = gtm_path_relative("/etc/gtm/gtm.conf", "zones/example.zone");
	assert_string_equal(p, "/etc/gtm/zones/example.zone");
	free(p);
	p = gtm_path_relative("/etc/gtm/gtm.conf", "/var/lib/gtm/state");
	assert_string_equal(p, "/var/lib/gtm/state");
	free(p);
	p = gtm_path_relative("gtm.conf", "example.zone");       /* no folder */
	assert_string_equal(p, "example.zone");
	free(p);
	p = gtm_path_relative("etc/gtm.conf", "example.zone");
	assert_string_equal(p, "etc/example.zone");
	free(p);
	p = gtm_path_relative("/gtm.conf", "x");
	assert_string_equal(p, "/x");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, setup, teardown),
		cmocka_unit_test(test_path_relative),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
