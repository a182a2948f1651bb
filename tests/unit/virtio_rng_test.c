/*
 * Unit tests of virtio-rng (virtio/rng.h) on fake guest memory with the
 * fake transport and driver (unit/virtio_dev_fixture.h): requests are filled
 * exactly in their writable bytes (across regions, split and packed rings),
 * capped per request, reported with the right used length and interrupt;
 * a starved source never blocks and keeps the request for later; a
 * malformed request sets DEVICE_NEEDS_RESET; bad arguments fail with
 * -EINVAL and a message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/virtio/rng.h>
#include "unit/virtio_dev_fixture.h"

struct src {
	uint8_t next;  /* pattern: consecutive byte values */
	ssize_t limit; /* bytes it gives per call at most (-1: all) */
	int eagain;    /* say -EAGAIN */
	int err;       /* say this error */
	unsigned calls;
};

static ssize_t src_fill(void *opaque, void *buf, size_t len)
{
	struct src *s = opaque;
	uint8_t *p = buf;

	s->calls++;
	if (s->err)
		return s->err;
	if (s->eagain)
		return -EAGAIN;
	if (s->limit >= 0 && len > (size_t)s->limit)
		len = (size_t)s->limit;
	for (size_t i = 0; i < len; i++)
		p[i] = s->next++;
	return (ssize_t)len;
}

struct fix {
	struct vdf f;
	struct src src;
	struct kvmhost_virtio_rng *rng;
};

static void make(struct fix *x, uint32_t max_request, int own_source)
{
	struct kvmhost_virtio_rng_options o = {.size = sizeof(o), .max_request = max_request, .name = "rng0"};

	if (own_source) {
		o.fill = src_fill;
		o.fill_opaque = &x->src;
	}
	assert_int_equal(kvmhost_virtio_rng_create(x->f.m.mem, &o, &x->rng), 0);
	assert_int_equal(vdf_attach(&x->f, kvmhost_virtio_rng_device(x->rng)), 0);
}

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_int_equal(vd_mem_init(&x->f.m), 0);
	x->src.limit = -1;
	x->src.next = 1;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	kvmhost_virtio_rng_destroy(x->rng);
	vd_mem_fini(&x->f.m);
	free(x);
	return 0;
}

static void start(struct fix *x, int packed)
{
	int r = vdf_start(&x->f, 0, 1, packed, 16);

	if (r < 0)
		print_error("start: %s\n", kvmhost_last_error());
	assert_int_equal(r, 0);
}

static void expect_used(struct fix *x, uint32_t want_id, uint32_t want_len)
{
	uint32_t id, len;

	assert_int_equal(vdf_used(&x->f, 0, &id, &len), 1);
	assert_int_equal(id, want_id);
	assert_int_equal(len, want_len);
}

static void expect_no_used(struct fix *x)
{
	uint32_t id, len;

	assert_int_equal(vdf_used(&x->f, 0, &id, &len), 0);
}

/* Bytes [gpa, gpa + len) hold the pattern from @first, and the bytes just
 * around them still hold @guard. */
static void expect_pattern(struct fix *x, uint64_t gpa, uint32_t len, uint8_t first, uint8_t guard)
{
	assert_int_equal(*vd_host(&x->f.m, gpa - 1), guard);
	for (uint32_t i = 0; i < len; i++)
		assert_int_equal(*vd_host(&x->f.m, gpa + i), (uint8_t)(first + i));
	assert_int_equal(*vd_host(&x->f.m, gpa + len), guard);
}

/* ---- arguments ---- */

static void test_create_args(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_rng *r = (void *)1;
	struct kvmhost_virtio_rng_options o = {.size = sizeof(o)};
	struct {
		struct kvmhost_virtio_rng_options o;
		uint64_t extra;
	} big = {.o = {.size = sizeof(big)}, .extra = 1};
	struct kvmhost_virtio_rng_stats st = {.size = sizeof(st)};

	assert_int_equal(kvmhost_virtio_rng_create(NULL, &o, &r), -EINVAL);
	assert_null(r);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_rng_create"));
	assert_int_equal(kvmhost_virtio_rng_create(x->f.m.mem, &o, NULL), -EINVAL);
	o.max_request = KVMHOST_VIRTIO_RNG_MAX_REQUEST + 1;
	assert_int_equal(kvmhost_virtio_rng_create(x->f.m.mem, &o, &r), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "max_request"));
	o.max_request = 0;
	o.queue_size = KVMHOST_VIRTQ_MAX_SIZE + 1;
	assert_int_equal(kvmhost_virtio_rng_create(x->f.m.mem, &o, &r), -EINVAL);
	o.queue_size = 0;
	o.size = 1;
	assert_int_equal(kvmhost_virtio_rng_create(x->f.m.mem, &o, &r), -EINVAL);
	assert_int_equal(kvmhost_virtio_rng_create(x->f.m.mem, &big.o, &r), -E2BIG);
	big.extra = 0;
	assert_int_equal(kvmhost_virtio_rng_create(x->f.m.mem, &big.o, &r), 0);
	kvmhost_virtio_rng_destroy(r);
	/* NULL options: defaults. */
	assert_int_equal(kvmhost_virtio_rng_create(x->f.m.mem, NULL, &r), 0);
	assert_int_equal(kvmhost_virtio_device_id(kvmhost_virtio_rng_device(r)), KVMHOST_VIRTIO_ID_ENTROPY);
	assert_int_equal(kvmhost_virtio_device_num_queues(kvmhost_virtio_rng_device(r)), 1);
	assert_int_equal(kvmhost_virtio_device_config_size(kvmhost_virtio_rng_device(r)), 0);
	assert_int_equal(kvmhost_virtq_max_size(kvmhost_virtio_device_queue(kvmhost_virtio_rng_device(r), 0)), 256);
	/* Not live yet: process does nothing. */
	assert_int_equal(kvmhost_virtio_rng_process(r), 0);
	kvmhost_virtio_rng_destroy(r);

	assert_null(kvmhost_virtio_rng_device(NULL));
	kvmhost_virtio_rng_destroy(NULL);
	assert_int_equal(kvmhost_virtio_rng_process(NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_rng_process"));
	assert_int_equal(kvmhost_virtio_rng_get_stats(NULL, &st), -EINVAL);
	make(x, 0, 1);
	assert_int_equal(kvmhost_virtio_rng_get_stats(x->rng, NULL), -EINVAL);
	st.size = 0;
	assert_int_equal(kvmhost_virtio_rng_get_stats(x->rng, &st), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "size"));
}

static void test_features(void **state)
{
	struct fix *x = *state;
	uint64_t f;

	make(x, 0, 1);
	f = kvmhost_virtio_device_offered_features(kvmhost_virtio_rng_device(x->rng));
	assert_true(f & KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_VERSION_1));
	assert_true(f & KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED));
	assert_true(f & KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX));
	assert_true(f & KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC));
	assert_int_equal(f & 0xffffffull, 0); /* no device-specific bits */
}

/* ---- serving ---- */

static void fill_exact(struct fix *x, int packed)
{
	struct vd_buf b[2] = {
	    {VDF_BUF + 0x100, 40, 1},
	    /* crosses from region A into region B: two iovecs */
	    {VD_B_GPA - 8, 24, 1},
	};
	struct kvmhost_virtio_rng_stats st = {.size = sizeof(st)};
	uint16_t id;

	make(x, 0, 1);
	start(x, packed);
	memset(vd_host(&x->f.m, VDF_BUF + 0x100 - 1), 0xee, 42);
	memset(vd_host(&x->f.m, VD_B_GPA - 9), 0xee, 8 + 1);
	memset(vd_host(&x->f.m, VD_B_GPA), 0xee, 16 + 1);
	id = vdf_post(&x->f, 0, b, 2);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_used(x, id, 64);
	assert_int_equal(x->f.qirq[0], 1);
	expect_pattern(x, VDF_BUF + 0x100, 40, 1, 0xee);
	expect_pattern(x, VD_B_GPA - 8, 24, 41, 0xee);
	expect_no_used(x);

	/* A second request, then a kick with nothing posted. */
	id = vdf_post1(&x->f, 0, VDF_BUF + 0x400, 7, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_used(x, id, 7);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_no_used(x);
	assert_int_equal(x->f.qirq[0], 2);
	assert_int_equal(kvmhost_virtio_rng_get_stats(x->rng, &st), 0);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.bytes, 71);
	assert_int_equal(st.starved, 0);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

static void test_fill_exact_split(void **state)
{
	fill_exact(*state, 0);
}

static void test_fill_exact_packed(void **state)
{
	fill_exact(*state, 1);
}

static void test_getrandom(void **state)
{
	struct fix *x = *state;
	const uint8_t *p = vd_host(&x->f.m, VDF_BUF);
	unsigned zero = 0;
	uint16_t id;

	make(x, 0, 0);
	start(x, 0);
	memset(vd_host(&x->f.m, VDF_BUF), 0, 4097);
	id = vdf_post1(&x->f, 0, VDF_BUF, 4096, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_used(x, id, 4096);
	for (unsigned i = 0; i < 4096; i++)
		zero += p[i] == 0;
	assert_true(zero < 200); /* ~16 expected */
	assert_int_equal(p[4096], 0);
}

static void test_cap(void **state)
{
	struct fix *x = *state;
	uint16_t id;

	make(x, 100, 1);
	start(x, 0);
	memset(vd_host(&x->f.m, VDF_BUF - 1), 0xee, 302);
	id = vdf_post1(&x->f, 0, VDF_BUF, 300, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_used(x, id, 100);
	expect_pattern(x, VDF_BUF, 100, 1, 0xee);
}

static void test_default_cap(void **state)
{
	struct fix *x = *state;
	struct vd_buf b[2] = {{0x20000, 0x10000, 1}, {0x30000, 0x100, 1}};
	uint16_t id;

	make(x, 0, 1);
	start(x, 0);
	id = vdf_post(&x->f, 0, b, 2);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_used(x, id, KVMHOST_VIRTIO_RNG_MAX_REQUEST);
}

static void test_zero_length(void **state)
{
	struct fix *x = *state;
	uint16_t id;

	make(x, 0, 1);
	start(x, 0);
	id = vdf_post1(&x->f, 0, VDF_BUF, 0, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_used(x, id, 0);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

static void test_starved(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_rng_stats st = {.size = sizeof(st)};
	uint16_t id;

	make(x, 0, 1);
	start(x, 0);
	x->src.eagain = 1;
	id = vdf_post1(&x->f, 0, VDF_BUF, 32, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_no_used(x);
	assert_int_equal(x->f.qirq[0], 0);
	assert_int_equal(kvmhost_virtio_rng_process(x->rng), 0);
	expect_no_used(x);
	/* The source recovers: the same request is served. */
	x->src.eagain = 0;
	assert_int_equal(kvmhost_virtio_rng_process(x->rng), 1);
	expect_used(x, id, 32);
	assert_int_equal(x->f.qirq[0], 1);

	/* A source that gives part: the request goes back partly filled. */
	x->src.limit = 5;
	x->src.next = 1;
	id = vdf_post1(&x->f, 0, VDF_BUF + 0x100, 32, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_used(x, id, 5);

	/* An error other than EAGAIN: counted, request kept. */
	x->src.limit = -1;
	x->src.err = -EIO;
	id = vdf_post1(&x->f, 0, VDF_BUF + 0x200, 8, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_no_used(x);
	x->src.err = 0;
	assert_int_equal(kvmhost_virtio_rng_process(x->rng), 1);
	expect_used(x, id, 8);
	assert_int_equal(kvmhost_virtio_rng_get_stats(x->rng, &st), 0);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.starved, 3);
	assert_int_equal(st.errors, 1);
}

static void test_malformed(void **state)
{
	struct fix *x = *state;
	struct vd_buf b[2] = {{VDF_BUF, 16, 0}, {VDF_BUF + 0x100, 16, 1}};
	char reason[200];

	make(x, 0, 1);
	start(x, 0);
	memset(vd_host(&x->f.m, VDF_BUF + 0x100), 0xee, 16);
	vdf_post(&x->f, 0, b, 2);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_no_used(x);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	assert_int_equal(x->f.cirq, 1);
	assert_int_equal(kvmhost_virtio_device_needs_reset(x->f.dev, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "device-readable"));
	assert_int_equal(((uint8_t *)vd_host(&x->f.m, VDF_BUF + 0x100))[0], 0xee);
	/* Kicks are ignored now; process too. */
	vdf_post1(&x->f, 0, VDF_BUF + 0x200, 16, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	assert_int_equal(kvmhost_virtio_rng_process(x->rng), 0);
	expect_no_used(x);
	/* The driver resets and starts over: it works again. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, 0);
	vdf_post1(&x->f, 0, VDF_BUF + 0x300, 16, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_used(x, 0, 16);
}

/* A request whose buffer lies outside guest memory breaks the queue inside
 * the framework: the device survives it. */
static void test_bad_buffer(void **state)
{
	struct fix *x = *state;

	make(x, 0, 1);
	start(x, 0);
	vdf_post1(&x->f, 0, VD_HOLE, 16, 1);
	assert_int_equal(vdf_kick(&x->f, 0), 0);
	expect_no_used(x);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	vdf_post1(&x->f, 0, VD_RO_GPA, 16, 1);
	assert_int_equal(kvmhost_virtio_rng_process(x->rng), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_features, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fill_exact_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fill_exact_packed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_getrandom, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starved, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_buffer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
