/*
 * A list of diagnostics, each "file:line: message", collected while a
 * configuration or zone is checked so that every error is reported, not
 * only the first (NSD's c_error).
 *
 * Each message is an error or a warning.  An error refuses what was
 * checked; a warning does not (the configuration loads and serves) but
 * names a trap the operator most likely did not mean, such as a site
 * that is never answered.  A warning's text reads
 * "file:line: warning: message"; `warn` tells the two apart without
 * parsing.  Messages stay in the order they were added, so that a sorted
 * report keeps errors and warnings in file order together.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct gtm_diag {
	char **msgs;
	size_t count;
	bool *warn;      /* warn[i]: msgs[i] is a warning; NULL while count is 0 */
	size_t nwarn;    /* how many of the messages are warnings */
} gtm_diag_t;

/* Adds "file:line: message".  line <= 0 leaves the line out ("file: message");
 * file NULL leaves both out. */
void gtm_diag_add(gtm_diag_t *d, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Adds the warning "file:line: warning: message" (file and line as for
 * gtm_diag_add). */
void gtm_diag_warn(gtm_diag_t *d, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Appends message `i` of `from` to `to`, as the same severity. */
void gtm_diag_copy(gtm_diag_t *to, const gtm_diag_t *from, size_t i);
/* How many of the messages are errors. */
size_t gtm_diag_errors(const gtm_diag_t *d);
/* Frees the messages and empties the list; the struct itself is the caller's. */
void gtm_diag_clear(gtm_diag_t *d);
