/*
 * Admin state as JSON: the state file's and status's form of it (to and
 * from), and the control protocol's action requests and results.  See
 * admin.h; the model itself is in admin.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"
#include "gtm/core/admin.h"
#include "gtm/core/admin_int.h"

static void rec_to_json(json_t *o, const rec_t *r)
{
	if (r->since == 0)
		return;
	json_object_set_new(o, "since", json_integer((json_int_t)r->since));
	if (r->reason)
		json_object_set_new(o, "reason", json_string(r->reason));
	json_object_set_new(o, "uid", json_integer(r->uid));
	if (r->user)
		json_object_set_new(o, "user", json_string(r->user));
	if (r->automatic)
		json_object_set_new(o, "auto", json_true());
}

json_t *gtm_admin_to_json(const gtm_admin_t *a, uint64_t now, bool all)
{
	json_t *root = json_object();
	json_t *sites = json_object(), *cities = json_object(), *svcs = json_object();
	json_object_set_new(root, "version", json_integer(STATE_VERSION));

	for (size_t i = 0; i < a->nsites; i++) {
		const site_adm_t *s = &a->sites[i];
		if (!all && s->state == GTM_ADMIN_ACTIVE && !s->activated && s->rec.since == 0)
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "state", json_string(gtm_admin_state_name(
			all ? gtm_adm_site_state(s, now) : s->state)));
		if (all)
			json_object_set_new(o, "factor", json_real(gtm_adm_site_factor(s, now)));
		json_object_set_new(o, "activated", json_boolean(s->activated));
		if (s->state == GTM_ADMIN_DRAINING) {
			json_t *r = json_object();
			json_object_set_new(r, "start", json_integer((json_int_t)s->ramp_start));
			json_object_set_new(r, "duration", json_integer((json_int_t)s->ramp_ms));
			json_object_set_new(r, "steps", json_integer(s->steps));
			json_object_set_new(r, "paused", json_boolean(s->paused));
			if (s->paused_auto)
				json_object_set_new(r, "paused_auto", json_true());
			json_object_set_new(r, "paused_at", json_integer((json_int_t)s->paused_at));
			json_object_set_new(r, "paused_total", json_integer((json_int_t)s->paused_total));
			if (s->pause_reason)
				json_object_set_new(r, "pause_reason", json_string(s->pause_reason));
			if (all) {
				gtm_admin_site_info_t info;
				gtm_admin_site_info(a, (uint32_t)i, now, &info);
				json_object_set_new(r, "step", json_integer(info.step));
				json_object_set_new(r, "end", json_integer((json_int_t)info.ramp_end));
				json_object_set_new(r, "next", json_integer((json_int_t)info.next_step));
			}
			json_object_set_new(o, "ramp", r);
		}
		rec_to_json(o, &s->rec);
		json_object_set_new(sites, a->conf->sites[i].name, o);
	}
	for (size_t i = 0; i < a->ncities; i++) {
		const city_adm_t *c = &a->cities[i];
		if (!all && !c->evacuated && c->rec.since == 0)
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "evacuated", json_boolean(c->evacuated));
		rec_to_json(o, &c->rec);
		json_object_set_new(cities, a->conf->cities[i].name, o);
	}
	for (size_t i = 0; i < a->nservices; i++) {
		const svc_adm_t *v = &a->svcs[i];
		if (!all && v->master == GTM_NO_CITY && v->rec.since == 0)
			continue;
		if (all && a->conf->services[i].policy != GTM_POLICY_GLOBAL)
			continue;
		json_t *o = json_object();
		if (v->master != GTM_NO_CITY)
			json_object_set_new(o, "master", json_string(gtm_adm_city_name(a->conf, v->master)));
		else
			json_object_set_new(o, "master", json_null());
		if (all)
			json_object_set_new(o, "effective_master",
			                    json_string(gtm_adm_city_name(a->conf,
			                                                  gtm_adm_effective_master(a, i))));
		rec_to_json(o, &v->rec);
		json_object_set_new(svcs, a->conf->services[i].name, o);
	}
	/* Endpoints with an override (or a record): "SERVICE ADDRESS". */
	json_t *eps = json_object();
	for (size_t sv = 0; sv < a->nservices; sv++)
		for (size_t e = a->ep_off[sv]; e < a->ep_off[sv + 1]; e++) {
			const ep_adm_t *ep = &a->eps[e];
			if (ep->state == GTM_ADMIN_EP_ENABLED && ep->rec.since == 0)
				continue;
			char name[320];
			gtm_adm_endpoint_name(a->conf, (uint32_t)sv, (uint32_t)(e - a->ep_off[sv]), name, sizeof(name));
			json_t *o = json_pack("{s:s}", "state", gtm_admin_ep_state_name(ep->state));
			rec_to_json(o, &ep->rec);
			json_object_set_new(eps, name, o);
		}
	json_object_set_new(root, "sites", sites);
	json_object_set_new(root, "cities", cities);
	json_object_set_new(root, "services", svcs);
	/* Only with an override: files and replies stay as they were without. */
	if (json_object_size(eps) > 0)
		json_object_set_new(root, "endpoints", eps);
	else
		json_decref(eps);
	return root;
}

/* Reading: a wrong type anywhere is a corrupt file (GTM_EPARSE, with the
 * reason in `err`); a name that is gone is only dropped. */

static int get_u64(const json_t *o, const char *key, uint64_t *out, bool required,
                   char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL && !required)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "\"%s\" must be a non-negative integer", key);
		return GTM_EPARSE;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_str(const json_t *o, const char *key, char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" must be a string", key);
		return GTM_EPARSE;
	}
	free(*out);
	*out = gtm_xstrdup(json_string_value(v));
	return 0;
}

static int get_bool(const json_t *o, const char *key, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "\"%s\" must be true or false", key);
		return GTM_EPARSE;
	}
	*out = json_is_true(v);
	return 0;
}

static int rec_from_json(const json_t *o, rec_t *r, char *err, size_t errlen)
{
	uint64_t uid = 0;
	int rc;
	if ((rc = get_u64(o, "since", &r->since, false, err, errlen)) ||
	    (rc = get_str(o, "reason", &r->reason, err, errlen)) ||
	    (rc = get_u64(o, "uid", &uid, false, err, errlen)) ||
	    (rc = get_str(o, "user", &r->user, err, errlen)) ||
	    (rc = get_bool(o, "auto", &r->automatic, err, errlen)))
		return rc;
	r->uid = (uid_t)uid;
	return 0;
}

static int site_from_json(const json_t *o, site_adm_t *s, char *err, size_t errlen)
{
	int rc;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "an entry must be an object");
		return GTM_EPARSE;
	}
	json_t *st = json_object_get(o, "state");
	int state = json_is_string(st) ? gtm_adm_state_parse(json_string_value(st)) : -1;
	if (state < 0) {
		snprintf(err, errlen, "\"state\" must be active, draining or drained");
		return GTM_EPARSE;
	}
	s->state = state;
	if ((rc = get_bool(o, "activated", &s->activated, err, errlen)) ||
	    (rc = rec_from_json(o, &s->rec, err, errlen)))
		return rc;
	if (s->state != GTM_ADMIN_DRAINING)
		return 0;
	json_t *r = json_object_get(o, "ramp");
	uint64_t steps = 0;
	if (!json_is_object(r)) {
		snprintf(err, errlen, "a draining site needs its \"ramp\"");
		return GTM_EPARSE;
	}
	if ((rc = get_u64(r, "start", &s->ramp_start, true, err, errlen)) ||
	    (rc = get_u64(r, "duration", &s->ramp_ms, true, err, errlen)) ||
	    (rc = get_u64(r, "steps", &steps, true, err, errlen)) ||
	    (rc = get_bool(r, "paused", &s->paused, err, errlen)) ||
	    (json_object_get(r, "paused_auto") && (rc = get_bool(r, "paused_auto", &s->paused_auto, err, errlen))) ||
	    (rc = get_u64(r, "paused_at", &s->paused_at, false, err, errlen)) ||
	    (rc = get_u64(r, "paused_total", &s->paused_total, false, err, errlen)) ||
	    (rc = get_str(r, "pause_reason", &s->pause_reason, err, errlen)))
		return rc;
	if (steps < 1 || steps > GTM_ADMIN_MAX_STEPS) {
		snprintf(err, errlen, "\"steps\" must be 1..%d", GTM_ADMIN_MAX_STEPS);
		return GTM_EPARSE;
	}
	s->steps = (unsigned)steps;
	return 0;
}

/*
 * Fills `a` (at its defaults, bound to its conf) from `root`.  `what`
 * names the source in log lines.  Returns 0 or GTM_EPARSE (err says why);
 * on error `a` is left partly filled: the caller resets it.
 */
int gtm_adm_state_from_json(gtm_admin_t *a, const json_t *root, const char *what,
                           int *dropped, char *err, size_t errlen)
{
	const gtm_conf_t *conf = a->conf;
	const char *key;
	json_t *o;
	int rc;
	*dropped = 0;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		return GTM_EPARSE;
	}
	json_t *ver = json_object_get(root, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) != STATE_VERSION) {
		snprintf(err, errlen, "\"version\" must be %d", STATE_VERSION);
		return GTM_EPARSE;
	}
	json_t *sites = json_object_get(root, "sites");
	json_t *cities = json_object_get(root, "cities");
	json_t *svcs = json_object_get(root, "services");
	if ((sites && !json_is_object(sites)) || (cities && !json_is_object(cities)) ||
	    (svcs && !json_is_object(svcs))) {
		snprintf(err, errlen, "\"sites\", \"cities\" and \"services\" must be objects");
		return GTM_EPARSE;
	}

	json_object_foreach(sites, key, o) {
		site_adm_t tmp = { 0 };
		char inner[256];
		rc = site_from_json(o, &tmp, inner, sizeof(inner));
		if (rc) {
			snprintf(err, errlen, "site %s: %s", key, inner);
			free(tmp.pause_reason);
			gtm_adm_rec_clear(&tmp.rec);
			return rc;
		}
		int i = gtm_adm_find_site(conf, key);
		const char *drop = NULL;
		if (i < 0)
			drop = "not in the configuration";
		else if (tmp.activated && conf->sites[i].role != GTM_ROLE_COLD) {
			/* Only the activation is dropped; a drain still holds. */
			log_warn("admin, site %s, activation dropped (%s: the site is no longer cold)",
			         key, what);
			tmp.activated = false;
			(*dropped)++;
		}
		if (drop) {
			log_warn("admin, site %s, state %s dropped (%s: %s)", key,
			         gtm_admin_state_name(tmp.state), what, drop);
			(*dropped)++;
			free(tmp.pause_reason);
			gtm_adm_rec_clear(&tmp.rec);
			continue;
		}
		a->sites[i] = tmp;
	}
	json_object_foreach(cities, key, o) {
		city_adm_t tmp = { 0 };
		if (!json_is_object(o)) {
			snprintf(err, errlen, "city %s: an entry must be an object", key);
			return GTM_EPARSE;
		}
		char inner[256];
		if ((rc = get_bool(o, "evacuated", &tmp.evacuated, inner, sizeof(inner))) ||
		    (rc = rec_from_json(o, &tmp.rec, inner, sizeof(inner)))) {
			snprintf(err, errlen, "city %s: %s", key, inner);
			gtm_adm_rec_clear(&tmp.rec);
			return rc;
		}
		int i = gtm_adm_find_city(conf, key);
		if (i < 0) {
			log_warn("admin, city %s, %s dropped (%s: not in the configuration)",
			         key, tmp.evacuated ? "evacuation" : "record", what);
			(*dropped)++;
			gtm_adm_rec_clear(&tmp.rec);
			continue;
		}
		a->cities[i] = tmp;
	}
	json_object_foreach(svcs, key, o) {
		svc_adm_t tmp = { .master = GTM_NO_CITY };
		char *master = NULL;
		char inner[256];
		if (!json_is_object(o)) {
			snprintf(err, errlen, "service %s: an entry must be an object", key);
			return GTM_EPARSE;
		}
		if ((rc = get_str(o, "master", &master, inner, sizeof(inner))) ||
		    (rc = rec_from_json(o, &tmp.rec, inner, sizeof(inner)))) {
			snprintf(err, errlen, "service %s: %s", key, inner);
			free(master);
			gtm_adm_rec_clear(&tmp.rec);
			return rc;
		}
		int i = gtm_adm_find_service(conf, key);
		int c = master ? gtm_adm_find_city(conf, master) : -1;
		const char *drop = NULL;
		if (i < 0)
			drop = "not in the configuration";
		else if (master)
			drop = gtm_adm_master_drop(conf, (uint32_t)i, c < 0 ? GTM_NO_CITY : (uint32_t)c);
		if (drop) {
			log_warn("admin, service %s, master %s dropped (%s: %s)", key,
			         master ? master : "record", what, drop);
			(*dropped)++;
			free(master);
			gtm_adm_rec_clear(&tmp.rec);
			continue;
		}
		free(master);
		tmp.master = c >= 0 ? (uint32_t)c : GTM_NO_CITY;
		a->svcs[i] = tmp;
	}
	json_t *eps = json_object_get(root, "endpoints");
	if (eps && !json_is_object(eps)) {
		snprintf(err, errlen, "\"endpoints\" must be an object");
		return GTM_EPARSE;
	}
	json_object_foreach(eps, key, o) {
		ep_adm_t tmp = { 0 };
		char inner[256];
		const char *st = json_string_value(json_object_get(o, "state"));
		int state = st ? gtm_adm_ep_state_parse(st) : -1;
		if (!json_is_object(o) || state < 0) {
			snprintf(err, errlen, "endpoint %s: \"state\" must be enabled, disabled, forced down or forced up", key);
			return GTM_EPARSE;
		}
		if ((rc = rec_from_json(o, &tmp.rec, inner, sizeof(inner)))) {
			snprintf(err, errlen, "endpoint %s: %s", key, inner);
			gtm_adm_rec_clear(&tmp.rec);
			return rc;
		}
		tmp.state = (gtm_admin_ep_state_t)state;
		uint32_t si, ei;
		if (gtm_adm_endpoint_parse(conf, key, &si, &ei) != 0) {
			log_warn("admin, endpoint %s, %s dropped (%s: not in the configuration)", key, st, what);
			(*dropped)++;
			gtm_adm_rec_clear(&tmp.rec);
			continue;
		}
		a->eps[a->ep_off[si] + ei] = tmp;
	}
	return 0;
}
int gtm_admin_replace_json(gtm_admin_t *a, const json_t *root, const char *what,
                           char *err, size_t errlen)
{
	gtm_admin_t *next = gtm_admin_new(a->conf, NULL, NULL);
	int dropped = 0;
	int rc = gtm_adm_state_from_json(next, root, what, &dropped, err, errlen);
	if (rc == 0)
		gtm_admin_adopt(a, next);
	gtm_admin_free(next);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Control protocol glue */

int gtm_admin_action_from_json(const json_t *req, gtm_admin_action_t *act,
                               char *err, size_t errlen)
{
	memset(act, 0, sizeof(*act));
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	int op = cmd ? gtm_admin_op_parse(cmd) : -1;
	if (op < 0) {
		snprintf(err, errlen, "\"cmd\" is not an admin action");
		return GTM_EINVAL;
	}
	act->op = op;
	if (op == GTM_ADMIN_DISABLE || op == GTM_ADMIN_ENABLE) {
		/* One endpoint: {"service":S,"address":A,"forced":bool}. */
		json_t *sv = json_object_get(req, "service"), *ad = json_object_get(req, "address");
		if (!json_is_string(sv) || !json_is_string(ad) || json_string_length(ad) == 0) {
			snprintf(err, errlen, "%s needs \"service\" and \"address\" (an endpoint)", cmd);
			return GTM_EINVAL;
		}
		act->service = json_string_value(sv);
		act->target = json_string_value(ad);
		json_t *fo = json_object_get(req, "forced");
		if (fo && !json_is_null(fo)) {
			if (!json_is_boolean(fo)) {
				snprintf(err, errlen, "\"forced\" must be true or false");
				return GTM_EINVAL;
			}
			act->forced_state = json_is_true(fo);
		}
	}
	const char *key = gtm_adm_op_on_site(op) ? "site" : "city";
	json_t *t = json_object_get(req, key);
	/* A name, or an array of names: one atomic change of them all. */
	if (op == GTM_ADMIN_DISABLE || op == GTM_ADMIN_ENABLE) {
		/* target and service set above */
	} else if (json_is_array(t) && json_array_size(t) > 0) {
		if (json_array_size(t) > GTM_ADMIN_MAX_TARGETS) {
			snprintf(err, errlen, "%s: at most %d %ss at once", cmd, GTM_ADMIN_MAX_TARGETS, key);
			return GTM_EINVAL;
		}
		for (size_t i = 0; i < json_array_size(t); i++) {
			json_t *n = json_array_get(t, i);
			if (!json_is_string(n) || json_string_length(n) == 0) {
				snprintf(err, errlen, "%s needs \"%s\" (a name or an array of names)", cmd, key);
				return GTM_EINVAL;
			}
			if (i == 0)
				act->target = json_string_value(n);
			else
				act->more[act->nmore++] = json_string_value(n);
		}
	} else if (!json_is_string(t) || json_string_length(t) == 0) {
		snprintf(err, errlen, "%s needs \"%s\" (a name or an array of names)", cmd, key);
		return GTM_EINVAL;
	} else {
		act->target = json_string_value(t);
	}

	json_t *v;
	if ((v = json_object_get(req, "service")) && !json_is_null(v) && op != GTM_ADMIN_DISABLE &&
	    op != GTM_ADMIN_ENABLE) {
		if (op != GTM_ADMIN_PROMOTE || !json_is_string(v)) {
			snprintf(err, errlen, "\"service\" is a name, for promote only");
			return GTM_EINVAL;
		}
		act->service = json_string_value(v);
	}
	if ((v = json_object_get(req, "ramp")) && !json_is_null(v)) {
		double s = json_number_value(v);
		if (op != GTM_ADMIN_DRAIN || !json_is_number(v) || s < 0 || s > 7 * 86400.0) {
			snprintf(err, errlen, "\"ramp\" is seconds (0 to 7 days), for drain only");
			return GTM_EINVAL;
		}
		act->ramp_ms = (uint64_t)(s * 1000.0 + 0.5);
	}
	if ((v = json_object_get(req, "steps")) && !json_is_null(v)) {
		if (op != GTM_ADMIN_DRAIN || !json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > GTM_ADMIN_MAX_STEPS) {
			snprintf(err, errlen, "\"steps\" is 1..%d, for drain only", GTM_ADMIN_MAX_STEPS);
			return GTM_EINVAL;
		}
		act->steps = (unsigned)json_integer_value(v);
	}
	if ((v = json_object_get(req, "reason")) && !json_is_null(v)) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "\"reason\" must be a string");
			return GTM_EINVAL;
		}
		act->reason = json_string_length(v) ? json_string_value(v) : NULL;
	}
	struct { const char *key; bool *out; } flags[] = {
		{ "force", &act->force }, { "dry_run", &act->dry_run },
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if ((v = json_object_get(req, flags[i].key)) && !json_is_null(v)) {
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "\"%s\" must be true or false", flags[i].key);
				return GTM_EINVAL;
			}
			*flags[i].out = json_is_true(v);
		}
	}
	return 0;
}

json_t *gtm_admin_result_json(const gtm_admin_action_t *act, int rc,
                              const gtm_admin_result_t *res)
{
	json_t *r = json_object();
	if (rc < 0 || res->refused) {
		json_object_set_new(r, "ok", json_false());
		json_object_set_new(r, "error", json_string(res->message));
		if (res->refused)
			json_object_set_new(r, "refused", json_true());
		json_object_set_new(r, "dry_run", json_boolean(act->dry_run));
		/* A refused dry run: what it would have changed, too. */
		if (res->refused && act->dry_run && res->changes)
			json_object_set_new(r, "changes", json_deep_copy(res->changes));
		return r;
	}
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "changed", json_boolean(res->changed));
	json_object_set_new(r, "dry_run", json_boolean(act->dry_run));
	json_object_set_new(r, "message", json_string(res->message));
	json_object_set_new(r, "changes", res->changes ? json_deep_copy(res->changes) : json_array());
	return r;
}
