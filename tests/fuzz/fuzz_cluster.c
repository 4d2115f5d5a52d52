/*
 * libFuzzer target for what a cluster node reads from etcd: anything that
 * can be written under the cluster's prefix (by another node, by an
 * operator with etcdctl, by a broken tool) reaches gtm/cluster/cluster.c through
 * the watch.  Each input is handed over three ways:
 *
 *   - as a whole watch message (the "result" of a WatchResponse), when it
 *     is a JSON object;
 *   - as the value of <prefix>admin (the shared admin state);
 *   - as the value of <prefix>observers/fuzz (another node's verdicts) and
 *     of <prefix>history/... (a history record).
 *
 * Invariants: no crash, no leak, no undefined behaviour, and the admin
 * state stays one the node can describe (gtm_admin_to_json) and view.
 *
 * The configuration is read once from tests/fuzz/cluster.conf
 * (GTM_FUZZ_CLUSTER_CONF overrides); the node (admin state and cluster) is
 * made anew for every input, so that an input replays alone and memory is
 * balanced per input (libFuzzer's leak check).  etcd is at a port nobody
 * listens on and the event loop never runs: nothing is sent anywhere.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/diag.h"
#include "common/log.h"
#include "gtm/core/admin.h"
#include "gtm/cluster/cluster.h"
#include "gtm/conf/conf.h"
#include "gtm/cluster/etcd.h"

#ifndef GTM_FUZZ_CLUSTER_CONF_DEFAULT
#define GTM_FUZZ_CLUSTER_CONF_DEFAULT "tests/fuzz/cluster.conf"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static gtm_conf_t *conf;
static gtm_admin_t *admin;
static gtm_cluster_t *cl;
static int64_t rev = 1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	gtm_log_set_level(GTM_LOG_ERR - 1);   /* quiet: the log is not under test */
	const char *path = getenv("GTM_FUZZ_CLUSTER_CONF");
	gtm_diag_t d = { 0 };
	conf = gtm_conf_load(path ? path : GTM_FUZZ_CLUSTER_CONF_DEFAULT, &d);
	if (conf == NULL || !conf->cluster.enabled) {
		for (size_t i = 0; i < d.count; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		fprintf(stderr, "fuzz_cluster: no usable cluster configuration\n");
		abort();
	}
	gtm_diag_clear(&d);
	base = event_base_new();
	return 0;
}

/* One PUT event of `value` under `key`. */
static void put(const char *key, const uint8_t *data, size_t size)
{
	char r[32];
	snprintf(r, sizeof(r), "%lld", (long long)++rev);
	json_t *msg = json_pack("{s:[{s:{s:o,s:o,s:s}}]}", "events", "kv", "key",
	                        gtm_etcd_b64(key, strlen(key)), "value",
	                        gtm_etcd_b64((const char *)data, size), "mod_revision", r);
	gtm_cluster_watch_input(cl, msg);
	json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	admin = gtm_admin_new(conf, NULL, NULL);
	char err[256];
	cl = gtm_cluster_new(base, conf, admin, NULL, NULL, NULL, err, sizeof(err));
	if (cl == NULL) {
		fprintf(stderr, "fuzz_cluster: %s\n", err);
		abort();
	}
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size, 0, &jerr);
	if (json_is_object(j))
		gtm_cluster_watch_input(cl, j);
	json_decref(j);

	char key[256];
	snprintf(key, sizeof(key), "%sadmin", conf->cluster.prefix);
	put(key, data, size);
	snprintf(key, sizeof(key), "%sobservers/fuzz", conf->cluster.prefix);
	put(key, data, size);
	snprintf(key, sizeof(key), "%shistory/%020lld-fuzz", conf->cluster.prefix, (long long)rev);
	put(key, data, size);

	/* The state stays describable and viewable. */
	json_t *st = gtm_admin_to_json(admin, 1, true);
	if (!json_is_object(st))
		abort();
	json_decref(st);
	gtm_admin_view_t *v = gtm_admin_view_new(admin, 1);
	for (size_t i = 0; i < v->nsites; i++)
		if (!(v->factor[i] >= 0.0 && v->factor[i] <= 1.0))
			abort();
	gtm_admin_view_free(v);
	gtm_cluster_free(cl);
	gtm_admin_free(admin);
	return 0;
}
