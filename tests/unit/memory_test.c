/*
 * Unit tests of guest memory without KVM: option checking and its error
 * messages, overlaps, the backings (anonymous, memfd, file, host pointer,
 * hugetlb when the host has huge pages), translation bounds, checked
 * read/write/copy at region edges and across adjacent regions and holes,
 * read-only regions, the VMM-side dirty bitmap (also under concurrent
 * marks), option-struct size rules, and the guards of a VM-owned map (with a
 * fake VM that never reaches KVM).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include "core/internal.h"
#include "kvm/kvm_internal.h"

#define PAGE 4096u

#include "unit_assert.h"

static struct kvmhost_memory_options anon(uint64_t gpa, uint64_t len, const char *name)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};

	o.guest_phys_addr = gpa;
	o.length = len;
	o.backing = KVMHOST_MEMORY_ANONYMOUS;
	o.name = name;
	return o;
}

static int count_cb(struct kvmhost_memory_region *r, void *opaque)
{
	(void)r;
	(*(int *)opaque)++;
	return 0;
}

static int region_count(struct kvmhost_memory *mem)
{
	int n = 0;

	assert_int_equal(kvmhost_memory_for_each_region(mem, count_cb, &n), 0);
	return n;
}

static int tmp_file(size_t size)
{
	char path[] = "/tmp/kvmhost-memtest-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

/* Is the page at @p still mapped? msync fails with ENOMEM on a hole. */
static int is_mapped(void *p)
{
	return msync(p, PAGE, MS_ASYNC) == 0;
}

static void test_create_destroy(void **state)
{
	struct kvmhost_memory *mem;

	(void)state;
	ASSERT_FAILS(kvmhost_memory_create(NULL), EINVAL);
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	assert_int_equal(region_count(mem), 0);
	kvmhost_memory_destroy(mem);
	kvmhost_memory_destroy(NULL);
}

/* Every invalid option: the right errno, a message, and nothing added. */
static void test_bad_options(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r = (void *)1;
	struct kvmhost_memory_options o;
	static uint8_t unaligned_buf[2 * PAGE] __attribute__((aligned(4096)));
	int fd, rofd;
	char rpath[] = "/tmp/kvmhost-memtest-ro-XXXXXX";

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(0, PAGE, NULL);
	ASSERT_FAILS(kvmhost_memory_add_region(NULL, &o, &r), EINVAL);
	assert_null(r);
	ASSERT_FAILS(kvmhost_memory_add_region(mem, NULL, &r), EINVAL);

#define BAD(field_setup, err)                                                                                          \
	do {                                                                                                           \
		o = anon(0x100000, 0x10000, "bad");                                                                    \
		field_setup;                                                                                           \
		r = (void *)1;                                                                                         \
		ASSERT_FAILS(kvmhost_memory_add_region(mem, &o, &r), err);                                             \
		assert_null(r);                                                                                        \
		assert_int_equal(region_count(mem), 0);                                                                \
	} while (0)

	BAD(o.length = 0, EINVAL);
	BAD(o.guest_phys_addr = 0x100001, EINVAL);
	BAD(o.guest_phys_addr = 0x100800, EINVAL);
	BAD(o.length = 0x1800, EINVAL);
	BAD((o.guest_phys_addr = 0xfffffffffffff000ull, o.length = 0x2000), EINVAL);
	BAD((o.guest_phys_addr = 0xfffffffffffff000ull, o.length = 0x1000), EINVAL); /* ends at 2^64 */
	BAD(o.backing = (enum kvmhost_memory_backing)99, EINVAL);
	BAD(o.backing = (enum kvmhost_memory_backing)(-1), EINVAL);
	BAD(o.flags = 1u << 20, EINVAL);
	BAD(o.flags = KVMHOST_MEMORY_LOG_DIRTY, EINVAL); /* a KVM flag on a standalone map */
	BAD(o.hugepage_size = 2u << 20, EINVAL);	 /* not a hugetlb region */
	BAD(o.fd_offset = PAGE, EINVAL);		 /* not a file region */
	BAD(o.host_addr = unaligned_buf, EINVAL);	 /* not a host-pointer region */
	/* Huge pages: sizes and alignment. */
	BAD((o.backing = KVMHOST_MEMORY_HUGETLB, o.hugepage_size = PAGE), EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_HUGETLB, o.hugepage_size = 2u << 20, o.guest_phys_addr = 0x101000,
	     o.length = 2u << 20),
	    EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_HUGETLB, o.hugepage_size = 2u << 20, o.guest_phys_addr = 0x200000,
	     o.length = 0x1000),
	    EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_HUGETLB, o.flags = KVMHOST_MEMORY_THP), EINVAL);
	/* Host pointers. */
	BAD(o.backing = KVMHOST_MEMORY_HOST_POINTER, EINVAL); /* NULL host_addr */
	BAD((o.backing = KVMHOST_MEMORY_HOST_POINTER, o.host_addr = unaligned_buf + 8), EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_HOST_POINTER, o.host_addr = (void *)(uintptr_t)0xfffffffffffff000ull),
	    EINVAL); /* wraps */
	BAD((o.backing = KVMHOST_MEMORY_HOST_POINTER, o.host_addr = unaligned_buf, o.flags = KVMHOST_MEMORY_THP),
	    EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_HOST_POINTER, o.host_addr = unaligned_buf, o.flags = KVMHOST_MEMORY_PREFAULT),
	    EINVAL);
	/* Files. */
	fd = tmp_file(4 * PAGE);
	BAD((o.backing = KVMHOST_MEMORY_FILE, o.fd = -1), EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_FILE, o.fd = 987654), EBADF);
	BAD((o.backing = KVMHOST_MEMORY_FILE, o.fd = fd, o.length = PAGE, o.fd_offset = 100), EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_FILE, o.fd = fd, o.length = 4 * PAGE, o.fd_offset = PAGE), EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_FILE, o.fd = fd, o.length = PAGE, o.fd_offset = 0xfffffffffffff000ull), EINVAL);
	BAD((o.backing = KVMHOST_MEMORY_FILE, o.fd = fd, o.length = PAGE, o.flags = KVMHOST_MEMORY_THP), EINVAL);
	rofd = mkstemp(rpath);
	assert_true(rofd >= 0);
	assert_int_equal(ftruncate(rofd, PAGE), 0);
	close(rofd);
	rofd = open(rpath, O_RDONLY);
	unlink(rpath);
	assert_true(rofd >= 0);
	/* A read-only fd can only back a read-only region. */
	BAD((o.backing = KVMHOST_MEMORY_FILE, o.fd = rofd, o.length = PAGE), EACCES);
	o = anon(0x100000, PAGE, "ro-file");
	o.backing = KVMHOST_MEMORY_FILE;
	o.fd = rofd;
	o.flags = KVMHOST_MEMORY_READONLY;
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &r), 0);
	{
		uint8_t b = 1;

		ASSERT_FAILS(kvmhost_memory_write(mem, 0x100000, &b, 1), EROFS);
		assert_int_equal(kvmhost_memory_read(mem, 0x100000, &b, 1), 0);
		assert_int_equal(b, 0);
	}
	assert_int_equal(kvmhost_memory_remove_region(mem, r), 0);
	close(rofd);
	close(fd);
	/* The size field itself. */
	BAD(o.size = 4, EINVAL);
#undef BAD
	kvmhost_memory_destroy(mem);
}

static void test_overlap(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *a, *b, *c, *r;
	struct kvmhost_memory_options o;
	static const uint64_t bad[][2] = {
	    {0x10000, 0x10000}, /* the same */
	    {0x18000, 0x10000}, /* starts inside */
	    {0x8000, 0x10000},	/* ends inside */
	    {0x8000, 0x20000},	/* contains */
	    {0x11000, 0x1000},	/* contained */
	    {0x1f000, 0x1000},	/* last page */
	    {0x0, 0x11000},	/* first page from below */
	};

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(0x10000, 0x10000, "middle");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &a), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = anon(bad[i][0], bad[i][1], "intruder");
		r = (void *)1;
		ASSERT_FAILS(kvmhost_memory_add_region(mem, &o, &r), EEXIST);
		assert_null(r);
		/* The message names the region in the way. */
		assert_non_null(strstr(kvmhost_last_error(), "'middle'"));
	}
	/* Adjacent on both sides is fine. */
	o = anon(0x0, 0x10000, "below");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &b), 0);
	o = anon(0x20000, 0x10000, "above");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &c), 0);
	assert_int_equal(region_count(mem), 3);
	o = anon(0x2f000, 0x2000, "over-above");
	ASSERT_FAILS(kvmhost_memory_add_region(mem, &o, &r), EEXIST);
	assert_non_null(strstr(kvmhost_last_error(), "'above'"));
	kvmhost_memory_destroy(mem);
}

static void test_translate_bounds(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *a, *b;
	struct kvmhost_memory_options o;
	void *p = (void *)1;
	uint8_t *host;

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(0x10000, 0x4000, "a");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &a), 0);
	o = anon(0x14000, 0x4000, "b");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &b), 0);
	host = kvmhost_memory_region_host_addr(a);
	assert_non_null(host);
	assert_int_equal(kvmhost_memory_region_gpa(a), 0x10000);
	assert_int_equal(kvmhost_memory_region_length(a), 0x4000);

	assert_int_equal(kvmhost_memory_translate(mem, 0x10000, 0x4000, &p), 0);
	assert_ptr_equal(p, host);
	assert_int_equal(kvmhost_memory_translate(mem, 0x13fff, 1, &p), 0);
	assert_ptr_equal(p, host + 0x3fff);
	assert_int_equal(kvmhost_memory_translate(mem, 0x14000, 1, &p), 0);
	assert_ptr_equal(p, kvmhost_memory_region_host_addr(b));
	ASSERT_FAILS(kvmhost_memory_translate(mem, 0x13fff, 2, &p), EFAULT); /* spans two regions */
	assert_null(p);
	ASSERT_FAILS(kvmhost_memory_translate(mem, 0x10000, 0x4001, &p), EFAULT);
	ASSERT_FAILS(kvmhost_memory_translate(mem, 0xffff, 1, &p), EFAULT);
	ASSERT_FAILS(kvmhost_memory_translate(mem, 0x18000, 1, &p), EFAULT);
	ASSERT_FAILS(kvmhost_memory_translate(mem, 0x17fff, 2, &p), EFAULT);
	ASSERT_FAILS(kvmhost_memory_translate(mem, 0x10000, UINT64_MAX, &p), EFAULT);
	ASSERT_FAILS(kvmhost_memory_translate(mem, UINT64_MAX, 2, &p), EFAULT);
	ASSERT_FAILS(kvmhost_memory_translate(mem, 0x10000, 0, &p), EINVAL);
	ASSERT_FAILS(kvmhost_memory_translate(mem, 0x10000, 1, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_memory_translate(NULL, 0x10000, 1, &p), EINVAL);
	kvmhost_memory_destroy(mem);
}

/* Layout for the access tests: A and B adjacent, a one-page hole, then C
 * (caller memory). */
struct layout {
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *a, *b, *c;
	uint8_t *ha, *hb, *hc;
	uint8_t *c_buf;
};
#define A_GPA	 0x10000u
#define B_GPA	 0x12000u
#define HOLE_GPA 0x14000u
#define C_GPA	 0x15000u
#define END_GPA	 0x16000u

static void layout_create(struct layout *l, uint32_t b_flags)
{
	struct kvmhost_memory_options o;

	memset(l, 0, sizeof(*l));
	assert_int_equal(kvmhost_memory_create(&l->mem), 0);
	o = anon(A_GPA, 0x2000, "A");
	assert_int_equal(kvmhost_memory_add_region(l->mem, &o, &l->a), 0);
	o = anon(B_GPA, 0x2000, "B");
	o.backing = KVMHOST_MEMORY_MEMFD;
	o.flags = b_flags;
	assert_int_equal(kvmhost_memory_add_region(l->mem, &o, &l->b), 0);
	l->c_buf = aligned_alloc(PAGE, PAGE);
	assert_non_null(l->c_buf);
	memset(l->c_buf, 0, PAGE);
	o = anon(C_GPA, PAGE, "C");
	o.backing = KVMHOST_MEMORY_HOST_POINTER;
	o.host_addr = l->c_buf;
	assert_int_equal(kvmhost_memory_add_region(l->mem, &o, &l->c), 0);
	l->ha = kvmhost_memory_region_host_addr(l->a);
	l->hb = kvmhost_memory_region_host_addr(l->b);
	l->hc = kvmhost_memory_region_host_addr(l->c);
	assert_ptr_equal(l->hc, l->c_buf);
}

static void layout_destroy(struct layout *l)
{
	kvmhost_memory_destroy(l->mem);
	free(l->c_buf);
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void test_read_write_edges(void **state)
{
	struct layout l;
	uint8_t buf[64], pat[64], big[0x3000];

	(void)state;
	layout_create(&l, 0);
	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(0x80 + i);

	/* First and last byte of a region. */
	assert_int_equal(kvmhost_memory_write(l.mem, A_GPA, pat, 1), 0);
	assert_int_equal(l.ha[0], 0x80);
	assert_int_equal(kvmhost_memory_write(l.mem, B_GPA - 1, pat + 1, 1), 0);
	assert_int_equal(l.ha[0x1fff], 0x81);
	assert_int_equal(kvmhost_memory_write(l.mem, END_GPA - 1, pat + 2, 1), 0);
	assert_int_equal(l.hc[PAGE - 1], 0x82);
	assert_int_equal(kvmhost_memory_read(l.mem, END_GPA - 1, buf, 1), 0);
	assert_int_equal(buf[0], 0x82);

	/* Spanning the adjacent regions A and B. */
	assert_int_equal(kvmhost_memory_write(l.mem, B_GPA - 16, pat, 32), 0);
	assert_memory_equal(l.ha + 0x2000 - 16, pat, 16);
	assert_memory_equal(l.hb, pat + 16, 16);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(kvmhost_memory_read(l.mem, B_GPA - 16, buf, 32), 0);
	assert_memory_equal(buf, pat, 32);

	/* The whole of A and B in one read. */
	assert_int_equal(kvmhost_memory_read(l.mem, A_GPA, big, 0x3000), 0);
	assert_memory_equal(big + 0x2000 - 16, pat, 32);

	/* Straddling the hole after B: EFAULT, guest memory and buffer untouched. */
	memset(l.hb + 0x2000 - 16, 0x11, 16);
	ASSERT_FAILS(kvmhost_memory_write(l.mem, HOLE_GPA - 16, pat, 32), EFAULT);
	assert_true(all_bytes(l.hb + 0x2000 - 16, 16, 0x11));
	memset(buf, 0x5a, sizeof(buf));
	ASSERT_FAILS(kvmhost_memory_read(l.mem, HOLE_GPA - 16, buf, 32), EFAULT);
	assert_true(all_bytes(buf, sizeof(buf), 0x5a));
	/* From B across the hole into C. */
	memset(l.hc, 0x22, 16);
	ASSERT_FAILS(kvmhost_memory_write(l.mem, HOLE_GPA - 16, big, 0x1000 + 32), EFAULT);
	assert_true(all_bytes(l.hb + 0x2000 - 16, 16, 0x11));
	assert_true(all_bytes(l.hc, 16, 0x22));
	/* Before, inside and after memory. */
	ASSERT_FAILS(kvmhost_memory_read(l.mem, A_GPA - 1, buf, 2), EFAULT);
	assert_true(all_bytes(buf, sizeof(buf), 0x5a));
	ASSERT_FAILS(kvmhost_memory_read(l.mem, HOLE_GPA, buf, 1), EFAULT);
	ASSERT_FAILS(kvmhost_memory_write(l.mem, END_GPA - 1, pat, 2), EFAULT);
	assert_int_equal(l.hc[PAGE - 1], 0x82);
	ASSERT_FAILS(kvmhost_memory_write(l.mem, END_GPA, pat, 1), EFAULT);
	ASSERT_FAILS(kvmhost_memory_read(l.mem, UINT64_MAX, buf, 2), EFAULT);
	/* Bad arguments. */
	ASSERT_FAILS(kvmhost_memory_read(l.mem, A_GPA, buf, 0), EINVAL);
	ASSERT_FAILS(kvmhost_memory_write(l.mem, A_GPA, pat, 0), EINVAL);
	ASSERT_FAILS(kvmhost_memory_read(l.mem, A_GPA, NULL, 1), EINVAL);
	ASSERT_FAILS(kvmhost_memory_write(l.mem, A_GPA, NULL, 1), EINVAL);
	ASSERT_FAILS(kvmhost_memory_read(NULL, A_GPA, buf, 1), EINVAL);
	ASSERT_FAILS(kvmhost_memory_write(NULL, A_GPA, pat, 1), EINVAL);
	layout_destroy(&l);
}

static void test_readonly(void **state)
{
	struct layout l;
	uint8_t pat[32], buf[32];
	uint64_t bm[1];

	(void)state;
	layout_create(&l, KVMHOST_MEMORY_READONLY);
	memset(pat, 0xab, sizeof(pat));
	assert_int_equal(kvmhost_memory_region_flags(l.b), KVMHOST_MEMORY_READONLY);
	/* The VMM fills ROM through its pointer; the guest-facing helpers refuse. */
	memset(l.hb, 0x33, 0x2000);
	ASSERT_FAILS(kvmhost_memory_write(l.mem, B_GPA, pat, 1), EROFS);
	assert_true(all_bytes(l.hb, 0x2000, 0x33));
	/* Spanning RW A and RO B: nothing written, not even A's part. */
	memset(l.ha + 0x2000 - 16, 0x44, 16);
	ASSERT_FAILS(kvmhost_memory_write(l.mem, B_GPA - 16, pat, 32), EROFS);
	assert_true(all_bytes(l.ha + 0x2000 - 16, 16, 0x44));
	assert_true(all_bytes(l.hb, 16, 0x33));
	/* Reading it is fine. */
	assert_int_equal(kvmhost_memory_read(l.mem, B_GPA - 16, buf, 32), 0);
	assert_true(all_bytes(buf, 16, 0x44));
	assert_true(all_bytes(buf + 16, 16, 0x33));
	/* Copies into it are refused, out of it allowed. */
	ASSERT_FAILS(kvmhost_memory_copy(l.mem, B_GPA, A_GPA, 16), EROFS);
	assert_true(all_bytes(l.hb, 16, 0x33));
	assert_int_equal(kvmhost_memory_copy(l.mem, A_GPA, B_GPA, 16), 0);
	assert_true(all_bytes(l.ha, 16, 0x33));
	/* Nothing written means nothing marked dirty. */
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(l.b, bm, sizeof(bm)), 0);
	assert_int_equal(bm[0], 0);
	/* mark_dirty records the VMM's pointer writes, ROM loading included. */
	assert_int_equal(kvmhost_memory_mark_dirty(l.mem, B_GPA + PAGE, 1), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(l.b, bm, sizeof(bm)), 0);
	assert_int_equal(bm[0], 2);
	layout_destroy(&l);
}

/* kvmhost_memory_copy against memmove on a mirror of A|B. */
static void check_copy(struct layout *l, uint64_t dst, uint64_t src, size_t len)
{
	uint8_t mirror[0x4000], now[0x4000];

	for (size_t i = 0; i < sizeof(mirror); i++)
		mirror[i] = (uint8_t)(i * 7 + (i >> 8));
	assert_int_equal(kvmhost_memory_write(l->mem, A_GPA, mirror, sizeof(mirror)), 0);
	assert_int_equal(kvmhost_memory_copy(l->mem, dst, src, len), 0);
	memmove(mirror + (dst - A_GPA), mirror + (src - A_GPA), len);
	assert_int_equal(kvmhost_memory_read(l->mem, A_GPA, now, sizeof(now)), 0);
	assert_memory_equal(now, mirror, sizeof(mirror));
}

static void test_copy(void **state)
{
	struct layout l;
	uint64_t bm[1];

	(void)state;
	layout_create(&l, 0);
	check_copy(&l, A_GPA + 0x100, A_GPA, 0x200);		/* overlapping, upwards */
	check_copy(&l, A_GPA, A_GPA + 0x100, 0x200);		/* overlapping, downwards */
	check_copy(&l, B_GPA - 0x80, A_GPA + 0x1000, 0x800);	/* into A|B, source in A */
	check_copy(&l, A_GPA + 0x1000, B_GPA - 0x80, 0x800);	/* source spans A|B */
	check_copy(&l, A_GPA + 0x1800, A_GPA + 0x1000, 0x1800); /* overlapping up, across A|B */
	check_copy(&l, A_GPA + 0x1000, A_GPA + 0x1800, 0x1800); /* overlapping down, across A|B */
	check_copy(&l, A_GPA + 0x0ff0, A_GPA + 0x0fff, 0x3000); /* both span, overlapping down */
	check_copy(&l, A_GPA + 0x0fff, A_GPA + 0x0ff0, 0x3000); /* both span, overlapping up */
	check_copy(&l, A_GPA, A_GPA, 0x4000);			/* onto itself */

	/* A copy marks exactly the destination pages. */
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(l.a, bm, sizeof(bm)), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(l.b, bm, sizeof(bm)), 0);
	assert_int_equal(kvmhost_memory_copy(l.mem, B_GPA + 0x10, A_GPA, 0x20), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(l.a, bm, sizeof(bm)), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(l.b, bm, sizeof(bm)), 0);
	assert_int_equal(bm[0], 1);

	/* Source or destination straddling the hole: nothing copied. */
	memset(l.hc, 0x66, PAGE);
	memset(l.hb, 0x77, 0x2000);
	ASSERT_FAILS(kvmhost_memory_copy(l.mem, C_GPA, HOLE_GPA - 8, 16), EFAULT);
	assert_true(all_bytes(l.hc, PAGE, 0x66));
	ASSERT_FAILS(kvmhost_memory_copy(l.mem, HOLE_GPA - 8, C_GPA, 16), EFAULT);
	assert_true(all_bytes(l.hb, 0x2000, 0x77));
	ASSERT_FAILS(kvmhost_memory_copy(l.mem, A_GPA, B_GPA, 0), EINVAL);
	ASSERT_FAILS(kvmhost_memory_copy(NULL, A_GPA, B_GPA, 1), EINVAL);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(l.b, bm, sizeof(bm)), 0);
	assert_int_equal(bm[0], 0);
	layout_destroy(&l);
}

static void test_vmm_dirty(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r, *r2;
	struct kvmhost_memory_options o;
	uint64_t bm[2] = {0, 0}, small[1];
	uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	const uint64_t base = 0x100000;

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(base, 64 * PAGE, "dirty");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &r), 0);
	o = anon(base + 64 * PAGE, 65 * PAGE, "dirty2");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &r2), 0);
	assert_int_equal(kvmhost_memory_region_bitmap_size(r), 8);
	assert_int_equal(kvmhost_memory_region_bitmap_size(r2), 16);
	assert_int_equal(kvmhost_memory_region_bitmap_size(NULL), 0);

	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(r, bm, 8), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(kvmhost_memory_write(mem, base + 3 * PAGE + 100, data, 1), 0);
	assert_int_equal(kvmhost_memory_write(mem, base + 6 * PAGE - 2, data, 4), 0);	     /* pages 5 and 6 */
	assert_int_equal(kvmhost_memory_mark_dirty(mem, base + 10 * PAGE, 2 * PAGE + 1), 0); /* 10, 11, 12 */
	assert_int_equal(kvmhost_memory_copy(mem, base + 20 * PAGE + 8, base, 8), 0);	     /* 20 */
	assert_int_equal(kvmhost_memory_write(mem, base + 64 * PAGE - 1, data, 2), 0);	     /* 63 | r2's 0 */
	/* Failed calls mark nothing. */
	ASSERT_FAILS(kvmhost_memory_mark_dirty(mem, base - 1, 2), EFAULT);
	ASSERT_FAILS(kvmhost_memory_mark_dirty(mem, base + 129 * PAGE - 1, 2), EFAULT);
	ASSERT_FAILS(kvmhost_memory_mark_dirty(mem, base, 0), EINVAL);
	ASSERT_FAILS(kvmhost_memory_mark_dirty(NULL, base, 1), EINVAL);
	ASSERT_FAILS(kvmhost_memory_write(mem, base + 129 * PAGE - 1, data, 2), EFAULT);

	ASSERT_FAILS(kvmhost_memory_fetch_vmm_dirty(r2, small, sizeof(small)), ENOSPC);
	ASSERT_FAILS(kvmhost_memory_fetch_vmm_dirty(NULL, bm, sizeof(bm)), EINVAL);
	ASSERT_FAILS(kvmhost_memory_fetch_vmm_dirty(r, NULL, sizeof(bm)), EINVAL);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(r, bm, 8), 0);
	assert_int_equal(bm[0], (1ull << 3) | (1ull << 5) | (1ull << 6) | (1ull << 10) | (1ull << 11) | (1ull << 12) |
				    (1ull << 20) | (1ull << 63));
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(r2, bm, sizeof(bm)), 0);
	assert_int_equal(bm[0], 1);
	assert_int_equal(bm[1], 0);
	/* The fetch cleared them. */
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(r, bm, 8), 0);
	assert_int_equal(bm[0], 0);
	/* The last page of r2 sits alone in its second word. */
	assert_int_equal(kvmhost_memory_mark_dirty(mem, base + 128 * PAGE, PAGE), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(r2, bm, sizeof(bm)), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(bm[1], 1);
	/* A mark over all of r and into r2: every bit of r, bit 0 of r2. */
	assert_int_equal(kvmhost_memory_mark_dirty(mem, base, 64 * PAGE + 1), 0);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(r, bm, 8), 0);
	assert_int_equal(bm[0], UINT64_MAX);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(r2, bm, sizeof(bm)), 0);
	assert_int_equal(bm[0], 1);
	kvmhost_memory_destroy(mem);
}

/* Two threads mark disjoint pages while a third fetches: every mark shows up
 * in exactly one fetch. */
#define CONC_PAGES  16384u
#define CONC_ROUNDS 8

struct marker {
	struct kvmhost_memory *mem;
	uint64_t base;
	unsigned int parity;
	atomic_int *done;
	int failures;
};

static void *marker_thread(void *arg)
{
	struct marker *m = arg;

	for (unsigned int p = m->parity; p < CONC_PAGES; p += 2)
		if (kvmhost_memory_mark_dirty(m->mem, m->base + (uint64_t)p * PAGE + (p % 7) * 64, 1) != 0)
			m->failures++;
	atomic_fetch_add(m->done, 1);
	return NULL;
}

static void test_vmm_dirty_concurrent(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r;
	struct kvmhost_memory_options o;
	const uint64_t base = 0x40000000;
	uint64_t *bm;
	uint8_t *seen;
	size_t words = CONC_PAGES / 64;

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(base, (uint64_t)CONC_PAGES * PAGE, "concurrent");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &r), 0);
	assert_int_equal(kvmhost_memory_region_bitmap_size(r), words * 8);
	bm = calloc(words, 8);
	seen = calloc(CONC_PAGES, 1);
	assert_non_null(bm);
	assert_non_null(seen);
	for (int round = 0; round < CONC_ROUNDS; round++) {
		atomic_int done = 0;
		struct marker m[2] = {{mem, base, 0, &done, 0}, {mem, base, 1, &done, 0}};
		pthread_t t[2];
		unsigned long fetches = 0, total = 0;

		memset(seen, 0, CONC_PAGES);
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&t[i], NULL, marker_thread, &m[i]), 0);
		for (int last = 0; !last;) {
			last = atomic_load(&done) == 2; /* one more fetch after both finished */
			assert_int_equal(kvmhost_memory_fetch_vmm_dirty(r, bm, words * 8), 0);
			fetches++;
			for (size_t w = 0; w < words; w++)
				for (uint64_t bits = bm[w]; bits; bits &= bits - 1) {
					size_t page = w * 64 + (size_t)__builtin_ctzll(bits);

					seen[page]++;
					total++;
				}
		}
		for (int i = 0; i < 2; i++) {
			assert_int_equal(pthread_join(t[i], NULL), 0);
			assert_int_equal(m[i].failures, 0);
		}
		/* Each page was marked once: it must be fetched exactly once. */
		assert_int_equal(total, CONC_PAGES);
		for (size_t p = 0; p < CONC_PAGES; p++)
			assert_int_equal(seen[p], 1);
		(void)fetches;
	}
	free(bm);
	free(seen);
	kvmhost_memory_destroy(mem);
}

/* The options struct as an older caller (smaller) and a newer one (larger)
 * would pass it. */
static void test_options_sizes(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r;
	struct {
		struct kvmhost_memory_options o;
		uint64_t future[2];
	} big;
	struct kvmhost_memory_options o;

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	/* Older: ends before fd; the missing fields read as zero. */
	o = anon(0x10000, PAGE, NULL);
	o.size = offsetof(struct kvmhost_memory_options, fd);
	o.name = "ignored, past the caller's size";
	o.fd_offset = PAGE; /* would be refused if it were read */
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &r), 0);
	assert_int_equal(kvmhost_memory_region_gpa(r), 0x10000);
	/* Newer with a zero tail: accepted. */
	memset(&big, 0, sizeof(big));
	big.o = anon(0x20000, PAGE, "newer");
	big.o.size = sizeof(big);
	assert_int_equal(kvmhost_memory_add_region(mem, &big.o, &r), 0);
	/* Newer, asking for something this library lacks: refused. */
	big.o.guest_phys_addr = 0x30000;
	big.future[1] = 1;
	r = (void *)1;
	ASSERT_FAILS(kvmhost_memory_add_region(mem, &big.o, &r), E2BIG);
	assert_null(r);
	assert_int_equal(region_count(mem), 2);
	kvmhost_memory_destroy(mem);
}

static void test_memfd_shared(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r, *ra;
	struct kvmhost_memory_options o;
	uint8_t *other, buf[16];
	const char msg[] = "shared with vhost";
	int fd, seals;

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(0x100000, 4 * PAGE, "vhost-ram");
	o.backing = KVMHOST_MEMORY_MEMFD;
	o.flags = KVMHOST_MEMORY_PREFAULT | KVMHOST_MEMORY_THP;
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &r), 0);
	fd = kvmhost_memory_region_fd(r);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	seals = fcntl(fd, F_GET_SEALS);
	assert_true(seals >= 0);
	assert_true(seals & F_SEAL_GROW);
	assert_true(seals & F_SEAL_SHRINK);
	assert_int_equal(kvmhost_memory_region_flags(r), KVMHOST_MEMORY_PREFAULT | KVMHOST_MEMORY_THP);

	/* Another mapping of the fd, as a vhost-user backend would make. */
	other = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(other != MAP_FAILED);
	assert_int_equal(kvmhost_memory_write(mem, 0x100000 + 2 * PAGE + 5, msg, sizeof(msg)), 0);
	assert_memory_equal(other + 2 * PAGE + 5, msg, sizeof(msg));
	memcpy(other + 3 * PAGE, "backend wrote", 14);
	assert_int_equal(kvmhost_memory_read(mem, 0x100000 + 3 * PAGE, buf, 14), 0);
	assert_memory_equal(buf, "backend wrote", 14);
	munmap(other, 4 * PAGE);

	/* Anonymous regions and standalone maps have no fd / slot. */
	o = anon(0, PAGE, NULL);
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &ra), 0);
	ASSERT_FAILS(kvmhost_memory_region_fd(ra), ENOENT);
	ASSERT_FAILS(kvmhost_memory_region_fd(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_memory_region_slot(r), ENOENT);
	ASSERT_FAILS(kvmhost_memory_region_slot(NULL), EINVAL);
	assert_int_equal(kvmhost_memory_region_gpa(NULL), 0);
	assert_int_equal(kvmhost_memory_region_length(NULL), 0);
	assert_null(kvmhost_memory_region_host_addr(NULL));
	assert_int_equal(kvmhost_memory_region_flags(NULL), 0);
	kvmhost_memory_destroy(mem);
}

static void test_file_backing(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r;
	struct kvmhost_memory_options o;
	uint8_t buf[8];
	int fd = tmp_file(3 * PAGE);

	(void)state;
	assert_int_equal(pwrite(fd, "fromfile", 8, PAGE + 16), 8);
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(0x200000, 2 * PAGE, "file");
	o.backing = KVMHOST_MEMORY_FILE;
	o.fd = fd;
	o.fd_offset = PAGE;
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &r), 0);
	/* The region holds its own duplicate: the caller may close its fd. */
	assert_true(kvmhost_memory_region_fd(r) >= 0);
	assert_true(kvmhost_memory_region_fd(r) != fd);
	assert_int_equal(kvmhost_memory_read(mem, 0x200000 + 16, buf, 8), 0);
	assert_memory_equal(buf, "fromfile", 8);
	assert_int_equal(kvmhost_memory_write(mem, 0x200000 + PAGE + 8, "to file!", 8), 0);
	assert_int_equal(pread(fd, buf, 8, 2 * PAGE + 8), 8);
	assert_memory_equal(buf, "to file!", 8);
	close(fd);
	assert_int_equal(kvmhost_memory_read(mem, 0x200000 + PAGE + 8, buf, 8), 0);
	assert_memory_equal(buf, "to file!", 8);
	kvmhost_memory_destroy(mem);
}

static void test_hugetlb(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r;
	struct kvmhost_memory_options o;
	uint8_t buf[4];
	int err;

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(0x200000, 2u << 20, "huge");
	o.backing = KVMHOST_MEMORY_HUGETLB;
	o.hugepage_size = 2u << 20;
	err = kvmhost_memory_add_region(mem, &o, &r);
	if (err == -ENOMEM || err == -EINVAL) {
		print_message("hugetlb: skipped, the host has no free 2 MiB huge pages (%s)\n", kvmhost_last_error());
		assert_error_set();
		kvmhost_memory_destroy(mem);
		skip();
	}
	assert_int_equal(err, 0);
	assert_int_equal((uintptr_t)kvmhost_memory_region_host_addr(r) & ((2u << 20) - 1), 0);
	assert_true(kvmhost_memory_region_fd(r) >= 0);
	assert_int_equal(kvmhost_memory_write(mem, 0x200000 + (1u << 20), "huge", 4), 0);
	assert_int_equal(kvmhost_memory_read(mem, 0x200000 + (1u << 20), buf, 4), 0);
	assert_memory_equal(buf, "huge", 4);
	kvmhost_memory_destroy(mem);
}

static void test_remove(void **state)
{
	struct kvmhost_memory *mem, *other;
	struct kvmhost_memory_region *a, *b, *c;
	struct kvmhost_memory_options o;
	uint8_t *ha, *user, v = 9;

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	assert_int_equal(kvmhost_memory_create(&other), 0);
	o = anon(0x10000, PAGE, "a");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &a), 0);
	o = anon(0x11000, PAGE, "b");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &b), 0);
	user = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(user != MAP_FAILED);
	o = anon(0x12000, PAGE, "user");
	o.backing = KVMHOST_MEMORY_HOST_POINTER;
	o.host_addr = user;
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &c), 0);

	ha = kvmhost_memory_region_host_addr(a);
	assert_true(is_mapped(ha));
	ASSERT_FAILS(kvmhost_memory_remove_region(other, a), ENOENT);
	ASSERT_FAILS(kvmhost_memory_remove_region(NULL, a), EINVAL);
	ASSERT_FAILS(kvmhost_memory_remove_region(mem, NULL), EINVAL);
	assert_int_equal(kvmhost_memory_remove_region(mem, a), 0);
	assert_false(is_mapped(ha)); /* unmapped on removal */
	assert_int_equal(region_count(mem), 2);
	ASSERT_FAILS(kvmhost_memory_write(mem, 0x10000, &v, 1), EFAULT);
	assert_int_equal(kvmhost_memory_write(mem, 0x11000, &v, 1), 0);
	/* The freed range can be reused. */
	o = anon(0x10000, PAGE, "a2");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &a), 0);
	/* A host-pointer region is never unmapped, neither by removal nor by destroy. */
	assert_int_equal(kvmhost_memory_remove_region(mem, c), 0);
	assert_true(is_mapped(user));
	o = anon(0x12000, PAGE, "user");
	o.backing = KVMHOST_MEMORY_HOST_POINTER;
	o.host_addr = user;
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &c), 0);
	kvmhost_memory_destroy(mem);
	assert_true(is_mapped(user));
	user[0] = 1;
	munmap(user, PAGE);
	kvmhost_memory_destroy(other);
}

struct walk {
	struct kvmhost_memory *mem;
	uint64_t gpas[8];
	int n, stop_at;
	int add_result, read_result;
};

static int walk_cb(struct kvmhost_memory_region *r, void *opaque)
{
	struct walk *w = opaque;
	struct kvmhost_memory_options o = anon(0x900000, PAGE, NULL);
	struct kvmhost_memory_region *nr;
	uint8_t b;

	w->gpas[w->n++] = kvmhost_memory_region_gpa(r);
	/* Changing the map from here would deadlock: refused. Reading is fine. */
	w->add_result = kvmhost_memory_add_region(w->mem, &o, &nr);
	w->read_result = kvmhost_memory_read(w->mem, kvmhost_memory_region_gpa(r), &b, 1);
	return w->n == w->stop_at ? 42 : 0;
}

static void test_for_each(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_options o;
	struct walk w;
	static const uint64_t order[] = {0x50000, 0x10000, 0x30000, 0x20000};

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	for (size_t i = 0; i < 4; i++) {
		o = anon(order[i], PAGE, NULL);
		assert_int_equal(kvmhost_memory_add_region(mem, &o, NULL), 0); /* handle not wanted */
	}
	memset(&w, 0, sizeof(w));
	w.mem = mem;
	assert_int_equal(kvmhost_memory_for_each_region(mem, walk_cb, &w), 0);
	assert_int_equal(w.n, 4);
	assert_int_equal(w.gpas[0], 0x10000);
	assert_int_equal(w.gpas[1], 0x20000);
	assert_int_equal(w.gpas[2], 0x30000);
	assert_int_equal(w.gpas[3], 0x50000);
	assert_int_equal(w.add_result, -EDEADLK);
	assert_int_equal(w.read_result, 0);
	memset(&w, 0, sizeof(w));
	w.mem = mem;
	w.stop_at = 2;
	assert_int_equal(kvmhost_memory_for_each_region(mem, walk_cb, &w), 42);
	assert_int_equal(w.n, 2);
	ASSERT_FAILS(kvmhost_memory_for_each_region(NULL, walk_cb, &w), EINVAL);
	ASSERT_FAILS(kvmhost_memory_for_each_region(mem, NULL, &w), EINVAL);
	assert_int_equal(region_count(mem), 4);
	kvmhost_memory_destroy(mem);
}

/* Readers on one region while another thread adds and removes others. */
struct reader {
	struct kvmhost_memory *mem;
	atomic_int *stop;
	unsigned int id;
	unsigned long reads;
	int errors;
};

static void *reader_thread(void *arg)
{
	struct reader *rd = arg;
	uint8_t buf[64];

	while (!atomic_load(rd->stop)) {
		void *p;
		int r;

		if (kvmhost_memory_read(rd->mem, 0x10000 + (rd->reads % 64) * 32, buf, sizeof(buf)) != 0 ||
		    kvmhost_memory_translate(rd->mem, 0x10000, 64, &p) != 0 || buf[0] != 0xee)
			rd->errors++;
		/* The churning region is there or not, but never half there. */
		r = kvmhost_memory_write(rd->mem, 0x800000 + rd->id * 64, buf, 8);
		if (r != 0 && r != -EFAULT)
			rd->errors++;
		rd->reads++;
	}
	return NULL;
}

static void test_concurrent_lookup_and_update(void **state)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r;
	struct kvmhost_memory_options o;
	struct reader rd[2];
	atomic_int stop = 0;
	pthread_t t[2];

	(void)state;
	assert_int_equal(kvmhost_memory_create(&mem), 0);
	o = anon(0x10000, 4 * PAGE, "stable");
	assert_int_equal(kvmhost_memory_add_region(mem, &o, &r), 0);
	memset(kvmhost_memory_region_host_addr(r), 0xee, 4 * PAGE);
	for (unsigned int i = 0; i < 2; i++) {
		rd[i] = (struct reader){.mem = mem, .stop = &stop, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, reader_thread, &rd[i]), 0);
	}
	for (int i = 0; i < 2000; i++) {
		struct kvmhost_memory_region *churn;

		o = anon(0x800000, 2 * PAGE, "churn");
		assert_int_equal(kvmhost_memory_add_region(mem, &o, &churn), 0);
		assert_int_equal(kvmhost_memory_remove_region(mem, churn), 0);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(rd[i].errors, 0);
	}
	kvmhost_memory_destroy(mem);
}

/* A map owned by a VM: the standalone calls refuse it, and the VM calls'
 * checks that come before any ioctl work on a fake VM. */
static void test_vm_owned_map(void **state)
{
	struct kvmhost_system sys;
	struct kvmhost_vm vm;
	struct kvmhost_memory_options o;
	struct kvmhost_memory_region *r = (void *)1;
	uint64_t bm[1];

	(void)state;
	memset(&sys, 0, sizeof(sys));
	memset(&vm, 0, sizeof(vm));
	sys.fd = -1;
	sys.max_memslots = 0; /* no slot free: ENOSPC without reaching KVM */
	vm.sys = &sys;
	vm.fd = -1;
	snprintf(vm.name, sizeof(vm.name), "fakevm");
	assert_int_equal(kh_memory_new(&vm.mem, NULL, 0), -EINVAL);
	assert_null(vm.mem);
	assert_int_equal(kh_memory_new(&vm.mem, vm.name, sys.max_memslots), 0);
	assert_ptr_equal(kvmhost_vm_memory(&vm), vm.mem);
	assert_null(kvmhost_vm_memory(NULL));

	reset_error();
	kvmhost_memory_destroy(vm.mem); /* refused: the VM owns it */
	assert_error_set();
	assert_non_null(strstr(kvmhost_last_error(), "fakevm"));

	o = anon(0, PAGE, "x");
	ASSERT_FAILS(kvmhost_memory_add_region(vm.mem, &o, &r), EINVAL);
	assert_null(r);
	ASSERT_FAILS(kvmhost_vm_add_memory(&vm, &o, &r), ENOSPC);
	ASSERT_FAILS(kvmhost_vm_add_memory(NULL, &o, &r), EINVAL);
	ASSERT_FAILS(kvmhost_vm_add_memory(&vm, NULL, &r), EINVAL);
	o.length = 0;
	ASSERT_FAILS(kvmhost_vm_add_memory(&vm, &o, &r), EINVAL);
	o = anon(0, PAGE, "x");
	o.flags = KVMHOST_MEMORY_READONLY; /* fd -1 cannot say it has KVM_CAP_READONLY_MEM */
	ASSERT_FAILS(kvmhost_vm_add_memory(&vm, &o, &r), ENOTSUP);
	o = anon(0, PAGE, "x");
	o.flags = 1u << 30;
	ASSERT_FAILS(kvmhost_vm_add_memory(&vm, &o, &r), EINVAL);
	ASSERT_FAILS(kvmhost_vm_remove_memory(NULL, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_vm_remove_memory(&vm, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_vm_set_dirty_logging(NULL, NULL, 1), EINVAL);
	ASSERT_FAILS(kvmhost_vm_get_dirty_log(NULL, NULL, bm, sizeof(bm)), EINVAL);
	ASSERT_FAILS(kvmhost_vm_dirty_log_manual_protect(NULL), EINVAL);
	assert_int_equal(kvmhost_vm_dirty_log_manual_protect(&vm), 0);

	/* A region of another map is not the VM's. */
	{
		struct kvmhost_memory *mem;
		struct kvmhost_memory_region *foreign;

		assert_int_equal(kvmhost_memory_create(&mem), 0);
		o = anon(0, PAGE, "foreign");
		assert_int_equal(kvmhost_memory_add_region(mem, &o, &foreign), 0);
		ASSERT_FAILS(kvmhost_vm_remove_memory(&vm, foreign), ENOENT);
		ASSERT_FAILS(kvmhost_vm_set_dirty_logging(&vm, foreign, 1), ENOENT);
		ASSERT_FAILS(kvmhost_vm_set_dirty_logging(&vm, foreign, 2), EINVAL);
		ASSERT_FAILS(kvmhost_vm_get_dirty_log(&vm, foreign, bm, sizeof(bm)), ENOENT);
		ASSERT_FAILS(kvmhost_vm_get_dirty_log(&vm, foreign, NULL, sizeof(bm)), EINVAL);
		kvmhost_memory_destroy(mem);
	}
	kh_memory_free(vm.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_destroy),
	    cmocka_unit_test(test_bad_options),
	    cmocka_unit_test(test_overlap),
	    cmocka_unit_test(test_translate_bounds),
	    cmocka_unit_test(test_read_write_edges),
	    cmocka_unit_test(test_readonly),
	    cmocka_unit_test(test_copy),
	    cmocka_unit_test(test_vmm_dirty),
	    cmocka_unit_test(test_vmm_dirty_concurrent),
	    cmocka_unit_test(test_options_sizes),
	    cmocka_unit_test(test_memfd_shared),
	    cmocka_unit_test(test_file_backing),
	    cmocka_unit_test(test_hugetlb),
	    cmocka_unit_test(test_remove),
	    cmocka_unit_test(test_for_each),
	    cmocka_unit_test(test_concurrent_lookup_and_update),
	    cmocka_unit_test(test_vm_owned_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
