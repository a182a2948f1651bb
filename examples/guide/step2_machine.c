/*
 * Guide step 2 (docs/guide.md): the same on the machine layer (machine.h), with a virtio disk. One options
 * struct names the machine: a Multiboot kernel (guide_disk.S, embedded), 4 MiB of RAM, one vCPU, COM1 on our
 * stdout, one virtio-blk on a disk image on virtio-mmio, and (x86) a debug-exit port the guest writes its
 * status to. kvmhost_machine_create() builds all of it; the machine runs its vCPU in a thread of its own. The
 * guest reads sector 0 of the disk over virtio and prints its first line on COM1, then writes 0 to the
 * debug-exit port, which stops the machine.
 * Usage: step2_machine [IMAGE]   (default: a temporary image holding one line of text)
 * Exit status: 0; 1 on a failure; 77 (one line on stderr) where there is no usable /dev/kvm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>

/* The kernel, embedded at build time (cmake/KvmhostMultibootGuest.cmake). */
extern const unsigned char mbguest_guide_disk[], mbguest_guide_disk_end[];

/* A 1 MiB image whose sector 0 starts with one line of text. */
static int make_image(char *path, const char *text)
{
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/step2-disk-XXXXXX";
	const char *image = argc > 1 ? argv[1] : tmp;
	struct kvmhost_system *sys;

	if (kvmhost_system_open(NULL, &sys) < 0) {
		fprintf(stderr, "SKIP: step2_machine: no usable KVM here: %s\n", kvmhost_last_error());
		return 77;
	}
	kvmhost_system_close(sys);
	if (argc <= 1 && make_image(tmp, "Hello from the virtio disk\n") < 0) {
		perror("step2_machine: cannot write the disk image");
		return 1;
	}

	struct kvmhost_machine_serial serial = {.size = sizeof(serial), .in_fd = -1, .out_fd = STDOUT_FILENO};
	struct kvmhost_machine_device disk = {
	    .type = KVMHOST_MACHINE_DEVICE_BLK, .id = "disk0", .path = image, .in_fd = -1, .out_fd = -1};
	struct kvmhost_machine_x86_options x86 = {.size = sizeof(x86), .debug_exit_port = 0xf4};
	struct kvmhost_machine_options o = {
	    .size = sizeof(o),
	    .name = "step2",
	    .kernel = mbguest_guide_disk,
	    .kernel_size = (size_t)(mbguest_guide_disk_end - mbguest_guide_disk),
	    .kernel_format = KVMHOST_X86_BOOT_MULTIBOOT,
	    .ram_size = 4u << 20,
	    .vcpu_count = 1,
	    .serial = &serial,
	    .devices = &disk,
	    .device_count = 1,
	    .device_size = sizeof(disk),
	    .transport = KVMHOST_MACHINE_TRANSPORT_MMIO,
	    .arch_options = &x86,
	};
	struct kvmhost_machine_stop_info stop = {.size = sizeof(stop)};
	struct kvmhost_machine *m;
	int ok;

	if (kvmhost_machine_create(&o, &m) < 0) {
		fprintf(stderr, "step2_machine: cannot create the machine: %s\n", kvmhost_last_error());
		return 1;
	}
	if (kvmhost_machine_start(m) < 0 || kvmhost_machine_wait(m, 30000) < 0) {
		fprintf(stderr, "step2_machine: %s\n", kvmhost_last_error());
		kvmhost_machine_destroy(m);
		return 1;
	}
	kvmhost_machine_get_stop_info(m, &stop);
	ok = stop.reason == KVMHOST_MACHINE_STOP_DEBUG_EXIT && stop.debug_exit_status == 0;
	if (!ok)
		fprintf(stderr, "step2_machine: stopped: %s (%s, status %llu)\n",
			kvmhost_machine_stop_reason_name(stop.reason), stop.message,
			(unsigned long long)stop.debug_exit_status);
	kvmhost_machine_destroy(m);
	if (argc <= 1)
		unlink(tmp);
	return ok ? 0 : 1;
}
