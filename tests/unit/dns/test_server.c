/*
 * Unit tests of dns/server.c that need no socket: the UDP batch step must
 * answer a batch of varied queries without a single allocation.
 *
 * The program interposes malloc, calloc, realloc and free (forwarding to
 * glibc's __libc_* entry points) and counts calls while `counting` is set,
 * so allocations inside shared libraries are seen too.  Under AddressSanitizer
 * the allocator belongs to the sanitizer, so the count is checked in the
 * normal build only; the answers are checked in both.
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

#if defined(__SANITIZE_ADDRESS__)
#define GTM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GTM_ASAN 1
#endif
#endif

static volatile int counting;
static volatile long allocs;

#ifndef GTM_ASAN
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
	if (counting)
		allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (counting)
		allocs++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (counting)
		allocs++;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	if (counting && p != NULL)
		allocs++;
	__libc_free(p);
}
#endif

#define BATCH 64

static const char zone_text[] =
	"$ORIGIN example.com.\n"
	"$TTL 3600\n"
	"@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
	"@ IN NS ns1\n"
	"ns1 IN A 192.0.2.53\n"
	"mail IN A 192.0.2.25\n"
	"@ IN MX 10 mail\n"
	"web IN CNAME www\n"
	"txt IN TXT \"hello\" \"world\"\n"
	"a.b IN A 192.0.2.1\n"
	"sub IN NS ns.sub\n"
	"ns.sub IN A 192.0.2.99\n";

static char zone_path[] = "/tmp/gtm-test-server-XXXXXX";

/* Writes a query for `name` (dotted) and `type` into buf; returns its length. */
static size_t make_query(uint8_t *buf, uint16_t id, const char *name, uint16_t type, int edns)
{
	size_t n = 0;
	buf[n++] = (uint8_t)(id >> 8);
	buf[n++] = (uint8_t)id;
	buf[n++] = 0x01; /* RD */
	buf[n++] = 0x00;
	const uint8_t counts[8] = { 0, 1, 0, 0, 0, 0, 0, (uint8_t)(edns ? 1 : 0) };
	memcpy(buf + n, counts, 8);
	n += 8;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		buf[n++] = (uint8_t)l;
		memcpy(buf + n, p, l);
		n += l;
		p += l;
		if (*p == '.')
			p++;
	}
	buf[n++] = 0;
	buf[n++] = (uint8_t)(type >> 8);
	buf[n++] = (uint8_t)type;
	buf[n++] = 0;
	buf[n++] = 1;
	if (edns) {
		/* OPT: root owner, type 41, size 1232, ext rcode/version/flags 0,
		 * one NSID option (code 3, empty). */
		const uint8_t opt[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0 };
		memcpy(buf + n, opt, sizeof(opt));
		n += sizeof(opt);
	}
	return n;
}

static int setup(void **state)
{
	(void)state;
	int fd = mkstemp(zone_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, zone_text, sizeof(zone_text) - 1), (ssize_t)(sizeof(zone_text) - 1));
	close(fd);

	gtm_diag_t diag = { 0 };
	dns_zoneset_t *zs = dns_zoneset_new();
	assert_int_equal(dns_zoneset_add_zone(zs, "example.com", zone_path, &diag), 0);
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
	unlink(zone_path);
	return 0;
}

static void test_batch_answers_without_allocating(void **state)
{
	(void)state;
	static const struct { const char *name; uint16_t type; int edns; } qs[] = {
		{ "www.example.com", 1, 0 },      /* service A */
		{ "WwW.ExAmPlE.cOm", 28, 1 },     /* service AAAA, EDNS + NSID */
		{ "www.example.com", 16, 0 },     /* service NODATA */
		{ "example.com", 6, 1 },          /* SOA */
		{ "example.com", 15, 0 },         /* MX */
		{ "web.example.com", 1, 0 },      /* CNAME to the service */
		{ "txt.example.com", 16, 1 },     /* TXT */
		{ "nosuch.example.com", 1, 0 },   /* NXDOMAIN */
		{ "b.example.com", 1, 0 },        /* empty non-terminal */
		{ "host.sub.example.com", 1, 1 }, /* referral */
		{ "www.example.org", 1, 0 },      /* REFUSED */
		{ "example.com", 255, 0 },        /* ANY */
	};
	const size_t nq = sizeof(qs) / sizeof(qs[0]);
	static uint8_t inbuf[BATCH][512], outbuf[BATCH][4096];
	uint8_t *in[BATCH], *out[BATCH];
	size_t inlen[BATCH], outlen[BATCH];
	struct sockaddr_storage from[BATCH];
	dns_stats_t st = { 0 };

	memset(from, 0, sizeof(from));
	for (unsigned i = 0; i < BATCH; i++) {
		in[i] = inbuf[i];
		out[i] = outbuf[i];
		inlen[i] = make_query(inbuf[i], (uint16_t)(0x1000 + i), qs[i % nq].name,
		                      qs[i % nq].type, qs[i % nq].edns);
		struct sockaddr_in *s4 = (struct sockaddr_in *)&from[i];
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)(10000 + i));
		inet_pton(AF_INET, "127.0.0.1", &s4->sin_addr);
	}
	/* One batch outside the count, so that lazily initialised state in
	 * libraries is not mistaken for per-query work. */
	dns_server_answer_batch(BATCH, in, inlen, from, out, sizeof(outbuf[0]), outlen, &st);

	allocs = 0;
	counting = 1;
	for (int round = 0; round < 200; round++)
		dns_server_answer_batch(BATCH, in, inlen, from, out, sizeof(outbuf[0]), outlen, &st);
	counting = 0;

	for (unsigned i = 0; i < BATCH; i++) {
		assert_true(outlen[i] >= 12);
		assert_int_equal(out[i][0], (uint8_t)((0x1000 + i) >> 8));
		assert_int_equal(out[i][1], (uint8_t)(0x1000 + i));
		assert_true(out[i][2] & 0x80); /* QR */
	}
	assert_int_equal(st.queries, 201 * BATCH);
#ifdef GTM_ASAN
	print_message("allocation count not checked under AddressSanitizer\n");
#else
	assert_int_equal(allocs, 0);
#endif
}

static void test_batch_drops_qr_and_runts(void **state)
{
	(void)state;
	uint8_t q[64], r[1], o0[4096], o1[4096];
	size_t ql = make_query(q, 7, "www.example.com", 1, 0);
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
