/*
 * The control commands (see ctlcmd.h and the protocol in ctl.h): the
 * helpers the command groups share (cmd_int.h) and their registration.
 * Every handler reads the control plane through gtm/ctl/control.h and
 * answers one JSON object.  The groups: cmd_action.c (admin actions, with
 * the rules of safety.c), cmd_status.c, cmd_explain.c, cmd_misc.c
 * (history, reload, stats).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "common/name.h"
#include "gtm/core/reach.h"
#include "gtm/ctl/ctl_proto.h"
#include "gtm/ctl/ctlcmd.h"
#include "gtm/ctl/cmd_int.h"

const char *const gtm_ctlcmd_policy_names[] = { "nearest", "primary-backup", "global", "failover" };
const char *const gtm_ctlcmd_role_names[] = { "active", "backup", "cold" };

double gtm_ctlcmd_round3(double v)
{
	return floor(v * 1000.0 + 0.5) / 1000.0;
}

int gtm_ctlcmd_service_index(const gtm_conf_t *conf, const char *name)
{
	uint32_t i = gtm_conf_service(conf, name);
	return i == GTM_NAME_NONE ? -1 : (int)i;
}

/* ------------------------------------------------------------------------ */
/* Answers diff                                                             */

static json_t *shares_json(const gtm_conf_t *conf, const gtm_choice_view_t *cv)
{
	json_t *a = json_array();
	for (size_t i = 0; cv && i < cv->n; i++)
		json_array_append_new(a, json_pack("{s:s,s:f}", "site", conf->sites[cv->shares[i].site].name,
		                                   "share", gtm_ctlcmd_round3(cv->shares[i].share)));
	return a;
}

double gtm_ctlcmd_share_of(const gtm_choice_view_t *cv, uint32_t site)
{
	for (size_t i = 0; i < cv->n; i++)
		if (cv->shares[i].site == site)
			return cv->shares[i].share;
	return 0;
}

static bool choices_differ(const gtm_choice_view_t *a, const gtm_choice_view_t *b)
{
	for (size_t i = 0; i < a->n; i++)
		if (fabs(a->shares[i].share - gtm_ctlcmd_share_of(b, a->shares[i].site)) > 0.0005)
			return true;
	for (size_t i = 0; i < b->n; i++)
		if (fabs(b->shares[i].share - gtm_ctlcmd_share_of(a, b->shares[i].site)) > 0.0005)
			return true;
	return false;
}

/* Walks the answers that differ between `before` and `after`: appends the
 * first `limit` entries to `out` (every one with limit SIZE_MAX) and, when
 * `sum` is set, counts them all per site (answers a site leaves or joins)
 * and per client city.  Each (service, client city) is compared where its
 * clients are answered (gtm_reach: their own city's choice, the city they
 * spill to, or the last resort), as the DNS workers answer them. */
typedef struct diff_sum {
	size_t total, services;
	unsigned *site_lose, *site_gain, *city;   /* [nsites], [nsites], [ncities] */
} diff_sum_t;

static bool reach_differ(const gtm_reach_t *a, const gtm_reach_t *b)
{
	return a->kind != b->kind || choices_differ(a->choice, b->choice);
}

/* The entry's side: the shares, and where they come from when that is not
 * the clients' own choice: "to" the city they spill to, or "last_resort". */
static void reach_json(json_t *e, const char *key, const gtm_conf_t *conf, uint32_t svc, uint32_t own,
                       const gtm_reach_t *r)
{
	json_object_set_new(e, key, shares_json(conf, r->choice));
	char k2[32];
	if (r->kind == GTM_REACH_LAST_RESORT) {
		static const char *const lr[] = { "open", "closed", "address" };
		snprintf(k2, sizeof(k2), "%s_last_resort", key);
		json_object_set_new(e, k2, json_string(lr[conf->services[svc].last_resort]));
	} else if (r->city != GTM_NO_CITY && r->city != own) {
		snprintf(k2, sizeof(k2), "%s_to", key);
		json_object_set_new(e, k2, json_string(conf->cities[r->city].name));
	}
}

static void answer_diff(const gtm_conf_t *conf, const uint16_t *orders, const gtm_decision_t *before,
                        const gtm_decision_t *after, json_t *out, size_t limit, diff_sum_t *sum)
{
	for (size_t i = 0; i < conf->nservices && i < before->nservices && i < after->nservices; i++) {
		bool geo = conf->services[i].policy == GTM_POLICY_NEAREST;
		size_t first = json_array_size(out);
		bool any = false;
		size_t ncity = geo ? conf->ncities : 1;
		for (size_t k = 0; k < ncity; k++) {
			gtm_reach_t rb, ra;
			gtm_reach(conf, before, orders, (uint32_t)i, (uint32_t)k, &rb);
			gtm_reach(conf, after, orders, (uint32_t)i, (uint32_t)k, &ra);
			if (!reach_differ(&rb, &ra))
				continue;
			any = true;
			if (sum) {
				sum->total++;
				if (geo)
					sum->city[k]++;
				for (size_t x = 0; x < rb.choice->n; x++) {
					uint32_t st = rb.choice->shares[x].site;
					if (st < conf->nsites && gtm_ctlcmd_share_of(ra.choice, st) + 0.0005 < rb.choice->shares[x].share)
						sum->site_lose[st]++;
				}
				for (size_t x = 0; x < ra.choice->n; x++) {
					uint32_t st = ra.choice->shares[x].site;
					if (st < conf->nsites && gtm_ctlcmd_share_of(rb.choice, st) + 0.0005 < ra.choice->shares[x].share)
						sum->site_gain[st]++;
				}
			}
			if (json_array_size(out) >= limit)
				continue;
			json_t *e = json_pack("{s:s}", "service", conf->services[i].name);
			if (geo)
				json_object_set_new(e, "city", json_string(conf->cities[k].name));
			reach_json(e, "before", conf, (uint32_t)i, (uint32_t)k, &rb);
			reach_json(e, "after", conf, (uint32_t)i, (uint32_t)k, &ra);
			json_array_append_new(out, e);
		}
		if (sum && any)
			sum->services++;
		/* The TTL (degraded_ttl) changes with the answers: said on the
		 * service's entries. */
		const gtm_service_view_t *b = &before->services[i], *a = &after->services[i];
		for (size_t j = first; j < json_array_size(out) && b->ttl != a->ttl; j++) {
			json_t *e = json_array_get(out, j);
			json_object_set_new(e, "ttl_before", json_integer(b->ttl));
			json_object_set_new(e, "ttl_after", json_integer(a->ttl));
		}
	}
}

uint16_t *gtm_ctlcmd_orders(const gtm_control_t *c)
{
	const dns_snapshot_t *snap = gtm_control_snapshot(c);
	return gtm_reach_orders_new(gtm_control_conf(c), snap ? snap->geo_map : NULL);
}

json_t *gtm_ctlcmd_answer_diff(const gtm_conf_t *conf, const uint16_t *orders,
                               const gtm_decision_t *before, const gtm_decision_t *after)
{
	json_t *out = json_array();
	answer_diff(conf, orders, before, after, out, SIZE_MAX, NULL);
	return out;
}

void gtm_ctlcmd_add_answers(json_t *reply, const gtm_conf_t *conf, const uint16_t *orders,
                            const gtm_decision_t *before, const gtm_decision_t *after, bool full)
{
	json_t *out = json_array();
	diff_sum_t sum = {
		.site_lose = gtm_xcalloc(conf->nsites + 1, sizeof(unsigned)),
		.site_gain = gtm_xcalloc(conf->nsites + 1, sizeof(unsigned)),
		.city = gtm_xcalloc(conf->ncities + 1, sizeof(unsigned)),
	};
	answer_diff(conf, orders, before, after, out, full ? SIZE_MAX : GTM_CTL_ANSWERS_SHOWN, &sum);
	json_t *sites = json_array(), *cities = json_array();
	for (size_t s = 0; s < conf->nsites; s++)
		if (sum.site_lose[s] || sum.site_gain[s])
			json_array_append_new(sites, json_pack("{s:s,s:s,s:i,s:i}", "site", conf->sites[s].name,
			                                       "city", conf->cities[conf->sites[s].city].name,
			                                       "leaves", (int)sum.site_lose[s],
			                                       "joins", (int)sum.site_gain[s]));
	for (size_t k = 0; k < conf->ncities; k++)
		if (sum.city[k])
			json_array_append_new(cities, json_pack("{s:s,s:i}", "city", conf->cities[k].name,
			                                        "answers", (int)sum.city[k]));
	json_object_set_new(reply, "answers_summary",
	                    json_pack("{s:I,s:I,s:I,s:b,s:o,s:o}", "total", (json_int_t)sum.total,
	                              "services", (json_int_t)sum.services,
	                              "shown", (json_int_t)json_array_size(out),
	                              "truncated", json_array_size(out) < sum.total, "sites", sites,
	                              "cities", cities));
	json_object_set_new(reply, "answers", out);
	free(sum.site_lose);
	free(sum.site_gain);
	free(sum.city);
}

gtm_decision_t *gtm_ctlcmd_preview_at(gtm_control_t *c, const gtm_admin_t *a, uint64_t admin_now,
                                  uint64_t now)
{
	return gtm_control_views(c, a, admin_now, now);
}

void gtm_ctlcmd_register(gtm_ctl_t *ctl, gtm_control_t *c)
{
	gtm_ctlcmd_register_action(ctl, c);
	gtm_ctlcmd_register_status(ctl, c);
	gtm_ctlcmd_register_explain(ctl, c);
	gtm_ctlcmd_register_misc(ctl, c);
}
