/*
 * gtm/ctl/ctl.c and gtm/ctl/ctl_proto.c: a control server on a socket in a
 * temporary folder, driven by an event base in the test, and clients that
 * connect to it: request and reply, pipelining, a line too long, unknown
 * commands, peer credentials (and a refused peer, in a child that drops
 * to nobody), the client cap, stale and live sockets.  Then gtmctl's
 * command line and durations, which need no socket.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/errcode.h"
#include "gtm/ctl/ctl.h"
#include "gtm/ctl/ctl_proto.h"
#include "tests/unit/gtm/gtm_test.h"

typedef struct fixture {
	struct event_base *base;
	gtm_ctl_t *ctl;
	char *path;
	gtm_ctl_peer_t last_peer;
	int calls;
	gtm_ctl_defer_t *defer;   /* h_later's */
} fixture_t;

static json_t *h_echo(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	fixture_t *f = arg;
	f->calls++;
	f->last_peer = *peer;
	return json_pack("{s:O}", "echo", json_object_get(req, "value") ? json_object_get(req, "value")
	                                                               : json_null());
}

static json_t *h_null(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	return NULL;
}

static json_t *h_fail(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	return gtm_ctl_refused("drain refused: %s", "no serving site left");
}

/* A reply that comes later (as an action waiting for etcd). */
static json_t *h_later(const json_t *req, const gtm_ctl_peer_t *peer, void *arg)
{
	fixture_t *f = arg;
	(void)req;
	f->defer = gtm_ctl_defer(peer);
	return NULL;
}

static fixture_t *fixture_new(const gtm_ctl_opts_t *extra)
{
	fixture_t *f = gtm_xcalloc(1, sizeof(*f));
	f->base = event_base_new();
	/* A path per server, so that one failed test does not break the next. */
	static int serial;
	gtm_ctl_opts_t o = extra ? *extra : (gtm_ctl_opts_t){ 0 };
	f->path = o.path ? gtm_xstrdup(o.path) : gtm_xasprintf("%s/ctl-%d.sock", tmpdir, ++serial);
	o.path = f->path;
	char err[256] = "";
	f->ctl = gtm_ctl_new(f->base, &o, err, sizeof(err));
	if (f->ctl == NULL)
		fail_msg("gtm_ctl_new: %s", err);
	gtm_ctl_register(f->ctl, "echo", h_echo, f);
	gtm_ctl_register(f->ctl, "null", h_null, f);
	gtm_ctl_register(f->ctl, "fail", h_fail, f);
	gtm_ctl_register(f->ctl, "later", h_later, f);
	return f;
}

static void fixture_free(fixture_t *f)
{
	gtm_ctl_free(f->ctl);
	struct stat st;
	assert_int_equal(stat(f->path, &st), -1);    /* the socket file is gone */
	event_base_free(f->base);
	free(f->path);
	free(f);
}

static int client_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;   /* the rest does not matter to the tests that fill buffers */
		assert_true(n > 0);
		off += (size_t)n;
	}
}

/*
 * Runs the event base until `nlines` reply lines arrived on `fd` (or EOF,
 * or 5 s).  Returns what was read (free it); *eof tells whether the server
 * closed.
 */
static char *pump(fixture_t *f, int fd, int nlines, bool *eof)
{
	char *buf = gtm_xmalloc(1 << 20);
	size_t len = 0;
	int lines = 0;
	*eof = false;
	time_t end = time(NULL) + 5;
	while (lines < nlines && !*eof && time(NULL) < end) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t n = recv(fd, buf + len, (1 << 20) - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			*eof = true;
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (buf[len + (size_t)i] == '\n')
				lines++;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/* Sends `req` (one or more lines) and expects exactly `want` back. */
static void exchange(fixture_t *f, int fd, const char *req, const char *want, int nlines)
{
	send_all(fd, req, strlen(req));
	bool eof;
	char *got = pump(f, fd, nlines, &eof);
	assert_string_equal(got, want);
	free(got);
}

/* ---------------------------------------------------------------------- */

static void test_request_reply(void **state)
{
	fixture_t *f = fixture_new(NULL);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);

	int fd = client_connect(f->path);
	exchange(f, fd, "{\"cmd\":\"echo\",\"value\":[1,\"two\"]}\n",
	         "{\"echo\":[1,\"two\"],\"ok\":true}\n", 1);
	/* "id" comes back; \r\n is fine; blank lines are skipped. */
	exchange(f, fd, "\n{\"cmd\":\"echo\",\"id\":\"a7\"}\r\n",
	         "{\"echo\":null,\"ok\":true,\"id\":\"a7\"}\n", 1);
	exchange(f, fd, "{\"cmd\":\"fail\"}\n",
	         "{\"ok\":false,\"refused\":true,\"error\":\"drain refused: no serving site left\"}\n", 1);
	exchange(f, fd, "{\"cmd\":\"launch\"}\n",
	         "{\"ok\":false,\"error\":\"unknown command \\\"launch\\\"\"}\n", 1);
	exchange(f, fd, "{\"site\":\"bj-a\"}\n",
	         "{\"ok\":false,\"error\":\"request has no \\\"cmd\\\"\"}\n", 1);
	exchange(f, fd, "[1,2]\n", "{\"ok\":false,\"error\":\"a request must be a JSON object\"}\n", 1);
	exchange(f, fd, "{\"cmd\":\n",
	         "{\"ok\":false,\"error\":\"request is not JSON (column 7: "
	         "unexpected token near end of file)\"}\n", 1);
	exchange(f, fd, "{\"cmd\":\"null\"}\n",
	         "{\"ok\":false,\"error\":\"internal error in null\"}\n", 1);
	assert_int_equal(gtm_ctl_nclients(f->ctl), 1);

	/* Peer credentials: this process. */
	assert_int_equal(f->last_peer.uid, getuid());
	assert_int_equal(f->last_peer.gid, getgid());
	assert_int_equal(f->last_peer.pid, getpid());
	if (getuid() == 0)
		assert_string_equal(f->last_peer.user, "root");

	close(fd);
	bool eof;
	free(pump(f, -1, 0, &eof));
	for (int i = 0; i < 20 && gtm_ctl_nclients(f->ctl); i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
	assert_int_equal(gtm_ctl_nclients(f->ctl), 0);
	fixture_free(f);
}

static void test_pipelined(void **state)
{
	fixture_t *f = fixture_new(NULL);
	int fd = client_connect(f->path);
	char req[4096] = "", want[4096] = "";
	for (int i = 0; i < 20; i++) {
		size_t l = strlen(req), m = strlen(want);
		snprintf(req + l, sizeof(req) - l, "{\"cmd\":\"echo\",\"value\":%d}\n", i);
		snprintf(want + m, sizeof(want) - m, "{\"echo\":%d,\"ok\":true}\n", i);
	}
	/* The last request without its newline waits for it. */
	strcat(req, "{\"cmd\":\"echo\",\"value\":\"tail\"}");
	exchange(f, fd, req, want, 20);
	assert_int_equal(f->calls, 20);
	exchange(f, fd, "\n", "{\"echo\":\"tail\",\"ok\":true}\n", 1);
	close(fd);
	fixture_free(f);
}

/* Runs the loop for ~200 ms and says whether anything came on `fd`. */
static bool quiet(fixture_t *f, int fd)
{
	for (int i = 0; i < 20; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) > 0)
			return false;
	}
	return true;
}

static void test_deferred(void **state)
{
	(void)state;
	fixture_t *f = fixture_new(NULL);
	int fd = client_connect(f->path);
	/* The deferred reply holds back the requests behind it. */
	const char *two = "{\"cmd\":\"later\",\"id\":7}\n{\"cmd\":\"echo\",\"value\":1}\n";
	send_all(fd, two, strlen(two));
	assert_true(quiet(f, fd));
	assert_non_null(f->defer);
	assert_int_equal(f->calls, 0);
	gtm_ctl_complete(f->defer, json_pack("{s:s}", "done", "yes"));
	f->defer = NULL;
	bool eof;
	char *got = pump(f, fd, 2, &eof);
	assert_string_equal(got, "{\"done\":\"yes\",\"ok\":true,\"id\":7}\n{\"echo\":1,\"ok\":true}\n");
	free(got);
	assert_int_equal(f->calls, 1);
	/* The client goes away before the reply: completing only frees. */
	send_all(fd, "{\"cmd\":\"later\"}\n", strlen("{\"cmd\":\"later\"}\n"));
	assert_true(quiet(f, fd));
	assert_non_null(f->defer);
	close(fd);
	for (int i = 0; i < 5; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	gtm_ctl_complete(f->defer, json_pack("{s:b}", "late", 1));
	for (int i = 0; i < 5; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	/* The server freed while a reply is pending. */
	fd = client_connect(f->path);
	f->defer = NULL;
	send_all(fd, "{\"cmd\":\"later\"}\n", strlen("{\"cmd\":\"later\"}\n"));
	assert_true(quiet(f, fd));
	assert_non_null(f->defer);
	gtm_ctl_defer_t *d = f->defer;
	fixture_free(f);
	gtm_ctl_complete(d, json_object());
	close(fd);
}

static void test_line_too_long(void **state)
{
	gtm_ctl_opts_t o = { .max_line = 1024 };
	fixture_t *f = fixture_new(&o);

	/* Exactly the limit is fine. */
	int fd = client_connect(f->path);
	char *line = gtm_xmalloc(4096);
	int pad = 1024 - (int)strlen("{\"cmd\":\"echo\",\"value\":\"\"}");
	snprintf(line, 4096, "{\"cmd\":\"echo\",\"value\":\"%0*d\"}\n", pad, 0);
	assert_int_equal(strlen(line), 1025);
	send_all(fd, line, strlen(line));
	bool eof;
	char *got = pump(f, fd, 1, &eof);
	assert_non_null(strstr(got, "\"ok\":true"));
	free(got);

	/* Beyond it, without a newline: an error and the end of the connection. */
	memset(line, 'x', 3000);
	send_all(fd, line, 3000);
	got = pump(f, fd, 2, &eof);
	assert_string_equal(got, "{\"ok\":false,\"error\":\"request line too long (limit 1024 bytes)\"}\n");
	free(got);
	got = pump(f, fd, 1, &eof);
	assert_true(eof);
	free(got);
	close(fd);
	free(line);
	fixture_free(f);
}

static void test_client_cap(void **state)
{
	gtm_ctl_opts_t o = { .max_clients = 2 };
	fixture_t *f = fixture_new(&o);
	int a = client_connect(f->path), b = client_connect(f->path);
	exchange(f, a, "{\"cmd\":\"echo\"}\n", "{\"echo\":null,\"ok\":true}\n", 1);
	exchange(f, b, "{\"cmd\":\"echo\"}\n", "{\"echo\":null,\"ok\":true}\n", 1);
	int c = client_connect(f->path);
	bool eof;
	char *got = pump(f, c, 1, &eof);
	assert_string_equal(got, "{\"ok\":false,\"error\":\"too many control clients (limit 2); try again\"}\n");
	free(got);
	free(pump(f, c, 1, &eof));
	assert_true(eof);
	close(c);
	/* One leaves: room again. */
	close(a);
	free(pump(f, b, 0, &eof));
	for (int i = 0; i < 20 && gtm_ctl_nclients(f->ctl) > 1; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
	int d = client_connect(f->path);
	exchange(f, d, "{\"cmd\":\"echo\"}\n", "{\"echo\":null,\"ok\":true}\n", 1);
	close(b);
	close(d);
	fixture_free(f);
}

static void test_idle_timeout(void **state)
{
	gtm_ctl_opts_t o = { .idle_ms = 100 };
	fixture_t *f = fixture_new(&o);
	int fd = client_connect(f->path);
	bool eof;
	char *got = pump(f, fd, 1, &eof);   /* runs until the server closes */
	assert_true(eof);
	assert_string_equal(got, "");
	free(got);
	close(fd);
	fixture_free(f);
}

static void test_stale_and_live_socket(void **state)
{
	char *path = gtm_xasprintf("%s/ctl.sock", tmpdir);
	char err[256];

	/* A stale socket: bound, nobody listening. */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	gtm_ctl_opts_t o = { .path = path };
	fixture_t *f = fixture_new(&o);
	int fd = client_connect(f->path);
	exchange(f, fd, "{\"cmd\":\"echo\"}\n", "{\"echo\":null,\"ok\":true}\n", 1);
	close(fd);

	/* A live one: a second server is refused, and the first keeps its file. */
	assert_null(gtm_ctl_new(f->base, &o, err, sizeof(err)));
	char *want = gtm_xasprintf("control socket %s: another process is listening on it "
	                           "(is another gtmd running?)", path);
	assert_string_equal(err, want);
	free(want);
	fd = client_connect(f->path);
	exchange(f, fd, "{\"cmd\":\"echo\"}\n", "{\"echo\":null,\"ok\":true}\n", 1);
	close(fd);
	fixture_free(f);

	/* Not a socket. */
	free(write_file("ctl.sock", "I am a file\n"));
	assert_null(gtm_ctl_new(NULL, &o, err, sizeof(err)));
	want = gtm_xasprintf("control socket %s: a file that is not a socket is there", path);
	assert_string_equal(err, want);
	free(want);
	unlink(path);

	/* Unknown group; a path too long. */
	o.group = "no-such-group-gtm";
	assert_null(gtm_ctl_new(NULL, &o, err, sizeof(err)));
	want = gtm_xasprintf("control socket %s: unknown group no-such-group-gtm", path);
	assert_string_equal(err, want);
	free(want);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	o = (gtm_ctl_opts_t){ .path = longp };
	assert_null(gtm_ctl_new(NULL, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "path too long"));
	free(path);
}

/*
 * A child drops to uid/gid `uid`/`gid` (no supplementary groups), sends a
 * request and exits 0 when the reply contains `want`.
 */
static int child_request(const char *path, uid_t uid, gid_t gid, const char *want, fixture_t *f)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
			_exit(10);
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
			_exit(11);
		const char *req = "{\"cmd\":\"echo\"}\n";
		if (write(fd, req, strlen(req)) < 0) {
			/* a refused peer may see the connection closed already */
		}
		char buf[1024];
		size_t len = 0;
		ssize_t n;
		while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
			len += (size_t)n;
			if (memchr(buf, '\n', len))
				break;
		}
		buf[len] = '\0';
		_exit(strstr(buf, want) ? 0 : 12);
	}
	int status = 0;
	time_t end = time(NULL) + 10;
	while (time(NULL) < end) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
		usleep(2000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 98;
}

static void test_peer_permission(void **state)
{
	if (getuid() != 0) {
		skip();
		return;
	}
	/* nobody must reach the socket through the folder and the mode. */
	assert_int_equal(chmod(tmpdir, 0755), 0);
	struct group *ng = getgrnam("nogroup");
	assert_non_null(ng);
	gid_t nogroup = ng->gr_gid;

	/* Group root (gtmd's): nobody is refused. */
	gtm_ctl_opts_t o = { .mode = 0666 };
	fixture_t *f = fixture_new(&o);
	assert_int_equal(gtm_ctl_gid(f->ctl), getegid());
	assert_int_equal(child_request(f->path, 65534, nogroup,
	                               "\"error\":\"permission denied: uid 65534 is not root, "
	                               "gtmd's user or a member of group root\"", f), 0);
	assert_int_equal(f->calls, 0);
	fixture_free(f);

	/* Group nogroup: nobody is a member (primary group), and served. */
	o.group = "nogroup";
	o.mode = 0660;
	f = fixture_new(&o);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_gid, nogroup);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(child_request(f->path, 65534, nogroup, "{\"echo\":null,\"ok\":true}", f), 0);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->last_peer.uid, 65534);
	assert_int_equal(f->last_peer.gid, nogroup);
	assert_string_equal(f->last_peer.user, "nobody");
	fixture_free(f);
	assert_int_equal(chmod(tmpdir, 0700), 0);
}

/* ---------------------------------------------------------------------- */
/* gtmctl's command line */

static void test_durations(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t ms;
	} table[] = {
		{ "30s", 0, 30000 }, { "2m", 0, 120000 }, { "1h30m", 0, 5400000 },
		{ "90", 0, 90000 }, { "0", 0, 0 }, { "500ms", 0, 500 }, { "1.5s", 0, 1500 },
		{ "1h30m15s", 0, 5415000 }, { "1d", 0, 86400000 }, { "7d", 0, 604800000 },
		{ "2m30s500ms", 0, 150500 },
		{ "", GTM_EINVAL, 0 }, { "s", GTM_EINVAL, 0 }, { "-5s", GTM_EINVAL, 0 },
		{ "5x", GTM_EINVAL, 0 }, { "1h30", GTM_EINVAL, 0 }, { "30 s", GTM_EINVAL, 0 },
		{ "1e3s", GTM_EINVAL, 0 }, { "8d", GTM_ERANGE, 0 }, { "nan", GTM_EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		uint64_t ms = 12345;
		int rc = gtm_duration_parse(table[i].in, &ms);
		if (rc != table[i].rc || (rc == 0 && ms != table[i].ms))
			fail_msg("\"%s\": rc %d ms %llu, expected rc %d ms %llu", table[i].in, rc,
			         (unsigned long long)ms, table[i].rc, (unsigned long long)table[i].ms);
	}
	static const struct { uint64_t ms; const char *out; } fmt[] = {
		{ 0, "0s" }, { 500, "500ms" }, { 7500, "7.5s" }, { 30000, "30s" },
		{ 5400000, "1h30m" }, { 90061000, "1d1h1m1s" }, { 61250, "1m1.25s" },
	};
	for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		char buf[64];
		assert_string_equal(gtm_duration_format(fmt[i].ms, buf, sizeof(buf)), fmt[i].out);
		uint64_t back;
		assert_int_equal(gtm_duration_parse(buf, &back), 0);
		assert_true(back == fmt[i].ms);
	}
}

/* Parses a command line given as one string (split at spaces, "_" inside
 * a word stands for a space). */
static int parse_line(const char *line, gtm_cli_t *cli, char *err, size_t errlen)
{
	char *copy = gtm_xstrdup(line);
	char *argv[32] = { "gtmctl" };
	int argc = 1;
	for (char *tok = strtok(copy, " "); tok && argc < 31; tok = strtok(NULL, " ")) {
		for (char *p = tok; *p; p++)
			if (*p == '_')
				*p = ' ';
		argv[argc++] = tok;
	}
	int rc = gtm_cli_parse(argc, argv, cli, err, errlen);
	/* The request holds copies; argv strings may go. */
	if (rc == 0 && cli->socket && strcmp(cli->socket, GTM_CTL_DEFAULT_SOCKET) != 0)
		cli->socket = "(given)";
	if (rc == 0)
		cli->cmd = NULL;
	free(copy);
	return rc;
}

static void test_cli(void **state)
{
	static const struct {
		const char *line;
		const char *req;    /* NULL: an error */
		const char *err;
	} table[] = {
		{ "status", "{\"cmd\":\"status\"}", NULL },
		{ "drain bj-a --ramp 30s --reason kernel_upgrade",
		  "{\"cmd\":\"drain\",\"dry_run\":false,\"force\":false,\"ramp\":30,"
		  "\"reason\":\"kernel upgrade\",\"site\":\"bj-a\"}", NULL },
		{ "--dry-run drain bj-a --ramp 1.5s --steps 3 -f",
		  "{\"cmd\":\"drain\",\"dry_run\":true,\"force\":true,\"ramp\":1.5,\"site\":\"bj-a\","
		  "\"steps\":3}", NULL },
		{ "drain bj-a", "{\"cmd\":\"drain\",\"dry_run\":false,\"force\":false,\"site\":\"bj-a\"}", NULL },
		{ "undrain bj-a -r done", "{\"cmd\":\"undrain\",\"dry_run\":false,\"force\":false,"
		  "\"reason\":\"done\",\"site\":\"bj-a\"}", NULL },
		{ "evacuate beijing -n", "{\"city\":\"beijing\",\"cmd\":\"evacuate\",\"dry_run\":true,"
		  "\"force\":false}", NULL },
		{ "restore beijing", "{\"city\":\"beijing\",\"cmd\":\"restore\",\"dry_run\":false,"
		  "\"force\":false}", NULL },
		{ "promote shanghai --service write.example.com",
		  "{\"city\":\"shanghai\",\"cmd\":\"promote\",\"dry_run\":false,\"force\":false,"
		  "\"service\":\"write.example.com\"}", NULL },
		{ "activate gz-cold", "{\"cmd\":\"activate\",\"dry_run\":false,\"force\":false,"
		  "\"site\":\"gz-cold\"}", NULL },
		{ "deactivate gz-cold", "{\"cmd\":\"deactivate\",\"dry_run\":false,\"force\":false,"
		  "\"site\":\"gz-cold\"}", NULL },
		{ "pause bj-a", "{\"cmd\":\"pause\",\"dry_run\":false,\"force\":false,\"site\":\"bj-a\"}", NULL },
		{ "resume bj-a", "{\"cmd\":\"resume\",\"dry_run\":false,\"force\":false,\"site\":\"bj-a\"}", NULL },
		{ "explain www.example.com 1.2.3.4 --ecs 1.2.3.0/24",
		  "{\"client\":\"1.2.3.4\",\"cmd\":\"explain\",\"ecs\":\"1.2.3.0/24\","
		  "\"name\":\"www.example.com\"}", NULL },
		{ "explain www.example.com ::1", "{\"client\":\"::1\",\"cmd\":\"explain\","
		  "\"name\":\"www.example.com\"}", NULL },
		{ "explain www.example.com 1.2.3.4 --ecs 1.2.3.4", "{\"client\":\"1.2.3.4\",\"cmd\":\"explain\","
		  "\"ecs\":\"1.2.3.4\",\"name\":\"www.example.com\"}", NULL },
		{ "explain www.example.com ::1 --ecs 2001:db8::/56", "{\"client\":\"::1\",\"cmd\":\"explain\","
		  "\"ecs\":\"2001:db8::/56\",\"name\":\"www.example.com\"}", NULL },
		{ "history", "{\"cmd\":\"history\",\"limit\":20}", NULL },
		{ "history --limit 0", "{\"cmd\":\"history\",\"limit\":0}", NULL },
		{ "-j -s /tmp/x.sock reload", "{\"cmd\":\"reload\"}", NULL },
		{ "stats --json", "{\"cmd\":\"stats\"}", NULL },

		{ "", NULL, "no command (gtmctl --help lists them)" },
		{ "launch", NULL, "unknown command launch (gtmctl --help lists them)" },
		{ "drain", NULL, "drain takes a SITE" },
		{ "drain bj-a bj-b --ramp 1m", "{\"cmd\":\"drain\",\"dry_run\":false,\"force\":false,\"ramp\":60,"
		  "\"site\":[\"bj-a\",\"bj-b\"]}", NULL },
		{ "evacuate beijing shanghai -n", "{\"city\":[\"beijing\",\"shanghai\"],\"cmd\":\"evacuate\","
		  "\"dry_run\":true,\"force\":false}", NULL },
		{ "status --endpoints --service www.example.com", "{\"cmd\":\"status\",\"endpoints\":true,"
		  "\"service\":\"www.example.com\"}", NULL },
		{ "disable www.example.com 192.0.2.10 -r disk", "{\"address\":\"192.0.2.10\",\"cmd\":\"disable\","
		  "\"dry_run\":false,\"force\":false,\"reason\":\"disk\",\"service\":\"www.example.com\"}", NULL },
		{ "disable www.example.com 2001:db8::1 --force-down", "{\"address\":\"2001:db8::1\",\"cmd\":\"disable\","
		  "\"dry_run\":false,\"force\":false,\"forced\":true,\"service\":\"www.example.com\"}", NULL },
		{ "enable www.example.com 192.0.2.10 --force-up", "{\"address\":\"192.0.2.10\",\"cmd\":\"enable\","
		  "\"dry_run\":false,\"force\":false,\"forced\":true,\"service\":\"www.example.com\"}", NULL },
		{ "enable www.example.com 192.0.2.10 --force-down", NULL,
		  "--force-down does not apply to enable (disable --force-down, enable --force-up)" },
		{ "disable www.example.com", NULL, "disable takes SERVICE ADDRESS" },
		{ "disable www.example.com nowhere", NULL, "disable: ADDRESS 'nowhere' is not an IPv4 or IPv6 address" },
		{ "drain bj-a --force-up", NULL, "--force-up does not apply to drain" },
		{ "promote a b", NULL, "promote takes a CITY (unexpected 'b')" },
		{ "drain a b --ramp 1m --wait", NULL, "--wait follows one site's ramp (name one SITE)" },
		{ "drain bj-a --endpoints", NULL, "--endpoints does not apply to drain" },
		{ "status extra", NULL, "status takes no argument (unexpected 'extra'); for one service or site: "
		  "--service NAME, --site NAME" },
		{ "stats extra", NULL, "stats takes no argument (unexpected 'extra')" },
		{ "explain a 1.2.3.4 5", NULL, "explain takes NAME CLIENT-IP (unexpected '5')" },
		/* Issue 13: refused here (exit 2), not by the server (exit 1). */
		{ "explain www.example.com 1.2.3", NULL, "explain: CLIENT-IP '1.2.3' is not an IPv4 or IPv6 address" },
		{ "explain www.example.com 1.2.3.4 --ecs 10.0.0.1/8", NULL,
		  "--ecs: 10.0.0.1/8 has host bits set after the /8 prefix (did you mean 10.0.0.0/8?)" },
		{ "explain www.example.com ::1 --ecs 2001:db8::1/56", NULL,
		  "--ecs: 2001:db8::1/56 has host bits set after the /56 prefix (did you mean 2001:db8::/56?)" },
		{ "explain www.example.com 1.2.3.4 --ecs 10.0.0.0/33", NULL, "--ecs: prefix length of 10.0.0.0/33 must be 0 to 32" },
		{ "explain www.example.com 1.2.3.4 --ecs 10.0.0.0/", NULL, "--ecs: prefix length of 10.0.0.0/ must be 0 to 32" },
		{ "explain www.example.com 1.2.3.4 --ecs bogus/8", NULL,
		  "--ecs: not a subnet: bogus/8 (say 198.51.100.0/24 or 2001:db8::/56)" },
		{ "drain bj-a --wait", NULL, "--wait needs --ramp" },
		{ "explain www.example.com", NULL, "explain takes NAME CLIENT-IP" },
		{ "evacuate", NULL, "evacuate takes a CITY" },
		{ "drain bj-a --ramp 30x", NULL, "--ramp: not a duration: 30x (say 30s, 2m, 1h30m)" },
		{ "drain bj-a --ramp 9d", NULL, "--ramp: too long a duration: 9d (say 30s, 2m, 1h30m)" },
		{ "drain bj-a --steps 0 --ramp 1m", NULL, "--steps: a number from 1 to 100, not 0" },
		{ "drain bj-a --steps 3", NULL, "--steps needs --ramp" },
		{ "undrain bj-a --ramp 30s", NULL, "--ramp does not apply to undrain" },
		{ "status --force", NULL, "--force does not apply to status" },
		{ "evacuate beijing --wait", NULL, "--wait does not apply to evacuate" },
		{ "drain bj-a --service x", NULL, "--service does not apply to drain" },
		{ "explain a 1.2.3.4 --limit 3", NULL, "--limit does not apply to explain" },
		{ "status --ecs 1.2.3.0/24", NULL, "--ecs does not apply to status" },
		{ "history --limit many", NULL, "--limit: not a number: many" },
		{ "status --bogus", NULL, "unknown option --bogus" },
		{ "status -x", NULL, "unknown option -x" },
		{ "status -s", NULL, "-s needs a value" },
		{ "status --timeout 0", NULL, "--timeout: 0 seconds is out of range (more than 0, at most 86400)" },
		{ "status --timeout 90000", NULL, "--timeout: 90000 seconds is out of range (more than 0, at most 86400)" },
		{ "status --timeout soon", NULL, "--timeout: not a number of seconds: soon" },
		{ "status --timeout nan", NULL, "--timeout: not a number of seconds: nan" },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		gtm_cli_t cli;
		char err[256] = "";
		int rc = parse_line(table[i].line, &cli, err, sizeof(err));
		if (table[i].req) {
			if (rc != 0)
				fail_msg("\"%s\": refused: %s", table[i].line, err);
			char *s = json_dumps(cli.request, JSON_COMPACT | JSON_SORT_KEYS);
			if (strcmp(s, table[i].req) != 0)
				fail_msg("\"%s\":\n  got  %s\n  want %s", table[i].line, s, table[i].req);
			free(s);
			gtm_cli_clear(&cli);
		} else {
			if (rc != GTM_EINVAL || strcmp(err, table[i].err) != 0)
				fail_msg("\"%s\": rc %d '%s', expected '%s'", table[i].line, rc, err, table[i].err);
		}
	}

	/* Flags. */
	gtm_cli_t cli;
	char err[256];
	assert_int_equal(parse_line("drain bj-a --ramp 2m --wait --json -t 5", &cli, err, sizeof(err)), 0);
	assert_true(cli.wait);
	assert_true(cli.json);
	assert_true(cli.action);
	assert_true(cli.timeout_s == 5);
	assert_string_equal(cli.socket, GTM_CTL_DEFAULT_SOCKET);
	gtm_cli_clear(&cli);
	assert_int_equal(parse_line("status -s /tmp/other.sock", &cli, err, sizeof(err)), 0);
	assert_string_equal(cli.socket, "(given)");
	assert_false(cli.action);
	gtm_cli_clear(&cli);
	assert_int_equal(parse_line("--help", &cli, err, sizeof(err)), 0);
	assert_true(cli.help);
	assert_int_equal(parse_line("status -V", &cli, err, sizeof(err)), 0);
	assert_true(cli.version);

	/* Exit codes from replies. */
	json_t *ok = json_pack("{s:b}", "ok", 1), *no = gtm_ctl_refused("x"), *bad = json_pack("{}");
	assert_int_equal(gtm_cli_exit_code(ok), GTM_CLI_OK);
	assert_int_equal(gtm_cli_exit_code(no), GTM_CLI_FAIL);
	assert_int_equal(gtm_cli_exit_code(bad), GTM_CLI_PROTO);
	json_decref(ok);
	json_decref(no);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_reply),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_deferred),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_client_cap),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_stale_and_live_socket),
		cmocka_unit_test(test_peer_permission),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
