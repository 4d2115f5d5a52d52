/*
 * tcp probe: the target is up when a TCP connect completes within the
 * timeout.  The socket is then closed with a reset (SO_LINGER 0), as
 * HAProxy does for connect-only checks: neither side keeps a TIME_WAIT
 * entry for every probe, which matters at thousands of probes a second.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks/check_tcp.h"
#include "common/alloc.h"

struct chk_connect {
	chk_target_t *t;
	int fd;
	struct event *ev;
	chk_connect_cb_t cb;
	void *arg;
};

chk_reason_t chk_errno_reason(int err)
{
	switch (err) {
	case 0: return CHK_OK;
	case ECONNREFUSED: return CHK_FAIL_CONNECT_REFUSED;
	case ETIMEDOUT: return CHK_FAIL_TIMEOUT;
	default: return CHK_FAIL_CONNECT;
	}
}

int chk_socket(const chk_target_t *t, int type)
{
	int fd = socket(t->sa.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (t->srclen && bind(fd, (const struct sockaddr *)&t->src, t->srclen) != 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
	chk_connect_t *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	chk_target_t *t = c->t;
	chk_connect_cb_t cb = c->cb;
	void *cb_arg = c->arg;
	int sock = c->fd;
	event_free(c->ev);
	free(c);
	if (err != 0) {
		close(sock);
		cb(t, -1, chk_errno_reason(err), cb_arg);
	} else {
		cb(t, sock, CHK_OK, cb_arg);
	}
}

chk_reason_t chk_connect_start(chk_target_t *t, chk_connect_cb_t cb, void *arg, chk_connect_t **out)
{
	*out = NULL;
	int fd = chk_socket(t, SOCK_STREAM);
	if (fd < 0)
		return CHK_FAIL_CONNECT;
	if (connect(fd, (const struct sockaddr *)&t->sa, t->salen) != 0 && errno != EINPROGRESS) {
		chk_reason_t r = chk_errno_reason(errno);
		close(fd);
		return r;
	}
	/* Even an immediate success is reported through the event, so that
	 * the caller sees one path. */
	chk_connect_t *c = gtm_xcalloc(1, sizeof(*c));
	c->t = t;
	c->fd = fd;
	c->cb = cb;
	c->arg = arg;
	c->ev = event_new(chk_engine_base(t->engine), fd, EV_WRITE, on_connect, c);
	event_add(c->ev, NULL);
	*out = c;
	return CHK_OK;
}

void chk_connect_cancel(chk_connect_t *c)
{
	if (c == NULL)
		return;
	event_free(c->ev);
	close(c->fd);
	free(c);
}

static void close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void tcp_connected(chk_target_t *t, int fd, chk_reason_t reason, void *arg)
{
	t->probe = NULL;
	if (fd >= 0)
		close_reset(fd);
	chk_done(t, reason);
}

void chk_tcp_start(chk_target_t *t)
{
	chk_connect_t *c;
	chk_reason_t r = chk_connect_start(t, tcp_connected, NULL, &c);
	if (r != CHK_OK) {
		chk_done(t, r);
		return;
	}
	t->probe = c;
}

static void tcp_cancel(chk_target_t *t)
{
	chk_connect_cancel(t->probe);
	t->probe = NULL;
}

const chk_ops_t chk_tcp_ops = {
	.name = "tcp",
	.start = chk_tcp_start,
	.cancel = tcp_cancel,
};
