/*
 * The geo tree: the database and the map translated into a prefix tree of
 * regions at load (the approach of gdnsd's libgdmaps/gdgeoip2.c + ntree.c,
 * written afresh for our map semantics).
 *
 * Layout.  One array of nodes, each two 32-bit slots (child for bit 0,
 * child for bit 1).  A slot with the top bit set is a leaf and holds a
 * region id; otherwise it is the index of another node.  Regions are the
 * distinct city orders, stored back to back (ncities uint16_t each).
 *
 * The walk is cache misses, one per level, on a tree of tens of megabytes
 * for a full city database, so two things cut the levels that miss: each
 * family starts with a table indexed by the first TOP_BITS bits, holding
 * the slot found after those bits (or the leaf met sooner, with its
 * depth); and the nodes below are laid out in blocks of a node and its
 * descendants two levels down (at most 7 nodes, 56 bytes), each block
 * within one 64-byte cache line, so a lookup touches one line per three
 * levels instead of one per level.
 *
 * Building.  One depth-first walk over the database's search tree and the
 * map's CIDR trie side by side, from each family's root.  Where the
 * database ends in a record and no CIDR rule lies deeper, the walk stops:
 * the (record, innermost CIDR rule) pair gives the order, which is cached
 * per pair, so each data record is decoded once (per rule covering it).
 * Where a CIDR rule lies deeper than the database's record, the record is
 * carried down the rule's path, so a rule overrides the database below its
 * prefix and nowhere else.  On the way back up, two sibling leaves of the
 * same region become one leaf of the parent: that is the merging, and why
 * a leaf's depth is the scope.  Nodes are appended in post-order, so a
 * subtree sits just before its root in the array.
 *
 * Sharing.  An IPv6 file keeps IPv4 under ::/96 and aliases it
 * (::ffff:0:0/96, 2001::/32 and 2002::/16 point at the same node), and our
 * IPv4 root walks the same nodes again.  Off the CIDR rules' paths and
 * outside every rule, a search node's translation depends on nothing but
 * the node (not on the depth: a leaf's depth is wherever a lookup meets
 * it), so it is kept per node and reused: the IPv4 space is translated
 * once, whichever roots and aliases lead to it, and only the rules' own
 * paths get nodes of their own.  The tree is then a DAG, which the lookup
 * does not mind.  The same table makes the walk linear on a search tree
 * that shares nodes elsewhere (a corrupt or hostile file); reads are also
 * bounded, for what the table cannot cover.
 */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "geo/tree.h"

#define LEAF 0x80000000u
#define MAX_REGIONS 0x7fffffffu
#define MAX_NODES 0x7fffffffu
/* A slot value no translation has: region 0x7fffffff is never made. */
#define NO_VALUE UINT32_MAX
#define TOP_BITS 16
/* Levels of a layout block: 2^3 - 1 = 7 nodes of 8 bytes, in one line. */
#define BLOCK_LEVELS 3
#define LINE_NODES 8
#define PENDING (NO_VALUE - 1)

struct geo_tree {
	uint32_t (*nodes)[2];     /* 64-byte aligned once laid out, in nodes_mem */
	void *nodes_mem;
	size_t nnodes;
	uint32_t root[2];         /* [0] IPv4, [1] IPv6: until the tables are made */
	/* Per family ([0] IPv4, [1] IPv6), by the address's first TOP_BITS
	 * bits: the slot after them, or the leaf met at depth d < TOP_BITS. */
	struct top {
		uint32_t v;
		uint32_t d;
	} *top[2];
	uint16_t *orders;         /* nregions × ncities */
	size_t ncities;
	size_t nregions;
	geo_tree_stats_t st;
	unsigned refs;            /* control thread only */
};

/* (record, CIDR rule) → region, open addressing; key EMPTY_KEY is free. */
#define EMPTY_KEY UINT64_MAX
struct rec_slot {
	uint64_t key;
	uint32_t region;
};

typedef struct build {
	const geo_db_t *db;
	const geo_map_t *map;
	geo_tree_t *t;
	size_t cap_nodes, cap_regions;
	/* Interned orders: slots hold region + 1 (0: free). */
	uint32_t *otab;
	size_t omask;
	/* Records already ordered. */
	struct rec_slot *rtab;
	size_t rmask, rcount;
	/* The translation of each search node of each file, reached outside
	 * every CIDR rule (NO_VALUE: not yet). */
	uint32_t *memo[2];
	uint64_t visits, max_visits;
	int err;
	const char *why;
	uint16_t order[GEO_MAX_CITIES];
} build_t;

/* ---- regions ------------------------------------------------------------- */

static uint64_t hash_bytes(const void *p, size_t n)
{
	/* FNV-1a, then a finaliser so that the low bits spread. */
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint64_t hash64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static const uint16_t *region_at(const geo_tree_t *t, uint32_t r)
{
	return t->orders + (size_t)r * t->ncities;
}

/* Doubles the intern table and puts every region back. */
static void otab_grow(build_t *b)
{
	size_t n = (b->omask + 1) * 2;
	free(b->otab);
	b->otab = gtm_xcalloc(n, sizeof(*b->otab));
	b->omask = n - 1;
	size_t len = b->t->ncities * sizeof(uint16_t);
	for (uint32_t r = 0; r < b->t->nregions; r++) {
		size_t at = (size_t)hash_bytes(region_at(b->t, r), len) & b->omask;
		while (b->otab[at] != 0)
			at = (at + 1) & b->omask;
		b->otab[at] = r + 1;
	}
}

/* The region id of `order`, added when new. */
static uint32_t intern(build_t *b, const uint16_t *order)
{
	geo_tree_t *t = b->t;
	size_t len = t->ncities * sizeof(uint16_t);
	size_t at = (size_t)hash_bytes(order, len) & b->omask;
	for (; b->otab[at] != 0; at = (at + 1) & b->omask)
		if (memcmp(region_at(t, b->otab[at] - 1), order, len) == 0)
			return b->otab[at] - 1;
	if (t->nregions == MAX_REGIONS) {
		b->err = GTM_ERANGE;
		b->why = "too many distinct city orders";
		return 0;
	}
	if (t->nregions == b->cap_regions) {
		b->cap_regions *= 2;
		t->orders = gtm_xrealloc(t->orders, b->cap_regions * len);
	}
	uint32_t r = (uint32_t)t->nregions++;
	memcpy(t->orders + (size_t)r * t->ncities, order, len);
	b->otab[at] = r + 1;
	if (t->nregions * 2 > b->omask + 1)
		otab_grow(b);
	return r;
}

static void rtab_grow(build_t *b)
{
	size_t n = (b->rmask + 1) * 2;
	struct rec_slot *old = b->rtab;
	size_t oldn = b->rmask + 1;
	b->rtab = gtm_xmalloc(n * sizeof(*b->rtab));
	for (size_t i = 0; i < n; i++)
		b->rtab[i].key = EMPTY_KEY;
	b->rmask = n - 1;
	for (size_t i = 0; i < oldn; i++) {
		if (old[i].key == EMPTY_KEY)
			continue;
		size_t at = (size_t)hash64(old[i].key) & b->rmask;
		while (b->rtab[at].key != EMPTY_KEY)
			at = (at + 1) & b->rmask;
		b->rtab[at] = old[i];
	}
	free(old);
}

/*
 * The region of the addresses whose database walk ends at `rec` (DATA or
 * EMPTY) and whose innermost CIDR rule is `rule` (-1: none): the order
 * geo_map_order() gives them, computed once per (record, rule).
 */
static uint32_t region_of(build_t *b, const geo_db_rec_t *rec, int32_t rule)
{
	uint64_t key = (uint64_t)(uint32_t)(rule + 1) << 34;
	if (rec->kind == GEO_DB_REC_DATA)
		key |= 1ull << 33 | (uint64_t)(rec->file & 1u) << 32 | rec->value;
	size_t at = (size_t)hash64(key) & b->rmask;
	for (; b->rtab[at].key != EMPTY_KEY; at = (at + 1) & b->rmask)
		if (b->rtab[at].key == key)
			return b->rtab[at].region;

	geo_loc_t loc;
	memset(&loc, 0, sizeof(loc));
	if (b->db != NULL && rec->kind == GEO_DB_REC_DATA)
		geo_db_tree_loc(b->db, rec, &loc);
	geo_map_order_rule(b->map, rule, &loc, b->order, NULL);
	uint32_t region = intern(b, b->order);
	b->t->st.records++;

	b->rtab[at].key = key;
	b->rtab[at].region = region;
	if (++b->rcount * 2 > b->rmask + 1)
		rtab_grow(b);
	return region;
}

/* ---- the walk ------------------------------------------------------------ */

static uint32_t new_node(build_t *b, uint32_t v0, uint32_t v1)
{
	geo_tree_t *t = b->t;
	if (t->nnodes == MAX_NODES) {
		b->err = GTM_ERANGE;
		b->why = "too many tree nodes";
		return LEAF;
	}
	if (t->nnodes == b->cap_nodes) {
		b->cap_nodes *= 2;
		t->nodes = gtm_xrealloc(t->nodes, b->cap_nodes * sizeof(*t->nodes));
	}
	t->nodes[t->nnodes][0] = v0;
	t->nodes[t->nnodes][1] = v1;
	return (uint32_t)t->nnodes++;
}

/* Where the translation of `rec` is kept, or NULL when it depends on more
 * than the node (a CIDR rule at or below, or around it). */
static uint32_t *memo_slot(const build_t *b, const geo_db_rec_t *rec, uint32_t cur, int32_t rule)
{
	if (cur != GEO_MAP_NO_NODE || rule >= 0 || rec->kind != GEO_DB_REC_NODE)
		return NULL;
	uint32_t *m = b->memo[rec->file & 1u];
	if (m == NULL || rec->value >= geo_db_tree_nodes(b->db, rec->file & 1u))
		return NULL;
	return &m[rec->value];
}

/*
 * Translates the part of the address space below the current position:
 * `rec` is where the database walk stands (a node, or the record that
 * covers the whole position), `cur` the CIDR trie node here
 * (GEO_MAP_NO_NODE: no rule at or below), `rule` the innermost CIDR rule
 * above, `depth` bits are consumed of `bits`.  Returns a slot value: a
 * node index, or LEAF | region.
 */
static uint32_t xlate(build_t *b, geo_db_rec_t rec, uint32_t cur, int32_t rule,
                      unsigned depth, unsigned bits)
{
	uint32_t kid_cur[2] = { GEO_MAP_NO_NODE, GEO_MAP_NO_NODE };

	if (b->err != 0)
		return LEAF;
	if (cur != GEO_MAP_NO_NODE) {
		int32_t r = geo_map_cidr_node(b->map, cur, kid_cur);
		if (r >= 0)
			rule = r;
		if (kid_cur[0] == GEO_MAP_NO_NODE && kid_cur[1] == GEO_MAP_NO_NODE)
			cur = GEO_MAP_NO_NODE;
	}
	if (rec.kind != GEO_DB_REC_NODE && cur == GEO_MAP_NO_NODE)
		return LEAF | region_of(b, &rec, rule);
	if (depth >= bits) {
		/* Still a search node after every bit: libmaxminddb would call
		 * this tree corrupt.  (The CIDR trie never goes deeper.) */
		b->err = GTM_EIO;
		b->why = "search tree deeper than the address";
		return LEAF;
	}

	uint32_t *memo = memo_slot(b, &rec, cur, rule);
	if (memo != NULL && *memo != NO_VALUE)
		return *memo;

	geo_db_rec_t kids[2] = { rec, rec };
	if (rec.kind == GEO_DB_REC_NODE) {
		if (++b->visits > b->max_visits) {
			b->err = GTM_EIO;
			b->why = "search tree nodes shared by many paths (not a tree)";
			return LEAF;
		}
		int rc = geo_db_tree_children(b->db, &rec, kids);
		if (rc != 0) {
			b->err = rc;
			b->why = "unreadable search-tree node";
			return LEAF;
		}
	}
	uint32_t v0 = xlate(b, kids[0], kid_cur[0], rule, depth + 1, bits);
	uint32_t v1 = xlate(b, kids[1], kid_cur[1], rule, depth + 1, bits);
	/* Only leaves merge: a shared node below means the same subtree one
	 * bit deeper, not here. */
	uint32_t v = (v0 == v1 && (v0 & LEAF)) ? v0 : new_node(b, v0, v1);

	if (memo != NULL && b->err == 0)
		*memo = v;
	return v;
}

/* ---- layout ---------------------------------------------------------------- */

typedef struct layout {
	uint32_t (*old)[2];
	uint32_t (*nodes)[2];
	uint32_t *moved;          /* old index → new, NO_VALUE: not placed */
	size_t n;
} layout_t;

/*
 * Places the subtree at old node `v` (not yet placed): first a block of v
 * and its descendants BLOCK_LEVELS - 1 levels down (breadth first, nodes
 * not placed yet), side by side, then the subtrees hanging below the
 * block, each the same way.  Shared subtrees are placed once.
 */
static void place(layout_t *l, uint32_t v)
{
	uint32_t block[(1u << BLOCK_LEVELS) - 1];
	size_t nb = 0, level_start = 0;

	l->moved[v] = PENDING;
	block[nb++] = v;
	for (unsigned lev = 1; lev < BLOCK_LEVELS; lev++) {
		size_t level_end = nb;
		for (size_t i = level_start; i < level_end; i++) {
			for (int c = 0; c < 2; c++) {
				uint32_t k = l->old[block[i]][c];
				if ((k & LEAF) || l->moved[k] != NO_VALUE)
					continue;
				l->moved[k] = PENDING;
				block[nb++] = k;
			}
		}
		level_start = level_end;
	}
	/* A block that would straddle a cache line starts the next one. */
	if (l->n % LINE_NODES + nb > LINE_NODES)
		l->n += LINE_NODES - l->n % LINE_NODES;
	for (size_t i = 0; i < nb; i++)
		l->moved[block[i]] = (uint32_t)l->n++;
	for (size_t i = 0; i < nb; i++)
		for (int c = 0; c < 2; c++) {
			uint32_t k = l->old[block[i]][c];
			if (!(k & LEAF) && l->moved[k] == NO_VALUE)
				place(l, k);
		}
}

static uint32_t moved(const layout_t *l, uint32_t v)
{
	return (v & LEAF) ? v : l->moved[v];
}

/*
 * Makes the TOP_BITS tables from the roots, then lays the nodes below
 * them out anew in blocks, in address order; nodes above TOP_BITS are
 * dropped (the tables replace them).
 */
static void finish_layout(geo_tree_t *t)
{
	size_t ntop = (size_t)1 << TOP_BITS;
	for (int f = 0; f < 2; f++) {
		t->top[f] = gtm_xmalloc(ntop * sizeof(*t->top[f]));
		for (size_t p = 0; p < ntop; p++) {
			uint32_t v = t->root[f], d = 0;
			while (!(v & LEAF) && d < TOP_BITS) {
				v = t->nodes[v][(p >> (TOP_BITS - 1 - d)) & 1];
				d++;
			}
			t->top[f][p] = (struct top){ v, d };
		}
	}

	layout_t l = { .old = t->nodes, .n = 0 };
	l.moved = gtm_xmalloc((t->nnodes > 0 ? t->nnodes : 1) * sizeof(*l.moved));
	memset(l.moved, 0xff, t->nnodes * sizeof(*l.moved));
	for (int f = 0; f < 2; f++)
		for (size_t p = 0; p < ntop; p++) {
			uint32_t v = t->top[f][p].v;
			if (!(v & LEAF) && l.moved[v] == NO_VALUE)
				place(&l, v);
		}
	/* Zeroed, so that the padding between blocks is defined; aligned to
	 * the cache line that the blocks are cut for. */
	void *mem = gtm_xcalloc(l.n + LINE_NODES, sizeof(*l.nodes));
	l.nodes = (void *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
	for (size_t i = 0; i < t->nnodes; i++) {
		if (l.moved[i] == NO_VALUE)
			continue;
		l.nodes[l.moved[i]][0] = moved(&l, t->nodes[i][0]);
		l.nodes[l.moved[i]][1] = moved(&l, t->nodes[i][1]);
	}
	for (int f = 0; f < 2; f++)
		for (size_t p = 0; p < ntop; p++)
			t->top[f][p].v = moved(&l, t->top[f][p].v);
	for (int f = 0; f < 2; f++)
		t->root[f] = (t->root[f] & LEAF) || l.moved[t->root[f]] != NO_VALUE
		             ? moved(&l, t->root[f]) : NO_VALUE;
	free(l.moved);
	free(t->nodes);
	t->nodes = l.nodes;
	t->nodes_mem = mem;
	t->nnodes = l.n;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

geo_tree_t *geo_tree_new(const geo_db_t *db, const geo_map_t *map, gtm_diag_t *diag)
{
	double t0 = now_ms();
	geo_tree_t *t = gtm_xcalloc(1, sizeof(*t));
	t->refs = 1;
	t->ncities = geo_map_ncities(map);

	build_t b;
	memset(&b, 0, sizeof(b));
	b.db = db;
	b.map = map;
	b.t = t;
	b.cap_nodes = 1024;
	t->nodes = gtm_xmalloc(b.cap_nodes * sizeof(*t->nodes));
	b.cap_regions = 64;
	t->orders = gtm_xmalloc(b.cap_regions * t->ncities * sizeof(uint16_t));
	b.omask = 255;
	b.otab = gtm_xcalloc(b.omask + 1, sizeof(*b.otab));
	b.rmask = 4095;
	b.rtab = gtm_xmalloc((b.rmask + 1) * sizeof(*b.rtab));
	for (size_t i = 0; i <= b.rmask; i++)
		b.rtab[i].key = EMPTY_KEY;
	/* Reads allowed: every node once, and again under CIDR rules (a
	 * rule's prefix is walked apart from the shared translation). */
	uint64_t total = 0;
	for (unsigned f = 0; db != NULL && f < 2; f++) {
		uint32_t n = geo_db_tree_nodes(db, f);
		total += n;
		if (n > 0) {
			b.memo[f] = gtm_xmalloc((size_t)n * sizeof(uint32_t));
			memset(b.memo[f], 0xff, (size_t)n * sizeof(uint32_t));
		}
	}
	b.max_visits = 4 * total + 4096;

	/* Region 0 is the default order: what an unknown client gets. */
	geo_map_order_rule(map, -1, NULL, b.order, NULL);
	intern(&b, b.order);

	static const int families[2] = { AF_INET, AF_INET6 };
	geo_db_rec_t start[2] = { { .kind = GEO_DB_REC_EMPTY }, { .kind = GEO_DB_REC_EMPTY } };
	if (db != NULL) {
		for (int f = 0; f < 2 && b.err == 0; f++) {
			int rc = geo_db_tree_start(db, families[f], &start[f]);
			if (rc != 0) {
				b.err = rc;
				b.why = "unreadable search tree under ::/96";
			}
		}
	}
	for (int f = 0; f < 2 && b.err == 0; f++)
		t->root[f] = xlate(&b, start[f], geo_map_cidr_root(map, families[f]), -1, 0,
		                   f == 0 ? 32 : 128);

	free(b.otab);
	free(b.rtab);
	free(b.memo[0]);
	free(b.memo[1]);
	if (b.err != 0) {
		if (diag != NULL)
			gtm_diag_add(diag, NULL, 0, "geo: cannot translate the GeoIP database: %s (%s)",
			             b.why != NULL ? b.why : "error", gtm_strerror(b.err));
		geo_tree_unref(t);
		return NULL;
	}
	/* Networks before the tables replace the top levels. */
	t->st.leaves = (t->root[0] & LEAF ? 1 : 0) + (t->root[1] & LEAF ? 1 : 0);
	for (size_t i = 0; i < t->nnodes; i++)
		t->st.leaves += (t->nodes[i][0] & LEAF ? 1 : 0) + (t->nodes[i][1] & LEAF ? 1 : 0);
	finish_layout(t);
	/* Trim to size: the tree lives as long as the configuration. */
	t->orders = gtm_xrealloc(t->orders, t->nregions * t->ncities * sizeof(uint16_t));

	t->st.nodes = t->nnodes;
	t->st.regions = t->nregions;
	t->st.visits = b.visits;
	t->st.bytes = sizeof(*t) + t->nnodes * sizeof(*t->nodes) +
	              2 * ((size_t)1 << TOP_BITS) * sizeof(*t->top[0]) +
	              t->nregions * t->ncities * sizeof(uint16_t);
	/* The translation read every node of the files, which are now cold:
	 * out of our resident set with them, and the build's scratch memory
	 * back to the system (glibc keeps freed holes below the heap top). */
	if (db != NULL)
		geo_db_release_pages(db);
	malloc_trim(0);
	t->st.build_ms = now_ms() - t0;
	log_debug("geo, tree built (%llu nodes, %llu networks, %llu regions, %llu records, %zu KiB, %.0f ms)",
	         (unsigned long long)t->st.nodes, (unsigned long long)t->st.leaves,
	         (unsigned long long)t->st.regions, (unsigned long long)t->st.records,
	         (t->st.bytes + 1023) / 1024, t->st.build_ms);
	return t;
}

void geo_tree_ref(geo_tree_t *t)
{
	if (t != NULL)
		t->refs++;
}

void geo_tree_unref(geo_tree_t *t)
{
	if (t == NULL)
		return;
	gtm_assert(t->refs > 0);
	if (--t->refs > 0)
		return;
	free(t->nodes_mem != NULL ? t->nodes_mem : (void *)t->nodes);
	free(t->orders);
	free(t->top[0]);
	free(t->top[1]);
	free(t);
}

size_t geo_tree_ncities(const geo_tree_t *t)
{
	return t->ncities;
}

size_t geo_tree_nregions(const geo_tree_t *t)
{
	return t->nregions;
}

void geo_tree_get_stats(const geo_tree_t *t, geo_tree_stats_t *st)
{
	*st = t->st;
}

/* ---- the query path ------------------------------------------------------ */

uint32_t geo_tree_lookup(const geo_tree_t *t, const struct sockaddr *sa, unsigned *scope)
{
	const uint8_t *a;
	const struct top *top;

	if (sa == NULL) {
		goto unknown;
	} else if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		top = t->top[0];
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			a = a6->s6_addr + 12;
			top = t->top[0];
		} else {
			a = a6->s6_addr;
			top = t->top[1];
		}
	} else {
		goto unknown;
	}
	/* The first two bytes index the table.  The build never makes a path
	 * longer than the family's bits. */
	_Static_assert(TOP_BITS == 16, "the table index is two bytes");
	const struct top *e = &top[(size_t)a[0] << 8 | a[1]];
	uint32_t v = e->v;
	unsigned d = e->d;
	while (!(v & LEAF)) {
		v = t->nodes[v][(a[d >> 3] >> (7 - (d & 7))) & 1];
		d++;
	}
	if (scope != NULL)
		*scope = d;
	return v & ~LEAF;

unknown:
	if (scope != NULL)
		*scope = 0;
	return 0;
}

const uint16_t *geo_tree_region(const geo_tree_t *t, uint32_t region)
{
	return region_at(t, region < t->nregions ? region : 0);
}

const uint16_t *geo_tree_order(const geo_tree_t *t, const struct sockaddr *sa, unsigned *scope)
{
	return region_at(t, geo_tree_lookup(t, sa, scope));
}
