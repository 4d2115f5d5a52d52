/* exec probe; see check_exec.h. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks/check_exec.h"
#include "common/alloc.h"
#include "common/errcode.h"
#include "common/log.h"

extern char **environ;

typedef struct exec_probe exec_probe_t;

struct exec_probe {
	chk_engine_t *e;
	chk_target_t *t;           /* NULL once cancelled: a reaper */
	pid_t pid;
	int pidfd;                 /* -1 while queued */
	struct event *ev;
	exec_probe_t *next;        /* in the queue or the reaper list */
};

typedef struct exec_engine {
	exec_probe_t *queue, **queue_tail;
	exec_probe_t *reapers;     /* killed, not yet reaped */
} exec_engine_t;

typedef struct exec_prep {
	char **argv;
	char **envp;
} exec_prep_t;

static exec_engine_t *engine_data(chk_engine_t *e)
{
	void **slot = chk_engine_slot(e, CHK_TYPE_EXEC);
	if (*slot == NULL) {
		exec_engine_t *x = gtm_xcalloc(1, sizeof(*x));
		x->queue_tail = &x->queue;
		*slot = x;
	}
	return *slot;
}

/* ---- per target: argv with %a/%p substituted, environment --------------- */

static char *substitute(const char *arg, const chk_target_t *t)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", t->p.port);
	size_t cap = strlen(arg) * (strlen(t->ip) + 6) + 1, o = 0;
	char *out = gtm_xmalloc(cap);
	for (const char *c = arg; *c; c++) {
		if (c[0] == '%' && (c[1] == 'a' || c[1] == 'p' || c[1] == '%')) {
			const char *s = c[1] == 'a' ? t->ip : c[1] == 'p' ? port : "%";
			size_t n = strlen(s);
			memcpy(out + o, s, n);
			o += n;
			c++;
		} else {
			out[o++] = *c;
		}
	}
	out[o] = '\0';
	return out;
}

static int exec_prepare(chk_target_t *t)
{
	exec_prep_t *xp = gtm_xcalloc(1, sizeof(*xp));
	t->prep = xp;
	size_t n = 0;
	while (t->p.exec.argv[n])
		n++;
	xp->argv = gtm_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		xp->argv[i] = substitute(t->p.exec.argv[i], t);
	size_t ne = 0;
	while (environ && environ[ne])
		ne++;
	xp->envp = gtm_xcalloc(ne + 4, sizeof(char *));
	size_t o = 0;
	for (size_t i = 0; i < ne; i++)
		if (strncmp(environ[i], "GTM_CHECK_", 10) != 0)
			xp->envp[o++] = gtm_xstrdup(environ[i]);
	xp->envp[o++] = gtm_xasprintf("GTM_CHECK_ADDRESS=%s", t->ip);
	xp->envp[o++] = gtm_xasprintf("GTM_CHECK_PORT=%u", t->p.port);
	xp->envp[o++] = gtm_xasprintf("GTM_CHECK_NAME=%s", t->p.name);
	return 0;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void exec_free(chk_target_t *t)
{
	exec_prep_t *xp = t->prep;
	if (xp == NULL)
		return;
	strv_free(xp->argv);
	strv_free(xp->envp);
	free(xp);
	t->prep = NULL;
}

/* ---- running commands -------------------------------------------------- */

static void spawn(exec_probe_t *pr);

/* A command slot became free: start the oldest waiting probe. */
static void slot_freed(chk_engine_t *e)
{
	exec_engine_t *x = engine_data(e);
	chk_engine_stats_t *st = chk_engine_stats_mut(e);
	st->exec_running--;
	while (x->queue && st->exec_running < chk_engine_exec_max(e)) {
		exec_probe_t *pr = x->queue;
		x->queue = pr->next;
		if (x->queue == NULL)
			x->queue_tail = &x->queue;
		pr->next = NULL;
		st->exec_queued--;
		spawn(pr);
	}
}

static void reap(exec_probe_t *pr, int *status)
{
	/* The pidfd is readable: the child has exited and waitpid does not
	 * block.  EINTR is the only retry. */
	while (waitpid(pr->pid, status, 0) < 0 && errno == EINTR)
		;
	event_free(pr->ev);
	close(pr->pidfd);
}

static void on_reaped(evutil_socket_t fd, short what, void *arg)
{
	exec_probe_t *pr = arg;
	chk_engine_t *e = pr->e;
	exec_engine_t *x = engine_data(e);
	int status;
	reap(pr, &status);
	for (exec_probe_t **pp = &x->reapers; *pp; pp = &(*pp)->next)
		if (*pp == pr) {
			*pp = pr->next;
			break;
		}
	free(pr);
	slot_freed(e);
}

static void on_exit_ev(evutil_socket_t fd, short what, void *arg)
{
	exec_probe_t *pr = arg;
	chk_target_t *t = pr->t;
	chk_engine_t *e = t->engine;
	int status = 0;
	reap(pr, &status);
	free(pr);
	t->probe = NULL;
	chk_reason_t r = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? CHK_OK : CHK_FAIL_EXEC_STATUS;
	if (r != CHK_OK)
		log_debug("check %s, %s, command %s (status 0x%x)", t->p.name, t->addr_str,
		          WIFEXITED(status) ? "exited non-zero" : "killed", status);
	slot_freed(e);
	chk_done(t, r);
}

static void spawn(exec_probe_t *pr)
{
	chk_target_t *t = pr->t;
	chk_engine_t *e = t->engine;
	exec_prep_t *xp = t->prep;
	chk_engine_stats_t *st = chk_engine_stats_mut(e);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);

	chk_probe_arm(t);
	int err = posix_spawn(&pr->pid, xp->argv[0], &fa, &attr, xp->argv, xp->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (err != 0) {
		log_debug("check %s, %s, cannot run %s (%s)", t->p.name, t->addr_str, xp->argv[0],
		          strerror(err));
		free(pr);
		t->probe = NULL;
		chk_done(t, CHK_FAIL_EXEC_SPAWN);
		return;
	}
	pr->pidfd = pidfd_open(pr->pid, 0);
	if (pr->pidfd < 0) {
		/* Without a pidfd the child cannot be watched from the loop;
		 * kill it and wait for it here (it dies at once). */
		log_err("check %s, %s, pidfd_open failed (%s; Linux >= 5.3 needed)", t->p.name,
		        t->addr_str, strerror(errno));
		kill(-pr->pid, SIGKILL);
		waitpid(pr->pid, NULL, 0);
		free(pr);
		t->probe = NULL;
		chk_done(t, CHK_FAIL_EXEC_SPAWN);
		return;
	}
	st->exec_running++;
	if (st->exec_running > st->exec_peak)
		st->exec_peak = st->exec_running;
	pr->ev = event_new(chk_engine_base(e), pr->pidfd, EV_READ, on_exit_ev, pr);
	event_add(pr->ev, NULL);
}

void chk_exec_start(chk_target_t *t)
{
	chk_engine_t *e = t->engine;
	exec_engine_t *x = engine_data(e);
	chk_engine_stats_t *st = chk_engine_stats_mut(e);
	exec_probe_t *pr = gtm_xcalloc(1, sizeof(*pr));
	pr->e = e;
	pr->t = t;
	pr->pidfd = -1;
	t->probe = pr;
	if (st->exec_running >= chk_engine_exec_max(e)) {
		*x->queue_tail = pr;
		x->queue_tail = &pr->next;
		st->exec_queued++;
		return;
	}
	spawn(pr);
}

static void exec_cancel(chk_target_t *t)
{
	exec_probe_t *pr = t->probe;
	if (pr == NULL)
		return;
	t->probe = NULL;
	chk_engine_t *e = t->engine;
	exec_engine_t *x = engine_data(e);
	if (pr->pidfd < 0) {
		/* Still waiting for a slot: leave the queue. */
		exec_probe_t **pp = &x->queue;
		while (*pp && *pp != pr)
			pp = &(*pp)->next;
		if (*pp) {
			*pp = pr->next;
			if (x->queue_tail == &pr->next)
				x->queue_tail = pp;
			chk_engine_stats_mut(e)->exec_queued--;
		}
		free(pr);
		return;
	}
	/* Kill the command and everything it started (its process group),
	 * then reap it when its pidfd says so; the slot stays taken until
	 * then. */
	kill(-pr->pid, SIGKILL);
	pr->t = NULL;
	event_free(pr->ev);
	pr->ev = event_new(chk_engine_base(e), pr->pidfd, EV_READ, on_reaped, pr);
	event_add(pr->ev, NULL);
	pr->next = x->reapers;
	x->reapers = pr;
}

static void exec_engine_free(chk_engine_t *e)
{
	exec_engine_t *x = engine_data(e);
	/* Targets are freed first, so the queue is empty and every command
	 * left was killed by exec_cancel(): wait for each (it is dying). */
	exec_probe_t *pr = x->reapers;
	while (pr) {
		exec_probe_t *next = pr->next;
		int status;
		reap(pr, &status);
		free(pr);
		pr = next;
	}
	free(x);
	*chk_engine_slot(e, CHK_TYPE_EXEC) = NULL;
}

const chk_ops_t chk_exec_ops = {
	.name = "exec",
	.deferred = true,
	.prepare = exec_prepare,
	.start = chk_exec_start,
	.cancel = exec_cancel,
	.free = exec_free,
	.engine_free = exec_engine_free,
};
