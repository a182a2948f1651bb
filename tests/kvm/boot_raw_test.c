/*
 * kvm tier: the raw loader feeds a real VM. The hlt guest is loaded with
 * kvmhost_x86_boot_load_raw() over a different image already in memory, the
 * vCPU starts in real mode at the reported entry, and the guest must halt;
 * then an image that does not fit is refused without touching memory.
 */
#include <errno.h>
#include <string.h>
#include <kvmhost/x86_boot.h>

#include "kvm_test_util.h"

GUEST_DECLARE(hlt);
GUEST_DECLARE(pio);

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};
	const struct kvmhost_exit *e;
	struct test_vm t;
	uint8_t before[64];

	/* Memory starts out holding the pio guest at the load address. */
	test_vm_create_real(&t, sys, GUEST_BYTES(pio), GUEST_SIZE(pio));
	CHECK_OK(kvmhost_x86_boot_load_raw(kvmhost_vm_memory(t.vm), GUEST_BYTES(hlt), GUEST_SIZE(hlt),
					   KVMHOST_GUEST_LOAD_ADDR, NULL, &info));
	CHECK(info.kind == KVMHOST_X86_ENTRY_RAW);
	CHECK(info.entry == KVMHOST_GUEST_LOAD_ADDR);
	CHECK(info.kernel_end == KVMHOST_GUEST_LOAD_ADDR + GUEST_SIZE(hlt));
	CHECK(memcmp(t.ram_host + KVMHOST_GUEST_LOAD_ADDR, GUEST_BYTES(hlt), GUEST_SIZE(hlt)) == 0);
	CHECK_OK(kvmhost_x86_vcpu_setup_real_mode(t.vcpu, 0, (uint16_t)info.entry));
	e = test_run(&t);
	CHECK(e->reason == KVMHOST_EXIT_HLT);

	memcpy(before, t.ram_host + t.ram_size - sizeof(before), sizeof(before));
	CHECK(kvmhost_x86_boot_load_raw(kvmhost_vm_memory(t.vm), GUEST_BYTES(pio), GUEST_SIZE(pio), t.ram_size - 1,
					NULL, &info) == -EFAULT);
	CHECK(memcmp(before, t.ram_host + t.ram_size - sizeof(before), sizeof(before)) == 0);

	test_vm_destroy(&t);
	kvmhost_system_close(sys);
	printf("boot_raw_test: pass\n");
	return TEST_PASS;
}
