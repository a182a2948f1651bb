/**
 * @file migration.h
 * @brief Snapshot and restore of a whole machine (machine.h) through a
 * versioned, self-describing stream over any file descriptor: a file, a
 * pipe, a Unix or TCP socket. docs/migration.md has the format byte by byte.
 *
 * A stream is a header (magic, format version, architecture, library
 * version, the CPU features the guest uses) and checksummed sections in a
 * fixed order: the machine's shape (vCPUs, RAM ranges), its memory as page
 * ranges (zero pages as ranges without data), the VM state (x86: PIC,
 * IOAPIC, PIT, kvmclock), every vCPU's state, the device registry's
 * container, the state of virtio devices outside the registry, and an end
 * marker with counts.
 *
 * A stream is untrusted input: restore bounds every length, never writes
 * outside the guest's RAM, and refuses, with a message saying what and
 * where, an unknown major version, another architecture, CPU features the
 * destination's KVM lacks, a damaged section (CRC-32), a truncated stream, a
 * section out of order, RAM ranges or a vCPU count other than the
 * destination machine's, and state KVM or a device refuses. A failed restore
 * leaves the machine STOPPED (it can only be destroyed), never running
 * half-restored.
 *
 * Threads: both calls block until the whole stream is written or read; call
 * them from a thread that is not the machine's own (-EDEADLK otherwise), and
 * not concurrently with start/pause/resume of the same machine.
 */
#ifndef KVMHOST_MIGRATION_H
#define KVMHOST_MIGRATION_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_machine;

/** First four bytes of a stream, "KHMS", read as a little-endian u32. */
#define KVMHOST_MIGRATION_MAGIC 0x534d484bu
/** Major format version this library writes; a reader refuses another major. */
#define KVMHOST_MIGRATION_FORMAT_MAJOR 1
/** Minor format version this library writes (a newer minor is still read). */
#define KVMHOST_MIGRATION_FORMAT_MINOR 0

/** @name Flags (kvmhost_migration_options.flags) @{ */
/** snapshot: leave a machine that was running PAUSED afterwards (default: it runs on). */
#define KVMHOST_MIGRATION_LEAVE_PAUSED (1u << 0)
/** restore: the guest's clock (kvmclock) and TSC advance by the wall-clock time since the snapshot was taken,
 * as if the guest had run on (default: they go on from the values saved, so the guest sees no time pass). */
#define KVMHOST_MIGRATION_CLOCK_CATCH_UP (1u << 1)
/** snapshot: write every page's contents, zero pages included (default: zero pages are ranges without data). */
#define KVMHOST_MIGRATION_ALL_PAGES (1u << 2)
/** @} */

/** Options of kvmhost_machine_snapshot() and kvmhost_machine_restore(). Size rules as every options struct. */
struct kvmhost_migration_options {
	size_t size;	/**< sizeof(struct kvmhost_migration_options) */
	uint32_t flags; /**< KVMHOST_MIGRATION_* */
};

/** What a snapshot wrote or a restore read. Output struct (size first, set by the caller). */
struct kvmhost_migration_stats {
	size_t size;	     /**< set by the caller: sizeof(struct kvmhost_migration_stats) */
	uint64_t bytes;	     /**< bytes of the stream */
	uint64_t data_pages; /**< pages sent with their contents */
	uint64_t zero_pages; /**< pages sent as zero ranges */
	uint32_t sections;   /**< sections, the end marker included */
	uint32_t vcpus;	     /**< vCPU sections */
};

/**
 * Write a snapshot of @p machine to @p fd. A RUNNING machine is paused
 * first (quiet: machine.h) and resumed afterwards unless
 * KVMHOST_MIGRATION_LEAVE_PAUSED; a PAUSED or CREATED machine stays as it
 * is. Before a resume every vCPU's kvmclock is told it was stopped
 * (KVMCLOCK_CTRL). The kvmclock is read when the state is saved, after the
 * memory. Writes loop over short writes and EINTR; a reader gone away gives
 * -EPIPE (no SIGPIPE reaches the process).
 * @param opts  NULL: defaults
 * @param stats may be NULL
 * @return 0; -EINVAL (NULL, a STOPPED machine, bad options); -E2BIG
 *         (unknown option fields); -EDEADLK (a machine thread); the pause's
 *         errors; a state ioctl's error (the message names the vCPU and
 *         the state); write's error (the message says what was being
 *         written). The machine is resumed on failure too when this call
 *         paused it.
 */
KVMHOST_API int kvmhost_machine_snapshot(struct kvmhost_machine *machine, int fd,
					 const struct kvmhost_migration_options *opts,
					 struct kvmhost_migration_stats *stats);

/**
 * Restore a snapshot read from @p fd into @p machine, which must have been
 * created with KVMHOST_MACHINE_INCOMING from the same shape of options (vCPU
 * count, RAM size and layout, the same devices under the same ids) and never
 * started. The header and the machine's shape are checked before anything
 * is touched; memory is written as its sections arrive (each after its
 * CRC); the VM, vCPU and device state sections are decoded and checked as
 * they arrive and applied only once the end marker has been read: the
 * irqchip and PIT, each vCPU (in the order lib/arch/x86/migration_x86.c
 * documents), the devices, then the kvmclock, then KVMCLOCK_CTRL on every
 * vCPU. On success the machine is CREATED and holds the saved guest: start
 * it with kvmhost_machine_start(). Reads loop over short reads and EINTR; an
 * end of file before the end marker is an error naming what was being read.
 * @param opts  NULL: defaults (KVMHOST_MIGRATION_CLOCK_CATCH_UP applies)
 * @param stats may be NULL
 * @return 0; -EINVAL (NULL, not an incoming machine, not CREATED, a
 *         malformed stream, a shape other than this machine's); -EBADMSG (a
 *         CRC mismatch); -EPROTONOSUPPORT (another major format version);
 *         -ENOEXEC (another architecture); -EOPNOTSUPP (CPU features the
 *         destination lacks, named in the message; a newer section version);
 *         -ENODATA (the stream ends early); -EFBIG (a length past its
 *         bound); -ERANGE (memory outside the guest's RAM); read's error;
 *         KVM's or a device's error applying the state. On any failure the
 *         machine is STOPPED (reason HOST_ERROR) and can only be destroyed.
 */
KVMHOST_API int kvmhost_machine_restore(struct kvmhost_machine *machine, int fd,
					const struct kvmhost_migration_options *opts,
					struct kvmhost_migration_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
