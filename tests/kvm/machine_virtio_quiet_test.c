/*
 * kvm tier: pause is quiet for virtio I/O. mb_virtio (tests/guests-multiboot)
 * drives a virtio-blk (device 0, on a 16 MiB image whose sector s is full of
 * the dword 0x5ec00000 + s) and a virtio-rng (device 1) over virtio-mmio
 * without pause: batches of 4 block reads of 1 MiB each into guest memory
 * (big, so that pauses land while requests are in flight) and one rng buffer, each
 * waited for (interrupts on: the handlers count) and checked. The machine
 * runs with KVM dirty logging on. Many times over, the test pauses it and,
 * once pause has returned, checks:
 *  - no block or rng request is in flight (the devices' queues popped
 *    nothing they did not push back), and the last batch is whole: either
 *    every request of it completed, status 0 and its buffer equal to the
 *    image's sector, or none started (status untouched; its kick still
 *    waits in its eventfd, which the pause rule allows);
 *  - over a wait, nothing changes: all of guest memory (the used rings, the
 *    buffers, the mailbox), both dirty logs (KVM's and the VMM's) stay empty,
 *    the vCPU does not run, the devices serve no kick;
 * then resumes it and sees the guest complete more batches. At the end the
 * guest has found no bad completion, and both devices interrupted it.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <kvmhost/memory.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/queue.h>

#include "machine_test_util.h"

MBGUEST_DECLARE(mb_virtio);

/* mb_virtio's addresses (see its header comment). */
#define MAILBOX	  0x200000ull
#define M_DONE	  0
#define M_PUB	  4
#define M_IRQ_BLK 8
#define M_IRQ_RNG 12
#define M_ERROR	  16
#define M_READY	  24
#define M_PREP	  28
#define BLK_RING  0x300000ull
#define BLK_HDR	  0x303000ull
#define BLK_STAT  0x303100ull
#define BLK_DATA  0x800000ull
#define DATA_LEN  0x100000u
#define RNG_RING  0x310000ull
#define NREQ	  4
#define NMIB	  16
#define RAM	  (16u << 20)
#define TAG	  0x5ec00000u

#define ROUNDS 100

static struct kvmhost_memory *mem;

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v;

	CHECK_OK(kvmhost_memory_read(mem, gpa, &v, sizeof(v)));
	return v;
}

static uint16_t rd16(uint64_t gpa)
{
	uint16_t v;

	CHECK_OK(kvmhost_memory_read(mem, gpa, &v, sizeof(v)));
	return v;
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000}, NULL);
}

struct dirty {
	struct kvmhost_machine *m;
	uint64_t kvm, vmm;
};

static int fetch_one(struct kvmhost_memory_region *region, void *opaque)
{
	struct dirty *d = opaque;
	size_t size = kvmhost_memory_region_bitmap_size(region);
	uint64_t *kvm = calloc(1, size), *vmm = calloc(1, size);

	CHECK(kvm && vmm);
	CHECK_OK(kvmhost_vm_get_dirty_log(kvmhost_machine_vm(d->m), region, kvm, size));
	CHECK_OK(kvmhost_memory_fetch_vmm_dirty(region, vmm, size));
	for (size_t i = 0; i < size / 8; i++) {
		d->kvm += (uint64_t)__builtin_popcountll(kvm[i]);
		d->vmm += (uint64_t)__builtin_popcountll(vmm[i]);
	}
	free(kvm);
	free(vmm);
	return 0;
}

/* Fetch (and clear) KVM's dirty log and the VMM's bitmap of every RAM region. */
static struct dirty fetch_dirty(struct kvmhost_machine *m)
{
	struct dirty d = {.m = m};

	CHECK_OK(kvmhost_memory_for_each_region(kvmhost_machine_memory(m), fetch_one, &d));
	return d;
}

static int in_flight(struct kvmhost_machine *m, uint32_t dev)
{
	struct kvmhost_virtio_device *d = kvmhost_machine_virtio_device(m, dev);
	struct kvmhost_virtq *q = d ? kvmhost_virtio_device_queue(d, 0) : NULL;

	CHECK(q != NULL);
	return kvmhost_virtq_in_flight(q);
}

static void fail_stopped(struct mt_machine *t)
{
	struct kvmhost_machine_stop_info s = mt_stop_info(t->m);

	fprintf(stderr, "FAIL: the machine stopped (%s: %s, pc 0x%llx), the guest's error step 0x%x\n",
		kvmhost_machine_stop_reason_name(s.reason), s.message, (unsigned long long)s.pc,
		rd32(MAILBOX + M_ERROR));
	fprintf(stderr, "  ready %u, prepared %u, published %u, done %u, %u blk and %u rng interrupts\n",
		rd32(MAILBOX + M_READY), rd32(MAILBOX + M_PREP), rd32(MAILBOX + M_PUB), rd32(MAILBOX + M_DONE),
		rd32(MAILBOX + M_IRQ_BLK), rd32(MAILBOX + M_IRQ_RNG));
	exit(TEST_FAIL);
}

/* Wait until the guest completed batch @above + 1 or later. */
static uint32_t wait_done(struct mt_machine *t, uint32_t above)
{
	for (int i = 0; i < 1000 && rd32(MAILBOX + M_DONE) <= above; i++) {
		if (kvmhost_machine_get_state(t->m) == KVMHOST_MACHINE_STOPPED)
			fail_stopped(t);
		sleep_ms(10);
	}
	if (rd32(MAILBOX + M_DONE) <= above) {
		fprintf(stderr, "FAIL: the guest completed no batch after %u in 10 s (published %u, error 0x%x)\n",
			above, rd32(MAILBOX + M_PUB), rd32(MAILBOX + M_ERROR));
		exit(TEST_FAIL);
	}
	return rd32(MAILBOX + M_DONE);
}

/*
 * The pause just returned: no request half done. Return 0 when the guest was
 * preparing a batch (its last one completed: nothing to check in the buffers
 * it is rewriting), 1 when its last published batch had completed (its data
 * checked against the image), 2 when the last published batch had not
 * started (its kick not served yet, or not made yet).
 */
static int check_whole(const unsigned char *image)
{
	static unsigned char buf[DATA_LEN];
	uint16_t bavail = rd16(BLK_RING + 0x1002), bused = rd16(BLK_RING + 0x2002);
	uint16_t ravail = rd16(RNG_RING + 0x1002), rused = rd16(RNG_RING + 0x2002);
	uint32_t pub = rd32(MAILBOX + M_PUB), prep = rd32(MAILBOX + M_PREP);
	unsigned char st;

	CHECK(rused == ravail || (uint16_t)(ravail - rused) == 1);
	CHECK(bused == bavail || (uint16_t)(bavail - bused) == NREQ);
	CHECK(prep == pub || prep == pub + 1);
	if (bused != bavail) { /* published (PUB written or about to be), none started: untouched */
		for (uint32_t k = 0; k < NREQ; k++) {
			CHECK_OK(kvmhost_memory_read(mem, BLK_STAT + k, &st, 1));
			CHECK(st == 0xff);
			CHECK(rd32(BLK_HDR + 16 * k + 8) == ((prep * NREQ + k) & (NMIB - 1)) << 11);
		}
		return 2;
	}
	if (prep != pub) /* between batches: the last one is complete */
		return 0;
	for (uint32_t k = 0; k < NREQ; k++) { /* done: the data is in guest memory, as in the image */
		uint32_t sector = rd32(BLK_HDR + 16 * k + 8);

		CHECK(sector == ((pub * NREQ + k) & (NMIB - 1)) << 11);
		CHECK_OK(kvmhost_memory_read(mem, BLK_STAT + k, &st, 1));
		CHECK(st == 0);
		CHECK_OK(kvmhost_memory_read(mem, BLK_DATA + (uint64_t)DATA_LEN * k, buf, sizeof(buf)));
		CHECK(!memcmp(buf, image + 512 * sector, sizeof(buf)));
	}
	return 1;
}

int main(void)
{
	static unsigned char image[NMIB << 20], before[RAM], after[RAM];
	char path[] = "/tmp/kvmhost-machine-quiet-XXXXXX";
	struct kvmhost_machine_device dev[2];
	struct kvmhost_machine_vcpu_stats a = {.size = sizeof(a)}, b = {.size = sizeof(b)};
	struct kvmhost_machine_device_stats sa[2], sb[2];
	struct mt_machine t;
	struct dirty dd;
	uint32_t done = 0, seen[3] = {0};
	int fd;

	mt_require_kvm();
	for (uint32_t s = 0; s < (NMIB << 20) / 512; s++)
		for (uint32_t w = 0; w < 128; w++)
			((uint32_t *)image)[s * 128 + w] = TAG | s;
	CHECK((fd = mkstemp(path)) >= 0);
	CHECK(write(fd, image, sizeof(image)) == (ssize_t)sizeof(image));
	close(fd);

	memset(dev, 0, sizeof(dev));
	dev[0] = (struct kvmhost_machine_device){
	    .type = KVMHOST_MACHINE_DEVICE_BLK, .id = "blk", .path = path, .in_fd = -1, .out_fd = -1, .num_queues = 1};
	dev[1] =
	    (struct kvmhost_machine_device){.type = KVMHOST_MACHINE_DEVICE_RNG, .id = "rng", .in_fd = -1, .out_fd = -1};
	mt_options(&t, "virtio-quiet", MBGUEST_BYTES(mb_virtio), MBGUEST_SIZE(mb_virtio));
	t.o.ram_size = RAM;
	t.o.ram_flags = KVMHOST_MACHINE_RAM_LOG_DIRTY;
	t.o.devices = dev;
	t.o.device_count = 2;
	t.o.device_size = sizeof(dev[0]);
	t.o.transport = KVMHOST_MACHINE_TRANSPORT_MMIO;
	mt_create(&t);
	unlink(path); /* the device holds it open */
	mem = kvmhost_machine_memory(t.m);
	CHECK_OK(kvmhost_machine_start(t.m));
	done = wait_done(&t, 1);
	CHECK(rd32(MAILBOX + M_READY) == 1);

	for (int round = 0; round < ROUNDS; round++) {
		if (kvmhost_machine_pause(t.m) < 0)
			fail_stopped(&t);
		CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_PAUSED);
		/* Nothing in flight: every request a device popped is completed and pushed. */
		CHECK(in_flight(t.m, 0) == 0);
		CHECK(in_flight(t.m, 1) == 0);
		seen[check_whole(image)]++;
		fetch_dirty(t.m); /* what was written before the pause */
		CHECK_OK(kvmhost_memory_read(mem, 0, before, sizeof(before)));
		CHECK_OK(kvmhost_machine_get_vcpu_stats(t.m, 0, &a));
		for (uint32_t i = 0; i < 2; i++) {
			sa[i] = (struct kvmhost_machine_device_stats){.size = sizeof(sa[i])};
			CHECK_OK(kvmhost_machine_get_device_stats(t.m, i, &sa[i]));
		}
		sleep_ms(round % 10 == 0 ? 200 : 10);
		dd = fetch_dirty(t.m);
		if (dd.kvm || dd.vmm) {
			fprintf(stderr,
				"FAIL: round %d: while paused %llu pages in KVM's dirty log, %llu in the VMM's\n",
				round, (unsigned long long)dd.kvm, (unsigned long long)dd.vmm);
			return TEST_FAIL;
		}
		CHECK_OK(kvmhost_memory_read(mem, 0, after, sizeof(after)));
		if (memcmp(before, after, sizeof(before))) {
			size_t i = 0;

			while (before[i] == after[i])
				i++;
			fprintf(stderr, "FAIL: round %d: guest memory changed while paused, first at 0x%zx\n", round,
				i);
			return TEST_FAIL;
		}
		CHECK(in_flight(t.m, 0) == 0 && in_flight(t.m, 1) == 0);
		CHECK_OK(kvmhost_machine_get_vcpu_stats(t.m, 0, &b));
		CHECK(a.runs == b.runs);
		for (uint32_t i = 0; i < 2; i++) {
			sb[i] = (struct kvmhost_machine_device_stats){.size = sizeof(sb[i])};
			CHECK_OK(kvmhost_machine_get_device_stats(t.m, i, &sb[i]));
			CHECK(sa[i].notifies == sb[i].notifies);
		}
		CHECK_OK(kvmhost_machine_resume(t.m));
		done = wait_done(&t, rd32(MAILBOX + M_DONE));
	}
	CHECK(rd32(MAILBOX + M_ERROR) == 0);
	CHECK(rd32(MAILBOX + M_IRQ_BLK) > 0 && rd32(MAILBOX + M_IRQ_RNG) > 0);
	CHECK_OK(kvmhost_machine_get_device_stats(t.m, 0, &sa[0]));
	CHECK_OK(kvmhost_machine_get_device_stats(t.m, 1, &sa[1]));
	CHECK(sa[0].notifies > 0 && sa[1].notifies > 0 && !sa[0].broken && !sa[1].broken);
	printf(
	    "machine_virtio_quiet: %d pauses (%u after a completed batch, its data checked; %u with one not started; "
	    "%u between batches), %u batches, %u blk and %u rng interrupts, %llu and %llu kicks served\n",
	    ROUNDS, seen[1], seen[2], seen[0], done, rd32(MAILBOX + M_IRQ_BLK), rd32(MAILBOX + M_IRQ_RNG),
	    (unsigned long long)sa[0].notifies, (unsigned long long)sa[1].notifies);
	CHECK_OK(kvmhost_machine_stop(t.m));
	CHECK_OK(kvmhost_machine_wait(t.m, 5000));
	mt_destroy(&t);
	printf("machine_virtio_quiet: pass\n");
	return TEST_PASS;
}
