/*
 * GeoIP databases: MMDB files opened with libmaxminddb (mmap), located per
 * query without allocating.
 *
 * A database is either one file that holds IPv4 and IPv6 (an ip_version 6
 * tree with IPv4 in ::/96, as MaxMind's GeoIP2/GeoLite2 files are), or an
 * IPv4 file plus an IPv6 file (as the ip-location-db packages ship them).
 * Which record fields give the country, continent, subdivision, latitude and
 * longitude is configurable (geo_fields_t); two presets name the common
 * schemas.
 *
 * Threads: geo_db_open() and geo_db_free() run on the control thread.  An
 * open geo_db_t is immutable, so any number of DNS workers may call
 * geo_db_lookup() on it at once, without locks.  Free it only after every
 * reader is done (after an RCU grace period).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/diag.h"

/* Longest subdivision (code or name, in bytes) that a lookup reports; a
 * longer one is reported as empty rather than truncated. */
#define GEO_SUBDIVISION_MAX 23

/*
 * Where the fields live in a record: '/'-separated MMDB paths, with array
 * indices as decimal components ("subdivisions/0/iso_code").  NULL or "" means
 * the schema has no such field.  The strings are borrowed by geo_db_open(),
 * which copies what it keeps.
 *
 * When the continent is missing (no path, or absent in a record) it is derived
 * from the country code (geo_continent_of_country()).
 */
typedef struct geo_fields {
	const char *country;      /* ISO 3166-1 alpha-2 code, a string */
	const char *continent;    /* two-letter continent code (AF AN AS EU NA OC SA) */
	const char *subdivision;  /* ISO 3166-2 subdivision code, or a name (flat "state1") */
	const char *latitude;     /* double, float or numeric string, degrees */
	const char *longitude;
} geo_fields_t;

/*
 * Fills *out with a named preset; returns 0, or GTM_ENOENT for an unknown
 * name.  The strings are static.
 *
 *   "geoip2"  MaxMind GeoIP2 / GeoLite2 City (and DB-IP "City Lite" in the
 *             same schema): country/iso_code, continent/code,
 *             subdivisions/0/iso_code, location/latitude, location/longitude.
 *   "flat"    ip-location-db's city databases (geolite2-city, dbip-city):
 *             country_code, state1 (a subdivision *name*, e.g. "Virginia"),
 *             latitude, longitude; no continent (derived from the country).
 */
int geo_fields_preset(const char *name, geo_fields_t *out);

/*
 * The location of an address.  Small and flat so that a worker keeps it on
 * its stack.  Strings are NUL-terminated; empty when unknown.
 */
typedef struct geo_loc {
	double lat, lon;          /* degrees; valid when has_coords */
	/* Identifies the record (its data-section offset, which file, and which
	 * opened database), so a cache may keep anything computed from the
	 * location under it.  Unique across every geo_db_t of the process;
	 * 0 when !found. */
	uint64_t key;
	uint8_t prefix;           /* prefix length of the matched MMDB network, in the
	                           * address's own family (0..32 or 0..128); set even
	                           * when !found (the length of the empty network) */
	bool found;               /* the address is in a network that has a record */
	bool has_coords;          /* lat and lon were both present */
	char country[3];          /* "CN" */
	char continent[3];        /* "AS" */
	char subdivision[GEO_SUBDIVISION_MAX + 1];  /* "BJ", or "Virginia" with "flat" */
} geo_loc_t;

typedef struct geo_db geo_db_t;

/*
 * Opens the database.  `path` is the single file holding both families, or
 * the IPv4 file when `path_v6` is given (then `path_v6` must be an
 * ip_version 6 file and answers IPv6 lookups).  A single ip_version 4 file
 * answers IPv4 only (IPv6 clients are not found; a warning is logged).
 *
 * Checks each file: it opens as MMDB (mmap), and on a sample of its records
 * the country, latitude and longitude paths (those configured) resolve to
 * values of a usable type; a configured path that never resolves in the
 * sample is an error (a wrong preset), one that resolves to the wrong type
 * too.  Every problem is added to `diag` as "path: message".
 *
 * Returns the database, or NULL with at least one message in `diag`.
 * `fields` is borrowed.  Control thread.
 */
geo_db_t *geo_db_open(const char *path, const char *path_v6, const geo_fields_t *fields,
                      gtm_diag_t *diag);

/*
 * Reference counting, so that snapshots can share one open database: a new
 * database holds one reference (the opener's).  geo_db_ref() adds one;
 * geo_db_unref() drops one and unmaps and frees at zero.  NULL does
 * nothing.  Plain counters: control thread only, and the last unref only
 * after readers are done (after an RCU grace period).
 */
void geo_db_ref(geo_db_t *db);
void geo_db_unref(geo_db_t *db);

/* The same as geo_db_unref(): drops the caller's reference (frees the
 * database when it was the last).  NULL does nothing.  Control thread. */
void geo_db_free(geo_db_t *db);

/*
 * Locates `sa` (AF_INET, or AF_INET6; an IPv4-mapped ::ffff:a.b.c.d is looked
 * up as IPv4).  Fills *loc completely and returns 0; an address that is in
 * no network returns 0 with loc->found false.  Returns GTM_EINVAL for another
 * family and GTM_EIO when the file is corrupt (loc->found false).
 *
 * One MMDB_lookup_sockaddr() and at most five MMDB_aget_value(); no
 * allocation, no lock, no system call.  Any thread.
 */
int geo_db_lookup(const geo_db_t *db, const struct sockaddr *sa, geo_loc_t *loc);

/*
 * geo_db_lookup() in two steps, so that a caller with a cache decodes the
 * record only on a miss: geo_db_locate() walks the search tree and fills
 * found, prefix and key (the strings empty, has_coords false);
 * geo_db_fill() then decodes the fields of the record that loc->key names.
 * geo_db_fill() does nothing unless loc came from geo_db_locate() on this
 * same database.  Same costs and threads as geo_db_lookup(), split.
 */
int geo_db_locate(const geo_db_t *db, const struct sockaddr *sa, geo_loc_t *loc);
void geo_db_fill(const geo_db_t *db, geo_loc_t *loc);

/*
 * The search tree, for translating the database into another structure
 * (geo/tree.c).  A record is what a search-tree node points to, in one of
 * the files.  Control thread; these are not meant for the query path.
 */
typedef enum geo_db_rec_kind {
	GEO_DB_REC_EMPTY = 0,     /* no network here: not found */
	GEO_DB_REC_NODE,          /* a search-tree node: two more records below */
	GEO_DB_REC_DATA,          /* a network with a data record */
} geo_db_rec_kind_t;

typedef struct geo_db_rec {
	uint8_t kind;             /* geo_db_rec_kind_t */
	uint8_t file;             /* which file of the database */
	uint32_t value;           /* NODE: node number; DATA: data-section offset */
} geo_db_rec_t;

/*
 * The record where lookups of `family` (AF_INET or AF_INET6) start, as
 * geo_db_locate() walks: for IPv6 the root of the IPv6 file; for IPv4 the
 * root of an IPv4 file, or what the 96 zero bits of ::/96 lead to in an
 * IPv6 file (a data or empty record met sooner covers all of IPv4).  A
 * family no file answers gives an EMPTY record.  Returns 0, or GTM_EIO for
 * a corrupt tree.
 */
int geo_db_tree_start(const geo_db_t *db, int family, geo_db_rec_t *out);

/* The two records below a NODE record: out[0] for bit 0, out[1] for bit 1.
 * Returns 0, or GTM_EIO for a corrupt tree (a node out of range, an
 * invalid record). */
int geo_db_tree_children(const geo_db_t *db, const geo_db_rec_t *node, geo_db_rec_t out[2]);

/* Fills *loc as geo_db_lookup() does for an address whose walk ends at
 * `rec`: for DATA found, key and the fields; for anything else not found.
 * The prefix is left 0 (it depends on the address). */
void geo_db_tree_loc(const geo_db_t *db, const geo_db_rec_t *rec, geo_loc_t *loc);

/*
 * Drops the files' pages from this process's resident memory (madvise
 * MADV_DONTNEED on the read-only mappings; they stay in the page cache and
 * come back on the next read).  For after a translation has read every
 * node, when lookups in the database have become rare.  Control thread.
 */
void geo_db_release_pages(const geo_db_t *db);

/* Search-tree nodes in file `file` (0 when there is no such file): node
 * numbers of that file's records are below it. */
uint32_t geo_db_tree_nodes(const geo_db_t *db, unsigned file);

/*
 * A number unique to this opened database in the process (never reused, never
 * 0).  The top bits of every geo_loc_t.key it returns.
 */
uint32_t geo_db_generation(const geo_db_t *db);

/*
 * True when a file the database was opened from has since been replaced or
 * modified on disk (device, inode, size or mtime differ), or can no longer be
 * stat()ed.  A reload trigger for the control thread; never on the query path.
 */
bool geo_db_changed(const geo_db_t *db);

/*
 * Writes a one-line description for logs and `gtmctl explain`, e.g.
 * "geoip2-city.mmdb (GeoIP2-City, IPv6, built 2023-11-14, 102 nodes)"
 * (both files when there are two).  Returns what snprintf returns.
 */
int geo_db_describe(const geo_db_t *db, char *buf, size_t len);

/*
 * Formats a location for logs and `gtmctl explain`:
 * "CN/AS/BJ 39.9042,116.4074 /16" or "not found /0".
 */
int geo_loc_format(const geo_loc_t *loc, char *buf, size_t len);
