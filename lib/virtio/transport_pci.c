/*
 * The virtio-pci modern transport (virtio/pci.h): a PCI function (pci.h)
 * whose BAR 0 holds the virtio structures and the MSI-X table, and whose
 * capability list describes them. Guest accesses become device framework
 * calls; the framework's interrupts become MSI-X messages or ISR bits plus
 * INTx. No KVM here: transport_wiring.c hooks in for ioeventfds, MSI routes
 * and irqfds.
 *
 * Locks: lock serialises the common configuration (selectors, shadowed
 * driver features); irq_lock guards the ISR, MSI-X state, the vectors and
 * the wiring hooks, and is what the interrupt callbacks take (they may come
 * from any thread, also from inside a framework call made with lock held:
 * order lock, framework, irq_lock, then the PCI function's lock through
 * kvmhost_pci_device_set_intx()). Queue notifications are passed on with no
 * lock held.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/pci.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/pci.h>

#include "../core/internal.h"
#include "../pci/msix_internal.h"
#include "../pci/pci_internal.h"
#include "transport_internal.h"

#define NO_VECTOR    KVMHOST_VIRTIO_PCI_NO_VECTOR
#define KH_VPCI_PAGE 0x1000u

/* Lengths of the virtio capabilities in configuration space. */
#define KH_VPCI_CAP_LEN	       16u
#define KH_VPCI_NOTIFY_CAP_LEN 20u
#define KH_VPCI_PCICFG_CAP_LEN 20u

struct kh_vpci_reported {
	int valid;
	int deliverable;
	uint64_t address;
	uint32_t data;
};

struct kvmhost_virtio_pci {
	pthread_mutex_t lock;
	struct kvmhost_virtio_device *vdev;
	struct kvmhost_pci_device *pdev;
	char *name;
	uint16_t num_queues;
	uint32_t config_size;
	uint64_t bar_size;
	uint32_t pba_off;
	uint8_t cap_msix; /* 0 without MSI-X */
	uint8_t cap_pcicfg;

	/* Under lock. */
	uint32_t dfselect, gfselect;
	uint32_t guest_features[2]; /* what the driver wrote, for reading back */
	uint16_t queue_select;

	/* Under irq_lock. */
	pthread_mutex_t irq_lock;
	uint8_t isr;
	int has_msix;
	struct kh_msix msix;
	uint16_t config_vector;
	uint16_t *queue_vectors;
	struct kh_vpci_reported *reported;
	struct kh_vpci_hooks hooks;
	int hooked;
	kvmhost_virtio_pci_msi_fn msi;
	void *msi_opaque;

	atomic_uint_fast64_t bad_accesses;
	atomic_int warned;
	atomic_int msi_warned;
};

static void kh_vpci_bad_access(struct kvmhost_virtio_pci *p, const char *what, uint64_t offset, uint32_t len)
{
	atomic_fetch_add(&p->bad_accesses, 1);
	if (!atomic_exchange(&p->warned, 1))
		kh_log(KVMHOST_LOG_WARN,
		       "virtio-pci %s: ignored a %u-byte %s at BAR offset 0x%" PRIx64
		       " (wrong width or alignment; further ones are logged at DEBUG)",
		       p->name, len, what, offset);
	else if (kh_log_enabled(KVMHOST_LOG_DEBUG))
		kh_log(KVMHOST_LOG_DEBUG, "virtio-pci %s: ignored a %u-byte %s at BAR offset 0x%" PRIx64, p->name, len,
		       what, offset);
}

/* ---- MSI-X and interrupts (irq_lock held) ---- */

static void kh_vpci_signal(struct kvmhost_virtio_pci *p, uint16_t v)
{
	uint64_t address;
	uint32_t data;
	int err = 0;

	kh_msix_entry(&p->msix, v, &address, &data);
	if (p->hooked && p->hooks.msi_signal)
		err = p->hooks.msi_signal(p->hooks.opaque, v, address, data);
	else if (p->msi)
		err = p->msi(p->msi_opaque, v, address, data);
	else
		kh_log(KVMHOST_LOG_DEBUG, "virtio-pci %s: MSI-X vector %u dropped: nothing delivers it", p->name, v);
	/* Once at WARN: a guest that keeps a vector pointed nowhere must not
	 * flood the log. */
	if (err < 0)
		kh_log(atomic_exchange(&p->msi_warned, 1) ? KVMHOST_LOG_DEBUG : KVMHOST_LOG_WARN,
		       "virtio-pci %s: MSI-X vector %u (0x%" PRIx64 "/0x%x) not delivered: %s", p->name, v, address,
		       data, kvmhost_strerror(err));
}

/* Report vector @v to the wiring if it changed, then send it if it was
 * pending and can go now. */
static void kh_vpci_sync_vector(struct kvmhost_virtio_pci *p, uint16_t v)
{
	struct kh_vpci_reported *r = &p->reported[v];
	int deliverable = kh_msix_deliverable(&p->msix, v);
	uint64_t address;
	uint32_t data;

	kh_msix_entry(&p->msix, v, &address, &data);
	if (!r->valid || r->deliverable != deliverable || r->address != address || r->data != data) {
		r->valid = 1;
		r->deliverable = deliverable;
		r->address = address;
		r->data = data;
		if (p->hooked && p->hooks.msi_update)
			p->hooks.msi_update(p->hooks.opaque, v, address, data, deliverable);
	}
	if (kh_msix_take_pending(&p->msix, v))
		kh_vpci_signal(p, v);
}

static void kh_vpci_sync_all(struct kvmhost_virtio_pci *p)
{
	for (uint16_t v = 0; v < p->msix.nvec; v++)
		kh_vpci_sync_vector(p, v);
}

static void kh_vpci_fire(struct kvmhost_virtio_pci *p, uint16_t v)
{
	if (v == NO_VECTOR)
		return;
	if (kh_msix_fire(&p->msix, v))
		kh_vpci_signal(p, v);
}

static int kh_vpci_msix_on(const struct kvmhost_virtio_pci *p)
{
	return p->has_msix && p->msix.enabled;
}

static int kh_vpci_queue_interrupt(void *opaque, uint16_t queue)
{
	struct kvmhost_virtio_pci *p = opaque;
	int err = 0;

	pthread_mutex_lock(&p->irq_lock);
	if (kh_vpci_msix_on(p)) {
		if (queue < p->num_queues)
			kh_vpci_fire(p, p->queue_vectors[queue]);
	} else {
		p->isr |= KVMHOST_VIRTIO_PCI_ISR_QUEUE;
		err = kvmhost_pci_device_set_intx(p->pdev, 1);
	}
	pthread_mutex_unlock(&p->irq_lock);
	return err;
}

static int kh_vpci_config_interrupt(void *opaque)
{
	struct kvmhost_virtio_pci *p = opaque;
	int err = 0;

	pthread_mutex_lock(&p->irq_lock);
	p->isr |= KVMHOST_VIRTIO_PCI_ISR_CONFIG; /* set with MSI-X too, as the spec asks */
	if (kh_vpci_msix_on(p))
		kh_vpci_fire(p, p->config_vector);
	else
		err = kvmhost_pci_device_set_intx(p->pdev, 1);
	pthread_mutex_unlock(&p->irq_lock);
	return err;
}

static const struct kvmhost_virtio_transport_ops kh_vpci_transport_ops = {
    .size = sizeof(struct kvmhost_virtio_transport_ops),
    .queue_interrupt = kh_vpci_queue_interrupt,
    .config_interrupt = kh_vpci_config_interrupt,
};

/* ---- common configuration ---- */

static void kh_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void kh_st64(uint8_t *p, uint64_t v)
{
	kh_pci_st32(p, (uint32_t)v);
	kh_pci_st32(p + 4, (uint32_t)(v >> 32));
}

static struct kvmhost_virtq *kh_vpci_selected(struct kvmhost_virtio_pci *p)
{
	if (p->queue_select >= p->num_queues)
		return NULL;
	return kvmhost_virtio_device_queue(p->vdev, p->queue_select);
}

/* With lock held: the structure as the driver would read it now. */
static void kh_vpci_common_image(struct kvmhost_virtio_pci *p, uint8_t img[KH_VPCI_COMMON_LEN])
{
	struct kvmhost_virtq *q = kh_vpci_selected(p);
	uint64_t desc = 0, driver = 0, device = 0;
	uint32_t df = 0;
	uint16_t qvec = NO_VECTOR, cvec;
	int status = kvmhost_virtio_device_get_status(p->vdev);

	memset(img, 0, KH_VPCI_COMMON_LEN);
	if (kvmhost_virtio_device_get_features(p->vdev, p->dfselect, &df) < 0)
		df = 0;
	pthread_mutex_lock(&p->irq_lock);
	cvec = p->config_vector;
	if (q)
		qvec = p->queue_vectors[p->queue_select];
	pthread_mutex_unlock(&p->irq_lock);
	kh_pci_st32(&img[KVMHOST_VIRTIO_PCI_COMMON_DFSELECT], p->dfselect);
	kh_pci_st32(&img[KVMHOST_VIRTIO_PCI_COMMON_DF], df);
	kh_pci_st32(&img[KVMHOST_VIRTIO_PCI_COMMON_GFSELECT], p->gfselect);
	kh_pci_st32(&img[KVMHOST_VIRTIO_PCI_COMMON_GF], p->gfselect < 2 ? p->guest_features[p->gfselect] : 0);
	kh_st16(&img[KVMHOST_VIRTIO_PCI_COMMON_MSIX], cvec);
	kh_st16(&img[KVMHOST_VIRTIO_PCI_COMMON_NUMQ], p->num_queues);
	img[KVMHOST_VIRTIO_PCI_COMMON_STATUS] = status < 0 ? 0 : (uint8_t)status;
	img[KVMHOST_VIRTIO_PCI_COMMON_CFGGENERATION] = (uint8_t)kvmhost_virtio_device_config_generation(p->vdev);
	kh_st16(&img[KVMHOST_VIRTIO_PCI_COMMON_Q_SELECT], p->queue_select);
	kh_st16(&img[KVMHOST_VIRTIO_PCI_COMMON_Q_MSIX], qvec);
	if (q) {
		kh_st16(&img[KVMHOST_VIRTIO_PCI_COMMON_Q_SIZE], (uint16_t)kvmhost_virtq_size(q));
		kh_st16(&img[KVMHOST_VIRTIO_PCI_COMMON_Q_ENABLE], kvmhost_virtq_is_enabled(q) == 1);
		kh_st16(&img[KVMHOST_VIRTIO_PCI_COMMON_Q_NOFF], p->queue_select);
		(void)kvmhost_virtq_addresses(q, &desc, &driver, &device);
	}
	kh_st64(&img[KVMHOST_VIRTIO_PCI_COMMON_Q_DESC], desc);
	kh_st64(&img[KVMHOST_VIRTIO_PCI_COMMON_Q_DRIVER], driver);
	kh_st64(&img[KVMHOST_VIRTIO_PCI_COMMON_Q_DEVICE], device);
}

static void kh_vpci_common_read(struct kvmhost_virtio_pci *p, uint32_t off, uint8_t *data, uint32_t len)
{
	uint8_t img[KH_VPCI_COMMON_LEN];

	pthread_mutex_lock(&p->lock);
	kh_vpci_common_image(p, img);
	pthread_mutex_unlock(&p->lock);
	memcpy(data, &img[off], len);
}

/* With lock held: the vector the driver asks for, or NO_VECTOR if there is
 * no such table entry. */
static uint16_t kh_vpci_vector(struct kvmhost_virtio_pci *p, uint16_t v)
{
	return p->has_msix && v < p->msix.nvec ? v : NO_VECTOR;
}

/* With lock held: set half or all of one of the selected queue's addresses. */
static int kh_vpci_set_addr(struct kvmhost_virtio_pci *p, int which, uint32_t byte, uint64_t v, uint32_t len)
{
	struct kvmhost_virtq *q = kh_vpci_selected(p);
	uint64_t a[3], cur;

	if (!q)
		return 0;
	if (kvmhost_virtq_addresses(q, &a[0], &a[1], &a[2]) < 0)
		return 0;
	cur = a[which];
	if (len == 8)
		cur = v;
	else if (byte == 0)
		cur = (cur & ~0xffffffffull) | (uint32_t)v;
	else
		cur = (cur & 0xffffffffull) | (v << 32);
	if (which == 0)
		return kvmhost_virtio_device_queue_set_desc_addr(p->vdev, p->queue_select, cur);
	if (which == 1)
		return kvmhost_virtio_device_queue_set_driver_addr(p->vdev, p->queue_select, cur);
	return kvmhost_virtio_device_queue_set_device_addr(p->vdev, p->queue_select, cur);
}

/* The driver reset the device: the transport's own state goes too. */
static void kh_vpci_reset_locked(struct kvmhost_virtio_pci *p)
{
	p->dfselect = p->gfselect = 0;
	p->guest_features[0] = p->guest_features[1] = 0;
	p->queue_select = 0;
	pthread_mutex_lock(&p->irq_lock);
	p->config_vector = NO_VECTOR;
	for (uint16_t i = 0; i < p->num_queues; i++)
		p->queue_vectors[i] = NO_VECTOR;
	p->isr = 0;
	(void)kvmhost_pci_device_set_intx(p->pdev, 0);
	pthread_mutex_unlock(&p->irq_lock);
}

static void kh_vpci_common_write(struct kvmhost_virtio_pci *p, uint32_t off, const uint8_t *data, uint32_t len)
{
	static const struct {
		uint8_t off, size;
	} fields[] = {
	    {KVMHOST_VIRTIO_PCI_COMMON_DFSELECT, 4}, {KVMHOST_VIRTIO_PCI_COMMON_DF, 4},
	    {KVMHOST_VIRTIO_PCI_COMMON_GFSELECT, 4}, {KVMHOST_VIRTIO_PCI_COMMON_GF, 4},
	    {KVMHOST_VIRTIO_PCI_COMMON_MSIX, 2},     {KVMHOST_VIRTIO_PCI_COMMON_NUMQ, 2},
	    {KVMHOST_VIRTIO_PCI_COMMON_STATUS, 1},   {KVMHOST_VIRTIO_PCI_COMMON_CFGGENERATION, 1},
	    {KVMHOST_VIRTIO_PCI_COMMON_Q_SELECT, 2}, {KVMHOST_VIRTIO_PCI_COMMON_Q_SIZE, 2},
	    {KVMHOST_VIRTIO_PCI_COMMON_Q_MSIX, 2},   {KVMHOST_VIRTIO_PCI_COMMON_Q_ENABLE, 2},
	    {KVMHOST_VIRTIO_PCI_COMMON_Q_NOFF, 2},   {KVMHOST_VIRTIO_PCI_COMMON_Q_DESC, 8},
	    {KVMHOST_VIRTIO_PCI_COMMON_Q_DRIVER, 8}, {KVMHOST_VIRTIO_PCI_COMMON_Q_DEVICE, 8},
	};
	uint32_t field = UINT32_MAX, byte = 0;
	uint64_t v = 0;
	int err = 0;

	for (uint32_t i = 0; i < KH_ARRAY_SIZE(fields); i++) {
		if (off < fields[i].off || off >= fields[i].off + fields[i].size)
			continue;
		byte = off - fields[i].off;
		if ((byte == 0 && len == fields[i].size) ||
		    (fields[i].size == 8 && len == 4 && (byte == 0 || byte == 4)))
			field = fields[i].off;
		break;
	}
	if (field == UINT32_MAX) {
		kh_vpci_bad_access(p, "common config write", KH_VPCI_COMMON_OFF + off, len);
		return;
	}
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)data[i] << (8 * i);
	pthread_mutex_lock(&p->lock);
	switch (field) {
	case KVMHOST_VIRTIO_PCI_COMMON_DFSELECT:
		p->dfselect = (uint32_t)v;
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_GFSELECT:
		p->gfselect = (uint32_t)v;
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_GF:
		err = kvmhost_virtio_device_set_driver_features(p->vdev, p->gfselect, (uint32_t)v);
		if (err == 0 && p->gfselect < 2)
			p->guest_features[p->gfselect] = (uint32_t)v;
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_MSIX:
		pthread_mutex_lock(&p->irq_lock);
		p->config_vector = kh_vpci_vector(p, (uint16_t)v);
		pthread_mutex_unlock(&p->irq_lock);
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_STATUS:
		err = kvmhost_virtio_device_set_status(p->vdev, (uint32_t)v);
		if (v == 0)
			kh_vpci_reset_locked(p);
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_Q_SELECT:
		p->queue_select = (uint16_t)v;
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_Q_SIZE:
		if (p->queue_select < p->num_queues)
			err = kvmhost_virtio_device_queue_set_size(p->vdev, p->queue_select, (uint32_t)v);
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_Q_MSIX:
		if (p->queue_select < p->num_queues) {
			pthread_mutex_lock(&p->irq_lock);
			p->queue_vectors[p->queue_select] = kh_vpci_vector(p, (uint16_t)v);
			pthread_mutex_unlock(&p->irq_lock);
		}
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_Q_ENABLE:
		if (p->queue_select < p->num_queues && v <= 1)
			err = kvmhost_virtio_device_queue_enable(p->vdev, p->queue_select, (int)v);
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_Q_DESC:
		err = kh_vpci_set_addr(p, 0, byte, v, len);
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_Q_DRIVER:
		err = kh_vpci_set_addr(p, 1, byte, v, len);
		break;
	case KVMHOST_VIRTIO_PCI_COMMON_Q_DEVICE:
		err = kh_vpci_set_addr(p, 2, byte, v, len);
		break;
	default: /* read-only fields */
		kh_log(KVMHOST_LOG_DEBUG, "virtio-pci %s: write to read-only common config field 0x%x ignored", p->name,
		       field);
		break;
	}
	pthread_mutex_unlock(&p->lock);
	if (err < 0)
		kh_log(KVMHOST_LOG_DEBUG, "virtio-pci %s: common config write at 0x%x: %s", p->name, off,
		       kvmhost_last_error());
}

/* ---- BAR 0 ---- */

static int kh_in(uint64_t off, uint32_t len, uint64_t start, uint64_t size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

static int kh_vpci_bar_read(void *opaque, uint64_t off, void *buf, uint32_t len)
{
	struct kvmhost_virtio_pci *p = opaque;
	uint8_t *data = buf;

	memset(data, 0xff, len);
	if (kh_in(off, len, KH_VPCI_COMMON_OFF, KH_VPCI_COMMON_LEN)) {
		kh_vpci_common_read(p, (uint32_t)(off - KH_VPCI_COMMON_OFF), data, len);
	} else if (off == KH_VPCI_ISR_OFF) {
		/* Read-to-clear; it also deasserts INTx. */
		memset(data, 0, len);
		pthread_mutex_lock(&p->irq_lock);
		data[0] = p->isr;
		p->isr = 0;
		(void)kvmhost_pci_device_set_intx(p->pdev, 0);
		pthread_mutex_unlock(&p->irq_lock);
	} else if (kh_in(off, len, KH_VPCI_DEVICE_OFF, p->config_size)) {
		if (kvmhost_virtio_device_config_read(p->vdev, (uint32_t)(off - KH_VPCI_DEVICE_OFF), data, len) < 0)
			memset(data, 0xff, len);
	} else if (kh_in(off, len, KH_VPCI_NOTIFY_OFF, (uint64_t)p->num_queues * KH_VPCI_NOTIFY_MULT)) {
		memset(data, 0, len);
	} else if (p->has_msix && kh_in(off, len, KH_VPCI_MSIX_TABLE_OFF, kh_msix_table_size(p->msix.nvec))) {
		pthread_mutex_lock(&p->irq_lock);
		kh_msix_table_read(&p->msix, (uint32_t)(off - KH_VPCI_MSIX_TABLE_OFF), data, len);
		pthread_mutex_unlock(&p->irq_lock);
	} else if (p->has_msix && kh_in(off, len, p->pba_off, kh_msix_pba_size(p->msix.nvec))) {
		pthread_mutex_lock(&p->irq_lock);
		kh_msix_pba_read(&p->msix, (uint32_t)(off - p->pba_off), data, len);
		pthread_mutex_unlock(&p->irq_lock);
	}
	return 0;
}

static int kh_vpci_bar_write(void *opaque, uint64_t off, const void *buf, uint32_t len)
{
	struct kvmhost_virtio_pci *p = opaque;
	const uint8_t *data = buf;

	if (kh_in(off, len, KH_VPCI_COMMON_OFF, KH_VPCI_COMMON_LEN)) {
		kh_vpci_common_write(p, (uint32_t)(off - KH_VPCI_COMMON_OFF), data, len);
	} else if (kh_in(off, len, KH_VPCI_DEVICE_OFF, p->config_size)) {
		if (kvmhost_virtio_device_config_write(p->vdev, (uint32_t)(off - KH_VPCI_DEVICE_OFF), data, len) < 0)
			kh_log(KVMHOST_LOG_DEBUG, "virtio-pci %s: config write ignored: %s", p->name,
			       kvmhost_last_error());
	} else if (kh_in(off, len, KH_VPCI_NOTIFY_OFF, (uint64_t)p->num_queues * KH_VPCI_NOTIFY_MULT)) {
		uint64_t q = (off - KH_VPCI_NOTIFY_OFF) / KH_VPCI_NOTIFY_MULT;

		/* The slot names the queue; a write may not spill into the next. */
		if ((off - KH_VPCI_NOTIFY_OFF) % KH_VPCI_NOTIFY_MULT + len <= KH_VPCI_NOTIFY_MULT)
			(void)kvmhost_virtio_device_queue_notify(p->vdev, (uint16_t)q);
		else
			kh_vpci_bad_access(p, "notify write", off, len);
	} else if (p->has_msix && kh_in(off, len, KH_VPCI_MSIX_TABLE_OFF, kh_msix_table_size(p->msix.nvec))) {
		int v;

		pthread_mutex_lock(&p->irq_lock);
		v = kh_msix_table_write(&p->msix, (uint32_t)(off - KH_VPCI_MSIX_TABLE_OFF), data, len);
		if (v >= 0)
			kh_vpci_sync_vector(p, (uint16_t)v);
		pthread_mutex_unlock(&p->irq_lock);
		if (v < 0)
			kh_vpci_bad_access(p, "MSI-X table write", off, len);
	} else {
		kh_log(KVMHOST_LOG_DEBUG, "virtio-pci %s: write of %u bytes at BAR offset 0x%" PRIx64 " ignored",
		       p->name, len, off);
	}
	return 0;
}

/* ---- configuration space hooks ---- */

static int kh_overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t size)
{
	return off < start + size && start < off + len;
}

/* The PCI_CFG window: the access the driver set up in the capability. */
static int kh_vpci_pcicfg_target(struct kvmhost_virtio_pci *p, uint32_t *boff, uint32_t *blen)
{
	uint8_t cap[KH_VPCI_PCICFG_CAP_LEN];

	if (kvmhost_pci_device_config_get(p->pdev, p->cap_pcicfg, cap, sizeof(cap)) < 0)
		return 0;
	*boff = kh_pci_ld32(&cap[8]);
	*blen = kh_pci_ld32(&cap[12]);
	if (cap[4] != KH_VPCI_BAR || (*blen != 1 && *blen != 2 && *blen != 4) || *boff % *blen ||
	    !kh_in(*boff, *blen, 0, p->bar_size))
		return 0;
	return 1;
}

static int kh_vpci_config_read(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	struct kvmhost_virtio_pci *p = opaque;
	uint32_t win = p->cap_pcicfg + 16u, boff, blen;
	uint8_t tmp[4] = {0}, *d = data;

	if (!kh_overlaps(offset, len, win, 4) || !kh_vpci_pcicfg_target(p, &boff, &blen))
		return 0;
	kh_vpci_bar_read(p, boff, tmp, blen);
	for (uint32_t i = 0; i < len; i++)
		if (offset + i >= win && offset + i < win + 4)
			d[i] = tmp[offset + i - win];
	return 0;
}

static int kh_vpci_config_write(void *opaque, uint32_t offset, const void *data, uint32_t len)
{
	struct kvmhost_virtio_pci *p = opaque;
	uint32_t win = p->cap_pcicfg + 16u, boff, blen;
	uint8_t ctl[2], tmp[4];

	(void)data;
	if (p->cap_msix && kh_overlaps(offset, len, p->cap_msix + 2u, 2) &&
	    kvmhost_pci_device_config_get(p->pdev, p->cap_msix + 2u, ctl, 2) == 0) {
		pthread_mutex_lock(&p->irq_lock);
		if (kh_msix_set_control(&p->msix, (uint16_t)(ctl[0] | ctl[1] << 8))) {
			/* MSI-X on means INTx off (PCI 3.0 6.8.2.3). */
			if (p->msix.enabled)
				(void)kvmhost_pci_device_set_intx(p->pdev, 0);
			kh_vpci_sync_all(p);
		}
		pthread_mutex_unlock(&p->irq_lock);
	}
	if (kh_overlaps(offset, len, win, 4) && kh_vpci_pcicfg_target(p, &boff, &blen) &&
	    kvmhost_pci_device_config_get(p->pdev, win, tmp, 4) == 0)
		kh_vpci_bar_write(p, boff, tmp, blen);
	return 0;
}

static void kh_vpci_bar_moved(void *opaque, uint32_t bar, uint64_t old_addr, uint64_t new_addr)
{
	struct kvmhost_virtio_pci *p = opaque;

	if (bar != KH_VPCI_BAR)
		return;
	pthread_mutex_lock(&p->irq_lock);
	if (p->hooked && p->hooks.bar_moved)
		p->hooks.bar_moved(p->hooks.opaque, old_addr, new_addr);
	pthread_mutex_unlock(&p->irq_lock);
}

/* ---- migration state (in the device's blob: transport_internal.h) ---- */

/*
 * Layout, little-endian: u16 num_queues, u16 MSI-X vectors (0 without
 * MSI-X), u32 BAR 0 size (the shape, checked), the PCI function
 * (KH_PCI_STATE_SIZE: configuration space as the guest left it, INTx
 * level), u32 device_feature_select, u32 driver_feature_select, u32
 * driver_feature[2] (as the driver wrote them), u16 queue_select, u16
 * config_msix_vector, u8 ISR, u8 pad[3], u16 queue_msix_vector[num_queues],
 * then with MSI-X the table and the pending bit array (msix_internal.h).
 */
#define KH_VPCI_STATE_HEAD  8u
#define KH_VPCI_STATE_REGS  24u
#define KH_VPCI_STATE_FIXED (KH_VPCI_STATE_HEAD + KH_PCI_STATE_SIZE + KH_VPCI_STATE_REGS)

static uint16_t kh_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static size_t kh_vpci_state_size(void *opaque)
{
	struct kvmhost_virtio_pci *p = opaque;

	return KH_VPCI_STATE_FIXED + 2u * p->num_queues + (p->has_msix ? kh_msix_state_size(p->msix.nvec) : 0);
}

static void kh_vpci_state_save(void *opaque, uint8_t *buf)
{
	struct kvmhost_virtio_pci *p = opaque;
	uint8_t *o = buf;

	pthread_mutex_lock(&p->lock);
	pthread_mutex_lock(&p->irq_lock);
	kh_st16(o, p->num_queues);
	kh_st16(o + 2, p->has_msix ? p->msix.nvec : 0);
	kh_pci_st32(o + 4, (uint32_t)p->bar_size);
	o += KH_VPCI_STATE_HEAD;
	kh_pci_dev_state_save(p->pdev, o);
	o += KH_PCI_STATE_SIZE;
	kh_pci_st32(o, p->dfselect);
	kh_pci_st32(o + 4, p->gfselect);
	kh_pci_st32(o + 8, p->guest_features[0]);
	kh_pci_st32(o + 12, p->guest_features[1]);
	kh_st16(o + 16, p->queue_select);
	kh_st16(o + 18, p->config_vector);
	o[20] = p->isr;
	o[21] = o[22] = o[23] = 0;
	o += KH_VPCI_STATE_REGS;
	for (uint16_t i = 0; i < p->num_queues; i++, o += 2)
		kh_st16(o, p->queue_vectors[i]);
	if (p->has_msix)
		kh_msix_state_save(&p->msix, o);
	pthread_mutex_unlock(&p->irq_lock);
	pthread_mutex_unlock(&p->lock);
}

/* A vector register's value: one of the table's entries, or none. */
static int kh_vpci_vector_ok(const struct kvmhost_virtio_pci *p, uint16_t v)
{
	return v == NO_VECTOR || (p->has_msix && v < p->msix.nvec);
}

static int kh_vpci_state_check(void *opaque, const uint8_t *buf, size_t len, const char *func)
{
	struct kvmhost_virtio_pci *p = opaque;
	const uint8_t *r;
	uint16_t nvec = p->has_msix ? p->msix.nvec : 0;

	if (len != kh_vpci_state_size(p))
		return kh_fail(EINVAL, func, "virtio-pci %s: transport state of %zu bytes, this transport's has %zu",
			       p->name, len, kh_vpci_state_size(p));
	if (kh_ld16(buf) != p->num_queues || kh_ld16(buf + 2) != nvec || kh_pci_ld32(buf + 4) != p->bar_size)
		return kh_fail(EINVAL, func,
			       "virtio-pci %s: transport state of %u queues, %u MSI-X vectors and a 0x%x-byte BAR; "
			       "this one has %u, %u and 0x%llx",
			       p->name, kh_ld16(buf), kh_ld16(buf + 2), kh_pci_ld32(buf + 4), p->num_queues, nvec,
			       (unsigned long long)p->bar_size);
	if (kh_pci_dev_state_check(p->pdev, buf + KH_VPCI_STATE_HEAD, func) < 0)
		return -EINVAL;
	r = buf + KH_VPCI_STATE_HEAD + KH_PCI_STATE_SIZE;
	if ((r[20] & ~(KVMHOST_VIRTIO_PCI_ISR_QUEUE | KVMHOST_VIRTIO_PCI_ISR_CONFIG)) || r[21] || r[22] || r[23])
		return kh_fail(EINVAL, func, "virtio-pci %s: bad ISR 0x%02x or padding in the transport state", p->name,
			       r[20]);
	if (!kh_vpci_vector_ok(p, kh_ld16(r + 18)))
		return kh_fail(EINVAL, func, "virtio-pci %s: config vector %u is not an MSI-X entry (%u)", p->name,
			       kh_ld16(r + 18), nvec);
	r += KH_VPCI_STATE_REGS;
	for (uint16_t i = 0; i < p->num_queues; i++)
		if (!kh_vpci_vector_ok(p, kh_ld16(r + 2u * i)))
			return kh_fail(EINVAL, func, "virtio-pci %s: queue %u's vector %u is not an MSI-X entry (%u)",
				       p->name, i, kh_ld16(r + 2u * i), nvec);
	if (p->has_msix && kh_msix_state_check(&p->msix, r + 2u * p->num_queues) < 0)
		return kh_fail(EINVAL, func,
			       "virtio-pci %s: MSI-X table with reserved Vector Control bits or pending bits past "
			       "vector %u",
			       p->name, nvec - 1u);
	return 0;
}

static void kh_vpci_state_load(void *opaque, const uint8_t *buf)
{
	struct kvmhost_virtio_pci *p = opaque;
	const uint8_t *r = buf + KH_VPCI_STATE_HEAD + KH_PCI_STATE_SIZE;
	uint8_t ctl[2];

	pthread_mutex_lock(&p->lock);
	p->dfselect = kh_pci_ld32(r);
	p->gfselect = kh_pci_ld32(r + 4);
	p->guest_features[0] = kh_pci_ld32(r + 8);
	p->guest_features[1] = kh_pci_ld32(r + 12);
	p->queue_select = kh_ld16(r + 16);
	pthread_mutex_lock(&p->irq_lock);
	kh_pci_dev_state_load(p->pdev, buf + KH_VPCI_STATE_HEAD);
	p->config_vector = kh_ld16(r + 18);
	p->isr = r[20];
	r += KH_VPCI_STATE_REGS;
	for (uint16_t i = 0; i < p->num_queues; i++)
		p->queue_vectors[i] = kh_ld16(r + 2u * i);
	if (p->has_msix) {
		kh_msix_state_load(&p->msix, r + 2u * p->num_queues);
		if (kvmhost_pci_device_config_get(p->pdev, p->cap_msix + 2u, ctl, 2) == 0)
			(void)kh_msix_set_control(&p->msix, (uint16_t)(ctl[0] | ctl[1] << 8));
		/* Every entry to the wiring (MSI routes) as it is now; pending
		 * ones that may go out now go. */
		for (uint16_t v = 0; v < p->msix.nvec; v++)
			p->reported[v].valid = 0;
		kh_vpci_sync_all(p);
	}
	pthread_mutex_unlock(&p->irq_lock);
	pthread_mutex_unlock(&p->lock);
	/* BAR 0 where the guest left it: the ioeventfds follow (bar_moved takes irq_lock). */
	kh_pci_host_remap_device(p->pdev);
}

static const struct kh_vt_state_ops kh_vpci_state_ops = {
    .kind = KH_VT_STATE_PCI,
    .size = kh_vpci_state_size,
    .save = kh_vpci_state_save,
    .check = kh_vpci_state_check,
    .load = kh_vpci_state_load,
};

/* ---- object ---- */

static uint32_t kh_vpci_class(uint32_t device_id)
{
	switch (device_id) {
	case KVMHOST_VIRTIO_ID_NET:
		return 0x020000; /* network, ethernet */
	case KVMHOST_VIRTIO_ID_BLOCK:
	case KVMHOST_VIRTIO_ID_SCSI:
		return 0x010000; /* mass storage, SCSI */
	case KVMHOST_VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication, other */
	case KVMHOST_VIRTIO_ID_GPU:
		return 0x038000; /* display, other */
	case KVMHOST_VIRTIO_ID_INPUT:
		return 0x098000; /* input, other */
	default:
		return 0xff0000; /* unassigned class */
	}
}

static void kh_vpci_cap(uint8_t cap[KH_VPCI_NOTIFY_CAP_LEN], uint8_t len, uint8_t type, uint32_t off, uint32_t size)
{
	memset(cap, 0, KH_VPCI_NOTIFY_CAP_LEN);
	cap[2] = len;
	cap[3] = type;
	cap[4] = KH_VPCI_BAR;
	kh_pci_st32(&cap[8], off);
	kh_pci_st32(&cap[12], size);
}

static int kh_vpci_build(struct kvmhost_virtio_pci *p, const struct kvmhost_virtio_pci_options *o)
{
	struct kvmhost_pci_device_options po = {.size = sizeof(po)};
	struct kvmhost_pci_bar_options bo = {.size = sizeof(bo)};
	uint8_t cap[KH_VPCI_NOTIFY_CAP_LEN], wmask[KH_VPCI_NOTIFY_CAP_LEN];
	uint64_t end;
	int err;

	po.vendor_id = KVMHOST_VIRTIO_PCI_VENDOR_ID;
	po.device_id = (uint16_t)(KVMHOST_VIRTIO_PCI_DEVICE_ID_BASE + kvmhost_virtio_device_id(p->vdev));
	po.revision = 1; /* non-transitional */
	po.class_code = o->class_code ? o->class_code : kh_vpci_class(kvmhost_virtio_device_id(p->vdev));
	po.subsystem_vendor_id = o->subsystem_vendor_id ? o->subsystem_vendor_id : KVMHOST_VIRTIO_PCI_VENDOR_ID;
	po.subsystem_id = o->subsystem_id ? o->subsystem_id : 0x1100;
	po.interrupt_pin = 1;
	po.interrupt_line = o->interrupt_line;
	po.intx = o->intx;
	po.config_read = kh_vpci_config_read;
	po.config_write = kh_vpci_config_write;
	po.bar_moved = kh_vpci_bar_moved;
	po.opaque = p;
	po.name = p->name;
	err = kvmhost_pci_device_create(&po, &p->pdev);
	if (err < 0)
		return err;

	end = KH_VPCI_MSIX_TABLE_OFF;
	if (p->has_msix) {
		uint32_t tsize = kh_msix_table_size(p->msix.nvec);

		p->pba_off = KH_VPCI_MSIX_TABLE_OFF + ((tsize + KH_VPCI_PAGE - 1) & ~(KH_VPCI_PAGE - 1));
		end = p->pba_off + kh_msix_pba_size(p->msix.nvec);
	}
	for (p->bar_size = KH_VPCI_PAGE; p->bar_size < end; p->bar_size <<= 1)
		;
	bo.index = KH_VPCI_BAR;
	bo.type = KVMHOST_PCI_BAR_MEM64;
	bo.length = p->bar_size;
	bo.read = kh_vpci_bar_read;
	bo.write = kh_vpci_bar_write;
	bo.opaque = p;
	err = kvmhost_pci_device_add_bar(p->pdev, &bo);

	memset(wmask, 0, sizeof(wmask));
	if (err == 0) {
		kh_vpci_cap(cap, KH_VPCI_CAP_LEN, KVMHOST_VIRTIO_PCI_CAP_COMMON_CFG, KH_VPCI_COMMON_OFF,
			    KH_VPCI_COMMON_LEN);
		err = kvmhost_pci_device_add_capability(p->pdev, KVMHOST_PCI_CAP_ID_VNDR, cap, KH_VPCI_CAP_LEN, NULL,
							NULL);
	}
	if (err == 0) {
		kh_vpci_cap(cap, KH_VPCI_NOTIFY_CAP_LEN, KVMHOST_VIRTIO_PCI_CAP_NOTIFY_CFG, KH_VPCI_NOTIFY_OFF,
			    (uint32_t)p->num_queues * KH_VPCI_NOTIFY_MULT);
		kh_pci_st32(&cap[16], KH_VPCI_NOTIFY_MULT);
		err = kvmhost_pci_device_add_capability(p->pdev, KVMHOST_PCI_CAP_ID_VNDR, cap, KH_VPCI_NOTIFY_CAP_LEN,
							NULL, NULL);
	}
	if (err == 0) {
		kh_vpci_cap(cap, KH_VPCI_CAP_LEN, KVMHOST_VIRTIO_PCI_CAP_ISR_CFG, KH_VPCI_ISR_OFF, 1);
		err = kvmhost_pci_device_add_capability(p->pdev, KVMHOST_PCI_CAP_ID_VNDR, cap, KH_VPCI_CAP_LEN, NULL,
							NULL);
	}
	if (err == 0 && p->config_size) {
		kh_vpci_cap(cap, KH_VPCI_CAP_LEN, KVMHOST_VIRTIO_PCI_CAP_DEVICE_CFG, KH_VPCI_DEVICE_OFF,
			    p->config_size);
		err = kvmhost_pci_device_add_capability(p->pdev, KVMHOST_PCI_CAP_ID_VNDR, cap, KH_VPCI_CAP_LEN, NULL,
							NULL);
	}
	if (err == 0) {
		/* The window: bar, offset, length and data are the driver's. */
		kh_vpci_cap(cap, KH_VPCI_PCICFG_CAP_LEN, KVMHOST_VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
		wmask[4] = 0xff;
		memset(&wmask[8], 0xff, 12);
		err = kvmhost_pci_device_add_capability(p->pdev, KVMHOST_PCI_CAP_ID_VNDR, cap, KH_VPCI_PCICFG_CAP_LEN,
							wmask, &p->cap_pcicfg);
	}
	if (err == 0 && p->has_msix) {
		kh_msix_cap(p->msix.nvec, KH_VPCI_BAR, KH_VPCI_MSIX_TABLE_OFF, p->pba_off, cap, wmask);
		err = kvmhost_pci_device_add_capability(p->pdev, KVMHOST_PCI_CAP_ID_MSIX, cap, KH_MSIX_CAP_LEN, wmask,
							&p->cap_msix);
	}
	return err;
}

KVMHOST_API int kvmhost_virtio_pci_create(struct kvmhost_virtio_device *dev,
					  const struct kvmhost_virtio_pci_options *opts,
					  struct kvmhost_virtio_pci **out)
{
	struct kvmhost_virtio_pci_options o;
	struct kvmhost_virtio_pci *p;
	char buf[48];
	uint32_t nvec;
	int err;

	if (out)
		*out = NULL;
	if (!dev || !out)
		return KH_FAIL(EINVAL, "dev or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	if (o.flags & ~KVMHOST_VIRTIO_PCI_NO_MSIX)
		return KH_FAIL(EINVAL, "unknown flags 0x%x", o.flags);
	if (kvmhost_virtio_device_id(dev) > 0xffff - KVMHOST_VIRTIO_PCI_DEVICE_ID_BASE)
		return KH_FAIL(EINVAL, "device id %u does not fit a modern PCI device id",
			       kvmhost_virtio_device_id(dev));
	/* At most 1025 by default: KVMHOST_VIRTIO_QUEUES_MAX queues plus config. */
	nvec = o.msix_vectors ? o.msix_vectors : (uint32_t)kvmhost_virtio_device_num_queues(dev) + 1;
	if (nvec > KH_MSIX_MAX)
		return KH_FAIL(EINVAL, "%u MSI-X vectors is more than %u", nvec, KH_MSIX_MAX);
	p = calloc(1, sizeof(*p));
	if (!p)
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-pci transport");
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->irq_lock, NULL);
	p->vdev = dev;
	p->num_queues = kvmhost_virtio_device_num_queues(dev);
	p->config_size = kvmhost_virtio_device_config_size(dev);
	p->config_vector = NO_VECTOR;
	p->msi = o.msi;
	p->msi_opaque = o.msi_opaque;
	if (!o.name && snprintf(buf, sizeof(buf), "virtio-pci-%u", kvmhost_virtio_device_id(dev)) > 0)
		o.name = buf;
	p->name = strdup(o.name ? o.name : "virtio-pci");
	p->queue_vectors = malloc(p->num_queues * sizeof(*p->queue_vectors));
	if (!p->name || !p->queue_vectors) {
		kvmhost_virtio_pci_destroy(p);
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-pci transport");
	}
	for (uint16_t i = 0; i < p->num_queues; i++)
		p->queue_vectors[i] = NO_VECTOR;
	if (!(o.flags & KVMHOST_VIRTIO_PCI_NO_MSIX)) {
		p->has_msix = 1;
		p->reported = calloc(nvec, sizeof(*p->reported));
		if (!p->reported || kh_msix_init(&p->msix, (uint16_t)nvec) < 0) {
			kvmhost_virtio_pci_destroy(p);
			return KH_FAIL(ENOMEM, "cannot allocate an MSI-X table");
		}
	}
	err = kh_vpci_build(p, &o);
	if (err == 0)
		err = kvmhost_virtio_device_set_transport(dev, &kh_vpci_transport_ops, p);
	if (err == 0)
		kh_virtio_device_set_transport_state(dev, &kh_vpci_state_ops, p);
	if (err < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", kvmhost_last_error());
		kvmhost_virtio_pci_destroy(p);
		return kh_fail(-err, __func__, "%s", msg);
	}
	*out = p;
	return 0;
}

KVMHOST_API void kvmhost_virtio_pci_destroy(struct kvmhost_virtio_pci *vpci)
{
	if (!vpci)
		return;
	/* Off the bus first: no BAR or config access runs after this. */
	kvmhost_pci_device_destroy(vpci->pdev);
	kh_virtio_device_set_transport_state(vpci->vdev, NULL, NULL);
	if (kvmhost_virtio_device_set_transport(vpci->vdev, NULL, NULL) < 0)
		kh_log(KVMHOST_LOG_DEBUG, "virtio-pci %s: disconnect failed", vpci->name);
	if (vpci->has_msix)
		kh_msix_fini(&vpci->msix);
	pthread_mutex_destroy(&vpci->lock);
	pthread_mutex_destroy(&vpci->irq_lock);
	free(vpci->reported);
	free(vpci->queue_vectors);
	free(vpci->name);
	free(vpci);
}

KVMHOST_API struct kvmhost_pci_device *kvmhost_virtio_pci_device(struct kvmhost_virtio_pci *vpci)
{
	return vpci ? vpci->pdev : NULL;
}

KVMHOST_API uint64_t kvmhost_virtio_pci_bad_accesses(struct kvmhost_virtio_pci *vpci)
{
	return vpci ? atomic_load(&vpci->bad_accesses) : 0;
}

/* ---- for the wiring ---- */

void kh_virtio_pci_set_hooks(struct kvmhost_virtio_pci *vpci, const struct kh_vpci_hooks *hooks)
{
	pthread_mutex_lock(&vpci->irq_lock);
	if (hooks) {
		uint64_t at;

		vpci->hooks = *hooks;
		vpci->hooked = 1;
		/* A move that races this is reported again after it: the wiring
		 * places the ioeventfds idempotently at the latest address. */
		if (kvmhost_pci_device_bar_address(vpci->pdev, KH_VPCI_BAR, &at) == 1 && hooks->bar_moved)
			hooks->bar_moved(hooks->opaque, KVMHOST_PCI_BAR_UNMAPPED, at);
		for (uint16_t v = 0; v < vpci->msix.nvec; v++)
			vpci->reported[v].valid = 0;
		if (vpci->has_msix)
			kh_vpci_sync_all(vpci);
	} else {
		memset(&vpci->hooks, 0, sizeof(vpci->hooks));
		vpci->hooked = 0;
	}
	pthread_mutex_unlock(&vpci->irq_lock);
}

struct kvmhost_virtio_device *kh_virtio_pci_vdev(struct kvmhost_virtio_pci *vpci)
{
	return vpci->vdev;
}

uint16_t kh_virtio_pci_msix_vectors(struct kvmhost_virtio_pci *vpci)
{
	return vpci->has_msix ? vpci->msix.nvec : 0;
}
