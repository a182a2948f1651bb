/*
 * Unit tests of the PCI host bridge and device model (pci.h) and of the
 * virtio-pci transport (virtio/pci.h), no KVM: a host on standalone port
 * and MMIO buses, a fake virtio device (unit/virtio_transport_fake.h)
 * behind the transport, and the test acting as firmware/Linux: type-1
 * probing and enumeration through 0xCF8/0xCFC (and ECAM), capability list
 * walking, BAR sizing and moving (the BAR's bus range follows), the virtio
 * init sequence through the common configuration, MSI-X table programming,
 * entry and function masking with pending bits, INTx fallback through the
 * ISR, the PCI_CFG window, a generic device with I/O and memory BARs, and
 * every malformed access staying harmless. Bad arguments to every public
 * function give a negative errno and a message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <linux/kvm.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/pci.h>
#include <kvmhost/virtio/pci.h>
#include <kvmhost/virtio/wiring.h>
#include "unit/virtio_transport_fake.h"

#define C(x)	  KVMHOST_VIRTIO_PCI_COMMON_##x
#define S_ACK	  KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV	  KVMHOST_VIRTIO_STATUS_DRIVER
#define S_FOK	  KVMHOST_VIRTIO_STATUS_FEATURES_OK
#define S_DOK	  KVMHOST_VIRTIO_STATUS_DRIVER_OK
#define NOVEC	  KVMHOST_VIRTIO_PCI_NO_VECTOR
#define ECAM_BASE 0xb0000000ull

/* Offsets inside BAR 0 (the layout virtio/pci.h describes, also found by
 * walking the capabilities in test_capabilities). */
#define B_COMMON 0x0000u
#define B_ISR	 0x1000u
#define B_DEVICE 0x2000u
#define B_NOTIFY 0x3000u
#define B_TABLE	 0x4000u
#define B_PBA	 0x5000u

struct msi_log {
	int count;
	uint16_t vector;
	uint64_t address;
	uint32_t data;
};

struct fix {
	struct fake_dev fd;
	struct kvmhost_bus *mmio, *pio, *ecam;
	struct kvmhost_pci_host *host;
	struct kvmhost_irq_line *line;
	struct fake_line fl;
	struct msi_log msi;
	struct kvmhost_virtio_pci *vp;
	struct kvmhost_pci_device *pdev;
	int slot;
	struct vd_queue q;
};

static int msi_cb(void *opaque, uint16_t vector, uint64_t address, uint32_t data)
{
	struct msi_log *l = opaque;

	l->count++;
	l->vector = vector;
	l->address = address;
	l->data = data;
	return 0;
}

static void make_host(struct fix *f)
{
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho)};

	ho.mmio = f->mmio;
	assert_int_equal(kvmhost_pci_host_create(&ho, &f->host), 0);
	assert_int_equal(kvmhost_pci_host_attach_pio(f->host, f->pio), 0);
}

static void make_vpci(struct fix *f, uint32_t flags)
{
	struct kvmhost_virtio_pci_options o = {.size = sizeof(o)};

	o.flags = flags;
	o.intx = f->line;
	o.interrupt_line = 11;
	o.msi = msi_cb;
	o.msi_opaque = &f->msi;
	assert_int_equal(kvmhost_virtio_pci_create(f->fd.dev, &o, &f->vp), 0);
	f->pdev = kvmhost_virtio_pci_device(f->vp);
	assert_non_null(f->pdev);
	f->slot = kvmhost_pci_host_add_device(f->host, f->pdev, -1);
	assert_int_equal(f->slot, 1);
	assert_int_equal(kvmhost_pci_device_slot(f->pdev), 1);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};

	assert_non_null(f);
	assert_int_equal(fake_init(&f->fd), 0);
	assert_int_equal(kvmhost_bus_create("mmio", &f->mmio), 0);
	assert_int_equal(kvmhost_bus_create("pio", &f->pio), 0);
	assert_int_equal(kvmhost_bus_create("ecam", &f->ecam), 0);
	lo.set_level = fake_line_set;
	lo.opaque = &f->fl;
	assert_int_equal(kvmhost_irq_line_create(&lo, &f->line), 0);
	make_host(f);
	make_vpci(f, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	kvmhost_virtio_pci_destroy(f->vp);
	kvmhost_pci_host_destroy(f->host);
	assert_int_equal(kvmhost_bus_count(f->mmio), 0);
	assert_int_equal(kvmhost_bus_count(f->pio), 0);
	assert_int_equal(kvmhost_bus_count(f->ecam), 0);
	kvmhost_irq_line_destroy(f->line);
	kvmhost_bus_destroy(f->mmio);
	kvmhost_bus_destroy(f->pio);
	kvmhost_bus_destroy(f->ecam);
	fake_fini(&f->fd);
	free(f);
	return 0;
}

/* ---- port I/O and configuration space as the guest does it ---- */

static uint32_t in(struct fix *f, uint16_t port, uint32_t len)
{
	uint32_t v = 0;

	assert_int_equal(kvmhost_bus_read(f->pio, port, &v, len), 0);
	return v;
}

static void out(struct fix *f, uint16_t port, uint32_t v, uint32_t len)
{
	assert_int_equal(kvmhost_bus_write(f->pio, port, &v, len), 0);
}

static uint32_t cfg_addr(uint32_t bus, uint32_t dev, uint32_t fn, uint32_t reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cfgr_bdf(struct fix *f, uint32_t bus, uint32_t dev, uint32_t fn, uint32_t reg, uint32_t len)
{
	out(f, 0xcf8, cfg_addr(bus, dev, fn, reg), 4);
	return in(f, (uint16_t)(0xcfc + (reg & 3)), len);
}

static uint32_t cfgr(struct fix *f, uint32_t dev, uint32_t reg, uint32_t len)
{
	return cfgr_bdf(f, 0, dev, 0, reg, len);
}

static void cfgw(struct fix *f, uint32_t dev, uint32_t reg, uint32_t v, uint32_t len)
{
	out(f, 0xcf8, cfg_addr(0, dev, 0, reg), 4);
	out(f, (uint16_t)(0xcfc + (reg & 3)), v, len);
}

static uint64_t bar0(struct fix *f)
{
	return (cfgr(f, f->slot, 0x10, 4) & ~0xfull) | (uint64_t)cfgr(f, f->slot, 0x14, 4) << 32;
}

static uint64_t br(struct fix *f, uint32_t off, uint32_t len)
{
	uint64_t v = 0;

	assert_int_equal(kvmhost_bus_read(f->mmio, bar0(f) + off, &v, len), 0);
	return v;
}

static void bw(struct fix *f, uint32_t off, uint64_t v, uint32_t len)
{
	assert_int_equal(kvmhost_bus_write(f->mmio, bar0(f) + off, &v, len), 0);
}

/* Offset of the vendor capability of @type, or of capability @id when
 * @type is 0; 0 if none. */
static uint32_t find_cap(struct fix *f, uint8_t id, uint8_t type)
{
	uint32_t p = cfgr(f, f->slot, KVMHOST_PCI_CAPABILITY_LIST, 1);

	for (int n = 0; p && n < 48; n++) {
		uint8_t cid = (uint8_t)cfgr(f, f->slot, p, 1);

		if (cid == id && (type == 0 || cfgr(f, f->slot, p + 3, 1) == type))
			return p;
		p = cfgr(f, f->slot, p + 1, 1);
	}
	return 0;
}

static void msix_program(struct fix *f, uint16_t v, uint64_t addr, uint32_t data, int masked)
{
	uint32_t e = B_TABLE + 16u * v;

	bw(f, e + 0, (uint32_t)addr, 4);
	bw(f, e + 4, (uint32_t)(addr >> 32), 4);
	bw(f, e + 8, data, 4);
	bw(f, e + 12, masked ? 1 : 0, 4);
}

static void msix_control(struct fix *f, uint16_t set, uint16_t clear)
{
	uint32_t cap = find_cap(f, KVMHOST_PCI_CAP_ID_MSIX, 0);
	uint16_t ctl = (uint16_t)cfgr(f, f->slot, cap + 2, 2);

	assert_true(cap != 0);
	cfgw(f, f->slot, cap + 2, (uint16_t)((ctl | set) & ~clear), 2);
}

/* The virtio init sequence up to FEATURES_OK; returns the status read back. */
static uint8_t negotiate(struct fix *f, uint64_t want)
{
	bw(f, C(STATUS), 0, 1);
	assert_int_equal(br(f, C(STATUS), 1), 0);
	bw(f, C(STATUS), S_ACK, 1);
	bw(f, C(STATUS), S_ACK | S_DRV, 1);
	bw(f, C(DFSELECT), 0, 4);
	assert_int_equal(br(f, C(DF), 4), (uint32_t)(FAKE_F_A | FAKE_F_B));
	bw(f, C(DFSELECT), 1, 4);
	assert_int_equal(br(f, C(DF), 4), 1); /* VERSION_1 */
	bw(f, C(GFSELECT), 0, 4);
	bw(f, C(GF), (uint32_t)want, 4);
	bw(f, C(GFSELECT), 1, 4);
	bw(f, C(GF), (uint32_t)(want >> 32), 4);
	assert_int_equal(br(f, C(GF), 4), (uint32_t)(want >> 32));
	bw(f, C(STATUS), S_ACK | S_DRV | S_FOK, 1);
	return (uint8_t)br(f, C(STATUS), 1);
}

static void setup_queue(struct fix *f, uint16_t qi, uint32_t size, uint16_t vector)
{
	vd_queue_init(&f->q, &f->fd.m, 0, size);
	bw(f, C(Q_SELECT), qi, 2);
	assert_int_equal(br(f, C(Q_SIZE), 2), FAKE_QMAX);
	assert_int_equal(br(f, C(Q_ENABLE), 2), 0);
	assert_int_equal(br(f, C(Q_NOFF), 2), qi);
	bw(f, C(Q_SIZE), size, 2);
	bw(f, C(Q_MSIX), vector, 2);
	/* Linux writes 64-bit fields as two 32-bit halves. */
	bw(f, C(Q_DESC), (uint32_t)f->q.desc, 4);
	bw(f, C(Q_DESC) + 4, (uint32_t)(f->q.desc >> 32), 4);
	bw(f, C(Q_DRIVER), f->q.driver, 8);
	bw(f, C(Q_DEVICE), (uint32_t)f->q.device, 4);
	bw(f, C(Q_DEVICE) + 4, 0, 4);
	assert_int_equal(br(f, C(Q_DESC), 8), f->q.desc);
	assert_int_equal(br(f, C(Q_DRIVER), 4), f->q.driver);
	assert_int_equal(br(f, C(Q_DEVICE), 8), f->q.device);
	bw(f, C(Q_ENABLE), 1, 2);
	assert_int_equal(br(f, C(Q_ENABLE), 2), 1);
}

/* Up to DRIVER_OK with queue 0 on @qvec and config on @cvec. */
static void bring_up(struct fix *f, uint16_t cvec, uint16_t qvec)
{
	assert_int_equal(negotiate(f, FAKE_F_VERSION | FAKE_F_A), S_ACK | S_DRV | S_FOK);
	bw(f, C(MSIX), cvec, 2);
	setup_queue(f, 0, 16, qvec);
	bw(f, C(STATUS), S_ACK | S_DRV | S_FOK | S_DOK, 1);
	assert_int_equal(br(f, C(STATUS), 1), S_ACK | S_DRV | S_FOK | S_DOK);
}

static void kick(struct fix *f, uint16_t qi)
{
	struct vd_buf b[2] = {{0x20000, 8, 0}, {0x21000, 16, 1}};

	vd_split_add(&f->q, b, 2);
	bw(f, B_NOTIFY + 4u * qi, qi, 2);
}

/* ---- enumeration ---- */

static void test_enumeration(void **state)
{
	struct fix *f = *state;
	uint32_t tmp;

	/* Linux's pci_check_type1(). */
	out(f, 0xcfb, 0x01, 1);
	tmp = in(f, 0xcf8, 4);
	out(f, 0xcf8, 0x80000000u, 4);
	assert_int_equal(in(f, 0xcf8, 4), 0x80000000u);
	out(f, 0xcf8, tmp, 4);
	/* Partial accesses to CONFIG_ADDRESS are ignored. */
	out(f, 0xcf8, cfg_addr(0, 1, 0, 0), 4);
	out(f, 0xcf8, 0, 2);
	out(f, 0xcfa, 0, 1);
	assert_int_equal(in(f, 0xcf8, 4), cfg_addr(0, 1, 0, 0));
	assert_int_equal(in(f, 0xcf8, 1), 0xff);
	assert_int_equal(in(f, 0xcf9, 2), 0xffff);

	/* The host bridge, which pci_sanity_check() looks for. */
	assert_int_equal(cfgr(f, 0, 0x00, 4), 0x00081b36);
	assert_int_equal(cfgr(f, 0, KVMHOST_PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(cfgr(f, 0, KVMHOST_PCI_HEADER_TYPE, 1), 0);

	/* A scan of bus 0 finds exactly slots 0 and 1. */
	for (uint32_t d = 0; d < 32; d++) {
		uint32_t id = cfgr(f, d, 0, 4);

		if (d <= 1)
			assert_true(id != 0xffffffffu);
		else
			assert_int_equal(id, 0xffffffffu);
		/* No multi-function devices, no other buses. */
		assert_int_equal(cfgr_bdf(f, 0, d, 3, 0, 4), 0xffffffffu);
		assert_int_equal(cfgr_bdf(f, 1, d, 0, 0, 4), 0xffffffffu);
	}

	/* The virtio function. */
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_DEVICE_ID, 2), 0x1040 + FAKE_ID);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_VENDOR_ID + 1, 1), 0x1a); /* byte inside the dword */
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_REVISION_ID, 1), 1);
	assert_int_equal(cfgr(f, 1, 0x08, 4) >> 8, 0xff0000);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_SUBSYSTEM_ID, 2), 0x1100);
	assert_true(cfgr(f, 1, KVMHOST_PCI_SUBSYSTEM_ID, 2) >= 0x40);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_INTERRUPT_LINE, 1), 11);
	assert_true(cfgr(f, 1, KVMHOST_PCI_STATUS, 2) & KVMHOST_PCI_STATUS_CAP_LIST);
	assert_true(cfgr(f, 1, KVMHOST_PCI_COMMAND, 2) & KVMHOST_PCI_COMMAND_MEMORY); /* firmware enabled it */

	/* Without the enable bit: all ones, writes dropped. */
	out(f, 0xcf8, cfg_addr(0, 1, 0, KVMHOST_PCI_INTERRUPT_LINE) & ~0x80000000u, 4);
	assert_int_equal(in(f, 0xcfc, 4), 0xffffffffu);
	out(f, 0xcfc, 0, 4);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_INTERRUPT_LINE, 1), 11);
	/* Writes to absent devices go nowhere. */
	cfgw(f, 7, KVMHOST_PCI_COMMAND, 0xffff, 2);
	assert_int_equal(cfgr(f, 7, KVMHOST_PCI_COMMAND, 2), 0xffff);
	/* Read-only header fields stay; the writable ones take writes. */
	cfgw(f, 1, 0, 0x12345678, 4);
	assert_int_equal(cfgr(f, 1, 0, 4), 0x10441af4);
	cfgw(f, 1, KVMHOST_PCI_INTERRUPT_LINE, 5, 1);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_INTERRUPT_LINE, 1), 5);
	cfgw(f, 1, KVMHOST_PCI_INTERRUPT_PIN, 3, 1);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_INTERRUPT_PIN, 1), 1);
	cfgw(f, 1, KVMHOST_PCI_CACHE_LINE_SIZE, 0x10, 1);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_CACHE_LINE_SIZE, 1), 0x10);
	/* No expansion ROM. */
	cfgw(f, 1, KVMHOST_PCI_ROM_ADDRESS, 0xffffffffu, 4);
	assert_int_equal(cfgr(f, 1, KVMHOST_PCI_ROM_ADDRESS, 4), 0);
}

static void test_capabilities(void **state)
{
	struct fix *f = *state;
	static const struct {
		uint8_t type;
		uint32_t off, len;
		uint8_t cap_len;
	} want[] = {
	    {KVMHOST_VIRTIO_PCI_CAP_COMMON_CFG, B_COMMON, 0x38, 16},
	    {KVMHOST_VIRTIO_PCI_CAP_NOTIFY_CFG, B_NOTIFY, 4 * FAKE_QUEUES, 20},
	    {KVMHOST_VIRTIO_PCI_CAP_ISR_CFG, B_ISR, 1, 16},
	    {KVMHOST_VIRTIO_PCI_CAP_DEVICE_CFG, B_DEVICE, FAKE_CFG_SIZE, 16},
	    {KVMHOST_VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 20},
	};
	uint32_t p, msix, n = 0;

	/* Walk the whole list: every pointer is dword aligned, past the header, and it ends. */
	for (p = cfgr(f, 1, KVMHOST_PCI_CAPABILITY_LIST, 1); p; p = cfgr(f, 1, p + 1, 1)) {
		assert_true(p >= 0x40 && p < 0x100 && (p & 3) == 0);
		assert_true(++n < 16);
	}
	assert_int_equal(n, 6);
	for (uint32_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		p = find_cap(f, KVMHOST_PCI_CAP_ID_VNDR, want[i].type);
		assert_true(p != 0);
		assert_int_equal(cfgr(f, 1, p + 2, 1), want[i].cap_len);
		assert_int_equal(cfgr(f, 1, p + 4, 1), 0); /* bar */
		assert_int_equal(cfgr(f, 1, p + 8, 4), want[i].off);
		assert_int_equal(cfgr(f, 1, p + 12, 4), want[i].len);
		if (want[i].type == KVMHOST_VIRTIO_PCI_CAP_NOTIFY_CFG)
			assert_int_equal(cfgr(f, 1, p + 16, 4), 4); /* notify_off_multiplier */
	}
	/* Read-only: a guest write to a capability changes nothing. */
	p = find_cap(f, KVMHOST_PCI_CAP_ID_VNDR, KVMHOST_VIRTIO_PCI_CAP_COMMON_CFG);
	cfgw(f, 1, p + 8, 0x1234, 4);
	cfgw(f, 1, p, 0xffff, 2);
	assert_int_equal(cfgr(f, 1, p + 8, 4), 0);
	assert_int_equal(cfgr(f, 1, p, 1), KVMHOST_PCI_CAP_ID_VNDR);
	/* MSI-X: 3 vectors (2 queues + config), table and PBA in BAR 0. */
	msix = find_cap(f, KVMHOST_PCI_CAP_ID_MSIX, 0);
	assert_true(msix != 0);
	assert_int_equal(cfgr(f, 1, msix + 2, 2), 2); /* Table Size is N - 1; disabled, unmasked */
	assert_int_equal(cfgr(f, 1, msix + 4, 4), B_TABLE | 0);
	assert_int_equal(cfgr(f, 1, msix + 8, 4), B_PBA | 0);
	/* Only Enable and Function Mask are writable. */
	cfgw(f, 1, msix + 2, 0xffff, 2);
	assert_int_equal(cfgr(f, 1, msix + 2, 2), 0xc002);
	cfgw(f, 1, msix + 2, 0, 2);
	assert_int_equal(cfgr(f, 1, msix + 2, 2), 2);
	/* Beyond the list: plain zeros. */
	assert_int_equal(cfgr(f, 1, 0xfc, 4), 0);
}

/* ---- BARs ---- */

static void test_bar_sizing_and_moving(void **state)
{
	struct fix *f = *state;
	uint64_t addr = 0, v = 0;
	uint16_t cmd;

	/* Placed by the host like firmware: 64-bit BAR in the 32-bit hole. */
	assert_int_equal(cfgr(f, 1, 0x10, 4) & 0xf, 0x4);
	assert_int_equal(bar0(f), 0xe0000000ull);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &addr), 1);
	assert_int_equal(addr, 0xe0000000ull);
	assert_int_equal(br(f, C(NUMQ), 2), FAKE_QUEUES);

	/* Linux's __pci_read_base(): decode off, all ones, read the mask, restore. */
	cmd = (uint16_t)cfgr(f, 1, KVMHOST_PCI_COMMAND, 2);
	cfgw(f, 1, KVMHOST_PCI_COMMAND, cmd & ~(KVMHOST_PCI_COMMAND_MEMORY | KVMHOST_PCI_COMMAND_IO), 2);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &addr), 0);
	assert_int_equal(addr, KVMHOST_PCI_BAR_UNMAPPED);
	assert_int_equal(kvmhost_bus_read(f->mmio, 0xe0000000ull, &v, 4), KVMHOST_BUS_UNCLAIMED);
	cfgw(f, 1, 0x10, 0xffffffffu, 4);
	cfgw(f, 1, 0x14, 0xffffffffu, 4);
	assert_int_equal(cfgr(f, 1, 0x10, 4), 0xffff8004u); /* 32 KiB, 64-bit, not prefetchable */
	assert_int_equal(cfgr(f, 1, 0x14, 4), 0xffffffffu);
	/* Unimplemented BARs are hardwired to 0. */
	for (uint32_t reg = 0x18; reg < 0x28; reg += 4) {
		cfgw(f, 1, reg, 0xffffffffu, 4);
		assert_int_equal(cfgr(f, 1, reg, 4), 0);
	}
	/* Move it above 4 GiB and turn decoding back on. */
	cfgw(f, 1, 0x10, 0xe1000000u, 4);
	cfgw(f, 1, 0x14, 0x1, 4);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &addr), 0);
	cfgw(f, 1, KVMHOST_PCI_COMMAND, cmd, 2);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &addr), 1);
	assert_int_equal(addr, 0x1e1000000ull);
	assert_int_equal(bar0(f), 0x1e1000000ull);
	assert_int_equal(br(f, C(NUMQ), 2), FAKE_QUEUES);
	assert_int_equal(kvmhost_bus_read(f->mmio, 0xe0000000ull, &v, 4), KVMHOST_BUS_UNCLAIMED);
	/* Moving with decoding on moves the range at once (low dword first). */
	cfgw(f, 1, 0x14, 0, 4);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &addr), 1);
	assert_int_equal(addr, 0xe1000000ull);
	/* An unaligned address is truncated to the size. */
	cfgw(f, 1, 0x10, 0xe2001234u, 4);
	assert_int_equal(bar0(f), 0xe2000000ull);
	assert_int_equal(br(f, C(NUMQ), 2), FAKE_QUEUES);
	/* Byte writes into a BAR merge with what is there. */
	cfgw(f, 1, 0x13, 0xe3, 1);
	assert_int_equal(bar0(f), 0xe3000000ull);
	assert_int_equal(br(f, C(NUMQ), 2), FAKE_QUEUES);
	/* Address 0 counts as unmapped. */
	cfgw(f, 1, 0x10, 0, 4);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &addr), 0);
	cfgw(f, 1, 0x10, 0xe0000000u, 4);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &addr), 1);
}

/* ---- virtio-pci with MSI-X ---- */

static void test_virtio_msix(void **state)
{
	struct fix *f = *state;
	uint32_t id, len;

	f->fd.serve = 1;
	/* Linux: enable MSI-X with the function masked, program, unmask. */
	msix_control(f, 0xc000, 0);
	for (uint16_t v = 0; v < 3; v++)
		msix_program(f, v, 0xfee00000ull, 0x40 + v, 0);
	msix_control(f, 0, 0x4000);
	assert_int_equal(br(f, B_TABLE + 16 + 8, 4), 0x41);
	assert_int_equal(br(f, B_TABLE + 16, 8), 0xfee00000ull);
	assert_int_equal(br(f, B_TABLE + 12, 4), 0);

	assert_int_equal(negotiate(f, FAKE_F_VERSION | FAKE_F_A), S_ACK | S_DRV | S_FOK);
	/* Vectors: a table entry is accepted; anything else reads NO_VECTOR. */
	bw(f, C(MSIX), 7, 2);
	assert_int_equal(br(f, C(MSIX), 2), NOVEC);
	bw(f, C(MSIX), 0, 2);
	assert_int_equal(br(f, C(MSIX), 2), 0);
	setup_queue(f, 0, 16, 1);
	assert_int_equal(br(f, C(Q_MSIX), 2), 1);
	bw(f, C(Q_SELECT), 5, 2); /* no such queue */
	assert_int_equal(br(f, C(Q_SIZE), 2), 0);
	assert_int_equal(br(f, C(Q_MSIX), 2), NOVEC);
	bw(f, C(Q_MSIX), 1, 2);
	bw(f, C(Q_SIZE), 8, 2);
	bw(f, C(Q_ENABLE), 1, 2);
	assert_int_equal(br(f, C(Q_ENABLE), 2), 0);
	bw(f, C(STATUS), S_ACK | S_DRV | S_FOK | S_DOK, 1);
	assert_int_equal(f->fd.activated, 1);

	/* Kick -> the device serves it -> MSI-X vector 1. */
	kick(f, 0);
	assert_int_equal(atomic_load(&f->fd.notifies[0]), 1);
	assert_int_equal(f->msi.count, 1);
	assert_int_equal(f->msi.vector, 1);
	assert_int_equal(f->msi.address, 0xfee00000ull);
	assert_int_equal(f->msi.data, 0x41);
	assert_int_equal(vd_split_get_used(&f->q, &id, &len), 1);
	assert_int_equal(len, 4);
	/* With MSI-X on, the ISR's queue bit stays clear and INTx low. */
	assert_int_equal(atomic_load(&f->fl.level), 0);
	assert_int_equal(br(f, B_ISR, 1), 0);

	/* Entry mask: the vector waits in the PBA, and goes when unmasked. */
	bw(f, B_TABLE + 16 + 12, 1, 4);
	kick(f, 0);
	assert_int_equal(f->msi.count, 1);
	assert_int_equal(br(f, B_PBA, 8), 0x2);
	bw(f, B_TABLE + 16 + 12, 0, 4);
	assert_int_equal(f->msi.count, 2);
	assert_int_equal(f->msi.vector, 1);
	assert_int_equal(br(f, B_PBA, 4), 0);
	/* Function mask likewise. */
	msix_control(f, 0x4000, 0);
	kick(f, 0);
	assert_int_equal(f->msi.count, 2);
	assert_int_equal(br(f, B_PBA, 4), 0x2);
	msix_control(f, 0, 0x4000);
	assert_int_equal(f->msi.count, 3);
	assert_int_equal(br(f, B_PBA, 4), 0);
	/* The entry's new address and data are used. */
	msix_program(f, 1, 0xfee01000ull, 0x51, 0);
	kick(f, 0);
	assert_int_equal(f->msi.count, 4);
	assert_int_equal(f->msi.address, 0xfee01000ull);
	assert_int_equal(f->msi.data, 0x51);

	/* Config change: vector 0, and the ISR's config bit. */
	assert_int_equal(kvmhost_virtio_device_config_changed(f->fd.dev), 0);
	assert_int_equal(f->msi.count, 5);
	assert_int_equal(f->msi.vector, 0);
	assert_int_equal(br(f, C(CFGGENERATION), 1), 1);
	assert_int_equal(br(f, B_ISR, 1), KVMHOST_VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(br(f, B_ISR, 1), 0); /* read-to-clear */

	/* NO_VECTOR: no interrupt at all. */
	bw(f, C(Q_SELECT), 0, 2);
	bw(f, C(Q_MSIX), NOVEC, 2);
	kick(f, 0);
	assert_int_equal(f->msi.count, 5);
	assert_int_equal(atomic_load(&f->fl.level), 0);

	/* The PBA is read-only; table accesses must be 4 or 8 bytes, aligned. */
	uint64_t bad = kvmhost_virtio_pci_bad_accesses(f->vp);
	bw(f, B_PBA, 0xff, 4);
	bw(f, B_TABLE + 2, 0xffff, 2);
	bw(f, B_TABLE + 4, 0, 8); /* misaligned 8 */
	assert_int_equal(br(f, B_TABLE + 2, 2), 0xffff);
	assert_int_equal(br(f, B_TABLE + 8, 1), 0xff);
	assert_int_equal(br(f, B_TABLE + 16 * 3, 4), 0xffffffffu); /* past the table */
	assert_int_equal(kvmhost_virtio_pci_bad_accesses(f->vp), bad + 2);
	assert_int_equal(br(f, B_TABLE, 4), 0xfee00000u);
	/* Reserved Vector Control bits read 0. */
	bw(f, B_TABLE + 12, 0xfffffffe, 4);
	assert_int_equal(br(f, B_TABLE + 12, 4), 0);

	/* Reset returns the vectors to NO_VECTOR; MSI-X off means INTx. */
	bw(f, C(STATUS), 0, 1);
	assert_int_equal(br(f, C(MSIX), 2), NOVEC);
	assert_int_equal(br(f, C(Q_MSIX), 2), NOVEC);
	msix_control(f, 0, 0x8000);
	bring_up(f, NOVEC, NOVEC);
	kick(f, 0);
	assert_int_equal(f->msi.count, 5);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	assert_int_equal(br(f, B_ISR, 1), KVMHOST_VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(atomic_load(&f->fl.level), 0);
}

static void test_intx(void **state)
{
	struct fix *f = *state;

	f->fd.serve = 1;
	bring_up(f, NOVEC, NOVEC);
	kick(f, 0);
	assert_int_equal(f->msi.count, 0);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	assert_true(cfgr(f, 1, KVMHOST_PCI_STATUS, 2) & KVMHOST_PCI_STATUS_INTERRUPT);
	/* INTx disable: the line drops, the status bit stays. */
	uint16_t cmd = (uint16_t)cfgr(f, 1, KVMHOST_PCI_COMMAND, 2);
	cfgw(f, 1, KVMHOST_PCI_COMMAND, cmd | KVMHOST_PCI_COMMAND_INTX_DISABLE, 2);
	assert_int_equal(atomic_load(&f->fl.level), 0);
	assert_true(cfgr(f, 1, KVMHOST_PCI_STATUS, 2) & KVMHOST_PCI_STATUS_INTERRUPT);
	cfgw(f, 1, KVMHOST_PCI_COMMAND, cmd, 2);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	/* Reading the ISR deasserts. */
	assert_int_equal(br(f, B_ISR, 4), KVMHOST_VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(atomic_load(&f->fl.level), 0);
	assert_false(cfgr(f, 1, KVMHOST_PCI_STATUS, 2) & KVMHOST_PCI_STATUS_INTERRUPT);
	/* Config change: ISR bit 1. */
	assert_int_equal(kvmhost_virtio_device_config_changed(f->fd.dev), 0);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	/* Enabling MSI-X turns INTx off. */
	msix_control(f, 0x8000, 0);
	assert_int_equal(atomic_load(&f->fl.level), 0);
	assert_int_equal(br(f, B_ISR, 1), KVMHOST_VIRTIO_PCI_ISR_CONFIG);
	msix_control(f, 0, 0x8000);
	/* Status 0 clears the ISR and the line too. */
	kick(f, 0);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	bw(f, C(STATUS), 0, 1);
	assert_int_equal(atomic_load(&f->fl.level), 0);
	assert_int_equal(br(f, B_ISR, 1), 0);
}

static void test_no_msix(void **state)
{
	struct fix *f = *state;

	kvmhost_virtio_pci_destroy(f->vp);
	assert_int_equal(kvmhost_bus_count(f->mmio), 0);
	make_vpci(f, KVMHOST_VIRTIO_PCI_NO_MSIX);
	assert_int_equal(find_cap(f, KVMHOST_PCI_CAP_ID_MSIX, 0), 0);
	assert_true(find_cap(f, KVMHOST_PCI_CAP_ID_VNDR, KVMHOST_VIRTIO_PCI_CAP_COMMON_CFG) != 0);
	/* 16 KiB BAR without the table. */
	cfgw(f, 1, KVMHOST_PCI_COMMAND, 0, 2);
	cfgw(f, 1, 0x10, 0xffffffffu, 4);
	assert_int_equal(cfgr(f, 1, 0x10, 4), 0xffffc004u);
	cfgw(f, 1, 0x10, 0xe0100000u, 4);
	cfgw(f, 1, KVMHOST_PCI_COMMAND, KVMHOST_PCI_COMMAND_MEMORY, 2);
	f->fd.serve = 1;
	assert_int_equal(negotiate(f, FAKE_F_VERSION), S_ACK | S_DRV | S_FOK);
	bw(f, C(MSIX), 0, 2);
	assert_int_equal(br(f, C(MSIX), 2), NOVEC);
	setup_queue(f, 0, 8, 0);
	assert_int_equal(br(f, C(Q_MSIX), 2), NOVEC);
	bw(f, C(STATUS), S_ACK | S_DRV | S_FOK | S_DOK, 1);
	kick(f, 0);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	/* The BAR ends where the MSI-X table would start. */
	{
		uint32_t v = 0;

		assert_int_equal(kvmhost_bus_read(f->mmio, bar0(f) + B_TABLE, &v, 4), KVMHOST_BUS_UNCLAIMED);
	}
	assert_int_equal(br(f, B_ISR, 1), KVMHOST_VIRTIO_PCI_ISR_QUEUE);
}

static void test_pci_cfg_window(void **state)
{
	struct fix *f = *state;
	uint32_t p = find_cap(f, KVMHOST_PCI_CAP_ID_VNDR, KVMHOST_VIRTIO_PCI_CAP_PCI_CFG);

	assert_true(p != 0);
	/* Read num_queues (16 bits at common + 0x12) through configuration space. */
	cfgw(f, 1, p + 4, 0, 1);
	cfgw(f, 1, p + 8, B_COMMON + C(NUMQ), 4);
	cfgw(f, 1, p + 12, 2, 4);
	assert_int_equal(cfgr(f, 1, p + 16, 4) & 0xffff, FAKE_QUEUES);
	assert_int_equal(cfgr(f, 1, p + 16, 2), FAKE_QUEUES);
	/* Write queue_select through it. */
	cfgw(f, 1, p + 8, B_COMMON + C(Q_SELECT), 4);
	cfgw(f, 1, p + 16, 1, 4);
	assert_int_equal(br(f, C(Q_SELECT), 2), 1);
	/* A device config byte. */
	cfgw(f, 1, p + 8, B_DEVICE + 3, 4);
	cfgw(f, 1, p + 12, 1, 4);
	assert_int_equal(cfgr(f, 1, p + 16, 1), 0x13);
	/* Bad windows (other BAR, odd length, misaligned, outside the BAR):
	 * nothing reaches the BAR. */
	cfgw(f, 1, p + 4, 2, 1);
	cfgw(f, 1, p + 16, 0xaa, 4);
	cfgw(f, 1, p + 4, 0, 1);
	cfgw(f, 1, p + 12, 3, 4);
	cfgw(f, 1, p + 16, 0xbb, 4);
	cfgw(f, 1, p + 12, 2, 4);
	cfgw(f, 1, p + 8, B_COMMON + C(Q_SELECT) + 1, 4);
	cfgw(f, 1, p + 16, 0xcc, 4);
	cfgw(f, 1, p + 8, 0x7fffffff, 4);
	(void)cfgr(f, 1, p + 16, 4);
	cfgw(f, 1, p + 16, 0xdd, 4);
	assert_int_equal(br(f, C(Q_SELECT), 2), 1);
	/* The cap's own type, length and next pointer stay read-only. */
	cfgw(f, 1, p, 0xffffffffu, 4);
	assert_int_equal(cfgr(f, 1, p + 2, 2), 20 | KVMHOST_VIRTIO_PCI_CAP_PCI_CFG << 8);
}

static void test_bad_bar_accesses(void **state)
{
	struct fix *f = *state;
	uint64_t bad = kvmhost_virtio_pci_bad_accesses(f->vp);

	/* Wrong widths for common config fields: ignored and counted. */
	bw(f, C(Q_SELECT), 1, 1);
	bw(f, C(Q_SELECT), 1, 4);
	bw(f, C(STATUS), S_ACK, 2);
	bw(f, C(DFSELECT) + 1, 1, 2);
	bw(f, C(Q_DESC) + 2, 1, 4);
	assert_int_equal(kvmhost_virtio_pci_bad_accesses(f->vp), bad + 5);
	assert_int_equal(br(f, C(Q_SELECT), 2), 0);
	assert_int_equal(br(f, C(STATUS), 1), 0);
	/* Reads of any width inside the structure are fine; across its end not. */
	assert_int_equal(br(f, C(NUMQ), 1), FAKE_QUEUES);
	assert_int_equal(br(f, C(NUMQ) - 2, 4), FAKE_QUEUES << 16 | NOVEC);
	assert_int_equal(br(f, 0x34, 8), UINT64_MAX);
	/* Read-only fields drop writes. */
	bw(f, C(NUMQ), 9, 2);
	bw(f, C(DF), 0, 4);
	bw(f, C(Q_NOFF), 3, 2);
	bw(f, C(CFGGENERATION), 3, 1);
	assert_int_equal(br(f, C(NUMQ), 2), FAKE_QUEUES);
	/* Holes and areas past their structures: all ones; writes dropped. */
	assert_int_equal(br(f, 0x38, 4), 0xffffffffu);
	assert_int_equal(br(f, B_ISR + 1, 1), 0xff);
	assert_int_equal(br(f, B_DEVICE + FAKE_CFG_SIZE, 1), 0xff);
	assert_int_equal(br(f, B_DEVICE + FAKE_CFG_SIZE - 2, 4), 0xffffffffu);
	assert_int_equal(br(f, B_NOTIFY + 4 * FAKE_QUEUES, 2), 0xffff);
	assert_int_equal(br(f, B_NOTIFY, 2), 0);
	assert_int_equal(br(f, B_PBA + 8, 4), 0xffffffffu);
	assert_int_equal(br(f, 0x7ff8, 8), UINT64_MAX);
	/* A notify write spilling into the next slot is refused. */
	bad = kvmhost_virtio_pci_bad_accesses(f->vp);
	bw(f, B_NOTIFY + 2, 0, 4);
	assert_int_equal(kvmhost_virtio_pci_bad_accesses(f->vp), bad + 1);
	/* Device config: any width inside. */
	assert_int_equal(br(f, B_DEVICE + 4, 4), 0x17161514);
	bw(f, B_DEVICE + 8, 0x01020304, 4);
	assert_int_equal(br(f, B_DEVICE + 8, 4), 0x01020304);
	bw(f, B_DEVICE + 14, 0xffffffff, 4); /* straddles the end */
	assert_int_equal(br(f, B_DEVICE + 12, 4), 0);
	/* Sweep the BAR with every width: nothing crashes. */
	for (uint32_t off = 0; off < 0x8000; off += 2) {
		for (uint32_t len = 1; len <= 8; len *= 2) {
			uint64_t v = 0;

			if (off + len > 0x8000)
				continue;
			assert_int_equal(kvmhost_bus_read(f->mmio, 0xe0000000ull + off, &v, len), 0);
			if (off == C(STATUS))
				continue; /* a reset would only reset */
			assert_int_equal(kvmhost_bus_write(f->mmio, 0xe0000000ull + off, &v, len), 0);
		}
	}
}

static void test_ecam(void **state)
{
	struct fix *f = *state;
	uint32_t v;
	uint64_t addr;

	assert_int_equal(kvmhost_pci_host_attach_ecam(f->host, f->mmio, ECAM_BASE), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "ECAM"));
	assert_int_equal(kvmhost_pci_host_attach_ecam(f->host, f->ecam, ECAM_BASE + 0x1000), -EINVAL);
	assert_int_equal(kvmhost_pci_host_attach_ecam(f->host, f->ecam, ECAM_BASE), 0);
	assert_int_equal(kvmhost_pci_host_attach_ecam(f->host, f->ecam, ECAM_BASE), -EBUSY);
#define ECAM(dev, fn, reg) (ECAM_BASE + ((uint64_t)(dev) << 15) + ((uint64_t)(fn) << 12) + (reg))
	assert_int_equal(kvmhost_bus_read(f->ecam, ECAM(1, 0, 0), &v, 4), 0);
	assert_int_equal(v, 0x10441af4);
	assert_int_equal(kvmhost_bus_read(f->ecam, ECAM(0, 0, 0xa), &v, 2), 0);
	assert_int_equal(v & 0xffff, 0x0600);
	assert_int_equal(kvmhost_bus_read(f->ecam, ECAM(2, 0, 0), &v, 4), 0);
	assert_int_equal(v, 0xffffffffu);
	assert_int_equal(kvmhost_bus_read(f->ecam, ECAM(1, 1, 0), &v, 4), 0);
	assert_int_equal(v, 0xffffffffu);
	/* Extended configuration space reads 0 (no extended capabilities). */
	assert_int_equal(kvmhost_bus_read(f->ecam, ECAM(1, 0, 0x100), &v, 4), 0);
	assert_int_equal(v, 0);
	/* Misaligned or 8-byte accesses are ignored. */
	uint64_t q = 0;
	assert_int_equal(kvmhost_bus_read(f->ecam, ECAM(1, 0, 0), &q, 8), 0);
	assert_int_equal(q, UINT64_MAX);
	assert_int_equal(kvmhost_bus_read(f->ecam, ECAM(1, 0, 2), &v, 4), 0);
	assert_int_equal(v, 0xffffffffu);
	v = 0;
	assert_int_equal(kvmhost_bus_write(f->ecam, ECAM(1, 0, 0x3e), &v, 4), 0);
	/* A BAR moved through ECAM (another bus than the BARs' one). */
	v = 0xe4000000u;
	assert_int_equal(kvmhost_bus_write(f->ecam, ECAM(1, 0, 0x10), &v, 4), 0);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &addr), 1);
	assert_int_equal(addr, 0xe4000000ull);
	assert_int_equal(br(f, C(NUMQ), 2), FAKE_QUEUES);
#undef ECAM
}

/* ---- a generic device ---- */

struct gen {
	uint8_t io[16];
	uint8_t mem[4096];
	int moves;
	uint32_t last_bar;
	uint64_t last_old, last_new;
	int cfg_reads, cfg_writes;
};

static int gen_io_read(void *o, uint64_t off, void *d, uint32_t len)
{
	memcpy(d, &((struct gen *)o)->io[off], len);
	return 0;
}

static int gen_io_write(void *o, uint64_t off, const void *d, uint32_t len)
{
	memcpy(&((struct gen *)o)->io[off], d, len);
	return 0;
}

static int gen_mem_read(void *o, uint64_t off, void *d, uint32_t len)
{
	memcpy(d, &((struct gen *)o)->mem[off], len);
	return 0;
}

static void gen_moved(void *o, uint32_t bar, uint64_t old, uint64_t new_addr)
{
	struct gen *g = o;

	g->moves++;
	g->last_bar = bar;
	g->last_old = old;
	g->last_new = new_addr;
}

static int gen_cfg_read(void *o, uint32_t off, void *d, uint32_t len)
{
	struct gen *g = o;

	g->cfg_reads++;
	if (off == 0x80 && len == 4)
		memcpy(d, "kvmh", 4);
	return off == 0x84 ? -EIO : 0;
}

static int gen_cfg_write(void *o, uint32_t off, const void *d, uint32_t len)
{
	(void)off;
	(void)d;
	(void)len;
	((struct gen *)o)->cfg_writes++;
	return 0;
}

static void test_generic_device(void **state)
{
	struct fix *f = *state;
	struct kvmhost_pci_device_options o = {.size = sizeof(o)};
	struct kvmhost_pci_bar_options b = {.size = sizeof(b)};
	struct kvmhost_pci_device *d = NULL;
	struct gen g = {0};
	uint8_t cap[8] = {0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0}, wm[8] = {0, 0, 0xff, 0x0f, 0, 0, 0, 0};
	uint8_t capoff = 0, buf[4];
	uint64_t addr = 0, v = 0;
	uint32_t port;

	o.vendor_id = 0x1234;
	o.device_id = 0x5678;
	o.class_code = 0x020000;
	o.interrupt_pin = 2;
	o.bar_moved = gen_moved;
	o.config_read = gen_cfg_read;
	o.config_write = gen_cfg_write;
	o.opaque = &g;
	o.name = "gen";
	assert_int_equal(kvmhost_pci_device_create(&o, &d), 0);
	b.index = 0;
	b.type = KVMHOST_PCI_BAR_IO;
	b.length = 16;
	b.read = gen_io_read;
	b.write = gen_io_write;
	b.opaque = &g;
	assert_int_equal(kvmhost_pci_device_add_bar(d, &b), 0);
	b.index = 1;
	b.type = KVMHOST_PCI_BAR_MEM32;
	b.length = 4096;
	b.flags = KVMHOST_PCI_BAR_PREFETCH;
	b.read = gen_mem_read;
	b.write = NULL;
	assert_int_equal(kvmhost_pci_device_add_bar(d, &b), 0);
	b.index = 2;
	b.type = KVMHOST_PCI_BAR_MEM64;
	b.length = 1ull << 33; /* 8 GiB: no address bits in the low dword */
	b.flags = 0;
	b.read = NULL;
	assert_int_equal(kvmhost_pci_device_add_bar(d, &b), 0);
	assert_int_equal(kvmhost_pci_device_add_capability(d, 0x42, cap, sizeof(cap), wm, &capoff), 0);
	assert_int_equal(capoff, 0x40);
	/* Not on a host yet. */
	assert_int_equal(kvmhost_pci_device_slot(d), -ENOTCONN);
	assert_int_equal(kvmhost_pci_device_bar_address(d, 1, &addr), 0);

	/* The 8 GiB BAR does not fit the 32-bit window: nothing is added. */
	assert_int_equal(kvmhost_pci_host_add_device(f->host, d, 5), -ENOSPC);
	assert_int_equal(kvmhost_pci_device_slot(d), -ENOTCONN);
	kvmhost_pci_device_destroy(d);

	/* Again without it, on a host with a 64-bit window. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(kvmhost_pci_device_create(&o, &d), 0);
	b.index = 0;
	b.type = KVMHOST_PCI_BAR_IO;
	b.length = 16;
	b.read = gen_io_read;
	b.write = gen_io_write;
	assert_int_equal(kvmhost_pci_device_add_bar(d, &b), 0);
	b.index = 1;
	b.type = KVMHOST_PCI_BAR_MEM32;
	b.length = 4096;
	b.flags = KVMHOST_PCI_BAR_PREFETCH;
	b.read = gen_mem_read;
	b.write = NULL;
	assert_int_equal(kvmhost_pci_device_add_bar(d, &b), 0);
	assert_int_equal(kvmhost_pci_device_add_capability(d, 0x42, cap, sizeof(cap), wm, &capoff), 0);
	assert_int_equal(kvmhost_pci_host_add_device(f->host, d, 5), 5);
	assert_int_equal(kvmhost_pci_device_slot(d), 5);
	assert_int_equal(g.moves, 2);

	/* IO BAR: placed at the start of the I/O window, reachable on the port bus. */
	port = cfgr(f, 5, 0x10, 4);
	assert_int_equal(port & 3, 1);
	port &= ~3u;
	assert_int_equal(port, 0xc000);
	assert_int_equal(kvmhost_pci_device_bar_address(d, 0, &addr), 1);
	assert_int_equal(addr, 0xc000);
	out(f, (uint16_t)(port + 4), 0xdeadbeef, 4);
	assert_int_equal(in(f, (uint16_t)(port + 4), 4), 0xdeadbeef);
	assert_int_equal(in(f, (uint16_t)(port + 5), 1), 0xbe);
	assert_int_equal(in(f, (uint16_t)(port + 16), 4), 0xffffffffu); /* past it, in the window */
	/* Command: I/O and memory decoding were enabled; the write mask holds. */
	assert_int_equal(cfgr(f, 5, KVMHOST_PCI_COMMAND, 2), KVMHOST_PCI_COMMAND_IO | KVMHOST_PCI_COMMAND_MEMORY);
	cfgw(f, 5, KVMHOST_PCI_COMMAND, 0xffff, 2);
	assert_int_equal(cfgr(f, 5, KVMHOST_PCI_COMMAND, 2), 0x0547);
	/* Status: read-only bits and write-1-to-clear ones take no new bits. */
	cfgw(f, 5, KVMHOST_PCI_STATUS, 0xffff, 2);
	assert_int_equal(cfgr(f, 5, KVMHOST_PCI_STATUS, 2), KVMHOST_PCI_STATUS_CAP_LIST);
	assert_int_equal(cfgr(f, 5, KVMHOST_PCI_INTERRUPT_PIN, 1), 2);
	/* Sizing: I/O BAR 16 bytes, memory BAR 4 KiB prefetchable. */
	cfgw(f, 5, KVMHOST_PCI_COMMAND, 0, 2);
	assert_int_equal(kvmhost_pci_device_bar_address(d, 0, &addr), 0);
	assert_int_equal(kvmhost_bus_read(f->pio, port, &v, 4), 0);
	assert_int_equal((uint32_t)v, 0xffffffffu);
	cfgw(f, 5, 0x10, 0xffffffffu, 4);
	assert_int_equal(cfgr(f, 5, 0x10, 4), 0xfffffff1u);
	cfgw(f, 5, 0x14, 0xffffffffu, 4);
	assert_int_equal(cfgr(f, 5, 0x14, 4), 0xfffff008u);
	/* Move the I/O BAR outside the window: it stays unmapped. */
	cfgw(f, 5, 0x10, 0x1000, 4);
	cfgw(f, 5, 0x14, 0xe8000000u, 4);
	g.moves = 0;
	cfgw(f, 5, KVMHOST_PCI_COMMAND, KVMHOST_PCI_COMMAND_IO | KVMHOST_PCI_COMMAND_MEMORY, 2);
	assert_int_equal(kvmhost_pci_device_bar_address(d, 0, &addr), 0);
	assert_int_equal(kvmhost_pci_device_bar_address(d, 1, &addr), 1);
	assert_int_equal(addr, 0xe8000000ull);
	assert_int_equal(g.moves, 1);
	assert_int_equal(g.last_bar, 1);
	assert_int_equal(g.last_old, KVMHOST_PCI_BAR_UNMAPPED);
	assert_int_equal(g.last_new, 0xe8000000ull);
	g.mem[0x10] = 0x77;
	assert_int_equal(kvmhost_bus_read(f->mmio, 0xe8000010ull, &v, 1), 0);
	assert_int_equal(v & 0xff, 0x77);
	v = 0;
	assert_int_equal(kvmhost_bus_write(f->mmio, 0xe8000010ull, &v, 1), 0); /* no write callback */
	/* Onto the virtio BAR: the ranges collide, the new one stays unmapped. */
	cfgw(f, 5, 0x14, 0xe0000000u, 4);
	assert_int_equal(kvmhost_pci_device_bar_address(d, 1, &addr), 0);
	assert_int_equal(g.last_new, KVMHOST_PCI_BAR_UNMAPPED);
	assert_int_equal(br(f, C(NUMQ), 2), FAKE_QUEUES);
	cfgw(f, 5, 0x14, 0xe8000000u, 4);
	cfgw(f, 5, 0x10, 0xc010, 4);
	assert_int_equal(kvmhost_pci_device_bar_address(d, 0, &addr), 1);
	assert_int_equal(addr, 0xc010);

	/* Its capability: the hooks run; the write mask applies. */
	assert_int_equal(cfgr(f, 5, KVMHOST_PCI_CAPABILITY_LIST, 1), 0x40);
	assert_int_equal(cfgr(f, 5, 0x40, 1), 0x42);
	assert_int_equal(cfgr(f, 5, 0x41, 1), 0);
	assert_int_equal(cfgr(f, 5, 0x40, 4), 0xbbaa0042u);
	cfgw(f, 5, 0x40, 0xffffffffu, 4);
	assert_int_equal(cfgr(f, 5, 0x40, 4), 0xbfff0042u);
	cfgw(f, 5, 0x40, 0, 4);
	assert_int_equal(cfgr(f, 5, 0x40, 4), 0xb0000042u);
	assert_int_equal(cfgr(f, 5, 0x80, 4), 0x686d766b); /* "kvmh" from the hook */
	assert_int_equal(cfgr(f, 5, 0x84, 4), 0);	   /* a hook error is logged only */
	assert_true(g.cfg_reads > 0 && g.cfg_writes > 0);
	/* The model's own view and writes. */
	assert_int_equal(kvmhost_pci_device_config_get(d, 0, buf, 4), 0);
	assert_memory_equal(buf, "\x34\x12\x78\x56", 4);
	assert_int_equal(kvmhost_pci_device_config_set(d, 0x44, "abcd", 4), 0);
	assert_int_equal(cfgr(f, 5, 0x44, 4), 0x64636261);
	/* INTx without a line: only the status bit. */
	assert_int_equal(kvmhost_pci_device_set_intx(d, 1), 0);
	assert_true(cfgr(f, 5, KVMHOST_PCI_STATUS, 2) & KVMHOST_PCI_STATUS_INTERRUPT);
	assert_int_equal(kvmhost_pci_device_set_intx(d, 0), 0);

	/* Remove: BARs unmapped, slot empty. */
	g.moves = 0;
	assert_int_equal(kvmhost_pci_host_remove_device(f->host, d), 0);
	assert_int_equal(g.moves, 2);
	assert_int_equal(cfgr(f, 5, 0, 4), 0xffffffffu);
	assert_int_equal(kvmhost_bus_read(f->mmio, 0xe8000010ull, &v, 1), KVMHOST_BUS_UNCLAIMED);
	assert_int_equal(kvmhost_pci_host_remove_device(f->host, d), -ENOENT);
	/* Back on, then destroyed while on the host. */
	assert_int_equal(kvmhost_pci_host_add_device(f->host, d, -1), 2);
	assert_int_equal(kvmhost_pci_host_add_device(f->host, d, -1), -EBUSY);
	kvmhost_pci_device_destroy(d);
	assert_int_equal(cfgr(f, 2, 0, 4), 0xffffffffu);
}

static void test_host_windows(void **state)
{
	struct fix *f = *state;
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho)};
	struct kvmhost_pci_host *h = NULL;
	struct kvmhost_pci_device_options o = {.size = sizeof(o), .vendor_id = 0x1234};
	struct kvmhost_pci_bar_options b = {.size = sizeof(b)};
	struct kvmhost_pci_device *d[3] = {0};
	struct kvmhost_bus *mm;
	uint64_t addr;

	assert_int_equal(kvmhost_bus_create("mm2", &mm), 0);
	ho.mmio = mm;
	ho.mmio32_base = 0xc0000000ull;
	ho.mmio32_size = 0x10000;
	ho.mmio64_base = 0x100000000ull;
	ho.mmio64_size = 0x100000000ull;
	assert_int_equal(kvmhost_pci_host_create(&ho, &h), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kvmhost_pci_device_create(&o, &d[i]), 0);
	/* A 64-bit BAR lands in the 64-bit window; 32-bit ones share the small window. */
	b.type = KVMHOST_PCI_BAR_MEM64;
	b.length = 1ull << 30;
	assert_int_equal(kvmhost_pci_device_add_bar(d[0], &b), 0);
	b.type = KVMHOST_PCI_BAR_MEM32;
	b.length = 0x8000;
	b.index = 2;
	assert_int_equal(kvmhost_pci_device_add_bar(d[0], &b), 0);
	assert_int_equal(kvmhost_pci_device_add_bar(d[1], &b), 0);
	assert_int_equal(kvmhost_pci_device_add_bar(d[2], &b), 0);
	assert_int_equal(kvmhost_pci_host_add_device(h, d[0], 31), 31);
	assert_int_equal(kvmhost_pci_device_bar_address(d[0], 0, &addr), 1);
	assert_int_equal(addr, 0x100000000ull);
	assert_int_equal(kvmhost_pci_device_bar_address(d[0], 1, &addr), -EINVAL); /* the upper half */
	assert_int_equal(kvmhost_pci_device_bar_address(d[0], 2, &addr), 1);
	assert_int_equal(addr, 0xc0000000ull);
	assert_int_equal(kvmhost_pci_host_add_device(h, d[1], 31), -EBUSY);
	assert_int_equal(kvmhost_pci_host_add_device(h, d[1], -1), 1);
	assert_int_equal(kvmhost_pci_device_bar_address(d[1], 2, &addr), 1);
	assert_int_equal(addr, 0xc0008000ull);
	assert_int_equal(kvmhost_pci_host_add_device(h, d[2], -1), -ENOSPC); /* window full */
	assert_int_equal(kvmhost_bus_count(mm), 3);
	/* Destroying the host takes every device off (they survive). */
	kvmhost_pci_host_destroy(h);
	assert_int_equal(kvmhost_bus_count(mm), 0);
	assert_int_equal(kvmhost_pci_device_slot(d[0]), -ENOTCONN);
	for (int i = 0; i < 3; i++)
		kvmhost_pci_device_destroy(d[i]);
	kvmhost_bus_destroy(mm);
	(void)f;
}

static void test_two_virtio_devices(void **state)
{
	struct fix *f = *state;
	struct fake_dev fd2;
	struct kvmhost_virtio_pci *vp2 = NULL;
	uint64_t a1, a2;

	assert_int_equal(fake_init(&fd2), 0);
	assert_int_equal(kvmhost_virtio_pci_create(fd2.dev, NULL, &vp2), 0);
	assert_int_equal(kvmhost_pci_host_add_device(f->host, kvmhost_virtio_pci_device(vp2), -1), 2);
	assert_int_equal(kvmhost_pci_device_bar_address(f->pdev, 0, &a1), 1);
	assert_int_equal(kvmhost_pci_device_bar_address(kvmhost_virtio_pci_device(vp2), 0, &a2), 1);
	assert_int_equal(a2, a1 + 0x8000);
	assert_int_equal(cfgr(f, 2, 0, 4), 0x10441af4);
	/* Without an msi callback a vector is dropped (and logged), nothing else. */
	kvmhost_virtio_pci_destroy(vp2);
	assert_int_equal(cfgr(f, 2, 0, 4), 0xffffffffu);
	fake_fini(&fd2);
}

static void test_bad_args(void **state)
{
	struct fix *f = *state;
	struct kvmhost_pci_device_options o = {.size = sizeof(o), .vendor_id = 1};
	struct kvmhost_pci_bar_options b = {.size = sizeof(b), .type = KVMHOST_PCI_BAR_MEM32, .length = 4096};
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho)};
	struct kvmhost_virtio_pci_options vo = {.size = sizeof(vo)};
	struct kvmhost_msi_router_options ro = {.size = sizeof(ro)};
	struct kvmhost_pci_device *d = (void *)1, *d2 = NULL;
	struct kvmhost_pci_host *h = (void *)1;
	struct kvmhost_virtio_pci *vp = (void *)1;
	struct kvmhost_msi_router *r = (void *)1;
	struct kvm_irq_routing_entry *none = NULL;
	uint8_t cap[200] = {0}, buf[8];
	uint64_t addr;
	uint32_t gsi;

#define BAD(call, err)                                                                                                 \
	do {                                                                                                           \
		int r_ = (call);                                                                                       \
		if (r_ != -(err))                                                                                      \
			print_error("%s: %d, last error %s\n", #call, r_, kvmhost_last_error());                       \
		assert_int_equal(r_, -(err));                                                                          \
		assert_true(strlen(kvmhost_last_error()) > 0);                                                         \
	} while (0)
	/* Devices. */
	BAD(kvmhost_pci_device_create(NULL, &d), EINVAL);
	assert_null(d);
	BAD(kvmhost_pci_device_create(&o, NULL), EINVAL);
	o.vendor_id = 0xffff;
	BAD(kvmhost_pci_device_create(&o, &d), EINVAL);
	o.vendor_id = 1;
	o.interrupt_pin = 5;
	BAD(kvmhost_pci_device_create(&o, &d), EINVAL);
	o.interrupt_pin = 0;
	o.class_code = 0x1000000;
	BAD(kvmhost_pci_device_create(&o, &d), EINVAL);
	o.class_code = 0;
	assert_int_equal(kvmhost_pci_device_create(&o, &d2), 0);
	BAD(kvmhost_pci_device_add_bar(NULL, &b), EINVAL);
	BAD(kvmhost_pci_device_add_bar(d2, NULL), EINVAL);
	b.index = 6;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.index = 0;
	b.type = (enum kvmhost_pci_bar_type)7;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.type = KVMHOST_PCI_BAR_MEM32;
	b.length = 4097;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.length = 8;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.length = 1ull << 32;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.type = KVMHOST_PCI_BAR_IO;
	b.length = 512;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.length = 16;
	b.flags = KVMHOST_PCI_BAR_PREFETCH;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.type = KVMHOST_PCI_BAR_MEM32;
	b.flags = 0x80;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.flags = 0;
	b.type = KVMHOST_PCI_BAR_MEM64;
	b.index = 5;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EINVAL);
	b.index = 1;
	assert_int_equal(kvmhost_pci_device_add_bar(d2, &b), 0);
	b.type = KVMHOST_PCI_BAR_MEM32;
	BAD(kvmhost_pci_device_add_bar(d2, &b), EEXIST);
	b.index = 2; /* the upper half of BAR 1 */
	BAD(kvmhost_pci_device_add_bar(d2, &b), EEXIST);
	b.index = 0;
	b.type = KVMHOST_PCI_BAR_MEM64; /* would take BAR 1 */
	BAD(kvmhost_pci_device_add_bar(d2, &b), EEXIST);
	BAD(kvmhost_pci_device_add_capability(NULL, 9, cap, 4, NULL, NULL), EINVAL);
	BAD(kvmhost_pci_device_add_capability(d2, 9, NULL, 4, NULL, NULL), EINVAL);
	BAD(kvmhost_pci_device_add_capability(d2, 9, cap, 1, NULL, NULL), EINVAL);
	BAD(kvmhost_pci_device_add_capability(d2, 9, cap, 193, NULL, NULL), EINVAL);
	assert_int_equal(kvmhost_pci_device_add_capability(d2, 9, cap, 150, NULL, NULL), 0);
	BAD(kvmhost_pci_device_add_capability(d2, 9, cap, 64, NULL, NULL), ENOSPC);
	BAD(kvmhost_pci_device_config_get(NULL, 0, buf, 4), EINVAL);
	BAD(kvmhost_pci_device_config_get(d2, 0, NULL, 4), EINVAL);
	BAD(kvmhost_pci_device_config_get(d2, 254, buf, 4), EINVAL);
	BAD(kvmhost_pci_device_config_get(d2, 256, buf, 1), EINVAL);
	BAD(kvmhost_pci_device_config_get(d2, 0, buf, 0), EINVAL);
	BAD(kvmhost_pci_device_config_set(NULL, 0x40, buf, 4), EINVAL);
	BAD(kvmhost_pci_device_config_set(d2, 0x40, NULL, 4), EINVAL);
	BAD(kvmhost_pci_device_config_set(d2, 0xfe, buf, 4), EINVAL);
	BAD(kvmhost_pci_device_config_set(d2, 0x04, buf, 2), EINVAL);
	BAD(kvmhost_pci_device_config_set(d2, 0x02, buf, 4), EINVAL);
	BAD(kvmhost_pci_device_config_set(d2, 0x24, buf, 8), EINVAL);
	BAD(kvmhost_pci_device_set_intx(NULL, 1), EINVAL);
	BAD(kvmhost_pci_device_set_intx(d2, 2), EINVAL);
	BAD(kvmhost_pci_device_bar_address(NULL, 0, &addr), EINVAL);
	BAD(kvmhost_pci_device_bar_address(d2, 0, NULL), EINVAL);
	BAD(kvmhost_pci_device_bar_address(d2, 0, &addr), EINVAL); /* no BAR 0 */
	assert_int_equal(addr, KVMHOST_PCI_BAR_UNMAPPED);
	BAD(kvmhost_pci_device_bar_address(d2, 6, &addr), EINVAL);
	BAD(kvmhost_pci_device_slot(NULL), EINVAL);
	BAD(kvmhost_pci_device_slot(d2), ENOTCONN);
	kvmhost_pci_device_destroy(NULL);

	/* Hosts. */
	BAD(kvmhost_pci_host_create(NULL, &h), EINVAL);
	assert_null(h);
	BAD(kvmhost_pci_host_create(&ho, &h), EINVAL); /* no MMIO bus */
	ho.mmio = f->mmio;
	BAD(kvmhost_pci_host_create(&ho, NULL), EINVAL);
	ho.mmio32_base = 0xe0000800ull;
	ho.mmio32_size = 0x1000;
	BAD(kvmhost_pci_host_create(&ho, &h), EINVAL);
	ho.mmio32_base = 0xfffff000ull;
	ho.mmio32_size = 0x2000;
	BAD(kvmhost_pci_host_create(&ho, &h), EINVAL); /* past 4 GiB */
	ho.mmio32_base = 0xe0000000ull;
	ho.mmio32_size = 0x1000000;
	ho.mmio64_base = 0xe0800000ull;
	ho.mmio64_size = 0x1000000;
	BAD(kvmhost_pci_host_create(&ho, &h), EINVAL); /* overlap */
	ho.mmio64_base = 0xfffffffffffff000ull;
	BAD(kvmhost_pci_host_create(&ho, &h), EINVAL); /* wraps */
	ho.mmio64_base = ho.mmio64_size = 0;
	ho.io_base = 0xf000;
	ho.io_size = 0x2000;
	BAD(kvmhost_pci_host_create(&ho, &h), EINVAL); /* past 0xffff */
	ho.io_base = 0xc00;
	ho.io_size = 0x200;
	BAD(kvmhost_pci_host_create(&ho, &h), EINVAL); /* covers 0xcf8 */
	ho.io_base = 0x1002;
	ho.io_size = 0x100;
	BAD(kvmhost_pci_host_create(&ho, &h), EINVAL); /* unaligned */
	ho.io_base = 0x1000;
	assert_int_equal(kvmhost_pci_host_create(&ho, &h), 0);
	BAD(kvmhost_pci_host_attach_pio(NULL, f->pio), EINVAL);
	BAD(kvmhost_pci_host_attach_pio(h, NULL), EINVAL);
	BAD(kvmhost_pci_host_attach_pio(h, f->mmio), EINVAL);
	BAD(kvmhost_pci_host_attach_pio(h, f->pio), EEXIST); /* 0xcf8 is the fixture host's */
	BAD(kvmhost_pci_host_attach_pio(f->host, f->pio), EBUSY);
	BAD(kvmhost_pci_host_attach_ecam(NULL, f->ecam, ECAM_BASE), EINVAL);
	BAD(kvmhost_pci_host_attach_ecam(h, NULL, ECAM_BASE), EINVAL);
	BAD(kvmhost_pci_host_attach_ecam(h, f->ecam, ECAM_BASE + 0x800), EINVAL);
	BAD(kvmhost_pci_host_add_device(NULL, d2, -1), EINVAL);
	BAD(kvmhost_pci_host_add_device(h, NULL, -1), EINVAL);
	BAD(kvmhost_pci_host_add_device(h, d2, 0), EINVAL);
	BAD(kvmhost_pci_host_add_device(h, d2, 32), EINVAL);
	BAD(kvmhost_pci_host_add_device(h, d2, -2), EINVAL);
	BAD(kvmhost_pci_host_add_device(h, f->pdev, -1), EBUSY); /* on the fixture host */
	BAD(kvmhost_pci_host_remove_device(NULL, d2), EINVAL);
	BAD(kvmhost_pci_host_remove_device(h, NULL), EINVAL);
	BAD(kvmhost_pci_host_remove_device(h, d2), ENOENT);
	BAD(kvmhost_pci_host_remove_device(h, f->pdev), ENOENT);
	assert_int_equal(kvmhost_pci_host_add_device(h, d2, 3), 3);
	BAD(kvmhost_pci_device_add_bar(d2, &b), EBUSY);
	BAD(kvmhost_pci_device_add_capability(d2, 9, cap, 4, NULL, NULL), EBUSY);
	kvmhost_pci_device_destroy(d2);
	kvmhost_pci_host_destroy(h);
	kvmhost_pci_host_destroy(NULL);
	/* 31 devices fill the bus. */
	{
		struct kvmhost_pci_device *many[32] = {0};

		h = NULL;
		ho.io_base = ho.io_size = 0;
		ho.mmio32_base = ho.mmio32_size = 0;
		assert_int_equal(kvmhost_pci_host_create(&ho, &h), 0);
		for (int i = 1; i < 32; i++) {
			assert_int_equal(kvmhost_pci_device_create(&o, &many[i]), 0);
			assert_int_equal(kvmhost_pci_host_add_device(h, many[i], -1), i);
		}
		assert_int_equal(kvmhost_pci_device_create(&o, &many[0]), 0);
		BAD(kvmhost_pci_host_add_device(h, many[0], -1), ENOSPC);
		kvmhost_pci_host_destroy(h);
		for (int i = 0; i < 32; i++)
			kvmhost_pci_device_destroy(many[i]);
	}

	/* virtio-pci. */
	BAD(kvmhost_virtio_pci_create(NULL, &vo, &vp), EINVAL);
	assert_null(vp);
	BAD(kvmhost_virtio_pci_create(f->fd.dev, &vo, NULL), EINVAL);
	vo.msix_vectors = 2049;
	BAD(kvmhost_virtio_pci_create(f->fd.dev, &vo, &vp), EINVAL);
	vo.msix_vectors = 0;
	vo.flags = 2;
	BAD(kvmhost_virtio_pci_create(f->fd.dev, &vo, &vp), EINVAL);
	vo.flags = 0;
	vo.size = 1;
	BAD(kvmhost_virtio_pci_create(f->fd.dev, &vo, &vp), EINVAL);
	{
		struct kvmhost_virtio_device_options dop = {.size = sizeof(dop)};
		struct kvmhost_virtio_device *odd = NULL;

		dop.device_id = 0xf000; /* 0x1040 + id would not fit 16 bits */
		dop.num_queues = 1;
		dop.queue_max_size = 8;
		dop.ops = &fake_ops;
		dop.opaque = &f->fd;
		assert_int_equal(kvmhost_virtio_device_create(f->fd.m.mem, &dop, &odd), 0);
		BAD(kvmhost_virtio_pci_create(odd, NULL, &vp), EINVAL);
		kvmhost_virtio_device_destroy(odd);
	}
	assert_null(kvmhost_virtio_pci_device(NULL));
	assert_int_equal(kvmhost_virtio_pci_bad_accesses(NULL), 0);
	kvmhost_virtio_pci_destroy(NULL);

	/* The MSI router checks its arguments before touching the VM. */
	BAD(kvmhost_msi_router_create(NULL, &ro, &r), EINVAL);
	assert_null(r);
	BAD(kvmhost_msi_router_create((void *)8, &ro, NULL), EINVAL);
	ro.flags = 0x10;
	BAD(kvmhost_msi_router_create((void *)8, &ro, &r), EINVAL);
	ro.flags = 0;
	ro.base_count = 1;
	ro.base = none;
	BAD(kvmhost_msi_router_create((void *)8, &ro, &r), EINVAL);
	{
		struct kvm_irq_routing_entry e = {.gsi = 30};

		ro.base = &e;
		BAD(kvmhost_msi_router_create((void *)8, &ro, &r), EINVAL); /* GSI above first_gsi */
	}
	BAD(kvmhost_msi_router_alloc(NULL, &gsi), EINVAL);
	BAD(kvmhost_msi_router_set(NULL, 24, 0xfee00000, 0), EINVAL);
	BAD(kvmhost_msi_router_clear(NULL, 24), EINVAL);
	BAD(kvmhost_msi_router_free(NULL, 24), EINVAL);
	kvmhost_msi_router_destroy(NULL);
	BAD(kvmhost_virtio_pci_wire((void *)8, NULL, NULL, NULL), EINVAL);
	{
		struct kvmhost_virtio_wiring *w = (void *)1;
		struct kvmhost_virtio_wire_options wo = {.size = sizeof(wo), .flags = KVMHOST_VIRTIO_WIRE_IRQFD};

		BAD(kvmhost_virtio_pci_wire(NULL, f->vp, NULL, &w), EINVAL);
		assert_null(w);
		BAD(kvmhost_virtio_pci_wire((void *)8, f->vp, &wo, &w), EINVAL);
		wo.flags = 0x100;
		BAD(kvmhost_virtio_pci_wire((void *)8, f->vp, &wo, &w), EINVAL);
	}
#undef BAD
}

/* ---- migration state: the transport's registers travel with the device ---- */

/* What the guest can read of the function, without side effects: all of
 * configuration space, the common configuration for the selected queue and
 * then for every queue (the selection put back), device config, the MSI-X
 * table and PBA. The ISR is read-to-clear: the caller reads it last. */
#define IMG_SIZE (256 + 0x38 * (1 + FAKE_QUEUES + 1) + FAKE_CFG_SIZE + 48 + 8)

static void regs_image(struct fix *f, uint8_t *img)
{
	uint16_t sel = (uint16_t)br(f, C(Q_SELECT), 2);
	size_t o = 0;

	for (uint32_t r = 0; r < 256; r += 4, o += 4) {
		uint32_t v = cfgr(f, f->slot, r, 4);

		memcpy(img + o, &v, 4);
	}
	for (uint32_t q = 0; q < FAKE_QUEUES + 2; q++) {
		if (q > 0)
			bw(f, C(Q_SELECT), q == FAKE_QUEUES + 1 ? sel : q - 1, 2);
		for (uint32_t r = 0; r < 0x38; r++)
			img[o++] = (uint8_t)br(f, B_COMMON + r, 1);
	}
	for (uint32_t r = 0; r < FAKE_CFG_SIZE; r++)
		img[o++] = (uint8_t)br(f, B_DEVICE + r, 1);
	for (uint32_t r = 0; r < 48 + 8; r += 4, o += 4) {
		uint32_t v = (uint32_t)br(f, r < 48 ? B_TABLE + r : B_PBA + r - 48, 4);

		memcpy(img + o, &v, 4);
	}
	assert_int_equal(o, IMG_SIZE);
}

/* The transport's part of the blob (the last bytes): 8 head, 260 function,
 * 24 registers, 2 per queue, the 3-entry table and the PBA. */
#define T_SIZE	(8 + 260 + 24 + 2 * FAKE_QUEUES + 48 + 8)
#define T_CFG	8
#define T_INTX	(8 + 256)
#define T_REGS	(8 + 260)
#define T_ISR	(T_REGS + 20)
#define T_CVEC	(T_REGS + 18)
#define T_QVEC	(T_REGS + 24)
#define T_TABLE (T_QVEC + 2 * FAKE_QUEUES)
#define T_PBA	(T_TABLE + 48)

/* A device as Linux leaves it, with everything the transport keeps set to
 * something a fresh transport does not have, and a buffer made available
 * and kicked that the device did not serve (f->fd.serve is 0). */
static void busy_device(struct fix *f)
{
	uint16_t cmd;

	msix_control(f, 0xc000, 0);
	for (uint16_t v = 0; v < 3; v++)
		msix_program(f, v, 0xfee00000ull + 0x1000u * v, 0x40u + v, v == 2);
	msix_control(f, 0, 0x4000);
	assert_int_equal(negotiate(f, FAKE_F_VERSION | FAKE_F_A), S_ACK | S_DRV | S_FOK);
	bw(f, C(MSIX), 2, 2);
	setup_queue(f, 0, 16, 1);
	bw(f, C(Q_SELECT), 1, 2); /* queue 1: size and vector set, never enabled */
	bw(f, C(Q_SIZE), 8, 2);
	bw(f, C(Q_MSIX), 0, 2);
	bw(f, C(STATUS), S_ACK | S_DRV | S_FOK | S_DOK, 1);
	/* Config change on the masked vector 2: pending in the PBA, ISR bit set. */
	assert_int_equal(kvmhost_virtio_device_config_changed(f->fd.dev), 0);
	assert_int_equal(f->msi.count, 0);
	assert_int_equal(br(f, B_PBA, 8), 0x4);
	/* Header registers, BAR 0 moved, the PCI_CFG window pointed somewhere. */
	cfgw(f, f->slot, KVMHOST_PCI_INTERRUPT_LINE, 9, 1);
	cfgw(f, f->slot, KVMHOST_PCI_CACHE_LINE_SIZE, 0x10, 1);
	cmd = (uint16_t)cfgr(f, f->slot, KVMHOST_PCI_COMMAND, 2);
	cfgw(f, f->slot, KVMHOST_PCI_COMMAND, cmd & ~KVMHOST_PCI_COMMAND_MEMORY, 2);
	cfgw(f, f->slot, 0x10, 0xe1000000u, 4);
	cfgw(f, f->slot, 0x14, 0, 4);
	cfgw(f, f->slot, KVMHOST_PCI_COMMAND, cmd | KVMHOST_PCI_COMMAND_MASTER, 2);
	assert_int_equal(bar0(f), 0xe1000000ull);
	cfgw(f, f->slot, find_cap(f, KVMHOST_PCI_CAP_ID_VNDR, KVMHOST_VIRTIO_PCI_CAP_PCI_CFG) + 8, B_DEVICE + 8, 4);
	/* Selectors left where a driver may leave them. */
	bw(f, C(DFSELECT), 1, 4);
	bw(f, C(GFSELECT), 1, 4);
	bw(f, C(Q_SELECT), 1, 2);
	/* Pending work: a buffer made available and kicked, not served. */
	kick(f, 0);
	assert_int_equal(atomic_load(&f->fd.notifies[0]), 1);
	assert_int_equal(atomic_load(&f->fd.served), 0);
}

/* Save @f's device into a new buffer (*len bytes). */
static uint8_t *save_dev(struct fix *f, int *len)
{
	uint8_t *blob;

	*len = kvmhost_virtio_device_state_size(f->fd.dev);
	assert_true(*len > T_SIZE);
	blob = malloc((size_t)*len);
	assert_non_null(blob);
	assert_int_equal(kvmhost_virtio_device_save(f->fd.dev, blob, (size_t)*len), *len);
	assert_int_equal(blob[4], 2); /* version 2: with the transport */
	return blob;
}

/* A second machine: a fresh fixture with @f's guest memory copied over. */
static struct fix *dest_of(struct fix *f)
{
	void *st = NULL;
	struct fix *g;

	setup(&st);
	g = st;
	memcpy(g->fd.m.a, f->fd.m.a, VD_A_LEN);
	memcpy(g->fd.m.b, f->fd.m.b, VD_B_LEN);
	return g;
}

static void test_state_roundtrip(void **state)
{
	struct fix *f = *state, *g;
	uint8_t a[IMG_SIZE], b[IMG_SIZE];
	struct vd_queue q;
	uint32_t id, len;
	uint8_t *blob;
	int n;

	busy_device(f);
	blob = save_dev(f, &n);
	regs_image(f, a);
	g = dest_of(f);
	g->fd.serve = 1;
	regs_image(g, b);
	assert_true(memcmp(a, b, IMG_SIZE) != 0); /* a fresh transport reads otherwise */
	assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, blob, (size_t)n), 0);
	assert_int_equal(g->fd.activated, 1);
	/* Every register reads the same; BAR 0 answers where the guest put it. */
	assert_int_equal(bar0(g), 0xe1000000ull);
	regs_image(g, b);
	assert_memory_equal(a, b, IMG_SIZE);
	assert_int_equal(br(g, B_ISR, 1), KVMHOST_VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(br(f, B_ISR, 1), KVMHOST_VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(atomic_load(&g->fl.level), 0); /* MSI-X on: INTx low */
	assert_int_equal(g->msi.count, 0);		/* nothing delivered by the restore itself */

	/* Resume: the pending buffer is served without a new kick, queue 0's
	 * interrupt raised once (vector 1) and again for the buffer served;
	 * queue 1 (never enabled) is left alone. */
	assert_int_equal(kvmhost_virtio_device_kick_queues(g->fd.dev, KVMHOST_VIRTIO_KICK_NOTIFY), 1);
	assert_int_equal(atomic_load(&g->fd.served), 1);
	assert_int_equal(atomic_load(&g->fd.notifies[0]), 1);
	assert_int_equal(atomic_load(&g->fd.notifies[1]), 0);
	q = f->q;
	q.m = &g->fd.m;
	assert_int_equal(vd_split_get_used(&q, &id, &len), 1);
	assert_int_equal(len, 4);
	assert_memory_equal(vd_host(&g->fd.m, 0x21000), "pong", 4);
	assert_int_equal(g->msi.count, 2);
	assert_int_equal(g->msi.vector, 1);
	assert_int_equal(g->msi.address, 0xfee01000ull);
	assert_int_equal(g->msi.data, 0x41);
	/* The config vector waited in the PBA across the move: unmasking sends it. */
	bw(g, B_TABLE + 32 + 12, 0, 4);
	assert_int_equal(g->msi.count, 3);
	assert_int_equal(g->msi.vector, 2);
	assert_int_equal(g->msi.data, 0x42);
	assert_int_equal(br(g, B_PBA, 8), 0);
	/* Without KICK_NOTIFY only the interrupt; a device that is not live: nothing. */
	assert_int_equal(kvmhost_virtio_device_kick_queues(g->fd.dev, 0), 1);
	assert_int_equal(g->msi.count, 4);
	assert_int_equal(atomic_load(&g->fd.notifies[0]), 1);
	assert_int_equal(kvmhost_virtio_device_kick_queues(g->fd.dev, 2), -EINVAL);
	assert_int_equal(kvmhost_virtio_device_kick_queues(NULL, 0), -EINVAL);
	bw(g, C(STATUS), 0, 1);
	assert_int_equal(kvmhost_virtio_device_kick_queues(g->fd.dev, KVMHOST_VIRTIO_KICK_NOTIFY), 0);
	assert_int_equal(g->msi.count, 4);
	free(blob);
	teardown((void **)&g);
}

static void test_state_intx(void **state)
{
	struct fix *f = *state, *g;
	uint8_t *blob;
	int n;

	/* No MSI-X: a used buffer left the ISR's queue bit set and INTx high. */
	f->fd.serve = 1;
	bring_up(f, NOVEC, NOVEC);
	kick(f, 0);
	assert_int_equal(atomic_load(&f->fl.level), 1);
	blob = save_dev(f, &n);
	g = dest_of(f);
	assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, blob, (size_t)n), 0);
	assert_int_equal(atomic_load(&g->fl.level), 1);
	assert_true(cfgr(g, g->slot, KVMHOST_PCI_STATUS, 2) & KVMHOST_PCI_STATUS_INTERRUPT);
	assert_int_equal(br(g, B_ISR, 1), KVMHOST_VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(atomic_load(&g->fl.level), 0);
	/* The resume's interrupt: the ISR bit and INTx again. */
	assert_int_equal(kvmhost_virtio_device_kick_queues(g->fd.dev, 0), 1);
	assert_int_equal(atomic_load(&g->fl.level), 1);
	assert_int_equal(br(g, B_ISR, 1), KVMHOST_VIRTIO_PCI_ISR_QUEUE);
	free(blob);
	teardown((void **)&g);
}

static void test_state_refused(void **state)
{
	struct fix *f = *state, *g;
	uint8_t *blob, *bad, *t, fresh[IMG_SIZE], img[IMG_SIZE];
	static const struct {
		int off; /* in the transport's part; -8: the kind */
		uint8_t xor ;
	} damage[] = {
	    {-8, 3},				  /* kind 2 -> 1: a virtio-mmio state */
	    {-4, 1},				  /* its length */
	    {0, 1},				  /* queue count */
	    {2, 1},				  /* vector count */
	    {4 + 1, 0x80},			  /* BAR size */
	    {T_CFG + 0, 1},			  /* vendor id: another device */
	    {T_CFG + KVMHOST_PCI_REVISION_ID, 1}, /* revision */
	    {T_CFG + 0x10, 0x1},		  /* BAR 0 type bits */
	    {T_CFG + 0x10, 0x10},		  /* BAR 0 bits below its size */
	    {T_CFG + KVMHOST_PCI_STATUS, 0x10},	  /* Status: the capability list bit */
	    {T_CFG + 0x40, 1},			  /* the first capability's id */
	    {T_INTX, 2},			  /* INTx level 2 */
	    {T_INTX + 1, 1},			  /* padding */
	    {T_ISR, 0x80},			  /* an ISR bit that does not exist */
	    {T_ISR + 1, 1},			  /* padding */
	    {T_CVEC, 0x04},			  /* config vector 2 -> 6: no such entry */
	    {T_QVEC, 0x08},			  /* queue vector 1 -> 9 */
	    {T_TABLE + 12 + 1, 1},		  /* reserved Vector Control bits */
	    {T_PBA, 0x10},			  /* a pending bit past the last vector */
	};
	int n;

	busy_device(f);
	blob = save_dev(f, &n);
	g = dest_of(f);
	regs_image(g, fresh);
	bad = malloc((size_t)n);
	assert_non_null(bad);
	/* Every truncation, and damage to each part of the transport's state:
	 * refused, and the transport reads as it did before. */
	for (int len = 0; len < n; len++)
		assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, blob, (size_t)len), -EINVAL);
	for (unsigned i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		memcpy(bad, blob, (size_t)n);
		t = bad + n - T_SIZE;
		t[damage[i].off] ^= damage[i].xor ;
		assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, bad, (size_t)n), -EINVAL);
		assert_true(strlen(kvmhost_last_error()) > 0);
	}
	regs_image(g, img);
	assert_memory_equal(img, fresh, IMG_SIZE);
	assert_int_equal(g->msi.count, 0);
	/* The state as saved still loads after all that. */
	assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, blob, (size_t)n), 0);
	assert_int_equal(bar0(g), 0xe1000000ull);
	/* A version 1 state (no transport part) is still read: the transport stays as it is. */
	memcpy(bad, blob, (size_t)n);
	bad[4] = 1;
	assert_int_equal(kvmhost_virtio_device_restore(g->fd.dev, bad, (size_t)n - T_SIZE - 8), 0);
	assert_int_equal(kvmhost_virtio_device_get_status(g->fd.dev), S_ACK | S_DRV | S_FOK | S_DOK);
	free(bad);
	free(blob);
	teardown((void **)&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enumeration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_sizing_and_moving, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_virtio_msix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_msix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_bar_accesses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ecam, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generic_device, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_windows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_virtio_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
