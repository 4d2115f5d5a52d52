/*
 * gtm/daemon/daemon.c: the systemd notify messages, read back from a datagram
 * socket the test binds (a path and an abstract name), and the privilege
 * drop, run in a forked child when the test runs as root.
 */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/errcode.h"
#include "gtm/daemon/daemon.h"

/* A bound datagram socket standing in for systemd's notify socket. */
typedef struct listener {
	int fd;
	char addr[108];   /* as $NOTIFY_SOCKET spells it */
	char path[108];   /* the file to remove, "" for an abstract name */
} listener_t;

static void listen_path(listener_t *l)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(l->path, sizeof(l->path), "/tmp/gtm-test-notify.%d", (int)getpid());
	unlink(l->path);
	strcpy(sun.sun_path, l->path);
	l->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	strcpy(l->addr, l->path);
}

static void listen_abstract(listener_t *l)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char name[64];
	snprintf(name, sizeof(name), "gtm-test-notify-%d", (int)getpid());
	memcpy(sun.sun_path + 1, name, strlen(name));
	l->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sun,
	                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))), 0);
	snprintf(l->addr, sizeof(l->addr), "@%s", name);
	l->path[0] = '\0';
}

static void listener_close(listener_t *l)
{
	close(l->fd);
	if (l->path[0])
		unlink(l->path);
}

/* The next datagram, NUL-terminated; fails the test after 2 s. */
static void recv_msg(listener_t *l, char *buf, size_t len)
{
	struct timeval tv = { 2, 0 };
	setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recv(l->fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
}

static void test_notify_path(void **state)
{
	(void)state;
	listener_t l;
	char buf[4096];
	listen_path(&l);
	setenv("NOTIFY_SOCKET", l.addr, 1);
	assert_true(gtm_daemon_notify_enabled());
	assert_int_equal(gtm_daemon_notify("READY=1\nSTATUS=serving 1 zones"), 0);
	recv_msg(&l, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=serving 1 zones");
	assert_int_equal(gtm_daemon_notifyf("STATUS=generation %d", 7), 0);
	recv_msg(&l, buf, sizeof(buf));
	assert_string_equal(buf, "STATUS=generation 7");
	assert_int_equal(gtm_daemon_notify("STOPPING=1"), 0);
	recv_msg(&l, buf, sizeof(buf));
	assert_string_equal(buf, "STOPPING=1");
	unsetenv("NOTIFY_SOCKET");
	listener_close(&l);
}

static void test_notify_abstract(void **state)
{
	(void)state;
	listener_t l;
	char buf[4096];
	listen_abstract(&l);
	setenv("NOTIFY_SOCKET", l.addr, 1);
	assert_int_equal(gtm_daemon_notify("READY=1"), 0);
	recv_msg(&l, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1");
	unsetenv("NOTIFY_SOCKET");
	listener_close(&l);
}

static void test_notify_reloading(void **state)
{
	(void)state;
	listener_t l;
	char buf[4096];
	listen_path(&l);
	setenv("NOTIFY_SOCKET", l.addr, 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(gtm_daemon_notify_reloading(), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	recv_msg(&l, buf, sizeof(buf));
	unsigned long long usec = 0;
	char tail = 0;
	assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu%c", &usec, &tail), 1);
	unsigned long long lo = (unsigned long long)t0.tv_sec * 1000000 + (unsigned long long)t0.tv_nsec / 1000;
	unsigned long long hi = (unsigned long long)t1.tv_sec * 1000000 + (unsigned long long)t1.tv_nsec / 1000;
	assert_true(usec >= lo && usec <= hi);
	unsetenv("NOTIFY_SOCKET");
	listener_close(&l);
}

static void test_notify_without_socket(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_false(gtm_daemon_notify_enabled());
	assert_int_equal(gtm_daemon_notify("READY=1"), GTM_ENOENT);
	assert_int_equal(gtm_daemon_notifyf("STATUS=%s", "x"), GTM_ENOENT);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_false(gtm_daemon_notify_enabled());
	assert_int_equal(gtm_daemon_notify("READY=1"), GTM_ENOENT);
	/* Not an absolute path nor an abstract name; too long. */
	assert_int_equal(gtm_daemon_notify_to("run/notify", "READY=1"), GTM_EINVAL);
	assert_int_equal(gtm_daemon_notify_to("@", "READY=1"), GTM_EINVAL);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(gtm_daemon_notify_to(longp, "READY=1"), GTM_EINVAL);
	/* Nobody listens there. */
	assert_int_equal(gtm_daemon_notify_to("/nonexistent/gtm-notify", "READY=1"), GTM_EIO);
	unsetenv("NOTIFY_SOCKET");
}

static void test_user_lookup(void **state)
{
	(void)state;
	gtm_daemon_user_t u;
	char err[256] = "";
	assert_int_equal(gtm_daemon_user_lookup("root", &u, err, sizeof(err)), 0);
	assert_int_equal(u.uid, 0);
	assert_string_equal(u.name, "root");
	assert_int_equal(gtm_daemon_user_lookup("no-such-user-gtm", &u, err, sizeof(err)), GTM_ENOENT);
	assert_string_equal(err, "no user 'no-such-user-gtm'");
}

/* In a child (the drop cannot be undone): becomes nobody and checks the
 * ids, the groups and that root is out of reach. */
static void test_drop(void **state)
{
	(void)state;
	gtm_daemon_user_t u;
	char err[256] = "";
	if (geteuid() != 0) {
		assert_int_equal(gtm_daemon_user_lookup("root", &u, err, sizeof(err)), 0);
		assert_int_equal(gtm_daemon_drop(&u, err, sizeof(err)), GTM_DAEMON_NOT_ROOT);
		skip();
	}
	/* Dropping to root is refused. */
	assert_int_equal(gtm_daemon_user_lookup("root", &u, err, sizeof(err)), 0);
	assert_int_equal(gtm_daemon_drop(&u, err, sizeof(err)), GTM_EINVAL);
	if (gtm_daemon_user_lookup("nobody", &u, err, sizeof(err)) != 0)
		skip();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int code = 0;
		if (gtm_daemon_drop(&u, err, sizeof(err)) != GTM_DAEMON_DROPPED)
			code = 1;
		else if (getuid() != u.uid || geteuid() != u.uid || getgid() != u.gid || getegid() != u.gid)
			code = 2;
		else if (setuid(0) == 0 || setgid(0) == 0)
			code = 3;
		else {
			gid_t groups[256];
			int n = getgroups(256, groups);
			for (int i = 0; i < n; i++)
				if (groups[i] == 0)
					code = 4;   /* root's group kept */
		}
		/* A second drop is a no-op: no longer root. */
		if (code == 0 && gtm_daemon_drop(&u, err, sizeof(err)) != GTM_DAEMON_NOT_ROOT)
			code = 5;
		_exit(code);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_path),
		cmocka_unit_test(test_notify_abstract),
		cmocka_unit_test(test_notify_reloading),
		cmocka_unit_test(test_notify_without_socket),
		cmocka_unit_test(test_user_lookup),
		cmocka_unit_test(test_drop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
