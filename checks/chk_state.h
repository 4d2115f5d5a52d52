/*
 * The rise/fall state machine of one target, without clocks or sockets:
 * functions take "now" and a probe result and return whether the state
 * changed and when to probe next.  check.c drives it from libevent; the
 * unit tests drive it from a fake clock.
 *
 * Model: HAProxy's single health counter h in 0..rise+fall-1.
 *  - success: h = h + 1; once h reaches rise, h jumps to rise+fall-1 and
 *    the target is UP.  So a DOWN target needs `rise` consecutive
 *    successes, and any success of an UP target refills the counter.
 *  - failure: while h > rise, h = h - 1 (still UP); otherwise h = 0 and the
 *    target is DOWN.  So an UP target needs `fall` consecutive failures.
 *  - UNKNOWN starts with h = rise+fall-1 and the state not yet reported:
 *    the first success reports UP, `fall` consecutive failures report DOWN.
 *  - A restored UP starts at rise+fall-1, a restored DOWN at 0 (settled).
 * "Settled" means h is at an end (0 and DOWN, or rise+fall-1 and UP): the
 * next probe comes one (jittered) interval after the last one started.
 * Otherwise the state is moving and the next probe comes recheck_ms after
 * this one ended.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "checks/check.h"

typedef struct chk_sm_cfg {
	uint16_t rise, fall;
	uint32_t interval_ms, recheck_ms;
	double jitter;          /* 0..0.5 */
} chk_sm_cfg_t;

typedef struct chk_sm {
	chk_state_t state;
	chk_state_t prev_state;
	uint16_t health;
	chk_reason_t reason;        /* last result */
	chk_reason_t change_reason;
	uint64_t changed_at;        /* caller's clock, of the last change; 0 never */
	uint64_t run_started;       /* caller's clock: start of the first probe of the
	                             * current run of equal results (all failures or
	                             * all successes) */
	uint32_t detect_ms;         /* of the last change: run_started -> verdict, i.e.
	                             * from the start of the first probe that saw the
	                             * new state to the probe that decided it */
	uint32_t latency_ms;
	uint32_t consecutive_failures;
	uint64_t total_probes;
	uint64_t total_failures;
} chk_sm_t;

/* Sets the initial state (UNKNOWN, UP or DOWN) and clears the counters. */
void chk_sm_init(chk_sm_t *sm, const chk_sm_cfg_t *cfg, chk_state_t initial);

/* True when the counter sits at the end that matches the state. */
bool chk_sm_settled(const chk_sm_t *sm, const chk_sm_cfg_t *cfg);

/*
 * Records one probe result: `reason` (CHK_OK = success) of a probe that
 * started at `started` and ended at `now` (same clock, ms).  `u` is a
 * uniform draw in [0,1) for the jitter (the caller's generator, so tests
 * are deterministic).  Stores the delay until the next probe, from `now`,
 * in *next_ms.  Returns true when the state changed (sm->prev_state holds
 * the state before).
 */
bool chk_sm_step(chk_sm_t *sm, const chk_sm_cfg_t *cfg, uint64_t started, uint64_t now,
                 chk_reason_t reason, double u, uint32_t *next_ms);

/* Delay of a target's first probe: u * interval, spreading a fleet of
 * targets over one interval. */
uint32_t chk_sm_first_delay(const chk_sm_cfg_t *cfg, double u);
