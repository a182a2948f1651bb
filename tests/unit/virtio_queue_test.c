/*
 * Unit tests of virtqueues (virtio/queue.h) on fake guest memory, with the
 * test acting as the guest driver (unit/virtio_driver.h): split and packed
 * round trips (index wrap-around, ring laps), indirect tables, out-of-order
 * completion, unpop, buffers split across regions, dirty tracking of every
 * byte the device writes, notification suppression in both directions with
 * and without EVENT_IDX, reset and stale chains, a two-thread driver/device
 * run, and every malformed guest input the queue must refuse: each breaks
 * the queue with the right error and a reason, and nothing outside guest
 * memory is touched (the memory has guard pages and a PROT_READ read-only
 * region; the suite also runs under ASan).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/virtio/queue.h>
#include "unit/virtio_driver.h"

#define F_INDIRECT KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC)
#define F_EVENT	   KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX)

#define DATA  0x10000ull /* buffers from here */
#define TABLE 0x8000ull	 /* indirect tables */

struct fix {
	struct vd_mem m;
	struct vd_queue d;
	struct kvmhost_virtq *q;
};

static struct kvmhost_virtq *make_queue(struct vd_mem *m, uint32_t max)
{
	struct kvmhost_virtq_options o = {.size = sizeof(o), .max_size = max, .name = "testq"};
	struct kvmhost_virtq *q = NULL;

	assert_int_equal(kvmhost_virtq_create(m->mem, &o, &q), 0);
	assert_non_null(q);
	return q;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(vd_mem_init(&f->m), 0);
	f->q = make_queue(&f->m, 256);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	kvmhost_virtq_destroy(f->q);
	vd_mem_fini(&f->m);
	free(f);
	return 0;
}

/* Reset the queue and set up a fresh ring of @size. */
static void start(struct fix *f, int packed, uint32_t size, uint64_t features)
{
	kvmhost_virtq_reset(f->q);
	vd_queue_init(&f->d, &f->m, packed, size);
	assert_int_equal(vd_queue_setup(&f->d, f->q, features), 0);
	assert_int_equal(kvmhost_virtq_is_enabled(f->q), 1);
}

static const struct kvmhost_virtq_chain *pop1(struct fix *f)
{
	const struct kvmhost_virtq_chain *c = NULL;
	int r = kvmhost_virtq_pop(f->q, &c);

	if (r != 1)
		print_error("pop returned %d: %s\n", r, kvmhost_last_error());
	assert_int_equal(r, 1);
	assert_non_null(c);
	return c;
}

/* @rc must be -@err, and the queue must now be broken with a reason, and
 * stay so: pops fail with -EIO. */
static void assert_broken(struct fix *f, int rc, int err)
{
	const struct kvmhost_virtq_chain *c = (void *)1;
	char reason[200];

	if (rc != -err)
		print_error("got %d (%s), expected %d; last error: %s\n", rc, kvmhost_strerror(rc), -err,
			    kvmhost_last_error());
	assert_int_equal(rc, -err);
	assert_int_equal(kvmhost_virtq_broken(f->q, reason, sizeof(reason)), 1);
	assert_true(reason[0] != '\0');
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtq_"));
	assert_int_equal(kvmhost_virtq_pop(f->q, &c), -EIO);
	assert_null(c);
	assert_int_equal(kvmhost_virtq_is_enabled(f->q), 0);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), -EIO);
}

/* Pop must fail with -@err and break the queue. */
static void expect_pop_breaks(struct fix *f, int err)
{
	const struct kvmhost_virtq_chain *c = (void *)1;
	int r = kvmhost_virtq_pop(f->q, &c);

	assert_null(c);
	assert_broken(f, r, err);
}

/* Enable must fail with -@err and break the queue. */
static void expect_enable_breaks(struct fix *f, int err)
{
	assert_broken(f, kvmhost_virtq_enable(f->q), err);
}

static void fill(struct fix *f, uint64_t gpa, const char *s)
{
	memcpy(vd_host(&f->m, gpa), s, strlen(s));
}

/* ---- basics ---- */

static void test_create_args(void **state)
{
	struct fix *f = *state;
	struct kvmhost_virtq_options o = {.size = sizeof(o), .max_size = 8};
	struct kvmhost_virtq *q = (void *)1;
	struct {
		struct kvmhost_virtq_options o;
		uint64_t extra;
	} big = {.o = {.size = sizeof(big), .max_size = 8}, .extra = 1};

	assert_int_equal(kvmhost_virtq_create(NULL, &o, &q), -EINVAL);
	assert_null(q);
	assert_int_equal(kvmhost_virtq_create(f->m.mem, NULL, &q), -EINVAL);
	assert_int_equal(kvmhost_virtq_create(f->m.mem, &o, NULL), -EINVAL);
	o.max_size = 0;
	assert_int_equal(kvmhost_virtq_create(f->m.mem, &o, &q), -EINVAL);
	o.max_size = KVMHOST_VIRTQ_MAX_SIZE + 1;
	assert_int_equal(kvmhost_virtq_create(f->m.mem, &o, &q), -EINVAL);
	assert_int_equal(kvmhost_virtq_create(f->m.mem, &big.o, &q), -E2BIG);
	big.extra = 0;
	assert_int_equal(kvmhost_virtq_create(f->m.mem, &big.o, &q), 0);
	assert_int_equal(kvmhost_virtq_max_size(q), 8);
	assert_int_equal(kvmhost_virtq_size(q), 8);
	kvmhost_virtq_destroy(q);
	kvmhost_virtq_destroy(NULL);
	kvmhost_virtq_reset(NULL);
	assert_int_equal(kvmhost_virtq_is_enabled(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtq_pop(NULL, NULL), -EINVAL);
	assert_int_equal(kvmhost_virtq_push(NULL, NULL, 0), -EINVAL);
	assert_int_equal(kvmhost_virtq_should_notify(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 2), -EINVAL);
	assert_int_equal(kvmhost_virtq_broken(NULL, NULL, 0), -EINVAL);
	assert_int_equal(kvmhost_virtq_in_flight(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtq_addresses(NULL, NULL, NULL, NULL), -EINVAL);
}

static void test_not_enabled(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	uint64_t a, b, d;

	assert_int_equal(kvmhost_virtq_is_enabled(f->q), 0);
	assert_int_equal(kvmhost_virtq_pop(f->q, &c), -ENODEV);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), -ENODEV);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 1), -ENODEV);
	start(f, 0, 8, 0);
	/* Setup is frozen while enabled. */
	assert_int_equal(kvmhost_virtq_set_size(f->q, 4), -EBUSY);
	assert_int_equal(kvmhost_virtq_set_addresses(f->q, 0, 0, 0), -EBUSY);
	assert_int_equal(kvmhost_virtq_set_features(f->q, 0), -EBUSY);
	assert_int_equal(kvmhost_virtq_addresses(f->q, &d, &a, &b), 0);
	assert_int_equal(d, VD_DESC_GPA);
	assert_int_equal(a, VD_AVAIL_GPA);
	assert_int_equal(b, VD_USED_GPA);
	assert_int_equal(kvmhost_virtq_size(f->q), 8);
	/* Enabling twice is fine; nothing is available yet. */
	assert_int_equal(kvmhost_virtq_enable(f->q), 0);
	assert_int_equal(kvmhost_virtq_pop(f->q, &c), 0);
	assert_null(c);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 0);
	assert_int_equal(kvmhost_virtq_broken(f->q, NULL, 0), 0);
}

/* ---- split ring ---- */

static void test_split_roundtrip(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf bufs[3] = {{DATA, 5, 0}, {DATA + 0x100, 3, 0}, {DATA + 0x1000, 100, 1}};
	char buf[16];
	uint32_t id, len;
	uint16_t head;

	start(f, 0, 8, 0);
	fill(f, DATA, "hello");
	fill(f, DATA + 0x100, "abc");
	head = vd_split_add(&f->d, bufs, 3);
	c = pop1(f);
	assert_int_equal(c->head, head);
	assert_int_equal(c->descriptors, 3);
	assert_int_equal(c->readable_count, 2);
	assert_int_equal(c->writable_count, 1);
	assert_int_equal(c->readable_len, 8);
	assert_int_equal(c->writable_len, 100);
	assert_ptr_equal(c->readable[0].iov_base, vd_host(&f->m, DATA));
	assert_int_equal(c->readable[0].iov_len, 5);
	assert_ptr_equal(c->readable[1].iov_base, vd_host(&f->m, DATA + 0x100));
	assert_ptr_equal(c->writable[0].iov_base, vd_host(&f->m, DATA + 0x1000));
	assert_int_equal(c->writable[0].iov_len, 100);
	assert_int_equal(kvmhost_virtq_in_flight(f->q), 1);
	/* The copy helpers see the buffers as one stream per direction. */
	assert_int_equal(kvmhost_virtq_chain_read(c, 0, buf, 8), 0);
	assert_memory_equal(buf, "helloabc", 8);
	assert_int_equal(kvmhost_virtq_chain_read(c, 3, buf, 4), 0);
	assert_memory_equal(buf, "loab", 4);
	assert_int_equal(kvmhost_virtq_chain_read(c, 6, buf, 2), 0);
	assert_memory_equal(buf, "bc", 2);
	assert_int_equal(kvmhost_virtq_chain_read(c, 1, buf, 8), -ENOSPC);
	assert_int_equal(kvmhost_virtq_chain_read(c, UINT64_MAX, buf, 2), -ENOSPC);
	assert_int_equal(kvmhost_virtq_chain_write(c, 95, "world", 5), 0);
	assert_memory_equal(vd_host(&f->m, DATA + 0x1000 + 95), "world", 5);
	assert_int_equal(kvmhost_virtq_chain_write(c, 96, "world", 5), -ENOSPC);
	assert_int_equal(kvmhost_virtq_chain_read(NULL, 0, buf, 1), -EINVAL);
	/* Too many bytes written is the device's bug: refused, chain kept. */
	assert_int_equal(kvmhost_virtq_push(f->q, c, 101), -EINVAL);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 100), 0);
	assert_int_equal(kvmhost_virtq_in_flight(f->q), 0);
	assert_int_equal(vd_split_get_used(&f->d, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 100);
	assert_int_equal(vd_split_get_used(&f->d, &id, &len), 0);
	assert_int_equal(kvmhost_virtq_pop(f->q, &c), 0);
}

/* Many requests on a small ring: the 16-bit indices wrap around. */
static void test_split_index_wrap(void **state)
{
	struct fix *f = *state;

	start(f, 0, 4, 0);
	for (uint32_t i = 0; i < 70000; i++) {
		struct vd_buf b[2] = {{DATA, 4, 0}, {DATA + 0x100, 8, 1}};
		const struct kvmhost_virtq_chain *c;
		uint32_t id, len;
		uint16_t head = vd_split_add(&f->d, b, 1 + (i & 1));

		c = pop1(f);
		assert_int_equal(c->head, head);
		assert_int_equal(kvmhost_virtq_push(f->q, c, (i & 1) ? 8 : 0), 0);
		assert_int_equal(vd_split_get_used(&f->d, &id, &len), 1);
		assert_int_equal(id, head);
		assert_int_equal(len, (i & 1) ? 8 : 0);
	}
	assert_int_equal(vd_split_used_idx(&f->d), (uint16_t)70000);
}

static int word_bit(const uint64_t *bm, unsigned page)
{
	return (bm[page / 64] >> (page % 64)) & 1;
}

static void test_split_dirty(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf bufs[2] = {{0x20000, 16, 0}, {0x30000, 0x2000, 1}};
	struct vd_buf cross[1] = {{VD_B_GPA - 0x10, 0x20, 1}};
	uint64_t bm[4], bmb[1];

	start(f, 0, 8, F_EVENT);
	vd_split_add(&f->d, bufs, 2);
	c = pop1(f);
	/* Start from clean bitmaps (the pop wrote avail_event). */
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(f->m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(word_bit(bm, VD_USED_GPA / VD_PAGE), 1);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(f->m.rb, bmb, sizeof(bmb)), 0);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 10), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(f->m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(word_bit(bm, 0x30), 1);		  /* the 10 bytes written */
	assert_int_equal(word_bit(bm, 0x31), 0);		  /* the rest of the buffer */
	assert_int_equal(word_bit(bm, 0x20), 0);		  /* the readable buffer */
	assert_int_equal(word_bit(bm, VD_USED_GPA / VD_PAGE), 1); /* used ring */
	assert_int_equal(word_bit(bm, VD_AVAIL_GPA / VD_PAGE), 0);
	assert_int_equal(word_bit(bm, VD_DESC_GPA / VD_PAGE), 0);

	/* Nothing written: only the used ring. */
	vd_split_add(&f->d, bufs, 2);
	c = pop1(f);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(f->m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(f->m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(word_bit(bm, 0x30), 0);
	assert_int_equal(word_bit(bm, VD_USED_GPA / VD_PAGE), 1);

	/* A writable buffer across A -> B: both sides marked. */
	vd_split_add(&f->d, cross, 1);
	c = pop1(f);
	assert_int_equal(c->writable_count, 2);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0x20), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(f->m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(f->m.rb, bmb, sizeof(bmb)), 0);
	assert_int_equal(word_bit(bm, 0xff), 1);
	assert_int_equal(word_bit(bmb, 0), 1);
	/* Only 8 bytes written: they are all in A. */
	vd_split_add(&f->d, cross, 1);
	c = pop1(f);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 8), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(f->m.rb, bmb, sizeof(bmb)), 0);
	assert_int_equal(word_bit(bmb, 0), 0);
}

static void test_split_indirect(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	char buf[12];

	start(f, 0, 8, F_INDIRECT);
	fill(f, DATA, "head");
	fill(f, DATA + 0x100, "12345678");
	/* A direct descriptor, then one pointing at a 3-entry table. */
	vd_split_desc(&f->d, 0, DATA, 4, VD_F_NEXT, 1);
	vd_split_desc(&f->d, 1, TABLE, 48, VD_F_INDIRECT, 0);
	vd_table_desc(&f->m, TABLE, 0, DATA + 0x100, 8, VD_F_NEXT, 2);
	vd_table_desc(&f->m, TABLE, 2, DATA + 0x1000, 16, VD_F_NEXT | VD_F_WRITE, 1);
	vd_table_desc(&f->m, TABLE, 1, DATA + 0x2000, 32, VD_F_WRITE, 0);
	vd_split_publish(&f->d, 0);
	c = pop1(f);
	assert_int_equal(c->head, 0);
	assert_int_equal(c->descriptors, 4);
	assert_int_equal(c->readable_count, 2);
	assert_int_equal(c->writable_count, 2);
	assert_int_equal(c->readable_len, 12);
	assert_int_equal(c->writable_len, 48);
	assert_ptr_equal(c->writable[0].iov_base, vd_host(&f->m, DATA + 0x1000));
	assert_ptr_equal(c->writable[1].iov_base, vd_host(&f->m, DATA + 0x2000));
	assert_int_equal(kvmhost_virtq_chain_read(c, 0, buf, 12), 0);
	assert_memory_equal(buf, "head12345678", 12);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 48), 0);

	/* Only an indirect descriptor; a WRITE flag on it is ignored. */
	vd_split_desc(&f->d, 2, TABLE + 0x100, 16, VD_F_INDIRECT | VD_F_WRITE, 0);
	vd_table_desc(&f->m, TABLE + 0x100, 0, DATA, 4, 0, 0);
	vd_split_publish(&f->d, 2);
	c = pop1(f);
	assert_int_equal(c->readable_count, 1);
	assert_int_equal(c->writable_count, 0);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
}

/* Zero-length descriptors are accepted and produce no iovec. */
static void test_split_zero_length(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf b[3] = {{DATA, 0, 0}, {VD_HOLE, 0, 1}, {DATA + 0x100, 4, 1}};

	start(f, 0, 8, 0);
	vd_split_add(&f->d, b, 3);
	c = pop1(f);
	assert_int_equal(c->descriptors, 3);
	assert_int_equal(c->readable_count, 0);
	assert_int_equal(c->writable_count, 1);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 4), 0);
	/* Only zero-length buffers: no iovecs at all (found by the fuzzer:
	 * the chain's pointers must not be computed from a NULL array). */
	vd_split_add(&f->d, b, 2);
	c = pop1(f);
	assert_int_equal(c->readable_count + c->writable_count, 0);
	assert_int_equal(c->readable_len + c->writable_len, 0);
	assert_int_equal(kvmhost_virtq_chain_read(c, 0, NULL, 0), 0);
	assert_int_equal(kvmhost_virtq_chain_write(c, 0, "x", 1), -ENOSPC);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
}

static void test_split_notify_flags(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf b = {DATA, 4, 0};

	start(f, 0, 8, 0);
	/* Nothing pushed: nothing to say. */
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 0);
	vd_split_add(&f->d, &b, 1);
	c = pop1(f);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 1);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 0);
	/* VIRTQ_AVAIL_F_NO_INTERRUPT. */
	vd_w16(&f->m, VD_AVAIL_GPA, 1);
	vd_split_add(&f->d, &b, 1);
	c = pop1(f);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 0);
	vd_w16(&f->m, VD_AVAIL_GPA, 0);

	/* Device -> driver: VIRTQ_USED_F_NO_NOTIFY. */
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 0), 0);
	assert_int_equal(vd_r16(&f->m, VD_USED_GPA), 1);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 1), 0);
	assert_int_equal(vd_r16(&f->m, VD_USED_GPA), 0);
	/* A buffer added while kicks were off is reported on re-enable. */
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 0), 0);
	vd_split_add(&f->d, &b, 1);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 1), 1);
	c = pop1(f);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 1), 0);
}

static void test_split_event_idx(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf b = {DATA, 4, 0};

	start(f, 0, 8, F_EVENT);
	/* Device -> driver: each pop publishes the next index to kick at. */
	vd_split_add(&f->d, &b, 1);
	c = pop1(f);
	assert_int_equal(vd_split_avail_event(&f->d), 1);
	/* Driver -> device: used_event 0, first used entry: notify. */
	vd_split_set_used_event(&f->d, 0);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 1);
	/* used_event 5: entries 1..4 are quiet, entry 5 notifies. */
	vd_split_set_used_event(&f->d, 5);
	for (int i = 1; i <= 5; i++) {
		vd_split_add(&f->d, &b, 1);
		c = pop1(f);
		assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
		assert_int_equal(kvmhost_virtq_should_notify(f->q), i == 5);
	}
	/* Several pushes between decisions: passing the event counts. */
	vd_split_set_used_event(&f->d, 7);
	for (int i = 0; i < 3; i++) {
		vd_split_add(&f->d, &b, 1);
		c = pop1(f);
		assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	}
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 1);
	/* An event far behind (16-bit wrap): quiet. */
	vd_split_set_used_event(&f->d, 0x8000);
	vd_split_add(&f->d, &b, 1);
	c = pop1(f);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 0);

	/* Kicks off: avail_event stops following the pops. */
	assert_int_equal(vd_split_avail_event(&f->d), 10);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 0), 0);
	vd_split_add(&f->d, &b, 1);
	c = pop1(f);
	assert_int_equal(vd_split_avail_event(&f->d), 10);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	/* Kicks on again: catches up, and reports pending buffers. */
	vd_split_add(&f->d, &b, 1);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 1), 1);
	assert_int_equal(vd_split_avail_event(&f->d), 11);
	c = pop1(f);
	assert_int_equal(vd_split_avail_event(&f->d), 12);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	/* The used ring flags stay untouched with EVENT_IDX. */
	assert_int_equal(vd_r16(&f->m, VD_USED_GPA), 0);
}

static void test_split_out_of_order_and_unpop(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *a, *b, *a2;
	struct vd_buf buf = {DATA, 4, 0};
	uint32_t id, len;
	uint16_t ha, hb;

	start(f, 0, 8, 0);
	ha = vd_split_add(&f->d, &buf, 1);
	hb = vd_split_add(&f->d, &buf, 1);
	a = pop1(f);
	assert_int_equal(a->head, ha);
	/* Put it back: the next pop returns the same head. */
	assert_int_equal(kvmhost_virtq_unpop(f->q, a), 0);
	assert_int_equal(kvmhost_virtq_in_flight(f->q), 0);
	a2 = pop1(f);
	assert_int_equal(a2->head, ha);
	b = pop1(f);
	assert_int_equal(b->head, hb);
	/* Only the last pop can be undone. */
	assert_int_equal(kvmhost_virtq_unpop(f->q, a2), -EINVAL);
	/* Completion out of order. */
	assert_int_equal(kvmhost_virtq_push(f->q, b, 0), 0);
	assert_int_equal(kvmhost_virtq_unpop(f->q, a2), -EINVAL);
	assert_int_equal(kvmhost_virtq_push(f->q, a2, 0), 0);
	assert_int_equal(vd_split_get_used(&f->d, &id, &len), 1);
	assert_int_equal(id, hb);
	assert_int_equal(vd_split_get_used(&f->d, &id, &len), 1);
	assert_int_equal(id, ha);
}

static void test_split_push_misuse(void **state)
{
	struct fix *f = *state;
	struct kvmhost_virtq *other = make_queue(&f->m, 8);
	const struct kvmhost_virtq_chain *c;
	struct vd_buf buf = {DATA, 4, 1};

	start(f, 0, 8, 0);
	vd_split_add(&f->d, &buf, 1);
	c = pop1(f);
	assert_int_equal(kvmhost_virtq_push(f->q, NULL, 0), -EINVAL);
	assert_int_equal(kvmhost_virtq_push(other, c, 0), -EINVAL);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 5), -EINVAL);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 4), 0);
	kvmhost_virtq_destroy(other);
}

static void test_split_region_crossing(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf b[2] = {{VD_B_GPA - 8, 16, 0}, {VD_B_GPA - 4, 8, 1}};
	struct vd_buf hole = {VD_HOLE - 8, 16, 0};

	start(f, 0, 8, 0);
	memcpy(vd_host(&f->m, VD_B_GPA - 8), "ABCDEFGH", 8);
	memcpy(vd_host(&f->m, VD_B_GPA), "IJKLMNOP", 8);
	vd_split_add(&f->d, b, 2);
	c = pop1(f);
	assert_int_equal(c->readable_count, 2);
	assert_ptr_equal(c->readable[0].iov_base, vd_host(&f->m, VD_B_GPA - 8));
	assert_int_equal(c->readable[0].iov_len, 8);
	assert_ptr_equal(c->readable[1].iov_base, vd_host(&f->m, VD_B_GPA));
	assert_int_equal(c->readable[1].iov_len, 8);
	assert_int_equal(c->writable_count, 2);
	assert_int_equal(c->writable_len, 8);
	{
		char buf[16];
		assert_int_equal(kvmhost_virtq_chain_read(c, 0, buf, 16), 0);
		assert_memory_equal(buf, "ABCDEFGHIJKLMNOP", 16);
	}
	assert_int_equal(kvmhost_virtq_chain_write(c, 0, "wxyz1234", 8), 0);
	assert_memory_equal(vd_host(&f->m, VD_B_GPA - 4), "wxyz", 4);
	assert_memory_equal(vd_host(&f->m, VD_B_GPA), "1234", 4);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 8), 0);
	/* Running into the hole after region B. */
	vd_split_add(&f->d, &hole, 1);
	expect_pop_breaks(f, EFAULT);
}

static void test_split_reset_stale(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c, *c2;
	struct vd_buf buf = {DATA, 4, 1};

	start(f, 0, 8, 0);
	vd_split_add(&f->d, &buf, 1);
	c = pop1(f);
	kvmhost_virtq_reset(f->q);
	assert_int_equal(kvmhost_virtq_size(f->q), 256);
	assert_int_equal(kvmhost_virtq_in_flight(f->q), 1);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 4), -ESTALE);
	assert_int_equal(kvmhost_virtq_in_flight(f->q), 0);
	assert_int_equal(vd_split_used_idx(&f->d), 0);
	/* And works again from scratch. */
	start(f, 0, 8, 0);
	vd_split_add(&f->d, &buf, 1);
	c = pop1(f);
	kvmhost_virtq_reset(f->q);
	assert_int_equal(kvmhost_virtq_unpop(f->q, c), -ESTALE);
	/* A stale chain does not block a new one with the same head. */
	start(f, 0, 8, 0);
	vd_split_add(&f->d, &buf, 1);
	c = pop1(f);
	kvmhost_virtq_reset(f->q);
	start(f, 0, 8, 0);
	vd_split_add(&f->d, &buf, 1);
	c2 = pop1(f);
	assert_int_equal(c2->head, 0);
	assert_int_equal(kvmhost_virtq_in_flight(f->q), 2);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 4), -ESTALE);
	assert_int_equal(kvmhost_virtq_push(f->q, c2, 4), 0);
	/* Destroying with chains in flight frees them. */
	vd_split_add(&f->d, &buf, 1);
	(void)pop1(f);
}

static void test_split_set_broken(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf buf = {DATA, 4, 1};
	char reason[64];

	start(f, 0, 8, 0);
	vd_split_add(&f->d, &buf, 1);
	c = pop1(f);
	assert_int_equal(kvmhost_virtq_set_broken(f->q, "bad request header"), 0);
	assert_int_equal(kvmhost_virtq_broken(f->q, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "bad request header"));
	/* A broken queue takes nothing back. */
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), -EIO);
	assert_int_equal(kvmhost_virtq_in_flight(f->q), 0);
	assert_int_equal(vd_split_used_idx(&f->d), 0);
	assert_int_equal(kvmhost_virtq_enable(f->q), -EIO);
	/* Only a reset clears it. */
	start(f, 0, 8, 0);
	assert_int_equal(kvmhost_virtq_broken(f->q, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "");
}

/* Every layout the queue must refuse at enable. */
static void test_split_bad_layout(void **state)
{
	struct fix *f = *state;
	struct kvmhost_virtq *big;

#define LAYOUT(size, desc, avail, used, feat, err)                                                                     \
	do {                                                                                                           \
		kvmhost_virtq_reset(f->q);                                                                             \
		assert_int_equal(kvmhost_virtq_set_features(f->q, feat), 0);                                           \
		assert_int_equal(kvmhost_virtq_set_size(f->q, size), 0);                                               \
		assert_int_equal(kvmhost_virtq_set_addresses(f->q, desc, avail, used), 0);                             \
		expect_enable_breaks(f, err);                                                                          \
	} while (0)

	LAYOUT(8, VD_HOLE, VD_AVAIL_GPA, VD_USED_GPA, 0, EFAULT);		   /* descriptors in the hole */
	LAYOUT(8, VD_B_GPA + VD_B_LEN - 64, VD_AVAIL_GPA, VD_USED_GPA, 0, EFAULT); /* table runs off B */
	LAYOUT(8, VD_A_GPA + VD_A_LEN - 64, VD_AVAIL_GPA, VD_USED_GPA, 0, EFAULT); /* table crosses A -> B */
	LAYOUT(8, VD_DESC_GPA, VD_HOLE - 4, VD_USED_GPA, 0, EFAULT);		   /* avail ring runs into the hole */
	LAYOUT(8, VD_DESC_GPA, VD_AVAIL_GPA, VD_HOLE - 8, 0, EFAULT);		   /* used ring runs into the hole */
	LAYOUT(8, VD_DESC_GPA, VD_AVAIL_GPA, UINT64_MAX - 3, 0, EFAULT);	   /* used ring wraps */
	LAYOUT(8, VD_DESC_GPA, VD_AVAIL_GPA, VD_RO_GPA, 0, EROFS);		   /* used ring read-only */
	LAYOUT(8, VD_DESC_GPA + 8, VD_AVAIL_GPA, VD_USED_GPA, 0, EINVAL);	   /* misaligned */
	LAYOUT(8, VD_DESC_GPA, VD_AVAIL_GPA + 1, VD_USED_GPA, 0, EINVAL);
	LAYOUT(8, VD_DESC_GPA, VD_AVAIL_GPA, VD_USED_GPA + 2, 0, EINVAL);
	LAYOUT(0, VD_DESC_GPA, VD_AVAIL_GPA, VD_USED_GPA, 0, EINVAL); /* sizes */
	LAYOUT(6, VD_DESC_GPA, VD_AVAIL_GPA, VD_USED_GPA, 0, EINVAL);
	LAYOUT(512, VD_DESC_GPA, VD_AVAIL_GPA, VD_USED_GPA, 0, EINVAL);
	LAYOUT(65536, VD_DESC_GPA, VD_AVAIL_GPA, VD_USED_GPA, 0, EINVAL);
	/* Read-only descriptors and avail ring are fine (the device only reads). */
	kvmhost_virtq_reset(f->q);
	assert_int_equal(kvmhost_virtq_set_size(f->q, 8), 0);
	assert_int_equal(kvmhost_virtq_set_addresses(f->q, VD_RO_GPA, VD_RO_GPA + 0x800, VD_USED_GPA), 0);
	assert_int_equal(kvmhost_virtq_enable(f->q), 0);
	/* A queue whose maximum is the spec's maximum still refuses more. */
	big = make_queue(&f->m, KVMHOST_VIRTQ_MAX_SIZE);
	assert_int_equal(kvmhost_virtq_set_size(big, 65536), 0);
	assert_int_equal(kvmhost_virtq_set_addresses(big, VD_DESC_GPA, VD_AVAIL_GPA, VD_USED_GPA), 0);
	assert_int_equal(kvmhost_virtq_enable(big), -EINVAL);
	assert_int_equal(kvmhost_virtq_broken(big, NULL, 0), 1);
	kvmhost_virtq_destroy(big);
#undef LAYOUT
}

/* Every malformed chain the queue must refuse at pop. */
static void test_split_malformed(void **state)
{
	struct fix *f = *state;
	const uint32_t n = 8;

#define CASE(feat, err, ...)                                                                                           \
	do {                                                                                                           \
		start(f, 0, n, feat);                                                                                  \
		__VA_ARGS__;                                                                                           \
		expect_pop_breaks(f, err);                                                                             \
	} while (0)

	/* Addresses and lengths. */
	CASE(0, EFAULT, {
		struct vd_buf b = {VD_HOLE, 16, 0};
		vd_split_add(&f->d, &b, 1);
	});
	CASE(0, EFAULT, {
		struct vd_buf b = {VD_HOLE, 16, 1};
		vd_split_add(&f->d, &b, 1);
	});
	CASE(0, EFAULT, {
		struct vd_buf b = {0xffffffff00000000ull, 16, 0};
		vd_split_add(&f->d, &b, 1);
	});
	CASE(0, EFAULT, {
		struct vd_buf b = {VD_A_GPA + 0x100, 0xfffffff0u, 0};
		vd_split_add(&f->d, &b, 1);
	});
	CASE(0, EOVERFLOW, {
		struct vd_buf b = {UINT64_MAX - 0xf, 0x20, 0};
		vd_split_add(&f->d, &b, 1);
	});
	CASE(0, EOVERFLOW, {
		struct vd_buf b = {UINT64_MAX - 0xf, 0x20, 1};
		vd_split_add(&f->d, &b, 1);
	});
	CASE(0, EROFS, {
		struct vd_buf b = {VD_RO_GPA, 16, 1};
		vd_split_add(&f->d, &b, 1);
	});
	CASE(0, EROFS, {
		struct vd_buf b = {VD_RO_GPA + 8, 16, 1};
		vd_split_add(&f->d, &b, 1);
	});
	CASE(0, EFAULT, {
		struct vd_buf b = {VD_RO_GPA - 8, 16, 1};
		vd_split_add(&f->d, &b, 1);
	});
	/* Direction order: readable after writable. */
	CASE(0, EPROTO, {
		struct vd_buf b[2] = {{DATA, 16, 1}, {DATA + 0x100, 16, 0}};
		vd_split_add(&f->d, b, 2);
	});
	/* Indices. */
	CASE(0, EPROTO, {
		vd_split_desc(&f->d, 0, DATA, 4, 0, 0);
		vd_split_publish(&f->d, (uint16_t)n);
	});
	CASE(0, EPROTO, {
		vd_split_desc(&f->d, 0, DATA, 4, 0, 0);
		vd_split_publish(&f->d, 0xffff);
	});
	CASE(0, EPROTO, {
		vd_split_desc(&f->d, 0, DATA, 4, VD_F_NEXT, (uint16_t)n);
		vd_split_publish(&f->d, 0);
	});
	CASE(0, EPROTO, {
		vd_split_desc(&f->d, 0, DATA, 4, 0, 0);
		vd_split_publish(&f->d, 0);
		/* The driver claims n + 1 entries at once. */
		vd_w16(&f->m, VD_AVAIL_GPA + 2, (uint16_t)(n + 1));
	});
	CASE(0, EPROTO, { vd_w16(&f->m, VD_AVAIL_GPA + 2, 0x8000); });
	/* Loops. */
	CASE(0, ELOOP, {
		vd_split_desc(&f->d, 0, DATA, 4, VD_F_NEXT, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(0, ELOOP, {
		vd_split_desc(&f->d, 0, DATA, 4, VD_F_NEXT, 1);
		vd_split_desc(&f->d, 1, DATA, 4, VD_F_NEXT, 2);
		vd_split_desc(&f->d, 2, DATA, 4, VD_F_NEXT, 1);
		vd_split_publish(&f->d, 0);
	});
	/* Indirect tables. */
	CASE(0, EPROTO, {
		vd_split_desc(&f->d, 0, TABLE, 16, VD_F_INDIRECT, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, EPROTO, {
		vd_split_desc(&f->d, 0, TABLE, 16, VD_F_INDIRECT | VD_F_NEXT, 1);
		vd_split_desc(&f->d, 1, DATA, 4, 0, 0);
		vd_table_desc(&f->m, TABLE, 0, DATA, 4, 0, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, EPROTO, {
		vd_split_desc(&f->d, 0, TABLE, 0, VD_F_INDIRECT, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, EPROTO, {
		vd_split_desc(&f->d, 0, TABLE, 24, VD_F_INDIRECT, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, EFAULT, {
		vd_split_desc(&f->d, 0, VD_HOLE, 32, VD_F_INDIRECT, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, EFAULT, {
		/* A table crossing A -> B: tables must be in one region. */
		vd_split_desc(&f->d, 0, VD_B_GPA - 16, 32, VD_F_INDIRECT, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, EPROTO, {
		vd_split_desc(&f->d, 0, TABLE, 32, VD_F_INDIRECT, 0);
		vd_table_desc(&f->m, TABLE, 0, DATA, 4, VD_F_NEXT, 1);
		vd_table_desc(&f->m, TABLE, 1, TABLE + 0x100, 16, VD_F_INDIRECT, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, ELOOP, {
		vd_split_desc(&f->d, 0, TABLE, 32, VD_F_INDIRECT, 0);
		vd_table_desc(&f->m, TABLE, 0, DATA, 4, VD_F_NEXT, 1);
		vd_table_desc(&f->m, TABLE, 1, DATA, 4, VD_F_NEXT, 0);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, EPROTO, {
		vd_split_desc(&f->d, 0, TABLE, 32, VD_F_INDIRECT, 0);
		vd_table_desc(&f->m, TABLE, 0, DATA, 4, VD_F_NEXT, 5);
		vd_split_publish(&f->d, 0);
	});
	CASE(F_INDIRECT, EPROTO, {
		vd_split_desc(&f->d, 0, TABLE, 32, VD_F_INDIRECT, 0);
		vd_table_desc(&f->m, TABLE, 0, DATA, 4, VD_F_NEXT | VD_F_WRITE, 1);
		vd_table_desc(&f->m, TABLE, 1, DATA, 4, 0, 0);
		vd_split_publish(&f->d, 0);
	});
	/* A table of n + 1 linked entries: longer than the queue size. */
	CASE(F_INDIRECT, ELOOP, {
		vd_split_desc(&f->d, 0, TABLE, 16 * (n + 1), VD_F_INDIRECT, 0);
		for (uint32_t i = 0; i <= n; i++)
			vd_table_desc(&f->m, TABLE, i, DATA, 4, i < n ? VD_F_NEXT : 0, (uint16_t)(i + 1));
		vd_split_publish(&f->d, 0);
	});
	/* Direct descriptors, then a writable one, then an indirect table
	 * whose first entry is readable: direction order across the two. */
	CASE(F_INDIRECT, EPROTO, {
		vd_split_desc(&f->d, 0, DATA, 4, VD_F_NEXT | VD_F_WRITE, 1);
		vd_split_desc(&f->d, 1, TABLE, 16, VD_F_INDIRECT, 0);
		vd_table_desc(&f->m, TABLE, 0, DATA, 4, 0, 0);
		vd_split_publish(&f->d, 0);
	});
	/* The same head published twice while in flight. */
	{
		const struct kvmhost_virtq_chain *c;

		start(f, 0, n, 0);
		vd_split_desc(&f->d, 0, DATA, 4, 0, 0);
		vd_split_publish(&f->d, 0);
		vd_split_publish(&f->d, 0);
		c = pop1(f);
		assert_int_equal(c->head, 0);
		expect_pop_breaks(f, EPROTO);
		assert_int_equal(kvmhost_virtq_push(f->q, c, 0), -EIO);
	}
#undef CASE
}

/* The chain total limit is 2^32 bytes: exactly 4 GiB passes, more does not.
 * Uses a 3 GiB region that is never touched (PROT_NONE). */
static void test_split_4gib(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r;
	struct kvmhost_virtq *q;
	struct kvmhost_virtq_options o = {.size = sizeof(o), .max_size = 8};
	const struct kvmhost_virtq_chain *c;
	uint64_t big_len = 3ull << 30;
	uint8_t *small = vd_map_guarded(0x10000, PROT_READ | PROT_WRITE);
	void *big = mmap(NULL, big_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct vd_mem m;
	struct vd_queue *d = calloc(1, sizeof(*d));

	(void)state;
	assert_non_null(small);
	assert_true(big != MAP_FAILED);
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	assert_int_equal(vd_add(mem, 0, 0x10000, small, 0, &r), 0);
	assert_int_equal(vd_add(mem, 1ull << 32, big_len, big, 0, &r), 0);
	memset(&m, 0, sizeof(m));
	m.mem = mem;
	m.a = small;
	vd_queue_init_at(d, &m, 0, 8, 0x1000, 0x4000, 0x5000);
	assert_int_equal(kvmhost_virtq_create(mem, &o, &q), 0);
	assert_int_equal(vd_queue_setup(d, q, 0), 0);
	{
		struct vd_buf b[2] = {{1ull << 32, 0x80000000u, 0}, {(1ull << 32) + 0x1000, 0x80000000u, 1}};
		vd_split_add(d, b, 2);
	}
	assert_int_equal(kvmhost_virtq_pop(q, &c), 1);
	assert_int_equal(c->readable_len + c->writable_len, 1ull << 32);
	assert_int_equal(kvmhost_virtq_push(q, c, 0), 0);
	{
		struct vd_buf b[3] = {{1ull << 32, 0x80000000u, 0}, {1ull << 32, 0x80000000u, 0}, {1ull << 32, 1, 0}};
		vd_split_add(d, b, 3);
	}
	assert_int_equal(kvmhost_virtq_pop(q, &c), -EOVERFLOW);
	assert_int_equal(kvmhost_virtq_broken(q, NULL, 0), 1);
	kvmhost_virtq_destroy(q);
	kvmhost_memory_destroy(mem);
	munmap(big, big_len);
	vd_unmap_guarded(small, 0x10000);
	free(d);
}

/* A chain needing more iovecs than 2 * size + 16 is refused: guest memory
 * made of one-page regions, and a buffer across 21 of them, on a queue of
 * size 2 (limit 20). 20 pages pass. */
static void test_split_iov_limit(void **state)
{
	const unsigned pages = 32;
	uint8_t *host = vd_map_guarded(pages * VD_PAGE, PROT_READ | PROT_WRITE);
	struct kvmhost_virtq_options o = {.size = sizeof(o), .max_size = 2};
	const struct kvmhost_virtq_chain *c;
	struct kvmhost_memory *mem;
	struct kvmhost_virtq *q;
	struct vd_queue *d = calloc(1, sizeof(*d));
	struct vd_mem m;

	(void)state;
	assert_non_null(host);
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	for (unsigned i = 0; i < pages; i++)
		assert_int_equal(vd_add(mem, (uint64_t)i * VD_PAGE, VD_PAGE, host + (size_t)i * VD_PAGE, 0, NULL), 0);
	memset(&m, 0, sizeof(m));
	m.mem = mem;
	m.a = host; /* gpa == offset into host, as vd_host() assumes for region A */
	vd_queue_init_at(d, &m, 0, 2, 0, VD_PAGE, 2 * VD_PAGE);
	assert_int_equal(kvmhost_virtq_create(mem, &o, &q), 0);
	assert_int_equal(vd_queue_setup(d, q, 0), 0);
	{
		struct vd_buf b = {3 * VD_PAGE, 20 * VD_PAGE, 1};
		vd_split_add(d, &b, 1);
	}
	assert_int_equal(kvmhost_virtq_pop(q, &c), 1);
	assert_int_equal(c->writable_count, 20);
	assert_int_equal(c->writable_len, 20 * VD_PAGE);
	for (unsigned i = 0; i < 20; i++)
		assert_ptr_equal(c->writable[i].iov_base, host + (size_t)(3 + i) * VD_PAGE);
	assert_int_equal(kvmhost_virtq_push(q, c, 20 * VD_PAGE), 0);
	{
		struct vd_buf b = {3 * VD_PAGE, 21 * VD_PAGE, 0};
		vd_split_add(d, &b, 1);
	}
	assert_int_equal(kvmhost_virtq_pop(q, &c), -E2BIG);
	assert_int_equal(kvmhost_virtq_broken(q, NULL, 0), 1);
	kvmhost_virtq_destroy(q);
	kvmhost_memory_destroy(mem);
	vd_unmap_guarded(host, pages * VD_PAGE);
	free(d);
}

/* ---- packed ring ---- */

static void test_packed_roundtrip(void **state)
{
	struct fix *f = *state;
	uint32_t sizes[] = {4, 3, 1};

	for (unsigned s = 0; s < 3; s++) {
		uint32_t size = sizes[s];

		start(f, 1, size, 0);
		for (uint32_t i = 0; i < 50; i++) {
			unsigned n = 1 + i % (size < 3 ? size : 3);
			struct vd_buf b[3] = {{DATA, 4, 0}, {DATA + 0x100, 8, n == 3}, {DATA + 0x200, 16, 1}};
			const struct kvmhost_virtq_chain *c;
			uint16_t id = (uint16_t)(i % size), uid = 0, uflags = 0;
			uint32_t len, written;

			if (n == 1)
				b[0].write = i & 1;
			vd_packed_add(&f->d, b, n, id);
			c = pop1(f);
			assert_int_equal(c->head, id);
			assert_int_equal(c->descriptors, n);
			assert_int_equal(c->readable_count + c->writable_count, n);
			{
				const struct kvmhost_virtq_chain *none;
				assert_int_equal(kvmhost_virtq_pop(f->q, &none), 0);
			}
			written = (uint32_t)c->writable_len;
			assert_int_equal(kvmhost_virtq_push(f->q, c, written), 0);
			assert_int_equal(vd_packed_get_used(&f->d, &uid, &len, &uflags), 1);
			assert_int_equal(uid, id);
			assert_int_equal(len, written);
			assert_int_equal(!!(uflags & VD_F_WRITE), written != 0);
			assert_int_equal(vd_packed_get_used(&f->d, &uid, &len, &uflags), 0);
		}
	}
}

static void test_packed_indirect(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf b[3] = {{DATA, 4, 0}, {DATA + 0x100, 8, 1}, {DATA + 0x200, 16, 1}};
	uint16_t id;
	uint32_t len;

	start(f, 1, 4, F_INDIRECT);
	for (int i = 0; i < 6; i++) {
		vd_packed_add_indirect(&f->d, TABLE, b, 3, 2);
		c = pop1(f);
		assert_int_equal(c->head, 2);
		assert_int_equal(c->descriptors, 3);
		assert_int_equal(c->readable_count, 1);
		assert_int_equal(c->writable_count, 2);
		assert_int_equal(c->writable_len, 24);
		assert_int_equal(kvmhost_virtq_push(f->q, c, 20), 0);
		assert_int_equal(vd_packed_get_used(&f->d, &id, &len, NULL), 1);
		assert_int_equal(id, 2);
		assert_int_equal(len, 20);
	}
}

static void test_packed_out_of_order(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *a, *b, *a2;
	struct vd_buf two[2] = {{DATA, 4, 0}, {DATA + 0x100, 4, 1}};
	struct vd_buf one = {DATA, 4, 0};
	uint16_t id;
	uint32_t len;

	start(f, 1, 4, 0);
	vd_packed_add(&f->d, two, 2, 3);
	vd_packed_add(&f->d, &one, 1, 1);
	a = pop1(f);
	assert_int_equal(a->head, 3);
	assert_int_equal(kvmhost_virtq_unpop(f->q, a), 0);
	a2 = pop1(f);
	assert_int_equal(a2->head, 3);
	b = pop1(f);
	assert_int_equal(b->head, 1);
	/* B completes first: its used descriptor goes to slot 0. */
	assert_int_equal(kvmhost_virtq_push(f->q, b, 0), 0);
	assert_int_equal(vd_packed_get_used(&f->d, &id, &len, NULL), 1);
	assert_int_equal(id, 1);
	assert_int_equal(kvmhost_virtq_push(f->q, a2, 4), 0);
	assert_int_equal(vd_packed_get_used(&f->d, &id, &len, NULL), 1);
	assert_int_equal(id, 3);
	assert_int_equal(len, 4);
	/* And the ring keeps going around. */
	for (int i = 0; i < 10; i++) {
		vd_packed_add(&f->d, two, 2, (uint16_t)(i % 4));
		a = pop1(f);
		assert_int_equal(kvmhost_virtq_push(f->q, a, 0), 0);
		assert_int_equal(vd_packed_get_used(&f->d, &id, &len, NULL), 1);
		assert_int_equal(id, i % 4);
	}
}

static void test_packed_notify(void **state)
{
	struct fix *f = *state;
	const struct kvmhost_virtq_chain *c;
	struct vd_buf one = {DATA, 4, 0};
	uint16_t id;
	uint32_t len;

#define PUSH_ONE(expect)                                                                                               \
	do {                                                                                                           \
		vd_packed_add(&f->d, &one, 1, 0);                                                                      \
		c = pop1(f);                                                                                           \
		assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);                                                   \
		assert_int_equal(vd_packed_get_used(&f->d, &id, &len, NULL), 1);                                       \
		assert_int_equal(kvmhost_virtq_should_notify(f->q), expect);                                           \
	} while (0)

	/* Without EVENT_IDX: ENABLE / DISABLE; DESC means enable. */
	start(f, 1, 4, 0);
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 0);
	PUSH_ONE(1);
	vd_packed_driver_event(&f->d, 0, 1);
	PUSH_ONE(0);
	vd_packed_driver_event(&f->d, 0, 2);
	PUSH_ONE(1);
	vd_packed_driver_event(&f->d, 0, 3);
	PUSH_ONE(1);
	/* Device side without EVENT_IDX. */
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 0), 0);
	assert_int_equal(vd_r16(&f->m, VD_PDEV_GPA + 2), 1);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 1), 0);
	assert_int_equal(vd_r16(&f->m, VD_PDEV_GPA + 2), 0);
	vd_packed_add(&f->d, &one, 1, 0);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 1), 1);
	c = pop1(f);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);

	/* With EVENT_IDX: notify exactly when the slot at off_wrap is used. */
	start(f, 1, 4, F_EVENT);
	vd_packed_driver_event(&f->d, (uint16_t)(2 | 1u << 15), 2);
	PUSH_ONE(0); /* slot 0 */
	PUSH_ONE(0); /* slot 1 */
	PUSH_ONE(1); /* slot 2 */
	PUSH_ONE(0); /* slot 3, then the used wrap counter flips to 0 */
	/* An event on the new lap (wrap 0) at slot 1. */
	vd_packed_driver_event(&f->d, 1, 2);
	PUSH_ONE(0); /* slot 0 */
	PUSH_ONE(1); /* slot 1 */
	/* Several buffers between decisions, crossing the end of the ring,
	 * with the event on the previous lap (wrap 0, slot 3). */
	vd_packed_driver_event(&f->d, 3, 2);
	for (int i = 0; i < 3; i++) {
		vd_packed_add(&f->d, &one, 1, (uint16_t)i);
		c = pop1(f);
		assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
		assert_int_equal(vd_packed_get_used(&f->d, &id, &len, NULL), 1);
	}
	assert_int_equal(kvmhost_virtq_should_notify(f->q), 1);
	/* An event that was already passed long ago: quiet. */
	vd_packed_driver_event(&f->d, 3, 2);
	PUSH_ONE(0);

	/* Device side with EVENT_IDX: DESC at the next slot to pop. */
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 1), 0);
	assert_int_equal(vd_r16(&f->m, VD_PDEV_GPA + 2), 2);
	assert_int_equal(vd_r16(&f->m, VD_PDEV_GPA), f->d.next_avail | (uint16_t)f->d.wrap << 15);
	vd_packed_add(&f->d, &one, 1, 0);
	c = pop1(f);
	/* The pop moved the event on. */
	assert_int_equal(vd_r16(&f->m, VD_PDEV_GPA), f->d.next_avail | (uint16_t)f->d.wrap << 15);
	assert_int_equal(kvmhost_virtq_push(f->q, c, 0), 0);
	assert_int_equal(kvmhost_virtq_set_notify(f->q, 0), 0);
	assert_int_equal(vd_r16(&f->m, VD_PDEV_GPA + 2), 1);
#undef PUSH_ONE
}

static void test_packed_bad_layout(void **state)
{
	struct fix *f = *state;
	const uint64_t P = KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);

#define LAYOUT(size, desc, drv, dev, err)                                                                              \
	do {                                                                                                           \
		kvmhost_virtq_reset(f->q);                                                                             \
		assert_int_equal(kvmhost_virtq_set_features(f->q, P), 0);                                              \
		assert_int_equal(kvmhost_virtq_set_size(f->q, size), 0);                                               \
		assert_int_equal(kvmhost_virtq_set_addresses(f->q, desc, drv, dev), 0);                                \
		expect_enable_breaks(f, err);                                                                          \
	} while (0)

	LAYOUT(8, VD_HOLE, VD_PDRV_GPA, VD_PDEV_GPA, EFAULT);
	LAYOUT(8, VD_DESC_GPA, VD_HOLE, VD_PDEV_GPA, EFAULT);
	LAYOUT(8, VD_DESC_GPA, VD_PDRV_GPA, VD_HOLE - 2, EINVAL);
	LAYOUT(8, VD_DESC_GPA, VD_PDRV_GPA, VD_HOLE, EFAULT);
	LAYOUT(8, VD_RO_GPA, VD_PDRV_GPA, VD_PDEV_GPA, EROFS); /* the device writes descriptors */
	LAYOUT(8, VD_DESC_GPA, VD_PDRV_GPA, VD_RO_GPA, EROFS);
	LAYOUT(8, VD_DESC_GPA + 8, VD_PDRV_GPA, VD_PDEV_GPA, EINVAL);
	LAYOUT(8, VD_DESC_GPA, VD_PDRV_GPA + 2, VD_PDEV_GPA, EINVAL);
	LAYOUT(0, VD_DESC_GPA, VD_PDRV_GPA, VD_PDEV_GPA, EINVAL);
	LAYOUT(257, VD_DESC_GPA, VD_PDRV_GPA, VD_PDEV_GPA, EINVAL);
	/* Any size is fine for the packed ring; the driver area may be read-only. */
	kvmhost_virtq_reset(f->q);
	assert_int_equal(kvmhost_virtq_set_features(f->q, P), 0);
	assert_int_equal(kvmhost_virtq_set_size(f->q, 7), 0);
	assert_int_equal(kvmhost_virtq_set_addresses(f->q, VD_DESC_GPA, VD_RO_GPA, VD_PDEV_GPA), 0);
	assert_int_equal(kvmhost_virtq_enable(f->q), 0);
#undef LAYOUT
}

static void test_packed_malformed(void **state)
{
	struct fix *f = *state;
	const uint32_t n = 8;

#define CASE(feat, err, ...)                                                                                           \
	do {                                                                                                           \
		start(f, 1, n, feat);                                                                                  \
		__VA_ARGS__;                                                                                           \
		expect_pop_breaks(f, err);                                                                             \
	} while (0)
#define AV (vd_packed_avail_bits(f->d.wrap))

	CASE(0, EFAULT, {
		struct vd_buf b = {VD_HOLE, 16, 0};
		vd_packed_add(&f->d, &b, 1, 0);
	});
	CASE(0, EFAULT, {
		struct vd_buf b = {VD_HOLE - 8, 16, 1};
		vd_packed_add(&f->d, &b, 1, 0);
	});
	CASE(0, EOVERFLOW, {
		struct vd_buf b = {UINT64_MAX, 2, 0};
		vd_packed_add(&f->d, &b, 1, 0);
	});
	CASE(0, EROFS, {
		struct vd_buf b = {VD_RO_GPA, 16, 1};
		vd_packed_add(&f->d, &b, 1, 0);
	});
	/* Buffer ids. */
	CASE(0, EPROTO, {
		struct vd_buf b = {DATA, 4, 0};
		vd_packed_add(&f->d, &b, 1, (uint16_t)n);
	});
	CASE(0, EPROTO, {
		struct vd_buf b = {DATA, 4, 0};
		vd_packed_add(&f->d, &b, 1, 0xffff);
	});
	/* Direction order. */
	CASE(0, EPROTO, {
		struct vd_buf b[2] = {{DATA, 4, 1}, {DATA, 4, 0}};
		vd_packed_add(&f->d, b, 2, 0);
	});
	/* A list longer than the ring: every slot says NEXT. */
	CASE(0, ELOOP, {
		struct vd_buf b = {DATA, 4, 0};
		for (uint32_t i = 0; i < n; i++)
			vd_packed_add_flags(&f->d, &b, 1, 0, VD_F_NEXT);
	});
	/* A list that runs into a slot the driver has not made available. */
	CASE(0, EPROTO, { vd_packed_raw(&f->d, 0, DATA, 4, 0, AV | VD_F_NEXT); });
	/* Indirect. */
	CASE(0, EPROTO, { vd_packed_raw(&f->d, 0, TABLE, 16, 0, AV | VD_F_INDIRECT); });
	CASE(F_INDIRECT, EPROTO, {
		vd_ptable_desc(&f->m, TABLE, 0, DATA, 4, 0);
		vd_packed_raw(&f->d, 1, DATA, 4, 0, AV);
		vd_packed_raw(&f->d, 0, TABLE, 16, 0, AV | VD_F_INDIRECT | VD_F_NEXT);
	});
	CASE(F_INDIRECT, EPROTO, {
		/* An indirect descriptor as the second element of a list. */
		vd_ptable_desc(&f->m, TABLE, 0, DATA, 4, 0);
		vd_packed_raw(&f->d, 1, TABLE, 16, 0, AV | VD_F_INDIRECT);
		vd_packed_raw(&f->d, 0, DATA, 4, 0, AV | VD_F_NEXT);
	});
	CASE(F_INDIRECT, EPROTO, { vd_packed_raw(&f->d, 0, TABLE, 0, 0, AV | VD_F_INDIRECT); });
	CASE(F_INDIRECT, EPROTO, { vd_packed_raw(&f->d, 0, TABLE, 40, 0, AV | VD_F_INDIRECT); });
	CASE(F_INDIRECT, EFAULT, { vd_packed_raw(&f->d, 0, VD_HOLE, 32, 0, AV | VD_F_INDIRECT); });
	CASE(F_INDIRECT, ELOOP, { vd_packed_raw(&f->d, 0, TABLE, 16 * (n + 1), 0, AV | VD_F_INDIRECT); });
	CASE(F_INDIRECT, EPROTO, {
		vd_ptable_desc(&f->m, TABLE, 0, DATA, 4, 0);
		vd_ptable_desc(&f->m, TABLE, 1, TABLE + 0x100, 16, VD_F_INDIRECT);
		vd_packed_raw(&f->d, 0, TABLE, 32, 0, AV | VD_F_INDIRECT);
	});
	CASE(F_INDIRECT, EPROTO, {
		vd_ptable_desc(&f->m, TABLE, 0, DATA, 4, VD_F_WRITE);
		vd_ptable_desc(&f->m, TABLE, 1, DATA, 4, 0);
		vd_packed_raw(&f->d, 0, TABLE, 32, 0, AV | VD_F_INDIRECT);
	});
	CASE(F_INDIRECT, EFAULT, {
		vd_ptable_desc(&f->m, TABLE, 0, VD_HOLE, 4, 0);
		vd_packed_raw(&f->d, 0, TABLE, 16, 0, AV | VD_F_INDIRECT);
	});
	/* The same buffer id twice while in flight. */
	{
		struct vd_buf b = {DATA, 4, 0};

		start(f, 1, n, 0);
		vd_packed_add(&f->d, &b, 1, 5);
		vd_packed_add(&f->d, &b, 1, 5);
		(void)pop1(f);
		expect_pop_breaks(f, EPROTO);
	}
#undef AV
#undef CASE
}

/* ---- threads ---- */

struct thr {
	struct fix *f;
	uint32_t count;
	_Atomic int done;
};

static void *device_loop(struct thr *t)
{
	uint32_t served = 0;

	while (served < t->count) {
		const struct kvmhost_virtq_chain *c;
		int r = kvmhost_virtq_pop(t->f->q, &c);

		if (r < 0)
			return (void *)1;
		if (r == 0)
			continue;
		if (kvmhost_virtq_chain_write(c, 0, &served, sizeof(served)) < 0 ||
		    kvmhost_virtq_push(t->f->q, c, sizeof(served)) < 0)
			return (void *)2;
		(void)kvmhost_virtq_should_notify(t->f->q);
		served++;
	}
	return NULL;
}

static void *device_thread(void *opaque)
{
	struct thr *t = opaque;
	void *r = device_loop(t);

	atomic_store(&t->done, 1);
	return r;
}

/* A driver thread (this one) and a device thread on one split ring. */
static void test_threads(void **state)
{
	struct fix *f = *state;
	struct thr t = {.f = f, .count = 20000};
	pthread_t th;
	uint32_t sent = 0, got = 0;
	void *ret;

	start(f, 0, 16, F_EVENT);
	assert_int_equal(pthread_create(&th, NULL, device_thread, &t), 0);
	while (got < t.count && !atomic_load(&t.done)) {
		uint32_t id, len;

		if (sent < t.count && (uint16_t)(f->d.avail_idx - f->d.used_seen) < 16) {
			struct vd_buf b = {DATA + 0x1000 + 16ull * (sent % 16), 4, 1};

			/* Descriptor slot = avail slot: free once used. */
			vd_split_desc(&f->d, sent % 16, b.addr, b.len, VD_F_WRITE, 0);
			vd_split_publish(&f->d, (uint16_t)(sent % 16));
			sent++;
		}
		while (vd_split_get_used(&f->d, &id, &len)) {
			uint32_t v;

			assert_int_equal(id, got % 16);
			assert_int_equal(len, 4);
			memcpy(&v, vd_host(&f->m, DATA + 0x1000 + 16ull * id), 4);
			assert_int_equal(v, got);
			got++;
		}
	}
	/* Drain what the device finished just before it stopped. */
	for (uint32_t id, len; vd_split_get_used(&f->d, &id, &len);)
		got++;
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
	assert_int_equal(got, t.count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_enabled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_index_wrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_dirty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_indirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_zero_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_notify_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_event_idx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_out_of_order_and_unpop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_push_misuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_region_crossing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_reset_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_set_broken, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_bad_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_malformed, setup, teardown),
	    cmocka_unit_test(test_split_4gib),
	    cmocka_unit_test(test_split_iov_limit),
	    cmocka_unit_test_setup_teardown(test_packed_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_packed_indirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_packed_out_of_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_packed_notify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_packed_bad_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_packed_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
