/* Errors, allocation, diagnostics and logging shared by every module. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "common/alloc.h"
#include "common/diag.h"
#include "common/errcode.h"
#include "common/log.h"

const char *gtm_strerror(int code)
{
	switch (code) {
	case GTM_EOK: return "ok";
	case GTM_ENOMEM: return "out of memory";
	case GTM_EINVAL: return "invalid argument";
	case GTM_EIO: return "input/output error";
	case GTM_EPARSE: return "parse error";
	case GTM_EEXIST: return "already exists";
	case GTM_ENOENT: return "no such name";
	case GTM_ERANGE: return "value out of range";
	case GTM_ESPACE: return "not enough space";
	}
	return "unknown error";
}

static void oom(size_t size)
{
	fprintf(stderr, "gtm: out of memory allocating %zu bytes\n", size);
	abort();
}

void *gtm_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (p == NULL)
		oom(size);
	return p;
}

void *gtm_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom(n * size);
	return p;
}

void *gtm_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (p == NULL)
		oom(size);
	return p;
}

void *gtm_xgrow(void *ptr, size_t n, size_t size)
{
	/* Capacity is implicit: the next power of two >= n. */
	if (n == 0)
		return gtm_xrealloc(ptr, 4 * size);
	if (n >= 4 && (n & (n - 1)) == 0)
		return gtm_xrealloc(ptr, 2 * n * size);
	return ptr;
}

char *gtm_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = gtm_xmalloc(n);
	memcpy(p, s, n);
	return p;
}

static char *vxasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	char *p = gtm_xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *gtm_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = vxasprintf(fmt, ap);
	va_end(ap);
	return p;
}

static void diag_push(gtm_diag_t *d, char *full, bool warn)
{
	d->msgs = gtm_xgrow(d->msgs, d->count, sizeof(*d->msgs));
	d->warn = gtm_xgrow(d->warn, d->count, sizeof(*d->warn));
	d->msgs[d->count] = full;
	d->warn[d->count++] = warn;
	d->nwarn += warn;
}

static void diag_vadd(gtm_diag_t *d, bool warn, const char *file, int line, const char *fmt, va_list ap)
{
	char *msg = vxasprintf(fmt, ap);
	const char *sev = warn ? "warning: " : "";
	char *full;
	if (file == NULL && !warn)
		full = msg;
	else {
		if (file == NULL)
			full = gtm_xasprintf("%s%s", sev, msg);
		else if (line > 0)
			full = gtm_xasprintf("%s:%d: %s%s", file, line, sev, msg);
		else
			full = gtm_xasprintf("%s: %s%s", file, sev, msg);
		free(msg);
	}
	diag_push(d, full, warn);
}

void gtm_diag_add(gtm_diag_t *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, false, file, line, fmt, ap);
	va_end(ap);
}

void gtm_diag_warn(gtm_diag_t *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, true, file, line, fmt, ap);
	va_end(ap);
}

void gtm_diag_copy(gtm_diag_t *to, const gtm_diag_t *from, size_t i)
{
	diag_push(to, gtm_xstrdup(from->msgs[i]), from->warn && from->warn[i]);
}

size_t gtm_diag_errors(const gtm_diag_t *d)
{
	return d->count - d->nwarn;
}

void gtm_diag_clear(gtm_diag_t *d)
{
	for (size_t i = 0; i < d->count; i++)
		free(d->msgs[i]);
	free(d->msgs);
	free(d->warn);
	d->msgs = NULL;
	d->warn = NULL;
	d->count = 0;
	d->nwarn = 0;
}

static bool use_syslog;
static enum gtm_log_level max_level = GTM_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void gtm_log_use_syslog(bool on)
{
	if (on && !use_syslog)
		openlog("gtmd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = on;
}

void gtm_log_set_level(enum gtm_log_level level)
{
	max_level = level;
}

static void vlog(enum gtm_log_level level, const char *fmt, va_list ap)
{
	if (level > max_level)
		return;
	if (use_syslog) {
		vsyslog((int)level, fmt, ap);
		return;
	}
	static const char *const names[] = {
		[GTM_LOG_ERR] = "error", [GTM_LOG_WARN] = "warning",
		[GTM_LOG_INFO] = "info", [GTM_LOG_DEBUG] = "debug",
	};
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One lock so that lines of different threads do not interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ldZ gtmd[%s]: ", stamp, ts.tv_nsec / 1000000L, names[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}

void gtm_log(enum gtm_log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(GTM_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void gtm_assert_fail(const char *expr, const char *file, int line)
{
	log_err("assertion failed: %s (%s:%d)", expr, file, line);
	abort();
}
