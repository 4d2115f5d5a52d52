/*
 * Control protocol pieces shared by gtmd and gtmctl: reply builders,
 * durations, and gtmctl's command line.  See ctl_proto.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "gtm/ctl/ctl_proto.h"

#define MAX_DURATION_MS (7ULL * 86400 * 1000)

static json_t *verror(bool refused, const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	json_t *r = json_object();
	json_object_set_new(r, "ok", json_false());
	if (refused)
		json_object_set_new(r, "refused", json_true());
	json_object_set_new(r, "error", json_string(buf));
	return r;
}

json_t *gtm_ctl_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *r = verror(false, fmt, ap);
	va_end(ap);
	return r;
}

json_t *gtm_ctl_refused(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *r = verror(true, fmt, ap);
	va_end(ap);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Durations */

int gtm_duration_parse(const char *s, uint64_t *out)
{
	static const struct { const char *unit; double ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	if (s == NULL || *s == '\0')
		return GTM_EINVAL;
	double total = 0;
	const char *p = s;
	int parts = 0;
	while (*p) {
		/* Digits with an optional fraction; strtod would also take
		 * exponents, hex, "inf" and "nan". */
		const char *q = p;
		while (isdigit((unsigned char)*q))
			q++;
		if (*q == '.') {
			q++;
			while (isdigit((unsigned char)*q))
				q++;
		}
		if (q == p || (q == p + 1 && *p == '.'))
			return GTM_EINVAL;
		double v = strtod(p, NULL);
		p = q;
		size_t ulen = 0;
		while (isalpha((unsigned char)p[ulen]))
			ulen++;
		double mult = -1;
		if (ulen == 0) {
			/* A bare number is seconds, and only alone ("90"), so that
			 * "1h30" is not silently 1 h 30 s. */
			if (parts > 0)
				return GTM_EINVAL;
			mult = 1000;
		}
		for (size_t i = 0; ulen && i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].unit) == ulen && strncmp(units[i].unit, p, ulen) == 0)
				mult = units[i].ms;
		if (mult < 0)
			return GTM_EINVAL;
		p += ulen;
		total += v * mult;
		parts++;
		if (ulen == 0 && *p)
			return GTM_EINVAL;
		if (total > (double)MAX_DURATION_MS)
			return GTM_ERANGE;
	}
	*out = (uint64_t)llround(total);
	return 0;
}

char *gtm_duration_format(uint64_t ms, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	uint64_t d = ms / 86400000, h = ms / 3600000 % 24, m = ms / 60000 % 60;
	uint64_t sec = ms / 1000 % 60, frac = ms % 1000;
	if (d)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%llud", (unsigned long long)d);
	if (h)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%lluh", (unsigned long long)h);
	if (m)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%llum", (unsigned long long)m);
	if (frac && ms < 1000)
		snprintf(buf + off, off < len ? len - off : 0, "%llums", (unsigned long long)frac);
	else if (frac) {
		char f[8];
		snprintf(f, sizeof(f), "%03llu", (unsigned long long)frac);
		for (int i = 2; i > 0 && f[i] == '0'; i--)
			f[i] = '\0';
		snprintf(buf + off, off < len ? len - off : 0, "%llu.%ss", (unsigned long long)sec, f);
	} else if (sec)
		snprintf(buf + off, off < len ? len - off : 0, "%llus", (unsigned long long)sec);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* gtmctl's command line */

const char gtm_cli_usage[] =
	"usage: gtmctl [OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  status [--service NAME] [--site NAME] [--endpoints]\n"
	"                              sites, cities and services: health, admin state,\n"
	"                              weight now and share of answers in the last minute;\n"
	"                              only one service (its sites) or one site (its services);\n"
	"                              with each endpoint's probe detail\n"
	"  drain SITE... [--ramp DURATION] [--steps N] [--wait]\n"
	"                              take SITE out of the answers, at once or stepwise\n"
	"                              (several SITEs: one change, one safety check)\n"
	"  undrain SITE...             put SITE back\n"
	"  pause SITE... | resume SITE...  hold / continue SITE's drain ramp\n"
	"  evacuate CITY...            send CITY's clients elsewhere\n"
	"  restore CITY...             end CITY's evacuation\n"
	"  promote CITY [--service NAME]\n"
	"                              make CITY the master of the global services\n"
	"  activate SITE...            put a cold standby site in the answers\n"
	"  deactivate SITE...          take it out again\n"
	"  disable SERVICE ADDRESS [--force-down]\n"
	"                              take one endpoint out of the answers (or set its\n"
	"                              health to down whatever the probes say)\n"
	"  enable SERVICE ADDRESS [--force-up]\n"
	"                              give it back to its probes (or set it up whatever\n"
	"                              they say)\n"
	"  explain NAME CLIENT-IP [--ecs SUBNET]\n"
	"                              why CLIENT-IP gets its answer for NAME\n"
	"  history [--limit N]         the last admin changes (default 20)\n"
	"  reload                      re-read configuration, zones and GeoIP database\n"
	"  stats                       gtmd's counters\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH     control socket (default " GTM_CTL_DEFAULT_SOCKET ")\n"
	"  -j, --json            print the server's JSON reply as is\n"
	"  -t, --timeout SECS    wait this long for a reply (default 30)\n"
	"  -n, --dry-run         (actions) show what would change, change nothing\n"
	"  -f, --force           (actions) override the safety rules\n"
	"  -r, --reason TEXT     (actions) why; recorded in the history\n"
	"      --full            (actions) list every answer that changes, not the first 20\n"
	"      --if-revision N   (actions, cluster) change only if the shared admin\n"
	"                        state is still at revision N (gtmctl status shows it)\n"
	"      --ramp DURATION   (drain) lower the weight stepwise over DURATION\n"
	"                        (\"30s\", \"2m\", \"1h30m\")\n"
	"      --steps N         (drain) number of steps of the ramp (default 5)\n"
	"  -w, --wait            (drain) show the ramp's progress until it is done\n"
	"      --service NAME    (promote) only this global service; (status) only this service\n"
	"      --site NAME       (status) only this site and the services that have it\n"
	"      --endpoints       (status) every endpoint: check, probe, state, last result,\n"
	"                        latency, since when, each cluster observer's verdict\n"
	"      --ecs SUBNET      (explain) the client subnet a resolver would send\n"
	"      --limit N         (history) how many records (default 20, 0 = all)\n"
	"  -V, --version         print the version and exit\n"
	"  -h, --help            print this help and exit\n"
	"\n"
	"Exit status:\n"
	"  0  done\n"
	"  1  the server answered with an error, or refused the action (safety rules;\n"
	"     --force overrides)\n"
	"  2  bad command line\n"
	"  3  cannot connect to the control socket\n"
	"  4  connected, but no valid reply (connection lost, timeout, bad JSON)\n";

enum { ARG_NONE = 0, ARG_SITE, ARG_CITY, ARG_EXPLAIN, ARG_ENDPOINT };

/* Which options a command takes. */
enum {
	O_ACTION = 1 << 0,   /* --dry-run, --force, --reason */
	O_RAMP = 1 << 1,     /* --ramp, --steps, --wait */
	O_SERVICE = 1 << 2,
	O_ECS = 1 << 3,
	O_LIMIT = 1 << 4,
	O_SITE = 1 << 5,
	O_FULL = 1 << 6,
	O_ENDPOINTS = 1 << 7,
	O_MANY = 1 << 8,     /* several SITEs or CITYs: one atomic action */
	O_FORCED = 1 << 9,   /* disable --force-down, enable --force-up */
};

static const struct cmd {
	const char *name;
	int args;
	unsigned opts;
} cmds[] = {
	{ "status", ARG_NONE, O_SERVICE | O_SITE | O_ENDPOINTS },
	{ "drain", ARG_SITE, O_ACTION | O_FULL | O_RAMP | O_MANY },
	{ "undrain", ARG_SITE, O_ACTION | O_FULL | O_MANY },
	{ "pause", ARG_SITE, O_ACTION | O_FULL | O_MANY },
	{ "resume", ARG_SITE, O_ACTION | O_FULL | O_MANY },
	{ "evacuate", ARG_CITY, O_ACTION | O_FULL | O_MANY },
	{ "restore", ARG_CITY, O_ACTION | O_FULL | O_MANY },
	{ "promote", ARG_CITY, O_ACTION | O_FULL | O_SERVICE },
	{ "activate", ARG_SITE, O_ACTION | O_FULL | O_MANY },
	{ "deactivate", ARG_SITE, O_ACTION | O_FULL | O_MANY },
	{ "disable", ARG_ENDPOINT, O_ACTION | O_FULL | O_FORCED },
	{ "enable", ARG_ENDPOINT, O_ACTION | O_FULL | O_FORCED },
	{ "explain", ARG_EXPLAIN, O_ECS },
	{ "history", ARG_NONE, O_LIMIT },
	{ "reload", ARG_NONE, 0 },
	{ "stats", ARG_NONE, 0 },
};

enum { OPT_RAMP = 256, OPT_STEPS, OPT_SERVICE, OPT_ECS, OPT_LIMIT, OPT_IFREV, OPT_SITE, OPT_FULL,
       OPT_ENDPOINTS, OPT_FORCE_DOWN, OPT_FORCE_UP };

static const struct option longopts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "force", no_argument, NULL, 'f' },
	{ "reason", required_argument, NULL, 'r' },
	{ "wait", no_argument, NULL, 'w' },
	{ "ramp", required_argument, NULL, OPT_RAMP },
	{ "steps", required_argument, NULL, OPT_STEPS },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "site", required_argument, NULL, OPT_SITE },
	{ "full", no_argument, NULL, OPT_FULL },
	{ "endpoints", no_argument, NULL, OPT_ENDPOINTS },
	{ "force-down", no_argument, NULL, OPT_FORCE_DOWN },
	{ "force-up", no_argument, NULL, OPT_FORCE_UP },
	{ "ecs", required_argument, NULL, OPT_ECS },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "if-revision", required_argument, NULL, OPT_IFREV },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return false;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v > max)
		return false;
	*out = v;
	return true;
}

/* An IPv4 or IPv6 address; its family, or 0. */
static int addr_family(const char *s, unsigned char *bytes)
{
	if (inet_pton(AF_INET, s, bytes) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, bytes) == 1)
		return AF_INET6;
	return 0;
}

/* --ecs SUBNET: ADDR/LEN (or ADDR alone: one host) with no bit set past the
 * prefix, as a resolver sends it (RFC 7871 6).  False with `err` filled. */
static bool ecs_check(const char *v, char *err, size_t errlen)
{
	char buf[64];
	unsigned char a[16] = { 0 };
	if (strlen(v) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", v);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	int fam = addr_family(buf, a);
	if (fam == 0)
		goto bad;
	unsigned long max = fam == AF_INET ? 32 : 128, plen = max;
	if (slash) {
		char *end;
		if (!isdigit((unsigned char)slash[1]) || (plen = strtoul(slash + 1, &end, 10), *end) || plen > max) {
			snprintf(err, errlen, "--ecs: prefix length of %s must be 0 to %lu", v, max);
			return false;
		}
	}
	for (unsigned long b = plen; b < max; b++)
		if (a[b / 8] & (0x80u >> (b % 8))) {
			unsigned char m[16] = { 0 };
			char net[INET6_ADDRSTRLEN];
			memcpy(m, a, sizeof(m));
			for (unsigned long c = plen; c < max; c++)
				m[c / 8] &= (unsigned char)~(0x80u >> (c % 8));
			inet_ntop(fam, m, net, sizeof(net));
			snprintf(err, errlen, "--ecs: %s has host bits set after the /%lu prefix (did you mean %s/%lu?)",
			         v, plen, net, plen);
			return false;
		}
	return true;
bad:
	snprintf(err, errlen, "--ecs: not a subnet: %s (say 198.51.100.0/24 or 2001:db8::/56)", v);
	return false;
}

void gtm_cli_clear(gtm_cli_t *cli)
{
	json_decref(cli->request);
	cli->request = NULL;
}

int gtm_cli_parse(int argc, char **argv, gtm_cli_t *cli, char *err, size_t errlen)
{
	memset(cli, 0, sizeof(*cli));
	cli->socket = GTM_CTL_DEFAULT_SOCKET;
	cli->timeout_s = 30;
	bool dry_run = false, force = false, have_ramp = false;
	const char *reason = NULL, *service = NULL, *site = NULL, *ecs = NULL, *given_opt[10] = { 0 };
	bool full = false, endpoints = false;
	const char *forced = NULL;   /* --force-down or --force-up */
	unsigned given = 0;
	uint64_t ramp_ms = 0;
	unsigned long steps = 0, limit = 20, if_rev = 0;
	bool have_if_rev = false;
	int c;

	optind = 0;  /* GNU: full re-initialisation, so tests may parse twice */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:jt:nfr:wVh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': cli->socket = optarg; break;
		case 'j': cli->json = true; break;
		case 't': {
			char *end;
			cli->timeout_s = strtod(optarg, &end);
			if (end == optarg || *end || cli->timeout_s != cli->timeout_s) {
				snprintf(err, errlen, "--timeout: not a number of seconds: %s", optarg);
				return GTM_EINVAL;
			}
			if (!(cli->timeout_s > 0) || cli->timeout_s > 86400) {
				snprintf(err, errlen, "--timeout: %s seconds is out of range (more than 0, at most 86400)",
				         optarg);
				return GTM_EINVAL;
			}
			break;
		}
		case 'n': dry_run = true; given |= O_ACTION; given_opt[0] = "--dry-run"; break;
		case 'f': force = true; given |= O_ACTION; given_opt[0] = "--force"; break;
		case 'r': reason = optarg; given |= O_ACTION; given_opt[0] = "--reason"; break;
		case 'w': cli->wait = true; given |= O_RAMP; given_opt[1] = "--wait"; break;
		case OPT_RAMP: {
			int rc = gtm_duration_parse(optarg, &ramp_ms);
			if (rc) {
				snprintf(err, errlen, "--ramp: %s duration: %s (say 30s, 2m, 1h30m)",
				         rc == GTM_ERANGE ? "too long a" : "not a", optarg);
				return GTM_EINVAL;
			}
			have_ramp = true;
			given |= O_RAMP;
			given_opt[1] = "--ramp";
			break;
		}
		case OPT_STEPS:
			if (!parse_uint(optarg, 100, &steps) || steps < 1) {
				snprintf(err, errlen, "--steps: a number from 1 to 100, not %s", optarg);
				return GTM_EINVAL;
			}
			given |= O_RAMP;
			given_opt[1] = "--steps";
			break;
		case OPT_IFREV:
			if (!parse_uint(optarg, 9007199254740991UL, &if_rev)) {
				snprintf(err, errlen, "--if-revision: not a revision number: %s", optarg);
				return GTM_EINVAL;
			}
			have_if_rev = true;
			given |= O_ACTION;
			given_opt[0] = "--if-revision";
			break;
		case OPT_SERVICE: service = optarg; given |= O_SERVICE; given_opt[2] = "--service"; break;
		case OPT_ECS: ecs = optarg; given |= O_ECS; given_opt[3] = "--ecs"; break;
		case OPT_SITE: site = optarg; given |= O_SITE; given_opt[5] = "--site"; break;
		case OPT_FULL: full = true; given |= O_FULL; given_opt[6] = "--full"; break;
		case OPT_ENDPOINTS: endpoints = true; given |= O_ENDPOINTS; given_opt[7] = "--endpoints"; break;
		case OPT_FORCE_DOWN: forced = "--force-down"; given |= O_FORCED; given_opt[9] = "--force-down"; break;
		case OPT_FORCE_UP: forced = "--force-up"; given |= O_FORCED; given_opt[9] = "--force-up"; break;
		case OPT_LIMIT:
			if (!parse_uint(optarg, 1000000, &limit)) {
				snprintf(err, errlen, "--limit: not a number: %s", optarg);
				return GTM_EINVAL;
			}
			given |= O_LIMIT;
			given_opt[4] = "--limit";
			break;
		case 'V': cli->version = true; return 0;
		case 'h': cli->help = true; return 0;
		case ':':
			snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
			return GTM_EINVAL;
		default:
			if (optopt && optopt < 256)
				snprintf(err, errlen, "unknown option -%c", optopt);
			else
				snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
			return GTM_EINVAL;
		}
	}
	if (optind >= argc) {
		snprintf(err, errlen, "no command (gtmctl --help lists them)");
		return GTM_EINVAL;
	}
	const struct cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, argv[optind]) == 0)
			cmd = &cmds[i];
	if (cmd == NULL) {
		snprintf(err, errlen, "unknown command %s (gtmctl --help lists them)", argv[optind]);
		return GTM_EINVAL;
	}
	cli->cmd = cmd->name;
	cli->action = cmd->opts & O_ACTION;
	char **ops = argv + optind + 1;
	int nops = argc - optind - 1;
	int want = cmd->args == ARG_NONE ? 0 : cmd->args == ARG_EXPLAIN || cmd->args == ARG_ENDPOINT ? 2 : 1;
	/* Several SITEs or CITYs: one atomic change (at most 64). */
	if ((cmd->opts & O_MANY) && nops > 1 && nops <= 64)
		want = nops;
	if (nops != want) {
		static const char *const what[] = { "no argument", "a SITE", "a CITY",
		                                    "NAME CLIENT-IP", "SERVICE ADDRESS" };
		if (nops < want)
			snprintf(err, errlen, "%s takes %s", cmd->name, what[cmd->args]);
		else if (want == 0)
			snprintf(err, errlen, "%s takes no argument (unexpected '%s')%s", cmd->name, ops[0],
			         strcmp(cmd->name, "status") == 0 ? "; for one service or site: --service NAME, --site NAME" : "");
		else
			snprintf(err, errlen, "%s takes %s (unexpected '%s')", cmd->name, what[cmd->args], ops[want]);
		return GTM_EINVAL;
	}
	unsigned bad = given & ~cmd->opts;
	if (bad) {
		for (int b = 0; b < 10; b++)
			if (bad & (1u << b)) {
				snprintf(err, errlen, "%s does not apply to %s", given_opt[b], cmd->name);
				return GTM_EINVAL;
			}
	}
	/* Without a ramp the drain is immediate: there is nothing to wait for,
	 * and a silently dropped option misleads as much as a wrong one. */
	if (cli->wait && nops > 1) {
		snprintf(err, errlen, "--wait follows one site's ramp (name one SITE)");
		return GTM_EINVAL;
	}
	if (cli->wait && !have_ramp) {
		snprintf(err, errlen, "--wait needs --ramp");
		return GTM_EINVAL;
	}
	if (steps && !have_ramp) {
		snprintf(err, errlen, "--steps needs --ramp");
		return GTM_EINVAL;
	}

	if (cmd->args == ARG_EXPLAIN) {
		unsigned char a[16];
		if (addr_family(ops[1], a) == 0) {
			snprintf(err, errlen, "explain: CLIENT-IP '%s' is not an IPv4 or IPv6 address", ops[1]);
			return GTM_EINVAL;
		}
		if (ecs && !ecs_check(ecs, err, errlen))
			return GTM_EINVAL;
	}

	if (cmd->args == ARG_ENDPOINT) {
		unsigned char a[16];
		if (addr_family(ops[1], a) == 0) {
			snprintf(err, errlen, "%s: ADDRESS '%s' is not an IPv4 or IPv6 address", cmd->name, ops[1]);
			return GTM_EINVAL;
		}
	}
	json_t *req = json_object();
	json_object_set_new(req, "cmd", json_string(cmd->name));
	switch (cmd->args) {
	case ARG_ENDPOINT:
		if (forced && (strcmp(forced, "--force-down") == 0) != (strcmp(cmd->name, "disable") == 0)) {
			snprintf(err, errlen, "%s does not apply to %s (disable --force-down, enable --force-up)",
			         forced, cmd->name);
			json_decref(req);
			return GTM_EINVAL;
		}
		json_object_set_new(req, "service", json_string(ops[0]));
		json_object_set_new(req, "address", json_string(ops[1]));
		if (forced)
			json_object_set_new(req, "forced", json_true());
		break;
	case ARG_SITE:
	case ARG_CITY: {
		const char *key = cmd->args == ARG_SITE ? "site" : "city";
		if (nops == 1) {
			json_object_set_new(req, key, json_string(ops[0]));
			break;
		}
		json_t *names = json_array();
		for (int i = 0; i < nops; i++)
			json_array_append_new(names, json_string(ops[i]));
		json_object_set_new(req, key, names);
		break;
	}
	case ARG_EXPLAIN:
		json_object_set_new(req, "name", json_string(ops[0]));
		json_object_set_new(req, "client", json_string(ops[1]));
		if (ecs)
			json_object_set_new(req, "ecs", json_string(ecs));
		break;
	}
	if (have_ramp) {
		if (ramp_ms % 1000 == 0)
			json_object_set_new(req, "ramp", json_integer((json_int_t)(ramp_ms / 1000)));
		else
			json_object_set_new(req, "ramp", json_real((double)ramp_ms / 1000.0));
		if (steps)
			json_object_set_new(req, "steps", json_integer((json_int_t)steps));
	}
	if (service)
		json_object_set_new(req, "service", json_string(service));
	if (site)   /* status only: an action's SITE is its argument */
		json_object_set_new(req, "site", json_string(site));
	if (full)
		json_object_set_new(req, "full", json_true());
	if (endpoints)
		json_object_set_new(req, "endpoints", json_true());
	if (cmd->opts & O_LIMIT)
		json_object_set_new(req, "limit", json_integer((json_int_t)limit));
	if (cli->action) {
		if (reason)
			json_object_set_new(req, "reason", json_string(reason));
		json_object_set_new(req, "force", json_boolean(force));
		json_object_set_new(req, "dry_run", json_boolean(dry_run));
		if (have_if_rev)
			json_object_set_new(req, "if_revision", json_integer((json_int_t)if_rev));
	}
	cli->request = req;
	return 0;
}

int gtm_cli_exit_code(const json_t *reply)
{
	json_t *ok = json_object_get(reply, "ok");
	if (!json_is_boolean(ok))
		return GTM_CLI_PROTO;
	return json_is_true(ok) ? GTM_CLI_OK : GTM_CLI_FAIL;
}
