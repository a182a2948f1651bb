/*
 * arm64 (built on arm64 only): a vCPU initialised with the preferred target and PSCI 0.2
 * (kvmhost_arm64_vcpu_init), its core registers through ONE_REG and its MPIDR read back, then the tiny guest
 * tests/guests-arm64/mmio_psci_off.S run through the arch-neutral kvmhost_vcpu_run(): an MMIO store, PSCI_VERSION
 * by HVC (answered by KVM, reported with a second MMIO store) and PSCI SYSTEM_OFF, which must end the run with
 * KVMHOST_EXIT_SYSTEM_EVENT of type KVM_SYSTEM_EVENT_SHUTDOWN; then a powered-off vCPU 1 with PMU and SVE where
 * offered (initialised, not run). Without a usable /dev/kvm it exits 77 (SKIP).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <kvmhost/arm64.h>
#include <kvmhost/kvmhost.h>

#include "kvm_test_util.h"

extern const unsigned char guest_arm64_mmio_psci_off[], guest_arm64_mmio_psci_off_end[];

#define RAM_BASE TEST_ARM64_RAM_BASE
#define RAM_SIZE TEST_ARM64_RAM_SIZE
#define DEV_BASE 0x10000000ull

static uint64_t mmio_value(const struct kvmhost_exit *e)
{
	uint64_t v = 0;

	memcpy(&v, e->mmio.data, e->mmio.len <= 8 ? e->mmio.len : 8);
	return v;
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct test_vm t;
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	const struct kvmhost_exit *e;
	size_t guest_size = (size_t)(guest_arm64_mmio_psci_off_end - guest_arm64_mmio_psci_off);
	uint64_t v, mpidr, psci_version = 0;
	uint32_t got;
	int stores = 0, shutdown = 0;

	test_vm_create_arm64(&t, sys, guest_arm64_mmio_psci_off, guest_size);
	vm = t.vm;
	vcpu = t.vcpu;
	/* Registers are refused before init (KVM: -ENOEXEC); bad arguments are refused by the library. */
	CHECK(kvmhost_arm64_vcpu_get_core_reg(vcpu, KVMHOST_ARM64_PC, &v) < 0);
	CHECK(kvmhost_arm64_vcpu_init(NULL, 0, &got) == -EINVAL);
	CHECK(kvmhost_arm64_vcpu_init(vcpu, 1u << 31, &got) == -EINVAL);
	CHECK_OK(kvmhost_arm64_vcpu_init(vcpu, 0, &got));
	CHECK(got == KVMHOST_ARM64_VCPU_PSCI_0_2);
	CHECK(kvmhost_arm64_vcpu_get_core_reg(vcpu, (enum kvmhost_arm64_core_reg)99, &v) == -EINVAL);
	CHECK(kvmhost_arm64_vcpu_core_reg_id((enum kvmhost_arm64_core_reg)99) == 0);

	/* KVM's reset state: EL1h with DAIF masked. */
	CHECK_OK(kvmhost_arm64_vcpu_get_core_reg(vcpu, KVMHOST_ARM64_PSTATE, &v));
	printf("pstate after init 0x%llx\n", (unsigned long long)v);
	CHECK(v == 0x3c5);
	CHECK_OK(kvmhost_arm64_vcpu_mpidr(vcpu, &mpidr));
	printf("vCPU 0: MPIDR affinity 0x%llx\n", (unsigned long long)mpidr);
	CHECK(mpidr == 0);

	/* Every general register, SP_EL0 and SP_EL1 round-trip through ONE_REG. */
	for (int i = 0; i <= 30; i++)
		CHECK_OK(kvmhost_arm64_vcpu_set_core_reg(vcpu, (enum kvmhost_arm64_core_reg)(KVMHOST_ARM64_X0 + i),
							 0x1111000000000000ull + (uint64_t)i));
	CHECK_OK(kvmhost_arm64_vcpu_set_core_reg(vcpu, KVMHOST_ARM64_SP, 0x2222));
	CHECK_OK(kvmhost_arm64_vcpu_set_core_reg(vcpu, KVMHOST_ARM64_SP_EL1, RAM_BASE + RAM_SIZE));
	for (int i = 0; i <= 30; i++) {
		CHECK_OK(
		    kvmhost_arm64_vcpu_get_core_reg(vcpu, (enum kvmhost_arm64_core_reg)(KVMHOST_ARM64_X0 + i), &v));
		CHECK(v == 0x1111000000000000ull + (uint64_t)i);
	}
	CHECK_OK(kvmhost_arm64_vcpu_get_core_reg(vcpu, KVMHOST_ARM64_SP, &v));
	CHECK(v == 0x2222);
	CHECK_OK(kvmhost_arm64_vcpu_get_core_reg(vcpu, KVMHOST_ARM64_SP_EL1, &v));
	CHECK(v == RAM_BASE + RAM_SIZE);
	/* The generic ONE_REG call sees the same register. */
	CHECK_OK(kvmhost_vcpu_get_one_reg(vcpu, kvmhost_arm64_vcpu_core_reg_id(KVMHOST_ARM64_X0 + 5), &v));
	CHECK(v == 0x1111000000000005ull);

	CHECK_OK(kvmhost_arm64_vcpu_set_core_reg(vcpu, KVMHOST_ARM64_PC, RAM_BASE));
	CHECK_OK(kvmhost_arm64_vcpu_get_core_reg(vcpu, KVMHOST_ARM64_PC, &v));
	CHECK(v == RAM_BASE);

	for (int n = 0; n < 16 && !shutdown; n++) {
		CHECK_OK(kvmhost_vcpu_run(vcpu, &e));
		switch (e->reason) {
		case KVMHOST_EXIT_MMIO:
			printf("exit %d: mmio %s 0x%llx len %u value 0x%llx\n", n, e->mmio.is_write ? "write" : "read",
			       (unsigned long long)e->mmio.addr, e->mmio.len, (unsigned long long)mmio_value(e));
			CHECK(e->mmio.is_write && e->mmio.len == 4);
			if (stores == 0) {
				CHECK(e->mmio.addr == DEV_BASE);
				CHECK(mmio_value(e) == 0x6b766d68);
			} else if (stores == 1) {
				CHECK(e->mmio.addr == DEV_BASE + 8);
				psci_version = mmio_value(e);
			} else {
				CHECK(!"a store after PSCI SYSTEM_OFF: SYSTEM_OFF returned to the guest");
			}
			stores++;
			break;
		case KVMHOST_EXIT_SYSTEM_EVENT:
			printf("exit %d: system event type %u (ndata %u)\n", n, e->system_event.type,
			       e->system_event.ndata);
			CHECK(e->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN);
			shutdown = 1;
			break;
		default:
			fprintf(stderr, "FAIL: unexpected exit %s (KVM exit %u)\n", kvmhost_exit_reason_name(e->reason),
				e->kvm_exit_reason);
			return 1;
		}
	}
	CHECK(stores == 2);
	CHECK(shutdown);
	/* PSCI 0.2 or later: major in bits 31-16, minor in 15-0. */
	printf("guest saw PSCI %llu.%llu\n", (unsigned long long)(psci_version >> 16),
	       (unsigned long long)(psci_version & 0xffff));
	CHECK(psci_version >= 2 && psci_version < 0x80000000u);
	CHECK_OK(kvmhost_arm64_vcpu_get_core_reg(vcpu, KVMHOST_ARM64_PC, &v));
	CHECK(v >= RAM_BASE && v < RAM_BASE + guest_size);

	kvmhost_vm_destroy(vm);

	/*
	 * A second VM (KVM may want every vCPU of a VM to have the same features): vCPU 1 powered off, with PMU and
	 * SVE where KVM offers them. It does not run (a PMU needs the vGIC, the next slice); it is initialised, SVE
	 * finalised, its MPIDR follows its id and it waits for PSCI CPU_ON.
	 */
	{
		struct kvm_mp_state mp;
		int pmu = kvmhost_system_check_extension(sys, KVM_CAP_ARM_PMU_V3) > 0;
		int sve = kvmhost_system_check_extension(sys, KVM_CAP_ARM_SVE) > 0;

		CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
		CHECK_OK(kvmhost_vcpu_create(vm, 1, &vcpu));
		CHECK_OK(kvmhost_arm64_vcpu_init(
		    vcpu, KVMHOST_ARM64_VCPU_POWER_OFF | KVMHOST_ARM64_VCPU_PMU | KVMHOST_ARM64_VCPU_SVE, &got));
		printf("vCPU 1: offered pmu %d sve %d, got flags 0x%x\n", pmu, sve, got);
		CHECK(got == (KVMHOST_ARM64_VCPU_PSCI_0_2 | KVMHOST_ARM64_VCPU_POWER_OFF |
			      (pmu ? KVMHOST_ARM64_VCPU_PMU : 0u) | (sve ? KVMHOST_ARM64_VCPU_SVE : 0u)));
		CHECK_OK(kvmhost_arm64_vcpu_mpidr(vcpu, &mpidr));
		printf("vCPU 1: MPIDR affinity 0x%llx\n", (unsigned long long)mpidr);
		CHECK(mpidr == 1);
		CHECK_OK(kvmhost_vcpu_get_mp_state(vcpu, &mp));
		CHECK(mp.mp_state == KVM_MP_STATE_STOPPED);
		kvmhost_vm_destroy(vm);
	}
	kvmhost_system_close(sys);
	printf("arm64_psci_test: passed\n");
	return 0;
}
