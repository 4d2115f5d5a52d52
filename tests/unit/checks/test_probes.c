/*
 * Every probe type through the engine and its change callback, against
 * real backends on 127.0.0.1 that run on the test's own event base: a TCP
 * listener, an HTTP server (plain and TLS, with a self-signed certificate
 * made by the openssl CLI at test time), a DNS responder (UDP and TCP),
 * and commands for exec.  Only loopback; each case is bounded to a few
 * seconds of wall time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "checks/check.h"
#include "common/log.h"

#define MAXT 32

/* ---- harness ------------------------------------------------------------ */

typedef struct tctx {
	struct event_base *base;
	struct event *tick;
	chk_engine_t *e;
	chk_state_t cb_state[MAXT];     /* as told by the callback, per user id */
	chk_reason_t cb_reason[MAXT];
	int cb_count[MAXT];
	uint64_t cb_at[MAXT];           /* ms, monotonic */
} tctx_t;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_change(uint32_t id, const chk_status_t *st, void *arg)
{
	tctx_t *c = arg;
	assert_true(id < MAXT);
	assert_int_equal(st->user_id, id);
	assert_int_not_equal(st->state, st->prev_state);
	c->cb_state[id] = st->state;
	c->cb_reason[id] = st->change_reason;
	c->cb_count[id]++;
	c->cb_at[id] = now_ms();
}

static void noop(evutil_socket_t fd, short what, void *arg)
{
}

static void ctx_init(tctx_t *c)
{
	memset(c, 0, sizeof(*c));
	c->base = event_base_new();
	c->tick = event_new(c->base, -1, EV_PERSIST, noop, NULL);
	struct timeval tv = { 0, 10000 };
	event_add(c->tick, &tv);
	c->e = chk_engine_new(c->base, on_change, c);
}

static void ctx_free(tctx_t *c)
{
	chk_engine_free(c->e);
	event_free(c->tick);
	event_base_free(c->base);
}

/* Runs the loop for `ms`. */
static void run_for(tctx_t *c, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end)
		event_base_loop(c->base, EVLOOP_ONCE);
}

/* Runs the loop until every id in ids[] has the state in want[] (as told
 * by the callback), or max_ms passes; returns true on success. */
static bool wait_states(tctx_t *c, const int *ids, const chk_state_t *want, size_t n, int max_ms)
{
	uint64_t end = now_ms() + (uint64_t)max_ms;
	for (;;) {
		size_t ok = 0;
		for (size_t i = 0; i < n; i++)
			ok += c->cb_state[ids[i]] == want[i];
		if (ok == n)
			return true;
		if (now_ms() >= end)
			break;
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	for (size_t i = 0; i < n; i++)
		if (c->cb_state[ids[i]] != want[i])
			print_error("target %d: %s (%s), want %s\n", ids[i], chk_state_name(c->cb_state[ids[i]]),
			            chk_reason_name(c->cb_reason[ids[i]]), chk_state_name(want[i]));
	return false;
}

/* Fast params: interval 300 ms, timeout 150 ms, recheck 50 ms. */
static chk_params_t fast(chk_type_t type, uint16_t port)
{
	chk_params_t p;
	chk_params_init(&p, type);
	p.port = port;
	p.interval_ms = 300;
	p.timeout_ms = 150;
	p.recheck_ms = 50;
	return p;
}

static void add(tctx_t *c, const chk_params_t *p, uint32_t id)
{
	chk_target_spec_t s = { .params = p, .address = "127.0.0.1", .user_id = id };
	size_t before = chk_engine_target_count(c->e);
	assert_int_equal(chk_target_add(c->e, &s), (int)before);
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	return ntohs(sin.sin_port);
}

/* A port on which nothing listens (bound, then closed). */
static uint16_t closed_port(int type)
{
	int fd = socket(AF_INET, type, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	uint16_t port = local_port(fd);
	close(fd);
	return port;
}

static struct evconnlistener *listen_on(tctx_t *c, evconnlistener_cb cb, void *arg, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct evconnlistener *l = evconnlistener_new_bind(
		c->base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 64,
		(struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(l);
	*port = local_port(evconnlistener_get_fd(l));
	return l;
}

/* ---- tcp -------------------------------------------------------------- */

static void accept_close(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                         void *arg)
{
	(*(int *)arg)++;
	close(fd);
}

static void test_tcp(void **state)
{
	tctx_t c;
	ctx_init(&c);
	int accepted = 0;
	uint16_t port;
	struct evconnlistener *l = listen_on(&c, accept_close, &accepted, &port);
	chk_params_t up = fast(CHK_TYPE_TCP, port), down = fast(CHK_TYPE_TCP, closed_port(SOCK_STREAM));
	add(&c, &up, 0);
	add(&c, &down, 1);
	assert_int_equal(chk_engine_unknown_count(c.e), 2);
	chk_engine_start(c.e);
	int ids[] = { 0, 1 };
	chk_state_t want[] = { CHK_STATE_UP, CHK_STATE_DOWN };
	assert_true(wait_states(&c, ids, want, 2, 2000));
	assert_int_equal(c.cb_reason[1], CHK_FAIL_CONNECT_REFUSED);
	assert_int_equal(chk_engine_unknown_count(c.e), 0);
	assert_true(accepted >= 1);
	/* one callback per change */
	assert_int_equal(c.cb_count[0], 1);
	assert_int_equal(c.cb_count[1], 1);
	/* kill the backend: down (refused) */
	evconnlistener_free(l);
	chk_state_t want2[] = { CHK_STATE_DOWN };
	assert_true(wait_states(&c, ids, want2, 1, 2000));
	assert_int_equal(c.cb_reason[0], CHK_FAIL_CONNECT_REFUSED);
	chk_status_t st;
	assert_int_equal(chk_status_get(c.e, 0, &st), 0);
	assert_int_equal(st.state, CHK_STATE_DOWN);
	assert_int_equal(st.prev_state, CHK_STATE_UP);
	assert_int_equal(st.consecutive_failures, 3);
	assert_true(st.changed_at_ms > 0);
	assert_int_equal(chk_status_get(c.e, 2, &st), -6 /* GTM_ENOENT */);
	ctx_free(&c);
}

static char last_peer[64];

static void accept_record(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                          void *arg)
{
	(*(int *)arg)++;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, last_peer, sizeof(last_peer));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, last_peer, sizeof(last_peer));
	close(fd);
}

/* The source address is bound; IPv6 targets work the same. */
static void test_tcp_source_v6(void **state)
{
	tctx_t c;
	ctx_init(&c);
	int accepted = 0;
	uint16_t port;
	struct evconnlistener *l = listen_on(&c, accept_record, &accepted, &port);
	chk_params_t p = fast(CHK_TYPE_TCP, port);
	p.source = "127.0.0.2";
	add(&c, &p, 0);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct evconnlistener *l6 = evconnlistener_new_bind(c.base, accept_record, &accepted,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16, (struct sockaddr *)&sin6, sizeof(sin6));
	assert_non_null(l6);
	struct sockaddr_in6 bound;
	socklen_t blen = sizeof(bound);
	getsockname(evconnlistener_get_fd(l6), (struct sockaddr *)&bound, &blen);
	chk_params_t p6 = fast(CHK_TYPE_TCP, ntohs(bound.sin6_port));
	chk_target_spec_t s6 = { .params = &p6, .address = "::1", .user_id = 1, .label = "v6 endpoint" };
	assert_int_equal(chk_target_add(c.e, &s6), 1);
	assert_string_equal(chk_target_label(c.e, 1), "v6 endpoint");
	chk_engine_start(c.e);
	int ids[] = { 0, 1 };
	chk_state_t up[] = { CHK_STATE_UP, CHK_STATE_UP };
	assert_true(wait_states(&c, ids, up, 2, 2000));
	evconnlistener_free(l6);   /* only the v4 one accepts now */
	run_for(&c, 350);
	assert_string_equal(last_peer, "127.0.0.2");
	int ids6[] = { 1 };
	chk_state_t down[] = { CHK_STATE_DOWN };
	assert_true(wait_states(&c, ids6, down, 1, 2000));
	assert_int_equal(c.cb_count[1], 2);   /* up, then down */
	evconnlistener_free(l);
	ctx_free(&c);
}

/*
 * Detection time of a killed backend with the shipped defaults (interval
 * 1 s, fall 3, recheck 100 ms): printed, and bounded loosely -- the real
 * numbers come from the drills (DESIGN.md: "never by timed unit tests").
 */
static void test_tcp_detect(void **state)
{
	tctx_t c;
	ctx_init(&c);
	int accepted = 0;
	uint16_t port;
	struct evconnlistener *l = listen_on(&c, accept_close, &accepted, &port);
	chk_params_t p;
	chk_params_init(&p, CHK_TYPE_TCP);
	p.port = port;
	add(&c, &p, 0);
	chk_engine_start(c.e);
	int ids[] = { 0 };
	chk_state_t up[] = { CHK_STATE_UP }, down[] = { CHK_STATE_DOWN };
	assert_true(wait_states(&c, ids, up, 1, 2000));
	/* kill right after a successful probe: the worst case */
	int seen = accepted;
	uint64_t end = now_ms() + 2000;
	while (accepted == seen && now_ms() < end)
		event_base_loop(c.base, EVLOOP_ONCE);
	uint64_t killed = now_ms();
	evconnlistener_free(l);
	assert_true(wait_states(&c, ids, down, 1, 3000));
	uint64_t took = c.cb_at[0] - killed;
	print_message("killed backend detected in %llu ms (interval 1000, fall 3, recheck 100)\n",
	              (unsigned long long)took);
	assert_true(took <= 1500);
	ctx_free(&c);
}

/* A connect that never completes: a listener with backlog 0 whose queue is
 * already full drops further SYNs, so the probe times out on loopback. */
static void test_tcp_timeout(void **state)
{
	tctx_t c;
	ctx_init(&c);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	sin.sin_port = htons(local_port(lfd));
	int fill[4];
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	run_for(&c, 50);
	chk_params_t p = fast(CHK_TYPE_TCP, ntohs(sin.sin_port));
	add(&c, &p, 0);
	chk_engine_start(c.e);
	int ids[] = { 0 };
	chk_state_t down[] = { CHK_STATE_DOWN };
	assert_true(wait_states(&c, ids, down, 1, 2000));
	assert_int_equal(c.cb_reason[0], CHK_FAIL_TIMEOUT);
	chk_status_t st;
	chk_status_get(c.e, 0, &st);
	assert_true(st.latency_ms >= 140 && st.latency_ms < 300);
	ctx_free(&c);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

/* ---- http and https ---------------------------------------------------- */

typedef struct conn conn_t;
typedef struct http_srv {
	struct evconnlistener *l;
	struct event_base *base;
	uint16_t port;
	SSL_CTX *tls;
	conn_t *conns;
	int requests;
	char last_host[128];
	char last_method[8];
	char last_sni[128];
} http_srv_t;

struct conn {
	http_srv_t *s;
	struct bufferevent *bev;
	conn_t *next;
};

static void conn_free(conn_t *k)
{
	for (conn_t **pp = &k->s->conns; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	bufferevent_free(k->bev);
	free(k);
}

static void conn_written(struct bufferevent *bev, void *arg)
{
	conn_free(arg);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	conn_t *k = arg;
	http_srv_t *s = k->s;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		return;
	size_t n = (size_t)end.pos + 4;
	char *req = malloc(n + 1);
	evbuffer_remove(in, req, n);
	req[n] = '\0';
	s->requests++;
	char method[8] = "", path[128] = "";
	sscanf(req, "%7s %127s", method, path);
	snprintf(s->last_method, sizeof(s->last_method), "%s", method);
	const char *h = strstr(req, "\r\nHost: ");
	s->last_host[0] = '\0';
	if (h)
		sscanf(h + 8, "%127[^\r]", s->last_host);
	free(req);
	if (s->tls) {
		const char *sni = SSL_get_servername(bufferevent_openssl_get_ssl(bev), TLSEXT_NAMETYPE_host_name);
		snprintf(s->last_sni, sizeof(s->last_sni), "%s", sni ? sni : "");
	}
	const char *resp;
	if (strcmp(path, "/silent") == 0)
		return;   /* never answer */
	bool head = strcmp(method, "HEAD") == 0;
	if (strcmp(path, "/ok") == 0)
		resp = head ? "HTTP/1.0 200 OK\r\nContent-Length: 16\r\n\r\n"
		            : "HTTP/1.0 200 OK\r\nContent-Length: 16\r\n\r\nstatus: healthy\n";
	else if (strcmp(path, "/fail") == 0)
		resp = "HTTP/1.0 500 Internal Server Error\r\n\r\nstatus: healthy\n";
	else
		resp = "HTTP/1.0 404 Not Found\r\n\r\n";
	bufferevent_setcb(bev, NULL, conn_written, conn_event, k);
	bufferevent_write(bev, resp, strlen(resp));
}

static void http_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                        void *arg)
{
	http_srv_t *s = arg;
	conn_t *k = calloc(1, sizeof(*k));
	k->s = s;
	if (s->tls)
		k->bev = bufferevent_openssl_socket_new(s->base, fd, SSL_new(s->tls),
		                                        BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	else
		k->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	k->next = s->conns;
	s->conns = k;
	bufferevent_setcb(k->bev, conn_read, NULL, conn_event, k);
	bufferevent_enable(k->bev, EV_READ | EV_WRITE);
}

static void http_srv_start(tctx_t *c, http_srv_t *s, SSL_CTX *tls)
{
	memset(s, 0, sizeof(*s));
	s->base = c->base;
	s->tls = tls;
	s->l = listen_on(c, http_accept, s, &s->port);
}

static void http_srv_stop(http_srv_t *s)
{
	while (s->conns)
		conn_free(s->conns);
	evconnlistener_free(s->l);
}

static void test_http(void **state)
{
	tctx_t c;
	ctx_init(&c);
	http_srv_t s;
	http_srv_start(&c, &s, NULL);
	chk_params_t p[8];
	for (int i = 0; i < 8; i++)
		p[i] = fast(CHK_TYPE_HTTP, s.port);
	p[0].http.path = "/ok";                       /* up */
	p[1].http.path = "/fail";                     /* down: status */
	p[2].http.path = "/ok";                       /* up: body found */
	p[2].http.body = "healthy";
	p[3].http.path = "/ok";                       /* down: body not found */
	p[3].http.body = "sick";
	p[4].http.path = "/ok";                       /* up: HEAD */
	p[4].http.method = CHK_HTTP_HEAD;
	p[5].http.path = "/silent";                   /* down: timeout */
	p[6].http.path = "/fail";                     /* up: 500 expected */
	p[6].http.status[0] = 500;
	p[6].http.status[1] = 503;
	p[6].http.nstatus = 2;
	p[7].http.path = "/ok";                       /* up, with a Host header */
	p[7].http.host = "www.example.test";
	for (int i = 0; i < 8; i++)
		add(&c, &p[i], (uint32_t)i);
	chk_engine_start(c.e);
	int ids[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	chk_state_t want[] = { CHK_STATE_UP, CHK_STATE_DOWN, CHK_STATE_UP, CHK_STATE_DOWN,
	                       CHK_STATE_UP, CHK_STATE_DOWN, CHK_STATE_UP, CHK_STATE_UP };
	assert_true(wait_states(&c, ids, want, 8, 3000));
	assert_int_equal(c.cb_reason[1], CHK_FAIL_HTTP_STATUS);
	assert_int_equal(c.cb_reason[3], CHK_FAIL_HTTP_BODY);
	assert_int_equal(c.cb_reason[5], CHK_FAIL_TIMEOUT);
	/* the HEAD and Host were sent as configured: run only those two */
	chk_engine_free(c.e);
	c.e = chk_engine_new(c.base, on_change, &c);
	add(&c, &p[4], 4);
	chk_engine_start(c.e);
	int before = s.requests;
	while (s.requests == before)
		event_base_loop(c.base, EVLOOP_ONCE);
	assert_string_equal(s.last_method, "HEAD");
	char want_host[64];
	snprintf(want_host, sizeof(want_host), "127.0.0.1:%u", s.port);   /* not port 80: named */
	assert_string_equal(s.last_host, want_host);
	chk_engine_free(c.e);
	c.e = chk_engine_new(c.base, on_change, &c);
	add(&c, &p[7], 7);
	chk_engine_start(c.e);
	before = s.requests;
	while (s.requests == before)
		event_base_loop(c.base, EVLOOP_ONCE);
	assert_string_equal(s.last_method, "GET");
	snprintf(want_host, sizeof(want_host), "www.example.test:%u", s.port);
	assert_string_equal(s.last_host, want_host);
	http_srv_stop(&s);
	ctx_free(&c);
}

static char tmpdir[64];
static char cert_path[128], key_path[128];

static int make_cert(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gtm-chk-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	         "-keyout %s -out %s -days 2 -subj /CN=test.example "
	         "-addext subjectAltName=DNS:test.example,IP:127.0.0.1 2>/dev/null",
	         key_path, cert_path);
	return system(cmd) == 0 ? 0 : -1;
}

static int remove_cert(void **state)
{
	unlink(cert_path);
	unlink(key_path);
	rmdir(tmpdir);
	return 0;
}

static void test_https(void **state)
{
	tctx_t c;
	ctx_init(&c);
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate_file(sctx, cert_path, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(sctx, key_path, SSL_FILETYPE_PEM), 1);
	http_srv_t s;
	http_srv_start(&c, &s, sctx);
	chk_params_t p[6];
	for (int i = 0; i < 6; i++) {
		p[i] = fast(CHK_TYPE_HTTPS, s.port);
		p[i].http.path = "/ok";
		p[i].http.host = "test.example";
		p[i].http.body = "healthy";
	}
	p[0].http.tls_verify = false;                 /* up: no verification */
	p[1].http.ca_file = cert_path;                /* up: verified with our CA */
	/* p[2]: verified against the system store: down (self-signed) */
	p[3].http.ca_file = cert_path;                /* down: name mismatch */
	p[3].http.host = "other.example";
	p[4].http.ca_file = cert_path;                /* up: verified by IP SAN, no SNI */
	p[4].http.host = NULL;
	p[5].http.ca_file = cert_path;                /* down: TLS fine, status not */
	p[5].http.path = "/fail";
	for (int i = 0; i < 6; i++)
		add(&c, &p[i], (uint32_t)i);
	chk_engine_start(c.e);
	int ids[] = { 0, 1, 2, 3, 4, 5 };
	chk_state_t want[] = { CHK_STATE_UP, CHK_STATE_UP, CHK_STATE_DOWN, CHK_STATE_DOWN,
	                       CHK_STATE_UP, CHK_STATE_DOWN };
	assert_true(wait_states(&c, ids, want, 6, 3000));
	assert_int_equal(c.cb_reason[2], CHK_FAIL_TLS);
	assert_int_equal(c.cb_reason[3], CHK_FAIL_TLS);
	assert_int_equal(c.cb_reason[5], CHK_FAIL_HTTP_STATUS);
	/* SNI: sent for a name */
	chk_engine_free(c.e);
	c.e = chk_engine_new(c.base, on_change, &c);
	add(&c, &p[1], 1);
	chk_engine_start(c.e);
	int before = s.requests;
	while (s.requests == before)
		event_base_loop(c.base, EVLOOP_ONCE);
	assert_string_equal(s.last_sni, "test.example");
	http_srv_stop(&s);
	SSL_CTX_free(sctx);
	ctx_free(&c);
}

/* ---- dns ---------------------------------------------------------------- */

typedef struct dns_srv {
	int fd;
	struct event *ev;
	struct evconnlistener *l;
	struct bufferevent *bevs[8];
	int nbev;
	uint16_t port, tcp_port;
	int queries;
} dns_srv_t;

/* Answers query q (n bytes) into r; returns the length or 0 for silence. */
static size_t dns_answer(const uint8_t *q, size_t n, uint8_t *r)
{
	char name[256] = "";
	size_t o = 12, w = 0;
	while (o < n && q[o] && w < 200) {
		memcpy(name + w, q + o + 1, q[o]);
		w += q[o];
		name[w++] = '.';
		o += 1 + q[o];
	}
	name[w] = '\0';
	o += 1 + 4;
	if (o > n || strcmp(name, "silent.test.") == 0)
		return 0;
	memcpy(r, q, o);
	r[2] = 0x84;               /* QR AA */
	r[3] = 0;
	r[6] = r[7] = 0;
	if (strcmp(name, "nx.test.") == 0) {
		r[3] = 3;
		return o;
	}
	/* other names: one A record, its owner a compression pointer */
	static const uint8_t an[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1 };
	memcpy(r + o, an, sizeof(an));
	r[7] = 1;
	return o + sizeof(an);
}

static void dns_udp(evutil_socket_t fd, short what, void *arg)
{
	dns_srv_t *s = arg;
	uint8_t q[512], r[600];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	if (n < 12)
		return;
	s->queries++;
	size_t rl = dns_answer(q, (size_t)n, r);
	if (rl)
		sendto(fd, r, rl, 0, (struct sockaddr *)&from, flen);
}

static void dns_tcp_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	if (evbuffer_get_length(in) < 2)
		return;
	uint8_t *p = evbuffer_pullup(in, 2);
	size_t len = (size_t)p[0] << 8 | p[1];
	if (evbuffer_get_length(in) < 2 + len)
		return;
	p = evbuffer_pullup(in, (ssize_t)(2 + len));
	uint8_t r[602];
	size_t rl = dns_answer(p + 2, len, r + 2);
	evbuffer_drain(in, 2 + len);
	r[0] = (uint8_t)(rl >> 8);
	r[1] = (uint8_t)rl;
	bufferevent_write(bev, r, rl + 2);
}

static void dns_tcp_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                           void *arg)
{
	dns_srv_t *s = arg;
	struct bufferevent *b = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->nbev == 8) {
		bufferevent_free(b);
		return;
	}
	s->bevs[s->nbev++] = b;
	bufferevent_setcb(b, dns_tcp_read, NULL, NULL, s);
	bufferevent_enable(b, EV_READ | EV_WRITE);
}

static void test_dns(void **state)
{
	tctx_t c;
	ctx_init(&c);
	dns_srv_t s = { 0 };
	s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(s.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	s.port = local_port(s.fd);
	s.ev = event_new(c.base, s.fd, EV_READ | EV_PERSIST, dns_udp, &s);
	event_add(s.ev, NULL);
	s.l = listen_on(&c, dns_tcp_accept, &s, &s.tcp_port);

	chk_params_t p[8];
	for (int i = 0; i < 8; i++) {
		p[i] = fast(CHK_TYPE_DNS, s.port);
		p[i].dns.qname = "ok.test";
	}
	p[1].dns.answer = "192.0.2.1";                 /* up: address in the answer */
	p[2].dns.answer = "192.0.2.99";                /* down: not in the answer */
	p[3].dns.qname = "nx.test";                    /* down: NXDOMAIN, NOERROR expected */
	p[4].dns.qname = "nx.test.";                   /* up: NXDOMAIN expected */
	p[4].dns.rcode = 3;
	p[5].dns.qname = "silent.test";                /* down: timeout */
	p[6].port = closed_port(SOCK_DGRAM);           /* down: ICMP port unreachable */
	p[7].port = s.tcp_port;                        /* up: over TCP */
	p[7].dns.tcp = true;
	p[7].dns.answer = "192.0.2.1";
	for (int i = 0; i < 8; i++)
		add(&c, &p[i], (uint32_t)i);
	chk_engine_start(c.e);
	int ids[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	chk_state_t want[] = { CHK_STATE_UP, CHK_STATE_UP, CHK_STATE_DOWN, CHK_STATE_DOWN,
	                       CHK_STATE_UP, CHK_STATE_DOWN, CHK_STATE_DOWN, CHK_STATE_UP };
	assert_true(wait_states(&c, ids, want, 8, 3000));
	assert_int_equal(c.cb_reason[2], CHK_FAIL_DNS_ANSWER);
	assert_int_equal(c.cb_reason[3], CHK_FAIL_DNS_RCODE);
	assert_int_equal(c.cb_reason[5], CHK_FAIL_TIMEOUT);
	assert_int_equal(c.cb_reason[6], CHK_FAIL_CONNECT_REFUSED);
	assert_true(s.queries > 0);
	chk_engine_free(c.e);
	c.e = NULL;
	for (int i = 0; i < s.nbev; i++)
		bufferevent_free(s.bevs[i]);
	evconnlistener_free(s.l);
	event_free(s.ev);
	close(s.fd);
	ctx_free(&c);
}

/* ---- exec --------------------------------------------------------------- */

static void assert_no_children(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_exec(void **state)
{
	tctx_t c;
	ctx_init(&c);
	static const char *const av_true[] = { "/bin/true", NULL };
	static const char *const av_false[] = { "/bin/false", NULL };
	static const char *const av_sleep[] = { "/bin/sh", "-c", "sleep 5; true", NULL };
	static const char *const av_subst[] = {
		"/bin/sh", "-c",
		"test \"$0\" = 127.0.0.1 && test \"$1\" = 4242 && test \"$2\" = 100% && "
		"test \"$GTM_CHECK_ADDRESS:$GTM_CHECK_PORT:$GTM_CHECK_NAME\" = 127.0.0.1:4242:subst",
		"%a", "%p", "100%%", NULL
	};
	static const char *const av_missing[] = { "/nonexistent/command", NULL };
	chk_params_t p[4];
	for (int i = 0; i < 4; i++)
		p[i] = fast(CHK_TYPE_EXEC, 0);
	p[0].exec.argv = av_true;
	p[1].exec.argv = av_false;
	p[2].exec.argv = av_sleep;
	p[3].exec.argv = av_subst;
	p[3].port = 4242;
	p[3].name = "subst";
	for (int i = 0; i < 4; i++)
		add(&c, &p[i], (uint32_t)i);
	/* a missing command is refused at add time */
	chk_params_t bad = fast(CHK_TYPE_EXEC, 0);
	bad.exec.argv = av_missing;
	chk_target_spec_t spec = { .params = &bad, .address = "127.0.0.1" };
	assert_int_equal(chk_target_add(c.e, &spec), -2 /* GTM_EINVAL */);
	chk_engine_start(c.e);
	int ids[] = { 0, 1, 2, 3 };
	chk_state_t want[] = { CHK_STATE_UP, CHK_STATE_DOWN, CHK_STATE_DOWN, CHK_STATE_UP };
	assert_true(wait_states(&c, ids, want, 4, 3000));
	assert_int_equal(c.cb_reason[1], CHK_FAIL_EXEC_STATUS);
	assert_int_equal(c.cb_reason[2], CHK_FAIL_TIMEOUT);
	chk_status_t st;
	chk_status_get(c.e, 2, &st);
	assert_true(st.latency_ms >= 140 && st.latency_ms < 400);
	ctx_free(&c);
	/* killed commands were reaped, running ones killed and reaped */
	assert_no_children();
}

static void test_exec_cap(void **state)
{
	tctx_t c;
	ctx_init(&c);
	chk_engine_set_exec_max(c.e, 2);
	static const char *const av[] = { "/bin/sleep", "0.2", NULL };
	chk_params_t p = fast(CHK_TYPE_EXEC, 0);
	p.interval_ms = 400;
	p.timeout_ms = 350;
	p.exec.argv = av;
	for (int i = 0; i < 6; i++)
		add(&c, &p, (uint32_t)i);
	chk_engine_start(c.e);
	int ids[] = { 0, 1, 2, 3, 4, 5 };
	chk_state_t want[] = { CHK_STATE_UP, CHK_STATE_UP, CHK_STATE_UP, CHK_STATE_UP, CHK_STATE_UP,
	                       CHK_STATE_UP };
	bool ok = wait_states(&c, ids, want, 6, 4000);
	chk_engine_stats_t st;
	chk_engine_stats_get(c.e, &st);
	print_message("exec: peak %u alive, %llu probes\n", st.exec_peak,
	              (unsigned long long)st.probes_done);
	assert_true(ok);
	assert_int_equal(st.exec_peak, 2);
	ctx_free(&c);
	assert_no_children();
}

/* ---- reload --------------------------------------------------------------- */

static void test_reload(void **state)
{
	tctx_t c;
	ctx_init(&c);
	int accepted = 0;
	uint16_t port;
	struct evconnlistener *l = listen_on(&c, accept_close, &accepted, &port);
	chk_params_t p = fast(CHK_TYPE_TCP, port), q = fast(CHK_TYPE_TCP, port);
	q.rise = 1;   /* changed: not carried */
	add(&c, &p, 0);
	add(&c, &q, 1);
	chk_engine_start(c.e);
	int ids[] = { 0, 1 };
	chk_state_t up[] = { CHK_STATE_UP, CHK_STATE_UP };
	assert_true(wait_states(&c, ids, up, 2, 2000));

	/* the new config: the same target 0 (new id 10), target 1 changed */
	tctx_t n = c;   /* same base and tick; new engine and records */
	memset(n.cb_state, 0, sizeof(n.cb_state));
	memset(n.cb_count, 0, sizeof(n.cb_count));
	n.e = chk_engine_new(c.base, on_change, &n);
	q.rise = 2;
	chk_target_spec_t s0 = { .params = &p, .address = "127.0.0.1", .user_id = 10 };
	chk_target_spec_t s1 = { .params = &q, .address = "127.0.0.1", .user_id = 11 };
	chk_target_add(n.e, &s0);
	chk_target_add(n.e, &s1);
	assert_int_equal(chk_engine_reconcile(n.e, c.e), 1);
	chk_status_t st;
	chk_status_get(n.e, 0, &st);
	assert_int_equal(st.state, CHK_STATE_UP);
	assert_int_equal(st.user_id, 10);
	chk_status_get(n.e, 1, &st);
	assert_int_equal(st.state, CHK_STATE_UNKNOWN);
	chk_engine_free(c.e);
	chk_engine_start(n.e);
	n.cb_state[10] = CHK_STATE_UP;   /* carried: no callback expected */
	int nids[] = { 10, 11 };
	assert_true(wait_states(&n, nids, up, 2, 2000));
	run_for(&n, 400);
	assert_int_equal(n.cb_count[10], 0);
	assert_int_equal(n.cb_count[11], 1);
	chk_status_get(n.e, 0, &st);
	assert_true(st.total_probes >= 2);   /* counters carried and growing */
	evconnlistener_free(l);
	c.e = n.e;
	ctx_free(&c);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);   /* run one case: test_checks_probes test_dns */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_tcp_source_v6),
		cmocka_unit_test(test_tcp_detect),
		cmocka_unit_test(test_tcp_timeout),
		cmocka_unit_test(test_http),
		cmocka_unit_test_setup_teardown(test_https, make_cert, remove_cert),
		cmocka_unit_test(test_dns),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_exec_cap),
		cmocka_unit_test(test_reload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
