/*
 * A fake virtio device for the transport tests (virtio-mmio, virtio-pci)
 * and their fuzzers: a framework device (virtio/device.h) on fake guest
 * memory (unit/virtio_driver.h) with two queues, 16 bytes of config space
 * (bytes 0-7 a read-only pattern, 8-15 writable), two device feature bits,
 * an optional refusal of one of them, and a queue_notify op that records
 * kicks and, when asked, serves every available chain by writing "pong"
 * into it and pushing it back (so a kick ends in a used-buffer interrupt).
 * Header-only, public API only.
 */
#ifndef KVMHOST_TESTS_VIRTIO_TRANSPORT_FAKE_H
#define KVMHOST_TESTS_VIRTIO_TRANSPORT_FAKE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <kvmhost/virtio/device.h>

#include "unit/virtio_driver.h"

#define FAKE_ID	       KVMHOST_VIRTIO_ID_ENTROPY
#define FAKE_QUEUES    2
#define FAKE_QMAX      64
#define FAKE_CFG_SIZE  16u
#define FAKE_F_A       KVMHOST_VIRTIO_BIT(0)
#define FAKE_F_B       KVMHOST_VIRTIO_BIT(3)
#define FAKE_F_VERSION KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_VERSION_1)

struct fake_dev {
	struct vd_mem m;
	struct kvmhost_virtio_device *dev;
	uint8_t config[FAKE_CFG_SIZE];
	atomic_int notifies[FAKE_QUEUES];
	atomic_int served;
	int refuse_b; /* validate_features refuses FAKE_F_B */
	int serve;    /* queue_notify serves the queue */
	int activated;
	int resets;
};

static inline uint64_t fake_get_features(void *opaque)
{
	(void)opaque;
	return FAKE_F_A | FAKE_F_B;
}

static inline int fake_validate(void *opaque, uint64_t f)
{
	struct fake_dev *fd = opaque;

	return fd->refuse_b && (f & FAKE_F_B) ? -EINVAL : 0;
}

static inline int fake_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct fake_dev *fd = opaque;

	memcpy(buf, &fd->config[off], len);
	return 0;
}

static inline int fake_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
	struct fake_dev *fd = opaque;

	if (off < 8)
		return -EROFS;
	memcpy(&fd->config[off], buf, len);
	return 0;
}

static inline int fake_activate(void *opaque, struct kvmhost_virtio_device *dev, uint64_t f)
{
	struct fake_dev *fd = opaque;

	(void)dev;
	(void)f;
	fd->activated++;
	return 0;
}

static inline void fake_reset(void *opaque, struct kvmhost_virtio_device *dev)
{
	struct fake_dev *fd = opaque;

	(void)dev;
	fd->resets++;
}

static inline void fake_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	struct fake_dev *fd = opaque;
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(dev, queue);
	const struct kvmhost_virtq_chain *c;

	if (queue < FAKE_QUEUES)
		atomic_fetch_add(&fd->notifies[queue], 1);
	if (!fd->serve || !q)
		return;
	while (kvmhost_virtq_pop(q, &c) == 1) {
		uint32_t n = c->writable_len < 4 ? (uint32_t)c->writable_len : 4;

		if (n)
			(void)kvmhost_virtq_chain_write(c, 0, "pong", n);
		(void)kvmhost_virtq_push(q, c, n);
		atomic_fetch_add(&fd->served, 1);
	}
	(void)kvmhost_virtio_device_notify_used(dev, queue);
}

static const struct kvmhost_virtio_device_ops fake_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .get_features = fake_get_features,
    .validate_features = fake_validate,
    .config_read = fake_config_read,
    .config_write = fake_config_write,
    .activate = fake_activate,
    .reset = fake_reset,
    .queue_notify = fake_notify,
};

/* 0 or -1. */
static inline int fake_init(struct fake_dev *fd)
{
	struct kvmhost_virtio_device_options o = {.size = sizeof(o)};

	memset(fd, 0, sizeof(*fd));
	if (vd_mem_init(&fd->m) < 0)
		return -1;
	for (uint32_t i = 0; i < 8; i++)
		fd->config[i] = (uint8_t)(0x10 + i);
	o.device_id = FAKE_ID;
	o.num_queues = FAKE_QUEUES;
	o.queue_max_size = FAKE_QMAX;
	o.config_size = FAKE_CFG_SIZE;
	o.ops = &fake_ops;
	o.opaque = fd;
	o.name = "fake";
	return kvmhost_virtio_device_create(fd->m.mem, &o, &fd->dev) < 0 ? -1 : 0;
}

static inline void fake_fini(struct fake_dev *fd)
{
	kvmhost_virtio_device_destroy(fd->dev);
	vd_mem_fini(&fd->m);
}

/* A fake interrupt line: records its level and how often it rose. */
struct fake_line {
	atomic_int level;
	atomic_int rises;
};

static inline int fake_line_set(void *opaque, int level)
{
	struct fake_line *l = opaque;

	if (level && !atomic_load(&l->level))
		atomic_fetch_add(&l->rises, 1);
	atomic_store(&l->level, level);
	return 0;
}

#endif
