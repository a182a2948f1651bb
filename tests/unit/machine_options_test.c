/*
 * Unit tests of the machine's options (machine.h, machine_x86.h): every bad
 * option is refused with -EINVAL (or -E2BIG / -ENOTSUP) and a message that
 * names it, before /dev/kvm is opened, leaving nothing behind (run under
 * ASan for leaks); an older caller's smaller options struct and smaller
 * array elements are accepted, a newer caller's bigger ones only while
 * their unknown bytes are zero. A create that passes every check fails here
 * at the kernel file, which is opened before KVM: so no test needs KVM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>
#include <kvmhost/x86_boot.h>

#include "core/internal.h"
#include "machine/machine_internal.h"
#include "unit_assert.h"

#define MISSING "/nonexistent/kernel"

static struct kvmhost_machine_options base(void)
{
	return (struct kvmhost_machine_options){.size = sizeof(struct kvmhost_machine_options),
						.kernel_path = MISSING,
						.ram_size = 16u << 20,
						.vcpu_count = 1};
}

/* Every option check passed: the next step, opening the kernel, fails. */
static void assert_options_ok(const struct kvmhost_machine_options *o)
{
	struct kvmhost_machine *m = (void *)1;

	reset_error();
	assert_int_equal(kvmhost_machine_create(o, &m), -ENOENT);
	assert_null(m);
	assert_non_null(strstr(kvmhost_last_error(), MISSING));
}

static void assert_refused(const struct kvmhost_machine_options *o, int err, const char *needle)
{
	struct kvmhost_machine *m = (void *)1;

	ASSERT_FAILS_MENTIONING(kvmhost_machine_create(o, &m), err, needle);
	assert_null(m);
}

static void test_basic_refusals(void **state)
{
	struct kvmhost_machine_options o = base();
	struct kvmhost_machine *m;

	(void)state;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_create(NULL, &m), EINVAL, "opts is NULL");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_create(&o, NULL), EINVAL, "out");
	assert_options_ok(&o);

	o = base(), o.kernel_path = NULL;
	assert_refused(&o, EINVAL, "kernel");
	o = base(), o.kernel = "x", o.kernel_size = 1;
	assert_refused(&o, EINVAL, "one of the two");
	o = base(), o.kernel_path = NULL, o.kernel = "x";
	assert_refused(&o, EINVAL, "kernel_size");
	o = base(), o.initrd = "x";
	assert_refused(&o, EINVAL, "initrd");
	o = base(), o.initrd_path = "a", o.initrd = "x", o.initrd_size = 1;
	assert_refused(&o, EINVAL, "not both");
	o = base(), o.ram_size = 1u << 20;
	assert_refused(&o, EINVAL, "ram_size");
	o = base(), o.ram_size = (16u << 20) + 1;
	assert_refused(&o, EINVAL, "ram_size");
	o = base(), o.ram_backing = 9;
	assert_refused(&o, EINVAL, "ram_backing");
	o = base(), o.ram_flags = 1u << 30;
	assert_refused(&o, EINVAL, "ram_flags");
	o = base(), o.ram_backing = KVMHOST_MACHINE_RAM_FILE;
	assert_refused(&o, EINVAL, "ram_path");
	o = base(), o.ram_path = "/tmp/x";
	assert_refused(&o, EINVAL, "ram_path");
	o = base(), o.ram_backing = KVMHOST_MACHINE_RAM_FILE, o.ram_path = "/tmp/x";
	assert_refused(&o, ENOTSUP, "RAM_SHARED");
	o = base(), o.hugepage_size = 4096;
	assert_refused(&o, EINVAL, "hugepage_size");
	o = base(), o.ram_backing = KVMHOST_MACHINE_RAM_HUGETLB, o.ram_flags = KVMHOST_MACHINE_RAM_THP;
	assert_refused(&o, EINVAL, "THP");
	o = base(), o.vcpu_count = 0;
	assert_refused(&o, EINVAL, "vcpu_count");
	o = base(), o.vcpu_count = KVMHOST_MACHINE_MAX_VCPUS + 1;
	assert_refused(&o, EINVAL, "vcpu_count");
	o = base(), o.flags = 1u << 7;
	assert_refused(&o, EINVAL, "flags");
	o = base(), o.name = "has space";
	assert_refused(&o, EINVAL, "name");
	o = base(), o.name = "a-name-that-is-much-too-long-for-a-machine";
	assert_refused(&o, EINVAL, "name");
	o = base(), o.transport = 7;
	assert_refused(&o, EINVAL, "transport");
	o = base(), o.on_reset = 7;
	assert_refused(&o, EINVAL, "on_reset");
	o = base(), o.event_opaque = &o;
	assert_refused(&o, EINVAL, "event_opaque");
	o = base(), o.device_count = 1;
	assert_refused(&o, EINVAL, "devices NULL");
	o = base(), o.device_count = KVMHOST_MACHINE_MAX_DEVICES + 1;
	assert_refused(&o, EINVAL, "device_count");
	o = base(), o.vcpu_size = 8;
	assert_refused(&o, EINVAL, "vcpu_size");
}

static void test_devices(void **state)
{
	static const struct kvmhost_machine_device_ops no_destroy = {.size = sizeof(no_destroy)};
	struct kvmhost_machine_device d[2];
	struct kvmhost_machine_options o = base();

	(void)state;
	o.devices = d;
	o.device_count = 1;
	o.device_size = sizeof(d[0]);
#define DEV(...) (memset(d, 0, sizeof(d)), d[0] = (struct kvmhost_machine_device){__VA_ARGS__}, d[1] = d[0])
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG, .in_fd = -1, .out_fd = -1);
	assert_options_ok(&o);
	DEV(.type = 99);
	assert_refused(&o, EINVAL, "unknown type");
	DEV(.type = KVMHOST_MACHINE_DEVICE_BLK);
	assert_refused(&o, EINVAL, "path");
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG, .flags = KVMHOST_MACHINE_DEVICE_READONLY);
	assert_refused(&o, EINVAL, "flags");
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG, .path = "x");
	assert_refused(&o, EINVAL, "path is for");
	DEV(.type = KVMHOST_MACHINE_DEVICE_CONSOLE, .path = "x", .in_fd = 0, .out_fd = -1);
	assert_refused(&o, EINVAL, "takes no fds");
	DEV(.type = KVMHOST_MACHINE_DEVICE_CONSOLE, .flags = KVMHOST_MACHINE_DEVICE_SOCKET, .in_fd = -1, .out_fd = -1);
	assert_refused(&o, EINVAL, "flags");
	DEV(.type = KVMHOST_MACHINE_DEVICE_BLK, .path = "x", .flags = KVMHOST_MACHINE_DEVICE_SOCKET);
	assert_refused(&o, EINVAL, "flags");
	DEV(.type = KVMHOST_MACHINE_DEVICE_NET, .in_fd = -1);
	assert_refused(&o, EINVAL, "TAP name");
	DEV(.type = KVMHOST_MACHINE_DEVICE_NET, .path = "a-name-longer-than-15");
	assert_refused(&o, EINVAL, "TAP name");
	DEV(.type = KVMHOST_MACHINE_DEVICE_NET, .path = "tap0", .mac = {1, 2, 3, 4, 5, 6});
	assert_refused(&o, EINVAL, "multicast");
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG, .mac = {2});
	assert_refused(&o, EINVAL, "mac is for net");
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG, .num_queues = 2);
	assert_refused(&o, EINVAL, "num_queues");
	DEV(.type = KVMHOST_MACHINE_DEVICE_CUSTOM);
	assert_refused(&o, EINVAL, "needs ops");
	DEV(.type = KVMHOST_MACHINE_DEVICE_CUSTOM, .ops = &no_destroy);
	assert_refused(&o, EINVAL, "create and destroy");
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG, .ops = &no_destroy);
	assert_refused(&o, EINVAL, "for custom devices");
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG, .id = "bad id");
	assert_refused(&o, EINVAL, "device id");
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG, .id = "same");
	o.device_count = 2;
	assert_refused(&o, EINVAL, "also devices[0]");
	/* Element sizes: too small to hold the type, or a bigger element with unknown bytes set. */
	o.device_count = 1;
	DEV(.type = KVMHOST_MACHINE_DEVICE_RNG);
	o.device_size = 4;
	assert_refused(&o, EINVAL, "element size");
	{
		unsigned char big[2 * sizeof(struct kvmhost_machine_device)] = {0};

		memcpy(big, &d[0], sizeof(d[0]));
		o.devices = (const void *)big;
		o.device_size = sizeof(big) / 2 + 8;
		assert_options_ok(&o); /* bigger, unknown bytes zero */
		big[sizeof(d[0]) + 3] = 1;
		assert_refused(&o, E2BIG, "does not know");
	}
#undef DEV
}

/* The element of the first version: everything up to mac (a later one may add fields). */
struct device_v0 {
	uint32_t type, flags;
	const char *id, *path;
	int in_fd, out_fd;
};

static void test_older_callers(void **state)
{
	struct kh_machine_config c;
	struct kvmhost_machine_options o = base();
	struct device_v0 old[2] = {{.type = KVMHOST_MACHINE_DEVICE_CONSOLE, .in_fd = 3, .out_fd = 4},
				   {.type = KVMHOST_MACHINE_DEVICE_BLK, .path = "/img", .in_fd = -1, .out_fd = -1}};
	uint8_t mask[8] = {1};
	struct {
		const void *affinity;
		size_t affinity_size;
	} vcpus[2] = {{mask, sizeof(mask)}, {NULL, 0}};
	struct kvmhost_machine_x86_options x86 = {.size = offsetof(struct kvmhost_machine_x86_options, mmio_hole_start),
						  .debug_exit_port = 0xf4};

	(void)state;
	o.devices = (const void *)old;
	o.device_count = 2;
	o.device_size = sizeof(old[0]);
	o.vcpus = (const void *)vcpus;
	o.vcpu_size = sizeof(vcpus[0]);
	o.vcpu_count = 2;
	assert_int_equal(kh_machine_config_load(&c, &o, "test"), 0);
	assert_int_equal(c.device_count, 2);
	assert_int_equal(c.devices[0].in_fd, 3);
	assert_int_equal(c.devices[0].out_fd, 4);
	assert_string_equal(c.devices[0].id, "console0");
	assert_string_equal(c.devices[1].path, "/img");
	assert_int_equal(c.devices[1].num_queues, 0); /* not in the old element: zero */
	assert_int_equal(c.vcpus[0].affinity_size, sizeof(mask));
	assert_null(c.vcpus[1].affinity);
	kh_machine_config_free(&c);

	/* An options struct that ends before arch_options (an older caller): arch defaults. */
	o = base();
	o.size = offsetof(struct kvmhost_machine_options, arch_options);
	assert_options_ok(&o);
	/* An older, smaller x86 options struct. */
	o = base();
	o.arch_options = &x86;
	assert_options_ok(&o);
	/* A bigger options struct with unknown bytes set. */
	{
		unsigned char big[sizeof(struct kvmhost_machine_options) + 16] = {0};

		o = base();
		o.size = sizeof(big);
		memcpy(big, &o, sizeof(o));
		assert_options_ok((const void *)big);
		big[sizeof(o) + 2] = 1;
		assert_refused((const void *)big, E2BIG, "does not know");
	}
	/* Affinity masks: size without a mask, or a mask too big. */
	o = base();
	vcpus[0].affinity_size = 0;
	o.vcpus = (const void *)vcpus;
	o.vcpu_size = sizeof(vcpus[0]);
	assert_refused(&o, EINVAL, "affinity_size");
}

static void test_x86_options(void **state)
{
	struct kvmhost_machine_x86_cpuid_edit e[1] = {{.function = 1, .reg = 2, .clear = 1u << 31}};
	struct kvmhost_machine_x86_options x;
	struct kvmhost_machine_options o = base();

	(void)state;
	o.arch_options = &x;
#define X86(...) (x = (struct kvmhost_machine_x86_options){.size = sizeof(x), __VA_ARGS__})
	X86(.cpuid_edits = e, .cpuid_edit_count = 1, .cpuid_edit_size = sizeof(e[0]));
	assert_options_ok(&o);
	X86(.flags = 1u << 20);
	assert_refused(&o, EINVAL, "flags");
	X86(.reserved0 = 1);
	assert_refused(&o, EINVAL, "reserved0");
	X86(.debug_exit_port = 0xfffe);
	assert_refused(&o, EINVAL, "debug_exit_port");
	X86(.raw_gpa = 0x1000);
	assert_refused(&o, EINVAL, "raw_gpa");
	X86(.cpuid_edit_count = 1);
	assert_refused(&o, EINVAL, "cpuid_edits NULL");
	X86(.cpuid_edit_count = 65, .cpuid_edits = e);
	assert_refused(&o, EINVAL, "cpuid_edit_count");
	e[0].reg = 4;
	X86(.cpuid_edits = e, .cpuid_edit_count = 1, .cpuid_edit_size = sizeof(e[0]));
	assert_refused(&o, EINVAL, "reg 4");
	e[0].reg = 2;
	X86(.cpuid_edits = e, .cpuid_edit_count = 1, .cpuid_edit_size = 4);
	assert_refused(&o, EINVAL, "element size");
	X86(.mmio_hole_start = 12345);
	assert_refused(&o, EINVAL, "mmio_hole_start");
	X86();
	x.size = 2;
	assert_refused(&o, EINVAL, "size");
	X86();
	o.kernel_format = 9;
	assert_refused(&o, EINVAL, "kernel_format");
	o.kernel_format = KVMHOST_X86_BOOT_RAW;
	assert_refused(&o, EINVAL, "raw_gpa");
	X86(.raw_gpa = 0x1000, .raw_mode = 7);
	assert_refused(&o, EINVAL, "raw_mode");
	X86(.raw_gpa = 0x1000);
	o.cmdline = "x";
	assert_refused(&o, EINVAL, "no command line");
	o.cmdline = NULL;
	assert_options_ok(&o);
#undef X86
}

static void test_accessors_null(void **state)
{
	struct kvmhost_machine_event ev = {.size = sizeof(ev)};
	struct kvmhost_machine_stop_info si = {.size = sizeof(si)};

	(void)state;
	assert_null(kvmhost_machine_name(NULL));
	assert_null(kvmhost_machine_vm(NULL));
	assert_null(kvmhost_machine_memory(NULL));
	assert_null(kvmhost_machine_vcpu(NULL, 0));
	assert_null(kvmhost_machine_registry(NULL));
	assert_int_equal(kvmhost_machine_vcpu_count(NULL), 0);
	ASSERT_FAILS(kvmhost_machine_next_event(NULL, &ev), EINVAL);
	ASSERT_FAILS(kvmhost_machine_get_stop_info(NULL, &si), EINVAL);
	ASSERT_FAILS(kvmhost_machine_event_fd(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_machine_io_fd(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_machine_dispatch(NULL, 0), EINVAL);
	ASSERT_FAILS(kvmhost_machine_wait(NULL, 0), EINVAL);
	ASSERT_FAILS(kvmhost_machine_request_reset(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_machine_request_poweroff(NULL), EINVAL);
	assert_string_equal(kvmhost_machine_stop_reason_name(99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_refusals), cmocka_unit_test(test_devices),
	    cmocka_unit_test(test_older_callers),  cmocka_unit_test(test_x86_options),
	    cmocka_unit_test(test_accessors_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
