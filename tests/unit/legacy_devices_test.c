/*
 * Unit tests of the small legacy PC devices (lib/devices/): the 8042's
 * probe commands and reset line, the CMOS RTC's clock (against the host's
 * time, BCD/binary, 12/24 h, UIP, setting it) and RAM, the debug-exit
 * status, and fw_cfg's fixed items, file directory and files. Every access
 * goes through a real kvmhost_bus, so the ranges the devices claim are
 * tested too; bad arguments everywhere.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/devices/cmos_rtc.h>
#include <kvmhost/devices/debug_exit.h>
#include <kvmhost/devices/fw_cfg.h>
#include <kvmhost/devices/i8042.h>

static int bus_setup(void **state)
{
	struct kvmhost_bus *bus;

	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	*state = bus;
	return 0;
}

static int bus_teardown(void **state)
{
	struct kvmhost_bus *bus = *state;

	assert_int_equal(kvmhost_bus_count(bus), 0); /* every device detached itself */
	kvmhost_bus_destroy(bus);
	return 0;
}

static uint8_t inb(struct kvmhost_bus *bus, uint16_t port)
{
	uint8_t v = 0;

	assert_int_equal(kvmhost_bus_read(bus, port, &v, 1), 0);
	return v;
}

static void outb(struct kvmhost_bus *bus, uint16_t port, uint8_t v)
{
	assert_int_equal(kvmhost_bus_write(bus, port, &v, 1), 0);
}

static void outw(struct kvmhost_bus *bus, uint16_t port, uint16_t v)
{
	assert_int_equal(kvmhost_bus_write(bus, port, &v, 2), 0);
}

/* ---- i8042 ---- */

/* Issue a controller command that answers a byte; return it. */
static uint8_t kbd_query(struct kvmhost_bus *bus, uint8_t cmd)
{
	outb(bus, 0x64, cmd);
	assert_int_equal(inb(bus, 0x64) & 0x01, 0x01); /* OBF */
	uint8_t v = inb(bus, 0x60);
	assert_int_equal(inb(bus, 0x64) & 0x21, 0x00); /* read: OBF and AUX OBF clear */
	return v;
}

struct reset_rec {
	struct kvmhost_i8042 *dev;
	int calls;
	int count_seen;
};

static void on_reset_rec(void *opaque)
{
	struct reset_rec *r = opaque;

	r->calls++;
	r->count_seen = kvmhost_i8042_reset_count(r->dev); /* no deadlock: called unlocked */
}

static void test_i8042_probe_and_reset(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct reset_rec rec = {0};
	struct kvmhost_i8042_options o = {.size = sizeof(o), .reset = on_reset_rec, .opaque = &rec};
	struct kvmhost_i8042 *k;

	assert_int_equal(kvmhost_i8042_create(&o, &k), 0);
	rec.dev = k;
	assert_int_equal(kvmhost_i8042_attach(k, bus), 0);
	assert_int_equal(kvmhost_bus_count(bus), 2);

	/* Status: no data, input buffer empty (a guest's kb_wait() passes at once). */
	assert_int_equal(inb(bus, 0x64) & 0x03, 0x00);
	assert_int_equal(kbd_query(bus, 0xaa), 0x55); /* self-test */
	assert_true(inb(bus, 0x64) & 0x04);	      /* SYS flag */
	assert_int_equal(kbd_query(bus, 0xab), 0x00); /* keyboard interface test */
	assert_int_equal(kbd_query(bus, 0xa9), 0x00); /* aux interface test */
	assert_true(inb(bus, 0x64) & 0x08);	      /* last write was a command */

	/* Command byte: read, write through 0x60, read back. */
	assert_int_equal(kbd_query(bus, 0x20), 0x45);
	outb(bus, 0x64, 0x60);
	outb(bus, 0x60, 0x61);
	assert_int_equal(inb(bus, 0x64) & 0x08, 0x00); /* last write was data */
	assert_int_equal(inb(bus, 0x64) & 0x04, 0x00); /* SYS follows the command byte */
	assert_int_equal(kbd_query(bus, 0x20), 0x61);
	outb(bus, 0x64, 0xa8); /* enable aux: clears bit 5 */
	outb(bus, 0x64, 0xad); /* disable keyboard: sets bit 4 */
	assert_int_equal(kbd_query(bus, 0x20), 0x51);
	outb(bus, 0x64, 0xa7);
	outb(bus, 0x64, 0xae);
	assert_int_equal(kbd_query(bus, 0x20), 0x61);

	/* Echo commands; the aux one flags aux data. */
	outb(bus, 0x64, 0xd2);
	outb(bus, 0x60, 0x5a);
	assert_int_equal(inb(bus, 0x64) & 0x21, 0x01);
	assert_int_equal(inb(bus, 0x60), 0x5a);
	outb(bus, 0x64, 0xd3);
	outb(bus, 0x60, 0xa5);
	assert_int_equal(inb(bus, 0x64) & 0x21, 0x21);
	assert_int_equal(inb(bus, 0x60), 0xa5);
	assert_int_equal(inb(bus, 0x64) & 0x21, 0x00);
	/* Data for a keyboard or mouse that is not there: nothing comes back. */
	outb(bus, 0x60, 0xff);
	outb(bus, 0x64, 0xd4);
	outb(bus, 0x60, 0xf2);
	assert_int_equal(inb(bus, 0x64) & 0x01, 0x00);
	assert_int_equal(kbd_query(bus, 0xd0), 0x03); /* output port: reset high, A20 on */
	outb(bus, 0x64, 0x12);			      /* unknown: ignored */
	assert_int_equal(inb(bus, 0x64) & 0x01, 0x00);
	assert_int_equal(rec.calls, 0);

	/* Linux's kbd reboot: wait for IBF clear, then 0xfe. */
	for (int i = 0; i < 10 && (inb(bus, 0x64) & 0x02); i++)
		;
	outb(bus, 0x64, 0xfe);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.count_seen, 1);
	assert_int_equal(kvmhost_i8042_reset_count(k), 1);
	outb(bus, 0x64, 0xff); /* pulses no bit */
	outb(bus, 0x64, 0xf1); /* pulses bits 1-3, not reset */
	assert_int_equal(rec.calls, 1);
	outb(bus, 0x64, 0xf0); /* pulses all four, reset among them */
	assert_int_equal(rec.calls, 2);
	/* Output port written with the reset bit low. */
	outb(bus, 0x64, 0xd1);
	outb(bus, 0x60, 0x03);
	assert_int_equal(rec.calls, 2);
	outb(bus, 0x64, 0xd1);
	outb(bus, 0x60, 0x02);
	assert_int_equal(rec.calls, 3);
	assert_int_equal(kbd_query(bus, 0xd0), 0x03); /* the line came back up */
	assert_int_equal(kvmhost_i8042_reset_count(k), 3);

	/* Two-byte accesses straddle the one-port ranges: unclaimed, all ones. */
	{
		uint16_t w = 0;

		assert_int_equal(kvmhost_bus_read(bus, 0x60, &w, 2), KVMHOST_BUS_UNCLAIMED);
		assert_int_equal(w, 0xffff);
	}
	kvmhost_i8042_destroy(k);
}

static void test_i8042_no_callback(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_i8042 *k;

	assert_int_equal(kvmhost_i8042_create(NULL, &k), 0);
	assert_int_equal(kvmhost_i8042_attach(k, bus), 0);
	outb(bus, 0x64, 0xfe);
	assert_int_equal(kvmhost_i8042_reset_count(k), 1);
	kvmhost_i8042_destroy(k);
}

static void test_i8042_bad_arguments(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_i8042 *k = (void *)1, *k2;
	struct kvmhost_bus_range taken = {.size = sizeof(taken), .base = 0x64, .length = 1, .name = "squatter"};
	size_t tiny = 3;

	assert_int_equal(kvmhost_i8042_create(NULL, NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_i8042_create"));
	assert_int_equal(kvmhost_i8042_create((void *)&tiny, &k), -EINVAL);
	assert_null(k);
	assert_int_equal(kvmhost_i8042_create(NULL, &k), 0);
	assert_int_equal(kvmhost_i8042_attach(NULL, bus), -EINVAL);
	assert_int_equal(kvmhost_i8042_attach(k, NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_i8042_attach"));
	/* Port 0x64 taken: -EEXIST and port 0x60 is not left claimed. */
	assert_int_equal(kvmhost_bus_register(bus, &taken), 0);
	assert_int_equal(kvmhost_i8042_attach(k, bus), -EEXIST);
	assert_non_null(strstr(kvmhost_last_error(), "squatter"));
	assert_int_equal(kvmhost_bus_count(bus), 1);
	assert_int_equal(kvmhost_bus_unregister(bus, 0x64), 0);
	assert_int_equal(kvmhost_i8042_attach(k, bus), 0);
	assert_int_equal(kvmhost_i8042_attach(k, bus), -EBUSY);
	assert_int_equal(kvmhost_i8042_create(NULL, &k2), 0);
	assert_int_equal(kvmhost_i8042_attach(k2, bus), -EEXIST);
	kvmhost_i8042_destroy(k2);
	assert_int_equal(kvmhost_i8042_reset_count(NULL), -EINVAL);
	kvmhost_i8042_destroy(k);
	kvmhost_i8042_destroy(NULL);
}

/* ---- CMOS RTC ---- */

static uint8_t cmos_read(struct kvmhost_bus *bus, uint8_t idx)
{
	outb(bus, 0x70, idx);
	return inb(bus, 0x71);
}

static void cmos_write(struct kvmhost_bus *bus, uint8_t idx, uint8_t v)
{
	outb(bus, 0x70, idx);
	outb(bus, 0x71, v);
}

static int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

/* Read the clock as a careful guest does (outside an update; twice until
 * stable) and turn it into seconds since the epoch (UTC). */
static time_t cmos_time(struct kvmhost_bus *bus, int *wday)
{
	uint8_t b = cmos_read(bus, 0x0b), v[8], again;
	int binary = b & 0x04, h24 = b & 0x02;
	int (*dec)(uint8_t) = from_bcd;
	struct tm tm = {0};
	int hour;

	do {
		while (cmos_read(bus, 0x0a) & 0x80)
			;
		v[0] = cmos_read(bus, 0x00);
		v[1] = cmos_read(bus, 0x02);
		v[2] = cmos_read(bus, 0x04);
		v[3] = cmos_read(bus, 0x07);
		v[4] = cmos_read(bus, 0x08);
		v[5] = cmos_read(bus, 0x09);
		v[6] = cmos_read(bus, 0x32);
		v[7] = cmos_read(bus, 0x06);
		again = cmos_read(bus, 0x00);
	} while (again != v[0]);
	if (binary)
		dec = NULL;
#define DEC(x) (dec ? dec(x) : (x))
	if (h24) {
		hour = DEC(v[2]);
	} else {
		hour = DEC(v[2] & 0x7f) % 12 + ((v[2] & 0x80) ? 12 : 0);
	}
	tm.tm_sec = DEC(v[0]);
	tm.tm_min = DEC(v[1]);
	tm.tm_hour = hour;
	tm.tm_mday = DEC(v[3]);
	tm.tm_mon = DEC(v[4]) - 1;
	tm.tm_year = DEC(v[6]) * 100 + DEC(v[5]) - 1900;
	if (wday)
		*wday = DEC(v[7]);
#undef DEC
	return timegm(&tm);
}

static void test_rtc_time(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_cmos_rtc *rtc;
	time_t now, t;
	struct tm tm;
	int wday;

	assert_int_equal(kvmhost_cmos_rtc_create(NULL, &rtc), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc, bus), 0);
	assert_int_equal(cmos_read(bus, 0x0a) & 0x7f, 0x26);
	assert_int_equal(cmos_read(bus, 0x0b), 0x02); /* 24 h, BCD */
	assert_int_equal(cmos_read(bus, 0x0c), 0x00);
	assert_int_equal(cmos_read(bus, 0x0d), 0x80); /* VRT */

	/* BCD: every digit is a decimal digit, and the time is now. */
	for (uint8_t idx = 0; idx <= 9; idx += (idx == 0x00 || idx == 0x02 || idx == 0x04) ? 2 : 1) {
		uint8_t v = cmos_read(bus, idx);

		assert_true((v & 0x0f) <= 9 && (v >> 4) <= 9);
	}
	now = time(NULL);
	t = cmos_time(bus, &wday);
	assert_true(t >= now - 2 && t <= now + 2);
	gmtime_r(&t, &tm);
	assert_int_equal(wday, tm.tm_wday + 1);

	/* Binary. */
	cmos_write(bus, 0x0b, 0x06);
	now = time(NULL);
	t = cmos_time(bus, NULL);
	assert_true(t >= now - 2 && t <= now + 2);
	assert_int_equal(cmos_read(bus, 0x32), (tm.tm_year + 1900) / 100);

	/* 12-hour, BCD and binary. */
	cmos_write(bus, 0x0b, 0x00);
	now = time(NULL);
	t = cmos_time(bus, NULL);
	assert_true(t >= now - 2 && t <= now + 2);
	cmos_write(bus, 0x0b, 0x04);
	t = cmos_time(bus, NULL);
	assert_true(t >= now - 2 && t <= now + 2);
	cmos_write(bus, 0x0b, 0x02);

	/* The NMI-mask bit of the index is ignored: 0x8d selects register D. */
	assert_int_equal(cmos_read(bus, 0x8d), 0x80);
	/* The index port reads as a floating bus; a 16-bit access is index + data. */
	assert_int_equal(inb(bus, 0x70), 0xff);
	{
		uint16_t w = 0x0d | (0x00 << 8); /* index 0x0d; data byte written to D: ignored */
		uint16_t r;

		outw(bus, 0x70, w);
		assert_int_equal(kvmhost_bus_read(bus, 0x70, &r, 2), 0);
		assert_int_equal(r, 0x80ff);
	}
	/* Register A keeps what is written, except UIP; C and D are read-only. */
	cmos_write(bus, 0x0a, 0xa6);
	assert_int_equal(cmos_read(bus, 0x0a) & 0x7f, 0x26);
	cmos_write(bus, 0x0c, 0xff);
	cmos_write(bus, 0x0d, 0x00);
	assert_int_equal(cmos_read(bus, 0x0c), 0x00);
	assert_int_equal(cmos_read(bus, 0x0d), 0x80);
	assert_int_equal(kvmhost_cmos_rtc_get_byte(rtc, 0x0d), 0x80);
	kvmhost_cmos_rtc_destroy(rtc);
}

/* UIP rises shortly before a second ends and falls as the seconds change. */
static void test_rtc_uip(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_cmos_rtc *rtc;
	struct timespec ts, sl, start;
	uint8_t before, after;
	int seen = 0;

	assert_int_equal(kvmhost_cmos_rtc_create(NULL, &rtc), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc, bus), 0);
	/* Sleep to ~2 ms before the next second, then watch the edge. */
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_nsec > 900000000L) {
		sl = (struct timespec){.tv_sec = 0, .tv_nsec = 200000000L};
		nanosleep(&sl, NULL);
		clock_gettime(CLOCK_REALTIME, &ts);
	}
	sl = (struct timespec){.tv_sec = 0, .tv_nsec = 998000000L - ts.tv_nsec};
	nanosleep(&sl, NULL);
	/* Poll by the clock, not by a count: on a loaded machine this thread may sleep through one 244 us window,
	 * so watch for up to twenty (the second it rises in may then be a later one: read "before" inside it). An
	 * idle machine sees the first; a loaded one (2 cores, a parallel ctest and a lab) missed three in a row once.
	 */
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		before = cmos_read(bus, 0x00);
		seen = cmos_read(bus, 0x0a) & 0x80;
		clock_gettime(CLOCK_MONOTONIC, &ts);
	} while (!seen && ts.tv_sec - start.tv_sec < 20);
	assert_true(seen);
	while (cmos_read(bus, 0x0a) & 0x80)
		;
	after = cmos_read(bus, 0x00);
	assert_int_not_equal(before, after);
	/* With SET, no updates: UIP stays clear and the clock stands still. */
	cmos_write(bus, 0x0b, 0x82);
	before = cmos_read(bus, 0x00);
	sl = (struct timespec){.tv_sec = 1, .tv_nsec = 100000000L};
	nanosleep(&sl, NULL);
	assert_int_equal(cmos_read(bus, 0x0a) & 0x80, 0);
	assert_int_equal(cmos_read(bus, 0x00), before);
	cmos_write(bus, 0x0b, 0x02);
	kvmhost_cmos_rtc_destroy(rtc);
}

static void test_rtc_set_time(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_cmos_rtc *rtc;
	struct tm tm;
	time_t t, want;

	assert_int_equal(kvmhost_cmos_rtc_create(NULL, &rtc), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc, bus), 0);
	/* Set 2099-02-28 23:59:30 (BCD), going through the invalid Feb 31. */
	cmos_write(bus, 0x0b, 0x82);
	cmos_write(bus, 0x07, 0x31);
	cmos_write(bus, 0x08, 0x02);
	assert_int_equal(cmos_read(bus, 0x07), 0x31); /* held as written while SET */
	cmos_write(bus, 0x07, 0x28);
	cmos_write(bus, 0x09, 0x99);
	cmos_write(bus, 0x32, 0x20);
	cmos_write(bus, 0x04, 0x23);
	cmos_write(bus, 0x02, 0x59);
	cmos_write(bus, 0x00, 0x30);
	cmos_write(bus, 0x0b, 0x02);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 2099 - 1900;
	tm.tm_mon = 1;
	tm.tm_mday = 28;
	tm.tm_hour = 23;
	tm.tm_min = 59;
	tm.tm_sec = 30;
	want = timegm(&tm);
	t = cmos_time(bus, NULL);
	assert_true(t >= want && t <= want + 2);
	/* Without SET a write moves the running clock: the minutes only. */
	cmos_write(bus, 0x02, 0x10);
	t = cmos_time(bus, NULL);
	assert_true(t >= want - 49 * 60 && t <= want - 49 * 60 + 2);
	/* 12-hour writes: 11 PM is 23:xx. */
	cmos_write(bus, 0x0b, 0x80);
	cmos_write(bus, 0x04, 0x80 | 0x11);
	cmos_write(bus, 0x0b, 0x02);
	assert_int_equal(cmos_read(bus, 0x04), 0x23);
	cmos_write(bus, 0x0b, 0x00);
	assert_int_equal(cmos_read(bus, 0x04), 0x80 | 0x11);
	cmos_write(bus, 0x0b, 0x02);
	/* A second RTC is at host time still: the offset is per device. */
	{
		struct kvmhost_cmos_rtc *other;
		struct kvmhost_bus *bus2;
		time_t now = time(NULL);

		assert_int_equal(kvmhost_bus_create("pio2", &bus2), 0);
		assert_int_equal(kvmhost_cmos_rtc_create(NULL, &other), 0);
		assert_int_equal(kvmhost_cmos_rtc_attach(other, bus2), 0);
		t = cmos_time(bus2, NULL);
		assert_true(t >= now - 2 && t <= now + 2);
		kvmhost_cmos_rtc_destroy(other);
		kvmhost_bus_destroy(bus2);
	}
	kvmhost_cmos_rtc_destroy(rtc);
}

static void test_rtc_ram(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_cmos_rtc *rtc;

	assert_int_equal(kvmhost_cmos_rtc_create(NULL, &rtc), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc, bus), 0);
	for (unsigned i = 0x0e; i < 0x80; i++) {
		if (i == 0x32)
			continue;
		assert_int_equal(cmos_read(bus, (uint8_t)i), 0);
		assert_int_equal(kvmhost_cmos_rtc_set_byte(rtc, (uint8_t)i, (uint8_t)(i ^ 0x5a)), 0);
		assert_int_equal(cmos_read(bus, (uint8_t)i), i ^ 0x5a);
		cmos_write(bus, (uint8_t)i, (uint8_t)i);
		assert_int_equal(kvmhost_cmos_rtc_get_byte(rtc, (uint8_t)i), i);
	}
	/* Alarm bytes are plain RAM as far as this model goes. */
	cmos_write(bus, 0x01, 0x42);
	assert_int_equal(cmos_read(bus, 0x01), 0x42);

	/* 512 MiB below 4 GiB, 1 GiB + 64 KiB above. */
	assert_int_equal(kvmhost_cmos_rtc_set_memory_size(rtc, 512ull << 20, (1ull << 30) + 65536), 0);
	assert_int_equal(cmos_read(bus, 0x15) | cmos_read(bus, 0x16) << 8, 640);
	assert_int_equal(cmos_read(bus, 0x17) | cmos_read(bus, 0x18) << 8, 0xffff);
	assert_int_equal(cmos_read(bus, 0x30) | cmos_read(bus, 0x31) << 8, 0xffff);
	assert_int_equal(cmos_read(bus, 0x34) | cmos_read(bus, 0x35) << 8, (512 - 16) * 16);
	assert_int_equal(cmos_read(bus, 0x5b) | cmos_read(bus, 0x5c) << 8 | cmos_read(bus, 0x5d) << 16, 16384 + 1);
	/* 8 MiB: extended memory 7 MiB, nothing above 16 MiB. */
	assert_int_equal(kvmhost_cmos_rtc_set_memory_size(rtc, 8ull << 20, 0), 0);
	assert_int_equal(cmos_read(bus, 0x17) | cmos_read(bus, 0x18) << 8, 7 * 1024);
	assert_int_equal(cmos_read(bus, 0x34) | cmos_read(bus, 0x35) << 8, 0);
	assert_int_equal(cmos_read(bus, 0x5b) | cmos_read(bus, 0x5c) << 8 | cmos_read(bus, 0x5d) << 16, 0);
	kvmhost_cmos_rtc_destroy(rtc);
}

static void test_rtc_bad_arguments(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_cmos_rtc_options o = {.size = sizeof(o), .flags = 0x8};
	struct kvmhost_cmos_rtc *rtc = (void *)1, *rtc2;
	struct kvmhost_bus_range taken = {.size = sizeof(taken), .base = 0x71, .length = 1, .name = "squatter"};

	assert_int_equal(kvmhost_cmos_rtc_create(&o, &rtc), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "unknown flags"));
	assert_null(rtc);
	assert_int_equal(kvmhost_cmos_rtc_create(NULL, NULL), -EINVAL);
	o.flags = KVMHOST_CMOS_RTC_LOCALTIME;
	assert_int_equal(kvmhost_cmos_rtc_create(&o, &rtc), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(NULL, bus), -EINVAL);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc, NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_cmos_rtc_attach"));
	assert_int_equal(kvmhost_bus_register(bus, &taken), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc, bus), -EEXIST);
	assert_int_equal(kvmhost_bus_unregister(bus, 0x71), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc, bus), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc, bus), -EBUSY);
	assert_int_equal(kvmhost_cmos_rtc_create(NULL, &rtc2), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(rtc2, bus), -EEXIST);
	kvmhost_cmos_rtc_destroy(rtc2);

	static const uint8_t not_ram[] = {0x00, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x32, 0x80, 0xff};
	for (size_t i = 0; i < sizeof(not_ram); i++) {
		assert_int_equal(kvmhost_cmos_rtc_set_byte(rtc, not_ram[i], 1), -EINVAL);
		assert_non_null(strstr(kvmhost_last_error(), "kvmhost_cmos_rtc_set_byte"));
	}
	assert_int_equal(kvmhost_cmos_rtc_set_byte(NULL, 0x40, 1), -EINVAL);
	assert_int_equal(kvmhost_cmos_rtc_get_byte(NULL, 0x40), -EINVAL);
	assert_int_equal(kvmhost_cmos_rtc_get_byte(rtc, 0x80), -EINVAL);
	assert_int_equal(kvmhost_cmos_rtc_set_memory_size(NULL, 0, 0), -EINVAL);
	assert_int_equal(kvmhost_cmos_rtc_set_memory_size(rtc, (4ull << 30) + 1, 0), -EINVAL);
	assert_int_equal(kvmhost_cmos_rtc_set_memory_size(rtc, 0, 1ull << 40), -ERANGE);
	assert_non_null(strstr(kvmhost_last_error(), "24-bit"));
	assert_int_equal(kvmhost_cmos_rtc_set_memory_size(rtc, 4ull << 30, (1ull << 40) - 65536), 0);
	kvmhost_cmos_rtc_destroy(rtc);
	kvmhost_cmos_rtc_destroy(NULL);
}

/* ---- debug exit ---- */

struct exit_rec {
	int calls;
	uint64_t status;
};

static void on_exit_rec(void *opaque, uint64_t status)
{
	struct exit_rec *r = opaque;

	r->calls++;
	r->status = status;
}

static void test_debug_exit(void **state)
{
	struct kvmhost_bus *bus = *state;
	static const struct {
		uint32_t width;
		uint16_t port;
		uint32_t access;
		uint32_t offset;
		uint32_t value;
		uint64_t status;
	} cases[] = {
	    {1, KVMHOST_DEBUG_EXIT_DEFAULT_PORT, 1, 0, 0x21, 0x43},
	    {1, KVMHOST_DEBUG_EXIT_DEFAULT_PORT, 1, 0, 0x00, 0x01},
	    {1, KVMHOST_DEBUG_EXIT_DEFAULT_PORT, 1, 0, 0xff, 0x1ff},
	    {2, 0x501, 2, 0, 0x1234, 0x2469},
	    {2, 0x501, 1, 1, 0x80, 0x101},
	    {4, 0x501, 4, 0, 0xdeadbeef, 0x1bd5b7ddfull},
	    {4, 0x501, 4, 0, 0xffffffff, 0x1ffffffffull},
	    {4, 0x501, 1, 3, 0x07, 0x0f},
	    {0, 0xf4, 1, 0, 0x10, 0x21}, /* width 0 means 1 */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct exit_rec rec = {0};
		struct kvmhost_debug_exit_options o = {
		    .size = sizeof(o), .width = cases[i].width, .on_exit = on_exit_rec, .opaque = &rec};
		struct kvmhost_debug_exit *d;
		uint64_t status = 0;
		uint32_t v = 0xffffffff;

		assert_int_equal(kvmhost_debug_exit_create(&o, &d), 0);
		assert_int_equal(kvmhost_debug_exit_attach(d, bus, cases[i].port), 0);
		assert_int_equal(kvmhost_debug_exit_requested(d, &status), 0);
		assert_int_equal(kvmhost_bus_read(bus, cases[i].port, &v, 1), 0);
		assert_int_equal(v & 0xff, 0); /* reads return 0 */
		assert_int_equal(
		    kvmhost_bus_write(bus, cases[i].port + cases[i].offset, &cases[i].value, cases[i].access), 0);
		assert_int_equal(rec.calls, 1);
		assert_int_equal(rec.status, cases[i].status);
		assert_int_equal(kvmhost_debug_exit_requested(d, &status), 1);
		assert_int_equal(status, cases[i].status);
		assert_int_equal(kvmhost_debug_exit_requested(d, NULL), 1);
		/* Past the width: not this device's port. */
		assert_int_equal(
		    kvmhost_bus_write(bus, cases[i].port + (cases[i].width ? cases[i].width : 1), &cases[i].value, 1),
		    KVMHOST_BUS_UNCLAIMED);
		kvmhost_debug_exit_destroy(d);
	}
	/* No callback: polling alone. A later write replaces the status. */
	{
		struct kvmhost_debug_exit *d;
		uint64_t status;

		assert_int_equal(kvmhost_debug_exit_create(NULL, &d), 0);
		assert_int_equal(kvmhost_debug_exit_attach(d, bus, KVMHOST_DEBUG_EXIT_DEFAULT_PORT), 0);
		outb(bus, 0xf4, 1);
		outb(bus, 0xf4, 2);
		assert_int_equal(kvmhost_debug_exit_requested(d, &status), 1);
		assert_int_equal(status, 5);
		kvmhost_debug_exit_destroy(d);
	}
}

static void test_debug_exit_bad_arguments(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_debug_exit_options o = {.size = sizeof(o), .width = 3};
	struct kvmhost_debug_exit *d = (void *)1, *d2;

	assert_int_equal(kvmhost_debug_exit_create(&o, &d), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "width 3"));
	assert_null(d);
	o.width = 8;
	assert_int_equal(kvmhost_debug_exit_create(&o, &d), -EINVAL);
	assert_int_equal(kvmhost_debug_exit_create(NULL, NULL), -EINVAL);
	o.width = 2;
	assert_int_equal(kvmhost_debug_exit_create(&o, &d), 0);
	assert_int_equal(kvmhost_debug_exit_attach(NULL, bus, 0xf4), -EINVAL);
	assert_int_equal(kvmhost_debug_exit_attach(d, NULL, 0xf4), -EINVAL);
	assert_int_equal(kvmhost_debug_exit_attach(d, bus, 0xffff), -EINVAL); /* 2 ports from 0xffff */
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_debug_exit_attach"));
	assert_int_equal(kvmhost_debug_exit_attach(d, bus, 0x10000), -EINVAL);
	assert_int_equal(kvmhost_debug_exit_attach(d, bus, 0xf4), 0);
	assert_int_equal(kvmhost_debug_exit_attach(d, bus, 0xf8), -EBUSY);
	assert_int_equal(kvmhost_debug_exit_create(NULL, &d2), 0);
	assert_int_equal(kvmhost_debug_exit_attach(d2, bus, 0xf5), -EEXIST);
	assert_non_null(strstr(kvmhost_last_error(), "debug-exit"));
	assert_int_equal(kvmhost_debug_exit_attach(d2, bus, 0xfffe + 1), 0); /* width 1 fits at 0xffff */
	kvmhost_debug_exit_destroy(d2);
	assert_int_equal(kvmhost_debug_exit_requested(NULL, NULL), -EINVAL);
	kvmhost_debug_exit_destroy(d);
	kvmhost_debug_exit_destroy(NULL);
}

/* ---- fw_cfg ---- */

static void fw_select(struct kvmhost_bus *bus, uint16_t key)
{
	outw(bus, 0x510, key);
}

static void fw_read(struct kvmhost_bus *bus, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = inb(bus, 0x511);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Find a file by name in the directory, as a firmware does. Returns its key or -1. */
static int fw_find(struct kvmhost_bus *bus, const char *name, uint32_t *size)
{
	uint8_t cnt[4], e[64];
	uint32_t n;

	fw_select(bus, KVMHOST_FW_CFG_FILE_DIR);
	fw_read(bus, cnt, 4);
	n = be32(cnt);
	for (uint32_t i = 0; i < n; i++) {
		fw_read(bus, e, sizeof(e));
		assert_int_equal(e[6] | e[7], 0); /* reserved */
		assert_int_equal(e[8 + 55], 0);	  /* names are NUL-terminated */
		if (strcmp((const char *)e + 8, name) == 0) {
			*size = be32(e);
			return e[4] << 8 | e[5];
		}
	}
	return -1;
}

static void test_fw_cfg(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_fw_cfg_options o = {.size = sizeof(o), .nb_cpus = 4, .ram_size = 512ull << 20};
	struct kvmhost_fw_cfg *fw;
	uint8_t buf[64];
	uint32_t size;
	uint64_t ram;
	uint16_t cpus;
	uint32_t id;
	static const char config[] = "key=value\nanswer=42\n";
	static uint8_t big[70000];
	char name55[56];
	int key;

	assert_int_equal(kvmhost_fw_cfg_create(&o, &fw), 0);
	assert_int_equal(kvmhost_fw_cfg_attach(fw, bus), 0);

	fw_select(bus, KVMHOST_FW_CFG_SIGNATURE);
	fw_read(bus, buf, 6);
	assert_memory_equal(buf, "QEMU\0\0", 6); /* and zeros past the end */
	fw_select(bus, KVMHOST_FW_CFG_ID);
	fw_read(bus, &id, 4);
	assert_int_equal(id, 1); /* traditional interface, no DMA */
	fw_select(bus, KVMHOST_FW_CFG_NB_CPUS);
	fw_read(bus, &cpus, 2);
	assert_int_equal(cpus, 4);
	fw_select(bus, KVMHOST_FW_CFG_RAM_SIZE);
	fw_read(bus, &ram, 8);
	assert_int_equal(ram, 512ull << 20);
	/* Selecting again rewinds; the write-channel bit is ignored. */
	fw_select(bus, 0x4000 | KVMHOST_FW_CFG_SIGNATURE);
	fw_read(bus, buf, 2);
	fw_select(bus, KVMHOST_FW_CFG_SIGNATURE);
	fw_read(bus, buf, 4);
	assert_memory_equal(buf, "QEMU", 4);

	/* An empty directory. */
	fw_select(bus, KVMHOST_FW_CFG_FILE_DIR);
	fw_read(bus, buf, 8);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8);
	assert_int_equal(fw_find(bus, "etc/config", &size), -1);

	/* Files: keys from 0x20 in order; found back by name through the directory. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "etc/config", config, strlen(config)), 0x20);
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "opt/org.example/big", big, sizeof(big)), 0x21);
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "etc/empty", NULL, 0), 0x22);
	memset(name55, 'n', 55);
	name55[55] = 0;
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, name55, "x", 1), 0x23);
	/* Many more, to make the directory grow. */
	for (int i = 0; i < 40; i++) {
		char name[32];

		snprintf(name, sizeof(name), "opt/f%02d", i);
		assert_int_equal(kvmhost_fw_cfg_add_file(fw, name, name, strlen(name)), 0x24 + i);
	}
	fw_select(bus, KVMHOST_FW_CFG_FILE_DIR);
	fw_read(bus, buf, 4);
	assert_int_equal(be32(buf), 44);

	key = fw_find(bus, "etc/config", &size);
	assert_int_equal(key, 0x20);
	assert_int_equal(size, strlen(config));
	fw_select(bus, (uint16_t)key);
	memset(buf, 0xee, sizeof(buf));
	fw_read(bus, buf, size + 3);
	assert_memory_equal(buf, config, size);
	assert_memory_equal(buf + size, "\0\0\0", 3); /* past the end: 0 */

	key = fw_find(bus, "opt/org.example/big", &size);
	assert_int_equal(key, 0x21);
	assert_int_equal(size, sizeof(big));
	fw_select(bus, (uint16_t)key);
	for (size_t i = 0; i < sizeof(big); i++)
		assert_int_equal(inb(bus, 0x511), (uint8_t)(i * 7));
	assert_int_equal(fw_find(bus, "etc/empty", &size), 0x22);
	assert_int_equal(size, 0);
	assert_int_equal(fw_find(bus, name55, &size), 0x23);
	assert_int_equal(fw_find(bus, "opt/f39", &size), 0x24 + 39);
	fw_select(bus, 0x24 + 39);
	fw_read(bus, buf, 7);
	assert_memory_equal(buf, "opt/f39", 7);

	/* Keys nobody has: all zeros. Past the last file, the arch-local space,
	 * unknown fixed keys. */
	static const uint16_t unknown[] = {0x24 + 40, 0x3fff, 0x8000, 0x8020, 0x0002, 0x0018, 0xffff};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		fw_select(bus, unknown[i]);
		memset(buf, 0xee, 8);
		fw_read(bus, buf, 8);
		assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8);
	}

	/* Data-port writes and one-byte selector writes are ignored; the
	 * selector is write-only (reads 0). */
	fw_select(bus, KVMHOST_FW_CFG_SIGNATURE);
	outb(bus, 0x511, 0x00);
	outb(bus, 0x510, 0x05);
	assert_int_equal(inb(bus, 0x510), 0);
	fw_read(bus, buf, 4);
	assert_memory_equal(buf, "QEMU", 4);

	/* Duplicates and bad names are refused, and leave the directory alone. */
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "etc/config", "y", 1), -EEXIST);
	assert_non_null(strstr(kvmhost_last_error(), "etc/config"));
	kvmhost_fw_cfg_destroy(fw);

	/* Defaults: 1 CPU, RAM 0. */
	assert_int_equal(kvmhost_fw_cfg_create(NULL, &fw), 0);
	assert_int_equal(kvmhost_fw_cfg_attach(fw, bus), 0);
	fw_select(bus, KVMHOST_FW_CFG_NB_CPUS);
	fw_read(bus, &cpus, 2);
	assert_int_equal(cpus, 1);
	kvmhost_fw_cfg_destroy(fw);
}

static void test_fw_cfg_bad_arguments(void **state)
{
	struct kvmhost_bus *bus = *state;
	struct kvmhost_fw_cfg *fw = (void *)1, *fw2;
	struct kvmhost_bus_range taken = {.size = sizeof(taken), .base = 0x511, .length = 1, .name = "squatter"};
	char name56[57];
	size_t tiny = 0;
	uint8_t cnt[4];

	assert_int_equal(kvmhost_fw_cfg_create(NULL, NULL), -EINVAL);
	assert_int_equal(kvmhost_fw_cfg_create((void *)&tiny, &fw), -EINVAL);
	assert_null(fw);
	assert_int_equal(kvmhost_fw_cfg_create(NULL, &fw), 0);
	assert_int_equal(kvmhost_fw_cfg_attach(NULL, bus), -EINVAL);
	assert_int_equal(kvmhost_fw_cfg_attach(fw, NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_fw_cfg_attach"));
	assert_int_equal(kvmhost_bus_register(bus, &taken), 0);
	assert_int_equal(kvmhost_fw_cfg_attach(fw, bus), -EEXIST);
	assert_int_equal(kvmhost_bus_unregister(bus, 0x511), 0);
	assert_int_equal(kvmhost_fw_cfg_attach(fw, bus), 0);
	assert_int_equal(kvmhost_fw_cfg_attach(fw, bus), -EBUSY);
	assert_int_equal(kvmhost_fw_cfg_create(NULL, &fw2), 0);
	assert_int_equal(kvmhost_fw_cfg_attach(fw2, bus), -EEXIST);
	kvmhost_fw_cfg_destroy(fw2);

	memset(name56, 'n', 56);
	name56[56] = 0;
	assert_int_equal(kvmhost_fw_cfg_add_file(NULL, "a", "b", 1), -EINVAL);
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, NULL, "b", 1), -EINVAL);
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "", "b", 1), -EINVAL);
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, name56, "b", 1), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "1 to 55 characters"));
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "a", NULL, 1), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_fw_cfg_add_file"));
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "a", "b", (size_t)UINT32_MAX + 1), -EINVAL);
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "a", "b", 1), 0x20);
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "a", "c", 1), -EEXIST);
	fw_select(bus, KVMHOST_FW_CFG_FILE_DIR);
	fw_read(bus, cnt, 4);
	assert_int_equal(be32(cnt), 1);
	kvmhost_fw_cfg_destroy(fw);
	kvmhost_fw_cfg_destroy(NULL);
}

static void test_fw_cfg_max_files(void **state)
{
	struct kvmhost_fw_cfg *fw;
	char name[16];

	(void)state;
	assert_int_equal(kvmhost_fw_cfg_create(NULL, &fw), 0);
	for (int i = 0; i < KVMHOST_FW_CFG_MAX_FILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(kvmhost_fw_cfg_add_file(fw, name, NULL, 0), KVMHOST_FW_CFG_FILE_FIRST + i);
	}
	assert_int_equal(kvmhost_fw_cfg_add_file(fw, "one-more", NULL, 0), -ENOSPC);
	kvmhost_fw_cfg_destroy(fw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_i8042_probe_and_reset, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_i8042_no_callback, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_i8042_bad_arguments, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_rtc_time, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_rtc_uip, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_rtc_set_time, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_rtc_ram, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_rtc_bad_arguments, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_debug_exit, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_debug_exit_bad_arguments, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_fw_cfg, bus_setup, bus_teardown),
	    cmocka_unit_test_setup_teardown(test_fw_cfg_bad_arguments, bus_setup, bus_teardown),
	    cmocka_unit_test(test_fw_cfg_max_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
