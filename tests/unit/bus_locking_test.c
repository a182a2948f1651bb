/*
 * Unit tests of what callbacks may call (docs/architecture.md, "Locks and
 * callbacks"): a bus callback doing the allowed things (hot-plugging a range
 * on another bus, dispatching on that bus and on its own, raising an
 * interrupt, reading and writing guest memory) completes; the forbidden
 * things (unregistering or registering on its own bus; a PCI configuration
 * access or device add/remove from inside the host's hooks, from a BAR
 * callback or from any callback of the host's MMIO bus) fail with -EDEADLK
 * and a message instead of hanging; an unregister waits for the range's
 * callback in flight while dispatch to the bus's other ranges goes on.
 *
 * A watchdog (alarm()) ends the process with a message if any test hangs,
 * so a regression into a deadlock fails instead of stalling ctest.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/pci.h>
#include <kvmhost/irq_line.h>
#include "core/internal.h"
#include "unit_assert.h"

#define WATCHDOG_S 20

static void watchdog(int sig)
{
	static const char msg[] = "bus_locking_test: watchdog: a test hung (deadlock?)\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(1);
}

static int arm_watchdog(void **state)
{
	(void)state;
	alarm(WATCHDOG_S);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* A plain device: reads return 0x5a, writes are counted. */
static atomic_int plain_writes;

static int plain_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0x5a, len);
	return 0;
}

static int plain_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)len;
	atomic_fetch_add(&plain_writes, 1);
	return 0;
}

static int add_range(struct kvmhost_bus *bus, uint64_t base, uint64_t length, kvmhost_bus_read_fn rd,
		     kvmhost_bus_write_fn wr, void *opaque, const char *name)
{
	struct kvmhost_bus_range r = {
	    .size = sizeof(r), .base = base, .length = length, .read = rd, .write = wr, .opaque = opaque, .name = name};

	return kvmhost_bus_register(bus, &r);
}

/* ---- a bus callback doing the allowed things ---- */

struct allowed {
	struct kvmhost_bus *own, *other;
	struct kvmhost_memory *mem;
	struct kvmhost_irq_line *line;
	int reg, other_write, unreg, forward, count, irq_up, irq_down, mem_read, mem_write;
	uint8_t forwarded, from_memory;
};

static atomic_int irq_level_calls;

static int irq_set(void *opaque, int level)
{
	(void)opaque;
	(void)level;
	atomic_fetch_add(&irq_level_calls, 1);
	return 0;
}

static int allowed_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct allowed *a = opaque;
	uint8_t b = 0xa5;

	(void)offset;
	(void)data;
	(void)len;
	/* Hot-plug on another bus, and dispatch to what was plugged. */
	a->reg = add_range(a->other, 0x5000, 0x10, plain_read, plain_write, NULL, "hot");
	a->other_write = kvmhost_bus_write(a->other, 0x5004, &b, 1);
	a->unreg = kvmhost_bus_unregister(a->other, 0x5000);
	/* Forward to another range of the same bus; count it. */
	a->forward = kvmhost_bus_read(a->own, 0x200, &a->forwarded, 1);
	a->count = kvmhost_bus_count(a->own);
	/* Raise and lower an interrupt. */
	a->irq_up = kvmhost_irq_line_set(a->line, 1);
	a->irq_down = kvmhost_irq_line_set(a->line, 0);
	/* Guest memory (a DMA-like access). */
	a->mem_write = kvmhost_memory_write(a->mem, 0x1000, &b, 1);
	a->mem_read = kvmhost_memory_read(a->mem, 0x1000, &a->from_memory, 1);
	return 0;
}

static void test_callback_allowed_calls(void **state)
{
	struct kvmhost_memory_options mo = {
	    .size = sizeof(mo), .guest_phys_addr = 0, .length = 0x10000, .backing = KVMHOST_MEMORY_ANONYMOUS};
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo), .set_level = irq_set, .name = "test-irq"};
	struct kvmhost_memory_region *region;
	struct allowed a;
	uint8_t v = 1;

	(void)state;
	memset(&a, 0, sizeof(a));
	atomic_store(&plain_writes, 0);
	atomic_store(&irq_level_calls, 0);
	assert_int_equal(kvmhost_bus_create("own", &a.own), 0);
	assert_int_equal(kvmhost_bus_create("other", &a.other), 0);
	assert_int_equal(kvmhost_memory_create(&a.mem), 0);
	assert_int_equal(kvmhost_memory_add_region(a.mem, &mo, &region), 0);
	assert_int_equal(kvmhost_irq_line_create(&lo, &a.line), 0);
	assert_int_equal(add_range(a.own, 0x100, 0x10, NULL, allowed_write, &a, "allowed"), 0);
	assert_int_equal(add_range(a.own, 0x200, 0x10, plain_read, NULL, NULL, "plain"), 0);

	assert_int_equal(kvmhost_bus_write(a.own, 0x100, &v, 1), 0);
	assert_int_equal(a.reg, 0);
	assert_int_equal(a.other_write, 0);
	assert_int_equal(atomic_load(&plain_writes), 1);
	assert_int_equal(a.unreg, 0);
	assert_int_equal(kvmhost_bus_count(a.other), 0);
	assert_int_equal(a.forward, 0);
	assert_int_equal(a.forwarded, 0x5a);
	assert_int_equal(a.count, 2);
	assert_int_equal(a.irq_up, 0);
	assert_int_equal(a.irq_down, 0);
	assert_int_equal(atomic_load(&irq_level_calls), 2);
	assert_int_equal(a.mem_write, 0);
	assert_int_equal(a.mem_read, 0);
	assert_int_equal(a.from_memory, 0xa5);

	kvmhost_irq_line_destroy(a.line);
	kvmhost_memory_destroy(a.mem);
	kvmhost_bus_destroy(a.other);
	kvmhost_bus_destroy(a.own);
}

/* ---- a bus callback doing forbidden things ---- */

struct forbidden {
	struct kvmhost_bus *bus;
	int unreg_self, unreg_other, reg;
	char unreg_msg[512];
};

static int forbidden_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct forbidden *f = opaque;

	(void)offset;
	(void)data;
	(void)len;
	/* Its own range: the unregister would wait for this very call. */
	reset_error();
	f->unreg_self = kvmhost_bus_unregister(f->bus, 0x100);
	snprintf(f->unreg_msg, sizeof(f->unreg_msg), "%s", kvmhost_last_error());
	f->unreg_other = kvmhost_bus_unregister(f->bus, 0x200);
	f->reg = add_range(f->bus, 0x300, 0x10, NULL, NULL, NULL, "late");
	return 0;
}

static void test_callback_forbidden_same_bus(void **state)
{
	struct forbidden f;
	uint8_t v = 1;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(kvmhost_bus_create("self", &f.bus), 0);
	assert_int_equal(add_range(f.bus, 0x100, 0x10, NULL, forbidden_write, &f, "forbidden"), 0);
	assert_int_equal(add_range(f.bus, 0x200, 0x10, plain_read, NULL, NULL, "plain"), 0);
	assert_int_equal(kvmhost_bus_write(f.bus, 0x100, &v, 1), 0);
	assert_int_equal(f.unreg_self, -EDEADLK);
	assert_non_null(strstr(f.unreg_msg, "kvmhost_bus_unregister"));
	assert_non_null(strstr(f.unreg_msg, "from a callback of the same bus"));
	assert_int_equal(f.unreg_other, -EDEADLK);
	assert_int_equal(f.reg, -EDEADLK);
	/* Nothing changed, and the bus works as before. */
	assert_int_equal(kvmhost_bus_count(f.bus), 2);
	assert_int_equal(kvmhost_bus_unregister(f.bus, 0x100), 0);
	assert_int_equal(kvmhost_bus_unregister(f.bus, 0x200), 0);
	kvmhost_bus_destroy(f.bus);
}

/* ---- unregister waits for the callback in flight, dispatch goes on ---- */

struct slow {
	struct kvmhost_bus *bus;
	atomic_int entered, release, left;
	atomic_int unreg_done, left_when_done;
	int unreg_result;
};

static int slow_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct slow *s = opaque;

	(void)offset;
	memset(data, 0x33, len);
	atomic_store(&s->entered, 1);
	while (!atomic_load(&s->release))
		sleep_ms(1);
	sleep_ms(20); /* an unregister that did not wait would be seen returning now */
	atomic_store(&s->left, 1);
	return 0;
}

static void *slow_reader(void *arg)
{
	struct slow *s = arg;
	uint8_t v = 0;

	return (void *)(intptr_t)kvmhost_bus_read(s->bus, 0x100, &v, 1);
}

static void *slow_unregister(void *arg)
{
	struct slow *s = arg;

	s->unreg_result = kvmhost_bus_unregister(s->bus, 0x100);
	atomic_store(&s->left_when_done, atomic_load(&s->left));
	atomic_store(&s->unreg_done, 1);
	return NULL;
}

static void test_unregister_waits_dispatch_goes_on(void **state)
{
	static struct slow s;
	pthread_t reader, unreg;
	void *rr;
	uint8_t v = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(kvmhost_bus_create("slow", &s.bus), 0);
	assert_int_equal(add_range(s.bus, 0x100, 0x10, slow_read, NULL, &s, "slow"), 0);
	assert_int_equal(add_range(s.bus, 0x200, 0x10, plain_read, NULL, NULL, "plain"), 0);
	assert_int_equal(pthread_create(&reader, NULL, slow_reader, &s), 0);
	while (!atomic_load(&s.entered))
		sleep_ms(1);
	assert_int_equal(pthread_create(&unreg, NULL, slow_unregister, &s), 0);
	sleep_ms(50);
	/* The unregister is waiting for slow_read... */
	assert_int_equal(atomic_load(&s.unreg_done), 0);
	/* ...and meanwhile the bus's other ranges still dispatch (a
	 * writer-preferring lock would block this behind the unregister). */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(kvmhost_bus_read(s.bus, 0x200, &v, 1), 0);
		assert_int_equal(v, 0x5a);
	}
	assert_int_equal(kvmhost_bus_count(s.bus), 1); /* already unpublished */
	atomic_store(&s.release, 1);
	assert_int_equal(pthread_join(unreg, NULL), 0);
	assert_int_equal(pthread_join(reader, &rr), 0);
	assert_int_equal((intptr_t)rr, 0);
	assert_int_equal(s.unreg_result, 0);
	/* Once unregister returned, the callback had returned. */
	assert_int_equal(atomic_load(&s.left_when_done), 1);
	assert_int_equal(kvmhost_bus_read(s.bus, 0x100, &v, 1), KVMHOST_BUS_UNCLAIMED);
	kvmhost_bus_destroy(s.bus);
}

/* ---- the grace period under load: nested and direct dispatch racing hot-plug ---- */

#define CHURN_THREADS 2
#define CHURN_ROUNDS  300

struct churn {
	struct kvmhost_bus *bus;
	atomic_int live; /* 1 while the hot range is registered (set before register, cleared after unregister) */
	atomic_int inflight, calls, violations, stop, started;
};

static int churn_hot_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct churn *c = opaque;

	(void)offset;
	atomic_fetch_add(&c->inflight, 1);
	if (!atomic_load(&c->live))
		atomic_fetch_add(&c->violations, 1);
	memset(data, 0x22, len);
	atomic_fetch_add(&c->calls, 1);
	atomic_fetch_sub(&c->inflight, 1);
	return 0;
}

/* An outer range that forwards to the hot one: the nested access is counted once, by the outer dispatch. */
static int churn_fwd_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct churn *c = opaque;
	int r = kvmhost_bus_read(c->bus, 0x8000 + offset, data, len);

	return r == KVMHOST_BUS_UNCLAIMED ? 0 : r;
}

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	long bad = 0;
	uint32_t v;

	atomic_fetch_add(&c->started, 1);
	for (unsigned n = 0; !atomic_load(&c->stop); n++) {
		int r1 = kvmhost_bus_read(c->bus, 0x8004, &v, 4), r2 = kvmhost_bus_read(c->bus, 0x1004, &v, 4);

		if ((r1 != 0 && r1 != KVMHOST_BUS_UNCLAIMED) || r2 != 0)
			bad++;
		/* Leave the CPUs some room now and then: a dispatcher preempted while counted holds up
		 * a grace period until it runs again, and this machine may have fewer CPUs than threads. */
		if (n % 32 == 31)
			sched_yield();
	}
	return (void *)bad;
}

static void test_grace_period_under_load(void **state)
{
	static struct churn c;
	pthread_t t[CHURN_THREADS];
	void *bad;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(kvmhost_bus_create("churn", &c.bus), 0);
	assert_int_equal(add_range(c.bus, 0x1000, 0x10, churn_fwd_read, NULL, &c, "fwd"), 0);
	for (int i = 0; i < CHURN_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &c), 0);
	while (atomic_load(&c.started) < CHURN_THREADS)
		sched_yield();
	for (int i = 0; i < CHURN_ROUNDS; i++) {
		int before = atomic_load(&c.calls);

		atomic_store(&c.live, 1);
		assert_int_equal(add_range(c.bus, 0x8000, 0x10, churn_hot_read, NULL, &c, "hot"), 0);
		/* Let the dispatchers find the range (they share 2 CPUs here with this thread). */
		for (int y = 0; y < 100 && atomic_load(&c.calls) == before; y++)
			sched_yield();
		assert_int_equal(kvmhost_bus_unregister(c.bus, 0x8000), 0);
		/* Returned: no call of the range is running, and none will start. */
		assert_int_equal(atomic_load(&c.inflight), 0);
		atomic_store(&c.live, 0);
	}
	atomic_store(&c.stop, 1);
	for (int i = 0; i < CHURN_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_int_equal((long)bad, 0);
	}
	assert_int_equal(atomic_load(&c.violations), 0);
	assert_true(atomic_load(&c.calls) > 0);
	assert_int_equal(kvmhost_bus_count(c.bus), 1);
	kvmhost_bus_destroy(c.bus);
}

/* ---- PCI: hooks and BAR callbacks ---- */

#define MEM_BAR_LEN 0x1000u
#define IO_BAR_LEN  0x10u

struct pcifix {
	struct kvmhost_bus *pio, *mmio;
	struct kvmhost_pci_host *host;
	struct kvmhost_pci_device *dev, *spare;
	struct kvmhost_irq_line *intx;
	struct kvmhost_memory *mem;
	int slot;
	/* What the hooks and callbacks got. */
	int hook_calls, hook_add, hook_remove, hook_cfg, hook_intx, hook_get, hook_mem, hook_mmio_reg, hook_mmio_unreg;
	char hook_cfg_msg[512];
	int moved_calls, moved_remove, moved_addr;
	int mem_calls, mem_cfg, mem_add, mem_intx;
	int io_calls, io_cfg;
	int other_mmio_cfg;
};

static uint32_t cfg_addr(int slot, uint32_t reg)
{
	return 0x80000000u | (uint32_t)slot << 11 | (reg & 0xfc);
}

/* A type-1 configuration read through the port bus, as a guest does it. */
static int cfg_read32(struct kvmhost_bus *pio, int slot, uint32_t reg, uint32_t *v)
{
	uint32_t a = cfg_addr(slot, reg);
	int r = kvmhost_bus_write(pio, KVMHOST_PCI_CONFIG_ADDRESS_PORT, &a, 4);

	return r < 0 ? r : kvmhost_bus_read(pio, KVMHOST_PCI_CONFIG_ADDRESS_PORT + 4, v, 4);
}

static int cfg_write32(struct kvmhost_bus *pio, int slot, uint32_t reg, uint32_t v)
{
	uint32_t a = cfg_addr(slot, reg);
	int r = kvmhost_bus_write(pio, KVMHOST_PCI_CONFIG_ADDRESS_PORT, &a, 4);

	return r < 0 ? r : kvmhost_bus_write(pio, KVMHOST_PCI_CONFIG_ADDRESS_PORT + 4, &v, 4);
}

static int hook_write(void *opaque, uint32_t offset, const void *data, uint32_t len)
{
	struct pcifix *p = opaque;
	uint32_t v = 0;
	uint8_t b = 0;

	(void)data;
	(void)len;
	if (offset != 0x40)
		return 0;
	p->hook_calls++;
	/* Forbidden: the host's own calls, and configuration accesses. */
	p->hook_add = kvmhost_pci_host_add_device(p->host, p->spare, -1);
	p->hook_remove = kvmhost_pci_host_remove_device(p->host, p->dev);
	reset_error();
	p->hook_cfg = kvmhost_bus_read(p->pio, KVMHOST_PCI_CONFIG_ADDRESS_PORT + 4, &v, 4);
	snprintf(p->hook_cfg_msg, sizeof(p->hook_cfg_msg), "%s", kvmhost_last_error());
	/* Allowed: the device's own calls, interrupts, guest memory, ranges on the MMIO bus. */
	p->hook_intx = kvmhost_pci_device_set_intx(p->dev, 1);
	if (p->hook_intx == 0)
		p->hook_intx = kvmhost_pci_device_set_intx(p->dev, 0);
	p->hook_get = kvmhost_pci_device_config_get(p->dev, 0, &v, 4);
	p->hook_mem = kvmhost_memory_read(p->mem, 0x1000, &b, 1);
	p->hook_mmio_reg = add_range(p->mmio, 0x90000000ull, 0x10, plain_read, NULL, NULL, "hook-range");
	p->hook_mmio_unreg = kvmhost_bus_unregister(p->mmio, 0x90000000ull);
	return 0;
}

static void hook_moved(void *opaque, uint32_t bar, uint64_t old_addr, uint64_t new_addr)
{
	struct pcifix *p = opaque;
	uint64_t a;

	(void)old_addr;
	(void)new_addr;
	p->moved_calls++;
	p->moved_remove = kvmhost_pci_host_remove_device(p->host, p->dev);
	p->moved_addr = kvmhost_pci_device_bar_address(p->dev, bar, &a);
}

static int mem_bar_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pcifix *p = opaque;
	uint32_t v;

	(void)offset;
	memset(data, 0x77, len);
	p->mem_calls++;
	p->mem_cfg = cfg_read32(p->pio, p->slot, 0, &v);
	p->mem_add = kvmhost_pci_host_add_device(p->host, p->spare, -1);
	p->mem_intx = kvmhost_pci_device_set_intx(p->dev, 1);
	(void)kvmhost_pci_device_set_intx(p->dev, 0);
	return 0;
}

static int io_bar_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pcifix *p = opaque;
	uint32_t v;

	(void)offset;
	memset(data, 0x66, len);
	p->io_calls++;
	p->io_cfg = kvmhost_bus_read(p->pio, KVMHOST_PCI_CONFIG_ADDRESS_PORT + 4, &v, 4);
	return 0;
}

/* A non-PCI device on the host's MMIO bus doing a configuration access. */
static int other_mmio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pcifix *p = opaque;
	uint32_t v;

	(void)offset;
	memset(data, 0, len);
	p->other_mmio_cfg = cfg_read32(p->pio, p->slot, 0, &v);
	return 0;
}

static void pci_setup(struct pcifix *p)
{
	struct kvmhost_memory_options mo = {
	    .size = sizeof(mo), .guest_phys_addr = 0, .length = 0x10000, .backing = KVMHOST_MEMORY_ANONYMOUS};
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo), .set_level = irq_set, .name = "intx"};
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho)};
	struct kvmhost_pci_device_options d = {.size = sizeof(d)};
	struct kvmhost_pci_bar_options mb = {.size = sizeof(mb)}, ib = {.size = sizeof(ib)};
	struct kvmhost_memory_region *region;

	memset(p, 0, sizeof(*p));
	assert_int_equal(kvmhost_bus_create("pio", &p->pio), 0);
	assert_int_equal(kvmhost_bus_create("mmio", &p->mmio), 0);
	assert_int_equal(kvmhost_memory_create(&p->mem), 0);
	assert_int_equal(kvmhost_memory_add_region(p->mem, &mo, &region), 0);
	assert_int_equal(kvmhost_irq_line_create(&lo, &p->intx), 0);
	ho.mmio = p->mmio;
	assert_int_equal(kvmhost_pci_host_create(&ho, &p->host), 0);
	assert_int_equal(kvmhost_pci_host_attach_pio(p->host, p->pio), 0);

	d.vendor_id = 0x1af4;
	d.device_id = 0x1234;
	d.interrupt_pin = 1;
	d.intx = p->intx;
	d.config_write = hook_write;
	d.bar_moved = hook_moved;
	d.opaque = p;
	d.name = "locktest";
	assert_int_equal(kvmhost_pci_device_create(&d, &p->dev), 0);
	mb.index = 0;
	mb.type = KVMHOST_PCI_BAR_MEM32;
	mb.length = MEM_BAR_LEN;
	mb.read = mem_bar_read;
	mb.opaque = p;
	assert_int_equal(kvmhost_pci_device_add_bar(p->dev, &mb), 0);
	ib.index = 1;
	ib.type = KVMHOST_PCI_BAR_IO;
	ib.length = IO_BAR_LEN;
	ib.read = io_bar_read;
	ib.opaque = p;
	assert_int_equal(kvmhost_pci_device_add_bar(p->dev, &ib), 0);
	d.config_write = NULL;
	d.bar_moved = NULL;
	d.intx = NULL;
	d.interrupt_pin = 0;
	d.name = "spare";
	assert_int_equal(kvmhost_pci_device_create(&d, &p->spare), 0);
	p->slot = kvmhost_pci_host_add_device(p->host, p->dev, -1);
	assert_true(p->slot >= 1);
	p->moved_calls = 0; /* placement at add moved the BARs once each */
}

static void pci_teardown(struct pcifix *p)
{
	kvmhost_pci_host_destroy(p->host);
	kvmhost_pci_device_destroy(p->dev);
	kvmhost_pci_device_destroy(p->spare);
	kvmhost_irq_line_destroy(p->intx);
	kvmhost_memory_destroy(p->mem);
	kvmhost_bus_destroy(p->mmio);
	kvmhost_bus_destroy(p->pio);
}

static void test_pci_config_hook(void **state)
{
	static struct pcifix p;
	uint32_t v = 0;

	(void)state;
	pci_setup(&p);
	assert_int_equal(cfg_write32(p.pio, p.slot, 0x40, 0x12345678), 0);
	assert_int_equal(p.hook_calls, 1);
	assert_int_equal(p.hook_add, -EDEADLK);
	assert_int_equal(p.hook_remove, -EDEADLK);
	/* A nested configuration access through the port bus: refused by the host's callback. */
	assert_int_equal(p.hook_cfg, -EDEADLK);
	assert_non_null(strstr(p.hook_cfg_msg, "pci-config"));
	assert_int_equal(p.hook_intx, 0);
	assert_int_equal(p.hook_get, 0);
	assert_int_equal(p.hook_mem, 0);
	assert_int_equal(p.hook_mmio_reg, 0);
	assert_int_equal(p.hook_mmio_unreg, 0);
	/* The host still works: the device is where it was, its lock free. */
	assert_int_equal(cfg_read32(p.pio, p.slot, 0, &v), 0);
	assert_int_equal(v, 0x12341af4u);
	assert_int_equal(kvmhost_pci_device_slot(p.dev), p.slot);
	pci_teardown(&p);
}

static void test_pci_bar_moved_hook(void **state)
{
	static struct pcifix p;
	uint64_t old, now;

	(void)state;
	pci_setup(&p);
	assert_int_equal(kvmhost_pci_device_bar_address(p.dev, 0, &old), 1);
	/* Move BAR 0: the hook runs with the host's lock held. */
	assert_int_equal(cfg_write32(p.pio, p.slot, KVMHOST_PCI_BAR0, (uint32_t)old + 0x100000u), 0);
	assert_int_equal(p.moved_calls, 1);
	assert_int_equal(p.moved_remove, -EDEADLK);
	assert_int_equal(p.moved_addr, 1);
	assert_int_equal(kvmhost_pci_device_bar_address(p.dev, 0, &now), 1);
	assert_int_equal(now, old + 0x100000u);
	assert_int_equal(kvmhost_pci_device_slot(p.dev), p.slot);
	pci_teardown(&p);
}

static void test_pci_bar_callbacks(void **state)
{
	static struct pcifix p;
	uint64_t mem_at, io_at;
	uint32_t v = 0;
	uint8_t b = 0;

	(void)state;
	pci_setup(&p);
	assert_int_equal(kvmhost_pci_device_bar_address(p.dev, 0, &mem_at), 1);
	assert_int_equal(kvmhost_pci_device_bar_address(p.dev, 1, &io_at), 1);
	/* Memory BAR: a configuration access or an add from inside would wait for a BAR move that waits for it. */
	assert_int_equal(kvmhost_bus_read(p.mmio, mem_at, &v, 4), 0);
	assert_int_equal(v, 0x77777777u);
	assert_int_equal(p.mem_calls, 1);
	assert_int_equal(p.mem_cfg, -EDEADLK);
	assert_int_equal(p.mem_add, -EDEADLK);
	assert_int_equal(p.mem_intx, 0);
	/* I/O BAR (inside the host's I/O window on the port bus): the same. */
	assert_int_equal(kvmhost_bus_read(p.pio, io_at, &b, 1), 0);
	assert_int_equal(b, 0x66);
	assert_int_equal(p.io_calls, 1);
	assert_int_equal(p.io_cfg, -EDEADLK);
	/* Any other callback of the host's MMIO bus too. */
	assert_int_equal(add_range(p.mmio, 0x80000000ull, 0x10, other_mmio_read, NULL, &p, "other"), 0);
	assert_int_equal(kvmhost_bus_read(p.mmio, 0x80000000ull, &v, 4), 0);
	assert_int_equal(p.other_mmio_cfg, -EDEADLK);
	assert_int_equal(kvmhost_bus_unregister(p.mmio, 0x80000000ull), 0);
	/* From outside every callback, all of it works. */
	assert_int_equal(cfg_read32(p.pio, p.slot, 0, &v), 0);
	assert_int_equal(v, 0x12341af4u);
	assert_true(kvmhost_pci_host_add_device(p.host, p.spare, -1) >= 1);
	assert_int_equal(kvmhost_pci_host_remove_device(p.host, p.spare), 0);
	pci_teardown(&p);
}

/* ---- PCI: a BAR move while another thread is inside a BAR callback ---- */

struct movefix {
	struct pcifix p;
	atomic_int entered, release, left, moved_left;
};

static struct movefix mv;

static int blocking_bar_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0x44, len);
	atomic_store(&mv.entered, 1);
	while (!atomic_load(&mv.release))
		sleep_ms(1);
	sleep_ms(20);
	atomic_store(&mv.left, 1);
	return 0;
}

static void *bar_reader(void *arg)
{
	uint64_t at = *(uint64_t *)arg;
	uint32_t v;

	return (void *)(intptr_t)kvmhost_bus_read(mv.p.mmio, at, &v, 4);
}

static void *bar_mover(void *arg)
{
	uint64_t at = *(uint64_t *)arg;
	int r = cfg_write32(mv.p.pio, mv.p.slot, KVMHOST_PCI_BAR0, (uint32_t)at + 0x100000u);

	atomic_store(&mv.moved_left, atomic_load(&mv.left));
	return (void *)(intptr_t)r;
}

static void test_pci_bar_move_waits(void **state)
{
	struct kvmhost_pci_device_options d = {.size = sizeof(d), .vendor_id = 0x1af4, .device_id = 1, .name = "blk"};
	struct kvmhost_pci_bar_options mb = {.size = sizeof(mb), .index = 0, .type = KVMHOST_PCI_BAR_MEM32};
	struct kvmhost_pci_device *dev;
	pthread_t reader, mover;
	uint64_t at, now;
	void *rr, *mr;
	uint32_t v;
	int slot;

	(void)state;
	memset(&mv, 0, sizeof(mv));
	pci_setup(&mv.p);
	mb.length = MEM_BAR_LEN;
	mb.read = blocking_bar_read;
	assert_int_equal(kvmhost_pci_device_create(&d, &dev), 0);
	assert_int_equal(kvmhost_pci_device_add_bar(dev, &mb), 0);
	slot = kvmhost_pci_host_add_device(mv.p.host, dev, -1);
	assert_true(slot >= 1);
	mv.p.slot = slot;
	assert_int_equal(kvmhost_pci_device_bar_address(dev, 0, &at), 1);
	assert_int_equal(pthread_create(&reader, NULL, bar_reader, &at), 0);
	while (!atomic_load(&mv.entered))
		sleep_ms(1);
	/* The move waits for the callback in flight; the rest of the port bus goes on. */
	assert_int_equal(pthread_create(&mover, NULL, bar_mover, &at), 0);
	sleep_ms(50);
	for (int i = 0; i < 10; i++) {
		uint8_t b = 0;

		/* The port bus's other ranges still dispatch (the I/O BAR of the fixture's device). */
		assert_int_equal(kvmhost_pci_device_bar_address(mv.p.dev, 1, &now), 1);
		assert_int_equal(kvmhost_bus_read(mv.p.pio, now, &b, 1), 0);
		assert_int_equal(b, 0x66);
	}
	atomic_store(&mv.release, 1);
	assert_int_equal(pthread_join(mover, &mr), 0);
	assert_int_equal(pthread_join(reader, &rr), 0);
	assert_int_equal((intptr_t)mr, 0);
	assert_int_equal((intptr_t)rr, 0);
	assert_int_equal(atomic_load(&mv.moved_left), 1);
	assert_int_equal(kvmhost_pci_device_bar_address(dev, 0, &now), 1);
	assert_int_equal(now, at + 0x100000u);
	assert_int_equal(cfg_read32(mv.p.pio, slot, 0, &v), 0);
	assert_int_equal(v, 0x00011af4u);
	assert_int_equal(kvmhost_pci_host_remove_device(mv.p.host, dev), 0);
	kvmhost_pci_device_destroy(dev);
	pci_teardown(&mv.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_callback_allowed_calls, arm_watchdog),
	    cmocka_unit_test_setup(test_callback_forbidden_same_bus, arm_watchdog),
	    cmocka_unit_test_setup(test_unregister_waits_dispatch_goes_on, arm_watchdog),
	    cmocka_unit_test_setup(test_grace_period_under_load, arm_watchdog),
	    cmocka_unit_test_setup(test_pci_config_hook, arm_watchdog),
	    cmocka_unit_test_setup(test_pci_bar_moved_hook, arm_watchdog),
	    cmocka_unit_test_setup(test_pci_bar_callbacks, arm_watchdog),
	    cmocka_unit_test_setup(test_pci_bar_move_waits, arm_watchdog),
	};

	signal(SIGALRM, watchdog);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
