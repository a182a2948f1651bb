/*
 * Private layout of guest memory maps and regions, shared by the files of
 * lib/memory: the map and its backings (guest_memory.c), checked access
 * (memory_access.c), the VMM-side dirty bitmap (dirty_bitmap.c), KVM memory
 * slots (memory_slots.c) and KVM's dirty log (dirty_log.c).
 *
 * Locking: a map has two locks.
 *  - update_lock (mutex) serialises every change of the region array and of
 *    the KVM slots behind it (add, remove, dirty-logging on/off, dirty-log
 *    fetch). Slow work (mmap, ioctls) happens under it, never under rwlock.
 *  - rwlock protects the sorted region array itself. Readers (lookups and
 *    every access helper) hold it shared for the whole access, so a region
 *    cannot be unmapped under a memcpy; writers hold it only to insert or
 *    drop an array entry.
 * Order: update_lock before rwlock.
 */
#ifndef KVMHOST_MEMORY_INTERNAL_H
#define KVMHOST_MEMORY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <kvmhost/memory.h>

#define KH_PAGE_SHIFT 12
#define KH_PAGE_SIZE  ((uint64_t)KVMHOST_PAGE_SIZE)
#define KH_PAGE_MASK  (KH_PAGE_SIZE - 1)

struct kvmhost_memory_region {
	struct kvmhost_memory *mem; /* the map it belongs to */
	uint64_t gpa;
	uint64_t length;
	uint8_t *host;	   /* host mapping of the region */
	size_t map_length; /* bytes to munmap (0 for HOST_POINTER) */
	enum kvmhost_memory_backing backing;
	_Atomic uint32_t flags;	     /* KVMHOST_MEMORY_*; LOG_DIRTY follows set_dirty_logging */
	int fd;			     /* memfd/hugetlb/dup'ed file fd, or -1 */
	uint64_t fd_offset;	     /* FILE: where the region starts in its file (same-host hand-over) */
	int slot;		     /* KVM slot of a VM region, or -1 */
	char *name;		     /* copied; never NULL */
	uint64_t pages;		     /* length / KVMHOST_PAGE_SIZE */
	size_t bitmap_words;	     /* 64-bit words of a dirty bitmap */
	_Atomic uint64_t *vmm_dirty; /* VMM-side dirty bitmap, bitmap_words words */
};

struct kvmhost_memory {
	pthread_mutex_t update_lock;
	pthread_rwlock_t rwlock;
	struct kvmhost_memory_region **regions; /* sorted by gpa, never overlapping */
	size_t count, capacity;
	/* A VM's map knows its owner only by name (for messages): the map is a leaf that knows nothing of KVM;
	 * memory_slots.c and dirty_log.c, the VM's side, do the ioctls. */
	int owned;	      /* the map belongs to a VM (made by kh_memory_new()), else standalone */
	char owner_name[32];  /* that VM's name */
	uint64_t *slots_used; /* VM maps: one bit per KVM slot */
	int max_slots;	      /* VM maps: the system's KVM_CAP_NR_MEMSLOTS */
};

/* Validate a copied options struct. @vm_region: the region is for a VM (KVM
 * flags allowed). Sets the last error naming @func. */
int kh_region_check_options(const struct kvmhost_memory_options *o, int vm_region, const char *func);
/* Create the region and its host mapping (no map involved yet). */
int kh_region_create(const struct kvmhost_memory_options *o, struct kvmhost_memory_region **out, const char *func);
/* Unmap and free a region that is in no map. */
void kh_region_free(struct kvmhost_memory_region *region);

/* With update_lock held: -EEXIST (message naming the other region) if
 * [gpa, gpa + len) overlaps a region of @mem. */
int kh_memory_check_overlap(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, const char *func);
/* With update_lock held: insert into the sorted array. */
int kh_memory_insert(struct kvmhost_memory *mem, struct kvmhost_memory_region *region, const char *func);
/* With update_lock held: index of @region in @mem, or -1. */
long kh_memory_index_of(struct kvmhost_memory *mem, const struct kvmhost_memory_region *region);
/* With update_lock held: drop entry @index from the array (takes the write lock). */
void kh_memory_drop(struct kvmhost_memory *mem, size_t index);
/* Nonzero while this thread is inside kvmhost_memory_for_each_region() of @mem
 * (a change of the map from there would deadlock on the rwlock). */
int kh_memory_walking(const struct kvmhost_memory *mem);

/* With rwlock held (shared or exclusive): the region holding @gpa, or NULL.
 * O(log n): binary search of the sorted array. */
struct kvmhost_memory_region *kh_memory_lookup(struct kvmhost_memory *mem, uint64_t gpa);

/* With rwlock held: 0 if every byte of [gpa, gpa + len) lies in regions of
 * @mem (and, if @write, none of them read-only); else -EFAULT / -EROFS with
 * the message naming @func. @len is not zero. */
int kh_memory_check_range(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, int write, const char *func);

/* Set the VMM dirty bits of [gpa, gpa + len), which lies inside @region. */
void kh_region_mark_dirty(struct kvmhost_memory_region *region, uint64_t gpa, uint64_t len);

/* KVM slots of a VM's map (memory_slots.c). With update_lock held:
 * (re)register @r's slot with @flags (KVMHOST_MEMORY_*), or delete it when
 * @remove. */
int kh_slot_update(struct kvmhost_vm *vm, struct kvmhost_memory_region *r, uint32_t flags, int remove,
		   const char *func);
/* With update_lock held: index of @region in @vm's map, or -ENOENT with a message. */
int kh_vm_find_region(struct kvmhost_vm *vm, struct kvmhost_memory_region *region, const char *func);

/* Name used in messages. */
static inline const char *kh_region_name(const struct kvmhost_memory_region *region)
{
	return region->name;
}

#endif
