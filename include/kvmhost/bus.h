/**
 * @file bus.h
 * @brief I/O buses: PIO or MMIO address ranges claimed by device callbacks,
 * and the dispatch of vCPU exits to them.
 *
 * A bus is a plain object with no KVM dependency; a VMM usually makes one for
 * port I/O and one for MMIO and hands each vCPU exit to
 * kvmhost_bus_dispatch_exit().
 *
 * Lookup: ranges are kept in an array sorted by base address and found by
 * binary search, O(log n): 256 devices cost 8 comparisons. Registration is
 * rare and publishes a new array. A read no range claims returns all ones,
 * as on real hardware; a write nobody claims is dropped.
 *
 * Thread safety: all calls are thread-safe. Dispatch from many vCPU threads
 * runs in parallel and takes no lock: it writes only a per-thread counter,
 * so threads on different CPUs do not slow each other down
 * (bench/bus_threads.c), and it never blocks, not even while a
 * register/unregister waits. Register/unregister are serialised per bus and
 * wait until every callback of the bus that was in flight when they changed
 * the ranges has returned, so once kvmhost_bus_unregister() returns no
 * callback of that range is running or will run (a BAR move or hot-unplug
 * may therefore take as long as the slowest callback in flight).
 *
 * Callbacks: a callback may read or write any bus, its own included (e.g.
 * to forward an access to another range), and register or unregister on
 * another bus; it must not register or unregister on its own bus (the wait
 * would be for itself: that fails with -EDEADLK). Nor may a thread register
 * or unregister on a bus while holding a lock that a callback of that bus
 * takes. docs/architecture.md ("Locks and callbacks") has the lock order and
 * what each kind of callback may call.
 */
#ifndef KVMHOST_BUS_H
#define KVMHOST_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_exit;

/** Opaque bus. */
struct kvmhost_bus;

/**
 * Read callback: fill @p len bytes of @p data for an access at @p offset from
 * the range's base (bytes left unset read as all ones). Return 0, or a
 * negative errno that dispatch passes on; positive values count as 0.
 */
typedef int (*kvmhost_bus_read_fn)(void *opaque, uint64_t offset, void *data, uint32_t len);
/** Write callback; as the read callback. */
typedef int (*kvmhost_bus_write_fn)(void *opaque, uint64_t offset, const void *data, uint32_t len);

/** A range to claim on a bus; size rules as kvmhost_system_options. */
struct kvmhost_bus_range {
	size_t size;		    /**< sizeof(struct kvmhost_bus_range) */
	uint64_t base;		    /**< first address */
	uint64_t length;	    /**< bytes; non-zero; the last byte, base + length - 1, must not pass 2^64 - 1 */
	kvmhost_bus_read_fn read;   /**< NULL: reads return all ones */
	kvmhost_bus_write_fn write; /**< NULL: writes are dropped */
	void *opaque;		    /**< passed to the callbacks */
	const char *name;	    /**< for messages; copied; may be NULL */
};

/** Return value of dispatch when no range claimed the access. */
#define KVMHOST_BUS_UNCLAIMED 1

/**
 * Create an empty bus. @p name (copied, may be NULL) appears in messages.
 * @param name the bus's name for messages; copied; may be NULL
 * @param out receives the new bus
 * @return 0; -EINVAL for a NULL @p out; -ENOMEM.
 */
KVMHOST_API int kvmhost_bus_create(const char *name, struct kvmhost_bus **out);
/**
 * Destroy a bus. NULL is ignored.
 * @param bus the bus
 */
KVMHOST_API void kvmhost_bus_destroy(struct kvmhost_bus *bus);

/**
 * Claim a range. Returns once no dispatch can see the bus's previous ranges
 * (it waits for the callbacks in flight).
 * @param bus the bus
 * @param range the range to claim
 * @return 0; -EINVAL for a bad range; -EEXIST if it overlaps a registered one
 *         (the message names it); -EDEADLK from a callback of this bus;
 *         -ENOMEM.
 */
KVMHOST_API int kvmhost_bus_register(struct kvmhost_bus *bus, const struct kvmhost_bus_range *range);
/** Release the range that starts at @p base, and wait until none of its
 * callbacks is running: when this returns, none runs or will run.
 * -ENOENT if no range starts there; -EDEADLK from a callback of this bus
 * (which it would wait for).
 * @param bus the bus
 * @param base the base address the range was registered with
 * @return 0; -ENOENT if no range starts at @p base; -EDEADLK from a callback of this bus; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_bus_unregister(struct kvmhost_bus *bus, uint64_t base);
/**
 * Number of registered ranges (negative errno for NULL).
 * @param bus the bus
 * @return the number of registered ranges; a negative errno for NULL.
 */
KVMHOST_API int kvmhost_bus_count(const struct kvmhost_bus *bus);

/**
 * Read through the bus. An access must lie inside one range.
 * @param len 1 to 8 bytes
 * @param bus the bus
 * @param addr the bus address of the access
 * @param data the buffer to fill
 * @return 0 if a range handled it; KVMHOST_BUS_UNCLAIMED (data set to all
 *         ones) if none did or the access straddles a range's end; a
 *         negative errno from the callback or for bad arguments.
 */
KVMHOST_API int kvmhost_bus_read(struct kvmhost_bus *bus, uint64_t addr, void *data, uint32_t len);
/**
 * Write through the bus; return values as kvmhost_bus_read().
 * @param bus the bus
 * @param addr the bus address of the access
 * @param data the bytes
 * @param len bytes at @p data
 * @return as kvmhost_bus_read().
 */
KVMHOST_API int kvmhost_bus_write(struct kvmhost_bus *bus, uint64_t addr, const void *data, uint32_t len);

/**
 * Dispatch a vCPU exit: KVMHOST_EXIT_IO to @p pio (each of the count
 * accesses of string I/O, all to the same port, data packed with stride
 * size; the first callback error ends it), KVMHOST_EXIT_MMIO to @p mmio.
 * @param pio the port I/O bus
 * @param mmio the MMIO bus
 * @param exit the exit, as kvmhost_vcpu_run() gave it
 * @return 0 if handled; KVMHOST_BUS_UNCLAIMED if no range claimed it (reads
 *         got all ones); -ENOTSUP if the exit is not IO/MMIO or its bus is
 *         NULL; -EINVAL for a NULL or malformed exit; a callback's negative errno.
 */
KVMHOST_API int kvmhost_bus_dispatch_exit(struct kvmhost_bus *pio, struct kvmhost_bus *mmio,
					  const struct kvmhost_exit *exit);

#ifdef __cplusplus
}
#endif

#endif
