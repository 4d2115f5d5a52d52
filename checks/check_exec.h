/*
 * exec probe: runs a command (argv, no shell) and is up when it exits 0
 * within the timeout.  A command that outlives the timeout is killed with
 * its whole process group (SIGKILL) and reaped in the background.
 *
 * Mechanism: posix_spawn (vfork-like, with a new process group, default
 * signal dispositions, stdin/stdout/stderr on /dev/null, every other
 * descriptor closed) plus pidfd_open (Linux >= 5.3); the pidfd becomes
 * readable when the child exits, so an ordinary libevent read event
 * watches it.  No thread, no SIGCHLD handler.  The caller's process must
 * not set SIGCHLD to SIG_IGN (children would be reaped by the kernel and
 * their exit status lost).
 *
 * At most chk_engine_exec_max() commands are alive at once per engine; the
 * other exec probes wait in FIFO order, and a waiting probe's timeout
 * starts only when its command starts.
 */
#pragma once

#include "checks/check_int.h"

/* Starts (or queues) an exec probe of t (ops table entry). */
void chk_exec_start(chk_target_t *t);
