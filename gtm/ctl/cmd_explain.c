/*
 * The explain command: why a client (an address, or a subnet sent as ECS)
 * gets its answer for a service, the candidates the controller weighed,
 * and the answer itself from the served snapshot's real answer path.
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
#include "gtm/cluster/cluster.h"
#include "gtm/ctl/ctl_proto.h"
#include "gtm/core/reach.h"
#include "gtm/ctl/cmd_int.h"
#include "dns/answer.h"
#include "dns/query.h"
#include "dns/wire.h"
#include "geo/db.h"
#include "geo/map.h"
#include "geo/tree.h"

static const char *const rcodes[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED" };

static void add_record(int family, const uint8_t *addr, void *arg)
{
	char buf[INET6_ADDRSTRLEN];
	inet_ntop(family, addr, buf, sizeof(buf));
	json_array_append_new(arg, json_string(buf));
}

/* Reads the response into {"rcode","ttl","scope","records":[...]}. */
static json_t *parse_response(const uint8_t *pkt, size_t len)
{
	json_t *recs = json_array();
	dns_response_t resp;
	if (dns_response_parse(pkt, len, &resp, add_record, recs) != 0) {
		json_decref(recs);
		return json_pack("{s:s}", "rcode", "none");
	}
	json_t *r = json_pack("{s:s}", "rcode", resp.rcode < 6 ? rcodes[resp.rcode] : "other");
	if (resp.has_ttl)
		json_object_set_new(r, "ttl", json_integer(resp.ttl));
	if (resp.scope >= 0)
		json_object_set_new(r, "scope", json_integer(resp.scope));
	json_object_set_new(r, "records", recs);
	return r;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return 0;
	}
	return GTM_EINVAL;
}

/* "198.18.7.0/24" -> net, host bits cleared. */
static int parse_subnet(const char *s, dns_net_t *net, struct sockaddr_storage *ss)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	long plen = -1;
	if (slash) {
		*slash = '\0';
		char *e;
		plen = strtol(slash + 1, &e, 10);
		if (*e != '\0')
			return GTM_EINVAL;
	}
	if (parse_addr(buf, ss) != 0)
		return GTM_EINVAL;
	memset(net, 0, sizeof(*net));
	if (ss->ss_family == AF_INET) {
		net->family = AF_INET;
		if (plen < 0)
			plen = 32;
		if (plen > 32)
			return GTM_EINVAL;
		memcpy(net->addr, &((struct sockaddr_in *)ss)->sin_addr, 4);
	} else {
		net->family = AF_INET6;
		if (plen < 0)
			plen = 128;
		if (plen > 128)
			return GTM_EINVAL;
		memcpy(net->addr, &((struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
	net->prefix = (uint8_t)plen;
	for (unsigned b = (unsigned)plen; b < 128; b++)
		net->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
	if (ss->ss_family == AF_INET)
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, net->addr, 4);
	else
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, net->addr, 16);
	return 0;
}

static bool net_contains(const dns_net_t *n, const struct sockaddr *sa)
{
	const uint8_t *a;
	if (sa->sa_family != n->family)
		return false;
	a = n->family == AF_INET ? (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr
	                         : (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	for (unsigned b = 0; b < n->prefix; b++)
		if ((a[b / 8] ^ n->addr[b / 8]) & (0x80u >> (b % 8)))
			return false;
	return true;
}

static const char *how_text(geo_how_t how)
{
	switch (how) {
	case GEO_BY_DEFAULT: return "the default order (not located, or no coordinates)";
	case GEO_BY_DISTANCE: return "nearest cities first (distance)";
	case GEO_BY_CIDR: return "a geo.maps CIDR rule";
	case GEO_BY_SUBDIVISION: return "a geo.maps subdivision rule";
	case GEO_BY_COUNTRY: return "a geo.maps country rule";
	case GEO_BY_CONTINENT: return "a geo.maps continent rule";
	}
	return "?";
}

static json_t *candidate(const gtm_conf_t *conf, const gtm_decision_t *d, uint32_t svc, uint32_t site,
                         double share, const char *why)
{
	const gtm_site_view_t *v = gtm_decision_site(d, svc, site);
	json_t *e = json_pack("{s:s,s:s}", "city", conf->cities[conf->sites[site].city].name,
	                      "site", conf->sites[site].name);
	json_object_set_new(e, "health", json_string(v && v->up ? "up" : "down"));
	json_object_set_new(e, "admin", json_string(v && v->admin >= 1 ? "active" : v && v->admin > 0
	                                            ? "draining" : "out"));
	json_object_set_new(e, "factor", json_real(gtm_ctlcmd_round3(v ? v->admin * v->failback : 0)));
	json_object_set_new(e, "weight", json_real(gtm_ctlcmd_round3(v ? v->weight : 0)));
	json_object_set_new(e, "serving", json_boolean(share > 0));
	if (share > 0)
		json_object_set_new(e, "share", json_real(gtm_ctlcmd_round3(share)));
	const char *w = why ? why : v && share <= 0 ? v->why : NULL;
	if (w)
		json_object_set_new(e, "why", json_string(w));
	return e;
}

/* The candidates of one choice: its shares, then the choice city's other
 * sites of the service with why they take nothing. */
static void choice_candidates(json_t *out, const gtm_conf_t *conf, const gtm_decision_t *d,
                              uint32_t svc, const gtm_choice_view_t *cv, uint32_t city)
{
	for (size_t i = 0; i < cv->n; i++) {
		uint32_t s = cv->shares[i].site;
		char why[96] = "";
		if (city != GTM_NO_CITY && conf->sites[s].city != city)
			snprintf(why, sizeof(why), "spill from %s", conf->cities[city].name);
		json_array_append_new(out, candidate(conf, d, svc, s, cv->shares[i].share, why[0] ? why : NULL));
	}
	for (size_t i = 0; i < d->nsites; i++) {
		const gtm_site_view_t *v = &d->sites[i];
		if (v->service != svc || gtm_ctlcmd_share_of(cv, v->site) > 0)
			continue;
		if (city != GTM_NO_CITY && conf->sites[v->site].city != city)
			continue;
		json_array_append_new(out, candidate(conf, d, svc, v->site, 0,
		                                     v->why ? v->why : cv->n ? "not chosen" : NULL));
	}
}

static json_t *cmd_explain(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	gtm_control_t *c = arg;
	(void)peer;
	const gtm_conf_t *conf = gtm_control_conf(c);
	const dns_snapshot_t *snap = gtm_control_snapshot(c);
	const gtm_decision_t *d = gtm_control_decision(c);
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *client = json_string_value(json_object_get(req, "client"));
	const char *ecs = json_string_value(json_object_get(req, "ecs"));
	const char *type = json_string_value(json_object_get(req, "type"));
	if (name == NULL || client == NULL)
		return gtm_ctl_error("explain needs \"name\" and \"client\"");
	if (snap == NULL || d == NULL)
		return gtm_ctl_error("nothing published yet");
	struct sockaddr_storage css, ess;
	dns_net_t net;
	if (parse_addr(client, &css) != 0)
		return gtm_ctl_error("client '%s' is not an IPv4 or IPv6 address", client);
	if (ecs && parse_subnet(ecs, &net, &ess) != 0)
		return gtm_ctl_error("ecs '%s' is not a subnet (198.51.100.0/24, 2001:db8::/56)", ecs);
	uint8_t qname[DNS_NAME_MAX];
	size_t qlen = dns_name_from_str(name, qname);
	if (qlen == 0)
		return gtm_ctl_error("'%s' is not a DNS name", name);
	uint16_t qtype = type && strcasecmp(type, "AAAA") == 0 ? 28 : 1;

	json_t *r = json_pack("{s:s,s:s}", "name", name, "client", client);
	if (ecs)
		json_object_set_new(r, "ecs", json_string(ecs));
	/* Which address locates the client: the ECS subnet when it is used
	 * (ECS on, and the client a trusted resolver), else the client. */
	bool use_ecs = false;
	if (ecs && snap->opts.ecs) {
		use_ecs = snap->opts.n_ecs_trusted == 0;
		for (uint16_t i = 0; i < snap->opts.n_ecs_trusted && !use_ecs; i++)
			use_ecs = net_contains(&snap->opts.ecs_trusted[i], (struct sockaddr *)&css);
		if (!use_ecs)
			json_object_set_new(r, "ecs_ignored", json_string(snap->opts.ecs ? "the client is not in geo.ecs_trusted"
			                                                                  : "geo.ecs is off"));
	}
	const struct sockaddr *loc_sa = (const struct sockaddr *)(use_ecs ? &ess : &css);
	json_object_set_new(r, "located_by", json_string(use_ecs ? "ecs" : "client"));
	geo_loc_t loc = { 0 };
	if (snap->geo_db && geo_db_lookup(snap->geo_db, loc_sa, &loc) == 0 && loc.found) {
		json_t *l = json_object();
		if (loc.country[0])
			json_object_set_new(l, "country", json_string(loc.country));
		if (loc.continent[0])
			json_object_set_new(l, "continent", json_string(loc.continent));
		if (loc.subdivision[0])
			json_object_set_new(l, "subdivision", json_string(loc.subdivision));
		if (loc.has_coords) {
			json_object_set_new(l, "lat", json_real(loc.lat));
			json_object_set_new(l, "lon", json_real(loc.lon));
		}
		/* The database's network that matched, as a network (host bits
		 * cleared), not the client's address with a prefix. */
		char nbuf[80], abuf[INET6_ADDRSTRLEN];
		uint8_t bytes[16] = { 0 };
		size_t alen = loc_sa->sa_family == AF_INET ? 4 : 16;
		memcpy(bytes, loc_sa->sa_family == AF_INET
		              ? (const void *)&((const struct sockaddr_in *)loc_sa)->sin_addr
		              : (const void *)&((const struct sockaddr_in6 *)loc_sa)->sin6_addr, alen);
		for (size_t b = 0; b < alen; b++) {
			unsigned keep = loc.prefix > b * 8 ? loc.prefix - (unsigned)b * 8 : 0;
			bytes[b] &= keep >= 8 ? 0xFF : (uint8_t)(0xFF00 >> keep);
		}
		inet_ntop(loc_sa->sa_family, bytes, abuf, sizeof(abuf));
		snprintf(nbuf, sizeof(nbuf), "%s/%u", abuf, (unsigned)loc.prefix);
		json_object_set_new(l, "network", json_string(nbuf));
		json_object_set_new(r, "location", l);
	} else {
		json_object_set_new(r, "located_by", json_string(snap->geo_db ? "none (in no network of the database)"
		                                                              : "none (no GeoIP database)"));
	}
	uint16_t order[GEO_MAX_CITIES];
	size_t norder = 0;
	if (snap->geo_map) {
		geo_order_info_t info;
		norder = geo_map_order(snap->geo_map, loc_sa, loc.found ? &loc : NULL, order, &info);
		/* The scope is the served prefix tree's, as in the answers: the
		 * database's network, widened where neighbouring networks get the
		 * same city order (geo/tree.h), capped by a CIDR map's depth. */
		unsigned scope = info.scope;
		if (snap->geo_tree)
			(void)geo_tree_lookup(snap->geo_tree, loc_sa, &scope);
		char region[160];
		if (info.rule >= 0)
			snprintf(region, sizeof(region), "%s (rule %d), scope /%u", how_text(info.how), info.rule + 1,
			         scope);
		else
			snprintf(region, sizeof(region), "%s, scope /%u", how_text(info.how), scope);
		json_object_set_new(r, "region", json_string(region));
		json_object_set_new(r, "scope", json_integer((json_int_t)scope));
		json_t *o = json_array();
		for (size_t i = 0; i < norder; i++)
			json_array_append_new(o, json_string(conf->cities[order[i]].name));
		json_object_set_new(r, "order", o);
	}
	int si = gtm_ctlcmd_service_index(conf, name);
	json_t *cands = json_array();
	if (si >= 0 && (size_t)si < d->nservices) {
		const gtm_service_t *svc = &conf->services[si];
		const gtm_service_view_t *sv = &d->services[si];
		json_object_set_new(r, "service", json_pack("{s:s,s:s,s:i}", "policy", gtm_ctlcmd_policy_names[svc->policy],
		                                            "state", sv->state == GTM_SVC_NORMAL ? "normal"
		                                            : sv->state == GTM_SVC_DEGRADED ? "degraded"
		                                            : svc->last_resort == GTM_LAST_RESORT_OPEN ? "failopen"
		                                            : svc->last_resort == GTM_LAST_RESORT_CLOSED ? "failclosed"
		                                            : "lastresort",
		                                            "ttl", (int)sv->ttl));
		/* Where this client is answered: the one walk of previews and of
		 * the answer path (gtm/core/reach.h) over its own order. */
		uint16_t all[GEO_MAX_CITIES];
		for (size_t i = 0; i < conf->ncities && i < GEO_MAX_CITIES; i++)
			all[i] = (uint16_t)i;
		gtm_reach_t reach;
		gtm_reach_order(conf, d, (uint32_t)si, norder ? order : all, norder ? norder : conf->ncities, &reach);
		json_t *by = json_pack("{s:s}", "kind", reach.kind == GTM_REACH_CHOICE ? "choice" : "last_resort");
		if (reach.kind == GTM_REACH_CHOICE && reach.city != GTM_NO_CITY)
			json_object_set_new(by, "city", json_string(conf->cities[reach.city].name));
		json_object_set_new(r, "answered_by", by);
		if (svc->policy == GTM_POLICY_NEAREST) {
			for (size_t i = 0; i < norder || (norder == 0 && i < conf->ncities); i++) {
				uint32_t k = norder ? order[i] : (uint32_t)i;
				if (k >= sv->nchoices)
					continue;
				bool has = sv->choices[k].n > 0;
				for (size_t j = 0; j < d->nsites && !has; j++)
					has = d->sites[j].service == (uint32_t)si && conf->sites[d->sites[j].site].city == k;
				if (!has)
					continue;
				size_t first = json_array_size(cands);
				choice_candidates(cands, conf, d, (uint32_t)si, &sv->choices[k], k);
				for (size_t j = first; j < json_array_size(cands); j++) {
					json_t *e = json_array_get(cands, j);
					json_object_set_new(e, "choice", json_string(conf->cities[k].name));
					/* Only the choice the walk reached serves this client. */
					if (reach.kind != GTM_REACH_CHOICE || reach.city != k)
						json_object_set_new(e, "serving", json_false());
				}
			}
		} else {
			choice_candidates(cands, conf, d, (uint32_t)si, &sv->choices[0], GTM_NO_CITY);
		}
		if (sv->state == GTM_SVC_LAST_RESORT)
			json_object_set_new(r, "last_resort", json_string(svc->last_resort == GTM_LAST_RESORT_OPEN
			                                                  ? "open: every endpoint" : svc->last_resort ==
			                                                  GTM_LAST_RESORT_CLOSED ? "closed: NODATA"
			                                                  : "the fixed address"));
	} else {
		json_object_set_new(r, "note", json_string("not a steered service: the zone answers"));
	}
	json_object_set_new(r, "candidates", cands);

	/* The answer itself: the real answer path on the served snapshot. */
	uint8_t pkt[512], out[4096];
	size_t plen = dns_query_build(pkt, sizeof(pkt), qname, qlen, qtype, ecs ? &net : NULL);
	dns_ctx_t ctx;
	dns_ctx_init(&ctx, (uint64_t)gtm_admin_now() | 1);
	size_t n = dns_answer(snap, pkt, plen, out, sizeof(out), DNS_TRANSPORT_UDP,
	                      (const struct sockaddr *)&css, &ctx);
	json_t *ans = parse_response(out, n);
	json_object_set_new(ans, "type", json_string(qtype == 1 ? "A" : "AAAA"));
	json_object_set_new(r, "answer", ans);
	return r;
}

void gtm_ctlcmd_register_explain(gtm_ctl_t *ctl, gtm_control_t *c)
{
	gtm_ctl_register(ctl, "explain", cmd_explain, c);
}
