/*
 * GeoIP databases on libmaxminddb.
 *
 * The files are mapped (MMDB_MODE_MMAP), so a lookup reads the page cache
 * directly: MMDB_lookup_sockaddr() walks the search tree and
 * MMDB_aget_value() decodes one value at a time, and neither allocates.
 * MMDB_get_entry_data_list(), which does, is never used here.  The field
 * paths are split into component arrays once, at open, so the query path
 * does no string work beyond copying two-letter codes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "geo/continent.h"
#include "geo/db.h"

enum { F_COUNTRY, F_CONTINENT, F_SUBDIV, F_LAT, F_LON, F_COUNT };

static const char *const field_names[F_COUNT] = {
	"country", "continent", "subdivision", "latitude", "longitude",
};

#define NO_FILE 0xffu
/* Records examined at open to check the field paths. */
#define SAMPLE_RECORDS 64
/* Search-tree nodes visited at most while looking for them. */
#define SAMPLE_NODES 100000

struct geo_file {
	MMDB_s mmdb;
	bool open;
	char *path;
	struct stat st;
};

struct geo_db {
	struct geo_file file[2];
	unsigned nfiles;
	uint8_t v4_file, v6_file;         /* index into file[], or NO_FILE */
	/* NULL-terminated MMDB_aget_value() paths, NULL when not configured;
	 * the components point into pathbuf[]. */
	const char **path[F_COUNT];
	char *pathbuf[F_COUNT];
	char *pathtext[F_COUNT];          /* as configured, for messages */
	/* When latitude and longitude live in the same map ("location/..."),
	 * that map's path and the two last components: the map is found once
	 * per record instead of twice. */
	const char **coord_parent;
	const char *coord_leaf[2][2];
	uint32_t gen;
	/* References (geo_db_ref/unref): snapshots share one database.  Only
	 * the control thread touches it, so a plain counter is enough. */
	unsigned refs;
};

static atomic_uint_fast32_t db_generation;

int geo_fields_preset(const char *name, geo_fields_t *out)
{
	static const geo_fields_t geoip2 = {
		.country = "country/iso_code",
		.continent = "continent/code",
		.subdivision = "subdivisions/0/iso_code",
		.latitude = "location/latitude",
		.longitude = "location/longitude",
	};
	static const geo_fields_t flat = {
		.country = "country_code",
		.continent = NULL,
		.subdivision = "state1",
		.latitude = "latitude",
		.longitude = "longitude",
	};

	if (name != NULL && strcmp(name, "geoip2") == 0)
		*out = geoip2;
	else if (name != NULL && strcmp(name, "flat") == 0)
		*out = flat;
	else
		return GTM_ENOENT;
	return 0;
}

/* ---- values ------------------------------------------------------------- */

/* Copies a UTF-8 string value of 1..cap-1 bytes into buf; else leaves buf
 * empty.  Returns whether it copied. */
static bool value_string(const MMDB_entry_data_s *v, char *buf, size_t cap)
{
	if (!v->has_data || v->type != MMDB_DATA_TYPE_UTF8_STRING || v->data_size == 0 ||
	    v->data_size >= cap)
		return false;
	memcpy(buf, v->utf8_string, v->data_size);
	buf[v->data_size] = '\0';
	return true;
}

static bool value_number(const MMDB_entry_data_s *v, double *out)
{
	if (!v->has_data)
		return false;
	switch (v->type) {
	case MMDB_DATA_TYPE_DOUBLE: *out = v->double_value; return true;
	case MMDB_DATA_TYPE_FLOAT:  *out = v->float_value; return true;
	case MMDB_DATA_TYPE_INT32:  *out = v->int32; return true;
	case MMDB_DATA_TYPE_UINT16: *out = v->uint16; return true;
	case MMDB_DATA_TYPE_UINT32: *out = v->uint32; return true;
	case MMDB_DATA_TYPE_UTF8_STRING: {
		/* Some CSV-derived databases store coordinates as text. */
		char buf[32], *end;
		if (v->data_size == 0 || v->data_size >= sizeof(buf))
			return false;
		memcpy(buf, v->utf8_string, v->data_size);
		buf[v->data_size] = '\0';
		*out = strtod(buf, &end);
		return end != buf && *end == '\0';
	}
	default:
		return false;
	}
}

static bool is_code2(const char *s)
{
	return s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] == '\0';
}

/* Reads one field of a record; false when absent. */
static bool get_value(const geo_db_t *db, int f, const MMDB_entry_s *entry, MMDB_entry_data_s *v)
{
	if (db->path[f] == NULL)
		return false;
	MMDB_entry_s e = *entry;
	return MMDB_aget_value(&e, v, db->path[f]) == MMDB_SUCCESS && v->has_data;
}

static void fill_loc(const geo_db_t *db, const MMDB_entry_s *entry, geo_loc_t *loc)
{
	MMDB_entry_data_s v;

	if (get_value(db, F_COUNTRY, entry, &v) && value_string(&v, loc->country, sizeof(loc->country)) &&
	    !is_code2(loc->country))
		loc->country[0] = '\0';
	if (get_value(db, F_CONTINENT, entry, &v) &&
	    value_string(&v, loc->continent, sizeof(loc->continent)) && !is_code2(loc->continent))
		loc->continent[0] = '\0';
	if (loc->continent[0] == '\0' && loc->country[0] != '\0') {
		const char *c = geo_continent_of_country(loc->country);
		if (c != NULL)
			memcpy(loc->continent, c, 3);
	}
	if (get_value(db, F_SUBDIV, entry, &v))
		value_string(&v, loc->subdivision, sizeof(loc->subdivision));

	double lat, lon;
	bool got;
	if (db->coord_parent != NULL) {
		MMDB_entry_s e = *entry;
		got = MMDB_aget_value(&e, &v, db->coord_parent) == MMDB_SUCCESS && v.has_data &&
		      v.type == MMDB_DATA_TYPE_MAP;
		uint32_t map_at = v.offset;
		MMDB_entry_s sub = { .mmdb = entry->mmdb, .offset = map_at };
		got = got && MMDB_aget_value(&sub, &v, db->coord_leaf[0]) == MMDB_SUCCESS &&
		      value_number(&v, &lat);
		sub.offset = map_at;
		got = got && MMDB_aget_value(&sub, &v, db->coord_leaf[1]) == MMDB_SUCCESS &&
		      value_number(&v, &lon);
	} else {
		got = get_value(db, F_LAT, entry, &v) && value_number(&v, &lat) &&
		      get_value(db, F_LON, entry, &v) && value_number(&v, &lon);
	}
	if (got &&
	    lat >= -90.0 && lat <= 90.0 && lon >= -180.0 && lon <= 180.0) {
		loc->lat = lat;
		loc->lon = lon;
		loc->has_coords = true;
	}
}

int geo_db_locate(const geo_db_t *db, const struct sockaddr *sa, geo_loc_t *loc)
{
	struct sockaddr_in v4;
	int family;

	memset(loc, 0, sizeof(*loc));
	if (sa->sa_family == AF_INET) {
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		family = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			/* Looked up as IPv4, so that the prefix is an IPv4 one and a
			 * database without the ::ffff:0:0/96 alias still finds it. */
			memset(&v4, 0, sizeof(v4));
			v4.sin_family = AF_INET;
			memcpy(&v4.sin_addr, a->s6_addr + 12, 4);
			sa = (const struct sockaddr *)&v4;
			family = AF_INET;
		}
	} else {
		return GTM_EINVAL;
	}

	unsigned idx = family == AF_INET ? db->v4_file : db->v6_file;
	if (idx == NO_FILE)
		return 0;
	const struct geo_file *f = &db->file[idx];
	int err;
	MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&f->mmdb, sa, &err);
	if (err != MMDB_SUCCESS)
		return GTM_EIO;
	unsigned nm = r.netmask;
	if (family == AF_INET && f->mmdb.metadata.ip_version == 6)
		nm = nm >= 96 ? nm - 96 : 0;
	loc->prefix = (uint8_t)nm;
	if (!r.found_entry)
		return 0;
	loc->found = true;
	loc->key = ((uint64_t)db->gen << 33) | ((uint64_t)idx << 32) | r.entry.offset;
	return 0;
}

void geo_db_fill(const geo_db_t *db, geo_loc_t *loc)
{
	if (!loc->found || (uint32_t)(loc->key >> 33) != db->gen)
		return;
	unsigned idx = (unsigned)(loc->key >> 32) & 1u;
	if (idx >= db->nfiles)
		return;
	MMDB_entry_s entry = { .mmdb = &db->file[idx].mmdb, .offset = (uint32_t)loc->key };
	fill_loc(db, &entry, loc);
}

int geo_db_lookup(const geo_db_t *db, const struct sockaddr *sa, geo_loc_t *loc)
{
	int rc = geo_db_locate(db, sa, loc);
	if (rc == 0)
		geo_db_fill(db, loc);
	return rc;
}

uint32_t geo_db_generation(const geo_db_t *db)
{
	return db->gen;
}

/* ---- the search tree, for geo/tree.c ------------------------------------ */

static int rec_of(unsigned file, uint8_t type, uint64_t value, const MMDB_entry_s *entry,
                  geo_db_rec_t *out)
{
	out->file = (uint8_t)file;
	switch (type) {
	case MMDB_RECORD_TYPE_SEARCH_NODE:
		out->kind = GEO_DB_REC_NODE;
		out->value = (uint32_t)value;
		return 0;
	case MMDB_RECORD_TYPE_EMPTY:
		out->kind = GEO_DB_REC_EMPTY;
		out->value = 0;
		return 0;
	case MMDB_RECORD_TYPE_DATA:
		out->kind = GEO_DB_REC_DATA;
		out->value = entry->offset;
		return 0;
	default:
		return GTM_EIO;
	}
}

int geo_db_tree_children(const geo_db_t *db, const geo_db_rec_t *node, geo_db_rec_t out[2])
{
	if (node->kind != GEO_DB_REC_NODE || node->file >= db->nfiles)
		return GTM_EINVAL;
	const MMDB_s *mm = &db->file[node->file].mmdb;
	MMDB_search_node_s n;
	if (MMDB_read_node(mm, node->value, &n) != MMDB_SUCCESS)
		return GTM_EIO;
	if (rec_of(node->file, n.left_record_type, n.left_record, &n.left_record_entry, &out[0]) != 0 ||
	    rec_of(node->file, n.right_record_type, n.right_record, &n.right_record_entry, &out[1]) != 0)
		return GTM_EIO;
	return 0;
}

int geo_db_tree_start(const geo_db_t *db, int family, geo_db_rec_t *out)
{
	unsigned idx = family == AF_INET ? db->v4_file : family == AF_INET6 ? db->v6_file : NO_FILE;
	*out = (geo_db_rec_t){ .kind = GEO_DB_REC_EMPTY };
	if (idx == NO_FILE)
		return 0;
	*out = (geo_db_rec_t){ .kind = GEO_DB_REC_NODE, .file = (uint8_t)idx, .value = 0 };
	if (family == AF_INET6 || db->file[idx].mmdb.metadata.ip_version == 4)
		return 0;
	/* IPv4 in an IPv6 file: ::a.b.c.d, as libmaxminddb looks it up. */
	for (unsigned d = 0; d < 96 && out->kind == GEO_DB_REC_NODE; d++) {
		geo_db_rec_t kids[2];
		int rc = geo_db_tree_children(db, out, kids);
		if (rc != 0)
			return rc;
		*out = kids[0];
	}
	return 0;
}

void geo_db_tree_loc(const geo_db_t *db, const geo_db_rec_t *rec, geo_loc_t *loc)
{
	memset(loc, 0, sizeof(*loc));
	if (rec->kind != GEO_DB_REC_DATA || rec->file >= db->nfiles)
		return;
	loc->found = true;
	loc->key = ((uint64_t)db->gen << 33) | ((uint64_t)rec->file << 32) | rec->value;
	geo_db_fill(db, loc);
}

void geo_db_release_pages(const geo_db_t *db)
{
	long page = sysconf(_SC_PAGESIZE);
	for (unsigned i = 0; i < db->nfiles; i++) {
		const MMDB_s *mm = &db->file[i].mmdb;
		uintptr_t start = (uintptr_t)mm->file_content;
		/* MMDB_MODE_MMAP maps the whole file at a page boundary. */
		if (!db->file[i].open || mm->file_content == NULL || page <= 0 ||
		    start % (uintptr_t)page != 0)
			continue;
		(void)madvise((void *)start, (size_t)mm->file_size, MADV_DONTNEED);
	}
}

uint32_t geo_db_tree_nodes(const geo_db_t *db, unsigned file)
{
	if (file >= db->nfiles || !db->file[file].open)
		return 0;
	return db->file[file].mmdb.metadata.node_count;
}

/* ---- opening and checking ----------------------------------------------- */

/* Splits "a/b/0/c" into a NULL-terminated component array.  Returns false
 * for an empty component. */
static bool compile_path(geo_db_t *db, int f, const char *text)
{
	size_t len = strlen(text), n = 1;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '/';
	char *buf = gtm_xstrdup(text);
	const char **v = gtm_xcalloc(n + 1, sizeof(*v));
	db->pathbuf[f] = buf;
	db->pathtext[f] = gtm_xstrdup(text);
	db->path[f] = v;
	size_t k = 0;
	for (char *p = buf;; ) {
		char *slash = strchr(p, '/');
		if (slash != NULL)
			*slash = '\0';
		if (*p == '\0')
			return false;
		v[k++] = p;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	v[k] = NULL;
	return true;
}

/* Fills coord_parent when both coordinate paths have the same parent map. */
static void setup_coord_parent(geo_db_t *db)
{
	const char **a = db->path[F_LAT], **b = db->path[F_LON];
	size_t na = 0, nb = 0;

	if (a == NULL || b == NULL)
		return;
	while (a[na] != NULL)
		na++;
	while (b[nb] != NULL)
		nb++;
	if (na < 2 || na != nb)
		return;
	for (size_t i = 0; i + 1 < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return;
	/* path[F_LAT] with its last component cut: a prefix of the same array. */
	db->coord_parent = gtm_xcalloc(na, sizeof(*db->coord_parent));
	memcpy(db->coord_parent, a, (na - 1) * sizeof(*a));
	db->coord_leaf[0][0] = a[na - 1];
	db->coord_leaf[1][0] = b[nb - 1];
}

static bool open_file(struct geo_file *f, const char *path, gtm_diag_t *diag)
{
	f->path = gtm_xstrdup(path);
	if (stat(path, &f->st) != 0) {
		gtm_diag_add(diag, path, 0, "cannot open GeoIP database (%s)", strerror(errno));
		return false;
	}
	int rc = MMDB_open(path, MMDB_MODE_MMAP, &f->mmdb);
	if (rc != MMDB_SUCCESS) {
		int e = errno;
		gtm_diag_add(diag, path, 0, "not a usable MMDB database (%s%s%s)", MMDB_strerror(rc),
		             rc == MMDB_IO_ERROR ? ": " : "", rc == MMDB_IO_ERROR ? strerror(e) : "");
		return false;
	}
	f->open = true;
	const MMDB_metadata_s *md = &f->mmdb.metadata;
	if (md->ip_version != 4 && md->ip_version != 6) {
		gtm_diag_add(diag, path, 0, "unsupported ip_version %u in the metadata", md->ip_version);
		return false;
	}
	if (md->node_count == 0) {
		gtm_diag_add(diag, path, 0, "empty search tree");
		return false;
	}
	return true;
}

struct sample_counts {
	unsigned records;
	unsigned found[F_COUNT];      /* resolved to a usable, non-empty value */
	unsigned wrong[F_COUNT];      /* resolved to a value of the wrong type */
	uint32_t wrong_type[F_COUNT];
};

static void sample_record(const geo_db_t *db, const MMDB_entry_s *entry, struct sample_counts *sc)
{
	sc->records++;
	for (int f = 0; f < F_COUNT; f++) {
		MMDB_entry_data_s v;
		if (!get_value(db, f, entry, &v))
			continue;
		bool ok;
		if (f == F_LAT || f == F_LON) {
			double d;
			ok = value_number(&v, &d);
		} else {
			ok = v.type == MMDB_DATA_TYPE_UTF8_STRING;
			if (ok && v.data_size == 0)
				continue;   /* "" is the flat schema's "unknown" */
		}
		if (ok) {
			sc->found[f]++;
		} else {
			sc->wrong[f]++;
			sc->wrong_type[f] = v.type;
		}
	}
}

/*
 * Walks the search tree depth-first from the root and checks the field
 * paths against the first SAMPLE_RECORDS data records.  A read error means
 * a corrupt tree.
 */
static bool check_file(const geo_db_t *db, const struct geo_file *f, gtm_diag_t *diag)
{
	struct sample_counts sc;
	uint32_t stack[256];
	size_t sp = 0;
	unsigned visited = 0;

	memset(&sc, 0, sizeof(sc));
	stack[sp++] = 0;
	while (sp > 0 && sc.records < SAMPLE_RECORDS && visited < SAMPLE_NODES) {
		MMDB_search_node_s node;
		uint32_t nn = stack[--sp];
		visited++;
		int rc = MMDB_read_node(&f->mmdb, nn, &node);
		if (rc != MMDB_SUCCESS) {
			gtm_diag_add(diag, f->path, 0, "corrupt search tree (node %u: %s)", nn, MMDB_strerror(rc));
			return false;
		}
		/* Right first onto the stack, so the left (lower addresses) comes out first. */
		uint8_t types[2] = { node.right_record_type, node.left_record_type };
		uint64_t recs[2] = { node.right_record, node.left_record };
		MMDB_entry_s ents[2] = { node.right_record_entry, node.left_record_entry };
		for (int side = 0; side < 2; side++) {
			switch (types[side]) {
			case MMDB_RECORD_TYPE_SEARCH_NODE:
				if (sp < sizeof(stack) / sizeof(stack[0]))
					stack[sp++] = (uint32_t)recs[side];
				break;
			case MMDB_RECORD_TYPE_DATA:
				sample_record(db, &ents[side], &sc);
				break;
			case MMDB_RECORD_TYPE_EMPTY:
				break;
			default:
				gtm_diag_add(diag, f->path, 0, "corrupt search tree (node %u: invalid record)", nn);
				return false;
			}
		}
	}
	if (sc.records == 0) {
		gtm_diag_add(diag, f->path, 0, "no data records found in the search tree");
		return false;
	}

	bool ok = true;
	for (int fi = 0; fi < F_COUNT; fi++) {
		if (db->path[fi] == NULL)
			continue;
		if (sc.wrong[fi] > 0) {
			gtm_diag_add(diag, f->path, 0,
			             "field %s: path '%s' holds a value of MMDB type %u in %u of %u sampled "
			             "records, not a %s", field_names[fi], db->pathtext[fi], sc.wrong_type[fi],
			             sc.wrong[fi], sc.records,
			             (fi == F_LAT || fi == F_LON) ? "number" : "string");
			ok = false;
		} else if (sc.found[fi] == 0) {
			/* Country and coordinates are what steering needs: a path that
			 * never resolves is a wrong schema, not sparse data.  Continent
			 * and subdivision may well be rare. */
			if (fi == F_CONTINENT || fi == F_SUBDIV) {
				log_warn("geo, %s: field %s (path '%s') not found in any of %u sampled records",
				         f->path, field_names[fi], db->pathtext[fi], sc.records);
			} else {
				gtm_diag_add(diag, f->path, 0,
				             "field %s: path '%s' not found in any of %u sampled records "
				             "(wrong field preset? \"geoip2\" reads country/iso_code and "
				             "location/latitude, \"flat\" reads country_code and latitude)",
				             field_names[fi], db->pathtext[fi], sc.records);
				ok = false;
			}
		}
	}
	return ok;
}

geo_db_t *geo_db_open(const char *path, const char *path_v6, const geo_fields_t *fields,
                      gtm_diag_t *diag)
{
	geo_db_t *db = gtm_xcalloc(1, sizeof(*db));
	db->refs = 1;
	const char *texts[F_COUNT] = {
		fields->country, fields->continent, fields->subdivision, fields->latitude, fields->longitude,
	};
	size_t before = diag->count;

	db->v4_file = db->v6_file = NO_FILE;
	for (int f = 0; f < F_COUNT; f++) {
		if (texts[f] == NULL || texts[f][0] == '\0')
			continue;
		if (!compile_path(db, f, texts[f]))
			gtm_diag_add(diag, path, 0, "field %s: bad path '%s' (empty component)",
			             field_names[f], texts[f]);
	}
	setup_coord_parent(db);
	if ((db->path[F_LAT] == NULL) != (db->path[F_LON] == NULL))
		gtm_diag_add(diag, path, 0, "latitude and longitude must be configured together");
	if (diag->count != before)
		goto fail;

	if (path == NULL || path[0] == '\0') {
		gtm_diag_add(diag, NULL, 0, "geo: no database file configured");
		goto fail;
	}
	db->nfiles = 1;
	if (!open_file(&db->file[0], path, diag))
		goto fail;
	db->v4_file = 0;
	db->v6_file = db->file[0].mmdb.metadata.ip_version == 6 ? 0 : NO_FILE;
	if (path_v6 != NULL && path_v6[0] != '\0') {
		db->nfiles = 2;
		if (!open_file(&db->file[1], path_v6, diag))
			goto fail;
		if (db->file[1].mmdb.metadata.ip_version != 6) {
			gtm_diag_add(diag, path_v6, 0, "an IPv4-only database (ip_version 4) given as the IPv6 one");
			goto fail;
		}
		db->v6_file = 1;
	}
	/* A generation is taken only now, but its uniqueness is all that matters. */
	db->gen = (uint32_t)(atomic_fetch_add(&db_generation, 1) + 1) & 0x7fffffffu;
	if (db->gen == 0)
		db->gen = (uint32_t)(atomic_fetch_add(&db_generation, 1) + 1) & 0x7fffffffu;

	for (unsigned i = 0; i < db->nfiles; i++)
		if (!check_file(db, &db->file[i], diag))
			goto fail;
	if (db->v6_file == NO_FILE)
		log_warn("geo, %s: an IPv4-only database and no IPv6 one; IPv6 clients will not be located",
		         path);
	return db;

fail:
	geo_db_free(db);
	return NULL;
}

static void db_destroy(geo_db_t *db)
{
	for (unsigned i = 0; i < 2; i++) {
		if (db->file[i].open)
			MMDB_close(&db->file[i].mmdb);
		free(db->file[i].path);
	}
	free(db->coord_parent);
	for (int f = 0; f < F_COUNT; f++) {
		free(db->path[f]);
		free(db->pathbuf[f]);
		free(db->pathtext[f]);
	}
	free(db);
}

void geo_db_ref(geo_db_t *db)
{
	if (db != NULL)
		db->refs++;
}

void geo_db_unref(geo_db_t *db)
{
	if (db == NULL)
		return;
	gtm_assert(db->refs > 0);
	if (--db->refs == 0)
		db_destroy(db);
}

void geo_db_free(geo_db_t *db)
{
	geo_db_unref(db);
}

bool geo_db_changed(const geo_db_t *db)
{
	for (unsigned i = 0; i < db->nfiles; i++) {
		const struct stat *a = &db->file[i].st;
		struct stat b;
		if (stat(db->file[i].path, &b) != 0)
			return true;
		if (a->st_dev != b.st_dev || a->st_ino != b.st_ino || a->st_size != b.st_size ||
		    a->st_mtim.tv_sec != b.st_mtim.tv_sec || a->st_mtim.tv_nsec != b.st_mtim.tv_nsec)
			return true;
	}
	return false;
}

int geo_db_describe(const geo_db_t *db, char *buf, size_t len)
{
	size_t used = 0;
	int total = 0;

	for (unsigned i = 0; i < db->nfiles; i++) {
		const MMDB_metadata_s *md = &db->file[i].mmdb.metadata;
		char date[32] = "?";
		time_t t = (time_t)md->build_epoch;
		struct tm tm;
		if (gmtime_r(&t, &tm) != NULL)
			strftime(date, sizeof(date), "%Y-%m-%d", &tm);
		int n = snprintf(buf + used, len > used ? len - used : 0, "%s%s (%s, IPv%u, built %s, %u nodes)",
		                 i > 0 ? "; " : "", db->file[i].path,
		                 md->database_type != NULL ? md->database_type : "?",
		                 md->ip_version, date, md->node_count);
		if (n < 0)
			return n;
		total += n;
		used = (size_t)total < len ? (size_t)total : len;
	}
	return total;
}

int geo_loc_format(const geo_loc_t *loc, char *buf, size_t len)
{
	if (!loc->found)
		return snprintf(buf, len, "not found /%u", loc->prefix);
	char coords[48];
	if (loc->has_coords)
		snprintf(coords, sizeof(coords), "%.4f,%.4f", loc->lat, loc->lon);
	else
		snprintf(coords, sizeof(coords), "no coordinates");
	return snprintf(buf, len, "%s/%s/%s %s /%u",
	                loc->country[0] ? loc->country : "-",
	                loc->continent[0] ? loc->continent : "-",
	                loc->subdivision[0] ? loc->subdivision : "-", coords, loc->prefix);
}
