/*
 * kvm tier: irqfds with the in-kernel (FULL) irqchip. A real-mode guest
 * programs the 8259 PICs, installs IVT handlers and waits in `sti; hlt`
 * (which, with an in-kernel irqchip, does not exit to userspace).
 *  - edge: signalling an irqfd for GSI 5 runs the guest's handler, which
 *    OUTs a marker; once before re-entering the guest, once from another
 *    thread while the vCPU sleeps in HLT inside KVM;
 *  - level with resample: GSI 3 is level-triggered (ELCR); the resample
 *    eventfd stays quiet until the guest EOIs, then fires, and the line can
 *    be raised again;
 *  - after removal, signalling the eventfd raises nothing (a watchdog kick
 *    ends the run instead).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm_test_util.h"

GUEST_DECLARE(irqfd);

#define READY_PORT    0xf0
#define MARK_PORT     0xf1
#define EOI_DONE_PORT 0xf2
#define EDGE_GSI      5
#define LEVEL_GSI     3

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Kicks the vCPU after @ms unless cancelled: a lost interrupt ends as a
 * KICKED exit instead of a hang. Optionally signals an eventfd first. */
struct helper {
	struct kvmhost_vcpu *vcpu;
	int signal_fd;	  /* -1: none */
	int signal_after; /* ms */
	int kick_after;	  /* ms */
	atomic_int cancel;
	atomic_int kicked;
	pthread_t thread;
};

static void *helper_fn(void *arg)
{
	struct helper *h = arg;

	for (int ms = 0; ms < h->kick_after && !atomic_load(&h->cancel); ms++) {
		if (ms == h->signal_after && h->signal_fd >= 0)
			CHECK_OK(kvmhost_eventfd_signal(h->signal_fd, 1));
		sleep_ms(1);
	}
	if (!atomic_load(&h->cancel)) {
		atomic_store(&h->kicked, 1);
		CHECK_OK(kvmhost_vcpu_kick(h->vcpu));
	}
	return NULL;
}

static void helper_start(struct helper *h, struct kvmhost_vcpu *vcpu, int signal_fd, int signal_after, int kick_after)
{
	memset(h, 0, sizeof(*h));
	h->vcpu = vcpu;
	h->signal_fd = signal_fd;
	h->signal_after = signal_after;
	h->kick_after = kick_after;
	CHECK(pthread_create(&h->thread, NULL, helper_fn, h) == 0);
}

static int helper_stop(struct helper *h)
{
	atomic_store(&h->cancel, 1);
	CHECK(pthread_join(h->thread, NULL) == 0);
	return atomic_load(&h->kicked);
}

/* Run until the next exit, which must be an OUT of one byte to @port; return the byte. */
static uint8_t expect_out(struct test_vm *t, uint16_t port, const char *what)
{
	const struct kvmhost_exit *e = test_run(t);

	if (e->reason == KVMHOST_EXIT_KICKED) {
		fprintf(stderr, "FAIL: %s: no exit before the watchdog kicked the vCPU (interrupt not delivered?)%s\n",
			what, test_kvm_is_pvm() ? " [PVM host]" : "");
		exit(TEST_FAIL);
	}
	if (e->reason != KVMHOST_EXIT_IO || e->io.port != port || !e->io.is_write || e->io.size != 1) {
		fprintf(stderr, "FAIL: %s: expected OUT to port 0x%x, got exit %s", what, port,
			kvmhost_exit_reason_name(e->reason));
		if (e->reason == KVMHOST_EXIT_IO)
			fprintf(stderr, " (%s port 0x%x size %u)", e->io.is_write ? "out" : "in", e->io.port,
				e->io.size);
		fprintf(stderr, "\n");
		exit(TEST_FAIL);
	}
	return e->io.data[0];
}

static int pending(int fd)
{
	uint64_t v;
	int r = kvmhost_eventfd_consume(fd, &v);

	if (r == -EAGAIN)
		return 0;
	CHECK(r == 0);
	return (int)v;
}

/* A VM with the FULL irqchip (which must precede the vCPU), 2 MiB of RAM and the guest. */
static void create_vm(struct test_vm *t, struct kvmhost_system *sys)
{
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	int r;

	memset(t, 0, sizeof(*t));
	t->sys = sys;
	r = kvmhost_vm_create(sys, NULL, &t->vm);
	if (r == -EACCES || r == -EPERM)
		SKIP("cannot create a VM: %s", kvmhost_last_error());
	CHECK(r == 0);
	r = kvmhost_x86_vm_create_irqchip(t->vm, KVMHOST_X86_IRQCHIP_FULL, 0);
	if (r < 0 && kvmhost_vm_check_extension(t->vm, KVM_CAP_IRQCHIP) <= 0)
		SKIP("KVM has no in-kernel irqchip: %s", kvmhost_last_error());
	CHECK(r == 0);
	t->ram_size = 2u << 20;
	mo.guest_phys_addr = 0;
	mo.length = t->ram_size;
	mo.backing = KVMHOST_MEMORY_ANONYMOUS;
	mo.name = "irqfd-ram";
	CHECK_OK(kvmhost_vm_add_memory(t->vm, &mo, &t->ram));
	CHECK_OK(kvmhost_memory_write(kvmhost_vm_memory(t->vm), KVMHOST_GUEST_LOAD_ADDR, GUEST_BYTES(irqfd),
				      GUEST_SIZE(irqfd)));
	CHECK_OK(kvmhost_vcpu_create(t->vm, 0, &t->vcpu));
	CHECK_OK(kvmhost_x86_vcpu_setup_real_mode(t->vcpu, 0, KVMHOST_GUEST_LOAD_ADDR));
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct helper h;
	struct test_vm t;
	int edge, level, resample;

	if (kvmhost_system_check_extension(sys, KVM_CAP_IRQFD) <= 0)
		SKIP("KVM lacks KVM_CAP_IRQFD");
	create_vm(&t, sys);
	CHECK_OK(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &edge));
	CHECK_OK(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &level));
	CHECK_OK(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &resample));

	CHECK_OK(kvmhost_vm_add_irqfd(t.vm, edge, EDGE_GSI, -1));
	/* One eventfd drives one GSI: a second attach is refused. */
	CHECK(kvmhost_vm_add_irqfd(t.vm, edge, EDGE_GSI + 1, -1) == -EEXIST);
	CHECK(kvmhost_vm_add_irqfd(t.vm, level, LEVEL_GSI, resample) == 0);

	/* The guest programs the PIC (in-kernel: no exits) and says ready. */
	helper_start(&h, t.vcpu, -1, 0, 10000);
	CHECK(expect_out(&t, READY_PORT, "guest setup") == 1);
	CHECK(!helper_stop(&h));

	/* Edge 1: raised before the vCPU re-enters the guest. */
	CHECK_OK(kvmhost_eventfd_signal(edge, 1));
	helper_start(&h, t.vcpu, -1, 0, 10000);
	CHECK(expect_out(&t, MARK_PORT, "edge irqfd, signalled before run") == 0x25);
	CHECK(!helper_stop(&h));

	/* Edge 2: raised by another thread while the vCPU sleeps in HLT inside KVM. */
	helper_start(&h, t.vcpu, edge, 50, 10000);
	CHECK(expect_out(&t, MARK_PORT, "edge irqfd, signalled during HLT") == 0x25);
	CHECK(!helper_stop(&h));

	/* Level with resample, twice: the line must be lowered at EOI each time. */
	for (int round = 0; round < 2; round++) {
		helper_start(&h, t.vcpu, level, 20, 10000);
		CHECK(expect_out(&t, MARK_PORT, "level irqfd") == 0x23);
		CHECK(!helper_stop(&h));
		/* In the handler, before its EOI: nothing to resample yet. */
		CHECK(pending(resample) == 0);
		helper_start(&h, t.vcpu, -1, 0, 10000);
		CHECK(expect_out(&t, EOI_DONE_PORT, "level handler after EOI") == 0x33);
		CHECK(!helper_stop(&h));
		/* The guest's EOI made KVM lower the line and signal the resamplefd. */
		CHECK(pending(resample) == 1);
	}

	/* Detached: signalling raises nothing; the guest stays in HLT until kicked. */
	CHECK_OK(kvmhost_vm_remove_irqfd(t.vm, edge, EDGE_GSI));
	CHECK_OK(kvmhost_eventfd_signal(edge, 1));
	helper_start(&h, t.vcpu, -1, 0, 300);
	{
		const struct kvmhost_exit *e = test_run(&t);

		if (e->reason != KVMHOST_EXIT_KICKED)
			fprintf(stderr, "FAIL: after removal, exit %s instead of a kick\n",
				kvmhost_exit_reason_name(e->reason));
		CHECK(e->reason == KVMHOST_EXIT_KICKED);
	}
	CHECK(helper_stop(&h));
	CHECK(pending(edge) == 1); /* still unconsumed: nobody listened */
	/* The eventfd is free again: it can be attached anew. */
	CHECK_OK(kvmhost_vm_add_irqfd(t.vm, edge, EDGE_GSI, -1));
	CHECK_OK(kvmhost_vm_remove_irqfd(t.vm, edge, EDGE_GSI));
	CHECK_OK(kvmhost_vm_remove_irqfd(t.vm, level, LEVEL_GSI));

	close(edge);
	close(level);
	close(resample);
	test_vm_destroy(&t);
	kvmhost_system_close(sys);
	printf("irqfd: edge (before run and during HLT), level with resample x2, removal: OK\n");
	return TEST_PASS;
}
