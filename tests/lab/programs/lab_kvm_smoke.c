/*
 * Lab self-test: the raw KVM ioctls, without libkvmhost, so that the lab can
 * tell "this L1 offers a working /dev/kvm" apart from "the library is broken".
 * A real-mode guest writes 0x42 to port 0x10, then writes port 0x11 1000
 * times (to time the userspace PIO exit round trip), then halts.
 * Exit status: 0 pass, 1 fail (kvm-tier convention).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FAIL(...)                                                                                                      \
	do {                                                                                                           \
		fprintf(stderr, "FAIL: " __VA_ARGS__);                                                                 \
		fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));                                          \
		return 1;                                                                                              \
	} while (0)

static const uint8_t guest_code[] = {
    0xb0, 0x42,	      /* mov al, 0x42 */
    0xe6, 0x10,	      /* out 0x10, al */
    0xb9, 0xe8, 0x03, /* mov cx, 1000 */
    0xe6, 0x11,	      /* l: out 0x11, al */
    0xe2, 0xfc,	      /* loop l */
    0xf4,	      /* hlt */
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(void)
{
	double t_start = now_us();
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		FAIL("open /dev/kvm");
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION)
		FAIL("KVM_GET_API_VERSION gave %d", api);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		FAIL("KVM_CREATE_VM");

	size_t mem_size = 0x10000;
	uint8_t *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAIL("mmap guest memory");
	memcpy(mem + 0x1000, guest_code, sizeof(guest_code));
	struct kvm_userspace_memory_region region = {
	    .slot = 0, .guest_phys_addr = 0, .memory_size = mem_size, .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		FAIL("KVM_SET_USER_MEMORY_REGION");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		FAIL("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		FAIL("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		FAIL("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		FAIL("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		FAIL("KVM_SET_SREGS");
	struct kvm_regs regs = {.rip = 0x1000, .rflags = 0x2};
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		FAIL("KVM_SET_REGS");
	double t_ready = now_us();

	int first_seen = 0, loop_exits = 0;
	double t_loop = 0;
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			FAIL("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1)
			FAIL("unexpected exit reason %u", run->exit_reason);
		uint8_t val = *((uint8_t *)run + run->io.data_offset);
		if (run->io.port == 0x10 && val == 0x42 && !first_seen) {
			first_seen = 1;
			t_loop = now_us();
		} else if (run->io.port == 0x11 && first_seen) {
			loop_exits++;
		} else {
			FAIL("unexpected OUT port 0x%x value 0x%x", run->io.port, val);
		}
	}
	double t_end = now_us();
	if (!first_seen || loop_exits != 1000)
		FAIL("saw first=%d and %d loop exits, want 1 and 1000", first_seen, loop_exits);
	printf("lab_kvm_smoke: setup %.0f us, PIO exit round trip %.1f us, HLT reached\n", t_ready - t_start,
	       (t_end - t_loop) / 1000.0);
	return 0;
}
