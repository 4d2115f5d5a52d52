/*
 * Endpoint health: configuration -> probe targets -> the controller's table,
 * site serving states, the state file.  The contract is in health.h; this
 * file explains the how.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/file.h"
#include "common/log.h"
#include "gtm/core/gen.h"
#include "gtm/core/health.h"

#define NO_TARGET UINT32_MAX

typedef struct hm_target {
	char key[96];            /* "<hash> <addr> <port>": identity, also in the state file */
	uint64_t hash;           /* gtm_check_param_hash of its check */
	uint32_t check;          /* index into conf->checks (the first user's) */
	char addr[48];
	uint16_t port;
	uint32_t first_ep;       /* global index of its first endpoint (label) */
	uint32_t nusers;
	chk_state_t state;       /* mirror of the engine's, updated by the callback */
	int64_t since_ms;
	char vkey[96];           /* "<vote hash> <addr> <port>": the same on every
	                          * node that probes the same thing (no source) */
	chk_state_t eff;         /* what the answers use: the vote, or `state` */
	int64_t eff_since_ms;    /* wall clock of the last change of `eff` */
	bool overruled;          /* eff != state (logged when it changes) */
} hm_target_t;

typedef struct hm_site {
	uint32_t svc, site;
	uint32_t total, up;
	bool serving;
	int64_t since_ms;
} hm_site_t;

struct gtm_health_mon {
	const gtm_conf_t *conf;
	struct event_base *base;
	chk_engine_t *engine;
	hm_target_t *targets;
	size_t ntargets;
	size_t *svc_off;         /* global endpoint index = svc_off[s] + j */
	size_t nep;
	uint32_t *ep_target;     /* NO_TARGET: unchecked */
	uint32_t *ep_site;       /* index into sites[] */
	bool *up;                /* nep */
	const bool **rows;       /* per service, into up[] */
	gtm_health_t table;
	hm_site_t *sites;
	size_t nsites;
	size_t *svc_site_off;    /* service s's sites are sites[svc_site_off[s] .. [s + 1]) */
	struct event *tick;      /* one-shot: coalesced republish */
	struct event *save_ev;   /* one-shot: coalesced state file write */
	gtm_health_publish_cb_t cb;
	void *cb_arg;
	gtm_health_vote_cb_t vote;
	void *vote_arg;
	bool started;
	bool quiet;              /* site transitions not logged (start-up wait) */
	bool state_dirty;
	bool write_failed;       /* the last write failed (logged once per streak) */
	gtm_health_stats_t base_stats;   /* cumulative counters of previous engines */
	gtm_health_stats_t stats;        /* counters of this monitor */
};

/* ---- identity ----------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	h ^= 0x1f;   /* field separator, so "ab","c" differs from "a","bc" */
	h *= 1099511628211ULL;
	return h;
}

static uint64_t fnv1a_num(uint64_t h, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return fnv1a(h, buf);
}

#define S(x) ((x) ? (x) : "\x1e")

static uint64_t param_hash(const gtm_check_t *c, bool with_source)
{
	const chk_params_t *p = &c->params;
	uint64_t h = 1469598103934665603ULL;
	char jit[32];
	h = fnv1a(h, chk_type_name(p->type));
	h = fnv1a_num(h, p->interval_ms);
	h = fnv1a_num(h, p->timeout_ms ? p->timeout_ms : p->interval_ms / 2);
	h = fnv1a_num(h, p->recheck_ms);
	h = fnv1a_num(h, p->rise);
	h = fnv1a_num(h, p->fall);
	snprintf(jit, sizeof(jit), "%.6f", p->jitter);
	h = fnv1a(h, jit);
	if (with_source)
		h = fnv1a(h, S(p->source));
	if (p->type == CHK_TYPE_HTTP || p->type == CHK_TYPE_HTTPS) {
		h = fnv1a_num(h, (uint64_t)p->http.method);
		h = fnv1a(h, S(p->http.path));
		h = fnv1a(h, S(p->http.host));
		if (p->http.nstatus == 0)
			h = fnv1a_num(h, 200);
		for (size_t i = 0; i < p->http.nstatus; i++)
			h = fnv1a_num(h, p->http.status[i]);
		h = fnv1a(h, S(p->http.body));
		h = fnv1a_num(h, p->http.body ? p->http.body_max : 0);
		if (p->type == CHK_TYPE_HTTPS) {
			h = fnv1a_num(h, p->http.tls_verify);
			h = fnv1a(h, S(p->http.ca_file));
		}
	}
	if (p->type == CHK_TYPE_DNS) {
		h = fnv1a(h, S(p->dns.qname));
		h = fnv1a_num(h, p->dns.qtype);
		h = fnv1a_num(h, p->dns.rcode);
		h = fnv1a(h, S(p->dns.answer));
		h = fnv1a_num(h, p->dns.tcp);
	}
	if (p->type == CHK_TYPE_EXEC)
		for (size_t i = 0; p->exec.argv && p->exec.argv[i]; i++)
			h = fnv1a(h, p->exec.argv[i]);
	return h;
}

#undef S

uint64_t gtm_check_param_hash(const gtm_check_t *c)
{
	return param_hash(c, true);
}

uint64_t gtm_check_vote_hash(const gtm_check_t *c)
{
	return param_hash(c, false);
}

uint16_t gtm_endpoint_probe_port(const gtm_check_t *c, const gtm_endpoint_t *ep)
{
	if (ep->probe_port)
		return ep->probe_port;
	if (c->params.port)
		return c->params.port;
	switch (c->params.type) {
	case CHK_TYPE_HTTP: return 80;
	case CHK_TYPE_HTTPS: return 443;
	case CHK_TYPE_DNS: return 53;
	default: return 0;
	}
}

static void make_key(char *key, size_t len, uint64_t hash, const char *addr, uint16_t port)
{
	snprintf(key, len, "%016" PRIx64 " %s %u", hash, addr, port);
}

/* ---- a small open-addressing index of keys -> target indices ------------ */

typedef struct key_index {
	uint32_t *slot;          /* NO_TARGET: empty */
	size_t mask;
	const hm_target_t *targets;   /* the keys live here */
} key_index_t;

static uint64_t str_hash(const char *s)
{
	return fnv1a(1469598103934665603ULL, s);
}

static void index_init(key_index_t *ix, size_t n)
{
	size_t cap = 16;
	while (cap < n * 2 + 1)
		cap *= 2;
	ix->slot = gtm_xmalloc(cap * sizeof(*ix->slot));
	for (size_t i = 0; i < cap; i++)
		ix->slot[i] = NO_TARGET;
	ix->mask = cap - 1;
}

static const char *index_key(const key_index_t *ix, uint32_t i)
{
	return ix->targets[i].key;
}

/* The index of `key`, or NO_TARGET; with `add` (!= NO_TARGET) inserts it
 * when absent and returns NO_TARGET. */
static uint32_t index_find(key_index_t *ix, const char *key, uint32_t add)
{
	for (size_t h = str_hash(key) & ix->mask;; h = (h + 1) & ix->mask) {
		uint32_t i = ix->slot[h];
		if (i == NO_TARGET) {
			if (add != NO_TARGET)
				ix->slot[h] = add;
			return NO_TARGET;
		}
		if (strcmp(index_key(ix, i), key) == 0)
			return i;
	}
}

/* ---- the table and the sites -------------------------------------------- */

static bool counts_up(const gtm_health_mon_t *m, chk_state_t s)
{
	return s == CHK_STATE_UP || (s == CHK_STATE_UNKNOWN && m->conf->health.unknown == GTM_UNKNOWN_UP);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Recomputes every endpoint's flag and every site's count; logs each site
 * whose serving state changed when `log` (not at creation). */
static void refresh(gtm_health_mon_t *m, bool log)
{
	const gtm_conf_t *c = m->conf;
	for (size_t i = 0; i < m->ntargets; i++) {
		hm_target_t *t = &m->targets[i];
		chk_state_t eff = m->vote ? m->vote(t->vkey, t->state, m->vote_arg) : t->state;
		bool overruled = eff != t->state && t->state != CHK_STATE_UNKNOWN;
		if (overruled != t->overruled && log) {
			if (overruled)
				log_info("health, %s %s:%u: own probes say %s, the observers' vote %s: the vote is used",
				         c->checks[t->check].name, t->addr, t->port, chk_state_name(t->state),
				         chk_state_name(eff));
			else
				log_info("health, %s %s:%u: own probes and the observers' vote agree again (%s)",
				         c->checks[t->check].name, t->addr, t->port, chk_state_name(eff));
		}
		t->overruled = overruled;
		if (eff != t->eff)
			t->eff_since_ms = wall_ms();
		t->eff = eff;
	}
	for (size_t i = 0; i < m->nsites; i++)
		m->sites[i].up = 0;
	for (size_t e = 0; e < m->nep; e++) {
		uint32_t t = m->ep_target[e];
		m->up[e] = t == NO_TARGET || counts_up(m, m->targets[t].eff);
		m->sites[m->ep_site[e]].up += m->up[e];
	}
	int64_t now = 0;
	for (size_t i = 0; i < m->nsites; i++) {
		hm_site_t *s = &m->sites[i];
		const gtm_service_t *svc = &c->services[s->svc];
		bool serving = s->up >= (svc->quorum ? svc->quorum : 1);
		if (serving == s->serving)
			continue;
		s->serving = serving;
		if (!log)
			continue;
		if (now == 0)
			now = wall_ms();
		s->since_ms = now;
		m->stats.site_changes++;
		log_info("service %s, site %s, %s -> %s (%" PRIu32 " of %" PRIu32 " endpoints up, quorum %" PRIu32 ")",
		         svc->name, c->sites[s->site].name, serving ? "not serving" : "serving",
		         serving ? "serving" : "not serving", s->up, s->total,
		         svc->quorum ? svc->quorum : 1);
	}
}

/* ---- state file ---------------------------------------------------------- */

#define STATE_HEADER "# gtm health state v1"

int gtm_health_state_read(const char *path, gtm_health_record_t **out, size_t *n,
                          char *why, size_t whylen)
{
	*out = NULL;
	*n = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(why, whylen, "%s", strerror(errno));
		return errno == ENOENT ? GTM_ENOENT : GTM_EIO;
	}
	gtm_health_record_t *r = NULL;
	size_t nr = 0;
	char line[512];
	int lineno = 0, rc = 0;
	bool header = false;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			snprintf(why, whylen, "line %d: truncated or too long", lineno);
			rc = GTM_EPARSE;
			break;
		}
		line[--len] = '\0';
		if (lineno == 1) {
			if (strcmp(line, STATE_HEADER) != 0) {
				snprintf(why, whylen, "line 1: not a gtm health state file (no '%s')", STATE_HEADER);
				rc = GTM_EPARSE;
				break;
			}
			header = true;
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		gtm_health_record_t rec;
		memset(&rec, 0, sizeof(rec));
		char state[16], hash[20], extra[2];
		unsigned port;
		long long at;
		int k = sscanf(line, "%63s %47s %u %19s %15s %lld %1s", rec.check, rec.addr, &port, hash,
		               state, &at, extra);
		unsigned char buf[16];
		char *end;
		if (k != 6) {
			snprintf(why, whylen, "line %d: expected 6 fields", lineno);
			rc = GTM_EPARSE;
			break;
		}
		if (inet_pton(AF_INET, rec.addr, buf) != 1 && inet_pton(AF_INET6, rec.addr, buf) != 1) {
			snprintf(why, whylen, "line %d: '%s' is not an address", lineno, rec.addr);
			rc = GTM_EPARSE;
			break;
		}
		errno = 0;
		rec.hash = strtoull(hash, &end, 16);
		if (strlen(hash) != 16 || *end != '\0' || errno != 0 || port > 65535 || at < 0) {
			snprintf(why, whylen, "line %d: bad port, hash or time", lineno);
			rc = GTM_EPARSE;
			break;
		}
		if (strcmp(state, "up") == 0)
			rec.state = CHK_STATE_UP;
		else if (strcmp(state, "down") == 0)
			rec.state = CHK_STATE_DOWN;
		else {
			snprintf(why, whylen, "line %d: state '%s' is not up or down", lineno, state);
			rc = GTM_EPARSE;
			break;
		}
		rec.port = (uint16_t)port;
		rec.changed_at_ms = at;
		r = gtm_xgrow(r, nr, sizeof(*r));
		r[nr++] = rec;
	}
	if (rc == 0 && ferror(f)) {
		snprintf(why, whylen, "%s", strerror(errno));
		rc = GTM_EIO;
	}
	if (rc == 0 && !header) {
		snprintf(why, whylen, "empty file");
		rc = GTM_EPARSE;
	}
	fclose(f);
	if (rc != 0) {
		free(r);
		return rc;
	}
	*out = r;
	*n = nr;
	return 0;
}

int gtm_health_state_write(const char *path, const gtm_health_record_t *r, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return GTM_EIO;
	fprintf(f, STATE_HEADER "\n");
	fprintf(f, "# <check> <probe address> <port> <param hash> up|down <changed at, ms since the epoch>\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s %u %016" PRIx64 " %s %" PRId64 "\n", r[i].check[0] ? r[i].check : "-",
		        r[i].addr, r[i].port, r[i].hash, r[i].state == CHK_STATE_UP ? "up" : "down",
		        r[i].changed_at_ms);
	int rc = GTM_EIO;
	if (fclose(f) == 0)
		rc = gtm_file_write_atomic(path, text, len, 0644, NULL, 0);
	int saved = errno;
	free(text);
	errno = saved;
	return rc;
}

int gtm_health_mon_save(gtm_health_mon_t *m, bool force)
{
	if (m == NULL)
		return 0;
	const char *path = m->conf->health.state_file;
	if (path == NULL || (!m->state_dirty && !force))
		return 0;
	if (m->save_ev)
		event_del(m->save_ev);
	gtm_health_record_t *r = gtm_xcalloc(m->ntargets ? m->ntargets : 1, sizeof(*r));
	size_t n = 0;
	for (size_t i = 0; i < m->ntargets; i++) {
		const hm_target_t *t = &m->targets[i];
		if (t->state == CHK_STATE_UNKNOWN)
			continue;
		gtm_health_record_t *x = &r[n++];
		snprintf(x->check, sizeof(x->check), "%s", m->conf->checks[t->check].name);
		snprintf(x->addr, sizeof(x->addr), "%s", t->addr);
		x->port = t->port;
		x->hash = t->hash;
		x->state = t->state;
		x->changed_at_ms = t->since_ms;
	}
	int rc = gtm_health_state_write(path, r, n);
	free(r);
	if (rc != 0) {
		m->stats.state_write_errors++;
		if (!m->write_failed)
			log_err("health, cannot write state file %s (%s)", path, strerror(errno));
		m->write_failed = true;
		return rc;
	}
	if (m->write_failed)
		log_info("health, state file %s written again", path);
	m->write_failed = false;
	m->state_dirty = false;
	m->stats.state_writes++;
	return 0;
}

/* ---- events -------------------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	gtm_health_mon_t *m = arg;
	(void)fd;
	(void)what;
	refresh(m, !m->quiet);
	m->stats.publishes++;
	if (m->cb)
		m->cb(m->cb_arg);
}

static void on_save(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gtm_health_mon_save(arg, false);
}

static void arm(struct event *ev, uint32_t ms)
{
	if (ev && !evtimer_pending(ev, NULL)) {
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		evtimer_add(ev, &tv);
	}
}

/* The engine's callback: record, and let the tick do the rest, so that a
 * storm of changes costs one rebuild per tick. */
static void on_change(uint32_t user_id, const chk_status_t *st, void *arg)
{
	gtm_health_mon_t *m = arg;
	if (user_id >= m->ntargets)
		return;
	hm_target_t *t = &m->targets[user_id];
	t->state = st->state;
	t->since_ms = st->changed_at_ms;
	m->stats.target_changes++;
	if (m->conf->health.state_file) {
		m->state_dirty = true;
		arm(m->save_ev, GTM_HEALTH_SAVE_MS);
	}
	arm(m->tick, GTM_HEALTH_TICK_MS);
}

/* ---- construction -------------------------------------------------------- */

static void restore_from_file(gtm_health_mon_t *m, chk_state_t *initial)
{
	const char *path = m->conf->health.state_file;
	if (path == NULL)
		return;
	gtm_health_record_t *r;
	size_t n;
	char why[256];
	int rc = gtm_health_state_read(path, &r, &n, why, sizeof(why));
	if (rc == GTM_ENOENT) {
		log_info("health, no state file %s yet, every target starts unknown", path);
		return;
	}
	if (rc != 0) {
		log_warn("health, state file %s is unusable (%s), starting as if there were none", path, why);
		return;
	}
	key_index_t ix = { .targets = m->targets };
	index_init(&ix, m->ntargets);
	for (uint32_t i = 0; i < m->ntargets; i++)
		index_find(&ix, m->targets[i].key, i);
	size_t restored = 0;
	for (size_t i = 0; i < n; i++) {
		char key[96];
		make_key(key, sizeof(key), r[i].hash, r[i].addr, r[i].port);
		uint32_t t = index_find(&ix, key, NO_TARGET);
		if (t == NO_TARGET || initial[t] != CHK_STATE_UNKNOWN)
			continue;
		initial[t] = r[i].state;
		m->targets[t].since_ms = r[i].changed_at_ms;
		restored++;
	}
	log_info("health, state file %s: %zu of %zu targets restored", path, restored, m->ntargets);
	free(ix.slot);
	free(r);
}

static void restore_from_prev(gtm_health_mon_t *m, const gtm_health_mon_t *prev, chk_state_t *initial)
{
	key_index_t ix = { .targets = prev->targets };
	index_init(&ix, prev->ntargets);
	for (uint32_t i = 0; i < prev->ntargets; i++)
		index_find(&ix, prev->targets[i].key, i);
	for (size_t i = 0; i < m->ntargets; i++) {
		uint32_t p = index_find(&ix, m->targets[i].key, NO_TARGET);
		if (p == NO_TARGET)
			continue;
		initial[i] = prev->targets[p].state;
		m->targets[i].since_ms = prev->targets[p].since_ms;
	}
	free(ix.slot);
}

/* The cumulative counters of `prev` (its own plus its engine's). */
static void carry_stats(gtm_health_mon_t *m, const gtm_health_mon_t *prev)
{
	gtm_health_stats_t s;
	gtm_health_mon_stats(prev, &s);
	m->base_stats = (gtm_health_stats_t){
		.probes_started = s.probes_started,
		.probes_done = s.probes_done,
		.probes_failed = s.probes_failed,
		.target_changes = s.target_changes,
		.site_changes = s.site_changes,
		.publishes = s.publishes,
		.state_writes = s.state_writes,
		.state_write_errors = s.state_write_errors,
	};
}

gtm_health_mon_t *gtm_health_mon_new(const gtm_conf_t *conf, struct event_base *base,
                                     const gtm_health_mon_t *prev, const gtm_remap_t *map,
                                     gtm_health_publish_cb_t cb, void *arg, gtm_diag_t *diag)
{
	gtm_assert(prev == NULL || map != NULL);
	gtm_health_mon_t *m = gtm_xcalloc(1, sizeof(*m));
	m->conf = conf;
	m->base = base;
	m->cb = cb;
	m->cb_arg = arg;
	m->svc_off = gtm_xcalloc(conf->nservices + 1, sizeof(*m->svc_off));
	for (size_t s = 0; s < conf->nservices; s++)
		m->svc_off[s + 1] = m->svc_off[s] + conf->services[s].nendpoints;
	m->nep = m->svc_off[conf->nservices];
	size_t cap = m->nep ? m->nep : 1;
	m->ep_target = gtm_xmalloc(cap * sizeof(*m->ep_target));
	m->ep_site = gtm_xmalloc(cap * sizeof(*m->ep_site));
	m->up = gtm_xcalloc(cap, sizeof(*m->up));
	m->rows = gtm_xcalloc(conf->nservices ? conf->nservices : 1, sizeof(*m->rows));
	m->sites = gtm_xcalloc(cap, sizeof(*m->sites));
	m->svc_site_off = gtm_xcalloc(conf->nservices + 1, sizeof(*m->svc_site_off));
	m->targets = gtm_xcalloc(cap, sizeof(*m->targets));
	m->table.up = m->rows;

	/* Parameter hashes once per check, not once per endpoint. */
	uint64_t *hashes = gtm_xcalloc(conf->nchecks ? conf->nchecks : 1, sizeof(*hashes));
	uint64_t *vhashes = gtm_xcalloc(conf->nchecks ? conf->nchecks : 1, sizeof(*vhashes));
	for (size_t i = 0; i < conf->nchecks; i++) {
		hashes[i] = gtm_check_param_hash(&conf->checks[i]);
		vhashes[i] = gtm_check_vote_hash(&conf->checks[i]);
	}

	key_index_t ix = { .targets = m->targets };
	index_init(&ix, m->nep);
	for (size_t s = 0; s < conf->nservices; s++) {
		const gtm_service_t *svc = &conf->services[s];
		m->rows[s] = m->up + m->svc_off[s];
		size_t first_site = m->nsites;
		m->svc_site_off[s] = first_site;
		for (size_t j = 0; j < svc->nendpoints; j++) {
			const gtm_endpoint_t *ep = &svc->endpoints[j];
			size_t e = m->svc_off[s] + j;
			/* The service's sites, in the order they first appear. */
			size_t k = first_site;
			while (k < m->nsites && m->sites[k].site != ep->site)
				k++;
			if (k == m->nsites)
				m->sites[m->nsites++] = (hm_site_t){ .svc = (uint32_t)s, .site = ep->site };
			m->sites[k].total++;
			m->ep_site[e] = (uint32_t)k;
			m->ep_target[e] = NO_TARGET;
			if (ep->check == GTM_NO_CHECK)
				continue;
			const gtm_check_t *c = &conf->checks[ep->check];
			uint16_t port = gtm_endpoint_probe_port(c, ep);
			char key[96];
			make_key(key, sizeof(key), hashes[ep->check], ep->probe_addr, port);
			uint32_t t = index_find(&ix, key, NO_TARGET);
			if (t == NO_TARGET) {
				t = (uint32_t)m->ntargets++;
				hm_target_t *nt = &m->targets[t];
				snprintf(nt->key, sizeof(nt->key), "%s", key);
				nt->hash = hashes[ep->check];
				nt->check = ep->check;
				snprintf(nt->addr, sizeof(nt->addr), "%s", ep->probe_addr);
				nt->port = port;
				nt->first_ep = (uint32_t)e;
				make_key(nt->vkey, sizeof(nt->vkey), vhashes[ep->check], ep->probe_addr, port);
				index_find(&ix, nt->key, t);
			}
			m->targets[t].nusers++;
			m->ep_target[e] = t;
		}
	}
	m->svc_site_off[conf->nservices] = m->nsites;
	/* Sized for one target per endpoint; most configurations have far
	 * fewer (shared probes, unchecked endpoints): 300 bytes each. */
	m->targets = gtm_xrealloc(m->targets, (m->ntargets ? m->ntargets : 1) * sizeof(*m->targets));
	free(ix.slot);
	free(hashes);
	free(vhashes);

	chk_state_t *initial = gtm_xcalloc(m->ntargets ? m->ntargets : 1, sizeof(*initial));
	if (prev)
		restore_from_prev(m, prev, initial);
	else
		restore_from_file(m, initial);

	/* The engine, one target per distinct probe, labelled after its first
	 * endpoint. */
	m->engine = chk_engine_new(base, on_change, m);
	int rc = 0;
	for (size_t i = 0; i < m->ntargets && rc == 0; i++) {
		hm_target_t *t = &m->targets[i];
		size_t e = t->first_ep, s = 0;
		while (m->svc_off[s + 1] <= e)
			s++;
		const gtm_service_t *svc = &conf->services[s];
		const gtm_endpoint_t *ep = &svc->endpoints[e - m->svc_off[s]];
		char addr[48], label[512];
		inet_ntop(ep->family, &ep->addr, addr, sizeof(addr));
		if (t->nusers > 1)
			snprintf(label, sizeof(label), "%s %s %s (+%" PRIu32 ")", svc->name,
			         conf->sites[ep->site].name, addr, t->nusers - 1);
		else
			snprintf(label, sizeof(label), "%s %s %s", svc->name, conf->sites[ep->site].name, addr);
		const gtm_check_t *c = &conf->checks[t->check];
		chk_params_t p = c->params;
		p.port = t->port;
		chk_target_spec_t spec = {
			.params = &p, .address = t->addr, .user_id = (uint32_t)i, .label = label,
			.initial = initial[i],
		};
		int idx = chk_target_add(m->engine, &spec);
		if (idx < 0) {
			gtm_diag_add(diag, conf->path, c->line, "check %s, cannot probe %s port %u (see the log)",
			             c->name, t->addr, t->port);
			rc = idx;
		}
		t->state = initial[i];
	}
	free(initial);
	if (rc != 0) {
		gtm_health_mon_free(m);
		return NULL;
	}
	if (prev) {
		chk_engine_reconcile(m->engine, prev->engine);
		/* The engine is the authority on what it carried. */
		for (size_t i = 0; i < m->ntargets; i++) {
			chk_status_t st;
			if (chk_status_get(m->engine, i, &st) == 0 && st.state != m->targets[i].state) {
				m->targets[i].state = st.state;
				if (st.changed_at_ms)
					m->targets[i].since_ms = st.changed_at_ms;
			}
		}
		carry_stats(m, prev);
	}
	m->tick = evtimer_new(base, on_tick, m);
	m->save_ev = evtimer_new(base, on_save, m);
	refresh(m, false);
	if (prev) {
		/* Sites keep their "since" across a reload; a site whose serving
		 * state differs (a changed quorum, a new endpoint) starts now.
		 * The same (service, site) is found through the reload's remap. */
		for (size_t i = 0; i < m->nsites; i++) {
			uint32_t os = map->service_old[m->sites[i].svc], ox = map->site_old[m->sites[i].site];
			if (os == GTM_REMAP_NONE || ox == GTM_REMAP_NONE)
				continue;
			for (size_t k = prev->svc_site_off[os]; k < prev->svc_site_off[os + 1]; k++) {
				const hm_site_t *ps = &prev->sites[k];
				if (ps->site == ox) {
					if (ps->serving == m->sites[i].serving)
						m->sites[i].since_ms = ps->since_ms;
					break;
				}
			}
		}
		m->state_dirty = conf->health.state_file != NULL;
	}
	return m;
}

void gtm_health_mon_quiet(gtm_health_mon_t *m, bool quiet)
{
	m->quiet = quiet;
}

int gtm_health_mon_start(gtm_health_mon_t *m)
{
	if (m->started)
		return GTM_EINVAL;
	m->started = true;
	if (m->state_dirty)
		arm(m->save_ev, GTM_HEALTH_SAVE_MS);
	return chk_engine_start(m->engine);
}

void gtm_health_mon_free(gtm_health_mon_t *m)
{
	if (m == NULL)
		return;
	chk_engine_free(m->engine);
	if (m->tick)
		event_free(m->tick);
	if (m->save_ev)
		event_free(m->save_ev);
	free(m->targets);
	free(m->svc_off);
	free(m->ep_target);
	free(m->ep_site);
	free(m->up);
	free(m->rows);
	free(m->sites);
	free(m->svc_site_off);
	free(m);
}

const gtm_health_t *gtm_health_mon_table(const gtm_health_mon_t *m)
{
	return &m->table;
}

void gtm_health_mon_set_vote(gtm_health_mon_t *m, gtm_health_vote_cb_t cb, void *arg)
{
	m->vote = cb;
	m->vote_arg = arg;
	gtm_health_mon_revote(m);
}

void gtm_health_mon_revote(gtm_health_mon_t *m)
{
	arm(m->tick, GTM_HEALTH_TICK_MS);
}

size_t gtm_health_mon_ntargets(const gtm_health_mon_t *m)
{
	return m->ntargets;
}

const char *gtm_health_mon_target_key(const gtm_health_mon_t *m, size_t i)
{
	return m->targets[i].vkey;
}

chk_state_t gtm_health_mon_target_state(const gtm_health_mon_t *m, size_t i)
{
	return m->targets[i].state;
}

size_t gtm_health_mon_unknown(const gtm_health_mon_t *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->ntargets; i++)
		n += m->targets[i].state == CHK_STATE_UNKNOWN;
	return n;
}

/* ---- status -------------------------------------------------------------- */

void gtm_health_mon_list(const gtm_health_mon_t *m, gtm_health_list_t *out)
{
	const gtm_conf_t *c = m->conf;
	out->nendpoints = m->nep;
	out->endpoints = gtm_xcalloc(m->nep ? m->nep : 1, sizeof(*out->endpoints));
	for (size_t s = 0; s < c->nservices; s++)
		for (size_t j = 0; j < c->services[s].nendpoints; j++) {
			size_t e = m->svc_off[s] + j;
			const gtm_endpoint_t *ep = &c->services[s].endpoints[j];
			gtm_endpoint_health_t *o = &out->endpoints[e];
			o->service = (uint32_t)s;
			o->endpoint = (uint32_t)j;
			o->site = ep->site;
			o->up = m->up[e];
			uint32_t t = m->ep_target[e];
			if (t == NO_TARGET)
				continue;
			const hm_target_t *tg = &m->targets[t];
			chk_status_t st;
			memset(&st, 0, sizeof(st));
			chk_status_get(m->engine, t, &st);
			o->checked = true;
			o->check = c->checks[ep->check].name;
			o->probe_addr = tg->addr;
			o->probe_port = tg->port;
			o->target = t;
			o->state = tg->state;
			o->voted = tg->eff;
			o->vote_key = tg->vkey;
			o->since_ms = st.changed_at_ms ? st.changed_at_ms : tg->since_ms;
			/* A change made by the observers' vote: its own time. */
			if (m->vote && tg->eff_since_ms > o->since_ms)
				o->since_ms = tg->eff_since_ms;
			o->reason = st.reason;
			o->change_reason = st.change_reason;
			o->latency_ms = st.latency_ms;
			o->detect_ms = st.changed_at_ms ? st.detect_ms : 0;
			o->probes = st.total_probes;
			o->failures = st.total_failures;
		}
	out->nsites = m->nsites;
	out->sites = gtm_xcalloc(m->nsites ? m->nsites : 1, sizeof(*out->sites));
	for (size_t i = 0; i < m->nsites; i++) {
		const hm_site_t *s = &m->sites[i];
		const gtm_service_t *svc = &c->services[s->svc];
		out->sites[i] = (gtm_site_health_t){
			.service = s->svc, .site = s->site, .serving = s->serving, .up = s->up,
			.total = s->total, .quorum = svc->quorum ? svc->quorum : 1, .since_ms = s->since_ms,
		};
	}
}

void gtm_health_list_clear(gtm_health_list_t *l)
{
	free(l->endpoints);
	free(l->sites);
	memset(l, 0, sizeof(*l));
}

void gtm_health_mon_stats(const gtm_health_mon_t *m, gtm_health_stats_t *out)
{
	chk_engine_stats_t es;
	chk_engine_stats_get(m->engine, &es);
	const gtm_health_stats_t *b = &m->base_stats, *s = &m->stats;
	*out = (gtm_health_stats_t){
		.targets = m->ntargets,
		.endpoints = m->nep,
		.probes_started = b->probes_started + es.probes_started,
		.probes_done = b->probes_done + es.probes_done,
		.probes_failed = b->probes_failed + es.probes_failed,
		.running = es.running,
		.target_changes = b->target_changes + s->target_changes,
		.site_changes = b->site_changes + s->site_changes,
		.publishes = b->publishes + s->publishes,
		.state_writes = b->state_writes + s->state_writes,
		.state_write_errors = b->state_write_errors + s->state_write_errors,
	};
	for (size_t e = 0; e < m->nep; e++)
		out->checked += m->ep_target[e] != NO_TARGET;
	for (size_t i = 0; i < m->ntargets; i++) {
		chk_state_t st = m->targets[i].state;
		out->up += st == CHK_STATE_UP;
		out->down += st == CHK_STATE_DOWN;
		out->unknown += st == CHK_STATE_UNKNOWN;
	}
}
