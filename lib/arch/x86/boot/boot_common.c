/*
 * The load plan shared by all x86 loaders: option checking, guest RAM (the
 * memory map's writable regions, cut down to the e820 RAM entries when the
 * caller gives a map), claims that keep placements inside RAM and apart,
 * the allocator for the initrd and modules, and the queue of writes that
 * is only played once every check passed - so a bad image or a bad
 * placement leaves guest memory untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot_internal.h"
#include "../x86_elements.h"

/* The fields added after the first version's last one (acpi_rsdp_gpa) start after its size: an older caller's
 * struct ends there. */
_Static_assert(offsetof(struct kvmhost_x86_boot_options, module_size) >=
		   offsetof(struct kvmhost_x86_boot_options, acpi_rsdp_gpa) + sizeof(uint64_t),
	       "module_size would sit in the first version's tail padding");

struct kh_region_scan {
	struct kh_range *r;
	uint8_t *readonly;
	size_t count, cap;
};

static int kh_collect_region(struct kvmhost_memory_region *region, void *opaque)
{
	struct kh_region_scan *s = opaque;

	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct kh_range *r = realloc(s->r, cap * sizeof(*r));
		uint8_t *ro;

		if (!r)
			return -ENOMEM;
		s->r = r;
		ro = realloc(s->readonly, cap);
		if (!ro)
			return -ENOMEM;
		s->readonly = ro;
		s->cap = cap;
	}
	s->r[s->count].start = kvmhost_memory_region_gpa(region);
	s->r[s->count].end = s->r[s->count].start + kvmhost_memory_region_length(region);
	s->readonly[s->count] = !!(kvmhost_memory_region_flags(region) & KVMHOST_MEMORY_READONLY);
	s->count++;
	return 0;
}

static int kh_cmp_range(const void *a, const void *b)
{
	const struct kh_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int kh_cmp_e820(const void *a, const void *b)
{
	const struct kvmhost_x86_e820_entry *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sort and merge touching or overlapping ranges in place; returns the new count. */
static size_t kh_merge_ranges(struct kh_range *r, size_t n)
{
	size_t out = 0;

	if (!n)
		return 0;
	qsort(r, n, sizeof(*r), kh_cmp_range);
	for (size_t i = 1; i < n; i++) {
		if (r[i].start <= r[out].end) {
			if (r[i].end > r[out].end)
				r[out].end = r[i].end;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

static int kh_check_string(struct kh_boot *b, const char *s, const char *what, size_t *len)
{
	size_t n = strnlen(s, (size_t)KVMHOST_X86_BOOT_CMDLINE_MAX + 1);

	if (n > KVMHOST_X86_BOOT_CMDLINE_MAX)
		return KH_BOOT_FAIL(b, EINVAL, "%s is longer than %u bytes", what, KVMHOST_X86_BOOT_CMDLINE_MAX);
	if (len)
		*len = n;
	return 0;
}

/* Read the caller's modules and e820 map with their element sizes into this library's layout: afterwards
 * o.modules and o.e820 point at the copies. */
static int kh_copy_arrays(struct kh_boot *b)
{
	struct kvmhost_x86_boot_options *o = &b->o;
	size_t msize, esize;
	int r;

	r = kh_x86_element_size(o->module_size, sizeof(struct kh_x86_boot_module_v1), sizeof(*b->modules),
				"module_size", b->func, &msize);
	if (r == 0)
		r = kh_x86_element_size(o->e820_entry_size, sizeof(struct kh_x86_e820_entry_v1), sizeof(*b->e820_in),
					"e820_entry_size", b->func, &esize);
	if (r == 0)
		r = kh_x86_elements_in((void **)&b->modules, o->modules, o->module_count, msize, sizeof(*b->modules),
				       "modules", b->func);
	if (r == 0)
		r = kh_x86_elements_in((void **)&b->e820_in, o->e820, o->e820_count, esize, sizeof(*b->e820_in), "e820",
				       b->func);
	if (r < 0)
		return r;
	o->modules = b->modules;
	o->e820 = b->e820_in;
	o->module_size = sizeof(*b->modules);
	o->e820_entry_size = sizeof(*b->e820_in);
	return 0;
}

static int kh_check_options(struct kh_boot *b)
{
	const struct kvmhost_x86_boot_options *o = &b->o;
	int r;

	if (o->flags & ~KVMHOST_X86_BOOT_LINUX_ENTRY_32)
		return KH_BOOT_FAIL(b, EINVAL, "unknown flags 0x%x", o->flags & ~KVMHOST_X86_BOOT_LINUX_ENTRY_32);
	if (o->cmdline) {
		r = kh_check_string(b, o->cmdline, "the command line", &b->cmdline_len);
		if (r < 0)
			return r;
	}
	if (!o->initrd != !o->initrd_size)
		return KH_BOOT_FAIL(b, EINVAL, "initrd (%s) and initrd_size (%zu) must be set together",
				    o->initrd ? "set" : "NULL", o->initrd_size);
	if (o->module_count && !o->modules)
		return KH_BOOT_FAIL(b, EINVAL, "module_count is %u but modules is NULL", o->module_count);
	if (o->module_count > KVMHOST_X86_BOOT_MAX_MODULES)
		return KH_BOOT_FAIL(b, EINVAL, "module_count %u exceeds the limit of %u", o->module_count,
				    KVMHOST_X86_BOOT_MAX_MODULES);
	if (o->e820_count && !o->e820)
		return KH_BOOT_FAIL(b, EINVAL, "e820_count is %u but e820 is NULL", o->e820_count);
	if (o->e820_count > KVMHOST_X86_E820_MAX)
		return KH_BOOT_FAIL(b, EINVAL, "e820_count %u exceeds the limit of %u", o->e820_count,
				    KVMHOST_X86_E820_MAX);
	r = kh_copy_arrays(b);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < o->module_count; i++) {
		char what[40];

		if (!o->modules[i].data || !o->modules[i].size)
			return KH_BOOT_FAIL(b, EINVAL, "module %u has %s data and size %zu", i,
					    o->modules[i].data ? "non-NULL" : "NULL", o->modules[i].size);
		snprintf(what, sizeof(what), "the string of module %u", i);
		if (o->modules[i].cmdline) {
			r = kh_check_string(b, o->modules[i].cmdline, what, NULL);
			if (r < 0)
				return r;
		}
	}
	for (uint32_t i = 0; i < o->e820_count; i++) {
		const struct kvmhost_x86_e820_entry *e = &o->e820[i];
		const char *why = !e->size ? "empty" : "of type 0";
		uint64_t end;

		if (e->size && kh_add_overflows(e->addr, e->size, &end))
			why = "wrapping around";
		else if (e->size && e->type)
			continue;
		return KH_BOOT_FAIL(b, EINVAL, "e820 entry %u (addr 0x%llx size 0x%llx type %u) is %s", i,
				    (unsigned long long)e->addr, (unsigned long long)e->size, e->type, why);
	}
	return 0;
}

/* The guest's e820 map: the caller's (sorted, checked for overlaps) or one
 * made from the memory map's regions. */
static int kh_build_e820(struct kh_boot *b, const struct kh_region_scan *s)
{
	const struct kvmhost_x86_boot_options *o = &b->o;
	size_t n = o->e820_count ? o->e820_count : s->count;

	b->e820 = calloc(n ? n : 1, sizeof(*b->e820));
	if (!b->e820)
		return KH_BOOT_FAIL(b, ENOMEM, "cannot allocate the e820 map");
	if (o->e820_count) {
		memcpy(b->e820, o->e820, o->e820_count * sizeof(*b->e820));
		b->e820_count = o->e820_count;
		qsort(b->e820, b->e820_count, sizeof(*b->e820), kh_cmp_e820);
		for (uint32_t i = 1; i < b->e820_count; i++) {
			const struct kvmhost_x86_e820_entry *p = &b->e820[i - 1], *e = &b->e820[i];

			if (e->addr < p->addr + p->size)
				return KH_BOOT_FAIL(
				    b, EINVAL,
				    "e820 entries [0x%llx, 0x%llx) type %u and [0x%llx, 0x%llx) type %u "
				    "overlap",
				    (unsigned long long)p->addr, (unsigned long long)(p->addr + p->size), p->type,
				    (unsigned long long)e->addr, (unsigned long long)(e->addr + e->size), e->type);
		}
		return 0;
	}
	/* Regions come in address order; merge touching ones of one type. */
	for (size_t i = 0; i < s->count; i++) {
		uint32_t type = s->readonly[i] ? KVMHOST_X86_E820_RESERVED : KVMHOST_X86_E820_RAM;
		struct kvmhost_x86_e820_entry *last = b->e820_count ? &b->e820[b->e820_count - 1] : NULL;

		if (last && last->type == type && last->addr + last->size == s->r[i].start) {
			last->size += s->r[i].end - s->r[i].start;
			continue;
		}
		if (b->e820_count == KVMHOST_X86_E820_MAX)
			return KH_BOOT_FAIL(b, EINVAL,
					    "the memory map has more than %u separate ranges: pass an e820 map",
					    KVMHOST_X86_E820_MAX);
		b->e820[b->e820_count].addr = s->r[i].start;
		b->e820[b->e820_count].size = s->r[i].end - s->r[i].start;
		b->e820[b->e820_count].type = type;
		b->e820_count++;
	}
	return 0;
}

/* Usable RAM: writable regions, intersected with the e820 RAM entries. */
static int kh_build_ram(struct kh_boot *b, struct kh_region_scan *s)
{
	size_t nw = 0, cap;

	for (size_t i = 0; i < s->count; i++)
		if (!s->readonly[i])
			s->r[nw++] = s->r[i];
	nw = kh_merge_ranges(s->r, nw);
	cap = nw + (size_t)b->e820_count + 1;
	b->ram = calloc(cap, sizeof(*b->ram));
	if (!b->ram)
		return KH_BOOT_FAIL(b, ENOMEM, "cannot allocate the RAM list");
	if (!b->o.e820_count) {
		memcpy(b->ram, s->r, nw * sizeof(*b->ram));
		b->ram_count = nw;
	} else {
		/* Both lists are sorted and disjoint: at most nw + e820_count pieces. */
		for (size_t i = 0, j = 0; i < nw && j < b->e820_count;) {
			const struct kvmhost_x86_e820_entry *e = &b->e820[j];
			uint64_t e_end = e->addr + e->size;
			uint64_t lo = s->r[i].start > e->addr ? s->r[i].start : e->addr;
			uint64_t hi = s->r[i].end < e_end ? s->r[i].end : e_end;

			if (e->type == KVMHOST_X86_E820_RAM && lo < hi && b->ram_count < cap)
				b->ram[b->ram_count++] = (struct kh_range){lo, hi};
			if (s->r[i].end < e_end)
				i++;
			else
				j++;
		}
		b->ram_count = kh_merge_ranges(b->ram, b->ram_count);
	}
	if (!b->ram_count && !b->mem)
		return KH_BOOT_FAIL(b, EFAULT, "guest memory has no RAM (none of the %u e820 entries is RAM)",
				    b->e820_count);
	if (!b->ram_count)
		return KH_BOOT_FAIL(b, EFAULT, "guest memory has no RAM (%zu regions, %u e820 entries)", s->count,
				    b->e820_count);
	return 0;
}

/* A check has no guest memory: the caller's e820 RAM entries stand for the writable regions. */
static int kh_scan_e820(const struct kvmhost_x86_boot_options *o, struct kh_region_scan *s)
{
	for (uint32_t i = 0; i < o->e820_count; i++) {
		if (o->e820[i].type != KVMHOST_X86_E820_RAM || !o->e820[i].size)
			continue;
		if (s->count == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct kh_range *nr = realloc(s->r, cap * sizeof(*nr));
			uint8_t *ro;

			if (!nr)
				return -ENOMEM;
			s->r = nr;
			ro = realloc(s->readonly, cap);
			if (!ro)
				return -ENOMEM;
			s->readonly = ro;
			s->cap = cap;
		}
		s->r[s->count] = (struct kh_range){o->e820[i].addr, o->e820[i].addr + o->e820[i].size};
		s->readonly[s->count++] = 0;
	}
	if (s->count > 1) /* with no RAM entry s->r is NULL, which qsort() must not get */
		qsort(s->r, s->count, sizeof(*s->r), kh_cmp_range);
	return 0;
}

int kh_boot_begin(struct kh_boot *b, const char *func, struct kvmhost_memory *mem, const void *image,
		  const struct kvmhost_x86_boot_options *opts, const struct kvmhost_x86_boot_info *info)
{
	struct kh_region_scan scan = {0};
	int r;

	memset(b, 0, sizeof(*b));
	b->func = func;
	if (!mem && func != kh_boot_check_func)
		return KH_BOOT_FAIL(b, EINVAL, "mem is NULL");
	if (!image || !info)
		return KH_BOOT_FAIL(b, EINVAL, "%s is NULL", !image ? "image" : "info");
	if (info->size < sizeof(size_t) || info->size > 65536)
		return KH_BOOT_FAIL(b, EINVAL, "info->size is %zu: set it to sizeof(struct kvmhost_x86_boot_info)",
				    info->size);
	r = kh_copy_options(&b->o, sizeof(b->o), opts, func);
	if (r < 0)
		return r;
	b->mem = mem;
	r = kh_check_options(b);
	if (r == 0 && !mem && !b->o.e820_count)
		r = KH_BOOT_FAIL(b, EINVAL,
				 "opts->e820 is empty: a check without guest memory needs the map of its RAM");
	if (r < 0) {
		kh_boot_end(b);
		return r;
	}
	r = mem ? kvmhost_memory_for_each_region(mem, kh_collect_region, &scan) : kh_scan_e820(&b->o, &scan);
	if (r < 0) {
		free(scan.r);
		free(scan.readonly);
		kh_boot_end(b);
		if (r == -ENOMEM)
			return KH_BOOT_FAIL(b, ENOMEM, "cannot list the memory regions");
		return r;
	}
	r = kh_build_e820(b, &scan);
	if (r >= 0)
		r = kh_build_ram(b, &scan);
	free(scan.r);
	free(scan.readonly);
	if (r < 0)
		kh_boot_end(b);
	return r;
}

void kh_boot_end(struct kh_boot *b)
{
	for (size_t i = 0; i < b->owned_count; i++)
		free(b->owned[i]);
	free(b->owned);
	free(b->ram);
	free(b->e820);
	free(b->claims);
	free(b->writes);
	free(b->modules);
	free(b->e820_in);
	b->modules = NULL;
	b->e820_in = NULL;
	b->owned = NULL;
	b->ram = NULL;
	b->e820 = NULL;
	b->claims = NULL;
	b->writes = NULL;
	b->owned_count = b->ram_count = b->claim_count = b->write_count = 0;
	b->e820_count = 0;
}

static int kh_grow(struct kh_boot *b, void **arr, size_t *cap, size_t count, size_t elem)
{
	void *n;
	size_t c;

	if (count < *cap)
		return 0;
	c = *cap ? *cap * 2 : 16;
	n = realloc(*arr, c * elem);
	if (!n)
		return KH_BOOT_FAIL(b, ENOMEM, "out of memory planning the load");
	*arr = n;
	*cap = c;
	return 0;
}

int kh_boot_claim(struct kh_boot *b, uint64_t start, uint64_t len, const char *what, int overlap_err)
{
	uint64_t end;
	int in_ram = 0, r;

	if (!len)
		return 0;
	if (kh_add_overflows(start, len, &end))
		return KH_BOOT_FAIL(b, EFAULT, "%s at 0x%llx (0x%llx bytes) wraps around the address space", what,
				    (unsigned long long)start, (unsigned long long)len);
	for (size_t i = 0; i < b->ram_count && !in_ram; i++)
		in_ram = start >= b->ram[i].start && end <= b->ram[i].end;
	if (!in_ram) {
		for (size_t i = 0; i < b->ram_count; i++)
			if (start >= b->ram[i].start && start < b->ram[i].end)
				return KH_BOOT_FAIL(b, EFAULT,
						    "%s [0x%llx, 0x%llx) does not fit in guest RAM: the RAM range "
						    "[0x%llx, 0x%llx) ends first",
						    what, (unsigned long long)start, (unsigned long long)end,
						    (unsigned long long)b->ram[i].start,
						    (unsigned long long)b->ram[i].end);
		return KH_BOOT_FAIL(b, EFAULT, "%s [0x%llx, 0x%llx) is not in guest RAM", what,
				    (unsigned long long)start, (unsigned long long)end);
	}
	for (size_t i = 0; i < b->claim_count; i++) {
		const struct kh_claim *c = &b->claims[i];

		if (start < c->end && c->start < end)
			return KH_BOOT_FAIL(b, overlap_err, "%s [0x%llx, 0x%llx) overlaps %s [0x%llx, 0x%llx)", what,
					    (unsigned long long)start, (unsigned long long)end, c->what,
					    (unsigned long long)c->start, (unsigned long long)c->end);
	}
	r = kh_grow(b, (void **)&b->claims, &b->claim_cap, b->claim_count, sizeof(*b->claims));
	if (r < 0)
		return r;
	b->claims[b->claim_count].start = start;
	b->claims[b->claim_count].end = end;
	snprintf(b->claims[b->claim_count].what, sizeof(b->claims[0].what), "%s", what);
	b->claim_count++;
	return 0;
}

/* The claim overlapping [a, a + size) with the lowest start (high) or the
 * highest end (low), or NULL. */
static const struct kh_claim *kh_conflict(const struct kh_boot *b, uint64_t a, uint64_t size, int high)
{
	const struct kh_claim *hit = NULL;

	for (size_t i = 0; i < b->claim_count; i++) {
		const struct kh_claim *c = &b->claims[i];

		if (a < c->end && c->start < a + size) {
			if (!hit || (high ? c->start < hit->start : c->end > hit->end))
				hit = c;
		}
	}
	return hit;
}

int kh_boot_alloc(struct kh_boot *b, uint64_t size, uint64_t align, uint64_t lo, uint64_t hi, int high,
		  const char *what, uint64_t *gpa)
{
	if (!hi)
		hi = UINT64_MAX;
	for (size_t k = 0; k < b->ram_count; k++) {
		const struct kh_range *rg = &b->ram[high ? b->ram_count - 1 - k : k];
		uint64_t floor = rg->start > lo ? rg->start : lo;
		uint64_t top = rg->end < hi ? rg->end : hi;

		if (high) {
			while (top > floor && top - floor >= size) {
				uint64_t a = kh_align_down(top - size, align);
				const struct kh_claim *c;

				if (a < floor)
					break;
				c = kh_conflict(b, a, size, 1);
				if (!c) {
					*gpa = a;
					return kh_boot_claim(b, a, size, what, EINVAL);
				}
				top = c->start;
			}
		} else {
			uint64_t a;

			if (floor > UINT64_MAX - align)
				continue;
			a = kh_align_up(floor, align);
			while (a < top && top - a >= size) {
				const struct kh_claim *c = kh_conflict(b, a, size, 0);

				if (!c) {
					*gpa = a;
					return kh_boot_claim(b, a, size, what, EINVAL);
				}
				if (c->end > UINT64_MAX - align)
					break;
				a = kh_align_up(c->end, align);
			}
		}
	}
	if (hi != UINT64_MAX)
		return KH_BOOT_FAIL(b, ENOSPC, "no room for %s (0x%llx bytes) in guest RAM between 0x%llx and 0x%llx",
				    what, (unsigned long long)size, (unsigned long long)lo, (unsigned long long)hi);
	return KH_BOOT_FAIL(b, ENOSPC, "no room for %s (0x%llx bytes) in guest RAM above 0x%llx", what,
			    (unsigned long long)size, (unsigned long long)lo);
}

int kh_boot_write(struct kh_boot *b, uint64_t gpa, const void *src, uint64_t len)
{
	int r;

	if (!len)
		return 0;
	r = kh_grow(b, (void **)&b->writes, &b->write_cap, b->write_count, sizeof(*b->writes));
	if (r < 0)
		return r;
	b->writes[b->write_count++] = (struct kh_write){gpa, src, len};
	return 0;
}

void *kh_boot_zalloc(struct kh_boot *b, size_t size)
{
	void *p;

	if (kh_grow(b, (void **)&b->owned, &b->owned_cap, b->owned_count, sizeof(*b->owned)) < 0)
		return NULL;
	p = calloc(1, size ? size : 1);
	if (!p) {
		KH_BOOT_FAIL(b, ENOMEM, "cannot allocate %zu bytes", size);
		return NULL;
	}
	b->owned[b->owned_count++] = p;
	return p;
}

static int kh_zero_fill(struct kh_boot *b, uint64_t gpa, uint64_t len)
{
	static const uint8_t zeros[4096];
	void *host;

	/* One region: clear through the mapping. Otherwise (the range spans
	 * adjacent regions) write zeroes piecewise through the checked path. */
	if (kvmhost_memory_translate(b->mem, gpa, len, &host) == 0) {
		memset(host, 0, len);
		return kvmhost_memory_mark_dirty(b->mem, gpa, len);
	}
	while (len) {
		uint64_t n = len < sizeof(zeros) ? len : sizeof(zeros);
		int r = kvmhost_memory_write(b->mem, gpa, zeros, n);

		if (r < 0)
			return r;
		gpa += n;
		len -= n;
	}
	return 0;
}

int kh_boot_commit(struct kh_boot *b)
{
	for (size_t i = 0; i < b->write_count; i++) {
		const struct kh_write *w = &b->writes[i];
		int r = w->src ? kvmhost_memory_write(b->mem, w->gpa, w->src, w->len) : kh_zero_fill(b, w->gpa, w->len);

		if (r < 0)
			return KH_BOOT_FAIL(b, -r, "writing 0x%llx bytes at guest address 0x%llx failed",
					    (unsigned long long)w->len, (unsigned long long)w->gpa);
	}
	return 0;
}

int kh_boot_place_cmdline(struct kh_boot *b, uint64_t max_end, uint64_t *gpa, uint64_t *size)
{
	uint64_t g = b->o.cmdline_gpa ? b->o.cmdline_gpa : KVMHOST_X86_BOOT_DEFAULT_CMDLINE_GPA;
	uint64_t n = (uint64_t)b->cmdline_len + 1;
	int r;

	*gpa = *size = 0;
	if (!b->o.cmdline)
		return 0;
	if (max_end && (g >= max_end || n > max_end - g))
		return KH_BOOT_FAIL(b, EINVAL,
				    "the command line [0x%llx, +0x%llx) must end below 0x%llx for this "
				    "boot protocol",
				    (unsigned long long)g, (unsigned long long)n, (unsigned long long)max_end);
	r = kh_boot_claim(b, g, n, "the command line", EINVAL);
	if (r < 0)
		return r;
	r = kh_boot_write(b, g, b->o.cmdline, n);
	if (r < 0)
		return r;
	*gpa = g;
	*size = n;
	return 0;
}

/* Is [gpa, gpa + len) RAM that nothing claimed yet? */
static int kh_boot_free(const struct kh_boot *b, uint64_t gpa, uint64_t len)
{
	int in_ram = 0;

	for (size_t i = 0; i < b->ram_count && !in_ram; i++)
		in_ram = gpa >= b->ram[i].start && gpa + len <= b->ram[i].end;
	return in_ram && !kh_conflict(b, gpa, len, 0);
}

/*
 * The default place of the information block and its map may be taken: a
 * kernel loaded low (a Multiboot kernel at 0x8000 covers the MBI's default
 * 0x9000) or RAM that does not start at 0. Then, unless the caller chose a
 * place, the block and its map go to the lowest free RAM from 4 KiB up,
 * below 4 GiB, where no segment or other structure is.
 */
static int kh_boot_info_gpa(struct kh_boot *b, uint64_t default_gpa, uint64_t size, uint64_t map_size, uint64_t *gpa)
{
	uint64_t total = kh_align_up(size, 8) + map_size;
	int r;

	*gpa = default_gpa;
	if (b->o.memmap_gpa || kh_boot_free(b, default_gpa, total))
		return 0;
	r = kh_boot_alloc(b, total, 8, KH_BOOT_PAGE, KH_BOOT_4G, 0, "the boot information", gpa);
	if (r < 0)
		return r;
	b->claim_count--; /* only the place was wanted: the block and its map are claimed one by one below */
	return 0;
}

int kh_boot_place_info(struct kh_boot *b, uint64_t gpa, uint64_t default_gpa, uint64_t size, uint64_t map_entry_size,
		       const char *const names[3], struct kh_boot_info_area *a)
{
	int r;

	if (!gpa) {
		r = kh_boot_info_gpa(b, default_gpa, size, (uint64_t)b->e820_count * map_entry_size, &default_gpa);
		if (r < 0)
			return r;
	}
	a->gpa = gpa ? gpa : default_gpa;
	a->size = size;
	if (a->gpa & 7)
		return KH_BOOT_FAIL(b, EINVAL, "%s 0x%llx is not 8-byte aligned", names[0], (unsigned long long)a->gpa);
	if (a->gpa >= KH_BOOT_4G || size > KH_BOOT_4G - a->gpa)
		return KH_BOOT_FAIL(b, EINVAL, "%s [0x%llx, +0x%llx) must lie below 4 GiB", names[1],
				    (unsigned long long)a->gpa, (unsigned long long)size);
	a->map_gpa = b->o.memmap_gpa ? b->o.memmap_gpa : kh_align_up(a->gpa + size, 8);
	a->map_size = (uint64_t)b->e820_count * map_entry_size;
	if (a->map_gpa & 7)
		return KH_BOOT_FAIL(b, EINVAL, "memmap_gpa 0x%llx is not 8-byte aligned",
				    (unsigned long long)a->map_gpa);
	if (a->map_gpa >= KH_BOOT_4G || a->map_size > KH_BOOT_4G - a->map_gpa)
		return KH_BOOT_FAIL(b, EINVAL, "%s [0x%llx, +0x%llx) must lie below 4 GiB", names[2],
				    (unsigned long long)a->map_gpa, (unsigned long long)a->map_size);
	r = kh_boot_claim(b, a->gpa, size, names[1], EINVAL);
	if (r >= 0)
		r = kh_boot_claim(b, a->map_gpa, a->map_size, names[2], EINVAL);
	if (r < 0)
		return r;
	a->block = kh_boot_zalloc(b, size);
	a->map = kh_boot_zalloc(b, a->map_size);
	return a->block && a->map ? 0 : -ENOMEM;
}

int kh_boot_place_modules(struct kh_boot *b, int high, uint64_t lo, uint64_t hi, struct kh_boot_mod *mods,
			  uint32_t *count)
{
	const struct kvmhost_x86_boot_options *o = &b->o;
	uint32_t n = 0;
	int r;

	if (o->initrd) {
		uint64_t g = o->initrd_gpa;

		if (g) {
			if (g & (KH_BOOT_PAGE - 1))
				return KH_BOOT_FAIL(b, EINVAL, "initrd_gpa 0x%llx is not 4 KiB aligned",
						    (unsigned long long)g);
			if (g > hi || o->initrd_size > hi - g)
				return KH_BOOT_FAIL(
				    b, EINVAL,
				    "initrd_gpa [0x%llx, +0x%zx) must end below 0x%llx for this kernel and "
				    "boot protocol",
				    (unsigned long long)g, o->initrd_size, (unsigned long long)hi);
			r = kh_boot_claim(b, g, o->initrd_size, "the initrd", EINVAL);
		} else {
			r = kh_boot_alloc(b, o->initrd_size, KH_BOOT_PAGE, lo, hi, high, "the initrd", &g);
		}
		if (r < 0)
			return r;
		r = kh_boot_write(b, g, o->initrd, o->initrd_size);
		if (r < 0)
			return r;
		mods[n++] = (struct kh_boot_mod){g, o->initrd_size, NULL};
	}
	for (uint32_t i = 0; i < o->module_count; i++) {
		char what[32];
		uint64_t g;

		snprintf(what, sizeof(what), "module %u", i);
		r = kh_boot_alloc(b, o->modules[i].size, KH_BOOT_PAGE, lo, hi, high, what, &g);
		if (r < 0)
			return r;
		r = kh_boot_write(b, g, o->modules[i].data, o->modules[i].size);
		if (r < 0)
			return r;
		mods[n++] = (struct kh_boot_mod){g, o->modules[i].size, o->modules[i].cmdline};
	}
	*count = n;
	return 0;
}

void kh_boot_info_out(const struct kvmhost_x86_boot_info *full, struct kvmhost_x86_boot_info *info)
{
	size_t n = info->size, ours = sizeof(*full), head = sizeof(size_t);

	memcpy((uint8_t *)info + head, (const uint8_t *)full + head, (n < ours ? n : ours) - head);
	if (n > ours)
		memset((uint8_t *)info + ours, 0, n - ours);
}

void kh_boot_log_success(const struct kh_boot *b, const struct kvmhost_x86_boot_info *r)
{
	if (!kh_log_enabled(KVMHOST_LOG_INFO))
		return;
	kh_log(KVMHOST_LOG_INFO,
	       "%s: kernel [0x%llx, 0x%llx), entry 0x%llx (kind %d), rax 0x%llx rbx 0x%llx rsi 0x%llx, initrd "
	       "[0x%llx, +0x%llx), %u modules, cmdline at 0x%llx",
	       b->func, (unsigned long long)r->kernel_start, (unsigned long long)r->kernel_end,
	       (unsigned long long)r->entry, (int)r->kind, (unsigned long long)r->rax, (unsigned long long)r->rbx,
	       (unsigned long long)r->rsi, (unsigned long long)r->initrd_gpa, (unsigned long long)r->initrd_size,
	       r->module_count, (unsigned long long)r->cmdline_gpa);
}

const char kh_boot_check_func[] = "kvmhost_x86_boot_check";

int kh_boot_run(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
		const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info, kh_boot_plan_fn plan)
{
	struct kvmhost_x86_boot_info res;
	struct kh_boot b;
	int r;

	r = kh_boot_begin(&b, func, mem, image, opts, info);
	if (r < 0)
		return r;
	r = plan(&b, image, image_size, &res);
	if (r >= 0 && mem) /* a check (no memory) stops here: the plan is the whole validation */
		r = kh_boot_commit(&b);
	if (r >= 0) {
		kh_boot_info_out(&res, info);
		if (mem)
			kh_boot_log_success(&b, &res);
	}
	kh_boot_end(&b);
	return r < 0 ? r : 0;
}
