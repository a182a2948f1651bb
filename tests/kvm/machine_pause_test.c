/*
 * kvm tier: pause means quiet. mb_count stores an ever-growing counter at
 * 2 MiB. The machine runs with KVM dirty logging on; after pause returns,
 * KVM's dirty log and the VMM's dirty bitmap are fetched (which clears
 * them), the test waits, and then both must be empty, the counter and the
 * vCPU's run count unchanged. After resume the counter moves on. Done
 * several times, with the machine's own I/O thread and with
 * KVMHOST_MACHINE_EXTERNAL_IO (the test drives dispatch), and a stop while
 * paused ends the machine.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <kvmhost/memory.h>

#include "machine_test_util.h"

MBGUEST_DECLARE(mb_count);

#define COUNT_ADDR 0x200000ull

static uint32_t counter(struct kvmhost_machine *m)
{
	uint32_t v;

	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), COUNT_ADDR, &v, sizeof(v)));
	return v;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

struct dirty {
	struct kvmhost_machine *m;
	uint64_t pages; /* set bits seen */
};

static int fetch_one(struct kvmhost_memory_region *region, void *opaque)
{
	struct dirty *d = opaque;
	size_t size = kvmhost_memory_region_bitmap_size(region);
	uint64_t *kvm = calloc(1, size), *vmm = calloc(1, size);

	CHECK(kvm && vmm);
	CHECK_OK(kvmhost_vm_get_dirty_log(kvmhost_machine_vm(d->m), region, kvm, size));
	CHECK_OK(kvmhost_memory_fetch_vmm_dirty(region, vmm, size));
	for (size_t i = 0; i < size / 8; i++)
		d->pages += (uint64_t)__builtin_popcountll(kvm[i]) + (uint64_t)__builtin_popcountll(vmm[i]);
	free(kvm);
	free(vmm);
	return 0;
}

/* Fetch (and clear) both dirty logs of every RAM region; return the pages they had. */
static uint64_t fetch_dirty(struct kvmhost_machine *m)
{
	struct dirty d = {.m = m};

	CHECK_OK(kvmhost_memory_for_each_region(kvmhost_machine_memory(m), fetch_one, &d));
	return d.pages;
}

struct driver {
	struct kvmhost_machine *m;
	atomic_int stop;
};

static void *drive_io(void *arg)
{
	struct driver *d = arg;

	while (!atomic_load(&d->stop))
		CHECK(kvmhost_machine_dispatch(d->m, 10) >= 0);
	return NULL;
}

static void wait_counting(struct kvmhost_machine *m, uint32_t above)
{
	for (int i = 0; i < 500 && counter(m) <= above; i++)
		sleep_ms(10);
	CHECK(counter(m) > above);
}

static void run(uint32_t flags)
{
	struct mt_machine t;
	struct kvmhost_machine_vcpu_stats a = {.size = sizeof(a)}, b = {.size = sizeof(b)};
	struct driver drv = {0};
	pthread_t io;
	uint32_t before, after = 0;

	mt_options(&t, "counter", MBGUEST_BYTES(mb_count), MBGUEST_SIZE(mb_count));
	t.o.ram_flags = KVMHOST_MACHINE_RAM_LOG_DIRTY;
	t.o.flags = flags;
	mt_create(&t);
	drv.m = t.m;
	if (flags & KVMHOST_MACHINE_EXTERNAL_IO)
		CHECK(pthread_create(&io, NULL, drive_io, &drv) == 0);
	else
		CHECK(kvmhost_machine_dispatch(t.m, 0) == -EINVAL); /* it has its own I/O thread */
	CHECK_OK(kvmhost_machine_start(t.m));
	wait_counting(t.m, 0);
	for (int round = 0; round < 3; round++) {
		CHECK_OK(kvmhost_machine_pause(t.m));
		CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_PAUSED);
		CHECK_OK(kvmhost_machine_pause(t.m)); /* a no-op */
		fetch_dirty(t.m);		      /* what was written before the pause */
		before = counter(t.m);
		CHECK_OK(kvmhost_machine_get_vcpu_stats(t.m, 0, &a));
		sleep_ms(200);
		CHECK(fetch_dirty(t.m) == 0);
		CHECK(counter(t.m) == before);
		CHECK_OK(kvmhost_machine_get_vcpu_stats(t.m, 0, &b));
		CHECK(a.runs == b.runs);
		CHECK_OK(kvmhost_machine_resume(t.m));
		CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_RUNNING);
		wait_counting(t.m, before);
		after = counter(t.m);
		CHECK(fetch_dirty(t.m) > 0); /* running again: the counter's page is dirty */
	}
	CHECK_OK(kvmhost_machine_pause(t.m));
	CHECK_OK(kvmhost_machine_stop(t.m)); /* from paused */
	CHECK_OK(kvmhost_machine_wait(t.m, 5000));
	CHECK(mt_stop_info(t.m).reason == KVMHOST_MACHINE_STOP_REQUESTED);
	CHECK(kvmhost_machine_resume(t.m) == -EINVAL);
	atomic_store(&drv.stop, 1);
	if (flags & KVMHOST_MACHINE_EXTERNAL_IO)
		pthread_join(io, NULL);
	mt_destroy(&t);
	printf("machine_pause (%s I/O): 3 pauses, no dirty page and no vCPU run while paused; counter at %u\n",
	       flags ? "external" : "own", after);
}

int main(void)
{
	mt_require_kvm();
	run(0);
	run(KVMHOST_MACHINE_EXTERNAL_IO);
	printf("machine_pause: pass\n");
	return TEST_PASS;
}
