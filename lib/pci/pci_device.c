/*
 * The generic PCI device model (pci.h): a type-0 configuration header with
 * write masks, write-1-to-clear status bits, BAR registers with hardware
 * sizing semantics, a capability list, and the INTx level. Where the BARs
 * are mapped is the host's business (pci_host.c); this file only keeps the
 * registers and tells the host when they changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/irq_line.h>
#include <kvmhost/pci.h>

#include "pci_internal.h"

#define KH_PCI_COMMAND_WMASK                                                                                           \
	(KVMHOST_PCI_COMMAND_IO | KVMHOST_PCI_COMMAND_MEMORY | KVMHOST_PCI_COMMAND_MASTER |                            \
	 KVMHOST_PCI_COMMAND_PARITY | KVMHOST_PCI_COMMAND_SERR | KVMHOST_PCI_COMMAND_INTX_DISABLE)
/* Status bits 15-11 (parity, SERR, aborts) and 8 (master data parity) are
 * write-1-to-clear. */
#define KH_PCI_STATUS_W1C 0xf900u

static uint16_t kh_cfg16(const struct kvmhost_pci_device *d, uint32_t off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}

static void kh_set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* ---- BARs ---- */

/* The low dword's fixed type bits. */
static uint32_t kh_bar_type_bits(const struct kh_pci_bar *b)
{
	if (b->type == KVMHOST_PCI_BAR_IO)
		return 0x1;
	return (b->type == KVMHOST_PCI_BAR_MEM64 ? 0x4u : 0u) | (b->flags & KVMHOST_PCI_BAR_PREFETCH ? 0x8u : 0u);
}

/* What BAR dword @k reads after the guest (or placement) wrote @v to it.
 * Bits below the size are hardwired to 0, so writing all ones reads back the
 * size mask; unimplemented BARs are read-only 0. */
static uint32_t kh_bar_dword_value(const struct kvmhost_pci_device *d, uint32_t k, uint32_t v, uint32_t cur)
{
	const struct kh_pci_bar *b = &d->bars[k];

	if (b->upper)
		return v & (uint32_t)(~(d->bars[k - 1].length - 1) >> 32);
	if (!b->present)
		return cur;
	if (b->type == KVMHOST_PCI_BAR_IO)
		return (v & ~(uint32_t)(b->length - 1) & ~0x3u) | kh_bar_type_bits(b);
	if (b->length > 0xffffffffull)
		v = 0; /* all address bits of the low dword are below the size */
	else
		v &= ~(uint32_t)(b->length - 1);
	return (v & ~0xfu) | kh_bar_type_bits(b);
}

/* With dev->lock held: the guest (or placement) writes BAR dword @k. */
static void kh_bar_write_dword(struct kvmhost_pci_device *d, uint32_t k, uint32_t v)
{
	uint8_t *reg = &d->cfg[KVMHOST_PCI_BAR0 + 4 * k];

	kh_pci_st32(reg, kh_bar_dword_value(d, k, v, kh_pci_ld32(reg)));
}

uint64_t kh_pci_dev_bar_addr(struct kvmhost_pci_device *d, uint32_t k)
{
	const struct kh_pci_bar *b = &d->bars[k];
	uint64_t a;

	pthread_mutex_lock(&d->lock);
	a = kh_pci_ld32(&d->cfg[KVMHOST_PCI_BAR0 + 4 * k]);
	if (b->type == KVMHOST_PCI_BAR_IO)
		a &= ~0x3ull;
	else
		a &= ~0xfull;
	if (b->type == KVMHOST_PCI_BAR_MEM64)
		a |= (uint64_t)kh_pci_ld32(&d->cfg[KVMHOST_PCI_BAR0 + 4 * (k + 1)]) << 32;
	pthread_mutex_unlock(&d->lock);
	return a;
}

int kh_pci_dev_decode(struct kvmhost_pci_device *d, uint32_t k)
{
	uint16_t cmd;

	pthread_mutex_lock(&d->lock);
	cmd = kh_cfg16(d, KVMHOST_PCI_COMMAND);
	pthread_mutex_unlock(&d->lock);
	if (d->bars[k].type == KVMHOST_PCI_BAR_IO)
		return (cmd & KVMHOST_PCI_COMMAND_IO) != 0;
	return (cmd & KVMHOST_PCI_COMMAND_MEMORY) != 0;
}

void kh_pci_dev_place_bar(struct kvmhost_pci_device *d, uint32_t k, uint64_t addr)
{
	const struct kh_pci_bar *b = &d->bars[k];
	uint16_t cmd;

	pthread_mutex_lock(&d->lock);
	kh_bar_write_dword(d, k, (uint32_t)addr);
	if (b->type == KVMHOST_PCI_BAR_MEM64)
		kh_bar_write_dword(d, k + 1, (uint32_t)(addr >> 32));
	cmd = kh_cfg16(d, KVMHOST_PCI_COMMAND);
	cmd |= b->type == KVMHOST_PCI_BAR_IO ? KVMHOST_PCI_COMMAND_IO : KVMHOST_PCI_COMMAND_MEMORY;
	kh_set16(&d->cfg[KVMHOST_PCI_COMMAND], cmd);
	pthread_mutex_unlock(&d->lock);
}

/* ---- INTx ---- */

/* With dev->lock held: Status.Interrupt and the line follow the level. */
static int kh_intx_update(struct kvmhost_pci_device *d)
{
	uint16_t cmd = kh_cfg16(d, KVMHOST_PCI_COMMAND);

	if (d->intx_level)
		d->cfg[KVMHOST_PCI_STATUS] |= KVMHOST_PCI_STATUS_INTERRUPT;
	else
		d->cfg[KVMHOST_PCI_STATUS] &= (uint8_t)~KVMHOST_PCI_STATUS_INTERRUPT;
	if (!d->intx)
		return 0;
	return kvmhost_irq_line_set(d->intx, d->intx_level && !(cmd & KVMHOST_PCI_COMMAND_INTX_DISABLE));
}

KVMHOST_API int kvmhost_pci_device_set_intx(struct kvmhost_pci_device *dev, int level)
{
	int err;

	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	if (level != 0 && level != 1)
		return KH_FAIL(EINVAL, "%s: level %d is not 0 or 1", dev->name, level);
	pthread_mutex_lock(&dev->lock);
	dev->intx_level = level;
	err = kh_intx_update(dev);
	pthread_mutex_unlock(&dev->lock);
	return err;
}

/* ---- migration state ---- */

#define KH_PCI_BARS_END (KVMHOST_PCI_BAR0 + 4 * KVMHOST_PCI_NUM_BARS)

void kh_pci_dev_state_save(struct kvmhost_pci_device *d, uint8_t out[KH_PCI_STATE_SIZE])
{
	pthread_mutex_lock(&d->lock);
	memcpy(out, d->cfg, KVMHOST_PCI_CONFIG_SIZE);
	out[KVMHOST_PCI_CONFIG_SIZE] = (uint8_t)(d->intx_level ? 1 : 0);
	pthread_mutex_unlock(&d->lock);
	memset(&out[KVMHOST_PCI_CONFIG_SIZE + 1], 0, 3);
}

int kh_pci_dev_state_check(struct kvmhost_pci_device *d, const uint8_t in[KH_PCI_STATE_SIZE], const char *func)
{
	const uint8_t *tail = &in[KVMHOST_PCI_CONFIG_SIZE];
	int err = 0;

	if (tail[0] > 1 || tail[1] || tail[2] || tail[3])
		return kh_fail(EINVAL, func, "pci %s: bad INTx level 0x%02x or padding in the saved state", d->name,
			       tail[0]);
	pthread_mutex_lock(&d->lock);
	for (uint32_t k = 0; k < KVMHOST_PCI_NUM_BARS && !err; k++) {
		uint32_t off = KVMHOST_PCI_BAR0 + 4 * k, v = kh_pci_ld32(&in[off]);

		if (kh_bar_dword_value(d, k, v, kh_pci_ld32(&d->cfg[off])) != v)
			err = kh_fail(EINVAL, func, "pci %s: saved BAR %u (0x%08x) does not fit this function's BAR",
				      d->name, k, v);
	}
	for (uint32_t i = 0; i < KVMHOST_PCI_CONFIG_SIZE && !err; i++) {
		uint8_t keep = (uint8_t)~d->wmask[i];

		if (i >= KVMHOST_PCI_BAR0 && i < KH_PCI_BARS_END)
			continue;
		if (i == KVMHOST_PCI_STATUS || i == KVMHOST_PCI_STATUS + 1) {
			uint16_t dyn = KVMHOST_PCI_STATUS_INTERRUPT | KH_PCI_STATUS_W1C;

			keep = (uint8_t) ~(i == KVMHOST_PCI_STATUS ? dyn : dyn >> 8);
		}
		if ((in[i] ^ d->cfg[i]) & keep)
			err =
			    kh_fail(EINVAL, func,
				    "pci %s: saved configuration byte 0x%02x is 0x%02x, read-only 0x%02x here: another "
				    "device or shape",
				    d->name, i, in[i], d->cfg[i]);
	}
	pthread_mutex_unlock(&d->lock);
	return err;
}

void kh_pci_dev_state_load(struct kvmhost_pci_device *d, const uint8_t in[KH_PCI_STATE_SIZE])
{
	int err;

	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < KVMHOST_PCI_CONFIG_SIZE; i++)
		if (i < KVMHOST_PCI_BAR0 || i >= KH_PCI_BARS_END)
			d->cfg[i] = (uint8_t)((d->cfg[i] & ~d->wmask[i]) | (in[i] & d->wmask[i]));
	for (uint32_t k = 0; k < KVMHOST_PCI_NUM_BARS; k++)
		kh_bar_write_dword(d, k, kh_pci_ld32(&in[KVMHOST_PCI_BAR0 + 4 * k]));
	for (uint32_t i = KVMHOST_PCI_STATUS; i < KVMHOST_PCI_STATUS + 2u; i++)
		d->cfg[i] = (uint8_t)((d->cfg[i] & ~d->w1c[i]) | (in[i] & d->w1c[i]));
	d->intx_level = in[KVMHOST_PCI_CONFIG_SIZE] ? 1 : 0;
	err = kh_intx_update(d);
	pthread_mutex_unlock(&d->lock);
	if (err < 0)
		kh_log(KVMHOST_LOG_WARN, "pci %s: restoring the INTx level: %s", d->name, kvmhost_strerror(err));
}

/* ---- guest configuration accesses ---- */

void kh_pci_dev_config_read(struct kvmhost_pci_device *d, uint32_t offset, uint8_t *data, uint32_t len)
{
	int err;

	if (offset >= KVMHOST_PCI_CONFIG_SIZE) {
		memset(data, 0, len); /* no extended capabilities */
		return;
	}
	pthread_mutex_lock(&d->lock);
	memcpy(data, &d->cfg[offset], len);
	pthread_mutex_unlock(&d->lock);
	if (d->config_read) {
		err = d->config_read(d->opaque, offset, data, len);
		if (err < 0)
			kh_log(KVMHOST_LOG_DEBUG, "pci %s: config read hook at 0x%x: %s", d->name, offset,
			       kvmhost_strerror(err));
	}
}

int kh_pci_dev_config_write(struct kvmhost_pci_device *d, uint32_t offset, const uint8_t *data, uint32_t len)
{
	uint16_t old_cmd, new_cmd;
	int remap = 0, err;

	if (offset >= KVMHOST_PCI_CONFIG_SIZE)
		return 0;
	pthread_mutex_lock(&d->lock);
	old_cmd = kh_cfg16(d, KVMHOST_PCI_COMMAND);
	if (offset >= KVMHOST_PCI_BAR0 && offset < KVMHOST_PCI_BAR0 + 4 * KVMHOST_PCI_NUM_BARS) {
		/* One dword at most (the host splits nothing across dwords). */
		uint32_t k = (offset - KVMHOST_PCI_BAR0) / 4, base = KVMHOST_PCI_BAR0 + 4 * k;
		uint8_t v[4];

		memcpy(v, &d->cfg[base], 4);
		memcpy(&v[offset - base], data, len);
		kh_bar_write_dword(d, k, kh_pci_ld32(v));
		remap = 1;
	} else {
		for (uint32_t i = 0; i < len; i++) {
			uint32_t o = offset + i;

			d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (data[i] & d->wmask[o]));
			d->cfg[o] &= (uint8_t) ~(data[i] & d->w1c[o]);
		}
	}
	new_cmd = kh_cfg16(d, KVMHOST_PCI_COMMAND);
	if ((old_cmd ^ new_cmd) & (KVMHOST_PCI_COMMAND_IO | KVMHOST_PCI_COMMAND_MEMORY))
		remap = 1;
	if ((old_cmd ^ new_cmd) & KVMHOST_PCI_COMMAND_INTX_DISABLE)
		(void)kh_intx_update(d);
	pthread_mutex_unlock(&d->lock);
	if (d->config_write) {
		err = d->config_write(d->opaque, offset, data, len);
		if (err < 0)
			kh_log(KVMHOST_LOG_DEBUG, "pci %s: config write hook at 0x%x: %s", d->name, offset,
			       kvmhost_strerror(err));
	}
	return remap;
}

/* ---- object ---- */

KVMHOST_API int kvmhost_pci_device_create(const struct kvmhost_pci_device_options *opts,
					  struct kvmhost_pci_device **out)
{
	struct kvmhost_pci_device_options o;
	struct kvmhost_pci_device *d;
	int err;

	if (out)
		*out = NULL;
	if (!opts || !out)
		return KH_FAIL(EINVAL, "opts or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	if (o.vendor_id == 0xffff)
		return KH_FAIL(EINVAL, "vendor id 0xffff means \"no device\"");
	if (o.interrupt_pin > 4)
		return KH_FAIL(EINVAL, "interrupt pin %u is not 0-4", o.interrupt_pin);
	if (o.class_code > 0xffffff)
		return KH_FAIL(EINVAL, "class code 0x%x is wider than 24 bits", o.class_code);
	d = calloc(1, sizeof(*d));
	if (!d)
		return KH_FAIL(ENOMEM, "cannot allocate a PCI device");
	d->name = strdup(o.name ? o.name : "pci-device");
	if (!d->name) {
		free(d);
		return KH_FAIL(ENOMEM, "cannot allocate a PCI device");
	}
	pthread_mutex_init(&d->lock, NULL);
	kh_set16(&d->cfg[KVMHOST_PCI_VENDOR_ID], o.vendor_id);
	kh_set16(&d->cfg[KVMHOST_PCI_DEVICE_ID], o.device_id);
	d->cfg[KVMHOST_PCI_REVISION_ID] = o.revision;
	d->cfg[KVMHOST_PCI_CLASS_PROG] = (uint8_t)o.class_code;
	d->cfg[KVMHOST_PCI_CLASS_DEVICE] = (uint8_t)(o.class_code >> 8);
	d->cfg[KVMHOST_PCI_CLASS_DEVICE + 1] = (uint8_t)(o.class_code >> 16);
	kh_set16(&d->cfg[KVMHOST_PCI_SUBSYSTEM_VENDOR_ID], o.subsystem_vendor_id);
	kh_set16(&d->cfg[KVMHOST_PCI_SUBSYSTEM_ID], o.subsystem_id);
	d->cfg[KVMHOST_PCI_INTERRUPT_PIN] = o.interrupt_pin;
	d->cfg[KVMHOST_PCI_INTERRUPT_LINE] = o.interrupt_line;
	kh_set16(&d->wmask[KVMHOST_PCI_COMMAND], KH_PCI_COMMAND_WMASK);
	kh_set16(&d->w1c[KVMHOST_PCI_STATUS], KH_PCI_STATUS_W1C);
	d->wmask[KVMHOST_PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[KVMHOST_PCI_LATENCY_TIMER] = 0xff;
	d->wmask[KVMHOST_PCI_INTERRUPT_LINE] = 0xff;
	d->cap_end = KH_PCI_CAP_START;
	for (uint32_t i = 0; i < KVMHOST_PCI_NUM_BARS; i++) {
		d->bars[i].mapped = KVMHOST_PCI_BAR_UNMAPPED;
		d->bars[i].dev = d;
		d->bars[i].index = i;
	}
	d->intx = o.intx;
	d->config_read = o.config_read;
	d->config_write = o.config_write;
	d->bar_moved = o.bar_moved;
	d->opaque = o.opaque;
	d->slot = -1;
	*out = d;
	return 0;
}

KVMHOST_API void kvmhost_pci_device_destroy(struct kvmhost_pci_device *dev)
{
	if (!dev)
		return;
	if (dev->host)
		(void)kvmhost_pci_host_remove_device(dev->host, dev);
	pthread_mutex_destroy(&dev->lock);
	free(dev->name);
	free(dev);
}

KVMHOST_API int kvmhost_pci_device_add_bar(struct kvmhost_pci_device *dev, const struct kvmhost_pci_bar_options *bar)
{
	struct kvmhost_pci_bar_options o;
	struct kh_pci_bar *b;
	uint64_t min, max;
	int err;

	if (!dev || !bar)
		return KH_FAIL(EINVAL, "dev or bar is NULL");
	err = KH_COPY_OPTIONS(&o, bar);
	if (err < 0)
		return err;
	if (dev->host)
		return KH_FAIL(EBUSY, "%s: BARs cannot be added once the device is on a host", dev->name);
	if (o.index >= KVMHOST_PCI_NUM_BARS)
		return KH_FAIL(EINVAL, "%s: BAR index %u is not 0-5", dev->name, o.index);
	switch (o.type) {
	case KVMHOST_PCI_BAR_MEM32:
		min = 16, max = 1ull << 31;
		break;
	case KVMHOST_PCI_BAR_MEM64:
		min = 16, max = 1ull << 63;
		if (o.index == KVMHOST_PCI_NUM_BARS - 1)
			return KH_FAIL(EINVAL, "%s: a 64-bit BAR cannot start at index 5", dev->name);
		break;
	case KVMHOST_PCI_BAR_IO:
		min = 4, max = 256;
		if (o.flags & KVMHOST_PCI_BAR_PREFETCH)
			return KH_FAIL(EINVAL, "%s: an I/O BAR cannot be prefetchable", dev->name);
		break;
	default:
		return KH_FAIL(EINVAL, "%s: unknown BAR type %d", dev->name, (int)o.type);
	}
	if (o.flags & ~KVMHOST_PCI_BAR_PREFETCH)
		return KH_FAIL(EINVAL, "%s: unknown BAR flags 0x%x", dev->name, o.flags);
	if (o.length < min || o.length > max || (o.length & (o.length - 1)))
		return KH_FAIL(EINVAL, "%s: BAR %u length 0x%llx is not a power of two from 0x%llx to 0x%llx",
			       dev->name, o.index, (unsigned long long)o.length, (unsigned long long)min,
			       (unsigned long long)max);
	if (dev->bars[o.index].present || dev->bars[o.index].upper ||
	    (o.type == KVMHOST_PCI_BAR_MEM64 && (dev->bars[o.index + 1].present || dev->bars[o.index + 1].upper)))
		return KH_FAIL(EEXIST, "%s: BAR %u is taken", dev->name, o.index);
	pthread_mutex_lock(&dev->lock);
	b = &dev->bars[o.index];
	b->present = 1;
	b->type = o.type;
	b->length = o.length;
	b->flags = o.flags;
	b->read = o.read;
	b->write = o.write;
	b->opaque = o.opaque;
	if (o.type == KVMHOST_PCI_BAR_MEM64)
		dev->bars[o.index + 1].upper = 1;
	kh_bar_write_dword(dev, o.index, 0);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

KVMHOST_API int kvmhost_pci_device_add_capability(struct kvmhost_pci_device *dev, uint8_t id, const void *data,
						  uint32_t len, const void *wmask, uint8_t *offset)
{
	const uint8_t *m = wmask;
	uint32_t off;

	if (!dev || !data)
		return KH_FAIL(EINVAL, "dev or data is NULL");
	if (len < 2 || len > KVMHOST_PCI_CONFIG_SIZE - KH_PCI_CAP_START)
		return KH_FAIL(EINVAL, "%s: capability length %u is not 2-192", dev->name, len);
	if (dev->host)
		return KH_FAIL(EBUSY, "%s: capabilities cannot be added once the device is on a host", dev->name);
	off = (dev->cap_end + 3) & ~3u;
	if (off + len > KVMHOST_PCI_CONFIG_SIZE)
		return KH_FAIL(ENOSPC, "%s: no room for a %u-byte capability at 0x%x", dev->name, len, off);
	pthread_mutex_lock(&dev->lock);
	memcpy(&dev->cfg[off], data, len);
	dev->cfg[off] = id;
	dev->cfg[off + 1] = 0;
	if (m)
		memcpy(&dev->wmask[off + 2], m + 2, len - 2);
	if (dev->last_cap)
		dev->cfg[dev->last_cap + 1] = (uint8_t)off;
	else
		dev->cfg[KVMHOST_PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->cfg[KVMHOST_PCI_STATUS] |= KVMHOST_PCI_STATUS_CAP_LIST;
	dev->last_cap = off;
	dev->cap_end = off + len;
	pthread_mutex_unlock(&dev->lock);
	if (offset)
		*offset = (uint8_t)off;
	return 0;
}

KVMHOST_API int kvmhost_pci_device_config_get(struct kvmhost_pci_device *dev, uint32_t offset, void *data, uint32_t len)
{
	if (!dev || !data)
		return KH_FAIL(EINVAL, "dev or data is NULL");
	if (len == 0 || offset >= KVMHOST_PCI_CONFIG_SIZE || len > KVMHOST_PCI_CONFIG_SIZE - offset)
		return KH_FAIL(EINVAL, "%s: [0x%x, +%u) is not inside configuration space", dev->name, offset, len);
	pthread_mutex_lock(&dev->lock);
	memcpy(data, &dev->cfg[offset], len);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

KVMHOST_API int kvmhost_pci_device_config_set(struct kvmhost_pci_device *dev, uint32_t offset, const void *data,
					      uint32_t len)
{
	if (!dev || !data)
		return KH_FAIL(EINVAL, "dev or data is NULL");
	if (len == 0 || offset >= KVMHOST_PCI_CONFIG_SIZE || len > KVMHOST_PCI_CONFIG_SIZE - offset)
		return KH_FAIL(EINVAL, "%s: [0x%x, +%u) is not inside configuration space", dev->name, offset, len);
	if ((offset < KVMHOST_PCI_STATUS + 2 && offset + len > KVMHOST_PCI_COMMAND) ||
	    (offset < KVMHOST_PCI_BAR0 + 4 * KVMHOST_PCI_NUM_BARS && offset + len > KVMHOST_PCI_BAR0))
		return KH_FAIL(EINVAL, "%s: Command, Status and the BARs are not the model's to set", dev->name);
	pthread_mutex_lock(&dev->lock);
	memcpy(&dev->cfg[offset], data, len);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

KVMHOST_API int kvmhost_pci_device_bar_address(struct kvmhost_pci_device *dev, uint32_t bar, uint64_t *addr)
{
	uint64_t a;

	if (addr)
		*addr = KVMHOST_PCI_BAR_UNMAPPED;
	if (!dev || !addr)
		return KH_FAIL(EINVAL, "dev or addr is NULL");
	if (bar >= KVMHOST_PCI_NUM_BARS || !dev->bars[bar].present)
		return KH_FAIL(EINVAL, "%s: no BAR %u", dev->name, bar);
	a = __atomic_load_n(&dev->bars[bar].mapped, __ATOMIC_ACQUIRE);
	*addr = a;
	return a != KVMHOST_PCI_BAR_UNMAPPED;
}

KVMHOST_API int kvmhost_pci_device_slot(struct kvmhost_pci_device *dev)
{
	if (!dev)
		return KH_FAIL(EINVAL, "dev is NULL");
	if (!__atomic_load_n(&dev->host, __ATOMIC_ACQUIRE))
		return KH_FAIL(ENOTCONN, "%s: not on a host", dev->name);
	return dev->slot;
}
