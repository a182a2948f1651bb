/*
 * kvm tier: many machines in one process at once. Four run mb_count (one
 * with two vCPUs), four mb_poweroff, one mb_triple. The triple fault stops
 * its machine alone, with reason RESET and the SHUTDOWN exit; after that the
 * counters still move, the power-off machines finish their work (POWEROFF,
 * "done" on each COM1), and the counters are stopped by the test. Nothing is
 * shared between machines but the process.
 */
#include <time.h>
#include <kvmhost/memory.h>

#include "machine_test_util.h"

MBGUEST_DECLARE(mb_count);
MBGUEST_DECLARE(mb_poweroff);
MBGUEST_DECLARE(mb_triple);

#define NCOUNT 4
#define NPOWER 4
#define N      (NCOUNT + NPOWER + 1)

static uint32_t counter(struct kvmhost_machine *m)
{
	uint32_t v;

	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), 0x200000, &v, sizeof(v)));
	return v;
}

int main(void)
{
	static struct mt_machine t[N];
	char name[32], out[64];
	uint32_t seen[NCOUNT];
	struct kvmhost_machine_stop_info s;

	mt_require_kvm();
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		if (i < NCOUNT)
			mt_options(&t[i], name, MBGUEST_BYTES(mb_count), MBGUEST_SIZE(mb_count));
		else if (i < NCOUNT + NPOWER)
			mt_options(&t[i], name, MBGUEST_BYTES(mb_poweroff), MBGUEST_SIZE(mb_poweroff));
		else
			mt_options(&t[i], name, MBGUEST_BYTES(mb_triple), MBGUEST_SIZE(mb_triple));
		if (i == 0)
			t[i].o.vcpu_count = 2; /* the AP waits for a SIPI that never comes */
		mt_create(&t[i]);
	}
	for (int i = 0; i < N; i++)
		CHECK_OK(kvmhost_machine_start(t[i].m));

	CHECK_OK(kvmhost_machine_wait(t[N - 1].m, 10000));
	s = mt_stop_info(t[N - 1].m);
	CHECK(s.reason == KVMHOST_MACHINE_STOP_RESET && s.exit_reason == KVMHOST_EXIT_SHUTDOWN);
	for (int i = 0; i < NCOUNT; i++) {
		CHECK(kvmhost_machine_get_state(t[i].m) == KVMHOST_MACHINE_RUNNING);
		seen[i] = counter(t[i].m);
	}
	for (int i = NCOUNT; i < NCOUNT + NPOWER; i++) {
		CHECK_OK(kvmhost_machine_wait(t[i].m, 10000));
		CHECK(mt_stop_info(t[i].m).reason == KVMHOST_MACHINE_STOP_POWEROFF);
		out[0] = 0;
		mt_read_output(&t[i], out, sizeof(out));
		CHECK(!strcmp(out, "done\n"));
	}
	for (int i = 0; i < NCOUNT; i++) {
		for (int k = 0; k < 500 && counter(t[i].m) == seen[i]; k++)
			nanosleep(&(struct timespec){0, 10000000}, NULL);
		CHECK(counter(t[i].m) != seen[i]); /* still working after the others stopped */
		CHECK_OK(kvmhost_machine_stop(t[i].m));
	}
	for (int i = 0; i < N; i++) {
		CHECK_OK(kvmhost_machine_wait(t[i].m, 5000));
		mt_destroy(&t[i]);
	}
	printf("machine_many: %d machines; the triple fault stopped one (%s), %d powered off, %d counted on\n", N,
	       s.message, NPOWER, NCOUNT);
	printf("machine_many: pass\n");
	return TEST_PASS;
}
