/**
 * @file virtio/wiring.h
 * @brief KVM wiring of the virtio transports: queue notifications through
 * ioeventfds, interrupts through irqfds (and MSI routes), so that neither
 * a kick nor an interrupt costs an exit to userspace.
 *
 * The transports (virtio/mmio.h, virtio/pci.h) are device models and never
 * call KVM; this machine-helper level does:
 *  - **notifications**: one eventfd per queue, registered as an ioeventfd
 *    on the queue's notify address (virtio-mmio: QueueNotify with the queue
 *    index as datamatch; virtio-pci: the queue's slot in the notify area,
 *    re-registered whenever the guest moves the BAR). Each eventfd is
 *    served by an event loop (kvmhost_loop, in whatever thread runs it),
 *    which calls kvmhost_virtio_device_queue_notify(): device work never
 *    runs in, or blocks, a vCPU thread. Without a loop the embedder watches
 *    kvmhost_virtio_wiring_notify_fd() and calls
 *    kvmhost_virtio_wiring_service().
 *  - **interrupts**: virtio-mmio, with KVMHOST_VIRTIO_WIRE_IRQFD: an irqfd
 *    on the device's GSI becomes the transport's interrupt line (edge: each
 *    rise of InterruptStatus from 0 signals it once; needs an in-kernel
 *    irqchip). virtio-pci: each MSI-X vector gets a GSI from the router, an
 *    irqfd, and an MSI route kept equal to what the guest programmed in the
 *    table; without a router, or when KVM refuses the irqfd, a vector is
 *    delivered with KVM_SIGNAL_MSI. INTx stays on the transport's own line.
 *
 * Thread safety: create and destroy must not race each other or the
 * transport's destruction; everything else is internal. Destroy the wiring
 * before the transport, the loop, the router and the VM.
 */
#ifndef KVMHOST_VIRTIO_WIRING_H
#define KVMHOST_VIRTIO_WIRING_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_vm;
struct kvmhost_loop;
struct kvmhost_msi_router;
struct kvmhost_virtio_mmio;
struct kvmhost_virtio_pci;

/** Opaque wiring of one transport. */
struct kvmhost_virtio_wiring;

/** Wire flag (virtio-mmio): deliver the interrupt through an irqfd on @c gsi. */
#define KVMHOST_VIRTIO_WIRE_IRQFD (1u << 0)

/** Options of the wire calls; size rules as kvmhost_system_options. */
struct kvmhost_virtio_wire_options {
	size_t size;			   /**< sizeof(struct kvmhost_virtio_wire_options) */
	struct kvmhost_loop *loop;	   /**< serves the notify eventfds; NULL: the embedder does */
	uint32_t flags;			   /**< KVMHOST_VIRTIO_WIRE_* */
	uint32_t gsi;			   /**< virtio-mmio with WIRE_IRQFD: the device's GSI */
	struct kvmhost_msi_router *router; /**< virtio-pci: MSI routes + irqfds; NULL: KVM_SIGNAL_MSI */
};

/**
 * Wire an attached virtio-mmio transport into @p vm.
 * @param vm the VM
 * @param mmio the virtio-mmio transport
 * @param opts the options (struct kvmhost_virtio_wire_options; size rules as every options struct)
 * @param out receives the new wiring (virtio/wiring.h)
 * @return 0; -EINVAL (NULL, a flag the transport kind does not take);
 *         -ENOTCONN if the transport is not attached to a bus; the errors of
 *         eventfd, ioeventfd, irqfd and loop registration (nothing is left
 *         registered).
 */
KVMHOST_API int kvmhost_virtio_mmio_wire(struct kvmhost_vm *vm, struct kvmhost_virtio_mmio *mmio,
					 const struct kvmhost_virtio_wire_options *opts,
					 struct kvmhost_virtio_wiring **out);

/**
 * Wire a virtio-pci transport into @p vm. Its BAR may be unmapped yet: the
 * ioeventfds follow it wherever the guest puts it.
 * @param vm the VM
 * @param vpci the virtio-pci transport
 * @param opts the options (struct kvmhost_virtio_wire_options; size rules as every options struct)
 * @param out receives the new wiring (virtio/wiring.h)
 * @return 0; -EINVAL (NULL, WIRE_IRQFD); the errors of eventfd and loop
 *         registration (nothing is left registered).
 */
KVMHOST_API int kvmhost_virtio_pci_wire(struct kvmhost_vm *vm, struct kvmhost_virtio_pci *vpci,
					const struct kvmhost_virtio_wire_options *opts,
					struct kvmhost_virtio_wiring **out);

/** Undo everything the wiring registered (the transport gets its previous
 * interrupt line back) and close its eventfds. NULL is ignored.
 * @param wiring the wiring (virtio/wiring.h)
 */
KVMHOST_API void kvmhost_virtio_wiring_destroy(struct kvmhost_virtio_wiring *wiring);

/** Return the notify eventfd of queue @p queue (non-blocking; owned by the
 * wiring), or -EINVAL for NULL or a bad queue.
 * @param wiring the wiring (virtio/wiring.h)
 * @param queue the queue's index
 * @return the notify eventfd of queue @p queue (non-blocking; owned by the wiring), or -EINVAL for NULL or a bad queue.
 */
KVMHOST_API int kvmhost_virtio_wiring_notify_fd(struct kvmhost_virtio_wiring *wiring, uint16_t queue);

/**
 * Consume queue @p queue's notify eventfd and, if the guest kicked, pass
 * the kick to the device (for embedders that watch the fds themselves).
 * @param wiring the wiring (virtio/wiring.h)
 * @param queue the queue's index
 * @return 1 if a kick was passed on, 0 if there was none; -EINVAL for NULL
 *         or a bad queue; the eventfd's read error.
 */
KVMHOST_API int kvmhost_virtio_wiring_service(struct kvmhost_virtio_wiring *wiring, uint16_t queue);

#ifdef __cplusplus
}
#endif

#endif
