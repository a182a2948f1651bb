/*
 * The arm64 Image loader (include/kvmhost/arm64_boot.h): parse and bound-check the Image header, plan where the
 * kernel, the DTB and the initrd go (Linux's Documentation/arch/arm64/booting.rst), check the whole plan against
 * guest RAM and only then write guest memory. Pure code, built on every architecture (lib/CMakeLists.txt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libfdt.h>

#include <kvmhost/arm64_boot.h>
#include <kvmhost/arm64_fdt.h>
#include <kvmhost/memory.h>
#include "../../core/internal.h"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)
/* Room for /chosen and the two initrd properties when the DTB has to get them. */
#define DTB_GROWTH	256u
#define MAX_RAM_REGIONS 64

struct ram_region {
	uint64_t start, end;
};

struct arm64_boot {
	const char *func;
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info res;
	uint64_t ram_start, ram_end;
	struct ram_region regions[MAX_RAM_REGIONS]; /* writable regions of the map (none for a check) */
	uint32_t nregions;
	uint8_t *dtb; /* our copy, with /chosen's initrd range when there is an initrd */
	uint32_t dtb_len;
};

#define FAIL(b, err, ...) kh_fail((err), (b)->func, __VA_ARGS__)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static int parse_header(struct arm64_boot *b, const uint8_t *img, size_t size)
{
	struct kvmhost_arm64_boot_info *r = &b->res;
	uint32_t magic;

	if (size < KVMHOST_ARM64_IMAGE_HEADER_SIZE)
		return FAIL(b, ENOEXEC, "image_size %zu is shorter than the %u-byte arm64 Image header", size,
			    KVMHOST_ARM64_IMAGE_HEADER_SIZE);
	magic = (uint32_t)(le64(img + 0x38) & 0xffffffffu);
	if (magic != KVMHOST_ARM64_IMAGE_MAGIC)
		return FAIL(b, ENOEXEC, "magic 0x%08x at 0x38 is not \"ARM\\x64\" (0x%08x): not an arm64 Image", magic,
			    KVMHOST_ARM64_IMAGE_MAGIC);
	r->text_offset = le64(img + 0x08);
	r->image_size = le64(img + 0x10);
	r->flags = le64(img + 0x18);
	if (r->flags & KVMHOST_ARM64_IMAGE_BIG_ENDIAN)
		return FAIL(b, ENOTSUP, "flags 0x%llx: a big-endian kernel", (unsigned long long)r->flags);
	if (!r->image_size)
		return FAIL(b, ENOTSUP, "image_size 0 in the header: a kernel before 3.17, whose footprint is unknown");
	if (r->text_offset & 0xfff || r->text_offset >= KVMHOST_ARM64_KERNEL_ALIGN)
		return FAIL(b, ENOEXEC, "text_offset 0x%llx: want a multiple of 4 KiB below 2 MiB",
			    (unsigned long long)r->text_offset);
	if (r->image_size < size)
		return FAIL(b, ENOEXEC, "image_size 0x%llx in the header is smaller than the file (%zu bytes)",
			    (unsigned long long)r->image_size, size);
	switch ((r->flags & KVMHOST_ARM64_IMAGE_PAGE_MASK) >> KVMHOST_ARM64_IMAGE_PAGE_SHIFT) {
	case 1:
		r->page_size = 4096;
		break;
	case 2:
		r->page_size = 16384;
		break;
	case 3:
		r->page_size = 65536;
		break;
	default:
		r->page_size = 0;
	}
	return 0;
}

/* The DTB as it will be loaded: checked, and with /chosen's initrd properties (values set once placed). */
static int prepare_dtb(struct arm64_boot *b)
{
	const struct kvmhost_arm64_boot_options *o = &b->o;
	uint32_t total;
	int chosen, r;

	if (!o->dtb)
		return FAIL(b, EINVAL, "opts->dtb is NULL: an arm64 kernel needs a device tree");
	if (o->dtb_size < sizeof(struct fdt_header) || fdt_check_header(o->dtb) < 0)
		return FAIL(b, EINVAL, "dtb: not a device tree (%s)",
			    o->dtb_size < sizeof(struct fdt_header) ? "shorter than its header"
								    : fdt_strerror(fdt_check_header(o->dtb)));
	total = fdt_totalsize(o->dtb);
	if (total > o->dtb_size)
		return FAIL(b, EINVAL, "dtb: totalsize %u is beyond dtb_size %zu", total, o->dtb_size);
	if (total > KVMHOST_ARM64_FDT_MAX_SIZE)
		return FAIL(b, EINVAL, "dtb: totalsize %u is above the boot protocol's 2 MiB", total);
	r = fdt_check_full(o->dtb, total);
	if (r < 0)
		return FAIL(b, EINVAL, "dtb: fdt_check_full: %s", fdt_strerror(r));
	b->dtb = malloc(total + DTB_GROWTH);
	if (!b->dtb)
		return FAIL(b, ENOMEM, "no memory for a copy of the dtb");
	if (!o->initrd) {
		memcpy(b->dtb, o->dtb, total);
		b->dtb_len = total;
		return 0;
	}
	r = fdt_open_into(o->dtb, b->dtb, (int)(total + DTB_GROWTH));
	chosen = r < 0 ? r : fdt_path_offset(b->dtb, "/chosen");
	if (chosen == -FDT_ERR_NOTFOUND)
		chosen = fdt_add_subnode(b->dtb, 0, "chosen");
	r = chosen;
	if (r >= 0)
		r = fdt_setprop_u64(b->dtb, chosen, "linux,initrd-start", 0);
	if (r >= 0)
		r = fdt_setprop_u64(b->dtb, chosen, "linux,initrd-end", 0);
	if (r >= 0)
		r = fdt_pack(b->dtb);
	if (r < 0)
		return FAIL(b, EINVAL, "dtb: adding the initrd range to /chosen: %s", fdt_strerror(r));
	b->dtb_len = fdt_totalsize(b->dtb);
	if (b->dtb_len > KVMHOST_ARM64_FDT_MAX_SIZE)
		return FAIL(b, EINVAL, "dtb: with the initrd range, %u bytes: above the boot protocol's 2 MiB",
			    b->dtb_len);
	return 0;
}

static int collect_region(struct kvmhost_memory_region *region, void *opaque)
{
	struct arm64_boot *b = opaque;

	if (kvmhost_memory_region_flags(region) & KVMHOST_MEMORY_READONLY || b->nregions == MAX_RAM_REGIONS)
		return 0;
	b->regions[b->nregions].start = kvmhost_memory_region_gpa(region);
	b->regions[b->nregions].end = b->regions[b->nregions].start + kvmhost_memory_region_length(region);
	b->nregions++;
	return 0;
}

/* The RAM to place in: the options' range, else the lowest writable region. */
static int find_ram(struct arm64_boot *b, struct kvmhost_memory *mem)
{
	const struct kvmhost_arm64_boot_options *o = &b->o;
	int r;

	if (mem) {
		r = kvmhost_memory_for_each_region(mem, collect_region, b);
		if (r < 0)
			return r;
	}
	if (o->ram_size) {
		if (kh_add_overflows(o->ram_base, o->ram_size, &b->ram_end))
			return FAIL(b, EINVAL, "ram [0x%llx, +0x%llx) wraps", (unsigned long long)o->ram_base,
				    (unsigned long long)o->ram_size);
		b->ram_start = o->ram_base;
		return 0;
	}
	if (o->ram_base)
		return FAIL(b, EINVAL, "ram_base 0x%llx without ram_size", (unsigned long long)o->ram_base);
	if (!mem)
		return FAIL(b, EINVAL, "the check needs opts->ram_base and ram_size");
	if (!b->nregions)
		return FAIL(b, EFAULT, "the memory map has no writable region");
	b->ram_start = UINT64_MAX;
	for (uint32_t i = 0; i < b->nregions; i++)
		if (b->regions[i].start < b->ram_start) {
			b->ram_start = b->regions[i].start;
			b->ram_end = b->regions[i].end;
		}
	return 0;
}

/* [gpa, +len) inside the placement RAM and, with a memory map, covered by its writable regions. */
static int in_ram(struct arm64_boot *b, uint64_t gpa, uint64_t len, const char *what, int err)
{
	uint64_t end, cur;

	if (kh_add_overflows(gpa, len, &end) || gpa < b->ram_start || end > b->ram_end)
		return FAIL(b, err, "%s [0x%llx, +0x%llx) is outside guest RAM [0x%llx, 0x%llx)", what,
			    (unsigned long long)gpa, (unsigned long long)len, (unsigned long long)b->ram_start,
			    (unsigned long long)b->ram_end);
	for (cur = gpa; b->nregions && cur < end;) {
		uint32_t i;

		for (i = 0; i < b->nregions; i++)
			if (b->regions[i].start <= cur && cur < b->regions[i].end)
				break;
		if (i == b->nregions)
			return FAIL(b, EFAULT, "%s [0x%llx, +0x%llx): 0x%llx is not in writable guest memory", what,
				    (unsigned long long)gpa, (unsigned long long)len, (unsigned long long)cur);
		cur = b->regions[i].end;
	}
	return 0;
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int plan(struct arm64_boot *b, size_t image_size)
{
	const struct kvmhost_arm64_boot_options *o = &b->o;
	struct kvmhost_arm64_boot_info *r = &b->res;
	uint64_t footprint, lo, hi;
	int e;

	r->kernel_base = o->kernel_base ? o->kernel_base : align_up(b->ram_start, KVMHOST_ARM64_KERNEL_ALIGN);
	if (r->kernel_base & (KVMHOST_ARM64_KERNEL_ALIGN - 1))
		return FAIL(b, EINVAL, "kernel_base 0x%llx is not 2 MiB aligned", (unsigned long long)r->kernel_base);
	if (!(r->flags & KVMHOST_ARM64_IMAGE_PHYS_ANYWHERE) &&
	    r->kernel_base >= align_up(b->ram_start, KVMHOST_ARM64_KERNEL_ALIGN) + KVMHOST_ARM64_KERNEL_ALIGN)
		kh_log(KVMHOST_LOG_WARN,
		       "%s: kernel_base 0x%llx: this kernel cannot use the RAM below its base (flags bit 3 clear)",
		       b->func, (unsigned long long)r->kernel_base);
	r->kernel_start = r->kernel_base + r->text_offset;
	footprint = r->image_size > image_size ? r->image_size : image_size;
	e = in_ram(b, r->kernel_start, footprint, "the kernel (image_size from its header)", EFAULT);
	if (e < 0)
		return e;
	r->kernel_end = r->kernel_start + footprint;

	r->dtb_size = b->dtb_len;
	r->dtb_gpa = o->dtb_gpa ? o->dtb_gpa : align_up(r->kernel_end, KVMHOST_ARM64_KERNEL_ALIGN);
	if (r->dtb_gpa & 7)
		return FAIL(b, EINVAL, "dtb_gpa 0x%llx is not 8-byte aligned", (unsigned long long)r->dtb_gpa);
	e = in_ram(b, r->dtb_gpa, r->dtb_size, "the dtb", o->dtb_gpa ? EFAULT : ENOSPC);
	if (e < 0)
		return e;
	if (overlaps(r->dtb_gpa, r->dtb_size, r->kernel_start, footprint))
		return FAIL(b, EINVAL, "the dtb at 0x%llx overlaps the kernel [0x%llx, 0x%llx)",
			    (unsigned long long)r->dtb_gpa, (unsigned long long)r->kernel_start,
			    (unsigned long long)r->kernel_end);
	/* Kernels before 4.2 map the DTB only within 512 MiB of their base: the default place keeps to that. */
	if (!o->dtb_gpa && r->dtb_gpa + r->dtb_size - r->kernel_base > 512 * MIB)
		return FAIL(b, ENOSPC,
			    "the kernel is too big to put the dtb within 512 MiB of kernel_base: set dtb_gpa");

	if (!o->initrd)
		return 0;
	r->initrd_size = o->initrd_size;
	hi = r->kernel_end > r->dtb_gpa + r->dtb_size ? r->kernel_end : r->dtb_gpa + r->dtb_size;
	r->initrd_gpa = o->initrd_gpa ? o->initrd_gpa : align_up(hi, KVMHOST_ARM64_KERNEL_ALIGN);
	if (r->initrd_gpa & 0xfff)
		return FAIL(b, EINVAL, "initrd_gpa 0x%llx is not 4 KiB aligned", (unsigned long long)r->initrd_gpa);
	e = in_ram(b, r->initrd_gpa, r->initrd_size, "the initrd", o->initrd_gpa ? EFAULT : ENOSPC);
	if (e < 0)
		return e;
	if (overlaps(r->initrd_gpa, r->initrd_size, r->kernel_start, footprint) ||
	    overlaps(r->initrd_gpa, r->initrd_size, r->dtb_gpa, r->dtb_size))
		return FAIL(b, EINVAL, "the initrd [0x%llx, +0x%llx) overlaps the %s",
			    (unsigned long long)r->initrd_gpa, (unsigned long long)r->initrd_size,
			    overlaps(r->initrd_gpa, r->initrd_size, r->kernel_start, footprint) ? "kernel" : "dtb");
	lo = (r->kernel_start < r->initrd_gpa ? r->kernel_start : r->initrd_gpa) & ~(GIB - 1);
	hi = r->kernel_end > r->initrd_gpa + r->initrd_size ? r->kernel_end : r->initrd_gpa + r->initrd_size;
	if (align_up(hi, GIB) - lo > 32 * GIB)
		return FAIL(b, EINVAL,
			    "the initrd at 0x%llx and the kernel at 0x%llx do not fit one 1 GiB aligned "
			    "window of 32 GiB",
			    (unsigned long long)r->initrd_gpa, (unsigned long long)r->kernel_start);
	return 0;
}

static int set_initrd_range(struct arm64_boot *b)
{
	int chosen = fdt_path_offset(b->dtb, "/chosen"), r = chosen;

	if (r >= 0)
		r = fdt_setprop_inplace_u64(b->dtb, chosen, "linux,initrd-start", b->res.initrd_gpa);
	if (r >= 0)
		r = fdt_setprop_inplace_u64(b->dtb, chosen, "linux,initrd-end", b->res.initrd_gpa + b->res.initrd_size);
	if (r < 0)
		return FAIL(b, EINVAL, "dtb: writing the initrd range: %s", fdt_strerror(r));
	return 0;
}

static int write_all(struct arm64_boot *b, struct kvmhost_memory *mem, const void *image, size_t image_size)
{
	int r = kvmhost_memory_write(mem, b->res.kernel_start, image, image_size);

	if (r >= 0)
		r = kvmhost_memory_write(mem, b->res.dtb_gpa, b->dtb, b->dtb_len);
	if (r >= 0 && b->o.initrd)
		r = kvmhost_memory_write(mem, b->res.initrd_gpa, b->o.initrd, b->o.initrd_size);
	if (r < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", kvmhost_last_error()); /* not formatted from the buffer it goes to */
		return FAIL(b, -r, "writing guest memory: %s", why);
	}
	return 0;
}

static void info_out(const struct kvmhost_arm64_boot_info *full, struct kvmhost_arm64_boot_info *info)
{
	size_t n = info->size, ours = sizeof(*full), head = sizeof(size_t);

	memcpy((uint8_t *)info + head, (const uint8_t *)full + head, (n < ours ? n : ours) - head);
	if (n > ours)
		memset((uint8_t *)info + ours, 0, n - ours);
}

static int run(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
	       const struct kvmhost_arm64_boot_options *opts, struct kvmhost_arm64_boot_info *info)
{
	struct arm64_boot *b;
	int r;

	if (!image || !opts || (mem && !info))
		return kh_fail(EINVAL, func, "%s is NULL", !image ? "image" : !opts ? "opts" : "info");
	if (info && (info->size < sizeof(size_t) || info->size > 65536))
		return kh_fail(EINVAL, func, "info->size is %zu: set it to sizeof(struct kvmhost_arm64_boot_info)",
			       info->size);
	b = calloc(1, sizeof(*b));
	if (!b)
		return kh_fail(ENOMEM, func, "no memory for the plan");
	b->func = func;
	r = kh_copy_options(&b->o, sizeof(b->o), opts, func);
	if (r >= 0 && b->o.flags)
		r = FAIL(b, EINVAL, "flags 0x%x: none are defined", b->o.flags);
	if (r >= 0 && (!b->o.initrd != !b->o.initrd_size))
		r = FAIL(b, EINVAL, "initrd %s but initrd_size is %zu", b->o.initrd ? "set" : "NULL", b->o.initrd_size);
	if (r >= 0)
		r = parse_header(b, image, image_size);
	if (r >= 0)
		r = prepare_dtb(b);
	if (r >= 0)
		r = find_ram(b, mem);
	if (r >= 0)
		r = plan(b, image_size);
	if (r >= 0 && b->o.initrd)
		r = set_initrd_range(b);
	if (r >= 0 && mem)
		r = write_all(b, mem, image, image_size);
	if (r >= 0) {
		b->res.entry = b->res.kernel_start;
		b->res.x0 = b->res.dtb_gpa;
		if (info)
			info_out(&b->res, info);
		if (mem)
			kh_log(KVMHOST_LOG_INFO,
			       "%s: kernel [0x%llx, 0x%llx) (text_offset 0x%llx), dtb [0x%llx, +0x%llx), initrd "
			       "[0x%llx, +0x%llx)",
			       func, (unsigned long long)b->res.kernel_start, (unsigned long long)b->res.kernel_end,
			       (unsigned long long)b->res.text_offset, (unsigned long long)b->res.dtb_gpa,
			       (unsigned long long)b->res.dtb_size, (unsigned long long)b->res.initrd_gpa,
			       (unsigned long long)b->res.initrd_size);
	}
	free(b->dtb);
	free(b);
	return r < 0 ? r : 0;
}

KVMHOST_API int kvmhost_arm64_boot_load_image(struct kvmhost_memory *mem, const void *image, size_t image_size,
					      const struct kvmhost_arm64_boot_options *opts,
					      struct kvmhost_arm64_boot_info *info)
{
	if (!mem)
		return KH_FAIL(EINVAL, "mem is NULL");
	return run(__func__, mem, image, image_size, opts, info);
}

KVMHOST_API int kvmhost_arm64_boot_check(const void *image, size_t image_size,
					 const struct kvmhost_arm64_boot_options *opts,
					 struct kvmhost_arm64_boot_info *info)
{
	return run(__func__, NULL, image, image_size, opts, info);
}
