/*
 * Unit tests of dns/server.c that need no socket: the UDP batch step (the
 * snapshot read lock plus dns_answer for each packet) must answer a batch of
 * varied queries without a single allocation (tests/unit/alloc_count.h).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/diag.h"
#include "dns/plan.h"
#include "dns/server.h"
#include "dns/snapshot.h"
#include "dns/zone.h"
#include "tests/unit/alloc_count.h"
#include "tests/unit/dns/dns_test.h"

#define BATCH 64

static int setup(void **state)
{
	(void)state;
	gtm_diag_t diag = { 0 };
	dns_zoneset_t *zs = dns_zoneset_new();
	assert_int_equal(dns_zoneset_add_zone(zs, "example.com", tdata("example.com.zone"), &diag), 0);
	assert_int_equal(dns_zoneset_add_service(zs, "www.example.com", 0, "test.conf", 1, &diag), 0);
	assert_int_equal(dns_zoneset_freeze(zs, &diag), 0);
	assert_int_equal(diag.count, 0);

	dns_plan_t *plan = dns_plan_new(1);
	struct in_addr a[2];
	struct in6_addr aaaa[1];
	inet_pton(AF_INET, "192.0.2.10", &a[0]);
	inet_pton(AF_INET, "192.0.2.20", &a[1]);
	inet_pton(AF_INET6, "2001:db8::10", &aaaa[0]);
	dns_plan_set_addrs(plan, 0, 30, a, 2, aaaa, 1);

	dns_opts_t opts = { .udp_max = 1232, .nsid_len = 4 };
	memcpy(opts.nsid, "test", 4);
	dns_snapshot_t *snap = dns_snapshot_new(zs, plan, &opts);
	dns_zoneset_unref(zs);
	dns_snapshot_publish(snap);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dns_snapshot_retire();
	return 0;
}

static void test_batch_answers_without_allocating(void **state)
{
	(void)state;
	static const tq_t qs[] = {
		{ .name = "www.example.com", .qtype = 1 },                  /* service A */
		{ .name = "WwW.ExAmPlE.cOm", .qtype = 28, .edns = true, .udp = 1232, .nsid = true },
		{ .name = "www.example.com", .qtype = 16 },                 /* service, other type */
		{ .name = "example.com", .qtype = 6, .edns = true, .udp = 4096 },
		{ .name = "mail.example.com", .qtype = 1 },
		{ .name = "alias.example.com", .qtype = 1 },                /* CNAME */
		{ .name = "big.example.com", .qtype = 16 },                 /* truncated */
		{ .name = "nosuch.example.com", .qtype = 1 },               /* NXDOMAIN */
		{ .name = "c.example.com", .qtype = 1 },                    /* empty non-terminal */
		{ .name = "x.sub.example.com", .qtype = 1, .edns = true, .udp = 1232 }, /* referral */
		{ .name = "www.example.org", .qtype = 1 },                  /* REFUSED */
		{ .name = "example.com", .qtype = 255 },                    /* ANY */
	};
	const size_t nq = sizeof(qs) / sizeof(qs[0]);
	static uint8_t inbuf[BATCH][600], outbuf[BATCH][4096];
	uint8_t *in[BATCH], *out[BATCH];
	size_t inlen[BATCH], outlen[BATCH];
	struct sockaddr_storage from[BATCH];
	dns_stats_t st = { 0 };

	memset(from, 0, sizeof(from));
	for (unsigned i = 0; i < BATCH; i++) {
		tq_t t = qs[i % nq];
		t.id = (uint16_t)(0x1000 + i);
		t.flags1 = 0x01;
		in[i] = inbuf[i];
		out[i] = outbuf[i];
		inlen[i] = tq_build(&t, inbuf[i]);
		struct sockaddr_in *s4 = (struct sockaddr_in *)&from[i];
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)(10000 + i));
		inet_pton(AF_INET, "127.0.0.1", &s4->sin_addr);
	}
	/* One batch outside the count, so that lazily initialised state in
	 * libraries is not mistaken for per-query work. */
	dns_server_answer_batch(BATCH, in, inlen, from, out, sizeof(outbuf[0]), outlen, &st);

	gtm_alloc_count_start();
	for (int round = 0; round < 200; round++)
		dns_server_answer_batch(BATCH, in, inlen, from, out, sizeof(outbuf[0]), outlen, &st);
	long allocs = gtm_alloc_count_stop();

	for (unsigned i = 0; i < BATCH; i++) {
		assert_true(outlen[i] >= 12);
		assert_int_equal(out[i][0], (uint8_t)((0x1000 + i) >> 8));
		assert_int_equal(out[i][1], (uint8_t)(0x1000 + i));
		assert_true(out[i][2] & 0x80); /* QR */
	}
	assert_int_equal(st.queries, 201 * BATCH);
	assert_true(st.truncated > 0 && st.nxdomain > 0 && st.refused > 0);
	if (gtm_alloc_count_available())
		assert_int_equal(allocs, 0);
	else
		print_message("allocation count not checked under AddressSanitizer\n");
}

static void test_batch_drops_qr_and_runts(void **state)
{
	(void)state;
	uint8_t q[600], r[1], o0[4096], o1[4096];
	tq_t t = { .id = 7, .name = "www.example.com", .qtype = 1 };
	size_t ql = tq_build(&t, q);
	q[2] |= 0x80; /* a response: never answered, or two servers could loop */
	r[0] = 0;
	uint8_t *in[2] = { q, r }, *out[2] = { o0, o1 };
	size_t inlen[2] = { ql, 1 }, outlen[2] = { 99, 99 };
	struct sockaddr_storage from[2];
	memset(from, 0, sizeof(from));
	dns_stats_t st = { 0 };
	dns_server_answer_batch(2, in, inlen, from, out, sizeof(o0), outlen, &st);
	assert_int_equal(outlen[0], 0);
	assert_int_equal(outlen[1], 0);
	assert_int_equal(st.dropped, 2);
}

int main(void)
{
	dns_snapshot_thread_register();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_answers_without_allocating),
		cmocka_unit_test(test_batch_drops_qr_and_runts),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);
	dns_snapshot_thread_unregister();
	return rc;
}
