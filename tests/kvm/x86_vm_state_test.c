/*
 * kvm tier: the x86 state calls snapshot and migration need (x86.h, "State
 * for snapshot and migration"): MP state, the vCPU's CPUID table, TSC kHz,
 * KVMCLOCK_CTRL on a guest without kvmclock, the PIC/IOAPIC/PIT state round
 * trips, the kvmclock flags, KVM_CAP_EXCEPTION_PAYLOAD; and their refusals
 * (a bad chip id, no FULL irqchip, an unknown MP state, a TSC of 0 kHz, a
 * CPUID array too small).
 */
#include <errno.h>
#include <string.h>
#include <linux/kvm.h>

#include "kvm_test_util.h"

GUEST_DECLARE(hlt);

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvm_cpuid_entry2 cpuid[256];
	struct kvm_irqchip chip, chip2;
	struct kvm_pit_state2 pit, pit2;
	struct kvm_mp_state mp;
	struct test_vm t;
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	uint32_t n = 0, khz = 0;
	int r;

	/* A VM without an irqchip: the chip calls refuse. */
	test_vm_create_real(&t, sys, GUEST_BYTES(hlt), GUEST_SIZE(hlt));
	chip.chip_id = 0;
	CHECK(kvmhost_x86_vm_get_irqchip(t.vm, &chip) == -EINVAL);
	CHECK(strstr(kvmhost_last_error(), "FULL"));
	CHECK(kvmhost_x86_vm_get_pit(t.vm, &pit) == -EINVAL);
	test_vm_destroy(&t);

	{
		struct kvmhost_vm_options vo = {.size = sizeof(vo), .name = "x86-state"};

		CHECK_OK(kvmhost_vm_create(sys, &vo, &vm));
	}
	CHECK_OK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_FULL, 0));
	CHECK_OK(kvmhost_x86_vm_create_pit(vm, 0));
	r = kvmhost_x86_vm_enable_exception_payload(vm);
	CHECK(r == 0 || r == -ENOTSUP);
	if (r == 0)
		CHECK_OK(kvmhost_x86_vm_enable_exception_payload(vm)); /* idempotent */
	CHECK(kvmhost_x86_vm_clock_flags(vm) >= 0);
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));

	/* PIC master, slave, IOAPIC: a change round-trips */
	for (uint32_t id = 0; id < 3; id++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = id;
		CHECK_OK(kvmhost_x86_vm_get_irqchip(vm, &chip));
		if (id < 2)
			chip.chip.pic.imr = 0x5a;
		else
			chip.chip.ioapic.redirtbl[3].bits = 0x10000 | 0x31; /* masked, vector 0x31 */
		CHECK_OK(kvmhost_x86_vm_set_irqchip(vm, &chip));
		memset(&chip2, 0, sizeof(chip2));
		chip2.chip_id = id;
		CHECK_OK(kvmhost_x86_vm_get_irqchip(vm, &chip2));
		CHECK(id < 2 ? chip2.chip.pic.imr == 0x5a
			     : chip2.chip.ioapic.redirtbl[3].bits == chip.chip.ioapic.redirtbl[3].bits);
	}
	chip.chip_id = 3;
	CHECK(kvmhost_x86_vm_get_irqchip(vm, &chip) == -EINVAL);
	CHECK(kvmhost_x86_vm_set_irqchip(vm, &chip) == -EINVAL);

	CHECK_OK(kvmhost_x86_vm_get_pit(vm, &pit));
	CHECK_OK(kvmhost_x86_vm_set_pit(vm, &pit));
	CHECK_OK(kvmhost_x86_vm_get_pit(vm, &pit2));
	CHECK(pit2.channels[0].mode == pit.channels[0].mode && pit2.flags == pit.flags);

	/* MP state */
	CHECK_OK(kvmhost_vcpu_get_mp_state(vcpu, &mp));
	mp.mp_state = KVM_MP_STATE_UNINITIALIZED;
	CHECK_OK(kvmhost_vcpu_set_mp_state(vcpu, &mp));
	CHECK_OK(kvmhost_vcpu_get_mp_state(vcpu, &mp));
	CHECK(mp.mp_state == KVM_MP_STATE_UNINITIALIZED);

	/* CPUID: what was set comes back; too small an array says how many */
	CHECK_OK(kvmhost_x86_system_get_supported_cpuid(sys, cpuid, 256, &n));
	CHECK_OK(kvmhost_x86_vcpu_set_cpuid(vcpu, cpuid, n));
	CHECK_OK(kvmhost_x86_vcpu_get_cpuid(vcpu, cpuid, 256, &n));
	CHECK(n > 0);
	CHECK(kvmhost_x86_vcpu_get_cpuid(vcpu, cpuid, 1, &n) == -E2BIG && n > 1);

	/* TSC frequency: setting what it is works (without scaling, too) */
	r = kvmhost_x86_vcpu_get_tsc_khz(vcpu, &khz);
	CHECK(r == 0 || r == -ENOTSUP);
	if (r == 0) {
		CHECK(khz > 0);
		CHECK_OK(kvmhost_x86_vcpu_set_tsc_khz(vcpu, khz));
	}
	CHECK(kvmhost_x86_vcpu_set_tsc_khz(vcpu, 0) == -EINVAL);

	/* No kvmclock in this guest: nothing to tell */
	r = kvmhost_x86_vcpu_kvmclock_ctrl(vcpu);
	CHECK(r == 0 || r == -ENOTSUP);

	kvmhost_vm_destroy(vm);
	kvmhost_system_close(sys);
	printf("x86_vm_state_test: pass\n");
	return TEST_PASS;
}
