/*
 * The config loader's engine: diagnostics collected with file:line and
 * reported sorted, integer literals recovered past libconfig 1.5's 32-bit
 * truncation, and the key-table walkers (conf_group_walk, conf_list_walk)
 * that every group of gtm.conf goes through.  See conf_int.h.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gtm/conf/conf_int.h"

/* ------------------------------------------------------------------------ */
/* Diagnostics                                                              */


size_t conf_file_index(ctx_t *x, const char *name)
{
	for (size_t i = 0; i < x->nfiles; i++)
		if (strcmp(x->files[i].name, name) == 0)
			return i;
	x->files = gtm_xgrow(x->files, x->nfiles, sizeof(*x->files));
	x->files[x->nfiles] = (srcfile_t){ .name = gtm_xstrdup(name) };
	return x->nfiles++;
}

static void vreport(ctx_t *x, bool warn, const char *file, int line, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	char *text = gtm_xmalloc(n > 0 ? (size_t)n + 1 : 1);
	vsnprintf(text, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
	x->msgs = gtm_xgrow(x->msgs, x->nmsgs, sizeof(*x->msgs));
	x->msgs[x->nmsgs] = (msg_t){ conf_file_index(x, file), line, x->nmsgs, warn, text };
	x->nmsgs++;
	x->nerrs += !warn;
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
	const char *name = x->files[conf_file_index(x, full)].name;
	free(full);
	return name;
}

void conf_err(ctx_t *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(x, false, setting_file(x, s), s ? (int)config_setting_source_line(s) : 0, fmt, ap);
	va_end(ap);
}

void conf_warn(ctx_t *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(x, true, setting_file(x, s), s ? (int)config_setting_source_line(s) : 0, fmt, ap);
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
	srcfile_t *f = &x->files[conf_file_index(x, setting_file(x, s))];
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

bool conf_is_int(const config_setting_t *s)
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
		if (!conf_is_int(s)) {
			conf_err(x, s, "%s%s must be an integer", sc->prefix, k->name);
			return false;
		}
		int64_t v;
		if (int_value(x, s, &v, raw, sizeof(raw)) != 0) {
			conf_err(x, s, "%s%s must be between %" PRId64 " and %" PRId64 " (got %s)",
			    sc->prefix, k->name, k->min, k->max, raw);
			return false;
		}
		if (v < k->min || v > k->max) {
			conf_err(x, s, "%s%s must be between %" PRId64 " and %" PRId64 " (got %" PRId64 ")",
			    sc->prefix, k->name, k->min, k->max, v);
			return false;
		}
		store_int(obj, k, v * (k->scale ? k->scale : 1));
		break;
	}
	case KT_NUM: {
		double v;
		if (conf_is_int(s))
			v = (double)config_setting_get_int64(s);
		else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
			v = config_setting_get_float(s);
		else {
			conf_err(x, s, "%s%s must be a number", sc->prefix, k->name);
			return false;
		}
		if (!(v >= k->dmin && v <= k->dmax)) {
			conf_err(x, s, "%s%s must be between %g and %g (got %g)",
			    sc->prefix, k->name, k->dmin, k->dmax, v);
			return false;
		}
		memcpy(field, &v, sizeof(v));
		break;
	}
	case KT_STR: {
		const char *v = config_setting_get_string(s);
		if (v == NULL) {
			conf_err(x, s, "%s%s must be a string", sc->prefix, k->name);
			return false;
		}
		size_t len = strlen(v);
		if ((int64_t)len < k->min) {
			conf_err(x, s, "%s%s must not be empty", sc->prefix, k->name);
			return false;
		}
		if (k->max > 0 && (int64_t)len > k->max) {
			conf_err(x, s, "%s%s must be at most %" PRId64 " bytes (got %zu)",
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
				conf_err(x, s, "%s%s must be one of %s (got '%s')", sc->prefix, k->name, all, v);
			else
				conf_err(x, s, "%s%s must be one of %s", sc->prefix, k->name, all);
			return false;
		}
		int e = (int)i;
		memcpy(field, &e, sizeof(e));
		break;
	}
	case KT_BOOL: {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			conf_err(x, s, "%s%s must be true or false", sc->prefix, k->name);
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

void conf_key_default(const ckey_t *k, void *obj)
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
bool conf_group_walk(ctx_t *x, const config_setting_t *g, const ckey_t *keys, void *obj, scope_t *sc)
{
	bool ok = true;
	scope_label(sc);
	sc->keys = keys;
	sc->failed = 0;
	for (size_t i = 0; keys[i].name; i++) {
		const ckey_t *k = &keys[i];
		if (!(k->flags & KF_NAME))
			continue;
		config_setting_t *s = config_setting_get_member(g, k->name);
		bool kok;
		if (s == NULL) {
			conf_err(x, g, "%s has no '%s'", sc->where, k->name);
			kok = false;
		} else
			kok = key_parse(x, k, s, obj, sc);
		if (!kok && i < 64)
			sc->failed |= UINT64_C(1) << i;
		ok &= kok;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		if (name && key_find(keys, name) == NULL) {
			conf_err(x, s, "unknown key '%s' in %s", name, sc->where);
			ok = false;
		}
	}
	for (size_t i = 0; keys[i].name; i++) {
		const ckey_t *k = &keys[i];
		if (k->flags & KF_NAME)
			continue;
		config_setting_t *s = config_setting_get_member(g, k->name);
		bool kok = true;
		if (s)
			kok = key_parse(x, k, s, obj, sc);
		else if (k->flags & KF_REQUIRED) {
			conf_err(x, g, "%s has no '%s'", sc->where, k->name);
			kok = false;
		} else
			conf_key_default(k, obj);
		if (!kok && i < 64)
			sc->failed |= UINT64_C(1) << i;
		ok &= kok;
	}
	return ok;
}

bool conf_key_failed(const scope_t *sc, const char *name)
{
	for (size_t i = 0; sc->keys && sc->keys[i].name; i++)
		if (strcmp(sc->keys[i].name, name) == 0)
			return i >= 64 || (sc->failed >> i & 1);
	return true;
}


bool conf_is_list(const config_setting_t *s)
{
	int t = config_setting_type(s);
	/* An empty [] is an array to libconfig; accept it as an empty list. */
	return t == CONFIG_TYPE_LIST || (t == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0);
}

bool conf_is_array(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
}

int conf_city_index(const ctx_t *x, const char *name)
{
	for (size_t i = 0; i < x->conf->ncities; i++)
		if (strcmp(x->conf->cities[i].name, name) == 0)
			return (int)i;
	return -1;
}

int conf_site_index(const ctx_t *x, const char *name)
{
	for (size_t i = 0; i < x->conf->nsites; i++)
		if (strcmp(x->conf->sites[i].name, name) == 0)
			return (int)i;
	return -1;
}

void conf_list_walk(ctx_t *x, const config_setting_t *l, const list_def_t *d, void **items, size_t *n)
{
	if (!conf_is_list(l)) {
		conf_err(x, l, "%s must be a list of groups: %s = ( { ... }, ... )", d->list, d->list);
		return;
	}
	/* Duplicates are found through an index of the names kept so far (the
	 * strings are the items' own, which stay put when the array moves),
	 * so that 10,000 services cost 10,000 look-ups, not 50 million
	 * comparisons. */
	gtm_name_index_t ix;
	gtm_name_index_init(&ix, d->name_kind, *n + (size_t)config_setting_length(l));
	for (size_t i = 0; d->same == NULL && i < *n; i++) {
		char *name;
		memcpy(&name, (char *)*items + i * d->size + d->name_off, sizeof(name));
		if (name)
			gtm_name_index_add(&ix, name, (uint32_t)i);
	}
	for (int i = 0; i < config_setting_length(l); i++) {
		config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			conf_err(x, g, "%s entries must be groups { ... }", d->list);
			continue;
		}
		char *item = gtm_xcalloc(1, d->size);
		int line = (int)config_setting_source_line(g);
		memcpy(item + d->line_off, &line, sizeof(line));
		scope_t sc = { .kind = d->kind };
		bool ok = conf_group_walk(x, g, d->keys, item, &sc);
		char *name;
		memcpy(&name, item + d->name_off, sizeof(name));
		/* A partial finish needs the name its messages lead with. */
		if (d->finish && (ok || (d->finish_partial && name)))
			ok &= d->finish(x, g, item, &sc);
		const char *prev = NULL;
		if (name && d->same) {
			prev = d->same(*items, *n, d->size, item);
		} else if (name) {
			uint32_t at = gtm_name_index_find(&ix, name);
			prev = at == GTM_NAME_NONE ? NULL : (const char *)*items + at * d->size;
		}
		if (prev) {
			int pline;
			memcpy(&pline, prev + d->line_off, sizeof(pline));
			conf_err(x, g, "duplicate %s '%s' (first at line %d)", d->kind, name, pline);
		}
		if (name == NULL || prev) {
			d->item_free(item);
			free(item);
			continue;
		}
		*items = gtm_xgrow(*items, *n, d->size);
		memcpy((char *)*items + *n * d->size, item, d->size);
		if (d->same == NULL)
			gtm_name_index_add(&ix, name, (uint32_t)*n);
		(*n)++;
		free(item);
	}
	gtm_name_index_clear(&ix);
	/* Grown by doubling: give the slack back (10,000 services). */
	if (*n > 0)
		*items = gtm_xrealloc(*items, *n * d->size);
}
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

bool conf_check_plain_name(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	if (plain_name_ok(sc->name))
		return true;
	conf_err(x, s, "%s name '%s' is not valid (use letters, digits, '-' and '_', at most 63)",
	    sc->kind, sc->name);
	return false;
}


uint32_t conf_secs_ms(double s)
{
	double ms = s * 1000.0 + 0.5;
	return ms >= 4294967295.0 ? UINT32_MAX : (uint32_t)ms;
}

void conf_ctx_flush(ctx_t *x, gtm_diag_t *diag)
{
	if (x->nmsgs > 1)
		qsort(x->msgs, x->nmsgs, sizeof(*x->msgs), msg_cmp);
	for (size_t i = 0; i < x->nmsgs; i++) {
		if (x->msgs[i].warn)
			gtm_diag_warn(diag, x->files[x->msgs[i].file].name, x->msgs[i].line, "%s", x->msgs[i].text);
		else
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


/* ------------------------------------------------------------------------ */
/* Reload scope                                                             */

static bool field_same(const ckey_t *k, const void *a, const void *b)
{
	const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
	if (k->type == KT_FN)
		return k->same(a, b);
	if (k->type == KT_STR) {
		const char *sa, *sb;
		memcpy(&sa, pa, sizeof(sa));
		memcpy(&sb, pb, sizeof(sb));
		return (sa == NULL && sb == NULL) || (sa && sb && strcmp(sa, sb) == 0);
	}
	return memcmp(pa, pb, k->size) == 0;
}

size_t conf_keys_restart_diff(const char *group, const ckey_t *keys, const void *a, const void *b,
                              gtm_conf_key_cb_t cb, void *arg)
{
	size_t n = 0;
	for (const ckey_t *k = keys; k->name; k++) {
		if (!k->restart)
			continue;
		gtm_assert(k->type != KT_FN || k->same != NULL);
		if (field_same(k, a, b))
			continue;
		char full[128];
		snprintf(full, sizeof(full), "%s.%s", group, k->name);
		cb(full, arg);
		n++;
	}
	return n;
}
