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
 *   the GeoIP file   replaced or rewritten on disk: polled every
 *                    GTMD_GEO_POLL_MS with geo_db_changed() (a stat() per
 *                    file; inotify would miss a file renamed over by a
 *                    directory it does not watch, and a poll needs no
 *                    bookkeeping); the database alone is reopened, checked
 *                    and published with the same zones and plan inputs.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/version.h"
#include "dns/server.h"
#include "dns/snapshot.h"
#include "gtm/build.h"
#include "gtm/conf.h"

/* How often the control thread looks at the GeoIP database files. */
#define GTMD_GEO_POLL_MS 5000

#ifndef GTM_DEFAULT_CONF
#define GTM_DEFAULT_CONF "/etc/gtm/gtm.conf"
#endif

typedef struct gtmd {
	const char *conf_path;
	gtm_listen_t *listen_override;  /* -l, repeatable */
	size_t nlisten_override;
	gtm_conf_t *conf;               /* the configuration being served */
	gtm_build_t *build;             /* its zones, GeoIP database and map; borrows conf */
	dns_server_t *server;
	struct event_base *base;
	struct event *geo_poll;         /* GeoIP file poll (persistent timer) */
} gtmd_t;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: gtmd [-c FILE] [-l ADDR:PORT]... [-d]\n"
	        "       gtmd -t [-c FILE]\n"
	        "       gtmd -V\n"
	        "\n"
	        "  -c, --config FILE   configuration file (default %s)\n"
	        "  -t, --check         check the configuration and its zone files, then exit\n"
	        "  -l, --listen ADDR   listen on ADDR (\"127.0.0.1:5353\", \"[::1]:5353\") instead of\n"
	        "                      server.listen; repeatable\n"
	        "  -d, --debug         log debug messages\n"
	        "  -V, --version       print the version and exit\n"
	        "  -h, --help          print this help and exit\n"
	        "\n"
	        "Signals: SIGHUP reloads the configuration, zones and GeoIP database;\n"
	        "SIGTERM and SIGINT stop.  A replaced GeoIP database file is picked up\n"
	        "within %d seconds.\n",
	        GTM_DEFAULT_CONF, GTMD_GEO_POLL_MS / 1000);
}

static void print_diag(const gtm_diag_t *d)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(stderr, "%s\n", d->msgs[i]);
}

static void log_diag(const gtm_diag_t *d)
{
	for (size_t i = 0; i < d->count; i++)
		log_err("%s", d->msgs[i]);
}

/* Loads the configuration and what it names (zones, GeoIP database);
 * NULL with `diag` filled. */
static gtm_conf_t *load(const char *path, gtm_build_t **build, gtm_diag_t *diag)
{
	gtm_conf_t *conf = gtm_conf_load(path, diag);
	if (conf == NULL)
		return NULL;
	*build = gtm_build_new(conf, diag);
	if (*build == NULL) {
		gtm_conf_free(conf);
		return NULL;
	}
	return conf;
}

static int check_only(const char *path)
{
	gtm_diag_t diag = { 0 };
	gtm_build_t *build = NULL;
	gtm_conf_t *conf = load(path, &build, &diag);
	if (conf == NULL) {
		print_diag(&diag);
		gtm_diag_clear(&diag);
		return 1;
	}
	/* The plan itself cannot fail; what it would warn about (a service
	 * that fails open) is logged when gtmd starts. */
	gtm_build_free(build);
	gtm_conf_free(conf);
	printf("%s: configuration ok\n", path);
	return 0;
}

static int same_listen(const gtm_conf_t *a, const gtm_conf_t *b)
{
	if (a->nlisten != b->nlisten)
		return 0;
	for (size_t i = 0; i < a->nlisten; i++)
		if (a->listen[i].len != b->listen[i].len ||
		    memcmp(&a->listen[i].addr, &b->listen[i].addr, a->listen[i].len) != 0)
			return 0;
	return 1;
}

static void reload(gtmd_t *g)
{
	gtm_diag_t diag = { 0 };
	gtm_build_t *build = NULL;
	log_info("reload, reading %s", g->conf_path);
	gtm_conf_t *conf = load(g->conf_path, &build, &diag);
	if (conf == NULL) {
		log_diag(&diag);
		gtm_diag_clear(&diag);
		log_err("reload, failed: %s refused, still serving the previous configuration",
		        g->conf_path);
		return;
	}
	/* Sockets and threads are made once; say so rather than half-apply. */
	if (g->nlisten_override == 0 && !same_listen(conf, g->conf))
		log_warn("reload, server.listen changed (restart gtmd to apply)");
	if (conf->workers != g->conf->workers)
		log_warn("reload, server.workers changed (restart gtmd to apply)");
	dns_snapshot_t *snap = gtm_build_snapshot(build, NULL);
	dns_snapshot_publish(snap);
	char geo[256];
	gtm_build_describe_geo(build, geo, sizeof(geo));
	log_info("reload, done (generation %llu, %zu zones, %zu services, geo %s)",
	         (unsigned long long)snap->generation, conf->nzones, conf->nservices, geo);
	/* The old snapshot went with the publish; the build's references and
	 * then the configuration it borrows go now. */
	gtm_build_free(g->build);
	gtm_conf_free(g->conf);
	g->build = build;
	g->conf = conf;
}

/* The GeoIP poll: a database file replaced or rewritten is reopened and,
 * when it checks out, served; a bad one is reported once and the running
 * database stays. */
static void on_geo_poll(evutil_socket_t fd, short what, void *arg)
{
	gtmd_t *g = arg;
	(void)fd;
	(void)what;
	if (!gtm_build_geo_changed(g->build))
		return;
	char old[256], now[256];
	gtm_build_describe_geo(g->build, old, sizeof(old));
	gtm_diag_t diag = { 0 };
	if (gtm_build_reopen_geo(g->build, &diag) != 0) {
		log_diag(&diag);
		gtm_diag_clear(&diag);
		log_err("geo, database %s changed on disk but was refused, still serving %s",
		        g->conf->geo.db, old);
		return;
	}
	dns_snapshot_t *snap = gtm_build_snapshot(g->build, NULL);
	dns_snapshot_publish(snap);
	gtm_build_describe_geo(g->build, now, sizeof(now));
	log_info("geo, database reloaded (%s -> %s, generation %llu)", old, now,
	         (unsigned long long)snap->generation);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	gtmd_t *g = arg;
	(void)what;
	if (sig == SIGHUP) {
		reload(g);
		return;
	}
	log_info("shutdown, signal %d received", (int)sig);
	event_base_loopbreak(g->base);
}

static int serve(gtmd_t *g)
{
	gtm_diag_t diag = { 0 };
	int rc = 1;

	g->conf = load(g->conf_path, &g->build, &diag);
	if (g->conf == NULL) {
		log_diag(&diag);
		log_err("startup, %s refused", g->conf_path);
		goto finish;
	}

	dns_server_conf_t sc = {
		.workers = g->conf->workers,
		.tcp_idle_timeout_ms = g->conf->tcp_idle_timeout_ms,
		.tcp_max_clients = g->conf->tcp_max_clients,
		.udp_rcvbuf = g->conf->udp_rcvbuf,
	};
	const gtm_listen_t *ls = g->nlisten_override ? g->listen_override : g->conf->listen;
	sc.nlisten = g->nlisten_override ? g->nlisten_override : g->conf->nlisten;
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

	dns_snapshot_publish(gtm_build_snapshot(g->build, NULL));
	g->base = event_base_new();
	struct event *sigs[3];
	const int signums[3] = { SIGHUP, SIGTERM, SIGINT };
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(g->base, signums[i], on_signal, g);
		evsignal_add(sigs[i], NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	/* Polled even without a database: a reload may configure one. */
	g->geo_poll = event_new(g->base, -1, EV_PERSIST, on_geo_poll, g);
	struct timeval poll_tv = { GTMD_GEO_POLL_MS / 1000, (GTMD_GEO_POLL_MS % 1000) * 1000 };
	event_add(g->geo_poll, &poll_tv);

	if (dns_server_start(g->server) < 0)
		goto stop;
	char geo[256];
	gtm_build_describe_geo(g->build, geo, sizeof(geo));
	log_info("startup, serving %zu zones and %zu services on %zu addresses with %u workers (geo %s, gtmd %s)",
	         g->conf->nzones, g->conf->nservices, sc.nlisten, sc.workers, geo, GTM_VERSION);
	event_base_dispatch(g->base);
	rc = 0;
stop:
	dns_server_stop(g->server);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(g->geo_poll);
	event_base_free(g->base);
	dns_server_free(g->server);
	dns_snapshot_retire();
	if (rc == 0)
		log_info("shutdown, done");
finish:
	gtm_build_free(g->build);
	gtm_conf_free(g->conf);
	gtm_diag_clear(&diag);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "listen", required_argument, NULL, 'l' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	gtmd_t g = { .conf_path = GTM_DEFAULT_CONF };
	int check = 0, c, rc;

	while ((c = getopt_long(argc, argv, "c:tl:dVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g.conf_path = optarg;
			break;
		case 't':
			check = 1;
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
	rc = check ? check_only(g.conf_path) : serve(&g);
	free(g.listen_override);
	return rc;
}
