/*
 * Linux bzImage loader (Documentation/arch/x86/boot.rst). The real-mode
 * setup code is never run: the loader fills the zero page (struct
 * boot_params) itself, from the image's setup header, and the VMM enters the
 * protected-mode kernel at its 32-bit entry (kernel_gpa) or, with
 * XLF_KERNEL_64, at its 64-bit entry (kernel_gpa + 0x200).
 *
 * Memory the kernel needs: the protected-mode image where it is loaded, and
 * (protocol 2.10+) init_size bytes where it decompresses itself: at
 * pref_address for a non-relocatable kernel, else at the load address
 * rounded up to kernel_alignment but not below pref_address (the kernel's
 * own rule in arch/x86/boot/compressed/head_64.S). Both must lie in RAM and
 * nothing else may be placed there.
 */
#include <stdio.h>
#include <string.h>

#include "boot_internal.h"

/* Setup header fields: offsets in the image and in boot_params alike. */
#define BZ_SETUP_SECTS	    0x1f1
#define BZ_SYSSIZE	    0x1f4
#define BZ_VID_MODE	    0x1fa
#define BZ_BOOT_FLAG	    0x1fe
#define BZ_JUMP		    0x200
#define BZ_HEADER	    0x202
#define BZ_VERSION	    0x206
#define BZ_TYPE_OF_LOADER   0x210
#define BZ_LOADFLAGS	    0x211
#define BZ_CODE32_START	    0x214
#define BZ_RAMDISK_IMAGE    0x218
#define BZ_RAMDISK_SIZE	    0x21c
#define BZ_CMD_LINE_PTR	    0x228
#define BZ_INITRD_ADDR_MAX  0x22c
#define BZ_KERNEL_ALIGNMENT 0x230
#define BZ_RELOCATABLE	    0x234
#define BZ_XLOADFLAGS	    0x236
#define BZ_CMDLINE_SIZE	    0x238
#define BZ_PAYLOAD_OFFSET   0x248
#define BZ_PAYLOAD_LENGTH   0x24c
#define BZ_SETUP_DATA	    0x250
#define BZ_PREF_ADDRESS	    0x258
#define BZ_INIT_SIZE	    0x260

/* boot_params fields outside the setup header (Documentation/arch/x86/zero-page.rst). */
#define BP_SIZE		     4096
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES	     0x1e8
#define BP_HDR_END	     0x290
#define BP_E820_TABLE	     0x2d0
#define BP_E820_ENTRY_SIZE   20

#define BZ_BOOT_FLAG_MAGIC	   0xAA55
#define BZ_HDRS_MAGIC		   0x53726448 /* "HdrS" */
#define BZ_LOADED_HIGH		   0x01
#define XLF_KERNEL_64		   (1u << 0)
#define XLF_CAN_BE_LOADED_ABOVE_4G (1u << 1)
#define BZ_MIN_VERSION		   0x0206
#define BZ_ENTRY_64_OFFSET	   0x200
#define BZ_LEGACY_LOAD_ADDR	   0x100000ull
#define BZ_OLD_INITRD_ADDR_MAX	   0x37ffffffu /* the spec's value for kernels that leave it 0 */

struct bz_hdr {
	uint32_t version;
	uint32_t hdr_end; /* end of the setup header in the image (0x202 + jump byte) */
	uint64_t setup_size, payload_size;
	uint8_t loadflags, relocatable;
	uint16_t xloadflags;
	uint32_t initrd_addr_max, kernel_alignment, cmdline_size, init_size;
	uint64_t pref_address;
};

/* Every check of the image itself; -ENOEXEC naming the field. */
static int bz_parse(struct kh_boot *b, const uint8_t *img, size_t size, struct bz_hdr *h)
{
	uint32_t need, setup_sects, syssize;

	memset(h, 0, sizeof(*h));
	if (size < BZ_VERSION + 2)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "image of %zu bytes is too small for a Linux setup header "
				    "(0x%x bytes needed)",
				    size, BZ_VERSION + 2);
	if (kh_le16(img + BZ_BOOT_FLAG) != BZ_BOOT_FLAG_MAGIC)
		return KH_BOOT_FAIL(b, ENOEXEC, "boot_flag 0x%04x at 0x1fe is not 0xAA55: not a Linux bzImage",
				    kh_le16(img + BZ_BOOT_FLAG));
	if (kh_le32(img + BZ_HEADER) != BZ_HDRS_MAGIC)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "header 0x%08x at 0x202 is not \"HdrS\" (0x53726448): not a bzImage, or a kernel "
				    "older than boot protocol 2.00",
				    kh_le32(img + BZ_HEADER));
	h->version = kh_le16(img + BZ_VERSION);
	if (h->version < BZ_MIN_VERSION)
		return KH_BOOT_FAIL(b, ENOEXEC, "boot protocol version %u.%02u is older than 2.06", h->version >> 8,
				    h->version & 0xff);
	h->hdr_end = 0x202 + img[BZ_JUMP + 1];
	need = h->version >= 0x020a ? BZ_INIT_SIZE + 4 : BZ_CMDLINE_SIZE + 4;
	if (h->hdr_end < need)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "the setup header ends at 0x%x (jump byte 0x%02x at 0x201), before the fields of "
				    "protocol %u.%02u end at 0x%x",
				    h->hdr_end, img[BZ_JUMP + 1], h->version >> 8, h->version & 0xff, need);
	if (size < h->hdr_end)
		return KH_BOOT_FAIL(b, ENOEXEC, "setup header truncated: it ends at 0x%x, the image has %zu bytes",
				    h->hdr_end, size);
	setup_sects = img[BZ_SETUP_SECTS] ? img[BZ_SETUP_SECTS] : 4;
	h->setup_size = ((uint64_t)setup_sects + 1) * 512;
	if (h->setup_size >= size)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "setup_sects %u: the 0x%llx bytes of setup code leave no protected-mode kernel in "
				    "the image of %zu bytes",
				    img[BZ_SETUP_SECTS], (unsigned long long)h->setup_size, size);
	h->payload_size = size - h->setup_size;
	syssize = kh_le32(img + BZ_SYSSIZE);
	if (!syssize || (uint64_t)syssize * 16 > h->payload_size)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "syssize 0x%x (0x%llx bytes of protected-mode kernel) does not fit the 0x%llx "
				    "bytes after the setup code: truncated or corrupt image",
				    syssize, (unsigned long long)syssize * 16, (unsigned long long)h->payload_size);
	h->loadflags = img[BZ_LOADFLAGS];
	if (!(h->loadflags & BZ_LOADED_HIGH))
		return KH_BOOT_FAIL(b, ENOEXEC, "loadflags 0x%02x lack LOADED_HIGH: zImage kernels are not supported",
				    h->loadflags);
	h->relocatable = img[BZ_RELOCATABLE];
	h->kernel_alignment = kh_le32(img + BZ_KERNEL_ALIGNMENT);
	if (h->relocatable && (h->kernel_alignment < 0x1000 || h->kernel_alignment > (1u << 30) ||
			       (h->kernel_alignment & (h->kernel_alignment - 1))))
		return KH_BOOT_FAIL(b, ENOEXEC, "kernel_alignment 0x%x is not a power of two from 4 KiB to 1 GiB",
				    h->kernel_alignment);
	h->initrd_addr_max = kh_le32(img + BZ_INITRD_ADDR_MAX);
	if (!h->initrd_addr_max)
		h->initrd_addr_max = BZ_OLD_INITRD_ADDR_MAX;
	h->cmdline_size = kh_le32(img + BZ_CMDLINE_SIZE);
	if (h->version >= 0x0208) {
		uint64_t off = kh_le32(img + BZ_PAYLOAD_OFFSET), len = kh_le32(img + BZ_PAYLOAD_LENGTH);

		if (off + len > (uint64_t)syssize * 16)
			return KH_BOOT_FAIL(
			    b, ENOEXEC,
			    "payload_offset 0x%llx + payload_length 0x%llx lies beyond the 0x%llx bytes "
			    "of protected-mode kernel (syssize)",
			    (unsigned long long)off, (unsigned long long)len, (unsigned long long)syssize * 16);
	}
	if (h->version >= 0x020a) {
		uint64_t end;

		h->pref_address = kh_le64(img + BZ_PREF_ADDRESS);
		h->init_size = kh_le32(img + BZ_INIT_SIZE);
		if (!h->init_size)
			return KH_BOOT_FAIL(b, ENOEXEC, "init_size is 0");
		if (kh_add_overflows(h->pref_address, h->init_size, &end))
			return KH_BOOT_FAIL(b, ENOEXEC, "pref_address 0x%llx + init_size 0x%x wraps around",
					    (unsigned long long)h->pref_address, h->init_size);
	}
	if (h->version >= 0x020c)
		h->xloadflags = kh_le16(img + BZ_XLOADFLAGS);
	return 0;
}

/* Where the kernel runs from (decompresses to): see the file comment. */
static int bz_runtime(struct kh_boot *b, const struct bz_hdr *h, uint64_t kernel_gpa, uint64_t *start, uint64_t *end)
{
	uint64_t t;

	if (h->version < 0x020a) {
		*start = kernel_gpa;
		*end = kernel_gpa + h->payload_size;
		return 0;
	}
	if (h->relocatable) {
		if (kernel_gpa > UINT64_MAX - h->kernel_alignment)
			return KH_BOOT_FAIL(b, EINVAL, "kernel_gpa 0x%llx is too high", (unsigned long long)kernel_gpa);
		t = kh_align_up(kernel_gpa, h->kernel_alignment);
		if (t < h->pref_address)
			t = h->pref_address;
	} else {
		t = h->pref_address ? h->pref_address : kernel_gpa;
	}
	if (kh_add_overflows(t, h->init_size, end))
		return KH_BOOT_FAIL(b, EFAULT, "the kernel's run-time area at 0x%llx (init_size 0x%x) wraps around",
				    (unsigned long long)t, h->init_size);
	*start = t;
	return 0;
}

static int bz_check_below(struct kh_boot *b, uint64_t limit, uint64_t start, uint64_t len, const char *what)
{
	if (limit && (start >= limit || len > limit - start))
		return KH_BOOT_FAIL(b, EINVAL, "%s [0x%llx, 0x%llx) must lie below 4 GiB: the kernel %s", what,
				    (unsigned long long)start, (unsigned long long)(start + len),
				    "starts at 32 bits or lacks XLF_CAN_BE_LOADED_ABOVE_4G");
	return 0;
}

static int bz_plan(struct kh_boot *b, const uint8_t *img, size_t size, struct kvmhost_x86_boot_info *res)
{
	const struct kvmhost_x86_boot_options *o = &b->o;
	struct bz_hdr h;
	struct kh_boot_mod initrd = {0};
	uint64_t kernel_gpa, load_end, run_start = 0, run_end = 0, bp, limit, cmd_gpa, cmd_size, initrd_hi;
	uint32_t nmods = 0;
	int entry64, above4g, r;
	uint8_t *zp;

	r = bz_parse(b, img, size, &h);
	if (r < 0)
		return r;
	if (o->module_count)
		return KH_BOOT_FAIL(b, EINVAL, "%u modules given: the Linux boot protocol takes only an initrd",
				    o->module_count);
	entry64 = (h.xloadflags & XLF_KERNEL_64) && !(o->flags & KVMHOST_X86_BOOT_LINUX_ENTRY_32);
	above4g = entry64 && (h.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G);
	limit = above4g ? 0 : KH_BOOT_4G;
	if (o->cmdline && b->cmdline_len > h.cmdline_size)
		return KH_BOOT_FAIL(b, EINVAL, "the command line has %zu bytes, more than the kernel's cmdline_size %u",
				    b->cmdline_len, h.cmdline_size);

	/* The kernel and its run-time area: one claim when they touch. */
	kernel_gpa = o->kernel_gpa ? o->kernel_gpa : KVMHOST_X86_BOOT_DEFAULT_KERNEL_GPA;
	if (kernel_gpa & (KH_BOOT_PAGE - 1))
		return KH_BOOT_FAIL(b, EINVAL, "kernel_gpa 0x%llx is not 4 KiB aligned",
				    (unsigned long long)kernel_gpa);
	if (!h.relocatable && kernel_gpa != BZ_LEGACY_LOAD_ADDR)
		return KH_BOOT_FAIL(b, EINVAL,
				    "kernel_gpa 0x%llx: the kernel is not relocatable and must be loaded "
				    "at 0x100000",
				    (unsigned long long)kernel_gpa);
	if (kh_add_overflows(kernel_gpa, h.payload_size, &load_end))
		return KH_BOOT_FAIL(b, EFAULT, "kernel_gpa 0x%llx + the 0x%llx-byte kernel wraps around",
				    (unsigned long long)kernel_gpa, (unsigned long long)h.payload_size);
	r = bz_check_below(b, limit, kernel_gpa, h.payload_size, "the kernel");
	if (r >= 0)
		r = bz_runtime(b, &h, kernel_gpa, &run_start, &run_end);
	if (r >= 0)
		r = bz_check_below(b, limit, run_start, run_end - run_start, "the kernel's run-time area (init_size)");
	if (r < 0)
		return r;
	if (run_start <= load_end && kernel_gpa <= run_end) {
		uint64_t s = run_start < kernel_gpa ? run_start : kernel_gpa;
		uint64_t e = run_end > load_end ? run_end : load_end;

		r = kh_boot_claim(b, s, e - s, "the kernel with its init_size area", EINVAL);
	} else {
		r = kh_boot_claim(b, kernel_gpa, h.payload_size, "the kernel", EINVAL);
		if (r >= 0)
			r = kh_boot_claim(b, run_start, run_end - run_start, "the kernel's init_size area", EINVAL);
	}
	if (r < 0)
		return r;

	bp = o->boot_params_gpa ? o->boot_params_gpa : KVMHOST_X86_BOOT_DEFAULT_BOOT_PARAMS_GPA;
	if (bp & (KH_BOOT_PAGE - 1))
		return KH_BOOT_FAIL(b, EINVAL, "boot_params_gpa 0x%llx is not 4 KiB aligned", (unsigned long long)bp);
	r = bz_check_below(b, limit, bp, BP_SIZE, "the zero page");
	if (r >= 0)
		r = kh_boot_claim(b, bp, BP_SIZE, "the zero page", EINVAL);
	if (r >= 0)
		r = kh_boot_place_cmdline(b, limit, &cmd_gpa, &cmd_size);
	if (r < 0)
		return r;

	/* initrd_addr_max is the highest address the initrd may occupy. */
	initrd_hi = above4g ? UINT64_MAX : (uint64_t)h.initrd_addr_max + 1;
	if (!entry64 && initrd_hi > KH_BOOT_4G)
		initrd_hi = KH_BOOT_4G;
	r = kh_boot_place_modules(b, 1, KH_BOOT_PAGE, initrd_hi, &initrd, &nmods);
	if (r < 0)
		return r;

	/* The zero page: the image's setup header plus what a loader fills in. */
	zp = kh_boot_zalloc(b, BP_SIZE);
	if (!zp)
		return -ENOMEM;
	memcpy(zp + BZ_SETUP_SECTS, img + BZ_SETUP_SECTS,
	       (h.hdr_end < BP_HDR_END ? h.hdr_end : BP_HDR_END) - BZ_SETUP_SECTS);
	kh_put16(zp + BZ_VID_MODE, 0xffff); /* "normal": no mode change */
	zp[BZ_TYPE_OF_LOADER] = 0xff;	    /* undefined loader */
	if (kernel_gpa < KH_BOOT_4G)
		kh_put32(zp + BZ_CODE32_START, (uint32_t)kernel_gpa);
	kh_put32(zp + BZ_CMD_LINE_PTR, (uint32_t)cmd_gpa);
	kh_put32(zp + BP_EXT_CMD_LINE_PTR, (uint32_t)(cmd_gpa >> 32));
	kh_put32(zp + BZ_RAMDISK_IMAGE, (uint32_t)initrd.gpa);
	kh_put32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd.gpa >> 32));
	kh_put32(zp + BZ_RAMDISK_SIZE, (uint32_t)initrd.size);
	kh_put32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd.size >> 32));
	if (h.hdr_end > BZ_SETUP_DATA)
		kh_put64(zp + BZ_SETUP_DATA, 0); /* no setup_data chain */
	kh_put64(zp + BP_ACPI_RSDP_ADDR, o->acpi_rsdp_gpa);
	zp[BP_E820_ENTRIES] = (uint8_t)b->e820_count;
	for (uint32_t i = 0; i < b->e820_count; i++) {
		uint8_t *e = zp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;

		kh_put64(e, b->e820[i].addr);
		kh_put64(e + 8, b->e820[i].size);
		kh_put32(e + 16, b->e820[i].type);
	}

	r = kh_boot_write(b, kernel_gpa, img + h.setup_size, h.payload_size);
	if (r >= 0)
		r = kh_boot_write(b, bp, zp, BP_SIZE);
	if (r < 0)
		return r;

	memset(res, 0, sizeof(*res));
	res->format = KVMHOST_X86_BOOT_BZIMAGE;
	res->kind = entry64 ? KVMHOST_X86_ENTRY_LINUX_64 : KVMHOST_X86_ENTRY_LINUX_32;
	res->entry = entry64 ? kernel_gpa + BZ_ENTRY_64_OFFSET : kernel_gpa;
	res->rsi = bp;
	res->boot_params_gpa = bp;
	res->kernel_start = run_start < kernel_gpa ? run_start : kernel_gpa;
	res->kernel_end = run_end > load_end ? run_end : load_end;
	res->initrd_gpa = initrd.gpa;
	res->initrd_size = initrd.size;
	res->cmdline_gpa = cmd_gpa;
	res->cmdline_size = cmd_size;
	res->identity_map_end = res->kernel_end;
	if (bp + BP_SIZE > res->identity_map_end)
		res->identity_map_end = bp + BP_SIZE;
	if (cmd_gpa + cmd_size > res->identity_map_end)
		res->identity_map_end = cmd_gpa + cmd_size;
	return 0;
}

int kh_boot_bzimage(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
		    const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info)
{
	return kh_boot_run(func, mem, image, image_size, opts, info, bz_plan);
}

KVMHOST_API int kvmhost_x86_boot_load_bzimage(struct kvmhost_memory *mem, const void *image, size_t image_size,
					      const struct kvmhost_x86_boot_options *opts,
					      struct kvmhost_x86_boot_info *info)
{
	return kh_boot_bzimage(__func__, mem, image, image_size, opts, info);
}
