/*
 * A fake transport and driver for testing virtio device models
 * (lib/virtio/devices) on fake guest memory: builds on virtio_driver.h (the
 * rings) and drives the framework's transport calls the way virtio-mmio or
 * virtio-pci would: status handshake, feature negotiation, queue setup,
 * kicks, and counts the interrupts the device raises.
 *
 * Queue i's rings live at VDF_Q_BASE + i * VDF_Q_STRIDE (room for size 256);
 * tests put their buffers at VDF_BUF and above (region A) or in region B.
 */
#ifndef KVMHOST_TESTS_VIRTIO_DEV_FIXTURE_H
#define KVMHOST_TESTS_VIRTIO_DEV_FIXTURE_H

#include <kvmhost/virtio/device.h>

#include "virtio_driver.h"

#define VDF_MAXQ     8
#define VDF_Q_BASE   0xa0000ull
#define VDF_Q_STRIDE 0x4000ull
#define VDF_BUF	     0xc0000ull

struct vdf {
	struct vd_mem m;
	struct kvmhost_virtio_device *dev;
	struct vd_queue q[VDF_MAXQ];
	unsigned nq;
	int packed;
	uint16_t next_id[VDF_MAXQ]; /* packed buffer ids */
	int qirq[VDF_MAXQ];
	int cirq;
};

static inline int vdf_queue_irq(void *opaque, uint16_t queue)
{
	struct vdf *f = opaque;

	if (queue < VDF_MAXQ)
		f->qirq[queue]++;
	return 0;
}

static inline int vdf_config_irq(void *opaque)
{
	((struct vdf *)opaque)->cirq++;
	return 0;
}

static const struct kvmhost_virtio_transport_ops vdf_tops = {
    .size = sizeof(struct kvmhost_virtio_transport_ops),
    .queue_interrupt = vdf_queue_irq,
    .config_interrupt = vdf_config_irq,
};

/* Connect @dev (made on f->m.mem) to the fake transport. 0 or an error. */
static inline int vdf_attach(struct vdf *f, struct kvmhost_virtio_device *dev)
{
	f->dev = dev;
	return kvmhost_virtio_device_set_transport(dev, &vdf_tops, f);
}

/*
 * The driver's bring-up: ACKNOWLEDGE, DRIVER, features (VERSION_1 added),
 * FEATURES_OK, @nq queues of @size (split or packed), DRIVER_OK.
 * 0, or the first error (as the transport call returned it).
 */
static inline int vdf_start(struct vdf *f, uint64_t features, unsigned nq, int packed, uint32_t size)
{
	int err;

	features |= KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_VERSION_1);
	if (packed)
		features |= KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);
	f->nq = nq;
	f->packed = packed;
	if ((err = kvmhost_virtio_device_set_status(f->dev, KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE)) < 0)
		return err;
	if ((err = kvmhost_virtio_device_set_status(f->dev, KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE |
								KVMHOST_VIRTIO_STATUS_DRIVER)) < 0)
		return err;
	if ((err = kvmhost_virtio_device_set_driver_features(f->dev, 0, (uint32_t)features)) < 0 ||
	    (err = kvmhost_virtio_device_set_driver_features(f->dev, 1, (uint32_t)(features >> 32))) < 0)
		return err;
	if ((err = kvmhost_virtio_device_set_status(f->dev, KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE |
								KVMHOST_VIRTIO_STATUS_DRIVER |
								KVMHOST_VIRTIO_STATUS_FEATURES_OK)) < 0)
		return err;
	for (unsigned i = 0; i < nq; i++) {
		struct vd_queue *d = &f->q[i];
		uint64_t base = VDF_Q_BASE + i * VDF_Q_STRIDE;

		vd_queue_init_at(d, &f->m, packed, size, base, base + 0x1000, packed ? base + 0x1010 : base + 0x2000);
		f->next_id[i] = 0;
		if ((err = kvmhost_virtio_device_queue_set_size(f->dev, (uint16_t)i, size)) < 0 ||
		    (err = kvmhost_virtio_device_queue_set_desc_addr(f->dev, (uint16_t)i, d->desc)) < 0 ||
		    (err = kvmhost_virtio_device_queue_set_driver_addr(f->dev, (uint16_t)i, d->driver)) < 0 ||
		    (err = kvmhost_virtio_device_queue_set_device_addr(f->dev, (uint16_t)i, d->device)) < 0 ||
		    (err = kvmhost_virtio_device_queue_enable(f->dev, (uint16_t)i, 1)) < 0)
			return err;
	}
	return kvmhost_virtio_device_set_status(
	    f->dev, KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE | KVMHOST_VIRTIO_STATUS_DRIVER |
			KVMHOST_VIRTIO_STATUS_FEATURES_OK | KVMHOST_VIRTIO_STATUS_DRIVER_OK);
}

/* Post a request of @n buffers on queue @qi (no kick). Returns its id. */
static inline uint16_t vdf_post(struct vdf *f, unsigned qi, const struct vd_buf *bufs, unsigned n)
{
	struct vd_queue *d = &f->q[qi];

	if (f->packed) {
		uint16_t id = f->next_id[qi];

		f->next_id[qi] = (uint16_t)((id + 1) % d->size);
		vd_packed_add(d, bufs, n, id);
		return id;
	}
	return vd_split_add(d, bufs, n);
}

/* Post one buffer. */
static inline uint16_t vdf_post1(struct vdf *f, unsigned qi, uint64_t addr, uint32_t len, int write)
{
	struct vd_buf b = {.addr = addr, .len = len, .write = write};

	return vdf_post(f, qi, &b, 1);
}

static inline int vdf_kick(struct vdf *f, unsigned qi)
{
	return kvmhost_virtio_device_queue_notify(f->dev, (uint16_t)qi);
}

/* Take the next used element of queue @qi: 1 and id/len, or 0. */
static inline int vdf_used(struct vdf *f, unsigned qi, uint32_t *id, uint32_t *len)
{
	if (f->packed) {
		uint16_t pid;
		int r = vd_packed_get_used(&f->q[qi], &pid, len, NULL);

		if (r)
			*id = pid;
		return r;
	}
	return vd_split_get_used(&f->q[qi], id, len);
}

/* Whether the device reports DEVICE_NEEDS_RESET. */
static inline int vdf_needs_reset(struct vdf *f)
{
	return (kvmhost_virtio_device_get_status(f->dev) & KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET) != 0;
}

#endif
