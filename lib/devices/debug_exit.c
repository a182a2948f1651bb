/*
 * isa-debug-exit style port (debug_exit.h): turns a guest write into an
 * exit request for the VMM. The library never exits: it records the status
 * and tells the embedder. Stateless for save/restore: the recorded request
 * is a message to the VMM, not something the guest can read back.
 */
#include <pthread.h>
#include <stdlib.h>

#include <kvmhost/bus.h>
#include <kvmhost/device_registry.h>
#include <kvmhost/devices/debug_exit.h>

#include "../core/internal.h"

/* Guest-visible state: plain data. */
struct kh_debug_exit_regs {
	uint8_t requested;
	uint64_t status;
};

struct kvmhost_debug_exit {
	pthread_mutex_t lock;
	struct kh_debug_exit_regs r;
	uint32_t width;
	kvmhost_debug_exit_fn on_exit;
	void *opaque;
	struct kvmhost_bus *bus;
	uint64_t port;
};

static int kh_debug_exit_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	uint8_t *p = data;

	(void)opaque;
	(void)offset;
	for (uint32_t i = 0; i < len; i++)
		p[i] = 0;
	return 0;
}

static int kh_debug_exit_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct kvmhost_debug_exit *d = opaque;
	const uint8_t *p = data;
	uint64_t v = 0, status;

	(void)offset; /* any write in the range counts, as in QEMU */
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	status = (v << 1) | 1;
	pthread_mutex_lock(&d->lock);
	d->r.requested = 1;
	d->r.status = status;
	pthread_mutex_unlock(&d->lock);
	if (kh_log_enabled(KVMHOST_LOG_INFO))
		kh_log(KVMHOST_LOG_INFO, "debug-exit: guest wrote 0x%llx: exit status 0x%llx requested",
		       (unsigned long long)v, (unsigned long long)status);
	if (d->on_exit)
		d->on_exit(d->opaque, status);
	return 0;
}

KVMHOST_API int kvmhost_debug_exit_create(const struct kvmhost_debug_exit_options *opts,
					  struct kvmhost_debug_exit **out)
{
	struct kvmhost_debug_exit_options o;
	struct kvmhost_debug_exit *d;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	if (o.width == 0)
		o.width = 1;
	if (o.width != 1 && o.width != 2 && o.width != 4)
		return KH_FAIL(EINVAL, "width %u is not 1, 2 or 4", o.width);
	d = calloc(1, sizeof(*d));
	if (!d)
		return KH_FAIL(ENOMEM, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	d->width = o.width;
	d->on_exit = o.on_exit;
	d->opaque = o.opaque;
	*out = d;
	return 0;
}

KVMHOST_API void kvmhost_debug_exit_destroy(struct kvmhost_debug_exit *dev)
{
	if (!dev)
		return;
	if (dev->bus)
		kvmhost_bus_unregister(dev->bus, dev->port);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

KVMHOST_API int kvmhost_debug_exit_attach(struct kvmhost_debug_exit *dev, struct kvmhost_bus *bus, uint64_t port)
{
	struct kvmhost_bus_range range = {.size = sizeof(range)};
	int r;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	if (port > 0x10000 - dev->width)
		return KH_FAIL(EINVAL, "ports 0x%llx-0x%llx pass port 0xffff", (unsigned long long)port,
			       (unsigned long long)port + dev->width - 1);
	if (dev->bus)
		return KH_FAIL(EBUSY, "already attached at port 0x%llx", (unsigned long long)dev->port);
	range.base = port;
	range.length = dev->width;
	range.read = kh_debug_exit_read;
	range.write = kh_debug_exit_write;
	range.opaque = dev;
	range.name = "debug-exit";
	r = kvmhost_bus_register(bus, &range);
	if (r < 0)
		return r;
	dev->bus = bus;
	dev->port = port;
	return 0;
}

KVMHOST_API int kvmhost_debug_exit_requested(struct kvmhost_debug_exit *dev, uint64_t *status)
{
	int requested;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	pthread_mutex_lock(&dev->lock);
	requested = dev->r.requested;
	if (requested && status)
		*status = dev->r.status;
	pthread_mutex_unlock(&dev->lock);
	return requested;
}

/* ---- reset and (no) state ---- */

KVMHOST_API int kvmhost_debug_exit_reset(struct kvmhost_debug_exit *dev)
{
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	pthread_mutex_lock(&dev->lock);
	dev->r.requested = 0;
	dev->r.status = 0;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

KVMHOST_API int kvmhost_debug_exit_state_size(struct kvmhost_debug_exit *dev)
{
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	return 0;
}

KVMHOST_API int kvmhost_debug_exit_save(struct kvmhost_debug_exit *dev, void *buf, size_t len)
{
	(void)buf;
	(void)len;
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	return 0;
}

KVMHOST_API int kvmhost_debug_exit_restore(struct kvmhost_debug_exit *dev, const void *buf, size_t len)
{
	(void)buf;
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	if (len)
		return KH_FAIL(EINVAL, "debug-exit: a state of %zu bytes for a stateless device", len);
	return 0;
}

static int kh_debug_exit_op_reset(void *opaque)
{
	return kvmhost_debug_exit_reset(opaque);
}

static int kh_debug_exit_op_restore(void *opaque, const void *buf, size_t len)
{
	return kvmhost_debug_exit_restore(opaque, buf, len);
}

/* Stateless (no state_size, so no data is saved); restore still runs, to
 * refuse a record that carries data. */
static const struct kvmhost_device_ops kh_debug_exit_ops = {
    .size = sizeof(struct kvmhost_device_ops),
    .reset = kh_debug_exit_op_reset,
    .restore = kh_debug_exit_op_restore,
};

KVMHOST_API int kvmhost_debug_exit_register(struct kvmhost_debug_exit *dev, struct kvmhost_device_registry *registry,
					    const char *id)
{
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	return kvmhost_device_registry_add(registry, id, KVMHOST_DEBUG_EXIT_STATE_VERSION, &kh_debug_exit_ops, dev);
}
