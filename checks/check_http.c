/*
 * http and https probes (see check_http.h): a connect through
 * chk_connect_start(), then a bufferevent -- plain, or OpenSSL over the
 * connected socket -- that writes the prepared request and feeds what it
 * reads to the matcher until it decides.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "checks/check_http.h"
#include "checks/check_tcp.h"
#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"

/* ---- the matcher (pure) ------------------------------------------------ */

#define MAX_LINE 8192          /* longest status or header line accepted */
#define MAX_HEADERS 65536      /* status line plus headers */

void chk_http_kmp_build(const char *needle, size_t n, uint32_t *table)
{
	if (n == 0)
		return;
	table[0] = 0;
	uint32_t k = 0;
	for (size_t i = 1; i < n; i++) {
		while (k > 0 && needle[i] != needle[k])
			k = table[k - 1];
		if (needle[i] == needle[k])
			k++;
		table[i] = k;
	}
}

void chk_http_match_init(chk_http_match_t *m, const uint16_t *status, size_t nstatus,
                         const char *needle, const uint32_t *kmp, uint32_t body_max)
{
	*m = (chk_http_match_t){
		.status = status, .nstatus = nstatus, .needle = needle,
		.needle_len = needle ? strlen(needle) : 0, .kmp = kmp, .body_max = body_max,
		.content_length = -1, .result = CHK_HTTP_MORE,
	};
}

int chk_http_status_parse(const char *line, size_t len, int *status)
{
	/* HTTP/d.d SP ddd [SP reason] */
	if (len < 12 || memcmp(line, "HTTP/", 5) != 0 || !isdigit((unsigned char)line[5]) ||
	    line[6] != '.' || !isdigit((unsigned char)line[7]) || line[8] != ' ')
		return GTM_EPARSE;
	int code = 0;
	for (int i = 9; i < 12; i++) {
		if (!isdigit((unsigned char)line[i]))
			return GTM_EPARSE;
		code = code * 10 + (line[i] - '0');
	}
	if (len > 12 && line[12] != ' ')
		return GTM_EPARSE;
	if (code < 100)
		return GTM_EPARSE;
	*status = code;
	return 0;
}

bool chk_http_status_ok(const uint16_t *list, size_t n, int status)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == status)
			return true;
	return false;
}

static int decide(chk_http_match_t *m, int result)
{
	m->phase = 3;
	m->result = result;
	return result;
}

static int body_done(chk_http_match_t *m)
{
	if (m->body_seen >= m->body_max)
		return decide(m, CHK_FAIL_HTTP_BODY);
	if (m->content_length >= 0 && m->body_seen >= (uint64_t)m->content_length)
		return decide(m, CHK_FAIL_HTTP_BODY);
	return CHK_HTTP_MORE;
}

/* A complete line (without CR LF) of the status or header block. */
static int end_line(chk_http_match_t *m)
{
	size_t len = m->line_len;
	if (len && m->line[len - 1] == '\r')
		len--;
	if (m->phase == 0) {
		if (chk_http_status_parse(m->line, len, &m->status_code) != 0)
			return decide(m, CHK_FAIL_PROTOCOL);
		if (m->status_code >= 100 && m->status_code < 200) {
			/* An interim 1xx response: skip its headers, a final
			 * one follows. */
			m->status_code = 0;
			m->interim = true;
			m->phase = 1;
			return CHK_HTTP_MORE;
		}
		if (!chk_http_status_ok(m->status, m->nstatus, m->status_code))
			return decide(m, CHK_FAIL_HTTP_STATUS);
		if (m->needle == NULL)
			return decide(m, CHK_OK);
		m->phase = 1;
		return CHK_HTTP_MORE;
	}
	if (len == 0 && m->interim) {
		m->interim = false;
		m->phase = 0;
		return CHK_HTTP_MORE;
	}
	if (len == 0) {
		/* The empty line: headers end, the body starts. */
		m->phase = 2;
		return body_done(m);
	}
	static const char cl[] = "content-length:";
	if (len > sizeof(cl) - 1 && strncasecmp(m->line, cl, sizeof(cl) - 1) == 0) {
		const char *p = m->line + sizeof(cl) - 1;
		const char *end = m->line + len;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		int64_t v = 0;
		bool any = false;
		while (p < end && isdigit((unsigned char)*p) && v < (INT64_C(1) << 50)) {
			v = v * 10 + (*p++ - '0');
			any = true;
		}
		if (any)
			m->content_length = v;
	}
	return CHK_HTTP_MORE;
}

int chk_http_match_feed(chk_http_match_t *m, const char *data, size_t len)
{
	size_t i = 0;
	while (i < len && m->phase != 3) {
		if (m->phase == 0 || m->phase == 1) {
			char c = data[i++];
			if (++m->header_bytes > MAX_HEADERS)
				return decide(m, CHK_FAIL_PROTOCOL);
			if (c == '\n') {
				int r = end_line(m);
				m->line_len = 0;
				m->line_total = 0;
				if (r != CHK_HTTP_MORE)
					return r;
				continue;
			}
			if (++m->line_total > MAX_LINE)
				return decide(m, CHK_FAIL_PROTOCOL);
			if (m->line_len < sizeof(m->line) - 1)
				m->line[m->line_len++] = c;
			continue;
		}
		/* Body: a streaming KMP search, so a match split across reads is
		 * found without keeping the body. */
		size_t room = len - i;
		uint64_t limit = m->body_max - m->body_seen;
		if (m->content_length >= 0 && (uint64_t)m->content_length - m->body_seen < limit)
			limit = (uint64_t)m->content_length - m->body_seen;
		if (room > limit)
			room = (size_t)limit;
		for (size_t j = 0; j < room; j++) {
			char c = data[i + j];
			while (m->matched > 0 && c != m->needle[m->matched])
				m->matched = m->kmp[m->matched - 1];
			if (c == m->needle[m->matched])
				m->matched++;
			if (m->matched == m->needle_len)
				return decide(m, CHK_OK);
		}
		m->body_seen += room;
		i += room;
		int r = body_done(m);
		if (r != CHK_HTTP_MORE)
			return r;
	}
	return m->result;
}

chk_reason_t chk_http_match_eof(chk_http_match_t *m)
{
	if (m->phase == 3)
		return (chk_reason_t)m->result;
	if (m->phase == 2)
		return (chk_reason_t)decide(m, CHK_FAIL_HTTP_BODY);
	/* Headers cut short.  A status that was acceptable but whose headers
	 * never ended still fails: the server broke the response. */
	return (chk_reason_t)decide(m, CHK_FAIL_PROTOCOL);
}

/* ---- per-engine TLS contexts ------------------------------------------- */

/* One SSL_CTX per CA file (NULL = the system store), shared by every https
 * target of the engine: loading a CA store costs milliseconds and memory,
 * so it is not done per target. */
typedef struct tls_ctx {
	struct tls_ctx *next;
	char *ca_file;
	SSL_CTX *ctx;
} tls_ctx_t;

static SSL_CTX *tls_ctx_get(chk_engine_t *e, const char *ca_file)
{
	tls_ctx_t **slot = (tls_ctx_t **)chk_engine_slot(e, CHK_TYPE_HTTPS);
	for (tls_ctx_t *c = *slot; c; c = c->next)
		if ((c->ca_file == NULL && ca_file == NULL) ||
		    (c->ca_file && ca_file && strcmp(c->ca_file, ca_file) == 0))
			return c->ctx;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return NULL;
	int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
	                 : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		char buf[256];
		ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
		log_err("check, CA %s, cannot load (%s)", ca_file ? ca_file : "system store", buf);
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	tls_ctx_t *c = gtm_xcalloc(1, sizeof(*c));
	c->ca_file = ca_file ? gtm_xstrdup(ca_file) : NULL;
	c->ctx = ctx;
	c->next = *slot;
	*slot = c;
	return ctx;
}

static void tls_engine_free(chk_engine_t *e)
{
	tls_ctx_t **slot = (tls_ctx_t **)chk_engine_slot(e, CHK_TYPE_HTTPS);
	tls_ctx_t *c = *slot;
	while (c) {
		tls_ctx_t *next = c->next;
		SSL_CTX_free(c->ctx);
		free(c->ca_file);
		free(c);
		c = next;
	}
	*slot = NULL;
}

/* ---- the probe --------------------------------------------------------- */

typedef struct http_prep {
	char *request;
	size_t request_len;
	uint32_t *kmp;
	SSL_CTX *ctx;              /* https; owned by the engine */
	char *verify_name;         /* host name or IP checked in the certificate */
	bool verify_ip;
	bool sni;                  /* send verify_name as SNI */
} http_prep_t;

typedef struct http_probe {
	chk_connect_t *conn;
	struct bufferevent *bev;
	bool tls_done;
	chk_http_match_t m;
} http_probe_t;

static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int http_prepare(chk_target_t *t)
{
	const chk_params_t *p = &t->p;
	http_prep_t *hp = gtm_xcalloc(1, sizeof(*hp));
	t->prep = hp;
	bool tls = p->type == CHK_TYPE_HTTPS;
	uint16_t dport = tls ? 443 : 80;
	const char *host = p->http.host;
	char hostbuf[96];
	if (host == NULL) {
		snprintf(hostbuf, sizeof(hostbuf), t->sa.ss_family == AF_INET6 ? "[%s]" : "%s", t->ip);
		host = hostbuf;
	}
	char *hosthdr = p->port == dport ? gtm_xstrdup(host) : gtm_xasprintf("%s:%u", host, p->port);
	hp->request = gtm_xasprintf("%s %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: gtm-check\r\n"
	                            "Accept: */*\r\nConnection: close\r\n\r\n",
	                            p->http.method == CHK_HTTP_HEAD ? "HEAD" : "GET", p->http.path,
	                            hosthdr);
	free(hosthdr);
	hp->request_len = strlen(hp->request);
	if (p->http.body && p->http.method != CHK_HTTP_HEAD) {
		size_t n = strlen(p->http.body);
		hp->kmp = gtm_xcalloc(n, sizeof(*hp->kmp));
		chk_http_kmp_build(p->http.body, n, hp->kmp);
	}
	if (tls) {
		hp->ctx = tls_ctx_get(t->engine, p->http.ca_file);
		if (hp->ctx == NULL)
			return GTM_EINVAL;
		const char *name = p->http.host ? p->http.host : t->ip;
		hp->verify_name = gtm_xstrdup(name);
		hp->verify_ip = is_ip_literal(name);
		hp->sni = !hp->verify_ip;   /* RFC 6066: no IP literals in SNI */
	}
	return 0;
}

static void http_free(chk_target_t *t)
{
	http_prep_t *hp = t->prep;
	if (hp == NULL)
		return;
	free(hp->request);
	free(hp->kmp);
	free(hp->verify_name);
	free(hp);
	t->prep = NULL;
}

static void probe_free(http_probe_t *pr)
{
	chk_connect_cancel(pr->conn);
	if (pr->bev)
		bufferevent_free(pr->bev);   /* closes the socket, frees the SSL */
	free(pr);
}

static void finish(chk_target_t *t, chk_reason_t r)
{
	http_probe_t *pr = t->probe;
	t->probe = NULL;
	probe_free(pr);
	chk_done(t, r);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	chk_target_t *t = arg;
	http_probe_t *pr = t->probe;
	struct evbuffer *in = bufferevent_get_input(bev);
	int r = CHK_HTTP_MORE;
	while (evbuffer_get_length(in) > 0 && r == CHK_HTTP_MORE) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		r = chk_http_match_feed(&pr->m, v.iov_base, v.iov_len);
		evbuffer_drain(in, v.iov_len);
	}
	if (r != CHK_HTTP_MORE)
		finish(t, (chk_reason_t)r);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	chk_target_t *t = arg;
	http_probe_t *pr = t->probe;
	bool tls = t->p.type == CHK_TYPE_HTTPS;
	if (what & BEV_EVENT_CONNECTED) {
		pr->tls_done = true;
		return;
	}
	if (tls && !pr->tls_done) {
		unsigned long err = bufferevent_get_openssl_error(bev);
		if (err) {
			char buf[256];
			ERR_error_string_n(err, buf, sizeof(buf));
			log_debug("check %s, %s, tls handshake failed (%s)", t->p.name, t->addr_str, buf);
		}
		while (bufferevent_get_openssl_error(bev))
			;
		finish(t, CHK_FAIL_TLS);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* Bytes still buffered were fed by on_read already. */
		finish(t, chk_http_match_eof(&pr->m));
		return;
	}
	if (tls)
		while (bufferevent_get_openssl_error(bev))
			;
	finish(t, CHK_FAIL_PROTOCOL);
}

static void on_connected(chk_target_t *t, int fd, chk_reason_t reason, void *arg)
{
	http_probe_t *pr = t->probe;
	http_prep_t *hp = t->prep;
	pr->conn = NULL;
	if (fd < 0) {
		finish(t, reason);
		return;
	}
	struct event_base *base = chk_engine_base(t->engine);
	if (t->p.type == CHK_TYPE_HTTPS) {
		SSL *ssl = SSL_new(hp->ctx);
		if (ssl == NULL) {
			close(fd);
			finish(t, CHK_FAIL_TLS);
			return;
		}
		if (hp->sni)
			SSL_set_tlsext_host_name(ssl, hp->verify_name);
		if (t->p.http.tls_verify) {
			SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
			if (hp->verify_ip)
				X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), hp->verify_name);
			else
				SSL_set1_host(ssl, hp->verify_name);
		} else {
			SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		}
		pr->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
		                                         BEV_OPT_CLOSE_ON_FREE);
		if (pr->bev == NULL) {
			SSL_free(ssl);
			close(fd);
			finish(t, CHK_FAIL_TLS);
			return;
		}
		/* Backends often close without close_notify; that is an EOF,
		 * not a TLS failure. */
		bufferevent_openssl_set_allow_dirty_shutdown(pr->bev, 1);
	} else {
		pr->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
		pr->tls_done = true;
	}
	bufferevent_setcb(pr->bev, on_read, NULL, on_event, t);
	bufferevent_write(pr->bev, hp->request, hp->request_len);
	bufferevent_enable(pr->bev, EV_READ | EV_WRITE);
}

void chk_http_start(chk_target_t *t)
{
	const chk_params_t *p = &t->p;
	http_prep_t *hp = t->prep;
	http_probe_t *pr = gtm_xcalloc(1, sizeof(*pr));
	bool body = p->http.body && p->http.method != CHK_HTTP_HEAD;
	chk_http_match_init(&pr->m, p->http.status, p->http.nstatus, body ? p->http.body : NULL,
	                    hp->kmp, p->http.body_max);
	t->probe = pr;
	chk_reason_t r = chk_connect_start(t, on_connected, NULL, &pr->conn);
	if (r != CHK_OK)
		finish(t, r);
}

static void http_cancel(chk_target_t *t)
{
	if (t->probe)
		probe_free(t->probe);
	t->probe = NULL;
}

const chk_ops_t chk_http_ops = {
	.name = "http",
	.prepare = http_prepare,
	.start = chk_http_start,
	.cancel = http_cancel,
	.free = http_free,
};

const chk_ops_t chk_https_ops = {
	.name = "https",
	.prepare = http_prepare,
	.start = chk_http_start,
	.cancel = http_cancel,
	.free = http_free,
	.engine_free = tls_engine_free,
};
