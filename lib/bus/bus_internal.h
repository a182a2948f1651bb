/*
 * Private interface between the bus (bus.c) and exit dispatch
 * (bus_dispatch.c): one lookup for a run of accesses to the same address,
 * as REP string I/O makes; and, for layers above (lib/pci), whether this
 * thread is inside a callback of a bus.
 */
#ifndef KVMHOST_BUS_INTERNAL_H
#define KVMHOST_BUS_INTERNAL_H

#include <stdint.h>
#include <kvmhost/bus.h>

/*
 * Do @count accesses of @len bytes (1 to 8) at @addr, the i-th with the data
 * at @data + i * @stride, in one read-side section and one lookup. Unclaimed or
 * straddling reads fill all ones. Stops at the first callback error.
 * @func names the public entry point in error messages.
 * @return 0, KVMHOST_BUS_UNCLAIMED, or a negative errno (message set).
 */
int kh_bus_access(struct kvmhost_bus *bus, uint64_t addr, uint8_t *data, uint32_t len, uint32_t count, uint32_t stride,
		  int is_write, const char *func);

/*
 * Whether this thread is inside a callback of @bus (dispatching on it), or,
 * for NULL, of any bus. For callers that would otherwise block on something
 * a callback of that bus may hold (-EDEADLK instead).
 */
int kh_bus_in_callback(const struct kvmhost_bus *bus);

#endif
