/*
 * Unit tests of virtio-blk (virtio/block.h) on fake guest memory, with the
 * test as the driver (virtio_dev_fixture.h) and a temporary image file:
 * options and bad arguments, the feature offer and config space, read /
 * write round trips checked in the file (buffers split across descriptors
 * and regions, header and data sharing a descriptor), flush, discard and
 * write-zeroes (ranges read back as zeros, neighbours intact, segment
 * checks), GET_ID, read-only refusals, out-of-range and overflowing sector
 * arithmetic, data in the wrong direction, unsupported types, malformed
 * chains (needs reset, never a crash), many requests in flight, a request
 * pool re-posted as soon as each completes (head reuse), two queues,
 * dirty marking of what the device wrote, reset with requests in flight,
 * drain, and save / restore.
 *
 * Every test runs four times: with the thread pool and with io_uring (which
 * skips where the library was built without liburing or the kernel refuses
 * io_uring), each on the split and on the packed ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/virtio/block.h>
#include <kvmhost/virtio/device.h>
#include "unit/virtio_dev_fixture.h"

#define BIT(b) KVMHOST_VIRTIO_BIT(b)

#define T_IN	 KVMHOST_VIRTIO_BLK_T_IN
#define T_OUT	 KVMHOST_VIRTIO_BLK_T_OUT
#define T_FLUSH	 KVMHOST_VIRTIO_BLK_T_FLUSH
#define T_GET_ID KVMHOST_VIRTIO_BLK_T_GET_ID
#define T_DISC	 KVMHOST_VIRTIO_BLK_T_DISCARD
#define T_WZ	 KVMHOST_VIRTIO_BLK_T_WRITE_ZEROES
#define S_OK	 KVMHOST_VIRTIO_BLK_S_OK
#define S_IOERR	 KVMHOST_VIRTIO_BLK_S_IOERR
#define S_UNSUPP KVMHOST_VIRTIO_BLK_S_UNSUPP

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define IMG_SECTORS 2048u /* 1 MiB */
#define QSIZE	    128u

/* Buffers: headers, status bytes and data slots in region A above the rings. */
#define HDR(s)	(VDF_BUF + 0x20ull * (s))
#define ST(s)	(VDF_BUF + 0x800ull + (s))
#define DATA(s) (VDF_BUF + 0x1000ull + 0x1000ull * (s))

/* Which backend and ring format the current group runs with. */
static uint32_t g_backend = KVMHOST_VIRTIO_BLK_BACKEND_THREADS;
static int g_packed;

struct bfix {
	struct vdf f;
	struct kvmhost_virtio_blk *blk;
	char path[64];
	int fd; /* the test's own view of the image */
	_Atomic int qirq[VDF_MAXQ];
	_Atomic int cirq;
};

static int b_qirq(void *o, uint16_t q)
{
	struct bfix *b = o;

	if (q < VDF_MAXQ)
		atomic_fetch_add(&b->qirq[q], 1);
	return 0;
}

static int b_cirq(void *o)
{
	atomic_fetch_add(&((struct bfix *)o)->cirq, 1);
	return 0;
}

static const struct kvmhost_virtio_transport_ops b_tops = {
    .size = sizeof(struct kvmhost_virtio_transport_ops),
    .queue_interrupt = b_qirq,
    .config_interrupt = b_cirq,
};

/* The image's initial content: a byte pattern that differs per sector. */
static uint8_t pat(uint64_t off)
{
	return (uint8_t)((off >> 9) * 13 + (off & 511) * 7 + 1);
}

static int make_image(struct bfix *b, uint64_t bytes)
{
	uint8_t buf[4096];

	snprintf(b->path, sizeof(b->path), "/tmp/kvmhost-blk-test-XXXXXX");
	b->fd = mkstemp(b->path);
	if (b->fd < 0)
		return -1;
	for (uint64_t off = 0; off < bytes; off += sizeof(buf)) {
		size_t n = bytes - off < sizeof(buf) ? (size_t)(bytes - off) : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = pat(off + i);
		if (pwrite(b->fd, buf, n, (off_t)off) != (ssize_t)n)
			return -1;
	}
	return 0;
}

static int setup(void **state)
{
	struct bfix *b = calloc(1, sizeof(*b));

	if (!b || vd_mem_init(&b->f.m) < 0 || make_image(b, IMG_SECTORS * 512ull) < 0)
		return -1;
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	struct bfix *b = *state;

	kvmhost_virtio_blk_destroy(b->blk);
	vd_mem_fini(&b->f.m);
	if (b->fd >= 0)
		close(b->fd);
	unlink(b->path);
	free(b);
	return 0;
}

/* Create the device with @o (NULL: defaults) on the group's backend; skips
 * when that backend is unavailable. */
static void create(struct bfix *b, const struct kvmhost_virtio_blk_options *o)
{
	struct kvmhost_virtio_blk_options opts = {.size = sizeof(opts)};
	int err;

	if (o)
		opts = *o;
	opts.path = b->path;
	opts.backend = g_backend;
	err = kvmhost_virtio_blk_create(b->f.m.mem, &opts, &b->blk);
	if (err < 0 && g_backend == KVMHOST_VIRTIO_BLK_BACKEND_IO_URING) {
		print_message("io_uring backend unavailable: %s\n", kvmhost_last_error());
		skip();
	}
	assert_int_equal(err, 0);
	assert_int_equal(kvmhost_virtio_blk_backend(b->blk), (int)g_backend);
	b->f.dev = kvmhost_virtio_blk_device(b->blk);
	assert_non_null(b->f.dev);
	assert_int_equal(kvmhost_virtio_device_set_transport(b->f.dev, &b_tops, b), 0);
}

/* Negotiate what is offered (minus the ring format the group does not use,
 * minus @drop) on @nq queues. */
static void bring_up(struct bfix *b, unsigned nq, uint64_t drop)
{
	uint64_t f = kvmhost_virtio_device_offered_features(b->f.dev);

	f &= ~(BIT(KVMHOST_VIRTIO_F_RING_PACKED) | drop);
	assert_int_equal(vdf_start(&b->f, f, nq, g_packed, QSIZE), 0);
}

static void start(struct bfix *b, const struct kvmhost_virtio_blk_options *o, unsigned nq)
{
	create(b, o);
	bring_up(b, nq, 0);
}

static void put_hdr(struct bfix *b, unsigned slot, uint32_t type, uint64_t sector)
{
	vd_w32(&b->f.m, HDR(slot), type);
	vd_w32(&b->f.m, HDR(slot) + 4, 0);
	vd_w64(&b->f.m, HDR(slot) + 8, sector);
}

/* Post header (readable), @n data buffers, status byte (writable) on queue
 * @q; returns the request's id. */
static uint16_t post(struct bfix *b, unsigned q, unsigned slot, uint32_t type, uint64_t sector,
		     const struct vd_buf *data, unsigned n)
{
	struct vd_buf bufs[16];

	assert_true(n + 2 <= 16);
	put_hdr(b, slot, type, sector);
	*vd_host(&b->f.m, ST(slot)) = 0xee;
	bufs[0] = (struct vd_buf){.addr = HDR(slot), .len = 16};
	for (unsigned i = 0; i < n; i++)
		bufs[1 + i] = data[i];
	bufs[n + 1] = (struct vd_buf){.addr = ST(slot), .len = 1, .write = 1};
	return vdf_post(&b->f, q, bufs, n + 2);
}

static void nap(void)
{
	struct timespec ts = {0, 100 * 1000};

	nanosleep(&ts, NULL);
}

/* Wait (up to 10 s) for the next used element of queue @q. */
static void wait_used(struct bfix *b, unsigned q, uint32_t *id, uint32_t *len)
{
	/* Spin a little first: re-posting right after a completion is what
	 * finds races between completion and reuse of a head. */
	for (int i = 0; i < 20000; i++) {
		if (vdf_used(&b->f, q, id, len))
			return;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	for (int i = 0; i < 100000; i++) {
		if (vdf_used(&b->f, q, id, len))
			return;
		nap();
	}
	fail_msg("no completion on queue %u", q);
}

/* Wait for DEVICE_NEEDS_RESET. */
static void wait_needs_reset(struct bfix *b)
{
	for (int i = 0; i < 100000; i++) {
		if (vdf_needs_reset(&b->f))
			return;
		nap();
	}
	fail_msg("the device never asked for a reset");
}

/* One request on queue 0, slot 0: returns its status byte; checks the id and
 * that the used length is @used_len. */
static uint8_t run(struct bfix *b, uint32_t type, uint64_t sector, const struct vd_buf *data, unsigned n,
		   uint32_t used_len)
{
	uint32_t id, len;
	uint16_t want = post(b, 0, 0, type, sector, data, n);

	assert_int_equal(vdf_kick(&b->f, 0), 0);
	wait_used(b, 0, &id, &len);
	assert_int_equal(id, want);
	assert_int_equal(len, used_len);
	return *vd_host(&b->f.m, ST(0));
}

/* Read @len bytes at @sector into DATA(1) through the device. */
static uint8_t dev_read(struct bfix *b, uint64_t sector, uint32_t len)
{
	struct vd_buf d = {.addr = DATA(1), .len = len, .write = 1};

	memset(vd_host(&b->f.m, DATA(1)), 0x5a, len);
	return run(b, T_IN, sector, &d, 1, len + 1);
}

static void file_read(struct bfix *b, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(pread(b->fd, buf, len, (off_t)off), (ssize_t)len);
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* ---- options and bad arguments ---- */

static void test_bad_args(void **state)
{
	struct bfix *b = *state;
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o), .path = b->path};
	struct kvmhost_virtio_blk *blk = (void *)1;
	struct {
		struct kvmhost_virtio_blk_options o;
		uint64_t extra;
	} big;
	char empty[] = "/tmp/kvmhost-blk-empty-XXXXXX";
	uint64_t cap;
	int fd;

#define BAD(expr, err)                                                                                                 \
	do {                                                                                                           \
		assert_int_equal((expr), -(err));                                                                      \
		assert_true(strlen(kvmhost_last_error()) > 0);                                                         \
	} while (0)

	BAD(kvmhost_virtio_blk_create(NULL, &o, &blk), EINVAL);
	assert_null(blk);
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, NULL, &blk), EINVAL);
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, NULL), EINVAL);
	o.path = NULL;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.path = b->path;
	o.flags = 0x80;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.flags = 0;
	o.num_queues = KVMHOST_VIRTIO_BLK_MAX_QUEUES + 1;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.num_queues = 0;
	o.queue_size = 1;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.queue_size = 65536;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.queue_size = 0;
	o.blk_size = 1000;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.blk_size = 256;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.blk_size = 0;
	o.max_discard_seg = 257;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.max_discard_seg = 0;
	o.max_write_zeroes_seg = 1000;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.max_write_zeroes_seg = 0;
	o.backend = 3;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.backend = 0;
	o.io_threads = 65;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.io_threads = 0;
	o.serial = "123456789012345678901"; /* 21 bytes */
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.serial = NULL;
	o.path = "/nonexistent/kvmhost-blk.img";
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), ENOENT);
	o.path = "/tmp";
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EISDIR);
	o.path = "/dev/null"; /* neither a file nor a block device */
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	fd = mkstemp(empty);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 511), 0);
	o.path = empty;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL); /* under one sector */
	close(fd);
	unlink(empty);
	o.path = b->path;
	/* Option struct size rules. */
	memset(&big, 0, sizeof(big));
	big.o = o;
	big.o.size = sizeof(big);
	big.extra = 1;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &big.o, &blk), E2BIG);
	o.size = 4;
	BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EINVAL);
	o.size = sizeof(o);
	/* A read-only image file cannot be opened for writing. */
	if (geteuid() != 0) {
		assert_int_equal(chmod(b->path, 0400), 0);
		BAD(kvmhost_virtio_blk_create(b->f.m.mem, &o, &blk), EACCES);
		assert_int_equal(chmod(b->path, 0600), 0);
	}

	/* The getters. */
	kvmhost_virtio_blk_destroy(NULL);
	assert_null(kvmhost_virtio_blk_device(NULL));
	assert_true(strlen(kvmhost_last_error()) > 0);
	BAD(kvmhost_virtio_blk_drain(NULL), EINVAL);
	BAD(kvmhost_virtio_blk_capacity(NULL, &cap), EINVAL);
	BAD(kvmhost_virtio_blk_backend(NULL), EINVAL);
	create(b, NULL);
	BAD(kvmhost_virtio_blk_capacity(b->blk, NULL), EINVAL);
	assert_int_equal(kvmhost_virtio_blk_capacity(b->blk, &cap), 0);
	assert_int_equal(cap, IMG_SECTORS);
	/* Drain of a device that never started: nothing to wait for. */
	assert_int_equal(kvmhost_virtio_blk_drain(b->blk), 0);
#undef BAD
}

/* ---- features and config space ---- */

static uint32_t cfg32(struct bfix *b, uint32_t off)
{
	uint32_t v;

	assert_int_equal(kvmhost_virtio_device_config_read(b->f.dev, off, &v, 4), 0);
	return v;
}

static void test_config(void **state)
{
	struct bfix *b = *state;
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o)};
	uint64_t f, cap;
	uint16_t nq;
	uint8_t byte;

	o.num_queues = 2;
	o.blk_size = 4096;
	o.physical_block_exp = 3;
	o.min_io_size = 1;
	o.opt_io_size = 64;
	o.size_max = 65536;
	o.max_discard_seg = 4;
	o.max_write_zeroes_sectors = 1024;
	create(b, &o);
	f = kvmhost_virtio_device_offered_features(b->f.dev);
	assert_true(f & BIT(KVMHOST_VIRTIO_F_VERSION_1));
	assert_true(f & BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX));
	assert_true(f & BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC));
	assert_true(f & BIT(KVMHOST_VIRTIO_F_RING_PACKED));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_SEG_MAX));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_SIZE_MAX));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_BLK_SIZE));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_FLUSH));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_TOPOLOGY));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_MQ));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_DISCARD));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_RO));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_GEOMETRY));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_CONFIG_WCE));
	assert_int_equal(kvmhost_virtio_device_id(b->f.dev), KVMHOST_VIRTIO_ID_BLOCK);
	assert_int_equal(kvmhost_virtio_device_num_queues(b->f.dev), 2);
	assert_int_equal(kvmhost_virtio_device_config_size(b->f.dev), KVMHOST_VIRTIO_BLK_CONFIG_SIZE);

	assert_int_equal(kvmhost_virtio_device_config_read(b->f.dev, 0, &cap, 8), 0);
	assert_int_equal(cap, IMG_SECTORS);
	assert_int_equal(cfg32(b, 8), 65536);	 /* size_max */
	assert_int_equal(cfg32(b, 12), 256 - 2); /* seg_max: queue size - 2 */
	assert_int_equal(cfg32(b, 20), 4096);	 /* blk_size */
	assert_int_equal(kvmhost_virtio_device_config_read(b->f.dev, 24, &byte, 1), 0);
	assert_int_equal(byte, 3);	    /* physical_block_exp */
	assert_int_equal(cfg32(b, 28), 64); /* opt_io_size */
	assert_int_equal(kvmhost_virtio_device_config_read(b->f.dev, 34, &nq, 2), 0);
	assert_int_equal(nq, 2);
	assert_int_equal(cfg32(b, 36), 0x3fffff); /* max_discard_sectors default */
	assert_int_equal(cfg32(b, 40), 4);	  /* max_discard_seg */
	assert_true(cfg32(b, 44) >= 8);		  /* discard alignment: at least blk_size */
	assert_int_equal(cfg32(b, 48), 1024);	  /* max_write_zeroes_sectors */
	assert_int_equal(cfg32(b, 52), 16);	  /* max_write_zeroes_seg default */
	assert_int_equal(kvmhost_virtio_device_config_read(b->f.dev, 56, &byte, 1), 0);
	assert_int_equal(byte, 1); /* write_zeroes_may_unmap */
	/* Bounds and read-only config space. */
	assert_int_equal(kvmhost_virtio_device_config_read(b->f.dev, 58, &cap, 4), -ERANGE);
	assert_int_equal(kvmhost_virtio_device_config_write(b->f.dev, 0, &cap, 8), -EROFS);
	kvmhost_virtio_blk_destroy(b->blk);

	/* Defaults: one queue, no MQ / TOPOLOGY / SIZE_MAX; flags drop DISCARD
	 * and WRITE_ZEROES. */
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = KVMHOST_VIRTIO_BLK_NO_DISCARD | KVMHOST_VIRTIO_BLK_NO_WRITE_ZEROES;
	o.queue_size = 128;
	create(b, &o);
	f = kvmhost_virtio_device_offered_features(b->f.dev);
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_MQ));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_TOPOLOGY));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_SIZE_MAX));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_DISCARD));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(cfg32(b, 12), 126);
	assert_int_equal(cfg32(b, 20), 512);
	assert_int_equal(kvmhost_virtq_max_size(kvmhost_virtio_device_queue(b->f.dev, 0)), 128);
}

/* ---- reads and writes ---- */

static void fill_guest(struct bfix *b, uint64_t gpa, uint8_t v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		*vd_host(&b->f.m, gpa + i) = (uint8_t)(v + i * 3);
}

#define CROSS 0xffe00ull /* 0x200 bytes in region A, then region B */

static void test_read_write(void **state)
{
	struct bfix *b = *state;
	uint8_t buf[16384], *d;
	struct vd_buf w[2] = {{.addr = DATA(2), .len = 1024}, {.addr = CROSS, .len = 512}};
	struct vd_buf r[2] = {{.addr = DATA(3), .len = 512, .write = 1}, {.addr = CROSS, .len = 1024, .write = 1}};
	struct vd_buf one, big[4];
	uint32_t id, len;
	uint16_t want;

	start(b, NULL, 1);
	/* Write 3 sectors at sector 5 from two buffers, one crossing A -> B. */
	fill_guest(b, DATA(2), 0x11, 1024);
	fill_guest(b, CROSS, 0x77, 512);
	assert_int_equal(run(b, T_OUT, 5, w, 2, 1), S_OK);
	file_read(b, 5 * 512, buf, 1536);
	for (size_t i = 0; i < 1024; i++)
		assert_int_equal(buf[i], (uint8_t)(0x11 + i * 3));
	for (size_t i = 0; i < 512; i++)
		assert_int_equal(buf[1024 + i], (uint8_t)(0x77 + i * 3));
	file_read(b, 4 * 512, buf, 512); /* neighbours intact */
	assert_int_equal(buf[511], pat(4 * 512 + 511));
	file_read(b, 8 * 512, buf, 1);
	assert_int_equal(buf[0], pat(8 * 512));

	/* Read it back into 512 + 1024 bytes (the second crossing A -> B). */
	memset(vd_host(&b->f.m, DATA(3)), 0, 512);
	memset(vd_host(&b->f.m, CROSS), 0, 0x200);
	memset(vd_host(&b->f.m, VD_B_GPA), 0, 0x200);
	assert_int_equal(run(b, T_IN, 5, r, 2, 1536 + 1), S_OK);
	for (size_t i = 0; i < 512; i++)
		assert_int_equal(*vd_host(&b->f.m, DATA(3) + i), (uint8_t)(0x11 + i * 3));
	for (size_t i = 0; i < 512; i++)
		assert_int_equal(*vd_host(&b->f.m, CROSS + i), (uint8_t)(0x11 + (512 + i) * 3));
	for (size_t i = 0; i < 512; i++)
		assert_int_equal(*vd_host(&b->f.m, CROSS + 512 + i), (uint8_t)(0x77 + i * 3));

	/* Header and data in one readable buffer, data and status in one
	 * writable buffer. */
	d = vd_host(&b->f.m, DATA(4));
	put_hdr(b, 0, T_OUT, 100);
	memcpy(d, vd_host(&b->f.m, HDR(0)), 16);
	fill_guest(b, DATA(4) + 16, 0x33, 512);
	*vd_host(&b->f.m, ST(0)) = 0xee;
	{
		struct vd_buf bufs[2] = {{.addr = DATA(4), .len = 528}, {.addr = ST(0), .len = 1, .write = 1}};

		want = vdf_post(&b->f, 0, bufs, 2);
	}
	assert_int_equal(vdf_kick(&b->f, 0), 0);
	wait_used(b, 0, &id, &len);
	assert_int_equal(id, want);
	assert_int_equal(len, 1);
	assert_int_equal(*vd_host(&b->f.m, ST(0)), S_OK);
	file_read(b, 100 * 512, buf, 512);
	for (size_t i = 0; i < 512; i++)
		assert_int_equal(buf[i], (uint8_t)(0x33 + i * 3));
	put_hdr(b, 0, T_IN, 100);
	memset(vd_host(&b->f.m, DATA(5)), 0xee, 513);
	{
		struct vd_buf bufs[2] = {{.addr = HDR(0), .len = 16}, {.addr = DATA(5), .len = 513, .write = 1}};

		want = vdf_post(&b->f, 0, bufs, 2);
	}
	assert_int_equal(vdf_kick(&b->f, 0), 0);
	wait_used(b, 0, &id, &len);
	assert_int_equal(id, want);
	assert_int_equal(len, 513);
	assert_int_equal(*vd_host(&b->f.m, DATA(5) + 512), S_OK);
	assert_memory_equal(vd_host(&b->f.m, DATA(5)), buf, 512);

	/* 16 KiB over four buffers, from the original pattern. */
	for (unsigned i = 0; i < 4; i++)
		big[i] = (struct vd_buf){.addr = DATA(6 + i), .len = 4096, .write = 1};
	assert_int_equal(run(b, T_IN, 1000, big, 4, 16384 + 1), S_OK);
	for (unsigned i = 0; i < 4; i++)
		for (size_t j = 0; j < 4096; j++)
			assert_int_equal(*vd_host(&b->f.m, DATA(6 + i) + j), pat(1000 * 512 + i * 4096 + j));

	/* The last sector, and a zero-length read at the end: fine. */
	assert_int_equal(dev_read(b, IMG_SECTORS - 1, 512), S_OK);
	assert_int_equal(*vd_host(&b->f.m, DATA(1) + 7), pat((IMG_SECTORS - 1) * 512ull + 7));
	assert_int_equal(run(b, T_IN, IMG_SECTORS, NULL, 0, 1), S_OK);
	one = (struct vd_buf){.addr = DATA(1), .len = 0, .write = 1};
	assert_int_equal(run(b, T_IN, 3, &one, 1, 1), S_OK);
	assert_true(atomic_load(&b->qirq[0]) > 0);
}

static void put_seg(struct bfix *b, uint64_t gpa, uint64_t sector, uint32_t n, uint32_t flags)
{
	vd_w64(&b->f.m, gpa, sector);
	vd_w32(&b->f.m, gpa + 8, n);
	vd_w32(&b->f.m, gpa + 12, flags);
}

static uint8_t run_segs(struct bfix *b, uint32_t type, uint32_t nseg, uint32_t bytes)
{
	struct vd_buf s = {.addr = DATA(2), .len = bytes ? bytes : 16 * nseg};

	return run(b, type, 0, &s, 1, 1);
}

static void expect_zero_sectors(struct bfix *b, uint64_t sector, uint32_t n)
{
	uint8_t buf[8192];

	assert_true(n * 512 <= sizeof(buf));
	file_read(b, sector * 512, buf, n * 512);
	assert_true(all_zero(buf, n * 512));
	assert_int_equal(dev_read(b, sector, n * 512), S_OK);
	assert_true(all_zero(vd_host(&b->f.m, DATA(1)), n * 512));
}

static void expect_pattern_sector(struct bfix *b, uint64_t sector)
{
	uint8_t buf[512];

	file_read(b, sector * 512, buf, 512);
	for (size_t i = 0; i < 512; i++)
		assert_int_equal(buf[i], pat(sector * 512 + i));
}

static void test_flush(void **state)
{
	struct bfix *b = *state;
	struct vd_buf w = {.addr = DATA(2), .len = 4096};
	struct vd_buf wr = {.addr = DATA(3), .len = 512, .write = 1};
	uint8_t buf[4096];
	int fd;

	start(b, NULL, 1);
	fill_guest(b, DATA(2), 0x42, 4096);
	assert_int_equal(run(b, T_OUT, 64, &w, 1, 1), S_OK);
	assert_int_equal(run(b, T_FLUSH, 0, NULL, 0, 1), S_OK);
	/* The sector field of a flush is ignored. */
	assert_int_equal(run(b, T_FLUSH, 12345678, NULL, 0, 1), S_OK);
	/* A fresh descriptor sees the data. */
	fd = open(b->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, 4096, 64 * 512), 4096);
	close(fd);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(buf[i], (uint8_t)(0x42 + i * 3));
	/* A flush carrying data is refused (the data buffer is zeroed). */
	assert_int_equal(run(b, T_FLUSH, 0, &w, 1, 1), S_IOERR);
	memset(vd_host(&b->f.m, DATA(3)), 0x99, 512);
	assert_int_equal(run(b, T_FLUSH, 0, &wr, 1, 513), S_IOERR);
	assert_true(all_zero(vd_host(&b->f.m, DATA(3)), 512));
	kvmhost_virtio_blk_destroy(b->blk);

	/* Without FLUSH negotiated the driver expects write-through: writes
	 * and write-zeroes still work (RWF_DSYNC, fdatasync). */
	create(b, NULL);
	bring_up(b, 1, BIT(KVMHOST_VIRTIO_BLK_F_FLUSH));
	fill_guest(b, DATA(2), 0x24, 4096);
	assert_int_equal(run(b, T_OUT, 128, &w, 1, 1), S_OK);
	file_read(b, 128 * 512, buf, 4096);
	assert_int_equal(buf[4095], (uint8_t)(0x24 + 4095 * 3));
	put_seg(b, DATA(3), 128, 4, 0);
	{
		struct vd_buf s = {.addr = DATA(3), .len = 16};

		assert_int_equal(run(b, T_WZ, 0, &s, 1, 1), S_OK);
	}
	expect_zero_sectors(b, 128, 4);
	expect_pattern_sector(b, 136);
}

/* ---- discard and write zeroes ---- */

static void test_discard(void **state)
{
	struct bfix *b = *state;
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o), .max_discard_sectors = 64, .max_discard_seg = 4};
	struct vd_buf bad[2] = {{.addr = DATA(2), .len = 16}, {.addr = DATA(3), .len = 16, .write = 1}};

	start(b, &o, 1);
	/* One block-aligned segment. */
	put_seg(b, DATA(2), 16, 8, 0);
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_OK);
	expect_zero_sectors(b, 16, 8);
	expect_pattern_sector(b, 15);
	expect_pattern_sector(b, 24);
	/* Two segments. */
	put_seg(b, DATA(2), 32, 8, 0);
	put_seg(b, DATA(2) + 16, 48, 8, 0);
	assert_int_equal(run_segs(b, T_DISC, 2, 0), S_OK);
	expect_zero_sectors(b, 32, 8);
	expect_zero_sectors(b, 48, 8);
	expect_pattern_sector(b, 40);
	/* A zero-sector segment does nothing. */
	put_seg(b, DATA(2), 100, 0, 0);
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_OK);
	expect_pattern_sector(b, 100);

	/* The unmap flag on a discard, and unknown flags: UNSUPP. */
	put_seg(b, DATA(2), 16, 8, KVMHOST_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_UNSUPP);
	put_seg(b, DATA(2), 64, 8, 2);
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_UNSUPP);
	/* Limits and ranges: IOERR, nothing discarded. */
	put_seg(b, DATA(2), 64, 65, 0); /* above max_discard_sectors */
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_IOERR);
	put_seg(b, DATA(2), IMG_SECTORS - 4, 8, 0); /* past the end */
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_IOERR);
	put_seg(b, DATA(2), UINT64_MAX - 3, 8, 0); /* sector + count wraps */
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_IOERR);
	put_seg(b, DATA(2), 1ull << 55, 8, 0); /* sector * 512 wraps */
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_IOERR);
	for (unsigned i = 0; i < 5; i++)
		put_seg(b, DATA(2) + 16 * i, 64 + 8 * i, 8, 0);
	assert_int_equal(run_segs(b, T_DISC, 5, 0), S_IOERR);	  /* more than max_discard_seg */
	assert_int_equal(run_segs(b, T_DISC, 1, 24), S_IOERR);	  /* not whole segments */
	assert_int_equal(run(b, T_DISC, 0, NULL, 0, 1), S_IOERR); /* no segment */
	assert_int_equal(run(b, T_DISC, 0, bad, 2, 17), S_IOERR); /* writable data */
	expect_pattern_sector(b, 64);
	expect_pattern_sector(b, 96);
	kvmhost_virtio_blk_destroy(b->blk);
	b->blk = NULL;

	/* Not negotiated: UNSUPP. */
	create(b, NULL);
	bring_up(b, 1, BIT(KVMHOST_VIRTIO_BLK_F_DISCARD));
	put_seg(b, DATA(2), 64, 8, 0);
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_UNSUPP);
	expect_pattern_sector(b, 64);
}

static void test_write_zeroes(void **state)
{
	struct bfix *b = *state;
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o), .max_write_zeroes_sectors = 32};

	start(b, &o, 1);
	/* With unmap (a hole), block aligned. */
	put_seg(b, DATA(2), 64, 8, KVMHOST_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(run_segs(b, T_WZ, 1, 0), S_OK);
	expect_zero_sectors(b, 64, 8);
	expect_pattern_sector(b, 63);
	expect_pattern_sector(b, 72);
	/* Without unmap, inside a block: only those sectors. */
	put_seg(b, DATA(2), 81, 2, 0);
	assert_int_equal(run_segs(b, T_WZ, 1, 0), S_OK);
	expect_zero_sectors(b, 81, 2);
	expect_pattern_sector(b, 80);
	expect_pattern_sector(b, 83);
	/* Unaligned with unmap, two segments. */
	put_seg(b, DATA(2), 90, 3, KVMHOST_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	put_seg(b, DATA(2) + 16, 101, 1, 0);
	assert_int_equal(run_segs(b, T_WZ, 2, 0), S_OK);
	expect_zero_sectors(b, 90, 3);
	expect_zero_sectors(b, 101, 1);
	expect_pattern_sector(b, 89);
	expect_pattern_sector(b, 93);
	expect_pattern_sector(b, 100);
	expect_pattern_sector(b, 102);
	/* Checks. */
	put_seg(b, DATA(2), 120, 8, 2);
	assert_int_equal(run_segs(b, T_WZ, 1, 0), S_UNSUPP);
	put_seg(b, DATA(2), 120, 33, 0);
	assert_int_equal(run_segs(b, T_WZ, 1, 0), S_IOERR);
	put_seg(b, DATA(2), IMG_SECTORS, 1, 0);
	assert_int_equal(run_segs(b, T_WZ, 1, 0), S_IOERR);
	expect_pattern_sector(b, 120);
}

/* ---- GET_ID, unsupported types ---- */

static void test_get_id(void **state)
{
	struct bfix *b = *state;
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o), .serial = "kvmhost-serial-0001"};
	struct vd_buf d = {.addr = DATA(1), .len = 20, .write = 1};
	struct vd_buf rd = {.addr = DATA(2), .len = 20};
	uint8_t *p = vd_host(&b->f.m, DATA(1));

	start(b, &o, 1);
	memset(p, 0xaa, 64);
	assert_int_equal(run(b, T_GET_ID, 0, &d, 1, 21), S_OK);
	assert_memory_equal(p, "kvmhost-serial-0001", 20); /* 19 bytes and a zero */
	/* A longer buffer: zeros after the 20 bytes, all of it reported. */
	memset(p, 0xaa, 64);
	d.len = 30;
	assert_int_equal(run(b, T_GET_ID, 0, &d, 1, 31), S_OK);
	assert_memory_equal(p, "kvmhost-serial-0001", 20);
	assert_true(all_zero(p + 20, 10));
	assert_int_equal(p[30], 0xaa);
	/* A shorter one gets what fits. */
	memset(p, 0xaa, 64);
	d.len = 5;
	assert_int_equal(run(b, T_GET_ID, 0, &d, 1, 6), S_OK);
	assert_memory_equal(p, "kvmho", 5);
	assert_int_equal(p[5], 0xaa);
	/* Readable data: refused. */
	assert_int_equal(run(b, T_GET_ID, 0, &rd, 1, 1), S_IOERR);
	kvmhost_virtio_blk_destroy(b->blk);

	/* 20 bytes exactly: no terminator; no serial: zeros. */
	o.serial = "ABCDEFGHIJKLMNOPQRST";
	start(b, &o, 1);
	d.len = 20;
	memset(p, 0xaa, 64);
	assert_int_equal(run(b, T_GET_ID, 0, &d, 1, 21), S_OK);
	assert_memory_equal(p, "ABCDEFGHIJKLMNOPQRST", 20);
	kvmhost_virtio_blk_destroy(b->blk);
	start(b, NULL, 1);
	memset(p, 0xaa, 64);
	assert_int_equal(run(b, T_GET_ID, 0, &d, 1, 21), S_OK);
	assert_true(all_zero(p, 20));
}

static void test_unsupported(void **state)
{
	struct bfix *b = *state;
	struct vd_buf d = {.addr = DATA(1), .len = 24, .write = 1};

	start(b, NULL, 1);
	assert_int_equal(run(b, 99, 0, NULL, 0, 1), S_UNSUPP);
	memset(vd_host(&b->f.m, DATA(1)), 0xaa, 24);
	assert_int_equal(run(b, 10 /* GET_LIFETIME */, 0, &d, 1, 25), S_UNSUPP);
	assert_true(all_zero(vd_host(&b->f.m, DATA(1)), 24));
	assert_int_equal(run(b, 0x80000000u | T_IN /* legacy barrier bit */, 0, &d, 1, 25), S_UNSUPP);
	assert_int_equal(run(b, 14 /* SECURE_ERASE */, 0, NULL, 0, 1), S_UNSUPP);
}

/* ---- read-only ---- */

static void test_readonly(void **state)
{
	struct bfix *b = *state;
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o), .flags = KVMHOST_VIRTIO_BLK_READONLY};
	struct vd_buf w = {.addr = DATA(2), .len = 512};
	uint64_t f;

	create(b, &o);
	f = kvmhost_virtio_device_offered_features(b->f.dev);
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_RO));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_DISCARD));
	assert_false(f & BIT(KVMHOST_VIRTIO_BLK_F_WRITE_ZEROES));
	assert_true(f & BIT(KVMHOST_VIRTIO_BLK_F_FLUSH));
	bring_up(b, 1, 0);
	fill_guest(b, DATA(2), 0x10, 512);
	assert_int_equal(run(b, T_OUT, 10, &w, 1, 1), S_IOERR);
	put_seg(b, DATA(2), 10, 1, 0);
	assert_int_equal(run_segs(b, T_DISC, 1, 0), S_IOERR);
	put_seg(b, DATA(2), 10, 1, KVMHOST_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(run_segs(b, T_WZ, 1, 0), S_IOERR);
	expect_pattern_sector(b, 10);
	assert_int_equal(dev_read(b, 10, 512), S_OK);
	assert_int_equal(*vd_host(&b->f.m, DATA(1) + 3), pat(10 * 512 + 3));
	assert_int_equal(run(b, T_FLUSH, 0, NULL, 0, 1), S_OK);
	/* A read-only image file is fine for a read-only device. */
	kvmhost_virtio_blk_destroy(b->blk);
	b->blk = NULL;
	assert_int_equal(chmod(b->path, 0400), 0);
	create(b, &o);
	assert_int_equal(chmod(b->path, 0600), 0);
}

/* ---- guest-controlled numbers ---- */

static void test_out_of_range(void **state)
{
	struct bfix *b = *state;
	struct vd_buf w = {.addr = DATA(2), .len = 1024};
	struct vd_buf both[2] = {{.addr = DATA(2), .len = 512}, {.addr = DATA(3), .len = 512, .write = 1}};
	static const uint64_t wild[] = {IMG_SECTORS, IMG_SECTORS + 1, 1ull << 55,    (1ull << 55) - 1,
					1ull << 63,  UINT64_MAX,      UINT64_MAX - 1};
	struct stat st;

	start(b, NULL, 1);
	for (size_t i = 0; i < ARRAY_SIZE(wild); i++) {
		assert_int_equal(dev_read(b, wild[i], 512), S_IOERR);
		/* What the device did not read is zeros, not stale bytes. */
		assert_true(all_zero(vd_host(&b->f.m, DATA(1)), 512));
		assert_int_equal(run(b, T_OUT, wild[i], &w, 1, 1), S_IOERR);
	}
	assert_int_equal(dev_read(b, IMG_SECTORS - 1, 1024), S_IOERR); /* runs past the end */
	assert_int_equal(run(b, T_OUT, IMG_SECTORS - 1, &w, 1, 1), S_IOERR);
	assert_int_equal(dev_read(b, 0, 500), S_IOERR); /* not whole sectors */
	assert_int_equal(dev_read(b, 0, 513), S_IOERR);
	w.len = 100;
	assert_int_equal(run(b, T_OUT, 0, &w, 1, 1), S_IOERR);
	assert_int_equal(fstat(b->fd, &st), 0);
	assert_int_equal(st.st_size, IMG_SECTORS * 512ull); /* nothing grew */
	expect_pattern_sector(b, 0);
	expect_pattern_sector(b, IMG_SECTORS - 1);

	/* Data in the wrong direction. */
	memset(vd_host(&b->f.m, DATA(3)), 0x99, 512);
	assert_int_equal(run(b, T_IN, 0, both, 2, 513), S_IOERR);
	assert_true(all_zero(vd_host(&b->f.m, DATA(3)), 512));
	memset(vd_host(&b->f.m, DATA(3)), 0x99, 512);
	assert_int_equal(run(b, T_OUT, 0, both, 2, 513), S_IOERR);
	assert_true(all_zero(vd_host(&b->f.m, DATA(3)), 512));
	expect_pattern_sector(b, 0);
}

/* ---- malformed chains ---- */

static void expect_broken(struct bfix *b, const struct vd_buf *bufs, unsigned n)
{
	char why[256];

	vdf_post(&b->f, 0, bufs, n);
	assert_int_equal(vdf_kick(&b->f, 0), 0);
	wait_needs_reset(b);
	assert_int_equal(kvmhost_virtio_device_needs_reset(b->f.dev, why, sizeof(why)), 1);
	assert_true(atomic_load(&b->cirq) > 0);
	/* Kicks are ignored now; a reset and a new bring-up work again. */
	assert_int_equal(vdf_kick(&b->f, 0), 0);
	kvmhost_virtio_device_reset(b->f.dev);
	assert_int_equal(kvmhost_virtio_device_needs_reset(b->f.dev, NULL, 0), 0);
	bring_up(b, 1, 0);
	assert_int_equal(dev_read(b, 7, 512), S_OK);
	assert_int_equal(*vd_host(&b->f.m, DATA(1)), pat(7 * 512));
}

static void test_malformed(void **state)
{
	struct bfix *b = *state;
	struct vd_buf hdr_only[1] = {{.addr = HDR(0), .len = 16}};
	struct vd_buf st_readable[2] = {{.addr = HDR(0), .len = 16}, {.addr = ST(0), .len = 1}};
	struct vd_buf data_no_st[2] = {{.addr = HDR(0), .len = 16}, {.addr = DATA(2), .len = 512}};
	struct vd_buf short_hdr[2] = {{.addr = HDR(0), .len = 8}, {.addr = ST(0), .len = 1, .write = 1}};
	struct vd_buf hdr_written[2] = {{.addr = HDR(0), .len = 16, .write = 1}, {.addr = ST(0), .len = 1, .write = 1}};
	struct vd_buf outside[3] = {{.addr = HDR(0), .len = 16},
				    {.addr = VD_HOLE, .len = 512, .write = 1},
				    {.addr = ST(0), .len = 1, .write = 1}};
	struct vd_buf split_hdr[3] = {
	    {.addr = HDR(0), .len = 8}, {.addr = HDR(0) + 8, .len = 8}, {.addr = ST(0), .len = 1, .write = 1}};
	struct vd_buf ro_target[3] = {{.addr = HDR(0), .len = 16},
				      {.addr = VD_RO_GPA, .len = 512, .write = 1},
				      {.addr = ST(0), .len = 1, .write = 1}};
	uint32_t id, len;

	start(b, NULL, 1);
	put_hdr(b, 0, T_IN, 0);
	expect_broken(b, hdr_only, 1);
	put_hdr(b, 0, T_FLUSH, 0);
	expect_broken(b, st_readable, 2);
	put_hdr(b, 0, T_OUT, 0);
	expect_broken(b, data_no_st, 2);
	put_hdr(b, 0, T_IN, 0);
	expect_broken(b, short_hdr, 2);
	expect_broken(b, hdr_written, 2);
	put_hdr(b, 0, T_IN, 0);
	expect_broken(b, outside, 3); /* the queue refuses it itself */
	expect_broken(b, ro_target, 3);

	/* A header split over two buffers is fine. */
	put_hdr(b, 0, T_IN, 0);
	*vd_host(&b->f.m, ST(0)) = 0xee;
	vdf_post(&b->f, 0, split_hdr, 3);
	assert_int_equal(vdf_kick(&b->f, 0), 0);
	wait_used(b, 0, &id, &len);
	assert_int_equal(len, 1);
	assert_int_equal(*vd_host(&b->f.m, ST(0)), S_OK);
	assert_int_equal(vdf_needs_reset(&b->f), 0);
}

/* ---- concurrency ---- */

#define NREQ 32u

static void check_read_slot(struct bfix *b, unsigned slot, uint64_t sector)
{
	assert_int_equal(*vd_host(&b->f.m, ST(slot)), S_OK);
	for (size_t j = 0; j < 4096; j += 97)
		assert_int_equal(*vd_host(&b->f.m, DATA(slot) + j), pat(sector * 512 + j));
}

static void test_many_in_flight(void **state)
{
	struct bfix *b = *state;
	uint16_t ids[NREQ];
	int seen[NREQ] = {0};
	uint64_t sector[NREQ];

	start(b, NULL, 1);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < NREQ; i++) {
			struct vd_buf d = {.addr = DATA(i), .len = 4096, .write = 1};

			sector[i] = (i * 37 + round * 11) % (IMG_SECTORS - 8);
			memset(vd_host(&b->f.m, DATA(i)), 0, 4096);
			ids[i] = post(b, 0, i, T_IN, sector[i], &d, 1);
			seen[i] = 0;
			/* Kick now and then, as a driver batching would. */
			if (i % 8 == 7)
				assert_int_equal(vdf_kick(&b->f, 0), 0);
		}
		for (unsigned n = 0; n < NREQ; n++) {
			uint32_t id, len;
			unsigned i;

			wait_used(b, 0, &id, &len);
			for (i = 0; i < NREQ && ids[i] != id; i++)
				;
			assert_true(i < NREQ);
			assert_false(seen[i]);
			seen[i] = 1;
			assert_int_equal(len, 4097);
			check_read_slot(b, i, sector[i]);
		}
		/* The split driver's bump allocator restarts cleanly only
		 * when everything came back. */
	}
}

/* Post a 4 KiB read at @sector in slot @s, reusing the slot's own
 * descriptors (split: 3s..3s+2; packed: buffer id s), as a driver with a
 * fixed request pool does. Returns the id the used ring will report. */
static uint32_t post_slot(struct bfix *b, unsigned s, uint64_t sector)
{
	struct vd_queue *d = &b->f.q[0];
	struct vd_buf bufs[3] = {{.addr = HDR(s), .len = 16},
				 {.addr = DATA(s), .len = 4096, .write = 1},
				 {.addr = ST(s), .len = 1, .write = 1}};

	put_hdr(b, s, T_IN, sector);
	*vd_host(&b->f.m, ST(s)) = 0xee;
	if (g_packed) {
		vd_packed_add(d, bufs, 3, (uint16_t)s);
		return s;
	}
	for (unsigned i = 0; i < 3; i++)
		vd_split_desc(d, 3 * s + i, bufs[i].addr, bufs[i].len,
			      (uint16_t)((i < 2 ? VD_F_NEXT : 0) | (bufs[i].write ? VD_F_WRITE : 0)),
			      (uint16_t)(3 * s + i + 1));
	vd_split_publish(d, (uint16_t)(3 * s));
	return 3 * s;
}

/* A request pool kept full: each completion is re-posted at once with the
 * same head / buffer id, while the device may still be finishing others. */
static void test_stream(void **state)
{
	struct bfix *b = *state;
	uint64_t sector[16], rng = 12345;
	unsigned posted = 0, done = 0;
	const unsigned depth = 16, total = 3000;

	start(b, NULL, 1);
	for (unsigned s = 0; s < depth; s++, posted++) {
		sector[s] = (rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 33;
		sector[s] %= IMG_SECTORS - 8;
		post_slot(b, s, sector[s]);
	}
	assert_int_equal(vdf_kick(&b->f, 0), 0);
	while (done < total) {
		uint32_t id, len;
		unsigned s;

		wait_used(b, 0, &id, &len);
		s = g_packed ? id : id / 3;
		assert_true(s < depth);
		assert_int_equal(len, 4097);
		check_read_slot(b, s, sector[s]);
		done++;
		if (posted < total) {
			sector[s] = (rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 33;
			sector[s] %= IMG_SECTORS - 8;
			post_slot(b, s, sector[s]);
			posted++;
			if (posted % 4 == 0)
				assert_int_equal(vdf_kick(&b->f, 0), 0);
		} else if (posted == total) {
			assert_int_equal(vdf_kick(&b->f, 0), 0);
			posted++;
		}
	}
	assert_int_equal(vdf_needs_reset(&b->f), 0);
}

static void test_multiqueue(void **state)
{
	struct bfix *b = *state;
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o), .num_queues = 2, .io_threads = 2};
	unsigned done[2] = {0, 0};
	uint8_t buf[4096];

	start(b, &o, 2);
	assert_true(kvmhost_virtio_device_driver_features(b->f.dev) & BIT(KVMHOST_VIRTIO_BLK_F_MQ));
	/* Writes on queue 0 (slots 0-7), reads on queue 1 (slots 8-15). */
	for (unsigned i = 0; i < 8; i++) {
		struct vd_buf w = {.addr = DATA(i), .len = 4096};
		struct vd_buf r = {.addr = DATA(8 + i), .len = 4096, .write = 1};

		fill_guest(b, DATA(i), (uint8_t)(0x20 + i), 4096);
		post(b, 0, i, T_OUT, 256 + 8 * i, &w, 1);
		post(b, 1, 8 + i, T_IN, 512 + 8 * i, &r, 1);
	}
	assert_int_equal(vdf_kick(&b->f, 0), 0);
	assert_int_equal(vdf_kick(&b->f, 1), 0);
	while (done[0] + done[1] < 16) {
		for (unsigned q = 0; q < 2; q++) {
			uint32_t id, len;

			if (vdf_used(&b->f, q, &id, &len)) {
				assert_int_equal(len, q ? 4097 : 1);
				done[q]++;
			}
		}
		nap();
	}
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(*vd_host(&b->f.m, ST(i)), S_OK);
		file_read(b, (256 + 8 * i) * 512ull, buf, 4096);
		assert_int_equal(buf[100], (uint8_t)(0x20 + i + 100 * 3));
		check_read_slot(b, 8 + i, 512 + 8 * i);
	}
	assert_true(atomic_load(&b->qirq[0]) > 0);
	assert_true(atomic_load(&b->qirq[1]) > 0);
	kvmhost_virtio_blk_destroy(b->blk);

	/* Without MQ negotiated, the driver uses queue 0 only. */
	create(b, &o);
	bring_up(b, 1, BIT(KVMHOST_VIRTIO_BLK_F_MQ));
	assert_int_equal(dev_read(b, 9, 512), S_OK);
}

static int word_bit(const uint64_t *bm, uint64_t page)
{
	return (int)((bm[page / 64] >> (page % 64)) & 1);
}

static void test_dirty(void **state)
{
	struct bfix *b = *state;
	uint64_t bm[VD_A_LEN / VD_PAGE / 64], bmb[1];
	struct vd_buf cross = {.addr = CROSS, .len = 1024, .write = 1};
	struct vd_buf w = {.addr = DATA(20), .len = 4096};

	start(b, NULL, 1);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(b->f.m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(b->f.m.rb, bmb, sizeof(bmb)), 0);
	assert_int_equal(dev_read(b, 0, 4096), S_OK);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(b->f.m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(word_bit(bm, DATA(1) / VD_PAGE), 1); /* the data */
	assert_int_equal(word_bit(bm, ST(0) / VD_PAGE), 1);   /* the status */
	assert_int_equal(word_bit(bm, DATA(2) / VD_PAGE), 0);
	/* A read into a buffer crossing A -> B marks both. */
	assert_int_equal(run(b, T_IN, 0, &cross, 1, 1025), S_OK);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(b->f.m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(b->f.m.rb, bmb, sizeof(bmb)), 0);
	assert_int_equal(word_bit(bm, CROSS / VD_PAGE), 1);
	assert_int_equal(word_bit(bmb, 0), 1);
	/* A write dirties the status only, not its (readable) data. */
	assert_int_equal(run(b, T_OUT, 0, &w, 1, 1), S_OK);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(b->f.m.ra, bm, sizeof(bm)), 0);
	assert_int_equal(word_bit(bm, ST(0) / VD_PAGE), 1);
	assert_int_equal(word_bit(bm, DATA(20) / VD_PAGE), 0);
}

static void test_reset_in_flight(void **state)
{
	struct bfix *b = *state;

	start(b, NULL, 1);
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < NREQ; i++) {
			struct vd_buf d = {.addr = DATA(i), .len = 4096, .write = i % 2 == 0};

			post(b, 0, i, i % 2 ? T_OUT : T_IN, 8 * i, &d, 1);
		}
		assert_int_equal(vdf_kick(&b->f, 0), 0);
		/* The reset waits for whatever the workers took. */
		kvmhost_virtio_device_reset(b->f.dev);
		assert_int_equal(kvmhost_virtq_in_flight(kvmhost_virtio_device_queue(b->f.dev, 0)), 0);
		bring_up(b, 1, 0);
		assert_int_equal(dev_read(b, 3, 512), S_OK);
	}
}

static void test_save_restore(void **state)
{
	struct bfix *b = *state;
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o), .path = b->path, .backend = g_backend};
	struct kvmhost_virtio_blk *b2, *b3;
	struct bfix other;
	uint8_t *blob;
	int n, saved;

	start(b, NULL, 1);
	assert_int_equal(dev_read(b, 1, 512), S_OK);
	/* Requests kicked, then drain: they are all back when it returns. */
	for (unsigned i = 0; i < 8; i++) {
		struct vd_buf d = {.addr = DATA(i), .len = 4096, .write = 1};

		post(b, 0, i, T_IN, 8 * i, &d, 1);
	}
	assert_int_equal(vdf_kick(&b->f, 0), 0);
	assert_int_equal(kvmhost_virtio_blk_drain(b->blk), 0);
	for (unsigned i = 0; i < 8; i++) {
		uint32_t id, len;

		assert_int_equal(vdf_used(&b->f, 0, &id, &len), 1);
		check_read_slot(b, i, 8 * i);
	}
	n = kvmhost_virtio_device_state_size(b->f.dev);
	assert_true(n > 32);
	blob = calloc(1, (size_t)n);
	assert_non_null(blob);
	saved = kvmhost_virtio_device_save(b->f.dev, blob, (size_t)n);
	assert_int_equal(saved, n);

	/* Onto a fresh device for the same image: it carries on. */
	assert_int_equal(kvmhost_virtio_blk_create(b->f.m.mem, &o, &b2), 0);
	kvmhost_virtio_blk_destroy(b->blk);
	b->blk = b2;
	b->f.dev = kvmhost_virtio_blk_device(b2);
	assert_int_equal(kvmhost_virtio_device_set_transport(b->f.dev, &b_tops, b), 0);
	assert_int_equal(kvmhost_virtio_device_restore(b->f.dev, blob, (size_t)n), 0);
	assert_true(kvmhost_virtio_device_get_status(b->f.dev) & KVMHOST_VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(dev_read(b, 2, 512), S_OK);
	assert_int_equal(*vd_host(&b->f.m, DATA(1) + 1), pat(2 * 512 + 1));

	/* Not onto a disk of another size, or a read-only one. */
	memset(&other, 0, sizeof(other));
	assert_int_equal(make_image(&other, 4096 * 512ull), 0);
	o.path = other.path;
	assert_int_equal(kvmhost_virtio_blk_create(b->f.m.mem, &o, &b3), 0);
	assert_int_equal(kvmhost_virtio_device_restore(kvmhost_virtio_blk_device(b3), blob, (size_t)n), -EINVAL);
	assert_true(strlen(kvmhost_last_error()) > 0);
	kvmhost_virtio_blk_destroy(b3);
	close(other.fd);
	unlink(other.path);
	o.path = b->path;
	o.flags = KVMHOST_VIRTIO_BLK_READONLY;
	assert_int_equal(kvmhost_virtio_blk_create(b->f.m.mem, &o, &b3), 0);
	assert_int_equal(kvmhost_virtio_device_restore(kvmhost_virtio_blk_device(b3), blob, (size_t)n), -EINVAL);
	kvmhost_virtio_blk_destroy(b3);
	/* A corrupted device part. */
	blob[n - 32] ^= 1;
	o.flags = 0;
	assert_int_equal(kvmhost_virtio_blk_create(b->f.m.mem, &o, &b3), 0);
	assert_int_equal(kvmhost_virtio_device_restore(kvmhost_virtio_blk_device(b3), blob, (size_t)n), -EINVAL);
	kvmhost_virtio_blk_destroy(b3);
	free(blob);
}

/* ---- groups ---- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static const struct CMUnitTest tests[] = {
    T(test_bad_args),	     T(test_config),	     T(test_read_write),  T(test_flush),      T(test_discard),
    T(test_write_zeroes),    T(test_get_id),	     T(test_unsupported), T(test_readonly),   T(test_out_of_range),
    T(test_malformed),	     T(test_many_in_flight), T(test_stream),	  T(test_multiqueue), T(test_dirty),
    T(test_reset_in_flight), T(test_save_restore),
};

static int group(uint32_t backend, int packed)
{
	char name[64];

	g_backend = backend;
	g_packed = packed;
	snprintf(name, sizeof(name), "virtio-blk %s %s",
		 backend == KVMHOST_VIRTIO_BLK_BACKEND_IO_URING ? "io_uring" : "threads", packed ? "packed" : "split");
	return _cmocka_run_group_tests(name, tests, ARRAY_SIZE(tests), NULL, NULL);
}

int main(void)
{
	int failed = 0;

	failed += group(KVMHOST_VIRTIO_BLK_BACKEND_THREADS, 0);
	failed += group(KVMHOST_VIRTIO_BLK_BACKEND_IO_URING, 0);
	failed += group(KVMHOST_VIRTIO_BLK_BACKEND_THREADS, 1);
	failed += group(KVMHOST_VIRTIO_BLK_BACKEND_IO_URING, 1);
	return failed;
}
