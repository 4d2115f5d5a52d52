/*
 * The tcp probe (a connect, then a reset) and the non-blocking connect that
 * the http, https and dns-over-tcp probes share.
 */
#pragma once

#include "checks/check_int.h"

typedef struct chk_connect chk_connect_t;

/* Called once when the connect ends: fd >= 0 (a connected, non-blocking
 * socket the callee now owns) with CHK_OK, or fd -1 and the failure. */
typedef void (*chk_connect_cb_t)(chk_target_t *t, int fd, chk_reason_t reason, void *arg);

/*
 * Starts a non-blocking connect from t->src (if set) to t->sa on the
 * engine's base.  Returns CHK_OK with *out set, and `cb` is called later,
 * once; or returns a failure at once (no callback, *out NULL).
 */
chk_reason_t chk_connect_start(chk_target_t *t, chk_connect_cb_t cb, void *arg, chk_connect_t **out);

/* Aborts a connect in progress (no callback).  NULL does nothing. */
void chk_connect_cancel(chk_connect_t *c);

/* Maps a socket errno to a reason (ECONNREFUSED -> CHK_FAIL_CONNECT_REFUSED...). */
chk_reason_t chk_errno_reason(int err);

/* Creates a non-blocking, close-on-exec socket of `type` for t's family,
 * bound to t->src when set; returns the fd or -1 (errno set). */
int chk_socket(const chk_target_t *t, int type);

/* Starts a tcp probe of t (ops table entry). */
void chk_tcp_start(chk_target_t *t);
