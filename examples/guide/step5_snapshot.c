/*
 * Guide step 5 (docs/guide.md): snapshot and restore (migration.h). A machine runs the counting kernel
 * guide_tick.S (a counter at 2 MiB, a digit on COM1 every 65536 counts); once it has counted a while it is
 * snapshotted into a file (kvmhost_machine_snapshot() pauses it, writes memory, vCPU and device state, and
 * leaves it paused here) and destroyed. A second machine, created with KVMHOST_MACHINE_INCOMING from the same
 * options, is restored from the file and started: its counter goes on from the value saved.
 * Usage: step5_snapshot [FILE]   (default: a temporary file, removed at the end)
 * Exit status: 0; 1 on a failure; 77 (one line on stderr) where there is no usable /dev/kvm.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>

#define COUNT_ADDR 0x200000 /* guide_tick.S's counter */

extern const unsigned char mbguest_guide_tick[], mbguest_guide_tick_end[];

static struct kvmhost_machine_serial serial = {.size = sizeof(serial), .in_fd = -1, .out_fd = STDOUT_FILENO};
static struct kvmhost_machine_x86_options x86 = {.size = sizeof(x86)};

/* The same options for both machines (restore checks the shape: vCPUs, RAM, devices); only the flags differ. */
static int create(const char *name, uint32_t flags, struct kvmhost_machine **m)
{
	struct kvmhost_machine_options o = {
	    .size = sizeof(o),
	    .name = name,
	    .kernel = mbguest_guide_tick,
	    .kernel_size = (size_t)(mbguest_guide_tick_end - mbguest_guide_tick),
	    .kernel_format = KVMHOST_X86_BOOT_MULTIBOOT,
	    .ram_size = 4u << 20,
	    .vcpu_count = 1,
	    .flags = flags,
	    .serial = &serial,
	    .arch_options = &x86,
	};
	return kvmhost_machine_create(&o, m);
}

static uint32_t counter(struct kvmhost_machine *m)
{
	uint32_t v = 0;

	kvmhost_memory_read(kvmhost_machine_memory(m), COUNT_ADDR, &v, sizeof(v));
	return v;
}

/* Wait (up to 20 s) until the counter passes @above. */
static int wait_counter(struct kvmhost_machine *m, uint32_t above)
{
	struct timespec ms10 = {0, 10000000};

	for (int i = 0; i < 2000; i++) {
		if (counter(m) > above)
			return 0;
		nanosleep(&ms10, NULL);
	}
	return -1;
}

static int fail(const char *what)
{
	fprintf(stderr, "step5_snapshot: %s: %s\n", what, kvmhost_last_error());
	return 1;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/step5-snapshot-XXXXXX";
	struct kvmhost_migration_options leave_paused = {.size = sizeof(leave_paused),
							 .flags = KVMHOST_MIGRATION_LEAVE_PAUSED};
	struct kvmhost_migration_stats stats = {.size = sizeof(stats)};
	struct kvmhost_system *sys;
	struct kvmhost_machine *m;
	uint32_t saved;
	int fd;

	setvbuf(stdout, NULL, _IONBF, 0); /* our lines and the guest's COM1 digits share stdout: keep their order */
	if (kvmhost_system_open(NULL, &sys) < 0) {
		fprintf(stderr, "SKIP: step5_snapshot: no usable KVM here: %s\n", kvmhost_last_error());
		return 77;
	}
	kvmhost_system_close(sys);
	fd = argc > 1 ? open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : mkstemp(tmp);
	if (fd < 0) {
		perror("step5_snapshot: cannot create the snapshot file");
		return 1;
	}

	/* 1. Run the first machine for a while, then snapshot it into the file. */
	if (create("step5-source", 0, &m) < 0 || kvmhost_machine_start(m) < 0)
		return fail("source");
	if (wait_counter(m, 3 * 65536) < 0)
		return fail("the guest does not count");
	if (kvmhost_machine_snapshot(m, fd, &leave_paused, &stats) < 0)
		return fail("snapshot");
	saved = counter(m); /* paused: it stays at what the snapshot holds */
	printf("\nsnapshot: counter %u, %llu bytes (%llu pages of data)\n", saved, (unsigned long long)stats.bytes,
	       (unsigned long long)stats.data_pages);
	kvmhost_machine_destroy(m);

	/* 2. A new machine, incoming: restore the file into it and start it. */
	if (lseek(fd, 0, SEEK_SET) < 0 || create("step5-restored", KVMHOST_MACHINE_INCOMING, &m) < 0)
		return fail("destination");
	if (kvmhost_machine_restore(m, fd, NULL, NULL) < 0)
		return fail("restore");
	printf("restored: counter %u\n", counter(m));
	if (counter(m) != saved || kvmhost_machine_start(m) < 0 || wait_counter(m, saved + 2 * 65536) < 0)
		return fail("the restored guest does not count on");
	kvmhost_machine_stop(m);
	kvmhost_machine_wait(m, 10000);
	printf("\nthe restored guest counted on to %u\n", counter(m));
	kvmhost_machine_destroy(m);
	close(fd);
	if (argc <= 1)
		unlink(tmp);
	return 0;
}
