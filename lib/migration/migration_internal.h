/*
 * What snapshot.c (snapshot and restore) shares with live.c (live migration, the back channel): the machine's
 * RAM ranges, the options and stats, the state after the memory, and the restore of a whole stream with the
 * hooks the live protocol needs.
 */
#ifndef KVMHOST_MIGRATION_INTERNAL_H
#define KVMHOST_MIGRATION_INTERNAL_H

#include <kvmhost/migration.h>

#include "stream.h"

struct kh_mig_ranges {
	struct kh_mig_range r[KH_MIG_MAX_RAM_RANGES];
	uint32_t n;
};

int kh_mig_get_ranges(struct kvmhost_machine *m, struct kh_mig_ranges *rs);
/* Copy the caller's options (size rules) and refuse flags outside @known. */
int kh_mig_load_options(struct kvmhost_migration_options *o, const struct kvmhost_migration_options *opts,
			uint32_t known, const char *func);
/* Fill the caller's stats: @live's fields (may be NULL), then the stream's bytes and counts. */
void kh_mig_fill_stats(struct kvmhost_migration_stats *stats, const struct kh_mig_io *io, const struct kh_mig_counts *c,
		       const struct kvmhost_migration_stats *live);
/* The state after the memory: VM, every vCPU, the devices, the end marker (the machine paused or created). */
int kh_mig_write_state(struct kvmhost_machine *m, struct kh_mig_io *io, struct kh_mig_counts *c);

/* An incoming machine that never ran (-EINVAL otherwise, the message naming @func). */
int kh_mig_check_incoming(struct kvmhost_machine *m, int fd, const char *func);
struct kh_mig_hooks {
	uint32_t accept_flags;				   /* KH_MIG_FLAG_* the reader takes */
	int (*after_config)(void *opaque, uint32_t flags); /* may be NULL */
	void *opaque;
	/* A chain of streams (snapshot_diff.c; may be NULL): once a stream is read whole, 1 and the next one's io, or
	 * 0 (the end) or -errno. The state of every stream but the last is decoded, checked and dropped. */
	int (*next_stream)(void *opaque, struct kh_mig_io **io);
	struct kh_mig_lineage *lineage; /* each stream's header lineage goes here (may be NULL) */
};
/* Read a whole stream into @m and apply it (restore's steps); on failure @m is STOPPED (HOST_ERROR). @state_ns and
 * @state_offset (may be NULL): when and at which offset the VM section came (0: it did not). */
int kh_mig_restore_stream(struct kvmhost_machine *m, struct kh_mig_io *io, uint32_t flags,
			  const struct kh_mig_hooks *hooks, struct kh_mig_counts *c, uint64_t *state_ns,
			  uint64_t *state_offset);

/* snapshot_diff.c: diff snapshots. check: may @m write a diff now (-ENOENT, -ESTALE)? write: the stream of a
 * snapshot with the DIFF flags or while tracking is on (the machine paused or created). invalidate: someone
 * else consumed the dirty logs (a live migration): the next diff is refused until a tracked full snapshot. */
int kh_mig_diff_check(struct kvmhost_machine *m);
int kh_mig_diff_write(struct kvmhost_machine *m, struct kh_mig_io *io, struct kh_mig_counts *c, uint32_t flags);
void kh_mig_diff_invalidate(struct kvmhost_machine *m, const char *why);

#endif
