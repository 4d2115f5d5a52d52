/*
 * The control socket: gtmd's side of gtmctl.
 *
 * A unix stream socket (no network listener), served on the control
 * thread's libevent base.  A client sends requests, one JSON object per
 * line ('\n'); each gets one JSON object per line back, in order, so a
 * client may pipeline several requests on one connection.  A line longer
 * than the limit (default GTM_CTL_MAX_LINE) gets an error reply and the
 * connection is closed; so is a connection beyond the client cap (default
 * GTM_CTL_MAX_CLIENTS), at once, with an error reply.  An idle connection
 * is closed after GTM_CTL_IDLE_MS.
 *
 * Who may talk: the peer's credentials (SO_PEERCRED, and SO_PEERGROUPS for
 * its supplementary groups) are read at accept.  Root, gtmd's own user
 * and members of the socket's group are served; anyone else gets one
 * error reply and is disconnected.  The socket file's mode (default 0660)
 * and group make the same rule in the file system.
 *
 * ---------------------------------------------------------------------
 * Protocol
 * ---------------------------------------------------------------------
 * Request: {"cmd": NAME, ...arguments}.  An optional "id" (any JSON value)
 * is copied into the reply.  Unknown keys are ignored.
 *
 * Reply: {"ok": true, ...} or {"ok": false, "error": "one line"} and, when
 * an action is refused by the safety rules, "refused": true.  Errors the
 * socket layer itself gives: a line that is not a JSON object, no "cmd",
 * an unknown command, a line too long, too many clients, permission
 * denied.
 *
 * Times are milliseconds since the Unix epoch; durations in requests are
 * seconds (a JSON number, may be fractional).  Shares and factors are
 * fractions 0..1.
 *
 * Actions (the handlers call gtm_admin_action_from_json() and
 * gtm_admin_result_json(), gtm/core/admin.h).  "site" (or "city") may be
 * an array of names: one atomic change of them all (one safety check, one
 * history append, one publish; any unknown name refuses the whole):
 *   {"cmd":"drain","site":S,"ramp":30,"steps":5,"reason":R,"force":false,"dry_run":false}
 *   {"cmd":"undrain","site":S, reason/force/dry_run}
 *   {"cmd":"evacuate","city":C, ...}      {"cmd":"restore","city":C, ...}
 *   {"cmd":"promote","city":C,"service":N (absent: every global service), ...}
 *   {"cmd":"activate","site":S, ...}      {"cmd":"deactivate","site":S, ...}
 *   {"cmd":"pause","site":S, ...}         {"cmd":"resume","site":S, ...}
 *   {"cmd":"disable","service":N,"address":A,"forced":bool (forced down), ...}
 *   {"cmd":"enable","service":N,"address":A,"forced":bool (forced up), ...}
 *   reply {"ok":true,"changed":bool,"dry_run":bool,"message":"site bj-a: admin
 *          active -> draining (ramp 30 s in 5 steps)",
 *          "changes":[{"object":"site","name":"bj-a","field":"admin",
 *                      "old":"active","new":"draining"}],
 *          "answers":[{"service":"www.example.com","city":"beijing",
 *                      "before":[{"site":"bj-a","share":0.5},{"site":"bj-b","share":0.5}],
 *                      "after":[{"site":"bj-b","share":1.0}]}]}
 *   "answers" lists only the (service, client city) pairs whose answer
 *   changes (for a ramp: where the ramp ends; "city" is absent for a service
 *   with one answer for every client).  Each side is where those clients are
 *   answered (gtm/core/reach.h): the shares of their city's choice, or with
 *   "before_to"/"after_to":C of the city they spill to, or with
 *   "before_last_resort"/"after_last_resort":"open"|"closed"|"address" the
 *   last resort (for "open" the shares are the fallback's sites).  A refused
 *   dry run ("ok":false,"refused":true) carries "changes" and "answers" too.  At scale it is cut: it holds the
 *   first 20 entries (GTM_CTL_ANSWERS_SHOWN) unless the request has
 *   "full":true, and every reply with "answers" also has
 *   "answers_summary":{"total":n (entries in all),"services":n (services
 *     with one),"shown":n (in "answers"),"truncated":bool,
 *     "sites":[{"site","city","leaves":n,"joins":n}] (entries where the
 *       site's share falls / rises; sites with neither are left out),
 *     "cities":[{"city","answers":n}] (entries for clients of the city)}.
 *   refused: {"ok":false,"refused":true,"error":"drain refused: service
 *             www.example.com would have no serving site (--force overrides)"}
 *   Cluster mode (gtm/cluster/cluster.h): an action may carry "if_revision":N (refused
 *   unless the shared admin state is at revision N); the reply comes once etcd
 *   has the change and adds "revision"; a change that lost a race is
 *   {"ok":false,"conflict":true,"error":"conflict: ..."}; etcd unreachable is
 *   {"ok":false,"error":"etcd is unreachable (...): nothing was changed ..."}.
 *
 * Queries:
 *   {"cmd":"status","service":N (optional),"site":S (optional),"endpoints":bool} ->
 *     with "service": that service, its sites and their cities; with "site":
 *     that site, its city and the services that have it (an unknown name is
 *     an error); without: everything.  {"ok":true,"time":ms,
 *     "sites":[{"name","city","role","health":"up"|"down"|"partial"|"unknown",
 *               "endpoints_up":n,"endpoints":n,"admin":"active"|"draining"|"drained",
 *               "activated":bool,"factor":0.6,"weight":100,
 *               "weight_now":60 (gtm_admin_site_weight_now: the metric site.S.weight),
 *               "note":"cold standby, not activated"|"city evacuated" (weight 0),
 *               "share":0.31 (of the steered answers of the last minute),
 *               "ramp":{"step":2,"steps":5,"next":ms,"end":ms,"paused":bool,
 *                       "pause_reason":R},
 *               "since":ms,"reason":R,"user":U,"uid":n}],
 *     "cities":[{"name","evacuated":bool,"since","reason","user","uid"}],
 *     "services":[{"name","policy","master" (global only: the effective master),
 *                  "promoted":bool, "state":"normal"|"degraded"|"failopen"|
 *                  "failclosed"|"lastresort" (at the last resort: what is answered)}],
 *     with "endpoints":true: "endpoints":[{"service","site","address","used":"up"|"down",
 *                  "check":name|null (no check: always up),"probe":"addr:port",
 *                  "state","voted" (own probes; the vote in a cluster),"last_result",
 *                  "change_reason","latency_ms","probes","failures","since":ms,
 *                  "for_ms","observers":{node:state}}] (the filters apply),
 *     "controller":{"auto_per_hour":6 (0: no limit),"auto_used":n (in the last
 *                   hour),"auto_left":n,"suppressed":[{"city":C,"services":n}]
 *                   (failovers the budget holds back now: those cities keep
 *                   their clients)},
 *     cluster mode only: "cluster":{gtm_cluster_status_json()} and in each site
 *     "observers":{"gtm1":"up"|"down"|"partial"|"unknown",...} (each node's view)}
 *   {"cmd":"explain","name":N,"client":IP,"ecs":"1.2.3.0/24" (optional)} ->
 *     {"ok":true,"name","client","ecs",
 *      "location":{"country","continent","subdivision","lat","lon","network"},
 *      "located_by":"ecs"|"client"|"none","region":"how the order was chosen, scope /N",
 *      "scope":N (the served prefix tree's: what the answers carry, before the
 *                 source prefix caps it), "location.network" the database's network,
 *      "order":[city...],
 *      "answered_by":{"kind":"choice"|"last_resort","city":C (the city whose choice
 *                     answers this client: its own, or where it spills)},
 *      "candidates":[{"city","site","health","admin","factor","weight","serving":bool,
 *                     "why":"evacuated"|...}],
 *      "answer":{"rcode":"NOERROR","ttl":30,"scope":24,"records":["192.0.2.1"]}}
 *   {"cmd":"history","limit":20 (0: all)} -> {"ok":true,"entries":[history records,
 *     oldest first: {"time","op","object","name","field","old","new",
 *     "reason","uid","user","auto","force", and for automatic changes
 *     "detect_ms","publish_ms"}]}
 *   {"cmd":"reload"} -> {"ok":true,"message":"…"} or
 *     {"ok":false,"error":"reload failed, the running configuration keeps serving",
 *      "errors":["file:line: message",...]}
 *   {"cmd":"stats"} -> {"ok":true, any nested objects of numbers/strings};
 *     gtmctl prints them flattened ("dns.queries  12345").
 * ---------------------------------------------------------------------
 *
 * Every function runs on the control thread (the one running `base`).
 */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "gtm/ctl/ctl_proto.h"   /* GTM_CTL_MAX_LINE, GTM_CTL_DEFAULT_SOCKET */

#define GTM_CTL_MAX_CLIENTS 16
#define GTM_CTL_IDLE_MS 60000

typedef struct gtm_ctl gtm_ctl_t;

/* The peer of a connection, read at accept. */
typedef struct gtm_ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char user[64];   /* the uid's name, or "" when it has none */
} gtm_ctl_peer_t;

/*
 * A command handler: `req` is the request (a JSON object with a string
 * "cmd"; borrowed), `peer` who sent it.  Returns the reply, a new
 * reference (a JSON object; "ok":true is added when it has no "ok"), or
 * NULL for an internal error reply.  Runs on the control thread and may
 * take as long as it needs (the other clients wait).
 */
typedef json_t *(*gtm_ctl_handler_t)(const json_t *req, const gtm_ctl_peer_t *peer, void *arg);

typedef struct gtm_ctl_opts {
	const char *path;      /* required */
	mode_t mode;           /* 0: 0660 */
	const char *group;     /* the socket's group by name; NULL: gtmd's */
	size_t max_line;       /* 0: GTM_CTL_MAX_LINE */
	unsigned max_clients;  /* 0: GTM_CTL_MAX_CLIENTS */
	unsigned idle_ms;      /* 0: GTM_CTL_IDLE_MS */
} gtm_ctl_opts_t;

/*
 * Creates the socket at opts->path and starts serving it on `base`.  A
 * file already there is replaced when it is a socket nobody listens on (a
 * crashed gtmd's); a live one (another gtmd) or a file that is not a
 * socket is an error.  Returns the server, or NULL with a message in
 * `err` ("control socket /run/gtm/gtmd.sock: another process is
 * listening on it").
 */
gtm_ctl_t *gtm_ctl_new(struct event_base *base, const gtm_ctl_opts_t *opts,
                       char *err, size_t errlen);

/*
 * Routes `cmd` to `h` (with `arg`).  Registering a name again replaces the
 * handler.  `cmd` is copied.
 */
void gtm_ctl_register(gtm_ctl_t *ctl, const char *cmd, gtm_ctl_handler_t h, void *arg);

/*
 * A reply that comes later (an action that must reach etcd first).  A
 * handler calls gtm_ctl_defer(peer) with the peer it was given and returns
 * NULL; the connection reads no further request until the handler's code
 * calls gtm_ctl_complete() with the reply (takes ownership; "ok" and the
 * request's "id" are added as for a direct reply).  Complete every defer
 * exactly once: when the client has gone meanwhile, or the server was
 * freed, it only frees.
 */
typedef struct gtm_ctl_defer gtm_ctl_defer_t;
gtm_ctl_defer_t *gtm_ctl_defer(const gtm_ctl_peer_t *peer);
void gtm_ctl_complete(gtm_ctl_defer_t *d, json_t *reply);

/* Closes every connection and the listener and removes the socket file.
 * NULL is a no-op. */
void gtm_ctl_free(gtm_ctl_t *ctl);

/* The socket's group id (for logs and tests). */
gid_t gtm_ctl_gid(const gtm_ctl_t *ctl);

/* Connections open now. */
unsigned gtm_ctl_nclients(const gtm_ctl_t *ctl);
