/*
 * gtmd: the gtm daemon.
 *
 * The main thread is the control thread: it loads the configuration, builds
 * and publishes snapshots, and runs its own libevent base for signals, the
 * GeoIP file poll (and, in later issues, probes, the control socket and
 * metrics).  The DNS worker threads (dns/server.c) only read the published
 * snapshot.
 *
 * What changes a snapshot here:
 *   SIGHUP           re-reads the configuration, every zone file and the
 *                    GeoIP database; all or nothing.
 *   a health flip    the probes (gtm/core/health.c) change an endpoint's state:
 *                    at most one rebuild per GTM_HEALTH_TICK_MS, however
 *                    many endpoints flip;
 *   the GeoIP file   replaced or rewritten on disk: polled every
 *                    GTMD_GEO_POLL_MS with geo_db_changed() (a stat() per
 *                    file; inotify would miss a file renamed over by a
 *                    directory it does not watch, and a poll needs no
 *                    bookkeeping); the database alone is reopened, checked
 *                    and published with the same zones and plan inputs.
 *
 * Start-up order: configuration, listening sockets (bound, not yet
 * served), probes; with health.unknown = "wait" the control loop then runs
 * until every probe target has a verdict or health.unknown_wait passes
 * (queries wait in the socket buffers meanwhile), and only then is the
 * first snapshot published and are the DNS workers started.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "common/version.h"
#include "dns/server.h"
#include "dns/snapshot.h"
#include "gtm/core/build.h"
#include "gtm/core/gen.h"
#include "gtm/conf/conf.h"
#include "gtm/ctl/control.h"
#include "gtm/daemon/daemon.h"
#include "gtm/core/health.h"
#include "gtm/metrics/metrics.h"
#include "gtm/core/siteans.h"
#include "gtm/daemon/stats.h"

/* How often the control thread looks at the GeoIP database files. */
#define GTMD_GEO_POLL_MS 5000

#ifndef GTM_DEFAULT_CONF
#define GTM_DEFAULT_CONF "/etc/gtm/gtm.conf"
#endif

typedef struct gtmd {
	const char *conf_path;
	gtm_listen_t *listen_override;  /* -l, repeatable */
	size_t nlisten_override;
	/* The running generation (gtm/core/gen.h): configuration, build
	 * (zones, GeoIP database, map) and probes; replaced only by a reload. */
	gtm_gen_owner_t *gens;
	dns_server_t *server;
	struct event_base *base;
	struct event *geo_poll;         /* GeoIP file poll (persistent timer) */
	bool waiting;                   /* health.unknown = "wait": before the first round */
	bool stopping;                  /* SIGTERM/SIGINT received */
	/* Metrics (gtm/daemon/stats.h): the module, recreated at a reload that
	 * changes the metrics group, and what it reads (pointers to the
	 * fields above, plus the reload counters). */
	gtm_metrics_t *metrics;
	gtm_stats_src_t stats;
	/* The control plane (gtm/ctl/control.h): admin state, controller, control
	 * socket; admin is its state, for stats.admin. */
	gtm_control_t *control;
	gtm_admin_t *admin;
	/* Answers per site name (gtm/core/siteans.h): numbers the sites of every
	 * configuration served, for metrics and gtmctl status. */
	gtm_siteans_t *siteans;
} gtmd_t;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: gtmd [-c FILE] [-l ADDR:PORT]... [-d]\n"
	        "       gtmd -t [--strict] [-c FILE]\n"
	        "       gtmd -V\n"
	        "\n"
	        "  -c, --config FILE   configuration file (default %s)\n"
	        "  -t, --check         check the configuration and its zone files, then exit\n"
	        "      --strict        with -t: treat warnings as errors (exit 1)\n"
	        "  -l, --listen ADDR   listen on ADDR (\"127.0.0.1:5353\", \"[::1]:5353\") instead of\n"
	        "                      server.listen; repeatable\n"
	        "  -d, --debug         log debug messages\n"
	        "  -V, --version       print the version and exit\n"
	        "  -h, --help          print this help and exit\n"
	        "\n"
	        "Signals: SIGHUP reloads the configuration, zones and GeoIP database;\n"
	        "SIGUSR1 logs the health-check counters; SIGTERM and SIGINT stop.\n"
	        "A replaced GeoIP database file is picked up\n"
	        "within %d seconds.\n",
	        GTM_DEFAULT_CONF, GTMD_GEO_POLL_MS / 1000);
}

static void print_diag(const gtm_diag_t *d)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(stderr, "%s\n", d->msgs[i]);
}

/* Errors at error level, the configuration's warnings at warning level. */
static void log_diag(const gtm_diag_t *d)
{
	for (size_t i = 0; i < d->count; i++) {
		if (d->warn && d->warn[i])
			log_warn("%s", d->msgs[i]);
		else
			log_err("%s", d->msgs[i]);
	}
}

/* gtmd -t: every error and warning on stderr, in file order.  Warnings
 * alone pass (exit 0) unless `strict`. */
static int check_only(const char *path, bool strict)
{
	gtm_diag_t diag = { 0 };
	gtm_gen_t *gen = gtm_gen_load(path, &diag);
	print_diag(&diag);
	size_t nwarn = diag.nwarn;
	gtm_diag_clear(&diag);
	if (gen == NULL)
		return 1;
	/* The plan itself cannot fail; what it would warn about (a service
	 * that fails open) is logged when gtmd starts. */
	gtm_gen_free(gen);
	if (strict && nwarn > 0) {
		fprintf(stderr, "%s: %zu warning%s, refused (--strict)\n", path, nwarn, nwarn == 1 ? "" : "s");
		return 1;
	}
	printf("%s: configuration ok\n", path);
	return 0;
}

static gtm_gen_t *gen(const gtmd_t *g)
{
	return gtm_gen_owner_current(g->gens);
}

/* A new snapshot, published: the one path, through the control plane
 * (its controller turns health and admin state into the plan).  Nothing is
 * served before the control plane exists, so there is nothing to publish. */
static void publish(gtmd_t *g)
{
	if (g->control == NULL)
		return;
	gtm_control_publish(g->control);
	if (!g->waiting)
		gtm_stats_notify(&g->stats, "");
}

/* gtm_gen_hooks_t.publish: the end of a reload. */
static void gen_publish(void *arg)
{
	publish(arg);
}

/* The health monitor's coalesced tick: endpoints changed. */
static void on_health(void *arg)
{
	gtmd_t *g = arg;
	if (g->waiting) {
		/* Nothing is served yet: build nothing (a half-probed fleet would
		 * only log a spurious fail open); stop waiting once all is known. */
		if (gtm_health_mon_unknown(gen(g)->health) == 0)
			event_base_loopbreak(g->base);
		return;
	}
	publish(g);
}

static void log_health_stats(const gtmd_t *g)
{
	gtm_health_stats_t hs;
	gtm_build_stats_t bs;
	if (g->gens == NULL || gen(g)->health == NULL)
		return;
	gtm_health_mon_stats(gen(g)->health, &hs);
	gtm_build_stats(gen(g)->build, &bs);
	log_info("health, stats (%zu targets for %zu of %zu endpoints: %zu up, %zu down, %zu unknown; "
	         "probes %llu started, %llu done, %llu failed, %u running; %llu target changes, "
	         "%llu site changes, %llu publishes; fail open %u services now, %llu times in all; "
	         "state file %llu writes, %llu errors)",
	         hs.targets, hs.checked, hs.endpoints, hs.up, hs.down, hs.unknown,
	         (unsigned long long)hs.probes_started, (unsigned long long)hs.probes_done,
	         (unsigned long long)hs.probes_failed, hs.running,
	         (unsigned long long)hs.target_changes, (unsigned long long)hs.site_changes,
	         (unsigned long long)hs.publishes, bs.failopen_now,
	         (unsigned long long)bs.failopen_entered, (unsigned long long)hs.state_writes,
	         (unsigned long long)hs.state_write_errors);
}

/* SIGHUP and gtmctl reload: the generation owner does it all.  Returns 0
 * (with the restart-only keys that changed in `notes`), or GTM_EINVAL with
 * the problems in `out`; either may be NULL. */
static int reload(gtmd_t *g, gtm_diag_t *out, gtm_diag_t *notes)
{
	int rc = gtm_gen_owner_reload(g->gens, out, notes);
	if (rc != 0)
		return rc;
	const gtm_gen_t *cur = gen(g);
	const dns_snapshot_t *snap = dns_snapshot_current();
	gtm_gen_stats_t st;
	gtm_gen_owner_stats(g->gens, &st);
	char geo[256];
	gtm_build_describe_geo(cur->build, geo, sizeof(geo));
	log_info("reload, done (generation %llu, snapshot %llu, %zu zones, %zu services, %zu checks, "
	         "geo %s, %u ms)",
	         (unsigned long long)cur->number, snap ? (unsigned long long)snap->generation : 0ULL,
	         cur->conf->nzones, cur->conf->nservices, cur->conf->nchecks, geo, st.last_reload_ms);
	return 0;
}

/* The members of every generation, rebound in this order by a reload. */

/* Answer counters follow site names: numbered while the old snapshot
 * still serves, before the new plan is compiled (gtm/core/siteans.h). */
static void rebind_answers(void *arg, gtm_gen_t *next, const gtm_remap_t *map)
{
	gtmd_t *g = arg;
	(void)map;
	gtm_siteans_bind(g->siteans, next->conf);
}

/* The listeners' live settings (server.tcp_idle_timeout, tcp_max_clients,
 * udp_rcvbuf); listen and workers are restart-only. */
static void rebind_server(void *arg, gtm_gen_t *next, const gtm_remap_t *map)
{
	gtmd_t *g = arg;
	(void)map;
	const gtm_conf_t *c = next->conf;
	dns_server_conf_t sc = { .tcp_idle_timeout_ms = c->tcp_idle_timeout_ms,
	                         .tcp_max_clients = c->tcp_max_clients,
	                         .udp_rcvbuf = c->udp_rcvbuf };
	dns_server_tune(g->server, &sc);
}

/* Metrics: a new module when the metrics group changed. */
static void rebind_metrics(void *arg, gtm_gen_t *next, const gtm_remap_t *map)
{
	gtmd_t *g = arg;
	gtm_stats_metrics_reload(&g->metrics, g->base, &map->old->metrics, &next->conf->metrics,
	                         &g->stats);
}

/* gtm_control_hooks_t: gtmctl reload and stats. */
static int ctl_reload(void *arg, gtm_diag_t *diag, gtm_diag_t *notes)
{
	gtmd_t *g = arg;
	gtm_daemon_notify_reloading();
	int rc = reload(g, diag, notes);
	gtm_stats_notify(&g->stats, "READY=1\n");
	return rc;
}

static json_t *ctl_stats(void *arg)
{
	gtmd_t *g = arg;
	return gtm_stats_snapshot(g->metrics);
}

/* The GeoIP poll: a database file replaced or rewritten is reopened and,
 * when it checks out, served; a bad one is reported once and the running
 * database stays. */
static void on_geo_poll(evutil_socket_t fd, short what, void *arg)
{
	gtmd_t *g = arg;
	(void)fd;
	(void)what;
	gtm_build_t *build = gen(g)->build;
	if (g->waiting || !gtm_build_geo_changed(build))
		return;
	char old[256], now[256];
	gtm_build_describe_geo(build, old, sizeof(old));
	gtm_diag_t diag = { 0 };
	if (gtm_build_reopen_geo(build, &diag) != 0) {
		log_diag(&diag);
		gtm_diag_clear(&diag);
		log_err("geo, database %s changed on disk but was refused, still serving %s",
		        gen(g)->conf->geo.db, old);
		return;
	}
	publish(g);
	const dns_snapshot_t *snap = dns_snapshot_current();
	gtm_build_describe_geo(build, now, sizeof(now));
	log_info("geo, database reloaded (%s -> %s, generation %llu)", old, now,
	         snap ? (unsigned long long)snap->generation : 0ULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	gtmd_t *g = arg;
	(void)what;
	if (sig == SIGHUP) {
		gtm_daemon_notify_reloading();
		reload(g, NULL, NULL);
		gtm_stats_notify(&g->stats, "READY=1\n");
		return;
	}
	if (sig == SIGUSR1) {
		log_health_stats(g);
		return;
	}
	log_info("shutdown, signal %d received", (int)sig);
	gtm_daemon_notify("STOPPING=1");
	g->stopping = true;
	event_base_loopbreak(g->base);
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	gtmd_t *g = arg;
	(void)fd;
	(void)what;
	event_base_loopbreak(g->base);
}

/* health.unknown = "wait": runs the control loop (probes, signals) until
 * every target has a verdict or unknown_wait passes.  The sockets are
 * bound; queries queue in them meanwhile. */
static void wait_first_round(gtmd_t *g)
{
	gtm_health_mon_t *health = gen(g)->health;
	size_t unknown = gtm_health_mon_unknown(health);
	if (gen(g)->conf->health.unknown != GTM_UNKNOWN_WAIT || unknown == 0)
		return;
	uint32_t ms = gen(g)->conf->health.unknown_wait_ms;
	log_info("health, waiting for a first verdict on %zu targets (at most %u ms) before answering",
	         unknown, ms);
	struct event *timer = evtimer_new(g->base, on_wait_timeout, g);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(timer, &tv);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	g->waiting = true;
	gtm_health_mon_quiet(health, true);
	event_base_dispatch(g->base);
	gtm_health_mon_quiet(health, false);
	g->waiting = false;
	event_free(timer);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long waited = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	unknown = gtm_health_mon_unknown(health);
	if (unknown == 0)
		log_info("health, first round complete after %ld ms", waited);
	else
		log_warn("health, %zu targets still without a verdict after %ld ms; answering without them until they have one",
		         unknown, waited);
}

static int serve(gtmd_t *g)
{
	gtm_diag_t diag = { 0 };
	int rc = 1;
	struct event *sigs[4] = { NULL };

	/* The event base first: the generation's probes will run on it. */
	g->base = event_base_new();
	gtm_gen_hooks_t gh = { .on_health = on_health, .publish = gen_publish, .arg = g };
	g->gens = gtm_gen_owner_new(g->conf_path, g->base, &gh, &diag);
	if (g->gens == NULL) {
		log_diag(&diag);
		log_err("startup, %s refused", g->conf_path);
		goto finish;
	}
	/* Warnings only: the configuration serves. */
	log_diag(&diag);
	gtm_diag_clear(&diag);
	gtm_gen_owner_listen_fixed(g->gens, g->nlisten_override > 0);
	const gtm_conf_t *conf = gen(g)->conf;
	/* server.user: looked up before binding, so that a wrong name stops
	 * gtmd before it listens (only a root gtmd drops; see after binding). */
	gtm_daemon_user_t user = { 0 };
	char uerr[256] = "";
	if (conf->user != NULL && geteuid() == 0 &&
	    gtm_daemon_user_lookup(conf->user, &user, uerr, sizeof(uerr)) != 0) {
		log_err("startup, server.user: %s", uerr);
		goto finish;
	}

	dns_server_conf_t sc = {
		.workers = conf->workers,
		.tcp_idle_timeout_ms = conf->tcp_idle_timeout_ms,
		.tcp_max_clients = conf->tcp_max_clients,
		.udp_rcvbuf = conf->udp_rcvbuf,
	};
	const gtm_listen_t *ls = g->nlisten_override ? g->listen_override : conf->listen;
	sc.nlisten = g->nlisten_override ? g->nlisten_override : conf->nlisten;
	dns_addr_t *addrs = gtm_xcalloc(sc.nlisten, sizeof(*addrs));
	for (size_t i = 0; i < sc.nlisten; i++) {
		addrs[i].ss = ls[i].addr;
		addrs[i].len = ls[i].len;
	}
	sc.listen = addrs;
	g->server = dns_server_new(&sc, &diag);
	free(addrs);
	if (g->server == NULL) {
		log_diag(&diag);
		log_err("startup, cannot open the listening sockets");
		goto finish;
	}

	const int signums[4] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
	for (int i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(g->base, signums[i], on_signal, g);
		evsignal_add(sigs[i], NULL);
	}
	/* Probes write to sockets that may be reset (SIGPIPE), and exec probes
	 * need SIGCHLD left at its default. */
	signal(SIGPIPE, SIG_IGN);

	/* Polled even without a database: a reload may configure one. */
	g->geo_poll = event_new(g->base, -1, EV_PERSIST, on_geo_poll, g);
	struct timeval poll_tv = { GTMD_GEO_POLL_MS / 1000, (GTMD_GEO_POLL_MS % 1000) * 1000 };
	event_add(g->geo_poll, &poll_tv);

	/* Answers per site, numbered before the first plan is compiled. */
	g->siteans = gtm_siteans_new(g->base, gtm_siteans_read_server, &g->server,
	                             gtm_siteans_now());
	gtm_siteans_bind(g->siteans, gen(g)->conf);

	/* Metrics, with or without a metrics group (gtmctl stats reads them). */
	g->stats = (gtm_stats_src_t){ .gens = &g->gens, .server = &g->server, .control = &g->control,
	                              .answers = &g->siteans };
	g->metrics = gtm_stats_metrics_new(g->base, &conf->metrics, &g->stats);
	if (g->metrics == NULL) {
		log_err("startup, cannot start the metrics");
		goto stop;
	}

	/* Every socket is bound: a root gtmd becomes server.user now, before
	 * it probes, reads state or answers anything. */
	if (conf->user != NULL) {
		int drc = geteuid() == 0 ? gtm_daemon_drop(&user, uerr, sizeof(uerr)) : GTM_DAEMON_NOT_ROOT;
		if (drc < 0) {
			log_err("startup, cannot drop privileges to %s: %s", conf->user, uerr);
			goto stop;
		}
		if (drc == GTM_DAEMON_DROPPED)
			log_info("startup, running as %s (uid %u, gid %u)", user.name, (unsigned)user.uid,
			         (unsigned)user.gid);
	} else if (geteuid() == 0 && !gtm_daemon_notify_enabled()) {
		log_warn("startup, running as root (set server.user to drop privileges after binding)");
	}

	if (gtm_gen_owner_start_health(g->gens, &diag) != 0) {
		log_diag(&diag);
		log_err("startup, cannot set up the health checks");
		goto stop;
	}

	wait_first_round(g);
	if (g->stopping) {
		rc = 0;
		goto stop;
	}
	/* The control plane: admin state, controller and control socket. */
	gtm_control_hooks_t hooks = { .reload = ctl_reload, .stats = ctl_stats, .arg = g };
	const gtm_gen_t *first = gen(g);
	g->control = gtm_control_new(g->base, first->conf, first->build, first->health, &hooks, &diag);
	if (g->control == NULL) {
		log_diag(&diag);
		log_err("startup, cannot set up the control socket");
		goto stop;
	}
	g->admin = gtm_control_admin(g->control);
	g->stats.admin = &g->admin;
	gtm_control_set_siteans(g->control, g->siteans);
	/* Every later generation reaches these, in this order (gtm/core/gen.h). */
	const gtm_gen_member_t members[] = {
		{ "answers", rebind_answers, g },
		{ "server", rebind_server, g },
		{ "metrics", rebind_metrics, g },
		{ "control", gtm_control_gen_rebind, g->control },
	};
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		gtm_gen_owner_join(g->gens, &members[i]);
	publish(g);
	if (dns_server_start(g->server) < 0)
		goto stop;
	char geo[256];
	gtm_build_describe_geo(first->build, geo, sizeof(geo));
	log_info("startup, serving %zu zones and %zu services on %zu addresses with %u workers (geo %s, gtmd %s)",
	         first->conf->nzones, first->conf->nservices, sc.nlisten, sc.workers, geo, GTM_VERSION);
	gtm_stats_notify(&g->stats, "READY=1\n");
	event_base_dispatch(g->base);
	rc = 0;
stop:
	dns_server_stop(g->server);
	/* The last known state, so that a restart gives no wrong answer. */
	if (gen(g)->health)
		gtm_health_mon_save(gen(g)->health, true);
	log_health_stats(g);
	/* The last figures out, while what they read is still there. */
	gtm_stats_metrics_stop(g->metrics, 2000);
	g->metrics = NULL;
	gtm_control_free(g->control);
	g->control = NULL;
	g->admin = NULL;
	gtm_siteans_free(g->siteans);
	g->siteans = NULL;
	event_free(g->geo_poll);
	dns_server_free(g->server);
	dns_snapshot_retire();
	if (rc == 0)
		log_info("shutdown, done");
finish:
	/* The generation's probes run on the base: freed before it. */
	gtm_gen_owner_free(g->gens);
	g->gens = NULL;
	for (int i = 0; i < 4; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (g->base)
		event_base_free(g->base);
	gtm_diag_clear(&diag);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "strict", no_argument, NULL, 'S' },
		{ "listen", required_argument, NULL, 'l' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	gtmd_t g = { .conf_path = GTM_DEFAULT_CONF };
	int check = 0, strict = 0, c, rc;

	/* A fixed mmap threshold: blocks of 256 KiB and more (a plan's arena,
	 * a decision's arrays, the geo tree) get their own mapping and go back
	 * to the system when freed.  glibc's default threshold grows with the
	 * largest block freed (the geo translation's tens of MB), after which
	 * every plan of a publish lands on the heap and a reload's old plan,
	 * decision and configuration stay resident as free heap. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);

	while ((c = getopt_long(argc, argv, "c:tl:dVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g.conf_path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'S':
			strict = 1;
			break;
		case 'l':
			g.listen_override = gtm_xgrow(g.listen_override, g.nlisten_override,
			                              sizeof(*g.listen_override));
			if (gtm_listen_parse(optarg, 53, &g.listen_override[g.nlisten_override]) < 0) {
				fprintf(stderr, "gtmd: -l %s: not an address (ADDR:PORT, [ADDR6]:PORT)\n", optarg);
				return 2;
			}
			g.nlisten_override++;
			break;
		case 'd':
			gtm_log_set_level(GTM_LOG_DEBUG);
			break;
		case 'V':
			printf("gtmd %s\n", GTM_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gtmd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (strict && !check) {
		fprintf(stderr, "gtmd: --strict applies only to -t\n");
		usage(stderr);
		return 2;
	}
	rc = check ? check_only(g.conf_path, strict) : serve(&g);
	free(g.listen_override);
	return rc;
}
