/*
 * Guide step 1 (docs/guide.md): a VM from the primitives. Open KVM, create a VM, give it 1 MiB of RAM, copy in
 * the tiny 16-bit guest of examples/hello (hello_guest.S: it writes "Hello from the guest\n" to port 0x3f8 and
 * halts), create a vCPU in real mode at the guest's first byte, and run it: each OUT is an I/O exit whose bytes
 * are the serial console's output; the HLT ends the program.
 * Exit status: 0; 1 on a failure; 77 (one line on stderr) where there is no usable /dev/kvm.
 */
#include <stdio.h>
#include <kvmhost/kvmhost.h>

#define GUEST_ADDR  0x1000 /* where hello_guest.S is linked to run */
#define RAM_SIZE    (1u << 20)
#define SERIAL_PORT 0x3f8

/* The guest image, embedded at build time (cmake/KvmhostGuest.cmake). */
extern const unsigned char guest_hello_guest[], guest_hello_guest_end[];

static int fail(const char *what)
{
	fprintf(stderr, "step1_vm: %s: %s\n", what, kvmhost_last_error());
	return 1;
}

int main(void)
{
	struct kvmhost_memory_options ram = {
	    .size = sizeof(ram), .length = RAM_SIZE, .backing = KVMHOST_MEMORY_ANONYMOUS};
	struct kvmhost_system *sys;
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	const struct kvmhost_exit *ex;

	/* 1. KVM itself, then a VM: without a usable /dev/kvm, say so in one line and skip. */
	if (kvmhost_system_open(NULL, &sys) < 0) {
		fprintf(stderr, "SKIP: step1_vm: no usable KVM here: %s\n", kvmhost_last_error());
		return 77;
	}
	if (kvmhost_vm_create(sys, NULL, &vm) < 0) {
		fprintf(stderr, "SKIP: step1_vm: KVM cannot create a VM here: %s\n", kvmhost_last_error());
		kvmhost_system_close(sys);
		return 77;
	}
	/* 2. RAM at guest physical address 0, and the guest's code in it. */
	if (kvmhost_vm_add_memory(vm, &ram, NULL) < 0)
		return fail("cannot add RAM");
	if (kvmhost_memory_write(kvmhost_vm_memory(vm), GUEST_ADDR, guest_hello_guest,
				 (size_t)(guest_hello_guest_end - guest_hello_guest)) < 0)
		return fail("cannot load the guest");
	/* 3. One vCPU, in real mode, CS:IP at the guest's entry. */
	if (kvmhost_vcpu_create(vm, 0, &vcpu) < 0)
		return fail("cannot create the vCPU");
	if (kvmhost_x86_vcpu_setup_real_mode(vcpu, 0, GUEST_ADDR) < 0)
		return fail("cannot set up real mode");

	/* 4. Run it: the serial console is whatever the guest writes to port 0x3f8. */
	for (;;) {
		if (kvmhost_vcpu_run(vcpu, &ex) < 0)
			return fail("run failed");
		if (ex->reason == KVMHOST_EXIT_HLT)
			break;
		if (ex->reason != KVMHOST_EXIT_IO || ex->io.port != SERIAL_PORT || !ex->io.is_write) {
			fprintf(stderr, "step1_vm: unexpected %s exit\n", kvmhost_exit_reason_name(ex->reason));
			return 1;
		}
		fwrite(ex->io.data, ex->io.size, ex->io.count, stdout);
	}

	kvmhost_vm_destroy(vm); /* also destroys the vCPU and the RAM */
	kvmhost_system_close(sys);
	return 0;
}
