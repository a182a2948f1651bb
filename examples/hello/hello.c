/*
 * hello: the smallest VMM on libkvmhost's public API.
 *
 * It gives a VM 1 MiB of RAM, copies in a tiny 16-bit guest (hello_guest.S)
 * that writes "Hello from the guest\n" to port 0x3f8 one byte at a time and
 * then halts, and runs the vCPU: each OUT comes back as an I/O exit whose
 * byte we print; the HLT ends the program.
 */
#include <stdio.h>
#include <kvmhost/kvmhost.h>

#define GUEST_ADDR  0x1000 /* where hello_guest.S is linked to run */
#define RAM_SIZE    (1u << 20)
#define SERIAL_PORT 0x3f8

/* The guest image, embedded at build time. */
extern const unsigned char guest_hello_guest[], guest_hello_guest_end[];

static int fail(const char *what)
{
	fprintf(stderr, "hello: %s: %s\n", what, kvmhost_last_error());
	return 1;
}

int main(void)
{
	/* RAM at guest physical address 0, plain anonymous memory. */
	struct kvmhost_memory_options ram = {
	    .size = sizeof(ram), .length = RAM_SIZE, .backing = KVMHOST_MEMORY_ANONYMOUS};
	struct kvmhost_system *sys;
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	const struct kvmhost_exit *ex;

	if (kvmhost_system_open(NULL, &sys) < 0)
		return fail("cannot open KVM");
	if (kvmhost_vm_create(sys, NULL, &vm) < 0)
		return fail("cannot create the VM");
	if (kvmhost_vm_add_memory(vm, &ram, NULL) < 0)
		return fail("cannot add RAM");
	if (kvmhost_memory_write(kvmhost_vm_memory(vm), GUEST_ADDR, guest_hello_guest,
				 (size_t)(guest_hello_guest_end - guest_hello_guest)) < 0)
		return fail("cannot load the guest");
	if (kvmhost_vcpu_create(vm, 0, &vcpu) < 0)
		return fail("cannot create the vCPU");
	if (kvmhost_x86_vcpu_setup_real_mode(vcpu, 0, GUEST_ADDR) < 0)
		return fail("cannot set up real mode");

	for (;;) {
		if (kvmhost_vcpu_run(vcpu, &ex) < 0)
			return fail("run failed");
		if (ex->reason == KVMHOST_EXIT_HLT)
			break;
		if (ex->reason != KVMHOST_EXIT_IO || ex->io.port != SERIAL_PORT || !ex->io.is_write) {
			fprintf(stderr, "hello: unexpected %s exit\n", kvmhost_exit_reason_name(ex->reason));
			return 1;
		}
		/* One OUT: size bytes, count times (count > 1 only for REP OUTS). */
		fwrite(ex->io.data, ex->io.size, ex->io.count, stdout);
	}

	kvmhost_vm_destroy(vm); /* also destroys the vCPU and the RAM */
	kvmhost_system_close(sys);
	return 0;
}
