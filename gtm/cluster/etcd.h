/*
 * A small etcd v3 client on libevent: the JSON gateway of etcd (POST
 * /v3/kv/range, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/watch ...), spoken over HTTP/1.1 with evhttp, in clear or over TLS
 * (OpenSSL bufferevents, the server certificate verified, optionally a
 * client certificate).  gtm/cluster/cluster.c
 * is its only user.
 *
 * Why the gateway and not gRPC: Debian has no C client for etcd's gRPC
 * API, the gateway is served by every etcd 3.x on the client port, and
 * its messages are the same protobufs as JSON (bytes in base64, 64-bit
 * integers as strings).
 *
 * Members.  The client knows the cluster's client URLs and talks to one of
 * them at a time (the "current" member).  A call that fails in transport
 * (refused, reset, timed out) or that etcd answers "unavailable" (no
 * leader, leader changed, request timed out) reports GTM_EIO and moves the
 * current member to the next one, so that the caller's retry goes
 * elsewhere; the caller decides whether to retry.
 *
 * Host names in the URLs are resolved with evdns (libevent's resolver, from
 * /etc/resolv.conf and /etc/hosts), never with a blocking getaddrinfo.
 *
 * Calls.  Each call has its own connection (opened for the call, closed
 * when it completes): calls are rare (admin changes, lease keepalives,
 * resyncs), and a dead connection then never holds up the next call.
 * Every call has the client's timeout.
 *
 * The watch.  One streaming call at a time: its messages (each the
 * "result" of a WatchResponse) go to the watch callback as they arrive;
 * its end (member gone, stream closed, canceled by etcd) is reported once
 * with result NULL.  It has no timeout: a watch is quiet while nothing
 * changes, so liveness is the caller's (lease keepalives).
 *
 * Every function runs on the thread of `base` (gtmd's control thread).
 * Callbacks are never called from inside the function that started the
 * call.
 */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gtm_etcd gtm_etcd_t;

/*
 * A call's outcome.  rc 0: `reply` is etcd's JSON reply (borrowed for the
 * call).  rc GTM_EIO: transport failure or etcd unavailable (the current
 * member has moved on); GTM_ENOENT: etcd says not found (e.g. an expired
 * lease); GTM_EINVAL: any other error reply.  `err` (never NULL) says why
 * in one line, with the member's URL; "" on success.
 */
typedef void (*gtm_etcd_cb_t)(int rc, const json_t *reply, const char *err, void *arg);

/* A watch message: `result` is the WatchResponse (borrowed), or NULL when
 * the stream has ended, with the reason in `err`. */
typedef void (*gtm_etcd_watch_cb_t)(const json_t *result, const char *err, void *arg);

/* TLS to etcd (https:// URLs): the CA that signed the members'
 * certificates (NULL: the system's store) and, for etcd's
 * --client-cert-auth, this client's certificate chain and key (PEM; NULL:
 * none).  The member's certificate must name the URL's host (DNS name or
 * IP address). */
typedef struct gtm_etcd_tls {
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
} gtm_etcd_tls_t;

/*
 * A client for `urls` ("http://HOST:PORT" or "https://HOST:PORT", as
 * gtm/conf/conf_cluster.c checks them; copied), every call limited to
 * `timeout_ms`; `tls` (may be NULL) is read now for https URLs.  NULL with
 * a message in `err` when a URL cannot be parsed or the TLS files cannot be
 * loaded.
 */
gtm_etcd_t *gtm_etcd_new(struct event_base *base, char *const *urls, size_t n,
                         uint32_t timeout_ms, const gtm_etcd_tls_t *tls, char *err, size_t errlen);

/* Cancels every call, each callback then called with GTM_EIO ("canceled")
 * so that it can free its context (it must not make a new call), and the
 * watch (its callback is not called), and frees.  NULL is a no-op. */
void gtm_etcd_free(gtm_etcd_t *e);

/* The current member's URL. */
const char *gtm_etcd_member(const gtm_etcd_t *e);

/*
 * POSTs `body` (takes ownership) to `path` ("/v3/kv/txn") on the current
 * member; `cb` gets the outcome later.  Returns 0, or GTM_EIO when the
 * request cannot even be made (then `cb` is not called).
 */
int gtm_etcd_call(gtm_etcd_t *e, const char *path, json_t *body, gtm_etcd_cb_t cb, void *arg);

/*
 * Starts the watch: `create` is the WatchCreateRequest (takes ownership),
 * sent to the current member.  A watch already running is stopped first
 * (its callback is not called).  Returns 0 or GTM_EIO.
 */
int gtm_etcd_watch(gtm_etcd_t *e, json_t *create, gtm_etcd_watch_cb_t cb, void *arg);

/* Stops the watch without calling its callback.  Safe from inside it. */
void gtm_etcd_watch_stop(gtm_etcd_t *e);

/* ---- helpers for etcd's JSON ------------------------------------------- */

/* Base64 of `len` bytes of `s`: a new JSON string. */
json_t *gtm_etcd_b64(const char *s, size_t len);
/* Decodes a base64 JSON string; a new NUL-terminated buffer (caller
 * frees) with its length in *len, or NULL when it is not base64.  A
 * missing value (NULL) decodes to "" (etcd omits empty fields). */
char *gtm_etcd_unb64(const json_t *v, size_t *len);
/* A 64-bit integer field, sent as a string or a number; 0 when absent
 * (etcd omits zero values) or not a number. */
int64_t gtm_etcd_int(const json_t *v);
/* The smallest key after every key starting with `prefix` (the
 * range_end of a prefix range): a new JSON string in base64. */
json_t *gtm_etcd_prefix_end(const char *prefix);
