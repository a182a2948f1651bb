/*
 * Unit tests of eventfds (lib/events/eventfd.c), and of the argument checks
 * of ioeventfd and irqfd, which need no KVM: they run against a fake VM
 * whose fd is invalid, so that every check before the ioctl is exercised and
 * a valid request reaches the ioctl (and fails there with EBADF).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include "core/internal.h"
#include "kvm/kvm_internal.h"

static void reset_error(void)
{
	kh_fail(EPERM, "reset", "marker");
}

static void assert_error_from(const char *func)
{
	const char *e = kvmhost_last_error();

	if (strncmp(e, func, strlen(func)) != 0 || e[strlen(func)] != ':')
		fail_msg("last error \"%s\" is not from %s", e, func);
}

#define EXPECT_FAIL(call, err, func)                                                                                   \
	do {                                                                                                           \
		reset_error();                                                                                         \
		assert_int_equal((call), -(err));                                                                      \
		assert_error_from(func);                                                                               \
	} while (0)

static void test_signal_consume(void **state)
{
	uint64_t v;
	int fd;

	(void)state;
	assert_int_equal(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &fd), 0);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(kvmhost_eventfd_signal(fd, 2), 0);
	assert_int_equal(kvmhost_eventfd_signal(fd, 40), 0);
	assert_int_equal(kvmhost_eventfd_consume(fd, &v), 0);
	assert_int_equal(v, 42);
	/* Drained: non-blocking read says -EAGAIN, with a message. */
	EXPECT_FAIL(kvmhost_eventfd_consume(fd, &v), EAGAIN, "kvmhost_eventfd_consume");
	assert_int_equal(v, 0);
	/* The counter saturates at 2^64 - 2; one more would block. */
	assert_int_equal(kvmhost_eventfd_signal(fd, UINT64_MAX - 1), 0);
	EXPECT_FAIL(kvmhost_eventfd_signal(fd, 1), EAGAIN, "kvmhost_eventfd_signal");
	assert_int_equal(kvmhost_eventfd_consume(fd, &v), 0);
	assert_true(v == UINT64_MAX - 1);
	close(fd);
}

static void test_semaphore(void **state)
{
	uint64_t v;
	int fd;

	(void)state;
	assert_int_equal(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK | KVMHOST_EVENTFD_SEMAPHORE, &fd), 0);
	assert_int_equal(kvmhost_eventfd_signal(fd, 3), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kvmhost_eventfd_consume(fd, &v), 0);
		assert_int_equal(v, 1);
	}
	assert_int_equal(kvmhost_eventfd_consume(fd, &v), -EAGAIN);
	close(fd);
}

static void *signal_later(void *arg)
{
	usleep(20000);
	return (void *)(intptr_t)kvmhost_eventfd_signal((int)(intptr_t)arg, 9);
}

static void test_blocking(void **state)
{
	pthread_t t;
	uint64_t v;
	void *r;
	int fd;

	(void)state;
	assert_int_equal(kvmhost_eventfd_create(0, &fd), 0);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(pthread_create(&t, NULL, signal_later, (void *)(intptr_t)fd), 0);
	assert_int_equal(kvmhost_eventfd_consume(fd, &v), 0);
	assert_int_equal(v, 9);
	assert_int_equal(pthread_join(t, &r), 0);
	assert_int_equal((intptr_t)r, 0);
	close(fd);
}

static void test_eventfd_errors(void **state)
{
	uint64_t v;
	int fd = 1234, p[2];

	(void)state;
	EXPECT_FAIL(kvmhost_eventfd_create(0, NULL), EINVAL, "kvmhost_eventfd_create");
	EXPECT_FAIL(kvmhost_eventfd_create(0x80, &fd), EINVAL, "kvmhost_eventfd_create");
	assert_int_equal(fd, -1);
	EXPECT_FAIL(kvmhost_eventfd_signal(-1, 1), EINVAL, "kvmhost_eventfd_signal");
	EXPECT_FAIL(kvmhost_eventfd_signal(0, 0), EINVAL, "kvmhost_eventfd_signal");
	EXPECT_FAIL(kvmhost_eventfd_signal(0, UINT64_MAX), EINVAL, "kvmhost_eventfd_signal");
	EXPECT_FAIL(kvmhost_eventfd_signal(9999, 1), EBADF, "kvmhost_eventfd_signal");
	EXPECT_FAIL(kvmhost_eventfd_consume(-1, &v), EINVAL, "kvmhost_eventfd_consume");
	EXPECT_FAIL(kvmhost_eventfd_consume(0, NULL), EINVAL, "kvmhost_eventfd_consume");
	EXPECT_FAIL(kvmhost_eventfd_consume(9999, &v), EBADF, "kvmhost_eventfd_consume");
	/* Not an eventfd: a pipe holding fewer than 8 bytes gives a short read. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "abc", 3), 3);
	EXPECT_FAIL(kvmhost_eventfd_consume(p[0], &v), EIO, "kvmhost_eventfd_consume");
	close(p[0]);
	close(p[1]);
}

/* A VM object with no KVM behind it: checks run, the ioctl fails with EBADF. */
static void fake_vm(struct kvmhost_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	snprintf(vm->name, sizeof(vm->name), "fakevm");
	pthread_mutex_init(&vm->lock, NULL);
	vm->children.next = vm->children.prev = &vm->children;
}

static struct kvmhost_ioeventfd_options ioe(enum kvmhost_io_space space, uint64_t addr, uint32_t len, int fd)
{
	struct kvmhost_ioeventfd_options o = {.size = sizeof(o), .space = space, .addr = addr, .len = len, .fd = fd};

	return o;
}

static void test_ioeventfd_checks(void **state)
{
	struct kvmhost_vm vm;
	struct kvmhost_ioeventfd_options o;
	const char *add = "kvmhost_vm_add_ioeventfd", *rm = "kvmhost_vm_remove_ioeventfd";

	(void)state;
	fake_vm(&vm);
	o = ioe(KVMHOST_IO_SPACE_PIO, 0x510, 2, 5);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(NULL, &o), EINVAL, add);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, NULL), EINVAL, add);
	EXPECT_FAIL(kvmhost_vm_remove_ioeventfd(NULL, &o), EINVAL, rm);
	EXPECT_FAIL(kvmhost_vm_remove_ioeventfd(&vm, NULL), EINVAL, rm);

	uint32_t bad_lens[] = {3, 5, 6, 7, 9, 16};
	for (size_t i = 0; i < KH_ARRAY_SIZE(bad_lens); i++) {
		o = ioe(KVMHOST_IO_SPACE_MMIO, 0xd0000000, bad_lens[i], 5);
		EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
		EXPECT_FAIL(kvmhost_vm_remove_ioeventfd(&vm, &o), EINVAL, rm);
	}
	/* Length 0 (any size) is MMIO only, and cannot datamatch. */
	o = ioe(KVMHOST_IO_SPACE_PIO, 0x510, 0, 5);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	o = ioe(KVMHOST_IO_SPACE_MMIO, 0xd0000000, 0, 5);
	o.datamatch = 1;
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	/* Unknown space. */
	o = ioe((enum kvmhost_io_space)7, 0x510, 2, 5);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	/* Negative fd. */
	o = ioe(KVMHOST_IO_SPACE_PIO, 0x510, 2, -1);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	/* Datamatch value must fit in len bytes. */
	o = ioe(KVMHOST_IO_SPACE_PIO, 0x510, 1, 5);
	o.datamatch = 1;
	o.datamatch_value = 0x100;
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	assert_non_null(strstr(kvmhost_last_error(), "does not fit"));
	o.len = 2;
	o.datamatch_value = 0x10000;
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	o.len = 4;
	o.datamatch_value = 0x100000000ull;
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	/* A value without datamatch is a mistake, not ignored. */
	o = ioe(KVMHOST_IO_SPACE_PIO, 0x510, 4, 5);
	o.datamatch_value = 1;
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	/* Ports end at 0xffff; MMIO must not wrap. */
	o = ioe(KVMHOST_IO_SPACE_PIO, 0xffff, 2, 5);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	o = ioe(KVMHOST_IO_SPACE_PIO, 0x10000, 1, 5);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	o = ioe(KVMHOST_IO_SPACE_MMIO, UINT64_MAX - 2, 4, 5);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);
	/* Options struct sizes. */
	o = ioe(KVMHOST_IO_SPACE_PIO, 0x510, 2, 5);
	o.size = 2;
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EINVAL, add);

	/* Valid requests get as far as the ioctl. */
	o = ioe(KVMHOST_IO_SPACE_PIO, 0xfffe, 2, 5);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EBADF, add);
	assert_non_null(strstr(kvmhost_last_error(), "KVM_IOEVENTFD"));
	o.datamatch = 1;
	o.datamatch_value = 0xffff;
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EBADF, add);
	EXPECT_FAIL(kvmhost_vm_remove_ioeventfd(&vm, &o), EBADF, rm);
	o = ioe(KVMHOST_IO_SPACE_MMIO, 0xd0000000, 0, 5);
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EBADF, add);
	o = ioe(KVMHOST_IO_SPACE_MMIO, 0xd0000000, 8, 5);
	o.datamatch = 1;
	o.datamatch_value = UINT64_MAX;
	EXPECT_FAIL(kvmhost_vm_add_ioeventfd(&vm, &o), EBADF, add);
	pthread_mutex_destroy(&vm.lock);
}

static void test_irqfd_checks(void **state)
{
	struct kvmhost_vm vm;
	const char *add = "kvmhost_vm_add_irqfd", *rm = "kvmhost_vm_remove_irqfd";

	(void)state;
	fake_vm(&vm);
	EXPECT_FAIL(kvmhost_vm_add_irqfd(NULL, 5, 3, -1), EINVAL, add);
	EXPECT_FAIL(kvmhost_vm_add_irqfd(&vm, -1, 3, -1), EINVAL, add);
	EXPECT_FAIL(kvmhost_vm_add_irqfd(&vm, 5, 3, -2), EINVAL, add);
	EXPECT_FAIL(kvmhost_vm_add_irqfd(&vm, 5, 3, 5), EINVAL, add);
	EXPECT_FAIL(kvmhost_vm_add_irqfd(&vm, 5, 3, -1), EBADF, add);
	EXPECT_FAIL(kvmhost_vm_remove_irqfd(NULL, 5, 3), EINVAL, rm);
	EXPECT_FAIL(kvmhost_vm_remove_irqfd(&vm, -1, 3), EINVAL, rm);
	EXPECT_FAIL(kvmhost_vm_remove_irqfd(&vm, 5, 3), EBADF, rm);
	pthread_mutex_destroy(&vm.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signal_consume),   cmocka_unit_test(test_semaphore),
	    cmocka_unit_test(test_blocking),	     cmocka_unit_test(test_eventfd_errors),
	    cmocka_unit_test(test_ioeventfd_checks), cmocka_unit_test(test_irqfd_checks),
	};

	return cmocka_run_group_tests_name("eventfd", tests, NULL, NULL);
}
