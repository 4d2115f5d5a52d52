/*
 * The systemd notify protocol (a datagram to $NOTIFY_SOCKET) and the drop
 * from root to server.user.  See daemon.h for why we do not link
 * libsystemd.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/errcode.h"
#include "gtm/daemon/daemon.h"

#define NOTIFY_MAX 4096

bool gtm_daemon_notify_enabled(void)
{
	const char *a = getenv("NOTIFY_SOCKET");
	return a != NULL && a[0] != '\0';
}

int gtm_daemon_notify_to(const char *addr, const char *state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(addr);
	socklen_t len;

	/* "/path" or "@abstract" ('@' becomes the leading NUL of an abstract
	 * name, whose length is exact: no terminating NUL). */
	if (n < 2 || (addr[0] != '/' && addr[0] != '@') || n >= sizeof(sun.sun_path))
		return GTM_EINVAL;
	memcpy(sun.sun_path, addr, n);
	if (addr[0] == '@') {
		sun.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return GTM_EIO;
	ssize_t sent = sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
	                      (struct sockaddr *)&sun, len);
	int e = errno;
	close(fd);
	errno = e;
	return sent == (ssize_t)strlen(state) ? 0 : GTM_EIO;
}

int gtm_daemon_notify(const char *state)
{
	const char *a = getenv("NOTIFY_SOCKET");
	if (a == NULL || a[0] == '\0')
		return GTM_ENOENT;
	return gtm_daemon_notify_to(a, state);
}

int gtm_daemon_notifyf(const char *fmt, ...)
{
	char buf[NOTIFY_MAX];
	va_list ap;
	if (!gtm_daemon_notify_enabled())
		return GTM_ENOENT;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return gtm_daemon_notify(buf);
}

int gtm_daemon_notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return gtm_daemon_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
	                          (unsigned long long)ts.tv_sec * 1000000ULL +
	                          (unsigned long long)ts.tv_nsec / 1000ULL);
}

int gtm_daemon_user_lookup(const char *name, gtm_daemon_user_t *out, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (res == NULL) {
		/* getpwnam_r reports "not found" as 0 (or, in some NSS modules,
		 * ENOENT/ESRCH/EBADF/EPERM): all mean there is no such user. */
		if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
			snprintf(err, errlen, "no user '%s'", name);
			return GTM_ENOENT;
		}
		snprintf(err, errlen, "cannot look up user '%s' (%s)", name, strerror(rc));
		return GTM_EIO;
	}
	if (strlen(pw.pw_name) >= sizeof(out->name)) {
		snprintf(err, errlen, "user name '%s' is too long", name);
		return GTM_EIO;
	}
	strcpy(out->name, pw.pw_name);
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	return 0;
}

int gtm_daemon_drop(const gtm_daemon_user_t *u, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return GTM_DAEMON_NOT_ROOT;
	if (u->uid == 0) {
		snprintf(err, errlen, "user '%s' is root (uid 0): nothing would be dropped", u->name);
		return GTM_EINVAL;
	}
	/* Groups first: once the uid is not 0 they can no longer change. */
	if (initgroups(u->name, u->gid) != 0 && setgroups(1, &u->gid) != 0) {
		snprintf(err, errlen, "setgroups for '%s' failed (%s)", u->name, strerror(errno));
		return GTM_EIO;
	}
	if (setresgid(u->gid, u->gid, u->gid) != 0) {
		snprintf(err, errlen, "setgid(%u) failed (%s)", (unsigned)u->gid, strerror(errno));
		return GTM_EIO;
	}
	if (setresuid(u->uid, u->uid, u->uid) != 0) {
		snprintf(err, errlen, "setuid(%u) failed (%s)", (unsigned)u->uid, strerror(errno));
		return GTM_EIO;
	}
	/* Proof: every id is the user's, and root cannot be had back. */
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
	    ru != u->uid || eu != u->uid || su != u->uid ||
	    rg != u->gid || eg != u->gid || sg != u->gid) {
		snprintf(err, errlen, "ids after the drop are not those of '%s'", u->name);
		return GTM_EIO;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		snprintf(err, errlen, "root could be regained after dropping to '%s'", u->name);
		return GTM_EIO;
	}
	return GTM_DAEMON_DROPPED;
}
