/*
 * Unit tests of the legacy devices' machine state (lib/devices/): reset,
 * save/restore as plain data and the registry adapters. Each device is
 * driven into a non-trivial state through its registers on a real bus,
 * saved, restored into a fresh device on another bus, and the two must then
 * read the same (the same accesses on both give the same bytes); every
 * malformed blob (each truncation, a bad magic or version, each field out of
 * its range) is refused and leaves the device untouched. Also the UART's
 * pause, the RTC's clock policies, and every device (virtio ones included)
 * saved and restored together through one registry.
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
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/device_registry.h>

#include "core/internal.h"
#include "unit_assert.h"

#define COM1 KVMHOST_UART_COM1_BASE

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

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

/* A blob's field, little-endian. */
static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One field change that a restore must refuse. */
struct mutation {
	size_t off;
	uint64_t value;
	unsigned bytes;
	const char *needle;
};

typedef int (*save_fn)(void *dev, void *buf, size_t len);
typedef int (*restore_fn)(void *dev, const void *buf, size_t len);

/*
 * @good restores into @victim; every truncation and extension of it, a bad
 * magic and version, and each mutation do not, and @victim's own state is the
 * same afterwards.
 */
static void check_refusals(void *victim, save_fn save, restore_fn restore, const uint8_t *good, size_t len,
			   const struct mutation *m, size_t nm)
{
	uint8_t before[512], after[512], bad[512];

	assert_true(len + 1 <= sizeof(bad));
	assert_int_equal(save(victim, before, sizeof(before)), (int)len);
	for (size_t n = 0; n <= len + 1; n++) {
		if (n == len)
			continue;
		memset(bad, 0, sizeof(bad));
		memcpy(bad, good, KH_MIN(n, len));
		ASSERT_FAILS(restore(victim, bad, n), EINVAL);
	}
	memcpy(bad, good, len);
	bad[0] ^= 0x20;
	ASSERT_FAILS_MENTIONING(restore(victim, bad, len), EINVAL, "magic");
	memcpy(bad, good, len);
	put_le(bad + 4, 2, 4);
	ASSERT_FAILS_MENTIONING(restore(victim, bad, len), EINVAL, "version 2");
	ASSERT_FAILS(restore(victim, NULL, len), EINVAL);
	for (size_t i = 0; i < nm; i++) {
		memcpy(bad, good, len);
		put_le(bad + m[i].off, m[i].value, m[i].bytes);
		reset_error();
		int err = restore(victim, bad, len);
		if (err != -EINVAL)
			print_error("mutation %zu (offset %zu = 0x%llx) gave %d\n", i, m[i].off,
				    (unsigned long long)m[i].value, err);
		assert_int_equal(err, -EINVAL);
		assert_error_mentions(m[i].needle);
	}
	assert_int_equal(save(victim, after, sizeof(after)), (int)len);
	assert_memory_equal(before, after, len);
}

/* ---- UART ---- */

struct fake_line {
	int level, rises, falls;
};

static int fake_set(void *opaque, int level)
{
	struct fake_line *f = opaque;

	if (level)
		f->rises++;
	else
		f->falls++;
	f->level = level;
	return 0;
}

struct uside {
	struct kvmhost_bus *bus;
	struct kvmhost_irq_line *line;
	struct fake_line fake;
	struct kvmhost_uart *uart;
	int rx_space;
};

static void rx_space_cb(void *opaque)
{
	((struct uside *)opaque)->rx_space++;
}

static void uside_init(struct uside *s)
{
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo), .set_level = fake_set, .opaque = &s->fake};
	struct kvmhost_uart_options uo = {.size = sizeof(uo), .out_fd = -1, .rx_space = rx_space_cb};

	memset(s, 0, sizeof(*s));
	lo.opaque = &s->fake;
	assert_int_equal(kvmhost_bus_create("pio", &s->bus), 0);
	assert_int_equal(kvmhost_irq_line_create(&lo, &s->line), 0);
	uo.irq = s->line;
	uo.rx_space_opaque = s;
	uo.name = "com1";
	assert_int_equal(kvmhost_uart_create(&uo, &s->uart), 0);
	assert_int_equal(kvmhost_uart_attach(s->uart, s->bus, COM1), 0);
}

static void uside_fini(struct uside *s)
{
	kvmhost_uart_destroy(s->uart);
	kvmhost_irq_line_destroy(s->line);
	kvmhost_bus_destroy(s->bus);
}

static uint8_t uin(struct uside *s, unsigned reg)
{
	return inb(s->bus, (uint16_t)(COM1 + reg));
}

static void uout(struct uside *s, unsigned reg, uint8_t v)
{
	outb(s->bus, (uint16_t)(COM1 + reg), v);
}

/* Divisor 0x0201, 8E1 with DLAB left on, all interrupts enabled, FIFOs on
 * with trigger 14, DTR|RTS|OUT2, scratch 0x5a, five bytes waiting ("ello!",
 * the 'h' already read): a character timeout pending, the line high. */
static void uart_drive(struct uside *s)
{
	uout(s, LCR, 0x80);
	uout(s, DLL, 0x01);
	uout(s, DLM, 0x02);
	uout(s, LCR, 0x1b);
	uout(s, FCR, 0xc7);
	uout(s, IER, 0x0f);
	uout(s, MCR, 0x0b);
	uout(s, SCR, 0x5a);
	assert_int_equal(kvmhost_uart_receive(s->uart, "hello!", 6), 6);
	assert_int_equal(uin(s, RBR), 'h');
	uout(s, LCR, 0x9b);
	assert_int_equal(s->fake.level, 1);
}

/* The same accesses on both UARTs, recording what each reads. */
static void uart_read_all(struct uside *s, uint8_t *out)
{
	unsigned n = 0;

	out[n++] = uin(s, DLL);
	out[n++] = uin(s, DLM);
	out[n++] = uin(s, LCR);
	out[n++] = uin(s, MCR);
	out[n++] = uin(s, SCR);
	uout(s, LCR, 0x1b);
	out[n++] = uin(s, IER);
	out[n++] = uin(s, IIR);
	out[n++] = uin(s, LSR);
	out[n++] = uin(s, MSR);
	for (int i = 0; i < 5; i++)
		out[n++] = uin(s, RBR);
	out[n++] = uin(s, RBR); /* empty: the last byte again */
	out[n++] = uin(s, LSR);
	out[n++] = uin(s, IIR); /* THRE, now the highest */
	out[n++] = uin(s, IIR); /* acknowledged by the read before */
	out[n++] = (uint8_t)kvmhost_uart_rx_room(s->uart);
	assert_int_equal(n, 19);
}

static void test_uart_round_trip(void **state)
{
	struct uside a, b;
	uint8_t blob[64], blob2[64], ra[19], rb[19];
	int n;

	(void)state;
	uside_init(&a);
	uside_init(&b);
	uart_drive(&a);
	n = kvmhost_uart_state_size(a.uart);
	assert_int_equal(n, 37);
	assert_int_equal(kvmhost_uart_save(a.uart, blob, sizeof(blob)), n);
	ASSERT_OK(kvmhost_uart_restore(b.uart, blob, (size_t)n));
	assert_int_equal(b.fake.level, 1); /* the restored interrupt is raised */
	assert_int_equal(kvmhost_uart_save(b.uart, blob2, sizeof(blob2)), n);
	assert_memory_equal(blob, blob2, (size_t)n);

	uart_read_all(&a, ra);
	uart_read_all(&b, rb);
	assert_memory_equal(ra, rb, sizeof(ra));
	/* And what they read is the state that was driven. */
	assert_int_equal(ra[0], 0x01);
	assert_int_equal(ra[1], 0x02);
	assert_int_equal(ra[2], 0x9b);
	assert_int_equal(ra[3], 0x0b);
	assert_int_equal(ra[4], 0x5a);
	assert_int_equal(ra[5], 0x0f);
	assert_int_equal(ra[6], 0xcc); /* FIFOs on, character timeout */
	assert_int_equal(ra[7], 0x61); /* DR, THRE, TEMT */
	assert_int_equal(ra[8] & 0xf0, 0xb0);
	assert_memory_equal(ra + 9, "ello!!", 6);
	assert_int_equal(ra[16], 0xc2);
	assert_int_equal(ra[17], 0xc1);
	assert_int_equal(ra[18], 16);
	assert_int_equal(a.fake.level, 0);
	assert_int_equal(b.fake.level, 0);
	uside_fini(&a);
	uside_fini(&b);
}

static void test_uart_loopback_overrun(void **state)
{
	struct uside a, b;
	uint8_t blob[64], ra[4], rb[4];
	int n;

	(void)state;
	uside_init(&a);
	uside_init(&b);
	/* FIFOs off, loopback with every output on: the second byte overruns
	 * the holding register, and MSR follows MCR with deltas latched. */
	uout(&a, MCR, 0x1f);
	uout(&a, IER, 0x05);
	uout(&a, THR, 'a');
	uout(&a, THR, 'b');
	n = kvmhost_uart_save(a.uart, blob, sizeof(blob));
	assert_int_equal(n, 37);
	ASSERT_OK(kvmhost_uart_restore(b.uart, blob, (size_t)n));
	assert_int_equal(b.fake.level, a.fake.level);
	assert_int_equal(kvmhost_uart_rx_room(b.uart), 0); /* loopback: the host cannot send */
	for (int side = 0; side < 2; side++) {
		struct uside *s = side ? &b : &a;
		uint8_t *r = side ? rb : ra;

		r[0] = uin(s, IIR);
		r[1] = uin(s, LSR);
		r[2] = uin(s, MSR);
		r[3] = uin(s, RBR);
	}
	assert_memory_equal(ra, rb, sizeof(ra));
	assert_int_equal(ra[0], 0x06);	      /* line status first */
	assert_int_equal(ra[1] & 0x03, 0x03); /* OE and DR */
	assert_int_equal(ra[2] & 0xf0, 0xf0);
	assert_int_equal(ra[3], 'b');
	uside_fini(&a);
	uside_fini(&b);
}

static int uart_save(void *dev, void *buf, size_t len)
{
	return kvmhost_uart_save(dev, buf, len);
}

static int uart_restore(void *dev, const void *buf, size_t len)
{
	return kvmhost_uart_restore(dev, buf, len);
}

static void test_uart_refuses_bad_state(void **state)
{
	struct uside a, b;
	uint8_t blob[64];
	/* Offsets: 8 rx_count, 9-24 FIFO, 25 rbr, 26 ier, 27 fcr, 28 lcr, 29 mcr,
	 * 30 lsr_errors, 31 msr, 32 scr, 33 dll, 34 dlm, 35 thr_ipending, 36 reserved. */
	static const struct mutation m[] = {
	    {8, 17, 1, "FIFO of 16"}, {9 + 5, 'x', 1, "past the FIFO"}, {26, 0x1f, 1, "IER"}, {27, 0x02, 1, "FCR"},
	    {27, 0x31, 1, "FCR"},     {27, 0x00, 1, "FIFO of 1"},	{29, 0x20, 1, "MCR"}, {30, 0x21, 1, "LSR"},
	    {31, 0x00, 1, "MSR"},     {31, 0xf0, 1, "do not follow"},	{35, 2, 1, "THRE"},   {36, 1, 1, "reserved"},
	};

	(void)state;
	uside_init(&a);
	uside_init(&b);
	uart_drive(&a);
	uout(&b, SCR, 0x77); /* a state of b's own, which must survive */
	assert_int_equal(kvmhost_uart_save(a.uart, blob, sizeof(blob)), 37);
	check_refusals(b.uart, uart_save, uart_restore, blob, 37, m, sizeof(m) / sizeof(m[0]));
	assert_int_equal(uin(&b, SCR), 0x77);
	assert_int_equal(b.fake.rises, 0);

	ASSERT_FAILS(kvmhost_uart_save(a.uart, blob, 36), ENOSPC);
	ASSERT_FAILS(kvmhost_uart_save(NULL, blob, sizeof(blob)), EINVAL);
	ASSERT_FAILS(kvmhost_uart_save(a.uart, NULL, sizeof(blob)), EINVAL);
	ASSERT_FAILS(kvmhost_uart_restore(NULL, blob, 37), EINVAL);
	ASSERT_FAILS(kvmhost_uart_state_size(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_uart_reset(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_uart_pause(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_uart_resume(NULL), EINVAL);
	uside_fini(&a);
	uside_fini(&b);
}

static void test_uart_reset_and_pause(void **state)
{
	struct uside a;

	(void)state;
	uside_init(&a);
	uart_drive(&a);
	ASSERT_OK(kvmhost_uart_reset(a.uart));
	assert_int_equal(a.fake.level, 0);
	assert_int_equal(a.rx_space, 1); /* the FIFO it emptied */
	assert_int_equal(uin(&a, LCR), 0);
	assert_int_equal(uin(&a, IER), 0);
	assert_int_equal(uin(&a, SCR), 0);
	assert_int_equal(uin(&a, MCR), 0);
	assert_int_equal(uin(&a, IIR), 0x01);
	assert_int_equal(uin(&a, LSR), 0x60);
	uout(&a, LCR, 0x80);
	assert_int_equal(uin(&a, DLL), 0x0c);
	uout(&a, LCR, 0x03);
	assert_int_equal(kvmhost_uart_rx_room(a.uart), 1); /* FIFOs off again */

	/* Paused: no input, and the line keeps still... */
	uout(&a, FCR, 0x01);
	uout(&a, IER, 0x01);
	ASSERT_OK(kvmhost_uart_pause(a.uart));
	ASSERT_OK(kvmhost_uart_pause(a.uart)); /* twice is once */
	assert_int_equal(kvmhost_uart_rx_room(a.uart), 0);
	assert_int_equal(kvmhost_uart_receive(a.uart, "x", 1), 0);
	uout(&a, IER, 0x03); /* THRI: would raise the line at once */
	assert_int_equal(a.fake.level, 0);
	/* ...even for a restore. */
	{
		struct uside b;
		uint8_t blob[64];

		uside_init(&b);
		uart_drive(&b);
		assert_int_equal(kvmhost_uart_save(b.uart, blob, sizeof(blob)), 37);
		uside_fini(&b);
		ASSERT_OK(kvmhost_uart_restore(a.uart, blob, 37));
		assert_int_equal(a.fake.level, 0);
	}
	/* Resume: the line follows the registers, and the host may send. */
	a.rx_space = 0;
	ASSERT_OK(kvmhost_uart_resume(a.uart));
	assert_int_equal(a.fake.level, 1);
	assert_int_equal(a.rx_space, 1);
	assert_int_equal(kvmhost_uart_rx_room(a.uart), 11);
	assert_int_equal(kvmhost_uart_receive(a.uart, "x", 1), 1);
	uside_fini(&a);
}

/* ---- i8042 ---- */

static void kbd_cmd(struct kvmhost_bus *bus, uint8_t cmd)
{
	outb(bus, KVMHOST_I8042_CMD_PORT, cmd);
}

static uint8_t kbd_query(struct kvmhost_bus *bus, uint8_t cmd)
{
	kbd_cmd(bus, cmd);
	assert_true(inb(bus, KVMHOST_I8042_CMD_PORT) & 0x01);
	return inb(bus, KVMHOST_I8042_DATA_PORT);
}

struct kside {
	struct kvmhost_bus *bus;
	struct kvmhost_i8042 *k;
};

static void kside_init(struct kside *s)
{
	assert_int_equal(kvmhost_bus_create("pio", &s->bus), 0);
	assert_int_equal(kvmhost_i8042_create(NULL, &s->k), 0);
	assert_int_equal(kvmhost_i8042_attach(s->k, s->bus), 0);
}

static void kside_fini(struct kside *s)
{
	kvmhost_i8042_destroy(s->k);
	kvmhost_bus_destroy(s->bus);
}

/* Command byte 0x61, aux data 0x5a waiting, an output-port write pending. */
static void kbd_drive(struct kside *s)
{
	kbd_cmd(s->bus, 0x60);
	outb(s->bus, KVMHOST_I8042_DATA_PORT, 0x61);
	kbd_cmd(s->bus, 0xd3);
	outb(s->bus, KVMHOST_I8042_DATA_PORT, 0x5a);
	kbd_cmd(s->bus, 0xd1);
}

static void test_i8042_round_trip(void **state)
{
	struct kside a, b;
	uint8_t blob[32], ra[5], rb[5];
	int n;

	(void)state;
	kside_init(&a);
	kside_init(&b);
	kbd_drive(&a);
	n = kvmhost_i8042_state_size(a.k);
	assert_int_equal(n, 16);
	assert_int_equal(kvmhost_i8042_save(a.k, blob, sizeof(blob)), n);
	ASSERT_OK(kvmhost_i8042_restore(b.k, blob, (size_t)n));
	for (int side = 0; side < 2; side++) {
		struct kside *s = side ? &b : &a;
		uint8_t *r = side ? rb : ra;

		r[0] = inb(s->bus, KVMHOST_I8042_CMD_PORT);
		r[1] = inb(s->bus, KVMHOST_I8042_DATA_PORT);
		outb(s->bus, KVMHOST_I8042_DATA_PORT, 0x03); /* the pending 0xd1's byte: reset line high */
		r[2] = kbd_query(s->bus, 0xd0);
		r[3] = kbd_query(s->bus, 0x20);
		r[4] = (uint8_t)kvmhost_i8042_reset_count(s->k);
	}
	assert_memory_equal(ra, rb, sizeof(ra));
	assert_int_equal(ra[0], 0x39); /* OBF, aux, command last, unlocked */
	assert_int_equal(ra[1], 0x5a);
	assert_int_equal(ra[2], 0x03);
	assert_int_equal(ra[3], 0x61);
	assert_int_equal(ra[4], 0);
	kside_fini(&a);
	kside_fini(&b);
}

static int kbd_save(void *dev, void *buf, size_t len)
{
	return kvmhost_i8042_save(dev, buf, len);
}

static int kbd_restore(void *dev, const void *buf, size_t len)
{
	return kvmhost_i8042_restore(dev, buf, len);
}

static void test_i8042_refuses_bad_state_and_resets(void **state)
{
	struct kside a, b;
	uint8_t blob[32];
	/* Offsets: 8 status, 9 command byte, 10 output port, 11 data, 12 pending, 13-15 reserved. */
	static const struct mutation m[] = {
	    {8, 0x12, 1, "status"}, {8, 0x05, 1, "status"},	 {8, 0x30, 1, "status"}, {8, 0x90, 1, "status"},
	    {10, 0x02, 1, "reset"}, {12, 0x20, 1, "takes none"}, {13, 1, 1, "reserved"}, {15, 0x80, 1, "reserved"},
	};

	(void)state;
	kside_init(&a);
	kside_init(&b);
	kbd_drive(&a);
	assert_int_equal(kvmhost_i8042_save(a.k, blob, sizeof(blob)), 16);
	check_refusals(b.k, kbd_save, kbd_restore, blob, 16, m, sizeof(m) / sizeof(m[0]));
	ASSERT_FAILS(kvmhost_i8042_save(a.k, blob, 15), ENOSPC);
	ASSERT_FAILS(kvmhost_i8042_save(NULL, blob, 16), EINVAL);
	ASSERT_FAILS(kvmhost_i8042_restore(NULL, blob, 16), EINVAL);
	ASSERT_FAILS(kvmhost_i8042_state_size(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_i8042_reset(NULL), EINVAL);

	/* Reset: the power-on state, the reset count kept. */
	outb(a.bus, KVMHOST_I8042_DATA_PORT, 0x00); /* the pending 0xd1 with bit 0 clear: a pulse */
	assert_int_equal(kvmhost_i8042_reset_count(a.k), 1);
	ASSERT_OK(kvmhost_i8042_reset(a.k));
	assert_int_equal(inb(a.bus, KVMHOST_I8042_CMD_PORT), 0x1c);
	assert_int_equal(kbd_query(a.bus, 0x20), 0x45);
	assert_int_equal(kvmhost_i8042_reset_count(a.k), 1);
	kside_fini(&a);
	kside_fini(&b);
}

/* ---- CMOS RTC ---- */

struct rside {
	struct kvmhost_bus *bus;
	struct kvmhost_cmos_rtc *rtc;
};

static void rside_init(struct rside *s, uint32_t flags)
{
	struct kvmhost_cmos_rtc_options o = {.size = sizeof(o), .flags = flags};

	assert_int_equal(kvmhost_bus_create("pio", &s->bus), 0);
	assert_int_equal(kvmhost_cmos_rtc_create(&o, &s->rtc), 0);
	assert_int_equal(kvmhost_cmos_rtc_attach(s->rtc, s->bus), 0);
}

static void rside_fini(struct rside *s)
{
	kvmhost_cmos_rtc_destroy(s->rtc);
	kvmhost_bus_destroy(s->bus);
}

static void cmos_write(struct rside *s, uint8_t idx, uint8_t v)
{
	outb(s->bus, 0x70, idx);
	outb(s->bus, 0x71, v);
}

static int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

/* The clock in seconds since the epoch (BCD, 24 h), read until stable. */
static time_t rtc_time(struct kvmhost_cmos_rtc *rtc)
{
	struct tm tm = {0};
	int sec;

	do {
		sec = kvmhost_cmos_rtc_get_byte(rtc, 0x00);
		tm.tm_sec = bcd((uint8_t)sec);
		tm.tm_min = bcd((uint8_t)kvmhost_cmos_rtc_get_byte(rtc, 0x02));
		tm.tm_hour = bcd((uint8_t)kvmhost_cmos_rtc_get_byte(rtc, 0x04));
		tm.tm_mday = bcd((uint8_t)kvmhost_cmos_rtc_get_byte(rtc, 0x07));
		tm.tm_mon = bcd((uint8_t)kvmhost_cmos_rtc_get_byte(rtc, 0x08)) - 1;
		tm.tm_year = bcd((uint8_t)kvmhost_cmos_rtc_get_byte(rtc, 0x32)) * 100 +
			     bcd((uint8_t)kvmhost_cmos_rtc_get_byte(rtc, 0x09)) - 1900;
	} while (kvmhost_cmos_rtc_get_byte(rtc, 0x00) != sec);
	return timegm(&tm);
}

/* Set 2001-02-03 04:05:06 through the registers, as a guest does. */
static void rtc_set_2001(struct rside *s)
{
	cmos_write(s, 0x0b, 0x82);
	cmos_write(s, 0x00, 0x06);
	cmos_write(s, 0x02, 0x05);
	cmos_write(s, 0x04, 0x04);
	cmos_write(s, 0x07, 0x03);
	cmos_write(s, 0x08, 0x02);
	cmos_write(s, 0x09, 0x01);
	cmos_write(s, 0x32, 0x20);
	cmos_write(s, 0x0b, 0x02);
}

static const time_t T2001 = 981173106; /* 2001-02-03 04:05:06 UTC */

static void test_rtc_round_trip_frozen(void **state)
{
	struct rside a, b;
	uint8_t blob[256];
	int n;

	(void)state;
	rside_init(&a, 0);
	rside_init(&b, 0);
	/* RAM through both paths, register A, the index, and the clock held
	 * (B.SET) at 2024-02-28 12:34:56 as the guest wrote it. */
	ASSERT_OK(kvmhost_cmos_rtc_set_byte(a.rtc, 0x40, 0xaa));
	ASSERT_OK(kvmhost_cmos_rtc_set_memory_size(a.rtc, 512ull << 20, 1ull << 30));
	cmos_write(&a, 0x0a, 0x27);
	cmos_write(&a, 0x0b, 0x82);
	cmos_write(&a, 0x00, 0x56);
	cmos_write(&a, 0x02, 0x34);
	cmos_write(&a, 0x04, 0x12);
	cmos_write(&a, 0x07, 0x28);
	cmos_write(&a, 0x08, 0x02);
	cmos_write(&a, 0x09, 0x24);
	cmos_write(&a, 0x32, 0x20);
	cmos_write(&a, 0x41, 0xbb); /* leaves the index at 0x41 */
	n = kvmhost_cmos_rtc_state_size(a.rtc);
	assert_int_equal(n, 180);
	assert_int_equal(kvmhost_cmos_rtc_save(a.rtc, blob, sizeof(blob)), n);
	ASSERT_OK(kvmhost_cmos_rtc_restore(b.rtc, blob, (size_t)n));
	for (unsigned i = 0; i < KVMHOST_CMOS_RTC_SIZE; i++)
		assert_int_equal(kvmhost_cmos_rtc_get_byte(b.rtc, (uint8_t)i),
				 kvmhost_cmos_rtc_get_byte(a.rtc, (uint8_t)i));
	assert_int_equal(kvmhost_cmos_rtc_get_byte(b.rtc, 0x00), 0x56);
	assert_int_equal(kvmhost_cmos_rtc_get_byte(b.rtc, 0x06), 0x04); /* a Wednesday */
	assert_int_equal(kvmhost_cmos_rtc_get_byte(b.rtc, 0x0a), 0x27);
	assert_int_equal(kvmhost_cmos_rtc_get_byte(b.rtc, 0x5c), 0x40); /* 1 GiB above 4 GiB */
	assert_int_equal(inb(b.bus, 0x71), 0xbb);			/* the index came along */
	/* Released, both clocks run on from the same time. */
	cmos_write(&a, 0x0b, 0x02);
	cmos_write(&b, 0x0b, 0x02);
	time_t ta = rtc_time(a.rtc), tb = rtc_time(b.rtc);
	assert_true(ta - tb <= 1 && tb - ta <= 1);
	assert_true(ta >= 1709123696 && ta <= 1709123696 + 5); /* 2024-02-28 12:34:56 */
	rside_fini(&a);
	rside_fini(&b);
}

static void test_rtc_clock_policies(void **state)
{
	struct rside a, b, c;
	uint8_t blob[256];
	time_t t;

	(void)state;
	rside_init(&a, 0);
	rside_init(&b, 0);
	rside_init(&c, KVMHOST_CMOS_RTC_RESTORE_PAUSED);
	rtc_set_2001(&a);
	assert_int_equal(kvmhost_cmos_rtc_save(a.rtc, blob, sizeof(blob)), 180);
	/* As if the snapshot had been taken an hour ago (s64 host_s at 148). */
	int64_t host_s;
	memcpy(&host_s, blob + 148, 8);
	assert_true(host_s >= time(NULL) - 5 && host_s <= time(NULL));
	put_le(blob + 148, (uint64_t)(host_s - 3600), 8);

	/* Default: the offset from host time is kept, the hour saved counts. */
	ASSERT_OK(kvmhost_cmos_rtc_restore(b.rtc, blob, 180));
	t = rtc_time(b.rtc);
	assert_true(t >= T2001 && t <= T2001 + 5);
	/* RESTORE_PAUSED: the clock goes on from what it read when saved. */
	ASSERT_OK(kvmhost_cmos_rtc_restore(c.rtc, blob, 180));
	t = rtc_time(c.rtc);
	assert_true(t >= T2001 - 3600 && t <= T2001 - 3600 + 5);
	rside_fini(&a);
	rside_fini(&b);
	rside_fini(&c);
}

static int rtc_save(void *dev, void *buf, size_t len)
{
	return kvmhost_cmos_rtc_save(dev, buf, len);
}

static int rtc_restore(void *dev, const void *buf, size_t len)
{
	return kvmhost_cmos_rtc_restore(dev, buf, len);
}

static void test_rtc_refuses_bad_state_and_resets(void **state)
{
	struct rside a, b;
	uint8_t blob[256];
	time_t t;
	/* Offsets: 8 index, 9-11 reserved, 12 + i ram[i], 140 offset_s, 148 host_s,
	 * 156 + 4 * k frozen sec, min, hour, mday, mon, year. */
	static const struct mutation m[] = {
	    {8, 0x80, 1, "index"},
	    {10, 1, 1, "reserved"},
	    {12 + 0x00, 1, 1, "clock byte 0x00"},
	    {12 + 0x09, 1, 1, "clock byte 0x09"},
	    {12 + 0x0c, 0x80, 1, "clock byte 0x0c"},
	    {12 + 0x0d, 0x80, 1, "clock byte 0x0d"},
	    {12 + 0x32, 0x20, 1, "clock byte 0x32"},
	    {12 + 0x0a, 0xa6, 1, "UIP"},
	    {140, 1ull << 41, 8, "offset"},
	    {140, (uint64_t) - (1ll << 41), 8, "offset"},
	    {148, (uint64_t)-1ll, 8, "save time"},
	    {156, 256, 4, "field 0"},
	    {156 + 8, (uint32_t)-1, 4, "field 2"},
	    {156 + 20, 40001, 4, "field 5"},
	};

	(void)state;
	rside_init(&a, 0);
	rside_init(&b, 0);
	rtc_set_2001(&a);
	ASSERT_OK(kvmhost_cmos_rtc_set_byte(a.rtc, 0x70, 0x11));
	ASSERT_OK(kvmhost_cmos_rtc_set_byte(b.rtc, 0x70, 0x22));
	assert_int_equal(kvmhost_cmos_rtc_save(a.rtc, blob, sizeof(blob)), 180);
	check_refusals(b.rtc, rtc_save, rtc_restore, blob, 180, m, sizeof(m) / sizeof(m[0]));
	assert_int_equal(kvmhost_cmos_rtc_get_byte(b.rtc, 0x70), 0x22);
	t = rtc_time(b.rtc);
	assert_true(t >= time(NULL) - 2 && t <= time(NULL) + 2); /* b's clock untouched */
	/* The extremes a guest can set are accepted. */
	put_le(blob + 156 + 20, 25755, 4);
	put_le(blob + 156, 255, 4);
	ASSERT_OK(kvmhost_cmos_rtc_restore(b.rtc, blob, 180));
	ASSERT_FAILS(kvmhost_cmos_rtc_save(a.rtc, blob, 179), ENOSPC);
	ASSERT_FAILS(kvmhost_cmos_rtc_save(NULL, blob, 180), EINVAL);
	ASSERT_FAILS(kvmhost_cmos_rtc_restore(NULL, blob, 180), EINVAL);
	ASSERT_FAILS(kvmhost_cmos_rtc_state_size(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_cmos_rtc_reset(NULL), EINVAL);

	/* Reset: B's interrupt enables go; the time, the mode and RAM stay. */
	cmos_write(&a, 0x0b, 0x7e); /* PIE AIE UIE SQWE, binary, 24 h */
	ASSERT_OK(kvmhost_cmos_rtc_reset(a.rtc));
	assert_int_equal(kvmhost_cmos_rtc_get_byte(a.rtc, 0x0b), 0x06);
	assert_int_equal(kvmhost_cmos_rtc_get_byte(a.rtc, 0x70), 0x11);
	cmos_write(&a, 0x0b, 0x02);
	t = rtc_time(a.rtc);
	assert_true(t >= T2001 && t <= T2001 + 5);
	rside_fini(&a);
	rside_fini(&b);
}

/* ---- fw_cfg ---- */

struct fside {
	struct kvmhost_bus *bus;
	struct kvmhost_fw_cfg *f;
};

static uint8_t file_data[100];

static void fside_init(struct fside *s, size_t file_len)
{
	struct kvmhost_fw_cfg_options o = {.size = sizeof(o), .nb_cpus = 2, .ram_size = 1ull << 30};

	for (size_t i = 0; i < sizeof(file_data); i++)
		file_data[i] = (uint8_t)(i * 3 + 1);
	assert_int_equal(kvmhost_bus_create("pio", &s->bus), 0);
	assert_int_equal(kvmhost_fw_cfg_create(&o, &s->f), 0);
	assert_int_equal(kvmhost_fw_cfg_attach(s->f, s->bus), 0);
	assert_int_equal(kvmhost_fw_cfg_add_file(s->f, "opt/test", file_data, file_len), KVMHOST_FW_CFG_FILE_FIRST);
}

static void fside_fini(struct fside *s)
{
	kvmhost_fw_cfg_destroy(s->f);
	kvmhost_bus_destroy(s->bus);
}

static void fw_read(struct fside *s, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = inb(s->bus, KVMHOST_FW_CFG_PORT + 1);
}

static void test_fw_cfg_round_trip(void **state)
{
	struct fside a, b, c;
	uint8_t blob[32], ra[10], rb[10];
	int n;

	(void)state;
	fside_init(&a, 100);
	fside_init(&b, 100);
	fside_init(&c, 99); /* configured differently */
	/* Halfway through the file. */
	outw(a.bus, KVMHOST_FW_CFG_PORT, KVMHOST_FW_CFG_FILE_FIRST);
	fw_read(&a, ra, 10);
	n = kvmhost_fw_cfg_state_size(a.f);
	assert_int_equal(n, 20);
	assert_int_equal(kvmhost_fw_cfg_save(a.f, blob, sizeof(blob)), n);
	ASSERT_OK(kvmhost_fw_cfg_restore(b.f, blob, (size_t)n));
	fw_read(&a, ra, 10);
	fw_read(&b, rb, 10);
	assert_memory_equal(ra, rb, 10);
	assert_memory_equal(ra, file_data + 10, 10);
	/* Another configuration: the selected item differs, refused untouched. */
	ASSERT_FAILS_MENTIONING(kvmhost_fw_cfg_restore(c.f, blob, (size_t)n), EINVAL, "99 bytes here but 100");
	assert_int_equal(inb(c.bus, KVMHOST_FW_CFG_PORT + 1), 'Q');

	/* Read past the end: the offset saved is the item's end. */
	outw(a.bus, KVMHOST_FW_CFG_PORT, KVMHOST_FW_CFG_SIGNATURE);
	fw_read(&a, ra, 7);
	assert_memory_equal(ra, "QEMU\0\0\0", 7);
	assert_int_equal(kvmhost_fw_cfg_save(a.f, blob, sizeof(blob)), n);
	assert_int_equal(blob[12], 4);
	assert_int_equal(blob[16], 4);
	ASSERT_OK(kvmhost_fw_cfg_restore(c.f, blob, (size_t)n));
	assert_int_equal(inb(c.bus, KVMHOST_FW_CFG_PORT + 1), 0);
	/* An unknown key is a state too (it reads zeros). */
	outw(a.bus, KVMHOST_FW_CFG_PORT, 0x1234);
	assert_int_equal(kvmhost_fw_cfg_save(a.f, blob, sizeof(blob)), n);
	ASSERT_OK(kvmhost_fw_cfg_restore(b.f, blob, (size_t)n));
	assert_int_equal(inb(b.bus, KVMHOST_FW_CFG_PORT + 1), 0);
	fside_fini(&a);
	fside_fini(&b);
	fside_fini(&c);
}

static int fw_save(void *dev, void *buf, size_t len)
{
	return kvmhost_fw_cfg_save(dev, buf, len);
}

static int fw_restore(void *dev, const void *buf, size_t len)
{
	return kvmhost_fw_cfg_restore(dev, buf, len);
}

static void test_fw_cfg_refuses_bad_state_and_resets(void **state)
{
	struct fside a, b;
	uint8_t blob[32], got[4];
	/* Offsets: 8 selector, 10 reserved, 12 offset, 16 item_len. */
	static const struct mutation m[] = {
	    {10, 1, 2, "reserved"},
	    {12, 101, 4, "past its item"},
	    {16, 99, 4, "100 bytes here but 99"},
	    {8, KVMHOST_FW_CFG_NB_CPUS, 2, "2 bytes here"},
	};

	(void)state;
	fside_init(&a, 100);
	fside_init(&b, 100);
	outw(a.bus, KVMHOST_FW_CFG_PORT, KVMHOST_FW_CFG_FILE_FIRST);
	fw_read(&a, got, 3);
	outw(b.bus, KVMHOST_FW_CFG_PORT, KVMHOST_FW_CFG_RAM_SIZE);
	assert_int_equal(kvmhost_fw_cfg_save(a.f, blob, sizeof(blob)), 20);
	check_refusals(b.f, fw_save, fw_restore, blob, 20, m, sizeof(m) / sizeof(m[0]));
	fw_read(&b, got, 4);
	assert_memory_equal(got, "\0\0\0\x40", 4); /* still at RAM_SIZE's start: 1 GiB */
	ASSERT_FAILS(kvmhost_fw_cfg_save(a.f, blob, 19), ENOSPC);
	ASSERT_FAILS(kvmhost_fw_cfg_save(NULL, blob, 20), EINVAL);
	ASSERT_FAILS(kvmhost_fw_cfg_restore(NULL, blob, 20), EINVAL);
	ASSERT_FAILS(kvmhost_fw_cfg_state_size(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_fw_cfg_reset(NULL), EINVAL);

	ASSERT_OK(kvmhost_fw_cfg_reset(a.f));
	fw_read(&a, got, 4);
	assert_memory_equal(got, "QEMU", 4);
	fside_fini(&a);
	fside_fini(&b);
}

/* ---- debug-exit ---- */

static void test_debug_exit_stateless(void **state)
{
	struct kvmhost_bus *bus;
	struct kvmhost_debug_exit *d;
	uint8_t buf[4] = {0};
	uint64_t status = 0;

	(void)state;
	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	assert_int_equal(kvmhost_debug_exit_create(NULL, &d), 0);
	assert_int_equal(kvmhost_debug_exit_attach(d, bus, KVMHOST_DEBUG_EXIT_DEFAULT_PORT), 0);
	outb(bus, KVMHOST_DEBUG_EXIT_DEFAULT_PORT, 0x10);
	assert_int_equal(kvmhost_debug_exit_requested(d, &status), 1);
	assert_int_equal(status, 0x21);
	assert_int_equal(kvmhost_debug_exit_state_size(d), 0);
	assert_int_equal(kvmhost_debug_exit_save(d, NULL, 0), 0);
	assert_int_equal(kvmhost_debug_exit_save(d, buf, sizeof(buf)), 0);
	ASSERT_OK(kvmhost_debug_exit_restore(d, NULL, 0));
	ASSERT_FAILS_MENTIONING(kvmhost_debug_exit_restore(d, buf, 1), EINVAL, "stateless");
	assert_int_equal(kvmhost_debug_exit_requested(d, NULL), 1); /* a restore keeps the request */
	ASSERT_OK(kvmhost_debug_exit_reset(d));
	assert_int_equal(kvmhost_debug_exit_requested(d, NULL), 0);
	ASSERT_FAILS(kvmhost_debug_exit_reset(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_debug_exit_state_size(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_debug_exit_save(NULL, buf, 0), EINVAL);
	ASSERT_FAILS(kvmhost_debug_exit_restore(NULL, buf, 0), EINVAL);
	kvmhost_debug_exit_destroy(d);
	kvmhost_bus_destroy(bus);
}

/* ---- every device in one registry ---- */

struct machine {
	struct kvmhost_device_registry *reg;
	struct uside u;
	struct kside k;
	struct rside r;
	struct fside f;
	struct kvmhost_debug_exit *d;
	struct kvmhost_memory *mem;
	struct kvmhost_virtio_rng *rng;
	struct kvmhost_virtio_blk *blk;
};

static void machine_init(struct machine *m, const char *image)
{
	struct kvmhost_virtio_blk_options bo = {.size = sizeof(bo), .path = image};

	assert_int_equal(kvmhost_device_registry_create(&m->reg), 0);
	uside_init(&m->u);
	kside_init(&m->k);
	rside_init(&m->r, 0);
	fside_init(&m->f, 100);
	assert_int_equal(kvmhost_debug_exit_create(NULL, &m->d), 0);
	assert_int_equal(kvmhost_memory_create(&m->mem), 0);
	assert_int_equal(kvmhost_virtio_rng_create(m->mem, NULL, &m->rng), 0);
	assert_int_equal(kvmhost_virtio_blk_create(m->mem, &bo, &m->blk), 0);
	ASSERT_OK(kvmhost_uart_register(m->u.uart, m->reg, "com1"));
	ASSERT_OK(kvmhost_i8042_register(m->k.k, m->reg, "i8042"));
	ASSERT_OK(kvmhost_cmos_rtc_register(m->r.rtc, m->reg, "rtc"));
	ASSERT_OK(kvmhost_fw_cfg_register(m->f.f, m->reg, "fw_cfg"));
	ASSERT_OK(kvmhost_debug_exit_register(m->d, m->reg, "debug-exit"));
	ASSERT_OK(kvmhost_virtio_device_register(kvmhost_virtio_rng_device(m->rng), m->reg, "virtio-rng"));
	ASSERT_OK(kvmhost_virtio_blk_register(m->blk, m->reg, "virtio-blk"));
}

static void machine_fini(struct machine *m)
{
	kvmhost_device_registry_destroy(m->reg);
	kvmhost_virtio_blk_destroy(m->blk);
	kvmhost_virtio_rng_destroy(m->rng);
	kvmhost_memory_destroy(m->mem);
	kvmhost_debug_exit_destroy(m->d);
	fside_fini(&m->f);
	rside_fini(&m->r);
	kside_fini(&m->k);
	uside_fini(&m->u);
}

static void test_registry_of_every_device(void **state)
{
	char image[] = "/tmp/kvmhost-device-state-XXXXXX";
	struct machine a, b;
	size_t size, used;
	uint8_t *buf, ra[19], rb[19];
	char id[KVMHOST_DEVICE_ID_MAX + 1];
	uint32_t version;
	int fd;

	(void)state;
	fd = mkstemp(image);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	machine_init(&a, image);
	machine_init(&b, image);
	assert_int_equal(kvmhost_device_registry_count(a.reg), 7);
	ASSERT_OK(kvmhost_device_registry_get(a.reg, 5, id, sizeof(id), &version));
	assert_string_equal(id, "virtio-rng");
	assert_int_equal(version, KVMHOST_VIRTIO_DEVICE_STATE_VERSION);

	/* Pause reaches the UART (and drains the disk); resume undoes it. */
	ASSERT_OK(kvmhost_device_registry_pause(a.reg));
	assert_int_equal(kvmhost_uart_rx_room(a.u.uart), 0);
	ASSERT_OK(kvmhost_device_registry_resume(a.reg));
	assert_int_equal(kvmhost_uart_rx_room(a.u.uart), 1);

	uart_drive(&a.u);
	kbd_drive(&a.k);
	rtc_set_2001(&a.r);
	outw(a.f.bus, KVMHOST_FW_CFG_PORT, KVMHOST_FW_CFG_FILE_FIRST);
	fw_read(&a.f, ra, 10);
	ASSERT_OK(kvmhost_device_registry_pause(a.reg));
	ASSERT_OK(kvmhost_device_registry_save_size(a.reg, &size));
	buf = malloc(size);
	assert_non_null(buf);
	ASSERT_OK(kvmhost_device_registry_save(a.reg, buf, size, &used));
	assert_int_equal(used, size);
	ASSERT_OK(kvmhost_device_registry_resume(a.reg));
	assert_int_equal(kvmhost_device_registry_inspect(buf, used, NULL, NULL), 7);

	ASSERT_OK(kvmhost_device_registry_restore(b.reg, buf, used));
	uart_read_all(&a.u, ra);
	uart_read_all(&b.u, rb);
	assert_memory_equal(ra, rb, sizeof(ra));
	assert_int_equal(inb(b.k.bus, KVMHOST_I8042_DATA_PORT), 0x5a);
	time_t t = rtc_time(b.r.rtc);
	assert_true(t >= T2001 && t <= T2001 + 5);
	fw_read(&b.f, rb, 10);
	assert_memory_equal(rb, file_data + 10, 10);

	/* A machine without the disk refuses the container, untouched. */
	ASSERT_OK(kvmhost_device_registry_remove(b.reg, "virtio-blk"));
	ASSERT_OK(kvmhost_device_registry_reset(b.reg));
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_restore(b.reg, buf, used), ENOENT, "virtio-blk");
	assert_int_equal(uin(&b.u, SCR), 0); /* still reset */

	/* Reset of everything. */
	ASSERT_OK(kvmhost_device_registry_reset(a.reg));
	assert_int_equal(uin(&a.u, SCR), 0);
	assert_int_equal(kbd_query(a.k.bus, 0x20), 0x45);

	/* The adapters refuse NULL devices. */
	ASSERT_FAILS(kvmhost_uart_register(NULL, a.reg, "x"), EINVAL);
	ASSERT_FAILS(kvmhost_i8042_register(NULL, a.reg, "x"), EINVAL);
	ASSERT_FAILS(kvmhost_cmos_rtc_register(NULL, a.reg, "x"), EINVAL);
	ASSERT_FAILS(kvmhost_fw_cfg_register(NULL, a.reg, "x"), EINVAL);
	ASSERT_FAILS(kvmhost_debug_exit_register(NULL, a.reg, "x"), EINVAL);
	ASSERT_FAILS(kvmhost_virtio_device_register(NULL, a.reg, "x"), EINVAL);
	ASSERT_FAILS(kvmhost_virtio_blk_register(NULL, a.reg, "x"), EINVAL);
	ASSERT_FAILS(kvmhost_uart_register(a.u.uart, NULL, "x"), EINVAL);
	ASSERT_FAILS_MENTIONING(kvmhost_uart_register(a.u.uart, a.reg, "com1"), EEXIST, "com1");
	free(buf);
	machine_fini(&a);
	machine_fini(&b);
	unlink(image);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uart_round_trip),
	    cmocka_unit_test(test_uart_loopback_overrun),
	    cmocka_unit_test(test_uart_refuses_bad_state),
	    cmocka_unit_test(test_uart_reset_and_pause),
	    cmocka_unit_test(test_i8042_round_trip),
	    cmocka_unit_test(test_i8042_refuses_bad_state_and_resets),
	    cmocka_unit_test(test_rtc_round_trip_frozen),
	    cmocka_unit_test(test_rtc_clock_policies),
	    cmocka_unit_test(test_rtc_refuses_bad_state_and_resets),
	    cmocka_unit_test(test_fw_cfg_round_trip),
	    cmocka_unit_test(test_fw_cfg_refuses_bad_state_and_resets),
	    cmocka_unit_test(test_debug_exit_stateless),
	    cmocka_unit_test(test_registry_of_every_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
