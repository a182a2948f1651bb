/*
 * arm64 (built on arm64 only): a reboot of the arm64 machine gives the next boot a vGIC in its power-on state
 * (lib/arch/arm64/gic_state.c, kh_machine_arch_reboot). The tiny Image tests/guests-arm64/gic_reset_image.S
 * reads distributor, redistributor, ITS and CPU-interface registers on its first boot, changes them all (the
 * distributor and an SPI enabled and pending, a PPI, the LPI tables and GICR_CTLR.EnableLPIs, the ITS's command
 * queue and GITS_CTLR.Enabled, ICC_PMR_EL1, ICC_IGRPEN1_EL1), resets by PSCI SYSTEM_RESET, and on its second
 * boot prints each register as "ok" (as first found) or "stale". KVM_ARM_VCPU_INIT alone resets none of the
 * distributor's or redistributors' state: without the vGIC reset every line but those of the CPU interface says
 * "stale". Whether the machine has an ITS (KVM may offer none) is asked of a VM made for the purpose and told
 * to the guest in its RAM; without one the GITS lines compare zeros. kvmhost_machine_wait() is given 120 s as a
 * hang guard. Without a usable /dev/kvm: exit 77 (SKIP).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <kvmhost/arm64.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/machine.h>

#include "kvm_test_util.h"

extern const unsigned char guest_arm64_gic_reset_image[], guest_arm64_gic_reset_image_end[];

#define SCRATCH 0x40800000ull

static const char want[] = "boot 1\nboot 2\n"
			   "GICD_CTLR ok\nGICD_ISENABLER1 ok\nGICD_ISPENDR1 ok\nGICD_IPRIORITYR ok\n"
			   "GICR_CTLR ok\nGICR_PROPBASER ok\nGICR_PENDBASER ok\nGICR_ISENABLER0 ok\nGICR_ISPENDR0 ok\n"
			   "GITS_CTLR ok\nGITS_CBASER ok\nGITS_BASER0 ok\nICC_PMR_EL1 ok\nICC_IGRPEN1_EL1 ok\n";

/* Does this KVM give the machine an ITS? The machine asks the same way (its_base set, has_its after). */
static int kvm_has_its(void)
{
	struct kvmhost_arm64_gic_options go = {
	    .size = sizeof(go), .dist_base = 0x08000000ull, .redist_base = 0x080a0000ull, .its_base = 0x08080000ull};
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_vm *vm;
	struct kvmhost_arm64_gic *gic;
	int its;

	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	CHECK_OK(kvmhost_arm64_gic_create(vm, &go, &gic));
	its = kvmhost_arm64_gic_has_its(gic);
	kvmhost_arm64_gic_destroy(gic);
	kvmhost_vm_destroy(vm);
	kvmhost_system_close(sys);
	return its;
}

int main(void)
{
	struct kvmhost_machine_serial s;
	struct kvmhost_machine_options o;
	struct kvmhost_machine_stop_info si = {.size = sizeof(si)};
	struct kvmhost_machine *m;
	char output[4096];
	uint64_t its_flag, boots = 0;
	int out, its;

	its = kvm_has_its();
	printf("ITS: %s\n", its ? "yes" : "no");
	out = memfd_create("arm64-gic-reset-out", MFD_CLOEXEC);
	CHECK(out >= 0);
	test_machine_options_arm64(&o, &s, "arm64-gic-reset", guest_arm64_gic_reset_image,
				   (size_t)(guest_arm64_gic_reset_image_end - guest_arm64_gic_reset_image), out);
	o.on_reset = KVMHOST_MACHINE_RESET_REBOOT;
	m = test_machine_create(&o);
	its_flag = (uint64_t)its;
	CHECK_OK(kvmhost_memory_write(kvmhost_machine_memory(m), SCRATCH + 8, &its_flag, 8));
	CHECK_OK(kvmhost_machine_start(m));
	CHECK_OK(kvmhost_machine_wait(m, 120000));
	CHECK_OK(kvmhost_machine_get_stop_info(m, &si));
	test_read_fd(out, output, sizeof(output));
	printf("stopped: %s; guest output:\n%s--\n", kvmhost_machine_stop_reason_name(si.reason), output);
	CHECK(si.reason == KVMHOST_MACHINE_STOP_POWEROFF);
	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), SCRATCH, &boots, 8));
	CHECK(boots == 2);
	CHECK(strcmp(output, want) == 0);
	kvmhost_machine_destroy(m);
	close(out);
	printf("arm64_gic_reset_test: passed\n");
	return 0;
}
