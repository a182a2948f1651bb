/*
 * Private layout of virtqueues and their chains, shared by the files of
 * lib/virtio: the common queue code (queue.c: objects, locking, chain
 * building, the "broken" state), the two ring formats (queue_split.c,
 * queue_packed.c) and the device framework (device.c), which also needs the
 * queues' migration state and a hook for when a queue breaks.
 *
 * Locking: one mutex per queue (q->lock) guards everything in it. The ring
 * code runs with it held. When a queue breaks, its owner's hook runs after
 * the lock is dropped (kh_vq_unlock()), so the owner may take its own locks
 * and call back into the queue.
 */
#ifndef KVMHOST_VIRTIO_INTERNAL_H
#define KVMHOST_VIRTIO_INTERNAL_H

#include <endian.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <kvmhost/memory.h>
#include <kvmhost/virtio/queue.h>

#include "../core/internal.h"

/* Descriptor flags, common to both formats. */
#define KH_VQ_DESC_F_NEXT     1u
#define KH_VQ_DESC_F_WRITE    2u
#define KH_VQ_DESC_F_INDIRECT 4u
/* Packed ring availability flags. */
#define KH_VQ_DESC_F_AVAIL (1u << 7)
#define KH_VQ_DESC_F_USED  (1u << 15)
/* Split ring flags. */
#define KH_VQ_AVAIL_F_NO_INTERRUPT 1u
#define KH_VQ_USED_F_NO_NOTIFY	   1u
/* Packed event suppression flags. */
#define KH_VQ_EVENT_ENABLE  0u
#define KH_VQ_EVENT_DISABLE 1u
#define KH_VQ_EVENT_DESC    2u

#define KH_VQ_DESC_SIZE	 16u
#define KH_VQ_REASON_MAX 160

/* Where a chain is. */
enum kh_vq_chain_state {
	KH_VQ_CHAIN_FREE = 0,
	KH_VQ_CHAIN_IN_FLIGHT = 1,
};

/* A chain: the public part first, so the public pointer converts back. */
struct kh_vq_chain {
	struct kvmhost_virtq_chain pub;
	struct kvmhost_virtq *q;
	enum kh_vq_chain_state state;
	uint64_t epoch;	    /* q->epoch at pop; a different one means stale */
	struct iovec *iov;  /* readable iovecs, then writable ones */
	uint64_t *gpa;	    /* guest address of each iovec */
	uint32_t iov_count; /* used entries of iov/gpa */
	uint32_t iov_cap;   /* allocated entries */
	uint16_t avail_pos; /* split: avail index it came from; packed: ring slot of its first descriptor */
	uint8_t avail_wrap; /* packed: driver wrap counter at that slot */
	uint16_t slots;	    /* packed: ring slots it occupied */
	uint8_t seen_write; /* a writable descriptor was seen (direction order) */
	uint64_t total;	    /* bytes so far, both directions (checked against 2^32) */
	struct kh_vq_chain *prev, *next; /* in-flight list, or free list (next only) */
};

/* Migration state of one queue (device.c serialises it). */
struct kh_vq_state {
	uint32_t size;
	uint64_t desc, driver, device;
	uint64_t features;
	uint8_t enabled;
	uint8_t broken;
	uint8_t notify;	    /* the device wants kicks */
	uint8_t avail_wrap; /* packed */
	uint8_t used_wrap;  /* packed */
	uint16_t avail_idx; /* split: last_avail; packed: next_avail */
	uint16_t used_idx;  /* split: used idx; packed: next_used */
	char reason[KH_VQ_REASON_MAX];
};

typedef void (*kh_vq_broken_fn)(void *opaque, struct kvmhost_virtq *q, const char *reason);

struct kvmhost_virtq {
	pthread_mutex_t lock;
	struct kvmhost_memory *mem;
	char *name;
	uint16_t index;
	uint32_t max_size;

	/* What the transport set. */
	uint32_t size;
	uint64_t desc_gpa, driver_gpa, device_gpa;
	uint64_t features;

	/* Derived at enable. */
	int enabled;
	int packed, indirect, event_idx;
	uint8_t *desc;	 /* host view of the descriptor table / ring */
	uint8_t *driver; /* available ring / driver event suppression */
	uint8_t *device; /* used ring / device event suppression */
	uint64_t epoch;	 /* bumped by reset and disable: chains of older epochs are stale */

	/* Broken state: the first reason is kept. */
	int broken;
	char reason[KH_VQ_REASON_MAX];
	int hook_pending; /* tell the owner at unlock */

	/* Split ring. */
	uint16_t last_avail;   /* next avail ring entry to pop */
	uint16_t shadow_avail; /* avail->idx as last read */
	uint16_t used_idx;     /* next used ring entry (and used->idx as last written) */
	uint16_t used_flags;   /* used->flags as last written */

	/* Packed ring. */
	uint16_t next_avail;
	uint8_t avail_wrap;
	uint16_t next_used;
	uint8_t used_wrap;

	/* Notifications. */
	int notify;		 /* the device wants kicks (set_notify) */
	uint16_t signalled_used; /* split, EVENT_IDX: used idx at the last decision */
	uint32_t pending_used;	 /* chains pushed since the last decision */
	uint32_t pending_slots;	 /* packed: ring slots used since the last decision (saturates) */

	/* Chains. */
	uint64_t *in_flight_ids; /* bitmap of heads / buffer ids in flight, max_size bits */
	uint32_t live;		 /* chains in flight of the current epoch */
	uint32_t in_flight;	 /* chains in flight, stale ones included */
	struct kh_vq_chain *in_flight_list;
	struct kh_vq_chain *free_list;
	uint32_t free_count;
	struct kh_vq_chain *last_popped; /* for unpop */

	/* Owner. */
	kh_vq_broken_fn broken_hook;
	void *hook_opaque;
};

/* Read/write little-endian guest fields through host pointers. Ring fields
 * are naturally aligned (checked at enable), so the atomic forms are fine. */
static inline uint16_t kh_vq_ld16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}
static inline uint32_t kh_vq_ld32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}
static inline uint64_t kh_vq_ld64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}
static inline void kh_vq_st16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}
static inline void kh_vq_st32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}
static inline uint16_t kh_vq_ld16_acquire(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}
static inline void kh_vq_st16_release(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}
static inline void kh_vq_full_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* The spec's vring_need_event(): did the index move past @event when it went
 * from @old to @new? (16-bit free-running arithmetic.) */
static inline int kh_vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* queue.c */
void kh_vq_lock(struct kvmhost_virtq *q);
/* Drop the lock, then run the owner's hook if the queue broke meanwhile. */
void kh_vq_unlock(struct kvmhost_virtq *q);
/* With the lock held: break the queue (first reason kept, WARN logged, hook
 * scheduled) and set the last error naming @func. Returns -@err. */
int kh_vq_fail(struct kvmhost_virtq *q, const char *func, int err, const char *fmt, ...) KH_PRINTF(4, 5);
/* With the lock held: append the buffer [addr, addr + len) to chain @c as
 * readable or writable iovecs, checking direction order, wrap-around, the
 * chain's 4 GiB total, guest memory and read-only regions. A violation breaks
 * the queue; -ENOMEM does not. */
int kh_vq_chain_add(struct kvmhost_virtq *q, struct kh_vq_chain *c, uint64_t addr, uint32_t len, int write,
		    const char *func);
/* Check and translate a ring area at enable (alignment, one region, and not
 * read-only if @write); breaks the queue on failure. */
int kh_vq_map_area(struct kvmhost_virtq *q, uint64_t gpa, uint64_t len, uint64_t align, int write, const char *what,
		   uint8_t **host, const char *func);
/* Mark a device write of [gpa, gpa + len) to guest memory dirty. */
void kh_vq_dirty(struct kvmhost_virtq *q, uint64_t gpa, uint64_t len);
/* Whether head / buffer id @id is in flight in the current epoch. */
int kh_vq_id_in_flight(const struct kvmhost_virtq *q, uint16_t id);

/* Ring formats, with the lock held, on an enabled, unbroken queue. */
int kh_vq_split_check(struct kvmhost_virtq *q, const char *func);
int kh_vq_split_pop(struct kvmhost_virtq *q, struct kh_vq_chain *c, const char *func);
void kh_vq_split_push(struct kvmhost_virtq *q, struct kh_vq_chain *c, uint32_t written);
void kh_vq_split_unpop(struct kvmhost_virtq *q, struct kh_vq_chain *c);
int kh_vq_split_should_notify(struct kvmhost_virtq *q);
int kh_vq_split_set_notify(struct kvmhost_virtq *q, int enable);

int kh_vq_packed_check(struct kvmhost_virtq *q, const char *func);
int kh_vq_packed_pop(struct kvmhost_virtq *q, struct kh_vq_chain *c, const char *func);
void kh_vq_packed_push(struct kvmhost_virtq *q, struct kh_vq_chain *c, uint32_t written);
void kh_vq_packed_unpop(struct kvmhost_virtq *q, struct kh_vq_chain *c);
int kh_vq_packed_should_notify(struct kvmhost_virtq *q);
int kh_vq_packed_set_notify(struct kvmhost_virtq *q, int enable);

/* For the device framework. */
void kh_vq_set_broken_hook(struct kvmhost_virtq *q, kh_vq_broken_fn fn, void *opaque);
/* After a restore or a resume, on an enabled, unbroken queue (else nothing
 * happens and it returns 0): publish the notification state the device
 * wants again (EVENT_IDX re-armed at the next entry to pop) and count
 * everything used so far as signalled (the caller raises the interrupt).
 * Returns 1. */
int kh_vq_rearm(struct kvmhost_virtq *q);
/* Snapshot a queue for migration: -EBUSY while chains are in flight. */
int kh_vq_get_state(struct kvmhost_virtq *q, struct kh_vq_state *s, const char *func);
/* Restore a snapshot into a reset queue, re-checking the layout of an enabled
 * one (a failure leaves the queue broken and returns the error). */
int kh_vq_set_state(struct kvmhost_virtq *q, const struct kh_vq_state *s, const char *func);

#endif
