/*
 * The DNS listeners and worker threads.
 *
 * Each worker has its own SO_REUSEPORT UDP socket per listen address (the
 * kernel spreads packets over them), each answered by its own thread, and
 * a thread with its own libevent base for its SO_REUSEPORT TCP listener per
 * address.  A UDP thread blocks in recvmmsg and answers in batches with
 * sendmmsg from preallocated buffers: no allocation and no lock per query.  Workers read the current snapshot (dns/snapshot.h) and
 * nothing else that changes.
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "common/diag.h"
#include "dns/answer.h"
#include "dns/stats.h"

typedef struct dns_addr {
	struct sockaddr_storage ss;
	socklen_t len;
} dns_addr_t;

typedef struct dns_server_conf {
	const dns_addr_t *listen;   /* borrowed; copied by dns_server_new */
	size_t nlisten;
	unsigned workers;           /* >= 1 */
	unsigned tcp_idle_timeout_ms;
	unsigned tcp_max_clients;   /* over all workers */
	int udp_rcvbuf;             /* bytes; 0 = kernel default */
} dns_server_conf_t;

typedef struct dns_server dns_server_t;

/*
 * Creates the sockets and binds them (so that a port in use is reported
 * before anything starts).  Returns NULL with the reasons in `diag`.
 * Control thread.
 */
dns_server_t *dns_server_new(const dns_server_conf_t *conf, gtm_diag_t *diag);

/*
 * A reload's live settings: the TCP idle timeout and client limit (for
 * connections accepted from now on; open ones keep their timeout) and
 * the UDP receive buffer (set on every socket; 0 = the kernel's default,
 * net.core.rmem_default).  `conf`'s listen and workers are ignored: those
 * need a restart (the sockets and threads are made once).  Control thread,
 * while the workers run.
 */
void dns_server_tune(dns_server_t *s, const dns_server_conf_t *conf);

/* What the sockets have now, for tests and gtmctl: the first UDP socket's
 * SO_RCVBUF as the kernel reports it (twice the asked size, capped at
 * rmem_max without CAP_NET_ADMIN), or -1; the TCP idle timeout in ms. */
int dns_server_udp_rcvbuf(const dns_server_t *s);
unsigned dns_server_tcp_idle_ms(const dns_server_t *s);

/* Starts the worker threads.  A snapshot must have been published.
 * Returns 0 or a negative GTM_E*. */
int dns_server_start(dns_server_t *s);

/* Asks the workers to stop and joins them.  Idempotent. */
void dns_server_stop(dns_server_t *s);

/* Stops if needed, closes the sockets, frees.  NULL is a no-op. */
void dns_server_free(dns_server_t *s);

/* The sum of every worker's counters (a slightly stale read). */
void dns_server_stats(const dns_server_t *s, dns_stats_t *sum);

/*
 * The sum over the workers of the answers per site index
 * (dns_ctx_t.site_answers): out[i] for i < n (n at most DNS_MAX_SITES; the
 * rest of out[] is left alone).  A slightly stale read, like
 * dns_server_stats.  Control thread.
 */
void dns_server_site_answers(const dns_server_t *s, uint64_t *out, size_t n);

/*
 * The UDP batch step, exposed for the no-allocation test: answers `n`
 * packets whose bytes and lengths are in `in[i]`/`inlen[i]` (sources in
 * `from[i]`) into `out[i]` (each `outmax` bytes), storing each answer's
 * length (0 = drop) in `outlen[i]`.  Takes the snapshot read lock once.
 */
void dns_server_answer_batch(unsigned n, uint8_t *const *in, const size_t *inlen,
                             const struct sockaddr_storage *from,
                             uint8_t *const *out, size_t outmax, size_t *outlen,
                             dns_ctx_t *ctx);
