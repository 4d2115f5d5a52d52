/*
 * The rise/fall machine (checks/chk_state.c) on a fake clock: transitions
 * as a table, recheck timing, jitter bounds, and flapping under loss.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "checks/chk_state.h"

static chk_sm_cfg_t cfg_of(uint16_t rise, uint16_t fall)
{
	return (chk_sm_cfg_t){ .rise = rise, .fall = fall, .interval_ms = 1000, .recheck_ms = 100,
	                       .jitter = 0.0 };
}

static char state_char(chk_state_t s)
{
	return s == CHK_STATE_UP ? 'U' : s == CHK_STATE_DOWN ? 'D' : '?';
}

/* One row: from `initial`, feed results ('+' ok, '-' failure); after each,
 * the state must be the matching char of `states` and a change must be
 * reported exactly where `changes` has a '^'. */
struct row {
	uint16_t rise, fall;
	chk_state_t initial;
	const char *results, *states, *changes;
};

static const struct row rows[] = {
	/* UNKNOWN: first success is up; `fall` failures in a row are down. */
	{ 2, 3, CHK_STATE_UNKNOWN, "+",      "U",      "^" },
	{ 2, 3, CHK_STATE_UNKNOWN, "---",    "??D",    "  ^" },
	{ 2, 3, CHK_STATE_UNKNOWN, "--+",    "??U",    "  ^" },
	{ 2, 3, CHK_STATE_UNKNOWN, "-+---",  "?UUUD",  " ^  ^" },
	{ 1, 1, CHK_STATE_UNKNOWN, "-",      "D",      "^" },
	/* UP: fall consecutive failures; any success refills. */
	{ 2, 3, CHK_STATE_UP,      "---",    "UUD",    "  ^" },
	{ 2, 3, CHK_STATE_UP,      "--+--+", "UUUUUU", "      " },
	{ 2, 3, CHK_STATE_UP,      "--+---", "UUUUUD", "     ^" },
	{ 1, 1, CHK_STATE_UP,      "-+",     "DU",     "^^" },
	{ 3, 1, CHK_STATE_UP,      "-",      "D",      "^" },
	/* DOWN: rise consecutive successes; any failure empties. */
	{ 2, 3, CHK_STATE_DOWN,    "++",     "DU",     " ^" },
	{ 2, 3, CHK_STATE_DOWN,    "+-+-",   "DDDD",   "    " },
	{ 3, 2, CHK_STATE_DOWN,    "++-+++", "DDDDDU", "     ^" },
	{ 2, 3, CHK_STATE_DOWN,    "---",    "DDD",    "   " },
	/* A full cycle: down after 3, up after 2. */
	{ 2, 3, CHK_STATE_UP,      "---++",  "UUDDU",  "  ^ ^" },
};

static void test_table(void **state)
{
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const struct row *w = &rows[r];
		chk_sm_cfg_t cfg = cfg_of(w->rise, w->fall);
		chk_sm_t sm;
		chk_sm_init(&sm, &cfg, w->initial);
		uint64_t now = 0;
		for (size_t i = 0; w->results[i]; i++) {
			uint32_t next;
			chk_state_t before = sm.state;
			bool changed = chk_sm_step(&sm, &cfg, now, now + 1,
			                           w->results[i] == '+' ? CHK_OK : CHK_FAIL_TIMEOUT, 0.5, &next);
			now += 1 + next;
			if (state_char(sm.state) != w->states[i] || changed != (w->changes[i] == '^')) {
				print_error("row %zu step %zu: state %c changed %d, want %c %c\n", r, i,
				            state_char(sm.state), changed, w->states[i], w->changes[i]);
				fail();
			}
			if (changed)
				assert_int_equal(sm.prev_state, before);
		}
	}
}

/* A settled target probes every interval, a moving one every recheck. */
static void test_next_delay(void **state)
{
	chk_sm_cfg_t cfg = cfg_of(2, 3);
	chk_sm_t sm;
	uint32_t next;
	chk_sm_init(&sm, &cfg, CHK_STATE_UP);
	assert_true(chk_sm_settled(&sm, &cfg));
	/* success at 0..20 ms: next one interval after the start */
	chk_sm_step(&sm, &cfg, 0, 20, CHK_OK, 0.0, &next);
	assert_int_equal(next, 980);
	/* a failure: moving, recheck counted from the end */
	chk_sm_step(&sm, &cfg, 1000, 1500, CHK_FAIL_TIMEOUT, 0.0, &next);
	assert_false(chk_sm_settled(&sm, &cfg));
	assert_int_equal(next, 100);
	/* recovered: settled again */
	chk_sm_step(&sm, &cfg, 1600, 1601, CHK_OK, 0.0, &next);
	assert_true(chk_sm_settled(&sm, &cfg));
	assert_int_equal(next, 999);
	/* a probe longer than the interval cannot happen (timeout < interval),
	 * but a late one is never negative */
	chk_sm_step(&sm, &cfg, 3000, 4500, CHK_OK, 0.0, &next);
	assert_int_equal(next, 0);
	/* UNKNOWN is moving until the first result */
	chk_sm_init(&sm, &cfg, CHK_STATE_UNKNOWN);
	assert_false(chk_sm_settled(&sm, &cfg));
	chk_sm_init(&sm, &cfg, CHK_STATE_DOWN);
	assert_true(chk_sm_settled(&sm, &cfg));
}

/* detect_ms: from the start of the first probe that saw the new state to
 * the verdict; a result of the other kind in between starts the run again. */
static void test_detect_time(void **state)
{
	(void)state;
	chk_sm_cfg_t cfg = cfg_of(2, 3);
	chk_sm_t sm;
	uint32_t next;
	chk_sm_init(&sm, &cfg, CHK_STATE_UP);
	chk_sm_step(&sm, &cfg, 0, 5, CHK_OK, 0.0, &next);
	/* a lone failure, then a success: no change, the run restarts */
	chk_sm_step(&sm, &cfg, 1000, 1500, CHK_FAIL_TIMEOUT, 0.0, &next);
	chk_sm_step(&sm, &cfg, 1600, 1605, CHK_OK, 0.0, &next);
	assert_int_equal(sm.state, CHK_STATE_UP);
	/* three timeouts from 2600: down at the end of the third, 2600 + 500 +
	 * (100 + 500) * 2 = 4300, so detected in 1700 ms */
	assert_false(chk_sm_step(&sm, &cfg, 2600, 3100, CHK_FAIL_TIMEOUT, 0.0, &next));
	assert_false(chk_sm_step(&sm, &cfg, 3200, 3700, CHK_FAIL_TIMEOUT, 0.0, &next));
	assert_true(chk_sm_step(&sm, &cfg, 3800, 4300, CHK_FAIL_TIMEOUT, 0.0, &next));
	assert_int_equal(sm.state, CHK_STATE_DOWN);
	assert_int_equal(sm.detect_ms, 1700);
	/* back up after two successes from 5000: 5000 -> 5103 */
	assert_false(chk_sm_step(&sm, &cfg, 5000, 5002, CHK_OK, 0.0, &next));
	assert_true(chk_sm_step(&sm, &cfg, 5102, 5103, CHK_OK, 0.0, &next));
	assert_int_equal(sm.state, CHK_STATE_UP);
	assert_int_equal(sm.detect_ms, 103);
}

static void test_jitter(void **state)
{
	chk_sm_cfg_t cfg = cfg_of(2, 3);
	cfg.jitter = 0.1;
	chk_sm_t sm;
	chk_sm_init(&sm, &cfg, CHK_STATE_UP);
	for (int i = 0; i < 100; i++) {
		uint32_t next;
		double u = i / 100.0;
		chk_sm_step(&sm, &cfg, 0, 0, CHK_OK, u, &next);
		assert_true(next >= 900 && next <= 1000);
		uint32_t first = chk_sm_first_delay(&cfg, u);
		assert_true(first < 1000);
	}
}

/*
 * Detection time: a backend dies right after a successful probe.  The
 * state goes down after one interval plus (fall-1) rechecks plus the
 * probes' own durations -- not after `fall` intervals.
 */
static uint64_t detect(uint16_t fall, uint32_t interval, uint32_t recheck, uint32_t probe_ms)
{
	chk_sm_cfg_t cfg = { .rise = 2, .fall = fall, .interval_ms = interval, .recheck_ms = recheck };
	chk_sm_t sm;
	chk_sm_init(&sm, &cfg, CHK_STATE_UP);
	uint32_t next;
	uint64_t now = 0;
	chk_sm_step(&sm, &cfg, now, now, CHK_OK, 0.0, &next);   /* killed at t=0 */
	now += next;
	for (int i = 0; i < 100; i++) {
		uint64_t start = now;
		now += probe_ms;
		if (chk_sm_step(&sm, &cfg, start, now, CHK_FAIL_CONNECT_REFUSED, 0.0, &next)) {
			assert_int_equal(sm.state, CHK_STATE_DOWN);
			assert_int_equal(sm.changed_at, now);
			return now;
		}
		now += next;
	}
	fail();
	return 0;
}

static void test_recheck_timing(void **state)
{
	/* refused at once (1 ms probes): 1000 + 2*100 + 3*1 */
	assert_int_equal(detect(3, 1000, 100, 1), 1000 + 2 * 100 + 3);
	/* the DESIGN.md targets: 1.5 s with the defaults, 0.5 s at 200 ms */
	assert_true(detect(3, 1000, 100, 1) <= 1500);
	assert_true(detect(3, 200, 100, 1) <= 500);
	/* blackholed (timeout 500 ms): interval + fall timeouts + rechecks */
	assert_int_equal(detect(3, 1000, 100, 500), 1000 + 3 * 500 + 2 * 100);
	/* fall 1 costs no recheck */
	assert_int_equal(detect(1, 1000, 100, 1), 1001);
}

/* A deterministic generator for loss patterns. */
static uint64_t lcg = 1;
static double draw(void)
{
	lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(lcg >> 11) / 9007199254740992.0;
}

struct flap {
	int changes;
	uint64_t min_gap_down, min_gap_up;   /* ms between a change and the next */
};

/*
 * Runs a target through `seconds` of probing where each probe is lost
 * (times out) with probability `loss`, and checks on every change that the
 * machine saw the required run of results first.
 */
static struct flap run_loss(double loss, uint64_t seed, uint64_t seconds)
{
	chk_sm_cfg_t cfg = { .rise = 2, .fall = 3, .interval_ms = 1000, .recheck_ms = 100, .jitter = 0.1 };
	chk_sm_t sm;
	chk_sm_init(&sm, &cfg, CHK_STATE_UP);
	struct flap f = { 0, UINT64_MAX, UINT64_MAX };
	lcg = seed;
	uint64_t now = 0, last_change = 0;
	int run_ok = 0, run_fail = 0;
	while (now < seconds * 1000) {
		bool ok = draw() >= loss;
		uint64_t start = now;
		now += ok ? 2 : 500;   /* a lost probe costs the timeout */
		run_ok = ok ? run_ok + 1 : 0;
		run_fail = ok ? 0 : run_fail + 1;
		uint32_t next;
		if (chk_sm_step(&sm, &cfg, start, now, ok ? CHK_OK : CHK_FAIL_TIMEOUT, draw(), &next)) {
			f.changes++;
			if (sm.state == CHK_STATE_DOWN) {
				assert_true(run_fail >= cfg.fall);
				if (f.changes > 1 && now - last_change < f.min_gap_down)
					f.min_gap_down = now - last_change;
			} else {
				assert_true(run_ok >= cfg.rise);
				if (now - last_change < f.min_gap_up)
					f.min_gap_up = now - last_change;
			}
			last_change = now;
		}
		now += next;
	}
	return f;
}

static void test_flapping(void **state)
{
	/* 1% loss, 5 minutes, many seeds: never a change. */
	for (uint64_t seed = 1; seed <= 20; seed++)
		assert_int_equal(run_loss(0.01, seed, 300).changes, 0);
	/* 5% and 10%: changes are rare and never closer than the thresholds
	 * allow: going down takes 3 timeouts + 2 rechecks, coming back 2
	 * successes with a recheck between. */
	int total5 = 0, total10 = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct flap f5 = run_loss(0.05, seed, 300);
		struct flap f10 = run_loss(0.10, seed, 300);
		total5 += f5.changes;
		total10 += f10.changes;
		if (f10.changes) {
			assert_true(f10.min_gap_up >= 100 + 2);
		}
		if (f10.changes > 2)
			assert_true(f10.min_gap_down >= 3 * 500 + 2 * 100);
	}
	print_message("flaps over 20 x 5 min: 5%% loss %d changes, 10%% loss %d changes\n", total5,
	              total10);
	/* with independent 10% loss, 3 losses in a row happen about once per
	 * 1000 probes: a handful of changes over 100 minutes, not hundreds */
	assert_true(total10 < 40);
	assert_true(total5 < total10 || total10 == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_next_delay),
		cmocka_unit_test(test_detect_time),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_recheck_timing),
		cmocka_unit_test(test_flapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
