/*
 * arm64 (built on arm64 only): the arm64 machine behind machine.h (lib/arch/arm64/machine_arm64.c) on the tiny
 * Image tests/guests-arm64/machine_image.S. Machine 1 (2 vCPUs, a virtio-rng, on_reset REBOOT): the guest
 * prints on the 16550 at 0x09000000 (the serial out_fd), checks that x0 points at a device tree, starts vCPU 1
 * by PSCI CPU_ON (it prints too), resets by PSCI SYSTEM_RESET (the machine reboots it: the kernel reloaded,
 * the vCPUs re-initialised, vCPU 1 powered off again), and on its second boot powers off by PSCI SYSTEM_OFF:
 * the machine stops with POWEROFF. The DTB the guest got is read back from guest memory and checked
 * (fdt_check_full through kvmhost_arm64_fdt_check, and the strings of its nodes). Machine 2 (1 vCPU, on_reset
 * STOP): SYSTEM_RESET stops it with RESET. kvmhost_machine_check() refuses what the arm64 machine does not have.
 * kvmhost_machine_wait() is given 120 s as a hang guard, not a timing assertion. Without a usable /dev/kvm:
 * exit 77 (SKIP).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <kvmhost/arm64_fdt.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/machine.h>

#include "kvm_test_util.h"

extern const unsigned char guest_arm64_machine_image[], guest_arm64_machine_image_end[];

#define SCRATCH 0x40800000ull
#define CMDLINE "console=ttyS0 earlycon kvmhost-arm64-test"

static char output[4096];

static void read_output(int fd)
{
	test_read_fd(fd, output, sizeof(output));
	printf("guest output:\n%s--\n", output);
}

static int has(const void *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle) + 1) != NULL; /* with the NUL: whole strings */
}

static void options(struct kvmhost_machine_options *o, struct kvmhost_machine_serial *s, int out_fd)
{
	test_machine_options_arm64(o, s, "arm64-test", guest_arm64_machine_image,
				   (size_t)(guest_arm64_machine_image_end - guest_arm64_machine_image), out_fd);
	o->cmdline = CMDLINE;
}

static void stop_info(struct kvmhost_machine *m, struct kvmhost_machine_stop_info *si)
{
	memset(si, 0, sizeof(*si));
	si->size = sizeof(*si);
	CHECK_OK(kvmhost_machine_get_stop_info(m, si));
	printf("stopped: %s (vCPU %u, system event %u, pc 0x%llx)\n", kvmhost_machine_stop_reason_name(si->reason),
	       si->vcpu, si->system_event, (unsigned long long)si->pc);
}

int main(void)
{
	struct kvmhost_machine_options o;
	struct kvmhost_machine_serial s;
	struct kvmhost_machine_device dev = {
	    .type = KVMHOST_MACHINE_DEVICE_RNG, .id = "rng0", .in_fd = -1, .out_fd = -1};
	struct kvmhost_machine_stop_info si;
	struct kvmhost_machine *m;
	uint64_t dtb_gpa = 0, boots = 0;
	unsigned char *dtb;
	int out, x;

	out = memfd_create("arm64-machine-out", MFD_CLOEXEC);
	CHECK(out >= 0);

	/* What the arm64 machine refuses, before any KVM call. */
	options(&o, &s, out);
	o.arch_options = &x;
	CHECK(kvmhost_machine_check(&o) == -EINVAL);
	options(&o, &s, out);
	o.transport = KVMHOST_MACHINE_TRANSPORT_PCI;
	CHECK(kvmhost_machine_check(&o) == -ENOTSUP);
	options(&o, &s, out);
	o.kernel_size = 63; /* shorter than the Image header */
	CHECK(kvmhost_machine_check(&o) == -ENOEXEC);
	options(&o, &s, out);
	CHECK_OK(kvmhost_machine_check(&o));

	/* Machine 1: 2 vCPUs, a virtio-rng, reset reboots. */
	options(&o, &s, out);
	o.vcpu_count = 2;
	o.devices = &dev;
	o.device_count = 1;
	o.on_reset = KVMHOST_MACHINE_RESET_REBOOT;
	m = test_machine_create(&o);
	CHECK_OK(kvmhost_machine_start(m));
	CHECK_OK(kvmhost_machine_wait(m, 120000));
	stop_info(m, &si);
	read_output(out);
	CHECK(si.reason == KVMHOST_MACHINE_STOP_POWEROFF);
	CHECK(si.system_event == KVM_SYSTEM_EVENT_SHUTDOWN);
	CHECK(strcmp(output, "boot 1 dtb ok\ncpu1 up\nboot 2 dtb ok\ncpu1 up\n") == 0);
	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), SCRATCH, &boots, 8));
	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), SCRATCH + 8, &dtb_gpa, 8));
	printf("boots %llu, DTB at 0x%llx\n", (unsigned long long)boots, (unsigned long long)dtb_gpa);
	CHECK(boots == 2 && dtb_gpa >= 0x40000000ull && dtb_gpa < SCRATCH);
	dtb = malloc(KVMHOST_ARM64_FDT_MAX_SIZE);
	CHECK(dtb);
	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), dtb_gpa, dtb, 64u << 10));
	CHECK_OK(kvmhost_arm64_fdt_check(dtb, 64u << 10));
	/* Names and strings of what the machine describes (the builder's own unit test checks every node). */
	CHECK(has(dtb, 64u << 10, CMDLINE));
	CHECK(has(dtb, 64u << 10, "ns16550a") && has(dtb, 64u << 10, "uart@9000000"));
	CHECK(has(dtb, 64u << 10, "virtio_mmio@a000000") && has(dtb, 64u << 10, "virtio,mmio"));
	CHECK(has(dtb, 64u << 10, "intc@8000000") && has(dtb, 64u << 10, "arm,gic-v3"));
	CHECK(has(dtb, 64u << 10, "cpu@0") && has(dtb, 64u << 10, "cpu@1") && !has(dtb, 64u << 10, "cpu@2"));
	CHECK(has(dtb, 64u << 10, "arm,psci-0.2") && has(dtb, 64u << 10, "arm,armv8-timer"));
	CHECK(has(dtb, 64u << 10, "memory@40000000") && has(dtb, 64u << 10, "/uart@9000000"));
	free(dtb);
	kvmhost_machine_destroy(m);

	/* Machine 2: 1 vCPU, reset stops it. */
	CHECK(ftruncate(out, 0) == 0 && lseek(out, 0, SEEK_SET) == 0);
	options(&o, &s, out);
	CHECK_OK(kvmhost_machine_create(&o, &m));
	CHECK_OK(kvmhost_machine_start(m));
	CHECK_OK(kvmhost_machine_wait(m, 120000));
	stop_info(m, &si);
	read_output(out);
	CHECK(si.reason == KVMHOST_MACHINE_STOP_RESET);
	CHECK(strcmp(output, "boot 1 dtb ok\n") == 0);
	kvmhost_machine_destroy(m);
	close(out);
	printf("arm64_machine_test: passed\n");
	return 0;
}
