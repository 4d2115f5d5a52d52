/*
 * The carbon (Graphite plaintext) client of the metrics module: one
 * connection (TCP, with a bounded queue and backoff) or socket (UDP) per
 * server, host names resolved by evdns at every attempt, outages logged
 * once.  See carbon.h; metrics.c collects and renders what it sends.
 *
 * Everything runs on the control thread's event base and never blocks: a
 * carbon server that stops reading costs a bounded buffer, never a stall.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gtm/metrics/carbon.h"

/* A datagram of points stays below a common path MTU, as statsd clients do. */
#define UDP_DATAGRAM_MAX 1400
/* Bytes handed to a TCP connection's output at a time: the rest waits in the
 * bounded queue, where the oldest can still be dropped. */
#define TCP_OUTPUT_HIGH (256 * 1024)

const char *gtm_carbon_proto_name(gtm_carbon_proto_t p)
{
	return p == GTM_CARBON_UDP ? "udp" : "tcp";
}

static uint32_t next_rnd(gtm_carbon_env_t *e)
{
	uint32_t x = e->rnd;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return e->rnd = x;
}

uint64_t gtm_carbon_dropped(const carbon_t *c)
{
	return c->lost + (c->q ? gtm_metrics_queue_dropped(c->q) : 0);
}

static size_t count_lines(struct evbuffer *b)
{
	size_t n = 0;
	struct evbuffer_ptr p;
	evbuffer_ptr_set(b, &p, 0, EVBUFFER_PTR_SET);
	while ((p = evbuffer_search(b, "\n", 1, &p)).pos != -1) {
		n++;
		evbuffer_ptr_set(b, &p, 1, EVBUFFER_PTR_ADD);
	}
	return n;
}

size_t gtm_carbon_buffered(const carbon_t *c)
{
	size_t n = c->q ? gtm_metrics_queue_count(c->q) : 0;
	/* Points handed to the connection but not yet written. */
	if (c->bev != NULL)
		n += count_lines(bufferevent_get_output(c->bev));
	return n;
}

static void carbon_connect(carbon_t *c);

static void schedule_retry(carbon_t *c)
{
	gtm_carbon_env_t *e = c->env;
	uint32_t ms = gtm_metrics_backoff_ms(c->attempt, e->backoff_min_ms, e->backoff_max_ms,
	                                     next_rnd(e));
	if (c->attempt < 32)
		c->attempt++;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->retry, &tv);
	log_debug("metrics, carbon %s, next attempt in %u ms", c->name, ms);
}

/* The server cannot be reached (or stopped reading): start or continue an
 * outage.  Logged once per outage. */
static void carbon_open(carbon_t *c);

/* A name with another address to try: tries it at once.  False when
 * there is none left (the name is resolved again at the next attempt). */
static bool try_next_address(carbon_t *c)
{
	if (c->proto != GTM_CARBON_TCP || c->naddrs == 0)
		return false;
	if (c->cur + 1 >= c->naddrs) {
		c->naddrs = 0;
		c->cur = 0;
		return false;
	}
	c->cur++;
	memcpy(&c->sa, &c->addrs[c->cur], c->addrlens[c->cur]);
	c->salen = c->addrlens[c->cur];
	carbon_open(c);
	return true;
}

static void carbon_failed(carbon_t *c, const char *why)
{
	if (!c->down) {
		c->down = true;
		c->drop_logged = false;
		c->dropped_at_down = gtm_carbon_dropped(c);
		gettimeofday(&c->down_since, NULL);
		if (c->proto == GTM_CARBON_TCP)
			log_warn("metrics, carbon %s unreachable (%s), keeping the newest %u points",
			         c->name, why, c->env->buffer);
		else
			log_warn("metrics, carbon %s unreachable (%s), dropping points", c->name, why);
	} else {
		log_debug("metrics, carbon %s still unreachable (%s)", c->name, why);
	}
	if (c->proto == GTM_CARBON_TCP)
		schedule_retry(c);
}

static void carbon_recovered(carbon_t *c)
{
	c->attempt = 0;
	if (!c->down)
		return;
	struct timeval now;
	gettimeofday(&now, NULL);
	long secs = (long)(now.tv_sec - c->down_since.tv_sec);
	log_info("metrics, carbon %s reachable again after %ld s (%" PRIu64 " points dropped, %zu buffered points being sent)",
	         c->name, secs, gtm_carbon_dropped(c) - c->dropped_at_down,
	         c->q ? gtm_metrics_queue_count(c->q) : (size_t)0);
	c->down = false;
	c->drop_logged = false;
}

static void note_drops(carbon_t *c, size_t n)
{
	if (n == 0 || c->drop_logged)
		return;
	c->drop_logged = true;
	if (c->proto == GTM_CARBON_TCP)
		log_warn("metrics, carbon %s, buffer full (%u points), dropping the oldest",
		         c->name, c->env->buffer);
	else
		log_warn("metrics, carbon %s, points dropped (udp send failed)", c->name);
}

/* Moves queued points into the connection while its output is short. */
static void pump(carbon_t *c)
{
	if (!c->connected)
		return;
	struct evbuffer *o = bufferevent_get_output(c->bev);
	size_t have = evbuffer_get_length(o);
	while (have < TCP_OUTPUT_HIGH && gtm_metrics_queue_count(c->q) > 0) {
		gtm_metrics_queue_pop(c->q, o, TCP_OUTPUT_HIGH - have);
		have = evbuffer_get_length(o);
	}
}

static void close_bev(carbon_t *c)
{
	if (c->bev == NULL)
		return;
	/* What the connection had not written yet is lost: part of its first
	 * line may already be on the wire, so it cannot go back to the queue. */
	size_t n = count_lines(bufferevent_get_output(c->bev));
	c->lost += n;
	note_drops(c, n);
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->connected = false;
}

static void on_bev_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	/* carbon never speaks; whatever comes is discarded. */
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_bev_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pump(arg);
}

static void on_bev_event(struct bufferevent *bev, short what, void *arg)
{
	carbon_t *c = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->connected = true;
		if (!c->down)
			log_info("metrics, carbon %s connected", c->name);
		carbon_recovered(c);
		pump(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		int err = EVUTIL_SOCKET_ERROR();
		char why[128];
		if (what & BEV_EVENT_EOF)
			snprintf(why, sizeof(why), "closed by the server");
		else
			snprintf(why, sizeof(why), "%s", evutil_socket_error_to_string(err));
		bool was_connected = c->connected;
		close_bev(c);
		if (was_connected && !c->down)
			log_debug("metrics, carbon %s, connection lost", c->name);
		if (!was_connected && try_next_address(c))
			return;
		carbon_failed(c, why);
	}
}

static void carbon_open(carbon_t *c)
{
	if (c->proto == GTM_CARBON_UDP) {
		if (c->udp_fd >= 0)
			close(c->udp_fd);
		c->udp_fd = socket(c->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->udp_fd < 0 || connect(c->udp_fd, (struct sockaddr *)&c->sa, c->salen) != 0) {
			char why[128];
			snprintf(why, sizeof(why), "%s", strerror(errno));
			if (c->udp_fd >= 0)
				close(c->udp_fd);
			c->udp_fd = -1;
			carbon_failed(c, why);
		}
		return;
	}
	c->bev = bufferevent_socket_new(c->env->base, -1, BEV_OPT_CLOSE_ON_FREE);
	gtm_assert(c->bev != NULL);
	bufferevent_setcb(c->bev, on_bev_read, on_bev_write, on_bev_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->sa, (int)c->salen) != 0) {
		char why[128];
		snprintf(why, sizeof(why), "%s", strerror(errno));
		close_bev(c);
		if (!try_next_address(c))
			carbon_failed(c, why);
	}
}

static void on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
	carbon_t *c = arg;
	c->req = NULL;
	c->resolving = false;
	if (err != 0 || ai == NULL) {
		if (err == EVUTIL_EAI_CANCEL)
			return;
		char why[160];
		snprintf(why, sizeof(why), "cannot resolve %s: %s", c->host, evutil_gai_strerror(err));
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		carbon_failed(c, why);
		return;
	}
	c->naddrs = 0;
	c->cur = 0;
	for (struct evutil_addrinfo *a = ai; a != NULL && c->naddrs < CARBON_MAX_ADDRS; a = a->ai_next) {
		if (a->ai_addrlen > sizeof(c->addrs[0]))
			continue;
		memcpy(&c->addrs[c->naddrs], a->ai_addr, a->ai_addrlen);
		c->addrlens[c->naddrs++] = (socklen_t)a->ai_addrlen;
	}
	evutil_freeaddrinfo(ai);
	if (c->naddrs == 0) {
		carbon_failed(c, "no usable address");
		return;
	}
	memcpy(&c->sa, &c->addrs[0], c->addrlens[0]);
	c->salen = c->addrlens[0];
	carbon_open(c);
}

static bool numeric_host(const char *host, uint16_t port, struct sockaddr_storage *sa,
                         socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return true;
	}
	return false;
}

/* Resolves (a name: at every attempt, so a moved server is found) and
 * connects. */
static void carbon_connect(carbon_t *c)
{
	if (c->bev != NULL || c->resolving)
		return;
	if (numeric_host(c->host, c->port, &c->sa, &c->salen)) {
		carbon_open(c);
		return;
	}
	if (c->cur < c->naddrs) {
		memcpy(&c->sa, &c->addrs[c->cur], c->addrlens[c->cur]);
		c->salen = c->addrlens[c->cur];
		carbon_open(c);
		return;
	}
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = c->proto == GTM_CARBON_UDP ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	char port[8];
	snprintf(port, sizeof(port), "%u", c->port);
	c->resolving = true;
	struct evdns_getaddrinfo_request *r =
		evdns_getaddrinfo(c->env->dns, c->host, port, &hints, on_resolved, c);
	/* The callback may already have run (an answer from the hosts file). */
	if (c->resolving)
		c->req = r;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	carbon_connect(arg);
}

void gtm_carbon_send(carbon_t *c, const char *text, size_t len)
{
	if (c->proto == GTM_CARBON_UDP) {
		size_t off = 0;
		while (off < len) {
			/* A datagram of whole lines, at least one. */
			size_t end = off, n = 0;
			while (end < len) {
				const char *nl = memchr(text + end, '\n', len - end);
				size_t next = nl ? (size_t)(nl - text) + 1 : len;
				if (n > 0 && next - off > UDP_DATAGRAM_MAX)
					break;
				end = next;
				n++;
			}
			if (c->udp_fd < 0 || send(c->udp_fd, text + off, end - off, 0) < 0) {
				char why[128];
				snprintf(why, sizeof(why), "%s", c->udp_fd < 0 ? "no socket" : strerror(errno));
				c->lost += n;
				note_drops(c, n);
				if (!c->down)
					carbon_failed(c, why);
			} else if (c->down) {
				carbon_recovered(c);
			}
			off = end;
		}
		if (c->udp_fd < 0)
			carbon_connect(c);
		return;
	}
	size_t off = 0, dropped = 0;
	struct evbuffer *o = c->connected ? bufferevent_get_output(c->bev) : NULL;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t next = nl ? (size_t)(nl - text) + 1 : len;
		/* Straight to the connection while nothing waits before it. */
		if (o != NULL && gtm_metrics_queue_count(c->q) == 0 &&
		    evbuffer_get_length(o) < TCP_OUTPUT_HIGH)
			evbuffer_add(o, text + off, next - off);
		else
			dropped += gtm_metrics_queue_push(c->q, text + off, next - off);
		off = next;
	}
	note_drops(c, dropped);
}


void gtm_carbon_init(carbon_t *c, gtm_carbon_env_t *env, const gtm_carbon_conf_t *cc)
{
	c->env = env;
	c->host = gtm_xstrdup(cc->host);
	c->port = cc->port;
	c->proto = cc->protocol;
	c->udp_fd = -1;
	bool v6 = strchr(cc->host, ':') != NULL;
	snprintf(c->name, sizeof(c->name), "%s%s%s:%u/%s", v6 ? "[" : "", cc->host,
	         v6 ? "]" : "", cc->port, gtm_carbon_proto_name(cc->protocol));
	if (c->proto == GTM_CARBON_TCP)
		c->q = gtm_metrics_queue_new(env->buffer);
	c->retry = evtimer_new(env->base, on_retry, c);
	struct sockaddr_storage ss;
	socklen_t sl;
	if (env->dns == NULL && !numeric_host(c->host, c->port, &ss, &sl)) {
		env->dns = evdns_base_new(env->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
		gtm_assert(env->dns != NULL);
	}
}

void gtm_carbon_start(carbon_t *c)
{
	carbon_connect(c);
}

void gtm_carbon_clear(carbon_t *c)
{
	if (c->req != NULL)
		evdns_getaddrinfo_cancel(c->req);
	c->req = NULL;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->udp_fd >= 0)
		close(c->udp_fd);
	if (c->retry != NULL)
		event_free(c->retry);
	gtm_metrics_queue_free(c->q);
	free(c->host);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


size_t gtm_carbon_flush(carbon_t *carbon, size_t ncarbon, int timeout_ms)
{
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	size_t left = 0;
	for (size_t i = 0; i < ncarbon; i++) {
		carbon_t *c = &carbon[i];
		if (c->proto != GTM_CARBON_TCP)
			continue;
		if (!c->connected) {
			left += gtm_metrics_queue_count(c->q);
			continue;
		}
		/* The loop is not running any more: write with poll() here. */
		struct evbuffer *o = bufferevent_get_output(c->bev);
		evutil_socket_t fd = bufferevent_getfd(c->bev);
		bufferevent_disable(c->bev, EV_WRITE);
		/* A bufferevent freezes the front of its output so that only it
		 * drains it; this one write loop stands in for it. */
		evbuffer_unfreeze(o, 1);
		for (;;) {
			while (evbuffer_get_length(o) < TCP_OUTPUT_HIGH && gtm_metrics_queue_count(c->q) > 0)
				gtm_metrics_queue_pop(c->q, o, TCP_OUTPUT_HIGH - evbuffer_get_length(o));
			if (evbuffer_get_length(o) == 0)
				break;
			errno = 0;
			int r = evbuffer_write(o, fd);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				break;
			int64_t rest = deadline - mono_ms();
			if (rest <= 0)
				break;
			if (r <= 0) {
				struct pollfd p = { .fd = fd, .events = POLLOUT };
				if (poll(&p, 1, (int)rest) < 0 && errno != EINTR)
					break;
			}
		}
		evbuffer_freeze(o, 1);
		bufferevent_enable(c->bev, EV_WRITE);
		left += gtm_metrics_queue_count(c->q) + count_lines(o);
	}
	if (left > 0)
		log_warn("metrics, flush left %zu points unsent", left);
	return left;
}
