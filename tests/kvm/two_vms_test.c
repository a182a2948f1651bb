/*
 * kvm tier: two VMs in one process at the same time, from one system handle.
 * Two threads each build their own VM and vCPU and run a different guest
 * (count_a: bytes 0,1,2.. to port 0x40; count_b: 16-bit values counting down
 * from 0xb000 to port 0x41); each thread checks every value its guest
 * writes, and that it never sees the other guest's port. Both must finish.
 * On arm64 the guests are their twins (tests/guests-arm64/): port writes are
 * MMIO stores (test_exit_port_write()), HLT a store (test_exit_is_halt()).
 */
#include <pthread.h>
#include <string.h>

#include "kvm_test_util.h"

GUEST_DECLARE(count_a);
GUEST_DECLARE(count_b);

struct job {
	struct kvmhost_system *sys;
	pthread_barrier_t *start;
	const unsigned char *image;
	size_t image_size;
	uint16_t port;
	uint8_t size;
	unsigned expected;
	uint32_t first;
	int step;
	unsigned seen;
	int done;
};

static void *vm_thread(void *arg)
{
	struct job *j = arg;
	struct test_vm t;
	uint32_t want = j->first;

	test_vm_create_real(&t, j->sys, j->image, j->image_size);
	pthread_barrier_wait(j->start);
	for (;;) {
		const struct kvmhost_exit *e = test_run(&t);
		uint16_t port;
		uint32_t size, v;
		uint64_t value;

		if (test_exit_is_halt(e))
			break;
		CHECK(test_exit_port_write(e, &port, &size, &value));
		CHECK(port == j->port && size == j->size);
		v = (uint32_t)value;
		if (v != want)
			fprintf(stderr, "port 0x%x: value %u is 0x%x, expected 0x%x\n", j->port, j->seen, v, want);
		CHECK(v == want);
		want = (want + (uint32_t)j->step) & (j->size == 1 ? 0xffu : 0xffffu);
		j->seen++;
	}
	test_vm_destroy(&t);
	j->done = 1;
	return NULL;
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	pthread_barrier_t start;
	pthread_t th[2];
	struct job jobs[2] = {
	    {.image = GUEST_BYTES(count_a), .port = 0x40, .size = 1, .expected = 1000, .first = 0, .step = 1},
	    {.image = GUEST_BYTES(count_b), .port = 0x41, .size = 2, .expected = 700, .first = 0xb000, .step = -1},
	};

	jobs[0].image_size = GUEST_SIZE(count_a);
	jobs[1].image_size = GUEST_SIZE(count_b);
	CHECK(pthread_barrier_init(&start, NULL, 2) == 0);
	for (int i = 0; i < 2; i++) {
		jobs[i].sys = sys;
		jobs[i].start = &start;
		CHECK(pthread_create(&th[i], NULL, vm_thread, &jobs[i]) == 0);
	}
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	for (int i = 0; i < 2; i++) {
		printf("two_vms_test: VM %d: %u OUTs to port 0x%x\n", i, jobs[i].seen, jobs[i].port);
		CHECK(jobs[i].done && jobs[i].seen == jobs[i].expected);
	}
	pthread_barrier_destroy(&start);
	kvmhost_system_close(sys);
	printf("two_vms_test: pass\n");
	return TEST_PASS;
}
