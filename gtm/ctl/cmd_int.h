/*
 * Private to gtm/ctl's command files (ctlcmd.c, cmd_*.c, safety.c): the
 * helpers they share and each group's registration.  Control thread.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "gtm/ctl/control.h"
#include "gtm/ctl/ctl.h"
#include "gtm/ctl/ctlcmd.h"

/* Names of gtm_policy_t and gtm_role_t values, by value. */
extern const char *const gtm_ctlcmd_policy_names[];
extern const char *const gtm_ctlcmd_role_names[];

/* `v` rounded to 3 decimals (shares and factors in replies). */
double gtm_ctlcmd_round3(double v);

/* The index of the service `name` (a DNS name: case-insensitive, final
 * dot optional), or -1. */
int gtm_ctlcmd_service_index(const gtm_conf_t *conf, const char *name);

/* Site `site`'s share of the answers in choice view `cv` (0 when absent). */
double gtm_ctlcmd_share_of(const gtm_choice_view_t *cv, uint32_t site);

/*
 * The controller's decision as admin state `a` would give it at
 * `admin_now` (GTM_ADMIN_END: where ramps end), with the current health,
 * at `now`; nothing is published.  Free with gtm_decision_free().
 */
gtm_decision_t *gtm_ctlcmd_preview_at(gtm_control_t *c, const gtm_admin_t *a, uint64_t admin_now,
                                      uint64_t now);

/* Each group registers its commands on `ctl` with `c` as their argument. */
void gtm_ctlcmd_register_action(gtm_ctl_t *ctl, gtm_control_t *c);
void gtm_ctlcmd_register_status(gtm_ctl_t *ctl, gtm_control_t *c);
void gtm_ctlcmd_register_explain(gtm_ctl_t *ctl, gtm_control_t *c);
void gtm_ctlcmd_register_misc(gtm_ctl_t *ctl, gtm_control_t *c);
