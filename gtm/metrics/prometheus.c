/*
 * Prometheus text exposition (format 0.0.4) of a metrics sink, and the
 * evhttp listener that serves it.
 *
 * The names come from the templates (gtm/metrics/metrics.h); this file only groups
 * the figures into families, because the format wants every series of a
 * family together under one "# TYPE" line, and escapes label values.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gtm/metrics/prometheus.h"

/* ------------------------------------------------------------ rendering */

typedef struct ent {
	const gtm_metric_t *f;
	size_t idx;
} ent_t;

static int cmp_labels(const gtm_metric_t *a, const gtm_metric_t *b)
{
	size_t n = a->nlabels < b->nlabels ? a->nlabels : b->nlabels;
	for (size_t i = 0; i < n; i++) {
		int c = strcmp(a->label_names[i], b->label_names[i]);
		if (c == 0)
			c = strcmp(a->label_values[i], b->label_values[i]);
		if (c != 0)
			return c;
	}
	return a->nlabels < b->nlabels ? -1 : a->nlabels > b->nlabels;
}

static int cmp_ent(const void *pa, const void *pb)
{
	const ent_t *a = pa, *b = pb;
	int c = strcmp(a->f->family, b->f->family);
	if (c == 0)
		c = cmp_labels(a->f, b->f);
	if (c == 0)
		c = a->idx < b->idx ? -1 : a->idx > b->idx;
	return c;
}

static void label_value(struct evbuffer *out, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*p == '"')
			evbuffer_add(out, "\\\"", 2);
		else if (*p == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, p, 1);
	}
}

char *gtm_prom_render(const gtm_metrics_sink_t *s, size_t *len)
{
	size_t n = gtm_metrics_sink_count(s);
	ent_t *e = gtm_xcalloc(n ? n : 1, sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		e[i].f = gtm_metrics_sink_get(s, i);
		e[i].idx = i;
	}
	qsort(e, n, sizeof(*e), cmp_ent);

	struct evbuffer *out = evbuffer_new();
	gtm_assert(out != NULL);
	const char *host = gtm_metrics_sink_host(s);
	const gtm_metric_t *fam = NULL, *prev = NULL;
	for (size_t i = 0; i < n; i++) {
		const gtm_metric_t *f = e[i].f;
		if (fam == NULL || strcmp(fam->family, f->family) != 0) {
			fam = f;
			prev = NULL;
			/* The HELP names the Graphite path, so that one dashboard's
			 * figure is easy to find in the other. */
			evbuffer_add_printf(out, "# HELP %s Graphite path <prefix>.<host>.%s%s\n", f->family,
			                    f->shape, f->prom_scale != 1.0 ? " (in milliseconds there)" : "");
			evbuffer_add_printf(out, "# TYPE %s %s\n", f->family,
			                    f->kind == GTM_METRIC_COUNTER ? "counter" : "gauge");
		}
		if (f->kind != fam->kind)
			continue;                   /* same name, other kind: a caller's mistake */
		if (prev != NULL && cmp_labels(prev, f) == 0)
			continue;                   /* the same series twice: the first wins */
		prev = f;
		evbuffer_add_printf(out, "%s{host=\"", f->family);
		label_value(out, host);
		evbuffer_add(out, "\"", 1);
		for (size_t k = 0; k < f->nlabels; k++) {
			evbuffer_add_printf(out, ",%s=\"", f->label_names[k]);
			label_value(out, f->label_values[k]);
			evbuffer_add(out, "\"", 1);
		}
		char v[64];
		if (f->kind == GTM_METRIC_COUNTER && f->prom_scale == 1.0)
			snprintf(v, sizeof(v), "%" PRIu64, f->count);
		else
			gtm_metrics_fmt_value(v, sizeof(v), f->value * f->prom_scale);
		evbuffer_add_printf(out, "} %s\n", v);
	}
	free(e);

	size_t l = evbuffer_get_length(out);
	char *text = gtm_xmalloc(l + 1);
	evbuffer_remove(out, text, l);
	text[l] = '\0';
	evbuffer_free(out);
	if (len != NULL)
		*len = l;
	return text;
}

/* ------------------------------------------------------------ HTTP */

struct gtm_prom {
	struct evhttp *http;
	uint16_t port;
	gtm_prom_scrape_cb_t scrape;
	void *arg;
};

static void free_body(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	gtm_prom_t *p = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	if (!(evhttp_request_get_command(req) & (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))) {
		evhttp_add_header(hdr, "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	struct evbuffer *body = evbuffer_new();
	if (body == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (path != NULL && strcmp(path, "/metrics") == 0) {
		size_t len;
		char *text = p->scrape(p->arg, &len);
		evbuffer_add_reference(body, text, len, free_body, NULL);
		evhttp_add_header(hdr, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, HTTP_OK, "OK", body);
	} else if (path != NULL && strcmp(path, "/") == 0) {
		evbuffer_add_printf(body, "gtm metrics: /metrics\n");
		evhttp_add_header(hdr, "Content-Type", "text/plain; charset=utf-8");
		evhttp_send_reply(req, HTTP_OK, "OK", body);
	} else {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
	}
	evbuffer_free(body);
}

gtm_prom_t *gtm_prom_new(struct event_base *base, const char *listen, gtm_prom_scrape_cb_t scrape,
                         void *arg)
{
	char addr[INET6_ADDRSTRLEN + 1];
	uint16_t port;
	if (gtm_metrics_listen_parse(listen, addr, sizeof(addr), &port) != 0) {
		log_err("metrics, prometheus %s is not an address", listen);
		return NULL;
	}
	gtm_prom_t *p = gtm_xcalloc(1, sizeof(*p));
	p->scrape = scrape;
	p->arg = arg;
	p->http = evhttp_new(base);
	gtm_assert(p->http != NULL);
	/* Every common method reaches on_request, which answers 405 with an
	 * Allow header to all but GET and HEAD (evhttp itself would say 501). */
	evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	                                    EVHTTP_REQ_PATCH);
	evhttp_set_timeout(p->http, 10);
	evhttp_set_max_headers_size(p->http, 16384);
	evhttp_set_max_body_size(p->http, 4096);
	evhttp_set_gencb(p->http, on_request, p);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(p->http, addr, port);
	if (bs == NULL) {
		log_err("metrics, prometheus %s, cannot listen (%s)", listen,
		        evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		evhttp_free(p->http);
		free(p);
		return NULL;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		p->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                         : ((struct sockaddr_in *)&ss)->sin_port);
	log_info("metrics, prometheus listening on %s%s%s:%u", strchr(addr, ':') ? "[" : "", addr,
	         strchr(addr, ':') ? "]" : "", p->port);
	return p;
}

void gtm_prom_free(gtm_prom_t *p)
{
	if (p == NULL)
		return;
	evhttp_free(p->http);
	free(p);
}

uint16_t gtm_prom_port(const gtm_prom_t *p)
{
	return p->port;
}
