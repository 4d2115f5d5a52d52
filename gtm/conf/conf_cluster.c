/*
 * gtm.conf: the `cluster` group, which makes this gtmd one node of several
 * that share the admin state and vote on health through etcd (see
 * gtm/cluster/cluster.h).  Without the group the node stands alone.  See
 * conf_int.h for the key tables and docs/gtm.conf.md for the keys.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <strings.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/file.h"
#include "gtm/conf/conf_int.h"

/* ------------------------------------------------------------------------ */
/* cluster = { node; etcd; prefix; lease; timeout; health_quorum; }         */

#define NODE_RULE "use letters, digits, '.', '-' and '_', at most 63"

/* A node's name is part of its etcd keys and of gtmctl's output, so it
 * stays plain.  Unlike city and site names it may hold dots, so that a
 * fully qualified host name (the default) is a valid node name. */
static bool node_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

static bool cluster_node(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_cluster_conf_t *cc = obj;
	if (node_name_ok(cc->node))
		return true;
	conf_err(x, s, "%snode '%s' is not valid (" NODE_RULE ")", sc->prefix, cc->node);
	return false;
}

/* Whether `h` (len bytes) is a host name: dot-separated labels of letters,
 * digits and '-', none empty or longer than 63 or starting or ending with
 * '-', at most 253 bytes; one final dot is allowed. */
static bool host_name_ok(const char *h, size_t len)
{
	if (len > 0 && h[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || h[i] == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)h[i]) && h[i] != '-')
			return false;
		if (label == 0 && h[i] == '-')
			return false;
		label++;
	}
	return true;
}

/*
 * Parses an etcd client URL "http://HOST:PORT" with at most one trailing
 * '/' into its normal form in `out` (lower-case scheme and host name, IP
 * addresses as inet_ntop writes them, IPv6 in brackets, the port in
 * decimal), so that two ways of writing one endpoint compare equal.
 * Returns NULL, or why the URL was refused (the end of a message that
 * starts with the URL).
 */
static const char *etcd_url(const char *v, char *out, size_t outlen)
{
	const char *scheme;
	size_t slen;
	if (strncasecmp(v, "https://", 8) == 0) {
		scheme = "https";
		slen = 8;
	} else if (strncasecmp(v, "http://", 7) == 0) {
		scheme = "http";
		slen = 7;
	} else {
		return "is not an etcd URL (http://HOST:PORT or https://HOST:PORT)";
	}
	const char *a = v + slen;
	size_t len = strcspn(a, "/?#");
	if (a[len] != '\0' && strcmp(a + len, "/") != 0)
		return "has a path or query (write http://HOST:PORT only)";
	if (len == 0)
		return "has no host (http://HOST:PORT)";

	char host[256];
	const char *port;
	size_t plen;
	if (a[0] == '[') {
		const char *close = memchr(a, ']', len);
		if (close == NULL)
			return "has no ']' after its IPv6 address (http://[IPv6]:PORT)";
		size_t hl = (size_t)(close - a - 1);
		struct in6_addr in6;
		char text[INET6_ADDRSTRLEN];
		if (hl == 0 || hl >= sizeof(text))
			return "does not hold an IPv6 address in brackets (http://[IPv6]:PORT)";
		memcpy(text, a + 1, hl);
		text[hl] = '\0';
		if (inet_pton(AF_INET6, text, &in6) != 1)
			return "does not hold an IPv6 address in brackets (http://[IPv6]:PORT)";
		inet_ntop(AF_INET6, &in6, text, sizeof(text));
		snprintf(host, sizeof(host), "[%s]", text);
		if ((size_t)(close + 1 - a) == len)
			return "has no port (http://HOST:PORT; etcd's client port is usually 2379)";
		if (close[1] != ':')
			return "has text after the IPv6 address (http://[IPv6]:PORT)";
		port = close + 2;
		plen = len - (size_t)(port - a);
	} else {
		const char *colon = memchr(a, ':', len);
		if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - a)))
			return "has an IPv6 address without brackets (http://[2001:db8::1]:2379)";
		if (colon == NULL)
			return "has no port (http://HOST:PORT; etcd's client port is usually 2379)";
		size_t hl = (size_t)(colon - a);
		if (hl == 0)
			return "has no host (http://HOST:PORT)";
		if (hl >= sizeof(host))
			return "has a HOST that is not an IPv4 address, [IPv6] or a host name";
		memcpy(host, a, hl);
		host[hl] = '\0';
		struct in_addr in4;
		/* All digits and dots: an IPv4 address or nothing, so that a
		 * mistyped address is not taken for a host name. */
		if (strspn(host, "0123456789.") == hl) {
			if (inet_pton(AF_INET, host, &in4) != 1)
				return "has a HOST that is not an IPv4 address, [IPv6] or a host name";
		} else if (!host_name_ok(host, hl))
			return "has a HOST that is not an IPv4 address, [IPv6] or a host name";
		for (size_t i = 0; i < hl; i++)
			host[i] = (char)tolower((unsigned char)host[i]);
		if (host[hl - 1] == '.')
			host[hl - 1] = '\0';
		port = colon + 1;
		plen = len - hl - 1;
	}
	if (plen == 0)
		return "has no port (http://HOST:PORT; etcd's client port is usually 2379)";
	unsigned long p = 0;
	for (size_t i = 0; i < plen; i++) {
		if (!isdigit((unsigned char)port[i]) || p > 65535)
			return "has a PORT that is not between 1 and 65535";
		p = p * 10 + (unsigned long)(port[i] - '0');
	}
	if (p < 1 || p > 65535)
		return "has a PORT that is not between 1 and 65535";
	snprintf(out, outlen, "%s://%s:%lu", scheme, host, p);
	return NULL;
}

static bool cluster_etcd(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_cluster_conf_t *cc = obj;
	if (!conf_is_array(s)) {
		conf_err(x, s, "%setcd must be a list of URLs: [ \"http://127.0.0.1:2379\" ]", sc->prefix);
		return false;
	}
	int n = config_setting_length(s);
	if (n == 0) {
		conf_err(x, s, "%setcd must name at least one etcd endpoint", sc->prefix);
		return false;
	}
	bool ok = true;
	/* The line of each URL kept, for the duplicate's message. */
	int *lines = gtm_xcalloc((size_t)n, sizeof(*lines));
	cc->etcd = gtm_xcalloc((size_t)n, sizeof(*cc->etcd));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v == NULL) {
			conf_err(x, e, "%setcd entries must be strings", sc->prefix);
			ok = false;
			continue;
		}
		char url[320];
		const char *why = etcd_url(v, url, sizeof(url));
		if (why) {
			conf_err(x, e, "%setcd: '%s' %s", sc->prefix, v, why);
			ok = false;
			continue;
		}
		size_t j;
		for (j = 0; j < cc->netcd; j++)
			if (strcmp(cc->etcd[j], url) == 0)
				break;
		if (j < cc->netcd) {
			conf_err(x, e, "%setcd: duplicate endpoint '%s' (first at line %d)", sc->prefix, v, lines[j]);
			ok = false;
			continue;
		}
		bool tls = strncmp(url, "https:", 6) == 0;
		if (cc->netcd > 0 && tls != cc->tls) {
			conf_err(x, e, "%setcd: '%s' mixes http:// and https:// (line %d); use one scheme for "
			         "every member", sc->prefix, v, lines[0]);
			ok = false;
			continue;
		}
		cc->tls = tls;
		lines[cc->netcd] = (int)config_setting_source_line(e);
		cc->etcd[cc->netcd++] = gtm_xstrdup(url);
	}
	free(lines);
	return ok;
}

/* ca_file, cert_file, key_file: resolved against the config's folder and
 * readable now (gtmd reads them at start, as root or its own user). */
static bool cluster_file(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_cluster_conf_t *cc = obj;
	const char *name = config_setting_name(s);
	char **f = strcmp(name, "ca_file") == 0 ? &cc->ca_file
	         : strcmp(name, "cert_file") == 0 ? &cc->cert_file : &cc->key_file;
	char *full = gtm_path_relative(x->path, *f);
	free(*f);
	*f = full;
	if (access(full, R_OK) != 0) {
		conf_err(x, s, "%s%s: cannot read %s (%s)", sc->prefix, name, full, strerror(errno));
		return false;
	}
	return true;
}

/* The prefix is used as it is in etcd keys, which are bytes: printable
 * ASCII keeps it readable in etcdctl and in our messages. */
static bool cluster_prefix(ctx_t *x, const config_setting_t *s, void *obj, scope_t *sc)
{
	gtm_cluster_conf_t *cc = obj;
	const char *p = cc->prefix;
	for (size_t i = 0; p[i]; i++)
		if (p[i] <= ' ' || p[i] > '~') {
			conf_err(x, s, "%sprefix must be printable ASCII without spaces (byte %zu is 0x%02x)",
			         sc->prefix, i + 1, (unsigned char)p[i]);
			return false;
		}
	if (p[0] != '/') {
		conf_err(x, s, "%sprefix must start with '/' (got '%s')", sc->prefix, p);
		return false;
	}
	return true;
}

static bool etcd_same(const void *a, const void *b)
{
	const gtm_cluster_conf_t *x = a, *y = b;
	if (x->netcd != y->netcd)
		return false;
	for (size_t i = 0; i < x->netcd; i++)
		if (strcmp(x->etcd[i], y->etcd[i]) != 0)
			return false;
	return true;
}

/* The node's identity and its etcd client (members, TLS, timeout) are
 * made once; lease, health_quorum and history_keep apply at a reload. */
const ckey_t conf_cluster_keys[] = {
	K_STR("node", gtm_cluster_conf_t, node, 1, 63, 0, cluster_node, RESTART),
	K_FN("etcd", KF_REQUIRED, cluster_etcd, RESTART, .same = etcd_same),
	{ .name = "prefix", .type = KT_STR, .flags = KF_DEFAULT, FIELD(gtm_cluster_conf_t, prefix),
	  .min = 1, .max = 128, .sdef = "/gtm/", .fn = cluster_prefix, RESTART },
	K_INT("lease", gtm_cluster_conf_t, lease_s, 2, 300, 5),
	K_NUM("timeout", gtm_cluster_conf_t, timeout_s, 0.1, 60, 0, RESTART),
	K_INT("health_quorum", gtm_cluster_conf_t, health_quorum, 0, 64, 0),
	K_INT("history_keep", gtm_cluster_conf_t, history_keep, 10, 1000000, 1000),
	K_STR("ca_file", gtm_cluster_conf_t, ca_file, 1, PATH_MAX, 0, cluster_file, RESTART),
	K_STR("cert_file", gtm_cluster_conf_t, cert_file, 1, PATH_MAX, 0, cluster_file, RESTART),
	K_STR("key_file", gtm_cluster_conf_t, key_file, 1, PATH_MAX, 0, cluster_file, RESTART),
	{ 0 }
};

/* The default node name: this machine's host name, which must itself be a
 * valid node name. */
static void node_default(ctx_t *x, const config_setting_t *s, gtm_cluster_conf_t *cc)
{
	char h[256];
	if (gethostname(h, sizeof(h) - 1) != 0) {
		conf_err(x, s, "cluster has no 'node' and the host name cannot be read (%s); set cluster.node",
		         strerror(errno));
		return;
	}
	h[sizeof(h) - 1] = '\0';
	if (!node_name_ok(h)) {
		conf_err(x, s, "cluster has no 'node' and the host name '%s' is not a valid node name; "
		         "set cluster.node (" NODE_RULE ")", h);
		return;
	}
	cc->node = gtm_xstrdup(h);
}

void conf_section_cluster(ctx_t *x, const config_setting_t *s)
{
	gtm_cluster_conf_t *cc = &x->conf->cluster;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(x, s, "cluster must be a group: cluster = { ... }");
		return;
	}
	/* The defaults were stored without the group; the walk stores them
	 * again, so drop the first copy. */
	free(cc->prefix);
	cc->prefix = NULL;
	cc->enabled = true;
	scope_t sc = { .kind = "cluster", .section = true };
	conf_group_walk(x, s, conf_cluster_keys, cc, &sc);
	if (cc->prefix && cc->prefix[strlen(cc->prefix) - 1] != '/') {
		char *p = gtm_xasprintf("%s/", cc->prefix);
		free(cc->prefix);
		cc->prefix = p;
	}
	if (config_setting_get_member(s, "node") == NULL)
		node_default(x, s, cc);
	if ((cc->cert_file == NULL) != (cc->key_file == NULL))
		conf_err(x, config_setting_get_member(s, cc->cert_file ? "cert_file" : "key_file"),
		         "cluster: cert_file and key_file go together (the client certificate and its key)");
	static const char *const tls_keys[] = { "ca_file", "cert_file", "key_file" };
	for (size_t i = 0; i < 3 && cc->netcd > 0 && !cc->tls; i++) {
		const config_setting_t *k = config_setting_get_member(s, tls_keys[i]);
		if (k)
			conf_err(x, k, "cluster: %s applies to https:// etcd URLs only", tls_keys[i]);
	}
	cc->timeout_ms = conf_secs_ms(cc->timeout_s);
}

void conf_cluster_defaults(gtm_conf_t *c)
{
	gtm_cluster_conf_t *cc = &c->cluster;
	for (const ckey_t *k = conf_cluster_keys; k->name; k++)
		conf_key_default(k, cc);
	cc->timeout_s = 2;
	cc->timeout_ms = conf_secs_ms(cc->timeout_s);
}

void conf_cluster_free(gtm_conf_t *c)
{
	gtm_cluster_conf_t *cc = &c->cluster;
	free(cc->node);
	for (size_t i = 0; i < cc->netcd; i++)
		free(cc->etcd[i]);
	free(cc->etcd);
	free(cc->prefix);
	free(cc->ca_file);
	free(cc->cert_file);
	free(cc->key_file);
}
