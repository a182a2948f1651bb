/*
 * Unit tests of the I/O bus (lib/bus/): lookup and offsets, overlap rules,
 * unclaimed and straddling accesses, callback errors, dispatch of fake vCPU
 * exits (string I/O included), argument checks with their messages, option
 * struct sizes, and dispatch racing with register/unregister.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include "core/internal.h"

/* A fake device that records its last access. */
struct dev {
	const char *name;
	int reads, writes;
	uint64_t offset;
	uint32_t len;
	uint8_t wdata[8 * 64];
	size_t wbytes;
	uint8_t rvalue; /* first byte returned by reads; later bytes count up */
	int fail;	/* negative errno to return */
};

static int dev_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct dev *d = opaque;
	uint8_t *p = data;

	d->reads++;
	d->offset = offset;
	d->len = len;
	if (d->fail)
		return d->fail;
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(d->rvalue + i);
	d->rvalue = (uint8_t)(d->rvalue + 0x10);
	return 0;
}

static int dev_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct dev *d = opaque;

	d->writes++;
	d->offset = offset;
	d->len = len;
	if (d->fail)
		return d->fail;
	if (d->wbytes + len <= sizeof(d->wdata)) {
		memcpy(d->wdata + d->wbytes, data, len);
		d->wbytes += len;
	}
	return 0;
}

static struct kvmhost_bus_range range_of(uint64_t base, uint64_t length, struct dev *d)
{
	struct kvmhost_bus_range r = {.size = sizeof(r), .base = base, .length = length};

	if (d) {
		r.read = dev_read;
		r.write = dev_write;
		r.opaque = d;
		r.name = d->name;
	}
	return r;
}

static int add(struct kvmhost_bus *bus, uint64_t base, uint64_t length, struct dev *d)
{
	struct kvmhost_bus_range r = range_of(base, length, d);

	return kvmhost_bus_register(bus, &r);
}

/* Leave a known message so that the next check proves a call set a new one. */
static void reset_error(void)
{
	kh_fail(EPERM, "reset", "marker");
}

/* Assert that the last error was set by @func (it starts with "func: "). */
static void assert_error_from(const char *func)
{
	const char *e = kvmhost_last_error();

	if (strncmp(e, func, strlen(func)) != 0 || e[strlen(func)] != ':')
		fail_msg("last error \"%s\" is not from %s", e, func);
}

static void test_create_destroy(void **state)
{
	struct kvmhost_bus *bus;

	(void)state;
	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	assert_int_equal(kvmhost_bus_count(bus), 0);
	kvmhost_bus_destroy(bus);
	assert_int_equal(kvmhost_bus_create(NULL, &bus), 0);
	kvmhost_bus_destroy(bus);
	kvmhost_bus_destroy(NULL);
}

static void test_dispatch_offsets(void **state)
{
	struct dev a = {.name = "a", .rvalue = 0x10}, b = {.name = "b", .rvalue = 0x40}, c = {.name = "c"};
	struct kvmhost_bus *bus;
	uint8_t buf[8];
	uint32_t v32 = 0xdeadbeef;

	(void)state;
	assert_int_equal(kvmhost_bus_create("mmio", &bus), 0);
	/* Registered out of order: the array must come out sorted. */
	assert_int_equal(add(bus, 0x3000, 0x100, &c), 0);
	assert_int_equal(add(bus, 0x1000, 0x10, &a), 0);
	assert_int_equal(add(bus, 0x2000, 0x1000, &b), 0);
	assert_int_equal(kvmhost_bus_count(bus), 3);

	memset(buf, 0, sizeof(buf));
	assert_int_equal(kvmhost_bus_read(bus, 0x1004, buf, 4), 0);
	assert_int_equal(a.reads, 1);
	assert_int_equal(a.offset, 4);
	assert_int_equal(a.len, 4);
	assert_int_equal(buf[0], 0x10);
	assert_int_equal(buf[3], 0x13);
	assert_int_equal(buf[4], 0); /* beyond len untouched */

	assert_int_equal(kvmhost_bus_write(bus, 0x2ffc, &v32, 4), 0);
	assert_int_equal(b.writes, 1);
	assert_int_equal(b.offset, 0xffc);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.wdata, &v32, 4);

	assert_int_equal(kvmhost_bus_read(bus, 0x30ff, buf, 1), 0);
	assert_int_equal(c.offset, 0xff);
	assert_int_equal(kvmhost_bus_read(bus, 0x3000, buf, 8), 0);
	assert_int_equal(c.offset, 0);
	assert_int_equal(c.len, 8);
	assert_int_equal(a.reads + b.reads + c.reads, 3);
	assert_int_equal(a.writes + c.writes, 0);
	kvmhost_bus_destroy(bus);
}

static void test_many_ranges(void **state)
{
	static struct dev devs[256];
	struct kvmhost_bus *bus;
	int order[256];
	uint8_t v;

	(void)state;
	assert_int_equal(kvmhost_bus_create("many", &bus), 0);
	for (int i = 0; i < 256; i++)
		order[i] = i;
	srand(1);
	for (int i = 255; i > 0; i--) {
		int j = rand() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < 256; i++) {
		int k = order[i];
		memset(&devs[k], 0, sizeof(devs[k]));
		/* 0x100 apart, 0x80 long: a gap between each pair. */
		assert_int_equal(add(bus, 0x10000 + 0x100u * (unsigned)k, 0x80, &devs[k]), 0);
	}
	assert_int_equal(kvmhost_bus_count(bus), 256);
	for (int k = 0; k < 256; k++) {
		uint64_t base = 0x10000 + 0x100u * (unsigned)k;

		assert_int_equal(kvmhost_bus_read(bus, base + 0x7f, &v, 1), 0);
		assert_int_equal(devs[k].reads, 1);
		assert_int_equal(devs[k].offset, 0x7f);
		assert_int_equal(kvmhost_bus_read(bus, base + 0x80, &v, 1), KVMHOST_BUS_UNCLAIMED);
		assert_int_equal(v, 0xff);
	}
	assert_int_equal(kvmhost_bus_read(bus, 0xffff, &v, 1), KVMHOST_BUS_UNCLAIMED);
	kvmhost_bus_destroy(bus);
}

static void test_overlaps(void **state)
{
	struct dev a = {.name = "uart"}, x = {.name = "newdev"};
	struct kvmhost_bus *bus;

	(void)state;
	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	assert_int_equal(add(bus, 0x1000, 0x1000, &a), 0); /* [0x1000, 0x1fff] */
	struct {
		uint64_t base, len;
		const char *what;
	} bad[] = {
	    {0x1100, 0x10, "inside"},	  {0xff0, 0x20, "straddling the start"}, {0x1ff0, 0x20, "straddling the end"},
	    {0x800, 0x2000, "enclosing"}, {0x1000, 0x1000, "identical"},	 {0x1000, 1, "same base, shorter"},
	    {0x1fff, 1, "last byte"},	  {0xfff, 2, "one byte over the start"},
	};
	for (size_t i = 0; i < KH_ARRAY_SIZE(bad); i++) {
		reset_error();
		if (add(bus, bad[i].base, bad[i].len, &x) != -EEXIST)
			fail_msg("%s overlap was not refused", bad[i].what);
		assert_error_from("kvmhost_bus_register");
		/* The message names the existing range and its bounds. */
		assert_non_null(strstr(kvmhost_last_error(), "'uart' [0x1000, 0x1fff]"));
		assert_non_null(strstr(kvmhost_last_error(), "newdev"));
	}
	assert_int_equal(kvmhost_bus_count(bus), 1);
	/* Adjacent on either side is fine. */
	assert_int_equal(add(bus, 0x2000, 0x10, &x), 0);
	assert_int_equal(add(bus, 0xff0, 0x10, &x), 0);
	assert_int_equal(kvmhost_bus_count(bus), 3);
	/* A range between two neighbours that touches the right one. */
	assert_int_equal(add(bus, 0x2010, 0x10, NULL), 0);
	assert_int_equal(add(bus, 0x2030, 0x10, NULL), 0);
	assert_int_equal(add(bus, 0x2020, 0x11, NULL), -EEXIST);
	assert_int_equal(add(bus, 0x2020, 0x10, NULL), 0);
	/* The very top of the address space is usable. */
	assert_int_equal(add(bus, UINT64_MAX - 0xf, 0x10, NULL), 0);
	assert_int_equal(add(bus, UINT64_MAX, 1, NULL), -EEXIST);
	kvmhost_bus_destroy(bus);
}

static void test_unregister(void **state)
{
	struct dev a = {.name = "a"};
	struct kvmhost_bus *bus;
	uint8_t v = 0;

	(void)state;
	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	assert_int_equal(add(bus, 0x60, 4, &a), 0);
	assert_int_equal(kvmhost_bus_write(bus, 0x61, &v, 1), 0);
	assert_int_equal(a.writes, 1);
	reset_error();
	assert_int_equal(kvmhost_bus_unregister(bus, 0x61), -ENOENT); /* inside, not the base */
	assert_error_from("kvmhost_bus_unregister");
	assert_int_equal(kvmhost_bus_unregister(bus, 0x60), 0);
	assert_int_equal(kvmhost_bus_count(bus), 0);
	assert_int_equal(kvmhost_bus_write(bus, 0x61, &v, 1), KVMHOST_BUS_UNCLAIMED);
	assert_int_equal(kvmhost_bus_read(bus, 0x61, &v, 1), KVMHOST_BUS_UNCLAIMED);
	assert_int_equal(v, 0xff);
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.reads, 0);
	reset_error();
	assert_int_equal(kvmhost_bus_unregister(bus, 0x60), -ENOENT);
	assert_error_from("kvmhost_bus_unregister");
	/* The space is free again. */
	assert_int_equal(add(bus, 0x60, 4, &a), 0);
	kvmhost_bus_destroy(bus);
}

static void test_unclaimed_all_ones(void **state)
{
	struct kvmhost_bus *bus;
	uint8_t buf[16];
	uint32_t lens[] = {1, 2, 4, 8};

	(void)state;
	assert_int_equal(kvmhost_bus_create("empty", &bus), 0);
	for (size_t i = 0; i < KH_ARRAY_SIZE(lens); i++) {
		memset(buf, 0x5a, sizeof(buf));
		assert_int_equal(kvmhost_bus_read(bus, 0x1234, buf, lens[i]), KVMHOST_BUS_UNCLAIMED);
		for (uint32_t j = 0; j < lens[i]; j++)
			assert_int_equal(buf[j], 0xff);
		assert_int_equal(buf[lens[i]], 0x5a);
	}
	uint64_t all = 0;
	assert_int_equal(kvmhost_bus_read(bus, 0, &all, 8), KVMHOST_BUS_UNCLAIMED);
	assert_true(all == UINT64_MAX);
	/* An unclaimed write is dropped and reported, not an error. */
	assert_int_equal(kvmhost_bus_write(bus, 0x1234, buf, 4), KVMHOST_BUS_UNCLAIMED);
	kvmhost_bus_destroy(bus);
}

static void test_straddle(void **state)
{
	struct dev a = {.name = "a"};
	struct kvmhost_bus *bus;
	uint8_t buf[8];

	(void)state;
	assert_int_equal(kvmhost_bus_create("mmio", &bus), 0);
	assert_int_equal(add(bus, 0x1000, 0x10, &a), 0);
	assert_int_equal(add(bus, 0x1010, 0x10, NULL), 0); /* adjacent: still not one range */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(kvmhost_bus_read(bus, 0x100c, buf, 8), KVMHOST_BUS_UNCLAIMED);
	for (int i = 0; i < 8; i++)
		assert_int_equal(buf[i], 0xff);
	assert_int_equal(kvmhost_bus_write(bus, 0x100f, buf, 2), KVMHOST_BUS_UNCLAIMED);
	assert_int_equal(a.reads + a.writes, 0);
	/* Exactly to the end is inside. */
	assert_int_equal(kvmhost_bus_read(bus, 0x1008, buf, 8), 0);
	assert_int_equal(a.offset, 8);
	/* Starting before the range is unclaimed too. */
	assert_int_equal(kvmhost_bus_read(bus, 0xffe, buf, 4), KVMHOST_BUS_UNCLAIMED);
	assert_int_equal(a.reads, 1);
	kvmhost_bus_destroy(bus);
}

static void test_callback_errors(void **state)
{
	struct dev a = {.name = "flaky", .fail = -EIO};
	struct kvmhost_bus *bus;
	uint32_t v = 0;

	(void)state;
	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	assert_int_equal(add(bus, 0x70, 2, &a), 0);
	reset_error();
	assert_int_equal(kvmhost_bus_read(bus, 0x71, &v, 1), -EIO);
	assert_error_from("kvmhost_bus_read");
	assert_non_null(strstr(kvmhost_last_error(), "flaky"));
	reset_error();
	a.fail = -ETIMEDOUT;
	assert_int_equal(kvmhost_bus_write(bus, 0x70, &v, 2), -ETIMEDOUT);
	assert_error_from("kvmhost_bus_write");
	/* Something that is not an errno comes back as -EIO. */
	a.fail = INT32_MIN;
	assert_int_equal(kvmhost_bus_write(bus, 0x70, &v, 2), -EIO);
	kvmhost_bus_destroy(bus);
}

static int positive_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0x42, len);
	return (int)len; /* "bytes done": counts as success */
}

static int partial_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	(void)len;
	*(uint8_t *)data = 0x01; /* leaves the other bytes alone */
	return 0;
}

static void test_null_and_odd_callbacks(void **state)
{
	struct kvmhost_bus_range r = {.size = sizeof(r), .base = 0x80, .length = 0x10};
	struct kvmhost_bus *bus;
	uint64_t v = 0;

	(void)state;
	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	assert_int_equal(kvmhost_bus_register(bus, &r), 0);
	/* Claimed, but no callbacks: reads all ones and writes dropped, both "handled". */
	assert_int_equal(kvmhost_bus_read(bus, 0x80, &v, 8), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(kvmhost_bus_write(bus, 0x88, &v, 8), 0);

	r.base = 0x100;
	r.read = positive_read;
	assert_int_equal(kvmhost_bus_register(bus, &r), 0);
	assert_int_equal(kvmhost_bus_read(bus, 0x100, &v, 4), 0);
	assert_int_equal((uint32_t)v, 0x42424242);

	r.base = 0x200;
	r.read = partial_read;
	assert_int_equal(kvmhost_bus_register(bus, &r), 0);
	v = 0;
	assert_int_equal(kvmhost_bus_read(bus, 0x200, &v, 4), 0);
	assert_int_equal((uint32_t)v, 0xffffff01);
	kvmhost_bus_destroy(bus);
}

static struct kvmhost_exit io_exit(uint16_t port, uint8_t size, uint8_t is_write, uint32_t count, uint8_t *data)
{
	struct kvmhost_exit e;

	memset(&e, 0, sizeof(e));
	e.reason = KVMHOST_EXIT_IO;
	e.io.port = port;
	e.io.size = size;
	e.io.is_write = is_write;
	e.io.count = count;
	e.io.data = data;
	return e;
}

static void test_dispatch_exit_io(void **state)
{
	struct dev a = {.name = "a", .rvalue = 0x20};
	struct kvmhost_bus *pio, *mmio;
	uint8_t data[64];
	struct kvmhost_exit e;

	(void)state;
	assert_int_equal(kvmhost_bus_create("pio", &pio), 0);
	assert_int_equal(kvmhost_bus_create("mmio", &mmio), 0);
	assert_int_equal(add(pio, 0x3f8, 8, &a), 0);

	/* Single OUT. */
	data[0] = 0x41;
	e = io_exit(0x3f8, 1, 1, 1, data);
	assert_int_equal(kvmhost_bus_dispatch_exit(pio, mmio, &e), 0);
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.offset, 0);
	assert_int_equal(a.wdata[0], 0x41);

	/* REP OUTSW of 4 words: 4 calls to the same port, data with stride 2. */
	a.wbytes = 0;
	for (int i = 0; i < 8; i++)
		data[i] = (uint8_t)(0x10 + i);
	e = io_exit(0x3fa, 2, 1, 4, data);
	assert_int_equal(kvmhost_bus_dispatch_exit(pio, mmio, &e), 0);
	assert_int_equal(a.writes, 5);
	assert_int_equal(a.offset, 2);
	assert_int_equal(a.len, 2);
	assert_int_equal(a.wbytes, 8);
	assert_memory_equal(a.wdata, data, 8);

	/* REP INSD of 3 dwords: each call fills its own slot. */
	memset(data, 0, sizeof(data));
	e = io_exit(0x3fc, 4, 0, 3, data);
	assert_int_equal(kvmhost_bus_dispatch_exit(pio, mmio, &e), 0);
	assert_int_equal(a.reads, 3);
	assert_int_equal(a.offset, 4);
	uint8_t want[12] = {0x20, 0x21, 0x22, 0x23, 0x30, 0x31, 0x32, 0x33, 0x40, 0x41, 0x42, 0x43};
	assert_memory_equal(data, want, 12);

	/* String IN on an unclaimed port: every element all ones. */
	memset(data, 0, sizeof(data));
	e = io_exit(0x80, 2, 0, 5, data);
	assert_int_equal(kvmhost_bus_dispatch_exit(pio, mmio, &e), KVMHOST_BUS_UNCLAIMED);
	for (int i = 0; i < 10; i++)
		assert_int_equal(data[i], 0xff);
	assert_int_equal(data[10], 0);

	/* An error stops a string access at the failing element. */
	a.fail = -EPROTO;
	a.reads = 0;
	e = io_exit(0x3f8, 1, 0, 8, data);
	assert_int_equal(kvmhost_bus_dispatch_exit(pio, mmio, &e), -EPROTO);
	assert_int_equal(a.reads, 1);

	/* No PIO bus given. */
	reset_error();
	assert_int_equal(kvmhost_bus_dispatch_exit(NULL, mmio, &e), -ENOTSUP);
	assert_error_from("kvmhost_bus_dispatch_exit");
	kvmhost_bus_destroy(pio);
	kvmhost_bus_destroy(mmio);
}

static void test_dispatch_exit_mmio(void **state)
{
	struct dev a = {.name = "virtio", .rvalue = 0x70};
	struct kvmhost_bus *mmio;
	uint8_t data[8];
	struct kvmhost_exit e;

	(void)state;
	assert_int_equal(kvmhost_bus_create("mmio", &mmio), 0);
	assert_int_equal(add(mmio, 0xd0000000, 0x1000, &a), 0);
	memset(&e, 0, sizeof(e));
	e.reason = KVMHOST_EXIT_MMIO;
	e.mmio.addr = 0xd0000070;
	e.mmio.len = 8;
	e.mmio.is_write = 1;
	e.mmio.data = data;
	memcpy(data, "ABCDEFGH", 8);
	assert_int_equal(kvmhost_bus_dispatch_exit(NULL, mmio, &e), 0);
	assert_int_equal(a.offset, 0x70);
	assert_int_equal(a.len, 8);
	assert_memory_equal(a.wdata, "ABCDEFGH", 8);
	e.mmio.is_write = 0;
	e.mmio.len = 2;
	assert_int_equal(kvmhost_bus_dispatch_exit(NULL, mmio, &e), 0);
	assert_int_equal(data[0], 0x70);
	assert_int_equal(data[1], 0x71);
	assert_int_equal(data[2], 'C');
	e.mmio.addr = 0xe0000000;
	e.mmio.len = 4;
	assert_int_equal(kvmhost_bus_dispatch_exit(NULL, mmio, &e), KVMHOST_BUS_UNCLAIMED);
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	reset_error();
	assert_int_equal(kvmhost_bus_dispatch_exit(mmio, NULL, &e), -ENOTSUP);
	assert_error_from("kvmhost_bus_dispatch_exit");
	kvmhost_bus_destroy(mmio);
}

static void test_dispatch_exit_other(void **state)
{
	struct kvmhost_bus *bus;
	struct kvmhost_exit e;
	enum kvmhost_exit_reason reasons[] = {KVMHOST_EXIT_HLT, KVMHOST_EXIT_UNKNOWN, KVMHOST_EXIT_SHUTDOWN,
					      KVMHOST_EXIT_KICKED, KVMHOST_EXIT_X86_RDMSR};

	(void)state;
	assert_int_equal(kvmhost_bus_create("b", &bus), 0);
	for (size_t i = 0; i < KH_ARRAY_SIZE(reasons); i++) {
		memset(&e, 0, sizeof(e));
		e.reason = reasons[i];
		reset_error();
		assert_int_equal(kvmhost_bus_dispatch_exit(bus, bus, &e), -ENOTSUP);
		assert_error_from("kvmhost_bus_dispatch_exit");
	}
	kvmhost_bus_destroy(bus);
}

/* Each bad call returns the errno and leaves a message from the right function. */
#define EXPECT_FAIL(call, err, func)                                                                                   \
	do {                                                                                                           \
		reset_error();                                                                                         \
		assert_int_equal((call), -(err));                                                                      \
		assert_error_from(func);                                                                               \
	} while (0)

static void test_bad_inputs(void **state)
{
	struct kvmhost_bus *bus;
	struct kvmhost_bus_range r = {.size = sizeof(r), .base = 0x10, .length = 0x10};
	struct kvmhost_exit e;
	uint8_t buf[16];

	(void)state;
	EXPECT_FAIL(kvmhost_bus_create("x", NULL), EINVAL, "kvmhost_bus_create");
	assert_int_equal(kvmhost_bus_create("x", &bus), 0);

	EXPECT_FAIL(kvmhost_bus_register(NULL, &r), EINVAL, "kvmhost_bus_register");
	EXPECT_FAIL(kvmhost_bus_register(bus, NULL), EINVAL, "kvmhost_bus_register");
	r.length = 0;
	EXPECT_FAIL(kvmhost_bus_register(bus, &r), EINVAL, "kvmhost_bus_register");
	r.base = UINT64_MAX - 3;
	r.length = 5;
	EXPECT_FAIL(kvmhost_bus_register(bus, &r), EINVAL, "kvmhost_bus_register");
	r.base = 2; /* [1, 2^64 - 1] would fit; from 2 it wraps */
	r.length = UINT64_MAX;
	EXPECT_FAIL(kvmhost_bus_register(bus, &r), EINVAL, "kvmhost_bus_register");
	r.base = 0;
	r.length = UINT64_MAX; /* [0, 2^64 - 2]: fine */
	assert_int_equal(kvmhost_bus_register(bus, &r), 0);
	assert_int_equal(kvmhost_bus_unregister(bus, 0), 0);
	r.base = 0x10;
	r.length = 0x10;
	assert_int_equal(kvmhost_bus_register(bus, &r), 0);

	EXPECT_FAIL(kvmhost_bus_unregister(NULL, 0x10), EINVAL, "kvmhost_bus_unregister");
	EXPECT_FAIL(kvmhost_bus_count(NULL), EINVAL, "kvmhost_bus_count");

	EXPECT_FAIL(kvmhost_bus_read(NULL, 0x10, buf, 1), EINVAL, "kvmhost_bus_read");
	EXPECT_FAIL(kvmhost_bus_read(bus, 0x10, NULL, 1), EINVAL, "kvmhost_bus_read");
	EXPECT_FAIL(kvmhost_bus_read(bus, 0x10, buf, 0), EINVAL, "kvmhost_bus_read");
	EXPECT_FAIL(kvmhost_bus_read(bus, 0x10, buf, 9), EINVAL, "kvmhost_bus_read");
	EXPECT_FAIL(kvmhost_bus_read(bus, UINT64_MAX - 2, buf, 4), EINVAL, "kvmhost_bus_read");
	EXPECT_FAIL(kvmhost_bus_write(NULL, 0x10, buf, 1), EINVAL, "kvmhost_bus_write");
	EXPECT_FAIL(kvmhost_bus_write(bus, 0x10, NULL, 1), EINVAL, "kvmhost_bus_write");
	EXPECT_FAIL(kvmhost_bus_write(bus, 0x10, buf, 0), EINVAL, "kvmhost_bus_write");
	EXPECT_FAIL(kvmhost_bus_write(bus, 0x10, buf, 16), EINVAL, "kvmhost_bus_write");

	EXPECT_FAIL(kvmhost_bus_dispatch_exit(bus, bus, NULL), EINVAL, "kvmhost_bus_dispatch_exit");
	e = io_exit(0x10, 3, 1, 1, buf);
	EXPECT_FAIL(kvmhost_bus_dispatch_exit(bus, bus, &e), EINVAL, "kvmhost_bus_dispatch_exit");
	e = io_exit(0x10, 1, 1, 0, buf);
	EXPECT_FAIL(kvmhost_bus_dispatch_exit(bus, bus, &e), EINVAL, "kvmhost_bus_dispatch_exit");
	e = io_exit(0x10, 4, 1, 1025, buf); /* more than a page of data */
	EXPECT_FAIL(kvmhost_bus_dispatch_exit(bus, bus, &e), EINVAL, "kvmhost_bus_dispatch_exit");
	e = io_exit(0x10, 1, 1, 1, NULL);
	EXPECT_FAIL(kvmhost_bus_dispatch_exit(bus, bus, &e), EINVAL, "kvmhost_bus_dispatch_exit");
	memset(&e, 0, sizeof(e));
	e.reason = KVMHOST_EXIT_MMIO;
	e.mmio.addr = 0x10;
	e.mmio.data = buf;
	e.mmio.len = 0;
	EXPECT_FAIL(kvmhost_bus_dispatch_exit(bus, bus, &e), EINVAL, "kvmhost_bus_dispatch_exit");
	e.mmio.len = 9;
	EXPECT_FAIL(kvmhost_bus_dispatch_exit(bus, bus, &e), EINVAL, "kvmhost_bus_dispatch_exit");
	e.mmio.len = 4;
	e.mmio.data = NULL;
	EXPECT_FAIL(kvmhost_bus_dispatch_exit(bus, bus, &e), EINVAL, "kvmhost_bus_dispatch_exit");
	kvmhost_bus_destroy(bus);
}

/* A newer caller's struct: ours plus a field this library does not know. */
struct range_v2 {
	struct kvmhost_bus_range r;
	uint64_t future;
};

static void test_options_sizes(void **state)
{
	struct dev a = {.name = "a"};
	struct kvmhost_bus *bus;
	struct kvmhost_bus_range r;
	struct range_v2 r2;
	uint8_t v;

	(void)state;
	assert_int_equal(kvmhost_bus_create("opts", &bus), 0);

	/* Older caller: no name field. */
	r = range_of(0x100, 0x10, &a);
	r.size = offsetof(struct kvmhost_bus_range, name);
	r.name = (const char *)1; /* beyond the caller's size: must not be read */
	assert_int_equal(kvmhost_bus_register(bus, &r), 0);
	assert_int_equal(kvmhost_bus_read(bus, 0x100, &v, 1), 0);
	assert_int_equal(a.reads, 1);

	/* Older still: no opaque, name or callbacks past write's... only base/length known. */
	r = range_of(0x200, 0x10, &a);
	r.size = offsetof(struct kvmhost_bus_range, read);
	assert_int_equal(kvmhost_bus_register(bus, &r), 0);
	assert_int_equal(kvmhost_bus_read(bus, 0x200, &v, 1), 0);
	assert_int_equal(v, 0xff);
	assert_int_equal(a.reads, 1);

	/* Newer caller with the unknown field zero: accepted. */
	memset(&r2, 0, sizeof(r2));
	r2.r = range_of(0x300, 0x10, &a);
	r2.r.size = sizeof(r2);
	assert_int_equal(kvmhost_bus_register(bus, &r2.r), 0);

	/* Newer caller asking for something we lack: refused. */
	r2.r.base = 0x400;
	r2.future = 1;
	EXPECT_FAIL(kvmhost_bus_register(bus, &r2.r), E2BIG, "kvmhost_bus_register");

	/* Nonsense sizes. */
	r = range_of(0x500, 0x10, &a);
	r.size = 4;
	EXPECT_FAIL(kvmhost_bus_register(bus, &r), EINVAL, "kvmhost_bus_register");
	/* Too small to hold base and length: length reads as 0. */
	r.size = offsetof(struct kvmhost_bus_range, length);
	EXPECT_FAIL(kvmhost_bus_register(bus, &r), EINVAL, "kvmhost_bus_register");
	assert_int_equal(kvmhost_bus_count(bus), 3);
	kvmhost_bus_destroy(bus);
}

/* A device that forwards to another range of its own bus, and tries to hot-plug from inside. */
struct fwd {
	struct kvmhost_bus *bus;
	int reg_result, unreg_result, count_result;
};

static int fwd_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct fwd *f = opaque;
	struct kvmhost_bus_range r = {.size = sizeof(r), .base = 0x9000, .length = 1};

	f->reg_result = kvmhost_bus_register(f->bus, &r);
	f->unreg_result = kvmhost_bus_unregister(f->bus, 0x1000);
	f->count_result = kvmhost_bus_count(f->bus);
	return kvmhost_bus_read(f->bus, 0x2000 + offset, data, len);
}

static void test_nested_dispatch(void **state)
{
	struct dev target = {.name = "target", .rvalue = 0x55};
	struct fwd f;
	struct kvmhost_bus_range r = {
	    .size = sizeof(r), .base = 0x1000, .length = 0x10, .read = fwd_read, .opaque = &f, .name = "fwd"};
	uint8_t v = 0;

	(void)state;
	assert_int_equal(kvmhost_bus_create("nest", &f.bus), 0);
	assert_int_equal(kvmhost_bus_register(f.bus, &r), 0);
	assert_int_equal(add(f.bus, 0x2000, 0x10, &target), 0);
	assert_int_equal(kvmhost_bus_read(f.bus, 0x1003, &v, 1), 0);
	assert_int_equal(v, 0x55);
	assert_int_equal(target.offset, 3);
	/* Hot-plug from a callback would deadlock: refused instead. */
	assert_int_equal(f.reg_result, -EDEADLK);
	assert_int_equal(f.unreg_result, -EDEADLK);
	assert_int_equal(f.count_result, 2);
	assert_int_equal(kvmhost_bus_count(f.bus), 2);
	kvmhost_bus_destroy(f.bus);
}

/* Concurrency: two dispatchers and one thread hot-plugging other ranges. */
#define RACE_ITERS    200000
#define HOTPLUG_ITERS 3000

struct race {
	struct kvmhost_bus *bus;
	atomic_int calls[2];
	atomic_int hot_calls;
	atomic_int hot_inflight;
	atomic_int hot_claimed;
	atomic_int violations;
	atomic_int done;
	int errors;
};

struct race_dev {
	struct race *race;
	int idx;
};

static int race_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct race_dev *d = opaque;

	(void)data;
	(void)len;
	if (offset != 4)
		atomic_fetch_add(&d->race->violations, 1);
	atomic_fetch_add(&d->race->calls[d->idx], 1);
	return 0;
}

static int hot_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct race *r = opaque;

	(void)offset;
	atomic_fetch_add(&r->hot_inflight, 1);
	memset(data, 0x11, len);
	sched_yield();
	atomic_fetch_add(&r->hot_calls, 1);
	atomic_fetch_sub(&r->hot_inflight, 1);
	return 0;
}

struct dispatcher {
	struct race *race;
	int idx;
};

static void *dispatch_thread(void *arg)
{
	struct dispatcher *d = arg;
	uint32_t v = 0x12345678, hv;
	long bad = 0;

	for (int i = 0; i < RACE_ITERS; i++) {
		if (kvmhost_bus_write(d->race->bus, 0x1000u * (unsigned)(d->idx + 1) + 4, &v, 4) != 0)
			bad++;
		/* Hot-plugged range: present or not, never anything else. */
		if ((i & 15) == 0) {
			int r = kvmhost_bus_read(d->race->bus, 0x8000 + 0x100u * (unsigned)(i & 0x70) / 16, &hv, 4);

			if (r == 0) {
				if (hv != 0x11111111)
					bad++;
				atomic_fetch_add(&d->race->hot_claimed, 1);
			} else if (r != KVMHOST_BUS_UNCLAIMED || hv != 0xffffffff) {
				bad++;
			}
		}
	}
	return (void *)bad;
}

static void *hotplug_thread(void *arg)
{
	struct race *r = arg;
	long bad = 0;

	for (int i = 0; i < HOTPLUG_ITERS; i++) {
		uint64_t base = 0x8000 + 0x100u * (unsigned)(i % 8);
		struct kvmhost_bus_range hr = {
		    .size = sizeof(hr), .base = base, .length = 0x100, .read = hot_read, .opaque = r, .name = "hot"};

		if (kvmhost_bus_register(r->bus, &hr) != 0)
			bad++;
		sched_yield();
		if (kvmhost_bus_unregister(r->bus, base) != 0)
			bad++;
		/* Once unregister returns, none of its callbacks may be running. */
		if (atomic_load(&r->hot_inflight) != 0)
			atomic_fetch_add(&r->violations, 1);
	}
	return (void *)bad;
}

static void test_concurrent_dispatch(void **state)
{
	static struct race race;
	struct race_dev devs[2];
	struct dispatcher ds[2];
	pthread_t t[3];
	void *bad;

	(void)state;
	memset(&race, 0, sizeof(race));
	assert_int_equal(kvmhost_bus_create("race", &race.bus), 0);
	for (int i = 0; i < 2; i++) {
		struct kvmhost_bus_range r = {.size = sizeof(r),
					      .base = 0x1000u * (unsigned)(i + 1),
					      .length = 0x10,
					      .write = race_write,
					      .opaque = &devs[i],
					      .name = "racer"};
		devs[i].race = &race;
		devs[i].idx = i;
		ds[i].race = &race;
		ds[i].idx = i;
		assert_int_equal(kvmhost_bus_register(race.bus, &r), 0);
	}
	assert_int_equal(pthread_create(&t[2], NULL, hotplug_thread, &race), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, dispatch_thread, &ds[i]), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_int_equal((long)bad, 0);
	}
	assert_int_equal(atomic_load(&race.calls[0]), RACE_ITERS);
	assert_int_equal(atomic_load(&race.calls[1]), RACE_ITERS);
	assert_int_equal(atomic_load(&race.hot_calls), atomic_load(&race.hot_claimed));
	assert_int_equal(atomic_load(&race.violations), 0);
	assert_int_equal(kvmhost_bus_count(race.bus), 2);
	kvmhost_bus_destroy(race.bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_destroy),
	    cmocka_unit_test(test_dispatch_offsets),
	    cmocka_unit_test(test_many_ranges),
	    cmocka_unit_test(test_overlaps),
	    cmocka_unit_test(test_unregister),
	    cmocka_unit_test(test_unclaimed_all_ones),
	    cmocka_unit_test(test_straddle),
	    cmocka_unit_test(test_callback_errors),
	    cmocka_unit_test(test_null_and_odd_callbacks),
	    cmocka_unit_test(test_dispatch_exit_io),
	    cmocka_unit_test(test_dispatch_exit_mmio),
	    cmocka_unit_test(test_dispatch_exit_other),
	    cmocka_unit_test(test_bad_inputs),
	    cmocka_unit_test(test_options_sizes),
	    cmocka_unit_test(test_nested_dispatch),
	    cmocka_unit_test(test_concurrent_dispatch),
	};

	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
