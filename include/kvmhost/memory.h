/**
 * @file memory.h
 * @brief Guest physical memory: regions, their backings, checked access and
 * dirty tracking.
 *
 * Two layers live here:
 *  - struct kvmhost_memory, a guest-physical address map with host mappings,
 *    checked access helpers and a VMM-side dirty bitmap. It needs no KVM, so
 *    device models and their unit tests can run on a "fake" guest memory made
 *    with kvmhost_memory_create().
 *  - kvmhost_vm_add_memory() and friends, which add a region to a VM's map
 *    and register it with KVM as a memory slot, plus KVM's dirty log.
 *
 * All guest addresses and lengths given to these functions are checked: an
 * access that does not lie entirely inside guest memory fails with -EFAULT
 * and touches nothing.
 *
 * Thread safety: translation, read/write/copy, mark_dirty and the dirty
 * bitmap fetches are safe from any thread (vCPU and device threads) at any
 * time, also while another thread adds or removes regions: an access either
 * sees a region entirely or not at all, and a region is never unmapped while
 * an access is inside it. Adding and removing regions is serialised
 * internally, but a host pointer obtained from kvmhost_memory_translate() (or
 * a region handle) for a region stays valid only until that region is
 * removed: stop devices before removing memory they use.
 *
 * Read-only regions (KVMHOST_MEMORY_READONLY) are read-only for the guest and
 * for kvmhost_memory_write()/copy(), which refuse them with -EROFS. The VMM
 * fills them (firmware, ROMs) through the pointer from
 * kvmhost_memory_translate(), followed by kvmhost_memory_mark_dirty().
 */
#ifndef KVMHOST_MEMORY_H
#define KVMHOST_MEMORY_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_vm;

/** Opaque guest physical address map. */
struct kvmhost_memory;
/** Opaque handle on one region of a map. */
struct kvmhost_memory_region;

/** Page size used by all dirty bitmaps: one bit per 4 KiB guest page. */
#define KVMHOST_PAGE_SIZE 4096u

/** Where a region's host memory comes from. */
enum kvmhost_memory_backing {
	/** Private anonymous memory (mmap MAP_ANONYMOUS). */
	KVMHOST_MEMORY_ANONYMOUS = 0,
	/** A memfd the library creates; its fd can be passed to another process
	 * (vhost-user) with kvmhost_memory_region_fd(). */
	KVMHOST_MEMORY_MEMFD = 1,
	/** A memfd on hugetlbfs (MFD_HUGETLB), page size from hugepage_size.
	 * Fails with -ENOMEM when the host has no free huge pages. */
	KVMHOST_MEMORY_HUGETLB = 2,
	/** A caller-supplied file descriptor (a file, a shared memfd, a hugetlbfs
	 * file) mapped MAP_SHARED from fd_offset. The fd is duplicated. */
	KVMHOST_MEMORY_FILE = 3,
	/** Memory the caller already mapped at host_addr; the library never
	 * unmaps it. Useful for fake guest memory in tests. */
	KVMHOST_MEMORY_HOST_POINTER = 4,
};

/** The guest cannot write the region (KVM_MEM_READONLY): writes exit as MMIO.
 * kvmhost_memory_write()/copy() refuse it too. */
#define KVMHOST_MEMORY_READONLY (1u << 0)
/** Enable KVM dirty page logging on the slot from the start (VM regions only). */
#define KVMHOST_MEMORY_LOG_DIRTY (1u << 1)
/** Ask for transparent huge pages on an anonymous or memfd region (madvise). */
#define KVMHOST_MEMORY_THP (1u << 2)
/** Populate the mapping up front (MAP_POPULATE). */
#define KVMHOST_MEMORY_PREFAULT (1u << 3)

/** Describes a region to add; same size rules as kvmhost_system_options.
 * Fields that belong to another backing (fd_offset, host_addr,
 * hugepage_size) must be zero. */
struct kvmhost_memory_options {
	size_t size;			     /**< sizeof(struct kvmhost_memory_options) */
	uint64_t guest_phys_addr;	     /**< start; page aligned (huge-page aligned for HUGETLB) */
	uint64_t length;		     /**< bytes; non-zero, page aligned */
	enum kvmhost_memory_backing backing; /**< where the memory comes from */
	uint32_t flags;			     /**< KVMHOST_MEMORY_* flags */
	int fd;				     /**< KVMHOST_MEMORY_FILE: the file, O_RDWR (O_RDONLY only for a
					      *   READONLY region, which is then mapped read-only) */
	uint64_t fd_offset;		     /**< KVMHOST_MEMORY_FILE: offset, page aligned */
	void *host_addr;		     /**< KVMHOST_MEMORY_HOST_POINTER: the mapping, page aligned */
	uint64_t hugepage_size;		     /**< KVMHOST_MEMORY_HUGETLB: 0 (default size), 2 MiB or 1 GiB */
	const char *name;		     /**< memfd name and debug name; copied; may be NULL */
};

/**
 * Create an empty, standalone guest memory map (no KVM involved).
 * @param out receives the new VM's guest memory (memory.h)
 * @return 0 or -EINVAL/-ENOMEM.
 */
KVMHOST_API int kvmhost_memory_create(struct kvmhost_memory **out);

/** Destroy a standalone map and unmap its regions (memory of
 * KVMHOST_MEMORY_HOST_POINTER regions stays mapped). NULL is ignored. The map
 * of a VM (kvmhost_vm_memory()) is refused: nothing happens but the last
 * error (and an error log message); it goes with kvmhost_vm_destroy().
 * @param mem the VM's guest memory (memory.h)
 */
KVMHOST_API void kvmhost_memory_destroy(struct kvmhost_memory *mem);

/**
 * Add a region to a standalone map.
 * @param region receives the new region's handle; may be NULL
 * @param mem the VM's guest memory (memory.h)
 * @param opts the options (struct kvmhost_memory_options; size rules as every options struct)
 * @return 0; -EINVAL for NULL @p mem or @p opts, a bad option (unaligned,
 *         zero length, wrapping, ending at 2^64, unknown backing or flag, a
 *         field of another backing set, KVMHOST_MEMORY_LOG_DIRTY, FILE with
 *         a negative fd or a file too short for fd_offset + length) or a VM's
 *         map (use kvmhost_vm_add_memory()); -E2BIG for an options struct
 *         with unknown non-zero fields; -EBADF for a FILE fd that is not
 *         open; -EACCES for a FILE fd whose access mode does not allow the
 *         mapping; -EEXIST if it overlaps another region (the message names
 *         it); -EDEADLK when called from this map's
 *         kvmhost_memory_for_each_region() callback; -ENOMEM or mmap's error.
 */
KVMHOST_API int kvmhost_memory_add_region(struct kvmhost_memory *mem, const struct kvmhost_memory_options *opts,
					  struct kvmhost_memory_region **region);

/** Remove a region from a standalone map and unmap it (a HOST_POINTER
 * region's memory is never unmapped). -ENOENT if not in @p mem, -EINVAL for
 * NULL or a VM's map, -EDEADLK from this map's for_each callback.
 * @param mem the VM's guest memory (memory.h)
 * @param region the memory region
 * @return 0; -ENOENT if @p region is not in @p mem; -EINVAL for NULL or a VM's map; -EDEADLK from this map's for_each
 * callback.
 */
KVMHOST_API int kvmhost_memory_remove_region(struct kvmhost_memory *mem, struct kvmhost_memory_region *region);

/**
 * Return the VM's memory map, for the access functions below (NULL for NULL).
 * @param vm the VM
 * @return the VM's memory map, for the access functions below (NULL for NULL).
 */
KVMHOST_API struct kvmhost_memory *kvmhost_vm_memory(struct kvmhost_vm *vm);

/**
 * Add a region to a VM and register it as a KVM memory slot (the lowest free
 * slot number, below kvmhost_system_max_memslots()).
 * @param region receives the new region's handle; may be NULL
 * @param vm the VM
 * @param opts the options (struct kvmhost_memory_options; size rules as every options struct)
 * @return as kvmhost_memory_add_region() (KVMHOST_MEMORY_LOG_DIRTY allowed),
 *         plus -ENOSPC when the VM has no free slot, -ENOTSUP for READONLY
 *         without KVM_CAP_READONLY_MEM, and KVM_SET_USER_MEMORY_REGION's error.
 */
KVMHOST_API int kvmhost_vm_add_memory(struct kvmhost_vm *vm, const struct kvmhost_memory_options *opts,
				      struct kvmhost_memory_region **region);

/** Unregister a region's slot from KVM, then remove and unmap it. -ENOENT if
 * the region is not the VM's; if KVM refuses to delete the slot, the region
 * stays as it was and its error is returned.
 * @param vm the VM
 * @param region the memory region
 * @return 0; -ENOENT if the region is not the VM's; -EINVAL for NULL; KVM's error when it refuses to delete the slot.
 */
KVMHOST_API int kvmhost_vm_remove_memory(struct kvmhost_vm *vm, struct kvmhost_memory_region *region);

/**
 * Guest physical start of a region (0 for NULL).
 * @param region the memory region
 * @return the region's guest physical start; 0 for NULL.
 */
KVMHOST_API uint64_t kvmhost_memory_region_gpa(const struct kvmhost_memory_region *region);
/**
 * Length of a region in bytes (0 for NULL).
 * @param region the memory region
 * @return the region's length in bytes; 0 for NULL.
 */
KVMHOST_API uint64_t kvmhost_memory_region_length(const struct kvmhost_memory_region *region);
/**
 * Host address of a region's mapping (NULL for NULL).
 * @param region the memory region
 * @return the host address of the mapping; NULL for NULL.
 */
KVMHOST_API void *kvmhost_memory_region_host_addr(const struct kvmhost_memory_region *region);
/** File descriptor backing a region (memfd, hugetlb or the region's own
 * duplicate of a file's fd), or -ENOENT for anonymous and host-pointer
 * regions, -EINVAL for NULL. The region keeps ownership; the fd is
 * close-on-exec.
 * @param region the memory region
 * @return the fd (owned by the region); -ENOENT for anonymous and host-pointer regions; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_memory_region_fd(const struct kvmhost_memory_region *region);
/**
 * KVM slot number of a VM region, or -ENOENT for a standalone region, -EINVAL for NULL.
 * @param region the memory region
 * @return the KVM slot number; -ENOENT for a standalone region; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_memory_region_slot(const struct kvmhost_memory_region *region);
/** KVMHOST_MEMORY_* flags of a region: those it was created with, with
 * KVMHOST_MEMORY_LOG_DIRTY following kvmhost_vm_set_dirty_logging(). 0 for NULL.
 * @param region the memory region
 * @return the region's KVMHOST_MEMORY_* flags; 0 for NULL.
 */
KVMHOST_API uint32_t kvmhost_memory_region_flags(const struct kvmhost_memory_region *region);

/**
 * Visit every region in guest-address order. The map is read-locked during
 * the walk: @p fn may use the access functions, but adding or removing
 * regions of this map from @p fn fails with -EDEADLK.
 * @param fn called per region; a non-zero return stops the walk and is returned
 * @param mem the VM's guest memory (memory.h)
 * @param opaque passed to @p fn
 * @return 0, -EINVAL, or the first non-zero value @p fn returned
 */
KVMHOST_API int kvmhost_memory_for_each_region(struct kvmhost_memory *mem,
					       int (*fn)(struct kvmhost_memory_region *region, void *opaque),
					       void *opaque);

/**
 * Translate a guest range to a host pointer. The whole range
 * [@p gpa, @p gpa + @p len) must lie inside one region.
 * Writes through the pointer are invisible to KVM's dirty log: call
 * kvmhost_memory_mark_dirty() after writing.
 * @param mem the VM's guest memory (memory.h)
 * @param gpa a guest physical address
 * @param len bytes of the range; non-zero
 * @param host receives the host pointer to @p gpa
 * @return 0 and *host set; -EFAULT (and *host NULL) if any byte is outside
 *         one region; -EINVAL for NULL arguments or zero length.
 */
KVMHOST_API int kvmhost_memory_translate(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, void **host);

/** Copy @p len bytes of guest memory at @p gpa into @p buf. May span adjacent
 * regions. -EFAULT (and nothing copied) if any byte is outside memory;
 * -EINVAL for NULL or zero length.
 * @param mem the VM's guest memory (memory.h)
 * @param gpa a guest physical address
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return 0; -EFAULT (nothing copied) if any byte is outside memory; -EINVAL for NULL or zero length.
 */
KVMHOST_API int kvmhost_memory_read(struct kvmhost_memory *mem, uint64_t gpa, void *buf, size_t len);

/** Copy @p buf into guest memory at @p gpa and mark the pages dirty in the
 * VMM-side bitmap. May span adjacent regions. -EFAULT if any byte is outside
 * memory, -EROFS if any byte is in a read-only region; nothing is written in
 * either case. -EINVAL for NULL or zero length.
 * @param mem the VM's guest memory (memory.h)
 * @param gpa a guest physical address
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EFAULT if any byte is outside memory; -EROFS if any byte is in a read-only region (nothing written in
 * either case); -EINVAL for NULL or zero length.
 */
KVMHOST_API int kvmhost_memory_write(struct kvmhost_memory *mem, uint64_t gpa, const void *buf, size_t len);

/** Copy guest memory to guest memory (ranges may overlap: memmove semantics
 * in guest-physical space), checked as read + write (-EFAULT, -EROFS, nothing
 * copied), marking the destination dirty. -EINVAL for NULL or zero length.
 * @param mem the VM's guest memory (memory.h)
 * @param dst_gpa guest physical address of the destination
 * @param src_gpa guest physical address of the source
 * @param len bytes to copy; non-zero
 * @return 0; -EFAULT or -EROFS (nothing copied); -EINVAL for NULL or zero length.
 */
KVMHOST_API int kvmhost_memory_copy(struct kvmhost_memory *mem, uint64_t dst_gpa, uint64_t src_gpa, size_t len);

/** Record in the VMM-side dirty bitmap that the VMM wrote the range (through
 * a translated pointer). Read-only regions may be marked. -EFAULT (nothing
 * marked) if any byte is outside memory; -EINVAL for NULL or zero length.
 * @param mem the VM's guest memory (memory.h)
 * @param gpa a guest physical address
 * @param len bytes of the range; non-zero
 * @return 0; -EFAULT (nothing marked) if any byte is outside memory; -EINVAL for NULL or zero length.
 */
KVMHOST_API int kvmhost_memory_mark_dirty(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len);

/** Bytes a dirty bitmap of @p region needs: one bit per page, rounded up to
 * whole 64-bit words (what KVM_GET_DIRTY_LOG expects). 0 for NULL.
 * @param region the memory region
 * @return the bitmap's size in bytes; 0 for NULL.
 */
KVMHOST_API size_t kvmhost_memory_region_bitmap_size(const struct kvmhost_memory_region *region);

/**
 * Fetch and clear the VMM-side dirty bitmap of a region: the pages written
 * through kvmhost_memory_write()/copy() or marked with mark_dirty(). Bit i
 * stands for page i of the region. Atomic with respect to concurrent marks:
 * no mark is lost.
 * @param bitmap buffer of at least kvmhost_memory_region_bitmap_size() bytes;
 *        only that many bytes are written
 * @param bitmap_size size of @p bitmap; -ENOSPC if too small
 * @param region the memory region
 * @return 0, -EINVAL for NULL, -ENOSPC
 */
KVMHOST_API int kvmhost_memory_fetch_vmm_dirty(struct kvmhost_memory_region *region, uint64_t *bitmap,
					       size_t bitmap_size);

/** Turn KVM dirty page logging on (@p enable 1) or off (0) for a VM region's
 * slot. Asking for the current state is a no-op. -EINVAL for NULL or another
 * @p enable, -ENOENT if the region is not the VM's.
 * @param vm the VM
 * @param region the memory region
 * @param enable 1: on; 0: off
 * @return 0; -EINVAL for NULL or another @p enable; -ENOENT if the region is not the VM's; KVM's error.
 */
KVMHOST_API int kvmhost_vm_set_dirty_logging(struct kvmhost_vm *vm, struct kvmhost_memory_region *region, int enable);

/**
 * Fetch and clear KVM's dirty log of a region (pages the guest wrote since
 * the last fetch). With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 the library enables
 * manual protection and clears exactly the fetched bits with
 * KVM_CLEAR_DIRTY_LOG; otherwise KVM_GET_DIRTY_LOG clears as it reads.
 * This does not include the VMM-side bitmap: OR both for migration.
 * @param bitmap receives one bit per page of the region
 * @param bitmap_size at least kvmhost_memory_region_bitmap_size() bytes
 * @param vm the VM
 * @param region the memory region
 * @return 0; -EINVAL for NULL or if logging is off for the region; -ENOENT if
 *         the region is not the VM's; -ENOSPC if the buffer is too small;
 *         ioctl errors.
 */
KVMHOST_API int kvmhost_vm_get_dirty_log(struct kvmhost_vm *vm, struct kvmhost_memory_region *region, uint64_t *bitmap,
					 size_t bitmap_size);

/** Return 1 if the VM uses KVM_CLEAR_DIRTY_LOG with manual protection, 0 if
 * not, -EINVAL for NULL.
 * @param vm the VM
 * @return 1 if the VM uses KVM_CLEAR_DIRTY_LOG with manual protection, 0 if not, -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_vm_dirty_log_manual_protect(struct kvmhost_vm *vm);

#ifdef __cplusplus
}
#endif

#endif
