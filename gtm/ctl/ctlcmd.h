/*
 * gtmd's side of the control commands (the protocol is in gtm/ctl/ctl.h):
 *
 *   status                     sites, cities, services as gtmd sees them now
 *   drain undrain evacuate restore promote activate deactivate pause resume
 *                              admin actions: checked by the safety rules
 *                              (unless "force"), applied, published; a dry
 *                              run changes nothing; both reply with the
 *                              answers that change per service and city
 *   explain                    why a client gets its answer
 *   history                    the admin history, automatic changes included
 *   reload                     as SIGHUP, with the errors in the reply
 *   stats                      the figures (gtm/daemon/stats.h) and controller.*
 *
 * Safety rules: gtm/ctl/safety.h.
 *
 * Control thread.
 */
#pragma once
#include <stdbool.h>

#include <jansson.h>

#include "gtm/ctl/control.h"
#include "gtm/ctl/ctl.h"

/* Registers every command above on `ctl` with `c` as their argument. */
void gtm_ctlcmd_register(gtm_ctl_t *ctl, gtm_control_t *c);

/*
 * The (service, client city) answers that differ between two decisions of
 * the same configuration, as the "answers" array of an action reply: each
 * side where those clients are answered (their city's choice, the city they
 * spill to, the last resort: gtm/core/reach.h).  `orders` from
 * gtm_ctlcmd_orders.  New reference.
 */
json_t *gtm_ctlcmd_answer_diff(const gtm_conf_t *conf, const uint16_t *orders,
                               const gtm_decision_t *before, const gtm_decision_t *after);

/* The city orders of the clients of each city, for the diffs: from the
 * served snapshot's map.  Caller frees. */
uint16_t *gtm_ctlcmd_orders(const gtm_control_t *c);

/* How many answers an action's reply lists unless "full" is asked. */
#define GTM_CTL_ANSWERS_SHOWN 20

/*
 * Sets "answers" (the first GTM_CTL_ANSWERS_SHOWN entries of the diff
 * above, or every one with `full`) and "answers_summary" (counts of them
 * all, see the protocol in ctl.h) on `reply`.
 */
void gtm_ctlcmd_add_answers(json_t *reply, const gtm_conf_t *conf, const uint16_t *orders,
                            const gtm_decision_t *before, const gtm_decision_t *after, bool full);
