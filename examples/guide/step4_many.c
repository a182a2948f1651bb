/*
 * Guide step 4 (docs/guide.md): many VMs in one process. Nothing in libkvmhost is global, so several machines
 * are just several kvmhost_machine_create() calls: here MACHINES machines of step 2 (the guide_disk.S kernel,
 * a virtio-blk each), each with a disk image of its own and its COM1 into a pipe of its own, all started, then
 * waited for; each one's console output is printed under its name.
 * Exit status: 0; 1 on a failure; 77 (one line on stderr) where there is no usable /dev/kvm.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>

#define MACHINES 3

extern const unsigned char mbguest_guide_disk[], mbguest_guide_disk_end[];

struct vmm {
	char name[16];
	char image[32];
	int out[2]; /* COM1: the machine writes out[1], we read out[0] */
	struct kvmhost_machine_serial serial;
	struct kvmhost_machine_device disk;
	struct kvmhost_machine_x86_options x86;
	struct kvmhost_machine_options o;
	struct kvmhost_machine *m;
};

/* Options of machine @i: as step 2, with a disk saying which machine it belongs to. */
static int setup(struct vmm *v, int i)
{
	char text[64];
	int fd;

	snprintf(v->name, sizeof(v->name), "vm%d", i);
	snprintf(v->image, sizeof(v->image), "/tmp/step4-disk-XXXXXX");
	snprintf(text, sizeof(text), "I am the disk of vm%d\n", i);
	fd = mkstemp(v->image);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || pwrite(fd, text, strlen(text), 0) < 0 ||
	    pipe2(v->out, O_CLOEXEC) < 0)
		return -1;
	close(fd);
	v->serial = (struct kvmhost_machine_serial){.size = sizeof(v->serial), .in_fd = -1, .out_fd = v->out[1]};
	v->disk = (struct kvmhost_machine_device){
	    .type = KVMHOST_MACHINE_DEVICE_BLK, .path = v->image, .in_fd = -1, .out_fd = -1};
	v->x86 = (struct kvmhost_machine_x86_options){.size = sizeof(v->x86), .debug_exit_port = 0xf4};
	v->o = (struct kvmhost_machine_options){
	    .size = sizeof(v->o),
	    .name = v->name,
	    .kernel = mbguest_guide_disk,
	    .kernel_size = (size_t)(mbguest_guide_disk_end - mbguest_guide_disk),
	    .kernel_format = KVMHOST_X86_BOOT_MULTIBOOT,
	    .ram_size = 4u << 20,
	    .vcpu_count = 1,
	    .serial = &v->serial,
	    .devices = &v->disk,
	    .device_count = 1,
	    .device_size = sizeof(v->disk),
	    .arch_options = &v->x86,
	};
	return 0;
}

int main(void)
{
	static struct vmm vmms[MACHINES];
	struct kvmhost_system *sys;
	int failed = 0;

	if (kvmhost_system_open(NULL, &sys) < 0) {
		fprintf(stderr, "SKIP: step4_many: no usable KVM here: %s\n", kvmhost_last_error());
		return 77;
	}
	kvmhost_system_close(sys);

	/* Create and start them all: each runs in threads of its own. */
	for (int i = 0; i < MACHINES; i++) {
		if (setup(&vmms[i], i) < 0) {
			perror("step4_many: setup");
			return 1;
		}
		if (kvmhost_machine_create(&vmms[i].o, &vmms[i].m) < 0 || kvmhost_machine_start(vmms[i].m) < 0) {
			fprintf(stderr, "step4_many: %s: %s\n", vmms[i].name, kvmhost_last_error());
			return 1;
		}
	}
	/* Wait for each, then read what its guest wrote. */
	for (int i = 0; i < MACHINES; i++) {
		struct vmm *v = &vmms[i];
		struct kvmhost_machine_stop_info stop = {.size = sizeof(stop)};
		char out[256];
		ssize_t n;

		if (kvmhost_machine_wait(v->m, 30000) < 0 || kvmhost_machine_get_stop_info(v->m, &stop) < 0) {
			fprintf(stderr, "step4_many: %s: %s\n", v->name, kvmhost_last_error());
			return 1;
		}
		kvmhost_machine_destroy(v->m);
		close(v->out[1]); /* destroyed: nobody writes it any more, so read to its end */
		n = read(v->out[0], out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = 0;
		close(v->out[0]);
		unlink(v->image);
		printf("%s: %s", v->name, out);
		if (stop.reason != KVMHOST_MACHINE_STOP_DEBUG_EXIT || stop.debug_exit_status != 0 ||
		    !strstr(out, v->name)) {
			fprintf(stderr, "step4_many: %s stopped: %s\n", v->name, stop.message);
			failed = 1;
		}
	}
	return failed;
}
