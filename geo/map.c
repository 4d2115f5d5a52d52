/*
 * Region maps: explicit rules (CIDR, subdivision, country, continent) and
 * nearest-first ordering by great-circle distance.
 *
 * Everything that needs allocation or string handling happens while the map
 * is built on the control thread; geo_map_order() then only walks a binary
 * trie, indexes small tables and sorts a stack array, so a DNS worker can
 * call it per query.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "geo/continent.h"
#include "geo/map.h"

#define EARTH_RADIUS_KM 6371.0088
#define DEG2RAD (M_PI / 180.0)

#define NO_RULE (-1)
#define NO_NODE 0u          /* node 0 is the IPv4 root, so never a child */

/* A binary trie node.  Node 0 is the IPv4 root, node 1 the IPv6 root. */
struct node {
	uint32_t child[2];
	int32_t rule;
};

struct rule {
	uint16_t *cities;
	uint16_t n;
	geo_how_t how;
};

struct subdiv {
	char cc[3];
	char sub[GEO_SUBDIVISION_MAX + 1];
	int32_t rule;
};

static const char *const continents[] = { "AF", "AN", "AS", "EU", "NA", "OC", "SA" };
#define NCONTINENTS (sizeof(continents) / sizeof(continents[0]))

struct geo_map {
	char *name;
	size_t n;
	uint32_t gen;
	geo_point_t *cities;
	double (*unit)[3];        /* each city as a unit vector, for ordering */

	uint16_t *default_order;  /* all n cities */
	bool default_set;

	struct rule *rules;
	size_t nrules;

	struct node *nodes;
	size_t nnodes;

	int32_t country[26 * 26];
	int32_t continent[NCONTINENTS];
	struct subdiv *subdivs;
	size_t nsubdivs;

	/* References (geo_map_ref/unref), control thread only. */
	unsigned refs;
};

static atomic_uint_fast32_t map_generation;

double geo_distance_km(double lat1, double lon1, double lat2, double lon2)
{
	double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
	double dp = (lat2 - lat1) * DEG2RAD, dl = (lon2 - lon1) * DEG2RAD;
	double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
	if (a > 1.0)
		a = 1.0;
	return 2.0 * EARTH_RADIUS_KM * atan2(sqrt(a), sqrt(1.0 - a));
}

static bool valid_point(double lat, double lon)
{
	return isfinite(lat) && isfinite(lon) && lat >= -90.0 && lat <= 90.0 &&
	       lon >= -180.0 && lon <= 180.0;
}

static void to_unit(double lat, double lon, double v[3])
{
	double p = lat * DEG2RAD, l = lon * DEG2RAD;
	v[0] = cos(p) * cos(l);
	v[1] = cos(p) * sin(l);
	v[2] = sin(p);
}

geo_map_t *geo_map_new(const char *name, const geo_point_t *cities, size_t n, gtm_diag_t *diag)
{
	const char *who = name != NULL ? name : "geo map";

	if (n == 0 || n > GEO_MAX_CITIES) {
		if (diag != NULL)
			gtm_diag_add(diag, NULL, 0, "%s: %zu cities (must be 1..%d)", who, n, GEO_MAX_CITIES);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!valid_point(cities[i].lat, cities[i].lon)) {
			if (diag != NULL)
				gtm_diag_add(diag, NULL, 0, "%s: city %zu: invalid coordinates (%g, %g)",
				             who, i, cities[i].lat, cities[i].lon);
			return NULL;
		}
	}

	geo_map_t *m = gtm_xcalloc(1, sizeof(*m));
	m->refs = 1;
	m->name = gtm_xstrdup(who);
	m->n = n;
	m->gen = (uint32_t)atomic_fetch_add(&map_generation, 1) + 1;
	m->cities = gtm_xmalloc(n * sizeof(*m->cities));
	memcpy(m->cities, cities, n * sizeof(*m->cities));
	m->unit = gtm_xmalloc(n * sizeof(*m->unit));
	for (size_t i = 0; i < n; i++)
		to_unit(cities[i].lat, cities[i].lon, m->unit[i]);
	m->default_order = gtm_xmalloc(n * sizeof(*m->default_order));
	for (size_t i = 0; i < n; i++)
		m->default_order[i] = (uint16_t)i;

	/* Sized by gtm_xgrow() from the start so that later growth can use it. */
	m->nodes = gtm_xgrow(NULL, 0, sizeof(*m->nodes));
	m->nnodes = 2;
	for (size_t i = 0; i < 2; i++) {
		m->nodes[i].child[0] = m->nodes[i].child[1] = NO_NODE;
		m->nodes[i].rule = NO_RULE;
	}
	for (size_t i = 0; i < 26 * 26; i++)
		m->country[i] = NO_RULE;
	for (size_t i = 0; i < NCONTINENTS; i++)
		m->continent[i] = NO_RULE;
	return m;
}

static void map_destroy(geo_map_t *m)
{
	for (size_t i = 0; i < m->nrules; i++)
		free(m->rules[i].cities);
	free(m->rules);
	free(m->nodes);
	free(m->subdivs);
	free(m->default_order);
	free(m->unit);
	free(m->cities);
	free(m->name);
	free(m);
}

void geo_map_ref(geo_map_t *m)
{
	if (m != NULL)
		m->refs++;
}

void geo_map_unref(geo_map_t *m)
{
	if (m == NULL)
		return;
	gtm_assert(m->refs > 0);
	if (--m->refs == 0)
		map_destroy(m);
}

void geo_map_free(geo_map_t *m)
{
	geo_map_unref(m);
}

size_t geo_map_ncities(const geo_map_t *m)
{
	return m->n;
}

uint32_t geo_map_generation(const geo_map_t *m)
{
	return m->gen;
}

/* ---- building ---------------------------------------------------------- */

/* Checks an order list: non-empty, every index in range, none twice. */
static int check_cities(const geo_map_t *m, const char *what, const uint16_t *cities, size_t n,
                        gtm_diag_t *diag, const char *file, int line)
{
	uint8_t seen[GEO_MAX_CITIES] = { 0 };

	if (n == 0 || cities == NULL) {
		gtm_diag_add(diag, file, line, "%s: %s: empty city list", m->name, what);
		return GTM_EINVAL;
	}
	if (n > m->n) {
		gtm_diag_add(diag, file, line, "%s: %s: %zu cities listed, the map has %zu",
		             m->name, what, n, m->n);
		return GTM_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (cities[i] >= m->n) {
			gtm_diag_add(diag, file, line, "%s: %s: city index %u out of range (0..%zu)",
			             m->name, what, cities[i], m->n - 1);
			return GTM_EINVAL;
		}
		if (seen[cities[i]]++) {
			gtm_diag_add(diag, file, line, "%s: %s: city index %u listed twice",
			             m->name, what, cities[i]);
			return GTM_EINVAL;
		}
	}
	return 0;
}

static int32_t add_rule(geo_map_t *m, geo_how_t how, const uint16_t *cities, size_t n)
{
	m->rules = gtm_xgrow(m->rules, m->nrules, sizeof(*m->rules));
	struct rule *r = &m->rules[m->nrules];
	r->cities = gtm_xmalloc(n * sizeof(*r->cities));
	memcpy(r->cities, cities, n * sizeof(*r->cities));
	r->n = (uint16_t)n;
	r->how = how;
	return (int32_t)m->nrules++;
}

/*
 * Parses "addr/len" or "addr" into family, bytes and prefix length.  An
 * IPv4-mapped IPv6 prefix of length >= 96 becomes the IPv4 prefix.  Returns
 * NULL or a static reason.
 */
static const char *parse_cidr(const char *text, int *family, uint8_t bytes[16], unsigned *plen)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(text);

	if (len == 0 || len >= sizeof(buf))
		return "not an address or prefix";
	memcpy(buf, text, len + 1);
	char *slash = strchr(buf, '/');
	long pl = -1;
	if (slash != NULL) {
		*slash = '\0';
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return "bad prefix length";
		pl = strtol(slash + 1, &end, 10);
		if (*end != '\0')
			return "bad prefix length";
	}
	memset(bytes, 0, 16);
	if (inet_pton(AF_INET, buf, bytes) == 1) {
		*family = AF_INET;
		if (pl < 0)
			pl = 32;
		if (pl > 32)
			return "prefix length out of range (0..32)";
	} else if (inet_pton(AF_INET6, buf, bytes) == 1) {
		*family = AF_INET6;
		if (pl < 0)
			pl = 128;
		if (pl > 128)
			return "prefix length out of range (0..128)";
		if (pl >= 96 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)bytes)) {
			memmove(bytes, bytes + 12, 4);
			memset(bytes + 4, 0, 12);
			*family = AF_INET;
			pl -= 96;
		}
	} else {
		return "not an IPv4 or IPv6 address";
	}
	unsigned bits = *family == AF_INET ? 32 : 128;
	for (unsigned b = (unsigned)pl; b < bits; b++)
		if (bytes[b / 8] & (0x80u >> (b % 8)))
			return "host bits set after the prefix length";
	*plen = (unsigned)pl;
	return NULL;
}

static inline unsigned bit_at(const uint8_t *bytes, unsigned i)
{
	return (bytes[i / 8] >> (7 - i % 8)) & 1u;
}

int geo_map_add_cidr(geo_map_t *m, const char *cidr, const uint16_t *cities, size_t n,
                     gtm_diag_t *diag, const char *file, int line)
{
	int family;
	uint8_t bytes[16];
	unsigned plen;
	const char *why = parse_cidr(cidr, &family, bytes, &plen);
	if (why != NULL) {
		gtm_diag_add(diag, file, line, "%s: bad network '%s': %s", m->name, cidr, why);
		return GTM_EINVAL;
	}
	char what[INET6_ADDRSTRLEN + 16];
	snprintf(what, sizeof(what), "network %s", cidr);
	int rc = check_cities(m, what, cities, n, diag, file, line);
	if (rc < 0)
		return rc;

	/* Find the node, remembering where the missing part of the path starts,
	 * so that a duplicate leaves the trie untouched. */
	uint32_t cur = family == AF_INET ? 0 : 1;
	unsigned d = 0;
	for (; d < plen; d++) {
		uint32_t next = m->nodes[cur].child[bit_at(bytes, d)];
		if (next == NO_NODE)
			break;
		cur = next;
	}
	if (d == plen && m->nodes[cur].rule != NO_RULE) {
		gtm_diag_add(diag, file, line, "%s: network %s is mapped twice", m->name, cidr);
		return GTM_EEXIST;
	}
	for (; d < plen; d++) {
		m->nodes = gtm_xgrow(m->nodes, m->nnodes, sizeof(*m->nodes));
		uint32_t fresh = (uint32_t)m->nnodes++;
		m->nodes[fresh].child[0] = m->nodes[fresh].child[1] = NO_NODE;
		m->nodes[fresh].rule = NO_RULE;
		m->nodes[cur].child[bit_at(bytes, d)] = fresh;
		cur = fresh;
	}
	m->nodes[cur].rule = add_rule(m, GEO_BY_CIDR, cities, n);
	return 0;
}

static bool two_letters(const char *s, char out[3])
{
	if (s == NULL || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]))
		return false;
	out[0] = (char)toupper((unsigned char)s[0]);
	out[1] = (char)toupper((unsigned char)s[1]);
	out[2] = '\0';
	return true;
}

int geo_map_add_country(geo_map_t *m, const char *cc, const uint16_t *cities, size_t n,
                        gtm_diag_t *diag, const char *file, int line)
{
	char code[3];
	if (!two_letters(cc, code) || cc[2] != '\0' || geo_continent_of_country(code) == NULL) {
		gtm_diag_add(diag, file, line, "%s: unknown country code '%s' (ISO 3166-1 alpha-2%s)",
		             m->name, cc != NULL ? cc : "", (cc != NULL && strcasecmp(cc, "UK") == 0) ?
		             "; the United Kingdom is GB" : "");
		return GTM_EINVAL;
	}
	char what[16];
	snprintf(what, sizeof(what), "country %s", code);
	int rc = check_cities(m, what, cities, n, diag, file, line);
	if (rc < 0)
		return rc;
	int32_t *slot = &m->country[(code[0] - 'A') * 26 + (code[1] - 'A')];
	if (*slot != NO_RULE) {
		gtm_diag_add(diag, file, line, "%s: country %s is mapped twice", m->name, code);
		return GTM_EEXIST;
	}
	*slot = add_rule(m, GEO_BY_COUNTRY, cities, n);
	return 0;
}

static int continent_index(const char *code)
{
	for (size_t i = 0; i < NCONTINENTS; i++)
		if (code[0] == continents[i][0] && code[1] == continents[i][1])
			return (int)i;
	return -1;
}

int geo_map_add_continent(geo_map_t *m, const char *code, const uint16_t *cities, size_t n,
                          gtm_diag_t *diag, const char *file, int line)
{
	char c[3];
	int idx = -1;
	if (two_letters(code, c) && code[2] == '\0')
		idx = continent_index(c);
	if (idx < 0) {
		gtm_diag_add(diag, file, line, "%s: unknown continent code '%s' (AF AN AS EU NA OC SA)",
		             m->name, code != NULL ? code : "");
		return GTM_EINVAL;
	}
	char what[16];
	snprintf(what, sizeof(what), "continent %s", c);
	int rc = check_cities(m, what, cities, n, diag, file, line);
	if (rc < 0)
		return rc;
	if (m->continent[idx] != NO_RULE) {
		gtm_diag_add(diag, file, line, "%s: continent %s is mapped twice", m->name, c);
		return GTM_EEXIST;
	}
	m->continent[idx] = add_rule(m, GEO_BY_CONTINENT, cities, n);
	return 0;
}

/* ASCII-only case-insensitive equality: the same in every locale, and UTF-8
 * bytes above 0x7f compare exactly. */
static bool ascii_case_eq(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
		if (x == '\0')
			return true;
	}
}

int geo_map_add_subdivision(geo_map_t *m, const char *code, const uint16_t *cities, size_t n,
                            gtm_diag_t *diag, const char *file, int line)
{
	char cc[3];
	if (!two_letters(code, cc) || code[2] != '-' || code[3] == '\0' ||
	    strlen(code + 3) > GEO_SUBDIVISION_MAX || geo_continent_of_country(cc) == NULL) {
		gtm_diag_add(diag, file, line,
		             "%s: bad subdivision '%s' (want CC-SUB: an ISO 3166-1 country code, '-', "
		             "then at most %d bytes, e.g. CN-BJ or US-Virginia)",
		             m->name, code != NULL ? code : "", GEO_SUBDIVISION_MAX);
		return GTM_EINVAL;
	}
	char what[GEO_SUBDIVISION_MAX + 32];
	snprintf(what, sizeof(what), "subdivision %s", code);
	int rc = check_cities(m, what, cities, n, diag, file, line);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < m->nsubdivs; i++) {
		if (memcmp(m->subdivs[i].cc, cc, 2) == 0 && ascii_case_eq(m->subdivs[i].sub, code + 3)) {
			gtm_diag_add(diag, file, line, "%s: subdivision %s is mapped twice", m->name, code);
			return GTM_EEXIST;
		}
	}
	m->subdivs = gtm_xgrow(m->subdivs, m->nsubdivs, sizeof(*m->subdivs));
	struct subdiv *s = &m->subdivs[m->nsubdivs++];
	memcpy(s->cc, cc, 3);
	snprintf(s->sub, sizeof(s->sub), "%s", code + 3);
	s->rule = add_rule(m, GEO_BY_SUBDIVISION, cities, n);
	return 0;
}

int geo_map_set_default(geo_map_t *m, const uint16_t *cities, size_t n,
                        gtm_diag_t *diag, const char *file, int line)
{
	if (m->default_set) {
		gtm_diag_add(diag, file, line, "%s: default order set twice", m->name);
		return GTM_EEXIST;
	}
	int rc = check_cities(m, "default order", cities, n, diag, file, line);
	if (rc < 0)
		return rc;
	uint8_t used[GEO_MAX_CITIES] = { 0 };
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		m->default_order[k++] = cities[i];
		used[cities[i]] = 1;
	}
	for (size_t i = 0; i < m->n; i++)
		if (!used[i])
			m->default_order[k++] = (uint16_t)i;
	m->default_set = true;
	return 0;
}

/* ---- the query path ---------------------------------------------------- */

/*
 * Normalises a client address to family + network-order bytes; an
 * IPv4-mapped IPv6 address becomes IPv4.  Returns false for other families.
 */
static bool addr_bytes(const struct sockaddr *sa, int *family, const uint8_t **bytes)
{
	if (sa->sa_family == AF_INET) {
		*family = AF_INET;
		*bytes = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			*family = AF_INET;
			*bytes = a->s6_addr + 12;
		} else {
			*family = AF_INET6;
			*bytes = a->s6_addr;
		}
		return true;
	}
	return false;
}

int geo_map_match_cidr(const geo_map_t *m, const struct sockaddr *sa, unsigned *depth)
{
	int family;
	const uint8_t *bytes;

	if (depth != NULL)
		*depth = 0;
	if (sa == NULL || !addr_bytes(sa, &family, &bytes))
		return NO_RULE;

	unsigned bits = family == AF_INET ? 32 : 128;
	uint32_t cur = family == AF_INET ? 0 : 1;
	int32_t best = m->nodes[cur].rule;
	unsigned d = 0;
	while (d < bits) {
		uint32_t next = m->nodes[cur].child[bit_at(bytes, d)];
		if (next == NO_NODE)
			break;
		cur = next;
		d++;
		if (m->nodes[cur].rule != NO_RULE)
			best = m->nodes[cur].rule;
	}
	/*
	 * Every address that shares the first d bits walks the same path to this
	 * node.  If the node has a child on the other side, the next bit matters
	 * as well; if it has none, nothing deeper can change the outcome.
	 */
	if (depth != NULL) {
		const struct node *nd = &m->nodes[cur];
		*depth = (d < bits && (nd->child[0] != NO_NODE || nd->child[1] != NO_NODE)) ? d + 1 : d;
	}
	return best;
}

static int32_t match_location(const geo_map_t *m, const geo_loc_t *loc)
{
	const char *cc = loc->country;
	bool has_cc = cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z';

	if (has_cc && loc->subdivision[0] != '\0') {
		for (size_t i = 0; i < m->nsubdivs; i++)
			if (m->subdivs[i].cc[0] == cc[0] && m->subdivs[i].cc[1] == cc[1] &&
			    ascii_case_eq(m->subdivs[i].sub, loc->subdivision))
				return m->subdivs[i].rule;
	}
	if (has_cc) {
		int32_t r = m->country[(cc[0] - 'A') * 26 + (cc[1] - 'A')];
		if (r != NO_RULE)
			return r;
	}
	if (loc->continent[0] != '\0') {
		int idx = continent_index(loc->continent);
		if (idx >= 0 && m->continent[idx] != NO_RULE)
			return m->continent[idx];
	}
	return NO_RULE;
}

/*
 * Appends the cities not marked in `used` to out[k..], nearest first when
 * `v` (the client's unit vector) is given, else in the default order.
 * Returns the new length.
 */
static size_t append_rest(const geo_map_t *m, const uint8_t *used, const double *v,
                          uint16_t *out, size_t k)
{
	if (v == NULL) {
		for (size_t i = 0; i < m->n; i++)
			if (!used[m->default_order[i]])
				out[k++] = m->default_order[i];
		return k;
	}

	/* Larger dot product = smaller central angle = nearer.  Insertion sort
	 * on (score desc, index asc): n is small and the input is in index
	 * order, so equal scores keep index order. */
	double score[GEO_MAX_CITIES];
	size_t start = k;
	for (size_t i = 0; i < m->n; i++) {
		if (used[i])
			continue;
		const double *u = m->unit[i];
		double s = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
		size_t j = k++;
		while (j > start && score[j - 1] < s) {
			score[j] = score[j - 1];
			out[j] = out[j - 1];
			j--;
		}
		score[j] = s;
		out[j] = (uint16_t)i;
	}
	return k;
}

size_t geo_map_order_rule(const geo_map_t *m, int cidr_rule, const geo_loc_t *loc,
                          uint16_t *out, geo_order_info_t *info)
{
	uint8_t used[GEO_MAX_CITIES];
	int32_t r = cidr_rule >= 0 && (size_t)cidr_rule < m->nrules ? cidr_rule : NO_RULE;
	bool located = loc != NULL && loc->found;
	double vbuf[3], *v = NULL;
	geo_how_t how;

	if (located && loc->has_coords && valid_point(loc->lat, loc->lon)) {
		to_unit(loc->lat, loc->lon, vbuf);
		v = vbuf;
	}
	if (r == NO_RULE && located)
		r = match_location(m, loc);

	if (r == NO_RULE) {
		how = v != NULL ? GEO_BY_DISTANCE : GEO_BY_DEFAULT;
		if (v == NULL) {
			memcpy(out, m->default_order, m->n * sizeof(*out));
		} else {
			memset(used, 0, m->n);
			append_rest(m, used, v, out, 0);
		}
	} else {
		const struct rule *rule = &m->rules[r];
		how = rule->how;
		memset(used, 0, m->n);
		for (size_t i = 0; i < rule->n; i++) {
			out[i] = rule->cities[i];
			used[rule->cities[i]] = 1;
		}
		append_rest(m, used, v, out, rule->n);
	}
	if (info != NULL) {
		info->how = how;
		info->rule = r;
		info->scope = 0;
	}
	return m->n;
}

size_t geo_map_order(const geo_map_t *m, const struct sockaddr *sa, const geo_loc_t *loc,
                     uint16_t *out, geo_order_info_t *info)
{
	unsigned depth;
	int32_t r = geo_map_match_cidr(m, sa, &depth);
	size_t n = geo_map_order_rule(m, r, loc, out, info);

	if (info != NULL) {
		if (r != NO_RULE)
			info->scope = depth;
		else
			info->scope = (loc != NULL && loc->prefix > depth) ? loc->prefix : depth;
	}
	return n;
}

uint32_t geo_map_cidr_root(const geo_map_t *m, int family)
{
	uint32_t root = family == AF_INET ? 0 : family == AF_INET6 ? 1 : GEO_MAP_NO_NODE;
	if (root == GEO_MAP_NO_NODE)
		return root;
	const struct node *nd = &m->nodes[root];
	if (nd->rule == NO_RULE && nd->child[0] == NO_NODE && nd->child[1] == NO_NODE)
		return GEO_MAP_NO_NODE;
	return root;
}

int geo_map_cidr_node(const geo_map_t *m, uint32_t node, uint32_t child[2])
{
	const struct node *nd = &m->nodes[node];
	for (int i = 0; i < 2; i++)
		child[i] = nd->child[i] != NO_NODE ? nd->child[i] : GEO_MAP_NO_NODE;
	return nd->rule;
}
