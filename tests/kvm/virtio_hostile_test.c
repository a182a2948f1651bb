/*
 * kvm tier: a hostile guest against the four library virtio devices, with a
 * bystander VM in the same process.
 *
 * The hostile VM has 2 MiB of RAM whose host mapping sits between two
 * canary areas (one mapping: canary, RAM, canary), and four virtio-mmio
 * transports on an MMIO bus, each wired with kvmhost_virtio_mmio_wire()
 * (queue kicks are ioeventfds served by a kvmhost_loop in its own thread):
 * virtio-blk on a temporary raw file, virtio-net (FDS backend) on one end
 * of a SOCK_SEQPACKET socketpair, virtio-console (STDIO backend, output to
 * a pipe), virtio-rng. Its guest (tests/guests/virtio_hostile.S, CPL3)
 * negotiates each device properly and then posts malformed requests:
 *
 *   blk      1 a chain that loops, 2 the header in a device-writable
 *              descriptor, 3 a data buffer running past the end of RAM
 *   rng      4 a device-readable buffer, 5 a buffer outside RAM (on the
 *              blk transport's registers)
 *   net      6 an available index jump beyond the queue size, 7 a length
 *              that wraps the address space, 8 a descriptor table outside
 *              RAM (refused at QueueReady)
 *   console  9 an indirect descriptor in an indirect table, 10 a
 *              device-writable transmit buffer, 11 a used ring straddling
 *              the end of RAM (refused at QueueReady)
 *
 * After each case the guest sees DEVICE_NEEDS_RESET in Status and (where
 * DRIVER_OK was set when the device broke) the configuration-change bit in
 * InterruptStatus, and checks that nothing was used; the host checks that
 * kvmhost_virtio_device_needs_reset() gives the expected reason for that
 * device only, and that the canaries are intact. Then the guest resets the
 * device and performs one valid request, which must succeed: the host
 * checks the sector the guest read, the rng's request count, the console
 * bytes on the pipe, the frame on the socketpair.
 *
 * Meanwhile a second VM (tests/guests/virtio_hostile_count.S, CPL3) counts
 * in its RAM, in its own thread, from before the hostile VM starts until
 * after it is torn down; it must make progress during and after the abuse,
 * and still be running at the end, when a kick stops it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <kvmhost/bus.h>
#include <kvmhost/loop.h>
#include <kvmhost/virtio/block.h>
#include <kvmhost/virtio/console.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/mmio.h>
#include <kvmhost/virtio/net.h>
#include <kvmhost/virtio/rng.h>
#include <kvmhost/virtio/wiring.h>

#include "kvm_test_util.h"

GUEST_DECLARE(virtio_hostile);
GUEST_DECLARE(virtio_hostile_count);

/* Guest layout, as in tests/guests/virtio_hostile.S. */
#define MMIO_BASE      0x10000000ull
#define RINGS	       0x20000ull
#define RAM_SIZE       (2ull << 20)
#define CANARY_SIZE    (64u << 10)
#define DONE_PORT      0xf0
#define BROKEN_PORT    0xf1
#define RECOVERED_PORT 0xf2
#define YIELD_PORT     0xf3
/* blk's data buffer of the valid request (queue 0 area + 0x3200). */
#define BLK_DATA_GPA (RINGS + 0x3200)

/* The bystander's counter and port (tests/guests/virtio_hostile_count.S). */
#define COUNT_GPA  0x8000
#define COUNT_PORT 0x60

#define DISK_SECTORS  512 /* 256 KiB */
#define PHASE_LIMIT_S 20  /* one guest wait may take this long */

enum { DEV_BLK, DEV_NET, DEV_CON, DEV_RNG, NDEV };
static const char *const dev_names[NDEV] = {"virtio-blk", "virtio-net", "virtio-console", "virtio-rng"};

struct hostile_case {
	unsigned id;
	int dev;
	const char *what;
	const char *reason; /* expected in kvmhost_virtio_device_needs_reset()'s reason */
};

static const struct hostile_case cases[] = {
    {1, DEV_BLK, "descriptor chain that loops", "loops"},
    {2, DEV_BLK, "request header in a device-writable descriptor", "header shorter than 16 bytes"},
    {3, DEV_BLK, "data buffer running past the end of RAM", "0x200000 is not guest memory"},
    {4, DEV_RNG, "device-readable buffer", "entropy request with device-readable buffers"},
    {5, DEV_RNG, "buffer outside RAM (on an MMIO window)", "0x10000000 is not guest memory"},
    {6, DEV_NET, "available index jump beyond the queue size", "more than the queue size"},
    {7, DEV_NET, "length that wraps the address space", "wraps around the address space"},
    {8, DEV_NET, "descriptor table outside RAM (QueueReady)", "descriptor table [0x40000000"},
    {9, DEV_CON, "indirect descriptor inside an indirect table", "indirect descriptor inside an indirect table"},
    {10, DEV_CON, "device-writable transmit buffer", "transmit buffer with device-writable parts"},
    {11, DEV_CON, "used ring straddling the end of RAM (QueueReady)", "used ring [0x1fffe0"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ---- the bystander VM ---- */

struct bystander {
	struct test_vm t;
	pthread_t thread;
	atomic_int running;
	atomic_int stop;
	atomic_int failed;
	atomic_ullong exits;
};

static uint64_t bystander_count(struct bystander *b)
{
	return __atomic_load_n((uint64_t *)(void *)(b->t.ram_host + COUNT_GPA), __ATOMIC_RELAXED);
}

static void *bystander_fn(void *arg)
{
	struct bystander *b = arg;

	atomic_store(&b->running, 1);
	for (;;) {
		const struct kvmhost_exit *e;

		if (kvmhost_vcpu_run(b->t.vcpu, &e) < 0) {
			fprintf(stderr, "bystander: run failed: %s\n", kvmhost_last_error());
			atomic_store(&b->failed, 1);
			break;
		}
		if (e->reason == KVMHOST_EXIT_IO && e->io.port == COUNT_PORT && e->io.is_write) {
			atomic_fetch_add(&b->exits, 1);
			continue;
		}
		if (e->reason == KVMHOST_EXIT_KICKED) {
			if (atomic_load(&b->stop))
				break;
			continue;
		}
		fprintf(stderr, "bystander: unexpected exit %s (KVM %u)\n", kvmhost_exit_reason_name(e->reason),
			e->kvm_exit_reason);
		atomic_store(&b->failed, 1);
		break;
	}
	atomic_store(&b->running, 0);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait up to @limit_s for the bystander's counter to pass @than. */
static int bystander_moves(struct bystander *b, uint64_t than, double limit_s)
{
	double end = now_s() + limit_s;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};

	while (bystander_count(b) <= than && now_s() < end)
		nanosleep(&ts, NULL);
	return bystander_count(b) > than;
}

static void bystander_start(struct bystander *b, struct kvmhost_system *sys)
{
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};

	memset(b, 0, sizeof(*b));
	test_vm_create_real(&b->t, sys, GUEST_BYTES(virtio_hostile_count), GUEST_SIZE(virtio_hostile_count));
	lo.entry = KVMHOST_GUEST_LOAD_ADDR;
	lo.stack = 0x80000;
	lo.page_table_gpa = 0x100000;
	lo.identity_map_size = b->t.ram_size;
	lo.user_mode = 1;
	lo.gdt_gpa = 0x104000;
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(b->t.vcpu, &lo));
	CHECK(pthread_create(&b->thread, NULL, bystander_fn, b) == 0);
	if (!bystander_moves(b, 0, 10)) {
		fprintf(stderr, "FAIL: the bystander VM never started counting\n");
		exit(TEST_FAIL);
	}
}

/* ---- the hostile VM ---- */

struct hdev {
	struct kvmhost_virtio_device *vdev;
	struct kvmhost_virtio_mmio *mmio;
	struct kvmhost_virtio_wiring *wiring;
};

struct hostile {
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	struct kvmhost_memory_region *ram_region;
	uint8_t *map; /* canary, RAM, canary */
	size_t map_len;
	uint8_t *ram;
	struct kvmhost_bus *bus;
	struct kvmhost_loop *loop;
	pthread_t loop_thread;
	int loop_rc;
	struct hdev dev[NDEV];
	struct kvmhost_virtio_blk *blk;
	struct kvmhost_virtio_net *net;
	struct kvmhost_virtio_console *con;
	struct kvmhost_virtio_rng *rng;
	int sock[2]; /* net backend: sock[0] the device's, sock[1] ours */
	int con_pipe[2];
	uint8_t sector1[512];
	unsigned rng_recoveries;
};

static uint8_t canary_byte(size_t i)
{
	return (uint8_t)(0xa5 ^ (i * 131) ^ (i >> 9));
}

static void canary_check(struct hostile *h, const char *when)
{
	const uint8_t *after = h->ram + RAM_SIZE;

	for (size_t i = 0; i < CANARY_SIZE; i++) {
		if (h->map[i] != canary_byte(i) || after[i] != canary_byte(CANARY_SIZE + i)) {
			fprintf(stderr, "FAIL: %s: host memory %s guest RAM was written (byte %zu)\n", when,
				h->map[i] != canary_byte(i) ? "before" : "after", i);
			exit(TEST_FAIL);
		}
	}
}

static void sector_fill(uint8_t *s, unsigned n)
{
	for (unsigned i = 0; i < 512; i++)
		s[i] = (uint8_t)(n * 7 + i * 13);
	memcpy(s, "HOSTILE", 7);
	s[7] = (uint8_t)('0' + n % 10);
}

static void *loop_fn(void *arg)
{
	struct hostile *h = arg;

	h->loop_rc = kvmhost_loop_run(h->loop);
	return NULL;
}

static void hostile_create(struct hostile *h, struct kvmhost_system *sys)
{
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};
	struct kvmhost_virtio_blk_options bo = {.size = sizeof(bo)};
	struct kvmhost_virtio_net_options no = {.size = sizeof(no)};
	struct kvmhost_virtio_console_options co = {.size = sizeof(co)};
	struct kvmhost_virtio_rng_options ro = {.size = sizeof(ro)};
	struct kvmhost_virtio_wire_options wo = {.size = sizeof(wo)};
	struct kvmhost_memory *mem;
	char path[] = "/tmp/kvmhost-hostile-XXXXXX";
	int r, fd;

	memset(h, 0, sizeof(*h));
	r = kvmhost_vm_create(sys, NULL, &h->vm);
	if (r == -EACCES || r == -EPERM)
		SKIP("cannot create a VM: %s", kvmhost_last_error());
	CHECK(r == 0);

	/* RAM between two canaries, in one host mapping. */
	h->map_len = RAM_SIZE + 2 * CANARY_SIZE;
	h->map = mmap(NULL, h->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(h->map != MAP_FAILED);
	h->ram = h->map + CANARY_SIZE;
	for (size_t i = 0; i < CANARY_SIZE; i++) {
		h->map[i] = canary_byte(i);
		h->ram[RAM_SIZE + i] = canary_byte(CANARY_SIZE + i);
	}
	mo.guest_phys_addr = 0;
	mo.length = RAM_SIZE;
	mo.backing = KVMHOST_MEMORY_HOST_POINTER;
	mo.host_addr = h->ram;
	mo.name = "hostile-ram";
	CHECK_OK(kvmhost_vm_add_memory(h->vm, &mo, &h->ram_region));
	mem = kvmhost_vm_memory(h->vm);
	CHECK_OK(kvmhost_memory_write(mem, KVMHOST_GUEST_LOAD_ADDR, GUEST_BYTES(virtio_hostile),
				      GUEST_SIZE(virtio_hostile)));
	CHECK_OK(kvmhost_vcpu_create(h->vm, 0, &h->vcpu));
	lo.entry = KVMHOST_GUEST_LOAD_ADDR;
	lo.stack = 0x80000;
	lo.page_table_gpa = 0x100000;
	lo.identity_map_size = 0; /* 1 GiB: the transports sit at 256 MiB */
	lo.user_mode = 1;
	lo.gdt_gpa = 0x104000;
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(h->vcpu, &lo));

	/* virtio-blk on a temporary raw image; sector n starts "HOSTILE<n%10>". */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	for (unsigned s = 0; s < DISK_SECTORS; s++) {
		uint8_t sec[512];

		sector_fill(sec, s);
		CHECK(pwrite(fd, sec, sizeof(sec), (off_t)s * 512) == (ssize_t)sizeof(sec));
		if (s == 1)
			memcpy(h->sector1, sec, sizeof(sec));
	}
	bo.path = path;
	bo.queue_size = 8;
	r = kvmhost_virtio_blk_create(mem, &bo, &h->blk);
	unlink(path);
	close(fd);
	CHECK(r == 0);
	h->dev[DEV_BLK].vdev = kvmhost_virtio_blk_device(h->blk);

	/* virtio-net on a SOCK_SEQPACKET socketpair, bare frames. */
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, h->sock) == 0);
	no.backend = KVMHOST_VIRTIO_NET_BACKEND_FDS;
	no.rx_fd = h->sock[0];
	no.tx_fd = h->sock[0];
	no.queue_size = 8;
	CHECK_OK(kvmhost_virtio_net_create(mem, &no, &h->net));
	h->dev[DEV_NET].vdev = kvmhost_virtio_net_device(h->net);

	/* virtio-console: output to a pipe, no input. */
	CHECK(pipe2(h->con_pipe, O_CLOEXEC) == 0);
	CHECK(fcntl(h->con_pipe[0], F_SETFL, O_NONBLOCK) == 0);
	co.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO;
	co.in_fd = -1;
	co.out_fd = h->con_pipe[1];
	co.queue_size = 8;
	CHECK_OK(kvmhost_virtio_console_create(mem, &co, &h->con));
	h->dev[DEV_CON].vdev = kvmhost_virtio_console_device(h->con);

	ro.queue_size = 8;
	CHECK_OK(kvmhost_virtio_rng_create(mem, &ro, &h->rng));
	h->dev[DEV_RNG].vdev = kvmhost_virtio_rng_device(h->rng);

	/* Transports and their KVM wiring, kicks served by the loop. */
	CHECK_OK(kvmhost_bus_create("hostile-mmio", &h->bus));
	CHECK_OK(kvmhost_loop_create(&h->loop));
	wo.loop = h->loop;
	for (int d = 0; d < NDEV; d++) {
		struct kvmhost_virtio_mmio_options mmo = {.size = sizeof(mmo)};

		mmo.name = dev_names[d];
		CHECK_OK(kvmhost_virtio_mmio_create(h->dev[d].vdev, &mmo, &h->dev[d].mmio));
		CHECK_OK(kvmhost_virtio_mmio_attach(h->dev[d].mmio, h->bus, MMIO_BASE + 0x1000ull * (unsigned)d));
		CHECK_OK(kvmhost_virtio_mmio_wire(h->vm, h->dev[d].mmio, &wo, &h->dev[d].wiring));
	}
	CHECK(pthread_create(&h->loop_thread, NULL, loop_fn, h) == 0);
}

static void hostile_destroy(struct hostile *h)
{
	CHECK_OK(kvmhost_loop_stop(h->loop));
	CHECK(pthread_join(h->loop_thread, NULL) == 0);
	if (h->loop_rc != 0)
		fprintf(stderr, "FAIL: the event loop ended with %d (%s)\n", h->loop_rc, kvmhost_last_error());
	CHECK(h->loop_rc == 0);
	for (int d = 0; d < NDEV; d++) {
		kvmhost_virtio_wiring_destroy(h->dev[d].wiring);
		kvmhost_virtio_mmio_destroy(h->dev[d].mmio);
	}
	kvmhost_virtio_blk_destroy(h->blk);
	kvmhost_virtio_net_destroy(h->net);
	kvmhost_virtio_console_destroy(h->con);
	kvmhost_virtio_rng_destroy(h->rng);
	kvmhost_loop_destroy(h->loop);
	kvmhost_bus_destroy(h->bus);
	kvmhost_vm_destroy(h->vm);
	canary_check(h, "after teardown");
	CHECK(munmap(h->map, h->map_len) == 0);
	close(h->sock[0]);
	close(h->sock[1]);
	close(h->con_pipe[0]);
	close(h->con_pipe[1]);
}

/* Read what @fd has (one read, or one datagram), waiting up to 5 s for it. */
static ssize_t read_within(int fd, void *buf, size_t cap)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, 5000) != 1)
		return -1;
	return read(fd, buf, cap);
}

/* Whether @fd has something to read now. */
static int readable_now(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/* The guest saw DEVICE_NEEDS_RESET in case @c: check the device side. */
static void on_broken(struct hostile *h, const struct hostile_case *c)
{
	char reason[256];

	for (int d = 0; d < NDEV; d++) {
		int nr = kvmhost_virtio_device_needs_reset(h->dev[d].vdev, reason, sizeof(reason));

		if (d != c->dev) {
			if (nr != 0)
				fprintf(stderr, "FAIL: case %u: %s needs a reset too: %s\n", c->id, dev_names[d],
					reason);
			CHECK(nr == 0);
			continue;
		}
		if (nr != 1)
			fprintf(stderr, "FAIL: case %u (%s): the guest saw NEEDS_RESET, the library says %d\n", c->id,
				c->what, nr);
		CHECK(nr == 1);
		if (!strstr(reason, c->reason))
			fprintf(stderr, "FAIL: case %u (%s): reason \"%s\", expected it to contain \"%s\"\n", c->id,
				c->what, reason, c->reason);
		CHECK(strstr(reason, c->reason) != NULL);
		CHECK(kvmhost_virtio_device_get_status(h->dev[d].vdev) & KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
		printf("case %2u %-14s %-48s -> NEEDS_RESET: %s\n", c->id, dev_names[d], c->what, reason);
	}
	/* Nothing of a malformed request reached the backends. */
	if (readable_now(h->con_pipe[0]) || readable_now(h->sock[1]))
		fprintf(stderr, "FAIL: case %u: output reached the %s backend\n", c->id,
			readable_now(h->con_pipe[0]) ? "console" : "net");
	CHECK(!readable_now(h->con_pipe[0]) && !readable_now(h->sock[1]));
	canary_check(h, "after a malformed request");
}

/* The guest's valid request after the reset succeeded: check what arrived. */
static void on_recovered(struct hostile *h, const struct hostile_case *c)
{
	struct kvmhost_virtio_device *vdev = h->dev[c->dev].vdev;
	uint8_t buf[256];
	ssize_t n;

	CHECK(kvmhost_virtio_device_needs_reset(vdev, NULL, 0) == 0);
	CHECK(kvmhost_virtio_device_get_status(vdev) == 0xf);
	switch (c->dev) {
	case DEV_BLK:
		CHECK(memcmp(h->ram + BLK_DATA_GPA, h->sector1, 512) == 0);
		break;
	case DEV_RNG: {
		struct kvmhost_virtio_rng_stats st = {.size = sizeof(st)};

		CHECK_OK(kvmhost_virtio_rng_get_stats(h->rng, &st));
		h->rng_recoveries++;
		/* Only the valid requests were served. */
		CHECK(st.requests == h->rng_recoveries && st.bytes == 64ull * h->rng_recoveries);
		break;
	}
	case DEV_CON: {
		char want[16];

		snprintf(want, sizeof(want), "console:%c\n", 'A' + c->id);
		n = read_within(h->con_pipe[0], buf, sizeof(buf));
		if (n != (ssize_t)strlen(want) || memcmp(buf, want, strlen(want)) != 0)
			fprintf(stderr, "FAIL: case %u: console output %zd bytes, expected \"console:%c\\n\"\n", c->id,
				n, 'A' + c->id);
		CHECK(n == (ssize_t)strlen(want) && memcmp(buf, want, strlen(want)) == 0);
		break;
	}
	case DEV_NET: {
		uint8_t want[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x88, 0xb5};

		memcpy(want + 14, "hostile", 7);
		want[21] = (uint8_t)('A' + c->id);
		n = read_within(h->sock[1], buf, sizeof(buf));
		if (n != (ssize_t)sizeof(want) || memcmp(buf, want, sizeof(want)) != 0)
			fprintf(stderr, "FAIL: case %u: the socketpair got %zd bytes, not the guest's 60-byte frame\n",
				c->id, n);
		CHECK(n == (ssize_t)sizeof(want) && memcmp(buf, want, sizeof(want)) == 0);
		break;
	}
	}
	canary_check(h, "after recovery");
}

/* Run the hostile guest to its end; returns the bystander's counts at the
 * first and the last report. */
static void hostile_run(struct hostile *h, struct bystander *b, uint64_t *first, uint64_t *last)
{
	double phase = now_s();
	size_t k = 0;
	int broken = 0;
	unsigned long mmio_exits = 0, yields = 0;

	for (;;) {
		const struct kvmhost_exit *e;
		uint32_t v = 0;

		CHECK_OK(kvmhost_vcpu_run(h->vcpu, &e));
		if (e->reason == KVMHOST_EXIT_MMIO) {
			mmio_exits++;
			CHECK(kvmhost_bus_dispatch_exit(NULL, h->bus, e) == 0);
			continue;
		}
		if (e->reason != KVMHOST_EXIT_IO || !e->io.is_write || e->io.count != 1) {
			fprintf(stderr, "FAIL: hostile guest: unexpected exit %s (KVM %u) before case %zu ended\n",
				kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason, k < NCASES ? k + 1 : k);
			exit(TEST_FAIL);
		}
		memcpy(&v, e->io.data, e->io.size <= 4 ? e->io.size : 4);
		if (e->io.port == YIELD_PORT) {
			CHECK(k < NCASES);
			yields++;
			if (now_s() - phase > PHASE_LIMIT_S) {
				canary_check(h, "guest stuck");
				fprintf(stderr,
					"FAIL: case %u: the guest waited %d s for the device (%s); %s Status 0x%x\n",
					cases[k].id, PHASE_LIMIT_S,
					broken ? "the valid request" : "DEVICE_NEEDS_RESET or its interrupt",
					dev_names[cases[k].dev],
					kvmhost_virtio_device_get_status(h->dev[cases[k].dev].vdev));
				exit(TEST_FAIL);
			}
			sched_yield();
			continue;
		}
		if (e->io.port == DONE_PORT) {
			canary_check(h, "at the end of the guest");
			if (v != 0)
				fprintf(stderr,
					"FAIL: the hostile guest failed in case %u at step %u (see "
					"tests/guests/virtio_hostile.S)\n",
					v >> 8, v & 0xff);
			CHECK(v == 0);
			break;
		}
		CHECK(k < NCASES);
		if (e->io.port == BROKEN_PORT) {
			uint64_t count = bystander_count(b);

			CHECK(v == cases[k].id && !broken);
			on_broken(h, &cases[k]);
			if (k == 0)
				*first = count;
			/* The other VM runs on while this device needs a reset. */
			if (!bystander_moves(b, count, 10)) {
				fprintf(stderr, "FAIL: case %u: the bystander VM stopped counting (at %llu)\n",
					cases[k].id, (unsigned long long)count);
				exit(TEST_FAIL);
			}
			broken = 1;
		} else if (e->io.port == RECOVERED_PORT) {
			CHECK(v == cases[k].id && broken);
			on_recovered(h, &cases[k]);
			broken = 0;
			k++;
		} else {
			fprintf(stderr, "FAIL: hostile guest: OUT to unknown port 0x%x\n", e->io.port);
			exit(TEST_FAIL);
		}
		phase = now_s();
	}
	*last = bystander_count(b);
	CHECK(k == NCASES);
	for (int d = 0; d < NDEV; d++) {
		CHECK(kvmhost_virtio_device_needs_reset(h->dev[d].vdev, NULL, 0) == 0);
		CHECK(kvmhost_virtio_mmio_bad_accesses(h->dev[d].mmio) == 0);
	}
	printf("hostile guest: %zu cases, %lu MMIO exits, %lu polls\n", k, mmio_exits, yields);
}

static const char *volatile watchdog_what = "setup";

static void watchdog(int sig)
{
	ssize_t r;

	(void)sig;
	r = write(2, "FAIL: virtio_hostile_test timed out during: ", 44);
	r = write(2, watchdog_what, strlen(watchdog_what));
	r = write(2, "\n", 1);
	(void)r;
	_exit(TEST_FAIL);
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct sigaction sa;
	struct bystander b;
	struct hostile h;
	uint64_t before, first = 0, last = 0, after;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watchdog;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	alarm(100);
	signal(SIGPIPE, SIG_IGN);

	watchdog_what = "bystander start";
	bystander_start(&b, sys);
	watchdog_what = "hostile VM setup";
	hostile_create(&h, sys);
	before = bystander_count(&b);

	watchdog_what = "hostile guest";
	hostile_run(&h, &b, &first, &last);
	CHECK(atomic_load(&b.running) && !atomic_load(&b.failed));

	watchdog_what = "hostile VM teardown";
	hostile_destroy(&h);

	/* The bystander counted while the devices were abused and goes on
	 * after the hostile VM is gone. */
	watchdog_what = "bystander checks";
	printf("bystander: count %llu before, %llu at the first case, %llu at the end of the abuse\n",
	       (unsigned long long)before, (unsigned long long)first, (unsigned long long)last);
	if (!(first >= before && last > first))
		fprintf(stderr, "FAIL: the bystander VM made no progress during the hostile run\n");
	CHECK(first >= before && last > first);
	after = bystander_count(&b);
	if (!bystander_moves(&b, after, 10))
		fprintf(stderr, "FAIL: the bystander VM stopped counting after the hostile run\n");
	CHECK(bystander_count(&b) > after);
	CHECK(atomic_load(&b.running) && !atomic_load(&b.failed));
	printf("bystander: count %llu after teardown, %llu port exits served\n",
	       (unsigned long long)bystander_count(&b), (unsigned long long)atomic_load(&b.exits));
	CHECK(atomic_load(&b.exits) > 0);

	watchdog_what = "bystander stop";
	atomic_store(&b.stop, 1);
	CHECK_OK(kvmhost_vcpu_kick(b.t.vcpu));
	CHECK(pthread_join(b.thread, NULL) == 0);
	CHECK(!atomic_load(&b.running) && !atomic_load(&b.failed));
	test_vm_destroy(&b.t);
	kvmhost_system_close(sys);
	alarm(0);
	printf("virtio_hostile_test: pass\n");
	return TEST_PASS;
}
