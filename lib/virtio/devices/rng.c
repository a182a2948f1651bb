/*
 * virtio-rng (virtio/rng.h): a framework device with one request queue,
 * whose writable buffers are filled from getrandom(2) (GRND_NONBLOCK) or the
 * embedder's source, at most max_request bytes per request.
 *
 * Requests are served in the notifying thread under req_lock (which keeps
 * the counters too); the source is never waited for: a request it cannot
 * fill at all goes back on the queue (unpop) for the next kick or
 * kvmhost_virtio_rng_process().
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/rng.h>

#include "../../core/internal.h"

#define KH_RNG_QUEUE_SIZE 256u

struct kvmhost_virtio_rng {
	struct kvmhost_virtio_device *dev;
	uint32_t max_request;
	kvmhost_virtio_rng_fill_fn fill;
	void *fill_opaque;
	pthread_mutex_t req_lock; /* serving requests, and the counters */
	struct kvmhost_virtio_rng_stats stats;
	char name[64];
};

static ssize_t kh_rng_getrandom(void *opaque, void *buf, size_t len)
{
	ssize_t n;

	(void)opaque;
	n = KH_RETRY_EINTR(getrandom(buf, len, GRND_NONBLOCK));
	return n < 0 ? -errno : n;
}

/* Fill up to @want bytes of the chain's writable buffers. Returns bytes
 * filled; *starved / *failed say why it stopped short. */
static uint32_t kh_rng_fill_chain(struct kvmhost_virtio_rng *r, const struct kvmhost_virtq_chain *c, uint32_t want,
				  int *starved, int *failed)
{
	uint32_t filled = 0;

	for (uint32_t i = 0; i < c->writable_count && filled < want; i++) {
		size_t n = KH_MIN((size_t)c->writable[i].iov_len, (size_t)(want - filled));
		ssize_t got;

		if (n == 0)
			continue;
		got = r->fill(r->fill_opaque, c->writable[i].iov_base, n);
		if (got < 0) {
			if (got == -EAGAIN || got == -EWOULDBLOCK)
				*starved = 1;
			else
				*failed = (int)got;
			break;
		}
		if ((size_t)got > n) /* a bad source: never trust more than asked */
			got = (ssize_t)n;
		filled += (uint32_t)got;
		if ((size_t)got < n) {
			*starved = 1;
			break;
		}
	}
	return filled;
}

/* Serve posted requests; returns how many went back to the driver. */
static int kh_rng_serve(struct kvmhost_virtio_rng *r)
{
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(r->dev, 0);
	const struct kvmhost_virtq_chain *c;
	int served = 0;

	pthread_mutex_lock(&r->req_lock);
	while (kvmhost_virtq_pop(q, &c) == 1) {
		int starved = 0, failed = 0;
		uint32_t want, filled;

		if (c->readable_count) {
			/* The spec's requests are device-writable only. */
			(void)kvmhost_virtq_unpop(q, c);
			kvmhost_virtq_set_broken(q, "entropy request with device-readable buffers");
			break;
		}
		want = (uint32_t)KH_MIN(c->writable_len, (uint64_t)r->max_request);
		filled = kh_rng_fill_chain(r, c, want, &starved, &failed);
		if (starved)
			r->stats.starved++;
		if (failed) {
			r->stats.errors++;
			if (kh_log_enabled(KVMHOST_LOG_WARN))
				kh_log(KVMHOST_LOG_WARN, "%s: entropy source failed: %s", r->name,
				       kvmhost_strerror(failed));
		}
		if (filled == 0 && want > 0) {
			/* Nothing to give: keep the request for later. */
			(void)kvmhost_virtq_unpop(q, c);
			break;
		}
		if (kvmhost_virtq_push(q, c, filled) < 0)
			break; /* reset meanwhile: the chain is released */
		r->stats.requests++;
		r->stats.bytes += filled;
		served++;
		if (starved || failed)
			break;
	}
	pthread_mutex_unlock(&r->req_lock);
	if (served)
		(void)kvmhost_virtio_device_notify_used(r->dev, 0);
	return served;
}

static void kh_rng_queue_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	(void)dev;
	(void)queue;
	(void)kh_rng_serve(opaque);
}

static uint64_t kh_rng_get_features(void *opaque)
{
	(void)opaque;
	return KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC) |
	       KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX) | KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);
}

static const struct kvmhost_virtio_device_ops kh_rng_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .get_features = kh_rng_get_features,
    .queue_notify = kh_rng_queue_notify,
};

KVMHOST_API int kvmhost_virtio_rng_create(struct kvmhost_memory *mem, const struct kvmhost_virtio_rng_options *opts,
					  struct kvmhost_virtio_rng **out)
{
	struct kvmhost_virtio_device_options dopts = {.size = sizeof(dopts)};
	struct kvmhost_virtio_rng_options o;
	struct kvmhost_virtio_rng *r;
	int err;

	if (out)
		*out = NULL;
	if (!mem || !out)
		return KH_FAIL(EINVAL, "mem or out is NULL");
	memset(&o, 0, sizeof(o));
	if (opts) {
		err = KH_COPY_OPTIONS(&o, opts);
		if (err < 0)
			return err;
	}
	if (o.max_request > KVMHOST_VIRTIO_RNG_MAX_REQUEST)
		return KH_FAIL(EINVAL, "max_request %u is above %u", o.max_request, KVMHOST_VIRTIO_RNG_MAX_REQUEST);
	if (o.queue_size > KVMHOST_VIRTQ_MAX_SIZE)
		return KH_FAIL(EINVAL, "queue_size %u is above %u", o.queue_size, KVMHOST_VIRTQ_MAX_SIZE);
	r = calloc(1, sizeof(*r));
	if (!r)
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-rng device");
	r->max_request = o.max_request ? o.max_request : KVMHOST_VIRTIO_RNG_MAX_REQUEST;
	r->fill = o.fill ? o.fill : kh_rng_getrandom;
	r->fill_opaque = o.fill_opaque;
	r->stats.size = sizeof(r->stats);
	snprintf(r->name, sizeof(r->name), "%s", o.name ? o.name : "virtio-rng");
	pthread_mutex_init(&r->req_lock, NULL);
	dopts.device_id = KVMHOST_VIRTIO_ID_ENTROPY;
	dopts.num_queues = 1;
	dopts.queue_max_size = o.queue_size ? o.queue_size : KH_RNG_QUEUE_SIZE;
	dopts.config_size = 0;
	dopts.ops = &kh_rng_ops;
	dopts.opaque = r;
	dopts.name = r->name;
	err = kvmhost_virtio_device_create(mem, &dopts, &r->dev);
	if (err < 0) {
		pthread_mutex_destroy(&r->req_lock);
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

KVMHOST_API void kvmhost_virtio_rng_destroy(struct kvmhost_virtio_rng *rng)
{
	if (!rng)
		return;
	kvmhost_virtio_device_destroy(rng->dev);
	pthread_mutex_destroy(&rng->req_lock);
	free(rng);
}

KVMHOST_API struct kvmhost_virtio_device *kvmhost_virtio_rng_device(struct kvmhost_virtio_rng *rng)
{
	return rng ? rng->dev : NULL;
}

KVMHOST_API int kvmhost_virtio_rng_process(struct kvmhost_virtio_rng *rng)
{
	int status;

	if (!rng)
		return KH_FAIL(EINVAL, "rng is NULL");
	status = kvmhost_virtio_device_get_status(rng->dev);
	if (!(status & KVMHOST_VIRTIO_STATUS_DRIVER_OK) ||
	    (status & (KVMHOST_VIRTIO_STATUS_FAILED | KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET)))
		return 0;
	return kh_rng_serve(rng);
}

KVMHOST_API int kvmhost_virtio_rng_get_stats(struct kvmhost_virtio_rng *rng, struct kvmhost_virtio_rng_stats *stats)
{
	struct kvmhost_virtio_rng_stats s;
	size_t size;

	if (!rng || !stats)
		return KH_FAIL(EINVAL, "rng or stats is NULL");
	size = stats->size;
	if (size < sizeof(size_t) || size > 65536)
		return KH_FAIL(EINVAL, "%s: stats size %zu is invalid", rng->name, size);
	pthread_mutex_lock(&rng->req_lock);
	s = rng->stats;
	pthread_mutex_unlock(&rng->req_lock);
	memcpy(stats, &s, KH_MIN(size, sizeof(s)));
	if (size > sizeof(s))
		memset((char *)stats + sizeof(s), 0, size - sizeof(s));
	stats->size = size;
	return 0;
}
