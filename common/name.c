/*
 * Name comparison and the name index (common/name.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/name.h"

/* The length of a DNS name without its final dot ("." stays "."). */
static size_t dns_len(const char *s)
{
	size_t n = strlen(s);
	return n > 1 && s[n - 1] == '.' ? n - 1 : n;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

bool gtm_name_eq(gtm_name_kind_t kind, const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (kind == GTM_NAME_PLAIN)
		return strcmp(a, b) == 0;
	size_t la = dns_len(a), lb = dns_len(b);
	return la == lb && strncasecmp(a, b, la) == 0;
}

uint64_t gtm_name_hash(gtm_name_kind_t kind, const char *s)
{
	uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
	size_t n = kind == GTM_NAME_DNS ? dns_len(s) : strlen(s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		h ^= kind == GTM_NAME_DNS ? lower(c) : c;
		h *= 1099511628211ULL;
	}
	return h;
}

void gtm_name_index_init(gtm_name_index_t *ix, gtm_name_kind_t kind, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n + 1)
		cap *= 2;
	*ix = (gtm_name_index_t){ .kind = kind, .mask = cap - 1 };
	ix->slot = gtm_xcalloc(cap, sizeof(*ix->slot));
	ix->key = gtm_xcalloc(cap, sizeof(*ix->key));
}

void gtm_name_index_clear(gtm_name_index_t *ix)
{
	free(ix->slot);
	free(ix->key);
	*ix = (gtm_name_index_t){ .kind = ix->kind };
}

/* The slot of `name`, or the empty slot where it would go. */
static size_t probe(const gtm_name_index_t *ix, const char *name)
{
	size_t h = (size_t)gtm_name_hash(ix->kind, name) & ix->mask;
	while (ix->slot[h] != 0 && !gtm_name_eq(ix->kind, ix->key[h], name))
		h = (h + 1) & ix->mask;
	return h;
}

static void grow(gtm_name_index_t *ix)
{
	gtm_name_index_t big;
	gtm_name_index_init(&big, ix->kind, 2 * (ix->mask + 1));
	for (size_t i = 0; i <= ix->mask; i++)
		if (ix->slot[i] != 0) {
			size_t h = probe(&big, ix->key[i]);
			big.slot[h] = ix->slot[i];
			big.key[h] = ix->key[i];
			big.count++;
		}
	gtm_name_index_clear(ix);
	*ix = big;
}

uint32_t gtm_name_index_add(gtm_name_index_t *ix, const char *name, uint32_t value)
{
	if (ix->slot == NULL)
		gtm_name_index_init(ix, ix->kind, 8);
	if (2 * (ix->count + 1) > ix->mask + 1)
		grow(ix);
	size_t h = probe(ix, name);
	if (ix->slot[h] != 0)
		return ix->slot[h] - 1;
	ix->slot[h] = value + 1;
	ix->key[h] = name;
	ix->count++;
	return GTM_NAME_NONE;
}

uint32_t gtm_name_index_find(const gtm_name_index_t *ix, const char *name)
{
	if (ix->slot == NULL || name == NULL)
		return GTM_NAME_NONE;
	size_t h = probe(ix, name);
	return ix->slot[h] ? ix->slot[h] - 1 : GTM_NAME_NONE;
}

void gtm_name_index_build(gtm_name_index_t *ix, gtm_name_kind_t kind, const void *items, size_t n,
                          size_t size, size_t name_off)
{
	gtm_name_index_init(ix, kind, n);
	for (size_t i = 0; i < n; i++) {
		const char *name;
		memcpy(&name, (const char *)items + i * size + name_off, sizeof(name));
		gtm_name_index_add(ix, name, (uint32_t)i);
	}
}
