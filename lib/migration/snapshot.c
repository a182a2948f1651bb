/*
 * Snapshot and restore of a whole machine (include/kvmhost/migration.h) over
 * the stream of stream.c: what is saved in which order, and the restore that
 * checks everything it can before it touches the machine and leaves it
 * STOPPED, never half-restored and running, when anything fails.
 *
 * Stream order: header (with the guest's CPU features), config (vCPUs, RAM
 * ranges), memory, VM state, each vCPU, the registry's devices, the virtio
 * devices outside the registry, end. Memory goes first so that a live
 * migration can send it in passes before the final state, with the same
 * reader. Restore applies the state only after the end marker: the VM state
 * that precedes the vCPUs, the vCPUs, the devices, the clock, then
 * KVMCLOCK_CTRL on every vCPU (clock -> devices -> vCPUs at resume).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kvmhost/device_registry.h>
#include <kvmhost/memory.h>
#include <kvmhost/migration.h>
#include <kvmhost/virtio/device.h>

#include "../core/internal.h"
#include "../machine/machine_internal.h"
#include "migration_arch.h"
#include "migration_internal.h"
#include "stream.h"

#define ranges kh_mig_ranges

static int add_range(struct kvmhost_memory_region *region, void *opaque)
{
	struct ranges *rs = opaque;

	if (rs->n == KH_MIG_MAX_RAM_RANGES)
		return KH_FAIL(E2BIG, "more than %u RAM ranges", KH_MIG_MAX_RAM_RANGES);
	rs->r[rs->n++] = (struct kh_mig_range){kvmhost_memory_region_gpa(region), kvmhost_memory_region_length(region)};
	return 0;
}

int kh_mig_get_ranges(struct kvmhost_machine *m, struct ranges *rs)
{
	rs->n = 0;
	return kvmhost_memory_for_each_region(kvmhost_machine_memory(m), add_range, rs);
}

/* The machine's virtio devices whose state the registry does not hold (their indices). */
static uint32_t unregistered_virtio(struct kvmhost_machine *m, uint32_t *index)
{
	struct kvmhost_device_registry *reg = kvmhost_machine_registry(m);
	int count = kvmhost_device_registry_count(reg);
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->cfg.device_count && kvmhost_machine_virtio_device(m, i); i++) {
		char id[KVMHOST_DEVICE_ID_MAX + 1];
		int found = 0;

		for (int k = 0; k < count && !found; k++)
			found = kvmhost_device_registry_get(reg, (unsigned)k, id, sizeof(id), NULL) == 0 &&
				strcmp(id, m->cfg.devices[i].id) == 0;
		if (!found && n < KH_MIG_MAX_VIRTIO)
			index[n++] = i;
	}
	return n;
}

int kh_mig_load_options(struct kvmhost_migration_options *o, const struct kvmhost_migration_options *opts,
			uint32_t known, const char *func)
{
	int r;

	memset(o, 0, sizeof(*o));
	if (opts && (r = kh_copy_options(o, sizeof(*o), opts, func)) < 0)
		return r;
	if (o->flags & ~known)
		return kh_fail(EINVAL, func, "flags 0x%x: unknown or not for this call", o->flags);
	return 0;
}

void kh_mig_fill_stats(struct kvmhost_migration_stats *stats, const struct kh_mig_io *io, const struct kh_mig_counts *c,
		       const struct kvmhost_migration_stats *live)
{
	struct kvmhost_migration_stats s = {.size = sizeof(s)};
	size_t size;

	if (!stats || stats->size < sizeof(size_t))
		return;
	if (live)
		s = *live;
	s.bytes = io->bytes;
	s.data_pages = c->data_pages;
	s.zero_pages = c->zero_pages;
	s.sections = c->sections + 1;
	s.vcpus = c->vcpus;
	size = KH_MIN(stats->size, sizeof(s));
	s.size = stats->size;
	memcpy(stats, &s, size);
}

/* ---- snapshot ---- */

static int write_devices(struct kvmhost_machine *m, struct kh_mig_io *io, struct kh_mig_counts *c)
{
	struct kvmhost_device_registry *reg = kvmhost_machine_registry(m);
	uint32_t index[KH_MIG_MAX_VIRTIO], n;
	size_t size = 0, used = 0;
	uint8_t *buf;
	int r;

	if ((r = kvmhost_device_registry_save_size(reg, &size)) < 0)
		return r;
	if (size > KH_MIG_DEVICES_SECTION_MAX)
		return KH_FAIL(EFBIG, "the devices' state is %zu bytes; a stream holds %u", size,
			       KH_MIG_DEVICES_SECTION_MAX);
	if (!(buf = malloc(size)))
		return KH_FAIL(ENOMEM, "cannot allocate %zu bytes of device state", size);
	r = kvmhost_device_registry_save(reg, buf, size, &used);
	if (r == 0)
		r = kh_mig_write_section(io, c, KH_MIG_SEC_DEVICES, 0, buf, used);
	free(buf);
	n = unregistered_virtio(m, index);
	for (uint32_t i = 0; i < n && r == 0; i++) {
		struct kvmhost_virtio_device *dev = kvmhost_machine_virtio_device(m, index[i]);
		int len = kvmhost_virtio_device_state_size(dev);

		if (len < 0)
			return len;
		if ((size_t)len > KH_MIG_VIRTIO_SECTION_MAX)
			return KH_FAIL(EFBIG, "device %s: %d bytes of state", m->cfg.devices[index[i]].id, len);
		if (!(buf = malloc(len ? (size_t)len : 1)))
			return KH_FAIL(ENOMEM, "cannot allocate %d bytes of device state", len);
		if ((r = kvmhost_virtio_device_save(dev, buf, (size_t)len)) >= 0)
			r = kh_mig_write_section(io, c, KH_MIG_SEC_VIRTIO, index[i], buf, (size_t)r);
		else
			r = KH_FAIL(-r, "device %s: %s", m->cfg.devices[index[i]].id, kvmhost_last_error());
		free(buf);
	}
	return r;
}

int kh_mig_write_state(struct kvmhost_machine *m, struct kh_mig_io *io, struct kh_mig_counts *c)
{
	struct kh_buf b = {0};
	int r;

	if ((r = kh_mig_arch_prepare(m->vm)) < 0)
		return r;
	if ((r = kh_mig_arch_save_vm(m->vm, &b)) == 0)
		r = kh_mig_write_section(io, c, KH_MIG_SEC_VM, 0, b.p, b.len);
	for (uint32_t i = 0; i < m->ncpus && r == 0; i++) {
		b.len = 0;
		if ((r = kh_mig_arch_save_vcpu(m->cpu[i].vcpu, &b)) < 0)
			r = KH_FAIL(-r, "vCPU %u: %s", i, kvmhost_last_error());
		else
			r = kh_mig_write_section(io, c, KH_MIG_SEC_VCPU, i, b.p, b.len);
	}
	kh_buf_free(&b);
	if (r == 0 && (r = write_devices(m, io, c)) == 0)
		r = kh_mig_write_end(io, c);
	return r;
}

static int write_stream(struct kvmhost_machine *m, struct kh_mig_io *io, struct kh_mig_counts *c, uint32_t flags)
{
	struct kh_mig_feature f[KH_MIG_MAX_FEATURES];
	struct ranges rs;
	uint32_t nfeat = 0;
	int r;

	if ((r = kh_mig_arch_prepare(m->vm)) < 0 ||
	    (r = kh_mig_arch_features(m->cpu[0].vcpu, f, KH_MIG_MAX_FEATURES, &nfeat)) < 0 ||
	    (r = kh_mig_get_ranges(m, &rs)) < 0)
		return r;
	if ((r = kh_mig_write_header(io, kh_mig_arch_id(), 0, f, nfeat)) < 0 ||
	    (r = kh_mig_write_config(io, c, m->ncpus, rs.r, rs.n)) < 0 ||
	    (r = kh_mig_write_memory(io, c, kvmhost_machine_memory(m), rs.r, rs.n,
				     !!(flags & KVMHOST_MIGRATION_ALL_PAGES))) < 0)
		return r;
	return kh_mig_write_state(m, io, c);
}

KVMHOST_API int kvmhost_machine_snapshot(struct kvmhost_machine *m, int fd,
					 const struct kvmhost_migration_options *opts,
					 struct kvmhost_migration_stats *stats)
{
	struct kvmhost_migration_options o;
	struct kh_mig_io io = {.fd = fd};
	struct kh_mig_counts c = {0};
	int r, state, paused = 0;

	if ((r = kh_mig_load_options(&o, opts,
				     KVMHOST_MIGRATION_LEAVE_PAUSED | KVMHOST_MIGRATION_ALL_PAGES |
					 KVMHOST_MIGRATION_DIFF_TRACK | KVMHOST_MIGRATION_DIFF,
				     __func__)) < 0)
		return r;
	if (!m || fd < 0)
		return KH_FAIL(EINVAL, "%s", !m ? "machine is NULL" : "fd is negative");
	if (kh_machine_is_self(m))
		return KH_FAIL(EDEADLK, "machine %s: called from one of its own threads", m->cfg.name);
	state = kvmhost_machine_get_state(m);
	if (state == KVMHOST_MACHINE_STOPPED)
		return KH_FAIL(EINVAL, "machine %s is stopped: nothing to snapshot", m->cfg.name);
	if ((o.flags & KVMHOST_MIGRATION_DIFF) && (r = kh_mig_diff_check(m)) < 0)
		return r; /* refused before the pause */
	if (state == KVMHOST_MACHINE_RUNNING) {
		if ((r = kvmhost_machine_pause(m)) < 0)
			return r;
		paused = 1;
	}
	if (m->mig_diff || (o.flags & (KVMHOST_MIGRATION_DIFF_TRACK | KVMHOST_MIGRATION_DIFF)))
		r = kh_mig_diff_write(m, &io, &c, o.flags); /* snapshot_diff.c */
	else
		r = write_stream(m, &io, &c, o.flags);
	if (r < 0)
		r = KH_FAIL(-r, "machine %s: %s", m->cfg.name, kvmhost_last_error());
	if (paused) {
		for (uint32_t i = 0; i < m->ncpus; i++)
			kh_mig_arch_before_resume(m->cpu[i].vcpu);
		if (!(o.flags & KVMHOST_MIGRATION_LEAVE_PAUSED) || r < 0) {
			char msg[512];
			int rr;

			snprintf(msg, sizeof(msg), "%s", kvmhost_last_error());
			rr = kvmhost_machine_resume(m);
			if (r == 0)
				r = rr;
			else
				KH_FAIL(-r, "%s", msg); /* the snapshot's error, not the resume's */
		}
	}
	kh_mig_fill_stats(stats, &io, &c, NULL);
	return r;
}

/* ---- restore ---- */

struct incoming {
	struct kvmhost_machine *m;
	struct kh_mig_io *io;
	uint64_t state_ns, state_offset; /* when and where the VM section was read */
	struct kh_mig_arch_vm *vm;
	struct kh_mig_arch_vcpu **vcpu;
	uint8_t *devices;
	size_t devices_len;
	uint32_t nvirtio;
	uint32_t virtio_index[KH_MIG_MAX_VIRTIO];
	uint8_t *virtio[KH_MIG_MAX_VIRTIO];
	size_t virtio_len[KH_MIG_MAX_VIRTIO];
	uint32_t virtio_seen;
	const struct kh_mig_hooks *hooks;
};

static int after_config(void *opaque, uint32_t flags)
{
	struct incoming *in = opaque;

	return in->hooks->after_config(in->hooks->opaque, flags);
}

static int check_features(void *opaque, const struct kh_mig_feature *f, uint32_t n)
{
	struct incoming *in = opaque;

	return kh_mig_arch_check_features(in->m->vm, in->m->cpu[0].vcpu, f, n);
}

static uint8_t *copy(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (p)
		memcpy(p, data, len);
	return p;
}

/* Decode and check a state section; nothing is applied yet. */
static int take_section(void *opaque, uint32_t id, uint32_t instance, const uint8_t *data, size_t len)
{
	struct incoming *in = opaque;
	int r;

	switch (id) {
	case KH_MIG_SEC_VM:
		in->state_ns = kh_mig_now_ns();
		in->state_offset = in->io->bytes - len - KH_MIG_SECTION_HEADER;
		return kh_mig_arch_decode_vm(data, len, &in->vm);
	case KH_MIG_SEC_VCPU:
		return kh_mig_arch_decode_vcpu(data, len, &in->vcpu[instance]);
	case KH_MIG_SEC_DEVICES:
		if ((r = kvmhost_device_registry_inspect(data, len, NULL, NULL)) < 0)
			return r;
		if (!(in->devices = copy(data, len)))
			return KH_FAIL(ENOMEM, "cannot keep %zu bytes of device state", len);
		in->devices_len = len;
		return 0;
	default: /* KH_MIG_SEC_VIRTIO, in the order the reader checked */
		if (!(in->virtio[in->virtio_seen] = copy(data, len)))
			return KH_FAIL(ENOMEM, "cannot keep %zu bytes of device state", len);
		in->virtio_len[in->virtio_seen++] = len;
		return 0;
	}
}

/* The decoded state of a stream, dropped when a chain's next stream replaces it (and at the end). */
static void drop_state(struct incoming *in, uint32_t ncpus)
{
	kh_mig_arch_free_vm(in->vm);
	in->vm = NULL;
	for (uint32_t i = 0; i < ncpus; i++) {
		kh_mig_arch_free_vcpu(in->vcpu[i]);
		in->vcpu[i] = NULL;
	}
	free(in->devices);
	in->devices = NULL;
	in->devices_len = 0;
	for (uint32_t i = 0; i < in->virtio_seen; i++)
		free(in->virtio[i]);
	in->virtio_seen = 0;
}

static int apply(struct incoming *in, uint32_t flags)
{
	struct kvmhost_machine *m = in->m;
	int64_t advance = 0;
	int r;

	if ((r = kh_mig_arch_prepare(m->vm)) < 0 || (r = kh_mig_arch_load_vm(m->vm, in->vm)) < 0)
		return r;
	if (flags & KVMHOST_MIGRATION_CLOCK_CATCH_UP)
		advance = kh_mig_arch_elapsed_ns(in->vm);
	for (uint32_t i = 0; i < m->ncpus; i++)
		if ((r = kh_mig_arch_load_vcpu(m->cpu[i].vcpu, in->vcpu[i], advance)) < 0)
			return KH_FAIL(-r, "vCPU %u: %s", i, kvmhost_last_error());
	if ((r = kvmhost_device_registry_restore(kvmhost_machine_registry(m), in->devices, in->devices_len)) < 0)
		return r;
	for (uint32_t i = 0; i < in->nvirtio; i++) {
		uint32_t k = in->virtio_index[i];

		if ((r = kvmhost_virtio_device_restore(kvmhost_machine_virtio_device(m, k), in->virtio[i],
						       in->virtio_len[i])) < 0)
			return KH_FAIL(-r, "device %s: %s", m->cfg.devices[k].id, kvmhost_last_error());
	}
	kh_machine_virtio_kick(m); /* pending work is served once the machine starts */
	if ((r = kh_mig_arch_load_clock(m->vm, in->vm, advance)) < 0)
		return r;
	for (uint32_t i = 0; i < m->ncpus; i++)
		kh_mig_arch_before_resume(m->cpu[i].vcpu);
	return 0;
}

int kh_mig_restore_stream(struct kvmhost_machine *m, struct kh_mig_io *io, uint32_t flags,
			  const struct kh_mig_hooks *hooks, struct kh_mig_counts *c, uint64_t *state_ns,
			  uint64_t *state_offset)
{
	struct kh_mig_dest d;
	struct incoming in;
	struct ranges rs;
	int r;

	if ((r = kh_mig_get_ranges(m, &rs)) < 0)
		return r;
	memset(&in, 0, sizeof(in));
	in.m = m;
	in.io = io;
	if (!(in.vcpu = calloc(m->ncpus, sizeof(*in.vcpu))))
		return KH_FAIL(ENOMEM, "cannot allocate %u vCPU states", m->ncpus);
	in.nvirtio = unregistered_virtio(m, in.virtio_index);
	d = (struct kh_mig_dest){.arch = kh_mig_arch_id(),
				 .vcpus = m->ncpus,
				 .ram = rs.r,
				 .nranges = rs.n,
				 .mem = kvmhost_machine_memory(m),
				 .virtio = in.nvirtio,
				 .virtio_index = in.virtio_index,
				 .check_features = check_features,
				 .section = take_section,
				 .accept_flags = hooks ? hooks->accept_flags : 0,
				 .after_config = hooks && hooks->after_config ? after_config : NULL,
				 .opaque = &in,
				 .lineage = hooks ? hooks->lineage : NULL};
	in.hooks = hooks;
	r = kh_mig_read(io, &d, c);
	/* A chain (restore_chain): the next stream's memory goes over this one's, its state replaces this one's. */
	while (r == 0 && hooks && hooks->next_stream && (r = hooks->next_stream(hooks->opaque, &io)) > 0) {
		drop_state(&in, m->ncpus);
		in.io = io;
		r = kh_mig_read(io, &d, c);
	}
	if (r == 0)
		r = apply(&in, flags);
	if (r < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", kvmhost_last_error());
		kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_HOST_ERROR, UINT32_MAX, NULL, r, "restore failed: %.120s",
				     msg);
		r = KH_FAIL(-r, "machine %s: %s", m->cfg.name, msg);
	}
	if (state_ns)
		*state_ns = in.state_ns;
	if (state_offset)
		*state_offset = in.state_offset;
	drop_state(&in, m->ncpus);
	free(in.vcpu);
	return r;
}

int kh_mig_check_incoming(struct kvmhost_machine *m, int fd, const char *func)
{
	if (!m || fd < 0)
		return kh_fail(EINVAL, func, "%s", !m ? "machine is NULL" : "fd is negative");
	if (kh_machine_is_self(m))
		return kh_fail(EDEADLK, func, "machine %s: called from one of its own threads", m->cfg.name);
	if (!(m->cfg.flags & KVMHOST_MACHINE_INCOMING))
		return kh_fail(EINVAL, func, "machine %s was not created with KVMHOST_MACHINE_INCOMING", m->cfg.name);
	if (kvmhost_machine_get_state(m) != KVMHOST_MACHINE_CREATED)
		return kh_fail(EINVAL, func, "machine %s has run (or stopped): only a new incoming machine is restored",
			       m->cfg.name);
	return 0;
}

KVMHOST_API int kvmhost_machine_restore(struct kvmhost_machine *m, int fd, const struct kvmhost_migration_options *opts,
					struct kvmhost_migration_stats *stats)
{
	struct kvmhost_migration_options o;
	struct kh_mig_io io = {.fd = fd};
	struct kh_mig_counts c = {0};
	int r;

	if ((r = kh_mig_load_options(&o, opts, KVMHOST_MIGRATION_CLOCK_CATCH_UP, __func__)) < 0 ||
	    (r = kh_mig_check_incoming(m, fd, __func__)) < 0)
		return r;
	r = kh_mig_restore_stream(m, &io, o.flags, NULL, &c, NULL, NULL);
	kh_mig_fill_stats(stats, &io, &c, NULL);
	return r;
}
