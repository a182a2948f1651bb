/*
 * kvm tier: kvmhost_vcpu_kick(). A pending kick makes the next run return
 * KICKED without entering the guest; a kick from another thread stops a guest
 * spinning with interrupts off, both a real-mode loop (ring 0: instruction-
 * emulated under the PVM host) and a 64-bit loop at CPL3 (native under PVM);
 * and one kick per run, aimed at random moments around guest entry, is never
 * lost (a lost kick would hang: a watchdog fails the test). Also the kick
 * signal handler rules: installed on SIG_DFL without SA_RESTART, left alone
 * (with a warning) when the embedder has a handler, untouched with
 * KVMHOST_SYSTEM_NO_KICK_HANDLER. And a kick from a signal handler.
 * On arm64 the guests are their twins (tests/guests-arm64/hlt.S, spin.S: an
 * EL1 loop with DAIF masked); the CPL3 loop is x86's (PVM runs CPL3 natively,
 * the case that differs there), so it is x86-only.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm_test_util.h"

GUEST_DECLARE(hlt);
GUEST_DECLARE(spin);
GUEST_DECLARE(spin_user);

#define RACE_ROUNDS 2000
#define SLOW_ROUNDS 5

static const char *watchdog_what = "";

static void watchdog(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: watchdog: a kick was lost or did not stop the guest: ";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	r = write(2, watchdog_what, strlen(watchdog_what));
	r = write(2, "\n", 1);
	(void)r;
	_exit(TEST_FAIL);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct runner {
	struct test_vm *t;
	int rounds;
	sem_t ready;
	int bad;
};

/* vCPU thread: announce each run, then run; every run must end KICKED. */
static void *run_thread(void *arg)
{
	struct runner *r = arg;

	for (int i = 0; i < r->rounds; i++) {
		const struct kvmhost_exit *e;

		sem_post(&r->ready);
		if (kvmhost_vcpu_run(r->t->vcpu, &e) < 0 || e->reason != KVMHOST_EXIT_KICKED) {
			fprintf(stderr, "round %d: run did not end KICKED\n", i);
			r->bad = 1;
			break;
		}
	}
	return NULL;
}

/*
 * @delay_us 0: kick as soon as the vCPU thread announces the run, at random
 * points just before, at and after guest entry. Otherwise wait so the guest
 * surely spins, and report how long the kick took to land.
 */
static void kick_rounds(struct test_vm *t, int rounds, unsigned delay_us, const char *what)
{
	struct runner r = {.t = t, .rounds = rounds};
	pthread_t th;
	double worst = 0;

	watchdog_what = what;
	CHECK(sem_init(&r.ready, 0, 0) == 0);
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
	for (int i = 0; i < rounds; i++) {
		double t0;

		while (sem_wait(&r.ready) < 0 && errno == EINTR)
			;
		if (delay_us)
			usleep(delay_us);
		else
			for (volatile int spin = 0; spin < (i % 16) * 200; spin++)
				;
		t0 = now_us();
		CHECK_OK(kvmhost_vcpu_kick(t->vcpu));
		/* For delayed rounds, wait for the run to end to time it. */
		if (delay_us && i + 1 < rounds) {
			while (sem_wait(&r.ready) < 0 && errno == EINTR)
				;
			sem_post(&r.ready);
			if (now_us() - t0 > worst)
				worst = now_us() - t0;
		}
	}
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(!r.bad);
	sem_destroy(&r.ready);
	if (delay_us)
		printf("kick_test: %s: %d kicks of a spinning guest, slowest took %.0f us to return\n", what, rounds,
		       worst);
	else
		printf("kick_test: %s: %d racing kicks, none lost\n", what, rounds);
}

/* kvmhost_vcpu_kick() from a signal handler running on another thread. */
static struct kvmhost_vcpu *handler_target;

static void kick_from_handler(int sig)
{
	(void)sig;
	kvmhost_vcpu_kick(handler_target);
}

static void *run_once_blocking_usr1(void *arg)
{
	struct runner *r = arg;
	const struct kvmhost_exit *e;
	sigset_t set;

	/* The handler must run on the kicker's thread, not here. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sem_post(&r->ready);
	if (kvmhost_vcpu_run(r->t->vcpu, &e) < 0 || e->reason != KVMHOST_EXIT_KICKED)
		r->bad = 1;
	return NULL;
}

static void test_kick_from_signal_handler(struct test_vm *t)
{
	struct runner r = {.t = t, .rounds = 1};
	struct sigaction sa;
	pthread_t th;

	watchdog_what = "kick from a signal handler";
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_from_handler;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	handler_target = t->vcpu;
	CHECK(sem_init(&r.ready, 0, 0) == 0);
	CHECK(pthread_create(&th, NULL, run_once_blocking_usr1, &r) == 0);
	while (sem_wait(&r.ready) < 0 && errno == EINTR)
		;
	usleep(20000);
	CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(!r.bad);
	sem_destroy(&r.ready);
	printf("kick_test: a kick from a signal handler stopped the spinning guest\n");
}

static void test_pending_kick(struct kvmhost_system *sys)
{
	struct test_vm t;
	const struct kvmhost_exit *e;

	test_vm_create_real(&t, sys, GUEST_BYTES(hlt), GUEST_SIZE(hlt));
	CHECK_OK(kvmhost_vcpu_kick(t.vcpu));
	CHECK_OK(kvmhost_vcpu_kick(t.vcpu)); /* kicks are not counted */
	e = test_run(&t);
	CHECK(e->reason == KVMHOST_EXIT_KICKED);
	CHECK(e->kvm_exit_reason == KVM_EXIT_INTR);
	CHECK(kvmhost_vcpu_kvm_run(t.vcpu)->immediate_exit == 0);
	CHECK(test_vcpu_pc(t.vcpu) == KVMHOST_GUEST_LOAD_ADDR); /* the guest never ran */
	e = test_run(&t);
	CHECK(test_exit_is_halt(e)); /* the kick was consumed */
	/* A kick after an exit is held for the next run. */
	CHECK_OK(kvmhost_vcpu_kick(t.vcpu));
	e = test_run(&t);
	CHECK(e->reason == KVMHOST_EXIT_KICKED);
	e = test_run(&t);
	CHECK(test_exit_is_halt(e));
	test_vm_destroy(&t);
}

static void test_spin_real_mode(struct kvmhost_system *sys)
{
	const char *what = TEST_X86 ? "real-mode cli/jmp loop (CPL0)" : "EL1 loop, DAIF masked";
	struct test_vm t;

	test_vm_create_real(&t, sys, GUEST_BYTES(spin), GUEST_SIZE(spin));
	kick_rounds(&t, SLOW_ROUNDS, 20000, what);
	kick_rounds(&t, RACE_ROUNDS, 0, what);
	test_kick_from_signal_handler(&t);
	test_vm_destroy(&t);
}

#if TEST_X86
static void test_spin_user_mode(struct kvmhost_system *sys)
{
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};
	struct test_vm t;
	const struct kvmhost_exit *e;
	struct kvm_sregs sregs;
	uint16_t cs;

	test_vm_create_real(&t, sys, GUEST_BYTES(spin_user), GUEST_SIZE(spin_user));
	lo.entry = KVMHOST_GUEST_LOAD_ADDR;
	lo.stack = 0x80000;
	lo.page_table_gpa = 0x100000;
	lo.identity_map_size = t.ram_size;
	lo.user_mode = 1;
	lo.gdt_gpa = 0x104000;
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo));
	CHECK_OK(kvmhost_x86_vcpu_get_sregs(t.vcpu, &sregs));
	CHECK(sregs.cs.dpl == 3 && sregs.ss.dpl == 3 && sregs.cs.selector == 0x23 && sregs.ss.selector == 0x1b);
	e = test_run(&t);
	if (e->reason != KVMHOST_EXIT_IO)
		fprintf(stderr, "CPL3 guest: %s exit\n", kvmhost_exit_reason_name(e->reason));
	CHECK(e->reason == KVMHOST_EXIT_IO && e->io.port == 0x50 && e->io.size == 2);
	memcpy(&cs, e->io.data, 2);
	/* CS.RPL is the CPL. The selector itself is ours (0x23) on hardware
	 * KVM; the PVM host runs CPL3 code natively and shows its own user CS. */
	CHECK((cs & 3) == 3);
	if (cs != 0x23)
		printf("kick_test: the CPL3 guest reads CS = 0x%x, not the 0x23 loaded%s\n", cs,
		       test_kvm_is_pvm() ? " (PVM runs CPL3 natively with the host's selectors)" : "");
	kick_rounds(&t, SLOW_ROUNDS, 20000, "64-bit jmp loop at CPL3");
	kick_rounds(&t, RACE_ROUNDS, 0, "64-bit jmp loop at CPL3");
	test_vm_destroy(&t);
}
#endif

static int saw_warning;

static void logger(enum kvmhost_log_level level, const char *msg, void *opaque)
{
	(void)opaque;
	if (level == KVMHOST_LOG_WARN && strstr(msg, "kick signal"))
		saw_warning = 1;
}

static void embedder_handler(int sig)
{
	(void)sig;
}

static struct kvmhost_system *open_with(int sig, uint32_t flags)
{
	struct kvmhost_system_options o = {.size = sizeof(o), .kick_signal = sig, .flags = flags};
	struct kvmhost_system *sys;

	o.device_path = getenv("KVMHOST_TEST_KVM_DEVICE");
	CHECK_OK(kvmhost_system_open(&o, &sys));
	CHECK(kvmhost_system_kick_signal(sys) == sig);
	return sys;
}

static void test_handler_rules(struct kvmhost_system *sys)
{
	struct sigaction sa, cur;
	struct kvmhost_system *other;
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;

	/* Default system (SIGRTMIN + 1): a vCPU exists, so the handler is ours. */
	CHECK(sigaction(kvmhost_system_kick_signal(sys), NULL, &cur) == 0);
	CHECK(cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN);
	CHECK(!(cur.sa_flags & SA_RESTART));

	/* The embedder's handler is left in place, with a warning. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = embedder_handler;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGRTMIN + 3, &sa, NULL) == 0);
	CHECK_OK(kvmhost_set_log_callback(logger, NULL, KVMHOST_LOG_WARN));
	other = open_with(SIGRTMIN + 3, 0);
	CHECK_OK(kvmhost_vm_create(other, NULL, &vm));
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	CHECK(saw_warning);
	CHECK(sigaction(SIGRTMIN + 3, NULL, &cur) == 0);
	CHECK(cur.sa_handler == embedder_handler && (cur.sa_flags & SA_RESTART));
	kvmhost_vm_destroy(vm);
	kvmhost_system_close(other);

	/* NO_KICK_HANDLER: the disposition stays SIG_DFL, and no warning. */
	saw_warning = 0;
	other = open_with(SIGRTMIN + 4, KVMHOST_SYSTEM_NO_KICK_HANDLER);
	CHECK_OK(kvmhost_vm_create(other, NULL, &vm));
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	CHECK(sigaction(SIGRTMIN + 4, NULL, &cur) == 0);
	CHECK(cur.sa_handler == SIG_DFL);
	CHECK(!saw_warning);
	kvmhost_vm_destroy(vm);
	kvmhost_system_close(other);
	/* The logger stays installed: lib/core/log.c never frees a replaced
	 * record, which LeakSanitizer would report. */
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watchdog;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	alarm(90);

	watchdog_what = "pending kick";
	test_pending_kick(sys);
	test_spin_real_mode(sys);
#if TEST_X86
	test_spin_user_mode(sys);
#endif
	test_handler_rules(sys);
	kvmhost_system_close(sys);
	printf("kick_test: pass\n");
	return TEST_PASS;
}
