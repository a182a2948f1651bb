/*
 * kvm tier: one machine's life on tiny Multiboot kernels. mb_hello (with a
 * command line and an initrd as module 0) checks its boot information,
 * prints on COM1 and writes 0 to the debug-exit port: the machine stops with
 * DEBUG_EXIT, status 0, and COM1's output reached the pipe. mb_poweroff
 * works a little and writes S5 to the ACPI port: POWEROFF, seen through the
 * callback, the event queue and its eventfd, with exit counters by reason.
 * mb_triple triple-faults: RESET (the stop info names the SHUTDOWN exit),
 * and with RESET_REBOOT it is rebooted (REBOOTED events) until the test
 * stops it. Also: stop of a created machine, wait timeouts, the calls a
 * machine's own callback may not make (-EDEADLK), request_poweroff.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <kvmhost/vcpu.h>

#include "machine_test_util.h"

MBGUEST_DECLARE(mb_hello);
MBGUEST_DECLARE(mb_poweroff);
MBGUEST_DECLARE(mb_triple);

static void test_debug_exit(void)
{
	struct mt_machine t;
	struct kvmhost_machine_stop_info s;
	char out[256] = "";

	mt_options(&t, "hello", MBGUEST_BYTES(mb_hello), MBGUEST_SIZE(mb_hello));
	t.o.cmdline = "Z-machine";
	t.o.initrd = "Qmodule";
	t.o.initrd_size = 7;
	mt_create(&t);
	CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_CREATED);
	CHECK(kvmhost_machine_vcpu_count(t.m) == 1 && kvmhost_machine_vcpu(t.m, 0) && !kvmhost_machine_vcpu(t.m, 1));
	CHECK(!strcmp(kvmhost_machine_name(t.m), "hello"));
	CHECK(kvmhost_machine_wait(t.m, 0) == -EINVAL); /* never started: it cannot stop by itself */
	CHECK_OK(kvmhost_machine_start(t.m));
	CHECK(kvmhost_machine_start(t.m) == -EINVAL);
	CHECK_OK(kvmhost_machine_wait(t.m, 10000));
	CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_STOPPED);
	s = mt_stop_info(t.m);
	if (s.reason == KVMHOST_MACHINE_STOP_GUEST_ERROR && test_kvm_is_pvm())
		SKIP("the PVM /dev/kvm did not run the Multiboot entry: %s", s.message);
	CHECK(s.reason == KVMHOST_MACHINE_STOP_DEBUG_EXIT);
	if (s.debug_exit_status != 0)
		fprintf(stderr, "status %llu: %s\n", (unsigned long long)s.debug_exit_status, s.message);
	CHECK(s.debug_exit_status == 0);
	mt_read_output(&t, out, sizeof(out));
	CHECK(strstr(out, "MB:ZQ") != NULL);
	CHECK(kvmhost_machine_pause(t.m) == -EINVAL && kvmhost_machine_resume(t.m) == -EINVAL);
	mt_destroy(&t);
	printf("machine_lifecycle: debug-exit status 0 after \"MB:ZQ\" on COM1\n");
}

struct cb_state {
	atomic_int stopped, started, reboots, deadlk;
	struct kvmhost_machine *m;
};

static void on_event(void *opaque, struct kvmhost_machine *m, const struct kvmhost_machine_event *ev)
{
	struct cb_state *c = opaque;

	if (ev->type == KVMHOST_MACHINE_EVENT_STARTED)
		atomic_fetch_add(&c->started, 1);
	if (ev->type == KVMHOST_MACHINE_EVENT_STOPPED)
		atomic_fetch_add(&c->stopped, 1);
	if (ev->type == KVMHOST_MACHINE_EVENT_REBOOTED) {
		atomic_fetch_add(&c->reboots, 1);
		/* A callback may stop its machine, but not pause or wait on it. */
		if (kvmhost_machine_pause(m) == -EDEADLK && kvmhost_machine_wait(m, 0) == -EDEADLK)
			atomic_fetch_add(&c->deadlk, 1);
		if (atomic_load(&c->reboots) == 3)
			kvmhost_machine_stop(m);
	}
}

static void test_poweroff_events(void)
{
	struct mt_machine t;
	struct cb_state c = {0};
	struct kvmhost_machine_event ev = {.size = sizeof(ev)};
	struct kvmhost_machine_vcpu_stats st = {.size = sizeof(st)};
	struct pollfd p;
	char out[64] = "";
	int seen_stop = 0, n = 0;

	mt_options(&t, "poweroff", MBGUEST_BYTES(mb_poweroff), MBGUEST_SIZE(mb_poweroff));
	t.o.on_event = on_event;
	t.o.event_opaque = &c;
	mt_create(&t);
	CHECK_OK(kvmhost_machine_start(t.m));
	p = (struct pollfd){.fd = kvmhost_machine_event_fd(t.m), .events = POLLIN};
	CHECK_OK(kvmhost_machine_wait(t.m, 10000));
	CHECK(poll(&p, 1, 0) == 1); /* events are queued */
	while ((n = kvmhost_machine_next_event(t.m, &ev)) == 1)
		seen_stop |= ev.type == KVMHOST_MACHINE_EVENT_STOPPED && ev.reason == KVMHOST_MACHINE_STOP_POWEROFF;
	CHECK(n == 0 && seen_stop);
	CHECK(poll(&p, 1, 0) == 0); /* drained */
	CHECK(atomic_load(&c.started) == 1 && atomic_load(&c.stopped) == 1);
	CHECK(mt_stop_info(t.m).reason == KVMHOST_MACHINE_STOP_POWEROFF);
	mt_read_output(&t, out, sizeof(out));
	CHECK(!strcmp(out, "done\n"));
	CHECK_OK(kvmhost_machine_get_vcpu_stats(t.m, 0, &st));
	CHECK(st.runs > 0 && st.exits[KVMHOST_EXIT_IO] >= 6); /* "done\n" and the S5 write */
	CHECK(kvmhost_machine_get_vcpu_stats(t.m, 1, &st) == -ERANGE);
	mt_destroy(&t);
	printf("machine_lifecycle: power-off seen by callback, queue and eventfd; %llu I/O exits\n",
	       (unsigned long long)st.exits[KVMHOST_EXIT_IO]);
}

static void test_triple_fault(void)
{
	struct mt_machine t;
	struct kvmhost_machine_stop_info s;
	struct cb_state c = {0};

	mt_options(&t, "triple", MBGUEST_BYTES(mb_triple), MBGUEST_SIZE(mb_triple));
	mt_create(&t);
	CHECK_OK(kvmhost_machine_start(t.m));
	CHECK_OK(kvmhost_machine_wait(t.m, 10000));
	s = mt_stop_info(t.m);
	CHECK(s.reason == KVMHOST_MACHINE_STOP_RESET);
	CHECK(s.exit_reason == KVMHOST_EXIT_SHUTDOWN && s.vcpu == 0);
	CHECK(strstr(s.message, "triple fault") != NULL);
	mt_destroy(&t);

	/* RESET_REBOOT: the machine reboots it; the callback stops it after 3 reboots. */
	mt_options(&t, "reboot", MBGUEST_BYTES(mb_triple), MBGUEST_SIZE(mb_triple));
	t.o.on_reset = KVMHOST_MACHINE_RESET_REBOOT;
	t.o.on_event = on_event;
	t.o.event_opaque = &c;
	mt_create(&t);
	CHECK_OK(kvmhost_machine_start(t.m));
	CHECK_OK(kvmhost_machine_wait(t.m, 20000));
	CHECK(atomic_load(&c.reboots) >= 3 && atomic_load(&c.deadlk) >= 1);
	CHECK(mt_stop_info(t.m).reason == KVMHOST_MACHINE_STOP_REQUESTED);
	mt_destroy(&t);
	printf("machine_lifecycle: triple fault stops with RESET, or reboots (%d reboots)\n", atomic_load(&c.reboots));
}

static void test_requests(void)
{
	struct mt_machine t;

	/* Stop before start: STOPPED at once. */
	mt_options(&t, "idle", MBGUEST_BYTES(mb_poweroff), MBGUEST_SIZE(mb_poweroff));
	mt_create(&t);
	CHECK(kvmhost_machine_request_poweroff(t.m) == -EINVAL); /* not running */
	CHECK_OK(kvmhost_machine_stop(t.m));
	CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_STOPPED);
	CHECK(mt_stop_info(t.m).reason == KVMHOST_MACHINE_STOP_REQUESTED);
	CHECK(kvmhost_machine_start(t.m) == -EINVAL);
	mt_destroy(&t);

	/* The power button on a running machine (the tiny guest has no ACPI to see it); destroy while it runs. */
	mt_options(&t, "button", MBGUEST_BYTES(mb_triple), MBGUEST_SIZE(mb_triple));
	t.o.on_reset = KVMHOST_MACHINE_RESET_REBOOT;
	mt_create(&t);
	CHECK_OK(kvmhost_machine_start(t.m));
	CHECK_OK(kvmhost_machine_request_poweroff(t.m));
	CHECK_OK(kvmhost_machine_request_reset(t.m));
	CHECK(kvmhost_machine_wait(t.m, 50) == -ETIMEDOUT);
	mt_destroy(&t); /* stops and joins */

	CHECK(kvmhost_machine_start(NULL) == -EINVAL && kvmhost_machine_pause(NULL) == -EINVAL &&
	      kvmhost_machine_stop(NULL) == -EINVAL && kvmhost_machine_get_state(NULL) == -EINVAL);
	kvmhost_machine_destroy(NULL);
	CHECK(!strcmp(kvmhost_machine_stop_reason_name(KVMHOST_MACHINE_STOP_POWEROFF), "poweroff"));
}

/* The virtio devices are made, wired and torn down on both transports (the tiny guest has no driver: this
 * checks the plumbing and the quiet pause with devices, not a driver's view). */
static void test_virtio_devices(uint32_t transport)
{
	struct mt_machine t;
	char img[] = "/tmp/kvmhost-machine-blk-XXXXXX";
	int fd = mkstemp(img), pair[2];
	struct kvmhost_machine_device d[3];
	struct kvmhost_machine_device_stats ds = {.size = sizeof(ds)};

	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	CHECK(pipe2(pair, O_CLOEXEC | O_NONBLOCK) == 0);
	memset(d, 0, sizeof(d));
	d[0] =
	    (struct kvmhost_machine_device){.type = KVMHOST_MACHINE_DEVICE_BLK, .path = img, .in_fd = -1, .out_fd = -1};
	d[1] = (struct kvmhost_machine_device){.type = KVMHOST_MACHINE_DEVICE_RNG, .in_fd = -1, .out_fd = -1};
	d[2] = (struct kvmhost_machine_device){
	    .type = KVMHOST_MACHINE_DEVICE_CONSOLE, .id = "hvc", .in_fd = pair[0], .out_fd = pair[1]};
	mt_options(&t, "virtio", MBGUEST_BYTES(mb_triple), MBGUEST_SIZE(mb_triple));
	t.o.devices = d;
	t.o.device_count = 3;
	t.o.device_size = sizeof(d[0]);
	t.o.transport = transport;
	t.o.on_reset = KVMHOST_MACHINE_RESET_REBOOT;
	mt_create(&t);
	CHECK(kvmhost_machine_virtio_device(t.m, 2) != NULL && kvmhost_machine_virtio_device(t.m, 3) == NULL);
	CHECK_OK(kvmhost_machine_start(t.m));
	CHECK_OK(kvmhost_machine_pause(t.m));
	CHECK_OK(kvmhost_machine_resume(t.m));
	CHECK_OK(kvmhost_machine_get_device_stats(t.m, 0, &ds));
	CHECK(ds.notifies == 0 && ds.broken == 0);
	CHECK(kvmhost_machine_get_device_stats(t.m, 3, &ds) == -ERANGE);
	CHECK_OK(kvmhost_machine_stop(t.m));
	CHECK_OK(kvmhost_machine_wait(t.m, 5000));
	mt_destroy(&t);
	close(pair[0]);
	close(pair[1]);
	close(fd);
	unlink(img);
}

int main(void)
{
	mt_require_kvm();
	test_virtio_devices(KVMHOST_MACHINE_TRANSPORT_MMIO);
	test_virtio_devices(KVMHOST_MACHINE_TRANSPORT_PCI);
	test_debug_exit();
	test_poweroff_events();
	test_triple_fault();
	test_requests();
	printf("machine_lifecycle: pass\n");
	return TEST_PASS;
}
