/*
 * The controller: from the topology, the endpoints' health and the
 * operators' admin state to the answer plan the DNS workers serve.
 *
 * It is a stateful object on the control thread.  Its memory is what a pure
 * function cannot know: since when a site or a city has been healthy again
 * (the failback hold-down and ramp) and how many automatic evacuations the
 * last hour saw (the rate limit).  It never reads the clock: every call takes
 * `now` (ms since the Unix epoch, the admin state's clock), so tests run it
 * on a simulated clock.
 *
 * ---------------------------------------------------------------------
 * The model (docs/gtm.conf.md says it for operators)
 * ---------------------------------------------------------------------
 * A service's sites are its endpoints grouped by site.  A site is *up* when
 * at least `quorum` of its endpoints are up; only its up addresses are
 * answered.  A cold site takes part only while activated (gtmctl activate);
 * nothing automatic ever puts it in.
 *
 * Every site gets an effective weight
 *     w' = weight x admin factor (drain ramp) x failback factor,
 * 0 when it is down, in an evacuated city, or cold and not activated.
 *
 * Failback.  A site that went down while gtmd ran and is up again gets 0
 * for `controller.holddown` (default 60 s), then a ramp: factor k/N at
 * holddown + (k-1) x ramp/(N-1), k = 1..N (defaults N = 5 over 120 s:
 * 0.2 at 60 s, 0.4 at 90 s, ... 1 at 180 s).  Going down again restarts it.
 * A city works the same way one level up: a city *able* to serve (some
 * capacity up, and the fraction of its capacity up is at least the
 * service's `min_capacity`) that was unable gets the city factor g, 0 then
 * ramped, and its own sites count as fully back (the city ramp covers
 * them).  At start-up nothing is held down.  Operator actions (undrain,
 * restore) take effect at once: use drain --ramp for a gradual change.
 *
 * Capacity of a site: its `capacity` when every site of the service has
 * one, else its weight (then spill is off, see nearest).
 *
 * Shares cascade: a list of groups (a site, or a city's sites by w') each
 * with a factor f; the first takes f of the traffic, the next f of what is
 * left, and so on; what is left at the end is spread over the groups that
 * took some, in proportion.  Shares become plan weights out of 10^6.
 *
 *   failover        groups: the `order`'s sites, f = admin x failback.
 *   primary-backup  groups: the primary city (its active sites by w', else
 *                   its backup-role sites), f = g x (1 - trickle); then the
 *                   backup (the backup city's usable sites, or without a
 *                   backup city the service's backup-role sites), f = 1.
 *                   trickle = 0 when the backup has nothing usable.
 *   global          the master city (gtmctl promote's, else the config's)
 *                   while it is able: never split between two cities
 *                   (writes).  With `auto_promote`, a master unable for
 *                   `holddown` is moved to the nearest able city with the
 *                   service's sites (a wanted action, applied by the
 *                   caller through the admin state, rate limited).
 *   nearest         one choice per city: its own sites, f = g; then its
 *                   *spill*.  Without capacities and city `demand`, a city
 *                   that takes nothing does not serve and its clients fall
 *                   through to their own next city (geo order); a
 *                   recovering city's remainder goes to the nearest able
 *                   city.  With them, the remainder X = demand x (1 - g)
 *                   goes to the nearest able city up to its spare capacity
 *                   (capacity serving now minus its own demand minus what
 *                   earlier failed cities already sent it); the surplus
 *                   spreads over the other able cities in proportion to
 *                   their spare capacity; what no spare capacity holds
 *                   stays on the nearest.  Failed cities are handled in
 *                   config order.
 *
 * Last resort, when no choice of the service serves: `last_resort` "open"
 * (every endpoint of every site that is not cold, health aside; every site
 * when all are cold), "closed" (NODATA) or a fixed address.
 *
 * TTL: `degraded_ttl` while any site of the service (cold ones unless
 * activated) is down, draining, drained, in an evacuated city, held down
 * or ramping back, or the service is at its last resort; else `ttl`.
 *
 * Automatic evacuations (a city that stops being able by health) are
 * counted per city; past `auto_evacuations_per_hour` in the last hour an
 * evacuation is suppressed (the city stays in the plan, logged at error)
 * unless the city has nothing serving at all.  Automatic promotions count
 * against the same budget.
 * ---------------------------------------------------------------------
 *
 * Every function runs on the control thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/plan.h"
#include "gtm/core/admin.h"
#include "gtm/conf/conf.h"

/*
 * What the probes say, as the controller reads it: up[i][j] is the health
 * of endpoint j of conf->services[i] (config order), as gtm/core/health.c
 * decides it (an unchecked endpoint is up; a never-probed one follows
 * health.unknown).  A NULL row, or a NULL gtm_health_t, means every
 * endpoint up.  Borrowed.
 */
typedef struct gtm_health {
	const bool *const *up;
} gtm_health_t;

typedef struct gtm_controller gtm_controller_t;

/* One site's share of one choice. */
typedef struct gtm_share {
	uint32_t site;             /* index into conf->sites */
	double share;              /* 0 < share <= 1; a choice's shares sum to 1 */
} gtm_share_t;

typedef struct gtm_choice_view {
	gtm_share_t *shares;       /* empty: the choice does not serve */
	size_t n;
} gtm_choice_view_t;

typedef enum gtm_svc_state {
	GTM_SVC_NORMAL = 0,
	GTM_SVC_DEGRADED,          /* a site down, drained, evacuated or failing back */
	GTM_SVC_LAST_RESORT,       /* no choice serves: the last resort answers */
} gtm_svc_state_t;

/* What the plan of one service is made of, for gtmctl (status, explain,
 * the answer diffs of a dry run) and for tests. */
typedef struct gtm_service_view {
	gtm_svc_state_t state;
	uint32_t ttl;              /* the TTL answered now */
	uint32_t master;           /* global: the master city now; else GTM_NO_CITY */
	uint16_t nchoices;         /* nearest: conf->ncities; else 1 */
	gtm_choice_view_t *choices;
	/* At the last resort (state GTM_SVC_LAST_RESORT): the sites a fail-open
	 * answer gives, equal shares; empty with last_resort closed or a fixed
	 * address (and in any other state).  The same selection as the plan's
	 * fallback. */
	gtm_choice_view_t fallback;
} gtm_service_view_t;

/* Per site of a service: why it has the weight it has (explain). */
typedef struct gtm_site_view {
	uint32_t service, site;
	bool up;                   /* quorum of endpoints up */
	double admin;              /* admin factor (0 for a cold site not activated,
	                            * or a site of an evacuated city) */
	double failback;           /* failback factor (site, or its city's) */
	double weight;             /* w' */
	const char *why;           /* NULL, or why it takes no traffic */
	uint64_t until;            /* hold-down or ramp: when the factor next moves; 0 */
} gtm_site_view_t;

typedef enum gtm_ctl_event_kind {
	GTM_EV_SITE_DOWN = 0,      /* a site stopped serving: its traffic moved */
	GTM_EV_SITE_HELD,          /* a site is up again, held down */
	GTM_EV_SITE_BACK,          /* a site's failback ramp completed */
	GTM_EV_CITY_EVACUATED,     /* a city became unable: evacuated automatically */
	GTM_EV_CITY_HELD,          /* a city is able again, held down */
	GTM_EV_CITY_BACK,          /* a city's failback ramp completed */
	GTM_EV_EVAC_SUPPRESSED,    /* an automatic evacuation over the rate limit */
	GTM_EV_PROMOTE,            /* wanted: promote `city` for service `service` */
} gtm_ctl_event_kind_t;

/* One automatic change found by an update; one per (kind, site or city)
 * with the services it touched (a bit per service would not scale: the
 * first one and a count). */
typedef struct gtm_ctl_event {
	gtm_ctl_event_kind_t kind;
	uint32_t site;             /* SITE_*: index into conf->sites; else UINT32_MAX */
	uint32_t city;             /* CITY_*, EVAC_SUPPRESSED, PROMOTE: index into conf->cities */
	uint32_t service;          /* the first service concerned */
	uint32_t nservices;        /* how many */
	uint64_t until;            /* *_HELD: when the hold-down ends */
} gtm_ctl_event_t;

/* The result of an update or a preview. */
typedef struct gtm_decision {
	dns_plan_t *plan;          /* owned until taken (set to NULL by the taker) */
	bool *failopen;            /* [nservices]: at the last resort */
	gtm_service_view_t *services;  /* [nservices] */
	size_t nservices;
	gtm_site_view_t *sites;    /* every (service, site), services in config order */
	size_t nsites;
	size_t *svc_sites;         /* [nservices + 1]: service i's views are
	                            * sites[svc_sites[i] .. svc_sites[i + 1]) */
	gtm_ctl_event_t *events;   /* update only: the automatic changes it made */
	size_t nevents;
	uint64_t next_due;         /* when a hold-down or failback step is next due; 0 none */
	unsigned refs;             /* references beyond the first (gtm_decision_ref) */
	struct gtm_decision_mem *mem;  /* private: the blocks the views live in */
} gtm_decision_t;

/* Drops one reference; the last one frees.  NULL is a no-op. */
void gtm_decision_free(gtm_decision_t *d);
/* Adds a reference (control thread); returns d. */
gtm_decision_t *gtm_decision_ref(gtm_decision_t *d);

/* The view of conf->services[svc]'s site `site`, or NULL.  O(the
 * service's sites). */
const gtm_site_view_t *gtm_decision_site(const gtm_decision_t *d, uint32_t svc, uint32_t site);

/* Counters and gauges for gtmctl stats and the metrics (controller.*).
 * Cumulative ones survive reloads. */
typedef struct gtm_controller_stats {
	uint64_t updates;               /* plans computed */
	uint64_t evacuations;           /* automatic city evacuations */
	uint64_t evacuations_suppressed;/* over auto_evacuations_per_hour */
	uint64_t site_failovers;        /* sites that lost their traffic to health */
	uint64_t failbacks;             /* sites and cities given traffic back (ramp done) */
	uint64_t promotions;            /* automatic promotions wanted */
	uint32_t services_degraded;     /* gauge: services at degraded_ttl now */
	uint32_t services_last_resort;  /* gauge: services at their last resort now */
	uint32_t held_down;             /* gauge: sites and cities held down or ramping back */
	/* Failover measured: detection (first failed probe -> verdict) and
	 * publication (verdict -> snapshot live on every worker) of automatic
	 * changes, filled by gtm_controller_note_timing(). */
	uint64_t timed;                 /* automatic changes timed */
	uint32_t last_detect_ms, last_publish_ms;
	uint32_t max_detect_ms, max_publish_ms;
	uint64_t sum_detect_ms, sum_publish_ms;
} gtm_controller_stats_t;

/* A controller for `conf` (borrowed; must outlive it or be replaced with
 * gtm_controller_rebind). */
gtm_controller_t *gtm_controller_new(const gtm_conf_t *conf);

/* NULL is a no-op. */
void gtm_controller_free(gtm_controller_t *c);

/* The automatic changes' budget (controller.auto_evacuations_per_hour):
 * how many of the last hour's `limit` (0: no limit) are used at `now`,
 * and, when `suppressed` is not NULL, per city (conf->ncities entries) how
 * many services' failover of it the budget holds back now. */
void gtm_controller_budget(const gtm_controller_t *c, uint64_t now, uint32_t *used, uint32_t *limit,
                           uint32_t *suppressed);

/* Moves the memory (trackers by service, site and city; the rate budget;
 * the counters) to a new configuration after a reload, through `map`, the
 * reload's remap (gtm/core/gen.h). */
struct gtm_remap;
void gtm_controller_rebind(gtm_controller_t *c, const gtm_conf_t *conf, const struct gtm_remap *map);

/*
 * Advances the memory to `now` with `health` (NULL: all up) and `admin`
 * (NULL: the defaults) and makes the plan.  Returns the decision (caller
 * frees) with the events of this step.  Never fails.
 */
gtm_decision_t *gtm_controller_update(gtm_controller_t *c, const gtm_health_t *health,
                                      const gtm_admin_view_t *admin, uint64_t now);

/* The plan the same inputs would give, without changing the memory (dry
 * runs, safety checks).  No events. */
gtm_decision_t *gtm_controller_preview(const gtm_controller_t *c, const gtm_health_t *health,
                                       const gtm_admin_view_t *admin, uint64_t now);
/* The same without the plan (d->plan is NULL): the views only, for what
 * gtmctl compares or prints (status, dry runs, safety rules), at a fraction
 * of the time and memory. */
gtm_decision_t *gtm_controller_preview_views(const gtm_controller_t *c, const gtm_health_t *health,
                                             const gtm_admin_view_t *admin, uint64_t now);

/* Records the timing of one automatic change (see the stats). */
void gtm_controller_note_timing(gtm_controller_t *c, uint32_t detect_ms, uint32_t publish_ms);

/* Counts an automatic promotion applied by the caller (rate budget). */
void gtm_controller_note_auto(gtm_controller_t *c, uint64_t now);

void gtm_controller_stats(const gtm_controller_t *c, gtm_controller_stats_t *out);

/*
 * Stateless shortcuts (no admin state, nothing held down): the plan for
 * `conf` and `health` (NULL: every endpoint up); with `failopen`
 * (conf->nservices long) set where a service is at its last resort.  The
 * caller owns the plan.
 */
dns_plan_t *gtm_controller_plan(const gtm_conf_t *conf, const gtm_health_t *health);
dns_plan_t *gtm_controller_plan_report(const gtm_conf_t *conf, const gtm_health_t *health,
                                       bool *failopen);
