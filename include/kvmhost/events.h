/**
 * @file events.h
 * @brief eventfds, and KVM's two uses of them: ioeventfd (a guest write
 * signals an eventfd inside the kernel, with no exit to userspace) and irqfd
 * (signalling an eventfd raises a guest interrupt).
 *
 * Thread safety: all calls are thread-safe; ioeventfd/irqfd registration on
 * one VM is serialised by KVM.
 */
#ifndef KVMHOST_EVENTS_H
#define KVMHOST_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_vm;

/** Make the eventfd non-blocking. */
#define KVMHOST_EVENTFD_NONBLOCK (1u << 0)
/** Semaphore semantics: each read takes 1 (EFD_SEMAPHORE). */
#define KVMHOST_EVENTFD_SEMAPHORE (1u << 1)

/**
 * Create an eventfd (close-on-exec).
 * @param flags KVMHOST_EVENTFD_* flags
 * @param fd    receives the fd; the caller closes it
 * @return 0 and *fd set; -EINVAL for NULL or unknown flags; eventfd()'s error.
 */
KVMHOST_API int kvmhost_eventfd_create(uint32_t flags, int *fd);
/** Add @p value (1 to 2^64 - 2) to an eventfd's counter. -EAGAIN if
 * non-blocking and the counter would overflow.
 * @param fd the eventfd
 * @param value what to add
 * @return 0; -EAGAIN if non-blocking and the counter would overflow; -EINVAL for a bad value; write()'s error.
 */
KVMHOST_API int kvmhost_eventfd_signal(int fd, uint64_t value);
/**
 * Read and reset an eventfd's counter.
 * @param fd the eventfd
 * @param value receives the counter's value
 * @return 0 with *value set; -EAGAIN if non-blocking and zero.
 */
KVMHOST_API int kvmhost_eventfd_consume(int fd, uint64_t *value);

/** Address space of an ioeventfd. */
enum kvmhost_io_space {
	KVMHOST_IO_SPACE_PIO = 0,  /**< x86 port I/O */
	KVMHOST_IO_SPACE_MMIO = 1, /**< guest physical addresses outside RAM */
};

/** Describes an ioeventfd; size rules as kvmhost_system_options. */
struct kvmhost_ioeventfd_options {
	size_t size;		     /**< sizeof(struct kvmhost_ioeventfd_options) */
	enum kvmhost_io_space space; /**< PIO or MMIO */
	uint64_t addr;		     /**< port or guest physical address */
	uint32_t len;		     /**< access size 1, 2, 4 or 8; 0 (MMIO only) matches any size */
	int fd;			     /**< eventfd to signal */
	uint32_t datamatch;	     /**< non-zero: fire only when the value written equals datamatch_value */
	uint64_t datamatch_value;    /**< value to match; must fit in len bytes; 0 without datamatch */
};

/** Register an ioeventfd (KVM_IOEVENTFD). -EINVAL for bad options (ports
 * end at 0xffff); -EEXIST if the same one exists.
 * @param vm the VM
 * @param opts the options (struct kvmhost_ioeventfd_options; size rules as every options struct)
 * @return 0; -EINVAL for bad options (ports end at 0xffff); -EEXIST if the same one exists; KVM's error.
 */
KVMHOST_API int kvmhost_vm_add_ioeventfd(struct kvmhost_vm *vm, const struct kvmhost_ioeventfd_options *opts);
/** Unregister an ioeventfd given the same options it was added with.
 * -ENOENT if there is none.
 * @param vm the VM
 * @param opts the options (struct kvmhost_ioeventfd_options; size rules as every options struct)
 * @return 0; -ENOENT if there is none; -EINVAL for bad options.
 */
KVMHOST_API int kvmhost_vm_remove_ioeventfd(struct kvmhost_vm *vm, const struct kvmhost_ioeventfd_options *opts);

/**
 * Attach an irqfd: signalling @p fd raises @p gsi (KVM_IRQFD).
 * Needs an in-kernel irqchip.
 * @param resample_fd -1 for an edge-triggered line; otherwise an eventfd that
 *        KVM signals when the guest EOIs a level-triggered @p gsi, after
 *        which the line is lowered and the device may raise it again.
 *        Needs KVM_CAP_IRQFD_RESAMPLE (-ENOTSUP) and, on x86, a FULL irqchip.
 * @param vm the VM
 * @param fd the eventfd that raises the interrupt when signalled
 * @param gsi the global system interrupt (GSI)
 * @return 0; -EEXIST if @p fd is already an irqfd of this VM; -EINVAL
 *         (with the likely cause) for what KVM refuses.
 */
KVMHOST_API int kvmhost_vm_add_irqfd(struct kvmhost_vm *vm, int fd, uint32_t gsi, int resample_fd);
/** Detach an irqfd. Detaching a pair that is not attached is not an error
 * (KVM ignores it).
 * @param vm the VM
 * @param fd the eventfd it was attached with
 * @param gsi the global system interrupt (GSI)
 * @return 0; -EINVAL for NULL or a bad fd; KVM's error.
 */
KVMHOST_API int kvmhost_vm_remove_irqfd(struct kvmhost_vm *vm, int fd, uint32_t gsi);

#ifdef __cplusplus
}
#endif

#endif
