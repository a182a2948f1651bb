/*
 * kvm tier: system-wide queries and x86 VM calls. Capabilities and limits;
 * KVM's supported CPUID (non-empty, leaf 0 present) and MSR index list, with
 * the -E2BIG path reporting the needed count; in-kernel irqchip FULL then
 * PIT, the irqchip refused twice and after a vCPU exists, SPLIT on a fresh
 * VM; TSS / identity map / kvmclock; bad input of every call here. First,
 * on any host (KVM or not): kvmhost_system_open()'s own errors. On arm64
 * only the open errors and the limits (the rest is x86's interface).
 */
#include <errno.h>
#include <string.h>
#include <linux/kvm.h>

#include "kvm_test_util.h"

static void test_limits(struct kvmhost_system *sys)
{
	CHECK(kvmhost_system_check_extension(sys, KVM_CAP_USER_MEMORY) > 0);
	CHECK(kvmhost_system_max_vcpus(sys) > 0);
	CHECK(kvmhost_system_max_memslots(sys) > 0);
	CHECK(kvmhost_system_vcpu_mmap_size(sys) >= 4096);
	printf("system_test: max vCPUs %d, memslots %d, kvm_run mmap %d bytes, irqchip cap %d, split cap %d\n",
	       kvmhost_system_max_vcpus(sys), kvmhost_system_max_memslots(sys), kvmhost_system_vcpu_mmap_size(sys),
	       kvmhost_system_check_extension(sys, KVM_CAP_IRQCHIP),
	       kvmhost_system_check_extension(sys, KVM_CAP_SPLIT_IRQCHIP));
}

#if TEST_X86
static void test_cpuid(struct kvmhost_system *sys)
{
	struct kvm_cpuid_entry2 *e, small[2];
	uint32_t n = 0, needed = 0;
	int leaf0 = 0;

	CHECK(kvmhost_x86_system_get_supported_cpuid(sys, NULL, 0, &needed) == -E2BIG);
	CHECK(needed > 2 && kvmhost_last_error()[0]);
	CHECK(kvmhost_x86_system_get_supported_cpuid(sys, small, 2, &n) == -E2BIG && n == needed);
	CHECK(strstr(kvmhost_last_error(), "kvmhost_x86_system_get_supported_cpuid") != NULL);
	e = calloc(needed + 4, sizeof(*e));
	CHECK(e != NULL);
	n = 0;
	CHECK_OK(kvmhost_x86_system_get_supported_cpuid(sys, e, needed + 4, &n));
	CHECK(n == needed);
	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == 0) {
			leaf0 = 1;
			CHECK(e[i].eax >= 1); /* highest basic leaf */
		}
	CHECK(leaf0);
	printf("system_test: %u supported CPUID entries\n", n);
	free(e);

	CHECK(kvmhost_x86_system_get_supported_cpuid(NULL, small, 2, &n) == -EINVAL);
	CHECK(kvmhost_x86_system_get_supported_cpuid(sys, small, 2, NULL) == -EINVAL);
	CHECK(kvmhost_x86_system_get_supported_cpuid(sys, NULL, 2, &n) == -EINVAL && kvmhost_last_error()[0]);
}

static void test_msr_list(struct kvmhost_system *sys)
{
	uint32_t *idx, small[1], n = 0, needed = 0;
	int has_sysenter = 0;

	CHECK(kvmhost_x86_system_get_msr_index_list(sys, NULL, 0, &needed) == -E2BIG && needed > 1);
	CHECK(kvmhost_x86_system_get_msr_index_list(sys, small, 1, &n) == -E2BIG && n == needed);
	CHECK(kvmhost_last_error()[0]);
	idx = calloc(needed, sizeof(*idx));
	CHECK(idx != NULL);
	CHECK_OK(kvmhost_x86_system_get_msr_index_list(sys, idx, needed, &n));
	CHECK(n == needed);
	for (uint32_t i = 0; i < n; i++)
		has_sysenter |= idx[i] == 0x174;
	CHECK(has_sysenter);
	printf("system_test: %u MSRs in the index list\n", n);
	free(idx);

	CHECK(kvmhost_x86_system_get_msr_index_list(NULL, small, 1, &n) == -EINVAL);
	CHECK(kvmhost_x86_system_get_msr_index_list(sys, small, 1, NULL) == -EINVAL);
	CHECK(kvmhost_x86_system_get_msr_index_list(sys, NULL, 1, &n) == -EINVAL && kvmhost_last_error()[0]);
}

static void test_irqchip_full_pit(struct kvmhost_system *sys)
{
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;

	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	CHECK(kvmhost_x86_vm_create_pit(vm, 0) == -EINVAL && strstr(kvmhost_last_error(), "FULL irqchip"));
	CHECK(kvmhost_x86_vm_create_irqchip(vm, (enum kvmhost_x86_irqchip)3, 0) == -EINVAL);
	CHECK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_FULL, 24) == -EINVAL);
	CHECK_OK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_FULL, 0));
	CHECK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_FULL, 0) == -EEXIST && kvmhost_last_error()[0]);
	CHECK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_SPLIT, 24) == -EEXIST);
	CHECK(kvmhost_x86_vm_create_pit(vm, 0x80) == -EINVAL);
	CHECK_OK(kvmhost_x86_vm_create_pit(vm, KVM_PIT_SPEAKER_DUMMY));
	CHECK(kvmhost_x86_vm_create_pit(vm, 0) < 0 && kvmhost_last_error()[0]); /* KVM: one PIT */
	CHECK_OK(kvmhost_vm_set_irq_line(vm, 4, 1));
	CHECK_OK(kvmhost_vm_set_irq_line(vm, 4, 0));
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	kvmhost_vm_destroy(vm);
}

static void test_irqchip_after_vcpu(struct kvmhost_system *sys)
{
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;

	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	CHECK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_FULL, 0) == -EINVAL);
	CHECK(strstr(kvmhost_last_error(), "before any vCPU") != NULL);
	/* Destroying the vCPU does not help: KVM keeps it until the VM goes. */
	kvmhost_vcpu_destroy(vcpu);
	CHECK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_SPLIT, 24) == -EINVAL);
	kvmhost_vm_destroy(vm);
}

static void test_irqchip_split(struct kvmhost_system *sys)
{
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	struct kvm_lapic_state lapic;

	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	CHECK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_SPLIT, 0) == -EINVAL);
	CHECK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_SPLIT, 100000) == -EINVAL);
	CHECK_OK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_SPLIT, 24));
	CHECK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_SPLIT, 24) == -EEXIST);
	CHECK(kvmhost_x86_vm_create_pit(vm, 0) == -EINVAL); /* needs FULL */
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	CHECK_OK(kvmhost_x86_vcpu_get_lapic(vcpu, &lapic)); /* the LAPIC is in the kernel */
	kvmhost_vm_destroy(vm);
}

static void test_tss_identity_clock(struct kvmhost_system *sys)
{
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	struct kvm_clock_data c;

	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	CHECK(kvmhost_x86_vm_set_tss_addr(vm, 0xfffff000ull) == -EINVAL); /* 3 pages cross 4 GiB */
	CHECK(kvmhost_x86_vm_set_tss_addr(vm, 0xfeffd001ull) == -EINVAL);
	CHECK_OK(kvmhost_x86_vm_set_tss_addr(vm, 0xfeffd000ull));
	CHECK(kvmhost_x86_vm_set_identity_map_addr(vm, 1ull << 32) == -EINVAL);
	CHECK(kvmhost_x86_vm_set_identity_map_addr(vm, 0xfeffc800ull) == -EINVAL);
	CHECK_OK(kvmhost_x86_vm_set_identity_map_addr(vm, 0xfeffc000ull));

	CHECK_OK(kvmhost_x86_vm_get_clock(vm, &c));
	CHECK_OK(kvmhost_x86_vm_set_clock(vm, &c));
	CHECK(kvmhost_x86_vm_get_clock(vm, NULL) == -EINVAL && kvmhost_last_error()[0]);
	CHECK(kvmhost_x86_vm_set_clock(vm, NULL) == -EINVAL);
	CHECK(kvmhost_x86_vm_get_clock(NULL, &c) == -EINVAL);
	CHECK(kvmhost_x86_vm_set_clock(NULL, &c) == -EINVAL);

	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	/* KVM takes the identity map only before vCPUs. */
	CHECK(kvmhost_x86_vm_set_identity_map_addr(vm, 0xfeffc000ull) < 0 && kvmhost_last_error()[0]);
	kvmhost_vm_destroy(vm);

	CHECK(kvmhost_x86_vm_set_tss_addr(NULL, 0) == -EINVAL);
	CHECK(kvmhost_x86_vm_set_identity_map_addr(NULL, 0) == -EINVAL);
	CHECK(kvmhost_x86_vm_create_irqchip(NULL, KVMHOST_X86_IRQCHIP_FULL, 0) == -EINVAL);
	CHECK(kvmhost_x86_vm_create_pit(NULL, 0) == -EINVAL);
}
#endif

/* What kvmhost_system_open() must say without any KVM: these cases run on every host, before the skip. */
static void test_open_errors(void)
{
	struct kvmhost_system_options o = {.size = sizeof(o)};
	struct {
		struct kvmhost_system_options o;
		uint64_t tail;
	} newer = {.o = {.size = sizeof(newer)}, .tail = 1};
	struct kvmhost_system *sys = NULL;

	CHECK(kvmhost_system_open(NULL, NULL) == -EINVAL && kvmhost_last_error()[0]);
	o.size = 1;
	CHECK(kvmhost_system_open(&o, &sys) == -EINVAL && sys == NULL);
	CHECK(kvmhost_system_open(&newer.o, &sys) == -E2BIG && sys == NULL);
	o.size = sizeof(o);
	o.device_path = "/nonexistent/kvm";
	CHECK(kvmhost_system_open(&o, &sys) == -ENOENT && sys == NULL);
	CHECK(strstr(kvmhost_last_error(), "/nonexistent/kvm") != NULL);
	o.device_path = "/dev/null"; /* opens, but is no KVM */
	CHECK(kvmhost_system_open(&o, &sys) < 0 && sys == NULL);
	CHECK(strstr(kvmhost_last_error(), "KVM_GET_API_VERSION") != NULL);
	kvmhost_system_close(NULL);
	printf("system_test: open's errors without KVM: pass\n");
}

int main(void)
{
	struct kvmhost_system *sys;

	test_open_errors();
	sys = test_open_system();

	test_limits(sys);
#if TEST_X86
	test_cpuid(sys);
	test_msr_list(sys);
	test_irqchip_full_pit(sys);
	test_irqchip_after_vcpu(sys);
	test_irqchip_split(sys);
	test_tss_identity_clock(sys);
#endif
	kvmhost_system_close(sys);
	printf("system_test: pass\n");
	return TEST_PASS;
}
