/*
 * Guide step 5, part 1 (docs/guide.md): a snapshot in a file, restored in another process (migration.h). A
 * machine runs the counting kernel guide_tick.S (a counter at 2 MiB, a digit on COM1 every 65536 counts); once it
 * has counted a while it is snapshotted into a file (kvmhost_machine_snapshot() pauses it, writes memory, vCPU and
 * device state, and leaves it paused here) and destroyed. Then a new process (this program again, run with
 * --restore) creates a machine with KVMHOST_MACHINE_INCOMING from the same options, restores the file into it and
 * starts it: its counter, and the digits on COM1, go on from where the first process saved them.
 * Usage: step5_snapshot                 both, through a temporary file (removed at the end)
 *        step5_snapshot --save FILE     run the guest a while, then save it in FILE
 *        step5_snapshot --restore FILE  restore FILE into a new machine and let it count on
 * Exit status: 0; 1 on a failure; 2 on a bad usage; 77 (one line on stderr) where there is no usable /dev/kvm.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* The first process: run the guest a while, then save it. */
static int save(const char *file)
{
	struct kvmhost_migration_options leave_paused = {.size = sizeof(leave_paused),
							 .flags = KVMHOST_MIGRATION_LEAVE_PAUSED};
	struct kvmhost_migration_stats stats = {.size = sizeof(stats)};
	struct kvmhost_machine *m;
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror("step5_snapshot: cannot create the snapshot file");
		return 1;
	}
	if (create("step5-source", 0, &m) < 0 || kvmhost_machine_start(m) < 0)
		return fail("source");
	if (wait_counter(m, 3 * 65536) < 0)
		return fail("the guest does not count");
	if (kvmhost_machine_snapshot(m, fd, &leave_paused, &stats) < 0)
		return fail("snapshot");
	/* Paused: the counter stays at what the snapshot holds. */
	printf("\nprocess %d: snapshot at counter %u, %llu bytes (%llu pages of data)\n", (int)getpid(), counter(m),
	       (unsigned long long)stats.bytes, (unsigned long long)stats.data_pages);
	kvmhost_machine_destroy(m);
	return close(fd) < 0 ? 1 : 0;
}

/* A new process: a new machine, incoming; restore the file into it and start it. */
static int restore(const char *file)
{
	struct kvmhost_machine *m;
	uint32_t saved;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		perror("step5_snapshot: cannot open the snapshot file");
		return 1;
	}
	if (create("step5-restored", KVMHOST_MACHINE_INCOMING, &m) < 0)
		return fail("destination");
	if (kvmhost_machine_restore(m, fd, NULL, NULL) < 0)
		return fail("restore");
	close(fd);
	saved = counter(m); /* the guest's memory as it was saved: no kernel was loaded here */
	printf("process %d: restored at counter %u\n", (int)getpid(), saved);
	if (saved <= 3 * 65536 || kvmhost_machine_start(m) < 0 || wait_counter(m, saved + 2 * 65536) < 0)
		return fail("the restored guest does not count on");
	if (kvmhost_machine_stop(m) < 0 || kvmhost_machine_wait(m, 10000) < 0)
		return fail("stop");
	printf("\nprocess %d: the restored guest counted on to %u\n", (int)getpid(), counter(m));
	kvmhost_machine_destroy(m);
	return 0;
}

/* This very program, in a child process, restoring @file; its exit status. */
static int restore_in_new_process(const char *file)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execl("/proc/self/exe", "step5_snapshot", "--restore", file, (char *)NULL);
		perror("step5_snapshot: cannot run itself again");
		_exit(1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		perror("step5_snapshot: the restoring process");
		return 1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/step5-snapshot-XXXXXX";
	struct kvmhost_system *sys;
	int fd, r;

	setvbuf(stdout, NULL, _IONBF, 0); /* our lines and the guest's COM1 digits share stdout: keep their order */
	if (kvmhost_system_open(NULL, &sys) < 0) {
		fprintf(stderr, "SKIP: step5_snapshot: no usable KVM here: %s\n", kvmhost_last_error());
		return 77;
	}
	kvmhost_system_close(sys);
	if (argc == 3 && strcmp(argv[1], "--save") == 0)
		return save(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--restore") == 0)
		return restore(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: step5_snapshot [--save FILE | --restore FILE]\n");
		return 2;
	}
	/* Both: save into a temporary file; then restore it in a new process, which shares nothing with this one
	 * but the file. */
	fd = mkstemp(tmp);
	if (fd < 0) {
		perror("step5_snapshot: cannot create a temporary file");
		return 1;
	}
	close(fd);
	r = save(tmp);
	if (r == 0)
		r = restore_in_new_process(tmp);
	unlink(tmp);
	return r;
}
