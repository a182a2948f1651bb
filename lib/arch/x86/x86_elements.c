/*
 * Caller arrays with the caller's element size (x86_elements.h).
 */
#include <stdlib.h>
#include <string.h>

#include "../../core/internal.h"
#include <kvmhost/x86_platform.h>
#include "x86_elements.h"

/* The public structs still start with their first version's fields, in place; growth goes at the end, after the
 * first version's size (never in its tail padding, whose bytes an older caller need not zero). */
#define KH_SAME_FIELD(pub, v1, f) (offsetof(pub, f) == offsetof(v1, f) && sizeof(((pub *)0)->f) == sizeof(((v1 *)0)->f))
_Static_assert(KH_SAME_FIELD(struct kvmhost_x86_e820_entry, struct kh_x86_e820_entry_v1, addr) &&
		   KH_SAME_FIELD(struct kvmhost_x86_e820_entry, struct kh_x86_e820_entry_v1, size) &&
		   KH_SAME_FIELD(struct kvmhost_x86_e820_entry, struct kh_x86_e820_entry_v1, type) &&
		   sizeof(struct kvmhost_x86_e820_entry) >= sizeof(struct kh_x86_e820_entry_v1),
	       "struct kvmhost_x86_e820_entry lost its first version's layout");
_Static_assert(KH_SAME_FIELD(struct kvmhost_x86_boot_module, struct kh_x86_boot_module_v1, data) &&
		   KH_SAME_FIELD(struct kvmhost_x86_boot_module, struct kh_x86_boot_module_v1, size) &&
		   KH_SAME_FIELD(struct kvmhost_x86_boot_module, struct kh_x86_boot_module_v1, cmdline) &&
		   sizeof(struct kvmhost_x86_boot_module) >= sizeof(struct kh_x86_boot_module_v1),
	       "struct kvmhost_x86_boot_module lost its first version's layout");
_Static_assert(KH_SAME_FIELD(struct kvmhost_x86_ram_range, struct kh_x86_ram_range_v1, gpa) &&
		   KH_SAME_FIELD(struct kvmhost_x86_ram_range, struct kh_x86_ram_range_v1, length) &&
		   sizeof(struct kvmhost_x86_ram_range) >= sizeof(struct kh_x86_ram_range_v1),
	       "struct kvmhost_x86_ram_range lost its first version's layout");
_Static_assert(KH_SAME_FIELD(struct kvmhost_x86_acpi_device, struct kh_x86_acpi_device_v1, hid) &&
		   KH_SAME_FIELD(struct kvmhost_x86_acpi_device, struct kh_x86_acpi_device_v1, uid) &&
		   KH_SAME_FIELD(struct kvmhost_x86_acpi_device, struct kh_x86_acpi_device_v1, io_base) &&
		   KH_SAME_FIELD(struct kvmhost_x86_acpi_device, struct kh_x86_acpi_device_v1, io_length) &&
		   KH_SAME_FIELD(struct kvmhost_x86_acpi_device, struct kh_x86_acpi_device_v1, mmio_base) &&
		   KH_SAME_FIELD(struct kvmhost_x86_acpi_device, struct kh_x86_acpi_device_v1, mmio_length) &&
		   KH_SAME_FIELD(struct kvmhost_x86_acpi_device, struct kh_x86_acpi_device_v1, irq) &&
		   sizeof(struct kvmhost_x86_acpi_device) >= sizeof(struct kh_x86_acpi_device_v1),
	       "struct kvmhost_x86_acpi_device lost its first version's layout");

int kh_x86_element_size(size_t given, size_t v1, size_t ours, const char *field, const char *func, size_t *out)
{
	if (given == 0)
		given = v1;
	if (given < v1 || given > KH_X86_ELEMENT_SIZE_MAX)
		return kh_fail(EINVAL, func,
			       "%s %zu: want the element's sizeof as the caller knows it (%zu here; 0 or %zu to %u)",
			       field, given, ours, v1, KH_X86_ELEMENT_SIZE_MAX);
	*out = given;
	return 0;
}

int kh_x86_elements_in(void **out, const void *src, uint32_t count, size_t size, size_t ours, const char *what,
		       const char *func)
{
	unsigned char *dst;

	*out = NULL;
	if (!count)
		return 0;
	dst = calloc(count, ours);
	if (!dst)
		return kh_fail(ENOMEM, func, "cannot copy %u elements of %s", count, what);
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = (const unsigned char *)src + (size_t)i * size;

		for (size_t k = ours; k < size; k++)
			if (e[k]) {
				free(dst);
				return kh_fail(E2BIG, func,
					       "%s[%u]: the element of %zu bytes sets fields (byte %zu) this library "
					       "(%zu bytes) does not know",
					       what, i, size, k, ours);
			}
		memcpy(dst + (size_t)i * ours, e, KH_MIN(size, ours));
	}
	*out = dst;
	return 0;
}

void kh_x86_elements_out(void *dst, size_t size, const void *src, uint32_t count, size_t ours)
{
	for (uint32_t i = 0; i < count; i++) {
		unsigned char *e = (unsigned char *)dst + (size_t)i * size;

		memcpy(e, (const unsigned char *)src + (size_t)i * ours, KH_MIN(size, ours));
		if (size > ours)
			memset(e + ours, 0, size - ours);
	}
}
