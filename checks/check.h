/*
 * Active health probes: the engine that schedules them and the rise/fall
 * state of every target.
 *
 * A caller (gtm/) creates one engine on the control thread's libevent base,
 * adds one target per probed endpoint (check parameters + the address to
 * probe + an opaque user id), starts the engine, and is told through one
 * callback whenever a target's state changes.  Every function here must be
 * called from the thread that runs that event base; none blocks.
 *
 * Probe types: tcp (connect), http and https (GET or HEAD, status list,
 * body substring; TLS with SNI and optional certificate verification), dns
 * (a UDP or TCP query, expected rcode and optionally an address in the
 * answer), exec (a command without a shell, exit 0 = up).
 *
 * State (chk_state.h): HAProxy's single health counter 0..rise+fall-1.
 * A target is up after `rise` consecutive successes, down after `fall`
 * consecutive failures; while the counter is between its ends the next
 * probe comes after `recheck_ms` instead of `interval_ms`, so `fall`
 * failures cost one interval plus (fall-1) rechecks.  A never-probed target
 * is UNKNOWN: its first success makes it UP, `fall` consecutive failures
 * make it DOWN (it leaves UNKNOWN within one interval plus the rechecks).
 *
 * Reload: build a new engine with the new targets, call
 * chk_engine_reconcile(new, old) to carry the state of every target whose
 * parameters and address did not change, free the old engine, start the new
 * one.  See chk_engine_reconcile().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"

struct event_base;

typedef enum chk_type {
	CHK_TYPE_TCP = 0,
	CHK_TYPE_HTTP,
	CHK_TYPE_HTTPS,
	CHK_TYPE_DNS,
	CHK_TYPE_EXEC,
	CHK_TYPE_COUNT
} chk_type_t;

/* How a probe ended.  Every probe ends with exactly one reason. */
typedef enum chk_reason {
	CHK_OK = 0,
	CHK_FAIL_TIMEOUT,          /* no result within timeout_ms */
	CHK_FAIL_CONNECT_REFUSED,  /* ECONNREFUSED (TCP RST, or ICMP port unreachable for UDP) */
	CHK_FAIL_CONNECT,          /* any other connect/socket error (unreachable, bind failed...) */
	CHK_FAIL_TLS,              /* TLS handshake or certificate verification failed */
	CHK_FAIL_HTTP_STATUS,      /* status not in the expected list */
	CHK_FAIL_HTTP_BODY,        /* body substring not found in the bytes read */
	CHK_FAIL_DNS_RCODE,        /* rcode differs from the expected one */
	CHK_FAIL_DNS_ANSWER,       /* expected address not in the answer section */
	CHK_FAIL_EXEC_STATUS,      /* command exited non-zero or died of a signal */
	CHK_FAIL_EXEC_SPAWN,       /* command could not be started */
	CHK_FAIL_PROTOCOL,         /* malformed or truncated reply, early close */
	CHK_REASON_COUNT
} chk_reason_t;

typedef enum chk_state {
	CHK_STATE_UNKNOWN = 0,     /* never probed (and not restored) */
	CHK_STATE_DOWN,
	CHK_STATE_UP,
} chk_state_t;

typedef enum chk_http_method { CHK_HTTP_GET = 0, CHK_HTTP_HEAD } chk_http_method_t;

#define CHK_HTTP_MAX_STATUS 16

/*
 * Parameters of one check.  The caller fills it (chk_params_init() first,
 * then overrides), validates it with chk_params_check(), and passes it to
 * chk_target_add(), which copies it with every string in it: the struct and
 * its strings stay the caller's.
 */
typedef struct chk_params {
	const char *name;        /* check name for logs ("web-http"); NULL -> type name */
	chk_type_t type;
	uint16_t port;           /* probed port; 0 -> http 80, https 443, dns 53; tcp needs one;
	                          * exec: only substituted for %p (may stay 0) */
	uint32_t interval_ms;    /* between probes when the state is settled; default 1000 */
	uint32_t timeout_ms;     /* per probe; 0 -> interval/2; must be < interval_ms */
	uint32_t recheck_ms;     /* between probes while the state is moving; default 100, <= interval */
	uint16_t rise;           /* consecutive successes to go up; default 2, 1..100 */
	uint16_t fall;           /* consecutive failures to go down; default 3, 1..100 */
	double jitter;           /* settled probes come after interval*(1 - jitter*U[0,1));
	                          * default 0.1, 0..0.5; first probes are spread over one interval */
	const char *source;      /* local IP address to bind; NULL -> any */

	struct {
		chk_http_method_t method;   /* default GET */
		const char *path;           /* default "/" */
		const char *host;           /* Host header and, for https, SNI and the name verified;
		                             * NULL -> the probed address (no SNI) */
		uint16_t status[CHK_HTTP_MAX_STATUS]; /* expected statuses; nstatus 0 -> {200} */
		size_t nstatus;
		const char *body;           /* substring the body must contain; NULL -> not read */
		uint32_t body_max;          /* body bytes read at most; default 65536 */
		bool tls_verify;            /* https: verify the chain and name; default true */
		const char *ca_file;        /* https: PEM CA bundle; NULL -> system store */
	} http;

	struct {
		const char *qname;          /* required, e.g. "www.example.com" */
		uint16_t qtype;             /* default 1 (A) */
		uint8_t rcode;              /* expected; default 0 (NOERROR) */
		const char *answer;         /* an IP that must appear in an A/AAAA answer; NULL -> any */
		bool tcp;                   /* query over TCP instead of UDP */
	} dns;

	struct {
		/* NULL-terminated; argv[0] an absolute path; run without a shell.
		 * "%a" and "%p" in any argument become the probed address and port,
		 * "%%" a percent sign.  The environment is inherited plus
		 * GTM_CHECK_ADDRESS, GTM_CHECK_PORT, GTM_CHECK_NAME. */
		const char *const *argv;
	} exec;
} chk_params_t;

/* One target to probe. */
typedef struct chk_target_spec {
	const chk_params_t *params; /* borrowed; copied by chk_target_add() */
	const char *address;        /* IPv4 or IPv6 literal to probe (may differ from the answered one) */
	uint32_t user_id;           /* opaque to the engine; handed back in callbacks */
	const char *label;          /* for logs ("www.example.com bj-a 192.0.2.10"); NULL -> "endpoint <id>"; copied */
	chk_state_t initial;        /* UNKNOWN, or a state restored by the caller (settled: no
	                             * callback for it; probes confirm or change it) */
} chk_target_spec_t;

/* A target's state, as read by chk_status_get() and passed to the callback. */
typedef struct chk_status {
	uint32_t user_id;
	chk_state_t state;
	chk_state_t prev_state;       /* before the last change */
	chk_reason_t reason;          /* of the last completed probe */
	chk_reason_t change_reason;   /* of the probe that made the last change */
	int64_t changed_at_ms;        /* wall clock (ms since the epoch) of the last change; 0 never */
	uint32_t latency_ms;          /* of the last completed probe (timeouts: the timeout) */
	uint32_t detect_ms;           /* of the last change: from the start of the first probe
	                               * that saw the new state to the verdict (measured) */
	uint32_t consecutive_failures;
	uint64_t total_probes;
	uint64_t total_failures;
	uint16_t health;              /* the counter, 0..rise+fall-1 */
} chk_status_t;

/*
 * Called once per state change, on the event base's thread, after the
 * change has been logged as "check NAME, LABEL (ADDR:PORT), state up -> down
 * (timeout, 500 ms)" -- at info, except unknown -> up (start-up), at debug.  `status` is valid only during the call.  The
 * callback may read statuses but must not add targets, reconcile or free
 * the engine.
 */
typedef void (*chk_change_cb_t)(uint32_t user_id, const chk_status_t *status, void *arg);

typedef struct chk_engine chk_engine_t;

/* Counters of the engine, for metrics and tests. */
typedef struct chk_engine_stats {
	uint64_t probes_started;
	uint64_t probes_done;
	uint64_t probes_failed;
	uint32_t running;         /* probes in flight */
	uint32_t exec_running;    /* commands alive */
	uint32_t exec_queued;     /* exec probes waiting for a slot */
	uint32_t exec_peak;       /* most commands alive at once */
} chk_engine_stats_t;

/* Returns a static lower-case name: "ok", "timeout", "connection refused"... */
const char *chk_reason_name(chk_reason_t reason);
/* "unknown", "down", "up". */
const char *chk_state_name(chk_state_t state);
/* "tcp", "http", "https", "dns", "exec". */
const char *chk_type_name(chk_type_t type);
/* Parses a type name; returns 0 or GTM_EINVAL. */
int chk_type_parse(const char *name, chk_type_t *type);

/* Fills `p` with the defaults for `type` (timeout_ms 0 = interval/2). */
void chk_params_init(chk_params_t *p, chk_type_t type);

/*
 * Validates `p` and adds one "file:line: check NAME, message" to `d` per
 * problem (timeout >= interval, rise 0, bad source address, HEAD with a body
 * match, unreadable CA file, relative exec path...).  file may be NULL.
 * Returns 0, or GTM_EINVAL when at least one problem was reported.
 */
int chk_params_check(const chk_params_t *p, gtm_diag_t *d, const char *file, int line);

/* chk_params_check() plus the target address (a literal of the same family
 * as the source address). */
int chk_target_spec_check(const chk_target_spec_t *spec, gtm_diag_t *d, const char *file, int line);

/*
 * Creates an engine on `base` (borrowed; must outlive the engine).  `cb`
 * (may be NULL) is called on every state change with `arg`.
 */
chk_engine_t *chk_engine_new(struct event_base *base, chk_change_cb_t cb, void *arg);

/* Cancels every probe (no callbacks), kills and reaps running commands,
 * frees everything.  NULL does nothing.  Not from inside the callback. */
void chk_engine_free(chk_engine_t *e);

/* Caps the exec commands alive at once (default 8, at least 1); the rest
 * wait in a FIFO queue, and a queued probe's timeout starts when it runs. */
void chk_engine_set_exec_max(chk_engine_t *e, unsigned max);

/*
 * Adds a target; the engine copies the spec, the params and their strings.
 * Returns the target's index (>= 0, dense, in order of addition), or
 * GTM_EINVAL (logged) when the spec does not validate.  A target added after
 * chk_engine_start() gets its first probe within one interval.
 */
int chk_target_add(chk_engine_t *e, const chk_target_spec_t *spec);

/* Number of targets added. */
size_t chk_engine_target_count(const chk_engine_t *e);

/* Schedules the first probe of every target, spread over its interval.
 * Returns 0 (GTM_EINVAL when already started). */
int chk_engine_start(chk_engine_t *e);

/* Copies the status of target `index`; returns 0 or GTM_ENOENT. */
int chk_status_get(const chk_engine_t *e, size_t index, chk_status_t *out);

/* Label of target `index` as logged, or NULL. */
const char *chk_target_label(const chk_engine_t *e, size_t index);

/* Number of targets still UNKNOWN (for "wait for the first round"). */
size_t chk_engine_unknown_count(const chk_engine_t *e);

void chk_engine_stats_get(const chk_engine_t *e, chk_engine_stats_t *out);

/*
 * Reload.  For every target of `new_e` (not started yet) whose params and
 * address equal those of a target of `old_e` (each old target used once, in
 * order of addition), copies the old target's status (state, counter,
 * counters, last change) and its probe schedule, so that neither its state
 * nor its cadence changes across a reload; the new target's `initial`
 * is ignored.  No callback fires for carried state.  Unmatched new targets
 * keep their `initial` state.  `old_e` is not modified; free it afterwards
 * (in-flight probes of the old engine are dropped and re-run by the new one).
 * Returns the number of targets carried over.
 */
size_t chk_engine_reconcile(chk_engine_t *new_e, const chk_engine_t *old_e);
