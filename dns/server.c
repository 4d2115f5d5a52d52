/*
 * DNS listeners and worker threads.
 *
 * Shape (NSD server.c, gdnsd dnsio_udp.c): every worker owns one UDP socket
 * per listen address, bound with SO_REUSEPORT so that the kernel spreads the
 * packets, and a thread per socket that blocks in recvmmsg (MSG_WAITFORONE)
 * into preallocated buffers, answers the whole batch under one snapshot read
 * lock, and replies with one sendmmsg.  No epoll_wait between batches, as in
 * gdnsd.  Nothing on that path allocates, locks or logs.
 *
 * TCP (RFC 7766) runs on each worker's libevent thread with bufferevents:
 * a connection may carry many queries, pipelined; each is answered as soon
 * as it is read, so answers leave in order (the RFC allows any order).  Idle
 * connections are closed after tcp_idle_timeout; connections beyond each
 * worker's share of tcp_max_clients are accepted and closed at once, which
 * tells the client more than a backlog that never drains.  TCP allocates per
 * connection, not per query.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "dns/answer.h"
#include "dns/server.h"
#include "dns/snapshot.h"

#define UDP_BATCH 64
#define UDP_BUF 4096          /* largest query read, and largest UDP answer (udp_max <= 4096) */
#define UDP_STOP_POLL_MS 200  /* SO_RCVTIMEO: a UDP thread sees the stop flag this often at worst */
#define TCP_OUT_HIGH (256 * 1024) /* stop reading a TCP client whose answers pile up */

struct worker;

/* One UDP socket and the thread that answers it, with its own batch
 * buffers and counters. */
typedef struct udp_sock {
	int fd;
	int family;
	int pktinfo;          /* bound to a wildcard address: answer from the address asked */
	struct worker *w;
	pthread_t thread;
	int started;

	/* Batch state, preallocated. */
	struct mmsghdr in_msgs[UDP_BATCH];
	struct mmsghdr out_msgs[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH];
	struct iovec out_iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	uint8_t in_ctl[UDP_BATCH][64];
	uint8_t out_ctl[UDP_BATCH][64];
	uint8_t *in_buf[UDP_BATCH];
	uint8_t *out_buf[UDP_BATCH];
	size_t in_len[UDP_BATCH];
	size_t out_len[UDP_BATCH];

	/* Counters and rng: this thread's alone. */
	dns_ctx_t ctx;
} udp_sock_t;

typedef struct worker {
	unsigned id;
	struct dns_server *srv;
	pthread_t thread;
	int started;
	struct event_base *base;
	udp_sock_t *udp;
	size_t nudp;
	struct evconnlistener **tcp;
	size_t ntcp;
	unsigned tcp_clients;
	unsigned tcp_max;
	struct tcp_conn *conns;         /* open connections, freed at shutdown */

	/* TCP scratch: one query and one answer at a time. */
	uint8_t *tcp_in;
	uint8_t *tcp_out;

	/* TCP counters and rng: this thread's alone (each UDP socket has its own). */
	dns_ctx_t ctx;
} worker_t;

struct dns_server {
	dns_server_conf_t conf;
	dns_addr_t *listen;
	worker_t *workers;
	unsigned nworkers;
	int running;
	atomic_int stopping;    /* set by dns_server_stop; UDP threads check it per batch */
};

typedef struct tcp_conn {
	worker_t *w;
	struct bufferevent *bev;
	int closing;
	struct sockaddr_storage peer;   /* the client, for geo steering */
	struct tcp_conn *prev, *next;   /* the worker's open connections */
} tcp_conn_t;

static int addr_is_wildcard(const dns_addr_t *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
	return IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
}

static void addr_str(const dns_addr_t *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	}
}

/* Opens and binds one socket for `a`; -1 with a diag line on failure. */
static int open_socket(const dns_addr_t *a, int type, int rcvbuf, gtm_diag_t *diag)
{
	char name[INET6_ADDRSTRLEN + 8];
	addr_str(a, name, sizeof(name));
	const char *proto = type == SOCK_DGRAM ? "udp" : "tcp";
	int fd = socket(a->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		gtm_diag_add(diag, NULL, 0, "listen %s/%s: socket: %s", name, proto, strerror(errno));
		return -1;
	}
	int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0)
		goto fail_opt;
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
		goto fail_opt;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
		goto fail_opt;
	if (type == SOCK_DGRAM && rcvbuf > 0) {
		/* SO_RCVBUFFORCE passes net.core.rmem_max when we are root; a
		 * burst that overflows the buffer is lost without a trace. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	if (type == SOCK_DGRAM && addr_is_wildcard(a)) {
		int r = a->ss.ss_family == AF_INET
			? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on))
			: setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
		if (r < 0)
			goto fail_opt;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
		gtm_diag_add(diag, NULL, 0, "listen %s/%s: bind: %s", name, proto, strerror(errno));
		close(fd);
		return -1;
	}
	if (type == SOCK_STREAM && listen(fd, 1024) < 0) {
		gtm_diag_add(diag, NULL, 0, "listen %s/%s: listen: %s", name, proto, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
fail_opt:
	gtm_diag_add(diag, NULL, 0, "listen %s/%s: setsockopt: %s", name, proto, strerror(errno));
	close(fd);
	return -1;
}

/*
 * SO_REUSEPORT lets any process of the same user join our port and take a
 * share of the queries: a second gtmd started by mistake would silently
 * split the traffic.  Binding once without SO_REUSEPORT first fails with
 * EADDRINUSE when anyone holds the address, whatever their options.
 */
static int address_taken(const dns_addr_t *a, gtm_diag_t *diag)
{
	static const int types[2] = { SOCK_DGRAM, SOCK_STREAM };
	char name[INET6_ADDRSTRLEN + 8];
	addr_str(a, name, sizeof(name));
	for (int i = 0; i < 2; i++) {
		int fd = socket(a->ss.ss_family, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue; /* open_socket reports it */
		int on = 1;
		if (a->ss.ss_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		if (types[i] == SOCK_STREAM)
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		int r = bind(fd, (const struct sockaddr *)&a->ss, a->len);
		int err = errno;
		close(fd);
		if (r < 0 && err == EADDRINUSE) {
			gtm_diag_add(diag, NULL, 0, "listen %s/%s: address already in use (another gtmd or DNS server?)",
			             name, i == 0 ? "udp" : "tcp");
			return 1;
		}
	}
	return 0;
}

/* ---- UDP ---- */

void dns_server_answer_batch(unsigned n, uint8_t *const *in, const size_t *inlen,
                             const struct sockaddr_storage *from,
                             uint8_t *const *out, size_t outmax, size_t *outlen,
                             dns_ctx_t *ctx)
{
	dns_snapshot_read_lock();
	const dns_snapshot_t *snap = dns_snapshot_current();
	for (unsigned i = 0; i < n; i++) {
		if (snap == NULL) {
			outlen[i] = 0;
			ctx->stats.dropped++;
			continue;
		}
		outlen[i] = dns_answer(snap, in[i], inlen[i], out[i], outmax, DNS_TRANSPORT_UDP,
		                       (const struct sockaddr *)&from[i], ctx);
	}
	dns_snapshot_read_unlock();
}

/* Copies the destination address of a query (IP_PKTINFO) into the control
 * message of its answer, so that a wildcard socket answers from the address
 * the client asked. */
static socklen_t reply_pktinfo(const struct msghdr *in, uint8_t *ctl, size_t ctllen)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(in); c != NULL; c = CMSG_NXTHDR((struct msghdr *)in, c)) {
		struct cmsghdr *o = (struct cmsghdr *)ctl;
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return (socklen_t)CMSG_SPACE(sizeof(pi));
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
			memcpy(CMSG_DATA(o), CMSG_DATA(c), sizeof(struct in6_pktinfo));
			return (socklen_t)CMSG_SPACE(sizeof(struct in6_pktinfo));
		}
	}
	(void)ctllen;
	return 0;
}

/* Answers one batch read by recvmmsg and sends the answers. */
static void udp_answer(udp_sock_t *us, int n)
{
	for (int i = 0; i < n; i++) {
		/* A query larger than our buffer is not a query we answer. */
		us->in_len[i] = (us->in_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : us->in_msgs[i].msg_len;
	}
	dns_server_answer_batch((unsigned)n, us->in_buf, us->in_len, us->from,
	                        us->out_buf, UDP_BUF, us->out_len, &us->ctx);

	unsigned m = 0;
	for (int i = 0; i < n; i++) {
		if (us->out_len[i] == 0)
			continue;
		struct msghdr *h = &us->out_msgs[m].msg_hdr;
		us->out_iov[m].iov_base = us->out_buf[i];
		us->out_iov[m].iov_len = us->out_len[i];
		h->msg_name = &us->from[i];
		h->msg_namelen = us->in_msgs[i].msg_hdr.msg_namelen;
		h->msg_iov = &us->out_iov[m];
		h->msg_iovlen = 1;
		h->msg_flags = 0;
		h->msg_control = NULL;
		h->msg_controllen = 0;
		if (us->pktinfo) {
			socklen_t cl = reply_pktinfo(&us->in_msgs[i].msg_hdr, us->out_ctl[m], sizeof(us->out_ctl[m]));
			if (cl > 0) {
				h->msg_control = us->out_ctl[m];
				h->msg_controllen = cl;
			}
		}
		m++;
	}
	unsigned sent = 0;
	while (sent < m) {
		int r = sendmmsg(us->fd, us->out_msgs + sent, m - sent, MSG_DONTWAIT);
		if (r > 0) {
			sent += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/* A full send buffer or an unreachable client: skip that
		 * one answer (the client retries) rather than spin. */
		sent++;
		us->ctx.stats.dropped++;
	}
}

/*
 * One thread per UDP socket blocks in recvmmsg (gdnsd dnsio_udp.c):
 * MSG_WAITFORONE waits for the first packet and takes whatever else is
 * queued, up to UDP_BATCH, so a busy socket is drained without an
 * epoll_wait per batch.  dns_server_stop sets `stopping` and wakes the
 * thread with shutdown(SHUT_RD); SO_RCVTIMEO bounds the wait should that
 * not wake it.
 */
static void *udp_main(void *arg)
{
	udp_sock_t *us = arg;
	const dns_server_t *srv = us->w->srv;
	dns_snapshot_thread_register();
	while (!atomic_load_explicit(&srv->stopping, memory_order_acquire)) {
		for (unsigned i = 0; i < UDP_BATCH; i++) {
			struct msghdr *h = &us->in_msgs[i].msg_hdr;
			h->msg_name = &us->from[i];
			h->msg_namelen = sizeof(us->from[i]);
			h->msg_iov = &us->in_iov[i];
			h->msg_iovlen = 1;
			h->msg_control = us->pktinfo ? us->in_ctl[i] : NULL;
			h->msg_controllen = us->pktinfo ? sizeof(us->in_ctl[i]) : 0;
			h->msg_flags = 0;
		}
		int n = recvmmsg(us->fd, us->in_msgs, UDP_BATCH, MSG_WAITFORONE, NULL);
		if (atomic_load_explicit(&srv->stopping, memory_order_acquire))
			break;
		if (n <= 0)
			continue; /* EAGAIN (timeout), EINTR; other errors (ICMP) are not ours to report per packet */
		udp_answer(us, n);
	}
	dns_snapshot_thread_unregister();
	return NULL;
}

/* ---- TCP ---- */

static void tcp_close(tcp_conn_t *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->w->tcp_clients--;
	bufferevent_free(c->bev);
	free(c);
}

static void tcp_read(struct bufferevent *bev, void *arg)
{
	tcp_conn_t *c = arg;
	worker_t *w = c->w;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);

	dns_snapshot_read_lock();
	const dns_snapshot_t *snap = dns_snapshot_current();
	for (;;) {
		uint8_t lenbuf[2];
		if (evbuffer_copyout(in, lenbuf, 2) < 2)
			break;
		size_t qlen = ((size_t)lenbuf[0] << 8) | lenbuf[1];
		if (evbuffer_get_length(in) < 2 + qlen)
			break;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, w->tcp_in, qlen);
		size_t alen = snap ? dns_answer(snap, w->tcp_in, qlen, w->tcp_out + 2, DNS_TCP_MAX,
		                                DNS_TRANSPORT_TCP,
		                                (const struct sockaddr *)&c->peer, &w->ctx) : 0;
		if (alen == 0) {
			/* A query we drop (QR=1, runt) ends the conversation:
			 * the stream may no longer be framed as the client thinks. */
			c->closing = 1;
			break;
		}
		w->tcp_out[0] = (uint8_t)(alen >> 8);
		w->tcp_out[1] = (uint8_t)alen;
		evbuffer_add(out, w->tcp_out, alen + 2);
		if (evbuffer_get_length(out) > TCP_OUT_HIGH) {
			/* Answers pile up: the client reads slower than it asks. */
			bufferevent_disable(bev, EV_READ);
			break;
		}
	}
	dns_snapshot_read_unlock();
	if (c->closing) {
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(out) == 0)
			tcp_close(c);
	}
}

static void tcp_write(struct bufferevent *bev, void *arg)
{
	tcp_conn_t *c = arg;
	/* Called when the output drained (low watermark 0). */
	if (c->closing) {
		tcp_close(c);
		return;
	}
	if (!(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);
		tcp_read(bev, c); /* queries may wait in the input buffer */
	}
}

static void tcp_event(struct bufferevent *bev, short what, void *arg)
{
	tcp_conn_t *c = arg;
	if (what & BEV_EVENT_TIMEOUT)
		c->w->ctx.stats.tcp_timeouts++;
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* The client half-closed after its last query: send the rest. */
		c->closing = 1;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	tcp_close(c);
}

static void tcp_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                       int salen, void *arg)
{
	worker_t *w = arg;
	(void)l;
	/* tcp_max and the idle timeout change under a reload
	 * (dns_server_tune, on the control thread): read them atomically. */
	if (w->tcp_clients >= __atomic_load_n(&w->tcp_max, __ATOMIC_RELAXED)) {
		w->ctx.stats.tcp_rejected++;
		close(fd);
		return;
	}
	struct bufferevent *bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	tcp_conn_t *c = gtm_xcalloc(1, sizeof(*c));
	c->w = w;
	c->bev = bev;
	if (sa != NULL && salen > 0 && (size_t)salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, (size_t)salen);
	else
		c->peer.ss_family = AF_UNSPEC;   /* unlocated */
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->tcp_clients++;
	unsigned ms = __atomic_load_n(&w->srv->conf.tcp_idle_timeout_ms, __ATOMIC_RELAXED);
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setcb(bev, tcp_read, tcp_write, tcp_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	dns_snapshot_thread_register();
	event_base_dispatch(w->base);
	dns_snapshot_thread_unregister();
	return NULL;
}

static void worker_free(worker_t *w)
{
	while (w->conns)
		tcp_close(w->conns);
	for (size_t i = 0; i < w->nudp; i++) {
		udp_sock_t *us = &w->udp[i];
		if (us->fd >= 0)
			close(us->fd);
		for (unsigned j = 0; j < UDP_BATCH; j++) {
			free(us->in_buf[j]);
			free(us->out_buf[j]);
		}
	}
	free(w->udp);
	for (size_t i = 0; i < w->ntcp; i++)
		if (w->tcp[i])
			evconnlistener_free(w->tcp[i]);
	free(w->tcp);
	free(w->tcp_in);
	free(w->tcp_out);
	if (w->base)
		event_base_free(w->base);
}

/* A seed for a worker's weighted choices: from the kernel, or, should
 * getrandom() fail, from the clock, the pid and the worker number.  The
 * draws need no secrecy, only workers (and restarts) that differ. */
static uint64_t worker_seed(unsigned id)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed) || seed == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^
		       ((uint64_t)getpid() << 32) ^ ((uint64_t)(id + 1) * 0x9E3779B97F4A7C15ull);
	}
	return seed;
}

static int worker_init(dns_server_t *s, worker_t *w, unsigned id, gtm_diag_t *diag)
{
	w->id = id;
	w->srv = s;
	struct event_config *cfg = event_config_new();
	/* Each base belongs to one thread; only loopexit crosses threads,
	 * and evthread_use_pthreads() covers that. */
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL) {
		gtm_diag_add(diag, NULL, 0, "worker %u: cannot create an event base", id);
		return GTM_EIO;
	}
	w->tcp_in = gtm_xmalloc(65535);
	w->tcp_out = gtm_xmalloc(DNS_TCP_MAX + 2);
	dns_ctx_init(&w->ctx, worker_seed(id));
	unsigned n = s->nworkers;
	w->tcp_max = (s->conf.tcp_max_clients + n - 1) / n;

	w->udp = gtm_xcalloc(s->conf.nlisten, sizeof(*w->udp));
	w->tcp = gtm_xcalloc(s->conf.nlisten, sizeof(*w->tcp));
	for (size_t i = 0; i < s->conf.nlisten; i++) {
		const dns_addr_t *a = &s->listen[i];
		udp_sock_t *us = &w->udp[w->nudp];
		us->fd = open_socket(a, SOCK_DGRAM, s->conf.udp_rcvbuf, diag);
		if (us->fd < 0)
			return GTM_EIO;
		w->nudp++;
		us->family = a->ss.ss_family;
		us->pktinfo = addr_is_wildcard(a);
		us->w = w;
		for (unsigned j = 0; j < UDP_BATCH; j++) {
			us->in_buf[j] = gtm_xmalloc(UDP_BUF);
			us->out_buf[j] = gtm_xmalloc(UDP_BUF);
			us->in_iov[j].iov_base = us->in_buf[j];
			us->in_iov[j].iov_len = UDP_BUF;
		}
		/* UDP threads give each socket's answers their own rng stream. */
		dns_ctx_init(&us->ctx, worker_seed(id * 1000u + (unsigned)i + 1));
		/* The UDP thread blocks in recvmmsg; the timeout is its
		 * fallback for noticing dns_server_stop. */
		int fl = fcntl(us->fd, F_GETFL);
		struct timeval rto = { .tv_sec = 0, .tv_usec = UDP_STOP_POLL_MS * 1000 };
		if (fl < 0 || fcntl(us->fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
		    setsockopt(us->fd, SOL_SOCKET, SO_RCVTIMEO, &rto, sizeof(rto)) < 0) {
			gtm_diag_add(diag, NULL, 0, "worker %u: cannot make the UDP socket blocking (%s)",
			             id, strerror(errno));
			return GTM_EIO;
		}

		int tfd = open_socket(a, SOCK_STREAM, 0, diag);
		if (tfd < 0)
			return GTM_EIO;
		w->tcp[w->ntcp] = evconnlistener_new(w->base, tcp_accept, w,
		                                     LEV_OPT_CLOSE_ON_FREE, -1, tfd);
		if (w->tcp[w->ntcp] == NULL) {
			close(tfd);
			gtm_diag_add(diag, NULL, 0, "worker %u: cannot listen on TCP", id);
			return GTM_EIO;
		}
		w->ntcp++;
	}
	return 0;
}

dns_server_t *dns_server_new(const dns_server_conf_t *conf, gtm_diag_t *diag)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, (void (*)(void))evthread_use_pthreads);

	if (conf->nlisten == 0 || conf->workers == 0) {
		gtm_diag_add(diag, NULL, 0, "server: no listen address or no worker");
		return NULL;
	}
	for (size_t i = 0; i < conf->nlisten; i++)
		if (address_taken(&conf->listen[i], diag))
			return NULL;
	dns_server_t *s = gtm_xcalloc(1, sizeof(*s));
	s->conf = *conf;
	s->listen = gtm_xcalloc(conf->nlisten, sizeof(*s->listen));
	memcpy(s->listen, conf->listen, conf->nlisten * sizeof(*s->listen));
	s->conf.listen = s->listen;
	if (s->conf.tcp_max_clients < conf->workers)
		s->conf.tcp_max_clients = conf->workers;
	s->nworkers = conf->workers;
	s->workers = gtm_xcalloc(s->nworkers, sizeof(*s->workers));
	for (unsigned i = 0; i < s->nworkers; i++) {
		if (worker_init(s, &s->workers[i], i, diag) < 0) {
			s->nworkers = i + 1;
			dns_server_free(s);
			return NULL;
		}
	}
	return s;
}

/* The kernel's default receive buffer, for udp_rcvbuf = 0 after a reload
 * (a socket cannot be told "back to the default"); 0 when unknown. */
static int rmem_default(void)
{
	FILE *f = fopen("/proc/sys/net/core/rmem_default", "r");
	int v = 0;
	if (f != NULL) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

void dns_server_tune(dns_server_t *s, const dns_server_conf_t *conf)
{
	unsigned max = conf->tcp_max_clients < s->nworkers ? s->nworkers : conf->tcp_max_clients;
	__atomic_store_n(&s->conf.tcp_idle_timeout_ms, conf->tcp_idle_timeout_ms, __ATOMIC_RELAXED);
	s->conf.tcp_max_clients = max;
	for (unsigned i = 0; i < s->nworkers; i++)
		__atomic_store_n(&s->workers[i].tcp_max, (max + s->nworkers - 1) / s->nworkers,
		                 __ATOMIC_RELAXED);
	if (conf->udp_rcvbuf != s->conf.udp_rcvbuf) {
		int v = conf->udp_rcvbuf > 0 ? conf->udp_rcvbuf : rmem_default();
		for (unsigned i = 0; v > 0 && i < s->nworkers; i++)
			for (size_t j = 0; j < s->workers[i].nudp; j++) {
				int fd = s->workers[i].udp[j].fd;
				if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
					(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
			}
		s->conf.udp_rcvbuf = conf->udp_rcvbuf;
	}
}

int dns_server_udp_rcvbuf(const dns_server_t *s)
{
	int v = 0;
	socklen_t len = sizeof(v);
	if (s->nworkers == 0 || s->workers[0].nudp == 0 ||
	    getsockopt(s->workers[0].udp[0].fd, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0)
		return -1;
	return v;
}

unsigned dns_server_tcp_idle_ms(const dns_server_t *s)
{
	return __atomic_load_n(&s->conf.tcp_idle_timeout_ms, __ATOMIC_RELAXED);
}

int dns_server_start(dns_server_t *s)
{
	/* Workers inherit a mask that blocks every signal, so that SIGHUP and
	 * SIGTERM reach the control thread's event loop and nothing else. */
	atomic_store_explicit(&s->stopping, 0, memory_order_relaxed);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < s->nworkers; i++) {
		worker_t *w = &s->workers[i];
		int r = pthread_create(&w->thread, NULL, worker_main, w);
		if (r != 0)
			goto fail;
		w->started = 1;
		for (size_t j = 0; j < w->nudp; j++) {
			r = pthread_create(&w->udp[j].thread, NULL, udp_main, &w->udp[j]);
			if (r != 0)
				goto fail;
			w->udp[j].started = 1;
		}
		continue;
fail:
		log_err("server, cannot start worker %u (%s)", i, strerror(r));
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		dns_server_stop(s);
		return GTM_EIO;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	s->running = 1;
	return 0;
}

void dns_server_stop(dns_server_t *s)
{
	atomic_store_explicit(&s->stopping, 1, memory_order_release);
	for (unsigned i = 0; i < s->nworkers; i++) {
		worker_t *w = &s->workers[i];
		if (w->started)
			event_base_loopexit(w->base, NULL);
		/* On Linux, shutdown(SHUT_RD) wakes a thread blocked in
		 * recvmmsg on an unconnected UDP socket (the call fails with
		 * ENOTCONN but still marks the socket and wakes its readers). */
		for (size_t j = 0; j < w->nudp; j++)
			if (w->udp[j].started)
				(void)shutdown(w->udp[j].fd, SHUT_RD);
	}
	for (unsigned i = 0; i < s->nworkers; i++) {
		worker_t *w = &s->workers[i];
		if (w->started) {
			pthread_join(w->thread, NULL);
			w->started = 0;
		}
		for (size_t j = 0; j < w->nudp; j++) {
			if (w->udp[j].started) {
				pthread_join(w->udp[j].thread, NULL);
				w->udp[j].started = 0;
			}
		}
	}
	s->running = 0;
}

void dns_server_free(dns_server_t *s)
{
	if (s == NULL)
		return;
	dns_server_stop(s);
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_free(&s->workers[i]);
	free(s->workers);
	free(s->listen);
	free(s);
}

void dns_server_stats(const dns_server_t *s, dns_stats_t *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < s->nworkers; i++) {
		const worker_t *w = &s->workers[i];
		dns_stats_add(sum, &w->ctx.stats);
		for (size_t j = 0; j < w->nudp; j++)
			dns_stats_add(sum, &w->udp[j].ctx.stats);
	}
}

void dns_server_site_answers(const dns_server_t *s, uint64_t *out, size_t n)
{
	if (n > DNS_MAX_SITES)
		n = DNS_MAX_SITES;
	memset(out, 0, n * sizeof(*out));
	for (unsigned i = 0; i < s->nworkers; i++) {
		const worker_t *w = &s->workers[i];
		dns_ctx_site_answers_add(out, n, &w->ctx);
		for (size_t j = 0; j < w->nudp; j++)
			dns_ctx_site_answers_add(out, n, &w->udp[j].ctx);
	}
}
