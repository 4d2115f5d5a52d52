/*
 * Logging.  Lines go to stderr (the default, for systemd's journal and
 * tests) or to syslog.  Lead with the subject, then the event, then the
 * details in parentheses (STYLE.md).
 *
 * Thread-safe; but the DNS workers never log per query.
 */
#pragma once

#include <stdbool.h>

enum gtm_log_level { GTM_LOG_ERR = 3, GTM_LOG_WARN = 4, GTM_LOG_INFO = 6, GTM_LOG_DEBUG = 7 };

/* Selects syslog (ident "gtmd") instead of stderr. */
void gtm_log_use_syslog(bool on);
/* Messages above `level` are dropped.  Default GTM_LOG_INFO. */
void gtm_log_set_level(enum gtm_log_level level);
void gtm_log(enum gtm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   gtm_log(GTM_LOG_ERR, __VA_ARGS__)
#define log_warn(...)  gtm_log(GTM_LOG_WARN, __VA_ARGS__)
#define log_info(...)  gtm_log(GTM_LOG_INFO, __VA_ARGS__)
#define log_debug(...) gtm_log(GTM_LOG_DEBUG, __VA_ARGS__)

/* Logs at error level and exits 1.  Only before serving starts. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Logs "assertion failed: EXPR (FILE:LINE)" at error level, then abort()s,
 * so that a broken invariant leaves a core dump to read (not exit(1), which
 * runs atexit handlers and leaves nothing).  Called by gtm_assert().
 */
void gtm_assert_fail(const char *expr, const char *file, int line)
	__attribute__((noreturn, cold));

/* For invariants, not for input (STYLE.md). */
#define gtm_assert(x) do { if (!(x)) gtm_assert_fail(#x, __FILE__, __LINE__); } while (0)
