/*
 * Validation of check parameters and targets (what `gtmd -t` prints), the
 * defaults, reason names, and reconcile on reload without a running loop.
 */
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "checks/check.h"
#include "common/errcode.h"

static bool has(const gtm_diag_t *d, const char *needle)
{
	for (size_t i = 0; i < d->count; i++)
		if (strstr(d->msgs[i], needle))
			return true;
	return false;
}

static void test_defaults(void **state)
{
	chk_params_t p;
	chk_params_init(&p, CHK_TYPE_HTTP);
	assert_int_equal(p.interval_ms, 1000);
	assert_int_equal(p.recheck_ms, 100);
	assert_int_equal(p.rise, 2);
	assert_int_equal(p.fall, 3);
	assert_true(p.http.tls_verify);
	gtm_diag_t d = { 0 };
	assert_int_equal(chk_params_check(&p, &d, "gtm.conf", 12), 0);
	assert_int_equal(d.count, 0);
	chk_type_t t;
	assert_int_equal(chk_type_parse("https", &t), 0);
	assert_int_equal(t, CHK_TYPE_HTTPS);
	assert_int_equal(chk_type_parse("ftp", &t), GTM_EINVAL);
	for (int r = 0; r < CHK_REASON_COUNT; r++)
		assert_string_not_equal(chk_reason_name((chk_reason_t)r), "unknown reason");
	assert_string_equal(chk_reason_name(CHK_FAIL_TIMEOUT), "timeout");
}

static void test_errors(void **state)
{
	gtm_diag_t d = { 0 };
	chk_params_t p;
	chk_params_init(&p, CHK_TYPE_TCP);
	p.name = "web";
	p.interval_ms = 500;
	p.timeout_ms = 500;      /* not < interval */
	p.rise = 0;
	p.jitter = 0.9;
	p.source = "not-an-ip";
	assert_int_equal(chk_params_check(&p, &d, "gtm.conf", 7), GTM_EINVAL);
	assert_true(has(&d, "gtm.conf:7: check web, timeout 500 ms must be less than the interval 500 ms"));
	assert_true(has(&d, "rise 0"));
	assert_true(has(&d, "jitter"));
	assert_true(has(&d, "source \"not-an-ip\""));
	assert_true(has(&d, "tcp needs a port"));
	assert_int_equal(d.count, 5);
	gtm_diag_clear(&d);

	chk_params_init(&p, CHK_TYPE_HTTP);
	p.http.method = CHK_HTTP_HEAD;
	p.http.body = "ok";
	p.http.path = "health";
	p.http.status[0] = 999;
	p.http.nstatus = 1;
	assert_int_equal(chk_params_check(&p, &d, "gtm.conf", 8), GTM_EINVAL);
	assert_true(has(&d, "HEAD request has no body"));
	assert_true(has(&d, "must start with /"));
	assert_true(has(&d, "status 999"));
	gtm_diag_clear(&d);

	chk_params_init(&p, CHK_TYPE_HTTPS);
	p.http.ca_file = "/nonexistent/ca.pem";
	p.http.host = "bad host";
	assert_int_equal(chk_params_check(&p, &d, NULL, 0), GTM_EINVAL);
	assert_true(has(&d, "CA file /nonexistent/ca.pem"));
	assert_true(has(&d, "not a valid host name"));
	gtm_diag_clear(&d);

	chk_params_init(&p, CHK_TYPE_DNS);
	assert_int_equal(chk_params_check(&p, &d, NULL, 0), GTM_EINVAL);   /* no qname */
	p.dns.qname = "a..b";
	p.dns.answer = "nope";
	p.dns.rcode = 16;
	assert_int_equal(chk_params_check(&p, &d, NULL, 0), GTM_EINVAL);
	assert_true(has(&d, "qname \"a..b\""));
	assert_true(has(&d, "answer \"nope\""));
	assert_true(has(&d, "rcode 16"));
	gtm_diag_clear(&d);

	static const char *const rel[] = { "true", NULL };
	chk_params_init(&p, CHK_TYPE_EXEC);
	p.exec.argv = rel;
	assert_int_equal(chk_params_check(&p, &d, NULL, 0), GTM_EINVAL);
	assert_true(has(&d, "absolute path"));
	gtm_diag_clear(&d);

	/* the timeout default is half the interval: valid */
	chk_params_init(&p, CHK_TYPE_TCP);
	p.port = 80;
	p.interval_ms = 200;
	assert_int_equal(chk_params_check(&p, &d, NULL, 0), 0);
	/* targets: the address and its family */
	p.source = "::1";
	chk_target_spec_t s = { .params = &p, .address = "192.0.2.1" };
	assert_int_equal(chk_target_spec_check(&s, &d, "f", 1), GTM_EINVAL);
	assert_true(has(&d, "different families"));
	s.address = "example.com";
	assert_int_equal(chk_target_spec_check(&s, &d, "f", 1), GTM_EINVAL);
	assert_true(has(&d, "not an IP address"));
	gtm_diag_clear(&d);
}

static void test_reconcile(void **state)
{
	struct event_base *base = event_base_new();
	chk_engine_t *old = chk_engine_new(base, NULL, NULL);
	chk_params_t p;
	chk_params_init(&p, CHK_TYPE_TCP);
	p.port = 80;
	chk_target_spec_t s = { .params = &p, .address = "192.0.2.1", .user_id = 1,
	                        .initial = CHK_STATE_DOWN };
	assert_int_equal(chk_target_add(old, &s), 0);
	s.address = "192.0.2.2";
	s.initial = CHK_STATE_UP;
	assert_int_equal(chk_target_add(old, &s), 1);
	s.address = "192.0.2.2";        /* a duplicate: matched once each */
	s.initial = CHK_STATE_DOWN;
	assert_int_equal(chk_target_add(old, &s), 2);

	chk_engine_t *new_e = chk_engine_new(base, NULL, NULL);
	s.initial = CHK_STATE_UNKNOWN;
	s.address = "192.0.2.2";
	s.user_id = 7;
	chk_target_add(new_e, &s);      /* <- old 1 (UP) */
	s.user_id = 8;
	chk_target_add(new_e, &s);      /* <- old 2 (DOWN) */
	s.user_id = 9;
	chk_target_add(new_e, &s);      /* no third one: stays UNKNOWN */
	p.port = 81;
	s.address = "192.0.2.1";
	chk_target_add(new_e, &s);      /* port changed: UNKNOWN */
	assert_int_equal(chk_engine_reconcile(new_e, old), 2);
	chk_status_t st;
	chk_status_get(new_e, 0, &st);
	assert_int_equal(st.state, CHK_STATE_UP);
	assert_int_equal(st.user_id, 7);
	chk_status_get(new_e, 1, &st);
	assert_int_equal(st.state, CHK_STATE_DOWN);
	chk_status_get(new_e, 2, &st);
	assert_int_equal(st.state, CHK_STATE_UNKNOWN);
	chk_status_get(new_e, 3, &st);
	assert_int_equal(st.state, CHK_STATE_UNKNOWN);
	assert_int_equal(chk_engine_unknown_count(new_e), 2);
	chk_engine_free(old);
	chk_engine_free(new_e);
	chk_engine_free(NULL);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_reconcile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
