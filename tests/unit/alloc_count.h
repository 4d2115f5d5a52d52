/*
 * Counting allocations in unit tests, to prove that a hot path allocates
 * nothing (STYLE.md, hot-path rules).
 *
 * The test program that links gtm_test_alloc gets malloc, calloc, realloc,
 * free, posix_memalign and aligned_alloc of its own, which pass on to
 * glibc's and count every call made while counting is on, from any code in
 * the process, shared libraries included (libmaxminddb, libc).  Under
 * AddressSanitizer the allocator belongs to the sanitizer, so counting is
 * unavailable there and the normal build carries the check.
 */
#pragma once

#include <stdbool.h>

/* True when this build can count (not under AddressSanitizer). */
bool gtm_alloc_count_available(void);
/* Resets the count and starts counting. */
void gtm_alloc_count_start(void);
/* Stops counting; returns the calls seen since start. */
long gtm_alloc_count_stop(void);
