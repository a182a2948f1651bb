/*
 * The I/O bus as it was before the read-mostly dispatch (commit a442e0c):
 * lib/bus/bus.c and lib/bus/bus_dispatch.c of that commit, copied verbatim
 * below this comment and the renames, so that bench_bus_threads can run the
 * old scheme (a writer-preferring pthread rwlock taken for every dispatch)
 * beside the library's, in one process, on the same devices. Not part of
 * the library and not built into it; only the benchmark links it (with the
 * static library, for the internal error and log helpers it calls).
 */
#define kvmhost_bus		  ref_bus
#define kvmhost_bus_create	  ref_bus_create
#define kvmhost_bus_destroy	  ref_bus_destroy
#define kvmhost_bus_register	  ref_bus_register
#define kvmhost_bus_unregister	  ref_bus_unregister
#define kvmhost_bus_count	  ref_bus_count
#define kvmhost_bus_read	  ref_bus_read
#define kvmhost_bus_write	  ref_bus_write
#define kvmhost_bus_dispatch_exit ref_bus_dispatch_exit
#define kh_bus_access		  ref_bus_access
#include <kvmhost/vcpu.h> /* struct kvmhost_exit, for the dispatch half */

/* ---- lib/bus/bus.c at a442e0c ---- */
/*
 * I/O buses (bus.h): address ranges claimed by device callbacks, kept in an
 * array sorted by base and searched by bisection under a reader/writer lock.
 *
 * Dispatch takes the read lock, so vCPU threads run device callbacks in
 * parallel; register/unregister take the write lock, which is what makes
 * "once unregister returns, no callback of that range runs" true. The lock
 * prefers writers so that busy vCPUs cannot starve a hot-plug; since such a
 * lock deadlocks on a recursive read lock while a writer waits, each thread
 * keeps a small stack of the buses it is dispatching on, and a nested access
 * to the same bus (a device forwarding to another range) reuses the lock it
 * holds. The same stack turns a register/unregister from inside a callback,
 * which would deadlock, into -EDEADLK.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/bus.h>

#include "../core/internal.h"
/* #include "bus_internal.h", as it was then: */
/*
 * Private interface between the bus (bus.c) and exit dispatch
 * (bus_dispatch.c): one locked lookup for a run of accesses to the same
 * address, as REP string I/O makes.
 */
#ifndef KVMHOST_BUS_INTERNAL_H
#define KVMHOST_BUS_INTERNAL_H

#include <stdint.h>
#include <kvmhost/bus.h>

/*
 * Do @count accesses of @len bytes (1 to 8) at @addr, the i-th with the data
 * at @data + i * @stride, under one read lock and one lookup. Unclaimed or
 * straddling reads fill all ones. Stops at the first callback error.
 * @func names the public entry point in error messages.
 * @return 0, KVMHOST_BUS_UNCLAIMED, or a negative errno (message set).
 */
int kh_bus_access(struct kvmhost_bus *bus, uint64_t addr, uint8_t *data, uint32_t len, uint32_t count, uint32_t stride,
		  int is_write, const char *func);

#endif

/* Ranges beyond this many make no sense and would overflow kvmhost_bus_count(). */
#define KH_BUS_MAX_RANGES (1u << 20)

struct kh_bus_entry {
	uint64_t base;
	uint64_t last; /* inclusive, so a range may end at 2^64 - 1 */
	kvmhost_bus_read_fn read;
	kvmhost_bus_write_fn write;
	void *opaque;
	char *name; /* never NULL */
};

struct kvmhost_bus {
	pthread_rwlock_t lock;
	struct kh_bus_entry *entries; /* sorted by base, no overlaps */
	size_t count;
	size_t cap;
	char *name;
};

/* Buses whose read lock this thread holds, innermost first. */
struct kh_bus_frame {
	const struct kvmhost_bus *bus;
	struct kh_bus_frame *prev;
};
/* initial-exec: no __tls_get_addr() call on the dispatch path; one pointer
 * fits easily in the static TLS that glibc keeps spare for dlopen(). */
static _Thread_local struct kh_bus_frame *kh_bus_frames __attribute__((tls_model("initial-exec")));

static int kh_bus_held(const struct kvmhost_bus *bus)
{
	for (const struct kh_bus_frame *f = kh_bus_frames; f; f = f->prev)
		if (f->bus == bus)
			return 1;
	return 0;
}

KVMHOST_API int kvmhost_bus_create(const char *name, struct kvmhost_bus **out)
{
	pthread_rwlockattr_t attr;
	struct kvmhost_bus *bus;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return KH_FAIL(ENOMEM, "cannot allocate a bus");
	bus->name = strdup(name ? name : "bus");
	if (!bus->name) {
		free(bus);
		return KH_FAIL(ENOMEM, "cannot copy the bus name");
	}
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	r = pthread_rwlock_init(&bus->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (r != 0) {
		free(bus->name);
		free(bus);
		return KH_FAIL(r, "cannot initialise the bus lock");
	}
	*out = bus;
	return 0;
}

KVMHOST_API void kvmhost_bus_destroy(struct kvmhost_bus *bus)
{
	if (!bus)
		return;
	for (size_t i = 0; i < bus->count; i++)
		free(bus->entries[i].name);
	free(bus->entries);
	pthread_rwlock_destroy(&bus->lock);
	free(bus->name);
	free(bus);
}

/* Index of the first entry whose base is above @addr (0..count). Under a lock. */
static size_t kh_bus_upper(const struct kvmhost_bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->entries[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The entry containing @addr, or NULL. Under a lock. Branch-free bisection
 * (the compiler emits a conditional move): dispatch hits devices in no
 * predictable order, and mispredicted branches would cost more than the
 * comparisons themselves.
 */
static const struct kh_bus_entry *kh_bus_lookup(const struct kvmhost_bus *bus, uint64_t addr)
{
	const struct kh_bus_entry *e = bus->entries;
	size_t n = bus->count;

	if (n == 0)
		return NULL;
	while (n > 1) {
		size_t half = n / 2;

		e = e[half].base <= addr ? e + half : e;
		n -= half;
	}
	/* e is the last entry based at or below addr, if there is one. */
	return e->base <= addr && addr <= e->last ? e : NULL;
}

KVMHOST_API int kvmhost_bus_register(struct kvmhost_bus *bus, const struct kvmhost_bus_range *range)
{
	struct kvmhost_bus_range o;
	struct kh_bus_entry n;
	const struct kh_bus_entry *clash = NULL;
	size_t i;
	int r;

	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	if (!range)
		return KH_FAIL(EINVAL, "bus '%s': range is NULL", bus->name);
	r = KH_COPY_OPTIONS(&o, range);
	if (r < 0)
		return r;
	if (o.length == 0)
		return KH_FAIL(EINVAL, "bus '%s': range '%s' at 0x%" PRIx64 " has length 0", bus->name,
			       o.name ? o.name : "(unnamed)", o.base);
	memset(&n, 0, sizeof(n));
	if (kh_add_overflows(o.base, o.length - 1, &n.last))
		return KH_FAIL(EINVAL, "bus '%s': range '%s' at 0x%" PRIx64 " + 0x%" PRIx64 " wraps past 2^64",
			       bus->name, o.name ? o.name : "(unnamed)", o.base, o.length);
	if (kh_bus_held(bus))
		return KH_FAIL(EDEADLK, "bus '%s': cannot register '%s' from a callback of the same bus", bus->name,
			       o.name ? o.name : "(unnamed)");
	n.base = o.base;
	n.read = o.read;
	n.write = o.write;
	n.opaque = o.opaque;
	n.name = strdup(o.name ? o.name : "(unnamed)");
	if (!n.name)
		return KH_FAIL(ENOMEM, "bus '%s': cannot copy a range name", bus->name);

	pthread_rwlock_wrlock(&bus->lock);
	i = kh_bus_upper(bus, n.base);
	/* Sorted and disjoint: only the neighbours on either side can overlap. */
	if (i > 0 && bus->entries[i - 1].last >= n.base)
		clash = &bus->entries[i - 1];
	else if (i < bus->count && bus->entries[i].base <= n.last)
		clash = &bus->entries[i];
	if (clash) {
		r = KH_FAIL(EEXIST,
			    "bus '%s': range '%s' [0x%" PRIx64 ", 0x%" PRIx64 "] overlaps '%s' [0x%" PRIx64
			    ", 0x%" PRIx64 "]",
			    bus->name, n.name, n.base, n.last, clash->name, clash->base, clash->last);
		goto out;
	}
	if (bus->count >= KH_BUS_MAX_RANGES) {
		r = KH_FAIL(ENOSPC, "bus '%s': %zu ranges already", bus->name, bus->count);
		goto out;
	}
	if (bus->count == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 8;
		struct kh_bus_entry *a = realloc(bus->entries, cap * sizeof(*a));

		if (!a) {
			r = KH_FAIL(ENOMEM, "bus '%s': cannot grow to %zu ranges", bus->name, cap);
			goto out;
		}
		bus->entries = a;
		bus->cap = cap;
	}
	memmove(&bus->entries[i + 1], &bus->entries[i], (bus->count - i) * sizeof(*bus->entries));
	bus->entries[i] = n;
	bus->count++;
	n.name = NULL; /* owned by the bus now */
	r = 0;
out:
	pthread_rwlock_unlock(&bus->lock);
	if (r == 0)
		kh_log(KVMHOST_LOG_DEBUG, "bus '%s': registered '%s' [0x%" PRIx64 ", 0x%" PRIx64 "]", bus->name,
		       o.name ? o.name : "(unnamed)", o.base, o.base + (o.length - 1));
	free(n.name);
	return r;
}

KVMHOST_API int kvmhost_bus_unregister(struct kvmhost_bus *bus, uint64_t base)
{
	size_t i;
	char *name;

	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	if (kh_bus_held(bus))
		return KH_FAIL(EDEADLK, "bus '%s': cannot unregister 0x%" PRIx64 " from a callback of the same bus",
			       bus->name, base);
	pthread_rwlock_wrlock(&bus->lock);
	i = kh_bus_upper(bus, base);
	if (i == 0 || bus->entries[i - 1].base != base) {
		pthread_rwlock_unlock(&bus->lock);
		return KH_FAIL(ENOENT, "bus '%s': no range starts at 0x%" PRIx64, bus->name, base);
	}
	i--;
	name = bus->entries[i].name;
	memmove(&bus->entries[i], &bus->entries[i + 1], (bus->count - i - 1) * sizeof(*bus->entries));
	bus->count--;
	pthread_rwlock_unlock(&bus->lock);
	kh_log(KVMHOST_LOG_DEBUG, "bus '%s': unregistered '%s' at 0x%" PRIx64, bus->name, name, base);
	free(name);
	return 0;
}

KVMHOST_API int kvmhost_bus_count(const struct kvmhost_bus *bus)
{
	struct kvmhost_bus *b = (struct kvmhost_bus *)bus; /* the lock is mutable state */
	int held, n;

	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	held = kh_bus_held(bus);
	if (!held)
		pthread_rwlock_rdlock(&b->lock);
	n = (int)b->count;
	if (!held)
		pthread_rwlock_unlock(&b->lock);
	return n;
}

int kh_bus_access(struct kvmhost_bus *bus, uint64_t addr, uint8_t *data, uint32_t len, uint32_t count, uint32_t stride,
		  int is_write, const char *func)
{
	struct kh_bus_frame frame;
	const struct kh_bus_entry *e;
	uint64_t last;
	int held, r = 0;

	if (!bus)
		return kh_fail(EINVAL, func, "bus is NULL");
	if (!data)
		return kh_fail(EINVAL, func, "bus '%s': data is NULL", bus->name);
	if (len < 1 || len > 8)
		return kh_fail(EINVAL, func, "bus '%s': access of %u bytes at 0x%" PRIx64 " (1 to 8 allowed)",
			       bus->name, len, addr);
	if (kh_add_overflows(addr, len - 1, &last))
		return kh_fail(EINVAL, func, "bus '%s': %u-byte access at 0x%" PRIx64 " wraps past 2^64", bus->name,
			       len, addr);

	held = kh_bus_held(bus);
	if (!held)
		pthread_rwlock_rdlock(&bus->lock);
	frame.bus = bus;
	frame.prev = kh_bus_frames;
	kh_bus_frames = &frame;

	e = kh_bus_lookup(bus, addr);
	if (!e || last > e->last) {
		/* Nobody, or an access straddling the range's end: as on real hardware. */
		if (!is_write)
			for (uint32_t i = 0; i < count; i++)
				memset(data + (size_t)i * stride, 0xff, len);
		if (e && kh_log_enabled(KVMHOST_LOG_DEBUG))
			kh_log(KVMHOST_LOG_DEBUG,
			       "bus '%s': %u-byte %s at 0x%" PRIx64 " straddles the end of '%s' [0x%" PRIx64
			       ", 0x%" PRIx64 "]",
			       bus->name, len, is_write ? "write" : "read", addr, e->name, e->base, e->last);
		r = KVMHOST_BUS_UNCLAIMED;
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *d = data + (size_t)i * stride;

		if (is_write) {
			if (!e->write)
				continue;
			r = e->write(e->opaque, addr - e->base, d, len);
		} else {
			/* Bytes a callback leaves unset read as all ones, not stale data. */
			memset(d, 0xff, len);
			if (!e->read)
				continue;
			r = e->read(e->opaque, addr - e->base, d, len);
		}
		if (r < 0) {
			/* Something that is not an errno becomes EIO rather than overflowing. */
			r = kh_fail(r >= -4095 ? -r : EIO, func,
				    "bus '%s': '%s' %s of %u bytes at 0x%" PRIx64 " (offset 0x%" PRIx64 ") failed",
				    bus->name, e->name, is_write ? "write" : "read", len, addr, addr - e->base);
			goto out;
		}
		r = 0; /* positive callback returns mean success */
	}
out:
	kh_bus_frames = frame.prev;
	if (!held)
		pthread_rwlock_unlock(&bus->lock);
	return r;
}

KVMHOST_API int kvmhost_bus_read(struct kvmhost_bus *bus, uint64_t addr, void *data, uint32_t len)
{
	return kh_bus_access(bus, addr, data, len, 1, 0, 0, __func__);
}

KVMHOST_API int kvmhost_bus_write(struct kvmhost_bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	/* The write path never stores through data. */
	return kh_bus_access(bus, addr, (uint8_t *)(uintptr_t)data, len, 1, 0, 1, __func__);
}

/* ---- lib/bus/bus_dispatch.c at a442e0c ---- */
/*
 * Dispatch of a decoded vCPU exit, a struct kvmhost_exit, to the PIO or MMIO
 * bus. Kept apart from the bus itself, which knows nothing of vCPUs.
 */

/* KVM keeps the data of one PIO exit, REP string I/O included, in one 4 KiB page. */
#define KH_PIO_DATA_MAX 4096u

KVMHOST_API int kvmhost_bus_dispatch_exit(struct kvmhost_bus *pio, struct kvmhost_bus *mmio,
					  const struct kvmhost_exit *exit)
{
	if (!exit)
		return KH_FAIL(EINVAL, "exit is NULL");
	switch (exit->reason) {
	case KVMHOST_EXIT_IO:
		if (!pio)
			return KH_FAIL(ENOTSUP, "PIO exit at port 0x%x but no PIO bus was given", exit->io.port);
		if (exit->io.size != 1 && exit->io.size != 2 && exit->io.size != 4)
			return KH_FAIL(EINVAL, "PIO exit at port 0x%x: size %u is not 1, 2 or 4", exit->io.port,
				       exit->io.size);
		if (exit->io.count == 0 || (uint64_t)exit->io.count * exit->io.size > KH_PIO_DATA_MAX)
			return KH_FAIL(EINVAL, "PIO exit at port 0x%x: count %u of %u bytes is malformed",
				       exit->io.port, exit->io.count, exit->io.size);
		if (!exit->io.data)
			return KH_FAIL(EINVAL, "PIO exit at port 0x%x: data is NULL", exit->io.port);
		/* String I/O: count accesses to the same port, data packed with stride size. */
		return kh_bus_access(pio, exit->io.port, exit->io.data, exit->io.size, exit->io.count, exit->io.size,
				     exit->io.is_write, __func__);
	case KVMHOST_EXIT_MMIO:
		if (!mmio)
			return KH_FAIL(ENOTSUP, "MMIO exit at 0x%" PRIx64 " but no MMIO bus was given",
				       exit->mmio.addr);
		if (exit->mmio.len < 1 || exit->mmio.len > 8)
			return KH_FAIL(EINVAL, "MMIO exit at 0x%" PRIx64 ": length %u is not 1 to 8", exit->mmio.addr,
				       exit->mmio.len);
		if (!exit->mmio.data)
			return KH_FAIL(EINVAL, "MMIO exit at 0x%" PRIx64 ": data is NULL", exit->mmio.addr);
		return kh_bus_access(mmio, exit->mmio.addr, exit->mmio.data, exit->mmio.len, 1, 0, exit->mmio.is_write,
				     __func__);
	default:
		return KH_FAIL(ENOTSUP, "exit reason %d (KVM exit %u) is neither I/O nor MMIO", (int)exit->reason,
			       exit->kvm_exit_reason);
	}
}
