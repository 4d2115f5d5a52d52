/*
 * gtmctl: the operator's command line for gtmd's control socket.
 *
 * It turns the command line into one request (gtm/ctl/ctl_proto.c), sends it
 * over the unix socket, and prints the reply: as is with --json, else as
 * tables and sentences.  An action (drain, evacuate...) is first sent as a
 * dry run, so that what will change is printed before the change is made;
 * then for real.  `drain --ramp D --wait` polls status every 0.5 s and
 * prints each step of the ramp until the site is drained.
 *
 * Exit codes: see gtm_cli_usage (ctl_proto.c) and gtmctl(8).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/version.h"
#include "gtm/ctl/ctl_proto.h"

#define WAIT_POLL_MS 500

typedef struct client {
	int fd;
	const char *path;
	double timeout_s;
	char *buf;           /* bytes read past the last reply */
	size_t len, cap;
	char *raw;           /* the last reply line, as received */
} client_t;

static void die_usage(const char *msg)
{
	fprintf(stderr, "gtmctl: %s\nTry 'gtmctl --help'.\n", msg);
	exit(GTM_CLI_USAGE);
}

/*
 * Allocation: every failure ends gtmctl with one line and exit code
 * GTM_CLI_PROTO (no valid reply can be had), never a crash.  jansson
 * allocates through xmalloc too (json_set_alloc_funcs in main), so no
 * json_* call returns NULL for want of memory.
 */
static void die_oom(void)
{
	fputs("gtmctl: out of memory\n", stderr);
	exit(GTM_CLI_PROTO);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		die_oom();
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		die_oom();
	return p;
}

static char *xdumps(const json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags);
	if (s == NULL)
		die_oom();
	return s;
}

static int client_connect(client_t *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(c->path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "gtmctl: %s: socket path too long\n", c->path);
		return GTM_CLI_CONNECT;
	}
	memcpy(sun.sun_path, c->path, strlen(c->path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		fprintf(stderr, "gtmctl: cannot connect to %s: %s%s\n", c->path, strerror(e),
		        e == ENOENT || e == ECONNREFUSED ? " (is gtmd running? -s names another socket)"
		        : e == EACCES ? " (root or the socket's group may use it)" : "");
		return GTM_CLI_CONNECT;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Sends `req`, reads one reply line.  Returns the reply (new reference) or
 * NULL after printing why (exit GTM_CLI_PROTO).
 */
static json_t *rpc(client_t *c, const json_t *req)
{
	char *text = xdumps(req, JSON_COMPACT);
	size_t len = strlen(text), off = 0;
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "gtmctl: %s: send: %s\n", c->path, strerror(errno));
			free(text);
			return NULL;
		}
		off += (size_t)n;
	}
	free(text);

	double deadline = now_s() + c->timeout_s;
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl) {
			size_t l = (size_t)(nl - c->buf);
			free(c->raw);
			c->raw = xmalloc(l + 1);
			memcpy(c->raw, c->buf, l);
			c->raw[l] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			json_error_t jerr;
			json_t *reply = json_loads(c->raw, 0, &jerr);
			if (!json_is_object(reply)) {
				fprintf(stderr, "gtmctl: %s: the reply is not a JSON object (%s)\n", c->path,
				        reply ? "another JSON value" : jerr.text);
				json_decref(reply);
				return NULL;
			}
			return reply;
		}
		double left = deadline - now_s();
		if (left <= 0) {
			fprintf(stderr, "gtmctl: %s: no reply within %g s\n", c->path, c->timeout_s);
			return NULL;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)ceil(left * 1000));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 131072;
			c->buf = xrealloc(c->buf, c->cap);
		}
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "gtmctl: %s: connection closed before the reply%s%s\n", c->path,
			        n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return NULL;
		}
		c->len += (size_t)n;
	}
}

/* ------------------------------------------------------------------------ */
/* Formatting */

static const char *str(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

static double num(const json_t *o, const char *key, double dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : dflt;
}

static const char *fmt_time(double ms, char *buf, size_t len)
{
	if (ms <= 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static const char *fmt_pct(double v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f%%", v * 100.0);
	return buf;
}

static void print_error(const json_t *reply)
{
	fprintf(stderr, "gtmctl: %s\n", str(reply, "error", "the server gave no reason"));
	json_t *errs = json_object_get(reply, "errors");
	size_t i;
	json_t *e;
	json_array_foreach(errs, i, e)
		if (json_is_string(e))
			fprintf(stderr, "  %s\n", json_string_value(e));
	if (json_is_true(json_object_get(reply, "refused")) && !strstr(str(reply, "error", ""), "--force"))
		fprintf(stderr, "gtmctl: refused by the safety rules; --force overrides\n");
}

/* One side of an answer diff entry (`side` "before" or "after"): "bj-a 50%,
 * bj-b 50%", and where those clients are answered when it is not their own
 * city: "(spill to beijing)", or the last resort: "fail open: bj-a, sh-a",
 * "fail closed (NODATA)", "the last-resort address". */
static void print_side(const json_t *e, const char *side)
{
	char key[32], pct[32];
	const json_t *arr = json_object_get(e, side);
	snprintf(key, sizeof(key), "%s_last_resort", side);
	const char *lr = str(e, key, NULL);
	snprintf(key, sizeof(key), "%s_to", side);
	const char *to = str(e, key, NULL);
	size_t i;
	json_t *x;
	if (lr && strcmp(lr, "closed") == 0) {
		printf("fail closed (NODATA)");
		return;
	}
	if (lr && strcmp(lr, "address") == 0) {
		printf("the last-resort address");
		return;
	}
	if (lr) {
		printf("fail open:");
		json_array_foreach(arr, i, x)
			printf("%s %s", i ? "," : "", str(x, "site", "?"));
		if (json_array_size(arr) == 0)
			printf(" (no endpoint)");
		return;
	}
	json_array_foreach(arr, i, x)
		printf("%s%s %s", i ? ", " : "", str(x, "site", "?"), fmt_pct(num(x, "share", -1), pct, sizeof(pct)));
	if (to)
		printf(" (spill to %s)", to);
}

static void print_changes(const json_t *reply)
{
	json_t *ch = json_object_get(reply, "changes");
	size_t i;
	json_t *e;
	json_array_foreach(ch, i, e)
		printf("  %s %s: %s %s -> %s\n", str(e, "object", "?"), str(e, "name", "?"),
		       str(e, "field", "?"), str(e, "old", "?"), str(e, "new", "?"));
	json_t *ans = json_object_get(reply, "answers");
	if (json_array_size(ans) == 0)
		return;
	/* At scale: the counts first, then the first entries (--full: all). */
	const json_t *sum = json_object_get(reply, "answers_summary");
	bool cut = json_is_true(json_object_get(sum, "truncated"));
	if (cut) {
		printf("answers that change: %.0f (%.0f services)\n", num(sum, "total", 0), num(sum, "services", 0));
		json_array_foreach(json_object_get(sum, "sites"), i, e)
			printf("  site %-12s (%s): leaves %.0f, joins %.0f\n", str(e, "site", "?"), str(e, "city", "?"),
			       num(e, "leaves", 0), num(e, "joins", 0));
		json_array_foreach(json_object_get(sum, "cities"), i, e)
			printf("  clients of %-12s %.0f answers\n", str(e, "city", "?"), num(e, "answers", 0));
		printf("the first %zu:\n", json_array_size(ans));
	} else
		printf("answers that change:\n");
	json_array_foreach(ans, i, e) {
		const char *city = str(e, "city", NULL);
		printf("  %s%s%s: ", str(e, "service", "?"), city ? " for " : "", city ? city : "");
		print_side(e, "before");
		printf("  ->  ");
		print_side(e, "after");
		printf("\n");
	}
	if (cut)
		printf("  ... and %.0f more (--full lists them all)\n",
		       num(sum, "total", 0) - (double)json_array_size(ans));
}

static void print_cluster(const json_t *r);

/* status --endpoints: one line per endpoint.  USED is what the answers
 * use (the observers' vote in a cluster); STATE this node's own probes. */
static void print_endpoints(const json_t *r)
{
	json_t *eps = json_object_get(r, "endpoints");
	if (!json_is_array(eps))
		return;
	size_t i;
	json_t *e;
	printf("\n%-24s %-10s %-16s %-11s %-8s %-5s %-8s %-12s %8s %9s  %s\n", "SERVICE", "SITE", "ADDRESS",
	       "ADMIN", "CHECK", "USED", "STATE", "LAST RESULT", "LATENCY", "FOR", "OBSERVERS");
	json_array_foreach(eps, i, e) {
		char lat[32] = "-", age[32] = "-", obs[256] = "";
		if (json_is_number(json_object_get(e, "latency_ms")))
			snprintf(lat, sizeof(lat), "%.0f ms", num(e, "latency_ms", 0));
		if (json_is_number(json_object_get(e, "for_ms"))) {
			double sec = num(e, "for_ms", 0) / 1000.0;
			if (sec < 120)
				snprintf(age, sizeof(age), "%.0f s", sec);
			else if (sec < 7200)
				snprintf(age, sizeof(age), "%.0f min", sec / 60);
			else
				snprintf(age, sizeof(age), "%.1f h", sec / 3600);
		}
		const char *k;
		json_t *v;
		size_t l = 0;
		json_object_foreach(json_object_get(e, "observers"), k, v)
			if (l < sizeof(obs))
				l += (size_t)snprintf(obs + l, sizeof(obs) - l, "%s%s %s", l ? ", " : "", k,
				                      json_is_string(v) ? json_string_value(v) : "?");
		printf("%-24s %-10s %-16s %-11s %-8s %-5s %-8s %-12s %8s %9s  %s\n", str(e, "service", "?"),
		       str(e, "site", "?"), str(e, "address", "?"), str(e, "admin", "enabled"),
		       str(e, "check", "(none)"), str(e, "used", "?"),
		       str(e, "state", "-"), str(e, "last_result", "-"), lat, age, obs);
	}
}

static void print_status(const json_t *r)
{
	char t[64], w[32], s[32], m1[32];
	json_t *sites = json_object_get(r, "sites");
	size_t i;
	json_t *e;
	printf("%-12s %-12s %-8s %-8s %-9s %7s %7s %7s  %s\n", "CITY", "SITE", "ROLE", "HEALTH",
	       "ADMIN", "WEIGHT", "SHARE", "ANS 1M", "NOTE");
	json_array_foreach(sites, i, e) {
		char note[256] = "";
		json_t *ramp = json_object_get(e, "ramp");
		if (json_is_object(ramp)) {
			size_t l = (size_t)snprintf(note, sizeof(note), "ramp step %d/%d",
			                            (int)num(ramp, "step", 0), (int)num(ramp, "steps", 0));
			if (json_is_true(json_object_get(ramp, "paused")))
				snprintf(note + l, sizeof(note) - l, ", paused: %s",
				         str(ramp, "pause_reason", "no reason given"));
			else if (num(ramp, "end", 0) > 0)
				snprintf(note + l, sizeof(note) - l, ", ends %s",
				         fmt_time(num(ramp, "end", 0), t, sizeof(t)) + 11);
		} else if (json_is_true(json_object_get(e, "activated"))) {
			snprintf(note, sizeof(note), "activated");
		}
		/* What the server says keeps the site's weight at 0 (cold and not
		 * activated, its city evacuated). */
		if (str(e, "note", NULL)) {
			size_t l = strlen(note);
			snprintf(note + l, sizeof(note) - l, "%s%s", l ? "; " : "", str(e, "note", ""));
		}
		const char *reason = str(e, "reason", NULL);
		if (reason && strcmp(str(e, "admin", "active"), "active") != 0) {
			size_t l = strlen(note);
			snprintf(note + l, sizeof(note) - l, "%s%s (%s)", l ? "; " : "", reason,
			         str(e, "user", "?"));
		}
		double wn = num(e, "weight_now", -1), wf = num(e, "factor", -1);
		if (wn >= 0)
			snprintf(w, sizeof(w), "%g", wn);
		else if (wf >= 0)
			fmt_pct(wf, w, sizeof(w));
		else
			snprintf(w, sizeof(w), "-");
		printf("%-12s %-12s %-8s %-8s %-9s %7s %7s %7s  %s\n", str(e, "city", "-"),
		       str(e, "name", "?"), str(e, "role", "-"), str(e, "health", "-"),
		       str(e, "admin", "-"), w, fmt_pct(num(e, "share", -1), s, sizeof(s)),
		       fmt_pct(num(e, "share_1m", -1), m1, sizeof(m1)), note);
	}
	if (json_object_get(r, "answers_window_ms"))
		printf("\nANS 1M: each site's share of the %.0f steered answers of the last %.0f s "
		       "(all services)\n", num(r, "answers_1m", 0), num(r, "answers_window_ms", 0) / 1000.0);
	json_t *cities = json_object_get(r, "cities");
	bool head = false;
	json_array_foreach(cities, i, e) {
		if (!json_is_true(json_object_get(e, "evacuated")))
			continue;
		if (!head)
			printf("\nevacuated cities:\n");
		head = true;
		printf("  %-12s since %s by %s%s%s\n", str(e, "name", "?"),
		       fmt_time(num(e, "since", 0), t, sizeof(t)), str(e, "user", "?"),
		       str(e, "reason", NULL) ? ": " : "", str(e, "reason", ""));
	}
	json_t *svcs = json_object_get(r, "services");
	head = false;
	json_array_foreach(svcs, i, e) {
		const char *m = str(e, "master", NULL);
		const char *state = str(e, "state", NULL);
		if (!m && (!state || strcmp(state, "normal") == 0))
			continue;
		if (!head)
			printf("\nservices:\n");
		head = true;
		printf("  %-28s %-16s", str(e, "name", "?"), str(e, "policy", ""));
		if (m)
			printf(" master %s%s", m, json_is_true(json_object_get(e, "promoted")) ? " (promoted)" : "");
		if (state) {
			/* At the last resort, what the clients get. */
			const char *says = strcmp(state, "failopen") == 0 ? "fail open: every endpoint answered"
			                 : strcmp(state, "failclosed") == 0 ? "fail closed: NODATA"
			                 : strcmp(state, "lastresort") == 0 ? "last resort: the fixed address answered"
			                 : state;
			printf(" %s", says);
		}
		printf("\n");
	}
	/* The controller's budget; a held-back failover said loudly. */
	const json_t *cj = json_object_get(r, "controller");
	if (json_is_object(cj)) {
		double lim = num(cj, "auto_per_hour", 0);
		json_t *sup = json_object_get(cj, "suppressed");
		if (lim > 0 && (json_array_size(sup) || num(cj, "auto_used", 0) > 0))
			printf("\nautomatic failovers and promotions: %.0f of %.0f this hour used, %.0f left\n",
			       num(cj, "auto_used", 0), lim, num(cj, "auto_left", 0));
		json_array_foreach(sup, i, e)
			printf("SUPPRESSED: failover of city %s held back for %.0f service%s "
			       "(controller.auto_evacuations_per_hour): it still gets traffic\n",
			       str(e, "city", "?"), num(e, "services", 0), num(e, "services", 0) == 1 ? "" : "s");
	}
	print_endpoints(r);
	print_cluster(r);
}

/* The cluster part of status: the node, etcd, the shared state's
 * revision and each observer's view of each site. */
static void print_cluster(const json_t *r)
{
	const json_t *cl = json_object_get(r, "cluster");
	if (!json_is_object(cl))
		return;
	char t[64];
	const char *etcd = str(cl, "etcd", "?");
	char quorum[48];
	if (json_is_integer(json_object_get(cl, "quorum")))
		snprintf(quorum, sizeof(quorum), "%.0f observers", num(cl, "quorum", 0));
	else
		snprintf(quorum, sizeof(quorum), "%s", str(cl, "quorum", "majority"));
	printf("\ncluster: node %s, etcd %s (%s) since %s, admin revision %.0f, health quorum %s\n",
	       str(cl, "node", "?"), etcd, str(cl, "member", "?"), fmt_time(num(cl, "since", 0), t, sizeof(t)),
	       num(cl, "revision", 0), quorum);
	if (strcmp(etcd, "connected") != 0)
		printf("  NOT IN SYNC: %s; serving the last admin state and this node's own probes; "
		       "admin changes are refused\n", str(cl, "error", "etcd not reached yet"));
	const json_t *lc = json_object_get(cl, "last_change");
	if (json_is_object(lc))
		printf("  last change: revision %.0f by %s on %s at %s: %s\n", num(lc, "revision", 0),
		       str(lc, "user", "?"), str(lc, "node", "?"), fmt_time(num(lc, "time", 0), t, sizeof(t)),
		       str(lc, "message", ""));
	const json_t *obs = json_object_get(cl, "observers");
	size_t i, k;
	json_t *o, *e;
	printf("  observers:");
	json_array_foreach(obs, i, o)
		printf(" %s%s (%.0f up, %.0f down)%s", str(o, "node", "?"),
		       json_is_true(json_object_get(o, "self")) ? " [this node]" : "", num(o, "up", 0),
		       num(o, "down", 0), i + 1 < json_array_size(obs) ? "," : "");
	printf("\n  %-12s", "SITE");
	json_array_foreach(obs, i, o)
		printf(" %-10s", str(o, "node", "?"));
	printf(" %s\n", "ANSWERS USE");
	const json_t *sites = json_object_get(r, "sites");
	json_array_foreach(sites, k, e) {
		const json_t *views = json_object_get(e, "observers");
		if (!json_is_object(views))
			continue;
		printf("  %-12s", str(e, "name", "?"));
		json_array_foreach(obs, i, o)
			printf(" %-10s", str(views, str(o, "node", "?"), "-"));
		printf(" %s\n", str(e, "health", "-"));
	}
}

static void print_history(const json_t *r)
{
	char t[64];
	json_t *entries = json_object_get(r, "entries");
	size_t i;
	json_t *e;
	if (json_array_size(entries) == 0) {
		if (json_is_false(json_object_get(r, "recorded")))
			printf("no history: none is recorded (set control.history_file in gtm.conf, then reload)\n");
		else
			printf("no history\n");
		return;
	}
	/* ACTION as wide as its longest word, so that it never runs into OBJECT. */
	int aw = 10;
	json_array_foreach(entries, i, e) {
		int l = (int)strlen(str(e, "op", "?"));
		aw = l > aw ? l : aw;
	}
	printf("%-19s %-10s %-*s %-30s %-22s %s\n", "TIME", "BY", aw, "ACTION", "OBJECT", "CHANGE", "REASON");
	json_array_foreach(entries, i, e) {
		char obj[128], change[128], by[64];
		snprintf(obj, sizeof(obj), "%s %s%s%s", str(e, "object", "?"), str(e, "name", "?"),
		         str(e, "field", NULL) ? " " : "", str(e, "field", ""));
		snprintf(change, sizeof(change), "%s -> %s", str(e, "old", "?"), str(e, "new", "?"));
		if (json_is_true(json_object_get(e, "auto")))
			snprintf(by, sizeof(by), "gtmd");
		else if (str(e, "user", NULL))
			snprintf(by, sizeof(by), "%s", str(e, "user", ""));
		else
			snprintf(by, sizeof(by), "uid %d", (int)num(e, "uid", -1));
		if (str(e, "node", NULL)) {   /* cluster mode: where it was made */
			size_t l = strlen(by);
			snprintf(by + l, sizeof(by) - l, "@%s", str(e, "node", ""));
		}
		char extra[160] = "";
		if (json_is_true(json_object_get(e, "force")))
			snprintf(extra, sizeof(extra), " [forced]");
		if (json_is_number(json_object_get(e, "detect_ms"))) {
			size_t l = strlen(extra);
			snprintf(extra + l, sizeof(extra) - l, " [detected in %g ms, published in %g ms]",
			         num(e, "detect_ms", 0), num(e, "publish_ms", 0));
		}
		printf("%-19s %-10s %-*s %-30s %-22s %s%s\n", fmt_time(num(e, "time", 0), t, sizeof(t)),
		       by, aw, str(e, "op", "?"), obj, change, str(e, "reason", ""), extra);
	}
}

static void print_explain(const json_t *r)
{
	size_t i;
	json_t *e;
	char pct[32];
	printf("name      %s\n", str(r, "name", "?"));
	printf("client    %s%s%s\n", str(r, "client", "?"), str(r, "ecs", NULL) ? ", ECS " : "",
	       str(r, "ecs", ""));
	json_t *loc = json_object_get(r, "location");
	if (json_is_object(loc)) {
		printf("located   by %s:", str(r, "located_by", "?"));
		const char *keys[] = { "network", "continent", "country", "subdivision", "city" };
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (str(loc, keys[k], NULL))
				printf(" %s %s", keys[k], str(loc, keys[k], ""));
		if (json_is_number(json_object_get(loc, "lat")))
			printf(" (%.2f, %.2f)", num(loc, "lat", 0), num(loc, "lon", 0));
		printf("\n");
	} else {
		printf("located   nowhere (%s)\n", str(r, "located_by", "no location"));
	}
	if (str(r, "region", NULL))
		printf("region    %s\n", str(r, "region", ""));
	json_t *order = json_object_get(r, "order");
	if (json_array_size(order)) {
		printf("order    ");
		json_array_foreach(order, i, e)
			printf(" %s%s", i ? "> " : "", json_is_string(e) ? json_string_value(e) : "?");
		printf("\n");
	}
	json_t *cands = json_object_get(r, "candidates");
	if (json_array_size(cands)) {
		printf("\n%-12s %-12s %-8s %-9s %7s %7s  %s\n", "CITY", "SITE", "HEALTH", "ADMIN",
		       "FACTOR", "WEIGHT", "SERVING");
		json_array_foreach(cands, i, e) {
			double w = num(e, "weight", -1);
			char wb[32];
			if (w >= 0)
				snprintf(wb, sizeof(wb), "%g", w);
			else
				snprintf(wb, sizeof(wb), "-");
			printf("%-12s %-12s %-8s %-9s %7s %7s  %s%s%s\n", str(e, "city", "-"),
			       str(e, "site", "?"), str(e, "health", "-"), str(e, "admin", "-"),
			       fmt_pct(num(e, "factor", -1), pct, sizeof(pct)), wb,
			       json_is_true(json_object_get(e, "serving")) ? "yes" : "no",
			       str(e, "why", NULL) ? ": " : "", str(e, "why", ""));
		}
	}
	json_t *ans = json_object_get(r, "answer");
	if (json_is_object(ans)) {
		printf("\nanswer    %s", str(ans, "rcode", "?"));
		if (json_is_number(json_object_get(ans, "ttl")))
			printf(", TTL %g", num(ans, "ttl", 0));
		if (json_is_number(json_object_get(ans, "scope")))
			printf(", ECS scope /%g", num(ans, "scope", 0));
		printf("\n");
		json_array_foreach(json_object_get(ans, "records"), i, e)
			printf("          %s\n", json_is_string(e) ? json_string_value(e) : "?");
	}
}

/* Prints nested objects as "a.b.c  value" lines. */
static void print_flat(const char *prefix, const json_t *v)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)v, k, x) {
			if (!prefix && strcmp(k, "ok") == 0)
				continue;
			size_t n = (prefix ? strlen(prefix) + 1 : 0) + strlen(k) + 1;
			char *p = xmalloc(n);
			snprintf(p, n, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", k);
			print_flat(p, x);
			free(p);
		}
		return;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			char p[512];
			snprintf(p, sizeof(p), "%s.%zu", prefix ? prefix : "", i);
			print_flat(p, x);
		}
		return;
	}
	char *s = xdumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	printf("%-48s %s\n", prefix ? prefix : "", s);
	free(s);
}

/* ------------------------------------------------------------------------ */
/* Commands */

static int do_action(client_t *c, const gtm_cli_t *cli)
{
	bool dry = json_is_true(json_object_get(cli->request, "dry_run"));
	/* First what would change (the server's dry run), then the change. */
	json_t *preq = json_deep_copy(cli->request);
	json_object_set_new(preq, "dry_run", json_true());
	json_t *prev = rpc(c, preq);
	json_decref(preq);
	if (prev == NULL)
		return GTM_CLI_PROTO;
	int rc = gtm_cli_exit_code(prev);
	if (rc != GTM_CLI_OK) {
		print_error(prev);
		/* Refused: the preview all the same, so the operator sees every
		 * answer the change would move (and, with --force, will). */
		if (json_is_true(json_object_get(prev, "refused")) && json_array_size(json_object_get(prev, "changes"))) {
			printf("would change if forced:\n");
			print_changes(prev);
		}
		json_decref(prev);
		return rc;
	}
	if (!json_is_true(json_object_get(prev, "changed"))) {
		printf("nothing to change: %s\n", str(prev, "message", "already so"));
		json_decref(prev);
		return GTM_CLI_OK;
	}
	printf("%s:\n", dry ? "would change (dry run)" : "will change");
	print_changes(prev);
	json_decref(prev);
	if (dry) {
		printf("dry run: nothing changed\n");
		return GTM_CLI_OK;
	}
	json_t *reply = rpc(c, cli->request);
	if (reply == NULL)
		return GTM_CLI_PROTO;
	rc = gtm_cli_exit_code(reply);
	if (rc != GTM_CLI_OK)
		print_error(reply);
	else
		printf("done: %s\n", str(reply, "message", "ok"));
	json_decref(reply);
	return rc;
}

/* Polls status until `site` is drained, printing each step of its ramp. */
static int wait_drain(client_t *c, const char *site, bool json)
{
	json_t *req = json_pack("{s:s}", "cmd", "status");
	char last[256] = "";
	int rc = GTM_CLI_OK;
	for (;;) {
		json_t *r = rpc(c, req);
		if (r == NULL) {
			rc = GTM_CLI_PROTO;
			break;
		}
		if (gtm_cli_exit_code(r) != GTM_CLI_OK) {
			print_error(r);
			json_decref(r);
			rc = GTM_CLI_FAIL;
			break;
		}
		json_t *s = NULL, *e;
		size_t i;
		json_array_foreach(json_object_get(r, "sites"), i, e)
			if (strcmp(str(e, "name", ""), site) == 0)
				s = e;
		if (s == NULL) {
			fprintf(stderr, "gtmctl: site %s is not in the status any more\n", site);
			json_decref(r);
			rc = GTM_CLI_FAIL;
			break;
		}
		const char *admin = str(s, "admin", "?");
		json_t *ramp = json_object_get(s, "ramp");
		char line[256], pct[32], sh[32], t[64];
		snprintf(line, sizeof(line), "%s %s step %d/%d weight %s%s%s", site, admin,
		         (int)num(ramp, "step", 0), (int)num(ramp, "steps", 0),
		         fmt_pct(num(s, "factor", -1), pct, sizeof(pct)),
		         json_is_true(json_object_get(ramp, "paused")) ? " paused: " : "",
		         json_is_true(json_object_get(ramp, "paused")) ? str(ramp, "pause_reason", "no reason given") : "");
		if (strcmp(line, last) != 0) {
			snprintf(last, sizeof(last), "%s", line);
			time_t now = time(NULL);
			struct tm tm;
			localtime_r(&now, &tm);
			strftime(t, sizeof(t), "%H:%M:%S", &tm);
			if (json)
				printf("%s\n", c->raw);
			else if (strcmp(admin, "draining") == 0)
				printf("%s  %s  step %d/%d  weight %s  share %s%s%s\n", t, site,
				       (int)num(ramp, "step", 0), (int)num(ramp, "steps", 0), pct,
				       fmt_pct(num(s, "share", -1), sh, sizeof(sh)),
				       json_is_true(json_object_get(ramp, "paused")) ? "  PAUSED: " : "",
				       json_is_true(json_object_get(ramp, "paused"))
				       ? str(ramp, "pause_reason", "no reason given") : "");
			else
				printf("%s  %s  %s  share %s\n", t, site, admin,
				       fmt_pct(num(s, "share", -1), sh, sizeof(sh)));
			fflush(stdout);
		}
		bool drained = strcmp(admin, "drained") == 0;
		bool active = strcmp(admin, "active") == 0;
		json_decref(r);
		if (drained)
			break;
		if (active) {
			fprintf(stderr, "gtmctl: site %s is active again: the drain was cancelled\n", site);
			rc = GTM_CLI_FAIL;
			break;
		}
		usleep(WAIT_POLL_MS * 1000);
	}
	json_decref(req);
	return rc;
}

int main(int argc, char **argv)
{
	gtm_cli_t cli;
	char err[512];
	json_set_alloc_funcs(xmalloc, free);
	if (gtm_cli_parse(argc, argv, &cli, err, sizeof(err)) != 0)
		die_usage(err);
	if (cli.help) {
		fputs(gtm_cli_usage, stdout);
		return GTM_CLI_OK;
	}
	if (cli.version) {
		printf("gtmctl %s\n", GTM_VERSION);
		return GTM_CLI_OK;
	}
	client_t c = { .fd = -1, .path = cli.socket, .timeout_s = cli.timeout_s };
	int rc = client_connect(&c);
	if (rc)
		goto finish;

	if (cli.json || !cli.action) {
		json_t *reply = rpc(&c, cli.request);
		if (reply == NULL) {
			rc = GTM_CLI_PROTO;
			goto finish;
		}
		rc = gtm_cli_exit_code(reply);
		if (cli.json)
			printf("%s\n", c.raw);
		else if (rc != GTM_CLI_OK)
			print_error(reply);
		else if (strcmp(cli.cmd, "status") == 0)
			print_status(reply);
		else if (strcmp(cli.cmd, "history") == 0)
			print_history(reply);
		else if (strcmp(cli.cmd, "explain") == 0)
			print_explain(reply);
		else if (strcmp(cli.cmd, "stats") == 0)
			print_flat(NULL, reply);
		else {
			printf("%s\n", str(reply, "message", "ok"));
			/* reload: the restart-only keys that changed */
			json_t *rs = json_object_get(reply, "restart_needed");
			size_t i;
			json_t *v;
			json_array_foreach(rs, i, v)
				if (json_is_string(v))
					printf("warning: %s\n", json_string_value(v));
			/* the configuration's warnings, already "file:line: warning: ..." */
			json_array_foreach(json_object_get(reply, "warnings"), i, v)
				if (json_is_string(v))
					printf("%s\n", json_string_value(v));
		}
		json_decref(reply);
	} else {
		rc = do_action(&c, &cli);
	}
	if (rc == GTM_CLI_OK && cli.wait &&
	    !json_is_true(json_object_get(cli.request, "dry_run")))
		rc = wait_drain(&c, str(cli.request, "site", ""), cli.json);
finish:
	if (c.fd >= 0)
		close(c.fd);
	free(c.buf);
	free(c.raw);
	gtm_cli_clear(&cli);
	return rc;
}
