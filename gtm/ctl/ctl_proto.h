/*
 * The control protocol's small shared pieces (gtm/ctl/ctl.h documents the
 * protocol): reply builders for gtmd's handlers, and gtmctl's command line
 * turned into a request, kept here so that it is unit tested.
 *
 * Built into its own library (gtm_ctlproto: common + jansson) so that
 * gtmctl does not link the daemon.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The protocol's limits and default path, shared by gtmd, gtmctl and the
 * configuration loader (control.socket's default). */
#define GTM_CTL_MAX_LINE (64 * 1024)
#define GTM_CTL_DEFAULT_SOCKET "/run/gtm/gtmd.sock"

/* gtmctl's exit codes (gtmctl --help, gtmctl(8)). */
enum {
	GTM_CLI_OK = 0,       /* done */
	GTM_CLI_FAIL = 1,     /* the server answered with an error or refused the action */
	GTM_CLI_USAGE = 2,    /* bad command line */
	GTM_CLI_CONNECT = 3,  /* cannot connect to the control socket */
	GTM_CLI_PROTO = 4,    /* connected, but no valid reply (closed, timeout, bad JSON) */
};

/* {"ok":false,"error":<printf>}.  New reference. */
json_t *gtm_ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* {"ok":false,"refused":true,"error":<printf>}.  New reference. */
json_t *gtm_ctl_refused(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parses a duration: "30s", "2m", "1h30m", "500ms", "1d", "90" (seconds),
 * "1.5s", "0".  Units ms, s, m, h, d; a number without a unit is seconds
 * and only allowed alone.  Returns 0 with *ms set, or GTM_EINVAL (empty,
 * unknown unit, a negative value, garbage) or GTM_ERANGE (over 7 days).
 */
int gtm_duration_parse(const char *s, uint64_t *ms);

/* Formats `ms` the way gtm_duration_parse reads it ("1h30m", "7.5s",
 * "0s").  Returns `buf`. */
char *gtm_duration_format(uint64_t ms, char *buf, size_t len);

/* What gtmctl's command line asks for. */
typedef struct gtm_cli {
	const char *socket;   /* -s; default GTM_CTL_DEFAULT_SOCKET */
	bool json;            /* --json */
	bool wait;            /* drain --wait */
	bool help, version;   /* -h, -V: print and exit 0 */
	bool action;          /* the command changes state (drain, evacuate, ...) */
	double timeout_s;     /* -t; default 30 */
	const char *cmd;      /* the command (borrowed from argv) */
	json_t *request;      /* the request to send; owned (gtm_cli_clear) */
} gtm_cli_t;

/*
 * Parses gtmctl's arguments (argv[0] is the program).  Options may come
 * before or after the command and its operands.  Returns 0 and fills
 * `cli` (with help or version set, nothing else need be valid), or
 * GTM_EINVAL with a one-line message in `err` (exit GTM_CLI_USAGE).
 * Reentrant enough for tests: resets getopt.
 */
int gtm_cli_parse(int argc, char **argv, gtm_cli_t *cli, char *err, size_t errlen);

/* Frees cli->request. */
void gtm_cli_clear(gtm_cli_t *cli);

/* The exit code for a reply (GTM_CLI_OK or GTM_CLI_FAIL; GTM_CLI_PROTO
 * when `reply` is not an object with a boolean "ok"). */
int gtm_cli_exit_code(const json_t *reply);

/* gtmctl's usage text (exit codes included). */
extern const char gtm_cli_usage[];
