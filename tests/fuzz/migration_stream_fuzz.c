/*
 * libFuzzer target: the migration stream reader (lib/migration/stream.c)
 * with the x86 state decoders and the device registry's container check
 * behind it, as kvmhost_machine_restore() uses them, on arbitrary bytes:
 * the destination is a machine of 2 vCPUs with 1 MiB of RAM at 1 MiB in a
 * standalone guest memory map (no KVM). Invariants: no crash, no leak, no
 * access outside the buffers (ASan/UBSan); a refusal always leaves a
 * message; an accepted stream's counts add up to what its memory sections
 * held, inside RAM.
 * Sizes with bit 1 set accept a diff snapshot (format 1.1: the lineage
 * block), as kvmhost_machine_restore_chain() does; others refuse one.
 * Seeds: make_migration_corpus.py (tests/fuzz/corpus/migration_stream/).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <kvmhost/kvmhost.h>

#include "../../lib/migration/migration_arch.h"
#include "../../lib/migration/stream.h"

#define RAM_GPA	 0x100000ull
#define RAM_SIZE 0x100000ull

static struct kvmhost_memory *mem;

static int section(void *opaque, uint32_t id, uint32_t instance, const uint8_t *data, size_t len)
{
	struct kh_mig_arch_vcpu *cpu;
	struct kh_mig_arch_vm *vm;
	int r = 0;

	(void)opaque;
	(void)instance;
	if (id == KH_MIG_SEC_VM && (r = kh_mig_arch_decode_vm(data, len, &vm)) == 0)
		kh_mig_arch_free_vm(vm);
	else if (id == KH_MIG_SEC_VCPU && (r = kh_mig_arch_decode_vcpu(data, len, &cpu)) == 0)
		kh_mig_arch_free_vcpu(cpu);
	else if (id == KH_MIG_SEC_DEVICES)
		r = kvmhost_device_registry_inspect(data, len, NULL, NULL) < 0 ? -EINVAL : 0;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kh_mig_range ram = {RAM_GPA, RAM_SIZE};
	static const uint32_t virtio_index[1] = {0};
	struct kh_mig_io io = {.fd = -1, .in = data, .in_len = size};
	struct kh_mig_lineage lin;
	struct kh_mig_dest d = {.arch = KH_MIG_ARCH_X86_64,
				.vcpus = 2,
				.ram = &ram,
				.nranges = 1,
				.mem = NULL,
				.virtio = size & 1, /* odd sizes expect one virtio device section */
				.virtio_index = virtio_index,
				.section = section,
				/* sizes with bit 1 set accept a diff snapshot (format 1.1), as restore_chain does */
				.accept_flags = size & 2 ? KH_MIG_FLAG_DIFF : 0,
				.lineage = &lin};
	struct kh_mig_counts c;
	int r;

	if (!mem) {
		struct kvmhost_memory_options o = {.size = sizeof(o)};

		o.guest_phys_addr = RAM_GPA;
		o.length = RAM_SIZE;
		o.backing = KVMHOST_MEMORY_ANONYMOUS;
		o.name = "fuzz-ram";
		if (kvmhost_memory_create(&mem) < 0 || kvmhost_memory_add_region(mem, &o, NULL) < 0)
			abort();
	}
	d.mem = mem;
	r = kh_mig_read(&io, &d, &c);
	if (r < 0 && !kvmhost_last_error()[0])
		abort(); /* every refusal says why */
	if (r == 0 && (c.data_pages + c.zero_pages) * 4096 > size * 4096 + (uint64_t)c.sections * (RAM_SIZE + 4096))
		abort();
	if (r == 0 && c.vcpus != 2)
		abort();
	/* an accepted diff always names its base and its parent */
	if (r == 0 && (size & 2) && lin.generation &&
	    (!memcmp(lin.base, (uint8_t[16]){0}, 16) || !memcmp(lin.parent, (uint8_t[16]){0}, 16)))
		abort();
	return 0;
}
