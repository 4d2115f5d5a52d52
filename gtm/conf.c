/*
 * The configuration file: libconfig text -> checked model (gtm_conf_t).
 *
 * Loading runs parse -> validate -> freeze.  libconfig parses; then every
 * group is walked against a key table (one table per group, each row naming
 * the key, its type, range, default and an optional check function, as
 * Knot's schema.c and Redis' static_configs[] do), so that adding a key or a
 * whole top-level group is one table row and, at most, one small function.
 * Every problem is collected with the file and line libconfig recorded for
 * the setting and reported together, sorted by line (NSD's c_error); a
 * configuration with any problem is refused whole.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "dns/snapshot.h"
#include "dns/wire.h"
#include "geo/map.h"
#include "gtm/conf.h"

/* ------------------------------------------------------------------------ */
/* Diagnostics                                                              */

/* One message before sorting: messages are reported in file order, then
 * line order, then the order they were found in. */
typedef struct msg {
	size_t file;     /* index into ctx.files */
	int line;        /* 0: about the whole file, sorted last */
	size_t seq;
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
	srcfile_t *files;
	size_t nfiles;
} ctx_t;

static size_t file_index(ctx_t *x, const char *name)
{
	for (size_t i = 0; i < x->nfiles; i++)
		if (strcmp(x->files[i].name, name) == 0)
			return i;
	x->files = gtm_xgrow(x->files, x->nfiles, sizeof(*x->files));
	x->files[x->nfiles] = (srcfile_t){ .name = gtm_xstrdup(name) };
	return x->nfiles++;
}

static void vreport(ctx_t *x, const char *file, int line, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	char *text = gtm_xmalloc(n > 0 ? (size_t)n + 1 : 1);
	vsnprintf(text, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
	x->msgs = gtm_xgrow(x->msgs, x->nmsgs, sizeof(*x->msgs));
	x->msgs[x->nmsgs] = (msg_t){ file_index(x, file), line, x->nmsgs, text };
	x->nmsgs++;
}

/* libconfig names an @include file as written; it is relative to the
 * config file's folder (config_set_include_dir), and so are our messages. */
static const char *setting_file(ctx_t *x, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;
	if (f == NULL || strcmp(f, x->path) == 0)
		return x->path;
	if (f[0] == '/' || x->dir == NULL)
		return f;
	char *full = gtm_xasprintf("%s/%s", x->dir, f);
	const char *name = x->files[file_index(x, full)].name;
	free(full);
	return name;
}

/* Reports a problem at setting `s` (NULL: about the whole file). */
static void err(ctx_t *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void err(ctx_t *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(x, setting_file(x, s), s ? (int)config_setting_source_line(s) : 0, fmt, ap);
	va_end(ap);
}

static int msg_cmp(const void *a, const void *b)
{
	const msg_t *m = a, *n = b;
	if (m->file != n->file)
		return m->file < n->file ? -1 : 1;
	int ml = m->line > 0 ? m->line : INT_MAX, nl = n->line > 0 ? n->line : INT_MAX;
	if (ml != nl)
		return ml < nl ? -1 : 1;
	return m->seq < n->seq ? -1 : m->seq > n->seq;
}

/* ------------------------------------------------------------------------ */
/* Integer literals                                                         */

static void srcfile_read(srcfile_t *f)
{
	FILE *fp = fopen(f->name, "r");
	if (fp == NULL)
		return;
	size_t len = 0, cap = 4096;
	char *t = gtm_xmalloc(cap);
	size_t n;
	while ((n = fread(t + len, 1, cap - len - 1, fp)) > 0) {
		len += n;
		if (cap - len - 1 == 0)
			t = gtm_xrealloc(t, cap *= 2);
	}
	fclose(fp);
	t[len] = '\0';
	f->text = t;
	f->lines = gtm_xgrow(NULL, 0, sizeof(*f->lines));
	f->lines[f->nlines++] = 0;
	for (size_t i = 0; i < len; i++)
		if (t[i] == '\n') {
			f->lines = gtm_xgrow(f->lines, f->nlines, sizeof(*f->lines));
			f->lines[f->nlines++] = i + 1;
		}
}

/*
 * libconfig 1.5 stores an integer literal without the L suffix in an int,
 * silently truncating it (4294967296 reads as 0).  So for an int setting,
 * find its literal on its source line and parse it again: returns 0 with
 * the value in *v, or -1 when the literal does not fit in 64 bits (then
 * `raw` holds it for the message).  A literal only counts when it truncates
 * to libconfig's value, so that another setting of the same name on the
 * same line is never taken for this one; when none is found, *v is
 * libconfig's value.
 */
static int int_value(ctx_t *x, const config_setting_t *s, int64_t *v, char *raw, size_t rawlen)
{
	const char *name = config_setting_name(s);
	*v = config_setting_get_int64(s);
	if (name == NULL || config_setting_type(s) != CONFIG_TYPE_INT)
		return 0;
	srcfile_t *f = &x->files[file_index(x, setting_file(x, s))];
	if (f->lines == NULL)
		srcfile_read(f);
	unsigned line = config_setting_source_line(s);
	if (f->text == NULL || line == 0 || line > f->nlines)
		return 0;
	const char *p = f->text + f->lines[line - 1];
	const char *end = strchr(p, '\n');
	if (end == NULL)
		end = p + strlen(p);
	size_t nl = strlen(name);
	for (const char *q = p; q + nl <= end; q++) {
		if (strncmp(q, name, nl) != 0 ||
		    (q > p && (isalnum((unsigned char)q[-1]) || q[-1] == '_' || q[-1] == '-')))
			continue;
		const char *t = q + nl;
		while (t < end && (*t == ' ' || *t == '\t'))
			t++;
		if (t >= end || (*t != '=' && *t != ':'))
			continue;
		t++;
		while (t < end && (*t == ' ' || *t == '\t'))
			t++;
		const char *start = t;
		if (t < end && (*t == '-' || *t == '+'))
			t++;
		while (t < end && isalnum((unsigned char)*t))
			t++;
		size_t tl = (size_t)(t - start);
		if (tl == 0 || tl >= rawlen)
			continue;
		memcpy(raw, start, tl);
		raw[tl] = '\0';
		errno = 0;
		char *e;
		long long ll = strtoll(raw, &e, 0);
		if (*e != '\0' || (uint32_t)ll != (uint32_t)*v)
			continue;
		if (errno == ERANGE)
			return -1;
		*v = ll;
		return 0;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Key tables                                                               */

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
} scope_t;

typedef bool (*key_fn_t)(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc);

typedef struct key {
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
} ckey_t;

#define FIELD(st, f) .off = offsetof(st, f), .size = sizeof(((st *)0)->f)
#define K_INT(n, st, f, lo, hi, d) \
	{ .name = n, .type = KT_INT, .flags = KF_DEFAULT, FIELD(st, f), .min = lo, .max = hi, .def = d }
#define K_NUM(n, st, f, lo, hi, fl) \
	{ .name = n, .type = KT_NUM, .flags = fl, FIELD(st, f), .dmin = lo, .dmax = hi }
#define K_STR(n, st, f, lo, hi, fl, chk) \
	{ .name = n, .type = KT_STR, .flags = fl, FIELD(st, f), .min = lo, .max = hi, .fn = chk }
#define K_ENUM(n, st, f, ch, d) \
	{ .name = n, .type = KT_ENUM, .flags = KF_DEFAULT, FIELD(st, f), .choices = ch, .def = d }
#define K_BOOL(n, st, f, d) \
	{ .name = n, .type = KT_BOOL, .flags = KF_DEFAULT, FIELD(st, f), .def = d }
#define K_FN(n, fl, f) { .name = n, .type = KT_FN, .flags = fl, .fn = f }

static void scope_label(scope_t *sc)
{
	if (sc->section) {
		snprintf(sc->where, sizeof(sc->where), "%s", sc->kind);
		snprintf(sc->prefix, sizeof(sc->prefix), "%s.", sc->kind);
	} else if (sc->parent) {
		snprintf(sc->where, sizeof(sc->where), "%s of %s", sc->kind, sc->parent);
		snprintf(sc->prefix, sizeof(sc->prefix), "%s: %s ", sc->parent, sc->kind);
	} else if (sc->name) {
		snprintf(sc->where, sizeof(sc->where), "%s %s", sc->kind, sc->name);
		snprintf(sc->prefix, sizeof(sc->prefix), "%s %s: ", sc->kind, sc->name);
	} else {
		snprintf(sc->where, sizeof(sc->where), "%s", sc->kind);
		snprintf(sc->prefix, sizeof(sc->prefix), "%s: ", sc->kind);
	}
}

static bool is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static void store_int(void *obj, const ckey_t *k, int64_t v)
{
	char *p = (char *)obj + k->off;
	switch (k->size) {
	case 1: { uint8_t t = (uint8_t)v; memcpy(p, &t, 1); break; }
	case 2: { uint16_t t = (uint16_t)v; memcpy(p, &t, 2); break; }
	case 4: { uint32_t t = (uint32_t)v; memcpy(p, &t, 4); break; }
	case 8: memcpy(p, &v, 8); break;
	default: gtm_assert(!"bad integer field size");
	}
}

static void choices_text(const char *const *ch, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; ch[i]; i++) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s", i ? ", " : "", ch[i]);
	}
}

/* Parses one present key; false when it reported a problem. */
static bool key_parse(ctx_t *x, const ckey_t *k, const config_setting_t *s, void *obj, scope_t *sc)
{
	char *field = (char *)obj + k->off;
	switch (k->type) {
	case KT_INT: {
		char raw[64];
		if (!is_int(s)) {
			err(x, s, "%s%s must be an integer", sc->prefix, k->name);
			return false;
		}
		int64_t v;
		if (int_value(x, s, &v, raw, sizeof(raw)) != 0) {
			err(x, s, "%s%s must be between %" PRId64 " and %" PRId64 " (got %s)",
			    sc->prefix, k->name, k->min, k->max, raw);
			return false;
		}
		if (v < k->min || v > k->max) {
			err(x, s, "%s%s must be between %" PRId64 " and %" PRId64 " (got %" PRId64 ")",
			    sc->prefix, k->name, k->min, k->max, v);
			return false;
		}
		store_int(obj, k, v * (k->scale ? k->scale : 1));
		break;
	}
	case KT_NUM: {
		double v;
		if (is_int(s))
			v = (double)config_setting_get_int64(s);
		else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
			v = config_setting_get_float(s);
		else {
			err(x, s, "%s%s must be a number", sc->prefix, k->name);
			return false;
		}
		if (!(v >= k->dmin && v <= k->dmax)) {
			err(x, s, "%s%s must be between %g and %g (got %g)",
			    sc->prefix, k->name, k->dmin, k->dmax, v);
			return false;
		}
		memcpy(field, &v, sizeof(v));
		break;
	}
	case KT_STR: {
		const char *v = config_setting_get_string(s);
		if (v == NULL) {
			err(x, s, "%s%s must be a string", sc->prefix, k->name);
			return false;
		}
		size_t len = strlen(v);
		if ((int64_t)len < k->min) {
			err(x, s, "%s%s must not be empty", sc->prefix, k->name);
			return false;
		}
		if (k->max > 0 && (int64_t)len > k->max) {
			err(x, s, "%s%s must be at most %" PRId64 " bytes (got %zu)",
			    sc->prefix, k->name, k->max, len);
			return false;
		}
		char *dup = gtm_xstrdup(v);
		memcpy(field, &dup, sizeof(dup));
		if (k->flags & KF_NAME) {
			sc->name = dup;
			scope_label(sc);
		}
		break;
	}
	case KT_ENUM: {
		const char *v = config_setting_get_string(s);
		char all[256];
		choices_text(k->choices, all, sizeof(all));
		size_t i;
		for (i = 0; v && k->choices[i]; i++)
			if (strcmp(v, k->choices[i]) == 0)
				break;
		if (v == NULL || k->choices[i] == NULL) {
			if (v)
				err(x, s, "%s%s must be one of %s (got '%s')", sc->prefix, k->name, all, v);
			else
				err(x, s, "%s%s must be one of %s", sc->prefix, k->name, all);
			return false;
		}
		int e = (int)i;
		memcpy(field, &e, sizeof(e));
		break;
	}
	case KT_BOOL: {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			err(x, s, "%s%s must be true or false", sc->prefix, k->name);
			return false;
		}
		bool b = config_setting_get_bool(s) != 0;
		memcpy(field, &b, sizeof(b));
		break;
	}
	case KT_FN:
		return k->fn(x, s, obj, sc);
	}
	if (k->fn)
		return k->fn(x, s, obj, sc);
	return true;
}

static void key_default(const ckey_t *k, void *obj)
{
	if (!(k->flags & KF_DEFAULT))
		return;
	char *field = (char *)obj + k->off;
	switch (k->type) {
	case KT_INT:
		store_int(obj, k, k->def * (k->scale ? k->scale : 1));
		break;
	case KT_ENUM: {
		int e = (int)k->def;
		memcpy(field, &e, sizeof(e));
		break;
	}
	case KT_STR: {
		char *dup = k->sdef ? gtm_xstrdup(k->sdef) : NULL;
		memcpy(field, &dup, sizeof(dup));
		break;
	}
	case KT_BOOL: {
		bool b = k->def != 0;
		memcpy(field, &b, sizeof(b));
		break;
	}
	case KT_NUM:
	case KT_FN:
		break;
	}
}

static const ckey_t *key_find(const ckey_t *keys, const char *name)
{
	for (const ckey_t *k = keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/*
 * Checks group `g` against `keys` and fills `obj`.  The name key (KF_NAME,
 * first in the table) is read first so that every later message names the
 * item.  Returns false when anything was reported.
 */
static bool group_walk(ctx_t *x, const config_setting_t *g, const ckey_t *keys, void *obj, scope_t *sc)
{
	bool ok = true;
	scope_label(sc);
	for (const ckey_t *k = keys; k->name; k++) {
		if (!(k->flags & KF_NAME))
			continue;
		config_setting_t *s = config_setting_get_member(g, k->name);
		if (s == NULL) {
			err(x, g, "%s has no '%s'", sc->where, k->name);
			ok = false;
		} else
			ok &= key_parse(x, k, s, obj, sc);
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		if (name && key_find(keys, name) == NULL) {
			err(x, s, "unknown key '%s' in %s", name, sc->where);
			ok = false;
		}
	}
	for (const ckey_t *k = keys; k->name; k++) {
		if (k->flags & KF_NAME)
			continue;
		config_setting_t *s = config_setting_get_member(g, k->name);
		if (s)
			ok &= key_parse(x, k, s, obj, sc);
		else if (k->flags & KF_REQUIRED) {
			err(x, g, "%s has no '%s'", sc->where, k->name);
			ok = false;
		} else
			key_default(k, obj);
	}
	return ok;
}

/*
 * A list of groups, e.g. cities = ( { ... }, { ... } ).  Each entry is
 * walked into a new zeroed item of `size` bytes appended to *items; `same`
 * finds an earlier item with the same name.  Entries without a usable name
 * are dropped (their problems are reported); later references to them then
 * report once more, which is the honest answer.
 */
typedef const void *(*same_fn_t)(const void *items, size_t n, size_t size, const void *item);
typedef void (*item_free_fn_t)(void *item);

typedef struct list_def {
	const char *list;     /* "cities" */
	const char *kind;     /* "city" */
	const ckey_t *keys;
	size_t size;
	size_t line_off;      /* the item's int line field */
	size_t name_off;      /* the item's char *name field */
	same_fn_t same;
	item_free_fn_t item_free;
	/* After a successful walk: cross-field checks, derived fields. */
	bool (*finish)(ctx_t *x, const config_setting_t *g, void *item, scope_t *sc);
} list_def_t;

static bool is_list(const config_setting_t *s)
{
	int t = config_setting_type(s);
	/* An empty [] is an array to libconfig; accept it as an empty list. */
	return t == CONFIG_TYPE_LIST || (t == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0);
}

static bool is_array(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
}

static int city_index(const ctx_t *x, const char *name)
{
	for (size_t i = 0; i < x->conf->ncities; i++)
		if (strcmp(x->conf->cities[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int site_index(const ctx_t *x, const char *name)
{
	for (size_t i = 0; i < x->conf->nsites; i++)
		if (strcmp(x->conf->sites[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void list_walk(ctx_t *x, const config_setting_t *l, const list_def_t *d, void **items, size_t *n)
{
	if (!is_list(l)) {
		err(x, l, "%s must be a list of groups: %s = ( { ... }, ... )", d->list, d->list);
		return;
	}
	for (int i = 0; i < config_setting_length(l); i++) {
		config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			err(x, g, "%s entries must be groups { ... }", d->list);
			continue;
		}
		char *item = gtm_xcalloc(1, d->size);
		int line = (int)config_setting_source_line(g);
		memcpy(item + d->line_off, &line, sizeof(line));
		scope_t sc = { .kind = d->kind };
		bool ok = group_walk(x, g, d->keys, item, &sc);
		if (ok && d->finish)
			ok = d->finish(x, g, item, &sc);
		char *name;
		memcpy(&name, item + d->name_off, sizeof(name));
		const char *prev = name ? d->same(*items, *n, d->size, item) : NULL;
		if (prev) {
			int pline;
			memcpy(&pline, prev + d->line_off, sizeof(pline));
			err(x, g, "duplicate %s '%s' (first at line %d)", d->kind, name, pline);
		}
		if (name == NULL || prev) {
			d->item_free(item);
			free(item);
			continue;
		}
		*items = gtm_xgrow(*items, *n, d->size);
		memcpy((char *)*items + *n * d->size, item, d->size);
		(*n)++;
		free(item);
	}
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */

/* City and site names appear in gtmctl commands and Graphite paths, so they
 * stay plain: letters, digits, '-' and '_', at most 63. */
static bool plain_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

static bool check_plain_name(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	if (plain_name_ok(sc->name))
		return true;
	err(x, s, "%s name '%s' is not valid (use letters, digits, '-' and '_', at most 63)",
	    sc->kind, sc->name);
	return false;
}

static bool check_dns_name(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	uint8_t wire[DNS_NAME_MAX];
	if (dns_name_from_str(sc->name, wire) > 0)
		return true;
	err(x, s, "%s name '%s' is not a valid DNS name", sc->kind, sc->name);
	return false;
}

/* DNS names compare without case and without a trailing dot. */
static bool dns_name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

#define SAME_FN(fname, type, eq) \
	static const void *fname(const void *items, size_t n, size_t size, const void *item) \
	{ \
		const type *v = items, *it = item; \
		for (size_t i = 0; i < n; i++) \
			if (eq(v[i].name, it->name)) \
				return &v[i]; \
		return NULL; \
	}

static bool str_eq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* ------------------------------------------------------------------------ */
/* server = { ... }                                                         */

static bool server_listen(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_conf_t *c = obj;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		err(x, s, "server.listen must be a list of addresses: [ \"127.0.0.1:53\", \"[::1]:53\" ]");
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		gtm_listen_t l;
		if (v == NULL) {
			err(x, e, "server.listen entries must be strings");
			ok = false;
			continue;
		}
		if (gtm_listen_parse(v, 53, &l) != 0) {
			err(x, e, "server.listen: '%s' is not an IPv4 or IPv6 address with an optional port", v);
			ok = false;
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < c->nlisten; j++)
			if (c->listen[j].len == l.len && memcmp(&c->listen[j].addr, &l.addr, l.len) == 0)
				dup = true;
		if (dup) {
			err(x, e, "server.listen: duplicate address '%s'", v);
			ok = false;
			continue;
		}
		c->listen = gtm_xgrow(c->listen, c->nlisten, sizeof(*c->listen));
		c->listen[c->nlisten++] = l;
	}
	if (config_setting_length(s) == 0) {
		err(x, s, "server.listen must name at least one address");
		ok = false;
	}
	return ok;
}

static const ckey_t server_keys[] = {
	K_FN("listen", 0, server_listen),
	K_INT("workers", gtm_conf_t, workers, 1, 64, 0),  /* 0: online CPUs, set at freeze */
	K_INT("edns_udp_size", gtm_conf_t, edns_udp_size, 512, 4096, 1232),
	/* "hostname" is resolved when the snapshot is built (gtm_build_opts),
	 * so that a renamed host shows after a reload. */
	K_STR("nsid", gtm_conf_t, nsid, 1, DNS_NSID_MAX, 0, NULL),
	{ .name = "tcp_idle_timeout", .type = KT_INT, .flags = KF_DEFAULT,
	  FIELD(gtm_conf_t, tcp_idle_timeout_ms), .min = 1, .max = 300, .def = 10, .scale = 1000 },
	K_INT("tcp_max_clients", gtm_conf_t, tcp_max_clients, 1, 100000, 1000),
	K_INT("udp_rcvbuf", gtm_conf_t, udp_rcvbuf, 0, 1073741824, 4194304),
	{ 0 }
};

static void section_server(ctx_t *x, const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		err(x, s, "server must be a group: server = { ... }");
		return;
	}
	scope_t sc = { .kind = "server", .section = true };
	group_walk(x, s, server_keys, x->conf, &sc);
}

/* ------------------------------------------------------------------------ */
/* zones = ( { name; file; } )                                              */

static void zone_free(void *p)
{
	gtm_zone_conf_t *z = p;
	free(z->name);
	free(z->file);
}

/* Zone files are named relative to the config file's folder. */
static bool zone_finish(ctx_t *x, const config_setting_t *g, void *item, scope_t *sc)
{
	gtm_zone_conf_t *z = item;
	const char *slash = strrchr(x->path, '/');
	if (z->file[0] != '/' && slash) {
		char *p = gtm_xasprintf("%.*s%s", (int)(slash - x->path + 1), x->path, z->file);
		free(z->file);
		z->file = p;
	}
	return true;
}

static const ckey_t zone_keys[] = {
	K_STR("name", gtm_zone_conf_t, name, 1, 0, KF_NAME, check_dns_name),
	K_STR("file", gtm_zone_conf_t, file, 1, PATH_MAX, KF_REQUIRED, NULL),
	{ 0 }
};

SAME_FN(zone_same, gtm_zone_conf_t, dns_name_eq)

static const list_def_t zone_list = {
	"zones", "zone", zone_keys, sizeof(gtm_zone_conf_t),
	offsetof(gtm_zone_conf_t, line), offsetof(gtm_zone_conf_t, name),
	zone_same, zone_free, zone_finish,
};

static void section_zones(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->zones;
	list_walk(x, s, &zone_list, &items, &x->conf->nzones);
	x->conf->zones = items;
	if (is_list(s) && config_setting_length(s) == 0)
		err(x, s, "zones must name at least one zone");
}

/* ------------------------------------------------------------------------ */
/* cities = ( { name; lat; lon; } )                                         */

static void city_free(void *p)
{
	free(((gtm_city_t *)p)->name);
}

static const ckey_t city_keys[] = {
	K_STR("name", gtm_city_t, name, 1, 0, KF_NAME, check_plain_name),
	K_NUM("lat", gtm_city_t, lat, -90, 90, KF_REQUIRED),
	K_NUM("lon", gtm_city_t, lon, -180, 180, KF_REQUIRED),
	{ 0 }
};

SAME_FN(city_same, gtm_city_t, str_eq)

static const list_def_t city_list = {
	"cities", "city", city_keys, sizeof(gtm_city_t),
	offsetof(gtm_city_t, line), offsetof(gtm_city_t, name),
	city_same, city_free, NULL,
};

static void section_cities(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->cities;
	list_walk(x, s, &city_list, &items, &x->conf->ncities);
	x->conf->cities = items;
	/* Orders are lists of city indices on the workers' stacks. */
	if (x->conf->ncities > GEO_MAX_CITIES)
		err(x, s, "cities: at most %d cities (got %zu)", GEO_MAX_CITIES, x->conf->ncities);
}

/* ------------------------------------------------------------------------ */
/* sites = ( { name; city; weight; capacity; role; } )                      */

static void site_free(void *p)
{
	free(((gtm_site_t *)p)->name);
}

static bool site_city(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_site_t *site = obj;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		err(x, s, "%scity must be a string", sc->prefix);
		return false;
	}
	for (size_t i = 0; i < x->conf->ncities; i++)
		if (strcmp(x->conf->cities[i].name, v) == 0) {
			site->city = (uint32_t)i;
			return true;
		}
	err(x, s, "site '%s' names unknown city '%s'", sc->name ? sc->name : "", v);
	return false;
}

static const char *const role_names[] = { "active", "backup", "cold", NULL };

static const ckey_t site_keys[] = {
	K_STR("name", gtm_site_t, name, 1, 0, KF_NAME, check_plain_name),
	K_FN("city", KF_REQUIRED, site_city),
	K_INT("weight", gtm_site_t, weight, 0, 1000000, 100),
	K_INT("capacity", gtm_site_t, capacity, 0, UINT32_MAX, 0),
	K_ENUM("role", gtm_site_t, role, role_names, GTM_ROLE_ACTIVE),
	{ 0 }
};

SAME_FN(site_same, gtm_site_t, str_eq)

static const list_def_t site_list = {
	"sites", "site", site_keys, sizeof(gtm_site_t),
	offsetof(gtm_site_t, line), offsetof(gtm_site_t, name),
	site_same, site_free, NULL,
};

static void section_sites(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->sites;
	list_walk(x, s, &site_list, &items, &x->conf->nsites);
	x->conf->sites = items;
}

/* ------------------------------------------------------------------------ */
/* geo = { databases; schema; fields; ecs; ecs_trusted; default_order; maps; } */

static bool geo_databases(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_geo_conf_t *g = obj;
	int n = is_array(s) ? config_setting_length(s) : -1;
	if (n < 1 || n > 2) {
		err(x, s, "geo.databases must name one file (IPv4 and IPv6) or two (the IPv4 file, then the IPv6 file)");
		return false;
	}
	char *paths[2] = { NULL, NULL };
	bool ok = true;
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v == NULL || *v == '\0') {
			err(x, e, "geo.databases entries must be file names");
			ok = false;
			continue;
		}
		/* Relative to the config file's folder, as zone files are. */
		const char *slash = strrchr(x->path, '/');
		if (v[0] != '/' && slash)
			paths[i] = gtm_xasprintf("%.*s%s", (int)(slash - x->path + 1), x->path, v);
		else
			paths[i] = gtm_xstrdup(v);
	}
	if (!ok) {
		free(paths[0]);
		free(paths[1]);
		return false;
	}
	g->db = paths[0];
	g->db_v6 = paths[1];
	g->db_line = (int)config_setting_source_line(s);
	return true;
}

static const char *const schema_names[] = { "geoip2", "flat", NULL };

static const ckey_t geo_field_keys[] = {
	K_STR("country", gtm_geo_conf_t, fields[GTM_GEO_F_COUNTRY], 0, 255, 0, NULL),
	K_STR("continent", gtm_geo_conf_t, fields[GTM_GEO_F_CONTINENT], 0, 255, 0, NULL),
	K_STR("subdivision", gtm_geo_conf_t, fields[GTM_GEO_F_SUBDIVISION], 0, 255, 0, NULL),
	K_STR("latitude", gtm_geo_conf_t, fields[GTM_GEO_F_LATITUDE], 0, 255, 0, NULL),
	K_STR("longitude", gtm_geo_conf_t, fields[GTM_GEO_F_LONGITUDE], 0, 255, 0, NULL),
	{ 0 }
};

static bool geo_fields_key(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		err(x, s, "geo.fields must be a group: fields = { latitude = \"location/latitude\"; ... }");
		return false;
	}
	scope_t fsc = { .kind = "geo.fields", .section = true };
	return group_walk(x, s, geo_field_keys, obj, &fsc);
}

/* "192.0.2.0/24", "2001:db8::/32", or a bare address (one host). */
static int parse_net(const char *v, dns_net_t *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (strlen(v) >= sizeof(buf))
		return GTM_EINVAL;
	strcpy(buf, v);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(out, 0, sizeof(*out));
	unsigned max;
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return GTM_EINVAL;
	unsigned prefix = max;
	if (slash) {
		if (*slash == '\0' || strlen(slash) > 3)
			return GTM_EINVAL;
		prefix = 0;
		for (const char *p = slash; *p; p++) {
			if (*p < '0' || *p > '9')
				return GTM_EINVAL;
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max)
			return GTM_EINVAL;
	}
	out->prefix = (uint8_t)prefix;
	for (unsigned bit = prefix; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
			return GTM_ERANGE;
	return 0;
}

static bool geo_ecs_trusted(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_geo_conf_t *g = obj;
	if (!is_array(s)) {
		err(x, s, "geo.ecs_trusted must be a list of networks: [ \"127.0.0.0/8\", \"::1/128\" ]");
		return false;
	}
	if (config_setting_length(s) > DNS_ECS_TRUSTED_MAX) {
		err(x, s, "geo.ecs_trusted: at most %d networks (got %d)", DNS_ECS_TRUSTED_MAX,
		    config_setting_length(s));
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		dns_net_t net;
		int rc = v ? parse_net(v, &net) : GTM_EINVAL;
		if (rc == GTM_ERANGE) {
			err(x, e, "geo.ecs_trusted: '%s' has host bits set after the prefix", v);
			ok = false;
			continue;
		}
		if (rc != 0) {
			err(x, e, "geo.ecs_trusted: '%s' is not a network (address/prefix)", v ? v : "?");
			ok = false;
			continue;
		}
		g->ecs_trusted[g->n_ecs_trusted++] = net;
	}
	if (config_setting_length(s) == 0) {
		/* An empty list would read as "every resolver": the opposite of
		 * what someone writing it probably means. */
		err(x, s, "geo.ecs_trusted must name at least one network (leave it out to trust every resolver, or set ecs = false)");
		ok = false;
	}
	return ok;
}

/* A list of city names -> indices; false (reported) on unknown or repeated
 * names.  `what` names the list in messages ("geo.default_order"). */
static bool city_list_parse(ctx_t *x, const config_setting_t *s, const char *what,
                            uint16_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!is_array(s) || config_setting_length(s) == 0) {
		err(x, s, "%s must be a non-empty list of cities: [ \"beijing\", \"shanghai\" ]", what);
		return false;
	}
	bool ok = true;
	uint16_t *v = gtm_xcalloc((size_t)config_setting_length(s), sizeof(*v));
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_get_string(e);
		if (name == NULL) {
			err(x, e, "%s entries must be city names", what);
			ok = false;
			continue;
		}
		int c = city_index(x, name);
		if (c < 0) {
			err(x, e, "%s: unknown city '%s'", what, name);
			ok = false;
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < *n; j++)
			dup |= v[j] == (uint16_t)c;
		if (dup) {
			err(x, e, "%s: city '%s' listed twice", what, name);
			ok = false;
			continue;
		}
		v[(*n)++] = (uint16_t)c;
	}
	if (!ok) {
		free(v);
		*n = 0;
		return false;
	}
	*out = v;
	return true;
}

/* Passes a geo/ message ("geo.maps: ...", made without file and line) on
 * at the setting that caused it. */
static void pass_diag(ctx_t *x, const config_setting_t *s, gtm_diag_t *d)
{
	for (size_t i = 0; i < d->count; i++)
		err(x, s, "%s", d->msgs[i]);
	gtm_diag_clear(d);
}

static bool geo_default_order(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_geo_conf_t *g = obj;
	if (!city_list_parse(x, s, "geo.default_order", &g->default_order, &g->ndefault_order))
		return false;
	g->default_line = (int)config_setting_source_line(s);
	if (x->check_map) {
		gtm_diag_t d = { 0 };
		if (geo_map_set_default(x->check_map, g->default_order, g->ndefault_order, &d, NULL, 0) != 0) {
			pass_diag(x, s, &d);
			return false;
		}
	}
	return true;
}

/* One entry of geo.maps while it is read. */
typedef struct map_entry {
	const config_setting_t *sel[4];  /* by gtm_geo_kind_t */
	uint16_t *cities;
	size_t ncities;
} map_entry_t;

static const char *const geo_kind_names[] = { "cidr", "country", "continent", "subdivision" };

static bool map_selector(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	map_entry_t *e = obj;
	const char *name = config_setting_name(s);
	if (!is_array(s) || config_setting_length(s) == 0) {
		err(x, s, "geo.maps: %s must be a non-empty list of strings: %s = [ ... ]", name, name);
		return false;
	}
	for (int i = 0; i < config_setting_length(s); i++)
		if (config_setting_get_string(config_setting_get_elem(s, (unsigned)i)) == NULL) {
			err(x, config_setting_get_elem(s, (unsigned)i), "geo.maps: %s entries must be strings", name);
			return false;
		}
	for (int k = 0; k < 4; k++)
		if (strcmp(name, geo_kind_names[k]) == 0)
			e->sel[k] = s;
	return true;
}

static bool map_cities(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	map_entry_t *e = obj;
	return city_list_parse(x, s, "geo.maps cities", &e->cities, &e->ncities);
}

static const ckey_t map_keys[] = {
	K_FN("cidr", 0, map_selector),
	K_FN("country", 0, map_selector),
	K_FN("continent", 0, map_selector),
	K_FN("subdivision", 0, map_selector),
	K_FN("cities", KF_REQUIRED, map_cities),
	{ 0 }
};

typedef int (*map_add_fn_t)(geo_map_t *m, const char *key, const uint16_t *cities, size_t n,
                            gtm_diag_t *diag, const char *file, int line);

static const map_add_fn_t map_add[] = {
	geo_map_add_cidr, geo_map_add_country, geo_map_add_continent, geo_map_add_subdivision,
};

static bool geo_maps(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_geo_conf_t *g = obj;
	if (!is_list(s)) {
		err(x, s, "geo.maps must be a list of groups: maps = ( { country = [ \"JP\" ]; cities = [ \"tokyo\" ]; } )");
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *eg = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(eg) != CONFIG_TYPE_GROUP) {
			err(x, eg, "geo.maps entries must be groups { ... }");
			ok = false;
			continue;
		}
		map_entry_t e = { 0 };
		scope_t msc = { .kind = "geo.maps" };
		bool eok = group_walk(x, eg, map_keys, &e, &msc);
		if (eok && !e.sel[0] && !e.sel[1] && !e.sel[2] && !e.sel[3]) {
			err(x, eg, "geo.maps entry has no cidr, country, continent or subdivision");
			eok = false;
		}
		bool walked = eok;
		for (int k = 0; walked && k < 4; k++) {
			if (e.sel[k] == NULL)
				continue;
			for (int j = 0; j < config_setting_length(e.sel[k]); j++) {
				config_setting_t *ks = config_setting_get_elem(e.sel[k], (unsigned)j);
				const char *key = config_setting_get_string(ks);
				if (x->check_map) {
					gtm_diag_t d = { 0 };
					if (map_add[k](x->check_map, key, e.cities, e.ncities, &d, NULL, 0) != 0) {
						pass_diag(x, ks, &d);
						eok = false;
						continue;
					}
				}
				g->rules = gtm_xgrow(g->rules, g->nrules, sizeof(*g->rules));
				gtm_geo_rule_t *r = &g->rules[g->nrules++];
				r->kind = (gtm_geo_kind_t)k;
				r->key = gtm_xstrdup(key);
				r->cities = gtm_xcalloc(e.ncities, sizeof(*r->cities));
				memcpy(r->cities, e.cities, e.ncities * sizeof(*r->cities));
				r->ncities = e.ncities;
				r->line = (int)config_setting_source_line(ks);
			}
		}
		free(e.cities);
		ok &= eok;
	}
	return ok;
}

static const ckey_t geo_keys[] = {
	K_FN("databases", 0, geo_databases),
	K_ENUM("schema", gtm_geo_conf_t, schema, schema_names, GTM_GEO_SCHEMA_GEOIP2),
	K_FN("fields", 0, geo_fields_key),
	K_BOOL("ecs", gtm_geo_conf_t, ecs, true),
	K_FN("ecs_trusted", 0, geo_ecs_trusted),
	K_FN("default_order", 0, geo_default_order),
	K_FN("maps", 0, geo_maps),
	{ 0 }
};

static void section_geo(ctx_t *x, const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		err(x, s, "geo must be a group: geo = { ... }");
		return;
	}
	/* Rules are checked as they are read, against a map of the cities, so
	 * that geo/ judges CIDR syntax and keys mapped twice exactly as it will
	 * when the snapshot is built. */
	const gtm_conf_t *c = x->conf;
	if (c->ncities > 0 && c->ncities <= GEO_MAX_CITIES) {
		geo_point_t *pts = gtm_xcalloc(c->ncities, sizeof(*pts));
		for (size_t i = 0; i < c->ncities; i++)
			pts[i] = (geo_point_t){ c->cities[i].lat, c->cities[i].lon };
		gtm_diag_t d = { 0 };
		x->check_map = geo_map_new("geo.maps", pts, c->ncities, &d);
		pass_diag(x, s, &d);
		free(pts);
	}
	scope_t sc = { .kind = "geo", .section = true };
	group_walk(x, s, geo_keys, &x->conf->geo, &sc);
	geo_map_free(x->check_map);
	x->check_map = NULL;
}

static void geo_conf_free(gtm_geo_conf_t *g)
{
	free(g->db);
	free(g->db_v6);
	for (int i = 0; i < GTM_GEO_NFIELDS; i++)
		free(g->fields[i]);
	free(g->default_order);
	for (size_t i = 0; i < g->nrules; i++) {
		free(g->rules[i].key);
		free(g->rules[i].cities);
	}
	free(g->rules);
}

void gtm_geo_fields(const gtm_geo_conf_t *geo, geo_fields_t *out)
{
	gtm_assert(geo_fields_preset(schema_names[geo->schema], out) == 0);
	const char **f[GTM_GEO_NFIELDS] = {
		[GTM_GEO_F_COUNTRY] = &out->country,
		[GTM_GEO_F_CONTINENT] = &out->continent,
		[GTM_GEO_F_SUBDIVISION] = &out->subdivision,
		[GTM_GEO_F_LATITUDE] = &out->latitude,
		[GTM_GEO_F_LONGITUDE] = &out->longitude,
	};
	for (int i = 0; i < GTM_GEO_NFIELDS; i++)
		if (geo->fields[i])
			*f[i] = geo->fields[i];
}

/* ------------------------------------------------------------------------ */
/* services = ( { name; policy; ttl; endpoints = ( { site; addresses; } ); } ) */

/* An endpoints entry while it is read: its addresses become endpoints of
 * the service once the site is known. */
typedef struct endpoint_entry {
	gtm_service_t *svc;
	bool have_site;
	uint32_t site;
	const char *site_name;
	int line;
} endpoint_entry_t;

static bool endpoint_site(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	endpoint_entry_t *e = obj;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		err(x, s, "%ssite must be a string", sc->prefix);
		return false;
	}
	e->site_name = v;
	for (size_t i = 0; i < x->conf->nsites; i++)
		if (strcmp(x->conf->sites[i].name, v) == 0) {
			e->site = (uint32_t)i;
			e->have_site = true;
			return true;
		}
	err(x, s, "%s: endpoint names unknown site '%s'", sc->parent, v);
	return false;
}

static bool endpoint_addresses(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	endpoint_entry_t *e = obj;
	gtm_service_t *svc = e->svc;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		err(x, s, "%saddresses must be a list of addresses: [ \"192.0.2.10\", \"2001:db8::10\" ]",
		    sc->prefix);
		return false;
	}
	if (config_setting_length(s) == 0) {
		err(x, s, "%s: endpoint at site %s has no addresses", sc->parent,
		    e->site_name ? e->site_name : "?");
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *a = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(a);
		gtm_endpoint_t ep = { .site = e->site, .line = (int)config_setting_source_line(a) };
		if (v == NULL) {
			err(x, a, "%saddresses entries must be strings", sc->prefix);
			ok = false;
			continue;
		}
		if (inet_pton(AF_INET, v, &ep.addr.v4) == 1)
			ep.family = AF_INET;
		else if (inet_pton(AF_INET6, v, &ep.addr.v6) == 1)
			ep.family = AF_INET6;
		else {
			err(x, a, "%s: '%s' is not an IPv4 or IPv6 address", sc->parent, v);
			ok = false;
			continue;
		}
		const gtm_endpoint_t *first = NULL;
		for (size_t j = 0; j < svc->nendpoints && !first; j++) {
			const gtm_endpoint_t *o = &svc->endpoints[j];
			if (o->family == ep.family &&
			    memcmp(&o->addr, &ep.addr, ep.family == AF_INET ? 4 : 16) == 0)
				first = o;
		}
		if (first) {
			err(x, a, "%s: duplicate address '%s' (first at line %d)", sc->parent, v, first->line);
			ok = false;
			continue;
		}
		if (!e->have_site)
			continue;
		svc->endpoints = gtm_xgrow(svc->endpoints, svc->nendpoints, sizeof(*svc->endpoints));
		svc->endpoints[svc->nendpoints++] = ep;
	}
	return ok;
}

static const ckey_t endpoint_keys[] = {
	K_FN("site", KF_REQUIRED, endpoint_site),
	K_FN("addresses", KF_REQUIRED, endpoint_addresses),
	{ 0 }
};

static bool service_endpoints(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_service_t *svc = obj;
	if (!is_list(s)) {
		err(x, s, "%sendpoints must be a list of groups: endpoints = ( { site = ...; addresses = [ ... ]; } )",
		    sc->prefix);
		return false;
	}
	if (config_setting_length(s) == 0) {
		err(x, s, "%s has no endpoints", sc->where);
		return false;
	}
	char parent[320];
	snprintf(parent, sizeof(parent), "%s", sc->where);
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			err(x, g, "%sendpoints entries must be groups { ... }", sc->prefix);
			ok = false;
			continue;
		}
		endpoint_entry_t e = { .svc = svc, .line = (int)config_setting_source_line(g) };
		scope_t esc = { .kind = "endpoint", .parent = parent };
		ok &= group_walk(x, g, endpoint_keys, &e, &esc);
	}
	return ok;
}

static void service_free(void *p)
{
	gtm_service_t *s = p;
	free(s->name);
	free(s->endpoints);
	free(s->order);
}

static const char *const policy_names[] = { "nearest", "primary-backup", "global", "failover", NULL };
static const char *const answer_names[] = { "one", "all", NULL };

/*
 * The policy a service group names, read from the group itself rather than
 * from the item, so that a policy-specific key is judged by the policy as
 * written whatever order the keys are parsed in.  -1 when the policy is
 * not valid (that is reported on its own).
 */
static int group_policy(const config_setting_t *key)
{
	const config_setting_t *p = config_setting_get_member(config_setting_parent(key), "policy");
	if (p == NULL)
		return GTM_POLICY_NEAREST;
	const char *v = config_setting_get_string(p);
	for (int i = 0; v && policy_names[i]; i++)
		if (strcmp(v, policy_names[i]) == 0)
			return i;
	return -1;
}

/* A key that only `policy` uses: reports it on a service of another policy. */
static bool policy_fits(ctx_t *x, const config_setting_t *s, scope_t *sc, gtm_policy_t policy)
{
	int p = group_policy(s);
	if (p < 0 || p == (int)policy)
		return true;
	err(x, s, "%s: %s applies only to policy %s (the policy is %s)", sc->where,
	    config_setting_name(s), policy_names[policy], policy_names[p]);
	return false;
}

static bool service_order(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_service_t *svc = obj;
	if (!policy_fits(x, s, sc, GTM_POLICY_FAILOVER))
		return false;
	if (!is_array(s) || config_setting_length(s) == 0) {
		err(x, s, "%sorder must be a non-empty list of sites: [ \"bj-a\", \"sh-a\" ]", sc->prefix);
		return false;
	}
	bool ok = true;
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v == NULL) {
			err(x, e, "%sorder entries must be site names", sc->prefix);
			ok = false;
			continue;
		}
		int site = site_index(x, v);
		if (site < 0) {
			err(x, e, "%s: order names unknown site '%s'", sc->where, v);
			ok = false;
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < svc->norder; j++)
			dup |= svc->order[j] == (uint32_t)site;
		if (dup) {
			err(x, e, "%s: order names site '%s' twice", sc->where, v);
			ok = false;
			continue;
		}
		svc->order = gtm_xgrow(svc->order, svc->norder, sizeof(*svc->order));
		svc->order[svc->norder++] = (uint32_t)site;
	}
	return ok;
}

/* primary, backup, master: a city name. */
static bool service_city_key(ctx_t *x, const config_setting_t *s, scope_t *sc,
                             gtm_policy_t policy, uint32_t *out)
{
	if (!policy_fits(x, s, sc, policy))
		return false;
	const char *v = config_setting_get_string(s);
	if (v == NULL) {
		err(x, s, "%s%s must be a city name", sc->prefix, config_setting_name(s));
		return false;
	}
	int c = city_index(x, v);
	if (c < 0) {
		err(x, s, "%s: %s names unknown city '%s'", sc->where, config_setting_name(s), v);
		return false;
	}
	*out = (uint32_t)c;
	return true;
}

static bool service_primary(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return service_city_key(x, s, sc, GTM_POLICY_PRIMARY_BACKUP, &((gtm_service_t *)obj)->primary);
}

static bool service_backup(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return service_city_key(x, s, sc, GTM_POLICY_PRIMARY_BACKUP, &((gtm_service_t *)obj)->backup);
}

static bool service_master(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	return service_city_key(x, s, sc, GTM_POLICY_GLOBAL, &((gtm_service_t *)obj)->master);
}

static const ckey_t service_keys[] = {
	K_STR("name", gtm_service_t, name, 1, 0, KF_NAME, check_dns_name),
	K_ENUM("policy", gtm_service_t, policy, policy_names, GTM_POLICY_NEAREST),
	K_INT("ttl", gtm_service_t, ttl, 0, 2147483647, 30),
	K_ENUM("answer", gtm_service_t, answer, answer_names, GTM_ANSWER_ONE),
	/* After endpoints: the finish step checks them against the endpoints. */
	K_FN("endpoints", KF_REQUIRED, service_endpoints),
	K_FN("order", 0, service_order),
	K_FN("primary", 0, service_primary),
	K_FN("backup", 0, service_backup),
	K_FN("master", 0, service_master),
	{ 0 }
};

static bool city_has_endpoint(const gtm_conf_t *c, const gtm_service_t *svc, uint32_t city)
{
	for (size_t i = 0; i < svc->nendpoints; i++)
		if (c->sites[svc->endpoints[i].site].city == city)
			return true;
	return false;
}

/* The city of the first endpoint at an active site; else at any site that
 * is not cold; else the first endpoint's. */
static uint32_t first_city(const gtm_conf_t *c, const gtm_service_t *svc)
{
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < svc->nendpoints; i++) {
			const gtm_site_t *site = &c->sites[svc->endpoints[i].site];
			if (pass == 0 && site->role != GTM_ROLE_ACTIVE)
				continue;
			if (pass == 1 && site->role == GTM_ROLE_COLD)
				continue;
			return site->city;
		}
	return GTM_NO_CITY;
}

/* A city key's cross-field rules: the city must hold some of the service. */
static bool city_key_check(ctx_t *x, const config_setting_t *g, const gtm_service_t *svc,
                           const char *key, uint32_t city)
{
	if (city_has_endpoint(x->conf, svc, city))
		return true;
	err(x, config_setting_get_member(g, key), "service %s: %s city '%s' has no endpoint of this service",
	    svc->name, key, x->conf->cities[city].name);
	return false;
}

/* Defaults that depend on the endpoints, and rules across keys. */
static bool service_finish(ctx_t *x, const config_setting_t *g, void *item, scope_t *sc)
{
	gtm_service_t *svc = item;
	const gtm_conf_t *c = x->conf;
	bool has_primary = config_setting_get_member(g, "primary") != NULL;
	bool has_backup = config_setting_get_member(g, "backup") != NULL;
	bool has_master = config_setting_get_member(g, "master") != NULL;
	bool ok = true;

	if (!has_primary)
		svc->primary = GTM_NO_CITY;
	if (!has_backup)
		svc->backup = GTM_NO_CITY;
	if (!has_master)
		svc->master = GTM_NO_CITY;
	switch (svc->policy) {
	case GTM_POLICY_PRIMARY_BACKUP:
		if (!has_primary)
			svc->primary = first_city(c, svc);
		else
			ok &= city_key_check(x, g, svc, "primary", svc->primary);
		if (has_backup) {
			ok &= city_key_check(x, g, svc, "backup", svc->backup);
			if (svc->backup == svc->primary) {
				err(x, config_setting_get_member(g, "backup"),
				    "service %s: backup city '%s' is also the primary city", svc->name,
				    c->cities[svc->backup].name);
				ok = false;
			}
		}
		break;
	case GTM_POLICY_GLOBAL:
		if (!has_master)
			svc->master = first_city(c, svc);
		else
			ok &= city_key_check(x, g, svc, "master", svc->master);
		break;
	case GTM_POLICY_FAILOVER:
		/* Default order: the endpoints' sites in config order. */
		if (svc->norder == 0)
			for (size_t i = 0; i < svc->nendpoints; i++) {
				uint32_t site = svc->endpoints[i].site;
				bool seen = false;
				for (size_t j = 0; j < svc->norder; j++)
					seen |= svc->order[j] == site;
				if (seen)
					continue;
				svc->order = gtm_xgrow(svc->order, svc->norder, sizeof(*svc->order));
				svc->order[svc->norder++] = site;
			}
		break;
	case GTM_POLICY_NEAREST:
		break;
	}
	return ok;
}

SAME_FN(service_same, gtm_service_t, dns_name_eq)

static const list_def_t service_list = {
	"services", "service", service_keys, sizeof(gtm_service_t),
	offsetof(gtm_service_t, line), offsetof(gtm_service_t, name),
	service_same, service_free, service_finish,
};

static void section_services(ctx_t *x, const config_setting_t *s)
{
	void *items = x->conf->services;
	list_walk(x, s, &service_list, &items, &x->conf->nservices);
	x->conf->services = items;
}

/* ------------------------------------------------------------------------ */
/* Top level                                                                */

/* Sections are read in this order whatever their order in the file, so that
 * references always point backwards (sites name cities, services name
 * sites).  A new top-level group is one row here. */
static const struct section {
	const char *name;
	void (*load)(ctx_t *x, const config_setting_t *s);
} sections[] = {
	{ "server", section_server },
	{ "zones", section_zones },
	{ "cities", section_cities },
	{ "sites", section_sites },
	{ "geo", section_geo },
	{ "services", section_services },
	{ NULL, NULL }
};

/* The server defaults also hold when there is no server group at all. */
static void defaults(gtm_conf_t *c)
{
	for (const ckey_t *k = server_keys; k->name; k++)
		key_default(k, c);
	for (const ckey_t *k = geo_keys; k->name; k++)
		key_default(k, &c->geo);
}

/* Fills what depends on the machine or on the absence of a whole group. */
static void freeze(gtm_conf_t *c)
{
	if (c->nlisten == 0) {
		static const char *const def[] = { "127.0.0.1:53", "[::1]:53" };
		c->listen = gtm_xcalloc(2, sizeof(*c->listen));
		for (size_t i = 0; i < 2; i++)
			gtm_assert(gtm_listen_parse(def[i], 53, &c->listen[c->nlisten++]) == 0);
	}
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
	}
}

static void ctx_flush(ctx_t *x, gtm_diag_t *diag)
{
	if (x->nmsgs > 1)
		qsort(x->msgs, x->nmsgs, sizeof(*x->msgs), msg_cmp);
	for (size_t i = 0; i < x->nmsgs; i++) {
		gtm_diag_add(diag, x->files[x->msgs[i].file].name, x->msgs[i].line, "%s", x->msgs[i].text);
		free(x->msgs[i].text);
	}
	free(x->msgs);
	for (size_t i = 0; i < x->nfiles; i++) {
		free(x->files[i].name);
		free(x->files[i].text);
		free(x->files[i].lines);
	}
	free(x->files);
}

gtm_conf_t *gtm_conf_load(const char *path, gtm_diag_t *diag)
{
	ctx_t x = { .path = path };
	config_t cfg;
	gtm_conf_t *c = NULL;
	char *dir = NULL;

	/* libconfig says only "file I/O error"; say which. */
	FILE *fp = fopen(path, "r");
	struct stat st;
	if (fp == NULL || fstat(fileno(fp), &st) != 0 || S_ISDIR(st.st_mode)) {
		gtm_diag_add(diag, path, 0, "cannot open (%s)", fp ? strerror(EISDIR) : strerror(errno));
		if (fp)
			fclose(fp);
		return NULL;
	}
	fclose(fp);

	config_init(&cfg);
	/* @include "x.conf" is relative to the config file's folder. */
	const char *slash = strrchr(path, '/');
	if (slash) {
		dir = gtm_xasprintf("%.*s", slash == path ? 1 : (int)(slash - path), path);
		config_set_include_dir(&cfg, dir);
		x.dir = dir;
	}
	if (!config_read_file(&cfg, path)) {
		const char *f = config_error_file(&cfg);
		char *full = NULL;
		if (f && strcmp(f, path) != 0 && f[0] != '/' && dir)
			f = full = gtm_xasprintf("%s/%s", dir, f);
		gtm_diag_add(diag, f ? f : path, config_error_line(&cfg), "%s", config_error_text(&cfg));
		free(full);
		goto finish;
	}

	c = gtm_xcalloc(1, sizeof(*c));
	c->path = gtm_xstrdup(path);
	defaults(c);
	x.conf = c;
	file_index(&x, path);

	config_setting_t *root = config_root_setting(&cfg);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		bool known = false;
		for (const struct section *sec = sections; sec->name; sec++)
			known |= strcmp(sec->name, config_setting_name(s)) == 0;
		if (!known)
			err(&x, s, "unknown top-level key '%s'", config_setting_name(s));
	}
	for (const struct section *sec = sections; sec->name; sec++) {
		config_setting_t *s = config_setting_get_member(root, sec->name);
		if (s)
			sec->load(&x, s);
	}
	if (config_setting_get_member(root, "zones") == NULL)
		err(&x, NULL, "no zones configured (zones = ( { name = \"example.com\"; file = \"example.com.zone\"; } );)");

	if (x.nmsgs == 0)
		freeze(c);
	else {
		gtm_conf_free(c);
		c = NULL;
	}
finish:
	ctx_flush(&x, diag);
	config_destroy(&cfg);
	free(dir);
	return c;
}

void gtm_conf_free(gtm_conf_t *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->listen);
	free(c->nsid);
	for (size_t i = 0; i < c->nzones; i++)
		zone_free(&c->zones[i]);
	free(c->zones);
	for (size_t i = 0; i < c->ncities; i++)
		city_free(&c->cities[i]);
	free(c->cities);
	for (size_t i = 0; i < c->nsites; i++)
		site_free(&c->sites[i]);
	free(c->sites);
	for (size_t i = 0; i < c->nservices; i++)
		service_free(&c->services[i]);
	free(c->services);
	geo_conf_free(&c->geo);
	free(c);
}

/* ------------------------------------------------------------------------ */
/* Listen addresses                                                         */

static bool parse_port(const char *s, uint16_t *port)
{
	if (*s == '\0' || strlen(s) > 5)
		return false;
	unsigned v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* An IPv6 address with an optional zone ("fe80::1%eth0"). */
static bool parse_v6(const char *s, struct sockaddr_in6 *sin6)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	char *pct = strchr(buf, '%');
	if (pct) {
		*pct++ = '\0';
		if (*pct == '\0')
			return false;
		unsigned idx = if_nametoindex(pct);
		if (idx == 0) {
			char *e;
			unsigned long n = strtoul(pct, &e, 10);
			if (*e != '\0' || n == 0 || n > UINT32_MAX)
				return false;
			idx = (unsigned)n;
		}
		sin6->sin6_scope_id = idx;
	}
	return inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1;
}

int gtm_listen_parse(const char *s, uint16_t default_port, gtm_listen_t *out)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	uint16_t port = default_port;
	gtm_listen_t l;
	memset(&l, 0, sizeof(l));

	if (s == NULL || strlen(s) >= sizeof(host))
		return GTM_EINVAL;
	if (s[0] == '[') {
		/* "[v6]" or "[v6]:port" */
		const char *close = strchr(s, ']');
		if (close == NULL)
			return GTM_EINVAL;
		size_t n = (size_t)(close - s - 1);
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (close[1] == ':') {
			if (!parse_port(close + 2, &port))
				return GTM_EINVAL;
		} else if (close[1] != '\0')
			return GTM_EINVAL;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l.addr;
		if (!parse_v6(host, sin6))
			return GTM_EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		l.len = sizeof(*sin6);
	} else if (strchr(s, ':') == strrchr(s, ':')) {
		/* "v4" or "v4:port" (at most one colon) */
		strcpy(host, s);
		char *colon = strchr(host, ':');
		if (colon) {
			*colon = '\0';
			if (!parse_port(colon + 1, &port))
				return GTM_EINVAL;
		}
		struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return GTM_EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		l.len = sizeof(*sin);
	} else {
		/* a bare IPv6 address: "::1" */
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l.addr;
		if (!parse_v6(s, sin6))
			return GTM_EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		l.len = sizeof(*sin6);
	}
	if (port == 0)
		return GTM_EINVAL;
	*out = l;
	return 0;
}
