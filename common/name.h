/*
 * The one rule by which gtm matches names, and an index that finds a name
 * in O(1).
 *
 * Two kinds of names exist in a configuration:
 *   DNS names (services, zones): compared without regard to ASCII case and
 *     with the final dot optional ("WWW.example.com." is "www.example.com"),
 *     as RFC 4343 and the DNS itself compare them;
 *   plain names (sites, cities, checks, nodes): compared exactly, byte for
 *     byte.
 * Every lookup by name (gtmctl arguments, the admin state file, etcd's
 * shared state, reload's old->new remap) goes through these functions, so
 * that one name never matches in one place and not in another.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gtm_name_kind {
	GTM_NAME_PLAIN = 0,  /* exact */
	GTM_NAME_DNS,        /* case-insensitive, final dot optional */
} gtm_name_kind_t;

/* True when `a` and `b` are the same name of `kind`.  NULL equals only NULL. */
bool gtm_name_eq(gtm_name_kind_t kind, const char *a, const char *b);

/* A 64-bit hash that agrees with gtm_name_eq: equal names hash equal. */
uint64_t gtm_name_hash(gtm_name_kind_t kind, const char *s);

/* Shorthands. */
static inline bool gtm_dname_eq(const char *a, const char *b)
{
	return gtm_name_eq(GTM_NAME_DNS, a, b);
}

/*
 * An index from names to small integers (positions in the caller's array):
 * open addressing over the names' hashes.  The names are borrowed (they
 * must outlive the index or the next gtm_name_index_add of the same one).
 * Control thread; never on the query path.
 */
typedef struct gtm_name_index {
	gtm_name_kind_t kind;
	uint32_t *slot;      /* value + 1; 0: empty */
	const char **key;    /* the name at each slot */
	size_t mask;         /* capacity - 1 (a power of two) */
	size_t count;
} gtm_name_index_t;

#define GTM_NAME_NONE UINT32_MAX

/* An empty index for about `n` names (grows as needed). */
void gtm_name_index_init(gtm_name_index_t *ix, gtm_name_kind_t kind, size_t n);
void gtm_name_index_clear(gtm_name_index_t *ix);

/*
 * Adds name -> value.  Returns GTM_NAME_NONE when added, else the value the
 * same name already has (which is kept: first one wins, as the loader
 * refuses duplicates anyway).
 */
uint32_t gtm_name_index_add(gtm_name_index_t *ix, const char *name, uint32_t value);

/* The value of `name`, or GTM_NAME_NONE. */
uint32_t gtm_name_index_find(const gtm_name_index_t *ix, const char *name);

/*
 * Builds an index over an array of structs that each hold a `const char *`
 * name at byte offset `name_off` (conf->sites and the like): value = the
 * element's position.
 */
void gtm_name_index_build(gtm_name_index_t *ix, gtm_name_kind_t kind, const void *items, size_t n,
                          size_t size, size_t name_off);
