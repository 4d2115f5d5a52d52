/*
 * Zones: loading with ldns and the lookup structure the answer path reads.
 *
 * Loading runs in two phases per zone file.  Phase one parses the file with
 * ldns, turns each record into an item (lower-case owner, type, TTL, RDATA
 * wire) and checks everything that can be wrong: class, owner outside the
 * origin, SOA and NS at the apex, CNAME beside other data, RRset size.  Only
 * a zone without any error reaches phase two, which inserts its items into
 * the node table; so a refused zone leaves the zoneset as it was and every
 * problem of the file is reported, not only the first.
 *
 * The lookup structure is one open-addressing hash table of nodes keyed by
 * (zone, owner name), plus a small table of apexes keyed by name for the
 * longest-apex search.  Keying nodes by zone lets nested zones that we both
 * serve (example.com and sub.example.com) keep their own records without
 * sorting out which file owns a name: the answer path picks the zone first.
 * Every ancestor of every owner up to the apex is a node too (an empty
 * non-terminal when it owns nothing), so a name that misses the table
 * really does not exist and its closest encloser is one probe per label up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "dns/zone.h"

/* The apex table ignores the zone part of the key. */
#define ANY_ZONE UINT32_MAX

typedef struct htab {
	dns_node_t **slots;
	uint32_t mask;      /* capacity - 1; capacity a power of two */
	uint32_t count;
} htab_t;

struct dns_zoneset {
	int refs;
	bool frozen;
	dns_zone_t **zones;
	size_t nzones;
	dns_node_t **nodes;     /* every node, for freezing and freeing */
	size_t nnodes;
	htab_t names;           /* (zone, name) -> node */
	htab_t apexes;          /* name -> apex node */
};

/* One record of a zone file during phase one. */
typedef struct item {
	uint8_t owner[DNS_NAME_MAX];
	uint8_t owner_len;
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t *rdata;         /* owned */
	size_t seq;             /* position in the file */
	int line;
} item_t;

/* ---- names ------------------------------------------------------------ */

/* Presentation form of a wire name, for messages.  `buf` must hold 1024. */
static const char *name_str(const uint8_t *name, char *buf)
{
	size_t o = 0;
	if (*name == 0) {
		strcpy(buf, ".");
		return buf;
	}
	while (*name != 0) {
		uint8_t l = *name++;
		for (uint8_t i = 0; i < l; i++) {
			uint8_t c = *name++;
			if (c == '.' || c == '\\')
				o += (size_t)sprintf(buf + o, "\\%c", c);
			else if (c <= 0x20 || c >= 0x7f)
				o += (size_t)sprintf(buf + o, "\\%03u", c);
			else
				buf[o++] = (char)c;
		}
		buf[o++] = '.';
	}
	buf[o] = '\0';
	return buf;
}

/* Is `name` (len bytes, label offsets `off`) equal to or below `apex`?
 * Returns the label index where the apex starts, or -1. */
static int name_under(const uint8_t *name, size_t len, const uint8_t *off, unsigned nlabels,
                      const uint8_t *apex, size_t apex_len)
{
	for (unsigned i = 0; i <= nlabels; i++) {
		if (len - off[i] == apex_len && memcmp(name + off[i], apex, apex_len) == 0)
			return (int)i;
		if (len - off[i] < apex_len)
			break;
	}
	return -1;
}

/* ---- hash tables ------------------------------------------------------ */

static uint32_t name_hash(const uint8_t *name, size_t len, uint32_t zone)
{
	uint32_t h = 2166136261u;           /* FNV-1a, then a murmur-style finish */
	for (size_t i = 0; i < len; i++) {
		h ^= name[i];
		h *= 16777619u;
	}
	h ^= zone * 0x9E3779B1u;
	h ^= h >> 16;
	h *= 0x85EBCA6Bu;
	h ^= h >> 13;
	return h;
}

static const dns_node_t *htab_find(const htab_t *t, uint32_t zone, const uint8_t *name,
                                   size_t len)
{
	if (t->slots == NULL)
		return NULL;
	uint32_t i = name_hash(name, len, zone) & t->mask;
	for (const dns_node_t *n; (n = t->slots[i]) != NULL; i = (i + 1) & t->mask) {
		if (n->name_len == len && (zone == ANY_ZONE || n->zone == zone) &&
		    memcmp(n->name, name, len) == 0)
			return n;
	}
	return NULL;
}

static void htab_put(htab_t *t, dns_node_t *n, bool by_zone)
{
	uint32_t i = name_hash(n->name, n->name_len, by_zone ? n->zone : ANY_ZONE) & t->mask;
	while (t->slots[i] != NULL)
		i = (i + 1) & t->mask;
	t->slots[i] = n;
}

/* Inserts a node that is not in the table yet, growing the table to keep
 * the load under one half so that probes stay short. */
static void htab_insert(htab_t *t, dns_node_t *n, bool by_zone)
{
	if (t->slots == NULL || (t->count + 1) * 2 > t->mask + 1) {
		uint32_t cap = t->slots ? (t->mask + 1) * 2 : 64;
		dns_node_t **old = t->slots;
		uint32_t oldcap = t->slots ? t->mask + 1 : 0;
		t->slots = gtm_xcalloc(cap, sizeof(*t->slots));
		t->mask = cap - 1;
		for (uint32_t i = 0; i < oldcap; i++)
			if (old[i] != NULL)
				htab_put(t, old[i], by_zone);
		free(old);
	}
	htab_put(t, n, by_zone);
	t->count++;
}

/* ---- nodes ------------------------------------------------------------ */

static dns_node_t *node_find(const dns_zoneset_t *zs, uint32_t zone, const uint8_t *name,
                             size_t len)
{
	/* The table holds const pointers for the query path; the loader owns
	 * the nodes and may modify them. */
	return (dns_node_t *)htab_find(&zs->names, zone, name, len);
}

/* Finds or creates the node `name` of zone `zone` and every ancestor up to
 * the apex (empty non-terminals).  `name` must be at or below the apex. */
static dns_node_t *node_get(dns_zoneset_t *zs, uint32_t zone, const uint8_t *name, size_t len)
{
	dns_node_t *n = node_find(zs, zone, name, len);
	if (n != NULL)
		return n;
	n = gtm_xcalloc(1, sizeof(*n));
	n->name = gtm_xmalloc(len);
	memcpy(n->name, name, len);
	n->name_len = (uint8_t)len;
	n->zone = zone;
	zs->nodes = gtm_xgrow(zs->nodes, zs->nnodes, sizeof(*zs->nodes));
	zs->nodes[zs->nnodes++] = n;
	htab_insert(&zs->names, n, true);
	/* The parent exists unless this is the apex (created first by
	 * add_zone, so never reached from here with the apex missing). */
	const dns_zone_t *z = zs->zones[zone];
	if (len > z->apex_len)
		node_get(zs, zone, name + 1 + name[0], len - 1 - name[0]);
	return n;
}

const dns_rrset_t *dns_node_rrset(const dns_node_t *n, uint16_t type)
{
	for (uint16_t i = 0; i < n->nsets; i++)
		if (n->sets[i].type == type)
			return &n->sets[i];
	return NULL;
}

static void node_free(dns_node_t *n)
{
	for (uint16_t i = 0; i < n->nsets; i++)
		dns_rrwire_clear(&n->sets[i].rr);
	free(n->sets);
	free(n->glue);
	free(n->name);
	free(n);
}

/* ---- zoneset ---------------------------------------------------------- */

dns_zoneset_t *dns_zoneset_new(void)
{
	dns_zoneset_t *zs = gtm_xcalloc(1, sizeof(*zs));
	zs->refs = 1;
	return zs;
}

size_t dns_zoneset_count(const dns_zoneset_t *zs)
{
	return zs->nzones;
}

const dns_zone_t *dns_zoneset_zone(const dns_zoneset_t *zs, size_t i)
{
	return i < zs->nzones ? zs->zones[i] : NULL;
}

void dns_zoneset_ref(dns_zoneset_t *zs)
{
	zs->refs++;
}

void dns_zoneset_unref(dns_zoneset_t *zs)
{
	if (zs == NULL || --zs->refs > 0)
		return;
	for (size_t i = 0; i < zs->nnodes; i++)
		node_free(zs->nodes[i]);
	for (size_t i = 0; i < zs->nzones; i++) {
		dns_zone_t *z = zs->zones[i];
		free(z->apex);
		free(z->origin);
		free(z->path);
		dns_rrwire_clear(&z->soa_neg);
		free(z);
	}
	free(zs->nodes);
	free(zs->zones);
	free(zs->names.slots);
	free(zs->apexes.slots);
	free(zs);
}

/* ---- loading ---------------------------------------------------------- */

static int item_cmp(const void *a, const void *b)
{
	const item_t *x = a, *y = b;
	if (x->owner_len != y->owner_len)
		return x->owner_len < y->owner_len ? -1 : 1;
	int c = memcmp(x->owner, y->owner, x->owner_len);
	if (c != 0)
		return c;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	/* File order inside an RRset: operators read answers in that order. */
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_owner(const item_t *x, const item_t *y)
{
	return x->owner_len == y->owner_len && memcmp(x->owner, y->owner, x->owner_len) == 0;
}

/*
 * Phase one for one record: checks it and appends it to `items`.  Returns
 * false (with a message) when the record is refused.
 */
static bool item_add(item_t **items, size_t *nitems, const ldns_rr *rr, int line,
                     ldns_buffer *buf, const dns_zone_t *z, gtm_diag_t *diag)
{
	char s[1024];
	const ldns_rdf *owner = ldns_rr_owner(rr);
	item_t it;
	memset(&it, 0, sizeof(it));
	it.line = line;

	/* ldns keeps owners as uncompressed wire; lower-case for the keys. */
	size_t olen = ldns_rdf_size(owner);
	if (olen == 0 || olen > DNS_NAME_MAX)
		return false;
	dns_name_lower(it.owner, ldns_rdf_data(owner), olen);
	it.owner_len = (uint8_t)olen;
	uint8_t off[DNS_LABELS_MAX];
	unsigned nl;
	if (dns_name_labels(it.owner, olen, off, &nl) != olen)
		return false;

	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
		gtm_diag_add(diag, z->path, line, "record %s has class %u; only IN is served",
		             name_str(it.owner, s), (unsigned)ldns_rr_get_class(rr));
		return false;
	}
	if (name_under(it.owner, olen, off, nl, z->apex, z->apex_len) < 0) {
		gtm_diag_add(diag, z->path, line, "record %s is outside zone %s",
		             name_str(it.owner, s), z->origin);
		return false;
	}
	it.type = (uint16_t)ldns_rr_get_type(rr);
	if (it.type == DNS_TYPE_OPT || it.type == DNS_TYPE_ANY || it.type == DNS_TYPE_AXFR ||
	    it.type == DNS_TYPE_IXFR) {
		gtm_diag_add(diag, z->path, line, "record %s has the meta-type %u",
		             name_str(it.owner, s), it.type);
		return false;
	}
	it.ttl = ldns_rr_ttl(rr);

	ldns_buffer_clear(buf);
	if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK ||
	    ldns_buffer_position(buf) > UINT16_MAX - 10) {
		gtm_diag_add(diag, z->path, line, "record %s type %u: RDATA cannot be encoded",
		             name_str(it.owner, s), it.type);
		return false;
	}
	it.rdlen = (uint16_t)ldns_buffer_position(buf);
	it.rdata = gtm_xmalloc(it.rdlen);
	memcpy(it.rdata, ldns_buffer_begin(buf), it.rdlen);
	it.seq = *nitems;
	*items = gtm_xgrow(*items, *nitems, sizeof(**items));
	(*items)[(*nitems)++] = it;
	return true;
}

/*
 * Reads the zone file record by record with ldns, so that each record (and
 * each message about it) has its line number, and checks each one.  This
 * is ldns_zone_new_frm_fp_l()'s loop, done here also because that function
 * leaks the records read before a syntax error (ldns 1.8.3).
 *
 * ldns reads one record (one line, or the lines of a parenthesised group)
 * per call, so reading goes on after a syntax error and every broken
 * record is reported.  Returns the number of refused records; *syntax
 * counts the syntax errors among them.
 */
static int read_records(FILE *fp, const dns_zone_t *z, const ldns_rdf *origin, ldns_buffer *buf,
                        item_t **items, size_t *nitems, int *syntax, gtm_diag_t *diag)
{
	ldns_rdf *cur_origin = ldns_rdf_clone(origin);
	ldns_rdf *prev = ldns_rdf_clone(origin);
	uint32_t ttl = 3600, default_ttl = 3600;
	bool have_ttl = false;      /* a $TTL line was seen */
	int errors = 0;
	/* ldns counts the newlines it has read, including the one ending the
	 * record it returns: starting at 0 gives that record's line (its
	 * last line, for a record in parentheses). */
	int line = 0;

	while (!feof(fp)) {
		/* With $TTL, a record without TTL gets the $TTL value (RFC 2308
		 * 4); before any $TTL, the last TTL stated (RFC 1035 5.1). */
		if (have_ttl)
			ttl = default_ttl;
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &cur_origin, &prev, &line);
		switch (st) {
		case LDNS_STATUS_OK:
			if (!have_ttl)
				ttl = ldns_rr_ttl(rr);
			if (!item_add(items, nitems, rr, line, buf, z, diag))
				errors++;
			ldns_rr_free(rr);
			break;
		case LDNS_STATUS_SYNTAX_EMPTY:
		case LDNS_STATUS_SYNTAX_ORIGIN:
			break;
		case LDNS_STATUS_SYNTAX_TTL:
			default_ttl = ttl;
			have_ttl = true;
			break;
		case LDNS_STATUS_SYNTAX_INCLUDE:
			gtm_diag_add(diag, z->path, line, "$INCLUDE is not supported");
			errors++;
			(*syntax)++;
			break;
		default:
			gtm_diag_add(diag, z->path, line, "%s", ldns_get_errorstr_by_id(st));
			errors++;
			(*syntax)++;
			break;
		}
	}
	ldns_rdf_deep_free(cur_origin);
	if (prev != NULL)
		ldns_rdf_deep_free(prev);
	return errors;
}

/*
 * Phase one, whole-zone checks on the sorted items: SOA and NS at the apex,
 * CNAME alone at its name, RRsets that fit in a message.  Returns the
 * number of problems found.
 */
static int items_check(const item_t *items, size_t n, const dns_zone_t *z, gtm_diag_t *diag)
{
	char s[1024];
	int errors = 0;
	bool soa = false, ns = false;

	for (size_t i = 0; i < n;) {
		/* One owner: items[i..j). */
		size_t j = i;
		const item_t *cname = NULL, *other = NULL;
		int ncname = 0;
		bool apex = items[i].owner_len == z->apex_len &&
		            memcmp(items[i].owner, z->apex, z->apex_len) == 0;
		while (j < n && same_owner(&items[i], &items[j])) {
			const item_t *it = &items[j];
			if (it->type == DNS_TYPE_CNAME) {
				cname = cname ? cname : it;
				ncname++;
			} else {
				other = other ? other : it;
			}
			if (it->type == DNS_TYPE_SOA && (!apex || soa)) {
				gtm_diag_add(diag, z->path, it->line, "%s: %s SOA record; a zone has one, at its apex",
				             name_str(it->owner, s), apex ? "a second" : "an");
				errors++;
			}
			soa |= apex && it->type == DNS_TYPE_SOA;
			ns |= apex && it->type == DNS_TYPE_NS;
			j++;
		}
		if (cname && other) {
			gtm_diag_add(diag, z->path, cname->line,
			             "%s has a CNAME and other data (RFC 1034 3.6.2)",
			             name_str(cname->owner, s));
			errors++;
		} else if (ncname > 1) {
			gtm_diag_add(diag, z->path, cname->line, "%s has more than one CNAME",
			             name_str(cname->owner, s));
			errors++;
		}
		/* RRset sizes: runs of one type inside the owner's run. */
		for (size_t k = i; k < j;) {
			size_t bytes = 0, m = k;
			while (m < j && items[m].type == items[k].type) {
				bytes += 10 + (size_t)items[m].rdlen;
				m++;
			}
			if (bytes > UINT16_MAX) {
				gtm_diag_add(diag, z->path, items[k].line,
				             "%s type %u: the RRset is larger than 65535 bytes",
				             name_str(items[i].owner, s), items[k].type);
				errors++;
			}
			k = m;
		}
		i = j;
	}
	if (!soa) {
		gtm_diag_add(diag, z->path, 0, "zone %s has no SOA at its apex", z->origin);
		errors++;
	}
	if (!ns) {
		gtm_diag_add(diag, z->path, 0, "zone %s has no NS at its apex", z->origin);
		errors++;
	}
	return errors;
}

/* Phase two: the checked, sorted items become nodes and RRsets. */
static void items_insert(dns_zoneset_t *zs, uint32_t zone, const item_t *items, size_t n)
{
	for (size_t i = 0; i < n;) {
		dns_node_t *node = node_get(zs, zone, items[i].owner, items[i].owner_len);
		size_t j = i;
		/* RRset TTLs should agree (RFC 2181 5.2); when a file disagrees we
		 * serve the smallest, which errs toward fresher caches. */
		uint32_t ttl = items[i].ttl;
		while (j < n && same_owner(&items[i], &items[j]) && items[j].type == items[i].type) {
			if (items[j].ttl < ttl)
				ttl = items[j].ttl;
			j++;
		}
		node->sets = gtm_xrealloc(node->sets, ((size_t)node->nsets + 1) * sizeof(*node->sets));
		dns_rrset_t *set = &node->sets[node->nsets++];
		memset(set, 0, sizeof(*set));
		set->type = items[i].type;
		for (size_t k = i; k < j; k++) {
			/* A record written twice is served once.  RRsets are small,
			 * so comparing with every earlier one is cheap enough. */
			bool dup = false;
			for (size_t m = i; m < k && !dup; m++)
				dup = items[m].rdlen == items[k].rdlen &&
				      memcmp(items[m].rdata, items[k].rdata, items[k].rdlen) == 0;
			if (dup)
				continue;
			/* Cannot fail: items_check bounded the set's size. */
			(void)dns_rrwire_add(&set->rr, set->type, ttl, items[k].rdata, items[k].rdlen);
		}
		i = j;
	}
}

/* Negative answers carry the SOA with TTL min(SOA TTL, MINIMUM) (RFC 2308 3, 5). */
static void zone_soa_neg(dns_zone_t *z)
{
	const dns_rrset_t *soa = dns_node_rrset(z->apex_node, DNS_TYPE_SOA);
	const uint8_t *rr = soa->rr.wire;
	uint16_t rdlen = dns_get16(rr + 8);
	uint32_t ttl = dns_get32(rr + 4);
	uint32_t min = dns_get32(rr + 10 + rdlen - 4);
	(void)dns_rrwire_add(&z->soa_neg, DNS_TYPE_SOA, min < ttl ? min : ttl, rr + 10, rdlen);
}

/* Marks the delegations of zone `zone` and points every node at the
 * topmost cut above it, so that the answer path needs no walk. */
static void zone_mark_cuts(dns_zoneset_t *zs, uint32_t zone, size_t first)
{
	const dns_zone_t *z = zs->zones[zone];
	/* The zone's nodes are zs->nodes[first..]: phase two created them all. */
	for (size_t i = first; i < zs->nnodes; i++) {
		dns_node_t *n = zs->nodes[i];
		if (!(n->flags & DNS_NODE_APEX) && dns_node_rrset(n, DNS_TYPE_NS))
			n->flags |= DNS_NODE_CUT;
	}
	for (size_t i = first; i < zs->nnodes; i++) {
		dns_node_t *n = zs->nodes[i];
		uint8_t off[DNS_LABELS_MAX];
		unsigned nl;
		dns_name_labels(n->name, n->name_len, off, &nl);
		/* From just below the apex down to the node itself. */
		int top = (int)nl - (int)z->apex_labels - 1;
		for (int l = top; l >= 0; l--) {
			const dns_node_t *a = node_find(zs, zone, n->name + off[l], n->name_len - off[l]);
			if (a != NULL && (a->flags & DNS_NODE_CUT)) {
				n->cut = a;
				break;
			}
		}
	}
}

int dns_zoneset_add_zone(dns_zoneset_t *zs, const char *origin, const char *path,
                         gtm_diag_t *diag)
{
	int rc = 0;
	FILE *fp = NULL;
	ldns_rdf *lorigin = NULL;
	ldns_buffer *buf = NULL;
	item_t *items = NULL;
	size_t nitems = 0;
	dns_zone_t *z = NULL;
	uint8_t apex[DNS_NAME_MAX];

	if (zs->frozen)
		return GTM_EINVAL;
	size_t alen = dns_name_from_str(origin, apex);
	if (alen == 0) {
		gtm_diag_add(diag, path, 0, "zone name %s is not a valid domain name", origin);
		return GTM_EINVAL;
	}
	if (htab_find(&zs->apexes, ANY_ZONE, apex, alen) != NULL) {
		gtm_diag_add(diag, path, 0, "zone %s is already loaded", origin);
		return GTM_EEXIST;
	}

	z = gtm_xcalloc(1, sizeof(*z));
	z->apex = gtm_xmalloc(alen);
	memcpy(z->apex, apex, alen);
	z->apex_len = (uint8_t)alen;
	unsigned nl;
	dns_name_labels(apex, alen, NULL, &nl);
	z->apex_labels = (uint8_t)nl;
	/* Messages name the zone without the trailing dot, as configured. */
	char s[1024];
	name_str(apex, s);
	if (alen > 1)
		s[strlen(s) - 1] = '\0';
	z->origin = gtm_xstrdup(s);
	z->path = gtm_xstrdup(path);

	fp = fopen(path, "r");
	if (fp == NULL) {
		gtm_diag_add(diag, path, 0, "cannot open zone file (%s)", strerror(errno));
		rc = GTM_EIO;
		goto fail;
	}
	lorigin = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, alen, apex);
	buf = ldns_buffer_new(512);
	int syntax = 0;
	int errors = read_records(fp, z, lorigin, buf, &items, &nitems, &syntax, diag);
	if (nitems > 1)
		qsort(items, nitems, sizeof(*items), item_cmp);
	/* After a syntax error, "no SOA" and the like would only be noise. */
	if (syntax == 0)
		errors += items_check(items, nitems, z, diag);
	if (errors > 0) {
		rc = GTM_EPARSE;
		goto fail;
	}

	/* Phase two: nothing below can fail. */
	uint32_t zone = (uint32_t)zs->nzones;
	zs->zones = gtm_xgrow(zs->zones, zs->nzones, sizeof(*zs->zones));
	zs->zones[zs->nzones++] = z;
	size_t first = zs->nnodes;
	dns_node_t *an = node_get(zs, zone, apex, alen);
	an->flags |= DNS_NODE_APEX;
	z->apex_node = an;
	htab_insert(&zs->apexes, an, false);
	items_insert(zs, zone, items, nitems);
	zone_soa_neg(z);
	zone_mark_cuts(zs, zone, first);
	z = NULL;

fail:
	for (size_t i = 0; i < nitems; i++)
		free(items[i].rdata);
	free(items);
	if (buf != NULL)
		ldns_buffer_free(buf);
	if (lorigin != NULL)
		ldns_rdf_deep_free(lorigin);
	if (fp != NULL)
		fclose(fp);
	if (z != NULL) {
		free(z->apex);
		free(z->origin);
		free(z->path);
		free(z);
	}
	return rc;
}

/* The zone whose apex is the longest suffix of `name`, starting the search
 * at label `from`; returns its index or -1. */
static int zone_find(const dns_zoneset_t *zs, const uint8_t *name, size_t len,
                     const uint8_t *off, unsigned nlabels, unsigned from)
{
	for (unsigned i = from; i <= nlabels; i++) {
		const dns_node_t *a = htab_find(&zs->apexes, ANY_ZONE, name + off[i], len - off[i]);
		if (a != NULL)
			return (int)a->zone;
	}
	return -1;
}

int dns_zoneset_add_service(dns_zoneset_t *zs, const char *name, uint32_t svc,
                            const char *cfile, int cline, gtm_diag_t *diag)
{
	uint8_t w[DNS_NAME_MAX];
	uint8_t off[DNS_LABELS_MAX];
	unsigned nl;
	char s[1024];

	if (zs->frozen)
		return GTM_EINVAL;
	size_t len = dns_name_from_str(name, w);
	if (len == 0) {
		gtm_diag_add(diag, cfile, cline, "service %s is not a valid domain name", name);
		return GTM_EINVAL;
	}
	dns_name_labels(w, len, off, &nl);
	int zi = zone_find(zs, w, len, off, nl, 0);
	if (zi < 0) {
		gtm_diag_add(diag, cfile, cline, "service %s is outside every zone", name);
		return GTM_ENOENT;
	}
	const dns_zone_t *z = zs->zones[zi];
	/* A delegated name is the child's to answer, not ours. */
	for (int l = (int)nl - (int)z->apex_labels - 1; l >= 0; l--) {
		const dns_node_t *a = node_find(zs, (uint32_t)zi, w + off[l], len - off[l]);
		if (a != NULL && (a->flags & DNS_NODE_CUT)) {
			gtm_diag_add(diag, cfile, cline, "service %s is at or below the delegation %s",
			             name, name_str(a->name, s));
			return GTM_EINVAL;
		}
	}
	dns_node_t *n = node_find(zs, (uint32_t)zi, w, len);
	if (n != NULL && (n->flags & DNS_NODE_SERVICE)) {
		gtm_diag_add(diag, cfile, cline, "service %s is declared twice", name);
		return GTM_EEXIST;
	}
	if (n != NULL && (dns_node_rrset(n, DNS_TYPE_A) || dns_node_rrset(n, DNS_TYPE_AAAA) ||
	                  dns_node_rrset(n, DNS_TYPE_CNAME))) {
		gtm_diag_add(diag, cfile, cline,
		             "service %s owns A, AAAA or CNAME records in the zone file %s",
		             name, z->path);
		return GTM_EEXIST;
	}
	n = node_get(zs, (uint32_t)zi, w, len);
	n->flags |= DNS_NODE_SERVICE;
	n->service = svc;
	return 0;
}

static int glue_cmp(const void *a, const void *b)
{
	const dns_glue_t *x = a, *y = b;
	return (int)y->required - (int)x->required;
}

/* The glue of the cut `n`: the in-zone nodes with addresses for its NS
 * targets.  Targets in other zones or outside ours get none. */
static void cut_glue(dns_zoneset_t *zs, dns_node_t *n)
{
	const dns_rrset_t *ns = dns_node_rrset(n, DNS_TYPE_NS);
	const dns_zone_t *z = zs->zones[n->zone];
	for (uint16_t i = 0; i < ns->rr.count; i++) {
		const uint8_t *rd = ns->rr.wire + ns->rr.offsets[i] + 10;
		uint16_t rdlen = dns_get16(rd - 2);
		uint8_t t[DNS_NAME_MAX], off[DNS_LABELS_MAX];
		unsigned nl;
		size_t tlen = dns_name_labels(rd, rdlen, off, &nl);
		if (tlen == 0)
			continue;
		dns_name_lower(t, rd, tlen);
		if (name_under(t, tlen, off, nl, z->apex, z->apex_len) < 0)
			continue;
		const dns_node_t *g = node_find(zs, n->zone, t, tlen);
		if (g == NULL || (!dns_node_rrset(g, DNS_TYPE_A) && !dns_node_rrset(g, DNS_TYPE_AAAA)))
			continue;
		bool dup = false;
		for (uint32_t k = 0; k < n->nglue; k++)
			dup |= n->glue[k].node == g;
		if (dup)
			continue;
		n->glue = gtm_xrealloc(n->glue, ((size_t)n->nglue + 1) * sizeof(*n->glue));
		n->glue[n->nglue].node = g;
		n->glue[n->nglue].required = name_under(t, tlen, off, nl, n->name, n->name_len) >= 0;
		n->nglue++;
	}
	if (n->nglue > 1)
		qsort(n->glue, n->nglue, sizeof(*n->glue), glue_cmp);
}

int dns_zoneset_freeze(dns_zoneset_t *zs, gtm_diag_t *diag)
{
	if (zs->frozen)
		return 0;
	for (size_t i = 0; i < zs->nnodes; i++)
		if (zs->nodes[i]->flags & DNS_NODE_CUT)
			cut_glue(zs, zs->nodes[i]);
	zs->frozen = true;
	return 0;
}

/* ---- lookup (worker threads) ------------------------------------------ */

void dns_zoneset_lookup(const dns_zoneset_t *zs, const uint8_t *name, size_t len,
                        const uint8_t *off, unsigned nlabels, bool for_ds,
                        dns_lookup_t *res)
{
	res->kind = DNS_LOOKUP_REFUSED;
	res->zone = NULL;
	res->node = NULL;

	/* DS belongs to the parent side: skip a zone whose apex is the name
	 * itself, unless we have no parent zone for it. */
	int zi = zone_find(zs, name, len, off, nlabels, for_ds && nlabels > 0 ? 1 : 0);
	if (zi < 0 && for_ds)
		zi = zone_find(zs, name, len, off, nlabels, 0);
	if (zi < 0)
		return;
	const dns_zone_t *z = zs->zones[zi];
	res->zone = z;

	const dns_node_t *n = htab_find(&zs->names, (uint32_t)zi, name, len);
	if (n != NULL) {
		if (n->cut != NULL && !(n->cut == n && for_ds)) {
			res->kind = DNS_LOOKUP_REFERRAL;
			res->node = n->cut;
		} else {
			res->kind = DNS_LOOKUP_FOUND;
			res->node = n;
		}
		return;
	}

	/* The closest encloser: the apex at the latest. */
	unsigned apex_at = nlabels - z->apex_labels;
	const dns_node_t *ce = z->apex_node;
	for (unsigned i = 1; i < apex_at; i++) {
		ce = htab_find(&zs->names, (uint32_t)zi, name + off[i], len - off[i]);
		if (ce != NULL)
			break;
	}
	if (ce == NULL)
		ce = z->apex_node;
	if (ce->cut != NULL) {
		res->kind = DNS_LOOKUP_REFERRAL;
		res->node = ce->cut;
		return;
	}
	/* RFC 4592: only "*.<closest encloser>" can match. */
	if ((size_t)ce->name_len + 2 <= DNS_NAME_MAX) {
		uint8_t wc[DNS_NAME_MAX];
		wc[0] = 1;
		wc[1] = '*';
		memcpy(wc + 2, ce->name, ce->name_len);
		const dns_node_t *w = htab_find(&zs->names, (uint32_t)zi, wc, (size_t)ce->name_len + 2);
		if (w != NULL) {
			res->kind = DNS_LOOKUP_WILDCARD;
			res->node = w;
			return;
		}
	}
	res->kind = DNS_LOOKUP_NXDOMAIN;
	res->node = ce;
}
