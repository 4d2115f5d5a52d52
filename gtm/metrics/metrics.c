/*
 * Metrics: figures from a collect callback, pushed to carbon servers in the
 * Graphite plaintext format and rendered as text, JSON or (prometheus.c)
 * the Prometheus format.  See metrics.h for the naming rules.
 *
 * Everything runs on the control thread's event base and never blocks: a
 * carbon server that stops reading costs a bounded buffer, never a stall,
 * because answering DNS must not depend on a monitoring system.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/metrics/carbon.h"
#include "gtm/metrics/metrics.h"
#include "gtm/metrics/prometheus.h"

/* A timer fires this long after the wall-clock boundary it is for, so that a
 * little drift between libevent's monotonic clock and the wall clock does
 * not stamp two collections with the same second. */
#define TICK_MARGIN_MS 50

/* ------------------------------------------------------------ config */

void gtm_metrics_conf_init(gtm_metrics_conf_t *c)
{
	memset(c, 0, sizeof(*c));
	c->interval = GTM_METRICS_DEFAULT_INTERVAL;
	c->buffer = GTM_METRICS_DEFAULT_BUFFER;
	c->backoff_min_ms = GTM_METRICS_BACKOFF_MIN_MS;
	c->backoff_max_ms = GTM_METRICS_BACKOFF_MAX_MS;
}

void gtm_metrics_conf_clear(gtm_metrics_conf_t *c)
{
	for (size_t i = 0; i < c->ncarbon; i++)
		free(c->carbon[i].host);
	free(c->carbon);
	free(c->prefix);
	free(c->hostname);
	free(c->prometheus);
	gtm_metrics_conf_init(c);
}

gtm_carbon_conf_t *gtm_metrics_conf_add_carbon(gtm_metrics_conf_t *c, const char *host,
                                               uint16_t port, gtm_carbon_proto_t proto)
{
	c->carbon = gtm_xgrow(c->carbon, c->ncarbon, sizeof(*c->carbon));
	gtm_carbon_conf_t *s = &c->carbon[c->ncarbon++];
	s->host = gtm_xstrdup(host);
	s->port = port;
	s->protocol = proto;
	s->line = 0;
	return s;
}

int gtm_carbon_proto_parse(const char *s, gtm_carbon_proto_t *proto)
{
	if (strcmp(s, "tcp") == 0)
		*proto = GTM_CARBON_TCP;
	else if (strcmp(s, "udp") == 0)
		*proto = GTM_CARBON_UDP;
	else
		return GTM_EINVAL;
	return 0;
}


int gtm_metrics_listen_parse(const char *s, char *addr, size_t addrlen, uint16_t *port)
{
	const char *host = s, *colon = NULL;
	size_t hlen;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL)
			return GTM_EINVAL;
		host = s + 1;
		hlen = (size_t)(end - host);
		if (end[1] == ':')
			colon = end + 1;
		else if (end[1] != '\0')
			return GTM_EINVAL;
	} else {
		colon = strchr(s, ':');
		/* Two colons without brackets: a bare IPv6 address. */
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL;
		hlen = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (hlen == 0 || hlen >= addrlen)
		return GTM_EINVAL;
	memcpy(addr, host, hlen);
	addr[hlen] = '\0';
	*port = GTM_METRICS_DEFAULT_PROM_PORT;
	if (colon != NULL) {
		char *end;
		errno = 0;
		unsigned long p = strtoul(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0 || p > 65535 ||
		    !(colon[1] >= '0' && colon[1] <= '9'))
			return GTM_EINVAL;
		*port = (uint16_t)p;
	}
	struct in6_addr a6;
	struct in_addr a4;
	if (inet_pton(AF_INET, addr, &a4) != 1 && inet_pton(AF_INET6, addr, &a6) != 1)
		return GTM_EINVAL;
	return 0;
}

static bool component_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool prefix_ok(const char *p)
{
	const char *s = p;
	for (;;) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (!component_ok(s, n))
			return false;
		if (dot == NULL)
			return true;
		s = dot + 1;
	}
}

int gtm_metrics_conf_check(const gtm_metrics_conf_t *c, const char *file, int line,
                           gtm_diag_t *diag)
{
	size_t before = diag->count;
	if (c->prefix != NULL && !prefix_ok(c->prefix))
		gtm_diag_add(diag, file, line,
		             "metrics.prefix \"%s\": components of letters, digits, '_' and '-' separated by dots",
		             c->prefix);
	if (c->hostname != NULL && (c->hostname[0] == '\0' || strlen(c->hostname) > 255))
		gtm_diag_add(diag, file, line, "metrics.hostname: 1 to 255 characters");
	if (c->interval < 1 || c->interval > GTM_METRICS_MAX_INTERVAL)
		gtm_diag_add(diag, file, line, "metrics.interval %u: must be 1..%d seconds",
		             c->interval, GTM_METRICS_MAX_INTERVAL);
	if (c->buffer > GTM_METRICS_MAX_BUFFER)
		gtm_diag_add(diag, file, line, "metrics.buffer %u: must be 0..%d points",
		             c->buffer, GTM_METRICS_MAX_BUFFER);
	if (c->backoff_min_ms < 1 || c->backoff_max_ms < c->backoff_min_ms)
		gtm_diag_add(diag, file, line, "metrics backoff %u..%u ms: need 1 <= min <= max",
		             c->backoff_min_ms, c->backoff_max_ms);
	if (c->prometheus != NULL) {
		char addr[INET6_ADDRSTRLEN + 1];
		uint16_t port;
		if (gtm_metrics_listen_parse(c->prometheus, addr, sizeof(addr), &port) != 0)
			gtm_diag_add(diag, file, line,
			             "metrics.prometheus \"%s\": not an address (ADDR:PORT, [ADDR6]:PORT or ADDR)",
			             c->prometheus);
	}
	for (size_t i = 0; i < c->ncarbon; i++) {
		const gtm_carbon_conf_t *s = &c->carbon[i];
		int l = s->line > 0 ? s->line : line;
		if (s->host == NULL || s->host[0] == '\0' || strlen(s->host) > 253 ||
		    strpbrk(s->host, " \t/") != NULL)
			gtm_diag_add(diag, file, l, "metrics.graphite: host \"%s\" is not an address or name",
			             s->host ? s->host : "");
		if (s->port == 0)
			gtm_diag_add(diag, file, l, "metrics.graphite: port 0 must be 1..65535");
		for (size_t j = 0; j < i; j++) {
			const gtm_carbon_conf_t *o = &c->carbon[j];
			if (o->host && s->host && strcmp(o->host, s->host) == 0 && o->port == s->port &&
			    o->protocol == s->protocol)
				gtm_diag_add(diag, file, l, "metrics.graphite %s:%u (%s): listed twice",
				             s->host, s->port, gtm_carbon_proto_name(s->protocol));
		}
	}
	return diag->count == before ? 0 : GTM_EINVAL;
}

static bool str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

bool gtm_metrics_conf_same(const gtm_metrics_conf_t *a, const gtm_metrics_conf_t *b)
{
	if (a->ncarbon != b->ncarbon || a->interval != b->interval || a->buffer != b->buffer ||
	    a->backoff_min_ms != b->backoff_min_ms || a->backoff_max_ms != b->backoff_max_ms ||
	    !str_same(a->prefix, b->prefix) || !str_same(a->hostname, b->hostname) ||
	    !str_same(a->prometheus, b->prometheus))
		return false;
	for (size_t i = 0; i < a->ncarbon; i++)
		if (!str_same(a->carbon[i].host, b->carbon[i].host) ||
		    a->carbon[i].port != b->carbon[i].port ||
		    a->carbon[i].protocol != b->carbon[i].protocol)
			return false;
	return true;
}

/* ------------------------------------------------------------ names */

static bool graphite_safe(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

int gtm_metrics_escape(char *buf, size_t len, const char *component)
{
	size_t n = 0;
	if (len == 0)
		return GTM_ESPACE;
	if (component[0] == '\0')
		component = "_";
	for (const unsigned char *p = (const unsigned char *)component; *p; p++) {
		if (n + 1 >= len) {
			buf[n] = '\0';
			return GTM_ESPACE;
		}
		buf[n++] = graphite_safe(*p) ? (char)*p : '_';
	}
	buf[n] = '\0';
	return (int)n;
}

int gtm_metrics_path(char *buf, size_t len, const char *const *components, size_t n)
{
	size_t used = 0;
	if (len == 0)
		return GTM_ESPACE;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0) {
			if (used + 1 >= len)
				return GTM_ESPACE;
			buf[used++] = '.';
			buf[used] = '\0';
		}
		int r = gtm_metrics_escape(buf + used, len - used, components[i]);
		if (r < 0)
			return r;
		used += (size_t)r;
	}
	return (int)used;
}

static bool label_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || ch == '_' || (!first && ch >= '0' && ch <= '9');
}

/*
 * A template split up: the Graphite part's components (literal or
 * placeholder) and the optional Prometheus name.  Pointers into the
 * template, with lengths.
 */
typedef struct tmpl_part {
	const char *s;
	size_t n;
	bool label;
} tmpl_part_t;

#define TMPL_MAX_PARTS 16

typedef struct tmpl {
	tmpl_part_t parts[TMPL_MAX_PARTS];
	size_t nparts;
	size_t nlabels;
	const char *prom;   /* NULL: derived */
	size_t promlen;
} tmpl_t;

static int tmpl_parse(const char *t, tmpl_t *out)
{
	memset(out, 0, sizeof(*out));
	const char *bar = strchr(t, '|');
	const char *end = bar ? bar : t + strlen(t);
	const char *s = t;
	bool any_literal = false;
	for (;;) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		const char *e = dot ? dot : end;
		size_t n = (size_t)(e - s);
		if (out->nparts == TMPL_MAX_PARTS || n == 0)
			return GTM_EINVAL;
		tmpl_part_t *p = &out->parts[out->nparts++];
		if (s[0] == '{') {
			if (n < 3 || s[n - 1] != '}')
				return GTM_EINVAL;
			p->s = s + 1;
			p->n = n - 2;
			p->label = true;
			for (size_t i = 0; i < p->n; i++)
				if (!label_char(p->s[i], i == 0))
					return GTM_EINVAL;
			if ((p->n == 4 && memcmp(p->s, "host", 4) == 0) ||
			    (p->n >= 2 && p->s[0] == '_' && p->s[1] == '_'))
				return GTM_EINVAL;
			for (size_t i = 0; i + 1 < out->nparts; i++)
				if (out->parts[i].label && out->parts[i].n == p->n &&
				    memcmp(out->parts[i].s, p->s, p->n) == 0)
					return GTM_EINVAL;
			if (++out->nlabels > GTM_METRICS_MAX_LABELS)
				return GTM_EINVAL;
		} else {
			if (!component_ok(s, n))
				return GTM_EINVAL;
			p->s = s;
			p->n = n;
			any_literal = true;
		}
		if (dot == NULL)
			break;
		s = dot + 1;
	}
	if (bar != NULL) {
		out->prom = bar + 1;
		out->promlen = strlen(out->prom);
		if (out->promlen == 0)
			return GTM_EINVAL;
		for (size_t i = 0; i < out->promlen; i++)
			if (!label_char(out->prom[i], i == 0))
				return GTM_EINVAL;
	} else if (!any_literal) {
		return GTM_EINVAL;
	}
	return 0;
}

int gtm_metrics_template_check(const char *tmpl)
{
	tmpl_t t;
	if (tmpl_parse(tmpl, &t) != 0)
		return GTM_EINVAL;
	return (int)t.nlabels;
}

/* ------------------------------------------------------------ sink */

struct gtm_metrics_sink {
	char *prefix;
	char *host;       /* raw */
	char *host_esc;   /* escaped for Graphite */
	time_t ts;
	gtm_metric_t **figs;
	size_t count;
};

gtm_metrics_sink_t *gtm_metrics_sink_new(const char *prefix, const char *host, time_t ts)
{
	gtm_metrics_sink_t *s = gtm_xcalloc(1, sizeof(*s));
	s->prefix = gtm_xstrdup(prefix ? prefix : GTM_METRICS_DEFAULT_PREFIX);
	s->host = gtm_xstrdup(host);
	size_t n = strlen(host) + 2;
	s->host_esc = gtm_xmalloc(n);
	gtm_metrics_escape(s->host_esc, n, host);
	s->ts = ts;
	return s;
}

void gtm_metrics_sink_free(gtm_metrics_sink_t *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->count; i++)
		free(s->figs[i]);
	free(s->figs);
	free(s->prefix);
	free(s->host);
	free(s->host_esc);
	free(s);
}

time_t gtm_metrics_sink_time(const gtm_metrics_sink_t *s)
{
	return s->ts;
}

size_t gtm_metrics_sink_count(const gtm_metrics_sink_t *s)
{
	return s->count;
}

const gtm_metric_t *gtm_metrics_sink_get(const gtm_metrics_sink_t *s, size_t i)
{
	gtm_assert(i < s->count);
	return s->figs[i];
}

const char *gtm_metrics_sink_host(const gtm_metrics_sink_t *s)
{
	return s->host;
}

/* A string builder over one malloc'd block whose size was measured first. */
typedef struct strbuf {
	char *p;
	size_t used, cap;
} strbuf_t;

static char *sb_put(strbuf_t *b, const char *s, size_t n)
{
	gtm_assert(b->used + n + 1 <= b->cap);
	char *start = b->p + b->used;
	memcpy(start, s, n);
	start[n] = '\0';
	b->used += n + 1;
	return start;
}

/* Appends to the string that starts at `start` (the last one put). */
static void sb_cat(strbuf_t *b, const char *s, size_t n)
{
	gtm_assert(b->used + n <= b->cap);
	memcpy(b->p + b->used - 1, s, n);
	b->used += n;
	b->p[b->used - 1] = '\0';
}

static void put(gtm_metrics_sink_t *s, gtm_metric_kind_t kind, const char *tmpl,
                uint64_t count, double value, const char *const *labels, size_t nlabels)
{
	tmpl_t t;
	if (tmpl_parse(tmpl, &t) != 0)
		log_fatal("metrics, template \"%s\" is malformed (see gtm/metrics/metrics.h)", tmpl);
	if (t.nlabels != nlabels)
		log_fatal("metrics, template \"%s\" has %zu placeholders, given %zu values",
		          tmpl, t.nlabels, nlabels);
	if (kind == GTM_METRIC_GAUGE && !isfinite(value))
		return;

	/* One block: the struct, then path, shape, family, label names and
	 * values.  Sized generously: escaping keeps lengths, "_seconds" and
	 * "_total" add at most 14, "<>" 2 per label. */
	size_t tl = strlen(tmpl);
	size_t need = 3 * tl + 64;
	for (size_t i = 0; i < nlabels; i++)
		need += 2 * (strlen(labels[i]) + 2) + tl;
	gtm_metric_t *f = gtm_xcalloc(1, sizeof(*f) + need);
	strbuf_t b = { (char *)(f + 1), 0, need };
	f->kind = kind;
	f->count = kind == GTM_METRIC_COUNTER ? count : 0;
	f->value = kind == GTM_METRIC_COUNTER ? (double)count : value;
	f->prom_scale = 1.0;
	f->nlabels = nlabels;

	size_t li = 0;
	f->path = sb_put(&b, "", 0);
	for (size_t i = 0; i < t.nparts; i++) {
		if (i > 0)
			sb_cat(&b, ".", 1);
		if (t.parts[i].label) {
			const char *v = labels[li++];
			const char *src = v[0] ? v : "_";
			for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
				char ch = graphite_safe(*p) ? (char)*p : '_';
				sb_cat(&b, &ch, 1);
			}
		} else {
			sb_cat(&b, t.parts[i].s, t.parts[i].n);
		}
	}
	f->shape = sb_put(&b, "", 0);
	for (size_t i = 0; i < t.nparts; i++) {
		if (i > 0)
			sb_cat(&b, ".", 1);
		if (t.parts[i].label) {
			sb_cat(&b, "<", 1);
			sb_cat(&b, t.parts[i].s, t.parts[i].n);
			sb_cat(&b, ">", 1);
		} else {
			sb_cat(&b, t.parts[i].s, t.parts[i].n);
		}
	}
	f->family = sb_put(&b, "gtm", 3);
	if (t.prom != NULL) {
		sb_cat(&b, "_", 1);
		sb_cat(&b, t.prom, t.promlen);
	} else {
		for (size_t i = 0; i < t.nparts; i++) {
			if (t.parts[i].label)
				continue;
			sb_cat(&b, "_", 1);
			for (size_t k = 0; k < t.parts[i].n; k++) {
				char ch = t.parts[i].s[k];
				if (ch >= 'A' && ch <= 'Z')
					ch = (char)(ch - 'A' + 'a');
				else if (ch == '-')
					ch = '_';
				sb_cat(&b, &ch, 1);
			}
		}
	}
	/* Prometheus wants base units: "_ms" becomes "_seconds" (promtool's
	 * lint rejects the abbreviation). */
	size_t fl = strlen(f->family);
	if (fl > 3 && strcmp(f->family + fl - 3, "_ms") == 0) {
		b.used -= 3;
		b.p[b.used - 1] = '\0';
		sb_cat(&b, "_seconds", 8);
		f->prom_scale = 0.001;
		fl = strlen(f->family);
	}
	if (kind == GTM_METRIC_COUNTER && !(fl > 6 && strcmp(f->family + fl - 6, "_total") == 0))
		sb_cat(&b, "_total", 6);
	li = 0;
	for (size_t i = 0; i < t.nparts; i++) {
		if (!t.parts[i].label)
			continue;
		f->label_names[li] = sb_put(&b, t.parts[i].s, t.parts[i].n);
		f->label_values[li] = sb_put(&b, labels[li], strlen(labels[li]));
		li++;
	}

	if ((s->count & (s->count - 1)) == 0)
		s->figs = gtm_xrealloc(s->figs, (s->count ? 2 * s->count : 1) * sizeof(*s->figs));
	s->figs[s->count++] = f;
}

static size_t va_labels(const char *tmpl, va_list ap, const char **labels)
{
	int n = gtm_metrics_template_check(tmpl);
	if (n < 0)
		log_fatal("metrics, template \"%s\" is malformed (see gtm/metrics/metrics.h)", tmpl);
	for (int i = 0; i < n; i++)
		labels[i] = va_arg(ap, const char *);
	return (size_t)n;
}

void gtm_metrics_counter(gtm_metrics_sink_t *s, const char *tmpl, uint64_t value, ...)
{
	const char *labels[GTM_METRICS_MAX_LABELS];
	va_list ap;
	va_start(ap, value);
	size_t n = va_labels(tmpl, ap, labels);
	va_end(ap);
	put(s, GTM_METRIC_COUNTER, tmpl, value, 0, labels, n);
}

void gtm_metrics_gauge(gtm_metrics_sink_t *s, const char *tmpl, double value, ...)
{
	const char *labels[GTM_METRICS_MAX_LABELS];
	va_list ap;
	va_start(ap, value);
	size_t n = va_labels(tmpl, ap, labels);
	va_end(ap);
	put(s, GTM_METRIC_GAUGE, tmpl, 0, value, labels, n);
}

void gtm_metrics_counterv(gtm_metrics_sink_t *s, const char *tmpl, uint64_t value,
                          const char *const *labels, size_t nlabels)
{
	put(s, GTM_METRIC_COUNTER, tmpl, value, 0, labels, nlabels);
}

void gtm_metrics_gaugev(gtm_metrics_sink_t *s, const char *tmpl, double value,
                        const char *const *labels, size_t nlabels)
{
	put(s, GTM_METRIC_GAUGE, tmpl, 0, value, labels, nlabels);
}

/* ------------------------------------------------------------ rendering */

/* Integers print as integers, the rest with 15 significant digits
 * (Graphite, Prometheus and JSON all read "1e-05"). */
int gtm_metrics_fmt_value(char *buf, size_t len, double v)
{
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
		return snprintf(buf, len, "%lld", (long long)v);
	return snprintf(buf, len, "%.15g", v);
}

static void fig_value(const gtm_metric_t *f, char *buf, size_t len)
{
	if (f->kind == GTM_METRIC_COUNTER)
		snprintf(buf, len, "%" PRIu64, f->count);
	else
		gtm_metrics_fmt_value(buf, len, f->value);
}

static void json_str(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			evbuffer_add_printf(out, "\\u%04x", *p);
		else
			evbuffer_add(out, p, 1);
	}
	evbuffer_add(out, "\"", 1);
}

static char *evbuffer_to_string(struct evbuffer *out, size_t *len)
{
	size_t n = evbuffer_get_length(out);
	char *s = gtm_xmalloc(n + 1);
	evbuffer_remove(out, s, n);
	s[n] = '\0';
	if (len != NULL)
		*len = n;
	evbuffer_free(out);
	return s;
}

char *gtm_metrics_sink_render(const gtm_metrics_sink_t *s, gtm_metrics_format_t fmt, size_t *len)
{
	if (fmt == GTM_METRICS_PROMETHEUS)
		return gtm_prom_render(s, len);
	struct evbuffer *out = evbuffer_new();
	gtm_assert(out != NULL);
	char v[64];
	if (fmt == GTM_METRICS_JSON) {
		evbuffer_add_printf(out, "{\"prefix\":");
		json_str(out, s->prefix);
		evbuffer_add_printf(out, ",\"host\":");
		json_str(out, s->host);
		evbuffer_add_printf(out, ",\"time\":%lld,\"metrics\":[", (long long)s->ts);
	}
	for (size_t i = 0; i < s->count; i++) {
		const gtm_metric_t *f = s->figs[i];
		fig_value(f, v, sizeof(v));
		switch (fmt) {
		case GTM_METRICS_GRAPHITE:
			evbuffer_add_printf(out, "%s.%s.%s %s %lld\n", s->prefix, s->host_esc, f->path, v,
			                    (long long)s->ts);
			break;
		case GTM_METRICS_TEXT:
			evbuffer_add_printf(out, "%s %s\n", f->path, v);
			break;
		case GTM_METRICS_JSON:
			evbuffer_add_printf(out, "%s{\"path\":", i ? "," : "");
			json_str(out, f->path);
			evbuffer_add_printf(out, ",\"type\":\"%s\",\"value\":%s,\"labels\":{",
			                    f->kind == GTM_METRIC_COUNTER ? "counter" : "gauge", v);
			for (size_t k = 0; k < f->nlabels; k++) {
				if (k > 0)
					evbuffer_add(out, ",", 1);
				json_str(out, f->label_names[k]);
				evbuffer_add(out, ":", 1);
				json_str(out, f->label_values[k]);
			}
			evbuffer_add(out, "}}", 2);
			break;
		case GTM_METRICS_PROMETHEUS:
			break;
		}
	}
	if (fmt == GTM_METRICS_JSON)
		evbuffer_add(out, "]}\n", 3);
	return evbuffer_to_string(out, len);
}

/* ------------------------------------------------------------ queue */

/*
 * The points' text in one evbuffer, their lengths in a ring beside it, so
 * that dropping the oldest point is an evbuffer_drain of its length.
 */
struct gtm_metrics_queue {
	struct evbuffer *data;
	uint32_t *lens;
	size_t cap, head, count;
	uint64_t dropped;
};

gtm_metrics_queue_t *gtm_metrics_queue_new(size_t cap)
{
	gtm_metrics_queue_t *q = gtm_xcalloc(1, sizeof(*q));
	q->data = evbuffer_new();
	gtm_assert(q->data != NULL);
	q->cap = cap;
	q->lens = gtm_xcalloc(cap ? cap : 1, sizeof(*q->lens));
	return q;
}

void gtm_metrics_queue_free(gtm_metrics_queue_t *q)
{
	if (q == NULL)
		return;
	evbuffer_free(q->data);
	free(q->lens);
	free(q);
}

size_t gtm_metrics_queue_push(gtm_metrics_queue_t *q, const char *line, size_t len)
{
	size_t dropped = 0;
	if (q->cap == 0) {
		q->dropped++;
		return 1;
	}
	if (q->count == q->cap) {
		evbuffer_drain(q->data, q->lens[q->head]);
		q->head = (q->head + 1) % q->cap;
		q->count--;
		q->dropped++;
		dropped = 1;
	}
	evbuffer_add(q->data, line, len);
	q->lens[(q->head + q->count) % q->cap] = (uint32_t)len;
	q->count++;
	return dropped;
}

size_t gtm_metrics_queue_pop(gtm_metrics_queue_t *q, struct evbuffer *out, size_t max_bytes)
{
	size_t moved = 0, bytes = 0;
	while (q->count > moved) {
		uint32_t l = q->lens[(q->head + moved) % q->cap];
		if (moved > 0 && bytes + l > max_bytes)
			break;
		bytes += l;
		moved++;
	}
	if (moved == 0)
		return 0;
	evbuffer_remove_buffer(q->data, out, bytes);
	q->head = (q->head + moved) % q->cap;
	q->count -= moved;
	return moved;
}

size_t gtm_metrics_queue_count(const gtm_metrics_queue_t *q)
{
	return q->count;
}

size_t gtm_metrics_queue_bytes(const gtm_metrics_queue_t *q)
{
	return evbuffer_get_length(q->data);
}

uint64_t gtm_metrics_queue_dropped(const gtm_metrics_queue_t *q)
{
	return q->dropped;
}

uint32_t gtm_metrics_backoff_ms(unsigned attempt, uint32_t min_ms, uint32_t max_ms, uint32_t rnd)
{
	uint64_t d = min_ms;
	for (unsigned i = 0; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* Jitter downwards only, so max_ms stays a bound, and by at most a
	 * quarter, so the schedule still grows: enough to spread the
	 * reconnects of many gtm nodes after a carbon restart. */
	return (uint32_t)(d - rnd % (d / 4 + 1));
}

/* ------------------------------------------------------------ module */

struct gtm_metrics {
	gtm_carbon_env_t env;       /* base, evdns, buffer, backoff, jitter */
	gtm_metrics_collect_cb_t collect;
	void *arg;
	char *prefix;
	char *host;                 /* raw */
	char *host_esc;
	uint32_t interval;
	carbon_t *carbon;
	size_t ncarbon;
	struct event *tick;
	time_t last_ts;
	gtm_prom_t *prom;
};

uint64_t gtm_metrics_dropped(const gtm_metrics_t *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->ncarbon; i++)
		n += gtm_carbon_dropped(&m->carbon[i]);
	return n;
}

size_t gtm_metrics_buffered(const gtm_metrics_t *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->ncarbon; i++)
		n += gtm_carbon_buffered(&m->carbon[i]);
	return n;
}

const char *gtm_metrics_host(const gtm_metrics_t *m)
{
	return m->host_esc;
}

uint16_t gtm_metrics_prometheus_port(const gtm_metrics_t *m)
{
	return m->prom ? gtm_prom_port(m->prom) : 0;
}

static void add_own(gtm_metrics_t *m, gtm_metrics_sink_t *s)
{
	gtm_metrics_counter(s, "metrics.dropped", gtm_metrics_dropped(m));
	gtm_metrics_gauge(s, "metrics.buffered", (double)gtm_metrics_buffered(m));
}

static gtm_metrics_sink_t *collect(gtm_metrics_t *m, time_t ts)
{
	gtm_metrics_sink_t *s = gtm_metrics_sink_new(m->prefix, m->host, ts);
	if (m->collect != NULL)
		m->collect(s, m->arg);
	add_own(m, s);
	return s;
}

static void collect_and_send(gtm_metrics_t *m, time_t ts)
{
	gtm_metrics_sink_t *s = collect(m, ts);
	size_t len;
	char *text = gtm_metrics_sink_render(s, GTM_METRICS_GRAPHITE, &len);
	for (size_t i = 0; i < m->ncarbon; i++)
		gtm_carbon_send(&m->carbon[i], text, len);
	free(text);
	gtm_metrics_sink_free(s);
}

/* Arms the tick for the next wall-clock multiple of the interval. */
static void arm_tick(gtm_metrics_t *m)
{
	struct timeval now;
	gettimeofday(&now, NULL);
	uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000;
	uint64_t iv = (uint64_t)m->interval * 1000;
	uint64_t next = (now_ms / iv + 1) * iv + TICK_MARGIN_MS;
	uint64_t d = next - now_ms;
	struct timeval tv = { (time_t)(d / 1000), (suseconds_t)((d % 1000) * 1000) };
	evtimer_add(m->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	gtm_metrics_t *m = arg;
	(void)fd;
	(void)what;
	time_t now = time(NULL);
	time_t ts = now - now % (time_t)m->interval;
	/* Without carbon servers the module only answers scrapes and
	 * snapshots, which collect for themselves. */
	if (ts != m->last_ts && m->ncarbon > 0) {
		m->last_ts = ts;
		collect_and_send(m, ts);
	}
	arm_tick(m);
}

static char *prom_scrape(void *arg, size_t *len)
{
	return gtm_metrics_snapshot(arg, GTM_METRICS_PROMETHEUS, len);
}

gtm_metrics_t *gtm_metrics_new(struct event_base *base, const gtm_metrics_conf_t *conf,
                               gtm_metrics_collect_cb_t cb, void *arg)
{
	gtm_metrics_t *m = gtm_xcalloc(1, sizeof(*m));
	m->env.base = base;
	m->collect = cb;
	m->arg = arg;
	m->prefix = gtm_xstrdup(conf->prefix ? conf->prefix : GTM_METRICS_DEFAULT_PREFIX);
	if (conf->hostname != NULL) {
		m->host = gtm_xstrdup(conf->hostname);
	} else {
		char h[256] = "";
		if (gethostname(h, sizeof(h) - 1) != 0 || h[0] == '\0') {
			log_err("metrics, cannot get the host name (%s); set metrics.hostname",
			        strerror(errno));
			free(m->prefix);
			free(m);
			return NULL;
		}
		m->host = gtm_xstrdup(h);
	}
	size_t hl = strlen(m->host) + 2;
	m->host_esc = gtm_xmalloc(hl);
	gtm_metrics_escape(m->host_esc, hl, m->host);
	m->interval = conf->interval ? conf->interval : GTM_METRICS_DEFAULT_INTERVAL;
	m->env.buffer = conf->buffer;
	m->env.backoff_min_ms = conf->backoff_min_ms ? conf->backoff_min_ms : GTM_METRICS_BACKOFF_MIN_MS;
	m->env.backoff_max_ms = conf->backoff_max_ms ? conf->backoff_max_ms : GTM_METRICS_BACKOFF_MAX_MS;
	struct timeval now;
	gettimeofday(&now, NULL);
	m->env.rnd = (uint32_t)(now.tv_usec ^ (now.tv_sec << 11) ^ (getpid() << 3)) | 1;

	if (conf->prometheus != NULL) {
		m->prom = gtm_prom_new(base, conf->prometheus, prom_scrape, m);
		if (m->prom == NULL) {
			gtm_metrics_free(m);
			return NULL;
		}
	}

	m->ncarbon = conf->ncarbon;
	m->carbon = gtm_xcalloc(conf->ncarbon ? conf->ncarbon : 1, sizeof(*m->carbon));
	for (size_t i = 0; i < conf->ncarbon; i++) {
		gtm_carbon_init(&m->carbon[i], &m->env, &conf->carbon[i]);
	}
	for (size_t i = 0; i < m->ncarbon; i++)
		gtm_carbon_start(&m->carbon[i]);

	m->tick = evtimer_new(base, on_tick, m);
	arm_tick(m);
	log_info("metrics, started (prefix %s.%s, every %u s, %zu carbon servers, prometheus %s)",
	         m->prefix, m->host_esc, m->interval, m->ncarbon,
	         conf->prometheus ? conf->prometheus : "off");
	return m;
}

void gtm_metrics_free(gtm_metrics_t *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->ncarbon; i++) {
		gtm_carbon_clear(&m->carbon[i]);
	}
	free(m->carbon);
	if (m->env.dns != NULL)
		evdns_base_free(m->env.dns, 0);
	if (m->tick != NULL)
		event_free(m->tick);
	gtm_prom_free(m->prom);
	free(m->prefix);
	free(m->host);
	free(m->host_esc);
	free(m);
}

size_t gtm_metrics_flush(gtm_metrics_t *m, int timeout_ms)
{
	collect_and_send(m, time(NULL));
	return gtm_carbon_flush(m->carbon, m->ncarbon, timeout_ms);
}

char *gtm_metrics_snapshot(gtm_metrics_t *m, gtm_metrics_format_t fmt, size_t *len)
{
	gtm_metrics_sink_t *s = collect(m, time(NULL));
	char *text = gtm_metrics_sink_render(s, fmt, len);
	gtm_metrics_sink_free(s);
	return text;
}

