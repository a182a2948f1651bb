/*
 * Guest memory maps: map lifetime, option checking, the host backings of a
 * region (anonymous, memfd, hugetlb memfd, caller file, caller pointer), the
 * sorted region array with its O(log n) lookup, and the standalone
 * add/remove/query calls. KVM slots are added on top in memory_slots.c.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/internal.h"
#include "memory_internal.h"

/* <linux/memfd.h> clashes with glibc's <sys/mman.h>; the encoding is ABI. */
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#define KH_MFD_HUGE_2MB (21u << MFD_HUGE_SHIFT)
#define KH_MFD_HUGE_1GB (30u << MFD_HUGE_SHIFT)

#define KH_SZ_2M (2ull << 20)
#define KH_SZ_1G (1ull << 30)

#define KH_MEMORY_ALL_FLAGS                                                                                            \
	(KVMHOST_MEMORY_READONLY | KVMHOST_MEMORY_LOG_DIRTY | KVMHOST_MEMORY_THP | KVMHOST_MEMORY_PREFAULT)

/* The maps this thread is walking in kvmhost_memory_for_each_region(),
 * innermost first (frames live on the walkers' stacks). */
struct kh_walk {
	const struct kvmhost_memory *mem;
	struct kh_walk *outer;
};
static _Thread_local struct kh_walk *kh_walks;

int kh_memory_walking(const struct kvmhost_memory *mem)
{
	for (const struct kh_walk *w = kh_walks; w; w = w->outer)
		if (w->mem == mem)
			return 1;
	return 0;
}

static const char *kh_backing_name(enum kvmhost_memory_backing b)
{
	switch (b) {
	case KVMHOST_MEMORY_ANONYMOUS:
		return "anonymous";
	case KVMHOST_MEMORY_MEMFD:
		return "memfd";
	case KVMHOST_MEMORY_HUGETLB:
		return "hugetlb";
	case KVMHOST_MEMORY_FILE:
		return "file";
	case KVMHOST_MEMORY_HOST_POINTER:
		return "host pointer";
	}
	return "unknown";
}

/* The kernel's default huge page size (Hugepagesize in /proc/meminfo), read
 * once; 2 MiB if it cannot be read. */
static uint64_t kh_default_hugepage_size(void)
{
	static _Atomic uint64_t cached;
	uint64_t size = atomic_load(&cached);
	char line[128];
	FILE *f;

	if (size)
		return size;
	size = KH_SZ_2M;
	f = fopen("/proc/meminfo", "re");
	if (f) {
		unsigned long long kib;

		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Hugepagesize: %llu kB", &kib) == 1 && kib) {
				size = (uint64_t)kib << 10;
				break;
			}
		fclose(f);
	}
	atomic_store(&cached, size);
	return size;
}

static uint64_t kh_region_align(const struct kvmhost_memory_options *o)
{
	if (o->backing != KVMHOST_MEMORY_HUGETLB)
		return KH_PAGE_SIZE;
	return o->hugepage_size ? o->hugepage_size : kh_default_hugepage_size();
}

int kh_region_check_options(const struct kvmhost_memory_options *o, int vm_region, const char *func)
{
	unsigned long long gpa = o->guest_phys_addr, len = o->length;
	uint64_t end, align;

	switch (o->backing) {
	case KVMHOST_MEMORY_ANONYMOUS:
	case KVMHOST_MEMORY_MEMFD:
	case KVMHOST_MEMORY_HUGETLB:
	case KVMHOST_MEMORY_FILE:
	case KVMHOST_MEMORY_HOST_POINTER:
		break;
	default:
		return kh_fail(EINVAL, func, "unknown backing %d", (int)o->backing);
	}
	if (o->flags & ~(uint32_t)KH_MEMORY_ALL_FLAGS)
		return kh_fail(EINVAL, func, "unknown flags 0x%x", o->flags & ~(uint32_t)KH_MEMORY_ALL_FLAGS);
	if (!vm_region && (o->flags & KVMHOST_MEMORY_LOG_DIRTY))
		return kh_fail(EINVAL, func, "KVMHOST_MEMORY_LOG_DIRTY is for VM regions (kvmhost_vm_add_memory)");
	if ((o->flags & KVMHOST_MEMORY_THP) && o->backing != KVMHOST_MEMORY_ANONYMOUS &&
	    o->backing != KVMHOST_MEMORY_MEMFD)
		return kh_fail(EINVAL, func, "KVMHOST_MEMORY_THP needs an anonymous or memfd backing, not %s",
			       kh_backing_name(o->backing));
	if ((o->flags & KVMHOST_MEMORY_PREFAULT) && o->backing == KVMHOST_MEMORY_HOST_POINTER)
		return kh_fail(EINVAL, func, "KVMHOST_MEMORY_PREFAULT cannot apply to a caller's mapping");
	if (o->length == 0)
		return kh_fail(EINVAL, func, "region at 0x%llx has zero length", gpa);

	/* Fields that only one backing uses must be zero for the others, so that
	 * a mistaken backing is reported rather than silently ignored. */
	if (o->backing != KVMHOST_MEMORY_HUGETLB && o->hugepage_size)
		return kh_fail(EINVAL, func, "hugepage_size is set for a %s region", kh_backing_name(o->backing));
	if (o->backing != KVMHOST_MEMORY_FILE && o->fd_offset)
		return kh_fail(EINVAL, func, "fd_offset is set for a %s region", kh_backing_name(o->backing));
	if (o->backing != KVMHOST_MEMORY_HOST_POINTER && o->host_addr)
		return kh_fail(EINVAL, func, "host_addr is set for a %s region", kh_backing_name(o->backing));

	if (o->backing == KVMHOST_MEMORY_HUGETLB && o->hugepage_size && o->hugepage_size != KH_SZ_2M &&
	    o->hugepage_size != KH_SZ_1G)
		return kh_fail(EINVAL, func, "hugepage_size 0x%llx is not 0, 2 MiB or 1 GiB",
			       (unsigned long long)o->hugepage_size);
	align = kh_region_align(o);
	if (gpa & (align - 1))
		return kh_fail(EINVAL, func, "guest_phys_addr 0x%llx is not aligned to 0x%llx", gpa,
			       (unsigned long long)align);
	if (len & (align - 1))
		return kh_fail(EINVAL, func, "length 0x%llx is not a multiple of 0x%llx", len,
			       (unsigned long long)align);
	if (kh_add_overflows(gpa, len, &end))
		return kh_fail(EINVAL, func, "region 0x%llx + 0x%llx wraps around the address space", gpa, len);
	if (len > SIZE_MAX)
		return kh_fail(EINVAL, func, "length 0x%llx does not fit the host address space", len);

	if (o->backing == KVMHOST_MEMORY_FILE) {
		if (o->fd < 0)
			return kh_fail(EINVAL, func, "a file region needs fd (got %d)", o->fd);
		if (o->fd_offset & KH_PAGE_MASK)
			return kh_fail(EINVAL, func, "fd_offset 0x%llx is not page aligned",
				       (unsigned long long)o->fd_offset);
		if (kh_add_overflows(o->fd_offset, len, &end) || end > (uint64_t)INT64_MAX)
			return kh_fail(EINVAL, func, "fd_offset 0x%llx + length 0x%llx is past any file",
				       (unsigned long long)o->fd_offset, len);
	}
	if (o->backing == KVMHOST_MEMORY_HOST_POINTER) {
		uintptr_t p = (uintptr_t)o->host_addr;
		uint64_t host_end;

		if (!p)
			return kh_fail(EINVAL, func, "a host-pointer region needs host_addr");
		if (p & KH_PAGE_MASK)
			return kh_fail(EINVAL, func, "host_addr %p is not page aligned", o->host_addr);
		if (kh_add_overflows((uint64_t)p, len, &host_end))
			return kh_fail(EINVAL, func, "host_addr %p + 0x%llx wraps around", o->host_addr, len);
	}
	return 0;
}

/*
 * mmap @len bytes at a host address aligned to @align (a power of two >= the
 * page size): reserve len + align of address space, map the real thing over
 * the aligned part, and give back the rest. Huge pages (THP) need the host
 * address aligned like the guest one.
 */
static void *kh_map_aligned(size_t len, size_t align, int prot, int flags, int fd, off_t off)
{
	uint8_t *reserve, *aligned, *p;
	size_t span;

	if (align <= KH_PAGE_SIZE)
		return mmap(NULL, len, prot, flags, fd, off);
	span = len + align;
	reserve = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reserve == MAP_FAILED)
		return MAP_FAILED;
	aligned = (uint8_t *)(((uintptr_t)reserve + align - 1) & ~((uintptr_t)align - 1));
	p = mmap(aligned, len, prot, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		int e = errno;

		munmap(reserve, span);
		errno = e;
		return MAP_FAILED;
	}
	if (aligned > reserve)
		munmap(reserve, (size_t)(aligned - reserve));
	if (reserve + span > aligned + len)
		munmap(aligned + len, (size_t)(reserve + span - (aligned + len)));
	return p;
}

/* Create the memfd of a MEMFD or HUGETLB region, sized and sealed. */
static int kh_region_memfd(struct kvmhost_memory_region *r, const struct kvmhost_memory_options *o, const char *func)
{
	unsigned int mfd_flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	char name[250];

	if (o->backing == KVMHOST_MEMORY_HUGETLB) {
		mfd_flags |= MFD_HUGETLB;
		if (o->hugepage_size == KH_SZ_2M)
			mfd_flags |= KH_MFD_HUGE_2MB;
		else if (o->hugepage_size == KH_SZ_1G)
			mfd_flags |= KH_MFD_HUGE_1GB;
	}
	snprintf(name, sizeof(name), "kvmhost:%s", r->name);
	r->fd = memfd_create(name, mfd_flags);
	if (r->fd < 0) {
		if (o->backing == KVMHOST_MEMORY_HUGETLB && errno == EINVAL)
			return kh_fail(EINVAL, func, "%s: the kernel offers no hugetlb memfd of that page size",
				       r->name);
		return kh_fail(errno ? errno : EIO, func, "%s: memfd_create failed", r->name);
	}
	if (ftruncate(r->fd, (off_t)o->length) < 0)
		return kh_fail(errno ? errno : EIO, func, "%s: cannot size the memfd to 0x%llx bytes", r->name,
			       (unsigned long long)o->length);
	/* The size is final: a process we share the fd with must not shrink it
	 * under our mapping (SIGBUS) or grow it. A kernel that cannot seal this
	 * kind of memfd still gives usable memory, so failure is not fatal. */
	if (fcntl(r->fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)
		kh_log(KVMHOST_LOG_DEBUG, "%s: memfd not sealed: %s", r->name, kvmhost_strerror(-errno));
	return 0;
}

/* Duplicate and check the caller's fd of a FILE region. Returns the mmap
 * protection it allows. */
static int kh_region_file(struct kvmhost_memory_region *r, const struct kvmhost_memory_options *o, int *prot,
			  const char *func)
{
	struct stat st;
	int fl;

	r->fd = fcntl(o->fd, F_DUPFD_CLOEXEC, 0);
	if (r->fd < 0)
		return kh_fail(errno ? errno : EBADF, func, "%s: fd %d is not usable", r->name, o->fd);
	if (fstat(r->fd, &st) < 0)
		return kh_fail(errno ? errno : EIO, func, "%s: fstat of fd %d failed", r->name, o->fd);
	if (S_ISDIR(st.st_mode))
		return kh_fail(EINVAL, func, "%s: fd %d is a directory", r->name, o->fd);
	/* Touching a mapping past the end of a file raises SIGBUS in whatever
	 * thread touches it (a vCPU's, in KVM): refuse it here instead. */
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < o->fd_offset + o->length)
		return kh_fail(EINVAL, func, "%s: file is 0x%llx bytes, the region needs 0x%llx + 0x%llx", r->name,
			       (unsigned long long)st.st_size, (unsigned long long)o->fd_offset,
			       (unsigned long long)o->length);
	fl = fcntl(r->fd, F_GETFL);
	if (fl < 0)
		return kh_fail(errno ? errno : EIO, func, "%s: F_GETFL of fd %d failed", r->name, o->fd);
	switch (fl & O_ACCMODE) {
	case O_RDWR:
		*prot = PROT_READ | PROT_WRITE;
		return 0;
	case O_RDONLY:
		if (o->flags & KVMHOST_MEMORY_READONLY) {
			*prot = PROT_READ;
			return 0;
		}
		return kh_fail(EACCES, func, "%s: fd %d is open read-only; a writable region needs O_RDWR", r->name,
			       o->fd);
	default:
		return kh_fail(EACCES, func, "%s: fd %d is not open for reading", r->name, o->fd);
	}
}

int kh_region_create(const struct kvmhost_memory_options *o, struct kvmhost_memory_region **out, const char *func)
{
	struct kvmhost_memory_region *r;
	int prot = PROT_READ | PROT_WRITE, mflags = 0, fd = -1, err;
	size_t align = KH_PAGE_SIZE;
	off_t off = 0;
	void *p;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return kh_fail(ENOMEM, func, "cannot allocate a region");
	r->fd = -1;
	r->slot = -1;
	r->gpa = o->guest_phys_addr;
	r->length = o->length;
	r->backing = o->backing;
	r->fd_offset = o->backing == KVMHOST_MEMORY_FILE ? o->fd_offset : 0;
	atomic_init(&r->flags, o->flags);
	r->pages = o->length >> KH_PAGE_SHIFT;
	r->bitmap_words = (size_t)((r->pages + 63) / 64);
	if (o->name)
		r->name = strdup(o->name);
	else if (asprintf(&r->name, "mem@0x%" PRIx64, o->guest_phys_addr) < 0)
		r->name = NULL;
	r->vmm_dirty = calloc(r->bitmap_words, sizeof(*r->vmm_dirty));
	if (!r->name || !r->vmm_dirty) {
		err = kh_fail(ENOMEM, func, "cannot allocate region bookkeeping (0x%llx bytes of dirty bitmap)",
			      (unsigned long long)r->bitmap_words * 8);
		goto fail;
	}

	if (o->flags & KVMHOST_MEMORY_PREFAULT)
		mflags |= MAP_POPULATE;
	switch (o->backing) {
	case KVMHOST_MEMORY_ANONYMOUS:
		mflags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case KVMHOST_MEMORY_MEMFD:
	case KVMHOST_MEMORY_HUGETLB:
		err = kh_region_memfd(r, o, func);
		if (err < 0)
			goto fail;
		mflags |= MAP_SHARED;
		fd = r->fd;
		break;
	case KVMHOST_MEMORY_FILE:
		err = kh_region_file(r, o, &prot, func);
		if (err < 0)
			goto fail;
		mflags |= MAP_SHARED;
		fd = r->fd;
		off = (off_t)o->fd_offset;
		break;
	case KVMHOST_MEMORY_HOST_POINTER:
		r->host = o->host_addr;
		*out = r;
		return 0;
	}
	if ((o->flags & KVMHOST_MEMORY_THP) && o->length >= KH_SZ_2M)
		align = KH_SZ_2M;
	p = kh_map_aligned((size_t)o->length, align, prot, mflags, fd, off);
	if (p == MAP_FAILED) {
		if (o->backing == KVMHOST_MEMORY_HUGETLB && errno == ENOMEM)
			err = kh_fail(ENOMEM, func, "%s: no free huge pages for 0x%llx bytes", r->name,
				      (unsigned long long)o->length);
		else
			err = kh_fail(errno ? errno : ENOMEM, func, "%s: mmap of 0x%llx bytes (%s) failed", r->name,
				      (unsigned long long)o->length, kh_backing_name(o->backing));
		goto fail;
	}
	r->host = p;
	r->map_length = (size_t)o->length;
	/* THP is a hint: a kernel without it still gives working memory. */
	if ((o->flags & KVMHOST_MEMORY_THP) && madvise(p, r->map_length, MADV_HUGEPAGE) < 0)
		kh_log(KVMHOST_LOG_DEBUG, "%s: madvise(MADV_HUGEPAGE) failed: %s", r->name, kvmhost_strerror(-errno));
	*out = r;
	return 0;
fail:
	kh_region_free(r);
	return err;
}

void kh_region_free(struct kvmhost_memory_region *r)
{
	if (!r)
		return;
	if (r->map_length)
		munmap(r->host, r->map_length);
	if (r->fd >= 0)
		close(r->fd);
	free((void *)r->vmm_dirty);
	free(r->name);
	free(r);
}

/* Index of the last region starting at or below @addr, or -1. */
static long kh_memory_floor(struct kvmhost_memory *mem, uint64_t addr)
{
	size_t lo = 0, hi = mem->count;

	/* Binary search over the sorted array: O(log n) per lookup, which keeps
	 * access helpers cheap on maps with many slots. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mem->regions[mid]->gpa <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

struct kvmhost_memory_region *kh_memory_lookup(struct kvmhost_memory *mem, uint64_t gpa)
{
	long i = kh_memory_floor(mem, gpa);
	struct kvmhost_memory_region *r;

	if (i < 0)
		return NULL;
	r = mem->regions[i];
	return gpa - r->gpa < r->length ? r : NULL;
}

int kh_memory_check_overlap(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, const char *func)
{
	/* Regions are sorted and disjoint: the first region that can overlap is
	 * the last one starting at or below gpa, else the one after it. Naming
	 * the lowest one keeps the message predictable. */
	long i = kh_memory_floor(mem, gpa);
	struct kvmhost_memory_region *r = NULL;

	if (i >= 0 && mem->regions[i]->gpa + mem->regions[i]->length > gpa)
		r = mem->regions[i];
	else if ((size_t)(i + 1) < mem->count && mem->regions[i + 1]->gpa < gpa + len)
		r = mem->regions[i + 1];
	if (!r)
		return 0;
	return kh_fail(EEXIST, func, "region [0x%llx, 0x%llx) overlaps region '%s' [0x%llx, 0x%llx)",
		       (unsigned long long)gpa, (unsigned long long)(gpa + len), kh_region_name(r),
		       (unsigned long long)r->gpa, (unsigned long long)(r->gpa + r->length));
}

int kh_memory_insert(struct kvmhost_memory *mem, struct kvmhost_memory_region *region, const char *func)
{
	long i;

	pthread_rwlock_wrlock(&mem->rwlock);
	if (mem->count == mem->capacity) {
		size_t cap = mem->capacity ? mem->capacity * 2 : 8;
		struct kvmhost_memory_region **a = realloc(mem->regions, cap * sizeof(*a));

		if (!a) {
			pthread_rwlock_unlock(&mem->rwlock);
			return kh_fail(ENOMEM, func, "cannot grow the region array to %zu entries", cap);
		}
		mem->regions = a;
		mem->capacity = cap;
	}
	i = kh_memory_floor(mem, region->gpa) + 1;
	memmove(&mem->regions[i + 1], &mem->regions[i], (mem->count - (size_t)i) * sizeof(*mem->regions));
	mem->regions[i] = region;
	mem->count++;
	region->mem = mem;
	pthread_rwlock_unlock(&mem->rwlock);
	return 0;
}

long kh_memory_index_of(struct kvmhost_memory *mem, const struct kvmhost_memory_region *region)
{
	long i = kh_memory_floor(mem, region->gpa);

	return i >= 0 && mem->regions[i] == region ? i : -1;
}

void kh_memory_drop(struct kvmhost_memory *mem, size_t index)
{
	pthread_rwlock_wrlock(&mem->rwlock);
	memmove(&mem->regions[index], &mem->regions[index + 1], (mem->count - index - 1) * sizeof(*mem->regions));
	mem->count--;
	pthread_rwlock_unlock(&mem->rwlock);
}

static int kh_memory_alloc(struct kvmhost_memory **out, const char *owner_name, int max_slots, const char *func)
{
	struct kvmhost_memory *mem;

	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return kh_fail(ENOMEM, func, "cannot allocate a memory map");
	if (owner_name) {
		mem->max_slots = max_slots > 0 ? max_slots : 0;
		mem->slots_used = calloc((size_t)mem->max_slots / 64 + 1, sizeof(uint64_t));
		if (!mem->slots_used) {
			free(mem);
			return kh_fail(ENOMEM, func, "cannot allocate the slot bitmap");
		}
		mem->owned = 1;
		snprintf(mem->owner_name, sizeof(mem->owner_name), "%s", owner_name);
	}
	pthread_mutex_init(&mem->update_lock, NULL);
	/* The default (reader-preferring) kind: a reader may take it again while
	 * already holding it, e.g. an access from a for_each callback. */
	pthread_rwlock_init(&mem->rwlock, NULL);
	*out = mem;
	return 0;
}

static void kh_memory_release(struct kvmhost_memory *mem)
{
	for (size_t i = 0; i < mem->count; i++)
		kh_region_free(mem->regions[i]);
	free(mem->regions);
	free(mem->slots_used);
	pthread_rwlock_destroy(&mem->rwlock);
	pthread_mutex_destroy(&mem->update_lock);
	free(mem);
}

int kh_memory_new(struct kvmhost_memory **out, const char *owner_name, int max_slots)
{
	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	if (!owner_name)
		return KH_FAIL(EINVAL, "owner_name is NULL");
	return kh_memory_alloc(out, owner_name, max_slots, __func__);
}

void kh_memory_free(struct kvmhost_memory *mem)
{
	/* The VM's fd is closed by now, so KVM no longer maps any of this. */
	if (mem)
		kh_memory_release(mem);
}

KVMHOST_API int kvmhost_memory_create(struct kvmhost_memory **out)
{
	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	return kh_memory_alloc(out, NULL, 0, __func__);
}

KVMHOST_API void kvmhost_memory_destroy(struct kvmhost_memory *mem)
{
	if (!mem)
		return;
	if (mem->owned) {
		/* Unmapping memory KVM still maps would let the guest scribble on
		 * whatever the host maps there next: refuse. */
		KH_FAIL(EBUSY, "the map belongs to VM %s and goes with kvmhost_vm_destroy()", mem->owner_name);
		kh_log(KVMHOST_LOG_ERROR, "%s", kvmhost_last_error());
		return;
	}
	kh_memory_release(mem);
}

KVMHOST_API int kvmhost_memory_add_region(struct kvmhost_memory *mem, const struct kvmhost_memory_options *opts,
					  struct kvmhost_memory_region **region)
{
	struct kvmhost_memory_options o;
	struct kvmhost_memory_region *r;
	int err;

	if (region)
		*region = NULL;
	if (!mem || !opts)
		return KH_FAIL(EINVAL, "mem or opts is NULL");
	if (mem->owned)
		return KH_FAIL(EINVAL, "the map belongs to VM %s: use kvmhost_vm_add_memory()", mem->owner_name);
	if (kh_memory_walking(mem))
		return KH_FAIL(EDEADLK, "cannot change a map from its own kvmhost_memory_for_each_region()");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	err = kh_region_check_options(&o, 0, __func__);
	if (err < 0)
		return err;
	err = kh_region_create(&o, &r, __func__);
	if (err < 0)
		return err;
	pthread_mutex_lock(&mem->update_lock);
	err = kh_memory_check_overlap(mem, r->gpa, r->length, __func__);
	if (err == 0)
		err = kh_memory_insert(mem, r, __func__);
	pthread_mutex_unlock(&mem->update_lock);
	if (err < 0) {
		kh_region_free(r);
		return err;
	}
	if (region)
		*region = r;
	return 0;
}

KVMHOST_API int kvmhost_memory_remove_region(struct kvmhost_memory *mem, struct kvmhost_memory_region *region)
{
	long i;

	if (!mem || !region)
		return KH_FAIL(EINVAL, "mem or region is NULL");
	if (mem->owned)
		return KH_FAIL(EINVAL, "the map belongs to VM %s: use kvmhost_vm_remove_memory()", mem->owner_name);
	if (kh_memory_walking(mem))
		return KH_FAIL(EDEADLK, "cannot change a map from its own kvmhost_memory_for_each_region()");
	pthread_mutex_lock(&mem->update_lock);
	i = kh_memory_index_of(mem, region);
	if (i >= 0)
		kh_memory_drop(mem, (size_t)i);
	pthread_mutex_unlock(&mem->update_lock);
	if (i < 0)
		return KH_FAIL(ENOENT, "the region is not in this map");
	/* No reader can reach it now: the array no longer holds it and every
	 * access that found it earlier held the rwlock that drop waited for. */
	kh_region_free(region);
	return 0;
}

KVMHOST_API uint64_t kvmhost_memory_region_gpa(const struct kvmhost_memory_region *region)
{
	return region ? region->gpa : 0;
}

KVMHOST_API uint64_t kvmhost_memory_region_length(const struct kvmhost_memory_region *region)
{
	return region ? region->length : 0;
}

KVMHOST_API void *kvmhost_memory_region_host_addr(const struct kvmhost_memory_region *region)
{
	return region ? region->host : NULL;
}

KVMHOST_API int kvmhost_memory_region_fd(const struct kvmhost_memory_region *region)
{
	if (!region)
		return KH_FAIL(EINVAL, "region is NULL");
	if (region->fd < 0)
		return KH_FAIL(ENOENT, "region '%s' (%s) has no file descriptor", kh_region_name(region),
			       kh_backing_name(region->backing));
	return region->fd;
}

KVMHOST_API int kvmhost_memory_region_slot(const struct kvmhost_memory_region *region)
{
	if (!region)
		return KH_FAIL(EINVAL, "region is NULL");
	if (region->slot < 0)
		return KH_FAIL(ENOENT, "region '%s' is not a KVM memory slot", kh_region_name(region));
	return region->slot;
}

KVMHOST_API uint32_t kvmhost_memory_region_flags(const struct kvmhost_memory_region *region)
{
	return region ? atomic_load_explicit(&region->flags, memory_order_relaxed) : 0;
}

KVMHOST_API int kvmhost_memory_for_each_region(struct kvmhost_memory *mem,
					       int (*fn)(struct kvmhost_memory_region *region, void *opaque),
					       void *opaque)
{
	struct kh_walk walk;
	int ret = 0;

	if (!mem || !fn)
		return KH_FAIL(EINVAL, "mem or fn is NULL");
	pthread_rwlock_rdlock(&mem->rwlock);
	walk.mem = mem;
	walk.outer = kh_walks;
	kh_walks = &walk;
	for (size_t i = 0; i < mem->count && ret == 0; i++)
		ret = fn(mem->regions[i], opaque);
	kh_walks = walk.outer;
	pthread_rwlock_unlock(&mem->rwlock);
	return ret;
}
