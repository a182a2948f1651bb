/*
 * kvm tier: ioeventfds. For PIO and MMIO, with and without datamatch, the
 * guest makes N writes to the ioeventfd's address and then one OUT to a
 * "done" port. Proof that the N writes never left the kernel: the host sees
 * exactly one exit (the done port) and the eventfd counts N. Writes that do
 * not match (other data, other width) and writes after removal DO exit to
 * userspace, and are counted too. Also -EEXIST/-ENOENT from KVM. On arm64
 * (no port I/O) the guest is its twin (tests/guests-arm64/ioevt.S) and the
 * "PIO" cases are MMIO at the ports' addresses (test_port_addr()).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm_test_util.h"

GUEST_DECLARE(ioevt);

#define DONE_PORT 0xf0
#define MMIO_BASE 0x10000000ull

/* One guest run: n writes of a, then m writes of b, at addr with width. */
struct scenario {
	const char *name;
	int mmio;
	uint64_t addr;
	uint32_t width;
	uint64_t n, a;
	uint64_t m, b;
};

/* A guest that never reaches its done port (in-kernel writes forever) would
 * hang the test: SIGALRM kicks the vCPU after HANG_GUARD_S and it fails. */
#define HANG_GUARD_S 60
static struct kvmhost_vcpu *guard_vcpu;

static void hang_guard(int sig)
{
	(void)sig;
	kvmhost_vcpu_kick(guard_vcpu);
}

/* Set the guest's registers for @s and run it to the done port; return the
 * number of exits that were writes to s->addr (checked to carry value b). */
static int run_scenario(struct test_vm *t, const struct scenario *s)
{
	const uint64_t args[7] = {
	    (uint64_t)s->mmio, s->mmio ? s->addr : test_port_addr((uint16_t)s->addr), s->width, s->n, s->a, s->m, s->b};
	int exits = 0, addr_exits = 0;

	test_vcpu_restart(t->vcpu, args);
	alarm(HANG_GUARD_S);
	for (;;) {
		const struct kvmhost_exit *e = test_run(t);
		uint16_t port = 0;
		uint32_t size = 0;
		uint64_t v = 0;
		int is_port = test_exit_port_write(e, &port, &size, &v);

		exits++;
		CHECK(exits <= 1000);
		if (e->reason == KVMHOST_EXIT_KICKED) {
			fprintf(stderr, "%s: the guest did not reach its done port in %d s (PC 0x%llx)\n", s->name,
				HANG_GUARD_S, (unsigned long long)test_vcpu_pc(t->vcpu));
			CHECK(0);
		}
		if (is_port && port == DONE_PORT)
			break;
		if (is_port && !s->mmio && port == s->addr) {
			CHECK(size == s->width);
		} else if (e->reason == KVMHOST_EXIT_MMIO && s->mmio && e->mmio.addr == s->addr && e->mmio.is_write) {
			CHECK(e->mmio.len == s->width);
			memcpy(&v, e->mmio.data, e->mmio.len);
		} else {
			fprintf(stderr, "%s: unexpected exit %s (KVM %u)\n", s->name,
				kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason);
			CHECK(0);
		}
		if (v != s->b)
			fprintf(stderr, "%s: exit for a write of 0x%llx, expected only 0x%llx to exit\n", s->name,
				(unsigned long long)v, (unsigned long long)s->b);
		CHECK(v == s->b);
		addr_exits++;
	}
	alarm(0);
	CHECK(exits == addr_exits + 1);
	return addr_exits;
}

static uint64_t drain(int fd)
{
	uint64_t v;
	int r = kvmhost_eventfd_consume(fd, &v);

	if (r == -EAGAIN)
		return 0;
	CHECK(r == 0);
	return v;
}

static struct kvmhost_ioeventfd_options ioe(int mmio, uint64_t addr, uint32_t len, int fd, int datamatch,
					    uint64_t value)
{
	struct kvmhost_ioeventfd_options o = {.size = sizeof(o)};

	o.space = mmio ? KVMHOST_IO_SPACE_MMIO : test_port_space();
	o.addr = mmio ? addr : test_port_addr((uint16_t)addr);
	o.len = len;
	o.fd = fd;
	o.datamatch = (uint32_t)datamatch;
	o.datamatch_value = value;
	return o;
}

/* Register @o, run @s, check the eventfd counted @want and @exits writes exited. */
static void check(struct test_vm *t, int fd, const struct scenario *s, uint64_t want, int want_exits)
{
	int exits = run_scenario(t, s);
	uint64_t got = drain(fd);

	printf("%-34s writes %3llu+%llu  eventfd %3llu  exits to userspace %d (+1 done)\n", s->name,
	       (unsigned long long)s->n, (unsigned long long)s->m, (unsigned long long)got, exits);
	if (got != want || exits != want_exits)
		fprintf(stderr, "%s: eventfd %llu (want %llu), write exits %d (want %d)\n", s->name,
			(unsigned long long)got, (unsigned long long)want, exits, want_exits);
	CHECK(got == want);
	CHECK(exits == want_exits);
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_ioeventfd_options o;
	struct test_vm t;
	int fd, fd2;

	if (kvmhost_system_check_extension(sys, KVM_CAP_IOEVENTFD) <= 0)
		SKIP("KVM lacks KVM_CAP_IOEVENTFD");
	test_vm_create_long(&t, sys, GUEST_BYTES(ioevt), GUEST_SIZE(ioevt));
	guard_vcpu = t.vcpu;
	CHECK(signal(SIGALRM, hang_guard) != SIG_ERR);
	/* Map 1 GiB so that MMIO_BASE is addressable. */
	test_vcpu_enter_long(t.vcpu, 1ull << 30);
	CHECK_OK(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &fd));
	CHECK_OK(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &fd2));

	/* Baseline: with no ioeventfd, every write exits. */
	struct scenario base = {"no ioeventfd: every write exits", 0, 0x510, 4, 0, 0, 5, 0x1234};
	check(&t, fd, &base, 0, 5);

	/* PIO, 4 bytes, any value. */
	o = ioe(0, 0x510, 4, fd, 0, 0);
	CHECK_OK(kvmhost_vm_add_ioeventfd(t.vm, &o));
	struct scenario pio = {"PIO 4-byte", 0, 0x510, 4, 100, 0xdeadbeef, 0, 0};
	check(&t, fd, &pio, 100, 0);
	/* Another width to the same port does not match: it exits. */
	struct scenario pio_w = {"PIO 4-byte, guest writes 2 bytes", 0, 0x510, 2, 0, 0, 3, 0x77};
	check(&t, fd, &pio_w, 0, 3);
	/* The same registration twice: KVM says EEXIST, with our message. */
	CHECK(kvmhost_vm_add_ioeventfd(t.vm, &o) == -EEXIST);
	CHECK(strstr(kvmhost_last_error(), "already exists") != NULL);
	/* Removed: writes exit again; removing again is -ENOENT. */
	CHECK_OK(kvmhost_vm_remove_ioeventfd(t.vm, &o));
	CHECK(kvmhost_vm_remove_ioeventfd(t.vm, &o) == -ENOENT);
	struct scenario pio_gone = {"PIO after removal", 0, 0x510, 4, 0, 0, 4, 0xabcd};
	check(&t, fd, &pio_gone, 0, 4);

	/* PIO, 2 bytes, datamatch: matching writes signal, others exit. */
	o = ioe(0, 0x512, 2, fd, 1, 0x1234);
	CHECK_OK(kvmhost_vm_add_ioeventfd(t.vm, &o));
	/* A second eventfd on the same port for another value. */
	struct kvmhost_ioeventfd_options o2 = ioe(0, 0x512, 2, fd2, 1, 0x5678);
	CHECK_OK(kvmhost_vm_add_ioeventfd(t.vm, &o2));
	struct scenario pio_dm = {"PIO 2-byte datamatch 0x1234", 0, 0x512, 2, 50, 0x1234, 3, 0x4321};
	check(&t, fd, &pio_dm, 50, 3);
	struct scenario pio_dm2 = {"PIO 2-byte datamatch 0x5678", 0, 0x512, 2, 7, 0x5678, 0, 0};
	check(&t, fd2, &pio_dm2, 7, 0);
	CHECK(drain(fd) == 0);
	CHECK_OK(kvmhost_vm_remove_ioeventfd(t.vm, &o));
	CHECK_OK(kvmhost_vm_remove_ioeventfd(t.vm, &o2));

	/* PIO, 1 byte. */
	o = ioe(0, 0x520, 1, fd, 0, 0);
	CHECK_OK(kvmhost_vm_add_ioeventfd(t.vm, &o));
	struct scenario pio1 = {"PIO 1-byte", 0, 0x520, 1, 30, 0x5a, 0, 0};
	check(&t, fd, &pio1, 30, 0);
	CHECK_OK(kvmhost_vm_remove_ioeventfd(t.vm, &o));

	/* MMIO, 8 bytes, any value. */
	o = ioe(1, MMIO_BASE, 8, fd, 0, 0);
	CHECK_OK(kvmhost_vm_add_ioeventfd(t.vm, &o));
	struct scenario mm8 = {"MMIO 8-byte", 1, MMIO_BASE, 8, 100, 0x0123456789abcdefull, 0, 0};
	check(&t, fd, &mm8, 100, 0);
	CHECK_OK(kvmhost_vm_remove_ioeventfd(t.vm, &o));

	/* MMIO, 4 bytes, datamatch. */
	o = ioe(1, MMIO_BASE + 0x1000, 4, fd, 1, 0xcafef00d);
	CHECK_OK(kvmhost_vm_add_ioeventfd(t.vm, &o));
	struct scenario mm4 = {"MMIO 4-byte datamatch 0xcafef00d", 1, MMIO_BASE + 0x1000, 4, 20, 0xcafef00d, 2, 1};
	check(&t, fd, &mm4, 20, 2);
	CHECK_OK(kvmhost_vm_remove_ioeventfd(t.vm, &o));

	/* MMIO, 8 bytes, datamatch on a full 64-bit value. */
	o = ioe(1, MMIO_BASE + 0x2000, 8, fd, 1, 0xfedcba9876543210ull);
	CHECK_OK(kvmhost_vm_add_ioeventfd(t.vm, &o));
	struct scenario mm8dm = {"MMIO 8-byte datamatch", 1, MMIO_BASE + 0x2000,   8, 10,
				 0xfedcba9876543210ull,	  2, 0xfedcba9876543211ull};
	check(&t, fd, &mm8dm, 10, 2);
	CHECK_OK(kvmhost_vm_remove_ioeventfd(t.vm, &o));

	/* MMIO, length 0: any access size matches. */
	o = ioe(1, MMIO_BASE + 0x3000, 0, fd, 0, 0);
	CHECK_OK(kvmhost_vm_add_ioeventfd(t.vm, &o));
	struct scenario mm0 = {"MMIO any-size (len 0), 2-byte", 1, MMIO_BASE + 0x3000, 2, 25, 0x55aa, 0, 0};
	check(&t, fd, &mm0, 25, 0);
	struct scenario mm0b = {"MMIO any-size (len 0), 4-byte", 1, MMIO_BASE + 0x3000, 4, 25, 0x55aa55aa, 0, 0};
	check(&t, fd, &mm0b, 25, 0);
	CHECK_OK(kvmhost_vm_remove_ioeventfd(t.vm, &o));
	struct scenario mm_gone = {"MMIO after removal", 1, MMIO_BASE + 0x3000, 4, 0, 0, 2, 0x99};
	check(&t, fd, &mm_gone, 0, 2);

	close(fd);
	close(fd2);
	test_vm_destroy(&t);
	kvmhost_system_close(sys);
	return TEST_PASS;
}
