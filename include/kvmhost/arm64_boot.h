/**
 * @file arm64_boot.h
 * @brief arm64 kernel loader: a Linux arm64 `Image`, its device tree and its initrd placed in guest memory as
 * the arm64 boot protocol (Linux's Documentation/arch/arm64/booting.rst) asks.
 *
 * The Image starts with a 64-byte header (all fields little-endian):
 *
 * | offset | field       | use here                                                             |
 * |--------|-------------|----------------------------------------------------------------------|
 * | 0x00   | code0/code1 | executable code (ignored)                                            |
 * | 0x08   | text_offset | the image goes text_offset bytes above a 2 MiB aligned base          |
 * | 0x10   | image_size  | bytes from the image's start the kernel needs free (bss included)    |
 * | 0x18   | flags       | bit 0 big-endian, bits 1-2 page size, bit 3 placement anywhere       |
 * | 0x20   | res2..res4  | reserved (ignored)                                                   |
 * | 0x38   | magic       | "ARM\x64" (0x644d5241)                                               |
 * | 0x3c   | res5        | the PE header's offset for the EFI stub (ignored)                    |
 *
 * A loader call checks every field before anything is written, then places:
 *  - the kernel at kernel_base + text_offset, kernel_base 2 MiB aligned, with image_size bytes from there kept
 *    free (the loaded file and the rest, which the kernel uses as bss);
 *  - the DTB (checked with fdt_check_full(), at most 2 MiB) 8-byte aligned and apart from everything else; by
 *    default at the first 2 MiB boundary past the kernel, so within 512 MiB of kernel_base as kernels before
 *    4.2 want, and in a 2 MiB block of its own;
 *  - the initrd (page aligned; by default right after the DTB's 2 MiB block) inside a 1 GiB aligned window of
 *    at most 32 GiB that covers the kernel too; its range is then written into the loaded DTB's `/chosen`
 *    (`linux,initrd-start` / `linux,initrd-end`), so the tree can be built before the initrd's place is known.
 *
 * The boot vCPU must start at kvmhost_arm64_boot_info.entry in EL1h with the MMU and caches off and DAIF
 * masked, x0 = the DTB's address and x1 = x2 = x3 = 0 (what KVM_ARM_VCPU_INIT's reset state is, but for PC
 * and x0). The loader takes the raw Image: Debian's arm64 /boot/vmlinuz-* is one (a signed EFI/PE Image);
 * a gzip'd Image (what some distributions ship as vmlinuz) must be decompressed by the caller first.
 *
 * Guest RAM, for placement: kvmhost_arm64_boot_options.ram_base/ram_size when given, else the lowest writable
 * region of the memory map; everything must lie in it and in writable regions of the map.
 *
 * Errors (besides -EINVAL for NULL or bad options, with a message):
 *  - -ENOEXEC: not an arm64 Image (too short for its header, bad magic) or a header field out of bounds
 *    (text_offset not 4 KiB aligned or not below 2 MiB, image_size smaller than the file or wrapping);
 *  - -ENOTSUP: a valid Image this loader does not boot (big-endian; image_size 0, a kernel before 3.17 whose
 *    footprint the header does not say);
 *  - -EFAULT: something does not lie in guest RAM; -ENOSPC: no room for the DTB or initrd;
 *  - -EINVAL also for a bad DTB, misaligned or overlapping placements, or an initrd outside the 32 GiB window.
 * A failed call leaves guest memory as it was.
 *
 * Thread safety: as x86_boot.h: any thread, through the memory map's thread-safe calls; not while the guest
 * runs. This is pure code (no KVM), built and tested on every architecture.
 */
#ifndef KVMHOST_ARM64_BOOT_H
#define KVMHOST_ARM64_BOOT_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_memory;

/** The Image header's magic at offset 0x38: "ARM\x64" read little-endian. */
#define KVMHOST_ARM64_IMAGE_MAGIC 0x644d5241u
/** Bytes of the Image header. */
#define KVMHOST_ARM64_IMAGE_HEADER_SIZE 64u
/** Alignment of the kernel's base (kernel_base). */
#define KVMHOST_ARM64_KERNEL_ALIGN (2ull * 1024 * 1024)

#define KVMHOST_ARM64_IMAGE_BIG_ENDIAN (1ull << 0) /**< header flag: the kernel is big-endian (refused) */
#define KVMHOST_ARM64_IMAGE_PAGE_SHIFT 1	   /**< header flags: the page size field's shift (bits 1-2) */
/** Header flags: the page size field: 0 unspecified, 1 4 KiB, 2 16 KiB, 3 64 KiB. */
#define KVMHOST_ARM64_IMAGE_PAGE_MASK (3ull << 1)
/** Header flag: kernel_base may be anywhere in RAM (else: as low as possible; the kernel cannot use memory
 * below it). */
#define KVMHOST_ARM64_IMAGE_PHYS_ANYWHERE (1ull << 3)

/**
 * What to hand the kernel and where to put things. Options struct: `size` first; placement fields 0 mean
 * "choose" (see the file comment).
 */
struct kvmhost_arm64_boot_options {
	size_t size;	      /**< sizeof(struct kvmhost_arm64_boot_options) */
	const void *dtb;      /**< the device tree (required; kvmhost_arm64_fdt_build() makes one); copied */
	size_t dtb_size;      /**< bytes at @c dtb (its totalsize must fit) */
	const void *initrd;   /**< initrd / initramfs contents (copied); NULL for none */
	size_t initrd_size;   /**< bytes; non-zero exactly when initrd is set */
	uint64_t ram_base;    /**< guest RAM to place things in (with ram_size; both 0: the lowest writable region
				   of the map; kvmhost_arm64_boot_check() needs them) */
	uint64_t ram_size;    /**< bytes of that RAM */
	uint64_t kernel_base; /**< the 2 MiB aligned base (0: ram_base rounded up to 2 MiB) */
	uint64_t dtb_gpa;     /**< where the DTB goes, 8-byte aligned (0: the first 2 MiB boundary past the kernel) */
	uint64_t initrd_gpa;  /**< where the initrd goes, 4 KiB aligned (0: right after the DTB's 2 MiB block) */
	uint32_t flags;	      /**< none defined yet: 0 */
};

/**
 * Result of a load. Output struct: set size = sizeof(struct kvmhost_arm64_boot_info); the library writes at
 * most that many bytes (rules in docs/architecture.md). Written only on success.
 */
struct kvmhost_arm64_boot_info {
	size_t size;	       /**< set by the caller: sizeof(struct kvmhost_arm64_boot_info) */
	uint64_t entry;	       /**< PC of the boot vCPU: the image's first byte */
	uint64_t x0;	       /**< x0 of the boot vCPU: the DTB's address */
	uint64_t kernel_base;  /**< the 2 MiB aligned base */
	uint64_t kernel_start; /**< kernel_base + text_offset */
	uint64_t kernel_end;   /**< kernel_start + the larger of image_size and the file's size (exclusive) */
	uint64_t dtb_gpa;      /**< where the DTB went */
	uint64_t dtb_size;     /**< its size as loaded (the initrd range may have grown it a little) */
	uint64_t initrd_gpa;   /**< where the initrd went, 0 if none */
	uint64_t initrd_size;  /**< its size, 0 if none */
	uint64_t text_offset;  /**< from the header */
	uint64_t image_size;   /**< from the header */
	uint64_t flags;	       /**< from the header: KVMHOST_ARM64_IMAGE_* (reserved bits passed through) */
	uint32_t page_size;    /**< the page size the kernel was built for, in bytes; 0 if it does not say */
};

/**
 * Load an arm64 Image with its DTB and initrd (placement and checks in the file comment).
 * @param mem the guest memory (memory.h): a VM's, or a standalone map
 * @param image the Image in memory (not compressed)
 * @param image_size bytes at @p image
 * @param opts the options (not NULL: the DTB is required)
 * @param info receives where things went; its size field must be set
 * @return 0 or a negative errno (see the file comment)
 */
KVMHOST_API int kvmhost_arm64_boot_load_image(struct kvmhost_memory *mem, const void *image, size_t image_size,
					      const struct kvmhost_arm64_boot_options *opts,
					      struct kvmhost_arm64_boot_info *info);

/**
 * The loader's dry run: every check and the whole placement of kvmhost_arm64_boot_load_image(), in the RAM
 * that opts->ram_base/ram_size describe (required here), without guest memory. A machine calls it before it
 * creates anything, so that a bad kernel fails early.
 * @param image the Image in memory
 * @param image_size bytes at @p image
 * @param opts the options, ram_size set
 * @param info receives what the load would do (may be NULL); its size field must be set
 * @return 0 or the error the load would return
 */
KVMHOST_API int kvmhost_arm64_boot_check(const void *image, size_t image_size,
					 const struct kvmhost_arm64_boot_options *opts,
					 struct kvmhost_arm64_boot_info *info);

#ifdef __cplusplus
}
#endif

#endif
