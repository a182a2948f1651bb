/*
 * The virtio-mmio transport, version 2 (virtio/mmio.h): guest register
 * accesses on an MMIO bus become calls of the device framework
 * (virtio/device.h), and the framework's interrupts become InterruptStatus
 * bits and the level of an interrupt line. No KVM here: the ioeventfd and
 * irqfd side lives in transport_wiring.c.
 *
 * Locks: lock serialises register accesses and guards the selectors;
 * irq_lock guards InterruptStatus and the line, and is the only lock the
 * interrupt callbacks take (they may come from any thread, also from inside
 * a framework call made with lock held: order lock, framework, irq_lock).
 * QueueNotify is passed on without any lock held, so a device's notify op
 * never runs under the transport's locks.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/bus.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/mmio.h>

#include "../core/internal.h"
#include "transport_internal.h"

#define KH_MMIO_VERSION 2u
#define KH_MMIO_PAGE	0x1000u

struct kvmhost_virtio_mmio {
	pthread_mutex_t lock;
	struct kvmhost_virtio_device *dev;
	char *name;
	uint32_t vendor_id;
	uint32_t device_id;
	uint16_t num_queues;
	uint32_t config_size;
	uint64_t window;

	/* Under lock. */
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint32_t queue_sel;
	uint32_t shm_sel;

	/* Under irq_lock. */
	pthread_mutex_t irq_lock;
	uint32_t isr;
	struct kvmhost_irq_line *irq;

	struct kvmhost_bus *bus;
	uint64_t base;
	atomic_uint_fast64_t bad_accesses;
	atomic_int warned;
};

/* ---- interrupts ---- */

/* With irq_lock held: drive the line from InterruptStatus. */
static int kh_mmio_update_line(struct kvmhost_virtio_mmio *m)
{
	if (!m->irq)
		return 0;
	return kvmhost_irq_line_set(m->irq, m->isr ? 1 : 0);
}

static int kh_mmio_raise(struct kvmhost_virtio_mmio *m, uint32_t bit)
{
	int err;

	pthread_mutex_lock(&m->irq_lock);
	m->isr |= bit;
	err = kh_mmio_update_line(m);
	pthread_mutex_unlock(&m->irq_lock);
	return err;
}

static int kh_mmio_queue_interrupt(void *opaque, uint16_t queue)
{
	(void)queue; /* one InterruptStatus bit for every queue */
	return kh_mmio_raise(opaque, KVMHOST_VIRTIO_MMIO_INT_VRING);
}

static int kh_mmio_config_interrupt(void *opaque)
{
	return kh_mmio_raise(opaque, KVMHOST_VIRTIO_MMIO_INT_CONFIG);
}

static const struct kvmhost_virtio_transport_ops kh_mmio_transport_ops = {
    .size = sizeof(struct kvmhost_virtio_transport_ops),
    .queue_interrupt = kh_mmio_queue_interrupt,
    .config_interrupt = kh_mmio_config_interrupt,
};

/* ---- registers ---- */

static void kh_mmio_bad_access(struct kvmhost_virtio_mmio *m, const char *what, uint64_t offset, uint32_t len)
{
	atomic_fetch_add(&m->bad_accesses, 1);
	/* Once at WARN, so that a misbehaving guest cannot flood the log. */
	if (!atomic_exchange(&m->warned, 1))
		kh_log(KVMHOST_LOG_WARN,
		       "virtio-mmio %s: ignored a %u-byte %s at register 0x%" PRIx64
		       " (registers take aligned 32-bit accesses; further ones are logged at DEBUG)",
		       m->name, len, what, offset);
	else if (kh_log_enabled(KVMHOST_LOG_DEBUG))
		kh_log(KVMHOST_LOG_DEBUG, "virtio-mmio %s: ignored a %u-byte %s at register 0x%" PRIx64, m->name, len,
		       what, offset);
}

static struct kvmhost_virtq *kh_mmio_selected(struct kvmhost_virtio_mmio *m)
{
	if (m->queue_sel >= m->num_queues)
		return NULL;
	return kvmhost_virtio_device_queue(m->dev, (uint16_t)m->queue_sel);
}

/* With lock held: read a control register. */
static uint32_t kh_mmio_reg_read(struct kvmhost_virtio_mmio *m, uint64_t offset)
{
	struct kvmhost_virtq *q;
	uint32_t v = 0;
	int status;

	switch (offset) {
	case KVMHOST_VIRTIO_MMIO_MAGIC_VALUE:
		return KVMHOST_VIRTIO_MMIO_MAGIC;
	case KVMHOST_VIRTIO_MMIO_VERSION:
		return KH_MMIO_VERSION;
	case KVMHOST_VIRTIO_MMIO_DEVICE_ID:
		return m->device_id;
	case KVMHOST_VIRTIO_MMIO_VENDOR_ID:
		return m->vendor_id;
	case KVMHOST_VIRTIO_MMIO_DEVICE_FEATURES:
		if (kvmhost_virtio_device_get_features(m->dev, m->dev_features_sel, &v) < 0)
			v = 0;
		return v;
	case KVMHOST_VIRTIO_MMIO_QUEUE_NUM_MAX:
		q = kh_mmio_selected(m);
		return q ? kvmhost_virtq_max_size(q) : 0;
	case KVMHOST_VIRTIO_MMIO_QUEUE_READY:
		q = kh_mmio_selected(m);
		return q && kvmhost_virtq_is_enabled(q) == 1 ? 1 : 0;
	case KVMHOST_VIRTIO_MMIO_INTERRUPT_STATUS:
		pthread_mutex_lock(&m->irq_lock);
		v = m->isr;
		pthread_mutex_unlock(&m->irq_lock);
		return v;
	case KVMHOST_VIRTIO_MMIO_STATUS:
		status = kvmhost_virtio_device_get_status(m->dev);
		return status < 0 ? 0 : (uint32_t)status;
	case KVMHOST_VIRTIO_MMIO_SHM_LEN_LOW:
	case KVMHOST_VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffffu; /* no shared memory regions: length -1 */
	case KVMHOST_VIRTIO_MMIO_CONFIG_GENERATION:
		return kvmhost_virtio_device_config_generation(m->dev);
	default:
		/* Write-only registers, SHMBase of a missing region, holes. */
		return 0;
	}
}

/* With lock held: replace the low or high half of one of a queue's three
 * area addresses (@which 0 desc, 1 driver, 2 device). */
static void kh_mmio_set_addr_half(struct kvmhost_virtio_mmio *m, int which, int high, uint32_t value)
{
	struct kvmhost_virtq *q = kh_mmio_selected(m);
	uint64_t a[3], v;
	int err;

	if (!q) {
		kh_log(KVMHOST_LOG_DEBUG, "virtio-mmio %s: queue address for missing queue %u ignored", m->name,
		       m->queue_sel);
		return;
	}
	if (kvmhost_virtq_addresses(q, &a[0], &a[1], &a[2]) < 0)
		return;
	v = a[which];
	if (high)
		v = (v & 0xffffffffull) | ((uint64_t)value << 32);
	else
		v = (v & ~0xffffffffull) | value;
	if (which == 0)
		err = kvmhost_virtio_device_queue_set_desc_addr(m->dev, (uint16_t)m->queue_sel, v);
	else if (which == 1)
		err = kvmhost_virtio_device_queue_set_driver_addr(m->dev, (uint16_t)m->queue_sel, v);
	else
		err = kvmhost_virtio_device_queue_set_device_addr(m->dev, (uint16_t)m->queue_sel, v);
	if (err < 0)
		kh_log(KVMHOST_LOG_DEBUG, "virtio-mmio %s: queue %u address write ignored: %s", m->name, m->queue_sel,
		       kvmhost_last_error());
}

/* With lock held: write a control register. Returns the queue to notify
 * (outside the lock), or -1. */
static int kh_mmio_reg_write(struct kvmhost_virtio_mmio *m, uint64_t offset, uint32_t v)
{
	int err = 0;

	switch (offset) {
	case KVMHOST_VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->dev_features_sel = v;
		break;
	case KVMHOST_VIRTIO_MMIO_DRIVER_FEATURES:
		err = kvmhost_virtio_device_set_driver_features(m->dev, m->drv_features_sel, v);
		break;
	case KVMHOST_VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->drv_features_sel = v;
		break;
	case KVMHOST_VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = v;
		break;
	case KVMHOST_VIRTIO_MMIO_QUEUE_NUM:
		if (m->queue_sel < m->num_queues)
			err = kvmhost_virtio_device_queue_set_size(m->dev, (uint16_t)m->queue_sel, v);
		break;
	case KVMHOST_VIRTIO_MMIO_QUEUE_READY:
		if (m->queue_sel < m->num_queues && v <= 1)
			err = kvmhost_virtio_device_queue_enable(m->dev, (uint16_t)m->queue_sel, (int)v);
		break;
	case KVMHOST_VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index. */
		if (v < m->num_queues)
			return (int)v;
		kh_log(KVMHOST_LOG_DEBUG, "virtio-mmio %s: notify of missing queue %u ignored", m->name, v);
		break;
	case KVMHOST_VIRTIO_MMIO_INTERRUPT_ACK:
		pthread_mutex_lock(&m->irq_lock);
		/* Bits still set after an ACK that cleared some get a fresh edge:
		 * an edge-triggered line (an irqfd) would otherwise stay high
		 * with nothing telling the driver to look again. */
		if ((m->isr & v) && (m->isr & ~v) && m->irq)
			(void)kvmhost_irq_line_set(m->irq, 0);
		m->isr &= ~v;
		err = kh_mmio_update_line(m);
		pthread_mutex_unlock(&m->irq_lock);
		break;
	case KVMHOST_VIRTIO_MMIO_STATUS:
		err = kvmhost_virtio_device_set_status(m->dev, v);
		if (v == 0) {
			/* Reset: the transport's own state goes back to power-on too. */
			m->dev_features_sel = m->drv_features_sel = m->queue_sel = m->shm_sel = 0;
			pthread_mutex_lock(&m->irq_lock);
			m->isr = 0;
			(void)kh_mmio_update_line(m);
			pthread_mutex_unlock(&m->irq_lock);
		}
		break;
	case KVMHOST_VIRTIO_MMIO_QUEUE_DESC_LOW:
	case KVMHOST_VIRTIO_MMIO_QUEUE_DESC_HIGH:
		kh_mmio_set_addr_half(m, 0, offset == KVMHOST_VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case KVMHOST_VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case KVMHOST_VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		kh_mmio_set_addr_half(m, 1, offset == KVMHOST_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case KVMHOST_VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case KVMHOST_VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		kh_mmio_set_addr_half(m, 2, offset == KVMHOST_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	case KVMHOST_VIRTIO_MMIO_SHM_SEL:
		m->shm_sel = v;
		break;
	default:
		/* Read-only registers and holes. */
		kh_log(KVMHOST_LOG_DEBUG,
		       "virtio-mmio %s: write of 0x%x to read-only or unknown register 0x%" PRIx64 " ignored", m->name,
		       v, offset);
		break;
	}
	if (err < 0)
		kh_log(KVMHOST_LOG_DEBUG, "virtio-mmio %s: write of 0x%x to register 0x%" PRIx64 ": %s", m->name, v,
		       offset, kvmhost_last_error());
	return -1;
}

static int kh_mmio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct kvmhost_virtio_mmio *m = opaque;
	uint32_t v;

	if (offset >= KVMHOST_VIRTIO_MMIO_CONFIG) {
		uint64_t coff = offset - KVMHOST_VIRTIO_MMIO_CONFIG;

		memset(data, 0xff, len);
		if (coff + len > m->config_size)
			return 0;
		if (kvmhost_virtio_device_config_read(m->dev, (uint32_t)coff, data, len) < 0)
			memset(data, 0xff, len);
		return 0;
	}
	if (len != 4 || (offset & 3)) {
		memset(data, 0xff, len);
		kh_mmio_bad_access(m, "read", offset, len);
		return 0;
	}
	pthread_mutex_lock(&m->lock);
	v = htole32(kh_mmio_reg_read(m, offset));
	pthread_mutex_unlock(&m->lock);
	memcpy(data, &v, 4);
	return 0;
}

static int kh_mmio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct kvmhost_virtio_mmio *m = opaque;
	uint32_t v;
	int queue;

	if (offset >= KVMHOST_VIRTIO_MMIO_CONFIG) {
		uint64_t coff = offset - KVMHOST_VIRTIO_MMIO_CONFIG;

		if (coff + len > m->config_size) {
			kh_log(KVMHOST_LOG_DEBUG, "virtio-mmio %s: config write past its %u bytes ignored", m->name,
			       m->config_size);
			return 0;
		}
		if (kvmhost_virtio_device_config_write(m->dev, (uint32_t)coff, data, len) < 0)
			kh_log(KVMHOST_LOG_DEBUG, "virtio-mmio %s: config write ignored: %s", m->name,
			       kvmhost_last_error());
		return 0;
	}
	if (len != 4 || (offset & 3)) {
		kh_mmio_bad_access(m, "write", offset, len);
		return 0;
	}
	memcpy(&v, data, 4);
	pthread_mutex_lock(&m->lock);
	queue = kh_mmio_reg_write(m, offset, le32toh(v));
	pthread_mutex_unlock(&m->lock);
	if (queue >= 0)
		(void)kvmhost_virtio_device_queue_notify(m->dev, (uint16_t)queue);
	return 0;
}

/* ---- migration state (in the device's blob: transport_internal.h) ---- */

/* u32 DeviceFeaturesSel, DriverFeaturesSel, QueueSel, SHMSel, InterruptStatus; little-endian. */
#define KH_MMIO_STATE_SIZE 20u

static size_t kh_mmio_state_size(void *opaque)
{
	(void)opaque;
	return KH_MMIO_STATE_SIZE;
}

static void kh_mmio_st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t kh_mmio_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void kh_mmio_state_save(void *opaque, uint8_t *buf)
{
	struct kvmhost_virtio_mmio *m = opaque;

	pthread_mutex_lock(&m->lock);
	kh_mmio_st32(buf, m->dev_features_sel);
	kh_mmio_st32(buf + 4, m->drv_features_sel);
	kh_mmio_st32(buf + 8, m->queue_sel);
	kh_mmio_st32(buf + 12, m->shm_sel);
	pthread_mutex_lock(&m->irq_lock);
	kh_mmio_st32(buf + 16, m->isr);
	pthread_mutex_unlock(&m->irq_lock);
	pthread_mutex_unlock(&m->lock);
}

static int kh_mmio_state_check(void *opaque, const uint8_t *buf, size_t len, const char *func)
{
	struct kvmhost_virtio_mmio *m = opaque;
	uint32_t isr;

	if (len != KH_MMIO_STATE_SIZE)
		return kh_fail(EINVAL, func, "virtio-mmio %s: transport state of %zu bytes, not %u", m->name, len,
			       KH_MMIO_STATE_SIZE);
	isr = kh_mmio_ld32(buf + 16);
	if (isr & ~(uint32_t)(KVMHOST_VIRTIO_MMIO_INT_VRING | KVMHOST_VIRTIO_MMIO_INT_CONFIG))
		return kh_fail(EINVAL, func, "virtio-mmio %s: bad InterruptStatus 0x%x in the transport state", m->name,
			       isr);
	return 0;
}

static void kh_mmio_state_load(void *opaque, const uint8_t *buf)
{
	struct kvmhost_virtio_mmio *m = opaque;

	pthread_mutex_lock(&m->lock);
	m->dev_features_sel = kh_mmio_ld32(buf);
	m->drv_features_sel = kh_mmio_ld32(buf + 4);
	m->queue_sel = kh_mmio_ld32(buf + 8);
	m->shm_sel = kh_mmio_ld32(buf + 12);
	pthread_mutex_lock(&m->irq_lock);
	m->isr = kh_mmio_ld32(buf + 16);
	if (kh_mmio_update_line(m) < 0)
		kh_log(KVMHOST_LOG_WARN, "virtio-mmio %s: restoring the interrupt line: %s", m->name,
		       kvmhost_last_error());
	pthread_mutex_unlock(&m->irq_lock);
	pthread_mutex_unlock(&m->lock);
}

static const struct kh_vt_state_ops kh_mmio_state_ops = {
    .kind = KH_VT_STATE_MMIO,
    .size = kh_mmio_state_size,
    .save = kh_mmio_state_save,
    .check = kh_mmio_state_check,
    .load = kh_mmio_state_load,
};

/* ---- object ---- */

KVMHOST_API int kvmhost_virtio_mmio_create(struct kvmhost_virtio_device *dev,
					   const struct kvmhost_virtio_mmio_options *opts,
					   struct kvmhost_virtio_mmio **out)
{
	struct kvmhost_virtio_mmio_options o;
	struct kvmhost_virtio_mmio *m;
	uint64_t need;
	char buf[48];
	int err;

	if (out)
		*out = NULL;
	if (!dev || !out)
		return KH_FAIL(EINVAL, "dev or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	need = KVMHOST_VIRTIO_MMIO_CONFIG + (uint64_t)kvmhost_virtio_device_config_size(dev);
	if (o.window == 0)
		o.window = need <= KVMHOST_VIRTIO_MMIO_WINDOW_DEFAULT
			       ? KVMHOST_VIRTIO_MMIO_WINDOW_DEFAULT
			       : (need + KH_MMIO_PAGE - 1) & ~(uint64_t)(KH_MMIO_PAGE - 1);
	if (o.window % KH_MMIO_PAGE || o.window < need || o.window > (1ull << 32))
		return KH_FAIL(EINVAL, "window 0x%llx is not a multiple of 4 KiB from 0x%llx (0x100 + config) to 4 GiB",
			       (unsigned long long)o.window, (unsigned long long)need);
	m = calloc(1, sizeof(*m));
	if (!m)
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-mmio transport");
	if (!o.name && snprintf(buf, sizeof(buf), "virtio-mmio-%u", kvmhost_virtio_device_id(dev)) > 0)
		o.name = buf;
	m->name = strdup(o.name ? o.name : "virtio-mmio");
	if (!m->name) {
		free(m);
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-mmio transport");
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->irq_lock, NULL);
	m->dev = dev;
	m->vendor_id = o.vendor_id;
	m->device_id = kvmhost_virtio_device_id(dev);
	m->num_queues = kvmhost_virtio_device_num_queues(dev);
	m->config_size = kvmhost_virtio_device_config_size(dev);
	m->window = o.window;
	m->irq = o.irq;
	err = kvmhost_virtio_device_set_transport(dev, &kh_mmio_transport_ops, m);
	if (err < 0) {
		kvmhost_virtio_mmio_destroy(m);
		return err;
	}
	kh_virtio_device_set_transport_state(dev, &kh_mmio_state_ops, m);
	*out = m;
	return 0;
}

KVMHOST_API void kvmhost_virtio_mmio_destroy(struct kvmhost_virtio_mmio *mmio)
{
	if (!mmio)
		return;
	if (mmio->bus)
		(void)kvmhost_bus_unregister(mmio->bus, mmio->base);
	kh_virtio_device_set_transport_state(mmio->dev, NULL, NULL);
	(void)kvmhost_virtio_device_set_transport(mmio->dev, NULL, NULL);
	pthread_mutex_destroy(&mmio->lock);
	pthread_mutex_destroy(&mmio->irq_lock);
	free(mmio->name);
	free(mmio);
}

KVMHOST_API int kvmhost_virtio_mmio_attach(struct kvmhost_virtio_mmio *mmio, struct kvmhost_bus *bus, uint64_t base)
{
	struct kvmhost_bus_range r = {.size = sizeof(r)};
	uint64_t last;
	int err;

	if (!mmio || !bus)
		return KH_FAIL(EINVAL, "mmio or bus is NULL");
	if (base % KH_MMIO_PAGE)
		return KH_FAIL(EINVAL, "%s: base 0x%llx is not 4 KiB aligned", mmio->name, (unsigned long long)base);
	if (kh_add_overflows(base, mmio->window - 1, &last))
		return KH_FAIL(EINVAL, "%s: window at 0x%llx + 0x%llx wraps", mmio->name, (unsigned long long)base,
			       (unsigned long long)mmio->window);
	if (mmio->bus)
		return KH_FAIL(EBUSY, "%s: already attached at 0x%llx", mmio->name, (unsigned long long)mmio->base);
	r.base = base;
	r.length = mmio->window;
	r.read = kh_mmio_read;
	r.write = kh_mmio_write;
	r.opaque = mmio;
	r.name = mmio->name;
	err = kvmhost_bus_register(bus, &r);
	if (err < 0)
		return err;
	mmio->bus = bus;
	mmio->base = base;
	return 0;
}

KVMHOST_API int kvmhost_virtio_mmio_get_window(struct kvmhost_virtio_mmio *mmio, uint64_t *base, uint64_t *window)
{
	if (!mmio)
		return KH_FAIL(EINVAL, "mmio is NULL");
	if (window)
		*window = mmio->window;
	if (!mmio->bus)
		return KH_FAIL(ENOTCONN, "%s: not attached to a bus", mmio->name);
	if (base)
		*base = mmio->base;
	return 0;
}

KVMHOST_API int kvmhost_virtio_mmio_set_irq(struct kvmhost_virtio_mmio *mmio, struct kvmhost_irq_line *irq)
{
	int err = 0;

	if (!mmio)
		return KH_FAIL(EINVAL, "mmio is NULL");
	pthread_mutex_lock(&mmio->irq_lock);
	if (irq)
		err = kvmhost_irq_line_set(irq, mmio->isr ? 1 : 0);
	if (err == 0)
		mmio->irq = irq;
	pthread_mutex_unlock(&mmio->irq_lock);
	return err;
}

KVMHOST_API int kvmhost_virtio_mmio_cmdline(struct kvmhost_virtio_mmio *mmio, uint32_t irq, char *buf, size_t len)
{
	char size[32];
	int n;

	if (!mmio || !buf)
		return KH_FAIL(EINVAL, "mmio or buf is NULL");
	if (len)
		buf[0] = '\0';
	if (!mmio->bus)
		return KH_FAIL(ENOTCONN, "%s: not attached to a bus", mmio->name);
	/* Linux parses the size with memparse(): K/M suffixes read best. */
	if (mmio->window % (1024 * 1024) == 0)
		snprintf(size, sizeof(size), "%lluM", (unsigned long long)(mmio->window >> 20));
	else
		snprintf(size, sizeof(size), "%lluK", (unsigned long long)(mmio->window >> 10));
	n = snprintf(buf, len, "virtio_mmio.device=%s@0x%llx:%u", size, (unsigned long long)mmio->base, irq);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return KH_FAIL(ENOSPC, "%s: the command line fragment needs %d bytes, the buffer has %zu", mmio->name,
			       n + 1, len);
	}
	return n;
}

KVMHOST_API uint64_t kvmhost_virtio_mmio_bad_accesses(struct kvmhost_virtio_mmio *mmio)
{
	return mmio ? atomic_load(&mmio->bad_accesses) : 0;
}

struct kvmhost_virtio_device *kh_virtio_mmio_device(struct kvmhost_virtio_mmio *mmio)
{
	return mmio->dev;
}

struct kvmhost_irq_line *kh_virtio_mmio_irq(struct kvmhost_virtio_mmio *mmio)
{
	struct kvmhost_irq_line *line;

	pthread_mutex_lock(&mmio->irq_lock);
	line = mmio->irq;
	pthread_mutex_unlock(&mmio->irq_lock);
	return line;
}
