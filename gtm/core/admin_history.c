/*
 * The admin history file: one JSON record a line, appended with one write
 * each (so that readers see whole lines), read back newest last.  See
 * admin.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/core/admin.h"
#include "gtm/core/admin_int.h"

static int append_line(const char *path, const char *line, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return GTM_EIO;
	}
	/* One write per line, so that concurrent readers see whole lines. */
	char *buf = gtm_xasprintf("%s\n", line);
	size_t len = strlen(buf);
	ssize_t n = write(fd, buf, len);
	int rc = 0;
	if (n != (ssize_t)len || fdatasync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : "short write");
		rc = GTM_EIO;
	}
	free(buf);
	close(fd);
	return rc;
}

int gtm_admin_history_append(gtm_admin_t *a, json_t *rec)
{
	if (a->history_file == NULL)
		return 0;
	if (json_object_get(rec, "time") == NULL)
		json_object_set_new(rec, "time", json_integer((json_int_t)gtm_admin_now()));
	char *line = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	char err[512];
	int rc = append_line(a->history_file, line, err, sizeof(err));
	free(line);
	if (rc)
		log_err("admin, history not written (%s)", err);
	return rc;
}

bool gtm_admin_has_history(const gtm_admin_t *a)
{
	return a->history_file != NULL;
}

json_t *gtm_admin_history_read(const gtm_admin_t *a, size_t limit, int *rcp)
{
	json_t *out = json_array();
	if (rcp)
		*rcp = 0;
	if (a->history_file == NULL)
		return out;
	FILE *f = fopen(a->history_file, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return out;
		log_err("admin, history %s cannot be read (%s)", a->history_file, strerror(errno));
		json_decref(out);
		if (rcp)
			*rcp = GTM_EIO;
		return NULL;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *r = json_loadb(line, (size_t)n, 0, NULL);
		if (!json_is_object(r)) {
			json_decref(r);
			continue;
		}
		json_array_append_new(out, r);
		/* Keep at most 2 * limit, trimming in bulk, so that a long file
		 * costs neither memory nor quadratic time. */
		if (limit && json_array_size(out) >= 2 * limit) {
			json_t *keep = json_array();
			for (size_t i = json_array_size(out) - limit; i < json_array_size(out); i++)
				json_array_append(keep, json_array_get(out, i));
			json_decref(out);
			out = keep;
		}
	}
	free(line);
	fclose(f);
	if (limit && json_array_size(out) > limit) {
		json_t *keep = json_array();
		for (size_t i = json_array_size(out) - limit; i < json_array_size(out); i++)
			json_array_append(keep, json_array_get(out, i));
		json_decref(out);
		out = keep;
	}
	return out;
}

/* Appends records to the history file, one line each. */
int gtm_adm_history_write(gtm_admin_t *a, const json_t *records, char *err, size_t errlen)
{
	if (a->history_file == NULL)
		return 0;
	size_t i;
	json_t *r;
	int rc = 0;
	json_array_foreach(records, i, r) {
		char *line = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
		if (rc == 0)
			rc = append_line(a->history_file, line, err, errlen);
		free(line);
	}
	return rc;
}
