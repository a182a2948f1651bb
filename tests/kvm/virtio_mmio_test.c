/*
 * kvm tier: a virtio-mmio device wired into a real VM. A long-mode guest
 * (tests/guests/virtio_mmio.S) acts as a minimal virtio-mmio driver: it
 * checks the identity registers, does the init sequence, posts one request
 * and kicks queue 0, then waits in HLT for the interrupt. The host side is
 * the library's transport on an MMIO bus plus its KVM wiring
 * (kvmhost_virtio_mmio_wire): the kick arrives through an ioeventfd served
 * by an event loop in another thread (it must not exit to userspace, and
 * the device must not run in the vCPU thread), the device answers "pong"
 * and raises its used-buffer interrupt, which reaches the guest through an
 * irqfd on GSI 5 (the in-kernel 8259). The guest reports the outcome
 * through port 0xf0. Then the wiring is removed and wired again: KVM
 * refuses a duplicate ioeventfd (-EEXIST), so this proves the first wiring
 * left nothing registered behind.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <kvmhost/irq_line.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/mmio.h>
#include <kvmhost/virtio/wiring.h>

#include "kvm_test_util.h"

GUEST_DECLARE(virtio_mmio);

#define MMIO_BASE 0x10000000ull
#define RINGS	  0x20000ull
#define GSI	  5
#define DONE_PORT 0xf0

struct dev_state {
	pthread_t vcpu_thread;
	atomic_int notifies;
	atomic_int in_vcpu_thread;
	atomic_int bad_request;
};

static void dev_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	struct dev_state *s = opaque;
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(dev, queue);
	const struct kvmhost_virtq_chain *c;
	char req[4];

	atomic_fetch_add(&s->notifies, 1);
	if (pthread_equal(pthread_self(), s->vcpu_thread))
		atomic_store(&s->in_vcpu_thread, 1);
	while (kvmhost_virtq_pop(q, &c) == 1) {
		if (kvmhost_virtq_chain_read(c, 0, req, 4) != 0 || memcmp(req, "ping", 4) != 0 || c->writable_len < 4)
			atomic_store(&s->bad_request, 1);
		(void)kvmhost_virtq_chain_write(c, 0, "pong", 4);
		(void)kvmhost_virtq_push(q, c, 4);
	}
	(void)kvmhost_virtio_device_notify_used(dev, queue);
}

static const struct kvmhost_virtio_device_ops dev_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .queue_notify = dev_notify,
};

static void *loop_thread(void *arg)
{
	CHECK_OK(kvmhost_loop_run(arg));
	return NULL;
}

/* Kicks the vCPU after @ms unless cancelled: a lost interrupt ends as a
 * KICKED exit instead of a hang. */
struct watchdog {
	struct kvmhost_vcpu *vcpu;
	int ms;
	atomic_int cancel;
	pthread_t thread;
};

static void *watchdog_fn(void *arg)
{
	struct watchdog *w = arg;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};

	for (int i = 0; i < w->ms && !atomic_load(&w->cancel); i++)
		nanosleep(&ts, NULL);
	if (!atomic_load(&w->cancel))
		CHECK_OK(kvmhost_vcpu_kick(w->vcpu));
	return NULL;
}

/* A VM with the FULL irqchip (before the vCPU), 2 MiB of RAM, long mode
 * with 1 GiB identity-mapped (the transport sits at 256 MiB). */
static void create_vm(struct test_vm *t, struct kvmhost_system *sys)
{
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};
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
	if (kvmhost_vm_check_extension(t->vm, KVM_CAP_IOEVENTFD) <= 0 ||
	    kvmhost_vm_check_extension(t->vm, KVM_CAP_IRQFD) <= 0)
		SKIP("KVM lacks ioeventfd or irqfd");
	t->ram_size = 2u << 20;
	mo.length = t->ram_size;
	mo.backing = KVMHOST_MEMORY_ANONYMOUS;
	mo.name = "virtio-mmio-ram";
	CHECK_OK(kvmhost_vm_add_memory(t->vm, &mo, &t->ram));
	CHECK_OK(kvmhost_memory_write(kvmhost_vm_memory(t->vm), KVMHOST_GUEST_LOAD_ADDR, GUEST_BYTES(virtio_mmio),
				      GUEST_SIZE(virtio_mmio)));
	CHECK_OK(kvmhost_vcpu_create(t->vm, 0, &t->vcpu));
	lo.entry = KVMHOST_GUEST_LOAD_ADDR;
	lo.stack = 0x80000;
	lo.page_table_gpa = 0x100000;
	lo.identity_map_size = 0; /* 1 GiB */
	lo.gdt_gpa = 0x104000;
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(t->vcpu, &lo));
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_virtio_device_options dopts = {.size = sizeof(dopts)};
	struct kvmhost_virtio_wire_options wopts = {.size = sizeof(wopts)};
	struct kvmhost_virtio_device *dev;
	struct kvmhost_virtio_mmio *mmio;
	struct kvmhost_virtio_wiring *wiring;
	struct kvmhost_loop *loop;
	struct kvmhost_bus *bus;
	struct dev_state s = {0};
	struct watchdog wd = {0};
	struct kvm_regs regs;
	struct test_vm t;
	pthread_t lt;
	char cmdline[96];
	int result = -1, exits = 0, notify_exits = 0;

	create_vm(&t, sys);
	s.vcpu_thread = pthread_self();
	dopts.device_id = KVMHOST_VIRTIO_ID_ENTROPY;
	dopts.num_queues = 1;
	dopts.queue_max_size = 8;
	dopts.ops = &dev_ops;
	dopts.opaque = &s;
	CHECK_OK(kvmhost_virtio_device_create(kvmhost_vm_memory(t.vm), &dopts, &dev));
	CHECK_OK(kvmhost_bus_create("mmio", &bus));
	CHECK_OK(kvmhost_virtio_mmio_create(dev, NULL, &mmio));
	/* Wiring needs the transport's address. */
	CHECK(kvmhost_virtio_mmio_wire(t.vm, mmio, NULL, &wiring) == -ENOTCONN);
	CHECK_OK(kvmhost_virtio_mmio_attach(mmio, bus, MMIO_BASE));
	CHECK(kvmhost_virtio_mmio_cmdline(mmio, GSI, cmdline, sizeof(cmdline)) > 0);
	CHECK(strcmp(cmdline, "virtio_mmio.device=4K@0x10000000:5") == 0);

	CHECK_OK(kvmhost_loop_create(&loop));
	wopts.loop = loop;
	wopts.flags = KVMHOST_VIRTIO_WIRE_IRQFD;
	wopts.gsi = GSI;
	CHECK_OK(kvmhost_virtio_mmio_wire(t.vm, mmio, &wopts, &wiring));
	CHECK(kvmhost_virtio_wiring_notify_fd(wiring, 0) >= 0);
	CHECK(kvmhost_virtio_wiring_notify_fd(wiring, 1) == -EINVAL);
	CHECK(kvmhost_virtio_wiring_service(wiring, 0) == 0); /* nothing yet */
	CHECK(pthread_create(&lt, NULL, loop_thread, loop) == 0);

	CHECK_OK(kvmhost_x86_vcpu_get_regs(t.vcpu, &regs));
	regs.rdi = MMIO_BASE;
	regs.rsi = RINGS;
	CHECK_OK(kvmhost_x86_vcpu_set_regs(t.vcpu, &regs));
	wd.vcpu = t.vcpu;
	wd.ms = test_kvm_is_pvm() ? 20000 : 10000;
	CHECK(pthread_create(&wd.thread, NULL, watchdog_fn, &wd) == 0);
	while (result < 0) {
		const struct kvmhost_exit *e = test_run(&t);

		CHECK(++exits < 10000);
		if (e->reason == KVMHOST_EXIT_MMIO) {
			if (e->mmio.addr == MMIO_BASE + KVMHOST_VIRTIO_MMIO_QUEUE_NOTIFY)
				notify_exits++;
			CHECK(kvmhost_bus_dispatch_exit(NULL, bus, e) == 0);
		} else if (e->reason == KVMHOST_EXIT_IO && e->io.port == DONE_PORT && e->io.is_write) {
			result = e->io.data[0];
		} else if (e->reason == KVMHOST_EXIT_KICKED) {
			fprintf(stderr, "FAIL: the guest never finished (interrupt not delivered?)%s\n",
				test_kvm_is_pvm() ? " [PVM host]" : "");
			return TEST_FAIL;
		} else {
			fprintf(stderr, "FAIL: unexpected exit %s (KVM %u)\n", kvmhost_exit_reason_name(e->reason),
				e->kvm_exit_reason);
			return TEST_FAIL;
		}
	}
	atomic_store(&wd.cancel, 1);
	CHECK(pthread_join(wd.thread, NULL) == 0);
	printf("virtio-mmio guest: result %d after %d exits; device kicked %d time(s), kicks that exited %d\n", result,
	       exits, atomic_load(&s.notifies), notify_exits);
	if (result != 0)
		fprintf(stderr, "FAIL: the guest driver failed at step %d (see tests/guests/virtio_mmio.S)\n", result);
	CHECK(result == 0);
	CHECK(notify_exits == 0); /* served by the ioeventfd */
	CHECK(atomic_load(&s.notifies) == 1);
	CHECK(atomic_load(&s.in_vcpu_thread) == 0); /* device work off the vCPU thread */
	CHECK(atomic_load(&s.bad_request) == 0);

	CHECK_OK(kvmhost_loop_stop(loop));
	CHECK(pthread_join(lt, NULL) == 0);
	kvmhost_virtio_wiring_destroy(wiring);

	/* KVM would refuse the same ioeventfds again (-EEXIST) had the first
	 * wiring left any behind. */
	CHECK(kvmhost_virtio_mmio_wire(t.vm, mmio, NULL, &wiring) == 0);
	CHECK(kvmhost_virtio_wiring_service(wiring, 0) == 0);
	kvmhost_virtio_wiring_destroy(wiring);

	kvmhost_virtio_mmio_destroy(mmio);
	kvmhost_virtio_device_destroy(dev);
	kvmhost_bus_destroy(bus);
	kvmhost_loop_destroy(loop);
	test_vm_destroy(&t);
	kvmhost_system_close(sys);
	printf("virtio-mmio: init, ioeventfd kick, irqfd interrupt, ACK: OK\n");
	return TEST_PASS;
}
