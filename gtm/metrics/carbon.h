/*
 * The carbon (Graphite plaintext) client: private to gtm/metrics (only
 * metrics.c and carbon.c include it).  metrics.c owns an array of
 * carbon_t, one per configured server, and a gtm_carbon_env_t they share.
 * Control thread only, on the env's event base.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/event.h>

#include "gtm/metrics/metrics.h"

struct bufferevent;
struct evdns_base;
struct evdns_getaddrinfo_request;

/* Addresses of a carbon host name kept and tried in turn. */
#define CARBON_MAX_ADDRS 8

/* What the servers of one metrics module share. */
typedef struct gtm_carbon_env {
	struct event_base *base;
	struct evdns_base *dns;     /* only when a carbon host is a name */
	uint32_t buffer;            /* points a TCP server's queue keeps */
	uint32_t backoff_min_ms, backoff_max_ms;
	uint32_t rnd;               /* xorshift32 state for the jitter */
} gtm_carbon_env_t;

typedef struct carbon {
	gtm_carbon_env_t *env;
	char *host;
	uint16_t port;
	gtm_carbon_proto_t proto;
	char name[300];             /* "host:port/tcp", for log lines */
	gtm_metrics_queue_t *q;     /* TCP only */
	struct bufferevent *bev;    /* TCP: connecting or connected */
	bool connected;
	struct event *retry;        /* backoff timer */
	unsigned attempt;
	struct evdns_getaddrinfo_request *req;
	bool resolving;
	struct sockaddr_storage sa;  /* the address being tried */
	socklen_t salen;
	/* A name's addresses, tried in turn before backing off; resolved
	 * again once all have failed. */
	struct sockaddr_storage addrs[CARBON_MAX_ADDRS];
	socklen_t addrlens[CARBON_MAX_ADDRS];
	size_t naddrs, cur;
	int udp_fd;
	uint64_t lost;              /* points lost with a connection or a datagram */
	bool down;                  /* an outage is under way (logged) */
	bool drop_logged;           /* its first drop was logged */
	uint64_t dropped_at_down;   /* drop total when the outage began */
	struct timeval down_since;
} carbon_t;

/* "tcp" or "udp". */
const char *gtm_carbon_proto_name(gtm_carbon_proto_t p);

/*
 * Fills `c` (zeroed by the caller) for server `cc`, borrowing `env`, which
 * must outlive it; creates env->dns when the host is a name and env has
 * none.  Does not connect: see gtm_carbon_start().
 */
void gtm_carbon_init(carbon_t *c, gtm_carbon_env_t *env, const gtm_carbon_conf_t *cc);

/* Resolves and connects (TCP) or opens the socket (UDP); failures retry
 * with backoff (TCP) or at the next send (UDP). */
void gtm_carbon_start(carbon_t *c);

/* Releases what `c` holds (not `c` itself, nor env). */
void gtm_carbon_clear(carbon_t *c);

/* One interval's points, `len` bytes of whole Graphite lines, to one
 * server: UDP sends datagrams of whole lines at once; TCP writes or queues
 * them (the oldest dropped when the queue is full). */
void gtm_carbon_send(carbon_t *c, const char *text, size_t len);

/* Points lost so far (queue overflow, connections lost, failed sends). */
uint64_t gtm_carbon_dropped(const carbon_t *c);

/* Points queued or handed to the connection but not yet written. */
size_t gtm_carbon_buffered(const carbon_t *c);

/*
 * Writes what the TCP servers of `carbon[0..ncarbon)` hold, blocking in
 * poll() up to `timeout_ms` in all, for the end of the event loop.
 * Returns the points left unsent (logged when not 0).
 */
size_t gtm_carbon_flush(carbon_t *carbon, size_t ncarbon, int timeout_ms);
