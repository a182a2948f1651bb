/*
 * vm_bringup: the cost of bringing a small VM to its first exit and tearing
 * it down: create the VM, add one 1 MiB RAM region, load a one-instruction
 * guest (HLT), create one vCPU, put it in real mode, run to the HLT exit,
 * destroy everything. The library against raw ioctls in one process, in
 * many short interleaved rounds (which goes first alternates), each variant's
 * figure being its median over rounds. Both keep /dev/kvm open across
 * bring-ups, as a VMM would. Usage:
 *   vm_bringup [bringups-per-round [rounds]]
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

/* bench/guests/bench_hlt.S, built and embedded by CMake: hlt */
extern const unsigned char guest_bench_hlt[], guest_bench_hlt_end[];
#define guest	   guest_bench_hlt
#define GUEST_SIZE ((size_t)(guest_bench_hlt_end - guest_bench_hlt))

static void die(const char *what)
{
	fprintf(stderr, "vm_bringup: %s failed: %s / %s\n", what, strerror(errno), kvmhost_last_error());
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void raw_bringup(int kvm, size_t run_size)
{
	struct kvm_userspace_memory_region slot = {.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE};
	struct kvm_regs regs = {.rip = GUEST_ADDR, .rflags = 2};
	struct kvm_sregs sregs;
	struct kvm_run *run;
	int vm, vcpu;
	void *ram;

	if ((vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0)
		die("KVM_CREATE_VM");
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap RAM");
	slot.userspace_addr = (uint64_t)(uintptr_t)ram;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	memcpy((char *)ram + GUEST_ADDR, guest, GUEST_SIZE);
	if ((vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0)
		die("KVM_CREATE_VCPU");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_SREGS/REGS");
	if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_HLT)
		die("raw run to HLT");
	munmap(run, run_size);
	close(vcpu);
	close(vm);
	munmap(ram, RAM_SIZE);
}

static void lib_bringup(struct kvmhost_system *sys)
{
	struct kvmhost_memory_options ram = {.size = sizeof(ram), .length = RAM_SIZE};
	const struct kvmhost_exit *e;
	struct kvmhost_vcpu *vcpu = NULL;
	struct kvmhost_vm *vm = NULL;

	if (kvmhost_vm_create(sys, NULL, &vm) < 0 || kvmhost_vm_add_memory(vm, &ram, NULL) < 0 ||
	    kvmhost_memory_write(kvmhost_vm_memory(vm), GUEST_ADDR, guest, GUEST_SIZE) < 0 ||
	    kvmhost_vcpu_create(vm, 0, &vcpu) < 0 || kvmhost_x86_vcpu_setup_real_mode(vcpu, 0, GUEST_ADDR) < 0)
		die("library bring-up");
	if (kvmhost_vcpu_run(vcpu, &e) < 0 || e->reason != KVMHOST_EXIT_HLT)
		die("library run to HLT");
	kvmhost_vm_destroy(vm);
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

int main(int argc, char **argv)
{
	long per_round = argc > 1 ? atol(argv[1]) : 10;
	int rounds = argc > 2 ? atoi(argv[2]) : 40;
	struct kvmhost_system *sys;
	double *raw_ns, *lib_ns, raw, lib;
	int kvm, run_size;

	if (per_round <= 0 || rounds <= 0 || rounds > 100000) {
		fprintf(stderr, "usage: vm_bringup [bringups-per-round [rounds]]\n");
		return 2;
	}
	raw_ns = calloc((size_t)rounds, sizeof(double));
	lib_ns = calloc((size_t)rounds, sizeof(double));
	if (!raw_ns || !lib_ns)
		die("calloc");
	if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		die("open /dev/kvm");
	if ((run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) < 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	if (kvmhost_system_open(NULL, &sys) < 0)
		die("kvmhost_system_open");
	/* Warm up both paths. */
	for (int j = 0; j < 3; j++) {
		raw_bringup(kvm, (size_t)run_size);
		lib_bringup(sys);
	}

	/* Alternate which variant goes first in a round. */
	for (int i = 0; i < rounds; i++) {
		for (int k = 0; k < 2; k++) {
			int is_lib = (i + k) % 2;
			double t0 = now_ns();

			for (long j = 0; j < per_round; j++) {
				if (is_lib)
					lib_bringup(sys);
				else
					raw_bringup(kvm, (size_t)run_size);
			}
			(is_lib ? lib_ns : raw_ns)[i] = (now_ns() - t0) / (double)per_round;
		}
	}
	raw = median(raw_ns, rounds);
	lib = median(lib_ns, rounds);
	printf("vm_bringup: %d rounds x %ld bring-ups per variant, interleaved; median per bring-up over rounds\n",
	       rounds, per_round);
	printf("vm_bringup: raw %.0f us, lib %.0f us, ratio %.3f\n", raw / 1e3, lib / 1e3, lib / raw);
	kvmhost_system_close(sys);
	close(kvm);
	free(raw_ns);
	free(lib_ns);
	return 0;
}
