/*
 * Live migration (migration.h): downtime and total time of kvmhost_machine_migrate_send() to a destination
 * process at the other end of a socketpair, for an idle guest (bench_mb_idle: halted) and a guest dirtying
 * memory as fast as it can (tests' mb_dirty: 511 pages round and round), each copied (pre-copy over the socket)
 * and handed over same-host (memfd RAM, the fds over SCM_RIGHTS, only the state sent), rounds interleaved, one
 * line per case with the median and range. The RAM is 64 MiB with 32 MiB of it filled with data before the
 * start, so that copying has something to copy. Times are the source's: downtime from its pause to the
 * destination's confirmation, total from the call to its return.
 *   migration_bench [rounds]   (default 5)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>
#include <kvmhost/memory.h>
#include <kvmhost/migration.h>
#include <kvmhost/x86_boot.h>

extern const unsigned char mbguest_bench_mb_idle[], mbguest_bench_mb_idle_end[];
extern const unsigned char mbguest_mb_dirty[], mbguest_mb_dirty_end[];

#define RAM	   (64ull << 20)
#define FILLED	   (32ull << 20)
#define FILL_GPA   (8ull << 20)
#define MAX_ROUNDS 32

enum { IDLE_COPY, IDLE_SAME, DIRTY_COPY, DIRTY_SAME, CASES };
static const char *const case_name[CASES] = {"idle, copied", "idle, same-host", "dirtying, copied",
					     "dirtying, same-host"};

static void options(struct kvmhost_machine_options *o, struct kvmhost_machine_x86_options *x, int c, uint32_t flags)
{
	int dirty = c >= DIRTY_COPY;

	*x = (struct kvmhost_machine_x86_options){.size = sizeof(*x)};
	*o = (struct kvmhost_machine_options){.size = sizeof(*o),
					      .name = "mig-bench",
					      .kernel = dirty ? mbguest_mb_dirty : mbguest_bench_mb_idle,
					      .kernel_size =
						  dirty ? (size_t)(mbguest_mb_dirty_end - mbguest_mb_dirty)
							: (size_t)(mbguest_bench_mb_idle_end - mbguest_bench_mb_idle),
					      .kernel_format = KVMHOST_X86_BOOT_MULTIBOOT,
					      .ram_size = RAM,
					      .ram_backing = KVMHOST_MACHINE_RAM_MEMFD,
					      .vcpu_count = 1,
					      .flags = flags,
					      .arch_options = x};
}

static void die(const char *what)
{
	fprintf(stderr, "migration_bench: %s: %s\n", what, kvmhost_last_error());
	exit(1);
}

static void destination(int fd, int c)
{
	struct kvmhost_machine_options o;
	struct kvmhost_machine_x86_options x;
	struct kvmhost_machine *m;

	options(&o, &x, c, KVMHOST_MACHINE_INCOMING);
	if (kvmhost_machine_create(&o, &m) < 0)
		_exit(2);
	if (kvmhost_machine_migrate_receive(m, fd, NULL, NULL) < 0) {
		fprintf(stderr, "migration_bench: destination: %s\n", kvmhost_last_error());
		_exit(3);
	}
	kvmhost_machine_stop(m);
	kvmhost_machine_wait(m, 10000);
	kvmhost_machine_destroy(m);
	_exit(0);
}

/* MIGRATION_BENCH_VERBOSE=1: every progress report on stderr. */
static void progress(void *opaque, const struct kvmhost_migration_progress *p)
{
	(void)opaque;
	fprintf(stderr, "  %8.2f ms phase %u pass %u: %llu bytes sent, %llu pages dirty, %llu B/s, expect %.2f ms\n",
		p->elapsed_us / 1000.0, p->phase, p->iteration, (unsigned long long)p->bytes_sent,
		(unsigned long long)p->dirty_pages, (unsigned long long)p->bandwidth, p->expected_downtime_us / 1000.0);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	double down[CASES][MAX_ROUNDS], total[CASES][MAX_ROUNDS];
	uint64_t bytes[CASES] = {0}, passes[CASES] = {0};

	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 5;
	for (int r = 0; r < rounds; r++)
		for (int c = 0; c < CASES; c++) {
			struct kvmhost_migration_options mo = {.size = sizeof(mo)};
			struct kvmhost_migration_stats st = {.size = sizeof(st)};
			struct kvmhost_machine_options o;
			struct kvmhost_machine_x86_options x;
			struct kvmhost_machine *m;
			int sv[2], status;
			void *host;
			pid_t pid;

			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
				return perror("socketpair"), 1;
			pid = fork(); /* no machine thread in this process now */
			if (pid < 0)
				return perror("fork"), 1;
			if (pid == 0) {
				close(sv[0]);
				destination(sv[1], c);
			}
			close(sv[1]);
			options(&o, &x, c, 0);
			if (kvmhost_machine_create(&o, &m) < 0)
				die("create");
			if (kvmhost_memory_translate(kvmhost_machine_memory(m), FILL_GPA, FILLED, &host) < 0)
				die("translate");
			for (uint64_t i = 0; i < FILLED; i += 8)
				*(uint64_t *)((char *)host + i) = i * 0x9e3779b97f4a7c15ull + 1;
			if (kvmhost_machine_start(m) < 0)
				die("start");
			usleep(50000);
			if (getenv("MIGRATION_BENCH_VERBOSE"))
				mo.progress = progress;
			if (c == IDLE_SAME || c == DIRTY_SAME)
				mo.flags = KVMHOST_MIGRATION_SAME_HOST;
			if (kvmhost_machine_migrate_send(m, sv[0], &mo, &st) < 0)
				die(case_name[c]);
			down[c][r] = st.downtime_us / 1000.0;
			total[c][r] = st.total_us / 1000.0;
			bytes[c] = st.bytes;
			passes[c] = st.passes;
			kvmhost_machine_destroy(m);
			close(sv[0]);
			if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
				return fprintf(stderr, "migration_bench: the destination failed (0x%x)\n", status), 1;
		}
	printf("# live migration, %llu MiB RAM (%llu MiB of data), 1 vCPU, socketpair, %d rounds: median [min-max]\n",
	       (unsigned long long)(RAM >> 20), (unsigned long long)(FILLED >> 20), rounds);
	for (int c = 0; c < CASES; c++) {
		qsort(down[c], (size_t)rounds, sizeof(double), cmp);
		qsort(total[c], (size_t)rounds, sizeof(double), cmp);
		printf("%-20s downtime %8.2f ms [%.2f-%.2f]  total %8.1f ms [%.1f-%.1f]  %10llu bytes, %llu passes\n",
		       case_name[c], down[c][rounds / 2], down[c][0], down[c][rounds - 1], total[c][rounds / 2],
		       total[c][0], total[c][rounds - 1], (unsigned long long)bytes[c], (unsigned long long)passes[c]);
	}
	return 0;
}
