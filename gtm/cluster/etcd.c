/*
 * etcd v3 over its JSON gateway, with libevent's HTTP client.  See etcd.h.
 *
 * A call is one connection, closed from the event loop once the reply (or
 * the failure) has been handed to us; the call's own record (call_t) sits
 * on a list until then, so that gtm_etcd_free() can close what is still
 * open without calling anyone back.
 *
 * The watch is one long request whose reply etcd streams (chunked, one
 * JSON message per line).  A stopped watch's connection cannot be freed
 * from inside its own callbacks, so it goes to a graveyard that a
 * zero-delay timer empties.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/cluster/etcd.h"

/* A watch is quiet while nothing changes; liveness comes from the lease
 * keepalives, so its own read timeout only has to outlast them. */
#define WATCH_TIMEOUT_S (24 * 3600)

typedef struct member {
	char *url;
	char *host;
	uint16_t port;
	bool tls;
	bool host_is_ip;
} member_t;

typedef struct call {
	gtm_etcd_t *e;
	struct evhttp_connection *conn;
	gtm_etcd_cb_t cb;
	void *arg;
	size_t member;
	enum evhttp_request_error error;
	bool failed;             /* the error callback ran */
	char tls_err[160];       /* what OpenSSL said, if anything */
	struct call *prev, *next;
} call_t;

typedef struct watch {
	gtm_etcd_t *e;
	struct evhttp_connection *conn;
	gtm_etcd_watch_cb_t cb;
	void *arg;
	size_t member;
	struct evbuffer *buf;    /* the stream, up to its next full line */
	bool failed;
	enum evhttp_request_error error;
	bool dead;               /* stopped: its callbacks do nothing */
} watch_t;

struct gtm_etcd {
	struct event_base *base;
	member_t *members;
	size_t nmembers, cur;
	uint32_t timeout_ms;
	SSL_CTX *ssl;            /* https members; NULL: none */
	struct evdns_base *dns;  /* members by host name: resolved without
	                          * blocking the control thread; NULL: none */
	call_t *calls;
	watch_t *w;              /* the watch; NULL: none */
	watch_t **grave;         /* stopped watches, freed by `reap` */
	struct evhttp_connection **cgrave;   /* connections of finished calls, likewise */
	size_t ncgrave;
	size_t ngrave;
	struct event *reap;
};

/* ------------------------------------------------------------------------ */
/* JSON helpers                                                             */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json_t *gtm_etcd_b64(const char *s, size_t len)
{
	char *out = gtm_xmalloc((len + 2) / 3 * 4 + 1);
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = B64[(v >> 18) & 63];
		out[o++] = B64[(v >> 12) & 63];
		out[o++] = i + 1 < len ? B64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? B64[v & 63] : '=';
	}
	out[o] = '\0';
	json_t *j = json_string(out);
	free(out);
	return j;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(B64, c) : NULL;
	return p ? (int)(p - B64) : -1;
}

char *gtm_etcd_unb64(const json_t *v, size_t *lenp)
{
	const char *s = v ? json_string_value(v) : "";
	if (s == NULL)
		return NULL;
	size_t n = strlen(s);
	if (n % 4 != 0)
		return NULL;
	char *out = gtm_xmalloc(n / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]);
		int c = s[i + 2] == '=' ? -2 : b64_val(s[i + 2]);
		int d = s[i + 3] == '=' ? -2 : b64_val(s[i + 3]);
		bool last = i + 4 == n;
		if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2) ||
		    ((c == -2 || d == -2) && !last)) {
			free(out);
			return NULL;
		}
		uint32_t x = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 |
		             (uint32_t)(d < 0 ? 0 : d);
		out[o++] = (char)(x >> 16);
		if (c >= 0)
			out[o++] = (char)(x >> 8 & 0xff);
		if (d >= 0)
			out[o++] = (char)(x & 0xff);
	}
	out[o] = '\0';
	if (lenp)
		*lenp = o;
	return out;
}

int64_t gtm_etcd_int(const json_t *v)
{
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	const char *s = json_string_value(v);
	if (s == NULL)
		return 0;
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	return errno || *end || end == s ? 0 : (int64_t)x;
}

json_t *gtm_etcd_prefix_end(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end = gtm_xstrdup(prefix);
	/* The last byte that can be incremented is; everything after it goes. */
	while (n > 0 && (unsigned char)end[n - 1] == 0xff)
		n--;
	json_t *j;
	if (n == 0) {
		j = gtm_etcd_b64("\0", 1);   /* every key */
	} else {
		end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
		j = gtm_etcd_b64(end, n);
	}
	free(end);
	return j;
}

/* ------------------------------------------------------------------------ */
/* Members                                                                  */

static int parse_url(const char *url, member_t *m, char *err, size_t errlen)
{
	const char *p = strncmp(url, "http://", 7) == 0 ? url + 7
	              : strncmp(url, "https://", 8) == 0 ? url + 8 : NULL;
	if (p == NULL) {
		snprintf(err, errlen, "etcd URL %s: expected http://HOST:PORT or https://HOST:PORT", url);
		return GTM_EINVAL;
	}
	m->tls = url[4] == 's';
	const char *colon;
	size_t hlen;
	if (*p == '[') {
		const char *rb = strchr(p, ']');
		if (rb == NULL || rb[1] != ':') {
			snprintf(err, errlen, "etcd URL %s: bad [IPv6]:port", url);
			return GTM_EINVAL;
		}
		colon = rb + 1;
		p++;
		hlen = (size_t)(rb - p);
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "etcd URL %s: no port", url);
			return GTM_EINVAL;
		}
		hlen = (size_t)(colon - p);
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (hlen == 0 || port < 1 || port > 65535 || (*end != '\0' && strcmp(end, "/") != 0)) {
		snprintf(err, errlen, "etcd URL %s: expected http://HOST:PORT", url);
		return GTM_EINVAL;
	}
	m->url = gtm_xstrdup(url);
	m->host = gtm_xmalloc(hlen + 1);
	memcpy(m->host, p, hlen);
	m->host[hlen] = '\0';
	m->port = (uint16_t)port;
	unsigned char buf[16];
	m->host_is_ip = inet_pton(AF_INET, m->host, buf) == 1 || inet_pton(AF_INET6, m->host, buf) == 1;
	return 0;
}

static void watch_free(watch_t *w);

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	gtm_etcd_t *e = arg;
	(void)fd;
	(void)what;
	for (size_t i = 0; i < e->ngrave; i++)
		watch_free(e->grave[i]);
	e->ngrave = 0;
	for (size_t i = 0; i < e->ncgrave; i++)
		evhttp_connection_free(e->cgrave[i]);
	e->ncgrave = 0;
}

/* A connection whose call has completed: freed from the event loop (not
 * from inside its own callback).  libevent's free_on_completion does not
 * free a connection whose request failed. */
static void conn_bury(gtm_etcd_t *e, struct evhttp_connection *c)
{
	e->cgrave = gtm_xrealloc(e->cgrave, (e->ncgrave + 1) * sizeof(*e->cgrave));
	e->cgrave[e->ncgrave++] = c;
	struct timeval zero = { 0, 0 };
	evtimer_add(e->reap, &zero);
}

/* The last OpenSSL error as text. */
static void ssl_error(char *buf, size_t len)
{
	unsigned long code = ERR_get_error();
	if (code)
		ERR_error_string_n(code, buf, len);
	else
		snprintf(buf, len, "%s", strerror(errno));
	ERR_clear_error();
}

static SSL_CTX *tls_ctx_new(const gtm_etcd_tls_t *tls, char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		ssl_error(why, sizeof(why));
		snprintf(err, errlen, "TLS: %s", why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	const char *ca = tls ? tls->ca_file : NULL;
	if ((ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		ssl_error(why, sizeof(why));
		snprintf(err, errlen, "TLS: CA %s cannot be loaded (%s)", ca ? ca : "(system store)", why);
		goto fail;
	}
	if (tls && tls->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1) {
			ssl_error(why, sizeof(why));
			snprintf(err, errlen, "TLS: certificate %s cannot be loaded (%s)", tls->cert_file, why);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			ssl_error(why, sizeof(why));
			snprintf(err, errlen, "TLS: key %s cannot be loaded or does not match %s (%s)",
			         tls->key_file, tls->cert_file, why);
			goto fail;
		}
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

gtm_etcd_t *gtm_etcd_new(struct event_base *base, char *const *urls, size_t n,
                         uint32_t timeout_ms, const gtm_etcd_tls_t *tls, char *err, size_t errlen)
{
	if (n == 0) {
		snprintf(err, errlen, "no etcd URL");
		return NULL;
	}
	gtm_etcd_t *e = gtm_xcalloc(1, sizeof(*e));
	e->base = base;
	e->timeout_ms = timeout_ms ? timeout_ms : 2000;
	e->members = gtm_xcalloc(n, sizeof(*e->members));
	for (size_t i = 0; i < n; i++) {
		if (parse_url(urls[i], &e->members[i], err, errlen) != 0) {
			gtm_etcd_free(e);
			return NULL;
		}
		e->nmembers++;
		if (!e->members[i].host_is_ip && e->dns == NULL) {
			e->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
			if (e->dns == NULL)
				log_warn("cluster, no resolver configuration: etcd host names are resolved "
				         "with getaddrinfo, which blocks the control thread");
		}
		if (e->members[i].tls && e->ssl == NULL) {
			e->ssl = tls_ctx_new(tls, err, errlen);
			if (e->ssl == NULL) {
				gtm_etcd_free(e);
				return NULL;
			}
		}
	}
	e->reap = evtimer_new(base, reap_cb, e);
	return e;
}

const char *gtm_etcd_member(const gtm_etcd_t *e)
{
	return e->members[e->cur].url;
}

/* Moves to the next member (round robin). */
static void next_member(gtm_etcd_t *e)
{
	e->cur = (e->cur + 1) % e->nmembers;
}

static struct evhttp_connection *connect_to(gtm_etcd_t *e, size_t member, uint32_t timeout_ms)
{
	const member_t *m = &e->members[member];
	struct evhttp_connection *c;
	if (m->tls) {
		/* The member's certificate must name the host we dialled. */
		SSL *ssl = SSL_new(e->ssl);
		if (ssl == NULL)
			return NULL;
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		if (m->host_is_ip) {
			X509_VERIFY_PARAM_set1_ip_asc(vp, m->host);
		} else {
			X509_VERIFY_PARAM_set1_host(vp, m->host, 0);
			SSL_set_tlsext_host_name(ssl, m->host);
		}
		struct bufferevent *bev = bufferevent_openssl_socket_new(
			e->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (bev == NULL) {
			SSL_free(ssl);
			return NULL;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		c = evhttp_connection_base_bufferevent_new(e->base, e->dns, bev, m->host, m->port);
	} else {
		c = evhttp_connection_base_new(e->base, e->dns, m->host, m->port);
	}
	if (c == NULL)
		return NULL;
	struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
	evhttp_connection_set_timeout_tv(c, &tv);
	evhttp_connection_set_retries(c, 0);
	return c;
}

static void set_body(struct evhttp_request *req, const member_t *m, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char host[300];
	snprintf(host, sizeof(host), strchr(m->host, ':') ? "[%s]:%u" : "%s:%u", m->host, m->port);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), text, strlen(text));
	free(text);
}

static const char *error_name(enum evhttp_request_error er)
{
	switch (er) {
	case EVREQ_HTTP_TIMEOUT: return "timed out";
	case EVREQ_HTTP_EOF: return "connection closed";
	case EVREQ_HTTP_INVALID_HEADER: return "bad reply";
	case EVREQ_HTTP_BUFFER_ERROR: return "connection failed";
	case EVREQ_HTTP_REQUEST_CANCEL: return "canceled";
	case EVREQ_HTTP_DATA_TOO_LONG: return "reply too long";
	}
	return "failed";
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                    */

static void call_unlink(call_t *c)
{
	gtm_etcd_t *e = c->e;
	if (c->prev)
		c->prev->next = c->next;
	else
		e->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/* Why a TLS connection failed ("certificate verify failed"), or "". */
static void tls_why(struct evhttp_connection *conn, char *buf, size_t len)
{
	buf[0] = '\0';
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	unsigned long code = bev ? bufferevent_get_openssl_error(bev) : 0;
	if (code) {
		snprintf(buf, len, "TLS: ");
		ERR_error_string_n(code, buf + 5, len - 5);
	}
}

static void call_error_cb(enum evhttp_request_error er, void *arg)
{
	call_t *c = arg;
	c->failed = true;
	c->error = er;
	if (c->e->members[c->member].tls)
		tls_why(c->conn, c->tls_err, sizeof(c->tls_err));
}

/* etcd's gRPC codes that mean "try again, maybe elsewhere": Unavailable
 * (14: no leader, leader changed), DeadlineExceeded (4: request timed
 * out), Aborted (10), ResourceExhausted (8). */
static bool code_transient(int64_t code)
{
	return code == 14 || code == 4 || code == 10 || code == 8;
}

static void call_done_cb(struct evhttp_request *req, void *arg)
{
	call_t *c = arg;
	gtm_etcd_t *e = c->e;
	const member_t *m = &e->members[c->member];
	char err[512] = "";
	json_t *reply = NULL;
	int rc = 0;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (req == NULL || code == 0 || c->failed) {
		snprintf(err, sizeof(err), "etcd %s: %s%s%s", m->url,
		         c->failed ? error_name(c->error) : "no reply", c->tls_err[0] ? ", " : "", c->tls_err);
		rc = GTM_EIO;
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		json_error_t jerr;
		reply = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, 0, &jerr);
		if (code != 200) {
			const char *msg = json_string_value(json_object_get(reply, "error"));
			int64_t gcode = gtm_etcd_int(json_object_get(reply, "code"));
			snprintf(err, sizeof(err), "etcd %s: HTTP %d: %s", m->url, code,
			         msg ? msg : "error");
			rc = code >= 500 || code_transient(gcode) ? GTM_EIO
			   : gcode == 5 ? GTM_ENOENT : GTM_EINVAL;
		} else if (!json_is_object(reply)) {
			snprintf(err, sizeof(err), "etcd %s: reply is not JSON (%s)", m->url, jerr.text);
			rc = GTM_EIO;
		}
	}
	/* The member has gone wrong: the caller's next call goes elsewhere
	 * (unless another failure moved it on already). */
	if (rc == GTM_EIO && e->cur == c->member)
		next_member(e);
	call_unlink(c);
	conn_bury(e, c->conn);
	gtm_etcd_cb_t cb = c->cb;
	void *cbarg = c->arg;
	free(c);
	cb(rc, rc == 0 ? reply : NULL, err, cbarg);
	json_decref(reply);
}

int gtm_etcd_call(gtm_etcd_t *e, const char *path, json_t *body, gtm_etcd_cb_t cb, void *arg)
{
	call_t *c = gtm_xcalloc(1, sizeof(*c));
	c->e = e;
	c->cb = cb;
	c->arg = arg;
	c->member = e->cur;
	c->conn = connect_to(e, e->cur, e->timeout_ms);
	if (c->conn == NULL) {
		json_decref(body);
		free(c);
		next_member(e);
		return GTM_EIO;
	}
	struct evhttp_request *req = evhttp_request_new(call_done_cb, c);
	evhttp_request_set_error_cb(req, call_error_cb);
	set_body(req, &e->members[c->member], body);
	json_decref(body);
	if (evhttp_make_request(c->conn, req, EVHTTP_REQ_POST, path) != 0) {
		/* evhttp freed the request */
		evhttp_connection_free(c->conn);
		free(c);
		next_member(e);
		return GTM_EIO;
	}
	c->next = e->calls;
	if (e->calls)
		e->calls->prev = c;
	e->calls = c;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The watch                                                                */

static void watch_bury(gtm_etcd_t *e)
{
	watch_t *w = e->w;
	if (w == NULL)
		return;
	w->dead = true;
	e->w = NULL;
	e->grave = gtm_xrealloc(e->grave, (e->ngrave + 1) * sizeof(*e->grave));
	e->grave[e->ngrave++] = w;
	struct timeval zero = { 0, 0 };
	evtimer_add(e->reap, &zero);
}

void gtm_etcd_watch_stop(gtm_etcd_t *e)
{
	watch_bury(e);
}

static void watch_error_cb(enum evhttp_request_error er, void *arg)
{
	watch_t *w = arg;
	w->failed = true;
	w->error = er;
}

/* Hands every complete line of the stream to the callback.  Returns false
 * when the callback stopped the watch. */
static bool watch_lines(watch_t *w, struct evhttp_request *req)
{
	gtm_etcd_t *e = w->e;
	evbuffer_add_buffer(w->buf, evhttp_request_get_input_buffer(req));
	while (!w->dead) {
		size_t len;
		char *line = evbuffer_readln(w->buf, &len, EVBUFFER_EOL_LF);
		if (line == NULL)
			break;
		json_error_t jerr;
		json_t *msg = json_loadb(line, len, 0, &jerr);
		free(line);
		if (msg == NULL)
			continue;
		const json_t *res = json_object_get(msg, "result");
		const json_t *error = json_object_get(msg, "error");
		if (res) {
			w->cb(res, "", w->arg);
		} else if (error) {
			char err[512];
			const char *m = json_string_value(json_object_get(error, "message"));
			snprintf(err, sizeof(err), "etcd %s: watch: %s", e->members[w->member].url,
			         m ? m : "error");
			watch_bury(e);
			w->cb(NULL, err, w->arg);
		}
		json_decref(msg);
	}
	return !w->dead;
}

static void watch_chunk_cb(struct evhttp_request *req, void *arg)
{
	watch_t *w = arg;
	if (!w->dead)
		watch_lines(w, req);
}

static void watch_done_cb(struct evhttp_request *req, void *arg)
{
	watch_t *w = arg;
	if (w->dead)
		return;
	gtm_etcd_t *e = w->e;
	char err[512];
	const char *url = e->members[w->member].url;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (req && code == 200 && !watch_lines(w, req))
		return;
	if (w->failed || code == 0)
		snprintf(err, sizeof(err), "etcd %s: watch: %s", url,
		         w->failed ? error_name(w->error) : "no reply");
	else if (code != 200)
		snprintf(err, sizeof(err), "etcd %s: watch: HTTP %d", url, code);
	else
		snprintf(err, sizeof(err), "etcd %s: watch stream ended", url);
	if (e->cur == w->member)
		next_member(e);
	watch_bury(e);
	w->cb(NULL, err, w->arg);
}

static void watch_free(watch_t *w)
{
	if (w->conn)
		evhttp_connection_free(w->conn);   /* cancels its request, no callback */
	evbuffer_free(w->buf);
	free(w);
}

int gtm_etcd_watch(gtm_etcd_t *e, json_t *create, gtm_etcd_watch_cb_t cb, void *arg)
{
	gtm_etcd_watch_stop(e);
	json_t *body = json_pack("{s:o}", "create_request", create);
	watch_t *w = gtm_xcalloc(1, sizeof(*w));
	w->e = e;
	w->member = e->cur;
	w->cb = cb;
	w->arg = arg;
	w->buf = evbuffer_new();
	w->conn = connect_to(e, e->cur, WATCH_TIMEOUT_S * 1000u);
	if (w->conn == NULL) {
		json_decref(body);
		watch_free(w);
		next_member(e);
		return GTM_EIO;
	}
	struct evhttp_request *req = evhttp_request_new(watch_done_cb, w);
	evhttp_request_set_chunked_cb(req, watch_chunk_cb);
	evhttp_request_set_error_cb(req, watch_error_cb);
	set_body(req, &e->members[w->member], body);
	json_decref(body);
	if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, "/v3/watch") != 0) {
		watch_free(w);
		next_member(e);
		return GTM_EIO;
	}
	e->w = w;
	return 0;
}

/* ------------------------------------------------------------------------ */

void gtm_etcd_free(gtm_etcd_t *e)
{
	if (e == NULL)
		return;
	/* Each call's callback hears "canceled", so that its context can be
	 * freed; none of them may start a new call now. */
	while (e->calls) {
		call_t *c = e->calls;
		call_unlink(c);
		evhttp_connection_free(c->conn);   /* frees its request without calling back */
		gtm_etcd_cb_t cb = c->cb;
		void *arg = c->arg;
		char err[300];
		snprintf(err, sizeof(err), "etcd %s: canceled", e->members[c->member].url);
		free(c);
		cb(GTM_EIO, NULL, err, arg);
	}
	if (e->w)
		watch_free(e->w);
	for (size_t i = 0; i < e->ngrave; i++)
		watch_free(e->grave[i]);
	free(e->grave);
	for (size_t i = 0; i < e->ncgrave; i++)
		evhttp_connection_free(e->cgrave[i]);
	free(e->cgrave);
	if (e->reap)
		event_free(e->reap);
	for (size_t i = 0; i < e->nmembers; i++) {
		free(e->members[i].url);
		free(e->members[i].host);
	}
	free(e->members);
	if (e->ssl)
		SSL_CTX_free(e->ssl);
	if (e->dns)
		evdns_base_free(e->dns, 1);
	free(e);
}
