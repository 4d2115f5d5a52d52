/*
 * The HTTP response matcher of checks/check_http.c: status line parsing,
 * the expected status list, body substring search across any split of
 * the bytes, body_max and Content-Length bounds, and EOF handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "checks/check_http.h"

static const uint16_t ok200[] = { 200 };
static const uint16_t ok2xx[] = { 200, 204, 301 };

/* Feeds `resp` in pieces of `step` bytes (0: all at once), then EOF if it
 * is still undecided; returns the reason. */
static int run(const uint16_t *st, size_t nst, const char *needle, uint32_t body_max,
               const char *resp, size_t step)
{
	uint32_t kmp[64];
	if (needle)
		chk_http_kmp_build(needle, strlen(needle), kmp);
	chk_http_match_t m;
	chk_http_match_init(&m, st, nst, needle, needle ? kmp : NULL, body_max);
	size_t len = strlen(resp), off = 0;
	int r = CHK_HTTP_MORE;
	while (off < len && r == CHK_HTTP_MORE) {
		size_t n = step == 0 || step > len - off ? len - off : step;
		r = chk_http_match_feed(&m, resp + off, n);
		off += n;
	}
	if (r == CHK_HTTP_MORE)
		r = chk_http_match_eof(&m);
	return r;
}

/* The same response must give the same answer at every split size. */
static void expect(const uint16_t *st, size_t nst, const char *needle, uint32_t body_max,
                   const char *resp, int want)
{
	for (size_t step = 0; step <= 17; step++) {
		int r = run(st, nst, needle, body_max, resp, step);
		if (r != want) {
			print_error("step %zu: got %s, want %s for %s\n", step,
			            chk_reason_name((chk_reason_t)r), chk_reason_name((chk_reason_t)want), resp);
			fail();
		}
	}
}

static void test_status_parse(void **state)
{
	int s = 0;
	assert_int_equal(chk_http_status_parse("HTTP/1.1 200 OK", 15, &s), 0);
	assert_int_equal(s, 200);
	assert_int_equal(chk_http_status_parse("HTTP/1.0 503", 12, &s), 0);
	assert_int_equal(s, 503);
	assert_int_equal(chk_http_status_parse("HTTP/1.1 404 Not Found", 22, &s), 0);
	assert_int_equal(s, 404);
	assert_int_not_equal(chk_http_status_parse("HTTP/1.1 20 OK", 14, &s), 0);
	assert_int_not_equal(chk_http_status_parse("HTTP/1.1 2000 OK", 16, &s), 0);
	assert_int_not_equal(chk_http_status_parse("HTTP/1.1 abc OK", 15, &s), 0);
	assert_int_not_equal(chk_http_status_parse("ICY 200 OK", 10, &s), 0);
	assert_int_not_equal(chk_http_status_parse("", 0, &s), 0);
	assert_int_not_equal(chk_http_status_parse("HTTP/1.1 099 X", 14, &s), 0);
	assert_true(chk_http_status_ok(ok2xx, 3, 204));
	assert_false(chk_http_status_ok(ok2xx, 3, 500));
}

static void test_status_list(void **state)
{
	expect(ok200, 1, NULL, 1000, "HTTP/1.1 200 OK\r\n\r\n", CHK_OK);
	/* decided by the status line alone: headers may never come */
	expect(ok200, 1, NULL, 1000, "HTTP/1.1 200 OK\r\n", CHK_OK);
	expect(ok200, 1, NULL, 1000, "HTTP/1.1 500 Internal Server Error\r\n\r\nboom", CHK_FAIL_HTTP_STATUS);
	expect(ok2xx, 3, NULL, 1000, "HTTP/1.0 301 Moved\r\nLocation: /x\r\n\r\n", CHK_OK);
	expect(ok2xx, 3, NULL, 1000, "HTTP/1.0 302 Found\r\n\r\n", CHK_FAIL_HTTP_STATUS);
	/* bare LF line ends */
	expect(ok200, 1, NULL, 1000, "HTTP/1.1 200 OK\n\n", CHK_OK);
	/* an interim 100 Continue before the real status */
	expect(ok200, 1, NULL, 1000, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", CHK_OK);
	expect(ok200, 1, NULL, 1000, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 X\r\n\r\n",
	       CHK_FAIL_HTTP_STATUS);
	/* garbage and truncation */
	expect(ok200, 1, NULL, 1000, "SSH-2.0-OpenSSH_9.2\r\n", CHK_FAIL_PROTOCOL);
	expect(ok200, 1, NULL, 1000, "HTTP/1.1 20", CHK_FAIL_PROTOCOL);
	expect(ok200, 1, NULL, 1000, "", CHK_FAIL_PROTOCOL);
}

static void test_body(void **state)
{
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstatus: healthy\n";
	expect(ok200, 1, "healthy", 1000, ok, CHK_OK);
	expect(ok200, 1, "sick", 1000, ok, CHK_FAIL_HTTP_BODY);
	/* the status is checked before the body */
	expect(ok200, 1, "healthy", 1000, "HTTP/1.1 503 X\r\n\r\nhealthy", CHK_FAIL_HTTP_STATUS);
	/* the needle is looked for in the body only, not in headers */
	expect(ok200, 1, "healthy", 1000, "HTTP/1.1 200 OK\r\nX-State: healthy\r\n\r\nnope",
	       CHK_FAIL_HTTP_BODY);
	/* overlapping prefixes exercise the KMP fallback */
	expect(ok200, 1, "aab", 1000, "HTTP/1.1 200 OK\r\n\r\naaaab", CHK_OK);
	expect(ok200, 1, "abab", 1000, "HTTP/1.1 200 OK\r\n\r\nabaabab", CHK_OK);
	expect(ok200, 1, "abab", 1000, "HTTP/1.1 200 OK\r\n\r\nabaaba", CHK_FAIL_HTTP_BODY);
	/* headers cut before the empty line */
	expect(ok200, 1, "x", 1000, "HTTP/1.1 200 OK\r\nServer: y\r\n", CHK_FAIL_PROTOCOL);
}

static void test_body_bounds(void **state)
{
	/* body_max: the match must lie within the first body_max bytes */
	const char *resp = "HTTP/1.1 200 OK\r\n\r\n0123456789OK";
	expect(ok200, 1, "OK", 12, resp, CHK_OK);
	expect(ok200, 1, "OK", 11, resp, CHK_FAIL_HTTP_BODY);
	/* decided at body_max without waiting for EOF */
	uint32_t kmp[2];
	chk_http_kmp_build("OK", 2, kmp);
	chk_http_match_t m;
	chk_http_match_init(&m, ok200, 1, "OK", kmp, 5);
	assert_int_equal(chk_http_match_feed(&m, "HTTP/1.1 200 OK\r\n\r\n", 19), CHK_HTTP_MORE);
	assert_int_equal(chk_http_match_feed(&m, "abcdefgh", 8), CHK_FAIL_HTTP_BODY);
	/* and again: a decided matcher keeps its answer */
	assert_int_equal(chk_http_match_feed(&m, "OK", 2), CHK_FAIL_HTTP_BODY);
	/* Content-Length ends the body early (keep-alive servers) */
	chk_http_match_init(&m, ok200, 1, "OK", kmp, 1000);
	assert_int_equal(chk_http_match_feed(&m, "HTTP/1.1 200 OK\r\ncontent-length:  3\r\n\r\nab", 41),
	                 CHK_HTTP_MORE);
	assert_int_equal(chk_http_match_feed(&m, "c", 1), CHK_FAIL_HTTP_BODY);
	/* bytes beyond Content-Length are not body */
	expect(ok200, 1, "OK", 1000, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nxxOK", CHK_FAIL_HTTP_BODY);
	expect(ok200, 1, "OK", 1000, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", CHK_FAIL_HTTP_BODY);
	expect(ok200, 1, "OK", 1000, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nxxOK", CHK_OK);
}

static void test_long_lines(void **state)
{
	/* a long header is skipped; an endless one is a protocol error */
	size_t n = 5000;
	char *resp = malloc(n + 64);
	strcpy(resp, "HTTP/1.1 200 OK\r\nX-Long: ");
	size_t o = strlen(resp);
	memset(resp + o, 'x', n);
	strcpy(resp + o + n, "\r\n\r\nhealthy");
	expect(ok200, 1, "healthy", 1000, resp, CHK_OK);
	free(resp);
	n = 10000;
	resp = malloc(n + 64);
	strcpy(resp, "HTTP/1.1 200 OK\r\nX-Long: ");
	o = strlen(resp);
	memset(resp + o, 'x', n);
	resp[o + n] = '\0';
	expect(ok200, 1, "healthy", 1000, resp, CHK_FAIL_PROTOCOL);
	free(resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_parse),
		cmocka_unit_test(test_status_list),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_body_bounds),
		cmocka_unit_test(test_long_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
