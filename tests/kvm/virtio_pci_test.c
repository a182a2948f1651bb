/*
 * kvm tier: a virtio-pci function wired into a real VM. The host plays the
 * firmware and the driver's setup through the buses (type-1 configuration
 * cycles, the BAR's common configuration, the MSI-X table), with an MSI
 * router holding KVM's default irqchip routes plus the vector's route, and
 * the wiring (kvmhost_virtio_pci_wire) serving kicks from an event loop.
 * A long-mode guest (tests/guests/virtio_pci.S) only kicks queue 0 through
 * the notify address and waits for the MSI-X interrupt at its local APIC:
 *  - round 1: the kick must not exit (ioeventfd), the device must run in
 *    the loop's thread, and vector 0x41 must arrive (route + irqfd);
 *  - the host then moves the BAR with a configuration write and changes
 *    the vector's data to 0x51: round 2 kicks at the new address (the
 *    ioeventfd followed the BAR) and must get vector 0x51 (the route
 *    followed the table);
 *  - round 3 replaces the wiring by one without loop and router: a thread
 *    of the test watches the notify eventfd and calls
 *    kvmhost_virtio_wiring_service(), and the vector (now 0x61) goes out
 *    with KVM_SIGNAL_MSI.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <kvmhost/pci.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/pci.h>
#include <kvmhost/virtio/wiring.h>

#include "kvm_test_util.h"

GUEST_DECLARE(virtio_pci);

#define WINDOW	0x20000000ull /* inside the guest's 1 GiB identity map */
#define NEWBAR	0x20100000ull
#define RINGS	0x20000ull
#define NEWADDR 0x8fd0ull
#define SLOT	1

struct dev_state {
	pthread_t vcpu_thread;
	atomic_int notifies;
	atomic_int in_vcpu_thread;
};

static void dev_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	struct dev_state *s = opaque;
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(dev, queue);
	const struct kvmhost_virtq_chain *c;

	atomic_fetch_add(&s->notifies, 1);
	if (pthread_equal(pthread_self(), s->vcpu_thread))
		atomic_store(&s->in_vcpu_thread, 1);
	while (kvmhost_virtq_pop(q, &c) == 1) {
		(void)kvmhost_virtq_chain_write(c, 0, "pong", 4);
		(void)kvmhost_virtq_push(q, c, 4);
	}
	(void)kvmhost_virtio_device_notify_used(dev, queue);
}

static const struct kvmhost_virtio_device_ops dev_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .queue_notify = dev_notify,
};

struct env {
	struct test_vm t;
	struct kvmhost_bus *pio, *mmio;
};

static void cfgw(struct env *e, uint32_t reg, uint32_t v, uint32_t len)
{
	uint32_t a = 0x80000000u | SLOT << 11 | (reg & 0xfc);

	CHECK_OK(kvmhost_bus_write(e->pio, 0xcf8, &a, 4));
	CHECK_OK(kvmhost_bus_write(e->pio, 0xcfc + (reg & 3), &v, len));
}

static uint32_t cfgr(struct env *e, uint32_t reg, uint32_t len)
{
	uint32_t a = 0x80000000u | SLOT << 11 | (reg & 0xfc), v = 0;

	CHECK_OK(kvmhost_bus_write(e->pio, 0xcf8, &a, 4));
	CHECK_OK(kvmhost_bus_read(e->pio, 0xcfc + (reg & 3), &v, len));
	return v;
}

static void bw(struct env *e, uint64_t bar, uint32_t off, uint64_t v, uint32_t len)
{
	CHECK_OK(kvmhost_bus_write(e->mmio, bar + off, &v, len));
}

static uint64_t br(struct env *e, uint64_t bar, uint32_t off, uint32_t len)
{
	uint64_t v = 0;

	CHECK_OK(kvmhost_bus_read(e->mmio, bar + off, &v, len));
	return v;
}

/* The embedder's own notify server (no event loop). */
struct server {
	struct kvmhost_virtio_wiring *w;
	atomic_int stop;
	atomic_int served;
	pthread_t thread;
};

static void *server_fn(void *arg)
{
	struct server *sv = arg;
	struct pollfd p = {.fd = kvmhost_virtio_wiring_notify_fd(sv->w, 0), .events = POLLIN};

	CHECK(p.fd >= 0);
	while (!atomic_load(&sv->stop)) {
		if (poll(&p, 1, 10) == 1) {
			int r = kvmhost_virtio_wiring_service(sv->w, 0);

			CHECK(r >= 0);
			atomic_fetch_add(&sv->served, r);
		}
	}
	return NULL;
}

static void *loop_thread(void *arg)
{
	CHECK_OK(kvmhost_loop_run(arg));
	return NULL;
}

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

/* Run until an OUT to @port; MMIO exits go to the bus and are counted. */
static int run_to(struct env *e, uint16_t port, int *mmio_exits)
{
	for (int n = 0; n < 10000; n++) {
		const struct kvmhost_exit *x = test_run(&e->t);

		if (x->reason == KVMHOST_EXIT_MMIO) {
			(*mmio_exits)++;
			(void)kvmhost_bus_dispatch_exit(NULL, e->mmio, x);
		} else if (x->reason == KVMHOST_EXIT_IO && x->io.port == port && x->io.is_write) {
			return x->io.data[0];
		} else if (x->reason == KVMHOST_EXIT_KICKED) {
			fprintf(stderr, "FAIL: no MSI-X interrupt reached the guest before the watchdog%s\n",
				test_kvm_is_pvm() ? " [PVM host]" : "");
			exit(TEST_FAIL);
		} else {
			fprintf(stderr, "FAIL: unexpected exit %s (KVM %u)\n", kvmhost_exit_reason_name(x->reason),
				x->kvm_exit_reason);
			exit(TEST_FAIL);
		}
	}
	CHECK(0);
	return -1;
}

static void create_vm(struct env *e, struct kvmhost_system *sys)
{
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};
	struct kvm_lapic_state lapic;
	struct test_vm *t = &e->t;
	uint32_t svr;
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
	    kvmhost_vm_check_extension(t->vm, KVM_CAP_IRQFD) <= 0 ||
	    kvmhost_vm_check_extension(t->vm, KVM_CAP_IRQ_ROUTING) <= 0)
		SKIP("KVM lacks ioeventfd, irqfd or IRQ routing");
	t->ram_size = 2u << 20;
	mo.length = t->ram_size;
	mo.backing = KVMHOST_MEMORY_ANONYMOUS;
	mo.name = "virtio-pci-ram";
	CHECK_OK(kvmhost_vm_add_memory(t->vm, &mo, &t->ram));
	CHECK_OK(kvmhost_memory_write(kvmhost_vm_memory(t->vm), KVMHOST_GUEST_LOAD_ADDR, GUEST_BYTES(virtio_pci),
				      GUEST_SIZE(virtio_pci)));
	CHECK_OK(kvmhost_vcpu_create(t->vm, 0, &t->vcpu));
	lo.entry = KVMHOST_GUEST_LOAD_ADDR;
	lo.stack = 0x80000;
	lo.page_table_gpa = 0x100000;
	lo.gdt_gpa = 0x104000;
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(t->vcpu, &lo));
	/* Software-enable the local APIC (SVR bit 8, spurious vector 0xff),
	 * which the guest cannot reach: its MMIO page is not mapped. */
	CHECK_OK(kvmhost_x86_vcpu_get_lapic(t->vcpu, &lapic));
	svr = 0x1ff;
	memcpy(&lapic.regs[0xf0], &svr, 4);
	CHECK_OK(kvmhost_x86_vcpu_set_lapic(t->vcpu, &lapic));
}

/* Put one request in the split ring (desc 0 -> 1) as avail entry @n. */
static void post(struct env *e, uint16_t n)
{
	struct kvmhost_memory *m = kvmhost_vm_memory(e->t.vm);
	uint8_t desc[32] = {0};
	uint64_t a;
	uint16_t v;

	a = RINGS + 0x3000;
	memcpy(&desc[0], &a, 8);
	desc[8] = 16;
	desc[12] = 1; /* NEXT */
	desc[14] = 1;
	a = RINGS + 0x4000;
	memcpy(&desc[16], &a, 8);
	desc[24] = 16;
	desc[28] = 2; /* WRITE */
	CHECK_OK(kvmhost_memory_write(m, RINGS, desc, sizeof(desc)));
	CHECK_OK(kvmhost_memory_write(m, RINGS + 0x3000, "ping", 4));
	v = 0;
	CHECK_OK(kvmhost_memory_write(m, RINGS + 0x1004 + 2u * (n % 8), &v, 2));
	v = (uint16_t)(n + 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	CHECK_OK(kvmhost_memory_write(m, RINGS + 0x1002, &v, 2));
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_virtio_device_options dopts = {.size = sizeof(dopts)};
	struct kvmhost_msi_router_options ro = {.size = sizeof(ro)};
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho)};
	struct kvmhost_virtio_wire_options wo = {.size = sizeof(wo)};
	struct kvmhost_virtio_device *dev;
	struct kvmhost_virtio_pci *vp;
	struct kvmhost_pci_host *host;
	struct kvmhost_msi_router *router;
	struct kvmhost_virtio_wiring *wiring;
	struct kvmhost_loop *loop;
	struct dev_state s = {0};
	struct watchdog wd = {0};
	struct kvm_regs regs;
	struct env e;
	pthread_t lt;
	uint64_t bar, addr, newaddr;
	uint32_t cap, gsi;
	uint16_t used = 0;
	struct server sv = {0};
	int mmio_exits = 0, r1, r2, r3;

	create_vm(&e, sys);
	s.vcpu_thread = pthread_self();
	CHECK_OK(kvmhost_bus_create("pio", &e.pio));
	CHECK_OK(kvmhost_bus_create("mmio", &e.mmio));
	ro.flags = KVMHOST_MSI_ROUTER_IRQCHIP_DEFAULTS;
	CHECK_OK(kvmhost_msi_router_create(e.t.vm, &ro, &router));
	/* The router's own calls, against KVM. */
	CHECK_OK(kvmhost_msi_router_alloc(router, &gsi));
	CHECK(gsi == 24);
	CHECK_OK(kvmhost_msi_router_set(router, gsi, 0xfee00000ull, 0x30));
	CHECK_OK(kvmhost_msi_router_clear(router, gsi));
	CHECK(kvmhost_msi_router_set(router, 999, 0xfee00000ull, 0x30) == -ENOENT);
	CHECK_OK(kvmhost_msi_router_free(router, gsi));
	CHECK(kvmhost_msi_router_free(router, gsi) == -ENOENT);

	ho.mmio = e.mmio;
	ho.mmio32_base = WINDOW;
	ho.mmio32_size = 0x10000000;
	CHECK_OK(kvmhost_pci_host_create(&ho, &host));
	CHECK_OK(kvmhost_pci_host_attach_pio(host, e.pio));
	dopts.device_id = KVMHOST_VIRTIO_ID_ENTROPY;
	dopts.num_queues = 1;
	dopts.queue_max_size = 8;
	dopts.ops = &dev_ops;
	dopts.opaque = &s;
	CHECK_OK(kvmhost_virtio_device_create(kvmhost_vm_memory(e.t.vm), &dopts, &dev));
	CHECK_OK(kvmhost_virtio_pci_create(dev, NULL, &vp));
	CHECK(kvmhost_pci_host_add_device(host, kvmhost_virtio_pci_device(vp), SLOT) == SLOT);
	CHECK(kvmhost_pci_device_bar_address(kvmhost_virtio_pci_device(vp), 0, &bar) == 1);
	CHECK(bar == WINDOW);

	CHECK_OK(kvmhost_loop_create(&loop));
	wo.loop = loop;
	wo.router = router;
	CHECK_OK(kvmhost_virtio_pci_wire(e.t.vm, vp, &wo, &wiring));
	CHECK(pthread_create(&lt, NULL, loop_thread, loop) == 0);

	/* The driver's setup, as Linux does it: MSI-X enabled with the function
	 * masked, vector 0 -> APIC 0 vector 0x41 (fixed, edge), unmask. */
	for (cap = cfgr(&e, KVMHOST_PCI_CAPABILITY_LIST, 1); cap && cfgr(&e, cap, 1) != KVMHOST_PCI_CAP_ID_MSIX;
	     cap = cfgr(&e, cap + 1, 1))
		;
	CHECK(cap != 0);
	cfgw(&e, cap + 2, 0xc000, 2);
	bw(&e, bar, 0x4000, 0xfee00000u, 4);
	bw(&e, bar, 0x4004, 0, 4);
	bw(&e, bar, 0x4008, 0x41, 4);
	bw(&e, bar, 0x400c, 0, 4);
	cfgw(&e, cap + 2, 0x8000, 2);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_STATUS, 0, 1);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_STATUS, 1, 1);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_STATUS, 3, 1);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_GF, 1, 4);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_STATUS, 0xb, 1);
	CHECK(br(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_STATUS, 1) == 0xb);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_SIZE, 8, 2);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_MSIX, 0, 2);
	CHECK(br(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_MSIX, 2) == 0);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_DESC, RINGS, 8);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_DRIVER, RINGS + 0x1000, 8);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_DEVICE, RINGS + 0x2000, 8);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	CHECK(br(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 1);
	bw(&e, bar, KVMHOST_VIRTIO_PCI_COMMON_STATUS, 0xf, 1);
	post(&e, 0);

	/* Round 1. */
	CHECK_OK(kvmhost_x86_vcpu_get_regs(e.t.vcpu, &regs));
	regs.rdi = bar + 0x3000;
	CHECK_OK(kvmhost_x86_vcpu_set_regs(e.t.vcpu, &regs));
	wd.vcpu = e.t.vcpu;
	wd.ms = test_kvm_is_pvm() ? 20000 : 10000;
	CHECK(pthread_create(&wd.thread, NULL, watchdog_fn, &wd) == 0);
	r1 = run_to(&e, 0xf0, &mmio_exits);
	CHECK_OK(kvmhost_memory_read(kvmhost_vm_memory(e.t.vm), RINGS + 0x2002, &used, 2));
	printf("round 1: %d interrupt(s), used idx %u, kicks %d, MMIO exits %d\n", r1, used, atomic_load(&s.notifies),
	       mmio_exits);
	CHECK(r1 == 1);
	CHECK(used == 1);

	/* Move the BAR (decoding on: at once) and retarget the vector. */
	cfgw(&e, 0x10, (uint32_t)NEWBAR, 4);
	CHECK(kvmhost_pci_device_bar_address(kvmhost_virtio_pci_device(vp), 0, &addr) == 1);
	CHECK(addr == NEWBAR);
	bw(&e, NEWBAR, 0x4008, 0x51, 4);
	newaddr = NEWBAR + 0x3000;
	CHECK_OK(kvmhost_memory_write(kvmhost_vm_memory(e.t.vm), NEWADDR, &newaddr, 8));
	post(&e, 1);
	r2 = run_to(&e, 0xf0, &mmio_exits);
	CHECK_OK(kvmhost_memory_read(kvmhost_vm_memory(e.t.vm), RINGS + 0x2002, &used, 2));
	printf("round 2: %d interrupt(s), used idx %u, kicks %d, MMIO exits %d\n", r2, used, atomic_load(&s.notifies),
	       mmio_exits);
	CHECK(r2 == 1);
	CHECK(used == 2);
	CHECK(mmio_exits == 0); /* both kicks went through ioeventfds */
	CHECK(atomic_load(&s.notifies) == 2);
	CHECK(atomic_load(&s.in_vcpu_thread) == 0);

	/* Round 3: no loop, no router. Wiring again also shows the first one
	 * left nothing behind (KVM refuses a duplicate ioeventfd). */
	CHECK_OK(kvmhost_loop_stop(loop));
	CHECK(pthread_join(lt, NULL) == 0);
	kvmhost_virtio_wiring_destroy(wiring);
	wo.loop = NULL;
	wo.router = NULL;
	CHECK_OK(kvmhost_virtio_pci_wire(e.t.vm, vp, &wo, &wiring));
	sv.w = wiring;
	CHECK(pthread_create(&sv.thread, NULL, server_fn, &sv) == 0);
	bw(&e, NEWBAR, 0x4008, 0x61, 4);
	post(&e, 2);
	r3 = run_to(&e, 0xf0, &mmio_exits);
	atomic_store(&wd.cancel, 1);
	CHECK(pthread_join(wd.thread, NULL) == 0);
	atomic_store(&sv.stop, 1);
	CHECK(pthread_join(sv.thread, NULL) == 0);
	CHECK_OK(kvmhost_memory_read(kvmhost_vm_memory(e.t.vm), RINGS + 0x2002, &used, 2));
	printf("round 3: %d interrupt(s), used idx %u, kicks %d (served by the test's thread: %d), MMIO exits %d\n", r3,
	       used, atomic_load(&s.notifies), atomic_load(&sv.served), mmio_exits);
	CHECK(r3 == 1);
	CHECK(used == 3);
	CHECK(atomic_load(&sv.served) == 1);
	CHECK(mmio_exits == 0);
	CHECK(atomic_load(&s.in_vcpu_thread) == 0);
	kvmhost_virtio_wiring_destroy(wiring);
	kvmhost_virtio_pci_destroy(vp);
	kvmhost_pci_host_destroy(host);
	CHECK(kvmhost_bus_count(e.mmio) == 0);
	kvmhost_msi_router_destroy(router);
	kvmhost_virtio_device_destroy(dev);
	kvmhost_loop_destroy(loop);
	kvmhost_bus_destroy(e.pio);
	kvmhost_bus_destroy(e.mmio);
	test_vm_destroy(&e.t);
	kvmhost_system_close(sys);
	printf("virtio-pci: ioeventfd kicks following a BAR move, MSI-X routes + irqfd, KVM_SIGNAL_MSI: OK\n");
	return TEST_PASS;
}
