/*
 * pio_roundtrip: the cost of one port-I/O exit round trip (KVM_RUN ->
 * KVM_EXIT_IO -> handled -> KVM_RUN) through the library against the same
 * guest driven by raw ioctls, in one process.
 *
 * The guest (real mode) loops on "out %al, $0x10; inc %al". Three variants
 * run in many short interleaved rounds, the order rotating each round, so
 * that drift of the host (frequency, neighbours) hits all alike; each
 * variant's figure is its median over rounds:
 *   raw         ioctl(KVM_RUN) and a check of kvm_run->io by hand
 *   lib         kvmhost_vcpu_run() + kvmhost_bus_dispatch_exit() to a device
 *               callback on a PIO bus (what a VMM does)
 *   lib-direct  kvmhost_vcpu_run() and the decoded exit handled by hand
 * Each handler checks the byte the guest wrote. Usage:
 *   pio_roundtrip [exits-per-round [rounds]]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <kvmhost/kvmhost.h>

#define GUEST_ADDR 0x1000
#define RAM_SIZE   (1u << 20)
#define PORT	   0x10

/* bench/guests/bench_pio.S, built and embedded by CMake:
 * 1: out %al, $0x10 ; inc %al ; jmp 1b */
extern const unsigned char guest_bench_pio[], guest_bench_pio_end[];
#define guest	   guest_bench_pio
#define GUEST_SIZE ((size_t)(guest_bench_pio_end - guest_bench_pio))

static void die(const char *what)
{
	fprintf(stderr, "pio_roundtrip: %s failed: %s / %s\n", what, strerror(errno), kvmhost_last_error());
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- raw KVM ---- */
struct raw {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	uint8_t next;
};

static void raw_setup(struct raw *r)
{
	struct kvm_userspace_memory_region slot = {.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE};
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rip = GUEST_ADDR, .rflags = 2};
	void *ram;
	int size;

	if ((r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		die("open /dev/kvm");
	if ((r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0)) < 0)
		die("KVM_CREATE_VM");
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap RAM");
	memcpy((char *)ram + GUEST_ADDR, guest, GUEST_SIZE);
	slot.userspace_addr = (uint64_t)(uintptr_t)ram;
	if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	if ((r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0)) < 0)
		die("KVM_CREATE_VCPU");
	if ((size = ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) < 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	r->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu, 0);
	if (r->run == MAP_FAILED)
		die("mmap kvm_run");
	if (ioctl(r->vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(r->vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(r->vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_SREGS/REGS");
}

static void raw_round(struct raw *r, long exits)
{
	for (long i = 0; i < exits; i++) {
		if (ioctl(r->vcpu, KVM_RUN, 0) < 0)
			die("KVM_RUN");
		if (r->run->exit_reason != KVM_EXIT_IO || r->run->io.port != PORT ||
		    ((uint8_t *)r->run)[r->run->io.data_offset] != r->next++)
			die("raw: unexpected exit");
	}
}

/* ---- libkvmhost ---- */
struct lib {
	struct kvmhost_system *sys;
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	struct kvmhost_bus *pio;
	uint8_t next;
	int bad;
};

static int dev_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct lib *l = opaque;

	(void)offset;
	if (len != 1 || *(const uint8_t *)data != l->next++)
		l->bad = 1;
	return 0;
}

static void lib_setup(struct lib *l)
{
	struct kvmhost_memory_options ram = {.size = sizeof(ram), .length = RAM_SIZE};
	struct kvmhost_bus_range dev = {
	    .size = sizeof(dev), .base = PORT, .length = 1, .write = dev_write, .opaque = l};

	if (kvmhost_system_open(NULL, &l->sys) < 0 || kvmhost_vm_create(l->sys, NULL, &l->vm) < 0 ||
	    kvmhost_vm_add_memory(l->vm, &ram, NULL) < 0 ||
	    kvmhost_memory_write(kvmhost_vm_memory(l->vm), GUEST_ADDR, guest, GUEST_SIZE) < 0 ||
	    kvmhost_vcpu_create(l->vm, 0, &l->vcpu) < 0 || kvmhost_x86_vcpu_setup_real_mode(l->vcpu, 0, GUEST_ADDR) < 0)
		die("library setup");
	if (kvmhost_bus_create("pio", &l->pio) < 0 || kvmhost_bus_register(l->pio, &dev) < 0)
		die("bus setup");
}

static void lib_round(struct lib *l, long exits)
{
	const struct kvmhost_exit *e;

	for (long i = 0; i < exits; i++) {
		if (kvmhost_vcpu_run(l->vcpu, &e) < 0)
			die("kvmhost_vcpu_run");
		if (kvmhost_bus_dispatch_exit(l->pio, NULL, e) != 0 || l->bad)
			die("lib: unexpected exit");
	}
}

static void lib_direct_round(struct lib *l, long exits)
{
	const struct kvmhost_exit *e;

	for (long i = 0; i < exits; i++) {
		if (kvmhost_vcpu_run(l->vcpu, &e) < 0)
			die("kvmhost_vcpu_run");
		if (e->reason != KVMHOST_EXIT_IO || e->io.port != PORT || e->io.data[0] != l->next++)
			die("lib-direct: unexpected exit");
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { RAW, LIB, LIB_DIRECT, VARIANTS };

int main(int argc, char **argv)
{
	long exits = argc > 1 ? atol(argv[1]) : 5000;
	int rounds = argc > 2 ? atoi(argv[2]) : 40;
	struct raw raw = {0};
	struct lib lib = {0};
	double *ns[VARIANTS], med[VARIANTS];

	if (exits <= 0 || rounds <= 0 || rounds > 100000) {
		fprintf(stderr, "usage: pio_roundtrip [exits-per-round [rounds]]\n");
		return 2;
	}
	for (int v = 0; v < VARIANTS; v++)
		if (!(ns[v] = calloc((size_t)rounds, sizeof(double))))
			die("calloc");
	raw_setup(&raw);
	lib_setup(&lib);
	/* Warm up every path (page faults, caches, branch predictors). */
	raw_round(&raw, 1000);
	lib_round(&lib, 1000);
	lib_direct_round(&lib, 1000);

	/* Each round runs the three variants back to back, starting with a
	 * different one each time, so neither drift nor position favours one. */
	for (int i = 0; i < rounds; i++) {
		for (int k = 0; k < VARIANTS; k++) {
			int v = (i + k) % VARIANTS;
			double t0 = now_ns();

			if (v == RAW)
				raw_round(&raw, exits);
			else if (v == LIB)
				lib_round(&lib, exits);
			else
				lib_direct_round(&lib, exits);
			ns[v][i] = (now_ns() - t0) / (double)exits;
		}
	}
	for (int v = 0; v < VARIANTS; v++)
		med[v] = median(ns[v], rounds);
	printf("pio_roundtrip: %d rounds x %ld exits per variant, interleaved; median ns/exit over rounds\n", rounds,
	       exits);
	printf("pio_roundtrip: raw %.2f us, lib %.2f us, ratio %.3f (lib = kvmhost_vcpu_run + "
	       "kvmhost_bus_dispatch_exit)\n",
	       med[RAW] / 1e3, med[LIB] / 1e3, med[LIB] / med[RAW]);
	printf("pio_roundtrip: raw %.2f us, lib-direct %.2f us, ratio %.3f (kvmhost_vcpu_run, exit handled directly)\n",
	       med[RAW] / 1e3, med[LIB_DIRECT] / 1e3, med[LIB_DIRECT] / med[RAW]);

	kvmhost_bus_destroy(lib.pio);
	kvmhost_vm_destroy(lib.vm);
	kvmhost_system_close(lib.sys);
	for (int v = 0; v < VARIANTS; v++)
		free(ns[v]);
	return 0;
}
