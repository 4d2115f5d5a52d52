/*
 * The admin state file: restored at start-up, written after every change
 * (temp file in the same folder, fsync, rename, fsync of the folder).  A
 * corrupt file is moved aside.  See admin.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/file.h"
#include "common/log.h"
#include "gtm/core/admin.h"
#include "gtm/core/admin_int.h"

/* Writes the state file (common/file.h: temp file in the same folder,
 * fsync, rename, fsync of the folder), mode 0640.  Returns 0 or GTM_EIO
 * with `err` set (errno kept). */
int gtm_adm_save(const gtm_admin_t *a, uint64_t now, char *err, size_t errlen)
{
	if (a->state_file == NULL)
		return 0;
	json_t *root = gtm_admin_to_json(a, now, false);
	char *json = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	gtm_assert(json != NULL);
	char *text = gtm_xasprintf("%s\n", json);
	free(json);
	int rc = gtm_file_write_atomic(a->state_file, text, strlen(text), 0640, err, errlen);
	free(text);
	return rc;
}

int gtm_admin_load(gtm_admin_t *a)
{
	if (a->state_file == NULL)
		return 0;
	json_error_t jerr;
	char err[512];
	int dropped;
	gtm_adm_reset(a, a->conf);
	FILE *f = fopen(a->state_file, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		log_err("admin, state file %s cannot be read (%s)", a->state_file, strerror(errno));
		return GTM_EIO;
	}
	json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	int rc;
	if (root == NULL) {
		snprintf(err, sizeof(err), "line %d: %s", jerr.line, jerr.text);
		rc = GTM_EPARSE;
	} else {
		rc = gtm_adm_state_from_json(a, root, a->state_file, &dropped, err, sizeof(err));
		json_decref(root);
	}
	if (rc != 0) {
		char *bad = gtm_xasprintf("%s.bad", a->state_file);
		int moved = rename(a->state_file, bad);
		log_err("admin, state file %s is corrupt, starting with no admin state (%s; %s %s)",
		        a->state_file, err, moved == 0 ? "moved to" : "could not move it to", bad);
		free(bad);
		gtm_adm_reset(a, a->conf);
		return GTM_EPARSE;
	}
	log_info("admin, state restored from %s", a->state_file);
	return 0;
}

int gtm_admin_set_files(gtm_admin_t *a, const char *state_file, const char *history_file)
{
	free(a->state_file);
	free(a->history_file);
	a->state_file = state_file ? gtm_xstrdup(state_file) : NULL;
	a->history_file = history_file ? gtm_xstrdup(history_file) : NULL;
	char err[512];
	if (a->state_file && gtm_adm_save(a, gtm_admin_now(), err, sizeof(err)) != 0) {
		log_err("admin, state file not saved (%s)", err);
		return GTM_EIO;
	}
	return 0;
}
