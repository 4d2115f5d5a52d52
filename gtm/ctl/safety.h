/*
 * The safety rules of admin actions (the control group of the
 * configuration).  An action is refused, unless forced, when where it
 * leads (a drain ramp judged where it ends) makes any of these worse than
 * now: a service with no serving site (at its last resort); a service
 * whose serving capacity falls below its min_capacity; more than
 * control.max_drained_sites sites drained, draining or in an evacuated
 * city; more than control.max_drained_capacity of the capacity so.
 *
 * Control thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "gtm/core/admin.h"

/*
 * The rules above as a gtm_admin_check_cb_t: `cur` is the admin state now,
 * `next` the one the action would make; `arg` is the gtm_control_t (its
 * configuration, health and controller).  Returns 0 when allowed, else 1
 * with the reason in `why`.
 */
int gtm_ctl_safety_check(const gtm_admin_t *cur, const gtm_admin_t *next,
                         const gtm_admin_action_t *act, uint64_t now, void *arg,
                         char *why, size_t whylen);
