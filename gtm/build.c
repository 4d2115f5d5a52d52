/*
 * From a checked configuration to a snapshot the DNS workers can serve:
 * zones from their files, service names marked in the zone tree, and the
 * answer plan compiled to wire fragments.  Control thread, at start and at
 * every reload; a reload that fails here leaves the running snapshot alone.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "dns/plan.h"
#include "dns/zone.h"
#include "gtm/build.h"

void gtm_build_opts(const gtm_conf_t *conf, dns_opts_t *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->udp_max = conf->edns_udp_size;
	if (conf->nsid == NULL)
		return;
	if (strcmp(conf->nsid, "hostname") == 0) {
		/* Resolved at every build, so that a reload picks up a new host
		 * name.  gethostname() may leave the name unterminated when it
		 * is truncated; the buffer is one byte longer than the cap. */
		char host[DNS_NSID_MAX + 1] = { 0 };
		if (gethostname(host, DNS_NSID_MAX) != 0) {
			log_warn("server, nsid hostname unavailable, NSID off");
			return;
		}
		size_t n = strnlen(host, DNS_NSID_MAX);
		memcpy(opts->nsid, host, n);
		opts->nsid_len = (uint8_t)n;
		return;
	}
	size_t n = strlen(conf->nsid);
	if (n > DNS_NSID_MAX)   /* the loader refuses it; stay safe */
		n = DNS_NSID_MAX;
	memcpy(opts->nsid, conf->nsid, n);
	opts->nsid_len = (uint8_t)n;
}

/* Every endpoint of each service in config order, split by family. */
static dns_plan_t *build_plan(const gtm_conf_t *conf)
{
	dns_plan_t *plan = dns_plan_new((uint32_t)conf->nservices);
	for (size_t i = 0; i < conf->nservices; i++) {
		const gtm_service_t *svc = &conf->services[i];
		struct in_addr *a = gtm_xcalloc(svc->nendpoints, sizeof(*a));
		struct in6_addr *aaaa = gtm_xcalloc(svc->nendpoints, sizeof(*aaaa));
		size_t na = 0, naaaa = 0;
		for (size_t j = 0; j < svc->nendpoints; j++) {
			const gtm_endpoint_t *ep = &svc->endpoints[j];
			if (ep->family == AF_INET)
				a[na++] = ep->addr.v4;
			else
				aaaa[naaaa++] = ep->addr.v6;
		}
		dns_plan_set_addrs(plan, (uint32_t)i, svc->ttl, a, na, aaaa, naaaa);
		free(a);
		free(aaaa);
	}
	return plan;
}

dns_snapshot_t *gtm_build_snapshot(const gtm_conf_t *conf, gtm_diag_t *diag)
{
	dns_snapshot_t *snap = NULL;
	dns_zoneset_t *zs = dns_zoneset_new();
	size_t errors = diag->count;
	int rc = 0;

	for (size_t i = 0; i < conf->nzones; i++) {
		int r = dns_zoneset_add_zone(zs, conf->zones[i].name, conf->zones[i].file, diag);
		if (r != 0)
			rc = r;
	}
	/* A zone that did not load would make every service in it look like
	 * "outside every zone": report the zone problems alone. */
	if (rc != 0 || diag->count > errors)
		goto finish;

	for (size_t i = 0; i < conf->nservices; i++) {
		int r = dns_zoneset_add_service(zs, conf->services[i].name, (uint32_t)i,
		                                conf->path, conf->services[i].line, diag);
		if (r != 0)
			rc = r;
	}
	if (rc != 0 || diag->count > errors)
		goto finish;

	rc = dns_zoneset_freeze(zs, diag);
	if (rc != 0 || diag->count > errors)
		goto finish;

	dns_opts_t opts;
	gtm_build_opts(conf, &opts);
	snap = dns_snapshot_new(zs, build_plan(conf), &opts);
finish:
	/* Every failure must say why; the dns module always does, but a
	 * silent refusal would be the worst message of all. */
	if (snap == NULL && diag->count == errors)
		gtm_diag_add(diag, conf->path, 0, "cannot build the zones (%s)",
		             gtm_strerror(rc ? rc : GTM_EINVAL));
	dns_zoneset_unref(zs);
	return snap;
}
