/*
 * Private to admin*.c: the body of gtm_admin_t and the helpers its files
 * share.  admin.c holds the model and the actions, admin_json.c the JSON
 * codec, admin_store.c the state file, admin_history.c the history.
 * Nothing outside gtm/core/admin*.c includes this.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "gtm/core/admin.h"

#define STATE_VERSION 1

/* Who changed an object last, why and when. */
typedef struct rec {
	uint64_t since;       /* 0: never changed */
	char *reason;
	char *user;
	uid_t uid;
	bool automatic;
} rec_t;

typedef struct site_adm {
	gtm_admin_site_state_t state;
	bool activated;
	/* the ramp, when state is DRAINING */
	uint64_t ramp_start, ramp_ms;
	unsigned steps;
	bool paused;
	bool paused_auto;     /* gtmd paused it (a receiving site down): gtmd may resume it */
	uint64_t paused_at, paused_total;
	char *pause_reason;
	rec_t rec;
} site_adm_t;

typedef struct city_adm {
	bool evacuated;
	rec_t rec;
} city_adm_t;

typedef struct svc_adm {
	uint32_t master;      /* GTM_NO_CITY: the configuration's */
	rec_t rec;
} svc_adm_t;

/* An endpoint's operator override (gtmctl disable/enable). */
typedef struct ep_adm {
	gtm_admin_ep_state_t state;
	rec_t rec;
} ep_adm_t;

struct gtm_admin {
	const gtm_conf_t *conf;
	char *state_file;
	char *history_file;
	size_t nsites, ncities, nservices;
	site_adm_t *sites;
	city_adm_t *cities;
	svc_adm_t *svcs;
	/* Endpoints: service s's are eps[ep_off[s] .. ep_off[s + 1]). */
	size_t neps;
	size_t *ep_off;
	ep_adm_t *eps;
};

/* admin.c: names (-1 when unknown), state names, records. */
int gtm_adm_state_parse(const char *s);
bool gtm_adm_op_on_site(gtm_admin_op_t op);
void gtm_adm_rec_clear(rec_t *r);
int gtm_adm_find_site(const gtm_conf_t *c, const char *name);
int gtm_adm_find_city(const gtm_conf_t *c, const char *name);
int gtm_adm_find_service(const gtm_conf_t *c, const char *name);
bool gtm_adm_service_has_site_in(const gtm_conf_t *c, const gtm_service_t *svc, uint32_t city);
/* Why a master override `city` (GTM_NO_CITY: a city that is gone) of
 * service `svc` cannot stay in `conf`, or NULL when it can: the one rule of
 * the state file's loader and of a reload's rebind. */
const char *gtm_adm_master_drop(const gtm_conf_t *conf, uint32_t svc, uint32_t city);
/* The master a global service has now: the override or the configuration's. */
uint32_t gtm_adm_effective_master(const gtm_admin_t *a, size_t svc);
/* A city's name, "none" for GTM_NO_CITY. */
const char *gtm_adm_city_name(const gtm_conf_t *c, uint32_t city);
/* The site's effective state and answer factor at `now`. */
gtm_admin_site_state_t gtm_adm_site_state(const site_adm_t *s, uint64_t now);
double gtm_adm_site_factor(const site_adm_t *s, uint64_t now);
/* The endpoint of service `svc` with address `addr` (text): its index in
 * the service, -1 when none, -2 when the address is at several sites. */
int gtm_adm_find_endpoint(const gtm_conf_t *c, uint32_t svc, const char *addr);
/* The endpoint "SERVICE ADDRESS" names in `conf` (service by the DNS name
 * rule): 0 with *svc and *ep set, or -1 (no such endpoint, or ambiguous). */
int gtm_adm_endpoint_parse(const gtm_conf_t *conf, const char *name, uint32_t *svc, uint32_t *ep);
/* "SERVICE ADDRESS", the endpoint's name in the state and the history. */
void gtm_adm_endpoint_name(const gtm_conf_t *c, uint32_t svc, uint32_t ep, char *buf, size_t len);
int gtm_adm_ep_state_parse(const char *s);
/* Frees `a`'s arrays and makes them anew, at their defaults, for `conf`. */
void gtm_adm_reset(gtm_admin_t *a, const gtm_conf_t *conf);

/*
 * admin_json.c: fills `a` (at its defaults, bound to its conf) from
 * `root`.  `what` names the source in log lines; `*dropped` counts the
 * entries whose names are gone.  Returns 0 or GTM_EPARSE (err says why);
 * on error `a` is left partly filled: the caller resets it.
 */
int gtm_adm_state_from_json(gtm_admin_t *a, const json_t *root, const char *what,
                            int *dropped, char *err, size_t errlen);

/* admin_store.c: writes the state file, when `a` has one.  Returns 0 or
 * GTM_EIO with `err` set. */
int gtm_adm_save(const gtm_admin_t *a, uint64_t now, char *err, size_t errlen);

/* admin_history.c: appends `records` (an array) to the history file, one
 * line each, when `a` has one.  Returns 0 or GTM_EIO with `err` set. */
int gtm_adm_history_write(gtm_admin_t *a, const json_t *records, char *err, size_t errlen);
