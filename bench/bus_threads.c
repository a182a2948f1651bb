/*
 * Bus dispatch from many threads on one bus, as many vCPU threads handing
 * their PIO and MMIO exits to kvmhost_bus_dispatch_exit() do: 1, 2, 4 and 8
 * threads, each dispatching fake exits (alternately a 1-byte PIO read and a
 * 4-byte MMIO write, at random addresses in 16 devices) in a loop, no KVM.
 *
 * Two buses side by side in one run, on the same devices and addresses:
 *   "library"  the library's bus (lib/bus/bus.c: a published immutable
 *              table and per-thread reader counters, nothing shared written
 *              on dispatch)
 *   "rwlock"   the bus before it (bench/bus_rwlock_ref.c, a copy of
 *              lib/bus at commit a442e0c: a writer-preferring pthread rwlock
 *              read-locked for every dispatch)
 * Rounds interleave the two and every thread count; each figure is the best
 * of the rounds, in wall-clock time from the first thread's start to the
 * last one's end. Prints accesses/s in all, per thread, and the scaling
 * ratio against 1 thread of the same bus, then library/rwlock per count;
 * then the CPU time each dispatch cost (the threads' own CPU time over
 * their dispatches, median round), which a cache line bouncing between CPUs
 * raises and which time spent waiting for a CPU does not.
 * With more threads than CPUs the extra threads only take turns: past the
 * CPU count the in-all figure cannot grow, and the ratios that mean
 * something are those up to it (the header line gives the CPU count).
 *
 * Then the writers' side: register + unregister of one range (what a BAR
 * move or a hot-plug does) while 0 or 2 threads dispatch without pause, in
 * microseconds per pair, both buses. Both wait for the dispatches in flight;
 * the rwlock also stalls new dispatches meanwhile, the library's does not.
 *
 * Usage: bench_bus_threads [dispatches per thread per round, default 1000000 [rounds, default 15]]
 */
#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <kvmhost/bus.h>
#include <kvmhost/error.h>
#include <kvmhost/vcpu.h>

/* bench/bus_rwlock_ref.c: the same calls under ref_ names. */
struct ref_bus;
int ref_bus_create(const char *name, struct ref_bus **out);
void ref_bus_destroy(struct ref_bus *bus);
int ref_bus_register(struct ref_bus *bus, const struct kvmhost_bus_range *range);
int ref_bus_unregister(struct ref_bus *bus, uint64_t base);
int ref_bus_dispatch_exit(struct ref_bus *pio, struct ref_bus *mmio, const struct kvmhost_exit *exit);

#define NDEV	   16u
#define NADDR	   4096u /* random addresses per thread, a power of two */
#define PIO_BASE   0x1000u
#define PIO_STRIDE 0x100u
#define PIO_LEN	   0x10u
#define MMIO_BASE  0xd0000000ull
#define MMIO_LEN   0x1000u
#define MAXT	   8
#define MAXROUNDS  64

/* Per-thread: the devices write here, so that no device state is shared. */
static _Thread_local uint32_t sink;

static int dev_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	uint32_t v = (uint32_t)(uintptr_t)opaque ^ (uint32_t)offset;

	memcpy(data, &v, len < 4 ? len : 4);
	return 0;
}

static int dev_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	uint32_t v = 0;

	(void)opaque;
	(void)offset;
	memcpy(&v, data, len < 4 ? len : 4);
	sink += v;
	return 0;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

enum { LIB, REF, NBUS };
static const char *const bus_label[NBUS] = {"library", "rwlock"};

struct run {
	int which;
	struct kvmhost_bus *lib;
	struct ref_bus *ref;
	long iters;
	pthread_barrier_t *start;
	uint64_t seed;
	int failed;
	double begin, end, cpu; /* wall clock at the loop's start and end; this thread's CPU seconds in it */
};

static void *worker(void *arg)
{
	struct run *r = arg;
	struct kvmhost_exit ex[NADDR];
	uint8_t data[8];
	uint64_t seed = r->seed;

	/* The exits are built before the clock starts: only dispatch is timed. */
	memset(ex, 0, sizeof(ex));
	for (unsigned i = 0; i < NADDR; i++) {
		unsigned dev = (unsigned)(xorshift(&seed) % NDEV);

		if (i % 2 == 0) {
			ex[i].reason = KVMHOST_EXIT_IO;
			ex[i].io.port = (uint16_t)(PIO_BASE + dev * PIO_STRIDE + xorshift(&seed) % PIO_LEN);
			ex[i].io.size = 1;
			ex[i].io.count = 1;
			ex[i].io.is_write = 0;
			ex[i].io.data = data;
		} else {
			ex[i].reason = KVMHOST_EXIT_MMIO;
			ex[i].mmio.addr = MMIO_BASE + (uint64_t)dev * MMIO_LEN + (xorshift(&seed) % (MMIO_LEN / 4)) * 4;
			ex[i].mmio.len = 4;
			ex[i].mmio.is_write = 1;
			ex[i].mmio.data = data;
		}
	}
	memset(data, 0x5a, sizeof(data));
	pthread_barrier_wait(r->start);
	r->begin = now_s();
	r->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
	for (long i = 0; i < r->iters; i++) {
		const struct kvmhost_exit *e = &ex[i & (NADDR - 1)];
		int rc = r->which == LIB ? kvmhost_bus_dispatch_exit(r->lib, r->lib, e)
					 : ref_bus_dispatch_exit(r->ref, r->ref, e);

		if (rc != 0) {
			fprintf(stderr, "%s dispatch failed (%d): %s\n", bus_label[r->which], rc, kvmhost_last_error());
			r->failed = 1;
			break;
		}
	}
	r->end = now_s();
	r->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - r->cpu;
	return NULL;
}

/* Accesses per second in all for @nt threads on bus @which, or < 0; *@cpu_ns: CPU ns per access. */
static double round_rate(int which, struct kvmhost_bus *lib, struct ref_bus *ref, int nt, long iters, int round,
			 double *cpu_ns)
{
	pthread_t tid[MAXT];
	struct run runs[MAXT];
	pthread_barrier_t start;
	double t0, end = 0, cpu = 0;
	int failed = 0;

	pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
	for (int t = 0; t < nt; t++) {
		runs[t] = (struct run){.which = which,
				       .lib = lib,
				       .ref = ref,
				       .iters = iters,
				       .start = &start,
				       .seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1) + (uint64_t)round};
		if (pthread_create(&tid[t], NULL, worker, &runs[t]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	t0 = -1;
	for (int t = 0; t < nt; t++) {
		pthread_join(tid[t], NULL);
		failed |= runs[t].failed;
		cpu += runs[t].cpu;
		if (t0 < 0 || runs[t].begin < t0)
			t0 = runs[t].begin;
		if (runs[t].end > end)
			end = runs[t].end;
	}
	pthread_barrier_destroy(&start);
	if (failed)
		return -1;
	*cpu_ns = cpu * 1e9 / ((double)iters * nt);
	return (double)iters * nt / (end - t0);
}

/* ---- hot-plug while dispatching ---- */

#define HOTPLUG_PAIRS 200
#define HOT_BASE      0xe0000000ull

struct spin {
	int which;
	struct kvmhost_bus *lib;
	struct ref_bus *ref;
	atomic_int *stop, *started;
	int failed;
};

static void *spinner(void *arg)
{
	struct spin *s = arg;
	uint8_t data[4] = {0};
	struct kvmhost_exit e;

	memset(&e, 0, sizeof(e));
	e.reason = KVMHOST_EXIT_MMIO;
	e.mmio.addr = MMIO_BASE + 0x10;
	e.mmio.len = 4;
	e.mmio.data = data;
	atomic_fetch_add(s->started, 1);
	while (!atomic_load_explicit(s->stop, memory_order_relaxed))
		if ((s->which == LIB ? kvmhost_bus_dispatch_exit(s->lib, s->lib, &e)
				     : ref_bus_dispatch_exit(s->ref, s->ref, &e)) != 0) {
			s->failed = 1;
			break;
		}
	return NULL;
}

/* Microseconds per register + unregister pair on bus @which with @nt dispatching threads, or < 0. */
static double hotplug_us(int which, struct kvmhost_bus *lib, struct ref_bus *ref, int nt)
{
	struct kvmhost_bus_range hr = {
	    .size = sizeof(hr), .base = HOT_BASE, .length = 0x1000, .read = dev_read, .name = "hot"};
	atomic_int stop = 0, started = 0;
	struct spin sp[MAXT];
	pthread_t tid[MAXT];
	double t0, t1;
	int failed = 0;

	for (int t = 0; t < nt; t++) {
		sp[t] = (struct spin){.which = which, .lib = lib, .ref = ref, .stop = &stop, .started = &started};
		if (pthread_create(&tid[t], NULL, spinner, &sp[t]) != 0)
			return -1;
	}
	while (atomic_load(&started) < nt)
		sched_yield();
	t0 = now_s();
	for (int i = 0; i < HOTPLUG_PAIRS && !failed; i++)
		if (which == LIB ? kvmhost_bus_register(lib, &hr) < 0 || kvmhost_bus_unregister(lib, HOT_BASE) < 0
				 : ref_bus_register(ref, &hr) < 0 || ref_bus_unregister(ref, HOT_BASE) < 0)
			failed = 1;
	t1 = now_s();
	atomic_store(&stop, 1);
	for (int t = 0; t < nt; t++) {
		pthread_join(tid[t], NULL);
		failed |= sp[t].failed;
	}
	if (failed) {
		fprintf(stderr, "%s hot-plug failed: %s\n", bus_label[which], kvmhost_last_error());
		return -1;
	}
	return (t1 - t0) * 1e6 / HOTPLUG_PAIRS;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int add_devices(struct kvmhost_bus *lib, struct ref_bus *ref)
{
	for (unsigned i = 0; i < NDEV; i++) {
		struct kvmhost_bus_range p = {.size = sizeof(p),
					      .base = PIO_BASE + (uint64_t)i * PIO_STRIDE,
					      .length = PIO_LEN,
					      .read = dev_read,
					      .write = dev_write,
					      .opaque = (void *)(uintptr_t)i,
					      .name = "pio-dev"};
		struct kvmhost_bus_range m = p;

		m.base = MMIO_BASE + (uint64_t)i * MMIO_LEN;
		m.length = MMIO_LEN;
		m.name = "mmio-dev";
		if (kvmhost_bus_register(lib, &p) < 0 || kvmhost_bus_register(lib, &m) < 0 ||
		    ref_bus_register(ref, &p) < 0 || ref_bus_register(ref, &m) < 0) {
			fprintf(stderr, "register: %s\n", kvmhost_last_error());
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const int counts[] = {1, 2, 4, 8};
	enum { NC = sizeof(counts) / sizeof(counts[0]) };
	long iters = argc > 1 ? atol(argv[1]) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 15;
	static double cpu_all[NBUS][NC][MAXROUNDS];
	double best[NBUS][NC] = {{0}}, cpu_med[NBUS][NC] = {{0}};
	struct kvmhost_bus *lib;
	struct ref_bus *ref;

	if (iters < 1)
		iters = 1;
	if (rounds < 1)
		rounds = 1;
	if (rounds > MAXROUNDS)
		rounds = MAXROUNDS;
	if (kvmhost_bus_create("bench", &lib) < 0 || ref_bus_create("bench-ref", &ref) < 0) {
		fprintf(stderr, "bus create: %s\n", kvmhost_last_error());
		return 1;
	}
	if (add_devices(lib, ref) < 0)
		return 1;
	for (int r = 0; r < rounds; r++)
		for (int c = 0; c < NC; c++)
			for (int k = 0; k < NBUS; k++) {
				/* Alternate which bus goes first, so neither always runs on a warmer machine. */
				int which = (k + r + c) % NBUS;
				double cpu_ns = 0, rate = round_rate(which, lib, ref, counts[c], iters, r, &cpu_ns);

				if (rate < 0)
					return 1;
				if (rate > best[which][c])
					best[which][c] = rate;
				cpu_all[which][c][r] = cpu_ns;
			}
	double hot[NBUS][2] = {{0}};
	for (int r = 0; r < rounds; r++)
		for (int n = 0; n < 2; n++)
			for (int k = 0; k < NBUS; k++) {
				int which = (k + r + n) % NBUS;
				double us = hotplug_us(which, lib, ref, 2 * n);

				if (us < 0)
					return 1;
				if (hot[which][n] == 0 || us < hot[which][n])
					hot[which][n] = us;
			}
	kvmhost_bus_destroy(lib);
	ref_bus_destroy(ref);
	for (int k = 0; k < NBUS; k++)
		for (int c = 0; c < NC; c++)
			cpu_med[k][c] = median(cpu_all[k][c], rounds);

	printf("bus dispatch from threads (kvmhost_bus_dispatch_exit, one bus, %u PIO + %u MMIO devices, "
	       "PIO read / MMIO write alternately), %ld per thread, best of %d; %ld CPUs online\n",
	       NDEV, NDEV, iters, rounds, sysconf(_SC_NPROCESSORS_ONLN));
	for (int k = 0; k < NBUS; k++) {
		printf("  %-8s", bus_label[k]);
		for (int c = 0; c < NC; c++)
			printf("  %dT %6.2f M/s (%5.2f/thread, x%4.2f)", counts[c], best[k][c] / 1e6,
			       best[k][c] / 1e6 / counts[c], best[k][c] / best[k][0]);
		printf("\n");
	}
	printf("  library/rwlock:");
	for (int c = 0; c < NC; c++)
		printf("  %dT %4.2f", counts[c], best[LIB][c] / best[REF][c]);
	printf("\n");
	printf("CPU time per dispatch (the threads' own CPU time over their dispatches, median round): what\n"
	       "contention costs the threads while they run:\n");
	for (int k = 0; k < NBUS; k++) {
		printf("  %-8s", bus_label[k]);
		for (int c = 0; c < NC; c++)
			printf("  %dT %6.1f ns (x%4.2f)", counts[c], cpu_med[k][c], cpu_med[k][c] / cpu_med[k][0]);
		printf("\n");
	}
	printf("register + unregister of one range, best of %d x %d pairs, us per pair:\n", rounds, HOTPLUG_PAIRS);
	for (int k = 0; k < NBUS; k++)
		printf("  %-8s  idle bus %8.2f  2 threads dispatching %8.2f\n", bus_label[k], hot[k][0], hot[k][1]);
	return 0;
}
