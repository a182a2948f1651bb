/*
 * kvm tier: the boot vCPU state of kvmhost_x86_vcpu_setup_boot() for every
 * entry kind, checked from inside the guest. A tiny guest at 0x1000
 * (platform_entry32.S or platform_entry64.S) reports EAX, EBX, ESI, ESP, CS,
 * DS and CR0 with OUTs, then (where the kind has a boot GDT) reloads DS/SS
 * with __BOOT_DS and CS with __BOOT_CS through that GDT and says so:
 *  - LINUX_64 and RAW long mode: long mode, CS 0x10 / DS 0x18, RSI = zero page;
 *  - LINUX_32: protected mode, paging off, the same selectors, ESI = zero page;
 *  - PVH_32: EBX = start_info; MULTIBOOT_32: EAX = 0x2BADB002, EBX = MBI.
 * Each kind runs in a fresh VM with the CPUID builder and default MSRs
 * applied, which are read back too.
 */
#include <errno.h>
#include <string.h>
#include <linux/kvm.h>

#include <kvmhost/x86_platform.h>
#include "kvm_test_util.h"

GUEST_DECLARE(platform_entry32);
GUEST_DECLARE(platform_entry64);

#define GDT_FLAG_GPA 0x3000
#define CR0_PE	     0x1u
#define CR0_PG	     0x80000000u

struct expect {
	const char *name;
	enum kvmhost_x86_entry_kind kind;
	uint32_t raw_mode;
	int long_mode;
	uint64_t rax, rbx, rsi;
	int gdt; /* the guest may reload selectors through a boot GDT */
};

static uint32_t expect_out(struct test_vm *t, uint16_t port, const char *what, const char *name)
{
	const struct kvmhost_exit *e = test_run(t);
	uint32_t v;

	if (e->reason != KVMHOST_EXIT_IO || e->io.port != port || !e->io.is_write || e->io.size != 4) {
		fprintf(stderr, "FAIL: %s: waiting for %s (OUT to 0x%x), got exit %s", name, what, port,
			kvmhost_exit_reason_name(e->reason));
		if (e->reason == KVMHOST_EXIT_IO)
			fprintf(stderr, " (port 0x%x size %u)", e->io.port, e->io.size);
		if (e->reason == KVMHOST_EXIT_INTERNAL_ERROR)
			fprintf(stderr, " (suberror %u)%s", e->internal.suberror,
				test_kvm_is_pvm() ? " [PVM host]" : "");
		fprintf(stderr, "\n");
		exit(TEST_FAIL);
	}
	memcpy(&v, e->io.data, 4);
	return v;
}

#define EXPECT_EQ(what, got, want)                                                                                     \
	do {                                                                                                           \
		if ((uint64_t)(got) != (uint64_t)(want)) {                                                             \
			fprintf(stderr, "FAIL: %s: %s is 0x%llx, want 0x%llx\n", x->name, what,                        \
				(unsigned long long)(got), (unsigned long long)(want));                                \
			exit(TEST_FAIL);                                                                               \
		}                                                                                                      \
	} while (0)

static void run_kind(struct kvmhost_system *sys, const struct expect *x)
{
	struct kvmhost_x86_boot_info bi = {.size = sizeof(bi)};
	struct kvmhost_x86_boot_vcpu_options bo = {.size = sizeof(bo)};
	struct kvmhost_x86_cpuid *cpuid;
	struct test_vm t;
	const unsigned char *img = x->long_mode ? GUEST_BYTES(platform_entry64) : GUEST_BYTES(platform_entry32);
	size_t size = x->long_mode ? GUEST_SIZE(platform_entry64) : GUEST_SIZE(platform_entry32);
	uint8_t flag = (uint8_t)x->gdt;
	uint32_t idx[32], n, cr0;
	uint64_t want[32], got[32];
	const struct kvmhost_exit *e;

	/* The real-mode helper's VM, then our state replaces the mode. */
	test_vm_create_real(&t, sys, img, size);
	CHECK_OK(kvmhost_memory_write(kvmhost_vm_memory(t.vm), GDT_FLAG_GPA, &flag, 1));
	bi.kind = x->kind;
	bi.entry = KVMHOST_GUEST_LOAD_ADDR;
	bi.rax = x->rax;
	bi.rbx = x->rbx;
	bi.rsi = x->rsi;
	bi.kernel_start = KVMHOST_GUEST_LOAD_ADDR;
	bi.kernel_end = KVMHOST_GUEST_LOAD_ADDR + size;
	if (x->kind == KVMHOST_X86_ENTRY_LINUX_64 || x->kind == KVMHOST_X86_ENTRY_LINUX_32)
		bi.boot_params_gpa = x->rsi;
	bi.identity_map_end = 0x200000;
	bo.raw_mode = x->raw_mode;
	CHECK_OK(kvmhost_x86_cpuid_create_from_system(sys, &cpuid));
	CHECK_OK(kvmhost_x86_vcpu_setup_boot(t.vcpu, cpuid, &bi, &bo));
	kvmhost_x86_cpuid_destroy(cpuid);

	/* The default MSRs are in place. */
	CHECK_OK(kvmhost_x86_msr_defaults(idx, want, 32, &n));
	CHECK(kvmhost_x86_vcpu_get_msrs(t.vcpu, idx, got, n) == (int)n);
	for (uint32_t i = 0; i < n; i++)
		EXPECT_EQ("a default MSR", got[i], want[i]);

	EXPECT_EQ("EAX", expect_out(&t, 0xf0, "EAX", x->name), (uint32_t)x->rax);
	EXPECT_EQ("EBX", expect_out(&t, 0xf1, "EBX", x->name), (uint32_t)x->rbx);
	EXPECT_EQ("ESI", expect_out(&t, 0xf2, "ESI", x->name), (uint32_t)x->rsi);
	EXPECT_EQ("ESP", expect_out(&t, 0xf3, "ESP", x->name), KVMHOST_X86_BOOT_STACK_DEFAULT);
	EXPECT_EQ("CS", expect_out(&t, 0xf4, "CS", x->name), 0x10);
	EXPECT_EQ("DS", expect_out(&t, 0xf5, "DS", x->name), 0x18);
	cr0 = expect_out(&t, 0xf6, "CR0", x->name);
	EXPECT_EQ("CR0.PE", cr0 & CR0_PE, CR0_PE);
	EXPECT_EQ("CR0.PG", cr0 & CR0_PG, x->long_mode ? CR0_PG : 0);
	if (x->gdt)
		EXPECT_EQ("the mark after reloading CS/DS through the boot GDT",
			  expect_out(&t, 0xf7, "the GDT reload", x->name), 0x600d);
	e = test_run(&t);
	if (e->reason != KVMHOST_EXIT_HLT) {
		fprintf(stderr, "FAIL: %s: expected HLT at the end, got %s\n", x->name,
			kvmhost_exit_reason_name(e->reason));
		exit(TEST_FAIL);
	}
	test_vm_destroy(&t);
}

int main(void)
{
	static const struct expect kinds[] = {
	    {"LINUX_64", KVMHOST_X86_ENTRY_LINUX_64, 0, 1, 0, 0, 0x7000, 1},
	    {"RAW long mode", KVMHOST_X86_ENTRY_RAW, KVMHOST_X86_RAW_LONG_64, 1, 0x11, 0x22, 0x33, 1},
	    {"LINUX_32", KVMHOST_X86_ENTRY_LINUX_32, 0, 0, 0, 0, 0x7000, 1},
	    {"PVH_32", KVMHOST_X86_ENTRY_PVH_32, 0, 0, 0, 0x6000, 0, 0},
	    {"MULTIBOOT_32", KVMHOST_X86_ENTRY_MULTIBOOT_32, 0, 0, KVMHOST_X86_MULTIBOOT_BOOTLOADER_MAGIC, 0x9000, 0,
	     0},
	    {"RAW protected mode", KVMHOST_X86_ENTRY_RAW, KVMHOST_X86_RAW_PROTECTED_32, 0, 0x44, 0x55, 0x66, 0},
	};
	struct kvmhost_system *sys = test_open_system();

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		run_kind(sys, &kinds[i]);
	kvmhost_system_close(sys);
	printf("platform_boot: LINUX_64, RAW long, LINUX_32, PVH_32, MULTIBOOT_32, RAW protected: registers, "
	       "selectors, CR0, boot GDT and default MSRs as specified\n");
	return TEST_PASS;
}
