/*
 * The CPUID builder: a template taken from KVM's supported list with a few
 * defaults (hypervisor bit, TSC-deadline, KVM's signature leaves), a
 * topology, and an ordered list of caller edits. Building a vCPU's table
 * copies the template, writes that vCPU's APIC ID into the topology leaves,
 * then replays the edits, so a caller's override always wins over what the
 * builder computed.
 *
 * Nothing here talks to KVM except create_from_system() and apply(), so the
 * unit tests drive it with fake supported lists.
 */
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "../../../core/internal.h"
#include "../../../kvm/vcpu_internal.h"
#include <kvmhost/system.h>
#include <kvmhost/x86.h>
#include <kvmhost/x86_platform.h>

#define LEAF1_EBX_CLFLUSH_MASK 0x0000ffffu
#define LEAF1_ECX_TSC_DEADLINE (1u << 24)
#define LEAF1_ECX_HYPERVISOR   (1u << 31)
#define LEAF1_EDX_HTT	       (1u << 28)

#define KVM_LEAF_SIGNATURE 0x40000000u
#define KVM_LEAF_FEATURES  0x40000001u
/* "KVMKVMKVM\0\0\0" as EBX, ECX, EDX. */
#define KVM_SIG_EBX 0x4b4d564bu
#define KVM_SIG_ECX 0x564b4d56u
#define KVM_SIG_EDX 0x0000004du

/* Leaf 0xB / 0x1F level types (ECX[15:8]). */
#define TOPO_LEVEL_INVALID 0u
#define TOPO_LEVEL_SMT	   1u
#define TOPO_LEVEL_CORE	   2u

/* Extra entries topology may add: 0xB and 0x1F rebuilt with 3 subleaves each. */
#define TOPO_SPARE 6u

enum edit_op { EDIT_SET_BITS, EDIT_CLEAR_BITS, EDIT_SET_REG, EDIT_REMOVE };

struct cpuid_edit {
	enum edit_op op;
	uint32_t function, index;
	enum kvmhost_x86_cpuid_reg reg;
	uint32_t value;
};

struct kvmhost_x86_cpuid {
	struct kvm_cpuid_entry2 *base; /* template after the creation defaults */
	uint32_t nbase;
	struct cpuid_edit *edits;
	uint32_t nedits, edits_cap;
	uint32_t ncpus, threads_per_core;
};

/* The table being built for one vCPU: room for the template, the topology
 * leaves and one new entry per edit. */
struct cpuid_table {
	struct kvm_cpuid_entry2 *e;
	uint32_t n, cap;
};

static int entry_matches(const struct kvm_cpuid_entry2 *e, uint32_t function, uint32_t index)
{
	return e->function == function && (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index);
}

static struct kvm_cpuid_entry2 *table_find(struct cpuid_table *t, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (entry_matches(&t->e[i], function, index))
			return &t->e[i];
	return NULL;
}

static int function_is_indexed(const struct cpuid_table *t, uint32_t function)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->e[i].function == function && (t->e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))
			return 1;
	return 0;
}

/* Find (function, index) or append it zeroed. The table is sized so that
 * this never runs out of room (see table_alloc()). */
static struct kvm_cpuid_entry2 *table_get(struct cpuid_table *t, uint32_t function, uint32_t index)
{
	struct kvm_cpuid_entry2 *e = table_find(t, function, index);

	if (e || t->n >= t->cap)
		return e;
	e = &t->e[t->n++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	if (index || function_is_indexed(t, function))
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	return e;
}

static void table_remove_matching(struct cpuid_table *t, uint32_t function, uint32_t index, int any_index)
{
	uint32_t out = 0;

	for (uint32_t i = 0; i < t->n; i++) {
		int drop = any_index ? t->e[i].function == function : entry_matches(&t->e[i], function, index);

		if (!drop)
			t->e[out++] = t->e[i];
	}
	t->n = out;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, enum kvmhost_x86_cpuid_reg reg)
{
	switch (reg) {
	case KVMHOST_X86_CPUID_EAX:
		return &e->eax;
	case KVMHOST_X86_CPUID_EBX:
		return &e->ebx;
	case KVMHOST_X86_CPUID_ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

/* Bits needed to number @n things (0 for n <= 1). */
static uint32_t id_bits(uint32_t n)
{
	uint32_t b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

KVMHOST_API int kvmhost_x86_cpuid_create(const struct kvm_cpuid_entry2 *supported, uint32_t count, uint32_t flags,
					 struct kvmhost_x86_cpuid **out)
{
	struct kvmhost_x86_cpuid *c;
	struct cpuid_table t;
	struct kvm_cpuid_entry2 *e;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	if (!supported)
		return KH_FAIL(EINVAL, "the supported list is NULL");
	if (count == 0 || count > KVMHOST_X86_CPUID_MAX_ENTRIES)
		return KH_FAIL(EINVAL, "%u entries; 1 to %u allowed", count, KVMHOST_X86_CPUID_MAX_ENTRIES);
	if (flags & ~KVMHOST_X86_CPUID_TSC_DEADLINE)
		return KH_FAIL(EINVAL, "unknown flags 0x%x", flags & ~KVMHOST_X86_CPUID_TSC_DEADLINE);
	for (uint32_t i = 0; i < count; i++)
		for (uint32_t j = i + 1; j < count; j++)
			if (supported[i].function == supported[j].function &&
			    (supported[i].index == supported[j].index ||
			     !(supported[i].flags & supported[j].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
				return KH_FAIL(EINVAL, "entries %u and %u both describe leaf 0x%x index %u", i, j,
					       supported[i].function, supported[j].index);

	c = calloc(1, sizeof(*c));
	if (!c)
		return KH_FAIL(ENOMEM, "cannot allocate a CPUID builder");
	/* Two spare slots for KVM's leaves when the list lacks them. */
	t.cap = count + 2;
	t.n = count;
	t.e = calloc(t.cap, sizeof(*t.e));
	if (!t.e) {
		free(c);
		return KH_FAIL(ENOMEM, "cannot allocate %u CPUID entries", t.cap);
	}
	memcpy(t.e, supported, count * sizeof(*t.e));

	e = table_find(&t, 1, 0);
	if (e) {
		e->ecx |= LEAF1_ECX_HYPERVISOR;
		if (flags & KVMHOST_X86_CPUID_TSC_DEADLINE)
			e->ecx |= LEAF1_ECX_TSC_DEADLINE;
	}
	if (!table_find(&t, KVM_LEAF_SIGNATURE, 0)) {
		e = table_get(&t, KVM_LEAF_SIGNATURE, 0);
		e->eax = KVM_LEAF_FEATURES;
		e->ebx = KVM_SIG_EBX;
		e->ecx = KVM_SIG_ECX;
		e->edx = KVM_SIG_EDX;
	}
	if (!table_find(&t, KVM_LEAF_FEATURES, 0))
		table_get(&t, KVM_LEAF_FEATURES, 0);

	c->base = t.e;
	c->nbase = t.n;
	c->ncpus = 1;
	c->threads_per_core = 1;
	*out = c;
	return 0;
}

KVMHOST_API int kvmhost_x86_cpuid_create_from_system(struct kvmhost_system *sys, struct kvmhost_x86_cpuid **out)
{
	struct kvm_cpuid_entry2 *list;
	uint32_t n = 0, flags = 0;
	int r;

	if (!sys || !out)
		return KH_FAIL(EINVAL, "sys or out is NULL");
	*out = NULL;
	list = calloc(KVMHOST_X86_CPUID_MAX_ENTRIES, sizeof(*list));
	if (!list)
		return KH_FAIL(ENOMEM, "cannot allocate %u CPUID entries", KVMHOST_X86_CPUID_MAX_ENTRIES);
	r = kvmhost_x86_system_get_supported_cpuid(sys, list, KVMHOST_X86_CPUID_MAX_ENTRIES, &n);
	if (r < 0) {
		free(list);
		return r;
	}
	if (kvmhost_system_check_extension(sys, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		flags |= KVMHOST_X86_CPUID_TSC_DEADLINE;
	r = kvmhost_x86_cpuid_create(list, n, flags, out);
	free(list);
	return r;
}

KVMHOST_API void kvmhost_x86_cpuid_destroy(struct kvmhost_x86_cpuid *cpuid)
{
	if (!cpuid)
		return;
	free(cpuid->base);
	free(cpuid->edits);
	free(cpuid);
}

KVMHOST_API int kvmhost_x86_cpuid_set_topology(struct kvmhost_x86_cpuid *cpuid, uint32_t ncpus,
					       uint32_t threads_per_core)
{
	if (!cpuid)
		return KH_FAIL(EINVAL, "cpuid is NULL");
	if (ncpus == 0 || ncpus > KVMHOST_X86_PLATFORM_MAX_CPUS)
		return KH_FAIL(EINVAL, "%u vCPUs; 1 to %u allowed", ncpus, KVMHOST_X86_PLATFORM_MAX_CPUS);
	if (threads_per_core == 0 || (threads_per_core & (threads_per_core - 1)) || threads_per_core > ncpus)
		return KH_FAIL(EINVAL, "threads_per_core %u is not a power of two from 1 to %u", threads_per_core,
			       ncpus);
	cpuid->ncpus = ncpus;
	cpuid->threads_per_core = threads_per_core;
	return 0;
}

static int add_edit(struct kvmhost_x86_cpuid *c, enum edit_op op, uint32_t function, uint32_t index,
		    enum kvmhost_x86_cpuid_reg reg, uint32_t value, const char *func)
{
	struct cpuid_edit *ed;

	if (!c)
		return kh_fail(EINVAL, func, "cpuid is NULL");
	if (op != EDIT_REMOVE && (unsigned)reg > KVMHOST_X86_CPUID_EDX)
		return kh_fail(EINVAL, func, "leaf 0x%x index %u: register %d is not EAX..EDX", function, index,
			       (int)reg);
	/* Each edit may add one entry; keep the total within what KVM takes
	 * so the per-vCPU table size stays bounded. */
	if (c->nedits >= 4 * KVMHOST_X86_CPUID_MAX_ENTRIES)
		return kh_fail(ENOMEM, func, "too many CPUID edits (%u)", c->nedits);
	if (c->nedits == c->edits_cap) {
		uint32_t cap = c->edits_cap ? 2 * c->edits_cap : 16;
		struct cpuid_edit *n = realloc(c->edits, cap * sizeof(*n));

		if (!n)
			return kh_fail(ENOMEM, func, "cannot grow the CPUID edit list to %u", cap);
		c->edits = n;
		c->edits_cap = cap;
	}
	ed = &c->edits[c->nedits++];
	ed->op = op;
	ed->function = function;
	ed->index = index;
	ed->reg = reg;
	ed->value = value;
	return 0;
}

KVMHOST_API int kvmhost_x86_cpuid_set_bits(struct kvmhost_x86_cpuid *cpuid, uint32_t function, uint32_t index,
					   enum kvmhost_x86_cpuid_reg reg, uint32_t bits)
{
	return add_edit(cpuid, EDIT_SET_BITS, function, index, reg, bits, __func__);
}

KVMHOST_API int kvmhost_x86_cpuid_clear_bits(struct kvmhost_x86_cpuid *cpuid, uint32_t function, uint32_t index,
					     enum kvmhost_x86_cpuid_reg reg, uint32_t bits)
{
	return add_edit(cpuid, EDIT_CLEAR_BITS, function, index, reg, bits, __func__);
}

KVMHOST_API int kvmhost_x86_cpuid_set_reg(struct kvmhost_x86_cpuid *cpuid, uint32_t function, uint32_t index,
					  enum kvmhost_x86_cpuid_reg reg, uint32_t value)
{
	return add_edit(cpuid, EDIT_SET_REG, function, index, reg, value, __func__);
}

KVMHOST_API int kvmhost_x86_cpuid_remove(struct kvmhost_x86_cpuid *cpuid, uint32_t function, uint32_t index)
{
	return add_edit(cpuid, EDIT_REMOVE, function, index, KVMHOST_X86_CPUID_EAX, 0, __func__);
}

/* Rebuild an extended-topology leaf (0xB or 0x1F): SMT level, core level,
 * then the invalid level that ends the list. */
static void topology_leaf(struct cpuid_table *t, uint32_t function, uint32_t apic_id, uint32_t smt_bits,
			  uint32_t pkg_bits, uint32_t threads, uint32_t ncpus)
{
	struct kvm_cpuid_entry2 *e;

	table_remove_matching(t, function, 0, 1);
	for (uint32_t sub = 0; sub < 3; sub++) {
		e = &t->e[t->n++];
		memset(e, 0, sizeof(*e));
		e->function = function;
		e->index = sub;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->edx = apic_id;
		e->ecx = sub;
		if (sub == 0) {
			e->eax = smt_bits;
			e->ebx = threads;
			e->ecx |= TOPO_LEVEL_SMT << 8;
		} else if (sub == 1) {
			e->eax = pkg_bits;
			e->ebx = ncpus;
			e->ecx |= TOPO_LEVEL_CORE << 8;
		} else {
			e->ecx |= TOPO_LEVEL_INVALID << 8;
		}
	}
}

static void apply_topology(const struct kvmhost_x86_cpuid *c, struct cpuid_table *t, uint32_t apic_id)
{
	uint32_t threads = c->threads_per_core, ncpus = c->ncpus;
	uint32_t smt_bits = id_bits(threads), pkg_bits = id_bits(ncpus);
	uint32_t core_ids = 1u << (pkg_bits - smt_bits); /* addressable core IDs per package */
	uint32_t max_leaf = 0, max_ext = 0;
	struct kvm_cpuid_entry2 *e;

	e = table_find(t, 0, 0);
	if (e)
		max_leaf = e->eax;
	e = table_find(t, 0x80000000u, 0);
	if (e)
		max_ext = e->eax;

	e = table_find(t, 1, 0);
	if (e) {
		uint32_t logical = 1u << pkg_bits;

		e->ebx = (e->ebx & LEAF1_EBX_CLFLUSH_MASK) | (apic_id << 24) | ((logical > 255 ? 255 : logical) << 16);
		if (ncpus > 1)
			e->edx |= LEAF1_EDX_HTT;
		else
			e->edx &= ~LEAF1_EDX_HTT;
	}

	/* Deterministic cache parameters: EAX[31:26] = core IDs - 1, EAX[25:14]
	 * = IDs sharing the cache - 1 (a core's threads for L1/L2, the whole
	 * package for L3 and beyond). */
	for (uint32_t i = 0; i < t->n; i++) {
		uint32_t level, sharing;

		e = &t->e[i];
		if (e->function != 4 || (e->eax & 0x1f) == 0)
			continue;
		level = (e->eax >> 5) & 7;
		sharing = level >= 3 ? (1u << pkg_bits) : (1u << smt_bits);
		e->eax = (e->eax & 0x3fff) | ((sharing - 1) & 0xfff) << 14 | ((core_ids - 1) & 0x3f) << 26;
	}

	if (table_find(t, 0xb, 0) || max_leaf >= 0xb)
		topology_leaf(t, 0xb, apic_id, smt_bits, pkg_bits, threads, ncpus);
	if (table_find(t, 0x1f, 0))
		topology_leaf(t, 0x1f, apic_id, smt_bits, pkg_bits, threads, ncpus);

	/* AMD: NC = logical processors - 1, ApicIdCoreIdSize = package bits. */
	e = table_find(t, 0x80000008u, 0);
	if (e && max_ext >= 0x80000008u)
		e->ecx = (e->ecx & ~0xf0ffu) | ((ncpus - 1) & 0xff) | (pkg_bits << 12);
	/* AMD: extended APIC ID, compute unit (core) ID, threads per unit - 1, one node. */
	e = table_find(t, 0x8000001eu, 0);
	if (e) {
		e->eax = apic_id;
		e->ebx = (e->ebx & ~0xffffu) | ((apic_id >> smt_bits) & 0xff) | ((threads - 1) & 0xff) << 8;
		e->ecx &= ~0x7ffu;
	}
}

static void apply_edit(struct cpuid_table *t, const struct cpuid_edit *ed)
{
	struct kvm_cpuid_entry2 *e;

	switch (ed->op) {
	case EDIT_REMOVE:
		table_remove_matching(t, ed->function, ed->index, 0);
		return;
	case EDIT_CLEAR_BITS:
		e = table_find(t, ed->function, ed->index);
		if (e)
			*entry_reg(e, ed->reg) &= ~ed->value;
		return;
	case EDIT_SET_BITS:
		e = table_get(t, ed->function, ed->index);
		if (e)
			*entry_reg(e, ed->reg) |= ed->value;
		return;
	case EDIT_SET_REG:
		e = table_get(t, ed->function, ed->index);
		if (e)
			*entry_reg(e, ed->reg) = ed->value;
		return;
	}
}

/* Build the table of @apic_id into freshly allocated memory. */
static int build_table(const struct kvmhost_x86_cpuid *c, uint32_t apic_id, struct cpuid_table *t, const char *func)
{
	if (!c)
		return kh_fail(EINVAL, func, "cpuid is NULL");
	if (apic_id >= c->ncpus)
		return kh_fail(EINVAL, func, "APIC ID %u is outside the topology of %u vCPUs", apic_id, c->ncpus);
	t->cap = c->nbase + TOPO_SPARE + c->nedits;
	t->n = c->nbase;
	t->e = calloc(t->cap, sizeof(*t->e));
	if (!t->e)
		return kh_fail(ENOMEM, func, "cannot allocate %u CPUID entries", t->cap);
	memcpy(t->e, c->base, c->nbase * sizeof(*t->e));
	apply_topology(c, t, apic_id);
	for (uint32_t i = 0; i < c->nedits; i++)
		apply_edit(t, &c->edits[i]);
	return 0;
}

KVMHOST_API int kvmhost_x86_cpuid_build(const struct kvmhost_x86_cpuid *cpuid, uint32_t apic_id,
					struct kvm_cpuid_entry2 *entries, uint32_t max, uint32_t *count)
{
	struct cpuid_table t;
	int r;

	if (!count)
		return KH_FAIL(EINVAL, "count is NULL");
	if (max && !entries)
		return KH_FAIL(EINVAL, "entries is NULL but max is %u", max);
	r = build_table(cpuid, apic_id, &t, __func__);
	if (r < 0)
		return r;
	*count = t.n;
	if (t.n > max) {
		free(t.e);
		return KH_FAIL(E2BIG, "the CPUID table of APIC ID %u has %u entries; the array holds %u", apic_id, t.n,
			       max);
	}
	memcpy(entries, t.e, t.n * sizeof(*t.e));
	free(t.e);
	return 0;
}

KVMHOST_API int kvmhost_x86_cpuid_apply(const struct kvmhost_x86_cpuid *cpuid, struct kvmhost_vcpu *vcpu)
{
	struct cpuid_table t;
	int r;

	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	r = build_table(cpuid, vcpu->id, &t, __func__);
	if (r < 0)
		return r;
	if (t.n > KVMHOST_X86_CPUID_MAX_ENTRIES) {
		r = KH_FAIL(E2BIG, "%s: vCPU %u: %u CPUID entries; KVM takes at most %u", vcpu->vm->name, vcpu->id, t.n,
			    KVMHOST_X86_CPUID_MAX_ENTRIES);
	} else {
		r = kvmhost_x86_vcpu_set_cpuid(vcpu, t.e, t.n);
	}
	free(t.e);
	return r;
}
