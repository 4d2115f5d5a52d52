/* See alloc_count.h. */
#include <stddef.h>
#include <stdlib.h>

#include "tests/unit/alloc_count.h"

#if defined(__SANITIZE_ADDRESS__)
#define GTM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GTM_ASAN 1
#endif
#endif

static volatile bool counting;
static volatile long calls;

#ifndef GTM_ASAN
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
	if (counting)
		calls++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (counting)
		calls++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (counting)
		calls++;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	if (counting && p != NULL)
		calls++;
	__libc_free(p);
}

int posix_memalign(void **p, size_t align, size_t n)
{
	if (counting)
		calls++;
	*p = __libc_memalign(align, n);
	return *p ? 0 : 12; /* ENOMEM */
}

void *aligned_alloc(size_t align, size_t n)
{
	if (counting)
		calls++;
	return __libc_memalign(align, n);
}

bool gtm_alloc_count_available(void)
{
	return true;
}
#else
bool gtm_alloc_count_available(void)
{
	return false;
}
#endif

void gtm_alloc_count_start(void)
{
	calls = 0;
	counting = true;
}

long gtm_alloc_count_stop(void)
{
	counting = false;
	return calls;
}
