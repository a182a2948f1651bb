/*
 * Unit tests of the 16550A UART (lib/devices/uart16550.c) and of the
 * interrupt-line interface it raises its interrupt through
 * (lib/devices/irq_line.c). Every register access goes through a real
 * kvmhost_bus, and the interrupt through a fake line that records levels:
 * reset values, DLAB and the divisor latch, register round trips, transmit
 * to a pipe (with a full pipe: buffering, order, drops), the receive FIFO
 * (order, room, trigger levels, reset, overrun in loopback), LSR/MSR/IIR
 * semantics and priorities, the THRE re-raise Linux's startup probes, the
 * input pump, a producer/consumer race, and bad arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/devices/uart16550.h>

#define BASE KVMHOST_UART_COM1_BASE

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* A fake interrupt line: records every level change it is given. */
struct fake_line {
	int level;
	int rises, falls;
	int fail; /* negative errno to return */
};

static int fake_set(void *opaque, int level)
{
	struct fake_line *f = opaque;

	if (f->fail)
		return f->fail;
	if (level)
		f->rises++;
	else
		f->falls++;
	f->level = level;
	return 0;
}

struct fx {
	struct kvmhost_bus *bus;
	struct kvmhost_irq_line *line;
	struct fake_line fake;
	struct kvmhost_uart *uart;
	int out[2]; /* pipe: the UART writes out[1]; the test reads out[0] */
	int rx_space_calls;
};

static void rx_space_cb(void *opaque)
{
	struct fx *f = opaque;

	f->rx_space_calls++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo), .set_level = fake_set, .name = "fake"};
	struct kvmhost_uart_options uo = {.size = sizeof(uo)};

	assert_non_null(f);
	lo.opaque = &f->fake;
	assert_int_equal(kvmhost_bus_create("pio", &f->bus), 0);
	assert_int_equal(kvmhost_irq_line_create(&lo, &f->line), 0);
	assert_int_equal(pipe2(f->out, O_NONBLOCK | O_CLOEXEC), 0);
	uo.out_fd = f->out[1];
	uo.irq = f->line;
	uo.rx_space = rx_space_cb;
	uo.rx_space_opaque = f;
	uo.name = "com1";
	assert_int_equal(kvmhost_uart_create(&uo, &f->uart), 0);
	assert_int_equal(kvmhost_uart_attach(f->uart, f->bus, BASE), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kvmhost_uart_destroy(f->uart);
	assert_int_equal(kvmhost_bus_count(f->bus), 0);
	kvmhost_irq_line_destroy(f->line);
	kvmhost_bus_destroy(f->bus);
	close(f->out[0]);
	close(f->out[1]);
	free(f);
	return 0;
}

static uint8_t in8(struct fx *f, unsigned reg)
{
	uint8_t v = 0;

	assert_int_equal(kvmhost_bus_read(f->bus, BASE + reg, &v, 1), 0);
	return v;
}

static void out8(struct fx *f, unsigned reg, uint8_t v)
{
	assert_int_equal(kvmhost_bus_write(f->bus, BASE + reg, &v, 1), 0);
}

static size_t drain(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

static struct kvmhost_uart_stats stats_of(struct fx *f)
{
	struct kvmhost_uart_stats s = {.size = sizeof(s)};

	assert_int_equal(kvmhost_uart_get_stats(f->uart, &s), 0);
	return s;
}

static void test_reset_state(void **state)
{
	struct fx *f = *state;

	assert_int_equal(in8(f, IER), 0x00);
	assert_int_equal(in8(f, IIR), 0x01);
	assert_int_equal(in8(f, LCR), 0x00);
	assert_int_equal(in8(f, MCR), 0x00);
	assert_int_equal(in8(f, LSR), 0x60); /* THRE | TEMT */
	assert_int_equal(in8(f, MSR), 0xb0); /* DCD | DSR | CTS, no deltas */
	assert_int_equal(in8(f, SCR), 0x00);
	assert_int_equal(f->fake.rises, 0);
	assert_int_equal(kvmhost_irq_line_level(f->line), 0);
	assert_int_equal(kvmhost_uart_rx_room(f->uart), 1); /* FIFOs off: a holding register */
	assert_int_equal(kvmhost_bus_count(f->bus), 1);
}

static void test_dlab_divisor(void **state)
{
	struct fx *f = *state;

	out8(f, IER, 0x05);
	out8(f, LCR, 0x80 | 0x03); /* DLAB */
	out8(f, DLL, 0x01);
	out8(f, DLM, 0x02);
	assert_int_equal(in8(f, DLL), 0x01);
	assert_int_equal(in8(f, DLM), 0x02);
	assert_int_equal(in8(f, LCR), 0x83);
	out8(f, LCR, 0x03);
	/* Offsets 0 and 1 are RBR/IER again; the divisor writes did not touch IER. */
	assert_int_equal(in8(f, IER), 0x05);
	out8(f, IER, 0xff);
	assert_int_equal(in8(f, IER), 0x0f); /* the high nibble reads 0 on a 16550A */
	out8(f, IER, 0);
	/* Nothing went out while the divisor was written through offset 0. */
	assert_int_equal(stats_of(f).tx_bytes, 0);
	out8(f, LCR, 0x80);
	assert_int_equal(in8(f, DLL), 0x01);
	assert_int_equal(in8(f, DLM), 0x02);
	/* A 16-bit access is two byte accesses: DLL then DLM. */
	{
		uint16_t w = 0x0c00 | 0x30, r = 0;

		assert_int_equal(kvmhost_bus_write(f->bus, BASE + DLL, &w, 2), 0);
		assert_int_equal(kvmhost_bus_read(f->bus, BASE + DLL, &r, 2), 0);
		assert_int_equal(r, 0x0c30);
		assert_int_equal(in8(f, DLM), 0x0c);
	}
	out8(f, LCR, 0x03);
}

static void test_register_round_trips(void **state)
{
	struct fx *f = *state;

	for (unsigned v = 0; v < 256; v++) {
		out8(f, SCR, (uint8_t)v);
		assert_int_equal(in8(f, SCR), v);
		out8(f, LCR, (uint8_t)v);
		assert_int_equal(in8(f, LCR), v);
		out8(f, MCR, (uint8_t)v);
		assert_int_equal(in8(f, MCR), v & 0x1f);
	}
	out8(f, LCR, 0);
	out8(f, MCR, 0);
	/* LSR and MSR ignore writes. */
	out8(f, LSR, 0xff);
	out8(f, MSR, 0x00);
	(void)in8(f, MSR); /* clear deltas left by the loopback round trips */
	assert_int_equal(in8(f, LSR), 0x60);
	assert_int_equal(in8(f, MSR), 0xb0);
}

static void test_tx_to_pipe(void **state)
{
	struct fx *f = *state;
	const char *msg = "hello, serial\n";
	char buf[64] = {0};
	struct kvmhost_uart_stats s;

	for (const char *p = msg; *p; p++) {
		assert_true(in8(f, LSR) & 0x20);
		out8(f, THR, (uint8_t)*p);
		assert_int_equal(in8(f, LSR) & 0x60, 0x60); /* instant transmission */
	}
	assert_int_equal(drain(f->out[0], buf, sizeof(buf)), strlen(msg));
	assert_string_equal(buf, msg);
	s = stats_of(f);
	assert_int_equal(s.tx_bytes, strlen(msg));
	assert_int_equal(s.tx_written, strlen(msg));
	assert_int_equal(s.tx_dropped, 0);
	assert_int_equal(s.tx_pending, 0);
	assert_int_equal(kvmhost_uart_flush(f->uart), 0);
}

/* A full output pipe: 4 KiB wait in the buffer, more are dropped, order is kept. */
static void tx_full_pipe(int nonblock)
{
	struct kvmhost_uart_options uo = {.size = sizeof(uo)};
	struct kvmhost_uart_stats s = {.size = sizeof(s)};
	struct kvmhost_bus *bus;
	struct kvmhost_uart *u;
	int p[2], cap, total;
	static char got[1 << 16];
	size_t n = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	cap = fcntl(p[1], F_SETPIPE_SZ, 4096);
	assert_true(cap >= 4096);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	if (nonblock)
		assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	uo.out_fd = p[1];
	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	assert_int_equal(kvmhost_uart_create(&uo, &u), 0);
	assert_int_equal(kvmhost_uart_attach(u, bus, BASE), 0);
	total = cap + KVMHOST_UART_TX_BUFFER + 100;
	/* This must not block, whatever the fd's mode. */
	for (int i = 0; i < total; i++) {
		uint8_t b = (uint8_t)(i % 251);

		assert_int_equal(kvmhost_bus_write(bus, BASE + THR, &b, 1), 0);
	}
	assert_int_equal(kvmhost_uart_get_stats(u, &s), 0);
	assert_int_equal(s.tx_bytes, (uint64_t)total);
	assert_true(s.tx_dropped >= 100);
	assert_int_equal(s.tx_written + s.tx_pending + s.tx_dropped, (uint64_t)total);
	assert_true(s.tx_pending > 0 && s.tx_pending <= KVMHOST_UART_TX_BUFFER);
	/* Drain the reader and flush until all buffered bytes are out. */
	for (int round = 0; round < 100; round++) {
		n += drain(p[0], got + n, sizeof(got) - n);
		if (kvmhost_uart_flush(u) == 0) {
			n += drain(p[0], got + n, sizeof(got) - n);
			break;
		}
	}
	assert_int_equal(kvmhost_uart_flush(u), 0);
	assert_int_equal(kvmhost_uart_get_stats(u, &s), 0);
	assert_int_equal(s.tx_pending, 0);
	assert_int_equal(n, s.tx_written);
	assert_int_equal(s.tx_written + s.tx_dropped, (uint64_t)total);
	/* What arrived is a prefix of what was sent: drops only ever hit the tail. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal((uint8_t)got[i], (uint8_t)(i % 251));
	kvmhost_uart_destroy(u);
	kvmhost_bus_destroy(bus);
	close(p[0]);
	close(p[1]);
}

static void test_tx_full_pipe_nonblocking(void **state)
{
	(void)state;
	tx_full_pipe(1);
}

static void test_tx_full_pipe_blocking(void **state)
{
	(void)state;
	tx_full_pipe(0);
}

static void test_tx_without_fd_and_broken_fd(void **state)
{
	struct kvmhost_uart_options uo = {.size = sizeof(uo), .out_fd = -1};
	struct kvmhost_uart_stats s = {.size = sizeof(s)};
	struct kvmhost_bus *bus;
	struct kvmhost_uart *u;
	uint8_t b = 'x';
	int p[2];

	(void)state;
	assert_int_equal(kvmhost_bus_create("pio", &bus), 0);
	assert_int_equal(kvmhost_uart_create(&uo, &u), 0);
	assert_int_equal(kvmhost_uart_attach(u, bus, BASE), 0);
	assert_int_equal(kvmhost_bus_write(bus, BASE + THR, &b, 1), 0);
	assert_int_equal(kvmhost_uart_get_stats(u, &s), 0);
	assert_int_equal(s.tx_bytes, 1);
	assert_int_equal(s.tx_written, 1);
	kvmhost_uart_destroy(u);

	/* An fd that fails for good (a pipe opened for reading cannot be
	 * written: EBADF) is given up on; output is counted as dropped. */
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	uo.out_fd = p[0];
	assert_int_equal(kvmhost_uart_create(&uo, &u), 0);
	assert_int_equal(kvmhost_uart_attach(u, bus, BASE), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kvmhost_bus_write(bus, BASE + THR, &b, 1), 0);
	assert_int_equal(kvmhost_uart_get_stats(u, &s), 0);
	assert_int_equal(s.tx_bytes, 3);
	assert_int_equal(s.tx_dropped, 3);
	assert_int_equal(s.tx_written, 0);
	kvmhost_uart_destroy(u);
	kvmhost_bus_destroy(bus);
	close(p[0]);
	close(p[1]);
}

/* kvmhost_uart_attach_mmio(): the same registers at a guest-physical address past the port space (the arm64
 * machine's 0x09000000), as the MMIO bus dispatches them; an address whose 8 bytes wrap is refused. */
static void test_attach_mmio(void **state)
{
	struct kvmhost_uart_options uo = {.size = sizeof(uo), .out_fd = -1};
	struct kvmhost_uart_stats s = {.size = sizeof(s)};
	struct kvmhost_bus *bus;
	struct kvmhost_uart *u, *other;
	const uint64_t mmio = 0x09000000;
	uint8_t b = 'x', lsr = 0;

	(void)state;
	assert_int_equal(kvmhost_bus_create("mmio", &bus), 0);
	assert_int_equal(kvmhost_uart_create(&uo, &u), 0);
	assert_int_equal(kvmhost_uart_attach(u, bus, mmio), -EINVAL); /* a port number: at most 0xfff8 */
	assert_int_equal(kvmhost_uart_attach_mmio(NULL, bus, mmio), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_uart_attach_mmio"));
	assert_int_equal(kvmhost_uart_attach_mmio(u, NULL, mmio), -EINVAL);
	assert_int_equal(kvmhost_uart_attach_mmio(u, bus, UINT64_MAX - 6), -EINVAL);
	assert_int_equal(kvmhost_uart_attach_mmio(u, bus, mmio), 0);
	assert_int_equal(kvmhost_uart_attach_mmio(u, bus, mmio), -EBUSY);
	assert_int_equal(kvmhost_bus_write(bus, mmio + THR, &b, 1), 0);
	assert_int_equal(kvmhost_bus_read(bus, mmio + LSR, &lsr, 1), 0);
	assert_true(lsr & 0x20); /* THRE: the byte went out */
	assert_int_equal(kvmhost_uart_get_stats(u, &s), 0);
	assert_int_equal(s.tx_bytes, 1);
	assert_int_equal(kvmhost_uart_create(&uo, &other), 0);
	assert_int_equal(kvmhost_uart_attach_mmio(other, bus, mmio + 4), -EEXIST);
	assert_int_equal(kvmhost_uart_attach_mmio(other, bus, UINT64_MAX - 7), 0); /* the last 8 bytes */
	kvmhost_uart_destroy(other);
	kvmhost_uart_destroy(u);
	assert_int_equal(kvmhost_bus_count(bus), 0);
	kvmhost_bus_destroy(bus);
}

static void test_rx_fifo_order(void **state)
{
	struct fx *f = *state;
	const char *in = "abcdefghijklmnopqrstuvwxyz";

	/* FIFOs off: one holding register. */
	assert_int_equal(kvmhost_uart_receive(f->uart, "xyz", 3), 1);
	assert_int_equal(kvmhost_uart_rx_room(f->uart), 0);
	assert_int_equal(kvmhost_uart_receive(f->uart, "y", 1), 0);
	assert_int_equal(in8(f, LSR), 0x61);
	assert_int_equal(in8(f, RBR), 'x');
	assert_int_equal(in8(f, LSR), 0x60);
	assert_int_equal(f->rx_space_calls, 1);
	/* An empty RBR reads the last byte again. */
	assert_int_equal(in8(f, RBR), 'x');
	assert_int_equal(f->rx_space_calls, 1);

	out8(f, FCR, 0x01);
	assert_int_equal(kvmhost_uart_rx_room(f->uart), 16);
	assert_int_equal(kvmhost_uart_receive(f->uart, in, strlen(in)), 16);
	assert_int_equal(kvmhost_uart_rx_room(f->uart), 0);
	assert_int_equal(kvmhost_uart_receive(f->uart, in + 16, 10), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(in8(f, LSR) & 0x01, 0x01);
		assert_int_equal(in8(f, RBR), in[i]);
		assert_int_equal(kvmhost_uart_rx_room(f->uart), i + 1);
	}
	assert_int_equal(in8(f, LSR), 0x60); /* no overrun: the host side waits instead */
	assert_int_equal(f->rx_space_calls, 2);
	assert_int_equal(kvmhost_uart_receive(f->uart, in + 16, 10), 10);
	for (int i = 16; i < 26; i++)
		assert_int_equal(in8(f, RBR), in[i]);
	assert_int_equal(stats_of(f).rx_bytes, 27);
	assert_int_equal(stats_of(f).rx_overruns, 0);
	assert_int_equal(kvmhost_uart_receive(f->uart, NULL, 0), 0);
}

static void test_fifo_reset_and_toggle(void **state)
{
	struct fx *f = *state;

	out8(f, FCR, 0x01);
	assert_int_equal(kvmhost_uart_receive(f->uart, "12345", 5), 5);
	out8(f, FCR, 0x01 | 0x04); /* TX reset only: RX stays */
	assert_int_equal(in8(f, LSR) & 0x01, 1);
	assert_int_equal(f->rx_space_calls, 0);
	out8(f, FCR, 0x01 | 0x02); /* RX reset */
	assert_int_equal(in8(f, LSR), 0x60);
	assert_int_equal(f->rx_space_calls, 1);
	assert_int_equal(kvmhost_uart_rx_room(f->uart), 16);
	/* Turning the FIFOs off clears them too, and IIR's FIFO bits go. */
	assert_int_equal(kvmhost_uart_receive(f->uart, "12", 2), 2);
	assert_int_equal(in8(f, IIR), 0xc1);
	out8(f, FCR, 0x00);
	assert_int_equal(in8(f, IIR), 0x01);
	assert_int_equal(in8(f, LSR), 0x60);
	assert_int_equal(f->rx_space_calls, 2);
	/* With the FIFOs off other FCR bits do nothing. */
	out8(f, FCR, 0xc0);
	assert_int_equal(in8(f, IIR), 0x01);
}

static void test_loopback_overrun(void **state)
{
	struct fx *f = *state;
	char buf[8];

	out8(f, FCR, 0x01);
	out8(f, MCR, 0x10);
	assert_int_equal(kvmhost_uart_rx_room(f->uart), 0); /* the receiver listens to THR */
	assert_int_equal(kvmhost_uart_receive(f->uart, "z", 1), 0);
	for (int i = 0; i < 17; i++)
		out8(f, THR, (uint8_t)('A' + i));
	assert_int_equal(in8(f, LSR), 0x60 | 0x02 | 0x01); /* THRE TEMT OE DR */
	assert_int_equal(in8(f, LSR), 0x60 | 0x01);	   /* OE clears on read */
	for (int i = 0; i < 16; i++)
		assert_int_equal(in8(f, RBR), 'A' + i); /* the 17th was lost */
	assert_int_equal(stats_of(f).rx_overruns, 1);
	assert_int_equal(stats_of(f).tx_bytes, 0);
	assert_int_equal(drain(f->out[0], buf, sizeof(buf)), 0); /* nothing left the UART */

	/* FIFOs off: the holding register is overwritten by the newer byte. */
	out8(f, FCR, 0x00);
	out8(f, THR, 'a');
	out8(f, THR, 'b');
	assert_int_equal(in8(f, LSR), 0x63);
	assert_int_equal(in8(f, RBR), 'b');
	assert_int_equal(stats_of(f).rx_overruns, 2);
	out8(f, MCR, 0x00);
	assert_int_equal(kvmhost_uart_rx_room(f->uart), 1);
}

static void test_loopback_msr(void **state)
{
	struct fx *f = *state;

	/* Linux's 8250 autoconfig: LOOP | OUT2 | RTS must read DCD | CTS. */
	out8(f, MCR, 0x10 | 0x0a);
	assert_int_equal(in8(f, MSR) & 0xf0, 0x90);
	out8(f, MCR, 0x10 | 0x0f);
	assert_int_equal(in8(f, MSR), 0xf0 | 0x02 | 0x00); /* DSR came: DDSR */
	out8(f, MCR, 0x10 | 0x01);			   /* DTR only: DSR */
	/* CTS, DCD fell; RI fell (trailing edge). */
	assert_int_equal(in8(f, MSR), 0x20 | 0x01 | 0x04 | 0x08);
	assert_int_equal(in8(f, MSR), 0x20); /* deltas clear on read */
	out8(f, MCR, 0x10 | 0x04);	     /* OUT1 -> RI rising: no TERI */
	assert_int_equal(in8(f, MSR), 0x40 | 0x02);
	out8(f, MCR, 0x00); /* CTS, DSR, DCD rise; RI falls */
	assert_int_equal(in8(f, MSR), 0xb0 | 0x0f);
	assert_int_equal(in8(f, MSR), 0xb0);
	/* Outside loopback the MCR outputs do not reach MSR. */
	out8(f, MCR, 0x0f);
	assert_int_equal(in8(f, MSR), 0xb0);
	out8(f, MCR, 0x00);
}

static void test_iir_priorities(void **state)
{
	struct fx *f = *state;

	/* Make every source pending: MSI (loopback deltas), THRE (a write),
	 * received data and an overrun (two loopback bytes, no FIFO). */
	out8(f, MCR, 0x10);
	out8(f, THR, '1');
	out8(f, THR, '2');
	assert_int_equal(f->fake.rises, 0); /* IER is 0: nothing raised */
	out8(f, IER, 0x0f);
	assert_int_equal(f->fake.level, 1);
	assert_int_equal(f->fake.rises, 1);
	assert_int_equal(in8(f, IIR), 0x06); /* RLS first */
	assert_int_equal(in8(f, IIR), 0x06); /* reading IIR does not clear RLS */
	(void)in8(f, LSR);
	assert_int_equal(in8(f, IIR), 0x04); /* then received data */
	assert_int_equal(in8(f, RBR), '2');
	assert_int_equal(in8(f, IIR), 0x02); /* then THRE, which this read acknowledges */
	assert_int_equal(f->fake.level, 1);
	assert_int_equal(in8(f, IIR), 0x00); /* then modem status */
	assert_int_equal(f->fake.level, 1);
	(void)in8(f, MSR);
	assert_int_equal(in8(f, IIR), 0x01);
	assert_int_equal(f->fake.level, 0);
	assert_int_equal(f->fake.rises, 1); /* one high period throughout */
	assert_int_equal(f->fake.falls, 1);
	assert_int_equal(kvmhost_irq_line_level(f->line), 0);

	/* Masked sources do not show: RDI off, data present. */
	out8(f, IER, 0x00);
	out8(f, MCR, 0x00);
	(void)in8(f, MSR);
	assert_int_equal(kvmhost_uart_receive(f->uart, "q", 1), 1);
	assert_int_equal(in8(f, IIR), 0x01);
	assert_int_equal(f->fake.level, 0);
	out8(f, IER, 0x01);
	assert_int_equal(f->fake.level, 1);
	assert_int_equal(in8(f, RBR), 'q');
	assert_int_equal(f->fake.level, 0);
	out8(f, IER, 0x00);
}

static void test_fifo_trigger_levels(void **state)
{
	struct fx *f = *state;
	static const struct {
		uint8_t fcr;
		int trigger;
	} cases[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}};
	uint8_t junk[16];

	memset(junk, 'j', sizeof(junk));
	out8(f, IER, 0x01);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		out8(f, FCR, cases[c].fcr | 0x02);
		assert_int_equal(in8(f, IIR), 0xc1);
		assert_int_equal(f->fake.level, 0);
		if (cases[c].trigger > 1) {
			/* Below the trigger: the burst ended, so a character timeout. */
			assert_int_equal(kvmhost_uart_receive(f->uart, junk, (size_t)cases[c].trigger - 1),
					 cases[c].trigger - 1);
			assert_int_equal(in8(f, IIR), 0xcc);
			assert_int_equal(f->fake.level, 1);
		}
		assert_int_equal(kvmhost_uart_receive(f->uart, junk, 1), 1);
		assert_int_equal(in8(f, IIR), 0xc4); /* at the trigger: data available */
		assert_int_equal(f->fake.level, 1);
		(void)in8(f, RBR);
		if (cases[c].trigger > 1)
			assert_int_equal(in8(f, IIR), 0xcc); /* below it again */
		for (int i = 1; i < cases[c].trigger; i++)
			(void)in8(f, RBR);
		assert_int_equal(in8(f, IIR), 0xc1);
		assert_int_equal(f->fake.level, 0);
	}
	out8(f, IER, 0x00);
}

/* Linux's serial8250_do_startup() THRE test, and the rules behind it. */
static void test_thre_reraise(void **state)
{
	struct fx *f = *state;
	uint8_t lsr, iir, iir1;

	out8(f, IER, 0x02);
	lsr = in8(f, LSR);
	iir = in8(f, IIR);
	out8(f, IER, 0x00);
	out8(f, IER, 0x02);
	iir1 = in8(f, IIR);
	out8(f, IER, 0x00);
	assert_true(lsr & 0x40);	     /* TEMT */
	assert_int_equal(iir & 0x0f, 0x02);  /* THRE pending at once: no UART_BUG_THRE */
	assert_int_equal(iir1 & 0x0f, 0x02); /* and again after re-enabling */
	assert_int_equal(f->fake.rises, 2);
	assert_int_equal(f->fake.level, 0);

	/* Acknowledged by the IIR read; rewriting IER with THRI still set does
	 * not raise it again, clearing and setting THRI does. */
	out8(f, IER, 0x02);
	assert_int_equal(f->fake.level, 1);
	assert_int_equal(in8(f, IIR), 0x02);
	assert_int_equal(f->fake.level, 0);
	assert_int_equal(in8(f, IIR), 0x01);
	out8(f, IER, 0x02 | 0x08);
	assert_int_equal(in8(f, IIR), 0x01);
	assert_int_equal(f->fake.level, 0);
	/* A transmitted byte empties THR again: THRE is raised anew. */
	out8(f, THR, '!');
	assert_int_equal(f->fake.level, 1);
	assert_int_equal(in8(f, IIR), 0x02);
	assert_int_equal(f->fake.level, 0);
	/* THRE below received data in priority; its ack needs IIR to show it. */
	out8(f, IER, 0x03);
	out8(f, THR, '!');
	assert_int_equal(kvmhost_uart_receive(f->uart, "r", 1), 1);
	assert_int_equal(in8(f, IIR), 0x04);
	assert_int_equal(in8(f, RBR), 'r');
	assert_int_equal(in8(f, IIR), 0x02); /* still pending */
	assert_int_equal(in8(f, IIR), 0x01);
	out8(f, IER, 0x00);
}

static void test_pump(void **state)
{
	struct fx *f = *state;
	int in[2];
	const char *msg = "0123456789abcdefghij"; /* 20 bytes */

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);		/* blocking: pump must not block anyway */
	assert_int_equal(kvmhost_uart_pump(f->uart, in[0]), 0); /* nothing to read */
	assert_int_equal(write(in[1], msg, 20), 20);
	out8(f, FCR, 0x01);
	assert_int_equal(kvmhost_uart_pump(f->uart, in[0]), 16);
	assert_int_equal(kvmhost_uart_rx_room(f->uart), 0);
	assert_int_equal(kvmhost_uart_pump(f->uart, in[0]), 0); /* full: nothing read */
	for (int i = 0; i < 16; i++)
		assert_int_equal(in8(f, RBR), msg[i]);
	assert_int_equal(f->rx_space_calls, 1);
	assert_int_equal(kvmhost_uart_pump(f->uart, in[0]), 4);
	close(in[1]);
	assert_int_equal(kvmhost_uart_pump(f->uart, in[0]), -EPIPE);
	assert_non_null(strstr(kvmhost_last_error(), "end of file"));
	for (int i = 16; i < 20; i++)
		assert_int_equal(in8(f, RBR), msg[i]);
	close(in[0]);
	assert_int_equal(kvmhost_uart_pump(f->uart, in[0]), -EBADF);
	assert_int_equal(kvmhost_uart_pump(f->uart, -1), -EINVAL);
}

/* The input side and a vCPU thread at once: every byte arrives once, in order. */
struct race {
	struct kvmhost_uart *uart;
	int total;
};

static void *producer(void *arg)
{
	struct race *r = arg;
	int sent = 0;

	while (sent < r->total) {
		uint8_t b = (uint8_t)sent;
		int n = kvmhost_uart_receive(r->uart, &b, 1);

		if (n < 0)
			return (void *)1;
		sent += n;
	}
	return NULL;
}

static void test_concurrent_receive(void **state)
{
	struct fx *f = *state;
	struct race r = {.uart = f->uart, .total = 20000};
	pthread_t t;
	void *ret;
	int got = 0;

	out8(f, FCR, 0x01);
	assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
	while (got < r.total) {
		if (in8(f, LSR) & 0x01) {
			assert_int_equal(in8(f, RBR), (uint8_t)got);
			got++;
		}
	}
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_int_equal(stats_of(f).rx_bytes, (uint64_t)r.total);
}

static void test_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct kvmhost_uart_options uo = {.size = sizeof(uo), .out_fd = -1};
	struct {
		struct kvmhost_uart_options o;
		uint64_t extra;
	} big = {.o = {.size = sizeof(big), .out_fd = -1}, .extra = 1};
	struct kvmhost_uart_stats st = {.size = sizeof(st)};
	struct kvmhost_uart *u = (void *)1, *other;
	size_t tiny = 4;

	assert_int_equal(kvmhost_uart_create(&uo, NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_uart_create"));
	assert_int_equal(kvmhost_uart_create((void *)&tiny, &u), -EINVAL);
	assert_null(u);
	assert_int_equal(kvmhost_uart_create(&big.o, &u), -E2BIG);
	uo.out_fd = -2;
	assert_int_equal(kvmhost_uart_create(&uo, &u), -EINVAL);
	uo.out_fd = 1000; /* not open */
	assert_int_equal(kvmhost_uart_create(&uo, &u), -EBADF);
	assert_non_null(strstr(kvmhost_last_error(), "out_fd 1000"));
	assert_int_equal(kvmhost_uart_create(NULL, &u), 0); /* defaults: no fd, no line */
	kvmhost_uart_destroy(u);
	kvmhost_uart_destroy(NULL);

	assert_int_equal(kvmhost_uart_attach(NULL, f->bus, BASE), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_uart_attach"));
	assert_int_equal(kvmhost_uart_attach(f->uart, NULL, BASE), -EINVAL);
	assert_int_equal(kvmhost_uart_attach(f->uart, f->bus, KVMHOST_UART_COM2_BASE), -EBUSY);
	assert_int_equal(kvmhost_uart_create(NULL, &other), 0);
	assert_int_equal(kvmhost_uart_attach(other, f->bus, 0xfff9), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "0xffff"));
	assert_int_equal(kvmhost_uart_attach(other, f->bus, UINT64_MAX), -EINVAL);
	assert_int_equal(kvmhost_uart_attach(other, f->bus, BASE + 4), -EEXIST);
	assert_non_null(strstr(kvmhost_last_error(), "com1")); /* the bus names the owner */
	assert_int_equal(kvmhost_uart_attach(other, f->bus, 0xfff8), 0);
	assert_int_equal(kvmhost_bus_count(f->bus), 2);
	kvmhost_uart_destroy(other);
	assert_int_equal(kvmhost_bus_count(f->bus), 1);

	assert_int_equal(kvmhost_uart_receive(NULL, "a", 1), -EINVAL);
	assert_int_equal(kvmhost_uart_receive(f->uart, NULL, 1), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_uart_receive"));
	assert_int_equal(kvmhost_uart_rx_room(NULL), -EINVAL);
	assert_int_equal(kvmhost_uart_pump(NULL, 0), -EINVAL);
	assert_int_equal(kvmhost_uart_flush(NULL), -EINVAL);
	assert_int_equal(kvmhost_uart_get_stats(NULL, &st), -EINVAL);
	assert_int_equal(kvmhost_uart_get_stats(f->uart, NULL), -EINVAL);
	st.size = 2;
	assert_int_equal(kvmhost_uart_get_stats(f->uart, &st), -EINVAL);
	/* An older, smaller stats struct gets the fields it has room for. */
	{
		struct {
			size_t size;
			uint64_t tx_bytes;
		} old = {.size = sizeof(old), .tx_bytes = 99};

		assert_int_equal(kvmhost_uart_get_stats(f->uart, (void *)&old), 0);
		assert_int_equal(old.tx_bytes, 0);
		assert_int_equal(old.size, sizeof(old));
	}
}

/* The interrupt-line interface itself. */
static void test_irq_line_callback(void **state)
{
	struct fake_line fake = {0};
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo), .set_level = fake_set, .opaque = &fake};
	struct kvmhost_irq_line *line;

	(void)state;
	assert_int_equal(kvmhost_irq_line_create(&lo, &line), 0);
	assert_int_equal(kvmhost_irq_line_level(line), 0);
	assert_int_equal(kvmhost_irq_line_set(line, 0), 0); /* no change: no call */
	assert_int_equal(fake.falls, 0);
	assert_int_equal(kvmhost_irq_line_set(line, 1), 0);
	assert_int_equal(kvmhost_irq_line_set(line, 1), 0);
	assert_int_equal(fake.rises, 1);
	assert_int_equal(kvmhost_irq_line_level(line), 1);
	assert_int_equal(kvmhost_irq_line_set(line, 0), 0);
	assert_int_equal(fake.falls, 1);
	assert_int_equal(kvmhost_irq_line_set(line, 2), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_irq_line_set"));
	assert_int_equal(kvmhost_irq_line_set(line, -1), -EINVAL);
	/* A failing target: the error is passed on and the level kept. */
	fake.fail = -EIO;
	assert_int_equal(kvmhost_irq_line_set(line, 1), -EIO);
	assert_non_null(strstr(kvmhost_last_error(), "refused level 1"));
	assert_int_equal(kvmhost_irq_line_level(line), 0);
	fake.fail = 0;
	assert_int_equal(kvmhost_irq_line_set(line, 1), 0);
	assert_int_equal(fake.rises, 2);
	kvmhost_irq_line_destroy(line);
	kvmhost_irq_line_destroy(NULL);

	/* No options: a line to nowhere that still keeps its level. */
	assert_int_equal(kvmhost_irq_line_create(NULL, &line), 0);
	assert_int_equal(kvmhost_irq_line_set(line, 1), 0);
	assert_int_equal(kvmhost_irq_line_level(line), 1);
	kvmhost_irq_line_destroy(line);
}

static void test_irq_line_irqfd(void **state)
{
	struct kvmhost_irq_line *line;
	uint64_t v;
	int fd;

	(void)state;
	assert_int_equal(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &fd), 0);
	assert_int_equal(kvmhost_irq_line_create_irqfd(fd, &line), 0);
	assert_int_equal(kvmhost_irq_line_set(line, 1), 0);
	assert_int_equal(kvmhost_irq_line_set(line, 1), 0); /* still high: no new edge */
	assert_int_equal(kvmhost_eventfd_consume(fd, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(kvmhost_irq_line_set(line, 0), 0); /* falling: nothing */
	assert_int_equal(kvmhost_eventfd_consume(fd, &v), -EAGAIN);
	assert_int_equal(kvmhost_irq_line_set(line, 1), 0);
	assert_int_equal(kvmhost_irq_line_set(line, 0), 0);
	assert_int_equal(kvmhost_irq_line_set(line, 1), 0);
	assert_int_equal(kvmhost_eventfd_consume(fd, &v), 0);
	assert_int_equal(v, 2);
	kvmhost_irq_line_destroy(line);
	/* A dead fd: the write's error comes back, the level stays low. */
	assert_int_equal(kvmhost_irq_line_create_irqfd(fd, &line), 0);
	close(fd);
	assert_int_equal(kvmhost_irq_line_set(line, 1), -EBADF);
	assert_int_equal(kvmhost_irq_line_level(line), 0);
	kvmhost_irq_line_destroy(line);
}

static void test_irq_line_bad_arguments(void **state)
{
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};
	struct kvmhost_irq_line *line = (void *)1;
	size_t tiny = 1;

	(void)state;
	assert_int_equal(kvmhost_irq_line_create(&lo, NULL), -EINVAL);
	assert_int_equal(kvmhost_irq_line_create((void *)&tiny, &line), -EINVAL);
	assert_null(line);
	assert_int_equal(kvmhost_irq_line_create_gsi(NULL, 4, &line), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_irq_line_create_gsi"));
	assert_int_equal(kvmhost_irq_line_create_gsi((void *)1, 4, NULL), -EINVAL);
	assert_int_equal(kvmhost_irq_line_create_irqfd(-1, &line), -EINVAL);
	assert_int_equal(kvmhost_irq_line_create_irqfd(0, NULL), -EINVAL);
	assert_int_equal(kvmhost_irq_line_set(NULL, 1), -EINVAL);
	assert_int_equal(kvmhost_irq_line_level(NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_irq_line_level"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dlab_divisor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_register_round_trips, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_to_pipe, setup, teardown),
	    cmocka_unit_test(test_tx_full_pipe_nonblocking),
	    cmocka_unit_test(test_tx_full_pipe_blocking),
	    cmocka_unit_test(test_tx_without_fd_and_broken_fd),
	    cmocka_unit_test(test_attach_mmio),
	    cmocka_unit_test_setup_teardown(test_rx_fifo_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_reset_and_toggle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loopback_overrun, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loopback_msr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_trigger_levels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thre_reraise, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_receive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test(test_irq_line_callback),
	    cmocka_unit_test(test_irq_line_irqfd),
	    cmocka_unit_test(test_irq_line_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
