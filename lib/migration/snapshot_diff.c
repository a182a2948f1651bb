/*
 * Diff (incremental) snapshots (include/kvmhost/migration.h, docs/migration.md "Diff snapshots"): the tracking
 * that keeps KVM's dirty log on between snapshots of a machine when its caller asks for it
 * (KVMHOST_MIGRATION_DIFF_TRACK), the snapshot that writes only the pages dirtied since the one before
 * (KVMHOST_MIGRATION_DIFF), and the restore of a base and its diffs in order, which checks before a page is
 * written that each diff names the snapshot before it and the same base.
 *
 * Dirty pages come from the two sources live migration uses (live.c): KVM's log, GET then CLEAR of exactly the
 * bits fetched (manual protect: the pages are write-protected again before they are read), and the VMM's own
 * bitmap (device writes, kvmhost_memory_write()). Both hand a dirty page over once, so what a harvest took is kept
 * ORed into the tracking's pending set until a diff has been written whole: a diff that fails leaves them for
 * the next one. The machine is paused (quiet) or has never run while a snapshot is written, so nothing is dirtied
 * between the harvest and the copy.
 *
 * Not here: the stream's structure (stream.c) and the state written after the memory (snapshot.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <kvmhost/memory.h>
#include <kvmhost/migration.h>
#include <kvmhost/vm.h>

#include "../core/internal.h"
#include "../machine/machine_internal.h"
#include "migration_arch.h"
#include "migration_internal.h"
#include "stream.h"

#define CHAIN_MAX 4096u /* streams in one restore_chain */

struct diff_region {
	struct kvmhost_memory_region *region;
	uint64_t *pending; /* dirtied since the last snapshot written whole, not yet in a diff */
	uint64_t *scratch; /* one fetch */
	size_t size;	   /* bytes of each bitmap */
	int we_enabled;	   /* dirty logging was off: the tracking turned it on, and turns it off at the end */
};

struct kh_mig_diff {
	struct kh_mig_ranges rs;
	struct diff_region g[KH_MIG_MAX_RAM_RANGES];
	struct kh_mig_lineage last; /* the last snapshot written whole */
	int have_base;		    /* last is one a diff may follow */
	const char *broken;	    /* why the logs no longer hold every page dirtied since then (NULL: they do) */
};

static void hex_id(char out[33], const uint8_t id[16])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static int new_id(uint8_t id[16])
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(id + got, 16 - got, 0);

		if (n < 0 && errno != EINTR)
			return KH_FAIL_ERRNO("getrandom() for a snapshot id failed");
		if (n > 0)
			got += (size_t)n;
	}
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* an RFC 9562 version 4 (random) UUID */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
	return 0;
}

static void free_tracking(struct kh_mig_diff *t)
{
	for (uint32_t i = 0; i < KH_MIG_MAX_RAM_RANGES; i++) {
		free(t->g[i].pending);
		free(t->g[i].scratch);
	}
	free(t);
}

void kh_mig_diff_free(struct kvmhost_machine *m)
{
	if (m->mig_diff)
		free_tracking(m->mig_diff);
	m->mig_diff = NULL;
}

struct collect {
	struct kh_mig_diff *t;
	uint32_t n;
};

static int collect_region(struct kvmhost_memory_region *region, void *opaque)
{
	struct collect *c = opaque;

	if (c->n == c->t->rs.n || c->t->rs.r[c->n].gpa != kvmhost_memory_region_gpa(region))
		return KH_FAIL(EINVAL, "the RAM regions changed under the snapshot (a region at 0x%llx)",
			       (unsigned long long)kvmhost_memory_region_gpa(region));
	c->t->g[c->n++].region = region;
	return 0;
}

/* Tracking on: dirty logging on every RAM region (those already logging are left as they are). */
static int start_tracking(struct kvmhost_machine *m, struct kh_mig_diff **out)
{
	struct kh_mig_diff *t = calloc(1, sizeof(*t));
	struct collect c = {.t = t};
	int r;

	if (!t)
		return KH_FAIL(ENOMEM, "cannot allocate the diff tracking");
	if ((r = kh_mig_get_ranges(m, &t->rs)) < 0 ||
	    (r = kvmhost_memory_for_each_region(kvmhost_machine_memory(m), collect_region, &c)) < 0)
		goto fail;
	for (uint32_t i = 0; i < t->rs.n; i++) {
		struct diff_region *g = &t->g[i];

		g->size = kvmhost_memory_region_bitmap_size(g->region);
		if (!(g->pending = calloc(1, g->size)) || !(g->scratch = calloc(1, g->size))) {
			r = KH_FAIL(ENOMEM, "cannot allocate %zu-byte dirty bitmaps", g->size);
			goto fail;
		}
		if (!(kvmhost_memory_region_flags(g->region) & KVMHOST_MEMORY_LOG_DIRTY)) {
			if ((r = kvmhost_vm_set_dirty_logging(m->vm, g->region, 1)) < 0)
				goto fail;
			g->we_enabled = 1;
		}
	}
	*out = t;
	return 0;
fail:
	for (uint32_t i = 0; i < t->rs.n; i++)
		if (t->g[i].we_enabled)
			kvmhost_vm_set_dirty_logging(m->vm, t->g[i].region, 0);
	free_tracking(t);
	return r;
}

static void stop_tracking(struct kvmhost_machine *m)
{
	struct kh_mig_diff *t = m->mig_diff;

	if (!t)
		return;
	for (uint32_t i = 0; i < t->rs.n; i++)
		if (t->g[i].we_enabled && kvmhost_machine_get_state(m) != KVMHOST_MACHINE_STOPPED)
			kvmhost_vm_set_dirty_logging(m->vm, t->g[i].region, 0);
	kh_mig_diff_free(m);
}

/* KVM's log and the VMM's bitmap, ORed into the pending set; the pages it holds now. */
static int harvest(struct kvmhost_machine *m, struct kh_mig_diff *t, uint64_t *pages)
{
	uint64_t n = 0;
	int r;

	for (uint32_t i = 0; i < t->rs.n; i++) {
		struct diff_region *g = &t->g[i];
		size_t words = g->size / 8;

		if ((r = kvmhost_vm_get_dirty_log(m->vm, g->region, g->scratch, g->size)) < 0)
			return r;
		for (size_t w = 0; w < words; w++)
			g->pending[w] |= g->scratch[w];
		if ((r = kvmhost_memory_fetch_vmm_dirty(g->region, g->scratch, g->size)) < 0)
			return r;
		for (size_t w = 0; w < words; w++) {
			g->pending[w] |= g->scratch[w];
			n += (uint64_t)__builtin_popcountll(g->pending[w]);
		}
	}
	if (pages)
		*pages = n;
	return 0;
}

static void clear_pending(struct kh_mig_diff *t)
{
	for (uint32_t i = 0; i < t->rs.n; i++)
		memset(t->g[i].pending, 0, t->g[i].size);
}

/* The stream of snapshot.c's write_stream(), with @lin in the header and, with @t, only its pending pages. */
static int write_stream(struct kvmhost_machine *m, struct kh_mig_io *io, struct kh_mig_counts *c, uint32_t flags,
			const struct kh_mig_lineage *lin, const struct kh_mig_diff *t)
{
	const uint64_t *dirty[KH_MIG_MAX_RAM_RANGES];
	struct kh_mig_feature f[KH_MIG_MAX_FEATURES];
	struct kh_mig_ranges rs;
	uint32_t nfeat = 0;
	int r;

	if ((r = kh_mig_arch_prepare(m->vm)) < 0 ||
	    (r = kh_mig_arch_features(m->cpu[0].vcpu, f, KH_MIG_MAX_FEATURES, &nfeat)) < 0 ||
	    (r = kh_mig_get_ranges(m, &rs)) < 0)
		return r;
	for (uint32_t i = 0; t && i < rs.n; i++)
		dirty[i] = t->g[i].pending;
	if ((r = kh_mig_write_header_lineage(io, kh_mig_arch_id(), t ? KH_MIG_FLAG_DIFF : 0, f, nfeat, lin)) < 0 ||
	    (r = kh_mig_write_config(io, c, m->ncpus, rs.r, rs.n)) < 0 ||
	    (r = kh_mig_write_pages(io, c, kvmhost_machine_memory(m), rs.r, rs.n,
				    !!(flags & KVMHOST_MIGRATION_ALL_PAGES), t ? dirty : NULL, NULL)) < 0)
		return r;
	return kh_mig_write_state(m, io, c);
}

int kh_mig_diff_check(struct kvmhost_machine *m)
{
	struct kh_mig_diff *t = m->mig_diff;

	if (!t || !t->have_base)
		return KH_FAIL(ENOENT,
			       "machine %s: a diff snapshot needs a snapshot before it taken with "
			       "KVMHOST_MIGRATION_DIFF_TRACK (%s)",
			       m->cfg.name, !t ? "diff tracking is off" : "the last tracked snapshot failed");
	if (t->broken)
		return KH_FAIL(ESTALE,
			       "machine %s: the dirty log was consumed by %s since the last snapshot, so a diff would "
			       "miss pages: take a full snapshot with KVMHOST_MIGRATION_DIFF_TRACK",
			       m->cfg.name, t->broken);
	return 0;
}

void kh_mig_diff_invalidate(struct kvmhost_machine *m, const char *why)
{
	struct kh_mig_diff *t = m ? m->mig_diff : NULL;

	if (t)
		t->broken = why;
}

int kh_mig_diff_write(struct kvmhost_machine *m, struct kh_mig_io *io, struct kh_mig_counts *c, uint32_t flags)
{
	struct kh_mig_lineage lin = {0};
	struct kh_mig_diff *t;
	int r;

	if (flags & KVMHOST_MIGRATION_DIFF) {
		if ((r = kh_mig_diff_check(m)) < 0)
			return r;
		t = m->mig_diff;
		/* What a failed diff harvested stays pending: the next diff sends it. */
		if ((r = new_id(lin.id)) < 0 || (r = harvest(m, t, NULL)) < 0)
			return r;
		memcpy(lin.base, t->last.base, 16);
		memcpy(lin.parent, t->last.id, 16);
		lin.generation = t->last.generation + 1;
		if ((r = write_stream(m, io, c, flags, &lin, t)) < 0)
			return r;
		clear_pending(t);
		t->last = lin;
	} else if (flags & KVMHOST_MIGRATION_DIFF_TRACK) {
		if (!(t = m->mig_diff)) {
			if ((r = start_tracking(m, &t)) < 0)
				return r;
			m->mig_diff = t;
		}
		t->have_base = 0;
		t->broken = NULL;
		/* A new chain: whatever the logs hold is in this full snapshot. */
		if ((r = new_id(lin.id)) < 0 || (r = harvest(m, t, NULL)) < 0)
			return r;
		clear_pending(t);
		memcpy(lin.base, lin.id, 16);
		if ((r = write_stream(m, io, c, flags, &lin, NULL)) < 0)
			return r;
		t->last = lin;
		t->have_base = 1;
	} else if ((r = write_stream(m, io, c, flags, NULL, NULL)) < 0) {
		return r; /* a plain full snapshot while tracking: the tracking ends only once it is written */
	}
	if (!(flags & KVMHOST_MIGRATION_DIFF_TRACK))
		stop_tracking(m);
	return 0;
}

KVMHOST_API int kvmhost_machine_diff_tracking_stop(struct kvmhost_machine *m)
{
	int on;

	if (!m)
		return KH_FAIL(EINVAL, "machine is NULL");
	on = m->mig_diff != NULL;
	stop_tracking(m);
	return on;
}

/* ---- restore of a chain ---- */

struct chain {
	const int *fds;
	uint32_t n, at; /* streams; the one being read */
	struct kh_mig_io io[2];
	struct kh_mig_counts *c, total;
	uint64_t bytes;
	struct kh_mig_lineage lin, prev; /* the header's (reader), the stream before's */
	int prev_has;			 /* the stream before had a lineage block */
};

static int next_stream(void *opaque, struct kh_mig_io **io)
{
	struct chain *ch = opaque;

	ch->total.data_pages += ch->c->data_pages;
	ch->total.zero_pages += ch->c->zero_pages;
	ch->total.sections += ch->c->sections + 1; /* with its end marker */
	ch->total.vcpus += ch->c->vcpus;
	ch->bytes += ch->io[ch->at % 2].bytes;
	if (++ch->at == ch->n)
		return 0;
	ch->io[ch->at % 2] = (struct kh_mig_io){.fd = ch->fds[ch->at]};
	*io = &ch->io[ch->at % 2];
	return 1;
}

/* After each stream's config, before its memory: does it follow the one before? */
static int check_link(void *opaque, uint32_t flags)
{
	struct chain *ch = opaque;
	char id[33], base[33], parent[33], pid[33], pbase[33];
	int diff = !!(flags & KH_MIG_FLAG_DIFF);
	int r = 0;

	hex_id(id, ch->lin.id);
	hex_id(base, ch->lin.base);
	hex_id(parent, ch->lin.parent);
	hex_id(pid, ch->prev.id);
	hex_id(pbase, ch->prev.base);
	if (ch->at == 0 && diff)
		r = KH_FAIL(
		    EINVAL,
		    "snapshot 0 of the chain is a diff (generation %u of base %s): a chain starts with the full "
		    "snapshot its diffs were taken after",
		    ch->lin.generation, base);
	else if (ch->at > 0 && !diff)
		r = KH_FAIL(EINVAL, "snapshot %u of the chain is a full snapshot%s%s, not a diff", ch->at,
			    flags & KH_MIG_FLAG_LINEAGE ? " with id " : "", flags & KH_MIG_FLAG_LINEAGE ? id : "");
	else if (ch->at > 0 && !ch->prev_has)
		r = KH_FAIL(EINVAL,
			    "snapshot %u of the chain is a diff of base %s, but snapshot %u has no id (it was written "
			    "without KVMHOST_MIGRATION_DIFF_TRACK)",
			    ch->at, base, ch->at - 1);
	else if (ch->at > 0 && memcmp(ch->lin.base, ch->prev.base, 16) != 0)
		r = KH_FAIL(
		    EINVAL,
		    "wrong base: snapshot %u of the chain is generation %u of the chain based on %s; snapshot %u "
		    "belongs to the chain based on %s",
		    ch->at, ch->lin.generation, base, ch->at - 1, pbase);
	else if (ch->at > 0 && memcmp(ch->lin.parent, ch->prev.id, 16) != 0)
		r = KH_FAIL(EINVAL,
			    "out of order: snapshot %u of the chain (generation %u, base %s) holds the changes since "
			    "snapshot %s, but snapshot %u is generation %u (id %s)%s",
			    ch->at, ch->lin.generation, base, parent, ch->at - 1, ch->prev.generation, pid,
			    ch->lin.generation == ch->prev.generation + 1 ? ""
									  : ": a generation is missing or repeated");
	if (r < 0)
		return r;
	ch->prev = ch->lin;
	ch->prev_has = !!(flags & KH_MIG_FLAG_LINEAGE);
	return 0;
}

KVMHOST_API int kvmhost_machine_restore_chain(struct kvmhost_machine *m, const int *fds, uint32_t n,
					      const struct kvmhost_migration_options *opts,
					      struct kvmhost_migration_stats *stats)
{
	struct kvmhost_migration_options o;
	struct kh_mig_counts c = {0};
	struct chain ch;
	struct kh_mig_hooks hooks;
	struct kh_mig_io sum = {.fd = -1};
	int r;

	if ((r = kh_mig_load_options(&o, opts, KVMHOST_MIGRATION_CLOCK_CATCH_UP, __func__)) < 0)
		return r;
	if (!fds || n == 0 || n > CHAIN_MAX)
		return KH_FAIL(EINVAL, "%s: %s", __func__,
			       !fds ? "fds is NULL" : "a chain is 1 to 4096 snapshots, the full one first");
	for (uint32_t i = 0; i < n; i++)
		if (fds[i] < 0)
			return KH_FAIL(EINVAL, "%s: fd %u of the chain is negative", __func__, i);
	if ((r = kh_mig_check_incoming(m, fds[0], __func__)) < 0)
		return r;
	memset(&ch, 0, sizeof(ch));
	ch.fds = fds;
	ch.n = n;
	ch.c = &c;
	ch.io[0] = (struct kh_mig_io){.fd = fds[0]};
	hooks = (struct kh_mig_hooks){.accept_flags = KH_MIG_FLAG_DIFF,
				      .after_config = check_link,
				      .opaque = &ch,
				      .next_stream = next_stream,
				      .lineage = &ch.lin};
	r = kh_mig_restore_stream(m, &ch.io[0], o.flags, &hooks, &c, NULL, NULL);
	if (r < 0) {
		if (n > 1 && ch.at < n)
			r = KH_FAIL(-r, "snapshot %u of %u in the chain: %s", ch.at, n, kvmhost_last_error());
		if (ch.at < n)
			ch.bytes += ch.io[ch.at % 2].bytes;
	}
	sum.bytes = ch.bytes;
	if (r == 0)
		c = ch.total, c.sections -= 1; /* kh_mig_fill_stats() counts one end marker */
	kh_mig_fill_stats(stats, &sum, &c, NULL);
	return r;
}
