/*
 * Cost of one bus dispatch (kvmhost_bus_read/kvmhost_bus_write: read lock,
 * binary search, callback) with 1, 16 and 256 registered devices, hitting a
 * random registered device each time. Prints ns per dispatch for each count
 * and the ratios 16/1 and 256/1 (binary search: expect slow, logarithmic
 * growth). Timed in thread CPU time, interleaving the three sizes and
 * keeping the best of several runs of each, to shed scheduler noise.
 *
 * Usage: bench_bus_dispatch [dispatches per run, default 2000000]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kvmhost/bus.h>
#include <kvmhost/error.h>

#define RUNS	   9
#define NADDR	   4096 /* precomputed random addresses, a power of two */
#define DEV_STRIDE 0x1000u
#define DEV_LEN	   0x100u

static volatile uint32_t sink;

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
	sink = v;
	return 0;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double now_ns(void)
{
	struct timespec ts;

	/* CPU time of this thread: time spent preempted by other work on a busy
	 * machine does not count. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A bus with @ndev devices registered in shuffled order, and NADDR random
 * 4-byte-aligned addresses inside them. NULL on error. */
static struct kvmhost_bus *make_bus(unsigned ndev, uint64_t *addrs)
{
	struct kvmhost_bus *bus;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ ndev;
	unsigned *order;

	if (kvmhost_bus_create("bench", &bus) < 0)
		return NULL;
	order = malloc(ndev * sizeof(*order));
	if (!order) {
		kvmhost_bus_destroy(bus);
		return NULL;
	}
	for (unsigned i = 0; i < ndev; i++)
		order[i] = i;
	for (unsigned i = ndev - 1; i > 0; i--) {
		unsigned j = (unsigned)(xorshift(&seed) % (i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < ndev; i++) {
		struct kvmhost_bus_range r = {.size = sizeof(r),
					      .base = 0x10000000ull + (uint64_t)order[i] * DEV_STRIDE,
					      .length = DEV_LEN,
					      .read = dev_read,
					      .write = dev_write,
					      .opaque = (void *)(uintptr_t)order[i],
					      .name = "benchdev"};
		if (kvmhost_bus_register(bus, &r) < 0) {
			fprintf(stderr, "register: %s\n", kvmhost_last_error());
			free(order);
			kvmhost_bus_destroy(bus);
			return NULL;
		}
	}
	free(order);
	for (unsigned i = 0; i < NADDR; i++)
		addrs[i] =
		    0x10000000ull + (xorshift(&seed) % ndev) * DEV_STRIDE + (xorshift(&seed) % (DEV_LEN / 4)) * 4;
	return bus;
}

/* ns per dispatch over @iters dispatches (half reads, half writes), or < 0 on error. */
static double run(struct kvmhost_bus *bus, const uint64_t *addrs, long iters)
{
	double t0 = now_ns();
	uint32_t v = 0;

	for (long i = 0; i < iters; i += 2) {
		uint64_t a = addrs[i & (NADDR - 1)];

		if (kvmhost_bus_read(bus, a, &v, 4) != 0 || kvmhost_bus_write(bus, a, &v, 4) != 0) {
			fprintf(stderr, "dispatch at 0x%" PRIx64 " failed: %s\n", a, kvmhost_last_error());
			return -1;
		}
	}
	return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
	static uint64_t addrs[3][NADDR];
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	unsigned counts[3] = {1, 16, 256};
	struct kvmhost_bus *bus[3];
	double best[3] = {-1, -1, -1};
	int rc = 0;

	if (iters < 2)
		iters = 2;
	for (int i = 0; i < 3; i++) {
		bus[i] = make_bus(counts[i], addrs[i]);
		if (!bus[i])
			return 1;
	}
	/* Interleaved runs, best of each: the three sizes see the same machine noise. */
	for (int r = 0; r < RUNS && rc == 0; r++) {
		for (int i = 0; i < 3; i++) {
			double ns = run(bus[i], addrs[i], iters);

			if (ns < 0) {
				rc = 1;
				break;
			}
			if (best[i] < 0 || ns < best[i])
				best[i] = ns;
		}
	}
	for (int i = 0; i < 3; i++)
		kvmhost_bus_destroy(bus[i]);
	if (rc)
		return rc;
	printf("bus dispatch (kvmhost_bus_read/write, 4 bytes, random registered device), best of %d x %ld:\n", RUNS,
	       iters);
	for (int i = 0; i < 3; i++)
		printf("  %3u devices: %6.1f ns/dispatch\n", counts[i], best[i]);
	printf("  ratio 16/1:  %.2f\n", best[1] / best[0]);
	printf("  ratio 256/1: %.2f\n", best[2] / best[0]);
	return 0;
}
