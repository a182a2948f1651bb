/*
 * Private helpers of the x86 platform tables (MP table, ACPI): a bounded
 * little-endian byte writer, the 8-bit checksum both specifications use,
 * the DSDT's AML from acpi_aml.c and the PCI host checks of acpi_pci.c.
 * Tables are assembled into a host buffer with these and written into guest
 * memory in one checked write.
 */
#ifndef KVMHOST_X86_PLATFORM_INTERNAL_H
#define KVMHOST_X86_PLATFORM_INTERNAL_H

#include <stdint.h>
#include <string.h>

/* A cursor over a caller-sized buffer. Writes past the end are dropped but
 * still counted in @pos, so a size mismatch shows as pos != size. */
struct kh_bytes {
	uint8_t *buf;
	uint32_t size, pos;
};

static inline void kh_bytes_init(struct kh_bytes *b, uint8_t *buf, uint32_t size)
{
	b->buf = buf;
	b->size = size;
	b->pos = 0;
}

static inline void kh_put8(struct kh_bytes *b, uint8_t v)
{
	if (b->pos < b->size)
		b->buf[b->pos] = v;
	b->pos++;
}

static inline void kh_put16(struct kh_bytes *b, uint16_t v)
{
	kh_put8(b, (uint8_t)v);
	kh_put8(b, (uint8_t)(v >> 8));
}

static inline void kh_put32(struct kh_bytes *b, uint32_t v)
{
	kh_put16(b, (uint16_t)v);
	kh_put16(b, (uint16_t)(v >> 16));
}

static inline void kh_put64(struct kh_bytes *b, uint64_t v)
{
	kh_put32(b, (uint32_t)v);
	kh_put32(b, (uint32_t)(v >> 32));
}

static inline void kh_put_zero(struct kh_bytes *b, uint32_t n)
{
	while (n--)
		kh_put8(b, 0);
}

/* Exactly @n bytes of @s, padded with spaces when @s is shorter (the
 * convention of OEM ID fields). */
static inline void kh_put_str(struct kh_bytes *b, const char *s, uint32_t n)
{
	size_t len = strlen(s);

	for (uint32_t i = 0; i < n; i++)
		kh_put8(b, i < len ? (uint8_t)s[i] : ' ');
}

/* The byte that makes @len bytes of @p sum to 0 mod 256, when stored in a
 * checksum field that is 0 while this is computed. */
static inline uint8_t kh_checksum(const uint8_t *p, uint32_t len)
{
	uint8_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0x100 - sum);
}

struct kvmhost_x86_acpi_device;
struct kvmhost_x86_acpi_pci_host;

/* Check the devices for the DSDT (acpi_aml.c); messages name @func. */
int kh_acpi_check_devices(const struct kvmhost_x86_acpi_device *devices, uint32_t count, const char *func);

/* Copy a caller's PCI host description into @out with its defaults filled
 * in, and check it, also against the IOAPIC's and local APIC's pages, the
 * FADT's PM ports and the (already checked) devices' resources (acpi_pci.c). */
int kh_acpi_pci_host_resolve(const struct kvmhost_x86_acpi_pci_host *in, uint32_t ioapic_addr, uint16_t pm_port,
			     const struct kvmhost_x86_acpi_device *devices, uint32_t device_count,
			     struct kvmhost_x86_acpi_pci_host *out, const char *func);

/* The DSDT's AML after its header: \_S5, then under \_SB the devices and,
 * when @pci is not NULL (resolved), the PCI root bridge and its ECAM
 * reservation, then with a non-zero @power_button_gsi the power button and
 * its Generic Event Device (acpi_aml.c). Its inputs are checked already. On
 * success *body is malloc'ed, the caller frees it. */
int kh_acpi_dsdt_body(const struct kvmhost_x86_acpi_device *devices, uint32_t count,
		      const struct kvmhost_x86_acpi_pci_host *pci, uint32_t power_button_gsi, uint8_t **body,
		      uint32_t *len, const char *func);

/* The Hyper-V enlightenment set's own rules (known bits, SYNIC needs VPINDEX, STIMER needs SYNIC and TIME), for
 * kvmhost_x86_cpuid_add_hyperv() and the machine's option check (before KVM). Messages name @func. */
int kh_hyperv_check(uint32_t hv, const char *func);

#endif
