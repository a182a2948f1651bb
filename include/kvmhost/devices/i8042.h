/**
 * @file i8042.h
 * @brief The PC's 8042 keyboard controller, reduced to what a guest needs to
 * probe it without hanging and to reboot through it. No keyboard or mouse
 * is attached: no scan codes, no interrupts.
 *
 * Ports: 0x64 (read: status; write: command) and 0x60 (data). Commands:
 *  - 0x20 read / 0x60 write the command byte (through port 0x60);
 *  - 0xaa controller self-test (answers 0x55), 0xab keyboard interface test
 *    (0x00), 0xa9 aux interface test (0x00);
 *  - 0xa7/0xa8 disable/enable aux, 0xad/0xae disable/enable keyboard (bits
 *    of the command byte);
 *  - 0xd0 read / 0xd1 write the output port; 0xd2/0xd3 echo the next data
 *    byte as keyboard/aux data;
 *  - 0xf0-0xff pulse output port bits low: any of them that pulses bit 0
 *    (0xfe among them), or 0xd1 with bit 0 clear, pulses the CPU reset line,
 *    which calls the embedder's reset callback.
 * Linux's `reboot` (reboot=kbd, or its default fallback chain on x86) writes
 * 0xfe to port 0x64 after waiting for the input buffer to drain, which here
 * is always empty. A Linux guest spends a few hundred milliseconds probing
 * for a keyboard and mouse that answer nothing; "i8042.noaux" (and
 * "i8042.nomux") on its command line skip most of that.
 *
 * Machine state: kvmhost_i8042_reset(), kvmhost_i8042_save()/_restore()
 * (status, command byte, output port, output buffer, a command waiting for
 * its data byte; the reset count is the host's and is kept), and
 * kvmhost_i8042_register() for a struct kvmhost_device_registry. No pause
 * is needed: the controller raises no interrupt and writes no memory.
 *
 * Thread safety: one lock per device; the reset callback runs without it.
 * kvmhost_i8042_destroy() must not race any other call on the device.
 */
#ifndef KVMHOST_DEVICES_I8042_H
#define KVMHOST_DEVICES_I8042_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_bus;
struct kvmhost_device_registry;

/** Opaque 8042 controller. */
struct kvmhost_i8042;

/** Data port. */
#define KVMHOST_I8042_DATA_PORT 0x60
/** Status (read) / command (write) port. */
#define KVMHOST_I8042_CMD_PORT 0x64
/** Version of the state kvmhost_i8042_save() writes (and the registry records). */
#define KVMHOST_I8042_STATE_VERSION 1

/**
 * The guest pulsed the CPU reset line. Runs in the vCPU thread, inside the
 * bus dispatch of its OUT (so it must not register or unregister ranges of
 * that bus), without the device's lock. A VMM typically records the request
 * and kicks its vCPUs; the guest keeps running until the VMM stops it.
 */
typedef void (*kvmhost_i8042_reset_fn)(void *opaque);

/** Options for kvmhost_i8042_create(); size rules as kvmhost_system_options. */
struct kvmhost_i8042_options {
	size_t size;		      /**< sizeof(struct kvmhost_i8042_options) */
	kvmhost_i8042_reset_fn reset; /**< called on a reset pulse; NULL: only counted */
	void *opaque;		      /**< passed to reset */
};

/**
 * Create a controller. @p opts may be NULL (no reset callback).
 * @param opts the options (struct kvmhost_i8042_options; size rules as every options struct)
 * @param out receives the new i8042 controller
 * @return 0; -EINVAL for a NULL @p out or bad options; -E2BIG for unknown option fields; -ENOMEM.
 */
KVMHOST_API int kvmhost_i8042_create(const struct kvmhost_i8042_options *opts, struct kvmhost_i8042 **out);

/**
 * Detach (if attached) and destroy. NULL is ignored.
 * @param i8042 the i8042 controller
 */
KVMHOST_API void kvmhost_i8042_destroy(struct kvmhost_i8042 *i8042);

/**
 * Claim ports 0x60 and 0x64 on @p bus (one byte each).
 * @param i8042 the i8042 controller
 * @param bus the bus
 * @return 0; -EINVAL for NULL; -EBUSY if already attached; -EEXIST if a
 *         port is taken (nothing stays claimed then).
 */
KVMHOST_API int kvmhost_i8042_attach(struct kvmhost_i8042 *i8042, struct kvmhost_bus *bus);

/**
 * Return how many reset pulses the guest has made so far, or -EINVAL for NULL.
 * @param i8042 the i8042 controller
 * @return how many reset pulses the guest has made so far, or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_i8042_reset_count(struct kvmhost_i8042 *i8042);

/**
 * Back to the power-on state kvmhost_i8042_create() gives (command byte
 * 0x45, output buffer empty, no command pending). The reset count is kept.
 * @param i8042 the i8042 controller
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_i8042_reset(struct kvmhost_i8042 *i8042);

/** Return the bytes kvmhost_i8042_save() writes (a constant per state
 * version), or -EINVAL for NULL.
 * @param i8042 the i8042 controller
 * @return the bytes kvmhost_i8042_save() writes (a constant per state version), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_i8042_state_size(struct kvmhost_i8042 *i8042);

/**
 * Save the controller's state: a fixed little-endian layout with a magic and
 * KVMHOST_I8042_STATE_VERSION (described in lib/devices/i8042.c).
 * @param i8042 the i8042 controller
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return the bytes written; -EINVAL for NULL; -ENOSPC if @p len is smaller.
 */
KVMHOST_API int kvmhost_i8042_save(struct kvmhost_i8042 *i8042, void *buf, size_t len);

/**
 * Load a state kvmhost_i8042_save() wrote, checking every field (status bits
 * the controller never shows, the reset line held, a pending command that
 * takes no data byte, reserved bytes).
 * @param i8042 the i8042 controller
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL or a bad blob (the controller is then untouched).
 */
KVMHOST_API int kvmhost_i8042_restore(struct kvmhost_i8042 *i8042, const void *buf, size_t len);

/**
 * Register the controller in @p registry as @p id, with state version
 * KVMHOST_I8042_STATE_VERSION and ops for reset, state_size, save and
 * restore (no pause or resume). Remove it before destroying it.
 * @param i8042 the i8042 controller
 * @param registry the device registry
 * @param id the id to register it under (unique in @p registry)
 * @return as kvmhost_device_registry_add(); -EINVAL for a NULL @p i8042.
 */
KVMHOST_API int kvmhost_i8042_register(struct kvmhost_i8042 *i8042, struct kvmhost_device_registry *registry,
				       const char *id);

#ifdef __cplusplus
}
#endif

#endif
