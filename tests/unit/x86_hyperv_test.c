/*
 * The Hyper-V CPUID profile (kvmhost_x86_cpuid_add_hyperv()) on fake lists: the Hyper-V leaves built from what
 * "KVM" offers cut to the enlightenments asked for, KVM's own leaves moved to 0x40000100, a caller's edit still
 * applied, and every refusal: unknown bits, SYNIC without VPINDEX, STIMER without SYNIC and TIME, a privilege
 * the list lacks, a list without the feature leaf, adding twice, NULLs. The guest-side proof is
 * tests/kvm/machine_hyperv_test.c (in the lab: this machine's KVM offers no Hyper-V list).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/x86_platform.h>
#include "core/internal.h"

#define UNIT_ERROR_PREFIX "kvmhost_x86_"
#include "unit_assert.h"

static const struct kvm_cpuid_entry2 fake_cpu[] = {
    {.function = 0, .eax = 0xd, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69},
    {.function = 1, .eax = 0x50657, .ecx = 0x00200000},
    {.function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56, .edx = 0x4d},
    {.function = 0x40000001, .eax = 0x01007afb},
};

/* What a 6.1 kvm_amd offers (shape, not exact values): every privilege, version, limits. */
static const struct kvm_cpuid_entry2 fake_hv[] = {
    {.function = 0x40000000, .eax = 0x4000000a, .ebx = 0x7263694d, .ecx = 0x666f736f, .edx = 0x76482074},
    {.function = 0x40000001, .eax = 0x31237648},
    {.function = 0x40000002, .eax = 0x00003839, .ebx = 0x000a0000},
    {.function = 0x40000003, .eax = 0x00002bff, .ebx = 0x00003930, .edx = 0x00bed7b2},
    {.function = 0x40000004, .eax = 0x00040e2c, .ebx = 0xffffffff},
    {.function = 0x40000005, .eax = 0x00000400},
};

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t function)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == function)
			return &e[i];
	return NULL;
}

static struct kvmhost_x86_cpuid *builder(void)
{
	struct kvmhost_x86_cpuid *c;

	ASSERT_OK(kvmhost_x86_cpuid_create(fake_cpu, 4, 0, &c));
	return c;
}

static void test_leaves(void **state)
{
	struct kvmhost_x86_cpuid *c = builder();
	struct kvm_cpuid_entry2 e[64];
	const struct kvm_cpuid_entry2 *l;
	uint32_t n = 0;

	(void)state;
	ASSERT_OK(kvmhost_x86_cpuid_add_hyperv(c, fake_hv, 6, KVMHOST_X86_HV_TIME | KVMHOST_X86_HV_VPINDEX));
	/* A caller's edit made after still applies on top. */
	ASSERT_OK(kvmhost_x86_cpuid_set_bits(c, 0x40000004, 0, KVMHOST_X86_CPUID_EAX, 1u << 9));
	ASSERT_OK(kvmhost_x86_cpuid_build(c, 0, e, 64, &n));
	l = find(e, n, 0x40000000);
	assert_non_null(l);
	assert_int_equal(l->eax, 0x40000006);
	assert_int_equal(l->ebx, 0x7263694d);
	assert_int_equal(find(e, n, 0x40000001)->eax, 0x31237648);
	assert_int_equal(find(e, n, 0x40000002)->ebx, 0x000a0000); /* the version KVM reports */
	/* Only what was asked for: hypercall (5), time ref count (1), reference TSC (9), VP index (6). */
	assert_int_equal(find(e, n, 0x40000003)->eax, (1u << 1) | (1u << 5) | (1u << 6) | (1u << 9));
	assert_int_equal(find(e, n, 0x40000003)->edx, 0);
	assert_int_equal(find(e, n, 0x40000004)->eax, 1u << 9); /* no hv-relaxed; the caller's bit */
	assert_int_equal(find(e, n, 0x40000004)->ebx, 0xffffffffu);
	assert_int_equal(find(e, n, 0x40000005)->eax, 0x400);
	/* KVM's leaves, 0x100 up, their maximum leaf moved with them. */
	l = find(e, n, 0x40000100);
	assert_non_null(l);
	assert_int_equal(l->eax, 0x40000101);
	assert_int_equal(l->ebx, 0x4b4d564b);
	assert_int_equal(find(e, n, 0x40000101)->eax, 0x01007afb);
	/* Adding twice is refused. */
	ASSERT_FAILS_MENTIONING(kvmhost_x86_cpuid_add_hyperv(c, fake_hv, 6, KVMHOST_X86_HV_TIME), EEXIST, "already");
	kvmhost_x86_cpuid_destroy(c);

	c = builder();
	ASSERT_OK(kvmhost_x86_cpuid_add_hyperv(c, fake_hv, 6, KVMHOST_X86_HV_ALL));
	ASSERT_OK(kvmhost_x86_cpuid_build(c, 0, e, 64, &n));
	assert_int_equal(find(e, n, 0x40000003)->eax,
			 (1u << 1) | (1u << 2) | (1u << 3) | (1u << 5) | (1u << 6) | (1u << 9));
	assert_int_equal(find(e, n, 0x40000003)->edx, 1u << 19); /* stimer direct mode, offered */
	assert_int_equal(find(e, n, 0x40000004)->eax, 1u << 5);	 /* relaxed timing */
	kvmhost_x86_cpuid_destroy(c);
}

static void test_refusals(void **state)
{
	struct kvmhost_x86_cpuid *c = builder();
	struct kvm_cpuid_entry2 poor[6];

	(void)state;
	ASSERT_FAILS(kvmhost_x86_cpuid_add_hyperv(NULL, fake_hv, 6, KVMHOST_X86_HV_TIME), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_add_hyperv(c, NULL, 6, KVMHOST_X86_HV_TIME), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_add_hyperv(c, fake_hv, 6, 0), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_add_hyperv(c, fake_hv, 6, 1u << 7), EINVAL);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_cpuid_add_hyperv(c, fake_hv, 6, KVMHOST_X86_HV_SYNIC), EINVAL,
				"hv-vpindex");
	ASSERT_FAILS_MENTIONING(
	    kvmhost_x86_cpuid_add_hyperv(c, fake_hv, 6, KVMHOST_X86_HV_STIMER | KVMHOST_X86_HV_TIME), EINVAL,
	    "hv-synic");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_cpuid_add_hyperv(c, fake_hv, 2, KVMHOST_X86_HV_TIME), ENOTSUP,
				"feature leaf");
	memcpy(poor, fake_hv, sizeof(poor));
	poor[3].eax &= ~(1u << 9); /* no reference TSC page */
	ASSERT_FAILS_MENTIONING(kvmhost_x86_cpuid_add_hyperv(c, poor, 6, KVMHOST_X86_HV_TIME), ENOTSUP, "0x200");
	/* Nothing was added by the refusals: the builder still has KVM's leaves at 0x40000000. */
	ASSERT_OK(kvmhost_x86_cpuid_add_hyperv(c, poor, 6, KVMHOST_X86_HV_VPINDEX));
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_hyperv(NULL, KVMHOST_X86_HV_SYNIC), EINVAL);
	kvmhost_x86_cpuid_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_leaves), cmocka_unit_test(test_refusals)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
