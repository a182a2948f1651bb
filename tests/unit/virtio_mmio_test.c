/*
 * Unit tests of the virtio-mmio transport (virtio/mmio.h), no KVM: a fake
 * framework device on fake guest memory behind the transport on a
 * standalone MMIO bus, with the test acting as the guest driver through bus
 * reads and writes: identity registers, the Linux init sequence (reset,
 * ACKNOWLEDGE, DRIVER, feature negotiation with refusals, FEATURES_OK, queue
 * setup, DRIVER_OK), a kick reaching the device, the used-buffer interrupt
 * raising the line and the ACK lowering it, config space of every width,
 * config-change interrupts, reset, the kernel command-line fragment, and
 * every malformed access (wrong width, misaligned, write-only and read-only
 * registers, holes, past the config space) staying harmless. Bad arguments
 * to every public function give a negative errno and a message.
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
#include <kvmhost/irq_line.h>
#include <kvmhost/virtio/mmio.h>
#include <kvmhost/virtio/wiring.h>
#include "unit/virtio_transport_fake.h"

#define BASE  0xd0000000ull
#define R(x)  KVMHOST_VIRTIO_MMIO_##x
#define S_ACK KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV KVMHOST_VIRTIO_STATUS_DRIVER
#define S_FOK KVMHOST_VIRTIO_STATUS_FEATURES_OK
#define S_DOK KVMHOST_VIRTIO_STATUS_DRIVER_OK

struct fix {
	struct fake_dev fd;
	struct kvmhost_bus *bus;
	struct kvmhost_irq_line *line;
	struct fake_line fl;
	struct kvmhost_virtio_mmio *mmio;
	struct vd_queue q;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};
	struct kvmhost_virtio_mmio_options mo = {.size = sizeof(mo)};

	assert_non_null(f);
	assert_int_equal(fake_init(&f->fd), 0);
	assert_int_equal(kvmhost_bus_create("mmio", &f->bus), 0);
	lo.set_level = fake_line_set;
	lo.opaque = &f->fl;
	assert_int_equal(kvmhost_irq_line_create(&lo, &f->line), 0);
	mo.vendor_id = 0x554d4551;
	mo.irq = f->line;
	assert_int_equal(kvmhost_virtio_mmio_create(f->fd.dev, &mo, &f->mmio), 0);
	assert_int_equal(kvmhost_virtio_mmio_attach(f->mmio, f->bus, BASE), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	kvmhost_virtio_mmio_destroy(f->mmio);
	kvmhost_irq_line_destroy(f->line);
	kvmhost_bus_destroy(f->bus);
	fake_fini(&f->fd);
	free(f);
	return 0;
}

static uint32_t r32(struct fix *f, uint64_t off)
{
	uint32_t v = 0;

	assert_int_equal(kvmhost_bus_read(f->bus, BASE + off, &v, 4), 0);
	return v;
}

static void w32(struct fix *f, uint64_t off, uint32_t v)
{
	assert_int_equal(kvmhost_bus_write(f->bus, BASE + off, &v, 4), 0);
}

static uint64_t rn(struct fix *f, uint64_t off, uint32_t len)
{
	uint64_t v = 0;

	assert_int_equal(kvmhost_bus_read(f->bus, BASE + off, &v, len), 0);
	return v;
}

static void wn(struct fix *f, uint64_t off, uint64_t v, uint32_t len)
{
	assert_int_equal(kvmhost_bus_write(f->bus, BASE + off, &v, len), 0);
}

static uint64_t features(struct fix *f)
{
	w32(f, R(DEVICE_FEATURES_SEL), 1);
	uint64_t hi = r32(f, R(DEVICE_FEATURES));
	w32(f, R(DEVICE_FEATURES_SEL), 0);
	return hi << 32 | r32(f, R(DEVICE_FEATURES));
}

static void write_features(struct fix *f, uint64_t v)
{
	w32(f, R(DRIVER_FEATURES_SEL), 1);
	w32(f, R(DRIVER_FEATURES), (uint32_t)(v >> 32));
	w32(f, R(DRIVER_FEATURES_SEL), 0);
	w32(f, R(DRIVER_FEATURES), (uint32_t)v);
}

/* Reset, ACKNOWLEDGE, DRIVER, negotiate @want; returns the status read back. */
static uint32_t negotiate(struct fix *f, uint64_t want)
{
	w32(f, R(STATUS), 0);
	assert_int_equal(r32(f, R(STATUS)), 0);
	w32(f, R(STATUS), S_ACK);
	w32(f, R(STATUS), S_ACK | S_DRV);
	write_features(f, want);
	w32(f, R(STATUS), S_ACK | S_DRV | S_FOK);
	return r32(f, R(STATUS));
}

/* Set up queue @qi as Linux's vm_setup_vq() does. */
static void setup_queue(struct fix *f, uint32_t qi, uint32_t size)
{
	vd_queue_init(&f->q, &f->fd.m, 0, size);
	w32(f, R(QUEUE_SEL), qi);
	assert_int_equal(r32(f, R(QUEUE_READY)), 0);
	assert_int_equal(r32(f, R(QUEUE_NUM_MAX)), FAKE_QMAX);
	w32(f, R(QUEUE_NUM), size);
	w32(f, R(QUEUE_DESC_LOW), (uint32_t)f->q.desc);
	w32(f, R(QUEUE_DESC_HIGH), (uint32_t)(f->q.desc >> 32));
	w32(f, R(QUEUE_DRIVER_LOW), (uint32_t)f->q.driver);
	w32(f, R(QUEUE_DRIVER_HIGH), (uint32_t)(f->q.driver >> 32));
	w32(f, R(QUEUE_DEVICE_LOW), (uint32_t)f->q.device);
	w32(f, R(QUEUE_DEVICE_HIGH), (uint32_t)(f->q.device >> 32));
	w32(f, R(QUEUE_READY), 1);
	assert_int_equal(r32(f, R(QUEUE_READY)), 1);
}

static void bring_up(struct fix *f)
{
	assert_int_equal(negotiate(f, FAKE_F_VERSION | FAKE_F_A), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 16);
	w32(f, R(STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(r32(f, R(STATUS)), S_ACK | S_DRV | S_FOK | S_DOK);
}

/* ---- tests ---- */

static void test_identity(void **state)
{
	struct fix *f = *state;

	assert_int_equal(r32(f, R(MAGIC_VALUE)), KVMHOST_VIRTIO_MMIO_MAGIC);
	assert_int_equal(r32(f, R(MAGIC_VALUE)), 0x74726976); /* "virt" */
	assert_int_equal(r32(f, R(VERSION)), 2);
	assert_int_equal(r32(f, R(DEVICE_ID)), FAKE_ID);
	assert_int_equal(r32(f, R(VENDOR_ID)), 0x554d4551);
	assert_int_equal(features(f), FAKE_F_VERSION | FAKE_F_A | FAKE_F_B);
	w32(f, R(DEVICE_FEATURES_SEL), 2);
	assert_int_equal(r32(f, R(DEVICE_FEATURES)), 0);
	assert_int_equal(r32(f, R(CONFIG_GENERATION)), 0);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), 0);
	/* No shared memory regions: length -1. */
	w32(f, R(SHM_SEL), 0);
	assert_int_equal(r32(f, R(SHM_LEN_LOW)), 0xffffffffu);
	assert_int_equal(r32(f, R(SHM_LEN_HIGH)), 0xffffffffu);
	/* Queues past the last one do not exist. */
	w32(f, R(QUEUE_SEL), FAKE_QUEUES);
	assert_int_equal(r32(f, R(QUEUE_NUM_MAX)), 0);
	assert_int_equal(r32(f, R(QUEUE_READY)), 0);
	w32(f, R(QUEUE_SEL), 1);
	assert_int_equal(r32(f, R(QUEUE_NUM_MAX)), FAKE_QMAX);
}

static void test_init_kick_interrupt(void **state)
{
	struct fix *f = *state;
	struct vd_buf b[2] = {{0x20000, 8, 0}, {0x21000, 16, 1}};
	uint32_t id, len;

	f->fd.serve = 1;
	bring_up(f);
	assert_int_equal(f->fd.activated, 1);
	assert_int_equal(kvmhost_virtio_device_driver_features(f->fd.dev), FAKE_F_VERSION | FAKE_F_A);

	uint16_t head = vd_split_add(&f->q, b, 2);
	w32(f, R(QUEUE_NOTIFY), 0);
	assert_int_equal(atomic_load(&f->fd.notifies[0]), 1);
	assert_int_equal(atomic_load(&f->fd.served), 1);
	/* Used-buffer interrupt: bit 0 and the line. */
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), KVMHOST_VIRTIO_MMIO_INT_VRING);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	assert_int_equal(kvmhost_irq_line_level(f->line), 1);
	assert_int_equal(vd_split_get_used(&f->q, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 4);
	assert_memory_equal(vd_host(&f->fd.m, 0x21000), "pong", 4);
	/* ACK of another bit changes nothing; ACK of bit 0 lowers the line. */
	w32(f, R(INTERRUPT_ACK), KVMHOST_VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	w32(f, R(INTERRUPT_ACK), KVMHOST_VIRTIO_MMIO_INT_VRING);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), 0);
	assert_int_equal(atomic_load(&f->fl.level), 0);
	assert_int_equal(atomic_load(&f->fl.rises), 1);

	/* A second request: a new rising edge. */
	vd_split_add(&f->q, b, 2);
	w32(f, R(QUEUE_NOTIFY), 0);
	assert_int_equal(atomic_load(&f->fl.rises), 2);
	assert_int_equal(vd_split_get_used(&f->q, &id, &len), 1);
	w32(f, R(INTERRUPT_ACK), 0xffffffffu);
	assert_int_equal(atomic_load(&f->fl.level), 0);

	/* Kicks of a missing queue, or a disabled one, do not reach the device op. */
	w32(f, R(QUEUE_NOTIFY), FAKE_QUEUES);
	w32(f, R(QUEUE_NOTIFY), 0xffff0000u);
	w32(f, R(QUEUE_NOTIFY), 1);
	assert_int_equal(atomic_load(&f->fd.notifies[1]), 0);
	assert_int_equal(atomic_load(&f->fd.notifies[0]), 2);
}

static void test_notify_before_driver_ok(void **state)
{
	struct fix *f = *state;

	assert_int_equal(negotiate(f, FAKE_F_VERSION), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 8);
	w32(f, R(QUEUE_NOTIFY), 0);
	assert_int_equal(atomic_load(&f->fd.notifies[0]), 0);
}

static void test_feature_refusal(void **state)
{
	struct fix *f = *state;

	/* Not offered: bit 1. */
	assert_int_equal(negotiate(f, FAKE_F_VERSION | KVMHOST_VIRTIO_BIT(1)), S_ACK | S_DRV);
	/* Without VERSION_1 (a legacy driver). */
	assert_int_equal(negotiate(f, FAKE_F_A), S_ACK | S_DRV);
	/* Bits above 63 (page 2). */
	w32(f, R(STATUS), 0);
	w32(f, R(STATUS), S_ACK | S_DRV);
	write_features(f, FAKE_F_VERSION);
	w32(f, R(DRIVER_FEATURES_SEL), 2);
	w32(f, R(DRIVER_FEATURES), 1);
	w32(f, R(STATUS), S_ACK | S_DRV | S_FOK);
	assert_int_equal(r32(f, R(STATUS)), S_ACK | S_DRV);
	/* The device's own refusal. */
	f->fd.refuse_b = 1;
	assert_int_equal(negotiate(f, FAKE_F_VERSION | FAKE_F_B), S_ACK | S_DRV);
	assert_int_equal(negotiate(f, FAKE_F_VERSION | FAKE_F_A), S_ACK | S_DRV | S_FOK);
	/* Once FEATURES_OK is set, feature writes are ignored. */
	write_features(f, FAKE_F_VERSION | FAKE_F_A | FAKE_F_B);
	assert_int_equal(kvmhost_virtio_device_driver_features(f->fd.dev), FAKE_F_VERSION | FAKE_F_A);
	/* A queue cannot be enabled before FEATURES_OK. */
	w32(f, R(STATUS), 0);
	w32(f, R(STATUS), S_ACK | S_DRV);
	vd_queue_init(&f->q, &f->fd.m, 0, 8);
	w32(f, R(QUEUE_SEL), 0);
	w32(f, R(QUEUE_NUM), 8);
	w32(f, R(QUEUE_READY), 1);
	assert_int_equal(r32(f, R(QUEUE_READY)), 0);
}

static void test_queue_setup_rules(void **state)
{
	struct fix *f = *state;
	uint64_t d, a, u;
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(f->fd.dev, 1);

	assert_int_equal(negotiate(f, FAKE_F_VERSION), S_ACK | S_DRV | S_FOK);
	/* 64-bit addresses from halves. */
	w32(f, R(QUEUE_SEL), 1);
	w32(f, R(QUEUE_DESC_HIGH), 0x12);
	w32(f, R(QUEUE_DESC_LOW), 0x3000);
	w32(f, R(QUEUE_DRIVER_LOW), 0x4000);
	w32(f, R(QUEUE_DRIVER_HIGH), 0x34);
	w32(f, R(QUEUE_DEVICE_LOW), 0x5000);
	assert_int_equal(kvmhost_virtq_addresses(q, &d, &a, &u), 0);
	assert_int_equal(d, 0x1200003000ull);
	assert_int_equal(a, 0x3400004000ull);
	assert_int_equal(u, 0x5000);
	/* Rings outside guest memory: enabling fails and the device needs a reset. */
	w32(f, R(QUEUE_NUM), 8);
	w32(f, R(QUEUE_READY), 1);
	assert_int_equal(r32(f, R(QUEUE_READY)), 0);
	assert_true(r32(f, R(STATUS)) & KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* A reset clears it; a good queue works; its setup is frozen while ready. */
	assert_int_equal(negotiate(f, FAKE_F_VERSION), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 1, 8);
	w32(f, R(QUEUE_NUM), 4);
	w32(f, R(QUEUE_DESC_LOW), 0x9000);
	assert_int_equal(kvmhost_virtq_size(q), 8);
	assert_int_equal(kvmhost_virtq_addresses(q, &d, NULL, NULL), 0);
	assert_int_equal(d, VD_DESC_GPA);
	/* QueueReady 0 disables it (Linux's vm_del_vq reads 0 back). */
	w32(f, R(QUEUE_READY), 0);
	assert_int_equal(r32(f, R(QUEUE_READY)), 0);
	/* Non-power-of-two size: refused at enable. */
	w32(f, R(QUEUE_NUM), 6);
	w32(f, R(QUEUE_READY), 1);
	assert_int_equal(r32(f, R(QUEUE_READY)), 0);
	/* Values other than 0/1 and selectors past the end change nothing. */
	w32(f, R(QUEUE_SEL), 7);
	w32(f, R(QUEUE_NUM), 8);
	w32(f, R(QUEUE_READY), 1);
	w32(f, R(QUEUE_DESC_LOW), 0x1000);
	assert_int_equal(r32(f, R(QUEUE_READY)), 0);
}

static void test_config_space(void **state)
{
	struct fix *f = *state;
	uint64_t C = R(CONFIG);

	assert_int_equal(rn(f, C + 0, 1), 0x10);
	assert_int_equal(rn(f, C + 2, 2), 0x1312);
	assert_int_equal(rn(f, C + 4, 4), 0x17161514);
	assert_int_equal(rn(f, C + 0, 8), 0x1716151413121110ull);
	assert_int_equal(rn(f, C + 1, 4), 0x14131211); /* unaligned is fine in config */
	/* Past the end: all ones, nothing read. */
	assert_int_equal(rn(f, C + FAKE_CFG_SIZE - 2, 4), 0xffffffffu);
	assert_int_equal(rn(f, C + FAKE_CFG_SIZE, 1), 0xff);
	assert_int_equal(rn(f, 0xff8, 8), UINT64_MAX);
	/* Writes: the device's writable part only. */
	wn(f, C + 8, 0xaabbccdd, 4);
	assert_int_equal(rn(f, C + 8, 4), 0xaabbccdd);
	wn(f, C + 0, 0x55, 1); /* the device says -EROFS: ignored */
	assert_int_equal(rn(f, C + 0, 1), 0x10);
	wn(f, C + 14, 0x11223344, 4); /* straddles the end: dropped */
	assert_int_equal(rn(f, C + 12, 4), 0);
	wn(f, 0xffc, 1, 4);
	/* A config change: generation moves; the interrupt once DRIVER_OK. */
	assert_int_equal(kvmhost_virtio_device_config_changed(f->fd.dev), 0);
	assert_int_equal(r32(f, R(CONFIG_GENERATION)), 1);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), 0);
	bring_up(f);
	assert_int_equal(kvmhost_virtio_device_config_changed(f->fd.dev), 0);
	assert_int_equal(r32(f, R(CONFIG_GENERATION)), 2);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), KVMHOST_VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	w32(f, R(INTERRUPT_ACK), KVMHOST_VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(atomic_load(&f->fl.level), 0);
	/* Both bits pending; acknowledging one re-raises the line for the
	 * other (a fresh edge), acknowledging the last lowers it. */
	{
		struct vd_buf b = {0x20000, 8, 1};
		int rises = atomic_load(&f->fl.rises);

		f->fd.serve = 1;
		vd_split_add(&f->q, &b, 1);
		w32(f, R(QUEUE_NOTIFY), 0);
		assert_int_equal(kvmhost_virtio_device_config_changed(f->fd.dev), 0);
		assert_int_equal(r32(f, R(INTERRUPT_STATUS)), 3);
		assert_int_equal(atomic_load(&f->fl.rises), rises + 1);
		w32(f, R(INTERRUPT_ACK), KVMHOST_VIRTIO_MMIO_INT_VRING);
		assert_int_equal(atomic_load(&f->fl.level), 1);
		assert_int_equal(atomic_load(&f->fl.rises), rises + 2);
		w32(f, R(INTERRUPT_ACK), 0); /* acknowledging nothing: no new edge */
		assert_int_equal(atomic_load(&f->fl.rises), rises + 2);
		w32(f, R(INTERRUPT_ACK), KVMHOST_VIRTIO_MMIO_INT_CONFIG);
		assert_int_equal(atomic_load(&f->fl.level), 0);
		assert_int_equal(atomic_load(&f->fl.rises), rises + 2);
	}
	/* DEVICE_NEEDS_RESET is announced the same way. */
	assert_int_equal(kvmhost_virtio_device_set_needs_reset(f->fd.dev, "test"), 0);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), KVMHOST_VIRTIO_MMIO_INT_CONFIG);
	assert_true(r32(f, R(STATUS)) & KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void test_reset(void **state)
{
	struct fix *f = *state;
	struct vd_buf b = {0x20000, 8, 1};

	f->fd.serve = 1;
	bring_up(f);
	vd_split_add(&f->q, &b, 1);
	w32(f, R(QUEUE_NOTIFY), 0);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	w32(f, R(QUEUE_SEL), 1);
	w32(f, R(DEVICE_FEATURES_SEL), 1);
	w32(f, R(STATUS), 0);
	assert_int_equal(r32(f, R(STATUS)), 0);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), 0);
	assert_int_equal(atomic_load(&f->fl.level), 0);
	assert_int_equal(f->fd.resets >= 1, 1);
	/* Selectors are back at 0: queue 0, features page 0, queue disabled. */
	assert_int_equal(r32(f, R(QUEUE_READY)), 0);
	assert_int_equal(r32(f, R(DEVICE_FEATURES)), (uint32_t)(FAKE_F_A | FAKE_F_B));
	assert_int_equal(kvmhost_virtq_is_enabled(kvmhost_virtio_device_queue(f->fd.dev, 0)), 0);
	/* Bits cleared without a reset are refused. */
	bring_up(f);
	w32(f, R(STATUS), S_ACK);
	assert_int_equal(r32(f, R(STATUS)), S_ACK | S_DRV | S_FOK | S_DOK);
}

static void test_bad_accesses(void **state)
{
	struct fix *f = *state;
	uint64_t before = kvmhost_virtio_mmio_bad_accesses(f->mmio);
	uint64_t n = 0;

	/* Wrong widths and misaligned accesses: all ones, ignored, counted. */
	assert_int_equal(rn(f, R(MAGIC_VALUE), 1), 0xff);
	assert_int_equal(rn(f, R(MAGIC_VALUE), 2), 0xffff);
	assert_int_equal(rn(f, R(MAGIC_VALUE), 8), UINT64_MAX);
	assert_int_equal(rn(f, R(MAGIC_VALUE) + 1, 4), 0xffffffffu);
	n += 4;
	wn(f, R(STATUS), S_ACK, 1);
	wn(f, R(STATUS), S_ACK, 2);
	wn(f, R(STATUS) + 2, S_ACK, 4);
	wn(f, R(QUEUE_SEL), 1, 8);
	n += 4;
	assert_int_equal(r32(f, R(STATUS)), 0);
	assert_int_equal(kvmhost_virtio_mmio_bad_accesses(f->mmio), before + n);
	/* Write-only registers read 0; read-only ones drop writes. */
	w32(f, R(QUEUE_SEL), 1);
	assert_int_equal(r32(f, R(QUEUE_SEL)), 0);
	assert_int_equal(r32(f, R(QUEUE_NOTIFY)), 0);
	assert_int_equal(r32(f, R(INTERRUPT_ACK)), 0);
	assert_int_equal(r32(f, R(DRIVER_FEATURES)), 0);
	w32(f, R(MAGIC_VALUE), 0);
	w32(f, R(VERSION), 1);
	w32(f, R(DEVICE_ID), 9);
	w32(f, R(INTERRUPT_STATUS), 3);
	w32(f, R(CONFIG_GENERATION), 5);
	assert_int_equal(r32(f, R(MAGIC_VALUE)), KVMHOST_VIRTIO_MMIO_MAGIC);
	assert_int_equal(r32(f, R(VERSION)), 2);
	assert_int_equal(r32(f, R(DEVICE_ID)), FAKE_ID);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), 0);
	/* Every register offset, every width: nothing crashes; holes read 0. */
	for (uint64_t off = 0; off < R(CONFIG); off++) {
		for (uint32_t len = 1; len <= 8; len *= 2) {
			uint64_t v = 0;

			if (off + len > R(CONFIG))
				continue;
			assert_int_equal(kvmhost_bus_read(f->bus, BASE + off, &v, len), 0);
		}
	}
	assert_int_equal(r32(f, 0x018), 0);
	assert_int_equal(r32(f, 0x0c0), 0);
	w32(f, 0x018, 0xffffffffu);
	/* Past the window: not ours. */
	assert_int_equal(kvmhost_bus_read(f->bus, BASE + KVMHOST_VIRTIO_MMIO_WINDOW_DEFAULT, &n, 4),
			 KVMHOST_BUS_UNCLAIMED);
}

static void test_cmdline(void **state)
{
	struct fix *f = *state;
	char buf[96];
	struct kvmhost_virtio_mmio *m2 = NULL;
	struct kvmhost_virtio_mmio_options o = {.size = sizeof(o), .window = 0x200000};
	uint64_t base = 0, window = 0;

	assert_int_equal(kvmhost_virtio_mmio_cmdline(f->mmio, 5, buf, sizeof(buf)),
			 (int)strlen("virtio_mmio.device=4K@0xd0000000:5"));
	assert_string_equal(buf, "virtio_mmio.device=4K@0xd0000000:5");
	assert_int_equal(kvmhost_virtio_mmio_cmdline(f->mmio, 5, buf, 10), -ENOSPC);
	assert_string_equal(buf, "");
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_mmio_cmdline"));
	assert_int_equal(kvmhost_virtio_mmio_get_window(f->mmio, &base, &window), 0);
	assert_int_equal(base, BASE);
	assert_int_equal(window, 0x1000);

	/* A second transport of the same device is not attached yet. */
	assert_int_equal(kvmhost_virtio_mmio_create(f->fd.dev, &o, &m2), 0);
	assert_int_equal(kvmhost_virtio_mmio_cmdline(m2, 7, buf, sizeof(buf)), -ENOTCONN);
	assert_int_equal(kvmhost_virtio_mmio_get_window(m2, &base, &window), -ENOTCONN);
	assert_int_equal(window, 0x200000);
	assert_int_equal(kvmhost_virtio_mmio_attach(m2, f->bus, 0xfffffffffff00000ull), -EINVAL); /* wraps */
	assert_int_equal(kvmhost_virtio_mmio_attach(m2, f->bus, 0xc0000000ull), 0);
	assert_true(kvmhost_virtio_mmio_cmdline(m2, 7, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "virtio_mmio.device=2M@0xc0000000:7");
	kvmhost_virtio_mmio_destroy(m2);
	/* m2 took over the device's transport: give it back to f->mmio's. */
	kvmhost_virtio_mmio_destroy(f->mmio);
	f->mmio = NULL;
	assert_int_equal(kvmhost_bus_count(f->bus), 0);
	{
		struct kvmhost_virtio_mmio_options mo = {.size = sizeof(mo), .irq = f->line};

		assert_int_equal(kvmhost_virtio_mmio_create(f->fd.dev, &mo, &f->mmio), 0);
		assert_int_equal(kvmhost_virtio_mmio_attach(f->mmio, f->bus, BASE), 0);
	}
}

static void test_windows(void **state)
{
	struct fix *f = *state;
	struct kvmhost_virtio_device_options o = {.size = sizeof(o)};
	struct kvmhost_virtio_mmio_options mo = {.size = sizeof(mo)};
	struct kvmhost_virtio_device *big = NULL;
	struct kvmhost_virtio_mmio *m = NULL;
	uint64_t window = 0;

	o.device_id = 9;
	o.num_queues = 1;
	o.queue_max_size = 8;
	o.config_size = KVMHOST_VIRTIO_CONFIG_MAX;
	o.ops = &fake_ops;
	o.opaque = &f->fd;
	assert_int_equal(kvmhost_virtio_device_create(f->fd.m.mem, &o, &big), 0);
	assert_int_equal(kvmhost_virtio_mmio_create(big, NULL, &m), 0);
	assert_int_equal(kvmhost_virtio_mmio_get_window(m, NULL, &window), -ENOTCONN);
	assert_int_equal(window, 0x2000); /* 0x100 + 4096 rounded up to 4 KiB */
	kvmhost_virtio_mmio_destroy(m);
	mo.window = 0x1000; /* too small for its config space */
	assert_int_equal(kvmhost_virtio_mmio_create(big, &mo, &m), -EINVAL);
	assert_null(m);
	mo.window = 0x2800; /* not a multiple of 4 KiB */
	assert_int_equal(kvmhost_virtio_mmio_create(big, &mo, &m), -EINVAL);
	mo.window = 0x200000000ull;
	assert_int_equal(kvmhost_virtio_mmio_create(big, &mo, &m), -EINVAL);
	kvmhost_virtio_device_destroy(big);
}

static void test_set_irq(void **state)
{
	struct fix *f = *state;
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};
	struct kvmhost_irq_line *l2;
	struct fake_line fl2 = {0};
	struct vd_buf b = {0x20000, 8, 1};

	lo.set_level = fake_line_set;
	lo.opaque = &fl2;
	assert_int_equal(kvmhost_irq_line_create(&lo, &l2), 0);
	f->fd.serve = 1;
	bring_up(f);
	vd_split_add(&f->q, &b, 1);
	w32(f, R(QUEUE_NOTIFY), 0);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	/* The new line takes the current level; the old one is left alone. */
	assert_int_equal(kvmhost_virtio_mmio_set_irq(f->mmio, l2), 0);
	assert_int_equal(atomic_load(&fl2.level), 1);
	w32(f, R(INTERRUPT_ACK), 1);
	assert_int_equal(atomic_load(&fl2.level), 0);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	/* No line: interrupts only set InterruptStatus. */
	assert_int_equal(kvmhost_virtio_mmio_set_irq(f->mmio, NULL), 0);
	vd_split_add(&f->q, &b, 1);
	w32(f, R(QUEUE_NOTIFY), 0);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), 1);
	assert_int_equal(atomic_load(&fl2.level), 0);
	assert_int_equal(kvmhost_virtio_mmio_set_irq(f->mmio, f->line), 0);
	kvmhost_irq_line_destroy(l2);
}

static void test_bad_args(void **state)
{
	struct fix *f = *state;
	struct kvmhost_virtio_mmio_options o = {.size = sizeof(o)};
	struct {
		struct kvmhost_virtio_mmio_options o;
		uint64_t more;
	} big = {.o = {.size = sizeof(big)}, .more = 1};
	struct kvmhost_virtio_mmio *m = (void *)1;
	struct kvmhost_virtio_wiring *w = (void *)1;
	char buf[64];

#define BAD(call, err)                                                                                                 \
	do {                                                                                                           \
		assert_int_equal((call), -(err));                                                                      \
		assert_true(strlen(kvmhost_last_error()) > 0);                                                         \
	} while (0)
	BAD(kvmhost_virtio_mmio_create(NULL, &o, &m), EINVAL);
	assert_null(m);
	BAD(kvmhost_virtio_mmio_create(f->fd.dev, &o, NULL), EINVAL);
	BAD(kvmhost_virtio_mmio_create(f->fd.dev, &big.o, &m), E2BIG);
	o.size = 2;
	BAD(kvmhost_virtio_mmio_create(f->fd.dev, &o, &m), EINVAL);
	BAD(kvmhost_virtio_mmio_attach(NULL, f->bus, BASE), EINVAL);
	BAD(kvmhost_virtio_mmio_attach(f->mmio, NULL, BASE), EINVAL);
	BAD(kvmhost_virtio_mmio_attach(f->mmio, f->bus, BASE + 0x800), EINVAL);
	BAD(kvmhost_virtio_mmio_attach(f->mmio, f->bus, 0xe0000000ull), EBUSY);
	BAD(kvmhost_virtio_mmio_get_window(NULL, NULL, NULL), EINVAL);
	BAD(kvmhost_virtio_mmio_set_irq(NULL, f->line), EINVAL);
	BAD(kvmhost_virtio_mmio_cmdline(NULL, 5, buf, sizeof(buf)), EINVAL);
	BAD(kvmhost_virtio_mmio_cmdline(f->mmio, 5, NULL, 10), EINVAL);
	BAD(kvmhost_virtio_mmio_cmdline(f->mmio, 5, buf, 0), ENOSPC);
	assert_int_equal(kvmhost_virtio_mmio_bad_accesses(NULL), 0);
	kvmhost_virtio_mmio_destroy(NULL);

	/* A second transport cannot take the same range (-EEXIST from the bus). */
	{
		struct kvmhost_virtio_mmio *m2 = NULL;

		assert_int_equal(kvmhost_virtio_mmio_create(f->fd.dev, NULL, &m2), 0);
		BAD(kvmhost_virtio_mmio_attach(m2, f->bus, BASE), EEXIST);
		kvmhost_virtio_mmio_destroy(m2);
		assert_int_equal(kvmhost_virtio_device_set_transport(f->fd.dev, NULL, NULL), 0);
	}

	/* The wiring refuses NULLs before touching KVM. */
	BAD(kvmhost_virtio_mmio_wire(NULL, f->mmio, NULL, &w), EINVAL);
	assert_null(w);
	BAD(kvmhost_virtio_mmio_wire((void *)8, NULL, NULL, &w), EINVAL);
	BAD(kvmhost_virtio_mmio_wire((void *)8, f->mmio, NULL, NULL), EINVAL);
	BAD(kvmhost_virtio_pci_wire(NULL, NULL, NULL, &w), EINVAL);
	BAD(kvmhost_virtio_wiring_notify_fd(NULL, 0), EINVAL);
	BAD(kvmhost_virtio_wiring_service(NULL, 0), EINVAL);
	kvmhost_virtio_wiring_destroy(NULL);
#undef BAD
}

/* Migration: the transport's selectors and InterruptStatus travel with the
 * device (virtio-mmio's part of the blob: 5 u32s), and a resume's kick_queues
 * serves what was pending. */
static void test_state(void **state)
{
	struct fix *f = *state, *g;
	void *st = NULL;
	uint8_t *blob;
	int n;

	bring_up(f);
	w32(f, R(DEVICE_FEATURES_SEL), 1);
	w32(f, R(QUEUE_SEL), 1);
	{
		struct vd_buf b[2] = {{0x20000, 8, 0}, {0x21000, 16, 1}};

		vd_split_add(&f->q, b, 2);
	}
	assert_int_equal(kvmhost_virtio_device_config_changed(f->fd.dev), 0);
	assert_int_equal(r32(f, R(INTERRUPT_STATUS)), KVMHOST_VIRTIO_MMIO_INT_CONFIG);
	n = kvmhost_virtio_device_state_size(f->fd.dev);
	blob = malloc((size_t)n);
	assert_non_null(blob);
	assert_int_equal(kvmhost_virtio_device_save(f->fd.dev, blob, (size_t)n), n);
	assert_int_equal(blob[4], 2);

	setup(&st);
	g = st;
	memcpy(g->fd.m.a, f->fd.m.a, VD_A_LEN);
	g->fd.serve = 1;
	/* Refused when damaged (InterruptStatus bit 2, the length), and nothing changed. */
	blob[n - 4] ^= 4;
	assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, blob, (size_t)n), -EINVAL);
	blob[n - 4] ^= 4;
	blob[n - 24] ^= 1;
	assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, blob, (size_t)n), -EINVAL);
	blob[n - 24] ^= 1;
	assert_int_equal(r32(g, R(INTERRUPT_STATUS)), 0);
	assert_int_equal(atomic_load(&g->fl.level), 0);

	assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, blob, (size_t)n), 0);
	assert_int_equal(r32(g, R(STATUS)), S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(r32(g, R(INTERRUPT_STATUS)), KVMHOST_VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(atomic_load(&g->fl.level), 1);
	assert_int_equal(r32(g, R(DEVICE_FEATURES)), 1); /* page 1 selected: VERSION_1 */
	assert_int_equal(r32(g, R(QUEUE_READY)), 0);	 /* queue 1 selected */
	w32(g, R(QUEUE_SEL), 0);
	assert_int_equal(r32(g, R(QUEUE_READY)), 1);
	w32(g, R(INTERRUPT_ACK), KVMHOST_VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(atomic_load(&g->fl.level), 0);
	/* The buffer made available before the save is served without a kick. */
	assert_int_equal(kvmhost_virtio_device_kick_queues(g->fd.dev, KVMHOST_VIRTIO_KICK_NOTIFY), 1);
	assert_int_equal(atomic_load(&g->fd.served), 1);
	assert_int_equal(r32(g, R(INTERRUPT_STATUS)), KVMHOST_VIRTIO_MMIO_INT_VRING);
	assert_int_equal(atomic_load(&g->fl.level), 1);
	free(blob);
	teardown(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_kick_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_before_driver_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_feature_refusal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_setup_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_accesses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cmdline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_irq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
