/* Atomic file writes and names relative to a file's folder.  See file.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/file.h"

/* Opens the folder of `path` and fsyncs it, so that a rename is durable. */
static int fsync_dir_of(const char *path)
{
	char *copy = gtm_xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int gtm_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          char *err, size_t errlen)
{
	char *tmp = gtm_xasprintf("%s.tmp.XXXXXX", path);
	int rc = GTM_EIO, saved;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		if (err)
			snprintf(err, errlen, "%s: %s", tmp, strerror(saved));
		goto finish;
	}
	const char *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off < len || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		saved = errno;
		if (err)
			snprintf(err, errlen, "%s: %s", tmp, strerror(saved));
		close(fd);
		unlink(tmp);
		goto finish;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		saved = errno;
		if (err)
			snprintf(err, errlen, "%s: %s", path, strerror(saved));
		unlink(tmp);
		goto finish;
	}
	if (fsync_dir_of(path) != 0) {
		saved = errno;
		if (err)
			snprintf(err, errlen, "%s: fsync of its folder: %s", path, strerror(saved));
		goto finish;
	}
	rc = 0;
	saved = 0;
finish:
	free(tmp);
	if (rc != 0)
		errno = saved;
	return rc;
}

char *gtm_path_relative(const char *base, const char *name)
{
	const char *slash = strrchr(base, '/');
	if (name[0] != '/' && slash)
		return gtm_xasprintf("%.*s%s", (int)(slash - base + 1), base, name);
	return gtm_xstrdup(name);
}
