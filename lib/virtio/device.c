/*
 * The virtio device framework (virtio/device.h): the device object between
 * a device model (its ops table) and a transport (its interrupt callbacks):
 * feature offer and negotiation, the status state machine, config space
 * bounds and generation, the queues, DEVICE_NEEDS_RESET reporting (from the
 * device or from a queue that broke), and the migration blob.
 *
 * Locks: state_lock serialises the transport-side calls (status, features,
 * config, queue setup, save/restore) and the device ops they run. aux_lock
 * guards the needs-reset reason and the transport callbacks, and is never
 * held while calling out. The device-side calls (notify_used,
 * config_changed, set_needs_reset, queue_notify) take only aux_lock and the
 * queues' own locks, so a device may call them from inside its ops and
 * from its worker threads. Order: state_lock, then a queue lock, then
 * aux_lock.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <kvmhost/virtio/device.h>

#include "transport_internal.h"
#include "virtio_internal.h"

#define BIT(b) KVMHOST_VIRTIO_BIT(b)

/* Feature bits the device may set for itself: 0-23 and 50-63. */
#define KH_VDEV_DEVICE_BITS (0x00ffffffull | (~0ull << 50))
/* Transport-range bits the framework implements when the device asks. */
#define KH_VDEV_RING_BITS                                                                                              \
	(BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC) | BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX) |                             \
	 BIT(KVMHOST_VIRTIO_F_RING_PACKED) | BIT(KVMHOST_VIRTIO_F_ACCESS_PLATFORM))

#define S_ACK	      KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRIVER      KVMHOST_VIRTIO_STATUS_DRIVER
#define S_DRIVER_OK   KVMHOST_VIRTIO_STATUS_DRIVER_OK
#define S_FEATURES_OK KVMHOST_VIRTIO_STATUS_FEATURES_OK
#define S_NEEDS_RESET KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET
#define S_FAILED      KVMHOST_VIRTIO_STATUS_FAILED
#define S_DRIVER_BITS (S_ACK | S_DRIVER | S_DRIVER_OK | S_FEATURES_OK | S_FAILED)

#define KH_VDEV_REASON_MAX 192

struct kvmhost_virtio_device {
	pthread_mutex_t state_lock;
	struct kvmhost_memory *mem;
	char *name;
	uint32_t device_id;
	uint16_t num_queues;
	uint32_t config_size;
	struct kvmhost_virtio_device_ops ops;
	void *opaque;
	struct kvmhost_virtq **queues;

	/* Under state_lock. */
	uint64_t offered;     /* what get_features pages show */
	uint64_t driver_sel;  /* what the driver wrote, pages 0 and 1 */
	int driver_sel_extra; /* the driver wrote bits in a later page */
	uint64_t negotiated;  /* accepted at FEATURES_OK */

	_Atomic uint8_t status; /* the driver's bits (DEVICE_NEEDS_RESET is needs_reset) */
	_Atomic int needs_reset;
	_Atomic uint32_t generation;

	pthread_mutex_t aux_lock;
	char reason[KH_VDEV_REASON_MAX];
	struct kvmhost_virtio_transport_ops tops;
	void *topaque;
	const struct kh_vt_state_ops *tsops; /* the transport's own state, or NULL */
	void *tsopaque;
};

/* ---- interrupts and needs-reset ---- */

static int kh_vdev_raise(struct kvmhost_virtio_device *dev, int config, uint16_t queue)
{
	int (*qfn)(void *, uint16_t);
	int (*cfn)(void *);
	void *opaque;

	pthread_mutex_lock(&dev->aux_lock);
	qfn = dev->tops.queue_interrupt;
	cfn = dev->tops.config_interrupt;
	opaque = dev->topaque;
	pthread_mutex_unlock(&dev->aux_lock);
	if (config)
		return cfn ? cfn(opaque) : 0;
	return qfn ? qfn(opaque, queue) : 0;
}

static int kh_vdev_has_irq(struct kvmhost_virtio_device *dev, int config)
{
	int r;

	pthread_mutex_lock(&dev->aux_lock);
	r = config ? dev->tops.config_interrupt != NULL : dev->tops.queue_interrupt != NULL;
	pthread_mutex_unlock(&dev->aux_lock);
	return r;
}

static void kh_vdev_needs_reset(struct kvmhost_virtio_device *dev, const char *reason)
{
	int first = 0;

	pthread_mutex_lock(&dev->aux_lock);
	if (!atomic_load(&dev->needs_reset)) {
		if (snprintf(dev->reason, sizeof(dev->reason), "%s", reason) < 0)
			dev->reason[0] = '\0';
		atomic_store(&dev->needs_reset, 1);
		first = 1;
	}
	pthread_mutex_unlock(&dev->aux_lock);
	if (!first)
		return;
	kh_log(KVMHOST_LOG_WARN, "virtio device %s: needs reset: %s", dev->name, reason);
	/* The spec: with DRIVER_OK set, announce it with a config change. */
	if (atomic_load(&dev->status) & S_DRIVER_OK)
		(void)kh_vdev_raise(dev, 1, 0);
}

static void kh_vdev_queue_broken(void *opaque, struct kvmhost_virtq *q, const char *reason)
{
	char msg[KH_VDEV_REASON_MAX];

	if (snprintf(msg, sizeof(msg), "queue %u: %s", q->index, reason) < 0)
		msg[0] = '\0';
	kh_vdev_needs_reset(opaque, msg);
}

/* ---- creation ---- */

static uint64_t kh_vdev_offer(struct kvmhost_virtio_device *dev)
{
	uint64_t f = dev->ops.get_features ? dev->ops.get_features(dev->opaque) : 0;

	return (f & (KH_VDEV_DEVICE_BITS | KH_VDEV_RING_BITS)) | BIT(KVMHOST_VIRTIO_F_VERSION_1);
}

KVMHOST_API int kvmhost_virtio_device_create(struct kvmhost_memory *mem,
					     const struct kvmhost_virtio_device_options *opts,
					     struct kvmhost_virtio_device **out)
{
	struct kvmhost_virtio_device_options o;
	struct kvmhost_virtio_device *dev;
	char buf[64];
	int err;

	if (out)
		*out = NULL;
	if (!mem || !opts || !out)
		return KH_FAIL(EINVAL, "mem, opts or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	if (!o.ops)
		return KH_FAIL(EINVAL, "ops is NULL");
	if (o.device_id == 0 || o.device_id > 0xffff)
		return KH_FAIL(EINVAL, "device id %u is not within 1..65535", o.device_id);
	if (o.num_queues == 0 || o.num_queues > KVMHOST_VIRTIO_QUEUES_MAX)
		return KH_FAIL(EINVAL, "%u queues is not within 1..%u", o.num_queues, KVMHOST_VIRTIO_QUEUES_MAX);
	if (o.queue_max_size == 0 || o.queue_max_size > KVMHOST_VIRTQ_MAX_SIZE)
		return KH_FAIL(EINVAL, "queue_max_size %u is not within 1..%u", o.queue_max_size,
			       KVMHOST_VIRTQ_MAX_SIZE);
	if (o.config_size > KVMHOST_VIRTIO_CONFIG_MAX)
		return KH_FAIL(EINVAL, "config_size %u is above %u", o.config_size, KVMHOST_VIRTIO_CONFIG_MAX);
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return KH_FAIL(ENOMEM, "cannot allocate a device");
	err = kh_copy_options(&dev->ops, sizeof(dev->ops), o.ops, __func__);
	if (err < 0) {
		free(dev);
		return err;
	}
	if (o.name)
		dev->name = strdup(o.name);
	else if (snprintf(buf, sizeof(buf), "virtio-%u", o.device_id) > 0)
		dev->name = strdup(buf);
	dev->queues = calloc(o.num_queues, sizeof(*dev->queues));
	if (!dev->name || !dev->queues) {
		free(dev->name);
		free(dev->queues);
		free(dev);
		return KH_FAIL(ENOMEM, "cannot allocate a device");
	}
	pthread_mutex_init(&dev->state_lock, NULL);
	pthread_mutex_init(&dev->aux_lock, NULL);
	dev->mem = mem;
	dev->device_id = o.device_id;
	dev->num_queues = o.num_queues;
	dev->config_size = o.config_size;
	dev->opaque = o.opaque;
	for (uint16_t i = 0; i < o.num_queues; i++) {
		struct kvmhost_virtq_options qo = {.size = sizeof(qo), .index = i};
		uint32_t max = dev->ops.queue_max_size ? dev->ops.queue_max_size(dev->opaque, i) : 0;
		char qname[96];

		qo.max_size = max ? max : o.queue_max_size;
		if (snprintf(qname, sizeof(qname), "%s.q%u", dev->name, i) > 0)
			qo.name = qname;
		err = kvmhost_virtq_create(mem, &qo, &dev->queues[i]);
		if (err < 0) {
			kvmhost_virtio_device_destroy(dev);
			return kh_fail(-err, __func__, "queue %u: %s", i, kvmhost_last_error());
		}
		kh_vq_set_broken_hook(dev->queues[i], kh_vdev_queue_broken, dev);
	}
	dev->offered = kh_vdev_offer(dev);
	*out = dev;
	return 0;
}

KVMHOST_API void kvmhost_virtio_device_destroy(struct kvmhost_virtio_device *dev)
{
	if (!dev)
		return;
	for (uint16_t i = 0; i < dev->num_queues; i++)
		kvmhost_virtq_destroy(dev->queues[i]);
	pthread_mutex_destroy(&dev->state_lock);
	pthread_mutex_destroy(&dev->aux_lock);
	free(dev->queues);
	free(dev->name);
	free(dev);
}

KVMHOST_API int kvmhost_virtio_device_set_transport(struct kvmhost_virtio_device *dev,
						    const struct kvmhost_virtio_transport_ops *ops, void *opaque)
{
	struct kvmhost_virtio_transport_ops t;
	int err;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	memset(&t, 0, sizeof(t));
	if (ops) {
		err = KH_COPY_OPTIONS(&t, ops);
		if (err < 0)
			return err;
	}
	pthread_mutex_lock(&dev->aux_lock);
	dev->tops = t;
	dev->topaque = ops ? opaque : NULL;
	pthread_mutex_unlock(&dev->aux_lock);
	return 0;
}

void kh_virtio_device_set_transport_state(struct kvmhost_virtio_device *dev, const struct kh_vt_state_ops *ops,
					  void *opaque)
{
	pthread_mutex_lock(&dev->aux_lock);
	dev->tsops = ops;
	dev->tsopaque = ops ? opaque : NULL;
	pthread_mutex_unlock(&dev->aux_lock);
}

static const struct kh_vt_state_ops *kh_vdev_tstate(struct kvmhost_virtio_device *dev, void **opaque)
{
	const struct kh_vt_state_ops *ops;

	pthread_mutex_lock(&dev->aux_lock);
	ops = dev->tsops;
	*opaque = dev->tsopaque;
	pthread_mutex_unlock(&dev->aux_lock);
	return ops;
}

KVMHOST_API uint32_t kvmhost_virtio_device_id(struct kvmhost_virtio_device *dev)
{
	return dev ? dev->device_id : 0;
}

KVMHOST_API uint16_t kvmhost_virtio_device_num_queues(struct kvmhost_virtio_device *dev)
{
	return dev ? dev->num_queues : 0;
}

KVMHOST_API uint32_t kvmhost_virtio_device_config_size(struct kvmhost_virtio_device *dev)
{
	return dev ? dev->config_size : 0;
}

/* ---- features ---- */

KVMHOST_API int kvmhost_virtio_device_get_features(struct kvmhost_virtio_device *dev, uint32_t page, uint32_t *value)
{
	if (!dev || !value)
		return KH_FAIL(EINVAL, "dev or value is NULL");
	pthread_mutex_lock(&dev->state_lock);
	*value = page < 2 ? (uint32_t)(dev->offered >> (32 * page)) : 0;
	pthread_mutex_unlock(&dev->state_lock);
	return 0;
}

KVMHOST_API int kvmhost_virtio_device_set_driver_features(struct kvmhost_virtio_device *dev, uint32_t page,
							  uint32_t value)
{
	int err = 0;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	pthread_mutex_lock(&dev->state_lock);
	if (atomic_load(&dev->status) & S_FEATURES_OK) {
		err = KH_FAIL(EBUSY, "device %s: features are already negotiated", dev->name);
	} else if (page < 2) {
		uint64_t mask = 0xffffffffull << (32 * page);

		dev->driver_sel = (dev->driver_sel & ~mask) | ((uint64_t)value << (32 * page));
	} else if (value) {
		dev->driver_sel_extra = 1;
	}
	pthread_mutex_unlock(&dev->state_lock);
	return err;
}

KVMHOST_API uint64_t kvmhost_virtio_device_driver_features(struct kvmhost_virtio_device *dev)
{
	uint64_t r;

	if (!dev)
		return 0;
	pthread_mutex_lock(&dev->state_lock);
	r = dev->negotiated;
	pthread_mutex_unlock(&dev->state_lock);
	return r;
}

KVMHOST_API uint64_t kvmhost_virtio_device_offered_features(struct kvmhost_virtio_device *dev)
{
	uint64_t r;

	if (!dev)
		return 0;
	pthread_mutex_lock(&dev->state_lock);
	r = dev->offered;
	pthread_mutex_unlock(&dev->state_lock);
	return r;
}

/* With state_lock held: may the driver's features be accepted? */
static int kh_vdev_negotiate(struct kvmhost_virtio_device *dev, const char *func)
{
	uint64_t f = dev->driver_sel;
	int err;

	if (dev->driver_sel_extra)
		return kh_fail(EPROTO, func, "device %s: the driver asked for feature bits above 63", dev->name);
	if (f & ~dev->offered)
		return kh_fail(EPROTO, func, "device %s: the driver asked for features 0x%llx that are not offered",
			       dev->name, (unsigned long long)(f & ~dev->offered));
	if (!(f & BIT(KVMHOST_VIRTIO_F_VERSION_1)))
		return kh_fail(
		    EPROTO, func,
		    "device %s: the driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not supported)",
		    dev->name);
	if (dev->ops.validate_features) {
		err = dev->ops.validate_features(dev->opaque, f);
		if (err < 0)
			return kh_fail(EPROTO, func, "device %s: the device refused features 0x%llx (%s)", dev->name,
				       (unsigned long long)f, kvmhost_strerror(err));
	}
	dev->negotiated = f;
	for (uint16_t i = 0; i < dev->num_queues; i++)
		(void)kvmhost_virtq_set_features(dev->queues[i], f);
	return 0;
}

/* ---- status ---- */

/* With state_lock held: back to power-on. */
static void kh_vdev_reset_locked(struct kvmhost_virtio_device *dev)
{
	if (dev->ops.reset)
		dev->ops.reset(dev->opaque, dev);
	for (uint16_t i = 0; i < dev->num_queues; i++)
		kvmhost_virtq_reset(dev->queues[i]);
	dev->driver_sel = 0;
	dev->driver_sel_extra = 0;
	dev->negotiated = 0;
	atomic_store(&dev->status, 0);
	pthread_mutex_lock(&dev->aux_lock);
	atomic_store(&dev->needs_reset, 0);
	dev->reason[0] = '\0';
	pthread_mutex_unlock(&dev->aux_lock);
	dev->offered = kh_vdev_offer(dev);
}

KVMHOST_API void kvmhost_virtio_device_reset(struct kvmhost_virtio_device *dev)
{
	if (!dev)
		return;
	pthread_mutex_lock(&dev->state_lock);
	kh_vdev_reset_locked(dev);
	pthread_mutex_unlock(&dev->state_lock);
}

KVMHOST_API int kvmhost_virtio_device_get_status(struct kvmhost_virtio_device *dev)
{
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	return atomic_load(&dev->status) | (atomic_load(&dev->needs_reset) ? S_NEEDS_RESET : 0);
}

KVMHOST_API int kvmhost_virtio_device_set_status(struct kvmhost_virtio_device *dev, uint32_t status)
{
	uint8_t old, want, added;
	int err = 0, activate = 0;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	if (status > 0xff)
		return KH_FAIL(EINVAL, "status 0x%x is not a byte", status);
	pthread_mutex_lock(&dev->state_lock);
	if (status == 0) {
		kh_vdev_reset_locked(dev);
		goto out;
	}
	old = atomic_load(&dev->status);
	/* DEVICE_NEEDS_RESET is the device's; the driver echoing it back
	 * changes nothing. Unknown bits are dropped. */
	want = (uint8_t)(status & S_DRIVER_BITS);
	if (old & ~want) {
		err = KH_FAIL(EINVAL, "device %s: status 0x%02x clears bits of 0x%02x (only a reset can)", dev->name,
			      status, old);
		goto out;
	}
	added = want & ~old;
	if ((added & S_DRIVER) && !(want & S_ACK)) {
		err = KH_FAIL(EINVAL, "device %s: DRIVER set before ACKNOWLEDGE", dev->name);
		want &= ~S_DRIVER;
		added &= ~S_DRIVER;
	}
	if ((added & S_FEATURES_OK) && !(want & S_DRIVER)) {
		err = KH_FAIL(EINVAL, "device %s: FEATURES_OK set before DRIVER", dev->name);
		want &= ~S_FEATURES_OK;
		added &= ~S_FEATURES_OK;
	}
	if (added & S_FEATURES_OK) {
		int e = kh_vdev_negotiate(dev, __func__);

		if (e < 0) {
			err = e;
			want &= ~S_FEATURES_OK;
			added &= ~S_FEATURES_OK;
		}
	}
	if ((added & S_DRIVER_OK) && !(want & S_FEATURES_OK)) {
		err = KH_FAIL(EINVAL, "device %s: DRIVER_OK set before FEATURES_OK", dev->name);
		want &= ~S_DRIVER_OK;
		added &= ~S_DRIVER_OK;
	}
	if (added & S_FAILED)
		kh_log(KVMHOST_LOG_INFO, "virtio device %s: the driver set FAILED", dev->name);
	activate = (added & S_DRIVER_OK) != 0;
	atomic_store(&dev->status, want);
	if (activate && dev->ops.activate) {
		int e = dev->ops.activate(dev->opaque, dev, dev->negotiated);

		if (e < 0) {
			char msg[KH_VDEV_REASON_MAX];

			if (snprintf(msg, sizeof(msg), "activation failed: %s", kvmhost_strerror(e)) < 0)
				msg[0] = '\0';
			err = kh_fail(-e, __func__, "device %s: %s", dev->name, msg);
			kh_vdev_needs_reset(dev, msg);
		}
	}
out:
	pthread_mutex_unlock(&dev->state_lock);
	return err;
}

/* ---- config space ---- */

static int kh_vdev_config_check(struct kvmhost_virtio_device *dev, uint32_t offset, const void *buf, uint32_t len,
				const char *func)
{
	if (!dev || !buf)
		return kh_fail(EINVAL, func, "dev or buf is NULL");
	if (len == 0)
		return kh_fail(EINVAL, func, "zero length at config offset 0x%x", offset);
	if ((uint64_t)offset + len > dev->config_size)
		return kh_fail(ERANGE, func, "device %s: config [0x%x, 0x%llx) is outside its %u bytes", dev->name,
			       offset, (unsigned long long)offset + len, dev->config_size);
	return 0;
}

KVMHOST_API int kvmhost_virtio_device_config_read(struct kvmhost_virtio_device *dev, uint32_t offset, void *buf,
						  uint32_t len)
{
	int err = kh_vdev_config_check(dev, offset, buf, len, __func__);

	if (err < 0)
		return err;
	pthread_mutex_lock(&dev->state_lock);
	if (dev->ops.config_read) {
		err = dev->ops.config_read(dev->opaque, offset, buf, len);
		if (err < 0)
			err = kh_fail(-err, __func__, "device %s: config read at 0x%x failed", dev->name, offset);
	} else {
		memset(buf, 0, len);
	}
	pthread_mutex_unlock(&dev->state_lock);
	return err;
}

KVMHOST_API int kvmhost_virtio_device_config_write(struct kvmhost_virtio_device *dev, uint32_t offset, const void *buf,
						   uint32_t len)
{
	int err = kh_vdev_config_check(dev, offset, buf, len, __func__);

	if (err < 0)
		return err;
	pthread_mutex_lock(&dev->state_lock);
	if (!dev->ops.config_write) {
		err = KH_FAIL(EROFS, "device %s: config space is read-only", dev->name);
	} else {
		err = dev->ops.config_write(dev->opaque, offset, buf, len);
		if (err < 0)
			err = kh_fail(-err, __func__, "device %s: config write at 0x%x failed", dev->name, offset);
	}
	pthread_mutex_unlock(&dev->state_lock);
	return err;
}

KVMHOST_API uint32_t kvmhost_virtio_device_config_generation(struct kvmhost_virtio_device *dev)
{
	return dev ? atomic_load(&dev->generation) : 0;
}

KVMHOST_API int kvmhost_virtio_device_config_changed(struct kvmhost_virtio_device *dev)
{
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	atomic_fetch_add(&dev->generation, 1);
	if (!(atomic_load(&dev->status) & S_DRIVER_OK))
		return 0;
	return kh_vdev_raise(dev, 1, 0);
}

/* ---- queues ---- */

KVMHOST_API struct kvmhost_virtq *kvmhost_virtio_device_queue(struct kvmhost_virtio_device *dev, uint16_t index)
{
	if (!dev || index >= dev->num_queues)
		return NULL;
	return dev->queues[index];
}

static struct kvmhost_virtq *kh_vdev_queue(struct kvmhost_virtio_device *dev, uint16_t index, const char *func)
{
	if (!dev) {
		kh_fail(EINVAL, func, "dev is NULL");
		return NULL;
	}
	if (index >= dev->num_queues) {
		kh_fail(EINVAL, func, "device %s: queue %u out of range (%u queues)", dev->name, index,
			dev->num_queues);
		return NULL;
	}
	return dev->queues[index];
}

KVMHOST_API int kvmhost_virtio_device_queue_set_size(struct kvmhost_virtio_device *dev, uint16_t index, uint32_t size)
{
	struct kvmhost_virtq *q = kh_vdev_queue(dev, index, __func__);
	int err;

	if (!q)
		return -EINVAL;
	pthread_mutex_lock(&dev->state_lock);
	err = kvmhost_virtq_set_size(q, size);
	pthread_mutex_unlock(&dev->state_lock);
	return err;
}

/* Replace one of the three addresses (@which 0, 1, 2). */
static int kh_vdev_queue_set_addr(struct kvmhost_virtio_device *dev, uint16_t index, int which, uint64_t gpa,
				  const char *func)
{
	struct kvmhost_virtq *q = kh_vdev_queue(dev, index, func);
	uint64_t a[3];
	int err;

	if (!q)
		return -EINVAL;
	pthread_mutex_lock(&dev->state_lock);
	err = kvmhost_virtq_addresses(q, &a[0], &a[1], &a[2]);
	if (err == 0) {
		a[which] = gpa;
		err = kvmhost_virtq_set_addresses(q, a[0], a[1], a[2]);
	}
	pthread_mutex_unlock(&dev->state_lock);
	return err;
}

KVMHOST_API int kvmhost_virtio_device_queue_set_desc_addr(struct kvmhost_virtio_device *dev, uint16_t index,
							  uint64_t gpa)
{
	return kh_vdev_queue_set_addr(dev, index, 0, gpa, __func__);
}

KVMHOST_API int kvmhost_virtio_device_queue_set_driver_addr(struct kvmhost_virtio_device *dev, uint16_t index,
							    uint64_t gpa)
{
	return kh_vdev_queue_set_addr(dev, index, 1, gpa, __func__);
}

KVMHOST_API int kvmhost_virtio_device_queue_set_device_addr(struct kvmhost_virtio_device *dev, uint16_t index,
							    uint64_t gpa)
{
	return kh_vdev_queue_set_addr(dev, index, 2, gpa, __func__);
}

KVMHOST_API int kvmhost_virtio_device_queue_enable(struct kvmhost_virtio_device *dev, uint16_t index, int enable)
{
	struct kvmhost_virtq *q = kh_vdev_queue(dev, index, __func__);
	int err = 0;

	if (!q)
		return -EINVAL;
	if (enable != 0 && enable != 1)
		return KH_FAIL(EINVAL, "enable is %d, not 0 or 1", enable);
	pthread_mutex_lock(&dev->state_lock);
	if (!enable) {
		kvmhost_virtq_reset(q);
	} else if (!(atomic_load(&dev->status) & S_FEATURES_OK)) {
		err = KH_FAIL(EPROTO, "device %s: queue %u enabled before FEATURES_OK", dev->name, index);
	} else {
		(void)kvmhost_virtq_set_features(q, dev->negotiated);
		/* A bad layout breaks the queue, whose hook sets NEEDS_RESET. */
		err = kvmhost_virtq_enable(q);
	}
	pthread_mutex_unlock(&dev->state_lock);
	return err;
}

KVMHOST_API int kvmhost_virtio_device_queue_notify(struct kvmhost_virtio_device *dev, uint16_t index)
{
	struct kvmhost_virtq *q = kh_vdev_queue(dev, index, __func__);
	uint8_t status;

	if (!q)
		return -EINVAL;
	status = atomic_load(&dev->status);
	if (!(status & S_DRIVER_OK) || (status & S_FAILED) || atomic_load(&dev->needs_reset))
		return 0;
	if (kvmhost_virtq_is_enabled(q) != 1)
		return 0;
	if (dev->ops.queue_notify)
		dev->ops.queue_notify(dev->opaque, dev, index);
	return 0;
}

KVMHOST_API int kvmhost_virtio_device_notify_used(struct kvmhost_virtio_device *dev, uint16_t index)
{
	struct kvmhost_virtq *q = kh_vdev_queue(dev, index, __func__);
	int r;

	if (!q)
		return -EINVAL;
	r = kvmhost_virtq_should_notify(q);
	if (r != 1)
		return r;
	if (!kh_vdev_has_irq(dev, 0))
		return 0;
	r = kh_vdev_raise(dev, 0, index);
	if (r < 0)
		return kh_fail(-r, __func__, "device %s: queue %u interrupt failed", dev->name, index);
	return 1;
}

KVMHOST_API int kvmhost_virtio_device_kick_queues(struct kvmhost_virtio_device *dev, uint32_t flags)
{
	uint64_t active[(KVMHOST_VIRTIO_QUEUES_MAX + 63) / 64] = {0};
	uint8_t status;
	int n = 0, err = 0;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	if (flags & ~KVMHOST_VIRTIO_KICK_NOTIFY)
		return KH_FAIL(EINVAL, "unknown flags 0x%x", flags);
	pthread_mutex_lock(&dev->state_lock);
	status = atomic_load(&dev->status);
	if ((status & S_DRIVER_OK) && !(status & S_FAILED) && !atomic_load(&dev->needs_reset))
		for (uint16_t i = 0; i < dev->num_queues; i++)
			if (kh_vq_rearm(dev->queues[i]) == 1) {
				active[i / 64] |= 1ull << (i % 64);
				n++;
			}
	pthread_mutex_unlock(&dev->state_lock);
	/* Outside state_lock, as when the device raises them and when a driver kicks. */
	for (uint16_t i = 0; i < dev->num_queues; i++) {
		int r;

		if (!(active[i / 64] & (1ull << (i % 64))))
			continue;
		if ((r = kh_vdev_raise(dev, 0, i)) < 0 && err == 0)
			err = kh_fail(-r, __func__, "device %s: queue %u interrupt failed", dev->name, i);
		if (flags & KVMHOST_VIRTIO_KICK_NOTIFY)
			(void)kvmhost_virtio_device_queue_notify(dev, i);
	}
	return err < 0 ? err : n;
}

KVMHOST_API int kvmhost_virtio_device_set_needs_reset(struct kvmhost_virtio_device *dev, const char *reason)
{
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	kh_vdev_needs_reset(dev, reason ? reason : "device error");
	return 0;
}

KVMHOST_API int kvmhost_virtio_device_needs_reset(struct kvmhost_virtio_device *dev, char *reason, size_t reason_len)
{
	int r;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	pthread_mutex_lock(&dev->aux_lock);
	r = atomic_load(&dev->needs_reset);
	if (reason && reason_len && snprintf(reason, reason_len, "%s", r ? dev->reason : "") < 0)
		reason[0] = '\0';
	pthread_mutex_unlock(&dev->aux_lock);
	return r;
}

/* ---- migration ---- */

/* Blob layout, all little-endian:
 *   header: u32 magic, u32 version, u32 device_id, u16 num_queues, u8 status,
 *           u8 needs_reset, u64 negotiated, u64 driver_sel, u8 driver_sel_extra,
 *           u8 pad[3], u32 generation, char reason[192], u32 device_len
 *   per queue: u32 size, u64 desc, u64 driver, u64 device, u64 features,
 *           u8 enabled, u8 broken, u8 notify, u8 avail_wrap, u8 used_wrap,
 *           u8 pad, u16 avail_idx, u16 used_idx, char reason[160]
 *   then device_len bytes of the device's own state;
 *   version 2 only: u32 transport kind (KH_VT_STATE_*; 0 none), u32 length,
 *           then that many bytes of the transport's own state.
 * A device with a transport that has state writes version 2, any other
 * version 1; both are read. */
#define KH_VDEV_MAGIC	 0x5344564bu /* "KVDS" */
#define KH_VDEV_VERSION	 KVMHOST_VIRTIO_DEVICE_STATE_VERSION
#define KH_VDEV_V1	 1u
#define KH_VDEV_HDR_SIZE (4 + 4 + 4 + 2 + 1 + 1 + 8 + 8 + 1 + 3 + 4 + KH_VDEV_REASON_MAX + 4)
#define KH_VDEV_Q_SIZE	 (4 + 8 * 4 + 6 + 2 + 2 + KH_VQ_REASON_MAX)

struct kh_blob {
	uint8_t *w;	  /* writing */
	const uint8_t *r; /* reading */
	size_t off, len;
};

static void kh_put(struct kh_blob *b, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		b->w[b->off++] = (uint8_t)(v >> (8 * i));
}

static void kh_put_bytes(struct kh_blob *b, const void *p, size_t n)
{
	memcpy(b->w + b->off, p, n);
	b->off += n;
}

/* Callers check the total length up front, so reads never run past it. */
static uint64_t kh_get(struct kh_blob *b, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)b->r[b->off++] << (8 * i);
	return v;
}

static void kh_get_bytes(struct kh_blob *b, void *p, size_t n)
{
	memcpy(p, b->r + b->off, n);
	b->off += n;
}

static size_t kh_vdev_device_len(struct kvmhost_virtio_device *dev)
{
	return dev->ops.state_size ? dev->ops.state_size(dev->opaque) : 0;
}

/* Bytes of the transport's part (its 8-byte head included), 0 without one. */
static size_t kh_vdev_transport_len(struct kvmhost_virtio_device *dev)
{
	void *opaque;
	const struct kh_vt_state_ops *ts = kh_vdev_tstate(dev, &opaque);

	return ts ? 8 + ts->size(opaque) : 0;
}

KVMHOST_API int kvmhost_virtio_device_state_size(struct kvmhost_virtio_device *dev)
{
	size_t n;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	pthread_mutex_lock(&dev->state_lock);
	n = KH_VDEV_HDR_SIZE + (size_t)dev->num_queues * KH_VDEV_Q_SIZE + kh_vdev_device_len(dev) +
	    kh_vdev_transport_len(dev);
	pthread_mutex_unlock(&dev->state_lock);
	if (n > INT32_MAX)
		return KH_FAIL(EOVERFLOW, "device %s: state of %zu bytes is too large", dev->name, n);
	return (int)n;
}

KVMHOST_API int kvmhost_virtio_device_save(struct kvmhost_virtio_device *dev, void *buf, size_t len)
{
	struct kh_blob b = {.w = buf, .len = len};
	struct kh_vq_state *qs = NULL;
	char reason[KH_VDEV_REASON_MAX];
	const struct kh_vt_state_ops *ts;
	void *tso;
	size_t dlen, tlen = 0, total;
	int err = 0;

	if (!dev || !buf)
		return KH_FAIL(EINVAL, "dev or buf is NULL");
	ts = kh_vdev_tstate(dev, &tso);
	if (ts)
		tlen = ts->size(tso);
	pthread_mutex_lock(&dev->state_lock);
	dlen = kh_vdev_device_len(dev);
	total = KH_VDEV_HDR_SIZE + (size_t)dev->num_queues * KH_VDEV_Q_SIZE + dlen + (ts ? 8 + tlen : 0);
	if (total > INT32_MAX || dlen > UINT32_MAX || tlen > UINT32_MAX) {
		err = KH_FAIL(EOVERFLOW, "device %s: state too large", dev->name);
		goto out;
	}
	if (len < total) {
		err = KH_FAIL(ENOSPC, "device %s: state needs %zu bytes, buffer has %zu", dev->name, total, len);
		goto out;
	}
	qs = calloc(dev->num_queues, sizeof(*qs));
	if (!qs) {
		err = KH_FAIL(ENOMEM, "cannot allocate queue states");
		goto out;
	}
	for (uint16_t i = 0; i < dev->num_queues && err == 0; i++)
		err = kh_vq_get_state(dev->queues[i], &qs[i], __func__);
	if (err < 0)
		goto out;
	memset(reason, 0, sizeof(reason));
	pthread_mutex_lock(&dev->aux_lock);
	memcpy(reason, dev->reason, sizeof(reason));
	pthread_mutex_unlock(&dev->aux_lock);
	kh_put(&b, KH_VDEV_MAGIC, 4);
	kh_put(&b, ts ? KH_VDEV_VERSION : KH_VDEV_V1, 4);
	kh_put(&b, dev->device_id, 4);
	kh_put(&b, dev->num_queues, 2);
	kh_put(&b, atomic_load(&dev->status), 1);
	kh_put(&b, atomic_load(&dev->needs_reset) ? 1 : 0, 1);
	kh_put(&b, dev->negotiated, 8);
	kh_put(&b, dev->driver_sel, 8);
	kh_put(&b, dev->driver_sel_extra ? 1 : 0, 1);
	kh_put(&b, 0, 3);
	kh_put(&b, atomic_load(&dev->generation), 4);
	kh_put_bytes(&b, reason, sizeof(reason));
	kh_put(&b, dlen, 4);
	for (uint16_t i = 0; i < dev->num_queues; i++) {
		const struct kh_vq_state *s = &qs[i];

		kh_put(&b, s->size, 4);
		kh_put(&b, s->desc, 8);
		kh_put(&b, s->driver, 8);
		kh_put(&b, s->device, 8);
		kh_put(&b, s->features, 8);
		kh_put(&b, s->enabled, 1);
		kh_put(&b, s->broken, 1);
		kh_put(&b, s->notify, 1);
		kh_put(&b, s->avail_wrap, 1);
		kh_put(&b, s->used_wrap, 1);
		kh_put(&b, 0, 1);
		kh_put(&b, s->avail_idx, 2);
		kh_put(&b, s->used_idx, 2);
		kh_put_bytes(&b, s->reason, sizeof(s->reason));
	}
	if (dlen) {
		if (!dev->ops.save_state) {
			err = KH_FAIL(EINVAL, "device %s: state_size without save_state", dev->name);
			goto out;
		}
		err = dev->ops.save_state(dev->opaque, b.w + b.off, dlen);
		if (err < 0) {
			err = kh_fail(-err, __func__, "device %s: saving the device state failed", dev->name);
			goto out;
		}
		b.off += dlen;
	}
	if (ts) {
		kh_put(&b, ts->kind, 4);
		kh_put(&b, tlen, 4);
	}
	err = (int)(b.off + tlen);
out:
	pthread_mutex_unlock(&dev->state_lock);
	free(qs);
	/* The transport's registers are under its own locks, which it holds
	 * while calling into the framework: taken after state_lock is dropped. */
	if (err >= 0 && ts)
		ts->save(tso, b.w + b.off);
	return err;
}

/* With state_lock held, on a reset device: parse, check, apply. */
static int kh_vdev_restore_locked(struct kvmhost_virtio_device *dev, const void *buf, size_t len, const char *func,
				  int *activate)
{
	struct kh_blob b = {.r = buf, .len = len};
	struct kh_vq_state *qs;
	uint8_t status, needs_reset;
	uint64_t negotiated, driver_sel;
	uint32_t generation, dlen;
	char reason[KH_VDEV_REASON_MAX];
	int extra, err = 0;

	if (len < KH_VDEV_HDR_SIZE)
		return kh_fail(EINVAL, func, "state of %zu bytes is shorter than its header", len);
	if (kh_get(&b, 4) != KH_VDEV_MAGIC)
		return kh_fail(EINVAL, func, "not a virtio device state (bad magic)");
	if (kh_get(&b, 4) - KH_VDEV_V1 > KH_VDEV_VERSION - KH_VDEV_V1)
		return kh_fail(EINVAL, func, "virtio device state of an unknown version");
	if (kh_get(&b, 4) != dev->device_id)
		return kh_fail(EINVAL, func, "state of another device type (this one is %u)", dev->device_id);
	if (kh_get(&b, 2) != dev->num_queues)
		return kh_fail(EINVAL, func, "state has another number of queues (this device has %u)",
			       dev->num_queues);
	status = (uint8_t)kh_get(&b, 1);
	needs_reset = (uint8_t)kh_get(&b, 1);
	negotiated = kh_get(&b, 8);
	driver_sel = kh_get(&b, 8);
	extra = (int)kh_get(&b, 1);
	(void)kh_get(&b, 3);
	generation = (uint32_t)kh_get(&b, 4);
	kh_get_bytes(&b, reason, sizeof(reason));
	reason[sizeof(reason) - 1] = '\0';
	dlen = (uint32_t)kh_get(&b, 4);
	if (len != KH_VDEV_HDR_SIZE + (size_t)dev->num_queues * KH_VDEV_Q_SIZE + dlen)
		return kh_fail(EINVAL, func, "state of %zu bytes does not match its contents", len);
	if ((status & ~S_DRIVER_BITS) || needs_reset > 1 || extra > 1)
		return kh_fail(EINVAL, func, "bad status 0x%02x in state", status);
	if (((status & S_DRIVER) && !(status & S_ACK)) || ((status & S_FEATURES_OK) && !(status & S_DRIVER)) ||
	    ((status & S_DRIVER_OK) && !(status & S_FEATURES_OK)))
		return kh_fail(EINVAL, func, "inconsistent status 0x%02x in state", status);
	if (status & S_FEATURES_OK) {
		if ((negotiated & ~dev->offered) || !(negotiated & BIT(KVMHOST_VIRTIO_F_VERSION_1)))
			return kh_fail(EINVAL, func, "state's features 0x%llx are not offered here (0x%llx)",
				       (unsigned long long)negotiated, (unsigned long long)dev->offered);
	} else if (negotiated) {
		return kh_fail(EINVAL, func, "state has features without FEATURES_OK");
	}
	qs = calloc(dev->num_queues, sizeof(*qs));
	if (!qs)
		return kh_fail(ENOMEM, func, "cannot allocate queue states");
	for (uint16_t i = 0; i < dev->num_queues; i++) {
		struct kh_vq_state *s = &qs[i];

		s->size = (uint32_t)kh_get(&b, 4);
		s->desc = kh_get(&b, 8);
		s->driver = kh_get(&b, 8);
		s->device = kh_get(&b, 8);
		s->features = kh_get(&b, 8);
		s->enabled = (uint8_t)kh_get(&b, 1);
		s->broken = (uint8_t)kh_get(&b, 1);
		s->notify = (uint8_t)kh_get(&b, 1);
		s->avail_wrap = (uint8_t)kh_get(&b, 1);
		s->used_wrap = (uint8_t)kh_get(&b, 1);
		(void)kh_get(&b, 1);
		s->avail_idx = (uint16_t)kh_get(&b, 2);
		s->used_idx = (uint16_t)kh_get(&b, 2);
		kh_get_bytes(&b, s->reason, sizeof(s->reason));
		s->reason[sizeof(s->reason) - 1] = '\0';
		if (s->enabled > 1 || s->broken > 1 || s->notify > 1 ||
		    ((s->enabled || s->broken) && (!(status & S_FEATURES_OK) || s->features != negotiated))) {
			err = kh_fail(EINVAL, func, "queue %u: inconsistent state", i);
			goto out;
		}
	}
	/* All parsed: apply. */
	dev->driver_sel = driver_sel;
	dev->driver_sel_extra = extra;
	dev->negotiated = negotiated;
	atomic_store(&dev->generation, generation);
	for (uint16_t i = 0; i < dev->num_queues && err == 0; i++) {
		if (qs[i].enabled || qs[i].broken)
			err = kh_vq_set_state(dev->queues[i], &qs[i], func);
		else
			err = kvmhost_virtq_set_features(dev->queues[i], negotiated);
		if (err == 0 && !qs[i].enabled && !qs[i].broken) {
			/* Disabled queue: keep what the driver had set up so far. */
			err = kvmhost_virtq_set_size(dev->queues[i], qs[i].size);
			if (err == 0)
				err =
				    kvmhost_virtq_set_addresses(dev->queues[i], qs[i].desc, qs[i].driver, qs[i].device);
		}
	}
	if (err < 0)
		goto out;
	if (dlen) {
		if (!dev->ops.restore_state) {
			err = kh_fail(EINVAL, func, "device %s: state has device data but the device cannot restore",
				      dev->name);
			goto out;
		}
		err = dev->ops.restore_state(dev->opaque, b.r + b.off, dlen);
		if (err < 0) {
			err = kh_fail(-err, func, "device %s: restoring the device state failed", dev->name);
			goto out;
		}
	}
	atomic_store(&dev->status, status);
	if (needs_reset) {
		pthread_mutex_lock(&dev->aux_lock);
		memcpy(dev->reason, reason, sizeof(dev->reason));
		atomic_store(&dev->needs_reset, 1);
		pthread_mutex_unlock(&dev->aux_lock);
	}
	*activate = (status & S_DRIVER_OK) && dev->ops.activate;
out:
	free(qs);
	return err;
}

static uint32_t kh_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Before anything changes: find where the device's part of the blob ends
 * (*dev_len) and check the transport's part (version 2), which must be of
 * the kind of the transport this device is on. Sets *tstate to it (NULL:
 * none to load).
 */
static int kh_vdev_restore_split(struct kvmhost_virtio_device *dev, const uint8_t *buf, size_t len,
				 const struct kh_vt_state_ops *ts, void *tso, size_t *dev_len, const uint8_t **tstate,
				 const char *func)
{
	static const char *const kinds[] = {"none", "virtio-mmio", "virtio-pci"};
	uint32_t version, kind, tlen;
	size_t base;

	*dev_len = len;
	*tstate = NULL;
	if (len < KH_VDEV_HDR_SIZE)
		return kh_fail(EINVAL, func, "state of %zu bytes is shorter than its header", len);
	if (kh_ld32(buf) != KH_VDEV_MAGIC)
		return kh_fail(EINVAL, func, "not a virtio device state (bad magic)");
	version = kh_ld32(buf + 4);
	if (version == KH_VDEV_V1)
		return 0;
	if (version != KH_VDEV_VERSION)
		return kh_fail(EINVAL, func, "virtio device state of an unknown version");
	if ((uint32_t)(buf[12] | buf[13] << 8) != dev->num_queues)
		return kh_fail(EINVAL, func, "state has another number of queues (this device has %u)",
			       dev->num_queues);
	base = KH_VDEV_HDR_SIZE + (size_t)dev->num_queues * KH_VDEV_Q_SIZE + kh_ld32(buf + KH_VDEV_HDR_SIZE - 4);
	if (len < base || len - base < 8)
		return kh_fail(EINVAL, func, "state of %zu bytes is shorter than its contents", len);
	kind = kh_ld32(buf + base);
	tlen = kh_ld32(buf + base + 4);
	if (len - base - 8 != tlen)
		return kh_fail(EINVAL, func, "state of %zu bytes does not match its contents (transport part of %u)",
			       len, tlen);
	*dev_len = base;
	if (kind == 0 && tlen == 0)
		return 0;
	if (!ts || ts->kind != kind)
		return kh_fail(EINVAL, func, "device %s: state of a %s transport, this device is on %s", dev->name,
			       kind < KH_ARRAY_SIZE(kinds) ? kinds[kind] : "unknown", kinds[ts ? ts->kind : 0]);
	if (ts->check(tso, buf + base + 8, tlen, func) < 0)
		return -EINVAL;
	*tstate = buf + base + 8;
	return 0;
}

KVMHOST_API int kvmhost_virtio_device_restore(struct kvmhost_virtio_device *dev, const void *buf, size_t len)
{
	const struct kh_vt_state_ops *ts;
	const uint8_t *tstate;
	size_t dev_len;
	void *tso;
	int err, activate = 0;

	if (!dev || !buf)
		return KH_FAIL(EINVAL, "dev or buf is NULL");
	ts = kh_vdev_tstate(dev, &tso);
	err = kh_vdev_restore_split(dev, buf, len, ts, tso, &dev_len, &tstate, __func__);
	pthread_mutex_lock(&dev->state_lock);
	kh_vdev_reset_locked(dev);
	if (err == 0)
		err = kh_vdev_restore_locked(dev, buf, dev_len, __func__, &activate);
	if (err < 0)
		kh_vdev_reset_locked(dev); /* no half-restored device */
	pthread_mutex_unlock(&dev->state_lock);
	if (err < 0)
		return err;
	/* The transport's registers (its own locks, outside state_lock) before the device
	 * activates: whatever the device signals from then on goes where the driver said. */
	if (tstate)
		ts->load(tso, tstate);
	if (!activate)
		return 0;
	pthread_mutex_lock(&dev->state_lock);
	err = dev->ops.activate(dev->opaque, dev, dev->negotiated);
	if (err < 0) {
		err = kh_fail(-err, __func__, "device %s: activation after restore failed", dev->name);
		kh_vdev_reset_locked(dev);
	}
	pthread_mutex_unlock(&dev->state_lock);
	return err;
}
