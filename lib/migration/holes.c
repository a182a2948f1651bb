/*
 * Guest pages known to read as zero without reading them (stream.h, kh_mig_holes()): pages no one ever wrote.
 * Reading such a page to find it zero costs a page fault (anonymous RAM maps the shared zero page; a memfd even
 * allocates and clears a page for it) and a 4 KiB compare, on the source for every zero page of a pass over all
 * of RAM and on the destination for every zero range it is sent; under an emulated CPU that was a large part of
 * a migration of a mostly idle guest (docs/benchmarks.md "Live migration"). What tells:
 *   private anonymous RAM  /proc/self/pagemap: neither present nor swapped (no page behind the address yet);
 *   memfd / shared RAM     SEEK_DATA / SEEK_HOLE of its fd (a hole reads zero; swapped shmem is data);
 *   anything else          nothing: every page is read as before.
 * A page may be written right after it was found a hole; the callers rely on what they already must: the
 * source's dirty logs report that write, and the destination's RAM is written by the stream alone.
 */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "../core/internal.h"
#include "../memory/memory_internal.h"
#include "stream.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAP	   (1ull << 62)
#define PM_BATCH   512u /* pagemap entries per pread */

static void set_bits(uint64_t *bm, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		bm[i / 64] |= 1ull << (i % 64);
}

static int pagemap_holes(const uint8_t *host, uint64_t pages, uint64_t *bm)
{
	static int pagemap_fd = -1; /* opened once per process, shared by every caller */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	uint64_t e[PM_BATCH];
	int fd;

	pthread_mutex_lock(&lock);
	if (pagemap_fd < 0)
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	fd = pagemap_fd;
	pthread_mutex_unlock(&lock);
	if (fd < 0)
		return 0; /* no pagemap (a sandbox): nothing known */
	for (uint64_t i = 0; i < pages;) {
		uint64_t n = KH_MIN(pages - i, (uint64_t)PM_BATCH);
		off_t off = (off_t)(((uintptr_t)host / KH_MIG_PAGE_SIZE + i) * sizeof(uint64_t));
		ssize_t r = pread(fd, e, (size_t)n * sizeof(uint64_t), off);

		if (r < (ssize_t)sizeof(uint64_t))
			return 0; /* what is set so far is true; the rest is read */
		n = (uint64_t)r / sizeof(uint64_t);
		for (uint64_t k = 0; k < n; k++)
			if (!(e[k] & (PM_PRESENT | PM_SWAP)))
				bm[(i + k) / 64] |= 1ull << ((i + k) % 64);
		i += n;
	}
	return 0;
}

static void seek_holes(int fd, uint64_t start, uint64_t pages, uint64_t *bm)
{
	uint64_t end = start + pages * KH_MIG_PAGE_SIZE, at = start;

	while (at < end) {
		off_t data = lseek(fd, (off_t)at, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO) /* no data from here to the end of the file */
				set_bits(bm, (at - start) / KH_MIG_PAGE_SIZE, pages);
			return;
		}
		/* [at, data) is a hole: its whole pages */
		if ((uint64_t)data > at)
			set_bits(bm, (at - start + KH_MIG_PAGE_SIZE - 1) / KH_MIG_PAGE_SIZE,
				 KH_MIN((uint64_t)data, end) / KH_MIG_PAGE_SIZE - start / KH_MIG_PAGE_SIZE);
		if ((uint64_t)data >= end)
			return;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole <= data)
			return;
		/* a hole starting inside a page leaves that page data */
		at = ((uint64_t)hole + KH_MIG_PAGE_SIZE - 1) & ~(uint64_t)(KH_MIG_PAGE_SIZE - 1);
	}
}

int kh_mig_holes(struct kvmhost_memory *mem, uint64_t gpa, uint64_t pages, uint64_t *bm)
{
	struct kvmhost_memory_region *r;
	int err = 0;

	memset(bm, 0, (size_t)((pages + 63) / 64) * sizeof(uint64_t));
	if (!mem || !pages)
		return 0;
	pthread_rwlock_rdlock(&mem->rwlock);
	r = kh_memory_lookup(mem, gpa);
	if (r && gpa - r->gpa <= r->length && pages <= (r->length - (gpa - r->gpa)) / KH_MIG_PAGE_SIZE) {
		uint64_t off = gpa - r->gpa;

		if (r->backing == KVMHOST_MEMORY_ANONYMOUS && r->fd < 0)
			err = pagemap_holes(r->host + off, pages, bm);
		else if (r->backing == KVMHOST_MEMORY_MEMFD && r->fd >= 0)
			seek_holes(r->fd, off, pages, bm); /* a memfd region maps its fd from offset 0 */
	}
	pthread_rwlock_unlock(&mem->rwlock);
	return err;
}
