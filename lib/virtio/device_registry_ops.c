/*
 * Device registry adapters for virtio devices (kvmhost_virtio_device_register,
 * kvmhost_virtio_blk_register): const ops tables over the framework's public
 * reset and save/restore calls, so a machine registers a virtio device the
 * way it registers a UART. Public API only: nothing here reaches inside the
 * framework.
 */
#include <kvmhost/device_registry.h>
#include <kvmhost/virtio/block.h>
#include <kvmhost/virtio/device.h>

#include "../core/internal.h"

static int kh_vdev_op_reset(void *opaque)
{
	kvmhost_virtio_device_reset(opaque);
	return 0;
}

static int kh_vdev_op_state_size(void *opaque)
{
	return kvmhost_virtio_device_state_size(opaque);
}

static int kh_vdev_op_save(void *opaque, void *buf, size_t len)
{
	return kvmhost_virtio_device_save(opaque, buf, len);
}

static int kh_vdev_op_restore(void *opaque, const void *buf, size_t len)
{
	return kvmhost_virtio_device_restore(opaque, buf, len);
}

static const struct kvmhost_device_ops kh_vdev_ops = {
    .size = sizeof(struct kvmhost_device_ops),
    .reset = kh_vdev_op_reset,
    .state_size = kh_vdev_op_state_size,
    .save = kh_vdev_op_save,
    .restore = kh_vdev_op_restore,
};

KVMHOST_API int kvmhost_virtio_device_register(struct kvmhost_virtio_device *dev,
					       struct kvmhost_device_registry *registry, const char *id)
{
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	return kvmhost_device_registry_add(registry, id, KVMHOST_VIRTIO_DEVICE_STATE_VERSION, &kh_vdev_ops, dev);
}

/* virtio-blk: the opaque is the blk; the state is its virtio device's. */

static int kh_blk_op_reset(void *opaque)
{
	kvmhost_virtio_device_reset(kvmhost_virtio_blk_device(opaque));
	return 0;
}

static int kh_blk_op_pause(void *opaque)
{
	return kvmhost_virtio_blk_drain(opaque);
}

static int kh_blk_op_state_size(void *opaque)
{
	return kvmhost_virtio_device_state_size(kvmhost_virtio_blk_device(opaque));
}

static int kh_blk_op_save(void *opaque, void *buf, size_t len)
{
	return kvmhost_virtio_device_save(kvmhost_virtio_blk_device(opaque), buf, len);
}

static int kh_blk_op_restore(void *opaque, const void *buf, size_t len)
{
	return kvmhost_virtio_device_restore(kvmhost_virtio_blk_device(opaque), buf, len);
}

/* resume is NULL: drain stopped nothing, so there is nothing to restart. */
static const struct kvmhost_device_ops kh_blk_ops = {
    .size = sizeof(struct kvmhost_device_ops),
    .reset = kh_blk_op_reset,
    .pause = kh_blk_op_pause,
    .state_size = kh_blk_op_state_size,
    .save = kh_blk_op_save,
    .restore = kh_blk_op_restore,
};

KVMHOST_API int kvmhost_virtio_blk_register(struct kvmhost_virtio_blk *blk, struct kvmhost_device_registry *registry,
					    const char *id)
{
	if (!blk)
		return KH_FAIL(EINVAL, "blk is NULL");
	return kvmhost_device_registry_add(registry, id, KVMHOST_VIRTIO_DEVICE_STATE_VERSION, &kh_blk_ops, blk);
}
