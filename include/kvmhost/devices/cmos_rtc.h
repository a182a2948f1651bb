/**
 * @file cmos_rtc.h
 * @brief The PC's MC146818 real-time clock and its 128 bytes of CMOS RAM, at
 * ports 0x70 (index) and 0x71 (data).
 *
 * The clock reads the host's wall clock (UTC unless
 * KVMHOST_CMOS_RTC_LOCALTIME) plus an offset the guest sets by writing the
 * time registers: seconds, minutes, hours, day of week, day of month, month,
 * year and century (0x32), in BCD or binary and in 24- or 12-hour form as
 * register B says. Register A's update-in-progress bit is set during the
 * last 244 us of each host second, as on the real part, so the usual "wait
 * for UIP to clear, then read" loops work; with register B's SET bit the
 * clock is frozen while the guest writes it. Register D reads 0x80 (valid
 * RAM and time). No interrupts: register C reads 0 and the periodic, alarm
 * and update-ended interrupts never fire. Bit 7 of the index (the NMI mask on
 * a PC) is ignored.
 *
 * The other bytes are RAM the embedder may fill before the guest starts,
 * e.g. the memory size bytes a firmware reads (kvmhost_cmos_rtc_set_memory_size()).
 *
 * Machine state: kvmhost_cmos_rtc_reset() (what the part's RESET pin does:
 * the time and RAM survive), kvmhost_cmos_rtc_save()/_restore() (RAM,
 * registers A and B, the index, the clock) and kvmhost_cmos_rtc_register()
 * for a struct kvmhost_device_registry. The clock is saved as the guest's
 * offset from the host's wall clock, not as a time, so by default a restored
 * guest's clock reads what it would have read had the guest kept running:
 * continuous with host time, the time spent saved included (as QEMU's
 * default clock=host). KVMHOST_CMOS_RTC_RESTORE_PAUSED chooses the other
 * policy: the clock goes on from the time it read at the save.
 *
 * Thread safety: one lock per device. kvmhost_cmos_rtc_destroy() must not
 * race any other call on the device.
 */
#ifndef KVMHOST_DEVICES_CMOS_RTC_H
#define KVMHOST_DEVICES_CMOS_RTC_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_bus;
struct kvmhost_device_registry;

/** Opaque RTC. */
struct kvmhost_cmos_rtc;

/** Index port; the data port follows it. */
#define KVMHOST_CMOS_RTC_PORT 0x70
/** Bytes of CMOS (clock registers included). */
#define KVMHOST_CMOS_RTC_SIZE 128
/** Index of the century byte (the one ACPI's FADT usually names). */
#define KVMHOST_CMOS_RTC_CENTURY 0x32

/** Keep the clock in the host's local time zone instead of UTC. */
#define KVMHOST_CMOS_RTC_LOCALTIME (1u << 0)
/** On restore, go on from the time the clock read when saved, instead of
 * following the host's clock (the time spent saved is then lost to the
 * guest, whose clock runs behind the host's by that much). */
#define KVMHOST_CMOS_RTC_RESTORE_PAUSED (1u << 1)

/** Version of the state kvmhost_cmos_rtc_save() writes (and the registry records). */
#define KVMHOST_CMOS_RTC_STATE_VERSION 1

/** Options for kvmhost_cmos_rtc_create(); size rules as kvmhost_system_options. */
struct kvmhost_cmos_rtc_options {
	size_t size;	/**< sizeof(struct kvmhost_cmos_rtc_options) */
	uint32_t flags; /**< KVMHOST_CMOS_RTC_* */
};

/**
 * Create an RTC: 24-hour BCD mode (register B 0x02), register A 0x26, the
 * clock at host time, RAM zero.
 * @param opts the options (struct kvmhost_cmos_rtc_options; size rules as every options struct)
 * @param out receives the new RTC
 * @return 0; -EINVAL (unknown flags), -E2BIG, -ENOMEM.
 */
KVMHOST_API int kvmhost_cmos_rtc_create(const struct kvmhost_cmos_rtc_options *opts, struct kvmhost_cmos_rtc **out);

/**
 * Detach (if attached) and destroy. NULL is ignored.
 * @param rtc the RTC
 */
KVMHOST_API void kvmhost_cmos_rtc_destroy(struct kvmhost_cmos_rtc *rtc);

/**
 * Claim ports 0x70 and 0x71 on @p bus.
 * @param rtc the RTC
 * @param bus the bus
 * @return 0; -EINVAL for NULL; -EBUSY if already attached; -EEXIST if taken.
 */
KVMHOST_API int kvmhost_cmos_rtc_attach(struct kvmhost_cmos_rtc *rtc, struct kvmhost_bus *bus);

/**
 * Set a byte of CMOS RAM.
 * @param index 0x0e to 0x7f, except KVMHOST_CMOS_RTC_CENTURY (part of the clock)
 * @param rtc the RTC
 * @param value the byte's new value
 * @return 0; -EINVAL for NULL or an index that is not RAM.
 */
KVMHOST_API int kvmhost_cmos_rtc_set_byte(struct kvmhost_cmos_rtc *rtc, uint8_t index, uint8_t value);

/**
 * Read a byte as the guest would, clock registers included (no side effects).
 * @param index 0x00 to 0x7f
 * @param rtc the RTC
 * @return the byte (0 to 255); -EINVAL for NULL or an index past 0x7f.
 */
KVMHOST_API int kvmhost_cmos_rtc_get_byte(struct kvmhost_cmos_rtc *rtc, uint8_t index);

/**
 * Fill the memory size bytes a PC firmware reads, from the RAM below and
 * above 4 GiB: 0x15/0x16 base memory in KiB (at most 640), 0x17/0x18 and
 * 0x30/0x31 memory above 1 MiB in KiB (at most 65535), 0x34/0x35 memory above
 * 16 MiB in 64 KiB units (at most 65535), 0x5b-0x5d memory above 4 GiB in
 * 64 KiB units (24 bits; more is -ERANGE). All little-endian.
 * @param rtc the RTC
 * @param below_4g bytes of RAM below 4 GiB
 * @param above_4g bytes of RAM above 4 GiB
 * @return 0; -EINVAL for NULL or @p below_4g past 4 GiB; -ERANGE.
 */
KVMHOST_API int kvmhost_cmos_rtc_set_memory_size(struct kvmhost_cmos_rtc *rtc, uint64_t below_4g, uint64_t above_4g);

/**
 * Reset as the part's RESET pin does: register B's interrupt and square-wave
 * enables (PIE, AIE, UIE, SQWE) are cleared. The time, the data mode and
 * the RAM (memory-size bytes included) are battery-backed on a PC and
 * survive, as they survive a reboot there.
 * @param rtc the RTC
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_cmos_rtc_reset(struct kvmhost_cmos_rtc *rtc);

/** Return the bytes kvmhost_cmos_rtc_save() writes (a constant per state
 * version), or -EINVAL for NULL.
 * @param rtc the RTC
 * @return the bytes kvmhost_cmos_rtc_save() writes (a constant per state version), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_cmos_rtc_state_size(struct kvmhost_cmos_rtc *rtc);

/**
 * Save RAM, registers A and B, the index and the clock (the guest's offset
 * from host time, the host time now, and the time held while register B's
 * SET bit is on): a fixed little-endian layout with a magic and
 * KVMHOST_CMOS_RTC_STATE_VERSION (described in lib/devices/cmos_rtc.c).
 * @param rtc the RTC
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return the bytes written; -EINVAL for NULL; -ENOSPC if @p len is smaller.
 */
KVMHOST_API int kvmhost_cmos_rtc_save(struct kvmhost_cmos_rtc *rtc, void *buf, size_t len);

/**
 * Load a state kvmhost_cmos_rtc_save() wrote, checking every field (index
 * past 0x7f, bytes in the clock's own registers, UIP stored, an offset or
 * held time no guest could have set, reserved bytes). The clock then follows
 * the policy in the file comment.
 * @param rtc the RTC
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL or a bad blob (the RTC is then untouched).
 */
KVMHOST_API int kvmhost_cmos_rtc_restore(struct kvmhost_cmos_rtc *rtc, const void *buf, size_t len);

/**
 * Register the RTC in @p registry as @p id, with state version
 * KVMHOST_CMOS_RTC_STATE_VERSION and ops for reset, state_size, save and
 * restore (no pause or resume). Remove it before destroying it.
 * @param rtc the RTC
 * @param registry the device registry
 * @param id the id to register it under (unique in @p registry)
 * @return as kvmhost_device_registry_add(); -EINVAL for a NULL @p rtc.
 */
KVMHOST_API int kvmhost_cmos_rtc_register(struct kvmhost_cmos_rtc *rtc, struct kvmhost_device_registry *registry,
					  const char *id);

#ifdef __cplusplus
}
#endif

#endif
