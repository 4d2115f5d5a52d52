/*
 * Metrics: the control thread's figures, pushed to Graphite (carbon
 * plaintext, TCP or UDP) every interval and, optionally, served in the
 * Prometheus text format on a local HTTP port.
 *
 * The module does not know where figures come from.  The caller registers a
 * collect callback; every interval (and for every Prometheus scrape or
 * snapshot) the module hands it an empty sink and the callback writes the
 * current figures into it:
 *
 *     gtm_metrics_counter(sink, "dns.queries", st.queries);
 *     gtm_metrics_counter(sink, "dns.{rcode}|dns_responses", st.nxdomain, "nxdomain");
 *     gtm_metrics_counter(sink, "site.{site}.answers", n, "bj-a");
 *     gtm_metrics_gauge(sink, "check.{site}.{endpoint}.latency_ms", 12.5, "bj-a", "192.0.2.10");
 *
 * Templates
 * ---------
 * A figure is named by a template: components separated by dots, each a
 * literal ([A-Za-z0-9_-]+) or a placeholder "{label}" ([a-z_][a-z0-9_]*)
 * whose value is the next variadic argument (a string).  An optional
 * "|name" at the end gives the Prometheus family name ([a-z0-9_]+)
 * instead of the default (the literals joined by "_", lower case, '-' as
 * '_').  A malformed template, or a count of values that does not match,
 * is a programming error: log_fatal, like gtm_assert.
 *
 * Graphite: "<prefix>.<host>." then the components, each placeholder
 * replaced by its value escaped: every byte outside [A-Za-z0-9_-] becomes
 * '_' (so "192.0.2.10" -> "192_0_2_10", "www.example.com" ->
 * "www_example_com", "2001:db8::1" -> "2001_db8__1"; "" -> "_").  Dots
 * would split the name into levels, '/' would make directories in
 * whisper's tree, spaces would break the line format and "*?[]{}," are
 * Graphite's wildcards.  The host name is escaped the same way.
 *
 * Prometheus: "gtm_" + family name, "_total" appended for counters; a
 * family name ending in "_ms" is renamed "_seconds" and its
 * values divided by 1000 (Prometheus's base unit; promtool rejects "ms").
 * Labels: host="<host>" first (the host name as configured, not
 * escaped), then the placeholders with their raw (unescaped) values;
 * '\\', '"' and newline escaped as the format wants.  "# HELP" (naming the
 * Graphite path) and "# TYPE" precede each family.  The Graphite prefix is
 * not used: Prometheus names are always gtm_*.
 *
 *     dns.queries                       gtm_dns_queries_total{host="n1"}
 *     dns.{rcode}|dns_responses         gtm_dns_responses_total{host="n1",rcode="nxdomain"}
 *     site.{site}.weight (gauge)        gtm_site_weight{host="n1",site="bj-a"}
 *     check.{site}.{endpoint}.latency_ms  gtm_check_latency_seconds{host="n1",site="bj-a",endpoint="192.0.2.10"}
 *
 * The module adds figures of its own to every collection:
 *     metrics.dropped   (counter) points dropped so far: buffer overflow
 *                       while a carbon server was unreachable, points lost
 *                       with a broken connection, UDP send failures
 *     metrics.buffered  (gauge)   points waiting for a carbon server
 *
 * Carbon
 * ------
 * Each server has its own connection and bounded buffer.  TCP: connects
 * and writes without blocking (bufferevent); while the server is
 * unreachable the newest `buffer` points are kept, the oldest dropped and
 * counted; reconnects with exponential backoff (backoff_min_ms doubling to
 * backoff_max_ms, minus up to a quarter of jitter).  Logged once when the
 * server becomes unreachable, once at the first drop and once on recovery
 * with the count.  UDP: every interval's points in datagrams of at most
 * 1400 bytes; nothing is buffered, a failed send counts its points as
 * dropped.  Host names are resolved with evdns (hosts file, then
 * resolv.conf's servers); a name's addresses are tried in turn, then it is
 * resolved again.
 *
 * Collections are aligned to wall-clock multiples of the interval and
 * stamped with that second, so that each point lands in its own whisper
 * slot.
 *
 * Threads: every function here runs on the control thread (the thread that
 * runs `base`), except the conf, sink, template and queue helpers, which
 * touch nothing shared.  Nothing here ever blocks, except
 * gtm_metrics_flush (bounded by its timeout).
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/diag.h"

struct event_base;
struct evbuffer;

/* ------------------------------------------------------------ config */

typedef enum gtm_carbon_proto {
	GTM_CARBON_TCP = 0,
	GTM_CARBON_UDP,
} gtm_carbon_proto_t;

typedef struct gtm_carbon_conf {
	char *host;          /* address or name; owned */
	uint16_t port;       /* default 2003 */
	gtm_carbon_proto_t protocol;
	int line;            /* where the server is declared, 0 if unknown */
} gtm_carbon_conf_t;

#define GTM_METRICS_DEFAULT_PREFIX "gtm"
#define GTM_METRICS_DEFAULT_INTERVAL 10          /* seconds */
#define GTM_METRICS_DEFAULT_BUFFER 100000        /* points per carbon server */
#define GTM_METRICS_MAX_BUFFER 10000000
#define GTM_METRICS_MAX_INTERVAL 3600
#define GTM_METRICS_DEFAULT_PROM_PORT 9153
#define GTM_METRICS_BACKOFF_MIN_MS 1000
#define GTM_METRICS_BACKOFF_MAX_MS 60000

/*
 * The `metrics` group.  Strings are owned (gtm_xstrdup'd) and freed by
 * gtm_metrics_conf_clear.
 */
typedef struct gtm_metrics_conf {
	gtm_carbon_conf_t *carbon;  /* graphite servers; none: no pushing */
	size_t ncarbon;
	char *prefix;        /* dotted, each component [A-Za-z0-9_-]+; default "gtm" */
	char *hostname;      /* NULL: gethostname(); escaped like a component */
	uint32_t interval;   /* seconds, 1..3600; default 10 */
	uint32_t buffer;     /* points kept per server while it is down, 0..1e7 */
	char *prometheus;    /* "127.0.0.1:9153", "[::1]:9153", "127.0.0.1"; NULL: off */
	uint32_t backoff_min_ms;  /* not in the config file; 1000 */
	uint32_t backoff_max_ms;  /* not in the config file; 60000 */
} gtm_metrics_conf_t;

/* Fills the defaults (no servers, prometheus off). */
void gtm_metrics_conf_init(gtm_metrics_conf_t *c);

/* Frees the strings and servers; leaves `c` initialised to the defaults. */
void gtm_metrics_conf_clear(gtm_metrics_conf_t *c);

/* Adds a server (host copied); returns it for the caller to set `line`. */
gtm_carbon_conf_t *gtm_metrics_conf_add_carbon(gtm_metrics_conf_t *c, const char *host,
                                               uint16_t port, gtm_carbon_proto_t proto);

/* "tcp" / "udp" -> proto; negative GTM_EINVAL for anything else. */
int gtm_carbon_proto_parse(const char *s, gtm_carbon_proto_t *proto);

/*
 * Checks every field and cross-field rule; adds one "file:line: metrics..."
 * message per problem to `diag` (a server's own line when it has one,
 * `line` otherwise).  Returns 0 or GTM_EINVAL.
 */
int gtm_metrics_conf_check(const gtm_metrics_conf_t *c, const char *file, int line,
                           gtm_diag_t *diag);

/* True when a and b configure the same thing (a reload may keep the module
 * and its buffers when nothing changed). */
bool gtm_metrics_conf_same(const gtm_metrics_conf_t *a, const gtm_metrics_conf_t *b);

/*
 * "ADDR:PORT", "[ADDR6]:PORT" or a bare address (port 9153) -> numeric
 * address and port.  `addr` gets the address without brackets.  Returns 0
 * or GTM_EINVAL.
 */
int gtm_metrics_listen_parse(const char *s, char *addr, size_t addrlen, uint16_t *port);

/* ------------------------------------------------------------ sink */

typedef enum gtm_metric_kind {
	GTM_METRIC_COUNTER = 0,   /* only grows (until gtmd restarts) */
	GTM_METRIC_GAUGE,
} gtm_metric_kind_t;

typedef struct gtm_metrics_sink gtm_metrics_sink_t;

/*
 * An empty sink for figures taken at `ts`; prefix and host are copied
 * (host is the raw name: escaped for Graphite paths, as is for the
 * Prometheus label).  The module makes these; tests and tools may too.
 */
gtm_metrics_sink_t *gtm_metrics_sink_new(const char *prefix, const char *host, time_t ts);
void gtm_metrics_sink_free(gtm_metrics_sink_t *s);

/* The second the figures are for. */
time_t gtm_metrics_sink_time(const gtm_metrics_sink_t *s);

/* Number of figures. */
size_t gtm_metrics_sink_count(const gtm_metrics_sink_t *s);

/*
 * Adds a figure; the template's placeholders take the variadic string
 * arguments in order (exactly as many).  Everything is copied.  A gauge
 * that is not finite (NaN, infinity) is left out.
 */
void gtm_metrics_counter(gtm_metrics_sink_t *s, const char *tmpl, uint64_t value, ...);
void gtm_metrics_gauge(gtm_metrics_sink_t *s, const char *tmpl, double value, ...);
/* The same with the label values in an array of `nlabels`. */
void gtm_metrics_counterv(gtm_metrics_sink_t *s, const char *tmpl, uint64_t value,
                          const char *const *labels, size_t nlabels);
void gtm_metrics_gaugev(gtm_metrics_sink_t *s, const char *tmpl, double value,
                        const char *const *labels, size_t nlabels);

/* At most this many placeholders in a template. */
#define GTM_METRICS_MAX_LABELS 4

/* One figure, as stored (read with gtm_metrics_sink_get). */
typedef struct gtm_metric {
	gtm_metric_kind_t kind;
	uint64_t count;       /* a counter's value */
	double value;         /* a gauge's value (a counter's too, as a double) */
	const char *path;     /* Graphite path below prefix.host, escaped: "site.bj-a.answers" */
	const char *shape;    /* the template's path with "<label>" placeholders: "site.<site>.answers" */
	const char *family;   /* Prometheus name: "gtm_site_answers_total" */
	double prom_scale;    /* 1, or 0.001 for a "_ms" family shown in seconds */
	size_t nlabels;
	const char *label_names[GTM_METRICS_MAX_LABELS];
	const char *label_values[GTM_METRICS_MAX_LABELS];  /* raw, unescaped */
} gtm_metric_t;

/* Figure `i` (0 <= i < count), in the order they were put; borrowed from
 * the sink. */
const gtm_metric_t *gtm_metrics_sink_get(const gtm_metrics_sink_t *s, size_t i);

/* The host name as given (raw) and escaped for Graphite. */
const char *gtm_metrics_sink_host(const gtm_metrics_sink_t *s);

typedef enum gtm_metrics_format {
	GTM_METRICS_GRAPHITE = 0, /* "prefix.host.path value ts\n" per figure */
	GTM_METRICS_TEXT,         /* "path value\n" (path below prefix.host), for gtmctl stats */
	GTM_METRICS_JSON,         /* {"host":..,"time":..,"metrics":[{"path","type","value","labels"}]} */
	GTM_METRICS_PROMETHEUS,   /* text exposition format 0.0.4 */
} gtm_metrics_format_t;

/* Renders the figures; a NUL-terminated string the caller frees, its
 * length in *len (if len is not NULL). */
char *gtm_metrics_sink_render(const gtm_metrics_sink_t *s, gtm_metrics_format_t fmt, size_t *len);

/* ------------------------------------------------------------ names */

/*
 * Escapes one path component (see Templates) into buf.  Returns the
 * length, or GTM_ESPACE when it does not fit (buf is then truncated, still
 * NUL-terminated).
 */
int gtm_metrics_escape(char *buf, size_t len, const char *component);

/*
 * Joins `n` components with dots, each escaped: {"check", "bj-a",
 * "192.0.2.10", "up"} -> "check.bj-a.192_0_2_10.up".  Returns the length
 * or GTM_ESPACE.
 */
int gtm_metrics_path(char *buf, size_t len, const char *const *components, size_t n);

/* Number of placeholders in a template, or GTM_EINVAL when malformed. */
int gtm_metrics_template_check(const char *tmpl);

/* ------------------------------------------------------------ buffer */

/*
 * The bounded point queue of one carbon server: whole lines, the newest
 * `cap` kept.  Exposed for tests.
 */
typedef struct gtm_metrics_queue gtm_metrics_queue_t;

gtm_metrics_queue_t *gtm_metrics_queue_new(size_t cap);
void gtm_metrics_queue_free(gtm_metrics_queue_t *q);
/* Appends one point (a line with its '\n'); when full, drops the oldest
 * first.  Returns the number of points dropped (0 or 1; 1 when cap is 0). */
size_t gtm_metrics_queue_push(gtm_metrics_queue_t *q, const char *line, size_t len);
/* Moves whole points, oldest first, into `out` until `max_bytes` would be
 * exceeded (at least one point when any).  Returns the points moved. */
size_t gtm_metrics_queue_pop(gtm_metrics_queue_t *q, struct evbuffer *out, size_t max_bytes);
size_t gtm_metrics_queue_count(const gtm_metrics_queue_t *q);
size_t gtm_metrics_queue_bytes(const gtm_metrics_queue_t *q);
uint64_t gtm_metrics_queue_dropped(const gtm_metrics_queue_t *q);

/*
 * The delay before reconnection attempt `attempt` (0 = the first after a
 * failure): min_ms doubled `attempt` times, capped at max_ms, minus
 * (rnd % (d/4 + 1)) of jitter.  So always in [0.75 d, d].
 */
uint32_t gtm_metrics_backoff_ms(unsigned attempt, uint32_t min_ms, uint32_t max_ms, uint32_t rnd);

/* ------------------------------------------------------------ module */

typedef struct gtm_metrics gtm_metrics_t;

/* Writes the current figures into `sink`.  Called on the control thread,
 * every interval and for every scrape, snapshot and flush. */
typedef void (*gtm_metrics_collect_cb_t)(gtm_metrics_sink_t *sink, void *arg);

/*
 * Starts the module on `base`: connects to the carbon servers, arms the
 * interval timer, and listens for Prometheus if configured.  `conf` must
 * have passed gtm_metrics_conf_check; it is copied (the caller may free
 * it).  `collect` and `arg` are borrowed until gtm_metrics_free.  Returns
 * NULL, with the reason logged, when the Prometheus address cannot be
 * bound or the hostname cannot be found.
 */
gtm_metrics_t *gtm_metrics_new(struct event_base *base, const gtm_metrics_conf_t *conf,
                               gtm_metrics_collect_cb_t collect, void *arg);

/* Closes everything; buffered points are lost (call gtm_metrics_flush
 * first).  NULL is a no-op. */
void gtm_metrics_free(gtm_metrics_t *m);

/*
 * For shutdown: collects once more and writes every buffered point to the
 * carbon servers that are connected, waiting at most `timeout_ms` in all
 * (poll() on the sockets: the event loop need not run).  Returns the
 * number of points left unsent.
 */
size_t gtm_metrics_flush(gtm_metrics_t *m, int timeout_ms);

/*
 * Collects now and renders the figures (for gtmctl stats, --json and the
 * Prometheus scrape).  The caller frees the string.
 */
char *gtm_metrics_snapshot(gtm_metrics_t *m, gtm_metrics_format_t fmt, size_t *len);

/* The escaped host name used in the paths. */
const char *gtm_metrics_host(const gtm_metrics_t *m);

/* Totals over the carbon servers (also reported as metrics.*). */
uint64_t gtm_metrics_dropped(const gtm_metrics_t *m);
size_t gtm_metrics_buffered(const gtm_metrics_t *m);

/* The Prometheus listener's bound port (useful with port 0), 0 when off. */
uint16_t gtm_metrics_prometheus_port(const gtm_metrics_t *m);
