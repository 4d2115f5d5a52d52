/*
 * Admin state: what the operators (and the controller's automatic rules)
 * have decided, on top of what the probes say.
 *
 *   per site     active (default) | draining (a ramp) | drained;
 *                activated (cold sites only: put in the plan by an operator)
 *   per city     evacuated or not
 *   per service  the master city chosen by `promote` (global services only;
 *                absent = the configuration's master)
 *
 * A drain with a ramp lowers the site's weight factor stepwise from 1 to 0:
 * with N steps (default GTM_ADMIN_DEFAULT_STEPS) over a duration D, the
 * first step is taken at once and the others every D / (N - 1), so the
 * factor is (N-1)/N at the start, (N-k-1)/N after k further intervals and
 * 0 at D (5 steps over 30 s: 0.8 at 0 s, 0.6 at 7.5 s, 0.4 at 15 s, 0.2 at
 * 22.5 s, 0 at 30 s).  A ramp may be paused (by the controller when a
 * receiving site goes unhealthy, or by an operator): its factor stays where
 * it is and the remaining steps move later by the time spent paused.  A
 * ramp that has reached 0 reads as drained; gtm_admin_settle() records it.
 *
 * Every change goes through gtm_admin_apply(), which checks it (the
 * caller's safety rules, unless forced), records who (uid of the control
 * socket's peer, user name), why (free text) and when, appends a line to
 * the history file (JSON lines, old -> new) and saves the whole state
 * atomically (temp file in the same folder, fsync, rename, fsync of the
 * folder).  gtm_admin_load() restores it at start-up.
 *
 * Time: every `now` is milliseconds since the Unix epoch (CLOCK_REALTIME,
 * gtm_admin_now()), because ramps are saved and must continue across a
 * restart.  Nothing here reads the clock except gtm_admin_now(), so tests
 * run on a fake clock.
 *
 * Names are resolved against the configuration (sites, cities, services);
 * the state holds indices.  After a reload, gtm_admin_rebind() moves the
 * state to the new configuration by name.
 *
 * Every function runs on the control thread; a gtm_admin_t is not locked.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gtm/conf/conf.h"

#define GTM_ADMIN_DEFAULT_STEPS 5
#define GTM_ADMIN_MAX_STEPS 100
/* A `now` after every ramp has ended: the view where ramps have reached 0
 * (paused ones stay where they are).  Safety rules judge a ramped drain by
 * where it ends: gtm_admin_view_new(next, GTM_ADMIN_END). */
#define GTM_ADMIN_END UINT64_MAX

typedef struct gtm_admin gtm_admin_t;

typedef enum gtm_admin_site_state {
	GTM_ADMIN_ACTIVE = 0,
	GTM_ADMIN_DRAINING,
	GTM_ADMIN_DRAINED,
} gtm_admin_site_state_t;

/* An endpoint's operator override.  DISABLED and FORCE_DOWN both keep it
 * out of the answers (and out of its site's quorum); DISABLED says an
 * operator took it out, FORCE_DOWN that its health is set to down whatever
 * the probes say; FORCE_UP sets it up whatever they say.  The probes keep
 * running underneath: enabling gives the real state back. */
typedef enum gtm_admin_ep_state {
	GTM_ADMIN_EP_ENABLED = 0,
	GTM_ADMIN_EP_DISABLED,
	GTM_ADMIN_EP_FORCE_DOWN,
	GTM_ADMIN_EP_FORCE_UP,
} gtm_admin_ep_state_t;

/* "enabled", "disabled", "forced down", "forced up". */
const char *gtm_admin_ep_state_name(gtm_admin_ep_state_t s);

typedef enum gtm_admin_op {
	GTM_ADMIN_DRAIN = 0,  /* site; ramp_ms 0 = at once */
	GTM_ADMIN_UNDRAIN,    /* site: back to active */
	GTM_ADMIN_EVACUATE,   /* city */
	GTM_ADMIN_RESTORE,    /* city */
	GTM_ADMIN_PROMOTE,    /* city; service NULL = every global service */
	GTM_ADMIN_ACTIVATE,   /* cold site */
	GTM_ADMIN_DEACTIVATE, /* cold site */
	GTM_ADMIN_PAUSE,      /* site with a running ramp */
	GTM_ADMIN_RESUME,     /* site with a paused ramp */
	GTM_ADMIN_DISABLE,    /* endpoint: service + address; forced_state: FORCE_DOWN */
	GTM_ADMIN_ENABLE,     /* endpoint: back to its probes; forced_state: FORCE_UP */
	GTM_ADMIN_NOPS
} gtm_admin_op_t;

/* "drain", "undrain", ... (the control protocol's "cmd"); NULL if out of range. */
const char *gtm_admin_op_name(gtm_admin_op_t op);
/* The op named `name`, or -1. */
int gtm_admin_op_parse(const char *name);
/* "active", "draining", "drained". */
const char *gtm_admin_state_name(gtm_admin_site_state_t s);

/* One change as asked.  Strings are borrowed for the call. */
/* Objects one action may name at once (gtmctl drain bj-a bj-b). */
#define GTM_ADMIN_MAX_TARGETS 64

typedef struct gtm_admin_action {
	gtm_admin_op_t op;
	const char *target;   /* site (drain, undrain, activate, deactivate,
	                       * pause, resume) or city (evacuate, restore, promote) */
	/* More objects of the same kind, for one atomic change: the op is
	 * applied to target and to each of these on one copy of the state,
	 * then one safety check, one history append, one publish; an unknown
	 * name or an error on any refuses the whole.  0: target alone. */
	const char *more[GTM_ADMIN_MAX_TARGETS - 1];
	size_t nmore;
	const char *service;  /* promote: one global service; NULL = all of them;
	                       * disable, enable: the endpoint's service (target is
	                       * its address) */
	bool forced_state;    /* disable: forced down; enable: forced up */
	uint64_t ramp_ms;     /* drain: ramp duration; 0 = drained at once */
	unsigned steps;       /* drain with a ramp: 0 = GTM_ADMIN_DEFAULT_STEPS; 1..GTM_ADMIN_MAX_STEPS */
	const char *reason;   /* free text; NULL = none */
	uid_t uid;            /* the author (control socket peer) */
	const char *user;     /* the author's name; NULL = looked up from uid */
	bool automatic;       /* made by gtmd itself (the controller), not an operator */
	bool force;           /* skip the safety check */
	bool dry_run;         /* compute the would-be state only */
	bool propose;         /* compute the change as it would be made (message,
	                       * res->preview, res->history) but change nothing:
	                       * the cluster writes it to etcd first, then
	                       * gtm_admin_adopt()s the preview */
} gtm_admin_action_t;

/*
 * The caller's safety rules.  `cur` is the state now, `next` the state the
 * action would make (same configuration); `act` the action.  Return 0 to
 * allow; anything else refuses, with a one-line reason written to `why`
 * (e.g. "service www.example.com would have no serving site").  Must not
 * modify anything.  Not called with `force`.
 */
typedef int (*gtm_admin_check_cb_t)(const gtm_admin_t *cur, const gtm_admin_t *next,
                                    const gtm_admin_action_t *act, uint64_t now,
                                    void *arg, char *why, size_t whylen);

/* What gtm_admin_apply() did. */
typedef struct gtm_admin_result {
	bool changed;         /* the state changed (or, dry run, would change) */
	bool refused;         /* the safety check said no (nothing changed) */
	bool saved;           /* the state file was written (false without one, or on dry run) */
	char message[512];    /* one line: the change, "already drained", the refusal
	                       * or the error; also a failure to save */
	json_t *changes;      /* array of {"object","name","field","old","new"};
	                       * owned by the result; empty when nothing changes */
	gtm_admin_t *preview; /* dry run (refused or not) or propose (not refused):
	                       * the would-be state, owned by the result; NULL
	                       * otherwise.  A refused dry run keeps `changes` too */
	json_t *history;      /* the history records of the change (one per changed
	                       * field, as in the history file), owned by the
	                       * result; NULL unless changed (and not a dry run) */
} gtm_admin_result_t;

/*
 * A new state for `conf` (borrowed; it must outlive the state or be
 * replaced with gtm_admin_rebind()), everything at its default.
 * `state_file` and `history_file` are copied; NULL means not saved /
 * no history.  Nothing is read: see gtm_admin_load().
 */
gtm_admin_t *gtm_admin_new(const gtm_conf_t *conf, const char *state_file,
                           const char *history_file);

/* NULL is a no-op. */
void gtm_admin_free(gtm_admin_t *a);

/* The current time for `now`: ms since the Unix epoch. */
uint64_t gtm_admin_now(void);

/*
 * Reads the state file into `a`.  A missing file is an empty state (0).
 * Entries that name a site, city or service no longer in the
 * configuration, or that do not apply any more (activated on a site that
 * is no longer cold, a master for a service that is no longer global, a
 * master city without a site of the service), are logged at warning and
 * dropped.  Returns 0; GTM_EPARSE when the file is not a valid state
 * file: it is then renamed to "<state_file>.bad", logged at error, and
 * `a` is left at its defaults; GTM_EIO when it cannot be read.
 */
int gtm_admin_load(gtm_admin_t *a);

/*
 * Moves the state to a new configuration (after a reload) through `map`,
 * the reload's remap (gtm/core/gen.h), with the same rules as
 * gtm_admin_load() for objects that are gone, and saves it when anything
 * was dropped.  `conf` is borrowed as in gtm_admin_new().
 */
struct gtm_remap;
void gtm_admin_rebind(gtm_admin_t *a, const gtm_conf_t *conf, const struct gtm_remap *map);

/*
 * New state and history files (a reload that changed them): copied; NULL
 * means none.  The state in memory is kept and saved at once to the new
 * state file (the old file is left as it is; the new one, if it exists, is
 * not read).  Returns 0, or GTM_EIO when the new state file cannot be
 * written (logged; the path is kept, the next change tries again).
 */
int gtm_admin_set_files(gtm_admin_t *a, const char *state_file, const char *history_file);

/* The configuration the state is bound to. */
const gtm_conf_t *gtm_admin_conf(const gtm_admin_t *a);

/*
 * Checks and applies `act`:
 *   - names are resolved; an unknown name, or an action that does not
 *     apply (activate on a site that is not cold, promote to a city where
 *     the service has no site, pause without a running ramp...) returns
 *     GTM_ENOENT / GTM_EINVAL with the reason in res->message;
 *   - an action that changes nothing (drain of a drained site) returns 0
 *     with res->changed false and records nothing;
 *   - otherwise the would-be state is computed; unless act->force,
 *     `check` (may be NULL) may refuse it: 0 with res->refused, nothing
 *     changed;
 *   - dry_run: 0, res->preview holds the would-be state, nothing is
 *     changed, saved or recorded;
 *   - else the change is made, logged at info, appended to the history and
 *     the state saved.  A failure to write either file is logged and put in
 *     res->message, but the change stays made (a drain must work on a full
 *     disk); res->saved tells.
 * `res` is filled in every case; release it with gtm_admin_result_clear().
 */
int gtm_admin_apply(gtm_admin_t *a, const gtm_admin_action_t *act, uint64_t now,
                    gtm_admin_check_cb_t check, void *arg, gtm_admin_result_t *res);

/*
 * Replaces the whole state with `root` (the state file's format, e.g. from
 * etcd), with gtm_admin_load()'s rules for names not in the configuration;
 * `what` names the source in log lines.  Saves the state file (a cache of
 * the cluster's state for a restart without etcd); writes no history.
 * Returns 0, or GTM_EPARSE with `err` set and `a` unchanged.
 */
int gtm_admin_replace_json(gtm_admin_t *a, const json_t *root, const char *what,
                           char *err, size_t errlen);

/* Takes the state of `next` (a preview of `a`, same configuration; left
 * with a's old state, for the caller to free) and saves it. */
void gtm_admin_adopt(gtm_admin_t *a, gtm_admin_t *next);

/* Frees what `res` owns and zeroes it. */
void gtm_admin_result_clear(gtm_admin_result_t *res);

/*
 * Records ramps that have reached 0 at `now` as drained (history line,
 * author gtmd, automatic) and saves.  Returns how many.  The control
 * thread calls it when the ramp timer (gtm_admin_view_t.next_due) fires;
 * the view already reads such sites as drained, so it only tidies up.
 */
int gtm_admin_settle(gtm_admin_t *a, uint64_t now);

/*
 * What the controller reads: a pure function of the state and `now`.
 * Arrays are indexed like the configuration's sites / cities / services.
 */
typedef struct gtm_admin_view {
	size_t nsites, ncities, nservices;
	/* Endpoint overrides, service s's at ep_force[ep_off[s] + e]: 0 none
	 * (the probes decide), -1 forced down, -2 disabled (out of the answers,
	 * also when the service fails open), +1 forced up.
	 * Both NULL when no endpoint has one (the usual case: no cost). */
	size_t *ep_off;        /* [nservices + 1] */
	int8_t *ep_force;
	double *factor;        /* [nsites] weight factor: 1 active, 0 drained, ramp in between */
	bool *activated;       /* [nsites] cold sites put in the plan by an operator */
	bool *evacuated;       /* [ncities] */
	uint32_t *master;      /* [nservices] promoted master city, or GTM_NO_CITY
	                        * (the configuration's) */
	uint64_t next_due;     /* when the next ramp step is due (ms since epoch);
	                        * 0 = none (no running, unpaused ramp) */
} gtm_admin_view_t;

/* The view at `now`.  Never fails; free with gtm_admin_view_free(). */
gtm_admin_view_t *gtm_admin_view_new(const gtm_admin_t *a, uint64_t now);
void gtm_admin_view_free(gtm_admin_view_t *v);

/* Whether two views give the controller the same inputs: every field but
 * next_due.  (gtm/ctl/control.c shares a decision between equal views: a
 * field added to the view is compared here.) */
bool gtm_admin_view_eq(const gtm_admin_view_t *a, const gtm_admin_view_t *b);

/* One site's factor at `now` (as in the view); 1 for an index out of range. */
double gtm_admin_site_factor(const gtm_admin_t *a, uint32_t site, uint64_t now);
/* When the next ramp step of any site is due after `now`; 0 = none. */
uint64_t gtm_admin_next_due(const gtm_admin_t *a, uint64_t now);

/* A site's admin state at `now`, for status and the safety rules. */
typedef struct gtm_admin_site_info {
	gtm_admin_site_state_t state; /* DRAINING reads DRAINED once the ramp reached 0 */
	double factor;
	bool activated;
	/* the ramp (state DRAINING, or DRAINED by a ramp not yet settled) */
	bool ramp;
	unsigned step, steps;  /* steps taken so far (1..steps) of `steps` */
	uint64_t ramp_start, ramp_ms, ramp_end;  /* ramp_end moves later while paused */
	uint64_t next_step;    /* 0 when paused or done */
	bool paused;
	const char *pause_reason;  /* borrowed; NULL when not paused */
	/* the last change of this site */
	uint64_t since;        /* ms; 0 = never changed */
	const char *reason;    /* borrowed; may be NULL */
	const char *user;      /* borrowed; may be NULL */
	uid_t uid;
	bool automatic;        /* the last change was gtmd's own (e.g. its pause),
	                        * so the controller may undo it (resume) */
} gtm_admin_site_info_t;

/* Fills `out` for conf->sites[site].  Returns 0 or GTM_ENOENT. */
int gtm_admin_site_info(const gtm_admin_t *a, uint32_t site, uint64_t now,
                        gtm_admin_site_info_t *out);
bool gtm_admin_city_evacuated(const gtm_admin_t *a, uint32_t city);

/*
 * A site's weight now as the operators set it, the one figure behind the
 * metric site.<site>.weight and the WEIGHT column of `gtmctl status`:
 * its configured weight x its drain factor, 0 in an evacuated city, 0 for
 * a cold site not activated (health and failback aside: those are the
 * controller's, per service).  *why (when not NULL) gets what makes it 0,
 * or NULL: "cold standby, not activated", "city evacuated", "drained".
 */
double gtm_admin_site_weight_now(const gtm_admin_t *a, uint32_t site, uint64_t now, const char **why);

/* Whether "SERVICE ADDRESS" (an endpoint's name in the state) names an
 * endpoint of `conf`. */
bool gtm_admin_endpoint_known(const gtm_conf_t *conf, const char *name);

/* Endpoint `ep` of service `svc`: its override and who set it (borrowed
 * strings; `since` 0 when never changed). */
gtm_admin_ep_state_t gtm_admin_endpoint(const gtm_admin_t *a, uint32_t svc, uint32_t ep,
                                        uint64_t *since, const char **reason, const char **user);
/* The promoted master of conf->services[svc], or GTM_NO_CITY. */
uint32_t gtm_admin_master(const gtm_admin_t *a, uint32_t svc);

/*
 * The state as JSON at `now`: the format of the state file and the
 * "admin" part of a status reply:
 *   {"version":1,
 *    "sites":{"bj-a":{"state":"draining","factor":0.6,"activated":false,
 *                     "ramp":{"start":ms,"duration":ms,"steps":5,"step":2,
 *                             "end":ms,"next":ms,"paused":false,
 *                             "paused_at":ms,"paused_total":ms,"pause_reason":"…"},
 *                     "since":ms,"reason":"…","uid":0,"user":"root"}},
 *    "cities":{"beijing":{"evacuated":true,"since":…,"reason":…,"uid":…,"user":…}},
 *    "services":{"www.example.com":{"master":"shanghai","since":…,…}}}
 * With `all`, every site, city and service is listed (status); without,
 * only those that differ from the default (the state file).  New reference.
 */
json_t *gtm_admin_to_json(const gtm_admin_t *a, uint64_t now, bool all);

/*
 * The action a control request asks for: "cmd" (drain, undrain,
 * evacuate, restore, promote, activate, deactivate, pause, resume),
 * "site" or "city", "service", "ramp" (seconds, may be fractional),
 * "steps", "reason", "force", "dry_run" (gtm/ctl/ctl.h documents them).  The
 * strings are borrowed from `req`; uid, user and automatic are left for
 * the caller (the peer's credentials).  Returns 0, or GTM_EINVAL with a
 * message in `err`.
 */
int gtm_admin_action_from_json(const json_t *req, gtm_admin_action_t *act,
                               char *err, size_t errlen);

/*
 * The reply to an action request (gtm/ctl/ctl.h): {"ok":true,"changed":…,
 * "dry_run":…,"message":…,"changes":[…]} or {"ok":false,"refused":true,
 * "error":…} or {"ok":false,"error":…} for `rc` < 0.  New reference; the
 * caller may add "answers" (the per city and service diff).
 */
json_t *gtm_admin_result_json(const gtm_admin_action_t *act, int rc,
                              const gtm_admin_result_t *res);

/*
 * Appends one record to the history file (for the controller's own
 * events: automatic evacuations with detection and publication times).
 * "time" (ms) is added when `rec` has none.  Borrows `rec`.  Returns 0,
 * or GTM_EIO (logged).  No history file: 0.
 */
int gtm_admin_history_append(gtm_admin_t *a, json_t *rec);

/* Whether the state has a history file. */
bool gtm_admin_has_history(const gtm_admin_t *a);

/*
 * The last `limit` records of the history file, oldest first (limit 0:
 * all).  Lines that do not parse are skipped.  A missing file is an empty
 * array.  New reference, or NULL with GTM_EIO in *rc when it cannot be read.
 */
json_t *gtm_admin_history_read(const gtm_admin_t *a, size_t limit, int *rc);
