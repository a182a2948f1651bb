/*
 * Caller arrays of the x86 helpers (e820 entries, boot modules, RAM ranges,
 * ACPI devices) read and written with the caller's element size, so that
 * each element type can grow at its end without breaking older binaries
 * (docs/architecture.md, ABI rules: "Public arrays carry their element
 * size"). The first version of each element is frozen here: its size is the
 * smallest element a caller may give, and what an element size of 0 means
 * (callers built before the size fields existed leave them 0).
 */
#ifndef KVMHOST_X86_ELEMENTS_H
#define KVMHOST_X86_ELEMENTS_H

#include <stddef.h>
#include <stdint.h>

/* The first versions, as they were when the element sizes were added. Never change these. */
struct kh_x86_e820_entry_v1 {
	uint64_t addr, size;
	uint32_t type;
};
struct kh_x86_boot_module_v1 {
	const void *data;
	size_t size;
	const char *cmdline;
};
struct kh_x86_ram_range_v1 {
	uint64_t gpa, length;
};
struct kh_x86_acpi_device_v1 {
	const char *hid;
	uint32_t uid;
	uint16_t io_base, io_length;
	uint64_t mmio_base, mmio_length;
	uint32_t irq;
};

/* The largest element size a caller may give (the option structs' limit). */
#define KH_X86_ELEMENT_SIZE_MAX 65536u

/*
 * The element size a caller gave in the option field @field: 0 becomes @v1;
 * below @v1 or above KH_X86_ELEMENT_SIZE_MAX is -EINVAL (the message, naming
 * @func, says which sizes are accepted; @ours is this library's sizeof).
 */
int kh_x86_element_size(size_t given, size_t v1, size_t ours, const char *field, const char *func, size_t *out);

/*
 * Copy @count elements of @size bytes (a size kh_x86_element_size() gave) at
 * @src into a new array of @ours-byte elements, *out (NULL when @count is 0;
 * free() it): each element zero-extended when smaller, and cut when larger,
 * which is -E2BIG naming @what[i] when a cut byte is not zero (a field this
 * library does not know: a feature asked for that it lacks). -ENOMEM.
 */
int kh_x86_elements_in(void **out, const void *src, uint32_t count, size_t size, size_t ours, const char *what,
		       const char *func);

/*
 * Write @count elements of @ours bytes from @src into the caller's array
 * @dst of @size-byte elements: min(@size, @ours) bytes each, the rest of a
 * bigger caller element zeroed (fields this library does not know).
 */
void kh_x86_elements_out(void *dst, size_t size, const void *src, uint32_t count, size_t ours);

#endif
