/*
 * http and https probes, and the response matcher they feed.
 *
 * The probe sends an HTTP/1.0 request (GET or HEAD, the path, a Host
 * header, "Connection: close"); HTTP/1.0 keeps servers from answering with
 * chunked encoding, so the body is matched as sent.  It is up when the
 * status is in the expected list and, if a body substring is configured,
 * that substring appears in the first body_max bytes of the body.  The
 * matcher decides as early as it can: the status alone when there is no
 * body match, the first occurrence of the substring otherwise.
 *
 * https runs the same exchange over libevent's OpenSSL bufferevent, with
 * SNI (the host, unless it is an IP literal) and, when tls_verify is set,
 * chain verification against the CA file or the system store and a check
 * of the host name (or IP) in the certificate.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checks/check_int.h"

/* chk_http_match_feed() returns this while it needs more bytes. */
#define CHK_HTTP_MORE (-1)

typedef struct chk_http_match {
	/* configuration (borrowed) */
	const uint16_t *status;
	size_t nstatus;
	const char *needle;          /* NULL: status only */
	size_t needle_len;
	const uint32_t *kmp;         /* chk_http_kmp_build() of needle */
	uint32_t body_max;
	/* progress */
	int phase;                   /* 0 status line, 1 headers, 2 body, 3 decided */
	char line[256];              /* the current status/header line (first 255 bytes) */
	size_t line_len;
	size_t line_total;
	size_t header_bytes;
	int status_code;             /* 0 until parsed */
	bool interim;                /* in the headers of a 1xx response */
	int64_t content_length;      /* -1 unknown */
	uint64_t body_seen;
	size_t matched;              /* KMP state */
	int result;
} chk_http_match_t;

/* Fills `table` (needle_len entries) with the KMP failure function. */
void chk_http_kmp_build(const char *needle, size_t needle_len, uint32_t *table);

/*
 * Prepares a matcher.  status/nstatus: expected statuses (borrowed,
 * nstatus >= 1).  needle NULL: the status decides (also for HEAD).
 * kmp: chk_http_kmp_build() of needle (borrowed).
 */
void chk_http_match_init(chk_http_match_t *m, const uint16_t *status, size_t nstatus,
                         const char *needle, const uint32_t *kmp, uint32_t body_max);

/*
 * Feeds the next `len` bytes of the response (any split).  Returns
 * CHK_HTTP_MORE, or the final chk_reason_t (CHK_OK, CHK_FAIL_HTTP_STATUS,
 * CHK_FAIL_HTTP_BODY, CHK_FAIL_PROTOCOL); after a final result further
 * calls return it again.
 */
int chk_http_match_feed(chk_http_match_t *m, const char *data, size_t len);

/* The peer closed: returns the final reason (a body not yet matched fails,
 * a response cut before its headers ended is a protocol error). */
chk_reason_t chk_http_match_eof(chk_http_match_t *m);

/* Parses "HTTP/1.1 200 OK" (len bytes, no CRLF); stores the status.
 * Returns 0 or GTM_EPARSE. */
int chk_http_status_parse(const char *line, size_t len, int *status);

/* True when `status` is in the list. */
bool chk_http_status_ok(const uint16_t *list, size_t n, int status);

/* Starts an http or https probe of t (ops table entries). */
void chk_http_start(chk_target_t *t);
