/*
 * The check engine: targets, scheduling on the caller's libevent base,
 * timeouts, the rise/fall bookkeeping (chk_state.c) and the one log line
 * and callback per state change.  Probe types live in check_*.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checks/check_int.h"
#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"

struct chk_engine {
	struct event_base *base;
	chk_change_cb_t cb;
	void *cb_arg;
	chk_target_t **targets;
	size_t ntargets;
	bool started;
	uint64_t rng;
	void *slots[CHK_TYPE_COUNT];
	chk_engine_stats_t stats;
	unsigned exec_max;
};

/* ---- names ------------------------------------------------------------ */

const char *chk_reason_name(chk_reason_t reason)
{
	switch (reason) {
	case CHK_OK: return "ok";
	case CHK_FAIL_TIMEOUT: return "timeout";
	case CHK_FAIL_CONNECT_REFUSED: return "connection refused";
	case CHK_FAIL_CONNECT: return "connect failed";
	case CHK_FAIL_TLS: return "tls failed";
	case CHK_FAIL_HTTP_STATUS: return "http status";
	case CHK_FAIL_HTTP_BODY: return "http body mismatch";
	case CHK_FAIL_DNS_RCODE: return "dns rcode";
	case CHK_FAIL_DNS_ANSWER: return "dns answer mismatch";
	case CHK_FAIL_EXEC_STATUS: return "exec status";
	case CHK_FAIL_EXEC_SPAWN: return "exec spawn failed";
	case CHK_FAIL_PROTOCOL: return "protocol error";
	case CHK_REASON_COUNT: break;
	}
	return "unknown reason";
}

const char *chk_state_name(chk_state_t state)
{
	switch (state) {
	case CHK_STATE_UNKNOWN: return "unknown";
	case CHK_STATE_DOWN: return "down";
	case CHK_STATE_UP: return "up";
	}
	return "invalid";
}

static const char *const type_names[CHK_TYPE_COUNT] = {
	[CHK_TYPE_TCP] = "tcp", [CHK_TYPE_HTTP] = "http", [CHK_TYPE_HTTPS] = "https",
	[CHK_TYPE_DNS] = "dns", [CHK_TYPE_EXEC] = "exec",
};

const char *chk_type_name(chk_type_t type)
{
	return (unsigned)type < CHK_TYPE_COUNT ? type_names[type] : "invalid";
}

int chk_type_parse(const char *name, chk_type_t *type)
{
	for (int i = 0; i < CHK_TYPE_COUNT; i++)
		if (strcmp(name, type_names[i]) == 0) {
			*type = (chk_type_t)i;
			return 0;
		}
	return GTM_EINVAL;
}

static const chk_ops_t *type_ops(chk_type_t type)
{
	switch (type) {
	case CHK_TYPE_TCP: return &chk_tcp_ops;
	case CHK_TYPE_HTTP: return &chk_http_ops;
	case CHK_TYPE_HTTPS: return &chk_https_ops;
	case CHK_TYPE_DNS: return &chk_dns_ops;
	case CHK_TYPE_EXEC: return &chk_exec_ops;
	case CHK_TYPE_COUNT: break;
	}
	return NULL;
}

/* ---- parameters ------------------------------------------------------- */

void chk_params_init(chk_params_t *p, chk_type_t type)
{
	*p = (chk_params_t){
		.type = type,
		.interval_ms = 1000,
		.timeout_ms = 0,
		.recheck_ms = 100,
		.rise = 2,
		.fall = 3,
		.jitter = 0.1,
	};
	p->http.method = CHK_HTTP_GET;
	p->http.path = "/";
	p->http.body_max = 65536;
	p->http.tls_verify = true;
	p->dns.qtype = 1;
	p->dns.rcode = 0;
}

static uint16_t default_port(chk_type_t type)
{
	switch (type) {
	case CHK_TYPE_HTTP: return 80;
	case CHK_TYPE_HTTPS: return 443;
	case CHK_TYPE_DNS: return 53;
	default: return 0;
	}
}

static uint32_t eff_timeout(const chk_params_t *p)
{
	return p->timeout_ms ? p->timeout_ms : p->interval_ms / 2;
}

int chk_addr_parse(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (ip == NULL)
		return GTM_EINVAL;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	return GTM_EINVAL;
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool qname_ok(const char *q)
{
	size_t total = 0, label = 0;
	if (q[0] == '\0')
		return false;
	if (strcmp(q, ".") == 0)
		return true;
	for (const char *c = q; *c; c++) {
		if (*c == '.') {
			if (label == 0)
				return false;   /* empty label */
			label = 0;
		} else if (++label > 63) {
			return false;
		}
		total++;
	}
	return total <= 253 || (total == 254 && q[total - 1] == '.');
}

int chk_params_check(const chk_params_t *p, gtm_diag_t *d, const char *file, int line)
{
	size_t before = d->count;
	const char *n = p->name ? p->name : chk_type_name(p->type);
#define BAD(...) gtm_diag_add(d, file, line, __VA_ARGS__)
	if ((unsigned)p->type >= CHK_TYPE_COUNT) {
		BAD("check %s, invalid type %d", n, (int)p->type);
		return GTM_EINVAL;
	}
	if (p->interval_ms < 10 || p->interval_ms > 86400000)
		BAD("check %s, interval %" PRIu32 " ms out of range (10 ms .. 1 day)", n, p->interval_ms);
	uint32_t to = eff_timeout(p);
	if (to == 0)
		BAD("check %s, timeout must be positive", n);
	else if (to >= p->interval_ms)
		BAD("check %s, timeout %" PRIu32 " ms must be less than the interval %" PRIu32 " ms",
		    n, to, p->interval_ms);
	if (p->recheck_ms == 0 || p->recheck_ms > p->interval_ms)
		BAD("check %s, recheck %" PRIu32 " ms must be between 1 ms and the interval %" PRIu32 " ms",
		    n, p->recheck_ms, p->interval_ms);
	if (p->rise < 1 || p->rise > 100)
		BAD("check %s, rise %u out of range (1..100)", n, p->rise);
	if (p->fall < 1 || p->fall > 100)
		BAD("check %s, fall %u out of range (1..100)", n, p->fall);
	if (!(p->jitter >= 0.0 && p->jitter <= 0.5))
		BAD("check %s, jitter %g out of range (0..0.5)", n, p->jitter);
	if (p->source) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (chk_addr_parse(p->source, 0, &ss, &len) != 0)
			BAD("check %s, source \"%s\" is not an IP address", n, p->source);
	}
	if (p->type == CHK_TYPE_TCP && p->port == 0)
		BAD("check %s, tcp needs a port", n);

	if (p->type == CHK_TYPE_HTTP || p->type == CHK_TYPE_HTTPS) {
		const char *path = p->http.path ? p->http.path : "/";
		if (path[0] != '/' || has_ctl(path) || strchr(path, ' '))
			BAD("check %s, http path \"%s\" must start with / and contain no spaces or control characters",
			    n, path);
		if (p->http.host && (p->http.host[0] == '\0' || has_ctl(p->http.host) ||
		                     strchr(p->http.host, ' ')))
			BAD("check %s, http host \"%s\" is not a valid host name", n, p->http.host);
		if (p->http.method != CHK_HTTP_GET && p->http.method != CHK_HTTP_HEAD)
			BAD("check %s, invalid http method", n);
		if (p->http.nstatus > CHK_HTTP_MAX_STATUS)
			BAD("check %s, at most %d expected statuses", n, CHK_HTTP_MAX_STATUS);
		for (size_t i = 0; i < p->http.nstatus && i < CHK_HTTP_MAX_STATUS; i++)
			if (p->http.status[i] < 100 || p->http.status[i] > 599)
				BAD("check %s, http status %u out of range (100..599)", n, p->http.status[i]);
		if (p->http.body) {
			if (p->http.body[0] == '\0')
				BAD("check %s, http body match is empty", n);
			if (p->http.method == CHK_HTTP_HEAD)
				BAD("check %s, a HEAD request has no body to match", n);
			if (p->http.body_max < strlen(p->http.body) || p->http.body_max > 16u << 20)
				BAD("check %s, body_max %" PRIu32 " must hold the match and be at most 16 MiB",
				    n, p->http.body_max);
		}
		if (p->type == CHK_TYPE_HTTPS && p->http.ca_file && access(p->http.ca_file, R_OK) != 0)
			BAD("check %s, CA file %s: %s", n, p->http.ca_file, strerror(errno));
	}
	if (p->type == CHK_TYPE_DNS) {
		if (p->dns.qname == NULL || !qname_ok(p->dns.qname))
			BAD("check %s, dns qname \"%s\" is not a valid domain name", n,
			    p->dns.qname ? p->dns.qname : "");
		if (p->dns.qtype == 0)
			BAD("check %s, dns qtype must not be 0", n);
		if (p->dns.rcode > 15)
			BAD("check %s, dns rcode %u out of range (0..15)", n, p->dns.rcode);
		if (p->dns.answer) {
			struct sockaddr_storage ss;
			socklen_t len;
			if (chk_addr_parse(p->dns.answer, 0, &ss, &len) != 0)
				BAD("check %s, dns answer \"%s\" is not an IP address", n, p->dns.answer);
		}
	}
	if (p->type == CHK_TYPE_EXEC) {
		const char *const *av = p->exec.argv;
		if (av == NULL || av[0] == NULL)
			BAD("check %s, exec needs a command", n);
		else if (av[0][0] != '/')
			BAD("check %s, exec command %s must be an absolute path (no shell, no PATH search)",
			    n, av[0]);
		else if (access(av[0], X_OK) != 0)
			BAD("check %s, exec command %s: %s", n, av[0], strerror(errno));
	}
#undef BAD
	return d->count > before ? GTM_EINVAL : 0;
}

int chk_target_spec_check(const chk_target_spec_t *spec, gtm_diag_t *d, const char *file, int line)
{
	if (spec->params == NULL) {
		gtm_diag_add(d, file, line, "check target without parameters");
		return GTM_EINVAL;
	}
	int rc = chk_params_check(spec->params, d, file, line);
	const char *n = spec->params->name ? spec->params->name : chk_type_name(spec->params->type);
	struct sockaddr_storage ss, src;
	socklen_t len, slen;
	if (chk_addr_parse(spec->address, 0, &ss, &len) != 0) {
		gtm_diag_add(d, file, line, "check %s, target \"%s\" is not an IP address", n,
		             spec->address ? spec->address : "");
		return GTM_EINVAL;
	}
	if (spec->params->source && chk_addr_parse(spec->params->source, 0, &src, &slen) == 0 &&
	    src.ss_family != ss.ss_family) {
		gtm_diag_add(d, file, line, "check %s, source %s and target %s are of different families",
		             n, spec->params->source, spec->address);
		return GTM_EINVAL;
	}
	if (spec->initial != CHK_STATE_UNKNOWN && spec->initial != CHK_STATE_UP &&
	    spec->initial != CHK_STATE_DOWN) {
		gtm_diag_add(d, file, line, "check %s, invalid initial state", n);
		return GTM_EINVAL;
	}
	return rc;
}

static char *dup_or_null(const char *s)
{
	return s ? gtm_xstrdup(s) : NULL;
}

/* Deep copy with defaults applied, so the rest of the library never looks
 * at a 0 meaning "default". */
static void params_copy(chk_params_t *dst, const chk_params_t *src)
{
	*dst = *src;
	dst->name = gtm_xstrdup(src->name ? src->name : chk_type_name(src->type));
	dst->source = dup_or_null(src->source);
	if (dst->port == 0)
		dst->port = default_port(src->type);
	dst->timeout_ms = eff_timeout(src);
	dst->http.path = gtm_xstrdup(src->http.path ? src->http.path : "/");
	dst->http.host = dup_or_null(src->http.host);
	dst->http.body = dup_or_null(src->http.body);
	dst->http.ca_file = dup_or_null(src->http.ca_file);
	if (dst->http.nstatus == 0) {
		dst->http.status[0] = 200;
		dst->http.nstatus = 1;
	}
	dst->dns.qname = dup_or_null(src->dns.qname);
	dst->dns.answer = dup_or_null(src->dns.answer);
	dst->exec.argv = NULL;
	if (src->exec.argv) {
		size_t n = 0;
		while (src->exec.argv[n])
			n++;
		char **av = gtm_xcalloc(n + 1, sizeof(*av));
		for (size_t i = 0; i < n; i++)
			av[i] = gtm_xstrdup(src->exec.argv[i]);
		dst->exec.argv = (const char *const *)av;
	}
}

static void params_free(chk_params_t *p)
{
	free((char *)p->name);
	free((char *)p->source);
	free((char *)p->http.path);
	free((char *)p->http.host);
	free((char *)p->http.body);
	free((char *)p->http.ca_file);
	free((char *)p->dns.qname);
	free((char *)p->dns.answer);
	if (p->exec.argv) {
		for (size_t i = 0; p->exec.argv[i]; i++)
			free((char *)p->exec.argv[i]);
		free((void *)p->exec.argv);
	}
}

/* Everything that makes two targets "the same probe" across a reload: the
 * effective params and the address -- not the check name, the user id or
 * the label, which only name it. */
static char *target_key(const chk_target_t *t)
{
	const chk_params_t *p = &t->p;
	char status[CHK_HTTP_MAX_STATUS * 4 + 1] = "";
	for (size_t i = 0; i < p->http.nstatus; i++)
		snprintf(status + strlen(status), sizeof(status) - strlen(status), "%u,", p->http.status[i]);
	size_t alen = 1;
	for (size_t i = 0; p->exec.argv && p->exec.argv[i]; i++)
		alen += strlen(p->exec.argv[i]) + 1;
	char *argv = gtm_xcalloc(alen, 1);
	for (size_t i = 0; p->exec.argv && p->exec.argv[i]; i++) {
		strcat(argv, p->exec.argv[i]);
		strcat(argv, "\x1f");
	}
#define S(x) ((x) ? (x) : "\x1e")
	char *key = gtm_xasprintf(
		"%s|%u|%" PRIu32 "|%" PRIu32 "|%" PRIu32 "|%u|%u|%.6f|%s|%s"
		"|%d|%s|%s|%s|%s|%" PRIu32 "|%d|%s|%s|%u|%u|%s|%d|%s",
		t->ip, p->port, p->interval_ms, p->timeout_ms, p->recheck_ms,
		p->rise, p->fall, p->jitter, chk_type_name(p->type), S(p->source),
		(int)p->http.method, S(p->http.path), S(p->http.host), status, S(p->http.body),
		p->http.body_max, (int)p->http.tls_verify, S(p->http.ca_file),
		S(p->dns.qname), p->dns.qtype, p->dns.rcode, S(p->dns.answer), (int)p->dns.tcp, argv);
#undef S
	free(argv);
	return key;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* ---- clock and randomness --------------------------------------------- */

uint64_t chk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t chk_engine_random(chk_engine_t *e)
{
	/* xorshift64*: scheduling jitter and DNS ids need spread, not secrecy. */
	uint64_t x = e->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	e->rng = x;
	return (uint32_t)((x * 2685821657736338717ULL) >> 32);
}

static double unit_draw(chk_engine_t *e)
{
	return chk_engine_random(e) / 4294967296.0;
}

/* ---- engine ----------------------------------------------------------- */

struct event_base *chk_engine_base(const chk_engine_t *e)
{
	return e->base;
}

void **chk_engine_slot(chk_engine_t *e, chk_type_t type)
{
	return &e->slots[type];
}

chk_engine_stats_t *chk_engine_stats_mut(chk_engine_t *e)
{
	return &e->stats;
}

unsigned chk_engine_exec_max(const chk_engine_t *e)
{
	return e->exec_max;
}

chk_engine_t *chk_engine_new(struct event_base *base, chk_change_cb_t cb, void *arg)
{
	chk_engine_t *e = gtm_xcalloc(1, sizeof(*e));
	e->base = base;
	e->cb = cb;
	e->cb_arg = arg;
	e->exec_max = 8;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
	         (uint64_t)(uintptr_t)e;
	if (e->rng == 0)
		e->rng = 88172645463325252ULL;
	return e;
}

void chk_engine_set_exec_max(chk_engine_t *e, unsigned max)
{
	e->exec_max = max ? max : 1;
}

static void target_free(chk_target_t *t)
{
	if (t->running) {
		t->ops->cancel(t);
		t->running = false;
		t->engine->stats.running--;
	}
	if (t->ops->free)
		t->ops->free(t);
	event_free(t->timer);
	event_free(t->deadline);
	params_free(&t->p);
	free(t->label);
	free(t->key);
	free(t);
}

void chk_engine_free(chk_engine_t *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->ntargets; i++)
		target_free(e->targets[i]);
	free(e->targets);
	for (int i = 0; i < CHK_TYPE_COUNT; i++) {
		const chk_ops_t *ops = type_ops((chk_type_t)i);
		if (ops->engine_free && e->slots[i])
			ops->engine_free(e);
	}
	free(e);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	chk_target_t *t = arg;
	t->ops->cancel(t);
	t->probe = NULL;
	chk_done(t, CHK_FAIL_TIMEOUT);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	chk_target_t *t = arg;
	chk_engine_t *e = t->engine;
	gtm_assert(!t->running);
	t->running = true;
	t->armed = false;
	t->started = chk_now_ms();
	e->stats.probes_started++;
	e->stats.running++;
	if (!t->ops->deferred)
		chk_probe_arm(t);
	t->ops->start(t);   /* may call chk_done() before it returns */
}

void chk_probe_arm(chk_target_t *t)
{
	t->started = chk_now_ms();
	t->armed = true;
	struct timeval tv = { t->p.timeout_ms / 1000, (t->p.timeout_ms % 1000) * 1000 };
	evtimer_add(t->deadline, &tv);
}

static void schedule(chk_target_t *t, uint32_t delay_ms)
{
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	t->next_due = chk_now_ms() + delay_ms;
	evtimer_add(t->timer, &tv);
}

static void log_change(const chk_target_t *t)
{
	char who[48];
	const char *label = t->label;
	if (label == NULL) {
		snprintf(who, sizeof(who), "endpoint %" PRIu32, t->user_id);
		label = who;
	}
	/* Start-up confirmations (unknown -> up) of a large fleet would flood
	 * the log with good news; they go to debug, every other change to info. */
	bool quiet = t->sm.prev_state == CHK_STATE_UNKNOWN && t->sm.state == CHK_STATE_UP;
	gtm_log(quiet ? GTM_LOG_DEBUG : GTM_LOG_INFO, "check %s, %s (%s), state %s -> %s (%s, %" PRIu32 " ms)",
	        t->p.name, label, t->addr_str, chk_state_name(t->sm.prev_state),
	        chk_state_name(t->sm.state), chk_reason_name(t->sm.change_reason), t->sm.latency_ms);
}

static void fill_status(const chk_target_t *t, chk_status_t *st)
{
	*st = (chk_status_t){
		.user_id = t->user_id,
		.state = t->sm.state,
		.prev_state = t->sm.prev_state,
		.reason = t->sm.reason,
		.change_reason = t->sm.change_reason,
		.changed_at_ms = t->changed_at_wall,
		.latency_ms = t->sm.latency_ms,
		.detect_ms = t->sm.detect_ms,
		.consecutive_failures = t->sm.consecutive_failures,
		.total_probes = t->sm.total_probes,
		.total_failures = t->sm.total_failures,
		.health = t->sm.health,
	};
}

void chk_done(chk_target_t *t, chk_reason_t reason)
{
	chk_engine_t *e = t->engine;
	gtm_assert(t->running);
	t->running = false;
	t->probe = NULL;
	e->stats.running--;
	e->stats.probes_done++;
	if (reason != CHK_OK)
		e->stats.probes_failed++;
	if (t->armed)
		evtimer_del(t->deadline);
	uint64_t now = chk_now_ms();
	if (!t->armed)      /* failed before a deferred probe began */
		t->started = now;
	t->armed = false;
	uint32_t next;
	bool changed = chk_sm_step(&t->sm, &t->cfg, t->started, now, reason, unit_draw(e), &next);
	log_debug("check %s, %s, probe %s (%" PRIu32 " ms, health %u, next in %" PRIu32 " ms)",
	          t->p.name, t->addr_str, chk_reason_name(reason), t->sm.latency_ms, t->sm.health, next);
	schedule(t, next);
	if (changed) {
		t->changed_at_wall = wall_ms();
		log_change(t);
		if (e->cb) {
			chk_status_t st;
			fill_status(t, &st);
			e->cb(t->user_id, &st, e->cb_arg);
		}
	}
}

int chk_target_add(chk_engine_t *e, const chk_target_spec_t *spec)
{
	gtm_diag_t d = { 0 };
	if (chk_target_spec_check(spec, &d, NULL, 0) != 0) {
		for (size_t i = 0; i < d.count; i++)
			log_err("%s", d.msgs[i]);
		gtm_diag_clear(&d);
		return GTM_EINVAL;
	}
	chk_target_t *t = gtm_xcalloc(1, sizeof(*t));
	t->engine = e;
	t->user_id = spec->user_id;
	params_copy(&t->p, spec->params);
	t->ops = type_ops(t->p.type);
	t->label = dup_or_null(spec->label);
	snprintf(t->ip, sizeof(t->ip), "%s", spec->address);
	chk_addr_parse(spec->address, t->p.port, &t->sa, &t->salen);
	if (t->p.source)
		chk_addr_parse(t->p.source, 0, &t->src, &t->srclen);
	if (t->sa.ss_family == AF_INET6)
		snprintf(t->addr_str, sizeof(t->addr_str), "[%s]:%u", t->ip, t->p.port);
	else
		snprintf(t->addr_str, sizeof(t->addr_str), "%s:%u", t->ip, t->p.port);
	t->cfg = (chk_sm_cfg_t){ .rise = t->p.rise, .fall = t->p.fall, .interval_ms = t->p.interval_ms,
	                         .recheck_ms = t->p.recheck_ms, .jitter = t->p.jitter };
	chk_sm_init(&t->sm, &t->cfg, spec->initial);
	t->timer = evtimer_new(e->base, on_timer, t);
	t->deadline = evtimer_new(e->base, on_deadline, t);
	t->key = target_key(t);
	t->key_hash = fnv1a(t->key);
	if (t->ops->prepare && t->ops->prepare(t) != 0) {
		log_err("check %s, %s, cannot prepare the probe", t->p.name, t->addr_str);
		target_free(t);
		return GTM_EINVAL;
	}
	e->targets = gtm_xgrow(e->targets, e->ntargets, sizeof(*e->targets));
	t->index = e->ntargets;
	e->targets[e->ntargets++] = t;
	if (e->started)
		schedule(t, chk_sm_first_delay(&t->cfg, unit_draw(e)));
	return (int)t->index;
}

size_t chk_engine_target_count(const chk_engine_t *e)
{
	return e->ntargets;
}

int chk_engine_start(chk_engine_t *e)
{
	if (e->started)
		return GTM_EINVAL;
	e->started = true;
	uint64_t now = chk_now_ms();
	for (size_t i = 0; i < e->ntargets; i++) {
		chk_target_t *t = e->targets[i];
		if (t->next_due)   /* carried over by chk_engine_reconcile() */
			schedule(t, t->next_due > now ? (uint32_t)(t->next_due - now) : 0);
		else
			schedule(t, chk_sm_first_delay(&t->cfg, unit_draw(e)));
	}
	return 0;
}

int chk_status_get(const chk_engine_t *e, size_t index, chk_status_t *out)
{
	if (index >= e->ntargets)
		return GTM_ENOENT;
	fill_status(e->targets[index], out);
	return 0;
}

const char *chk_target_label(const chk_engine_t *e, size_t index)
{
	return index < e->ntargets ? e->targets[index]->label : NULL;
}

size_t chk_engine_unknown_count(const chk_engine_t *e)
{
	size_t n = 0;
	for (size_t i = 0; i < e->ntargets; i++)
		n += e->targets[i]->sm.state == CHK_STATE_UNKNOWN;
	return n;
}

void chk_engine_stats_get(const chk_engine_t *e, chk_engine_stats_t *out)
{
	*out = e->stats;
}

static int cmp_hash(const void *a, const void *b)
{
	const chk_target_t *x = *(chk_target_t *const *)a, *y = *(chk_target_t *const *)b;
	if (x->key_hash != y->key_hash)
		return x->key_hash < y->key_hash ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

size_t chk_engine_reconcile(chk_engine_t *new_e, const chk_engine_t *old_e)
{
	if (old_e == NULL || old_e->ntargets == 0 || new_e->started)
		return 0;
	/* Sort the old targets by key hash (then by index, so duplicates are
	 * used in order of addition) and look each new one up. */
	size_t n = old_e->ntargets;
	chk_target_t **old = gtm_xmalloc(n * sizeof(*old));
	memcpy(old, old_e->targets, n * sizeof(*old));
	qsort(old, n, sizeof(*old), cmp_hash);
	bool *used = gtm_xcalloc(n, sizeof(*used));
	uint64_t now = chk_now_ms();
	size_t carried = 0;
	for (size_t i = 0; i < new_e->ntargets; i++) {
		chk_target_t *t = new_e->targets[i];
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (old[mid]->key_hash < t->key_hash)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t j = lo; j < n && old[j]->key_hash == t->key_hash; j++) {
			if (used[j] || strcmp(old[j]->key, t->key) != 0)
				continue;
			used[j] = true;
			const chk_target_t *o = old[j];
			t->sm = o->sm;
			t->changed_at_wall = o->changed_at_wall;
			/* A probe in flight in the old engine is dropped with it:
			 * run it again at once in the new one. */
			t->next_due = o->running || o->next_due <= now ? now : o->next_due;
			if (t->next_due == 0)
				t->next_due = 1;
			carried++;
			break;
		}
	}
	free(used);
	free(old);
	return carried;
}
