/*
 * Unit tests of virtio-console (virtio/console.h) on fake guest memory with
 * the fake transport and driver (unit/virtio_dev_fixture.h): transmitted
 * bytes reach a pipe in order (split and packed rings, buffers across
 * regions), a full pipe never blocks (small buffer, then drops counted),
 * received bytes fill exactly the posted buffers, input waits while no
 * buffer is posted (room 0, rx_ready when they come), pumping from a pipe,
 * a connected socket and a listening one (accept, hang-up, next client), an
 * output file, config space (size, emergency write), malformed buffers
 * (DEVICE_NEEDS_RESET, never a crash), and bad arguments (-EINVAL and a
 * message).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/virtio/console.h>
#include "unit/virtio_dev_fixture.h"

#define RXQ KVMHOST_VIRTIO_CONSOLE_RXQ
#define TXQ KVMHOST_VIRTIO_CONSOLE_TXQ

struct fix {
	struct vdf f;
	struct kvmhost_virtio_console *con;
	int out[2]; /* output pipe: device writes out[1] */
	int in[2];  /* input pipe: device reads in[0] */
	int ready;  /* rx_ready calls */
};

static void on_ready(void *opaque)
{
	((struct fix *)opaque)->ready++;
}

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_int_equal(vd_mem_init(&x->f.m), 0);
	assert_int_equal(pipe2(x->out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(x->in, O_CLOEXEC), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	kvmhost_virtio_console_destroy(x->con);
	for (int i = 0; i < 2; i++) {
		if (x->out[i] >= 0)
			close(x->out[i]);
		if (x->in[i] >= 0)
			close(x->in[i]);
	}
	vd_mem_fini(&x->f.m);
	free(x);
	return 0;
}

static void make(struct fix *x, struct kvmhost_virtio_console_options *o)
{
	int r;

	o->size = sizeof(*o);
	o->rx_ready = on_ready;
	o->rx_ready_opaque = x;
	r = kvmhost_virtio_console_create(x->f.m.mem, o, &x->con);
	if (r < 0)
		print_error("create: %s\n", kvmhost_last_error());
	assert_int_equal(r, 0);
	assert_int_equal(vdf_attach(&x->f, kvmhost_virtio_console_device(x->con)), 0);
}

/* STDIO on the two pipes. */
static void make_stdio(struct fix *x)
{
	struct kvmhost_virtio_console_options o = {.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO};

	o.in_fd = x->in[0];
	o.out_fd = x->out[1];
	make(x, &o);
}

static void start(struct fix *x, uint64_t features, int packed)
{
	int r = vdf_start(&x->f, features, 2, packed, 16);

	if (r < 0)
		print_error("start: %s\n", kvmhost_last_error());
	assert_int_equal(r, 0);
}

static void put(struct fix *x, uint64_t gpa, const char *s)
{
	for (size_t i = 0; s[i]; i++)
		*vd_host(&x->f.m, gpa + i) = (uint8_t)s[i];
}

/* Read exactly what is in a non-blocking pipe now. */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	fcntl(fd, F_SETFL, fl);
	return got;
}

static void expect_used(struct fix *x, unsigned q, uint32_t want_id, uint32_t want_len)
{
	uint32_t id, len;

	assert_int_equal(vdf_used(&x->f, q, &id, &len), 1);
	assert_int_equal(id, want_id);
	assert_int_equal(len, want_len);
}

static void expect_no_used(struct fix *x, unsigned q)
{
	uint32_t id, len;

	assert_int_equal(vdf_used(&x->f, q, &id, &len), 0);
}

static void expect_bytes(struct fix *x, uint64_t gpa, const char *s)
{
	for (size_t i = 0; s[i]; i++)
		assert_int_equal(*vd_host(&x->f.m, gpa + i), (uint8_t)s[i]);
}

static void get_stats(struct fix *x, struct kvmhost_virtio_console_stats *st)
{
	st->size = sizeof(*st);
	assert_int_equal(kvmhost_virtio_console_get_stats(x->con, st), 0);
}

/* ---- arguments ---- */

static void expect_create_fails(struct fix *x, struct kvmhost_virtio_console_options *o, int err, const char *msg)
{
	struct kvmhost_virtio_console *c = (void *)1;

	o->size = sizeof(*o);
	assert_int_equal(kvmhost_virtio_console_create(x->f.m.mem, o, &c), err);
	assert_null(c);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_console_create"));
	if (msg && !strstr(kvmhost_last_error(), msg))
		fail_msg("message '%s' lacks '%s'", kvmhost_last_error(), msg);
}

static void test_create_args(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_console_options o = {0};
	struct kvmhost_virtio_console *c = (void *)1;
	struct {
		struct kvmhost_virtio_console_options o;
		uint64_t extra;
	} big = {.o = {.size = sizeof(big)}, .extra = 1};
	int sp[2], dg[2];

	assert_int_equal(kvmhost_virtio_console_create(NULL, NULL, &c), -EINVAL);
	assert_null(c);
	assert_int_equal(kvmhost_virtio_console_create(x->f.m.mem, NULL, NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_create(x->f.m.mem, &big.o, &c), -E2BIG);

	o.backend = 99;
	expect_create_fails(x, &o, -EINVAL, "backend");
	o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO;
	o.in_fd = -2;
	o.out_fd = -1;
	expect_create_fails(x, &o, -EINVAL, "in_fd");
	o.in_fd = 1000; /* not open */
	expect_create_fails(x, &o, -EINVAL, "not an open fd");
	o.in_fd = -1;
	o.out_fd = 1001;
	expect_create_fails(x, &o, -EINVAL, "out_fd");
	o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_FILE;
	o.out_fd = -1;
	expect_create_fails(x, &o, -EINVAL, "out_fd or path");
	o.path = "/nonexistent-dir/console.log";
	expect_create_fails(x, &o, -ENOENT, "/nonexistent-dir");
	o.path = NULL;
	o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET;
	o.sock_fd = -1;
	expect_create_fails(x, &o, -EINVAL, "sock_fd");
	o.sock_fd = x->in[0]; /* a pipe */
	expect_create_fails(x, &o, -EINVAL, "stream socket");
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg), 0);
	o.sock_fd = dg[0];
	expect_create_fails(x, &o, -EINVAL, "stream socket");
	close(dg[0]);
	close(dg[1]);
	o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_NONE;
	o.cols = 80;
	expect_create_fails(x, &o, -EINVAL, "cols");
	o.cols = 0;
	o.queue_size = 4096;
	expect_create_fails(x, &o, -EINVAL, "queue_size");

	/* NULL options: NONE backend, no input. */
	assert_int_equal(kvmhost_virtio_console_create(x->f.m.mem, NULL, &x->con), 0);
	assert_int_equal(kvmhost_virtio_device_id(kvmhost_virtio_console_device(x->con)), KVMHOST_VIRTIO_ID_CONSOLE);
	assert_int_equal(kvmhost_virtio_device_num_queues(kvmhost_virtio_console_device(x->con)), 2);
	assert_int_equal(kvmhost_virtio_console_input_fd(x->con), -1);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), -ENODEV);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_console_pump"));
	assert_int_equal(kvmhost_virtio_console_set_size(x->con, 80, 25), -EOPNOTSUPP);
	/* Not live: input waits. */
	assert_int_equal(kvmhost_virtio_console_receive(x->con, "abc", 3), 0);
	assert_int_equal(kvmhost_virtio_console_rx_room(x->con), 0);

	assert_int_equal(kvmhost_virtio_console_receive(NULL, "a", 1), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_console_receive"));
	assert_int_equal(kvmhost_virtio_console_receive(x->con, NULL, 1), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_receive(x->con, NULL, 0), 0);
	assert_int_equal(kvmhost_virtio_console_rx_room(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_input_fd(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_pump(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_flush(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_set_size(NULL, 1, 1), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_get_stats(NULL, NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_get_stats(x->con, NULL), -EINVAL);
	{
		struct kvmhost_virtio_console_stats st = {.size = 2};

		assert_int_equal(kvmhost_virtio_console_get_stats(x->con, &st), -EINVAL);
	}
	assert_null(kvmhost_virtio_console_device(NULL));
	kvmhost_virtio_console_destroy(NULL);

	/* A connected socket is accepted as such. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	o = (struct kvmhost_virtio_console_options){
	    .size = sizeof(o), .backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET, .sock_fd = sp[0]};
	assert_int_equal(kvmhost_virtio_console_create(x->f.m.mem, &o, &c), 0);
	assert_int_equal(kvmhost_virtio_console_input_fd(c), sp[0]);
	kvmhost_virtio_console_destroy(c);
	/* The embedder's fd is not closed. */
	assert_true(fcntl(sp[0], F_GETFL) >= 0);
	close(sp[0]);
	close(sp[1]);
}

/* ---- config ---- */

static void test_config(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_console_options o = {
	    .backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO, .cols = 132, .rows = 43};
	uint8_t cfg[KVMHOST_VIRTIO_CONSOLE_CONFIG_SIZE];
	uint32_t emerg = 'E' | 0xaabbcc00u, gen;
	uint64_t f;
	char buf[8];

	o.in_fd = -1;
	o.out_fd = x->out[1];
	make(x, &o);
	f = kvmhost_virtio_device_offered_features(x->f.dev);
	assert_true(f & KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_CONSOLE_F_SIZE));
	assert_true(f & KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_CONSOLE_F_EMERG_WRITE));
	assert_false(f & KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_CONSOLE_F_MULTIPORT));
	assert_int_equal(kvmhost_virtio_device_config_size(x->f.dev), 12);
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 0, cfg, sizeof(cfg)), 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, 132);
	assert_int_equal(cfg[2] | cfg[3] << 8, 43);
	assert_int_equal(cfg[4], 1);
	assert_int_equal(cfg[8] | cfg[9] | cfg[10] | cfg[11], 0);
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 2, cfg, 2), 0);
	assert_int_equal(cfg[0], 43);
	/* Read-only fields. */
	assert_int_equal(kvmhost_virtio_device_config_write(x->f.dev, 0, cfg, 2), -EROFS);
	/* Emergency write: its low byte is output, even before DRIVER_OK. */
	assert_int_equal(kvmhost_virtio_device_config_write(x->f.dev, 8, &emerg, 4), 0);
	assert_int_equal(drain(x->out[0], buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'E');
	start(x, KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_CONSOLE_F_SIZE), 0);
	gen = kvmhost_virtio_device_config_generation(x->f.dev);
	assert_int_equal(kvmhost_virtio_console_set_size(x->con, 0, 10), -EINVAL);
	assert_int_equal(kvmhost_virtio_console_set_size(x->con, 100, 30), 0);
	assert_int_equal(x->f.cirq, 1);
	assert_int_not_equal(kvmhost_virtio_device_config_generation(x->f.dev), gen);
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 0, cfg, 4), 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, 100);
	assert_int_equal(cfg[2] | cfg[3] << 8, 30);
}

static void test_config_no_size(void **state)
{
	struct fix *x = *state;
	uint8_t cfg[4] = {1, 1, 1, 1};

	make_stdio(x);
	assert_false(kvmhost_virtio_device_offered_features(x->f.dev) &
		     KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_CONSOLE_F_SIZE));
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 0, cfg, 4), 0);
	assert_int_equal(cfg[0] | cfg[1] | cfg[2] | cfg[3], 0);
}

/* ---- transmit ---- */

static void transmit_in_order(struct fix *x, int packed)
{
	struct vd_buf b1[3] = {
	    {VDF_BUF, 6, 0},
	    {VD_B_GPA - 3, 7, 0}, /* crosses regions A -> B */
	    {VDF_BUF + 0x100, 0, 0},
	};
	struct kvmhost_virtio_console_stats st;
	char buf[64];
	uint16_t id1, id2;

	make_stdio(x);
	start(x, 0, packed);
	put(x, VDF_BUF, "hello ");
	put(x, VD_B_GPA - 3, "world, ");
	put(x, VDF_BUF + 0x200, "again\n");
	id1 = vdf_post(&x->f, TXQ, b1, 3);
	id2 = vdf_post1(&x->f, TXQ, VDF_BUF + 0x200, 6, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id1, 0);
	expect_used(x, TXQ, id2, 0);
	expect_no_used(x, TXQ);
	assert_int_equal(x->f.qirq[TXQ], 1);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(drain(x->out[0], buf, sizeof(buf)), 19);
	assert_string_equal(buf, "hello world, again\n");
	get_stats(x, &st);
	assert_int_equal(st.tx_bytes, 19);
	assert_int_equal(st.tx_written, 19);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

static void test_transmit_split(void **state)
{
	transmit_in_order(*state, 0);
}

static void test_transmit_packed(void **state)
{
	transmit_in_order(*state, 1);
}

/* A full output pipe: the vCPU never blocks, TX buffers come back at once,
 * the small buffer keeps order, the rest is dropped and counted. Run with
 * a blocking pipe (poll mode) and a non-blocking one. */
static void transmit_full(struct fix *x, int nonblock)
{
	struct kvmhost_virtio_console_stats st;
	static char big[8192], got[70000];
	size_t n, total = 3 * sizeof(big), out;
	uint16_t id;
	int left = 0;

	if (nonblock)
		fcntl(x->out[1], F_SETFL, O_NONBLOCK);
	make_stdio(x);
	start(x, 0, 0);
	assert_true(fcntl(x->out[1], F_SETPIPE_SZ, 4096) > 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	/* Fill the pipe and the buffer: 3 x 8 KiB, nobody reading. */
	for (int k = 0; k < 3; k++) {
		memcpy(vd_host(&x->f.m, 0x20000 + 0x2000ull * k), big, sizeof(big));
		id = vdf_post1(&x->f, TXQ, 0x20000 + 0x2000ull * k, sizeof(big), 0);
		assert_int_equal(vdf_kick(&x->f, TXQ), 0);
		expect_used(x, TXQ, id, 0);
	}
	get_stats(x, &st);
	assert_int_equal(st.tx_bytes, total);
	assert_true(st.tx_written > 0 && st.tx_written <= 4096);
	assert_int_equal(st.tx_pending, KVMHOST_VIRTIO_CONSOLE_TX_BUFFER);
	assert_int_equal(st.tx_written + st.tx_pending + st.tx_dropped, total);
	out = st.tx_written;
	/* Drain: what went out first, then the buffer follows in order. */
	n = drain(x->out[0], got, sizeof(got));
	assert_int_equal(n, out);
	for (int i = 0; i < 100; i++) {
		left = kvmhost_virtio_console_flush(x->con);
		n += drain(x->out[0], got + n, sizeof(got) - n);
		if (left == 0)
			break;
	}
	assert_int_equal(left, 0);
	assert_int_equal(n, out + KVMHOST_VIRTIO_CONSOLE_TX_BUFFER);
	assert_memory_equal(got, big, n);
	get_stats(x, &st);
	assert_int_equal(st.tx_written, n);
	assert_int_equal(st.tx_pending, 0);
}

static void test_transmit_full_blocking(void **state)
{
	transmit_full(*state, 0);
}

static void test_transmit_full_nonblocking(void **state)
{
	transmit_full(*state, 1);
}

static void test_transmit_broken_fd(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_console_stats st;
	uint16_t id;

	signal(SIGPIPE, SIG_IGN);
	make_stdio(x);
	start(x, 0, 0);
	close(x->out[0]);
	x->out[0] = -1;
	put(x, VDF_BUF, "lost");
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 4, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 4, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	get_stats(x, &st);
	assert_int_equal(st.tx_bytes, 8);
	assert_int_equal(st.tx_dropped, 8);
	assert_int_equal(st.tx_pending, 0);
}

static void test_backend_none(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_console_options o = {.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_NONE};
	struct kvmhost_virtio_console_stats st;
	uint16_t id;

	make(x, &o);
	start(x, 0, 0);
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 100, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	get_stats(x, &st);
	assert_int_equal(st.tx_written, 100);
	assert_int_equal(st.tx_dropped, 0);
}

static void test_backend_file(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_console_options o = {.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_FILE};
	char path[] = "/tmp/kvmhost-console-XXXXXX", buf[32];
	int fd = mkstemp(path);
	uint16_t id;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old contents", 12), 12);
	close(fd);
	o.path = path;
	o.in_fd = 5; /* not read for FILE */
	make(x, &o);
	assert_int_equal(kvmhost_virtio_console_input_fd(x->con), -1);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), -ENODEV);
	start(x, 0, 0);
	put(x, VDF_BUF, "to the file");
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 11, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	kvmhost_virtio_console_destroy(x->con);
	x->con = NULL;
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(fd, buf, sizeof(buf)), 11);
	assert_string_equal(buf, "to the file");
	close(fd);
	unlink(path);
}

/* ---- receive ---- */

static void receive_fills(struct fix *x, int packed)
{
	struct kvmhost_virtio_console_stats st;
	uint16_t id1, id2, id3;

	make_stdio(x);
	start(x, 0, packed);
	memset(vd_host(&x->f.m, VDF_BUF), '.', 0x40);
	id1 = vdf_post1(&x->f, RXQ, VDF_BUF, 8, 1);
	id2 = vdf_post1(&x->f, RXQ, VDF_BUF + 0x10, 8, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(x->ready, 0); /* nothing waited */
	assert_int_equal(kvmhost_virtio_console_rx_room(x->con), 8);
	assert_int_equal(kvmhost_virtio_console_receive(x->con, "0123456789abcdefXYZ", 19), 16);
	expect_used(x, RXQ, id1, 8);
	expect_used(x, RXQ, id2, 8);
	assert_int_equal(x->f.qirq[RXQ], 1);
	expect_bytes(x, VDF_BUF, "01234567........89abcdef.");
	/* No buffers: input waits. */
	assert_int_equal(kvmhost_virtio_console_rx_room(x->con), 0);
	assert_int_equal(kvmhost_virtio_console_receive(x->con, "XYZ", 3), 0);
	/* The guest posts one: rx_ready, once. */
	id3 = vdf_post1(&x->f, RXQ, VDF_BUF + 0x20, 16, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(x->ready, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(x->ready, 1);
	assert_int_equal(kvmhost_virtio_console_receive(x->con, "XYZ", 3), 3);
	expect_used(x, RXQ, id3, 3);
	expect_bytes(x, VDF_BUF + 0x20, "XYZ.");
	get_stats(x, &st);
	assert_int_equal(st.rx_bytes, 19);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

static void test_receive_split(void **state)
{
	receive_fills(*state, 0);
}

static void test_receive_packed(void **state)
{
	receive_fills(*state, 1);
}

static void test_pump_pipe(void **state)
{
	struct fix *x = *state;
	char rest[8];
	uint16_t id;

	make_stdio(x);
	assert_int_equal(kvmhost_virtio_console_input_fd(x->con), x->in[0]);
	/* Not live: nothing read. */
	assert_int_equal(write(x->in[1], "typed", 5), 5);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	start(x, 0, 0);
	/* Live but no buffer: still nothing read. */
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	assert_int_equal(kvmhost_virtio_console_rx_room(x->con), 0);
	id = vdf_post1(&x->f, RXQ, VDF_BUF, 3, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(x->ready, 1);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 3);
	expect_used(x, RXQ, id, 3);
	expect_bytes(x, VDF_BUF, "typ");
	/* Waits again; then two buffers take the rest. */
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	vdf_post1(&x->f, RXQ, VDF_BUF + 0x10, 64, 1);
	vdf_post1(&x->f, RXQ, VDF_BUF + 0x60, 64, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(x->ready, 2);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 2);
	expect_bytes(x, VDF_BUF + 0x10, "ed");
	/* Nothing to read: 0, the buffer stays posted. */
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	assert_int_equal(kvmhost_virtio_console_rx_room(x->con), 64);
	/* End of file. */
	close(x->in[1]);
	x->in[1] = -1;
	assert_int_equal(kvmhost_virtio_console_pump(x->con), -EPIPE);
	assert_non_null(strstr(kvmhost_last_error(), "end of file"));
	assert_int_equal(kvmhost_virtio_console_rx_room(x->con), 64);
	(void)rest;
}

static void test_socket_connected(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_console_options o = {.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET};
	char buf[16];
	int sp[2];
	uint16_t id;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	o.sock_fd = sp[0];
	make(x, &o);
	start(x, 0, 0);
	put(x, VDF_BUF, "out");
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 3, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	assert_int_equal(drain(sp[1], buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "out", 3);
	assert_int_equal(write(sp[1], "in", 2), 2);
	id = vdf_post1(&x->f, RXQ, VDF_BUF + 0x100, 16, 1);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 2);
	expect_used(x, RXQ, id, 2);
	vdf_post1(&x->f, RXQ, VDF_BUF + 0x100, 16, 1);
	close(sp[1]);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), -EPIPE);
	kvmhost_virtio_console_destroy(x->con);
	x->con = NULL;
	close(sp[0]);
}

static void test_socket_listening(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_console_options o = {.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET};
	struct kvmhost_virtio_console_stats st;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t sl;
	char buf[16];
	int ls, cl, fd;
	uint16_t id;

	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(ls >= 0);
	/* Abstract address: nothing on disk. */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "kvmhost-console-test-%d", (int)getpid());
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1));
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sl), 0);
	assert_int_equal(listen(ls, 4), 0);
	o.sock_fd = ls;
	make(x, &o);
	start(x, 0, 0);
	assert_int_equal(kvmhost_virtio_console_input_fd(x->con), ls);
	/* Output before a client: it waits in the buffer. */
	put(x, VDF_BUF, "early");
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 5, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	/* No client yet: pump does nothing. */
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	/* A client connects: the pump accepts it and sends what waited. */
	cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cl, (struct sockaddr *)&sa, sl), 0);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	fd = kvmhost_virtio_console_input_fd(x->con);
	assert_true(fd >= 0 && fd != ls);
	assert_int_equal(drain(cl, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "early", 5);
	/* Input from the client. */
	assert_int_equal(write(cl, "key", 3), 3);
	id = vdf_post1(&x->f, RXQ, VDF_BUF + 0x100, 16, 1);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 3);
	expect_used(x, RXQ, id, 3);
	expect_bytes(x, VDF_BUF + 0x100, "key");
	/* It hangs up: back to listening (seen once a buffer is posted). */
	vdf_post1(&x->f, RXQ, VDF_BUF + 0x100, 16, 1);
	close(cl);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	assert_int_equal(kvmhost_virtio_console_input_fd(x->con), ls);
	/* The next client. */
	cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cl, (struct sockaddr *)&sa, sl), 0);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	assert_int_not_equal(kvmhost_virtio_console_input_fd(x->con), ls);
	put(x, VDF_BUF, "late");
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 4, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	assert_int_equal(drain(cl, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "late", 4);
	get_stats(x, &st);
	assert_int_equal(st.connections, 2);
	/* A client that hangs up while output flows: dropped, next pump goes back to listening. */
	signal(SIGPIPE, SIG_IGN);
	close(cl);
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 4, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	id = vdf_post1(&x->f, TXQ, VDF_BUF, 4, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	assert_int_equal(kvmhost_virtio_console_input_fd(x->con), ls);
	(void)id;
	kvmhost_virtio_console_destroy(x->con);
	x->con = NULL;
	close(ls);
}

/* ---- malformed ---- */

static void test_malformed_rx(void **state)
{
	struct fix *x = *state;
	struct vd_buf b[2] = {{VDF_BUF, 4, 0}, {VDF_BUF + 0x10, 8, 1}};
	char reason[200];

	make_stdio(x);
	start(x, 0, 0);
	memset(vd_host(&x->f.m, VDF_BUF + 0x10), '.', 8);
	vdf_post(&x->f, RXQ, b, 2);
	assert_int_equal(kvmhost_virtio_console_receive(x->con, "abc", 3), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	assert_int_equal(kvmhost_virtio_device_needs_reset(x->f.dev, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "device-readable"));
	expect_bytes(x, VDF_BUF + 0x10, "........");
	expect_no_used(x, RXQ);
	assert_int_equal(kvmhost_virtio_console_rx_room(x->con), 0);
	assert_int_equal(kvmhost_virtio_console_pump(x->con), 0);
	/* Reset and a zero-room buffer: broken again. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, 0, 0);
	vdf_post1(&x->f, RXQ, VDF_BUF, 0, 1);
	assert_int_equal(kvmhost_virtio_console_rx_room(x->con), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	/* Reset: works again. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, 0, 0);
	vdf_post1(&x->f, RXQ, VDF_BUF, 4, 1);
	assert_int_equal(kvmhost_virtio_console_receive(x->con, "abc", 3), 3);
	expect_used(x, RXQ, 0, 3);
}

static void test_malformed_tx(void **state)
{
	struct fix *x = *state;
	struct vd_buf b[2] = {{VDF_BUF, 4, 0}, {VDF_BUF + 0x10, 8, 1}};
	char buf[8];

	make_stdio(x);
	start(x, 0, 1);
	put(x, VDF_BUF, "nope");
	vdf_post(&x->f, TXQ, b, 2);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	assert_int_equal(x->f.cirq, 1);
	assert_int_equal(drain(x->out[0], buf, sizeof(buf)), 0);
	expect_no_used(x, TXQ);
	/* Outside guest memory: the queue breaks, the device survives. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, 0, 0);
	vdf_post1(&x->f, TXQ, VD_HOLE, 4, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	vdf_post1(&x->f, RXQ, VD_RO_GPA, 4, 1);
	assert_int_equal(kvmhost_virtio_console_receive(x->con, "abc", 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_no_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transmit_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transmit_packed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transmit_full_blocking, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transmit_full_nonblocking, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transmit_broken_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backend_none, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backend_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receive_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receive_packed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pump_pipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_connected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_listening, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_rx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_tx, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
