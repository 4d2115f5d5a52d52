/*
 * Allocation outside the query path.  Every function aborts the process on
 * out-of-memory, as gdnsd's alloc.h does: the control thread cannot serve
 * half a configuration, and callers stay free of NULL checks.
 *
 * The DNS workers never call these while answering.
 */
#pragma once

#include <stddef.h>

void *gtm_xmalloc(size_t size);
void *gtm_xcalloc(size_t n, size_t size);
void *gtm_xrealloc(void *ptr, size_t size);
/* Grows an array of n elements of `size` to n + 1 when n is a power of two
 * (or 0); returns the (possibly moved) array. */
void *gtm_xgrow(void *ptr, size_t n, size_t size);
char *gtm_xstrdup(const char *s);
/* printf into a new string. */
char *gtm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
