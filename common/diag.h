/*
 * A list of diagnostics, each "file:line: message", collected while a
 * configuration or zone is checked so that every error is reported, not
 * only the first (NSD's c_error).
 */
#pragma once

#include <stddef.h>

typedef struct gtm_diag {
	char **msgs;
	size_t count;
} gtm_diag_t;

/* Adds "file:line: message".  line <= 0 leaves the line out ("file: message");
 * file NULL leaves both out. */
void gtm_diag_add(gtm_diag_t *d, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Frees the messages and empties the list; the struct itself is the caller's. */
void gtm_diag_clear(gtm_diag_t *d);
