/*
 * The PCI host bridge (pci.h): bus 0 with the bridge at 00:00.0, the type-1
 * configuration mechanism on ports 0xCF8/0xCFC, optional ECAM, slots, BAR
 * placement in the host's windows, and the mapping of BARs onto the buses:
 * each memory BAR is a range of its own on the MMIO bus, moved when the
 * guest reprograms it; I/O BARs are looked up inside the I/O window the host
 * claims on the port bus (a configuration write arrives on that same port
 * bus, which could not register ranges from inside its own callback).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/bus.h>
#include <kvmhost/pci.h>

#include "../bus/bus_internal.h"
#include "pci_internal.h"

#define KH_PCI_M32_BASE_DEFAULT 0xe0000000ull
#define KH_PCI_M32_SIZE_DEFAULT (0xfec00000ull - 0xe0000000ull)
#define KH_PCI_IO_BASE_DEFAULT	0xc000u
#define KH_PCI_IO_SIZE_DEFAULT	0x4000u
#define KH_PCI_CFG_ENABLE	0x80000000u
#define KH_PCI_CF8_PORTS	8u

struct kvmhost_pci_host {
	pthread_mutex_t lock;
	pthread_rwlock_t io_lock;
	char *name;
	struct kvmhost_bus *mmio;
	struct kvmhost_bus *pio;
	struct kvmhost_bus *ecam_bus;
	uint64_t ecam_base;
	uint32_t cf8; /* CONFIG_ADDRESS */
	struct kvmhost_pci_device *slots[KH_PCI_SLOTS];
	struct kvmhost_pci_device *bridge;
	uint64_t m32_base, m32_end, m32_next;
	uint64_t m64_base, m64_end, m64_next;
	uint64_t io_base, io_end, io_next;
};

/* ---- what this thread is inside of ----
 *
 * A thread holding host->lock (a configuration access running its device's
 * hooks and BAR moves, an add or remove) may wait for BAR callbacks in
 * flight: a memory BAR move waits, through kvmhost_bus_unregister(), for
 * every callback of the MMIO bus in flight, an I/O BAR move for the I/O
 * window's callbacks (io_lock). So a thread that already holds host->lock,
 * or runs an I/O BAR callback of the host or any callback of its MMIO bus,
 * must not take host->lock: it would wait for itself, or for a thread that
 * waits for it. These markers turn that into -EDEADLK. */
static _Thread_local const struct kvmhost_pci_host *kh_pci_locked, *kh_pci_in_io;

/* 0, or -EDEADLK (message set, naming @what) when this thread must not
 * take @h's lock. */
static int kh_host_may_lock(const struct kvmhost_pci_host *h, const char *func, const char *what)
{
	if (kh_pci_locked == h)
		return kh_fail(EDEADLK, func, "pci %s: %s from inside its configuration or BAR-move hooks", h->name,
			       what);
	if (kh_pci_in_io == h)
		return kh_fail(EDEADLK, func,
			       "pci %s: %s from inside an I/O BAR callback (a BAR move may be waiting for it)", h->name,
			       what);
	if (kh_bus_in_callback(h->mmio))
		return kh_fail(EDEADLK, func,
			       "pci %s: %s from inside a callback of its MMIO bus (a BAR move may be waiting for it)",
			       h->name, what);
	return 0;
}

static const struct kvmhost_pci_host *kh_host_lock(struct kvmhost_pci_host *h)
{
	const struct kvmhost_pci_host *outer = kh_pci_locked;

	pthread_mutex_lock(&h->lock);
	kh_pci_locked = h;
	return outer;
}

static void kh_host_unlock(struct kvmhost_pci_host *h, const struct kvmhost_pci_host *outer)
{
	kh_pci_locked = outer;
	pthread_mutex_unlock(&h->lock);
}

/* ---- BAR mapping ---- */

static int kh_bar_mmio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	const struct kh_pci_bar *b = opaque;

	if (!b->read) {
		memset(data, 0xff, len);
		return 0;
	}
	return b->read(b->opaque, offset, data, len);
}

static int kh_bar_mmio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	const struct kh_pci_bar *b = opaque;

	return b->write ? b->write(b->opaque, offset, data, len) : 0;
}

/* With host->lock held: make BAR @k of @d mapped at @want (or unmapped) and
 * tell the model if that changed where it is. */
static void kh_host_map_bar(struct kvmhost_pci_host *h, struct kvmhost_pci_device *d, uint32_t k, uint64_t want)
{
	struct kh_pci_bar *b = &d->bars[k];
	uint64_t old = b->mapped, now;
	int err;

	if (want == old)
		return;
	if (b->type == KVMHOST_PCI_BAR_IO) {
		if (want != KVMHOST_PCI_BAR_UNMAPPED && (want < h->io_base || want + b->length > h->io_end)) {
			kh_log(KVMHOST_LOG_WARN,
			       "pci %s: %s BAR %u at port 0x%" PRIx64 " is outside the I/O window [0x%" PRIx64
			       ", 0x%" PRIx64 "): left unmapped",
			       h->name, d->name, k, want, h->io_base, h->io_end);
			want = KVMHOST_PCI_BAR_UNMAPPED;
		}
		pthread_rwlock_wrlock(&h->io_lock);
		__atomic_store_n(&b->mapped, want, __ATOMIC_RELEASE);
		pthread_rwlock_unlock(&h->io_lock);
	} else {
		if (old != KVMHOST_PCI_BAR_UNMAPPED) {
			err = kvmhost_bus_unregister(h->mmio, old);
			if (err < 0)
				kh_log(KVMHOST_LOG_ERROR, "pci %s: cannot unmap %s BAR %u at 0x%" PRIx64 ": %s",
				       h->name, d->name, k, old, kvmhost_last_error());
			__atomic_store_n(&b->mapped, KVMHOST_PCI_BAR_UNMAPPED, __ATOMIC_RELEASE);
		}
		if (want != KVMHOST_PCI_BAR_UNMAPPED) {
			struct kvmhost_bus_range r = {.size = sizeof(r)};

			r.base = want;
			r.length = b->length;
			r.read = kh_bar_mmio_read;
			r.write = kh_bar_mmio_write;
			r.opaque = b;
			r.name = d->name;
			err = kvmhost_bus_register(h->mmio, &r);
			if (err < 0)
				kh_log(KVMHOST_LOG_WARN, "pci %s: %s BAR %u at 0x%" PRIx64 " left unmapped: %s",
				       h->name, d->name, k, want, kvmhost_last_error());
			else
				__atomic_store_n(&b->mapped, want, __ATOMIC_RELEASE);
		}
	}
	now = b->mapped;
	if (now != old && d->bar_moved)
		d->bar_moved(d->opaque, k, old, now);
}

/* With host->lock held: map every BAR of @d where its registers say. */
static void kh_host_remap(struct kvmhost_pci_host *h, struct kvmhost_pci_device *d)
{
	for (uint32_t k = 0; k < KVMHOST_PCI_NUM_BARS; k++) {
		uint64_t want = KVMHOST_PCI_BAR_UNMAPPED;

		if (!d->bars[k].present)
			continue;
		if (kh_pci_dev_decode(d, k)) {
			uint64_t a = kh_pci_dev_bar_addr(d, k);

			if (a != 0)
				want = a;
		}
		kh_host_map_bar(h, d, k, want);
	}
}

void kh_pci_host_remap_device(struct kvmhost_pci_device *d)
{
	struct kvmhost_pci_host *h = __atomic_load_n(&d->host, __ATOMIC_ACQUIRE);
	const struct kvmhost_pci_host *outer;

	if (!h)
		return;
	if (kh_host_may_lock(h, __func__, "restoring a function's BARs") < 0) {
		kh_log(KVMHOST_LOG_WARN, "%s", kvmhost_last_error());
		return;
	}
	outer = kh_host_lock(h);
	if (d->host == h)
		kh_host_remap(h, d);
	kh_host_unlock(h, outer);
}

/* ---- configuration accesses ---- */

/* With host->lock held: one access of @len (1, 2, 4) bytes inside a dword. */
static void kh_host_cfg(struct kvmhost_pci_host *h, uint32_t bus, uint32_t slot, uint32_t fn, uint32_t reg,
			uint8_t *data, uint32_t len, int is_write)
{
	struct kvmhost_pci_device *d = NULL;

	if (bus == 0 && fn == 0 && slot < KH_PCI_SLOTS)
		d = h->slots[slot];
	if (!d) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (!is_write)
		kh_pci_dev_config_read(d, reg, data, len);
	else if (kh_pci_dev_config_write(d, reg, data, len))
		kh_host_remap(h, d);
}

static int kh_host_cf8_access(struct kvmhost_pci_host *h, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
	const struct kvmhost_pci_host *outer;
	uint32_t a, port;
	int err;

	if (offset < 4) {
		/* CONFIG_ADDRESS takes 32-bit accesses only (Linux's type-1
		 * probe writes a byte to 0xCFB first, which must not count). */
		if (offset != 0 || len != 4) {
			if (!is_write)
				memset(data, 0xff, len);
			return 0;
		}
		err = kh_host_may_lock(h, __func__, "configuration access");
		if (err < 0)
			return err;
		outer = kh_host_lock(h);
		if (is_write)
			h->cf8 = kh_pci_ld32(data) & 0x80fffffcu;
		else
			kh_pci_st32(data, h->cf8);
		kh_host_unlock(h, outer);
		return 0;
	}
	port = (uint32_t)offset - 4;
	if (port + len > 4) { /* the bus keeps accesses inside the range: cannot happen */
		if (!is_write)
			memset(data, 0xff, len);
		return 0;
	}
	err = kh_host_may_lock(h, __func__, "configuration access");
	if (err < 0)
		return err;
	outer = kh_host_lock(h);
	a = h->cf8;
	if (a & KH_PCI_CFG_ENABLE)
		kh_host_cfg(h, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 0x7, (a & 0xfc) | port, data, len,
			    is_write);
	else if (!is_write)
		memset(data, 0xff, len);
	kh_host_unlock(h, outer);
	return 0;
}

static int kh_host_cf8_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	return kh_host_cf8_access(opaque, offset, data, len, 0);
}

static int kh_host_cf8_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	uint8_t buf[8];

	memcpy(buf, data, len);
	return kh_host_cf8_access(opaque, offset, buf, len, 1);
}

static int kh_host_ecam_access(struct kvmhost_pci_host *h, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
	const struct kvmhost_pci_host *outer;
	uint32_t reg = (uint32_t)(offset & 0xfff);
	int err;

	if ((len != 1 && len != 2 && len != 4) || (reg & 3) + len > 4) {
		if (!is_write)
			memset(data, 0xff, len);
		kh_log(KVMHOST_LOG_DEBUG, "pci %s: ECAM access of %u bytes at 0x%" PRIx64 " ignored", h->name, len,
		       offset);
		return 0;
	}
	err = kh_host_may_lock(h, __func__, "configuration access");
	if (err < 0)
		return err;
	outer = kh_host_lock(h);
	kh_host_cfg(h, 0, (uint32_t)(offset >> 15) & 0x1f, (uint32_t)(offset >> 12) & 0x7, reg, data, len, is_write);
	kh_host_unlock(h, outer);
	return 0;
}

static int kh_host_ecam_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	return kh_host_ecam_access(opaque, offset, data, len, 0);
}

static int kh_host_ecam_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	uint8_t buf[8];

	memcpy(buf, data, len);
	return kh_host_ecam_access(opaque, offset, buf, len, 1);
}

/* ---- the I/O window ---- */

static int kh_host_io_access(struct kvmhost_pci_host *h, uint64_t offset, void *data, uint32_t len, int is_write)
{
	const struct kvmhost_pci_host *outer;
	uint64_t port = h->io_base + offset;
	int err = 0, found = 0;

	pthread_rwlock_rdlock(&h->io_lock);
	for (uint32_t s = 0; s < KH_PCI_SLOTS && !found; s++) {
		struct kvmhost_pci_device *d = h->slots[s];

		for (uint32_t k = 0; d && k < KVMHOST_PCI_NUM_BARS && !found; k++) {
			const struct kh_pci_bar *b = &d->bars[k];
			uint64_t at = b->mapped;

			if (!b->present || b->type != KVMHOST_PCI_BAR_IO || at == KVMHOST_PCI_BAR_UNMAPPED ||
			    port < at || port + len > at + b->length)
				continue;
			found = 1;
			outer = kh_pci_in_io;
			kh_pci_in_io = h;
			if (is_write)
				err = b->write ? b->write(b->opaque, port - at, data, len) : 0;
			else if (b->read)
				err = b->read(b->opaque, port - at, data, len);
			else
				memset(data, 0xff, len);
			kh_pci_in_io = outer;
		}
	}
	pthread_rwlock_unlock(&h->io_lock);
	if (!found && !is_write)
		memset(data, 0xff, len);
	return err;
}

static int kh_host_io_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	return kh_host_io_access(opaque, offset, data, len, 0);
}

static int kh_host_io_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	return kh_host_io_access(opaque, offset, (void *)(uintptr_t)data, len, 1);
}

/* ---- object ---- */

static int kh_check_window(const char *what, uint64_t base, uint64_t size, uint64_t align, uint64_t limit)
{
	uint64_t last;

	if (size == 0 || base % align || size % align)
		return KH_FAIL(EINVAL, "%s window [0x%llx, +0x%llx) is empty or not %llu-byte aligned", what,
			       (unsigned long long)base, (unsigned long long)size, (unsigned long long)align);
	if (kh_add_overflows(base, size - 1, &last) || last > limit)
		return KH_FAIL(EINVAL, "%s window [0x%llx, +0x%llx) goes past 0x%llx", what, (unsigned long long)base,
			       (unsigned long long)size, (unsigned long long)limit);
	return 0;
}

KVMHOST_API int kvmhost_pci_host_create(const struct kvmhost_pci_host_options *opts, struct kvmhost_pci_host **out)
{
	struct kvmhost_pci_device_options bo = {.size = sizeof(bo)};
	struct kvmhost_pci_host_options o;
	struct kvmhost_pci_host *h;
	int err;

	if (out)
		*out = NULL;
	if (!opts || !out)
		return KH_FAIL(EINVAL, "opts or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	if (!o.mmio)
		return KH_FAIL(EINVAL, "no MMIO bus for the BARs");
	if (o.mmio32_base == 0 && o.mmio32_size == 0) {
		o.mmio32_base = KH_PCI_M32_BASE_DEFAULT;
		o.mmio32_size = KH_PCI_M32_SIZE_DEFAULT;
	}
	if (o.io_base == 0 && o.io_size == 0) {
		o.io_base = KH_PCI_IO_BASE_DEFAULT;
		o.io_size = KH_PCI_IO_SIZE_DEFAULT;
	}
	err = kh_check_window("32-bit MMIO", o.mmio32_base, o.mmio32_size, 4096, 0xffffffffull);
	if (err == 0 && (o.mmio64_base || o.mmio64_size))
		err = kh_check_window("64-bit MMIO", o.mmio64_base, o.mmio64_size, 4096, UINT64_MAX);
	if (err == 0)
		err = kh_check_window("I/O", o.io_base, o.io_size, 4, 0xffff);
	if (err < 0)
		return err;
	if (o.mmio64_size && o.mmio64_base < o.mmio32_base + o.mmio32_size &&
	    o.mmio32_base < o.mmio64_base + o.mmio64_size)
		return KH_FAIL(EINVAL, "the 32-bit and 64-bit MMIO windows overlap");
	if (o.io_base < KVMHOST_PCI_CONFIG_ADDRESS_PORT + KH_PCI_CF8_PORTS &&
	    KVMHOST_PCI_CONFIG_ADDRESS_PORT < (uint64_t)o.io_base + o.io_size)
		return KH_FAIL(EINVAL, "the I/O window overlaps ports 0xcf8-0xcff");
	h = calloc(1, sizeof(*h));
	if (!h)
		return KH_FAIL(ENOMEM, "cannot allocate a PCI host");
	h->name = strdup(o.name ? o.name : "pci0");
	if (!h->name) {
		free(h);
		return KH_FAIL(ENOMEM, "cannot allocate a PCI host");
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_rwlock_init(&h->io_lock, NULL);
	h->mmio = o.mmio;
	h->m32_base = h->m32_next = o.mmio32_base;
	h->m32_end = o.mmio32_base + o.mmio32_size;
	h->m64_base = h->m64_next = o.mmio64_base;
	h->m64_end = o.mmio64_base + o.mmio64_size;
	h->io_base = h->io_next = o.io_base;
	h->io_end = (uint64_t)o.io_base + o.io_size;
	bo.vendor_id = o.vendor_id || o.device_id ? o.vendor_id : 0x1b36;
	bo.device_id = o.vendor_id || o.device_id ? o.device_id : 0x0008;
	bo.class_code = 0x060000; /* bridge, host bridge */
	bo.name = "host-bridge";
	err = kvmhost_pci_device_create(&bo, &h->bridge);
	if (err < 0) {
		kvmhost_pci_host_destroy(h);
		return err;
	}
	h->bridge->host = h;
	h->bridge->slot = 0;
	h->slots[0] = h->bridge;
	*out = h;
	return 0;
}

/* With host->lock held: unmap everything of @d and take it off the bus. */
static void kh_host_detach(struct kvmhost_pci_host *h, struct kvmhost_pci_device *d)
{
	for (uint32_t k = 0; k < KVMHOST_PCI_NUM_BARS; k++)
		if (d->bars[k].present)
			kh_host_map_bar(h, d, k, KVMHOST_PCI_BAR_UNMAPPED);
	pthread_rwlock_wrlock(&h->io_lock);
	h->slots[d->slot] = NULL;
	pthread_rwlock_unlock(&h->io_lock);
	__atomic_store_n(&d->host, NULL, __ATOMIC_RELEASE);
	d->slot = -1;
}

KVMHOST_API void kvmhost_pci_host_destroy(struct kvmhost_pci_host *host)
{
	const struct kvmhost_pci_host *outer;

	if (!host)
		return;
	if (host->pio) {
		(void)kvmhost_bus_unregister(host->pio, KVMHOST_PCI_CONFIG_ADDRESS_PORT);
		(void)kvmhost_bus_unregister(host->pio, host->io_base);
	}
	if (host->ecam_bus)
		(void)kvmhost_bus_unregister(host->ecam_bus, host->ecam_base);
	outer = kh_host_lock(host);
	for (uint32_t s = 1; s < KH_PCI_SLOTS; s++)
		if (host->slots[s])
			kh_host_detach(host, host->slots[s]);
	kh_host_unlock(host, outer);
	if (host->bridge) {
		host->bridge->host = NULL;
		kvmhost_pci_device_destroy(host->bridge);
	}
	pthread_rwlock_destroy(&host->io_lock);
	pthread_mutex_destroy(&host->lock);
	free(host->name);
	free(host);
}

KVMHOST_API int kvmhost_pci_host_attach_pio(struct kvmhost_pci_host *host, struct kvmhost_bus *pio)
{
	struct kvmhost_bus_range r = {.size = sizeof(r)};
	int err;

	if (!host || !pio)
		return KH_FAIL(EINVAL, "host or pio is NULL");
	if (pio == host->mmio)
		return KH_FAIL(EINVAL, "%s: the port bus cannot be the MMIO bus", host->name);
	if (host->pio)
		return KH_FAIL(EBUSY, "%s: already on a port bus", host->name);
	r.base = KVMHOST_PCI_CONFIG_ADDRESS_PORT;
	r.length = KH_PCI_CF8_PORTS;
	r.read = kh_host_cf8_read;
	r.write = kh_host_cf8_write;
	r.opaque = host;
	r.name = "pci-config";
	err = kvmhost_bus_register(pio, &r);
	if (err < 0)
		return err;
	r.base = host->io_base;
	r.length = host->io_end - host->io_base;
	r.read = kh_host_io_read;
	r.write = kh_host_io_write;
	r.name = "pci-io-window";
	err = kvmhost_bus_register(pio, &r);
	if (err < 0) {
		(void)kvmhost_bus_unregister(pio, KVMHOST_PCI_CONFIG_ADDRESS_PORT);
		return err;
	}
	host->pio = pio;
	return 0;
}

KVMHOST_API int kvmhost_pci_host_attach_ecam(struct kvmhost_pci_host *host, struct kvmhost_bus *bus, uint64_t base)
{
	struct kvmhost_bus_range r = {.size = sizeof(r)};
	uint64_t last;
	int err;

	if (!host || !bus)
		return KH_FAIL(EINVAL, "host or bus is NULL");
	if (bus == host->mmio)
		return KH_FAIL(EINVAL,
			       "%s: ECAM cannot share the BARs' MMIO bus (a BAR moved through ECAM would have to be "
			       "registered from inside that bus's callback)",
			       host->name);
	if (base % KVMHOST_PCI_ECAM_SIZE || kh_add_overflows(base, KVMHOST_PCI_ECAM_SIZE - 1, &last))
		return KH_FAIL(EINVAL, "%s: ECAM base 0x%llx is not 1 MiB aligned or wraps", host->name,
			       (unsigned long long)base);
	if (host->ecam_bus)
		return KH_FAIL(EBUSY, "%s: ECAM is already at 0x%llx", host->name, (unsigned long long)host->ecam_base);
	r.base = base;
	r.length = KVMHOST_PCI_ECAM_SIZE;
	r.read = kh_host_ecam_read;
	r.write = kh_host_ecam_write;
	r.opaque = host;
	r.name = "pci-ecam";
	err = kvmhost_bus_register(bus, &r);
	if (err < 0)
		return err;
	host->ecam_bus = bus;
	host->ecam_base = base;
	return 0;
}

/* Next naturally aligned spot of @len in [*next, end), or UINT64_MAX. */
static uint64_t kh_window_take(uint64_t *next, uint64_t end, uint64_t len)
{
	uint64_t a = (*next + len - 1) & ~(len - 1);

	if (a < *next || a > end || end - a < len)
		return UINT64_MAX;
	*next = a + len;
	return a;
}

KVMHOST_API int kvmhost_pci_host_add_device(struct kvmhost_pci_host *host, struct kvmhost_pci_device *dev, int slot)
{
	uint64_t m32, m64, io, addr[KVMHOST_PCI_NUM_BARS];
	const struct kvmhost_pci_host *outer;
	int err = 0;

	if (!host || !dev)
		return KH_FAIL(EINVAL, "host or dev is NULL");
	if (slot != -1 && (slot < 1 || slot >= (int)KH_PCI_SLOTS))
		return KH_FAIL(EINVAL, "%s: slot %d is not 1-31 (or -1)", host->name, slot);
	err = kh_host_may_lock(host, __func__, "adding a device");
	if (err < 0)
		return err;
	outer = kh_host_lock(host);
	if (__atomic_load_n(&dev->host, __ATOMIC_ACQUIRE)) {
		err = KH_FAIL(EBUSY, "%s: %s is already on a host", host->name, dev->name);
		goto out;
	}
	if (slot == -1) {
		for (slot = 1; slot < (int)KH_PCI_SLOTS && host->slots[slot]; slot++)
			;
		if (slot == (int)KH_PCI_SLOTS) {
			err = KH_FAIL(ENOSPC, "%s: bus 0 is full", host->name);
			goto out;
		}
	} else if (host->slots[slot]) {
		err = KH_FAIL(EBUSY, "%s: slot %d is taken by %s", host->name, slot, host->slots[slot]->name);
		goto out;
	}
	/* Place every BAR before committing anything. */
	m32 = host->m32_next;
	m64 = host->m64_next;
	io = host->io_next;
	for (uint32_t k = 0; k < KVMHOST_PCI_NUM_BARS; k++) {
		const struct kh_pci_bar *b = &dev->bars[k];

		if (!b->present)
			continue;
		if (b->type == KVMHOST_PCI_BAR_IO)
			addr[k] = kh_window_take(&io, host->io_end, b->length);
		else if (b->type == KVMHOST_PCI_BAR_MEM64 && host->m64_end > host->m64_base)
			addr[k] = kh_window_take(&m64, host->m64_end, b->length);
		else
			addr[k] = kh_window_take(&m32, host->m32_end, b->length);
		if (addr[k] == UINT64_MAX) {
			err = KH_FAIL(ENOSPC, "%s: no room for %s BAR %u (0x%llx bytes) in its window", host->name,
				      dev->name, k, (unsigned long long)b->length);
			goto out;
		}
	}
	host->m32_next = m32;
	host->m64_next = m64;
	host->io_next = io;
	pthread_rwlock_wrlock(&host->io_lock);
	host->slots[slot] = dev;
	pthread_rwlock_unlock(&host->io_lock);
	dev->slot = slot;
	__atomic_store_n(&dev->host, host, __ATOMIC_RELEASE);
	for (uint32_t k = 0; k < KVMHOST_PCI_NUM_BARS; k++)
		if (dev->bars[k].present)
			kh_pci_dev_place_bar(dev, k, addr[k]);
	kh_host_remap(host, dev);
	err = slot;
out:
	kh_host_unlock(host, outer);
	return err;
}

KVMHOST_API int kvmhost_pci_host_remove_device(struct kvmhost_pci_host *host, struct kvmhost_pci_device *dev)
{
	const struct kvmhost_pci_host *outer;
	int err = 0;

	if (!host || !dev)
		return KH_FAIL(EINVAL, "host or dev is NULL");
	err = kh_host_may_lock(host, __func__, "removing a device");
	if (err < 0)
		return err;
	outer = kh_host_lock(host);
	if (dev->host != host || dev == host->bridge)
		err = KH_FAIL(ENOENT, "%s: %s is not one of its devices", host->name, dev->name);
	else
		kh_host_detach(host, dev);
	kh_host_unlock(host, outer);
	return err;
}
