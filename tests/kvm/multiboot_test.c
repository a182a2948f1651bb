/*
 * kvm tier: a Multiboot kernel booted end to end. The tiny a.out-kludge
 * kernel tests/guests-multiboot/mb_hello.S is loaded with
 * kvmhost_x86_boot_load_multiboot() (command line, one module, a PC-like
 * e820 map) into RAM pre-filled with garbage, the vCPU is put in 32-bit
 * protected mode with EAX/EBX from the boot info, and its port I/O is
 * handled here directly (no device models): it must print "MB:" plus the
 * command line's first character and the module's first byte on COM1, then
 * write status 0 (every check of the MBI passed) to the debug-exit port.
 */
#include <errno.h>
#include <string.h>
#include <kvmhost/x86_boot.h>

#include "kvm_test_util.h"
#include "guests-multiboot/mbguests.h"

MBGUEST_DECLARE(mb_hello);

#define RAM_SIZE (4u << 20)

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};
	struct kvmhost_x86_e820_entry e820[] = {
	    {0, 0x9fc00, KVMHOST_X86_E820_RAM},
	    {0x9fc00, 0x400, KVMHOST_X86_E820_RESERVED},
	    {0xf0000, 0x10000, KVMHOST_X86_E820_RESERVED},
	    {0x100000, RAM_SIZE - 0x100000, KVMHOST_X86_E820_RAM},
	};
	struct kvmhost_x86_boot_module mod = {.data = "Qmodule", .size = 7, .cmdline = "mod"};
	struct kvmhost_memory_region *ram;
	struct kvmhost_vcpu *vcpu;
	struct kvmhost_vm *vm;
	char out[64] = "";
	size_t out_len = 0;
	int status = -1, r;

	r = kvmhost_vm_create(sys, NULL, &vm);
	if (r == -EACCES || r == -EPERM)
		SKIP("cannot create a VM: %s", kvmhost_last_error());
	CHECK(r == 0);
	mo.length = RAM_SIZE;
	mo.backing = KVMHOST_MEMORY_ANONYMOUS;
	mo.name = "mb-ram";
	CHECK_OK(kvmhost_vm_add_memory(vm, &mo, &ram));
	/* Garbage everywhere: the loader must zero the kernel's bss itself. */
	memset(kvmhost_memory_region_host_addr(ram), 0xff, RAM_SIZE);
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));

	o.cmdline = "Z-multiboot-test";
	o.modules = &mod;
	o.module_count = 1;
	o.e820 = e820;
	o.e820_count = 4;
	CHECK_OK(kvmhost_x86_boot_load_multiboot(kvmhost_vm_memory(vm), MBGUEST_BYTES(mb_hello), MBGUEST_SIZE(mb_hello),
						 &o, &info));
	CHECK(info.format == KVMHOST_X86_BOOT_MULTIBOOT);
	CHECK(info.kind == KVMHOST_X86_ENTRY_MULTIBOOT_32);
	CHECK(info.kernel_start == KVMHOST_MBGUEST_LOAD_ADDR);
	CHECK(info.entry > info.kernel_start && info.entry < info.kernel_end);
	CHECK(info.rax == KVMHOST_X86_MULTIBOOT_BOOTLOADER_MAGIC);
	CHECK(info.rbx == info.mbi_gpa && info.mbi_gpa != 0);
	CHECK(info.module_count == 1);
	CHECK_OK(
	    kvmhost_x86_vcpu_setup_protected_mode(vcpu, (uint32_t)info.entry, (uint32_t)info.rax, (uint32_t)info.rbx));

	for (int exits = 0; status < 0; exits++) {
		const struct kvmhost_exit *e;

		CHECK(exits < 1000);
		CHECK_OK(kvmhost_vcpu_run(vcpu, &e));
		if (e->reason == KVMHOST_EXIT_KICKED)
			continue;
		if (e->reason != KVMHOST_EXIT_IO) {
			if (test_kvm_is_pvm() && exits == 0 &&
			    (e->reason == KVMHOST_EXIT_INTERNAL_ERROR || e->reason == KVMHOST_EXIT_FAIL_ENTRY ||
			     e->reason == KVMHOST_EXIT_SHUTDOWN))
				SKIP("the nested PVM /dev/kvm does not run 32-bit protected mode without paging (%s)",
				     kvmhost_exit_reason_name(e->reason));
			fprintf(stderr, "unexpected exit %s after \"%.*s\"\n", kvmhost_exit_reason_name(e->reason),
				(int)out_len, out);
			CHECK(e->reason == KVMHOST_EXIT_IO);
		}
		CHECK(e->io.is_write && e->io.size == 1);
		if (e->io.port == 0x3f8) {
			CHECK(out_len + e->io.count < sizeof(out));
			memcpy(out + out_len, e->io.data, e->io.count);
			out_len += e->io.count;
			out[out_len] = '\0';
		} else {
			CHECK(e->io.port == 0xf4);
			status = e->io.data[0];
		}
	}
	printf("multiboot_test: guest printed \"%.*s\", exit status %d\n", (int)(out_len ? out_len - 1 : 0), out,
	       status);
	CHECK(status == 0);
	CHECK(strcmp(out, "MB:ZQ\n") == 0);

	kvmhost_vm_destroy(vm);
	kvmhost_system_close(sys);
	printf("multiboot_test: pass\n");
	return TEST_PASS;
}
