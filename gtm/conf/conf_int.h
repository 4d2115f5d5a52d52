/*
 * The config loader's internals, shared by its files: the loading context,
 * the key tables (one row per key: type, range, default, check function)
 * and the walkers that check a group or a list of groups against a table
 * and collect every problem with file:line.
 *
 *   conf.c          top level, server, zones, cities, sites, geo, services
 *   conf_keys.c     diagnostics and the key-table engine
 *   conf_health.c   checks = ( ... ) and health = { ... }
 *   conf_control.c  control = { ... } and controller = { ... }
 *   conf_metrics.c  metrics = { ... }
 *   conf_cluster.c  cluster = { ... }
 *
 * A new group is a key table, a section function and one row in conf.c's
 * `sections`.  Not a public interface: only gtm/conf*.c include it.
 * Control thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libconfig.h>

#include "common/name.h"
#include "geo/map.h"
#include "gtm/conf/conf.h"

/* One message before sorting: messages are reported in file order, then
 * line order, then the order they were found in. */
typedef struct msg {
	size_t file;     /* index into ctx.files */
	int line;        /* 0: about the whole file, sorted last */
	size_t seq;
	bool warn;       /* a warning (conf_warn), not an error */
	char *text;
} msg_t;

/* The text of a file libconfig read, kept to recover integer literals that
 * libconfig 1.5 silently truncates to 32 bits. */
typedef struct srcfile {
	char *name;
	char *text;      /* NULL when unreadable */
	size_t *lines;   /* offset of each line start; lines[0] is line 1 */
	size_t nlines;
} srcfile_t;

typedef struct ctx {
	const char *path;     /* as given by the caller */
	geo_map_t *check_map; /* while geo is read: a map that checks each rule */
	const char *dir;      /* its folder, NULL for the current one */
	gtm_conf_t *conf;
	msg_t *msgs;
	size_t nmsgs;
	size_t nerrs;         /* how many of msgs are errors: any refuses the config */
	srcfile_t *files;
	size_t nfiles;
} ctx_t;

typedef enum ktype {
	KT_INT,     /* integer in [min, max], stored times `scale` in a field of `size` bytes */
	KT_NUM,     /* integer or float in [dmin, dmax], stored as double */
	KT_STR,     /* string of min..max bytes, stored as a new char * */
	KT_ENUM,    /* one of `choices`, stored as the int index */
	KT_BOOL,    /* true or false, stored as a bool; default `def` */
	KT_FN,      /* parsed by `fn` */
} ktype_t;

enum {
	KF_REQUIRED = 1, /* missing: "<where> has no '<key>'" */
	KF_NAME = 2,     /* the item's name: used in every later message */
	KF_DEFAULT = 4,  /* missing: store `def` (KT_INT, KT_ENUM) or `sdef` (KT_STR) */
};

/* Where a group sits, for messages: "server" and "server.workers", or
 * "site bj-a" and "site bj-a: weight". */
typedef struct scope {
	const char *kind;     /* "server", "site", "endpoint" */
	const char *parent;   /* "service www.example.com" for an endpoint, else NULL */
	bool section;         /* a top-level group such as server: keys read server.key */
	const char *name;     /* the item's name once read */
	char where[320];
	char prefix[320];
	/* Filled by conf_group_walk: the table walked and, per row (bit i for
	 * keys[i]), whether that key was reported (bad value, or required and
	 * missing), so that a finish step can skip only the rules that read it
	 * (conf_key_failed). */
	const struct key *keys;
	uint64_t failed;
} scope_t;

typedef struct key ckey_t;
typedef bool (*key_fn_t)(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc);
/* Whether a KT_FN key's value is the same in two groups (the structs its
 * function fills), for the reload scope. */
typedef bool (*key_same_fn_t)(const void *a, const void *b);

struct key {
	const char *name;
	ktype_t type;
	unsigned flags;
	size_t off, size;     /* the field in the item */
	int64_t min, max;     /* KT_INT range; KT_STR length */
	double dmin, dmax;    /* KT_NUM range */
	int64_t def;          /* KT_INT, KT_ENUM default */
	const char *sdef;     /* KT_STR default (NULL: none) */
	int64_t scale;        /* KT_INT: stored value = value * scale (0 means 1) */
	const char *const *choices;  /* KT_ENUM, NULL-terminated */
	key_fn_t fn;          /* KT_FN: parses the value; otherwise an optional extra check */
	/* Reload scope: false (the default), a reload applies the key; true,
	 * it is read only when gtmd starts, and a reload that changes it says
	 * "KEY changed: restart to apply" (gtm_conf_restart_changes).  A
	 * restart-only KT_FN key needs `same`; the others compare their field. */
	bool restart;
	key_same_fn_t same;
};

/* The tail of a key row that is read only at start-up: K_INT(..., RESTART). */
#define RESTART .restart = true

#define FIELD(st, f) .off = offsetof(st, f), .size = sizeof(((st *)0)->f)
#define K_INT(n, st, f, lo, hi, d, ...) \
	{ .name = n, .type = KT_INT, .flags = KF_DEFAULT, FIELD(st, f), .min = lo, .max = hi, .def = d, __VA_ARGS__ }
#define K_NUM(n, st, f, lo, hi, fl, ...) \
	{ .name = n, .type = KT_NUM, .flags = fl, FIELD(st, f), .dmin = lo, .dmax = hi, __VA_ARGS__ }
#define K_STR(n, st, f, lo, hi, fl, chk, ...) \
	{ .name = n, .type = KT_STR, .flags = fl, FIELD(st, f), .min = lo, .max = hi, .fn = chk, __VA_ARGS__ }
#define K_ENUM(n, st, f, ch, d) \
	{ .name = n, .type = KT_ENUM, .flags = KF_DEFAULT, FIELD(st, f), .choices = ch, .def = d }
#define K_BOOL(n, st, f, d) \
	{ .name = n, .type = KT_BOOL, .flags = KF_DEFAULT, FIELD(st, f), .def = d }
#define K_FN(n, fl, f, ...) { .name = n, .type = KT_FN, .flags = fl, .fn = f, __VA_ARGS__ }

/*
 * A list of groups, e.g. cities = ( { ... }, { ... } ).  Each entry is
 * walked into a new zeroed item of `size` bytes appended to *items; `same`
 * finds an earlier item with the same name.  Entries without a usable name
 * are dropped (their problems are reported); later references to them then
 * report once more, which is the honest answer.
 */
typedef const void *(*same_fn_t)(const void *items, size_t n, size_t size, const void *item);
/* Positional list_def_t initialisers name the rule by which two entries'
 * names are the same (common/name.h); `same` overrides it (a key made of
 * several fields, such as a carbon server's host and port). */
typedef void (*item_free_fn_t)(void *item);

typedef struct list_def {
	const char *list;     /* "cities" */
	const char *kind;     /* "city" */
	const ckey_t *keys;
	size_t size;
	size_t line_off;      /* the item's int line field */
	size_t name_off;      /* the item's char *name field */
	gtm_name_kind_t name_kind;  /* how names compare: plain or DNS (common/name.h) */
	item_free_fn_t item_free;
	/* After a successful walk: cross-field checks, derived fields. */
	bool (*finish)(ctx_t *x, const config_setting_t *g, void *item, scope_t *sc);
	same_fn_t same;       /* NULL: names compared by name_kind, through an index */
	/* true: `finish` runs even when a key of the entry was reported, so that
	 * the rules across the keys that did parse are reported in the same
	 * run; it must then skip what reads a failed key (conf_key_failed).
	 * false: it runs only after a clean walk. */
	bool finish_partial;
} list_def_t;



/* conf_cluster.c's key table, for the reload scope (conf.c). */
extern const ckey_t conf_cluster_keys[];

/* ---- conf_keys.c ---- */

/* Reload scope: for each restart-only key of `keys` whose value differs
 * between the groups `a` and `b` (structs of the table's fields), calls
 * cb("GROUP.KEY", arg).  Returns how many differ. */
size_t conf_keys_restart_diff(const char *group, const ckey_t *keys, const void *a, const void *b,
                              gtm_conf_key_cb_t cb, void *arg);

/* Index of file `name` in x->files (added when new). */
size_t conf_file_index(ctx_t *x, const char *name);

/* Reports a problem at setting `s` (NULL: about the whole file). */
void conf_err(ctx_t *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reports a warning at setting `s` (NULL: about the whole file): the
 * configuration still loads; `gtmd -t` prints "file:line: warning: ...",
 * gtmd logs it at start and reload, `gtmd -t --strict` refuses it. */
void conf_warn(ctx_t *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether key `name` of the group just walked into `sc` was reported (an
 * unknown name counts as failed, so that a typo in a caller skips its rule
 * rather than trusting an unread field). */
bool conf_key_failed(const scope_t *sc, const char *name);

bool conf_is_int(const config_setting_t *s);
/* A list ( ... ), or an empty [] (libconfig's type for it). */
bool conf_is_list(const config_setting_t *s);
/* An array [ ... ] or a list ( ... ). */
bool conf_is_array(const config_setting_t *s);

/* Stores key `k`'s default into `obj` (only KF_DEFAULT keys). */
void conf_key_default(const ckey_t *k, void *obj);

/*
 * Checks group `g` against `keys` and fills `obj`.  The name key (KF_NAME,
 * first in the table) is read first so that every later message names the
 * item.  Returns false when anything was reported.
 */
bool conf_group_walk(ctx_t *x, const config_setting_t *g, const ckey_t *keys, void *obj, scope_t *sc);

/* Walks list `l` by `d` into the array *items of *n items (see list_def_t). */
void conf_list_walk(ctx_t *x, const config_setting_t *l, const list_def_t *d, void **items, size_t *n);

/* Index of a city / site already read, or -1. */
int conf_city_index(const ctx_t *x, const char *name);
int conf_site_index(const ctx_t *x, const char *name);

/* Key check: the item's name (sc->name) is a plain name (letters, digits,
 * '-' and '_', at most 63), as city and site names must be. */
bool conf_check_plain_name(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc);

/* File names are resolved against the config file's folder with
 * gtm_path_relative(x->path, name) (common/file.h). */

/* Seconds -> milliseconds, rounded, saturated at UINT32_MAX. */
uint32_t conf_secs_ms(double s);

/* Sorts the collected messages into `diag` and frees them and the files. */
void conf_ctx_flush(ctx_t *x, gtm_diag_t *diag);

/* ---- conf_health.c ---- */

void conf_section_checks(ctx_t *x, const config_setting_t *s);
void conf_section_health(ctx_t *x, const config_setting_t *s);
/* The health group's defaults (also when there is no health group). */
void conf_health_defaults(gtm_conf_t *c);
/* Index of a check already read, or -1. */
int conf_check_index(const ctx_t *x, const char *name);
/* Frees what a gtm_check_t owns (not the struct). */
void conf_check_free(void *p);

/* ---- conf_metrics.c ---- */

void conf_section_metrics(ctx_t *x, const config_setting_t *s);
/* gtm_metrics_conf_init / _clear of conf->metrics. */
void conf_metrics_defaults(gtm_conf_t *c);
void conf_metrics_free(gtm_conf_t *c);

/* ---- conf_control.c ---- */

void conf_section_control(ctx_t *x, const config_setting_t *s);
void conf_section_controller(ctx_t *x, const config_setting_t *s);
/* Defaults of both groups (also when they are absent). */
void conf_control_defaults(gtm_conf_t *c);
/* Derived fields (durations in ms). */
void conf_control_freeze(gtm_conf_t *c);
/* Frees what both groups own. */
void conf_control_free(gtm_conf_t *c);

/* ---- conf_cluster.c ---- */

void conf_section_cluster(ctx_t *x, const config_setting_t *s);
/* The group's defaults (also when it is absent: enabled false). */
void conf_cluster_defaults(gtm_conf_t *c);
/* Frees what the group owns. */
void conf_cluster_free(gtm_conf_t *c);
