/*
 * Diff snapshots (migration.h: KVMHOST_MIGRATION_DIFF_TRACK, KVMHOST_MIGRATION_DIFF): the write time and size of a
 * full snapshot beside a diff snapshot of a running guest (tests' mb_diff) that dirtied N% of its RAM since the
 * snapshot before, and the time to restore the full one beside base + diff (kvmhost_machine_restore_chain()) into a
 * fresh machine, side by side in one run, rounds interleaved, medians. The RAM is 256 MiB, all of it but the first
 * 8 MiB filled with data before the start, so that a full snapshot has 256 MiB to write. The files go to DIR
 * (default /tmp), rewritten each round (the page cache holds them: this is the library's cost, not a disk's).
 *   snapshot_diff_bench [rounds [DIR]]   (default 5, /tmp)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>
#include <kvmhost/memory.h>
#include <kvmhost/migration.h>
#include <kvmhost/x86_boot.h>

extern const unsigned char mbguest_mb_diff[], mbguest_mb_diff_end[];

#define RAM	   (256ull << 20)
#define FILL_GPA   (8ull << 20)
#define DONE_ADDR  0x200004ull
#define CMD_ADDR   0x300000ull
#define MAX_ROUNDS 32

static const unsigned percent[] = {1, 5, 25, 50, 100};
#define CASES (sizeof(percent) / sizeof(percent[0]))

static void die(const char *what)
{
	fprintf(stderr, "snapshot_diff_bench: %s: %s\n", what, kvmhost_last_error());
	exit(1);
}

static struct kvmhost_machine *create(uint32_t flags)
{
	static struct kvmhost_machine_x86_options x = {.size = sizeof(x)};
	struct kvmhost_machine_options o = {.size = sizeof(o),
					    .name = "diff-bench",
					    .kernel = mbguest_mb_diff,
					    .kernel_size = (size_t)(mbguest_mb_diff_end - mbguest_mb_diff),
					    .kernel_format = KVMHOST_X86_BOOT_MULTIBOOT,
					    .ram_size = RAM,
					    .vcpu_count = 1,
					    .flags = flags,
					    .arch_options = &x};
	struct kvmhost_machine *m;

	if (kvmhost_machine_create(&o, &m) < 0)
		die("create");
	return m;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The guest writes into @pages pages from FILL_GPA (command generation @gen); wait until it has. */
static void dirty(struct kvmhost_machine *m, uint32_t gen, uint32_t pages)
{
	struct kvmhost_memory *mem = kvmhost_machine_memory(m);
	uint32_t first = (uint32_t)(FILL_GPA >> 12), done = 0;

	if (kvmhost_memory_write(mem, CMD_ADDR + 4, &first, 4) < 0 ||
	    kvmhost_memory_write(mem, CMD_ADDR + 8, &pages, 4) < 0 || kvmhost_memory_write(mem, CMD_ADDR, &gen, 4) < 0)
		die("command");
	for (int i = 0; i < 100000 && done != gen; i++) {
		if (kvmhost_memory_read(mem, DONE_ADDR, &done, 4) < 0)
			die("read");
		if (done != gen)
			usleep(100);
	}
	if (done != gen)
		die("the guest did not dirty its pages");
}

static double snap(struct kvmhost_machine *m, const char *path, uint32_t flags, uint64_t *bytes)
{
	struct kvmhost_migration_options o = {.size = sizeof(o), .flags = flags};
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	double t;

	if (fd < 0)
		return perror(path), exit(1), 0;
	t = now_ms();
	if (kvmhost_machine_snapshot(m, fd, &o, &st) < 0)
		die(path);
	t = now_ms() - t;
	close(fd);
	*bytes = st.bytes;
	return t;
}

static double restore(const char *const *paths, uint32_t n)
{
	struct kvmhost_machine *m = create(KVMHOST_MACHINE_INCOMING);
	int fds[2];
	double t;

	for (uint32_t i = 0; i < n; i++)
		if ((fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC)) < 0)
			return perror(paths[i]), exit(1), 0;
	t = now_ms();
	if (kvmhost_machine_restore_chain(m, fds, n, NULL, NULL) < 0)
		die("restore");
	t = now_ms() - t;
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
	kvmhost_machine_destroy(m);
	return t;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	static double full_ms[CASES][MAX_ROUNDS], diff_ms[CASES][MAX_ROUNDS], rfull_ms[CASES][MAX_ROUNDS],
	    rchain_ms[CASES][MAX_ROUNDS];
	uint64_t full_bytes[CASES] = {0}, diff_bytes[CASES] = {0};
	char base[256], diff[256];
	const uint64_t area = (RAM - FILL_GPA) >> 12;
	struct kvmhost_machine *m;
	uint32_t gen = 0;
	void *host;

	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 5;
	snprintf(base, sizeof(base), "%s/kvmhost-diff-bench-base.%d", dir, (int)getpid());
	snprintf(diff, sizeof(diff), "%s/kvmhost-diff-bench-diff.%d", dir, (int)getpid());
	m = create(0);
	if (kvmhost_memory_translate(kvmhost_machine_memory(m), FILL_GPA, RAM - FILL_GPA, &host) < 0)
		die("translate");
	for (uint64_t i = 0; i < RAM - FILL_GPA; i += 8)
		*(uint64_t *)((char *)host + i) = i * 0x9e3779b97f4a7c15ull + 1;
	if (kvmhost_machine_start(m) < 0)
		die("start");
	for (int r = 0; r < rounds; r++)
		for (size_t c = 0; c < CASES; c++) {
			uint32_t pages = (uint32_t)(RAM / 4096 * percent[c] / 100);
			const char *const chain[] = {base, diff};

			if (pages > area)
				pages = (uint32_t)area; /* 100%: every page above 8 MiB, and the counter's */
			full_ms[c][r] = snap(m, base, KVMHOST_MIGRATION_DIFF_TRACK, &full_bytes[c]);
			dirty(m, ++gen, pages);
			diff_ms[c][r] = snap(m, diff, KVMHOST_MIGRATION_DIFF, &diff_bytes[c]); /* ends the tracking */
			rfull_ms[c][r] = restore(chain, 1);
			rchain_ms[c][r] = restore(chain, 2);
		}
	kvmhost_machine_stop(m);
	kvmhost_machine_wait(m, 10000);
	kvmhost_machine_destroy(m);
	unlink(base);
	unlink(diff);
	printf("# snapshots of a running guest, %llu MiB RAM (%llu MiB of data), 1 vCPU, files in %s, %d rounds: "
	       "medians\n",
	       (unsigned long long)(RAM >> 20), (unsigned long long)((RAM - FILL_GPA) >> 20), dir, rounds);
	printf("%-9s %12s %12s %12s %12s %8s %14s %14s\n", "dirtied", "full write", "full bytes", "diff write",
	       "diff bytes", "size", "restore full", "restore b+d");
	for (size_t c = 0; c < CASES; c++)
		printf("%7u %% %9.2f ms %12llu %9.2f ms %12llu %7.1f%% %11.2f ms %11.2f ms\n", percent[c],
		       median(full_ms[c], rounds), (unsigned long long)full_bytes[c], median(diff_ms[c], rounds),
		       (unsigned long long)diff_bytes[c], 100.0 * (double)diff_bytes[c] / (double)full_bytes[c],
		       median(rfull_ms[c], rounds), median(rchain_ms[c], rounds));
	return 0;
}
