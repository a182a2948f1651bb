/*
 * virtio-blk I/O backends side by side: the thread pool (preadv/pwritev)
 * against io_uring, each driving the same device model through a fake
 * virtio driver (tests/unit/virtio_dev_fixture.h) on fake guest memory,
 * against a temporary raw image.
 *
 * The driver is a thread per queue acting like a guest vCPU: it keeps
 * `depth` requests in flight (each in its own three descriptors: header,
 * data, status), kicks through kvmhost_virtio_device_queue_notify() unless
 * the device asked for no kicks (VIRTQ_USED_F_NO_NOTIFY), and sleeps on an
 * eventfd that the transport's queue interrupt signals, as an irqfd would.
 *
 * Workloads (each run on a fresh device, the two backends interleaved round
 * by round, the median round reported):
 *   4k-rand-read     4 KiB random reads, page cache warm, depth 32
 *   4k-rand-read-2q  the same on two queues (two driver threads)
 *   4k-rand-cold     4 KiB random reads after POSIX_FADV_DONTNEED, depth 32
 *   1m-seq-read      1 MiB sequential reads, page cache warm, depth 8
 *   1m-seq-write     1 MiB sequential writes (to the page cache), depth 8
 * For each: throughput (IOPS, MiB/s) and process CPU time per request (the
 * driver thread, the device's threads and the kernel's io-wq workers), and
 * the ratio io_uring / threads (above 1: io_uring is faster or, for CPU,
 * costlier).
 *
 * Usage: blk_backend [rounds, default 3] [image MiB, default 256] [dir, default $TMPDIR or /tmp]
 *                    [workload name to run alone]
 * Absolute numbers depend on the machine and its load; compare the ratios.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <kvmhost/error.h>
#include <kvmhost/virtio/block.h>
#include <kvmhost/virtio/device.h>

#include "unit/virtio_dev_fixture.h"

#define QSIZE	   256u
#define MAX_DEPTH  64u
#define MAX_QUEUES 2u
#define DATA_GPA   0x10000000ull
#define DATA_LEN   (16ull << 20)
#define HDR(q, s)  (VDF_BUF + 0x1000ull * (q) + 16ull * (s))
#define ST(q, s)   (VDF_BUF + 0x4000ull + 0x100ull * (q) + (s))

struct workload {
	const char *name;
	uint32_t type;	  /* KVMHOST_VIRTIO_BLK_T_IN / _OUT */
	uint32_t io_size; /* bytes */
	unsigned depth;
	unsigned queues;
	int random;
	int cold;     /* drop the image from the page cache first */
	uint64_t ops; /* per queue */
};

struct bench {
	struct vdf f;
	uint8_t *data;
	char path[512];
	int fd;
	uint64_t file_bytes;
	int efd[MAX_QUEUES];
};

struct drv {
	struct bench *bn;
	const struct workload *w;
	unsigned q;
	uint64_t next_seq;
	uint64_t rng;
	int failed;
	pthread_t th;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec * 1e-6;
}

/* The transport's queue interrupt: an irqfd-like eventfd per queue. */
static int irq(void *opaque, uint16_t queue)
{
	struct bench *bn = opaque;
	uint64_t one = 1;

	if (queue < MAX_QUEUES && write(bn->efd[queue], &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

static const struct kvmhost_virtio_transport_ops tops = {
    .size = sizeof(struct kvmhost_virtio_transport_ops),
    .queue_interrupt = irq,
};

/* Post request slot @s of the driver's queue: descriptors 3s..3s+2. */
static void post(struct drv *d, unsigned s)
{
	struct bench *bn = d->bn;
	struct vd_queue *vq = &bn->f.q[d->q];
	const struct workload *w = d->w;
	uint64_t blocks = bn->file_bytes / w->io_size, sector;
	uint64_t data = DATA_GPA + ((uint64_t)d->q * MAX_DEPTH + s) * w->io_size;
	uint16_t head = (uint16_t)(3 * s);
	int in = w->type == KVMHOST_VIRTIO_BLK_T_IN;

	if (w->random) {
		sector = (xorshift(&d->rng) % blocks) * (w->io_size / 512);
	} else {
		sector = (d->next_seq % blocks) * (w->io_size / 512);
		d->next_seq++;
	}
	vd_w32(&bn->f.m, HDR(d->q, s), w->type);
	vd_w32(&bn->f.m, HDR(d->q, s) + 4, 0);
	vd_w64(&bn->f.m, HDR(d->q, s) + 8, sector);
	vd_split_desc(vq, head, HDR(d->q, s), 16, VD_F_NEXT, head + 1);
	vd_split_desc(vq, head + 1u, data, w->io_size, VD_F_NEXT | (in ? VD_F_WRITE : 0), head + 2);
	vd_split_desc(vq, head + 2u, ST(d->q, s), 1, VD_F_WRITE, 0);
	vd_split_publish(vq, head);
}

/* Kick unless the device said it does not need one (virtqueue_kick_prepare). */
static void kick(struct drv *d)
{
	struct vd_queue *vq = &d->bn->f.q[d->q];
	uint16_t flags;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = __atomic_load_n((uint16_t *)vd_host(vq->m, vq->device), __ATOMIC_ACQUIRE);
	if (!(flags & 1))
		(void)kvmhost_virtio_device_queue_notify(d->bn->f.dev, (uint16_t)d->q);
}

static void *driver(void *opaque)
{
	struct drv *d = opaque;
	const struct workload *w = d->w;
	uint64_t posted = 0, done = 0;

	for (unsigned s = 0; s < w->depth && posted < w->ops; s++, posted++)
		post(d, s);
	kick(d);
	while (done < w->ops) {
		uint64_t v;
		uint32_t id, len;
		int again = 0;

		if (read(d->bn->efd[d->q], &v, sizeof(v)) < 0 && errno != EINTR) {
			d->failed = 1;
			return NULL;
		}
		while (vd_split_get_used(&d->bn->f.q[d->q], &id, &len)) {
			unsigned s = id / 3;

			if (*vd_host(&d->bn->f.m, ST(d->q, s)) != KVMHOST_VIRTIO_BLK_S_OK) {
				d->failed = 1;
				return NULL;
			}
			done++;
			if (posted < w->ops) {
				post(d, s);
				posted++;
				again = 1;
			}
		}
		if (again)
			kick(d);
	}
	return NULL;
}

struct result {
	double secs, cpu;
};

static int run_once(struct bench *bn, const struct workload *w, uint32_t backend, struct result *r)
{
	struct kvmhost_virtio_blk_options o = {.size = sizeof(o)};
	struct kvmhost_virtio_blk *blk;
	struct drv d[MAX_QUEUES];
	double t0, c0;
	int err, failed = 0;

	if (w->cold) {
		(void)fdatasync(bn->fd);
		(void)posix_fadvise(bn->fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	o.path = bn->path;
	o.num_queues = (uint16_t)w->queues;
	o.queue_size = QSIZE;
	o.backend = backend;
	err = kvmhost_virtio_blk_create(bn->f.m.mem, &o, &blk);
	if (err < 0)
		return err;
	bn->f.dev = kvmhost_virtio_blk_device(blk);
	(void)kvmhost_virtio_device_set_transport(bn->f.dev, &tops, bn);
	/* As a Linux guest: FLUSH (a writeback cache), MQ when there are queues. */
	err = vdf_start(&bn->f,
			KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_BLK_F_FLUSH) |
			    (w->queues > 1 ? KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_BLK_F_MQ) : 0),
			w->queues, 0, QSIZE);
	if (err < 0) {
		kvmhost_virtio_blk_destroy(blk);
		return err;
	}
	t0 = now();
	c0 = cpu_now();
	for (unsigned q = 0; q < w->queues; q++) {
		d[q] = (struct drv){.bn = bn, .w = w, .q = q, .rng = 0x9e3779b97f4a7c15ull * (q + 1)};
		d[q].next_seq = q * (bn->file_bytes / w->io_size / w->queues);
		pthread_create(&d[q].th, NULL, driver, &d[q]);
	}
	for (unsigned q = 0; q < w->queues; q++) {
		pthread_join(d[q].th, NULL);
		failed |= d[q].failed;
	}
	r->secs = now() - t0;
	r->cpu = cpu_now() - c0;
	kvmhost_virtio_blk_destroy(blk);
	return failed ? -EIO : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int make_image(struct bench *bn, const char *dir, uint64_t mib)
{
	size_t chunk = 1 << 20;
	uint8_t *buf = malloc(chunk);

	snprintf(bn->path, sizeof(bn->path), "%s/kvmhost-blk-bench-XXXXXX", dir);
	bn->fd = mkstemp(bn->path);
	if (bn->fd < 0 || !buf) {
		free(buf);
		return -1;
	}
	for (size_t i = 0; i < chunk; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (uint64_t i = 0; i < mib; i++)
		if (pwrite(bn->fd, buf, chunk, (off_t)(i * chunk)) != (ssize_t)chunk) {
			free(buf);
			return -1;
		}
	free(buf);
	(void)fdatasync(bn->fd);
	bn->file_bytes = mib << 20;
	/* Gone from the directory even if we crash; the device opens it
	 * through our descriptor. */
	unlink(bn->path);
	snprintf(bn->path, sizeof(bn->path), "/proc/self/fd/%d", bn->fd);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
	uint64_t mib = argc > 2 ? (uint64_t)atoll(argv[2]) : 256;
	const char *dir = argc > 3 ? argv[3] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	const char *only = argc > 4 ? argv[4] : NULL;
	const struct workload wl[] = {
	    {"4k-rand-read", KVMHOST_VIRTIO_BLK_T_IN, 4096, 32, 1, 1, 0, 100000},
	    {"4k-rand-read-2q", KVMHOST_VIRTIO_BLK_T_IN, 4096, 32, 2, 1, 0, 50000},
	    {"4k-rand-cold", KVMHOST_VIRTIO_BLK_T_IN, 4096, 32, 1, 1, 1, 4000},
	    {"1m-seq-read", KVMHOST_VIRTIO_BLK_T_IN, 1 << 20, 8, 1, 0, 0, 512},
	    {"1m-seq-write", KVMHOST_VIRTIO_BLK_T_OUT, 1 << 20, 8, 1, 0, 0, 256},
	};
	const uint32_t backends[2] = {KVMHOST_VIRTIO_BLK_BACKEND_THREADS, KVMHOST_VIRTIO_BLK_BACKEND_IO_URING};
	struct bench bn;
	int have_uring = 1;

	if (rounds == 0 || rounds > 99 || mib < 16) {
		fprintf(stderr, "usage: %s [rounds 1-99] [image MiB >= 16] [dir]\n", argv[0]);
		return 2;
	}
	memset(&bn, 0, sizeof(bn));
	if (vd_mem_init(&bn.f.m) < 0) {
		fprintf(stderr, "guest memory: %s\n", kvmhost_last_error());
		return 1;
	}
	bn.data = mmap(NULL, DATA_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (bn.data == MAP_FAILED || vd_add(bn.f.m.mem, DATA_GPA, DATA_LEN, bn.data, 0, NULL) < 0) {
		fprintf(stderr, "data region: %s\n", kvmhost_last_error());
		return 1;
	}
	memset(bn.data, 0x5a, DATA_LEN);
	for (unsigned q = 0; q < MAX_QUEUES; q++)
		bn.efd[q] = eventfd(0, EFD_CLOEXEC);
	if (make_image(&bn, dir, mib) < 0) {
		fprintf(stderr, "cannot write a %" PRIu64 " MiB image in %s: %s\n", mib, dir, strerror(errno));
		return 1;
	}
	printf("# virtio-blk backends: %u rounds (median), image %" PRIu64 " MiB in %s, %ld CPUs\n", rounds, mib, dir,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("# defaults: thread pool of 4 workers; io_uring: one ring + thread per queue (up to 4)\n");
	printf("%-16s %12s %12s %10s %9s %9s %9s\n", "workload", "threads", "io_uring", "ratio", "cpu-us/op",
	       "cpu-us/op", "cpu ratio");
	printf("%-16s %12s %12s %10s %9s %9s %9s\n", "", "(IOPS|MiB/s)", "(IOPS|MiB/s)", "(u/t)", "threads", "io_uring",
	       "(u/t)");
	for (size_t i = 0; i < sizeof(wl) / sizeof(wl[0]); i++) {
		const struct workload *w = &wl[i];
		double rate[2][99], cpu[2][99], med[2], mcpu[2];
		uint64_t total = w->ops * w->queues;
		int nb = have_uring ? 2 : 1;

		if (only && strcmp(only, w->name) != 0)
			continue;
		for (unsigned r = 0; r < rounds; r++) {
			for (int k = 0; k < nb; k++) {
				/* Alternate which backend goes first, to cancel drift. */
				int b = (r % 2) ? nb - 1 - k : k;
				struct result res;
				int err = run_once(&bn, w, backends[b], &res);

				if (err < 0 && b == 1) {
					printf("# io_uring backend unavailable: %s (thread pool only)\n",
					       kvmhost_last_error());
					have_uring = 0;
					nb = 1;
					break;
				}
				if (err < 0) {
					fprintf(stderr, "%s: %s\n", w->name, kvmhost_strerror(err));
					return 1;
				}
				rate[b][r] = (double)total / res.secs;
				cpu[b][r] = res.cpu * 1e6 / (double)total;
			}
		}
		for (int b = 0; b < nb; b++) {
			med[b] = median(rate[b], rounds);
			mcpu[b] = median(cpu[b], rounds);
		}
		if (w->io_size >= (1u << 20)) {
			med[0] *= w->io_size / 1048576.0;
			if (nb > 1)
				med[1] *= w->io_size / 1048576.0;
		}
		if (nb > 1)
			printf("%-16s %12.0f %12.0f %10.2f %9.1f %9.1f %9.2f\n", w->name, med[0], med[1],
			       med[1] / med[0], mcpu[0], mcpu[1], mcpu[1] / mcpu[0]);
		else
			printf("%-16s %12.0f %12s %10s %9.1f %9s %9s\n", w->name, med[0], "-", "-", mcpu[0], "-", "-");
		fflush(stdout);
	}
	close(bn.fd);
	vd_mem_fini(&bn.f.m);
	munmap(bn.data, DATA_LEN);
	return 0;
}
