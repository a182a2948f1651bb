/*
 * libFuzzer target: a PCI host bridge with a virtio-pci function, driven by
 * a hostile guest through the type-1 configuration ports, the function's
 * BAR (common config, ISR, device config, notifications, MSI-X table and
 * PBA) and raw MMIO addresses, with guest memory writes and device events
 * in between. The guest may size, move and disable the BAR, enable and
 * mask MSI-X, program vectors and queues, and misuse every width.
 *
 * Input: byte 0 flags (bit 0: the device serves kicks; bit 1: start from a
 * driver that enabled MSI-X with vectors 0-2 unmasked and completed the
 * init sequence with queue 0 at 0x1000/0x2000/0x3000, size 8, vector 1),
 * then 8-byte records:
 *   [0]    op: bits 0-2 kind, bits 3-4 width log2 (1, 2, 4, 8 bytes)
 *          0/1 read/write port 0xcf8 + (offset & 7)
 *          2/3 read/write the BAR at its programmed address + (offset & 0x7fff)
 *          4   configuration write: slot (value >> 32) & 3, register offset & 0xff
 *          5   guest memory write of 4 bytes at offset
 *          6   device event (value & 3: config changed, needs reset, notify
 *              used, kick of queue (value >> 2) & 1)
 *          7   read/write (value bit 39) raw MMIO at 0xe0000000 + (offset << 4)
 *   [1..2] offset, u16 LE
 *   [3..7] value, 40 bits LE
 * After every record: the INTx line is high exactly while Status.Interrupt
 * is set and Command.INTx-disable is clear, and the function's ids hold.
 *
 * Byte 0 bit 2: migration. Bytes 1-2 are then a u16 LE count P of patches,
 * 3 bytes each at the end of the input (u16 LE offset modulo the blob's
 * length, u8 XOR), and the records lie between. After the records the
 * device is saved (with its transport), patched, and restored into a fresh
 * device on a fresh transport over the same memory: unpatched it must load
 * and save the transport's part again byte for byte; patched it may be refused (with a
 * message), and whatever loads keeps the invariants, takes a resume's kicks
 * (kvmhost_virtio_device_kick_queues) and the transport's checks after them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <kvmhost/bus.h>
#include <kvmhost/error.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/memory.h>
#include <kvmhost/pci.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/pci.h>

#define PAGE	4096u
#define MEM_LEN 0x10000u

static struct kvmhost_memory *mem;
static uint8_t *ram;
static int serve;
static int level;
static uint64_t msis;
static int level2;
static uint8_t config[16];

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static void dev_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(dev, queue);
	const struct kvmhost_virtq_chain *c;
	int rounds = 0;

	(void)opaque;
	if (!serve)
		return;
	while (rounds++ < 64 && kvmhost_virtq_pop(q, &c) == 1) {
		for (uint32_t i = 0; i < c->writable_count; i++)
			memset(c->writable[i].iov_base, 0xa5, c->writable[i].iov_len);
		(void)kvmhost_virtq_push(q, c, (uint32_t)(c->writable_len > 8 ? 8 : c->writable_len));
	}
	(void)kvmhost_virtio_device_notify_used(dev, queue);
}

static uint64_t dev_features(void *opaque)
{
	(void)opaque;
	return 0x1 | KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX) |
	       KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);
}

static int cfg_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	(void)opaque;
	memcpy(buf, &config[off], len);
	return 0;
}

static int cfg_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
	(void)opaque;
	memcpy(&config[off], buf, len);
	return 0;
}

static const struct kvmhost_virtio_device_ops ops = {
    .size = sizeof(ops),
    .get_features = dev_features,
    .config_read = cfg_read,
    .config_write = cfg_write,
    .queue_notify = dev_notify,
};

static int line_set(void *opaque, int l)
{
	*(int *)opaque = l;
	return 0;
}

static int msi(void *opaque, uint16_t vector, uint64_t address, uint32_t data)
{
	(void)opaque;
	(void)address;
	(void)data;
	check(vector < 3);
	msis++;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};
	uint8_t *p;

	(void)argc;
	(void)argv;
	p = mmap(NULL, MEM_LEN + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p + PAGE, MEM_LEN, PROT_READ | PROT_WRITE) != 0)
		abort();
	ram = p + PAGE;
	if (kvmhost_memory_create(&mem) < 0)
		abort();
	o.guest_phys_addr = 0;
	o.length = MEM_LEN;
	o.backing = KVMHOST_MEMORY_HOST_POINTER;
	o.host_addr = ram;
	if (kvmhost_memory_add_region(mem, &o, NULL) < 0)
		abort();
	return 0;
}

struct env {
	struct kvmhost_bus *pio, *mmio;
	struct kvmhost_pci_device *pdev;
	struct kvmhost_virtio_device *dev;
	struct kvmhost_virtio_pci *vp;
	struct kvmhost_pci_host *host;
	struct kvmhost_irq_line *line;
};

/* A virtio-net shaped device on virtio-pci in slot 1, its INTx level in *@lvl. */
static void env_create(struct env *e, int *lvl)
{
	struct kvmhost_virtio_device_options o = {.size = sizeof(o)};
	struct kvmhost_virtio_pci_options po = {.size = sizeof(po)};
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho)};
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};

	memset(e, 0, sizeof(*e));
	*lvl = 0;
	o.device_id = KVMHOST_VIRTIO_ID_NET;
	o.num_queues = 2;
	o.queue_max_size = 16;
	o.config_size = sizeof(config);
	o.ops = &ops;
	lo.set_level = line_set;
	lo.opaque = lvl;
	if (kvmhost_virtio_device_create(mem, &o, &e->dev) < 0 || kvmhost_bus_create("pio", &e->pio) < 0 ||
	    kvmhost_bus_create("mmio", &e->mmio) < 0 || kvmhost_irq_line_create(&lo, &e->line) < 0)
		abort();
	ho.mmio = e->mmio;
	po.intx = e->line;
	po.msi = msi;
	if (kvmhost_pci_host_create(&ho, &e->host) < 0 || kvmhost_pci_host_attach_pio(e->host, e->pio) < 0 ||
	    kvmhost_virtio_pci_create(e->dev, &po, &e->vp) < 0)
		abort();
	e->pdev = kvmhost_virtio_pci_device(e->vp);
	if (kvmhost_pci_host_add_device(e->host, e->pdev, 1) != 1)
		abort();
}

static void env_destroy(struct env *e)
{
	kvmhost_virtio_pci_destroy(e->vp);
	kvmhost_pci_host_destroy(e->host);
	check(kvmhost_bus_count(e->mmio) == 0 && kvmhost_bus_count(e->pio) == 0);
	kvmhost_irq_line_destroy(e->line);
	kvmhost_bus_destroy(e->pio);
	kvmhost_bus_destroy(e->mmio);
	kvmhost_virtio_device_destroy(e->dev);
}

/* The invariants that hold after every step. */
static void env_check(struct env *e, int lvl)
{
	uint16_t cmd = 0, status = 0, vendor = 0;

	(void)kvmhost_pci_device_config_get(e->pdev, KVMHOST_PCI_COMMAND, &cmd, 2);
	(void)kvmhost_pci_device_config_get(e->pdev, KVMHOST_PCI_STATUS, &status, 2);
	(void)kvmhost_pci_device_config_get(e->pdev, KVMHOST_PCI_VENDOR_ID, &vendor, 2);
	check(lvl == ((status & KVMHOST_PCI_STATUS_INTERRUPT) && !(cmd & KVMHOST_PCI_COMMAND_INTX_DISABLE)));
	check(vendor == KVMHOST_VIRTIO_PCI_VENDOR_ID);
}

/* Save @e's device, patch it, restore it into a fresh one (see the file comment). */
static void migrate(struct env *e, const uint8_t *patch, size_t npatch)
{
	int n = kvmhost_virtio_device_state_size(e->dev), r;
	size_t base;
	uint8_t *blob, *again;
	struct env e2;

	check(n > 0);
	blob = malloc((size_t)n);
	again = malloc((size_t)n);
	if (!blob || !again)
		abort();
	if (kvmhost_virtio_device_save(e->dev, blob, (size_t)n) != n) {
		free(blob);
		free(again);
		return; /* chains in flight: nothing to migrate */
	}
	for (size_t i = 0; i < npatch; i++)
		blob[((size_t)patch[3 * i] | (size_t)patch[3 * i + 1] << 8) % (size_t)n] ^= patch[3 * i + 2];
	env_create(&e2, &level2);
	r = kvmhost_virtio_device_restore(e2.dev, blob, (size_t)n);
	check(r == 0 || (r < 0 && kvmhost_last_error()[0]));
	if (npatch == 0) {
		check(r == 0);
		check(kvmhost_virtio_device_save(e2.dev, again, (size_t)n) == n);
		/* The transport's part (after the device's: its 236-byte header, 2
		 * queues of 206 bytes and device_len) comes back byte for byte. (The
		 * framework's part may not: an enabled queue that broke loads as a
		 * broken one, enabled or not, which reads the same to the guest.) */
		base = 236 + 2 * 206 + ((size_t)blob[232] | (size_t)blob[233] << 8);
		check(blob[4] == 2 && base + 8 < (size_t)n);
		check(memcmp(blob + base, again + base, (size_t)n - base) == 0);
	}
	env_check(&e2, level2);
	(void)kvmhost_virtio_device_kick_queues(e2.dev, KVMHOST_VIRTIO_KICK_NOTIFY);
	env_check(&e2, level2);
	env_destroy(&e2);
	free(blob);
	free(again);
}

static void cfg_access(struct env *e, uint32_t slot, uint32_t reg, uint64_t *v, uint32_t len, int write)
{
	uint32_t a = 0x80000000u | slot << 11 | (reg & 0xfc);

	(void)kvmhost_bus_write(e->pio, 0xcf8, &a, 4);
	if (write)
		(void)kvmhost_bus_write(e->pio, 0xcfc + (reg & 3), v, len);
	else
		(void)kvmhost_bus_read(e->pio, 0xcfc + (reg & 3), v, len);
}

static uint64_t bar_addr(struct env *e)
{
	uint32_t lo = 0, hi = 0;

	(void)kvmhost_pci_device_config_get(e->pdev, 0x10, &lo, 4);
	(void)kvmhost_pci_device_config_get(e->pdev, 0x14, &hi, 4);
	return (uint64_t)hi << 32 | (lo & ~0xfu);
}

static void bw(struct env *e, uint32_t off, uint64_t v, uint32_t len)
{
	(void)kvmhost_bus_write(e->mmio, bar_addr(e) + off, &v, len);
}

/* Linux's MSI-X setup and the virtio init sequence, through the BAR. */
static void bring_up(struct env *e)
{
	uint64_t v = 0xc002;
	uint8_t cap = 0;

	(void)kvmhost_pci_device_config_get(e->pdev, KVMHOST_PCI_CAPABILITY_LIST, &cap, 1);
	for (int n = 0; cap && n < 16; n++) {
		uint8_t id = 0, next = 0;

		(void)kvmhost_pci_device_config_get(e->pdev, cap, &id, 1);
		(void)kvmhost_pci_device_config_get(e->pdev, cap + 1u, &next, 1);
		if (id == KVMHOST_PCI_CAP_ID_MSIX)
			break;
		cap = next;
	}
	cfg_access(e, 1, cap + 2u, &v, 2, 1);
	for (uint32_t i = 0; i < 3; i++) {
		bw(e, 0x4000 + 16 * i, 0xfee00000u, 4);
		bw(e, 0x4000 + 16 * i + 8, 0x40 + i, 4);
		bw(e, 0x4000 + 16 * i + 12, 0, 4);
	}
	v = 0x8002;
	cfg_access(e, 1, cap + 2u, &v, 2, 1);
	bw(e, 0x14, 0, 1);
	bw(e, 0x14, 1, 1);
	bw(e, 0x14, 3, 1);
	bw(e, 0x08, 1, 4);
	bw(e, 0x0c, 1, 4);
	bw(e, 0x08, 0, 4);
	bw(e, 0x0c, 1, 4);
	bw(e, 0x14, 0xb, 1);
	bw(e, 0x10, 0, 2);
	bw(e, 0x16, 0, 2);
	bw(e, 0x18, 8, 2);
	bw(e, 0x1a, 1, 2);
	bw(e, 0x20, 0x1000, 8);
	bw(e, 0x28, 0x2000, 4);
	bw(e, 0x2c, 0, 4);
	bw(e, 0x30, 0x3000, 8);
	bw(e, 0x1c, 1, 2);
	bw(e, 0x14, 0xf, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvmhost_virtio_device *dev;
	size_t first = 1, end = size, npatch = 0;
	struct env e;

	if (size < 1)
		return 0;
	if (data[0] & 4) {
		if (size < 3)
			return 0;
		npatch = (size_t)data[1] | (size_t)data[2] << 8;
		if (npatch > (size - 3) / 3)
			return 0;
		first = 3;
		end = size - 3 * npatch;
	}
	memset(ram, 0, MEM_LEN);
	memset(config, 0, sizeof(config));
	serve = data[0] & 1;
	env_create(&e, &level);
	dev = e.dev;
	if (data[0] & 2)
		bring_up(&e);

	for (size_t i = first; i + 8 <= end; i += 8) {
		const uint8_t *r = &data[i];
		uint32_t kind = r[0] & 7, len = 1u << ((r[0] >> 3) & 3);
		uint32_t off = (uint32_t)r[1] | (uint32_t)r[2] << 8;
		uint64_t v = 0, a;

		for (int b = 0; b < 5; b++)
			v |= (uint64_t)r[3 + b] << (8 * b);
		switch (kind) {
		case 0:
		case 1:
			if (len > 4)
				len = 4;
			a = 0xcf8 + (off & 7);
			if (kind)
				(void)kvmhost_bus_write(e.pio, a, &v, len);
			else
				(void)kvmhost_bus_read(e.pio, a, &v, len);
			break;
		case 2:
			(void)kvmhost_bus_read(e.mmio, bar_addr(&e) + (off & 0x7fff), &v, len);
			break;
		case 3:
			(void)kvmhost_bus_write(e.mmio, bar_addr(&e) + (off & 0x7fff), &v, len);
			break;
		case 4:
			if (len > 4)
				len = 4;
			if ((off & 3) + len <= 4)
				cfg_access(&e, (uint32_t)(v >> 32) & 3, off & 0xff, &v, len, 1);
			break;
		case 5:
			if (off + 4 <= MEM_LEN)
				memcpy(ram + off, &v, 4);
			break;
		case 6:
			switch (v & 3) {
			case 0:
				(void)kvmhost_virtio_device_config_changed(dev);
				break;
			case 1:
				(void)kvmhost_virtio_device_set_needs_reset(dev, "fuzz");
				break;
			case 2:
				(void)kvmhost_virtio_device_notify_used(dev, (uint16_t)((v >> 2) & 1));
				break;
			default:
				(void)kvmhost_virtio_device_queue_notify(dev, (uint16_t)((v >> 2) & 1));
				break;
			}
			break;
		default:
			a = 0xe0000000ull + ((uint64_t)off << 4);
			if (v >> 39)
				(void)kvmhost_bus_write(e.mmio, a, &v, len);
			else
				(void)kvmhost_bus_read(e.mmio, a, &v, len);
			break;
		}
		env_check(&e, level);
	}
	if (data[0] & 4)
		migrate(&e, data + end, npatch);
	env_destroy(&e);
	return 0;
}
