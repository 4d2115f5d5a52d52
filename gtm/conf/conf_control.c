/*
 * gtm.conf: the `control` group (gtmctl's socket, the admin state and the
 * safety rules of operator actions) and the `controller` group (failback
 * hold-down and ramp, the rate limit of automatic evacuations).  The
 * per-service controller keys (min_capacity, trickle, last_resort,
 * degraded_ttl, auto_promote) are read with the service in conf.c.  See
 * conf_int.h for the key tables and docs/gtm.conf.md for the keys.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/file.h"
#include "gtm/conf/conf_int.h"
#include "gtm/ctl/ctl_proto.h"

/* ------------------------------------------------------------------------ */
/* control = { socket; mode; group; state_file; history_file; ... }         */

/* The socket file's mode, as an octal string: libconfig has no octal
 * literals, and 0660 written as an integer would silently read as 660. */
static bool control_mode(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_control_conf_t *cc = obj;
	const char *v = config_setting_get_string(s);
	char *end = NULL;
	long m = v && *v ? strtol(v, &end, 8) : -1;
	if (v == NULL || *v == '\0' || *end != '\0' || m < 0 || m > 0777) {
		conf_err(x, s, "%smode must be an octal mode as a string, e.g. \"0660\"", sc->prefix);
		return false;
	}
	cc->mode = (uint32_t)m;
	cc->mode_text = gtm_xstrdup(v);
	return true;
}

static bool control_socket(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_control_conf_t *cc = obj;
	if (cc->socket[0] != '/') {
		conf_err(x, s, "%ssocket must be an absolute path (got '%s')", sc->prefix, cc->socket);
		return false;
	}
	return true;
}

static const ckey_t control_keys[] = {
	/* sun_path holds 108 bytes with the NUL */
	{ .name = "socket", .type = KT_STR, .flags = KF_DEFAULT, FIELD(gtm_control_conf_t, socket),
	  .min = 1, .max = 107, .sdef = GTM_CTL_DEFAULT_SOCKET, .fn = control_socket },
	K_FN("mode", 0, control_mode),
	K_STR("group", gtm_control_conf_t, group, 1, 64, 0, NULL),
	K_STR("state_file", gtm_control_conf_t, state_file, 1, PATH_MAX, 0, NULL),
	K_STR("history_file", gtm_control_conf_t, history_file, 1, PATH_MAX, 0, NULL),
	K_INT("max_drained_sites", gtm_control_conf_t, max_drained_sites, 0, 65535, 0),
	K_NUM("max_drained_capacity", gtm_control_conf_t, max_drained_capacity, 0, 1, 0),
	{ 0 }
};

void conf_section_control(ctx_t *x, const config_setting_t *s)
{
	gtm_control_conf_t *cc = &x->conf->control;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(x, s, "control must be a group: control = { ... }");
		return;
	}
	/* The defaults were stored without the group; the walk stores them
	 * again, so drop the first copy. */
	free(cc->socket);
	cc->socket = NULL;
	cc->enabled = true;
	scope_t sc = { .kind = "control", .section = true };
	conf_group_walk(x, s, control_keys, cc, &sc);
	if (cc->state_file) {
		char *full = gtm_path_relative(x->path, cc->state_file);
		free(cc->state_file);
		cc->state_file = full;
	}
	if (cc->history_file) {
		char *full = gtm_path_relative(x->path, cc->history_file);
		free(cc->history_file);
		cc->history_file = full;
	}
	if (cc->state_file && cc->history_file && strcmp(cc->state_file, cc->history_file) == 0) {
		conf_err(x, config_setting_get_member(s, "history_file"),
		         "control.history_file must not be the state_file");
	}
}

/* ------------------------------------------------------------------------ */
/* controller = { holddown; failback_ramp; failback_steps; ... }            */

static const ckey_t controller_keys[] = {
	K_NUM("holddown", gtm_controller_conf_t, holddown_s, 0, 86400, 0),
	K_NUM("failback_ramp", gtm_controller_conf_t, failback_ramp_s, 0, 86400, 0),
	K_INT("failback_steps", gtm_controller_conf_t, failback_steps, 1, 100, 5),
	K_INT("auto_evacuations_per_hour", gtm_controller_conf_t, auto_evacuations_per_hour, 0, 3600, 6),
	{ 0 }
};

void conf_section_controller(ctx_t *x, const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(x, s, "controller must be a group: controller = { ... }");
		return;
	}
	scope_t sc = { .kind = "controller", .section = true };
	conf_group_walk(x, s, controller_keys, &x->conf->controller, &sc);
}

void conf_control_defaults(gtm_conf_t *c)
{
	for (const ckey_t *k = control_keys; k->name; k++)
		conf_key_default(k, &c->control);
	c->control.mode = 0660;
	c->control.max_drained_capacity = 0.5;
	for (const ckey_t *k = controller_keys; k->name; k++)
		conf_key_default(k, &c->controller);
	c->controller.holddown_s = 60;
	c->controller.failback_ramp_s = 120;
}

void conf_control_freeze(gtm_conf_t *c)
{
	c->controller.holddown_ms = conf_secs_ms(c->controller.holddown_s);
	c->controller.failback_ramp_ms = conf_secs_ms(c->controller.failback_ramp_s);
}

void conf_control_free(gtm_conf_t *c)
{
	free(c->control.socket);
	free(c->control.mode_text);
	free(c->control.group);
	free(c->control.state_file);
	free(c->control.history_file);
}
