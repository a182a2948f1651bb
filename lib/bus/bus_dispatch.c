/*
 * Dispatch of a decoded vCPU exit, a struct kvmhost_exit, to the PIO or MMIO
 * bus. Kept apart from the bus itself, which knows nothing of vCPUs.
 */
#include <inttypes.h>

#include <kvmhost/bus.h>
#include <kvmhost/vcpu.h>

#include "../core/internal.h"
#include "bus_internal.h"

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
