/*
 * libFuzzer target: the x86 kernel loaders (x86_boot.h) on arbitrary images,
 * with options (command line, initrd, modules, e820 map, placements) taken
 * from the input, on fake guest memory of one of four layouts (one RAM
 * region; RAM with a read-only BIOS region and a hole; RAM around the 4 GiB
 * line in three regions; two touching regions). Every region has its own
 * host mapping between PROT_NONE guard pages and starts filled with a
 * pattern byte.
 *
 * Invariants checked on every input:
 *  - kvmhost_x86_boot_check() says what the load says: the same return value,
 *    the same message after the function name, the same boot info (whenever
 *    the check's RAM, the e820 map's RAM entries, is the load's RAM);
 *  - a failed load (or check) leaves guest memory and the info untouched;
 *  - a successful load writes only what it reports: the kernel (its image
 *    bytes and zeroed bss, compared with the image), the boot structure
 *    (zero page, PVH start_info, Multiboot information, parsed back here),
 *    the memory map it describes (equal to the e820 map), the command line,
 *    the initrd and modules (their contents compared); these lie in guest
 *    RAM, do not overlap, and every other byte still holds the pattern;
 *  - a 32-bit entry and its structures lie below 4 GiB; a bzImage the
 *    bzImage loader takes is detected as one; kvmhost_x86_boot_load() fails
 *    as detection does, or loads the format detection names.
 *
 * Input (see make_boot_corpus.py):
 *   [0] sel: bits 0-1 layout; bits 2-4 loader (1 bzImage, 2 PVH, 3 Multiboot,
 *       4 raw, else kvmhost_x86_boot_load() with detection); bit 5
 *       KVMHOST_X86_BOOT_LINUX_ENTRY_32; bit 6 an e820 map follows; bit 7
 *       opts is NULL (when nothing else is asked for)
 *   [1] command line length (0: none)   [2..3] initrd size, LE (0: none)
 *   [4] modules: bits 0-1 count; bits 2-4 which have a string; bits 5-7 size
 *   [5] e820 entries (at most 12)      [6] placements given (bit i: field i)
 *   [7] bit 0: acpi_rsdp_gpa 0xe0000; bit 1: the load (not the check) gets
 *       the modules and the e820 map as a future caller's bigger elements
 *       (an unknown field, zero, after each: the stride is the element size);
 *       bit 2: element sizes 0 (a caller built before them)
 *   then the e820 entries (u32 address, u32 size, u8 type), the placements
 *   (u32 each: kernel, boot_params, start_info, mbi, memmap, cmdline,
 *   initrd, raw), the command line bytes, and the image (the rest). A u32
 *   address is itself, except that 0xfXXXXXXX means 0xfff00000 + XXXXXXX
 *   (reaching above 4 GiB) and 0xeXXXXXXX means 0xfffffffff0000000 + XXXXXXX (the
 *   top of the address space).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <kvmhost/error.h>
#include <kvmhost/memory.h>
#include <kvmhost/x86_boot.h>

#define PAGE	    4096ull
#define PAT	    0xa5
#define MAX_REGIONS 3
#define MAX_E820    12
#define MAX_RANGES  (8 + KVMHOST_X86_BOOT_MAX_MODULES + 64)

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

struct region {
	uint64_t gpa, len;
	int ro;
	uint8_t *host;
};

struct layout {
	struct region r[MAX_REGIONS];
	int n;
	struct kvmhost_memory *mem;
	struct kvmhost_x86_e820_entry e820[MAX_REGIONS]; /* the map the loaders derive without one */
	uint32_t e820_n;
};

static struct layout layouts[4];
static uint8_t pattern[65536];
static int verbose; /* FUZZ_VERBOSE=1: say what each input did (for corpus work) */

static void add(struct layout *l, uint64_t gpa, uint64_t len, int ro)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};
	struct region *r = &l->r[l->n++];
	uint8_t *p = mmap(NULL, len + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED || mprotect(p + PAGE, len, PROT_READ | PROT_WRITE) != 0)
		abort();
	r->gpa = gpa;
	r->len = len;
	r->ro = ro;
	r->host = p + PAGE;
	memset(r->host, PAT, len);
	o.guest_phys_addr = gpa;
	o.length = len;
	o.backing = KVMHOST_MEMORY_HOST_POINTER;
	o.host_addr = r->host;
	o.flags = ro ? KVMHOST_MEMORY_READONLY : 0;
	if (kvmhost_memory_add_region(l->mem, &o, NULL) < 0)
		abort();
	/* What a loader derives without an e820 map (and what the check is given then). */
	{
		uint32_t type = ro ? KVMHOST_X86_E820_RESERVED : KVMHOST_X86_E820_RAM;
		struct kvmhost_x86_e820_entry *last = l->e820_n ? &l->e820[l->e820_n - 1] : NULL;

		if (last && last->type == type && last->addr + last->size == gpa)
			last->size += len;
		else
			l->e820[l->e820_n++] = (struct kvmhost_x86_e820_entry){gpa, len, type};
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memset(pattern, PAT, sizeof(pattern));
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	for (int i = 0; i < 4; i++)
		if (kvmhost_memory_create(&layouts[i].mem) < 0)
			abort();
	/* Regions in address order (the e820 derivation above relies on it). */
	add(&layouts[0], 0, 0x400000, 0);
	add(&layouts[1], 0, 0xa0000, 0);
	add(&layouts[1], 0xf0000, 0x10000, 1);
	add(&layouts[1], 0x100000, 0x400000, 0);
	add(&layouts[2], 0, 0x200000, 0);
	add(&layouts[2], 0xfff00000, 0x100000, 0);
	add(&layouts[2], 0x100000000, 0x100000, 0);
	add(&layouts[3], 0, 0x100000, 0);
	add(&layouts[3], 0x100000, 0x100000, 0);
	return 0;
}

/* ---- guest memory checks ---- */

static const struct layout *L;

/* Every byte of [lo, hi) that is guest memory still holds the pattern. */
static void check_untouched(uint64_t lo, uint64_t hi)
{
	for (int i = 0; i < L->n; i++) {
		const struct region *r = &L->r[i];
		uint64_t a = lo > r->gpa ? lo : r->gpa, b = hi < r->gpa + r->len ? hi : r->gpa + r->len;

		while (a < b) {
			uint64_t n = b - a > sizeof(pattern) ? sizeof(pattern) : b - a;

			check(memcmp(r->host + (a - r->gpa), pattern, n) == 0);
			a += n;
		}
	}
}

static int dirty_cb(struct kvmhost_memory_region *region, void *opaque)
{
	uint64_t bm[(0x400000 / PAGE + 63) / 64 + 1];
	size_t n = kvmhost_memory_region_bitmap_size(region);
	int *dirty = opaque;

	check(n <= sizeof(bm) && kvmhost_memory_fetch_vmm_dirty(region, bm, n) == 0);
	for (size_t i = 0; i < n / 8; i++)
		if (bm[i])
			*dirty = 1;
	return 0;
}

/* Fetch and clear the VMM-side dirty bits of the layout: 1 if anything was written. */
static int any_dirty(void)
{
	int dirty = 0;

	check(kvmhost_memory_for_each_region(L->mem, dirty_cb, &dirty) == 0);
	return dirty;
}

/* Read guest memory; 0 when [gpa, +len) is not all guest memory. */
static int gread(uint64_t gpa, void *buf, uint64_t len)
{
	return len == 0 || kvmhost_memory_read(L->mem, gpa, buf, len) == 0;
}

static uint32_t g32(uint64_t gpa)
{
	uint32_t v = 0;

	check(gread(gpa, &v, 4));
	return v;
}

static uint64_t g64(uint64_t gpa)
{
	uint64_t v = 0;

	check(gread(gpa, &v, 8));
	return v;
}

/* Guest bytes [gpa, +len) equal @p want (NULL: zeros). */
static void check_bytes(uint64_t gpa, const uint8_t *want, uint64_t len)
{
	uint8_t buf[4096];

	while (len) {
		uint64_t n = len > sizeof(buf) ? sizeof(buf) : len;

		check(gread(gpa, buf, n));
		for (uint64_t i = 0; i < n; i++)
			check(buf[i] == (want ? want[i] : 0));
		gpa += n;
		len -= n;
		if (want)
			want += n;
	}
}

/* The ranges a successful load wrote. */
static struct {
	uint64_t s, e;
} wr[MAX_RANGES];
static int nwr;

static void wrote(uint64_t s, uint64_t len)
{
	if (!len)
		return;
	check(nwr < MAX_RANGES);
	check(s + len > s);
	wr[nwr].s = s;
	wr[nwr].e = s + len;
	nwr++;
}

/* Is [s, e) inside the loader's RAM: writable regions (and e820 RAM if given)? */
static int in_ram(uint64_t s, uint64_t e, const struct kvmhost_x86_e820_entry *map, uint32_t map_n, int use_map)
{
	/* Walk forward through touching pieces. */
	while (s < e) {
		uint64_t reach = s;

		for (int i = 0; i < L->n; i++) {
			const struct region *r = &L->r[i];

			if (!r->ro && s >= r->gpa && s < r->gpa + r->len)
				reach = r->gpa + r->len;
		}
		if (use_map) {
			uint64_t m = s;

			for (uint32_t i = 0; i < map_n; i++)
				if (map[i].type == KVMHOST_X86_E820_RAM && s >= map[i].addr &&
				    s - map[i].addr < map[i].size)
					m = map[i].addr + map[i].size;
			if (m < reach)
				reach = m;
		}
		if (reach == s)
			return 0;
		s = reach;
	}
	return 1;
}

static int cmp_wr(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Written ranges: in RAM, disjoint; everything else untouched. */
static void check_writes(const struct kvmhost_x86_e820_entry *map, uint32_t map_n, int use_map)
{
	uint64_t at = 0;

	qsort(wr, (size_t)nwr, sizeof(wr[0]), cmp_wr);
	for (int i = 0; i < nwr; i++) {
		check(in_ram(wr[i].s, wr[i].e, map, map_n, use_map));
		check(i == 0 || wr[i].s >= wr[i - 1].e);
		check_untouched(at, wr[i].s);
		at = wr[i].e;
	}
	check_untouched(at, UINT64_MAX);
}

/* ---- what the loaders wrote ---- */

static uint8_t gen(uint32_t seed, uint64_t i)
{
	return (uint8_t)((i * 131 + seed * 17 + 7) ^ (i >> 8));
}

static uint8_t *gen_buf(uint32_t seed, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	if (!p)
		abort();
	for (size_t i = 0; i < n; i++)
		p[i] = gen(seed, i);
	return p;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* PT_LOAD segments of an ELF the loader accepted: contents and bss. */
static void check_elf(const uint8_t *img)
{
	int c64 = img[4] == 2;
	uint64_t phoff = c64 ? le64(img + 32) : le32(img + 28);
	uint32_t phent = c64 ? le16(img + 54) : le16(img + 42), phnum = c64 ? le16(img + 56) : le16(img + 44);

	for (uint32_t i = 0; i < phnum; i++) {
		const uint8_t *p = img + phoff + (uint64_t)i * phent;
		uint64_t off = c64 ? le64(p + 8) : le32(p + 4), pa = c64 ? le64(p + 24) : le32(p + 12);
		uint64_t fsz = c64 ? le64(p + 32) : le32(p + 16), msz = c64 ? le64(p + 40) : le32(p + 20);

		if (le32(p) != 1 || !msz)
			continue;
		check(pa + msz <= 1ull << 32);
		check_bytes(pa, img + off, fsz);
		check_bytes(pa + fsz, NULL, msz - fsz);
		wrote(pa, msz);
	}
}

struct want {
	const char *cmdline; /* NULL: none */
	const uint8_t *initrd;
	size_t initrd_size;
	const struct kvmhost_x86_boot_module *mods;
	uint32_t nmods;
	const struct kvmhost_x86_e820_entry *map; /* sorted, what the guest is told */
	uint32_t map_n;
	uint64_t rsdp;
	uint64_t initrd_gpa; /* the option: 0 when placed by the loader */
};

static void check_cmdline(const struct want *w, const struct kvmhost_x86_boot_info *in)
{
	if (!w->cmdline) {
		check(in->cmdline_gpa == 0 && in->cmdline_size == 0);
		return;
	}
	check(in->cmdline_size == strlen(w->cmdline) + 1);
	check_bytes(in->cmdline_gpa, (const uint8_t *)w->cmdline, in->cmdline_size);
	wrote(in->cmdline_gpa, in->cmdline_size);
}

/* Module @i (0: the initrd when there is one) as the guest sees it. */
static void check_module(const struct want *w, uint32_t i, uint64_t gpa, uint64_t size, uint64_t str)
{
	const uint8_t *data;
	size_t n;
	const char *s = NULL;

	check(gpa % PAGE == 0);
	if (w->initrd && i == 0) {
		data = w->initrd;
		n = w->initrd_size;
	} else {
		uint32_t k = i - (w->initrd ? 1 : 0);

		check(k < w->nmods);
		data = w->mods[k].data;
		n = w->mods[k].size;
		s = w->mods[k].cmdline;
	}
	check(size == n);
	check_bytes(gpa, data, n);
	wrote(gpa, n);
	if (s)
		check_bytes(str, (const uint8_t *)s, strlen(s) + 1);
	else
		check(str == 0);
}

#define BZ_E820_TABLE 0x2d0

static void check_bzimage(const struct want *w, const uint8_t *img, size_t size, const struct kvmhost_x86_boot_info *in)
{
	uint64_t setup = ((uint64_t)(img[0x1f1] ? img[0x1f1] : 4) + 1) * 512, kgpa, bp = in->boot_params_gpa;
	uint8_t zp[4096];

	check(in->format == KVMHOST_X86_BOOT_BZIMAGE && kvmhost_x86_boot_detect(img, size) == KVMHOST_X86_BOOT_BZIMAGE);
	check(in->kind == KVMHOST_X86_ENTRY_LINUX_64 || in->kind == KVMHOST_X86_ENTRY_LINUX_32);
	kgpa = in->kind == KVMHOST_X86_ENTRY_LINUX_64 ? in->entry - 0x200 : in->entry;
	check(kgpa % PAGE == 0 && in->rsi == bp && bp % PAGE == 0 && in->module_count == 0);
	check(in->kernel_start <= kgpa && kgpa + (size - setup) <= in->kernel_end);
	check_bytes(kgpa, img + setup, size - setup);
	wrote(kgpa, size - setup);
	check(gread(bp, zp, sizeof(zp)));
	wrote(bp, sizeof(zp));
	check(le16(zp + 0x1fe) == 0xaa55 && le32(zp + 0x202) == 0x53726448 && zp[0x210] == 0xff);
	check((le32(zp + 0x228) | (uint64_t)le32(zp + 0xc8) << 32) == in->cmdline_gpa);
	check((le32(zp + 0x218) | (uint64_t)le32(zp + 0xc0) << 32) == in->initrd_gpa);
	check((le32(zp + 0x21c) | (uint64_t)le32(zp + 0xc4) << 32) == in->initrd_size);
	check(le64(zp + 0x70) == w->rsdp);
	check(zp[0x1e8] == w->map_n);
	for (uint32_t i = 0; i < w->map_n; i++) {
		const uint8_t *e = zp + BZ_E820_TABLE + 20 * i;

		check(le64(e) == w->map[i].addr && le64(e + 8) == w->map[i].size && le32(e + 16) == w->map[i].type);
	}
	if (in->kind == KVMHOST_X86_ENTRY_LINUX_32) {
		check(in->kernel_end <= 1ull << 32 && bp + 4096 <= 1ull << 32);
		check(in->initrd_gpa + in->initrd_size <= 1ull << 32);
		check(in->cmdline_gpa + in->cmdline_size <= 1ull << 32);
	}
	if (w->initrd) {
		uint16_t version = le16(img + 0x206), xlf = version >= 0x20c ? le16(img + 0x236) : 0;
		uint32_t max = le32(img + 0x22c) ? le32(img + 0x22c) : 0x37ffffffu;

		check_module(w, 0, in->initrd_gpa, in->initrd_size, 0);
		if (!(in->kind == KVMHOST_X86_ENTRY_LINUX_64 && (xlf & 2))) /* XLF_CAN_BE_LOADED_ABOVE_4G */
			check(in->initrd_gpa + in->initrd_size - 1 <= max);
	} else
		check(in->initrd_gpa == 0 && in->initrd_size == 0);
	check_cmdline(w, in);
	check(in->identity_map_end >= in->kernel_end && in->identity_map_end >= bp + 4096);
}

static void check_memmap(const struct want *w, uint64_t at, uint32_t n, int mb)
{
	check(n == w->map_n && at % 8 == 0 && at + 24ull * n <= 1ull << 32);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t e = at + 24ull * i;

		if (mb) {
			check(g32(e) == 20);
			e += 4;
		}
		check(g64(e) == w->map[i].addr && g64(e + 8) == w->map[i].size && g32(e + 16) == w->map[i].type);
	}
	wrote(at, 24ull * n);
}

static uint64_t strings_len(const struct want *w)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < w->nmods; i++)
		if (w->mods[i].cmdline)
			n += strlen(w->mods[i].cmdline) + 1;
	return n;
}

static void check_pvh(const struct want *w, const uint8_t *img, const struct kvmhost_x86_boot_info *in)
{
	uint64_t si = in->start_info_gpa, ml;
	uint32_t nm = (w->initrd ? 1 : 0) + w->nmods;

	check(in->format == KVMHOST_X86_BOOT_PVH_ELF && in->kind == KVMHOST_X86_ENTRY_PVH_32);
	check(in->rbx == si && si % 8 == 0 && in->entry < 1ull << 32 && in->module_count == nm);
	check(g32(si) == 0x336ec578u && g32(si + 4) == 1 && g32(si + 8) == 0 && g32(si + 12) == nm);
	check(g64(si + 24) == in->cmdline_gpa && g64(si + 32) == w->rsdp);
	ml = g64(si + 16);
	check(nm ? ml == si + 56 : ml == 0);
	for (uint32_t i = 0; i < nm; i++) {
		uint64_t m = si + 56 + 32ull * i;

		check_module(w, i, g64(m), g64(m + 8), g64(m + 16));
		check(g64(m) + g64(m + 8) <= 1ull << 32);
	}
	if (w->initrd)
		check(in->initrd_gpa == g64(si + 56) && in->initrd_size == w->initrd_size);
	wrote(si, 56 + 32ull * nm + strings_len(w));
	check(si + 56 + 32ull * nm + strings_len(w) <= 1ull << 32);
	check_memmap(w, g64(si + 40), g32(si + 48), 0);
	check_elf(img);
	check_cmdline(w, in);
	check(in->cmdline_gpa + in->cmdline_size <= 1ull << 32);
}

static void check_multiboot(const struct want *w, const uint8_t *img, size_t size,
			    const struct kvmhost_x86_boot_info *in)
{
	uint64_t mbi = in->mbi_gpa, name;
	uint32_t nm = (w->initrd ? 1 : 0) + w->nmods, flags;
	size_t off = 0;

	check(in->format == KVMHOST_X86_BOOT_MULTIBOOT && in->kind == KVMHOST_X86_ENTRY_MULTIBOOT_32);
	check(in->rax == KVMHOST_X86_MULTIBOOT_BOOTLOADER_MAGIC && in->rbx == mbi && mbi % 8 == 0);
	check(in->entry < 1ull << 32 && in->module_count == nm);
	check(g32(mbi) == (0x1u | 0x8 | 0x40 | 0x200 | (w->cmdline ? 0x4 : 0)));
	check(g32(mbi + 16) == in->cmdline_gpa && g32(mbi + 20) == nm);
	check(g32(mbi + 24) == (nm ? mbi + 88 : 0));
	for (uint32_t i = 0; i < nm; i++) {
		uint64_t s = g32(mbi + 88 + 16ull * i), e = g32(mbi + 88 + 16ull * i + 4);

		check(e >= s);
		check_module(w, i, s, e - s, g32(mbi + 88 + 16ull * i + 8));
		if (!(w->initrd && i == 0 && w->initrd_gpa))
			check(s >= in->kernel_end); /* after the kernel, as GRUB puts them */
	}
	name = g32(mbi + 64);
	check_bytes(name, (const uint8_t *)"libkvmhost", 11);
	wrote(mbi, 88 + 16ull * nm + strings_len(w) + 11);
	check(name == mbi + 88 + 16ull * nm + strings_len(w));
	check(g32(mbi + 44) == 24 * w->map_n);
	check_memmap(w, g32(mbi + 48), w->map_n, 1);
	/* The kernel: the a.out kludge's addresses, or the ELF's segments. */
	while (off + 12 <= size && off + 12 <= 8192 &&
	       !(le32(img + off) == 0x1badb002u &&
		 (uint32_t)(0x1badb002u + le32(img + off + 4) + le32(img + off + 8)) == 0))
		off += 4;
	check(off + 12 <= size);
	flags = le32(img + off + 4);
	if (flags & (1u << 16)) {
		uint32_t ha = le32(img + off + 12), la = le32(img + off + 16), le = le32(img + off + 20);
		uint32_t be = le32(img + off + 24);
		uint64_t foff = off - (ha - la), n = le ? le - la : size - foff, end = la + n;

		check(in->kernel_start == la && in->kernel_end == (be ? be : end) && in->entry == le32(img + off + 28));
		check_bytes(la, img + foff, n);
		check_bytes(end, NULL, in->kernel_end - end);
		wrote(la, in->kernel_end - la);
	} else {
		check(in->entry == (img[4] == 2 ? le64(img + 24) : le32(img + 24)));
		check_elf(img);
	}
	check_cmdline(w, in);
	check(in->cmdline_gpa + in->cmdline_size <= 1ull << 32);
}

/* ---- the input ---- */

struct reader {
	const uint8_t *p;
	size_t left;
};

static uint32_t take32(struct reader *r)
{
	uint8_t b[4] = {0};
	size_t n = r->left < 4 ? r->left : 4;

	memcpy(b, r->p, n);
	r->p += n;
	r->left -= n;
	return le32(b);
}

static uint8_t take8(struct reader *r)
{
	uint8_t b = 0;

	if (r->left) {
		b = *r->p++;
		r->left--;
	}
	return b;
}

static uint64_t addr_of(uint32_t v)
{
	if ((v >> 28) == 0xe)
		return 0xfffffffff0000000ull | v; /* the top of the address space: wrapping sums */
	return (v >> 28) == 0xf ? 0xfff00000ull + (v & 0x0fffffffu) : v;
}

static int cmp_e820(const void *a, const void *b)
{
	const struct kvmhost_x86_e820_entry *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static const char *after_func(const char *msg)
{
	const char *c = strchr(msg, ':');

	return c ? c : msg;
}

static int run_loader(int loader, const uint8_t *img, size_t n, uint64_t raw_gpa,
		      const struct kvmhost_x86_boot_options *o, struct kvmhost_x86_boot_info *in)
{
	switch (loader) {
	case 1:
		return kvmhost_x86_boot_load_bzimage(L->mem, img, n, o, in);
	case 2:
		return kvmhost_x86_boot_load_pvh(L->mem, img, n, o, in);
	case 3:
		return kvmhost_x86_boot_load_multiboot(L->mem, img, n, o, in);
	case 4:
		return kvmhost_x86_boot_load_raw(L->mem, img, n, raw_gpa, o, in);
	default:
		return kvmhost_x86_boot_load(L->mem, img, n, o, in);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char check_msg[2048];
	static unsigned runs;
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)}, co;
	struct kvmhost_x86_boot_info in, ci, sentinel;
	struct kvmhost_x86_e820_entry e820[MAX_E820], sorted[MAX_E820];
	struct kvmhost_x86_boot_module mods[3];
	struct {
		struct kvmhost_x86_e820_entry e;
		uint64_t future;
	} wide_e820[MAX_E820];
	struct {
		struct kvmhost_x86_boot_module m;
		uint64_t future;
	} wide_mods[3];
	uint8_t *initrd = NULL, *mod_data[3] = {NULL, NULL, NULL};
	char cmdline[256], mod_str[3][8];
	struct reader rd;
	struct want w = {0};
	uint64_t place[8] = {0};
	uint32_t e820_n = 0, nmods;
	int loader, check_r = 0, comparable = 0, r, opts_null, detected;
	uint8_t sel, cmd_len, modb, mask, misc;

	if (size < 8)
		return 0;
	sel = data[0];
	cmd_len = data[1];
	modb = data[4];
	mask = data[6];
	misc = data[7];
	L = &layouts[sel & 3];
	loader = (sel >> 2) & 7;
	rd.p = data + 8;
	rd.left = size - 8;
	if (sel & 0x40) {
		e820_n = data[5] > MAX_E820 ? MAX_E820 : data[5];
		for (uint32_t i = 0; i < e820_n; i++) {
			e820[i].addr = addr_of(take32(&rd));
			e820[i].size = take32(&rd);
			e820[i].type = take8(&rd);
		}
	}
	for (int i = 0; i < 8; i++)
		if (mask & (1u << i))
			place[i] = addr_of(take32(&rd));
	if (cmd_len) {
		size_t n = cmd_len - 1u < rd.left ? cmd_len - 1u : rd.left;

		memcpy(cmdline, rd.p, n);
		cmdline[n] = 0;
		rd.p += n;
		rd.left -= n;
		o.cmdline = cmdline;
	}
	if (le16(data + 2)) {
		o.initrd_size = le16(data + 2);
		o.initrd = initrd = gen_buf(1, o.initrd_size);
	}
	nmods = modb & 3;
	for (uint32_t i = 0; i < nmods; i++) {
		mods[i].size = ((modb >> 5) + 1u) * 1000u + i * 3u;
		mods[i].data = mod_data[i] = gen_buf(2 + i, mods[i].size);
		snprintf(mod_str[i], sizeof(mod_str[i]), "mod%u", i);
		mods[i].cmdline = modb & (4u << i) ? mod_str[i] : NULL;
	}
	o.modules = nmods ? mods : NULL;
	o.module_count = nmods;
	o.e820 = e820_n ? e820 : NULL;
	o.e820_count = e820_n;
	o.module_size = misc & 4 ? 0 : sizeof(mods[0]);
	o.e820_entry_size = misc & 4 ? 0 : sizeof(e820[0]);
	o.flags = sel & 0x20 ? KVMHOST_X86_BOOT_LINUX_ENTRY_32 : 0;
	o.kernel_gpa = place[0];
	o.boot_params_gpa = place[1];
	o.start_info_gpa = place[2];
	o.mbi_gpa = place[3];
	o.memmap_gpa = place[4];
	o.cmdline_gpa = place[5];
	o.initrd_gpa = place[6];
	o.acpi_rsdp_gpa = misc & 1 ? 0xe0000 : 0;
	opts_null =
	    (sel & 0x80) && !o.cmdline && !o.initrd && !nmods && !e820_n && !mask && !o.flags && !o.acpi_rsdp_gpa;

	memset(&sentinel, 0x5a, sizeof(sentinel));
	sentinel.size = sizeof(sentinel);

	/* The check first, with RAM given as the e820 map the load will see. */
	if (loader != 4) {
		co = o;
		if (!co.e820_count) {
			co.e820 = L->e820;
			co.e820_count = L->e820_n;
		}
		comparable = 1;
		for (uint32_t i = 0; i < co.e820_count; i++)
			if (co.e820[i].type == KVMHOST_X86_E820_RAM && co.e820[i].size &&
			    co.e820[i].addr + co.e820[i].size > co.e820[i].addr &&
			    !in_ram(co.e820[i].addr, co.e820[i].addr + co.e820[i].size, NULL, 0, 0))
				comparable = 0; /* the check would see RAM the memory map lacks */
		ci = sentinel;
		check_r = kvmhost_x86_boot_check(loader >= 1 && loader <= 3 ? loader : 0, rd.p, rd.left, &co, &ci);
		snprintf(check_msg, sizeof(check_msg), "%s", after_func(kvmhost_last_error()));
		if (check_r < 0)
			check(memcmp(&ci, &sentinel, sizeof(ci)) == 0);
		check(!any_dirty()); /* a check writes nothing */
	}

	detected = kvmhost_x86_boot_detect(rd.p, rd.left);
	check(detected < 0 || (detected >= KVMHOST_X86_BOOT_BZIMAGE && detected <= KVMHOST_X86_BOOT_MULTIBOOT));
	if (misc & 2) { /* the check had this library's elements: it must still say what the load says */
		memset(wide_e820, 0, sizeof(wide_e820));
		memset(wide_mods, 0, sizeof(wide_mods));
		for (uint32_t i = 0; i < e820_n; i++)
			wide_e820[i].e = e820[i];
		for (uint32_t i = 0; i < nmods; i++)
			wide_mods[i].m = mods[i];
		o.e820 = e820_n ? &wide_e820[0].e : NULL;
		o.e820_entry_size = sizeof(wide_e820[0]);
		o.modules = nmods ? &wide_mods[0].m : NULL;
		o.module_size = sizeof(wide_mods[0]);
	}
	in = sentinel;
	r = run_loader(loader, rd.p, rd.left, place[7] ? place[7] : 0x1000, opts_null ? NULL : &o, &in);
	if (verbose)
		fprintf(stderr, "layout %d loader %d: check %d, load %d%s%s\n", sel & 3, loader, check_r, r,
			r < 0 ? ": " : "", r < 0 ? kvmhost_last_error() : "");
	if (comparable) {
		check(check_r == r);
		if (r < 0 && !strstr(check_msg, "has no RAM"))
			check(strcmp(check_msg, after_func(kvmhost_last_error())) == 0);
		else if (r == 0)
			check(memcmp(&ci, &in, sizeof(in)) == 0);
	}
	if (loader == 0 || loader >= 5) /* the dispatching loader follows detection */
		check(detected < 0 ? r == detected : r < 0 || (int)in.format == detected);
	if (r < 0) {
		check(memcmp(&in, &sentinel, sizeof(in)) == 0);
		check(!any_dirty());
		if (++runs % 64 == 0) /* now and then the whole of it, not only what the dirty bits say */
			check_untouched(0, UINT64_MAX);
		goto out;
	}

	/* Success: what the guest is told and where everything went. */
	w.cmdline = o.cmdline;
	w.initrd = initrd;
	w.initrd_size = o.initrd_size;
	w.mods = mods;
	w.nmods = nmods;
	w.rsdp = o.acpi_rsdp_gpa;
	w.initrd_gpa = o.initrd_gpa;
	if (e820_n) {
		memcpy(sorted, e820, e820_n * sizeof(e820[0]));
		qsort(sorted, e820_n, sizeof(sorted[0]), cmp_e820);
		w.map = sorted;
		w.map_n = e820_n;
	} else {
		w.map = L->e820;
		w.map_n = L->e820_n;
	}
	nwr = 0;
	check(in.kernel_start <= in.kernel_end);
	switch (in.format) {
	case KVMHOST_X86_BOOT_BZIMAGE:
		check(loader == 1 || loader == 0 || loader >= 5);
		check_bzimage(&w, rd.p, rd.left, &in);
		break;
	case KVMHOST_X86_BOOT_PVH_ELF:
		check(loader == 2 || loader == 0 || loader >= 5);
		check_pvh(&w, rd.p, &in);
		break;
	case KVMHOST_X86_BOOT_MULTIBOOT:
		check(loader == 3 || loader == 0 || loader >= 5);
		check_multiboot(&w, rd.p, rd.left, &in);
		break;
	case KVMHOST_X86_BOOT_RAW: {
		uint64_t g = place[7] ? place[7] : 0x1000;

		check(loader == 4 && in.kind == KVMHOST_X86_ENTRY_RAW && in.entry == g && !o.cmdline && !o.initrd);
		check_bytes(g, rd.p, rd.left);
		wrote(g, rd.left);
		break;
	}
	default:
		check(0);
	}
	if (in.format != KVMHOST_X86_BOOT_RAW)
		check(in.identity_map_end >= in.kernel_end && in.identity_map_end >= in.cmdline_gpa + in.cmdline_size);
	check_writes(w.map, w.map_n, e820_n != 0);
	(void)any_dirty();
	for (int i = 0; i < L->n; i++)
		memset(L->r[i].host, PAT, L->r[i].len);
out:
	free(initrd);
	for (int i = 0; i < 3; i++)
		free(mod_data[i]);
	return 0;
}
