/*
 * kvm tier: Hyper-V enlightenments on KVM's own Hyper-V emulation (machine_x86.h: hyperv). A tiny Multiboot
 * kernel (tests/guests-multiboot/mb_hyperv.S) checks, from inside the guest, the Hyper-V CPUID leaves, KVM's
 * leaves moved to 0x40000100, the VP index MSR and the reference time counter, and reports through debug-exit.
 * With the enlightenments every check must pass; without them check 1 must fail (the leaves are KVM's), so the
 * guest's checks are shown to see the difference. Refused sets (SYNIC without VPINDEX, unknown bits) fail the
 * create before KVM. Skips with one line without KVM, or when this KVM offers no Hyper-V CPUID list.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <kvmhost/x86.h>
#include <kvmhost/x86_platform.h>

#include "machine_test_util.h"

MBGUEST_DECLARE(mb_hyperv);

static uint64_t run_guest(uint32_t hyperv)
{
	struct mt_machine t;
	struct kvmhost_machine_stop_info s;

	mt_options(&t, hyperv ? "hyperv" : "plain", MBGUEST_BYTES(mb_hyperv), MBGUEST_SIZE(mb_hyperv));
	t.x86.hyperv = hyperv;
	mt_create(&t);
	CHECK_OK(kvmhost_machine_start(t.m));
	CHECK_OK(kvmhost_machine_wait(t.m, 20000));
	s = mt_stop_info(t.m);
	if (s.reason != KVMHOST_MACHINE_STOP_DEBUG_EXIT) {
		fprintf(stderr, "FAIL: the guest stopped with %s (%s), not through debug-exit\n",
			kvmhost_machine_stop_reason_name(s.reason), s.message);
		exit(TEST_FAIL);
	}
	mt_destroy(&t);
	return s.debug_exit_status;
}

int main(void)
{
	const uint32_t all = KVMHOST_X86_HV_TIME | KVMHOST_X86_HV_SYNIC | KVMHOST_X86_HV_STIMER |
			     KVMHOST_X86_HV_VPINDEX | KVMHOST_X86_HV_RELAXED;
	struct kvm_cpuid_entry2 hv[64];
	struct kvmhost_system *sys;
	struct kvmhost_machine *m = NULL;
	struct mt_machine t;
	uint32_t n = 0;
	uint64_t status;

	/* Refused before KVM is opened: the set's own rules. */
	mt_options(&t, "bad", MBGUEST_BYTES(mb_hyperv), MBGUEST_SIZE(mb_hyperv));
	t.x86.hyperv = KVMHOST_X86_HV_SYNIC;
	CHECK(kvmhost_machine_check(&t.o) == -EINVAL && strstr(kvmhost_last_error(), "hv-vpindex"));
	t.x86.hyperv = 1u << 20;
	CHECK(kvmhost_machine_create(&t.o, &m) == -EINVAL && m == NULL);
	mt_destroy(&t);

	sys = test_open_system();
	if (kvmhost_x86_system_get_supported_hv_cpuid(sys, hv, 64, &n) == -ENOTSUP)
		SKIP("this KVM has no KVM_GET_SUPPORTED_HV_CPUID: %s", kvmhost_last_error());
	CHECK(n > 0);
	kvmhost_system_close(sys);

	status = run_guest(0);
	printf("machine_hyperv_test: without enlightenments the guest's first failed check is %llu (want 1)\n",
	       (unsigned long long)status);
	CHECK(status == 1);
	status = run_guest(all);
	printf("machine_hyperv_test: with hv-time, hv-synic, hv-stimer, hv-vpindex, hv-relaxed: guest status %llu "
	       "(want 0)\n",
	       (unsigned long long)status);
	CHECK(status == 0);
	printf("machine_hyperv_test: pass\n");
	return TEST_PASS;
}
