/*
 * Unit tests of the core: error model, log callback, version, option-struct
 * size rules, and the system handle's error paths (which need no KVM).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <linux/kvm.h> /* KVM_CAP_*: on x86 kvmhost.h brings it through x86.h, not elsewhere */

#include <kvmhost/kvmhost.h>
#include "core/internal.h"

static void test_version(void **state)
{
	(void)state;
	assert_int_equal(kvmhost_version(), KVMHOST_VERSION_NUMBER);
	assert_string_equal(kvmhost_version_string(), KVMHOST_VERSION_STRING);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(kvmhost_strerror(0), "Success");
	assert_string_equal(kvmhost_strerror(-EINVAL), "Invalid argument");
	assert_non_null(kvmhost_strerror(-99999));
	assert_non_null(kvmhost_strerror(5));
}

static void test_fail_sets_message(void **state)
{
	(void)state;
	assert_int_equal(KH_FAIL(EEXIST, "range %d taken", 7), -EEXIST);
	assert_string_equal(kvmhost_last_error(), "test_fail_sets_message: range 7 taken: File exists");
	/* errno 0 is not an error: reported as EIO rather than as success. */
	assert_int_equal(kh_fail(0, "f", "x"), -EIO);
	/* Wrapping an inner failure with the same errno says the errno's text once; another errno keeps both. */
	assert_int_equal(KH_FAIL(EEXIST, "range %d taken", 7), -EEXIST);
	assert_int_equal(kh_fail(EEXIST, "outer", "device d: %s", kvmhost_last_error()), -EEXIST);
	assert_string_equal(kvmhost_last_error(),
			    "outer: device d: test_fail_sets_message: range 7 taken: File exists");
	assert_int_equal(kh_fail(EINVAL, "outer", "device d: %s", "inner: File exists"), -EINVAL);
	assert_string_equal(kvmhost_last_error(), "outer: device d: inner: File exists: Invalid argument");
}

static void *other_thread(void *arg)
{
	(void)arg;
	/* A fresh thread has no error yet, whatever the main thread did. */
	return (void *)(uintptr_t)(kvmhost_last_error()[0] == '\0');
}

static void test_last_error_is_per_thread(void **state)
{
	pthread_t t;
	void *clean;

	(void)state;
	KH_FAIL(EINVAL, "main thread error");
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	assert_int_equal(pthread_join(t, &clean), 0);
	assert_true((uintptr_t)clean);
	assert_non_null(strstr(kvmhost_last_error(), "main thread error"));
}

struct log_capture {
	int calls;
	enum kvmhost_log_level level;
	char msg[256];
};

static void capture_log(enum kvmhost_log_level level, const char *msg, void *opaque)
{
	struct log_capture *c = opaque;
	c->calls++;
	c->level = level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void test_log_callback(void **state)
{
	struct log_capture c = {0};

	(void)state;
	/* No callback: nothing happens, nothing crashes. */
	assert_int_equal(kvmhost_set_log_callback(NULL, NULL, KVMHOST_LOG_DEBUG), 0);
	kh_log(KVMHOST_LOG_ERROR, "dropped");

	assert_int_equal(kvmhost_set_log_callback(capture_log, &c, KVMHOST_LOG_WARN), 0);
	kh_log(KVMHOST_LOG_INFO, "too detailed");
	assert_int_equal(c.calls, 0);
	kh_log(KVMHOST_LOG_WARN, "odd %d", 42);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.level, KVMHOST_LOG_WARN);
	assert_string_equal(c.msg, "odd 42");

	/* At DEBUG, every failure is logged too. */
	assert_int_equal(kvmhost_set_log_callback(capture_log, &c, KVMHOST_LOG_DEBUG), 0);
	KH_FAIL(ENOENT, "gone");
	assert_int_equal(c.calls, 2);
	assert_non_null(strstr(c.msg, "gone"));

	assert_int_equal(kvmhost_set_log_callback(capture_log, &c, (enum kvmhost_log_level)9), -EINVAL);
	assert_int_equal(kvmhost_set_log_callback(capture_log, &c, (enum kvmhost_log_level) - 1), -EINVAL);
	assert_int_equal(kvmhost_set_log_callback(NULL, NULL, KVMHOST_LOG_ERROR), 0);
}

/* A library struct with three fields, an "older" caller struct with two and a
 * "newer" one with four. Each version's new fields start at or after the
 * previous version's sizeof, never in its tail padding (an older caller's
 * padding is garbage): the rule docs/architecture.md states for growing a
 * public options struct. */
struct opts_v2 {
	size_t size;
	int64_t a;
	int64_t b;
};
struct opts_v1 {
	size_t size;
	int64_t a;
};
struct opts_v3 {
	size_t size;
	int64_t a;
	int64_t b;
	uint64_t c;
};

static void test_options_sizes(void **state)
{
	struct opts_v2 dst;
	struct opts_v1 older = {.size = sizeof(older), .a = 5};
	struct opts_v3 newer = {.size = sizeof(newer), .a = 1, .b = 2, .c = 0};
	size_t tiny = 3;

	(void)state;
	/* NULL: all defaults (zero). */
	assert_int_equal(KH_COPY_OPTIONS(&dst, NULL), 0);
	assert_int_equal(dst.a, 0);

	/* Older caller: known fields copied, missing ones zero. */
	memset(&dst, 0xaa, sizeof(dst));
	assert_int_equal(KH_COPY_OPTIONS(&dst, &older), 0);
	assert_int_equal(dst.a, 5);
	assert_int_equal(dst.b, 0);
	assert_int_equal(dst.size, sizeof(dst));

	/* Newer caller with the unknown tail zero: accepted. */
	assert_int_equal(KH_COPY_OPTIONS(&dst, &newer), 0);
	assert_int_equal(dst.a, 1);
	assert_int_equal(dst.b, 2);

	/* Newer caller asking for something we do not know: refused. */
	newer.c = 1;
	assert_int_equal(KH_COPY_OPTIONS(&dst, &newer), -E2BIG);
	assert_non_null(strstr(kvmhost_last_error(), "does not know"));

	/* A size smaller than the size field itself, or absurd. */
	assert_int_equal(KH_COPY_OPTIONS(&dst, &tiny), -EINVAL);
	older.size = 1u << 20;
	assert_int_equal(KH_COPY_OPTIONS(&dst, &older), -EINVAL);
}

static void test_system_bad_input(void **state)
{
	struct kvmhost_system *sys = (void *)1;
	struct kvmhost_system_options o = {.size = sizeof(o)};

	(void)state;
	assert_int_equal(kvmhost_system_open(NULL, NULL), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kvmhost_system_open"));

	o.device_path = "/nonexistent/kvm";
	assert_int_equal(kvmhost_system_open(&o, &sys), -ENOENT);
	assert_null(sys);
	assert_non_null(strstr(kvmhost_last_error(), "/nonexistent/kvm"));

	/* Not a KVM device: the API version ioctl fails. */
	o.device_path = "/dev/null";
	assert_true(kvmhost_system_open(&o, &sys) < 0);
	assert_non_null(strstr(kvmhost_last_error(), "KVM_GET_API_VERSION"));

	o.device_path = NULL;
	o.flags = 0x80;
	assert_int_equal(kvmhost_system_open(&o, &sys), -EINVAL);
	o.flags = 0;
	o.kick_signal = 9; /* SIGKILL */
	assert_int_equal(kvmhost_system_open(&o, &sys), -EINVAL);
	o.kick_signal = 1000;
	assert_int_equal(kvmhost_system_open(&o, &sys), -EINVAL);

	assert_int_equal(kvmhost_system_fd(NULL), -EINVAL);
	assert_int_equal(kvmhost_system_check_extension(NULL, 0), -EINVAL);
	assert_int_equal(kvmhost_system_vcpu_mmap_size(NULL), -EINVAL);
	assert_int_equal(kvmhost_system_max_vcpus(NULL), -EINVAL);
	assert_int_equal(kvmhost_system_max_memslots(NULL), -EINVAL);
	assert_int_equal(kvmhost_system_kick_signal(NULL), -EINVAL);
	kvmhost_system_close(NULL);
}

static void test_vm_bad_input(void **state)
{
	struct kvmhost_vm *vm = (void *)1;
	int fd;

	(void)state;
	assert_int_equal(kvmhost_vm_create(NULL, NULL, &vm), -EINVAL);
	assert_null(vm);
	assert_int_equal(kvmhost_vm_create(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(kvmhost_vm_fd(NULL), -EINVAL);
	assert_null(kvmhost_vm_system(NULL));
	assert_string_equal(kvmhost_vm_name(NULL), "(null)");
	assert_int_equal(kvmhost_vm_check_extension(NULL, 1), -EINVAL);
	assert_int_equal(kvmhost_vm_enable_cap(NULL, 1, NULL), -EINVAL);
	{
		const uint64_t args[4] = {1, 0, 0, 0};

		/* The per-vCPU one: NULL fails before any ioctl, with or without arguments. */
		assert_int_equal(kvmhost_vcpu_enable_cap(NULL, KVM_CAP_HYPERV_SYNIC2, NULL), -EINVAL);
		assert_non_null(strstr(kvmhost_last_error(), "vcpu is NULL"));
		assert_int_equal(kvmhost_vcpu_enable_cap(NULL, KVM_CAP_HYPERV_SYNIC2, args), -EINVAL);
	}
	assert_int_equal(kvmhost_vm_set_irq_line(NULL, 0, 1), -EINVAL);
	assert_int_equal(kvmhost_vm_signal_msi(NULL, 0xfee00000, 0, 0, 0), -EINVAL);
	assert_int_equal(kvmhost_vm_set_gsi_routing(NULL, NULL, 0), -EINVAL);
	assert_int_equal(kvmhost_vm_create_device(NULL, 0, 0, &fd), -EINVAL);
	kvmhost_vm_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version),	      cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_fail_sets_message), cmocka_unit_test(test_last_error_is_per_thread),
	    cmocka_unit_test(test_log_callback),      cmocka_unit_test(test_options_sizes),
	    cmocka_unit_test(test_system_bad_input),  cmocka_unit_test(test_vm_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
