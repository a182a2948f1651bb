/*
 * Unit tests of virtio-net (virtio/net.h) on fake guest memory with the fake
 * transport and driver (unit/virtio_dev_fixture.h), with a SOCK_SEQPACKET
 * socketpair in place of the tap (the FDS backend, with and without the
 * vnet header): transmit layout (header + frame gathered from several
 * buffers, header stripped without vnet), a full backend (request kept,
 * KVMHOST_LOOP_OUT asked, sent later), receive into one buffer and into
 * merged buffers with num_buffers (split and packed rings), a packet that
 * waits for more buffers, drops counted, input waiting without buffers
 * (ready(IN) when they come), malformed buffers (DEVICE_NEEDS_RESET),
 * feature offer and validation, the TUNSETOFFLOAD translation, config MAC /
 * status / MTU, link changes, migration of the link state, reset with a
 * packet held, an event-loop run on kvmhost_loop, and bad arguments.
 * The real TAP backend is tested in tests/kvm/virtio_net_tap_test.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/virtio/net.h>
#include "unit/virtio_dev_fixture.h"

#define RXQ   KVMHOST_VIRTIO_NET_RXQ
#define TXQ   KVMHOST_VIRTIO_NET_TXQ
#define HDR   KVMHOST_VIRTIO_NET_HDR_SIZE
#define NB(b) KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_NET_F_##b)

static const uint8_t test_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

struct fix {
	struct vdf f;
	struct kvmhost_virtio_net *net;
	int sp[2]; /* sp[0]: the device's backend; sp[1]: the test's "tap" */
	int ready_in, ready_out;
};

static void on_ready(void *opaque, uint32_t events)
{
	struct fix *x = opaque;

	if (events & KVMHOST_LOOP_IN)
		x->ready_in++;
	if (events & KVMHOST_LOOP_OUT)
		x->ready_out++;
}

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_int_equal(vd_mem_init(&x->f.m), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x->sp), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	kvmhost_virtio_net_destroy(x->net);
	if (x->sp[0] >= 0)
		close(x->sp[0]);
	if (x->sp[1] >= 0)
		close(x->sp[1]);
	vd_mem_fini(&x->f.m);
	free(x);
	return 0;
}

static void make_opts(struct fix *x, struct kvmhost_virtio_net_options *o, uint32_t flags)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->backend = KVMHOST_VIRTIO_NET_BACKEND_FDS;
	o->rx_fd = o->tx_fd = x->sp[0];
	o->flags = flags;
	memcpy(o->mac, test_mac, 6);
	o->ready = on_ready;
	o->ready_opaque = x;
	o->name = "net0";
}

static void make_with(struct fix *x, struct kvmhost_virtio_net_options *o)
{
	int r = kvmhost_virtio_net_create(x->f.m.mem, o, &x->net);

	if (r < 0)
		print_error("create: %s\n", kvmhost_last_error());
	assert_int_equal(r, 0);
	assert_int_equal(vdf_attach(&x->f, kvmhost_virtio_net_device(x->net)), 0);
}

static void make(struct fix *x, uint32_t flags)
{
	struct kvmhost_virtio_net_options o;

	make_opts(x, &o, flags);
	make_with(x, &o);
}

static void start(struct fix *x, uint64_t features, int packed)
{
	int r = vdf_start(&x->f, features, 2, packed, 16);

	if (r < 0)
		print_error("start: %s\n", kvmhost_last_error());
	assert_int_equal(r, 0);
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

static void get_stats(struct fix *x, struct kvmhost_virtio_net_stats *st)
{
	st->size = sizeof(*st);
	assert_int_equal(kvmhost_virtio_net_get_stats(x->net, st), 0);
}

/* Guest bytes at @gpa, region-crossing safe. */
static void gread(struct fix *x, uint64_t gpa, void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = *vd_host(&x->f.m, gpa + i);
}

static void gwrite(struct fix *x, uint64_t gpa, const void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		*vd_host(&x->f.m, gpa + i) = ((const uint8_t *)buf)[i];
}

static void pattern(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* The "tap" sends a packet to the device. */
static void peer_send(struct fix *x, const void *p, size_t len)
{
	assert_int_equal(send(x->sp[1], p, len, MSG_DONTWAIT), (ssize_t)len);
}

static ssize_t peer_recv(struct fix *x, void *p, size_t cap)
{
	return recv(x->sp[1], p, cap, MSG_DONTWAIT);
}

/* ---- helpers and arguments ---- */

static void test_tun_offloads(void **state)
{
	(void)state;
	assert_int_equal(kvmhost_virtio_net_tun_offloads(0), 0);
	/* Nothing without GUEST_CSUM. */
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(GUEST_TSO4) | NB(GUEST_TSO6) | NB(GUEST_UFO)), 0);
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(GUEST_CSUM)), TUN_F_CSUM);
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(GUEST_CSUM) | NB(GUEST_TSO4)), TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(GUEST_CSUM) | NB(GUEST_TSO6)), TUN_F_CSUM | TUN_F_TSO6);
	/* ECN only with TSO. */
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(GUEST_CSUM) | NB(GUEST_ECN)), TUN_F_CSUM);
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(GUEST_CSUM) | NB(GUEST_TSO4) | NB(GUEST_ECN)),
			 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN);
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(GUEST_CSUM) | NB(GUEST_UFO)), TUN_F_CSUM | TUN_F_UFO);
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(GUEST_CSUM) | NB(GUEST_TSO4) | NB(GUEST_TSO6) |
							 NB(GUEST_ECN) | NB(GUEST_UFO)),
			 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO);
	/* Host-side offloads and other bits do not matter. */
	assert_int_equal(kvmhost_virtio_net_tun_offloads(NB(CSUM) | NB(HOST_TSO4) | NB(HOST_TSO6) | NB(HOST_ECN) |
							 NB(MRG_RXBUF) | NB(MAC) | NB(STATUS) |
							 KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_VERSION_1)),
			 0);
}

static void expect_create_fails(struct fix *x, struct kvmhost_virtio_net_options *o, int err, const char *msg)
{
	struct kvmhost_virtio_net *n = (void *)1;

	assert_int_equal(kvmhost_virtio_net_create(x->f.m.mem, o, &n), err);
	assert_null(n);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_net_create"));
	if (msg && !strstr(kvmhost_last_error(), msg))
		fail_msg("message '%s' lacks '%s'", kvmhost_last_error(), msg);
}

static void test_create_args(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_net_options o;
	struct kvmhost_virtio_net *n = (void *)1;
	struct {
		struct kvmhost_virtio_net_options o;
		uint64_t extra;
	} big;
	struct kvmhost_virtio_net_stats st = {.size = 1};
	char name[16];

	make_opts(x, &o, 0);
	assert_int_equal(kvmhost_virtio_net_create(NULL, &o, &n), -EINVAL);
	assert_null(n);
	assert_int_equal(kvmhost_virtio_net_create(x->f.m.mem, NULL, &n), -EINVAL);
	assert_int_equal(kvmhost_virtio_net_create(x->f.m.mem, &o, NULL), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.o = o;
	big.o.size = sizeof(big);
	big.extra = 1;
	assert_int_equal(kvmhost_virtio_net_create(x->f.m.mem, &big.o, &n), -E2BIG);

	make_opts(x, &o, 0);
	o.backend = 0;
	expect_create_fails(x, &o, -EINVAL, "backend");
	make_opts(x, &o, 0x100);
	expect_create_fails(x, &o, -EINVAL, "flags");
	make_opts(x, &o, 0);
	o.mtu = 67;
	expect_create_fails(x, &o, -EINVAL, "mtu");
	make_opts(x, &o, 0);
	o.queue_size = 2048;
	expect_create_fails(x, &o, -EINVAL, "queue_size");
	make_opts(x, &o, 0);
	o.rx_fd = -1;
	expect_create_fails(x, &o, -EINVAL, "rx_fd");
	make_opts(x, &o, 0);
	o.tx_fd = -1;
	expect_create_fails(x, &o, -EINVAL, "tx_fd");
	make_opts(x, &o, 0);
	o.tx_fd = 1000; /* not open */
	expect_create_fails(x, &o, -EINVAL, "not an open fd");
	make_opts(x, &o, 0);
	o.backend = KVMHOST_VIRTIO_NET_BACKEND_TAP; /* a socket is not a tap */
	expect_create_fails(x, &o, -EINVAL, "not a tap");

	assert_int_equal(kvmhost_virtio_net_tap_open("a-name-far-too-long-for-ifnamsiz", NULL, 0), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_net_tap_open"));
	assert_int_equal(kvmhost_virtio_net_tap_open(NULL, name, 0), -EINVAL);

	assert_null(kvmhost_virtio_net_device(NULL));
	kvmhost_virtio_net_destroy(NULL);
	assert_int_equal(kvmhost_virtio_net_rx(NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_net_rx"));
	assert_int_equal(kvmhost_virtio_net_tx(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_net_wants(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_net_rx_fd(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_net_tx_fd(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_net_set_link(NULL, 1), -EINVAL);
	assert_int_equal(kvmhost_virtio_net_get_stats(NULL, &st), -EINVAL);

	make(x, 0);
	assert_int_equal(kvmhost_virtio_net_rx_fd(x->net), x->sp[0]);
	assert_int_equal(kvmhost_virtio_net_tx_fd(x->net), x->sp[0]);
	assert_true(fcntl(x->sp[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(kvmhost_virtio_net_set_link(x->net, 2), -EINVAL);
	assert_int_equal(kvmhost_virtio_net_get_stats(x->net, NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_net_get_stats(x->net, &st), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "size"));
	/* Not live: rx does nothing and stops asking for input. */
	peer_send(x, "0123456789abcdefghij", 20);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(kvmhost_virtio_net_wants(x->net), 0);
	assert_int_equal(kvmhost_virtio_net_tx(x->net), 0);
}

/* ---- features and config ---- */

static void test_features(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_net_options o;
	uint64_t f, offloads = NB(CSUM) | NB(GUEST_CSUM) | NB(GUEST_TSO4) | NB(GUEST_TSO6) | NB(GUEST_ECN) |
			       NB(GUEST_UFO) | NB(HOST_TSO4) | NB(HOST_TSO6) | NB(HOST_ECN);

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	f = kvmhost_virtio_device_offered_features(x->f.dev);
	assert_int_equal(f & offloads, offloads);
	assert_true(f & NB(MAC));
	assert_true(f & NB(STATUS));
	assert_true(f & NB(MRG_RXBUF));
	assert_false(f & NB(MTU));
	assert_false(f & NB(HOST_UFO));
	assert_true(f & KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED));
	kvmhost_virtio_net_destroy(x->net);

	/* No header on the backend: no offloads. */
	make_opts(x, &o, 0);
	memset(o.mac, 0, 6);
	o.mtu = 9000;
	make_with(x, &o);
	f = kvmhost_virtio_device_offered_features(x->f.dev);
	assert_int_equal(f & offloads, 0);
	assert_false(f & NB(MAC));
	assert_true(f & NB(MTU));
	kvmhost_virtio_net_destroy(x->net);

	make_opts(x, &o, KVMHOST_VIRTIO_NET_VNET_HDR);
	o.disable_features = NB(GUEST_TSO4) | NB(MRG_RXBUF);
	make_with(x, &o);
	f = kvmhost_virtio_device_offered_features(x->f.dev);
	assert_false(f & NB(GUEST_TSO4));
	assert_false(f & NB(MRG_RXBUF));
	assert_true(f & NB(GUEST_TSO6));
}

/* The driver asks for @f: FEATURES_OK is accepted (0) or refused (-EPROTO). */
static int try_features(struct fix *x, uint64_t f)
{
	int r;

	kvmhost_virtio_device_reset(x->f.dev);
	r = vdf_start(&x->f, f, 2, 0, 16);
	return r;
}

static void test_validate(void **state)
{
	struct fix *x = *state;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	assert_int_equal(try_features(x, NB(GUEST_TSO4)), -EPROTO);
	assert_int_equal(try_features(x, NB(GUEST_UFO)), -EPROTO);
	assert_int_equal(try_features(x, NB(GUEST_CSUM) | NB(GUEST_ECN)), -EPROTO);
	assert_int_equal(try_features(x, NB(HOST_TSO6)), -EPROTO);
	assert_int_equal(try_features(x, NB(CSUM) | NB(HOST_ECN)), -EPROTO);
	assert_int_equal(try_features(x, NB(GUEST_CSUM) | NB(GUEST_TSO4) | NB(GUEST_ECN) | NB(CSUM) | NB(HOST_TSO4) |
					     NB(HOST_ECN) | NB(MRG_RXBUF) | NB(MAC) | NB(STATUS)),
			 0);
	assert_int_equal(kvmhost_virtio_device_driver_features(x->f.dev) & NB(GUEST_ECN), NB(GUEST_ECN));
}

static void test_config(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_net_options o;
	uint8_t cfg[KVMHOST_VIRTIO_NET_CONFIG_SIZE];
	uint32_t gen;

	make_opts(x, &o, 0);
	o.mtu = 1400;
	make_with(x, &o);
	assert_int_equal(kvmhost_virtio_device_config_size(x->f.dev), 12);
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 0, cfg, sizeof(cfg)), 0);
	assert_memory_equal(cfg, test_mac, 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, KVMHOST_VIRTIO_NET_S_LINK_UP);
	assert_int_equal(cfg[8] | cfg[9] << 8, 1);
	assert_int_equal(cfg[10] | cfg[11] << 8, 1400);
	assert_int_equal(kvmhost_virtio_device_config_write(x->f.dev, 0, cfg, 6), -EROFS);
	start(x, NB(STATUS) | NB(MAC) | NB(MTU), 0);
	gen = kvmhost_virtio_device_config_generation(x->f.dev);
	assert_int_equal(kvmhost_virtio_net_set_link(x->net, 0), 0);
	assert_int_equal(x->f.cirq, 1);
	assert_int_not_equal(kvmhost_virtio_device_config_generation(x->f.dev), gen);
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 6, cfg, 2), 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, 0);
	assert_int_equal(kvmhost_virtio_net_set_link(x->net, 1), 0);
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 6, cfg, 2), 0);
	assert_int_equal(cfg[0], KVMHOST_VIRTIO_NET_S_LINK_UP);
	kvmhost_virtio_net_destroy(x->net);

	make_opts(x, &o, KVMHOST_VIRTIO_NET_LINK_DOWN);
	make_with(x, &o);
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 6, cfg, 2), 0);
	assert_int_equal(cfg[0] | cfg[1] << 8, 0);
}

static void test_migrate_link(void **state)
{
	struct fix *x = *state;
	uint8_t *blob;
	uint8_t cfg[2];
	int size;

	make(x, 0);
	start(x, NB(STATUS), 0);
	assert_int_equal(kvmhost_virtio_net_set_link(x->net, 0), 0);
	size = kvmhost_virtio_device_state_size(x->f.dev);
	assert_true(size > 0);
	blob = malloc((size_t)size);
	assert_non_null(blob);
	assert_int_equal(kvmhost_virtio_device_save(x->f.dev, blob, (size_t)size), size);
	assert_int_equal(kvmhost_virtio_net_set_link(x->net, 1), 0);
	assert_int_equal(kvmhost_virtio_device_restore(x->f.dev, blob, (size_t)size), 0);
	assert_int_equal(kvmhost_virtio_device_config_read(x->f.dev, 6, cfg, 2), 0);
	assert_int_equal(cfg[0], 0);
	/* A corrupt device part is refused. */
	blob[size - 3] = 7;
	assert_true(kvmhost_virtio_device_restore(x->f.dev, blob, (size_t)size) < 0);
	free(blob);
}

/* ---- transmit ---- */

static void transmit_layout(struct fix *x, int vnet, int packed)
{
	uint8_t hdr[HDR] = {1, 1, 54, 0, 0xdc, 5, 34, 0, 16, 0, 0xaa, 0xbb}; /* NEEDS_CSUM, TCPv4 GSO */
	uint8_t frame[300], got[1024];
	struct vd_buf b[3] = {
	    {VDF_BUF, HDR, 0}, {VDF_BUF + 0x100, 100, 0}, {VD_B_GPA - 50, 200, 0}, /* crosses regions */
	};
	struct kvmhost_virtio_net_stats st;
	uint16_t id;
	ssize_t n;

	make(x, vnet ? KVMHOST_VIRTIO_NET_VNET_HDR : 0);
	start(x, vnet ? NB(CSUM) | NB(HOST_TSO4) : 0, packed);
	pattern(frame, sizeof(frame), 3);
	gwrite(x, VDF_BUF, hdr, HDR);
	gwrite(x, VDF_BUF + 0x100, frame, 100);
	gwrite(x, VD_B_GPA - 50, frame + 100, 200);
	id = vdf_post(&x->f, TXQ, b, 3);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	assert_int_equal(x->f.qirq[TXQ], 1);
	n = peer_recv(x, got, sizeof(got));
	if (vnet) {
		assert_int_equal(n, HDR + 300);
		assert_memory_equal(got, hdr, HDR);
		assert_memory_equal(got + HDR, frame, 300);
	} else {
		assert_int_equal(n, 300);
		assert_memory_equal(got, frame, 300);
	}
	assert_true(peer_recv(x, got, sizeof(got)) < 0);

	/* Header and frame in one buffer. */
	gwrite(x, VDF_BUF + 0x400, hdr, HDR);
	gwrite(x, VDF_BUF + 0x400 + HDR, frame, 60);
	id = vdf_post1(&x->f, TXQ, VDF_BUF + 0x400, HDR + 60, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	n = peer_recv(x, got, sizeof(got));
	assert_int_equal(n, vnet ? HDR + 60 : 60);
	assert_memory_equal(got + (vnet ? HDR : 0), frame, 60);
	get_stats(x, &st);
	assert_int_equal(st.tx_packets, 2);
	assert_int_equal(st.tx_bytes, 360);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

static void test_tx_vnet_split(void **state)
{
	transmit_layout(*state, 1, 0);
}

static void test_tx_vnet_packed(void **state)
{
	transmit_layout(*state, 1, 1);
}

static void test_tx_bare(void **state)
{
	transmit_layout(*state, 0, 0);
}

static void test_tx_malformed(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_net_stats st;
	char reason[200];
	uint8_t got[64];
	uint16_t id;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, 0, 0);
	/* A header alone (empty frame): dropped and counted, not fatal. */
	memset(vd_host(&x->f.m, VDF_BUF), 0, 64);
	id = vdf_post1(&x->f, TXQ, VDF_BUF, HDR, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	get_stats(x, &st);
	assert_int_equal(st.tx_dropped, 1);
	assert_true(peer_recv(x, got, sizeof(got)) < 0);
	/* Shorter than the header: the queue breaks. */
	vdf_post1(&x->f, TXQ, VDF_BUF, HDR - 1, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_no_used(x, TXQ);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	assert_int_equal(kvmhost_virtio_device_needs_reset(x->f.dev, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "header"));
	assert_true(peer_recv(x, got, sizeof(got)) < 0);
	assert_int_equal(kvmhost_virtio_net_tx(x->net), 0);
	/* A reset brings it back. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, 0, 0);
	vdf_post1(&x->f, TXQ, VDF_BUF, HDR + 20, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, 0, 0);
	assert_int_equal(peer_recv(x, got, sizeof(got)), HDR + 20);
}

/* The backend refuses packets (its peer is gone): dropped and counted, no
 * SIGPIPE, the guest's requests still come back. */
static void test_tx_peer_gone(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_net_stats st;
	uint16_t id;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, 0, 0);
	close(x->sp[1]);
	x->sp[1] = -1;
	memset(vd_host(&x->f.m, VDF_BUF), 0, 64);
	id = vdf_post1(&x->f, TXQ, VDF_BUF, HDR + 40, 0);
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	expect_used(x, TXQ, id, 0);
	get_stats(x, &st);
	assert_int_equal(st.tx_dropped, 1);
	assert_int_equal(st.tx_packets, 0);
	assert_false(kvmhost_virtio_net_wants(x->net) & KVMHOST_LOOP_OUT);
}

static void test_tx_blocked(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_net_stats st;
	static uint8_t got[70000];
	int sndbuf = 4096, sent = 0, drained = 0;
	uint32_t id, len;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, 0, 0);
	assert_int_equal(setsockopt(x->sp[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	memset(vd_host(&x->f.m, 0x20000), 0, 0x10000);
	/* Post big packets until the socket is full. */
	for (int i = 0; i < 15 && !(kvmhost_virtio_net_wants(x->net) & KVMHOST_LOOP_OUT); i++) {
		vdf_post1(&x->f, TXQ, 0x20000, HDR + 3000, 0);
		assert_int_equal(vdf_kick(&x->f, TXQ), 0);
		while (vdf_used(&x->f, TXQ, &id, &len))
			sent++;
	}
	assert_true(kvmhost_virtio_net_wants(x->net) & KVMHOST_LOOP_OUT);
	assert_int_equal(x->ready_out, 1);
	get_stats(x, &st);
	assert_int_equal(st.tx_blocked, 1);
	assert_int_equal(st.tx_packets, (uint64_t)sent);
	/* Another kick while blocked: still waiting, no second callback. */
	assert_int_equal(vdf_kick(&x->f, TXQ), 0);
	assert_int_equal(x->ready_out, 1);
	expect_no_used(x, TXQ);
	/* The reader catches up; the embedder calls tx(). */
	while (peer_recv(x, got, sizeof(got)) > 0)
		drained++;
	assert_int_equal(drained, sent);
	assert_int_equal(kvmhost_virtio_net_tx(x->net), 1);
	assert_int_equal(vdf_used(&x->f, TXQ, &id, &len), 1);
	assert_false(kvmhost_virtio_net_wants(x->net) & KVMHOST_LOOP_OUT);
	assert_int_equal(peer_recv(x, got, sizeof(got)), HDR + 3000);
	get_stats(x, &st);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(st.tx_packets, (uint64_t)sent + 1);
}

/* ---- receive ---- */

static uint16_t get16(struct fix *x, uint64_t gpa)
{
	uint8_t b[2];

	gread(x, gpa, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static void test_rx_single(void **state)
{
	struct fix *x = *state;
	uint8_t pkt[HDR + 100], got[HDR + 100];
	struct kvmhost_virtio_net_stats st;
	uint16_t id;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, 0, 0);
	memset(vd_host(&x->f.m, VDF_BUF), 0xee, 0x400);
	id = vdf_post1(&x->f, RXQ, VDF_BUF, 1526, 1);
	memset(pkt, 0, HDR);
	pkt[0] = 2;	/* DATA_VALID */
	pkt[10] = 0x77; /* num_buffers from the backend is overwritten */
	pattern(pkt + HDR, 100, 9);
	peer_send(x, pkt, sizeof(pkt));
	assert_int_equal(kvmhost_virtio_net_wants(x->net), KVMHOST_LOOP_IN);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
	expect_used(x, RXQ, id, HDR + 100);
	assert_int_equal(x->f.qirq[RXQ], 1);
	gread(x, VDF_BUF, got, sizeof(got));
	assert_int_equal(got[0], 2);
	assert_int_equal(get16(x, VDF_BUF + 10), 1);
	assert_memory_equal(got + HDR, pkt + HDR, 100);
	assert_int_equal(*vd_host(&x->f.m, VDF_BUF + HDR + 100), 0xee);
	/* Nothing more in the backend: 0, still wants input. */
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(kvmhost_virtio_net_wants(x->net), 0); /* and no buffer posted any more */
	get_stats(x, &st);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.rx_bytes, 100);
	assert_int_equal(st.rx_buffers, 1);
}

static void test_rx_bare(void **state)
{
	struct fix *x = *state;
	uint8_t frame[60], hdr[HDR], zero[HDR];
	uint16_t id;

	make(x, 0);
	start(x, 0, 0);
	memset(vd_host(&x->f.m, VDF_BUF), 0xee, 0x100);
	/* The header split over two buffers of one chain. */
	{
		struct vd_buf b[2] = {{VDF_BUF, 5, 1}, {VDF_BUF + 0x40, 200, 1}};

		id = vdf_post(&x->f, RXQ, b, 2);
	}
	pattern(frame, sizeof(frame), 1);
	peer_send(x, frame, sizeof(frame));
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
	expect_used(x, RXQ, id, HDR + 60);
	gread(x, VDF_BUF, hdr, 5);
	gread(x, VDF_BUF + 0x40, hdr + 5, HDR - 5);
	memset(zero, 0, HDR);
	zero[10] = 1; /* num_buffers */
	assert_memory_equal(hdr, zero, HDR);
	{
		uint8_t got[60];

		gread(x, VDF_BUF + 0x40 + HDR - 5, got, 60);
		assert_memory_equal(got, frame, 60);
	}
}

static void rx_merged(struct fix *x, int packed)
{
	uint8_t pkt[HDR + 250], got[HDR + 250];
	struct kvmhost_virtio_net_stats st;
	uint16_t id[3];

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, NB(MRG_RXBUF), packed);
	id[0] = vdf_post1(&x->f, RXQ, VDF_BUF, 100, 1);
	id[1] = vdf_post1(&x->f, RXQ, VD_B_GPA - 40, 100, 1); /* crosses regions */
	id[2] = vdf_post1(&x->f, RXQ, VDF_BUF + 0x200, 100, 1);
	memset(pkt, 0, HDR);
	pkt[1] = 1;
	pattern(pkt + HDR, 250, 5);
	peer_send(x, pkt, sizeof(pkt));
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
	expect_used(x, RXQ, id[0], 100);
	expect_used(x, RXQ, id[1], 100);
	expect_used(x, RXQ, id[2], 62);
	expect_no_used(x, RXQ);
	assert_int_equal(x->f.qirq[RXQ], 1);
	gread(x, VDF_BUF, got, 100);
	gread(x, VD_B_GPA - 40, got + 100, 100);
	gread(x, VDF_BUF + 0x200, got + 200, 62);
	assert_int_equal(got[10] | got[11] << 8, 3);
	got[10] = got[11] = 0;
	assert_memory_equal(got, pkt, sizeof(pkt));
	get_stats(x, &st);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.rx_buffers, 3);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

static void test_rx_merged_split(void **state)
{
	rx_merged(*state, 0);
}

static void test_rx_merged_packed(void **state)
{
	rx_merged(*state, 1);
}

/* The guest runs out of buffers mid-packet: it waits, held, until more come. */
static void test_rx_merged_waits(void **state)
{
	struct fix *x = *state;
	static uint8_t pkt[HDR + 4000], got[HDR + 4000];
	uint16_t id[3];

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, NB(MRG_RXBUF), 0);
	id[0] = vdf_post1(&x->f, RXQ, 0x20000, 1500, 1);
	memset(pkt, 0, HDR);
	pattern(pkt + HDR, 4000, 11);
	peer_send(x, pkt, sizeof(pkt));
	peer_send(x, pkt, 100); /* a second, small one behind it */
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	expect_no_used(x, RXQ);
	assert_int_equal(kvmhost_virtio_net_wants(x->net), 0);
	id[1] = vdf_post1(&x->f, RXQ, 0x21000, 1500, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	expect_no_used(x, RXQ);
	assert_int_equal(x->ready_in, 0); /* still short */
	id[2] = vdf_post1(&x->f, RXQ, 0x22000, 1500, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	/* The kick completed it. */
	expect_used(x, RXQ, id[0], 1500);
	expect_used(x, RXQ, id[1], 1500);
	expect_used(x, RXQ, id[2], HDR + 4000 - 3000);
	assert_int_equal(x->ready_in, 1);
	assert_int_equal(kvmhost_virtio_net_wants(x->net), KVMHOST_LOOP_IN);
	gread(x, 0x20000, got, 1500);
	gread(x, 0x21000, got + 1500, 1500);
	gread(x, 0x22000, got + 3000, HDR + 4000 - 3000);
	assert_int_equal(got[10], 3);
	got[10] = 0;
	assert_memory_equal(got, pkt, sizeof(pkt));
	/* The small one follows; rx() itself also finishes a packet that
	 * waited (buffers posted without a kick). */
	id[0] = vdf_post1(&x->f, RXQ, 0x23000, 1500, 1);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
	expect_used(x, RXQ, id[0], 100);
	peer_send(x, pkt, sizeof(pkt));
	id[0] = vdf_post1(&x->f, RXQ, 0x20000, 2000, 1);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	id[1] = vdf_post1(&x->f, RXQ, 0x21000, 2000, 1);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	id[2] = vdf_post1(&x->f, RXQ, 0x22000, 2000, 1);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
	expect_used(x, RXQ, id[0], 2000);
	expect_used(x, RXQ, id[1], 2000);
	expect_used(x, RXQ, id[2], HDR + 4000 - 4000);
	assert_int_equal(*vd_host(&x->f.m, 0x20000 + 10), 3);
}

static void test_rx_too_big(void **state)
{
	struct fix *x = *state;
	static uint8_t pkt[HDR + 2000];
	struct kvmhost_virtio_net_stats st;
	uint16_t id;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, 0, 0); /* no MRG_RXBUF */
	id = vdf_post1(&x->f, RXQ, VDF_BUF, 1000, 1);
	memset(pkt, 0, sizeof(pkt));
	peer_send(x, pkt, sizeof(pkt)); /* does not fit: dropped */
	peer_send(x, pkt, 8);		/* a runt without its header: dropped */
	peer_send(x, pkt, HDR + 50);	/* fits */
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
	expect_used(x, RXQ, id, HDR + 50);
	get_stats(x, &st);
	assert_int_equal(st.rx_dropped, 2);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

static void test_rx_no_buffers(void **state)
{
	struct fix *x = *state;
	uint8_t pkt[HDR + 20] = {0};
	uint16_t id;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, 0, 1);
	peer_send(x, pkt, sizeof(pkt));
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(kvmhost_virtio_net_wants(x->net), 0);
	assert_int_equal(x->ready_in, 0);
	/* The packet is still in the backend. */
	assert_int_equal(recv(x->sp[0], pkt, sizeof(pkt), MSG_PEEK | MSG_DONTWAIT), (ssize_t)sizeof(pkt));
	id = vdf_post1(&x->f, RXQ, VDF_BUF, 1526, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(x->ready_in, 1);
	assert_int_equal(kvmhost_virtio_net_wants(x->net), KVMHOST_LOOP_IN);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
	expect_used(x, RXQ, id, sizeof(pkt));
	/* That rx() used the last buffer: it stalled again. */
	assert_int_equal(kvmhost_virtio_net_wants(x->net), 0);
	vdf_post1(&x->f, RXQ, VDF_BUF + 0x800, 1526, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(x->ready_in, 2);
	/* An rx() that finds buffers but no packet does not stall: later
	 * kicks do not call back. */
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(kvmhost_virtio_net_wants(x->net), KVMHOST_LOOP_IN);
	vdf_post1(&x->f, RXQ, VDF_BUF + 0x1000, 1526, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(x->ready_in, 2);
}

static void test_rx_budget(void **state)
{
	struct fix *x = *state;
	uint8_t pkt[HDR + 10] = {0};
	uint32_t id, len;
	int got = 0;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	assert_int_equal(vdf_start(&x->f, 0, 2, 0, 128), 0);
	for (int i = 0; i < 100; i++) {
		vdf_post1(&x->f, RXQ, VDF_BUF + 0x40ull * i, 64, 1);
		peer_send(x, pkt, sizeof(pkt));
	}
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 64);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 36);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	while (vdf_used(&x->f, RXQ, &id, &len))
		got++;
	assert_int_equal(got, 100);
}

static void test_rx_malformed(void **state)
{
	struct fix *x = *state;
	uint8_t pkt[HDR + 20] = {0};
	struct vd_buf b[2] = {{VDF_BUF, 16, 0}, {VDF_BUF + 0x100, 1500, 1}};
	char reason[200];

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, 0, 0);
	peer_send(x, pkt, sizeof(pkt));
	vdf_post(&x->f, RXQ, b, 2);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	assert_int_equal(kvmhost_virtio_device_needs_reset(x->f.dev, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "device-readable"));
	expect_no_used(x, RXQ);
	/* Too small for the header. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, 0, 0);
	vdf_post1(&x->f, RXQ, VDF_BUF, HDR - 1, 1);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	/* With MRG_RXBUF, a small follow-up buffer. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, NB(MRG_RXBUF), 0);
	vdf_post1(&x->f, RXQ, VDF_BUF, 16, 1);
	vdf_post1(&x->f, RXQ, VDF_BUF + 0x100, 4, 1);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	expect_no_used(x, RXQ);
	/* Outside guest memory. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, 0, 0);
	peer_send(x, pkt, sizeof(pkt));
	vdf_post1(&x->f, RXQ, VD_RO_GPA, 1500, 1);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	/* Recovered after a reset: the packet is still there. */
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, 0, 0);
	vdf_post1(&x->f, RXQ, VDF_BUF, 1500, 1);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
}

/* All buffers of the queue held and the packet still does not fit. */
static void test_rx_buffers_too_small(void **state)
{
	struct fix *x = *state;
	static uint8_t pkt[HDR + 2000];

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	assert_int_equal(vdf_start(&x->f, NB(MRG_RXBUF), 2, 0, 8), 0);
	for (int i = 0; i < 8; i++)
		vdf_post1(&x->f, RXQ, VDF_BUF + 0x100ull * i, 64, 1);
	peer_send(x, pkt, sizeof(pkt));
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(vdf_needs_reset(&x->f), 1);
	expect_no_used(x, RXQ);
}

static void test_rx_eof(void **state)
{
	struct fix *x = *state;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, 0, 0);
	vdf_post1(&x->f, RXQ, VDF_BUF, 1500, 1);
	close(x->sp[1]);
	x->sp[1] = -1;
	assert_int_equal(kvmhost_virtio_net_rx(x->net), -EPIPE);
	assert_non_null(strstr(kvmhost_last_error(), "end of file"));
	expect_no_used(x, RXQ);
}

/* A reset while a packet is held: the held buffers are dropped at the next
 * DRIVER_OK, and receive works on the new rings. */
static void test_rx_reset_pending(void **state)
{
	struct fix *x = *state;
	static uint8_t pkt[HDR + 3000];
	uint16_t id;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	start(x, NB(MRG_RXBUF), 0);
	vdf_post1(&x->f, RXQ, VDF_BUF, 1500, 1);
	peer_send(x, pkt, sizeof(pkt));
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 0);
	assert_int_equal(kvmhost_virtq_in_flight(kvmhost_virtio_device_queue(x->f.dev, RXQ)), 1);
	kvmhost_virtio_device_reset(x->f.dev);
	start(x, NB(MRG_RXBUF), 1);
	assert_int_equal(kvmhost_virtq_in_flight(kvmhost_virtio_device_queue(x->f.dev, RXQ)), 0);
	id = vdf_post1(&x->f, RXQ, VDF_BUF, 1500, 1);
	peer_send(x, pkt, 100);
	assert_int_equal(kvmhost_virtio_net_rx(x->net), 1);
	expect_used(x, RXQ, id, 100);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

/* ---- threads: a receive worker, transmit kicks and the driver at once ---- */

struct thr {
	struct fix *x;
	atomic_int stop;
	int rx_calls;
};

static void *rx_worker(void *opaque)
{
	struct thr *t = opaque;

	while (!atomic_load(&t->stop)) {
		struct pollfd p = {.fd = t->x->sp[0], .events = POLLIN};

		if (poll(&p, 1, 10) > 0 && kvmhost_virtio_net_rx(t->x->net) < 0)
			return (void *)1;
		t->rx_calls++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fix *x = *state;
	struct thr t = {.x = x};
	enum { N = 2000, SLOTS = 32 };
	uint8_t pkt[HDR + 64], got[HDR + 64];
	int sent = 0, received = 0, posted = 0, txsent = 0, txdone = 0;
	pthread_t th;
	void *ret;

	make(x, KVMHOST_VIRTIO_NET_VNET_HDR);
	assert_int_equal(vdf_start(&x->f, NB(MRG_RXBUF), 2, 0, 64), 0);
	assert_int_equal(pthread_create(&th, NULL, rx_worker, &t), 0);
	memset(pkt, 0, sizeof(pkt));
	memset(vd_host(&x->f.m, 0x40000), 0, HDR + 64);
	for (int spin = 0; (received < N || txdone < N) && spin < 2000000; spin++) {
		uint32_t id, len;

		/* Driver: keep SLOTS receive buffers posted (descriptor i = slot i). */
		while (posted - received < SLOTS && posted < N) {
			uint16_t d = (uint16_t)(posted % SLOTS);

			vd_split_desc(&x->f.q[RXQ], d, 0x20000 + 0x100ull * d, 0x100, VD_F_WRITE, 0);
			vd_split_publish(&x->f.q[RXQ], d);
			posted++;
			assert_int_equal(vdf_kick(&x->f, RXQ), 0);
		}
		/* The "tap" sends, a bit ahead of the buffers. */
		if (sent < N && sent - received < 2 * SLOTS) {
			pkt[HDR] = (uint8_t)sent;
			peer_send(x, pkt, sizeof(pkt));
			sent++;
		}
		while (vdf_used(&x->f, RXQ, &id, &len)) {
			assert_int_equal(id, received % SLOTS);
			assert_int_equal(len, sizeof(got));
			memcpy(got, vd_host(&x->f.m, 0x20000 + 0x100ull * id), sizeof(got));
			assert_int_equal(got[HDR], (uint8_t)received);
			assert_int_equal(got[10], 1);
			received++;
		}
		/* Transmit from this thread meanwhile (descriptors 32..63). */
		if (txsent < N && txsent - txdone < SLOTS) {
			uint16_t d = (uint16_t)(SLOTS + txsent % SLOTS);

			vd_split_desc(&x->f.q[TXQ], d, 0x40000, HDR + 64, 0, 0);
			vd_split_publish(&x->f.q[TXQ], d);
			txsent++;
			assert_int_equal(vdf_kick(&x->f, TXQ), 0);
		}
		while (vdf_used(&x->f, TXQ, &id, &len))
			txdone++;
		while (peer_recv(x, got, sizeof(got)) > 0)
			;
	}
	atomic_store(&t.stop, 1);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
	assert_int_equal(received, N);
	assert_int_equal(txdone, N);
	assert_int_equal(vdf_needs_reset(&x->f), 0);
}

/* ---- an event loop drives it ---- */

struct loop_ctx {
	struct fix *x;
	struct kvmhost_loop *loop;
	int watching;
	int delivered;
};

static void loop_rx(int fd, uint32_t events, void *opaque)
{
	struct loop_ctx *c = opaque;
	int r = kvmhost_virtio_net_rx(c->x->net);

	(void)events;
	assert_true(r >= 0);
	c->delivered += r;
	if (!(kvmhost_virtio_net_wants(c->x->net) & KVMHOST_LOOP_IN)) {
		assert_int_equal(kvmhost_loop_remove(c->loop, fd), 0);
		c->watching = 0;
		/* It may have become ready meanwhile. */
		if (kvmhost_virtio_net_wants(c->x->net) & KVMHOST_LOOP_IN) {
			assert_int_equal(kvmhost_loop_add(c->loop, fd, KVMHOST_LOOP_IN, loop_rx, c), 0);
			c->watching = 1;
		}
	}
}

static struct loop_ctx *g_loop_ctx;

static void loop_ready(void *opaque, uint32_t events)
{
	struct loop_ctx *c = g_loop_ctx;

	(void)opaque;
	if ((events & KVMHOST_LOOP_IN) && !c->watching) {
		assert_int_equal(kvmhost_loop_add(c->loop, c->x->sp[0], KVMHOST_LOOP_IN, loop_rx, c), 0);
		c->watching = 1;
	}
}

static void test_loop(void **state)
{
	struct fix *x = *state;
	struct kvmhost_virtio_net_options o;
	struct loop_ctx c = {.x = x};
	uint8_t pkt[HDR + 40] = {0};
	uint32_t id, len;
	int used = 0;

	g_loop_ctx = &c;
	assert_int_equal(kvmhost_loop_create(&c.loop), 0);
	make_opts(x, &o, KVMHOST_VIRTIO_NET_VNET_HDR);
	o.ready = loop_ready;
	make_with(x, &o);
	start(x, 0, 0);
	assert_int_equal(kvmhost_loop_add(c.loop, x->sp[0], KVMHOST_LOOP_IN, loop_rx, &c), 0);
	c.watching = 1;
	for (int i = 0; i < 5; i++)
		peer_send(x, pkt, sizeof(pkt));
	vdf_post1(&x->f, RXQ, VDF_BUF, 1500, 1);
	vdf_post1(&x->f, RXQ, VDF_BUF + 0x800, 1500, 1);
	/* Two delivered, then the loop stops watching (no spinning). */
	for (int i = 0; i < 5; i++)
		assert_true(kvmhost_loop_run_once(c.loop, 0) >= 0);
	assert_int_equal(c.delivered, 2);
	assert_int_equal(c.watching, 0);
	assert_int_equal(kvmhost_loop_run_once(c.loop, 0), 0);
	/* The guest posts three more: the callback re-arms the loop. */
	for (int i = 0; i < 3; i++)
		vdf_post1(&x->f, RXQ, VDF_BUF + 0x1000 + 0x800ull * i, 1500, 1);
	assert_int_equal(vdf_kick(&x->f, RXQ), 0);
	assert_int_equal(c.watching, 1);
	for (int i = 0; i < 5 && c.delivered < 5; i++)
		assert_true(kvmhost_loop_run_once(c.loop, 100) >= 0);
	assert_int_equal(c.delivered, 5);
	while (vdf_used(&x->f, RXQ, &id, &len))
		used++;
	assert_int_equal(used, 5);
	kvmhost_loop_destroy(c.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tun_offloads),
	    cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_features, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_vnet_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_vnet_packed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_bare, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_peer_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_blocked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_single, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_bare, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_merged_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_merged_packed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_merged_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_no_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffers_too_small, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_reset_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
