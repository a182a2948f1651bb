/*
 * Format detection and the loader that dispatches on it: a bzImage by its
 * setup header, an ELF by its magic (PVH when it has the Xen PHYS32_ENTRY
 * note, else Multiboot when it has a Multiboot header), anything else with a
 * valid Multiboot header as Multiboot.
 */
#include "boot_internal.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

static int kh_detect(const char *func, const uint8_t *img, size_t size)
{
	size_t off, bad_off;

	if (!img)
		return kh_fail(EINVAL, func, "image is NULL");
	if (size >= 0x206 && kh_le16(img + 0x1fe) == 0xAA55 && kh_le32(img + 0x202) == 0x53726448)
		return KVMHOST_X86_BOOT_BZIMAGE;
	if (kh_elf_is_elf(img, size)) {
		struct kh_elf e;
		const uint8_t *desc;
		uint32_t dsz;
		int r = kh_elf_parse(func, img, size, &e);

		if (r < 0)
			return r;
		r = kh_elf_find_note(func, img, &e, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &dsz);
		if (r < 0)
			return r;
		if (r)
			return KVMHOST_X86_BOOT_PVH_ELF;
		if (kh_mb_find_header(img, size, &off, &bad_off))
			return KVMHOST_X86_BOOT_MULTIBOOT;
		return kh_fail(ENOEXEC, func,
			       "an ELF with neither a Xen PHYS32_ENTRY (PVH) note nor a Multiboot header");
	}
	if (kh_mb_find_header(img, size, &off, &bad_off))
		return KVMHOST_X86_BOOT_MULTIBOOT;
	return kh_fail(
	    ENOEXEC, func,
	    "unknown kernel format: no bzImage setup header (0xAA55 and \"HdrS\"), no ELF magic, no Multiboot "
	    "header in the first 8192 bytes (%zu-byte image)",
	    size);
}

KVMHOST_API int kvmhost_x86_boot_detect(const void *image, size_t image_size)
{
	return kh_detect(__func__, image, image_size);
}

KVMHOST_API int kvmhost_x86_boot_load(struct kvmhost_memory *mem, const void *image, size_t image_size,
				      const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info)
{
	int fmt = kh_detect(__func__, image, image_size);

	switch (fmt) {
	case KVMHOST_X86_BOOT_BZIMAGE:
		return kh_boot_bzimage(__func__, mem, image, image_size, opts, info);
	case KVMHOST_X86_BOOT_PVH_ELF:
		return kh_boot_pvh(__func__, mem, image, image_size, opts, info);
	case KVMHOST_X86_BOOT_MULTIBOOT:
		return kh_boot_multiboot(__func__, mem, image, image_size, opts, info);
	default:
		return fmt < 0 ? fmt : kh_fail(ENOEXEC, __func__, "unknown format %d", fmt);
	}
}

KVMHOST_API int kvmhost_x86_boot_check(int format, const void *image, size_t image_size,
				       const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info)
{
	const char *func = kh_boot_check_func;
	struct kvmhost_x86_boot_info scratch = {.size = sizeof(scratch)};
	int fmt = format ? format : kh_detect(func, image, image_size);

	if (!info)
		info = &scratch;
	switch (fmt) {
	case KVMHOST_X86_BOOT_BZIMAGE:
		return kh_boot_bzimage(func, NULL, image, image_size, opts, info);
	case KVMHOST_X86_BOOT_PVH_ELF:
		return kh_boot_pvh(func, NULL, image, image_size, opts, info);
	case KVMHOST_X86_BOOT_MULTIBOOT:
		return kh_boot_multiboot(func, NULL, image, image_size, opts, info);
	default:
		return fmt < 0
			   ? fmt
			   : kh_fail(EINVAL, func, "format %d: want 0 (detect), bzImage, PVH ELF or Multiboot", format);
	}
}
