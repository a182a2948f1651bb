/**
 * @file fw_cfg.h
 * @brief A minimal QEMU-compatible firmware configuration device (fw_cfg),
 * traditional port-I/O interface only (no DMA), at ports 0x510-0x511.
 *
 * The guest writes a 16-bit item key to the selector port (0x510), which
 * also rewinds the data offset, then reads the item a byte at a time from the
 * data port (0x511); every read advances the offset, and reads past the end
 * of the item, or of an unknown key, return 0. Writes to the data port are
 * ignored. Keys (bit 14, the write channel, is ignored; bit 15, the
 * architecture-local space, holds no items here):
 *  - 0x0000 FW_CFG_SIGNATURE: "QEMU";
 *  - 0x0001 FW_CFG_ID: 32-bit little-endian, bit 0 (traditional interface);
 *  - 0x0003 FW_CFG_RAM_SIZE: 64-bit little-endian;
 *  - 0x0005 FW_CFG_NB_CPUS: 16-bit little-endian;
 *  - 0x0019 FW_CFG_FILE_DIR: big-endian 32-bit count, then per file a
 *    big-endian 32-bit size, big-endian 16-bit key, 16 reserved bits and a
 *    56-byte NUL-padded name;
 *  - 0x0020 onwards: the files, in the order they were added.
 *
 * Machine state: kvmhost_fw_cfg_reset(), kvmhost_fw_cfg_save()/_restore()
 * (where the guest is reading: selector and offset; the items themselves
 * are configuration, which the restoring side must have set up the same)
 * and kvmhost_fw_cfg_register() for a struct kvmhost_device_registry.
 *
 * Thread safety: one lock per device; files may be added while the guest
 * reads (its directory then changes under it, as with QEMU's hotplug
 * files). kvmhost_fw_cfg_destroy() must not race any other call.
 */
#ifndef KVMHOST_DEVICES_FW_CFG_H
#define KVMHOST_DEVICES_FW_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_bus;
struct kvmhost_device_registry;

/** Opaque fw_cfg device. */
struct kvmhost_fw_cfg;

/** Selector port; the data port follows it. */
#define KVMHOST_FW_CFG_PORT 0x510

#define KVMHOST_FW_CFG_SIGNATURE  0x0000 /**< "QEMU" */
#define KVMHOST_FW_CFG_ID	  0x0001 /**< interface feature bits */
#define KVMHOST_FW_CFG_RAM_SIZE	  0x0003 /**< 64-bit RAM size */
#define KVMHOST_FW_CFG_NB_CPUS	  0x0005 /**< 16-bit number of CPUs */
#define KVMHOST_FW_CFG_FILE_DIR	  0x0019 /**< the file directory */
#define KVMHOST_FW_CFG_FILE_FIRST 0x0020 /**< key of the first file */
/** Longest file name, without its NUL. */
#define KVMHOST_FW_CFG_MAX_NAME 55
/** Most files: keys run up to 0x3fff. */
#define KVMHOST_FW_CFG_MAX_FILES (0x4000 - KVMHOST_FW_CFG_FILE_FIRST)
/** Version of the state kvmhost_fw_cfg_save() writes (and the registry records). */
#define KVMHOST_FW_CFG_STATE_VERSION 1

/** Options for kvmhost_fw_cfg_create(); size rules as kvmhost_system_options. */
struct kvmhost_fw_cfg_options {
	size_t size;	   /**< sizeof(struct kvmhost_fw_cfg_options) */
	uint16_t nb_cpus;  /**< FW_CFG_NB_CPUS; 0 means 1 */
	uint64_t ram_size; /**< FW_CFG_RAM_SIZE in bytes */
};

/**
 * Create a fw_cfg device with no files. @p opts may be NULL (1 CPU, RAM size 0).
 * @param opts the options (struct kvmhost_fw_cfg_options; size rules as every options struct)
 * @param out receives the new fw_cfg device
 * @return 0; -EINVAL for a NULL @p out or bad options; -E2BIG for unknown option fields; -ENOMEM.
 */
KVMHOST_API int kvmhost_fw_cfg_create(const struct kvmhost_fw_cfg_options *opts, struct kvmhost_fw_cfg **out);

/**
 * Detach (if attached) and destroy. NULL is ignored.
 * @param fw_cfg the fw_cfg device
 */
KVMHOST_API void kvmhost_fw_cfg_destroy(struct kvmhost_fw_cfg *fw_cfg);

/**
 * Claim ports 0x510 and 0x511 on @p bus.
 * @param fw_cfg the fw_cfg device
 * @param bus the bus
 * @return 0; -EINVAL for NULL; -EBUSY if already attached; -EEXIST if taken.
 */
KVMHOST_API int kvmhost_fw_cfg_attach(struct kvmhost_fw_cfg *fw_cfg, struct kvmhost_bus *bus);

/**
 * Add a file (a copy of @p data) under the next free key.
 * @param name 1 to KVMHOST_FW_CFG_MAX_NAME characters, e.g. "opt/org.example/config"
 * @param data may be NULL when @p len is 0
 * @param len  at most UINT32_MAX
 * @param fw_cfg the fw_cfg device
 * @return the file's key (0x0020 or more); -EINVAL for NULL arguments, an
 *         empty or too long name, or too much data; -EEXIST if a file has
 *         that name; -ENOSPC past KVMHOST_FW_CFG_MAX_FILES; -ENOMEM.
 */
KVMHOST_API int kvmhost_fw_cfg_add_file(struct kvmhost_fw_cfg *fw_cfg, const char *name, const void *data, size_t len);

/**
 * Back to the power-on state: selector 0 (the signature), offset 0. The
 * items are configuration and stay.
 * @param fw_cfg the fw_cfg device
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_fw_cfg_reset(struct kvmhost_fw_cfg *fw_cfg);

/** Return the bytes kvmhost_fw_cfg_save() writes (a constant per state
 * version), or -EINVAL for NULL.
 * @param fw_cfg the fw_cfg device
 * @return the bytes kvmhost_fw_cfg_save() writes (a constant per state version), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_fw_cfg_state_size(struct kvmhost_fw_cfg *fw_cfg);

/**
 * Save where the guest is reading: the selector, the offset into the
 * selected item and that item's length, in a fixed little-endian layout with
 * a magic and KVMHOST_FW_CFG_STATE_VERSION (described in lib/devices/fw_cfg.c).
 * @param fw_cfg the fw_cfg device
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return the bytes written; -EINVAL for NULL; -ENOSPC if @p len is smaller.
 */
KVMHOST_API int kvmhost_fw_cfg_save(struct kvmhost_fw_cfg *fw_cfg, void *buf, size_t len);

/**
 * Load a state kvmhost_fw_cfg_save() wrote. The offset must lie within the
 * selected item, and that item must have the same length on this device as
 * when saved (a guest halfway through a file must not go on in another).
 * @param fw_cfg the fw_cfg device
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL or a bad blob (the device is then untouched).
 */
KVMHOST_API int kvmhost_fw_cfg_restore(struct kvmhost_fw_cfg *fw_cfg, const void *buf, size_t len);

/**
 * Register the device in @p registry as @p id, with state version
 * KVMHOST_FW_CFG_STATE_VERSION and ops for reset, state_size, save and
 * restore (no pause or resume). Remove it before destroying it.
 * @param fw_cfg the fw_cfg device
 * @param registry the device registry
 * @param id the id to register it under (unique in @p registry)
 * @return as kvmhost_device_registry_add(); -EINVAL for a NULL @p fw_cfg.
 */
KVMHOST_API int kvmhost_fw_cfg_register(struct kvmhost_fw_cfg *fw_cfg, struct kvmhost_device_registry *registry,
					const char *id);

#ifdef __cplusplus
}
#endif

#endif
