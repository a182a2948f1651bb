/*
 * The DSDT's AML, assembled by hand: \_S5 for soft-off, one Device under
 * \_SB per legacy device the VMM describes (_HID, _UID, _CRS with its I/O
 * ports, MMIO window and interrupt), and optionally a PCI root bridge
 * (PCI0: its bus range, configuration ports and windows in _CRS, INTx
 * routing in _PRT) with a motherboard-resource device reserving its ECAM.
 *
 * The devices are not optional decoration: on a hardware-reduced platform
 * Linux has no legacy PIC and maps no ISA IRQ by itself, so a 16550 that
 * only the kernel's built-in port list knows gets no working interrupt
 * (printk still comes out, since it polls; user space's console output
 * never does). Described here, the device's IRQ is routed through the
 * IOAPIC like any ACPI device's. The PCI root bridge is what makes an ACPI
 * guest scan its PCI bus at all (x86-platform.md).
 *
 * AML is nested, and every enclosing object starts with the length of what
 * it holds (PkgLength, 1 to 4 bytes depending on that length), so objects
 * are built inside out: each into its own buffer, then wrapped by its parent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../core/internal.h"
#include "platform_internal.h"
#include <kvmhost/x86_platform.h>

#define AML_ZERO    0x00
#define AML_ONE	    0x01
#define AML_NAME    0x08
#define AML_BYTE    0x0a
#define AML_WORD    0x0b
#define AML_DWORD   0x0c
#define AML_STRING  0x0d
#define AML_SCOPE   0x10
#define AML_BUFFER  0x11
#define AML_PACKAGE 0x12
#define AML_EXT	    0x5b
#define AML_DEVICE  0x82
#define AML_METHOD  0x14
#define AML_NOTIFY  0x86

/* Resource descriptors (ACPI 6.x section 6.4). */
#define RES_IRQ_NOFLAGS	      0x22 /* small, 2 bytes: IRQ mask, edge and active high implied */
#define RES_IO		      0x47 /* small, 7 bytes */
#define RES_END		      0x79 /* small, 1 byte: checksum (0: none) */
#define RES_MEM32_FIXED	      0x86 /* large, 9 bytes */
#define RES_EXT_IRQ	      0x89 /* large, 6 bytes for one interrupt */
#define EXT_IRQ_CONSUMER_EDGE 0x03
#define RES_DWORD_ADDR	      0x87 /* large, 23 bytes */
#define RES_WORD_ADDR	      0x88 /* large, 13 bytes */
#define RES_QWORD_ADDR	      0x8a /* large, 43 bytes */

/* Address space descriptors: resource type, general flags, type-specific flags. */
#define ADDR_TYPE_MEMORY    0
#define ADDR_TYPE_IO	    1
#define ADDR_TYPE_BUS	    2
#define ADDR_CONSUMER	    0x01 /* else a producer: a window the bridge passes on */
#define ADDR_MIN_MAX_FIXED  0x0c /* _MIF, _MAF; positive decode */
#define ADDR_IO_ENTIRE	    0x03 /* _RNG: ISA and non-ISA ports */
#define ADDR_MEM_RW_NOCACHE 0x01 /* _RW, _MEM non-cacheable (not prefetchable) */

/* The PCI root bridge's _PRT covers these slots (0 is the host bridge itself). */
#define PRT_FIRST_SLOT 1u
#define PRT_LAST_SLOT  31u

/* The S5 SLP_TYP value; KVMHOST_X86_ACPI_SLEEP_S5 is it shifted with SLP_EN. */
#define S5_SLP_TYP 5u

struct aml {
	uint8_t *p;
	uint32_t len, cap;
	int failed;
};

static void aml_put(struct aml *a, const void *data, uint32_t n)
{
	if (a->failed)
		return;
	if (a->len + n > a->cap) {
		uint32_t cap = a->cap ? a->cap : 64;
		uint8_t *q;

		while (cap < a->len + n)
			cap *= 2;
		q = realloc(a->p, cap);
		if (!q) {
			a->failed = 1;
			return;
		}
		a->p = q;
		a->cap = cap;
	}
	memcpy(a->p + a->len, data, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t v)
{
	aml_put(a, &v, 1);
}

static void aml_le(struct aml *a, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* An Integer in its shortest encoding. */
static void aml_integer(struct aml *a, uint32_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO);
	} else if (v == 1) {
		aml_byte(a, AML_ONE);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE);
		aml_byte(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD);
		aml_le(a, v, 2);
	} else {
		aml_byte(a, AML_DWORD);
		aml_le(a, v, 4);
	}
}

/* PkgLength for @body bytes that follow it; the encoded value counts the
 * PkgLength bytes themselves. */
static void aml_pkglen(struct aml *a, uint32_t body)
{
	uint32_t total;

	if (body + 1 <= 0x3f) {
		aml_byte(a, (uint8_t)(body + 1));
		return;
	}
	for (int extra = 1; extra <= 3; extra++) {
		total = body + 1 + (uint32_t)extra;
		if (total < (1u << (4 + 8 * extra))) {
			aml_byte(a, (uint8_t)((extra << 6) | (total & 0xf)));
			for (int i = 0; i < extra; i++)
				aml_byte(a, (uint8_t)(total >> (4 + 8 * i)));
			return;
		}
	}
	a->failed = 1; /* over 256 MiB: cannot happen with our limits */
}

/* opcode(s) PkgLength @inner: wrap an object built in its own buffer. */
static void aml_wrap(struct aml *a, const uint8_t *op, uint32_t oplen, const struct aml *inner)
{
	aml_put(a, op, oplen);
	aml_pkglen(a, inner->len);
	aml_put(a, inner->p, inner->len);
	if (inner->failed)
		a->failed = 1;
}

static void aml_name(struct aml *a, const char *seg)
{
	aml_byte(a, AML_NAME);
	aml_put(a, seg, 4);
}

/* A 7-character EISA ID ("PNP0501"): three letters and four hex digits. */
static int is_eisa_id(const char *s)
{
	if (strlen(s) != 7)
		return 0;
	for (int i = 0; i < 3; i++)
		if (s[i] < 'A' || s[i] > 'Z')
			return 0;
	for (int i = 3; i < 7; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static uint8_t hex(char c)
{
	return (uint8_t)(c <= '9' ? c - '0' : c - 'A' + 10);
}

/* EisaId(): 5 bits per letter, big-endian, then the product number's bytes. */
static void aml_eisa_id(struct aml *a, const char *s)
{
	uint16_t w = (uint16_t)((s[0] - 0x40) << 10 | (s[1] - 0x40) << 5 | (s[2] - 0x40));

	aml_byte(a, AML_DWORD);
	aml_byte(a, (uint8_t)(w >> 8));
	aml_byte(a, (uint8_t)w);
	aml_byte(a, (uint8_t)(hex(s[3]) << 4 | hex(s[4])));
	aml_byte(a, (uint8_t)(hex(s[5]) << 4 | hex(s[6])));
}

static void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING);
	aml_put(a, s, (uint32_t)strlen(s) + 1);
}

/* Name (_CRS, ResourceTemplate () { @res }): the end tag is added here. */
static void aml_crs(struct aml *dev, struct aml *res)
{
	static const uint8_t buffer_op[] = {AML_BUFFER};
	struct aml buf = {0};

	aml_byte(res, RES_END);
	aml_byte(res, 0); /* no checksum */
	/* Buffer (size) { template } */
	aml_integer(&buf, res->len);
	aml_put(&buf, res->p, res->len);
	if (res->failed)
		buf.failed = 1;
	aml_name(dev, "_CRS");
	aml_wrap(dev, buffer_op, 1, &buf);
	free(buf.p);
}

/* Word/DWord/QWord address space descriptor for [first, last], fixed, positive
 * decode, no translation; @size is 2, 4 or 8 bytes per field. */
static void aml_addr_space(struct aml *res, int size, uint8_t type, uint8_t general, uint8_t specific, uint64_t first,
			   uint64_t last)
{
	aml_byte(res, size == 2 ? RES_WORD_ADDR : size == 4 ? RES_DWORD_ADDR : RES_QWORD_ADDR);
	aml_le(res, 3 + 5u * (uint32_t)size, 2); /* bytes after the length field */
	aml_byte(res, type);
	aml_byte(res, general);
	aml_byte(res, specific);
	aml_le(res, 0, size); /* _GRA: none given, as QEMU and firmware do for windows */
	aml_le(res, first, size);
	aml_le(res, last, size);
	aml_le(res, 0, size);		     /* _TRA */
	aml_le(res, last - first + 1, size); /* _LEN */
}

static int check_device(const struct kvmhost_x86_acpi_device *d, uint32_t i, const char *func)
{
	size_t hid_len = d->hid ? strlen(d->hid) : 0;
	uint64_t end;

	if (hid_len == 0 || hid_len > 8)
		return kh_fail(EINVAL, func, "device %u: _HID must be 1 to 8 characters", i);
	for (size_t k = 0; k < hid_len; k++)
		if (d->hid[k] < 0x21 || d->hid[k] > 0x7e)
			return kh_fail(EINVAL, func, "device %u: _HID \"%s\" is not printable ASCII", i, d->hid);
	if (d->io_length > 0xff || (uint32_t)d->io_base + d->io_length > 0x10000)
		return kh_fail(EINVAL, func, "device %u: I/O ports 0x%x + %u: at most 255 ports, below 0x10000", i,
			       d->io_base, d->io_length);
	if (d->mmio_length && (kh_add_overflows(d->mmio_base, d->mmio_length, &end) || end > (1ull << 32)))
		return kh_fail(EINVAL, func, "device %u: MMIO [0x%llx, +0x%llx) must lie below 4 GiB", i,
			       (unsigned long long)d->mmio_base, (unsigned long long)d->mmio_length);
	if (d->irq > 0xff)
		return kh_fail(EINVAL, func, "device %u: GSI %u is above 255", i, d->irq);
	return 0;
}

static void aml_device(struct aml *out, const struct kvmhost_x86_acpi_device *d, uint32_t i)
{
	static const uint8_t device_op[] = {AML_EXT, AML_DEVICE};
	struct aml dev = {0}, res = {0};
	char seg[5];

	/* The resource template: I/O, memory, interrupt, end tag. */
	if (d->io_length) {
		aml_byte(&res, RES_IO);
		aml_byte(&res, 1); /* decodes 16-bit addresses */
		aml_le(&res, d->io_base, 2);
		aml_le(&res, d->io_base, 2);
		aml_byte(&res, 1); /* alignment */
		aml_byte(&res, (uint8_t)d->io_length);
	}
	if (d->mmio_length) {
		aml_byte(&res, RES_MEM32_FIXED);
		aml_le(&res, 9, 2);
		aml_byte(&res, 1); /* read/write */
		aml_le(&res, d->mmio_base, 4);
		aml_le(&res, d->mmio_length, 4);
	}
	if (d->irq && d->irq < 16) {
		aml_byte(&res, RES_IRQ_NOFLAGS);
		aml_le(&res, 1u << d->irq, 2);
	} else if (d->irq) {
		aml_byte(&res, RES_EXT_IRQ);
		aml_le(&res, 6, 2);
		aml_byte(&res, EXT_IRQ_CONSUMER_EDGE);
		aml_byte(&res, 1);
		aml_le(&res, d->irq, 4);
	}
	snprintf(seg, sizeof(seg), "D%03X", i & 0xfffu); /* at most KVMHOST_X86_ACPI_MAX_DEVICES */
	aml_put(&dev, seg, 4);
	aml_name(&dev, "_HID");
	if (is_eisa_id(d->hid))
		aml_eisa_id(&dev, d->hid);
	else
		aml_string(&dev, d->hid);
	aml_name(&dev, "_UID");
	aml_integer(&dev, d->uid);
	aml_crs(&dev, &res);

	aml_wrap(out, device_op, 2, &dev);
	free(res.p);
	free(dev.p);
}

/* Device (PCI0): the root bridge of @p's bus range, its windows and _PRT. */
static void aml_pci_root(struct aml *out, const struct kvmhost_x86_acpi_pci_host *p)
{
	static const uint8_t device_op[] = {AML_EXT, AML_DEVICE};
	static const uint8_t package_op[] = {AML_PACKAGE};
	struct aml dev = {0}, res = {0}, prt = {0};

	/* WordBusNumber, IO (Decode16, 0xCF8, 0xCF8, 1, 8), WordIO, DWordMemory, QWordMemory */
	aml_addr_space(&res, 2, ADDR_TYPE_BUS, ADDR_MIN_MAX_FIXED, 0, p->bus_start, p->bus_end);
	aml_byte(&res, RES_IO);
	aml_byte(&res, 1); /* decodes 16-bit addresses */
	aml_le(&res, 0xcf8, 2);
	aml_le(&res, 0xcf8, 2);
	aml_byte(&res, 1); /* alignment */
	aml_byte(&res, 8); /* ports: address and data */
	aml_addr_space(&res, 2, ADDR_TYPE_IO, ADDR_MIN_MAX_FIXED, ADDR_IO_ENTIRE, p->io_base,
		       (uint64_t)p->io_base + p->io_size - 1);
	aml_addr_space(&res, 4, ADDR_TYPE_MEMORY, ADDR_MIN_MAX_FIXED, ADDR_MEM_RW_NOCACHE, p->mmio32_base,
		       p->mmio32_base + p->mmio32_size - 1);
	if (p->mmio64_size)
		aml_addr_space(&res, 8, ADDR_TYPE_MEMORY, ADDR_MIN_MAX_FIXED, ADDR_MEM_RW_NOCACHE, p->mmio64_base,
			       p->mmio64_base + (p->mmio64_size - 1));

	aml_put(&dev, "PCI0", 4);
	aml_name(&dev, "_HID");
	aml_eisa_id(&dev, "PNP0A08"); /* PCI Express root bridge */
	aml_name(&dev, "_CID");
	aml_eisa_id(&dev, "PNP0A03"); /* PCI root bridge */
	aml_name(&dev, "_SEG");
	aml_integer(&dev, 0);
	aml_name(&dev, "_BBN");
	aml_integer(&dev, p->bus_start);
	aml_name(&dev, "_UID");
	aml_integer(&dev, 0);
	aml_crs(&dev, &res);

	/* Name (_PRT, Package () { Package () {0xSSSSFFFF, pin, 0, GSI}, ... }):
	 * any function of slot S, its pin (0 = INTA) on line (S + pin) % 4;
	 * source 0 means the last element is a GSI, not a link device's index. */
	if (p->intx_gsi[0]) {
		aml_byte(&prt, (uint8_t)((PRT_LAST_SLOT - PRT_FIRST_SLOT + 1) * 4));
		for (uint32_t slot = PRT_FIRST_SLOT; slot <= PRT_LAST_SLOT; slot++) {
			for (uint32_t pin = 0; pin < 4; pin++) {
				struct aml e = {0};

				aml_byte(&e, 4);
				aml_integer(&e, slot << 16 | 0xffff);
				aml_integer(&e, pin);
				aml_integer(&e, 0);
				aml_integer(&e, p->intx_gsi[(slot + pin) % 4]);
				aml_wrap(&prt, package_op, 1, &e);
				free(e.p);
			}
		}
		aml_name(&dev, "_PRT");
		aml_wrap(&dev, package_op, 1, &prt);
	}

	aml_wrap(out, device_op, 2, &dev);
	free(res.p);
	free(prt.p);
	free(dev.p);
}

/* Device (ECAM): a PNP0C02 motherboard resource holding the ECAM area, the
 * reservation Linux looks for before it uses an MCFG area. */
static void aml_ecam_reservation(struct aml *out, const struct kvmhost_x86_acpi_pci_host *p)
{
	static const uint8_t device_op[] = {AML_EXT, AML_DEVICE};
	struct aml dev = {0}, res = {0};
	uint64_t first = p->ecam_base + (uint64_t)p->bus_start * KVMHOST_X86_ACPI_ECAM_BUS_SIZE;
	uint64_t len = ((uint64_t)p->bus_end - p->bus_start + 1) * KVMHOST_X86_ACPI_ECAM_BUS_SIZE;

	if (first + (len - 1) <= 0xffffffffull) {
		aml_byte(&res, RES_MEM32_FIXED);
		aml_le(&res, 9, 2);
		aml_byte(&res, 1); /* read/write */
		aml_le(&res, first, 4);
		aml_le(&res, len, 4);
	} else {
		aml_addr_space(&res, 8, ADDR_TYPE_MEMORY, ADDR_CONSUMER | ADDR_MIN_MAX_FIXED, ADDR_MEM_RW_NOCACHE,
			       first, first + (len - 1));
	}
	aml_put(&dev, "ECAM", 4);
	aml_name(&dev, "_HID");
	aml_eisa_id(&dev, "PNP0C02");
	aml_crs(&dev, &res);
	aml_wrap(out, device_op, 2, &dev);
	free(res.p);
	free(dev.p);
}

/*
 * Device (PWRB) { Name (_HID, EisaId ("PNP0C0C")) }
 * Device (GED0) { Name (_HID, "ACPI0013"), Name (_UID, 0),
 *                 Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi} }),
 *                 Method (_EVT, 1) { Notify (PWRB, 0x80) } }
 * A hardware-reduced platform has no fixed power button event; the Generic Event Device is its replacement:
 * Linux's GED driver calls _EVT on the interrupt, and the Notify reaches the button driver.
 */
static void aml_power_button(struct aml *out, uint32_t gsi)
{
	static const uint8_t device_op[] = {AML_EXT, AML_DEVICE};
	static const uint8_t method_op[] = {AML_METHOD};
	static const uint8_t notify[] = {AML_NOTIFY, 'P', 'W', 'R', 'B', AML_BYTE, 0x80};
	struct aml pwrb = {0}, ged = {0}, res = {0}, evt = {0};

	aml_put(&pwrb, "PWRB", 4);
	aml_name(&pwrb, "_HID");
	aml_eisa_id(&pwrb, "PNP0C0C");
	aml_wrap(out, device_op, 2, &pwrb);

	aml_put(&ged, "GED0", 4);
	aml_name(&ged, "_HID");
	aml_string(&ged, "ACPI0013");
	aml_name(&ged, "_UID");
	aml_integer(&ged, 0);
	aml_byte(&res, RES_EXT_IRQ);
	aml_le(&res, 6, 2);
	aml_byte(&res, EXT_IRQ_CONSUMER_EDGE);
	aml_byte(&res, 1);
	aml_le(&res, gsi, 4);
	aml_crs(&ged, &res);
	aml_put(&evt, "_EVT", 4);
	aml_byte(&evt, 1); /* one argument, not serialized */
	aml_put(&evt, notify, sizeof(notify));
	aml_wrap(&ged, method_op, 1, &evt);
	aml_wrap(out, device_op, 2, &ged);
	if (pwrb.failed || ged.failed || res.failed || evt.failed)
		out->failed = 1;
	free(pwrb.p);
	free(ged.p);
	free(res.p);
	free(evt.p);
}

int kh_acpi_check_devices(const struct kvmhost_x86_acpi_device *devices, uint32_t count, const char *func)
{
	int r;

	if (count && !devices)
		return kh_fail(EINVAL, func, "devices is NULL but device_count is %u", count);
	if (count > KVMHOST_X86_ACPI_MAX_DEVICES)
		return kh_fail(EINVAL, func, "%u devices; at most %u", count, KVMHOST_X86_ACPI_MAX_DEVICES);
	for (uint32_t i = 0; i < count; i++) {
		r = check_device(&devices[i], i, func);
		if (r < 0)
			return r;
	}
	return 0;
}

int kh_acpi_dsdt_body(const struct kvmhost_x86_acpi_device *devices, uint32_t count,
		      const struct kvmhost_x86_acpi_pci_host *pci, uint32_t power_button_gsi, uint8_t **body,
		      uint32_t *len, const char *func)
{
	static const uint8_t package_op[] = {AML_PACKAGE};
	static const uint8_t scope_op[] = {AML_SCOPE};
	struct aml out = {0}, pkg = {0}, sb = {0};

	*body = NULL;
	*len = 0;

	/* Name (_S5, Package (2) { 5, 0 }) */
	aml_byte(&pkg, 2);
	aml_integer(&pkg, S5_SLP_TYP);
	aml_integer(&pkg, 0);
	aml_name(&out, "_S5_");
	aml_wrap(&out, package_op, 1, &pkg);

	if (count || pci || power_button_gsi) {
		aml_put(&sb, "\\_SB_", 5);
		for (uint32_t i = 0; i < count; i++)
			aml_device(&sb, &devices[i], i);
		if (pci)
			aml_pci_root(&sb, pci);
		if (pci && pci->ecam_base)
			aml_ecam_reservation(&sb, pci);
		if (power_button_gsi)
			aml_power_button(&sb, power_button_gsi);
		aml_wrap(&out, scope_op, 1, &sb);
	}
	free(pkg.p);
	free(sb.p);
	if (out.failed || pkg.failed || sb.failed) {
		free(out.p);
		return kh_fail(ENOMEM, func, "cannot allocate the DSDT");
	}
	*body = out.p;
	*len = out.len;
	return 0;
}
