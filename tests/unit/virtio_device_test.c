/*
 * Unit tests of the virtio device framework (virtio/device.h) with a test
 * device and a fake transport, on fake guest memory with the test acting as
 * the driver: options, the feature offer and the negotiation matrix, the
 * status state machine, queue setup through the framework (per-queue
 * maximum sizes, enable before FEATURES_OK, bad layouts), kick dispatch
 * only while live, DEVICE_NEEDS_RESET from a broken queue or from the
 * device (with the config interrupt), config space bounds and generation,
 * reset, and the migration blob (round trip onto a second device, and every
 * malformed blob refused).
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
#include <kvmhost/virtio/device.h>
#include "unit/virtio_driver.h"

#define BIT(b)	   KVMHOST_VIRTIO_BIT(b)
#define F_V1	   BIT(KVMHOST_VIRTIO_F_VERSION_1)
#define F_INDIRECT BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC)
#define F_EVENT	   BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX)
#define F_PACKED   BIT(KVMHOST_VIRTIO_F_RING_PACKED)
#define F_PLATFORM BIT(KVMHOST_VIRTIO_F_ACCESS_PLATFORM)

#define S_ACK  KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV  KVMHOST_VIRTIO_STATUS_DRIVER
#define S_FOK  KVMHOST_VIRTIO_STATUS_FEATURES_OK
#define S_DOK  KVMHOST_VIRTIO_STATUS_DRIVER_OK
#define S_NR   KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET
#define S_FAIL KVMHOST_VIRTIO_STATUS_FAILED

#define DATA 0x20000ull

/* ---- the test device ---- */

struct tdev {
	struct kvmhost_virtio_device *dev;
	uint64_t features;
	uint8_t config[16];
	int activated, resets, notifies;
	uint64_t act_features;
	int activate_err;
	uint32_t counter; /* the device's own state */
};

static uint64_t td_get_features(void *o)
{
	return ((struct tdev *)o)->features;
}

/* Bit 0 needs bit 5, as device specs say for some of theirs. */
static int td_validate(void *o, uint64_t f)
{
	(void)o;
	return ((f & BIT(0)) && !(f & BIT(5))) ? -EINVAL : 0;
}

static int td_config_read(void *o, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct tdev *)o)->config + off, len);
	return 0;
}

/* The first 8 bytes are read-only. */
static int td_config_write(void *o, uint32_t off, const void *buf, uint32_t len)
{
	if (off < 8)
		return -EACCES;
	memcpy(((struct tdev *)o)->config + off, buf, len);
	return 0;
}

static uint32_t td_queue_max(void *o, uint16_t q)
{
	(void)o;
	return q == 1 ? 64 : 0;
}

static int td_activate(void *o, struct kvmhost_virtio_device *dev, uint64_t f)
{
	struct tdev *t = o;

	(void)dev;
	t->activated++;
	t->act_features = f;
	return t->activate_err;
}

static void td_reset(void *o, struct kvmhost_virtio_device *dev)
{
	struct tdev *t = o;

	(void)dev;
	t->resets++;
	t->counter = 0;
}

/* Serve every chain: write the counter into it. */
static void td_notify(void *o, struct kvmhost_virtio_device *dev, uint16_t qi)
{
	struct tdev *t = o;
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(dev, qi);
	const struct kvmhost_virtq_chain *c;

	t->notifies++;
	while (kvmhost_virtq_pop(q, &c) == 1) {
		uint32_t n = c->writable_len >= 4 ? 4 : 0;

		if (n)
			kvmhost_virtq_chain_write(c, 0, &t->counter, 4);
		t->counter++;
		kvmhost_virtq_push(q, c, n);
	}
	kvmhost_virtio_device_notify_used(dev, qi);
}

static size_t td_state_size(void *o)
{
	(void)o;
	return 4;
}

static int td_save(void *o, void *buf, size_t len)
{
	if (len != 4)
		return -EINVAL;
	memcpy(buf, &((struct tdev *)o)->counter, 4);
	return 0;
}

static int td_restore(void *o, const void *buf, size_t len)
{
	if (len != 4)
		return -EINVAL;
	memcpy(&((struct tdev *)o)->counter, buf, 4);
	return 0;
}

static const struct kvmhost_virtio_device_ops td_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .get_features = td_get_features,
    .validate_features = td_validate,
    .config_read = td_config_read,
    .config_write = td_config_write,
    .queue_max_size = td_queue_max,
    .activate = td_activate,
    .reset = td_reset,
    .queue_notify = td_notify,
    .state_size = td_state_size,
    .save_state = td_save,
    .restore_state = td_restore,
};

/* ---- the fake transport ---- */

struct ttr {
	int qirq[4];
	int cirq;
};

static int tr_queue(void *o, uint16_t q)
{
	((struct ttr *)o)->qirq[q]++;
	return 0;
}

static int tr_config(void *o)
{
	((struct ttr *)o)->cirq++;
	return 0;
}

static const struct kvmhost_virtio_transport_ops tr_ops = {
    .size = sizeof(struct kvmhost_virtio_transport_ops),
    .queue_interrupt = tr_queue,
    .config_interrupt = tr_config,
};

/* ---- fixture ---- */

struct dfix {
	struct vd_mem m;
	struct vd_queue d0, d1;
	struct tdev t;
	struct ttr tr;
	struct kvmhost_virtio_device *dev;
};

static struct kvmhost_virtio_device_options dev_opts(struct tdev *t)
{
	struct kvmhost_virtio_device_options o = {.size = sizeof(o)};

	o.device_id = 0x1234;
	o.num_queues = 2;
	o.queue_max_size = 256;
	o.config_size = 16;
	o.ops = &td_ops;
	o.opaque = t;
	o.name = "testdev";
	return o;
}

static struct kvmhost_virtio_device *make_dev(struct dfix *f, struct tdev *t, struct ttr *tr)
{
	struct kvmhost_virtio_device_options o = dev_opts(t);
	struct kvmhost_virtio_device *dev = NULL;

	assert_int_equal(kvmhost_virtio_device_create(f->m.mem, &o, &dev), 0);
	assert_int_equal(kvmhost_virtio_device_set_transport(dev, &tr_ops, tr), 0);
	t->dev = dev;
	return dev;
}

static int setup(void **state)
{
	struct dfix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(vd_mem_init(&f->m), 0);
	f->t.features = BIT(0) | BIT(5) | F_INDIRECT | F_EVENT | F_PACKED;
	memcpy(f->t.config, "ROROROROrwrwrwrw", 16);
	f->dev = make_dev(f, &f->t, &f->tr);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct dfix *f = *state;

	kvmhost_virtio_device_destroy(f->dev);
	vd_mem_fini(&f->m);
	free(f);
	return 0;
}

static int status(struct dfix *f)
{
	return kvmhost_virtio_device_get_status(f->dev);
}

/* The driver writes its features: 0 or the FEATURES_OK error. */
static int negotiate(struct dfix *f, uint64_t features)
{
	kvmhost_virtio_device_reset(f->dev);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV), 0);
	assert_int_equal(kvmhost_virtio_device_set_driver_features(f->dev, 0, (uint32_t)features), 0);
	assert_int_equal(kvmhost_virtio_device_set_driver_features(f->dev, 1, (uint32_t)(features >> 32)), 0);
	return kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK);
}

/* Set up queue @qi as the driver would, through the framework. */
static int setup_queue(struct dfix *f, uint16_t qi, struct vd_queue *d)
{
	int err = kvmhost_virtio_device_queue_set_size(f->dev, qi, d->size);

	if (err == 0)
		err = kvmhost_virtio_device_queue_set_desc_addr(f->dev, qi, d->desc);
	if (err == 0)
		err = kvmhost_virtio_device_queue_set_driver_addr(f->dev, qi, d->driver);
	if (err == 0)
		err = kvmhost_virtio_device_queue_set_device_addr(f->dev, qi, d->device);
	if (err == 0)
		err = kvmhost_virtio_device_queue_enable(f->dev, qi, 1);
	return err;
}

/* Full bring-up: negotiate, both queues (split unless F_PACKED), DRIVER_OK. */
static void bring_up(struct dfix *f, uint64_t features)
{
	int packed = (features & F_PACKED) != 0;

	assert_int_equal(negotiate(f, features), 0);
	vd_queue_init(&f->d0, &f->m, packed, 8);
	vd_queue_init_at(&f->d1, &f->m, packed, 8, 0x40000, 0x41000, 0x42000);
	assert_int_equal(setup_queue(f, 0, &f->d0), 0);
	assert_int_equal(setup_queue(f, 1, &f->d1), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK | S_DOK);
}

/* One request on queue 0 of a split bring-up: the device writes its counter. */
static uint32_t request(struct dfix *f)
{
	struct vd_buf b = {DATA, 4, 1};
	uint32_t id, len, v;

	vd_split_add(&f->d0, &b, 1);
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 0), 0);
	assert_int_equal(vd_split_get_used(&f->d0, &id, &len), 1);
	assert_int_equal(len, 4);
	memcpy(&v, vd_host(&f->m, DATA), 4);
	return v;
}

/* ---- tests ---- */

static void test_create_args(void **state)
{
	struct dfix *f = *state;
	struct tdev t = {0};
	struct kvmhost_virtio_device_options o;
	struct kvmhost_virtio_device *dev = (void *)1;
	struct {
		struct kvmhost_virtio_device_ops ops;
		uint64_t more;
	} big_ops = {.ops = td_ops, .more = 1};
	struct kvmhost_virtio_transport_ops bad_tr = {.size = 2};

	big_ops.ops.size = sizeof(big_ops);
#define BAD(setup_, err)                                                                                               \
	do {                                                                                                           \
		o = dev_opts(&t);                                                                                      \
		setup_;                                                                                                \
		dev = (void *)1;                                                                                       \
		assert_int_equal(kvmhost_virtio_device_create(f->m.mem, &o, &dev), -(err));                            \
		assert_null(dev);                                                                                      \
	} while (0)
	BAD(o.device_id = 0, EINVAL);
	BAD(o.device_id = 0x10000, EINVAL);
	BAD(o.num_queues = 0, EINVAL);
	BAD(o.num_queues = KVMHOST_VIRTIO_QUEUES_MAX + 1, EINVAL);
	BAD(o.queue_max_size = 0, EINVAL);
	BAD(o.queue_max_size = KVMHOST_VIRTQ_MAX_SIZE + 1, EINVAL);
	BAD(o.config_size = KVMHOST_VIRTIO_CONFIG_MAX + 1, EINVAL);
	BAD(o.ops = NULL, EINVAL);
	BAD(o.ops = &big_ops.ops, E2BIG);
#undef BAD
	o = dev_opts(&t);
	assert_int_equal(kvmhost_virtio_device_create(NULL, &o, &dev), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_create(f->m.mem, NULL, &dev), -EINVAL);
	big_ops.more = 0;
	o.ops = &big_ops.ops;
	assert_int_equal(kvmhost_virtio_device_create(f->m.mem, &o, &dev), 0);
	assert_int_equal(kvmhost_virtio_device_id(dev), 0x1234);
	assert_int_equal(kvmhost_virtio_device_num_queues(dev), 2);
	assert_int_equal(kvmhost_virtio_device_config_size(dev), 16);
	assert_int_equal(kvmhost_virtio_device_set_transport(dev, &bad_tr, NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_set_transport(dev, NULL, NULL), 0);
	kvmhost_virtio_device_destroy(dev);
	kvmhost_virtio_device_destroy(NULL);
	kvmhost_virtio_device_reset(NULL);
	assert_int_equal(kvmhost_virtio_device_get_status(NULL), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_set_status(NULL, 1), -EINVAL);
	assert_null(kvmhost_virtio_device_queue(f->dev, 2));
	assert_null(kvmhost_virtio_device_queue(NULL, 0));
	/* Per-queue maximum sizes come from the device. */
	assert_int_equal(kvmhost_virtq_max_size(kvmhost_virtio_device_queue(f->dev, 0)), 256);
	assert_int_equal(kvmhost_virtq_max_size(kvmhost_virtio_device_queue(f->dev, 1)), 64);
}

static void test_feature_offer(void **state)
{
	struct dfix *f = *state;
	struct tdev t = {.features = BIT(0) | BIT(23) | BIT(24) | BIT(27) | BIT(31) | BIT(35) | BIT(40) | BIT(49) |
				     BIT(50) | BIT(63) | F_PLATFORM | F_EVENT};
	struct ttr tr;
	struct kvmhost_virtio_device *dev = make_dev(f, &t, &tr);
	uint32_t lo, hi, p2;
	uint64_t offered;

	assert_int_equal(kvmhost_virtio_device_get_features(dev, 0, &lo), 0);
	assert_int_equal(kvmhost_virtio_device_get_features(dev, 1, &hi), 0);
	assert_int_equal(kvmhost_virtio_device_get_features(dev, 2, &p2), 0);
	assert_int_equal(kvmhost_virtio_device_get_features(dev, 0, NULL), -EINVAL);
	offered = lo | (uint64_t)hi << 32;
	/* Device bits kept; transport-range bits the framework does not
	 * implement dropped; VERSION_1 always there. */
	assert_int_equal(offered, BIT(0) | BIT(23) | BIT(50) | BIT(63) | F_PLATFORM | F_EVENT | F_V1);
	assert_int_equal(kvmhost_virtio_device_offered_features(dev), offered);
	assert_int_equal(p2, 0);
	kvmhost_virtio_device_destroy(dev);
	/* The fixture device offers no ACCESS_PLATFORM. */
	assert_int_equal(kvmhost_virtio_device_offered_features(f->dev),
			 BIT(0) | BIT(5) | F_INDIRECT | F_EVENT | F_PACKED | F_V1);
}

static void test_negotiation_matrix(void **state)
{
	struct dfix *f = *state;
	static const struct {
		uint64_t features;
		int ok;
	} cases[] = {
	    {F_V1, 1},
	    {0, 0},	 /* no VERSION_1: a legacy driver */
	    {BIT(5), 0}, /* still no VERSION_1 */
	    {F_V1 | BIT(5), 1},
	    {F_V1 | BIT(0), 0}, /* the device refuses 0 without 5 */
	    {F_V1 | BIT(0) | BIT(5), 1},
	    {F_V1 | BIT(7), 0},	    /* not offered */
	    {F_V1 | F_PLATFORM, 0}, /* ACCESS_PLATFORM not supported here */
	    {F_V1 | BIT(35), 0},    /* a transport bit not offered */
	    {F_V1 | F_INDIRECT | F_EVENT | F_PACKED, 1},
	    {F_V1 | F_INDIRECT | F_EVENT | F_PACKED | BIT(0) | BIT(5), 1},
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = negotiate(f, cases[i].features);

		if (cases[i].ok) {
			assert_int_equal(r, 0);
			assert_int_equal(status(f), S_ACK | S_DRV | S_FOK);
			assert_int_equal(kvmhost_virtio_device_driver_features(f->dev), cases[i].features);
			/* Frozen now. */
			assert_int_equal(kvmhost_virtio_device_set_driver_features(f->dev, 0, 0), -EBUSY);
		} else {
			assert_int_equal(r, -EPROTO);
			assert_non_null(strstr(kvmhost_last_error(), "kvmhost_virtio_device_set_status"));
			/* FEATURES_OK stays clear; the driver may try again. */
			assert_int_equal(status(f), S_ACK | S_DRV);
			assert_int_equal(kvmhost_virtio_device_driver_features(f->dev), 0);
			assert_int_equal(kvmhost_virtio_device_set_driver_features(f->dev, 0, (uint32_t)F_V1), 0);
			assert_int_equal(kvmhost_virtio_device_set_driver_features(f->dev, 1, (uint32_t)(F_V1 >> 32)),
					 0);
			assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK), 0);
		}
	}
	/* Bits beyond 63 cannot be accepted. */
	kvmhost_virtio_device_reset(f->dev);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV), 0);
	assert_int_equal(kvmhost_virtio_device_set_driver_features(f->dev, 1, (uint32_t)(F_V1 >> 32)), 0);
	assert_int_equal(kvmhost_virtio_device_set_driver_features(f->dev, 2, 1), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK), -EPROTO);
	/* A device that supports ACCESS_PLATFORM accepts it. */
	{
		struct tdev t = {.features = F_PLATFORM};
		struct ttr tr;
		struct kvmhost_virtio_device *dev = make_dev(f, &t, &tr);

		assert_int_equal(kvmhost_virtio_device_set_status(dev, S_ACK | S_DRV), 0);
		assert_int_equal(
		    kvmhost_virtio_device_set_driver_features(dev, 1, (uint32_t)((F_V1 | F_PLATFORM) >> 32)), 0);
		assert_int_equal(kvmhost_virtio_device_set_status(dev, S_ACK | S_DRV | S_FOK), 0);
		assert_int_equal(kvmhost_virtio_device_driver_features(dev), F_V1 | F_PLATFORM);
		kvmhost_virtio_device_destroy(dev);
	}
}

static void test_status_machine(void **state)
{
	struct dfix *f = *state;

	assert_int_equal(status(f), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, 0x100), -EINVAL);
	/* Out of order: the bit is dropped. */
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_DRV), -EINVAL);
	assert_int_equal(status(f), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_FOK), -EINVAL);
	assert_int_equal(status(f), S_ACK);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_DOK), -EINVAL);
	assert_int_equal(status(f), S_ACK | S_DRV);
	assert_int_equal(f->t.activated, 0);
	/* Clearing a bit is refused and changes nothing. */
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK), -EINVAL);
	assert_int_equal(status(f), S_ACK | S_DRV);
	/* The driver cannot set DEVICE_NEEDS_RESET. */
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_NR), 0);
	assert_int_equal(status(f), S_ACK | S_DRV);
	/* The whole sequence, in one write per step. */
	assert_int_equal(kvmhost_virtio_device_set_driver_features(f->dev, 1, (uint32_t)(F_V1 >> 32)), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(f->t.activated, 1);
	assert_int_equal(f->t.act_features, F_V1);
	/* Writing the same value again does not activate twice. */
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(f->t.activated, 1);
	/* FAILED at any time. */
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK | S_DOK | S_FAIL), 0);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK | S_DOK | S_FAIL);
	/* 0 resets. */
	f->t.resets = 0;
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, 0), 0);
	assert_int_equal(f->t.resets, 1);
	assert_int_equal(status(f), 0);
	assert_int_equal(kvmhost_virtio_device_driver_features(f->dev), 0);
	/* ACKNOWLEDGE | DRIVER at once is fine; FAILED before anything too. */
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV), 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FAIL), 0);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FAIL);
}

static void test_activate_failure(void **state)
{
	struct dfix *f = *state;
	char reason[128];

	f->t.activate_err = -ENOSPC;
	assert_int_equal(negotiate(f, F_V1), 0);
	assert_int_equal(f->tr.cirq, 0);
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK | S_DOK), -ENOSPC);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK | S_DOK | S_NR);
	assert_int_equal(kvmhost_virtio_device_needs_reset(f->dev, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "activation failed"));
	assert_int_equal(f->tr.cirq, 1);
	/* Kicks are ignored until the reset. */
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 0), 0);
	assert_int_equal(f->t.notifies, 0);
	kvmhost_virtio_device_reset(f->dev);
	assert_int_equal(status(f), 0);
	assert_int_equal(kvmhost_virtio_device_needs_reset(f->dev, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "");
}

static void test_queue_setup(void **state)
{
	struct dfix *f = *state;
	struct kvmhost_virtq *q1 = kvmhost_virtio_device_queue(f->dev, 1);
	char reason[200];
	uint64_t d, a, u;

	vd_queue_init(&f->d0, &f->m, 0, 8);
	/* Before FEATURES_OK the ring format is unknown. */
	assert_int_equal(setup_queue(f, 0, &f->d0), -EPROTO);
	assert_int_equal(negotiate(f, F_V1), 0);
	assert_int_equal(setup_queue(f, 0, &f->d0), 0);
	/* Bad indices and values. */
	assert_int_equal(kvmhost_virtio_device_queue_set_size(f->dev, 2, 8), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_queue_set_desc_addr(f->dev, 9, 0), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_queue_enable(f->dev, 0, 2), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 2), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_notify_used(f->dev, 2), -EINVAL);
	/* An enabled queue's setup is frozen. */
	assert_int_equal(kvmhost_virtio_device_queue_set_size(f->dev, 0, 4), -EBUSY);
	/* Addresses read back through the queue handle. */
	assert_int_equal(kvmhost_virtq_addresses(kvmhost_virtio_device_queue(f->dev, 0), &d, &a, &u), 0);
	assert_int_equal(d, VD_DESC_GPA);
	assert_int_equal(a, VD_AVAIL_GPA);
	assert_int_equal(u, VD_USED_GPA);
	/* Queue 1's maximum is 64: 128 is refused at enable, which breaks the
	 * queue and makes the device need a reset (no config interrupt
	 * before DRIVER_OK). */
	vd_queue_init_at(&f->d1, &f->m, 0, 128, 0x40000, 0x41000, 0x42000);
	assert_int_equal(setup_queue(f, 1, &f->d1), -EINVAL);
	assert_int_equal(kvmhost_virtq_broken(q1, NULL, 0), 1);
	assert_int_equal(status(f), S_ACK | S_DRV | S_FOK | S_NR);
	assert_int_equal(kvmhost_virtio_device_needs_reset(f->dev, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "queue 1"));
	assert_int_equal(f->tr.cirq, 0);
	/* Disabling a queue resets it. */
	assert_int_equal(kvmhost_virtio_device_queue_enable(f->dev, 0, 0), 0);
	assert_int_equal(kvmhost_virtq_is_enabled(kvmhost_virtio_device_queue(f->dev, 0)), 0);
	assert_int_equal(kvmhost_virtq_size(kvmhost_virtio_device_queue(f->dev, 0)), 256);
	/* Reset clears it all. */
	kvmhost_virtio_device_reset(f->dev);
	assert_int_equal(status(f), 0);
	assert_int_equal(kvmhost_virtq_broken(q1, NULL, 0), 0);
	assert_int_equal(kvmhost_virtq_size(q1), 64);
}

static void test_kick_dispatch(void **state)
{
	struct dfix *f = *state;

	/* Not live yet: kicks are ignored. */
	assert_int_equal(negotiate(f, F_V1), 0);
	vd_queue_init(&f->d0, &f->m, 0, 8);
	assert_int_equal(setup_queue(f, 0, &f->d0), 0);
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 0), 0);
	assert_int_equal(f->t.notifies, 0);
	/* Live. */
	bring_up(f, F_V1);
	assert_int_equal(request(f), 0);
	assert_int_equal(request(f), 1);
	assert_int_equal(f->t.notifies, 2);
	assert_int_equal(f->tr.qirq[0], 2);
	/* With VIRTQ_AVAIL_F_NO_INTERRUPT the device stays quiet. */
	vd_w16(&f->m, f->d0.driver, 1);
	assert_int_equal(request(f), 2);
	assert_int_equal(f->tr.qirq[0], 2);
	/* Without a transport nothing is raised. */
	vd_w16(&f->m, f->d0.driver, 0);
	assert_int_equal(kvmhost_virtio_device_set_transport(f->dev, NULL, NULL), 0);
	assert_int_equal(request(f), 3);
	assert_int_equal(kvmhost_virtio_device_set_transport(f->dev, &tr_ops, &f->tr), 0);
	/* A disabled queue ignores kicks. */
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 1), 0);
	assert_int_equal(f->t.notifies, 5);
	assert_int_equal(kvmhost_virtio_device_queue_enable(f->dev, 1, 0), 0);
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 1), 0);
	assert_int_equal(f->t.notifies, 5);
	/* FAILED: ignored too. */
	assert_int_equal(kvmhost_virtio_device_set_status(f->dev, S_ACK | S_DRV | S_FOK | S_DOK | S_FAIL), 0);
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 0), 0);
	assert_int_equal(f->t.notifies, 5);
}

static void test_broken_queue_needs_reset(void **state)
{
	struct dfix *f = *state;
	char reason[200];

	bring_up(f, F_V1);
	assert_int_equal(request(f), 0);
	/* The driver publishes a head out of range. */
	vd_split_publish(&f->d0, 200);
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 0), 0);
	assert_int_equal(status(f) & S_NR, S_NR);
	assert_int_equal(kvmhost_virtio_device_needs_reset(f->dev, reason, sizeof(reason)), 1);
	assert_non_null(strstr(reason, "queue 0"));
	assert_non_null(strstr(reason, "head 200"));
	assert_int_equal(f->tr.cirq, 1);
	/* Further kicks do nothing; a second problem keeps the first reason. */
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 0), 0);
	assert_int_equal(kvmhost_virtio_device_set_needs_reset(f->dev, "other"), 0);
	assert_int_equal(kvmhost_virtio_device_needs_reset(f->dev, reason, sizeof(reason)), 1);
	assert_null(strstr(reason, "other"));
	assert_int_equal(f->tr.cirq, 1);
	/* The driver resets and starts over. */
	bring_up(f, F_V1);
	assert_int_equal(kvmhost_virtio_device_needs_reset(f->dev, NULL, 0), 0);
	assert_int_equal(request(f), 0);
	/* The device reports its own error. */
	assert_int_equal(kvmhost_virtio_device_set_needs_reset(f->dev, "backend gone"), 0);
	assert_int_equal(kvmhost_virtio_device_needs_reset(f->dev, reason, sizeof(reason)), 1);
	assert_string_equal(reason, "backend gone");
	assert_int_equal(f->tr.cirq, 2);
	assert_int_equal(kvmhost_virtio_device_set_needs_reset(NULL, "x"), -EINVAL);
}

static void test_config_space(void **state)
{
	struct dfix *f = *state;
	uint8_t buf[16];

	assert_int_equal(kvmhost_virtio_device_config_read(f->dev, 0, buf, 16), 0);
	assert_memory_equal(buf, "ROROROROrwrwrwrw", 16);
	assert_int_equal(kvmhost_virtio_device_config_read(f->dev, 15, buf, 1), 0);
	assert_int_equal(buf[0], 'w');
	assert_int_equal(kvmhost_virtio_device_config_read(f->dev, 12, buf, 8), -ERANGE);
	assert_int_equal(kvmhost_virtio_device_config_read(f->dev, 16, buf, 1), -ERANGE);
	assert_int_equal(kvmhost_virtio_device_config_read(f->dev, UINT32_MAX, buf, 2), -ERANGE);
	assert_int_equal(kvmhost_virtio_device_config_read(f->dev, 0, buf, 0), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_config_read(f->dev, 0, NULL, 1), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_config_write(f->dev, 8, "WXYZ", 4), 0);
	assert_memory_equal(f->t.config + 8, "WXYZ", 4);
	assert_int_equal(kvmhost_virtio_device_config_write(f->dev, 0, "x", 1), -EACCES);
	assert_int_equal(kvmhost_virtio_device_config_write(f->dev, 14, "xyz", 3), -ERANGE);
	/* Generation and the config interrupt (only once live). */
	assert_int_equal(kvmhost_virtio_device_config_generation(f->dev), 0);
	assert_int_equal(kvmhost_virtio_device_config_changed(f->dev), 0);
	assert_int_equal(kvmhost_virtio_device_config_generation(f->dev), 1);
	assert_int_equal(f->tr.cirq, 0);
	bring_up(f, F_V1);
	assert_int_equal(kvmhost_virtio_device_config_changed(f->dev), 0);
	assert_int_equal(kvmhost_virtio_device_config_generation(f->dev), 2);
	assert_int_equal(f->tr.cirq, 1);
	/* A device without config ops: zeros, read-only. */
	{
		static const struct kvmhost_virtio_device_ops bare = {.size = sizeof(bare)};
		struct kvmhost_virtio_device_options o = dev_opts(&f->t);
		struct kvmhost_virtio_device *dev;

		o.ops = &bare;
		o.config_size = 4;
		assert_int_equal(kvmhost_virtio_device_create(f->m.mem, &o, &dev), 0);
		memset(buf, 0xaa, 4);
		assert_int_equal(kvmhost_virtio_device_config_read(dev, 0, buf, 4), 0);
		assert_int_equal(buf[0] | buf[1] | buf[2] | buf[3], 0);
		assert_int_equal(kvmhost_virtio_device_config_write(dev, 0, buf, 1), -EROFS);
		assert_int_equal(kvmhost_virtio_device_offered_features(dev), F_V1);
		kvmhost_virtio_device_destroy(dev);
	}
}

static void test_reset_clears(void **state)
{
	struct dfix *f = *state;
	struct kvmhost_virtq *q0 = kvmhost_virtio_device_queue(f->dev, 0);

	bring_up(f, F_V1 | F_EVENT);
	assert_int_equal(request(f), 0);
	assert_int_equal(kvmhost_virtio_device_config_changed(f->dev), 0);
	kvmhost_virtio_device_reset(f->dev);
	assert_int_equal(status(f), 0);
	assert_int_equal(kvmhost_virtio_device_driver_features(f->dev), 0);
	assert_int_equal(kvmhost_virtq_is_enabled(q0), 0);
	assert_int_equal(kvmhost_virtq_size(q0), 256);
	assert_int_equal(f->t.counter, 0);
	/* The generation only moves forward. */
	assert_int_equal(kvmhost_virtio_device_config_generation(f->dev), 1);
	/* And everything works again. */
	bring_up(f, F_V1);
	assert_int_equal(request(f), 0);
}

static void test_save_restore(void **state)
{
	struct dfix *f = *state;
	struct tdev t2 = {.features = f->t.features};
	struct ttr tr2 = {0};
	struct kvmhost_virtio_device *dev2;
	uint8_t *blob, *bad;
	int size, n;
	uint32_t v, id, len;
	const struct kvmhost_virtq_chain *c;

	bring_up(f, F_V1 | F_EVENT | BIT(0) | BIT(5));
	for (int i = 0; i < 5; i++)
		assert_int_equal(request(f), (uint32_t)i);
	assert_int_equal(kvmhost_virtio_device_config_changed(f->dev), 0);
	size = kvmhost_virtio_device_state_size(f->dev);
	assert_true(size > 0);
	blob = malloc((size_t)size);
	bad = malloc((size_t)size + 1);
	assert_int_equal(kvmhost_virtio_device_save(f->dev, blob, (size_t)size - 1), -ENOSPC);
	/* A chain in flight makes the device not quiescent. */
	{
		struct vd_buf b = {DATA, 4, 1};
		vd_split_add(&f->d0, &b, 1);
		assert_int_equal(kvmhost_virtq_pop(kvmhost_virtio_device_queue(f->dev, 0), &c), 1);
		assert_int_equal(kvmhost_virtio_device_save(f->dev, blob, (size_t)size), -EBUSY);
		assert_int_equal(kvmhost_virtq_unpop(kvmhost_virtio_device_queue(f->dev, 0), c), 0);
	}
	n = kvmhost_virtio_device_save(f->dev, blob, (size_t)size);
	assert_int_equal(n, size);

	/* Restore onto a second device of the same shape: it goes on where the
	 * first stopped, including the buffer still pending in the ring. */
	dev2 = make_dev(f, &t2, &tr2);
	assert_int_equal(kvmhost_virtio_device_restore(dev2, blob, (size_t)n), 0);
	assert_int_equal(kvmhost_virtio_device_get_status(dev2), S_ACK | S_DRV | S_FOK | S_DOK);
	vd_split_set_used_event(&f->d0, 5);
	assert_int_equal(kvmhost_virtio_device_driver_features(dev2), F_V1 | F_EVENT | BIT(0) | BIT(5));
	assert_int_equal(kvmhost_virtio_device_config_generation(dev2), 1);
	assert_int_equal(t2.counter, 5);
	assert_int_equal(t2.activated, 1);
	assert_int_equal(t2.act_features, F_V1 | F_EVENT | BIT(0) | BIT(5));
	assert_int_equal(kvmhost_virtq_is_enabled(kvmhost_virtio_device_queue(dev2, 1)), 1);
	assert_int_equal(kvmhost_virtio_device_queue_notify(dev2, 0), 0);
	assert_int_equal(vd_split_get_used(&f->d0, &id, &len), 1);
	memcpy(&v, vd_host(&f->m, DATA), 4);
	assert_int_equal(v, 5);
	assert_int_equal(vd_split_used_idx(&f->d0), 6);
	assert_int_equal(tr2.qirq[0], 1);

	/* Malformed blobs: refused, device left reset. */
#define BAD_BLOB(mutate, blen, err)                                                                                    \
	do {                                                                                                           \
		memcpy(bad, blob, (size_t)n);                                                                          \
		mutate;                                                                                                \
		t2.resets = 0;                                                                                         \
		assert_int_equal(kvmhost_virtio_device_restore(dev2, bad, blen), -(err));                              \
		assert_int_equal(kvmhost_virtio_device_get_status(dev2), 0);                                           \
		assert_true(t2.resets >= 1);                                                                           \
	} while (0)
	/* Header: magic 0, version 4, type 8, queues 12, status 14, features 16;
	 * queue 0 from 236: size, desc 240, ..., enabled 272, avail_idx 278. */
	BAD_BLOB((void)0, (size_t)n - 1, EINVAL);	      /* truncated */
	BAD_BLOB((void)0, 10, EINVAL);			      /* shorter than the header */
	BAD_BLOB(bad[n] = 0, (size_t)n + 1, EINVAL);	      /* trailing bytes */
	BAD_BLOB(bad[0] ^= 1, (size_t)n, EINVAL);	      /* magic */
	BAD_BLOB(bad[4] = 2, (size_t)n, EINVAL);	      /* version */
	BAD_BLOB(bad[8] ^= 1, (size_t)n, EINVAL);	      /* device type */
	BAD_BLOB(bad[12] = 3, (size_t)n, EINVAL);	      /* queue count */
	BAD_BLOB(bad[14] = S_ACK | S_DOK, (size_t)n, EINVAL); /* status out of order */
	BAD_BLOB(bad[14] |= 0x20, (size_t)n, EINVAL);	      /* unknown status bit */
	BAD_BLOB(bad[16 + 1] |= 0x80, (size_t)n, EINVAL);     /* a feature not offered (bit 15) */
	BAD_BLOB(bad[16 + 4] &= ~1, (size_t)n, EINVAL);	      /* no VERSION_1 */
	BAD_BLOB(bad[272] = 2, (size_t)n, EINVAL);	      /* queue flag not 0/1 */
	BAD_BLOB(bad[278] ^= 1, (size_t)n, EINVAL);	      /* split ring positions disagree */
	BAD_BLOB(bad[240 + 2] = 0x11, (size_t)n, EFAULT);     /* ring moved into the hole */
	BAD_BLOB(bad[240] |= 8, (size_t)n, EINVAL);	      /* ring misaligned */
	/* And the good blob still restores after all that. */
	assert_int_equal(kvmhost_virtio_device_restore(dev2, blob, (size_t)n), 0);
	assert_int_equal(kvmhost_virtio_device_get_status(dev2), S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(kvmhost_virtio_device_restore(dev2, NULL, 4), -EINVAL);
#undef BAD_BLOB
	free(bad);
	free(blob);
	kvmhost_virtio_device_destroy(dev2);
}

/* One request on queue 0 of a packed bring-up. */
static uint32_t request_packed(struct dfix *f, uint16_t id)
{
	struct vd_buf b = {DATA, 4, 1};
	uint16_t uid;
	uint32_t len, v;

	vd_packed_add(&f->d0, &b, 1, id);
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 0), 0);
	assert_int_equal(vd_packed_get_used(&f->d0, &uid, &len, NULL), 1);
	assert_int_equal(uid, id);
	assert_int_equal(len, 4);
	memcpy(&v, vd_host(&f->m, DATA), 4);
	return v;
}

/* Packed rings migrate too: positions and wrap counters mid-lap. */
static void test_save_restore_packed(void **state)
{
	struct dfix *f = *state;
	struct tdev t2 = {.features = f->t.features};
	struct ttr tr2 = {0};
	struct kvmhost_virtio_device *dev2;
	uint8_t *blob;
	int n;

	bring_up(f, F_V1 | F_PACKED | F_INDIRECT);
	for (uint32_t i = 0; i < 11; i++) /* 8 slots: one lap and a bit */
		assert_int_equal(request_packed(f, (uint16_t)(i % 8)), i);
	n = kvmhost_virtio_device_state_size(f->dev);
	blob = malloc((size_t)n);
	assert_int_equal(kvmhost_virtio_device_save(f->dev, blob, (size_t)n), n);
	dev2 = make_dev(f, &t2, &tr2);
	assert_int_equal(kvmhost_virtio_device_restore(dev2, blob, (size_t)n), 0);
	kvmhost_virtio_device_destroy(f->dev);
	f->dev = dev2;
	for (uint32_t i = 11; i < 30; i++)
		assert_int_equal(request_packed(f, (uint16_t)(i % 8)), i);
	/* Inconsistent packed positions are refused (queue 0's avail_idx
	 * at 278, its avail wrap counter at 275). */
	blob[278] ^= 1;
	assert_int_equal(kvmhost_virtio_device_restore(dev2, blob, (size_t)n), -EINVAL);
	blob[278] ^= 1;
	blob[275] = 2;
	assert_int_equal(kvmhost_virtio_device_restore(dev2, blob, (size_t)n), -EINVAL);
	free(blob);
	/* f->dev (dev2) and the fixture's original t are torn down by teardown;
	 * the original device is already gone. */
}

/* A device that needs a reset still needs it after migration. */
static void test_save_restore_broken(void **state)
{
	struct dfix *f = *state;
	struct tdev t2 = {.features = f->t.features};
	struct ttr tr2 = {0};
	struct kvmhost_virtio_device *dev2;
	char r1[200], r2[200];
	uint8_t *blob;
	int n;

	bring_up(f, F_V1);
	vd_split_publish(&f->d0, 99);
	assert_int_equal(kvmhost_virtio_device_queue_notify(f->dev, 0), 0);
	assert_int_equal(kvmhost_virtio_device_needs_reset(f->dev, r1, sizeof(r1)), 1);
	n = kvmhost_virtio_device_state_size(f->dev);
	blob = malloc((size_t)n);
	assert_int_equal(kvmhost_virtio_device_save(f->dev, blob, (size_t)n), n);
	dev2 = make_dev(f, &t2, &tr2);
	assert_int_equal(kvmhost_virtio_device_restore(dev2, blob, (size_t)n), 0);
	assert_int_equal(kvmhost_virtio_device_get_status(dev2), S_ACK | S_DRV | S_FOK | S_DOK | S_NR);
	assert_int_equal(kvmhost_virtio_device_needs_reset(dev2, r2, sizeof(r2)), 1);
	assert_string_equal(r1, r2);
	assert_int_equal(kvmhost_virtq_broken(kvmhost_virtio_device_queue(dev2, 0), NULL, 0), 1);
	assert_int_equal(kvmhost_virtq_broken(kvmhost_virtio_device_queue(dev2, 1), NULL, 0), 0);
	assert_int_equal(kvmhost_virtio_device_queue_notify(dev2, 0), 0);
	assert_int_equal(t2.notifies, 0);
	free(blob);
	kvmhost_virtio_device_destroy(dev2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_feature_offer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_negotiation_matrix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_machine, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activate_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_setup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kick_dispatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broken_queue_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_clears, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_restore_packed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_restore_broken, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
