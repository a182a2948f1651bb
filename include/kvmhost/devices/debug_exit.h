/**
 * @file debug_exit.h
 * @brief A test-harness port in the style of QEMU's isa-debug-exit: the
 * guest writes a value v and asks the VMM to stop with exit status
 * (v << 1) | 1 (so a guest can never ask for status 0).
 *
 * The device only reports the request, through a callback and a state the
 * VMM can poll; stopping the VM and choosing the process's exit code are the
 * VMM's business (a status wider than 8 bits is reported whole: truncating
 * it is the exit code's business too). Any write inside the port range
 * counts, with the value of that write's bytes (little-endian); reads
 * return 0.
 *
 * Machine state: none to save. The recorded request is a message to the
 * VMM, not state the guest can read back, so kvmhost_debug_exit_state_size()
 * is 0; kvmhost_debug_exit_reset() forgets a request, and
 * kvmhost_debug_exit_register() puts the device in a struct
 * kvmhost_device_registry.
 *
 * Thread safety: one lock per device; the callback runs without it.
 * kvmhost_debug_exit_destroy() must not race any other call on the device.
 */
#ifndef KVMHOST_DEVICES_DEBUG_EXIT_H
#define KVMHOST_DEVICES_DEBUG_EXIT_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_bus;
struct kvmhost_device_registry;

/** Opaque debug-exit device. */
struct kvmhost_debug_exit;

/** Port used when none is chosen (the one QEMU test setups commonly use). */
#define KVMHOST_DEBUG_EXIT_DEFAULT_PORT 0xf4
/** Version of the (empty) state, as the registry records it. */
#define KVMHOST_DEBUG_EXIT_STATE_VERSION 1

/**
 * The guest asked to stop with @p status = (v << 1) | 1. Runs in the vCPU
 * thread inside the bus dispatch of its OUT (it must not register or
 * unregister ranges of that bus); typically records the status and kicks
 * the vCPUs.
 */
typedef void (*kvmhost_debug_exit_fn)(void *opaque, uint64_t status);

/** Options for kvmhost_debug_exit_create(); size rules as kvmhost_system_options. */
struct kvmhost_debug_exit_options {
	size_t size;		       /**< sizeof(struct kvmhost_debug_exit_options) */
	uint32_t width;		       /**< ports claimed and widest write: 1, 2 or 4; 0 means 1 */
	kvmhost_debug_exit_fn on_exit; /**< called on each request; may be NULL (poll instead) */
	void *opaque;		       /**< passed to on_exit */
};

/**
 * Create a debug-exit device.
 * @param opts the options (struct kvmhost_debug_exit_options; size rules as every options struct)
 * @param out receives the new debug-exit device
 * @return 0; -EINVAL for a width other than 0, 1, 2, 4; -E2BIG; -ENOMEM.
 */
KVMHOST_API int kvmhost_debug_exit_create(const struct kvmhost_debug_exit_options *opts,
					  struct kvmhost_debug_exit **out);

/**
 * Detach (if attached) and destroy. NULL is ignored.
 * @param dev the debug-exit device
 */
KVMHOST_API void kvmhost_debug_exit_destroy(struct kvmhost_debug_exit *dev);

/**
 * Claim ports @p port to @p port + width - 1 on @p bus.
 * @param dev the debug-exit device
 * @param bus the bus
 * @param port the first port
 * @return 0; -EINVAL for NULL or a range past port 0xffff; -EBUSY if already
 *         attached; -EEXIST if taken.
 */
KVMHOST_API int kvmhost_debug_exit_attach(struct kvmhost_debug_exit *dev, struct kvmhost_bus *bus, uint64_t port);

/**
 * Poll for a request.
 * @param status receives the latest request's status when there was one (may be NULL)
 * @param dev the debug-exit device
 * @return 1 if the guest has asked to exit, 0 if not; -EINVAL for NULL @p dev.
 */
KVMHOST_API int kvmhost_debug_exit_requested(struct kvmhost_debug_exit *dev, uint64_t *status);

/**
 * Forget a request: kvmhost_debug_exit_requested() reads 0 again.
 * @param dev the debug-exit device
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_debug_exit_reset(struct kvmhost_debug_exit *dev);

/**
 * Return 0 (the device is stateless), or -EINVAL for NULL.
 * @param dev the debug-exit device
 * @return 0 (the device is stateless), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_debug_exit_state_size(struct kvmhost_debug_exit *dev);

/**
 * Save nothing (@p buf may be NULL). @return 0 bytes written; -EINVAL for NULL @p dev.
 * @param dev the debug-exit device
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 */
KVMHOST_API int kvmhost_debug_exit_save(struct kvmhost_debug_exit *dev, void *buf, size_t len);

/**
 * Accept an empty state. @return 0; -EINVAL for NULL @p dev or @p len other than 0.
 * @param dev the debug-exit device
 * @param buf the bytes
 * @param len bytes at @p buf
 */
KVMHOST_API int kvmhost_debug_exit_restore(struct kvmhost_debug_exit *dev, const void *buf, size_t len);

/**
 * Register the device in @p registry as @p id, with state version
 * KVMHOST_DEBUG_EXIT_STATE_VERSION and ops for reset and restore (it saves
 * no data; restore refuses a record that has some). Remove it before
 * destroying it.
 * @param dev the debug-exit device
 * @param registry the device registry
 * @param id the id to register it under (unique in @p registry)
 * @return as kvmhost_device_registry_add(); -EINVAL for a NULL @p dev.
 */
KVMHOST_API int kvmhost_debug_exit_register(struct kvmhost_debug_exit *dev, struct kvmhost_device_registry *registry,
					    const char *id);

#ifdef __cplusplus
}
#endif

#endif
