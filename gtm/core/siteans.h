/*
 * Answers per site, by site name: the running totals behind the metric
 * site.<site>.answers and the measured share of the last minute that
 * `gtmctl status` shows next to the planned share.
 *
 * The DNS workers count the answers of each site in a fixed per-worker
 * array indexed by a small number (dns_ctx_t.site_answers, indexed by
 * dns_plan_site_t.site).  This module hands out those numbers: a site's
 * *slot* (gtm_site_t.slot), which the controller copies into the plan.
 * A slot belongs to a site name for as long as the name is configured, so
 * a reload that reorders, adds or removes sites never moves one site's
 * count to another, and no counter ever goes backwards.  A slot whose name
 * left the configuration keeps counting for that name (the previous
 * snapshot may still be answering with it) and is given to a new name only
 * at a later reload, after its last count was folded in: by then the
 * snapshot that used it has been replaced on every worker.  So attribution
 * is exact without any coordination with the workers.
 *
 * The totals are read from the workers without locks (a slightly stale
 * read, like dns_server_stats) and kept per name for the daemon's life (a
 * site removed and added back continues where it was).
 *
 * The measured share: every GTM_SITEANS_TICK_MS a timer records every
 * name's total in a ring of GTM_SITEANS_RING rows.  The window of a status
 * is from the oldest row no older than GTM_SITEANS_WINDOW_MS to now (55 to
 * 60 s once gtmd has run a minute; since start-up before that).  A site's
 * share is its answers in the window divided by the answers of all sites
 * in the window, over every service together (an answer given whole, with
 * every site's records, counts once for each of its sites).
 *
 * Every function runs on the control thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/server.h"
#include "gtm/conf/conf.h"

struct event_base;

#define GTM_SITEANS_TICK_MS 5000
#define GTM_SITEANS_WINDOW_MS 60000
#define GTM_SITEANS_RING (GTM_SITEANS_WINDOW_MS / GTM_SITEANS_TICK_MS + 1)

typedef struct gtm_siteans gtm_siteans_t;

/* Reads the workers' answers per slot: out[i] for i < n (n is
 * DNS_MAX_SITES), cumulative, as dns_server_site_answers does. */
typedef void (*gtm_siteans_read_cb_t)(void *arg, uint64_t *out, size_t n);

/* The gtm_siteans_read_cb_t of gtmd: `arg` is a dns_server_t *const *
 * (the address of gtmd's pointer; NULL in it: every count 0). */
void gtm_siteans_read_server(void *arg, uint64_t *out, size_t n);

/*
 * A tally whose samples call read(arg) (borrowed for its life).  With
 * `base`, a timer records a ring row every GTM_SITEANS_TICK_MS; without,
 * the caller calls gtm_siteans_tick (tests).  Records the first row (all
 * zero) at `now_ms`.
 */
gtm_siteans_t *gtm_siteans_new(struct event_base *base, gtm_siteans_read_cb_t read, void *arg,
                               uint64_t now_ms);

/* NULL is a no-op. */
void gtm_siteans_free(gtm_siteans_t *t);

/*
 * Numbers the sites of `conf` (sets every conf->sites[i].slot): a name
 * keeps its slot; a new name gets a free one.  Call once for every
 * configuration about to be served, before its first plan is compiled,
 * while the previous one is still served (or at start-up).  A site for
 * which no slot is left (more than DNS_MAX_SITES names between two
 * reloads) gets DNS_PLAN_NO_SITE, logged: its answers are not counted.
 */
void gtm_siteans_bind(gtm_siteans_t *t, gtm_conf_t *conf);

/* Folds what the workers counted since the last call into the totals. */
void gtm_siteans_sample(gtm_siteans_t *t);

/* Samples and records a ring row stamped `now_ms` (the timer's job). */
void gtm_siteans_tick(gtm_siteans_t *t, uint64_t now_ms);

/* The answers of site `name` since gtmd started (0 for a name never
 * bound), as of the last sample. */
uint64_t gtm_siteans_total(const gtm_siteans_t *t, const char *name);

/*
 * The window (see above) ending at `now_ms`, as of the last sample (call
 * gtm_siteans_sample first for a fresh one): *site = the answers of `name`
 * in it, *all = the answers of every site; returns its length in ms.
 */
uint64_t gtm_siteans_recent(const gtm_siteans_t *t, const char *name, uint64_t now_ms,
                            uint64_t *site, uint64_t *all);

/* CLOCK_MONOTONIC in ms: the clock of the ring. */
uint64_t gtm_siteans_now(void);
