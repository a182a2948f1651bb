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
/** Minor format version this library writes (a newer minor is still read). 1: the lineage block of diff
 * snapshots (KVMHOST_MIGRATION_DIFF_TRACK); 2: memory sections checked by XXH64 instead of CRC-32 (header flag
 * bit 4); 1.0 and 1.1 streams read as before. */
#define KVMHOST_MIGRATION_FORMAT_MINOR 2

/** @name Flags (kvmhost_migration_options.flags) */
/** @{ */
/** snapshot: leave a machine that was running PAUSED afterwards (default: it runs on). */
#define KVMHOST_MIGRATION_LEAVE_PAUSED (1u << 0)
/** restore: the guest's clock (kvmclock) and TSC advance by the wall-clock time since the snapshot was taken,
 * as if the guest had run on (default: they go on from the values saved, so the guest sees no time pass). */
#define KVMHOST_MIGRATION_CLOCK_CATCH_UP (1u << 1)
/** snapshot: write every page's contents, zero pages included (default: zero pages are ranges without data). */
#define KVMHOST_MIGRATION_ALL_PAGES (1u << 2)
/** migrate_send: same-host hand-over. The guest's RAM (memfd-backed: KVMHOST_MACHINE_RAM_MEMFD, RAM_SHARED,
 * HUGETLB or FILE) is not copied: its fds go over the Unix socket with SCM_RIGHTS and the destination maps the
 * same memory; only the state is sent. migrate_receive accepts such a stream whatever its flags. */
#define KVMHOST_MIGRATION_SAME_HOST (1u << 3)
/** migrate_send: auto-converge. When the guest dirties memory faster than it is sent for
 * @c throttle_after passes in a row, the vCPUs are throttled (parked for a share of every 50 ms, the devices
 * running on), from @c throttle_initial percent, @c throttle_increment more after each further such pass, up to
 * @c throttle_max. Without it such a migration gives up after @c max_iterations passes. */
#define KVMHOST_MIGRATION_AUTO_CONVERGE (1u << 4)
/** migrate_send: verify the pre-copy (a debugging aid, docs/migration.md). The source keeps a 64-bit hash of every
 * page as it was last sent; paused, after the last pass and the state, it hashes every page again and, when any
 * differs from what was sent (a write that neither KVM's dirty log nor the VMM's bitmap reported), fails the
 * migration with -EIO before the hand-over (the source runs on), logging the first such pages' addresses
 * (KVMHOST_LOG_ERROR). Costs 9 bytes per page and one hash of the RAM while paused. Not with SAME_HOST. */
#define KVMHOST_MIGRATION_VERIFY (1u << 5)
/** snapshot: diff tracking. After this snapshot (full, or a diff with KVMHOST_MIGRATION_DIFF) the machine keeps
 * KVM's dirty log on, and the VMM's own dirty bitmap counted, so that the next snapshot may be a diff of this one.
 * The snapshot carries a random id and its place in the chain (format 1.1). A snapshot without this flag ends the
 * tracking once it is written (dirty logging goes off again where tracking turned it on); so does
 * kvmhost_machine_diff_tracking_stop(). A full snapshot with it starts a new chain. */
#define KVMHOST_MIGRATION_DIFF_TRACK (1u << 6)
/** snapshot: write a diff snapshot: only the pages dirtied (by the guest: KVM's log; by the VMM: its bitmap) since
 * the machine's last snapshot, which must have been taken with KVMHOST_MIGRATION_DIFF_TRACK, and the whole state.
 * Its header names that snapshot and the chain's base; restore it on top of them with
 * kvmhost_machine_restore_chain(). Without a tracked snapshot before it, -ENOENT. */
#define KVMHOST_MIGRATION_DIFF (1u << 7)
/** @} */

/** Defaults of the live-migration options (a field left 0 takes them). */
#define KVMHOST_MIGRATION_DEFAULT_DOWNTIME_MS	 50u
#define KVMHOST_MIGRATION_DEFAULT_MAX_ITERATIONS 30u	/**< max_iterations when 0 */
#define KVMHOST_MIGRATION_DEFAULT_TIMEOUT_MS	 10000u /**< timeout_ms when 0 */
#define KVMHOST_MIGRATION_DEFAULT_THROTTLE_INIT	 20u	/**< throttle_initial when 0 (percent) */
#define KVMHOST_MIGRATION_DEFAULT_THROTTLE_STEP	 10u	/**< throttle_increment when 0 (percent) */
#define KVMHOST_MIGRATION_DEFAULT_THROTTLE_MAX	 90u	/**< throttle_max when 0 (percent) */
#define KVMHOST_MIGRATION_DEFAULT_THROTTLE_AFTER 2u	/**< throttle_after when 0 (passes) */

/** Where a live migration is (kvmhost_migration_progress.phase). */
enum kvmhost_migration_phase {
	KVMHOST_MIGRATION_PHASE_SETUP = 1,    /**< header and shape sent, dirty logging on, the destination accepted */
	KVMHOST_MIGRATION_PHASE_PRECOPY = 2,  /**< a pass of memory was sent while the guest runs */
	KVMHOST_MIGRATION_PHASE_STOPCOPY = 3, /**< the source is paused: last pass and state */
	KVMHOST_MIGRATION_PHASE_HANDOVER = 4, /**< committed: waiting for the destination to confirm it runs */
	KVMHOST_MIGRATION_PHASE_DONE = 5,     /**< the destination runs; the source is stopped */
};

/** What a progress callback is told, after each pass. Size rules as stats (the library sets @c size). */
struct kvmhost_migration_progress {
	size_t size;		       /**< sizeof(struct kvmhost_migration_progress) as the library knows it */
	uint32_t phase;		       /**< enum kvmhost_migration_phase */
	uint32_t iteration;	       /**< passes of memory sent so far (1: the first, whole pass) */
	uint32_t throttle_percent;     /**< the vCPUs' share of time parked now (auto-converge); 0: none */
	uint32_t reserved;	       /**< 0 */
	uint64_t bytes_sent;	       /**< stream bytes written so far */
	uint64_t dirty_pages;	       /**< pages dirty at the last harvest (what the next pass sends) */
	uint64_t dirty_rate;	       /**< bytes per second the guest and devices dirtied during the last pass */
	uint64_t bandwidth;	       /**< bytes per second the last pass was sent at */
	uint64_t expected_downtime_us; /**< (dirty bytes + state size) / bandwidth */
	uint64_t elapsed_us;	       /**< since the call started */
};

/** Progress callback: called in the migrating thread, with no machine lock held. It may call
 * kvmhost_machine_migrate_cancel(); no other call on the machine. */
typedef void (*kvmhost_migration_progress_fn)(void *opaque, const struct kvmhost_migration_progress *progress);

/** Options of the migration calls. Size rules as every options struct: an older caller's smaller struct reads the
 * live-migration fields as 0 (their defaults); snapshot and restore ignore those fields. */
struct kvmhost_migration_options {
	size_t size;	/**< sizeof(struct kvmhost_migration_options) */
	uint32_t flags; /**< KVMHOST_MIGRATION_* */
	/** migrate_send: the pause the guest may see (ms): pre-copy goes on until the estimate is below it;
	 * 0: KVMHOST_MIGRATION_DEFAULT_DOWNTIME_MS. */
	uint32_t downtime_limit_ms;
	/** migrate_send: bytes per second while the guest runs (the last pass, paused, is not limited); 0: none. */
	uint64_t max_bandwidth;
	/** migrate_send: passes of memory before giving up (the source runs on); 0: the default (30). */
	uint32_t max_iterations;
	/** Both ends: the longest wait for the peer (a message, or a write making progress), ms; 0: 10000. */
	uint32_t timeout_ms;
	/** AUTO_CONVERGE: first throttle, percent (0: 20); increment (0: 10); most (0: 90, at most 99). */
	uint32_t throttle_initial, throttle_increment, throttle_max; /**< @c throttle_max: the most, percent */
	/** @var kvmhost_migration_options::throttle_increment
	 * AUTO_CONVERGE: percent more throttle after each further pass (0: 10). */
	/** AUTO_CONVERGE: passes in a row dirtying faster than sending before throttling (0: 2). */
	uint32_t throttle_after;
	kvmhost_migration_progress_fn progress; /**< migrate_send: NULL: none */
	void *progress_opaque;			/**< passed to @c progress */
};

/** Passes whose page counts kvmhost_migration_stats.pass_pages keeps (the first ones). */
#define KVMHOST_MIGRATION_STATS_PASSES 16u

/** What a snapshot wrote or a restore read; for live migration, what happened. Output struct (size first, set
 * by the caller; the library writes at most that many bytes). */
struct kvmhost_migration_stats {
	size_t size;	     /**< set by the caller: sizeof(struct kvmhost_migration_stats) */
	uint64_t bytes;	     /**< bytes of the stream */
	uint64_t data_pages; /**< pages sent with their contents */
	uint64_t zero_pages; /**< pages sent as zero ranges */
	uint32_t sections;   /**< sections, the end marker included */
	uint32_t vcpus;	     /**< vCPU sections */
	/* Live migration (zero for snapshot and restore): */
	uint32_t passes;	       /**< passes of memory, the last (paused) one included */
	uint32_t throttle_percent;     /**< the highest throttle applied (auto-converge); 0: none */
	uint64_t total_us;	       /**< the whole call */
	uint64_t downtime_us;	       /**< send: from the pause to the destination's confirmation as the source
					*   sees it; receive: from the first state section to the machine running */
	uint64_t expected_downtime_us; /**< send: the estimate when it decided to stop and copy */
	uint64_t state_bytes;	       /**< stream bytes of the state (VM section to end marker) */
	uint64_t last_pass_pages;      /**< pages sent while paused */
	uint64_t dirty_rate;	       /**< send: bytes per second dirtied during the last pre-copy pass */
	uint64_t bandwidth;	       /**< send: bytes per second of the last pre-copy pass */
	uint64_t log_start_us;	       /**< send: the time to turn dirty logging on, every RAM region */
	uint64_t pass_pages[KVMHOST_MIGRATION_STATS_PASSES]; /**< pages sent by each of the first passes */
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
 * @param machine the machine
 * @param fd where the snapshot is written (a file, a pipe, a socket)
 * @return 0; -EINVAL (NULL, a STOPPED machine, bad options); -E2BIG
 *         (unknown option fields); -EDEADLK (a machine thread); the pause's
 *         errors; a state ioctl's error (the message names the vCPU and
 *         the state); write's error (the message says what was being
 *         written); -ENOENT (KVMHOST_MIGRATION_DIFF without a tracked
 *         snapshot before it); -ESTALE (a diff after a live migration took
 *         the dirty logs). The machine is resumed on failure too when this
 *         call paused it. KVMHOST_MIGRATION_DIFF_TRACK and
 *         KVMHOST_MIGRATION_DIFF: docs/migration.md "Diff snapshots".
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
 * @param opts  NULL: defaults (no flags: the guest clock goes on from the saved values, no catch-up)
 * @param stats may be NULL
 * @param machine the machine
 * @param fd where the snapshot is read from
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

/**
 * Restore a chain of snapshots into @p machine (as kvmhost_machine_restore(),
 * same machine rules): @p fds[0] is a full snapshot, each later one a diff
 * snapshot (KVMHOST_MIGRATION_DIFF) taken right after the one before it, so
 * fds[0..n-1] gives the machine as it was at the last one. Each stream is read
 * whole in turn: its memory written over what the ones before wrote, its state
 * decoded and checked; only the last stream's state is applied. Before any of
 * its memory is written, each diff's header must name the snapshot before it
 * as its parent and the chain's base as its base: a diff of another base, one
 * out of order (a generation skipped or repeated), a diff first, a full snapshot
 * after the first, or a first snapshot taken without
 * KVMHOST_MIGRATION_DIFF_TRACK is refused with a message naming the ids and
 * generations. kvmhost_machine_restore() refuses a diff alone (-EOPNOTSUPP).
 * @param machine the machine (KVMHOST_MACHINE_INCOMING, never started)
 * @param fds   @p n file descriptors, base first, read in order
 * @param n     1 (a full snapshot alone, as kvmhost_machine_restore()) to 4096
 * @param opts  NULL: defaults (no flags: the guest clock goes on from the saved values, no catch-up)
 * @param stats may be NULL: the chain's bytes, pages and sections together
 * @return 0 (the machine CREATED, holding the last snapshot's guest);
 *         kvmhost_machine_restore()'s errors, the message saying which of
 *         the @p n streams; -EINVAL also for a broken chain (above). On any
 *         failure the machine is STOPPED (reason HOST_ERROR).
 */
KVMHOST_API int kvmhost_machine_restore_chain(struct kvmhost_machine *machine, const int *fds, uint32_t n,
					      const struct kvmhost_migration_options *opts,
					      struct kvmhost_migration_stats *stats);

/**
 * End diff tracking on @p machine (KVMHOST_MIGRATION_DIFF_TRACK): dirty
 * logging goes off on the RAM regions the tracking turned it on, and a later
 * KVMHOST_MIGRATION_DIFF snapshot is refused until a tracked full snapshot.
 * The snapshots already written are not affected. Not while a snapshot of
 * the machine is being written.
 * @param machine the machine
 * @return 1 (tracking was on and is off now); 0 (it was off); -EINVAL (NULL)
 */
KVMHOST_API int kvmhost_machine_diff_tracking_stop(struct kvmhost_machine *machine);

/**
 * Live migration, the source side: send the running @p machine to the
 * process at the other end of @p fd, a connected stream socket (a Unix socket
 * for KVMHOST_MIGRATION_SAME_HOST), while the guest runs on; on success the
 * destination runs the guest and this machine is STOPPED (reason
 * KVMHOST_MACHINE_STOP_MIGRATED). docs/migration.md has the protocol.
 *
 * Pre-copy: dirty logging is turned on for every RAM region, the whole of
 * RAM is sent, then every pass sends what KVM's dirty log (fetched and
 * cleared before the pages are read) and the VMM's own bitmap (device
 * writes) marked, until the dirty pages and the state can be sent within
 * @c downtime_limit_ms at the bandwidth the last pass measured (each pass
 * counted until the socket holds at most 64 KiB the destination has not
 * taken), and one more pass would not help: the expected stop is within a
 * tenth of the limit, or the last pass did not halve the dirty pages. Then the
 * machine pauses (quiet: the devices stop writing), the last dirty pages,
 * the VM, vCPU and device state and the end marker are sent, and the
 * destination loads them and says it is ready. The commit point is this
 * call's GO message: before it, any failure (the destination refuses or
 * dies, the connection breaks, a timeout, kvmhost_machine_migrate_cancel())
 * leaves the machine as it was (running, or paused if it was paused) and
 * a later attempt sends everything again. After GO the machine stays paused
 * until the destination confirms it runs, then stops; if no confirmation
 * comes (the connection breaks, the timeout passes) the machine stays PAUSED
 * and the call fails with -EHOSTDOWN: the guest may be running there, so only
 * the caller, knowing the destination is gone, may resume it. A destination
 * that reports failure after GO never ran the guest: the machine is resumed
 * (copy; -ECONNABORTED) or, same-host, left paused (-ECONNABORTED too: the
 * memory is shared, say so in the message).
 *
 * A TCP socket gets TCP_NODELAY (both ends), as the protocol's small
 * messages would otherwise wait for delayed ACKs inside the downtime.
 * A machine PAUSED at the call is sent in one pass and stays paused on
 * failure. Dirty logging is turned off afterwards on the regions this call
 * turned it on. Call it from a thread that is not the machine's own, one
 * migration per machine at a time, and do not pause, resume or stop the
 * machine from elsewhere meanwhile.
 * @param opts  NULL: defaults
 * @param stats may be NULL; filled on failure too
 * @param machine the machine
 * @param fd a connected stream socket to the destination
 * @return 0; -EINVAL (NULL, CREATED or STOPPED machine, bad options); -E2BIG;
 *         -ENOTSOCK (@p fd is not a socket); -EDEADLK; -EBUSY (a migration of
 *         this machine is under way); -ETIMEDOUT (no convergence within
 *         @c max_iterations passes, or the peer silent for @c timeout_ms);
 *         -ECANCELED (kvmhost_machine_migrate_cancel()); -ECONNREFUSED (the
 *         destination refused the stream: its reason is in the message);
 *         -EPIPE/-ECONNRESET/-ENODATA (the connection broke before GO);
 *         -EHOSTDOWN, -ECONNABORTED (after GO, above); the pause's, the state
 *         ioctls' errors. The message says what and when.
 */
KVMHOST_API int kvmhost_machine_migrate_send(struct kvmhost_machine *machine, int fd,
					     const struct kvmhost_migration_options *opts,
					     struct kvmhost_migration_stats *stats);

/**
 * Live migration, the destination side: read a live stream from @p fd, a
 * connected stream socket, into @p machine, created with
 * KVMHOST_MACHINE_INCOMING from the source's shape and never started (as
 * kvmhost_machine_restore()). Memory passes are written as they come (or,
 * same-host, the source's RAM fds replace this machine's RAM); the state is
 * decoded as it arrives and applied after the end marker; then this call
 * tells the source it is ready, waits for its GO, starts the machine and
 * confirms. On success the machine is RUNNING the guest. Without GO (the
 * connection breaks, the timeout passes, the source aborts) or on any
 * failure before it, the source is told why where the socket still works,
 * and the machine is STOPPED (reason HOST_ERROR), never having run.
 * A plain snapshot stream (no live flag) is restored and started without
 * the messages.
 * @param opts  NULL: defaults (no flags, so no clock catch-up; the default timeout_ms)
 * @param stats may be NULL
 * @param machine the machine
 * @param fd a connected stream socket from the source
 * @return 0; kvmhost_machine_restore()'s errors; -ENOTSOCK; -EBUSY (a
 *         migration of this machine is under way); -ECANCELED (the source
 *         aborted, or kvmhost_machine_migrate_cancel() here); -ETIMEDOUT;
 *         the start's error.
 */
KVMHOST_API int kvmhost_machine_migrate_receive(struct kvmhost_machine *machine, int fd,
						const struct kvmhost_migration_options *opts,
						struct kvmhost_migration_stats *stats);

/**
 * Cancel the migration of @p machine under way in another thread
 * (kvmhost_machine_migrate_send() or _receive()): it stops at its next step
 * (a blocked read or write wakes up), tells the peer, and returns
 * -ECANCELED with the machine as it was before. Any thread, the progress
 * callback included; not a signal handler.
 * @param machine the machine
 * @return 0 (asked); -EINVAL for NULL; -ENOENT (no migration of it under
 *         way); -EBUSY (past the commit point: too late, it finishes).
 */
KVMHOST_API int kvmhost_machine_migrate_cancel(struct kvmhost_machine *machine);

#ifdef __cplusplus
}
#endif

#endif
