/*
 * libFuzzer target: the PCI host bridge (pci.h) driven by a hostile guest
 * through the type-1 ports (0xCF8/0xCFC) and ECAM, with three functions
 * behind it: a generic device with 32-bit, 64-bit prefetchable and I/O BARs
 * and two capabilities (one with writable bytes), a device with a 4 GiB
 * 64-bit BAR and a 128 MiB 32-bit one, and a virtio-pci function with 66
 * MSI-X vectors (a two-qword pending bit array). The guest sizes, moves,
 * overlaps and disables BARs, reaches them through the MMIO bus and the
 * I/O window, programs and masks MSI-X vectors (through the BAR and through
 * the PCI_CFG window), and the host side raises interrupts and unplugs and
 * replugs the generic device.
 *
 * Invariants checked after every record:
 *  - read-only header fields (ids, class, header type, pin, the capability
 *    chain) never change; Command holds only writable bits;
 *  - CF8/CFC, ECAM and kvmhost_pci_device_config_get() agree on every byte
 *    read (absent functions, functions 1-7 and other buses read all ones;
 *    ECAM registers past 0xff read 0);
 *  - writing all ones to a BAR reads back its size mask and type bits;
 *  - a mapped BAR is where its registers say, with decoding on, inside its
 *    window (I/O); an access there reaches that BAR's callback at the right
 *    offset; after a write that remaps a device, every BAR of it that could
 *    be mapped (decoding on, not 0, no overlap, no wrap) is mapped; the
 *    bar_moved hook reported the move;
 *  - the INTx line of each function is Status.Interrupt && !INTx-disable;
 *  - an MSI goes out only for a vector the table has, deliverable, with the
 *    table's address and data; no vector is pending while deliverable.
 * At the end, destroying everything leaves the buses empty.
 *
 * Input: 8-byte records, [0] op: bits 0-2 kind, bits 3-4 width log2
 * (1, 2, 4, 8); [1..2] a = u16 LE; [3..7] v = 40 bits LE; bit 39 of v
 * selects write (else read) where a kind does both.
 *   0  port 0xcf8 + (a & 7)
 *   1  config access through CF8/CFC: register a & 0xff, slot (a >> 8) & 31,
 *      function a >> 13, bus 1 when v bit 38; data v
 *   2  config access through ECAM: register (a & 0xff) | (v >> 32 & 0xf) << 8,
 *      slot and function as 1; data v
 *   3  BAR-relative MMIO/port access: function (v >> 32) & 3 (0, 3 generic,
 *      1 virtio, 2 big), BAR (v >> 34) & 7, offset a & 0x7fff
 *   4  raw MMIO at 0xe0000000 + (a << 4) + ((v >> 32) & 0xf)
 *   5  port in the I/O window: 0xc000 + (a & 0x3fff)
 *   6  host events: a & 7: 0/1 generic INTx low/high, 2 virtio config
 *      change, 3 virtio used buffer of queue v & 1, 4 unplug the generic
 *      device, 5 plug it back in slot (v & 31) or the lowest free one
 *   7  virtio MSI-X table (a & 0x800 clear) or PBA at (a & 0x7ff)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <kvmhost/bus.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/memory.h>
#include <kvmhost/pci.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/pci.h>

#define MEM_LEN	     0x10000u
#define ECAM_BASE    0xb0000000ull
#define IO_BASE	     0xc000u
#define IO_END	     0x10000u
#define M64_BASE     0x1000000000ull
#define M64_SIZE     0x1000000000ull
#define NVEC	     66u
#define MSIX_TABLE   0x4000u
#define MSIX_PBA     0x5000u
#define VIRTIO_BAR   0
#define CMD_WRITABLE 0x0547u
#define NDEV	     3

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static struct kvmhost_memory *mem;
static int verbose; /* FUZZ_VERBOSE=1: where things are, what went out (for corpus work) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};

	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	o.length = MEM_LEN;
	o.backing = KVMHOST_MEMORY_ANONYMOUS;
	if (kvmhost_memory_create(&mem) < 0 || kvmhost_memory_add_region(mem, &o, NULL) < 0)
		abort();
	return 0;
}

/* ---- the functions ---- */

struct bar_desc {
	enum kvmhost_pci_bar_type type;
	uint64_t len;
	uint32_t flags;
};

struct fn {
	struct kvmhost_pci_device *pdev;
	struct kvmhost_irq_line *line;
	int level;
	const struct bar_desc *bars; /* [6]; len 0: none */
	uint8_t ro[256];	     /* bytes that never change (1) */
	uint8_t snap[256];
	/* BAR callbacks */
	int hit;
	uint32_t hit_bar;
	uint64_t hit_off;
	/* bar_moved */
	int moved[6];
	uint64_t moved_to[6];
};

static struct fn fns[NDEV]; /* 0 generic, 1 virtio, 2 big */
static struct kvmhost_pci_host *host;
static struct kvmhost_bus *pio, *mmio, *ecam;
static struct kvmhost_virtio_device *vdev;
static struct kvmhost_virtio_pci *vpci;
static int gen_plugged;

static const struct bar_desc gen_bars[6] = {
    {KVMHOST_PCI_BAR_MEM32, 0x1000, 0},
    {KVMHOST_PCI_BAR_IO, 32, 0},
    {KVMHOST_PCI_BAR_MEM64, 0x4000, KVMHOST_PCI_BAR_PREFETCH},
    {KVMHOST_PCI_BAR_MEM32, 0, 0}, /* the upper half */
    {KVMHOST_PCI_BAR_IO, 4, 0},
    {KVMHOST_PCI_BAR_MEM32, 0, 0},
};
static const struct bar_desc big_bars[6] = {
    {KVMHOST_PCI_BAR_MEM64, 0x100000000ull, 0},
    {KVMHOST_PCI_BAR_MEM32, 0, 0},
    {KVMHOST_PCI_BAR_MEM32, 0x8000000, 0},
    {KVMHOST_PCI_BAR_MEM32, 0, 0},
    {KVMHOST_PCI_BAR_MEM32, 0, 0},
    {KVMHOST_PCI_BAR_IO, 256, 0},
};
static const struct bar_desc virtio_bars[6] = {
    {KVMHOST_PCI_BAR_MEM64, 0x8000, 0},
};

static int bar_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct fn *f = &fns[(uintptr_t)opaque >> 4];
	uint32_t k = (uintptr_t)opaque & 15;

	check(len >= 1 && len <= 8 && offset + len <= f->bars[k].len);
	f->hit = 1;
	f->hit_bar = k;
	f->hit_off = offset;
	memset(data, 0x5a, len);
	return 0;
}

static int bar_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)data;
	return bar_read(opaque, offset, (uint8_t[8]){0}, len);
}

static int cfg_hook_read(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)data;
	check(offset < 256 && (len == 1 || len == 2 || len == 4) && (offset & 3) + len <= 4);
	return 0;
}

static int cfg_hook_write(void *opaque, uint32_t offset, const void *data, uint32_t len)
{
	return cfg_hook_read(opaque, offset, (void *)(uintptr_t)data, len);
}

static void bar_moved(void *opaque, uint32_t bar, uint64_t old_addr, uint64_t new_addr)
{
	struct fn *f = opaque;

	check(bar < 6 && f->bars[bar].len && old_addr != new_addr);
	f->moved[bar] = 1;
	f->moved_to[bar] = new_addr;
}

static int line_set(void *opaque, int l)
{
	((struct fn *)opaque)->level = l;
	return 0;
}

/* MSI-X deliveries of the current record. */
static struct {
	uint16_t v;
	uint64_t address;
	uint32_t data;
} msis[4 * NVEC];
static unsigned nmsi;

static int msi(void *opaque, uint16_t vector, uint64_t address, uint32_t data)
{
	(void)opaque;
	check(vector < NVEC);
	if (verbose)
		fprintf(stderr, "MSI vector %u: 0x%llx/0x%x\n", vector, (unsigned long long)address, data);
	if (nmsi < sizeof(msis) / sizeof(msis[0]))
		msis[nmsi++] = (typeof(msis[0])){vector, address, data};
	return 0;
}

static uint64_t dev_features(void *opaque)
{
	(void)opaque;
	return 1;
}

static const struct kvmhost_virtio_device_ops vops = {
    .size = sizeof(vops),
    .get_features = dev_features,
};

static struct kvmhost_irq_line *make_line(struct fn *f)
{
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};
	struct kvmhost_irq_line *l;

	lo.set_level = line_set;
	lo.opaque = f;
	if (kvmhost_irq_line_create(&lo, &l) < 0)
		abort();
	return l;
}

static void make_generic(int idx, const struct bar_desc *bars, uint16_t device_id)
{
	struct kvmhost_pci_device_options o = {.size = sizeof(o)};
	struct fn *f = &fns[idx];

	memset(f, 0, sizeof(*f));
	f->line = make_line(f);
	f->bars = bars;
	o.vendor_id = 0x1234;
	o.device_id = device_id;
	o.revision = 3;
	o.class_code = 0xff0000;
	o.subsystem_vendor_id = 0x1af4;
	o.subsystem_id = 0x42;
	o.interrupt_pin = 1;
	o.interrupt_line = 10;
	o.intx = f->line;
	o.config_read = cfg_hook_read;
	o.config_write = cfg_hook_write;
	o.bar_moved = bar_moved;
	o.opaque = f;
	if (kvmhost_pci_device_create(&o, &f->pdev) < 0)
		abort();
	for (uint32_t k = 0; k < 6; k++) {
		struct kvmhost_pci_bar_options b = {.size = sizeof(b)};

		if (!bars[k].len)
			continue;
		b.index = k;
		b.type = bars[k].type;
		b.length = bars[k].len;
		b.flags = bars[k].flags;
		b.read = bar_read;
		b.write = bar_write;
		b.opaque = (void *)(uintptr_t)(idx << 4 | k);
		if (kvmhost_pci_device_add_bar(f->pdev, &b) < 0)
			abort();
	}
	if (idx == 0) {
		uint8_t cap[16] = {0, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
		uint8_t wm[16] = {0, 0, 0, 0, 0xff, 0xff, 0x0f, 0xf0, 0xff, 0xff, 0xff, 0xff};

		if (kvmhost_pci_device_add_capability(f->pdev, KVMHOST_PCI_CAP_ID_VNDR, cap, 16, wm, NULL) < 0 ||
		    kvmhost_pci_device_add_capability(f->pdev, KVMHOST_PCI_CAP_ID_VNDR, cap, 6, NULL, NULL) < 0)
			abort();
	}
}

/* What a guest write can never change: the model's own bytes outside the
 * write masks. Read-only per the header: ids, class, header type, BIST,
 * subsystem, capability pointer, pin; capability IDs and next pointers. */
static void mark_readonly(struct fn *f, int caps_ro)
{
	static const uint8_t hdr[] = {0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x0e,
				      0x0f, 0x2c, 0x2d, 0x2e, 0x2f, 0x34, 0x3d, 0x3e, 0x3f};
	uint8_t cap = 0;

	memset(f->ro, 0, sizeof(f->ro));
	for (size_t i = 0; i < sizeof(hdr); i++)
		f->ro[hdr[i]] = 1;
	(void)kvmhost_pci_device_config_get(f->pdev, KVMHOST_PCI_CAPABILITY_LIST, &cap, 1);
	for (int n = 0; cap && n < 48; n++) {
		f->ro[cap] = f->ro[cap + 1] = 1;
		if (caps_ro)
			f->ro[cap + 2] = f->ro[cap + 3] = 1; /* the generic device's: length, version bytes */
		(void)kvmhost_pci_device_config_get(f->pdev, cap + 1u, &cap, 1);
	}
	(void)kvmhost_pci_device_config_get(f->pdev, 0, f->snap, 256);
}

/* ---- helpers ---- */

static uint32_t cfg_get32(struct fn *f, uint32_t off)
{
	uint32_t v = 0;

	(void)kvmhost_pci_device_config_get(f->pdev, off, &v, 4);
	return v;
}

static uint16_t cfg_get16(struct fn *f, uint32_t off)
{
	uint16_t v = 0;

	(void)kvmhost_pci_device_config_get(f->pdev, off, &v, 2);
	return v;
}

/* Where the registers put BAR k (type bits stripped). */
static uint64_t bar_reg_addr(struct fn *f, uint32_t k)
{
	const struct bar_desc *b = &f->bars[k];
	uint64_t a = cfg_get32(f, KVMHOST_PCI_BAR0 + 4 * k);

	if (b->type == KVMHOST_PCI_BAR_IO)
		return a & ~0x3ull;
	a &= ~0xfull;
	if (b->type == KVMHOST_PCI_BAR_MEM64)
		a |= (uint64_t)cfg_get32(f, KVMHOST_PCI_BAR0 + 4 * (k + 1)) << 32;
	return a;
}

static int decoding(struct fn *f, uint32_t k)
{
	uint16_t cmd = cfg_get16(f, KVMHOST_PCI_COMMAND);

	return f->bars[k].type == KVMHOST_PCI_BAR_IO ? (cmd & KVMHOST_PCI_COMMAND_IO) != 0
						     : (cmd & KVMHOST_PCI_COMMAND_MEMORY) != 0;
}

static int on_host(int i)
{
	return i != 0 || gen_plugged;
}

/* By last bytes: a range may end at 2^64. */
static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* Could BAR k of function i be mapped: something else (mapped, or
 * programmed and decoding) in the way? */
static int bar_free(int i, uint32_t k, uint64_t at)
{
	const struct bar_desc *b = &fns[i].bars[k];

	if (at + (b->len - 1) < at)
		return 0;
	if (b->type == KVMHOST_PCI_BAR_IO && (at < IO_BASE || at + b->len > IO_END))
		return 0;
	for (int j = 0; j < NDEV; j++) {
		if (!on_host(j))
			continue;
		for (uint32_t m = 0; m < 6; m++) {
			const struct bar_desc *c = &fns[j].bars[m];
			uint64_t where, prog;

			if ((j == i && m == k) || !c->len ||
			    (c->type == KVMHOST_PCI_BAR_IO) != (b->type == KVMHOST_PCI_BAR_IO))
				continue;
			if (kvmhost_pci_device_bar_address(fns[j].pdev, m, &where) == 1 &&
			    overlaps(at, b->len, where, c->len))
				return 0;
			prog = bar_reg_addr(&fns[j], m);
			if (decoding(&fns[j], m) && prog && overlaps(at, b->len, prog, c->len))
				return 0;
		}
	}
	return 1;
}

/* No other mapped I/O BAR overlaps BAR k of function i at @at. */
static int io_alone(int i, uint32_t k, uint64_t at)
{
	for (int j = 0; j < NDEV; j++)
		for (uint32_t m = 0; on_host(j) && m < 6; m++) {
			uint64_t where;

			if ((j == i && m == k) || fns[j].bars[m].type != KVMHOST_PCI_BAR_IO || !fns[j].bars[m].len)
				continue;
			if (kvmhost_pci_device_bar_address(fns[j].pdev, m, &where) == 1 &&
			    overlaps(at, fns[i].bars[k].len, where, fns[j].bars[m].len))
				return 0;
		}
	return 1;
}

static int other_moved(const struct fn *f, uint32_t k)
{
	for (uint32_t m = 0; m < 6; m++)
		if (m != k && f->moved[m])
			return 1;
	return 0;
}

static void check_function(int i, int remapped)
{
	struct fn *f = &fns[i];
	uint8_t now[256];
	uint16_t cmd, status;

	(void)kvmhost_pci_device_config_get(f->pdev, 0, now, 256);
	for (int b = 0; b < 256; b++)
		check(!f->ro[b] || now[b] == f->snap[b]);
	cmd = (uint16_t)(now[4] | now[5] << 8);
	status = (uint16_t)(now[6] | now[7] << 8);
	check((cmd & ~CMD_WRITABLE) == 0);
	check(!(status & KVMHOST_PCI_STATUS_CAP_LIST) == (i == 2)); /* the big device has no capabilities */
	check(f->level == ((status & KVMHOST_PCI_STATUS_INTERRUPT) && !(cmd & KVMHOST_PCI_COMMAND_INTX_DISABLE)));
	for (uint32_t k = 0; k < 6; k++) {
		const struct bar_desc *b = &f->bars[k];
		uint64_t at, prog;
		int mapped;

		if (!b->len)
			continue;
		mapped = kvmhost_pci_device_bar_address(f->pdev, k, &at);
		check(mapped == 0 || mapped == 1);
		prog = bar_reg_addr(f, k);
		check(prog % b->len == 0);
		if (f->moved[k])
			check(f->moved_to[k] == at);
		if (!on_host(i)) {
			check(!mapped);
			continue;
		}
		if (mapped) {
			check(at == prog && at != 0 && decoding(f, k));
			if (b->type == KVMHOST_PCI_BAR_IO)
				check(at >= IO_BASE && at + b->len <= IO_END);
			/* The virtio BAR's reads have side effects: not read here. I/O BARs
			 * may overlap each other (the host maps them without checking). */
			if (i != 1 && !(b->type == KVMHOST_PCI_BAR_IO && !io_alone(i, k, at))) {
				uint8_t x;

				f->hit = 0;
				if (b->type == KVMHOST_PCI_BAR_IO)
					(void)kvmhost_bus_read(pio, at + b->len - 1, &x, 1);
				else
					(void)kvmhost_bus_read(mmio, at + b->len - 1, &x, 1);
				check(f->hit && f->hit_bar == k && f->hit_off == b->len - 1 && x == 0x5a);
			}
		} else if (remapped && decoding(f, k) && prog && !other_moved(f, k)) {
			if (verbose && bar_free(i, k, prog))
				fprintf(stderr, "function %d BAR %u at 0x%llx should be mapped\n", i, k,
					(unsigned long long)prog);
			/* (Another BAR of the device may have left the place only after
			 * this one was placed.) */
			check(!bar_free(i, k, prog));
		}
	}
}

/* MSI-X: what went out this record was deliverable with the table's values;
 * nothing deliverable is left pending. Reads the table through the BAR. */
static int msix_cap(void)
{
	uint8_t cap = 0, id = 0;

	(void)kvmhost_pci_device_config_get(fns[1].pdev, KVMHOST_PCI_CAPABILITY_LIST, &cap, 1);
	for (int n = 0; cap && n < 48; n++) {
		(void)kvmhost_pci_device_config_get(fns[1].pdev, cap, &id, 1);
		if (id == KVMHOST_PCI_CAP_ID_MSIX)
			return cap;
		(void)kvmhost_pci_device_config_get(fns[1].pdev, cap + 1u, &cap, 1);
	}
	check(0);
	return 0;
}

static void check_msix(int all)
{
	static int cap;
	uint64_t at, pba[2];
	uint16_t ctl;
	int on;

	if (!cap)
		cap = msix_cap();
	ctl = cfg_get16(&fns[1], (uint32_t)cap + 2);
	on = (ctl & 0x8000) && !(ctl & 0x4000);
	check((ctl & 0x7ff) == NVEC - 1);
	if (kvmhost_pci_device_bar_address(fns[1].pdev, VIRTIO_BAR, &at) != 1) {
		check(nmsi == 0 || on);
		return;
	}
	for (int q = 0; q < 2; q++)
		check(kvmhost_bus_read(mmio, at + MSIX_PBA + 8 * q, &pba[q], 8) == 0);
	check((pba[1] >> (NVEC - 64)) == 0);
	for (unsigned i = 0; i < nmsi; i++) {
		uint32_t e[4];

		check(kvmhost_bus_read(mmio, at + MSIX_TABLE + 16 * msis[i].v, e, 8) == 0);
		check(kvmhost_bus_read(mmio, at + MSIX_TABLE + 16 * msis[i].v + 8, &e[2], 8) == 0);
		check(on && !(e[3] & 1));
		check(msis[i].address == (e[0] | (uint64_t)e[1] << 32) && msis[i].data == e[2]);
	}
	for (uint32_t v = 0; v < NVEC; v++) {
		uint32_t vc;

		if (!all && v > 3 && v < 62)
			continue;
		if (!((pba[v / 64] >> (v % 64)) & 1))
			continue;
		check(kvmhost_bus_read(mmio, at + MSIX_TABLE + 16 * v + 12, &vc, 4) == 0);
		check(!on || (vc & 1)); /* pending only while masked */
	}
}

static void setup(void)
{
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho)};
	struct kvmhost_virtio_device_options vo = {.size = sizeof(vo)};
	struct kvmhost_virtio_pci_options po = {.size = sizeof(po)};
	struct fn *v = &fns[1];

	if (kvmhost_bus_create("pio", &pio) < 0 || kvmhost_bus_create("mmio", &mmio) < 0 ||
	    kvmhost_bus_create("ecam", &ecam) < 0)
		abort();
	ho.mmio = mmio;
	ho.mmio64_base = M64_BASE;
	ho.mmio64_size = M64_SIZE;
	if (kvmhost_pci_host_create(&ho, &host) < 0 || kvmhost_pci_host_attach_pio(host, pio) < 0 ||
	    kvmhost_pci_host_attach_ecam(host, ecam, ECAM_BASE) < 0)
		abort();
	make_generic(0, gen_bars, 0x0001);
	make_generic(2, big_bars, 0x0002);
	memset(v, 0, sizeof(*v));
	v->line = make_line(v);
	v->bars = virtio_bars;
	vo.device_id = KVMHOST_VIRTIO_ID_NET;
	vo.num_queues = 2;
	vo.queue_max_size = 16;
	vo.ops = &vops;
	po.msix_vectors = NVEC;
	po.intx = v->line;
	po.msi = msi;
	if (kvmhost_virtio_device_create(mem, &vo, &vdev) < 0 || kvmhost_virtio_pci_create(vdev, &po, &vpci) < 0)
		abort();
	v->pdev = kvmhost_virtio_pci_device(vpci);
	if (kvmhost_pci_host_add_device(host, fns[0].pdev, 1) != 1 ||
	    kvmhost_pci_host_add_device(host, v->pdev, 2) != 2 ||
	    kvmhost_pci_host_add_device(host, fns[2].pdev, 3) != 3)
		abort();
	gen_plugged = 1;
	mark_readonly(&fns[0], 1);
	mark_readonly(&fns[1], 0);
	mark_readonly(&fns[2], 1);
	if (verbose) {
		for (int i = 0; i < NDEV; i++)
			for (uint32_t k = 0; k < 6; k++) {
				uint64_t at;

				if (fns[i].bars[k].len && kvmhost_pci_device_bar_address(fns[i].pdev, k, &at) == 1)
					fprintf(stderr, "function %d BAR %u at 0x%llx\n", i, k, (unsigned long long)at);
			}
		fprintf(stderr, "virtio MSI-X capability at 0x%x\n", msix_cap());
	}
}

static void teardown(void)
{
	kvmhost_virtio_pci_destroy(vpci);
	kvmhost_virtio_device_destroy(vdev);
	kvmhost_pci_device_destroy(fns[0].pdev);
	kvmhost_pci_device_destroy(fns[2].pdev);
	kvmhost_pci_host_destroy(host);
	check(kvmhost_bus_count(mmio) == 0 && kvmhost_bus_count(pio) == 0 && kvmhost_bus_count(ecam) == 0);
	for (int i = 0; i < NDEV; i++)
		kvmhost_irq_line_destroy(fns[i].line);
	kvmhost_bus_destroy(pio);
	kvmhost_bus_destroy(mmio);
	kvmhost_bus_destroy(ecam);
}

/* The function a configuration address names, or NULL (reads all ones). */
static struct fn *target(uint32_t bus, uint32_t slot, uint32_t func)
{
	if (bus || func || slot == 0)
		return NULL;
	for (int i = 0; i < NDEV; i++)
		if (on_host(i) && kvmhost_pci_device_slot(fns[i].pdev) == (int)slot)
			return &fns[i];
	return NULL;
}

/* Everything but the bridge at 00:00.0 is modelled here. */
static int modelled(uint32_t bus, uint32_t slot, uint32_t func)
{
	return bus || slot || func;
}

/* A configuration access of @len at @reg of (bus, slot, func) that the
 * mechanism passed on; checks what a read returned. */
static void check_config_read(uint32_t bus, uint32_t slot, uint32_t func, uint32_t reg, const uint8_t *got,
			      uint32_t len)
{
	struct fn *f = target(bus, slot, func);
	uint8_t want[4];

	if (!f) {
		if (modelled(bus, slot, func))
			for (uint32_t i = 0; i < len; i++)
				check(got[i] == 0xff);
		return;
	}
	if (reg >= 256) {
		for (uint32_t i = 0; i < len; i++)
			check(got[i] == 0);
		return;
	}
	if (f == &fns[1] && reg >= 0x40)
		return; /* virtio's PCI_CFG window reads the BAR */
	(void)kvmhost_pci_device_config_get(f->pdev, reg, want, len);
	check(memcmp(want, got, len) == 0);
}

/* After an all-ones dword write to a BAR register: the size mask reads back. */
static void check_sizing(struct fn *f, uint32_t reg)
{
	uint32_t k = (reg - KVMHOST_PCI_BAR0) / 4, got = cfg_get32(f, reg), want = 0;
	const struct bar_desc *b = &f->bars[k];

	if (b->len) {
		if (b->type == KVMHOST_PCI_BAR_IO)
			want = (uint32_t) ~(b->len - 1) | 0x1;
		else
			want = (b->len > 0xffffffffull ? 0 : (uint32_t) ~(b->len - 1)) |
			       (b->type == KVMHOST_PCI_BAR_MEM64 ? 0x4 : 0) | (b->flags ? 0x8 : 0);
	} else if (k > 0 && f->bars[k - 1].type == KVMHOST_PCI_BAR_MEM64 && f->bars[k - 1].len) {
		want = (uint32_t)(~(f->bars[k - 1].len - 1) >> 32);
	}
	check(got == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	for (size_t i = 0; i + 8 <= size; i += 8) {
		const uint8_t *r = &data[i];
		uint32_t kind = r[0] & 7, len = 1u << ((r[0] >> 3) & 3), a = (uint32_t)r[1] | (uint32_t)r[2] << 8;
		uint64_t v = 0, addr;
		int wr, remap_fn = -1;
		uint8_t buf[8];
		uint16_t cmd_before[NDEV];

		for (int b = 0; b < 5; b++)
			v |= (uint64_t)r[3 + b] << (8 * b);
		wr = (int)(v >> 39) & 1;
		if (verbose)
			fprintf(stderr, "record %zu: kind %u len %u a 0x%x v 0x%llx\n", i / 8, kind, len, a,
				(unsigned long long)v);
		memcpy(buf, &v, 8);
		nmsi = 0;
		for (int d = 0; d < NDEV; d++) {
			cmd_before[d] = cfg_get16(&fns[d], KVMHOST_PCI_COMMAND);
			memset(fns[d].moved, 0, sizeof(fns[d].moved));
		}
		switch (kind) {
		case 0:
			if (len > 4)
				len = 4;
			addr = 0xcf8 + (a & 7);
			if (wr)
				(void)kvmhost_bus_write(pio, addr, buf, len);
			else
				(void)kvmhost_bus_read(pio, addr, buf, len);
			break;
		case 1:
		case 2: {
			uint32_t reg = a & 0xff, slot = (a >> 8) & 31, func = a >> 13, bus = (v >> 38) & 1;
			struct fn *f;

			if (kind == 1) {
				uint32_t ca = 0x80000000u | bus << 16 | slot << 11 | func << 8 | (reg & 0xfc);

				if (len > 4)
					len = 4;
				if ((reg & 3) + len > 4)
					len = 1;
				(void)kvmhost_bus_write(pio, 0xcf8, &ca, 4);
				if (wr)
					(void)kvmhost_bus_write(pio, 0xcfc + (reg & 3), buf, len);
				else
					(void)kvmhost_bus_read(pio, 0xcfc + (reg & 3), buf, len);
			} else {
				bus = 0;
				reg |= (uint32_t)((v >> 32) & 0xf) << 8;
				addr = ECAM_BASE + ((uint64_t)slot << 15 | func << 12 | reg);
				if (wr)
					(void)kvmhost_bus_write(ecam, addr, buf, len);
				else
					(void)kvmhost_bus_read(ecam, addr, buf, len);
				if (len > 4 || (reg & 3) + len > 4) {
					if (!wr)
						for (uint32_t b = 0; b < len; b++)
							check(buf[b] == 0xff);
					break;
				}
			}
			f = target(bus, slot, func);
			if (!wr) {
				check_config_read(bus, slot, func, reg, buf, len);
			} else if (f) {
				remap_fn = (int)(f - fns);
				if (reg >= KVMHOST_PCI_BAR0 && reg < KVMHOST_PCI_BAR0 + 24 && len == 4 &&
				    (uint32_t)v == 0xffffffffu)
					check_sizing(f, reg);
				if (!(reg < KVMHOST_PCI_BAR0 + 24 && reg + len > KVMHOST_PCI_BAR0) &&
				    !((cfg_get16(f, KVMHOST_PCI_COMMAND) ^ cmd_before[remap_fn]) & 3))
					remap_fn = -1; /* neither a BAR nor the decode bits: nothing remapped */
			}
			break;
		}
		case 3: {
			int d = (int)((v >> 32) & 3);
			uint32_t k = (uint32_t)((v >> 34) & 7) % 6;
			struct fn *f = &fns[d == 3 ? 0 : d];
			uint64_t at;

			if (!f->bars[k].len || kvmhost_pci_device_bar_address(f->pdev, k, &at) != 1)
				break;
			addr = at + (a & 0x7fff);
			if (f->bars[k].type == KVMHOST_PCI_BAR_IO) {
				if (len > 4)
					len = 4;
				if (wr)
					(void)kvmhost_bus_write(pio, addr, buf, len);
				else
					(void)kvmhost_bus_read(pio, addr, buf, len);
			} else if (wr) {
				(void)kvmhost_bus_write(mmio, addr, buf, len);
			} else {
				(void)kvmhost_bus_read(mmio, addr, buf, len);
			}
			break;
		}
		case 4:
			addr = 0xe0000000ull + ((uint64_t)a << 4) + ((v >> 32) & 0xf);
			if (wr)
				(void)kvmhost_bus_write(mmio, addr, buf, len);
			else
				(void)kvmhost_bus_read(mmio, addr, buf, len);
			break;
		case 5:
			if (len > 4)
				len = 4;
			addr = IO_BASE + (a & 0x3fff);
			if (wr)
				(void)kvmhost_bus_write(pio, addr, buf, len);
			else
				(void)kvmhost_bus_read(pio, addr, buf, len);
			break;
		case 6:
			switch (a & 7) {
			case 0:
			case 1:
				check(kvmhost_pci_device_set_intx(fns[0].pdev, a & 1) == 0);
				break;
			case 2:
				(void)kvmhost_virtio_device_config_changed(vdev);
				break;
			case 3:
				(void)kvmhost_virtio_device_notify_used(vdev, (uint16_t)(v & 1));
				break;
			case 4:
				if (gen_plugged) {
					check(kvmhost_pci_host_remove_device(host, fns[0].pdev) == 0);
					gen_plugged = 0;
				}
				break;
			case 5:
				if (!gen_plugged) {
					int s = (int)(v & 31), got;

					got = kvmhost_pci_host_add_device(host, fns[0].pdev, s >= 1 ? s : -1);
					check(got > 0 || got == -EBUSY || got == -ENOSPC);
					gen_plugged = got > 0;
				}
				break;
			default:
				break;
			}
			break;
		default: {
			uint64_t at;

			if (kvmhost_pci_device_bar_address(fns[1].pdev, VIRTIO_BAR, &at) != 1)
				break;
			addr = at + (a & 0x800 ? MSIX_PBA : MSIX_TABLE) + (a & 0x7ff);
			if (wr)
				(void)kvmhost_bus_write(mmio, addr, buf, len);
			else
				(void)kvmhost_bus_read(mmio, addr, buf, len);
			break;
		}
		}
		for (int d = 0; d < NDEV; d++)
			check_function(d, d == remap_fn);
		check_msix(i + 16 > size);
	}
	teardown();
	return 0;
}
