/*
 * machine_scale [max [ram-MiB]]: many machines (machine.h) in one process.
 * For N = 1, 2, 4, ... max (default 256), create N machines running a tiny
 * Multiboot kernel that halts (bench/guests/bench_mb_idle.S: its vCPU sleeps
 * in KVM), start them all, then report per VM:
 *   - creation time (kvmhost_machine_create(), mean and the last machine's),
 *   - start time,
 *   - the VMM's memory: the process's RSS growth over the empty process,
 *     minus the guest RAM resident in the machines' mappings (mincore), i.e.
 *     what the library and its threads cost;
 * then stop and destroy them (time per VM). Whether the cost stays linear is
 * read from the per-VM columns: flat means linear. Prints lines, asserts
 * nothing about time.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>
#include <kvmhost/x86_boot.h>

extern const unsigned char mbguest_bench_mb_idle[], mbguest_bench_mb_idle_end[];

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, rss = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int count_resident(struct kvmhost_memory_region *region, void *opaque)
{
	uint64_t len = kvmhost_memory_region_length(region), pages = len / 4096;
	unsigned char *vec = malloc(pages);
	long *kib = opaque;

	if (vec && mincore(kvmhost_memory_region_host_addr(region), len, vec) == 0)
		for (uint64_t i = 0; i < pages; i++)
			*kib += (vec[i] & 1) * 4;
	free(vec);
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t max = argc > 1 ? (uint32_t)atoi(argv[1]) : 256;
	uint64_t ram = (argc > 2 ? (uint64_t)atoi(argv[2]) : 4) << 20;
	struct kvmhost_machine_x86_options x86 = {.size = sizeof(x86)};
	struct kvmhost_machine_options o = {.size = sizeof(o),
					    .kernel = mbguest_bench_mb_idle,
					    .kernel_size = (size_t)(mbguest_bench_mb_idle_end - mbguest_bench_mb_idle),
					    .kernel_format = KVMHOST_X86_BOOT_MULTIBOOT,
					    .ram_size = ram,
					    .vcpu_count = 1,
					    .arch_options = &x86};
	struct kvmhost_machine **m = calloc(max, sizeof(*m));
	struct rlimit rl;
	long base;

	if (!m || max == 0)
		return 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	base = rss_kib();
	printf("machine_scale: tiny Multiboot guests, 1 vCPU, %llu MiB RAM each; RSS of the empty process %ld KiB\n",
	       (unsigned long long)(ram >> 20), base);
	printf("%6s %14s %14s %12s %16s %16s %14s\n", "VMs", "create us/VM", "last create", "start us/VM", "VMM KiB/VM",
	       "guest RAM KiB/VM", "destroy us/VM");
	for (uint32_t n = 1; n <= max; n = n * 2 > max && n < max ? max : n * 2) {
		double t0 = now_us(), last = 0, t1, t2, t3;
		long guest = 0, rss;
		char name[32];
		uint32_t made = 0;

		for (; made < n; made++) {
			double c = now_us();

			snprintf(name, sizeof(name), "vm%u", made);
			o.name = name;
			if (kvmhost_machine_create(&o, &m[made]) < 0) {
				fprintf(stderr, "machine_scale: machine %u: %s\n", made, kvmhost_last_error());
				break;
			}
			last = now_us() - c;
		}
		t1 = now_us();
		for (uint32_t i = 0; i < made; i++)
			if (kvmhost_machine_start(m[i]) < 0)
				fprintf(stderr, "machine_scale: start %u: %s\n", i, kvmhost_last_error());
		t2 = now_us();
		usleep(100 * 1000); /* let every vCPU reach its HLT */
		rss = rss_kib();
		for (uint32_t i = 0; i < made; i++) {
			if (kvmhost_machine_get_state(m[i]) != KVMHOST_MACHINE_RUNNING)
				fprintf(stderr, "machine_scale: machine %u is not running\n", i);
			kvmhost_memory_for_each_region(kvmhost_machine_memory(m[i]), count_resident, &guest);
		}
		t3 = now_us();
		for (uint32_t i = 0; i < made; i++)
			kvmhost_machine_stop(m[i]);
		for (uint32_t i = 0; i < made; i++)
			kvmhost_machine_destroy(m[i]);
		if (made)
			printf("%6u %14.0f %14.0f %12.0f %16.1f %16.1f %14.0f\n", made, (t1 - t0) / made, last,
			       (t2 - t1) / made, (double)(rss - base - guest) / made, (double)guest / made,
			       (now_us() - t3) / made);
		if (made < n)
			return 1;
		if (n == max)
			break;
	}
	free(m);
	return 0;
}
