/*
 * Guide step 3 (docs/guide.md): a device of your own. A device is callbacks on an address range of a bus
 * (bus.h); a vCPU's I/O and MMIO exits go to kvmhost_bus_dispatch_exit(), which calls the device that claims
 * the address. This one, the "message device", has two ports: a read of 0x510 gives the next byte of a message
 * (0 at its end), a write of 0x511 says how many bytes the guest got. The serial console is a second device on
 * the same bus: a write-only port 0x3f8 whose bytes go to stdout. The guest (guide_port.S, 16-bit real mode)
 * copies the message from one device to the other and reports the count.
 * The machine layer takes a device of your own too, as a virtio device: KVMHOST_MACHINE_DEVICE_CUSTOM
 * (machine.h) and examples/virtio-device.
 * Exit status: 0; 1 on a failure; 77 (one line on stderr) where there is no usable /dev/kvm.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <kvmhost/kvmhost.h>

#define GUEST_ADDR 0x1000
#define RAM_SIZE   (1u << 20)
#define MSG_PORT   0x510 /* read: next byte; 0x511 write: bytes received */

extern const unsigned char guest_guide_port[], guest_guide_port_end[];

struct message_device {
	const char *text;
	size_t next;  /* the byte the next read returns */
	unsigned got; /* what the guest wrote to MSG_PORT + 1 */
	int reported; /* 1 once it did */
};

/* Reads: offset 0 is MSG_PORT. Bytes not set read as all ones (bus.h), so set every byte asked for. */
static int message_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct message_device *d = opaque;

	memset(data, 0, len);
	if (offset == 0 && d->text[d->next])
		*(uint8_t *)data = (uint8_t)d->text[d->next++];
	return 0;
}

static int message_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct message_device *d = opaque;

	if (offset == 1 && len == 1) {
		d->got = *(const uint8_t *)data;
		d->reported = 1;
	}
	return 0;
}

/* The serial console: only its data register, write-only. */
static int serial_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)opaque;
	if (offset == 0)
		fwrite(data, 1, len, stdout);
	return 0;
}

static int fail(const char *what)
{
	fprintf(stderr, "step3_device: %s: %s\n", what, kvmhost_last_error());
	return 1;
}

int main(void)
{
	struct kvmhost_memory_options ram = {
	    .size = sizeof(ram), .length = RAM_SIZE, .backing = KVMHOST_MEMORY_ANONYMOUS};
	struct message_device msg = {.text = "Hello from a device of my own\n"};
	struct kvmhost_bus_range msg_range = {.size = sizeof(msg_range),
					      .base = MSG_PORT,
					      .length = 2,
					      .read = message_read,
					      .write = message_write,
					      .opaque = &msg,
					      .name = "message"};
	struct kvmhost_bus_range com1 = {
	    .size = sizeof(com1), .base = 0x3f8, .length = 8, .write = serial_write, .name = "com1"};
	struct kvmhost_system *sys;
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	struct kvmhost_bus *pio;
	const struct kvmhost_exit *ex;

	if (kvmhost_system_open(NULL, &sys) < 0) {
		fprintf(stderr, "SKIP: step3_device: no usable KVM here: %s\n", kvmhost_last_error());
		return 77;
	}
	if (kvmhost_vm_create(sys, NULL, &vm) < 0) {
		fprintf(stderr, "SKIP: step3_device: KVM cannot create a VM here: %s\n", kvmhost_last_error());
		kvmhost_system_close(sys);
		return 77;
	}
	/* The bus and its two devices. */
	if (kvmhost_bus_create("pio", &pio) < 0 || kvmhost_bus_register(pio, &msg_range) < 0 ||
	    kvmhost_bus_register(pio, &com1) < 0)
		return fail("cannot set up the bus");
	/* The VM as in step 1. */
	if (kvmhost_vm_add_memory(vm, &ram, NULL) < 0 ||
	    kvmhost_memory_write(kvmhost_vm_memory(vm), GUEST_ADDR, guest_guide_port,
				 (size_t)(guest_guide_port_end - guest_guide_port)) < 0 ||
	    kvmhost_vcpu_create(vm, 0, &vcpu) < 0 || kvmhost_x86_vcpu_setup_real_mode(vcpu, 0, GUEST_ADDR) < 0)
		return fail("cannot set up the VM");

	/* Every I/O exit goes to the bus; the HLT ends the run. */
	for (;;) {
		if (kvmhost_vcpu_run(vcpu, &ex) < 0)
			return fail("run failed");
		if (ex->reason == KVMHOST_EXIT_HLT)
			break;
		if (kvmhost_bus_dispatch_exit(pio, NULL, ex) != 0) {
			fprintf(stderr, "step3_device: unhandled %s exit\n", kvmhost_exit_reason_name(ex->reason));
			return 1;
		}
	}
	kvmhost_vm_destroy(vm);
	kvmhost_bus_destroy(pio);
	kvmhost_system_close(sys);
	if (!msg.reported || msg.got != strlen(msg.text)) {
		fprintf(stderr, "step3_device: the guest got %u bytes of %zu\n", msg.got, strlen(msg.text));
		return 1;
	}
	printf("the guest reported %u bytes\n", msg.got);
	return 0;
}
