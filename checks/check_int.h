/*
 * Inside the checks library: the target struct shared by the engine
 * (check.c) and the probe types (check_*.c), the probe ops table, and the
 * one way a probe ends, chk_done().  Not for users of the library.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "checks/check.h"
#include "checks/chk_state.h"

struct event;
typedef struct chk_target chk_target_t;

/*
 * A probe type, like relayd's check_*.c or gdnsd's plugin_t.
 *
 * start() begins one probe of `t` and must end it with exactly one
 * chk_done(t, ...) -- synchronously if it fails at once -- unless cancel()
 * is called first.  cancel() aborts the probe in flight and frees its
 * resources without calling chk_done(); the engine calls it on timeout and
 * when it is freed.  prepare() builds per-target data once at add time
 * (the request, the query, argv); free() releases it.  engine_free()
 * releases the type's per-engine data (SSL contexts, the exec queue).
 * When `deferred` is set, start() may queue the probe; the probe then
 * calls chk_probe_arm() when it really begins, which starts the timeout.
 */
typedef struct chk_ops {
	const char *name;
	bool deferred;
	int (*prepare)(chk_target_t *t);
	void (*start)(chk_target_t *t);
	void (*cancel)(chk_target_t *t);
	void (*free)(chk_target_t *t);
	void (*engine_free)(chk_engine_t *e);
} chk_ops_t;

struct chk_target {
	chk_engine_t *engine;
	size_t index;
	chk_params_t p;            /* deep copy with defaults applied */
	chk_sm_cfg_t cfg;
	chk_sm_t sm;
	int64_t changed_at_wall;   /* ms since the epoch */
	uint32_t user_id;
	char *label;
	char ip[64];               /* the address literal */
	char addr_str[80];         /* "192.0.2.10:80", "[2001:db8::1]:53" */
	struct sockaddr_storage sa;
	socklen_t salen;
	struct sockaddr_storage src;
	socklen_t srclen;          /* 0: no source address */

	const chk_ops_t *ops;
	void *prep;                /* ops->prepare's data */
	void *probe;               /* the probe in flight */
	bool running;
	bool armed;
	uint64_t started;          /* monotonic ms */
	struct event *timer;       /* next probe */
	struct event *deadline;    /* timeout of the running probe */
	uint64_t next_due;         /* monotonic ms of the next probe, for reconcile */

	char *key;                 /* params + address, for reconcile */
	uint64_t key_hash;
};

/* Ends the running probe of `t`: records the result, logs and calls back
 * on a state change, schedules the next probe.  Exactly once per start(). */
void chk_done(chk_target_t *t, chk_reason_t reason);

/* For deferred probe types: the probe really begins now (timeout starts). */
void chk_probe_arm(chk_target_t *t);

struct event_base *chk_engine_base(const chk_engine_t *e);
/* Per-engine data slot of a probe type. */
void **chk_engine_slot(chk_engine_t *e, chk_type_t type);
/* 32 random bits from the engine's generator (DNS ids, jitter). */
uint32_t chk_engine_random(chk_engine_t *e);
/* Monotonic clock in ms. */
uint64_t chk_now_ms(void);
/* Engine counters the exec probe maintains. */
chk_engine_stats_t *chk_engine_stats_mut(chk_engine_t *e);

/* The cap on commands alive at once (chk_engine_set_exec_max()). */
unsigned chk_engine_exec_max(const chk_engine_t *e);

/* Parses an IPv4/IPv6 literal into `ss`; returns 0 or GTM_EINVAL. */
int chk_addr_parse(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

extern const chk_ops_t chk_tcp_ops;
extern const chk_ops_t chk_http_ops;
extern const chk_ops_t chk_https_ops;
extern const chk_ops_t chk_dns_ops;
extern const chk_ops_t chk_exec_ops;
