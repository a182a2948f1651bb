/*
 * Exercises the counting-rng example device with no KVM: the test plays the
 * transport (interrupt callbacks, register-level calls into the framework)
 * and the guest driver (rings built in fake guest memory by
 * tests/unit/virtio_driver.h), on both ring formats, then checks the error
 * path (a readable buffer makes the device need a reset), reset, and
 * migration onto a second device.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kvmhost/virtio/device.h>
#include "unit/virtio_driver.h"
#include "counting_rng.h"

#define S_LIVE                                                                                                         \
	(KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE | KVMHOST_VIRTIO_STATUS_DRIVER | KVMHOST_VIRTIO_STATUS_FEATURES_OK |        \
	 KVMHOST_VIRTIO_STATUS_DRIVER_OK)
#define BUF 0x20000ull

struct env {
	struct vd_mem m;
	struct vd_queue d;
	struct counting_rng *rng;
	struct kvmhost_virtio_device *dev;
	int irqs, config_irqs;
};

static int on_queue_irq(void *opaque, uint16_t queue)
{
	(void)queue;
	((struct env *)opaque)->irqs++;
	return 0;
}

static int on_config_irq(void *opaque)
{
	((struct env *)opaque)->config_irqs++;
	return 0;
}

static const struct kvmhost_virtio_transport_ops transport = {
    .size = sizeof(transport),
    .queue_interrupt = on_queue_irq,
    .config_interrupt = on_config_irq,
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(vd_mem_init(&e->m), 0);
	assert_int_equal(counting_rng_create(e->m.mem, &e->rng), 0);
	e->dev = counting_rng_device(e->rng);
	assert_int_equal(kvmhost_virtio_device_set_transport(e->dev, &transport, e), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	counting_rng_destroy(e->rng);
	vd_mem_fini(&e->m);
	free(e);
	return 0;
}

/* What a guest driver does through the transport registers. */
static void driver_init(struct env *e, int packed)
{
	uint32_t lo, hi;
	uint64_t want;

	assert_int_equal(kvmhost_virtio_device_id(e->dev), KVMHOST_VIRTIO_ID_ENTROPY);
	kvmhost_virtio_device_reset(e->dev);
	assert_int_equal(kvmhost_virtio_device_set_status(e->dev, KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE), 0);
	assert_int_equal(
	    kvmhost_virtio_device_set_status(e->dev, KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE | KVMHOST_VIRTIO_STATUS_DRIVER),
	    0);
	assert_int_equal(kvmhost_virtio_device_get_features(e->dev, 0, &lo), 0);
	assert_int_equal(kvmhost_virtio_device_get_features(e->dev, 1, &hi), 0);
	want = KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_VERSION_1) | KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX);
	if (packed)
		want |= KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);
	assert_int_equal(want & ~(lo | (uint64_t)hi << 32), 0);
	assert_int_equal(kvmhost_virtio_device_set_driver_features(e->dev, 0, (uint32_t)want), 0);
	assert_int_equal(kvmhost_virtio_device_set_driver_features(e->dev, 1, (uint32_t)(want >> 32)), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(e->dev, S_LIVE & ~KVMHOST_VIRTIO_STATUS_DRIVER_OK), 0);
	vd_queue_init(&e->d, &e->m, packed, 16);
	assert_int_equal(kvmhost_virtio_device_queue_set_size(e->dev, 0, 16), 0);
	assert_int_equal(kvmhost_virtio_device_queue_set_desc_addr(e->dev, 0, e->d.desc), 0);
	assert_int_equal(kvmhost_virtio_device_queue_set_driver_addr(e->dev, 0, e->d.driver), 0);
	assert_int_equal(kvmhost_virtio_device_queue_set_device_addr(e->dev, 0, e->d.device), 0);
	assert_int_equal(kvmhost_virtio_device_queue_enable(e->dev, 0, 1), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(e->dev, S_LIVE), 0);
	/* Used-buffer interrupt after every buffer (EVENT_IDX). */
	if (packed)
		vd_packed_driver_event(&e->d, 0, 0);
}

/* Ask for @n bytes in @parts buffers and check what comes back. */
static void request(struct env *e, uint32_t n, unsigned parts, uint64_t expect_first)
{
	struct vd_buf b[4];
	uint32_t len, off = 0;
	int irqs = e->irqs;

	for (unsigned i = 0; i < parts; i++) {
		b[i].addr = BUF + 0x1000ull * i;
		b[i].len = n / parts + (i == parts - 1 ? n % parts : 0);
		b[i].write = 1;
		memset(vd_host(&e->m, b[i].addr), 0xee, b[i].len);
	}
	if (e->d.packed) {
		uint16_t id;

		vd_packed_add(&e->d, b, parts, 3);
		assert_int_equal(kvmhost_virtio_device_queue_notify(e->dev, 0), 0);
		assert_int_equal(vd_packed_get_used(&e->d, &id, &len, NULL), 1);
		assert_int_equal(id, 3);
	} else {
		uint32_t id;

		vd_split_set_used_event(&e->d, e->d.used_seen);
		vd_split_add(&e->d, b, parts);
		assert_int_equal(kvmhost_virtio_device_queue_notify(e->dev, 0), 0);
		assert_int_equal(vd_split_get_used(&e->d, &id, &len), 1);
	}
	assert_int_equal(len, n);
	assert_int_equal(e->irqs, irqs + 1);
	for (unsigned i = 0; i < parts; i++)
		for (uint32_t j = 0; j < b[i].len; j++, off++)
			assert_int_equal(vd_host(&e->m, b[i].addr)[j], (uint8_t)(expect_first + off));
}

static void test_split(void **state)
{
	struct env *e = *state;

	driver_init(e, 0);
	request(e, 16, 1, 0);
	request(e, 300, 3, 16);
	assert_int_equal(counting_rng_bytes(e->rng), 316);
}

static void test_packed(void **state)
{
	struct env *e = *state;

	driver_init(e, 1);
	for (int i = 0; i < 40; i++) /* a few laps of the 16-slot ring */
		request(e, 7, 1 + i % 3, 7ull * i);
}

static void test_readable_buffer_needs_reset(void **state)
{
	struct env *e = *state;
	struct vd_buf b = {BUF, 8, 0};
	char reason[160];

	driver_init(e, 0);
	vd_split_add(&e->d, &b, 1);
	assert_int_equal(kvmhost_virtio_device_queue_notify(e->dev, 0), 0);
	assert_int_equal(kvmhost_virtio_device_get_status(e->dev), S_LIVE | KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(kvmhost_virtio_device_needs_reset(e->dev, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "device-readable"));
	assert_int_equal(e->config_irqs, 1);
	/* The driver resets the device and starts over. */
	driver_init(e, 0);
	assert_int_equal(counting_rng_bytes(e->rng), 0);
	request(e, 4, 1, 0);
}

static void test_migration(void **state)
{
	struct env *e = *state;
	struct counting_rng *rng2;
	uint8_t *blob;
	int size;

	driver_init(e, 0);
	request(e, 100, 2, 0);
	size = kvmhost_virtio_device_state_size(e->dev);
	assert_true(size > 0);
	blob = malloc((size_t)size);
	assert_int_equal(kvmhost_virtio_device_save(e->dev, blob, (size_t)size), size);
	/* The destination: same device, same guest memory (already copied). */
	assert_int_equal(counting_rng_create(e->m.mem, &rng2), 0);
	assert_int_equal(kvmhost_virtio_device_restore(counting_rng_device(rng2), blob, (size_t)size), 0);
	assert_int_equal(counting_rng_bytes(rng2), 100);
	counting_rng_destroy(e->rng);
	e->rng = rng2;
	e->dev = counting_rng_device(rng2);
	assert_int_equal(kvmhost_virtio_device_set_transport(e->dev, &transport, e), 0);
	request(e, 10, 1, 100);
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_packed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readable_buffer_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
