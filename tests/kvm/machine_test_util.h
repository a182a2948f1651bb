/*
 * Shared bits of the machine layer's kvm tests (machine_*_test.c): skip
 * without KVM, options for a tiny Multiboot kernel from tests/guests-multiboot
 * on a small PC-like machine, COM1's output into a pipe, and event helpers.
 */
#ifndef KVMHOST_MACHINE_TEST_UTIL_H
#define KVMHOST_MACHINE_TEST_UTIL_H

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>
#include <kvmhost/x86_boot.h>

#include "kvm_test_util.h"
#include "guests-multiboot/mbguests.h"

#define MT_RAM (4u << 20)

/* Skip (exit 77) unless a KVM VM can be made here. */
static inline void mt_require_kvm(void)
{
	kvmhost_system_close(test_open_system());
}

struct mt_machine {
	struct kvmhost_machine_options o;
	struct kvmhost_machine_x86_options x86;
	struct kvmhost_machine_serial serial;
	int out[2]; /* COM1's output: out[0] is read by the test */
	struct kvmhost_machine *m;
};

/* Options for @kernel (a Multiboot image), 1 vCPU, MT_RAM, COM1 into a pipe, debug-exit at 0xf4. */
static inline void mt_options(struct mt_machine *t, const char *name, const void *kernel, size_t size)
{
	memset(t, 0, sizeof(*t));
	CHECK(pipe2(t->out, O_CLOEXEC | O_NONBLOCK) == 0);
	t->serial = (struct kvmhost_machine_serial){.size = sizeof(t->serial), .in_fd = -1, .out_fd = t->out[1]};
	t->x86 = (struct kvmhost_machine_x86_options){.size = sizeof(t->x86), .debug_exit_port = 0xf4};
	t->o = (struct kvmhost_machine_options){.size = sizeof(t->o),
						.name = name,
						.kernel = kernel,
						.kernel_size = size,
						.kernel_format = KVMHOST_X86_BOOT_MULTIBOOT,
						.ram_size = MT_RAM,
						.vcpu_count = 1,
						.serial = &t->serial,
						.arch_options = &t->x86};
}

static inline void mt_create(struct mt_machine *t)
{
	CHECK_OK(kvmhost_machine_create(&t->o, &t->m));
}

/* What COM1 wrote so far (appended to @buf, NUL-terminated). */
static inline size_t mt_read_output(struct mt_machine *t, char *buf, size_t size)
{
	size_t n = strlen(buf);
	ssize_t r;

	while (n + 1 < size && (r = read(t->out[0], buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
	return n;
}

static inline void mt_destroy(struct mt_machine *t)
{
	kvmhost_machine_destroy(t->m);
	close(t->out[0]);
	close(t->out[1]);
	t->m = NULL;
}

static inline struct kvmhost_machine_stop_info mt_stop_info(struct kvmhost_machine *m)
{
	struct kvmhost_machine_stop_info s = {.size = sizeof(s)};

	CHECK_OK(kvmhost_machine_get_stop_info(m, &s));
	return s;
}

/* A 32-bit counter a tiny guest keeps at @gpa (mb_tick, mb_dirty, mb_count). */
static inline uint32_t mt_counter(struct kvmhost_machine *m, uint64_t gpa)
{
	uint32_t v;

	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), gpa, &v, sizeof(v)));
	return v;
}

static inline void mt_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Wait (up to 20 s, the machine running) until the counter at @gpa passes @above; fail the test otherwise. */
static inline uint32_t mt_wait_counter(struct kvmhost_machine *m, uint64_t gpa, uint32_t above)
{
	for (int i = 0; i < 2000; i++) {
		uint32_t v = mt_counter(m, gpa);

		if (v > above)
			return v;
		CHECK(kvmhost_machine_get_state(m) == KVMHOST_MACHINE_RUNNING);
		mt_sleep_ms(10);
	}
	fprintf(stderr, "FAIL: the counter stays at %u\n", mt_counter(m, gpa));
	exit(TEST_FAIL);
}

#endif
