/*
 * The guest's e820 memory map, and the RAM plan that leaves the 32-bit MMIO
 * hole free.
 *
 * The map is painted in layers over the guest-physical address space, each
 * layer winning over the one before: the memory itself (RAM, or RESERVED for
 * read-only regions), then the MMIO hole (RAM there is dropped), then the
 * legacy hole below 1 MiB (RESERVED), then the caller's extra entries.
 * Cutting the address space at every boundary of every layer and asking each
 * piece "who wins here" keeps every overlap case (a table inside the legacy
 * hole, RAM across the MMIO hole, ...) in one rule instead of a case list.
 */
#include <stdlib.h>
#include <string.h>

#include "../../../core/internal.h"
#include <kvmhost/memory.h>
#include <kvmhost/x86_platform.h>
#include "../x86_elements.h"

/* The options as the first version had them: the element sizes start at or after its size, never in its tail
 * padding, whose bytes an older caller may leave uninitialised (docs/architecture.md). */
struct e820_options_v1 {
	size_t size;
	uint64_t mmio_hole_start;
	const struct kvmhost_x86_e820_entry *extra;
	uint32_t extra_count;
};
_Static_assert(offsetof(struct kvmhost_x86_e820_options, extra_count) == offsetof(struct e820_options_v1, extra_count),
	       "the first version's fields moved");
_Static_assert(offsetof(struct kvmhost_x86_e820_options, e820_entry_size) >= sizeof(struct e820_options_v1),
	       "e820_entry_size would sit in the first version's tail padding");

#define KH_1M	     0x100000ull
#define KH_PAGE_MASK 0xfffull

/* A range with an e820 type (0: nothing there). */
struct typed_range {
	uint64_t start, end; /* [start, end) */
	uint32_t type;
};

static int cmp_range(const void *a, const void *b)
{
	const struct typed_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int check_hole(uint64_t hole, const char *func)
{
	if (hole < KH_1M || hole > KVMHOST_X86_MMIO_HOLE_END || hole & (KH_1M - 1))
		return kh_fail(EINVAL, func, "MMIO hole start 0x%llx must be 1 MiB aligned, from 1 MiB to 4 GiB",
			       (unsigned long long)hole);
	return 0;
}

static int plan_ram(uint64_t ram_size, uint64_t mmio_hole_start, struct kvmhost_x86_ram_range *ranges,
		    size_t range_size, uint32_t max, uint32_t *count, const char *func)
{
	struct kvmhost_x86_ram_range plan[2];
	uint64_t hole = mmio_hole_start ? mmio_hole_start : KVMHOST_X86_MMIO_HOLE_START_DEFAULT, end;
	uint32_t n;
	int r;

	if (!count)
		return kh_fail(EINVAL, func, "count is NULL");
	if (max && !ranges)
		return kh_fail(EINVAL, func, "ranges is NULL but max is %u", max);
	r = kh_x86_element_size(range_size, sizeof(struct kh_x86_ram_range_v1), sizeof(plan[0]), "range_size", func,
				&range_size);
	if (r < 0)
		return r;
	if (ram_size == 0 || ram_size & KH_PAGE_MASK)
		return kh_fail(EINVAL, func, "RAM size 0x%llx must be non-zero and 4 KiB aligned",
			       (unsigned long long)ram_size);
	r = check_hole(hole, func);
	if (r < 0)
		return r;
	if (ram_size <= hole) {
		plan[0].gpa = 0;
		plan[0].length = ram_size;
		n = 1;
	} else {
		if (kh_add_overflows(KVMHOST_X86_MMIO_HOLE_END, ram_size - hole, &end))
			return kh_fail(ERANGE, func, "0x%llx bytes of RAM would end beyond 2^64",
				       (unsigned long long)ram_size);
		plan[0].gpa = 0;
		plan[0].length = hole;
		plan[1].gpa = KVMHOST_X86_MMIO_HOLE_END;
		plan[1].length = ram_size - hole;
		n = 2;
		/* A hole that starts at 4 GiB is no hole: one range. */
		if (hole == KVMHOST_X86_MMIO_HOLE_END) {
			plan[0].length = ram_size;
			n = 1;
		}
	}
	*count = n;
	if (n > max)
		return kh_fail(E2BIG, func, "the plan has %u ranges; the array holds %u", n, max);
	kh_x86_elements_out(ranges, range_size, plan, n, sizeof(plan[0]));
	return 0;
}

KVMHOST_API int kvmhost_x86_plan_ram(uint64_t ram_size, uint64_t mmio_hole_start, struct kvmhost_x86_ram_range *ranges,
				     uint32_t max, uint32_t *count)
{
	/* Callers built before the element size: the first version's elements, whatever the struct grows into. */
	return plan_ram(ram_size, mmio_hole_start, ranges, sizeof(struct kh_x86_ram_range_v1), max, count, __func__);
}

KVMHOST_API int kvmhost_x86_plan_ram_sized(uint64_t ram_size, uint64_t mmio_hole_start,
					   struct kvmhost_x86_ram_range *ranges, size_t range_size, uint32_t max,
					   uint32_t *count)
{
	return plan_ram(ram_size, mmio_hole_start, ranges, range_size, max, count, __func__);
}

/* A caller's options with the defaults of a NULL pointer, and its element sizes resolved (0: the first version's). */
struct e820_opts {
	struct kvmhost_x86_e820_options o;
	size_t entry_size, range_size;
};

static int load_options(struct e820_opts *e, const struct kvmhost_x86_e820_options *opts, const char *func)
{
	int r = kh_copy_options(&e->o, sizeof(e->o), opts, func);

	if (r == 0)
		r = kh_x86_element_size(e->o.e820_entry_size, sizeof(struct kh_x86_e820_entry_v1),
					sizeof(struct kvmhost_x86_e820_entry), "e820_entry_size", func, &e->entry_size);
	if (r == 0)
		r = kh_x86_element_size(e->o.ram_range_size, sizeof(struct kh_x86_ram_range_v1),
					sizeof(struct kvmhost_x86_ram_range), "ram_range_size", func, &e->range_size);
	return r;
}

/* Sort @r and fail if two ranges overlap; @what names them in the message. */
static int sort_and_check(struct typed_range *r, uint32_t n, const char *what, const char *func)
{
	qsort(r, n, sizeof(*r), cmp_range);
	for (uint32_t i = 1; i < n; i++)
		if (r[i].start < r[i - 1].end)
			return kh_fail(EINVAL, func, "%s [0x%llx, 0x%llx) and [0x%llx, 0x%llx) overlap", what,
				       (unsigned long long)r[i - 1].start, (unsigned long long)r[i - 1].end,
				       (unsigned long long)r[i].start, (unsigned long long)r[i].end);
	return 0;
}

/* The winner at piece [a, b): see the file comment. @mem and @extra are
 * sorted and free of overlaps, so at most one of each covers a piece. */
static uint32_t piece_type(uint64_t a, const struct typed_range *mem, uint32_t nmem, const struct typed_range *extra,
			   uint32_t nextra, uint64_t hole, int low_hole)
{
	uint32_t type = 0;

	for (uint32_t i = 0; i < nmem; i++)
		if (mem[i].start <= a && a < mem[i].end) {
			type = mem[i].type;
			break;
		}
	if (type == KVMHOST_X86_E820_RAM && a >= hole && a < KVMHOST_X86_MMIO_HOLE_END)
		type = 0;
	if (low_hole && a >= KVMHOST_X86_EBDA_START && a < KVMHOST_X86_HIGH_MEMORY_START)
		type = KVMHOST_X86_E820_RESERVED;
	for (uint32_t i = 0; i < nextra; i++)
		if (extra[i].start <= a && a < extra[i].end) {
			type = extra[i].type;
			break;
		}
	return type;
}

/* Paint the map. Takes ownership of nothing; @mem is sorted in place. */
static int e820_build(struct typed_range *mem, uint32_t nmem, const struct e820_opts *e,
		      struct kvmhost_x86_e820_entry *entries, uint32_t max, uint32_t *count, const char *func)
{
	const struct kvmhost_x86_e820_options o = e->o;
	struct kvmhost_x86_e820_entry *out = NULL, *xin = NULL;
	struct typed_range *extra = NULL;
	uint64_t *cuts = NULL, hole;
	uint32_t ncuts = 0, n = 0;
	int low_hole = 0, r;

	if (!count)
		return kh_fail(EINVAL, func, "count is NULL");
	if (max && !entries)
		return kh_fail(EINVAL, func, "entries is NULL but max is %u", max);
	hole = o.mmio_hole_start ? o.mmio_hole_start : KVMHOST_X86_MMIO_HOLE_START_DEFAULT;
	r = check_hole(hole, func);
	if (r < 0)
		return r;
	if (o.extra_count && !o.extra)
		return kh_fail(EINVAL, func, "extra is NULL but extra_count is %u", o.extra_count);
	if (o.extra_count > KVMHOST_X86_E820_MAX)
		return kh_fail(EINVAL, func, "%u extra entries; at most %u", o.extra_count, KVMHOST_X86_E820_MAX);

	r = kh_x86_elements_in((void **)&xin, o.extra, o.extra_count, e->entry_size, sizeof(*xin), "extra", func);
	if (r < 0)
		return r;
	r = sort_and_check(mem, nmem, "RAM ranges", func);
	if (r < 0)
		goto out;
	extra = calloc(o.extra_count + 1, sizeof(*extra));
	cuts = calloc(2 * ((size_t)nmem + o.extra_count) + 4, sizeof(*cuts));
	if (!extra || !cuts) {
		r = kh_fail(ENOMEM, func, "cannot allocate the e820 work space");
		goto out;
	}
	for (uint32_t i = 0; i < o.extra_count; i++) {
		const struct kvmhost_x86_e820_entry *x = &xin[i];

		if (x->size == 0 || x->type == 0 || kh_add_overflows(x->addr, x->size, &extra[i].end)) {
			r = kh_fail(EINVAL, func,
				    "extra entry %u [0x%llx, +0x%llx) type %u is empty, wraps or has type 0", i,
				    (unsigned long long)x->addr, (unsigned long long)x->size, x->type);
			goto out;
		}
		extra[i].start = x->addr;
		extra[i].type = x->type;
	}
	r = sort_and_check(extra, o.extra_count, "extra entries", func);
	if (r < 0)
		goto out;

	for (uint32_t i = 0; i < nmem; i++) {
		cuts[ncuts++] = mem[i].start;
		cuts[ncuts++] = mem[i].end;
		if (mem[i].end > KVMHOST_X86_EBDA_START)
			low_hole = 1;
	}
	for (uint32_t i = 0; i < o.extra_count; i++) {
		cuts[ncuts++] = extra[i].start;
		cuts[ncuts++] = extra[i].end;
	}
	cuts[ncuts++] = KVMHOST_X86_EBDA_START;
	cuts[ncuts++] = KVMHOST_X86_HIGH_MEMORY_START;
	cuts[ncuts++] = hole;
	cuts[ncuts++] = KVMHOST_X86_MMIO_HOLE_END;
	qsort(cuts, ncuts, sizeof(*cuts), cmp_u64);

	/* One piece per pair of distinct cuts; merged entries never outnumber them. */
	out = calloc(ncuts, sizeof(*out));
	if (!out) {
		r = kh_fail(ENOMEM, func, "cannot allocate %u e820 entries", ncuts);
		goto out;
	}
	for (uint32_t i = 0; i + 1 < ncuts; i++) {
		uint64_t a = cuts[i], b = cuts[i + 1];
		uint32_t type;

		if (a == b)
			continue;
		type = piece_type(a, mem, nmem, extra, o.extra_count, hole, low_hole);
		if (!type)
			continue;
		if (n && out[n - 1].type == type && out[n - 1].addr + out[n - 1].size == a) {
			out[n - 1].size += b - a;
			continue;
		}
		out[n].addr = a;
		out[n].size = b - a;
		out[n].type = type;
		n++;
	}
	*count = n;
	if (n > KVMHOST_X86_E820_MAX) {
		r = kh_fail(E2BIG, func, "the map needs %u entries; a zero page holds %u", n, KVMHOST_X86_E820_MAX);
		goto out;
	}
	if (n > max) {
		r = kh_fail(E2BIG, func, "the map needs %u entries; the array holds %u", n, max);
		goto out;
	}
	kh_x86_elements_out(entries, e->entry_size, out, n, sizeof(*out));
	r = 0;
out:
	free(xin);
	free(out);
	free(cuts);
	free(extra);
	return r;
}

KVMHOST_API int kvmhost_x86_e820_from_ranges(const struct kvmhost_x86_ram_range *ram, uint32_t ram_count,
					     const struct kvmhost_x86_e820_options *opts,
					     struct kvmhost_x86_e820_entry *entries, uint32_t max, uint32_t *count)
{
	struct kvmhost_x86_ram_range *in = NULL;
	struct typed_range *mem;
	struct e820_opts e;
	int r;

	if (ram_count && !ram)
		return KH_FAIL(EINVAL, "ram is NULL but ram_count is %u", ram_count);
	if ((r = load_options(&e, opts, __func__)) < 0)
		return r;
	if ((r = kh_x86_elements_in((void **)&in, ram, ram_count, e.range_size, sizeof(*in), "ram", __func__)) < 0)
		return r;
	mem = calloc((size_t)ram_count + 1, sizeof(*mem));
	if (!mem) {
		free(in);
		return KH_FAIL(ENOMEM, "cannot allocate %u ranges", ram_count);
	}
	for (uint32_t i = 0; i < ram_count; i++) {
		if (in[i].length == 0 || kh_add_overflows(in[i].gpa, in[i].length, &mem[i].end)) {
			r = KH_FAIL(EINVAL, "RAM range %u [0x%llx, +0x%llx) is empty or wraps", i,
				    (unsigned long long)in[i].gpa, (unsigned long long)in[i].length);
			free(in);
			free(mem);
			return r;
		}
		mem[i].start = in[i].gpa;
		mem[i].type = KVMHOST_X86_E820_RAM;
	}
	free(in);
	r = e820_build(mem, ram_count, &e, entries, max, count, __func__);
	free(mem);
	return r;
}

struct collect {
	struct typed_range *r;
	uint32_t n, cap;
};

static int collect_region(struct kvmhost_memory_region *region, void *opaque)
{
	struct collect *c = opaque;

	if (c->n == c->cap) {
		uint32_t cap = c->cap ? 2 * c->cap : 16;
		struct typed_range *n = realloc(c->r, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->r = n;
		c->cap = cap;
	}
	c->r[c->n].start = kvmhost_memory_region_gpa(region);
	c->r[c->n].end = c->r[c->n].start + kvmhost_memory_region_length(region);
	c->r[c->n].type = kvmhost_memory_region_flags(region) & KVMHOST_MEMORY_READONLY ? KVMHOST_X86_E820_RESERVED
											: KVMHOST_X86_E820_RAM;
	c->n++;
	return 0;
}

KVMHOST_API int kvmhost_x86_e820_from_memory(struct kvmhost_memory *mem, const struct kvmhost_x86_e820_options *opts,
					     struct kvmhost_x86_e820_entry *entries, uint32_t max, uint32_t *count)
{
	struct collect c = {0};
	struct e820_opts e;
	int r;

	if (!mem)
		return KH_FAIL(EINVAL, "mem is NULL");
	if ((r = load_options(&e, opts, __func__)) < 0)
		return r;
	r = kvmhost_memory_for_each_region(mem, collect_region, &c);
	if (r < 0) {
		free(c.r);
		return r == -ENOMEM ? KH_FAIL(ENOMEM, "cannot collect the memory regions")
				    : KH_FAIL(-r, "cannot walk the memory regions");
	}
	r = e820_build(c.r, c.n, &e, entries, max, count, __func__);
	free(c.r);
	return r;
}
