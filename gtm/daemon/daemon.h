/*
 * gtmd as a system service: the systemd notify protocol and the privilege
 * drop of a gtmd started as root.
 *
 * Notify.  Under systemd (Type=notify) the service manager sets
 * $NOTIFY_SOCKET to a unix datagram socket; the daemon sends it
 * newline-separated VAR=VALUE assignments (sd_notify(3)).  gtmd sends:
 *
 *     READY=1\nSTATUS=...        once the sockets are bound and the first
 *                                 snapshot is published (workers started)
 *     RELOADING=1\nMONOTONIC_USEC=N   when a reload (SIGHUP) starts
 *     READY=1\nSTATUS=...        when it ends, whether it took or not
 *     STATUS=...                 when the summary changes
 *     STOPPING=1                 at shutdown
 *
 * We speak the protocol ourselves instead of linking libsystemd: it is one
 * datagram to one address (a path, or an abstract socket written "@name"),
 * the format is a stable interface (systemd documents it as such), and it
 * keeps gtmd's dependencies to what it uses on every system, systemd or not.
 * MONOTONIC_USEC (CLOCK_MONOTONIC in µs) is what systemd >= 253 wants with
 * RELOADING=1 to match the reload it is waiting for; older versions ignore
 * it.  Without $NOTIFY_SOCKET every call does nothing.
 *
 * Privilege drop.  A gtmd started as root (outside systemd, whose unit
 * starts it as its own user with CAP_NET_BIND_SERVICE) binds its sockets,
 * then becomes `server.user`: supplementary groups of that user
 * (initgroups), then its primary group, then its uid (setgid before setuid,
 * or the group change would no longer be allowed).  Nothing is kept: after
 * setuid() from root every capability is gone, and the drop is verified by
 * trying to get root back (which must fail).  Whatever gtmd opens after the
 * drop (state files, the control socket, exec probes) is opened as that
 * user.
 *
 * Every function here runs on the control thread.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* True when $NOTIFY_SOCKET is set (gtmd runs under a service manager that
 * wants notifications). */
bool gtm_daemon_notify_enabled(void);

/*
 * Sends `state` (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET, in one
 * datagram.  Returns 0 when sent, GTM_ENOENT when $NOTIFY_SOCKET is not set
 * (nothing to do), GTM_EINVAL when its address is not usable (not an
 * absolute path or "@abstract", too long), GTM_EIO when the send failed
 * (errno says why).  Never blocks (MSG_DONTWAIT).
 */
int gtm_daemon_notify(const char *state);

/* The same with a printf format; a message is cut at 4096 bytes. */
int gtm_daemon_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "RELOADING=1\nMONOTONIC_USEC=<now>", for a reload that starts. */
int gtm_daemon_notify_reloading(void);

/*
 * The same to an explicit address (as $NOTIFY_SOCKET spells it), for tests
 * and for gtm_daemon_notify.
 */
int gtm_daemon_notify_to(const char *addr, const char *state);

/* The user to become: looked up before anything is bound, so that a
 * misspelt name stops gtmd at start-up rather than after binding. */
typedef struct gtm_daemon_user {
	char name[64];
	uid_t uid;
	gid_t gid;
} gtm_daemon_user_t;

/*
 * Looks `name` up in the user database (getpwnam_r).  Returns 0 with `out`
 * filled, GTM_ENOENT when there is no such user (message in `err`), or
 * GTM_EIO when the lookup itself failed.
 */
int gtm_daemon_user_lookup(const char *name, gtm_daemon_user_t *out, char *err, size_t errlen);

/* What gtm_daemon_drop did. */
enum {
	GTM_DAEMON_DROPPED = 0,   /* was root, now runs as the user */
	GTM_DAEMON_NOT_ROOT = 1,  /* not root: nothing to drop (systemd's User=, or a
	                           * user who started it); runs as it was started */
};

/*
 * When the effective uid is 0, becomes `u`: initgroups (setgroups with the
 * primary group alone when the group list cannot be read), setgid, setuid,
 * then checks that setuid(0) fails and that the ids are `u`'s.  Returns
 * GTM_DAEMON_DROPPED, GTM_DAEMON_NOT_ROOT when not running as root, or
 * GTM_EIO with the failing step in `err`: gtmd must then stop, since it
 * would otherwise serve as root.  Dropping to root itself (uid 0) is
 * refused (GTM_EINVAL).
 */
int gtm_daemon_drop(const gtm_daemon_user_t *u, char *err, size_t errlen);
