/* The rise/fall state machine; see chk_state.h for the model. */
#include "checks/chk_state.h"

static uint16_t top(const chk_sm_cfg_t *cfg)
{
	return (uint16_t)(cfg->rise + cfg->fall - 1);
}

void chk_sm_init(chk_sm_t *sm, const chk_sm_cfg_t *cfg, chk_state_t initial)
{
	*sm = (chk_sm_t){ .state = initial, .prev_state = initial, .reason = CHK_OK,
	                  .change_reason = CHK_OK };
	/* UNKNOWN behaves like a full UP counter whose state nobody has been
	 * told yet: a success confirms UP, `fall` failures in a row make DOWN. */
	sm->health = initial == CHK_STATE_DOWN ? 0 : top(cfg);
}

bool chk_sm_settled(const chk_sm_t *sm, const chk_sm_cfg_t *cfg)
{
	if (sm->state == CHK_STATE_DOWN)
		return sm->health == 0;
	if (sm->state == CHK_STATE_UP)
		return sm->health == top(cfg);
	return false;
}

static void change(chk_sm_t *sm, chk_state_t to, chk_reason_t reason, uint64_t now)
{
	sm->prev_state = sm->state;
	sm->state = to;
	sm->change_reason = reason;
	sm->changed_at = now;
	sm->detect_ms = now > sm->run_started ? (uint32_t)(now - sm->run_started) : 0;
}

bool chk_sm_step(chk_sm_t *sm, const chk_sm_cfg_t *cfg, uint64_t started, uint64_t now,
                 chk_reason_t reason, double u, uint32_t *next_ms)
{
	bool changed = false;
	sm->reason = reason;
	sm->latency_ms = now > started ? (uint32_t)(now - started) : 0;
	sm->total_probes++;
	/* A result unlike the previous one starts a new run: the time a change
	 * took to detect is measured from the start of its run's first probe. */
	bool was_ok = sm->total_probes > 1 && sm->consecutive_failures == 0;
	if (sm->total_probes == 1 || was_ok != (reason == CHK_OK))
		sm->run_started = started;
	if (reason == CHK_OK) {
		sm->consecutive_failures = 0;
		if (sm->health < top(cfg)) {
			sm->health++;
			if (sm->health >= cfg->rise)
				sm->health = top(cfg);
		}
		/* An UNKNOWN target sits at the top already: its first success
		 * reports UP. */
		if (sm->health >= cfg->rise && sm->state != CHK_STATE_UP) {
			change(sm, CHK_STATE_UP, reason, now);
			changed = true;
		}
	} else {
		sm->consecutive_failures++;
		sm->total_failures++;
		if (sm->health > cfg->rise) {
			sm->health--;
		} else {
			sm->health = 0;
			if (sm->state != CHK_STATE_DOWN) {
				change(sm, CHK_STATE_DOWN, reason, now);
				changed = true;
			}
		}
	}

	if (chk_sm_settled(sm, cfg)) {
		/* Keep the cadence: the next probe is due one jittered interval
		 * after this one started (never later than one interval). */
		double span = (double)cfg->interval_ms * (1.0 - cfg->jitter * u);
		uint64_t due = started + (uint64_t)span;
		*next_ms = due > now ? (uint32_t)(due - now) : 0;
	} else {
		/* Moving: confirm quickly, counted from the end of this probe so a
		 * timed-out probe is not followed by an immediate one. */
		*next_ms = cfg->recheck_ms;
	}
	return changed;
}

uint32_t chk_sm_first_delay(const chk_sm_cfg_t *cfg, double u)
{
	return (uint32_t)((double)cfg->interval_ms * u);
}
