/**
 * @file device_registry.h
 * @brief A registry of a machine's devices: one list of every device (the
 * library's and the embedder's), each with a stable id and a table of ops,
 * so that reset, pause/resume and save/restore of device state are one call
 * each for the whole machine.
 *
 * The machine layer owns one registry and registers its devices in it; an
 * embedder that assembles its own VMM may use one on its own. Each device
 * model offers a one-call adapter, kvmhost_<device>_register(dev, registry,
 * id) (kvmhost_uart_register(), kvmhost_virtio_device_register(), ...), and
 * a device of the embedder's own is added with kvmhost_device_registry_add()
 * and an ops table. The registry knows nothing of KVM or of the machine: it
 * calls ops and moves bytes.
 *
 * Order. reset, pause, save and restore visit the devices in registration
 * order, first to last; resume visits them last to first, so that resume
 * undoes pause like a stack (register a device after the ones it relies on).
 *
 * Saved state: a self-describing container of plain bytes, all integers
 * little-endian, with no padding and no pointers:
 *
 *     header (24 bytes)
 *       u32 magic          KVMHOST_DEVICE_STATE_MAGIC ("KHDV")
 *       u16 format         KVMHOST_DEVICE_STATE_FORMAT (1)
 *       u16 flags          0 (anything else is refused)
 *       u32 count          number of device records
 *       u64 total          bytes of the whole container, header included
 *       u32 header_crc     CRC-32 of the 20 bytes above
 *     count records, in registration order, each
 *       u16 id_len         1 to KVMHOST_DEVICE_ID_MAX
 *       u16 reserved       0
 *       u32 state_version  the device's state version when saved
 *       u32 data_len       bytes of device state, at most INT32_MAX
 *       id_len bytes       the id (printable ASCII 0x21-0x7e, no NUL)
 *       data_len bytes     what the device's save op wrote
 *       u32 record_crc     CRC-32 of the record from id_len to the data's end
 *
 * The CRC-32 is the IEEE 802.3 / zlib one (reflected polynomial
 * 0xedb88320, initial and final value 0xffffffff), so a file can be checked
 * with common tools. It is there to catch accidental damage (a truncated or
 * bit-flipped file, a broken transfer) and to say which device's record is
 * damaged; it is no protection against a hostile peer, who can recompute
 * it. That protection is the validation restore does: every length is
 * checked against the buffer before it is used, and each device's restore op
 * must check its own data as untrusted input.
 *
 * Restore checks the whole container first: the header (magic, format,
 * flags, CRC, total == the buffer's length), then every record (lengths
 * inside the buffer, the id well formed, the CRC), then the topology (every
 * registered id present exactly once, no id the registry lacks, no record
 * whose state version is newer than the registered device's, no state data
 * for a device without a restore op). Only when all of that holds are the
 * devices' restore ops called, in registration order.
 *
 * Threads: none of these calls locks. The caller serialises every call on
 * one registry (the machine layer calls it with its vCPUs paused), and an op
 * must not call back into the registry it was called from. Different
 * registries are independent.
 */
#ifndef KVMHOST_DEVICE_REGISTRY_H
#define KVMHOST_DEVICE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque registry. */
struct kvmhost_device_registry;

/** Longest device id, in bytes, without its NUL. */
#define KVMHOST_DEVICE_ID_MAX 64
/** Most devices one registry holds. */
#define KVMHOST_DEVICE_REGISTRY_MAX 4096
/** First four bytes of a saved container: "KHDV". */
#define KVMHOST_DEVICE_STATE_MAGIC 0x5644484bu
/** The container format this library writes and reads. */
#define KVMHOST_DEVICE_STATE_FORMAT 1
/** Bytes of the container header. */
#define KVMHOST_DEVICE_STATE_HEADER_SIZE 24
/** Bytes a record adds to its id and data. */
#define KVMHOST_DEVICE_STATE_RECORD_OVERHEAD 16

/**
 * What a device provides, normally a static const table. Size rules as
 * option structs (set size to sizeof; the registry copies the table). Every
 * op gets the opaque pointer given at kvmhost_device_registry_add(), returns
 * a negative errno on failure, and may set a last-error message (the
 * registry's own message then includes it). Any op may be NULL: nothing to
 * do.
 */
struct kvmhost_device_ops {
	size_t size; /**< sizeof(struct kvmhost_device_ops) */
	/** Back to the power-on state. 0 or negative errno. */
	int (*reset)(void *opaque);
	/** Stop: on return the device writes no guest memory and raises no
	 * interrupt until resume (requests in flight are completed first). */
	int (*pause)(void *opaque);
	/** Undo pause. */
	int (*resume)(void *opaque);
	/** Bytes save needs now (>= 0, at most INT32_MAX), or negative errno.
	 * NULL or 0: the device is stateless (save is then not called). */
	int (*state_size)(void *opaque);
	/** Write the device's state into @p buf (@p len bytes, as state_size
	 * said). Return the bytes written (0 to @p len) or negative errno. */
	int (*save)(void *opaque, void *buf, size_t len);
	/** Load a state save wrote, perhaps by another process on another host:
	 * untrusted input, so check everything, and on failure leave the
	 * device as it was where possible. Called with @p len 0 when the
	 * device saved nothing. 0 or negative errno. */
	int (*restore)(void *opaque, const void *buf, size_t len);
};

/**
 * Create an empty registry.
 * @param out receives the new device registry
 * @return 0; -EINVAL for NULL @p out; -ENOMEM.
 */
KVMHOST_API int kvmhost_device_registry_create(struct kvmhost_device_registry **out);

/** Destroy a registry. No op is called; the devices stay as they are.
 * NULL is ignored.
 * @param r the device registry
 */
KVMHOST_API void kvmhost_device_registry_destroy(struct kvmhost_device_registry *r);

/**
 * Register a device, after the ones already there.
 * @param id            1 to KVMHOST_DEVICE_ID_MAX printable ASCII characters
 *                      (0x21-0x7e: no spaces), unique in the registry, and
 *                      stable: the same device gets the same id on every run
 *                      and host, since restore matches records by it (e.g.
 *                      "com1", "virtio-blk@0xd0000000"); copied
 * @param state_version the version of the device's state format; restore
 *                      refuses a record of a newer version
 * @param ops           the device's ops (copied); must not be NULL
 * @param opaque        passed to every op; may be NULL
 * @param r the device registry
 * @return 0; -EINVAL (NULL @p r, @p id or @p ops, a bad id, an ops table
 *         whose size is smaller than its size field); -E2BIG (an ops table
 *         with ops this library does not know); -EEXIST (the id is taken);
 *         -EBUSY (the registry is paused: the new device would be resumed
 *         without having been paused); -ENOSPC (KVMHOST_DEVICE_REGISTRY_MAX
 *         devices); -ENOMEM.
 */
KVMHOST_API int kvmhost_device_registry_add(struct kvmhost_device_registry *r, const char *id, uint32_t state_version,
					    const struct kvmhost_device_ops *ops, void *opaque);

/**
 * Remove a device (no op is called: a device removed while paused stays
 * paused). The others keep their order.
 * @param r the device registry
 * @param id the id the device was added under
 * @return 0; -EINVAL for NULL; -ENOENT if no device has that id.
 */
KVMHOST_API int kvmhost_device_registry_remove(struct kvmhost_device_registry *r, const char *id);

/**
 * Return the number of devices, or -EINVAL for NULL.
 * @param r the device registry
 * @return the number of devices, or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_device_registry_count(struct kvmhost_device_registry *r);

/**
 * Describe the device at position @p index (0 is the first registered).
 * @param id      receives the id, NUL-terminated; may be NULL
 * @param id_len  bytes at @p id; KVMHOST_DEVICE_ID_MAX + 1 always suffices
 * @param state_version receives the registered state version; may be NULL
 * @param r the device registry
 * @param index the device's position, 0 to kvmhost_device_registry_count() - 1
 * @return 0; -EINVAL for NULL @p r; -ENOENT for an index past the end;
 *         -ERANGE if the id does not fit @p id_len.
 */
KVMHOST_API int kvmhost_device_registry_get(struct kvmhost_device_registry *r, unsigned index, char *id, size_t id_len,
					    uint32_t *state_version);

/**
 * Reset every device, in registration order. A failure does not stop the
 * others from being reset. The pause state does not change (a paused
 * registry stays paused).
 * @param r the device registry
 * @return 0; -EINVAL for NULL; else the first failing op's error, with a
 *         message naming the device.
 */
KVMHOST_API int kvmhost_device_registry_reset(struct kvmhost_device_registry *r);

/**
 * Pause every device, in registration order. If one fails, the devices
 * already paused are resumed (in reverse order) and the registry stays
 * running.
 * @param r the device registry
 * @return 0; -EINVAL for NULL; -EBUSY if already paused; else the failing
 *         pause op's error, with a message naming the device.
 */
KVMHOST_API int kvmhost_device_registry_pause(struct kvmhost_device_registry *r);

/**
 * Resume every device, in reverse registration order. A failure does not
 * stop the others from being resumed; the registry counts as running
 * afterwards either way (the failed device is in whatever state its op left).
 * @param r the device registry
 * @return 0; -EINVAL for NULL or a registry that is not paused; else the
 *         first failing op's error, with a message naming the device.
 */
KVMHOST_API int kvmhost_device_registry_resume(struct kvmhost_device_registry *r);

/**
 * Return 1 if the registry is paused, 0 if not, -EINVAL for NULL.
 * @param r the device registry
 * @return 1 if the registry is paused, 0 if not, -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_device_registry_is_paused(struct kvmhost_device_registry *r);

/**
 * Bytes kvmhost_device_registry_save() needs now: the header, each record's
 * overhead and id, and what each state_size op says.
 * @param r the device registry
 * @param size receives the bytes needed
 * @return 0; -EINVAL for NULL; -EOVERFLOW past SIZE_MAX; a state_size op's
 *         error, naming the device.
 */
KVMHOST_API int kvmhost_device_registry_save_size(struct kvmhost_device_registry *r, size_t *size);

/**
 * Save every device's state into @p buf as one container (see the file
 * comment), in registration order. Devices should be paused (or otherwise
 * quiescent) so that their state does not change under the save; the
 * registry does not insist, so that a machine that never ran can be saved
 * too.
 * @param used receives the bytes written (the container's total); may be
 *        NULL
 * @param r the device registry
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL @p r or @p buf, or a save op that said it
 *         wrote more than state_size; -ENOSPC if @p len is too small (the
 *         message says how much is needed); -EOVERFLOW; an op's error, naming
 *         the device. On failure @p buf holds no valid container.
 */
KVMHOST_API int kvmhost_device_registry_save(struct kvmhost_device_registry *r, void *buf, size_t len, size_t *used);

/**
 * Restore every device from a container kvmhost_device_registry_save()
 * wrote (here or elsewhere), after checking all of it (see the file
 * comment). Nothing is called when a check fails. If a device's restore op
 * then fails, the devices before it are restored, the failing one is in
 * whatever state its op left (the library's devices leave theirs untouched),
 * and the later ones are untouched: the machine is a mix of two states, and
 * the caller must reset the registry or destroy the machine.
 * @param r the device registry
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL or a container that is malformed, truncated,
 *         damaged (a CRC mismatch), of another format, with trailing bytes,
 *         a duplicate id, or state data for a device that has no restore op;
 *         -ENOENT if the container names a device the registry lacks, or
 *         lacks one the registry has; -EOPNOTSUPP for a record whose state
 *         version is newer than its device's; a restore op's error, naming
 *         the device. The message says what is wrong and where (record
 *         number, offset, id).
 */
KVMHOST_API int kvmhost_device_registry_restore(struct kvmhost_device_registry *r, const void *buf, size_t len);

/**
 * Called by kvmhost_device_registry_inspect() for each record, in order.
 * @p id is NUL-terminated and, like @p data, valid only during the call.
 * Return 0 to go on; anything else stops the walk and is returned.
 */
typedef int (*kvmhost_device_record_fn)(void *opaque, const char *id, uint32_t state_version, const void *data,
					size_t len);

/**
 * Check a container's format (header, lengths, ids, CRCs, no duplicates;
 * not whether any registry would accept it) and list its records, for tools
 * and tests. Nothing is called unless the whole container is well formed.
 * @param fn called per record; may be NULL (check only)
 * @param buf the bytes
 * @param len bytes at @p buf
 * @param opaque passed to @p fn
 * @return the number of records (>= 0); -EINVAL for NULL @p buf or a
 *         malformed container (the message says where); else what @p fn
 *         returned to stop the walk.
 */
KVMHOST_API int kvmhost_device_registry_inspect(const void *buf, size_t len, kvmhost_device_record_fn fn, void *opaque);

#ifdef __cplusplus
}
#endif

#endif
