/* dns probe; see check_dns.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks/check_dns.h"
#include "checks/check_tcp.h"
#include "common/alloc.h"
#include "common/errcode.h"

/* ---- wire --------------------------------------------------------------- */

int chk_dns_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *qname, uint16_t qtype)
{
	if (cap < 12 + 1 + 4)
		return GTM_ESPACE;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[5] = 1;   /* QDCOUNT */
	size_t o = 12;
	const char *s = qname;
	if (strcmp(s, ".") == 0)
		s = "";
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (n == 0 || n > 63)
			return GTM_EINVAL;
		if (o + 1 + n + 1 + 4 > cap || o + 1 + n + 1 - 12 > 255)
			return GTM_ESPACE;
		buf[o++] = (uint8_t)n;
		memcpy(buf + o, s, n);
		o += n;
		s += n;
		if (*s == '.')
			s++;
	}
	buf[o++] = 0;
	buf[o++] = (uint8_t)(qtype >> 8);
	buf[o++] = (uint8_t)qtype;
	buf[o++] = 0;
	buf[o++] = 1;  /* IN */
	return (int)o;
}

/* Skips a possibly compressed name at *off; 0 or -1. */
static int skip_name(const uint8_t *p, size_t len, size_t *off)
{
	size_t o = *off;
	for (int guard = 0; guard < 128; guard++) {
		if (o >= len)
			return -1;
		uint8_t c = p[o];
		if (c == 0) {
			*off = o + 1;
			return 0;
		}
		if ((c & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -1;
			*off = o + 2;
			return 0;
		}
		if (c & 0xc0)
			return -1;
		o += 1 + c;
	}
	return -1;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool same_question(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return false;
	}
	return true;
}

int chk_dns_response_check(const uint8_t *resp, size_t len, const uint8_t *query, size_t qlen,
                           uint8_t rcode, const uint8_t *addr, size_t addr_len)
{
	if (len < 12)
		return CHK_FAIL_PROTOCOL;
	if (resp[0] != query[0] || resp[1] != query[1])
		return CHK_DNS_IGNORE;
	if (!(resp[2] & 0x80) || (resp[2] & 0x78) != 0)   /* QR, opcode QUERY */
		return CHK_FAIL_PROTOCOL;
	/* Servers echo the question except for some error replies (FORMERR
	 * may carry none); when present it must be ours. */
	size_t off = 12;
	uint16_t qd = rd16(resp + 4);
	if (qd == 1) {
		size_t ql = qlen - 12;
		if (len < 12 + ql || !same_question(resp + 12, query + 12, ql))
			return CHK_DNS_IGNORE;
		off = 12 + ql;
	} else if (qd != 0) {
		return CHK_FAIL_PROTOCOL;
	}
	if ((resp[3] & 0x0f) != rcode)
		return CHK_FAIL_DNS_RCODE;
	if (addr == NULL)
		return CHK_OK;
	uint16_t an = rd16(resp + 6);
	uint16_t want = addr_len == 4 ? 1 : 28;
	for (uint16_t i = 0; i < an; i++) {
		if (skip_name(resp, len, &off) != 0 || off + 10 > len)
			return CHK_FAIL_PROTOCOL;
		uint16_t type = rd16(resp + off), cls = rd16(resp + off + 2);
		uint16_t rdlen = rd16(resp + off + 8);
		off += 10;
		if (off + rdlen > len)
			return CHK_FAIL_PROTOCOL;
		if (type == want && cls == 1 && rdlen == addr_len && memcmp(resp + off, addr, addr_len) == 0)
			return CHK_OK;
		off += rdlen;
	}
	return CHK_FAIL_DNS_ANSWER;
}

/* ---- probe -------------------------------------------------------------- */

typedef struct dns_prep {
	uint8_t query[300];
	size_t qlen;
	uint8_t addr[16];
	size_t addr_len;     /* 0: any answer */
} dns_prep_t;

typedef struct dns_probe {
	int fd;                       /* UDP */
	struct event *ev;
	chk_connect_t *conn;          /* TCP */
	struct bufferevent *bev;
	uint8_t query[300];
} dns_probe_t;

static int dns_prepare(chk_target_t *t)
{
	dns_prep_t *dp = gtm_xcalloc(1, sizeof(*dp));
	t->prep = dp;
	int n = chk_dns_query_build(dp->query, sizeof(dp->query), 0, t->p.dns.qname, t->p.dns.qtype);
	if (n < 0)
		return GTM_EINVAL;
	dp->qlen = (size_t)n;
	if (t->p.dns.answer) {
		if (inet_pton(AF_INET, t->p.dns.answer, dp->addr) == 1)
			dp->addr_len = 4;
		else if (inet_pton(AF_INET6, t->p.dns.answer, dp->addr) == 1)
			dp->addr_len = 16;
		else
			return GTM_EINVAL;
	}
	return 0;
}

static void dns_free(chk_target_t *t)
{
	free(t->prep);
	t->prep = NULL;
}

static void probe_free(dns_probe_t *pr)
{
	if (pr->ev)
		event_free(pr->ev);
	if (pr->fd >= 0)
		close(pr->fd);
	chk_connect_cancel(pr->conn);
	if (pr->bev)
		bufferevent_free(pr->bev);
	free(pr);
}

static void finish(chk_target_t *t, chk_reason_t r)
{
	dns_probe_t *pr = t->probe;
	t->probe = NULL;
	probe_free(pr);
	chk_done(t, r);
}

static int judge(chk_target_t *t, const uint8_t *resp, size_t len)
{
	dns_prep_t *dp = t->prep;
	dns_probe_t *pr = t->probe;
	return chk_dns_response_check(resp, len, pr->query, dp->qlen, t->p.dns.rcode,
	                              dp->addr_len ? dp->addr : NULL, dp->addr_len);
}

static void on_udp_read(evutil_socket_t fd, short what, void *arg)
{
	chk_target_t *t = arg;
	uint8_t buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			finish(t, chk_errno_reason(errno));
			return;
		}
		int r = judge(t, buf, (size_t)n);
		if (r != CHK_DNS_IGNORE) {
			finish(t, (chk_reason_t)r);
			return;
		}
	}
}

static void on_tcp_read(struct bufferevent *bev, void *arg)
{
	chk_target_t *t = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t have = evbuffer_get_length(in);
	if (have < 2)
		return;
	uint8_t *p = evbuffer_pullup(in, 2);
	size_t need = (size_t)p[0] << 8 | p[1];
	if (have < 2 + need)
		return;
	p = evbuffer_pullup(in, (ssize_t)(2 + need));
	int r = judge(t, p + 2, need);
	finish(t, r == CHK_DNS_IGNORE ? CHK_FAIL_PROTOCOL : (chk_reason_t)r);
}

static void on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	chk_target_t *t = arg;
	if (what & BEV_EVENT_ERROR)
		finish(t, chk_errno_reason(EVUTIL_SOCKET_ERROR()) == CHK_FAIL_CONNECT_REFUSED
		              ? CHK_FAIL_CONNECT_REFUSED : CHK_FAIL_PROTOCOL);
	else
		finish(t, CHK_FAIL_PROTOCOL);   /* EOF before a whole reply */
}

static void on_tcp_connected(chk_target_t *t, int fd, chk_reason_t reason, void *arg)
{
	dns_probe_t *pr = t->probe;
	dns_prep_t *dp = t->prep;
	pr->conn = NULL;
	if (fd < 0) {
		finish(t, reason);
		return;
	}
	pr->bev = bufferevent_socket_new(chk_engine_base(t->engine), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(pr->bev, on_tcp_read, NULL, on_tcp_event, t);
	uint8_t len[2] = { (uint8_t)(dp->qlen >> 8), (uint8_t)dp->qlen };
	bufferevent_write(pr->bev, len, 2);
	bufferevent_write(pr->bev, pr->query, dp->qlen);
	bufferevent_enable(pr->bev, EV_READ | EV_WRITE);
}

void chk_dns_start(chk_target_t *t)
{
	dns_prep_t *dp = t->prep;
	dns_probe_t *pr = gtm_xcalloc(1, sizeof(*pr));
	pr->fd = -1;
	memcpy(pr->query, dp->query, dp->qlen);
	uint32_t id = chk_engine_random(t->engine);
	pr->query[0] = (uint8_t)(id >> 8);
	pr->query[1] = (uint8_t)id;
	t->probe = pr;
	if (t->p.dns.tcp) {
		chk_reason_t r = chk_connect_start(t, on_tcp_connected, NULL, &pr->conn);
		if (r != CHK_OK)
			finish(t, r);
		return;
	}
	pr->fd = chk_socket(t, SOCK_DGRAM);
	if (pr->fd < 0) {
		finish(t, CHK_FAIL_CONNECT);
		return;
	}
	/* A connected UDP socket receives only the target's datagrams and
	 * reports its ICMP port unreachable as ECONNREFUSED. */
	if (connect(pr->fd, (const struct sockaddr *)&t->sa, t->salen) != 0 ||
	    send(pr->fd, pr->query, dp->qlen, 0) != (ssize_t)dp->qlen) {
		finish(t, chk_errno_reason(errno) == CHK_FAIL_CONNECT_REFUSED ? CHK_FAIL_CONNECT_REFUSED
		                                                               : CHK_FAIL_CONNECT);
		return;
	}
	pr->ev = event_new(chk_engine_base(t->engine), pr->fd, EV_READ | EV_PERSIST, on_udp_read, t);
	event_add(pr->ev, NULL);
}

static void dns_cancel(chk_target_t *t)
{
	if (t->probe)
		probe_free(t->probe);
	t->probe = NULL;
}

const chk_ops_t chk_dns_ops = {
	.name = "dns",
	.prepare = dns_prepare,
	.start = chk_dns_start,
	.cancel = dns_cancel,
	.free = dns_free,
};
