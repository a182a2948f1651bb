/**
 * @file irq_line.h
 * @brief Interrupt lines: how a device model raises and lowers an interrupt
 * without knowing where the wire goes.
 *
 * A device (UART, ...) is handed a struct kvmhost_irq_line and only ever
 * calls kvmhost_irq_line_set(). What a level change does is decided by
 * whoever made the line:
 *  - kvmhost_irq_line_create(): the embedder's own callback (a fake line in
 *    a unit test, a line of a userspace interrupt controller, ...);
 *  - kvmhost_irq_line_create_gsi(): a GSI of a VM with an in-kernel irqchip,
 *    driven with kvmhost_vm_set_irq_line() (level semantics);
 *  - kvmhost_irq_line_create_irqfd(): an irqfd's eventfd, signalled on each
 *    rising edge (edge semantics: lowering the line does nothing).
 *
 * A line remembers its level and passes on changes only, so a device may
 * call kvmhost_irq_line_set() with its computed level after every register
 * access at no cost; a level that does not change is no new edge.
 *
 * Thread safety: kvmhost_irq_line_set() and kvmhost_irq_line_level() are safe
 * from any thread; level changes reach the callback one at a time, in the
 * order they were made. A line may be shared by several devices (a wired-OR
 * is then the embedder's business: the line holds the last level set).
 * Destroy a line only after every device using it is destroyed.
 */
#ifndef KVMHOST_IRQ_LINE_H
#define KVMHOST_IRQ_LINE_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_vm;

/** Opaque interrupt line. */
struct kvmhost_irq_line;

/**
 * Level callback: the line changed to @p level (0 or 1). Runs in the thread
 * that called kvmhost_irq_line_set(), usually a vCPU thread inside a device
 * callback with the device's lock held: it must not call back into that
 * device. Return 0, or a negative errno that kvmhost_irq_line_set() passes on
 * (the line then keeps its previous level).
 */
typedef int (*kvmhost_irq_line_set_fn)(void *opaque, int level);

/** Options for kvmhost_irq_line_create(); size rules as kvmhost_system_options. */
struct kvmhost_irq_line_options {
	size_t size;			   /**< sizeof(struct kvmhost_irq_line_options) */
	kvmhost_irq_line_set_fn set_level; /**< NULL: a line that goes nowhere (its level is still kept) */
	void *opaque;			   /**< passed to set_level */
	const char *name;		   /**< for messages; copied; may be NULL */
};

/**
 * Create a line driven by a callback.
 * @param opts options (NULL: an unconnected line)
 * @param out  receives the line; the level starts at 0
 * @return 0; -EINVAL, -E2BIG (options), -ENOMEM.
 */
KVMHOST_API int kvmhost_irq_line_create(const struct kvmhost_irq_line_options *opts, struct kvmhost_irq_line **out);

/**
 * Create a line that drives GSI @p gsi of @p vm through
 * kvmhost_vm_set_irq_line() (KVM_IRQ_LINE; needs an in-kernel irqchip by the
 * time the line first changes). The VM must outlive the line. The line is
 * not lowered when destroyed.
 * @param vm the VM
 * @param gsi the global system interrupt (GSI)
 * @param out receives the new interrupt line
 * @return 0; -EINVAL for a NULL @p vm or @p out; -ENOMEM.
 */
KVMHOST_API int kvmhost_irq_line_create_gsi(struct kvmhost_vm *vm, uint32_t gsi, struct kvmhost_irq_line **out);

/**
 * Create an edge-triggered line on an eventfd (normally one attached with
 * kvmhost_vm_add_irqfd() without a resample fd): each 0 -> 1 change signals
 * @p fd once; 1 -> 0 only records the level. The caller keeps owning @p fd
 * and closes it after destroying the line.
 * @param fd the eventfd; not owned
 * @param out receives the new interrupt line
 * @return 0; -EINVAL for a negative @p fd or NULL @p out; -ENOMEM.
 */
KVMHOST_API int kvmhost_irq_line_create_irqfd(int fd, struct kvmhost_irq_line **out);

/**
 * Destroy a line. NULL is ignored. No device may still use it.
 * @param line the interrupt line
 */
KVMHOST_API void kvmhost_irq_line_destroy(struct kvmhost_irq_line *line);

/**
 * Set the line's level. Passes a change on to the line's target; setting the
 * level it already has does nothing.
 * @param level 0 or 1
 * @param line the interrupt line
 * @return 0; -EINVAL for a NULL line or another level; the target's negative
 *         errno (the level is then unchanged).
 */
KVMHOST_API int kvmhost_irq_line_set(struct kvmhost_irq_line *line, int level);

/**
 * Return the line's current level (0 or 1), or -EINVAL for NULL.
 * @param line the interrupt line
 * @return the line's current level (0 or 1), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_irq_line_level(struct kvmhost_irq_line *line);

#ifdef __cplusplus
}
#endif

#endif
