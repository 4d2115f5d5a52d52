/*
 * The control socket's server side: a unix stream listener on the control
 * thread's event base, line-framed JSON requests dispatched to registered
 * handlers.  See ctl.h for the protocol.
 *
 * Requests are handled in the read callback, one line after the other,
 * and each reply is queued before the next line is read, so replies keep
 * the order of the requests.  While a client does not read its replies
 * (more than OUT_MAX queued), reading from it pauses.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gtm/ctl/ctl.h"
#include "gtm/ctl/ctl_proto.h"

/* Replies queued for one client before we stop reading its requests. */
#define OUT_MAX (4 * 1024 * 1024)

typedef struct handler {
	char *cmd;
	gtm_ctl_handler_t fn;
	void *arg;
} handler_t;

struct gtm_ctl_defer {
	struct conn *conn;   /* NULL once the connection has gone */
	json_t *id;          /* the request's "id", copied into the reply */
};

typedef struct conn {
	gtm_ctl_t *ctl;
	struct bufferevent *bev;
	gtm_ctl_peer_t peer;
	const json_t *req;          /* the request being handled (for gtm_ctl_defer) */
	gtm_ctl_defer_t *pending;   /* a handler's reply to come; reading waits */
	bool counted;        /* counts towards max_clients */
	bool closing;        /* close once the queued replies are sent */
	struct conn *prev, *next;
} conn_t;

struct gtm_ctl {
	struct event_base *base;
	struct evconnlistener *listener;
	char *path;
	dev_t dev;           /* the socket file we made, so that we remove only it */
	ino_t ino;
	gid_t gid;
	size_t max_line;
	unsigned max_clients;
	unsigned idle_ms;
	unsigned nclients;
	handler_t *handlers;
	size_t nhandlers;
	conn_t *conns;
};

/* ------------------------------------------------------------------------ */
/* Connections */

static void conn_free(conn_t *c)
{
	gtm_ctl_t *ctl = c->ctl;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->counted)
		ctl->nclients--;
	if (c->pending)
		c->pending->conn = NULL;
	bufferevent_free(c->bev);
	free(c);
}

static void send_reply(conn_t *c, json_t *reply)
{
	/* 15 significant digits: 0.333, not 0.33300000000000002 (jansson's
	 * default, 17, shows the binary rounding of every decimal). */
	char *text = json_dumps(reply, JSON_COMPACT | JSON_REAL_PRECISION(15));
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add(out, text, strlen(text));
	evbuffer_add(out, "\n", 1);
	free(text);
}

/* Sends one error reply and closes the connection once it is written. */
static void send_error_close(conn_t *c, const char *msg)
{
	json_t *r = gtm_ctl_error("%s", msg);
	send_reply(c, r);
	json_decref(r);
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

static const handler_t *find_handler(const gtm_ctl_t *ctl, const char *cmd)
{
	for (size_t i = 0; i < ctl->nhandlers; i++)
		if (strcmp(ctl->handlers[i].cmd, cmd) == 0)
			return &ctl->handlers[i];
	return NULL;
}

static void handle_line(conn_t *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *reply = NULL;
	json_t *req = json_loadb(line, len, 0, &jerr);
	if (!json_is_object(req)) {
		reply = req ? gtm_ctl_error("a request must be a JSON object")
		            : gtm_ctl_error("request is not JSON (column %d: %s)", jerr.column, jerr.text);
		goto finish;
	}
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (cmd == NULL) {
		reply = gtm_ctl_error("request has no \"cmd\"");
		goto finish;
	}
	const handler_t *h = find_handler(c->ctl, cmd);
	if (h == NULL) {
		reply = gtm_ctl_error("unknown command \"%s\"", cmd);
		goto finish;
	}
	log_debug("control, %s from uid %u (%s, pid %d)", cmd, (unsigned)c->peer.uid,
	          c->peer.user[0] ? c->peer.user : "no name", (int)c->peer.pid);
	c->req = req;
	reply = h->fn(req, &c->peer, h->arg);
	c->req = NULL;
	if (c->pending && reply == NULL) {
		json_decref(req);
		return;       /* gtm_ctl_complete() sends it */
	}
	if (!json_is_object(reply)) {
		log_err("control, %s, handler gave no reply object", cmd);
		json_decref(reply);
		reply = gtm_ctl_error("internal error in %s", cmd);
	} else if (json_object_get(reply, "ok") == NULL) {
		json_object_set_new(reply, "ok", json_true());
	}
finish:
	if (req && json_is_object(req) && json_object_get(req, "id"))
		json_object_set(reply, "id", json_object_get(req, "id"));
	send_reply(c, reply);
	json_decref(reply);
	json_decref(req);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	conn_t *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	while (!c->closing && !c->pending) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > c->ctl->max_line) {
				char msg[96];
				snprintf(msg, sizeof(msg), "request line too long (limit %zu bytes)",
				         c->ctl->max_line);
				log_warn("control, uid %u (pid %d), %s; disconnected", (unsigned)c->peer.uid,
				         (int)c->peer.pid, msg);
				send_error_close(c, msg);
			}
			break;
		}
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len > c->ctl->max_line) {
			free(line);
			char msg[96];
			snprintf(msg, sizeof(msg), "request line too long (limit %zu bytes)", c->ctl->max_line);
			send_error_close(c, msg);
			break;
		}
		if (len > 0)
			handle_line(c, line, len);
		free(line);
		if (c->pending) {
			bufferevent_disable(bev, EV_READ);
			break;
		}
		if (evbuffer_get_length(out) > OUT_MAX) {
			bufferevent_disable(bev, EV_READ);
			break;
		}
	}
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	conn_t *c = arg;
	/* Called when the output has drained (low watermark 0). */
	if (c->closing) {
		conn_free(c);
		return;
	}
	if (!(bufferevent_get_enabled(bev) & EV_READ) && !c->pending) {
		bufferevent_enable(bev, EV_READ);
		/* Lines already buffered are not announced again by libevent. */
		read_cb(bev, c);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	conn_t *c = arg;
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("control, uid %u (pid %d), idle; disconnected", (unsigned)c->peer.uid,
		          (int)c->peer.pid);
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c);
}

static bool in_group(const gtm_ctl_t *ctl, const gtm_ctl_peer_t *peer, int fd)
{
	if (peer->gid == ctl->gid)
		return true;
#ifdef SO_PEERGROUPS
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (groups[i] == ctl->gid)
				return true;
		return false;
	}
#endif
	/* Without SO_PEERGROUPS (or too many groups), the group database. */
	struct group gr, *res = NULL;
	char buf[8192];
	if (peer->user[0] == '\0' || getgrgid_r(ctl->gid, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	for (char **m = gr.gr_mem; *m; m++)
		if (strcmp(*m, peer->user) == 0)
			return true;
	return false;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	gtm_ctl_t *ctl = arg;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		log_warn("control, no peer credentials (%s); disconnected", strerror(errno));
		evutil_closesocket(fd);
		return;
	}
	conn_t *c = gtm_xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	c->peer.pid = cred.pid;
	c->peer.uid = cred.uid;
	c->peer.gid = cred.gid;
	struct passwd pw, *pres = NULL;
	char buf[1024];
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &pres) == 0 && pres)
		snprintf(c->peer.user, sizeof(c->peer.user), "%s", pres->pw_name);
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	struct timeval tv = { .tv_sec = ctl->idle_ms / 1000, .tv_usec = (ctl->idle_ms % 1000) * 1000 };
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	/* Stop reading past the line limit: the read callback then sees a long
	 * buffer without a newline and answers "too long". */
	bufferevent_setwatermark(c->bev, EV_READ, 0, ctl->max_line + 2);

	log_debug("control, connection from uid %u (%s, pid %d)", (unsigned)cred.uid,
	          c->peer.user[0] ? c->peer.user : "no name", (int)cred.pid);
	if (cred.uid != 0 && cred.uid != geteuid() && !in_group(ctl, &c->peer, fd)) {
		char msg[160];
		struct group gr, *gres = NULL;
		char gbuf[4096];
		const char *gname = getgrgid_r(ctl->gid, &gr, gbuf, sizeof(gbuf), &gres) == 0 && gres
			? gres->gr_name : "?";
		snprintf(msg, sizeof(msg), "permission denied: uid %u is not root, gtmd's user "
		         "or a member of group %s", (unsigned)cred.uid, gname);
		log_warn("control, uid %u (%s, pid %d) refused (not root, gtmd's user or in group %s)",
		         (unsigned)cred.uid, c->peer.user[0] ? c->peer.user : "no name",
		         (int)cred.pid, gname);
		send_error_close(c, msg);
		return;
	}
	if (ctl->nclients >= ctl->max_clients) {
		char msg[96];
		snprintf(msg, sizeof(msg), "too many control clients (limit %u); try again",
		         ctl->max_clients);
		log_warn("control, uid %u (pid %d) refused (%u clients, the limit)",
		         (unsigned)cred.uid, (int)cred.pid, ctl->nclients);
		send_error_close(c, msg);
		return;
	}
	c->counted = true;
	ctl->nclients++;
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ------------------------------------------------------------------------ */
/* The listener */

static int fill_addr(const char *path, struct sockaddr_un *sun, char *err, size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "control socket %s: path too long (limit %zu bytes)", path,
		         sizeof(sun->sun_path) - 1);
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/*
 * Makes room for our socket: nothing there, or a socket nobody listens on
 * (removed).  A live socket or another kind of file is an error.
 */
static int clear_stale(const char *path, const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s: a file that is not a socket is there", path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int e = errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "control socket %s: another process is listening on it "
		         "(is another gtmd running?)", path);
		return -1;
	}
	if (e != ECONNREFUSED && e != ENOENT) {
		snprintf(err, errlen, "control socket %s: cannot tell whether it is in use (%s)",
		         path, strerror(e));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "control socket %s: cannot remove the stale socket (%s)",
		         path, strerror(errno));
		return -1;
	}
	log_warn("control socket %s, stale socket removed (nobody listening)", path);
	return 0;
}

gtm_ctl_t *gtm_ctl_new(struct event_base *base, const gtm_ctl_opts_t *opts,
                       char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd = -1;
	bool bound = false;
	gid_t gid = (gid_t)-1;

	if (opts->path == NULL || opts->path[0] == '\0') {
		snprintf(err, errlen, "control socket: no path");
		return NULL;
	}
	if (fill_addr(opts->path, &sun, err, errlen) != 0)
		return NULL;
	if (opts->group) {
		struct group gr, *res = NULL;
		char buf[8192];
		if (getgrnam_r(opts->group, &gr, buf, sizeof(buf), &res) != 0 || res == NULL) {
			snprintf(err, errlen, "control socket %s: unknown group %s", opts->path, opts->group);
			return NULL;
		}
		gid = res->gr_gid;
	}
	if (clear_stale(opts->path, &sun, err, errlen) != 0)
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket %s: socket: %s", opts->path, strerror(errno));
		goto fail;
	}
	/* Nobody can connect before listen(), so owner and mode are set
	 * before the socket is reachable. */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(err, errlen, "control socket %s: bind: %s", opts->path, strerror(errno));
		goto fail;
	}
	bound = true;
	if (gid != (gid_t)-1 && chown(opts->path, (uid_t)-1, gid) != 0) {
		snprintf(err, errlen, "control socket %s: chown to group %s: %s", opts->path,
		         opts->group, strerror(errno));
		goto fail;
	}
	if (chmod(opts->path, opts->mode ? opts->mode : 0660) != 0) {
		snprintf(err, errlen, "control socket %s: chmod: %s", opts->path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (stat(opts->path, &st) != 0) {
		snprintf(err, errlen, "control socket %s: stat: %s", opts->path, strerror(errno));
		goto fail;
	}
	if (listen(fd, 16) != 0) {
		snprintf(err, errlen, "control socket %s: listen: %s", opts->path, strerror(errno));
		goto fail;
	}

	gtm_ctl_t *ctl = gtm_xcalloc(1, sizeof(*ctl));
	ctl->base = base;
	ctl->path = gtm_xstrdup(opts->path);
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	ctl->gid = st.st_gid;
	ctl->max_line = opts->max_line ? opts->max_line : GTM_CTL_MAX_LINE;
	ctl->max_clients = opts->max_clients ? opts->max_clients : GTM_CTL_MAX_CLIENTS;
	ctl->idle_ms = opts->idle_ms ? opts->idle_ms : GTM_CTL_IDLE_MS;
	ctl->listener = evconnlistener_new(base, accept_cb, ctl,
	                                   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (ctl->listener == NULL) {
		snprintf(err, errlen, "control socket %s: cannot listen (libevent)", opts->path);
		free(ctl->path);
		free(ctl);
		goto fail;
	}
	log_info("control socket %s, listening (mode %04o, group %u)", opts->path,
	         (unsigned)(st.st_mode & 07777), (unsigned)st.st_gid);
	return ctl;
fail:
	if (fd >= 0)
		close(fd);
	if (bound)
		unlink(opts->path);
	return NULL;
}

void gtm_ctl_register(gtm_ctl_t *ctl, const char *cmd, gtm_ctl_handler_t h, void *arg)
{
	for (size_t i = 0; i < ctl->nhandlers; i++)
		if (strcmp(ctl->handlers[i].cmd, cmd) == 0) {
			ctl->handlers[i].fn = h;
			ctl->handlers[i].arg = arg;
			return;
		}
	ctl->handlers = gtm_xgrow(ctl->handlers, ctl->nhandlers, sizeof(*ctl->handlers));
	ctl->handlers[ctl->nhandlers++] = (handler_t){ gtm_xstrdup(cmd), h, arg };
}

void gtm_ctl_free(gtm_ctl_t *ctl)
{
	if (ctl == NULL)
		return;
	while (ctl->conns)
		conn_free(ctl->conns);
	evconnlistener_free(ctl->listener);
	/* Remove the file only if it is still ours. */
	struct stat st;
	if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	for (size_t i = 0; i < ctl->nhandlers; i++)
		free(ctl->handlers[i].cmd);
	free(ctl->handlers);
	free(ctl->path);
	free(ctl);
}

gtm_ctl_defer_t *gtm_ctl_defer(const gtm_ctl_peer_t *peer)
{
	conn_t *c = (conn_t *)((char *)peer - offsetof(conn_t, peer));
	gtm_assert(c->req != NULL && c->pending == NULL);
	gtm_ctl_defer_t *d = gtm_xcalloc(1, sizeof(*d));
	d->conn = c;
	json_t *id = json_object_get(c->req, "id");
	d->id = id ? json_deep_copy(id) : NULL;
	c->pending = d;
	return d;
}

void gtm_ctl_complete(gtm_ctl_defer_t *d, json_t *reply)
{
	conn_t *c = d->conn;
	if (c != NULL) {
		if (!json_is_object(reply)) {
			json_decref(reply);
			reply = gtm_ctl_error("internal error");
		} else if (json_object_get(reply, "ok") == NULL) {
			json_object_set_new(reply, "ok", json_true());
		}
		if (d->id)
			json_object_set(reply, "id", d->id);
		send_reply(c, reply);
		c->pending = NULL;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= OUT_MAX) {
			bufferevent_enable(c->bev, EV_READ);
			read_cb(c->bev, c);   /* requests that came in meanwhile */
		}
	}
	json_decref(reply);
	json_decref(d->id);
	free(d);
}

gid_t gtm_ctl_gid(const gtm_ctl_t *ctl)
{
	return ctl->gid;
}

unsigned gtm_ctl_nclients(const gtm_ctl_t *ctl)
{
	return ctl->nclients;
}
