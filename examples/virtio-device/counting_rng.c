/*
 * counting-rng (counting_rng.h): a virtio entropy device that serves each
 * request by writing a running byte counter into the driver's buffers.
 * Public libkvmhost API only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/error.h>
#include <kvmhost/virtio/device.h>

#include "counting_rng.h"

struct counting_rng {
	struct kvmhost_virtio_device *dev;
	pthread_mutex_t lock; /* kicks may come from any thread */
	uint64_t produced;    /* device state: bytes written so far */
};

static uint64_t rng_features(void *opaque)
{
	(void)opaque;
	/* No device-specific features; every ring feature the framework has. */
	return KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC) |
	       KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX) | KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);
}

static void rng_reset(void *opaque, struct kvmhost_virtio_device *dev)
{
	struct counting_rng *rng = opaque;

	(void)dev;
	pthread_mutex_lock(&rng->lock); /* waits for a kick being served */
	rng->produced = 0;
	pthread_mutex_unlock(&rng->lock);
}

/* Fill one request. Returns the bytes written, or -1 for a request the
 * driver must not send (the spec: entropy buffers are device-writable). */
static long rng_fill(struct counting_rng *rng, const struct kvmhost_virtq_chain *c)
{
	uint64_t n = 0;

	if (c->readable_count)
		return -1;
	for (uint32_t i = 0; i < c->writable_count; i++) {
		uint8_t *p = c->writable[i].iov_base;

		for (size_t j = 0; j < c->writable[i].iov_len; j++)
			p[j] = (uint8_t)(rng->produced + n++);
	}
	rng->produced += n;
	return (long)n;
}

static void rng_kick(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	struct counting_rng *rng = opaque;
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(dev, queue);
	const struct kvmhost_virtq_chain *c;
	int r;

	pthread_mutex_lock(&rng->lock);
	/* Drain with kicks off; re-enable and look again before leaving, so a
	 * buffer added in between is not left waiting for a kick that the
	 * driver was told to skip. */
	do {
		kvmhost_virtq_set_notify(q, 0);
		while ((r = kvmhost_virtq_pop(q, &c)) == 1) {
			long n = rng_fill(rng, c);

			if (n < 0) {
				/* Breaking the queue sets DEVICE_NEEDS_RESET. */
				kvmhost_virtq_set_broken(q, "entropy request with a device-readable buffer");
				r = -EIO;
				break;
			}
			kvmhost_virtq_push(q, c, (uint32_t)n);
		}
	} while (r == 0 && kvmhost_virtq_set_notify(q, 1) == 1);
	pthread_mutex_unlock(&rng->lock);
	kvmhost_virtio_device_notify_used(dev, queue);
}

static size_t rng_state_size(void *opaque)
{
	(void)opaque;
	return 8;
}

static int rng_save(void *opaque, void *buf, size_t len)
{
	struct counting_rng *rng = opaque;
	uint8_t *p = buf;

	if (len != 8)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(rng->produced >> (8 * i));
	return 0;
}

static int rng_restore(void *opaque, const void *buf, size_t len)
{
	struct counting_rng *rng = opaque;
	const uint8_t *p = buf;
	uint64_t v = 0;

	if (len != 8)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	rng->produced = v;
	return 0;
}

static const struct kvmhost_virtio_device_ops rng_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .get_features = rng_features,
    .reset = rng_reset,
    .queue_notify = rng_kick,
    .state_size = rng_state_size,
    .save_state = rng_save,
    .restore_state = rng_restore,
};

int counting_rng_create(struct kvmhost_memory *mem, struct counting_rng **out)
{
	struct kvmhost_virtio_device_options o = {.size = sizeof(o)};
	struct counting_rng *rng = calloc(1, sizeof(*rng));
	int err;

	if (!rng)
		return -ENOMEM;
	pthread_mutex_init(&rng->lock, NULL);
	o.device_id = KVMHOST_VIRTIO_ID_ENTROPY;
	o.num_queues = 1;
	o.queue_max_size = 256;
	o.ops = &rng_ops;
	o.opaque = rng;
	o.name = "counting-rng";
	err = kvmhost_virtio_device_create(mem, &o, &rng->dev);
	if (err < 0) {
		pthread_mutex_destroy(&rng->lock);
		free(rng);
		return err;
	}
	*out = rng;
	return 0;
}

void counting_rng_destroy(struct counting_rng *rng)
{
	if (!rng)
		return;
	kvmhost_virtio_device_destroy(rng->dev);
	pthread_mutex_destroy(&rng->lock);
	free(rng);
}

struct kvmhost_virtio_device *counting_rng_device(struct counting_rng *rng)
{
	return rng->dev;
}

uint64_t counting_rng_bytes(struct counting_rng *rng)
{
	uint64_t n;

	pthread_mutex_lock(&rng->lock);
	n = rng->produced;
	pthread_mutex_unlock(&rng->lock);
	return n;
}
